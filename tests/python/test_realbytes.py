"""df_frames and df_columns real_bytes and shared_bytes (memtrace-snap(5),
issue 27), with tracemalloc as the oracle: what building a frame cost is
the memory it holds. pandas' memory_usage(deep=True) charges a string
shared by many rows at every row, so for frames read by read_csv it is
several times that."""

import gc
import json
import subprocess
import sys
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import memtrace
import spec_reader
from conftest import tool
from memtrace._memtrace import ObjectLedger

DBYTES_EST = 64
REAL_EST = 1 << 11
TOLERANCE = 0.05


def stocks_csv(path, rows=200_000, seed=1):
    """A CSV of repeated strings: 20 symbols, 1000 dates, floats, ints."""
    rng = np.random.default_rng(seed)
    symbols = np.array(["SYM%02d" % i for i in range(20)])
    dates = pd.date_range("2020-01-01", periods=1000).strftime("%Y-%m-%d").to_numpy()
    pd.DataFrame({"symbol": symbols[rng.integers(0, 20, rows)], "date": dates[rng.integers(0, 1000, rows)],
                  "open": rng.random(rows), "close": rng.random(rows),
                  "volume": rng.integers(0, 10**6, rows)}).to_csv(path, index=False)
    return str(path)


@pytest.fixture
def traced():
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    yield
    if started:
        tracemalloc.stop()


