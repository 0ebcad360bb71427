"""Confidence intervals for the leaderboards: Student's t over seeds, and paired differences."""

from __future__ import annotations

import math
import statistics

# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (so no scipy dependency).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042)


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (normal beyond 30)."""
    return _T975[df - 1] if df <= len(_T975) else 1.960


def mean_ci(values: list[float]) -> tuple[float, float]:
    """``(mean, half-width of the 95% CI)``; the half-width is NaN for fewer than two values."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))


def paired_difference(a: dict, b: dict) -> tuple[float, float, int] | None:
    """Mean ± 95% CI of ``a[k] - b[k]`` over the keys (seeds) both have; None without pairs."""
    keys = sorted(set(a) & set(b))
    if not keys:
        return None
    mean, half = mean_ci([a[k] - b[k] for k in keys])
    return mean, half, len(keys)
