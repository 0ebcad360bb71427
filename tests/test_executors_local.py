"""The local executor (process pool): a worker killed mid-grid is reported, leaves no partial
record, and a rerun completes the grid with nothing lost or duplicated."""

from __future__ import annotations

import os
import signal
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import active_children

import pytest

from executor_grid import PLUGINS, assert_complete, grid, reference  # noqa: F401
from vddbench.executors.local import LocalExecutor
from vddbench.results import ResultStore
from vddbench.runner import pending


@pytest.mark.slow
def test_worker_killed_mid_grid_then_rerun_completes(tmp_path, reference, monkeypatch):  # noqa: F811
    monkeypatch.setenv("VDDBENCH_LOAD_PLUGINS", PLUGINS)
    cells, outcomes = grid(), []

    def on_done(cell, outcome):
        outcomes.append((cell, outcome))
        if len(outcomes) == 1:  # one cell is done, the others are in flight: a worker dies
            os.kill(active_children()[0].pid, signal.SIGKILL)

    LocalExecutor(workers=2).run(cells, str(tmp_path), on_done)
    assert sorted(c.key for c, _ in outcomes) == sorted(c.key for c in cells)  # every cell is reported
    broken = [c for c, o in outcomes if isinstance(o, BrokenProcessPool)]
    assert broken, outcomes
    left = pending(cells, ResultStore(tmp_path))
    assert set(broken) >= set(left) and left  # what did not finish is missing, not half-written

    again = []
    LocalExecutor(workers=1).run(left, str(tmp_path), lambda c, o: again.append((c, o)))
    assert [c for c, _ in again] == left and all(r["status"] == "ok" for _, o in again for r in o)
    assert_complete(tmp_path, reference)
