"""A prototype of memtrace-predict's join-size estimate, from nothing but
what memtrace.dump_frames records of the two key columns (rows, nulls,
distinct values, the 20 most common values, the kmv sketch), checked
against the merges of the calibration grids.

Estimate, per side: top values are known exactly; every other value is
assumed to occur its side's average of the rest. The values both sides
share come from the kmv sketches (Beyer et al.). pandas joins missing keys
to missing keys.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/predict/cardinality.py [GRID.csv]
Prints, per join type, the share of cases whose estimated result rows are
within 5% of pandas' own."""

import collections
import csv
import json
import os
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
import calibrate  # noqa: E402
import memtrace  # noqa: E402
import spec_reader  # noqa: E402


def key_stats(path, frame_name):
    """The recorded statistics of frame_name's column "key"."""
    snap = spec_reader.Snapshot(path)
    frame = next(f for f in snap.of("df_frames") if f["name"] == frame_name)
    col = next(c for c in snap.of("df_columns") if c["frame"] == frame["id"] and c["name"] == "key")
    top = {repr(v["value"]): v["count"] for v in snap.of("df_values")
           if v["frame"] == frame["id"] and v["position"] == col["position"]}
    sk = next(s["data"] for s in snap.of("df_sketches") if s["frame"] == frame["id"] and s["position"] == col["position"])
    hashes = list(struct.unpack("<%dQ" % (len(sk) // 8), sk))
    return {"rows": frame["rows"], "nulls": col["null_count"], "distinct": col["distinct_count"], "top": top,
            "sketch": hashes, "full": col["distinct_count"] > len(hashes)}


def shared_distinct(a, b):
    """Distinct non-null values in both columns, from their kmv sketches."""
    sa, sb = set(a["sketch"]), set(b["sketch"])
    if not a["full"] and not b["full"]:
        return len(sa & sb)
    k = min(len(a["sketch"]), len(b["sketch"]))
    union = sorted(sa | sb)[:k]
    jaccard = sum(1 for h in union if h in sa and h in sb) / k
    union_distinct = (k - 1) / (union[k - 1] / 2.0 ** 64)
    return jaccard * union_distinct


def join_rows(L, R, how):
    both = shared_distinct(L, R)
    tl, tr = L["top"], R["top"]

    def rest_avg(s):
        n = s["rows"] - s["nulls"] - sum(s["top"].values())
        d = s["distinct"] - len(s["top"])
        return n / d if d > 0 else 0.0

    aL, aR = rest_avg(L), rest_avg(R)
    pL = both / L["distinct"] if L["distinct"] else 0  # an L value is in R
    pR = both / R["distinct"] if R["distinct"] else 0  # an R value is in L
    inner = matched_l = matched_r = 0.0
    shared_top = 0.0
    for v in set(tl) | set(tr):
        if v in tl and v in tr:
            fl, fr, share = tl[v], tr[v], 1.0
        elif v in tl:
            fl, fr, share = tl[v], aR, pL
        else:
            fl, fr, share = aL, tr[v], pR
        inner += share * fl * fr
        matched_l += share * fl
        matched_r += share * fr
        shared_top += share
    rest = max(both - shared_top, 0.0)
    inner += rest * aL * aR
    matched_l += rest * aL
    matched_r += rest * aR
    inner += L["nulls"] * R["nulls"]
    unmatched_l = L["rows"] - matched_l - (L["nulls"] if R["nulls"] else 0)
    unmatched_r = R["rows"] - matched_r - (R["nulls"] if L["nulls"] else 0)
    return {"inner": inner, "left": inner + unmatched_l, "right": inner + unmatched_r,
            "outer": inner + unmatched_l + unmatched_r}[how]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "testdata", "predict", "heldout.csv")
    errs = collections.defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        snap = os.path.join(tmp, "inputs.snap")
        for row in csv.DictReader(open(path, newline="")):
            if row["op"] != "merge":
                continue
            spec = json.loads(row["spec"])
            memtrace.dump_frames(snap, calibrate.make_inputs(spec), keys=["key"])
            est = join_rows(key_stats(snap, "left"), key_stats(snap, "right"), spec["how"])
            err = abs(est - int(row["result_rows"])) / int(row["result_rows"])
            errs[spec["how"]].append(err)
            errs["all"].append(err)
            if err > 0.05:
                print("%5.1f%%  %s rows %s, estimated %.0f" % (100 * err, {k: spec[k] for k in spec if k != "op"},
                                                           row["result_rows"], est))
    print("%-8s %6s %10s %8s" % ("how", "cases", "within 5%", "worst"))
    for how in ("inner", "left", "right", "outer", "all"):
        e = errs[how]
        print("%-8s %6d %9.0f%% %7.1f%%" % (how, len(e), 100 * sum(x <= 0.05 for x in e) / len(e), 100 * max(e)))


if __name__ == "__main__":
    main()
