"""Records -> markdown leaderboards (one per dataset) and a plot of accuracy against storage.

Rendering reads records only and is deterministic: the same records give the same markdown. A
leaderboard shows one protocol id (the current protocol's); records of other ids are counted in a
note, never mixed in. A missing cell is ``—``. Accuracy is shown as mean ± the half-width of its
95% confidence interval over seeds, with the paired difference to ``random`` (``vddbench.stats``).
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from .protocol import Protocol, all_protocols
from .stats import mean_ci, paired_difference

MISSING = "—"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def md_escape(text: Any) -> str:
    """Make text from a plugin safe inside a markdown table cell."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def mean_ci_text(values: list[float]) -> str:
    """``mean ± 95% CI half-width (n)``; a single value has no interval."""
    if not values:
        return MISSING
    mean, half = mean_ci(values)
    return f"{mean:.1f} ({len(values)})" if len(values) < 2 else f"{mean:.1f} ± {half:.1f} ({len(values)})"


def difference_text(diff: tuple[float, float, int] | None) -> str:
    """A paired difference with its CI; ▲ / ▼ when the CI excludes zero (better / worse)."""
    if diff is None or diff[2] < 2:
        return MISSING
    mean, half, _ = diff
    mark = " ▲" if mean - half > 0 else " ▼" if mean + half < 0 else ""
    return f"{mean:+.1f} ± {half:.1f}{mark}"


def _mean(values: list[float], fmt: str) -> str:
    return format(statistics.fmean(values), fmt) if values else MISSING


class DatasetBoard:
    """The records of one dataset under one protocol, grouped for the tables."""

    def __init__(self, protocol: Protocol, dataset: str, records: list[dict[str, Any]]):
        self.protocol, self.dataset = protocol, dataset
        self.name = protocol.board_name(dataset)  # the leaderboard's file stem
        self.spec = protocol.dataset(dataset)
        self.ok = [r for r in records if r["status"] == "ok"]
        self.failed = [r for r in records if r["status"] != "ok"]
        self.rows = self._row_keys(records)

    @staticmethod
    def row_key(record: dict[str, Any]) -> tuple[str, str]:
        d = record["distiller"]
        return d["name"], json.dumps(d["params"], sort_keys=True)

    def _row_keys(self, records) -> list[tuple[str, str]]:
        return sorted({self.row_key(r) for r in records}, key=lambda k: (k[0] != "full", k))

    def has_plain(self, key: tuple[str, str]) -> bool:
        return any(self.row_key(r) == key and r.get("scoring") == "plain" for r in self.ok)

    def label(self, key: tuple[str, str]) -> str:
        name, params = key
        variants = [k for k in self.rows if k[0] == name]
        marks = ""
        sample = next((r for r in self.ok if self.row_key(r) == key and r.get("scoring", "own") == "own"), None)
        if sample and sample.get("soft_labels"):
            marks += " †"
        if sample and sample.get("eval_augmentation"):
            marks += " ‡"
        if len(variants) == 1:
            return md_escape(name) + marks
        shown = ", ".join(f"{k}={v}" for k, v in json.loads(params).items())
        return f"{md_escape(name)} ({md_escape(shown)}){marks}"

    def provider(self, key) -> str:
        r = next(r for r in self.ok + self.failed if self.row_key(r) == key)
        return md_escape(f"{r['distiller']['distribution']} {r['distiller']['version']}")

    def select(self, key, ipc, student=None, scoring: str = "own") -> list[dict[str, Any]]:
        student = student or self.protocol.protocol_student
        return [r for r in self.ok if self.row_key(r) == key and r["student"] == student
                and (r["ipc"] == ipc or r["ipc"] is None) and r.get("scoring", "own") == scoring]

    def metric(self, records) -> list[float]:
        return [r["metrics"][self.spec.metric] for r in records]

    def by_seed(self, records) -> dict[int, float]:
        return {r["seed"]: r["metrics"][self.spec.metric] for r in records}

    def vs_random(self, key, ipc, scoring: str = "own") -> tuple[float, float, int] | None:
        """Paired by seed: this row's accuracy minus ``random``'s at the same IPC (protocol student)."""
        random_key = next((k for k in self.rows if k[0] == "random"), None)
        if random_key is None or key == random_key:
            return None
        return paired_difference(self.by_seed(self.select(key, ipc, scoring=scoring)),
                                 self.by_seed(self.select(random_key, ipc)))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def coverage_note(board: DatasetBoard) -> str | None:
    """A footnote when the dataset copy behind the records lacked videos (coverage below 100%)."""
    worst: dict[str, dict[str, Any]] = {}
    for r in board.ok + board.failed:
        for split, c in (r.get("data_coverage") or {}).items():
            if isinstance(c, dict) and "fraction" in c and c["fraction"] < worst.get(split, {"fraction": 2})["fraction"]:
                worst[split] = c
    low = [f"{split} {100 * c['fraction']:.1f}% ({c['usable']} of {c['listed']} listed videos)"
           for split, c in sorted(worst.items()) if c["fraction"] < 1]
    if not low:
        return None
    return (f"_Dataset coverage below 100%: {'; '.join(low)} (the lowest among these records). Videos missing "
            "from the copy, or undecodable, were left out; compare with results on a complete copy with care "
            "(`vddbench data verify` lists them)._")


