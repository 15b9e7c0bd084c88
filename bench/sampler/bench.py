"""bench/sampler: what the live sampler costs and what it sees.

Usage: bench.py BUILD [--rounds R] [--hours H]
BUILD is a build tree with memtrace-sample, memtrace-top, the Python
package and bench_sampler_{growth,spike}. Prints four tables:

1. overhead: a CPU-bound pure-Python loop and a pandas merge/groupby/
   pivot, timed with the sampler off, at 100 ms and at 10 ms
   (memtrace.sampling) in one process, the three modes in shuffled order
   in each of R rounds (default 10), in 3 processes; medians of wall and
   CPU time (the process's, so the sampler's threads count), and of
   each mode's ratio to off in the same round, with its quartiles.
2. latency: memtrace-sample records a process every 100 ms (its default)
   while memtrace-top --once runs back to back on the file; each time a
   frame shows more points than the last, the newest point it shows is
   looked up in the file (tests/python/spec_reader.py) and its age taken
   when that memtrace-top ended: from a sample being taken to
   memtrace-top --once showing it.
3. peak capture: a process that holds 256 MiB for 200 ms between two
   quiet stretches (bench_sampler_spike, which reads its own VmRSS at the
   peak: the truth), sampled every 10 ms, 5 times: the peak rss in the
   file over the true one. And python3 -m memtrace run --heap-on-peak
   over a script whose 200 000 objects live 200 ms: how many of them the
   peak dump holds.
4. file growth: bench_sampler_growth, H hours (default 24) of 9 series
   every 100 ms on a simulated clock, flushed as the sampler flushes (each
   sample) and once a second: the file unthinned, and thinned as the
   sampler rewrites it (at the end of each hour and at its largest)."""

import argparse
import glob
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))
import spec_reader  # noqa: E402


def mib(b):
    return "%.1f MiB" % (b / 1048576.0)


