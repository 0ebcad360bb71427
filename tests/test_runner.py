import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import vddbench
from vddbench.plugins import Entry, Provider, get_registry
from vddbench.protocol import all_protocols
from vddbench.results import ResultStore
from vddbench.runner import pending, plan, run_cell


class Boom(vddbench.Distiller):
    """Raises, to exercise the failed-cell path."""

    name = "boom"

    def distill(self, task):
        raise RuntimeError("kaboom at distillation")


@pytest.fixture
def boom_registered():
    distillers = get_registry().distillers
    distillers["boom"] = Entry("boom", Boom, Provider("tests", "0"))
    yield
    del distillers["boom"]


def _records(root: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(root.glob("records/*/*/*/*.json"))}


def test_same_cell_in_two_results_directories_gives_identical_artifact_and_metrics(smoke, tmp_path):
    (cell,) = plan(smoke, ["random"], ipcs=[1])
    a, b = run_cell(cell, str(tmp_path / "a")), run_cell(cell, str(tmp_path / "b"))
    assert len(a) == len(b) == len(smoke.students)
    for ra, rb in zip(a, b):
        assert ra["status"] == rb["status"] == "ok"
        assert ra["artifact_sha256"] == rb["artifact_sha256"] and ra["metrics"] == rb["metrics"]


