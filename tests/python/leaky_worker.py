"""A batch worker that keeps every failed job's exception (its traceback
holds the job's frame and the object graph the job built), beside a
functools.lru_cache(maxsize=128) that fills and stays full while its
results (dicts, the type the graphs grow) keep changing. It dumps its
heap after every batch.
Usage: leaky_worker.py OUT_DIR BATCHES"""

import functools
import gc
import sys

import memtrace

FAILED = {}            # job -> its exception: the leak
JOBS_PER_BATCH = 40    # every other one fails


class RouteError(Exception):
    pass


def build_graph(job):
    # A graph as dicts of dicts: 12 nodes of 3 weighted edges each.
    return {n: {m: {"weight": (job + n + m) % 7} for m in range(3)} for n in range(12)}


@functools.lru_cache(maxsize=128)
def lookup(key):
    return {"key": key, "region": key % 5, "tags": [key, key + 1]}


def find_route(job):
    G = build_graph(job)
    if job % 2:
        raise RouteError("no path for job %d" % job)
    return len(G)


def main():
    out, batches = sys.argv[1], int(sys.argv[2])
    for batch in range(batches):
        # A sliding window of 120 keys, 10 new each batch: the cache fills
        # to its 128 entries in the second batch and stays full, holding
        # entries born in every batch.
        for key in range(batch * 10, batch * 10 + 120):
            lookup(key)
        for i in range(JOBS_PER_BATCH):
            job = batch * JOBS_PER_BATCH + i
            try:
                find_route(job)
            except RouteError as e:
                FAILED[job] = e
        gc.collect()
        memtrace.dump_heap("%s/w%02d.snap" % (out, batch), label="batch %d" % batch)


main()
