"""MTT's defining behaviour: the trajectory loss is 0 exactly when the synthetic steps reproduce the
expert, its gradients reach pixels and the step size, and the distiller learns both."""

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F

import vddbench
from vddbench_mtt import MTT, trajectory_loss

pytestmark = pytest.mark.usefixtures("vddbench_one_thread")  # as the harness runs a cell


def flat(module):
    return vddbench.ExpertTrajectories.flatten(module)


def sgd_reference(student, x, y, lr, steps):
    """What the synthetic steps should do, written the plain way: an nn.Module and torch.optim.SGD."""
    model = copy.deepcopy(student)
    for p in model.parameters():
        p.requires_grad_(True)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return flat(model)


@pytest.fixture
def setup(vddbench_task):
    """Protocol student (eval mode: no dropout, so the plain SGD reference is exact), real clips,
    and a hand-built expert whose epoch-1 snapshot is 3 SGD steps at lr 0.01 on those clips."""
    task = vddbench_task(ipc=1)
    student = task.new_student().eval()
    x = torch.cat([task.train.clips(i) for i in task.random_real_indices()])
    y = torch.arange(task.num_classes)
    start = flat(student)
    target = sgd_reference(student, x, y, 0.01, steps=3)
    names = tuple(n for n, _ in student.named_parameters())
    shapes = tuple(tuple(p.shape) for _, p in student.named_parameters())
    trajectories = vddbench.ExpertTrajectories(torch.stack([start, target])[None], names, shapes, 0.01)
    return student, trajectories, x, y


def loss_of(setup, x=None, lr=0.01, steps=3, seed=0, **kw):
    student, trajectories, x0, y = setup
    x = x0 if x is None else x
    lr = lr if isinstance(lr, torch.Tensor) else torch.tensor(lr)
    return trajectory_loss(student, trajectories, x, y, lr, syn_steps=steps, expert_epochs=1, max_start_epoch=1,
                           generator=torch.Generator().manual_seed(seed), **kw)


def test_loss_is_zero_when_the_synthetic_steps_reproduce_the_expert(setup):
    assert loss_of(setup).item() < 1e-8


def test_loss_is_positive_otherwise(setup):
    x = setup[2]
    assert loss_of(setup, x=x + 0.5 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).item() > 1e-3
    assert loss_of(setup, lr=0.02).item() > 0.1  # overshoots: about (2 - 1)^2 of the way
    assert loss_of(setup, steps=2).item() > 0.05
    assert loss_of(setup, lr=0.0).item() == pytest.approx(1.0)  # no step: the normalising distance itself


def test_mini_batches_of_the_whole_set_equal_the_default(setup):
    n = len(setup[2])
    assert torch.allclose(loss_of(setup, batch_syn=n), loss_of(setup), atol=1e-7)
    assert loss_of(setup, batch_syn=3).item() > 1e-4  # other steps than the expert's full batches


def test_gradients_reach_pixels_and_step_size(setup):
    x = (setup[2] + 0.3).requires_grad_(True)
    lr = torch.tensor(0.01, requires_grad=True)
    loss_of(setup, x=x, lr=lr).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert lr.grad is not None and torch.isfinite(lr.grad) and lr.grad.abs() > 0


def test_draws_expert_and_start_epoch_from_the_generator(setup):
    student, trajectories, x, y = setup
    p = trajectories.params[0]
    shifted = torch.stack([p[0] + 0.01, p[1] + 0.01, p[1] + 0.02])
    many = dataclasses.replace(trajectories, params=torch.stack([shifted, torch.stack([p[0], p[1], p[1] + 0.01])]))
    lr = torch.tensor(0.01)
    values = [trajectory_loss(student, many, x, y, lr, 3, 1, 2, torch.Generator().manual_seed(s)).item()
              for s in range(12)]
    again = [trajectory_loss(student, many, x, y, lr, 3, 1, 2, torch.Generator().manual_seed(s)).item()
             for s in range(12)]
    assert values == again  # deterministic given the generator
    assert len({round(v, 6) for v in values}) > 1  # different experts / start epochs are drawn


def test_rejects_trajectories_too_short(setup):
    student, trajectories, x, y = setup
    with pytest.raises(ValueError, match="expert epochs"):
        trajectory_loss(student, trajectories, x, y, torch.tensor(0.01), 1, 1, 2, torch.Generator())  # needs 2 epochs


def test_distill_learns_pixels_and_step_size_from_randoms_clips(vddbench_task):
    task = vddbench_task(ipc=1)
    start = MTT(iterations=0, experts=1, max_start_epoch=2).distill(task)
    assert start.tensors["syn_lr"].tolist() == pytest.approx([0.01])
    chosen = vddbench.normalize(torch.cat([task.train.raw(i) for i in task.random_real_indices()]))
    assert torch.allclose(start.tensors["videos"], chosen)  # paired with `random`
    trace = []
    artifact = MTT(iterations=3, experts=1, syn_steps=2, max_start_epoch=2, lr_lr=1e-3).distill(
        vddbench_task(ipc=1), trace=trace)
    assert len(trace) == 3 and all(v > 0 for v in trace)
    assert not torch.equal(artifact.tensors["videos"], start.tensors["videos"])
    assert artifact.tensors["syn_lr"].item() != pytest.approx(0.01, abs=1e-7)
    assert artifact.tensors["syn_lr"].item() >= 0.001  # the reference's lower clip
    assert artifact.tensors["labels"].tolist() == list(range(task.num_classes))
    fixed = MTT(iterations=2, experts=1, syn_steps=2, max_start_epoch=2, train_lr=False).distill(vddbench_task(ipc=1))
    assert fixed.tensors["syn_lr"].tolist() == pytest.approx([0.01])


def test_own_evaluation_recipe_uses_the_learned_step_size():
    recipe = vddbench.EvalRecipe(lr=0.02, sqrt_lr_scaling=True)
    artifact = vddbench.Artifact({"syn_lr": torch.tensor([0.0042])})
    mtt = MTT()
    assert mtt.tags.own_eval_recipe and "expert-trajectories" in mtt.tags.cached_inputs
    own = mtt.evaluation_recipe(artifact, recipe)
    assert own.lr == pytest.approx(0.0042) and not own.sqrt_lr_scaling and own.momentum == recipe.momentum
    plain = MTT(eval_syn_lr=False)
    assert not plain.tags.own_eval_recipe and plain.evaluation_recipe(artifact, recipe) == recipe
    assert MTT.tags.own_eval_recipe  # the class's tags are untouched


def test_defaults_are_the_papers_and_protocols_shrink_them():
    assert MTT().get_params() == {
        "iterations": 8000, "syn_steps": 10, "expert_epochs": 1, "max_start_epoch": 10, "experts": 30,
        "lr_img": 1e5, "lr_lr": 1e-5, "lr_teacher": 0.01, "momentum": 0.5, "batch_syn": None,
        "train_lr": True, "eval_syn_lr": True}
    assert set(MTT.protocol_defaults) == {"embedded", "smoke"}
    for overrides in MTT.protocol_defaults.values():
        assert set(overrides) <= set(MTT.param_names())


def test_rejects_bad_settings_when_built():
    with pytest.raises(vddbench.DistillerError, match="syn_steps"):
        MTT(syn_steps=0)
