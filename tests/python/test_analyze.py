"""memtrace.analyze against the tools: every call's result is compared,
row by row, with the --format json (or csv) output of the memtrace-* tool
that prints the same analysis, on the same files; errors against the
message the tool prints for the same damaged or missing file."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import memtrace
import memtrace.analyze as A
from conftest import BUILD, HERE, ROOT, tool

TESTDATA = os.path.join(ROOT, "testdata")
SNAPS = ["heap-small.snap", "heap-medium.snap", "all-kinds.snap", "frames-sales.snap", "frames-real.snap",
         "pipeline.snap", "run.snap", "cells.snap"]
FRAME_SNAPS = ["frames-sales.snap", "frames-real.snap", "pipeline.snap"]


def cli(name, *args, code=0):
    p = subprocess.run([tool(name), *map(str, args)], capture_output=True, text=True)
    assert p.returncode == code, p.stderr
    return p


def cli_json(name, *args):
    return json.loads(cli(name, *args, "--format", "json").stdout)


def plain(v):
    """A result's value as JSON spells it: bytes as the tools' JSON writes
    a binary value (a string of its bytes), NaN as null, tuples as lists."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("latin-1")
    if isinstance(v, float) and v != v:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return plain(v.item())
    return v


def records(df):
    return [plain(r) for r in df.to_dict("records")]


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Five heap dumps of leaky_app.py (a real program that leaks, caches
    and loads once), with tracemalloc's allocation sites."""
    out = tmp_path_factory.mktemp("series")
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    subprocess.run([sys.executable, "-X", "tracemalloc=1", os.path.join(HERE, "leaky_app.py"), str(out), "5"],
                   check=True, env=env)
    paths = sorted(str(p) for p in out.glob("s*.snap"))
    assert len(paths) == 5
    return paths


def test_importing_memtrace_does_not_load_the_analysis_library():
    code = ("import sys, memtrace; assert 'memtrace._analyze' not in sys.modules; "
            "memtrace.dump_heap; o = memtrace.open; assert 'memtrace._analyze' in sys.modules; "
            "assert o is memtrace.analyze.open")
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


@pytest.mark.parametrize("name", SNAPS)
def test_info_equals_memtrace_info_json(name):
    path = os.path.join(TESTDATA, name)
    want = cli_json("memtrace-info", path, "--top", "1000000")
    want10 = cli_json("memtrace-info", path)
    with memtrace.open(path) as s:
        got = s.info(top=1000000)
        got10 = s.info()
        meta = s.meta
    d = got.to_dict()
    types = d.pop("type_table")
    for k in ("top_types_by_bytes", "top_types_by_count"):
        d[k] = records(getattr(got, k))
    assert plain(d) == want
    # Every type by bytes is the tool's list with no --top limit.
    assert plain(types) == want["top_types_by_bytes"]
    assert records(got10.top_types_by_bytes) == want10["top_types_by_bytes"]
    assert records(got10.top_types_by_count) == want10["top_types_by_count"]
    assert plain(meta) == want["meta"]


def test_info_of_a_series_dump_equals_the_tool(series):
    want = cli_json("memtrace-info", series[-1])
    with memtrace.open(series[-1]) as s:
        got = s.info()
    assert got.objects == want["objects"] and got.object_bytes == want["object_bytes"]
    assert got.rss_bytes == want["rss_bytes"] and got.rss_bytes > 0
    assert got.unaccounted_bytes == want["unaccounted_bytes"]
    assert got.start_date == want["start_date"]
    assert records(got.top_types_by_bytes) == want["top_types_by_bytes"]


