"""The notebook magics of memtrace._nbmagics, driven through a real IPython
InteractiveShell with a small stand-in for memtrace.notebook's recorder.
The oracles: the independent reader (spec_reader) for a heap dump's
counts, pandas' memory_usage(deep=True) for frames and for what the advised
astype saves, the memtrace tools run by hand on the same inputs, the
sizes of the objects a cell keeps (sys.getsizeof) for leaks, and an
array's nbytes for the line profile."""

import json
import os
import subprocess
import sys
import tracemalloc
import types

import numpy as np
import pandas as pd
import pytest

from conftest import tool

pytest.importorskip("IPython")
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

import spec_reader  # noqa: E402
from memtrace import _nbmagics as nb  # noqa: E402
from memtrace import _tools  # noqa: E402

MiB = 1 << 20


class Recorder(types.SimpleNamespace):
    """What the magics use of memtrace.notebook's CellRecorder."""

    def event(self, kind, name=None, value=0.0, detail=None):
        self.events.append((kind, name, value, detail))

    def dump_dir(self):
        os.makedirs(self.dir, exist_ok=True)
        return self.dir


@pytest.fixture
def rec(tmp_path):
    return Recorder(path=None, dir=str(tmp_path / "dumps"), cell_id=1, after_cell=[], events=[])


@pytest.fixture
def shell():
    sh = InteractiveShell.instance()
    before = set(sh.user_ns)
    sh.rl_next_input = None
    yield sh
    for k in set(sh.user_ns) - before:
        del sh.user_ns[k]


def run_cell(shell, rec, code):
    """A cell as the recorder sees it: run, then the after_cell hooks."""
    rec.cell_id += 1
    r = shell.run_cell(code)
    r.raise_error()
    cell = {"id": rec.cell_id, "exec_count": rec.cell_id, "status": "ok", "rss_before": 0, "rss_after": 0,
            "rss_peak": 0}
    for f in list(rec.after_cell):
        f(cell)


def by_hand(name, *args, ok=(0,)):
    p = subprocess.run([tool(name), *map(str, args)], capture_output=True, text=True)
    assert p.returncode in ok, p.stderr
    return p


def sales(n=100_000, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "store": rng.integers(0, 50, n),
        "city": rng.choice(["Lyon", "Paris", "Nantes", "Lille"], n),
        "amount": rng.random(n) * 100,
        "qty": rng.integers(1, 10, n).astype("float64"),
    })


# -- snapshot ----------------------------------------------------------------


def test_snapshot_heap_counts_what_the_file_holds(rec, shell):
    shell.user_ns["keep"] = [bytearray(1000) for _ in range(100)]
    r = nb.snapshot(rec, shell, "first")
    path = os.path.join(rec.dir, "first.snap")
    assert r.data["path"] == path
    s = spec_reader.Snapshot(path)
    objs = s.of("objects")
    assert r.data["objects"] == len(objs)
    assert r.data["bytes"] == sum(o["size"] for o in objs)
    assert "%d objects" % len(objs) in repr(r) and path in repr(r)
    assert "<code>%s</code>" % path in r._repr_html_()
    assert rec.events[-1][:2] == ("dump", "first") and rec.events[-1][3] == path
    assert rec.events[-1][2] > 0  # the rss before the dump


def test_snapshot_never_replaces_an_earlier_file(rec, shell):
    os.makedirs(rec.dir)
    mine = os.path.join(rec.dir, "s.snap")
    with open(mine, "w") as f:
        f.write("not a dump")
    r = nb.snapshot(rec, shell, "s")
    assert r.data["path"] == os.path.join(rec.dir, "s-2.snap")
    assert nb.snapshot(rec, shell, "s").data["path"] == os.path.join(rec.dir, "s-3.snap")
    with open(mine) as f:
        assert f.read() == "not a dump"


