"""The collector's checks that any CPython from 3.8 to 3.13 can run: no
pytest, no numpy, plain asserts. Run by run_all.py under each interpreter
found (with PYTHONPATH at the extension built for it); the snapshots it
writes, and the oracle it takes from the running interpreter, go to the
directory given, for run_all.py to read back with the independent reader
(tests/python/spec_reader.py, which needs Debian's msgpack and zstandard).

Checks here, each against CPython's own answer:
  - dump_heap writes a snapshot and says how many objects it holds;
  - gc_type_counts equals the count of gc.get_objects() by type;
  - on a class-heavy heap (100,000 instances, 8 attributes each) the
    bytes the dump adds equal what tracemalloc saw allocated, within 10%;
  - the same with half the instances' __dict__ made;
  - tracing: every allocation recorded while 2,000 bytearrays are made
    (at least those 2,000), the stack of the calling frame;
  - sampling: a run file with samples, written while the process runs;
  - the oracle of the heap dumped: ids of objects by generation, a local
    of the running frame, for run_all.py.
Prints one line per check; exits non-zero on the first failure."""

import collections
import gc
import json
import os
import sys
import tracemalloc

import memtrace
from memtrace import _memtrace


class Wide:
    """Eight attributes: 3.11 on keeps them outside any dict, in values
    that sys.getsizeof does not count (issue 28, point 3)."""

    def __init__(self, i):
        self.a = i * 8 + 1000
        self.b = i * 8 + 1001
        self.c = i * 8 + 1002
        self.d = i * 8 + 1003
        self.e = i * 8 + 1004
        self.f = i * 8 + 1005
        self.g = i * 8 + 1006
        self.h = i * 8 + 1007


def say(what, detail=""):
    print("  ok  %s%s" % (what, ": " + detail if detail else ""), flush=True)


def check_gc_counts():
    gc.collect()
    gc.disable()
    try:
        objs = gc.get_objects()
        got = _memtrace.gc_type_counts()
        want = collections.Counter(type(o) for o in objs)
        # The list gc.get_objects returned is tracked too, once it exists.
        diff = {t: (got.get(t, 0), want.get(t, 0)) for t in set(got) | set(want) if got.get(t, 0) != want.get(t, 0)}
        extra = sum(g - w for g, w in diff.values())
        assert extra <= 2 and all(abs(g - w) <= 1 for g, w in diff.values()), diff
    finally:
        gc.enable()
    say("gc_type_counts equals gc.get_objects() by type", "%d objects" % len(objs))


def check_class_heavy(out):
    gc.collect()
    before = memtrace.dump_heap(os.path.join(out, "before.snap"), tracebacks=False)
    tracemalloc.start()
    t0 = tracemalloc.get_traced_memory()[0]
    heap = [Wide(i) for i in range(100000)]
    traced = tracemalloc.get_traced_memory()[0] - t0
    tracemalloc.stop()
    after = memtrace.dump_heap(os.path.join(out, "after.snap"), tracebacks=False)
    dumped = after["bytes"] - before["bytes"]
    ratio = dumped / traced
    line = "tracemalloc %.2f MiB, memtrace %.2f MiB, ratio %.3f" % (traced / 2**20, dumped / 2**20, ratio)
    assert 0.9 <= ratio <= 1.1, line
    say("class-heavy heap's bytes against tracemalloc", line)
    return heap, {"traced": traced, "dumped": dumped}


class Small:
    def __init__(self):
        self.a, self.b, self.c, self.d, self.e, self.f, self.g, self.h = 1, 2, 3, 4, 5, 6, 7, 8


def check_materialized(out):
    """Half the instances with a __dict__ made: 3.11 and 3.12 hand the
    values array to the dict, 3.13 shares the values inside the object with
    it (and its traverse does not visit the dict). Small ints only: every
    byte is the instances' and dicts'."""
    warm = [Small() for _ in range(64)]  # past the first instances' larger arrays
    gc.collect()
    before = memtrace.dump_heap(os.path.join(out, "before2.snap"), tracebacks=False)
    tracemalloc.start()
    t0 = tracemalloc.get_traced_memory()[0]
    heap = [Small() for _ in range(100000)]
    for o in heap[::2]:
        o.__dict__
    traced = tracemalloc.get_traced_memory()[0] - t0
    tracemalloc.stop()
    after = memtrace.dump_heap(os.path.join(out, "after2.snap"), tracebacks=False)
    dumped = after["bytes"] - before["bytes"]
    line = "tracemalloc %.3f MiB, memtrace %.3f MiB, ratio %.3f" % (traced / 2**20, dumped / 2**20, dumped / traced)
    assert 0.9 <= dumped / traced <= 1.1, line
    say("half the instances with __dict__ made, against tracemalloc", line)
    del warm
    return {"traced": traced, "dumped": dumped}


