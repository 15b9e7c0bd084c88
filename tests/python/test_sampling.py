"""memtrace.sampling and `python3 -m memtrace run`: the run file read back
with the independent reader (spec_reader), against oracles read by other
paths in the same program: /proc/self/status parsed here, tracemalloc's
and the collector's own figures, the script's own exit status, CPython's
count of the objects a script made."""

import collections
import gc
import glob
import mmap
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc

import pytest

import memtrace
import spec_reader
from conftest import BUILD

MiB = 1 << 20


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = os.path.join(BUILD, "python")
    return e


def vmrss():
    """VmRSS of /proc/self/status, parsed here (the sampler has its own
    reader in C)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def series(snap, name):
    return [(r["time_ns"], r["value"], r["step"]) for r in snap.of("samples") if r["series"] == name]


def events(snap, kind=None):
    return [e for e in snap.of("events") if kind is None or e["kind"] == kind]


def mark(snap, name):
    (e,) = [e for e in events(snap, "mark") if e["name"] == name]
    return e


def between(points, t0, t1):
    return [v for t, v, _ in points if t0 <= t <= t1]


def wait_for(cond, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.01)


def run(tmp_path, body, *opts, timeout=60):
    """python3 -m memtrace run OPTS -- script.py, the script's body given;
    returns (completed process, the run file read strictly)."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(body))
    out = tmp_path / "run.snap"
    p = subprocess.run([sys.executable, "-m", "memtrace", "run", "-o", str(out), *opts, "--", str(script)],
                       capture_output=True, text=True, env=env(), timeout=timeout, cwd=str(tmp_path))
    return p, spec_reader.Snapshot(str(out))


# --- in this process ----------------------------------------------------------

def test_rss_rises_by_the_mib_held_as_proc_self_status_says(tmp_path):
    n = 64
    path = tmp_path / "run.snap"
    with memtrace.sampling(str(path), interval=0.02) as s:
        time.sleep(0.15)
        before = vmrss()
        s.event("mark", "before", before)
        time.sleep(0.15)
        # A mapping of its own: a bytearray may reuse a heap region an
        # earlier test freed and left resident, and then rss does not move.
        block = mmap.mmap(-1, n * MiB)
        for i in range(0, n * MiB, 4096):  # touched page by page
            block[i] = 1
        held = vmrss()
        s.event("mark", "held", held)
        time.sleep(0.3)
        s.event("mark", "release", vmrss())
        block.close()
        after = vmrss()
        s.event("mark", "after", after)
        time.sleep(0.15)
    snap = spec_reader.Snapshot(str(path))
    rss = series(snap, "rss")
    base = between(rss, mark(snap, "before")["time_ns"], mark(snap, "held")["time_ns"] - 1)
    top = between(rss, mark(snap, "held")["time_ns"], mark(snap, "release")["time_ns"])
    low = between(rss, mark(snap, "after")["time_ns"], 1 << 63)
    assert len(base) >= 2 and len(top) >= 3 and low, (len(base), len(top), len(low))
    # The oracle: /proc/self/status, read here at the same moments.
    assert abs((held - before) - n * MiB) <= 0.05 * n * MiB
    assert abs((max(top) - min(base)) - (held - before)) <= 0.05 * n * MiB
    assert abs((max(top) - min(base)) - n * MiB) <= 0.05 * n * MiB
    assert abs(max(top) - held) <= 0.05 * n * MiB
    assert min(low) < max(top) - 0.9 * n * MiB  # given back at once (an mmap'd block)
    kinds = [e["kind"] for e in events(snap)]
    assert kinds[0] == "start" and "exit" not in kinds  # the with block ended, not the process


def test_traced_agrees_with_tracemalloc_at_the_same_moments(tmp_path):
    path = tmp_path / "run.snap"
    tracemalloc.start()
    try:
        hold = []
        with memtrace.sampling(str(path), interval=0.05) as s:
            for k in range(3):
                hold.append([bytes(1000) for _ in range(8000 * (k + 1))])  # about 8, 16, 24 MB
                s.event("mark", "from%d" % k, tracemalloc.get_traced_memory()[0])
                time.sleep(0.35)  # the Python figures are read every 100 ms
                s.event("mark", "to%d" % k, tracemalloc.get_traced_memory()[0])
            del hold
    finally:
        tracemalloc.stop()
    snap = spec_reader.Snapshot(str(path))
    traced = series(snap, "traced")
    peak = series(snap, "traced.peak")
    assert traced and len(traced) == len(peak)
    for k in range(3):
        a, b = mark(snap, "from%d" % k), mark(snap, "to%d" % k)
        inside = between(traced, a["time_ns"], b["time_ns"])
        assert len(inside) >= 2, (k, inside)
        for v in inside:
            assert abs(v - a["value"]) <= 0.03 * a["value"] and abs(v - b["value"]) <= 0.03 * b["value"]
    assert all(p >= t for (_, t, _), (_, p, _) in zip(traced, peak))


