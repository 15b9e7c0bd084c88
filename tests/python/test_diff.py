"""memtrace-diff against Python's own answers: tracemalloc's
Snapshot.compare_to for allocation sites, and id() sets for the objects
new, freed and surviving between two heap dumps of this process."""

import csv
import gc
import io
import json
import subprocess
import tracemalloc

import pytest

import memtrace
import spec_reader
from conftest import tool


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
    assert r["bytes_delta"] == (len(ids_b) - len(ids_a)) * Leaky.__basicsize__ + \
        (len(ids_b) - len(ids_a)) * (r["bytes_b"] // len(ids_b) - Leaky.__basicsize__)
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
