"""bench/sampler's Python spike: N instances of Spike live for MS
milliseconds between two quiet stretches, for --heap-on-peak to catch.

Usage: python3 -m memtrace run --interval 10 --heap-on-peak DIR -- pyspike.py N MS"""

import sys
import time


class Spike:
    __slots__ = ("payload", "n")

    def __init__(self, n):
        self.payload = bytes(200)
        self.n = n


def main():
    n, ms = int(sys.argv[1]), int(sys.argv[2])
    time.sleep(0.3)
    held = [Spike(i) for i in range(n)]
    # Python code keeps running while the spike lives, as real code
    # would; the dump runs between its bytecodes.
    end = time.perf_counter() + ms / 1000.0
    while time.perf_counter() < end:
        time.sleep(0.001)
    del held
    time.sleep(0.3)


if __name__ == "__main__":
    main()
