#!/bin/sh
# Builds (Release) and runs bench/leaks. Usage: sh bench/leaks/run.sh [SNAPSHOTS] [OBJECTS]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=OFF >/dev/null
cmake --build "$root/build-bench" -j"$(nproc)" --target bench_leaks >/dev/null
"$root/build-bench/bench/bench_leaks" "${1:-10}" "${2:-1000000}" "${TMPDIR:-/tmp}"
