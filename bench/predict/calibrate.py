"""Calibration cases for memtrace-predict, measured on real pandas.

Runs a grid of merge, groupby, pivot_table, concat, sort_values and
read_csv cases, each on inputs generated from its own seed, and measures
them as issue 7 defines:

  peak_bytes    tracemalloc's peak during the call minus the traced size
                just before it (inputs excluded: they are built before
                tracing starts);
  result_bytes  result.memory_usage(deep=True).sum();
  result_rows   len(result).

Two grids: "train" (the cases the model's constants are fitted on) and
"heldout" (other seeds and other shapes in the same ranges, for the
accuracy check). A case's inputs are a pure function of its spec, so any
row can be measured again (make_inputs, run_case).

Usage: /usr/bin/python3 bench/predict/calibrate.py --grid train|heldout [-o FILE] [--quick]
Writes CSV: id, grid, op, spec (JSON), the inputs' deep bytes and rows,
the measurements, the seconds the call took, and the pandas version."""

import argparse
import csv
import gc
import json
import os
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import pandas as pd

FIELDS = ["id", "grid", "op", "spec", "input_bytes", "input_rows", "peak_bytes", "result_bytes", "result_rows",
          "seconds", "pandas", "inputs", "result"]


# ---- inputs, from a spec ----

def keys_of(rng, values, dtype, null_frac):
    """Key column from integer codes: int64, str ("k0000042") or category;
    null_frac of them missing (int keys become float64, as pandas has them)."""
    values = np.asarray(values, dtype=np.int64)
    nulls = rng.random(len(values)) < null_frac if null_frac else None
    if dtype == "int64":
        if nulls is None:
            return pd.Series(values)
        out = values.astype(np.float64)
        out[nulls] = np.nan
        return pd.Series(out)
    strs = np.array(["k%07d" % v for v in values], dtype=object)
    if nulls is not None:
        strs[nulls] = None
    s = pd.Series(strs)
    return s.astype("category") if dtype == "category" else s


def payload(rng, n, ncols, prefix):
    """ncols value columns of mixed dtypes: float64, int64, short strings, a category."""
    cols = {}
    kinds = ["float64", "int64", "str", "category"]
    for c in range(ncols):
        kind = kinds[c % len(kinds)]
        name = "%s%d" % (prefix, c)
        if kind == "float64":
            cols[name] = rng.random(n)
        elif kind == "int64":
            cols[name] = rng.integers(0, 1 << 40, n)
        elif kind == "str":
            cols[name] = np.array(["s%d" % v for v in rng.integers(0, 50000, n)], dtype=object)
        else:
            cols[name] = pd.Categorical.from_codes(rng.integers(0, 20, n), ["c%02d" % i for i in range(20)])
    return cols


def make_inputs(spec):
    """The inputs of a case: a dict of DataFrames, or a CSV path for read_csv.
    Frames are consolidated (one block per dtype), as read_csv, merge and
    concat leave them; memtrace-predict assumes so."""
    out = _make_inputs(spec)
    return {k: (v.copy() if isinstance(v, pd.DataFrame) else v) for k, v in out.items()}


