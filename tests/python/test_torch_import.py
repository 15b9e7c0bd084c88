"""memtrace-convert --from torch and memtrace.import_torch_snapshot: PyTorch
CUDA allocator snapshots (torch_snapshots.py builds them from each
release's schema) read by formats/'s pickle reader, checked record by
record against what formats/SPEC.md section 4.5 says, computed in Python
(torch_snapshots.expected) and read back with spec_reader.py; and every
way a pickle is refused: a clean exit 3 naming the offset, never a crash."""

import json
import os
import pickle
import struct
import subprocess
import sys
import types

import pytest

from conftest import BUILD, ROOT, tool
import spec_reader
import torch_snapshots as ts

import memtrace

CONVERT = tool("memtrace-convert")


def records(path):
    """The gpu records of a snapshot with each stack as its frames
    (innermost first), and its meta."""
    s = spec_reader.Snapshot(str(path))
    frames = {f["id"]: (f["function"], f["file"], f["line"]) for f in s.of("frames")}
    stacks = {st["id"]: (st["frame"], st["parent"]) for st in s.of("stacks")}
    assert len(frames) == len(s.of("frames")) and len(stacks) == len(s.of("stacks")), "ids defined twice"
    # interned: no frame or (frame, parent) pair written twice
    assert len(set(frames.values())) == len(frames)
    assert len(set(stacks.values())) == len(stacks)

    def chain(sid):
        out = []
        while sid:
            fid, sid = stacks[sid]
            out.append(frames[fid])
        return tuple(out)

    got = {}
    for kind in ("gpu_devices", "gpu_segments", "gpu_blocks", "gpu_events"):
        rows = []
        for r in s.of(kind):
            r = dict(r)
            if "stack" in r:
                r["stack"] = chain(r["stack"])
            rows.append(r)
        got[kind] = rows
    got["meta"] = s.meta()
    return got


def check(path, snap):
    got, want = records(path), ts.expected(snap)
    for kind in ("gpu_devices", "gpu_segments", "gpu_blocks", "gpu_events"):
        assert len(got[kind]) == len(want[kind]), kind
        for i, (g, w) in enumerate(zip(got[kind], want[kind])):
            assert {k: g[k] for k in w} == w, (kind, i)
    meta = got["meta"]
    for k, v in want["meta"].items():
        assert meta[k] == v, k
    # no gpu key the source did not give
    extra = {k for k in meta if k.startswith(("gpu.", "gpu_")) and k not in want["meta"]}
    assert not extra
    return got


