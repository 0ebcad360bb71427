"""Executors run cells; all of them call :func:`vddbench.runner.run_cell` and write the same records.

An executor is ``run(cells, results_root, on_done)``: it calls ``on_done(cell, outcome)`` once per
cell, where ``outcome`` is the list of records the cell wrote or the exception that stopped it.

* ``local``: worker processes on this machine (the default); a dying worker fails only its own cell.
* ``ray``: one Ray task per cell, on an existing cluster or a local one (``pip install vddbench[ray]``).
* ``slurm``: one SLURM job-array element per cell through submitit (``pip install vddbench[slurm]``).

Each is a ``vddbench.ExecutorSpec`` (name, description, what it needs, its options) registered
through the ``register_executors`` hook, vddbench's own included; ``vddbench run``'s ``--executor``
choices and executor flags, and the keys of its config file, are built from the registry.

Every executor runs a cell with the protocol's fixed torch thread count (``OMP_NUM_THREADS`` for
the process that runs it, ``torch.set_num_threads`` in ``run_cell``), so records do not depend on
where a cell ran. The shared results directory is the source of truth: a rerun runs what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from typing import Protocol as TypingProtocol

from ..errors import ProtocolError, VddbenchError
from ..runner import Cell
from .spec import ExecutorOption, ExecutorSpec

OnDone = Callable[[Cell, Any], None]

# Thread pools a cell's process must size before it imports torch (N cells x k threads <= cores).
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# Driver settings a remote worker must share (plugin selection, clip cache); Ray does not forward them.
FORWARDED_VARS = ("VDDBENCH_LOAD_PLUGINS", "VDDBENCH_CACHE", "VDDBENCH_DECODE_WORKERS")


class Executor(TypingProtocol):
    name: str

    def run(self, cells: list[Cell], results_root: str, on_done: OnDone) -> None: ...


def thread_env(threads: int) -> dict[str, str]:
    """Environment of a process that runs cells with ``threads`` torch threads each."""
    return {var: str(threads) for var in THREAD_VARS}


def forwarded_env() -> dict[str, str]:
    return {var: os.environ[var] for var in FORWARDED_VARS if var in os.environ}


def absolute(cells: list[Cell], results_root: str) -> tuple[list[Cell], str]:
    """Cells and results root with absolute paths, as a job on another node or cwd needs them."""
    import dataclasses

    fixed = [dataclasses.replace(c, data_root=os.path.abspath(c.data_root)) if c.data_root else c for c in cells]
    return fixed, os.path.abspath(results_root)


def input_leaders(cells: list[Cell]) -> dict[Cell, Cell]:
    """``{follower: leader}``: the cells that should wait for another cell to build their cached inputs.

    A distiller whose tags name cached inputs (``needs_teacher``, ``cached_inputs``: the teacher,
    expert trajectories, ...) has them built per dataset and seed, cached in the results directory
    under a file lock (``vddbench.inputs.DiskInputs``), so each is built once whatever the order.
    The lock alone would leave every other cell of the group waiting, holding its CPU or GPU, while
    one of them builds it; so the first cell of each (dataset, seed, distiller) group runs first (the
    first phase) and the others are released when it is done (Ray: held back; SLURM: a second array
    with ``--dependency=afterany`` on the first).
    """
    from ..plugins import get_registry

    distillers = get_registry().distillers
    leaders: dict[tuple, Cell] = {}
    out: dict[Cell, Cell] = {}
    for cell in cells:
        entry = distillers.get(cell.distiller)
        if entry is None or not entry.obj(**cell.params).tags.inputs:
            continue
        group = (cell.protocol_id, cell.dataset, cell.seed, cell.distiller)
        if group in leaders:
            out[cell] = leaders[group]
        else:
            leaders[group] = cell
    return out


# -- the built-in executors, declared like any plugin's (registered by vddbench.default_plugins) ---------------
# Options that several executors take are one flag: declared once here and shared.
WORKERS = ExecutorOption("workers", int, help="parallel cells (local: worker processes, default one per core; "
                                               "ray: tasks in flight; slurm: array parallelism)")
CPUS_PER_CELL = ExecutorOption("cpus-per-cell", float,
                               help="CPUs reserved per cell (default: the protocol's torch threads)")
GPUS_PER_CELL = ExecutorOption("gpus-per-cell", float, aliases=("gpus",), help="GPUs reserved per cell (default: 0)")


def _local(**options: Any) -> Executor:
    from .local import LocalExecutor

    return LocalExecutor(**options)


def _ray(**options: Any) -> Executor:
    from .ray import RayExecutor

    return RayExecutor(**options)


def _slurm(**options: Any) -> Executor:
    from .slurm import SlurmExecutor

    return SlurmExecutor(**options)


BUILTIN_EXECUTORS = (
    ExecutorSpec("local", "worker processes on this machine; a dying worker fails only its own cell", _local,
                 options=(WORKERS,)),
    ExecutorSpec("ray", "one Ray task per cell, on an existing cluster or a local one", _ray, extra="ray",
                 requires=("ray",), options=(
                     WORKERS,
                     ExecutorOption("ray-address", keyword="address",
                                    help="Ray cluster to use (default: $RAY_ADDRESS, else a local one)"),
                     CPUS_PER_CELL, GPUS_PER_CELL)),
    ExecutorSpec("slurm", "one SLURM job-array element per cell, through submitit", _slurm, extra="slurm",
                 requires=("submitit",), options=(
                     WORKERS, CPUS_PER_CELL, GPUS_PER_CELL,
                     ExecutorOption("partition", help="partition"),
                     ExecutorOption("time", help="time limit per cell (minutes or HH:MM:SS; default: 60)"),
                     ExecutorOption("mem", help="memory per cell (e.g. 16G)"),
                     ExecutorOption("slurm-option", repeatable=True, keyword="slurm_options", metavar="KEY=VALUE",
                                    help="any sbatch option (e.g. account=proj)"),
                     ExecutorOption("detach", bool, help="submit and exit; run the same command again to collect"),
                     ExecutorOption("submitit-cluster", keyword="cluster", choices=("slurm", "local"),
                                    help="'local' runs the same jobs on this machine (submitit LocalExecutor)"))),
)


def executor_specs() -> dict[str, ExecutorSpec]:
    """Every registered executor (built-ins first), by name."""
    from ..plugins import get_registry

    entries = get_registry().executors.values()
    ordered = sorted(entries, key=lambda e: e.provider.name != "vddbench")  # stable: built-ins first
    return {entry.name: entry.obj for entry in ordered}


def all_options(specs: dict[str, ExecutorSpec] | None = None) -> dict[str, tuple[ExecutorOption, list[str]]]:
    """``{option name: (option, names of the executors that take it)}`` over every executor.

    Raises a PluginError when two executors declare one name differently (one flag cannot be both).
    """
    from ..errors import PluginError
    from ..plugins import get_registry

    specs = executor_specs() if specs is None else specs
    out: dict[str, tuple[ExecutorOption, list[str]]] = {}
    for spec in specs.values():
        for option in spec.options:
            if option.name in out and out[option.name][0].shape() != option.shape():
                first = out[option.name][1][0]
                entries = get_registry().executors
                who = {n: entries[n].provider.name if n in entries else "?" for n in (first, spec.name)}
                raise PluginError(f"executor '{spec.name}' ({who[spec.name]}) declares option --{option.name} "
                                  f"unlike executor '{first}' ({who[first]}) does (type, repeatable, keyword, "
                                  f"choices and aliases must agree); rename one of them")
            out.setdefault(option.name, (option, []))[1].append(spec.name)
    seen: dict[str, str] = {}  # a flag or keyword -> the option that has it
    for name, (option, takers) in out.items():
        for key in ("--" + option.name, *("--" + a for a in option.aliases), "keyword " + option.keyword):
            if seen.setdefault(key, name) != name:
                raise PluginError(f"executor '{takers[0]}' declares option --{name} with {key}, which option "
                                  f"--{seen[key]} (executor '{out[seen[key]][1][0]}') already has; rename one")
    return out


def add_executor_arguments(parser: Any, reserved: set[str]) -> None:
    """Add ``--executor`` and every registered executor's options to the ``run`` parser.

    ``reserved`` are the destinations the ``run`` command already uses; an executor option that
    would take one of them is a PluginError naming the executor.
    """
    from ..errors import PluginError

    specs = executor_specs()
    reserved = set(reserved) | {"executor"}
    parser.add_argument("--executor", default="local", choices=tuple(specs),
                        help=("where cells run: " + "; ".join(f"{n}: {s.description}" for n, s in specs.items())
                              + " (default: local; see docs/scaleout.md)").replace("%", "%%"))
    group = parser.add_argument_group("executor options", "[brackets] name the executors that take each option")
    for option, takers in all_options(specs).values():
        clash = {n.replace("-", "_") for n in (option.name, *option.aliases)} & reserved
        if clash:
            raise PluginError(f"executor '{takers[0]}' declares option --{option.name}, which vddbench run "
                              f"already uses; rename the option")
        flags = ["--" + n for n in (option.name, *option.aliases)]
        text = f"{option.help} [{', '.join(takers)}]".strip().replace("%", "%%")  # argparse formats % itself
        if option.type is bool:
            group.add_argument(*flags, dest=option.dest, action="store_true", help=text)
            continue
        kwargs: dict[str, Any] = {"dest": option.dest, "default": None, "help": text, "metavar": option.metavar,
                                  "choices": option.choices}
        if option.type is not str:
            kwargs["type"] = option.type
        group.add_argument(*flags, action="append" if option.repeatable else "store", **kwargs)


def _needs(spec: ExecutorSpec) -> None:
    import importlib.util

    for module in spec.requires:
        if importlib.util.find_spec(module) is None:
            hint = f"pip install 'vddbench[{spec.extra}]'" if spec.extra else "it is not installed"
            raise VddbenchError(f"executor '{spec.name}' needs {module}: {hint}")


def get_executor(name: str, **options: Any) -> Executor:
    """The registered executor ``name``, built with ``options`` (keywords; ``threads`` among them).

    An option of another executor must be left unset (None, False or empty); an option this one
    declares and that is unset gets its declared default. Keywords no executor declares (e.g. the
    local executor's ``in_process``) are passed on as they are.
    """
    specs = executor_specs()
    if name not in specs:
        raise ProtocolError(f"unknown executor '{name}' (available: {', '.join(specs)})")
    spec = specs[name]
    _needs(spec)
    declared = {option.keyword: option for option, _ in all_options(specs).values()}
    unused = sorted(k for k, v in options.items()
                    if k in declared and spec.option(k) is None and v not in (None, False, ()))
    if unused:
        raise ProtocolError(f"executor '{name}' does not take {', '.join(declared[u].flag for u in unused)}")
    kwargs = {k: v for k, v in options.items() if k not in declared}
    for option in spec.options:
        value = options.get(option.keyword)
        if value is None or (option.repeatable and not value):
            value = option.default
        if option.repeatable:
            value = tuple(value or ())
        elif option.type is bool:
            value = bool(value)
        kwargs[option.keyword] = value
    return spec.factory(**kwargs)


def executor_options(args: Any, threads: int) -> dict[str, Any]:
    """The executor options of a parsed ``vddbench run`` command line (keyword -> value)."""
    options: dict[str, Any] = {}
    for option, _ in all_options().values():
        value = getattr(args, option.dest, None)
        options[option.keyword] = tuple(value or ()) if option.repeatable else value
    return {"threads": threads, **options}
