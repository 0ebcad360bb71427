"""How long the committed embedded grid must take on this machine, whatever the distillers cost:
the student training and scoring its records did, timed here, against the 30-minute target.

Every record of the grid trains its student for the recipe's steps on the record's set (batches of
``batch_size``, a set no larger than a batch full-batch) and scores it on the test split. That work
is fixed by the protocol (students, steps, seeds, decoupled plain records), not by the methods. This
script times one SGD step of each protocol student at the embedded clip size for every batch size
the grid uses, and one scoring pass of the test split, with one torch thread (what a cell gets);
sums them over the committed records; and divides by the cores. It also prints the FLOPs of a
ConvNet3D step (``torch.utils.flop_counter``) and the rate this core reaches, to show how much
faster the same arithmetic could go, the same step with the channels-last memory layout, and one
DM matching iteration (the inner step most distillers repeat) to show how distillation would scale.

A candidate protocol can be costed on the same records: ``--size`` (clip pixels), ``--kernel``
(ConvNet3D's spatial kernel instead of the protocol's), ``--seeds`` (keep the records of the first N
seeds) and ``--eval-steps`` (the recipe's steps).

Usage: python benchmarks/grid_floor_benchmark.py [--records leaderboards/records/<id>] [--cores 2] [--steps 20]
       python benchmarks/grid_floor_benchmark.py --size 24 --kernel 7   # the earlier 7x7, 24-px student
       python benchmarks/grid_floor_benchmark.py --seeds 5 --eval-steps 200
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from pathlib import Path


def batch_sizes(n: int, batch: int, steps: int) -> collections.Counter:
    """How many steps at each batch size the evaluation loop takes on a set of ``n`` videos."""
    per_pass = [min(batch, n - start) for start in range(0, n, batch)]
    sizes = collections.Counter()
    for step in range(steps):
        sizes[per_pass[step % len(per_pass)]] += 1
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default=None, help="records of one protocol id (default: the committed board's)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per student and batch size")
    parser.add_argument("--size", type=int, default=None, help="candidate: frames of SIZE x SIZE px")
    parser.add_argument("--kernel", type=int, default=None, help="candidate: ConvNet3D kernel (3, K, K)")
    parser.add_argument("--seeds", type=int, default=None, help="candidate: only the records of seeds < N")
    parser.add_argument("--eval-steps", type=int, default=None, help="candidate: the recipe's training steps")
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F
    from embedded_recipe import candidate  # this folder: the same candidate student as the recipe's
    from torch.utils.flop_counter import FlopCounterMode

    from vddbench.protocol import get_protocol
    from vddbench.students import build_student

    torch.set_num_threads(1)
    protocol = get_protocol("embedded")
    spec = protocol.datasets[0]
    root = Path(args.records or f"leaderboards/records/{protocol.protocol_id}")
    records = [json.loads(p.read_text()) for p in sorted(root.glob("*/*/*.json"))]
    records = [r for r in records if r["status"] == "ok" and (args.seeds is None or r["seed"] < args.seeds)]
    if not records:
        raise SystemExit(f"no ok records under {root}; pass --records leaderboards/records/<protocol id>")

    work = collections.defaultdict(collections.Counter)  # student -> batch size -> steps
    scorings = collections.Counter()
    for r in records:
        recipe = r.get("eval_recipe") or {"batch_size": protocol.recipe.batch_size, "steps": protocol.recipe.steps}
        steps = args.eval_steps or recipe["steps"]
        work[r["student"]].update(batch_sizes(r["num_videos"], recipe["batch_size"], steps))
        scorings[r["student"]] += 1
    test_clips = spec.option("test_per_class") * spec.num_classes
    spec = candidate(spec, args.size, args.kernel)  # after the records' protocol id is known: it changes it

    def time_steps(model, x, y, memory_format=None) -> float:
        """CPU seconds of one SGD step (the fastest of three runs of ``--steps``)."""
        if memory_format is not None:
            model, x = model.to(memory_format=memory_format), x.contiguous(memory_format=memory_format)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        step()
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            for _ in range(args.steps):
                step()
            best = min(best, (time.process_time() - start) / args.steps)
        return best

    total = 0.0
    print(f"{len(records)} ok records under {root}; clip {spec.clip.frames}x{spec.clip.height}x"
          f"{spec.clip.width}, {spec.num_classes} classes, 1 thread")
    for student, sizes in sorted(work.items()):
        model = build_student(student, spec.num_classes, spec.clip, seed=0)
        model.train()
        seconds = 0.0
        for b, count in sorted(sizes.items()):
            x = torch.randn(b, *spec.clip.shape)
            y = torch.randint(0, spec.num_classes, (b,))
            per_step = time_steps(model, x, y)
            seconds += count * per_step
            print(f"  {student:<10} batch {b:>3}: {per_step * 1e3:6.1f} ms/step x {count:>7,} steps")
        model.eval()
        with torch.no_grad():
            x = torch.randn(128, *spec.clip.shape)
            model(x)
            start = time.process_time()
            model(x)
            score = (time.process_time() - start) / 128 * test_clips
        seconds += scorings[student] * score
        print(f"  {student:<10} scoring {test_clips} clips: {score:.2f} s x {scorings[student]} records;"
              f" training + scoring {seconds / 60:.1f} core-minutes")
        total += seconds

    distill = {r["cell_key"]: r["costs"]["distill_seconds"] or 0.0 for r in records}
    print(f"student work: {total / 60:.1f} core-minutes -> {total / 60 / args.cores:.1f} min on {args.cores} cores"
          f" ({total / 60 / args.cores / 30:.2f}x the 30-minute target), before any distillation"
          f" (the records' distillation: {sum(distill.values()) / 60:.1f} core-minutes more)")

    model = build_student("convnet3d", spec.num_classes, spec.clip, seed=0)
    x, y = torch.randn(32, *spec.clip.shape), torch.randint(0, spec.num_classes, (32,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    flops = counter.get_total_flops()
    contiguous = time_steps(model, x, y)
    channels_last = time_steps(build_student("convnet3d", spec.num_classes, spec.clip, seed=0), x, y,
                               torch.channels_last_3d)
    print(f"convnet3d batch 32: {flops / 1e9:.2f} GFLOP/step, {flops / contiguous / 1e9:.0f} GFLOP/s on one core;"
          f" channels-last {contiguous / channels_last:.2f}x faster (different rounding: a new protocol id)")

    # The distillers' usual inner step, DM's: embed 16 real clips per class (no grad) and the IPC-1
    # synthetic set (grad to the pixels) through a frozen student, flattened, and backpropagate.
    model.requires_grad_(False)
    real = torch.rand(16 * spec.num_classes, *spec.clip.shape)
    syn = torch.rand(spec.num_classes, *spec.clip.shape, requires_grad=True)

    def matching_iteration():
        with torch.no_grad():
            target = model.embed(real, flat=True).view(spec.num_classes, 16, -1).mean(1)
        ((target - model.embed(syn, flat=True)) ** 2).sum().backward()

    matching_iteration()
    start = time.process_time()
    for _ in range(args.steps):
        matching_iteration()
    print(f"convnet3d DM matching iteration (IPC 1, 16 real clips per class, flattened):"
          f" {(time.process_time() - start) / args.steps * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
