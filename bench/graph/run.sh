#!/bin/sh
# Builds (Release) and runs bench/graph. Usage: sh bench/graph/run.sh [N_BIG] [N_SMALL]
# Needs Debian's python3-networkx, python3-msgpack and python3-zstandard.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=OFF >/dev/null
cmake --build "$root/build-bench" -j"$(nproc)" --target bench_graph >/dev/null
TMPDIR=${TMPDIR:-/tmp} /usr/bin/python3 "$root/bench/graph/bench.py" "$root/build-bench/bench/bench_graph" "$@"
