"""What the kit (and ``vddbench run``) watch while a distiller runs: loads of dataset splits, data
files opened, and reads of the training split after ``distill`` returned."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Callable

import torch

from ..data import ArraySplit
from ..errors import DistillerError
from ..plugins import get_registry


class GuardedSplit(ArraySplit):
    """A private, writable copy of the training split (so a mutation shows instead of crashing)
    that counts reads made after ``close()``, i.e. after ``distill`` returned."""

    def __init__(self, source: ArraySplit):
        super().__init__(source.name, source.raw(slice(0, len(source))).numpy(),
                         source.labels.numpy().copy(), source.num_classes)
        self.closed = False
        self.late_reads = 0

    def _touch(self) -> None:
        if self.closed:
            self.late_reads += 1

    def __len__(self) -> int:
        self._touch()
        return super().__len__()

    @property
    def labels(self) -> torch.Tensor:
        self._touch()
        return self._labels.clone()

    def raw(self, index) -> torch.Tensor:
        self._touch()
        return super().raw(index)


@contextmanager
def watch_dataset_loads(log: list[str], forbid: Callable[[str], str | None] = lambda split: None):
    """Record every split any registered dataset source loads; raise where ``forbid`` says why."""
    kinds = {type(entry.obj) for entry in get_registry().datasets.values()}
    saved = {kind: kind.__dict__.get("load") for kind in kinds}
    for kind in kinds:
        def load(self, spec, split, root=None, _original=kind.load):
            log.append(split)
            reason = forbid(split)
            if reason:
                raise DistillerError(reason)
            return _original(self, spec, split, root)

        kind.load = load
    try:
        yield log
    finally:
        for kind, original in saved.items():
            if original is None:
                del kind.load
            else:
                kind.load = original


_READS: list[str] | None = None  # files opened by Python code while a watch is on
_HOOKED = False


def _audit(event: str, args) -> None:
    if event == "open" and _READS is not None and isinstance(args[0], (str, bytes)):
        _READS.append(os.fsdecode(args[0]))


def _is_data_file(path: str) -> bool:
    """Not code, not a pseudo-file, not inside Python's installation (libraries load lazily)."""
    if path.endswith((".py", ".pyc", ".so", ".pyd")) or path.startswith(("/proc/", "/sys/", "/dev/")):
        return False
    real = os.path.realpath(path)
    return not any(real.startswith(os.path.realpath(p) + os.sep) for p in {sys.prefix, sys.base_prefix})


@contextmanager
def watch_file_reads(log: list[str]):
    """Record data files opened from Python (open, torch.load, np.load, ...) inside the block.
    Best effort: an audit hook, so files opened by native code (safetensors, C++) are not seen."""
    global _READS, _HOOKED
    if not _HOOKED:  # audit hooks cannot be removed; this one is idle outside a watch
        sys.addaudithook(_audit)
        _HOOKED = True
    _READS = []
    try:
        yield log
    finally:
        log.extend(p for p in _READS if _is_data_file(p))
        _READS = None