def cost(build):
    """(what build returns, the traced memory it added once garbage is gone)."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    out = build()
    gc.collect()
    return out, tracemalloc.get_traced_memory()[0] - before


def records(path):
    s = spec_reader.Snapshot(str(path))
    frames = {f["name"]: f for f in s.of("df_frames")}
    cols = {}
    for c in s.of("df_columns"):
        cols.setdefault(c["frame"], []).append(c)
    return frames, cols


def near(x, oracle):
    return abs(x - oracle) <= TOLERANCE * oracle


def test_read_csv_frame_real_bytes_are_what_building_it_cost(tmp_path, traced):
    csv = stocks_csv(tmp_path / "stocks.csv")
    df, built = cost(lambda: pd.read_csv(csv))
    memtrace.dump_frames(tmp_path / "s.snap", {"stocks": df})
    frames, cols = records(tmp_path / "s.snap")
    f = frames["stocks"]
    assert near(f["real_bytes"], built), (f["real_bytes"], built)
    assert f["shared_bytes"] == 0
    # pandas' deep count, the bug this fixes: several times the memory.
    deep = int(df.memory_usage(deep=True).sum())
    assert f["deep_bytes"] == deep
    assert deep > 3 * built
    # The columns add up to the frame (a RangeIndex holds no buffer).
    assert sum(c["real_bytes"] for c in cols[f["id"]]) == f["real_bytes"]
    by = {c["name"]: c for c in cols[f["id"]]}
    for name in ("open", "close", "volume"):
        assert by[name]["real_bytes"] == df[name].to_numpy().nbytes
    # An object column: its pointers and each distinct string once.
    strings = {id(v): sys.getsizeof(v) for v in df["symbol"]}
    assert by["symbol"]["real_bytes"] == 8 * len(df) + sum(strings.values())
    assert not by["symbol"]["flags"] & REAL_EST


def test_concatenated_frame_real_bytes_are_what_building_it_cost(tmp_path, traced):
    csv = stocks_csv(tmp_path / "stocks.csv", rows=100_000)

    def build():
        parts = [pd.read_csv(csv) for _ in range(3)]
        return pd.concat(parts, ignore_index=True)  # the parts go: their strings stay

    df, built = cost(build)
    memtrace.dump_frames(tmp_path / "c.snap", {"all": df})
    frames, _ = records(tmp_path / "c.snap")
    assert near(frames["all"]["real_bytes"], built), (frames["all"]["real_bytes"], built)
    assert frames["all"]["deep_bytes"] > 3 * built


def test_frames_sharing_data_are_counted_once(tmp_path, traced):
    csv = stocks_csv(tmp_path / "stocks.csv")

    def build():
        df = pd.read_csv(csv)
        return df, df[["symbol", "open"]], df.copy(deep=False), df.iloc[1000:50_000]

    (df, picked, shallow, view), built = cost(build)
    memtrace.dump_frames(tmp_path / "d.snap", {"df": df, "picked": picked, "shallow": shallow, "view": view})
    frames, _ = records(tmp_path / "d.snap")
    total = sum(f["real_bytes"] - f["shared_bytes"] for f in frames.values())
    assert near(total, built), (total, built)
    # A shallow copy and a view of rows share all they hold; df[[...]]
    # copies the buffers but shares the strings.
    assert frames["shallow"]["shared_bytes"] == frames["shallow"]["real_bytes"] == frames["df"]["real_bytes"]
    assert frames["view"]["shared_bytes"] == frames["view"]["real_bytes"] > 0
    strings = sum(sys.getsizeof(v) for v in {id(v): v for v in df["symbol"]}.values())
    assert frames["picked"]["shared_bytes"] == strings


def test_objects_shared_across_columns_and_the_index_count_once(tmp_path, traced):
    words = np.array(["w%d" % i * 10 for i in range(50)], dtype=object)
    rng = np.random.default_rng(2)

    def build():
        a = words[rng.integers(0, 50, 50_000)]
        return pd.DataFrame({"a": a, "b": a[::-1].copy()}, index=pd.Index(a.copy()))

    df, built = cost(build)
    memtrace.dump_frames(tmp_path / "o.snap", df)
    frames, cols = records(tmp_path / "o.snap")
    f = frames["df"]
    a, b = cols[f["id"]]
    strings = sum(sys.getsizeof(w) for w in words)
    assert a["real_bytes"] == 8 * 50_000 + strings
    assert b["real_bytes"] == 8 * 50_000  # the same strings, charged to a
    assert f["real_bytes"] == 3 * 8 * 50_000 + strings
    assert near(f["real_bytes"], built), (f["real_bytes"], built)


def test_many_distinct_objects_are_estimated_and_flagged(tmp_path):
    n = 600_000  # past the ledger's 2^18 exact objects
    s = pd.Series(["value-%d" % i for i in range(n)], dtype=object)
    df = pd.DataFrame({"s": s})
    memtrace.dump_frames(tmp_path / "m.snap", df)
    frames, cols = records(tmp_path / "m.snap")
    (c,) = cols[frames["df"]["id"]]
    exact = 8 * n + sum(sys.getsizeof(v) for v in s)
    assert c["flags"] & REAL_EST
    assert abs(c["real_bytes"] - exact) <= 0.02 * exact, (c["real_bytes"], exact)
    # Under the ledger's exact limit the figure is exact and not flagged,
    # though column_stats estimates distinct_bytes past 2^16 values.
    n = 100_000
    s = pd.Series(["value-%d" % i for i in range(n)], dtype=object)
    memtrace.dump_frames(tmp_path / "e.snap", pd.DataFrame({"s": s}))
    frames, cols = records(tmp_path / "e.snap")
    (c,) = cols[frames["df"]["id"]]
    assert c["real_bytes"] == 8 * n + sum(sys.getsizeof(v) for v in s)
    assert not c["flags"] & REAL_EST


def test_a_column_sharing_another_columns_buffer_records_zero(tmp_path):
    """Two columns over one buffer (copy-on-write, or a frame built from
    one array twice): the second records a real 0, which readers must
    not take for 'not recorded' and replace by pandas' count."""
    import numpy as np
    a = np.arange(100_000, dtype="int64")
    df = pd.DataFrame({"a": a})
    df["b"] = df["a"]
    if not np.shares_memory(df["a"].to_numpy(), df["b"].to_numpy()):
        # pandas 1.5 copies on assignment; build the sharing from blocks.
        from pandas.core.internals import BlockManager, make_block
        blk = make_block(a.reshape(1, -1), placement=[0])
        blk2 = make_block(a.reshape(1, -1), placement=[1])
        df = pd.DataFrame(BlockManager([blk, blk2], [pd.Index(["a", "b"]), pd.RangeIndex(len(a))]))
    assert np.shares_memory(df["a"].to_numpy(), df["b"].to_numpy())
    memtrace.dump_frames(tmp_path / "z.snap", df)
    frames, cols = records(tmp_path / "z.snap")
    ca, cb = cols[frames["df"]["id"]]
    assert (ca["real_bytes"], cb["real_bytes"]) == (a.nbytes, 0)
    assert cb["flags"] & (1 << 10)  # real_bytes recorded: the 0 is real
    out = subprocess.run([tool("memtrace-frames"), "--format", "json", str(tmp_path / "z.snap")],
                         capture_output=True, text=True, check=True).stdout
    frame = json.loads(out)["frames"][0]
    got = {c["name"]: c for c in frame["columns"]}
    assert got["b"]["real_bytes"] == 0 and got["b"]["real_recorded"]
    assert frame["real_bytes"] == a.nbytes


