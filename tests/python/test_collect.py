"""Production entry points: the signal handler, `python3 -m memtrace heap`,
and one dump per Dask worker with host, pid and worker label."""

import glob
import os
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
    assert [os.path.basename(f) for f in files] == ["heap-%d-0001.snap" % os.getpid(), "heap-%d-0002.snap" % os.getpid()]
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
        assert s.meta()["tracemalloc_current"] > 0  # --trace started tracemalloc
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
                                      tracebacks=False)["path"].decode()

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
        assert os.path.basename(path) == "heap-%d-worker.snap" % m["pid"]
