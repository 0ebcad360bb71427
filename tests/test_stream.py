"""Splits as torch Datasets, streamed training and scoring, ``full`` without a copy, the device."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vddbench.cli import main
from vddbench.costs import Measure
from vddbench.data import ArraySplit
from vddbench.data.stream import in_order, stream
from vddbench.device import NondeterminismLog, forked_rng, resolve_device
from vddbench.distiller import DistilledVideos
from vddbench.errors import VddbenchError
from vddbench.evaluate import score, train_on_split, train_student
from vddbench.plugins import get_registry
from vddbench.protocol import EvalRecipe
from vddbench.students import build_student


def _file_split(tmp_path, n=23, shape=(3, 2, 6, 6), offset=0):
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    path = tmp_path / "clips.u8"
    with open(path, "wb") as f:
        f.write(b"\0" * offset + clips.tobytes())
    mapped = np.memmap(path, np.uint8, "r", offset=offset, shape=clips.shape)
    return ArraySplit("gen/train", mapped, rng.integers(0, 5, size=n), 5), clips


def _smoke_train(smoke):
    spec = smoke.datasets[0]
    return spec, get_registry().datasets["moving-shapes"].obj.load(spec, "train")


@pytest.mark.parametrize("workers", [0, 2])
def test_a_split_is_a_dataset_that_a_dataloader_batches(tmp_path, workers):
    split, clips = _file_split(tmp_path, offset=128)
    clip, label = split[3]
    assert clip.dtype == torch.uint8 and tuple(clip.shape) == clips.shape[1:] and label.dtype == torch.int64
    assert torch.equal(split[-1][0], torch.from_numpy(clips[-1]))
    with pytest.raises(IndexError):
        split[len(split)]
    batches = list(DataLoader(split, batch_size=4, num_workers=workers))
    assert [len(x) for x, _ in batches] == [4] * 5 + [3]
    assert torch.equal(torch.cat([x for x, _ in batches]), torch.from_numpy(clips))
    assert torch.equal(torch.cat([y for _, y in batches]), split.labels)


def test_a_file_backed_split_reads_every_index_form_and_pickles_as_its_path(tmp_path):
    split, clips = _file_split(tmp_path, offset=64)
    for index in (slice(2, 9), slice(None, None, 3), [5, 6, 7, 1, 1], torch.tensor([0, 22, -1]),
                  np.array([4]), torch.arange(23) % 2 == 0):
        want = clips[index.numpy() if isinstance(index, torch.Tensor) else index]
        assert np.array_equal(split.raw(index).numpy(), want), index
    assert split.nbytes == clips.nbytes and split.clip_bytes == clips[0].nbytes
    blob = pickle.dumps(split)
    assert len(blob) < 4096  # its path, not its clips
    assert torch.equal(pickle.loads(blob).raw(slice(0, 23)), torch.from_numpy(clips))
    with pytest.raises(IndexError):
        split.raw([23])


def test_streaming_normalises_batches_in_order_and_leaves_the_global_generator_alone(smoke):
    _, train = _smoke_train(smoke)
    before = torch.random.get_rng_state()
    got = list(stream(train, in_order(len(train), 16), "cpu"))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(torch.cat([x for x, _ in got]), train.clips(slice(0, len(train))))
    assert torch.equal(torch.cat([y for _, y in got]), train.labels)


@pytest.mark.parametrize("recipe", [EvalRecipe(epochs=2, lr=0.03, batch_size=16),
                                    EvalRecipe(steps=5, lr=0.03, batch_size=64)])
def test_training_on_a_streamed_split_gives_the_weights_of_training_on_it_materialised(smoke, recipe):
    spec, train = _smoke_train(smoke)
    models = []
    for how in ("materialised", "streamed", "streamed, 2 workers"):
        model = build_student("convnet3d", spec.num_classes, spec.clip, seed=1)
        steps = []
        if how == "materialised":
            everything = DistilledVideos(train.clips(slice(0, len(train))), train.labels)
            train_student(model, everything, recipe, seed=4, progress=steps.append)
        else:
            train_on_split(model, train, recipe, seed=4, progress=steps.append, workers=2 if "2" in how else 0)
        models.append((steps, [p.detach().clone() for p in model.parameters()]))
    for steps, params in models[1:]:
        assert steps == models[0][0]
        assert all(torch.equal(a, b) for a, b in zip(params, models[0][1]))


def test_score_is_the_same_with_loader_workers(smoke):
    spec = smoke.datasets[0]
    test = get_registry().datasets["moving-shapes"].obj.load(spec, "test")
    model = build_student("convnet3d", spec.num_classes, spec.clip, seed=0)
    assert score(model, test, batch_size=7) == score(model, test, batch_size=7, workers=2)


def test_devices_resolve_or_fail_in_one_line(tmp_path, capsys):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("tpu:0", "gpu", "cuda:99"):
        with pytest.raises(VddbenchError):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(VddbenchError, match="no CUDA device"):
            resolve_device("cuda")
        assert main(["run", "--protocol", "smoke", "--distiller", "random", "--device", "cuda",
                     "--results", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no CUDA device" in err[0]


def test_forked_rng_restores_the_generator_and_costs_name_their_phase():
    before = torch.random.get_rng_state()
    with forked_rng("cpu"):
        torch.manual_seed(123)
        torch.rand(3)
    assert torch.equal(torch.random.get_rng_state(), before)
    with Measure("cpu") as m:
        torch.zeros(10)
    assert set(m.costs("eval")) == {"eval_seconds", "eval_peak_mib"} and m.gpu_peak_mib is None


def test_nondeterministic_op_warnings_are_collected_and_others_pass():
    log = NondeterminismLog()
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with log:
            warnings.warn("upsample_trilinear3d_backward_out_cuda does not have a deterministic implementation, "
                          "but you set 'torch.use_deterministic_algorithms(True, warn_only=True)'.")
            warnings.warn("something else")
    assert log.sorted() == ["upsample_trilinear3d_backward_out_cuda"]
    assert [str(w.message) for w in shown] == ["something else"]


def test_full_stores_no_copy_and_records_the_splits_bytes(smoke, tmp_path):
    from vddbench.results import ResultStore
    from vddbench.runner import plan, run_cell

    (cell,) = plan(smoke, ["full"])
    (record,) = run_cell(cell, str(tmp_path))
    _, train = _smoke_train(smoke)
    artifact = ResultStore(tmp_path).artifact_path(cell.protocol_id, cell.key)
    assert record["status"] == "ok", record["error"]
    assert artifact.stat().st_size < 1024  # a reference to the split, not a copy of it
    assert record["storage_basis"] == "training split" and record["storage_bytes"] == train.nbytes
    assert record["split_storage"]["clips"] == record["num_videos"] == len(train)
    assert record["environment"]["device"] == "cpu" and record["determinism"]["nondeterministic_ops"] == []


def test_a_split_reference_refuses_another_copy_of_the_split_in_one_line(tmp_path):
    from vddbench.errors import DataError
    from vddbench.split_reference import check_reference, is_split_reference, split_reference

    split, _ = _file_split(tmp_path)
    reference = split_reference(split)
    assert is_split_reference(reference) and reference.tensors == {}
    check_reference(reference, split)  # the same copy passes
    (tmp_path / "other").mkdir()
    other, _ = _file_split(tmp_path / "other", n=22)
    with pytest.raises(DataError) as info:
        check_reference(reference, other)
    message = str(info.value)
    assert "another copy of gen/train (23 clips; this one has 22)" in message and "delete the artifact" in message
    assert "\n" not in message


def test_full_on_a_real_layout_records_the_splits_bytes_and_writes_no_copy(tmp_path, monkeypatch):
    from vddbench.protocol import PROTOCOLS
    from vddbench.protocols import MINIUCF
    from vddbench.results import ResultStore
    from vddbench.testing import datasets as fixtures

    classes = ("Biking", "Diving")
    root = fixtures.make_ucf101(tmp_path / "data", classes, train=3, test=1, other_classes=())
    monkeypatch.setenv("VDDBENCH_CACHE", str(tmp_path / "cache"))
    protocol = fixtures.small_protocol(MINIUCF, len(classes), classes, epochs=1)
    monkeypatch.setitem(PROTOCOLS, protocol.name, protocol)
    from vddbench.runner import plan, run_cell

    (cell,) = plan(protocol, ["full"], data_root=str(root), device="cpu")
    run_cell(cell, str(tmp_path / "results"))
    (record,) = ResultStore(tmp_path / "results").records()
    assert record["status"] == "ok", record["error"]
    clip = protocol.datasets[0].clip
    listed = (root / "ucfTrainTestlist" / "trainlist01.txt").read_text().split()[::2]
    train_videos = [root / "UCF-101" / name for name in listed]
    assert record["num_videos"] == 6 and record["storage_bytes"] == 6 * int(np.prod(clip.shape))
    assert record["split_storage"]["source_video_bytes"] == sum(v.stat().st_size for v in train_videos)
    (artifact,) = (tmp_path / "results" / "artifacts").rglob("*.safetensors")
    assert artifact.stat().st_size < 1024


@pytest.mark.slow
def test_the_gpu_check_rehearses_on_the_cpu_and_fails_when_runs_differ(tmp_path):
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
    report = tmp_path / "report.md"
    proc = subprocess.run([sys.executable, str(script), "--cpu", "--tiny", "--skip", "smoke,costs", str(report)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = report.read_text()
    assert "result: PASS" in text and "MiniUCF-shaped cells" in text and "| PASS |" in text
    # the comparison it relies on catches a difference between the two runs
    spec = importlib.util.spec_from_file_location("gpu_check", script)
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    import json

    from vddbench.protocol import get_protocol
    from vddbench.results import ResultStore
    from vddbench.runner import plan, run_cell

    (cell,) = plan(get_protocol("smoke"), ["random"], ipcs=[1])
    for run in ("a", "b"):
        run_cell(cell, str(tmp_path / run))
    assert gpu_check.compare(tmp_path / "a", tmp_path / "b")[1] == []
    (path,) = ResultStore(tmp_path / "b").record_files()
    record = json.loads(path.read_text())
    record["metrics"]["top1"] += 1.0
    path.write_text(json.dumps(record))
    problems = gpu_check.compare(tmp_path / "a", tmp_path / "b")[1]
    assert len(problems) == 1 and "metrics differs" in problems[0]
