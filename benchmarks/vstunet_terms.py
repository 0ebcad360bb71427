"""What falls in `vst-unet`'s objective: its terms by tenths, and how much of the selection a budget changes.

Algorithm 1 of paper 003 minimises ``CE + lambda_d * L_div + lambda_r * L_rep`` for each class and
epoch (plugins/vddbench-vstunet/README.md). This prints, per seed, each term's mean over the classes
by tenths of the run and, with ``--against E``, in how many classes the selected clips differ from
those of an ``E``-epoch run; on the training split less the validation clips, as
``tune_distiller.py`` distils:

    python benchmarks/vstunet_terms.py --ipc 1 --epochs 40 --against 10 --seeds 0 1 2 3 4 5 6 7
"""

from __future__ import annotations

import argparse
import statistics

import torch
from tune_distiller import (  # this folder
    embedded_params,
    recording_calls,
    seeded_distill,
    tasks_by_seed,
    tenths,
)

import vddbench_vstunet
from vddbench.plugins import get_registry

TERMS = ("ce", "div", "rep")


def selection(tasks, ipc: int, epochs: int, seed: int) -> list[torch.Tensor]:
    """The clips an ``epochs``-epoch run selects, one flattened ``(IPC, ...)`` tensor per class."""
    cls = get_registry().distillers["vst-unet"].obj
    artifact = seeded_distill(cls(**embedded_params(cls, {"epochs": epochs})), tasks(ipc), seed)
    videos = artifact.tensors["videos_uint8"]
    return list(videos.view(-1, ipc, *videos.shape[1:]).flatten(2))


def _floats(losses: dict) -> dict[str, float]:
    return {name: float(value.detach()) for name, value in losses.items()}


def terms_by_tenths(tasks, ipc: int, epochs: int, seed: int) -> tuple[dict, list[torch.Tensor]]:
    """Each term's mean over the classes, by tenths of the run, and the run's selection."""
    with recording_calls(vddbench_vstunet, "selection_losses", _floats) as losses:  # the name distill calls
        chosen = selection(tasks, ipc, epochs, seed)
    per_epoch = len(losses) // epochs  # one call per class
    epochs_means = [losses[i:i + per_epoch] for i in range(0, len(losses), per_epoch)]
    return {t: tenths([statistics.fmean(c[t] for c in calls) for calls in epochs_means]) for t in TERMS}, chosen


def changed_classes(a: list[torch.Tensor], b: list[torch.Tensor]) -> int:
    """Classes whose selected clips (as a set) differ between two selections."""
    def clips(x):
        return sorted(tuple(row.tolist()) for row in x)
    return sum(clips(x) != clips(y) for x, y in zip(a, b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ipc", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--against", type=int, help="also count the classes whose selection differs from this budget's")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    args = ap.parse_args()
    for seed, tasks in tasks_by_seed(args.seeds):
        terms, chosen = terms_by_tenths(tasks, args.ipc, args.epochs, seed)
        note = ""
        if args.against is not None:
            other = selection(tasks, args.ipc, args.against, seed)
            note = (f"; selection differs from {args.against} epochs' in {changed_classes(chosen, other)} "
                    f"of {len(chosen)} classes")
        print(f"seed {seed}, IPC {args.ipc}, {args.epochs} epochs{note}")
        for term in TERMS:
            print(f"  {term:>3} by tenths " + " ".join(f"{v:.4g}" for v in terms[term]))


if __name__ == "__main__":
    main()
