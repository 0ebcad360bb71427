"""What a copy of a real dataset holds: the videos its annotation files list, and which are on disk.

Copies of the real datasets differ (YouTube videos vanish from Kinetics, downloads get truncated),
so the harness never assumes a complete copy. A :class:`Manifest` lists, per split, every video
the official annotation files name (``VideoEntry``) with the file found for it, or ``None`` when
it is missing, plus the video files on disk that no annotation file names (``extras``). Its
:meth:`~Manifest.digest` keys the clip cache: another copy, or a replaced file, is another cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "test")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".3gp")


@dataclass(frozen=True)
class VideoEntry:
    """One listed video. ``name`` is how the annotation files call it (stable across copies)."""

    name: str
    label: int
    path: Path | None  # the video file, or the rawframe folder; None when missing
    frames: int | None = None  # rawframe lists give the frame count; videos are measured


@dataclass
class Manifest:
    dataset: str
    layout: str  # which on-disk layout was recognised, e.g. "UCF101 (official)"
    root: Path
    classes: tuple[str, ...]
    splits: dict[str, list[VideoEntry]]
    extras: list[str] = field(default_factory=list)
    rawframes: bool = False
    filename_tmpl: str = "img_{:05d}.jpg"  # rawframes only (mmaction2's default) ...
    start_index: int = 1  # ... and the number of the first frame

    def present(self, split: str) -> list[VideoEntry]:
        return [e for e in self.splits[split] if e.path is not None]

    def missing(self, split: str) -> list[str]:
        return [e.name for e in self.splits[split] if e.path is None]

    def digest(self, split: str) -> str:
        """sha256 of the classes and every present video of ``split`` (name, label, size)."""
        rows = [[e.name, e.label, _size(e.path), e.frames] for e in self.present(split)]
        body = {"classes": list(self.classes), "rawframes": self.rawframes, "tmpl": self.filename_tmpl,
                "start": self.start_index, "videos": rows}
        return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()

    def coverage(self, split: str, undecodable: int | None = None) -> dict:
        """Listed, found, missing and (once decoded) undecodable videos; ``fraction`` usable."""
        listed = len(self.splits[split])
        found = listed - len(self.missing(split))
        usable = found - (undecodable or 0)
        return {"listed": listed, "found": found, "missing": listed - found, "undecodable": undecodable,
                "usable": usable, "fraction": round(usable / listed, 6) if listed else 0.0}


def _size(path: Path | None) -> int:
    if path is None:
        return -1
    if path.is_dir():  # a rawframe folder: its frame count is in the entry
        return 0
    return path.stat().st_size


def index_files(folders: list[Path], extensions=VIDEO_EXTENSIONS) -> dict[str, Path]:
    """Every video file under ``folders`` (recursively), by file name without extension."""
    import os

    found: dict[str, Path] = {}
    for folder in folders:
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                stem, ext = os.path.splitext(name)
                if ext.lower() in extensions and not name.startswith("."):
                    found.setdefault(stem, Path(dirpath) / name)
    return found
