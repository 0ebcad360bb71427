"""Video splits and dataset sources.

Clips are stored as uint8 ``(N, 3, T, H, W)`` (in memory or in a file: the clip cache) and
normalised with the ImageNet mean and std when read, so nothing walks a large split by loading all
of it. A split is a map-style ``torch.utils.data.Dataset``: ``split[i]`` is ``(uint8 clip (3, T, H,
W), int64 label)``, so ``DataLoader(split, batch_size=...)`` works as for any dataset;
:mod:`vddbench.data.stream` batches a split in one read per batch and normalises on the device.

A split backed by a file (a ``np.memmap`` of the cache) is read with ``pread`` rather than through
the mapping: pages read through a mapping count in the process's resident memory until the kernel
drops them, so walking a 24 GB split would show a 24 GB RSS. Read this way, the file sits in the
page cache (the kernel's, reclaimable) and the process holds only the batch it asked for; such a
split also pickles as its path (DataLoader workers, Ray), never as its clips.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from ..protocol import DatasetSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
_ON_DEVICE: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}


def _mean_std(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    if device.type == "cpu":
        return _MEAN, _STD
    if device not in _ON_DEVICE:
        _ON_DEVICE[device] = (_MEAN.to(device), _STD.to(device))
    return _ON_DEVICE[device]


def normalize(clips_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 3, T, H, W)`` -> float32 in the protocol's normalised pixel space, on the
    clips' device (normalise after the copy to a GPU: a quarter of the bytes cross the bus)."""
    mean, std = _mean_std(clips_uint8.device)
    # In place on the one new float tensor: ~3.5x faster than chained out-of-place ops.
    return clips_uint8.float().div_(255.0).sub_(mean).div_(std)


def denormalize(videos: torch.Tensor) -> torch.Tensor:
    """Normalised float videos -> float in [0, 1] (not clamped)."""
    return videos * _STD.to(videos.device) + _MEAN.to(videos.device)


class VideoSplit(torch.utils.data.Dataset):
    """One split of a dataset: ``len``, ``labels``, ``raw(index)`` / ``clips(index)``, and
    ``split[i]`` -> ``(uint8 clip (3, T, H, W), int64 label)`` as a torch ``Dataset``. Read-only."""

    name: str
    num_classes: int

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def labels(self) -> torch.Tensor:
        """int64 ``(N,)``; a fresh copy, so changing it cannot change the split."""
        raise NotImplementedError

    def raw(self, index) -> torch.Tensor:
        """uint8 clips ``(n, 3, T, H, W)`` for an index tensor, list or slice (a copy)."""
        raise NotImplementedError

    def clips(self, index) -> torch.Tensor:
        """float32 normalised clips ``(n, 3, T, H, W)`` for an index tensor, list or slice."""
        return normalize(self.raw(index))

    def labels_at(self, positions: list[int]) -> torch.Tensor:
        """The labels of some clips (a copy). Subclasses with their labels at hand avoid copying all."""
        return self.labels[positions]

    def __getitem__(self, i) -> tuple[torch.Tensor, torch.Tensor]:
        i = _position(i, len(self))
        return self.raw([i])[0], self.labels_at([i])[0]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """What a ``DataLoader`` fetches for one batch: one read for all of it."""
        positions = [_position(i, len(self)) for i in indices]
        clips, labels = self.raw(positions), self.labels_at(positions)
        return list(zip(clips.unbind(0), labels.unbind(0)))

    @property
    def clip_bytes(self) -> int:
        """Bytes of one uint8 clip."""
        return int(np.prod(self.raw([0]).shape[1:])) if len(self) else 0

    @property
    def nbytes(self) -> int:
        """Bytes of the split's uint8 clips (what it holds; the size of its clip cache)."""
        return len(self) * self.clip_bytes

    def indices_of(self, label: int) -> torch.Tensor:
        return torch.nonzero(self.labels == label).flatten()

    def fingerprint(self) -> str:
        """sha256 of every clip and label; changes if anything in the split changes."""
        h = hashlib.sha256(self.labels.numpy().tobytes())
        for start in range(0, len(self), 256):
            h.update(self.raw(slice(start, start + 256)).numpy().tobytes())
        return h.hexdigest()


def _position(i, n: int) -> int:
    """An item index as a non-negative int, or IndexError (which also ends ``iter(split)``)."""
    i = int(i)
    if not -n <= i < n:
        raise IndexError(f"clip {i} is out of range for a split of {n}")
    return i + n if i < 0 else i


