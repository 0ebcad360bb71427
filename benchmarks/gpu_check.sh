#!/bin/sh
# The GPU check (see benchmarks/gpu_check.py): run from the repository root on a GPU machine whose
# .venv holds a CUDA build of torch. Usage: benchmarks/gpu_check.sh [REPORT] [options]
# REPORT defaults to $OUT/gpu_check.md, else ./gpu_check.md. Exit 0: all checks passed; 1: a check
# failed (the report says which); 2: no GPU visible.
set -eu
cd "$(dirname "$0")/.."
exec .venv/bin/python benchmarks/gpu_check.py "$@"
