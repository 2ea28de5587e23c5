#!/usr/bin/env bash
# Compile every CUDA source of clipdense's ops (clipdense/ops/csrc/cuda/*.cu) to an object
# file for sm_80 and sm_90 against the installed torch's headers, with the flags torch's
# BuildExtension uses, so the kernels cannot rot on machines without a GPU. Nothing is run.
#
# Usage: tools/check_cuda_build.sh            (PYTHON, NVCC and ARCHS may be overridden,
#        ARCHS="80 90 100" tools/check_cuda_build.sh     e.g. PYTHON=.venv/bin/python)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
NVCC="${NVCC:-nvcc}"
ARCHS="${ARCHS:-80 90}"
CSRC="$ROOT/clipdense/ops/csrc"

if ! command -v "$NVCC" > /dev/null; then
  echo "check_cuda_build: nvcc not found (set NVCC=/path/to/nvcc)" >&2
  exit 2
fi

# torch's include directories (plus CUDA's) and the nvcc flags BuildExtension adds.
mapfile -t TORCH_FLAGS < <("$PYTHON" - <<'PY'
import inspect

import torch
from torch.utils import cpp_extension

if 'device_type' in inspect.signature(cpp_extension.include_paths).parameters:
    includes = cpp_extension.include_paths(device_type='cuda')
else:  # torch < 2.6
    includes = cpp_extension.include_paths(cuda=True)
for path in includes:
    print(f'-I{path}')
for flag in cpp_extension.COMMON_NVCC_FLAGS:
    print(flag)
print(f'-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}')
PY
)

GENCODE=()
for arch in $ARCHS; do
  GENCODE+=(-gencode "arch=compute_${arch},code=sm_${arch}")
done

OUT_DIR="$(mktemp -d)"
trap 'rm -rf "$OUT_DIR"' EXIT

status=0
shopt -s nullglob
sources=("$CSRC"/cuda/*.cu)
if [ ${#sources[@]} -eq 0 ]; then
  echo "check_cuda_build: no .cu files under $CSRC/cuda" >&2
  exit 1
fi
# One nvcc per source, all at once (the files are independent; a file takes minutes on 2 cores).
compile() {
  local source="$1" name
  name="$(basename "$source" .cu)"
  local start=$SECONDS
  if "$NVCC" -c "$source" -o "$OUT_DIR/$name.o" -std=c++20 -O3 -Xcompiler -fPIC -DWITH_CUDA \
      -I"$CSRC" "${TORCH_FLAGS[@]}" "${GENCODE[@]}" > "$OUT_DIR/$name.log" 2>&1; then
    echo "ok      $name.cu  (sm_${ARCHS// /, sm_}; $((SECONDS - start)) s)"
  else
    cat "$OUT_DIR/$name.log" >&2
    echo "FAILED  $name.cu" >&2
    return 1
  fi
}
pids=()
for source in "${sources[@]}"; do
  compile "$source" &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
exit $status
