"""Static-DC's defining behaviour on the smoke protocol: DC's distance, DC's image update lowering it,
one stored frame per instance repeated over time (storage ~1/T of a pixel method), determinism."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save

import vddbench
from vddbench_static_dc import (
    ConvNet,
    StaticDC,
    get_loops,
    initial_images,
    learn_static_images,
    match_loss,
    random_frames,
)

pytestmark = pytest.mark.usefixtures("vddbench_one_thread")  # as the harness runs a cell


def _grads(seed, shapes=((8, 3, 3, 3), (8,), (5, 32), (5,))):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g) for s in shapes]


def test_distance_is_zero_for_identical_gradients_and_positive_otherwise():
    a, b = _grads(0), _grads(1)
    assert match_loss(a, a).item() == pytest.approx(0.0, abs=1e-5)
    assert match_loss(a, [2.0 * x for x in a]).item() == pytest.approx(0.0, abs=1e-5)  # scale-free: cosine
    assert match_loss(a, b).item() > 1.0
    assert match_loss(a, [-x for x in a]).item() == pytest.approx(2 * (8 + 5), rel=1e-4)  # 1 - cos = 2 per row
    # DC's 'ours' ignores 1-D parameters (biases, norm affines): they never count
    assert match_loss(a, [a[0], b[1], a[2], b[3]]).item() == pytest.approx(0.0, abs=1e-5)
    for metric in ("mse", "cos"):
        assert match_loss(a, a, metric).item() == pytest.approx(0.0, abs=1e-5)
        assert match_loss(a, b, metric).item() > 0


def _held_out_distance(task, images, judges):
    """DC's distance between the gradients of fixed real frames and of the images, over fixed networks."""
    g = torch.Generator().manual_seed(1234)
    real = [random_frames(task.train.clips(task.train.indices_of(c)), g) for c in range(task.num_classes)]
    total = 0.0
    for net in judges:
        params = list(net.parameters())
        for c, frames in enumerate(real):
            gr = torch.autograd.grad(F.cross_entropy(net(frames), torch.full((len(frames),), c)), params)
            gs = torch.autograd.grad(F.cross_entropy(net(images[c]), torch.full((images.shape[1],), c)), params)
            total += match_loss(gs, gr).item()
    return total / (len(judges) * task.num_classes)


def test_dc_update_makes_synthetic_gradients_match_real_ones_better(vddbench_task):
    task = vddbench_task(ipc=1)
    clip = task.clip
    torch.manual_seed(99)  # networks DC never sees
    judges = [ConvNet(task.num_classes, clip.height, clip.width, net_width=16) for _ in range(3)]
    start = torch.randn(task.num_classes, 1, 3, clip.height, clip.width, generator=torch.Generator().manual_seed(0))
    learned = learn_static_images(task, start, iterations=10, lr_img=1.0, batch_real=6, net_width=16)
    before, after = _held_out_distance(task, start, judges), _held_out_distance(task, learned, judges)
    assert after < 0.9 * before, (before, after)


def test_each_stored_image_is_repeated_over_the_clip(vddbench_task):
    task = vddbench_task(ipc=2)
    distiller = StaticDC(iterations=1, batch_real=2)
    artifact = distiller.distill(task)
    images = artifact.tensors["images"]
    assert images.shape == (task.num_classes * 2, 3, task.clip.height, task.clip.width)
    videos = distiller.expand(artifact).videos
    assert videos.shape == (len(images), 3, task.clip.frames, task.clip.height, task.clip.width)
    assert all(torch.equal(videos[:, :, t], images) for t in range(task.clip.frames))
    assert artifact.tensors["labels"].tolist() == [c for c in range(task.num_classes) for _ in range(2)]


def _file(artifact) -> bytes:
    """The artifact as safetensors bytes (how the harness stores it; its length is the storage)."""
    return save({k: v.contiguous() for k, v in artifact.tensors.items()}, metadata=artifact.metadata)


def _stored_bytes(artifact) -> int:
    return len(_file(artifact))


@pytest.mark.parametrize("protocol", ["smoke", "embedded"])
def test_storage_is_about_one_T_th_of_dm_at_the_same_ipc(protocol, vddbench_task):
    clip = vddbench.get_protocol(protocol).datasets[0].clip
    task = vddbench_task(ipc=2)
    artifact = StaticDC(iterations=0).distill(task)
    n = len(artifact.tensors["labels"])
    images = torch.zeros(n, 3, clip.height, clip.width)  # what Static-DC stores at this clip size
    ours = vddbench.Artifact({"images": images, "labels": artifact.tensors["labels"]}, artifact.metadata)
    dm = vddbench.Artifact({"videos": torch.zeros(n, 3, clip.frames, clip.height, clip.width),  # dm: float32 pixels
                            "labels": artifact.tensors["labels"]}, {"method": "dm", "ipc": "2"})
    ratio = _stored_bytes(ours) / _stored_bytes(dm)
    assert ratio == pytest.approx(1 / clip.frames, rel=0.02), ratio


def test_recorded_storage_is_one_T_th_of_float32_pixels(vddbench_run):
    record = vddbench_run("static-dc", ipc=1)[0]
    clip = vddbench.get_protocol("smoke").datasets[0].clip
    pixels = 10 * 3 * clip.frames * clip.height * clip.width * 4  # dm's payload: 10 classes x IPC 1, float32
    assert record["status"] == "ok"
    assert record["storage_bytes"] / pixels == pytest.approx(1 / clip.frames, rel=0.05)


