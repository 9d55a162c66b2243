#!/usr/bin/env bash
# Distributed testing, one process per GPU (gloo on CPU-only machines).
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as in mmdet.
DIR="$(cd "$(dirname "$0")" && pwd)"
exec bash "$DIR/torchrun.sh" "$3" "$DIR/test.py" "$1" "$2" --launcher pytorch "${@:4}"
