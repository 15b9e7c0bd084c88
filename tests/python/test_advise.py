"""memtrace-advise against pandas: on four realistic frames the dtype
advice is applied with pandas and measured. The saving must be at least
20%, the measured saving within 5% of the predicted one, every change
marked lossless must give the same values back, and the Python the tool
prints must do what its JSON says."""

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

import memtrace
from conftest import tool

N = 120_000


def sales(rng):
    products = np.array([f"SKU-{i:04d}" for i in range(60)], dtype=object)
    return pd.DataFrame({
        "order_id": np.arange(5_000_000, 5_000_000 + N),
        "customer_id": rng.integers(1, 20_000, N),
        "region": rng.choice(np.array(["North", "South", "East", "West", "Central"], dtype=object), N),
        "product": products[rng.integers(0, len(products), N)],
        "quantity": rng.integers(1, 12, N),
        "unit_price": np.round(rng.uniform(1, 500, N), 2),
        "date": pd.date_range("2025-01-01", periods=N, freq="3min").strftime("%Y-%m-%d %H:%M:%S").astype(object),
        "returned": rng.choice(np.array(["yes", "no"], dtype=object), N, p=[0.03, 0.97]),
    })


def sensor(rng):
    humidity = rng.integers(20, 95, N).astype("float64")
    humidity[rng.random(N) < 0.1] = np.nan
    battery = np.where(rng.random(N) < 0.95, np.nan, rng.uniform(3.0, 4.2, N))
    return pd.DataFrame({
        "time": pd.date_range("2025-06-01", periods=N, freq="s"),
        "sensor_id": rng.integers(0, 200, N),
        "temperature": np.round(rng.normal(21, 4, N) * 4) / 4,   # quarter degrees: exact in float32
        "humidity": humidity,                                    # whole percent with gaps
        "battery": battery,                                      # mostly missing
        "ok": pd.Series([bool(x) for x in rng.random(N) < 0.99], dtype=object),  # Python bools as objects
    })


def event_log(rng):
    kinds = np.array(["view", "click", "add_to_cart", "purchase", "search", "login", "logout", "share"], dtype=object)
    pages = np.array([f"/product/{i}" for i in range(1500)], dtype=object)
    flagged = [None if x < 0.2 else bool(x < 0.3) for x in rng.random(N)]
    return pd.DataFrame({
        "user_id": rng.integers(1, 3_000_000, N),
        "event": kinds[rng.integers(0, len(kinds), N)],
        "page": pages[rng.integers(0, len(pages), N)],
        "ts": pd.date_range("2025-03-01", periods=N, freq="250ms").strftime("%Y-%m-%dT%H:%M:%S.%f").astype(object),
        "duration_ms": rng.integers(0, 60_000, N),
        "flagged": pd.Series(flagged, dtype=object),
    })


def text_heavy(rng):
    words = np.array("fast cheap broken lovely returned great poor battery screen sound value delivery".split(), dtype=object)
    reviews = [" ".join(words[rng.integers(0, len(words), 12)]) + f" #{i}" for i in range(N)]
    codes = np.array([f"P{i:06d}" for i in range(30_000)], dtype=object)
    return pd.DataFrame({
        "review": pd.Series(reviews, dtype=object),               # unique text: nothing to gain
        "rating": rng.integers(1, 6, N),
        "lang": rng.choice(np.array(["en", "de", "fr", "es", "it"], dtype=object), N),
        "product_code": codes[rng.integers(0, len(codes), N)],
        "verified": pd.Series([bool(x) for x in rng.random(N) < 0.7], dtype=object),
        "helpful": rng.integers(0, 300, N).astype("float64"),     # whole, no NaN
    })


SCENARIOS = {"sales": sales, "sensor": sensor, "event_log": event_log, "text_heavy": text_heavy}


def column_bytes(df):
    return int(df.memory_usage(index=False, deep=True).sum())


def restore(s, dtype):
    """s converted back to dtype (pandas 1.5 keeps a sparse column sparse
    under astype)."""
    if isinstance(s.dtype, pd.SparseDtype):
        s = s.sparse.to_dense()
    return s.astype(dtype)