def test_initialisation_is_a_frame_of_randoms_clips(vddbench_task):
    task = vddbench_task(ipc=2)
    images = StaticDC(iterations=0).distill(task).tensors["images"].view(task.num_classes, 2, 3, *task.clip.shape[2:])
    for c, idx in enumerate(task.random_real_indices()):
        clips = task.train.clips(idx)
        for slot in range(2):
            frames = clips[slot].transpose(0, 1)  # (T, 3, H, W)
            assert (frames - images[c, slot]).abs().flatten(1).amax(1).min() < 1e-6


def test_learning_moves_the_images_and_traces_each_iteration(vddbench_task):
    task = vddbench_task(ipc=1)
    distiller = StaticDC(iterations=3, batch_real=4, lr_img=1.0)
    trace = []
    learned = distiller.distill(task, trace=trace).tensors["images"]
    start = initial_images(task).flatten(0, 1)
    assert len(trace) == 3 and all(v > 0 for v in trace)
    assert (learned - start).abs().max() > 1e-3


def test_outer_and_inner_loops_train_the_network_between_matching_steps(vddbench_task):
    task = vddbench_task(ipc=2)
    trace = []
    out = StaticDC(iterations=1, outer_loop=3, inner_loop=2, batch_real=2).distill(task, trace=trace)
    assert torch.isfinite(out.tensors["images"]).all() and len(trace) == 1


def test_determinism_same_seed_same_bytes(vddbench_task):
    def run(seed):
        artifact = StaticDC(iterations=2, batch_real=3).distill(vddbench_task(ipc=1, seed=seed))
        return save(artifact.tensors)  # tensor bytes (the kit's check_determinism hashes the whole file)

    assert run(0) == run(0) and run(0) != run(1)


def test_random_frames_picks_one_frame_of_each_clip():
    clips = torch.randn(5, 3, 8, 6, 6)
    frames = random_frames(clips, torch.Generator().manual_seed(0))
    assert frames.shape == (5, 3, 6, 6)
    for clip, frame in zip(clips, frames):
        assert any(torch.equal(clip[:, t], frame) for t in range(8))


def test_loops_follow_dcs_table_unless_given():
    assert get_loops(1) == get_loops(5) == (1, 1) and get_loops(10) == (10, 50) and get_loops(50) == (50, 10)
    assert get_loops(2) == (1, 1) and get_loops(12) == (10, 50)
    assert StaticDC().loops(10) == (10, 50) and StaticDC(outer_loop=2, inner_loop=3).loops(10) == (2, 3)


def test_defaults_are_dcs_and_protocols_shrink_them():
    assert StaticDC().get_params() == {"iterations": 1000, "lr_img": 0.1, "momentum": 0.5, "lr_net": 0.01,
                                       "outer_loop": None, "inner_loop": None, "batch_real": 256, "init": "real",
                                       "dis_metric": "ours", "net_width": 128, "net_depth": 3}
    assert set(StaticDC.protocol_defaults) == {"embedded", "smoke"}


def test_network_is_dcs_convnet():
    net = ConvNet(10, 24, 24)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in net.features if isinstance(m, torch.nn.GroupNorm)]
    assert [c.out_channels for c in convs] == [128] * 3 and all(n.num_groups == n.num_channels == 128 for n in norms)
    assert net.classifier.in_features == 128 * 3 * 3


@pytest.mark.parametrize("bad", [{"init": "zeros"}, {"dis_metric": "l1"}, {"outer_loop": 0}, {"inner_loop": -1},
                                 {"batch_real": 0}])
def test_rejects_bad_options_when_built(bad):
    with pytest.raises(vddbench.DistillerError, match="static-dc"):
        StaticDC(iterations=0, **bad)


def test_images_are_one_shared_cached_input_with_the_numbers_of_a_direct_run(vddbench_task):
    task = vddbench_task(ipc=2)
    asked = []
    factory = task.input_factory
    task.input_factory = lambda kind, options: asked.append((kind, options)) or factory(kind, options)
    cached = StaticDC(iterations=2, batch_real=3).distill(task).tensors["images"]
    assert [kind for kind, _ in asked] == ["static-dc-images"] and asked[0][1]["ipc"] == 2
    direct = StaticDC(iterations=2, batch_real=3).distill(dataclasses.replace(task, input_factory=None))
    traced = StaticDC(iterations=2, batch_real=3).distill(vddbench_task(ipc=2), trace=[])  # a trace runs it here
    assert torch.equal(cached, direct.tensors["images"]) and torch.equal(cached, traced.tensors["images"])


def test_a_run_builds_the_images_as_a_cached_input_its_records_name(vddbench_run, tmp_path):
    records = vddbench_run("static-dc", ipc=1, results=tmp_path / "results")
    assert [r["status"] for r in records] == ["ok"]
    builds = list((tmp_path / "results").rglob("static-dc-images/builds.log"))
    assert len(builds) == 1 and len(builds[0].read_text().splitlines()) == 1
    assert [i["kind"] for i in records[0]["cached_inputs"]] == ["static-dc-images"]
