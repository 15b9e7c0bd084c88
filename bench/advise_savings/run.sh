#!/bin/sh
# Promised against measured savings of memtrace-advise: realistic frames
# read with read_csv (and one built with concat) and a five-step pipeline
# (read_csv -> clean -> merge -> groupby -> pivot_table); each advised
# change applied with pandas under tracemalloc, the old frame dropped.
# Usage: sh bench/advise_savings/run.sh [ROWS]   (default 1000000)
# Needs Debian's python3-pandas; about 2 GB of memory at the default size.
# MEMTRACE_BUILD=DIR uses a build tree already made instead of building one.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${MEMTRACE_BUILD:-}
if [ -z "$build" ]; then
    build="$root/build-bench"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=ON >/dev/null
    cmake --build "$build" -j"$(nproc)" --target memtrace_python memtrace-advise memtrace-frames >/dev/null
fi
MEMTRACE_BUILD="$build" PYTHONPATH="$build/python:$root/tests/python" /usr/bin/python3 \
    "$root/bench/advise_savings/bench.py" "$@"
