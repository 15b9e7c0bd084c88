"""bench/heap_collect: dump a heap of N objects with memtrace.dump_heap,
against a pure-Python walk (gc.get_objects + gc.get_referents +
sys.getsizeof, untracked referents included, as the dump does) and
objgraph's type count, each in a fresh process over the same heap.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/heap_collect/bench.py [--repeat R] [N ...]
Prints a table: median seconds of R runs (default 5) with their range,
objects seen, file size, peak memory added."""

import gc
import json
import os
import statistics
import subprocess
import sys
import time


def build_heap(n):
    """About n objects: instances with a dict of attributes, lists, strs,
    ints and tuples, linked like an application's state."""

    class Record:
        __slots__ = ("key", "values", "tags", "nxt")

        def __init__(self, key, values, tags, nxt):
            self.key, self.values, self.tags, self.nxt = key, values, tags, nxt

    keep = []
    prev = None
    for i in range(n // 5):
        prev = Record("k%d" % i, [i, i + 1], (i % 7, "t"), prev)  # record, str, list, 2 ints, tuple
        keep.append(prev)
    return keep


def rss_now():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024


def peak():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024


def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to VmRSS (Linux 4.0+)
        f.write("5")


def python_walk():
    seen = set()
    stack = gc.get_objects()
    for o in stack:
        seen.add(id(o))
    refs = size = 0
    i = 0
    while i < len(stack):
        o = stack[i]
        i += 1
        size += sys.getsizeof(o)
        for r in gc.get_referents(o):
            refs += 1
            if id(r) not in seen:
                seen.add(id(r))
                stack.append(r)
    return len(seen), refs


def child(method, n, out):
    heap = build_heap(n)
    # Imports happen once per process, not per walk: outside the timing.
    if method == "memtrace":
        import memtrace
    elif method == "objgraph":
        import objgraph
    gc.collect()
    # A new file, as install_signal_handler's numbered dumps are: truncating
    # the last run's 10 MB in open() cost 3 ms of a 1M-object dump.
    if method == "memtrace" and os.path.exists(out):
        os.unlink(out)
    reset_peak()
    before = rss_now()
    t0 = time.perf_counter()
    if method == "memtrace":
        r = memtrace.dump_heap(out, tracebacks=False)
        seen, extra = r["objects"], os.path.getsize(out)
    elif method == "python":
        seen, refs = python_walk()
        extra = 0
    else:
        stats = objgraph.typestats()
        seen, extra = sum(stats.values()), 0
    secs = time.perf_counter() - t0
    print(json.dumps({"secs": secs, "seen": seen, "file": extra, "peak_extra": peak() - before, "heap": len(heap)}))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    args = sys.argv[1:]
    repeat = 5
    if args[:1] == ["--repeat"]:
        repeat, args = int(args[1]), args[2:]
    sizes = [int(a) for a in args] or [1000000, 10000000]
    out = os.path.join(os.environ.get("TMPDIR", "/tmp"), "bench-heap.snap")
    print("bench/heap_collect: memtrace.dump_heap against a pure-Python walk and objgraph.typestats,")
    print("each in a fresh process over the same heap, the methods taking turns, %d runs each;" % repeat)
    print("median seconds (min-max); peak = memory added during the walk (VmHWM), its median\n")
    print("%-10s %-20s %9s %17s %10s %11s %12s %9s" % (
        "objects", "method", "seconds", "(min-max)", "seen", "file", "peak added", "vs walk"))
    for n in sizes:
        runs = {}
        for _ in range(repeat):
            # Turns, not blocks: a machine that slows down for a while
            # slows every method alike.
            for method in ("memtrace", "python", "objgraph"):
                p = subprocess.run([sys.executable, __file__, "--child", method, str(n), out],
                                   capture_output=True, text=True)
                if p.returncode:
                    print("%s failed: %s" % (method, p.stderr[-500:]))
                    continue
                runs.setdefault(method, []).append(json.loads(p.stdout))
        res = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in runs.items()}
        for method, r in res.items():
            secs = [x["secs"] for x in runs[method]]
            ratio = res["python"]["secs"] / r["secs"] if "python" in res else 0
            print("%-10d %-20s %9.3f %17s %10d %8.1f MB %9.1f MB %8.1fx" % (
                n, {"memtrace": "memtrace.dump_heap", "python": "pure-Python walk", "objgraph": "objgraph.typestats"}[method],
                r["secs"], "(%.3f-%.3f)" % (min(secs), max(secs)), r["seen"], r["file"] / 1e6, r["peak_extra"] / 1e6,
                ratio))
        if "memtrace" in res:
            m = res["memtrace"]
            print("%-10s targets: 1M objects < 1 s: %s; >= 10x the Python walk: %s; peak added < 100 MB: %s\n" % (
                "", "ok" if n > 1000000 or m["secs"] < 1 else "MISSED",
                "ok" if "python" in res and res["python"]["secs"] / m["secs"] >= 10 else "MISSED",
                "ok" if m["peak_extra"] < 100e6 else "MISSED"))
    if os.path.exists(out):
        os.unlink(out)


if __name__ == "__main__":
    main()