def check_tracing(out):
    path = os.path.join(out, "t.trace")
    domains = _memtrace.trace_start(path, all=True)
    made = [bytearray(100) for _ in range(2000)]
    counts = _memtrace.trace_stop()
    assert counts["allocs"] >= len(made) and counts["stacks"] >= 1 and os.path.getsize(path) > 0, counts
    say("tracing", "domains %s, %d allocations, %d stacks" % (domains, counts["allocs"], counts["stacks"]))


def check_sampling(out):
    import time
    path = os.path.join(out, "run.snap")
    with memtrace.sampling(path, interval=0.01):
        keep = [bytearray(1000) for _ in range(1000)]
        time.sleep(0.2)
    del keep
    assert os.path.getsize(path) > 0
    say("sampling", "%d bytes of run file" % os.path.getsize(path))


def dump_with_oracle(out):
    local_marker = ["only", "in", "this", "frame"]  # the running frame's local
    young = [Wide(-1) for _ in range(3)]
    path = os.path.join(out, "heap.snap")
    gc.collect()
    gc.disable()
    try:
        summary = memtrace.dump_heap(path)
        gens = {g: [id(o) for o in gc.get_objects(generation=g)] for g in range(3)}
        tracked = len(gc.get_objects())
    finally:
        gc.enable()
    assert os.path.getsize(path) > 0 and summary["objects"] >= tracked, (summary, tracked)
    say("dump_heap", "%d objects, %d refs, %d bytes" % (summary["objects"], summary["refs"], summary["bytes"]))
    co = dump_with_oracle.__code__  # no collector object: its references by its members and layout
    code = {"id": id(co), "varnames": [id(n) for n in co.co_varnames + co.co_cellvars + co.co_freevars],
            "refs": {k: id(getattr(co, k)) for k in ("co_consts", "co_names", "co_filename", "co_name")}}
    if sys.version_info < (3, 11):
        code["refs"]["co_varnames"] = id(co.co_varnames)
    return {
        "code": code,
        "path": path, "summary": {k: v for k, v in summary.items() if k != "path"},
        "frame": sys._getframe().f_code.co_name, "local": id(local_marker),
        "young": [id(o) for o in young], "gens": gens,
        "sizes": {str(id(o)): sys.getsizeof(o) for o in young},
    }


def _fail_deep():
    raise ValueError("kept with its traceback")  # KEPT_LINE


def check_traced_dump(out):
    """A dump under tracemalloc (with tracebacks, the path that quiets
    tracemalloc's recording of the dump's own objects) gives tracing back as
    it was: the frame limit, and full stacks for what the program makes
    next. The exception kept here lets run_all.py check the traceback's
    line in the dump's tb_frame label."""
    try:
        _fail_deep()
    except ValueError as e:
        kept = e
    tracemalloc.start(5)
    try:
        path = os.path.join(out, "traced.snap")
        memtrace.dump_heap(path)
        assert tracemalloc.get_traceback_limit() == 5, tracemalloc.get_traceback_limit()
        after = bytearray(1000)  # a block of its own, traced with its stack
        tb = tracemalloc.get_object_traceback(after)
        assert tb is not None and len(tb) >= 2 and tb[0].lineno > 0, tb
    finally:
        tracemalloc.stop()
    with open(__file__) as f:
        line = next(n for n, text in enumerate(f, 1) if text.rstrip().endswith("# KEPT_LINE"))
    say("dump under tracemalloc", "limit and stacks restored (%d frames after)" % len(tb))
    return {"path": path, "line": line, "kept": id(kept.__traceback__)}, kept


def check_stacks_dump(out):
    """A dump with memtrace's allocation stacks (memtrace.start_stacks, what
    `python3 -m memtrace heap --trace N` runs): run_all.py reads back the
    stack of each object made here, which must name this line."""
    memtrace.start_stacks(5)
    try:
        made = [Wide(i) for i in range(200)] + [bytearray(50) for _ in range(200)]  # STACKS_LINE
        path = os.path.join(out, "stacks.snap")
        memtrace.dump_heap(path)
        assert memtrace.stacks_running() == 5
    finally:
        memtrace.stop_stacks()
    with open(__file__) as f:
        line = next(n for n, text in enumerate(f, 1) if text.rstrip().endswith("# STACKS_LINE"))
    say("dump with memtrace's stacks", "%d objects made at line %d" % (len(made), line))
    return {"path": path, "line": line, "ids": [id(o) for o in made]}, made


def main():
    out = sys.argv[1]
    print("  %s (%s)" % (sys.version.split()[0], sys.executable), flush=True)
    check_gc_counts()
    heap, sizes = check_class_heavy(out)
    del heap
    materialized = check_materialized(out)
    check_tracing(out)
    check_sampling(out)
    traced, kept = check_traced_dump(out)
    stacks, made = check_stacks_dump(out)
    oracle = dump_with_oracle(out)
    oracle["traced"] = traced
    oracle["stacks"] = stacks
    oracle["class_heavy"] = sizes
    oracle["materialized"] = materialized
    oracle["version"] = sys.version.split()[0]
    with open(os.path.join(out, "oracle.json"), "w") as f:
        json.dump(oracle, f)


if __name__ == "__main__":
    main()
