#!/usr/bin/env bash
# The GPU check in one command: mmcv's CUDA ops built for the GPU machine's own torch,
# then tools/benchmarks/gpu_swin_l.py (Swin-L 640x640, 250 queries: inference img/s in
# fp32 and bf16, 20 AMP training steps' s/iter and peak memory, beside mmdet's
# Mask2Former).
#
#   bash tools/benchmarks/gpu_check.sh prepare   here, with the package index: the
#                                                wheels the GPU machine lacks (Python
#                                                3.12) and mmcv's sdist, into .whl/
#   bash tools/benchmarks/gpu_check.sh run       there, offline: installs .whl/ into
#                                                /tmp/site, builds mmcv, runs the benchmark
#
# With the device tool: `run` with carry [".whl"] and the command
# `bash tools/benchmarks/gpu_check.sh run`; results land in $OUT (gpu_swin_l.txt and
# .json, build.log). The mmcv build goes to .gpu_build/ (git-ignored) and stops after
# BUILD_TIMEOUT seconds (default 420); its ninja objects stay there, so a second `run`
# on the still-warm machine resumes the build instead of starting over.
# TORCH_CUDA_ARCH_LIST defaults to the GPU's own compute capability.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
MMCV_VERSION=2.1.0
say() { printf '[gpu_check] %s\n' "$*"; }

# Missing from the GPU machine's image (its package list: the device tool's KINDS.md),
# pinned to the versions tools/setup_env.sh installs here. Not mmpretrain: mmdet imports
# it when present, and it breaks with that image's transformers.
WHEELS=(mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 open_clip_torch==3.3.0
        ftfy==6.3.1 wcwidth==0.9.5 addict==2.4.0 yapf==0.43.0 platformdirs==4.14.9
        termcolor==3.3.0 terminaltables==3.1.10 shapely==2.2.0 pycocotools==2.0.11
        prettytable==3.19.0 panopticapi-lite==0.2.0 'setuptools==81.0.0')

prepare() {
    local py="${PYTHON:-.venv/bin/python}"
    mkdir -p .whl
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${WHEELS[@]}"
    # the sdist; its metadata step imports torch and pkg_resources, hence this venv
    "$py" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
        -d .whl "mmcv==$MMCV_VERSION"
    say "$(ls .whl | wc -l) files, $(du -sh .whl | cut -f1) in .whl/ (the device tool carries 64 MiB)"
}

run() {
    local py=python3 site=/tmp/site out="${OUT:-work_dirs/gpu_check}"
    mkdir -p "$out"
    [[ -f .whl/mmcv-$MMCV_VERSION.tar.gz ]] || {
        say "no .whl/mmcv-$MMCV_VERSION.tar.gz: run 'bash $0 prepare' where the package index is reachable, and carry .whl"
        exit 2; }
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" .whl/*.whl
    export PYTHONPATH="$site"
    "$py" -c 'import torch; assert torch.cuda.is_available(), "no GPU"; print("[gpu_check]", torch.__version__, torch.version.cuda, torch.cuda.get_device_name())'
    local src=".gpu_build/mmcv-$MMCV_VERSION"
    if ! ls .gpu_build/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
        if [[ ! -d "$src" ]]; then
            mkdir -p .gpu_build
            tar -xzf ".whl/mmcv-$MMCV_VERSION.tar.gz" -C .gpu_build
            # torch >= 2.10 headers need C++20; mmcv 2.1.0 hard-codes C++17
            sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
        fi
        local arch="${TORCH_CUDA_ARCH_LIST:-$("$py" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')}"
        say "building mmcv $MMCV_VERSION with CUDA ops for arch $arch, $(nproc) jobs, at most ${BUILD_TIMEOUT:-420} s"
        local start=$SECONDS
        if ! (cd "$src" && FORCE_CUDA=1 MMCV_WITH_OPS=1 TORCH_CUDA_ARCH_LIST="$arch" \
                MAX_JOBS="$(nproc)" timeout "${BUILD_TIMEOUT:-420}" \
                "$py" -m pip wheel --no-deps --no-build-isolation -w .. .) \
                >"$out/build.log" 2>&1; then
            tail -n 20 "$out/build.log"
            say "mmcv build stopped after $((SECONDS - start)) s (log: build.log); run again on the warm machine to resume it"
            exit 3
        fi
        say "mmcv built in $((SECONDS - start)) s"
    fi
    "$py" -m pip install -q --no-index --no-deps --no-cache-dir --upgrade --target "$site" \
        .gpu_build/mmcv-"$MMCV_VERSION"-*.whl
    PYTHONUNBUFFERED=1 "$py" tools/benchmarks/gpu_swin_l.py --out "$out/gpu_swin_l.json" \
        "$@" 2>&1 | tee "$out/gpu_swin_l.txt"
}

case "${1:-}" in
    prepare) prepare ;;
    run) shift; run "$@" ;;
    *) echo "usage: bash $0 prepare|run [gpu_swin_l.py options]" >&2; exit 2 ;;
esac
