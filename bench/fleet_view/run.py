"""memtrace-fleet on a synthetic cluster: WORKERS real Python processes
(default 16), each dumped DUMPS times (default 4: 64 dumps) with the
collector, about 100k objects a dump; one worker holds three times the
objects, two leak 2000 objects a dump. Prints a table: the tool's wall
time and peak RSS (/usr/bin/time -v) with and without --no-leaks.

    /usr/bin/python3 bench/fleet_view/run.py BUILD [WORKERS] [DUMPS] [PARALLEL]

The dumps go to a fresh directory under $TMPDIR, removed at the end."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

WORKER = r'''
import gc, os, sys
import memtrace
out, name, role, dumps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
n = 90000 if role == "big" else 30000
# A tuple and a str each: 2 objects a row, about 60k over the interpreter's 35k.
rows = [("row%07d" % i, i) for i in range(n)]
class Leaked:
    def __init__(self, i):
        self.i = i
_LEAKS = []
for d in range(dumps):
    if role == "leak":
        _LEAKS.extend(Leaked(i) for i in range(2000))
    gc.collect()
    memtrace.dump_heap(os.path.join(out, "%s-%02d.snap" % (name, d)), tracebacks=False)
'''


def make(out, build, workers, dumps, parallel):
    env = dict(os.environ, PYTHONPATH=os.path.join(build, "python"))
    roles = ["big" if k == 0 else "leak" if k in (1, 2) else "normal" for k in range(workers)]
    running = []
    for k, role in enumerate(roles):
        while len(running) >= parallel:
            running.pop(0).wait()
        running.append(subprocess.Popen([sys.executable, "-c", WORKER, out, "w%03d-%s" % (k, role), role, str(dumps)],
                                        env=env))
    for p in running:
        if p.wait():
            sys.exit("run.py: a worker failed")


def timed(cmd):
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit("run.py: %s failed: %s" % (cmd[0], r.stderr[-2000:]))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    return wall, rss * 1024, r.stdout


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    dumps = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    parallel = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    tool = os.path.join(build, "tools", "memtrace-fleet")
    out = tempfile.mkdtemp(prefix="fleet-bench-")
    try:
        t0 = time.perf_counter()
        make(out, build, workers, dumps, parallel)
        made = time.perf_counter() - t0
        files = sorted(os.listdir(out))
        size = sum(os.path.getsize(os.path.join(out, f)) for f in files)
        info = subprocess.run([os.path.join(build, "tools", "memtrace-info"), os.path.join(out, files[-1])],
                              capture_output=True, text=True).stdout
        objects = re.search(r"objects:\s+(\d+)", info).group(1)
        print("fleet_view: %d workers x %d dumps = %d dumps, %.1f MiB on disk, %s objects in a normal worker's dump "
              "(made in %.1f s)" % (workers, dumps, len(files), size / 2**20, objects, made))
        print("%-28s %10s %14s  %s" % ("run", "wall (s)", "peak RSS (MiB)", "found"))
        for label, extra in (("memtrace-fleet --no-leaks", ["--no-leaks"]), ("memtrace-fleet (with leaks)", [])):
            wall, rss, stdout = timed([tool, "-f", "json"] + extra + [out])
            import json
            j = json.loads(stdout)
            found = "outliers %s; leaks %s" % (j["outliers"], ["%s on %d of %d" % (l["type"], l["n_workers"], l["of_workers"])
                                                                 for l in j["leaks"]])
            print("%-28s %10.2f %14.1f  %s" % (label, wall, rss / 2**20, found))
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
