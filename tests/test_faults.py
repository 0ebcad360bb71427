"""Faults and bad input never lose or misattribute a result (issue 9, items 1-9; item 10 is in
test_faults_injection.py).

Distillers that crash, peek at the test split or break a rule come from a hostile plugin written to a
temporary folder on PYTHONPATH (with its own ``.dist-info``, so its entry point is found in worker
processes too, without installing anything). Checks that need no worker process run in this process.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from record_fixtures import minimal_record

from vddbench import cli
from vddbench.errors import ResultsError
from vddbench.executors.local import LocalExecutor
from vddbench.plugins import Entry, Provider, get_registry
from vddbench.results import SCHEMA_VERSION, ResultStore, load_record, record_problem, write_bytes_atomic
from vddbench.runner import pending, plan, run_cell

EXE = Path(sys.executable).with_name("vddbench")

PROBE = '''
import os, signal, time
import torch
import vddbench

def pick(task, per_class, classes=None):
    """The first ``per_class`` training clips of each class (of ``classes``)."""
    classes = range(task.num_classes) if classes is None else classes
    index = torch.cat([task.train.indices_of(c)[:per_class] for c in classes])
    return vddbench.Artifact({"videos": task.train.clips(index), "labels": task.train.labels[index]})

def test_split(task):
    from vddbench.plugins import get_registry  # a hostile plugin reaches past the public API
    spec = next(d for d in vddbench.get_protocol("smoke").datasets if d.name == task.dataset)
    return get_registry().datasets[spec.source].obj.load(spec, "test", None)

class Probe(vddbench.Distiller):
    def distill(self, task):
        if os.environ.get("FAULT_LOG"):  # one line per distillation, to count them
            with open(os.environ["FAULT_LOG"], "a") as f:
                f.write(f"{self.name} {task.ipc} {task.seed} {os.getpid()}\\n")
        return self.act(task)

class Exit(Probe):
    name = "fault-exit"
    def act(self, task):
        os._exit(3)

class Kill(Probe):  # what the out-of-memory killer does
    name = "fault-kill"
    def act(self, task):
        os.kill(os.getpid(), signal.SIGKILL)

class Slow(Probe):
    name = "fault-slow"
    def act(self, task):
        time.sleep(float(os.environ.get("FAULT_SLEEP", "2")))
        return pick(task, task.ipc)

class Empty(Probe):
    name = "fault-empty"
    def act(self, task):
        return vddbench.Artifact({"videos": torch.zeros(0, *task.clip.shape), \
"labels": torch.zeros(0, dtype=torch.int64)})

class Peek(Probe):
    name = "fault-peek"
    def act(self, task):
        test = test_split(task)
        index = torch.cat([test.indices_of(c)[: task.ipc] for c in range(task.num_classes)])
        return vddbench.Artifact({"videos": test.clips(index), "labels": test.labels[index]})

class SneakyPeek(Probe):  # catches the guard's error and carries on
    name = "fault-sneaky-peek"
    def act(self, task):
        try:
            test_split(task)
        except Exception:
            pass
        return pick(task, task.ipc)

class Nan(Probe):
    name = "fault-nan"
    def act(self, task):
        artifact = pick(task, task.ipc)
        artifact.tensors["videos"][0, 0, 0, 0, 0] = float("nan")
        return artifact

class BadLabel(Probe):
    name = "fault-bad-label"
    def act(self, task):
        artifact = pick(task, task.ipc)
        artifact.tensors["labels"][0] = task.num_classes
        return artifact

class TooMany(Probe):
    name = "fault-too-many"
    def act(self, task):
        return pick(task, task.ipc + 1)

class MissingClass(Probe):  # may expand into more clips, but one class gets none
    name = "fault-missing-class"
    tags = vddbench.DistillerTags(exact_ipc=False)
    def act(self, task):
        return pick(task, task.ipc + 1, range(1, task.num_classes))

@vddbench.hookimpl
def register_distillers(register):
    for cls in (Exit, Kill, Slow, Empty, Peek, SneakyPeek, Nan, BadLabel, TooMany, MissingClass):
        register(cls)
'''

RAISER = '''
import vddbench

@vddbench.hookimpl
def register_distillers(register):
    raise RuntimeError("the register hook of a broken plugin")
'''


def _dist(site: Path, name: str, module: str, source: str) -> None:
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[vddbench]\n{module} = {module}\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder for PYTHONPATH with the hostile plugins."""
    site = tmp_path_factory.mktemp("site")
    _dist(site, "faultprobe", "faultprobe", PROBE)
    _dist(site, "faultraiser", "faultraiser", RAISER)
    (site / "faultbroken.py").write_text("raise ImportError('a plugin that does not import')\n")
    info = site / "faultbroken-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: faultbroken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vddbench]\nfaultbroken = faultbroken\n")
    return site


