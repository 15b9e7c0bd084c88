"""Production entry points: the signal handler, `python3 -m memtrace heap`,
and one dump per Dask worker with host, pid and worker label."""

import glob
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap

import pytest

import memtrace
import spec_reader
from conftest import BUILD


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = os.path.join(BUILD, "python")
    return e


def test_signal_handler_dumps_numbered_snapshots(tmp_path):
    previous = memtrace.install_signal_handler(str(tmp_path), signal.SIGUSR2, label="svc")
    try:
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR2)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    files = sorted(glob.glob(os.path.join(str(tmp_path), "heap-%d-*.snap" % os.getpid())))
    run = memtrace._run_id()
    assert re.fullmatch("[0-9a-f]{8}", run)
    assert [os.path.basename(f) for f in files] == ["heap-%d-%s-0001.snap" % (os.getpid(), run),
                                                    "heap-%d-%s-0002.snap" % (os.getpid(), run)]
    for f in files:
        meta = spec_reader.Snapshot(f).meta()
        assert meta["label"] == "svc" and meta["pid"] == os.getpid()


def test_run_a_script_and_dump_at_exit_and_on_signal(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""
        import os, signal, sys
        class Session:
            pass
        _SESSIONS = {"u%d" % i: Session() for i in range(250)}
        os.kill(os.getpid(), signal.SIGUSR1)
        print(" ".join(sys.argv[1:]))
    """))
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "memtrace", "heap", "-o", str(out), "--signal", "USR1", "--trace", "4",
                        "--", str(script), "--flag", "x"], capture_output=True, text=True, env=env(), timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "--flag x"
    files = sorted(os.listdir(out))
    assert len(files) == 2 and files[0].endswith("-0001.snap") and files[1].endswith("-exit.snap")
    for f in files:
        s = spec_reader.Snapshot(str(out / f))
        names = {t["id"]: t["name"] for t in s.of("types")}
        assert sum(1 for o in s.of("objects") if names[o["type"]] == "__main__.Session") == 250
        # --trace records stacks with memtrace's tracer (not tracemalloc):
        # the sessions were made at line 5 of app.py, inside the dict
        # comprehension that ran at module level.
        frames = {f["id"]: f for f in s.of("frames")}
        stacks = {st["id"]: st for st in s.of("stacks")}
        lines = [frames[stacks[o["stack"]]["frame"]] for o in s.of("objects")
                 if names[o["type"]] == "__main__.Session" and o["stack"]]
        assert len(lines) == 250 and all(f["file"] == str(script) and f["line"] == 5 for f in lines), lines[:3]
        assert "tracemalloc_current" not in s.meta()  # the program's tracemalloc is left alone
    bad = subprocess.run([sys.executable, "-m", "memtrace", "heap", "-o", str(out), "--", str(tmp_path / "nope.py")],
                         capture_output=True, text=True, env=env())
    assert bad.returncode == 2 and "no such file" in bad.stderr


def test_one_dump_per_dask_worker(tmp_path):
    distributed = pytest.importorskip("distributed")
    script = tmp_path / "cluster.py"
    script.write_text(textwrap.dedent("""
        import os, socket, sys
        import memtrace
        from distributed import Client, LocalCluster

        def dump(dask_worker, directory):
            return memtrace.dump_heap(memtrace.snapshot_path(directory, "worker"), label=str(dask_worker.name),
                                      tracebacks=False)["path"]

        if __name__ == "__main__":
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
                with Client(cluster) as client:
                    paths = client.run(dump, directory=sys.argv[1])
                    for addr, path in sorted(paths.items()):
                        print(path)
    """))
    p = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, env=env(),
                       timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    paths = p.stdout.split()
    assert len(paths) == 2
    metas = [spec_reader.Snapshot(path).meta() for path in paths]
    assert len({m["pid"] for m in metas}) == 2  # two processes, side by side
    assert {m["host"] for m in metas} == {os.uname().nodename}
    assert sorted(str(m["label"]) for m in metas) == ["0", "1"]  # Dask's worker names
    for path, m in zip(paths, metas):
        assert re.fullmatch("heap-%d-[0-9a-f]{8}-worker.snap" % m["pid"], os.path.basename(path))


def test_dumps_never_overwrite_an_earlier_run(tmp_path):
    """Issue 30 #6: dumps were named heap-PID-NNNN.snap, and PID 1 in a
    container is every run's pid: a new run overwrote the last one's
    dumps. The name carries a per-run id (drawn again in a forked child),
    and a name that is taken, whatever made it, is never replaced."""
    d = str(tmp_path)
    earlier = memtrace.snapshot_path(d, "0001")
    with open(earlier, "wb") as f:
        f.write(b"an earlier run's dump")
    previous = memtrace.install_signal_handler(d, signal.SIGUSR2)
    try:
        os.kill(os.getpid(), signal.SIGUSR2)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    with open(earlier, "rb") as f:
        assert f.read() == b"an earlier run's dump"
    new = earlier[:-len(".snap")] + ".2.snap"
    assert spec_reader.Snapshot(new).meta()["pid"] == os.getpid()
    assert memtrace.snapshot_path(d, "0001") == earlier[:-len(".snap")] + ".3.snap"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, memtrace._run_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(r, 64).decode() != memtrace._run_id()


FAILING_DUMP = r"""
import os, resource, signal, sys, memtrace
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
keep = [str(i) * 50 for i in range(300000)]     # a heap whose dump is larger than the limit
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
try:
    memtrace.dump_heap(sys.argv[1])
except OSError as e:
    print("failed:", e)
    sys.exit(0)
sys.exit("the dump did not fail")
"""


def test_a_failed_dump_leaves_the_earlier_file(tmp_path):
    """Issue 30 #6: a dump that fails midway (here: the file size limit,
    as a full disk would) leaves the earlier snapshot at its path byte for
    byte, and no temporary file beside it."""
    path = tmp_path / "heap.snap"
    memtrace.dump_heap(str(path), tracebacks=False)
    before = path.read_bytes()
    r = subprocess.run([sys.executable, "-c", FAILING_DUMP, str(path), str(256 * 1024)], env=env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "failed:" in r.stdout and str(path) in r.stdout
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["heap.snap"]
