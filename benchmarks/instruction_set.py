"""Does the CPU's instruction set change the protocol student's numbers? Measured, not assumed.

Five SGD steps of the embedded protocol's ConvNet3D (batch 32, one torch thread, fixed seed) in a
fresh interpreter per setting: the machine's own dispatch, ATen capped at plain C++ kernels
(``ATEN_CPU_CAPABILITY=default``) and oneDNN capped at SSE4.1 (``ONEDNN_MAX_CPU_ISA=SSE41``). The
caps stand in for a machine with another instruction set; the script prints each setting's weight
hash, the largest weight difference to the machine's own dispatch, and the seconds per step.

    python benchmarks/instruction_set.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = r"""
import hashlib, json, time, torch
from vddbench.protocol import ClipSpec
from vddbench.students import build_student
torch.set_num_threads(1)
torch.manual_seed(0)
model = build_student("convnet3d", 10, ClipSpec(frames=8, height=24, width=24), 0)
x, y = torch.randn(32, 3, 8, 24, 24), torch.randint(10, (32,))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
start = time.perf_counter()
for _ in range(5):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
seconds = (time.perf_counter() - start) / 5
w = torch.cat([p.detach().flatten() for p in model.parameters()])
print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "weights": w.tolist(),
                  "sha": hashlib.sha256(w.numpy().tobytes()).hexdigest()[:12], "step_s": seconds}))
"""

SETTINGS = {"this machine's dispatch": {}, "ATEN_CPU_CAPABILITY=default": {"ATEN_CPU_CAPABILITY": "default"},
            "ONEDNN_MAX_CPU_ISA=SSE41": {"ONEDNN_MAX_CPU_ISA": "SSE41"}}


def run(extra: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}
    out = subprocess.run([sys.executable, "-c", CHILD], env={**env, **extra}, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    results = {name: run(extra) for name, extra in SETTINGS.items()}
    base = results["this machine's dispatch"]
    print(f"{'setting':<30} {'ATen ISA':<9} {'weights sha256':<15} {'max |w - own|':>13} {'s/step':>7}")
    for name, r in results.items():
        diff = max(abs(a - b) for a, b in zip(r["weights"], base["weights"]))
        print(f"{name:<30} {r['capability']:<9} {r['sha']:<15} {diff:>13.2e} {r['step_s']:>7.3f}")


if __name__ == "__main__":
    main()
