"""Latency from a point being flushed to `memtrace-top --once` showing it.

A run file as a sampler leaves it after MINUTES at 100 ms (7 series), then
20 times: add one point of gc.count0, flush, and run memtrace-top --once
until its frame shows the point. --once pays a process start and a whole
reload each time; the live view polls every 50 ms (--interval) on top of its
reload, so its latency is at most this plus one poll interval.
Usage: bench.py MEMTRACE_TOP [MINUTES]"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

import memtrace

top = sys.argv[1]
minutes = float(sys.argv[2]) if len(sys.argv) > 2 else 10
points = int(minutes * 600)
series = ("rss", "pss", "uss", "swap", "cgroup.current", "cgroup.max", "mem.available")
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "run.snap")
    w = memtrace.Writer(path)
    w.add_meta("start_time", time.time_ns())
    for i in range(points):
        for s in series:
            w.add_sample(s, 1e8 + i * 1e4, time_ns=i * 100_000_000)
    w.flush()
    lat = []
    for k in range(20):
        v = 10_000 + k
        t0 = time.perf_counter()
        w.add_sample("gc.count0", float(v), time_ns=(points + k) * 100_000_000)
        w.flush()
        while True:
            r = subprocess.run([top, "--once", "--series", "gc.count0", path], capture_output=True, text=True)
            if " %d " % v in r.stdout:
                break
        lat.append((time.perf_counter() - t0) * 1000)
    size = os.path.getsize(path)
    w.close()
print("run file: %d points in %d series, %.0f KiB" % (points * len(series) + 20, len(series) + 1, size / 1024))
print("flush -> memtrace-top --once shows it: median %.1f ms, max %.1f ms (20 runs)"
      % (statistics.median(lat), max(lat)))
