"""Saving and reloading artifacts. The harness and the conformance kit share these functions, so
what the kit checks is exactly what a run stores, measures and reloads.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import save

from .distiller import Artifact
from .errors import ResultsError
from .results import write_bytes_atomic


def save_artifact(artifact: Artifact, path: Path | str) -> Path:
    """Write ``artifact`` to ``path`` with safetensors (atomically); the file's bytes are its storage."""
    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in artifact.tensors.items()}
    write_bytes_atomic(path, _canonical(save(tensors, metadata=dict(artifact.metadata) or None)))
    return path


def _canonical(data: bytes) -> bytes:
    """The same file with its JSON header's keys sorted. safetensors writes metadata in hash-map
    order, which changes from call to call, so without this the same artifact hashes differently."""
    n = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8:8 + n]), separators=(",", ":"), sort_keys=True).encode()
    header += b" " * (-len(header) % 8)  # safetensors pads the header to 8 bytes with spaces
    return len(header).to_bytes(8, "little") + header + data[8 + n:]


def load_artifact(path: Path | str) -> Artifact:
    """Read an artifact back from a safetensors file (tensors on the CPU)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return Artifact({k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {}))
    except Exception as exc:  # safetensors' own errors name no file
        raise ResultsError(f"cannot read artifact {path} ({type(exc).__name__}: {exc}); delete it and run "
                           f"again to distil it anew") from exc


def describe(path: Path | str) -> dict[str, Any]:
    """What a record says about a stored artifact: its size in bytes and its sha256."""
    data = Path(path).read_bytes()
    return {"storage_bytes": len(data), "artifact_sha256": hashlib.sha256(data).hexdigest()}


def verified(path: Path | str, expected: dict[str, Any]) -> bool:
    """True if the file at ``path`` still is the artifact ``expected`` (from :func:`describe`) describes."""
    try:
        return describe(path) == {k: expected.get(k) for k in ("storage_bytes", "artifact_sha256")}
    except OSError:
        return False
