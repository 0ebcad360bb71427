"""Latent features of clips: the paper's pretrained autoencoder, or the teacher's first stage.

003 encodes each 16x3x256x256 clip with a pretrained autoencoder into a 16x4x32x32 latent (spatial
stride 8, 4 channels). No such autoencoder is available offline, so the default stand-in is the
protocol teacher's early feature map: the first backbone output whose spatial stride reaches 4
(any 3D or frame-wise backbone; found with forward hooks, the rest of the network is not run),
average-pooled to spatial stride ``stride`` and projected on its first ``channels`` principal
components (a linear "encoder" fitted on the candidates: the 4 channels of the paper's latent).
A user's autoencoder replaces all of it (its latents are used as they are).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FIRST_STAGE_STRIDE = 4


class _Captured(Exception):
    pass


@torch.no_grad()
def first_stage(teacher: torch.nn.Module, x: torch.Tensor, min_stride: int = FIRST_STAGE_STRIDE) -> torch.Tensor:
    """The first intermediate backbone output of ``teacher`` with spatial stride >= ``min_stride``,
    as ``(N, C, T', h, w)``; the backbone stops there."""
    n, _, t, height, _ = x.shape
    found: dict[str, torch.Tensor] = {}

    def hook(_module, _inputs, out):
        if not isinstance(out, torch.Tensor) or out.dim() not in (4, 5):
            return
        if height // out.shape[-2] >= min_stride:
            if out.dim() == 4:  # a frame-wise backbone: (N*T, C, h, w)
                out = out.reshape(n, t, *out.shape[1:]).transpose(1, 2)
            found["z"] = out.clone()
            raise _Captured

    backbone = getattr(teacher, "backbone", teacher)
    leaves = [m for m in backbone.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        teacher(x)
    except _Captured:
        pass
    finally:
        for h in handles:
            h.remove()
    if "z" not in found:  # no stage reaches the stride: the last spatial map seen would be too coarse
        raise ValueError(f"no backbone stage of {type(teacher).__name__} reaches spatial stride {min_stride}")
    return found["z"]


def pool_to_stride(z: torch.Tensor, height: int, width: int, stride: int) -> torch.Tensor:
    """Average-pool ``(N, C, T, h, w)`` to ``(N, C, T, max(1, H // stride), max(1, W // stride))``."""
    size = (z.shape[2], max(1, height // stride), max(1, width // stride))
    if tuple(z.shape[2:]) == size:
        return z
    return F.adaptive_avg_pool3d(z, size)


def principal_channels(z: torch.Tensor, channels: int) -> torch.Tensor:
    """``(C, channels)``: the top principal directions of the per-position channel vectors of ``z``
    (sign fixed so that each direction's largest entry is positive: deterministic)."""
    v = z.transpose(0, 1).reshape(z.shape[1], -1).double()
    v = v - v.mean(1, keepdim=True)
    _, vectors = torch.linalg.eigh(v @ v.T / max(1, v.shape[1] - 1))
    top = vectors[:, -channels:].flip(1)
    signs = torch.sign(top.gather(0, top.abs().argmax(0, keepdim=True)))
    return (top * signs).float()


def project(z: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    return torch.einsum("nc...,ck->nk...", z, directions)
