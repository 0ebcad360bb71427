"""Finding a real dataset on disk: each dataset module says which layouts it recognises.

A dataset module exposes ``LAYOUT_HELP`` (one line naming what it looks for) and
``manifest(spec, root) -> Manifest``; :func:`manifest_for` checks the root and the class count
around it, so every error names the dataset, the path and what to do, in one line.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from ..errors import DataError
from ..protocol import DatasetSpec
from .manifest import Manifest

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


def _module(source: str) -> ModuleType:
    from . import hmdb51, kinetics, ssv2, ucf101

    modules = {"ucf101": ucf101, "hmdb51": hmdb51, "kinetics400": kinetics, "ssv2": ssv2}
    if source not in modules:
        raise DataError(f"no on-disk layout is known for dataset source '{source}' "
                        f"(known: {', '.join(modules)})")
    return modules[source]


def manifest_for(spec: DatasetSpec, root: Path | str | None) -> Manifest:
    """The manifest of ``spec``'s dataset under ``root``; a DataError if it is not there."""
    module = _module(spec.source)
    if root is None:
        raise DataError(f"dataset '{spec.name}' is read from disk: pass --data-root PATH, the folder "
                        f"that holds {module.LAYOUT_HELP} ({DOCS})")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"dataset '{spec.name}': --data-root {root} is not a folder; point it at the "
                        f"folder that holds {module.LAYOUT_HELP} ({DOCS})")
    manifest = module.manifest(spec, root)
    if len(manifest.classes) != spec.num_classes:
        raise DataError(f"dataset '{spec.name}': {root} ({manifest.layout}) has {len(manifest.classes)} "
                        f"classes, the protocol expects {spec.num_classes}; is this the right dataset?")
    for split in ("train", "test"):
        if not manifest.splits[split]:
            raise DataError(f"dataset '{spec.name}': the {split} split of {root} ({manifest.layout}) "
                            f"lists no videos of the protocol's classes; is this the right dataset?")
    return manifest
