"""MTT's trajectory-matching loss (Cazenavette et al., CVPR 2022), as in VDSD's distill_baseline.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch.func import functional_call

if TYPE_CHECKING:
    import vddbench


def _randint(high: int, generator: torch.Generator) -> int:
    return int(torch.randint(high, (1,), generator=generator))


def trajectory_loss(student: torch.nn.Module, trajectories: "vddbench.ExpertTrajectories",
                    syn_videos: torch.Tensor, syn_labels: torch.Tensor, syn_lr: torch.Tensor,
                    syn_steps: int, expert_epochs: int, max_start_epoch: int,
                    generator: torch.Generator, batch_syn: int | None = None) -> torch.Tensor:
    """MTT's normalised parameter-matching loss for one randomly drawn expert and start epoch;
    differentiable w.r.t. syn_videos (and whatever produced them) and syn_lr.

    Draws an expert ``e`` and a start epoch ``t < max_start_epoch`` from ``generator``, starts the
    student at the expert's parameters θ*_t, takes ``syn_steps`` SGD steps of step size ``syn_lr``
    on cross-entropy over mini-batches of ``batch_syn`` synthetic clips (None: all of them), unrolled
    with ``create_graph``, and returns ``‖θ̂ − θ*_{t+M}‖² / ‖θ*_t − θ*_{t+M}‖²`` (M = expert_epochs).
    ``student`` only supplies the architecture (its own weights are never used); call it in the
    mode the method wants (MTT: train mode). The loss lives on ``syn_videos``' device.
    """
    params = trajectories.params
    experts, snapshots = params.shape[0], params.shape[1]
    if syn_steps < 1 or expert_epochs < 1 or max_start_epoch < 1:
        raise ValueError(f"syn_steps, expert_epochs and max_start_epoch must be >= 1; got "
                         f"{syn_steps}, {expert_epochs}, {max_start_epoch}")
    if max_start_epoch - 1 + expert_epochs > snapshots - 1:  # the last start epoch is max_start_epoch - 1
        raise ValueError(f"max_start_epoch {max_start_epoch} and expert_epochs {expert_epochs} need "
                         f"{max_start_epoch - 1 + expert_epochs} expert epochs; the trajectories have {snapshots - 1}")
    expert = _randint(experts, generator)
    start_epoch = _randint(max_start_epoch, generator)
    device = syn_videos.device
    start = params[expert, start_epoch].to(device)
    target = params[expert, start_epoch + expert_epochs].to(device)

    n = len(syn_videos)
    batch = n if batch_syn is None else max(1, min(int(batch_syn), n))
    theta = start.clone().requires_grad_(True)
    chunks: list[torch.Tensor] = []
    for _ in range(syn_steps):
        if not chunks:
            # The reference shuffles even when one chunk holds the whole set; the mean loss over the
            # whole set does not depend on the order, so that draw is skipped (fewer random draws).
            order = torch.randperm(n, generator=generator) if batch < n else torch.arange(n)
            chunks = list(order.to(device).split(batch))
        idx = chunks.pop()
        logits = functional_call(student, trajectories.unflatten(theta), (syn_videos[idx],))
        ce = F.cross_entropy(logits, syn_labels[idx])
        grad = torch.autograd.grad(ce, theta, create_graph=True)[0]
        theta = theta - syn_lr * grad
    # The reference divides both sums by the parameter count first; the ratio is the same.
    return (theta - target).pow(2).sum() / (start - target).pow(2).sum()
