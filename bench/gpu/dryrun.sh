#!/usr/bin/env bash
# bench/gpu/dryrun.sh BUILD: runs nvml_check.sh here, without a GPU,
# against fakes: libcuda.so.1 (fake_cuda.c), nvidia-smi (a script) and
# the test suite's libnvidia-ml.so.1 (BUILD/tests/fake_nvml), all three
# agreeing on one process's memory through a state file. It shows that
# the check's plumbing, table and verdicts work before a GPU is lent;
# the numbers are the fakes'. BUILD: a memtrace build with its tests.
set -eu -o pipefail
B=$(cd "${1:?usage: bench/gpu/dryrun.sh BUILD}" && pwd)
[ -e "$B/tests/fake_nvml/libnvidia-ml.so.1" ] || { echo "dryrun: no $B/tests/fake_nvml/libnvidia-ml.so.1: build the tests" >&2; exit 1; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=$(mktemp -d /tmp/nvml-dryrun.XXXXXX)
${CC:-cc} -shared -fPIC -O2 -o "$D/libcuda.so.1" "$ROOT/bench/gpu/fake_cuda.c"
cat >"$D/nvidia-smi" <<'SMI'
#!/bin/sh
# The fake's used memory: 1 GiB (the fake NVML's device 0) and the process's.
state=$(cat "$FAKE_CUDA_STATE" 2>/dev/null || echo 0:0:0)
pid=${state#*:}; pid=${pid%%:*}; bytes=${state##*:}
case "$*" in
-L) echo "GPU 0: Fake GPU (UUID: GPU-fake)" ;;
*driver_version*) echo "0.0 (fake)" ;;
*query-gpu=memory.used*) echo $((1024 + bytes / 1048576)) ;;
*query-compute-apps*) [ "$pid" != 0 ] && echo "$pid, $((bytes / 1048576))" ;;
esac
exit 0
SMI
chmod +x "$D/nvidia-smi"
export PATH="$D:$PATH" LD_LIBRARY_PATH="$D:$B/tests/fake_nvml${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export FAKE_CUDA_STATE="$D/state" FAKE_NVML_PROCS_FILE="$D/state" FAKE_NVML_DEVICES=1
MEMTRACE_BUILD=$B NVML_CHECK_DIR="$D/check" "$ROOT/bench/gpu/nvml_check.sh"
