"""FRePo's defining behaviour: the KRR loss is the closed-form ridge regression, the model pool
trains and resets its online models, the learned labels become probability vectors, and the
paper's evaluation recipe (Adam) is declared."""

import dataclasses

import pytest
import torch

import vddbench
from vddbench_frepo import FRePo, ModelPool, centred_one_hot, krr_loss, label_margin_loss, label_probabilities

pytestmark = pytest.mark.usefixtures("vddbench_one_thread")  # as the harness runs a cell


def test_krr_loss_matches_a_closed_form_solve():
    g = torch.Generator().manual_seed(0)
    fs, fr = torch.randn(4, 7, generator=g, dtype=torch.float64), torch.randn(5, 7, generator=g, dtype=torch.float64)
    ys, yr = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    reg = 0.1
    kss = fs @ fs.T
    lam = reg * torch.trace(kss) / 4
    pred = (fr @ fs.T) @ torch.linalg.solve(kss + lam * torch.eye(4, dtype=torch.float64), ys)
    expected = ((pred - yr) ** 2).sum(1).mean()
    assert torch.allclose(krr_loss(fs, ys, fr, yr, reg), expected, rtol=1e-10)


def test_krr_loss_is_zero_when_synthetic_is_real_and_interpolation_is_exact():
    g = torch.Generator().manual_seed(1)
    f = torch.randn(6, 20, generator=g, dtype=torch.float64)  # 6 points in 20 dims: exact interpolation
    y = centred_one_hot(torch.tensor([0, 1, 2, 0, 1, 2]), 3).double()
    assert krr_loss(f, y, f, y, reg=1e-12).item() < 1e-12
    assert krr_loss(f, y, f, y, reg=1e-1).item() > 1e-4  # the ridge is what keeps it from 0


def test_krr_loss_keeps_the_features_dtype_and_gradients():
    fs = torch.randn(3, 8, requires_grad=True)
    loss = krr_loss(fs, torch.eye(3), torch.randn(4, 8), torch.eye(3)[[0, 1, 2, 0]])
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(fs.grad).all() and fs.grad.abs().sum() > 0


def test_targets_and_label_terms_are_frepos():
    y = centred_one_hot(torch.tensor([2, 0]), 10)
    assert torch.allclose(y[0], torch.tensor([-0.1, -0.1, 0.9] + [-0.1] * 7))
    assert torch.allclose(centred_one_hot(torch.tensor([1]), 40, scale=True),
                          centred_one_hot(torch.tensor([1]), 40) / 2)
    # lb_margin_th: -min(top1 - top2, 1/C)
    labels = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.3, 0.25, 0.0, 0.0]])
    assert torch.isclose(label_margin_loss(labels), torch.tensor(-(0.25 + 0.05) / 2))
    p = label_probabilities(torch.tensor([[0.9, -0.1, -0.1]]), temperature=1.0)
    assert torch.allclose(p, torch.softmax(torch.tensor([[0.9, -0.1, -0.1]]), 1))


def test_pool_resets_a_model_after_max_online_steps(vddbench_task):
    task = vddbench_task(ipc=1)
    pool = ModelPool(task, size=1, max_online_steps=3, lr=1e-2)
    model = pool.sample()
    start = [p.detach().clone() for p in model.parameters()]
    syn = task.train.clips(torch.arange(4))
    targets = centred_one_hot(task.train.labels[:4], task.num_classes)
    for step in (1, 2):
        pool.sample()
        pool.train_step(syn, targets)
        assert pool.steps == [step] and pool.resets == [0]
    assert any(not torch.equal(a, b) for a, b in zip(start, model.parameters()))  # it trained
    pool.sample()
    pool.train_step(syn, targets)
    assert pool.steps == [0] and pool.resets == [1]
    twin = vddbench_task(ipc=1)  # the same draws: one new_student, then one reset
    fresh = twin.reset_student(twin.new_student())
    assert all(torch.equal(a, b) for a, b in zip(fresh.parameters(), model.parameters()))


def test_pool_staggers_its_models_and_samples_uniformly(vddbench_task):
    pool = ModelPool(vddbench_task(ipc=1), size=4, max_online_steps=100, generator=torch.Generator().manual_seed(0))
    assert pool.steps == [0, 25, 50, 75]
    seen = {id(pool.sample()) for _ in range(40)}
    assert len(seen) == 4
    model = pool.sample()
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_train_step_needs_a_sampled_model(vddbench_task):
    pool = ModelPool(vddbench_task(ipc=1), size=1)
    with pytest.raises(vddbench.DistillerError, match="sample"):
        pool.train_step(torch.zeros(1, 3, 8, 24, 24), torch.zeros(1, 10))


