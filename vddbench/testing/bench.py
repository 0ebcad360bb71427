"""The bench the checks run on: instrumented distillations on a protocol's first dataset.

One :func:`distil` call does what a harness cell does before evaluation, through the same cell core
(``vddbench.cell``: seed, distil, save, reload, expand), and records what it observed along the way: whether the
training split changed, which dataset splits were loaded, whether anything read the training split
after ``distill`` returned, how long it took. Observations are cached per (distiller, params,
protocol, IPC, seed), so a dozen checks cost a handful of distillations. Runs only observe; each
check asserts its own property, so one broken property fails one check.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from .. import cell as cell_core
from ..artifacts import describe
from ..data import ArraySplit
from ..distiller import Artifact, DistilledVideos, Distiller, DistillTask
from ..inputs import BuildContext, MemoryInputs
from ..plugins import get_registry
from ..protocol import Protocol, get_protocol
from ..runner import Cell
from .watch import GuardedSplit, watch_dataset_loads, watch_file_reads

# Seconds one distillation may take, per protocol. Stated in the failure message; override with
# ``time_budget_s``. Generous on purpose: CI machines are slow and shared.
TIME_BUDGET_S = {"smoke": 60.0, "embedded": 900.0}


@dataclass(frozen=True)
class Options:
    """Where the checks run. ``protocol`` defaults to the seconds-long ``smoke`` protocol."""

    protocol: str = "smoke"
    device: str = "cpu"
    time_budget_s: float | None = None

    @property
    def proto(self) -> Protocol:
        return get_protocol(self.protocol)

    @property
    def budget(self) -> float:
        return self.time_budget_s if self.time_budget_s is not None else TIME_BUDGET_S.get(self.protocol, 900.0)


# -- the protocol's data and models, built once per process -------------------------------------
_SPLITS: dict[str, tuple[ArraySplit, str]] = {}


def training_split(protocol: Protocol) -> tuple[ArraySplit, str]:
    """The protocol's first dataset's training split and its fingerprint (loaded once)."""
    if protocol.protocol_id not in _SPLITS:
        spec = protocol.datasets[0]
        split = get_registry().datasets[spec.source].obj.load(spec, "train", None)
        _SPLITS[protocol.protocol_id] = (split, split.fingerprint())
    return _SPLITS[protocol.protocol_id]


def make_task(protocol: Protocol | str = "smoke", ipc: int = 1, seed: int = 0, device: str = "cpu",
              train=None, on_input: Callable[[str, float], None] | None = None) -> DistillTask:
    """A ``DistillTask`` on the protocol's first dataset, made as the harness makes it, with cached
    inputs (teacher, expert trajectories) built from the pristine training split, kept in memory."""
    protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
    spec = protocol.datasets[0]
    dev = torch.device(device)
    pristine = training_split(protocol)[0]
    inputs = MemoryInputs(BuildContext(protocol, spec, seed, dev, lambda: pristine))
    return cell_core.make_task(protocol, spec, train if train is not None else pristine, ipc, seed, dev, inputs,
                               on_input=on_input)


# -- one instrumented distillation ----------------------------------------------------------------
@dataclass
class Run:
    """What one distillation did. ``error`` is set (with the phase) if it could not finish."""

    name: str
    ipc: int | None
    seed: int
    device: str
    error: str | None = None
    error_type: type | None = None
    phase: str = ""
    seconds: float = 0.0
    path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)
    artifact: Artifact | None = None
    data: DistilledVideos | None = None  # expanded from the reloaded file (what the harness trains on)
    in_memory: DistilledVideos | None = None  # expanded from the artifact as distill returned it
    in_memory_error: str | None = None
    split_changed: bool = False
    distill_loads: list[str] = field(default_factory=list)
    expand_loads: list[str] = field(default_factory=list)
    expand_files: list[str] = field(default_factory=list)
    late_reads: int = 0
    input_calls: list[str] = field(default_factory=list)  # the kinds of cached input it asked for
    input_seconds: float = 0.0  # building cached inputs (teacher, experts) is the harness's work, not the distiller's

    def on_input(self, kind: str, seconds: float) -> None:
        self.input_calls.append(kind)
        self.input_seconds += seconds

    @property
    def where(self) -> str:
        ipc = "" if self.ipc is None else f" at IPC {self.ipc}"
        return f"{ipc} (seed {self.seed}, device {self.device})"

    def require(self) -> "Run":
        """The run, or an assertion naming the distiller if it did not finish."""
        if self.error is not None:
            raise AssertionError(f"distiller '{self.name}' should {self.phase}{self.where} without error; "
                                 f"got {self.error}")
        return self


_WORKDIR: Path | None = None
_CACHE: dict[tuple, Run] = {}
_CACHE_SIZE = 32


def _workdir() -> Path:
    global _WORKDIR
    if _WORKDIR is None:
        _WORKDIR = Path(tempfile.mkdtemp(prefix="vddbench-check-"))
        atexit.register(shutil.rmtree, _WORKDIR, True)
    return _WORKDIR


def clear_cache() -> None:
    """Forget cached distillations (e.g. after changing a distiller in place)."""
    for run in _CACHE.values():
        if run.path:
            run.path.unlink(missing_ok=True)
    _CACHE.clear()


def _error(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _cloned(data: DistilledVideos) -> DistilledVideos:
    return DistilledVideos(data.videos.detach().clone(), data.labels.detach().clone())


def distil(cls: type[Distiller], params: dict[str, Any], opts: Options, ipc: int | None, seed: int | None = None,
           device: str | None = None, forbid_test: bool = False, cached: bool = True) -> Run:
    """Distil one cell as the harness would (same seeding, same save and reload) and observe it."""
    protocol = opts.proto
    spec = protocol.datasets[0]
    seed = protocol.seeds[0] if seed is None else seed
    device = device or opts.device
    params_json = json.dumps(params, sort_keys=True)
    key = (cls, params_json, protocol.protocol_id, ipc, seed, device, forbid_test)
    if cached and key in _CACHE:
        return _CACHE[key]
    name = cls.name if isinstance(cls.name, str) else repr(cls.name)
    cell = Cell(protocol.name, protocol.protocol_id, spec.name, name, params_json, ipc, seed, protocol.students)
    pristine, fingerprint = training_split(protocol)
    train = GuardedSplit(pristine)
    run = Run(name, ipc, seed, device)
    task = make_task(protocol, ipc or 0, seed, device, train, on_input=run.on_input)
    test_rule = (lambda split: f"distiller '{name}' should never read the test split; got a request for it "
                               f"while distilling" if split == "test" else None) if forbid_test else (lambda s: None)
    run.phase = "distil"
    threads = torch.get_num_threads()
    torch.set_num_threads(protocol.torch_threads)  # as run_cell does, so timings mean the same
    try:
        distiller = cls(**params)
        with watch_dataset_loads(run.distill_loads, test_rule):
            start = time.perf_counter()
            try:
                artifact = cell_core.distill(distiller, task, cell.key)  # seeded as in a run
            finally:
                run.seconds = time.perf_counter() - start - run.input_seconds
        train.closed = True
        run.artifact = artifact
        run.phase = "save its artifact"
        run.path = _workdir() / f"{cell.key}-{len(_CACHE)}-{time.monotonic_ns()}.safetensors"
        reloaded = cell_core.save_and_reload(artifact, run.path)
        run.info = describe(run.path)
        run.phase = "expand its reloaded artifact"
        with watch_dataset_loads(run.expand_loads), watch_file_reads(run.expand_files):
            run.data = _cloned(distiller.expand(reloaded))
            try:
                run.in_memory = _cloned(distiller.expand(artifact))
            except Exception as exc:
                run.in_memory_error = _error(exc)
    except Exception as exc:
        run.error, run.error_type = _error(exc), type(exc)
    finally:
        torch.set_num_threads(threads)
        train.closed = False
        run.late_reads = train.late_reads
        try:
            run.split_changed = train.fingerprint() != fingerprint
        except Exception:  # the split was damaged beyond reading
            run.split_changed = True
    if not cached:
        if run.path:
            run.path.unlink(missing_ok=True)  # only its sha256 and outputs are kept
        return run
    if len(_CACHE) >= _CACHE_SIZE:
        evicted = _CACHE.pop(next(iter(_CACHE)))
        if evicted.path:
            evicted.path.unlink(missing_ok=True)
    _CACHE[key] = run
    return run
