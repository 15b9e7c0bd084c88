"""memtrace-diff against Python's own answers: tracemalloc's
Snapshot.compare_to for allocation sites, and id() sets for the objects
new, freed and surviving between two heap dumps of this process."""

import csv
import gc
import io
import json
import os
import subprocess
import sys
import tracemalloc

import pytest

import memtrace
import spec_reader
from conftest import BUILD, tool


def diff(*args, code=0):
    p = subprocess.run([tool("memtrace-diff"), *map(str, args)], capture_output=True, text=True)
    assert p.returncode == code, p.stderr
    return p


def rows(a, b, by):
    out = diff(a, b, "--by", by, "--format", "csv", "--top", "0").stdout
    return {r["group"]: r for r in csv.DictReader(io.StringIO(out))}


def allocate_some():
    kept = [bytearray(1000 + i) for i in range(200)]
    words = ["w%06d" % i * 3 for i in range(3000)]
    table = {i: (i, str(i)) for i in range(500)}
    return kept, words, table


def test_by_site_and_traceback_match_tracemalloc_compare_to(tmp_path):
    tracemalloc.start(8)
    try:
        old = tracemalloc.take_snapshot()
        keep = allocate_some()
        del keep[1][:1000]  # frees part of what was made
        new = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    a, b = tmp_path / "a.snap", tmp_path / "b.snap"
    assert memtrace.import_tracemalloc(old, str(a)) == len(old.traces)
    # From a file saved by tracemalloc too.
    new.dump(str(tmp_path / "new.tracemalloc"))
    memtrace.import_tracemalloc(str(tmp_path / "new.tracemalloc"), str(b), label="after")
    assert spec_reader.Snapshot(str(b)).meta()["label"] == "after"

    got = rows(a, b, "site")
    want = {"%s:%d" % (s.traceback[0].filename, s.traceback[0].lineno): s for s in new.compare_to(old, "lineno")}
    assert set(got) == set(want)
    for key, s in want.items():
        r = got[key]
        assert (int(r["bytes_b"]), int(r["count_b"])) == (s.size, s.count), key
        assert (int(r["bytes_delta"]), int(r["count_delta"])) == (s.size_diff, s.count_diff), key
    # This file's own lines grew by what they allocated.
    here = [k for k in got if k.startswith(__file__ + ":")]
    assert here and sum(int(got[k]["bytes_delta"]) for k in here) > 200 * 1000

    got = rows(a, b, "traceback")
    want = {" < ".join("%s:%d" % (f.filename, f.lineno) for f in reversed(s.traceback)): s
            for s in new.compare_to(old, "traceback")}
    assert set(got) == set(want)
    for key, s in want.items():
        assert (int(got[key]["bytes_delta"]), int(got[key]["count_delta"])) == (s.size_diff, s.count_diff)
    # Allocation records are compared by group: no identities to match.
    out = json.loads(diff(a, b, "--by", "site", "--format", "json").stdout)
    assert out["matched"] is False and "new_count" not in out["groups"][0]
    # By type there is nothing to group: the error says what to do.
    p = diff(b, a, code=3)
    assert p.stderr == "memtrace-diff: %s: holds no objects to group by type (it holds allocations: try --by site)\n" % b


class Leaky:
    pass


def test_objects_new_freed_and_surviving_match_id_sets(tmp_path):
    gc.collect()
    keep = [Leaky() for _ in range(100)]
    ids_a = {id(x) for x in keep}
    a, b = tmp_path / "a.snap", tmp_path / "b.snap"
    memtrace.dump_heap(str(a))
    del keep[:30]
    keep += [Leaky() for _ in range(250)]
    ids_b = {id(x) for x in keep}
    memtrace.dump_heap(str(b))
    out = json.loads(diff(a, b, "--format", "json", "--top", "0").stdout)
    assert out["matched"] is True
    row = [r for r in out["groups"] if r["group"].endswith(".Leaky")]
    assert len(row) == 1
    r = row[0]
    assert (r["count_a"], r["count_b"]) == (len(ids_a), len(ids_b))
    assert r["new_count"] == len(ids_b - ids_a)
    assert r["freed_count"] == len(ids_a - ids_b)
    assert r["surviving_count"] == len(ids_a & ids_b)
    # Each instance holds at least what sys.getsizeof says (from 3.11 on
    # its values array comes on top, sized by the class's shared keys when
    # it was made, so instances differ); the change is B's less A's.
    assert r["bytes_a"] >= len(ids_a) * sys.getsizeof(keep[-1])
    assert r["bytes_b"] >= len(ids_b) * sys.getsizeof(keep[-1])
    assert r["bytes_delta"] == r["bytes_b"] - r["bytes_a"]
    # The totals line is the sum of every group, the text table says so.
    text = diff(a, b, "--top", "3").stdout
    assert "objects matched by id and type (same process)" in text
    assert "total" in text and "more groups; --top 0 shows all" in text
    # By module: this test module's group holds the Leaky objects.
    mods = rows(a, b, "module")
    assert int(mods[Leaky.__module__]["count_delta"]) >= 150


def test_groups_only_across_processes(testdata):
    p = diff(testdata + "/heap-small.snap", testdata + "/heap-medium.snap", "--min-delta", "1000000")
    assert "different processes: compared by group only" in p.stdout
    assert "bytes" in p.stdout and "bytearray" in p.stdout and "  str " not in p.stdout
    p = diff(testdata + "/heap-small.snap", testdata + "/heap-medium.snap", "--by", "column", code=3)
    assert "holds no DataFrame columns" in p.stderr
    p = diff(testdata + "/heap-small.snap", testdata + "/heap-medium.snap", "--by", "colour", code=2)
    assert "--by must be type, module, site, traceback, column or device, not 'colour'" in p.stderr