def test_gc_collections_series_count_the_collections(tmp_path):
    path = tmp_path / "run.snap"
    with memtrace.sampling(str(path), interval=0.05) as s:
        time.sleep(0.25)
        for k in range(3):
            # The figures thread may read between collect() and the mark
            # after it, so "before" bounds what was read before the collection.
            s.event("mark", "before%d" % k, gc.get_stats()[2]["collections"])
            gc.collect()
            s.event("mark", "collected%d" % k, gc.get_stats()[2]["collections"])
            time.sleep(0.25)
    snap = spec_reader.Snapshot(str(path))
    full = series(snap, "gc.collections2")
    assert len(series(snap, "gc.count0")) == len(full) and series(snap, "gc.collections0")
    first, before = mark(snap, "collected0"), mark(snap, "before0")
    assert [v for t, v, _ in full if t < before["time_ns"]][-1] < first["value"]
    for k in range(3):
        m = mark(snap, "collected%d" % k)
        after = [v for t, v, _ in full if t > m["time_ns"]]
        assert after and after[0] >= m["value"]  # the sampler saw each collection
    values = [v for _, v, _ in full]
    assert values == sorted(values) and values[-1] - values[0] >= 3


def test_os_samples_go_on_while_the_main_thread_holds_the_gil(tmp_path):
    """A long C call that keeps the GIL (sorting a big list) stops the
    Python figures, which need it, but not the rss series."""
    path = tmp_path / "run.snap"
    data = [float((i * 7919) % 1000003) for i in range(3000000)]
    with memtrace.sampling(str(path), interval=0.02) as s:
        time.sleep(0.15)
        s.event("mark", "call")
        t0 = time.monotonic()
        sorted(data)  # one call: no bytecode runs, and the GIL is never let go
        took = time.monotonic() - t0
        s.event("mark", "returned", took)
        time.sleep(0.15)
    snap = spec_reader.Snapshot(str(path))
    a, b = mark(snap, "call")["time_ns"], mark(snap, "returned")["time_ns"]
    inside = between(series(snap, "rss"), a, b)
    assert took > 0.3, "the call was too short to tell"
    # Every 20 ms, less what a loaded machine delays.
    assert len(inside) >= 0.4 * took / 0.02, (len(inside), took)
    # The figures thread may read as the call starts (it may hold the GIL
    # between the mark and the call) and after it returns (the GIL is
    # handed over between the return and the next mark, and a loaded
    # machine can starve the main thread for a while there, letting
    # several reads in): never in the first half of the call, where rss
    # went on every 20 ms.
    half = a + (b - a) // 2
    assert not between(series(snap, "gc.count0"), a + 10**8, half), (series(snap, "gc.count0"), a, b)
    assert len(between(series(snap, "rss"), a, half)) >= 0.2 * took / 0.02


def test_one_sampler_per_process(tmp_path):
    with memtrace.sampling(str(tmp_path / "a.snap")) as s:
        assert memtrace.sampling.__module__ and s.running
        with pytest.raises(RuntimeError, match="already runs.*a.snap"):
            memtrace.sampling(str(tmp_path / "b.snap")).start()
        assert set(s.latest()) >= {"rss", "gc.count0"}
    assert not s.running
    s.stop()  # a second stop does nothing
    again = memtrace.sampling(str(tmp_path / "c.snap")).start()  # free once stopped
    again.stop(0)
    assert [e["value"] for e in events(spec_reader.Snapshot(str(tmp_path / "c.snap")), "exit")] == [0]


def test_bad_alert_says_the_column(tmp_path):
    with pytest.raises(ValueError, match="column 6") as e:
        memtrace.sampling(str(tmp_path / "x.snap"), alerts=["rss>2XB"])
    assert e.value.column == 6
    assert not os.listdir(tmp_path)


