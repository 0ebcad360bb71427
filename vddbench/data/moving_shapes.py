"""The embedded dataset: moving shapes, generated deterministically in-process.

Ten classes of one shape moving over a cluttered background. Per video, colour, size, start, speed,
background texture and distractors vary. Two versions (option ``version``); old records keep theirs.

* **Version 2** (the embedded protocol): as in real video, appearance carries most of the class
  information and motion decides some classes. Seven shape/colour families; four are one class
  each, three are pairs that share shape and colour and differ only in motion (circle right/left,
  square up/down, cross growing/shrinking). A per-frame model can reach at most 70% (it must guess
  within a pair: the frames of "circle moving left from x1 to x0" are those of "circle moving right
  from x0 to x1"); a 3D student can separate all ten.
* **Version 1**: every class shares its shape and colour with one to three others, so a still-image
  method cannot pass ~40% even in principle.

Option ``draw_size``: draw each video at that many pixels and area-resample it to the clip size
(the embedded protocol draws at 24 px and stores 16 px: the same videos, geometry and speeds, with
fewer pixels for the students to pay for; docs/embedded.md#cost).

Train and test use disjoint generator seeds; video ``i`` of a split depends only on
``(split seed, i)``.
"""

from __future__ import annotations

import colorsys
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..protocol import DatasetSpec
from .split import ArraySplit, DatasetSource

SPLIT_SEEDS = {"train": 1_000, "test": 2_000}

# (shape, motion, direction x/y or growth sign, speed range in pixels per frame)
CLASSES = (
    ("circle", "move", (1.0, 0.0), (1.0, 1.8)),
    ("circle", "move", (-1.0, 0.0), (1.0, 1.8)),
    ("square", "move", (0.0, -1.0), (1.0, 1.8)),
    ("square", "move", (0.0, 1.0), (1.0, 1.8)),
    ("triangle", "move", (1.0, 0.0), (0.3, 0.7)),  # slow ...
    ("triangle", "move", (1.0, 0.0), (1.6, 2.2)),  # ... and fast: same shape, same direction
    ("cross", "scale", (1.0, 0.0), (0.3, 0.45)),  # growing
    ("cross", "scale", (-1.0, 0.0), (0.3, 0.45)),  # shrinking
    ("square", "move", (0.7071, 0.7071), (1.0, 1.8)),
    ("square", "move", (-0.7071, -0.7071), (1.0, 1.8)),
)
SHAPE_HUES = {"circle": 0.5, "square": 0.08, "triangle": 0.8, "cross": 0.3}
CLASS_NAMES = (
    "circle-right", "circle-left", "square-up", "square-down", "triangle-slow",
    "triangle-fast", "cross-grow", "cross-shrink", "square-down-right", "square-up-left",
)

# Version 2: three motion pairs (0-5) and four classes with an appearance of their own (6-9).
CLASSES_V2 = (
    ("circle", "move", (1.0, 0.0), (1.0, 1.8)),
    ("circle", "move", (-1.0, 0.0), (1.0, 1.8)),
    ("square", "move", (0.0, -1.0), (1.0, 1.8)),
    ("square", "move", (0.0, 1.0), (1.0, 1.8)),
    ("cross", "scale", (1.0, 0.0), (0.3, 0.45)),
    ("cross", "scale", (-1.0, 0.0), (0.3, 0.45)),
    ("triangle", "move", (1.0, 0.0), (0.6, 1.6)),
    ("diamond", "move", (0.7071, 0.7071), (0.6, 1.6)),
    ("bar", "move", (0.0, 1.0), (0.6, 1.6)),
    ("ring", "move", (-0.7071, 0.7071), (0.6, 1.6)),
)
SHAPE_HUES_V2 = {"circle": 0.5, "square": 0.08, "cross": 0.3, "triangle": 0.8, "diamond": 0.95,
                 "bar": 0.16, "ring": 0.64}
CLASS_NAMES_V2 = (
    "circle-right", "circle-left", "square-up", "square-down", "cross-grow", "cross-shrink",
    "triangle", "diamond", "bar", "ring",
)
MOTION_PAIRS_V2 = ((0, 1), (2, 3), (4, 5))  # same shape and colour, different motion
# (classes, hues, hue jitter) per version
VERSIONS = {1: (CLASSES, SHAPE_HUES, 0.06), 2: (CLASSES_V2, SHAPE_HUES_V2, 0.04)}


def _signed_distance(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    if shape == "circle":
        return np.hypot(dx, dy) - r
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) - 0.85 * r
    if shape == "triangle":  # apex up, base at r/2 below the centre
        return np.maximum(dy - r / 2, (np.sqrt(3) * np.abs(dx) - dy - r) / 2)
    if shape == "cross":
        arm = 0.35 * r
        return np.minimum(
            np.maximum(np.abs(dx) - r, np.abs(dy) - arm), np.maximum(np.abs(dx) - arm, np.abs(dy) - r)
        )
    if shape == "diamond":
        return (np.abs(dx) + np.abs(dy) - 1.1 * r) / np.sqrt(2)
    if shape == "bar":  # a wide, flat rectangle
        return np.maximum(np.abs(dx) - 1.1 * r, np.abs(dy) - 0.4 * r)
    if shape == "ring":
        return np.abs(np.hypot(dx, dy) - 0.75 * r) - 0.3 * r
    raise ValueError(shape)