def test_soft_labels_sum_to_one_and_classes_are_each_clips(vddbench_task):
    task = vddbench_task(ipc=2)
    frepo = FRePo(iterations=3, batch_real=6, pool_size=2, max_online_steps=2)
    data = frepo.expand(frepo.distill(task))
    expected = torch.arange(task.num_classes).repeat_interleave(2)
    assert data.labels.dtype == torch.float32 and data.labels.shape == (len(expected), task.num_classes)
    assert torch.allclose(data.labels.sum(1), torch.ones(len(expected)), atol=1e-6) and (data.labels >= 0).all()
    assert torch.equal(data.classes, expected) and torch.equal(data.hard_labels(), expected)
    assert torch.equal(data.labels.argmax(1), expected)  # 3 small steps keep each label's class on top


def test_learning_moves_pixels_and_labels_from_random_clips(vddbench_task):
    task = vddbench_task(ipc=1)
    start = FRePo(iterations=0).distill(task)
    chosen = vddbench.normalize(torch.cat([task.train.raw(i) for i in task.random_real_indices()]))
    assert torch.allclose(start.tensors["videos"], chosen)  # paired with random
    init = label_probabilities(centred_one_hot(torch.arange(task.num_classes), task.num_classes))
    assert torch.allclose(start.tensors["labels"], init, atol=1e-6)
    moved = FRePo(iterations=4, batch_real=8, pool_size=2, lr_img=1e-2, lr_label=1e-2).distill(task)
    assert (moved.tensors["videos"] - start.tensors["videos"]).abs().max() > 1e-3
    assert (moved.tensors["labels"] - init).abs().max() > 1e-4


def test_fixed_labels_give_hard_labels(vddbench_task):
    data = FRePo(iterations=1, batch_real=4, pool_size=1, learn_label=False).distill(vddbench_task(ipc=1))
    assert data.tensors["labels"].dtype == torch.int64


def test_same_seed_same_bytes(vddbench_task):
    runs = []
    for _ in range(2):
        torch.manual_seed(0)  # the harness seeds the global RNG per cell (dropout of online steps)
        runs.append(FRePo(iterations=3, batch_real=6, pool_size=2, max_online_steps=2).distill(vddbench_task(ipc=1)))
    for key in runs[0].tensors:
        assert torch.equal(runs[0].tensors[key], runs[1].tensors[key]), key


def test_trace_records_the_krr_loss(vddbench_task):
    trace = []
    FRePo(iterations=3, batch_real=6, pool_size=2).distill(vddbench_task(ipc=1), trace=trace)
    assert len(trace) == 3 and all(v > 0 for v in trace)


def test_own_evaluation_is_adam_at_1e_4_with_the_protocols_steps(vddbench_protocol):
    recipe = vddbench_protocol.recipe
    frepo = FRePo()
    assert frepo.tags.own_eval_recipe and frepo.tags.soft_labels
    own = frepo.evaluation_recipe(vddbench.Artifact({}), recipe)
    assert (own.optimizer, own.lr, own.weight_decay) == ("adam", 1e-4, 0.0)
    assert dataclasses.replace(own, optimizer=recipe.optimizer, lr=recipe.lr, weight_decay=recipe.weight_decay,
                               sqrt_lr_scaling=recipe.sqrt_lr_scaling) == recipe
    plain = FRePo(eval_lr=None)
    assert not plain.tags.own_eval_recipe and plain.evaluation_recipe(vddbench.Artifact({}), recipe) == recipe
    assert FRePo.tags.own_eval_recipe  # the class's tags are untouched


def test_defaults_are_the_papers_and_protocols_shrink_them():
    assert FRePo().get_params() == {
        "iterations": 10000, "lr_img": 1e-3, "lr_label": 1e-3, "learn_label": True, "batch_real": 512,
        "pool_size": 10, "max_online_steps": 100, "lr_net": 1e-4, "online_batch": 500, "reg": 1e-6,
        "label_temperature": 1.0, "eval_lr": 1e-4}
    assert set(FRePo.protocol_defaults) == {"embedded", "smoke"}
    for overrides in FRePo.protocol_defaults.values():
        assert set(overrides) <= set(FRePo.param_names())


def test_rejects_bad_hyper_parameters_when_built():
    with pytest.raises(vddbench.DistillerError, match="label_temperature"):
        FRePo(label_temperature=0)


def test_the_harness_scores_it_its_own_way_and_plain(vddbench_run):
    records = vddbench_run("frepo", ipc=1)
    assert {r["status"] for r in records} == {"ok"}, [r.get("error") for r in records]
    by = {r["scoring"]: r for r in records}
    assert set(by) == {"own", "plain"}
    own, plain = by["own"], by["plain"]
    assert own["soft_labels"] and own["own_eval_recipe"] and not plain["own_eval_recipe"]
    assert (own["eval_recipe"]["optimizer"], own["eval_recipe"]["lr"]) == ("adam", 1e-4)
