"""What a full real-protocol run costs: per-clip training and scoring time of every protocol student
at both clip sizes, measured here, turned into device-hours per dataset and IPC (docs/cost.md).

Measured, per student and clip size (16x112x112 with 50 classes: MiniUCF, HMDB51; 8x64x64 with
400 classes: Kinetics-400, SSv2): seconds per clip of one SGD step (forward, backward, update) at
``--batch``, and seconds per clip of scoring (forward, no grad), after one warm-up step; on CUDA
also the peak GPU memory of the step.

Derived (the protocol's own numbers: 500 epochs, IPC 1/5/10, 3 seeds, 11 students, batch 256;
split sizes from docs/datasets.md): the clips each evaluation trains on is 500 x IPC x classes
(a distilled set is at most a couple of batches), ``full`` trains 500 epochs of the whole split,
a teacher the same; scoring reads the test split once per record. Distillation itself is
method-specific and not included (records hold ``distill_seconds``).

Usage: python benchmarks/cost_benchmark.py [--device cpu|cuda] [--batch 4] [--steps 1] [--threads 1]
       [--students convnet3d,...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

# (name, classes, clip (T, H, W), train clips, test clips): split sizes as in docs/datasets.md
# (Kinetics-400 and SSv2: copies differ; these are typical complete copies).
DATASETS = (
    ("miniucf", 50, (16, 112, 112), 4662, 1861),
    ("hmdb51", 51, (16, 112, 112), 5236, 1530),
    ("kinetics400", 400, (8, 64, 64), 240_000, 19_800),
    ("ssv2", 174, (8, 64, 64), 168_913, 24_777),
)
SIZES = {(16, 112, 112): 50, (8, 64, 64): 400}  # clip size -> classes the students are built with
IPCS, SEEDS, EPOCHS = (1, 5, 10), 3, 500


def measure_students(device_name: str, students: list[str], batch: int, steps: int) -> list[dict]:
    """Seconds per clip (train step, scoring) and peak GPU memory, per student and clip size."""
    import torch
    import torch.nn.functional as F

    from vddbench.device import configure, resolve_device
    from vddbench.protocol import ClipSpec
    from vddbench.students import build_student

    device = resolve_device(device_name)
    configure(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    rows = []
    for (t, h, w), classes in SIZES.items():
        clip = ClipSpec(t, h, w)
        x = torch.randn(batch, *clip.shape, device=device)
        y = torch.randint(0, classes, (batch,), device=device)
        for name in students:
            model = build_student(name, classes, clip, seed=0).to(device)
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
            model.train()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            for i in range(steps + 1):  # the first step warms up (cuDNN, allocator, lazy imports)
                if i == 1:
                    sync()
                    start = time.perf_counter()
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sync()
            train = (time.perf_counter() - start) / (steps * batch)
            model.eval()
            with torch.no_grad():
                model(x)
                sync()
                start = time.perf_counter()
                for _ in range(steps):
                    model(x)
                sync()
            infer = (time.perf_counter() - start) / (steps * batch)
            gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
            rows.append({"student": name, "clip": f"{t}x{h}x{w}", "classes": classes, "batch": batch,
                         "train_s_per_clip": train, "score_s_per_clip": infer, "gpu_peak_mib": gpu})
            print(f"  {name:<14} {t}x{h}x{w}  train {1 / train:8.1f} clips/s  score {1 / infer:8.1f} clips/s"
                  + (f"  peak GPU {gpu:,.0f} MiB" if gpu is not None else ""), flush=True)
            del model, opt
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


def workload(rows: list[dict]) -> list[dict]:
    """Device-hours per dataset: evaluation per IPC (all seeds and students), ``full``, a teacher."""
    per = {(r["student"], r["clip"]): r for r in rows}
    students = sorted({r["student"] for r in rows})
    out = []
    for name, classes, (t, h, w), n_train, n_test in DATASETS:
        clip = f"{t}x{h}x{w}"
        train_s = sum(per[(s, clip)]["train_s_per_clip"] for s in students)  # one clip through every student
        score_s = sum(per[(s, clip)]["score_s_per_clip"] for s in students)
        row = {"dataset": name, "students": len(students)}
        for ipc in IPCS:  # one distiller: 3 seeds x every student, trained on IPC x classes clips
            row[f"eval_ipc{ipc}_h"] = SEEDS * (EPOCHS * ipc * classes * train_s + n_test * score_s) / 3600
        row["full_h"] = SEEDS * (EPOCHS * n_train * train_s + n_test * score_s) / 3600
        row["teacher_h"] = EPOCHS * n_train * per[("convnet3d", clip)]["train_s_per_clip"] / 3600 \
            if ("convnet3d", clip) in per else None
        clip_bytes = 3 * t * h * w
        row["cache_gb"] = (n_train + n_test) * clip_bytes / 1e9
        row["artifacts_gb"] = SEEDS * sum(ipc * classes for ipc in IPCS) * clip_bytes / 1e9  # uint8 pixels
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4, help="clips per measured step (GPU: use 64 or more)")
    parser.add_argument("--steps", type=int, default=1, help="measured steps after the warm-up step")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--students", default=None, help="default: the real protocols' 11 students")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch

    from vddbench.protocols import REAL_STUDENTS

    torch.set_num_threads(args.threads)
    students = args.students.split(",") if args.students else list(REAL_STUDENTS)
    print(f"per-clip costs on {args.device} ({args.threads} thread(s)), batch {args.batch}, {args.steps} measured "
          f"step(s) after one warm-up step:", flush=True)
    rows = measure_students(args.device, students, args.batch, args.steps)
    table = workload(rows)
    print(f"\ndevice-hours of one distiller's grid per dataset on {args.device} (3 seeds x {len(students)} students, "
          f"500 epochs; distillation not included), `full` (3 seeds), one teacher (ConvNet3D), disk:")
    print("| dataset | IPC 1 | IPC 5 | IPC 10 | full | teacher | clip cache | pixel artifacts (9 cells) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in table:
        teacher = f"{r['teacher_h']:,.1f}" if r["teacher_h"] is not None else "—"
        print(f"| {r['dataset']} | {r['eval_ipc1_h']:,.1f} | {r['eval_ipc5_h']:,.1f} | {r['eval_ipc10_h']:,.1f} | "
              f"{r['full_h']:,.0f} | {teacher} | {r['cache_gb']:.1f} GB | {r['artifacts_gb']:.2f} GB |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "threads": args.threads, "rows": rows, "workload": table}, f, indent=2)


if __name__ == "__main__":
    main()
