"""A pandas-heavy heap for test_heap_pandas.py, run under
python -X tracemalloc so that tracemalloc traces the whole process:
DataFrames of float, int and str columns (distinct strs, and strs repeated
from a word list), Series, a frame whose _item_cache column access filled,
NumPy arrays that own their data and views of them. Dumps it (OUT/a.snap),
then adds a frame and dumps again (OUT/b.snap). Prints, as JSON, the
oracles: tracemalloc's traced bytes and the resident size at each dump, the
traced growth the new frame made, and what clearing the _item_cache
frees."""

import gc
import json
import os
import sys
import tracemalloc

import numpy as np
import pandas as pd

import memtrace

WORDS = ["word%d" % i for i in range(3000)]


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def frame(k, n, rng):
    return pd.DataFrame({"f": rng.random(n), "i": rng.integers(0, 10**6, n),
                         "s": ["row %d of %d" % (i, k) for i in range(n)],
                         "w": [WORDS[i % len(WORDS)] for i in range(n)]})


def main(out, rows):
    assert tracemalloc.is_tracing(), "run me with python -X tracemalloc"
    rng = np.random.default_rng(7)
    keep = [frame(k, rows, rng) for k in range(4)]
    cached = keep[0]
    for c in cached.columns:
        cached[c]  # fills _item_cache with a Series per column
    keep.append(pd.Series(rng.random(rows)))
    keep.append(pd.Series(["x%d" % i for i in range(rows // 3)]))
    base = np.arange(rows * 10, dtype=np.float64)  # owns its buffer
    keep.append(base)
    keep.append([base[i::5] for i in range(5)])  # views of it
    keep.append(np.array([["o%d" % i for i in range(3000)], ["p%d" % i for i in range(3000)]], dtype=object).T)
    gc.collect()
    res = {"cache_id": id(cached._item_cache), "cache_len": len(cached._item_cache),
           "traced_a": tracemalloc.get_traced_memory()[0], "rss_a": rss()}
    memtrace.dump_heap(os.path.join(out, "a.snap"), tracebacks=False)
    # What the _item_cache retains: what clearing it frees.
    gc.collect()
    t0 = tracemalloc.get_traced_memory()[0]
    cached._item_cache.clear()
    gc.collect()
    res["cache_freed"] = t0 - tracemalloc.get_traced_memory()[0]
    # One more frame: what it adds, the cache's Series gone.
    keep.append(frame(9, rows, rng))
    gc.collect()
    res["traced_b"] = tracemalloc.get_traced_memory()[0]
    res["growth"] = res["traced_b"] - res["traced_a"]
    res["rss_b"] = rss()
    memtrace.dump_heap(os.path.join(out, "b.snap"), tracebacks=False)
    print(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
