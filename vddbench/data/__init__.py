"""Datasets as the harness sees them: splits of uint8 clips, normalised when read."""

from .split import IMAGENET_MEAN, IMAGENET_STD, ArraySplit, DatasetSource, VideoSplit, denormalize, normalize

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ArraySplit",
    "DatasetSource",
    "VideoSplit",
    "denormalize",
    "normalize",
]
