"""The static stage shared between Static-DC and the VDSD distillers: distillation time, before and after.

``static-dc``, ``vdsd``, ``mtt-vdsd`` and ``frepo-vdsd`` all run Static-DC with the same starting
frames and hyper-parameters on the embedded protocol (VDSD's static stage with one image per slot).
That run is now the cached input ``static-dc-images``, built once per dataset, seed and IPC. This
distils the four for one cell (the embedded defaults, one thread, as the harness does) twice:

* before: each distiller builds its own static images (the cached images are dropped before each);
* after: the first builds them and the other three read them;

and prints each distiller's seconds, the totals and their ratio (expert trajectories are built
before timing: they are shared either way), and checks that both give the same artifacts.

Usage: python benchmarks/shared_static_benchmark.py [--ipc 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import time

import torch

from vddbench import cell as cell_core
from vddbench.inputs import _MEMORY
from vddbench.plugins import get_registry
from vddbench.protocols import EMBEDDED
from vddbench.runner import plan
from vddbench.testing.bench import make_task
from vddbench_static_dc import STATIC_IMAGES

DISTILLERS = ["static-dc", "vdsd", "mtt-vdsd", "frepo-vdsd"]


def drop_static_images() -> None:
    for key in [k for k in _MEMORY if k[3] == STATIC_IMAGES]:
        del _MEMORY[key]


def distil(cell, share: bool) -> tuple[float, str]:
    """Seconds (without expert trajectories) and the sha256 of the artifact's tensors for one cell."""
    if not share:
        drop_static_images()
    experts = []
    task = make_task(EMBEDDED, cell.ipc, cell.seed, on_input=lambda kind, s: experts.append(
        s if kind == "expert-trajectories" else 0.0))
    distiller = get_registry().distillers[cell.distiller].obj(**cell.params)
    start = time.perf_counter()
    artifact = cell_core.distill(distiller, task, cell.key)
    seconds = time.perf_counter() - start - sum(experts)
    digest = hashlib.sha256()
    for name in sorted(artifact.tensors):
        digest.update(name.encode() + artifact.tensors[name].contiguous().numpy().tobytes())
    return seconds, digest.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ipc", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(EMBEDDED.torch_threads)
    cells = plan(EMBEDDED, DISTILLERS, ipcs=[args.ipc], seeds=[args.seed])
    distil(next(c for c in cells if c.distiller == "mtt-vdsd"), share=False)  # builds the experts, untimed
    rows, totals, same = [], {}, True
    for share in (False, True):
        drop_static_images()
        results = [distil(c, share) for c in cells]
        totals[share] = sum(s for s, _ in results)
        rows.append(results)
    for c, (b, b_sha), (a, a_sha) in zip(cells, *rows):
        same &= b_sha == a_sha
        print(f"{c.distiller:11s} before {b:6.1f} s  after {a:6.1f} s  same artifact: {b_sha == a_sha}")
    print(f"IPC {args.ipc}, seed {args.seed}: before {totals[False]:.1f} s, after {totals[True]:.1f} s, "
          f"after / before = {totals[True] / totals[False]:.2f}; identical artifacts: {same}")


if __name__ == "__main__":
    main()
