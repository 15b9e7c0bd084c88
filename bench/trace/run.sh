#!/bin/sh
# Builds (Release) and runs bench/trace: the tracer's overhead against
# tracemalloc, the sampled mode's accuracy against the full trace, and
# memtrace-trace on a trace of 100 million events (bench.py says how).
# Usage: sh bench/trace/run.sh [--quick] [bench.py options: --rounds R
#        --scale F --seeds K --events M --only overhead|accuracy|scale]
# --quick: 3 rounds, the workloads at half size, 3 seeds, 10 million
# events (a few minutes). BUILD=DIR builds there (default build-bench).
# Needs Debian's python3-pandas, python3-numpy, python3-msgpack and
# python3-zstandard.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build-bench}
quick=
for a do
    shift
    if [ "$a" = --quick ]; then quick=1; else set -- "$@" "$a"; fi
done
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMEMTRACE_TESTS=OFF -DMEMTRACE_PYTHON=ON >/dev/null
targets="memtrace_python"
# The tracer and the reader: built when the tree has them.
known=" $(cmake --build "$build" --target help | tr '\n' ' ') "
for t in memtrace-trace gen_trace; do
    case "$known" in *" $t "*) targets="$targets $t" ;; esac
done
cmake --build "$build" -j"$(nproc)" --target $targets >/dev/null
# Options given after --quick override its values (argparse: the last wins).
if [ -n "$quick" ]; then
    set -- --rounds 3 --scale 0.5 --seeds 3 --events 10 "$@"
fi
exec env TMPDIR="${TMPDIR:-/tmp}" /usr/bin/python3 "$root/bench/trace/bench.py" "$build" "$@"
