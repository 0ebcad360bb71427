"""Choose a distiller's embedded budget and hyper-parameters on a validation split, never the test split.

Carves 20 clips per class from the embedded training split (``vddbench.data.validation.carve``),
distils on the rest with the given hyper-parameters, trains the protocol student on the result with
the protocol's recipe and scores it on the validation clips, paired with ``random`` on the same
seeds. If the distiller's ``distill`` accepts ``trace=`` (a list it appends its loss to), prints the
loss trace's shape, the relative change over its last 10% of iterations (the convergence criterion
the plugin READMEs state) and the fitted slope of its second half with a 95% CI (``tail_slope``).

    python benchmarks/tune_distiller.py dm '{"iterations": 200, "lr_img": 100}' --ipc 1 --seeds 0 1 2
    python benchmarks/tune_distiller.py dm '{}' --ipc 1 --seeds 0 --size 24 --kernel 7  # the earlier 7x7, 24-px student
    python benchmarks/tune_distiller.py vdsd '{}' --against '{"ipc1_iterations": 25}' --ipc 1 --seeds 0 1 2 3 4 5 6 7

``--against JSON`` scores a second configuration on the same seeds, carve and cached inputs and prints
the difference paired by seed (a longer budget against the default, say): what a budget buys.
``--moved`` prints how far each configuration's clips moved from ``random``'s clips for the seed, where
real-initialised distillers start (RMS difference from the nearest of those clips, over their RMS).

Soft-label (†), evaluation-augmenting (‡) and own-recipe (§) distillers are scored *plain* (hard
labels, no augmentation, the protocol's recipe). With ``--own`` they are also scored the way the
harness scores them ("own": the expanded set's labels, soft where it has them, the distiller's
``augment_batch`` and ``evaluation_recipe``), each score paired with ``random``. Cached inputs
(teacher, expert trajectories) are built from the training split minus the validation clips.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import statistics
import time
from contextlib import contextmanager
from typing import NamedTuple

import torch
from embedded_recipe import candidate  # this folder

import vddbench
from vddbench.cell import make_task
from vddbench.data.moving_shapes import MovingShapes
from vddbench.data.validation import carve
from vddbench.evaluate import score, train_student
from vddbench.inputs import BuildContext, MemoryInputs
from vddbench.plugins import get_registry
from vddbench.protocols import EMBEDDED
from vddbench.seeding import stable_seed
from vddbench.stats import mean_ci, paired_difference, t_quantile
from vddbench.students import build_student

VALIDATION_PER_CLASS = 20


def tenths(trace: list[float]) -> list[float]:
    """The trace's mean over each tenth of the run (ten near-equal parts, e.g. 15 iterations: 1-2 each)."""
    n = len(trace)
    if n < 10:
        return list(trace)
    bounds = [round(i * n / 10) for i in range(11)]
    return [statistics.fmean(trace[a:b]) for a, b in zip(bounds, bounds[1:])]


def trace_summary(trace: list[float]) -> str:
    """The trace by tenths (``tenths``), its first -> last and last-vs-previous tenth, ``tail_slope`` and
    ``scaled_slope``."""
    if len(trace) < 10:
        return f"trace {['%.4g' % v for v in trace]}"
    points = tenths(trace)
    head, before_tail, tail = points[0], points[-2], points[-1]
    slope, half_width = tail_slope(trace)
    return (f"loss by tenths {' '.join('%.4g' % p for p in points)}; "
            f"first->last tenth {100 * (tail - head) / abs(head):+.1f}%, "
            f"last tenth vs the one before {100 * (tail - before_tail) / abs(before_tail):+.2f}%, "
            f"second-half slope per tenth {slope:+.2f}% ± {half_width:.2f}% of its level, "
            f"{scaled_slope(trace):+.2f}% of level + travel")


