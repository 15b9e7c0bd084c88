"""Heap dumps of a small "cluster" for memtrace-fleet: real processes,
each dumped with the collector (memtrace.dump_heap, then
memtrace.dump_frames of its DataFrame).

    python3 make_fleet.py OUTDIR [ROLE:DUMPS ...]

Each ROLE:DUMPS starts one worker process (default: leak:3 leak:3
normal:1 big:1):
  normal  a baseline: 2000 records in a dict, a DataFrame of 2000 rows;
  big     the baseline and 600 buffers of 16 KiB (about three times a
          baseline heap), and a DataFrame of three times the rows;
  leak    the baseline, and 400 Leaked objects more in the module-level
          dict _LEAKS before each dump.
Worker k writes wK-ROLE-NN.snap (its heap dumps, in order) and
wK-ROLE-frames.snap. Run as __main__ in every worker, so that a leak's
path ("module __main__ -> _LEAKS") is the same on all of them.
Prints one line a worker: its name, role and pid (the fleet view names a
worker HOST:PID without labels)."""

import gc
import os
import subprocess
import sys

import memtrace


class Record:
    def __init__(self, i):
        self.key = "r%05d" % i
        self.value = i * 3


class Leaked:
    def __init__(self, i):
        self.n = i
        self.payload = b"x" * 64 + str(i).encode()


_RECORDS = {}
_LEAKS = {}
_BIG = []


def worker(out, name, role, dumps):
    for i in range(2000):
        _RECORDS[i] = Record(i)
    if role == "big":
        _BIG.extend(bytes(16384) + str(i).encode() for i in range(600))
    for d in range(dumps):
        if role == "leak":
            base = len(_LEAKS)
            for i in range(400):
                _LEAKS[base + i] = Leaked(base + i)
        gc.collect()
        memtrace.dump_heap(os.path.join(out, "%s-%02d.snap" % (name, d)), label="%s dump %d" % (name, d),
                           tracebacks=False)
    import pandas as pd  # after the heap dumps: pandas' modules would triple every dump
    rows = 6000 if role == "big" else 2000
    df = pd.DataFrame({"id": range(rows), "price": [i * 0.5 for i in range(rows)],
                       "city": ["city%d" % (i % 50) for i in range(rows)]})
    memtrace.dump_frames(os.path.join(out, "%s-frames.snap" % name), {"orders": df})


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    out = sys.argv[1]
    specs = sys.argv[2:] or ["leak:3", "leak:3", "normal:1", "big:1"]
    os.makedirs(out, exist_ok=True)
    procs = []
    for k, spec in enumerate(specs):
        role, dumps = spec.split(":")
        name = "w%d-%s" % (k, role)
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", out, name, role, dumps])
        procs.append((name, role, p))
    for name, role, p in procs:
        if p.wait():
            sys.exit("make_fleet: worker %s failed" % name)
        print(name, role, p.pid)


if __name__ == "__main__":
    main()
