"""The SLURM executor (submitit). Without a cluster: submitit's LocalExecutor runs the same job
array on this machine, and a fake ``sbatch``/``sacct`` on PATH checks the job script and the
collect-and-resume logic."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from executor_grid import PLUGINS, Killer, assert_complete, broken_cell, cell_records, grid, processes, reference  # noqa: F401

from vddbench.results import ResultStore

submitit = pytest.importorskip("submitit")


def _ledger(root: Path) -> dict[str, str]:
    path = root / "slurm" / "submissions.json"
    return {k: v["job_id"] for k, v in json.loads(path.read_text())["cells"].items()} if path.exists() else {}


def _submit_process(root: Path, cell) -> list[int]:
    """The python process of ``cell``'s local job, once the ledger names the job (submitit tells
    the job its id in SUBMITIT_LOCAL_JOB_ID)."""
    job = _ledger(root).get(cell.key)
    if not job:
        return []
    found = []
    for pid, (_, cmd) in processes().items():
        if "submitit.core._submit" in cmd and str(root) in cmd:
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"SUBMITIT_LOCAL_JOB_ID={job}".encode() in env:
                found.append(pid)
    return found


@pytest.mark.slow
def test_local_cluster_reports_crashed_and_killed_jobs(tmp_path, monkeypatch):
    from submitit.core.utils import FailedJobError, UncompletedJobError

    from vddbench.executors import get_executor

    monkeypatch.setenv("VDDBENCH_LOAD_PLUGINS", PLUGINS)
    target, bad = grid()[0], broken_cell()
    killer = Killer(find=lambda: _submit_process(tmp_path, target), after=1.0)
    killer.start()
    outcomes = {}
    get_executor("slurm", cluster="local", threads=1, time=10).run(
        [target, bad], str(tmp_path), lambda c, o: outcomes.setdefault(c.key, []).append(o))
    killer.join(1)

    assert killer.killed, "the target job never started"
    assert sorted(outcomes) == sorted([target.key, bad.key]) and all(len(v) == 1 for v in outcomes.values())
    (killed,), (crashed,) = outcomes[target.key], outcomes[bad.key]
    assert isinstance(killed, UncompletedJobError), killed  # the job died: reported, not retried
    assert isinstance(crashed, FailedJobError)  # raised in the job: reported with its traceback
    assert "changed since the cell was planned" in str(crashed) and "Traceback" in str(crashed)
    assert cell_records(tmp_path, target) == [] and ResultStore(tmp_path).record_files() == []


@pytest.mark.slow
def test_cli_detach_kill_then_collect(tmp_path, reference):  # noqa: F811
    """`vddbench run` submits and exits; a job dies; the same command later collects the others and
    submits again only the dead job's cell. The records match the local executor's."""
    (tmp_path / "run.toml").write_text(textwrap.dedent("""
        [run]
        protocol = "smoke"
        distiller = ["random", "full"]
        results = "results"
        executor = "slurm"
        submitit-cluster = "local"
        time = "0:10:00"
        workers = 2
    """))
    exe, root, target = Path(sys.executable).with_name("vddbench"), tmp_path / "results", grid()[0]
    env = {**os.environ, "VDDBENCH_LOAD_PLUGINS": PLUGINS}
    killer = Killer(find=lambda: _submit_process(root, target), after=1.0)
    killer.start()
    with open(tmp_path / "first.log", "w") as log:  # not a pipe: the jobs outlive the driver
        first = subprocess.run([str(exe), "run", "--config", "run.toml", "--detach"], cwd=tmp_path, env=env,
                               stdout=log, stderr=subprocess.STDOUT, timeout=300)
    text = (tmp_path / "first.log").read_text()
    assert first.returncode == 0, text
    assert "3 cell(s) submitted" in text and "detached" in text
    submitted = _ledger(root)
    assert len(submitted) == 3
    killer.join(60)
    assert killer.killed, f"the target job never started: {_ledger(root)}\n{text}"

    second = subprocess.run([str(exe), "run", "--config", "run.toml"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"job {submitted[target.key]} of {target.label()} ended" in second.stderr, second.stderr
    assert "1 cell(s) submitted" in second.stderr  # the others were attached to (or done), not resubmitted
    after = _ledger(root)
    assert after[target.key] != submitted[target.key]
    assert ({k: v for k, v in after.items() if k != target.key}
            == {k: v for k, v in submitted.items() if k != target.key})
    assert_complete(root, reference)


# -- a fake SLURM: sbatch records the script, sacct reports what the test says ----------------------
@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    bin_dir, state = tmp_path / "bin", tmp_path / "slurm-state"
    bin_dir.mkdir()
    state.mkdir()
    scripts = {
        "sbatch": 'n=$(( $(cat "$FAKE_SLURM/counter" 2>/dev/null || echo 1000) + 1 ))\n'
                  'echo $n > "$FAKE_SLURM/counter"\ncp "$1" "$FAKE_SLURM/sbatch-$n.sh"\n'
                  'echo "Submitted batch job $n"\n',
        "srun": "exit 1\n",
        "sacct": 'echo "JobID|State|NodeList"\ncat "$FAKE_SLURM/sacct" 2>/dev/null\nexit 0\n',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(state))
    submitit.SlurmJob.watcher.clear()
    yield state
    submitit.SlurmJob.watcher.clear()


def test_sbatch_script_and_collect_resubmits_only_ended_jobs(fake_slurm, tmp_path, capsys):
    from vddbench.executors import get_executor

    cells, root = grid(), tmp_path / "results"
    executor = get_executor("slurm", threads=1, workers=2, partition="gpu", time="1:30:00", gpus_per_cell=1,
                            mem="16G", slurm_options=("account=proj", "reservation=r1"), detach=True)
    executor.run(cells, str(root), lambda c, o: pytest.fail("a detached run reports nothing"))
    script = (fake_slurm / "sbatch-1001.sh").read_text()
    for line in ("--partition=gpu", "--time=90", "--gpus-per-node=1", "--mem=16G", "--array=0-2%2",
                 "--account=proj", "--reservation=r1", "--cpus-per-task=1", "--job-name=vddbench"):
        assert f"#SBATCH {line}\n" in script, line
    assert "export OMP_NUM_THREADS=1" in script and f"{sys.executable} -u -m submitit.core._submit" in script
    assert _ledger(root) == {c.key: f"1001_{i}" for i, c in enumerate(cells)}

    # Straight away sacct does not know the jobs yet: they count as pending, nothing is resubmitted.
    executor.run(cells, str(root), lambda c, o: None)
    assert "0 cell(s) submitted, 3 still queued or running" in capsys.readouterr().err

    # Later: one finished without its records, one still runs, one lost its node.
    (fake_slurm / "sacct").write_text("1001_0|COMPLETED|n1\n1001_1|RUNNING|n2\n1001_2|NODE_FAIL|n3\n")
    submitit.SlurmJob.watcher.clear()
    executor.run(cells, str(root), lambda c, o: None)
    err = capsys.readouterr().err
    assert "job 1001_0 of" in err and "(COMPLETED)" in err and "job 1001_2 of" in err and "(NODE_FAIL)" in err
    assert "2 cell(s) submitted (job 1002), 1 still queued or running" in err
    assert "#SBATCH --array=0-1%2\n" in (fake_slurm / "sbatch-1002.sh").read_text()
    assert _ledger(root) == {cells[0].key: "1002_0", cells[1].key: "1001_1", cells[2].key: "1002_1"}
    jobs = root / "slurm" / "jobs"
    for i, cell in ((0, cells[0]), (1, cells[2])):  # each array element carries its own cell
        with open(jobs / f"1002_{i}_submitted.pkl", "rb") as f:
            assert pickle.load(f).args[0] == cell

    # A cluster without accounting: sacct knows nothing, squeue lists the jobs that are not over.
    (fake_slurm / "sacct").unlink()
    squeue = fake_slurm.parent / "bin" / "squeue"
    squeue.write_text('#!/bin/sh\necho "1002_1|PENDING"\n')
    squeue.chmod(0o755)
    submitit.SlurmJob.watcher.clear()
    executor.run(cells, str(root), lambda c, o: None)
    assert "2 cell(s) submitted (job 1003), 1 still queued or running" in capsys.readouterr().err
    assert _ledger(root) == {cells[0].key: "1003_0", cells[1].key: "1003_1", cells[2].key: "1002_1"}


def test_slurm_needs_sbatch(tmp_path, monkeypatch):
    from vddbench.errors import VddbenchError
    from vddbench.executors import get_executor

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(VddbenchError, match="needs sbatch and srun"):
        get_executor("slurm", threads=1).run(grid()[:1], str(tmp_path / "r"), lambda c, o: None)


def test_cells_waiting_for_a_teacher_go_in_a_second_array(fake_slurm, tmp_path, capsys):
    import vddbench
    from vddbench.executors import get_executor, input_leaders
    from vddbench.plugins import Entry, Provider, get_registry
    from vddbench.protocol import get_protocol
    from vddbench.runner import plan

    class Teachy(vddbench.Distiller):
        name = "teachy"
        tags = vddbench.DistillerTags(needs_teacher=True)

        def distill(self, task):
            raise NotImplementedError

    distillers = get_registry().distillers
    distillers["teachy"] = Entry("teachy", Teachy, Provider("tests", "0"))
    try:
        cells = plan(get_protocol("smoke"), ["random", "teachy"])  # teachy at IPC 1 and 2 share a teacher
        assert input_leaders(cells) == {cells[3]: cells[2]}
        get_executor("slurm", threads=1, detach=True).run(cells, str(tmp_path / "r"), lambda c, o: None)
    finally:
        del distillers["teachy"]
    assert "4 cell(s) submitted (job 1001, 1002)" in capsys.readouterr().err
    assert "--array=0-2%3" in (fake_slurm / "sbatch-1001.sh").read_text()
    second = (fake_slurm / "sbatch-1002.sh").read_text()
    assert "#SBATCH --dependency=afterany:1001\n" in second and "--array" not in second  # one cell: one job
    assert _ledger(tmp_path / "r")[cells[3].key] == "1002"
