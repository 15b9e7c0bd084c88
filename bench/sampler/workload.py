"""bench/sampler's workloads: a CPU-bound pure-Python loop and a pandas
pipeline, timed in one process with the sampler off, at 100 ms and at
10 ms (memtrace.sampling), the three modes in shuffled order in each
round, so that every mode sees the same process (its hash seed, its
memory layout, its warm caches) and only the sampler differs.

Usage: workload.py cpu|pandas ROUNDS DIR
Prints one JSON object: each mode's list of [wall s, cpu s] per round,
the workload alone (not the sampler's start and stop). CPU time is the
process's, so the sampler's threads count."""

import json
import os
import random
import sys
import time

import memtrace


def cpu():
    # Dict, str and int work, as an application's hot loop does.
    d = {}
    acc = 0
    for i in range(2_000_000):
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
    m = left.merge(right, on="key")
    g = m.groupby(["cat", "key"])["v"].sum()
    p = m.pivot_table(index="cat", values="w", aggfunc="mean")
    return float(g.sum()) + float(p.values.sum())


def main():
    kind, rounds, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    work = cpu
    if kind == "pandas":
        frames = make_frames()
        work = lambda: pandas_work(frames)  # noqa: E731
    work()  # warm: imports, caches, the allocator's arenas
    out = {"off": [], "100": [], "10": []}
    path = os.path.join(d, "w.snap")
    for _ in range(rounds):
        modes = list(out)
        random.shuffle(modes)
        for m in modes:
            s = None
            if m != "off":
                s = memtrace.sampling(path, interval=int(m) / 1000.0)
                s.__enter__()
            t0, c0 = time.perf_counter(), time.process_time()
            work()
            wall, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            if s is not None:
                s.__exit__(None, None, None)
                os.unlink(path)
            out[m].append([wall, cpu_s])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
