"""TAC-DT's defining behaviour: one representative per BIRCH cluster, from any candidate pool."""

import textwrap

import numpy as np
import pytest
import torch

import vddbench
from vddbench_tacdt import TACDT

TOY_CLIP = vddbench.ClipSpec(frames=2, height=8, width=8)
GROUPS = ((0.1, 0.1, 0.9), (0.9, 0.1, 0.1), (0.1, 0.9, 0.1))  # three well-separated colours
SIZES = (9, 5, 3)  # unequal clusters: a representative per cluster, not per density


pytestmark = pytest.mark.usefixtures("vddbench_one_thread")  # as the harness runs a cell



@pytest.fixture
def mean_colour(tmp_path, monkeypatch):
    """A user embedder given as an importable 'module:callable' (the mean colour of a clip)."""
    (tmp_path / "toy_embedder.py").write_text(textwrap.dedent("""
        import vddbench

        def mean_colour(videos):
            return vddbench.denormalize(videos).mean(dim=(2, 3, 4))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "toy_embedder:mean_colour"


def toy_task(ipc=3, classes=2):
    """Per class, three groups of clips of one colour each (plus noise); group of clip i known."""
    g = torch.Generator().manual_seed(0)
    clips, labels, groups = [], [], []
    for label in range(classes):
        for group, (colour, size) in enumerate(zip(GROUPS, SIZES)):
            for _ in range(size):
                base = torch.tensor(colour).view(3, 1, 1, 1) * (0.6 + 0.4 * label)
                clip = (base + 0.03 * torch.randn(3, *TOY_CLIP.shape[1:], generator=g)).clamp(0, 1)
                clips.append((clip * 255).round().to(torch.uint8))
                labels.append(label)
                groups.append(group)
    split = vddbench.ArraySplit("toy/train", torch.stack(clips).numpy(), np.array(labels), classes)
    task = vddbench.DistillTask(train=split, num_classes=classes, ipc=ipc, seed=0, clip=TOY_CLIP, dataset="toy")
    return task, torch.tensor(groups)


def picked_indices(task, artifact):
    train = task.train.raw(slice(0, len(task.train)))
    return [int((train == clip).flatten(1).all(1).nonzero()[0]) for clip in artifact.tensors["videos_uint8"]]


def test_birch_picks_one_clip_per_well_separated_cluster(mean_colour):
    task, groups = toy_task(ipc=3)
    # all three components kept, so that distances after PCA are the embedding's own
    artifact = TACDT(embedder=mean_colour, pca_components=3).distill(task)
    picked = picked_indices(task, artifact)
    labels = task.train.labels
    for label in range(2):
        mine = [i for i in picked if labels[i] == label]
        assert sorted(groups[mine].tolist()) == [0, 1, 2]  # one per cluster, whatever its size
    # ... and the member nearest its cluster's centre (in the embedding, here the mean colour)
    colours = vddbench.denormalize(task.train.clips(slice(0, len(task.train)))).mean(dim=(2, 3, 4))
    for i in picked:
        same = ((groups == groups[i]) & (labels == labels[i])).nonzero().flatten()
        centre = colours[same].mean(0)
        assert int(same[(colours[same] - centre).norm(dim=1).argmin()]) == i
    assert artifact.tensors["labels"].tolist() == [0, 0, 0, 1, 1, 1]
    assert artifact.metadata["embedder"] == f"callable {mean_colour}"


def test_a_coarse_threshold_is_refined_until_there_are_ipc_clusters(mean_colour):
    task, groups = toy_task(ipc=3)
    artifact = TACDT(embedder=mean_colour, birch_threshold=50.0).distill(task)
    picked = picked_indices(task, artifact)
    assert sorted(groups[picked].tolist()) == [0, 0, 1, 1, 2, 2]
    assert float(artifact.metadata["birch_threshold_used"].split(",")[0]) < 50.0


def test_ipc_1_keeps_the_clip_nearest_the_class_centre(mean_colour):
    task, _ = toy_task(ipc=1)
    artifact = TACDT(embedder=mean_colour, pca_components=3).distill(task)
    colours = vddbench.denormalize(task.train.clips(slice(0, len(task.train)))).mean(dim=(2, 3, 4))
    labels = task.train.labels
    for i in picked_indices(task, artifact):
        members = (labels == labels[i]).nonzero().flatten()
        assert int(members[(colours[members] - colours[members].mean(0)).norm(dim=1).argmin()]) == i


def test_default_embedder_is_the_protocol_teacher_and_is_recorded(vddbench_task):
    task = vddbench_task(ipc=2)
    calls = []
    teacher = task.teacher_factory
    task.teacher_factory = lambda arch: calls.append(arch) or teacher(arch)
    artifact = TACDT().distill(task)
    assert calls == [None]
    assert "protocol teacher (convnet3d" in artifact.metadata["embedder"]
    assert artifact.metadata["candidates"].startswith("training split: 60 candidates of 60")
    assert TACDT.tags.needs_teacher and not TACDT(embedder="x:y").tags.needs_teacher


def test_candidates_per_class_is_a_seeded_subset(vddbench_task):
    task = vddbench_task(ipc=2)
    a = TACDT(candidates_per_class=3).distill(task)
    b = TACDT(candidates_per_class=3).distill(task)
    assert "30 candidates of 60 (at most 3 per class)" in a.metadata["candidates"]
    assert torch.equal(a.tensors["videos_uint8"], b.tensors["videos_uint8"])


def test_bad_inputs_fail_with_a_message_naming_the_distiller(vddbench_task, tmp_path):
    task = vddbench_task(ipc=2)
    with pytest.raises(vddbench.DistillerError, match="tac-dt.*could not import model 'nowhere:fn'"):
        TACDT(embedder="nowhere:fn").distill(task)
    with pytest.raises(vddbench.DistillerError, match="tac-dt.*neither 'teacher'"):
        TACDT(embedder=str(tmp_path / "missing.pt")).distill(task)
    with pytest.raises(vddbench.DistillerError, match="tac-dt.*is not a folder"):
        TACDT(candidates=str(tmp_path / "nothing-here")).distill(task)
    with pytest.raises(vddbench.DistillerError, match="fewer than IPC 7"):
        TACDT().distill(vddbench_task(ipc=7))


@pytest.mark.parametrize("bad", [{"pca_components": 0.0}, {"birch_threshold": -1.0}, {"candidates_per_class": 0},
                                 {"branching_factor": 1}])
def test_rejects_bad_values_when_built(bad):
    with pytest.raises(vddbench.DistillerError, match="distiller 'tac-dt' needs"):
        TACDT(**bad)