def overhead(build, rounds, procs=3):
    env = dict(os.environ, PYTHONPATH=os.path.join(build, "python"))
    modes = ["off", "100", "10"]
    rows = []
    import json
    with tempfile.TemporaryDirectory() as d:
        for kind in ("cpu", "pandas"):
            res = {m: [] for m in modes}
            for _ in range(procs):
                out = json.loads(subprocess.run([sys.executable, os.path.join(HERE, "workload.py"), kind, str(rounds), d],
                                                env=env, capture_output=True, text=True, check=True).stdout)
                for m in modes:
                    res[m].extend(out[m])
            n = len(res["off"])
            for m in modes:
                wall = [w for w, _ in res[m]]
                cpu = [c for _, c in res[m]]
                wr = sorted(res[m][i][0] / res["off"][i][0] for i in range(n))
                cr = sorted(res[m][i][1] / res["off"][i][1] for i in range(n))
                rows.append((kind, m, statistics.median(wall), statistics.median(cpu), statistics.median(wr),
                             statistics.median(cr), wr[n // 4], wr[(3 * n) // 4]))
    print("1. overhead: %d processes x %d rounds, modes shuffled in each round; ratio to off in the same round"
          % (procs, rounds))
    print("%-8s %-8s %8s %8s %11s %11s  %s" % ("workload", "sampler", "wall s", "cpu s", "wall", "cpu",
                                              "wall IQR"))
    for kind, m, w, c, wr, cr, lo, hi in rows:
        label = "off" if m == "off" else m + " ms"
        print("%-8s %-8s %8.3f %8.3f %+10.2f%% %+10.2f%%  %+.1f%% .. %+.1f%%" % (
            kind, label, w, c, (wr - 1) * 100, (cr - 1) * 100, (lo - 1) * 100, (hi - 1) * 100))
    print()


def latency(build, want=40):
    sample = os.path.join(build, "tools", "memtrace-sample")
    top = os.path.join(build, "tools", "memtrace-top")
    lat = []
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "run.snap")
        p = subprocess.Popen([sample, "-q", "-o", path, "--", "sleep", "60"])
        try:
            deadline = time.time() + 10
            while not os.path.exists(path) and time.time() < deadline:
                time.sleep(0.005)
            seen = 0
            while len(lat) < want:
                r = subprocess.run([top, "--once", path], capture_output=True, text=True)
                t_end = time.time_ns()
                m = re.search(r"(\d+) records in", r.stdout)
                if not m:
                    continue
                n = int(m.group(1))
                if n > seen:
                    g = spec_reader.Growing(path)
                    start = dict((x["key"], x["value"]) for x in g.records.get(1, []))["start_time"]
                    samples = g.records.get(10, [])
                    newest = samples[n - 1]["time_ns"] + start
                    if seen:
                        lat.append((t_end - newest) / 1e6)
                    seen = n
        finally:
            p.terminate()
            p.wait()
    lat.sort()
    print("2. latency: a sample taken -> memtrace-top --once shows it (100 ms interval, %d samples)" % len(lat))
    print("   median %.1f ms, 90th percentile %.1f ms, max %.1f ms" % (
        statistics.median(lat), lat[int(len(lat) * 0.9)], lat[-1]))
    print()


def peak(build, runs=5):
    sample = os.path.join(build, "tools", "memtrace-sample")
    spike = os.path.join(build, "bench", "bench_sampler_spike")
    ratios = []
    with tempfile.TemporaryDirectory() as d:
        for i in range(runs):
            path = os.path.join(d, "spike%d.snap" % i)
            out = subprocess.run([sample, "-q", "-i", "10", "-o", path, "--", spike, "256", "200"],
                                 capture_output=True, text=True, check=True).stdout
            truth = int(re.search(r"peak_rss (\d+)", out).group(1))
            s = spec_reader.Snapshot(path)
            seen = max(x["max"] if x["span_ns"] else x["value"] for x in s.of("samples") if x["series"] == "rss")
            ratios.append((seen, truth))
    print("3. peak capture: 256 MiB held 200 ms, sampled every 10 ms (%d runs)" % runs)
    for seen, truth in ratios:
        print("   seen %s of a true peak of %s: %.2f%%" % (mib(seen), mib(truth), seen / truth * 100))
    env = dict(os.environ, PYTHONPATH=os.path.join(build, "python"))
    n = 200_000
    with tempfile.TemporaryDirectory() as d:
        dumps = os.path.join(d, "dumps")
        subprocess.run([sys.executable, "-m", "memtrace", "run", "--interval", "10", "-o", os.path.join(d, "run.snap"),
                        "--heap-on-peak", dumps, "--", os.path.join(HERE, "pyspike.py"), str(n), "200"],
                       env=env, check=True, capture_output=True)
        best = 0
        files = sorted(glob.glob(os.path.join(dumps, "*.snap")))
        for f in files:
            s = spec_reader.Snapshot(f)
            types = {t["id"]: t["name"] for t in s.of("types")}
            best = max(best, sum(1 for o in s.of("objects") if types.get(o["type"], "").endswith("Spike")))
    print("   --heap-on-peak: %d peak dumps; the fullest holds %d of the %d Spike objects (%.1f%%)"
          % (len(files), best, n, best / n * 100))
    print()


def growth(build, hours):
    prog = os.path.join(build, "bench", "bench_sampler_growth")
    rows = {}
    with tempfile.TemporaryDirectory() as d:
        for flush in (100, 1000):
            out = subprocess.run([prog, str(hours), d, str(flush)], capture_output=True, text=True, check=True).stdout
            for line in out.splitlines():
                f = line.split()
                rows.setdefault(int(f[1]), {})[flush] = (int(f[3]), int(f[5]), int(f[7]))
    print("4. file growth: 9 series every 100 ms (simulated clock)")
    print("%6s  %-30s  %-30s" % ("", "flushed each sample (default)", "flushed each second"))
    print("%6s  %9s %9s %10s  %9s %9s %10s" % ("hours", "unthinned", "thinned", "thinned max",
                                                "unthinned", "thinned", "thinned max"))
    for h in sorted(rows):
        if h in (1, 2, 6, 12, 24) or h == max(rows):
            a, b = rows[h][100], rows[h][1000]
            print("%6d  %9s %9s %10s  %9s %9s %10s" % (h, mib(a[0]), mib(a[1]), mib(a[2]), mib(b[0]), mib(b[1]),
                                                      mib(b[2])))
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--only", choices=["overhead", "latency", "peak", "growth"])
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    if a.only in (None, "growth"):
        growth(build, a.hours)
    if a.only in (None, "latency"):
        latency(build)
    if a.only in (None, "peak"):
        peak(build)
    if a.only in (None, "overhead"):
        overhead(build, a.rounds)


if __name__ == "__main__":
    main()
