#!/bin/sh
# Builds (Release) and runs bench/format. Usage: sh bench/format/run.sh [N_OBJECTS]
# Needs the zstd command line tool for the floor (apt-get install zstd).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=OFF >/dev/null
cmake --build "$root/build-bench" -j"$(nproc)" --target bench_format >/dev/null
"$root/build-bench/bench/bench_format" "${1:-10000000}" "${TMPDIR:-/tmp}"