@pytest.fixture
def vdd(site, tmp_path):
    """Run ``vddbench`` in a subprocess with the probe plugin (and coresets) from tmp_path."""

    def run(*args, env=None, plugins="vddbench-coresets,faultprobe", timeout=300, popen=False, **options):
        full_env = {**os.environ, "PYTHONPATH": str(site), "VDDBENCH_LOAD_PLUGINS": plugins, **(env or {})}
        if popen:  # started, not waited for
            return subprocess.Popen([str(EXE), *args], cwd=tmp_path, env=full_env, **options)
        return subprocess.run([str(EXE), *args], cwd=tmp_path, capture_output=True, text=True, env=full_env,
                              timeout=timeout)

    return run


def _records(root: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(Path(root).glob("records/*/*/*/*.json"))}


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("vddbench: error: "), stderr
    return lines[0]


# -- 2. crash isolation ----------------------------------------------------------------------------
def test_a_dying_worker_fails_only_its_own_cell_and_the_grid_goes_on(vdd, tmp_path):
    proc = vdd("run", "--protocol", "smoke", "--distiller", "fault-kill,random", "--ipc", "1", "--workers", "2",
               "--results", "res")
    assert proc.returncode == 1, proc.stderr
    by = {r["distiller"]["name"]: r for r in _records(tmp_path / "res").values()}
    assert by["random"]["status"] == "ok"  # the cell beside it went on (was: BrokenProcessPool for both)
    crashed = by["fault-kill"]
    assert crashed["status"] == "failed" and crashed["error"]["phase"] == "worker"
    assert crashed["error"]["type"] == "WorkerDied" and "signal SIGKILL" in crashed["error"]["message"]
    assert "BrokenProcessPool" not in proc.stderr and "Traceback" not in proc.stderr
    assert "failed: fault-kill moving-shapes ipc1 seed0 convnet3d: WorkerDied" in proc.stderr


def test_a_single_cell_whose_worker_dies_gets_a_record_and_a_message(vdd, tmp_path):
    proc = vdd("run", "--protocol", "smoke", "--distiller", "fault-exit", "--ipc", "1", "--results", "res")
    assert proc.returncode == 1, proc.stderr
    (record,) = _records(tmp_path / "res").values()
    assert record["status"] == "failed" and "exited with code 3" in record["error"]["message"]
    assert "exited with code 3" in proc.stderr and "1 failure(s)" in proc.stderr


@pytest.mark.parametrize("exitcode, words, stopped", [
    (-9, "was killed by signal SIGKILL (9) (e.g. the out-of-memory killer", False),
    (-11, "was killed by signal SIGSEGV (11)", False),
    (3, "exited with code 3", False),
    (-15, "was killed by signal SIGTERM (15)", True),  # asked to stop: no record, the cell stays pending
    (-2, "was killed by signal SIGINT (2)", True),
])
def test_how_a_worker_ended_decides_between_a_failed_record_and_a_stop(exitcode, words, stopped):
    from vddbench.executors.local import death

    how, is_stop = death(exitcode)
    assert how.startswith(words) and is_stop is stopped