def test_snapshot_frames_deep_bytes_are_pandas(rec, shell):
    a, b = sales(20_000), sales(500, seed=2)
    shell.user_ns.update(a=a, b=b, _hidden=a, n=3)
    r = nb.snapshot(rec, shell, "frames --frames")
    path = os.path.join(rec.dir, "frames.snap")
    assert r.data["path"] == path
    got = {f["name"]: f for f in r.data["frames"]}
    # Output-cache names (_, _3) are not the user's frames.
    assert set(got) == {"a", "b"}
    for name, df in (("a", a), ("b", b)):
        deep = int(df.memory_usage(deep=True).sum())
        assert got[name]["deep_bytes"] == deep
        assert got[name]["rows"] == len(df)
    # And the same as memtrace-frames says of the file by hand.
    hand = json.loads(by_hand("memtrace-frames", path, "--format", "json").stdout)
    assert hand["deep_bytes"] == r.data["deep_bytes"]
    assert hand["real_bytes"] == r.data["real_bytes"] < r.data["deep_bytes"]
    text = repr(r)
    assert "2 frames" in text and " real (" in text and "pandas deep" in text
    assert rec.events[-1][3] == path


@pytest.mark.parametrize("args, message", [
    ("", "snapshot: a NAME is needed"),
    ("a b", "snapshot: one NAME only, got 2"),
    ("../x", "'../x': not a dump name"),
    (".hidden", "'.hidden': not a dump name"),
    ("a;b", "'a;b': not a dump name"),
    ("x --verbose", "snapshot: --verbose: unknown option"),
    ("'unclosed", "snapshot: 'unclosed: No closing quotation"),
])
def test_snapshot_errors(rec, shell, args, message):
    with pytest.raises(nb.MagicError) as e:
        nb.snapshot(rec, shell, args)
    assert message in str(e.value)
    assert not os.path.exists(rec.dir) or not os.listdir(rec.dir)


def test_snapshot_frames_without_frames(rec, shell):
    for k in [k for k, v in shell.user_ns.items() if isinstance(v, pd.DataFrame) and not k.startswith("_")]:
        del shell.user_ns[k]
    with pytest.raises(nb.MagicError, match="snapshot --frames: no pandas DataFrame"):
        nb.snapshot(rec, shell, "x --frames")


# -- advise ------------------------------------------------------------------


def test_advise_code_is_the_tools_and_shrinks_the_frame(rec, shell, tmp_path):
    df = sales()
    shell.user_ns["df"] = df
    before = int(df.memory_usage(deep=True).sum())
    r = nb.advise(rec, shell, "df")
    code = shell.rl_next_input
    assert code and code == r.data["code"].rstrip("\n")
    # The tool's own code for the same frame, run by hand; the file's name
    # (a temporary one, gone after the magic) is the only difference: the
    # magic names the frame instead.
    hand_path = tmp_path / "df.snap"
    import memtrace
    memtrace.dump_frames(str(hand_path), {"df": df})
    hand = by_hand("memtrace-advise", hand_path, "--format", "python").stdout
    assert code == hand.replace(str(hand_path), "%memtrace advise df").rstrip("\n")
    assert "memtrace-advise-" not in code
    rules = {(a["rule"], a["column"]) for a in r.data["advice"]}
    assert ("object-to-category", "city") in rules and ("int-downcast", "store") in rules
    for a in r.data["advice"]:
        assert a["rule"] in repr(r) and a["column"] in repr(r)
    assert "<pre>" in r._repr_html_() and "astype" in r._repr_html_()
    # The code runs and shrinks the frame by what the tool said, keeping
    # every value.
    shell.run_cell(code).raise_error()
    new = shell.user_ns["df"]
    after = int(new.memory_usage(deep=True).sum())
    assert after < before / 3
    assert before - after == pytest.approx(r.data["total_saving_bytes"], rel=0.05)
    assert (new["city"].astype(object) == df["city"]).all()
    assert (new["store"].astype("int64") == df["store"]).all()


def test_advise_a_frame_with_nothing_to_change(rec, shell):
    shell.user_ns["tight"] = pd.DataFrame({"x": np.random.default_rng(0).random(1000)})
    r = nb.advise(rec, shell, "tight")
    assert r.data["code"] is None and shell.rl_next_input is None
    assert "0 pieces of advice" in repr(r)


