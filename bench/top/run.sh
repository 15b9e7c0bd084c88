#!/bin/sh
# Builds memtrace-top and the Python package (Release) and runs bench/top:
# the time from a point being flushed to `memtrace-top --once` showing it.
# Usage: sh bench/top/run.sh [MINUTES]   (default 10: a sampler's point tier)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=ON >/dev/null
cmake --build "$root/build-bench" -j"$(nproc)" --target memtrace_python memtrace-top >/dev/null
PYTHONPATH="$root/build-bench/python" /usr/bin/python3 "$root/bench/top/bench.py" \
    "$root/build-bench/tools/memtrace-top" "$@"