# -- 1. interrupts are not failures ----------------------------------------------------------------
def test_ctrl_c_writes_nothing_for_the_cells_in_flight_and_the_rerun_completes(vdd, tmp_path, smoke,
                                                                              probe_registered, monkeypatch):
    log = tmp_path / "log"
    env = {"FAULT_LOG": str(log), "FAULT_SLEEP": "30"}
    args = ("run", "--protocol", "smoke", "--distiller", "fault-slow", "--ipc", "1", "--results", "res")
    proc = vdd(*args, env=env, popen=True, start_new_session=True, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.read_text()):  # the worker is distilling
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground process group
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert _records(tmp_path / "res") == {}  # nothing recorded for the cells in flight, nothing blamed
    monkeypatch.setenv("FAULT_SLEEP", "0")  # the rerun, in this process (quicker)
    cells = plan(smoke, ["fault-slow"], ipcs=[1])
    LocalExecutor(in_process=True).run(pending(cells, ResultStore(tmp_path / "res")), str(tmp_path / "res"),
                                       lambda c, o: None)
    assert [r["status"] for r in _records(tmp_path / "res").values()] == ["ok"]


# -- 8. concurrent runs ------------------------------------------------------------------------------
def test_two_runs_on_one_results_directory_compute_each_cell_once(vdd, tmp_path, smoke, probe_registered,
                                                                  monkeypatch, capfd):
    log = tmp_path / "log"
    env = {"FAULT_LOG": str(log), "FAULT_SLEEP": "1"}
    first = vdd("run", "--protocol", "smoke", "--distiller", "fault-slow", "--ipc", "1", "--results", "res", env=env,
                popen=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # holds the cell's lock
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.read_text()):
        time.sleep(0.05)
    assert log.read_text(), "the first run should be distilling"
    monkeypatch.setenv("FAULT_LOG", str(log))
    (cell,) = plan(smoke, ["fault-slow"], ipcs=[1])
    assert run_cell(cell, str(tmp_path / "res")) == []  # a second run waits for the first, then finds it done
    assert "fault-slow moving-shapes ipc1 seed0 is being computed by another process" in capfd.readouterr().err
    assert first.wait(120) == 0
    assert len(log.read_text().splitlines()) == 1  # distilled once
    assert [r["status"] for r in _records(tmp_path / "res").values()] == ["ok"]


def test_a_lock_left_by_a_killed_holder_does_not_block(smoke, tmp_path):
    (cell,) = plan(smoke, ["random"], ipcs=[1])
    lock = ResultStore(tmp_path).lock_path(cell.protocol_id, cell.key)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, pathlib, time
        path = pathlib.Path({str(lock)!r}); path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "w"); fcntl.flock(f, fcntl.LOCK_EX); print("locked", flush=True); time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()  # kill -9 while it holds the cell's lock
    holder.wait()
    (record,) = run_cell(cell, str(tmp_path))
    assert record["status"] == "ok"


# -- 3. the protocol's rules, enforced by run --------------------------------------------------------
@pytest.fixture
def probe_registered(site, monkeypatch):
    """The probe's distillers in this process's registry (its module imported from the site folder)."""
    monkeypatch.syspath_prepend(str(site))
    import faultprobe

    distillers = get_registry().distillers
    added = {cls.name: Entry(cls.name, cls, Provider("faultprobe", "0.1"))
             for cls in vars(faultprobe).values()
             if isinstance(cls, type) and issubclass(cls, faultprobe.Probe) and cls.name}
    distillers.update(added)
    yield
    for name in added:
        del distillers[name]


@pytest.mark.parametrize("name, rule", [
    ("fault-empty", "at least one clip per class"),
    ("fault-peek", "should never read the test split"),
    ("fault-sneaky-peek", "should never read the test split"),
    ("fault-nan", "finite pixel values"),
    ("fault-bad-label", "labels in [0, 10)"),
    ("fault-too-many", "exactly 1 clip(s) per class at IPC 1"),
    ("fault-missing-class", "at least one clip per class"),
])
def test_a_broken_protocol_rule_is_a_failed_record_naming_the_rule(smoke, tmp_path, probe_registered, name, rule):
    (cell,) = plan(smoke, [name], ipcs=[1])
    (record,) = run_cell(cell, str(tmp_path))
    assert record["status"] == "failed", record
    assert record["error"]["phase"] == "protocol" and record["error"]["type"] == "RuleViolation"
    assert record["error"]["message"].startswith("protocol rule broken: ") and rule in record["error"]["message"]


