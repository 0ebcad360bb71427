"""What the embedded board needs to rank methods: paired starts, fresh students without rebuilds,
decoupled (plain) scores, confidence intervals and a validation split."""

import math

import pytest
import torch

import vddbench
from vddbench.data.moving_shapes import MovingShapes
from vddbench.data.validation import carve
from vddbench.plugins import Entry, Provider, get_registry
from vddbench.runner import plan, run_cell
from vddbench.stats import mean_ci, paired_difference, t_quantile
from vddbench.students import build_student, reinitialize


@pytest.mark.parametrize("name", ["convnet3d", "cnn-mean", "minic3d", "cnn-gru", "slowonly-r18"])
def test_reinitialize_gives_the_weights_a_fresh_build_gives(name):
    clip = vddbench.ClipSpec(8, 24, 24)
    fresh = build_student(name, 10, clip, seed=5)
    reused = build_student(name, 10, clip, seed=9)
    reinitialize(reused, 5)
    for (k, a), b in zip(fresh.state_dict().items(), reused.state_dict().values()):
        assert torch.equal(a, b), k


def test_reset_student_follows_new_students_seed_sequence(smoke):
    spec = smoke.datasets[0]
    train = MovingShapes().load(spec, "train")

    def task():
        return vddbench.DistillTask(train=train, num_classes=spec.num_classes, ipc=1, seed=3, clip=spec.clip,
                                    dataset=spec.name,
                                    student_factory=lambda s: build_student("convnet3d", spec.num_classes,
                                                                            spec.clip, s))

    built, reset = task(), task()
    first, second = built.new_student(), built.new_student()
    student = reset.new_student()
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), student.parameters()))
    reset.reset_student(student)
    assert all(torch.equal(a, b) for a, b in zip(second.parameters(), student.parameters()))


def test_random_real_indices_are_random_coresets_clips_and_nested(smoke):
    spec = smoke.datasets[0]
    train = MovingShapes().load(spec, "train")
    task = vddbench.DistillTask(train=train, num_classes=spec.num_classes, ipc=2, seed=0, clip=spec.clip,
                                dataset=spec.name)
    picks = task.random_real_indices()
    assert [set(train.labels[p].tolist()) for p in picks] == [{c} for c in range(spec.num_classes)]
    assert all(torch.equal(a, b[:1]) for a, b in zip(task.random_real_indices(1), picks))  # prefixes
    artifact = get_registry().distillers["random"].obj().distill(task)
    assert torch.equal(artifact.tensors["videos_uint8"], train.raw(torch.cat(picks)))
    with pytest.raises(vddbench.DistillerError, match="fewer than IPC 99"):
        task.random_real_indices(99)


def test_hard_labels_prefer_stored_classes():
    soft = torch.tensor([[0.2, 0.8], [0.9, 0.1]])
    assert vddbench.DistilledVideos(torch.zeros(2), soft).hard_labels().tolist() == [1, 0]
    classes = torch.tensor([0, 0])
    assert vddbench.DistilledVideos(torch.zeros(2), soft, classes=classes).hard_labels().tolist() == [0, 0]


class SoftRandom(vddbench.Distiller):
    """Random clips with uniform soft labels: only the plain score can learn anything."""

    name = "soft-random"
    tags = vddbench.DistillerTags(soft_labels=True)

    def distill(self, task):
        index = torch.cat(task.random_real_indices())
        return vddbench.Artifact({"videos": task.train.clips(index), "classes": task.train.labels[index]})

    def expand(self, artifact):
        n, classes = len(artifact.tensors["classes"]), int(artifact.tensors["classes"].max()) + 1
        return vddbench.DistilledVideos(artifact.tensors["videos"], torch.full((n, classes), 1 / classes),
                                        classes=artifact.tensors["classes"])


def test_soft_label_distillers_get_a_plain_record_of_the_same_artifact(smoke, tmp_path):
    get_registry().distillers["soft-random"] = Entry("soft-random", SoftRandom, Provider("tests", "0"))
    try:
        (cell,) = plan(smoke, ["soft-random"], ipcs=[2])
        assert cell.slots == ("convnet3d", "convnet3d--plain")
        own, plain = run_cell(cell, str(tmp_path))
    finally:
        del get_registry().distillers["soft-random"]
    assert (own["scoring"], plain["scoring"]) == ("own", "plain")
    assert own["artifact_sha256"] == plain["artifact_sha256"] and own["student"] == plain["student"]
    assert own["soft_labels"] is True and plain["soft_labels"] is False
    (random_cell,) = plan(smoke, ["random"], ipcs=[2])
    assert random_cell.slots == ("convnet3d",)  # hard labels, no augmentation: nothing to decouple


def test_t_intervals_and_paired_differences():
    assert t_quantile(4) == pytest.approx(2.776) and t_quantile(1000) == pytest.approx(1.96)
    mean, half = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == 3.0 and half == pytest.approx(2.776 * math.sqrt(2.5) / math.sqrt(5))
    assert math.isnan(mean_ci([1.0])[1])
    diff = paired_difference({0: 10.0, 1: 20.0, 2: 30.0}, {0: 9.0, 1: 19.0, 2: 29.0, 3: 0.0})
    assert diff == (1.0, 0.0, 3)  # unpaired seed 3 is left out; the shared spread cancels
    assert paired_difference({0: 1.0}, {1: 1.0}) is None


def test_validation_is_carved_from_train_and_disjoint(smoke):
    train = MovingShapes().load(smoke.datasets[0], "train")
    rest, val = carve(train, 2)
    assert len(rest) + len(val) == len(train) and torch.bincount(val.labels).tolist() == [2] * train.num_classes
    seen = {c.numpy().tobytes() for c in rest.raw(slice(0, len(rest)))}
    assert not any(c.numpy().tobytes() in seen for c in val.raw(slice(0, len(val))))
    with pytest.raises(ValueError, match="cannot hold out"):
        carve(train, 6)
