"""Heap dumps with allocation stacks from memtrace's own tracer
(memtrace.start_stacks, `python3 -m memtrace heap --trace N`). Oracles:
the line numbers of the test programs' own source (found by searching it
for a marker, not written down), tracemalloc's traceback of the very same
objects in the same process, objects made before tracing (no stack), and
the tracer's state after a dump."""

import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc

import pytest

import memtrace
import spec_reader
from conftest import BUILD


def env(**more):
    e = dict(os.environ)
    e.pop("PYTHONTRACEMALLOC", None)
    e["PYTHONPATH"] = os.path.join(BUILD, "python")
    e.update(more)
    return e


def line_of(path, marker):
    """The line of path that ends in the comment "# marker" (once)."""
    with open(path) as f:
        hits = [n for n, text in enumerate(f, 1) if text.rstrip().endswith("# " + marker)]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


def chains(path):
    """{object id: [(file, line, function), ...] innermost first} of a dump,
    for every object with a stack, and the set of ids without one."""
    s = spec_reader.Snapshot(str(path))
    frames = {f["id"]: f for f in s.of("frames")}
    stacks = {st["id"]: st for st in s.of("stacks")}
    out, none = {}, set()
    for o in s.of("objects"):
        sid = o.get("stack", 0)
        if not sid:
            none.add(o["id"])
            continue
        chain = []
        while sid:
            f = frames[stacks[sid]["frame"]]
            chain.append((f["file"], f["line"], f["function"]))
            sid = stacks[sid]["parent"]
        out[o["id"]] = chain
    return out, none


class Item:
    def __init__(self, i):
        self.i = i


def make_items(n):
    return [Item(i) for i in range(n)]  # ITEMS-HERE


def make_blobs(n):
    return [bytearray(64 + i % 7) for i in range(n)]  # BLOBS-HERE


def make_lists(n):
    return [[i, i + 1] for i in range(n)]  # LISTS-HERE


@pytest.fixture
def stacks():
    gc.collect()
    memtrace.start_stacks(10)
    try:
        yield
    finally:
        if memtrace.stacks_running():
            memtrace.stop_stacks()


def test_objects_carry_the_stack_of_their_line_and_older_ones_none(stacks, tmp_path):
    memtrace.stop_stacks()
    before = make_items(500)  # allocated untraced
    memtrace.start_stacks(10)
    items, blobs, lists = make_items(2000), make_blobs(2000), make_lists(2000)
    memtrace.dump_heap(str(tmp_path / "a.snap"))
    memtrace.stop_stacks()  # the snapshot is read untraced, which is faster
    got, none = chains(tmp_path / "a.snap")
    me = os.path.abspath(__file__)
    here = sys._getframe().f_lineno
    for objs, marker, fn in ((items, "ITEMS-HERE", "make_items"), (blobs, "BLOBS-HERE", "make_blobs")):
        line = line_of(me, marker)
        for o in objs:
            chain = got[id(o)]
            # The innermost frame is the comprehension (a function of its own
            # before 3.12) or fn itself, on the marked line; fn's frame is next
            # or the same, then this test at the line that called fn.
            assert (chain[0][0], chain[0][1]) == (me, line), chain[:2]
            assert any(f == (me, line, fn) or (f[0], f[1], f[2].split(".")[0]) == (me, line, fn) for f in chain[:2])
            assert any(f[0] == me and f[2] == "test_objects_carry_the_stack_of_their_line_and_older_ones_none"
                       and f[1] < here for f in chain)
            assert len(chain) <= 10
    # A list object may come from the lists' free list (80 of them in
    # 3.11), allocated elsewhere: its stack is that allocation's, or none.
    line = line_of(me, "LISTS-HERE")
    right = sum(1 for o in lists if id(o) in got and (got[id(o)][0][0], got[id(o)][0][1]) == (me, line))
    assert right >= len(lists) - 100
    assert all(id(o) in none for o in before)


def test_the_tracer_goes_on_after_a_dump(stacks, tmp_path):
    first = make_items(300)
    memtrace.dump_heap(str(tmp_path / "a.snap"))
    assert memtrace.stacks_running() == 10
    later = make_items(300)  # recorded after the dump
    memtrace.dump_heap(str(tmp_path / "b.snap"))
    # A failed dump lets go of the tracer's locks too: allocation goes on.
    with pytest.raises(OSError):
        memtrace.dump_heap("/dev/full")
    after_fail = make_items(100)
    memtrace.dump_heap(str(tmp_path / "c.snap"))
    # Stopped: the next dump has no stacks at all.
    stats = memtrace.stop_stacks()
    assert stats["frames"] > 0 and stats["stacks"] > 0
    memtrace.dump_heap(str(tmp_path / "d.snap"))
    line = line_of(os.path.abspath(__file__), "ITEMS-HERE")
    got, _ = chains(tmp_path / "b.snap")
    assert all(got[id(o)][0][1] == line for o in first + later)
    got, _ = chains(tmp_path / "c.snap")
    assert all(got[id(o)][0][1] == line for o in first + later + after_fail)
    got, _ = chains(tmp_path / "d.snap")
    assert not got


def test_one_tracer_at_a_time(stacks, tmp_path):
    with pytest.raises(RuntimeError):
        memtrace.start_stacks(5)
    with pytest.raises(RuntimeError):
        memtrace.start_trace(str(tmp_path / "t.snap"))
    with pytest.raises(RuntimeError):
        memtrace.stop_trace()
    memtrace.stop_stacks()
    t = memtrace.start_trace(str(tmp_path / "t.snap"))
    try:
        with pytest.raises(RuntimeError):
            memtrace.start_stacks(5)
    finally:
        t.stop()
    with pytest.raises(ValueError):
        memtrace.start_stacks(0)


