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

import argparse
import collections
import csv
import json
import os
import sys

import numpy as np
from scipy.optimize import nnls


def hashtable_bytes(size_hint, n_keys=None, key_bytes=8):
    """pandas' khash tables (factorize, merge, groupby) are made for a
    size hint and then hold n_keys distinct keys (the hint when not
    given): the smallest power of two of buckets, at least 4, whose upper
    bound int(buckets * 0.77 + 0.5) holds the hint (capped at 2^20 + 7),
    doubled while the keys pass the upper bound; a bucket holds a key, an
    8-byte value and a flag bit (in 32-bit words, at least one), and the
    table a 40-byte header. The C twin is mt__pandas_hashtable_bytes
    (libanalyze/src/frames/pandas_model.c); keep the two in step."""
    n_keys = size_hint if n_keys is None else n_keys
    upper = lambda b: int(b * 0.77 + 0.5)  # noqa: E731
    need = 1
    while need < size_hint:
        need *= 2
    if upper(need) < size_hint:
        need *= 2
    need = min(need, (1 << 20) + 7)
    buckets = 4
    while buckets < need:
        buckets *= 2
    while upper(buckets) < n_keys:
        buckets *= 2
    return 40 + 4 * max(buckets // 32, 1) + buckets * (key_bytes + 8)


def vector_bytes(n, growth):
    """pandas' hash-table vectors (the uniques of factorize) start at 128
    items and grow by a factor (4 for numbers, 2 for objects); 8 bytes an
    item."""
    cap = 128
    while cap < n:
        cap *= growth
    return 8 * cap


def col_bytes(shape, pred=lambda c: True):
    return sum(c["shallow"] for c in shape["columns"] if pred(c))


def features(row):
    """(group, phase, names, values) of a case. The peak is modelled as
    max(a0 * phase + a1, values . b): phase is the bytes of the phase that
    pandas' own code puts at the peak where it is known (0 where it is
    not), and the second term a non-negative sum of the other terms.
    memtrace-predict computes the same from recorded shapes
    (libanalyze/src/predict/predict.c); keep the two in step."""
    spec = json.loads(row["spec"])
    ins = json.loads(row["inputs"])
    res = json.loads(row["result"])
    op = spec["op"]
    R = res["rows"]
    res_bytes = col_bytes(res) + res["index_bytes"]
    obj = lambda c: c["dtype"] == "object"  # noqa: E731
    phase = 0.0
    if op == "merge":
        left, right = ins["left"], ins["right"]
        key = next(c for c in left["columns"] if c["name"] == "key")
        rkey = next(c for c in right["columns"] if c["name"] == "key")
        group = (op, spec["how"], "category" if key["dtype"] == "category" else
                 "object" if key["dtype"] == "object" else "number")
        names = ["per result row", "result bytes", "per input row", "per distinct key", "hash table", "constant"]
        vals = [R, res_bytes, left["rows"] + right["rows"], key["distinct"] + rkey["distinct"],
                hashtable_bytes(max(left["rows"], right["rows"]), key["distinct"] + rkey["distinct"]), 1]
    elif op == "groupby":
        df = ins["df"]
        n = df["rows"]
        key = next(c for c in df["columns"] if c["name"] == "key")
        cat = key["dtype"] == "category"
        agg = spec["agg"]
        group = (op, agg if agg in ("size", "median") else "reduce", "category" if cat else "other")
        V = 0 if agg == "size" else len(df["columns"]) - 1
        kb = key.get("code_bytes", 8)
        # The factorize phase: the value columns taken (copied) first, a
        # hash table sized for every row keyed by the key (a categorical
        # with observed=True: by its codes), the codes, the uniques.
        phase = 8 * n * V
        if cat:
            # observed=True finds the codes in use with a hash table; then
            # (either way) the codes become intp group ids.
            extra = {"count": n, "median": 8 * n + 8 * n * V, "std": 8 * n * V}.get(agg, 0)
            phase += max((hashtable_bytes(n, R, kb) + 2 * hashtable_bytes(R) if spec["observed"] else 0) + kb * n,
                         8 * n + kb * n + extra)
        else:
            phase += hashtable_bytes(n, R) + 8 * n + vector_bytes(R, 2 if key["dtype"] == "object" else 4)
            phase += 8 * n if key["dtype"] == "object" else 0
        names = ["per row", "per row and value column", "per group", "per group and value column",
                 "groups' hash table", "constant"]
        # With a categorical key the phases are known per row; the rest is
        # per group.
        vals = [0 if cat else n, 0 if cat else n * V, R, R * V, hashtable_bytes(R), 1]
    elif op == "pivot_table":
        df = ins["df"]
        group = (op, spec["aggfunc"])
        observed = sum(res["rows"] - c["nulls"] for c in res["columns"])
        names = ["per row", "per cell", "per observed cell", "hash table", "constant"]
        vals = [df["rows"], R * len(res["columns"]), observed,
                hashtable_bytes(df["rows"], max(R, len(res["columns"]))), 1]
    elif op == "concat":
        group = (op, "mismatch" if spec["mismatch"] else "aligned")
        names = ["result bytes", "result object bytes", "constant"]
        vals = [res_bytes, col_bytes(res, obj), 1]
    elif op == "sort":
        key = next(c for c in ins["df"]["columns"] if c["name"] == spec["by"][0])
        group = (op, "category" if key["dtype"] == "category" else "object" if key["dtype"] == "object" else "number")
        names = ["per row", "result bytes", "constant"]
        vals = [R, res_bytes, 1]
    else:  # read_csv
        group = (op,)
        strs = sum(min(R, c["distinct"]) * max(0, (c["deep"] - c["shallow"]) / max(1, R - c["nulls"]))
                   for c in res["columns"] if obj(c))
        names = ["per cell", "string objects", "per file byte", "constant"]
        vals = [R * len(res["columns"]), strs, int(row["input_bytes"]), 1]
    return group, float(phase), names, np.array(vals, dtype=float)


def fit_group(cases):
    """(a, b) for max(a0 * phase + a1, values . b), by non-negative least
    squares on relative error: alternately fit the phase's constant on the
    cases it explains and the sum on the rest."""
    P = np.array([[p, 1.0] for p, _, _ in cases])
    F = np.array([f for _, f, _ in cases])
    y = np.array([m for _, _, m in cases])
    if not P[:, 0].any():
        b, _ = nnls(F / y[:, None], np.ones(len(y)))
        return np.zeros(2), b
    # Start from the cases the phase alone comes within 10% of.
    sel = [i for i in range(len(y)) if y[i] <= 1.10 * P[i, 0]] or list(range(len(y)))
    b = np.zeros(F.shape[1])
    for _ in range(6):
        # The phase counts pandas' own allocations: its scale stays 1 and
        # only a constant is fitted to it.
        a1, _ = nnls((P[sel, 1] / y[sel])[:, None], 1 - P[sel, 0] / y[sel])
        a = np.array([1.0, a1[0]])
        p1 = P @ a
        rest = [i for i in range(len(y)) if y[i] > 1.03 * p1[i]]
        b = nnls(F[rest] / y[rest, None], np.ones(len(rest)))[0] if rest else np.zeros(F.shape[1])
        sel = [i for i in range(len(y)) if p1[i] >= F[i] @ b] or sel
    # The phase alone, when the second term does not help the training
    # cases (a few cases can pull it anywhere).
    only = [i for i in range(len(y)) if y[i] <= 1.10 * P[i, 0]] or list(range(len(y)))
    a_only = np.array([1.0, nnls((P[only, 1] / y[only])[:, None], 1 - P[only, 0] / y[only])[0][0]])

    def within(a_, b_):
        return sum(abs(max(P[i] @ a_, F[i] @ b_) - y[i]) <= 0.10 * y[i] for i in range(len(y)))
    if within(a_only, np.zeros_like(b)) > within(a, b):
        return a_only, np.zeros_like(b)
    return a, b


def predict(coef, phase, vals):
    a, b = coef
    return max(a[0] * phase + a[1], float(vals @ b))


def write_header(path, coef, by_group, train_path):
    """The constants as C, one row a model group."""
    import pandas
    with open(train_path, newline="") as f:
        versions = sorted({r["pandas"] for r in csv.DictReader(f)})
    width = max(len(by_group[g][0][1]) for g in by_group)
    out = ["/* Generated by bench/predict/fit.py from testdata/predict/%s: do not edit." % os.path.basename(train_path),
           " * Per model group, the peak is max(phase * a0 + a1, terms . b); see",
           " * fit.py's features() for the terms of each operation. */",
           "#ifndef MT_PREDICT_CONSTANTS_H", "#define MT_PREDICT_CONSTANTS_H", "",
           "#define MT_PREDICT_PANDAS \"%s\"" % ",".join(versions),
           "#define MT_PREDICT_TERMS %d" % width, "",
           "typedef struct mt_predict_constants {",
           "    const char *group;   /* op/variant/key kind */",
           "    double a[2];",
           "    double b[MT_PREDICT_TERMS];",
           "} mt_predict_constants;", "",
           "static const mt_predict_constants mt_predict_table[] = {"]
    for g in sorted(by_group):
        a, b = coef[g]
        bs = ", ".join("%.6g" % v for v in list(b) + [0.0] * (width - len(b)))
        out.append('    { "%s", { %.6g, %.6g }, { %s } },' % ("/".join(g), a[0], a[1], bs))
    out += ["};", "", "#endif", ""]
    with open(path, "w") as f:
        f.write("\n".join(out))
    del pandas


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    data = os.path.join(root, "testdata", "predict")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("train", nargs="?", default=os.path.join(data, "train.csv"))
    ap.add_argument("heldout", nargs="?", default=os.path.join(data, "heldout.csv"))
    ap.add_argument("--header", help="write the constants as a C header (libanalyze/src/predict/constants.h)")
    args = ap.parse_args()
    train_path, held_path, header = args.train, args.heldout, args.header
    train, held = load(train_path), load(held_path)
    by_group = collections.defaultdict(list)
    for r in train:
        g, phase, names, x = features(r)
        by_group[g].append((phase, x, float(r["peak_bytes"]), names))
    coef = {}
    print("constants per model group (bytes per unit of each term)")
    for g in sorted(by_group):
        cases = by_group[g]
        coef[g] = fit_group([(p, x, m) for p, x, m, _ in cases])
        a, b = coef[g]
        names = cases[0][3]
        terms = (["phase %.3g" % a[0]] if a[0] else []) + ["%s %.3g" % (n, v) for n, v in zip(names, b) if v]
        print("  %-30s %s" % (" ".join(g), ", ".join(terms)))
    if header:
        write_header(header, coef, by_group, train_path)
    print("\nheld-out accuracy: |predicted - measured| / measured peak")
    stats = collections.defaultdict(list)
    for r in held:
        g, phase, _, x = features(r)
        if g not in coef:
            continue
        err = abs(predict(coef[g], phase, x) - float(r["peak_bytes"])) / float(r["peak_bytes"])
        stats[r["op"]].append(err)
        stats["all"].append(err)
    print("%-12s %6s %10s %10s %10s" % ("operation", "cases", "within 10%", "median", "worst"))
    for op in sorted(stats, key=lambda o: (o == "all", o)):
        e = np.array(stats[op])
        print("%-12s %6d %9.0f%% %9.1f%% %9.1f%%" % (op, len(e), 100 * np.mean(e <= 0.10), 100 * np.median(e),
                                                   100 * e.max()))


if __name__ == "__main__":
    main()
