#!/bin/sh
# Set up .venv on a GPU machine that has no network, before benchmarks/gpu_check.sh.
#
# Run from the repository root (or anywhere: it changes to the root), with the wheels in .whl/
# (downloaded where there is a network; see the device notes). It
#   1. creates $VDD_VENV (default /tmp/vddvenv) with `python3 -m venv --system-site-packages`,
#      and makes the image python's own site-packages (torch, numpy, ... ) visible in it: when
#      python3 is itself a venv (e.g. /opt/torch/.venv), --system-site-packages alone would only
#      expose the *base* interpreter's packages, not the ones torch lives in;
#   2. installs .whl/*.whl with --no-index --no-deps (the two big ones, opencv-contrib-python-headless
#      and decord, are re-packed with LZMA members to fit the 64 MiB transfer; pip reads them as is);
#   3. installs vddbench and every plugins/*/ with a pyproject.toml in editable mode (their entry
#      points register the plugins);
#   4. replaces ./.venv by a symbolic link to $VDD_VENV (a real .venv directory is removed only
#      when $OUT is set, i.e. on the device machine, so that it never destroys a development venv);
#   5. prints torch's version and CUDA availability, checks cv2 (CSRT), decord and
#      import_mmaction_models(), and prints `.venv/bin/vddbench list`.
#
# Environment: PYTHON (default python3), VDD_VENV (default /tmp/vddvenv), VDD_SETUP_LOG (pip's
# output; default /tmp/gpu_setup.log, its tail printed on failure).
# Usage on the device: sh benchmarks/gpu_setup.sh && sh benchmarks/gpu_check.sh "$OUT/gpu_check.md"
set -eu

LOG=${VDD_SETUP_LOG:-/tmp/gpu_setup.log}
: >"$LOG"
die() {
    echo "gpu_setup.sh: ERROR: $*" >&2
    exit 1
}
die_log() {  # a pip step failed: show its output first
    echo "gpu_setup.sh: the last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    die "$@"
}
step() {
    echo "gpu_setup.sh: $*"
}

cd "$(dirname "$0")/.." || die "cannot change to the repository root"
[ -f pyproject.toml ] && [ -d vddbench ] || die "$(pwd) is not the vddbench repository root"

PY=${PYTHON:-python3}
VENV=${VDD_VENV:-/tmp/vddvenv}

command -v "$PY" >/dev/null 2>&1 || die "no '$PY' on PATH"
"$PY" -c 'import torch' || die "'$PY' cannot import torch: this script expects the GPU image's python3"
ls .whl/*.whl >/dev/null 2>&1 || die "no wheels in $(pwd)/.whl: pass carry [\".whl\"] to the device run"

"$PY" -c 'import lzma, venv' || die "'$PY' lacks the lzma or venv module (the large wheels in .whl are LZMA-compressed)"
if [ -e .venv ] && [ ! -L .venv ]; then
    # On the device ($OUT is set) a stale copy is disposable; elsewhere it may be a developer's venv.
    [ -n "${OUT:-}" ] || die "$(pwd)/.venv is a real directory, not a link: remove it yourself if it is disposable"
    step "removing the stale directory .venv"
    rm -rf .venv
fi

step "creating $VENV from $(command -v "$PY") ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
rm -rf "$VENV"
# --without-pip: ensurepip may be missing from the base interpreter; the image's pip is used.
"$PY" -m venv --system-site-packages --without-pip "$VENV" || die "python3 -m venv failed"
VPY="$VENV/bin/python"
[ -x "$VPY" ] || die "$VPY was not created"

# Append the image python's site directories (processed with their .pth files) after the venv's.
SITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || die "cannot locate the venv's site-packages"
"$PY" - "$SITE/_vdd_image_site.pth" <<'EOF' || die "cannot write the .pth that exposes the image's packages"
import site, sys
dirs = [d for d in site.getsitepackages() if d]
with open(sys.argv[1], "w") as f:
    for d in dirs:  # one line each: a .pth executes a line that starts with "import"
        f.write("import site; site.addsitedir(%r)\n" % d)
print("gpu_setup.sh: image site-packages exposed in the venv:", ", ".join(dirs))
EOF
"$VPY" -c 'import setuptools, pip, torch' || die "the new venv does not see the image's torch, pip and setuptools"

step "installing $(ls .whl/*.whl | wc -l | tr -d ' ') wheels from .whl/"
"$VPY" -m pip install --no-index --no-deps --no-cache-dir --disable-pip-version-check .whl/*.whl >>"$LOG" 2>&1 \
    || die_log "pip could not install .whl/*.whl"

set -- -e .
for p in plugins/*/; do
    if [ -f "${p}pyproject.toml" ]; then
        set -- "$@" -e "$p"
    fi
done
step "installing vddbench and $(( ($# - 2) / 2 )) plugins in editable mode"
"$VPY" -m pip install --no-index --no-deps --no-build-isolation --no-cache-dir --disable-pip-version-check "$@" >>"$LOG" 2>&1 \
    || die_log "pip could not install vddbench and the plugins (editable)"

rm -f .venv
ln -s "$VENV" .venv || die "cannot link .venv to $VENV"

step "check:"
.venv/bin/python -c 'import torch, vddbench, mmaction; print(torch.__version__, torch.cuda.is_available())' \
    || die "the venv cannot import torch, vddbench and mmaction"
.venv/bin/python -c 'import cv2, decord; print("cv2", cv2.__version__, "CSRT:", hasattr(cv2, "TrackerCSRT"), "decord", decord.__version__)' \
    || die "the venv cannot import cv2 and decord"
# What every mmaction2 student goes through (vddbench/students/spec.py):
.venv/bin/python -c 'from vddbench.students.mmaction_compat import import_mmaction_models as f; f(); print("mmaction.models: ok")' \
    || die "import_mmaction_models() failed: the students cannot be built (see the traceback above)"
.venv/bin/vddbench list || die "'.venv/bin/vddbench list' failed"
step "done: .venv -> $VENV"
