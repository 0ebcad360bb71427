"""VDSD as a parameterisation of any matching objective: one memory (vddbench_vdsd.memory), three
objectives (DM, MTT, FRePo), the static stage learned by Static-DC."""

import dataclasses

import pytest
import torch
from safetensors.torch import load, save

import vddbench
from vddbench_static_dc import StaticDC
from vddbench_vdsd import MTTVDSD, VDSD, FRePoVDSD, memory

pytestmark = pytest.mark.usefixtures("vddbench_one_thread")  # as the harness runs a cell

OBJECTIVES = (VDSD, MTTVDSD, FRePoVDSD)
# No stage 2, a short static stage: what the parameterisation alone gives.
MEMORY_ONLY = dict(iterations=0, static_iterations=1, static_batch_real=2, statics_per_video=2, dynamics_per_video=2)


def memory_only(cls, **overrides):
    """``cls`` with no stage 2; MTT still fetches expert trajectories, so one short expert, not 30 (86 s)."""
    experts = dict(experts=1, max_start_epoch=1) if cls is MTTVDSD else {}
    return cls(**{**MEMORY_ONLY, **experts, **overrides})
ONE_STEP = {VDSD: dict(batch_real=2, lr_dynamic=100.0, lr_hal=1e-3),
            MTTVDSD: dict(experts=1, syn_steps=2, max_start_epoch=2),
            FRePoVDSD: dict(batch_real=4, pool_size=2, max_online_steps=2, lr_dynamic=1e-2)}


def _reloaded(artifact):
    return vddbench.Artifact(load(save(artifact.tensors, metadata=artifact.metadata)), artifact.metadata)


def test_the_same_memory_gives_the_same_videos_for_every_objective(vddbench_task):
    task = vddbench_task(ipc=2)
    artifacts = [memory_only(cls).distill(task) for cls in OBJECTIVES]
    parts = ("static", "dynamic", "hallucinator.weight", "hallucinator.bias")
    for artifact in artifacts[1:]:  # the same static stage, dynamic init and hallucinator init
        for name in parts:
            assert torch.equal(artifact.tensors[name], artifacts[0].tensors[name]), name
    videos = [cls().expand(_reloaded(a)).videos for cls, a in zip(OBJECTIVES, artifacts)]
    for v in videos[1:]:
        assert torch.equal(v, videos[0])
    # and every objective composes its training videos with the same function of the same draws
    m = memory.Memory.from_artifact(artifacts[0])
    assert torch.equal(m.compose(torch.Generator().manual_seed(3)), m.compose(torch.Generator().manual_seed(3)))


def test_expand_gives_every_static_dynamic_combination_of_each_slot(vddbench_task):
    task = vddbench_task(ipc=2)
    s, d = 2, 3
    m = memory.init_memory(task, memory.init_static(task, s), d)
    artifact = _reloaded(m.artifact("test"))
    data = memory.expand(artifact)
    c = task.num_classes
    assert data.videos.shape == (c * 2 * s * d, *task.clip.shape)
    assert torch.bincount(data.labels).tolist() == [2 * s * d] * c
    # order class, slot, static, dynamic: video k of slot (c, i) is hallucinate(static s_k, dynamic d_k)
    k = 7  # class 0, slot 1, static 0, dynamic 1
    expect = memory.hallucinate(m.static[0, 1 * s + 0][None], m.dynamic[0, 1 * d + 1][None], m.weight, m.bias)[0]
    torch.testing.assert_close(data.videos[k], expect)
    # compose draws one of them per slot
    one = m.compose(torch.Generator().manual_seed(0))
    assert one.shape == (c * 2, *task.clip.shape)
    slot_videos = data.videos.view(c, 2, s * d, *task.clip.shape)
    for v, cands in zip(one, slot_videos.flatten(0, 1)):
        assert min((v - x).abs().max().item() for x in cands) < 1e-5


@pytest.mark.parametrize("cls", OBJECTIVES, ids=lambda c: c.name)
def test_a_stage_2_step_changes_dynamic_memory_and_hallucinator_not_static(cls, vddbench_task):
    task = vddbench_task(ipc=1)
    common = dict(static_iterations=1, static_batch_real=2, statics_per_video=1, dynamics_per_video=1)
    before = cls(iterations=0, **common, **ONE_STEP[cls]).distill(task)
    after = cls(iterations=1, **common, **ONE_STEP[cls]).distill(task)
    assert torch.equal(after.tensors["static"], before.tensors["static"])  # frozen
    assert not torch.equal(after.tensors["dynamic"], before.tensors["dynamic"])
    assert not torch.equal(after.tensors["hallucinator.weight"], before.tensors["hallucinator.weight"])


def test_the_static_stage_is_static_dc(vddbench_task):
    """With one static image per video, the static memory is exactly Static-DC's artifact for the seed."""
    task = vddbench_task(ipc=2)
    dc = dict(iterations=2, batch_real=3, outer_loop=1, inner_loop=1)
    images = StaticDC(**dc).distill(vddbench_task(ipc=2)).tensors["images"]
    for cls in OBJECTIVES:
        vdsd = memory_only(cls, statics_per_video=1, static_iterations=2, static_batch_real=3, static_outer_loop=1,
                           static_inner_loop=1)
        assert torch.equal(vdsd.distill(task).tensors["static"], images), cls.name


