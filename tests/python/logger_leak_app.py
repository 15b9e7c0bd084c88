"""A service that leaks one logging logger per request (a logger named
after the request, which logging keeps for good), traced by tracemalloc
10 frames deep; it dumps its heap after every step. The loggers are made
inside logging's own code: "allocated at" should still name the line
below that asks for them.

Usage: logger_leak_app.py OUT_DIR STEPS"""

import gc
import logging
import sys
import tracemalloc

import memtrace


def handle(step, i):
    log = logging.getLogger(f"request.{step}.{i}")  # a new logger every request, kept by logging
    log.debug("handled")


def main():
    out, steps = sys.argv[1], int(sys.argv[2])
    tracemalloc.start(10)
    for step in range(steps):
        for i in range(100):
            handle(step, i)
        gc.collect()
        memtrace.dump_heap("%s/s%02d.snap" % (out, step), label="step %d" % step)


if __name__ == "__main__":
    main()
