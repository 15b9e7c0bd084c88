"""A list gaining 300 Item objects a snapshot over 6 snapshots; with
"vars", every item's __dict__ is made once before the fifth (as a
serializer, copy or pickle does), which from CPython 3.11 on moves the
instance's attribute values out of its size. Usage: leaky_vars.py DIR
vars|plain"""
import gc
import os
import sys

import memtrace


class Item:
    def __init__(self, i):
        self.i = i
        self.payload = bytearray(2000)


LEAK = []


def main():
    out, mode = sys.argv[1], sys.argv[2]
    for k in range(6):
        LEAK.extend(Item(k) for _ in range(300))
        if mode == "vars" and k == 4:
            for it in LEAK:
                vars(it)
        gc.collect()
        memtrace.dump_heap(os.path.join(out, "s%02d.snap" % k), tracebacks=False)


if __name__ == "__main__":
    main()
