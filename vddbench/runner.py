"""Grid -> cells -> records. ``run_cell`` is the unit of work every executor runs.

A cell ``(protocol, dataset, distiller + params, ipc, seed)`` is distilled once; its artifact is
saved with safetensors, measured, reloaded and expanded, then every student of the protocol is
trained on it and scored. Each (cell, student) becomes one record.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import platform
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import cell as cell_core
from .artifacts import describe, load_artifact, save_artifact, verified
from .costs import Measure
from .device import NondeterminismLog, configure, resolve_device, settings
from .device import describe as describe_device
from .distiller import Artifact, DistilledVideos, Distiller
from .errors import DataError, DistillerError, ProtocolError, ResultsError
from .evaluate import score, train, train_student
from .inputs import BuildContext, DiskInputs
from .plugins import get_registry
from .protocol import Protocol, all_protocols, get_protocol
from .results import SCHEMA_VERSION, ResultStore, write_json_atomic
from .seeding import stable_seed
from .split_reference import check_reference, is_split_reference, split_storage
from .students import build_student

__all__ = ["Cell", "CellRun", "plan", "run_cell", "stable_seed"]


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
    # The decoupled score: for a soft-label (†) or evaluation-augmenting (‡) distiller, the protocol
    # student is also trained on the same artifact with hard labels and no augmentation ("plain").
    plain_student: str | None = None
    # cpu, cuda or cuda:N; None: CUDA when the process that runs the cell has one. Not in the key:
    # a cell computed on a GPU is the same cell (the record says which device computed it).
    device: str | None = field(default=None, compare=False)

    @property
    def slots(self) -> tuple[str, ...]:
        """One name per record the cell writes: its students, then ``<student>--plain``."""
        plain = (f"{self.plain_student}{PLAIN_SUFFIX}",) if self.plain_student else ()
        return self.students + plain

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


PLAIN_SUFFIX = "--plain"


def split_slot(slot: str) -> tuple[str, str]:
    """``(student, scoring)``: scoring is "own" (the method's labels and augmentation) or "plain"."""
    student, plain, _ = slot.partition(PLAIN_SUFFIX)
    return student, ("plain" if plain else "own")


def parse_distiller(entry: str) -> tuple[str, dict[str, Any]]:
    """``NAME`` or ``NAME{JSON}`` -> (name, hyper-parameters that override its protocol defaults)."""
    name, brace, rest = entry.partition("{")
    if not brace:
        return name.strip(), {}
    try:
        overrides = json.loads(brace + rest)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"distiller '{entry}': what follows the name is not a JSON object ({exc.msg}); "
                            f"write NAME{{\"param\": value}}, quoted for the shell") from None
    return name.strip(), overrides


def protocol_configuration(cls: type[Distiller], protocol: str) -> dict[str, Any]:
    """The hyper-parameters of ``cls`` as protocol ``protocol`` configures it: its defaults, then the
    protocol's ``protocol_defaults``."""
    return cls(**cls.defaults_for(protocol)).get_params()


def configured_distiller(entry: str, protocol: str) -> Distiller:
    """The distiller ``entry`` names (``NAME`` or ``NAME{JSON}``), built with its ``protocol`` defaults
    and then the entry's hyper-parameters."""
    name, overrides = parse_distiller(entry)
    cls = resolve_distiller(name)
    known = cls.param_names()
    unknown = [key for key in overrides if key not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ProtocolError(f"distiller '{name}' has no hyper-parameter '{unknown[0]}'{hint} "
                            f"(it has: {', '.join(known) or 'none'})")
    configured = protocol_configuration(cls, protocol)
    for key, value in overrides.items():
        overrides[key] = _as_kind_of(value, configured[key], f"distiller '{name}': {key}", protocol)
    try:
        return cls(**{**cls.defaults_for(protocol), **overrides})
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"distiller '{name}' rejects {json.dumps(overrides)}: {exc}") from None


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
          dict: "an object"}


def _as_kind_of(value: Any, configured: Any, what: str, protocol: str) -> Any:
    """``value`` as a replacement of the hyper-parameter ``configured``: anything where that is None,
    a float where it is a float (so that 100 and 100.0 are one cell), else the same JSON type."""
    if configured is None:
        return value
    if isinstance(configured, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, type(configured)) and isinstance(value, bool) == isinstance(configured, bool):
        return value
    kind = _KINDS.get(type(configured), type(configured).__name__)
    raise ProtocolError(f"{what} should be {kind} (it is {json.dumps(configured)} on protocol '{protocol}'); "
                        f"got {json.dumps(value)}")