@pytest.mark.parametrize("name", FRAME_SNAPS)
@pytest.mark.parametrize("bytes_", ["real", "pandas"])
def test_frames_and_columns_equal_memtrace_frames(name, bytes_):
    path = os.path.join(TESTDATA, name)
    want = cli_json("memtrace-frames", path, "--bytes", bytes_)
    csv_rows = cli("memtrace-frames", path, "--bytes", bytes_, "--format", "csv").stdout.splitlines()[1:]
    with memtrace.open(path) as s:
        got = s.frames(bytes=bytes_)
        cols = s.columns(bytes=bytes_)
    for k in ("file", "bytes", "shallow_bytes", "deep_bytes", "pandas_deep_bytes", "real_bytes",
              "real_shared_bytes", "real_step"):
        assert getattr(got, k) == want[k], k
    # Every frame's full record, in the tool's order.
    assert plain(got.records) == want["frames"]
    assert len(got.frames) == len(want["frames"])
    for row, f in zip(records(got.frames), want["frames"]):
        assert (row["name"], row["step"], row["rows"], row["real_bytes"], row["pandas_deep_bytes"],
                row["shared_bytes"], row["index_real_bytes"]) == (
            f["name"], f["step"], f["rows"], f["real_bytes"], f["pandas_deep_bytes"], f["shared_bytes"],
            f["index"]["real_bytes"])
    assert records(got.steps) == [{k: s[k] for k in got.steps.columns} for s in want["steps"]]
    assert records(got.grew_most) == want["grew_most"]
    # columns(): every column, in the CSV's order (largest first), with
    # the JSON's record of it.
    by_key = {(f["name"], f["step"], c["position"]): c for f in want["frames"] for c in f["columns"]}
    assert len(cols) == len(by_key) == len(csv_rows)
    for row, line in zip(records(cols), csv_rows):
        c = by_key[(row["frame"], row["step"], row["position"])]
        for k in cols.columns:
            if k not in ("frame", "step"):
                assert row[k] == c.get(k), (k, row, c)
        assert line.split(",")[3] == row["name"] or '"' in line
    assert records(got.columns) == records(cols)


def test_frames_of_one_frame_and_step():
    path = os.path.join(TESTDATA, "pipeline.snap")
    full = cli_json("memtrace-frames", path)
    f0 = full["frames"][-1]
    want = cli_json("memtrace-frames", path, "--frame", f0["name"])
    with memtrace.open(path) as s:
        got = s.frames(frame=f0["name"])
        assert plain(got.records) == want["frames"]
        assert (got.real_bytes, got.real_shared_bytes) == (want["real_bytes"], want["real_shared_bytes"])
        if f0["step"]:
            want = cli_json("memtrace-frames", path, "--step", f0["step"])
            assert plain(s.frames(step=f0["step"]).records) == want["frames"]
        with pytest.raises(A.NotFoundError) as e:
            s.frames(frame="no such frame")
        assert e.value.path == path


def test_frames_of_a_heap_dump_is_not_found():
    path = os.path.join(TESTDATA, "heap-small.snap")
    err = cli("memtrace-frames", path, code=3).stderr
    with memtrace.open(path) as s, pytest.raises(A.NotFoundError) as e:
        s.frames()
    assert e.value.path == path
    assert str(e.value) in err


def diff_pairs(series):
    return [(series[0], series[-1], by) for by in ("type", "module", "site", "traceback")] + [
        (series[1], series[2], "type"),
        (os.path.join(TESTDATA, "heap-small.snap"), os.path.join(TESTDATA, "heap-medium.snap"), "type"),
        (os.path.join(TESTDATA, "frames-sales.snap"), os.path.join(TESTDATA, "frames-real.snap"), "column"),
        (os.path.join(TESTDATA, "frames-sales.snap"), os.path.join(TESTDATA, "pipeline.snap"), "column"),
        (os.path.join(TESTDATA, "all-kinds.snap"), os.path.join(TESTDATA, "all-kinds.snap"), "device"),
        (os.path.join(TESTDATA, "all-kinds.snap"), os.path.join(TESTDATA, "all-kinds.snap"), "site"),
    ]


def test_diff_equals_memtrace_diff_json(series):
    for a, b, by in diff_pairs(series):
        for sort in ("delta", "bytes", "count"):
            want = cli_json("memtrace-diff", a, b, "--by", by, "--top", "0", "--sort", sort)
            got = A.diff(a, b, by=by, sort=sort)
            d = got.to_dict()
            d["groups"] = records(got.groups)
            assert plain(d) == want, (a, b, by, sort)
            assert len(got.groups) == want["groups_total"] > 0


