"""``vddbench run --config run.toml``: run options from the ``[run]`` table of a TOML file.

Keys are the long option names of ``vddbench run`` (``ray-address`` or ``ray_address``), the
registered executors' options among them (``vddbench.ExecutorOption``); options that take several
values accept a list. Flags given on the command line override the file::

    [run]
    protocol = "embedded"
    results = "/shared/vddbench/results"
    executor = "slurm"
    distiller = ["random", "herding"]
    partition = "gpu"
    time = "2:00:00"
    gpus-per-cell = 1
    mem = "32G"
    slurm-option = ["account=myproject"]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .errors import VddbenchError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    raise VddbenchError(f"no '{command}' command")


def read_run_config(path: str | Path, run_parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The ``[run]`` table of ``path`` as argparse defaults of ``run_parser`` (validated)."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise VddbenchError(f"cannot read config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise VddbenchError(f"config {path} is not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"run"})
    if extra:
        raise VddbenchError(f"config {path}: unknown table(s) {', '.join(extra)}; options go in [run]")
    actions = {a.dest: a for a in run_parser._actions if a.dest not in ("help", "config", "func")}
    out: dict[str, Any] = {}
    for key, value in data.get("run", {}).items():
        dest = key.replace("-", "_")
        action = actions.get(dest)
        if action is None:
            known = ", ".join(sorted(d.replace("_", "-") for d in actions))
            raise VddbenchError(f"config {path}: unknown option '{key}' in [run] (known: {known})")
        if isinstance(action, argparse._AppendAction):  # --distiller a --distiller b  ==  ["a", "b"]
            value = [str(v) for v in (value if isinstance(value, list) else [value])]
        elif isinstance(value, (list, dict)):
            raise VddbenchError(f"config {path}: option '{key}' takes one value, not {value!r}")
        elif action.choices is not None and value not in action.choices:
            raise VddbenchError(f"config {path}: {key} = {value!r} is not one of {', '.join(map(str, action.choices))}")
        elif isinstance(action, argparse._StoreTrueAction) and not isinstance(value, bool):
            raise VddbenchError(f"config {path}: {key} should be true or false")
        elif action.type is not None and not isinstance(value, bool):
            try:
                value = action.type(value)
            except (TypeError, ValueError):
                raise VddbenchError(f"config {path}: {key} = {value!r} is not a valid {action.type.__name__}") from None
        out[dest] = value
    return out


def parse_with_config(parser: argparse.ArgumentParser, argv: list[str] | None, path: str) -> argparse.Namespace:
    """Parse ``argv`` again with the config file's values as the ``run`` command's defaults."""
    run_parser = _subparser(parser, "run")
    values = read_run_config(path, run_parser)
    lists = {a.dest for a in run_parser._actions if isinstance(a, argparse._AppendAction)}
    # argparse appends flags to a list default instead of replacing it: fill lists in afterwards.
    run_parser.set_defaults(**{k: v for k, v in values.items() if k not in lists})
    args = parser.parse_args(argv)
    for dest in lists & set(values):
        if getattr(args, dest) is None:
            setattr(args, dest, values[dest])
    return args
