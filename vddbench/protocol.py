"""The protocol types: frozen data that fixes datasets, IPCs, seeds, students and the evaluation recipe.

The built-in protocols live in :mod:`vddbench.protocols`; a plugin adds its own with the
``register_protocols`` hook.

``protocol_id`` is a short hash of the protocol's canonical JSON, including the mmaction2 config
of every student at every dataset's clip size, so changing any of it never reuses an old result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .errors import ProtocolError


@dataclass(frozen=True)
class ClipSpec:
    """Shape of one clip: ``(3, frames, height, width)``."""

    frames: int
    height: int
    width: int

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (3, self.frames, self.height, self.width)


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of a protocol. ``source`` names a registered ``DatasetSource``."""

    name: str
    source: str
    num_classes: int
    clip: ClipSpec
    metric: str = "top1"  # the metric the leaderboard shows; top-1 and top-5 are always recorded
    options: tuple[tuple[str, Any], ...] = ()  # source-specific, e.g. sampling interval

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


@dataclass(frozen=True)
class EvalRecipe:
    """How a student is trained on a distilled set (VDSD's recipe, epochs scaled per protocol)."""

    epochs: int = 500
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_decay_at: float = 0.5  # fraction of training after which lr is multiplied by lr_decay
    lr_decay: float = 0.1
    batch_size: int = 256  # sets smaller than this train full-batch
    # A fixed number of SGD steps instead of ``epochs`` (None: epochs). Under epochs a set smaller
    # than a batch gets as many updates as epochs, a large set many more, so small budgets are
    # under-trained; fixed steps give every set the same number of updates.
    steps: int | None = None
    # A set smaller than a batch trains full-batch at lr x sqrt(set size / batch_size) (the square-
    # root scaling rule) when True; VDSD keeps lr (False). On the embedded protocol a full batch of
    # 10 clips at the lr of a batch of 32 collapses to chance on some seeds.
    sqrt_lr_scaling: bool = False
    # "sgd" (with momentum) or "adam" (lr and weight_decay; momentum unused). The protocols use
    # SGD; a distiller's own recipe (``Distiller.evaluation_recipe``, tagged §) may use Adam.
    optimizer: str = "sgd"
    # Clip the gradient's global L2 norm to this before each step (None: no clipping). Being
    # measured on the embedded protocol's validation split as a stabiliser (docs/embedded.md).
    grad_clip: float | None = None


@dataclass(frozen=True)
class ExpertRecipe:
    """How a protocol's expert trajectories are trained (VDSD's buffer.sh): ``experts`` students,
    each trained ``epochs`` epochs on the whole training split with plain SGD, saved every epoch."""

    experts: int = 30
    epochs: int = 50
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 256


# Fields added after records were committed, with the default they are left out of the canonical
# JSON at: a protocol that does not use one keeps its id (and its records).
_ADDED_FIELDS = {"expert_recipe": dataclasses.asdict(ExpertRecipe())}
_ADDED_RECIPE_FIELDS = {"optimizer": "sgd", "grad_clip": None}


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    datasets: tuple[DatasetSpec, ...]
    ipcs: tuple[int, ...]
    seeds: tuple[int, ...]
    students: tuple[str, ...]  # the first is the protocol student
    recipe: EvalRecipe = field(default_factory=EvalRecipe)
    torch_threads: int = 1  # per cell, fixed, so results do not depend on the executor
    board_prefix: str = ""  # leaderboard files are <prefix><dataset>.md, so protocols never overwrite each other
    teacher_recipe: EvalRecipe | None = None  # how task.teacher() is trained; None: the evaluation recipe
    # Seeds on which the students after the first (the cross-architecture columns) are evaluated;
    # None: every seed. The protocol student is evaluated on every seed.
    cross_architecture_seeds: tuple[int, ...] | None = None
    # Expert trajectories (``task.expert_trajectories()``): a distiller uses the first few of them.
    expert_recipe: ExpertRecipe = field(default_factory=ExpertRecipe)

    def students_for(self, seed: int) -> tuple[str, ...]:
        """The students a cell of this seed is evaluated on."""
        if self.cross_architecture_seeds is None or seed in self.cross_architecture_seeds:
            return self.students
        return self.students[:1]

    @property
    def teacher_training(self) -> EvalRecipe:
        return self.teacher_recipe or self.recipe

    def board_name(self, dataset: str) -> str:
        return f"{self.board_prefix}{dataset}"

    @property
    def protocol_student(self) -> str:
        return self.students[0]

    def dataset(self, name: str) -> DatasetSpec:
        for spec in self.datasets:
            if spec.name == name:
                return spec
        known = ", ".join(d.name for d in self.datasets)
        raise ProtocolError(f"protocol '{self.name}' has no dataset '{name}' (it has: {known})")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def canonical_json(self) -> str:
        """The protocol plus each student's resolved mmaction2 config, as sorted JSON."""
        from .students import student_config

        body = self.to_dict()
        for key, default in _ADDED_FIELDS.items():
            if body[key] == default:
                del body[key]
        for recipe in (body["recipe"], body["teacher_recipe"]):
            for key, default in _ADDED_RECIPE_FIELDS.items():
                if recipe is not None and recipe[key] == default:
                    del recipe[key]
        body["student_configs"] = {
            d.name: {s: student_config(s, d.num_classes, d.clip) for s in self.students}
            for d in self.datasets
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)

    @cached_property
    def protocol_id(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:12]


# Every registered protocol by name: vddbench's built-ins (``vddbench.protocols``) and those plugins
# register with ``register_protocols``, filled in from the plugin registry by ``all_protocols()``.
# One dict for the process's life; tests may add to it.
PROTOCOLS: dict[str, Protocol] = {}
_FROM_REGISTRY: set[str] = set()  # filled in from the registry (empty: not filled in yet)


def all_protocols() -> dict[str, Protocol]:
    if not _FROM_REGISTRY:
        from .plugins import get_registry

        for name, entry in get_registry().protocols.items():
            if name not in PROTOCOLS:
                PROTOCOLS[name] = entry.obj
                _FROM_REGISTRY.add(name)
    return PROTOCOLS


def forget_protocols() -> None:
    """Drop what came from the registry (``vddbench.plugins.reset_registry`` calls this)."""
    for name in _FROM_REGISTRY:
        PROTOCOLS.pop(name, None)
    _FROM_REGISTRY.clear()


def get_protocol(name: str) -> Protocol:
    protocols = all_protocols()
    try:
        return protocols[name]
    except KeyError:
        raise ProtocolError(f"unknown protocol '{name}' (known: {', '.join(protocols)})") from None