def _recipe_text(p: Protocol) -> str:
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


def render_markdown(board: DatasetBoard, records_dir: str, ignored: int, plot_name: str) -> str:
    p, spec = board.protocol, board.spec
    ipcs = p.ipcs
    metric = "top-1" if spec.metric == "top1" else "top-5"
    out = [
        f"# {md_escape(spec.name)}: video dataset distillation leaderboard",
        "",
        f"Protocol `{p.name}` (id `{p.protocol_id}`): {md_escape(p.description)}. "
        f"{spec.num_classes} classes, clips of {spec.clip.frames}×{spec.clip.height}×{spec.clip.width}; "
        f"seeds {', '.join(map(str, p.seeds))}; {_recipe_text(p)}.",
        "",
        f"Generated by `vddbench leaderboard` from the records in `{records_dir}`; do not edit by hand.",
        f"Accuracy is {metric} (%) on the test split.",
        "",
        HOW_TO_READ,
        "",
    ]
    if ignored:
        out += [f"_{ignored} record(s) from other protocol ids are not shown._", ""]
    note = coverage_note(board)
    if note:
        out += [note, ""]

    out += [f"## Accuracy on the protocol student ({p.protocol_student})", ""]
    header = ["distiller", "package"]
    for i in ipcs:
        header += [f"IPC {i}", "vs random"]
    rows = []
    for k in board.rows:
        scorings = ["own"] + (["plain"] if board.has_plain(k) else [])
        for scoring in scorings:
            row = ([board.label(k), board.provider(k)] if scoring == "own"
                   else [f"↳ {md_escape(k[0])}, plain (hard labels, no augmentation)", ""])
            for i in ipcs:
                row += [mean_ci_text(board.metric(board.select(k, i, scoring=scoring))),
                        difference_text(board.vs_random(k, i, scoring))]
            rows.append(row)
    out += _table(header, rows) + [""]

    out += ["## Cross-architecture", "", f"{metric} (%) of each student trained on the same distilled sets.", ""]
    rows = []
    for k in board.rows:
        for i in ipcs:
            cells = [mean_ci_text(board.metric(board.select(k, i, s))) for s in p.students]
            if any(c != MISSING for c in cells) or k[0] != "full":
                rows.append([board.label(k), str(i)] + cells)
            if k[0] == "full":
                rows[-1][1] = "all"
                break
    out += _table(["distiller", "IPC"] + [md_escape(s) for s in p.students], rows) + [""]

    out += ["## Storage (MB)", "", "Bytes of the saved safetensors artifact that was evaluated (10⁶ bytes).", ""]
    rows = [[board.label(k)] + [_mean([r["storage_bytes"] / 1e6 for r in board.select(k, i)], ".3f") for i in ipcs]
            for k in board.rows]
    out += _table(["distiller"] + [f"IPC {i}" for i in ipcs], rows) + [""]

    out += ["## Cost", "",
            "Mean per cell: distillation seconds and peak extra memory (MiB); evaluation seconds and "
            f"peak extra memory per student ({p.protocol_student}). Machine-dependent.", ""]
    rows = []
    for k in board.rows:
        for i in ipcs:
            recs = board.select(k, i)
            rows.append([board.label(k), "all" if k[0] == "full" else str(i),
                         _mean([r["costs"]["distill_seconds"] for r in recs], ".1f"),
                         _mean([r["costs"]["distill_peak_mib"] for r in recs], ".0f"),
                         _mean([r["costs"]["eval_seconds"] for r in recs], ".1f"),
                         _mean([r["costs"]["eval_peak_mib"] for r in recs], ".0f")])
            if k[0] == "full":
                break
    out += _table(["distiller", "IPC", "distill s", "distill MiB", "eval s", "eval MiB"], rows) + [""]

    if board.failed:
        out += ["## Failed", ""]
        for r in sorted(board.failed, key=lambda r: (r["distiller"]["name"], str(r["ipc"]), r["seed"], r["student"])):
            err = r.get("error") or {}
            out.append(f"- {md_escape(r['distiller']['name'])} IPC {r['ipc']} seed {r['seed']} "
                       f"{md_escape(r['student'])}: {md_escape(err.get('type', '?'))}: "
                       f"{md_escape(str(err.get('message', ''))[:200])}")
        out.append("")
    out += [f"![{metric} accuracy against storage]({plot_name})", ""]
    return "\n".join(out)


