"""benchmarks/tsgf_terms.py: TSGF's loss split into the teacher's cross-entropy and the BN-statistics term."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from tsgf_terms import terms  # noqa: E402
from tune_distiller import recording_calls  # noqa: E402

import vddbench_tsgf  # noqa: E402


def test_the_two_terms_make_up_the_traced_loss_and_the_bn_term_is_restored(seed0_tasks):
    original = vddbench_tsgf.BatchNormStatistics.loss
    split = terms(seed0_tasks, ipc=1, iterations=10, seed=0)
    assert len(split["loss"]) == 10 and all(b > 0 for b in split["bn"])
    for ce, bn, loss in zip(split["ce"], split["bn"], split["loss"]):
        assert ce + bn == pytest.approx(loss, rel=1e-6) and ce > 0
    assert vddbench_tsgf.BatchNormStatistics.loss is original


def test_recording_calls_keeps_results_and_restores_the_method():
    class Owner:
        def double(self, x):
            return 2 * x

    stored = Owner.__dict__["double"]
    with recording_calls(Owner, "double", keep=str) as calls:
        assert Owner().double(3) == 6 and Owner().double(4) == 8
    assert calls == ["6", "8"] and Owner.__dict__["double"] is stored
    one = Owner()
    with recording_calls(one, "double") as calls:  # one object's method: the class is left alone
        assert one.double(5) == 10 and Owner().double(1) == 2
    assert calls == [10] and "double" not in vars(one) and one.double(2) == 4
