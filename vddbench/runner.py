"""Grid -> cells -> records. ``run_cell`` is the unit of work every executor runs.

A cell ``(protocol, dataset, distiller + params, ipc, seed)`` is distilled once; its artifact is
saved with safetensors, measured, reloaded and expanded, then every student of the protocol is
trained on it and scored. Each (cell, student) becomes one record.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import platform
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from .artifacts import describe, load_artifact, save_artifact
from .distiller import Artifact, Distiller, DistillTask
from .errors import ProtocolError
from .evaluate import score, train_student
from .measure import Measure
from .plugins import get_registry
from .protocol import Protocol, get_protocol
from .results import SCHEMA_VERSION, ResultStore, read_json, write_bytes_atomic, write_json_atomic
from .students import build_student


def stable_seed(*parts: Any) -> int:
    """A seed derived from its parts; the same on every machine and Python version."""
    return int.from_bytes(hashlib.sha256(json.dumps(parts).encode()).digest()[:4], "little")


@dataclass(frozen=True)
class Cell:
    protocol: str
    protocol_id: str
    dataset: str
    distiller: str
    params_json: str  # canonical JSON of the hyper-parameters
    ipc: int | None  # None for distillers that ignore the IPC (``full``)
    seed: int
    students: tuple[str, ...]
    data_root: str | None = field(default=None, compare=False)

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)

    @property
    def key(self) -> str:
        ident = [self.protocol_id, self.dataset, self.distiller, self.params_json, self.ipc, self.seed]
        return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:16]

    def label(self) -> str:
        ipc = "full" if self.ipc is None else f"ipc{self.ipc}"
        return f"{self.distiller} {self.dataset} {ipc} seed{self.seed}"


def resolve_distiller(name: str) -> type[Distiller]:
    distillers = get_registry().distillers
    if name not in distillers:
        close = difflib.get_close_matches(name, distillers, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ProtocolError(f"unknown distiller '{name}'{hint} (installed: {', '.join(sorted(distillers))})")
    return distillers[name].obj


def _check_subset(kind: str, asked, allowed, protocol: Protocol) -> tuple:
    if asked is None:
        return tuple(allowed)
    bad = [a for a in asked if a not in allowed]
    if bad:
        raise ProtocolError(
            f"{kind} {', '.join(map(str, bad))} is not in protocol '{protocol.name}' "
            f"(it has: {', '.join(map(str, allowed))})"
        )
    return tuple(a for a in allowed if a in asked)


def plan(protocol: Protocol, distillers: list[str] | None = None, datasets=None, ipcs=None, seeds=None,
         students=None, data_root: str | None = None) -> list[Cell]:
    """Every cell of the grid that the filters keep, in a deterministic order."""
    names = distillers or sorted(get_registry().distillers)
    classes = [resolve_distiller(n) for n in names]
    dataset_names = _check_subset("dataset", datasets, [d.name for d in protocol.datasets], protocol)
    ipc_list = _check_subset("IPC", ipcs, protocol.ipcs, protocol)
    seed_list = _check_subset("seed", seeds, protocol.seeds, protocol)
    student_list = _check_subset("student", students, protocol.students, protocol)
    cells = []
    for cls in classes:
        params = json.dumps(cls(**cls.defaults_for(protocol.name)).get_params(), sort_keys=True)
        for dataset in dataset_names:
            for ipc in (ipc_list if cls.tags.uses_ipc else (None,)):
                for seed in seed_list:
                    cells.append(Cell(protocol.name, protocol.protocol_id, dataset, cls.name, params, ipc,
                                      seed, student_list, data_root))
    return cells


def environment(threads: int) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    def dist_version(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(), "torch": torch.__version__,
        "mmaction2": dist_version("mmaction2"), "vddbench": __version__,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "platform": platform.platform(), "torch_threads": threads,
    }


def _error(phase: str, exc: BaseException) -> dict[str, str]:
    return {"phase": phase, "type": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc))}


class CellRun:
    """Runs one cell in this process; see :func:`run_cell`."""

    def __init__(self, cell: Cell, store: ResultStore):
        self.cell, self.store = cell, store
        self.protocol = get_protocol(cell.protocol)
        if self.protocol.protocol_id != cell.protocol_id:
            raise ProtocolError(f"protocol '{cell.protocol}' changed since the cell was planned; plan again")
        self.spec = self.protocol.dataset(cell.dataset)
        self.entry = get_registry().distillers[cell.distiller]
        self.distiller: Distiller = self.entry.obj(**cell.params)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self._splits: dict[str, Any] = {}

    def split(self, name: str):
        if name not in self._splits:
            source = get_registry().datasets[self.spec.source].obj
            root = Path(self.cell.data_root) if self.cell.data_root else None
            self._splits[name] = source.load(self.spec, name, root)
        return self._splits[name]

    def record_path(self, student: str) -> Path:
        c = self.cell
        return self.store.record_path(c.protocol_id, c.dataset, c.distiller, c.key, student)

    def base_record(self, student: str) -> dict[str, Any]:
        c, provider = self.cell, self.entry.provider
        return {
            "schema_version": SCHEMA_VERSION, "cell_key": c.key, "protocol": c.protocol,
            "protocol_id": c.protocol_id, "dataset": c.dataset, "ipc": c.ipc, "seed": c.seed,
            "student": student, "protocol_student": student == self.protocol.protocol_student,
            "metric": self.spec.metric,
            "distiller": {"name": c.distiller, "params": c.params, "distribution": provider.name,
                          "version": provider.version},
            "environment": environment(self.protocol.torch_threads),
            # real datasets: how much of the listed train/test split this copy held (None: generated)
            "data_coverage": next((s.coverage for s in reversed(list(self._splits.values()))
                                   if getattr(s, "coverage", None)), None),
        }

    # -- the student factories handed to the distiller ------------------------------------------
    def new_student(self, seed: int) -> torch.nn.Module:
        return build_student(self.protocol.protocol_student, self.spec.num_classes, self.spec.clip, seed)

    def teacher(self, arch: str | None) -> torch.nn.Module:
        """Train (or load the cached) teacher: ``arch`` trained on the whole training split."""
        import fcntl

        from safetensors.torch import load_file

        from .distiller import DistilledVideos

        arch = arch or self.protocol.protocol_student
        seed = stable_seed("teacher", self.cell.seed, arch)
        path = self.store.teacher_path(self.cell.protocol_id, self.cell.dataset, arch, self.cell.seed)
        model = build_student(arch, self.spec.num_classes, self.spec.clip, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:  # one builder; others wait, then load
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                train = self.split("train")
                everything = DistilledVideos(train.clips(slice(0, len(train))), train.labels)
                train_student(model.to(self.device), everything, self.protocol.teacher_training, seed)
                write_bytes_atomic(path, save({k: v.contiguous().cpu() for k, v in model.state_dict().items()}))
        model.load_state_dict(load_file(str(path)))
        return model.eval()

    # -- phases ----------------------------------------------------------------------------------
    def distill(self) -> tuple[Path, dict[str, Any]]:
        """Distil (unless a saved artifact exists) and return its path and distillation costs."""
        c = self.cell
        path = self.store.artifact_path(c.protocol_id, c.key)
        meta_path = path.with_suffix(".json")
        if path.exists() and meta_path.exists():
            return path, read_json(meta_path)
        train = self.split("train")
        task = DistillTask(train=train, num_classes=self.spec.num_classes, ipc=c.ipc or 0, seed=c.seed,
                           clip=self.spec.clip, dataset=c.dataset, device=self.device,
                           student_factory=self.new_student, teacher_factory=self.teacher)
        with torch.random.fork_rng(devices=[]), Measure(self.device) as m:
            torch.manual_seed(stable_seed("distill", c.key))
            artifact = self.distiller.distill(task)
        if not isinstance(artifact, Artifact):
            raise TypeError(f"distiller '{c.distiller}' should return a vddbench.Artifact; got {type(artifact).__name__}")
        save_artifact(artifact, path)
        costs = {"distill_seconds": round(m.seconds, 3), "distill_peak_mib": round(m.peak_mib, 1)}
        write_json_atomic(meta_path, costs)
        return path, costs

    def load(self, path: Path) -> Artifact:
        return load_artifact(path)

    def run(self) -> list[dict[str, Any]]:
        todo = [s for s in self.cell.students if not self.store.is_done(self.record_path(s))]
        if not todo:
            return []
        records = []
        try:
            path, costs = self.distill()
            data = self.distiller.expand(self.load(path))
            data.validate(self.cell.distiller, self.spec.num_classes, self.spec.clip)
            artifact_info = {**describe(path), "num_videos": len(data.videos), "soft_labels": data.soft,
                             "eval_augmentation": self.distiller.tags.eval_augmentation}
        except Exception as exc:  # the grid goes on; the failure is recorded with its traceback
            for student in todo:
                records.append(self._write(student, {"status": "failed", "error": _error("distill", exc)}))
            return records
        test = self.split("test")
        augment = self.distiller.augment_batch if self.distiller.tags.eval_augmentation else None
        for student in todo:
            try:
                seed = stable_seed("student", self.cell.seed, student)
                with Measure(self.device) as m:
                    model = build_student(student, self.spec.num_classes, self.spec.clip, seed).to(self.device)
                    train_student(model, data, self.protocol.recipe, seed, augment)
                    metrics = score(model, test)
                result = {"status": "ok", "metrics": metrics, **artifact_info,
                          "costs": {**costs, "eval_seconds": round(m.seconds, 3), "eval_peak_mib": round(m.peak_mib, 1)}}
            except Exception as exc:
                result = {"status": "failed", **artifact_info, "error": _error("evaluate", exc)}
            records.append(self._write(student, result))
        return records

    def _write(self, student: str, result: dict[str, Any]) -> dict[str, Any]:
        record = {**self.base_record(student), "error": None, **result}
        write_json_atomic(self.record_path(student), record)
        return record


def run_cell(cell: Cell, results_root: str) -> list[dict[str, Any]]:
    """Run one cell with the protocol's fixed thread count; returns the records it wrote."""
    protocol = get_protocol(cell.protocol)
    torch.set_num_threads(protocol.torch_threads)
    return CellRun(cell, ResultStore(results_root)).run()


def pending(cells: list[Cell], store: ResultStore) -> list[Cell]:
    """The cells that still miss an ``ok`` record for some student."""
    out = []
    for c in cells:
        paths = [store.record_path(c.protocol_id, c.dataset, c.distiller, c.key, s) for s in c.students]
        if not all(store.is_done(p) for p in paths):
            out.append(c)
    return out

