"""The Temporal Saliency-Guided Filter (paper Sec. 3.3, Eq. 6-8) and its VideoMix (TSGF_A).

Videos are ``(N, 3, T, H, W)``; saliency and masks are per frame, ``(N, T)``.
"""

from __future__ import annotations

import math

import torch


def frame_differences(videos: torch.Tensor) -> torch.Tensor:
    """Eq. (6): ``d_i = (|f_{i+1} - f_i| + |f_i - f_{i-1}|) / 2``, each ``|.|`` the mean absolute
    difference over channels and pixels. The first and last frames have one neighbour and use
    that difference alone."""
    step = (videos[:, :, 1:] - videos[:, :, :-1]).abs().mean(dim=(1, 3, 4))  # (N, T-1)
    if step.shape[1] == 0:
        return torch.zeros(videos.shape[0], videos.shape[2], device=videos.device)
    before = torch.cat([step[:, :1], step], 1)  # |f_i - f_{i-1}|, first frame borrows |f_1 - f_0|
    after = torch.cat([step, step[:, -1:]], 1)  # |f_{i+1} - f_i|, last frame borrows |f_T - f_{T-1}|
    return (before + after) / 2


def window_weights(window: int) -> torch.Tensor:
    """Eq. (7)'s ``alpha_0 .. alpha_k`` for ``window = k + 1`` taps: the decaying half of a Hann
    window (``alpha_0`` largest), normalised to sum to 1."""
    if window < 1:
        raise ValueError(f"window should be >= 1; got {window}")
    j = torch.arange(window, dtype=torch.float32)
    w = torch.cos(math.pi * j / (2 * window)) ** 2
    return w / w.sum()


def temporal_saliency(videos: torch.Tensor, window: int = 3) -> torch.Tensor:
    """Eq. (6)-(7): smoothed inter-frame differences ``s_i = sum_j alpha_j d_{i-j}`` (causal; at
    the start the weights of the taps that exist are renormalised). Returns ``(N, T)``."""
    d = frame_differences(videos)
    alpha = window_weights(window).to(d.device)
    s = torch.zeros_like(d)
    norm = torch.zeros(d.shape[1], device=d.device)
    for j in range(window):
        if j >= d.shape[1]:
            break
        s[:, j:] += alpha[j] * d[:, : d.shape[1] - j]
        norm[j:] += alpha[j]
    return s / norm


def saliency_mask(saliency: torch.Tensor, epsilon: torch.Tensor | float) -> torch.Tensor:
    """Eq. (8): ``M = max(eps - s, 0) / (max(s) - min(s))`` per video, ``(N, T)``.

    ``epsilon`` is the absolute saliency bound (a float, or one value per video ``(N,)``). Frames
    whose saliency reaches it get 0 (key frames: not optimised). No entry is ever negative, so a
    gradient multiplied by the mask keeps its sign (magnitude only, the paper's Table 9). The
    denominator is floored at ``eps - min(s)``: for a clip whose frames are all about equally
    salient, ``max(s) - min(s)`` is ~0 and Eq. (8) as printed would blow the mask up; with the
    floor ``M <= 1``, and M equals Eq. (8) whenever the clip's range reaches ``eps - min(s)``.
    """
    eps = torch.as_tensor(epsilon, dtype=saliency.dtype, device=saliency.device).reshape(-1, 1)
    lo = saliency.amin(1, keepdim=True)
    spread = torch.maximum(saliency.amax(1, keepdim=True) - lo, eps - lo).clamp(min=1e-12)
    return (eps - saliency).clamp(min=0) / spread


def saliency_bound(saliency: torch.Tensor, epsilon: float) -> torch.Tensor:
    """The absolute bound of each video, ``(N,)``: ``(1 + epsilon) * mean(s)``. A frame is a key
    frame when its saliency exceeds the clip's mean by more than the fraction ``epsilon``; being
    relative, one value suits every pixel scale and dataset (the paper does not give its value)."""
    return (1 + epsilon) * saliency.mean(1)


def tsgf_mask(saliency: torch.Tensor, epsilon: float) -> torch.Tensor:
    """The optimisation mask TSGF_O applies: Eq. (8) at the bound :func:`saliency_bound`."""
    return saliency_mask(saliency, saliency_bound(saliency, epsilon))


def key_frames(saliency: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Boolean ``(N, T)``: frames whose saliency exceeds the bound (VideoMix leaves them alone)."""
    return saliency > saliency_bound(saliency, epsilon)[:, None]


def videomix(videos: torch.Tensor, targets: torch.Tensor, keep: torch.Tensor,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Spatial VideoMix (Yun et al., 2020) on the non-key frames only (TSGF_A).

    Each video gets a box (area ratio ``lam ~ U(0, 1)``, CutMix's Beta(1, 1)) from a partner of a
    random permutation of the batch, at the same position in every frame where ``keep`` is False.
    ``targets`` are soft ``(N, C)``; the mix weight is the fraction of the video's pixels replaced.
    """
    n, _, t, h, w = videos.shape
    partner = torch.randperm(n, generator=generator).to(videos.device)
    lam = torch.rand(1, generator=generator).item()
    cut_h, cut_w = int(h * math.sqrt(lam)), int(w * math.sqrt(lam))
    cy = int(torch.randint(h, (1,), generator=generator))
    cx = int(torch.randint(w, (1,), generator=generator))
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
    mixed = videos.clone()
    frames = (~keep).to(videos.dtype).view(n, 1, t, 1, 1)  # 1 where the frame may be mixed
    box = videos[partner][:, :, :, y0:y1, x0:x1]
    mixed[:, :, :, y0:y1, x0:x1] = frames * box + (1 - frames) * videos[:, :, :, y0:y1, x0:x1]
    ratio = (y1 - y0) * (x1 - x0) / (h * w) * (~keep).float().mean(1, keepdim=True).to(targets.device)
    return mixed, (1 - ratio) * targets + ratio * targets[partner]
