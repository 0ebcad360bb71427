"""Choosing an executor and its options: command line, TOML config file, errors."""

from __future__ import annotations

import pytest

from vddbench.cli import build_parser
from vddbench.config import parse_with_config
from vddbench.errors import ProtocolError, VddbenchError
from vddbench.executors import executor_options, get_executor


def _args(tmp_path, toml: str, *argv: str):
    path = tmp_path / "run.toml"
    path.write_text(toml)
    argv = ["run", "--config", str(path), *argv]
    return parse_with_config(build_parser(), argv, str(path))


def test_config_file_sets_run_options_and_flags_win(tmp_path):
    args = _args(tmp_path, """
[run]
protocol = "smoke"
distiller = ["random", "herding"]
ipc = [1, 2]
executor = "ray"
ray-address = "auto"
cpus_per_cell = 2
gpus-per-cell = 0.5
workers = 4
""", "--ipc", "2", "--workers", "3")
    assert args.protocol == "smoke" and args.distiller == ["random", "herding"]
    assert args.ipc == ["2"] and args.workers == 3  # flags given on the command line win
    assert args.executor == "ray" and args.ray_address == "auto"
    ex = get_executor(args.executor, **executor_options(args, threads=1))
    assert (ex.address, ex.cpus_per_cell, ex.gpus_per_cell, ex.workers, ex.threads) == ("auto", 2, 0.5, 3, 1)


def test_slurm_options_from_the_command_line():
    args = build_parser().parse_args(["run", "--executor", "slurm", "--partition", "gpu", "--time", "2:00:00",
                                      "--gpus", "1", "--mem", "32G", "--slurm-option", "account=proj", "--detach"])
    ex = get_executor(args.executor, **executor_options(args, threads=1))
    assert (ex.partition, ex.timeout_min, ex.gpus, ex.mem, ex.options, ex.detach, ex.cluster) == \
        ("gpu", 120, 1, "32G", {"account": "proj"}, True, "slurm")


@pytest.mark.parametrize("toml, message", [
    ("[run]\nexecuter = 'ray'\n", "unknown option 'executer'"),
    ("[slurm]\npartition = 'gpu'\n", "options go in [run]"),
    ("[run]\nexecutor = 'dask'\n", "is not one of local, ray, slurm"),
    ("[run]\nworkers = 'many'\n", "is not a valid int"),
    ("[run]\ndetach = 'yes'\n", "should be true or false"),
    ("[run\n", "not valid TOML"),
])
def test_bad_config_is_one_clear_error(tmp_path, toml, message):
    with pytest.raises(VddbenchError, match=message.replace("[", r"\[")):
        _args(tmp_path, toml)


def test_options_an_executor_does_not_take_are_an_error():
    with pytest.raises(ProtocolError, match="does not take --ray-address, --partition"):
        get_executor("local", workers=1, threads=1, partition="gpu", address="auto")
    with pytest.raises(ProtocolError, match="unknown executor"):
        get_executor("dask")


def test_slurm_time_formats():
    from vddbench.executors.slurm import parse_minutes

    assert [parse_minutes(t) for t in ("90", 45, "30:00", "1:30:00", "1-00", "1-02:03:30")] == \
        [90, 45, 30, 90, 1440, 1564]
    with pytest.raises(ProtocolError, match="not a SLURM time"):
        parse_minutes("2h")


def test_cli_reports_a_bad_config_as_one_line(tmp_path, capsys):
    from vddbench.cli import main

    (tmp_path / "run.toml").write_text("[run]\nexecuter = 'ray'\n")
    assert main(["run", "--config", str(tmp_path / "run.toml")]) == 2
    assert "vddbench: error: config" in capsys.readouterr().err
