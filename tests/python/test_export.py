"""memtrace-export against independent answers: the records spec_reader
reads from SPEC.md alone, memtrace-info's totals, the OpenMetrics parser of
Debian's python3-prometheus-client, and tracemalloc's own statistics for
folded stacks."""

import csv
import glob
import json
import math
import os
import subprocess
import tracemalloc

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

import memtrace
import spec_reader
from conftest import ROOT, tool

SNAPS = sorted(glob.glob(os.path.join(ROOT, "testdata", "*.snap")))


def export(*args, code=0):
    p = subprocess.run([tool("memtrace-export"), *map(str, args)], capture_output=True, text=True)
    assert p.returncode == code, p.stderr
    return p


def field_types(kind_name):
    for name, fields in spec_reader.KINDS.values():
        if name == kind_name:
            return {f: t for f, t, _r in fields}
    raise KeyError(kind_name)


def as_json(value, ftype):
    """What the export should print for a value spec_reader decoded."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def as_csv(value, ftype):
    v = as_json(value, ftype)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


@pytest.mark.parametrize("path", SNAPS, ids=os.path.basename)
def test_json_lines_equal_the_spec_reader(path):
    want = spec_reader.Snapshot(path)
    got = {}
    for line in export("--to", "json", path).stdout.splitlines():
        rec = json.loads(line)
        got.setdefault(rec.pop("record"), []).append(rec)
    names = {spec_reader.KINDS[k][0] for k in want.records}
    assert set(got) == names
    for name in names:
        types = field_types(name)
        assert [r.pop("seq") for r in got[name]] == list(range(len(want.of(name))))
        expect = [{f: as_json(v, types[f]) for f, v in r.items()} for r in want.of(name)]
        for g, e in zip(got[name], expect):
            for f in e:
                if isinstance(e[f], float):
                    assert g[f] == pytest.approx(e[f], rel=0, abs=0), (name, f)
            assert g == e, name


@pytest.mark.parametrize("path", SNAPS, ids=os.path.basename)
def test_csv_directory_has_a_file_a_kind(path, tmp_path):
    want = spec_reader.Snapshot(path)
    out = tmp_path / "csv"
    export("--to", "csv", "-o", out, path)
    names = {spec_reader.KINDS[k][0] for k in want.records}
    assert {p.name for p in out.iterdir()} == {n + ".csv" for n in names}
    for name in names:
        types = field_types(name)
        with open(out / (name + ".csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == len(want.of(name))
        for i, (row, rec) in enumerate(zip(rows, want.of(name))):
            assert row.pop("seq") == str(i)
            assert list(row) == list(rec)
            for f, v in rec.items():
                if types[f] == "f64" and row[f]:
                    assert float(row[f]) == v, (name, f)
                else:
                    assert row[f] == as_csv(v, types[f]), (name, f)


def test_one_kind_to_standard_output():
    path = os.path.join(ROOT, "testdata", "heap-small.snap")
    want = spec_reader.Snapshot(path).of("refs")
    rows = list(csv.DictReader(export("--to", "csv", "--kind", "refs", path).stdout.splitlines()))
    assert [(int(r["src"]), int(r["dst"]), r["label"]) for r in rows] == [(r["src"], r["dst"], r["label"]) for r in want]
    lines = export("--to", "json", "-k", "types,roots", path).stdout.splitlines()
    kinds = [json.loads(x)["record"] for x in lines]
    assert set(kinds) == {"types", "roots"}
    assert kinds.count("roots") == len(spec_reader.Snapshot(path).of("roots"))


def peak_kib(*cmd):
    """The peak RSS of cmd, run from a fresh interpreter so that no other
    child of this one counts."""
    code = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True); "
            "sys.stderr.write(p.stderr.decode()); sys.exit(p.returncode) if p.returncode else "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    p = subprocess.run(["/usr/bin/python3", "-c", code, *map(str, cmd)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return int(p.stdout)


def test_streams_files_larger_than_the_loaded_graph(tmp_path):
    """Two million objects: loading them (memtrace-info) takes some 58 MB;
    the export reads one block at a time."""
    path = tmp_path / "big.snap"
    with memtrace.Writer(str(path)) as w:
        for i in range(2_000_000):
            w.add_object(i + 1, "dict" if i % 3 else "list", 64 + i % 1000)
    export_kib = peak_kib(tool("memtrace-export"), "--to", "csv", "-k", "objects", "-o", tmp_path / "o.csv", path)
    info_kib = peak_kib(tool("memtrace-info"), path)
    with open(tmp_path / "o.csv") as f:
        n = sum(1 for _ in f) - 1
    assert n == 2_000_000
    # Under ASan both grow (shadow memory): the ratio holds either way.
    assert export_kib < 24 * 1024 and export_kib * 3 < info_kib, (export_kib, info_kib)


def info(path):
    return json.loads(subprocess.run([tool("memtrace-info"), "-f", "json", "-n", "1000", path], capture_output=True,
                                     text=True, check=True).stdout)


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_prometheus_gauges_equal_memtrace_info():
    path = os.path.join(ROOT, "testdata", "heap-medium.snap")
    text = export("--to", "prometheus", "--top", "0", path).stdout
    fams = families(text)
    want = info(path)
    meta = spec_reader.Snapshot(path).meta()
    assert fams["memtrace_heap_objects"].samples[0].value == want["objects"]
    assert fams["memtrace_heap_bytes"].samples[0].value == want["object_bytes"]
    assert fams["memtrace_heap_bytes"].unit == "bytes"
    by_type = {s.labels["type"]: s.value for s in fams["memtrace_type_bytes"].samples}
    assert by_type == {t["type"]: t["bytes"] for t in want["top_types_by_bytes"]}
    assert {s.labels.get("label") for s in fams["memtrace_type_objects"].samples} == {meta["label"]}
    # One TYPE line per metric family, every family typed.
    types = [ln.split()[2] for ln in text.splitlines() if ln.startswith("# TYPE ")]
    assert len(types) == len(set(types)) == len(fams)
    assert text.endswith("# EOF\n")


def test_prometheus_process_labels():
    path = os.path.join(ROOT, "testdata", "heap-small.snap")
    meta = spec_reader.Snapshot(path).meta()
    for fam in families(export("--to", "prometheus", path).stdout).values():
        for s in fam.samples:
            assert s.labels["host"] == meta["host"] and s.labels["pid"] == str(meta["pid"])


def test_prometheus_top_sums_the_rest():
    path = os.path.join(ROOT, "testdata", "heap-medium.snap")
    fams = families(export("--to", "prometheus", "--top", "3", path).stdout)
    samples = {s.labels["type"]: s.value for s in fams["memtrace_type_bytes"].samples}
    assert len(samples) == 4 and "<other>" in samples
    assert sum(samples.values()) == fams["memtrace_heap_bytes"].samples[0].value


def test_prometheus_frames_and_escaping(tmp_path):
    path = tmp_path / "odd.snap"
    label = 'say "hi"\\ then\nnewline'
    with memtrace.Writer(str(path)) as w:
        w.add_meta("label", label)
        w.add_meta("host", "h1")
        w.add_object(1, 'weird."type"\\name', 100)
        w.add_object(2, "int", 28)
        w.add_df_frame(1, "orders", 10, 1, deep_bytes=4096)
        w.add_df_frame(2, "orders", 20, 1, deep_bytes=8192)
    fams = families(export("--to", "prometheus", path).stdout)
    (s1, s2) = sorted(fams["memtrace_type_bytes"].samples, key=lambda s: s.value)
    assert s1.labels == {"host": "h1", "label": label, "type": "int"}
    assert s2.labels["type"] == 'weird."type"\\name' and s2.value == 100
    frames = {(s.labels["frame"], s.labels["frame_id"]): s.value for s in fams["memtrace_frame_bytes"].samples}
    assert frames == {("orders", "1"): 4096, ("orders", "2"): 8192}
    rows = {s.labels["frame_id"]: s.value for s in fams["memtrace_frame_rows"].samples}
    assert rows == {"1": 10, "2": 20}


def grow():
    keep = []
    for i in range(300):
        keep.append(bytearray(1000 + i))
        keep.append(str(i) * 50)
    return keep


@pytest.mark.parametrize("by_count", [False, True])
def test_folded_stacks_equal_tracemalloc(tmp_path, by_count):
    tracemalloc.start(8)
    try:
        kept = grow()
        snap = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    path = tmp_path / "t.snap"
    memtrace.import_tracemalloc(snap, str(path))
    want = {}
    for st in snap.statistics("traceback"):
        key = ";".join(f"{f.filename}:{f.lineno}" for f in st.traceback)
        want[key] = want.get(key, 0) + (st.count if by_count else st.size)
    got = {}
    out = export("--to", "folded", *(["--count"] if by_count else []), path).stdout
    for line in out.splitlines():
        stack, _, weight = line.rpartition(" ")
        assert stack not in got
        got[stack] = int(weight)
    assert got == want
    assert out.splitlines() == sorted(out.splitlines(), key=lambda x: x.rpartition(" ")[0].encode())
    del kept


def test_folded_heap_objects_with_stacks():
    """A heap dump with tracebacks: the folded bytes add up to the bytes of
    the objects that carry a stack, as spec_reader counts them."""
    path = os.path.join(ROOT, "testdata", "all-kinds.snap")
    snap = spec_reader.Snapshot(path)
    objs = snap.of("objects")
    if not any(o["stack"] for o in objs):
        pytest.skip("all-kinds.snap has no object stacks")
    total = sum(int(line.rpartition(" ")[2]) for line in export("--to", "folded", path).stdout.splitlines())
    assert total == sum(o["size"] for o in objs)