def test_pipeline_counts_a_frame_recorded_at_two_steps_once_per_step(tmp_path, traced):
    csv = stocks_csv(tmp_path / "stocks.csv", rows=50_000)
    path = tmp_path / "p.snap"
    with memtrace.pipeline(path) as p:
        df = pd.read_csv(csv)
        p.step("load", df)
        top = df[df["open"] > 0.5]
        p.step("filter", {"df": df, "top": top, "again": df})
    frames, _ = records(path)
    rep = json.loads(subprocess.run([tool("memtrace-frames"), "-f", "json", str(path)], capture_output=True,
                                    check=True).stdout)
    steps = {s["name"]: s for s in rep["steps"]}
    assert steps["load"]["frames_real_bytes"] == frames["load"]["real_bytes"]
    # "again" is df: nothing more at the step; top copies rows (buffers
    # and its index) but its strings are df's.
    top_buffers = int(top.memory_usage(index=True).sum())
    assert steps["filter"]["frames_real_bytes"] == steps["load"]["frames_real_bytes"] + top_buffers
    assert steps["filter"]["frames_deep_bytes"] > 2 * steps["filter"]["frames_real_bytes"]
    # The total is the step that holds the most, not a sum over steps that
    # record the same frame again.
    assert rep["real_bytes"] == steps["filter"]["frames_real_bytes"] and rep["real_step"] == "filter"
    assert rep["pandas_deep_bytes"] == rep["deep_bytes"] == sum(f["deep_bytes"] for f in frames.values())
    text = subprocess.run([tool("memtrace-frames"), str(path)], capture_output=True, text=True, check=True).stdout
    assert "traced peak: the most memory traced since the step before (absolute" in text
    assert "Frames by real bytes" in text
    pandas = subprocess.run([tool("memtrace-frames"), "--bytes", "pandas", str(path)], capture_output=True,
                            text=True, check=True).stdout
    assert "Frames by pandas deep bytes" in pandas and "pandas deep (" in pandas.splitlines()[0]


def test_ledger_refuses_what_is_not_a_column_of_objects():
    led = ObjectLedger()
    with pytest.raises(ValueError, match="next_frame"):
        led.objects(np.array(["a"], dtype=object))
    led.next_frame()
    with pytest.raises(ValueError, match="one-dimensional buffer of objects"):
        led.objects(np.zeros(3))
    words = np.array(["x" * 100, "y" * 100], dtype=object)
    assert led.objects(words[[0, 1, 0, 1]]) == (sys.getsizeof(words[0]) * 2, 0, False)
    led.next_frame()
    assert led.objects(words[[0]]) == (sys.getsizeof(words[0]),) * 2 + (False,)


def test_every_dtype_real_bytes_are_its_buffers(tmp_path):
    from test_frames import every_dtype, multiindexed
    df = every_dtype()
    mi = multiindexed()
    memtrace.dump_frames(tmp_path / "e.snap", {"every": df, "multi": mi})
    frames, cols = records(tmp_path / "e.snap")
    f = frames["every"]
    assert sum(c["real_bytes"] for c in cols[f["id"]]) == f["real_bytes"]  # a RangeIndex: 0
    seen = set()  # objects an earlier column was charged for

    def new_objects(values):
        fresh = {id(v): v for v in values if v is not None and v is not pd.NA and v is not pd.NaT
                 and not isinstance(v, bool) and id(v) not in seen}
        seen.update(fresh)
        return sum(sys.getsizeof(v) for v in fresh.values())

    for c in cols[f["id"]]:
        s = df[c["name"]]
        if c["dtype"] in ("object", "string"):
            assert c["real_bytes"] == s.memory_usage(index=False) + new_objects(s), c["name"]
            assert c["real_bytes"] <= c["deep_bytes"] + 16 * len(s), c["name"]  # tuples: GC headers
        elif c["dtype"] == "category" and s.cat.categories.dtype == object:
            cats = s.cat.categories
            buffers = c["deep_bytes"] - sum(sys.getsizeof(v) for v in cats)  # codes, pointers, hash table
            assert c["real_bytes"] == buffers + new_objects(cats), c["name"]
        else:
            # Numbers, times, masks, sparse points: pandas' deep count.
            assert c["real_bytes"] == c["deep_bytes"], c["name"]
    # A MultiIndex: its levels and codes; its strings are WORDS, which its
    # label column was charged for.
    m = frames["multi"]
    idx = mi.index
    levels = sum(int(lv.memory_usage(deep=True)) for lv in idx.levels) + sum(c.nbytes for c in idx.codes)
    levels -= sum(sys.getsizeof(v) for v in idx.levels[0] if any(v is w for w in mi["label"]))
    assert m["real_bytes"] - sum(c["real_bytes"] for c in cols[m["id"]]) == levels


