"""The distiller contract: what a plugin implements and what the harness hands it.

A distiller turns a training split into an :class:`Artifact` (named tensors, saved with
safetensors; the file's bytes are its storage) and turns a reloaded artifact back into
:class:`DistilledVideos`. Hyper-parameters are the ``__init__`` keyword arguments; each must have a
default and be stored on ``self`` under its own name (as in scikit-learn).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import torch

from .errors import DistillerError, PluginError

if TYPE_CHECKING:
    from .data import VideoSplit
    from .inputs.experts import ExpertTrajectories
    from .protocol import ClipSpec, EvalRecipe, ExpertRecipe


@dataclass(frozen=True)
class DistillerTags:
    """What a distiller needs and produces; the harness and the conformance kit read these.

    Declared on the class; an instance may replace ``self.tags`` in ``__init__`` when a
    hyper-parameter changes them (an ablation that turns evaluation-time augmentation off). The
    harness reads the instance's tags when it evaluates and records.

    needs_teacher: calls ``task.teacher()`` (the cached input "teacher").
    cached_inputs: other kinds of cached input it asks for, e.g. ``("expert-trajectories",)`` for
        ``task.expert_trajectories()``; built once per dataset and seed by the harness, first.
    soft_labels: ``expand`` may return float32 soft labels ``(N, classes)``.
    eval_augmentation: overrides ``augment_batch`` to augment batches while students train.
    uses_ipc: False for references such as ``full`` that ignore the IPC (run once per seed).
    exact_ipc: ``expand`` returns exactly IPC clips per class. False for methods whose stored budget
        expands into more clips (VDSD combines static and dynamic memories); storage still counts.
    storage_budget_bytes: an upper bound the artifact promises to respect, or None.
    own_eval_recipe: students train with ``evaluation_recipe(artifact, recipe)`` instead of the
        protocol's recipe (a paper's evaluation-time deviation, e.g. MTT's learned step size);
        marked § on the board, which also shows the plain score under the protocol's recipe.
    """

    needs_teacher: bool = False
    soft_labels: bool = False
    eval_augmentation: bool = False
    uses_ipc: bool = True
    exact_ipc: bool = True
    storage_budget_bytes: int | None = None
    cached_inputs: tuple[str, ...] = ()
    own_eval_recipe: bool = False

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every kind of cached input the distiller may ask for."""
        return (("teacher",) if self.needs_teacher else ()) + tuple(k for k in self.cached_inputs if k != "teacher")

    @property
    def decoupled(self) -> bool:
        """Scored twice: its own way and plain (hard labels, no augmentation, the protocol's recipe)."""
        return self.soft_labels or self.eval_augmentation or self.own_eval_recipe


@dataclass
class Artifact:
    """What a distiller stores: named tensors plus small string metadata. Must be self-contained."""

    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class DistilledVideos:
    """Videos ``(N, 3, T, H, W)`` float32 in normalised pixel space, labels int64 ``(N,)`` or
    float32 soft labels ``(N, classes)`` whose rows sum to 1."""

    videos: torch.Tensor
    labels: torch.Tensor
    # The class of each video, for soft-label methods whose labels' argmax is not it (optional).
    # The harness's decoupled "plain" score trains on these hard labels.
    classes: torch.Tensor | None = None

    @property
    def soft(self) -> bool:
        return self.labels.dim() == 2

    def hard_labels(self) -> torch.Tensor:
        """int64 class labels: ``classes`` if given, else the labels or their argmax."""
        if self.classes is not None:
            return self.classes
        return self.labels if self.labels.dim() == 1 else self.labels.argmax(1)

    def validate(self, distiller: str, num_classes: int, clip: "ClipSpec") -> None:
        """Raise a DistillerError that names the distiller if the contract is broken."""

        def fail(what: str, got: Any) -> None:
            raise DistillerError(f"distiller '{distiller}' should {what}; got {got}")

        v, y = self.videos, self.labels
        if not isinstance(v, torch.Tensor) or v.dtype != torch.float32:
            fail("return float32 videos", getattr(v, "dtype", type(v)))
        if v.dim() != 5 or tuple(v.shape[1:]) != clip.shape:
            fail(f"return videos of shape (N, {', '.join(map(str, clip.shape))})", tuple(v.shape))
        if not torch.isfinite(v).all():
            fail("return finite pixel values", "NaN or inf")
        if y.shape[0] != v.shape[0]:
            fail("return one label per video", f"{y.shape[0]} labels for {v.shape[0]} videos")
        if y.dim() == 1:
            if y.dtype != torch.int64:
                fail("return int64 hard labels", y.dtype)
            if len(y) and (y.min() < 0 or y.max() >= num_classes):
                fail(f"return labels in [0, {num_classes})", f"[{int(y.min())}, {int(y.max())}]")
        elif y.dim() == 2:
            if y.dtype != torch.float32 or y.shape[1] != num_classes:
                fail(f"return float32 soft labels of shape (N, {num_classes})", (y.dtype, tuple(y.shape)))
            if (y < 0).any() or not torch.allclose(y.sum(1), torch.ones(len(y)), atol=1e-4):
                fail("return soft labels that are non-negative and sum to 1", "rows that do not")
        else:
            fail("return labels of shape (N,) or (N, classes)", tuple(y.shape))


