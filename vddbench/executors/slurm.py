"""Cells as a SLURM job array through submitit: one array element per cell.

``AutoExecutor.map_array`` submits the grid as one array (``--array=0-N%parallelism``) with the
partition, time, GPUs, CPUs and memory asked for; the job script exports ``OMP_NUM_THREADS`` (and
friends) and ``run_cell`` sets the protocol's torch threads, so records match the other executors'.

The driver may exit once the array is submitted (``detach``, or Ctrl-C while waiting): the jobs keep
running and write their records to the shared results directory. Running the same command again
*collects and resumes*: cells whose records are all ``ok`` are done; a cell whose earlier job is
still pending or running is waited for, not submitted twice (``<results>/slurm/submissions.json``
remembers which job runs which cell); a cell whose job ended without its records (failed, timed out,
cancelled, node failure) is reported and submitted again. A job that reaches its time limit or is
preempted is requeued by submitit and restarts its cell (a saved artifact is reused). Cells whose
cached inputs (teacher, expert trajectories) another cell builds go in a second array that waits
for the first (``--dependency=afterany``), so they load them instead of idling on their lock.

``cluster="local"`` runs the same jobs on this machine with submitit's LocalExecutor (tests, and a
dry run of a configuration before it goes to the cluster).
"""

from __future__ import annotations

import fcntl
import math
import os
import re
import shutil
import sys
import time as _time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import submitit
from submitit.core.utils import FailedJobError, UncompletedJobError, pickle_load

from ..errors import ProtocolError, VddbenchError
from ..results import read_json, write_json_atomic
from ..runner import Cell, run_cell
from . import OnDone, absolute, input_leaders, thread_env

CLUSTERS = ("slurm", "local")
# sacct states of a job that may still write its records; anything else has ended.
ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING",
          "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "STOPPED"}
SACCT_LAG_S = 300  # a job neither sacct nor squeue can tell about, submitted less than this ago, is pending


def parse_minutes(value: str | int | float) -> int:
    """A SLURM time (``90``, ``30:00``, ``2:00:00``, ``1-12``, ``1-12:00:00``) in whole minutes."""
    text = str(value).strip()
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not match:
        raise ProtocolError(f"--time '{value}' is not a SLURM time (minutes, MM:SS, HH:MM:SS or D-HH:MM:SS)")
    days, a, b, c = (int(g) if g else None for g in match.groups())
    if days is None:  # minutes | minutes:seconds | hours:minutes:seconds
        h, m, s = (a, b, c) if c is not None else (0, a, b or 0)
    else:  # days-hours[:minutes[:seconds]]
        h, m, s = a, b or 0, c or 0
    minutes = math.ceil(((days or 0) * 24 * 60 + h * 60 + m) + s / 60)
    if minutes < 1:
        raise ProtocolError(f"--time '{value}' is shorter than a minute")
    return minutes


