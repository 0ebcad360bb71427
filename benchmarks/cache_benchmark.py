"""Clips per second: reading the clip cache vs decoding every epoch with mmaction2's pipeline.

Writes a generated UCF101-layout dataset (real .avi files, 320x240 like UCF101) to a temporary
folder, then measures, in one process with one thread:

* decode: each epoch decodes every training video through mmaction2's pipeline (decord, resize
  to 160x120, centre crop 112), as a data loader without a cache would;
* cache: the split decoded once into the memory-mapped cache, then read in batches of 32 as
  normalised float clips (what a distiller or student sees).

Usage: python benchmarks/cache_benchmark.py [--classes 4] [--videos 6] [--frames 150] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--videos", type=int, default=6, help="training videos per class")
    parser.add_argument("--frames", type=int, default=150, help="frames per video (UCF101 averages ~186)")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VDDBENCH_CACHE"] = str(Path(tmp) / "cache")
        os.environ["VDDBENCH_DECODE_WORKERS"] = "0"  # one process for both sides
        import torch

        from vddbench.data import cache, normalize
        from vddbench.data.decode import ClipDecoder
        from vddbench.data.layouts import manifest_for
        from vddbench.data.ucf101 import MINIUCF_CLASSES
        from vddbench.protocols import MINIUCF
        from vddbench.testing import datasets as fixtures

        torch.set_num_threads(1)
        classes = MINIUCF_CLASSES[: args.classes]
        root = Path(tmp) / "data"
        for label, name in enumerate(classes):
            for i in range(args.videos):
                fixtures.write_video(root / "UCF-101" / name / f"v_{name}_g{8 + i:02d}_c01.avi", label, i,
                                     args.frames, size=(320, 240))
        lists = root / "ucfTrainTestlist"
        lists.mkdir()
        (lists / "trainlist01.txt").write_text("".join(
            f"{n}/v_{n}_g{8 + i:02d}_c01.avi {c + 1}\n" for c, n in enumerate(classes) for i in range(args.videos)))
        (lists / "testlist01.txt").write_text("".join(f"{n}/v_{n}_g08_c01.avi\n" for n in classes))
        manifest = manifest_for(MINIUCF, root)
        entries = manifest.present("train")
        n = len(entries)

        decoder = ClipDecoder(MINIUCF, manifest)
        decoder(entries[0], True)  # warm up (imports, first FileClient)

        def rate(read_epoch) -> float:
            start = time.perf_counter()
            for _ in range(args.epochs):
                read_epoch()
            return n * args.epochs / (time.perf_counter() - start)

        def decode_epoch(normalised: bool):
            for entry in entries:
                clip = torch.from_numpy(decoder(entry, True))[None]
                if normalised:
                    normalize(clip)

        decode_raw = rate(lambda: decode_epoch(False))
        decode_float = rate(lambda: decode_epoch(True))
        start = time.perf_counter()
        split = cache.load(MINIUCF, manifest, "train", progress=False)
        build = time.perf_counter() - start
        cache_raw = rate(lambda: [split.raw(slice(i, i + 32)) for i in range(0, n, 32)])
        cache_float = rate(lambda: [split.clips(slice(i, i + 32)) for i in range(0, n, 32)])

    print(f"{n} training videos of {args.frames} frames at 320x240 -> MiniUCF clips 16x112x112, {args.epochs} epochs,"
          f" one thread (cache built once in {build:.1f} s)")
    print(f"{'clips/s':>44} {'uint8':>9} {'normalised float':>17}")
    print(f"{'decode every epoch (mmaction2 + decord)':<44} {decode_raw:9.1f} {decode_float:17.1f}")
    print(f"{'clip cache (memory map)':<44} {cache_raw:9.1f} {cache_float:17.1f}")
    print(f"ratio cache / decode: {cache_raw / decode_raw:.0f}x for uint8 clips, {cache_float / decode_float:.1f}x "
          f"for normalised clips (normalising costs the same on both sides)")


if __name__ == "__main__":
    main()
