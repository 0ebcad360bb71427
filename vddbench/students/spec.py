"""StudentSpec, the Student wrapper, and building through mmaction2's model registry."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ProtocolError
from ..protocol import ClipSpec


@dataclass(frozen=True)
class StudentSpec:
    """A student architecture. ``config(num_classes, clip)`` returns an mmaction2 model config."""

    name: str
    description: str
    config: Callable[[int, ClipSpec], dict[str, Any]]


class Student(nn.Module):
    """An mmaction2 recognizer seen as ``(N, 3, T, H, W)`` normalised videos -> logits."""

    def __init__(self, recognizer: nn.Module, name: str):
        super().__init__()
        self.name = name
        self.backbone = recognizer.backbone
        self.cls_head = recognizer.cls_head
        self.frame_wise = type(recognizer).__name__ == "Recognizer2D"

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if self.frame_wise:  # 2D recognizers see T frames as T segments
            n, c, t, h, w = x.shape
            return self.backbone(x.transpose(1, 2).reshape(n * t, c, h, w))
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self._features(x)
        if self.frame_wise:
            return self.cls_head(feats, x.shape[2])
        return self.cls_head(feats)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features, average-pooled to ``(N, D)`` (the embedding used by DM-style methods)."""
        feats = self._features(x)
        if isinstance(feats, (tuple, list)):
            feats = feats[-1]
        if self.frame_wise:  # (N*T, C, h, w) -> mean over space, then over frames
            return feats.flatten(2).mean(2).view(x.shape[0], x.shape[2], -1).mean(1)
        if feats.dim() == 3:  # per-frame features (N, T, D)
            return feats.mean(1)
        return feats.flatten(2).mean(2) if feats.dim() > 2 else feats


def _registry():
    from ..plugins import get_registry

    return get_registry().students


def _spec(name: str) -> StudentSpec:
    students = _registry()
    if name not in students:
        raise ProtocolError(f"unknown student '{name}' (known: {', '.join(sorted(students))})")
    return students[name].obj


def student_config(name: str, num_classes: int, clip: ClipSpec) -> dict[str, Any]:
    """The mmaction2 model config of student ``name`` for this dataset (a fresh copy)."""
    return copy.deepcopy(_spec(name).config(num_classes, clip))


def build_student(name: str, num_classes: int, clip: ClipSpec, seed: int) -> Student:
    """A freshly initialised student; the same seed gives the same weights."""
    from mmengine.registry import DefaultScope

    from .mmaction_compat import import_mmaction_models
    from . import modules  # noqa: F401  registers vddbench's own mmaction2 modules

    import_mmaction_models()
    from mmaction.registry import MODELS

    cfg = student_config(name, num_classes, clip)
    from mmengine.logging import MMLogger

    mmengine_logger = MMLogger.get_current_instance()
    level = mmengine_logger.level
    mmengine_logger.setLevel(logging.WARNING)  # init_weights logs every parameter at INFO
    try:
        with torch.random.fork_rng(devices=[]), DefaultScope.overwrite_default_scope("mmaction"):
            torch.manual_seed(seed)
            recognizer = MODELS.build(cfg)
            recognizer.init_weights()
    finally:
        mmengine_logger.setLevel(level)
    return Student(recognizer, name)


def parameter_count(name: str, num_classes: int, clip: ClipSpec) -> int:
    return sum(p.numel() for p in build_student(name, num_classes, clip, seed=0).parameters())
