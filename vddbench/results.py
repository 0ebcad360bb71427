"""Records (one JSON file per cell and student, written atomically), where they live, and promote.

Layout of a results directory::

    records/<protocol_id>/<dataset>/<distiller>/<cell_key>--<student>.json
    records/<protocol_id>/protocol.json  (the protocol's canonical JSON: its sha256 is the id)
    artifacts/<protocol_id>/<cell_key>.safetensors  (+ .json: its sha256 and distillation costs)
    teachers/<protocol_id>/<dataset>/<student>-seed<seed>.safetensors
    locks/<protocol_id>/<cell_key>.lock  (held while a process computes the cell)

A record is written with a temporary file, fsync and rename, so a killed run leaves either the whole
record or nothing. A rerun skips cells whose records are all ``ok``; failed ones are retried.

Every reader goes through :class:`Record` (``from_json`` validates, ``to_json`` gives back every
field, unknown ones included), so ``run``, ``leaderboard`` and ``promote`` agree on what a record
is: a readable JSON object of this schema version with the fields the board needs. A record that
is not is named in one line; ``run`` computes its cell again.

``protocol.json`` keeps a board renderable after the code stops defining its protocol: ``promote``
writes it for every protocol id the target holds (copied from the run, or from the protocol the
code defines under the records' protocol name).
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import ResultsError

SCHEMA_VERSION = 1
PROTOCOL_FILE = "protocol.json"


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


# Optional fields the board reads, with the type they must have when present (absent: the default).
_OPTIONAL_KINDS = {"scoring": str, "soft_labels": bool, "eval_augmentation": bool, "own_eval_recipe": bool}
SCORINGS = ("own", "plain")


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
    if not isinstance(record["distiller"].get("params", {}), dict):
        return "has a malformed 'distiller.params'"
    if "ipc" not in record or not (record["ipc"] is None or isinstance(record["ipc"], int)):
        return "lacks 'ipc'" if "ipc" not in record else "has a malformed 'ipc'"
    for key, kind in _OPTIONAL_KINDS.items():
        if key in record and not isinstance(record[key], kind):
            return f"has a malformed '{key}'"
    if record.get("scoring", "own") not in SCORINGS:
        return f"has scoring {record['scoring']!r} (expected 'own' or 'plain')"
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


# -- the typed record ---------------------------------------------------------------------------------
def _from_fields(cls, data: dict[str, Any], convert: dict[str, Any] | None = None):
    """``cls`` from a dict: its declared fields (converted where ``convert`` says), the rest in
    ``extra``; which declared fields were absent is remembered, so ``to_json`` leaves them out."""
    names = [f.name for f in dataclasses.fields(cls) if f.name not in ("extra", "absent")]
    values = {k: (convert[k](data[k]) if convert and k in convert else copy.deepcopy(data[k]))
              for k in names if k in data}
    extra = {k: copy.deepcopy(v) for k, v in data.items() if k not in names}
    return cls(**values, extra=extra, absent=frozenset(k for k in names if k not in data))


def _to_fields(obj) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(obj):
        if f.name in ("extra", "absent") or f.name in obj.absent:
            continue
        value = getattr(obj, f.name)
        out[f.name] = value.to_json() if hasattr(value, "to_json") else copy.deepcopy(value)
    return {**copy.deepcopy(obj.extra), **out}


@dataclass(frozen=True)
class DistillerRef:
    """Which distiller (and hyper-parameters, and package) a record is of."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    distribution: str | None = None
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    absent: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DistillerRef:
        return _from_fields(cls, data)

    def to_json(self) -> dict[str, Any]:
        return _to_fields(self)

    @property
    def params_key(self) -> str:
        """The hyper-parameters as sorted JSON: rows of one distiller differ by it."""
        return json.dumps(self.params, sort_keys=True)


