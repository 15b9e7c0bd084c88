"""memtrace.trace and `python3 -m memtrace trace`: allocation traces of
known programs, read back with the spec's own reader (spec_reader.py).

Each program runs in a child process of its own (a trace hooks the whole
process). Full mode is checked exactly against hand-computed sizes
(bytearray(n) allocates n + 1 bytes, numpy.empty(n, uint8) n bytes) and
against tracemalloc; sampled mode within 4 sigmas of the Poisson
variance of the very blocks the program allocated, for several seeds."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import BUILD
import spec_reader

pytest.importorskip("numpy")


def run_prog(tmp_path, source, *args, name="prog.py", check=True, timeout=120):
    prog = tmp_path / name
    prog.write_text(textwrap.dedent(source))
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    p = subprocess.run([sys.executable, str(prog)] + [str(a) for a in args], capture_output=True, text=True,
                       env=env, timeout=timeout, cwd=str(tmp_path))
    if check:
        assert p.returncode == 0, p.stderr
    return p, str(prog)


def line_of(path, marker):
    """The 1-based line of the source line that holds marker."""
    with open(path) as f:
        for i, text in enumerate(f, 1):
            if marker in text:
                return i
    raise AssertionError("no line with %r in %s" % (marker, path))


class Trace:
    """A trace file read with spec_reader: its allocs, and each stack's
    innermost frame."""

    def __init__(self, path, growing=False):
        self.snap = spec_reader.Snapshot(path, growing=growing)
        self.meta = self.snap.meta()
        self.frames = {f["id"]: f for f in self.snap.of("frames")}
        self.stacks = {s["id"]: s for s in self.snap.of("stacks")}
        self.allocs = self.snap.of("allocs")
        self.live = self.snap.of("trace_live")
        times = [a["time_ns"] for a in self.allocs]
        assert times == sorted(times), "allocs records out of time order"
        for a in self.allocs:
            assert a["stack"] == 0 or a["stack"] in self.stacks, "a record names a stack the file lacks"

    def site(self, stack):
        """(file, line) of the innermost frame of stack, or None."""
        if not stack:
            return None
        f = self.frames[self.stacks[stack]["frame"]]
        return (f["file"], f["line"])

    def at(self, prog, line):
        return [a for a in self.allocs if self.site(a["stack"]) == (prog, line)]


def weight(a):
    return a["weight"] or a["count"] or 1


# ---------------------------------------------------------------------
# Full mode, exactly


def test_full_mode_records_known_blocks_leaks_and_frees_exactly(tmp_path):
    p, prog = run_prog(tmp_path, """\
        import sys
        import numpy as np
        import memtrace

        kept, gone = [], []
        with memtrace.trace(sys.argv[1], all=True) as t:
            for i in range(40):
                kept.append(bytearray(20000 + i))  # BYTEARRAY
            for i in range(10):
                gone.append(np.empty(300000 + i, dtype=np.uint8))  # NUMPY
            del gone[:]
        print(t.domains, t.stats["allocs"], t.stats["frees"])
        """, tmp_path / "t.snap")
    tr = Trace(str(tmp_path / "t.snap"))
    assert tr.meta["trace_mode"] == "all"
    assert tr.meta["trace_domains"] == "0,3,4"
    assert int(tr.meta["trace_checkpoint_ns"]) == 10 ** 10
    assert "thread.1" in tr.meta and int(tr.meta["pid"]) > 0
    ba = tr.at(prog, line_of(prog, "# BYTEARRAY"))
    # bytearray(n) allocates its n bytes and a terminating NUL.
    assert sorted(a["size"] for a in ba if a["op"] == 0 and a["size"] >= 20000) == [20001 + i for i in range(40)]
    assert not [a for a in ba if a["op"] == 1 and a["size"] >= 20000]  # kept: a leak
    assert {a["domain"] for a in ba if a["size"] >= 20000} == {0}
    npy = [a for a in tr.at(prog, line_of(prog, "# NUMPY")) if a["domain"] == 4]
    assert sorted(a["size"] for a in npy if a["op"] == 0) == [300000 + i for i in range(10)]
    frees = [a for a in tr.allocs if a["op"] == 1 and a["domain"] == 4 and a["size"] >= 300000]
    assert sorted(a["size"] for a in frees) == [300000 + i for i in range(10)]
    born = {a["address"]: a["time_ns"] for a in npy if a["op"] == 0}
    for f in frees:  # a free carries its block: stack, weight and birth
        assert f["born_ns"] == born[f["address"]] and tr.site(f["stack"]) == (prog, line_of(prog, "# NUMPY"))
    # The last checkpoint covers every record and agrees with a replay.
    last = max(r["upto"] for r in tr.live)
    assert last == len(tr.allocs)
    replay = {}
    for a in tr.allocs:
        replay[a["stack"]] = replay.get(a["stack"], 0) + (1 if a["op"] == 0 else -1) * a["size"] * weight(a)
    ck = {r["stack"]: r["bytes"] for r in tr.live if r["upto"] == last}
    assert ck == {s: b for s, b in replay.items() if b}
    leak = sum(r["bytes"] for r in tr.live if r["upto"] == last and tr.site(r["stack"]) == (prog, line_of(prog, "# BYTEARRAY")))
    assert leak >= sum(20001 + i for i in range(40))
    assert tr.snap.of("samples") and all(s["series"] == "rss" for s in tr.snap.of("samples"))


def test_full_mode_peak_and_temporary_burst_at_a_known_time(tmp_path):
    run_prog(tmp_path, """\
        import json, sys
        import memtrace

        with memtrace.trace(sys.argv[1], all=True) as t:
            junk = [bytearray(1000) for _ in range(100)]
            t0 = t.now()
            burst = [bytearray(1 << 20) for _ in range(30)]  # BURST
            t1 = t.now()
            del burst
            t2 = t.now()
        json.dump([t0, t1, t2], open(sys.argv[2], "w"))
        """, tmp_path / "t.snap", tmp_path / "times.json")
    prog = str(tmp_path / "prog.py")
    t0, t1, t2 = json.load(open(tmp_path / "times.json"))
    tr = Trace(str(tmp_path / "t.snap"))
    line = line_of(prog, "# BURST")
    live, peak, peak_at = 0, 0, None
    for a in tr.allocs:
        if tr.site(a["stack"]) != (prog, line) or a["size"] != (1 << 20) + 1:
            continue
        live += a["size"] if a["op"] == 0 else -a["size"]
        if live > peak:
            peak, peak_at = live, a["time_ns"]
    assert peak == 30 * ((1 << 20) + 1)
    assert t0 <= peak_at <= t1
    assert live == 0
    freed = [a for a in tr.at(prog, line) if a["op"] == 1 and a["size"] == (1 << 20) + 1]
    assert len(freed) == 30
    for f in freed:  # temporary: born in the burst, freed right after it
        assert t0 <= f["born_ns"] <= t1 <= f["time_ns"] <= t2


def test_full_mode_agrees_with_tracemalloc_per_line(tmp_path):
    """tracemalloc, started under the trace (its hook calls ours), is the
    oracle for the Python-domain bytes live per line."""
    run_prog(tmp_path, """\
        import json, sys, tracemalloc
        import memtrace

        with memtrace.trace(sys.argv[1], all=True, numpy=False):
            tracemalloc.start(1)
            a = [list(range(i % 50)) for i in range(2000)]  # L1
            b = {str(i): i * 1.5 for i in range(5000)}  # L2
            c = [bytearray(i * 37) for i in range(300)]  # L3
            d = ["x" * (i % 300) + str(i) for i in range(3000)]  # L4
            snap = tracemalloc.take_snapshot()
            tracemalloc.stop()
            me = __file__
            per_line = {}
            for st in snap.statistics("lineno"):
                fr = st.traceback[0]
                if fr.filename == me:
                    per_line[fr.lineno] = st.size
        json.dump(per_line, open(sys.argv[2], "w"))
        """, tmp_path / "t.snap", tmp_path / "oracle.json")
    prog = str(tmp_path / "prog.py")
    oracle = {int(k): v for k, v in json.load(open(tmp_path / "oracle.json")).items()}
    tr = Trace(str(tmp_path / "t.snap"))
    # Domain 0 only: tracemalloc keeps its own tables in memory from the
    # raw allocator it found at its start (the trace's raw hook), so the
    # trace sees tracemalloc's own entries, made at these lines, in raw.
    ours = {}
    for a in tr.allocs:
        s = tr.site(a["stack"])
        if s and s[0] == prog and a["domain"] == 0:
            ours[s[1]] = ours.get(s[1], 0) + (1 if a["op"] == 0 else -1) * a["size"]
    for marker in ("# L1", "# L2", "# L3", "# L4"):
        line = line_of(prog, marker)
        assert oracle[line] > 10000
        assert ours.get(line) == oracle[line], (marker, ours.get(line), oracle[line])


# ---------------------------------------------------------------------
# Sampled mode, within the Poisson bounds


def test_sampled_estimates_within_poisson_bounds_for_several_seeds(tmp_path):
    """Each seed is a trace of its own in one process: the tracer stopped
    and started again. The blocks are known, so the variance of the
    estimate is that of the population: sum n^2 (1 - p) / p."""
    S = 65536
    seeds = [1, 2, 3, 4, 5]
    run_prog(tmp_path, """\
        import sys
        import numpy as np
        import memtrace

        S, out = int(sys.argv[1]), sys.argv[2]
        for seed in sys.argv[3:]:
            with memtrace.trace("%s/s%s.snap" % (out, seed), sample_bytes=S, seed=int(seed)):
                kept = [bytearray(1000 + 37 * i) for i in range(3000)]  # SAMPLED
                arrays = [np.empty(5000 + 11 * i, dtype=np.uint8) for i in range(1000)]  # ARRAYS
                del arrays
            del kept
        """, S, tmp_path, *seeds)
    prog = str(tmp_path / "prog.py")
    kept_sizes = [1000 + 37 * i + 1 for i in range(3000)]
    array_sizes = [5000 + 11 * i for i in range(1000)]

    def sigma(sizes):
        v = 0.0
        for n in sizes:
            p = -math.expm1(-n / S)
            v += n * n * (1 - p) / p
        return math.sqrt(v)

    sampled_counts = []
    for seed in seeds:
        tr = Trace(str(tmp_path / ("s%d.snap" % seed)))
        assert tr.meta["trace_mode"] == "sampled" and int(tr.meta["sample_bytes"]) == S
        got = [a for a in tr.at(prog, line_of(prog, "# SAMPLED")) if a["op"] == 0 and a["size"] in set(kept_sizes)]
        for a in got:
            assert a["weight"] == pytest.approx(1 / -math.expm1(-a["size"] / S), rel=1e-9)
        est = sum(a["size"] * a["weight"] for a in got)
        assert abs(est - sum(kept_sizes)) <= 4 * sigma(kept_sizes), (seed, est, sum(kept_sizes))
        # Live at the end, from the last checkpoint: the kept blocks.
        last = max(r["upto"] for r in tr.live)
        live = sum(r["bytes"] for r in tr.live
                   if r["upto"] == last and tr.site(r["stack"]) == (prog, line_of(prog, "# SAMPLED")))
        assert abs(live - sum(kept_sizes)) <= 4 * sigma(kept_sizes) + 1
        arr = [a for a in tr.at(prog, line_of(prog, "# ARRAYS")) if a["domain"] == 4]
        est_a = sum(a["size"] * a["weight"] for a in arr if a["op"] == 0)
        assert abs(est_a - sum(array_sizes)) <= 4 * sigma(array_sizes), (seed, est_a)
        # Every sampled array was freed, each free carrying its block.
        assert sorted(a["size"] for a in arr if a["op"] == 1) == sorted(a["size"] for a in arr if a["op"] == 0)
        sampled_counts.append(len(got))
    # Different seeds sample different blocks.
    assert len(set(sampled_counts)) > 1 or len(seeds) == 1


# ---------------------------------------------------------------------
# Crash, fork, threads, restart, the command line


def test_sigkill_leaves_a_file_readable_up_to_its_last_flush(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(textwrap.dedent("""\
        import sys, time
        import memtrace

        memtrace.start_trace(sys.argv[1], all=True, numpy=False)
        kept = []
        for i in range(25):
            kept.append(bytearray(123456))  # MARK
        print("allocated", flush=True)
        while True:
            kept.append(bytearray(100))
            time.sleep(0.01)
        """))
    path = str(tmp_path / "t.snap")
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    child = subprocess.Popen([sys.executable, str(prog), path], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert child.stdout.readline().strip() == "allocated"
        # Poll the growing file (never a fixed sleep) until the marked
        # blocks are in it, then kill the process without warning.
        deadline = time.monotonic() + 60
        n = 0
        while time.monotonic() < deadline:
            try:
                tr = Trace(path, growing=True)
                n = sum(1 for a in tr.allocs if a["size"] == 123457 and a["op"] == 0)
            except (spec_reader.SpecError, FileNotFoundError):
                n = 0
            if n == 25:
                break
            time.sleep(0.05)
        assert n == 25
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    tr = Trace(path, growing=True)
    assert tr.snap.growing  # no index, no trailer: the process died
    assert tr.meta["trace_mode"] == "all"
    marks = [a for a in tr.allocs if a["size"] == 123457 and a["op"] == 0]
    assert len(marks) == 25
    assert {tr.site(a["stack"]) for a in marks} == {(str(prog), line_of(str(prog), "# MARK"))}


# GCC 12's AddressSanitizer allocator is not fork-safe in a threaded
# process: a region lock that another thread held at fork stays locked in
# the child, and the child's own writer thread then hangs in calloc (seen
# in CI's ASan stage, 3 runs in 8, the stack in the sanitizer's
# SizeClassAllocator64::GetFromAllocator). glibc's malloc locks itself
# across fork, so the release and coverage stages run this test.
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="libasan's allocator is not fork-safe with threads (GCC 12)")
def test_fork_child_does_not_trace_and_may_trace_its_own(tmp_path):
    run_prog(tmp_path, """\
        import os, sys
        import memtrace

        with memtrace.trace(sys.argv[1], all=True, numpy=False):
            pid = os.fork()
            if pid == 0:
                assert memtrace._tracing.active() is None
                x = bytearray(777777)  # not in the parent's file
                with memtrace.trace(sys.argv[2], all=True, numpy=False):
                    y = bytearray(333333)
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert status == 0, status
            z = bytearray(555555)
        """, tmp_path / "parent.snap", tmp_path / "child.snap")
    parent = Trace(str(tmp_path / "parent.snap"))
    sizes = {a["size"] for a in parent.allocs}
    assert 555556 in sizes and 777778 not in sizes and 333334 not in sizes
    child = Trace(str(tmp_path / "child.snap"))
    assert 333334 in {a["size"] for a in child.allocs}
    assert int(child.meta["pid"]) != int(parent.meta["pid"])


def test_threads_started_before_and_after_the_trace(tmp_path):
    run_prog(tmp_path, """\
        import sys, threading
        import memtrace

        go = threading.Event()
        out = []
        def work(size):
            go.wait()
            out.append([bytearray(size) for _ in range(5)])
        before = threading.Thread(target=work, args=(111111,))
        before.start()
        with memtrace.trace(sys.argv[1], all=True, numpy=False):
            after = threading.Thread(target=work, args=(222222,))
            after.start()
            go.set()
            before.join()
            after.join()
            mine = bytearray(333333)
        """, tmp_path / "t.snap")
    tr = Trace(str(tmp_path / "t.snap"))
    by_size = {}
    for a in tr.allocs:
        if a["op"] == 0 and a["size"] in (111112, 222223, 333334):
            by_size.setdefault(a["size"], set()).add(a["thread"])
    assert by_size[111112] and by_size[222223] and by_size[333334]
    threads = [next(iter(by_size[s])) for s in (111112, 222223, 333334)]
    assert len(set(threads)) == 3  # one small number per thread
    for t in threads:
        assert ("thread.%d" % t) in tr.meta
    assert sum(1 for a in tr.allocs if a["op"] == 0 and a["size"] == 111112) == 5


def test_start_while_running_and_stop_without_start(tmp_path):
    p, _ = run_prog(tmp_path, """\
        import sys
        import memtrace

        memtrace.start_trace(sys.argv[1], numpy=False)
        try:
            memtrace.start_trace(sys.argv[1] + ".2", numpy=False)
        except RuntimeError as e:
            print("refused:", e)
        memtrace.stop_trace()
        try:
            memtrace.stop_trace()
        except RuntimeError as e:
            print("refused:", e)
        try:
            memtrace.trace(sys.argv[1], sample_bytes=0)
        except ValueError as e:
            print("refused:", e)
        try:
            memtrace.start_trace(sys.argv[1] + "/no/such/dir.snap", numpy=False)
        except OSError as e:
            print("refused:", e)
        """, tmp_path / "t.snap")
    assert p.stdout.count("refused:") == 4, p.stdout
    assert str(tmp_path / "t.snap") + "/no/such/dir.snap: " in p.stdout  # the error names the file
    assert "a trace runs already" in p.stdout
    assert not (tmp_path / "t.snap.2").exists()
    Trace(str(tmp_path / "t.snap"))


def test_command_line_traces_a_script_with_its_steps(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""\
        import sys
        import memtrace
        with memtrace.sampling(sys.argv[1]) as s:
            s.step("load")
            data = [bytearray(4096) for _ in range(100)]  # APP
            s.step("done")
        sys.exit(int(sys.argv[2]))
        """))
    out = tmp_path / "run.snap"
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    # --no-numpy: NumPy's import, traced whole, would make a large file
    # for this reader in pure Python.
    p = subprocess.run([sys.executable, "-m", "memtrace", "trace", "--all", "--no-numpy", "-o", str(out), "--",
                        str(script), str(tmp_path / "run.snap.sampler"), "7"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 7, p.stderr
    tr = Trace(str(out))
    assert tr.meta["tool"] == "python3 -m memtrace trace"
    assert tr.meta["command"].startswith(str(script))
    assert [e["name"] for e in tr.snap.of("events") if e["kind"] == "step"] == ["load", "done"]
    app = tr.at(str(script), line_of(str(script), "# APP"))
    assert sum(1 for a in app if a["op"] == 0 and a["size"] == 4097) == 100
    # --sample-bytes and --all exclude each other; an unwritable output is status 3.
    p = subprocess.run([sys.executable, "-m", "memtrace", "trace", "--all", "--sample-bytes", "10", "--",
                        str(script)], capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "not allowed with" in p.stderr
    # Sizes take the units of the C tools; a bad one says what a size is.
    p = subprocess.run([sys.executable, "-m", "memtrace", "trace", "--sample-bytes", "64KiB", "--no-numpy", "-o",
                        str(tmp_path / "u.snap"), "--", str(script), str(tmp_path / "u.sampler"), "0"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert Trace(str(tmp_path / "u.snap")).meta["sample_bytes"] == 65536
    p = subprocess.run([sys.executable, "-m", "memtrace", "trace", "--sample-bytes", "64 KB/s", "--", str(script)],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "is not a size" in p.stderr
    p = subprocess.run([sys.executable, "-m", "memtrace", "trace", "--no-numpy", "-o",
                        str(tmp_path / "no" / "such.snap"), "--", str(script), str(tmp_path / "f2.snap"), "0"], capture_output=True, text=True, env=env)
    assert p.returncode == 3 and "such.snap" in p.stderr
