"""Train one student on distilled videos with the protocol's recipe; score it on the test split.

The reported accuracy is the final epoch's: there is no checkpoint selection, so the test split is
never used to choose anything.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F

from .data import VideoSplit
from .data.stream import in_order, stream
from .device import forked_rng
from .distiller import DistilledVideos
from .protocol import EvalRecipe

Augment = Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against hard (N,) or soft (N, C) targets."""
    if targets.dim() == 1:
        return F.cross_entropy(logits, targets)
    return -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()


def schedule(recipe: EvalRecipe, n: int) -> tuple[int, int]:
    """``(total SGD steps, step after which lr decays)`` for a set of ``n`` videos."""
    if recipe.steps is not None:
        total = recipe.steps
        return total, max(1, int(total * recipe.lr_decay_at))
    per_epoch = -(-n // recipe.batch_size)
    return recipe.epochs * per_epoch, max(1, int(recipe.epochs * recipe.lr_decay_at)) * per_epoch


def lr_factor(recipe: EvalRecipe, n: int, decay_step: int) -> Callable[[int], float]:
    """The lr multiplier after ``step`` steps on a set of ``n``: ``lr_decay`` from ``decay_step``
    on, and sqrt(n / batch_size) for a set smaller than a batch under ``sqrt_lr_scaling``."""
    scale = math.sqrt(n / recipe.batch_size) if recipe.sqrt_lr_scaling and n < recipe.batch_size else 1.0

    def factor(step: int) -> float:
        return scale * (recipe.lr_decay if step >= decay_step else 1.0)

    return factor


def make_optimizer(student: torch.nn.Module, recipe: EvalRecipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(student.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(student.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    raise ValueError(f"recipe optimizer should be 'sgd' or 'adam'; got {recipe.optimizer!r}")


def _orders(n: int, recipe: EvalRecipe, order_rng: torch.Generator) -> Iterator[torch.Tensor]:
    """The index tensor of every SGD step: seeded permutations of the set (one per pass), walked in
    batches; a set no larger than a batch trains full-batch."""
    total, _ = schedule(recipe, n)
    step = 0
    while step < total:
        order = torch.randperm(n, generator=order_rng) if n > recipe.batch_size else torch.arange(n)
        for start in range(0, n, recipe.batch_size):
            if step == total:
                return
            yield order[start:start + recipe.batch_size]
            step += 1


def _fit(student: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], n: int,
         recipe: EvalRecipe, seed: int, augment: Augment | None,
         progress: Callable[[int], None] | None) -> torch.nn.Module:
    """The training loop both paths share: SGD with momentum (or Adam), one lr step, optional gradient
    clipping, seeded dropout."""
    device = next(student.parameters()).device
    optimizer = make_optimizer(student, recipe)
    total, decay_step = schedule(recipe, n)
    per_pass = -(-n // recipe.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(recipe, n, decay_step))
    augment_rng = torch.Generator().manual_seed(seed + 1)
    student.train()
    step = 0
    with forked_rng(device):
        torch.manual_seed(seed)  # dropout (on the CPU and every GPU)
        for x, y in batches:
            if augment is not None:
                x, y = augment(x, y, augment_rng)
            loss = soft_cross_entropy(student(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(student.parameters(), recipe.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            if progress and (step % per_pass == 0 or step == total):
                progress(step)
    return student


def train_student(student: torch.nn.Module, data: DistilledVideos, recipe: EvalRecipe, seed: int,
                  augment: Augment | None = None, progress: Callable[[int], None] | None = None) -> torch.nn.Module:
    """Train ``student`` in place: SGD with momentum, one lr step, seeded batch order and dropout.

    Batches walk seeded permutations of the set (one per pass); a set no larger than a batch trains
    full-batch. ``progress`` is called with the number of steps done after each pass. The set is
    moved to the student's device once (a distilled set is small; see :func:`train_on_split`).
    """
    device = next(student.parameters()).device
    videos, labels = data.videos.to(device), data.labels.to(device)
    n = len(videos)

    def batches():
        for idx in _orders(n, recipe, torch.Generator().manual_seed(seed)):
            idx = idx.to(device)
            yield videos[idx], labels[idx]

    return _fit(student, batches(), n, recipe, seed, augment, progress)


def train_on_split(student: torch.nn.Module, split: VideoSplit, recipe: EvalRecipe, seed: int,
                   augment: Augment | None = None, progress: Callable[[int], None] | None = None,
                   workers: int | None = None) -> torch.nn.Module:
    """:func:`train_student` on a whole split, streamed: the same batches, schedule and seeds, each
    batch read from the split's uint8 clips through a DataLoader and normalised on the device, so
    memory stays that of a few batches however large the split (teachers, ``full``). Gives the same
    weights as ``train_student`` on the split's clips materialised as float."""
    device = next(student.parameters()).device
    n = len(split)
    orders = _orders(n, recipe, torch.Generator().manual_seed(seed))
    return _fit(student, stream(split, orders, device, workers), n, recipe, seed, augment, progress)


def train(student: torch.nn.Module, data: DistilledVideos | VideoSplit, recipe: EvalRecipe, seed: int,
          augment: Augment | None = None, progress: Callable[[int], None] | None = None) -> torch.nn.Module:
    """:func:`train_student` on a distilled set, :func:`train_on_split` on a split."""
    if isinstance(data, VideoSplit):
        return train_on_split(student, data, recipe, seed, augment, progress)
    return train_student(student, data, recipe, seed, augment, progress)


@torch.no_grad()
def score(student: torch.nn.Module, test: VideoSplit, batch_size: int = 128,
          workers: int | None = None) -> dict[str, float]:
    """Top-1 and top-5 accuracy (in %) on every clip of the test split, in order (streamed)."""
    device = next(student.parameters()).device
    student.eval()
    top1 = top5 = 0
    for x, y in stream(test, in_order(len(test), batch_size), device, workers):
        logits = student(x).cpu()
        y = y.cpu()
        k = min(5, logits.shape[1])
        best = logits.topk(k, dim=1).indices
        top1 += (best[:, 0] == y).sum().item()
        top5 += (best == y[:, None]).any(1).sum().item()
    return {"top1": 100.0 * top1 / len(test), "top5": 100.0 * top5 / len(test)}
