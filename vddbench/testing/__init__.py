"""The conformance kit: prove that a distiller obeys the vddbench protocol.

Three front doors over one generator of checks (chosen from the distiller's tags):

* ``parametrize_with_checks([...])`` for pytest (ids like ``my-method-check_determinism``);
* ``check_distiller(distiller)`` without pytest, returning one result dict per check;
* ``vddbench check NAME`` on the command line.

Names are loaded lazily so that the pytest plugin (``vddbench.testing.pytest_plugin``) stays light.
"""

from __future__ import annotations

import importlib

# Imported now (it is light): the function must shadow its module's name in this package.
from .temporary_plugin import temporary_plugin as temporary_plugin

_EXPORTS = {
    "check_distiller": "suite",
    "parametrize_with_checks": "suite",
    "yield_checks": "suite",
    "CHECKS": "suite",
    "make_task": "bench",
    "clear_cache": "bench",
    "TIME_BUDGET_S": "bench",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    if name.startswith("check_"):
        checks = importlib.import_module(f"{__name__}.checks")
        if hasattr(checks, name):
            return getattr(checks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted([*_EXPORTS, "temporary_plugin"])
