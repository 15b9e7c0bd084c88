#!/usr/bin/env bash
# bench/gpu/nvml_check.sh: memtrace-sample's GPU series against the driver,
# on a machine with an NVIDIA GPU (memtrace issue 23, point 3).
#
# Builds memtrace-sample (cmake, no Python, no tests) and cuda_alloc.c,
# then cuda_alloc allocates known sizes on GPU 0 through the CUDA driver
# API (256 MiB, then 1 GiB and 2 GiB more, then frees them) while
# memtrace-sample samples it every 100 ms. At each step it asks
# nvidia-smi --query-gpu=memory.used and --query-compute-apps, and once
# done prints a table: step, allocated, nvidia-smi used, memtrace
# gpu0.used (and gpu0.driver_reserved), the process's gpu0.pid.PID, and their
# differences. Then it checks, and says FAIL with the reason (exit 1) or
# PASS (exit 0):
#   - gpu0.used within TOL of nvidia-smi's memory.used at each step
#     (either used or used - reserved: which one nvidia-smi shows varies
#     by driver; the table says which matched);
#   - gpu0.pid.PID minus its value at the context step within TOL of
#     what was allocated, and back at the context's after the frees;
#   - a gpu0.used point for at least 80% of the rss points (10 Hz holds).
# Then bench_nvml_poll times one poll of the real driver.
#
# Usage: bench/gpu/nvml_check.sh   (about a minute; under 3 with the build)
# bench/gpu/dryrun.sh runs it here against fakes of the driver.
# Environment: MEMTRACE_BUILD=DIR  a build to use instead of building one
#              (where the machine lacks libzstd-dev, msgpack or libyaml-dev:
#              build here into an ignored folder of the checkout, carry it,
#              point MEMTRACE_BUILD at it; the binaries need libzstd.so.1)
#              NVML_CHECK_DIR=DIR  where to work (default: a new /tmp dir)
#              NVML_CHECK_TOL_MIB  the tolerance (default 64)
set -u -o pipefail

fail() {
    echo "nvml_check: FAIL: $*" >&2
    exit 1
}
say() { echo "nvml_check: $*" >&2; }

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${NVML_CHECK_DIR:-$(mktemp -d /tmp/nvml-check.XXXXXX)}
mkdir -p "$WORK" || fail "cannot make $WORK"
TOL=${NVML_CHECK_TOL_MIB:-64}
MiB=1048576

# 1. The machine: a driver, a GPU, libcuda.
command -v nvidia-smi >/dev/null 2>&1 ||
    fail "no nvidia-smi on PATH: this check needs a machine with an NVIDIA GPU and its driver"
nvidia-smi -L >"$WORK/gpus.txt" 2>&1 || fail "nvidia-smi finds no GPU: $(head -1 "$WORK/gpus.txt")"
say "$(head -1 "$WORK/gpus.txt"), driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)"
CC=${CC:-cc}
"$CC" -O2 -Wall -o "$WORK/cuda_alloc" "$ROOT/bench/gpu/cuda_alloc.c" -ldl || fail "cannot compile cuda_alloc.c with $CC"
"$WORK/cuda_alloc" --probe || fail "libcuda.so.1 cannot be loaded or initialized (cuda_alloc --probe said why above)"

# 2. memtrace-sample.
if [ -n "${MEMTRACE_BUILD:-}" ]; then
    B=$MEMTRACE_BUILD
else
    B=$WORK/build
    say "building memtrace in $B"
    cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEMTRACE_PYTHON=OFF -DMEMTRACE_TESTS=OFF \
        >"$WORK/cmake.log" 2>&1 ||
        fail "cmake configure failed (a missing -dev package? or set MEMTRACE_BUILD): $(grep -m1 -i 'error\|needs' "$WORK/cmake.log")"
    cmake --build "$B" -j"$(nproc)" --target memtrace-sample memtrace-export bench_nvml_poll >"$WORK/build.log" 2>&1 ||
        fail "build failed: $(grep -m1 -i 'error' "$WORK/build.log")"
fi
SAMPLE=$B/tools/memtrace-sample
EXPORT=$B/tools/memtrace-export
[ -x "$SAMPLE" ] && [ -x "$EXPORT" ] || fail "no memtrace-sample or memtrace-export in $B/tools"

# 3. The run: cuda_alloc steps, memtrace-sample on it, nvidia-smi at each step.
now_ns() { date +%s%N; }
coproc ALLOC { exec timeout 120 "$WORK/cuda_alloc" 256 1024 2048 2>"$WORK/cuda_alloc.err"; }
APID=$ALLOC_PID
# Our own copies: bash closes the coproc's once it has exited.
exec {AOUT}<&"${ALLOC[0]}" {AIN}>&"${ALLOC[1]}"
IFS= read -r -t 60 line <&$AOUT || fail "cuda_alloc said nothing: $(cat "$WORK/cuda_alloc.err")"
set -- $line
[ "$1" = pid ] || fail "cuda_alloc said '$line'"
PID=$2
RUN=$WORK/run.snap
unset MEMTRACE_NVML_LIB # the default library, as a user gets it
"$SAMPLE" -q -i 100 --duration 150 -o "$RUN" -p "$PID" 2>"$WORK/sample.err" &
SAMPLER=$!
: >"$WORK/steps.txt"
while IFS= read -r -t 60 line <&$AOUT; do
    set -- $line
    [ "$1" = step ] || fail "cuda_alloc said '$line'"
    sleep 1 # several samples at this step
    t=$(now_ns)
    smi=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0) || fail "nvidia-smi --query-gpu failed"
    apps=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits -i 0 | tr -d ' ' | tr '\n' ';')
    echo "$2 $3 $t $smi $apps" >>"$WORK/steps.txt"
    sleep 0.3
    echo next >&$AIN 2>/dev/null
