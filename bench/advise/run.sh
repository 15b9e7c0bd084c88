#!/bin/sh
# Builds memtrace-advise and the Python package (Release) and runs
# bench/advise. Usage: sh bench/advise/run.sh [ROWS]   (default 1000000)
# Needs Debian's python3-pandas; about 2 GB of memory at the default size.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=ON >/dev/null
cmake --build "$root/build-bench" -j"$(nproc)" --target memtrace_python memtrace-advise >/dev/null
PYTHONPATH="$root/build-bench/python:$root/tests/python" /usr/bin/python3 "$root/bench/advise/bench.py" \
    "$root/build-bench/tools/memtrace-advise" "$@"
