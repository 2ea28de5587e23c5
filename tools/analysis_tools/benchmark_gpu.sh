#!/usr/bin/env bash
# The whole GPU comparison in one command, written into one file (default benchmark_gpu.txt):
#   1. the training-free pipeline (SCLIP, ClearCLIP, NACLIP, MaskCLIP at ADE protocol, ViT-B/16) against the
#      references' one-window loop, at fp32, fp16 and bf16 and compiled, with each mode's agreement with fp32
#      and its synthetic-world mIoU (benchmark_trainfree.py);
#   2. the compiled ops: fused dense attention vs SDPA vs the bmm chain, RoIAlign vs mmcv and torchvision,
#      forward and backward (benchmark_ops.py);
#   3. one training step of each trained method, fp32 and under AMP (benchmark_train.py, benchmark_san.py,
#      benchmark_vild.py).
# Targets (issue 18): pipeline >= 5x the reference loop at fp16; fused attention >= 2x the bmm chain at <= 1/2
# its memory; RoIAlign forward >= 1.0x and backward >= 1.5x mmcv.
#
#   bash tools/analysis_tools/benchmark_gpu.sh [OUT_FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-benchmark_gpu.txt}"
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}"
if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "error: benchmark_gpu.sh needs a CUDA GPU, and torch finds none on this machine; on CPUs run" \
       "tools/analysis_tools/benchmark_trainfree.py and benchmark_ops.py --device cpu" >&2
  exit 2
fi
if ! "$PYTHON" -c 'import sys, clipdense.ops as ops; sys.exit(ops.load_ext() is None)' 2>/dev/null; then
  echo "error: clipdense's compiled extension does not import: build it with CUDA first" \
       "(FORCE_CUDA=1 $PYTHON -m pip install -e . --no-build-isolation)" >&2
  exit 2
fi
section() {
  echo
  echo "## $1"
  echo "\$ $2"
  # shellcheck disable=SC2086
  timeout 300 $2 2>&1 | grep -v -E 'Warning|warnings.warn|mmengine - (INFO|WARNING)' || echo "(failed or timed out)"
}
{
  echo "# clipdense GPU benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  "$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)'
  section "training-free pipeline: precisions and compilation" \
    "$PYTHON tools/analysis_tools/benchmark_trainfree.py --device cuda --images 5 --precisions fp32 fp16 bf16 --compile"
  section "compiled ops" "$PYTHON tools/analysis_tools/benchmark_ops.py --device cuda --repeats 10"
  section "trained methods: one training step, fp32 and AMP" \
    "$PYTHON tools/analysis_tools/benchmark_train.py --device cuda --steps 3 --precision fp32 fp16"
  section "SAN beside mmseg's port" "$PYTHON tools/analysis_tools/benchmark_san.py --device cuda --precision fp32 fp16"
  section "ViLD: clipdense's and mmcv's RoIAlign" "$PYTHON tools/analysis_tools/benchmark_vild.py --device cuda"
} | tee "$OUT"
echo "written: $OUT"