def test_diff_top_min_delta_and_open_snapshots(series):
    a, b = series[0], series[-1]
    want = cli_json("memtrace-diff", a, b, "--top", "3", "--min-delta", "1000")
    with memtrace.open(a) as sa, memtrace.open(b) as sb:
        got = A.diff(sa, sb, top=3, min_delta=1000)
        assert not sa.closed  # diff leaves the caller's snapshots open
    assert records(got.groups) == want["groups"]
    assert got.matched and got.rss == want["rss"]


def test_diff_errors():
    small = os.path.join(TESTDATA, "heap-small.snap")
    err = cli("memtrace-diff", small, small, "--by", "column", code=3).stderr
    with pytest.raises(A.NotFoundError) as e:
        A.diff(small, small, by="column")
    assert e.value.path == small and str(e.value) in err
    with pytest.raises(ValueError):
        A.diff(small, small, by="colour")


def test_leaks_equals_memtrace_leaks_json(series):
    for opts, args in (({"top": 0}, ["--top", "0"]), ({}, []), ({"top": 0, "floor": 1, "min_growth": 100},
                                                                  ["--top", "0", "--floor", "1", "--min-growth", "100"])):
        want = cli_json("memtrace-leaks", *series, *args)
        got = A.leaks(series, **opts)
        d = got.to_dict()
        d.pop("suspect_table")
        d.pop("growing")
        assert plain(d) == want
        assert len(got.suspect_table) == len(want["suspects"])
        for row, s in zip(records(got.suspect_table), want["suspects"]):
            assert row["type"] == s["type"] and row["confidence"] == s["confidence"]
            assert row["point_path"] == (s["accumulation_point"] or {}).get("path")
        assert records(got.growing) == [{k: g[k] for k in got.growing.columns} for g in want["not_leaking"]]
    assert want["suspects"], "leaky_app.py leaks: a suspect is expected"


def test_leaks_needs_three():
    with pytest.raises(ValueError):
        A.leaks([os.path.join(TESTDATA, "heap-small.snap")] * 2)


def test_missing_file_raises_file_error_with_its_path():
    path = os.path.join(TESTDATA, "no-such.snap")
    err = cli("memtrace-info", path, code=3).stderr
    with pytest.raises(A.FileError) as e:
        memtrace.open(path)
    assert isinstance(e.value, OSError) and isinstance(e.value, A.Error)
    assert e.value.path == path and e.value.code == "MT_E_IO"
    assert "memtrace-info: %s\n" % e.value in err


@pytest.mark.parametrize("name", ["truncated.snap", "flipped-payload.snap", "flipped-header.snap", "bad-magic.snap"])
def test_damaged_files_raise_bad_input_with_block_and_offset(name):
    path = os.path.join(TESTDATA, "damaged", name)
    err = cli("memtrace-info", path, code=3).stderr.splitlines()[0]
    with pytest.raises(A.BadInputError) as e:
        memtrace.open(path)
    x = e.value
    assert isinstance(x, ValueError) and x.path == path
    # The message is the tool's, less its name; block and offset are the
    # ones it names.
    assert "memtrace-info: %s" % x == err
    if "block" in err:
        assert "block %d at offset %d" % (x.block, x.offset) in err
    else:
        assert x.block is None and x.code == "MT_E_NOTSNAP"


