#!/bin/sh
# CLI tests: each directory cases/TOOL/CASE (TOOL the memtrace-TOOL it is
# about, or common for what every tool shares) holds `cmd` (a shell line run in
# testdata/ with the build's tools first on PATH and $TMP a fresh
# directory), and the expected `stdout`, `stderr` (empty when absent) and
# `code` (0 when absent).
#   sh tests/cli/run.sh BUILD_DIR [TOOL | TOOL/CASE ...]
#   UPDATE=1 sh tests/cli/run.sh BUILD_DIR TOOL/CASE   writes the expected files
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
shift
root=$(cd "$here/../.." && pwd)
# Each argument is a tool's folder (all its cases) or one TOOL/CASE.
cases=
for a in ${*:-$(ls "$here/cases")}; do
    a=${a%/}
    if [ -f "$here/cases/$a/cmd" ]; then cases="$cases $a"
    elif [ -d "$here/cases/$a" ]; then for c in $(ls "$here/cases/$a"); do cases="$cases $a/$c"; done
    else echo "run.sh: no case or tool folder named $a under $here/cases" >&2; exit 2
    fi
done
pass=0
fail=0
# What a case's cmd may call besides the tools. mt_ulimit_v KB bounds the
# virtual memory of what follows, so a case proves that a hostile file is
# refused in bounded memory; a sanitizer build reserves terabytes of shadow
# memory at start, so there it bounds nothing (the release build's run and
# the fuzz replay's allocation cap check the bound).
prelude='mt_ulimit_v() { ldd "$(command -v memtrace-info)" 2>/dev/null | grep -q libasan || ulimit -v "$1"; }
'
for c in $cases; do
    dir="$here/cases/$c"
    TMP=$(mktemp -d)
    export TMP
    (cd "$root/testdata" && PATH="$build/tools:$PATH" sh -c "$prelude$(cat "$dir/cmd")" >"$TMP/.stdout" 2>"$TMP/.stderr")
    code=$?
    if [ "${UPDATE:-}" = 1 ]; then
        cp "$TMP/.stdout" "$dir/stdout"
        if [ -s "$TMP/.stderr" ]; then cp "$TMP/.stderr" "$dir/stderr"; else rm -f "$dir/stderr"; fi
        if [ $code -ne 0 ]; then echo $code >"$dir/code"; else rm -f "$dir/code"; fi
    fi
    want_code=0
    [ -f "$dir/code" ] && want_code=$(cat "$dir/code")
    ok=1
    [ "$code" = "$want_code" ] || { echo "FAIL $c: exit $code, expected $want_code"; ok=0; }
    if ! diff -u "$dir/stdout" "$TMP/.stdout" >"$TMP/.diff"; then echo "FAIL $c: stdout differs"; cat "$TMP/.diff"; ok=0; fi
    want_err=/dev/null
    [ -f "$dir/stderr" ] && want_err="$dir/stderr"
    if ! diff -u "$want_err" "$TMP/.stderr" >"$TMP/.diff"; then echo "FAIL $c: stderr differs"; cat "$TMP/.diff"; ok=0; fi
    if [ $ok = 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
    rm -rf "$TMP"
done
echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
