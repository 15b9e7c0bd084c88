"""The C writer, reader and tools against the independent reader
(spec_reader.py, written from formats/SPEC.md alone)."""

import json
import os
import random
import shutil
import subprocess

import pytest

import memtrace
import spec_reader
from conftest import BUILD, ROOT, tool


def run(*args, check=True):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}: {p.stderr}")
    return p


def test_all_kinds_fixture_matches_the_spec(testdata):
    s = spec_reader.Snapshot(os.path.join(testdata, "all-kinds.snap"))
    assert (s.major, s.minor) == (1, 7)
    assert s.meta() == {"tool": "mt-fixture", "pid": 4242, "ratio": 0.5, "neg": -7, "ok": True,
                        "blob": b"\x00\x01", "none": None}
    assert s.of("strings") == [{"id": 1, "text": "hello"}]
    assert s.of("types") == [{"id": 1, "name": "dict"}, {"id": 2, "name": "list"}]
    assert s.of("objects") == [
        {"id": 0x7F0000001000, "type": 1, "size": 232, "flags": 1, "stack": 1, "gen": 2},
        {"id": 0x7F0000002000, "type": 2, "size": 88, "flags": 0, "stack": 0, "gen": 0}]
    assert s.of("refs") == [{"src": 0, "dst": 1, "flags": 0, "label": "items"},
                            {"src": 1, "dst": 0, "flags": 1, "label": ""}]
    assert s.of("roots") == [{"obj": 0, "kind": "module", "name": "app"}]
    assert s.of("frames") == [{"id": 1, "function": "load", "file": "app.py", "line": 42}]
    assert s.of("stacks") == [{"id": 1, "frame": 1, "parent": 0}]
    assert s.of("allocs") == [{"time_ns": 1000, "op": 0, "address": 0x1000, "size": 64, "stack": 1,
                               "thread": 7, "domain": 1, "count": 0, "weight": 0.0, "born_ns": 0},
                              {"time_ns": 2000, "op": 1, "address": 0x1000, "size": 64, "stack": 1,
                               "thread": 7, "domain": 4, "count": 0, "weight": 8192.5, "born_ns": 1000}]
    assert s.of("trace_live") == [{"time_ns": 3000, "stack": 1, "bytes": 524352.0, "count": 8193.0, "upto": 2}]
    point = {"span_ns": 0, "min": 0.0, "max": 0.0, "count": 0}
    assert s.of("samples") == [{"time_ns": 5, "series": "rss", "value": 1048576.5, "step": "load", **point},
                               {"time_ns": 10, "series": "rss", "value": 2097152, "step": "load", "span_ns": 1000,
                                "min": 1048576, "max": 4194304, "count": 4}]
    assert s.of("events") == [{"time_ns": 11, "kind": "dump", "name": "peak", "value": 4194304,
                               "detail": "heap-1.snap"}]
    assert s.of("df_frames") == [{"id": 1, "name": "orders", "rows": 1000000, "columns": 8,
                                  "index_kind": "range", "index_bytes": 132, "shallow_bytes": 64000132,
                                  "deep_bytes": 96000132, "step": "load", "index_shallow_bytes": 132,
                                  "index_levels_bytes": 0, "index_codes_bytes": 0, "index_nlevels": 0,
                                  "columns_kind": "object", "columns_levels_bytes": 0, "columns_codes_bytes": 0,
                                  "columns_nlevels": 0, "time_ns": 6, "flags": 0,
                                  "real_bytes": 70000132, "shared_bytes": 4096}]
    assert s.of("df_columns") == [{"frame": 1, "position": 0, "name": "customer_id", "dtype": "int64",
                                   "shallow_bytes": 8000000, "deep_bytes": 8000000, "distinct_bytes": 0,
                                   "null_count": 0, "distinct_count": 50000, "min": 1, "max": 50000,
                                   "flags": 0x11, "f32_max_rel_error": 0.25, "text_count": 0, "len_min": 0,
                                   "len_max": 0, "len_total": 0, "categories": 0, "categories_bytes": 0,
                                   "code_bytes": 0, "fill_value": -1, "density": 0.5, "dense_bytes": 16,
                                   "value_type": "str", "real_bytes": 8000000, "datetime_format": "%Y/%m/%d"}]
    assert s.of("df_values") == [{"frame": 1, "position": 0, "value": "US", "count": 120}]
    assert s.of("df_sketches") == [{"frame": 1, "position": 0, "kind": "kmv", "data": b"\x01\x02\x03"}]
    assert s.of("gpu_devices") == [{"id": 0, "name": "NVIDIA H100", "total_bytes": 85899345920,
                                    "reserved_bytes": 1 << 30, "allocated_bytes": 1 << 29}]
    assert s.of("gpu_segments") == [{"device": 0, "address": 0x7F0000000000, "size": 2 << 20, "stream": 0,
                                     "pool": "large", "allocated_bytes": 1 << 20, "requested_bytes": 1000000,
                                     "active_bytes": 1 << 20, "flags": 1, "stack": 1}]
    assert s.of("gpu_blocks") == [{"device": 0, "address": 0x7F0000000000, "size": 1 << 20,
                                   "requested": 1000000, "state": "active_allocated", "stack": 1}]
    assert s.of("gpu_events") == [{"device": 0, "time_ns": 99, "action": "alloc", "address": 0x7F0000000000,
                                   "size": 1 << 20, "stream": 0, "stack": 1, "device_free": 0}]
    assert s.of("nb_cells") == [{"id": 1, "exec_count": 3, "source": "df = pd.read_csv('x.csv')",
                                 "start_ns": 10, "end_ns": 20, "rss_before": 100, "rss_after": 200,
                                 "session": 1, "status": "ok", "error": "", "source_hash": "ab12",
                                 "rss_peak": 300, "flags": 5, "traced_before": 10, "traced_after": 20,
                                 "traced_peak": 30, "overhead_ns": 1000}]