def test_spec_reader_follows_a_file_cut_anywhere(tmp_path):
    """spec_reader's growing mode (SPEC.md 3.4) on every prefix of a real
    run file: whole blocks read, a block cut short is not yet written,
    and damage before the end is still damage."""
    path = tmp_path / "run.snap"
    with memtrace.sampling(str(path), interval=0.02) as s:
        for k in range(3):
            s.step("s%d" % k)
            time.sleep(0.05)
    whole = spec_reader.Snapshot(str(path))
    data = path.read_bytes()
    ends = [b["offset"] + 36 + b["stored"] for b in whole.blocks]
    assert len(ends) >= 2
    cut = tmp_path / "cut.snap"
    for size in sorted({16, ends[0] - 1, ends[0], ends[0] + 20, ends[-1] - 5, ends[-1], len(data) - 1}):
        cut.write_bytes(data[:size])
        got = spec_reader.Snapshot(str(cut), growing=True)
        whole_blocks = [e for e in ends if e <= size]
        assert got.growing and len(got.blocks) == len(whole_blocks), size
        if size < len(data):
            with pytest.raises(spec_reader.SpecError):
                spec_reader.Snapshot(str(cut))
    # A closed file reads the same either way.
    assert spec_reader.Snapshot(str(path), growing=True).records == whole.records
    bad = bytearray(data[:ends[1]])
    bad[ends[0] + 12] ^= 0xFF  # the second block's header, not at the end
    cut.write_bytes(bytes(bad) + data[ends[1]:ends[-1]])
    with pytest.raises(spec_reader.SpecError, match="CRC"):
        spec_reader.Snapshot(str(cut), growing=True)


# --- python3 -m memtrace run ---------------------------------------------------

def test_run_records_steps_and_dumps_on_the_samples_clock(tmp_path):
    p, snap = run(tmp_path, """
        import os, signal, time, memtrace
        memtrace.install_signal_handler("dumps")
        with memtrace.pipeline("frames.snap", trace=False) as p:
            time.sleep(0.2)
            p.step("load")
            time.sleep(0.3)
            os.kill(os.getpid(), signal.SIGUSR2)
            p.step("transform")
            time.sleep(0.3)
        print("done")
    """, "--interval", "20")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "done\n"
    ev = events(snap)
    assert [e["kind"] for e in ev] == ["start", "step", "dump", "step", "exit"]
    assert [e["name"] for e in ev if e["kind"] == "step"] == ["load", "transform"]
    (dump,) = glob.glob(str(tmp_path / "dumps" / "heap-*-0001.snap"))
    assert ev[2]["detail"] == dump and ev[2]["value"] > 0
    assert ev[-1]["value"] == 0 and ev[0]["name"].endswith("app.py")
    rss = series(snap, "rss")
    t_load, t_transform = ev[1]["time_ns"], ev[3]["time_ns"]
    assert all(step == "" for t, _, step in rss if t < t_load)
    assert all(step == "load" for t, _, step in rss if t_load < t < t_transform)
    assert all(step == "transform" for t, _, step in rss if t > t_transform)
    assert len([1 for t, _, _ in rss if t_load < t < t_transform]) >= 5
    assert snap.meta()["tool"] == "python3 -m memtrace run"
    # The pipeline's own file is unchanged in kind: its steps as before.
    assert [r["step"] for r in spec_reader.Snapshot(str(tmp_path / "frames.snap")).of("samples")
            if r["series"] == "rss"] == ["load", "transform"]


def test_heap_on_peak_dumps_the_objects_of_the_spike(tmp_path):
    p, snap = run(tmp_path, """
        import itertools, time
        class Spike:
            pass
        time.sleep(0.3)
        # Built in one C call: no bytecode runs, so the dump the peak asks
        # for comes after the list is whole.
        spike = list(itertools.starmap(Spike, itertools.repeat((), 200000)))
        time.sleep(0.3)
        del spike
        time.sleep(0.2)
    """, "--interval", "20", "--heap-on-peak", "dumps", "--peak-margin", "10", "--peak-every", "0.1")
    assert p.returncode == 0, p.stderr
    peaks = events(snap, "peak")
    assert peaks, events(snap)
    files = sorted(glob.glob(str(tmp_path / "dumps" / "heap-*-peak-*.snap")))
    assert [e["detail"] for e in peaks] == files  # absolute paths
    counts = []
    for f in files:  # the first dump after the list was built has it all
        assert os.path.basename(f).split("-")[1] == str(snap.meta()["pid"])
        d = spec_reader.Snapshot(f, kinds={"types", "objects"})
        (spike_type,) = [t["id"] for t in d.of("types") if t["name"] == "__main__.Spike"] or [None]
        counts.append(sum(1 for o in d.of("objects") if o["type"] == spike_type))
        if counts[-1] >= 200000:
            break
    assert max(counts) >= 200000, counts
    # The peak events carry the rss that triggered them, which grew.
    values = [e["value"] for e in peaks]
    assert values == sorted(values) and all(v > 0 for v in values)


