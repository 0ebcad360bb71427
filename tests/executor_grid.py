"""Shared by tests/test_executors_*.py (pyproject puts tests/ on pytest's pythonpath): a small
grid, its reference records, and fault injection.

The grid is the smoke protocol with ``random`` at IPC 1 and 2 plus the ``full`` reference: three
cells, seconds each. The reference records come from the local executor in this process; every other
executor must reproduce them exactly (everything but the timing costs).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from vddbench.protocol import get_protocol
from vddbench.results import ResultStore
from vddbench.runner import Cell, plan

PLUGINS = "vddbench-coresets"  # jobs in new processes load only the plugin the grid needs


def grid() -> list[Cell]:
    smoke = get_protocol("smoke")
    return plan(smoke, ["random"], ipcs=[1, 2]) + plan(smoke, ["full"])


def broken_cell() -> Cell:
    """A cell that raises in the job itself (planned for another version of the protocol)."""
    return dataclasses.replace(grid()[0], protocol_id="0" * 12)


def records(root: Path | str) -> dict[str, dict]:
    """Every record under ``root`` minus its timings, keyed by its path below ``records/``."""
    base = Path(root) / "records"
    out = {}
    for path in sorted(base.glob("*/*/*/*.json")):
        record = json.loads(path.read_text())
        record.pop("costs", None)
        out[str(path.relative_to(base))] = record
    return out


def cell_records(root: Path | str, cell: Cell) -> list[Path]:
    return sorted((Path(root) / "records").glob(f"*/*/*/{cell.key}--*.json"))


_REFERENCE: dict[str, dict] = {}


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> dict[str, dict]:
    """The grid's records from the local executor, in this process (computed once per session,
    whichever test module asks first)."""
    from vddbench.executors.local import LocalExecutor

    if not _REFERENCE:
        root = tmp_path_factory.mktemp("reference")
        outcomes = []
        LocalExecutor(in_process=True).run(grid(), str(root), lambda cell, outcome: outcomes.append(outcome))
        assert all(isinstance(o, list) and all(r["status"] == "ok" for r in o) for o in outcomes), outcomes
        refs = records(root)
        assert len(refs) == len(grid()) * len(get_protocol("smoke").students)
        smoke_threads = get_protocol("smoke").torch_threads
        assert all(r["environment"]["torch_threads"] == smoke_threads for r in refs.values())
        _REFERENCE.update(refs)
    return dict(_REFERENCE)


def assert_complete(root: Path | str, reference: dict[str, dict]) -> None:
    """The grid is complete and identical to the reference (no record lost, none extra); nothing is
    pending. Every record file parses: a killed job leaves no partial record."""
    from vddbench.runner import pending

    assert records(root) == reference
    assert pending(grid(), ResultStore(root)) == []


# -- fault injection: processes found through /proc (no psutil needed) --------------------------------
def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can see."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        out[int(entry.name)] = (ppid, cmdline)
    return out


def descendants(pid: int) -> dict[int, str]:
    procs = processes()
    found, frontier = {}, {pid}
    while frontier:
        children = {p for p, (pp, _) in procs.items() if pp in frontier and p not in found}
        found.update({p: procs[p][1] for p in children})
        frontier = children
    return found


class Killer(threading.Thread):
    """SIGKILLs the first process whose command line contains ``marker`` (or that ``find`` returns),
    ``after`` seconds after it appears: a node dying mid-cell."""

    def __init__(self, marker: str | None = None, find=None, after: float = 0.0, timeout: float = 120):
        super().__init__(daemon=True)
        self.find = find or (lambda: [p for p, (_, cmd) in processes().items() if marker in cmd])
        self.after, self.timeout = after, timeout
        self.killed: int | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            pids = self.find()
            if pids:
                time.sleep(self.after)
                try:
                    os.kill(pids[0], signal.SIGKILL)
                    self.killed = pids[0]
                except ProcessLookupError:
                    continue
                return
            time.sleep(0.05)
