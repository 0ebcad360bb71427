"""The ``vddbench`` command line."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from pathlib import Path

from .errors import VddbenchError

OFFICIAL = Path("leaderboards")


def _top_level_parts(value: str) -> list[str]:
    """``value`` split at its commas, except those inside ``{...}``, ``[...]`` or a JSON string (so
    that ``random,dm{"iterations": 50, "lr": 1}`` is two entries)."""
    parts, start, depth, quoted, escaped = [], 0, 0, False, False
    for i, char in enumerate(value):
        if quoted:  # inside a JSON string: only its end matters
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(value[start:i])
            start = i + 1
    return parts + [value[start:]]


def _split(values: list[str] | None, convert=str, flag: str = "this option"):
    """The values of a repeatable, comma-separated flag; None when the flag was not given."""
    if values is None:
        return None
    out = []
    for value in values:
        for part in _top_level_parts(value):
            if part.strip():
                try:
                    out.append(convert(part.strip()))
                except ValueError:
                    raise VddbenchError(
                        f"{flag}: '{part}' is not a valid value (expected {convert.__name__})") from None
    if not out:
        raise VddbenchError(f"{flag} is empty; give it a value, or leave it out to take the protocol's whole list")
    twice = sorted({str(v) for v in out if out.count(v) > 1})
    if twice:
        raise VddbenchError(f"{flag} lists {', '.join(twice)} more than once; list each value once")
    return out


def _check_run_args(args, protocol) -> None:
    """One-line errors for run options that would otherwise be ignored or fail obscurely."""
    from .data.sources import REAL_SOURCES
    from .plugins import get_registry

    if args.workers is not None and args.workers < 1:
        raise VddbenchError(f"--workers must be at least 1; got {args.workers}")
    if not str(args.results).strip():
        raise VddbenchError("--results is empty; pass a directory (default: results)")
    if args.data_root is not None:
        real = {s.name for s in REAL_SOURCES}
        sources = get_registry().datasets
        own = [d for d in protocol.datasets if d.source not in real and d.source in sources
               and sources[d.source].provider.name == "vddbench"]
        if len(own) == len(protocol.datasets):  # every dataset is generated in-process
            raise VddbenchError(f"--data-root is for real datasets; protocol '{protocol.name}' generates "
                                f"{', '.join(d.name for d in own)} in-process; leave --data-root out")
    from .runner import parse_distiller

    reg = get_registry()
    for name, _ in map(parse_distiller, _split(args.distiller, flag="--distiller") or []):
        typo = difflib.get_close_matches(name, reg.distillers, n=1)  # plan() says "did you mean"
        if name not in reg.distillers and not typo and reg.why_missing():
            raise VddbenchError(f"unknown distiller '{name}' (installed: {', '.join(sorted(reg.distillers))}); "
                                f"{reg.why_missing()}")


def cmd_run(args) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from .executors import executor_options, get_executor
    from .protocol import get_protocol
    from .results import ResultStore, read_record
    from .runner import pending, plan

    protocol = get_protocol(args.protocol)
    _check_run_args(args, protocol)
    from .device import resolve_device

    # A bad or absent device is one line, before any work (ray and slurm: on the node that runs a cell).
    device = resolve_device(args.device) if args.executor == "local" else args.device or "cuda where present"
    if args.executor == "local" and device.type == "cuda" and args.workers is None:
        args.workers = 1  # cells take the GPU one at a time unless --workers asks for more
    cells = plan(protocol, _split(args.distiller, flag="--distiller"), _split(args.dataset, flag="--dataset"),
                 _split(args.ipc, int, "--ipc"), _split(args.seed, int, "--seed"),
                 _split(args.student, flag="--student"), data_root=args.data_root, device=args.device)
    store = ResultStore(args.results)  # created only once the request is known to be good
    store.check_writable()
    todo = pending(cells, store)
    for cell in todo:  # a malformed record is not done: say so, then compute it again
        for student in cell.slots:
            path = store.record_path(cell.protocol_id, cell.dataset, cell.distiller, cell.key, student)
            problem = read_record(path)[1] if path.exists() else None
            if problem:
                print(f"vddbench: warning: record {path} {problem}; computing it again", file=sys.stderr)
    from .data.sources import check_data_root

    check_data_root(protocol, {c.dataset for c in todo}, args.data_root)  # one clear error, not one per cell
    print(f"protocol {protocol.name} ({protocol.protocol_id}): {len(cells)} cells, {len(cells) - len(todo)} "
          f"already done, {len(todo)} to run on {device if args.device else f'{device} (default)'}; "
          f"results in {store.root}/", file=sys.stderr)
    from .errors import DistillerError
    from .executors.local import CellStopped

    failures: list[str] = []
    stopped: list[str] = []
    executor = get_executor(args.executor, **executor_options(args, protocol.torch_threads))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, transient=False) as progress:
        bar = progress.add_task("cells", total=len(todo))

        def on_done(cell, outcome):
            if isinstance(outcome, VddbenchError) and not isinstance(outcome, DistillerError):
                raise outcome  # a full disk, a corrupt cache: every other cell would fail the same way
            if isinstance(outcome, CellStopped):
                stopped.append(f"{cell.label()}: {outcome}")
            elif isinstance(outcome, BaseException):
                failures.append(f"{cell.label()}: {type(outcome).__name__}: {outcome}")
            else:
                failures.extend(f"{cell.label()} {r['student']}: {r['error']['type']}: {r['error']['message']}"
                                for r in outcome if r["status"] != "ok")
            progress.advance(bar)

        try:
            executor.run(todo, str(store.root), on_done)
        except KeyboardInterrupt:
            progress.stop()
            print("interrupted: finished records are kept, nothing was recorded for the cells in flight; "
                  "run the same command again to resume", file=sys.stderr)
            return 130
    for line in stopped:
        print(f"stopped: {line}", file=sys.stderr)
    for line in failures:
        print(f"failed: {line}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} failure(s); the details are in the records under {store.root}/records "
              f"(failed cells are retried by the next run)", file=sys.stderr)
        return 1
    return 1 if stopped else 0


def cmd_leaderboard(args) -> int:
    from . import leaderboard
    from .results import ResultStore

    store = ResultStore(args.records)
    records = store.typed_records()  # every record validated; a bad one is a one-line error
    protocols = store.protocols()  # kept protocol.json: boards of ids the code no longer defines
    records_dir, out = str(store.root / "records"), Path(args.out)
    if args.check:
        problems = leaderboard.stale(records, records_dir, out, protocols)
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            print("run 'vddbench leaderboard' to regenerate", file=sys.stderr)
            return 1
        print(f"leaderboards in {out}/ match {len(records)} records")
        return 0
    ResultStore(out).check_writable("--out", "output directory")
    for path in leaderboard.write(records, records_dir, out, protocols):
        print(f"wrote {path}")
    return 0


def cmd_compare(args) -> int:
    from .compare import compare, render
    from .results import ResultStore

    stores = ResultStore(args.a), ResultStore(args.b)
    for store in stores:
        if not store.record_files():
            raise VddbenchError(f"no records under {store.root / 'records'}; pass a results directory "
                                f"(what 'vddbench run --results DIR' wrote, or leaderboards)")
    a, b = (store.typed_records() for store in stores)
    result = compare(a, b)
    print(render(result, args.a, args.b, every_row=args.all))
    if not result.pairs:
        print(f"no record of {args.a} has a partner in {args.b}: they hold different protocols, cells or "
              f"hyper-parameters", file=sys.stderr)
        return 1
    return 1 if args.exact and result.identical < result.pairs else 0


def cmd_promote(args) -> int:
    from .results import promote
    from .runner import not_the_protocols_configuration

    report = promote(args.results, args.to, None if args.variants else not_the_protocols_configuration)
    for line in report.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    for line in report.notes:
        print(f"note: {line}", file=sys.stderr)
    for path in report.protocols:
        print(f"kept {path}", file=sys.stderr)
    skipped = f"; skipped {len(report.skipped)} (listed above)" if report.skipped else ""
    print(f"promoted {len(report.promoted)} records from {args.results}/ to {args.to}/{skipped}")
    return 0


def _print_entries(title: str, entries: dict, describe=lambda e: "") -> None:
    """One registry section of ``vddbench list``: name, providing package and version, description."""
    print(title)
    for name, e in sorted(entries.items()):
        print(f"  {name:<14} {e.provider.name} {e.provider.version}  {describe(e)}".rstrip())


def _print_hyper_parameters(name: str, protocol: str) -> None:
    """``vddbench list NAME``: the distiller's hyper-parameters, their values on ``protocol`` and
    their defaults, and how to set one for a run."""
    from .protocol import get_protocol
    from .runner import protocol_configuration, resolve_distiller

    get_protocol(protocol)  # an unknown protocol is one line
    cls = resolve_distiller(name)
    values = protocol_configuration(cls, protocol)
    defaults = {p.name: p.default for p in cls._init_parameters() if p.name in values}
    print(f"{name}: {(cls.__doc__ or '').strip().splitlines()[0] if cls.__doc__ else ''}".rstrip())
    if not values:
        print(f"no hyper-parameters (protocol '{protocol}')")
        return
    print(f"hyper-parameters on protocol '{protocol}' (run another value with --distiller "
          f"'{name}{{\"{next(iter(values))}\": ...}}'):")
    width = max(map(len, values))
    for key, value in values.items():
        note = "" if value == defaults[key] else f"  (default {json.dumps(defaults[key])})"
        print(f"  {key:<{width}}  {json.dumps(value)}{note}")


def cmd_list(args) -> int:
    from .plugins import get_registry
    from .protocol import all_protocols
    from .students.counts import human, protocol_counts

    if args.distiller is not None:
        _print_hyper_parameters(args.distiller, args.protocol)
        return 0

    def student(e) -> str:
        counts = ", ".join(f"{d} {human(n)}" for d, n in protocol_counts(e.obj.name))
        return e.obj.description + (f"  [{counts}]" if counts else "")

    reg = get_registry()
    _print_entries("distillers:", reg.distillers,
                   lambda e: (e.obj.__doc__ or "").strip().splitlines()[0] if e.obj.__doc__ else "")
    _print_entries("datasets:", reg.datasets)
    _print_entries("students (parameters at each protocol clip size that uses them):", reg.students, student)
    print("protocols:")
    for name, p in all_protocols().items():
        print(f"  {name:<14} {p.protocol_id}  {p.description}")
    _print_entries("cached inputs (built once per protocol, dataset and seed; shared by the cells that use them):",
                   reg.cached_inputs, lambda e: e.obj.description)
    _print_entries("executors (vddbench run --executor NAME):", reg.executors, lambda e: e.obj.description)
    return 0


def cmd_protocol(args) -> int:
    from .protocol import get_protocol

    p = get_protocol(args.name)
    if args.json:
        print(json.dumps(json.loads(p.canonical_json()), indent=2, sort_keys=True))
        return 0
    r = p.recipe
    print(f"protocol {p.name}  id {p.protocol_id}\n  {p.description}")
    for d in p.datasets:
        print(f"  dataset {d.name}: {d.num_classes} classes, clip {d.clip.frames}x{d.clip.height}x{d.clip.width}, "
              f"metric {d.metric}, source {d.source} {dict(d.options)}")
    print(f"  IPC {', '.join(map(str, p.ipcs))}; seeds {', '.join(map(str, p.seeds))}")
    print(f"  students {', '.join(p.students)} (protocol student: {p.protocol_student})")
    length = f"{r.steps} steps" if r.steps is not None else f"{r.epochs} epochs"
    print(f"  recipe: {r.optimizer.upper()} lr {r.lr}, momentum {r.momentum}, weight decay {r.weight_decay}, "
          f"{length}, lr x{r.lr_decay} after {int(r.lr_decay_at * 100)}%, batch {r.batch_size}"
          + (" (smaller sets full-batch at lr x sqrt(size / batch))" if r.sqrt_lr_scaling else "")
          + (f", gradient norm clipped at {r.grad_clip}" if r.grad_clip is not None else "")
          + ", final weights reported")
    print(f"  torch threads per cell: {p.torch_threads}")
    return 0


def cmd_check(args) -> int:
    import torch

    from .protocol import get_protocol
    from .testing import check_distiller

    torch.set_num_threads(get_protocol(args.protocol).torch_threads)
    expected = dict(item.split("=", 1) if "=" in item else (item, "expected to fail") for item in args.xfail or [])
    bad = 0
    for name in _split(args.names):
        for r in check_distiller(name, protocol=args.protocol, time_budget_s=args.time_budget,
                                 expected_failed_checks=expected):
            bad += r["status"] in ("failed", "xpassed")
            print(f"{r['status'].upper():<8} {r['distiller']}-{r['check']} ({r['seconds']:.1f} s)")
            if r["message"] and r["status"] != "passed":
                print(f"         {r['message']}")
    print(f"{bad} check(s) failed" if bad else "all checks passed", file=sys.stderr)
    return 1 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vddbench", description="Benchmark harness for video dataset distillation.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the protocol's grid (resumable; finished records are skipped)")
    run.add_argument("--protocol", default="embedded", help="protocol name (default: embedded)")
    run.add_argument("--distiller", action="append",
                     help="only these distillers (repeat or comma-separate); NAME{JSON} runs NAME with those "
                          "hyper-parameters over the protocol's defaults, e.g. 'tsgf{\"videomix\": false}'")
    run.add_argument("--dataset", action="append", help="only these datasets")
    run.add_argument("--ipc", action="append", help="only these IPCs (must be in the protocol)")
    run.add_argument("--seed", action="append", help="only these seeds (must be in the protocol)")
    run.add_argument("--student", action="append", help="only these students (must be in the protocol)")
    run.add_argument("--config", default=None, metavar="TOML",
                     help="take run options from the [run] table of a TOML file (flags given here win)")
    run.add_argument("--results", default="results", help="results directory (default: results/)")
    run.add_argument("--data-root", default=None, help="root folder of a real dataset")
    run.add_argument("--device", default=None,
                     help="cpu, cuda or cuda:N (default: cuda when present, else cpu; see docs/gpu.md)")
    from .executors import add_executor_arguments

    # --executor and each registered executor's options (local, ray, slurm and plugins' executors)
    add_executor_arguments(run, reserved={action.dest for action in run._actions})
    run.set_defaults(func=cmd_run)

    lb = sub.add_parser("leaderboard", help="render markdown leaderboards from records")
    lb.add_argument("--records", default=str(OFFICIAL), help="results directory to read (default: leaderboards/)")
    lb.add_argument("--out", default=str(OFFICIAL),
                    help="where to write <dataset>.md and .png (default: leaderboards/)")
    lb.add_argument("--check", action="store_true", help="fail if the markdown on disk is stale")
    lb.set_defaults(func=cmd_leaderboard)

    cp = sub.add_parser("compare", help="compare the records of two results directories (a rerun against the "
                                        "official ones): identical records, paired differences with 95%% CIs")
    cp.add_argument("a", help="results directory, e.g. leaderboards")
    cp.add_argument("b", help="results directory of the rerun, e.g. results")
    cp.add_argument("--all", action="store_true", help="show every row, not only those that differ")
    cp.add_argument("--exact", action="store_true", help="exit 1 unless every shared record is identical")
    cp.set_defaults(func=cmd_compare)

    pr = sub.add_parser("promote", help="copy a run's records into the official ones behind the leaderboards")
    pr.add_argument("--results", default="results", help="results directory of the run (default: results/)")
    pr.add_argument("--to", default=str(OFFICIAL), help="official results directory (default: leaderboards/)")
    pr.add_argument("--variants", action="store_true",
                    help="also promote records whose hyper-parameters are not the protocol's (run as NAME{JSON}, "
                         "or before a default changed); skipped and listed otherwise")
    pr.set_defaults(func=cmd_promote)

    ls = sub.add_parser("list", help="installed distillers (with their package), datasets, students, protocols, "
                                         "cached inputs, executors; or one distiller's hyper-parameters")
    ls.add_argument("distiller", nargs="?", help="show this distiller's hyper-parameters and values on a protocol")
    ls.add_argument("--protocol", default="embedded", help="with a distiller: the protocol (default: embedded)")
    ls.set_defaults(func=cmd_list)

    from .data.cli import add_data_parser

    add_data_parser(sub)  # vddbench data verify | cache

    ck = sub.add_parser("check", help="run the conformance kit on installed distillers")
    ck.add_argument("names", nargs="+", help="distiller names (see 'vddbench list')")
    ck.add_argument("--protocol", default="smoke", help="protocol to check on (default: smoke)")
    ck.add_argument("--time-budget", type=float, default=None, help="seconds per distillation (default: per protocol)")
    ck.add_argument("--xfail", action="append", metavar="CHECK=REASON", help="a known failure, shown as xfail")
    ck.set_defaults(func=cmd_check)

    pc = sub.add_parser("protocol", help="print a protocol")
    pc.add_argument("name", nargs="?", default="embedded")
    pc.add_argument("--json", action="store_true", help="print the canonical JSON that protocol_id hashes")
    pc.set_defaults(func=cmd_protocol)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "config", None):  # options from a TOML file; flags on the command line win
            from .config import parse_with_config

            args = parse_with_config(build_parser(), argv, args.config)
        code = args.func(args)
        sys.stdout.flush()  # a reader that left (`| head`) shows here, where it is caught, not at exit
        return code
    except VddbenchError as exc:
        print(f"vddbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `vddbench list | head -1`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush cannot fail again
        print("vddbench: error: the output pipe was closed before everything was written (e.g. by head); "
              "nothing to do", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
