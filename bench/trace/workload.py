"""bench/trace's workloads, each timed in one process under every tracing
mode in turn: off, the memtrace tracer sampled (sample_bytes, default
512 KiB) and in full (all=True), and tracemalloc at 1 and at 25 frames.
The modes run in a rotated order in each round (round r starts at mode
r), so every mode sees the same process (hash seed, memory layout, warm
caches, the allocator's arenas) and each mode runs first, last and in
between; only the tracing differs.

Usage: workload.py objects|pandas|numpy ROUNDS DIR [--scale F]
       [--modes off,sampled,full,tm1,tm25] [--sample-bytes N]
       workload.py KIND once DIR [--scale F] [--trace PATH --mode sampled|full]
           (the workload once, untimed, traced into PATH if given)
Prints one JSON object: for each mode a list of [wall s, cpu s, peak rss
bytes] per round. Wall and CPU time run from just before tracing starts
to just after it stops (so a trace's last flush and close count); CPU
time is the process's, so the tracer's own threads count. Peak RSS is
VmHWM, reset (/proc/self/clear_refs 5) before each timed run (the allocator keeps
what earlier runs freed, so bench.py takes peak RSS from fresh processes).

The workloads (sizes at --scale 1):
- objects: a pure-Python loop that makes and drops dicts, lists, tuples,
  strings and small class instances, keeps a sliding window of them
  alive, and builds then drops one larger structure (a peak);
- pandas: read_csv of a generated 400 000-row CSV, a merge with a
  dimension table, a groupby aggregation and assign of derived columns;
- numpy: arrays of mixed sizes (tiny, KiB, MiB) allocated, combined and
  dropped, with a window of medium arrays kept alive."""

import collections
import gc
import json
import os
import re
import time

MODES = ["off", "sampled", "full", "tm1", "tm25"]


class Node:
    def __init__(self, i, payload):
        self.i = i
        self.payload = payload
        self.kids = []


def objects(scale, _data):
    n = int(200_000 * scale)
    window = collections.deque(maxlen=20_000)
    total = 0
    for i in range(n):
        d = {"id": i, "name": "n%d" % i, "vals": [i, i + 1, i + 2]}
        node = Node(i, d)
        node.kids.append((i, str(i)))
        if i % 5 == 0:
            window.append(node)
        total += len(d["name"]) + len(node.kids)
    # One larger structure, built and dropped: the run's peak.
    big = [{"k": str(j), "v": [j] * 4} for j in range(int(100_000 * scale))]
    total += len(big)
    del big
    return total


def make_csv(d, scale):
    import numpy as np
    path = os.path.join(d, "orders_%g.csv" % scale)
    if not os.path.exists(path):
        rng = np.random.default_rng(7)
        n = int(400_000 * scale)
        with open(path + ".tmp", "w") as f:
            f.write("order_id,customer,product,qty,price,region\n")
            cust = rng.integers(0, 20_000, n)
            prod = rng.integers(0, 500, n)
            qty = rng.integers(1, 20, n)
            price = rng.random(n) * 100
            regions = np.array(["north", "south", "east", "west", "centre"])[rng.integers(0, 5, n)]
            for i in range(n):
                f.write("%d,c%d,p%d,%d,%.2f,%s\n" % (i, cust[i], prod[i], qty[i], price[i], regions[i]))
        os.rename(path + ".tmp", path)
    return path


def pandas_setup(d, scale):
    import pandas as pd
    products = pd.DataFrame({"product": ["p%d" % i for i in range(500)],
                             "category": ["cat%d" % (i % 17) for i in range(500)],
                             "weight": [0.1 * (i % 50) for i in range(500)]})
    return make_csv(d, scale), products


def pandas_work(scale, data):
    import pandas as pd
    path, products = data
    df = pd.read_csv(path)
    m = df.merge(products, on="product", how="left")
    m = m.assign(total=m["qty"] * m["price"], heavy=m["weight"] * m["qty"] > 5.0,
                 key=m["region"] + "/" + m["category"])
    g = m.groupby(["region", "category"]).agg(revenue=("total", "sum"), orders=("order_id", "count"),
                                              mean_qty=("qty", "mean"))
    top = m.groupby("customer")["total"].sum().nlargest(100)
    per_key = m.groupby("key")["heavy"].mean()
    return float(g["revenue"].sum()) + float(top.sum()) + float(per_key.sum())