def test_writer_round_trip(tmp_path):
    rng = random.Random(7)
    n = 5000
    ids = rng.sample(range(1, 2**63), n)
    types = ["dict", "list", "str", "app.Session", "tuple"]
    objs = [(i, types[rng.randrange(5)], rng.randrange(16, 10000)) for i in ids]
    refs = []
    for _ in range(3 * n):
        a, b = rng.randrange(n), rng.randrange(n)
        label = rng.choice([None, "x", "['k%d']" % a, "[3]"])
        refs.append((a, b, label, rng.random() < 0.1))
    path = tmp_path / "w.snap"
    with memtrace.Writer(str(path), block_bytes=8192) as w:
        w.add_meta("tool", "pytest")
        w.add_meta("pid", os.getpid())
        w.add_meta("neg", -5)
        w.add_meta("f", 1.25)
        # Half the references come before their ends exist.
        for k, (a, b, label, weak) in enumerate(refs[: len(refs) // 2]):
            w.add_ref(ids[a], ids[b], label=label, weak=weak)
        for i, t, size in objs:
            w.add_object(i, t, size, gen=i % 3)
        for a, b, label, weak in refs[len(refs) // 2:]:
            w.add_ref(ids[a], ids[b], label=label, weak=weak)
        w.add_root(ids[0], kind="module", name="app")
        w.add_root(ids[1])
    s = spec_reader.Snapshot(str(path))
    assert len(s.blocks) > 10
    assert s.meta() == {"tool": "pytest", "pid": os.getpid(), "neg": -5, "f": 1.25}
    type_names = {t["id"]: t["name"] for t in s.of("types")}
    got = [(o["id"], type_names[o["type"]], o["size"]) for o in s.of("objects")]
    assert got == objs
    assert [o["gen"] for o in s.of("objects")] == [i % 3 for i in ids]
    want = sorted((a, b, label or "", int(weak)) for a, b, label, weak in refs)
    have = sorted((r["src"], r["dst"], r["label"], r["flags"]) for r in s.of("refs"))
    assert have == want
    assert s.of("roots") == [{"obj": 0, "kind": "module", "name": "app"}, {"obj": 1, "kind": "other", "name": ""}]


def test_writer_errors(tmp_path):
    w = memtrace.Writer(str(tmp_path / "e.snap"))
    w.add_object(1, "a", 1)
    with pytest.raises(ValueError, match="object id 1 was already added"):
        w.add_object(1, "a", 1)
    w.add_ref(1, 2)
    with pytest.raises(ValueError, match=r"add_ref\(1, 2\): object id 2 was never added"):
        w.close()
    assert not w.closed
    w.add_object(2, "b", 2)
    w.close()
    assert w.closed
    with pytest.raises(ValueError, match="the writer is closed"):
        w.add_object(3, "c", 3)
    with pytest.raises(TypeError, match="a meta value must be"):
        memtrace.Writer(str(tmp_path / "m.snap")).add_meta("k", [1])
    with pytest.raises(OSError, match="cannot create: No such file or directory"):
        memtrace.Writer(str(tmp_path / "no" / "dir.snap"))


def test_info_json_matches_the_independent_reader(testdata):
    path = os.path.join(testdata, "heap-medium.snap")
    s = spec_reader.Snapshot(path)
    info = json.loads(run(tool("memtrace-info"), "--format", "json", "--top", "3", path).stdout)
    assert info["file_bytes"] == os.path.getsize(path)
    assert info["format_version"] == "%d.%d" % (s.major, s.minor)
    assert info["blocks"] == len(s.blocks)
    for kind, (name, _f) in spec_reader.KINDS.items():
        blocks = [b for b in s.blocks if b["kind"] == kind]
        if not blocks:
            assert name not in info["records"]
            continue
        assert info["records"][name] == {
            "count": sum(b["count"] for b in blocks), "blocks": len(blocks),
            "raw_bytes": sum(b["raw"] for b in blocks), "stored_bytes": sum(36 + b["stored"] for b in blocks)}
    names = {t["id"]: t["name"] for t in s.of("types")}
    totals = {}
    for o in s.of("objects"):
        c, b = totals.get(names[o["type"]], (0, 0))
        totals[names[o["type"]]] = (c + 1, b + o["size"])
    assert info["objects"] == len(s.of("objects"))
    assert info["object_bytes"] == sum(b for _, b in totals.values())
    assert info["refs"] == len(s.of("refs"))
    by_bytes = sorted(totals.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:3]
    assert [(t["type"], t["count"], t["bytes"]) for t in info["top_types_by_bytes"]] == [
        (name, c, b) for name, (c, b) in by_bytes]
    by_count = sorted(totals.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:3]
    assert [(t["type"], t["count"]) for t in info["top_types_by_count"]] == [(n, c) for n, (c, _b) in by_count]
    assert info["damage"] == []


def decodable(data, b):
    try:
        spec_reader.decode_payload(b["kind"], spec_reader.decompress(data, b), b["count"])
        return True
    except Exception:
        return False


def test_salvage_matches_an_independent_salvage(testdata):
    """memtrace-info --salvage keeps exactly the blocks the independent
    reader can still decode, and keeps lost objects' places."""
    good = spec_reader.Snapshot(os.path.join(testdata, "heap-medium.snap"))
    path = os.path.join(testdata, "damaged", "flipped-payload.snap")
    with open(path, "rb") as f:
        data = f.read()
    lost = [b for b in good.blocks if not decodable(data, b)]
    assert len(lost) == 1 and lost[0]["kind"] == 4
    p = run(tool("memtrace-info"), "--salvage", "--format", "json", path)
    info = json.loads(p.stdout)
    assert info["objects"] == len(good.of("objects")) - lost[0]["count"]
    assert info["lost_objects"] == lost[0]["count"]
    assert info["refs"] == len(good.of("refs"))
    [d] = info["damage"]
    assert (d["error"], d["block"], d["offset"], d["kind"], d["records"]) == (
        "MT_E_CHECKSUM", good.blocks.index(lost[0]), lost[0]["offset"], "objects", lost[0]["count"])
    assert "dropped objects %d..%d" % (lost[0]["first"], lost[0]["first"] + lost[0]["count"] - 1) in p.stderr


def test_convert_round_trips_json(tmp_path, testdata):
    src = os.path.join(testdata, "heap-small.json")
    snap, back = tmp_path / "a.snap", tmp_path / "b.json"
    run(tool("memtrace-convert"), src, snap)
    run(tool("memtrace-convert"), snap, back)
    with open(src) as f:
        want = json.load(f)
    with open(back) as f:
        got = json.load(f)
    assert got["meta"] == want["meta"]
    norm_root = lambda r: r if isinstance(r, dict) else {"id": r, "kind": "other"}  # noqa: E731
    assert [norm_root(r) for r in got["roots"]] == [norm_root(r) for r in want["roots"]]
    for g, w in zip(got["objects"], want["objects"], strict=True):
        assert g == w
    # And the snapshot agrees with the independent reader.
    s = spec_reader.Snapshot(str(snap))
    assert [o["id"] for o in s.of("objects")] == [o["id"] for o in want["objects"]]
    # A second round trip is byte-for-byte.
    run(tool("memtrace-convert"), back, tmp_path / "c.snap")
    run(tool("memtrace-convert"), tmp_path / "c.snap", tmp_path / "d.json")
    assert (tmp_path / "d.json").read_bytes() == back.read_bytes()


def test_testdata_is_reproducible(tmp_path, testdata):
    """make_testdata.sh regenerates files that decode to the same records."""
    copy = tmp_path / "testdata"
    shutil.copytree(testdata, copy)
    shutil.copytree(os.path.join(ROOT, "tests", "python"), tmp_path / "tests" / "python")
    run("sh", copy / "make_testdata.sh", BUILD)
    for name in ("heap-small.snap", "heap-medium.snap", "all-kinds.snap", "frames-sales.snap", "pipeline.snap",
                 "trace.snap", "trace-sampled.snap", "cells.snap"):
        a = spec_reader.Snapshot(os.path.join(testdata, name))
        b = spec_reader.Snapshot(str(copy / name))
        assert a.records == b.records, name
    assert (copy / "sales.csv").read_bytes() == open(os.path.join(testdata, "sales.csv"), "rb").read()
    for name in sorted(os.listdir(os.path.join(testdata, "damaged"))):
        assert (copy / "damaged" / name).read_bytes()[:16] == open(
            os.path.join(testdata, "damaged", name), "rb").read()[:16]


U32, U64 = 2**32 - 1, 2**64 - 1
# Every method of the writer API with a valid call and the range of each
# of its integer arguments (issue 30 #19).
WRITER_API = [
    ("add_object", dict(id=1, type="t", size=8, flags=0, gen=0, stack=0),
     dict(id=U64, size=U64, flags=U32, gen=U32, stack=U32)),
    ("add_ref", dict(src=1, dst=1), dict(src=U64, dst=U64)),
    ("add_root", dict(id=1), dict(id=U64)),
    ("add_frame", dict(id=1, file="f.py", line=3), dict(id=U32, line=U32)),
    ("add_stack", dict(id=1, frame=1, parent=0), dict(id=U32, frame=U32, parent=U32)),
    ("add_alloc", dict(size=1, stack=0, op=2, count=1, address=0, time_ns=0, thread=0, domain=0),
     dict(size=U64, stack=U32, op=U32, count=U64, address=U64, time_ns=U64, thread=U32, domain=U32)),
    ("add_process_meta", dict(tool="t", start_time=0), dict(start_time=U64)),
    ("add_sample", dict(series="s", value=1.0, time_ns=0), dict(time_ns=U64)),
    ("add_df_frame", dict(id=1, name="f", rows=1, columns=1, index_bytes=0, shallow_bytes=0, deep_bytes=0,
                          index_shallow_bytes=0, index_levels_bytes=0, index_codes_bytes=0, index_nlevels=0,
                          columns_levels_bytes=0, columns_codes_bytes=0, columns_nlevels=0, time_ns=0),
     dict(id=U32, rows=U64, columns=U32, index_bytes=U64, shallow_bytes=U64, deep_bytes=U64,
          index_shallow_bytes=U64, index_levels_bytes=U64, index_codes_bytes=U64, index_nlevels=U32,
          columns_levels_bytes=U64, columns_codes_bytes=U64, columns_nlevels=U32, time_ns=U64)),
    ("add_df_column", dict(frame=1, position=0, name="c", dtype="int64", shallow_bytes=0, deep_bytes=0,
                           distinct_bytes=0, null_count=0, distinct_count=0, flags=0, text_count=0, len_min=0,
                           len_max=0, len_total=0, categories=0, categories_bytes=0, code_bytes=0, dense_bytes=0),
     dict(frame=U32, position=U32, shallow_bytes=U64, deep_bytes=U64, distinct_bytes=U64, null_count=U64,
          distinct_count=U64, flags=U32, text_count=U64, len_min=U64, len_max=U64, len_total=U64,
          categories=U64, categories_bytes=U64, code_bytes=U32, dense_bytes=U64)),
    ("add_df_value", dict(frame=1, position=0, value=1, count=1), dict(frame=U32, position=U32, count=U64)),
    ("add_df_sketch", dict(frame=1, position=0, kind="kmv", data=b""), dict(frame=U32, position=U32)),
]


@pytest.mark.parametrize("method,good,ranges", WRITER_API, ids=[m for m, _, _ in WRITER_API])
def test_writer_api_refuses_out_of_range_integers(tmp_path, method, good, ranges):
    """No silent wrap: add_object(2**64) was stored as id 0, a negative
    time_ns wrapped. Each integer argument at its bound is taken; one
    past it is an OverflowError, a negative one a ValueError, a float a
    TypeError, each naming the argument and its range."""
    w = memtrace.Writer(str(tmp_path / "r.snap"))
    fresh = iter(range(100, 200))  # add_object's ids are unique
    for arg, top in ranges.items():
        at_bound = dict(good, **{arg: top})
        if method == "add_object" and arg != "id":
            at_bound["id"] = next(fresh)
        if not (method == "add_alloc" and arg == "op"):  # op has its own, smaller range
            getattr(w, method)(**at_bound)
        rng = r"%s must be in 0\.\.%d, not " % (arg, top)
        with pytest.raises(OverflowError, match=rng + str(top + 1)):
            getattr(w, method)(**dict(good, **{arg: top + 1}))
        with pytest.raises(OverflowError, match=rng):
            getattr(w, method)(**dict(good, **{arg: 2**200}))
        with pytest.raises(ValueError, match=rng + "-1"):
            getattr(w, method)(**dict(good, **{arg: -1}))
        with pytest.raises(TypeError, match="%s must be an int, not float" % arg):
            getattr(w, method)(**dict(good, **{arg: 1.0}))


def test_writer_api_numpy_integers_and_meta_values(tmp_path):
    """What has __index__ (numpy integers) is an int; a meta value has the
    range of a signed or unsigned 64-bit integer."""
    import numpy as np

    path = tmp_path / "n.snap"
    with memtrace.Writer(str(path)) as w:
        w.add_object(np.uint64(2**64 - 1), "t", np.int32(7))
        w.add_meta("small", -(2**63))
        w.add_meta("big", 2**64 - 1)
        with pytest.raises(OverflowError, match=r"a meta value must be in -9223372036854775808\.\.18446744073709551615, not 18446744073709551616"):
            w.add_meta("k", 2**64)
        with pytest.raises(OverflowError, match="a meta value must be in"):
            w.add_meta("k", -(2**63) - 1)
    s = spec_reader.Snapshot(str(path))
    assert [(o["id"], o["size"]) for o in s.of("objects")] == [(2**64 - 1, 7)]


def test_writer_api_lone_surrogates_are_escaped_never_dropped(tmp_path):
    """A str UTF-8 cannot hold (a lone surrogate) is written with the
    surrogate as a backslash escape, as memtrace(3) says, in every str
    argument: the process meta label was dropped."""
    path = tmp_path / "s.snap"
    with memtrace.Writer(str(path)) as w:
        w.add_process_meta("tool\ud800", label="lab\udfffel")
        w.add_meta("k\ud800", "v\udc80")
        w.add_object(1, "T\ud800", 1)
        w.add_root(1, kind="k\ud800", name="n\ud800")
        with pytest.raises(ValueError, match="kind must not contain a NUL character"):
            w.add_root(1, kind="a\0b")
    s = spec_reader.Snapshot(str(path))
    meta = {m["key"]: m["value"] for m in s.of("meta")}
    assert meta["tool"] == "tool\\ud800" and meta["label"] == "lab\\udfffel"
    assert meta["k\\ud800"] == "v\\udc80"
    assert [t["name"] for t in s.of("types")] == ["T\\ud800"]
    assert s.of("roots") == [{"obj": 0, "kind": "k\\ud800", "name": "n\\ud800"}]
