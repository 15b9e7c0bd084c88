"""memtrace.dask on a real distributed.LocalCluster of three worker
processes: one made to hold far more than the others, one whose list
grows between dumps, one killed while it dumps. The oracles are the
tools' own --format json output run here on the same files, the
spec reader's meta, the cluster's own view of its workers, and what the
test made the workers hold."""

import collections
import glob
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT, tool
import spec_reader

memtrace = pytest.importorskip("memtrace")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")
import memtrace.dask as mdask  # noqa: E402

from dask_jobs import BIG, BIG_SIZE, LEAK  # noqa: E402
import dask_jobs  # noqa: E402


# --- helpers ----------------------------------------------------------------

_cli = {}


def cli(name, *args, ok=(0,)):
    """The tool's --format json output on this machine (run once per
    arguments: the tests compare several results with one)."""
    if (name, args) in _cli:
        return json.loads(_cli[name, args])
    p = subprocess.run([tool(name), *args, "--format", "json"], capture_output=True, text=True, timeout=120)
    assert p.returncode in ok, p.stderr
    _cli[name, args] = p.stdout
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The cluster, its three workers' roles, three rounds of dumps, and
    one more with the scheduler (heap only, in a directory of its own, so
    that the rounds' series stay three dumps a worker)."""
    d = str(tmp_path_factory.mktemp("dumps"))
    with distributed.LocalCluster(n_workers=3, processes=True, threads_per_worker=1, dashboard_address=None) as lc, \
            distributed.Client(lc) as client:
        client.wait_for_workers(3)
        info = client.scheduler_info()["workers"]
        pids = client.run(os.getpid)
        addrs = sorted(info, key=lambda a: str(info[a]["name"]))
        big, leaky, doomed = addrs
        client.run(dask_jobs.hold_big, workers=[big])
        # Partitions in worker memory: a scattered frame and a persisted
        # dask.dataframe, both on the big worker.
        frame = pd.DataFrame({"id": range(5000), "city": ["c%d" % (i % 7) for i in range(5000)],
                              "x": [i / 3 if i % 10 else None for i in range(5000)]})
        scattered = client.scatter(frame, workers=[big])
        dd = pytest.importorskip("dask.dataframe")
        persisted = dd.from_pandas(frame, npartitions=2).persist(workers=[big])
        distributed.wait(persisted)
        rounds = []
        for _ in range(3):
            client.run(dask_jobs.grow, workers=[leaky])
            rounds.append(mdask.dump(client, d))
        with_scheduler = mdask.dump(client, str(tmp_path_factory.mktemp("scheduler")), what="heap", scheduler=True)
        yield {"client": client, "dir": d, "info": info, "pids": pids, "big": big, "leaky": leaky,
               "doomed": doomed, "rounds": rounds, "frame": frame, "scattered": scattered, "persisted": persisted,
               "with_scheduler": with_scheduler, "scheduler_pid": client.run_on_scheduler(os.getpid),
               "scheduler_address": client.scheduler_info()["address"]}


# --- dump -------------------------------------------------------------------

def test_every_worker_dumped_each_round_labelled_with_host_pid_address_name(cluster):
    for r in cluster["rounds"]:
        assert r["failed"] == {}
        assert set(r["workers"]) == set(cluster["info"])
        for addr, w in r["workers"].items():
            assert w["failed"] == {}
            assert set(w["files"]) >= {"heap"}
            for kind, path in w["files"].items():
                meta = spec_reader.Snapshot(path, kinds={"meta"}).meta()
                assert meta["label.worker"] == addr
                assert meta["label.name"] == str(cluster["info"][addr]["name"])
                assert meta["label.host"] == socket.gethostname() == meta["host"]
                assert int(meta["label.pid"]) == cluster["pids"][addr] == meta["pid"]
                assert meta["label.dump"] == r["tag"]
                assert os.path.basename(path).startswith("%s-%d-" % (kind, cluster["pids"][addr]))
    # The tags sort in time order, so do a worker's files.
    tags = [r["tag"] for r in cluster["rounds"]]
    assert tags == sorted(tags) and len(set(tags)) == 3


def test_scheduler_true_dumps_the_scheduler_labelled_as_the_scheduler_with_its_pid(cluster):
    r = cluster["with_scheduler"]
    pid = cluster["scheduler_pid"]  # the scheduler process's own answer
    assert r["failed"] == {}
    s = r["scheduler"]
    assert s["failed"] == {} and set(s["files"]) == {"heap"} and s["pid"] == pid
    path = s["files"]["heap"]
    assert path in r["files"] and os.path.basename(path).startswith("heap-%d-" % pid)
    meta = spec_reader.Snapshot(path, kinds={"meta"}).meta()
    assert (meta["label.role"], meta["label.name"]) == ("scheduler", "scheduler")
    assert meta["label.worker"] == cluster["scheduler_address"]
    assert int(meta["label.pid"]) == pid == meta["pid"]
    assert meta["label.dump"] == r["tag"]
    # memtrace-info reads it, with the same labels.
    j = cli("memtrace-info", path)
    assert j["objects"] > 0 and j["meta"]["label.role"] == "scheduler" and j["meta"]["pid"] == pid
    # The workers dumped in the same call are labelled as workers, apart.
    assert set(r["workers"]) == set(cluster["info"])
    for addr, w in r["workers"].items():
        wm = spec_reader.Snapshot(w["files"]["heap"], kinds={"meta"}).meta()
        assert (wm["label.role"], wm["label.worker"]) == ("worker", addr) and wm["pid"] != pid


def test_the_big_worker_holds_what_it_was_made_to_hold(cluster):
    r = cluster["rounds"][-1]
    info = {a: cli("memtrace-info", "--top", "100000000", w["files"]["heap"]) for a, w in r["workers"].items()}

    def bytes_of(j):
        return sum(t["bytes"] for t in j["top_types_by_bytes"] if t["type"] == "bytes")

    held = BIG * sys.getsizeof(b"x" * BIG_SIZE)
    for a in info:
        if a != cluster["big"]:
            assert bytes_of(info[cluster["big"]]) - bytes_of(info[a]) >= held
        # The heap total is the sum of its types (every type is listed at
        # this --top), so the held bytes are in it. Totals of two workers
        # are not compared with each other: the rest of a worker's heap
        # (the tasks it ran, the modules they imported, the leaky
        # worker's growth) differs by megabytes from one run to the next.
        j = info[a]
        assert len(j["top_types_by_bytes"]) == j["types"]
        assert j["object_bytes"] == sum(t["bytes"] for t in j["top_types_by_bytes"])
    assert info[cluster["big"]]["object_bytes"] >= bytes_of(info[cluster["big"]]) >= held


def test_frames_in_worker_memory_are_recorded_by_key_with_column_statistics(cluster):
    r = cluster["rounds"][-1]
    w = r["workers"][cluster["big"]]
    j = cli("memtrace-frames", w["files"]["frames"])
    frames = {f["name"]: f for f in j["frames"]}
    keys = {cluster["scattered"].key} | {str(k) for k in cluster["persisted"].__dask_keys__()}
    assert set(frames) == keys
    whole = frames[cluster["scattered"].key]
    df = cluster["frame"]
    assert whole["rows"] == len(df)
    cols = {c["name"]: c for c in whole["columns"]}
    assert cols["x"]["null_count"] == int(df["x"].isna().sum())
    assert cols["city"]["distinct_count"] == df["city"].nunique()
    assert (cols["id"]["min"], cols["id"]["max"]) == (df["id"].min(), df["id"].max())
    assert sum(f["rows"] for n, f in frames.items() if n != cluster["scattered"].key) == len(df)
    # The other workers hold no frame, and say so.
    for a, other in r["workers"].items():
        if a != cluster["big"]:
            assert "frames" not in other["files"] and "frames" in other["skipped"]


# --- sample and stop --------------------------------------------------------

def test_sample_then_stop_leaves_a_labelled_run_file_per_worker(cluster, tmp_path):
    client = cluster["client"]
    started = mdask.sample(client, str(tmp_path), interval=0.05)
    assert started["failed"] == {}
    try:
        time.sleep(0.5)
        marked = mdask.dump(client, str(tmp_path / "d"), what=("samples",))
        assert marked["failed"] == {}
    finally:
        stopped = mdask.stop(client)
    assert stopped["failed"] == {}
    assert set(stopped["workers"]) == set(started["workers"])
    for addr, w in stopped["workers"].items():
        path = w["files"]["samples"]
        assert path == started["workers"][addr]["files"]["samples"] == marked["workers"][addr]["files"]["samples"]
        j = cli("memtrace-info", path)
        assert j["meta"]["label.worker"] == addr
        assert j["meta"]["pid"] == int(j["meta"]["label.pid"]) == w["pid"]
        assert j["records"]["samples"]["count"] >= 3   # 0.5 s at 50 ms
        assert j["records"]["events"]["count"] >= 1    # the dump's mark


# --- analyze ----------------------------------------------------------------

def heap_files(cluster):
    return [p for r in cluster["rounds"] for w in r["workers"].values() for k, p in w["files"].items() if k == "heap"]


def by_process(cluster):
    """{pid: [heap files in time order]}, from the dump reports."""
    out = collections.defaultdict(list)
    for r in cluster["rounds"]:
        for w in r["workers"].values():
            out[w["pid"]].append(w["files"]["heap"])
    return out


def series_of(series, key):
    """The files of the series analyze() calls key (heap-PID-RUN)."""
    return next(s for s in series.values() if os.path.basename(s[0]).startswith(key + "-"))


def test_analyze_info_on_the_cluster_equals_the_cli_file_by_file_and_sums_exactly(cluster):
    files = heap_files(cluster)
    res = mdask.analyze(files, "info", client=cluster["client"])
    # Each part is the CLI's JSON on that file, run here.
    for f in files:
        assert res["parts"][f] == cli("memtrace-info", "--top", "100000000", f)
    # The merge adds: totals and per type, counted here from the CLI's JSON.
    want_types = collections.Counter()
    want_count = collections.Counter()
    objects = object_bytes = 0
    for f in files:
        j = cli("memtrace-info", "--top", "100000000", f)
        objects += j["objects"]
        object_bytes += j["object_bytes"]
        for t in j["top_types_by_bytes"]:
            want_types[t["type"]] += t["bytes"]
            want_count[t["type"]] += t["count"]
    m = res["merged"]
    assert (m["files"], m["objects"], m["object_bytes"]) == (len(files), objects, object_bytes)
    assert {t["type"]: t["bytes"] for t in m["types"]} == dict(want_types)
    assert {t["type"]: t["count"] for t in m["types"]} == dict(want_count)
    # The tasks ran on the workers.
    assert {r["pid"] for r in res["runs"].values()} <= set(cluster["pids"].values())


def test_analyze_diff_per_worker_equals_the_cli_and_sums_exactly(cluster):
    series = by_process(cluster)
    res = mdask.analyze(heap_files(cluster), "diff", client=cluster["client"])
    assert len(res["parts"]) == len(series) == 3
    total = collections.Counter()
    for key, j in res["parts"].items():
        files = series_of(series, key)
        assert j == cli("memtrace-diff", "--top", "0", "--by", "type", files[0], files[-1])
        total.update({k: j["total"][k] for k in ("bytes_a", "bytes_b", "new_count", "new_bytes", "freed_bytes")})
    assert {k: res["merged"]["total"][k] for k in total} == dict(total)
    assert mdask.merge_diff({k: cli("memtrace-diff", "--top", "0", "--by", "type", series_of(series, k)[0],
                                    series_of(series, k)[-1]) for k in res["parts"]}) == res["merged"]
    # The leaking worker's dicts are new in its diff, and in the merge.
    dicts = next(g for g in res["merged"]["groups"] if g["group"] == "dict")
    assert dicts["new_count"] >= 2 * LEAK


def test_analyze_leaks_names_the_leaking_worker_and_equals_the_cli(cluster):
    series = by_process(cluster)
    res = mdask.analyze(heap_files(cluster), "leaks", client=cluster["client"])
    leaky_pid = cluster["pids"][cluster["leaky"]]
    for key, j in res["parts"].items():
        assert j == cli("memtrace-leaks", *series_of(series, key), ok=(0, 1))
    key = next(k for k in res["parts"] if k.startswith("heap-%d-" % leaky_pid))
    # The leaking worker's own series names its dicts; the merge names the
    # worker with that suspect.
    mine = [s for s in res["parts"][key]["suspects"] if "dict" in s["types"]]
    assert mine, res["parts"][key]
    merged = {s["type"]: s for s in res["merged"]["suspects"]}
    for s in mine:
        assert key in merged[s["type"]]["workers"]
        assert merged[s["type"]]["growth_bytes_per_snapshot"] == sum(
            p["growth_bytes_per_snapshot"] for j in res["parts"].values() for p in j["suspects"] if p["type"] == s["type"])
    # The merge of the CLI's own JSON, run here, is the cluster's merge.
    assert mdask.merge_leaks({k: cli("memtrace-leaks", *series_of(series, k), ok=(0, 1)) for k in res["parts"]}) \
        == res["merged"]


@pytest.mark.skipif(not os.path.exists(tool("memtrace-fleet")), reason="memtrace-fleet is not built")
def test_analyze_fleet_on_the_cluster_equals_memtrace_fleet_json(cluster):
    """The fleet view, its files read on the workers and each worker's
    leak series analyzed on one, equals memtrace-fleet run here on every
    file; it names the big worker and what sets it apart, and the leak."""
    files = [w["files"][k] for r in cluster["rounds"] for a, w in sorted(r["workers"].items())
             for k in ("heap", "frames") if k in w["files"]]
    res = mdask.analyze(files, "fleet", client=cluster["client"])
    want = cli("memtrace-fleet", *files)
    assert res["merged"] == want
    m = res["merged"]
    assert m["outliers"] == [cluster["big"]]
    big = next(w for w in m["workers"] if w["worker"] == cluster["big"])
    assert big["outlier_by"] == "heap" and big["types"][0]["type"] == "bytes"
    assert big["types"][0]["delta_bytes"] >= BIG * sys.getsizeof(b"x" * BIG_SIZE)
    assert any(l["workers"] == [cluster["leaky"]] for l in m["leaks"]), m["leaks"]


def test_analyze_raises_the_tools_message_on_a_damaged_file(cluster, tmp_path):
    bad = tmp_path / "heap-1-00000000-x.snap"
    bad.write_bytes(b"not a snapshot")
    with pytest.raises(memtrace._tools.ToolError, match=str(bad)):
        mdask.analyze([str(bad)], "info", client=cluster["client"])


def test_the_module_imports_without_distributed():
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(memtrace.__file__)))
    code = "import sys; sys.modules['distributed'] = None; import memtrace.dask; print('ok')"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


