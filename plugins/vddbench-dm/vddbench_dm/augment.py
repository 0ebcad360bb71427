"""Differentiable Siamese augmentation (DSA, Zhao & Bilen 2021) for video batches.

DM draws one transform per class and iteration and applies it to the real and the synthetic batch
alike ("Siamese"), so matching still compares like with like; the transform is differentiable so
gradients reach the synthetic pixels. As in DSA's single mode, each call applies one of the
strategies below, chosen at random. For video, every frame of every clip gets the same transform.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

STRATEGIES = ("color", "crop", "cutout", "flip", "scale", "rotate")  # DM's 'color_crop_cutout_flip_scale_rotate'


def _rand(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator))


def draw(generator: torch.Generator) -> dict:
    """One transform's parameters (DSA's ParamDiffAug ranges)."""
    kind = STRATEGIES[int(torch.randint(len(STRATEGIES), (), generator=generator))]
    p: dict = {"kind": kind}
    if kind == "color":
        p.update(brightness=_rand(generator) - 0.5, saturation=_rand(generator) * 2.0,
                 contrast=_rand(generator) + 0.5)
    elif kind == "crop":  # pad-and-crop translation of up to 1/8 of the side
        p.update(dx=_rand(generator) * 0.25 - 0.125, dy=_rand(generator) * 0.25 - 0.125)
    elif kind == "cutout":  # a zeroed square of half the side
        p.update(cx=_rand(generator), cy=_rand(generator))
    elif kind == "flip":
        p.update(flip=_rand(generator) < 0.5)
    elif kind == "scale":
        lo, hi = 1 / 1.2, 1.2
        p.update(sx=lo + _rand(generator) * (hi - lo), sy=lo + _rand(generator) * (hi - lo))
    else:  # rotate by up to 15 degrees
        p.update(angle=(_rand(generator) - 0.5) * 2 * 15 / 180 * math.pi)
    return p


def _affine(frames: torch.Tensor, theta: list[list[float]]) -> torch.Tensor:
    t = torch.tensor(theta, dtype=frames.dtype, device=frames.device).expand(len(frames), 2, 3)
    grid = F.affine_grid(t, list(frames.shape), align_corners=False)
    return F.grid_sample(frames, grid, align_corners=False)


def apply(videos: torch.Tensor, p: dict) -> torch.Tensor:
    """Apply transform ``p`` to ``(N, 3, T, H, W)`` videos (differentiably)."""
    n, c, t, h, w = videos.shape
    kind = p["kind"]
    if kind == "color":
        x = videos + p["brightness"]
        mean = x.mean(1, keepdim=True)
        x = (x - mean) * p["saturation"] + mean
        mean = x.mean((1, 3, 4), keepdim=True)
        return (x - mean) * p["contrast"] + mean
    if kind == "flip":
        return videos.flip(4) if p["flip"] else videos
    if kind == "cutout":
        ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
        y0 = min(max(int(p["cy"] * h) - ch // 2, 0), h - 1)
        x0 = min(max(int(p["cx"] * w) - cw // 2, 0), w - 1)
        mask = torch.ones(h, w, dtype=videos.dtype, device=videos.device)
        mask[y0:y0 + ch, x0:x0 + cw] = 0
        return videos * mask
    frames = videos.transpose(1, 2).reshape(n * t, c, h, w)
    if kind == "crop":
        theta = [[1.0, 0.0, 2 * p["dx"]], [0.0, 1.0, 2 * p["dy"]]]
    elif kind == "scale":
        theta = [[p["sx"], 0.0, 0.0], [0.0, p["sy"], 0.0]]
    else:
        a = p["angle"]
        theta = [[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]
    return _affine(frames, theta).view(n, t, c, h, w).transpose(1, 2)
