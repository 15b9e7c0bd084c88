#!/bin/sh
# The calibration of memtrace-predict: measures both grids on this
# machine's pandas (about 3 minutes) unless told to use the stored ones,
# fits the peak models (their held-out accuracy with the true result
# shapes), then runs the memtrace-predict binary on every held-out case:
# the accuracy table of what users get. Needs a build in build/.
#   sh bench/predict/run.sh            measure again into $TMPDIR, then fit
#   sh bench/predict/run.sh --stored   fit testdata/predict/*.csv
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
export PYTHONPATH="$root/build/python"
if [ "${1:-}" = --stored ]; then
    $py "$root/bench/predict/fit.py"
    echo
    exec $py "$root/bench/predict/accuracy.py" --tool "$root/build/tools/memtrace-predict"
fi
out=$(mktemp -d)
$py "$root/bench/predict/calibrate.py" --grid train -o "$out/train.csv"
$py "$root/bench/predict/calibrate.py" --grid heldout -o "$out/heldout.csv"
$py "$root/bench/predict/summary.py" "$out/train.csv"
echo
$py "$root/bench/predict/fit.py" "$out/train.csv" "$out/heldout.csv"
echo
$py "$root/bench/predict/accuracy.py" --tool "$root/build/tools/memtrace-predict" --grid "$out/heldout.csv"
rm -rf "$out"