@dataclass(frozen=True)
class Record:
    """One (cell, student) result. ``Record.from_json(d).to_json() == d`` for every valid ``d``:
    fields this class does not name are kept in ``extra``, absent optional ones stay absent."""

    schema_version: int
    status: str  # "ok" or "failed"
    protocol_id: str
    dataset: str
    student: str
    seed: int
    ipc: int | None  # None: the ``full`` reference (the whole training split)
    distiller: DistillerRef
    protocol: str | None = None  # the protocol's name (its id is what counts)
    cell_key: str | None = None
    scoring: str = "own"  # "plain": the same artifact with hard labels, no augmentation, the protocol's recipe
    protocol_student: bool | None = None
    metric: str | None = None  # the metric the board shows
    metrics: dict[str, float] = field(default_factory=dict)
    storage_bytes: float | None = None
    storage_basis: str | None = None
    num_videos: int | None = None
    artifact_sha256: str | None = None
    soft_labels: bool = False  # marked † on the board
    eval_augmentation: bool = False  # ‡
    own_eval_recipe: bool = False  # §: students trained with the distiller's own recipe (``eval_recipe``)
    eval_recipe: dict[str, Any] | None = None
    costs: dict[str, float] = field(default_factory=dict)
    error: dict[str, Any] | None = None  # a failed record's phase, type, message and traceback
    environment: dict[str, Any] | None = None
    determinism: dict[str, Any] | None = None
    data_coverage: dict[str, Any] | None = None
    cached_inputs: Any = None
    split_storage: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # fields of newer writers, kept as they are
    absent: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any, source: Path | str | None = None) -> Record:
        """A validated record; a ResultsError with :func:`record_problem`'s one line otherwise
        (naming ``source``, the file, when given)."""
        problem = record_problem(data)
        if problem:
            where = f"record {source}" if source is not None else "record"
            raise ResultsError(f"{where} {problem}; delete it, or run 'vddbench run' on its results "
                               f"directory to compute it again")
        return _from_fields(cls, data, {"distiller": DistillerRef.from_json})

    @classmethod
    def load(cls, path: Path | str) -> Record:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ResultsError(f"record {path} cannot be read ({exc}); delete it, or run 'vddbench run' on its "
                               f"results directory to compute it again") from None
        return cls.from_json(data, path)

    def to_json(self) -> dict[str, Any]:
        return _to_fields(self)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def row_key(self) -> tuple[str, str]:
        """A board row: the distiller and its hyper-parameters."""
        return self.distiller.name, self.distiller.params_key


def read_record(path: Path | str) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)`` for a valid record file, else ``(None, what is wrong with it)``."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        return None, f"cannot be read ({exc})"
    problem = record_problem(record)
    return (None, problem) if problem else (record, None)


def load_record(path: Path | str) -> dict[str, Any]:
    """A valid record (as its JSON dict) from ``path``, or a ResultsError naming the file and what to do."""
    record, problem = read_record(path)
    if problem:
        raise ResultsError(f"record {path} {problem}; delete it, or run 'vddbench run' on its results "
                           f"directory to compute it again")
    return record


# -- protocol.json ------------------------------------------------------------------------------------
def protocol_id_of(canonical_json: str) -> str:
    """The id a protocol's canonical JSON hashes to (``Protocol.protocol_id``)."""
    return hashlib.sha256(canonical_json.encode()).hexdigest()[:12]


def defined_protocol_json(name: str | None, protocol_id: str) -> str | None:
    """The canonical JSON of the protocol this code defines as ``name``, if its id is ``protocol_id``."""
    from .errors import ProtocolError
    from .protocol import get_protocol

    if not name:
        return None
    try:
        protocol = get_protocol(name)
    except ProtocolError:
        return None
    return protocol.canonical_json() if protocol.protocol_id == protocol_id else None


@dataclass
class PromoteReport:
    promoted: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each: which file and why
    protocols: list[Path] = field(default_factory=list)  # protocol.json files written
    notes: list[str] = field(default_factory=list)  # one line each: a protocol id whose JSON is unknown


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

    def protocol_path(self, protocol_id: str) -> Path:
        return self.root / "records" / protocol_id / PROTOCOL_FILE

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

    def typed_records(self) -> list[Record]:
        """Every record, validated; the first bad one is a ResultsError (with how many more there are)."""
        files = self.record_files()
        if not files:
            raise ResultsError(f"no records under {self.root / 'records'}; pass --records DIR of a results "
                               f"directory (see 'vddbench run --results')")
        bad: list[str] = []
        records = []
        for path in files:
            try:
                records.append(Record.load(path))
            except ResultsError as exc:
                bad.append(str(exc))
        if bad:
            more = f" ({len(bad) - 1} more record(s) have problems)" if len(bad) > 1 else ""
            raise ResultsError(bad[0] + more)
        return records

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record as its JSON dict, validated as :meth:`typed_records` does."""
        for record in self.typed_records():
            yield record.to_json()

    # -- protocol.json: what a board of a protocol the code no longer defines renders from --------
    def write_protocol(self, canonical_json: str) -> Path:
        """Keep a protocol's canonical JSON beside its records (exact bytes: its sha256 is the id)."""
        path = self.protocol_path(protocol_id_of(canonical_json))
        write_bytes_atomic(path, canonical_json.encode())
        return path

    def stored_protocol(self, protocol_id: str) -> str | None:
        """The canonical JSON kept for ``protocol_id``, None if there is none; a file that does not
        hash to its id is a ResultsError (it would describe another protocol)."""
        path = self.protocol_path(protocol_id)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ResultsError(f"cannot read {path} ({exc.strerror or exc}); check its folder") from None
        if protocol_id_of(text) != protocol_id:
            raise ResultsError(f"{path} does not hash to {protocol_id} (sha256 {protocol_id_of(text)}…); it is not "
                               f"that protocol's canonical JSON: delete it ('vddbench promote' writes it again "
                               f"where the protocol is defined)")
        return text

    def protocols(self) -> dict[str, dict[str, Any]]:
        """``{protocol id: its canonical JSON, parsed}`` for every id whose protocol.json is kept."""
        found = {}
        for path in sorted((self.root / "records").glob(f"*/{PROTOCOL_FILE}")):
            text = self.stored_protocol(path.parent.name)
            if text is not None:
                found[path.parent.name] = json.loads(text)
        return found

    def promote_to(self, target: ResultStore) -> PromoteReport:
        return promote(self, target)


