"""What the three VDSD distillers share: the memory's hyper-parameters, the static stage, the
checks, and ``expand``. Each objective (DM, MTT, FRePo) only writes its stage-2 loop."""

from __future__ import annotations

import dataclasses

import torch

import vddbench
from vddbench_static_dc import STATIC_IMAGES, StaticDC, static_dc_images

from . import memory as mem


def static_stage_defaults(protocol: str) -> dict:
    """Static-DC's own budget on ``protocol`` under the ``static_`` names, so that the static stage
    of every VDSD distiller is exactly Static-DC's run there (and shares its cached images)."""
    return {f"static_{key}": value for key, value in StaticDC.protocol_defaults[protocol].items()}


class StaticDynamicDistiller(vddbench.Distiller):
    """Base of ``vdsd``, ``mtt-vdsd`` and ``frepo-vdsd`` (not registered itself).

    Memory: ``statics_per_video`` (S) images and ``dynamics_per_video`` (D) maps per video slot;
    ``hallucinator`` ``"concat"`` (VDSD) or ``"add"``; ``hal_init`` ``"default"`` (PyTorch's, as the
    reference) or ``"identity"``; ``use_dynamic`` False drops the dynamic memory (ablation).

    Static stage (Static-DC, :func:`vddbench_vdsd.memory.learn_static`): ``static_iterations`` DC
    iterations (0 keeps the real frames), ``static_lr_img``, ``static_momentum``, ``static_lr_net``,
    ``static_outer_loop`` / ``static_inner_loop`` (None: DC's table for IPC*S images per class),
    ``static_batch_real`` real frames per class per matching step. DC's defaults.
    """

    tags = vddbench.DistillerTags(exact_ipc=False)  # S x D clips per stored slot (see __init__)

    def __init__(self, statics_per_video: int, dynamics_per_video: int, hallucinator: str, hal_init: str,
                 use_dynamic: bool, static_iterations: int, static_lr_img: float, static_momentum: float,
                 static_lr_net: float, static_outer_loop: int | None, static_inner_loop: int | None,
                 static_batch_real: int):
        self.statics_per_video = statics_per_video
        self.dynamics_per_video = dynamics_per_video
        self.hallucinator = hallucinator
        self.hal_init = hal_init
        self.use_dynamic = use_dynamic
        self.static_iterations = static_iterations
        self.static_lr_img = static_lr_img
        self.static_momentum = static_momentum
        self.static_lr_net = static_lr_net
        self.static_outer_loop = static_outer_loop
        self.static_inner_loop = static_inner_loop
        self.static_batch_real = static_batch_real
        # One clip per slot when a slot has one combination: then the harness checks exactly IPC.
        combos = statics_per_video * (dynamics_per_video if use_dynamic else 1)
        # One image per slot: the static stage is Static-DC's run, shared as its cached input.
        shared = (STATIC_IMAGES,) if statics_per_video == 1 else ()
        self.tags = dataclasses.replace(type(self).tags, exact_ipc=combos == 1,
                                        cached_inputs=type(self).tags.cached_inputs + shared)
        self._check_values()  # a bad value stops `vddbench run` before any work (subclasses set theirs first)

    # -- checks --------------------------------------------------------------------------------------
    def _fail(self, what: str):
        raise vddbench.DistillerError(f"distiller '{self.name}': {what}")

    def _check_values(self) -> None:
        if self.hallucinator not in mem.HALLUCINATORS:
            self._fail(f"hallucinator should be one of {mem.HALLUCINATORS}; got {self.hallucinator!r}")
        if self.hal_init not in mem.HAL_INITS:
            self._fail(f"hal_init should be one of {mem.HAL_INITS}; got {self.hal_init!r}")
        if self.statics_per_video < 1 or self.dynamics_per_video < 1:
            self._fail("statics_per_video and dynamics_per_video should be >= 1")
        if self.static_iterations < 0 or self.static_batch_real < 1:
            self._fail("static_iterations should be >= 0 and static_batch_real >= 1")
        for name in ("static_outer_loop", "static_inner_loop"):
            value = getattr(self, name)
            if value is not None and value < (1 if name == "static_outer_loop" else 0):
                self._fail(f"{name} should be None or >= {1 if name == 'static_outer_loop' else 0}; got {value}")

    def _dynamics(self) -> int:
        return self.dynamics_per_video if self.use_dynamic else 0

    # -- the memory before stage 2 -------------------------------------------------------------------
    def init_static(self, task: vddbench.DistillTask) -> torch.Tensor:
        """Real frames the static stage starts from (:func:`vddbench_vdsd.memory.init_static`)."""
        return mem.init_static(task, self.statics_per_video)

    def learn_static(self, task: vddbench.DistillTask, static: torch.Tensor,
                     trace: list[float] | None = None) -> torch.Tensor:
        """The static stage, Static-DC with this distiller's ``static_*`` hyper-parameters."""
        return mem.learn_static(task, static, self.static_iterations, self.static_lr_img, self.static_momentum,
                                self.static_lr_net, self.static_outer_loop, self.static_inner_loop,
                                self.static_batch_real, trace)

    def init_dynamic(self, task: vddbench.DistillTask):
        """``(dynamic, weight, bias)`` (:func:`vddbench_vdsd.memory.init_dynamic`)."""
        return mem.init_dynamic(task, self._dynamics(), self.hallucinator, self.hal_init)

    def initial_memory(self, task: vddbench.DistillTask) -> mem.Memory:
        """Static stage done, dynamic memory and hallucinator fresh, on ``task.device``. Stage 2 then
        learns the dynamic memory and the hallucinator (with the objective's loss); the static
        memory stays frozen unless an objective's ``train_static`` ablation asks otherwise."""
        return mem.init_memory(task, self.static_memory(task), self._dynamics(), self.hallucinator, self.hal_init)

    def static_memory(self, task: vddbench.DistillTask) -> torch.Tensor:
        """The static stage's result ``(classes, IPC*S, 3, H, W)``. With one image per slot (S = 1)
        it is exactly what ``static-dc`` learns with these hyper-parameters (the same starting
        frames, the same DC run), so it is taken from :func:`vddbench_static_dc.static_dc_images`:
        built once per dataset, seed and IPC for ``static-dc`` and every VDSD distiller, as the
        authors load a Static-DC run (``--path_static``)."""
        if self.statics_per_video != 1:
            return self.learn_static(task, self.init_static(task))
        return static_dc_images(task, self.static_iterations, self.static_lr_img, self.static_momentum,
                                self.static_lr_net, self.static_outer_loop, self.static_inner_loop,
                                self.static_batch_real)

    # -- expand ----------------------------------------------------------------------------------------
    def sgd_optimizers(self, memory: mem.Memory) -> list[torch.optim.Optimizer]:
        """VDSD's stage-2 SGD (momentum ``self.momentum``): the hallucinator at ``lr_hal``, the dynamic
        memory at ``lr_dynamic`` and, under ``train_static``, the static memory at ``lr_static``."""
        groups = [([memory.weight, memory.bias], self.lr_hal)]
        if memory.dynamic is not None:
            groups.append(([memory.dynamic], self.lr_dynamic))
        if self.train_static:
            groups.append(([memory.static], self.lr_static))
        for params, _ in groups:
            for p in params:
                p.requires_grad_(True)
        return [torch.optim.SGD(params, lr=lr, momentum=self.momentum) for params, lr in groups]

    def expand(self, artifact: vddbench.Artifact) -> vddbench.DistilledVideos:
        """Every (static, dynamic) combination of every slot (:func:`vddbench_vdsd.memory.expand`)."""
        return mem.expand(artifact)
