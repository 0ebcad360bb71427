"""benchmarks/vstunet_terms.py: vst-unet's objective split into its terms, and how a budget changes the selection."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from tune_distiller import embedded_params, seeded_distill  # noqa: E402
from vstunet_terms import changed_classes, selection, terms_by_tenths  # noqa: E402

import vddbench_vstunet  # noqa: E402
from vddbench.plugins import get_registry  # noqa: E402


def test_the_terms_make_up_the_traced_objective_and_watching_them_changes_nothing(seed0_tasks):
    cls = get_registry().distillers["vst-unet"].obj
    original = vddbench_vstunet.selection_losses
    trace: list[float] = []
    seeded_distill(cls(**embedded_params(cls, {"epochs": 3})), seed0_tasks(5), 0, trace=trace)
    terms, chosen = terms_by_tenths(seed0_tasks, ipc=5, epochs=3, seed=0)
    lam_r, lam_d = vddbench_vstunet.paper_lambdas(5)
    for epoch, objective in enumerate(trace):
        assert objective == pytest.approx(terms["ce"][epoch] + lam_d * terms["div"][epoch]
                                          + lam_r * terms["rep"][epoch], rel=1e-5)
    unwatched = selection(seed0_tasks, ipc=5, epochs=3, seed=0)
    assert changed_classes(chosen, unwatched) == 0
    assert vddbench_vstunet.selection_losses is original


def test_changed_classes_compares_each_class_as_a_set():
    a = [torch.tensor([[1, 2], [3, 4]]), torch.tensor([[5, 6], [7, 8]])]
    b = [torch.tensor([[3, 4], [1, 2]]), torch.tensor([[5, 6], [9, 9]])]
    assert changed_classes(a, a) == 0
    assert changed_classes(a, b) == 1
