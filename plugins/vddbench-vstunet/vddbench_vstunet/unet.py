"""The spatio-temporal selection U-Net and its losses (paper 003, section 3.1, Eq. 1-3).

The network sees all candidate clips of one class at once, as latent feature maps
``(N_c, C, T, h, w)``. Each layer is a 3D convolution over time and space of one clip's features
concatenated with the class mean of those features, so every clip's score depends on the whole
class (the "4D" input: clips x time x height x width). The clips of a class have no order, so the
inter-clip path is a permutation-equivariant mean (as in DeepSets) rather than a convolution along
an arbitrary clip axis. Encoder (two levels, time and space halved between them), decoder with a
skip connection, global average pooling to the penultimate embedding ``f``, then two heads: a
selection score per clip (softmax over the class: ``p_c``) and class logits (for the CE term).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SetConv3d(nn.Module):
    """Conv3d (3x3x3) + ReLU over ``[x, mean of x over the clips of the class]``."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv3d(2 * c_in, c_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = x.mean(0, keepdim=True).expand_as(x)
        return F.relu(self.conv(torch.cat([x, context], 1)))


class SelectionUNet(nn.Module):
    """latents ``(N, C, T, h, w)`` -> penultimate embeddings ``(N, width)``, selection scores
    ``(N,)`` and class logits ``(N, num_classes)``."""

    def __init__(self, in_channels: int, width: int, num_classes: int):
        super().__init__()
        self.enc1 = SetConv3d(in_channels, width)
        self.enc2 = SetConv3d(width, 2 * width)
        self.bottleneck = SetConv3d(2 * width, 2 * width)
        self.dec1 = SetConv3d(3 * width, width)
        self.score = nn.Linear(2 * width, 1)
        self.classify = nn.Linear(width, num_classes)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e1 = self.enc1(z)
        e2 = self.bottleneck(self.enc2(F.max_pool3d(e1, 2, ceil_mode=True)))
        up = F.interpolate(e2, size=e1.shape[2:], mode="nearest")
        d1 = self.dec1(torch.cat([up, e1], 1))
        f = d1.mean(dim=(2, 3, 4))
        scores = self.score(torch.cat([f, f.mean(0, keepdim=True).expand_as(f)], 1)).squeeze(1)
        return f, scores, self.classify(f)


def top_k_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    hard = torch.zeros_like(scores)
    hard[scores.topk(k).indices] = 1.0
    return hard


def selection_losses(scores: torch.Tensor, class_logits: torch.Tensor, label: int, cosine: torch.Tensor,
                     distance: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """The three terms of Eq. 3 for one class, on the top-``k`` clips by score.

    Straight-through estimator: the forward values are the paper's losses on the hard top-k set
    ``S_c``; the backward pass differentiates the same losses with the selection relaxed to
    inclusion weights ``q = k * softmax(scores)`` (so the gradient reaches the scores through the
    non-differentiable top-k). ``cosine`` and ``distance`` are the pairwise cosine similarity and
    mean squared distance of the clips' (fixed) latent features.

    * ``ce``: mean cross-entropy of the class logits of the selected clips against the class.
    * ``div`` (Eq. 1): mean cosine similarity between distinct selected clips (0 when k = 1).
    * ``rep`` (Eq. 2): ``1 - exp(-mean_t min_{i in S} d(x_t, x_i))``. Eq. 2 as printed is the
      representativeness *reward* of DR-DSN (to be maximised); adding it to a minimised loss would
      push the selection away from the other clips, against what the text says it does
      ("minimizing the distance between the selected videos and all other videos"), so the loss
      is one minus the reward.
    """
    hard = top_k_mask(scores, k)
    q = k * torch.softmax(scores, 0)
    m = hard + q - q.detach()
    target = torch.full((len(scores),), label, dtype=torch.long, device=scores.device)
    ce = (m * F.cross_entropy(class_logits, target, reduction="none")).sum() / k
    if k > 1:
        off = 1.0 - torch.eye(len(scores), device=scores.device)
        div = (m[:, None] * m[None, :] * cosine * off).sum() / (k * (k - 1))
    else:
        div = scores.sum() * 0.0
    hard_min = distance.masked_fill(hard[None, :] == 0, math.inf).min(1).values.mean()
    tau = distance.mean().clamp_min(1e-8)
    weights = q[None, :] * torch.exp(-(distance - distance.min(1, keepdim=True).values) / tau)
    soft_min = ((weights * distance).sum(1) / weights.sum(1)).mean()
    rep = 1.0 - torch.exp(-(hard_min + soft_min - soft_min.detach()))
    return {"ce": ce, "div": div, "rep": rep}


def pairwise(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarity and mean squared distance between the rows of ``x`` (N, D)."""
    unit = F.normalize(x, dim=1)
    sq = (x * x).sum(1)
    distance = ((sq[:, None] + sq[None, :] - 2 * x @ x.T) / x.shape[1]).clamp_min(0)
    return unit @ unit.T, distance
