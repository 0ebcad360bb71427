"""A third-party package with a distiller and an entry point, pip-installed into the venv, shows
up in `vddbench list` and on the leaderboard after `vddbench run`."""

import subprocess
import sys
import textwrap

import pytest

PACKAGE = "vddbench-thirdparty-probe"
MODULE = "vddbench_thirdparty_probe"


@pytest.fixture
def installed_package(tmp_path_factory):
    root = tmp_path_factory.mktemp("pkg")
    (root / MODULE).mkdir()
    (root / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{PACKAGE}"
        version = "3.1.4"
        dependencies = ["vddbench"]

        [project.entry-points.vddbench]
        probe = "{MODULE}"
        """))
    (root / MODULE / "__init__.py").write_text(textwrap.dedent("""
        import torch
        import vddbench

        class FirstClips(vddbench.Distiller):
            \"\"\"The first IPC training clips of each class.\"\"\"
            name = "first-clips"

            def distill(self, task):
                index = torch.cat([task.train.indices_of(c)[: task.ipc] for c in range(task.num_classes)])
                return vddbench.Artifact({"videos": task.train.clips(index), "labels": task.train.labels[index]})

        @vddbench.hookimpl
        def register_distillers(register):
            register(FirstClips)
        """))
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run(pip + ["install", "--no-deps", "--no-build-isolation", str(root)], check=True)
    yield
    subprocess.run(pip + ["uninstall", "-y", PACKAGE], check=True)


def test_installed_package_appears_in_list_and_on_the_leaderboard(installed_package, vddbench_cli, tmp_path):
    env = {"VDDBENCH_LOAD_PLUGINS": f"{PACKAGE},vddbench-coresets"}
    listing = vddbench_cli("list", check=True, env=env).stdout
    assert f"first-clips    {PACKAGE} 3.1.4" in listing

    vddbench_cli("run", "--protocol", "smoke", "--distiller", "first-clips,random", "--workers", "1",
                 "--results", "res", check=True, env=env)
    vddbench_cli("leaderboard", "--records", "res", "--out", "board", check=True, env=env)
    board = (tmp_path / "board" / "smoke-moving-shapes.md").read_text()
    row = next(line for line in board.splitlines() if line.startswith("| first-clips"))
    assert f"{PACKAGE} 3.1.4" in row and "(1)" in row
    assert vddbench_cli("leaderboard", "--records", "res", "--out", "board", "--check", env=env).returncode == 0
