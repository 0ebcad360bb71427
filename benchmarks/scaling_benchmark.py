"""Cells per hour of the default (embedded) protocol's grid with 1 vs 2 local workers and with Ray on
this machine, and the per-cell overhead of each executor.

Throughput runs a representative subset of the default grid (the whole grid takes ~9 minutes with
2 workers and ~15 with one; see docs/scaleout.md): by default ``random`` and ``herding`` at IPC 1, 5 and 10 \
with seed 0 -- six cells that span
the grid's range of cell costs (the IPC decides how many clips each student trains on), each
evaluated on every student of the protocol.
Each executor runs the same cells into its own empty results directory, with the protocol's torch
threads per cell. Reported per run: wall time, cells per hour, the ratio to one local worker, CPU
seconds per cell (local executor only: Ray's workers are not our children) and *core share*, the CPU
time the workers got divided by wall time x workers: 1.0 means every worker had a core to itself,
less means the cells waited for a CPU (other processes on the machine, or oversubscription).

Overhead runs every executor on cells that are already done (the job starts, loads the plugins, sees
the records and returns), so what is measured is the cost of starting and dispatching a cell.

Usage: python benchmarks/scaling_benchmark.py [--distiller random,herding] [--ipc 1,5,10] [--seed 0]
       [--overhead-cells 8] [--skip ray,slurm] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time


def _cpu_seconds() -> float:
    """CPU of this process plus its reaped children (the local pool's workers once it shut down)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed_run(executor, cells, root) -> dict:
    failures = []

    def on_done(cell, outcome):
        if isinstance(outcome, BaseException) or any(r["status"] != "ok" for r in outcome):
            failures.append(f"{cell.label()}: {outcome}")

    load0, cpu0, t0 = os.getloadavg()[0], _cpu_seconds(), time.perf_counter()
    executor.run(cells, root, on_done)
    wall = time.perf_counter() - t0
    if failures:
        raise SystemExit("cells failed:\n" + "\n".join(failures))
    return {"wall_s": wall, "cpu_s": _cpu_seconds() - cpu0, "load_before": load0, "load_after": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="embedded")
    parser.add_argument("--distiller", default="random,herding")
    parser.add_argument("--ipc", default="1,5,10")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--overhead-cells", type=int, default=8, help="already-done cells per overhead run")
    parser.add_argument("--skip", default="", help="executors to leave out: ray, slurm")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    from vddbench.executors import get_executor
    from vddbench.protocol import get_protocol
    from vddbench.runner import plan

    protocol = get_protocol(args.protocol)
    threads = protocol.torch_threads
    cells = plan(protocol, args.distiller.split(","), ipcs=[int(i) for i in args.ipc.split(",")],
                 seeds=[int(s) for s in args.seed.split(",")])
    print(f"protocol {protocol.name}: {len(cells)} of its cells ({', '.join(c.label() for c in cells)}), "
          f"students {', '.join(protocol.students)}, {threads} torch thread(s) per cell; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)

    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        def throughput(name, executor, workers):
            root = os.path.join(tmp, name)
            r = _timed_run(executor, cells, root)
            r["cells_per_hour"] = len(cells) * 3600 / r["wall_s"]
            r["workers"] = workers
            runs[name] = r
            print(f"  {name:<18} {r['wall_s']:7.1f} s  {r['cells_per_hour']:6.1f} cells/h  "
                  f"load {r['load_before']:.1f}->{r['load_after']:.1f}", flush=True)
            return root

        print("throughput:", flush=True)
        done_root = throughput("local, 1 worker", get_executor("local", workers=1, threads=threads), 1)
        throughput("local, 2 workers", get_executor("local", workers=2, threads=threads), 2)
        ray_init = None
        if "ray" not in skip:
            import ray

            t0 = time.perf_counter()
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            ray_init = time.perf_counter() - t0
            throughput("ray, 2 CPUs", get_executor("ray", threads=threads), 2)

        # -- overhead: cells whose records exist, so a job starts, finds them and returns ------------
        print("per-cell overhead (cells already done):", flush=True)
        noop = (cells * args.overhead_cells)[: args.overhead_cells]
        overhead: dict[str, dict] = {}

        def measure(name, executor):
            r = _timed_run(executor, noop, done_root)
            r["per_cell_s"] = r["wall_s"] / len(noop)
            overhead[name] = r
            print(f"  {name:<32} {r['wall_s']:6.2f} s for {len(noop)} cells = {r['per_cell_s']:.3f} s per cell",
                  flush=True)

        measure("local, in process", get_executor("local", workers=1, threads=threads, in_process=True))
        measure("local, 2 workers (spawn pool)", get_executor("local", workers=2, threads=threads))
        if "ray" not in skip:
            measure("ray, warm workers", get_executor("ray", threads=threads))
            ray.shutdown()
        if "slurm" not in skip:
            measure("slurm (submitit LocalExecutor)",
                    get_executor("slurm", cluster="local", workers=2, threads=threads, time=30))

    base = runs["local, 1 worker"]
    print("\nresults (ratios against 1 local worker, same cells, same run):")
    print(f"  {'executor':<18} {'wall s':>8} {'cells/h':>8} {'ratio':>6} {'cpu s/cell':>11} {'core share':>11}")
    for name, r in runs.items():
        r["ratio"] = r["cells_per_hour"] / base["cells_per_hour"]
        local = name.startswith("local")
        r["cpu_s_per_cell"] = r["cpu_s"] / len(cells) if local else None
        r["core_share"] = r["cpu_s"] / (r["wall_s"] * r["workers"]) if local else None
        cpu = f"{r['cpu_s_per_cell']:11.1f}" if local else f"{'-':>11}"
        share = f"{r['core_share']:11.2f}" if local else f"{'-':>11}"
        print(f"  {name:<18} {r['wall_s']:8.1f} {r['cells_per_hour']:8.1f} {r['ratio']:5.2f}x {cpu} {share}")
    if ray_init is not None:
        print(f"  ray cluster start (not in the wall time above): {ray_init:.1f} s")
    print("  per-cell overhead: " + "; ".join(f"{k} {v['per_cell_s']:.3f} s" for k, v in overhead.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cells": [c.label() for c in cells], "throughput": runs, "overhead": overhead,
                       "ray_init_s": ray_init, "cores": os.cpu_count()}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
