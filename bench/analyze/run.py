"""memtrace.analyze against the CLI on one larger series: info, diff and
leaks timed both ways on the same files, best of REPEAT.

    PYTHONPATH=BUILD/python /usr/bin/python3 bench/analyze/run.py BUILD [OBJECTS]

Makes three heap dumps of this process holding about OBJECTS objects
(default 300000) that grow between dumps, then times, per analysis, the
tool with --format json read back by json.loads (what a notebook had to
do before memtrace.analyze) and the memtrace.analyze call that returns
the same numbers with its DataFrames built. The figures are printed as a
Markdown table."""

import json
import os
import subprocess
import sys
import tempfile
import time

import memtrace
import memtrace.analyze as A

REPEAT = 3


class Item:
    __slots__ = ("key", "value", "tags")

    def __init__(self, i):
        self.key = "k%07d" % i
        self.value = i * 1.5
        self.tags = [i]


def best(fn):
    times = []
    for _ in range(REPEAT):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    build = sys.argv[1]
    objects = int(sys.argv[2]) if len(sys.argv) > 2 else 300000
    tools = os.path.join(build, "tools")
    out = tempfile.mkdtemp(prefix="bench-analyze-")
    held, paths = [], []
    # Each Item is 4 objects (the Item, its str, float and list) besides
    # the list that holds them.
    step = objects // 4 // 3
    for k in range(3):
        held.extend(Item(i) for i in range(k * step, (k + 1) * step))
        p = os.path.join(out, "s%d.snap" % k)
        memtrace.dump_heap(p, tracebacks=False)
        paths.append(p)
    del held
    with A.open(paths[-1]) as s:
        n = s.info().objects
    size = os.path.getsize(paths[-1])

    def cli(name, *args):
        p = subprocess.run([os.path.join(tools, name), *args, "--format", "json"], capture_output=True, check=True)
        return json.loads(p.stdout)

    def py_info():
        with A.open(paths[-1]) as s:
            return s.info()

    rows = [
        ("info", lambda: cli("memtrace-info", paths[-1]), py_info),
        ("diff --by type", lambda: cli("memtrace-diff", paths[0], paths[-1], "--top", "0"),
         lambda: A.diff(paths[0], paths[-1])),
        ("leaks (3 dumps)", lambda: cli("memtrace-leaks", *paths), lambda: A.leaks(paths)),
    ]
    print("last dump: %d objects, %.1f MB; best of %d" % (n, size / 1e6, REPEAT))
    print()
    print("| analysis | CLI + json.loads (s) | memtrace.analyze (s) | ratio |")
    print("|---|---:|---:|---:|")
    for name, c, p in rows:
        tc, tp = best(c), best(p)
        print("| %s | %.3f | %.3f | %.2f |" % (name, tc, tp, tp / tc))
    for p in paths:
        os.unlink(p)
    os.rmdir(out)


if __name__ == "__main__":
    main()
