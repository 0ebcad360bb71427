"""The convergence diagnostics that benchmarks/tune_distiller.py prints for the plugin READMEs."""

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from tune_distiller import tail_slope, trace_summary  # noqa: E402


def test_the_slope_of_a_straight_line_is_its_change_per_tenth():
    trace = [10 - 0.01 * i for i in range(100)]  # -0.1 per tenth; the second half's mean is 9.255
    slope, half_width = tail_slope(trace)
    assert slope == pytest.approx(-100 * 0.1 / 9.255, rel=1e-9) and half_width == pytest.approx(0, abs=1e-9)


def test_pure_noise_is_flat_and_a_slope_under_noise_is_seen():
    noise = random.Random(0)
    flat = tail_slope([10 + noise.gauss(0, 1) for _ in range(500)])
    assert abs(flat[0]) < flat[1] < 5  # the interval holds zero and is inside a 5% bound
    falling = tail_slope([10 - 0.02 * i + noise.gauss(0, 1) for i in range(500)])
    assert falling[0] + falling[1] < 0  # still falling: the whole interval is below zero


def test_the_summary_names_all_three_measures():
    line = trace_summary([1 / (1 + i) for i in range(40)])
    assert "loss by tenths" in line and "last tenth vs the one before" in line and "second-half slope" in line
