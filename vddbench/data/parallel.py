"""Decoding many videos: in this process for a few, in crash-isolated worker processes for a dataset.

decord can crash the whole process on some corrupt files (dmlc/decord#229, #99), which no
``try`` catches. Workers therefore decode one video at a time; when one dies, the video it held is
reported as undecodable and a fresh worker takes over, so a bad file never stops a build.

Yields ``(index, clip or None, error or None)`` per video as they finish, with a rich progress bar
on stderr. ``$VDDBENCH_DECODE_WORKERS`` sets the number of worker processes (0: decode in this
process); by default fewer than 64 videos decode here, more in up to 8 workers (one per core).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections import deque
from multiprocessing.connection import wait
from typing import Callable, Iterator

from ..protocol import DatasetSpec
from ..worker_processes import WorkerProcess, ignore_ctrl_c
from .decode import ClipDecoder, CorruptVideo
from .manifest import Manifest, VideoEntry

POOL_THRESHOLD = 64
Factory = Callable[[DatasetSpec, Manifest], Callable[[VideoEntry, bool], object]]


def decode_workers(todo: int) -> int:
    configured = os.environ.get("VDDBENCH_DECODE_WORKERS")
    if configured:
        return max(0, int(configured))
    return 0 if todo < POOL_THRESHOLD else max(1, min(8, os.cpu_count() or 1))


def _decode_one(decoder, index: int, entry: VideoEntry, train: bool) -> tuple:
    try:
        return index, decoder(entry, train), None
    except CorruptVideo as exc:
        return index, None, str(exc)


def _work(conn, spec: DatasetSpec, manifest: Manifest, train: bool, factory: Factory) -> None:
    ignore_ctrl_c()  # the parent stops the pool on Ctrl-C; a worker finishes its video first
    decoder = factory(spec, manifest)
    while (task := conn.recv()) is not None:
        conn.send(_decode_one(decoder, *task, train))


class _Worker(WorkerProcess):
    def __init__(self, context, args: tuple):
        super().__init__(context, _work, args, daemon=True)
        self.task: tuple[int, VideoEntry] | None = None

    def give(self, task) -> None:
        self.task = task
        try:
            self.conn.send(task)
        except OSError:  # the process is gone; the loop sees it dead and reports this task
            pass


def _in_workers(tasks: list, workers: int, args: tuple) -> Iterator[tuple]:
    context = multiprocessing.get_context("spawn")  # forking after torch/OpenMP started is unsafe
    queue = deque(tasks)
    pool: list[_Worker] = []
    try:
        for _ in range(min(workers, len(tasks))):
            pool.append(_Worker(context, args))  # listed before it starts: a Ctrl-C then still stops it
            pool[-1].start()
        for w in pool:
            w.give(queue.popleft())
        while any(w.task for w in pool):
            wait([w.conn for w in pool if w.task] + [w.process.sentinel for w in pool if w.task])
            for i, w in enumerate(pool):
                if w.task is None or not (w.conn.poll() or not w.process.is_alive()):
                    continue
                try:
                    result = w.conn.recv()
                except (EOFError, OSError):  # died mid-video: that video is the culprit
                    w.process.join()
                    result = (w.task[0], None, f"the decoder crashed on it (exit code {w.process.exitcode})")
                    pool[i] = w = _Worker(context, args)
                    w.start()
                w.task = None
                if queue:
                    w.give(queue.popleft())
                yield result
    finally:
        for w in pool:
            w.stop(grace=5)


def decode_all(spec: DatasetSpec, manifest: Manifest, entries: list[VideoEntry], indices: list[int],
               train: bool, progress: bool = True, description: str = "decoding",
               factory: Factory = ClipDecoder) -> Iterator[tuple]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    tasks = list(zip(indices, entries))
    workers = decode_workers(len(tasks))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not progress) as bar:
        task_id = bar.add_task(description, total=len(tasks))
        if workers == 0:
            decoder = factory(spec, manifest)
            results = (_decode_one(decoder, i, e, train) for i, e in tasks)
        else:  # workers need only how to decode, not the whole (maybe 240k-video) manifest
            light = dataclasses.replace(manifest, splits={s: [] for s in manifest.splits}, extras=[])
            results = _in_workers(tasks, workers, (spec, light, train, factory))
        for result in results:
            bar.advance(task_id)
            yield result