@pytest.mark.parametrize("args, message", [
    ("", "advise: a DataFrame's name is needed"),
    ("a b", "advise: one DataFrame only, got 2"),
    ("nothere", "advise: nothere: no such variable"),
    ("n", "advise: n: not a DataFrame but int"),
    ("df.x", "advise: 'df.x': not a variable name"),
])
def test_advise_errors(rec, shell, args, message):
    shell.user_ns["n"] = 3
    with pytest.raises(nb.MagicError) as e:
        nb.advise(rec, shell, args)
    assert message in str(e.value)


# -- predict -----------------------------------------------------------------


@pytest.fixture
def shop(shell):
    rng = np.random.default_rng(3)
    orders = pd.DataFrame({"k": rng.integers(0, 5000, 200_000), "amount": rng.random(200_000),
                           "city": rng.choice(["a", "b", "c"], 200_000)})
    customers = pd.DataFrame({"k": np.arange(5000), "age": rng.integers(18, 90, 5000)})
    shell.user_ns.update(orders=orders, customers=customers, pd=pd)
    return orders, customers


def test_predict_is_what_the_tool_says_by_hand(rec, shell, shop, tmp_path):
    import memtrace
    r = nb.predict(rec, shell, '--available 1TiB orders.merge(customers, on="k", how="left")')
    path = tmp_path / "in.snap"
    memtrace.dump_frames(str(path), {"orders": shop[0], "customers": shop[1]}, keys=["k"])
    hand = json.loads(by_hand("memtrace-predict", "--op", "merge", "--left", "orders", "--right", "customers",
                              "--on", "k", "--how", "left", "--shapes", path, "--format", "json",
                              "--available", "1TiB").stdout)
    for key in ("peak_bytes", "result_bytes", "result_rows", "input_bytes", "available_bytes", "fits"):
        assert r.data[key] == hand[key], key
    assert hand["fits"] and hand["available_bytes"] == 1 << 40
    text = repr(r)
    assert nb._size(hand["peak_bytes"]) in text and "fits" in text
    assert "warning" not in text and "does not fit" not in text


def test_predict_warns_when_it_does_not_fit(rec, shell, shop):
    r = nb.predict(rec, shell, '--available=64KiB pd.merge(orders, customers, on="k")')
    assert r.data["fits"] is False and r.data["available_bytes"] == 65536
    text = repr(r)
    assert "does not fit" in text
    assert "warning: the predicted peak" in text
    # The tool's alternatives, each as it says it.
    assert r.data["suggestions"]
    for s in r.data["suggestions"]:
        assert "instead: " + s["text"] in text
    assert "color:#a00" in r._repr_html_()


@pytest.mark.parametrize("expr, args", [
    ('orders.merge(customers, on="k")', ["--left", "orders", "--right", "customers", "--on", "k", "--how", "inner"]),
    ("orders.merge(customers)", ["--left", "orders", "--right", "customers", "--on", "k", "--how", "inner"]),
    ('pd.merge(orders, customers, on=["k"], how="outer")',
     ["--left", "orders", "--right", "customers", "--on", "k", "--how", "outer"]),
    ('pd.merge(left=orders, right=customers, on="k")',
     ["--left", "orders", "--right", "customers", "--on", "k", "--how", "inner"]),
    ('orders.groupby("k").sum()', ["--frame", "orders", "--by", "k", "--agg", "sum"]),
    ('orders.groupby(["k", "city"])["amount"].agg("median")',
     ["--frame", "orders", "--by", "k,city", "--agg", "median", "--columns", "amount"]),
    ('orders.groupby(by="city", observed=True)[["amount"]].mean()',
     ["--frame", "orders", "--by", "city", "--agg", "mean", "--columns", "amount", "--observed"]),
    ('orders.pivot_table(index="k", columns="city", values="amount", aggfunc="sum")',
     ["--frame", "orders", "--index", "k", "--columns", "city", "--values", "amount", "--aggfunc", "sum"]),
    ("pd.concat([orders, customers])", ["--frames", "orders,customers"]),
    ('orders.sort_values(["city", "k"], ascending=False)', ["--frame", "orders", "--by", "city,k"]),
])
def test_predict_maps_each_supported_form(rec, shell, shop, expr, args):
    r = nb.predict(rec, shell, "--available 1TiB " + expr)
    cmd = r.data["command"]
    assert cmd[0] == "memtrace-predict"
    op = cmd[cmd.index("--op") + 1]
    assert cmd[3:3 + len(args)] == args, cmd
    assert r.data["op"] == op
    assert r.data["peak_bytes"] > 0


