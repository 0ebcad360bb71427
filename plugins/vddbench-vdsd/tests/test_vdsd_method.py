"""VDSD's defining behaviour: the artifact is static memory + dynamic memory + hallucinator weights,
never full videos, and expand rebuilds the videos from exactly those parts."""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load, save

import vddbench
from vddbench_static_dc import StaticDC
from vddbench_vdsd import MTTVDSD, VDSD, FRePoVDSD
from vddbench_vdsd import memory as mem

FAST = dict(iterations=2, static_iterations=2, batch_real=2, static_batch_real=2)


pytestmark = pytest.mark.usefixtures("vddbench_one_thread")  # as the harness runs a cell


def test_artifact_holds_no_full_videos_and_is_smaller_than_pixels(vddbench_task):
    task = vddbench_task(ipc=2)
    artifact = VDSD(**FAST).distill(task)  # the paper's 2 statics and 2 dynamics per video
    video = task.clip.shape
    for name, tensor in artifact.tensors.items():
        assert not (tensor.dim() == 5 and tuple(tensor.shape[1:]) == video), name
    assert set(artifact.tensors) == {"static", "dynamic", "hallucinator.weight", "hallucinator.bias"}
    c, t, h, w = task.num_classes, *task.clip.shape[1:]
    assert artifact.tensors["static"].shape == (c * 2 * 2, 3, h, w)
    assert artifact.tensors["dynamic"].shape == (c * 2 * 2, t, h, w)
    assert artifact.tensors["hallucinator.weight"].shape == (3, 4, 3, 3, 3)
    stored = len(save(artifact.tensors, metadata=artifact.metadata))
    pixels = c * 2 * 3 * t * h * w * 4  # what DM stores at the same IPC (float32)
    assert stored < pixels


def test_expand_rebuilds_every_combination_from_the_stored_parts(vddbench_task):
    task = vddbench_task(ipc=2)
    artifact = VDSD(**FAST).distill(task)
    reloaded = vddbench.Artifact(load(save(artifact.tensors, metadata=artifact.metadata)), artifact.metadata)
    data = VDSD().expand(reloaded)  # a fresh instance: nothing but the file is needed
    t = reloaded.tensors
    static = t["static"].view(task.num_classes, 2, 2, 3, *task.clip.shape[2:])
    dynamic = t["dynamic"].view(task.num_classes, 2, 2, *task.clip.shape[1:])
    assert data.videos.shape == (task.num_classes * 2 * 2 * 2, *task.clip.shape)
    k = 0
    for c in range(task.num_classes):
        for slot in range(2):
            for s in range(2):
                for d in range(2):
                    still = static[c, slot, s].unsqueeze(1).expand(-1, task.clip.frames, -1, -1)
                    x = torch.cat([still, dynamic[c, slot, d].unsqueeze(0)]).unsqueeze(0)
                    video = F.conv3d(x, t["hallucinator.weight"], t["hallucinator.bias"], padding=1)[0]
                    torch.testing.assert_close(data.videos[k], video)
                    assert data.labels[k] == c
                    k += 1
    assert torch.equal(data.videos, VDSD().expand(artifact).videos)


def test_static_memory_is_learned_in_the_static_stage_then_frozen(vddbench_task):
    task = vddbench_task(ipc=1)
    vdsd = VDSD(iterations=3, static_iterations=0, batch_real=2, lr_dynamic=100.0, lr_hal=1e-3)
    initial = vdsd.init_static(task)
    dynamic0, weight0, _ = vdsd.init_dynamic(task)
    artifact = vdsd.distill(task)
    assert torch.equal(artifact.tensors["static"], initial.flatten(0, 1))  # frozen in stage 2
    assert not torch.equal(artifact.tensors["dynamic"], dynamic0.flatten(0, 1))  # dynamic memory learned
    assert not torch.equal(artifact.tensors["hallucinator.weight"], weight0)  # hallucinator learned
    learned = VDSD(iterations=0, static_iterations=3, static_batch_real=2, static_lr_img=10.0).distill(task)
    assert not torch.equal(learned.tensors["static"], initial.flatten(0, 1))
    # the static memory starts from real frames: each one is a frame of a real clip of its class
    frames = task.train.clips(slice(0, len(task.train))).transpose(1, 2)  # (N, T, 3, H, W)
    for image, label in zip(initial.flatten(0, 1), [c for c in range(task.num_classes) for _ in range(2)]):
        same = (frames - image).abs().flatten(2).amax(2).min(1).values < 1e-6
        assert same.any() and set(task.train.labels[same].tolist()) == {label}


def test_dynamic_memory_starts_from_randn(vddbench_task):
    dynamic, _, _ = VDSD().init_dynamic(vddbench_task(ipc=1))
    assert abs(dynamic.mean().item()) < 0.05 and abs(dynamic.std().item() - 1) < 0.05


