"""The README's example of `python3 -m memtrace run`: a small pandas
pipeline whose join makes a peak, recorded step by step.

    PYTHONPATH=build/python /usr/bin/python3 -m memtrace run -o demo.snap \
        --heap-on-peak dumps -- testdata/run_demo.py
"""

import time

import numpy as np
import pandas as pd

import memtrace

rng = np.random.default_rng(7)
with memtrace.pipeline("demo-frames.snap") as p:  # the DataFrames of each step
    orders = pd.DataFrame({"customer": rng.integers(0, 20_000, 2_000_000),
                           "amount": rng.random(2_000_000) * 100})
    p.step("load", orders)
    time.sleep(0.3)
    customers = pd.DataFrame({"customer": np.arange(20_000),
                              "region": rng.choice(["north", "south", "east", "west"], 20_000)})
    joined = orders.merge(customers, on="customer")
    p.step("join", joined)
    time.sleep(0.3)
    totals = joined.groupby("region")["amount"].sum()
    del joined
    p.step("aggregate", totals.to_frame())
    time.sleep(0.3)
print(totals.round(0).to_dict())
