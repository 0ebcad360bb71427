"""Where IDTD's objective goes on a longer run: its three terms by tenths, and how far the clips move.

IDTD minimises ``segments + alpha2 * fused - alpha1 * diversity`` (DM matching of the segments and of
the fused video, minus the diversity of each instance's segments). Its objective keeps falling at
budgets far past the embedded default, and longer runs score worse on validation at IPC 5 and 10
(plugins/vddbench-idtd/README.md). This prints, per seed, each term's mean over every tenth of the
run and the RMS change of the fused videos from their initialisation (relative to the initial RMS),
on the training split less the validation clips, as ``tune_distiller.py`` distils:

    python benchmarks/idtd_terms.py --ipc 5 --iterations 300 --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse

import torch
from tune_distiller import embedded_params, recording_calls, seeded_as_a_run, tasks_by_seed, tenths  # this folder

from vddbench.plugins import get_registry

TERMS = ("segments", "fused", "diversity", "objective")


def fused_videos(distiller, task, seed: int) -> torch.Tensor:
    """Run ``distiller`` (seeded as a run seeds it) and return its fused videos."""
    with seeded_as_a_run(seed):
        generators = distiller.run(task)
    with torch.no_grad():
        return torch.cat([g()[1] for g in generators])


def terms_by_tenths(tasks, ipc: int, iterations: int, seed: int) -> dict:
    """IDTD's terms, each as its mean over the ten tenths of the run, and ``moved``: the RMS change of
    the fused videos from their initialisation over their initial RMS."""
    cls = get_registry().distillers["idtd"].obj
    distiller = cls(**embedded_params(cls, {"iterations": iterations}))
    with recording_calls(distiller, "step") as steps:  # every iteration's terms
        final = fused_videos(distiller, tasks(ipc), seed)
    start = fused_videos(cls(**embedded_params(cls, {"iterations": 0})), tasks(ipc), seed)
    moved = ((final - start).pow(2).mean().sqrt() / start.pow(2).mean().sqrt()).item()
    return {"moved": moved, **{term: tenths([s[term] for s in steps]) for term in TERMS}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ipc", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    args = ap.parse_args()
    for seed, tasks in tasks_by_seed(args.seeds):
        result = terms_by_tenths(tasks, args.ipc, args.iterations, seed)
        print(f"seed {seed}, IPC {args.ipc}, {args.iterations} iterations: fused videos moved "
              f"{100 * result['moved']:.0f}% of their RMS")
        for term in TERMS:
            print(f"  {term:>9} by tenths " + " ".join(f"{v:.4g}" for v in result[term])
                  + f"  (last / first tenth {result[term][-1] / result[term][0]:.2f})")


if __name__ == "__main__":
    main()
