import os
import signal
import sys

import pytest
import torch

torch.set_num_threads(1)

# The Ctrl-C tests send SIGINT to a `vddbench run` and expect it to arrive as from a terminal. A shell
# that starts pytest in the background (`pytest &`, nohup) makes it ignore SIGINT, and the runs it
# starts would inherit that; a handler, unlike SIG_IGN, is reset to the default when a child execs.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def smoke():
    import vddbench

    return vddbench.get_protocol("smoke")


@pytest.fixture(scope="module")
def seed0_tasks():
    """``ipc -> task`` of seed 0 on the embedded training split less its validation clips, as the
    benchmarks' scripts (``benchmarks/tune_distiller.py``) distil."""
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from tune_distiller import tasks_by_seed

    return next(tasks_by_seed([0]))[1]


@pytest.fixture
def vddbench_cli(tmp_path):
    """Run the console script in a subprocess (as a user would), from tmp_path."""
    import subprocess
    from pathlib import Path

    exe = Path(sys.executable).with_name("vddbench")

    def run(*args, check=False, env=None, timeout=600):
        # Core tests see only the coresets plugin, whatever else is installed in the venv.
        env = {**os.environ, "VDDBENCH_LOAD_PLUGINS": "vddbench-coresets", **(env or {})}
        proc = subprocess.run([str(exe), *args], cwd=tmp_path, capture_output=True, text=True, env=env,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"vddbench {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    return run