class ArraySplit(VideoSplit):
    """A split backed by a uint8 numpy array (``np.memmap`` for real datasets: read with pread)."""

    def __init__(self, name: str, clips: np.ndarray, labels: np.ndarray, num_classes: int):
        if clips.dtype != np.uint8 or clips.ndim != 5 or clips.shape[1] != 3:
            raise ValueError(f"clips of split '{name}' should be uint8 (N, 3, T, H, W); "
                             f"got {clips.dtype} {clips.shape}")
        self.name = name
        self.num_classes = num_classes
        self._clips = clips
        self._labels = torch.tensor(np.asarray(labels, dtype=np.int64))  # a copy: never shares a cache
        self._shape = tuple(int(s) for s in clips.shape[1:])
        self._file = _backing_file(clips)  # (path, byte offset of clip 0) or None
        self._fd: tuple[int, int] | None = None  # (pid, fd), opened on first read

    def __len__(self) -> int:
        return len(self._labels)

    @property
    def labels(self) -> torch.Tensor:
        return self._labels.clone()

    @property
    def clip_bytes(self) -> int:
        return int(np.prod(self._shape))

    def labels_at(self, positions: list[int]) -> torch.Tensor:
        return self._labels[positions]  # a list index copies

    def raw(self, index) -> torch.Tensor:
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        elif isinstance(index, list):
            index = np.asarray(index, dtype=np.int64)
        if self._file is None or not hasattr(os, "preadv"):
            return torch.from_numpy(np.array(self._clips[index], copy=True))
        return torch.from_numpy(self._pread(index))

    # -- reading a file-backed split -------------------------------------------------------------
    def _pread(self, index) -> np.ndarray:
        n = len(self)
        if isinstance(index, slice):
            positions = np.arange(*index.indices(n), dtype=np.int64)
        else:
            positions = np.asarray(index)
            if positions.dtype == np.bool_:
                if positions.shape != (n,):
                    raise IndexError(f"a boolean index should have {n} entries; got {positions.shape}")
                positions = np.flatnonzero(positions)
            if positions.ndim == 0:
                return self._pread(positions.reshape(1))[0]
            positions = positions.astype(np.int64, copy=False)
            if positions.size and (positions.min() < -n or positions.max() >= n):
                raise IndexError(f"clip index out of range for a split of {n}")
            positions = np.where(positions < 0, positions + n, positions)
        out = np.empty((len(positions), *self._shape), dtype=np.uint8)
        flat = out.reshape(len(positions), -1)
        size, (_, start) = self.clip_bytes, self._file
        fd = self._descriptor()
        # one pread per run of consecutive clips (a whole slice, or a sorted batch, is one read)
        breaks = np.flatnonzero(np.diff(positions) != 1) + 1
        for first, stop in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [len(positions)]])):
            view = memoryview(flat[first:stop].reshape(-1))
            offset, done = start + int(positions[first]) * size, 0
            while done < len(view):
                got = os.preadv(fd, [view[done:]], offset + done)
                if got <= 0:
                    raise OSError(f"split '{self.name}': short read from {self._file[0]} at byte {offset + done}")
                done += got
        return out

    def _descriptor(self) -> int:
        pid = os.getpid()
        if self._fd is None or self._fd[0] != pid:  # a forked DataLoader worker may share it, but reopening is cheap
            self._fd = (pid, os.open(self._file[0], os.O_RDONLY))
        return self._fd[1]

    def __getstate__(self):
        state = dict(self.__dict__, _fd=None)
        if self._file is not None:
            state["_clips"] = None  # pickles as its path, never as its clips
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._clips is None:
            path, offset = self._file
            self._clips = np.memmap(path, np.uint8, "r", offset=offset, shape=(len(self._labels), *self._shape))

    def __del__(self):
        if getattr(self, "_fd", None) is not None and self._fd[0] == os.getpid():
            try:
                os.close(self._fd[1])
            except OSError:
                pass


def _backing_file(clips: np.ndarray) -> tuple[str, int] | None:
    """``(path, offset)`` of a memory map opened on a file (not a view of one); else None."""
    if (isinstance(clips, np.memmap) and isinstance(clips.base, mmap.mmap) and clips.filename
            and clips.flags.c_contiguous):
        return str(clips.filename), int(clips.offset)
    return None


class DatasetSource:
    """Loads splits of one kind of dataset. Register instances through ``register_datasets``."""

    name: str = ""

    def load(self, spec: "DatasetSpec", split: str, root: Path | None) -> VideoSplit:
        """Return ``split`` ("train" or "test") of the dataset ``spec`` describes."""
        raise NotImplementedError
