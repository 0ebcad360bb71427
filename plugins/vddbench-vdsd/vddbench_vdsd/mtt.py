"""MTT+VDSD (``mtt-vdsd``): stage 2 learns the dynamic memory, the hallucinator and a step size with
MTT's trajectory-matching loss (``distill_s2d_ms.py --method MTT``, ``sh/s2d/s2d_MTT_ms*.sh``)."""

from __future__ import annotations

import dataclasses

import torch

import vddbench

from .base import StaticDynamicDistiller, static_stage_defaults

_MIN_SYN_LR = 0.001  # the reference clips the learned step size from below after every update


class MTTVDSD(StaticDynamicDistiller):
    """MTT+VDSD: the VDSD memory, learned so that SGD on its videos follows the expert trajectories.

    iterations: stage-2 iterations; 10,000 in ``s2d_MTT_ms*.sh``.
    lr_dynamic, lr_hal, momentum: SGD on the dynamic memory and the hallucinator; 1e4, 1e-3, 0.95.
    syn_steps: unrolled student steps per iteration; None: the scripts' value for the IPC (10 at
        IPC < 5, ``s2d_MTT_ms.sh``; 5 from IPC 5, ``s2d_MTT_ms_5.sh``).
    batch_syn: synthetic videos per unrolled step; None: the scripts' (all at IPC < 5, 128 from IPC 5).
    expert_epochs, max_start_epoch: 1 and 10 (MTT's).
    experts: how many of the protocol's expert trajectories to sample from (the reference: 30).
    lr_teacher: the initial step size (0.01). train_lr: learn it (SGD ``lr_lr`` 1e-5, momentum
        ``lr_momentum`` 0.9, the s2d script's; MTT's own uses 0.5; clipped at 0.001); None: the
        scripts' choice for the IPC (``--train_lr`` in ``s2d_MTT_ms.sh``, absent from
        ``s2d_MTT_ms_5.sh``: learned at IPC < 5, fixed from IPC 5).
    eval_syn_lr: students train at the learned step size (the reference's evaluation,
        ``args.lr_net = syn_lr``), declared as its own evaluation recipe (§ on the board).
    train_static, lr_static: the stage-2 static-learning ablation (off: ``--no_train_static``).
    """

    name = "mtt-vdsd"
    tags = vddbench.DistillerTags(exact_ipc=False, cached_inputs=("expert-trajectories",), own_eval_recipe=True)
    # Cost-bound on the embedded protocol (an iteration unrolls syn_steps student steps with second-order
    # gradients); lr_dynamic and lr_hal chosen on the validation split. See README.md.
    protocol_defaults = {
        "embedded": {"iterations": 12, "experts": 2, "batch_syn": 10, "statics_per_video": 1,
                     "dynamics_per_video": 1, "hal_init": "identity", "lr_dynamic": 1.0, "lr_hal": 1e-5,
                     **static_stage_defaults("embedded")},
        "smoke": {"iterations": 2, "experts": 1, "syn_steps": 2, "max_start_epoch": 2,
                  **static_stage_defaults("smoke")},
    }

    def __init__(self, iterations: int = 10000, lr_dynamic: float = 1e4, lr_hal: float = 1e-3,
                 momentum: float = 0.95, syn_steps: int | None = None, batch_syn: int | None = None,
                 expert_epochs: int = 1, max_start_epoch: int = 10, experts: int = 30, lr_teacher: float = 0.01,
                 train_lr: bool | None = None, lr_lr: float = 1e-5, lr_momentum: float = 0.9, eval_syn_lr: bool = True,
                 train_static: bool = False, lr_static: float = 100.0, statics_per_video: int = 2,
                 dynamics_per_video: int = 2, hallucinator: str = "concat", hal_init: str = "default",
                 use_dynamic: bool = True, static_iterations: int = 1000, static_lr_img: float = 0.1,
                 static_momentum: float = 0.5, static_lr_net: float = 0.01, static_outer_loop: int | None = None,
                 static_inner_loop: int | None = None, static_batch_real: int = 256):
        self.iterations = iterations
        self.lr_dynamic = lr_dynamic
        self.lr_hal = lr_hal
        self.momentum = momentum
        self.syn_steps = syn_steps
        self.batch_syn = batch_syn
        self.expert_epochs = expert_epochs
        self.max_start_epoch = max_start_epoch
        self.experts = experts
        self.lr_teacher = lr_teacher
        self.train_lr = train_lr
        self.lr_lr = lr_lr
        self.lr_momentum = lr_momentum
        self.eval_syn_lr = eval_syn_lr
        self.train_static = train_static
        self.lr_static = lr_static
        super().__init__(statics_per_video, dynamics_per_video, hallucinator, hal_init, use_dynamic,
                         static_iterations, static_lr_img, static_momentum, static_lr_net, static_outer_loop,
                         static_inner_loop, static_batch_real)
        self.tags = dataclasses.replace(self.tags, own_eval_recipe=bool(eval_syn_lr))

    def script_settings(self, ipc: int) -> tuple[int, int | None, bool]:
        """``(syn_steps, batch_syn, train_lr)`` at ``ipc``: the hyper-parameters where set, else the
        scripts' (``s2d_MTT_ms.sh`` below IPC 5: 10, all, learned; ``s2d_MTT_ms_5.sh`` from IPC 5:
        5, 128, fixed)."""
        steps = self.syn_steps if self.syn_steps is not None else (5 if ipc >= 5 else 10)
        batch = self.batch_syn if self.batch_syn is not None else (128 if ipc >= 5 else None)
        train_lr = self.train_lr if self.train_lr is not None else ipc < 5
        return steps, batch, bool(train_lr)

    def _check_values(self) -> None:
        super()._check_values()
        if self.iterations < 0:
            self._fail(f"iterations should be >= 0; got {self.iterations}")
        for name in ("syn_steps", "expert_epochs", "max_start_epoch", "experts", "batch_syn"):
            value = getattr(self, name)
            if value is not None and value < 1:  # None (syn_steps, batch_syn): the scripts' value for the IPC
                self._fail(f"{name} should be >= 1; got {value}")

    def distill(self, task: vddbench.DistillTask, trace: list[float] | None = None) -> vddbench.Artifact:
        """Static stage, then MTT on the composed videos. If ``trace`` is a list, every stage-2 loss is
        appended to it."""
        from vddbench_mtt import trajectory_loss

        trajectories = task.expert_trajectories(self.experts, self.max_start_epoch + self.expert_epochs)
        memory = self.initial_memory(task)
        device = task.device
        optimizers = self.sgd_optimizers(memory)
        steps, batch, train_lr = self.script_settings(task.ipc)
        syn_lr = torch.tensor(float(self.lr_teacher), device=device).requires_grad_(train_lr)
        if train_lr:
            optimizers.append(torch.optim.SGD([syn_lr], lr=self.lr_lr, momentum=self.lr_momentum))
        student = task.new_student().train()  # the reference's student_net.train()
        for p in student.parameters():
            p.requires_grad_(False)  # only its architecture is used; weights come from the experts
        labels = torch.arange(task.num_classes, device=device).repeat_interleave(task.ipc)
        g = task.generator(offset=4)
        for _ in range(self.iterations):
            videos = memory.compose(g)  # one (static, dynamic) combination per slot for this iteration
            loss = trajectory_loss(student, trajectories, videos, labels, syn_lr, steps, self.expert_epochs,
                                   self.max_start_epoch, g, batch)
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in optimizers:
                opt.step()
            if train_lr:
                with torch.no_grad():
                    syn_lr.clamp_(min=_MIN_SYN_LR)
            if trace is not None:
                trace.append(loss.item())
        return memory.artifact("mtt-vdsd", {"syn_lr": syn_lr.detach().reshape(1).float()})

    def evaluation_recipe(self, artifact: vddbench.Artifact, recipe: vddbench.EvalRecipe) -> vddbench.EvalRecipe:
        """The reference's evaluation (``args.lr_net = syn_lr``, learned or not): students train at the
        stored step size, unscaled (it was chosen for steps on this very set)."""
        if not self.eval_syn_lr:
            return recipe
        return dataclasses.replace(recipe, lr=float(artifact.tensors["syn_lr"].reshape(-1)[0]), sqrt_lr_scaling=False)
