"""Functions test_dask.py runs on its Dask workers, apart from the test
module so that a worker imports nothing else (no pytest, no pandas):
the worker's heap is the worker's own."""

import os

BIG = 30000       # bytes objects the big worker holds
BIG_SIZE = 1000   # bytes in each
LEAK = 1000       # dicts the leaking worker adds before each dump


def hold_big(dask_worker):
    dask_worker._memtrace_test_big = [bytes([i % 251]) * BIG_SIZE for i in range(BIG)]
    return os.getpid()


def grow(dask_worker):
    held = dask_worker.__dict__.setdefault("_memtrace_test_leak", [])
    held.extend({"n": i, "payload": "x" * 64} for i in range(LEAK))
    return len(held)


def die_when_dumping():
    """The worker's next heap dump writes part of a file and then the
    process exits at once, as a worker the OOM killer ends mid-dump."""
    import memtrace as m

    def dying(path, **kw):
        with open(path, "wb") as f:
            f.write(b"MEMTRACE partial")
        os._exit(1)

    m.dump_heap = dying
    return os.getpid()
