"""TSGF's defining behaviour: the saliency filter (Eq. 6-8), masked updates, BN-statistics
matching against the teacher, relabelling into soft labels, and VideoMix on non-key frames."""

import pytest
import torch
import torch.nn.functional as F

import vddbench
from vddbench_tsgf import TSGF, BatchNormStatistics
from vddbench_tsgf.saliency import (
    frame_differences,
    key_frames,
    saliency_bound,
    saliency_mask,
    temporal_saliency,
    tsgf_mask,
    videomix,
    window_weights,
)

torch.set_num_threads(1)


def spiky_video(n=2, t=8, jump_at=4, size=6, seed=0):
    """Slowly drifting clips with one big cut between frames jump_at-1 and jump_at (values stay
    inside the normalised pixel range, which the optimisation clamps to)."""
    g = torch.Generator().manual_seed(seed)
    base = 0.3 * torch.randn(n, 3, 1, size, size, generator=g) - 0.5
    drift = 0.01 * torch.arange(t, dtype=torch.float32).view(1, 1, t, 1, 1)
    video = base + drift + 0.001 * torch.randn(n, 3, t, size, size, generator=g)
    video[:, :, jump_at:] += 1.0
    return video


def test_frame_differences_follow_eq_6():
    v = torch.zeros(1, 3, 4, 2, 2)
    v[:, :, 1], v[:, :, 2], v[:, :, 3] = 1.0, 3.0, 3.0  # steps |f1-f0|=1, |f2-f1|=2, |f3-f2|=0
    d = frame_differences(v)[0]
    assert d.tolist() == pytest.approx([1.0, 1.5, 1.0, 0.0])  # ends use their one neighbour


def test_smoothing_is_a_causal_normalised_window():
    w = window_weights(3)
    assert w.sum().item() == pytest.approx(1.0) and w[0] > w[1] > w[2] > 0
    v = torch.zeros(1, 3, 6, 2, 2)
    v[:, :, 3:] = 1.0  # one step between frames 2 and 3
    s = temporal_saliency(v, window=3)[0]
    assert s[0] == 0 and s[1] == 0  # causal: nothing before the step is affected
    assert s[2] > 0 and s[3] > s[5]  # the step, then decaying after it


def test_mask_is_zero_where_saliency_exceeds_epsilon_and_never_negative():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        s = torch.rand(5, 8, generator=g)
        eps = float(torch.rand(1, generator=g)) + 0.1
        m = saliency_mask(s, eps)
        assert (m[s >= eps] == 0).all() and (m[s < eps] > 0).all() and (m >= 0).all()
        spread = s.amax(1, keepdim=True) - s.amin(1, keepdim=True)
        wide = (spread >= eps - s.amin(1, keepdim=True)).expand_as(s)  # where Eq. 8 applies as printed
        assert torch.allclose(m[wide], ((eps - s).clamp(min=0) / spread)[wide])
        assert (m <= 1 + 1e-6).all()


def test_masked_gradient_keeps_its_sign():
    g = torch.Generator().manual_seed(1)
    videos = torch.randn(3, 3, 8, 6, 6, generator=g)
    grad = torch.randn(videos.shape, generator=g)
    mask = TSGF(epsilon=0.0).mask(videos)
    masked = mask * grad
    assert (masked * grad >= 0).all()  # never flipped: magnitude only (the paper's Table 9)
    assert ((masked == 0) | (torch.sign(masked) == torch.sign(grad))).all()


def test_key_frames_are_those_above_the_bound():
    video = spiky_video()
    s = temporal_saliency(video)
    keys = key_frames(s, 0.1)
    assert keys[:, 4].all()  # the cut
    assert not keys[:, 0].any() and not keys[:, 7].any()
    assert torch.equal(keys, s > saliency_bound(s, 0.1)[:, None])
    assert (tsgf_mask(s, 0.1)[keys] == 0).all()