def test_predict_passes_the_cgroup_limit_when_lower(rec, shell, shop, tmp_path, monkeypatch):
    cg = tmp_path / "cg"
    os.makedirs(cg)
    (cg / "memory.max").write_text("%d\n" % (3 << 30))
    (cg / "memory.current").write_text("%d\n" % (1 << 30))
    monkeypatch.setattr(nb, "_CGROUP_ROOT", str(cg))
    # Where the process' own cgroup (from /proc/self/cgroup) is not under
    # the fake root, the root is read.
    mem = nb._meminfo_available()
    r = nb.predict(rec, shell, 'orders.sort_values("k")')
    if mem is not None and mem > (2 << 30):
        assert r.data["available_bytes"] == 2 << 30
        assert "cgroup" in repr(r)
    (cg / "memory.max").write_text("max\n")
    r = nb.predict(rec, shell, 'orders.sort_values("k")')
    assert r.data["available_source"] == "MemAvailable"
    # The tool's own default, read by the tool a moment later.
    if mem is not None:
        assert r.data["available_bytes"] == pytest.approx(mem, rel=0.2)


@pytest.mark.parametrize("expr, message", [
    ("", "predict: an expression is needed"),
    ("--available", "predict: --available: a size is needed"),
    ("--verbose orders", "predict: --verbose: unknown option"),
    ("orders.merge(", "not a Python expression"),
    ("orders.apply(len)", "predict: orders.apply(...): not supported; supported: A.merge(B"),
    ("orders", "predict: orders: not supported; supported:"),
    ('orders.groupby("k").quantile()', "not supported; supported:"),
    ('orders.merge(customers, left_on="k", right_on="k")', "predict: merge(left_on=...): not supported"),
    ('nothere.merge(customers, on="k")', "predict: nothere: no such variable"),
    ('n.merge(customers, on="k")', "predict: n: not a DataFrame but int"),
    ('orders.merge(customers.head(), on="k")', "customers.head(): a DataFrame variable is needed"),
    ("orders.merge(customers, on=1)", "merge on=: a column name or a list of names is needed, not 1"),
    ('orders.merge(customers, on="k", how="cross")', "merge how='cross': not one of inner, left, right, outer"),
    ("orders.merge(customers, **kw)", "predict: merge: **kw: not supported"),
    ('orders.merge(city_only, on="k")', "predict: city_only: not a DataFrame"),
    ("orders.merge(strs)", "orders and strs have no column in common"),
    ("pd.concat([orders, customers], axis=1)", "only axis=0"),
    ("pd.concat(orders)", "pd.concat: a list of DataFrame variables is needed"),
    ('orders.groupby("k").agg(["sum", "mean"])', "agg: a string is needed"),
    ('orders.groupby("k").agg("prod")', "agg='prod': not one of sum, mean"),
    ('orders.groupby("k").sum(numeric_only=True)', ".sum(): arguments are not supported"),
    ('orders.groupby("k", dropna=False).sum()', "groupby(dropna=...): not supported"),
    ('orders.pivot_table(index="k")', "pivot_table: columns=, values= needed"),
    ("orders.sort_values()", "sort_values: the columns to sort by are needed"),
])
def test_predict_errors(rec, shell, shop, expr, message):
    shell.user_ns.update(n=3, city_only=1, strs=pd.DataFrame({"s": ["x"]}))
    with pytest.raises(nb.MagicError) as e:
        nb.predict(rec, shell, expr)
    assert message in str(e.value)


def test_predict_a_bad_size_is_the_tools_error(rec, shell, shop):
    with pytest.raises(_tools.ToolError) as e:
        nb.predict(rec, shell, '--available 12parsecs orders.sort_values("k")')
    assert "available" in str(e.value) and e.value.status == 2


# -- leaks -------------------------------------------------------------------


