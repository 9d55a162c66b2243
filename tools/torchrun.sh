#!/usr/bin/env bash
# torchrun with mmdet's multi-node environment variables; used by dist_train/dist_test.
#   bash tools/torchrun.sh NPROC_PER_NODE SCRIPT [args]
# NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500),
# PYTHON (the interpreter; default: the project's .venv when it exists, else python).
set -e
NPROC=$1
SCRIPT=$2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "$PYTHON" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then
        PYTHON="$ROOT/.venv/bin/python"
    else
        PYTHON=python
    fi
fi
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "$0: no interpreter '$PYTHON': run 'make install' (creates .venv) or set PYTHON" >&2
    exit 1
fi
echo "$0: running $(command -v "$PYTHON")" >&2
PYTHONPATH="$ROOT:$PYTHONPATH" exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" \
    "$SCRIPT" "${@:3}"
