#!/bin/sh
# Builds the Python package and runs bench/heap_collect. Usage: sh bench/heap_collect/run.sh [--repeat R] [N ...]
# Needs Debian's python3-objgraph for the objgraph column.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=ON >/dev/null
cmake --build "$root/build-bench" -j"$(nproc)" --target memtrace_python >/dev/null
PYTHONPATH="$root/build-bench/python" /usr/bin/python3 "$root/bench/heap_collect/bench.py" "$@"
