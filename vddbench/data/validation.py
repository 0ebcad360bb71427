"""A validation split carved from the training split, for choosing hyper-parameters and budgets.

The scientific rule: hyper-parameters, budgets and recipes are chosen on a validation split carved
from the training split; the test split is touched only by the final evaluation. ``carve`` holds
out the same clips every time (the last ``per_class`` clips of each class, in split order), so a
tuning script and a README can name exactly what was held out.
"""

from __future__ import annotations

import torch

from .split import ArraySplit, VideoSplit


def carve_indices(train: VideoSplit, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rest, validation)`` indices into ``train`` (each in split order) that :func:`carve` takes."""
    labels = train.labels
    held = []
    for c in range(train.num_classes):
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) <= per_class:
            raise ValueError(f"split '{train.name}' has {len(idx)} clips of class {c}; cannot hold out {per_class}")
        held.append(idx[-per_class:])
    val_idx = torch.cat(held).sort().values
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[val_idx] = False
    return torch.nonzero(mask).flatten(), val_idx


def carve(train: VideoSplit, per_class: int) -> tuple[ArraySplit, ArraySplit]:
    """``(rest, validation)``: the last ``per_class`` clips of every class go to validation."""
    labels = train.labels
    rest_idx, val_idx = carve_indices(train, per_class)

    def part(idx: torch.Tensor, suffix: str) -> ArraySplit:
        return ArraySplit(f"{train.name}:{suffix}", train.raw(idx).numpy(), labels[idx].numpy(), train.num_classes)

    return part(rest_idx, "rest"), part(val_idx, "validation")
