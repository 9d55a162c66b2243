#!/usr/bin/env bash
# Distributed training, one process per GPU (gloo on CPU-only machines).
#   bash tools/dist_train.sh CONFIG GPUS [train.py options]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as in mmdet.
DIR="$(cd "$(dirname "$0")" && pwd)"
exec bash "$DIR/torchrun.sh" "$2" "$DIR/train.py" "$1" --launcher pytorch "${@:3}"
