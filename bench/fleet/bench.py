"""bench/fleet: 64 heap dumps of a synthetic Dask-like job (16 workers,
4 dumps each; one worker holds three times the others, four leak) analyzed
by memtrace.dask.analyze single-process (the tools one after the other on
this machine) and on a distributed.LocalCluster of 2 worker processes, in
the same run.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/fleet/bench.py [DIR] [SCALE]
DIR keeps the dumps (a temporary directory by default); SCALE (1.5)
multiplies each worker's objects. Prints a table per analysis (info, diff,
leaks, fleet; and memtrace-fleet itself over every file): wall seconds, the largest tool's peak RSS (VmHWM), the client's
peak RSS, and whether the cluster's merge equals the single-process one
(and its parts the tools' JSON), the figures compared without the fields
that describe the run (figures())."""

import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time

import memtrace
import memtrace.dask as mdask

WORKERS, ROUNDS = 16, 4
MB = 1 << 20


def worker_job(args):
    """One synthetic worker: a heap of records, strings and buffers that
    grows between dumps when it leaks; dumps ROUNDS times."""
    w, directory, scale = args
    n = int(60000 * scale * (3 if w == 0 else 1))
    held = [{"id": i, "name": "row-%d-%d" % (w, i), "tags": [i, i + 1]} for i in range(n)]
    blobs = [bytes(200) for _ in range(n // 4)]
    leak = []
    paths = []
    for r in range(ROUNDS):
        if w % 4 == 1:
            leak.extend({"n": i, "payload": "x" * 48} for i in range(int(8000 * scale)))
        paths.append(memtrace.dump_heap(memtrace.snapshot_path(directory, "r%02d" % r), label="worker %d" % w,
                                        tracebacks=False)["path"])
    del held, blobs, leak
    return paths


def make_dumps(directory, scale):
    ctx = multiprocessing.get_context("fork")
    # A process a worker (maxtasksperchild=1): a dump series is one pid and run id.
    with ctx.Pool(2, maxtasksperchild=1) as pool:
        series = pool.map(worker_job, [(w, directory, scale) for w in range(WORKERS)], chunksize=1)
    return [p for s in series for p in s]


def maxrss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# What a fleet part records about the run that read its file, not about
# the file: "seconds" and "peak_rss" (the tools' wall time and VmHWM,
# measured anew each run) and "pid_here" (the pid of the process that ran
# them: this one single-process, a cluster worker's otherwise). They
# differ between two runs of the same analysis, so figures() drops them;
# "pid" and "host" there are the dumped process's, from the file's meta,
# and stay. The other analyses' parts are the tools' JSON as printed,
# with nothing of the run in them; "runs" (timings, hosts, pids only) is
# left out whole.
_RUN_FIELDS = frozenset(("seconds", "peak_rss", "pid_here"))


def figures(res):
    """The analysis figures of an analyze() result: merged and parts,
    less the fields that describe the run (_RUN_FIELDS)."""
    parts = res["parts"]
    if res["what"] == "fleet":
        parts = dict(parts, files={p: {k: v for k, v in f.items() if k not in _RUN_FIELDS}
                                   for p, f in parts["files"].items()})
    return {"merged": res["merged"], "parts": parts}


def run(files, what, client):
    t0 = time.perf_counter()
    res = mdask.analyze(files, what, client=client)
    return res, time.perf_counter() - t0


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="bench-fleet-")
    scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.5
    os.makedirs(directory, exist_ok=True)
    t0 = time.perf_counter()
    files = sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.startswith("heap-"))
    if len(files) != WORKERS * ROUNDS:
        for f in files:
            os.unlink(f)
        files = sorted(make_dumps(directory, scale))
    total = sum(os.path.getsize(f) for f in files)
    print("%d dumps of %d workers, %.0f MB in all (largest %.1f MB), written in %.1f s" % (
        len(files), WORKERS, total / MB, max(os.path.getsize(f) for f in files) / MB, time.perf_counter() - t0))
    print("machine: %d CPUs (os.cpu_count), load %.1f" % (os.cpu_count(), os.getloadavg()[0]))
    from distributed import Client, LocalCluster
    rows = []
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as lc, \
            Client(lc) as client:
        client.wait_for_workers(2)
        for what in ("info", "diff", "leaks", "fleet"):
            single, ts = run(files, what, None)
            dist, td = run(files, what, client)
            same = figures(dist) == figures(single)
            if what == "fleet":
                # The tool itself, one process over every file, is the oracle.
                t = time.perf_counter()
                tool = mdask._run_tool(("memtrace-fleet", ["--format", "json", *files], (0,)))
                rows.append(("fleet: memtrace-fleet alone", 1, time.perf_counter() - t, tool["peak_rss"], float("nan"),
                             0, 0, tool["result"] == dist["merged"]))
            runs = len(single["runs"]) if what != "fleet" else len(files) + len(single["parts"]["leaks"])
            rows.append((what, runs, ts, max(r["peak_rss"] for r in single["runs"].values()), td,
                         max(r["peak_rss"] for r in dist["runs"].values()),
                         len({r["pid"] for r in dist["runs"].values()}), same))
        workers_rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    print()
    print("| analysis | tool runs | single: s | single: tool peak MB | cluster (2 workers): s "
          "| cluster: tool peak MB | workers used | merge equal |")
    print("|---|---|---|---|---|---|---|---|")
    for what, n, ts, ps, td, pd_, nw, same in rows:
        print("| %s | %d | %.1f | %.0f | %s | %s | %s | %s |" % (
            what, n, ts, ps / MB, "-" if td != td else "%.1f" % td, "-" if not nw else "%.0f" % (pd_ / MB),
            "-" if not nw else nw, "yes" if same else "NO"))
    print()
    print("client peak RSS %.0f MB (merging included); worker processes' peak RSS %s MB" % (
        maxrss() / MB, ", ".join("%.0f" % (v / MB) for v in sorted(workers_rss.values()))))
    if len(sys.argv) <= 1:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
