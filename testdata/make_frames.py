"""Writes testdata/sales.csv (a small, realistic sales ledger), then
frames-sales.snap (its DataFrame snapshot, as read by pandas, with the
customer table beside it) and pipeline.snap (a three-step pipeline over it).
Meta and times are fixed so that the files are reproducible:
    PYTHONPATH=build/python /usr/bin/python3 make_frames.py
"""

import numpy as np
import pandas as pd

from memtrace import Writer
from memtrace.frames import _FrameWriter

ROWS = 2000


def write_csv(path):
    rng = np.random.default_rng(20261122)
    regions = np.array(["North", "South", "East", "West", "Central"])
    products = np.array(["laptop", "phone", "tablet", "monitor", "keyboard", "mouse", "headset", "dock"])
    price = {"laptop": 999.0, "phone": 699.0, "tablet": 449.0, "monitor": 229.0, "keyboard": 49.5,
             "mouse": 19.99, "headset": 89.0, "dock": 149.0}
    prod = products[rng.integers(0, len(products), ROWS)]
    qty = rng.integers(1, 6, ROWS)
    df = pd.DataFrame({
        "order_id": np.arange(100001, 100001 + ROWS),
        "date": pd.date_range("2026-01-01", periods=ROWS, freq="37min").strftime("%Y-%m-%d %H:%M"),
        "customer_id": rng.integers(1, 301, ROWS),
        "region": regions[rng.integers(0, len(regions), ROWS)],
        "product": prod,
        "quantity": qty,
        "unit_price": [price[p] for p in prod],
        "discount": np.where(rng.random(ROWS) < 0.8, 0.0, rng.choice([0.05, 0.1, 0.15], ROWS)),
        "returned": np.where(rng.random(ROWS) < 0.03, "yes", "no"),
        "coupon": np.where(rng.random(ROWS) < 0.9, None, "SPRING26"),
    })
    df.to_csv(path, index=False)


def meta(w, tool):
    for k, v in (("tool", tool), ("tool_version", "fixture"), ("host", "build01"), ("pid", 4242),
                 ("start_time", 1795000000000000000), ("python_version", "3.11.2"), ("pandas_version", "1.5.3")):
        w.add_meta(k, v)


def customers():
    rng = np.random.default_rng(7)
    return pd.DataFrame({"customer_id": np.arange(1, 301),
                         "segment": pd.Categorical(rng.choice(["consumer", "business", "education"], 300)),
                         "since": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 2000, 300), "D")})


def main():
    write_csv("sales.csv")
    sales = pd.read_csv("sales.csv")
    with Writer("frames-sales.snap") as w:
        meta(w, "memtrace.dump_frames")
        fw = _FrameWriter(w, ["customer_id"], 1)
        fw.write("sales", sales)
        fw.write("customers", customers())
    with Writer("pipeline.snap") as w:
        meta(w, "memtrace.pipeline")
        fw = _FrameWriter(w, (), 1)
        rss = 60 << 20
        steps = [("load", sales), ("clean", None), ("report", None)]
        clean = sales.assign(date=pd.to_datetime(sales["date"]), region=sales["region"].astype("category"),
                             returned=sales["returned"] == "yes")
        report = clean.groupby(["region", "product"]).agg(revenue=("unit_price", "sum"), orders=("order_id", "count"))
        for i, (name, df) in enumerate(steps):
            df = {"load": sales, "clean": clean, "report": report}[name]
            t = (i + 1) * 250_000_000
            rss += (3 << 20) * (i + 1)
            w.add_sample("rss", rss, time_ns=t, step=name)
            w.add_sample("traced", 2_000_000 * (i + 1), time_ns=t, step=name)
            w.add_sample("traced_peak", 2_500_000 * (i + 1), time_ns=t, step=name)
            fw.write(name, df, step=name, time_ns=t)
            w.flush()  # as memtrace.pipeline does: a crash keeps the finished steps
    write_real(sales)
    print("frames-sales.snap, pipeline.snap, frames-real.snap and sales.csv written")


def write_real(sales):
    """frames-real.snap (format 1.6 real_bytes): a pipeline whose second
    step records the first step's frame again, a view of its rows, a
    shallow copy and a frame with a long column name."""
    from memtrace.frames import _Ledger
    with Writer("frames-real.snap") as w:
        meta(w, "memtrace.pipeline")
        fw = _FrameWriter(w, (), 1)
        enriched = sales.assign(revenue=sales["unit_price"] * sales["quantity"])
        wide = pd.DataFrame({"order_id": sales["order_id"].to_numpy(),
                             "the_region_each_order_was_shipped_to_as_written_by_the_warehouse": sales["region"]})
        steps = [("load", {"sales": sales}),
                 ("enrich", {"sales": sales, "first_500": sales.iloc[:500], "shallow": sales.copy(deep=False),
                             "enriched": enriched, "wide": wide})]
        for i, (name, frames) in enumerate(steps):
            t = (i + 1) * 250_000_000
            w.add_sample("rss", (80 + 10 * i) << 20, time_ns=t, step=name)
            w.add_sample("traced", 3_000_000 * (i + 1), time_ns=t, step=name)
            w.add_sample("traced_peak", 3_500_000 * (i + 1), time_ns=t, step=name)
            fw.ledger = _Ledger()  # as memtrace.pipeline does: a step's frames share among themselves
            for fname, df in frames.items():
                fw.write(fname, df, step=name, time_ns=t)
            w.flush()


if __name__ == "__main__":
    main()
