#!/bin/sh
# Builds the Python package and runs bench/dump_pause. Usage: sh bench/dump_pause/run.sh [--repeat R] [--objects N] [--depth D]
# Before/after a change: the same script on the two commits' builds.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=ON >/dev/null
cmake --build "$root/build-bench" -j"$(nproc)" --target memtrace_python >/dev/null
PYTHONPATH="$root/build-bench/python" /usr/bin/python3 "$root/bench/dump_pause/bench.py" "$@"
