#!/usr/bin/env bash
# Prepare what the GPU machine lacks for `tools/gpu_edition.sh`: wheels in .whl/ and the
# Fashion-MNIST files in data/fashion-mnist/ (both ignored by git; carried with the run).
# Adapted from ../shared/device/wheelhouse.sh: versions from requirements.lock, myst-nb
# (glue) without its Sphinx dependencies, and the size checked against the 64 MiB limit.
#
#   bash tools/wheelhouse.sh        # or: make wheelhouse
#
# The GPU image (Python 3.12) already has torch, torchvision, numpy, pandas, scipy,
# matplotlib, scikit-image, tqdm, psutil, pytest, pyyaml, requests, jinja2, pygments,
# packaging, attrs, click: those are not downloaded (two versions of one package stop the
# install there). torch is never carried: its wheel alone is larger than what may travel.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
PY=${PYTHON:-python3}
plat=(--only-binary=:all: --python-version 3.12 --implementation cp
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform any)
rm -rf .whl && mkdir -p .whl
# papermill and the kernel, with their dependencies, at the locked versions
grep -v '^\(torch\|torchvision\|nvidia\|triton\)' requirements.lock > .whl/constraints.txt
"$PY" -m pip download -q "${plat[@]}" -c .whl/constraints.txt -d .whl \
  papermill nbval ipykernel ipywidgets nbclient nbformat
# glue (myst_nb.glue) needs only myst-nb itself and docutils, not Sphinx
"$PY" -m pip download -q "${plat[@]}" --no-deps -c .whl/constraints.txt -d .whl myst-nb docutils
rm -f .whl/constraints.txt
for p in attrs certifi charset_normalizer click coverage idna iniconfig packaging pluggy psutil \
         pygments pytest python_dateutil PyYAML pyyaml requests tqdm urllib3 six jinja2 \
         MarkupSafe markupsafe numpy matplotlib pandas scipy torch torchvision pillow \
         typing_extensions setuptools filelock fsspec networkx sympy mpmath; do
  rm -f .whl/${p}-[0-9]*.whl
done
data_dir=$("$PY" - <<'EOF' 2>/dev/null || true
import sys; sys.path.insert(0, ".")
from alexnet_course.datafiles import find_fashion_mnist
print(find_fashion_mnist())
EOF
)
data_dir=${data_dir:-/usr/share/datasets/fashion-mnist}
mkdir -p data/fashion-mnist && cp -u "$data_dir"/*-ubyte* data/fashion-mnist/
"$PY" -m tools.gpu_edition carry .whl data
