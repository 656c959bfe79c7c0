#!/usr/bin/env bash
# The GPU edition in one command, on a machine with one CUDA GPU and no internet:
# install the carried wheels (tools/wheelhouse.sh made them), use the image's own torch,
# execute every chapter in the `full` profile and the GPU benchmarks inside a time budget,
# and pack the executed notebooks, results JSON and benchmark JSON into ONE archive.
#
#   device run: command "bash tools/gpu_edition.sh", carry [".whl", "data"], timeout_s 600
#   here:       make wheelhouse   (fills .whl/ and data/, checks the 64 MiB carry limit)
#
# Environment: BUDGET_S (seconds from the start of this script to the archive; default 540
# of the 600 a device command may run), BENCH_S (seconds kept for the benchmarks, 150),
# OUT (where the archive goes; the device tool sets it, else _build/gpu-edition),
# GPU_EDITION_PROFILE (full), GPU_EDITION_ONLY (chapter prefixes), GPU_EDITION_ARGS
# (more arguments of `python -m tools.gpu_edition all`, e.g. --skip-bench),
# GPU_EDITION_WHEELS (the wheel folder, .whl), GPU_EDITION_ALLOW_CPU=1 (run without CUDA:
# the CPU test of this script does).
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
BUDGET_S=${BUDGET_S:-540}
OUT=${OUT:-$PWD/_build/gpu-edition}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

WHEELS=${GPU_EDITION_WHEELS:-.whl}
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then  # the image's torch stays: only what it lacks
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/gpu-edition-site "$WHEELS"/*.whl || { echo "gpu-edition: wheel install failed"; exit 1; }
  export PYTHONPATH=/tmp/gpu-edition-site:$PYTHONPATH
fi
[ -d data/fashion-mnist ] && export FASHION_MNIST_DIR=$PWD/data/fashion-mnist
"$PY" -m tools.gpu_edition check ${GPU_EDITION_ALLOW_CPU:+--allow-cpu} || exit 1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

left=$(( BUDGET_S - ($(date +%s) - start) ))
# shellcheck disable=SC2086  # GPU_EDITION_ONLY and GPU_EDITION_ARGS are word lists
"$PY" -m tools.gpu_edition all --budget "$left" --bench-s "${BENCH_S:-150}" --out "$OUT" \
  --profile "${GPU_EDITION_PROFILE:-full}" ${GPU_EDITION_ONLY:+--only $GPU_EDITION_ONLY} \
  ${GPU_EDITION_ARGS:-} 2>&1 | tee "$OUT/gpu_edition.log"