def test_a_higher_peak_soon_after_a_dump_is_dumped_too(tmp_path):
    """A load step's peak, then within a second one three times higher (a
    join): with the default 30 s between dumps the second is still
    dumped, since it is half as high again as the first, and at its top."""
    p, snap = run(tmp_path, """
        import time
        time.sleep(0.3)
        load = b"x" * (40 << 20)
        time.sleep(0.4)
        join = b"y" * (120 << 20)
        time.sleep(0.4)
    """, "--heap-on-peak", "dumps")
    assert p.returncode == 0, p.stderr
    peaks = events(snap, "peak")
    assert len(peaks) == 2, peaks
    top = max(v for _, v, _ in series(snap, "rss"))
    assert peaks[1]["value"] >= 0.95 * top and peaks[1]["value"] >= 1.5 * peaks[0]["value"], (peaks, top)


def test_exit_alert_ends_the_script_with_124(tmp_path):
    p, snap = run(tmp_path, """
        import time
        for _ in range(400):
            time.sleep(0.025)
        print("not stopped")
    """, "--alert", "rss>1MiB:exit")
    assert p.returncode == 124, p.stderr
    assert "not stopped" not in p.stdout
    # The program ends with 124 and the reason on stderr, as
    # memtrace-sample(1) says it ("As log, then stop"): not silently.
    line = [l for l in p.stderr.splitlines() if l.startswith("memtrace: alert rss>1MiB:exit: ")]
    assert len(line) == 1 and "stopping" in line[0], p.stderr
    assert float(line[0].split(": ")[2].split(";")[0]) > MiB, p.stderr
    (alert,) = events(snap, "alert")
    assert alert["name"] == "rss>1MiB" or alert["name"] == "rss>1MiB:exit"
    assert alert["detail"] == "exit" and alert["value"] > MiB
    assert [e["value"] for e in events(snap, "exit")] == [124]


def test_exit_alert_ends_a_script_that_ignores_systemexit_after_5_s(tmp_path):
    p, snap = run(tmp_path, """
        import time
        try:
            x = bytearray(100 << 20)
            for i in range(0, len(x), 4096):
                x[i] = 1
            while True:
                time.sleep(0.02)
        except SystemExit as e:
            print("ignored", e.code, flush=True)
        time.sleep(60)
        print("not ended")
    """, "--alert", "rss>60MiB:exit", "--interval", "20")
    assert p.returncode == 124
    assert p.stdout == "ignored 124\n"
    assert "did not exit within 5 s" in p.stderr
    (alert,) = events(snap, "alert")
    (exit_,) = events(snap, "exit")
    assert exit_["value"] == 124 and exit_["time_ns"] - alert["time_ns"] >= 5e9


def test_dump_alert_dumps_beside_the_run_file(tmp_path):
    p, snap = run(tmp_path, """
        import time
        class Marker:
            pass
        keep = [Marker() for _ in range(1234)]
        x = bytearray(80 << 20)
        for i in range(0, len(x), 4096):
            x[i] = 1
        time.sleep(0.3)
    """, "--alert", "rss>60MiB:dump", "--interval", "20")
    assert p.returncode == 0, p.stderr
    (alert,) = events(snap, "alert")
    assert alert["detail"] == "dump" and alert["value"] > 60 * MiB
    (dump,) = events(snap, "dump")
    assert dump["time_ns"] >= alert["time_ns"] and dump["value"] > 60 * MiB
    assert dump["detail"] == glob.glob(str(tmp_path / "heap-*-alert-0001.snap"))[0]
    d = spec_reader.Snapshot(dump["detail"], kinds={"meta", "types", "objects"})
    (marker,) = [t["id"] for t in d.of("types") if t["name"] == "__main__.Marker"]
    assert sum(1 for o in d.of("objects") if o["type"] == marker) == 1234


