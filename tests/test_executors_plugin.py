"""Executors are a registry: a plugin registers one (with an option) through ``register_executors``
only, and ``vddbench run --executor <it> --<its option>`` runs cells through it; the CLI flags, the
``--executor`` choices, the config keys and the ``does not take`` error come from the registry."""

from __future__ import annotations

import types

import pytest

import vddbench
from vddbench.errors import PluginError, ProtocolError
from vddbench.testing import temporary_plugin

RUNS: list[dict] = []  # what the plugin's executor was built with and which cells it ran


class InlineExecutor:
    """Runs cells one after another in this process, tagging each with its --batch-label."""

    name = "inline"

    def __init__(self, threads: int, batch_label: str, repeats: int, tag: tuple[str, ...], dry: bool,
                 workers: int | None):
        self.options = {"threads": threads, "batch_label": batch_label, "repeats": repeats, "tag": tag,
                        "dry": dry, "workers": workers}

    def run(self, cells, results_root, on_done):
        from vddbench.runner import run_cell

        RUNS.append({**self.options, "cells": [c.key for c in cells]})
        for cell in cells:
            on_done(cell, run_cell(cell, results_root))


INLINE = vddbench.ExecutorSpec(
    "inline", "cells one after another in the driver's process (a test plugin)", InlineExecutor,
    options=(vddbench.ExecutorOption("batch-label", help="a label for this batch"),
             vddbench.ExecutorOption("repeats", int, default=3, help="an int with a default"),
             vddbench.ExecutorOption("tag", repeatable=True, help="repeatable"),
             vddbench.ExecutorOption("dry", bool, help="a flag"),
             vddbench.ExecutorOption("workers", int, help="shared with the built-ins")))


def _plugin(*specs):
    module = types.ModuleType("_vddbench_test_executor_plugin")

    @vddbench.hookimpl
    def register_executors(register):
        for spec in specs:
            register(spec)

    module.register_executors = register_executors
    import sys

    sys.modules[module.__name__] = module
    return temporary_plugin(module=module, dist="vddbench-inline-executor", version="0.1.0")


@pytest.fixture
def inline():
    RUNS.clear()
    try:
        with _plugin(INLINE):
            yield
    finally:
        import sys

        sys.modules.pop("_vddbench_test_executor_plugin", None)


def test_a_plugin_executor_runs_a_smoke_cell_from_the_command_line(tmp_path, inline, monkeypatch, capsys):
    from vddbench.cli import main
    from vddbench.plugins import get_registry
    from vddbench.results import ResultStore

    entry = get_registry().executors["inline"]
    assert entry.provider.name == "vddbench-inline-executor"
    argv = ["run", "--protocol", "smoke", "--distiller", "random", "--ipc", "1", "--results", str(tmp_path / "r"),
            "--executor", "inline", "--batch-label", "nightly", "--tag", "a", "--tag", "b,c", "--device", "cpu"]
    assert main(argv) == 0, capsys.readouterr().err
    (run,) = RUNS
    # the declared default fills an unset option; a repeatable one is a tuple
    assert {k: v for k, v in run.items() if k != "cells"} == {
        "threads": 1, "batch_label": "nightly", "repeats": 3, "tag": ("a", "b,c"), "dry": False, "workers": None}
    records = list(ResultStore(tmp_path / "r").records())
    assert len(records) == 1 and records[0]["status"] == "ok" and records[0]["cell_key"] == run["cells"][0]

    # a config file knows the plugin's options; the built-in executors do not take them
    (tmp_path / "run.toml").write_text("[run]\nexecutor = 'inline'\nrepeats = 5\ndry = true\n")
    assert main(["run", "--config", str(tmp_path / "run.toml"), *argv[1:-10]]) == 0
    assert RUNS[-1]["repeats"] == 5 and RUNS[-1]["dry"] is True and RUNS[-1]["cells"] == []  # already done
    assert main(["run", "--protocol", "smoke", "--batch-label", "x", "--results", str(tmp_path / "r")]) == 2
    assert "executor 'local' does not take --batch-label" in capsys.readouterr().err


def test_the_registry_builds_the_run_flags_and_the_errors(inline):
    from vddbench.cli import build_parser
    from vddbench.executors import get_executor

    help_text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "{local,ray,slurm,inline}" in help_text and "--batch-label" in help_text
    assert "[local, ray, slurm, inline]" in help_text  # --workers: one flag, every executor that takes it
    with pytest.raises(ProtocolError, match="executor 'inline' does not take --partition"):
        get_executor("inline", threads=1, partition="gpu")
    with pytest.raises(ProtocolError, match=r"unknown executor 'dask' \(available: local, ray, slurm, inline\)"):
        get_executor("dask")


def test_conflicting_or_invalid_executor_options_are_clear_errors():
    from vddbench.cli import build_parser

    with pytest.raises(ValueError, match="lowercase words"):
        vddbench.ExecutorOption("--bad")
    with pytest.raises(ValueError, match="type must be"):
        vddbench.ExecutorOption("n", list)
    clash = vddbench.ExecutorSpec("clash", "declares --workers as a string", InlineExecutor,
                                  options=(vddbench.ExecutorOption("workers"),))
    try:
        with _plugin(clash), pytest.raises(PluginError, match="'clash' .* option --workers unlike executor 'local'"):
            build_parser()
        taken = vddbench.ExecutorSpec("taken", "declares --results", InlineExecutor,
                                      options=(vddbench.ExecutorOption("results"),))
        with _plugin(taken), pytest.raises(PluginError, match="--results, which vddbench run already uses"):
            build_parser()
        alias = vddbench.ExecutorSpec("alias", "its option takes --gpus, an alias of --gpus-per-cell", InlineExecutor,
                                      options=(vddbench.ExecutorOption("gpus", int),))
        with _plugin(alias), pytest.raises(PluginError, match="with --gpus, which option --gpus-per-cell"):
            build_parser()
    finally:
        import sys

        sys.modules.pop("_vddbench_test_executor_plugin", None)
