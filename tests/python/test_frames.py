"""memtrace.dump_frames, memtrace.pipeline and memtrace-frames, with pandas
itself as the oracle: every byte count must equal memory_usage() and
memory_usage(deep=True) exactly, every count what pandas counts."""

import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import memtrace
import spec_reader
from conftest import BUILD, tool

F32_EXACT, INTEGRAL, DISTINCT_EST, DBYTES_EST, MIXED = 8, 16, 32, 64, 128
KEY, SORTED, UNIQUE = 1, 2, 4
WORDS = np.array(["alpha", "beta", "gamma", "délta", "ε", "a much longer string value here", ""], dtype=object)


def every_dtype(n=3000, seed=1):
    """A frame with a column of every common dtype."""
    rng = np.random.default_rng(seed)
    d = {}
    for t in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]:
        info = np.iinfo(t)
        d[t] = rng.integers(max(info.min, -1000), min(info.max, 1000), n).astype(t)
    d["float32"] = rng.random(n).astype("float32")
    d["float64"] = rng.random(n) * 1e6
    d["float64_ints_nan"] = np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 50, n).astype(float))
    d["float64_halves"] = rng.integers(0, 100, n) / 2.0
    d["bool"] = rng.random(n) < 0.3
    d["dt"] = pd.date_range("2024-01-01", periods=n, freq="h")
    d["dt_tz"] = pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Paris")
    d["dt_nat"] = pd.Series(pd.date_range("2024-01-01", periods=n, freq="D")).where(rng.random(n) > 0.2)
    d["td"] = pd.to_timedelta(rng.integers(0, 10**9, n), unit="ns")
    d["str"] = WORDS[rng.integers(0, len(WORDS), n)]
    d["str_fresh"] = np.array(["row-%d" % (i % 97) for i in range(n)], dtype=object)
    mixed = np.array([1, "x", 2.5, None, np.nan, (1, 2), True, pd.NA, "y" * 30, pd.NaT], dtype=object)
    d["mixed"] = mixed[rng.integers(0, len(mixed), n)]
    d["cat"] = pd.Categorical(WORDS[rng.integers(0, 4, n)])
    d["cat_nan"] = pd.Categorical(np.where(rng.random(n) < 0.2, None, WORDS[rng.integers(0, 4, n)]))
    d["cat_int"] = pd.Categorical(rng.integers(0, 300, n))
    d["Int64"] = pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(-5, 5, n)), dtype="Int64")
    d["UInt16"] = pd.array(rng.integers(0, 500, n), dtype="UInt16")
    d["boolean"] = pd.array(np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.5), dtype="boolean")
    d["Float64"] = pd.array(np.where(rng.random(n) < 0.1, None, rng.random(n)), dtype="Float64")
    d["string"] = pd.array(np.where(rng.random(n) < 0.1, None, WORDS[rng.integers(0, 5, n)]), dtype="string")
    d["sparse_nan"] = pd.arrays.SparseArray(np.where(rng.random(n) < 0.9, np.nan, rng.random(n)))
    d["sparse_zero"] = pd.arrays.SparseArray(np.where(rng.random(n) < 0.8, 0, rng.integers(1, 9, n)), fill_value=0)
    d["period"] = pd.period_range("2020-01", periods=n, freq="M")
    return pd.DataFrame(d)


def multiindexed(n=2000):
    rng = np.random.default_rng(3)
    idx = pd.MultiIndex.from_arrays([WORDS[rng.integers(0, 5, n)], rng.integers(0, 50, n)], names=["w", "k"])
    cols = pd.MultiIndex.from_tuples([("price", "mean"), ("price", "max"), ("label", "")])
    return pd.DataFrame({cols[0]: rng.random(n), cols[1]: rng.random(n), cols[2]: WORDS[rng.integers(0, 7, n)]},
                        index=idx)


def load(path):
    s = spec_reader.Snapshot(str(path))
    frames = {f["id"]: f for f in s.of("df_frames")}
    cols = {}
    for c in s.of("df_columns"):
        cols.setdefault(c["frame"], {})[c["position"]] = c
    return s, frames, cols


