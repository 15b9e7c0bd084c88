"""A first fit of memtrace-predict's peak models to the calibration cases,
and their accuracy on the held-out ones: how far linear models over
shape features go when the result's shape is known.

Each operation's peak is modelled as a non-negative sum of terms (bytes
per result row, per input row, per distinct key, the result's own bytes,
a constant), fitted per model group (merge: join type and key dtype;
groupby: aggregation and key dtype; ...) by non-negative least squares on
relative error. The features use the true result shape, so the table
measures the peak models alone; memtrace-predict will feed them the
result size it estimates from key statistics.

Usage: /usr/bin/python3 bench/predict/fit.py [TRAIN.csv HELDOUT.csv]
Prints the constants per group and the accuracy table (share of held-out
cases within 10% of the measured peak)."""

import collections
import csv
import json
import os
import sys

import numpy as np
from scipy.optimize import nnls


def hashtable_bytes(size_hint):
    """pandas' khash tables (factorize, merge, groupby) are made for a
    size hint: buckets the next power of two above hint / 0.77 (at most
    2^20 + 7 from the hint), 8 bytes of key and 8 of value a bucket."""
    need = min(int(size_hint / 0.77) + 1, (1 << 20) + 7)
    buckets = 1
    while buckets < need:
        buckets *= 2
    return 16 * buckets


def col_bytes(shape, pred=lambda c: True):
    return sum(c["shallow"] for c in shape["columns"] if pred(c))


def features(row):
    """(group, names, values) of a case."""
    spec = json.loads(row["spec"])
    ins = json.loads(row["inputs"])
    res = json.loads(row["result"])
    op = spec["op"]
    R = res["rows"]
    res_bytes = col_bytes(res) + res["index_bytes"]
    obj = lambda c: c["dtype"] == "object"  # noqa: E731
    if op == "merge":
        left, right = ins["left"], ins["right"]
        key = next(c for c in left["columns"] if c["name"] == "key")
        rkey = next(c for c in right["columns"] if c["name"] == "key")
        group = (op, spec["how"], spec["key"])
        names = ["per result row", "result bytes", "per input row", "per distinct key", "hash table", "constant"]
        vals = [R, res_bytes, left["rows"] + right["rows"], key["distinct"] + rkey["distinct"],
                hashtable_bytes(max(left["rows"], right["rows"])), 1]
    elif op == "groupby":
        df = ins["df"]
        group = (op, spec["agg"] if spec["agg"] in ("size", "median") else "reduce", spec["key"])
        vcols = [c for c in df["columns"] if c["name"] != "key"]
        floats = sum(c["dtype"].startswith("float") for c in vcols)
        key = next(c for c in df["columns"] if c["name"] == "key")
        # A categorical key's codes are its factorization: no hash table,
        # a table per category instead.
        table = key["distinct"] if spec["key"] == "category" else hashtable_bytes(df["rows"])
        names = ["per row", "per row and float column", "per row and int column", "per group",
                 "per group and value column", "result bytes", "hash table or categories", "groups' hash table",
                 "constant"]
        vals = [df["rows"], df["rows"] * floats, df["rows"] * (len(vcols) - floats), R, R * len(vcols), res_bytes,
                table, hashtable_bytes(R), 1]
    elif op == "pivot_table":
        df = ins["df"]
        group = (op, spec["aggfunc"])
        observed = sum(res["rows"] - c["nulls"] for c in res["columns"])
        names = ["per row", "per cell", "per observed cell", "hash table", "constant"]
        vals = [df["rows"], R * len(res["columns"]), observed, hashtable_bytes(df["rows"]), 1]
    elif op == "concat":
        group = (op, "mismatch" if spec["mismatch"] else "aligned")
        names = ["result bytes", "result object bytes", "constant"]
        vals = [res_bytes, col_bytes(res, obj), 1]
    elif op == "sort":
        group = (op, spec["key"])
        names = ["per row", "result bytes", "constant"]
        vals = [R, res_bytes, 1]
    else:  # read_csv
        group = (op,)
        names = ["per row", "per cell", "per file byte", "result deep bytes", "constant"]
        vals = [R, R * len(res["columns"]), int(row["input_bytes"]), int(row["result_bytes"]), 1]
    return group, names, np.array(vals, dtype=float)


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    data = os.path.join(root, "testdata", "predict")
    train_path, held_path = sys.argv[1:3] if len(sys.argv) > 2 else (os.path.join(data, "train.csv"),
                                                                       os.path.join(data, "heldout.csv"))
    train, held = load(train_path), load(held_path)
    by_group = collections.defaultdict(list)
    for r in train:
        g, names, x = features(r)
        by_group[g].append((x, float(r["peak_bytes"]), names))
    coef = {}
    print("constants per model group (bytes per unit of each term)")
    for g in sorted(by_group):
        X = np.array([x for x, _, _ in by_group[g]])
        y = np.array([v for _, v, _ in by_group[g]])
        # Relative error: each case's row scaled by its own peak.
        c, _ = nnls(X / y[:, None], np.ones(len(y)))
        coef[g] = c
        names = by_group[g][0][2]
        print("  %-36s %s" % (" ".join(g), ", ".join("%s %.3g" % (n, v) for n, v in zip(names, c) if v)))
    print("\nheld-out accuracy: |predicted - measured| / measured peak")
    stats = collections.defaultdict(list)
    for r in held:
        g, _, x = features(r)
        if g not in coef:
            continue
        err = abs(x @ coef[g] - float(r["peak_bytes"])) / float(r["peak_bytes"])
        stats[r["op"]].append(err)
        stats["all"].append(err)
    print("%-12s %6s %10s %10s %10s" % ("operation", "cases", "within 10%", "median", "worst"))
    for op in sorted(stats, key=lambda o: (o == "all", o)):
        e = np.array(stats[op])
        print("%-12s %6d %9.0f%% %9.1f%% %9.1f%%" % (op, len(e), 100 * np.mean(e <= 0.10), 100 * np.median(e),
                                                   100 * e.max()))


if __name__ == "__main__":
    main()
