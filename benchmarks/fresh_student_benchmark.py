"""DM's inner loop: the cost of a fresh student per iteration, before and after.

DM (and VDSD, IDTD) embed real and synthetic clips with a freshly initialised student every
iteration. Building one through mmaction2's registry costs more than the DM step it serves on the
embedded clip. This prints, on one thread, for the embedded protocol at IPC 1:

* build / step: the cost of ``build_student`` against one DM iteration (before: a build per
  iteration and one forward pass per class);
* reset / step: the cost of ``DistillTask.reset_student`` (in place, the same weights a build
  gives) against one DM iteration as DM now runs it (target <= 0.1);
* DM iterations per second before and after, measured in this run.

Usage: python benchmarks/fresh_student_benchmark.py [--iterations 30] [--batch-real 16]
"""

from __future__ import annotations

import argparse
import time

import torch

import vddbench
from vddbench.data.moving_shapes import MovingShapes
from vddbench.protocols import EMBEDDED
from vddbench.students import build_student, reinitialize


def dm_iterations(task, videos, iterations: int, batch_real: int, before: bool) -> float:
    """Seconds per DM iteration: ``before`` = a fresh build and one forward pass per class."""
    optimizer = torch.optim.SGD([videos], lr=100.0, momentum=0.5)
    g = torch.Generator().manual_seed(0)
    student = vddbench.frozen_student(task.new_student())
    start = time.perf_counter()
    for _ in range(iterations):
        if before:
            student = vddbench.frozen_student(task.new_student())
        else:
            task.reset_student(student)
        real = [task.train.clips(task.train.indices_of(c)[torch.randperm(100, generator=g)[:batch_real]])
                for c in range(task.num_classes)]
        syn = list(videos.view(task.num_classes, task.ipc, *task.clip.shape))
        if before:  # per class, as the reference code and vddbench before
            loss = sum(vddbench.mean_embedding_loss(student, [r], [s]) for r, s in zip(real, syn))
        else:
            loss = vddbench.mean_embedding_loss(student, real, syn)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / iterations


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--batch-real", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec = EMBEDDED.datasets[0]
    train = MovingShapes().load(spec, "train")
    task = vddbench.DistillTask(train=train, num_classes=spec.num_classes, ipc=1, seed=0, clip=spec.clip,
                                dataset=spec.name,
                                student_factory=lambda seed: build_student("convnet3d", spec.num_classes,
                                                                           spec.clip, seed))
    videos = torch.cat([train.clips(i) for i in task.random_real_indices()]).requires_grad_(True)
    dm_iterations(task, videos, 3, args.batch_real, before=False)  # warm up (imports, allocator)

    n = 20
    student = build_student("convnet3d", spec.num_classes, spec.clip, 0)
    t = time.perf_counter()
    for seed in range(n):
        build_student("convnet3d", spec.num_classes, spec.clip, seed)
    build = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for seed in range(n):
        reinitialize(student, seed)
    reset = (time.perf_counter() - t) / n

    before = dm_iterations(task, videos, args.iterations, args.batch_real, before=True)
    after = dm_iterations(task, videos, args.iterations, args.batch_real, before=False)
    print(f"embedded protocol, convnet3d, IPC 1, {args.batch_real} real clips per class, 1 thread")
    print(f"fresh student: build {1000 * build:.1f} ms, in-place reset {1000 * reset:.2f} ms")
    print(f"DM iteration: before {1000 * before:.1f} ms, after {1000 * after:.1f} ms")
    print(f"build / DM step (before) = {build / before:.3f}")
    print(f"reset / DM step (after)  = {reset / after:.3f}   (target <= 0.1)")
    print(f"DM iterations per second: before {1 / before:.1f}, after {1 / after:.1f} ({before / after:.2f}x)")


if __name__ == "__main__":
    main()
