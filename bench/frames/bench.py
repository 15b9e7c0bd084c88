"""bench/frames: memtrace.dump_frames on a 1 GB frame and on 2000-column
frames, against pandas' memory_usage(deep=True) alone on the same frame in
the same process.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/frames/bench.py [GB]
Prints a table: seconds (median of 3), the ratio to memory_usage, the
file size, and the peak memory the dump added: tracemalloc's peak (Python
and numpy allocations, which would show any copy of a column) and the
process's peak RSS over its RSS before (the C side's tables too)."""

import gc
import os
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import pandas as pd

import memtrace

MB = 1 << 20


def frames(gb):
    rng = np.random.default_rng(1)
    n = int(gb * (1 << 30) / 8 / 8)  # 8 eight-byte columns
    yield "1 GB numeric, 8 cols", pd.DataFrame(
        {"id": np.arange(n), "a": rng.random(n), "b": rng.integers(0, 1000, n), "c": rng.random(n) * 1e6,
         "d": rng.integers(0, 50, n).astype(float), "e": rng.random(n), "f": rng.integers(-9, 9, n),
         "g": rng.normal(size=n)}), None
    yield "1 GB numeric, key b", None, ["b"]
    m = n // 4
    words = np.array(["north", "south", "east", "west", "centre-%d" % 1], dtype=object)
    yield "mixed + 2 text cols", pd.DataFrame(
        {"a": rng.random(m), "b": rng.integers(0, 1000, m), "s": words[rng.integers(0, 5, m)],
         "t": np.array(["id-%d" % (i % 100000) for i in range(m)], dtype=object),
         "k": pd.Categorical(words[rng.integers(0, 5, m)])}), None
    yield "2000 cols x 10000 float", pd.DataFrame(rng.random((10000, 2000)),
                                                  columns=["c%d" % i for i in range(2000)]), None
    mixed = {}
    for i in range(2000):
        kind = i % 4
        mixed["c%d" % i] = (rng.random(5000) if kind == 0 else rng.integers(0, 100, 5000) if kind == 1
                            else pd.Categorical(words[rng.integers(0, 5, 5000)]) if kind == 2
                            else words[rng.integers(0, 5, 5000)])
    yield "2000 cols x 5000 mixed", pd.DataFrame(mixed), None


def peak_rss_reset():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def median_time(fn, runs=3):
    ts = []
    for _ in range(runs):
        gc.collect()
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]


def main():
    gb = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    out = os.path.join(tempfile.gettempdir(), "bench-frames.snap")
    print("%-26s %9s %9s %11s %7s %9s %10s %10s" % ("frame", "deep MB", "dump s", "mem_usage s", "ratio",
                                                     "file KB", "traced MB", "rss+ MB"))
    df = None
    for name, frame, keys in frames(gb):
        if frame is not None:
            df = frame
        deep = df.memory_usage(deep=True).sum()
        base = median_time(lambda: df.memory_usage(deep=True))
        dump = median_time(lambda: memtrace.dump_frames(out, {"f": df}, keys=keys))
        gc.collect()
        tracemalloc.start()
        memtrace.dump_frames(out, {"f": df}, keys=keys)
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        gc.collect()
        rss0 = status("VmRSS:")
        peak_rss_reset()
        memtrace.dump_frames(out, {"f": df}, keys=keys)
        rss_add = max(0, status("VmHWM:") - rss0)
        print("%-26s %9.0f %9.3f %11.3f %6.1fx %9.1f %10.1f %10.1f" % (
            name, deep / MB, dump, base, dump / base, os.path.getsize(out) / 1024, traced / MB, rss_add / MB))
    os.unlink(out)


if __name__ == "__main__":
    main()
