"""memtrace-fleet and memtrace.analyze.fleet on real processes: five
worker processes (testdata/fleet/make_fleet.py) each dumped three or
five times with the collector; one holds 600 buffers of 16 KiB more than
the others, one leaks 400 objects into a module-level dict before each
dump. The oracles: the workers' pids as the processes report them,
sys.getsizeof of the buffers the big worker holds, the objects the
leaker adds, and the CLI's own JSON for the Python binding."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from conftest import BUILD, ROOT, tool

MAKE = os.path.join(ROOT, "testdata", "fleet", "make_fleet.py")


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet")
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    specs = ["normal:3", "normal:3", "normal:3", "big:3", "leak:5"]
    r = subprocess.run([sys.executable, MAKE, str(out)] + specs, env=env, capture_output=True, text=True,
                       check=True, timeout=300)
    pids = {}
    for line in r.stdout.splitlines():
        name, role, pid = line.split()
        pids[name] = int(pid)
    return str(out), pids


def run_json(*args):
    r = subprocess.run([tool("memtrace-fleet"), "-f", "json", *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def by_pid(j, pid):
    (w,) = [w for w in j["workers"] if w["pid"] == pid]
    return w


def test_names_the_outlier_what_sets_it_apart_and_the_leak(fleet_dir):
    out, pids = fleet_dir
    j = run_json(out)
    assert len(j["workers"]) == 5
    assert sorted(w["pid"] for w in j["workers"]) == sorted(pids.values())
    big = by_pid(j, pids["w3-big"])
    # The outlier, by its heap, and nobody else.
    assert j["outliers"] == [big["worker"]]
    assert big["outlier_by"] == "heap"
    assert big["z"]["heap"] > j["threshold"]
    # The type that sets it apart: bytes, by about what the worker holds
    # (the 600 buffers as sys.getsizeof counts them); the others' bytes
    # objects differ by a few KiB at most.
    held = sum(sys.getsizeof(bytes(16384) + str(i).encode()) for i in range(600))
    top = big["types"][0]
    assert top["type"] == "bytes"
    assert abs(top["delta_bytes"] - held) < 0.02 * held
    # And its DataFrame, three times as long: each column above the median.
    assert {c["column"] for c in big["columns"]} == {"orders.id", "orders.price", "orders.city"}
    # The leak: on the leaker only, 400 objects a snapshot, in _LEAKS.
    assert j["leaks_analyzed"] and j["series_workers"] == 5
    leaks = [l for l in j["leaks"] if l["type"] == "__main__.Leaked"]
    assert len(leaks) == 1
    leak = leaks[0]
    assert leak["workers"] == [by_pid(j, pids["w4-leak"])["worker"]]
    assert leak["objects_per_snapshot"] == 400
    assert leak["point_type"] == "dict" and leak["path"].endswith("_LEAKS")
    # Totals as the dumps say them: rss is the dump's meta, unmanaged rss
    # less heap and frames.
    for w in j["workers"]:
        assert w["unmanaged_bytes"] == max(0, w["rss_bytes"] - w["heap_bytes"] - w["frames_bytes"])


def test_python_binding_equals_the_cli_json(fleet_dir):
    import memtrace.analyze as mta

    out, _ = fleet_dir
    j = run_json(out)
    r = mta.fleet(out)
    assert r.to_dict() == j
    assert r.outliers == j["outliers"]
    assert list(r.workers["worker"]) == [w["worker"] for w in j["workers"]]
    assert list(r.workers["heap_bytes"]) == [w["heap_bytes"] for w in j["workers"]]
    assert list(r.workers["z_heap"]) == [w["z"]["heap"] for w in j["workers"]]
    assert list(r.types["type"]) == [t["type"] for w in j["workers"] for t in w["types"]]
    assert list(r.leaks["type"]) == [l["type"] for l in j["leaks"]]
    # Without the leak analysis, and with a threshold no worker reaches.
    j2 = run_json("--no-leaks", "--threshold", "1000", out)
    r2 = mta.fleet([out], leaks=False, threshold=1000)
    assert r2.to_dict() == j2 and j2["outliers"] == [] and j2["leaks"] == []
    assert "fleet" in repr(r) and "<table" in r._repr_html_()


def test_csv_rows_match_the_json(fleet_dir):
    out, _ = fleet_dir
    j = run_json(out)
    r = subprocess.run([tool("memtrace-fleet"), "--format", "csv", out], capture_output=True, text=True, check=True)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["worker"] for row in rows] == [w["worker"] for w in j["workers"]]
    for row, w in zip(rows, j["workers"]):
        assert int(row["heap_bytes"]) == w["heap_bytes"]
        assert int(row["rss_bytes"]) == w["rss_bytes"]
        assert row["outlier"] == ("1" if w["outlier"] else "0")


def test_bad_paths_raise(tmp_path):
    import memtrace.analyze as mta

    with pytest.raises(mta.FileError) as e:
        mta.fleet([str(tmp_path / "nosuch.snap")])
    assert e.value.path == str(tmp_path / "nosuch.snap")
    bad = tmp_path / "bad.snap"
    bad.write_bytes(b"not a snapshot at all")
    with pytest.raises(mta.BadInputError):
        mta.fleet([str(bad)])
    with pytest.raises(mta.Error):
        mta.fleet([str(tmp_path)])  # a directory without dumps
