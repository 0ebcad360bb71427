"""benchmarks/idtd_terms.py: IDTD's terms by tenths, and how far its clips move from their start;
benchmarks/idtd_diversity_scale.py: the diversity term at the paper's scale."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from idtd_diversity_scale import paper_scale_diversity  # noqa: E402
from idtd_terms import terms_by_tenths  # noqa: E402

import vddbench_idtd  # noqa: E402
from vddbench.plugins import get_registry  # noqa: E402


def test_the_terms_make_up_the_objective_and_the_clips_move(seed0_tasks):
    idtd = get_registry().distillers["idtd"].obj()  # alpha1 and alpha2 are the paper's at every protocol
    result = terms_by_tenths(seed0_tasks, ipc=1, iterations=10, seed=0)
    assert all(len(result[term]) == 10 for term in ("segments", "fused", "diversity", "objective"))
    for seg, fused, div, objective in zip(result["segments"], result["fused"], result["diversity"],
                                          result["objective"]):
        assert objective == pytest.approx(seg + idtd.alpha2 * fused - idtd.alpha1 * div, rel=1e-4, abs=1e-7)
    assert 0 < result["moved"] < 1


def test_no_iterations_leave_the_clips_where_they_start(seed0_tasks):
    assert terms_by_tenths(seed0_tasks, ipc=1, iterations=0, seed=0)["moved"] == 0


def test_paper_scale_diversity_has_the_raw_distance_and_turns_the_embeddings_without_growing_them():
    embeddings = torch.randn(3, 4, 50, dtype=torch.float64, requires_grad=True)
    raw = ((embeddings[:, :, None] - embeddings[:, None, :]) ** 2).sum(-1).triu(diagonal=1).sum((1, 2)).mean()
    value = paper_scale_diversity(embeddings)
    assert value.item() == pytest.approx(raw.item(), rel=1e-12)
    value.backward()
    radial = (embeddings.grad * embeddings).sum(-1)  # the gradient's component along each embedding
    assert radial.abs().max().item() < 1e-9 * embeddings.grad.norm().item()
    assert embeddings.grad.norm().item() > 0


def test_the_swapped_diversity_is_the_one_idtd_optimises(seed0_tasks, monkeypatch):
    values = []
    monkeypatch.setattr(vddbench_idtd, "diversity", lambda e: values.append(paper_scale_diversity(e)) or values[-1])
    result = terms_by_tenths(seed0_tasks, ipc=1, iterations=10, seed=0)
    classes = len(values) // 10  # IDTD.step calls it once per class; idtd_terms sums over classes
    per_iteration = [sum(v.item() for v in values[i:i + classes]) for i in range(0, len(values), classes)]
    assert result["diversity"] == pytest.approx(per_iteration, rel=1e-5)
