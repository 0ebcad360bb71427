"""The markdown renderer: a :class:`~vddbench.leaderboard.board.Board` -> one markdown page.

The only place that escapes markdown: every text that comes from a plugin or a record (distiller
and package names, hyper-parameters, error messages) goes through :func:`md_escape` here. The
same board gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..stats import mean_ci
from .board import Board, BoardProtocol, Difference, Estimate, RowHead

MISSING = "—"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def md_escape(text: Any) -> str:
    """Make text from a plugin safe inside a markdown table cell."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def estimate_text(e: Estimate | None) -> str:
    """``mean ± 95% CI half-width (n)``; a single value has no interval."""
    if e is None:
        return MISSING
    return f"{e.mean:.1f} ({e.n})" if e.n < 2 else f"{e.mean:.1f} ± {e.half:.1f} ({e.n})"


def mean_ci_text(values: list[float]) -> str:
    """:func:`estimate_text` of raw values."""
    if not values:
        return MISSING
    mean, half = mean_ci(values)
    return estimate_text(Estimate(mean, half, len(values)))


def difference_text(diff: Difference | tuple[float, float, int] | None) -> str:
    """A paired difference with its CI; ▲ / ▼ when the CI excludes zero (better / worse)."""
    if isinstance(diff, tuple):  # (mean, half, n) as vddbench.stats.paired_difference gives it
        diff = Difference(*diff) if diff[2] >= 2 else None
    if diff is None:
        return MISSING
    mark = {1: " ▲", -1: " ▼", 0: ""}[diff.direction]
    return f"{diff.mean:+.1f} ± {diff.half:.1f}{mark}"


def _number(value: float | None, fmt: str) -> str:
    return MISSING if value is None else format(value, fmt)


def label(head: RowHead) -> str:
    marks = "".join(f" {m}" for m in head.marks)
    if head.params is None:
        return md_escape(head.distiller) + marks
    return f"{md_escape(head.distiller)} ({md_escape(head.variant)}){marks}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def coverage_note(board: Board) -> str | None:
    """A footnote when the dataset copy behind the records lacked videos (coverage below 100%)."""
    if not board.coverage:
        return None
    low = [f"{c.split} {100 * c.fraction:.1f}% ({c.usable} of {c.listed} listed videos)" for c in board.coverage]
    return (f"_Dataset coverage below 100%: {'; '.join(low)} (the lowest among these records). Videos missing "
            "from the copy, or undecodable, were left out; compare with results on a complete copy with care "
            "(`vddbench data verify` lists them)._")


def _recipe_text(p: BoardProtocol) -> str:
    r = p.recipe
    length = f"{r.steps} SGD steps" if r.steps is not None else f"{r.epochs} epochs"
    return f"students trained {length} (batch {r.batch_size}, lr {r.lr}, momentum {r.momentum}), final weights reported"


HOW_TO_READ = (
    "How to read: each accuracy is the mean over n seeds ± the half-width of its 95% confidence "
    "interval (Student's t with n−1 degrees of freedom). *vs random* is the paired difference to "
    "`random` at the same IPC and seed (same training clips for every real-initialised method), "
    "mean ± 95% CI; ▲ / ▼ mark an interval that excludes zero (better / worse than `random`). Two "
    "rows whose intervals overlap are not shown to differ. † soft labels, ‡ evaluation-time "
    "augmentation: such a row is followed by its *plain* score (↳), the same artifact trained with "
    "hard class labels and no augmentation, which shows how much comes from the data itself."
)
# With a § row on the board (a distiller that evaluates with its paper's own recipe) the legend says
# so; boards without one keep the text above, byte for byte.
HOW_TO_READ_OWN_RECIPE = HOW_TO_READ.replace(
    "† soft labels, ‡ evaluation-time augmentation: such a row",
    "† soft labels, ‡ evaluation-time augmentation, § the distiller's own evaluation recipe (e.g. MTT's "
    "learned step size) instead of the protocol's: such a row").replace(
    "hard class labels and no augmentation,", "hard class labels, no augmentation and the protocol's recipe,")