def test_ablations(vddbench_task):
    task = vddbench_task(ipc=1)
    still = VDSD(**FAST, use_dynamic=False).distill(task)
    assert "dynamic" not in still.tensors
    assert VDSD().expand(still).videos.shape == (task.num_classes * 2, *task.clip.shape)
    add = VDSD(**FAST, hallucinator="add").distill(task)
    assert add.tensors["hallucinator.weight"].shape == (3, 3, 3, 3, 3)
    assert torch.isfinite(VDSD().expand(add).videos).all()
    one = VDSD(**FAST, statics_per_video=1, dynamics_per_video=1, hal_init="identity")
    videos = one.expand(one.distill(task)).videos
    assert videos.shape == (task.num_classes, *task.clip.shape)  # exactly IPC clips per class
    ident = VDSD(iterations=0, static_iterations=0, statics_per_video=1, dynamics_per_video=1,
                 hal_init="identity")
    _, weight, bias = ident.init_dynamic(task)
    weight[:, 3] = 0  # with the dynamic channel muted, the identity init passes the still image through
    static = ident.init_static(task).flatten(0, 1)
    from vddbench_vdsd import hallucinate
    out = hallucinate(static, torch.zeros(len(static), *task.clip.shape[1:]), weight, bias)
    torch.testing.assert_close(out, static.unsqueeze(2).expand_as(out))


@pytest.mark.parametrize("bad", [{"hallucinator": "mlp"}, {"hal_init": "zeros"}, {"statics_per_video": 0},
                                 {"ipc1_iterations": -1}])
def test_rejects_bad_hyper_parameters_when_built(bad):
    with pytest.raises(vddbench.DistillerError, match="vdsd"):
        VDSD(**bad)


@pytest.mark.parametrize("ipc1_iterations", [None, 3])
def test_ipc1_iterations_sets_the_stage_2_budget_at_ipc_1_alone(vddbench_task, ipc1_iterations):
    params = dict(FAST, ipc1_iterations=ipc1_iterations)
    for ipc, expected in ((1, ipc1_iterations or FAST["iterations"]), (2, FAST["iterations"])):
        trace = []
        VDSD(**params).distill(vddbench_task(ipc=ipc), trace=trace)
        assert len(trace) == expected, (ipc, ipc1_iterations)


def test_defaults_are_the_papers():
    params = VDSD().get_params()
    assert params["momentum"] == 0.95 and params["iterations"] == 5000 and params["batch_real"] == 64
    assert params["ipc1_iterations"] is None  # VDSD has one budget for every IPC
    assert params["statics_per_video"] == 2 and params["dynamics_per_video"] == 2
    assert params["hallucinator"] == "concat" and params["train_static"] is False
    assert (params["lr_dynamic"], params["lr_hal"]) == (1e-4, 1e-5)
    for overrides in VDSD.protocol_defaults.values():
        assert set(overrides) <= set(VDSD.param_names())


@pytest.mark.parametrize("cls", [VDSD, MTTVDSD, FRePoVDSD])
def test_the_static_stage_budget_is_static_dcs_on_every_protocol(cls):
    """The shared static images need the same DC hyper-parameters as Static-DC's own run."""
    for protocol, static_dc in StaticDC.protocol_defaults.items():
        stage = {key.removeprefix("static_"): value for key, value in cls.protocol_defaults[protocol].items()
                 if key.startswith("static_")}
        assert stage == static_dc, (cls.name, protocol)


def test_the_shared_static_images_are_the_static_stage_run_here(vddbench_task):
    """With S = 1 the static memory comes from Static-DC's cached input; it equals the stage run in place
    (as it is for S > 1). test_vdsd_objectives checks it equals static-dc's artifact."""
    task = vddbench_task(ipc=2)
    shared = VDSD(static_iterations=2, static_batch_real=3, statics_per_video=1).static_memory(task)
    assert torch.equal(shared, mem.learn_static(task, mem.init_static(task, 1), 2, batch_real=3))


def test_a_grid_builds_the_shared_static_images_once_for_static_dc_and_frepo_vdsd(vddbench_run, tmp_path):
    results = tmp_path / "results"  # frepo-vdsd: one image per slot by default (vdsd's smoke run keeps 2)
    records = vddbench_run("static-dc", ipc=1, results=results) + vddbench_run("frepo-vdsd", ipc=1, results=results)
    assert [r["status"] for r in records] == ["ok"] * len(records) and len(records) >= 2
    builds = list(results.rglob("static-dc-images/builds.log"))
    assert len(builds) == 1 and len(builds[0].read_text().splitlines()) == 1
    shas = [i["sha256"] for r in records for i in r["cached_inputs"] if i["kind"] == "static-dc-images"]
    assert len(shas) == len(records) and len(set(shas)) == 1  # every record names the one build
