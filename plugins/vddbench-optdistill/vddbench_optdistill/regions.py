"""Regions on the first frame: motion proposals (the default stand-in for YOLOv5) or a user detector.

OptDistill (002 §5.1, step 1) runs YOLOv5 on the first frame and keeps the boxes of the required
label. No detector weights can be had offline, so by default regions come from motion: the object
at frame 0 is where frame 0 differs from every frame of the clip's second half (where it was, once
it has moved on; not where it arrives later) and from more than half of all frames (not where it
sits during the second half). When that is empty, the first condition alone; when that is empty
too (an object that stays put and changes size, or barely moves), where any later frame differs
from frame 0. Each
connected region (8-connectivity, 1-pixel gaps closed) above the noise is one proposal; proposals
are ordered by area, largest first, and fragments under a quarter of the largest are dropped.
Static clutter never moves, so it is never proposed.
"""

from __future__ import annotations

import numpy as np

Box = tuple[float, float, float, float]  # x, y, width, height in pixels of the frame


def _components(mask: np.ndarray, min_area: int, min_share: float = 0.25) -> list[tuple[Box, int]]:
    """Boxes of the connected regions of ``mask`` (after closing 1-pixel gaps), largest first;
    fragments smaller than ``min_share`` of the largest region are dropped."""
    import cv2

    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    out = []
    for i in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= min_area:
            out.append(((float(x), float(y), float(w), float(h)), area))
    out.sort(key=lambda item: (-item[1], item[0]))
    return [item for item in out if item[1] >= min_share * out[0][1]]


def _threshold(diff: np.ndarray, floor: float) -> float:
    """Above the noise: median + 5 robust standard deviations, and at least ``floor``."""
    median = float(np.median(diff))
    mad = float(np.median(np.abs(diff - median))) * 1.4826
    return max(floor, median + 5.0 * mad)


def motion_proposals(frames: np.ndarray, min_area: int = 6, floor: float = 30.0, min_side: float = 4.0) -> list[Box]:
    """Boxes around what moves, on the first frame of ``frames`` (uint8 ``(T, H, W, 3)``), each at
    least ``min_side`` pixels wide and high (grown about its centre, kept inside the frame)."""
    f = frames.astype(np.float32)
    if len(f) < 2:
        return []
    diff = np.abs(f[1:] - f[0]).sum(-1)  # (T-1, H, W), summed over colour (0..765)
    away = diff[max(0, len(f) // 2 - 1):].min(0)  # frame 0 differs from every frame of the second half
    thr = _threshold(away, floor)
    # ... and from most frames: not where the object sits during the second half
    odd = (diff > thr).sum(0) > len(f) / 2
    found = _components((away > thr) & odd, min_area)
    if not found:
        found = _components(away > thr, min_area)
    if not found:
        trail = diff.max(0)
        found = _components(trail > _threshold(trail, floor), min_area)
    height, width = frames.shape[1:3]
    return [grow_box(box, min_side, height, width) for box, _ in found]


def pad_box(box: Box, pixels: float, height: int, width: int) -> Box:
    """``box`` grown by ``pixels`` on each side, clipped to the frame."""
    x, y, w, h = box
    x0, y0 = max(0.0, x - pixels), max(0.0, y - pixels)
    x1, y1 = min(float(width), x + w + pixels), min(float(height), y + h + pixels)
    return (x0, y0, x1 - x0, y1 - y0)


def grow_box(box: Box, min_side: float, height: int, width: int) -> Box:
    """``box`` grown about its centre to at least ``min_side`` a side, shifted inside the frame."""
    x, y, w, h = box
    nw, nh = min(float(width), max(w, min_side)), min(float(height), max(h, min_side))
    nx = min(max(0.0, x + w / 2 - nw / 2), width - nw)
    ny = min(max(0.0, y + h / 2 - nh / 2), height - nh)
    return (nx, ny, nw, nh)
