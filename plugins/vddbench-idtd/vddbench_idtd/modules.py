"""IDTD's building blocks: Feature Pools, Feature Selectors, Temporal Fusors, the stochastic
temporal augmentation and the two losses (DM matching and diversity).

Shapes: a video is ``(3, T, H, W)``; ``n`` instances of one class are generated together.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InstanceGenerators(nn.Module):
    """The learnable part of ``n`` synthetic instances of one class (paper Sec. 3.2-3.3).

    * Feature Pool ``p``: ``(n, P, 3, H, W)``, ``P`` frame-sized feature maps per instance.
    * K Feature Selectors: linear layers over the pool axis, ``d_k = W_k p + b_k`` with
      ``W_k: (T, P)``, so segment ``k`` is a ``T``-frame video ``(3, T, H, W)``.
    * Temporal Fusor: a convolution along time over the K segments concatenated in time
      (``K*T`` frames), kernel and stride ``K``, mixing the 3 colour channels; it outputs ``T``
      frames, so each segment is densified into ``T/K`` frames of the video.
    """

    def __init__(self, n: int, k: int, pool_frames: int, frames: int, height: int, width: int):
        super().__init__()
        self.k, self.frames = k, frames
        self.pool = nn.Parameter(torch.zeros(n, pool_frames, 3, height, width))
        self.selector_weight = nn.Parameter(torch.zeros(n, k, frames, pool_frames))
        self.selector_bias = nn.Parameter(torch.zeros(n, k, frames))
        self.fusor_weight = nn.Parameter(torch.zeros(n, 3, 3, k))  # (out, in, taps)
        self.fusor_bias = nn.Parameter(torch.zeros(n, 3))

    @torch.no_grad()
    def init_noise(self, generator: torch.Generator) -> None:
        """The paper's initialisation: a random pool, randomly initialised linear selectors and
        convolution (PyTorch's default uniform bounds for ``nn.Linear`` / ``nn.Conv``)."""
        pool_frames = self.pool.shape[1]
        self.pool.copy_(torch.randn(self.pool.shape, generator=generator))
        for param, fan_in in ((self.selector_weight, pool_frames), (self.selector_bias, pool_frames),
                              (self.fusor_weight, 3 * self.k), (self.fusor_bias, 3 * self.k)):
            bound = fan_in ** -0.5
            param.copy_((torch.rand(param.shape, generator=generator) * 2 - 1) * bound)

    @torch.no_grad()
    def init_real(self, clips: torch.Tensor) -> None:
        """Start from real clips ``(n, K, 3, T, H, W)``: the pool holds the K clips' frames;
        selector k shows chunk k of clip k (frames ``[kT/K, (k+1)T/K)``) stretched over T frames
        (linear interpolation between pool frames, a linear map like any other selector); the
        fusor samples the first frame of each window. The initial video is then chunk k of clip k
        for k = 1..K stitched at the clips' own speed (the paper's ablation A, without its
        K-fold speed-up)."""
        n, k, c, t, h, w = clips.shape
        if self.pool.shape[1] != k * t:
            raise ValueError("real initialisation needs pool_frames == K * frames")
        self.pool.copy_(clips.permute(0, 1, 3, 2, 4, 5).reshape(n, k * t, c, h, w))
        self.selector_weight.zero_()
        for j in range(k):
            for f in range(t):
                pos = (f + j * t) / k  # time in clip j shown by segment frame f
                lo = min(int(pos), t - 1)
                hi, frac = min(lo + 1, t - 1), pos - lo
                self.selector_weight[:, j, f, j * t + lo] += 1 - frac
                self.selector_weight[:, j, f, j * t + hi] += frac
        self.selector_bias.zero_()
        self.fusor_weight.zero_()
        self.fusor_weight[:, :, :, 0] = torch.eye(3)
        self.fusor_bias.zero_()

    def param_groups(self, lr: float) -> list[dict]:
        """Adam groups: the pool at ``lr``; each linear map at ``lr / fan_in``, so that one step
        changes a selector's or fusor's output as much as one step changes a pool pixel."""
        pool_frames = self.pool.shape[1]
        return [{"params": [self.pool], "lr": lr},
                {"params": [self.selector_weight, self.selector_bias], "lr": lr / pool_frames},
                {"params": [self.fusor_weight, self.fusor_bias], "lr": lr / (3 * self.k)}]

    def segments(self) -> torch.Tensor:
        """The Diverse Segments, ``(n, K, 3, T, H, W)``."""
        d = torch.einsum("nktp,npchw->nkcthw", self.selector_weight, self.pool)
        return d + self.selector_bias[:, :, None, :, None, None]

    def fuse(self, segments: torch.Tensor) -> torch.Tensor:
        """Temporal Fusor: K segments -> one video ``(n, 3, T, H, W)``."""
        n, k, c, t, h, w = segments.shape
        stitched = segments.permute(0, 2, 1, 3, 4, 5).reshape(n, c, t, k, h, w)  # time k*T -> (T, K)
        video = torch.einsum("nocj,nctjhw->nothw", self.fusor_weight, stitched)
        return video + self.fusor_bias[:, :, None, None, None]

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.segments()
        return d, self.fuse(d)


def temporal_augment(videos: torch.Tensor, generator: torch.Generator, min_span: float = 0.5) -> torch.Tensor:
    """Stochastic Temporal Augmentation tau(v, mu): per video take a random interval
    ``mu = [s, e]`` of its time axis (``e - s >= min_span``) and resample it to the full length
    (linear interpolation, differentiable)."""
    n, c, t, h, w = videos.shape
    span = min_span + (1 - min_span) * torch.rand(n, generator=generator)
    start = (1 - span) * torch.rand(n, generator=generator)
    # sample positions in [0, t-1] of the source for every target frame
    grid = start[:, None] + span[:, None] * torch.linspace(0, 1, t)[None]
    pos = (grid * (t - 1)).to(videos.device)
    lo = pos.floor().long().clamp(0, t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    frac = (pos - lo.float()).view(n, 1, t, 1, 1)

    def take(index):
        return torch.gather(videos, 2, index.view(n, 1, t, 1, 1).expand(n, c, t, h, w))

    return take(lo) * (1 - frac) + take(hi) * frac


def matching_loss(real_embedding: torch.Tensor, synthetic_embedding: torch.Tensor) -> torch.Tensor:
    """DM's distribution matching: squared distance between the mean embeddings."""
    return ((real_embedding.mean(0) - synthetic_embedding.mean(0)) ** 2).sum()


def diversity(segment_embeddings: torch.Tensor) -> torch.Tensor:
    """Eq. (1): summed squared L2 distance between every pair of one instance's K segment
    embeddings ``(n, K, D)``, averaged over instances; IDTD minimises ``-alpha1 * diversity``.
    The embeddings are L2-normalised first, so the term is bounded (``<= 4`` per pair): maximising
    the raw distance diverges (see the README)."""
    unit = F.normalize(segment_embeddings, dim=-1)
    gaps = ((unit[:, :, None] - unit[:, None, :]) ** 2).sum(-1)  # (n, K, K)
    return gaps.triu(diagonal=1).sum((1, 2)).mean()


def segment_diversity(segment_embeddings: torch.Tensor) -> torch.Tensor:
    """Mean pairwise distance between the unit-normalised embeddings of each instance's
    segments ``(n, K, D)``: how diverse the Diverse Segments are (a diagnostic; tests use it)."""
    n, k = segment_embeddings.shape[:2]
    return diversity(segment_embeddings) / max(1, k * (k - 1) // 2)
