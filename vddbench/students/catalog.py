"""The built-in students and their mmaction2 configs.

Published sizes are used at the protocol's real clip sizes (>= 64 px). For the embedded protocol's
tiny clips (< 64 px) widths are scaled down so that a student trains in seconds on a CPU; the
architecture (layer types, kernel sizes, order) stays the same.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from ..protocol import ClipSpec
from .spec import StudentSpec


def _tiny(clip: ClipSpec) -> bool:
    return clip.height < 64


def _convnet3d_backbone(clip: ClipSpec, norm: str | None) -> dict[str, Any]:
    if _tiny(clip):  # three blocks still fit 24 px if the last pool keeps space
        return dict(type="VDSDConvNet3D", channels=(16, 32, 32), spatial_strides=(2, 2, 2),
                    pools=((1, 2, 2), (2, 2, 2), (2, 1, 1)), norm=norm)
    return dict(type="VDSDConvNet3D", channels=(64, 128, 128), spatial_strides=(2, 2, 2),
                pools=((1, 2, 2), (2, 2, 2), (2, 2, 2)), norm=norm)


def convnet3d(num_classes: int, clip: ClipSpec) -> dict[str, Any]:
    backbone = _convnet3d_backbone(clip, norm=None)
    head_pool = (2, 2, 2) if clip.height > 64 else (2, 1, 1)  # as in VDSD
    return dict(type="Recognizer3D", backbone=backbone,
                cls_head=dict(type="VDSDHead", num_classes=num_classes,
                              in_channels=backbone["channels"][-1], pool=head_pool, dropout_ratio=0.5))


def minic3d(num_classes: int, clip: ClipSpec) -> dict[str, Any]:
    backbone = _convnet3d_backbone(clip, norm="bn")
    return dict(type="Recognizer3D", backbone=backbone,
                cls_head=dict(type="PoolLinearHead", num_classes=num_classes,
                              in_channels=backbone["channels"][-1], dropout_ratio=0.5))


def _frame_cnn(temporal: str):
    def config(num_classes: int, clip: ClipSpec) -> dict[str, Any]:
        width, depth = (16 if _tiny(clip) else 128), 3
        features = width * (clip.height >> depth) * (clip.width >> depth)
        return dict(type="Recognizer3D", backbone=dict(type="FrameConvNet", width=width, depth=depth),
                    cls_head=dict(type="TemporalPoolHead", num_classes=num_classes,
                                  in_channels=features, temporal=temporal))

    return config


@lru_cache(maxsize=None)
def zoo_model_config(relative_path: str) -> dict[str, Any]:
    """The ``model`` dict of a config file shipped inside the mmaction2 package."""
    import importlib.util

    from mmengine.config import Config

    package_dir = Path(importlib.util.find_spec("mmaction").submodule_search_locations[0])
    path = package_dir / ".mim" / "configs" / relative_path
    return Config.fromfile(str(path)).to_dict()["model"]


def slowonly_r18(num_classes: int, clip: ClipSpec) -> dict[str, Any]:
    """mmaction2's SlowOnly config with a ResNet3d-18, trained from scratch."""
    import copy

    cfg = copy.deepcopy(zoo_model_config("_base_/models/slowonly_r50.py"))
    base = 8 if _tiny(clip) else 64
    cfg.pop("data_preprocessor", None)  # videos arrive normalised already
    cfg["backbone"].update(depth=18, pretrained=None, base_channels=base)
    if _tiny(clip):  # keep 12x12 after the stem instead of 6x6, or 24 px clips vanish by stage 3
        cfg["backbone"].update(pool1_stride_s=1)
    cfg["cls_head"].update(num_classes=num_classes, in_channels=base * 8)
    return cfg


BUILTIN_STUDENTS = (
    StudentSpec("convnet3d", "VDSD's ConvNet3D (the protocol student)", convnet3d),
    StudentSpec("minic3d", "MiniC3D: ConvNet3D blocks with BatchNorm3d (teacher for BN-statistics methods)", minic3d),
    StudentSpec("cnn-gru", "per-frame 2D ConvNet + GRU (VDSD)", _frame_cnn("gru")),
    StudentSpec("cnn-lstm", "per-frame 2D ConvNet + LSTM (VDSD)", _frame_cnn("lstm")),
    StudentSpec("cnn-mean", "per-frame 2D ConvNet + mean over time: a per-frame model (VDSD)", _frame_cnn("mean")),
    StudentSpec("slowonly-r18", "mmaction2 zoo: SlowOnly with ResNet3d-18", slowonly_r18),
)
