"""Worker processes that leave Ctrl-C to the process that started them.

A Ctrl-C in a terminal sends SIGINT to the whole process group: the driver and every worker. Workers
(the local executor's, the video-decoding pool's) must not die of it with a traceback each; the
driver decides what to stop. So a worker starts with SIGINT blocked and its target first calls
:func:`ignore_ctrl_c`, which ignores SIGINT and only then unblocks it: a Ctrl-C that comes while the
worker is still starting up (importing torch) cannot break it half-way through an import.

:class:`WorkerProcess` is such a worker with the driver's end of its pipe: the local executor's slots
and the decoding pool's workers are made with it, listed where the driver's ``finally`` stops them,
then started.
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


class WorkerProcess:
    """A spawned worker, ``target(child_conn, *args)``, and ``conn``, the driver's end of its pipe.
    Create it, put it where the driver's ``finally`` will stop it, then :meth:`start` it."""

    def __init__(self, context, target, args: tuple, daemon: bool):
        self.conn, self._child_conn = context.Pipe()
        self.process = context.Process(target=target, args=(self._child_conn, *args), daemon=daemon)

    def start(self) -> None:
        """Start the worker; a Ctrl-C that came during the start is raised on the way out of here."""
        start_worker(self.process)
        self._child_conn.close()

    def stop(self, grace: float = 0.0) -> None:
        """Ask the worker to finish (``None`` on its pipe) and wait up to ``grace`` seconds, then
        SIGTERM, then SIGKILL. When this returns it is gone (reaped) and both pipe ends are closed.
        A worker that never started is only closed."""
        if grace and self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(grace)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
        self._child_conn.close()
