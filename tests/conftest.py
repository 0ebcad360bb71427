import os
import sys

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def smoke():
    import vddbench

    return vddbench.get_protocol("smoke")


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
