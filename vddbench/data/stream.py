"""Batches of a split, streamed: what teachers, ``full``, feature passes and scoring read.

:func:`stream` walks a split in the batches it is given (index tensors, drawn in this process)
through a ``torch.utils.data.DataLoader``: each batch is one read of uint8 clips (in worker
processes on a GPU run), pinned, copied to the device without blocking, and normalised there. At
most a few batches are in flight, so memory does not grow with the split: a 240k-clip Kinetics
split streams in the memory of its batches. Nothing random happens in the loader (the order is
the caller's), so the batches are the same with any number of workers.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from .split import VideoSplit, normalize


def loader_workers(device: torch.device | str) -> int:
    """DataLoader worker processes: ``$VDDBENCH_LOADER_WORKERS``, else none on CPU (a cell has
    its fixed threads; reading a batch costs little next to training on it) and up to 4 on CUDA,
    where reading and pinning the next batches overlaps the GPU's work on this one."""
    if os.environ.get("VDDBENCH_LOADER_WORKERS"):
        return int(os.environ["VDDBENCH_LOADER_WORKERS"])
    if torch.device(device).type != "cuda":
        return 0
    return max(1, min(4, (os.cpu_count() or 2) // 2))


class BatchReader(Dataset):
    """A split seen batch by batch: item ``index`` (an index tensor) is ``(uint8 clips, labels)``,
    read at once. Use it with ``DataLoader(..., sampler=batches, batch_size=None)``."""

    def __init__(self, split: VideoSplit):
        self.split = split
        self.labels = split.labels  # one copy, not one per batch

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split.raw(index), self.labels[index]


def loader(split: VideoSplit, batches: Iterable[torch.Tensor], device: torch.device | str = "cpu",
           workers: int | None = None) -> DataLoader:
    """A DataLoader yielding ``(uint8 clips, labels)`` on the CPU for each index tensor of
    ``batches`` (pinned when ``device`` is CUDA)."""
    device = torch.device(device)
    workers = loader_workers(device) if workers is None else workers
    # A generator of its own: a DataLoader otherwise draws its workers' base seed from the global
    # generator, which would shift the dropout stream of the training around it.
    return DataLoader(BatchReader(split), sampler=batches, batch_size=None, num_workers=workers,
                      pin_memory=device.type == "cuda", generator=torch.Generator(),
                      prefetch_factor=2 if workers else None)


def stream(split: VideoSplit, batches: Iterable[torch.Tensor], device: torch.device | str = "cpu",
           workers: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(normalised float32 clips, int64 labels)`` on ``device`` for each index tensor of
    ``batches``, in order."""
    device = torch.device(device)
    for clips, labels in loader(split, batches, device, workers):
        yield normalize(clips.to(device, non_blocking=True)), labels.to(device, non_blocking=True)


def in_order(n: int, batch_size: int) -> Iterator[torch.Tensor]:
    """Index tensors that walk ``0 .. n-1`` in batches of ``batch_size``."""
    for start in range(0, n, batch_size):
        yield torch.arange(start, min(start + batch_size, n))
