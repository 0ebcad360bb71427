"""vddbench's own students as mmaction2 modules (registered into ``mmaction.registry.MODELS``).

* ``VDSDConvNet3D`` + ``VDSDHead``: VDSD's ConvNet3D (the protocol student); with ``norm='bn'`` the
  same blocks with BatchNorm3d form MiniC3D, whose head is ``PoolLinearHead``.
* ``FrameConvNet`` + ``TemporalPoolHead``: VDSD's per-frame 2D ConvNet followed by mean, LSTM or GRU.
* ``ShortClipC3D``: mmaction2's C3D with a pool5 that fits 8-frame clips.

Imported only when a student is built, so importing vddbench stays light.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .mmaction_compat import import_mmaction_models

import_mmaction_models()
from mmaction.models.backbones import C3D  # noqa: E402
from mmaction.registry import MODELS  # noqa: E402


@MODELS.register_module()
class VDSDConvNet3D(nn.Module):
    """Blocks of Conv3d(k (3,7,7), stride (1,s,s), pad (1,3,3)) -> [BN] -> ReLU -> MaxPool3d.

    ``kernel`` is VDSD's (3, 7, 7) unless a protocol asks for another (padded to keep the size)."""

    def __init__(self, channels=(64, 128, 128), spatial_strides=(2, 2, 2),
                 pools=((1, 2, 2), (2, 2, 2), (2, 2, 2)), norm=None, in_channels=3, kernel=(3, 7, 7)):
        super().__init__()
        layers, c_in = [], in_channels
        padding = tuple(k // 2 for k in kernel)
        for c_out, stride, pool in zip(channels, spatial_strides, pools):
            layers.append(nn.Conv3d(c_in, c_out, tuple(kernel), (1, stride, stride), padding))
            if norm == "bn":
                layers.append(nn.BatchNorm3d(c_out))
            layers += [nn.ReLU(inplace=True), nn.MaxPool3d(tuple(pool))]
            c_in = c_out
        self.features = nn.Sequential(*layers)

    default_init = True  # init_weights does nothing: students.reinitialize may reset it in place

    def init_weights(self):
        pass  # PyTorch's default initialisation, as in VDSD's code

    def forward(self, x):
        return self.features(x)


@MODELS.register_module()
class VDSDHead(nn.Module):
    """AvgPool3d(stride 1) -> Dropout(0.5) -> Conv3d 1x1x1 -> logits max-pooled over time."""

    def __init__(self, num_classes, in_channels, pool=(2, 1, 1), dropout_ratio=0.5, **kwargs):
        super().__init__()
        self.pool = nn.AvgPool3d(tuple(pool), stride=1)
        self.dropout = nn.Dropout(dropout_ratio)
        self.fc = nn.Conv3d(in_channels, num_classes, 1)

    default_init = True

    def init_weights(self):
        pass

    def forward(self, x, **kwargs):
        logits = self.fc(self.dropout(self.pool(x)))  # (N, C, t, h, w)
        return logits.flatten(3).mean(3).amax(2)  # space is 1x1 at protocol sizes; max over time


@MODELS.register_module()
class PoolLinearHead(nn.Module):
    """MiniC3D's head: global average pool -> Dropout(0.5) -> Linear."""

    def __init__(self, num_classes, in_channels, dropout_ratio=0.5, **kwargs):
        super().__init__()
        self.dropout = nn.Dropout(dropout_ratio)
        self.fc = nn.Linear(in_channels, num_classes)

    default_init = True

    def init_weights(self):
        pass

    def forward(self, x, **kwargs):
        return self.fc(self.dropout(x.flatten(2).mean(2)))


@MODELS.register_module()
class FrameConvNet(nn.Module):
    """Per-frame 2D ConvNet: depth x [Conv2d 3x3 -> InstanceNorm -> ReLU -> AvgPool2d 2].

    Input ``(N, 3, T, H, W)``; output per-frame features ``(N, T, D)``. ``frame_size`` first
    area-resizes frames (VDSD builds its CNN+RNN students at 64 px); ``final_pool`` average-pools the
    last feature map (VDSD's ``final_avgpool``), so that the recurrent heads stay a sane size.
    """

    def __init__(self, width=128, depth=3, in_channels=3, frame_size=None, final_pool=1):
        super().__init__()
        layers, c_in = [], in_channels
        for _ in range(depth):
            # Instance norm, written as GroupNorm with one channel per group: the same
            # computation, ~1.5x faster than nn.InstanceNorm2d on CPU.
            layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.GroupNorm(width, width),
                       nn.ReLU(inplace=True), nn.AvgPool2d(2)]
            c_in = width
        if final_pool > 1:
            layers.append(nn.AvgPool2d(final_pool))
        self.net = nn.Sequential(*layers)
        self.frame_size = tuple(frame_size) if frame_size else None

    default_init = True

    def init_weights(self):
        pass

    def forward(self, x):
        n, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        if self.frame_size and (h, w) != self.frame_size:
            frames = F.interpolate(frames, size=self.frame_size, mode="area")
        return self.net(frames).reshape(n, t, -1)


@MODELS.register_module()
class TemporalPoolHead(nn.Module):
    """Per-frame features ``(N, T, D)`` -> mean | LSTM(hidden D) | GRU(hidden D/8) -> mean over
    time -> Linear (VDSD's CNN+Mean, CNN+LSTM, CNN+GRU)."""

    def __init__(self, num_classes, in_channels, temporal="mean", **kwargs):
        super().__init__()
        self.temporal = temporal
        hidden = {"mean": in_channels, "lstm": in_channels, "gru": in_channels // 8}[temporal]
        if temporal == "lstm":
            self.rnn = nn.LSTM(in_channels, hidden, batch_first=True)
        elif temporal == "gru":
            self.rnn = nn.GRU(in_channels, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    default_init = True

    def init_weights(self):
        pass

    def forward(self, x, **kwargs):
        if self.temporal != "mean":
            x, _ = self.rnn(x)
        return self.fc(x.mean(1))


def feature_size(width: int, depth: int, height: int, width_px: int) -> int:
    return width * (height >> depth) * (width_px >> depth)



@MODELS.register_module()
class ShortClipC3D(C3D):
    """mmaction2's C3D whose pool5 keeps the time axis (``pool5_t=1``).

    C3D halves time four times; an 8-frame clip (K400/SSv2) has one time step left before pool5,
    which the shipped pool5 (kernel 2 in time) cannot pool. Everything else is mmaction2's C3D.
    """

    def __init__(self, pool5_t=1, **kwargs):
        super().__init__(**kwargs)
        self.pool5 = nn.MaxPool3d((pool5_t, 2, 2), (pool5_t, 2, 2), padding=(0, 1, 1))
