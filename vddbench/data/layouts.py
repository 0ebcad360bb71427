"""Finding a real dataset on disk: what every dataset read from a folder shares.

Each dataset owns its layouts: its ``DatasetSource`` is a :class:`RealDataset` subclass (UCF101 in
``ucf101.py``, HMDB51 in ``hmdb51.py``, ...) whose ``layout_help`` names what it looks for, in one
line, and whose ``manifest(spec, root)`` reads the layouts it recognises. :meth:`RealDataset.find`
checks the root and the class count around it, so every error names the dataset, the path and what
to do, in one line. A plugin's dataset brings its layout the same way: register a ``RealDataset``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError
from .manifest import Manifest
from .split import DatasetSource

if TYPE_CHECKING:
    from ..protocol import DatasetSpec
    from .cache import CachedSplit

DOCS = "see docs/datasets.md"


def first_existing(root: Path, candidates: tuple[str, ...], want_dir: bool) -> Path | None:
    for name in candidates:
        path = root / name
        if (path.is_dir() if want_dir else path.is_file()):
            return path
    return None


def not_found(spec: DatasetSpec, root: Path, help_line: str) -> DataError:
    return DataError(f"dataset '{spec.name}': {root} holds {help_line}; "
                     f"point --data-root at the folder that holds them ({DOCS})")


class RealDataset(DatasetSource):
    """A dataset read from a folder (``--data-root``) in the layouts it knows, through the clip cache.

    A subclass sets ``name``, ``title`` and ``layout_help`` (one line: what it looks for under the
    root) and implements :meth:`manifest`; the harness verifies, caches and loads it from there.
    """

    title: str = ""
    layout_help: str = ""

    def manifest(self, spec: DatasetSpec, root: Path) -> Manifest:
        """The videos of ``spec``'s dataset under ``root``, in whichever layout of this dataset it
        holds; a DataError (``not_found``) when it holds none."""
        raise NotImplementedError

    def find(self, spec: DatasetSpec, root: Path | str | None) -> Manifest:
        """The manifest of ``spec``'s dataset under ``root``, checked; a one-line DataError if it is not there."""
        if root is None:
            raise DataError(f"dataset '{spec.name}' is read from disk: pass --data-root PATH, the folder "
                            f"that holds {self.layout_help} ({DOCS})")
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DataError(f"dataset '{spec.name}': --data-root {root} is not a folder; point it at the "
                            f"folder that holds {self.layout_help} ({DOCS})")
        manifest = self.manifest(spec, root)
        if len(manifest.classes) != spec.num_classes:
            raise DataError(f"dataset '{spec.name}': {root} ({manifest.layout}) has {len(manifest.classes)} "
                            f"classes, the protocol expects {spec.num_classes}; is this the right dataset?")
        for split in ("train", "test"):
            if not manifest.splits[split]:
                raise DataError(f"dataset '{spec.name}': the {split} split of {root} ({manifest.layout}) "
                                f"lists no videos of the protocol's classes; is this the right dataset?")
        return manifest

    def load(self, spec: DatasetSpec, split: str, root: Path | None) -> CachedSplit:
        from . import cache

        return cache.load(spec, self.find(spec, root), split)


def real_sources() -> dict[str, RealDataset]:
    """Every registered dataset source that reads from disk (vddbench's and plugins'), by name."""
    from ..plugins import get_registry

    return {name: e.obj for name, e in get_registry().datasets.items() if isinstance(e.obj, RealDataset)}


def source_for(spec: DatasetSpec) -> RealDataset:
    """The registered source that reads ``spec``'s dataset from disk."""
    sources = real_sources()
    if spec.source not in sources:
        raise DataError(f"no on-disk layout is known for dataset source '{spec.source}' "
                        f"(known: {', '.join(sources)})")
    return sources[spec.source]


def manifest_for(spec: DatasetSpec, root: Path | str | None) -> Manifest:
    """The manifest of ``spec``'s dataset under ``root``; a DataError if it is not there."""
    return source_for(spec).find(spec, root)
