#!/usr/bin/env bash
# The GPU edition (README, "The GPU edition"): fill results/full/ on one CUDA GPU within a
# budget; every finished run is written atomically, so a fill cut short keeps them all.
#   device run: command "bash tools/gpu_edition.sh", carry ["data"], timeout_s 600
# Environment: BUDGET_S (540), BENCH_S (120 of them kept for the benchmark; 0: none), OUT,
# GPU_EDITION_PROFILE (full), GPU_EDITION_ONLY (chapter numbers), GPU_EDITION_ROOT (the
# store's checkout), GPU_EDITION_ALLOW_CPU=1 (the CPU test), MIN_START_S (30).
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
BUDGET_S=${BUDGET_S:-540}
BENCH_S=${BENCH_S:-120}
PROFILE=${GPU_EDITION_PROFILE:-full}
ROOT=${GPU_EDITION_ROOT:-$PWD}
OUT=${OUT:-$PWD/_build/gpu-edition}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
left() { echo $(( BUDGET_S - ($(date +%s) - start) - ${1:-0} )); }
exec > >(tee "$OUT/gpu_edition.log") 2>&1

[ -d data/fashion-mnist ] && export FASHION_MNIST_DIR=$PWD/data/fashion-mnist
ALLOW_CPU=${GPU_EDITION_ALLOW_CPU:-} "$PY" - <<'EOF' || exit 1
import os, sys, torch
cuda = torch.cuda.is_available()
print(f"gpu-edition: torch {torch.__version__}, {torch.cuda.get_device_name(0) if cuda else 'no CUDA'}")
if not cuda and not os.environ["ALLOW_CPU"]:
    sys.exit("gpu-edition: no CUDA GPU here; the full profile needs one (GPU_EDITION_ALLOW_CPU=1 runs anyway)")
EOF

chapters=${GPU_EDITION_ONLY:-$("$PY" -c 'from alexnet_course.chapters import CHAPTERS; print(*(c[:2] for c in CHAPTERS))')}
status=0
for ch in $chapters; do
  budget=$(left "$BENCH_S")
  if [ "$budget" -lt "${MIN_START_S:-30}" ]; then echo "gpu-edition: $ch not started: ${budget}s left"; status=1; continue; fi
  echo "gpu-edition: chapter $ch, at most ${budget}s"
  timeout --signal=TERM --kill-after=10 "$budget" \
    "$PY" -m alexnet_course.run "$ch" --profile "$PROFILE" --root "$ROOT" || status=1
done
if [ "$BENCH_S" -gt 0 ] && [ "$(left 15)" -gt 30 ]; then  # benchmarks/NOTES.md: the GPU targets
  timeout --signal=TERM "$(left 15)" "$PY" -m benchmarks.bench_training --device cuda --models alexnet \
    --out "$OUT/training_cuda_alexnet.json" || echo "gpu-edition: benchmark stopped or failed (rows written so far kept)"
fi
[ -d "$ROOT/results/$PROFILE" ] && mkdir -p "$OUT/results" && cp -r "$ROOT/results/$PROFILE" "$OUT/results/"
for ch in $chapters; do  # what is stored now, and what is still missing
  "$PY" -m alexnet_course.run "$ch" --profile "$PROFILE" --root "$ROOT" --status | tail -1
done
# a chapter's verdicts.json is not a run
echo "gpu-edition: $(find "$OUT/results" -name '*.json' ! -name verdicts.json 2>/dev/null | wc -l) stored runs in $OUT/results; $(( $(date +%s) - start ))s"
exit $status