@dataclass
class DistillTask:
    """Everything a distiller may use. It never contains the test split."""

    train: "VideoSplit"
    num_classes: int
    ipc: int
    seed: int
    clip: "ClipSpec"
    dataset: str
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    student_factory: Callable[[int], torch.nn.Module] | None = field(default=None, repr=False)
    teacher_factory: Callable[[str | None], torch.nn.Module] | None = field(default=None, repr=False)
    # (kind, options) -> named tensors of a cached input (see vddbench.inputs)
    input_factory: Callable[[str, dict[str, Any]], dict[str, torch.Tensor]] | None = field(default=None, repr=False)
    expert_recipe: "ExpertRecipe | None" = field(default=None, repr=False)
    _students_made: int = field(default=0, repr=False)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A torch generator seeded from the task's seed (use one per random stream)."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + offset)

    def new_student(self) -> torch.nn.Module:
        """A fresh protocol student on ``device``; the n-th call of a task gets the n-th seed."""
        if self.student_factory is None:
            raise DistillerError("this task has no student factory")
        self._students_made += 1
        return self.student_factory(self.seed * 1_000_003 + self._students_made).to(self.device)

    def reset_student(self, student: torch.nn.Module) -> torch.nn.Module:
        """Re-draw ``student`` (one from :meth:`new_student`) in place, as the next call of
        ``new_student`` would build it: the same weights, for a fraction of the cost. For methods
        that need a freshly initialised student every iteration (DM, VDSD, IDTD)."""
        from .students import reinitialize

        self._students_made += 1
        return reinitialize(student, self.seed * 1_000_003 + self._students_made)

    def random_real_indices(self, ipc: int | None = None) -> list[torch.Tensor]:
        """Per class, ``ipc`` (default: the task's IPC) training-clip indices drawn at random with
        the task's seed: the clips ``random`` stores. Methods that start from real clips start from
        these, so that their comparison with ``random`` is paired (same seed, same starting clips).
        A smaller IPC gets a prefix of a larger one's clips."""
        ipc = self.ipc if ipc is None else ipc
        labels = self.train.labels
        out = []
        for label in range(self.num_classes):
            members = torch.nonzero(labels == label).flatten()
            if len(members) < ipc:
                raise DistillerError(f"class {label} has {len(members)} training clips, fewer than IPC {ipc}")
            order = torch.randperm(len(members), generator=self.generator(offset=700_000 + label))
            out.append(members[order[:ipc]])
        return out

    def teacher(self, student: str | None = None) -> torch.nn.Module:
        """A student (the protocol student unless named) trained on the full training split with
        the protocol's teacher recipe; cached per dataset, seed and architecture. In eval mode."""
        if self.teacher_factory is None:
            raise DistillerError("this task has no teacher factory")
        return self.teacher_factory(student).to(self.device).eval()

    def cached(self, kind: str, **options: Any) -> dict[str, torch.Tensor]:
        """The named tensors of a cached input (declare its kind in ``tags.cached_inputs``)."""
        if self.input_factory is None:
            raise DistillerError("this task has no cached inputs")
        return self.input_factory(kind, options)

    def expert_trajectories(self, experts: int, epochs: int) -> "ExpertTrajectories":
        """The first ``experts`` expert trajectories of the protocol (its ``expert_recipe``; at most
        ``experts`` of it), snapshots after 0..``epochs`` epochs, on the CPU. Built once per dataset,
        seed, expert and ``epochs``, and shared by every cell that asks; never part of the artifact."""
        from .inputs.experts import ExpertTrajectories, expert_options

        recipe = self.expert_recipe
        if self.student_factory is None or recipe is None:
            raise DistillerError("this task has no expert trajectories")
        if not 1 <= experts <= recipe.experts or not 1 <= epochs <= recipe.epochs:
            raise DistillerError(f"expert trajectories: asked for {experts} experts x {epochs} epochs; the protocol "
                                 f"has {recipe.experts} x {recipe.epochs}")
        template = self.student_factory(0)  # names and shapes only (new_student would shift its seeds)
        arch = getattr(template, "name", None) or "protocol-student"
        params = torch.stack([self.cached("expert-trajectories", **expert_options(arch, e, epochs, recipe))["params"]
                              for e in range(experts)])
        named = list(template.named_parameters())
        return ExpertTrajectories(params, tuple(n for n, _ in named), tuple(tuple(p.shape) for _, p in named),
                                  recipe.lr)


