"""FRePo's pool of online models (VDSD's ``PoolElement``s in ``FRePo/script/distill_s2d.py``)."""

from __future__ import annotations

import torch

import vddbench


class ModelPool:
    """FRePo's pool of online models on the protocol student.

    ``size`` students from ``task.new_student()``. Each iteration :meth:`sample` draws one uniformly
    (its features define the kernel) and :meth:`train_step` trains that one for one step on the
    synthetic set with its current learned labels: Adam (lr, betas (0.9, 0.999)) on the MSE between
    its logits and the labels, a batch of at most ``batch_size`` synthetic clips, and VDSD's
    schedule (``LinearLR(start_factor=0.01, total_iters=warmup_steps)`` chained with
    ``CosineAnnealingLR(T_max=max_online_steps, eta_min=0.01·lr)``). A model that has taken
    ``max_online_steps`` steps is re-initialised in place (``task.reset_student``) with a fresh
    optimiser. Model ``i`` starts with ``i·(max_online_steps // size)`` steps on its counter, as in
    the reference, so that the pool's resets are staggered.

    Randomness (which model, which batch) comes from ``generator`` (the torch global RNG if None);
    the students' weights and dropout from the task and the global RNG.
    """

    def __init__(self, task: vddbench.DistillTask, size: int = 10, max_online_steps: int = 100,
                 lr: float = 1e-4, generator: torch.Generator | None = None, batch_size: int = 500,
                 warmup_steps: int = 500):
        if size < 1 or max_online_steps < 1 or batch_size < 1:
            raise vddbench.DistillerError(
                f"frepo model pool: size, max_online_steps and batch_size should be >= 1; "
                f"got {size}, {max_online_steps}, {batch_size}")
        self.task = task
        self.size, self.max_online_steps, self.lr = size, max_online_steps, lr
        self.generator, self.batch_size, self.warmup_steps = generator, batch_size, warmup_steps
        self.models = [task.new_student() for _ in range(size)]
        self.steps = [(max_online_steps // size) * i for i in range(size)]
        self.resets = [0] * size  # how many times each model was re-initialised (for tests and logs)
        self.optimizers: list[torch.optim.Optimizer] = []
        self.schedulers: list = []
        for model in self.models:
            opt, sched = self._optimizer(model)
            self.optimizers.append(opt)
            self.schedulers.append(sched)
        self.current: int | None = None

    def _optimizer(self, model: torch.nn.Module):
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, betas=(0.9, 0.999))
        sched = torch.optim.lr_scheduler.ChainedScheduler([
            torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=self.warmup_steps),
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.max_online_steps, eta_min=self.lr * 0.01)])
        return opt, sched

    def _randint(self, high: int, size: tuple[int, ...] = ()) -> torch.Tensor:
        return torch.randint(high, size, generator=self.generator)

    def sample(self) -> torch.nn.Module:
        """The model whose features this iteration uses (uniform over the pool), in eval mode with
        its weights frozen (the reference's ``feature(..., weight_grad=False)``)."""
        self.current = int(self._randint(self.size))
        model = self.models[self.current]
        model.eval()
        model.requires_grad_(False)
        return model

    def train_step(self, syn_videos: torch.Tensor, syn_targets: torch.Tensor) -> None:
        """One online step of the sampled model on the synthetic set (detached); resets it after
        ``max_online_steps`` steps."""
        if self.current is None:
            raise vddbench.DistillerError("frepo model pool: train_step called before sample")
        i = self.current
        model, opt, sched = self.models[i], self.optimizers[i], self.schedulers[i]
        x, y = syn_videos.detach(), syn_targets.detach()
        if len(y) >= self.batch_size:  # the reference: all of a set smaller than a batch, else a random batch
            pick = torch.randperm(len(y), generator=self.generator)[: self.batch_size].to(y.device)
            x, y = x[pick], y[pick]
        model.train()
        model.requires_grad_(True)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        self.steps[i] += 1
        if self.steps[i] >= self.max_online_steps:
            self.task.reset_student(model)
            self.optimizers[i], self.schedulers[i] = self._optimizer(model)
            self.steps[i] = 0
            self.resets[i] += 1
