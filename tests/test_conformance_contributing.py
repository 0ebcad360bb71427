"""CONTRIBUTING.md is followed step by step: its example is the tested package verbatim, and a
newcomer's copy of it, built in a new folder and pip-installed, reaches a leaderboard."""

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from vddbench.plugins import reset_registry

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "CONTRIBUTING.md"
EXAMPLE = ROOT / "plugins" / "vddbench-example"
FILE_BLOCK = re.compile(r"^`(vddbench-example/[^`]+)`\n\n```\w*\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def guide_files() -> dict[str, str]:
    """``{path: text}`` for every file the guide shows (a `path` line, then a fenced block)."""
    return {path: text for path, text in FILE_BLOCK.findall(GUIDE.read_text())}


def test_the_guide_shows_the_tested_example_package_verbatim():
    files = guide_files()
    assert set(files) == {"vddbench-example/pyproject.toml", "vddbench-example/vddbench_example/__init__.py",
                          "vddbench-example/tests/test_example_conformance.py",
                          "vddbench-example/tests/test_example_mean.py"}
    for path, text in files.items():
        assert (EXAMPLE.parent / path).read_text() == text, f"CONTRIBUTING.md and plugins/{path} differ"
    assert len(files["vddbench-example/vddbench_example/__init__.py"].splitlines()) < 40


def test_the_guide_names_the_commands_it_promises():
    text = GUIDE.read_text()
    for command in ("make test", "make run", "vddbench check", "vddbench run --distiller example-mean",
                    "vddbench leaderboard --records results --out results/leaderboards", "vddbench promote",
                    "protocol_defaults", "expected_failed_checks", "twine upload"):
        assert command in text, command


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def newcomer(tmp_path):
    """The guide's package written into a new folder under a new name (so that it does not clash with
    the installed example), pip-installed into this environment, and uninstalled afterwards."""
    slug = f"newcomer{uuid.uuid4().hex[:6]}"
    folder = tmp_path / f"vddbench-{slug}"
    for path, text in guide_files().items():
        text = (text.replace("vddbench-example", f"vddbench-{slug}").replace("vddbench_example", f"vddbench_{slug}")
                .replace("example-mean", f"{slug}-mean").replace("example = ", f"{slug} = "))
        target = folder / path.split("/", 1)[1].replace("vddbench_example", f"vddbench_{slug}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(folder)]
    _run(*pip, cwd=tmp_path)
    reset_registry()
    try:
        yield slug
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-q", "-y", f"vddbench-{slug}"],
                       capture_output=True, timeout=300)
        reset_registry()


@pytest.mark.slow
def test_following_the_guide_from_a_new_folder_reaches_the_leaderboard(newcomer, tmp_path):
    vddbench = str(Path(sys.executable).with_name("vddbench"))
    name = f"{newcomer}-mean"
    _run(vddbench, "run", "--protocol", "smoke", "--distiller", name, "--results", "results", cwd=tmp_path)
    _run(vddbench, "leaderboard", "--records", "results", "--out", "results/leaderboards", cwd=tmp_path)
    board = (tmp_path / "results" / "leaderboards" / "smoke-moving-shapes.md").read_text()
    row = rf"^\| {name} \| vddbench-{newcomer} 0\.1\.0 \| \d+\.\d \(1\) \| — \| \d+\.\d \(1\) \| — \|$"
    assert re.search(row, board, re.MULTILINE), board
