"""IDTD with its diversity term at the paper's scale: does the plugin's normalisation stop it converging?

IDTD (paper 001) subtracts ``alpha1 * L_div``, the summed squared distance between the embeddings of an
instance's segments, with ``alpha1 = 0.05``. Maximised as it is, that distance diverges, so the plugin
takes it between L2-normalised embeddings (its README, "Sign and scale of the diversity loss"), which
makes the term about ten times the matching terms on the embedded student. This runs one of
``convergence.py``, ``tune_distiller.py`` or ``idtd_terms.py`` with the term at the paper's scale
instead: the value of the raw distance, the gradient through the embeddings' directions only (their
norms held constant), so it cannot diverge by inflating them. The plugin itself is not changed:

    python benchmarks/idtd_diversity_scale.py convergence --distillers 'idtd{"iterations": 100}' --ipc 1 5 10
    python benchmarks/idtd_diversity_scale.py tune_distiller idtd '{}' --own --ipc 1 --seeds 0 1 2 3 4 5 6 7
    python benchmarks/idtd_diversity_scale.py idtd_terms --ipc 10 --iterations 100
"""

from __future__ import annotations

import importlib
import sys

import torch
import torch.nn.functional as F

BENCHMARKS = ("convergence", "tune_distiller", "idtd_terms")  # each in this folder, each with main()


def paper_scale_diversity(segment_embeddings: torch.Tensor) -> torch.Tensor:
    """Eq. (1) at the paper's scale, for ``(n, K, D)`` embeddings: in value the summed squared L2
    distance between every pair of an instance's segments, averaged over instances,
    ``|e_i|^2 + |e_j|^2 - 2 |e_i| |e_j| cos(e_i, e_j)``; in gradient only the cosine's, the norms
    held constant."""
    unit = F.normalize(segment_embeddings, dim=-1)
    norms = segment_embeddings.detach().norm(dim=-1)
    squares = norms[:, :, None] ** 2 + norms[:, None, :] ** 2
    gaps = squares - 2 * norms[:, :, None] * norms[:, None, :] * (unit @ unit.transpose(1, 2))
    return gaps.triu(diagonal=1).sum((1, 2)).mean()


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        sys.exit(f"usage: idtd_diversity_scale.py {{{','.join(BENCHMARKS)}}} [that benchmark's arguments]")
    import vddbench_idtd

    vddbench_idtd.diversity = paper_scale_diversity  # the name IDTD.step calls
    benchmark = importlib.import_module(sys.argv[1])
    sys.argv = [f"{sys.argv[1]}.py (diversity at the paper's scale)", *sys.argv[2:]]
    benchmark.main()


if __name__ == "__main__":
    main()
