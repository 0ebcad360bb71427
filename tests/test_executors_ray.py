"""The Ray executor on a local Ray cluster: same records as the local executor; crashes and killed
workers are reported, leave no partial record, and a rerun completes the grid."""

from __future__ import annotations

import os
import signal

import pytest
from executor_grid import PLUGINS, Killer, assert_complete, broken_cell, cell_records, descendants, grid, reference  # noqa: F401

from vddbench.errors import ProtocolError
from vddbench.results import ResultStore
from vddbench.runner import pending

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster():
    mp = pytest.MonkeyPatch()
    mp.setenv("VDDBENCH_LOAD_PLUGINS", PLUGINS)  # forwarded to the workers by the executor
    mp.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    mp.undo()


@pytest.mark.slow
def test_ray_matches_local_and_reruns_crashed_and_killed_cells(ray_cluster, tmp_path, reference):  # noqa: F811
    from ray.exceptions import RayError

    from vddbench.executors import get_executor

    cells, bad = grid(), broken_cell()
    target = cells[0]

    # A worker killed mid-cell, with Ray's retries off: reported, and no record is left.
    outcomes = {}
    killer = Killer(find=lambda: _ours(f"ray::vddbench-cell-{target.key}"))
    killer.start()
    executor = get_executor("ray", workers=2, threads=1, max_retries=0)
    executor.run(cells, str(tmp_path), lambda c, o: outcomes.setdefault(c.key, []).append(o))
    killer.join(1)
    assert killer.killed, "the target cell never started"
    assert sorted(outcomes) == sorted(c.key for c in cells) and all(len(v) == 1 for v in outcomes.values())
    (killed,) = outcomes[target.key]
    assert isinstance(killed, RayError) and not isinstance(killed, ProtocolError), killed
    for cell in cells:  # a cell either wrote all its records, ok, or none (a task queued on the
        (outcome,) = outcomes[cell.key]  # killed worker may go down with it; the rerun runs it)
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, RayError) and cell_records(tmp_path, cell) == [], (cell, outcome)
        else:
            assert all(r["status"] == "ok" for r in outcome)
    assert target in pending(cells, ResultStore(tmp_path))

    # The rerun runs only what is missing; a worker killed now is retried by Ray itself. (Idle
    # workers go first: on a fresh one the target runs long enough for the killer to catch it.)
    todo = pending(cells, ResultStore(tmp_path))
    _kill_idle_workers()
    killer = Killer(find=lambda: _ours(f"ray::vddbench-cell-{target.key}"))
    killer.start()
    again = []
    get_executor("ray", threads=1).run(todo, str(tmp_path), lambda c, o: again.append((c, o)))
    killer.join(1)
    assert killer.killed and sorted(c.key for c, _ in again) == sorted(c.key for c in todo)
    assert all(r["status"] == "ok" for _, o in again for r in o)
    assert_complete(tmp_path, reference)

    # A cell that raises in the job: reported with its original type and the remote traceback.
    crashed = []
    get_executor("ray", threads=1).run([bad], str(tmp_path), lambda c, o: crashed.append(o))
    assert len(crashed) == 1 and isinstance(crashed[0], ProtocolError), crashed
    assert "changed since the cell was planned" in str(crashed[0]) and "runner.py" in str(crashed[0])
    assert_complete(tmp_path, reference)  # and it wrote nothing


def _ours(marker: str) -> list[int]:
    """Processes of the test's own Ray cluster (the driver's descendants) whose title starts with marker."""
    return [pid for pid, cmd in descendants(os.getpid()).items() if cmd.startswith(marker)]


def _kill_idle_workers() -> None:
    for pid in _ours("ray::IDLE"):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