def not_the_protocols_configuration(record: dict[str, Any]) -> str | None:
    """Why ``record`` is not of its protocol's configuration of its distiller (hyper-parameters set by
    ``NAME{JSON}``, or defaults that changed since it ran); None when it is, or when this code cannot
    tell (a protocol it no longer defines under that id, a distiller not installed)."""
    name, ran = record["distiller"]["name"], record["distiller"].get("params", {})
    entry = get_registry().distillers.get(name)
    protocol = all_protocols().get(record.get("protocol"))
    if entry is None or protocol is None or protocol.protocol_id != record["protocol_id"]:
        return None
    configured = protocol_configuration(entry.obj, protocol.name)
    differ = {key: ran.get(key) for key in sorted(set(ran) | set(configured)) if ran.get(key) != configured.get(key)}
    if not differ:
        return None
    return (f"distiller '{name}' ran with {json.dumps(differ)}, not protocol '{protocol.name}'s configuration "
            f"(pass --variants to promote it anyway)")


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
         students=None, data_root: str | None = None, device: str | None = None) -> list[Cell]:
    """Every cell of the grid that the filters keep, in a deterministic order. ``distillers`` are
    names or ``NAME{JSON}`` entries (hyper-parameters over the protocol's defaults; default: every
    installed distiller as the protocol configures it). ``device`` (cpu, cuda, cuda:N; None: CUDA
    where present) is where they run; it is not part of a cell's key."""
    entries = distillers or sorted(get_registry().distillers)
    configured = [configured_distiller(entry, protocol.name) for entry in entries]
    dataset_names = _check_subset("dataset", datasets, [d.name for d in protocol.datasets], protocol)
    ipc_list = _check_subset("IPC", ipcs, protocol.ipcs, protocol)
    seed_list = _check_subset("seed", seeds, protocol.seeds, protocol)
    student_list = _check_subset("student", students, protocol.students, protocol)
    cells, seen = [], {}
    for entry, distiller in zip(entries, configured):
        cls = type(distiller)
        params = json.dumps(distiller.get_params(), sort_keys=True)
        if (cls.name, params) in seen:
            raise ProtocolError(f"'{seen[cls.name, params]}' and '{entry}' are the same configuration of "
                                f"distiller '{cls.name}' on protocol '{protocol.name}'; list it once")
        seen[cls.name, params] = entry
        plain = (protocol.protocol_student
                 if distiller.tags.decoupled and protocol.protocol_student in student_list else None)
        for dataset in dataset_names:
            for ipc in (ipc_list if cls.tags.uses_ipc else (None,)):
                for seed in seed_list:
                    students = tuple(s for s in student_list if s in protocol.students_for(seed))
                    cells.append(Cell(protocol.name, protocol.protocol_id, dataset, cls.name, params, ipc,
                                      seed, students, data_root, plain, device))
    return cells


