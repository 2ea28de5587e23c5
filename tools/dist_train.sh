#!/usr/bin/env bash
# bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args]   (CPU runs use the gloo backend)
CONFIG=$1
NPROCS=$2
PORT=${PORT:-29500}
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"${PYTHON:-python}" -m torch.distributed.run --nnodes=1 --nproc_per_node="$NPROCS" --master_port="$PORT" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
