#!/usr/bin/env bash
# bash tools/dist_test.sh CONFIG CHECKPOINT|none NUM_PROCS [test.py args]   (CPU runs use the gloo backend)
CONFIG=$1
CHECKPOINT=$2
NPROCS=$3
PORT=${PORT:-29500}
if [ "$CHECKPOINT" = "none" ]; then CHECKPOINT=""; fi
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"${PYTHON:-python}" -m torch.distributed.run --nnodes=1 --nproc_per_node="$NPROCS" --master_port="$PORT" \
    "$(dirname "$0")/test.py" "$CONFIG" $CHECKPOINT --launcher pytorch "${@:4}"