def test_leaks_finds_a_growing_list(rec, shell):
    nb.leaks(rec, shell, "start")
    run_cell(shell, rec, "L = []")
    r = nb.leaks(rec, shell, "")
    assert r.data["more"] == 2 and "run 2 more cells" in repr(r)
    for _ in range(5):
        run_cell(shell, rec, "L.extend(bytes(1024) for _ in range(1024))")
    r = nb.leaks(rec, shell, "")
    assert len(r.data["dumps"]) == 6
    top = r.data["suspects"][0]
    assert top["type"] == "bytes"
    assert top["accumulation_point"]["type"] == "list"
    assert top["accumulation_point"]["path"].endswith("\u2192 L")
    # 1024 objects of sys.getsizeof(bytes(1024)) bytes a cell.
    assert top["growth_objects_per_snapshot"] == 1024
    assert top["growth_bytes_per_snapshot"] == 1024 * sys.getsizeof(bytes(1024))
    assert top["confidence"] > 0.9
    text = repr(r)
    assert "bytes" in text and "list: " + top["accumulation_point"]["path"] in text
    assert "%.2f" % top["confidence"] in text


def test_leaks_keeps_the_last_six_and_stops(rec, shell):
    nb.leaks(rec, shell, "start")
    for _ in range(8):
        run_cell(shell, rec, "x = 1")
    d = os.path.join(rec.dir, "leaks")
    files = sorted(os.listdir(d))
    assert len(files) == 6
    assert files == sorted("cell-%d.snap" % i for i in range(rec.cell_id - 5, rec.cell_id + 1))
    assert "stopped after 6 dumps" in repr(nb.leaks(rec, shell, "stop"))
    assert rec.after_cell == []
    run_cell(shell, rec, "x = 2")
    assert len(os.listdir(d)) == 6
    with pytest.raises(nb.MagicError, match="leaks stop: not started"):
        nb.leaks(rec, shell, "stop")


def test_leaks_nothing_for_cells_that_free_what_they_allocate(rec, shell):
    nb.leaks(rec, shell, "start")
    for _ in range(6):
        run_cell(shell, rec, "t = [bytes(1024) for _ in range(1024)]\ndel t")
    r = nb.leaks(rec, shell, "")
    assert r.data["suspects"] == [], [(s["type"], s["growth_bytes_per_snapshot"]) for s in r.data["suspects"]]
    assert "0 suspects" in repr(r)


def test_leaks_min_growth(rec, shell):
    nb.leaks(rec, shell, "start")
    run_cell(shell, rec, "L2 = []")
    for _ in range(4):
        run_cell(shell, rec, "L2.extend(bytes(1024) for _ in range(1024))")
    # 4 x 1024 x 1057 bytes gained in all: judged at 4 MiB, not at 5 MiB.
    assert nb.leaks(rec, shell, "--min-growth %d" % (4 * MiB)).data["suspects"][0]["type"] == "bytes"
    assert nb.leaks(rec, shell, "--min-growth=%d" % (5 * MiB)).data["suspects"] == []
    with pytest.raises(_tools.ToolError) as e:
        nb.leaks(rec, shell, "--min-growth lots")
    assert e.value.status == 2


@pytest.mark.parametrize("args, message", [
    ("", "leaks: no dumps: start them with %memtrace leaks start"),
    ("--min-growth", "leaks: --min-growth: one size is needed"),
    ("--min-growth 1 start", "leaks: --min-growth: one size is needed"),
    ("stop", "leaks stop: not started"),
    ("begin", "leaks: begin: not a leaks command"),
    ("start now", "leaks: start now: not a leaks command"),
])
def test_leaks_errors(rec, shell, args, message):
    with pytest.raises(nb.MagicError) as e:
        nb.leaks(rec, shell, args)
    assert message in str(e.value)


# -- %%memtrace --------------------------------------------------------------

CELL = """x = 1
a = np.ones(6_250_000)
del a
y = 2
"""


def lines_of(report):
    return {d["line"]: d for d in report.data["lines"]}


