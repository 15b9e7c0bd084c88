"""bench/sampler's workloads, one per process: a CPU-bound pure-Python
loop and a pandas pipeline, timed inside the process with the sampler off
or on (memtrace.sampling at the given interval).

Usage: workload.py cpu|pandas off|MS OUT.snap
Prints one line: "wall SECONDS cpu SECONDS" of the workload alone (not
the interpreter's start nor the sampler's start and stop)."""

import os
import sys
import time


def cpu():
    # Dict, str and int work, as an application's hot loop does.
    d = {}
    acc = 0
    for i in range(3_000_000):
        k = "k%d" % (i % 5000)
        d[k] = d.get(k, 0) + i
        acc ^= hash(k)
    return acc


def make_frames():
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(1)
    n = 1_000_000
    left = pd.DataFrame({"key": rng.integers(0, 50_000, n), "v": rng.random(n),
                         "cat": rng.choice(["a", "b", "c", "d"], n)})
    right = pd.DataFrame({"key": np.arange(50_000), "w": rng.random(50_000)})
    return left, right


def pandas_work(frames):
    left, right = frames
    total = 0.0
    for _ in range(3):
        m = left.merge(right, on="key")
        g = m.groupby(["cat", "key"])["v"].sum()
        p = m.pivot_table(index="cat", values="w", aggfunc="mean")
        total += float(g.sum()) + float(p.values.sum())
    return total


def main():
    kind, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
    work = cpu
    if kind == "pandas":
        frames = make_frames()
        work = lambda: pandas_work(frames)  # noqa: E731
    sampler = None
    if mode != "off":
        import memtrace
        sampler = memtrace.sampling(out, interval=int(mode) / 1000.0)
        sampler.__enter__()
    t0, c0 = time.perf_counter(), time.process_time()
    work()
    wall, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    if sampler is not None:
        sampler.__exit__(None, None, None)
        os.unlink(out)
    print("wall %.6f cpu %.6f" % (wall, cpu_s))


if __name__ == "__main__":
    main()
