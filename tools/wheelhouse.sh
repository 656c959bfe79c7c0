#!/usr/bin/env bash
# `make wheelhouse`: what the GPU machine lacks for `tools/gpu_edition.sh`, the Fashion-MNIST
# files in data/fashion-mnist/ (ignored by git, carried with the run); and a check that the
# working tree plus the carried folder fit the device's 64 MiB carry limit (the GPU image
# has every package the fill imports).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
PY=${PYTHON:-python3}
data_dir=$("$PY" -c 'from alexnet_course.datafiles import find_fashion_mnist; print(find_fashion_mnist())' \
           2>/dev/null || echo /usr/share/datasets/fashion-mnist)
mkdir -p data/fashion-mnist && cp -u "$data_dir"/*-ubyte* data/fashion-mnist/
limit=$((64 * 1024 * 1024))
tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -1 | cut -f1)
carried=$(du -cb data | tail -1 | cut -f1)
echo "wheelhouse: working tree $((tree / 1048576)) MiB + carried $((carried / 1048576)) MiB of the 64 MiB limit"
[ $((tree + carried)) -le $limit ] || { echo "wheelhouse: over the carry limit" >&2; exit 1; }
