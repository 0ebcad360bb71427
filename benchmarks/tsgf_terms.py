"""What falls in TSGF's loss: the teacher's cross-entropy and the BN-statistics term, by tenths of the run.

TSGF minimises ``alpha_ce * CE(teacher(x), y) + r_bn * BN(x)`` (the paper's Eq. 4-5,
plugins/vddbench-tsgf/README.md), and the whole loss heads to zero at every budget measured. This
prints, per seed, both weighted terms' sums over the synthetic batches by tenths of the run, on the
training split less the validation clips, as ``tune_distiller.py`` distils, with each term's
second-half slope in % of its level (the level form of ``convergence.py``'s test, applied to the term):

    python benchmarks/tsgf_terms.py --ipc 10 --iterations 30 --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse

from tune_distiller import (  # this folder
    embedded_params,
    recording_calls,
    seeded_distill,
    tail_slope,
    tasks_by_seed,
    tenths,
)

import vddbench_tsgf
from vddbench.plugins import get_registry
from vddbench.stats import mean_ci


def terms(tasks, ipc: int, iterations: int, seed: int) -> dict[str, list[float]]:
    """``ce`` (``alpha_ce * CE``), ``bn`` (``r_bn * BN``) and ``loss`` (their sum, the traced loss), each
    summed over the synthetic batches, at every iteration."""
    cls = get_registry().distillers["tsgf"].obj
    distiller = cls(**embedded_params(cls, {"iterations": iterations}))
    task, trace = tasks(ipc), []
    with recording_calls(vddbench_tsgf.BatchNormStatistics, "loss", lambda out: float(out.detach())) as bn:
        seeded_distill(distiller, task, seed, trace=trace)
    r_bn = distiller.resolved_r_bn(task)
    # each synthetic batch runs its own iterations, one after another; the trace sums them per iteration
    weighted = [r_bn * sum(bn[i::iterations]) for i in range(iterations)]
    return {"ce": [t - b for t, b in zip(trace, weighted)], "bn": weighted, "loss": trace}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    args = ap.parse_args()
    slopes: dict[str, list[float]] = {}
    for seed, tasks in tasks_by_seed(args.seeds):
        print(f"seed {seed}, IPC {args.ipc}, {args.iterations} iterations")
        for name, values in terms(tasks, args.ipc, args.iterations, seed).items():
            by_tenths = tenths(values)
            slopes.setdefault(name, []).append(tail_slope(values)[0])
            print(f"  {name:>4} by tenths " + " ".join(f"{v:.3g}" for v in by_tenths)
                  + f"  (last / first tenth {by_tenths[-1] / by_tenths[0]:.3f}; second-half slope per tenth "
                  + f"{slopes[name][-1]:+.1f}%)")
    for name, values in slopes.items():
        mean, half = mean_ci(values)
        print(f"{name:>4}: second-half slope per tenth, mean over {len(values)} seeds {mean:+.1f}% ± {half:.1f}%")


if __name__ == "__main__":
    main()
