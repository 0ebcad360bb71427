"""Records (one JSON file per cell and student, written atomically) and where they live.

Layout of a results directory::

    records/<protocol_id>/<dataset>/<distiller>/<cell_key>--<student>.json
    artifacts/<protocol_id>/<cell_key>.safetensors  (+ .json: its sha256 and distillation costs)
    teachers/<protocol_id>/<dataset>/<student>-seed<seed>.safetensors
    locks/<protocol_id>/<cell_key>.lock  (held while a process computes the cell)

A record is written with a temporary file, fsync and rename, so a killed run leaves either the whole
record or nothing. A rerun skips cells whose records are all ``ok``; failed ones are retried.

Every reader goes through :func:`load_record`, so ``run``, ``leaderboard`` and ``promote`` agree on
what a record is: a readable JSON object of this schema version with the fields the board needs.
A record that is not is named in one line; ``run`` computes its cell again.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .errors import ResultsError

SCHEMA_VERSION = 1


def write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk or a read-only folder: name the file, not a traceback
            what = "the disk is full; free some space" if exc.errno == errno.ENOSPC else "check its folder"
            raise ResultsError(f"cannot write {path} ({exc.strerror or exc}); {what} and run again") from None
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ResultsError(f"cannot read record {path}: {exc}; delete it and rerun to recompute it") from exc


# -- record validation: the one place that decides what a record file is --------------------------
def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def record_problem(record: Any) -> str | None:
    """What is wrong with a parsed record (None: nothing). Checks what runs and boards rely on."""
    if not isinstance(record, dict):
        return f"holds a JSON {type(record).__name__}, not a record object"
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        return f"has schema_version {version!r}; this vddbench reads {SCHEMA_VERSION}"
    expected = {"status": str, "protocol_id": str, "dataset": str, "student": str, "seed": int, "distiller": dict}
    for key, kind in expected.items():
        if not isinstance(record.get(key), kind):
            return f"lacks '{key}'" if key not in record else f"has a malformed '{key}'"
    if not isinstance(record["distiller"].get("name"), str):
        return "lacks 'distiller.name'"
    if "ipc" not in record or not (record["ipc"] is None or isinstance(record["ipc"], int)):
        return "lacks 'ipc'" if "ipc" not in record else "has a malformed 'ipc'"
    if record["status"] == "ok":
        metrics = record.get("metrics")
        if not isinstance(metrics, dict) or not metrics or not all(_number(v) for v in metrics.values()):
            return "is 'ok' but lacks numeric 'metrics'"
        if not _number(record.get("storage_bytes")) or not isinstance(record.get("costs"), dict):
            return "is 'ok' but lacks 'storage_bytes' or 'costs'"
    elif record["status"] == "failed":
        if not isinstance(record.get("error"), dict):
            return "is 'failed' but lacks its 'error'"
    else:
        return f"has status {record['status']!r} (expected 'ok' or 'failed')"
    return None


def read_record(path: Path | str) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)`` for a valid record file, else ``(None, what is wrong with it)``."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        return None, f"cannot be read ({exc})"
    problem = record_problem(record)
    return (None, problem) if problem else (record, None)


def load_record(path: Path | str) -> dict[str, Any]:
    """A valid record from ``path``, or a ResultsError naming the file and what to do."""
    record, problem = read_record(path)
    if problem:
        raise ResultsError(f"record {path} {problem}; delete it, or run 'vddbench run' on its results "
                           f"directory to compute it again")
    return record


@dataclass
class PromoteReport:
    promoted: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each: which file and why


class ResultStore:
    """A results directory: records, saved artifacts and cached teachers."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def check_writable(self, flag: str = "--results", what: str = "results directory") -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-probe"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ResultsError(f"{what} {self.root} is not writable ({exc.strerror}); pass {flag} DIR") from None

    def record_path(self, protocol_id: str, dataset: str, distiller: str, cell_key: str, student: str) -> Path:
        return self.root / "records" / protocol_id / dataset / distiller / f"{cell_key}--{student}.json"

    def artifact_path(self, protocol_id: str, cell_key: str) -> Path:
        return self.root / "artifacts" / protocol_id / f"{cell_key}.safetensors"

    def teacher_path(self, protocol_id: str, dataset: str, student: str, seed: int) -> Path:
        return self.root / "teachers" / protocol_id / dataset / f"{student}-seed{seed}.safetensors"

    def lock_path(self, protocol_id: str, cell_key: str) -> Path:
        return self.root / "locks" / protocol_id / f"{cell_key}.lock"

    def is_done(self, path: Path) -> bool:
        """An ``ok`` record of this schema is there. Anything else (missing, failed, malformed, another
        schema version) is not done: ``run`` computes it again, as the leaderboard tells the user to."""
        try:
            return load_record(path)["status"] == "ok"
        except ResultsError:
            return False

    def record_files(self) -> list[Path]:
        return sorted((self.root / "records").glob("*/*/*/*.json"))

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, validated; the first bad one is a ResultsError (with how many more there are)."""
        files = self.record_files()
        if not files:
            raise ResultsError(f"no records under {self.root / 'records'}; pass --records DIR of a results "
                               f"directory (see 'vddbench run --results')")
        bad: list[str] = []
        records = []
        for path in files:
            try:
                records.append(load_record(path))
            except ResultsError as exc:
                bad.append(str(exc))
        if bad:
            more = f" ({len(bad) - 1} more record(s) have problems)" if len(bad) > 1 else ""
            raise ResultsError(bad[0] + more)
        yield from records

    def promote_to(self, target: "ResultStore") -> PromoteReport:
        """Copy valid records into ``target``, never replacing an ok record there with a failed one."""
        files = self.record_files()
        if not files:
            where = "does not exist" if not self.root.is_dir() else "holds no records"
            raise ResultsError(f"results directory {self.root} {where}; pass --results DIR of a run")
        target.check_writable("--to", "official results directory")
        report = PromoteReport()
        for path in files:
            dest = target.root / path.relative_to(self.root)
            record, problem = read_record(path)
            if problem:
                report.skipped.append(f"{path} {problem}")
                continue
            there = _schema_version(dest)
            if isinstance(there, int) and there > SCHEMA_VERSION:
                report.skipped.append(f"{path}: {dest} has the newer schema_version {there}; kept it")
            elif record["status"] != "ok" and target.is_done(dest):
                report.skipped.append(f"{path} failed and {dest} is ok; kept the ok record")
            else:
                write_bytes_atomic(dest, path.read_bytes())
                report.promoted.append(dest)
        return report


def _schema_version(path: Path) -> Any:
    try:
        return json.loads(path.read_text()).get("schema_version")
    except (OSError, ValueError, AttributeError):
        return None