class CellJob(submitit.helpers.Checkpointable):
    """One array element: one cell. On timeout or preemption submitit requeues the same call."""

    def __call__(self, cell: Cell, results_root: str) -> list[dict[str, Any]]:
        return run_cell(cell, results_root)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as lock:  # one driver submits at a time; the ledger stays consistent
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _squeue(job_ids: set[str]) -> dict[str, str] | None:
    """``{job id: state}`` of the jobs squeue lists (array elements one by one); None if it fails."""
    import subprocess

    try:
        out = subprocess.run(["squeue", "--noheader", "--array", "--format=%i|%T", "--jobs", ",".join(sorted(job_ids))],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        # squeue fails for a job id it no longer knows; with several ids that is ambiguous
        return {} if len(job_ids) == 1 and "Invalid job id" in out.stderr else None
    states = {}
    for line in out.stdout.splitlines():
        job_id, _, state = line.strip().partition("|")
        if job_id:
            states[job_id] = state.strip()
    return states


_LIVE: dict[str, Any] = {}  # local jobs submitted by this process, with their process handles


class SlurmExecutor:
    name = "slurm"

    def __init__(self, workers: int | None = None, threads: int = 1, cpus_per_cell: float | None = None,
                 gpus_per_cell: float | None = None, partition: str | None = None, time: str | int | None = None,
                 mem: str | None = None, slurm_options: tuple[str, ...] = (), cluster: str | None = None,
                 detach: bool = False, poll_s: float | None = None, job_name: str = "vddbench"):
        self.cluster = cluster or "slurm"
        if self.cluster not in CLUSTERS:
            raise ProtocolError(f"unknown submitit cluster '{self.cluster}' (available: {', '.join(CLUSTERS)})")
        if gpus_per_cell is not None and gpus_per_cell != int(gpus_per_cell):
            raise ProtocolError("--gpus-per-cell must be a whole number on SLURM")
        self.workers, self.threads = workers, threads
        self.cpus = math.ceil(cpus_per_cell if cpus_per_cell is not None else threads)
        self.gpus = int(gpus_per_cell or 0)
        self.partition, self.mem, self.job_name = partition, mem, job_name
        self.timeout_min = parse_minutes(time) if time is not None else 60
        self.options = dict(self._option(o) for o in slurm_options)
        self.detach = detach
        self.poll_s = poll_s if poll_s is not None else (5.0 if self.cluster == "slurm" else 0.5)

    @staticmethod
    def _option(text: str) -> tuple[str, str]:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ProtocolError(f"--slurm-option '{text}' should be KEY=VALUE (e.g. account=myproject)")
        return key.strip().lstrip("-"), value.strip()

    # -- submission --------------------------------------------------------------------------------
    def executor(self, folder: Path) -> submitit.AutoExecutor:
        """The submitit executor with this run's parameters (the sbatch script is built from them)."""
        if self.cluster == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
            raise VddbenchError("--executor slurm needs sbatch and srun on PATH (run it on a SLURM login node); "
                                "--submitit-cluster local runs the same jobs on this machine")
        from submitit.slurm.slurm import _get_default_parameters

        known = set(_get_default_parameters())
        named = {f"slurm_{k.replace('-', '_')}": v for k, v in self.options.items() if k.replace("-", "_") in known}
        extra = {k: v for k, v in self.options.items() if k.replace("-", "_") not in known}
        setup = [f"export {k}={v}" for k, v in thread_env(self.threads).items()]
        ex = submitit.AutoExecutor(folder=folder, cluster=self.cluster)
        params: dict[str, Any] = {"name": self.job_name, "timeout_min": self.timeout_min,
                                  "gpus_per_node": self.gpus, "cpus_per_task": self.cpus,
                                  "slurm_setup": setup, "local_setup": setup,
                                  "slurm_array_parallelism": self.workers or 256, **named}
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.mem:
            params["slurm_mem"] = self.mem
        if extra:
            params["slurm_additional_parameters"] = extra
        ex.update_parameters(**params)
        return ex

    def _job(self, entry: dict[str, Any]):
        if entry["job_id"] in _LIVE:
            return _LIVE[entry["job_id"]]
        if entry["cluster"] == "local":
            from submitit.local.local import LocalJob

            return LocalJob(entry["folder"], entry["job_id"])
        return submitit.SlurmJob(entry["folder"], entry["job_id"])

    def _states(self, jobs: dict[Cell, tuple[Any, float]], cached: bool = False) -> dict[Cell, str]:
        """Each job's state: FINISHED once its result is written, else what SLURM says (sacct through
        submitit's watcher; squeue for jobs sacct does not know, e.g. without accounting)."""
        states: dict[Cell, str] = {}
        unknown = []
        for cell, (job, submitted) in jobs.items():
            if job.paths.result_pickle.exists():
                states[cell] = "FINISHED"
            elif isinstance(job, submitit.SlurmJob):
                states[cell] = job.watcher.get_state(job.job_id, mode="cache" if cached else "standard").split()[0]
                if states[cell] == "UNKNOWN":
                    unknown.append(cell)
            elif getattr(job, "_process", None) is not None:  # a local job this process started
                states[cell] = "RUNNING" if job._process.poll() is None else "FINISHED"
            else:  # a local job of an earlier driver
                states[cell] = "RUNNING" if _pid_running(int(job.job_id)) else "FINISHED"
        if unknown:
            queued = _squeue({jobs[c][0].job_id.split("_")[0] for c in unknown})
            for cell in unknown:
                job, submitted = jobs[cell]
                if queued is not None:  # squeue lists every job that is not over
                    states[cell] = queued.get(job.job_id, "ENDED")
                elif _time.time() - submitted < SACCT_LAG_S:  # neither knows it yet: just submitted
                    states[cell] = "PENDING"
        return states

    def submit(self, cells: list[Cell], results_root: str) -> dict[Cell, tuple[Any, float]]:
        """Attach to live jobs of earlier runs, submit the other cells; ``{cell: (job, submitted)}``."""
        remote_cells, root = absolute(cells, results_root)
        base = Path(root) / "slurm"
        base.mkdir(parents=True, exist_ok=True)
        folder = base / "jobs"
        out: dict[Cell, tuple[Any, float]] = {}
        with _locked(base / ".submit.lock"):
            ledger_path = base / "submissions.json"
            ledger = read_json(ledger_path) if ledger_path.exists() else {"version": 1, "cells": {}}
            earlier = {c: ledger["cells"][c.key] for c in cells if c.key in ledger["cells"]}
            jobs = {c: (self._job(e), e["submitted"]) for c, e in earlier.items()}
            slurm_jobs = [j for j, _ in jobs.values() if isinstance(j, submitit.SlurmJob)]
            if slurm_jobs:
                slurm_jobs[0].watcher.update()  # one sacct call for every earlier job
            for cell, state in self._states(jobs, cached=True).items():
                if state in ACTIVE:
                    out[cell] = jobs[cell]
                else:
                    print(f"slurm: job {earlier[cell]['job_id']} of {cell.label()} ended ({state}) without all "
                          f"its records; submitting it again (log: {jobs[cell][0].paths.stderr})", file=sys.stderr)
            todo = [(c, r) for c, r in zip(cells, remote_cells) if c not in out]
            attached = len(cells) - len(todo)
            arrays: list[str] = []
            if todo:
                # First phase: cells that build cached inputs; the cells waiting for it follow, in a
                # second array that starts when the first phase ended (see input_leaders).
                after = input_leaders(cells)
                executor = self.executor(folder)
                for phase in ([p for p in todo if p[0] not in after], [p for p in todo if p[0] in after]):
                    if not phase:
                        continue
                    waits = sorted({out[after[c]][0].job_id.split("_")[0] for c, _ in phase if after.get(c) in out})
                    if waits:
                        executor.update_parameters(slurm_dependency="afterany:" + ":".join(waits))
                    now = _time.time()
                    new = executor.map_array(CellJob(), [r for _, r in phase], [root] * len(phase))
                    arrays.append(new[0].job_id.split("_")[0])
                    for (cell, _), job in zip(phase, new):
                        if self.cluster == "local":
                            _LIVE[job.job_id] = job
                        out[cell] = (job, now)
                        ledger["cells"][cell.key] = {"job_id": job.job_id, "cluster": self.cluster,
                                                     "folder": str(folder), "submitted": now, "cell": cell.label()}
                    write_json_atomic(ledger_path, ledger)  # at once: a later failure must not hide these jobs
        print(f"slurm: {len(todo)} cell(s) submitted" + (f" (job {', '.join(arrays)})" if todo else "")
              + (f", {attached} still queued or running from an earlier run" if attached else "")
              + f"; logs in {folder}/", file=sys.stderr)
        return out

    # -- collection --------------------------------------------------------------------------------
    def _outcome(self, job, state: str) -> Any:
        """The records the job's cell wrote, or the error that stopped it (never waits on SLURM)."""
        path = job.paths.result_pickle
        deadline = _time.time() + (10 if isinstance(job, submitit.SlurmJob) else 1)  # shared FS lag
        while not path.exists() and _time.time() < deadline:
            _time.sleep(0.5)
        log = job.paths.stderr
        if not path.exists():  # killed, out of memory, node failure, cancelled: no result written
            tail = log.read_text(errors="replace")[-1000:] if log.exists() else ""
            return UncompletedJobError(f"job {job.job_id} ended ({state}) without a result; log: {log}\n{tail}")
        outcome, value = pickle_load(path)
        if outcome == "error":  # the job raised; ``value`` is its traceback
            return FailedJobError(f"job {job.job_id} raised (log: {log}):\n{value}")
        return value

    def collect(self, jobs: dict[Cell, tuple[Any, float]], on_done: OnDone) -> None:
        waiting = dict(jobs)
        while waiting:
            for cell, state in self._states(waiting).items():
                if state in ACTIVE:
                    continue
                job, _ = waiting.pop(cell)
                _LIVE.pop(job.job_id, None)
                on_done(cell, self._outcome(job, state))
            if waiting:
                _time.sleep(self.poll_s)

    def run(self, cells: list[Cell], results_root: str, on_done: OnDone) -> None:
        if not cells:
            return
        jobs = self.submit(cells, results_root)
        if self.detach:
            print("slurm: detached; the jobs write their records to the results directory. Run the same "
                  "command again to collect them and resubmit whatever is missing.", file=sys.stderr)
            return
        try:
            self.collect(jobs, on_done)
        except KeyboardInterrupt:
            print("slurm: the jobs keep running; run the same command again to collect them", file=sys.stderr)
            raise