def environment(threads: int, device: torch.device | None = None) -> dict[str, Any]:
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
        **describe_device(device or resolve_device()),
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
        self.device = resolve_device(cell.device)
        configure(self.device)  # deterministic settings of a GPU run (recorded in base_record)
        self.nondeterministic = NondeterminismLog()  # ops that could not follow them
        self._splits: dict[str, Any] = {}
        context = BuildContext(self.protocol, self.spec, cell.seed, self.device, lambda: self.split("train"))
        self.inputs = DiskInputs(context, store.root / "cached")  # the teacher, expert trajectories, ...
        self.input_seconds = 0.0  # building or reading cached inputs: the harness's work, not the distiller's
        self.used_inputs: list[dict[str, Any]] = []  # what the records name (read back with a saved artifact)
        self.own_recipe = self.protocol.recipe  # what "own" scoring trains with (see Distiller.evaluation_recipe)

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
        student, scoring = split_slot(student)
        return {
            "schema_version": SCHEMA_VERSION, "cell_key": c.key, "protocol": c.protocol,
            "protocol_id": c.protocol_id, "dataset": c.dataset, "ipc": c.ipc, "seed": c.seed,
            "student": student, "scoring": scoring, "protocol_student": student == self.protocol.protocol_student,
            "metric": self.spec.metric,
            "distiller": {"name": c.distiller, "params": c.params, "distribution": provider.name,
                          "version": provider.version},
            "environment": environment(self.protocol.torch_threads, self.device),
            "determinism": {**settings(self.device), "nondeterministic_ops": self.nondeterministic.sorted()},
            # real datasets: how much of the listed train/test split this copy held (None: generated)
            "data_coverage": next((s.coverage for s in reversed(list(self._splits.values()))
                                   if getattr(s, "coverage", None)), None),
            "cached_inputs": self.used_inputs,
        }

    # -- phases ----------------------------------------------------------------------------------
    def distill(self) -> tuple[Path, dict[str, Any]]:
        """Distil (unless a saved artifact exists) and return its path and distillation costs."""
        c = self.cell
        path = self.store.artifact_path(c.protocol_id, c.key)
        meta_path = path.with_suffix(".json")
        costs = self.saved_costs(path, meta_path)
        if costs is not None:
            return path, costs
        task = cell_core.make_task(self.protocol, self.spec, self.split("train"), c.ipc or 0, c.seed, self.device,
                                   self.inputs, on_input=self._on_input)
        with Measure(self.device) as m, self.test_split_guard(), self.nondeterministic:
            artifact = cell_core.distill(self.distiller, task, c.key)
        save_artifact(artifact, path)
        costs = m.costs("distill")
        if self.input_seconds:  # building a shared teacher or experts is not the distiller's cost
            costs["distill_seconds"] = round(max(0.0, costs["distill_seconds"] - self.input_seconds), 3)
            costs["cached_input_seconds"] = round(self.input_seconds, 3)
        self.used_inputs = self.inputs.describe_used()
        # its sha256 (checked on reuse) and the cached inputs it was made with
        write_json_atomic(meta_path, {"costs": costs, "cached_inputs": self.used_inputs, **describe(path)})
        return path, costs

    def _on_input(self, kind: str, seconds: float) -> None:
        self.input_seconds += seconds

    def saved_costs(self, path: Path, meta_path: Path) -> dict[str, Any] | None:
        """The distillation costs of a saved artifact that still matches its sha256, else None.
        A corrupt or half-written pair (a crash, a full disk) is named, deleted and distilled again:
        it is the results directory's fault, not the distiller's."""
        if not path.exists() and not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if verified(path, meta) and isinstance(meta["costs"], dict):
                self.used_inputs = meta.get("cached_inputs", [])
                return meta["costs"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
        print(f"vddbench: warning: saved artifact {path} (or its {meta_path.name}) is missing, corrupt or does "
              f"not match its sha256; deleting it and distilling {self.cell.label()} again", file=sys.stderr)
        path.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
        return None

    @contextmanager
    def test_split_guard(self):
        """The conformance kit's guard, applied in every run: loading the test split while distilling
        breaks a protocol rule, even if the distiller catches the error the guard raises."""
        from .testing.watch import watch_dataset_loads

        loads: list[str] = []
        rule = f"protocol rule broken: distiller '{self.cell.distiller}' should never read the test split; " \
               f"it loaded it while distilling"
        try:
            with watch_dataset_loads(loads, lambda split: rule if split == "test" else None):
                yield
        except Exception:
            if "test" not in loads:
                raise
        if "test" in loads:
            raise RuleViolation(rule)

    def check_rules(self, data: DistilledVideos) -> None:
        """The protocol's rules on what students train on, as far as one run can check them (the kit
        checks the same and more): the output contract (shapes, finite values, labels in range), IPC
        clips per class for exact-IPC distillers, and at least one clip per class."""
        name, classes, ipc = self.cell.distiller, self.spec.num_classes, self.cell.ipc
        try:
            data.validate(name, classes, self.spec.clip)
        except DistillerError as exc:
            raise RuleViolation(f"protocol rule broken: {exc}") from None
        exact = ipc is not None and self.distiller.tags.exact_ipc

        def broken(rule: str, got: str) -> RuleViolation:
            return RuleViolation(f"protocol rule broken: distiller '{name}' should return {rule}; got {got}")

        if data.soft:  # a soft label need not peak at its clip's class: count clips only
            n = len(data.labels)
            if n < classes:
                raise broken("at least one clip per class", f"{n} clips for {classes} classes")
            if exact and n != ipc * classes:
                raise broken(f"exactly {ipc} x {classes} clips at IPC {ipc}", f"{n} clips")
            return
        counts = torch.bincount(data.labels, minlength=classes).tolist()
        if min(counts) < 1:
            raise broken("at least one clip per class", f"per class {counts}")
        if exact and set(counts) != {ipc}:
            raise broken(f"exactly {ipc} clip(s) per class at IPC {ipc}", f"per class {counts}")

    def load(self, path: Path) -> Artifact:
        return load_artifact(path)

    def expand(self, path: Path) -> tuple[Any, dict[str, Any]]:
        """What the students train on, and what the records say about it. An artifact that names
        the training split (``full``) is the split itself, streamed; its storage is the split's."""
        artifact = self.load(path)
        if is_split_reference(artifact):
            train_split = self.split("train")
            check_reference(artifact, train_split)
            return train_split, {**describe(path), **split_storage(train_split), "num_videos": len(train_split),
                                 "soft_labels": False, "eval_augmentation": False}
        data = self.distiller.expand(artifact)
        self.check_rules(data)
        tags = self.distiller.tags
        info = {**describe(path), "storage_basis": "artifact", "num_videos": len(data.videos),
                "soft_labels": data.soft, "eval_augmentation": tags.eval_augmentation,
                "own_eval_recipe": tags.own_eval_recipe}
        if tags.own_eval_recipe:  # the paper's evaluation deviation, recorded in full
            self.own_recipe = self.distiller.evaluation_recipe(artifact, self.protocol.recipe)
            info["eval_recipe"] = dataclasses.asdict(self.own_recipe)
        return data, info

    def run(self) -> list[dict[str, Any]]:
        todo = [s for s in self.cell.slots if not self.store.is_done(self.record_path(s))]
        if not todo:
            return []
        records = []
        try:
            path, costs = self.distill()
            data, artifact_info = self.expand(path)  # full: the training split itself, streamed
        except (ResultsError, DataError):  # a full disk, a corrupt cache file: not the distiller's fault
            raise
        except Exception as exc:  # the grid goes on; the failure is recorded with its traceback
            phase = "protocol" if isinstance(exc, RuleViolation) else "distill"
            for student in todo:
                records.append(self._write(student, {"status": "failed", "error": _error(phase, exc)}))
            return records
        test = self.split("test")
        augment = self.augment() if self.distiller.tags.eval_augmentation else None
        # the decoupled score's data (never for full, whose data is the training split)
        plain = DistilledVideos(data.videos, data.hard_labels()) if self.cell.plain_student else None
        for slot in todo:
            student, scoring = split_slot(slot)
            try:
                seed = stable_seed("student", self.cell.seed, student)  # the same student for both scorings
                with Measure(self.device) as m, self.nondeterministic:
                    model = build_student(student, self.spec.num_classes, self.spec.clip, seed).to(self.device)
                    if scoring == "plain":
                        train_student(model, plain, self.protocol.recipe, seed)
                    else:
                        train(model, data, self.own_recipe, seed, augment)  # a distilled set, or a split
                    metrics = score(model, test)
                result = {"status": "ok", "metrics": metrics, **artifact_info, "costs": {**costs, **m.costs("eval")}}
            except (ResultsError, DataError):
                raise
            except Exception as exc:
                result = {"status": "failed", **artifact_info, "error": _error("evaluate", exc)}
            if scoring == "plain":  # what this record was trained with
                result.update(soft_labels=False, eval_augmentation=False, own_eval_recipe=False)
                result.pop("eval_recipe", None)
            records.append(self._write(slot, result))
        return records

    def augment(self):
        """The distiller's augment_batch as the training loop calls it (``(videos, labels, generator)``)."""
        num_classes = self.spec.num_classes
        return lambda videos, labels, generator: self.distiller.augment_batch(videos, labels, generator, num_classes)

    def _write(self, student: str, result: dict[str, Any]) -> dict[str, Any]:
        record = {**self.base_record(student), "error": None, **result}
        write_json_atomic(self.record_path(student), record)
        return record


def run_cell(cell: Cell, results_root: str) -> list[dict[str, Any]]:
    """Run one cell with the protocol's fixed thread count; returns the records it wrote."""
    protocol = get_protocol(cell.protocol)
    torch.set_num_threads(protocol.torch_threads)
    store = ResultStore(results_root)
    if not store.protocol_path(protocol.protocol_id).exists():  # its board renders even once the code drops it
        store.write_protocol(protocol.canonical_json())
    with cell_lock(store, cell):  # inside the lock: what another run finished meanwhile is skipped
        return CellRun(cell, store).run()


class RuleViolation(DistillerError):
    """A distiller broke a protocol rule that ``run`` enforces (recorded with phase ``protocol``)."""


@contextmanager
def cell_lock(store: ResultStore, cell: Cell):
    """Held while a process computes ``cell``, so two runs on one results directory never compute it
    twice: the second waits, then finds its records done. The kernel drops an flock when its holder
    dies, so a killed run never leaves a cell locked."""
    import fcntl

    path = store.lock_path(cell.protocol_id, cell.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"vddbench: {cell.label()} is being computed by another process; waiting for it", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def record_crash(cell: Cell, results_root: str, reason: str) -> list[dict[str, Any]]:
    """Failed records for a cell whose process died (``reason`` says how: exit code or signal). Only
    its own students that have no ok record get one; it is retried on the next run like any failure."""
    store = ResultStore(results_root)
    with cell_lock(store, cell):
        cell_run = CellRun(cell, store)
        error = {"phase": "worker", "type": "WorkerDied", "message": reason, "traceback": ""}
        return [cell_run._write(s, {"status": "failed", "error": error})
                for s in cell.slots if not store.is_done(cell_run.record_path(s))]


def pending(cells: list[Cell], store: ResultStore) -> list[Cell]:
    """The cells that still miss an ``ok`` record for some student."""
    out = []
    for c in cells:
        paths = [store.record_path(c.protocol_id, c.dataset, c.distiller, c.key, s) for s in c.slots]
        if not all(store.is_done(p) for p in paths):
            out.append(c)
    return out

