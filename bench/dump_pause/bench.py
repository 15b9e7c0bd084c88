"""bench/dump_pause: how long a signal dump stops the program, with and
without allocation stacks, as `python3 -m memtrace heap` runs it.

Each run is a fresh process: `python3 -m memtrace heap [--trace N] -o DIR
-- bench.py --child ...` builds a heap of about N objects (instances of
a few classes made at several lines, lists, strs, ints, tuples: an
application's state, each object with its own allocation traceback),
then signals itself at module level or D frames deep and measures the
time from the kill to the next statement: the pause the program sees.

With --service, the heap is also that of a threaded service: an
http.server on 127.0.0.1 answering on its own threads, the main thread
dumping between requests (the standard library's objects, traced since
their import, add to the ones built here).

Settings: no tracing; `--trace 1` and `--trace 10` (memtrace's own
tracer, memtrace.start_stacks); and `tracemalloc 10`, the program's own
tracemalloc (PYTHONTRACEMALLOC=10, no --trace), whose tracebacks the dump
reads per object (what --trace 10 did before).

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/dump_pause/bench.py
       [--repeat R] [--objects N] [--depth D] [--service]
Prints a table: the median pause of R runs (default 3) with its range,
for each setting, at module level and D (30) frames deep, each with its
ratio to the untraced dump in the same run and place (the target: at
most 2x), and the time the program took to build its heap under each
setting (the tracing's cost to the program) with its ratio to untraced."""

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time


class Order:
    def __init__(self, i):
        self.id = i
        self.name = "order-%d" % i
        self.lines = [i, i + 1000]


class Customer:
    __slots__ = ("key", "tags")

    def __init__(self, i):
        self.key = ("c", i)
        self.tags = {"n": i}


def build_heap(n):
    """About n objects: each Order is 5 (itself, its str, its list, 2 ints),
    each Customer 6 (itself, a tuple, a dict, an int, ...)."""
    keep = []
    for i in range(n // 10):
        keep.append(Order(i * 1000))
        keep.append(Customer(i * 1000 + 1))
    return keep


def deep(d, fn):
    return fn() if d <= 0 else deep(d - 1, fn)


def serve():
    """A threaded http.server on 127.0.0.1, asked 20 times: its URL."""
    import http.server
    import threading
    import urllib.request

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/" % srv.server_address[1]
    for _ in range(20):
        urllib.request.urlopen(url).read()
    return url


def child(depth, n, out, service):
    t0 = time.perf_counter()
    heap = build_heap(n)  # noqa: F841  (kept alive through the dump)
    build = time.perf_counter() - t0
    url = serve() if service else None
    import gc
    gc.collect()
    t = {}

    def dump():
        t0 = time.perf_counter()
        os.kill(os.getpid(), signal.SIGUSR2)  # the handler runs before the next statement
        t["pause"] = time.perf_counter() - t0

    deep(depth, dump)
    if url:
        import urllib.request
        assert urllib.request.urlopen(url).read() == b"ok"  # still serving after the dump
    import tracemalloc
    with open(out, "w") as f:
        json.dump({"pause": t["pause"], "build": build, "trace": tracemalloc.get_traceback_limit() if tracemalloc.is_tracing() else 0,
                   "traced_mib": tracemalloc.get_traced_memory()[0] / 2**20}, f)


def run_one(trace, depth, n, tmp, service):
    """trace: 0, N (--trace N) or "tm10" (the program's own tracemalloc)."""
    out = os.path.join(tmp, "result.json")
    dumps = os.path.join(tmp, "dumps")
    cmd = [sys.executable, "-m", "memtrace", "heap", "-o", dumps]
    env = dict(os.environ)
    env.pop("PYTHONTRACEMALLOC", None)
    if isinstance(trace, str):
        env["PYTHONTRACEMALLOC"] = trace[2:]
    elif trace:
        cmd += ["--trace", str(trace)]
    cmd += ["--", __file__, "--child", str(depth), str(n), out] + (["--service"] if service else [])
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode:
        raise SystemExit("%s failed: %s" % (" ".join(cmd), p.stderr[-800:]))
    for f in os.listdir(dumps):
        os.unlink(os.path.join(dumps, f))
    with open(out) as f:
        r = json.load(f)
        return r["pause"], r["build"]


def main():
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:] == ["--service"])
        return
    args = sys.argv[1:]
    service = "--service" in args
    args = [a for a in args if a != "--service"]
    opts = {"--repeat": 3, "--objects": 140000, "--depth": 30}
    while args:
        if args[0] not in opts or len(args) < 2:
            raise SystemExit(__doc__.split("\n\n")[2])
        opts[args[0]] = int(args[1])
        args = args[2:]
    repeat, n, depth = opts["--repeat"], opts["--objects"], opts["--depth"]
    traces = (0, 1, 10, "tm10")
    print("bench/dump_pause: the pause of a SIGUSR2 dump under `python3 -m memtrace heap`, a heap of")
    print("about %d objects%s, each run a fresh process, the settings taking turns, %d runs each;" % (
        n, " and a threaded http.server" if service else "", repeat))
    print("median seconds (min-max); ratio = against the untraced dump at the same depth\n")
    print("%-8s %-15s %9s %17s %8s %9s %7s" % ("where", "tracing", "pause s", "(min-max)", "ratio", "build s",
                                              "ratio"))
    names = {0: "none", "tm10": "tracemalloc 10"}
    with tempfile.TemporaryDirectory() as tmp:
        for d in (0, depth):
            runs = {t: [] for t in traces}
            builds = {t: [] for t in traces}
            for _ in range(repeat):
                for t in traces:
                    pause, build = run_one(t, d, n, tmp, service)
                    runs[t].append(pause)
                    builds[t].append(build)
            base, bbase = statistics.median(runs[0]), statistics.median(builds[0])
            for t in traces:
                med, bmed = statistics.median(runs[t]), statistics.median(builds[t])
                print("%-8s %-15s %9.3f %17s %7.1fx %9.3f %6.1fx" % (
                    "module" if d == 0 else "%d deep" % d, names.get(t, "--trace %s" % t), med,
                    "(%.3f-%.3f)" % (min(runs[t]), max(runs[t])), med / base, bmed, bmed / bbase))


if __name__ == "__main__":
    main()