def render_plot(board: DatasetBoard, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for k in board.rows:
        xs, ys, ipcs = [], [], []
        for i in board.protocol.ipcs:
            recs = board.select(k, i)
            if recs:
                xs.append(statistics.fmean(r["storage_bytes"] / 1e6 for r in recs))
                ys.append(statistics.fmean(board.metric(recs)))
                ipcs.append(i)
            if k[0] == "full":
                break
        if xs:
            ax.plot(xs, ys, marker="o", label=board.label(k).replace("\\", ""))
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels would overlap
    ax.set_xlabel("storage (MB, log scale)")
    ax.set_ylabel(f"{board.spec.metric} accuracy (%)")
    ax.set_title(f"{board.spec.name}: accuracy vs storage ({board.protocol.protocol_student})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def boards(records: Iterable[dict[str, Any]]) -> tuple[list[DatasetBoard], int]:
    """Group records by the current protocols' ids; return the boards and how many were ignored."""
    by_cell: dict[tuple[str, str], list] = defaultdict(list)
    current = {(p.protocol_id, d.name): p for p in all_protocols().values() for d in p.datasets}
    ignored = 0
    for r in records:
        key = (r["protocol_id"], r["dataset"])
        if key in current:
            by_cell[key].append(r)
        else:
            ignored += 1
    out = [DatasetBoard(current[k], k[1], recs) for k, recs in sorted(by_cell.items(), key=lambda kv: kv[0][1])]
    return out, ignored


def render(records: Iterable[dict[str, Any]], records_dir: str) -> dict[str, str]:
    """``{board name: markdown}`` for every dataset that has records under a current protocol."""
    found, ignored = boards(records)
    return {b.name: render_markdown(b, records_dir, ignored, f"{b.name}.png") for b in found}


def write(records: list[dict[str, Any]], records_dir: str, out_dir: Path) -> list[Path]:
    found, ignored = boards(records)
    written = []
    for b in found:
        md = out_dir / f"{b.name}.md"
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(render_markdown(b, records_dir, ignored, f"{b.name}.png"))
        render_plot(b, out_dir / f"{b.name}.png")
        written.append(md)
    return written


def stale(records: list[dict[str, Any]], records_dir: str, out_dir: Path) -> list[str]:
    """Files in ``out_dir`` that differ from what the records render to (for ``--check``)."""
    problems = []
    for name, text in render(records, records_dir).items():
        path = out_dir / f"{name}.md"
        if not path.exists():
            problems.append(f"{path} is missing")
        elif path.read_text() != text:
            problems.append(f"{path} is stale")
        if not (out_dir / f"{name}.png").exists():
            problems.append(f"{out_dir / (name + '.png')} is missing")
    return problems