def _make_inputs(spec):
    rng = np.random.default_rng(spec["seed"])
    op = spec["op"]
    if op == "merge":
        nl, nr = spec["left"], spec["right"]
        rel, overlap = spec["relation"], spec["overlap"]
        if rel == "m:m":
            # Both sides repeat keys: dup copies of each right key.
            distinct = max(1, nr // spec["dup"])
            rk = rng.integers(0, distinct, nr)
        else:
            distinct = nr
            rk = rng.permutation(nr)
        # Left keys: overlap of them fall among the right's keys.
        span = int(distinct / overlap)
        if rel == "1:1":
            lk = rng.permutation(max(span, nl))[:nl]
        else:
            lk = rng.integers(0, span, nl)
        left = pd.DataFrame({"key": keys_of(rng, lk, spec["key"], spec["nulls"]), **payload(rng, nl, spec["lcols"], "l")})
        right = pd.DataFrame({"key": keys_of(rng, rk, spec["key"], 0), **payload(rng, nr, spec["rcols"], "r")})
        if spec["key"] == "category":
            # Shared categories, as a categorical key made for joining has.
            cats = pd.Index(sorted(set(left["key"].dropna()) | set(right["key"])))
            left["key"] = left["key"].cat.set_categories(cats)
            right["key"] = right["key"].cat.set_categories(cats)
        return {"left": left, "right": right}
    if op == "groupby":
        n, g = spec["rows"], spec["groups"]
        if spec["skew"] == "zipf":
            codes = (rng.zipf(1.5, n) - 1) % g
        else:
            codes = rng.integers(0, g, n)
        df = pd.DataFrame({"key": keys_of(rng, codes, spec["key"], spec.get("nulls", 0))})
        for c in range(spec["values"]):
            df["v%d" % c] = rng.random(n) if c % 2 == 0 else rng.integers(0, 1000, n)
        return {"df": df}
    if op == "pivot_table":
        n = spec["rows"]
        df = pd.DataFrame({
            "i": keys_of(rng, rng.integers(0, spec["index"], n), spec["key"], 0),
            "c": keys_of(rng, rng.integers(0, spec["columns"], n), "int64", 0),
            "v": rng.random(n),
        })
        return {"df": df}
    if op == "concat":
        frames = {}
        for f in range(spec["frames"]):
            cols = payload(rng, spec["rows"], spec["cols"], "x")
            if spec["mismatch"] and f % 2:
                cols = {("y" + k[1:] if i % 2 else k): v for i, (k, v) in enumerate(cols.items())}
            frames["f%d" % f] = pd.DataFrame(cols)
        return frames
    if op == "sort":
        n = spec["rows"]
        df = pd.DataFrame({"a": keys_of(rng, rng.integers(0, spec["distinct"], n), spec["key"], 0),
                           "b": rng.integers(0, 100, n), **payload(rng, n, spec["cols"], "p")})
        return {"df": df}
    if op == "read_csv":
        n = spec["rows"]
        df = pd.DataFrame(payload(rng, n, spec["cols"], "c"))
        fd, path = tempfile.mkstemp(suffix=".csv")
        os.close(fd)
        df.to_csv(path, index=False)
        return {"csv": path}
    raise ValueError("unknown op %r" % op)


def call(spec, inputs):
    """The operation itself, as a user writes it."""
    op = spec["op"]
    if op == "merge":
        return inputs["left"].merge(inputs["right"], on="key", how=spec["how"])
    if op == "groupby":
        df = inputs["df"]
        kw = {"observed": spec["observed"]} if spec["key"] == "category" else {}
        gb = df.groupby("key", **kw)
        if spec["agg"] == "size":
            return gb.size()
        cols = ["v%d" % c for c in range(spec["values"])]
        return getattr(gb[cols], spec["agg"])()
    if op == "pivot_table":
        return inputs["df"].pivot_table(index="i", columns="c", values="v", aggfunc=spec["aggfunc"])
    if op == "concat":
        return pd.concat(list(inputs.values()), ignore_index=True)
    if op == "sort":
        return inputs["df"].sort_values(spec["by"])
    if op == "read_csv":
        return pd.read_csv(inputs["csv"])
    raise ValueError(op)


def deep_bytes(obj):
    if isinstance(obj, pd.DataFrame):
        return int(obj.memory_usage(deep=True).sum())
    if isinstance(obj, pd.Series):
        return int(obj.memory_usage(deep=True))
    return os.path.getsize(obj)  # a CSV file


def shape(df):
    """What memtrace.dump_frames records of a frame that a model reads:
    rows, and per column its dtype, shallow and deep bytes, nulls and
    distinct values."""
    if isinstance(df, pd.Series):
        df = df.to_frame()
    cols = []
    for name in df.columns:
        c = df[name]
        cols.append({"name": str(name), "dtype": str(c.dtype), "shallow": int(c.memory_usage(index=False)),
                     "deep": int(c.memory_usage(index=False, deep=True)), "nulls": int(c.isna().sum()),
                     "distinct": int(c.nunique())})
        if isinstance(c.dtype, pd.CategoricalDtype):
            cols[-1].update(categories=len(c.cat.categories), code_bytes=int(c.cat.codes.dtype.itemsize))
    return {"rows": len(df), "index": type(df.index).__name__, "index_bytes": int(df.index.memory_usage(deep=True)),
            "columns": cols}


def run_case(spec):
    """Measures one case: {peak_bytes, result_bytes, result_rows, input_bytes, input_rows, seconds}."""
    inputs = make_inputs(spec)
    try:
        input_bytes = sum(deep_bytes(v) for v in inputs.values())
        input_rows = sum(len(v) if not isinstance(v, str) else spec["rows"] for v in inputs.values())
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        result = call(spec, inputs)
        secs = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
        shapes = {k: shape(v) for k, v in inputs.items() if not isinstance(v, str)}
        return {"peak_bytes": peak, "result_bytes": deep_bytes(result), "result_rows": len(result),
                "input_bytes": input_bytes, "input_rows": input_rows, "seconds": round(secs, 4),
                "inputs": json.dumps(shapes, sort_keys=True), "result": json.dumps(shape(result), sort_keys=True)}
    finally:
        if "csv" in inputs:
            os.unlink(inputs["csv"])


# ---- the grids ----

def grid(name, quick=False):
    """The specs of a grid. Held-out cases use other seeds and sizes between
    the training ones, so that the fit is checked where it interpolates."""
    train = name == "train"
    base_seed = 1000 if train else 5000
    sizes = [20000, 100000, 400000] if train else [50000, 250000]
    if quick:
        sizes = sizes[:1]
    specs = []

    def add(**spec):
        spec["seed"] = base_seed + len(specs)
        specs.append(spec)

    for n in sizes:
        for rel, ratio, dup in (("1:1", 1.0, 1), ("m:1", 0.1, 1), ("m:1", 0.01, 1), ("m:m", 0.05, 4)):
            for key in ("int64", "str", "category"):
                for how in ("inner", "left", "right", "outer"):
                    overlap = 1.0 if (how in ("inner", "left")) == (key != "str") else 0.6
                    nulls = 0.05 if key == "str" and how == "left" else 0.0
                    add(op="merge", left=n, right=max(10, int(n * ratio)), relation=rel, dup=dup, overlap=overlap,
                        nulls=nulls, key=key, how=how, lcols=2 + (n % 3), rcols=1 + (n % 2))
        for groups in ([100, 1000, 10000, 100000] if train else [300, 3000, 30000]):
            for key in ("int64", "str", "category"):
                for a, agg in enumerate(("sum", "mean", "count", "min", "max", "median", "std", "size")):
                    skew = "zipf" if agg in ("mean", "median") else "uniform"
                    # Value columns vary apart from the other parameters, so
                    # that per-row and per-column costs can be told apart.
                    add(op="groupby", rows=n, groups=groups, skew=skew, key=key, agg=agg,
                        values=1 + (a + len(specs)) % 3, observed=agg != "count")
        for idx, cols in ((1000, 20), (50, 50)) if train else ((300, 30),):
            for aggfunc in ("sum", "mean", "count"):
                add(op="pivot_table", rows=n, index=idx, columns=cols, key="int64" if aggfunc != "mean" else "str",
                    aggfunc=aggfunc)
        for frames, mismatch in ((2, False), (4, False), (3, True)):
            add(op="concat", frames=frames, rows=n // frames, cols=4, mismatch=mismatch)
        for key, distinct in (("int64", n), ("str", 1000), ("category", 50)):
            add(op="sort", rows=n, key=key, distinct=distinct, cols=3, by=["a"] if key != "int64" else ["a", "b"])
        for cols in ((3, 5, 8) if train else (4, 6)):
            add(op="read_csv", rows=n // 2, cols=cols)
    return specs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", choices=("train", "heldout"), required=True)
    ap.add_argument("-o", "--output", help="CSV to write (default: testdata/predict/GRID.csv)")
    ap.add_argument("--quick", action="store_true", help="the smallest size only")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = a.output or os.path.join(root, "testdata", "predict", a.grid + ".csv")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    specs = grid(a.grid, a.quick)
    t0 = time.time()
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS, lineterminator="\n")
        w.writeheader()
        for i, spec in enumerate(specs):
            m = run_case(spec)
            w.writerow({"id": i, "grid": a.grid, "op": spec["op"], "spec": json.dumps(spec, sort_keys=True),
                        "pandas": pd.__version__, **m})
            f.flush()
            tty = sys.stderr.isatty()
            if tty or (i + 1) % 25 == 0 or i + 1 == len(specs):
                print("%s%s: %d/%d cases, %.0f s" % ("\r" if tty else "", a.grid, i + 1, len(specs), time.time() - t0),
                      end="" if tty else "\n", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)


if __name__ == "__main__":
    main()
