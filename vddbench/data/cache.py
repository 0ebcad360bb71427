"""The clip cache: each split decoded once into a uint8 memory-mapped array, then reused by every
distiller and student.

A split's cache lives in ``<cache root>/<dataset>/<split>-<spec hash>-<manifest hash>/``: the spec
hash covers everything that changes a decoded clip (source, classes, clip size, sampling, resize,
decoder version), the manifest hash which videos this copy holds. A change to the students or the
recipe (which changes the protocol id) re-uses the cache; another copy of the dataset does not.

Files: ``clips.u8`` (``(N, 3, T, H, W)`` raw uint8), ``status.npy`` (per video: 0 to do, 1 decoded,
2 undecodable), ``failures.json``, and ``meta.json`` once complete. Progress is flushed every few
seconds, and the status only after the clips it marks, so an interrupted build resumes where it
stopped. When some videos are undecodable the decoded clips are compacted to the front, so the
split is one contiguous memory map. The cache root is ``$VDDBENCH_CACHE`` or ``~/.cache/vddbench``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..protocol import DatasetSpec
from .manifest import Manifest
from .parallel import decode_all
from .split import ArraySplit

CACHE_FORMAT = 1
FLUSH_SECONDS = 5.0


def cache_root() -> Path:
    return Path(os.environ.get("VDDBENCH_CACHE") or Path.home() / ".cache" / "vddbench").expanduser()


def spec_hash(spec: DatasetSpec) -> str:
    body = {"source": spec.source, "clip": [spec.clip.frames, spec.clip.height, spec.clip.width],
            "options": [[k, v] for k, v in spec.options], "format": CACHE_FORMAT}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cache_dir(spec: DatasetSpec, manifest: Manifest, split: str) -> Path:
    return cache_root() / spec.name / f"{split}-{spec_hash(spec)}-{manifest.digest(split)[:12]}"


class CachedSplit(ArraySplit):
    """A split read from the clip cache; ``coverage`` says how much of the listed split it holds,
    ``source_bytes`` the size of the video files its clips were decoded from (None for rawframes)."""

    def __init__(self, name, clips, labels, num_classes, coverage: dict, names: list[str],
                 source_bytes: int | None = None):
        super().__init__(name, clips, labels, num_classes)
        self.coverage = coverage
        self.names = names
        self.source_bytes = source_bytes


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _save_status(folder: Path, status: np.ndarray, failures: dict[str, str]) -> None:
    tmp = folder / ".status.tmp.npy"
    np.save(tmp, status)
    os.replace(tmp, folder / "status.npy")
    _write_json(folder / "failures.json", failures)


def split_coverage(spec: DatasetSpec, manifest: Manifest, split: str) -> dict:
    """Coverage of ``split``; undecodable is known once its cache is complete (else None)."""
    meta = cache_dir(spec, manifest, split) / "meta.json"
    failed = len(json.loads(meta.read_text())["failures"]) if meta.exists() else None
    return manifest.coverage(split, failed)


def build(spec: DatasetSpec, manifest: Manifest, split: str, progress: bool = True) -> Path:
    """Decode ``split`` into its cache folder (resuming a partial build); return the folder."""
    folder = cache_dir(spec, manifest, split)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / ".lock", "w")
    except OSError as exc:  # VDDBENCH_CACHE is a file, or not writable
        raise DataError(f"clip cache {folder} cannot be written ({exc.strerror}); set VDDBENCH_CACHE to a "
                        f"writable directory (now: {cache_root()})") from None
    with lock:  # one builder; other processes wait, then read
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "meta.json").exists():
            return folder
        if (folder / "compacting").exists():  # interrupted while moving clips: start again
            for name in ("clips.u8", "status.npy", "failures.json", "compacting"):
                (folder / name).unlink(missing_ok=True)
        entries = manifest.present(split)
        if not entries:
            raise DataError(f"dataset '{spec.name}': none of the {len(manifest.splits[split])} {split} videos "
                            f"listed is under {manifest.root}; run 'vddbench data verify' to see what is missing")
        shape = (len(entries), *spec.clip.shape)
        path = folder / "clips.u8"
        clips = np.memmap(path, np.uint8, "r+" if path.exists() else "w+", shape=shape)
        status = np.load(folder / "status.npy") if (folder / "status.npy").exists() else np.zeros(len(entries), np.int8)
        failures = json.loads((folder / "failures.json").read_text()) if (folder / "failures.json").exists() else {}
        todo = [i for i in range(len(entries)) if status[i] == 0]
        last_flush = time.monotonic()
        for i, clip, error in decode_all(spec, manifest, [entries[i] for i in todo], todo, split == "train",
                                         progress and bool(todo), f"decoding {spec.name}/{split}"):
            if error is None:
                clips[i] = clip
                status[i] = 1
            else:
                failures[entries[i].name] = error
                status[i] = 2
            if time.monotonic() - last_flush > FLUSH_SECONDS:
                clips.flush()
                _save_status(folder, status, failures)
                last_flush = time.monotonic()
        clips.flush()
        _save_status(folder, status, failures)
        good = np.flatnonzero(status == 1)
        if not len(good):
            raise DataError(f"dataset '{spec.name}': none of the {len(entries)} {split} videos under "
                            f"{manifest.root} decodes; run 'vddbench data verify' to see why")
        if len(good) < len(entries):
            (folder / "compacting").touch()
            for j, i in enumerate(good):  # j <= i: a forward copy never overwrites a clip still needed
                if i != j:
                    clips[j] = clips[i]
            clips.flush()
        del clips
        os.truncate(path, len(good) * int(np.prod(spec.clip.shape)))
        np.save(folder / "labels.npy", np.array([entries[i].label for i in good], dtype=np.int64))
        _write_json(folder / "meta.json", {
            "dataset": spec.name, "split": split, "count": int(len(good)), "clip": list(spec.clip.shape),
            "names": [entries[i].name for i in good], "failures": failures, "layout": manifest.layout,
            "root": str(manifest.root), "format": CACHE_FORMAT})
        (folder / "compacting").unlink(missing_ok=True)
    return folder


def load(spec: DatasetSpec, manifest: Manifest, split: str, progress: bool = True) -> CachedSplit:
    """``split`` as a read-only memory-mapped split, decoding it first if needed."""
    folder = build(spec, manifest, split, progress)
    meta = json.loads((folder / "meta.json").read_text())
    labels = np.load(folder / "labels.npy")
    path, expected = folder / "clips.u8", meta["count"] * int(np.prod(spec.clip.shape))
    size = path.stat().st_size if path.exists() else 0
    if size != expected:  # truncated or replaced behind our back: np.memmap would fail obscurely
        raise DataError(f"clip cache file {path} has {size} bytes, expected {expected}; delete {folder} "
                        f"and run again to decode {spec.name}/{split} anew")
    clips = np.memmap(path, np.uint8, "r", shape=(meta["count"], *spec.clip.shape))
    coverage = {s: split_coverage(spec, manifest, s) for s in ("train", "test")}
    coverage["layout"] = manifest.layout
    source_bytes = None
    if not manifest.rawframes:
        sizes = {e.name: e.path.stat().st_size for e in manifest.present(split) if e.path.is_file()}
        source_bytes = sum(sizes.get(name, 0) for name in meta["names"])
    return CachedSplit(f"{spec.name}/{split}", clips, labels, spec.num_classes, coverage, meta["names"],
                       source_bytes)

