"""The built-in students and their mmaction2 configs.

Published sizes are used at the protocol's real clip sizes (>= 64 px). For the embedded protocol's
tiny clips (< 64 px) widths are scaled down so that a student trains in seconds on a CPU; the
architecture (layer types, order) stays the same, and so do kernel sizes down to 17 px (ConvNet3D
takes 3x3 spatial kernels at 16 px or less, below). The mmaction2 zoo students (C3D,
R(2+1)D-18, X3D-S, TSN-R18, TSM-R18) come from mmaction2's shipped configs, for the real clip sizes.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from ..protocol import ClipSpec
from .spec import StudentSpec


def _tiny(clip: ClipSpec) -> bool:
    return clip.height < 64


# At 16 px or less (the embedded protocol) VDSD's 7x7 spatial kernels span half a frame and cost ~4x
# the 3x3 ones (a training step: 91 against 24.5 ms), which separate the embedded budgets as well on
# the validation split (docs/embedded.md#cost): a declared deviation for tiny clips only.
SMALL_KERNEL_MAX_SIZE = 16


def _convnet3d_backbone(clip: ClipSpec, norm: str | None) -> dict[str, Any]:
    if _tiny(clip):  # three blocks still fit 24 px if the last pool keeps space
        # "kernel" only where it differs from VDSD's, so that older protocol ids keep their hash
        small = dict(kernel=(3, 3, 3)) if clip.height <= SMALL_KERNEL_MAX_SIZE else {}
        return dict(type="VDSDConvNet3D", channels=(16, 32, 32), spatial_strides=(2, 2, 2),
                    pools=((1, 2, 2), (2, 2, 2), (2, 1, 1)), norm=norm, **small)
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


# A declared deviation: for MiniUCF VDSD's code builds CNN+LSTM/GRU at the clip's 112 px, where
# hidden = feature size is an LSTM of 25088 units (5.0 G parameters). We resize frames to 64 px and
# apply its ``final_avgpool`` (128x8x8 -> 128x2x2): 512 features, an LSTM of 2.1 M parameters.
FRAME_CNN_SIZE = 64
FRAME_CNN_FINAL_POOL = 4


def _frame_cnn(temporal: str):
    def config(num_classes: int, clip: ClipSpec) -> dict[str, Any]:
        width, depth = (8 if _tiny(clip) else 128), 3  # 8: the per-frame CNN is the grid's costliest student
        if _tiny(clip):
            features = width * (clip.height >> depth) * (clip.width >> depth)
            backbone = dict(type="FrameConvNet", width=width, depth=depth)
        else:
            side = (FRAME_CNN_SIZE >> depth) // FRAME_CNN_FINAL_POOL
            features = width * side * side
            backbone = dict(type="FrameConvNet", width=width, depth=depth,
                            frame_size=(FRAME_CNN_SIZE, FRAME_CNN_SIZE), final_pool=FRAME_CNN_FINAL_POOL)
        return dict(type="Recognizer3D", backbone=backbone,
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
    cfg["cls_head"].update(num_classes=num_classes, in_channels=base * 8)
    return cfg


def _zoo(relative_path: str, num_classes: int, **backbone: Any) -> dict[str, Any]:
    """A shipped mmaction2 model config, from scratch, for CPU-or-GPU training on normalised clips."""
    import copy

    cfg = copy.deepcopy(zoo_model_config(relative_path))
    cfg.pop("data_preprocessor", None)  # videos arrive normalised already
    cfg["backbone"].update(backbone)
    cfg["cls_head"].update(num_classes=num_classes)
    norm = cfg["backbone"].get("norm_cfg") or {}
    if norm.get("type") == "SyncBN":  # SyncBN needs a distributed process group; train on one device
        norm["type"] = "BN3d"
    return cfg


def c3d(num_classes: int, clip: ClipSpec) -> dict[str, Any]:
    """C3D (sports1m config, no pretrained weights). fc6's input follows the clip size."""
    short = clip.frames < 16  # one time step left before pool5: pool5 must keep time
    t = clip.frames // 8 if short else clip.frames // 16
    side_h, side_w = (clip.height // 16) // 2 + 1, (clip.width // 16) // 2 + 1  # pool5 pads space by 1
    cfg = _zoo("_base_/models/c3d_sports1m_pretrained.py", num_classes, pretrained=None,
               out_dim=512 * t * side_h * side_w)
    if short:
        cfg["backbone"].update(type="ShortClipC3D", pool5_t=1)
    return cfg


def r2plus1d_r18(num_classes: int, clip: ClipSpec) -> dict[str, Any]:
    return _zoo("_base_/models/r2plus1d_r34.py", num_classes, depth=18, pretrained=None)


def x3d_s(num_classes: int, clip: ClipSpec) -> dict[str, Any]:
    """mmaction2's X3D config (gamma_w 1, gamma_b 2.25, gamma_d 2.2: X3D-S/M share the network)."""
    return _zoo("_base_/models/x3d.py", num_classes)


def tsn_r18(num_classes: int, clip: ClipSpec) -> dict[str, Any]:
    cfg = _zoo("_base_/models/tsn_r50.py", num_classes, depth=18, pretrained=None)
    cfg["cls_head"].update(in_channels=512)
    return cfg


def tsm_r18(num_classes: int, clip: ClipSpec) -> dict[str, Any]:
    """TSM: the temporal shift needs the number of segments, here every frame of the clip."""
    cfg = _zoo("_base_/models/tsm_r50.py", num_classes, depth=18, pretrained=None, pretrained2d=False,
               num_segments=clip.frames)
    cfg["cls_head"].update(in_channels=512, num_segments=clip.frames)
    return cfg


BUILTIN_STUDENTS = (
    StudentSpec("convnet3d", "VDSD's ConvNet3D (the protocol student)", convnet3d),
    StudentSpec("minic3d", "MiniC3D: ConvNet3D blocks with BatchNorm3d (teacher for BN-statistics methods)", minic3d),
    StudentSpec("cnn-gru", "per-frame 2D ConvNet + GRU (VDSD)", _frame_cnn("gru")),
    StudentSpec("cnn-lstm", "per-frame 2D ConvNet + LSTM (VDSD)", _frame_cnn("lstm")),
    StudentSpec("cnn-mean", "per-frame 2D ConvNet + mean over time: a per-frame model (VDSD)", _frame_cnn("mean")),
    StudentSpec("slowonly-r18", "mmaction2 zoo: SlowOnly with ResNet3d-18", slowonly_r18),
    StudentSpec("c3d", "mmaction2 zoo: C3D", c3d),
    StudentSpec("r2plus1d-r18", "mmaction2 zoo: R(2+1)D-18", r2plus1d_r18),
    StudentSpec("x3d-s", "mmaction2 zoo: X3D-S", x3d_s),
    StudentSpec("tsn-r18", "mmaction2 zoo: TSN with ResNet-18 (frame-wise 2D)", tsn_r18),
    StudentSpec("tsm-r18", "mmaction2 zoo: TSM with ResNet-18 (temporal shift)", tsm_r18),
)
