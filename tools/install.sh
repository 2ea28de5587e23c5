#!/usr/bin/env bash
# Set up (or refresh) the clipdense virtual environment.
#
#   bash tools/install.sh            # creates/updates .venv (idempotent, fast when nothing changed)
#   VENV=/path/venv bash tools/install.sh
#
# mmcv 2.1.0 has no wheel for torch 2.14, so its compiled ops are built from the registry's
# source release, with its hard-coded -std=c++14/17 raised to C++20 (torch >= 2.10 headers
# need it; upstream mmcv #3341). The built wheel is cached under $CLIPDENSE_CACHE
# (default ~/.cache/clipdense) so the ~15-minute build happens once per machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
CACHE="${CLIPDENSE_CACHE:-$HOME/.cache/clipdense}"
PYTHON="${PYTHON:-python3}"

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
# lvis: the LVIS API that mmdet's LVISV1Dataset and LVISMetric import (OV-LVIS) but mmdet does not require; 0.5.3
# is its last release (its np.float is restored for it by clipdense.evaluation).
PINNED=(mmengine==0.10.7 mmsegmentation==1.2.2 mmdet==3.3.0 open_clip_torch==3.3.0 lvis==0.5.3
        opencv-python ftfy regex pytest pytest-xdist)

say() { printf '[clipdense install] %s\n' "$*"; }
die() { printf '[clipdense install] ERROR: %s\n' "$*" >&2; exit 1; }
pip_q() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
            | grep -v "^WARNING: Location '" || true; return "${PIPESTATUS[0]}"; }

# Everything the installed state depends on; a re-run with the same fingerprint does nothing.
fingerprint() {
    cat "$ROOT/tools/install.sh" "$ROOT/setup.py" \
        $(find "$ROOT/clipdense/ops/csrc" -type f 2>/dev/null | sort) | sha1sum | cut -d' ' -f1
}
STAMP="$VENV/.clipdense-installed"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(fingerprint)" ]]; then
    exit 0
fi
start=$SECONDS

"$PYTHON" -c 'import sys; assert sys.version_info[:2] >= (3, 10), sys.version' \
    || die "Python >= 3.10 is required (found: $("$PYTHON" --version 2>&1)). Set PYTHON=/path/to/python3.11."
command -v g++ >/dev/null || die "no C++ compiler found. clipdense and mmcv compile C++ ops: install one (Debian/Ubuntu: apt-get install build-essential)."

if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi

if ! "$VENV/bin/python" -c "import torch, torchvision, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    say "installing torch $TORCH_VERSION / torchvision $TORCHVISION_VERSION"
    pip_q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi
# mmcv's setup.py imports pkg_resources (removed in setuptools 80) and is built without isolation.
pip_q "setuptools<80" wheel ninja psutil

# ---- mmcv with compiled ops, from source, cached ------------------------------------------
WITH_CUDA=cpu
[[ "${FORCE_CUDA:-0}" == "1" ]] && WITH_CUDA=cuda
"$VENV/bin/python" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null && WITH_CUDA=cuda
TORCH_TAG="$("$VENV/bin/python" -c 'import torch, sys; print(f"torch{torch.__version__}-py{sys.version_info[0]}{sys.version_info[1]}")')"
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION-$TORCH_TAG-$WITH_CUDA"

if ! "$VENV/bin/python" -c "import mmcv, mmcv._ext, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        say "building mmcv $MMCV_VERSION with compiled ops ($WITH_CUDA) for $TORCH_TAG: about 15 minutes on 2 cores, once per machine"
        build="$(mktemp -d)"
        trap 'rm -rf "$build"' EXIT
        # --no-build-isolation: the sdist's metadata step imports torch from this venv.
        "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
            --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$build" 2>&1 \
            | grep -v "^WARNING: Location '" || true
        tar xzf "$build/mmcv-$MMCV_VERSION.tar.gz" -C "$build" \
            || die "could not download the mmcv $MMCV_VERSION source release from the package index."
        sed -i 's/-std=c++1[47]/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
        mkdir -p "$WHEEL_DIR"
        (cd "$build/mmcv-$MMCV_VERSION" && \
         MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
         "$VENV/bin/python" -m pip wheel -q --disable-pip-version-check --no-build-isolation \
             --no-deps -w "$WHEEL_DIR.tmp" . ) \
            || die "the mmcv build failed (log above). It needs g++ and the Python headers (apt-get install build-essential python3-dev)."
        mv "$WHEEL_DIR.tmp"/mmcv-*.whl "$WHEEL_DIR"/ && rm -rf "$WHEEL_DIR.tmp"
        say "mmcv wheel cached in $WHEEL_DIR ($((SECONDS - start)) s so far)"
    fi
    say "installing mmcv from $WHEEL_DIR"
    pip_q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
    pip_q "mmcv==$MMCV_VERSION"  # its pure-Python dependencies
fi

say "installing mmengine, mmsegmentation, mmdet, lvis, open_clip and test tools"
pip_q "mmcv==$MMCV_VERSION" "torch==$TORCH_VERSION" "${PINNED[@]}"

say "building clipdense (C++ ops) in editable mode"
pip_q --no-build-isolation --no-deps -e "$ROOT"

"$VENV/bin/python" -c 'import mmcv.ops, mmseg, mmdet, lvis, open_clip, clipdense._ext' \
    || die "the environment does not import; see the messages above."
fingerprint > "$STAMP"
say "ready in $((SECONDS - start)) s: $VENV"
