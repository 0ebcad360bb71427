"""The plot renderer: a :class:`~vddbench.leaderboard.board.Board` -> accuracy against storage (PNG).

Labels are the board model's plain text (no markdown to undo); one line per row, one point per IPC.
"""

from __future__ import annotations

from pathlib import Path

from .board import Board


def render_plot(board: Board, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for series in board.series:
        xs, ys = zip(*series.points)
        ax.plot(xs, ys, marker="o", label=series.head.text)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels would overlap
    ax.set_xlabel("storage (MB, log scale)")
    ax.set_ylabel(f"{board.dataset.metric} accuracy (%)")
    title = f"{board.dataset.name}: accuracy vs storage ({board.protocol.protocol_student})"
    if board.protocol.source != "code":
        title += f"\nprotocol id {board.protocol.protocol_id}, not defined by this vddbench"
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if board.series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