def test_frepo_vdsd_stores_one_static_and_one_dynamic_per_video(vddbench_task):
    task = vddbench_task(ipc=2)
    artifact = FRePoVDSD(iterations=1, static_iterations=0, batch_real=4, pool_size=2, max_online_steps=2).distill(task)
    c, (t, h, w) = task.num_classes, task.clip.shape[1:]
    n = c * 2
    shapes = {k: tuple(v.shape) for k, v in artifact.tensors.items()}
    assert shapes == {"static": (n, 3, h, w), "dynamic": (n, t, h, w), "hallucinator.weight": (3, 4, 3, 3, 3),
                      "hallucinator.bias": (3,), "labels": (n, c)}
    numbers = sum(v.numel() for k, v in artifact.tensors.items() if k != "labels")
    # 3 x 4 x 27 hallucinator weights + 3 biases
    assert numbers == memory.stored_numbers(c, 2, t, h, w, 1, 1) == n * (3 + t) * h * w + 327
    # the published 48 MB of FRePo+VDSD on MiniUCF at IPC 1 (50 classes, 16 frames of 112 px, float32)
    assert round(memory.stored_numbers(50, 1, 16, 112, 112, 1, 1) * 4 / 1e6) == 48
    data = FRePoVDSD().expand(_reloaded(artifact))
    assert data.videos.shape == (n, *task.clip.shape) and data.soft
    torch.testing.assert_close(data.labels.sum(1), torch.ones(n))
    assert torch.equal(data.hard_labels(), torch.arange(c).repeat_interleave(2))
    hard = FRePoVDSD(iterations=1, static_iterations=0, batch_real=4, pool_size=2, max_online_steps=2,
                     learn_label=False).distill(task)
    assert "labels" not in hard.tensors and not FRePoVDSD().expand(hard).soft


def test_frepo_vdsd_learns_its_labels_and_evaluates_as_frepo(vddbench_task):
    task = vddbench_task(ipc=1)
    artifact = FRePoVDSD(iterations=3, static_iterations=0, batch_real=4, pool_size=2, max_online_steps=2,
                         lr_hal=0.1).distill(task)
    initial = torch.softmax(torch.eye(task.num_classes) - 1 / task.num_classes, 1)
    assert not torch.allclose(artifact.tensors["labels"], initial)
    recipe = vddbench.get_protocol("embedded").recipe
    own = FRePoVDSD().evaluation_recipe(artifact, recipe)
    assert (own.optimizer, own.lr) == ("adam", 1e-4) and FRePoVDSD().tags.own_eval_recipe
    assert FRePoVDSD(eval_lr=None).evaluation_recipe(artifact, recipe) == recipe
    assert not FRePoVDSD(eval_lr=None).tags.own_eval_recipe


def test_mtt_vdsd_learns_a_step_size_and_evaluates_with_it(vddbench_task):
    task = vddbench_task(ipc=1)
    mtt = MTTVDSD(iterations=2, static_iterations=0, experts=1, syn_steps=2, max_start_epoch=2, lr_lr=1e-3)
    artifact = mtt.distill(task)
    syn_lr = float(artifact.tensors["syn_lr"])
    assert abs(syn_lr - 0.01) > 1e-4 and syn_lr >= 0.001
    recipe = vddbench.get_protocol("embedded").recipe
    own = mtt.evaluation_recipe(artifact, recipe)
    assert own == dataclasses.replace(recipe, lr=syn_lr, sqrt_lr_scaling=False)
    assert mtt.tags.own_eval_recipe and mtt.tags.cached_inputs == ("expert-trajectories",)
    off = MTTVDSD(eval_syn_lr=False)
    assert not off.tags.own_eval_recipe and off.evaluation_recipe(artifact, recipe) == recipe
    fixed = MTTVDSD(iterations=1, static_iterations=0, experts=1, syn_steps=2, max_start_epoch=2, train_lr=False)
    assert float(fixed.distill(task).tensors["syn_lr"]) == pytest.approx(0.01)


def test_mtt_vdsd_follows_the_scripts_per_ipc():
    mtt = MTTVDSD()
    assert mtt.script_settings(1) == (10, None, True)  # s2d_MTT_ms.sh (--train_lr)
    assert mtt.script_settings(5) == (5, 128, False)  # s2d_MTT_ms_5.sh (no --train_lr)
    assert MTTVDSD(syn_steps=3, batch_syn=7, train_lr=True).script_settings(5) == (3, 7, True)
    p = mtt.get_params()
    assert (p["iterations"], p["lr_dynamic"], p["lr_hal"], p["momentum"]) == (10000, 1e4, 1e-3, 0.95)
    assert (p["expert_epochs"], p["max_start_epoch"], p["lr_teacher"], p["lr_momentum"]) == (1, 10, 0.01, 0.9)


def test_one_combination_per_slot_means_exact_ipc():
    assert VDSD(statics_per_video=1, dynamics_per_video=1).tags.exact_ipc
    assert not VDSD().tags.exact_ipc  # 2 x 2: four clips per slot
    assert FRePoVDSD().tags.exact_ipc and FRePoVDSD().tags.soft_labels


@pytest.mark.parametrize("cls", OBJECTIVES, ids=lambda c: c.name)
def test_deterministic(cls, vddbench_task):
    """Same task and seed, same artifact bytes (dropout draws from the global RNG, seeded by the harness)."""
    params = {**cls.defaults_for("smoke"), "static_iterations": 1}
    torch.manual_seed(0)
    a = cls(**params).distill(vddbench_task(ipc=1))
    torch.manual_seed(0)
    b = cls(**params).distill(vddbench_task(ipc=1))
    assert a.metadata == b.metadata and a.tensors.keys() == b.tensors.keys()
    for name in a.tensors:  # bit-identical (the safetensors header orders metadata arbitrarily)
        assert save({name: a.tensors[name]}) == save({name: b.tensors[name]}), name
