"""Tracking a region with OpenCV's CSRT tracker and cropping around it (002 §5.1, step 2).

Every frame, the tracker returns a box ``w x h``; the crop is the smallest window of the output's
aspect ratio that covers it (``w x wH/W`` or ``hW/H x h``), centred on the box, linearly scaled to
the tile size ``W/N x H/N``. Parts of the window outside the frame repeat the border pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .regions import Box


def csrt_tracker(params: dict[str, Any] | None = None):
    """A fresh CSRT tracker (opencv-contrib), with ``params`` overriding OpenCV's defaults."""
    import cv2

    factory = getattr(cv2, "TrackerCSRT", None)
    if factory is None or not hasattr(factory, "create"):
        legacy = getattr(cv2, "TrackerCSRT_create", None)
        if legacy is None:
            raise RuntimeError(
                "OpenCV's CSRT tracker is missing: it is in opencv-contrib. Install it with "
                "'pip install --force-reinstall opencv-contrib-python' (a plain opencv-python installed "
                "after it replaces the cv2 module without the contrib trackers)")
        if params:
            raise RuntimeError("this OpenCV has only the legacy CSRT factory, which takes no parameters")
        return legacy()
    p = factory.Params()
    for key, value in (params or {}).items():
        if not hasattr(p, key):
            raise ValueError(f"CSRT has no parameter '{key}'")
        setattr(p, key, type(getattr(p, key))(value))
    return factory.create(p)


def track(frames_bgr: np.ndarray, box: Box, params: dict[str, Any] | None = None) -> tuple[list[Box], int]:
    """The box on every frame (frame 0: ``box``) and how many updates the tracker lost the target.
    When CSRT loses it, the last box is kept (the paper does not say what it does); a region CSRT
    cannot initialise on stays where it is, every update counted as lost."""
    import cv2

    tracker = csrt_tracker(params)
    x, y, w, h = box
    boxes, lost = [box], 0
    try:
        tracker.init(frames_bgr[0], (int(round(x)), int(round(y)), max(1, int(round(w))), max(1, int(round(h)))))
    except cv2.error:  # CSRT cannot model this region (e.g. too thin): the crop stays where it starts
        return boxes * len(frames_bgr), len(frames_bgr) - 1
    for frame in frames_bgr[1:]:
        ok, found = tracker.update(frame)
        if ok and found[2] > 0 and found[3] > 0:
            boxes.append(tuple(float(v) for v in found))
        else:
            boxes.append(boxes[-1])
            lost += 1
    return boxes, lost


def crop_window(box: Box, aspect: float, min_width: float) -> tuple[float, float, float, float]:
    """Centre and size ``(cx, cy, cw, ch)`` of the aspect-preserving window that covers ``box``
    (never narrower than ``min_width``: a few pixels are not blown up into a tile)."""
    x, y, w, h = box
    cw = max(w, h * aspect, min_width)
    return x + w / 2, y + h / 2, cw, cw / aspect


def crop(frame: np.ndarray, window: tuple[float, float, float, float], size: tuple[int, int]) -> np.ndarray:
    """The window of ``frame`` linearly scaled to ``size = (width, height)``."""
    import cv2

    cx, cy, cw, ch = window
    tw, th = size
    sx, sy = tw / cw, th / ch
    # output pixel (u, v) samples frame at (cx + (u + 0.5 - tw/2) / sx - 0.5, ...)
    matrix = np.array([[sx, 0.0, tw / 2 - sx * cx], [0.0, sy, th / 2 - sy * cy]], dtype=np.float64)
    matrix[:, 2] += 0.5 * np.array([sx, sy]) - 0.5  # pixel centres
    return cv2.warpAffine(frame, matrix, (tw, th), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def cropped_video(frames: np.ndarray, boxes: list[Box], size: tuple[int, int], min_width: float) -> np.ndarray:
    """uint8 ``(T, th, tw, 3)``: each frame cropped around its box."""
    height, width = frames.shape[1:3]
    aspect = width / height
    return np.stack([crop(f, crop_window(b, aspect, min_width), size) for f, b in zip(frames, boxes)])
