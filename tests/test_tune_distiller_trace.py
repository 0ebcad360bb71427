"""The convergence diagnostics that benchmarks/tune_distiller.py and benchmarks/convergence.py print for the READMEs."""

import json
import math
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from convergence import decay_exponent, merge, seed_slope_test, summarise  # noqa: E402
from tune_distiller import scaled_slope, tail_slope, tenths, trace_summary  # noqa: E402


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


def test_the_summary_reads_its_percentages_off_the_tenths_it_prints():
    trace = [float(v) for v in [9, 8, 7, 6, 5, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 3, 4]]
    points = tenths(trace)  # 25 iterations: the last tenth is iterations 22-24, the one before 20-21
    assert points[-2:] == [1.0, (1 + 3 + 4) / 3]
    line = trace_summary(trace)
    assert f"last tenth vs the one before {100 * (points[-1] - points[-2]) / points[-2]:+.2f}%" in line
    assert f"first->last tenth {100 * (points[-1] - points[0]) / points[0]:+.1f}%" in line


def test_tenths_split_any_length_into_ten_near_equal_parts():
    assert tenths(list(range(40)))[:2] == [1.5, 5.5]
    parts = tenths([float(i) for i in range(15)])  # 1 or 2 iterations each, the last included
    assert len(parts) == 10 and parts[-1] == 14.0 and tenths([3.0, 1.0]) == [3.0, 1.0]


def test_seeds_show_a_level_objective_that_one_noisy_run_cannot():
    noise = random.Random(1)
    level = {seed: [1 + noise.gauss(0, 0.3) for _ in range(40)] for seed in range(8)}
    assert any(tail_slope(t)[1] > 5 for t in level.values())  # one run alone: interval wider than ±5%
    assert seed_slope_test([tail_slope(t)[0] for t in level.values()], 5.0)[2]
    # 2 -> 0.44: still moving in % of the level and of level + travel alike
    falling = {seed: [2 - 0.04 * i + noise.gauss(0, 0.05) for i in range(40)] for seed in range(8)}
    mean, half, converged = seed_slope_test([tail_slope(t)[0] for t in falling.values()], 5.0)
    assert not converged and mean + half < 0
    assert "NOT converged" in summarise("falling", falling, {s: 1.0 for s in falling}, 5.0)
    assert "too short" in summarise("short", {0: [1.0, 0.9]}, {0: 1.0}, 5.0)


def test_a_power_law_decay_has_its_exponent_and_the_same_slope_at_every_budget():
    for budget in (100, 400, 1600):
        trace = [(1 + i) ** -0.3 for i in range(budget)]
        assert decay_exponent(trace) == pytest.approx(0.3, abs=0.02)
        assert tail_slope(trace)[0] == pytest.approx(-100 * 0.3 / 7.5, rel=0.1)  # budget-independent
    assert math.isnan(decay_exponent([1.0, -1.0] * 20))  # crosses zero: no power law
    noise = random.Random(2)
    power = {s: [(1 + i) ** -0.3 * (1 + noise.gauss(0, 0.01)) for i in range(100)] for s in range(3)}
    assert "the measured slope agrees" in summarise("p", power, {s: 1.0 for s in power}, 5.0)
    exponential = {s: [math.exp(-i / 10) * (1 + noise.gauss(0, 0.01)) for i in range(100)] for s in range(3)}
    assert "not a power-law tail" in summarise("e", exponential, {s: 1.0 for s in exponential}, 5.0)


def test_runs_on_disjoint_seeds_merge_into_the_report_of_one_run(tmp_path):
    noise = random.Random(1)
    traces = {seed: [10 - 0.01 * i + noise.gauss(0, 0.5) for i in range(60)] for seed in range(6)}
    seconds = {seed: 1.0 + seed for seed in traces}
    paths = []
    for part in ([0, 1, 2], [3, 4, 5]):  # as --json writes them: seed keys become strings
        paths.append(tmp_path / f"part{part[0]}.json")
        paths[-1].write_text(json.dumps([{"distiller": "dm", "ipc": 5, "traces": {s: traces[s] for s in part},
                                          "seconds": {s: seconds[s] for s in part}}]))
    merged = merge([str(p) for p in paths])
    assert list(merged) == [("dm", 5)]
    assert summarise("dm IPC 5", *merged["dm", 5], 5.0) == summarise("dm IPC 5", traces, seconds, 5.0)
    with pytest.raises(SystemExit, match="seed 0 of dm IPC 5 is in both .*part0.json and .*part0.json"):
        merge([str(paths[0]), str(paths[0])])


def test_the_criterion_adds_the_distance_travelled_to_the_level():
    # a loss falling geometrically to zero: the same % of its level every tenth at any budget, so the
    # level alone never calls it converged; against level + travel it has converged
    for budget in (100, 400):
        geometric = [0.5 ** (10 * i / budget) for i in range(budget)]  # halves every tenth
        assert tail_slope(geometric)[0] < -40 and -5 < scaled_slope(geometric) < 0
    # a steady trend through zero is still moving on either scale (level -0.49, first tenth 0.91)
    through_zero = [1 - 0.02 * i for i in range(100)]
    assert scaled_slope(through_zero) == pytest.approx(-100 * 0.2 / (0.49 + 1.40), rel=1e-9)
    # where the level dwarfs the travel, the two forms agree
    level = [10 + 0.1 * 0.9 ** i for i in range(100)]
    assert scaled_slope(level) == pytest.approx(tail_slope(level)[0], rel=0.02)
    noise = random.Random(3)
    runs = {seed: [0.5 ** (i / 10) * (1 + noise.gauss(0, 0.05)) for i in range(100)] for seed in range(8)}
    report = summarise("geometric", runs, {s: 1.0 for s in runs}, 5.0)
    verdict = next(line for line in report.splitlines() if line.startswith("  the criterion:"))
    assert "NOT within ±5% of the level" in report and verdict.endswith(": converged at ±5%")
