#!/bin/sh
# Builds the Python package (Release) and runs bench/notebook: the
# recorder's cost per cell and on a notebook of 1 s cells, against the same
# notebooks in a kernel without it (the baseline, measured in the same run),
# and how close the recorded peak of a 300 ms spike comes to its size.
# Usage: sh bench/notebook/run.sh [CELLS]   (default 200 empty cells)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=ON >/dev/null
cmake --build "$root/build-bench" -j"$(nproc)" --target memtrace_python >/dev/null
PYTHONPATH="$root/build-bench/python" /usr/bin/python3 "$root/bench/notebook/bench.py" "$root/build-bench" "$@"
