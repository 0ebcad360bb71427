"""The real protocols' students: built through mmaction2's registry, sane at the real clip sizes."""

import pytest
import torch

from vddbench.protocol import ClipSpec
from vddbench.protocols import HMDB51, KINETICS400, MINIUCF, REAL_PROTOCOLS, REAL_STUDENTS, SSV2
from vddbench.students import build_student, student_config
from vddbench.students.counts import parameter_count

# One real forward/backward per distinct clip size (16x112x112: MiniUCF, HMDB51; 8x64x64: K400,
# SSv2); every dataset's own head is then checked by a full-shape forward on the meta device.
SIZES = {"16x112x112": MINIUCF, "8x64x64": KINETICS400}


@pytest.fixture(autouse=True)
def _own_count_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VDDBENCH_CACHE", str(tmp_path))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", REAL_STUDENTS)
def test_student_trains_at_the_protocol_clip_size(name, size):
    spec = SIZES[size]
    model = build_student(name, spec.num_classes, spec.clip, seed=0)
    x = torch.randn(1, *spec.clip.shape)
    logits = model(x)
    assert logits.shape == (1, spec.num_classes) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert model.embed(x).dim() == 2
    assert parameter_count(name, spec.num_classes, spec.clip) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("spec", [MINIUCF, HMDB51, KINETICS400, SSV2], ids=lambda s: s.name)
def test_every_student_of_every_real_protocol_fits_its_dataset(spec):
    from mmengine.registry import DefaultScope

    from vddbench.students import modules  # noqa: F401
    from vddbench.students.mmaction_compat import import_mmaction_models
    from vddbench.students.spec import Student

    import_mmaction_models()
    from mmaction.registry import MODELS

    protocol = next(p for p in REAL_PROTOCOLS if p.datasets[0] is spec)
    assert protocol.students == REAL_STUDENTS and protocol.protocol_student == "convnet3d"
    for name in protocol.students:
        with torch.device("meta"), DefaultScope.overwrite_default_scope("mmaction"):
            model = Student(MODELS.build(student_config(name, spec.num_classes, spec.clip)), name)
            assert model(torch.empty(2, *spec.clip.shape)).shape == (2, spec.num_classes), name


def _conv3d(c_in, c_out, k=(3, 7, 7)):
    return c_in * c_out * k[0] * k[1] * k[2] + c_out


@pytest.mark.parametrize("classes, clip", [(50, ClipSpec(16, 112, 112)), (400, ClipSpec(8, 64, 64))])
def test_convnet3d_has_the_published_parameter_count(classes, clip):
    by_hand = _conv3d(3, 64) + _conv3d(64, 128) + _conv3d(128, 128) + _conv3d(128, classes, (1, 1, 1))
    assert by_hand == (3_647_666 if classes == 50 else 3_692_816)
    model = build_student("convnet3d", classes, clip, seed=0)
    assert sum(p.numel() for p in model.parameters()) == by_hand
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_recurrent_students_stay_a_sane_size_at_112_px():
    clip = MINIUCF.clip
    lstm = student_config("cnn-lstm", 50, clip)
    assert lstm["backbone"]["frame_size"] == (64, 64) and lstm["cls_head"]["in_channels"] == 512
    assert parameter_count("cnn-lstm", 50, clip) < 3_000_000  # not the 5.0 G of hidden = 25088
    assert student_config("cnn-gru", 50, clip)["cls_head"]["in_channels"] == 512  # GRU hidden 512 / 8


def test_zoo_configs_are_mmaction2s_from_scratch():
    for name, backbone in (("c3d", "C3D"), ("r2plus1d-r18", "ResNet2Plus1d"), ("x3d-s", "X3D"),
                           ("tsn-r18", "ResNet"), ("tsm-r18", "ResNetTSM")):
        cfg = student_config(name, 51, HMDB51.clip)
        assert cfg["backbone"]["type"] == backbone and cfg["backbone"].get("pretrained") is None
        assert cfg["cls_head"]["num_classes"] == 51 and "data_preprocessor" not in cfg
    assert student_config("r2plus1d-r18", 51, HMDB51.clip)["backbone"]["norm_cfg"]["type"] == "BN3d"
    assert student_config("tsm-r18", 51, HMDB51.clip)["backbone"]["num_segments"] == 16
    assert student_config("c3d", 174, SSV2.clip)["backbone"]["type"] == "ShortClipC3D"


def test_list_shows_parameter_counts(capsys):
    from vddbench.cli import main

    assert main(["list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("convnet3d"))
    assert "miniucf 3.65M" in line and "kinetics400 3.69M" in line
