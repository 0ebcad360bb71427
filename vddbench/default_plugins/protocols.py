"""The built-in protocols: the embedded benchmark, the smoke protocol and the real protocols."""

from ..hookspecs import hookimpl
from ..protocols import BUILTIN_PROTOCOLS


@hookimpl
def register_protocols(register):
    for protocol in BUILTIN_PROTOCOLS:
        register(protocol)