# --- last: the cluster has one worker fewer while its nanny restarts it -----

def test_a_worker_killed_while_dumping_is_reported_and_the_others_files_exist(cluster, tmp_path):
    client = cluster["client"]
    doomed = cluster["doomed"]
    pid = client.run(dask_jobs.die_when_dumping, workers=[doomed])[doomed]
    r = mdask.dump(client, str(tmp_path), what=("heap",))
    assert set(r["failed"]) == {doomed}
    assert doomed not in r["workers"]
    assert set(r["workers"]) == set(cluster["info"]) - {doomed}
    for addr, w in r["workers"].items():
        assert os.path.getsize(w["files"]["heap"]) > 0
        assert spec_reader.Snapshot(w["files"]["heap"], kinds={"meta"}).meta()["label.worker"] == addr
    assert sorted(r["files"]) == sorted(w["files"]["heap"] for w in r["workers"].values())
    # The dead worker's part never took a dump's name.
    assert not glob.glob(os.path.join(str(tmp_path), "heap-%d-*.snap" % pid))


def test_man3_writes_the_real_signatures():
    import re
    import test_docs
    text = test_docs.plain(open(os.path.join(ROOT, "man", "man3", "memtrace.3"), encoding="utf-8").read())
    found = re.findall(r"^memtrace\.dask\.(\w+)(\(.*\))$", text, re.M)
    assert sorted(n for n, _ in found) == sorted(n for n in mdask.__all__ if callable(getattr(mdask, n)))
    for name, args in found:
        test_docs.compare_text("memtrace(3): memtrace.dask.%s" % name, args, getattr(mdask, name))
