"""What the calibration cases say before any model: each operation's
measured memory multipliers (peak over input, peak over result), grouped
by the parameters a model will have to tell apart.

Usage: /usr/bin/python3 bench/predict/summary.py [testdata/predict/train.csv]"""

import collections
import csv
import json
import os
import statistics
import sys

GROUPING = {
    "merge": ("how", "relation", "key"),
    "groupby": ("key", "agg"),
    "pivot_table": ("aggfunc",),
    "concat": ("mismatch",),
    "sort": ("key",),
    "read_csv": ("cols",),
}


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "testdata", "predict", "train.csv")
    groups = collections.defaultdict(list)
    for r in csv.DictReader(open(path, newline="")):
        spec = json.loads(r["spec"])
        key = (r["op"],) + tuple(str(spec.get(k)) for k in GROUPING[r["op"]])
        peak, inp, res = int(r["peak_bytes"]), int(r["input_bytes"]), int(r["result_bytes"])
        groups[key].append((peak / inp, peak / res if res else float("nan")))
    print("%-44s %5s %22s %22s" % ("case group", "n", "peak/input min..max", "peak/result min..max"))
    for key in sorted(groups):
        v = groups[key]
        a = [x for x, _ in v]
        b = [y for _, y in v]
        print("%-44s %5d %7.2f %5.2f..%-6.2f %7.2f %5.2f..%-6.2f" % (
            " ".join(key), len(v), statistics.median(a), min(a), max(a), statistics.median(b), min(b), max(b)))


if __name__ == "__main__":
    main()
