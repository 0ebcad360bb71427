"""Fault injection (issue 9, item 10): `vddbench run` with 2 workers is hit at a random point by
Ctrl-C (SIGINT to its process group), kill -9 of one worker or kill -9 of the driver, then rerun. The
final records equal an uninterrupted run's (everything but timings: metrics, artifact sha256, ...),
their leaderboard is identical, and no failure was ever blamed on the wrong cell.

A couple of rounds run by default. The stress run is opt-in::

    VDDBENCH_FAULT_ROUNDS=20 .venv/bin/python -m pytest -q tests/test_faults_injection.py

(``VDDBENCH_FAULT_SEED`` picks another random schedule). Its last result is in docs/faults.md.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from executor_grid import PLUGINS, descendants, grid, records, reference  # noqa: F401

from vddbench import cli
from vddbench.executors.local import LocalExecutor
from vddbench.results import ResultStore, load_record
from vddbench.runner import pending

ROUNDS = int(os.environ.get("VDDBENCH_FAULT_ROUNDS", "0"))  # 0: the default rounds below
SEED = int(os.environ.get("VDDBENCH_FAULT_SEED", "0"))
FAULTS = ("sigint", "kill-worker", "kill-driver")
# When the fault hits (plus up to a second or so): during start-up (workers spawning and importing),
# once workers exist, once a worker has taken a cell (its lock file appeared), after the first record.
MOMENTS = ("startup", "workers", "cell", "record")
DEFAULT = [("sigint", "startup"), ("kill-worker", "cell")]  # kill -9 of the driver: test_runner.py

EXE = Path(sys.executable).with_name("vddbench")


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False


def _workers(driver: int) -> list[int]:
    return [pid for pid, cmd in descendants(driver).items() if "spawn_main" in cmd]


def _wait_for(moment: str, proc: subprocess.Popen, results: Path, stderr: Path, rng: random.Random) -> None:
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        reached = {"startup": lambda: "protocol smoke" in stderr.read_text(),  # planned; workers start now
                   "workers": lambda: _workers(proc.pid),
                   "cell": lambda: list(results.glob("locks/*/*.lock")),
                   "record": lambda: list(results.glob("records/*/*/*/*.json"))}[moment]
        if reached():
            break
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, {"startup": 2.5, "cell": 0.4}.get(moment, 1.0)))  # a smoke cell takes ~1 s


def _hit(fault: str, proc: subprocess.Popen, rng: random.Random) -> str:
    """Inject ``fault``; returns what was done (for the failure message)."""
    if proc.poll() is not None:
        return "nothing (the run had finished)"
    if fault == "sigint":
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground process group
        return "SIGINT to the process group"
    if fault == "kill-driver":
        os.kill(proc.pid, signal.SIGKILL)
        return "SIGKILL to the driver"
    workers = _workers(proc.pid)
    if not workers:
        return "nothing (no worker yet)"
    os.kill(rng.choice(workers), signal.SIGKILL)
    return "SIGKILL to a worker"


def _check_blame(results: Path, before: dict[str, dict], fault: str, done: str) -> int:
    """Every record parses; a failed record is new only where a worker was killed, and says so."""
    now = {str(p): load_record(p) for p in ResultStore(results).record_files()}
    new_failures = {p: r for p, r in now.items() if r["status"] == "failed" and before.get(p) != r}
    for r in new_failures.values():
        assert r["error"]["type"] == "WorkerDied" and "SIGKILL" in r["error"]["message"], (fault, done, r["error"])
    if done != "SIGKILL to a worker":
        assert not new_failures, (fault, done, new_failures)  # interrupts and a killed driver blame nobody
    assert len({r["cell_key"] for r in new_failures.values()}) <= 1, new_failures  # only the killed worker's cell
    return len(new_failures)


def _board(tmp_path: Path, record_map: dict[str, dict]) -> str:
    """The leaderboard markdown of these records (timings zeroed: they are the only thing that differs)."""
    root, out = tmp_path / "board", tmp_path / "board-out"  # the same paths every time: the board names them
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    for rel, record in record_map.items():
        path = root / "records" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        costs = {"distill_seconds": 0, "distill_peak_mib": 0, "eval_seconds": 0, "eval_peak_mib": 0}
        path.write_text(json.dumps({**record, "costs": costs}))
    assert cli.main(["leaderboard", "--records", str(root), "--out", str(out)]) == 0
    return "".join(p.read_text() for p in sorted(out.glob("*.md")))


def test_faults_at_random_points_then_rerun_give_the_uninterrupted_records(tmp_path, reference, monkeypatch):  # noqa: F811
    monkeypatch.setenv("VDDBENCH_LOAD_PLUGINS", PLUGINS)
    rng = random.Random(SEED)
    schedule = [(rng.choice(FAULTS), rng.choice(MOMENTS)) for _ in range(ROUNDS)] if ROUNDS else DEFAULT
    results = tmp_path / "res"
    args = [str(EXE), "run", "--protocol", "smoke", "--distiller", "random,full", "--workers", "2",
            "--results", str(results)]
    log: list[str] = []
    for n, (fault, moment) in enumerate(schedule):
        before = {str(p): load_record(p) for p in ResultStore(results).record_files()}
        with open(tmp_path / "stderr", "w") as err:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
            _wait_for(moment, proc, results, tmp_path / "stderr", rng)
            tree = list(descendants(proc.pid))
            done = _hit(fault, proc, rng)
            code = proc.wait(120)
        deadline = time.time() + 30  # a killed driver's workers leave within a second or so
        while time.time() < deadline and any(_running(pid) for pid in tree):
            time.sleep(0.2)
        stderr = (tmp_path / "stderr").read_text()
        log.append(f"round {n}: {fault} at {moment}: {done}; exit {code}")
        assert "Traceback" not in stderr, (log[-1], stderr)
        if fault == "sigint" and done.startswith("SIGINT"):
            assert code == 130, (log[-1], stderr)
        log[-1] += f"; {_check_blame(results, before, fault, done)} new failed record(s)"

        # the rerun: what is left (failed or missing) is computed, nothing else is touched
        store = ResultStore(results)
        kept = {p: p.read_bytes() for p in store.record_files() if load_record(p)["status"] == "ok"}
        LocalExecutor(in_process=True).run(pending(grid(), store), str(results), lambda c, o: None)
        assert all(p.read_bytes() == data for p, data in kept.items()), log
        assert records(results) == reference, log  # metrics, artifact sha256, status: all of it
        if ROUNDS or n == len(schedule) - 1:  # the board too (by default once: rendering takes a while)
            expected_board = _board(tmp_path, reference)
            assert "| random" in expected_board and _board(tmp_path, records(results)) == expected_board, log
        shutil.rmtree(results)  # the next round starts from scratch
    print("\n".join(log))
