"""The conformance kit against deliberately broken distillers: each fails exactly the check it
breaks, with a message naming the distiller and the property; a correct one passes everything."""

import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import vddbench
from vddbench.testing import check_distiller, parametrize_with_checks, temporary_plugin
from vddbench.testing.bench import make_task


class Correct(vddbench.Distiller):
    """IPC random real clips per class, stored as float32 pixels."""

    name = "kit-correct"

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def pick(self, task):
        if task.ipc < 1:
            raise vddbench.DistillerError(f"distiller '{self.name}' needs IPC >= 1; got {task.ipc}")
        g = task.generator()
        return torch.cat([m[torch.randperm(len(m), generator=g)[:task.ipc]]
                          for m in map(task.train.indices_of, range(task.num_classes))])

    def distill(self, task):
        index = self.pick(task)
        return vddbench.Artifact({"videos": task.train.clips(index) * self.scale, "labels": task.train.labels[index]})


class WrongShape(Correct):
    name = "kit-wrong-shape"

    def expand(self, artifact):
        data = super().expand(artifact)
        return vddbench.DistilledVideos(data.videos[:, :, :-1], data.labels)  # drops a frame


class WrongCount(Correct):
    name = "kit-wrong-count"

    def distill(self, task):
        index = self.pick(task)
        return vddbench.Artifact({"videos": task.train.clips(index[:-1]), "labels": task.train.labels[index[:-1]]})


class MakesNaN(Correct):
    name = "kit-nan"

    def distill(self, task):
        artifact = super().distill(task)
        artifact.tensors["videos"][0, 0, 0, 0, 0] = float("nan")
        return artifact


class NonDeterministic(Correct):
    name = "kit-non-deterministic"

    def distill(self, task):
        artifact = super().distill(task)
        artifact.tensors["videos"] += float(np.random.rand())  # numpy's global generator: unseeded
        return artifact


class MutatesTrain(Correct):
    name = "kit-mutates-train"

    def distill(self, task):
        artifact = super().distill(task)
        task.train._clips[:5] = 0  # "normalises" the split in place
        return artifact


class ReadsTest(Correct):
    name = "kit-reads-test"

    def distill(self, task):
        from vddbench.plugins import get_registry  # a cheat: the dataset source, then its test split

        spec = next(d for p in ("smoke", "embedded") for d in [vddbench.get_protocol(p).datasets[0]])
        try:
            get_registry().datasets[spec.source].obj.load(spec, "test", None)
        except vddbench.VddbenchError:
            pass  # swallowing the error does not hide the read
        return super().distill(task)


class NotSelfContained(Correct):
    name = "kit-not-self-contained"

    def distill(self, task):
        self.train = task.train
        index = self.pick(task)
        return vddbench.Artifact({"index": index, "labels": task.train.labels[index]})

    def expand(self, artifact):
        return vddbench.DistilledVideos(self.train.clips(artifact.tensors["index"]), artifact.tensors["labels"])


class OverBudget(Correct):
    name = "kit-over-budget"
    tags = vddbench.DistillerTags(storage_budget_bytes=10_000)  # a promise its float32 pixels break


class SideFile(Correct):
    name = "kit-side-file"

    def distill(self, task):  # the pixels go to a file of its own; the artifact keeps the labels
        artifact = super().distill(task)
        path = Path(tempfile.gettempdir()) / f"kit-side-file-{task.seed}-{task.ipc}.pt"
        torch.save(artifact.tensors.pop("videos"), path)
        return vddbench.Artifact(artifact.tensors, {"side_file": str(path)})

    def expand(self, artifact):
        return vddbench.DistilledVideos(torch.load(artifact.metadata["side_file"]), artifact.tensors["labels"])


class Slow(Correct):
    name = "kit-slow"

    def distill(self, task):
        time.sleep(1.5 if task.ipc >= 2 else 0.0)
        return super().distill(task)


class UndeclaredTeacher(Correct):
    name = "kit-undeclared-teacher"

    def distill(self, task):
        task.teacher()
        return super().distill(task)


