#!/bin/sh
# Regenerates every file under testdata/ from the build tree.
#   sh testdata/make_testdata.sh [BUILD_DIR]     (default: build)
# Needs the build's memtrace-convert, mt-fixture and Python package, and
# Debian's python3-msgpack and python3-zstandard for damage.py, and
# python3-pandas for make_frames.py.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build}" && pwd)
cd "$here"
"$build/tools/memtrace-convert" heap-small.json heap-small.snap
"$build/tests/mt-fixture" all-kinds.snap
"$build/tests/mt-fixture" --run run.snap
"$build/tests/mt-fixture" --run-cut growing/run-cut.snap
"$build/tests/mt-fixture" --trace trace.snap
"$build/tests/mt-fixture" --trace-sampled trace-sampled.snap
"$build/tests/mt-fixture" --trace-cut growing/trace-cut.snap
"$build/tests/mt-fixture" --trace-sites trace-sites.snap
"$build/tests/mt-fixture" --cells cells.snap
PYTHONPATH="$build/python" /usr/bin/python3 make_heap_medium.py heap-medium.snap
PYTHONPATH="$build/python" /usr/bin/python3 make_frames.py >/dev/null
rm -f fleet/*.snap && PYTHONPATH="$build/python" /usr/bin/python3 fleet/make_fleet.py fleet >/dev/null
/usr/bin/python3 ../tests/python/torch_snapshots.py torch
/usr/bin/python3 damage.py
/usr/bin/python3 hostile.py
echo "testdata regenerated"
