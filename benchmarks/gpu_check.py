"""The GPU check: the smoke grid and MiniUCF-shaped cells, run twice on the GPU, must agree.

The two runs must give identical metrics and artifact sha256; the check also prints clips per
second and peak memory.

Run from the repository root on a machine with a CUDA GPU, with ``.venv`` holding a CUDA build
of torch and the plugins (``make install`` with the CUDA wheel index). Sized to take about 5
minutes on one H200 with 16 CPU cores (an estimate: it has not run on a GPU yet; if it runs long,
``--epochs 100`` or ``--skip costs`` cut it, and the report says what was cut):

    benchmarks/gpu_check.sh [REPORT]        # REPORT: a file; default $OUT/gpu_check.md, else ./gpu_check.md

What runs (each part twice, into two fresh results directories; clip caches in a temporary folder):

1. **smoke grid**: ``vddbench run --protocol smoke --device cuda`` with every installed distiller
   (``--distillers`` to choose), as a user runs it (console command, local executor, --workers 4).
2. **MiniUCF-shaped cells**: real .avi files written in the UCF101 layout (``UCF-101/`` +
   ``ucfTrainTestlist/``) for the first ``--classes`` MiniUCF classes, ``--train`` training and
   ``--test`` test videos per class, decoded through the real miniucf pipeline into the clip cache
   (16x112x112 clips), then ``random`` and ``herding`` at IPC 1 and ``full``, evaluated on ConvNet3D
   with the published recipe (SGD lr 0.01, momentum 0.9, weight decay 5e-4, 500 epochs, lr x0.1 at
   half-way, batch 256). Cut from the real protocol: 50 classes -> ``--classes``, 4,662 / 1,861
   videos -> ``--train`` / ``--test`` per class, 11 students -> ConvNet3D, IPC 1, 5, 10 -> 1, seeds
   0, 1, 2 -> 0. The recipe is the published one unless ``--epochs`` cuts it (then the report says so).
3. **throughput**: one shuffled epoch of a generated MiniUCF-shaped cache (``--loader-clips``) through
   the loader to the GPU, against ConvNet3D training on the same split streamed (batch 256) and on
   the same clips already on the GPU (a hand-written loop): loading should not bound training.
4. **costs**: per-clip training and scoring time and peak GPU memory of the real protocols' 11
   students at both clip sizes (``benchmarks/cost_benchmark.py``), and the device-hours they imply
   (the GPU column of docs/cost.md).

Checks (exit 1 if any fails; 2 if there is no GPU): every record ok, the two runs' records have the
same keys, metrics and artifact sha256, and the records carry the deterministic settings. The
report lists the ops that warned they have no deterministic implementation.

CPU rehearsal with tiny sizes (what the tests of this script run; ~3 minutes on 2 busy cores):

    .venv/bin/python benchmarks/gpu_check.py --cpu --tiny --report /tmp/gpu_check.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _key(record: dict) -> tuple:
    return (record["dataset"], record["distiller"]["name"], record["ipc"], record["seed"], record["student"],
            record.get("scoring", "own"))


def compare(a: Path, b: Path) -> tuple[list[dict], list[str]]:
    """The records of run ``a``, and what differs between runs ``a`` and ``b`` (or is not ok)."""
    from vddbench.results import ResultStore

    ra = {_key(r): r for r in ResultStore(a).records()}
    rb = {_key(r): r for r in ResultStore(b).records()}
    problems = []
    if set(ra) != set(rb):
        problems.append(f"the runs wrote different records: {sorted(set(ra) ^ set(rb))}")
    for key in sorted(set(ra) & set(rb), key=str):
        x, y = ra[key], rb[key]
        for r in (x, y):
            if r["status"] != "ok":
                problems.append(f"{key}: {r['status']}: {r['error']['type']}: {r['error']['message']}")
        for field in ("metrics", "artifact_sha256", "storage_bytes"):
            if x.get(field) != y.get(field):
                problems.append(f"{key}: {field} differs: {x.get(field)} vs {y.get(field)}")
        if "determinism" not in x:
            problems.append(f"{key}: the record carries no deterministic settings")
    return list(ra.values()), problems


def trained_clips(recipe, n: int) -> int:
    """Clips a student processes while training on ``n`` clips with ``recipe``."""
    from vddbench.evaluate import schedule

    total, _ = schedule(recipe, n)
    sizes = [min(recipe.batch_size, n - s) for s in range(0, n, recipe.batch_size)]
    passes, rest = divmod(total, len(sizes))
    return passes * n + sum(sizes[:rest])


def peak(records: list[dict], key: str) -> float | None:
    values = [r["costs"].get(f"distill_{key}") for r in records] + [r["costs"].get(f"eval_{key}") for r in records]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def smoke_grid(args, device: str, tmp: Path, lines: list[str], failures: list[str]) -> None:
    runs = []
    for run in ("a", "b"):
        cmd = [sys.executable, "-m", "vddbench.cli", "run", "--protocol", "smoke", "--device", device,
               "--results", str(tmp / f"smoke-{run}"), "--workers", str(args.workers)]
        if args.distillers:
            cmd += ["--distiller", args.distillers]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ})
        runs.append(time.perf_counter() - start)
        if proc.returncode != 0:
            failures.append(f"smoke grid run {run} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
            lines.append(f"| smoke grid | FAIL | run {run} exited {proc.returncode} |")
            return
    records, problems = compare(tmp / "smoke-a", tmp / "smoke-b")
    failures.extend(f"smoke grid: {p}" for p in problems)
    gpu = peak(records, "gpu_peak_mib")
    distillers = sorted({r["distiller"]["name"] for r in records})
    lines.append(f"| smoke grid, twice: identical metrics and artifact sha256 | {'PASS' if not problems else 'FAIL'} | "
                 f"{len(records)} records ({len(distillers)} distillers: {', '.join(distillers)}); "
                 f"{runs[0]:.0f} s and {runs[1]:.0f} s with {args.workers} worker(s); peak GPU memory per phase "
                 f"{_mib(gpu)}, host {_mib(peak(records, 'peak_mib'))} |")
    _ops(records, lines)


def miniucf_cells(args, device: str, tmp: Path, lines: list[str], failures: list[str], notes: list[str]) -> None:
    from vddbench.data.ucf101 import MINIUCF_CLASSES
    from vddbench.protocol import PROTOCOLS, ClipSpec, EvalRecipe, Protocol
    from vddbench.protocols import MINIUCF
    from vddbench.runner import plan, run_cell
    from vddbench.testing import datasets as fixtures

    classes = tuple(MINIUCF_CLASSES[: args.classes])
    root = fixtures.make_ucf101(tmp / "ucf101", classes, train=args.train, test=args.test, other_classes=(),
                                frames=args.frames)
    options = dict(MINIUCF.options, classes=classes)
    clip = MINIUCF.clip
    if args.tiny:
        options["resize"], clip = (40, 32), ClipSpec(8, 32, 32)
    spec = dataclasses.replace(MINIUCF, num_classes=len(classes), clip=clip, options=tuple(options.items()))
    recipe = EvalRecipe() if args.epochs is None else EvalRecipe(epochs=args.epochs)
    if recipe != EvalRecipe():
        notes.append(f"MiniUCF-shaped cells trained {recipe.epochs} epochs, not the published 500.")
    protocol = Protocol(name="gpu-check-miniucf", description="MiniUCF-shaped cells of the GPU check",
                        datasets=(spec,), ipcs=(1,), seeds=(0,), students=("convnet3d",), recipe=recipe)
    PROTOCOLS[protocol.name] = protocol
    cells = plan(protocol, ["random", "herding", "full"], data_root=str(root), device=device)
    seconds = []
    for run in ("a", "b"):
        start = time.perf_counter()
        for cell in cells:
            run_cell(cell, str(tmp / f"miniucf-{run}"))
        seconds.append(time.perf_counter() - start)
    records, problems = compare(tmp / "miniucf-a", tmp / "miniucf-b")
    failures.extend(f"MiniUCF-shaped cells: {p}" for p in problems)
    n_train = len(classes) * args.train
    lines.append(f"| MiniUCF-shaped cells (random, herding IPC 1; full), twice: identical metrics and sha256 | "
                 f"{'PASS' if not problems else 'FAIL'} | {len(classes)} classes x {args.train} train / {args.test} "
                 f"test videos, clips {'x'.join(map(str, clip.shape[1:]))}, {recipe.epochs} epochs; "
                 f"{seconds[0]:.0f} s and {seconds[1]:.0f} s (the first decodes the cache) |")
    for r in sorted(records, key=lambda r: r["distiller"]["name"]):
        n = r["num_videos"]
        rate = trained_clips(recipe, n) / r["costs"]["eval_seconds"]
        lines.append(f"|   {r['distiller']['name']} ({n} clips) | top-1 {r['metrics']['top1']:.1f} | train + score "
                     f"{r['costs']['eval_seconds']:.1f} s = {rate:.0f} clips/s trained; peak GPU memory "
                     f"{_mib(r['costs'].get('eval_gpu_peak_mib'))} "
                     f"(distil {_mib(r['costs'].get('distill_gpu_peak_mib'))}), "
                     f"host +{_mib(r['costs']['eval_peak_mib'])}; storage {r['storage_bytes']} bytes "
                     f"({r['storage_basis']}) |")
    if n_train > recipe.batch_size:
        notes.append("full trained on more clips than a batch: the streamed path ran several batches per epoch.")
    _ops(records, lines)


def throughput(args, device_name: str, tmp: Path, lines: list[str]) -> None:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from vddbench.data import ArraySplit
    from vddbench.data.stream import loader_workers, stream
    from vddbench.device import forked_rng, resolve_device
    from vddbench.evaluate import train_on_split
    from vddbench.protocol import ClipSpec, EvalRecipe
    from vddbench.students import build_student

    device = resolve_device(device_name)
    clip = ClipSpec(8, 32, 32) if args.tiny else ClipSpec(16, 112, 112)
    n, batch, classes = args.loader_clips, args.batch, 50
    rng = np.random.default_rng(0)
    path = tmp / "throughput.u8"
    with open(path, "wb") as f:
        for start in range(0, n, 64):
            f.write(rng.bytes(min(64, n - start) * int(np.prod(clip.shape))))
    split = ArraySplit("generated/train", np.memmap(path, np.uint8, "r", shape=(n, *clip.shape)),
                       rng.integers(0, classes, size=n), classes)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    batches = [order[s:s + batch] for s in range(0, n, batch)]
    workers = loader_workers(device)
    for _ in range(2):  # the first epoch warms the page cache and starts CUDA
        sync()
        start = time.perf_counter()
        for x, _y in stream(split, batches, device):
            pass
        sync()
        loader_rate = n / (time.perf_counter() - start)

    steps = max(2, 2 * len(batches))
    recipe = EvalRecipe(steps=steps, batch_size=batch, lr=0.01)
    model = build_student("convnet3d", classes, clip, seed=0).to(device)
    F.cross_entropy(model(split.clips(slice(0, 2)).to(device)), split.labels[:2].to(device)).backward()  # warm up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = build_student("convnet3d", classes, clip, seed=0).to(device)
    sync()
    start = time.perf_counter()
    train_on_split(model, split, recipe, seed=0)
    sync()
    streamed = time.perf_counter() - start
    gpu_peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None

    videos, labels = split.clips(slice(0, n)).to(device), split.labels.to(device)  # the hand loop's data
    model = build_student("convnet3d", classes, clip, seed=0).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    order_rng = torch.Generator().manual_seed(0)
    sync()
    start = time.perf_counter()
    with forked_rng(device):
        torch.manual_seed(0)
        done = 0
        while done < steps:
            perm = torch.randperm(n, generator=order_rng)
            for s in range(0, n, batch):
                if done == steps:
                    break
                idx = perm[s:s + batch].to(device)
                loss = F.cross_entropy(model(videos[idx]), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                done += 1
    sync()
    hand = time.perf_counter() - start
    clips = trained_clips(recipe, n)
    lines.append(f"| throughput: loader vs training ({n} clips {'x'.join(map(str, clip.shape[1:]))}, batch {batch}, "
                 f"{workers} loader worker(s)) | {loader_rate / (clips / streamed):.1f}x | loader {loader_rate:.0f} "
                 f"clips/s; ConvNet3D trains at {clips / streamed:.0f} clips/s streamed from the cache and "
                 f"{clips / hand:.0f} clips/s from clips already on the device (streamed/hand time "
                 f"{streamed / hand:.3f}x); peak GPU memory training {_mib(gpu_peak)} |")


def student_costs(args, device: str, lines: list[str], tables: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import cost_benchmark

    from vddbench.protocols import REAL_STUDENTS

    students = ["convnet3d", "cnn-mean"] if args.tiny else None

    rows = cost_benchmark.measure_students(device, students or list(REAL_STUDENTS), args.cost_batch, 3)
    worst = max(rows, key=lambda r: r["gpu_peak_mib"] or 0)
    lines.append(f"| per-clip costs of {len(rows) // 2} students at both clip sizes (batch {args.cost_batch}) | "
                 f"measured | slowest training {max(r['train_s_per_clip'] for r in rows) * 1000:.2f} ms/clip; peak "
                 f"GPU memory {_mib(worst['gpu_peak_mib'])} ({worst['student']} {worst['clip']}); table below |")
    tables += ["", f"Per-clip costs on {device} (batch {args.cost_batch}; input to docs/cost.md):", "",
               "| student | clip | train clips/s | score clips/s | peak GPU memory |", "|---|---|---|---|---|"]
    tables += [f"| {r['student']} | {r['clip']} | {1 / r['train_s_per_clip']:,.0f} | "
               f"{1 / r['score_s_per_clip']:,.0f} | {_mib(r['gpu_peak_mib'])} |" for r in rows]
    tables += ["", "Device-hours of one distiller's grid (3 seeds x these students, 500 epochs; distillation not "
               "included), `full` (3 seeds), one ConvNet3D teacher:", "",
               "| dataset | IPC 1 | IPC 5 | IPC 10 | full | teacher |", "|---|---|---|---|---|---|"]
    for r in cost_benchmark.workload(rows):
        teacher = f"{r['teacher_h']:,.2f}" if r["teacher_h"] is not None else "—"
        tables.append(f"| {r['dataset']} | {r['eval_ipc1_h']:,.2f} | {r['eval_ipc5_h']:,.2f} | "
                      f"{r['eval_ipc10_h']:,.2f} | {r['full_h']:,.1f} | {teacher} |")


def _ops(records: list[dict], lines: list[str]) -> None:
    ops = sorted({op for r in records for op in r["determinism"].get("nondeterministic_ops", [])})
    settings = {k: v for k, v in records[0]["determinism"].items() if k != "nondeterministic_ops"} if records else {}
    lines.append(f"|   deterministic settings | {json.dumps(settings)} | ops without a deterministic "
                 f"implementation: {', '.join(ops) if ops else 'none'} |")


def _mib(value) -> str:
    return "n/a" if value is None else f"{value:,.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?",
                        help="where to write the report (default: $OUT/gpu_check.md, else ./gpu_check.md)")
    parser.add_argument("--report", dest="report_opt", help="same as the positional REPORT")
    parser.add_argument("--device", default="cuda", help="the GPU to check (default: cuda)")
    parser.add_argument("--cpu", action="store_true", help="rehearse on the CPU (no GPU needed)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: 8x32x32 clips, 3 classes, 2 epochs")
    parser.add_argument("--workers", type=int, default=None, help="smoke grid --workers (default: 4; tiny: 1)")
    parser.add_argument("--distillers", default=None,
                        help="smoke grid distillers (default: all; tiny: random,herding,full,tsgf)")
    parser.add_argument("--classes", type=int, default=None, help="MiniUCF-shaped classes (default 5; tiny 3)")
    parser.add_argument("--train", type=int, default=None, help="training videos per class (default 6; tiny 2)")
    parser.add_argument("--test", type=int, default=None, help="test videos per class (default 2; tiny 1)")
    parser.add_argument("--frames", type=int, default=80, help="frames per generated video")
    parser.add_argument("--epochs", type=int, default=None, help="cut the published 500 epochs (default: keep; tiny 2)")
    parser.add_argument("--loader-clips", type=int, default=None, help="throughput: clips (default 1024; tiny 64)")
    parser.add_argument("--batch", type=int, default=None, help="throughput: batch (default 256; tiny 16)")
    parser.add_argument("--cost-batch", type=int, default=None, help="costs: batch (default 64; tiny 2)")
    parser.add_argument("--skip", default="", help="parts to leave out: smoke, miniucf, throughput, costs")
    args = parser.parse_args()
    tiny = {"workers": 1, "distillers": "random,herding,full,tsgf", "classes": 3, "train": 2, "test": 1,
            "epochs": 2, "loader_clips": 64, "batch": 16, "cost_batch": 2}
    full = {"workers": 4, "distillers": None, "classes": 5, "train": 6, "test": 2, "epochs": None,
            "loader_clips": 1024, "batch": 256, "cost_batch": 64}
    for key, value in (tiny if args.tiny else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    report = Path(args.report or args.report_opt or (Path(os.environ["OUT"]) / "gpu_check.md" if os.environ.get("OUT")
                                                    else "gpu_check.md"))
    skip = set(filter(None, args.skip.split(",")))

    import torch

    from vddbench.testing import datasets as fixtures  # noqa: F401

    device = "cpu" if args.cpu else args.device
    if not args.cpu and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device visible (torch {torch.__version__}, CUDA build: {torch.version.cuda}); "
              f"install a CUDA build of torch in .venv, or rehearse with --cpu --tiny", file=sys.stderr)
        return 2
    from vddbench.device import describe, resolve_device

    env = describe(resolve_device(device))
    started = time.perf_counter()
    lines = ["| check | result | detail |", "|---|---|---|"]
    failures: list[str] = []
    notes: list[str] = []
    tables: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vddbench-gpu-check-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["VDDBENCH_CACHE"] = str(tmp / "cache")
        for part, run in (("smoke", lambda: smoke_grid(args, device, tmp, lines, failures)),
                          ("miniucf", lambda: miniucf_cells(args, device, tmp, lines, failures, notes)),
                          ("throughput", lambda: throughput(args, device, tmp, lines)),
                          ("costs", lambda: student_costs(args, device, lines, tables))):
            if part in skip:
                continue
            t0 = time.perf_counter()
            try:
                run()
            except Exception as exc:  # a crash is a failed check, and the report still gets written
                import traceback

                failures.append(f"{part}: {type(exc).__name__}: {exc}")
                lines.append(f"| {part} | FAIL | {type(exc).__name__}: {exc} |")
                traceback.print_exc()
            print(f"gpu_check: {part} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - started
    head = [f"# vddbench GPU check ({'CPU rehearsal, tiny sizes' if args.cpu and args.tiny else device})", "",
            f"- when: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; took {total:.0f} s",
            f"- machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}",
            f"- torch {torch.__version__} (CUDA build {torch.version.cuda}); device {json.dumps(env)}",
            f"- command: {' '.join([Path(sys.executable).name] + sys.argv)}",
            f"- result: {'PASS' if not failures else 'FAIL (' + str(len(failures)) + ' problem(s))'}", ""]
    body = head + lines + [""] + [f"- note: {n}" for n in notes] + [f"- problem: {f}" for f in failures] + tables
    text = "\n".join(body) + "\n"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text)
    print(text)
    print(f"gpu_check: report written to {report}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