def _paint(canvas: np.ndarray, sd: np.ndarray, colour: np.ndarray) -> None:
    alpha = np.clip(0.5 - sd, 0.0, 1.0)[..., None]  # anti-aliased edge: sub-pixel motion shows
    canvas *= 1 - alpha
    canvas += alpha * colour


def render_video(label: int, rng: np.random.Generator, frames: int, size: int, version: int = 1) -> np.ndarray:
    """One clip, float32 ``(T, H, W, 3)`` in [0, 1]."""
    classes, hues, hue_jitter = VERSIONS[version]
    shape, motion, (ux, uy), (lo, hi) = classes[label]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5

    # Background: a base colour, smooth texture, and two static distractor blobs.
    coarse = rng.normal(0.0, 0.07, size=(size // 4 + 1, size // 4 + 1, 3))
    texture = np.repeat(np.repeat(coarse, 4, 0), 4, 1)[:size, :size]
    background = np.clip(rng.uniform(0.1, 0.45, size=3) + texture, 0, 1).astype(np.float32)
    for _ in range(2):
        blob_shape = ("circle", "square", "triangle", "cross")[rng.integers(4)]
        cx, cy = rng.uniform(2, size - 2, size=2)
        sd = _signed_distance(blob_shape, xx - cx, yy - cy, rng.uniform(1.5, 3.0))
        _paint(background, sd, rng.uniform(0.15, 0.55, size=3).astype(np.float32))

    # Each shape has a colour family; hue, saturation and brightness vary per video.
    hue = (hues[shape] + rng.uniform(-hue_jitter, hue_jitter)) % 1.0
    colour = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.6, 1.0), rng.uniform(0.75, 1.0)), dtype=np.float32)
    speed = rng.uniform(lo, hi)
    span = speed * (frames - 1)
    if motion == "move":
        r = rng.uniform(2.5, 3.8)
        margin = r + 1
        start = []
        for u in (ux, uy):
            lo_pos = margin + max(0.0, -u * span)
            hi_pos = size - margin - max(0.0, u * span)
            start.append(rng.uniform(lo_pos, max(lo_pos, hi_pos)))
        centres = [(start[0] + ux * speed * t, start[1] + uy * speed * t) for t in range(frames)]
        radii = [r] * frames
    else:  # scale: a fixed centre, the radius grows (ux = 1) or shrinks (ux = -1)
        r0 = rng.uniform(2.0, 3.0)
        radii = [r0 + speed * t for t in range(frames)]
        if ux < 0:
            radii = radii[::-1]
        c = rng.uniform(max(radii) + 1, size - max(radii) - 1, size=2)
        centres = [tuple(c)] * frames

    video = np.empty((frames, size, size, 3), dtype=np.float32)
    for t in range(frames):
        frame = background.copy()
        sd = _signed_distance(shape, xx - centres[t][0], yy - centres[t][1], radii[t])
        _paint(frame, sd, colour)
        frame += rng.normal(0.0, 0.03, size=frame.shape).astype(np.float32)
        video[t] = frame
    return np.clip(video, 0.0, 1.0)


def area_resample(video: np.ndarray, size: int) -> np.ndarray:
    """A ``(T, H, W, 3)`` float video area-averaged to ``size`` x ``size`` pixels."""
    frames = torch.from_numpy(video).permute(0, 3, 1, 2)
    return torch.nn.functional.interpolate(frames, size=(size, size), mode="area").permute(0, 2, 3, 1).numpy()


@lru_cache(maxsize=8)
def generate(split: str, num_classes: int, per_class: int, frames: int, size: int,
             version: int = 1, draw_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 clips ``(N, 3, T, H, W)`` and labels, class-balanced (label = index mod classes); drawn at
    ``draw_size`` px (default: ``size``) and area-resampled to ``size``."""
    n = num_classes * per_class
    clips = np.empty((n, 3, frames, size, size), dtype=np.uint8)
    labels = np.arange(n, dtype=np.int64) % num_classes
    draw_size = draw_size or size
    for i in range(n):
        rng = np.random.default_rng([SPLIT_SEEDS[split], i])
        video = render_video(int(labels[i]), rng, frames, draw_size, version)
        if draw_size != size:
            video = area_resample(video, size)
        clips[i] = np.round(video * 255).astype(np.uint8).transpose(3, 0, 1, 2)
    clips.setflags(write=False)
    return clips, labels


class MovingShapes(DatasetSource):
    name = "moving-shapes"

    def load(self, spec: DatasetSpec, split: str, root: Path | None = None) -> ArraySplit:
        if spec.clip.height != spec.clip.width:
            raise ValueError("moving-shapes clips are square")
        version = spec.option("version", 1)
        if version not in VERSIONS:
            raise ValueError(f"moving-shapes has versions {sorted(VERSIONS)}, not {version!r}")
        if spec.num_classes > len(VERSIONS[version][0]):
            raise ValueError(f"moving-shapes has {len(VERSIONS[version][0])} classes, not {spec.num_classes}")
        draw_size = spec.option("draw_size")
        if draw_size is not None and draw_size < spec.clip.height:
            raise ValueError(f"moving-shapes draw_size {draw_size} is below the clip's {spec.clip.height} px: "
                             "draw at the clip size or larger")
        per_class = spec.option(f"{split}_per_class")
        clips, labels = generate(split, spec.num_classes, per_class, spec.clip.frames, spec.clip.height, version,
                                 draw_size)
        return ArraySplit(f"{spec.name}/{split}", clips, labels, spec.num_classes)
