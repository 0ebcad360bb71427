"""The teacher, the first kind of cached input: a student trained on the whole training split."""

from __future__ import annotations

from typing import Any

from ..evaluate import train_on_split
from ..seeding import stable_seed
from ..students import build_student
from . import BuildContext, CachedInput, Tensors


def build_teacher(context: BuildContext, options: dict[str, Any]) -> Tensors:
    """``options["arch"]`` trained on the training split with the protocol's teacher recipe, streamed
    (memory is a few batches, whatever the split's size); its state dict."""
    arch, spec = options["arch"], context.spec
    seed = teacher_seed(context.seed, arch)
    model = build_student(arch, spec.num_classes, spec.clip, seed).to(context.device)
    train_on_split(model, context.train, context.protocol.teacher_training, seed)
    return model.state_dict()


def teacher_seed(seed: int, arch: str) -> int:
    return stable_seed("teacher", seed, arch)


TEACHER = CachedInput("teacher", "a student trained on the whole training split (task.teacher())", build_teacher)