# A program under `python3 -m memtrace heap --trace 10` with tracemalloc
# running too (PYTHONTRACEMALLOC): the dump takes the stacks from memtrace's
# tracer, and the program records tracemalloc's traceback of the same
# objects for comparison.
PROGRAM = """
    import json, os, signal, sys, tracemalloc
    class Job:
        def __init__(self, i):
            self.name = "job-%d" % i  # NAME-HERE
            self.data = bytearray(100)  # DATA-HERE
    def make(n):
        return [Job(i) for i in range(n)]  # JOBS-HERE
    def deeper(k, n):
        return make(n) if k == 0 else deeper(k - 1, n)
    jobs = deeper(15, 400)
    os.kill(os.getpid(), signal.SIGUSR2)
    late = make(50)  # LATE-HERE
    tb = {}
    for j in jobs + late:
        for o in (j.name, j.data):
            t = tracemalloc.get_object_traceback(o)
            tb[id(o)] = [(f.filename, f.lineno) for f in reversed(t)] if t else None
    with open(sys.argv[1], "w") as f:
        json.dump({"jobs": [id(j) for j in jobs], "late": [id(j) for j in late], "tb": tb,
                   "attrs": {id(j): [id(j.name), id(j.data)] for j in jobs + late}}, f)
"""


def test_cli_trace_stacks_match_tracemalloc(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(PROGRAM))
    out = tmp_path / "out"
    res = tmp_path / "res.json"
    p = subprocess.run([sys.executable, "-m", "memtrace", "heap", "--trace", "10", "-o", str(out), "--", str(script),
                        str(res)], env=env(PYTHONTRACEMALLOC="10"), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    r = json.loads(res.read_text())
    signal_dump = [f for f in os.listdir(out) if f.endswith("-0001.snap")]
    exit_dump = [f for f in os.listdir(out) if f.endswith("-exit.snap")]
    assert len(signal_dump) == 1 and len(exit_dump) == 1
    name_line, data_line, jobs_line, late_line = (line_of(script, m) for m in ("NAME-HERE", "DATA-HERE", "JOBS-HERE",
                                                                             "LATE-HERE"))
    for dump, jobs in ((signal_dump[0], r["jobs"]), (exit_dump[0], r["jobs"] + r["late"])):
        got, _ = chains(out / dump)
        for j in jobs:
            chain = got[j]
            assert (chain[0][0], chain[0][1]) == (str(script), jobs_line)
            if j in r["jobs"]:
                assert len(chain) == 10  # the limit: deeper() goes 16 frames down
            else:  # made at module level
                assert chain[2][:2] == (str(script), late_line) and len(chain) < 10
            for o, line in zip(r["attrs"][str(j)], (name_line, data_line)):
                mine = [[f, n] for f, n, _ in got[o]]
                assert mine[0] == [str(script), line]
                assert mine == r["tb"][str(o)], "memtrace's stack differs from tracemalloc's traceback"


# Threads allocate (objects, and memory outside the GIL: zlib, thread
# starts) while the main thread dumps again and again.
BUSY = """
    import os, signal, sys, threading, time, zlib
    stop = threading.Event()
    kept = []
    def objects():
        while not stop.is_set():
            kept.append([str(i) * 3 for i in range(200)])  # THREAD-HERE
            if len(kept) > 50:
                del kept[:25]
    def raw():
        data = os.urandom(1 << 20)
        while not stop.is_set():
            zlib.decompress(zlib.compress(data, 1))
            t = threading.Thread(target=lambda: bytearray(5000))
            t.start()
            t.join()
    ts = [threading.Thread(target=objects) for _ in range(3)] + [threading.Thread(target=raw) for _ in range(2)]
    for t in ts:
        t.start()
    for _ in range(int(sys.argv[1])):
        os.kill(os.getpid(), signal.SIGUSR2)
        time.sleep(0.02)
    stop.set()
    for t in ts:
        t.join()
    import memtrace
    print("running", memtrace.stacks_running())
"""


def test_dumps_while_threads_allocate_do_not_deadlock(tmp_path):
    script = tmp_path / "busy.py"
    script.write_text(textwrap.dedent(BUSY))
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "memtrace", "heap", "--trace", "10", "-o", str(out), "--", str(script),
                        "8"], env=env(), capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "running 10"
    dumps = sorted(os.listdir(out))
    assert len(dumps) == 9, dumps  # 8 signals and the exit
    line = line_of(script, "THREAD-HERE")
    s = spec_reader.Snapshot(str(out / [d for d in dumps if d.endswith("-0008.snap")][0]))
    frames = {f["id"]: f for f in s.of("frames")}
    stacks = {st["id"]: st for st in s.of("stacks")}
    # The threads' strs carry their thread's stack: the objects() line.
    inner = [frames[stacks[o["stack"]]["frame"]] for o in s.of("objects") if o.get("stack")]
    assert sum(1 for f in inner if f["file"] == str(script) and f["line"] == line) >= 200


def test_sigusr2_dump_of_a_script_without_trace_has_no_stacks(tmp_path):
    script = tmp_path / "plain.py"
    script.write_text("import os, signal\nx = [object() for _ in range(100)]\nos.kill(os.getpid(), signal.SIGUSR2)\n")
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "memtrace", "heap", "-o", str(out), "--", str(script)], env=env(),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    for d in os.listdir(out):
        got, _ = chains(out / d)
        assert not got
