#!/usr/bin/env bash
# Create .venv with the pinned OpenMMLab stack. Idempotent: a second run only checks.
#
#   bash tools/setup_env.sh          (what `make install` runs)
#
# mmcv 2.1.0 (the newest mmcv that mmdet 3.3.0 / mmseg 1.2.2 accept) has no binary wheel
# for torch 2.14, so it is compiled once from its sdist into a wheel that is cached
# OUTSIDE the repository and reused by every later install (and CI run on the same machine):
#   ONEFORMER_WHEEL_CACHE   wheel cache  (default: ${XDG_CACHE_HOME:-~/.cache}/oneformer-mm/wheels)
#   PYTHON                  interpreter used to create the venv (default: python3)
#   VENV                    venv location (default: .venv)
# Two source changes are needed to compile mmcv 2.1.0 against torch 2.14, both scripted below:
#   * torch >= 2.10 headers use C++20 features; mmcv's setup.py hard-codes -std=c++17.
#   * setup.py imports pkg_resources, gone from setuptools >= 82; and it imports torch,
#     so the build must see the venv's torch (--no-build-isolation).
# On a CUDA machine the same script compiles mmcv's CUDA ops: set FORCE_CUDA=1 (mmcv's own
# switch, implied when torch sees a GPU) and optionally TORCH_CUDA_ARCH_LIST="8.0;9.0";
# nvcc must match torch's CUDA major version. The cache key records cpu/cuda and arch list.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
CACHE="${ONEFORMER_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oneformer-mm/wheels}"
MMCV_VERSION=2.1.0
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"
say() { printf '[setup] %s\n' "$*"; }

# The stamp is the hash of everything that decides what gets installed.
stamp_src="$(cat requirements/runtime.txt requirements/tests.txt requirements/analysis.txt \
    requirements/deployment.txt \
    tools/setup_env.sh setup.py \
    | sha256sum | cut -c1-16)"
stamp_file="$VENV/.oneformer-setup-$stamp_src"
if [[ -f "$stamp_file" ]]; then
    say "environment $VENV is up to date (delete $stamp_file to force a re-install)"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating virtual environment $VENV with $($PYTHON --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi
PY="$ROOT/$VENV/bin/python"
# torch pulls in the newest setuptools; pkg_resources (gone in setuptools >= 82) is
# needed by mmcv's setup.py and by mmengine at run time, so every pip call is constrained.
constraints="$VENV/oneformer-constraints.txt"
echo 'setuptools<82' > "$constraints"
PIP=("$PY" -m pip --disable-pip-version-check)
PIP_INSTALL=("${PIP[@]}" install -q -c "$constraints")

say "installing build tools and $TORCH_PINS"
"${PIP_INSTALL[@]}" 'pip>=23' 'setuptools<82' wheel ninja $TORCH_PINS

# ---- mmcv: build once, cache the wheel outside the repo -------------------------------
torch_tag="$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
if [[ "${FORCE_CUDA:-0}" == "1" ]] || "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    device_tag="cuda$("$PY" -c 'import torch; print(torch.version.cuda)')-arch${TORCH_CUDA_ARCH_LIST:-auto}"
    export FORCE_CUDA=1
else
    device_tag=cpu
fi
device_tag="${device_tag//[^A-Za-z0-9._-]/_}"
wheel_dir="$CACHE/mmcv-$MMCV_VERSION-torch$torch_tag-$device_tag-py$("$PY" -c 'import sys; print("%d%d" % sys.version_info[:2])')"
mkdir -p "$wheel_dir"
mmcv_wheel="$(ls "$wheel_dir"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
if [[ -z "$mmcv_wheel" ]]; then
    build="$(mktemp -d)"
    trap 'rm -rf "$build"' EXIT
    say "no cached mmcv wheel in $wheel_dir: compiling mmcv $MMCV_VERSION ($device_tag)"
    say "this happens once per machine and takes about 25 minutes on 2 cores"
    # --no-build-isolation: metadata generation imports torch and pkg_resources from the venv.
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation \
        -d "$build" "mmcv==$MMCV_VERSION"
    tar -xzf "$build"/mmcv-"$MMCV_VERSION".tar.gz -C "$build"
    src="$build/mmcv-$MMCV_VERSION"
    n_flags="$(grep -c -- '-std=c++17' "$src/setup.py" || true)"
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    say "raised $n_flags '-std=c++17' flags in mmcv's setup.py to -std=c++20 (torch >= 2.10 headers)"
    MAX_JOBS="${MAX_JOBS:-$(nproc)}" MMCV_WITH_OPS=1 \
        "${PIP[@]}" wheel --no-deps --no-build-isolation -w "$build/dist" "$src"
    mv "$build"/dist/mmcv-*.whl "$wheel_dir"/
    mmcv_wheel="$(ls "$wheel_dir"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
    say "cached $mmcv_wheel"
else
    say "using cached mmcv wheel $mmcv_wheel"
fi
"${PIP_INSTALL[@]}" "$mmcv_wheel"

# ---- the rest of the stack ------------------------------------------------------------
say "installing requirements/runtime.txt, tests.txt, analysis.txt and deployment.txt (ONNX)"
"${PIP_INSTALL[@]}" -r requirements/runtime.txt -r requirements/tests.txt \
    -r requirements/analysis.txt -r requirements/deployment.txt
# panopticapi (mmdet's panoptic loader and metric) is not on the package index; the
# panopticapi-lite distribution provides the same `panopticapi` module but its metadata
# pins numpy<2 although the code runs on numpy 2, so it is installed without its deps
# (they are all in runtime.txt already).
"${PIP_INSTALL[@]}" --no-deps 'panopticapi-lite==0.2.0'
say "installing this plugin in editable mode"
"${PIP_INSTALL[@]}" --no-deps --no-build-isolation -e .
# The build leaves oneformer_mm.egg-info in the checkout; the installed metadata is the
# dist-info in site-packages. Run from the checkout, pkg_resources (and so `mim search`)
# would take the stale copy and look for the model index in the wrong place.
rm -rf "$ROOT"/oneformer_mm.egg-info
# openmim without its opendatalab/openxlab chain (see requirements/tests.txt)
"${PIP_INSTALL[@]}" --no-deps 'openmim==0.3.9'
# `mim search oneformer-mm` reads <site-packages>/oneformer-mm/.mim/model-index.yml
# (the layout of mmdet's installed package); an editable install has no such folder,
# so it is a link to this checkout. The name has a hyphen: nothing can import it.
site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
mkdir -p "$site/oneformer-mm"
ln -sfn "$ROOT" "$site/oneformer-mm/.mim"

"$PY" - <<'EOF'
import mmcv, mmdet, mmseg, mmengine, torch, open_clip
import mmcv.ops  # noqa: F401  proves the compiled ops load
import projects.oneformer  # noqa: F401
print(f"[setup] ok: torch {torch.__version__}, mmengine {mmengine.__version__}, "
      f"mmcv {mmcv.__version__} (ops), mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, "
      f"open_clip {open_clip.__version__}")
EOF
rm -f "$VENV"/.oneformer-setup-*
touch "$stamp_file"
say "done: activate with 'source $VENV/bin/activate'"