done
exec {AIN}>&-
wait "$APID" 2>/dev/null
rc=$?
[ $rc -eq 0 ] || fail "cuda_alloc exited $rc: $(cat "$WORK/cuda_alloc.err")"
wait "$SAMPLER"
rc=$?
[ $rc -eq 0 ] || fail "memtrace-sample exited $rc: $(cat "$WORK/sample.err")"
[ "$(wc -l <"$WORK/steps.txt")" -eq 5 ] || fail "cuda_alloc took $(wc -l <"$WORK/steps.txt") steps, not 5"

# 4. The file read back, the table and the checks.
"$EXPORT" -t csv -k samples -o "$WORK/samples.csv" "$RUN" || fail "memtrace-export cannot read $RUN"
"$EXPORT" -t csv -k meta -o "$WORK/meta.csv" "$RUN" || fail "memtrace-export cannot read the meta of $RUN"
awk -F, -v pid="$PID" -v tol="$TOL" -v MiB="$MiB" -v stepsf="$WORK/steps.txt" '
FILENAME ~ /meta.csv$/ { if ($2 == "start_time") start = $3; next }
FNR == 1 { next }
{
    s = $3; t = $2 + 0; v = $4 + 0
    if (s == "rss") nrss++
    if (s == "gpu0.used" || s == "gpu0.driver_reserved" || s == ("gpu0.pid." pid)) { n[s]++; T[s, n[s]] = t; V[s, n[s]] = v }
}
function at(s, when,   i, best, bd, d) {   # the point of s nearest when (ns since start)
    best = -1; bd = -1
    for (i = 1; i <= n[s]; i++) { d = T[s, i] - when; if (d < 0) d = -d; if (bd < 0 || d < bd) { bd = d; best = V[s, i] } }
    return best
}
function abs(x) { return x < 0 ? -x : x }
END {
    bad = 0
    if (!n["gpu0.used"]) { print "FAIL: no gpu0.used series: memtrace-sample found no NVML (libnvidia-ml.so.1)"; exit 1 }
    if (!n["gpu0.pid." pid]) print "FAIL: no gpu0.pid." pid " series (NVML listed: see compute-apps below; another pid namespace?)"
    printf "%-8s %10s %10s %12s %12s %12s %10s %12s  %s\n", "step", "alloc MiB", "smi MiB", "gpu0.used", "drv_resvd", "pid MiB", "used-smi", "pid-ctx-alloc", "nvidia-smi compute-apps"
    k = 0
    while ((getline line < stepsf) > 0) {
        split(line, f, " "); k++
        when = f[3] - start
        used = at("gpu0.used", when) / MiB; resv = n["gpu0.driver_reserved"] ? at("gpu0.driver_reserved", when) / MiB : 0
        p = n["gpu0.pid." pid] ? at("gpu0.pid." pid, when) / MiB : -1
        if (k == 1) ctx = p
        alloc = f[2] / MiB; smi = f[4] + 0
        d1 = used - smi; d2 = used - resv - smi
        dp = p - ctx - alloc
        printf "%-8s %10.0f %10.0f %12.1f %12.1f %12.1f %10.1f %12.1f  %s\n", f[1], alloc, smi, used, resv, p, d1, dp, f[5]
        if (abs(d1) <= tol) m1++
        if (n["gpu0.driver_reserved"] && abs(d2) <= tol) m2++
        if (abs(d1) > tol && !(n["gpu0.driver_reserved"] && abs(d2) <= tol)) { print "FAIL: step " f[1] ": gpu0.used " used " MiB against nvidia-smi " smi " MiB"; bad = 1 }
        if (p >= 0 && abs(dp) > tol) { print "FAIL: step " f[1] ": gpu0.pid." pid " rose " p - ctx " MiB from the context step, " alloc " MiB allocated"; bad = 1 }
    }
    print "nvidia-smi memory.used matched gpu0.used at " m1 + 0 " steps, gpu0.used - gpu0.driver_reserved at " m2 + 0 " (of " k ")"
    if (n["gpu0.used"] < 0.8 * nrss) { print "FAIL: " n["gpu0.used"] " gpu0.used points for " nrss " rss points"; bad = 1 }
    else print n["gpu0.used"] " gpu0.used points for " nrss " rss points"
    if (!n["gpu0.pid." pid]) bad = 1
    exit bad
}' "$WORK/meta.csv" "$WORK/samples.csv" | tee "$WORK/table.txt"
ok=$? # pipefail: awk's status

# 5. What one poll of this driver costs.
if [ -x "$B/bench/bench_nvml_poll" ]; then
    "$B/bench/bench_nvml_poll" - 200 2>&1 | sed 's/^/bench_nvml_poll: /' || say "bench_nvml_poll failed"
fi
[ "$ok" -eq 0 ] || fail "see the table above; files in $WORK"
echo "nvml_check: PASS (files in $WORK)"