def test_record_has_the_documented_fields(smoke, tmp_path):
    (cell,) = plan(smoke, ["random"], ipcs=[2])
    (record,) = run_cell(cell, str(tmp_path))
    assert record["schema_version"] == 1 and record["protocol_id"] == smoke.protocol_id
    assert record["distiller"] == {"name": "random", "params": {}, "distribution": "vddbench-coresets",
                                   "version": "0.1.0"}
    assert record["ipc"] == 2 and record["num_videos"] == 20 and record["soft_labels"] is False
    artifact = ResultStore(tmp_path).artifact_path(cell.protocol_id, cell.key)
    assert record["storage_bytes"] == artifact.stat().st_size  # storage is the saved file's size
    assert set(record["costs"]) == {"distill_seconds", "distill_peak_mib", "eval_seconds", "eval_peak_mib"}
    assert record["environment"]["torch_threads"] == smoke.torch_threads
    # the instruction set picks the CPU kernels, so their rounding: a rerun elsewhere is compared knowing it
    assert record["environment"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["environment"]["cpu"]
    assert set(record["metrics"]) == {"top1", "top5"}


def test_rerun_skips_finished_records(smoke, tmp_path):
    cells = plan(smoke, ["random"])
    for cell in cells:
        run_cell(cell, str(tmp_path))
    store = ResultStore(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in store.record_files()}
    assert pending(cells, store) == []
    assert all(run_cell(cell, str(tmp_path)) == [] for cell in cells)
    assert {p: p.stat().st_mtime_ns for p in store.record_files()} == before


def test_full_reference_ignores_ipc_and_stores_the_whole_split(smoke, tmp_path):
    cells = plan(smoke, ["full"])
    assert [c.ipc for c in cells] == [None]
    (record,) = run_cell(cells[0], str(tmp_path))
    # its storage is the split's uint8 clips (no copy is saved: tests/test_stream.py)
    assert record["num_videos"] == 60 and record["storage_bytes"] == 60 * 3 * 8 * 16 * 16


def test_a_raising_distiller_becomes_a_failed_record_and_the_grid_goes_on(smoke, tmp_path, boom_registered):
    from vddbench.executors.local import LocalExecutor

    cells = plan(smoke, ["boom", "random"], ipcs=[1])
    outcomes = {}
    LocalExecutor(in_process=True).run(cells, str(tmp_path), lambda c, o: outcomes.__setitem__(c.distiller, o))
    (failed,) = outcomes["boom"]
    assert failed["status"] == "failed" and failed["error"]["phase"] == "distill"
    assert "kaboom at distillation" in failed["error"]["traceback"]
    assert outcomes["random"][0]["status"] == "ok"
    assert len(pending(cells, ResultStore(tmp_path))) == 1  # the failed cell is retried next time


def test_plan_rejects_bad_input_with_one_clear_line(smoke):
    with pytest.raises(vddbench.ProtocolError, match="unknown distiller 'randm'; did you mean 'random'"):
        plan(smoke, ["randm"])
    with pytest.raises(vddbench.ProtocolError, match=r"IPC 3 is not in protocol 'smoke' \(it has: 1, 2\)"):
        plan(smoke, ["random"], ipcs=[3])
    with pytest.raises(vddbench.ProtocolError, match="student slowonly-r18 is not in protocol 'smoke'"):
        plan(smoke, ["random"], students=["slowonly-r18"])


def test_a_distiller_entry_with_json_runs_those_hyper_parameters_over_the_protocols(smoke, tmp_path):
    default, variant = plan(smoke, ["dm", 'dm{"iterations": 1, "lr_img": 10}'], ipcs=[1], seeds=[0])
    assert default.params["iterations"] == get_registry().distillers["dm"].obj.defaults_for("smoke")["iterations"] != 1
    assert variant.params == {**default.params, "iterations": 1, "lr_img": 10}
    assert default.distiller == variant.distiller == "dm" and default.key != variant.key
    records = run_cell(dataclasses.replace(variant, students=variant.students[:1]), str(tmp_path))
    assert records[0]["status"] == "ok" and records[0]["distiller"]["params"] == variant.params


@pytest.mark.parametrize("entries, message", [
    (['dm{"iteration": 1}'], "distiller 'dm' has no hyper-parameter 'iteration'; did you mean 'iterations'"),
    (["dm{iterations: 1}"], "is not a JSON object"),
    (["dm", 'dm{"iterations": 4}'],  # 4 is the smoke protocol's own
     "'dm' and 'dm{\"iterations\": 4}' are the same configuration"),
    (['dm{"iterations": 2.5}'],
     "distiller 'dm': iterations should be an integer \\(it is 4 on protocol 'smoke'\\); got 2.5"),
    (['dm{"dsa": 1}'], "dsa should be true or false"),
    (["dm", 'dm{"lr_img": 100}'], "the same configuration"),  # an integer for a float: 100.0, the protocol's own
])
def test_distiller_entries_are_checked_before_any_work(smoke, entries, message):
    with pytest.raises(vddbench.ProtocolError, match=message):
        plan(smoke, entries)


class Picky(vddbench.Distiller):
    """Checks its hyper-parameter when built, as CONTRIBUTING.md suggests."""

    name = "picky"

    def __init__(self, k: int = 1, m: int | None = None):
        if k < 1 or (m is not None and m < 0):
            raise vddbench.DistillerError(f"distiller 'picky': k should be at least 1 and m at least 0; got {k}, {m}")
        self.k, self.m = k, m


def test_a_value_the_distiller_refuses_when_built_stops_the_plan(smoke, monkeypatch):
    monkeypatch.setitem(get_registry().distillers, "picky", Entry("picky", Picky, Provider("tests", "0")))
    assert [c.params for c in plan(smoke, ['picky{"k": 2}'], ipcs=[1], seeds=[0])] == [{"k": 2, "m": None}]
    with pytest.raises(vddbench.DistillerError, match="got 0, None"):
        plan(smoke, ['picky{"k": 0}'])
    with pytest.raises(vddbench.ProtocolError, match="distiller 'picky': k should be an integer"):
        plan(smoke, ['picky{"k": "a"}'])
    # a hyper-parameter that is None by default takes any value; what the distiller cannot compare is one line
    with pytest.raises(vddbench.ProtocolError, match="distiller 'picky' rejects {\"m\": \"a\"}: '<' not supported"):
        plan(smoke, ['picky{"m": "a"}'])


@pytest.mark.parametrize("entry, message", [
    ('dm{"iterations": -1}', "distiller 'dm': iterations should be >= 0 and batch_real >= 1; got -1, 16"),
    ('frepo{"label_temperature": 0}', "distiller 'frepo': label_temperature should be > 0; got 0"),
    ('idtd{"real_batch": 0}', "distiller 'idtd': iterations should be >= 0 and real_batch >= 1; got 10, 0"),
    ('mtt{"experts": 0}', "distiller 'mtt': experts must be >= 1; got 0"),
    ('vdsd{"ipc1_iterations": -1}', "distiller 'vdsd': iterations and ipc1_iterations should be >= 0"),
    ('mtt-vdsd{"batch_syn": 0}', "distiller 'mtt-vdsd': batch_syn should be >= 1; got 0"),
    ('frepo-vdsd{"pool_size": 0}', "distiller 'frepo-vdsd': iterations should be >= 0; batch_real, pool_size"),
    ('static-dc{"outer_loop": 0}', "distiller 'static-dc' should get outer_loop None or >= 1; got 0"),
    ('tsgf{"iterations": -1}', "distiller 'tsgf': iterations should be >= 0, .*; got -1, 100, 3"),
    ('tsgf{"videomix_prob": 2}', r"distiller 'tsgf': .*videomix_prob in \[0, 1\]; got 1.0, 2.0"),
    ('tac-dt{"branching_factor": 1}', "distiller 'tac-dt' needs .*branching_factor >= 2; got 100, 1"),
    ('vst-unet{"epochs": -1}', "distiller 'vst-unet': epochs should be >= 0; got -1"),
    ('herding{"features": "mean"}', "distiller 'herding': features should be 'flat' or 'pooled'; got 'mean'"),
    ('optdistill{"labeler": "nobody"}', "distiller 'optdistill': labeler should be 'teacher', 'scorer' or"),
])
def test_first_party_distillers_refuse_a_bad_value_before_the_grid_runs(entry, message):
    """Out-of-range values stop ``vddbench run`` while it plans, not as one failed record per cell."""
    with pytest.raises(vddbench.DistillerError, match=message):
        plan(all_protocols()["embedded"], [entry])


def test_list_names_a_distillers_hyper_parameters_with_their_protocol_values(capsys):
    from vddbench.cli import main

    assert main(["list", "dm", "--protocol", "smoke"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "run another value with --distiller 'dm{\"iterations\": ...}'" in lines[1]
    assert "  iterations  4  (default 5000)" in lines and "  lr_img      100.0" in lines
    assert main(["list", "random"]) == 0 and capsys.readouterr().out.splitlines()[-1] == \
        "no hyper-parameters (protocol 'embedded')"


def test_the_distiller_flag_splits_at_commas_outside_json():
    from vddbench.cli import _split

    entries = ['random,dm{"iterations": 2, "init": "a,{b"}', 'herding,tsgf{"lr": [1, 2]}']
    assert _split(entries, flag="--distiller") == ["random", 'dm{"iterations": 2, "init": "a,{b"}', "herding",
                                                   'tsgf{"lr": [1, 2]}']


def test_cli_errors_are_one_line_with_exit_code_2(vddbench_cli, tmp_path):
    (tmp_path / "a-file").write_text("")
    cases = [
        (["run", "--protocol", "smoke", "--distiller", "randon"], "did you mean 'random'"),
        (["run", "--protocol", "smoke", "--distiller", 'herding,random{"k": 1, "seed": [1, 2]}'],
         "distiller 'random' has no hyper-parameter 'k' (it has: none)"),
        (["run", "--protocol", "smoke", "--distiller", 'herding{"features": "mean"}'],
         "distiller 'herding': features should be 'flat' or 'pooled'; got 'mean'"),
        (["run", "--protocol", "smoke", "--ipc", "10"], "IPC 10 is not in protocol 'smoke'"),
        (["run", "--protocol", "smoke", "--results", "a-file/results"],
         "results directory a-file/results is not writable"),
    ]
    for args, message in cases:
        proc = vddbench_cli(*args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [f"vddbench: error: {proc.stderr.split('error: ', 1)[1].strip()}"]
        assert message in proc.stderr
    assert not (tmp_path / "results").exists()  # a refused request leaves nothing behind


def test_kill_9_midway_leaves_no_corrupt_record_and_a_rerun_completes(tmp_path):
    results = tmp_path / "results"
    exe = Path(sys.executable).with_name("vddbench")
    args = [str(exe), "run", "--protocol", "smoke", "--distiller", "random,herding,kcenter,full",
            "--workers", "1", "--results", str(results)]
    env = {**os.environ, "VDDBENCH_LOAD_PLUGINS": "vddbench-coresets"}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and not list(results.glob("records/*/*/*/*.json")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = _records(results)
    assert 1 <= len(first) < 7, "the run should have been killed midway"
    assert all(r["status"] == "ok" for r in first.values())  # every file on disk is a whole record

    subprocess.run(args, check=True, capture_output=True, env=env)
    after = _records(results)
    assert len(after) == 7
    assert all(after[name] == record for name, record in first.items())  # nothing recomputed


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False


def test_pool_workers_exit_when_the_driver_is_killed(tmp_path):
    """Killing `vddbench run` must not leave workers computing cells that nobody collects."""
    results = tmp_path / "results"
    exe = Path(sys.executable).with_name("vddbench")
    env = {**os.environ, "VDDBENCH_LOAD_PLUGINS": "vddbench-coresets"}
    proc = subprocess.Popen([str(exe), "run", "--protocol", "smoke", "--workers", "2", "--results", str(results)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    children: list[int] = []
    while time.time() < deadline and len(children) < 2:
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
        children = [int(pid) for pid in out.split()]
        time.sleep(0.2)
    assert len(children) >= 2, "the pool should have started its workers"
    proc.kill()  # SIGKILL to the driver only: its workers get no signal
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(_running(pid) for pid in children):
        time.sleep(0.5)
    assert [pid for pid in children if _running(pid)] == []


class OwnRecipe(vddbench.Distiller):
    """random's clips, evaluated with a recipe of its own (as MTT evaluates with its learned lr)."""

    name = "own-recipe"
    tags = vddbench.DistillerTags(own_eval_recipe=True)

    def distill(self, task):
        idx = torch.cat(task.random_real_indices())
        return vddbench.Artifact({"videos": task.train.clips(idx), "labels": task.train.labels[idx],
                                  "lr": torch.tensor([0.005])})

    def evaluation_recipe(self, artifact, recipe):
        return dataclasses.replace(recipe, optimizer="adam", lr=float(artifact.tensors["lr"]))


def test_an_own_evaluation_recipe_is_recorded_and_the_plain_score_uses_the_protocols(smoke, tmp_path):
    distillers = get_registry().distillers
    distillers["own-recipe"] = Entry("own-recipe", OwnRecipe, Provider("tests", "0"))
    try:
        (cell,) = plan(smoke, ["own-recipe"], ipcs=[1])
        assert cell.slots == ("convnet3d", "convnet3d--plain")
        own, plain = run_cell(cell, str(tmp_path))
    finally:
        del distillers["own-recipe"]
    assert own["own_eval_recipe"] is True and own["eval_recipe"]["optimizer"] == "adam"
    assert own["eval_recipe"]["lr"] == pytest.approx(0.005)
    assert plain["scoring"] == "plain" and plain["own_eval_recipe"] is False and "eval_recipe" not in plain
