"""Train one student on distilled videos with the protocol's recipe; score it on the test split.

The reported accuracy is the final epoch's: there is no checkpoint selection, so the test split is
never used to choose anything.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .data import VideoSplit
from .distiller import DistilledVideos
from .protocol import EvalRecipe

Augment = Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against hard (N,) or soft (N, C) targets."""
    if targets.dim() == 1:
        return F.cross_entropy(logits, targets)
    return -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()


def train_student(student: torch.nn.Module, data: DistilledVideos, recipe: EvalRecipe, seed: int,
                  augment: Augment | None = None, progress: Callable[[int], None] | None = None) -> torch.nn.Module:
    """Train ``student`` in place: SGD with momentum, one lr step, seeded batch order and dropout."""
    device = next(student.parameters()).device
    videos, labels = data.videos.to(device), data.labels.to(device)
    optimizer = torch.optim.SGD(student.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    decay_epoch = max(1, int(recipe.epochs * recipe.lr_decay_at))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [decay_epoch], gamma=recipe.lr_decay)
    order_rng = torch.Generator().manual_seed(seed)
    augment_rng = torch.Generator().manual_seed(seed + 1)
    n = len(videos)
    student.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout
        for epoch in range(recipe.epochs):
            order = torch.randperm(n, generator=order_rng) if n > recipe.batch_size else torch.arange(n)
            for start in range(0, n, recipe.batch_size):
                idx = order[start:start + recipe.batch_size].to(device)
                x, y = videos[idx], labels[idx]
                if augment is not None:
                    x, y = augment(x, y, augment_rng)
                loss = soft_cross_entropy(student(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            scheduler.step()
            if progress:
                progress(epoch)
    return student


@torch.no_grad()
def score(student: torch.nn.Module, test: VideoSplit, batch_size: int = 128) -> dict[str, float]:
    """Top-1 and top-5 accuracy (in %) on every clip of the test split, in order."""
    device = next(student.parameters()).device
    student.eval()
    labels = test.labels
    top1 = top5 = 0
    for start in range(0, len(test), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(test)))
        logits = student(test.clips(idx).to(device)).cpu()
        y = labels[idx]
        k = min(5, logits.shape[1])
        best = logits.topk(k, dim=1).indices
        top1 += (best[:, 0] == y).sum().item()
        top5 += (best == y[:, None]).any(1).sum().item()
    return {"top1": 100.0 * top1 / len(test), "top5": 100.0 * top5 / len(test)}