def test_profile_cell_line_by_line(rec, shell):
    shell.user_ns["np"] = np
    nbytes = np.ones(6_250_000).nbytes  # 50e6
    tracing, trace = tracemalloc.is_tracing(), sys.gettrace()
    r = nb.profile_cell(rec, shell, "", CELL)
    assert tracemalloc.is_tracing() == tracing and sys.gettrace() is trace
    got = lines_of(r)
    assert set(got) == {1, 2, 3, 4} and all(d["hits"] == 1 for d in got.values())
    assert got[2]["peak"] == pytest.approx(nbytes, rel=0.05)
    assert got[2]["net"] == pytest.approx(nbytes, rel=0.05)
    assert got[3]["net"] == pytest.approx(-nbytes, rel=0.05)
    for n in (1, 4):
        assert abs(got[n]["peak"]) < 64 * 1024 and abs(got[n]["net"]) < 64 * 1024
    assert r.data["top"] == 2
    text = repr(r)
    assert "a = np.ones(6_250_000)   <- highest peak" in text
    assert "font-weight:bold" in r._repr_html_()
    if r.data["rss_available"]:
        # np.ones writes every page: the resident peak holds the array.
        assert got[2]["rss_peak"] >= 0.9 * nbytes
        assert got[1]["rss_peak"] < 4 * MiB
    else:
        assert "rss peak: not available" in text


def test_profile_cell_loops_aggregate(rec, shell):
    shell.user_ns["np"] = np
    r = nb.profile_cell(rec, shell, "", "for i in range(4):\n    b = np.ones(1_250_000)\n    del b\n")
    got = lines_of(r)
    assert got[1]["hits"] == 5 and got[2]["hits"] == 4 and got[3]["hits"] == 4
    assert got[2]["peak"] == pytest.approx(10e6, rel=0.05)        # the largest, not the sum
    assert got[2]["net"] == pytest.approx(4 * 10e6, rel=0.05)     # the sum
    assert got[3]["net"] == pytest.approx(-4 * 10e6, rel=0.05)


def test_profile_cell_shows_the_report_then_raises(rec, shell, capsys):
    shell.user_ns["np"] = np
    cell = "x = 1\na = np.ones(6_250_000)\ndel a\n1 / 0\n"
    trace = sys.gettrace()
    with pytest.raises(ZeroDivisionError):
        nb.profile_cell(rec, shell, "", cell)
    out = capsys.readouterr().out
    assert "<- highest peak" in out and "1 / 0" in out
    assert "the cell raised ZeroDivisionError" in out
    assert sys.gettrace() is trace


def test_profile_cell_without_clear_refs(rec, shell, monkeypatch, tmp_path):
    monkeypatch.setattr(nb, "_CLEAR_REFS", str(tmp_path / "no" / "clear_refs"))
    r = nb.profile_cell(rec, shell, "", "z = 1\n")
    assert r.data["rss_available"] is False
    assert "rss peak: not available" in repr(r)
    assert lines_of(r)[1]["rss_peak"] is None


def test_profile_cell_keeps_a_running_tracemalloc(rec, shell):
    tracemalloc.start()
    try:
        nb.profile_cell(rec, shell, "", "z = [0] * 1000\n")
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()


def test_profile_cell_errors(rec, shell):
    with pytest.raises(nb.MagicError, match="%%memtrace: -x: takes no arguments"):
        nb.profile_cell(rec, shell, "-x", "z = 1\n")


def test_profile_cell_runs_ipython_syntax_and_shows_the_last_value(rec, shell, capsys):
    shell.user_ns["np"] = np
    r = nb.profile_cell(rec, shell, "", "v = 41\n%time w = np.ones(10)\nv + 1\n")
    got = lines_of(r)
    assert set(got) == {1, 2, 3}
    assert shell.user_ns["w"].shape == (10,)
    out = capsys.readouterr().out
    assert "42" in out.split("memtrace: the cell")[0]
    assert not [k for k in shell.user_ns if k.startswith("_memtrace_show")]
    nb.profile_cell(rec, shell, "", "v + 100;\n")
    assert "141" not in capsys.readouterr().out


def test_leaks_a_dump_that_cannot_be_written_stops_the_dumps(rec, shell, capsys):
    nb.leaks(rec, shell, "start")
    d = os.path.join(rec.dir, "leaks")
    os.rmdir(d)
    with open(d, "w") as f:
        f.write("in the way")
    run_cell(shell, rec, "x = 1")
    assert rec.after_cell == []
    assert "memtrace leaks: stopped: " in capsys.readouterr().err
    run_cell(shell, rec, "x = 2")
