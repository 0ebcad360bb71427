"""Cached inputs: the teacher and expert trajectories, built once per dataset and seed, shared by
cells and executors, named in every record, never part of a distiller's storage."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch

import vddbench
from vddbench.inputs.experts import ExpertTrajectories
from vddbench.protocol import ExpertRecipe, get_protocol
from vddbench.seeding import stable_seed
from vddbench.students import build_student
from vddbench.testing.bench import make_task

PLUGIN = '''
import torch
import vddbench


class UsesExperts(vddbench.Distiller):
    """Stores random's clips; asks for two expert trajectories of two epochs."""

    name = "uses-experts"
    tags = vddbench.DistillerTags(cached_inputs=("expert-trajectories",))

    def distill(self, task):
        trajectories = task.expert_trajectories(2, 2)
        assert trajectories.params.shape[:2] == (2, 3)
        idx = torch.cat(task.random_real_indices())
        return vddbench.Artifact({"videos": task.train.clips(idx), "labels": task.train.labels[idx]})


@vddbench.hookimpl
def register_distillers(register):
    register(UsesExperts)
'''


def install_plugin(site: Path) -> None:
    """A real installed plugin (module + dist-info with its entry point), seen by worker processes."""
    site.mkdir()
    (site / "uses_experts.py").write_text(PLUGIN)
    info = site / "vddbench_uses_experts-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vddbench-uses-experts\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vddbench]\nuses-experts = uses_experts\n")


def test_expert_trajectories_are_built_once_by_two_workers_and_reused_on_rerun(vddbench_cli, tmp_path):
    install_plugin(tmp_path / "site")
    env = {"PYTHONPATH": str(tmp_path / "site"), "VDDBENCH_LOAD_PLUGINS": "vddbench-coresets,vddbench-uses-experts"}
    args = ("run", "--protocol", "smoke", "--distiller", "uses-experts", "--workers", "2", "--results", "out")
    vddbench_cli(*args, env=env, check=True)
    (log,) = (tmp_path / "out" / "cached").glob("*/*/expert-trajectories/builds.log")
    assert len(log.read_text().splitlines()) == 2  # two experts, two cells (IPC 1 and 2): each built once

    def named() -> list[list[dict]]:
        return [json.loads(p.read_text())["cached_inputs"]
                for p in sorted((tmp_path / "out").glob("records/*/*/*/*.json"))]

    first = named()
    assert len(first) == 2 and first[0] == first[1]  # both cells name the same two inputs, with their sha256
    assert [u["options"]["expert"] for u in first[0]] == [0, 1] and all(len(u["sha256"]) == 64 for u in first[0])
    for folder in ("records", "artifacts"):  # a rerun of the whole grid reuses the cached experts
        for path in (tmp_path / "out" / folder).rglob("*.*"):
            path.unlink()
    vddbench_cli(*args, env=env, check=True)
    assert len(log.read_text().splitlines()) == 2 and named() == first


def test_expert_trajectories_follow_the_recipe_and_load_into_the_student():
    smoke = get_protocol("smoke")
    spec = smoke.datasets[0]
    trajectories = make_task("smoke").expert_trajectories(2, 3)
    assert trajectories.params.shape[:2] == (2, 4) and trajectories.lr == smoke.expert_recipe.lr == 0.01
    start = build_student("convnet3d", spec.num_classes, spec.clip, stable_seed("expert", 0, "convnet3d", 0))
    assert torch.equal(trajectories.params[0, 0], ExpertTrajectories.flatten(start))  # expert 0 at epoch 0
    assert not torch.equal(trajectories.params[0, 0], trajectories.params[1, 0])  # each expert its own seed
    assert (trajectories.params[0, 1:] - trajectories.params[0, :-1]).abs().sum(1).min() > 0  # every epoch moves
    # the snapshots are the same whoever asks for how many (expert i is expert i)
    assert torch.equal(make_task("smoke").expert_trajectories(1, 3).params[0], trajectories.params[0])
    x = torch.randn(2, *spec.clip.shape)
    start.eval().load_state_dict({**start.state_dict(), **trajectories.unflatten(trajectories.params[0, 2])})
    functional = torch.func.functional_call(start, trajectories.unflatten(trajectories.params[0, 2]), (x,))
    assert torch.allclose(start(x), functional)


def test_a_task_refuses_more_experts_or_epochs_than_the_protocol_has():
    task = make_task("smoke")
    with pytest.raises(vddbench.DistillerError, match="30 x 50"):
        task.expert_trajectories(31, 1)


def test_protocol_ids_stand_while_the_expert_recipe_is_the_default():
    embedded = get_protocol("embedded")
    assert embedded.protocol_id == "a6192602a580"  # the committed board's records
    fewer = dataclasses.replace(embedded, expert_recipe=ExpertRecipe(experts=5))
    assert fewer.protocol_id != embedded.protocol_id
    adam = dataclasses.replace(embedded, recipe=dataclasses.replace(embedded.recipe, optimizer="adam"))
    assert adam.protocol_id != embedded.protocol_id
    unclipped = dataclasses.replace(embedded, recipe=dataclasses.replace(embedded.recipe, grad_clip=None))
    assert unclipped.protocol_id != embedded.protocol_id


def test_the_harness_refuses_ipc_0_and_a_missing_device_before_calling_the_distiller():
    from vddbench import cell
    from vddbench.errors import ProtocolError

    calls = []

    class Counts(vddbench.Distiller):
        name = "counts"

        def distill(self, task):
            calls.append(task.ipc)
            raise AssertionError("never called")

    with pytest.raises(ProtocolError, match="'counts' needs an IPC >= 1; got 0"):
        cell.distill(Counts(), make_task("smoke", ipc=0), "key")
    absent = f"cuda:{torch.cuda.device_count() if torch.cuda.is_available() else 0}"
    with pytest.raises(ProtocolError, match=f"device '{absent}' is not available"):
        cell.distill(Counts(), make_task("smoke", device=absent), "key")
    assert calls == []