def by_name(frames, name):
    return next(f for f in frames.values() if f["name"] == name)


def expected_len(s):
    strings = s[s.map(lambda v: isinstance(v, str))]
    return strings.str.len()


@pytest.mark.parametrize("make", [every_dtype, multiindexed])
def test_bytes_counts_and_statistics_equal_pandas(tmp_path, make):
    df = make()
    path = tmp_path / "f.snap"
    memtrace.dump_frames(path, {"t": df}, keys=["str", "int64"])
    mu, md = df.memory_usage(), df.memory_usage(deep=True)
    # Distinct objects by identity, each counted once; taken before
    # nunique(), which caches UTF-8 inside non-ASCII strings and so
    # changes their __sizeof__.
    ident = {}
    for label, s in df.items():
        if s.dtype == object or str(s.dtype) == "string":
            vals = s.array._ndarray if str(s.dtype) == "string" else s.to_numpy()
            ident[label] = sum({id(v): v.__sizeof__() for v in vals}.values())
    _, frames, cols = load(path)
    f = by_name(frames, "t")
    assert (f["rows"], f["columns"]) == df.shape
    assert f["shallow_bytes"] == mu.sum()
    assert f["deep_bytes"] == md.sum()
    assert f["index_bytes"] == df.index.memory_usage(deep=True)
    assert f["index_shallow_bytes"] == df.index.memory_usage()
    if isinstance(df.index, pd.MultiIndex):
        assert f["index_kind"] == "multi" and f["index_nlevels"] == df.index.nlevels
        assert f["index_levels_bytes"] == sum(lv.memory_usage(deep=True) for lv in df.index.levels)
        assert f["index_codes_bytes"] == sum(c.nbytes for c in df.index.codes)
        assert f["columns_kind"] == "multi" and f["columns_nlevels"] == 2
        assert f["columns_codes_bytes"] == sum(c.nbytes for c in df.columns.codes)
    else:
        assert f["index_kind"] == "range"
    for pos, (label, s) in enumerate(df.items()):
        c = cols[f["id"]][pos]
        what = (label, str(s.dtype))
        assert c["name"] == str(label)
        assert c["dtype"] == str(s.dtype)
        assert c["shallow_bytes"] == mu.iloc[pos + 1], what
        assert c["deep_bytes"] == md.iloc[pos + 1], what
        assert c["null_count"] == s.isna().sum(), what
        assert c["distinct_count"] == s.nunique(), what
        assert not c["flags"] & DISTINCT_EST, what
        assert bool(c["flags"] & KEY) == (label in ("str", "int64")), what
        if s.dtype.kind in "iuf" or str(s.dtype) in ("Int64", "UInt16", "Float64"):
            vals = s.dropna().to_numpy(dtype="float64")
            assert c["min"] == pytest.approx(vals.min(), rel=1e-7), what
            assert c["max"] == pytest.approx(vals.max(), rel=1e-7), what
            assert bool(c["flags"] & INTEGRAL) == bool(np.all(vals == np.trunc(vals))), what
        if s.dtype.kind == "f":
            v = s.dropna().to_numpy()
            err = np.abs((v - v.astype("float32").astype("float64")) / np.where(v == 0, 1, v))
            assert bool(c["flags"] & F32_EXACT) == bool(np.all(err == 0)), what
            assert c["f32_max_rel_error"] == pytest.approx(err.max(), rel=1e-12, abs=0), what
        if s.dtype.kind in "mM":
            assert c["min"] == s.min().value and c["max"] == s.max().value, what
        if s.dtype == object or str(s.dtype) == "string":
            lens = expected_len(s)
            assert c["text_count"] == len(lens), what
            assert (c["len_min"], c["len_max"], c["len_total"]) == (lens.min(), lens.max(), lens.sum()), what
            assert c["distinct_bytes"] == ident[label], what
            vals = s.array._ndarray if str(s.dtype) == "string" else s.to_numpy()
            kinds = {type(v) for v in vals if not pd.isna(v)} if label != "mixed" else {0, 1}
            assert bool(c["flags"] & MIXED) == (len(kinds) > 1), what
        if isinstance(s.dtype, pd.CategoricalDtype):
            assert c["categories"] == len(s.cat.categories), what
            assert c["categories_bytes"] == s.cat.categories.memory_usage(deep=True), what
            assert c["code_bytes"] == s.cat.codes.dtype.itemsize, what
        if isinstance(s.dtype, pd.SparseDtype):
            assert c["density"] == pytest.approx(s.sparse.density), what
            assert c["dense_bytes"] == len(s) * np.dtype(s.dtype.subtype).itemsize, what
            fill = s.sparse.fill_value
            assert (c["fill_value"] is None and np.isnan(fill)) or c["fill_value"] == fill or np.isnan(c["fill_value"])
        if s.is_monotonic_increasing and s.dtype.kind in "iufmM" and not s.isna().any():
            assert c["flags"] & SORTED, what
        if c["flags"] & UNIQUE:
            assert s.is_unique and not s.isna().any(), what


