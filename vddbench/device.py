"""Where a cell runs: its device, the random generators forked around each phase, and the
deterministic settings of a GPU run (set, and recorded with the ops that could not follow them).

CPU runs are deterministic at a fixed thread count on one kind of CPU and are left as they are: the
CPU's instruction set picks ATen's and oneDNN's kernels, whose rounding differs from one set to another
(``benchmarks/instruction_set.py``), so records name the CPU and the instruction set in use (``cpu``,
``cpu_capability``). On CUDA the harness
sets ``cudnn.deterministic = True``, ``cudnn.benchmark = False``,
``torch.use_deterministic_algorithms(True, warn_only=True)``, ``CUBLAS_WORKSPACE_CONFIG`` (when
not set already) and turns TF32 off (float32 throughout), so the same cell on the same GPU gives
the same artifact and metrics. With
``warn_only`` an op that has no deterministic CUDA kernel warns instead of failing; the harness
collects those warnings (:class:`NondeterminismLog`) and records the ops' names, so a record says
when its numbers may vary from run to run. Mixed precision is never used (no autocast anywhere).
"""

from __future__ import annotations

import os
import platform
import re
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import torch

from .errors import VddbenchError

CUBLAS_WORKSPACE = ":4096:8"  # what cuBLAS needs for deterministic results (CUDA >= 10.2)
_NONDETERMINISTIC = re.compile(r"^(.*?) does not have a deterministic implementation")


def resolve_device(name: str | None = None) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a torch device; None or ``auto``: CUDA when present.
    ``cuda`` becomes ``cuda:<current device>`` so that every phase names the same GPU."""
    if name in (None, "", "auto"):
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise VddbenchError(f"device '{name}' is not one of cpu, cuda, cuda:N") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise VddbenchError(f"device '{name}': vddbench runs on cpu or cuda, not {device.type}")
    if not torch.cuda.is_available():
        build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise VddbenchError(f"device '{name}': no CUDA device is visible here (torch {torch.__version__}, {build}); "
                            f"use --device cpu")
    index = torch.cuda.current_device() if device.index is None else device.index
    if index >= torch.cuda.device_count():
        raise VddbenchError(f"device '{name}': there are {torch.cuda.device_count()} CUDA device(s) here "
                            f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    return torch.device("cuda", index)


@contextmanager
def forked_rng(device: torch.device | str) -> Iterator[None]:
    """``torch.random.fork_rng`` over the CPU generator and, on CUDA, the device's generator: what
    a phase seeds and draws leaves the caller's random state as it was."""
    device = torch.device(device)
    devices = ([device.index if device.index is not None else torch.cuda.current_device()]
               if device.type == "cuda" else [])
    with torch.random.fork_rng(devices=devices):
        yield


def configure(device: torch.device) -> None:
    """Set the deterministic settings of a GPU run (process-wide; nothing changes on CPU)."""
    if device.type != "cuda":
        return
    # cuBLAS reads this when it creates its handle: set it before the first matrix product.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    # float32 throughout: TF32 (cuDNN's default for convolutions on Ampere and later) rounds
    # inputs to 10-bit mantissas, a reduced precision the protocol does not ask for.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def settings(device: torch.device) -> dict[str, Any]:
    """The deterministic settings in force (recorded with every result)."""
    out: dict[str, Any] = {
        "deterministic_algorithms": ("warn_only" if torch.is_deterministic_algorithms_warn_only_enabled() else True)
        if torch.are_deterministic_algorithms_enabled() else False,
    }
    if device.type == "cuda":
        out.update(cudnn_deterministic=torch.backends.cudnn.deterministic,
                   cudnn_benchmark=torch.backends.cudnn.benchmark,
                   cublas_workspace_config=os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
                   tf32=torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32,
                   mixed_precision=False)
    else:
        out["note"] = ("CPU kernels are deterministic at the protocol's fixed thread count on one instruction "
                       "set (environment.cpu_capability)")
    return out


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), or what ``platform`` knows elsewhere."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: torch.device) -> dict[str, Any]:
    """The device a record was computed on: ``cpu`` with the CPU's model and the instruction set
    ATen dispatches to (``AVX2``, ``AVX512``, ...), or ``cuda:N`` with the GPU's name and the
    CUDA / cuDNN versions."""
    if device.type != "cuda":
        return {"device": "cpu", "cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    props = torch.cuda.get_device_properties(device)
    return {"device": str(device), "gpu": props.name, "gpu_memory_mib": props.total_memory // 2**20,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


class NondeterminismLog:
    """``with log: ...`` collects the names of ops that warned they have no deterministic
    implementation (``use_deterministic_algorithms(True, warn_only=True)``); other warnings pass."""

    def __init__(self) -> None:
        self.ops: set[str] = set()

    def __enter__(self) -> "NondeterminismLog":
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.filterwarnings("always", message=r".*does not have a deterministic implementation")
        show = warnings.showwarning

        def record(message, category, filename, lineno, file=None, line=None):
            match = _NONDETERMINISTIC.match(str(message))
            if match:
                self.ops.add(match.group(1).strip())
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = record
        return self

    def __exit__(self, *exc) -> None:
        self._catch.__exit__(*exc)

    def sorted(self) -> list[str]:
        return sorted(self.ops)
