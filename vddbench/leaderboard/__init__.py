"""Records -> markdown leaderboards (one per protocol id and dataset) and a plot of accuracy against storage.

Three parts: :mod:`.board` turns records into a board model of plain values (rows, cells, 95%
confidence intervals, marks), :mod:`.markdown` renders it as markdown (the only place that
escapes markdown), :mod:`.plot` draws it. Rendering reads records only and is deterministic: the
same records give the same markdown. A board shows one protocol id, never mixing ids: the board of
a protocol the code defines is ``<prefix><dataset>.md``; records of an id the code no longer
defines get their own board, ``<prefix><dataset>-<id>.md``, rendered from the ``protocol.json``
kept beside them (or, without one, from what the records hold). A missing cell is ``—``. Accuracy
is shown as mean ± the half-width of its 95% confidence interval over seeds, with the paired
difference to ``random`` (``vddbench.stats``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from ..results import Record
from .board import MARKS, Board, BoardProtocol, build_board, build_boards
from .markdown import HOW_TO_READ, MISSING, coverage_note, difference_text, md_escape, mean_ci_text, render_markdown
from .plot import render_plot

Records = Iterable[Record | dict[str, Any]]
Protocols = Mapping[str, Mapping[str, Any]] | None

__all__ = ["HOW_TO_READ", "MARKS", "MISSING", "Board", "BoardProtocol", "build_board", "build_boards",
           "coverage_note", "difference_text", "md_escape", "mean_ci_text", "render", "render_markdown",
           "render_plot", "stale", "write"]


def render(records: Records, records_dir: str, protocols: Protocols = None) -> dict[str, str]:
    """``{board name: markdown}`` for every (protocol id, dataset) of the records. ``protocols``:
    the canonical JSON kept beside the records (``ResultStore.protocols()``)."""
    return {b.name: render_markdown(b, records_dir, f"{b.name}.png") for b in build_boards(records, protocols)}


def write(records: Records, records_dir: str, out_dir: Path, protocols: Protocols = None) -> list[Path]:
    written = []
    for b in build_boards(records, protocols):
        md = out_dir / f"{b.name}.md"
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(render_markdown(b, records_dir, f"{b.name}.png"))
        render_plot(b, out_dir / f"{b.name}.png")
        written.append(md)
    return written


def stale(records: Records, records_dir: str, out_dir: Path, protocols: Protocols = None) -> list[str]:
    """Files in ``out_dir`` that differ from what the records render to (for ``--check``)."""
    problems = []
    for name, text in render(records, records_dir, protocols).items():
        path = out_dir / f"{name}.md"
        if not path.exists():
            problems.append(f"{path} is missing")
        elif path.read_text() != text:
            problems.append(f"{path} is stale")
        if not (out_dir / f"{name}.png").exists():
            problems.append(f"{out_dir / (name + '.png')} is missing")
    return problems