def numpy_work(scale, _data):
    import numpy as np
    rng = np.random.default_rng(3)
    acc = 0.0
    window = collections.deque(maxlen=64)
    for i in range(int(1_500 * scale)):
        a = rng.random(16)                     # tiny
        b = np.arange(i % 97 + 1, dtype=np.float64)
        acc += float((a[: len(b)] * 2).sum()) + float(b.mean())
        m = rng.random(2_048 + (i % 7) * 512)  # 16 to 40 KiB
        m2 = np.sqrt(m) + m * m
        window.append(m2)
        if i % 50 == 0:                        # 8 to 24 MiB
            big = rng.random(1_000_000 + (i % 3) * 1_000_000)
            big2 = np.concatenate([big, big[::2]])
            acc += float(np.sort(big2[:200_000])[100])
            del big, big2
    stacked = np.concatenate(list(window))
    return acc + float(stacked.sum())


WORK = {"objects": (objects, None), "pandas": (pandas_work, pandas_setup), "numpy": (numpy_work, None)}


def hwm():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) * 1024


def reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class _Trace:
    """memtrace._memtrace.trace_start/trace_stop as a context manager,
    while the package has no memtrace.trace."""

    def __init__(self, path, **kw):
        self.path, self.kw = path, kw

    def __enter__(self):
        from memtrace import _memtrace
        _memtrace.trace_start(self.path, **self.kw)

    def __exit__(self, *exc):
        from memtrace import _memtrace
        _memtrace.trace_stop()


def tracer(path, mode, sample_bytes, seed=0):
    """The memtrace tracer as a context manager: memtrace.trace(path,
    sample_bytes=N, all=BOOL)."""
    import memtrace
    kw = {"all": True} if mode == "full" else {"sample_bytes": sample_bytes}
    if seed:
        kw["seed"] = seed
    if hasattr(memtrace, "trace"):
        return memtrace.trace(path, **kw)
    return _Trace(path, **kw)


class TraceMalloc:
    def __init__(self, frames):
        self.frames = frames

    def __enter__(self):
        import tracemalloc
        tracemalloc.start(self.frames)

    def __exit__(self, *exc):
        import tracemalloc
        tracemalloc.stop()


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=sorted(WORK))
    ap.add_argument("rounds")
    ap.add_argument("dir", nargs="?", default=".")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--sample-bytes", type=int, default=512 * 1024)
    ap.add_argument("--trace", metavar="PATH", help="once: trace the run into PATH (--mode sampled or full)")
    ap.add_argument("--mode", choices=["sampled", "full"], default="sampled")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    work, setup = WORK[a.kind]
    data = setup(a.dir, a.scale) if setup else None
    if a.rounds == "once":
        if a.trace:
            with tracer(a.trace, a.mode, a.sample_bytes, a.seed):
                work(a.scale, data)
        else:
            work(a.scale, data)
        return
    modes = a.modes.split(",")
    work(a.scale, data)  # warm: imports, caches, the allocator's arenas
    # The tracer imports NumPy at its first start (to hook its data
    # allocator): a one-time cost of a process's first trace (about 0.1 s
    # and 20 MiB), not a per-event one, so the timed runs leave it out.
    # The fresh-process peak RSS of bench.py still includes it.
    import numpy  # noqa: F401
    out = {m: [] for m in modes}
    path = os.path.join(a.dir, "w%d.snap" % os.getpid())
    for r in range(int(a.rounds)):
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for m in order:
            cm = None
            if m in ("sampled", "full"):
                cm = tracer(path, m, a.sample_bytes)
            elif m.startswith("tm"):
                cm = TraceMalloc(int(m[2:]))
            gc.collect()
            reset_hwm()
            t0, c0 = time.perf_counter(), time.process_time()
            if cm is not None:
                cm.__enter__()
            work(a.scale, data)
            if cm is not None:
                cm.__exit__(None, None, None)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            out[m].append([wall, cpu, hwm()])
            if os.path.exists(path):
                os.unlink(path)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
