"""The board model: records -> plain values (rows, cells, confidence intervals, marks), no text markup.

One :class:`Board` per (protocol id, dataset). The protocol it shows comes from the code when the
code defines that id, else from the ``protocol.json`` kept beside the records, else from what the
records themselves hold (``BoardProtocol.source`` says which). A board never mixes protocol ids.
Every number is computed here; the markdown and plot renderers only format and draw.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..results import Record
from ..stats import mean_ci, paired_difference

# The marks a row can carry, in the order they are shown: the record field -> its symbol.
MARKS = {"soft_labels": "†", "eval_augmentation": "‡", "own_eval_recipe": "§"}
FULL, RANDOM = "full", "random"


# -- the protocol a board shows ----------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetView:
    name: str
    metric: str = "top1"
    num_classes: int | None = None  # None: unknown (a board from records only)
    clip: tuple[int, int, int] | None = None  # frames, height, width


@dataclass(frozen=True)
class RecipeView:
    lr: Any
    momentum: Any
    batch_size: Any
    steps: int | None = None
    epochs: int | None = None


@dataclass(frozen=True)
class BoardProtocol:
    name: str | None
    protocol_id: str
    ipcs: tuple[int, ...]
    seeds: tuple[int, ...]
    students: tuple[str, ...]  # the first is the protocol student
    datasets: tuple[DatasetView, ...]
    source: str  # "code", "protocol.json" or "records"
    description: str | None = None
    recipe: RecipeView | None = None
    board_prefix: str = ""

    @property
    def protocol_student(self) -> str:
        return self.students[0]

    def dataset(self, name: str) -> DatasetView | None:
        return next((d for d in self.datasets if d.name == name), None)

    @classmethod
    def from_canonical(cls, body: Mapping[str, Any], protocol_id: str, source: str) -> BoardProtocol:
        """From a protocol's canonical JSON (what its id hashes): the code's, or a kept protocol.json
        of a protocol the code no longer defines. Fields this version does not know are ignored."""
        datasets = tuple(DatasetView(d["name"], d.get("metric", "top1"), d.get("num_classes"),
                                     (d["clip"]["frames"], d["clip"]["height"], d["clip"]["width"])
                                     if isinstance(d.get("clip"), dict) else None)
                         for d in body.get("datasets", ()))
        r = body.get("recipe") or {}
        recipe = RecipeView(r.get("lr"), r.get("momentum"), r.get("batch_size"), r.get("steps"), r.get("epochs"))
        return cls(name=body.get("name"), protocol_id=protocol_id, ipcs=tuple(body.get("ipcs", ())),
                   seeds=tuple(body.get("seeds", ())), students=tuple(body.get("students", ())), datasets=datasets,
                   source=source, description=body.get("description"), recipe=recipe,
                   board_prefix=body.get("board_prefix") or "")

    @classmethod
    def from_records(cls, records: list[Record], protocol_id: str) -> BoardProtocol:
        """What the records of a protocol hold about it, when neither the code nor a protocol.json does."""
        students = sorted({r.student for r in records})
        marked = sorted({r.student for r in records if r.protocol_student})
        students = marked[:1] + [s for s in students if s not in marked[:1]]
        datasets = {}
        for r in records:
            datasets.setdefault(r.dataset, DatasetView(r.dataset, r.metric or "top1"))
        return cls(name=next((r.protocol for r in records if r.protocol), None), protocol_id=protocol_id,
                   ipcs=tuple(sorted({r.ipc for r in records if r.ipc is not None})),
                   seeds=tuple(sorted({r.seed for r in records})), students=tuple(students),
                   datasets=tuple(datasets.values()), source="records")


# -- what the tables hold ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """Mean over seeds with the half-width of its 95% CI (NaN for one seed), and how many seeds."""

    mean: float
    half: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Estimate | None:
        if not values:
            return None
        mean, half = mean_ci(values)
        return cls(mean, half, len(values))


@dataclass(frozen=True)
class Difference:
    """Paired by seed: a row minus ``random``, mean ± 95% CI over the shared seeds (at least two)."""

    mean: float
    half: float
    n: int

    @property
    def direction(self) -> int:
        """+1 / -1 when the interval excludes zero (better / worse than random), else 0."""
        return 1 if self.mean - self.half > 0 else -1 if self.mean + self.half < 0 else 0


@dataclass(frozen=True)
class RowHead:
    """Who a row is: distiller, the hyper-parameters that tell its rows apart, marks, package."""

    distiller: str
    params: dict[str, Any] | None  # shown only when the distiller has several rows on the board
    marks: tuple[str, ...]  # symbols from MARKS
    package: str

    @property
    def variant(self) -> str | None:
        return None if self.params is None else ", ".join(f"{k}={v}" for k, v in self.params.items())

    @property
    def text(self) -> str:
        """The plain-text label (the plot's legend): ``name (k=v, …) † ‡``."""
        return self.distiller + (f" ({self.variant})" if self.params is not None else "") + \
            "".join(f" {m}" for m in self.marks)


@dataclass(frozen=True)
class AccuracyCell:
    estimate: Estimate | None
    vs_random: Difference | None


@dataclass(frozen=True)
class AccuracyRow:
    head: RowHead
    plain: bool  # the ↳ row: the same artifact, hard labels, no augmentation, the protocol's recipe
    cells: tuple[AccuracyCell, ...]  # one per IPC


@dataclass(frozen=True)
class CrossRow:
    head: RowHead
    ipc: int | None  # None: every IPC (the full reference)
    cells: tuple[Estimate | None, ...]  # one per student


@dataclass(frozen=True)
class StorageRow:
    head: RowHead
    megabytes: tuple[float | None, ...]  # one per IPC


@dataclass(frozen=True)
class CostRow:
    head: RowHead
    ipc: int | None
    distill_seconds: float | None
    distill_mib: float | None
    eval_seconds: float | None
    eval_mib: float | None
    inputs: tuple[str, ...] = ()  # kinds of cached input the row's records used (left out of distill_seconds)


@dataclass(frozen=True)
class Failure:
    distiller: str
    ipc: int | None
    seed: int
    student: str
    error_type: str
    message: str  # at most 200 characters


@dataclass(frozen=True)
class CoverageGap:
    split: str
    fraction: float
    usable: Any
    listed: Any


@dataclass(frozen=True)
class Series:
    """One line of the plot: (storage MB, mean accuracy) per IPC with records."""

    head: RowHead
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Board:
    name: str  # the file stem: <prefix><dataset>, plus -<protocol id> when the code does not define it
    protocol: BoardProtocol
    dataset: DatasetView
    accuracy: tuple[AccuracyRow, ...]
    cross: tuple[CrossRow, ...]
    storage: tuple[StorageRow, ...]
    costs: tuple[CostRow, ...]
    failures: tuple[Failure, ...]
    coverage: tuple[CoverageGap, ...]  # splits whose copy held less than all listed videos (worst seen)
    series: tuple[Series, ...]
    marks: frozenset[str] = frozenset()  # the marks any row carries
    other_records: int = 0  # records of protocol ids the code does not define, not on this board
    other_boards: tuple[str, ...] = field(default=())  # the boards those records are on


# -- building ------------------------------------------------------------------------------------------
class _Grouped:
    """The records of one board, grouped for the tables."""

    def __init__(self, protocol: BoardProtocol, dataset: DatasetView, records: list[Record]):
        self.protocol, self.dataset = protocol, dataset
        self.ok = [r for r in records if r.ok]
        self.failed = [r for r in records if not r.ok]
        self.rows = sorted({r.row_key for r in records}, key=lambda k: (k[0] != FULL, k))
        self.random = next((k for k in self.rows if k[0] == RANDOM), None)

    def select(self, key, ipc, student=None, scoring: str = "own") -> list[Record]:
        student = student or self.protocol.protocol_student
        return [r for r in self.ok if r.row_key == key and r.student == student
                and (r.ipc == ipc or r.ipc is None) and r.scoring == scoring]

    def values(self, records: list[Record]) -> list[float]:
        return [r.metrics[self.dataset.metric] for r in records]

    def by_seed(self, records: list[Record]) -> dict[int, float]:
        return {r.seed: r.metrics[self.dataset.metric] for r in records}

    def vs_random(self, key, ipc, scoring: str) -> Difference | None:
        if self.random is None or key == self.random:
            return None
        diff = paired_difference(self.by_seed(self.select(key, ipc, scoring=scoring)),
                                 self.by_seed(self.select(self.random, ipc)))
        return Difference(*diff) if diff is not None and diff[2] >= 2 else None

    def has_plain(self, key) -> bool:
        return any(r.row_key == key and r.scoring == "plain" for r in self.ok)

    def head(self, key) -> RowHead:
        name, params = key
        sample = next((r for r in self.ok if r.row_key == key and r.scoring == "own"), None)
        marks = tuple(symbol for flag, symbol in MARKS.items() if sample is not None and getattr(sample, flag))
        first = next(r for r in self.ok + self.failed if r.row_key == key)
        return RowHead(name, self.telling_apart(key), marks,
                       f"{first.distiller.distribution} {first.distiller.version}")

    def telling_apart(self, key) -> dict[str, Any] | None:
        """The row's hyper-parameters whose values differ between the distiller's rows; None when
        the distiller has one row."""
        name, params = key
        siblings = [json.loads(k[1]) for k in self.rows if k[0] == name]
        if len(siblings) < 2:
            return None
        mine = json.loads(params)
        names = sorted({p for sibling in siblings for p in sibling})
        return {p: mine.get(p) for p in names if len({json.dumps(s.get(p)) for s in siblings}) > 1}

    def ipcs_of(self, key) -> tuple[int, ...]:
        """The IPC columns a row has: all of them, or the first only for ``full`` (the same set)."""
        return self.protocol.ipcs[:1] if key[0] == FULL else self.protocol.ipcs


def _input_kinds(cached_inputs) -> list[str]:
    """The kinds a record's ``cached_inputs`` names: a list of ``{"kind": ...}`` (today's records) or a
    mapping keyed by kind (older ones)."""
    if isinstance(cached_inputs, dict):
        return list(cached_inputs)
    return [str(entry.get("kind")) for entry in cached_inputs or [] if isinstance(entry, dict)]


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _coverage(records: list[Record]) -> tuple[CoverageGap, ...]:
    worst: dict[str, dict[str, Any]] = {}
    for r in records:
        for split, c in (r.data_coverage or {}).items():
            lowest = worst.get(split, {"fraction": 2})["fraction"]
            if isinstance(c, dict) and "fraction" in c and c["fraction"] < lowest:
                worst[split] = c
    return tuple(CoverageGap(split, c["fraction"], c.get("usable"), c.get("listed"))
                 for split, c in sorted(worst.items()) if c["fraction"] < 1)


def build_board(name: str, protocol: BoardProtocol, dataset: DatasetView, records: list[Record],
                other_records: int = 0, other_boards: tuple[str, ...] = ()) -> Board:
    g = _Grouped(protocol, dataset, records)
    heads = {k: g.head(k) for k in g.rows}
    ipcs = protocol.ipcs
    accuracy = []
    for k in g.rows:
        for plain in (False, True) if g.has_plain(k) else (False,):
            scoring = "plain" if plain else "own"
            accuracy.append(AccuracyRow(heads[k], plain, tuple(
                AccuracyCell(Estimate.of(g.values(g.select(k, i, scoring=scoring))), g.vs_random(k, i, scoring))
                for i in ipcs)))
    cross = []
    for k in g.rows:
        for i in g.ipcs_of(k):
            cells = tuple(Estimate.of(g.values(g.select(k, i, s))) for s in protocol.students)
            if any(cells) or k[0] != FULL:
                cross.append(CrossRow(heads[k], None if k[0] == FULL else i, cells))
    storage = [StorageRow(heads[k], tuple(_mean([r.storage_bytes / 1e6 for r in g.select(k, i)]) for i in ipcs))
               for k in g.rows]
    costs = []
    for k in g.rows:
        for i in g.ipcs_of(k):
            recs = g.select(k, i)

            def cost(key: str, recs=recs) -> float | None:
                return _mean([r.costs[key] for r in recs if key in r.costs])

            costs.append(CostRow(heads[k], None if k[0] == FULL else i, cost("distill_seconds"),
                                 cost("distill_peak_mib"), cost("eval_seconds"), cost("eval_peak_mib"),
                                 tuple(sorted({kind for r in recs for kind in _input_kinds(r.cached_inputs)}))))
    failures = tuple(Failure(r.distiller.name, r.ipc, r.seed, r.student, str((r.error or {}).get("type", "?")),
                             str((r.error or {}).get("message", ""))[:200])
                     for r in sorted(g.failed, key=lambda r: (r.distiller.name, str(r.ipc), r.seed, r.student)))
    series = []
    for k in g.rows:
        points = tuple((statistics.fmean(r.storage_bytes / 1e6 for r in recs), statistics.fmean(g.values(recs)))
                       for recs in (g.select(k, i) for i in g.ipcs_of(k)) if recs)
        if points:
            series.append(Series(heads[k], points))
    return Board(name=name, protocol=protocol, dataset=dataset, accuracy=tuple(accuracy), cross=tuple(cross),
                 storage=tuple(storage), costs=tuple(costs), failures=failures,
                 coverage=_coverage(g.ok + g.failed), series=tuple(series),
                 marks=frozenset(m for h in heads.values() for m in h.marks),
                 other_records=other_records, other_boards=tuple(other_boards))


def as_record(record: Record | dict[str, Any]) -> Record:
    return record if isinstance(record, Record) else Record.from_json(record)


def current_protocols() -> dict[str, Any]:
    """``{protocol id: Protocol}`` for every protocol this code defines (the registry's)."""
    from ..protocol import all_protocols

    return {p.protocol_id: p for p in all_protocols().values()}


def build_boards(records: Iterable[Record | dict[str, Any]],
                 protocols: Mapping[str, Mapping[str, Any]] | None = None) -> list[Board]:
    """A board per (protocol id, dataset) of the records. ``protocols``: the canonical JSON kept for
    ids the code may no longer define (``ResultStore.protocols()``)."""
    records = [as_record(r) for r in records]
    current = current_protocols()
    by_id: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_id[r.protocol_id].append(r)
    views: dict[str, BoardProtocol] = {}
    for protocol_id, recs in by_id.items():
        if protocol_id in current:
            body = json.loads(current[protocol_id].canonical_json())
            views[protocol_id] = BoardProtocol.from_canonical(body, protocol_id, "code")
        elif protocols and protocol_id in protocols:
            views[protocol_id] = BoardProtocol.from_canonical(protocols[protocol_id], protocol_id, "protocol.json")
        else:
            views[protocol_id] = BoardProtocol.from_records(recs, protocol_id)
    by_cell: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        if views[r.protocol_id].dataset(r.dataset) is not None:  # else: a dataset its protocol does not have
            by_cell[(r.protocol_id, r.dataset)].append(r)

    def board_name(protocol_id: str, dataset: str) -> str:
        view = views[protocol_id]
        return f"{view.board_prefix}{dataset}" + ("" if view.source == "code" else f"-{protocol_id}")

    # Records not on a board of a protocol the code defines (as the board of the code's protocol says).
    elsewhere = [r for r in records if r.protocol_id not in current or (r.protocol_id, r.dataset) not in by_cell]
    out = []
    order = sorted(by_cell, key=lambda k: (k[1], views[k[0]].source != "code", k[0]))
    for protocol_id, dataset in order:
        others = [r for r in elsewhere if r.protocol_id != protocol_id]
        names = sorted({board_name(r.protocol_id, r.dataset) for r in others if (r.protocol_id, r.dataset) in by_cell})
        view = views[protocol_id]
        out.append(build_board(board_name(protocol_id, dataset), view, view.dataset(dataset),
                               by_cell[(protocol_id, dataset)], len(others), tuple(names)))
    return out
