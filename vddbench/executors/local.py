"""The default executor: cells in worker processes on this machine (one per core by default).

Each worker runs one cell at a time and the driver knows which one, so a fault is charged only where
it belongs:

* A worker that dies (a segfault, the out-of-memory killer, ``os._exit``) fails only its own cell,
  with a failed record naming the exit code or signal; a fresh worker takes its place and the grid
  goes on. A single-cell run also runs in a worker, so it gets the same record and message.
* Workers ignore SIGINT: Ctrl-C reaches the driver only, which stops the workers and writes nothing
  for the cells they were running; those stay pending and the next run computes them. A worker
  stopped by SIGTERM or SIGHUP is treated the same way (stopped, not crashed).
* A worker exits when the driver is killed (it polls its parent), leaving its cell pending.

``in_process=True`` runs the cells one after another in this process instead (tests, debugging).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import wait

from ..errors import ProtocolError, VddbenchError
from ..runner import Cell, record_crash, run_cell
from ..worker_processes import WorkerProcess, ignore_ctrl_c
from . import THREAD_VARS, OnDone

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # a stop, not a crash: no record
STOP_GRACE = 10.0  # seconds an idle worker gets to exit by itself when the grid is done
START_FAILURES = 3  # fresh workers in a row that die before taking a cell: give up, something is broken


class CellStopped(Exception):
    """The cell's worker was stopped by a signal; nothing was recorded and the cell stays pending."""


def _exit_with_parent(parent: int) -> None:
    """A worker outlives a killed driver and would go on computing cells nobody collects."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)  # the cell in flight is lost; records are atomic, so nothing is half-written


def _worker(conn, threads: int, parent: int) -> None:
    """A worker process: runs the cells the driver sends, one at a time, and says when it starts one."""
    ignore_ctrl_c()
    import torch

    from .. import plugins

    plugins.WARN = False  # the driver has already named any broken plugin
    torch.set_num_threads(threads)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        while True:
            job = conn.recv()
            if job is None:
                return
            cell, results_root = job
            conn.send(("started", None))
            try:
                outcome = run_cell(cell, results_root)
            except Exception as exc:  # reported by the caller, the grid goes on
                outcome = exc
            try:
                conn.send(("done", outcome))
            except (OSError, EOFError):
                raise
            except Exception:  # an exception that does not pickle
                conn.send(("done", RuntimeError(f"{type(outcome).__name__}: {outcome}")))
    except (OSError, EOFError):  # the driver is gone (killed): leave quietly, records are atomic
        return


class _Slot(WorkerProcess):
    """One worker process and the cell it was given."""

    def __init__(self, context, threads: int):
        # Not daemonic: a cell may start processes of its own (DataLoader workers on a GPU, the
        # decoding pool of a real dataset), which a daemonic process may not. ``run`` stops every
        # worker in its ``finally``, and a worker whose driver was killed exits by itself.
        super().__init__(context, _worker, (threads, os.getpid()), daemon=False)
        self.cell: Cell | None = None
        self.started = False  # the worker said it took ``cell``
        self.ever_started = False

    def give(self, cell: Cell, results_root: str) -> None:
        self.cell, self.started = cell, False
        try:
            self.conn.send((cell, results_root))
        except OSError:  # already dead: the driver sees it through the sentinel and requeues the cell
            pass


def death(exitcode: int | None) -> tuple[str, bool]:
    """How a worker ended, in words, and whether that was a stop (a signal asking it to end)."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:  # a real-time signal has no name
            name = "SIG" + str(-exitcode)
        hint = " (e.g. the out-of-memory killer, or kill -9)" if -exitcode == signal.SIGKILL else ""
        return f"was killed by signal {name} ({-exitcode}){hint}", -exitcode in STOP_SIGNALS
    return f"exited with code {exitcode} (os._exit, or a crash in native code)", False


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int | None = None, threads: int = 1, in_process: bool = False):
        if workers is not None and workers < 1:
            raise ProtocolError(f"--workers must be at least 1; got {workers}")
        self.workers = workers or os.cpu_count() or 1
        self.threads = threads
        self.in_process = in_process

    def run(self, cells: list[Cell], results_root: str, on_done: OnDone) -> None:
        if self.in_process:
            for cell in cells:
                try:
                    outcome = run_cell(cell, results_root)
                except Exception as exc:  # reported by the caller, the grid goes on
                    outcome = exc
                on_done(cell, outcome)
            return
        # Children inherit these before they import torch: N workers x k threads, never oversubscribed.
        for var in THREAD_VARS:
            os.environ[var] = str(self.threads)
        context = multiprocessing.get_context("spawn")  # fork after torch/OpenMP start is unsafe
        queue = list(cells)
        slots: list[_Slot] = []
        finished = False
        try:
            for _ in range(min(self.workers, len(queue))):
                slots.append(_Slot(context, self.threads))  # listed before it starts: a Ctrl-C during
                slots[-1].start()  # or between starts still stops every worker already started
            for slot in slots:
                slot.give(queue.pop(0), results_root)
            start_failures = 0  # fresh workers in a row that died before taking any cell
            while any(s.cell is not None for s in slots):
                busy = [s for s in slots if s.cell is not None]
                ready = set(wait([s.conn for s in busy] + [s.process.sentinel for s in busy]))
                for i, slot in enumerate(slots):
                    if slot.cell is None or not {slot.conn, slot.process.sentinel} & ready:
                        continue
                    kind, outcome = self._receive(slot)
                    if kind == "started":
                        slot.started = slot.ever_started = True
                        start_failures = 0
                    elif kind == "done":
                        cell, slot.cell = slot.cell, None
                        on_done(cell, outcome)
                        if queue:
                            slot.give(queue.pop(0), results_root)
                    elif kind == "dead":
                        cell, slot.cell = slot.cell, None
                        slot.stop()
                        if slot.started:
                            on_done(cell, self._died(cell, slot.process.exitcode, results_root))
                        else:  # it never took the cell: nothing to charge, run it in another worker
                            queue.insert(0, cell)
                            start_failures += not slot.ever_started
                            if start_failures >= START_FAILURES:
                                how, _ = death(slot.process.exitcode)
                                raise VddbenchError(f"local worker processes die while starting (the last one "
                                                    f"{how}); see the messages above")
                        if queue:
                            slots[i] = _Slot(context, self.threads)
                            slots[i].start()
                            slots[i].give(queue.pop(0), results_root)
            finished = True
        finally:  # also on Ctrl-C: stop the workers; the cells they were running stay pending
            for slot in slots:
                slot.stop(grace=STOP_GRACE if finished else 0)

    @staticmethod
    def _receive(slot: _Slot) -> tuple[str, object]:
        """``("started" | "done", outcome)`` from the worker, ``("dead", None)`` once it is gone and
        nothing is left to read, or ``("alive", None)``."""
        try:
            if slot.conn.poll():
                return slot.conn.recv()
        except (EOFError, OSError):
            pass
        else:
            if slot.process.is_alive():
                return "alive", None
        slot.process.join(5)  # its pipe closes as it exits: let it finish, to read its real exit code
        return "dead", None

    @staticmethod
    def _died(cell: Cell, exitcode: int | None, results_root: str):
        """The outcome of a cell whose worker died: failed records naming how, or CellStopped."""
        how, stopped = death(exitcode)
        if stopped:
            return CellStopped(f"its worker process {how}; nothing was recorded, the next run computes it")
        try:
            return record_crash(cell, results_root, f"the worker process running this cell {how}; the other "
                                                    f"cells went on")
        except Exception as exc:  # e.g. a full disk: reported by the caller
            return exc
