import pytest
import torch

import vddbench
from vddbench.protocol import ClipSpec

CLIP = ClipSpec(4, 8, 8)


def videos(n=2):
    return torch.zeros(n, 3, 4, 8, 8)


@pytest.mark.parametrize("data, message", [
    (vddbench.DistilledVideos(videos().double(), torch.zeros(2, dtype=torch.long)), "float32 videos"),
    (vddbench.DistilledVideos(torch.zeros(2, 3, 4, 8, 9), torch.zeros(2, dtype=torch.long)),
     r"shape \(N, 3, 4, 8, 8\)"),
    (vddbench.DistilledVideos(videos().fill_(float("nan")), torch.zeros(2, dtype=torch.long)), "finite"),
    (vddbench.DistilledVideos(videos(), torch.zeros(3, dtype=torch.long)), "one label per video"),
    (vddbench.DistilledVideos(videos(), torch.tensor([0, 5])), r"labels in \[0, 5\)"),
    (vddbench.DistilledVideos(videos(), torch.zeros(2, 5)), "sum to 1"),
    (vddbench.DistilledVideos(videos(), torch.full((2, 5), 0.2, dtype=torch.float64)), "float32 soft labels"),
])
def test_validate_names_the_distiller_and_the_property(data, message):
    with pytest.raises(vddbench.DistillerError, match=f"distiller 'x' should .*{message}"):
        data.validate("x", num_classes=5, clip=CLIP)


def test_valid_hard_and_soft_labels_pass():
    vddbench.DistilledVideos(videos(), torch.tensor([0, 4])).validate("x", 5, CLIP)
    vddbench.DistilledVideos(videos(), torch.full((2, 5), 0.2)).validate("x", 5, CLIP)


def test_hyper_parameters_are_init_arguments_read_back_from_self():
    class WithParams(vddbench.Distiller):
        name = "with-params"
        protocol_defaults = {"embedded": {"steps": 3}}

        def __init__(self, lr: float = 0.1, steps: int = 10):
            self.lr, self.steps = lr, steps

        def distill(self, task):
            raise NotImplementedError

    WithParams.check_declaration()
    assert WithParams(lr=0.5).get_params() == {"lr": 0.5, "steps": 10}
    assert WithParams.defaults_for("embedded") == {"steps": 3} and WithParams.defaults_for("smoke") == {}


@pytest.mark.parametrize("body, message", [
    ({"name": "Bad Name"}, "name matching"),
    ({"name": "ok", "tags": {"soft_labels": True}}, "DistillerTags"),
    ({"name": "ok", "__init__": lambda self, lr: None}, "'lr' should be a keyword argument with a default"),
    ({"name": "ok", "distill": vddbench.Distiller.distill}, "implement distill"),
])
def test_bad_declarations_are_rejected(body, message):
    body = {"distill": lambda self, task: None, **body}
    cls = type("Bad", (vddbench.Distiller,), body)
    with pytest.raises(vddbench.PluginError, match=message):
        cls.check_declaration("pkg")


def test_unstored_hyper_parameter_is_an_error():
    class Forgetful(vddbench.Distiller):
        name = "forgetful"

        def __init__(self, lr: float = 0.1):
            pass

        def distill(self, task):
            raise NotImplementedError

    with pytest.raises(vddbench.PluginError, match="store hyper-parameter 'lr' as self.lr"):
        Forgetful().get_params()


def test_task_students_are_fresh_and_seeded(smoke):
    from vddbench.plugins import get_registry
    from vddbench.students import build_student

    spec = smoke.datasets[0]

    def task():
        train = get_registry().datasets["moving-shapes"].obj.load(spec, "train", None)
        return vddbench.DistillTask(train, spec.num_classes, 1, 0, spec.clip, spec.name,
                                    student_factory=lambda s: build_student("convnet3d", 10, spec.clip, s))

    a, b = task(), task()
    first, second = a.new_student(), a.new_student()

    def weights(m):
        return next(m.parameters()).detach()

    assert not torch.equal(weights(first), weights(second))  # fresh each call
    assert torch.equal(weights(first), weights(b.new_student()))  # same task seed, same sequence
