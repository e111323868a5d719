#!/usr/bin/env bash
# Developer build: compiles fastrnn._core into build/dev and copies it next to the Python
# sources (src/fastrnn), so `PYTHONPATH=src` (or the dev .pth) imports it without pip install.
set -euo pipefail
cd "$(dirname "$0")/.."
# The project venv when there is one: another interpreter may lack scipy-openblas32 (the
# build then silently has no BLAS).
if [[ -z "${PYTHON:-}" && -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; fi
py=${PYTHON:-python}
cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DFASTRNN_BUILD_PYTHON=ON \
  -DSKBUILD_PROJECT_NAME=fastrnn -DSKBUILD_PROJECT_VERSION=0.1.0 \
  -Dpybind11_DIR="$($py -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v $py)" "$@" >/dev/null
cmake --build build/dev
# Copy then rename: overwriting a loaded .so in place crashes processes that use it.
for so in build/dev/_core*.so; do
  cp "$so" "src/fastrnn/$(basename "$so").tmp" && mv -f "src/fastrnn/$(basename "$so").tmp" "src/fastrnn/$(basename "$so")"
done
