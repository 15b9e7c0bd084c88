#!/bin/sh
# Builds (Release) and runs bench/sampler: the sampler's overhead, the
# latency to memtrace-top, peak capture and file growth (bench.py says how).
# Usage: sh bench/sampler/run.sh [--rounds R] [--hours H] [--only WHAT]
# Needs Debian's python3-pandas and python3-numpy (the overhead workloads).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=ON >/dev/null
cmake --build "$root/build-bench" -j"$(nproc)" --target memtrace_python memtrace-sample memtrace-top \
    bench_sampler_growth bench_sampler_spike >/dev/null
TMPDIR=${TMPDIR:-/tmp} /usr/bin/python3 "$root/bench/sampler/bench.py" "$root/build-bench" "$@"