def test_log_and_exec_alerts(tmp_path):
    out = tmp_path / "exec.txt"
    p, snap = run(tmp_path, """
        import time
        time.sleep(0.5)
    """, "--alert", "rss>1MiB", "--alert",
        "rss>2MiB:exec=echo \"$MEMTRACE_PID|$MEMTRACE_FILE|$MEMTRACE_ALERT\" > %s" % out)
    assert p.returncode == 0, p.stderr
    assert "alert rss>1MiB" in p.stderr
    pid = snap.meta()["pid"]
    wait_for(lambda: out.exists() and out.read_text().endswith("\n"), "the exec alert's command")
    got_pid, got_file, expr = out.read_text().rstrip("\n").split("|", 2)
    assert got_pid == str(pid) and got_file == str(tmp_path / "run.snap")
    assert expr.startswith("rss>2MiB")
    assert sorted(e["detail"].split("=")[0] for e in events(snap, "alert")) == ["exec", "log"]


def test_exit_status_of_the_script(tmp_path):
    p, snap = run(tmp_path, """
        import sys
        sys.exit(3)
    """)
    assert p.returncode == 3
    assert [e["value"] for e in events(snap, "exit")] == [3]
    p, snap = run(tmp_path, """
        def f():
            raise KeyError("boom")
        f()
    """)
    assert p.returncode == 1
    assert "Traceback (most recent call last)" in p.stderr and "KeyError: 'boom'" in p.stderr
    assert "__main__.py" not in p.stderr  # the runner's frames are not the script's
    assert [e["value"] for e in events(snap, "exit")] == [1]


def test_run_file_is_followed_while_the_script_runs(tmp_path):
    go = tmp_path / "go"
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time
        deadline = time.time() + 30
        while not os.path.exists(sys.argv[1]) and time.time() < deadline:
            time.sleep(0.02)
    """))
    proc = subprocess.Popen([sys.executable, "-m", "memtrace", "run", "--interval", "20", "--", str(script), str(go)],
                            env=env(), cwd=str(tmp_path), stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: glob.glob(str(tmp_path / "run-*.snap")), "the run file")
        (path,) = glob.glob(str(tmp_path / "run-*.snap"))
        assert os.path.basename(path) == "run-%d-%s.snap" % (proc.pid, os.path.basename(path).split("-")[2][:8])

        def followed():
            if os.path.getsize(path) < 16:
                return False  # taken, its header not yet written
            s = spec_reader.Snapshot(path, growing=True)
            return s.growing and len(series(s, "rss")) >= 3 and proc.poll() is None
        wait_for(followed, "three samples in the unfinished file")
        with pytest.raises(spec_reader.SpecError, match="not closed"):
            spec_reader.Snapshot(path)  # strict: not a whole file yet
    finally:
        go.touch()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    whole = spec_reader.Snapshot(path)
    assert [e["kind"] for e in events(whole)] == ["start", "exit"]


def test_default_run_file_never_replaces_one(tmp_path):
    script = tmp_path / "app.py"
    script.write_text("")
    names = set()
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "memtrace", "run", "--", str(script)], env=env(), cwd=str(tmp_path),
                       check=True, timeout=60)
        names |= set(os.listdir(tmp_path))
    runs = [n for n in names if n.startswith("run-")]
    assert len(runs) == 2
    for n in runs:
        spec_reader.Snapshot(str(tmp_path / n))


def test_unwritable_run_file_exits_3(tmp_path):
    script = tmp_path / "app.py"
    script.write_text("print('ran')\n")
    out = tmp_path / "no" / "such" / "dir" / "run.snap"
    p = subprocess.run([sys.executable, "-m", "memtrace", "run", "-o", str(out), "--", str(script)],
                       capture_output=True, text=True, env=env(), timeout=60)
    assert p.returncode == 3 and p.stdout == ""
    assert str(out) in p.stderr


def test_bad_alert_option_is_a_usage_error_with_the_column(tmp_path):
    script = tmp_path / "app.py"
    script.write_text("")
    p = subprocess.run([sys.executable, "-m", "memtrace", "run", "--alert", "rss>2GiB:explode", "--", str(script)],
                       capture_output=True, text=True, env=env(), cwd=str(tmp_path), timeout=60)
    assert p.returncode == 2
    assert "argument --alert" in p.stderr and "column 10" in p.stderr
    lines = p.stderr.splitlines()
    caret = lines[-1]
    assert caret.strip() == "^" and lines[-2].index("rss") + 9 == caret.index("^")
    assert not glob.glob(str(tmp_path / "run-*.snap"))
