"""Peak memory of ``full`` and of teacher training on a generated Kinetics-400-shaped clip cache at
two split sizes: it should not grow with the split (ratio ~1) and stay under 4 GB.

The cache is what ``vddbench data cache`` writes for Kinetics-400 (uint8 ``(N, 3, 8, 64, 64)`` in
one file, 400 classes), filled with random pixels, at ``--sizes`` training clips (default 2,000
and 8,000; the real split has ~240,000) plus a 400-clip test split. Each phase runs in a fresh
process, with the protocol's one torch thread, on the CPU:

* ``full``: the ``full`` cell as ``vddbench run`` runs it: distil (a reference to the split, no
  copy), train the protocol student (ConvNet3D) on the whole split streamed, score the test split;
* ``epoch``: one shuffled epoch of the whole training split through the loader (every clip read
  and normalised once): what each epoch of ``full`` or a teacher reads;
* ``teacher``: ``task.teacher()`` for the protocol student, trained on the split streamed.

Training uses the published batch (256) for ``--steps`` SGD steps (default 2), not 500 epochs:
at ~13 clips/s on one CPU thread an epoch of 8,000 clips takes ten minutes, and what could grow
with the split (materialising it, reading it) does not depend on the number of steps; ``epoch``
reads all of it. Reported: the process's peak resident memory (``ru_maxrss``, imports included),
the phase's own peak above its start (vddbench's Measure), and seconds. For comparison, the split
materialised as float32 (what the harness built before issue 12) is printed too.

Usage: python benchmarks/memory_benchmark.py [--sizes 2000,8000] [--steps 2] [--test-clips 400]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLIP = (3, 8, 64, 64)
CLASSES = 400
PHASES = ("full", "epoch", "teacher")


def write_cache(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        for start in range(0, n, 256):
            f.write(rng.bytes(min(256, n - start) * int(np.prod(CLIP))))
    np.save(path.with_suffix(".labels.npy"), np.arange(n) % CLASSES)


def child(phase: str, root: Path, size: int, steps: int) -> dict:
    import torch

    from vddbench.costs import Measure
    from vddbench.data import ArraySplit, DatasetSource
    from vddbench.data.stream import stream
    from vddbench.plugins import Entry, Provider, get_registry
    from vddbench.protocol import PROTOCOLS, ClipSpec, DatasetSpec, EvalRecipe, Protocol
    from vddbench.results import ResultStore
    from vddbench.runner import CellRun, plan

    torch.set_num_threads(1)

    class Generated(DatasetSource):
        name = "k400-shaped"

        def load(self, spec, split, root_=None):
            path = root / (f"train-{size}.u8" if split == "train" else "test.u8")
            labels = np.load(path.with_suffix(".labels.npy"))
            return ArraySplit(f"k400-shaped/{split}", np.memmap(path, np.uint8, "r", shape=(len(labels), *CLIP)),
                              labels, CLASSES)

    get_registry().datasets["k400-shaped"] = Entry("k400-shaped", Generated(), Provider("benchmarks", "0"))
    recipe = EvalRecipe(steps=steps, batch_size=256)
    spec = DatasetSpec("k400-shaped", "k400-shaped", CLASSES, ClipSpec(8, 64, 64), "top5", (("train_clips", size),))
    protocol = Protocol("k400-shaped", "benchmark only", (spec,), (1,), (0,), ("convnet3d",), recipe=recipe,
                        teacher_recipe=recipe)
    PROTOCOLS[protocol.name] = protocol
    (cell,) = plan(protocol, ["full"], device="cpu")
    run = CellRun(cell, ResultStore(root / f"results-{size}"))
    out: dict = {"start_rss_mib": _rss_mib()}
    with Measure("cpu") as m:
        if phase == "full":
            (record,) = run.run()
            assert record["status"] == "ok", record["error"]
            out["storage_bytes"] = record["storage_bytes"]
            out["artifact_bytes"] = sum(p.stat().st_size
                                        for p in (root / f"results-{size}" / "artifacts").rglob("*.safetensors"))
        elif phase == "epoch":
            train = run.split("train")
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
            seen = sum(len(x) for x, _ in stream(train, [order[s:s + 256] for s in range(0, len(train), 256)], "cpu"))
            assert seen == len(train)
        else:
            run.teacher(None)
    out.update(phase_peak_mib=m.peak_mib, seconds=m.seconds,
               max_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,8000", help="training clips, comma-separated (two or more)")
    parser.add_argument("--steps", type=int, default=2, help="SGD steps of batch 256 per training")
    parser.add_argument("--test-clips", type=int, default=400)
    parser.add_argument("--child", nargs=3, metavar=("PHASE", "ROOT", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        phase, root, size = args.child
        print(json.dumps(child(phase, Path(root), int(size), args.steps)))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    clip_bytes = int(np.prod(CLIP))
    results: dict[tuple[int, str], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["VDDBENCH_CACHE"] = str(root / "cache")
        write_cache(root / "test.u8", args.test_clips, seed=1)
        print(f"Kinetics-400-shaped cache: clips 3x8x64x64 uint8 ({clip_bytes / 1024:.0f} KiB each), {CLASSES} "
              f"classes, test split {args.test_clips} clips; ConvNet3D, batch 256, {args.steps} SGD steps per "
              f"training, 1 torch thread, CPU", flush=True)
        for size in sizes:
            start = time.perf_counter()
            write_cache(root / f"train-{size}.u8", size, seed=0)
            print(f"{size} training clips ({size * clip_bytes / 2**30:.2f} GiB cache, generated in "
                  f"{time.perf_counter() - start:.1f} s; as float32 it would be "
                  f"{size * clip_bytes * 4 / 2**30:.2f} GiB):",
                  flush=True)
            for phase in PHASES:
                proc = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--child", phase,
                                       str(root), str(size)], capture_output=True, text=True)
                if proc.returncode != 0:
                    raise SystemExit(f"{phase} at {size} clips failed:\n{proc.stderr[-3000:]}")
                r = results[(size, phase)] = json.loads(proc.stdout.strip().splitlines()[-1])
                extra = ""
                if phase == "full":
                    extra = (f"  storage recorded {r['storage_bytes'] / 2**20:.0f} MiB, artifact on disk "
                             f"{r['artifact_bytes']} bytes")
                print(f"  {phase:<8} peak RSS {r['max_rss_mib']:7.0f} MiB (phase +{r['phase_peak_mib']:6.0f} MiB "
                      f"over {r['start_rss_mib']:.0f} at its start)  {r['seconds']:6.1f} s{extra}", flush=True)
    small, large = sizes[0], sizes[-1]
    print(f"ratio of peak RSS, {large} / {small} clips ({large / small:.0f}x the data):")
    for phase in PHASES:
        a, b = results[(small, phase)], results[(large, phase)]
        print(f"  {phase:<8} {b['max_rss_mib'] / a['max_rss_mib']:.3f}x  (largest {b['max_rss_mib'] / 1024:.2f} GiB; "
              f"target ~1x and < 4 GiB)")


if __name__ == "__main__":
    main()