def advise(path, *args):
    out = subprocess.run([tool("memtrace-advise"), *args, str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_dtype_advice_saves_what_it_predicts(tmp_path, name):
    df = SCENARIOS[name](np.random.default_rng(sorted(SCENARIOS).index(name)))
    path = tmp_path / f"{name}.snap"
    memtrace.dump_frames(path, {name: df})
    # pandas' own count is this test's oracle (test_advise_savings.py measures real bytes).
    report = json.loads(advise(path, "-f", "json", "--bytes", "pandas"))
    dtype = [a for a in report["advice"] if a["kind"] == "dtype"]
    assert dtype, report
    mapping = {a["column"]: a["to_dtype"] for a in dtype}
    assert len(mapping) == len(dtype), "one change a column"
    before = column_bytes(df)
    after_df = df.astype(mapping)
    measured = before - column_bytes(after_df)
    predicted = report["total_saving_bytes"]
    assert predicted == sum(a["saving_bytes"] for a in report["advice"] if a["in_total"])
    assert report["data_bytes"] == column_bytes(df) + int(df.index.memory_usage(deep=True))
    assert measured >= 0.20 * before, f"{name}: saves {measured / before:.1%}"
    assert abs(measured - predicted) <= 0.05 * predicted, f"{name}: measured {measured}, predicted {predicted}"
    # Column by column as well: each prediction within 5% (or 1 KiB).
    for a in dtype:
        c = a["column"]
        got = int(df[c].memory_usage(index=False, deep=True) - after_df[c].memory_usage(index=False, deep=True))
        assert abs(got - a["saving_bytes"]) <= max(0.05 * a["saving_bytes"], 1024), (c, a, got)
    # Lossless changes give the same values back.
    lossless = [a["column"] for a in dtype if a["lossless"]]
    assert lossless
    back = pd.DataFrame({c: restore(after_df[c], df[c].dtype) for c in lossless})
    assert back.equals(df[lossless]), name

    # The Python the tool prints applies the same mapping.
    code = advise(path, "-f", "python", "--bytes", "pandas")
    scope = {name: df.copy()}
    exec(compile(code, f"<memtrace-advise {name}>", "exec"), scope)
    assert scope[name].dtypes.astype(str).to_dict() == after_df.dtypes.astype(str).to_dict()
    assert column_bytes(scope[name]) == column_bytes(after_df)


def test_what_the_scenarios_are_told(tmp_path):
    """The rules a reader of the scenarios would expect do fire."""
    rng = np.random.default_rng(9)
    frames = {name: make(rng) for name, make in SCENARIOS.items()}
    path = tmp_path / "all.snap"
    memtrace.dump_frames(path, frames)
    report = json.loads(advise(path, "-f", "json"))
    got = {(a["frame"], a["column"]): (a["rule"], a["to_dtype"]) for a in report["advice"] if a["column"]}
    assert got[("sales", "date")] == ("datetime-text", "datetime64[ns]")
    assert got[("sales", "region")] == ("object-to-category", "category")
    # 8 bits of headroom by default (--int-headroom): 1..11 needs 12 bits.
    assert got[("sales", "quantity")] == ("int-downcast", "int16")
    assert got[("sales", "order_id")] == ("int-downcast", "int32")
    assert ("sales", "unit_price") not in got           # cents do not survive float32
    assert got[("sensor", "temperature")] == ("float64-to-float32", "float32")
    assert got[("sensor", "humidity")] == ("float-nan-to-nullable-int", "Int16")
    assert got[("sensor", "battery")] == ("sparse-nan", "Sparse[float64, nan]")
    assert got[("sensor", "ok")] == ("object-to-bool", "bool")
    assert got[("sensor", "sensor_id")] == ("int-downcast", "int32")   # 0..199 and 8 bits: never uint
    assert ("sensor", "time") not in got
    # True, False and None: int8 codes (1 byte a row) beat boolean's value and mask (2).
    assert got[("event_log", "flagged")] == ("object-to-category", "category")
    assert got[("event_log", "ts")] == ("datetime-text", "datetime64[ns]")
    assert got[("text_heavy", "helpful")] == ("float-whole-to-int", "int32")
    assert ("text_heavy", "review") not in got          # unique text
    # Without headroom: the smallest signed type, still never an unsigned one.
    bare = json.loads(advise(path, "-f", "json", "--int-headroom", "0"))
    fit = {(a["frame"], a["column"]): a["to_dtype"] for a in bare["advice"] if a["column"]}
    assert fit[("sales", "quantity")] == "int8" and fit[("sensor", "sensor_id")] == "int16"
    assert fit[("sensor", "humidity")] == "Int8" and fit[("text_heavy", "helpful")] == "int16"
    assert not [t for t in fit.values() if t and t.lower().startswith("uint")]
    lossless = {(a["frame"], a["column"]): a["lossless"] for a in report["advice"] if a["column"]}
    assert not lossless[("sales", "date")] and lossless[("event_log", "flagged")]
    # Ranked by saving.
    savings = [a["saving_bytes"] for a in report["advice"]]
    assert savings == sorted(savings, reverse=True)


def test_pipeline_steps_get_chunking_from_their_recorded_peak(tmp_path):
    path = tmp_path / "p.snap"
    p = memtrace.pipeline(path)
    df = sales(np.random.default_rng(1))
    p.step("load", df)
    wide = pd.concat([df] * 4, ignore_index=True)   # a step that peaks well above what it keeps
    small = wide.groupby("region").size().to_frame("n")
    del wide
    p.step("report", small)
    p.close()
    steps = json.loads(subprocess.run([tool("memtrace-frames"), "-f", "json", str(path)], capture_output=True,
                                      text=True).stdout)["steps"]
    peak = {s["name"]: s["traced_peak"] for s in steps}
    available = int(peak["report"] * 1.5)
    report = json.loads(advise(path, "-f", "json", "--available", str(available)))
    chunk = [a for a in report["advice"] if a["rule"] == "step-chunking"]
    assert [a["step"] for a in chunk] == ["report"]
    # Each chunk may use half of what is available.
    want = -(-peak["report"] // (available * 0.5))
    assert chunk[0]["chunks"] == want
    assert not chunk[0]["in_total"]
    # A budget the frames alone overflow: an out-of-core engine instead.
    report = json.loads(advise(path, "-f", "json", "--available", "1MiB"))
    assert {a["step"] for a in report["advice"] if a["rule"] == "step-out-of-core"} == {"load"}


def test_fail_on_and_user_rules(tmp_path):
    df = sensor(np.random.default_rng(4))
    path = tmp_path / "s.snap"
    memtrace.dump_frames(path, {"sensor": df})
    run = lambda *a: subprocess.run([tool("memtrace-advise"), *a, str(path)], capture_output=True, text=True)
    assert run("--fail-on", "error").returncode == 0
    assert run("--fail-on", "warning").returncode == 1
    # A user file raises a rule's severity, and opts into float32 within a tolerance.
    rules = tmp_path / "team.yaml"
    rules.write_text("rules:\n"
                     "  - id: int-downcast\n    severity: error\n"
                     "  - id: float64-to-float32-tolerance\n    enabled: true\n"
                     "    when: {float32_error: {le: 1.0e-3}}\n")
    r = run("--rules", str(rules), "--fail-on", "error", "-f", "json")
    assert r.returncode == 1
    advice = json.loads(r.stdout)["advice"]
    assert any(a["rule"] == "float64-to-float32-tolerance" and a["column"] == "battery" or
               a["rule"] == "sparse-nan" and a["column"] == "battery" for a in advice)
    err = df["battery"].dropna()
    assert (abs(err.astype("float32").astype("float64") - err) / err.abs()).max() <= 1e-3
    # Without the shipped rules only the user's remain, and they override nothing.
    r = run("--no-default-rules", "--rules", str(rules))
    assert r.returncode == 2 and "no rule has the id" not in r.stderr and "int-downcast" in r.stderr
