"""Worker processes that leave Ctrl-C to the process that started them.

A Ctrl-C in a terminal sends SIGINT to the whole process group: the driver and every worker. Workers
(the local executor's, the video-decoding pool's) must not die of it with a traceback each; the
driver decides what to stop. So a worker starts with SIGINT blocked and its target first calls
:func:`ignore_ctrl_c`, which ignores SIGINT and only then unblocks it: a Ctrl-C that comes while the
worker is still starting up (importing torch) cannot break it half-way through an import.
"""

from __future__ import annotations

import signal
import threading
from multiprocessing import resource_tracker


def start_worker(process) -> None:
    """Start a spawn-context ``process`` whose target calls :func:`ignore_ctrl_c` first. A Ctrl-C
    that comes meanwhile is raised here once the start is complete, never half-way through it (a
    child whose parent stopped before sending it its target dies with a traceback of its own)."""
    # Spawning starts multiprocessing's resource tracker the first time and then *unblocks* SIGINT
    # in this thread, so a process spawned right after would start with Ctrl-C live. Started here,
    # before SIGINT is blocked, the tracker is not started again in between.
    resource_tracker.ensure_running()
    heard = []
    # Blocking SIGINT covers this thread (and the child, which inherits the mask), but another thread
    # (a progress bar's) may still take it, and Python then raises it here: hold it until the end.
    previous = signal.getsignal(signal.SIGINT)  # None: set outside Python, cannot be put back
    hold = threading.current_thread() is threading.main_thread() and previous is not None  # only it may set handlers
    if hold:
        signal.signal(signal.SIGINT, lambda signum, frame: heard.append(signum))
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
        if hold:
            signal.signal(signal.SIGINT, previous)
    if heard:
        signal.raise_signal(signal.SIGINT)  # as if it came now: KeyboardInterrupt, or whatever was set


def ignore_ctrl_c() -> None:
    """In a worker started by :func:`start_worker`: Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked since the start