class Tiny(torch.nn.Module):
    """A BatchNorm classifier standing in for the teacher."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm3d(4)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).mean((2, 3, 4)))


def test_optimisation_leaves_key_frames_and_only_the_mask_off_switch_moves_them():
    torch.manual_seed(0)
    teacher = Tiny().eval().requires_grad_(False)
    video = spiky_video(n=3)
    labels = torch.tensor([0, 1, 2])
    out = TSGF(iterations=3, epsilon=0.1).optimise(teacher, video, labels, lr=0.05, r_bn=0.01)
    keys = key_frames(temporal_saliency(video), 0.1)
    moved = (out - video).abs().amax(dim=(1, 3, 4)) > 0  # (N, T)
    assert keys.any() and not (moved & keys).any() and moved[~keys].all()
    free = TSGF(iterations=3, temporal_mask=False).optimise(teacher, video, labels, lr=0.05, r_bn=0.01)
    assert ((free - video).abs().amax(dim=(1, 3, 4)) > 0).all()


def test_bn_statistics_loss_is_eq_5():
    model = Tiny().eval()
    model.bn.running_mean.fill_(0.5)
    model.bn.running_var.fill_(2.0)
    stats = BatchNormStatistics(model)
    x = torch.randn(4, 3, 4, 5, 5)
    model(x)
    act = model.conv(x)
    mean, var = act.mean((0, 2, 3, 4)), act.var((0, 2, 3, 4), unbiased=False)
    expected = (mean - 0.5).norm() + (var - 2.0).norm()
    assert stats.loss().item() == pytest.approx(expected.item(), rel=1e-5)
    stats.remove()
    model(x)
    assert stats.terms == []


def test_soft_labels_are_the_teachers_relabelling_and_are_stored(vddbench_task):
    task = vddbench_task(ipc=2)
    d = TSGF(iterations=1)
    artifact = d.distill(task)
    videos, soft = artifact.tensors["videos"], artifact.tensors["labels"]
    assert soft.dtype == torch.float32 and soft.shape == (task.num_classes * 2, task.num_classes)
    teacher = task.teacher("minic3d")
    with torch.no_grad():
        assert torch.allclose(soft, F.softmax(teacher(videos), 1), atol=1e-5)
    data = TSGF().expand(artifact)
    assert data.soft and torch.allclose(data.labels.sum(1), torch.ones(len(soft)))
    hard = TSGF(iterations=1, relabel=False).distill(task).tensors["labels"]
    assert hard.dtype == torch.int64 and sorted(hard.tolist()) == [c for c in range(task.num_classes) for _ in range(2)]


def test_real_initialisation_is_the_random_baselines_clips(vddbench_task):
    task = vddbench_task(ipc=2)
    videos, labels = TSGF().initial(task)
    index = torch.stack(task.random_real_indices(), 1).flatten()  # random's clips, instance-major
    assert torch.equal(videos, task.train.clips(index)) and torch.equal(labels, task.train.labels[index])


def test_videomix_touches_only_non_key_frames_and_mixes_labels_by_volume():
    video = spiky_video(n=4)
    targets = torch.eye(4)
    keep = key_frames(temporal_saliency(video), 0.1)
    for seed in range(5):
        mixed, y = videomix(video, targets, keep, torch.Generator().manual_seed(seed))
        changed = (mixed != video).flatten(3).any(3).any(1)  # (N, T)
        assert not (changed & keep).any()
        assert torch.allclose(y.sum(1), torch.ones(4)) and (y >= 0).all()


def test_augment_batch_is_tsgf_a_and_can_be_switched_off():
    d = TSGF()
    video, labels = spiky_video(n=4), torch.tensor([0, 1, 2, 3])
    out, y = d.augment_batch(video, labels, torch.Generator().manual_seed(0), 4)
    assert y.shape == (4, 4) and out.shape == video.shape  # hard labels became soft by mixing
    again = d.augment_batch(video, labels, torch.Generator().manual_seed(0), 4)
    assert torch.equal(out, again[0]) and torch.equal(y, again[1])
    off = TSGF(videomix=False)
    assert off.augment_batch(video, labels, torch.Generator(), 4)[0] is video


def test_tsgf_a_relabels_the_mixed_clips_with_the_stored_teacher(vddbench_task):
    """Algorithm 1: augment, then y = teacher(x). The teacher travels in the artifact (and counts
    as storage), and the labels of a mixed batch are its softmax on the mixed clips."""
    task = vddbench_task(ipc=2)
    d = TSGF(iterations=1)
    artifact = d.distill(task)
    assert any(k.startswith("teacher.") for k in artifact.tensors)
    data = d.expand(artifact)
    assert torch.equal(data.hard_labels(), torch.arange(task.num_classes).repeat(2))  # the stored classes
    mixed, y = d.augment_batch(data.videos, data.labels, torch.Generator().manual_seed(0), 10)
    assert not torch.equal(mixed, data.videos)
    with torch.no_grad():
        expected = torch.softmax(task.teacher("minic3d")(mixed), dim=1)
    assert torch.allclose(y, expected, atol=1e-5)


def test_paper_defaults_per_setting_and_tags():
    def task(dataset, ipc):
        return vddbench.DistillTask(train=None, num_classes=10, ipc=ipc, seed=0, clip=None, dataset=dataset)

    d = TSGF()
    assert d.resolved_lr(task("miniucf", 1)) == 0.25 and d.resolved_lr(task("hmdb51", 5)) == 0.25
    assert d.resolved_lr(task("kinetics-400", 1)) == 0.3 and d.resolved_lr(task("ssv2", 5)) == 0.3
    assert d.resolved_r_bn(task("miniucf", 1)) == 0.001 and d.resolved_r_bn(task("hmdb51", 5)) == 0.005
    assert d.resolved_r_bn(task("kinetics-400", 1)) == 0.01 and d.resolved_r_bn(task("ssv2", 5)) == 0.01
    assert TSGF(lr=0.1, r_bn=0.2).resolved_lr(task("ssv2", 1)) == 0.1
    tags = TSGF.tags
    assert tags.needs_teacher and tags.soft_labels and tags.eval_augmentation
    ablated = TSGF(relabel=False, videomix=False).tags
    assert not ablated.soft_labels and not ablated.eval_augmentation and ablated.needs_teacher


def test_trace_is_the_per_iteration_loss_summed_over_synthetic_batches(vddbench_task):
    task = vddbench_task(ipc=2)
    d = TSGF(iterations=3, synthetic_batch=task.num_classes)  # two batches of one clip per class
    trace: list[float] = []
    traced = d.distill(task, trace=trace)
    assert len(trace) == 3
    teacher = task.teacher("minic3d").eval().requires_grad_(False)
    videos, labels = d.initial(task)
    lr, r_bn = d.resolved_lr(task), d.resolved_r_bn(task)
    per_batch = []
    for start in (0, task.num_classes):
        part: list[float] = []
        chunk = slice(start, start + task.num_classes)
        d.optimise(teacher, videos[chunk], labels[chunk], lr, r_bn, part)
        per_batch.append(part)
    assert trace == pytest.approx([a + b for a, b in zip(*per_batch)], rel=1e-5)
    # tracing is read-only
    assert torch.equal(traced.tensors["videos"], d.distill(vddbench_task(ipc=2)).tensors["videos"])


@pytest.mark.parametrize("bad", [{"iterations": -1}, {"synthetic_batch": 0}, {"window": 0}, {"lr": 0.0},
                                 {"r_bn": -0.1}, {"label_temperature": 0.0}, {"videomix_prob": 1.5}])
def test_rejects_bad_values_when_built(bad):
    with pytest.raises(vddbench.DistillerError, match="distiller 'tsgf'"):
        TSGF(**bad)
