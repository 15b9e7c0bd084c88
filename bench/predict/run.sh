#!/bin/sh
# The calibration of memtrace-predict: measures both grids on this
# machine's pandas (about 3 minutes) unless told to use the stored ones,
# then fits the peak models and prints their held-out accuracy.
#   sh bench/predict/run.sh            measure again into $TMPDIR, then fit
#   sh bench/predict/run.sh --stored   fit testdata/predict/*.csv
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
if [ "${1:-}" = --stored ]; then
    exec $py "$root/bench/predict/fit.py"
fi
out=$(mktemp -d)
$py "$root/bench/predict/calibrate.py" --grid train -o "$out/train.csv"
$py "$root/bench/predict/calibrate.py" --grid heldout -o "$out/heldout.csv"
$py "$root/bench/predict/summary.py" "$out/train.csv"
echo
$py "$root/bench/predict/fit.py" "$out/train.csv" "$out/heldout.csv"
rm -rf "$out"