def test_columns_table_stays_aligned_with_long_and_wide_names(tmp_path):
    n = 1000
    df = pd.DataFrame({"x": np.arange(n), "prix_unitaire_en_€_par_pièce": np.ones(n),
                       "a_column_name_much_longer_than_any_table_would_want_to_show_whole": ["ab"] * n})
    memtrace.dump_frames(tmp_path / "w.snap", {"frame_with_a_long_name": df, "short": df[["x"]]})
    text = subprocess.run([tool("memtrace-frames"), str(tmp_path / "w.snap")], capture_output=True, text=True,
                          check=True).stdout
    for title, figure in (("Frames by real bytes", "real"), ("Columns by real bytes", "real")):
        lines = text.split(title, 1)[1].split("\n\n")[0].splitlines()[1:]
        head, rows = lines[0], lines[1:]
        end = head.index(" %s " % figure) + 1 + len(figure)  # figures are right-aligned to it
        assert rows
        for r in rows:
            assert r[end - 1] != " " and r[end] == " ", (head, r)
    assert " a_column_name_much_longer_than_any_ta... " in text  # cut at 40 characters, marked


def test_diff_by_column_compares_real_bytes(tmp_path, traced):
    csv = stocks_csv(tmp_path / "stocks.csv", rows=50_000)
    df = pd.read_csv(csv)
    memtrace.dump_frames(tmp_path / "a.snap", {"t": df})
    both, built = cost(lambda: pd.concat([df, pd.read_csv(csv)], ignore_index=True))
    memtrace.dump_frames(tmp_path / "b.snap", {"t": both})
    rep = json.loads(subprocess.run([tool("memtrace-diff"), "--by", "column", "-f", "json", "--top", "0",
                                     str(tmp_path / "a.snap"), str(tmp_path / "b.snap")],
                                    capture_output=True, check=True).stdout)
    groups = {g["group"]: g for g in rep["groups"]}
    _, cols_a = records(tmp_path / "a.snap")
    _, cols_b = records(tmp_path / "b.snap")
    for a, b in zip(cols_a[1], cols_b[1]):
        g = groups["t." + a["name"]]
        assert (g["bytes_a"], g["bytes_b"]) == (a["real_bytes"], b["real_bytes"])
    # The concatenated frame holds what building it cost (its buffers and
    # the second read's strings) and the first frame's strings.
    strings_a = sum(c["real_bytes"] - c["shallow_bytes"] for c in cols_a[1])
    assert near(rep["total"]["bytes_b"], built + strings_a), (rep["total"]["bytes_b"], built, strings_a)


def test_row_views_of_a_frame_built_from_a_2d_array_share_its_buffer(tmp_path, traced):
    """A frame over a C-order 2-D array holds strided columns (the row's
    width apart); a row slice and a reversed view of it hold the same
    memory, which the block's total counts once (the reviewer's case: it
    was 72 MB for 24 MB)."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    a = np.random.rand(300_000, 3)
    built = tracemalloc.get_traced_memory()[0] - before
    df = pd.DataFrame(a, copy=False)
    assert not df[0].to_numpy().flags.c_contiguous
    views = {"df": df, "head": df.iloc[:150_000], "middle": df.iloc[75_000:225_000], "rev": df.iloc[::-1]}
    memtrace.dump_frames(tmp_path / "s.snap", views)
    frames, _ = records(tmp_path / "s.snap")
    assert frames["df"]["real_bytes"] == a.nbytes and frames["df"]["shared_bytes"] == 0
    for name in ("head", "middle", "rev"):
        assert frames[name]["shared_bytes"] == frames[name]["real_bytes"], name
    total = sum(f["real_bytes"] - f["shared_bytes"] for f in frames.values())
    assert total == a.nbytes and near(total, built), (total, built)
