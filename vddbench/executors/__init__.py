"""Executors run cells; all of them call :func:`vddbench.runner.run_cell` and write the same records.

An executor is ``run(cells, results_root, on_done)``: it calls ``on_done(cell, outcome)`` once per
cell, where ``outcome`` is the list of records the cell wrote or the exception that stopped it.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol as TypingProtocol

from ..errors import ProtocolError
from ..runner import Cell

OnDone = Callable[[Cell, Any], None]


class Executor(TypingProtocol):
    name: str

    def run(self, cells: list[Cell], results_root: str, on_done: OnDone) -> None: ...


def get_executor(name: str, **options: Any) -> Executor:
    if name == "local":
        from .local import LocalExecutor

        return LocalExecutor(**options)
    raise ProtocolError(f"unknown executor '{name}' (available: local)")
