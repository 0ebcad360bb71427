"""Choose the embedded evaluation recipe on a validation split (never the test split).

Carves 20 clips per class from moving-shapes v2's training split (``vddbench.data.validation``),
trains students on the rest with a fixed number of SGD steps, and prints, per step budget:
``random`` at IPC 1/5/10 (ConvNet3D, one real clip set per seed) and the full rest of the split on
ConvNet3D and the per-frame CNN+Mean, each as mean ± 95% CI over seeds, plus the seconds one
training takes. The protocol's ``steps`` is the smallest budget whose IPC levels and full data
separate with disjoint CIs and whose 3D-vs-per-frame gap holds (docs/embedded.md).

    python benchmarks/embedded_recipe.py --steps 200 300 --seeds 5
    python benchmarks/embedded_recipe.py --steps 400 --lr 0.05 --clip 1.0 --seeds 8
    python benchmarks/embedded_recipe.py --steps 400 --lr 0.02 --clip none --seeds 8
    python benchmarks/embedded_recipe.py --steps 400 --seeds 8 --size 24 --kernel 7   # the earlier 7x7, 24-px student
    python benchmarks/embedded_recipe.py --steps 400 --seeds 8 --kernel 7   # 7x7 kernels on the 16-px clips
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from vddbench.data.moving_shapes import MovingShapes
from vddbench.data.validation import carve
from vddbench.distiller import DistilledVideos
from vddbench.evaluate import score, train_student
from vddbench.protocols import EMBEDDED
from vddbench.stats import mean_ci
from vddbench.students import build_student, catalog


def random_subset(split, ipc: int, seed: int) -> DistilledVideos:
    g = torch.Generator().manual_seed(seed)
    idx = torch.cat([split.indices_of(c)[torch.randperm(len(split.indices_of(c)), generator=g)[:ipc]]
                     for c in range(split.num_classes)])
    return DistilledVideos(split.clips(idx), split.labels[idx])


def with_kernel(kernel: int):
    """The catalog's ConvNet3D (and MiniC3D) backbone with (3, kernel, kernel) kernels."""
    backbone = catalog._convnet3d_backbone

    def build(clip, norm):
        return {**backbone(clip, norm), "kernel": (3, kernel, kernel)}

    return build


def candidate(spec, size: int | None, kernel: int | None):
    """Switch this process to another protocol student than the embedded one: clips of ``size`` px
    (drawn at the dataset's ``draw_size``, 24 px, or at ``size`` if larger, and area-resampled) and
    ConvNet3D kernels of ``kernel`` (``with_kernel``); returns ``spec`` with the new clip.
    ``--size 24 --kernel 7`` is the embedded protocol's earlier student (protocol id 752a2753833b)."""
    if kernel is not None:
        catalog._convnet3d_backbone = with_kernel(kernel)
    if size is None:
        return spec
    options = dict(spec.options)
    options["draw_size"] = max(size, options.get("draw_size", size))
    return dataclasses.replace(spec, clip=dataclasses.replace(spec.clip, height=size, width=size),
                               options=tuple(options.items()))


def clip_norm(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[300])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--lr", type=float, default=EMBEDDED.recipe.lr)
    ap.add_argument("--batch", type=int, default=EMBEDDED.recipe.batch_size)
    ap.add_argument("--clip", type=clip_norm, default=EMBEDDED.recipe.grad_clip,
                    help="gradient-norm clip; 'none' turns clipping off (default: the protocol's)")
    ap.add_argument("--ipcs", type=int, nargs="+", default=list(EMBEDDED.ipcs))
    ap.add_argument("--no-full", action="store_true", help="skip the full-data rows")
    ap.add_argument("--size", type=int, default=None,
                    help="frames of SIZE x SIZE px, drawn at max(24, SIZE) px and area-resampled (not the protocol)")
    ap.add_argument("--kernel", type=int, default=None,
                    help="ConvNet3D spatial kernel KERNEL x KERNEL instead of the protocol's (not the protocol)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec = candidate(EMBEDDED.datasets[0], args.size, args.kernel)
    rest, val = carve(MovingShapes().load(spec, "train"), 20)
    full = DistilledVideos(rest.clips(slice(0, len(rest))), rest.labels)
    for steps in args.steps:
        recipe = dataclasses.replace(EMBEDDED.recipe, steps=steps, lr=args.lr, batch_size=args.batch,
                                     grad_clip=args.clip)
        rows = []
        cases = [(f"random ipc{i}", "convnet3d", i) for i in args.ipcs]
        cases += [] if args.no_full else [("full", "convnet3d", None), ("full", "cnn-mean", None)]
        for name, arch, ipc in cases:
            accs, secs = [], []
            for seed in range(args.seeds):
                data = full if ipc is None else random_subset(rest, ipc, seed)
                t = time.perf_counter()
                model = build_student(arch, spec.num_classes, spec.clip, seed)
                train_student(model, data, recipe, seed)
                secs.append(time.perf_counter() - t)
                accs.append(score(model, val)["top1"])
            m, h = mean_ci(accs)
            rows.append(f"  {name:14s} {arch:10s} {m:5.1f} ± {h:4.1f}  "
                        f"(n={len(accs)}, {statistics.fmean(secs):.1f} s/training; seeds: "
                        + " ".join(f"{a:.1f}" for a in accs) + ")")
        print(f"steps {steps}, lr {recipe.lr}, batch {recipe.batch_size}, clip {recipe.grad_clip}: "
              f"validation top-1 (%), mean ± 95% CI")
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