def _header(board: Board, records_dir: str) -> list[str]:
    p, d = board.protocol, board.dataset
    title = f"# {md_escape(d.name)}: video dataset distillation leaderboard"
    if p.source != "code":
        title += f" (protocol id {p.protocol_id})"
    if p.source == "records":
        return [
            title, "",
            f"Protocol `{md_escape(p.name)}` (id `{p.protocol_id}`): not defined by this vddbench, and "
            f"`{records_dir}/{p.protocol_id}/protocol.json` is absent, so this board shows only what its records "
            f"hold: seeds {', '.join(map(str, p.seeds))}; students {', '.join(map(md_escape, p.students))}. Its "
            "classes, clips and evaluation recipe are unknown; compare it with other protocol ids with care.",
            "",
        ]
    lines = [
        title, "",
        f"Protocol `{p.name}` (id `{p.protocol_id}`): {md_escape(p.description)}. "
        f"{d.num_classes} classes, clips of {'×'.join(map(str, d.clip or ('?',) * 3))}; "
        f"seeds {', '.join(map(str, p.seeds))}; {_recipe_text(p)}.",
        "",
    ]
    if p.source == "protocol.json":
        lines += [f"_This vddbench no longer defines protocol id `{p.protocol_id}`: this board is rendered from its "
                  f"records and the protocol kept in `{records_dir}/{p.protocol_id}/protocol.json`. Its numbers are "
                  "not comparable with those of other protocol ids._", ""]
    return lines


def render_markdown(board: Board, records_dir: str, plot_name: str) -> str:
    p, d = board.protocol, board.dataset
    metric = "top-1" if d.metric == "top1" else "top-5"
    out = _header(board, records_dir) + [
        f"Generated by `vddbench leaderboard` from the records in `{records_dir}`; do not edit by hand.",
        f"Accuracy is {metric} (%) on the test split.",
        "",
        HOW_TO_READ_OWN_RECIPE if "§" in board.marks else HOW_TO_READ,
        "",
    ]
    if board.other_records:
        note = f"_{board.other_records} record(s) from other protocol ids are not shown."
        if board.other_boards:
            links = ", ".join(f"[{md_escape(n)}.md]({n}.md)" for n in board.other_boards)
            note += f" They are on their own board(s): {links}."
        out += [note + "_", ""]
    note = coverage_note(board)
    if note:
        out += [note, ""]

    out += [f"## Accuracy on the protocol student ({p.protocol_student})", ""]
    header = ["distiller", "package"]
    for i in p.ipcs:
        header += [f"IPC {i}", "vs random"]
    rows = []
    for row in board.accuracy:
        cells = ([label(row.head), md_escape(row.head.package)] if not row.plain
                 else [f"↳ {label(dataclasses.replace(row.head, marks=()))}, plain (hard labels, no augmentation)",
                       ""])
        for c in row.cells:
            cells += [estimate_text(c.estimate), difference_text(c.vs_random)]
        rows.append(cells)
    out += _table(header, rows) + [""]

    out += ["## Cross-architecture", "", f"{metric} (%) of each student trained on the same distilled sets.", ""]
    rows = [[label(r.head), "all" if r.ipc is None else str(r.ipc)] + [estimate_text(e) for e in r.cells]
            for r in board.cross]
    out += _table(["distiller", "IPC"] + [md_escape(s) for s in p.students], rows) + [""]

    out += ["## Storage (MB)", "", "Bytes of the saved safetensors artifact that was evaluated (10⁶ bytes).", ""]
    rows = [[label(r.head)] + [_number(mb, ".3f") for mb in r.megabytes] for r in board.storage]
    out += _table(["distiller"] + [f"IPC {i}" for i in p.ipcs], rows) + [""]

    out += ["## Cost", "",
            "Mean per cell: distillation seconds and peak extra memory (MiB); evaluation seconds and "
            f"peak extra memory per student ({p.protocol_student}). Machine-dependent. Distillation "
            "seconds leave out the cached inputs named in the last column (a teacher, expert trajectories, "
            "Static-DC's images), each built once per seed and shared by the cells that ask; the cell that "
            "built one holds its time in `costs.cached_input_seconds`.", ""]
    rows = [[label(r.head), "all" if r.ipc is None else str(r.ipc), _number(r.distill_seconds, ".1f"),
             _number(r.distill_mib, ".0f"), _number(r.eval_seconds, ".1f"), _number(r.eval_mib, ".0f"),
             md_escape(", ".join(r.inputs)) if r.inputs else "—"]
            for r in board.costs]
    out += _table(["distiller", "IPC", "distill s", "distill MiB", "eval s", "eval MiB", "cached inputs"], rows)
    out += [""]

    if board.failures:
        out += ["## Failed", ""]
        for f in board.failures:
            out.append(f"- {md_escape(f.distiller)} IPC {f.ipc} seed {f.seed} {md_escape(f.student)}: "
                       f"{md_escape(f.error_type)}: {md_escape(f.message)}")
        out.append("")
    out += [f"![{metric} accuracy against storage]({plot_name})", ""]
    return "\n".join(out)