def test_key_values_and_sketch_follow_the_spec(tmp_path):
    rng = np.random.default_rng(5)
    n = 50_000
    df = pd.DataFrame({"user": rng.zipf(1.6, n) % 5000, "city": WORDS[rng.integers(0, 7, n)]})
    path = tmp_path / "k.snap"
    memtrace.dump_frames(path, {"events": df}, keys=["user", "city"])
    s, frames, cols = load(path)
    vc = df["user"].value_counts()
    top = [(v["value"], v["count"]) for v in s.of("df_values") if v["position"] == 0]
    assert len(top) == 20
    assert [c for _, c in top] == list(vc.head(len(top)).to_numpy())
    assert all(vc[v] == c for v, c in top)
    cities = [(v["value"], v["count"]) for v in s.of("df_values") if v["position"] == 1]
    assert dict(cities) == df["city"].value_counts().to_dict()
    # The sketch holds the k smallest value hashes of SPEC.md 4.3, computed
    # here from the spec's text alone.
    mask = (1 << 64) - 1

    def fmix(k):
        k ^= k >> 33
        k = (k * 0xff51afd7ed558ccd) & mask
        k ^= k >> 33
        k = (k * 0xc4ceb9fe1a85ec53) & mask
        return k ^ (k >> 33)

    def h_str(v):
        h = 0xCBF29CE484222325
        for ch in v:
            h = ((h ^ ord(ch)) * 0x100000001B3) & mask
        return fmix(h ^ 0x165667B19E3779F9)

    sketches = {k["position"]: k["data"] for k in s.of("df_sketches")}
    want_user = sorted(fmix(int(v) & mask) for v in df["user"].unique())[:1024]
    got = np.frombuffer(sketches[0], dtype="<u8").tolist()
    assert got == want_user
    want_city = sorted(h_str(v) for v in df["city"].unique())
    assert np.frombuffer(sketches[1], dtype="<u8").tolist() == want_city


def test_large_columns_estimate_within_bounds(tmp_path):
    n = 400_000
    rng = np.random.default_rng(9)
    words = np.array(["w%d" % i for i in range(100_000)], dtype=object)
    df = pd.DataFrame({"id": rng.permutation(n) * 7, "x": rng.random(n), "w": words[rng.integers(0, len(words), n)]})
    path = tmp_path / "big.snap"
    memtrace.dump_frames(path, df)
    _, frames, cols = load(path)
    c = cols[1]
    for pos, name in enumerate(df.columns):
        truth = df[name].nunique()
        assert c[pos]["flags"] & DISTINCT_EST
        assert abs(c[pos]["distinct_count"] - truth) / truth < 0.02, name
    # Distinct objects' bytes: sampled past 65536 objects, within 2%.
    truth = sum(v.__sizeof__() for v in {id(v): v for v in df["w"]}.values())
    assert abs(c[2]["distinct_bytes"] - truth) / truth < 0.02
    assert c[2]["deep_bytes"] == df["w"].memory_usage(index=False, deep=True)


