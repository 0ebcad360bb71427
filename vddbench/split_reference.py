"""An artifact that names the training split instead of copying it (the ``full`` reference).

``full`` trains students on the whole training split. Saving it as an artifact would copy the
dataset (24 GB for Kinetics-400) only to read it back; instead its artifact *names* the split
(count, clip shape, a hash of the labels) and the harness trains on the split itself, streamed.
Its storage is the split's bytes, and the record says so (``storage_basis``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from .data import VideoSplit
from .distiller import Artifact
from .errors import DataError

REFERENCE = "vddbench.reference"


def split_reference(split: VideoSplit) -> Artifact:
    """A tiny artifact that stands for ``split`` (it holds no clip)."""
    return Artifact({}, {REFERENCE: "train-split", "split": split.name, "num_videos": str(len(split)),
                         "clip_shape": "x".join(map(str, split.raw([0]).shape[1:])),
                         "labels_sha256": _labels_sha256(split)})


def is_split_reference(artifact: Artifact) -> bool:
    return artifact.metadata.get(REFERENCE) == "train-split"


def check_reference(artifact: Artifact, split: VideoSplit) -> None:
    """Raise a DataError unless ``artifact`` refers to ``split`` (same clips count and labels)."""
    meta = artifact.metadata
    if meta.get("num_videos") != str(len(split)) or meta.get("labels_sha256") != _labels_sha256(split):
        raise DataError(f"the saved 'full' reference was made on another copy of {meta.get('split')} "
                        f"({meta.get('num_videos')} clips; this one has {len(split)}); delete the artifact "
                        f"to run the cell on this copy")


def split_storage(split: VideoSplit) -> dict[str, Any]:
    """What a record of ``full`` says about its storage: the split's uint8 clip bytes (the basis
    every pixel artifact is measured on), and the bytes of its source video files where a manifest
    lists them."""
    return {"storage_bytes": split.nbytes, "storage_basis": "training split",
            "split_storage": {"clips": len(split), "uint8_clip_bytes": split.nbytes,
                              "source_video_bytes": getattr(split, "source_bytes", None)}}


def _labels_sha256(split: VideoSplit) -> str:
    return hashlib.sha256(split.labels.numpy().tobytes()).hexdigest()
