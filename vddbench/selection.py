"""User inputs of selection methods (TAC-DT, VST-UNet, OptDistill): candidate pools and models.

Nothing is downloaded. A candidate pool is the training split (``"train"``) or a folder of clips,
one sub-folder per class (read with ``read_clip_folder``, through the datasets' decoder and
clip cache). A model is ``"teacher"`` (the protocol student trained on the training split,
``task.teacher()``: the local stand-in for a pretrained network), an importable callable
``"package.module:name"`` (a function, an ``nn.Module`` instance, or a class built with no
arguments), or the path of a TorchScript file (``torch.jit.save``) holding the user's weights. A
user model receives float32 clips ``(n, 3, T, H, W)`` in the protocol's normalised pixel space
(``vddbench.denormalize`` undoes it) and returns one row per clip.

Public (``vddbench.candidate_pool``, ``vddbench.user_model``, ``vddbench.apply_model``,
``vddbench.model_name``), so that every selection plugin reads its inputs the same way.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Callable

import torch

from .data import VideoSplit
from .data.pool import read_clip_folder
from .distiller import DistillTask
from .errors import DataError, DistillerError

Fn = Callable[[torch.Tensor], torch.Tensor]


def candidate_pool(name: str, source: str, task: DistillTask, per_class: int | None,
                   generator: torch.Generator) -> tuple[VideoSplit, list[torch.Tensor], str]:
    """The pool, the candidate indices of each class (a seeded subset of at most ``per_class``,
    in pool order) and a description for the artifact's metadata."""
    if source == "train":
        pool, where = task.train, "training split"
    else:
        try:
            pool = read_clip_folder(source, task.clip, task.num_classes)
        except DataError as exc:
            raise DistillerError(f"distiller '{name}': {exc}") from None
        where = f"folder {Path(source).expanduser().resolve()} ({len(pool)} clips)"
    labels = pool.labels
    chosen, sizes = [], []
    for label in range(task.num_classes):
        members = torch.nonzero(labels == label).flatten()
        sizes.append(len(members))
        if len(members) < task.ipc:
            raise DistillerError(
                f"distiller '{name}': class {label} has {len(members)} candidate clips in the {where}, "
                f"fewer than IPC {task.ipc}")
        if per_class is not None and len(members) > per_class:
            members = members[torch.randperm(len(members), generator=generator)[:per_class]].sort().values
        chosen.append(members)
    taken = sum(len(c) for c in chosen)
    cap = "" if per_class is None else f" (at most {per_class} per class)"
    return pool, chosen, f"{where}: {taken} candidates of {sum(sizes)}{cap}"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def user_model(name: str, ref: str, device: torch.device) -> tuple[Fn, str]:
    """A user's model from ``"package.module:attr"`` or a TorchScript file, and its description."""
    if ":" in ref and not Path(ref).expanduser().exists():
        module_name, _, attr = ref.partition(":")
        try:
            obj = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise DistillerError(f"distiller '{name}' could not import model '{ref}': {exc}") from None
        if isinstance(obj, type):
            obj = obj()
        if isinstance(obj, torch.nn.Module):
            obj = obj.to(device).eval()
        if not callable(obj):
            raise DistillerError(f"distiller '{name}' should get a callable model from '{ref}'; "
                                          f"got {type(obj).__name__}")
        return obj, f"callable {ref}"
    path = Path(ref).expanduser()
    if not path.is_file():
        raise DistillerError(
            f"distiller '{name}': model '{ref}' is neither 'teacher', an importable 'module:callable' "
            f"nor a TorchScript file")
    try:
        model = torch.jit.load(str(path), map_location=device).eval()
    except Exception as exc:  # torch raises RuntimeError or ValueError for a non-TorchScript file
        raise DistillerError(f"distiller '{name}' could not load TorchScript model {path}: "
                                      f"{type(exc).__name__}: {exc}") from None
    return model, f"TorchScript {path.resolve()} (sha256 {_file_digest(path)})"


@torch.no_grad()
def apply_model(name: str, fn: Fn, pool: VideoSplit, index: torch.Tensor, device: torch.device,
          batch: int = 256) -> torch.Tensor:
    """``fn`` on the normalised clips ``pool[index]``, in batches; float32 rows on the CPU."""
    out = []
    for start in range(0, len(index), batch):
        x = pool.clips(index[start:start + batch]).to(device)
        y = fn(x)
        if not isinstance(y, torch.Tensor) or y.shape[0] != len(x):
            raise DistillerError(
                f"distiller '{name}' should get one output row per clip from its model; got "
                f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__} for {len(x)} clips")
        out.append(y.float().cpu())
    return torch.cat(out)


def model_name(model: torch.nn.Module) -> str:
    """How a record names a model: its student name, else its class."""
    return str(getattr(model, "name", type(model).__name__))
