"""Executors run cells; all of them call :func:`vddbench.runner.run_cell` and write the same records.

An executor is ``run(cells, results_root, on_done)``: it calls ``on_done(cell, outcome)`` once per
cell, where ``outcome`` is the list of records the cell wrote or the exception that stopped it.

* ``local``: worker processes on this machine (the default); a dying worker fails only its own cell.
* ``ray``: one Ray task per cell, on an existing cluster or a local one (``pip install vddbench[ray]``).
* ``slurm``: one SLURM job-array element per cell through submitit (``pip install vddbench[slurm]``).

Every executor runs a cell with the protocol's fixed torch thread count (``OMP_NUM_THREADS`` for
the process that runs it, ``torch.set_num_threads`` in ``run_cell``), so records do not depend on
where a cell ran. The shared results directory is the source of truth: a rerun runs what is missing.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Protocol as TypingProtocol

from ..errors import ProtocolError, VddbenchError
from ..runner import Cell

OnDone = Callable[[Cell, Any], None]

EXECUTORS = ("local", "ray", "slurm")
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


def _needs(module: str, extra: str, executor: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise VddbenchError(f"executor '{executor}' needs {module}: pip install 'vddbench[{extra}]'")


def get_executor(name: str, **options: Any) -> Executor:
    """The executor ``name`` (local, ray or slurm); an option it does not take must be left unset."""
    if name == "local":
        from .local import LocalExecutor as cls
    elif name == "ray":
        _needs("ray", "ray", name)
        from .ray import RayExecutor as cls
    elif name == "slurm":
        _needs("submitit", "slurm", name)
        from .slurm import SlurmExecutor as cls
    else:
        raise ProtocolError(f"unknown executor '{name}' (available: {', '.join(EXECUTORS)})")
    import inspect

    accepted = inspect.signature(cls.__init__).parameters
    unused = sorted(k for k, v in options.items() if k not in accepted and v not in (None, False, ()))
    if unused:
        flags = ", ".join("--" + _FLAGS.get(u, u).replace("_", "-") for u in unused)
        raise ProtocolError(f"executor '{name}' does not take {flags}")
    return cls(**{k: v for k, v in options.items() if k in accepted})


_FLAGS = {"address": "ray-address", "slurm_options": "slurm-option", "cluster": "submitit-cluster"}


def executor_options(args: Any, threads: int) -> dict[str, Any]:
    """The executor options of a parsed ``vddbench run`` command line."""
    names = ("workers", "ray_address", "cpus_per_cell", "gpus_per_cell", "partition", "time", "mem",
             "slurm_option", "submitit_cluster", "detach")
    options = {n: getattr(args, n, None) for n in names}
    options["address"] = options.pop("ray_address")
    options["slurm_options"] = tuple(options.pop("slurm_option") or ())
    options["cluster"] = options.pop("submitit_cluster")
    return {"threads": threads, **options}
