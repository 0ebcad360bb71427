"""Wall time and peak memory of one phase of a cell (distillation or evaluation)."""

from __future__ import annotations

import os
import threading
import time

import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:  # not Linux: fall back to the lifetime peak
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Measure:
    """``with Measure(device) as m: ...`` then ``m.seconds``, ``m.peak_mib`` and ``m.gpu_peak_mib``.

    ``peak_mib`` is host memory: the highest resident memory of this process sampled every 5 ms
    during the phase, minus the resident memory at its start (what the phase itself needed).
    ``gpu_peak_mib`` (CUDA only, else None) is ``torch.cuda.max_memory_allocated`` over the phase:
    the most GPU memory its tensors held at once, including what was allocated when it started.
    """

    def __init__(self, device: torch.device | str = "cpu", interval: float = 0.005):
        self.device = torch.device(device)
        self.interval = interval
        self.seconds = 0.0
        self.peak_mib = 0.0
        self.gpu_peak_mib: float | None = None

    def __enter__(self) -> "Measure":
        self._start_rss = self._peak = _rss_bytes()
        self._stop = threading.Event()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._t0 = time.perf_counter()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _rss_bytes())

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda" and exc[0] is None:
            torch.cuda.synchronize(self.device)  # the phase's kernels are part of its time
        self.seconds = time.perf_counter() - self._t0
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, _rss_bytes())
        self.peak_mib = max(0, self._peak - self._start_rss) / 2**20
        if self.device.type == "cuda":
            self.gpu_peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20

    def costs(self, phase: str) -> dict[str, float]:
        """``{phase}_seconds``, ``{phase}_peak_mib`` and, on CUDA, ``{phase}_gpu_peak_mib``."""
        out = {f"{phase}_seconds": round(self.seconds, 3), f"{phase}_peak_mib": round(self.peak_mib, 1)}
        if self.gpu_peak_mib is not None:
            out[f"{phase}_gpu_peak_mib"] = round(self.gpu_peak_mib, 1)
        return out
