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
    """``with Measure(device) as m: ...`` then ``m.seconds`` and ``m.peak_mib``.

    On CPU the peak is the highest resident memory sampled every 5 ms during the phase, minus the
    resident memory at its start (what the phase itself needed). On CUDA it is the allocator's peak.
    """

    def __init__(self, device: torch.device | str = "cpu", interval: float = 0.005):
        self.device = torch.device(device)
        self.interval = interval
        self.seconds = 0.0
        self.peak_mib = 0.0

    def __enter__(self) -> "Measure":
        self._start_rss = self._peak = _rss_bytes()
        self._stop = threading.Event()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start_cuda = torch.cuda.memory_allocated(self.device)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._t0 = time.perf_counter()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _rss_bytes())

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._t0
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, _rss_bytes())
        if self.device.type == "cuda":
            extra = torch.cuda.max_memory_allocated(self.device) - self._start_cuda
        else:
            extra = self._peak - self._start_rss
        self.peak_mib = max(0.0, extra) / 2**20
