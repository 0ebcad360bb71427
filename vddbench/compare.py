"""Two sets of records of the same cells, side by side: what a reviewer who reruns a table checks.

Records are matched on everything that names a result (protocol id, dataset, distiller, cell key,
IPC, seed, student, scoring). A pair is **identical** when the artifact's sha256 and every metric
agree. Same protocol, seed and CPU instruction set give identical records; another instruction set
(``environment.cpu_capability``, e.g. AVX2 against AVX-512) rounds differently, and then what
matters is whether the *difference* is within noise: each row (distiller, IPC, student, scoring)
shows the paired difference ``B - A`` on the board's metric, mean ± 95% CI over the seeds both
have, marked when the interval excludes zero.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .results import Record
from .stats import paired_difference

Key = tuple  # (protocol id, dataset, distiller, cell key, ipc, seed, student, scoring)


def record_key(r: Record) -> Key:
    return r.protocol_id, r.dataset, r.distiller.name, r.cell_key, r.ipc, r.seed, r.student, r.scoring


def _identical(a: Record, b: Record) -> bool:
    return a.artifact_sha256 == b.artifact_sha256 and a.metrics == b.metrics


@dataclass(frozen=True)
class RowComparison:
    """One board row's records in both sets: how many, how many identical, and ``B - A`` on the
    metric paired by seed: ``(mean, half-width, seeds)``, the half-width NaN with one seed; None
    when no seed has the metric on both sides."""

    protocol_id: str
    dataset: str
    distiller: str
    ipc: int | None
    student: str
    scoring: str
    metric: str
    pairs: int
    identical: int
    same_artifact: int
    difference: tuple[float, float, int] | None
    max_abs: float

    @property
    def significant(self) -> bool:
        """The paired interval excludes zero."""
        d = self.difference
        return d is not None and d[2] >= 2 and abs(d[0]) > d[1]


@dataclass(frozen=True)
class Comparison:
    rows: tuple[RowComparison, ...]
    protocols: tuple[str, ...]  # the protocol ids both sets hold: only their records are compared
    only_a: int  # ok records of A (of those protocols) with no partner in B
    only_b: int
    cpus_a: tuple[str, ...]  # the CPUs and instruction sets the records name ("unknown" when they don't)
    cpus_b: tuple[str, ...]

    @property
    def pairs(self) -> int:
        return sum(r.pairs for r in self.rows)

    @property
    def identical(self) -> int:
        return sum(r.identical for r in self.rows)


def _cpus(records: list[Record]) -> tuple[str, ...]:
    def one(r: Record) -> str:
        env = r.environment or {}
        if env.get("device", "cpu") != "cpu":
            return f"{env.get('device')} ({env.get('gpu', 'unknown GPU')})"
        if "cpu_capability" not in env:
            return "unknown CPU (recorded before vddbench named it)"
        return f"{env.get('cpu', 'unknown CPU')} ({env['cpu_capability']})"

    return tuple(sorted({one(r) for r in records}))


def compare(a: list[Record], b: list[Record]) -> Comparison:
    """Match the ok records of ``a`` and ``b`` of the protocols both hold, row by row."""
    protocols = {r.protocol_id for r in a} & {r.protocol_id for r in b}
    a_by = {record_key(r): r for r in a if r.ok and r.protocol_id in protocols}
    b_by = {record_key(r): r for r in b if r.ok and r.protocol_id in protocols}
    shared = sorted(a_by.keys() & b_by.keys(), key=repr)
    groups: dict[tuple, list[Key]] = defaultdict(list)
    for key in shared:
        protocol_id, dataset, distiller, _, ipc, _, student, scoring = key
        groups[(protocol_id, dataset, distiller, ipc, student, scoring)].append(key)
    rows = []
    def order(item):  # the board's order: distiller, then IPC (the full reference, None, first)
        protocol_id, dataset, distiller, ipc, student, scoring = item[0]
        return protocol_id, dataset, distiller, -1 if ipc is None else ipc, student, scoring

    for (protocol_id, dataset, distiller, ipc, student, scoring), keys in sorted(groups.items(), key=order):
        metric = a_by[keys[0]].metric or "top1"
        values_a = {a_by[k].seed: a_by[k].metrics.get(metric) for k in keys}
        values_b = {b_by[k].seed: b_by[k].metrics.get(metric) for k in keys}
        seeds = [s for s in values_a if values_a[s] is not None and values_b[s] is not None]
        deltas = [values_b[s] - values_a[s] for s in seeds]
        rows.append(RowComparison(
            protocol_id, dataset, distiller, ipc, student, scoring, metric, pairs=len(keys),
            identical=sum(_identical(a_by[k], b_by[k]) for k in keys),
            same_artifact=sum(a_by[k].artifact_sha256 == b_by[k].artifact_sha256 for k in keys),
            difference=paired_difference({s: values_b[s] for s in seeds}, {s: values_a[s] for s in seeds}),
            max_abs=max((abs(d) for d in deltas), default=0.0)))
    return Comparison(tuple(rows), tuple(sorted(protocols)), only_a=len(a_by.keys() - b_by.keys()),
                      only_b=len(b_by.keys() - a_by.keys()), cpus_a=_cpus(list(a_by.values())),
                      cpus_b=_cpus(list(b_by.values())))


def render(c: Comparison, name_a: str, name_b: str, every_row: bool = False) -> str:
    """A summary, the CPUs on each side, and a table of the rows (only those that differ unless
    ``every_row``)."""
    from tabulate import tabulate

    lines = [f"protocol {', '.join(c.protocols) or '(none in common)'}: {c.pairs} records in both: "
             f"{c.identical} identical (artifact sha256 and metrics), {c.pairs - c.identical} not; "
             f"{c.only_a} only in {name_a}, {c.only_b} only in {name_b}"]
    for name, cpus in ((name_a, c.cpus_a), (name_b, c.cpus_b)):
        lines.append(f"{name}: computed on {'; '.join(cpus) or 'nothing'}")
    shown = [r for r in c.rows if every_row or r.identical < r.pairs]
    if shown:
        table = []
        for r in shown:
            if r.difference is None or r.difference[2] < 2:
                diff = "n/a" if r.difference is None else f"{r.difference[0]:+.1f} (one seed)"
            else:
                mark = " *" if r.significant else ""
                diff = f"{r.difference[0]:+.1f} ± {r.difference[1]:.1f}{mark}"
            table.append([r.distiller, "-" if r.ipc is None else r.ipc, r.student, r.scoring,
                          f"{r.identical}/{r.pairs}", f"{r.same_artifact}/{r.pairs}", diff, f"{r.max_abs:.1f}"])
        metric = "/".join(sorted({r.metric for r in shown}))
        lines += ["", tabulate(table, headers=["distiller", "IPC", "student", "scoring", "identical", "same artifact",
                                               f"{name_b} - {name_a}, {metric} (95% CI)", "max |diff|"]),
                  "", "* the paired interval excludes zero: the difference is more than seed-to-seed noise"]
    return "\n".join(lines)
