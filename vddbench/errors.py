"""One exception family. The CLI prints any ``VddbenchError`` as a single line and exits 2."""


class VddbenchError(Exception):
    """Base class of every error vddbench raises on purpose."""


class PluginError(VddbenchError):
    """A plugin is broken: bad registration, duplicate name, misspelt hook."""


class ProtocolError(VddbenchError):
    """A request does not fit the protocol (unknown dataset, IPC outside the protocol, ...)."""


class DistillerError(VddbenchError):
    """A distiller broke its contract (wrong shapes, non-finite values, ...)."""


class DataError(VddbenchError):
    """A dataset cannot be found, read or decoded."""


class ResultsError(VddbenchError):
    """The results directory cannot be written, or holds unreadable records."""
