"""memtrace-predict against real pandas: every case of a calibration grid
(by default the held-out one, which the fit never saw) is built again from
its spec, recorded with memtrace.dump_frames (keys as a user would name
them), predicted by the memtrace-predict binary, and compared with the
peak, result bytes and result rows pandas gave when the case was measured.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/predict/accuracy.py \
           [--tool build/tools/memtrace-predict] [--grid testdata/predict/heldout.csv] [--every N]
           [--min-peak-share P --min-result-share R]
Prints the accuracy table: per operation, the share of cases whose peak is
within 10% and whose result bytes are within 5%, with median and worst
errors. With --min-*-share, exits 1 when the shares over all cases fall
below them (the CI check uses looser bounds than the target)."""

import argparse
import collections
import csv
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import calibrate  # noqa: E402
import memtrace  # noqa: E402

KEYS = {"merge": ["key"], "groupby": ["key"], "pivot_table": ["i", "c"], "sort": ["a"]}


def tool_args(spec, snap, csv_path):
    op = spec["op"]
    if op == "merge":
        return ["--op", "merge", "--shapes", snap, "--left", "left", "--right", "right", "--on", "key",
                "--how", spec["how"]]
    if op == "groupby":
        a = ["--op", "groupby", "--shapes", snap, "--frame", "df", "--by", "key", "--agg", spec["agg"]]
        if spec["key"] == "category" and spec["observed"]:
            a.append("--observed")
        return a
    if op == "pivot_table":
        return ["--op", "pivot_table", "--shapes", snap, "--frame", "df", "--index", "i", "--columns", "c",
                "--values", "v", "--aggfunc", spec["aggfunc"]]
    if op == "concat":
        return ["--op", "concat", "--shapes", snap, "--frames", ",".join("f%d" % i for i in range(spec["frames"]))]
    if op == "sort":
        return ["--op", "sort", "--shapes", snap, "--frame", "df", "--by", ",".join(spec["by"])]
    return ["--op", "read_csv", "--csv", csv_path]


def predict(tool, spec, tmp):
    inputs = calibrate.make_inputs(spec)
    try:
        snap = os.path.join(tmp, "case.snap")
        frames = {k: v for k, v in inputs.items() if not isinstance(v, str)}
        if frames:
            memtrace.dump_frames(snap, frames, keys=KEYS.get(spec["op"], []))
        out = subprocess.run([tool, "--format", "json", "--available", "1TiB"] + tool_args(spec, snap, inputs.get("csv")),
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("memtrace-predict failed (%d): %s" % (out.returncode, out.stderr))
        return json.loads(out.stdout)
    finally:
        if "csv" in inputs:
            os.unlink(inputs["csv"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tool", default=os.path.join(ROOT, "build", "tools", "memtrace-predict"))
    ap.add_argument("--grid", default=os.path.join(ROOT, "testdata", "predict", "heldout.csv"))
    ap.add_argument("--every", type=int, default=1, help="every N-th case only (a quicker run)")
    ap.add_argument("--min-peak-share", type=float, default=0.0)
    ap.add_argument("--min-result-share", type=float, default=0.0)
    ap.add_argument("--worst", type=int, default=0, help="list the N worst peak predictions")
    a = ap.parse_args()
    with open(a.grid, newline="") as f:
        rows = list(csv.DictReader(f))[::a.every]
    peak_err = collections.defaultdict(list)
    res_err = collections.defaultdict(list)
    worst = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, r in enumerate(rows):
            spec = json.loads(r["spec"])
            p = predict(a.tool, spec, tmp)
            pe = (p["peak_bytes"] - int(r["peak_bytes"])) / int(r["peak_bytes"])
            re = (p["result_bytes"] - int(r["result_bytes"])) / int(r["result_bytes"])
            for k in (r["op"], "all"):
                peak_err[k].append(abs(pe))
                res_err[k].append(abs(re))
            worst.append((abs(pe), pe, re, r["op"], spec))
            if sys.stderr.isatty():
                print("\r%d/%d cases" % (i + 1, len(rows)), end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    pandas_version = rows[0]["pandas"] if rows else "?"
    print("memtrace-predict on %s (%d cases, measured on pandas %s)" % (os.path.basename(a.grid), len(rows),
                                                                        pandas_version))
    print("%-12s %6s %12s %10s %10s %14s %10s" % ("operation", "cases", "peak +-10%", "median", "worst",
                                                  "result +-5%", "worst"))
    for op in sorted(peak_err, key=lambda o: (o == "all", o)):
        pe, re = sorted(peak_err[op]), sorted(res_err[op])
        print("%-12s %6d %11.0f%% %9.1f%% %9.1f%% %13.0f%% %9.1f%%" % (
            op, len(pe), 100 * sum(e <= 0.10 for e in pe) / len(pe), 100 * pe[len(pe) // 2], 100 * pe[-1],
            100 * sum(e <= 0.05 for e in re) / len(re), 100 * re[-1]))
    for _, pe, re, op, spec in sorted(worst, key=lambda w: -w[0])[:a.worst]:
        print("peak %+6.1f%% result %+6.1f%% %s %s" % (100 * pe, 100 * re, op,
                                                     {k: v for k, v in spec.items() if k not in ("op", "seed")}))
    shares = (sum(e <= 0.10 for e in peak_err["all"]) / len(peak_err["all"]),
              sum(e <= 0.05 for e in res_err["all"]) / len(res_err["all"]))
    if shares[0] < a.min_peak_share or shares[1] < a.min_result_share:
        print("FAIL: %.0f%% of peaks within 10%% (need %.0f%%), %.0f%% of results within 5%% (need %.0f%%)" % (
            100 * shares[0], 100 * a.min_peak_share, 100 * shares[1], 100 * a.min_result_share))
        sys.exit(1)


if __name__ == "__main__":
    main()
