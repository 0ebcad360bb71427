"""The local executor (worker processes): a worker killed mid-grid fails only its own cell (a record
naming the signal), leaves no partial record, and a rerun completes the grid with nothing lost or
duplicated. More faults (Ctrl-C, os._exit, a single-cell run) are in test_faults*.py."""

from __future__ import annotations

import os
import signal
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
    assert sorted(c.key for c, _ in outcomes) == sorted(c.key for c in cells)  # every cell is reported once
    assert all(isinstance(o, list) for _, o in outcomes), outcomes  # no BrokenProcessPool for anyone
    failed = [r for _, o in outcomes for r in o if r["status"] != "ok"]
    assert all(r["error"]["type"] == "WorkerDied" and "SIGKILL" in r["error"]["message"] for r in failed)
    left = pending(cells, ResultStore(tmp_path))
    assert {c.key for c in left} == {r["cell_key"] for r in failed}  # only the killed worker's cell, if any

    again = []
    LocalExecutor(workers=1).run(left, str(tmp_path), lambda c, o: again.append((c, o)))
    assert [c for c, _ in again] == left and all(r["status"] == "ok" for _, o in again for r in o)
    assert_complete(tmp_path, reference)


def test_a_cell_may_start_processes_of_its_own(vddbench_cli):
    """On a GPU a cell streams through DataLoader workers, processes of the executor's worker; a
    daemonic worker may not have any (seen on the first GPU check). Forced here on the CPU."""
    proc = vddbench_cli("run", "--protocol", "smoke", "--distiller", "full", "--workers", "1",
                        env={"VDDBENCH_LOADER_WORKERS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "daemonic" not in proc.stderr


def test_ctrl_c_while_workers_start_stops_those_already_started(monkeypatch):
    """A Ctrl-C between two workers' starts: the first one is stopped, not left to finish alone."""
    from vddbench.executors import local

    started, stopped = [], []

    class FakeSlot:
        def __init__(self, context, threads):
            pass

        def start(self):
            if started:  # the second start is interrupted
                raise KeyboardInterrupt
            started.append(self)

        def stop(self, grace=0.0):
            stopped.append((self, grace))

    monkeypatch.setattr(local, "_Slot", FakeSlot)
    with pytest.raises(KeyboardInterrupt):
        LocalExecutor(workers=2).run(["a", "b"], "unused", lambda cell, outcome: None)
    assert stopped[0] == (started[0], 0.0) and all(grace == 0 for _, grace in stopped)  # at once, the unstarted one too


def test_ctrl_c_during_a_workers_start_stops_that_worker(monkeypatch):
    """SIGINT is blocked while a worker process starts and delivered as the start ends: the worker
    that was just started must be stopped too, not left behind as an orphan of the driver."""
    from multiprocessing.context import SpawnProcess

    processes, start = [], SpawnProcess.start

    def start_then_ctrl_c(self):
        start(self)
        processes.append(self)
        os.kill(os.getpid(), signal.SIGINT)  # pending until the executor unblocks SIGINT again

    monkeypatch.setattr(SpawnProcess, "start", start_then_ctrl_c)
    try:
        with pytest.raises(KeyboardInterrupt):
            LocalExecutor(workers=1).run(["a"], "unused", lambda cell, outcome: None)
        assert len(processes) == 1 and not processes[0].is_alive()
    finally:
        for process in processes:
            process.kill()
            process.join()
