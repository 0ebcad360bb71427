"""Records (one JSON file per cell and student, written atomically) and where they live.

Layout of a results directory::

    records/<protocol_id>/<dataset>/<distiller>/<cell_key>--<student>.json
    artifacts/<protocol_id>/<cell_key>.safetensors  (+ .json: distillation costs)
    teachers/<protocol_id>/<dataset>/<student>-seed<seed>.safetensors

A record is written with a temporary file, fsync and rename, so a killed run leaves either the whole
record or nothing. A rerun skips cells whose records are all ``ok``; failed ones are retried.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import ResultsError

SCHEMA_VERSION = 1


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ResultsError(f"cannot read record {path}: {exc}; delete it and rerun to recompute it") from exc


class ResultStore:
    """A results directory: records, saved artifacts and cached teachers."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-probe"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ResultsError(
                f"results directory {self.root} is not writable ({exc.strerror}); pass --results DIR"
            ) from None

    def record_path(self, protocol_id: str, dataset: str, distiller: str, cell_key: str, student: str) -> Path:
        return self.root / "records" / protocol_id / dataset / distiller / f"{cell_key}--{student}.json"

    def artifact_path(self, protocol_id: str, cell_key: str) -> Path:
        return self.root / "artifacts" / protocol_id / f"{cell_key}.safetensors"

    def teacher_path(self, protocol_id: str, dataset: str, student: str, seed: int) -> Path:
        return self.root / "teachers" / protocol_id / dataset / f"{student}-seed{seed}.safetensors"

    def is_done(self, path: Path) -> bool:
        return path.exists() and read_json(path).get("status") == "ok"

    def record_files(self) -> list[Path]:
        return sorted((self.root / "records").glob("*/*/*/*.json"))

    def records(self) -> Iterator[dict[str, Any]]:
        for path in self.record_files():
            record = read_json(path)
            if record.get("schema_version") != SCHEMA_VERSION:
                raise ResultsError(
                    f"record {path} has schema_version {record.get('schema_version')}, this vddbench "
                    f"reads {SCHEMA_VERSION}; rerun the cell or use a matching vddbench"
                )
            yield record
