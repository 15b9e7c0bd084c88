#!/bin/sh
# Builds memtrace (Release) and runs bench/fleet. Usage: sh bench/fleet/run.sh [DIR] [SCALE]
# Needs Debian's python3-distributed; about 350 MB of disk for the dumps.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=ON >/dev/null
cmake --build "$root/build-bench" -j2 >/dev/null
PYTHONPATH="$root/build-bench/python" /usr/bin/python3 "$root/bench/fleet/bench.py" "$@"
