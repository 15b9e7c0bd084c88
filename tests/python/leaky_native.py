"""A process whose native memory grows (malloc'd buffers, written so they
are resident, held by address only) beside a small Python leak; it dumps
its heap after every step.
Usage: leaky_native.py OUT_DIR STEPS MIB_A_STEP"""

import ctypes
import gc
import sys

import memtrace

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]

BUFFERS = []   # addresses: a few bytes of Python for MiB of native memory
RECORDS = []   # the small Python leak


class Record:
    def __init__(self, i):
        self.i = i
        self.payload = bytes(200)


def main():
    out, steps, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for step in range(steps):
        n = mib << 20
        p = libc.malloc(n)
        ctypes.memset(p, 1, n)
        BUFFERS.append(p)
        RECORDS.extend(Record(i) for i in range(50))
        gc.collect()
        memtrace.dump_heap("%s/n%02d.snap" % (out, step), label="step %d" % step)


main()