# -- 4. artifacts are verified -----------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncate-artifact", "garble-costs", "old-costs-format"])
def test_a_corrupt_saved_artifact_is_named_discarded_and_distilled_again(smoke, tmp_path, capfd, damage):
    (cell,) = plan(smoke, ["random"], ipcs=[1])
    (first,) = run_cell(cell, str(tmp_path))
    store = ResultStore(tmp_path)
    artifact = store.artifact_path(cell.protocol_id, cell.key)
    meta = artifact.with_suffix(".json")
    assert json.loads(meta.read_text())["artifact_sha256"] == first["artifact_sha256"]
    if damage == "truncate-artifact":
        artifact.write_bytes(artifact.read_bytes()[:100])
    elif damage == "garble-costs":
        meta.write_text("{not json")
    else:
        meta.write_text(json.dumps(json.loads(meta.read_text())["costs"]))
    (path,) = store.record_files()
    path.unlink()  # the student's record is missing: the cell runs again and reuses the artifact
    capfd.readouterr()
    (again,) = run_cell(cell, str(tmp_path))
    assert f"saved artifact {artifact}" in capfd.readouterr().err
    assert again["status"] == "ok" and again["artifact_sha256"] == first["artifact_sha256"]
    assert again["metrics"] == first["metrics"]


def test_an_unreadable_artifact_error_names_the_file(tmp_path):
    from vddbench.artifacts import load_artifact

    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(ResultsError, match=f"cannot read artifact {bad}"):
        load_artifact(bad)


def test_a_full_disk_is_named_not_charged_to_the_distiller(smoke, tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ResultsError, match=r"cannot write .*x\.json \(No space left on device\); the disk is full"):
        write_bytes_atomic(tmp_path / "x.json", b"{}")
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind
    (cell,) = plan(smoke, ["random"], ipcs=[1])
    with pytest.raises(ResultsError, match="the disk is full"):
        run_cell(cell, str(tmp_path / "res"))
    assert ResultStore(tmp_path / "res").record_files() == []  # no failed record blames random


def test_a_full_disk_stops_the_run_with_one_line(smoke, tmp_path, monkeypatch, capsys):
    from vddbench import executors

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    # in this process (so that the patched fsync applies); worker processes report the error alike
    monkeypatch.setattr(executors, "get_executor", lambda name, **options: LocalExecutor(in_process=True))
    monkeypatch.setattr(os, "fsync", full)
    argv = ["run", "--protocol", "smoke", "--distiller", "random", "--results", str(tmp_path / "res")]
    assert cli.main(argv) == 2
    line = _one_error_line(capsys.readouterr().err.split("\n", 1)[1])  # after the "protocol ...: 2 cells" line
    # the first file the run writes is the protocol's kept canonical JSON; the line names it
    assert "cannot write" in line and "res/records" in line and "the disk is full" in line
    assert ResultStore(tmp_path / "res").record_files() == []


# -- 6. records are validated in one place -------------------------------------------------------------
@pytest.mark.parametrize("content, problem", [
    ([], "holds a JSON list, not a record object"),
    ({k: v for k, v in minimal_record().items() if k != "status"}, "lacks 'status'"),
    ({k: v for k, v in minimal_record().items() if k != "metrics"}, "is 'ok' but lacks numeric 'metrics'"),
    (minimal_record(schema_version=2), f"has schema_version 2; this vddbench reads {SCHEMA_VERSION}"),
    (minimal_record(status="failed"), "is 'failed' but lacks its 'error'"),
    ("{truncated", "cannot be read"),
])
def test_a_malformed_record_is_one_line_naming_the_file_and_run_recomputes_it(smoke, tmp_path, content, problem):
    (cell,) = plan(smoke, ["random"], ipcs=[1])
    (good,) = run_cell(cell, str(tmp_path))
    store = ResultStore(tmp_path)
    (path,) = store.record_files()
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ResultsError) as info:
        load_record(path)
    message = str(info.value)
    assert message.startswith(f"record {path} {problem}") and "\n" not in message
    assert "run 'vddbench run' on its results directory" in message
    assert pending([cell], store) == [cell]  # not done for run, as for the leaderboard
    (again,) = run_cell(cell, str(tmp_path))
    assert again["metrics"] == good["metrics"] and load_record(path)["status"] == "ok"


