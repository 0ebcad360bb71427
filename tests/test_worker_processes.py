"""vddbench.worker_processes: workers start with Ctrl-C blocked, and a Ctrl-C during a start is
raised in the parent only once the start is complete."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest

from vddbench.worker_processes import start_worker


def test_a_ctrl_c_taken_by_another_thread_is_raised_after_the_start():
    """Blocking SIGINT covers one thread; a progress bar's thread may take the signal, and Python then
    raised KeyboardInterrupt in the middle of the start: the child found no target and printed
    ``EOFError: Ran out of input``."""
    other = threading.Thread(target=time.sleep, args=(0.3,))  # SIGINT is not blocked there
    other.start()

    class Process:
        finished = False

        def start(self):
            signal.pthread_kill(other.ident, signal.SIGINT)
            time.sleep(0.05)  # Python runs the handler in the main thread meanwhile
            self.finished = True

    process = Process()
    with pytest.raises(KeyboardInterrupt):
        start_worker(process)
    assert process.finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    other.join()


def test_workers_start_with_ctrl_c_blocked_even_when_they_start_the_resource_tracker(monkeypatch):
    """The first spawn starts multiprocessing's resource tracker, which unblocks SIGINT afterwards: a
    worker spawned then started with Ctrl-C live and printed a KeyboardInterrupt traceback from
    ``import multiprocessing`` when the Ctrl-C came while workers started."""
    from multiprocessing import resource_tracker, util

    tracker = resource_tracker.ResourceTracker()  # not running yet, as in a fresh `vddbench run`
    for name in ("_resource_tracker", "ensure_running", "getfd"):
        monkeypatch.setattr(resource_tracker, name, tracker if name == "_resource_tracker" else getattr(tracker, name))
    masks, spawn = [], util.spawnv_passfds

    def spawn_or_record(path, args, passfds):
        if not any("spawn_main" in os.fsdecode(a) for a in args):
            return spawn(path, args, passfds)  # the resource tracker
        masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
        raise RuntimeError("recorded")  # no need to run the worker

    monkeypatch.setattr(util, "spawnv_passfds", spawn_or_record)
    try:
        with pytest.raises(RuntimeError, match="recorded"):
            start_worker(multiprocessing.get_context("spawn").Process(target=print))
    finally:
        if tracker._fd is not None:  # the tracker leaves when its pipe closes
            os.close(tracker._fd)
            os.waitpid(tracker._pid, 0)
    assert len(masks) == 1 and signal.SIGINT in masks[0]
