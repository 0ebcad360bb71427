"""Distribution matching, shared by the matching-based distillers (DM, DM+VDSD, IDTD).

DM's objective (Zhao & Bilen, WACV 2023): for every class, the mean embedding of a freshly
initialised, frozen network must match between real clips and synthetic ones. The embedding is the
flattened feature map by default, as in the reference DM / VDSD code (``out.view(out.size(0), -1)``);
``flat=False`` uses the globally pooled one (``Student.embed``'s default).
"""

from __future__ import annotations

import torch


def frozen_student(student: torch.nn.Module) -> torch.nn.Module:
    """``student`` in train mode with frozen weights: DM's embedder (re-drawn each iteration with
    ``DistillTask.reset_student``)."""
    student.train()
    for p in student.parameters():
        p.requires_grad_(False)
    return student


def has_batch_statistics(student: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in student.modules())


def embed_batches(student: torch.nn.Module, batches: list[torch.Tensor], flat: bool = True) -> list[torch.Tensor]:
    """The embedding of every clip of each batch (e.g. one batch per class).

    Without batch statistics every batch goes through one forward pass (the same numbers, cheaper);
    with them each batch is embedded on its own, as in the reference code, because a batch-norm
    student normalises with its batch's statistics.
    """
    if has_batch_statistics(student):
        return [student.embed(b, flat=flat) for b in batches]
    return list(student.embed(torch.cat(batches), flat=flat).split([len(b) for b in batches]))


def class_mean_embeddings(student: torch.nn.Module, batches: list[torch.Tensor],
                          flat: bool = True) -> list[torch.Tensor]:
    """The mean embedding of each batch (one batch per class)."""
    return [f.mean(0) for f in embed_batches(student, batches, flat)]


def mean_embedding_loss(student: torch.nn.Module, real: list[torch.Tensor], syn: list[torch.Tensor],
                        flat: bool = True) -> torch.Tensor:
    """DM's loss: ``sum_c || mean f(real_c) - mean f(syn_c) ||^2``; no gradient through ``real``."""
    with torch.no_grad():
        targets = class_mean_embeddings(student, real, flat)
    means = class_mean_embeddings(student, syn, flat)
    return sum((t - m).pow(2).sum() for t, m in zip(targets, means))
