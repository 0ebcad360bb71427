"""Has each distiller's objective converged at its embedded budget? Measured over many seeds, on a
validation carve of the training split (the test split is never read).

Carves 20 clips per class from the embedded training split as ``benchmarks/tune_distiller.py`` does,
runs each distiller (embedded defaults, or hyper-parameters over them) on the rest for every seed,
with ``trace=`` (a list its ``distill`` appends its per-iteration objective to), and prints per
distiller and IPC:

* the mean objective by tenths of the run (the first seed's, and each seed's trace divided by the mean of its
  second half, averaged over seeds);
* per seed, the fitted slope of the second half, as the change per tenth of the run in % of its
  level (``tune_distiller.tail_slope``);
* the mean of those slopes over the seeds with its 95% CI (Student's t over seeds, which are
  independent runs; iterations within a run are not, so the per-seed intervals are not pooled);
* **the criterion**: the same slope in % of the level *plus the distance the run travelled*
  (``scaled_slope``: ``|level| + |first tenth - level|``), its mean over the seeds and 95% CI. The
  objective counts as converged when the whole interval lies within ``±bound`` (5%): in
  expectation, the last tenth of the run changes it by less than 5% of that scale. This is the
  ``numpy.isclose`` form (a relative tolerance on the level plus an absolute one, here the travel):
  the level alone cannot measure an objective heading to zero or through it (a loss falling
  geometrically to zero changes by the same % of its level every tenth however close it gets), and
  where the level dominates the two forms agree. The level-only verdict is printed too. One run's
  slope interval is often wider than the bound from iteration noise alone (a fresh network or real
  batch each iteration); averaging independent seeds measures the trend that noise hides;
* the distillation's seconds per cell (one thread; building cached inputs such as experts excluded);
* where the objective stays positive, the exponent ``a`` of a power law ``L ∝ t^-a`` fitted to the
  tenths (``decay_exponent``): an objective that decays so shows a slope of about ``a / 7.5`` per
  tenth at every budget, so no budget brings it inside the bound when ``a / 7.5`` is near it;
  whether the lower loss of a longer run matters is then a question for the validation score. The
  line says whether the measured slope agrees with ``a / 7.5`` (within its interval); a loss heading
  to zero faster than a power law (``tsgf``) falls faster per tenth the longer it runs.

Where eight seeds cannot decide (an interval reaching past the bound around a mean inside it), run
again on fresh seeds (``--seeds 8 9 ... 31``) and take the verdict from those alone: adding seeds to the
ones that prompted the re-run, and testing until the interval fits, would favour "converged".

Cached inputs (teacher, experts, Static-DC's images) are built once per seed from the carved rest and
shared by the distillers, as a run shares them.

    python benchmarks/convergence.py --distillers mtt mtt-vdsd --ipc 1 10 --seeds 0 1 2 3 4 5 6 7
    python benchmarks/convergence.py --distillers 'mtt{"iterations": 160}' --ipc 1

Seeds are independent, so a long test can run as several processes on disjoint seeds, each with
``--json``, and be judged as one: ``--merge a.json b.json`` prints the report over all their seeds.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import statistics
import time

from tune_distiller import (  # this folder
    embedded_params,
    scaled_slope,
    seeded_distill,
    tail_slope,
    tasks_by_seed,
    tenths,
)

from vddbench.plugins import get_registry
from vddbench.runner import parse_distiller
from vddbench.stats import mean_ci

# every first-party distiller with an iterative objective (its distill takes ``trace=``)
TRACED = ("dm", "static-dc", "idtd", "tsgf", "mtt", "frepo", "vdsd", "mtt-vdsd", "frepo-vdsd", "vst-unet")


def seed_slope_test(slopes: list[float], bound: float) -> tuple[float, float, bool]:
    """``(mean, half-width of its 95% CI, converged)`` of the per-seed second-half slopes (% per
    tenth, ``tail_slope``): converged when the whole interval lies within ``±bound``."""
    mean, half = mean_ci(slopes)
    return mean, half, -bound <= mean - half and mean + half <= bound


def decay_exponent(trace: list[float]) -> float:
    """``a`` of the power law ``L ∝ t^-a`` fitted (least squares, log-log) to the run's tenths 2-10;
    NaN unless every tenth is positive. Where an objective decays so, its second-half slope is
    about ``a / 7.5`` of its level per tenth (``-a·dt/t`` with ``dt`` a tenth, ``t`` three quarters
    of the run) at *every* budget: a longer run lowers the loss but not the slope the criterion reads."""
    points = tenths(trace)
    if len(points) < 10 or min(points) <= 0:
        return math.nan
    xs = [math.log((i + 0.5) * len(trace) / 10) for i in range(1, 10)]
    ys = [math.log(p) for p in points[1:]]
    x_mean, y_mean = statistics.fmean(xs), statistics.fmean(ys)
    return -sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys)) / sum((x - x_mean) ** 2 for x in xs)


def summarise(label: str, traces: dict[int, list[float]], seconds: dict[int, float], bound: float) -> str:
    """The report for one distiller and IPC: traces by tenths, per-seed slopes, the verdict."""
    first = next(iter(traces))
    head = f"{label}: {len(traces[first])} iterations, {statistics.fmean(seconds.values()):.1f} s per cell"
    if len(traces[first]) < 6 or len(traces) < 2:
        return f"{head}: too short (or too few seeds) to test"
    relative = [[v / abs(statistics.fmean(t[len(t) // 2:])) for v in t] for t in traces.values()]
    mean_trace = [statistics.fmean(column) for column in zip(*(tenths(t) for t in relative))]
    slopes = [tail_slope(t)[0] for t in traces.values()]
    mean, half, converged = seed_slope_test(slopes, bound)
    scaled = [scaled_slope(t) for t in traces.values()]
    s_mean, s_half, s_converged = seed_slope_test(scaled, bound)
    lines = [
        head,
        f"  objective by tenths (seed {first}): {' '.join('%.4g' % v for v in tenths(traces[first]))}",
        f"  relative to the second half's level, mean over {len(traces)} seeds: "
        + " ".join("%.3f" % v for v in mean_trace),
        "  second-half slope per tenth in % of its level, by seed: " + " ".join(f"{v:+.1f}%" for v in slopes),
        f"  mean over seeds {mean:+.2f}% ± {half:.2f}% (95% CI [{mean - half:+.2f}, {mean + half:+.2f}]): "
        f"{'within' if converged else 'NOT within'} ±{bound:g}% of the level",
        "  in % of level + travel, by seed: " + " ".join(f"{v:+.1f}%" for v in scaled),
        f"  the criterion: mean over seeds {s_mean:+.2f}% ± {s_half:.2f}% per tenth (95% CI "
        f"[{s_mean - s_half:+.2f}, {s_mean + s_half:+.2f}]): {'converged' if s_converged else 'NOT converged'}"
        f" at ±{bound:g}%",
    ]
    exponents = [decay_exponent(t) for t in traces.values()]
    if not any(math.isnan(a) for a in exponents):
        a, a_half = mean_ci(exponents)
        predicted = -100 * a / 7.5
        verdict = ("the measured slope agrees" if abs(mean - predicted) <= half
                   else "the measured slope does not: not a power-law tail")
        lines.append(f"  power law L ~ t^-a over tenths 2-10: a = {a:.3f} ± {a_half:.3f}, which would give "
                     f"{predicted:+.1f}% per tenth at every budget; {verdict}")
    return "\n".join(lines)


def merge(paths: list[str]) -> dict[tuple[str, int], tuple[dict, dict]]:
    """The traces and seconds that ``--json`` wrote to ``paths``, per (distiller, IPC), seeds pooled;
    a seed in two files is refused (counted twice, it would narrow the interval)."""
    runs: dict[tuple[str, int], tuple[dict, dict]] = {}
    origin: dict[tuple[str, int, int], str] = {}
    for path in paths:
        with open(path) as f:
            for item in json.load(f):
                traces, seconds = runs.setdefault((item["distiller"], item["ipc"]), ({}, {}))
                for seed, trace in item["traces"].items():
                    key = (item["distiller"], item["ipc"], int(seed))
                    if key in origin:
                        raise SystemExit(f"convergence.py --merge: seed {seed} of {item['distiller']} IPC "
                                         f"{item['ipc']} is in both {origin[key]} and {path}; merge runs on "
                                         "disjoint seeds")
                    origin[key] = path
                    traces[int(seed)], seconds[int(seed)] = trace, item["seconds"][seed]
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--distillers", nargs="+", default=list(TRACED), help="NAME or NAME{JSON}")
    ap.add_argument("--ipc", type=int, nargs="+", default=[1, 5, 10])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    ap.add_argument("--bound", type=float, default=5.0, help="the criterion's bound, %% per tenth of the run")
    ap.add_argument("--json", help="also write every trace here")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="run nothing: report over the seeds of these --json files together")
    args = ap.parse_args()
    if args.merge:
        for (entry, ipc), (traces, seconds) in merge(args.merge).items():
            print(summarise(f"{entry} IPC {ipc}", traces, seconds, args.bound))
        return
    registry = get_registry().distillers
    configs = {}  # entry -> (distiller class, hyper-parameters: embedded defaults and the entry's)
    for entry in args.distillers:
        name, params = parse_distiller(entry)
        if name not in registry:
            raise SystemExit(f"convergence.py: no distiller {name!r} installed; "
                             f"installed: {', '.join(sorted(registry))}")
        cls = registry[name].obj
        if "trace" not in inspect.signature(cls.distill).parameters:
            raise SystemExit(f"convergence.py: distiller {name!r} has no trace= argument in distill(); "
                             "add one (a list it appends each iteration's objective to) to test it")
        configs[entry] = cls, embedded_params(cls, params)
    runs = [(entry, ipc) for entry in args.distillers for ipc in args.ipc]
    traces = {run: {} for run in runs}
    seconds = {run: {} for run in runs}
    for seed, tasks in tasks_by_seed(args.seeds):
        for entry, ipc in runs:
            cls, params = configs[entry]
            distiller = cls(**params)
            fetched: list[float] = []  # seconds spent fetching (first: building) cached inputs
            task = tasks(ipc, lambda kind, s: fetched.append(s))
            trace: list[float] = []
            start = time.perf_counter()
            seeded_distill(distiller, task, seed, trace=trace)
            seconds[entry, ipc][seed] = time.perf_counter() - start - sum(fetched)
            traces[entry, ipc][seed] = trace
            print(f"seed {seed} {entry} IPC {ipc}: {len(trace)} iterations, {seconds[entry, ipc][seed]:.1f} s",
                  flush=True)
    print()
    for run in runs:
        print(summarise(f"{run[0]} IPC {run[1]}", traces[run], seconds[run], args.bound))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"distiller": e, "ipc": i, "traces": traces[e, i], "seconds": seconds[e, i]}
                       for e, i in runs], f)


if __name__ == "__main__":
    main()
