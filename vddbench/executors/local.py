"""The default executor: cells in a process pool on this machine (one worker per core)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from ..runner import Cell, run_cell
from . import OnDone


def _exit_with_parent(parent: int) -> None:
    """A pool worker outlives a killed driver and would go on computing cells nobody collects."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)  # the cell in flight is lost; records are atomic, so nothing is half-written


def _init_worker(threads: int, parent: int) -> None:
    import torch

    torch.set_num_threads(threads)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int | None = None, threads: int = 1):
        self.workers = workers or os.cpu_count() or 1
        self.threads = threads

    def run(self, cells: list[Cell], results_root: str, on_done: OnDone) -> None:
        if self.workers == 1 or len(cells) <= 1:
            for cell in cells:
                try:
                    outcome = run_cell(cell, results_root)
                except Exception as exc:  # reported by the caller, the grid goes on
                    outcome = exc
                on_done(cell, outcome)
            return
        # Children inherit these before they import torch: N workers x 1 thread, never oversubscribed.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(self.threads)
        context = multiprocessing.get_context("spawn")  # fork after torch/OpenMP start is unsafe
        pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                   initargs=(self.threads, os.getpid()))
        try:
            futures = {pool.submit(run_cell, cell, results_root): cell for cell in cells}
            remaining = set(futures)
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in done:
                    exc = future.exception()
                    on_done(futures[future], exc if exc is not None else future.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
