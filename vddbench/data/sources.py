"""The real datasets as ``DatasetSource``s: a manifest of the copy under ``--data-root``, then the
split from the clip cache (decoded on first use). Registered by vddbench's built-in plugin."""

from __future__ import annotations

from pathlib import Path

from ..protocol import DatasetSpec
from . import cache
from .layouts import manifest_for
from .split import DatasetSource


class RealDataset(DatasetSource):
    """A dataset read from disk in its official (or mmaction2's) layout, through the clip cache."""

    def __init__(self, name: str, title: str):
        self.name, self.title = name, title

    def load(self, spec: DatasetSpec, split: str, root: Path | None) -> cache.CachedSplit:
        return cache.load(spec, manifest_for(spec, root), split)


REAL_SOURCES = (
    RealDataset("ucf101", "UCF101 (MiniUCF: a class subset)"),
    RealDataset("hmdb51", "HMDB51"),
    RealDataset("kinetics400", "Kinetics-400"),
    RealDataset("ssv2", "Something-Something v2"),
)


def check_data_root(protocol, datasets, root: str | None) -> None:
    """Raise the dataset's one-line DataError now if a real dataset of the run is not under ``root``."""
    names = {source.name for source in REAL_SOURCES}
    for spec in protocol.datasets:
        if spec.name in datasets and spec.source in names:
            manifest_for(spec, root)
