"""IDTD's defining behaviour: what it stores, how the video is built, and the diversity loss."""

import pytest
import torch

import vddbench
from vddbench_idtd import IDTD
from vddbench_idtd.modules import InstanceGenerators, diversity, segment_diversity, temporal_augment

torch.set_num_threads(1)


def test_stores_the_synthesised_videos_and_hard_labels(vddbench_task):
    task = vddbench_task(ipc=2)
    artifact = IDTD(k=2, iterations=1, init="real", real_batch=4).distill(task)
    t = task.clip
    assert set(artifact.tensors) == {"videos", "labels"}  # V_syn only: no pool, selectors or fusor
    videos, labels = artifact.tensors["videos"], artifact.tensors["labels"]
    assert videos.dtype == torch.float32 and videos.shape == (task.num_classes * 2, 3, t.frames, t.height, t.width)
    assert labels.dtype == torch.int64 and labels.tolist() == [c for c in range(task.num_classes) for _ in range(2)]
    data = IDTD().expand(artifact)  # stored pixels, expanded as they are
    assert torch.equal(data.videos, videos) and not data.soft


def test_real_start_is_chunks_of_k_real_clips_stitched_at_their_own_speed():
    frames, k = 8, 2
    clips = torch.randn(3, k, 3, frames, 5, 5)
    g = InstanceGenerators(3, k, k * frames, frames, 5, 5)
    g.init_real(clips)
    segments, video = g()
    chunk = frames // k
    for j in range(k):  # frames [j*T/K, (j+1)*T/K) of the video are those frames of clip j
        part = video[:, :, j * chunk:(j + 1) * chunk]
        assert torch.allclose(part, clips[:, j, :, j * chunk:(j + 1) * chunk], atol=1e-5)
    assert segments.shape == (3, k, 3, frames, 5, 5)


def test_fusor_is_a_convolution_along_time_over_the_stitched_segments():
    g = InstanceGenerators(1, 4, 8, 8, 3, 3)
    g.init_noise(torch.Generator().manual_seed(0))
    segments = g.segments()
    video = g.fuse(segments)
    stitched = torch.cat(list(segments[0]), dim=1)  # (3, K*T, H, W): segments one after another
    conv = torch.nn.functional.conv3d(stitched[None], g.fusor_weight[0][..., None, None],
                                      g.fusor_bias[0], stride=(4, 1, 1))
    assert torch.allclose(video, conv, atol=1e-5)


def test_temporal_augmentation_is_identity_for_the_full_interval_and_keeps_shape():
    videos = torch.randn(4, 3, 8, 6, 6)
    g = torch.Generator().manual_seed(0)
    assert torch.allclose(temporal_augment(videos, g, min_span=1.0), videos, atol=1e-6)
    out = temporal_augment(videos, g, min_span=0.5)
    assert out.shape == videos.shape and not torch.allclose(out, videos)
    again = temporal_augment(videos, torch.Generator().manual_seed(0), min_span=0.5)
    assert torch.equal(temporal_augment(videos, torch.Generator().manual_seed(0), min_span=0.5), again)


def test_diversity_is_the_pairwise_distance_of_unit_embeddings():
    same = torch.ones(2, 3, 4)
    assert diversity(same).item() == 0
    opposite = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]])
    assert diversity(opposite).item() == pytest.approx(4.0)


def test_segments_become_more_diverse_under_the_diversity_loss(vddbench_task):
    task = vddbench_task(ipc=1)
    probe = task.student_factory(12345).eval()  # one fixed student measures every run
    probe.requires_grad_(False)

    def spread(alpha1, iterations):
        gens = IDTD(k=4, alpha1=alpha1, iterations=iterations, init="real", real_batch=6).run(task)
        with torch.no_grad():
            seg = torch.cat([g.segments() for g in gens])  # (classes, K, 3, T, H, W)
            emb = probe.embed(seg.flatten(0, 1)).view(seg.shape[0], seg.shape[1], -1)
        return segment_diversity(emb).item()

    start, without, with_div = spread(0.05, 0), spread(0.0, 8), spread(0.05, 8)
    assert with_div > without and with_div > start


def test_paper_defaults_and_ablation_switches():
    d = IDTD()
    assert (d.k, d.lr, d.alpha1, d.alpha2, d.init) == (8, 0.01, 0.05, 1e-4, "noise")
    assert d.tags.eval_augmentation  # the paper trains students with its temporal augmentation
    off = IDTD(eval_temporal_augmentation=False)
    assert not off.tags.eval_augmentation and IDTD.tags.eval_augmentation  # instance, not class
    videos, labels = torch.randn(2, 3, 8, 4, 4), torch.tensor([0, 1])
    assert off.augment_batch(videos, labels, torch.Generator(), 2)[0] is videos
    assert IDTD.defaults_for("embedded")["iterations"] < d.iterations


@pytest.mark.parametrize("bad", [{"init": "zeros"}, {"k": 0}, {"iterations": -1}, {"real_batch": 0}])
def test_rejects_bad_values_when_built(bad):
    with pytest.raises(vddbench.DistillerError, match="distiller 'idtd'"):
        IDTD(**bad)


def test_the_papers_noise_start_runs_and_gives_finite_videos(vddbench_task):
    task = vddbench_task(ipc=1)
    artifact = IDTD(k=2, iterations=1, init="noise", real_batch=4).distill(task)
    assert torch.isfinite(artifact.tensors["videos"]).all()


def test_trace_records_the_objective_of_every_iteration_and_changes_nothing(vddbench_task):
    task = vddbench_task(ipc=1)
    trace: list[float] = []
    traced = IDTD(k=2, iterations=3, init="real", real_batch=4).distill(task, trace=trace)
    # a fresh task: the same students
    plain = IDTD(k=2, iterations=3, init="real", real_batch=4).distill(vddbench_task(ipc=1))
    assert len(trace) == 3 and all(isinstance(v, float) and v == v for v in trace)
    assert torch.equal(traced.tensors["videos"], plain.tensors["videos"])  # tracing is read-only
    # with only the segment matching term, the objective is DM's matching loss (summed over classes)
    only_matching: list[float] = []
    IDTD(k=2, iterations=2, init="real", real_batch=4, alpha1=0.0, alpha2=0.0).distill(task, trace=only_matching)
    assert all(v >= 0 for v in only_matching)
