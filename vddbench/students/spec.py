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

    def __init__(self, recognizer: nn.Module, name: str, num_classes: int | None = None,
                 clip: ClipSpec | None = None):
        super().__init__()
        self.name = name
        self.num_classes, self.clip = num_classes, clip  # how to build it again (``reinitialize``)
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

    def embed(self, x: torch.Tensor, flat: bool = False) -> torch.Tensor:
        """Backbone features as ``(N, D)``: average-pooled over time and space, or with
        ``flat=True`` the whole feature map flattened (``out.view(out.size(0), -1)``), which is what
        the reference DM / VDSD / MTT code matches. Per-frame students average over frames first."""
        feats = self._features(x)
        if isinstance(feats, (tuple, list)):
            feats = feats[-1]
        if flat:
            if self.frame_wise:  # (N*T, ...) -> mean over frames of the flattened frame features
                return feats.reshape(x.shape[0], x.shape[2], -1).mean(1)
            if feats.dim() == 3:  # per-frame features (N, T, D)
                return feats.mean(1)
            return feats.flatten(1)
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

    from . import modules  # noqa: F401  registers vddbench's own mmaction2 modules
    from .mmaction_compat import import_mmaction_models

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
    return Student(recognizer, name, num_classes, clip)


def _default_init(module: nn.Module) -> bool:
    """True when ``init_weights`` does nothing, so construction-time ``reset_parameters`` is all."""
    return getattr(type(module), "default_init", False)


def reinitialize(student: Student, seed: int) -> Student:
    """Draw ``student``'s weights again, in place, exactly as ``build_student(..., seed)`` would.

    Building through mmaction2's registry costs more than a DM step on a small clip, so methods that
    need a fresh student every iteration reset one instead. For vddbench's own modules (PyTorch's
    default initialisation) this replays ``reset_parameters`` in construction order under the
    seed, giving the very weights a fresh build gives (a test checks it); other students (mmaction2
    zoo models with custom ``init_weights``) are built again and their weights copied.
    """
    parts = (student.backbone, student.cls_head)
    if all(_default_init(p) for p in parts):
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for part in parts:
                for module in part.modules():
                    reset = getattr(module, "reset_parameters", None)
                    if callable(reset) and module is not part:
                        reset()
        return student
    if student.clip is None or student.num_classes is None:
        raise ProtocolError(f"student '{student.name}' was not made by build_student; cannot reinitialise it")
    fresh = build_student(student.name, student.num_classes, student.clip, seed)
    student.load_state_dict(fresh.state_dict())
    return student