REUSE = '''
import sys, tracemalloc, memtrace
tracemalloc.start(10)
def make_old():
    return [{"k": i} for i in range(500)]
def make_new():
    return [{"k": i} for i in range(1500)]
keep = make_old()
memtrace.dump_heap(sys.argv[1])
del keep[:]
keep = make_new()
memtrace.dump_heap(sys.argv[2])
'''


def test_by_site_a_reused_address_is_new_not_surviving(tmp_path):
    # make_new's dicts all exist only after the first dump, but CPython
    # gives them the addresses make_old's freed dicts had: matched by id and
    # type alone, hundreds of them were "surviving" at a site that held none
    # in A (559 surviving of 0 on this machine).
    script = tmp_path / "reuse.py"
    script.write_text(REUSE)
    a, b = tmp_path / "a.snap", tmp_path / "b.snap"
    subprocess.run([sys.executable, str(script), str(a), str(b)], check=True, env=_env())
    for by in ("site", "traceback"):
        out = json.loads(diff(a, b, "--by", by, "--format", "json", "--top", "0").stdout)
        assert out["matched"] is True
        for r in out["groups"]:
            assert r["surviving_count"] <= min(r["count_a"], r["count_b"]), r
        new = [r for r in out["groups"] if r["group"].startswith("%s:7" % script)]
        old = [r for r in out["groups"] if r["group"].startswith("%s:5" % script)]
        assert len(new) == 1 and len(old) == 1
        # Every object allocated at line 7 (make_new) was made after dump A.
        assert new[0]["count_a"] == 0 and new[0]["surviving_count"] == 0
        assert new[0]["new_count"] == new[0]["count_b"] >= 1500
        # And make_old's dicts (and their ints past the small-int cache) all went.
        assert old[0]["count_b"] == 0 and old[0]["freed_count"] == old[0]["count_a"] >= 500
    # The text's 48-byte column keeps each traceback's allocation site
    # (this script's path is longer than the column): make_old's and
    # make_new's rows do not read the same.
    text = diff(a, b, "--by", "traceback", "--top", "0").stdout
    assert len(str(script)) > 48
    assert any(" reuse.py:7" in x or "/reuse.py:7" in x for x in text.splitlines())
    assert any("/reuse.py:5" in x for x in text.splitlines())


NATIVE = '''
import ctypes, os, sys, memtrace
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
native = int(sys.argv[3])
held = []
print(rss())
memtrace.dump_heap(sys.argv[1], tracebacks=False)
for _ in range(native // (1 << 20)):
    p = libc.malloc(1 << 20)
    libc.memset(p, 1, 1 << 20)   # touched: resident
    held.append(p)
more = [bytes(100) for _ in range(1000)]  # a little Python growth too
print(rss())
memtrace.dump_heap(sys.argv[2], tracebacks=False)
'''


def _env():
    return dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))


@pytest.mark.parametrize("native_mib", [0, 96])
def test_rss_outgrowing_the_heap_is_said_with_its_bytes(tmp_path, native_mib):
    # A real process that mallocs native buffers through ctypes between two
    # dumps and holds them: the heap dump cannot see them, rss does.
    script = tmp_path / "native.py"
    script.write_text(NATIVE)
    a, b = tmp_path / "a.snap", tmp_path / "b.snap"
    p = subprocess.run([sys.executable, str(script), str(a), str(b), str(native_mib << 20)], check=True,
                       capture_output=True, text=True, env=_env())
    rss_before, rss_after = map(int, p.stdout.split())
    out = json.loads(diff(a, b, "--format", "json").stdout)
    r = out["rss"]
    # The dumps' rss is read at the dump, just after the script's own reading.
    assert abs(r["rss_a"] - rss_before) < 4 << 20 and abs(r["rss_b"] - rss_after) < 4 << 20
    heap_growth = r["heap_b"] - r["heap_a"]
    assert r["unaccounted_bytes"] == (r["rss_b"] - r["rss_a"]) - heap_growth
    text = diff(a, b).stdout
    assert "\nrss: " in text and "heap objects: " in text
    # memtrace-info shows the same rss beside the heap's bytes.
    info = json.loads(subprocess.run([tool("memtrace-info"), "-f", "json", str(b)], capture_output=True, text=True,
                                     check=True).stdout)
    assert info["rss_bytes"] == info["meta"]["rss"] == r["rss_b"]
    assert info["object_bytes"] == r["heap_b"]
    line = [x for x in subprocess.run([tool("memtrace-info"), str(b)], capture_output=True, text=True,
                                      check=True).stdout.splitlines() if x.startswith("rss:")]
    assert len(line) == 1 and "%.1f%%)" % (100 * r["heap_b"] / r["rss_b"]) in line[0]
    if native_mib:
        # 96 MiB malloc'd and touched: all of it unaccounted, give or take
        # the allocator's and the interpreter's few MiB; under
        # AddressSanitizer (CI) its shadow (1/8) and redzones come on top.
        slack = (native_mib << 20) // 4 if "libasan" in os.environ.get("LD_PRELOAD", "") else 8 << 20
        assert -(8 << 20) < r["unaccounted_bytes"] - (native_mib << 20) < slack
        assert r["native_growth"] is True
        assert "note: rss grew " in text and "more than the heap did" in text
        assert "python3 -m memtrace trace" in text and "heaptrack" in text
    else:
        assert r["native_growth"] is False
        assert "note: rss grew" not in text
