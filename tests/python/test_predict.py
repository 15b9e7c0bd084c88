"""memtrace-predict against real pandas. Frames are built here, recorded
with memtrace.dump_frames, predicted by the binary, and then the operation
runs under tracemalloc: its peak (the traced peak during the call minus the
traced size before it) and its result (rows, memory_usage(deep=True)) are
the oracle. The held-out accuracy check runs a sample of the held-out grid
with looser bounds than the target (bench/predict/run.sh runs it all)."""

import gc
import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, tool

import memtrace

sys.path.insert(0, os.path.join(ROOT, "bench", "predict"))
import calibrate  # noqa: E402

CALIBRATED = pd.__version__.startswith("1.5.")


def predict(*args):
    out = subprocess.run([tool("memtrace-predict"), "--format", "json", "--available", "1TiB", *args],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def measure(fn):
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    return peak, len(result), int(result.memory_usage(deep=True).sum())


def check(pred, measured, peak_tol):
    peak, rows, nbytes = measured
    assert pred["result_rows"] == pytest.approx(rows, rel=0.05)
    assert pred["result_bytes"] == pytest.approx(nbytes, rel=0.05)
    if CALIBRATED:
        assert pred["peak_bytes"] == pytest.approx(peak, rel=peak_tol)
    assert pred["multiplier"] == pytest.approx(pred["peak_bytes"] / pred["input_bytes"], rel=1e-3)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """Orders of 300000 rows over 40000 customers with skewed (Zipf)
    popularity and string ids, some missing; a customer table with one row
    a customer, 10% of them never ordering."""
    rng = np.random.default_rng(77)
    n, m = 300000, 40000
    cust = (rng.zipf(1.3, n) - 1) % int(m * 0.9)
    ids = np.array(["c%06d" % c for c in cust], dtype=object)
    ids[rng.random(n) < 0.02] = None
    orders = pd.DataFrame({"customer": ids, "amount": rng.random(n) * 100, "qty": rng.integers(1, 9, n),
                           "channel": pd.Categorical.from_codes(rng.integers(0, 4, n), ["web", "app", "shop", "phone"])})
    customers = pd.DataFrame({"customer": np.array(["c%06d" % c for c in rng.permutation(m)], dtype=object),
                              "region": rng.integers(0, 50, m)})
    path = str(tmp_path_factory.mktemp("predict") / "shop.snap")
    memtrace.dump_frames(path, {"orders": orders, "customers": customers}, keys=["customer", "channel"])
    return path, orders, customers


@pytest.mark.parametrize("how", ["inner", "left", "outer"])
def test_a_skewed_string_join(shop, how):
    path, orders, customers = shop
    pred = predict("--op", "merge", "--shapes", path, "--left", "orders", "--right", "customers", "--on", "customer",
                   "--how", how)
    # Shapes the calibration grid does not have (skew, nulls, a categorical
    # payload): the string-key models miss these by up to 17%.
    check(pred, measure(lambda: orders.merge(customers, on="customer", how=how)), 0.25)


def test_groupby_on_a_categorical(shop):
    path, orders, _ = shop
    pred = predict("--op", "groupby", "--shapes", path, "--frame", "orders", "--by", "channel", "--agg", "mean",
                   "--columns", "amount,qty", "--observed")
    check(pred, measure(lambda: orders.groupby("channel", observed=True)[["amount", "qty"]].mean()), 0.15)


def test_sort_by_strings(shop):
    path, orders, _ = shop
    pred = predict("--op", "sort", "--shapes", path, "--frame", "orders", "--by", "customer")
    check(pred, measure(lambda: orders.sort_values("customer")), 0.15)


def test_read_csv(tmp_path):
    rng = np.random.default_rng(5)
    n = 60000
    df = pd.DataFrame({"a": rng.random(n), "b": rng.integers(0, 10**6, n),
                       "city": rng.choice(["Oslo", "Lima", "Pune", "Kyiv", "Accra"], n)})
    path = str(tmp_path / "t.csv")
    df.to_csv(path, index=False)
    pred = predict("--op", "read_csv", "--csv", path)
    # read_csv is the weakest model (4 held-out cases, 2 within 10%): this
    # file, with few distinct strings, it overestimates by about 45%.
    check(pred, measure(lambda: pd.read_csv(path)), 0.50)


def test_not_fitting_says_what_would(shop):
    path, orders, customers = shop
    pred = predict("--op", "merge", "--shapes", path, "--left", "orders", "--right", "customers", "--on", "customer")
    small = pred["peak_bytes"] * 0.9
    out = subprocess.run([tool("memtrace-predict"), "-f", "json", "--available", str(int(small)), "--op", "merge",
                          "--shapes", path, "--left", "orders", "--right", "customers", "--on", "customer"],
                         capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    p = json.loads(out.stdout)
    assert p["fits"] is False
    assert any("will not fit" in w for w in p["warnings"])
    chunks = [s for s in p["suggestions"] if "chunks of" in s["text"]]
    assert chunks and chunks[0]["peak_bytes"] <= 0.8 * small
    # The chunked plan, run for real: merging the first chunk peaks under
    # what was promised (with the 15% the model may miss by).
    n = int(chunks[0]["text"].split(" chunks of ")[1].split()[0])
    part = orders.iloc[:n].copy()
    peak, _, _ = measure(lambda: part.merge(customers, on="customer"))
    if CALIBRATED:
        assert peak <= chunks[0]["peak_bytes"] * 1.25


@pytest.mark.skipif(not CALIBRATED, reason="the models hold for pandas 1.5")
def test_held_out_accuracy_sample(build):
    """Every 5th held-out case; the whole grid's bar (90% within 10%) is the
    benchmark's; CI's is looser so that it stays stable."""
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "predict", "accuracy.py"), "--every", "5",
                          "--tool", tool("memtrace-predict"), "--min-peak-share", "0.8",
                          "--min-result-share", "0.95"],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=os.path.join(build, "python")))
    print(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_dtype_advice_holds(tmp_path):
    """Small integers and repeated strings: the advice's smaller dtypes,
    applied for real, give about the peak it promised."""
    rng = np.random.default_rng(11)
    n = 200000
    left = pd.DataFrame({"k": rng.integers(0, 5000, n), "city": rng.choice(["Oslo", "Lima", "Pune"], n).astype(object),
                         "v": rng.random(n)})
    right = pd.DataFrame({"k": np.arange(5000), "w": rng.integers(0, 100, 5000)})
    path = str(tmp_path / "d.snap")
    memtrace.dump_frames(path, {"left": left, "right": right}, keys=["k"])
    full = predict("--op", "merge", "--shapes", path, "--left", "left", "--right", "right", "--on", "k")
    out = subprocess.run([tool("memtrace-predict"), "-f", "json", "--available", str(int(full["peak_bytes"] * 0.9)),
                          "--op", "merge", "--shapes", path, "--left", "left", "--right", "right", "--on", "k"],
                         capture_output=True, text=True)
    advice = [s for s in json.loads(out.stdout)["suggestions"] if s["text"].startswith("reduce dtypes")]
    assert advice, out.stdout
    text = advice[0]["text"]
    assert "left.k to int16" in text and "left.city to category" in text and "right.w to int8" in text
    small_left = left.astype({"k": "int16", "city": "category"})
    small_right = right.astype({"k": "int16", "w": "int8"})
    peak, _, _ = measure(lambda: small_left.merge(small_right, on="k"))
    assert peak < full["peak_bytes"]
    if CALIBRATED:
        assert peak == pytest.approx(advice[0]["peak_bytes"], rel=0.15)  # measured: 6% under
