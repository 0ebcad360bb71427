"""The cell core that ``vddbench run`` and the conformance kit share: the task a distiller gets,
how its distillation is seeded, and how its artifact is saved, reloaded and expanded.

What differs between the two is around it: the runner measures costs, guards the test split and
keeps cached inputs on disk; the kit observes the distiller and keeps them in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch

from .artifacts import load_artifact, save_artifact
from .device import forked_rng
from .distiller import Artifact, Distiller, DistillTask
from .errors import ProtocolError
from .inputs import Inputs
from .inputs.teacher import teacher_seed
from .seeding import stable_seed
from .students import build_student

if TYPE_CHECKING:
    from .data import VideoSplit
    from .protocol import DatasetSpec, Protocol


def make_task(protocol: "Protocol", spec: "DatasetSpec", train: "VideoSplit", ipc: int, seed: int,
              device: torch.device, inputs: Inputs,
              on_input: Callable[[str, float], None] | None = None) -> DistillTask:
    """The task of a cell: its training split, the protocol student's factory, and its cached
    inputs (``on_input(kind, seconds)`` is told each time one is fetched, and how long it took)."""
    import time

    def student(s: int) -> torch.nn.Module:
        return build_student(protocol.protocol_student, spec.num_classes, spec.clip, s)

    def cached(kind: str, options: dict[str, Any]) -> dict[str, torch.Tensor]:
        start = time.perf_counter()
        tensors = inputs.get(kind, options)
        if on_input:
            on_input(kind, time.perf_counter() - start)
        return tensors

    def teacher(arch: str | None) -> torch.nn.Module:
        arch = arch or protocol.protocol_student
        model = build_student(arch, spec.num_classes, spec.clip, teacher_seed(seed, arch))
        model.load_state_dict(cached("teacher", {"arch": arch}))
        return model.eval()

    return DistillTask(train=train, num_classes=spec.num_classes, ipc=ipc, seed=seed, clip=spec.clip,
                       dataset=spec.name, device=device, student_factory=student, teacher_factory=teacher,
                       input_factory=cached, expert_recipe=protocol.expert_recipe)


def check_cell(distiller: Distiller, ipc: int | None, device: torch.device) -> None:
    """What every distiller would otherwise check itself, checked once before it is called: an IPC
    of at least 1 (for distillers that use it) and a device this machine has."""
    if distiller.tags.uses_ipc and (ipc is None or ipc < 1):
        raise ProtocolError(f"distiller '{distiller.name}' needs an IPC >= 1; got {ipc}")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ProtocolError(f"device '{device}' is not available on this machine ({count} CUDA device(s)); "
                                f"pass --device cpu or one of cuda:0..cuda:{max(count - 1, 0)}")


def distill(distiller: Distiller, task: DistillTask, cell_key: str) -> Artifact:
    """``distiller.distill(task)`` with the cell's seed on the CPU's and every GPU's generator
    (restored afterwards), so the same cell gives the same artifact wherever it runs."""
    check_cell(distiller, task.ipc, torch.device(task.device))
    with forked_rng(task.device):
        torch.manual_seed(stable_seed("distill", cell_key))
        artifact = distiller.distill(task)
    if not isinstance(artifact, Artifact):
        raise TypeError(f"distiller '{distiller.name}' should return a vddbench.Artifact; "
                        f"got {type(artifact).__name__}")
    return artifact


def save_and_reload(artifact: Artifact, path: Path) -> Artifact:
    """Save with safetensors and read back: students only ever see what the file holds."""
    save_artifact(artifact, path)
    return load_artifact(path)

