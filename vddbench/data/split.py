"""Video splits and dataset sources.

Clips are stored as uint8 ``(N, 3, T, H, W)`` (in memory or memory-mapped) and normalised with the
ImageNet mean and std when read, so a distiller can walk a large split without loading all of it.
"""

from __future__ import annotations

import hashlib
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


def normalize(clips_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 3, T, H, W)`` -> float32 in the protocol's normalised pixel space."""
    # In place on the one new float tensor: ~3.5x faster than chained out-of-place ops.
    return clips_uint8.float().div_(255.0).sub_(_MEAN).div_(_STD)


def denormalize(videos: torch.Tensor) -> torch.Tensor:
    """Normalised float videos -> float in [0, 1] (not clamped)."""
    return videos * _STD.to(videos.device) + _MEAN.to(videos.device)


class VideoSplit:
    """One split of a dataset: ``len``, ``labels`` and ``clips(index)``. Read-only."""

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

    def indices_of(self, label: int) -> torch.Tensor:
        return torch.nonzero(self.labels == label).flatten()

    def fingerprint(self) -> str:
        """sha256 of every clip and label; changes if anything in the split changes."""
        h = hashlib.sha256(self.labels.numpy().tobytes())
        for start in range(0, len(self), 256):
            h.update(self.raw(slice(start, start + 256)).numpy().tobytes())
        return h.hexdigest()


class ArraySplit(VideoSplit):
    """A split backed by a uint8 numpy array (``np.memmap`` for real datasets)."""

    def __init__(self, name: str, clips: np.ndarray, labels: np.ndarray, num_classes: int):
        if clips.dtype != np.uint8 or clips.ndim != 5 or clips.shape[1] != 3:
            raise ValueError(f"clips of split '{name}' should be uint8 (N, 3, T, H, W); got {clips.dtype} {clips.shape}")
        self.name = name
        self.num_classes = num_classes
        self._clips = clips
        self._labels = torch.tensor(np.asarray(labels, dtype=np.int64))  # a copy: never shares a cache

    def __len__(self) -> int:
        return len(self._labels)

    @property
    def labels(self) -> torch.Tensor:
        return self._labels.clone()

    def raw(self, index) -> torch.Tensor:
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        elif isinstance(index, list):
            index = np.asarray(index, dtype=np.int64)
        return torch.from_numpy(np.array(self._clips[index], copy=True))


class DatasetSource:
    """Loads splits of one kind of dataset. Register instances through ``register_datasets``."""

    name: str = ""

    def load(self, spec: "DatasetSpec", split: str, root: Path | None) -> VideoSplit:
        """Return ``split`` ("train" or "test") of the dataset ``spec`` describes."""
        raise NotImplementedError
