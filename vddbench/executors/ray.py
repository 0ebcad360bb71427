"""Cells as Ray tasks: on an existing cluster (``--ray-address``) or on a local one started here.

One task per cell, each reserving ``cpus_per_cell`` CPUs and ``gpus_per_cell`` GPUs; Ray places
them. The task's runtime environment fixes ``OMP_NUM_THREADS`` (and friends) before the worker
imports torch, and ``run_cell`` sets the protocol's torch thread count, so records match the other
executors'. A cell whose cached inputs (teacher, expert trajectories) another cell is building is
held back until that cell is done (:func:`vddbench.executors.input_leaders`). Ray retries a task whose worker died
(``max_retries``); an exception that escapes a cell is reported, not retried (``run_cell``
already records distiller and student errors).

Workers need vddbench and the same plugins installed, and must see the results directory (and the
data root and clip cache of a real dataset) at the same absolute path as the driver.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

from ..runner import Cell, run_cell
from . import OnDone, absolute, forwarded_env, input_leaders, thread_env


def _cell_task(cell: Cell, results_root: str) -> list[dict[str, Any]]:
    """What a Ray worker runs: one cell (module level, so Ray pickles it by reference)."""
    return run_cell(cell, results_root)


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, threads: int = 1,
                 cpus_per_cell: float | None = None, gpus_per_cell: float | None = None, max_retries: int = 3):
        self.address = address
        self.workers = workers
        self.threads = threads
        self.cpus_per_cell = cpus_per_cell if cpus_per_cell is not None else threads
        self.gpus_per_cell = gpus_per_cell or 0
        self.max_retries = max_retries

    def _connect(self) -> bool:
        """Connect to (or start) a cluster unless this process already is; True if we must shut it down."""
        import ray

        if ray.is_initialized():
            return False
        address = self.address or os.environ.get("RAY_ADDRESS") or "local"
        if address == "local":  # a fresh cluster on this machine, sized to --workers
            cpus = math.ceil(self.workers * self.cpus_per_cell) if self.workers else None
            ray.init(address="local", num_cpus=cpus, include_dashboard=False)
        else:
            ray.init(address=address)
        res = ray.cluster_resources()
        print(f"ray: {address} cluster, {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs; "
              f"{self.cpus_per_cell:g} CPU(s) and {self.gpus_per_cell:g} GPU(s) per cell", file=sys.stderr)
        return True

    def run(self, cells: list[Cell], results_root: str, on_done: OnDone) -> None:
        if not cells:
            return
        import ray
        from ray.exceptions import RayError, RayTaskError

        remote_cells, root = absolute(cells, results_root)
        started = self._connect()
        task = ray.remote(_cell_task)
        options = dict(num_cpus=self.cpus_per_cell, num_gpus=self.gpus_per_cell, max_retries=self.max_retries,
                       retry_exceptions=False,
                       runtime_env={"env_vars": {**thread_env(self.threads), **forwarded_env()}})
        after = input_leaders(cells)  # cells that wait for the one building their cached inputs
        held: dict[Cell, list[tuple[Cell, Cell]]] = {}
        queue = []
        for pair in zip(cells, remote_cells):
            (held.setdefault(after[pair[0]], []) if pair[0] in after else queue).append(pair)
        in_flight: dict[Any, Cell] = {}
        try:
            while queue or in_flight:
                while queue and (not self.workers or len(in_flight) < self.workers):
                    cell, remote_cell = queue.pop(0)
                    ref = task.options(name=f"vddbench-cell-{cell.key}", **options).remote(remote_cell, root)
                    in_flight[ref] = cell
                done, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in done:
                    cell = in_flight.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except RayTaskError as exc:  # the cell raised: the original type, remote traceback
                        outcome = exc.as_instanceof_cause()
                    except RayError as exc:  # its worker died more than max_retries times, or cancelled
                        outcome = exc
                    queue.extend(held.pop(cell, ()))
                    on_done(cell, outcome)
        except BaseException:
            for ref in in_flight:  # a killed cell leaves no partial record; a rerun runs it
                ray.cancel(ref, force=True)
            raise
        finally:
            if started:
                ray.shutdown()