class Distiller:
    """Base class of every distiller. Subclasses set ``name`` and implement ``distill``."""

    name: ClassVar[str] = ""
    tags: ClassVar[DistillerTags] = DistillerTags()
    # Hyper-parameters that differ from the ``__init__`` defaults under a given protocol, e.g.
    # fewer iterations on the embedded one: ``{"embedded": {"iterations": 200}}``.
    protocol_defaults: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def defaults_for(cls, protocol: str) -> dict[str, Any]:
        return dict(cls.protocol_defaults.get(protocol, {}))

    def distill(self, task: DistillTask) -> Artifact:
        raise NotImplementedError

    def expand(self, artifact: Artifact) -> DistilledVideos:
        """Turn a (reloaded) artifact into training videos. Default: ``videos`` (float32 pixels) as
        they are, or ``videos_uint8`` (real clips as decoded, 4x smaller) normalised."""
        if "videos_uint8" in artifact.tensors:
            from .data import normalize

            return DistilledVideos(normalize(artifact.tensors["videos_uint8"]), artifact.tensors["labels"])
        return DistilledVideos(artifact.tensors["videos"], artifact.tensors["labels"])

    def evaluation_recipe(self, artifact: Artifact, recipe: "EvalRecipe") -> "EvalRecipe":
        """The recipe students train on this artifact with, if ``tags.own_eval_recipe`` (the
        paper's deviation, e.g. ``dataclasses.replace(recipe, lr=learned_lr)``). Default: ``recipe``."""
        return recipe

    def augment_batch(self, videos: torch.Tensor, labels: torch.Tensor, generator: torch.Generator,
                      num_classes: int):
        """Evaluation-time augmentation of one training batch (only if ``tags.eval_augmentation``).
        Returns ``(videos, labels)``; labels may become soft (``num_classes`` wide). Default: unchanged."""
        return videos, labels

    @classmethod
    def _init_parameters(cls) -> list[inspect.Parameter]:
        if cls.__init__ is object.__init__:
            return []
        return list(inspect.signature(cls.__init__).parameters.values())[1:]

    @classmethod
    def param_names(cls) -> list[str]:
        return [p.name for p in cls._init_parameters() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters, read back from ``self`` (they are part of the cell key)."""
        params = {}
        for name in self.param_names():
            if not hasattr(self, name):
                raise PluginError(
                    f"distiller '{self.name}' should store hyper-parameter '{name}' as self.{name}"
                )
            params[name] = getattr(self, name)
        try:
            json.dumps(params)
        except TypeError as exc:
            raise PluginError(f"distiller '{self.name}' hyper-parameters should be JSON values: {exc}") from exc
        return params

    @classmethod
    def check_declaration(cls, provider: str = "?") -> None:
        """Raise a PluginError unless name, tags and ``__init__`` follow the contract."""
        from .plugins import NAME_PATTERN

        where = f"distiller class {cls.__module__}.{cls.__qualname__} from {provider}"
        if not isinstance(cls.name, str) or not NAME_PATTERN.match(cls.name):
            raise PluginError(f"{where} should have a name matching [a-z0-9][a-z0-9-]*; got {cls.name!r}")
        if not isinstance(cls.tags, DistillerTags):
            raise PluginError(f"{where} should declare tags as vddbench.DistillerTags; got {cls.tags!r}")
        for p in cls._init_parameters():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is p.empty:
                raise PluginError(f"{where}: hyper-parameter '{p.name}' should be a keyword argument with a default")
        if cls.distill is Distiller.distill:
            raise PluginError(f"{where} should implement distill(task)")