def promote(source: ResultStore | Path | str, target: ResultStore | Path | str,
            refuse: Callable[[dict], str | None] | None = None) -> PromoteReport:
    """Copy the valid records of a run (``source``) into the official results directory (``target``),
    never replacing an ok record there with a failed one, nor a record of a newer schema, nor one for
    which ``refuse(record)`` gives a reason. Then every protocol id ``target`` holds keeps its
    ``protocol.json``: the run's, else the code's (where the code defines the records' protocol under
    that id); an id with neither is noted."""
    source = source if isinstance(source, ResultStore) else ResultStore(source)
    target = target if isinstance(target, ResultStore) else ResultStore(target)
    files = source.record_files()
    if not files:
        where = "does not exist" if not source.root.is_dir() else "holds no records"
        raise ResultsError(f"results directory {source.root} {where}; pass --results DIR of a run")
    target.check_writable("--to", "official results directory")
    report = PromoteReport()
    names: dict[str, str | None] = {}  # protocol id -> the protocol name its records give
    for path in files:
        dest = target.root / path.relative_to(source.root)
        record, problem = read_record(path)
        if problem:
            report.skipped.append(f"{path} {problem}")
            continue
        reason = refuse(record) if refuse is not None else None
        if reason:
            report.skipped.append(f"{path}: {reason}")
            continue
        names.setdefault(record["protocol_id"], record.get("protocol"))
        there = _schema_version(dest)
        if isinstance(there, int) and there > SCHEMA_VERSION:
            report.skipped.append(f"{path}: {dest} has the newer schema_version {there}; kept it")
        elif record["status"] != "ok" and target.is_done(dest):
            report.skipped.append(f"{path} failed and {dest} is ok; kept the ok record")
        else:
            write_bytes_atomic(dest, path.read_bytes())
            report.promoted.append(dest)
    _keep_protocols(source, target, names, report)
    return report


def _keep_protocols(source: ResultStore, target: ResultStore, names: dict[str, str | None],
                    report: PromoteReport) -> None:
    held = sorted(p.name for p in (target.root / "records").glob("*") if p.is_dir())
    for protocol_id in held:
        try:
            if target.stored_protocol(protocol_id) is not None:
                continue
        except ResultsError:  # a wrong file: replaced below where the right one is known
            pass
        if protocol_id not in names:  # already in target before this promote: its records name it
            names[protocol_id] = _protocol_name(target, protocol_id)
        try:
            text = source.stored_protocol(protocol_id)
        except ResultsError as exc:
            report.notes.append(str(exc))
            text = None
        text = text or defined_protocol_json(names[protocol_id], protocol_id)
        if text is None:
            report.notes.append(f"{target.protocol_path(protocol_id)} is not written: this vddbench does not define "
                                f"protocol id {protocol_id} and the run kept no {PROTOCOL_FILE} for it; its board "
                                f"shows only what its records hold")
            continue
        report.protocols.append(target.write_protocol(text))


def _protocol_name(store: ResultStore, protocol_id: str) -> str | None:
    for path in sorted((store.root / "records" / protocol_id).glob("*/*/*.json")):
        record, _ = read_record(path)
        if record:
            return record.get("protocol")
    return None


def _schema_version(path: Path) -> Any:
    try:
        return json.loads(path.read_text()).get("schema_version")
    except (OSError, ValueError, AttributeError):
        return None
