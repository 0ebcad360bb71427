"""Decoding one clip per video through mmaction2's pipeline transforms (decord backend).

The pipeline is mmaction2's own ``DecordInit -> DecordDecode -> Resize -> CenterCrop`` (or
``RawFrameDecode`` for rawframe lists) with three vddbench transforms registered into mmaction2's
``TRANSFORMS`` registry: ``VddbenchDecordInit`` (DecordInit reading by path), ``VddbenchCheckLength``
(a truncated file decodes fewer frames than its header promises) and ``VddbenchSampleFrames`` (the
protocol's frame choice, :func:`frame_indices`).

Sampling (``DatasetSpec`` option ``sampling``):

* ``gap`` (UCF101/HMDB51): ``frames`` frames ``gap`` apart; a video shorter than ``frames * gap``
  uses gap ``len // frames``. Test clips are centred; the training clip's start is drawn from a
  generator seeded by ``clip_seed`` and the video's name, so it never depends on order or copy.
* ``middle`` (Kinetics-400, as VDSD extracts it): frames at ``sample_fps`` (2/s; 4, 8, 12/s for
  videos shorter than 4, 2, 1 s) around the middle of the video.
* ``uniform`` (SSv2, as VDSD extracts it): frames evenly spaced over the whole video.

``middle`` and ``uniform`` are deterministic for train and test alike, as in VDSD. Videos shorter
than the clip loop, as mmaction2's ``SampleFrames`` does.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np

from ..protocol import DatasetSpec
from .manifest import Manifest, VideoEntry

TRUNCATION_TOLERANCE = 0.9  # fewer decodable frames than this share of the header's count: truncated


class CorruptVideo(Exception):
    """A video that cannot be decoded; the harness reports and skips it."""


def clip_seed(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little")


def frame_indices(total: int, fps: float, frames: int, sampling: str, train: bool, seed: int,
                  gap: int = 4, sample_fps: float = 2.0) -> np.ndarray:
    """0-based frame indices of the protocol's clip of a ``total``-frame video."""
    if total < 1:
        raise CorruptVideo("the video has no frames")
    if sampling == "gap":
        step = gap if total >= frames * gap else max(1, total // frames)
        free = max(0, total - frames * step)
        start = int(np.random.default_rng(seed).integers(0, free + 1)) if train else free // 2
        idx = start + step * np.arange(frames)
    elif sampling == "middle":
        duration = total / fps if fps > 0 else 0.0
        factor = max(1, frames // 8)  # VDSD scales the short-video rates by frames / 8
        rate = next((r * factor for limit, r in ((1, 12), (2, 8), (4, 4)) if duration < limit), sample_fps)
        step = max(1, round(fps / rate)) if fps > 0 else 1
        start = max(0, round(total / 2 - frames * step / 2))
        idx = np.minimum(start + step * np.arange(frames), total - 1)
    elif sampling == "uniform":
        if total < frames:
            idx = np.arange(frames)
        else:
            step = (total - 1) // (frames - 1) if frames > 1 else 1
            first = (total - 1 - (frames - 1) * step) // 2
            idx = first + step * np.arange(frames)
    else:
        raise ValueError(f"unknown sampling '{sampling}' (gap, middle or uniform)")
    return (idx % total).astype(np.int64)


def _register_transforms() -> Any:
    from ..students.mmaction_compat import import_mmaction_models

    import_mmaction_models()
    import mmaction.datasets.transforms  # noqa: F401  registers mmaction2's transforms
    from mmaction.datasets.transforms import DecordInit
    from mmaction.registry import TRANSFORMS
    from mmcv.transforms import BaseTransform

    if TRANSFORMS.get("VddbenchSampleFrames") is not None:
        return TRANSFORMS

    @TRANSFORMS.register_module()
    class VddbenchSampleFrames(BaseTransform):
        """Sets ``frame_inds`` to the protocol's clip (see :func:`frame_indices`)."""

        def __init__(self, frames, sampling, gap=4, sample_fps=2.0, default_fps=30.0):
            self.frames, self.sampling, self.gap = frames, sampling, gap
            self.sample_fps, self.default_fps = sample_fps, default_fps

        def transform(self, results):
            fps = results.get("avg_fps") or self.default_fps
            idx = frame_indices(results["total_frames"], fps, self.frames, self.sampling, results["vdd_train"],
                                results["vdd_seed"], self.gap, self.sample_fps)
            results["frame_inds"] = idx + results.get("start_index", 0)
            results["clip_len"], results["frame_interval"], results["num_clips"] = self.frames, None, 1
            return results

    @TRANSFORMS.register_module()
    class VddbenchDecordInit(DecordInit):
        """mmaction2's DecordInit reading the file by path: its BytesIO copy crashes decord on some
        truncated files (dmlc/decord#156) and holds the whole file in memory."""

        def _get_video_reader(self, filename):
            import decord

            return decord.VideoReader(filename, num_threads=self.num_threads)

    @TRANSFORMS.register_module()
    class VddbenchCheckLength(BaseTransform):
        """Rejects a video that decodes to far fewer frames than its container header says."""

        def transform(self, results):
            import cv2

            capture = cv2.VideoCapture(results["filename"])
            header = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else -1
            capture.release()
            if header > 0 and results["total_frames"] < TRUNCATION_TOLERANCE * header - 1:
                raise CorruptVideo(f"truncated: its header promises {header} frames, "
                                   f"only {results['total_frames']} decode")
            return results

    return TRANSFORMS


class ClipDecoder:
    """Decodes the protocol's clip of one video to uint8 ``(3, T, H, W)``."""

    def __init__(self, spec: DatasetSpec, manifest: Manifest):
        from mmengine.dataset import Compose

        transforms = _register_transforms()
        self.spec, self.rawframes = spec, manifest.rawframes
        self.tmpl, self.start_index = manifest.filename_tmpl, manifest.start_index
        self.seed = spec.option("clip_seed", 0)
        resize = tuple(spec.option("resize", (spec.clip.width, spec.clip.height)))
        sample = dict(type="VddbenchSampleFrames", frames=spec.clip.frames, sampling=spec.option("sampling", "gap"),
                      gap=spec.option("gap", 4), sample_fps=spec.option("sample_fps", 2.0))
        load = ([sample, dict(type="RawFrameDecode")] if self.rawframes else
                [dict(type="VddbenchDecordInit", num_threads=1), dict(type="VddbenchCheckLength"), sample,
                 dict(type="DecordDecode")])
        steps = load + [dict(type="Resize", scale=resize, keep_ratio=False)]
        if resize != (spec.clip.width, spec.clip.height):
            steps.append(dict(type="CenterCrop", crop_size=(spec.clip.width, spec.clip.height)))
        self.pipeline = Compose([transforms.build(t) for t in steps])

    def __call__(self, entry: VideoEntry, train: bool) -> np.ndarray:
        from mmengine.logging import MMLogger

        results: dict[str, Any] = {"vdd_train": train, "vdd_seed": clip_seed(self.seed, entry.name),
                                   "modality": "RGB"}
        if self.rawframes:
            results.update(frame_dir=str(entry.path), total_frames=entry.frames or 0,
                           filename_tmpl=self.tmpl, start_index=self.start_index, offset=0)
        else:
            results.update(filename=str(entry.path), start_index=0)
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.ERROR)  # mmengine warns about its own FileClient's deprecation
        try:
            out = self.pipeline(results)
            clip = np.stack(out["imgs"]).astype(np.uint8, copy=False).transpose(3, 0, 1, 2)
        except CorruptVideo:
            raise
        except Exception as exc:  # decord, ffmpeg and cv2 fail in many ways; all mean "unreadable"
            message = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise CorruptVideo(f"{type(exc).__name__}: {message}") from None
        finally:
            logger.setLevel(level)
        if clip.shape != self.spec.clip.shape:
            raise CorruptVideo(f"decoded to {clip.shape}, expected {self.spec.clip.shape}")
        return np.ascontiguousarray(clip)
