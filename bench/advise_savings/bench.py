"""The table of bench/advise_savings/run.sh: for each frame the saving
memtrace-advise promises in real bytes (the default), the one it promised
in pandas' deep count (--bytes pandas, the old figure), the traced memory
the advised changes gave back, and the error of each promise. The frames
and the pipeline are those of tests/python/test_advise_savings.py."""

import gc
import json
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

import memtrace
import test_advise_savings as t

MiB = 2 ** 20


def row(name, real, pandas_count, measured):
    print(f"{name:<26} {real / MiB:>10.1f} {pandas_count / MiB:>12.1f} {measured / MiB:>10.1f}"
          f" {(real - measured) / measured:>+8.1%} {(pandas_count - measured) / measured:>+9.1%}")


def pipeline(tmp):
    csv = tmp / "p-orders.csv"
    t.write_orders(csv, np.random.default_rng(5))
    lookup = pd.DataFrame({"city": t.CITIES, "region": [["north", "south", "east", "west"][i % 4] for i in range(30)],
                           "country": [["NL", "DE", "FR"][i % 3] for i in range(30)]})
    path = tmp / "p.snap"

    def merged_frame():
        df = pd.read_csv(csv)
        return df[df["price"] > 4].reset_index(drop=True).merge(lookup, on="city", how="left")

    def run(path, changes=None):
        """The pipeline; with changes, the advised dtypes applied right
        after the read, as a user following the advice would."""
        with memtrace.pipeline(path) as p:
            df = pd.read_csv(csv)
            if changes:
                df = t.apply(df, changes)
            p.step("load", df)
            df = df[df["price"] > 4].reset_index(drop=True)
            p.step("clean", df)
            merged = df.merge(lookup, on="city", how="left")
            del df
            p.step("merge", merged)
            by_city = merged.groupby(["city", "status"], as_index=False, observed=True)["price"].sum()
            del merged
            p.step("groupby", by_city)
            pivot = by_city.pivot_table(index="city", columns="status", values="price", aggfunc="sum", observed=True)
            p.step("pivot", pivot)
        out = subprocess.run([t.tool("memtrace-frames"), "-f", "json", str(path)], capture_output=True, text=True,
                             check=True).stdout
        return {st["name"]: st for st in json.loads(out)["steps"]}

    tracemalloc.start()
    with memtrace.pipeline(path) as p:
        df = pd.read_csv(csv)
        p.step("load", df)
        df = df[df["price"] > 4].reset_index(drop=True)
        p.step("clean", df)
        merged = df.merge(lookup, on="city", how="left")
        del df
        p.step("merge", merged)
        by_city = merged.groupby(["city", "status"], as_index=False)["price"].sum()
        del merged
        p.step("groupby", by_city)
        pivot = by_city.pivot_table(index="city", columns="status", values="price", aggfunc="sum")
        p.step("pivot", pivot)
    del by_city, pivot
    real, pandas_count = t.advise(path), t.advise(path, "--bytes", "pandas")
    res = real["files"][0]["resident"]
    merged = merged_frame()
    before = t.traced()
    new = t.apply(merged, t.changes_of(real, step=res["step"]))
    del merged
    measured = before - t.traced()
    tracemalloc.stop()
    del new
    old_sum = sum(a["saving_bytes"] for a in pandas_count["advice"] if a["kind"] == "dtype")
    print()
    row(f"pipeline, resident ({res['step']})", res["saving_bytes"], pandas_count["files"][0]["resident"]["saving_bytes"],
        measured)
    f, fp = real["files"][0], pandas_count["files"][0]
    print(f"pipeline total, a column once: {real['total_saving_bytes'] / MiB:.1f} MiB real "
          f"({f['columns_changed']} columns, {f['columns_repeated']} repeats left out); "
          f"old total, every step's record added: {old_sum / MiB:.1f} MiB pandas-counted")
    pk = f["peak"]
    print(f"peak promised: {pk['saving_bytes'] / MiB:.1f} MiB off the highest traced peak {pk['memory_bytes'] / MiB:.1f} MiB "
          f"at step {pk['step']} ({pk['saving_bytes'] / pk['memory_bytes']:.1%} of the peak; then highest at "
          f"{pk['then_step']}, {pk['then_bytes'] / MiB:.1f} MiB)")
    # The pipeline again with the load step's advice applied after the read.
    gc.collect()
    tracemalloc.start()
    plain = run(tmp / "plain.snap")
    advised = run(tmp / "advised.snap", t.changes_of(real, step="load"))
    tracemalloc.stop()
    top = max(plain.values(), key=lambda st: st["traced_peak"])
    worst = max(advised.values(), key=lambda st: st["traced_peak"])
    most = max(plain.values(), key=lambda st: st["traced"])
    print(f"measured, the advice applied after read_csv: traced peak at {top['name']} "
          f"{top['traced_peak'] / MiB:.1f} -> {advised[top['name']]['traced_peak'] / MiB:.1f} MiB "
          f"(the pipeline's highest {top['traced_peak'] / MiB:.1f} -> {worst['traced_peak'] / MiB:.1f} MiB, now at "
          f"{worst['name']}); most traced at {most['name']} {most['traced'] / MiB:.1f} -> "
          f"{advised[most['name']]['traced'] / MiB:.1f} MiB")
    if f["rss"]:
        print(f"rss: at most {f['rss']['saving_bytes'] / MiB:.1f} MiB off {f['rss']['memory_bytes'] / MiB:.1f} MiB "
              f"at step {f['rss']['step']}")


def main():
    t.N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(f"{t.N} rows a frame; measured: tracemalloc's traced memory before and after the advised changes,"
          " the old frame dropped")
    print(f"{'frame':<26} {'promised':>10} {'old promise':>12} {'measured':>10} {'error':>8} {'old error':>9}")
    print(f"{'':<26} {'real MiB':>10} {'pandas MiB':>12} {'MiB':>10}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in sorted(t.FRAMES):
            real, pandas_count, measured, _ = t.measured_saving(t.FRAMES[name](tmp), tmp, name)
            gc.collect()
            row(name, real, pandas_count, measured)
        pipeline(tmp)


if __name__ == "__main__":
    main()
