"""bench/graph: dominators and retained sizes of a 10-million-object heap,
and networkx on a 200 000-object heap of the same shape in the same run.

Usage: bench.py BENCH_GRAPH_BINARY [N_BIG] [N_SMALL]
Both graphs come from bench/common/synth.h: 4 references an object, half
to neighbours and half anywhere, a root every 1000 objects."""

import collections
import os
import statistics
import subprocess
import sys
import tempfile
import time

import networkx as nx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))
import spec_reader  # noqa: E402  (the independent reader, to feed networkx)


def run(binary, path):
    out = subprocess.run([binary, "run", path], capture_output=True, text=True, check=True).stdout
    return {k: float(v) for k, v in (line.split() for line in out.splitlines())}


def networkx_dominators(path):
    s = spec_reader.Snapshot(path)
    objs = s.of("objects")
    t0 = time.perf_counter()
    g = nx.DiGraph()
    g.add_nodes_from(range(len(objs)))
    g.add_edges_from((r["src"], r["dst"]) for r in s.of("refs") if not r["flags"] & 1)
    g.add_edges_from(("root", r["obj"]) for r in s.of("roots"))
    t1 = time.perf_counter()
    idom = nx.immediate_dominators(g, "root")
    children = collections.defaultdict(list)
    for v, d in idom.items():
        if v != "root":
            children[d].append(v)
    order = ["root"]
    for v in order:
        order.extend(children[v])
    retained = {}
    for v in reversed(order[1:]):
        retained[v] = objs[v]["size"] + sum(retained[c] for c in children[v])
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, len(idom) - 1


def main():
    binary = sys.argv[1]
    n_big = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
    n_small = int(sys.argv[3]) if len(sys.argv) > 3 else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        big, small = os.path.join(tmp, "big.snap"), os.path.join(tmp, "small.snap")
        subprocess.run([binary, "write", str(n_big), big], check=True)
        subprocess.run([binary, "write", str(n_small), small], check=True)
        # This machine's timings vary by a third: three runs, the median.
        runs = [run(binary, big) for _ in range(3)]
        smalls = [run(binary, small) for _ in range(5)]
        nx_build, nx_dom, nx_reach = networkx_dominators(small)

    def med(rs, *keys):
        return statistics.median(sum(r[k] for k in keys) for r in rs)

    b = runs[0]
    print("bench/graph: dominators (Lengauer-Tarjan, balanced) and retained sizes")
    print("%d objects, %d references, %d reachable; medians of 3 runs\n" % (b["objects"], b["refs"], b["reachable"]))
    print("%-40s %10s %12s" % ("phase (10M-object graph)", "seconds", "peak RSS"))
    for k in ("load", "dominators", "type_retained", "cycles"):
        print("%-40s %10.2f" % (k.replace("_", " ") + (" + retained sizes" if k == "dominators" else ""),
                                med(runs, k)))
    total = med(runs, "load", "dominators")
    rss = statistics.median(r["rss_kib"] for r in runs) / 1024
    print("%-40s %10.2f %8.0f MiB" % ("load + dominators + retained", total, rss))
    ours = med(smalls, "dominators")
    print("\n%-40s %10s" % ("%d-object graph, same shape" % n_small, "seconds"))
    print("%-40s %10.4f" % ("memtrace: dominators + retained", ours))
    print("%-40s %10.4f" % ("memtrace: load + dominators + retained", med(smalls, "load", "dominators")))
    print("%-40s %10.2f" % ("networkx: build the DiGraph", nx_build))
    print("%-40s %10.2f" % ("networkx: immediate_dominators + retained", nx_dom))
    assert nx_reach == smalls[0]["reachable"], "networkx and memtrace reach different objects"
    ratio = nx_dom / ours
    print("\n%-40s %10s %10s" % ("targets", "measured", "target"))
    print("%-40s %10.2f %10s  %s" % ("10M objects: load + dominators, s", total, "< 10", "ok" if total < 10 else "MISSED"))
    print("%-40s %10.0f %10s  %s" % ("10M objects: peak RSS, MiB", rss, "< 2048", "ok" if rss < 2048 else "MISSED"))
    print("%-40s %10.0f %10s  %s" % ("networkx / memtrace, 200k objects", ratio, ">= 100", "ok" if ratio >= 100 else
                                      "MISSED"))


if __name__ == "__main__":
    main()
