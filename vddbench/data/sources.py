"""The real datasets as ``DatasetSource``s: a manifest of the copy under ``--data-root``, then the
split from the clip cache (decoded on first use). Each source owns its layouts (its module says
which); registered by vddbench's built-in plugin."""

from __future__ import annotations

from .hmdb51 import HMDB51Source
from .kinetics import Kinetics400Source
from .layouts import RealDataset, real_sources
from .ssv2 import SSV2Source
from .ucf101 import UCF101Source

REAL_SOURCES = (UCF101Source(), HMDB51Source(), Kinetics400Source(), SSV2Source())

__all__ = ["REAL_SOURCES", "RealDataset", "check_data_root"]


def check_data_root(protocol, datasets, root: str | None) -> None:
    """Raise the dataset's one-line DataError now if a real dataset of the run is not under ``root``."""
    sources = real_sources()
    for spec in protocol.datasets:
        if spec.name in datasets and spec.source in sources:
            sources[spec.source].find(spec, root)