def test_leaderboard_names_a_malformed_record_and_check_fails_without_records(tmp_path, capsys):
    bad = tmp_path / "recs" / "records" / "p" / "d" / "x" / "k--s.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("[]")
    assert cli.main(["leaderboard", "--records", str(tmp_path / "recs"), "--out", str(tmp_path / "b")]) == 2
    assert f"record {bad} holds a JSON list" in _one_error_line(capsys.readouterr().err)
    assert cli.main(["leaderboard", "--check", "--records", str(tmp_path / "missing")]) == 2
    assert "no records under" in _one_error_line(capsys.readouterr().err)
    assert record_problem(minimal_record()) is None


# -- 5. promote is safe ----------------------------------------------------------------------------
def test_promote_never_replaces_an_ok_record_and_reports_what_it_skipped(tmp_path, capsys):
    rel = Path("records/p/d/x")
    official, run = tmp_path / "official", tmp_path / "run"
    official_records = {"a": minimal_record(), "b": minimal_record(schema_version=SCHEMA_VERSION + 1)}
    run_records = {"a": minimal_record(status="failed", error={"type": "E"}), "b": minimal_record(),
                   "c": minimal_record(schema_version=0), "d": minimal_record(status="failed", error={})}
    for root, records in ((official, official_records), (run, run_records)):
        (root / rel).mkdir(parents=True)
        for name, record in records.items():
            (root / rel / f"{name}.json").write_text(json.dumps(record))
    assert cli.main(["promote", "--results", str(run), "--to", str(official)]) == 0
    out, err = capsys.readouterr()
    assert "promoted 1 records" in out and "skipped 3" in out
    assert err.count("skipped: ") == 3 and "kept the ok record" in err and "newer schema_version" in err
    assert "has schema_version 0" in err
    assert load_record(official / rel / "a.json")["status"] == "ok"
    assert json.loads((official / rel / "b.json").read_text())["schema_version"] == SCHEMA_VERSION + 1
    assert load_record(official / rel / "d.json")["status"] == "failed"  # nothing there: the failure is listed


def test_promote_from_a_missing_directory_or_to_an_unwritable_one_is_one_line(tmp_path, capsys):
    assert cli.main(["promote", "--results", str(tmp_path / "nope"), "--to", str(tmp_path / "to")]) == 2
    assert "nope does not exist; pass --results DIR" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "to").exists()
    run = tmp_path / "run" / "records" / "p" / "d" / "x"
    run.mkdir(parents=True)
    (run / "a.json").write_text(json.dumps(minimal_record()))
    (tmp_path / "file").write_text("")
    assert cli.main(["promote", "--results", str(tmp_path / "run"), "--to", str(tmp_path / "file" / "to")]) == 2
    assert "is not writable (Not a directory); pass --to DIR" in _one_error_line(capsys.readouterr().err)


# -- 7. a raising plugin is isolated ---------------------------------------------------------------
@pytest.fixture
def plugins_from(site, monkeypatch):
    """This process's registry reloaded with only the given plugins (and the site folder's ones)."""
    from vddbench.plugins import reset_registry

    monkeypatch.syspath_prepend(str(site))

    def load(names: str):
        monkeypatch.setenv("VDDBENCH_LOAD_PLUGINS", names)
        reset_registry()

    yield load
    reset_registry()  # the next test reloads every installed plugin


def test_a_plugin_that_raises_or_does_not_import_is_skipped_with_one_line(plugins_from, capsys):
    plugins_from("vddbench-coresets,faultraiser,faultbroken")
    assert cli.main(["list"]) == 0
    out, err = capsys.readouterr()
    warnings = err.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("vddbench: warning: plugin ") for w in warnings), warnings
    assert any("from faultraiser 0.1 raised in register_distillers (RuntimeError" in w for w in warnings)
    assert any("from faultbroken 0.1 failed to import faultbroken (ImportError" in w for w in warnings)
    assert "  random " in out and "  full " in out  # the others keep working
    assert "fault-exit" not in out