def tail_slope(trace: list[float]) -> tuple[float, float]:
    """The least-squares slope of the trace's second half, as the change over a tenth of the run in %
    of that half's mean, with the half-width of its 95% CI. Single iterations are noisy (a fresh
    network, a fresh real batch), so this tells "still falling" from noise where comparing two
    tenths cannot: flat when the whole interval lies within the stated bound."""
    half = trace[len(trace) // 2:]
    m = len(half)
    if m < 3:
        return math.nan, math.nan
    x_mean, y_mean = (m - 1) / 2, statistics.fmean(half)
    sxx = sum((x - x_mean) ** 2 for x in range(m))
    slope = sum((x - x_mean) * (y - y_mean) for x, y in enumerate(half)) / sxx
    residual = sum((y - y_mean - slope * (x - x_mean)) ** 2 for x, y in enumerate(half)) / (m - 2)
    per_tenth = 100 * (len(trace) / 10) / abs(y_mean)
    return slope * per_tenth, t_quantile(m - 2) * math.sqrt(residual / sxx) * per_tenth


def scaled_slope(trace: list[float]) -> float:
    """``tail_slope``'s slope per tenth in % of ``|level| + travel`` instead of ``|level|``: level is
    the second half's mean, travel ``|first tenth - level|``, how far the run moved the objective.
    The scale of ``convergence.py``'s criterion: the level alone cannot judge an objective heading to
    zero or through it."""
    level = statistics.fmean(trace[len(trace) // 2:])
    return tail_slope(trace)[0] * abs(level) / (abs(level) + abs(tenths(trace)[0] - level))


def validation_carve(spec=EMBEDDED.datasets[0]):
    """``spec``'s training split carved as every script here carves it: ``(rest, validation clips)``,
    ``VALIDATION_PER_CLASS`` clips per class held out; the test split is never read."""
    return carve(MovingShapes().load(spec, "train"), VALIDATION_PER_CLASS)


def seed_tasks(spec, rest, seed: int):
    """A task factory for ``seed`` on the carved ``rest``: ``tasks(ipc, on_input=None)``. Its cached
    inputs (teacher, expert trajectories) are built once from ``rest``, as a run builds them from the
    training split (the validation clips never reach them), and shared by every task it makes."""
    inputs = MemoryInputs(BuildContext(EMBEDDED, spec, seed, torch.device("cpu"), lambda: rest))
    return lambda ipc, on_input=None: make_task(EMBEDDED, spec, rest, ipc, seed, torch.device("cpu"), inputs,
                                                on_input)


def tasks_by_seed(seeds):
    """``(seed, ipc -> task)`` for each seed, on the embedded training split less the validation
    clips, one torch thread: the setup of every script here that distils without scoring."""
    torch.set_num_threads(1)
    spec = EMBEDDED.datasets[0]
    rest, _ = validation_carve(spec)
    for seed in seeds:
        yield seed, seed_tasks(spec, rest, seed)


def embedded_params(cls, overrides: dict) -> dict:
    """A distiller's hyper-parameters on the embedded protocol: its ``embedded`` defaults, then ``overrides``."""
    return {**cls.defaults_for("embedded"), **overrides}


@contextmanager
def seeded_as_a_run(seed: int):
    """Torch's global generator seeded as a run seeds it for ``seed`` (dropout and other global draws)
    inside the block, the caller's generator state restored after it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def seeded_distill(distiller, task, seed: int, **kwargs):
    """``distiller.distill(task, **kwargs)`` under ``seeded_as_a_run(seed)``."""
    with seeded_as_a_run(seed):
        return distiller.distill(task, **kwargs)


_ABSENT = object()


@contextmanager
def recording_calls(owner, name: str, keep=lambda out: out):
    """Inside the block, every call of ``owner.name`` (a module's function, a class's method, or one
    object's method, that a distiller calls through ``owner``) also appends ``keep(its result)`` to the
    list the block receives; nothing else changes, and ``owner`` is as it was after the block."""
    original, stored, calls = getattr(owner, name), vars(owner).get(name, _ABSENT), []

    def recorded(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append(keep(out))
        return out

    setattr(owner, name, recorded)
    try:
        yield calls
    finally:
        if stored is _ABSENT:  # an object's method lives on its class: drop the wrapper
            delattr(owner, name)
        else:
            setattr(owner, name, stored)


def trained_student(data, seed: int, spec, augment=None, recipe=None) -> torch.nn.Module:
    """The protocol student trained on ``data`` as the harness trains it for ``seed``."""
    student_seed = stable_seed("student", seed, EMBEDDED.protocol_student)
    model = build_student(EMBEDDED.protocol_student, spec.num_classes, spec.clip, student_seed)
    return train_student(model, data, recipe or EMBEDDED.recipe, student_seed, augment)


def evaluate(data, val, seed: int, spec, augment=None, recipe=None) -> float:
    return score(trained_student(data, seed, spec, augment, recipe), val)["top1"]


class ConfigRun(NamedTuple):
    """One configuration on one seed. Plain: hard labels, no augmentation, the protocol's recipe;
    own: as the harness scores it (None unless asked for)."""
    plain: float
    own: float | None
    seconds: float
    trace: list[float]
    videos: torch.Tensor  # the expanded set's clips


def run_config(cls, params: dict, tasks, ipc: int, seed: int, spec, val, own: bool) -> ConfigRun:
    distiller = cls(**params)
    trace: list[float] = []
    kwargs = {"trace": trace} if "trace" in inspect.signature(distiller.distill).parameters else {}
    t = time.perf_counter()
    artifact = seeded_distill(distiller, tasks(ipc), seed, **kwargs)
    seconds = time.perf_counter() - t
    data = distiller.expand(artifact)
    plain = evaluate(vddbench.DistilledVideos(data.videos, data.hard_labels()), val, seed, spec)
    if not own:
        return ConfigRun(plain, None, seconds, trace, data.videos)
    augment = ((lambda x, y, g: distiller.augment_batch(x, y, g, spec.num_classes))
               if distiller.tags.eval_augmentation else None)
    recipe = distiller.evaluation_recipe(artifact, EMBEDDED.recipe) if distiller.tags.own_eval_recipe else None
    return ConfigRun(plain, evaluate(data, val, seed, spec, augment, recipe), seconds, trace, data.videos)


def moved_from(videos: torch.Tensor, start: torch.Tensor) -> str:
    """How far ``videos`` moved from ``start`` (``random``'s clips, where real-initialised distillers
    begin): the RMS difference of each clip from its nearest clip in ``start`` (distillers order their
    clips differently), over the RMS of ``start``, in %."""
    if videos.shape[1:] != start.shape[1:]:
        return "moved: n/a (clips of another shape than random's)"
    nearest = torch.cdist(videos.flatten(1).double(), start.flatten(1).double()).min(1).values
    rms_change = nearest.pow(2).mean().div(start[0].numel()).sqrt()
    return f"moved {100 * (rms_change / start.double().pow(2).mean().sqrt()).item():.0f}%"


def paired_lines(label: str, ours: dict, base: dict) -> list[str]:
    """``label: difference ± CI (n)`` of two per-seed score dicts, paired by seed."""
    d = paired_difference(ours, base)
    return [f"  {label}: {d[0]:+.1f} ± {d[1]:.1f} (n={d[2]})"] if d else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("distiller")
    ap.add_argument("params", nargs="?", default="{}", help="JSON hyper-parameters over the embedded defaults")
    ap.add_argument("--ipc", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--no-random", action="store_true", help="skip the paired random baseline")
    ap.add_argument("--against", metavar="JSON",
                    help="a second configuration (hyper-parameters over the embedded defaults; '{}' for the "
                         "defaults) scored on the same seeds and cached inputs, and the paired difference printed")
    ap.add_argument("--own", action="store_true",
                    help="also score the method's own evaluation (its soft labels and augment_batch), "
                         "as the harness does")
    ap.add_argument("--moved", action="store_true",
                    help="print how far each configuration's clips moved from random's clips for the seed "
                         "(RMS difference from the nearest of random's clips over their RMS; where real-initialised "
                         "distillers start)")
    ap.add_argument("--size", type=int, default=None,
                    help="another protocol student: clips of SIZE px (as benchmarks/embedded_recipe.py)")
    ap.add_argument("--kernel", type=int, default=None,
                    help="another protocol student: ConvNet3D kernels (3, KERNEL, KERNEL)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec = candidate(EMBEDDED.datasets[0], args.size, args.kernel)
    rest, val = validation_carve(spec)
    registry = get_registry().distillers
    cls = registry[args.distiller].obj
    params = embedded_params(cls, json.loads(args.params))
    other = embedded_params(cls, json.loads(args.against)) if args.against is not None else None
    if cls(**params).tags.decoupled:  # an instance may set its own tags
        print(f"  note: {args.distiller} scored plain here (hard labels, no augmentation, the protocol's recipe)"
              + ("; 'own' is its own evaluation" if args.own else ""))
    ours, own, base, ours_b, own_b = {}, {}, {}, {}, {}

    for seed in args.seeds:
        tasks = seed_tasks(spec, rest, seed)
        if args.moved or not args.no_random:
            rnd = registry["random"].obj()
            random_clips = rnd.expand(rnd.distill(tasks(args.ipc)))
        run = run_config(cls, params, tasks, args.ipc, seed, spec, val, args.own)
        ours[seed] = run.plain
        line = f"seed {seed}: {args.distiller} {run.plain:.1f} ({run.seconds:.1f} s distil)"
        if run.own is not None:
            own[seed] = run.own
            line += f", own {run.own:.1f}"
        if args.moved:
            line += f", {moved_from(run.videos, random_clips.videos)}"
        if other is not None:
            against = run_config(cls, other, tasks, args.ipc, seed, spec, val, args.own)
            ours_b[seed] = against.plain
            line += f", against {against.plain:.1f}" + (f" (own {against.own:.1f})" if against.own is not None else "")
            if against.own is not None:
                own_b[seed] = against.own
            if args.moved:
                line += f" ({moved_from(against.videos, random_clips.videos)})"
        if not args.no_random:
            base[seed] = evaluate(random_clips, val, seed, spec)
            line += f", random {base[seed]:.1f}"
        print(line)
        if run.trace:
            print("  " + trace_summary(run.trace))
    m, h = mean_ci(list(ours.values()))
    print(f"{args.distiller} {json.dumps(params, sort_keys=True)} IPC {args.ipc}: validation {m:.1f} ± {h:.1f}")
    lines = paired_lines("vs random (paired)", ours, base)
    if ours_b:
        m, h = mean_ci(list(ours_b.values()))
        lines += [f"  against {json.dumps(other, sort_keys=True)}: validation {m:.1f} ± {h:.1f}"]
        lines += paired_lines("minus the configuration against (paired)", ours, ours_b)
    if own:
        m, h = mean_ci(list(own.values()))
        lines += [f"  own evaluation (labels and augmentation as the harness): validation {m:.1f} ± {h:.1f}"]
        lines += paired_lines("own vs random (paired)", own, base)
        lines += paired_lines("own minus the configuration against's own (paired)", own, own_b)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
