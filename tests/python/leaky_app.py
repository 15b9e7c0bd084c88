"""A program that leaks two ways, keeps a bounded cache, loads a table
once and churns temporaries; it dumps its heap after every step.
Usage: leaky_app.py OUT_DIR STEPS"""

import collections
import gc
import sys

import memtrace


class Leaked:
    def __init__(self, i):
        self.i = i
        self.payload = bytes(512)


class Item:
    def __init__(self, i):
        self.i = i
        self.blob = bytearray(256)


class Service:
    def __init__(self):
        self.items = []


class CacheEntry:
    def __init__(self, i):
        self.data = bytes(300)


class Row:
    def __init__(self, i):
        self.v = i


class Temp:
    def __init__(self, i):
        self.buf = bytearray(128)


_LEAKS = {}
SERVICE = Service()
_CACHE = collections.OrderedDict()
_TABLE = []


def request(step, i):
    _LEAKS["req-%d-%d" % (step, i)] = Leaked(i)  # never removed
    SERVICE.items.append(Item(i))                # never trimmed
    _CACHE[step * 1000 + i] = CacheEntry(i)      # an LRU of 300 entries
    if len(_CACHE) > 300:
        _CACHE.popitem(last=False)
    churn = [Temp(j) for j in range(50)]         # freed at return
    return len(churn)


def main():
    out, steps = sys.argv[1], int(sys.argv[2])
    for step in range(steps):
        if step == 2:
            _TABLE.extend(Row(j) for j in range(3000))  # loaded once
        for i in range(100):
            request(step, i)
        gc.collect()
        memtrace.dump_heap("%s/s%02d.snap" % (out, step), label="step %d" % step)


main()
