"""One test plugin adds a dataset, its protocol, an executor, a cached input and a distiller that
uses it, through hooks only, and ``vddbench run`` runs a cell of it end to end."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import torch

import vddbench
from vddbench.testing import temporary_plugin

CLIP = vddbench.ClipSpec(frames=8, height=24, width=24)


class Stripes(vddbench.DatasetSource):
    """Two classes: horizontal or vertical stripes, generated from the split's name."""

    name = "test-stripes"

    def load(self, spec, split, root):
        rng = np.random.default_rng(0 if split == "train" else 1)
        labels = np.arange(8) % 2
        clips = rng.integers(0, 60, size=(8, 3, 8, 24, 24)).astype(np.uint8)
        clips[labels == 0, :, :, ::2, :] += 180
        clips[labels == 1, :, :, :, ::2] += 180
        return vddbench.ArraySplit(split, clips, labels, 2)


PROTOCOL = vddbench.Protocol(
    name="test-stripes", description="a plugin's dataset and protocol",
    datasets=(vddbench.DatasetSpec("stripes", "test-stripes", 2, CLIP),), ipcs=(1,), seeds=(0,),
    students=("convnet3d",), recipe=vddbench.EvalRecipe(epochs=2))

BUILDS: list[int] = []


def class_means(context, options):
    BUILDS.append(context.seed)
    split = context.train
    clips = split.clips(slice(0, len(split)))
    return {"means": torch.stack([clips[split.labels == c].mean(0) for c in range(context.spec.num_classes)])}


class MeanClips(vddbench.Distiller):
    name = "test-mean-clips"
    tags = vddbench.DistillerTags(cached_inputs=("test-class-means",))

    def distill(self, task):
        means = task.cached("test-class-means")["means"]
        return vddbench.Artifact({"videos": means.repeat_interleave(task.ipc, 0),
                                  "labels": torch.arange(task.num_classes).repeat_interleave(task.ipc)})


class Inline:
    def __init__(self, threads: int):
        self.threads = threads

    def run(self, cells, results_root, on_done):
        from vddbench.runner import run_cell

        for cell in cells:
            on_done(cell, run_cell(cell, results_root))


def test_a_plugin_adds_every_extension_point_through_hooks_and_runs_a_cell(tmp_path, capsys):
    from vddbench.cli import main

    module = types.ModuleType("_vddbench_test_extension_points")
    module.register_datasets = vddbench.hookimpl(lambda register: register(Stripes()))
    module.register_protocols = vddbench.hookimpl(lambda register: register(PROTOCOL))
    module.register_cached_inputs = vddbench.hookimpl(
        lambda register: register(vddbench.CachedInput("test-class-means", "class-mean clips", class_means)))
    module.register_executors = vddbench.hookimpl(
        lambda register: register(vddbench.ExecutorSpec("test-inline", "in this process", Inline)))
    module.register_distillers = vddbench.hookimpl(lambda register: register(MeanClips))
    sys.modules[module.__name__] = module
    BUILDS.clear()
    try:
        with temporary_plugin(module=module, dist="vddbench-test-extensions", version="0.1.0"):
            assert main(["list"]) == 0
            listed = capsys.readouterr().out
            for name in ("test-stripes", "test-class-means", "test-inline", "test-mean-clips"):
                assert f"  {name} " in listed, name
            argv = ["run", "--protocol", "test-stripes", "--distiller", "test-mean-clips", "--executor", "test-inline",
                    "--results", str(tmp_path / "r"), "--device", "cpu"]
            assert main(argv) == 0
    finally:
        sys.modules.pop(module.__name__, None)
    (path,) = (tmp_path / "r" / "records").glob("*/stripes/test-mean-clips/*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "ok" and record["protocol"] == "test-stripes" and record["num_videos"] == 2
    assert [u["kind"] for u in record["cached_inputs"]] == ["test-class-means"] and BUILDS == [0]