def test_dumping_neither_copies_nor_changes_the_data(tmp_path):
    rng = np.random.default_rng(2)
    n = 2_000_000
    df = pd.DataFrame({"a": rng.random(n), "b": rng.integers(0, 1000, n), "c": rng.random(n).astype("float32"),
                       "s": WORDS[rng.integers(0, len(WORDS), n)]})
    before = df.memory_usage(deep=True)
    size = before.sum()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        memtrace.dump_frames(tmp_path / "nc.snap", df, keys=["b"])
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A copy of any column would cost 8 MB or more.
    assert peak - base < 0.05 * size, (peak - base, size)
    assert cur - base < 1 << 20
    # Non-ASCII strings were written without caching UTF-8 inside them.
    assert df.memory_usage(deep=True).equals(before)


def test_pipeline_records_steps_memory_and_survives_a_crash(tmp_path):
    path = tmp_path / "p.snap"
    code = """
import os, sys, numpy as np, pandas as pd, memtrace
with memtrace.pipeline(sys.argv[1], keys=["k"]) as p:
    df = pd.DataFrame({"k": np.arange(100000) % 100, "v": np.zeros(100000)})
    p.step("load", df)
    big = bytearray(30_000_000)
    p.step("grow")
    df2 = df.merge(df.head(100), on="k")
    p.step("merge", {"left": df, "merged": df2})
    os._exit(0)
"""
    subprocess.run([sys.executable, "-c", code, str(path)], check=True,
                   env=dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python")))
    with pytest.raises(spec_reader.SpecError, match="not closed"):
        spec_reader.Snapshot(str(path))
    out = subprocess.run([tool("memtrace-frames"), "--salvage", "--format", "json", str(path)], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    steps = {st["name"]: st for st in rep["steps"]}
    assert list(steps) == ["load", "grow", "merge"]
    # tracemalloc saw the 30 MB bytearray between load and grow.
    assert abs(steps["grow"]["traced"] - steps["load"]["traced"] - 30_000_000) < 1_000_000
    assert steps["grow"]["rss"] - steps["load"]["rss"] > 25_000_000
    # The steps that grew most, by RSS: the bytearray's step first.
    grew = rep["grew_most"]
    assert grew[0] == {"step": "grow", "bytes": int(steps["grow"]["rss"] - steps["load"]["rss"])}
    assert all(a["bytes"] >= b["bytes"] > 0 for a, b in zip(grew, grew[1:]))
    names = {f["name"]: f for f in rep["frames"]}
    assert set(names) == {"load", "left", "merged"}
    assert names["merged"]["rows"] == 100000
    assert names["load"]["step"] == "load" and names["merged"]["step"] == "merge"


def test_memtrace_frames_reports_what_pandas_reports(tmp_path):
    df = every_dtype(500)
    path = tmp_path / "r.snap"
    memtrace.dump_frames(path, {"every": df, "multi": multiindexed(300)})
    rep = json.loads(subprocess.run([tool("memtrace-frames"), "-f", "json", str(path)], capture_output=True,
                                    text=True, check=True).stdout)
    f = {x["name"]: x for x in rep["frames"]}
    assert [x["name"] for x in rep["frames"]] == ["every", "multi"]  # by deep bytes
    md = df.memory_usage(deep=True)
    assert f["every"]["deep_bytes"] == md.sum()
    for c in f["every"]["columns"]:
        assert c["deep_bytes"] == md[c["name"]]
        assert c["share"] == pytest.approx(md[c["name"]] / md.sum(), abs=1e-6)
    ints = {c["name"]: c["int_fit"] for c in f["every"]["columns"]}
    assert ints["int64"] == "int16" and ints["uint8"] == "uint8" and ints["float64_ints_nan"] == "int8"
    assert ints["float64"] is None and ints["dt"] is None
    csv = subprocess.run([tool("memtrace-frames"), "-f", "csv", str(path)], capture_output=True, text=True,
                         check=True).stdout
    got = pd.read_csv(pd.io.common.StringIO(csv))
    every = got[got.frame == "every"]
    assert dict(zip(every["column"], every["deep_bytes"])) == md.drop("Index").to_dict()


EDGES = {
    "empty": lambda: pd.DataFrame({"a": pd.Series([], dtype="int64"), "s": pd.Series([], dtype=object)}),
    "no_columns": lambda: pd.DataFrame(index=range(5)),
    "duplicate_names": lambda: pd.DataFrame([[1, 2.5], [3, 4.5]], columns=["x", "x"]),
    "odd_labels": lambda: pd.DataFrame({0: [1, 2], 1.5: ["a", "b"], (1, 2): [True, False]}),
    "all_missing": lambda: pd.DataFrame({"n": [np.nan] * 4, "o": [None] * 4, "t": pd.to_datetime([None] * 4)}),
    "infinities": lambda: pd.DataFrame({"f": [np.inf, -np.inf, 1.0, np.nan]}),
    "huge_ints": lambda: pd.DataFrame({"u": np.array([0, 2**64 - 1], dtype="uint64"), "o": [2**70, -2**70]}),
    "bytes": lambda: pd.DataFrame({"b": [b"ab", b"\xff", None], "bad": ["\udcff", "ok", "ok"]}),
    "float16": lambda: pd.DataFrame({"h": np.array([1.5, np.nan, 65504], dtype="float16")}),
    "interval_complex": lambda: pd.DataFrame({"i": pd.interval_range(0, 3), "c": np.array([1 + 2j, 3j, 0])}),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_odd_frames_dump_and_report(tmp_path, name):
    """Every column a key, so that values of every kind are written; the
    report must stay valid JSON and agree with pandas."""
    df = EDGES[name]()
    path = tmp_path / "e.snap"
    memtrace.dump_frames(path, {name: df}, keys=list(df.columns))
    out = subprocess.run([tool("memtrace-frames"), "-f", "json", str(path)], capture_output=True)
    assert out.returncode == 0, out.stderr
    f = json.loads(out.stdout.decode("utf-8"))["frames"][0]
    md = df.memory_usage(deep=True)
    assert f["deep_bytes"] == md.sum()
    assert [c["deep_bytes"] for c in f["columns"]] == list(md.iloc[1:])
    assert [c["null_count"] for c in f["columns"]] == list(df.isna().sum())
    text = subprocess.run([tool("memtrace-frames"), str(path)], capture_output=True)
    assert text.returncode == 0, text.stderr


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(TypeError, match="frames must be a DataFrame or a dict"):
        memtrace.dump_frames(tmp_path / "x.snap", [1, 2])
    with pytest.raises(TypeError, match="frames must be DataFrames"):
        memtrace.dump_frames(tmp_path / "x.snap", {"a": 3})
    p = memtrace.pipeline(tmp_path / "y.snap", trace=False)
    p.close()
    with pytest.raises(ValueError, match="the pipeline is closed"):
        p.step("late")


def test_object_value_types_and_date_text_match_pandas(tmp_path):
    """value_type is the one type of the non-null objects (pandas'
    infer_dtype agrees on the family); the date-text flag is set exactly
    when pandas parses every value as a naive datetime."""
    import datetime
    import decimal
    rng = np.random.default_rng(3)
    n = 500
    days = pd.date_range("2020-01-01", periods=n, freq="7h")
    df = pd.DataFrame({
        "day": list(days.strftime("%Y-%m-%d")),
        "stamp": list(days.strftime("%Y-%m-%dT%H:%M:%S")),
        "minute": [None if i % 9 == 0 else s for i, s in enumerate(days.strftime("%Y-%m-%d %H:%M"))],
        "frac": list(days.strftime("%Y-%m-%d %H:%M:%S.%f")),
        "offset": list(days.strftime("%Y-%m-%dT%H:%M:%S+02:00")),
        "us_date": list(days.strftime("%m/%d/%Y")),
        "bad_month": ["2020-13-01"] * n,
        "flag": [bool(x) for x in rng.integers(0, 2, n)],
        "flag_na": [None if i % 5 == 0 else bool(i % 2) for i in range(n)],
        "dec": [decimal.Decimal(i) for i in range(n)],
        "dates": [datetime.date(2020, 1, 1)] * n,
        "mixed": [1 if i % 2 else "a" for i in range(n)],
        "ints": list(range(n)),
    })
    for c in df.columns:
        df[c] = df[c].astype(object)
    path = tmp_path / "t.snap"
    memtrace.dump_frames(path, {"t": df})
    out = subprocess.run([tool("memtrace-frames"), "-f", "json", str(path)], capture_output=True)
    assert out.returncode == 0, out.stderr
    cols = {c["name"]: c for c in json.loads(out.stdout)["frames"][0]["columns"]}
    for name in df.columns:
        values = df[name].dropna()
        types = {type(v) for v in values}
        expect = ""
        if len(types) == 1:
            t = types.pop()
            expect = t.__qualname__ if t.__module__ == "builtins" else t.__module__ + "." + t.__qualname__
        assert cols[name].get("value_type", "") == expect, name
        family = pd.api.types.infer_dtype(values, skipna=True)
        assert (expect == "bool") == (family == "boolean"), name
        try:
            parsed = pd.to_datetime(values, errors="raise")
            parses = parsed.dt.tz is None and family == "string" and len(values) > 0 and \
                all(len(v) >= 10 and v[4] == "-" for v in values)
        except (ValueError, TypeError):
            parses = False
        assert cols[name]["datetime_text"] == parses, name



HOSTILE_COLUMN = r"""
import numpy as np
from memtrace import _memtrace

arr = np.empty(4, dtype=object)
events = []

class Hostile:
    def __init__(self, i):
        self.i = i

    def __sizeof__(self):
        events.append(("sizeof", self.i))
        arr[self.i] = None  # the column's only reference to self
        return 64

    def __hash__(self):
        events.append(("hash", self.i))
        return self.i

    def __del__(self):
        events.append(("del", self.i))

for i in range(len(arr)):
    arr[i] = Hostile(i)
r = _memtrace.column_stats(arr, "O")
print(events)
print(r["sizeof_total"], r["count"])
"""


def test_column_stats_holds_the_values_it_reads():
    """Issue 30 #2: a value's __sizeof__ (Python code) may replace and so
    free the values of the column; column_stats must hold each value until
    it is done with it, or it hashes a freed object. Here each value drops
    its own slot: it must die only after column_stats hashed it. In a
    subprocess, as the defect reads freed memory."""
    r = subprocess.run([sys.executable, "-c", HOSTILE_COLUMN], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python")))
    assert r.returncode == 0, r.stderr
    events, totals = r.stdout.splitlines()
    want = [(e, i) for i in range(4) for e in ("sizeof", "hash", "del")]
    assert events == repr(want)
    assert totals == "256 4"


def test_a_failed_dump_frames_or_import_leaves_the_earlier_file(tmp_path):
    """Issue 30 #6: dump_frames and import_tracemalloc wrote through
    Writer's context manager, which closed (and so published) a snapshot
    cut short by an exception. Given up instead: the earlier file stays
    byte for byte, and no temporary file beside it."""
    class Failing:
        def __sizeof__(self):
            raise MemoryError("injected")

    path = tmp_path / "f.snap"
    memtrace.dump_frames(path, pd.DataFrame({"a": [1, 2, 3]}))
    before = path.read_bytes()
    bad = pd.DataFrame({"a": np.arange(3), "o": np.array([Failing(), "x", "y"], dtype=object)})
    with pytest.raises(MemoryError, match="injected"):
        memtrace.dump_frames(path, {"good": pd.DataFrame({"b": np.arange(1000)}), "bad": bad})
    assert path.read_bytes() == before
    # A tracemalloc snapshot whose second trace is damaged.
    snap = tracemalloc.Snapshot([(0, 64, (("a.py", 1),), 1), None], 1)
    with pytest.raises(TypeError):
        memtrace.import_tracemalloc(snap, str(path))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["f.snap"]
