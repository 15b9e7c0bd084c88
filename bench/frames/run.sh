#!/bin/sh
# Builds the Python package (Release) and runs bench/frames. Usage: sh bench/frames/run.sh [GB]
# Needs Debian's python3-pandas; about 3 GB of memory for the default 1 GB frame.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=ON >/dev/null
cmake --build "$root/build-bench" -j"$(nproc)" --target memtrace_python >/dev/null
PYTHONPATH="$root/build-bench/python" /usr/bin/python3 "$root/bench/frames/bench.py" "$@"
