#!/bin/sh
# `cmake --install` puts the tools, the man pages and the Python package
# under the prefix, and what it installed works from there.
# Usage: check_install.sh BUILD_DIR SOURCE_DIR [no-import]
set -eu
build=$1
src=$2
import=${3:-import}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
fail=0
for f in bin/memtrace-info bin/memtrace-convert share/man/man1/memtrace-info.1 share/man/man1/memtrace-convert.1 \
         share/man/man5/memtrace-snap.5 share/man/man3/memtrace.3; do
    [ -f "$prefix/$f" ] || { echo "FAIL: $f was not installed"; fail=1; }
done
"$prefix/bin/memtrace-info" "$src/testdata/heap-small.snap" >/dev/null || { echo "FAIL: installed memtrace-info"; fail=1; }
if [ -d "$build/python" ]; then
    pkg=$(find "$prefix" -name __init__.py -path '*memtrace*' | head -1)
    [ -n "$pkg" ] || { echo "FAIL: the Python package was not installed"; fail=1; }
    [ -z "$pkg" ] || [ "$import" = no-import ] || PYTHONPATH=$(dirname "$(dirname "$pkg")") /usr/bin/python3 -c "import memtrace; memtrace.Writer" \
        || { echo "FAIL: the installed package does not import"; fail=1; }
fi
[ $fail -eq 0 ] && echo "install: 1 passed, 0 failed"
exit $fail
