"""Student training: the harness's loops against a minimal hand-written PyTorch loop, and a streamed
epoch from the clip cache against what the student consumes.

Everything runs in one process, on the same clips and the same student (the protocol student,
ConvNet3D, at Kinetics-400's clip size 8x64x64 with 400 classes), with one torch thread (what a
cell gets) unless --threads says otherwise:

* **hand**: the loop anyone would write: ``randperm`` batches of pre-normalised float tensors,
  SGD with momentum, a MultiStepLR, cross-entropy. It draws the same permutations and dropout
  seed as the harness, so both end on the same weights (checked), i.e. they did the same work;
* **harness**: ``vddbench.evaluate.train_student`` on the same tensors (a distilled set's path);
* **streamed**: ``vddbench.evaluate.train_on_split`` on the same clips stored as a uint8 file-backed
  split (the clip cache's format): each batch read with pread through a DataLoader and normalised
  per step (teachers' and ``full``'s path);
* **loader**: one shuffled epoch of a larger generated cache through ``vddbench.data.stream``
  (read + normalise, no model), against the clips per second the student trains at.

The two training ratios should be <= 1.05x (on a CPU they compare the process's CPU seconds, since
on a shared machine wall time also measures the neighbours; on a GPU, wall seconds). The
loader/student ratio says how far loading is from
bounding training on this machine (on a GPU, rerun with ``--device cuda``; benchmarks/gpu_check.py
prints the same comparison there).

Usage: python benchmarks/training_benchmark.py [--clips 64] [--batch 32] [--epochs 2] [--repeats 5]
       [--loader-clips 2048] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64, help="clips in the training set")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="runs per loop (the fastest counts)")
    parser.add_argument("--loader-clips", type=int, default=2048, help="clips in the cache the loader walks")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F

    from vddbench.data import ArraySplit
    from vddbench.data.stream import loader_workers, stream
    from vddbench.device import configure, forked_rng, resolve_device
    from vddbench.distiller import DistilledVideos
    from vddbench.evaluate import train_on_split, train_student
    from vddbench.protocol import ClipSpec, EvalRecipe
    from vddbench.students import build_student

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    configure(device)
    clip, classes = ClipSpec(8, 64, 64), 400
    recipe = EvalRecipe(epochs=args.epochs, lr=0.01, batch_size=args.batch)
    rng = np.random.default_rng(0)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with tempfile.TemporaryDirectory() as tmp:
        def cache(n: int, name: str) -> ArraySplit:
            path = Path(tmp) / f"{name}.u8"
            with open(path, "wb") as f:
                for start in range(0, n, 256):
                    f.write(rng.bytes(min(256, n - start) * int(np.prod(clip.shape))))
            mapped = np.memmap(path, np.uint8, "r", shape=(n, *clip.shape))
            return ArraySplit(name, mapped, rng.integers(0, classes, size=n), classes)

        split = cache(args.clips, "train")
        data = DistilledVideos(split.clips(slice(0, len(split))), split.labels)
        steps = recipe.epochs * -(-args.clips // args.batch)

        def hand() -> torch.nn.Module:
            model = build_student("convnet3d", classes, clip, seed=0).to(device)
            videos, labels = data.videos.to(device), data.labels.to(device)
            opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                  weight_decay=recipe.weight_decay)
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, [max(1, int(recipe.epochs * recipe.lr_decay_at)) *
                                                               -(-args.clips // args.batch)], gamma=recipe.lr_decay)
            order_rng = torch.Generator().manual_seed(1)
            model.train()
            with forked_rng(device):
                torch.manual_seed(1)
                for _ in range(recipe.epochs):
                    order = torch.randperm(len(videos), generator=order_rng)
                    for start in range(0, len(videos), args.batch):
                        idx = order[start:start + args.batch].to(device)
                        loss = F.cross_entropy(model(videos[idx]), labels[idx])
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        sched.step()
            return model

        def harness() -> torch.nn.Module:
            return train_student(build_student("convnet3d", classes, clip, seed=0).to(device), data, recipe, seed=1)

        def streamed() -> torch.nn.Module:
            return train_on_split(build_student("convnet3d", classes, clip, seed=0).to(device), split, recipe, seed=1)

        warm = build_student("convnet3d", classes, clip, seed=0).to(device)  # first build and step: lazy imports
        F.cross_entropy(warm(data.videos[:2].to(device)), data.labels[:2].to(device)).backward()
        loops = {"hand": hand, "harness": harness, "streamed": streamed}
        best = {name: float("inf") for name in loops}  # wall seconds
        best_cpu = {name: float("inf") for name in loops}  # this process's CPU seconds
        weights = {}
        print(f"training: {args.clips} clips 8x64x64, 400 classes, ConvNet3D, batch {args.batch}, {steps} SGD steps "
              f"per run, {args.repeats} runs per loop (interleaved; the fastest counts), device {device}, "
              f"{args.threads} thread(s)", flush=True)
        for _ in range(args.repeats):
            for name, loop in loops.items():
                sync()
                start, cpu = time.perf_counter(), time.process_time()
                model = loop()
                sync()
                best[name] = min(best[name], time.perf_counter() - start)
                best_cpu[name] = min(best_cpu[name], time.process_time() - cpu)
                weights[name] = [p.detach().cpu() for p in model.parameters()]
        same = {name: all(torch.equal(a, b) for a, b in zip(weights[name], weights["hand"])) for name in loops}
        # On a CPU the ratio is taken on CPU seconds (loading runs in this process with 0 workers): on a
        # shared machine, wall time also measures the neighbours. On a GPU, on wall time.
        timing = best if device.type == "cuda" else best_cpu
        base = timing["hand"]
        for name in loops:
            print(f"  {name:<9} wall {best[name]:7.2f} s  cpu {best_cpu[name]:7.2f} s  "
                  f"{args.clips * recipe.epochs / best[name]:8.1f} clips/s  {timing[name] / base:5.3f}x hand  "
                  f"same weights as hand: {same[name]}", flush=True)

        big = cache(args.loader_clips, "cache")
        workers = sorted({0, 2, loader_workers(device)})
        student_rate = args.clips * recipe.epochs / best["hand"]
        print(f"loader: one shuffled epoch of {args.loader_clips} cached clips in batches of 256, read + normalised "
              f"on {device}, no model; the student trains at {student_rate:.1f} clips/s", flush=True)
        for w in workers:
            order = torch.randperm(args.loader_clips, generator=torch.Generator().manual_seed(0))
            batches = [order[s:s + 256] for s in range(0, args.loader_clips, 256)]
            sync()
            start = time.perf_counter()
            for x, _ in stream(big, batches, device, workers=w):
                pass
            sync()
            rate = args.loader_clips / (time.perf_counter() - start)
            print(f"  {w} worker(s): {rate:9.1f} clips/s = {rate / student_rate:7.1f}x what the student consumes",
                  flush=True)
        print(f"ratios ({'wall' if device.type == 'cuda' else 'CPU'} time): harness/hand "
              f"{timing['harness'] / base:.3f}x, streamed/hand {timing['streamed'] / base:.3f}x (target <= 1.05x)")


if __name__ == "__main__":
    main()
