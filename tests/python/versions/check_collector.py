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
    return {
        "path": path, "summary": {k: v for k, v in summary.items() if k != "path"},
        "frame": sys._getframe().f_code.co_name, "local": id(local_marker),
        "young": [id(o) for o in young], "gens": gens,
        "sizes": {str(id(o)): sys.getsizeof(o) for o in young},
    }


def main():
    out = sys.argv[1]
    print("  %s (%s)" % (sys.version.split()[0], sys.executable), flush=True)
    check_gc_counts()
    heap, sizes = check_class_heavy(out)
    del heap
    oracle = dump_with_oracle(out)
    oracle["class_heavy"] = sizes
    oracle["version"] = sys.version.split()[0]
    with open(os.path.join(out, "oracle.json"), "w") as f:
        json.dump(oracle, f)


if __name__ == "__main__":
    main()