# -- 9. one line on stderr and exit code 2 for every bad input ----------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--workers", "-1"], "--workers must be at least 1; got -1"),
    (["--workers", "0"], "--workers must be at least 1; got 0"),
    (["--distiller", ""], "--distiller is empty"),
    (["--distiller", " , "], "--distiller is empty"),
    (["--ipc", ""], "--ipc is empty"),
    (["--distiller", "random,random"], "--distiller lists random more than once"),
    (["--ipc", "1", "--ipc", "1"], "--ipc lists 1 more than once"),
    (["--ipc", "one"], "--ipc: 'one' is not a valid value"),
    (["--results", ""], "--results is empty"),
    (["--data-root", "/data"], "--data-root is for real datasets; protocol 'smoke' generates moving-shapes"),
])
def test_bad_run_options_are_one_line(args, message, capsys, tmp_path):
    argv = ["run", "--protocol", "smoke", "--results", str(tmp_path / "res"), *args]
    assert cli.main(argv) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "res" / "records").exists()


def test_leaderboard_to_an_unwritable_out_is_one_line(tmp_path, capsys, smoke):
    (cell,) = plan(smoke, ["random"], ipcs=[1])
    run_cell(cell, str(tmp_path / "res"))
    (tmp_path / "file").write_text("")
    assert cli.main(["leaderboard", "--records", str(tmp_path / "res"), "--out", str(tmp_path / "file" / "b")]) == 2
    assert "output directory" in (line := _one_error_line(capsys.readouterr().err)) and "pass --out DIR" in line


def test_a_distiller_hidden_by_load_plugins_names_the_variable(plugins_from, capsys, tmp_path):
    plugins_from("vddbench-coresets")
    assert cli.main(["run", "--protocol", "smoke", "--distiller", "fault-slow", "--results", str(tmp_path)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "unknown distiller 'fault-slow'" in line and "VDDBENCH_LOAD_PLUGINS='vddbench-coresets' leaves out" in line
    assert "faultprobe" in line


def test_a_closed_output_pipe_is_no_traceback(site):
    env = {**os.environ, "PYTHONPATH": str(site), "VDDBENCH_LOAD_PLUGINS": "vddbench-coresets"}
    proc = subprocess.run(f"set -o pipefail; '{EXE}' list | true", shell=True, executable="/bin/bash",
                          capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    if proc.returncode:  # the reader was gone before vddbench wrote (the usual case)
        assert proc.returncode == 2 and "pipe was closed" in _one_error_line(proc.stderr)


@pytest.fixture
def real_dataset(tmp_path, monkeypatch):
    from vddbench.protocols import MINIUCF
    from vddbench.testing import datasets as fixtures

    classes = ("Biking", "Diving")
    root = fixtures.make_ucf101(tmp_path / "data", classes, train=2, test=1, other_classes=())
    return fixtures.small_protocol(MINIUCF, 2, classes).datasets[0], root


def test_an_unusable_clip_cache_is_one_line_naming_it(real_dataset, tmp_path, monkeypatch):
    from vddbench.data import cache
    from vddbench.data.layouts import manifest_for
    from vddbench.errors import DataError

    spec, root = real_dataset
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("VDDBENCH_CACHE", str(tmp_path / "a-file"))
    with pytest.raises(DataError, match="set VDDBENCH_CACHE to a writable directory"):
        cache.load(spec, manifest_for(spec, root), "train", progress=False)

    monkeypatch.setenv("VDDBENCH_CACHE", str(tmp_path / "cache"))
    cache.load(spec, manifest_for(spec, root), "train", progress=False)
    folder = cache.cache_dir(spec, manifest_for(spec, root), "train")
    clips = folder / "clips.u8"
    clips.write_bytes(clips.read_bytes()[:1000])
    with pytest.raises(DataError, match=f"clip cache file {clips} has 1000 bytes, expected .*; delete {folder}"):
        cache.load(spec, manifest_for(spec, root), "train", progress=False)
