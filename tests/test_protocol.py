import dataclasses
import json

import pytest

import vddbench
from vddbench.protocol import EvalRecipe, get_protocol
from vddbench.protocols import EMBEDDED


def test_protocol_is_frozen_and_its_id_is_a_hash_of_the_canonical_json():
    with pytest.raises(dataclasses.FrozenInstanceError):
        EMBEDDED.seeds = (0,)
    assert len(EMBEDDED.protocol_id) == 12
    body = json.loads(EMBEDDED.canonical_json())
    assert body["ipcs"] == [1, 5, 10]
    # each student's resolved mmaction2 config is part of what is hashed
    assert body["student_configs"]["moving-shapes"]["convnet3d"]["type"] == "Recognizer3D"


def test_changing_anything_changes_the_id():
    changed = dataclasses.replace(EMBEDDED, recipe=EvalRecipe(epochs=101, lr=0.03))
    assert changed.protocol_id != EMBEDDED.protocol_id
    fewer_students = dataclasses.replace(EMBEDDED, students=("convnet3d",))
    assert fewer_students.protocol_id != EMBEDDED.protocol_id


def test_embedded_protocol_has_the_required_shape():
    p = get_protocol("embedded")
    assert p.ipcs == (1, 5, 10) and len(p.seeds) >= 5
    assert p.protocol_student == "convnet3d"
    assert "cnn-mean" in p.students  # the per-frame model that motion defeats
    spec = p.datasets[0]
    assert spec.option("version") == 2
    assert spec.option("train_per_class") >= 100 and spec.option("test_per_class") * spec.num_classes >= 1000
    assert p.recipe.steps is not None  # a fixed number of SGD steps separates the IPC budgets
    assert p.students_for(p.cross_architecture_seeds[0]) == p.students and p.students_for(4) == ("convnet3d",)


def test_unknown_protocol_and_dataset_errors():
    with pytest.raises(vddbench.ProtocolError, match="unknown protocol 'nope'"):
        get_protocol("nope")
    with pytest.raises(vddbench.ProtocolError, match="has no dataset 'ucf'"):
        EMBEDDED.dataset("ucf")


def test_protocol_command_prints_the_protocol(vddbench_cli):
    out = vddbench_cli("protocol", check=True).stdout
    assert EMBEDDED.protocol_id in out and "IPC 1, 5, 10" in out and "convnet3d" in out
    body = json.loads(vddbench_cli("protocol", "--json", check=True).stdout)
    assert body["name"] == "embedded"