class LosesAttribute(Correct):
    name = "kit-loses-attribute"

    def distill(self, task):
        artifact = super().distill(task)
        artifact.scale = 2.0  # lives on the Python object only; the file never has it
        return artifact

    def expand(self, artifact):
        data = super().expand(artifact)
        return vddbench.DistilledVideos(data.videos * getattr(artifact, "scale", 1.0), data.labels)


class BadAugment(Correct):
    name = "kit-bad-augment"
    tags = vddbench.DistillerTags(eval_augmentation=True)

    def augment_batch(self, videos, labels, generator, num_classes):
        return videos[: len(videos) // 2], labels[: len(labels) // 2]


class BadProtocolDefaults(Correct):
    name = "kit-bad-protocol-defaults"
    protocol_defaults = {"smokey": {"scale": 0.5}}  # a typo: silently ignored by the harness


class RefusesItsProtocolDefaults(Correct):
    name = "kit-refuses-its-protocol-defaults"
    protocol_defaults = {"embedded": {"scale": -1.0}}

    def __init__(self, scale: float = 1.0):
        if scale <= 0:
            raise vddbench.DistillerError(f"distiller '{self.name}': scale should be > 0; got {scale}")
        super().__init__(scale)


class Unregistered(Correct):
    name = "kit-unregistered"


BROKEN = [
    (WrongShape, "check_output_contract", "shape (N, 3, 8, 16, 16)"),
    (WrongCount, "check_clips_per_class", "exactly 1 clip(s) per class"),
    (MakesNaN, "check_output_contract", "finite pixel values"),
    (NonDeterministic, "check_determinism", "same artifact for the same seed"),
    (MutatesTrain, "check_training_split_unchanged", "leave the training split unchanged"),
    (ReadsTest, "check_test_split_unread", "never read the test split"),
    (NotSelfContained, "check_artifact_self_contained", "self-contained artifact"),
    (OverBudget, "check_storage_budget", "declared storage budget of 10,000 bytes"),
    (SideFile, "check_storage_honest", "storage is the file's bytes"),
    (Slow, "check_time_budget", "time budget of 1 s"),
    (UndeclaredTeacher, "check_cached_inputs_declared", "needs_teacher"),
    (LosesAttribute, "check_artifact_round_trip", "saved and reloaded artifact"),
    (BadAugment, "check_augment_batch", "batch size"),
    (BadProtocolDefaults, "check_registration", "known protocol names"),
    (RefusesItsProtocolDefaults, "check_registration", "accept its own protocol_defaults['embedded'] when built"),
    (Unregistered, "check_registration", "entry point"),
]
REGISTERED = [Correct] + [cls for cls, _, _ in BROKEN if cls is not Unregistered]


@pytest.fixture(scope="module", autouse=True)
def broken_zoo():
    """Install the test distillers as a plugin with a real entry point; warm the teacher cache so
    that only the slow distiller comes near the 1 s budget."""
    make_task("smoke").teacher()
    with temporary_plugin(*REGISTERED, dist="vddbench-broken-zoo"):
        yield


@pytest.mark.parametrize("cls, check, phrase", BROKEN, ids=[cls.name for cls, _, _ in BROKEN])
def test_broken_distiller_fails_exactly_its_check(cls, check, phrase):
    results = check_distiller(cls, time_budget_s=1.0)
    failed = {r["check"]: r["message"] for r in results if r["status"] != "passed"}
    assert list(failed) == [check], failed
    assert failed[check].startswith(f"distiller '{cls.name}' should "), failed[check]
    assert phrase in failed[check] and "; got " in failed[check], failed[check]


def test_every_check_is_exercised_by_some_broken_distiller():
    from vddbench.testing.suite import CHECK_NAMES

    assert {check for _, check, _ in BROKEN} == set(CHECK_NAMES)


@parametrize_with_checks([Correct, Correct(scale=0.5)], time_budget_s=1.0)
def test_correct_distiller_passes_every_check(distiller, check):
    check(distiller)