def convert(*args):
    return subprocess.run([CONVERT, *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("name", sorted(ts.ALL))
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_cli_matches_spec(tmp_path, name, protocol):
    snap = ts.ALL[name]()
    src = tmp_path / "in.pickle"
    src.write_bytes(pickle.dumps(snap, protocol=protocol))
    out = tmp_path / "out.snap"
    r = convert(src, out)
    assert r.returncode == 0, r.stderr
    got = check(out, snap)
    want = ts.expected(snap)
    n = lambda k: len(want[k])
    assert r.stdout.startswith("%s: %d segment" % (out, n("gpu_segments")))
    assert "%d block" % n("gpu_blocks") in r.stdout and "%d event" % n("gpu_events") in r.stdout
    assert got["meta"]["tool"] == "memtrace-convert"


@pytest.mark.parametrize("name", sorted(ts.ALL))
def test_python_matches_spec(tmp_path, name):
    snap = ts.ALL[name]()
    out = tmp_path / "dict.snap"
    counts = memtrace.import_torch_snapshot(snap, out)
    check(out, snap)
    want = ts.expected(snap)
    assert (counts["segments"], counts["blocks"], counts["events"], counts["devices"]) == (
        len(want["gpu_segments"]), len(want["gpu_blocks"]), len(want["gpu_events"]), len(want["gpu_devices"]))
    assert counts["sequence_clock"] == ("gpu_clock" in want["meta"])
    # a path, str or PathLike, gives the same records
    src = tmp_path / "snap.pkl"
    src.write_bytes(pickle.dumps(snap, protocol=3))
    out2 = tmp_path / "path.snap"
    assert memtrace.import_torch_snapshot(src, out2, label="run 7") == counts
    a, b = records(out), records(out2)
    assert a["gpu_events"] == b["gpu_events"] and a["gpu_blocks"] == b["gpu_blocks"]
    assert b["meta"]["label"] == "run 7" and b["meta"]["tool"] == "memtrace.import_torch_snapshot"


def test_the_cases_are_what_they_claim():
    """The hand-made cases hold what their names say, so that the tests
    above cover those cases (and memtrace-gpu's fixtures show them)."""
    def free_blocks(s):
        return [b["size"] for g in s["segments"] for b in g["blocks"] if b["state"] == "inactive"]

    f = ts.frag_oom()
    o = [e for e in f["device_traces"][0] if e["action"] == "oom"][0]
    assert "addr" not in o
    assert o["size"] > max(free_blocks(f)) and o["size"] <= sum(free_blocks(f)) + o["device_free"]
    assert len({g["address"] for g in f["segments"] if any(b["state"] == "inactive" for b in g["blocks"])}) > 1
    c = ts.capacity_oom()
    o = c["device_traces"][0][0]
    assert o["size"] > sum(free_blocks(c)) + o["device_free"]
    # the wrapped ring frees blocks it never saw allocated
    w = ts.wrapped_ring()["device_traces"][0]
    assert w[0]["action"].startswith("free") and not any(
        e["action"] == "alloc" and e["addr"] == w[0]["addr"] for e in w)
    e = ts.expandable()
    assert e["segments"][0]["is_expandable"] and {"segment_map", "segment_unmap"} <= {
        x["action"] for x in e["device_traces"][0]}
    assert ts.private_pool()["segments"][0]["segment_pool_id"] == (1, 0)
    # 9-byte LONG1 for the addresses of 2^63 and more
    raw = pickle.dumps(ts.high_addresses(), protocol=2)
    assert b"\x8a\x09" in raw
    # the shared frame list goes through the memo once
    sh = ts.shared_frames()
    assert sh["device_traces"][0][1]["frames"] is sh["segments"][0]["frames"]
    assert pickle.dumps(sh, protocol=4).count(b"shared_alloc") == 1
    assert len(ts.two_devices()["device_traces"]) == 3


def test_shared_frames_are_interned_once(tmp_path):
    out = tmp_path / "o.snap"
    counts = memtrace.import_torch_snapshot(ts.shared_frames(400), out)
    s = spec_reader.Snapshot(str(out))
    # frames: shared_alloc, forward, main, other_caller
    assert counts["frames"] == len(s.of("frames")) == 4
    assert counts["stacks"] == len(s.of("stacks")) == 5


def test_many_segments_cross_append_batches(tmp_path):
    snap = ts.many_segments(2500)
    out = tmp_path / "o.snap"
    counts = memtrace.import_torch_snapshot(snap, out)
    assert counts["segments"] == 2500 and counts["events"] == 2500
    check(out, snap)


def test_hand_written_protocol1_pickle(tmp_path):
    """Protocol 1 builds lists and dicts with MARK ... LIST/DICT and no
    appends: the reader converts them at STOP the same way."""
    snap = ts.v21()
    src = tmp_path / "p1.pickle"
    src.write_bytes(pickle.dumps(snap, protocol=1))
    out = tmp_path / "o.snap"
    r = convert("--from", "torch", src, out)
    assert r.returncode == 0, r.stderr
    check(out, snap)


def test_memory_stays_bounded(tmp_path):
    """A trace of many entries does not make the reader hold the pickle:
    its peak RSS grows far less than the pickle does."""
    # as PyTorch makes them: a frame list per distinct stack, shared
    shared = [ts.frames("f%d" % k) for k in range(5)]

    def peak(n):
        snap = {"segments": [], "device_traces": [[ts.entry("alloc", 0x1000 + i * 512, 512, time_us=i,
                                                             fr=shared[i % 5],
                                                             user_metadata="%0200d" % i) for i in range(n)]]}
        src = tmp_path / ("n%d.pickle" % n)
        src.write_bytes(pickle.dumps(snap, protocol=4))
        r = subprocess.run(["/usr/bin/time", "-f", "%M", CONVERT, src, tmp_path / "o.snap"], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        return int(r.stderr.strip().splitlines()[-1]), os.path.getsize(src)

    if not os.path.exists("/usr/bin/time"):
        pytest.skip("no /usr/bin/time")
    small, sbytes = peak(2000)
    big, bbytes = peak(200000)
    assert bbytes - sbytes > 40 << 20
    assert (big - small) * 1024 < (bbytes - sbytes) / 4, (small, big, sbytes, bbytes)


# ---------------------------------------------------------------- refusals


def refused(tmp_path, data, what, ext=".pickle"):
    src = tmp_path / ("bad" + ext)
    src.write_bytes(data)
    out = tmp_path / "out.snap"
    out.write_bytes(b"kept")
    r = convert("--from", "torch", src, out)
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert r.stderr.startswith("memtrace-convert: %s: " % src), r.stderr
    assert what in r.stderr, r.stderr
    assert out.read_bytes() == b"kept"  # OUT as it was
    return r.stderr


def test_truncated_at_every_byte(tmp_path):
    snap = {"segments": [ts.segment(0, 1 << 63, [ts.block(1 << 63, 512, "active_allocated", 500,
                                                          ts.frames("a", "b"))])],
            "device_traces": [[ts.entry("alloc", 1 << 63, 512, time_us=3), ts.oom(1024, 0)]],
            "allocator_settings": {"expandable_segments": True, "garbage_collection_threshold": 0.5}}
    for proto in (2, 4):
        data = pickle.dumps(snap, protocol=proto)
        out = tmp_path / "t.snap"
        for n in range(len(data)):
            with pytest.raises(ValueError) as e:
                memtrace.import_torch_snapshot(data[:n], out)
            # cut in a value: its opcode's length runs past the end;
            # anywhere else: the end, where an opcode or argument was due
            msg = str(e.value)
            assert ("offset %d: the pickle ends before" % n in msg or
                    ("offset " in msg and "past the end of the input" in msg)), msg
            assert not out.exists()
        memtrace.import_torch_snapshot(data, out)
        check(out, snap)
        out.unlink()
    # and through the CLI, a few cuts
    msg = refused(tmp_path, data[:-1], "the pickle ends before STOP")
    assert "offset %d:" % (len(data) - 1) in msg
    assert "past the end of the input" in refused(tmp_path, data[:len(data) // 2], "offset")


class Seg:
    def __init__(self):
        self.address = 1


def test_code_opcodes_are_refused(tmp_path):
    data = pickle.dumps({"segments": [Seg()], "device_traces": []}, protocol=2)
    msg = refused(tmp_path, data, "names or calls code: refused")
    assert "GLOBAL" in msg
    off = data.index(b"c__main__" if b"c__main__" in data else b"c" + Seg.__module__.encode())
    assert "offset %d:" % off in msg
    # protocol 4 names a class with STACK_GLOBAL
    data4 = pickle.dumps({"segments": [Seg()]}, protocol=4)
    assert "STACK_GLOBAL" in refused(tmp_path, data4, "refused")
    # REDUCE alone, after a tuple
    assert "REDUCE" in refused(tmp_path, b"\x80\x02)R.", "refused")
    assert "offset 3:" in refused(tmp_path, b"\x80\x02)R.", "REDUCE")
    for op, name in ((b"b", "BUILD"), (b"\x81", "NEWOBJ"), (b"Q", "BINPERSID"), (b"\x82\x01", "EXT1")):
        assert name in refused(tmp_path, b"\x80\x02)" + op + b".", "refused")
    # protocol 0 text opcodes and an unknown byte
    refused(tmp_path, b"S'x'\n.", "opcode 0x53 is not one this reader takes")
    # protocol 0/1 text integers are read, checked
    refused(tmp_path, b"I4x2\n.", "INT with a character other than a digit")
    refused(tmp_path, b"L99999999999999999999999L\n.", "LONG wider than 64 bits")
    refused(tmp_path, b"L-9999999999999999999L\n.", "LONG below -2^63")
    refused(tmp_path, b"I-\n.", "INT without digits")
    refused(tmp_path, b"I" + b"1" * 100 + b"\n.", "INT of more than 72 characters")
    refused(tmp_path, b"\x80\x02\xff.", "opcode 0xff is not one")
    refused(tmp_path, b"\x80\x06}.", "pickle protocol 6, newer than 5")


def test_absurd_lengths_and_nesting(tmp_path):
    # a string longer than the file
    msg = refused(tmp_path, b"\x80\x02X\xff\xff\xff\x7fabc.", "past the end of the input")
    assert "offset 2: BINUNICODE of 2147483647 bytes" in msg
    refused(tmp_path, b"\x80\x04\x8d" + struct.pack("<Q", 1 << 62) + b".", "BINUNICODE8 of")
    refused(tmp_path, b"\x80\x02B\x10\x00\x00\x00ab.", "BINBYTES of 16 bytes")
    refused(tmp_path, b"\x80\x02\x8b\xff\xff\xff\xff.", "LONG4 with a negative length")
    refused(tmp_path, b"\x80\x02\x8b\x10\x00\x00\x00" + b"\x01" * 16 + b".", "LONG4 integer of 16 bytes")
    refused(tmp_path, b"\x80\x02\x8a\x09" + b"\x00" * 8 + b"\x01.", "wider than 64 bits")
    # nested deeper than the limit, as lists and as marks
    deep = []
    for _ in range(100):
        deep = [deep]
    refused(tmp_path, pickle.dumps({"segments": deep}, protocol=2), "containers nested deeper than 64")
    refused(tmp_path, b"\x80\x02" + b"(" * 70 + b".", "MARKs nested deeper than 64")
    # a cycle: a list appended to itself
    cyc = []
    cyc.append(cyc)
    refused(tmp_path, pickle.dumps({"segments": cyc}, protocol=2), "a recursive value")


def test_bad_structure(tmp_path):
    p = lambda obj, proto=2: pickle.dumps(obj, protocol=proto)
    refused(tmp_path, p("segments"), "expected a dict, or a list of segments, at the root")
    refused(tmp_path, p([1, 2]), "expected a segment dict, not a int")
    refused(tmp_path, p({"x": 1}), "expected key 'segments' or 'device_traces'")
    refused(tmp_path, p({"segments": [{"device": 0, "total_size": 5}]}), "expected key 'address'")
    refused(tmp_path, p({"segments": [{"device": 0, "address": "x", "total_size": 5}]}),
            "expected an integer for 'address', not a str")
    refused(tmp_path, p({"segments": [{"device": -1, "address": 1, "total_size": 5}]}), "'device' is negative")
    refused(tmp_path, p({"segments": [{"device": 1 << 33, "address": 1, "total_size": 5}]}), "above 2^32 - 1")
    refused(tmp_path, p({"segments": [5]}), "expected a segment dict, not a int")
    refused(tmp_path, p({"device_traces": [[{"addr": 5}]]}), "expected key 'action'")
    refused(tmp_path, p({"device_traces": [5]}), "expected a list of trace entries")
    refused(tmp_path, p({"device_traces": [[{"action": "alloc", "time_us": 1 << 62}]]}), "'time_us' above")
    refused(tmp_path, p({"device_traces": [[{"action": "alloc", "frames": [{"name": 3}]}]]}),
            "expected a str for 'name'")
    refused(tmp_path, p({"device_traces": [[{"action": "alloc", "frames": 3}]]}), "expected a list of frames")
    refused(tmp_path, p({"segments": [{"device": 0, "address": 1, "total_size": 5, "segment_pool_id": 3}]}),
            "a pair of integers")
    refused(tmp_path, p({"segments": [{"device": 0, "address": (1 << 64) - 1, "total_size": 5,
                                       "blocks": [{"size": 5}]}]}), "ends past 2^64")
    refused(tmp_path, p({"segments": [], "allocator_settings": 5}), "a dict for 'allocator_settings'")
    # stack machine misuse
    refused(tmp_path, b"\x80\x02.", "STOP with nothing on the stack")
    refused(tmp_path, b"\x80\x02K\x01a.", "APPEND needs 2 values")
    refused(tmp_path, b"\x80\x02K\x01K\x02a.", "APPEND to a int, not a list")
    refused(tmp_path, b"\x80\x02]K\x01K\x02s.", "SETITEM on a list, not a dict")
    refused(tmp_path, b"\x80\x02}(K\x01u.", "SETITEMS with a key and no value")
    refused(tmp_path, b"\x80\x02e.", "APPENDS without a MARK")
    refused(tmp_path, b"\x80\x02(e.", "APPENDS with no list below its MARK")
    refused(tmp_path, b"\x80\x02(u.", "SETITEMS with no dict below its MARK")
    refused(tmp_path, b"\x80\x02h\x05.", "a memo get of slot 5, which was never put")
    refused(tmp_path, b"\x80\x02q\x00.", "a memo put with nothing on the stack")
    # a list changed after it went into another
    refused(tmp_path, b"\x80\x02]q\x00]h\x00a0K\x01a.", "changed after it was placed")


def test_memo_forms_and_protocol1_ops(tmp_path):
    """LONG_BINPUT/LONG_BINGET, DUP, POP, POP_MARK, BININT, BINFLOAT,
    bytes and None, written by hand: all read."""
    seg = (b"}q\x01(X\x06\x00\x00\x00devicer\x07\x00\x00\x00K\x00X\x07\x00\x00\x00addressJ\x00\x10\x00\x00"
           b"X\n\x00\x00\x00total_sizeM\x00\x02X\x06\x00\x00\x00streamNu")
    data = (b"\x80\x02}(X\x08\x00\x00\x00segments](" + seg + b"ej\x07\x00\x00\x00"  # memo'd 0
            b"0K\x05\x32\x30\x30(K\x01K\x02\x31"  # DUP/POP/POP_MARK noise
            b"X\x05\x00\x00\x00extra(C\x02hiG?\xe0\x00\x00\x00\x00\x00\x00\x88\x89tu.")
    src = tmp_path / "h.pickle"
    src.write_bytes(data)
    out = tmp_path / "h.snap"
    r = convert(src, out)
    assert r.returncode == 0, r.stderr
    got = records(out)
    assert [(g["address"], g["size"], g["device"]) for g in got["gpu_segments"]] == [(4096, 512, 0)]


def test_dump_cuda_with_a_fake_torch(tmp_path, monkeypatch):
    snap = ts.newest()
    stats = {0: {"allocated_bytes.all.current": 10 * ts.MiB, "num_ooms": 2, "reserved_bytes.all.peak": 20 * ts.MiB,
                 "weird": [1]},
             1: {"allocated_bytes.all.current": 0, "garbage": 0.5}}
    cuda = types.SimpleNamespace(is_available=lambda: True, device_count=lambda: 2,
                                 memory_stats=lambda d: stats[d],
                                 memory=types.SimpleNamespace(_snapshot=lambda: snap),
                                 get_device_properties=lambda d: types.SimpleNamespace(total_memory=80 << 30),
                                 mem_get_info=lambda d: ((70 << 30) + d, 80 << 30))
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    out = tmp_path / "cuda.snap"
    counts = memtrace.dump_cuda(out, label="step 3")
    assert counts["segments"] == 1 and counts["events"] == 5
    got = check(out, snap)
    m = got["meta"]
    assert m["gpu0.stats.allocated_bytes.all.current"] == 10 * ts.MiB and m["gpu0.stats.num_ooms"] == 2
    assert m["gpu0.stats.reserved_bytes.all.peak"] == 20 * ts.MiB and m["gpu1.stats.garbage"] == 0.5
    assert m["gpu1.total_memory"] == 80 << 30 and "gpu0.stats.weird" not in m
    assert m["tool"] == "memtrace.dump_cuda" and m["label"] == "step 3"
    assert m["gpu0.free_memory"] == 70 << 30 and m["gpu1.free_memory"] == (70 << 30) + 1
    # memtrace-gpu: the capacity from the meta, and what PyTorch does not hold.
    r = subprocess.run([tool("memtrace-gpu"), "-f", "json", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    dev = {d["device"]: d for d in json.loads(r.stdout)["files"][0]["devices"]}
    reserved = {p["pool"]: p for p in dev[0]["pools"]}[None]["reserved"]
    assert dev[0]["total"] == 80 << 30 and dev[0]["used"] == 10 << 30
    assert dev[0]["outside_pytorch"] == (10 << 30) - reserved


def test_dump_cuda_without_cuda(tmp_path, monkeypatch):
    cuda = types.SimpleNamespace(is_available=lambda: False)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    out = tmp_path / "none.snap"
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        memtrace.dump_cuda(out)
    assert not out.exists()
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(RuntimeError, match="needs PyTorch"):
        memtrace.dump_cuda(out)


def test_python_errors(tmp_path):
    with pytest.raises(TypeError, match="needs a path"):
        memtrace.import_torch_snapshot(42, tmp_path / "o.snap")
    with pytest.raises(OSError):
        memtrace.import_torch_snapshot(tmp_path / "missing.pickle", tmp_path / "o.snap")
    with pytest.raises(OSError):
        memtrace.import_torch_snapshot(ts.v21(), tmp_path / "no" / "dir" / "o.snap")
    with pytest.raises(ValueError, match="offset 2: opcode GLOBAL"):
        memtrace.import_torch_snapshot(b"\x80\x02cos\nsystem\n.", tmp_path / "o.snap")


def test_cli_usage(tmp_path):
    src = tmp_path / "a.pkl"
    src.write_bytes(pickle.dumps(ts.v21(), protocol=4))
    r = convert(src, tmp_path / "a.json")
    assert r.returncode == 2 and "not JSON" in r.stderr
    r = convert("--to", "torch", tmp_path / "x.snap", src)
    assert r.returncode == 2 and "--to must be json or snap" in r.stderr
    # .pkl is guessed; an OUT without an extension is a snapshot
    r = convert(src, tmp_path / "plain")
    assert r.returncode == 0, r.stderr
    check(tmp_path / "plain", ts.v21())
    r = convert(tmp_path / "missing.pickle", tmp_path / "m.snap")
    assert r.returncode == 3 and "missing.pickle" in r.stderr


def test_fixtures_are_current(tmp_path):
    """testdata/torch/ is what torch_snapshots.py writes (make_testdata.sh
    runs it), and each fixture imports."""
    ts.write_fixtures(str(tmp_path))
    for name, (make, _proto) in ts.FIXTURES.items():
        path = os.path.join(ROOT, "testdata", "torch", name)
        with open(path, "rb") as f:
            assert f.read() == (tmp_path / name).read_bytes(), name
        out = tmp_path / (name + ".snap")
        assert convert(path, out).returncode == 0
        check(out, make())


def test_output_errors_name_the_output(tmp_path):
    src = tmp_path / "a.pickle"
    src.write_bytes(pickle.dumps(ts.many_segments(300), protocol=4))
    r = convert(src, "/dev/full")
    assert r.returncode == 3 and r.stderr.startswith("memtrace-convert: /dev/full: "), r.stderr
    r = convert(src, tmp_path / "no" / "such" / "dir.snap")
    assert r.returncode == 3 and "dir.snap" in r.stderr


def test_values_of_every_form(tmp_path):
    """Settings and fields in the other forms a pickle may give them."""
    seg = ts.segment(0, 1 << 40, [ts.block(1 << 40, 512, "active_allocated", 500)], pool=(-1, 5), stream=-2)
    snap = {"segments": [seg], "device_traces": [[ts.entry("alloc", 1 << 40, 512, stream=-2, time_us=None)]],
            "allocator_settings": {"garbage_collection_threshold": -1, "expandable_segments": 1,
                                   "max_split_size": 1 << 40, "PYTORCH_CUDA_ALLOC_CONF": 5,
                                   "roundup_power2_divisions": {("a%d" % i) * 30: i for i in range(20)}}}
    snap["allocator_settings"]["roundup_power2_divisions"][7] = "x"  # a key that is no str, a value no int
    out = tmp_path / "o.snap"
    memtrace.import_torch_snapshot(snap, out)
    got = records(out)
    assert got["gpu_segments"][0]["pool"] == "private:-1,5"
    assert got["gpu_segments"][0]["stream"] == (1 << 64) - 2 and got["gpu_events"][0]["stream"] == (1 << 64) - 2
    m = got["meta"]
    assert m["gpu.garbage_collection_threshold"] == -1.0 and m["gpu.expandable_segments"] == 1
    assert m["gpu.max_split_size"] == 1 << 40 and "gpu.alloc_conf" not in m
    text = m["gpu.roundup_power2_divisions"]
    # keys cut at 64 bytes
    assert text.startswith("a0" * 30 + ":0,") and ("a10" * 30)[:64] + ":10," in text
    assert text.endswith(",?") and len(text.split(",")) == 21
    # a stream that is no integer, a block list that is no list
    bad = dict(seg, stream="s")
    refused(tmp_path, pickle.dumps({"segments": [bad]}, protocol=2), "expected an integer for 'stream'")
    refused(tmp_path, pickle.dumps({"segments": [dict(seg, blocks=5)]}, protocol=2), "a list of blocks")
    refused(tmp_path, pickle.dumps({"segments": [dict(seg, blocks=[5])]}, protocol=2), "expected a block dict")
    refused(tmp_path, pickle.dumps({"segments": [dict(seg, blocks=[{"size": 1, "history": 3}])]}, protocol=2),
            "a list for 'history'")
    refused(tmp_path, pickle.dumps({"segments": [dict(seg, blocks=[{"size": 1, "history": [3]}])]}, protocol=2),
            "a history dict")
    refused(tmp_path, pickle.dumps({"segments": 5}, protocol=2), "a list for 'segments'")
    refused(tmp_path, pickle.dumps({"device_traces": 5}, protocol=2), "a list of lists for 'device_traces'")
    refused(tmp_path, pickle.dumps({"device_traces": [[{"action": "a", "frames": [5]}]]}, protocol=2),
            "expected a frame dict")
    refused(tmp_path, pickle.dumps({"device_traces": [[{"action": "a", "frames": [{"line": -1}]}]]}, protocol=2),
            "'line' is negative")


def test_shared_values_after_conversion(tmp_path):
    """What the memo keeps of a converted element: a frame list or frame
    shared with a later element reads as before; a str the importer did
    not read (user_metadata) may be shared too, but not read as a field;
    a segment's dict named again is refused."""
    note = "note shared"
    fr = ts.frames("a", "b")
    snap = {"segments": [ts.segment(0, 4096, [ts.block(4096, 512, "active_allocated", 500, fr)], fr=fr)],
            "device_traces": [[ts.entry("alloc", 4096, 512, fr=fr, user_metadata=note) for _ in range(1500)]
                              + [ts.entry("free_completed", 4096, 512, fr=[fr[1]], user_metadata=note)]]}
    out = tmp_path / "o.snap"
    memtrace.import_torch_snapshot(snap, out)
    check(out, snap)
    # the released str read as an action
    snap["device_traces"][0].append({"action": note})
    refused(tmp_path, pickle.dumps(snap, protocol=4), "not a str released after an earlier element")
    # one block dict in two segments
    b = ts.block(4096, 512, "active_allocated", 500)
    two = {"segments": [ts.segment(0, 4096, [b]), ts.segment(0, 4096, [b])]}
    refused(tmp_path, pickle.dumps(two, protocol=4), "an element already converted")


def _u(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def test_hand_made_opcode_forms(tmp_path):
    """Opcode forms Python's pickler rarely or never writes, each read or
    refused as torch.h says."""
    # protocol 0 containers: (k v d, (... l, and text integers
    entry = b"(" + _u("action") + _u("alloc") + _u("addr") + b"L4096L\n" + _u("size") + b"I+512\n" + _u(
        "device_free") + b"I01\n" + _u("stream") + b"I-3\nd"
    data = b"(" + _u("device_traces") + b"((" + entry + b"ll" + _u("allocator_settings") + b"(" + _u(
        "expandable_segments") + b"I00\n" + _u("max_split_size") + b"\x8a\x01\xff" + _u(
        "garbage_collection_threshold") + b"\x8a\x00" + b"dd."
    src = tmp_path / "p0.pickle"
    src.write_bytes(data)
    out = tmp_path / "p0.snap"
    r = convert("--from", "torch", src, out)
    assert r.returncode == 0, r.stderr
    got = records(out)
    e = got["gpu_events"][0]
    assert (e["action"], e["address"], e["size"], e["device_free"], e["stream"]) == ("alloc", 4096, 512, 1,
                                                                                     (1 << 64) - 3)
    m = got["meta"]
    assert m["gpu.expandable_segments"] == 0 and m["gpu.max_split_size"] == -1
    assert m["gpu.garbage_collection_threshold"] == 0.0 and m["gpu_clock"] == "sequence"
    # the memo beyond its array (a slot of 100000 and of 2^32 - 1), a slot
    # put twice, tuples of a MARK, and bytes values
    data = (b"\x80\x02}(" + _u("segments") + b"]r\xa0\x86\x01\x00r\xff\xff\xff\xffq\x00q\x00(}(" + _u("device") +
            b"K\x00" + _u("address") + b"M\x00\x10" + _u("total_size") + b"M\x00\x02" + _u("segment_pool_id") +
            b"(K\x00K\x02t" + _u("note") + b"C\x02hi" + _u("segment_type") + b"\x8c\x05largeuej\xa0\x86\x01\x00" +
            b"0h\x000j\xff\xff\xff\xff0u.")
    src.write_bytes(data)
    r = convert("--from", "torch", src, out)
    assert r.returncode == 0, r.stderr
    s = records(out)["gpu_segments"][0]
    assert (s["address"], s["size"], s["pool"]) == (4096, 512, "private:0,2")
    refused(tmp_path, b"\x80\x02\x8a\x09" + b"\x00" * 8 + b"\xff.", "LONG1 integer wider than 64 bits")
    refused(tmp_path, b"\x80\x02\x8a\x09" + b"\x00" * 7 + b"\x80\xff.", "LONG1 integer below -2^63")
    refused(tmp_path, b"\x80\x02\x85.", "TUPLEn needs 1 values")
    refused(tmp_path, b"\x80\x02K\x01(\x85.", "TUPLEn needs 1 values")
    refused(tmp_path, b"\x80\x02t.", "TUPLE without a MARK")
    refused(tmp_path, b"\x80\x02K\x01(00.", "STOP with nothing on the stack")  # POP of a MARK pops it
    refused(tmp_path, b"\x80\x02(\x94.", "a memo put with nothing on the stack")
    refused(tmp_path, b"\x80\x02\x32.", "DUP needs 1 values")
    refused(tmp_path, b"\x80\x02\x31.", "POP_MARK without a MARK")
    refused(tmp_path, b"\x80\x02(K\x01d.", "SETITEMS with a key and no value")


def test_standard_input_is_a_pipe(tmp_path):
    """IN '-' is read from a pipe in chunks, its end unknown: a long
    string is bounded by MT_TORCH_MAX_STRING instead of the file's size."""
    data = pickle.dumps(ts.many_segments(2000), protocol=4)  # more than one 64 KiB chunk
    assert len(data) > 3 * 65536
    out = tmp_path / "o.snap"
    r = subprocess.run([CONVERT, "--from", "torch", "-", str(out)], input=data, capture_output=True)
    assert r.returncode == 0, r.stderr
    check(out, ts.many_segments(2000))
    r = subprocess.run([CONVERT, "--from", "torch", "-", str(out)], capture_output=True,
                       input=b"\x80\x04\x8d" + struct.pack("<Q", 1 << 40) + b"ab.")
    assert r.returncode == 3 and b"offset 2: BINUNICODE8 longer than this reader takes from a pipe" in r.stderr
    r = subprocess.run([CONVERT, "--from", "torch", "-", str(out)], input=data[:100000], capture_output=True)
    assert r.returncode == 3 and b"the pickle ends before" in r.stderr


def test_every_field_checks_its_type(tmp_path):
    """A value of the wrong type in any field the importer reads is
    refused with the offset of that value, never read as 0."""
    out = tmp_path / "o.snap"

    def bad(snap, what):
        data = pickle.dumps(snap, protocol=4)
        with pytest.raises(ValueError, match=what):
            memtrace.import_torch_snapshot(data, out)

    seg = ts.segment(0, 4096, [ts.block(4096, 512, "active_allocated", 500)], fr=[])
    for key in ("device", "address", "total_size", "allocated_size", "active_size", "requested_size",
                "is_expandable"):
        bad({"segments": [dict(seg, **{key: "x"})]}, "expected an integer for '%s'" % key)
    bad({"segments": [dict(seg, segment_type=5)]}, "expected a str for 'segment_type'")
    bad({"segments": [dict(seg, frames=5)]}, "a list of frames")
    for pid in ([0], (0, "a"), ("a", 0), 5):
        bad({"segments": [dict(seg, segment_pool_id=pid)]}, "a pair of integers")
    blk = seg["blocks"][0]
    for key in ("size", "address", "requested_size"):
        bad({"segments": [dict(seg, blocks=[dict(blk, **{key: "x"})])]}, "expected an integer for '%s'" % key)
    bad({"segments": [dict(seg, blocks=[dict(blk, state=1)])]}, "expected a str for 'state'")
    bad({"segments": [dict(seg, blocks=[dict(blk, frames=1)])]}, "a list of frames")
    legacy = {"size": 512, "state": "inactive", "history": [{"real_size": "x"}]}
    bad({"segments": [dict(seg, blocks=[legacy])]}, "expected an integer for 'real_size'")
    legacy = {"size": 512, "state": "inactive", "history": [{"real_size": 5, "frames": 3}]}
    bad({"segments": [dict(seg, blocks=[legacy])]}, "a list of frames")
    ent = ts.entry("alloc", 4096, 512, time_us=5, fr=[])
    for key in ("addr", "size", "device_free", "time_us"):
        bad({"device_traces": [[dict(ent, **{key: "x"})]]}, "expected an integer for '%s'" % key)
    bad({"device_traces": [[dict(ent, stream="x")]]}, "expected an integer for 'stream'")
    bad({"device_traces": [[dict(ent, action=5)]]}, "expected a str for 'action'")
    bad({"device_traces": [[dict(ent, frames=[{"name": "f", "filename": 5}])]]}, "expected a str for 'filename'")
    bad({"device_traces": [[dict(ent, frames=[{"name": "f", "line": 1 << 40}])]]}, "'line' is above 2\\^32 - 1")
    # None stands for an absent optional field; pool ids may be a list
    ok = {"segments": [dict(seg, stream=None, frames=None, segment_pool_id=[0, 0], blocks=None,
                            requested_size=None)],
          "device_traces": [[dict(ent, time_us=None, frames=None, addr=None)]],
          "allocator_settings": {"max_split_size": "x", "roundup_power2_divisions": (1, 2)}}
    memtrace.import_torch_snapshot(ok, out)
    got = records(out)
    assert got["gpu_segments"][0]["pool"] == "small" and got["gpu_events"][0]["time_ns"] == 0
    assert got["meta"]["gpu.roundup_power2_divisions"] == "1,2" and "gpu.max_split_size" not in got["meta"]


def test_many_frames_devices_and_unsorted_blocks(tmp_path):
    """Past the first size of the frame table and of the device list;
    blocks given out of address order (ties kept in source order)."""
    base = 1 << 30
    blocks = [ts.block(base + 1024, 512, "inactive", 0), ts.block(base, 512, "active_allocated", 1),
              ts.block(base, 512, "active_allocated", 2)]
    segs = [ts.segment(0, base, blocks)]
    traces = [[ts.entry("alloc", base + i, 8, time_us=i, fr=[ts.frame("f%d" % i, "m%d.py" % (i % 3), i)])
               for i in range(300 if d == 0 else 1)] for d in range(12)]
    snap = {"segments": segs, "device_traces": traces}
    out = tmp_path / "o.snap"
    counts = memtrace.import_torch_snapshot(snap, out)
    assert counts["devices"] == 12 and counts["frames"] == 300
    check(out, snap)
    assert [b["requested"] for b in records(out)["gpu_blocks"]] == [1, 2, 0]


def test_hand_made_pickle_cut_at_every_byte(tmp_path):
    """The hand-made forms (memo slots of 4 bytes, BININT, text integers)
    cut anywhere: always a clean error."""
    data = (b"\x80\x02}(" + _u("segments") + b"]r\xa0\x86\x01\x00(}(" + _u("device") + b"J\x00\x00\x00\x00" +
            _u("address") + b"L4096\n" + _u("total_size") + b"M\x00\x02uej\xa0\x86\x01\x000u.")
    out = tmp_path / "o.snap"
    memtrace.import_torch_snapshot(data, out)
    out.unlink()
    for n in range(len(data)):
        with pytest.raises(ValueError, match="offset"):
            memtrace.import_torch_snapshot(data[:n], out)
        assert not out.exists()


def test_debians_torch_without_cuda(tmp_path):
    """The real (CPU-only) PyTorch of Debian: no CUDA, so dump_cuda and a
    gpu_steps step say so; the recorder still takes a stats dict."""
    import torch

    assert not torch.cuda.is_available()
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        memtrace.dump_cuda(tmp_path / "none.snap")
    assert not (tmp_path / "none.snap").exists()
    with memtrace.gpu_steps(tmp_path / "steps.snap", model=torch.nn.Linear(256, 128), optimizer=torch.optim.Adam(
            torch.nn.Linear(256, 128).parameters())) as rec:
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            with rec.step(8):
                pass
        rec.record(8, {"peak": 1 << 20, "current": 1 << 19})
    meta = records(tmp_path / "steps.snap")["meta"]
    params = 256 * 128 + 128
    assert meta["gpu.model.parameters"] == params and meta["gpu.model.param_bytes"] == 4 * params
    assert meta["gpu.model.optimizer"] == "adam" and meta["gpu.model.optimizer_bytes"] == 8 * params


def test_pytorch_1x_list_of_segments(tmp_path):
    """PyTorch 1.13's _snapshot() (and memory_snapshot()) returns the list of
    segments itself: the same records as that list under 'segments'."""
    snap = ts.legacy()
    segs = snap["segments"]
    for proto in (2, 4):
        src = tmp_path / ("l%d.pickle" % proto)
        src.write_bytes(pickle.dumps(segs, protocol=proto))
        out = tmp_path / ("l%d.snap" % proto)
        r = convert(src, out)
        assert r.returncode == 0, r.stderr
        want = tmp_path / "d.snap"
        memtrace.import_torch_snapshot({"segments": segs}, want)
        a, b = records(out), records(want)
        for kind in ("gpu_devices", "gpu_segments", "gpu_blocks"):
            assert a[kind] == b[kind], kind
        assert a["gpu_events"] == []
    memtrace.import_torch_snapshot(segs, tmp_path / "p.snap")
    assert records(tmp_path / "p.snap")["gpu_segments"] == records(want)["gpu_segments"]