def test_a_truncated_copy_names_the_cut_block_and_salvage_reads_the_rest(tmp_path, series):
    src = os.path.join(TESTDATA, "heap-medium.snap")
    cut = tmp_path / "cut.snap"
    with open(src, "rb") as f:
        data = f.read()
    cut.write_bytes(data[: len(data) * 2 // 3])
    err = cli("memtrace-info", cut, code=3).stderr.splitlines()[0]
    with pytest.raises(A.BadInputError) as e:
        memtrace.open(cut)
    assert e.value.path == str(cut) and e.value.offset is not None and 0 < e.value.offset < len(data)
    assert "memtrace-info: %s" % e.value == err
    want = cli_json("memtrace-info", cut, "--salvage")
    with memtrace.open(cut, salvage=True) as s:
        got = s.info()
    assert got.damage == want["damage"] and got.damage
    assert (got.objects, got.lost_objects) == (want["objects"], want["lost_objects"])
    # A damaged file in a series: leaks names it.
    bad = tmp_path / "bad.snap"
    shutil.copy(os.path.join(TESTDATA, "damaged", "flipped-payload.snap"), bad)
    with pytest.raises(A.BadInputError) as e:
        A.leaks([series[0], series[1], str(bad)])
    assert e.value.path == str(bad) and e.value.block is not None


def test_closed_snapshot_and_context_manager():
    path = os.path.join(TESTDATA, "heap-small.snap")
    s = memtrace.open(path)
    assert path in repr(s) and "objects" in repr(s)
    with s:
        assert not s.closed
    assert s.closed and "closed" in repr(s)
    with pytest.raises(ValueError):
        s.info()
    s.close()  # twice is fine


def test_repr_and_html(series):
    with memtrace.open(os.path.join(TESTDATA, "heap-small.snap")) as s:
        results = [s.info()]
    with memtrace.open(os.path.join(TESTDATA, "frames-sales.snap")) as s:
        results.append(s.frames())
    results += [A.diff(series[0], series[-1]), A.leaks(series)]
    for r in results:
        text = repr(r)
        assert text.startswith("<memtrace ") and "rows" in text
        page = r._repr_html_()
        assert page.startswith("<div>") and "<table" in page
    info = results[0]
    assert "bytes" in repr(info) and info.type_table["type"].iloc[0] in repr(info)
    assert results[2].groups["group"].iloc[0] in results[2]._repr_html_()


def test_man3_signatures_of_memtrace_analyze_are_real():
    """memtrace(3)'s ANALYSIS section writes each call as
    \\fBmemtrace.analyze.NAME\\fR(args) or \\fIsnapshot\\fR.NAME(args):
    the same parameters and defaults as the code."""
    import inspect
    import re
    with open(os.path.join(ROOT, "man", "man3", "memtrace.3"), encoding="utf-8") as f:
        man = f.read()
    text = man[man.index(".SH ANALYSIS"):man.index(".SH NOTEBOOKS")]

    def plain(roff):
        return re.sub(r"\\f[BIRP]", "", roff).replace("\\-", "-")

    found = re.findall(r"\\fBmemtrace\.(?:analyze\.)?(\w+)\\fR\(([^)]*)\)", text)
    found += re.findall(r"\\fIsnapshot\\fR\.(\w+)\(([^)]*)\)", text)
    names = set()
    for name, args in found:
        obj = getattr(A, name, None) or getattr(A.Snapshot, name)
        params = list(inspect.signature(obj).parameters.values())
        if params and params[0].name == "self":
            params = params[1:]
        written = eval("(lambda %s: None)" % plain(args)) if plain(args) else (lambda: None)
        want = [(p.name, p.default) for p in params]
        got = [(p.name, p.default) for p in inspect.signature(written).parameters.values()]
        assert got == want, (name, args)
        names.add(name)
    assert {"open", "diff", "leaks", "info", "frames", "columns", "close"} <= names


def test_long_calls_release_the_gil(tmp_path):
    """While leaks and open run in a thread, this one keeps running: the
    longest stretch it is held off is a small part of the call (a call
    that held the GIL would hold it off the whole time)."""
    import threading
    import time
    paths = []
    hold = []
    for k in range(3):
        hold.append([object() for _ in range(60000)])
        paths.append(str(tmp_path / ("g%d.snap" % k)))
        memtrace.dump_heap(paths[-1], tracebacks=False)
    for call in (lambda: A.leaks(paths), lambda: memtrace.open(paths[-1]).close(),
                 lambda: A.diff(paths[0], paths[-1])):
        done = []
        t = threading.Thread(target=lambda: (time.sleep(0.02), call(), done.append(time.perf_counter())))
        ticks = [time.perf_counter()]
        start = ticks[0]
        t.start()
        while t.is_alive():
            ticks.append(time.perf_counter())
            time.sleep(0)
        t.join()
        took = done[0] - start
        gaps = max(b - a for a, b in zip(ticks, ticks[1:]))
        assert took > 0.05, "the call is too short to tell: %.3f s" % took
        assert gaps < took / 2, "held off %.3f s of a %.3f s call" % (gaps, took)
