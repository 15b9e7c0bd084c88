"""bench/gpu: importing a large PyTorch allocator snapshot, against Python's
own pickle.load of the same file, in one run.

A snapshot pickle of about --size-mb MB (default 1024: millions of trace
entries) is generated as torch.cuda.memory._dump_snapshot() writes one
(protocol 4, strings and the shared frame lists memoised, addresses as
LONG1): 64 segments with their blocks, and a device trace of alloc,
free_requested, free_completed and segment_alloc entries with time_us and
frames, consistent (every free frees what was allocated). Then, each in a
fresh process, timed (wall) with its peak RSS (getrusage of the child):

  pickle.load       /usr/bin/python3 loading the file (what any Python
                    viewer, memory_viz's _memory_viz.py included, starts with)
  memtrace-convert  --from torch: the streaming C reader writing a snapshot
  memtrace-gpu      the analysis of the converted file (for scale)

Goal (issue 23): memtrace-convert at least 10x faster than pickle.load and
at most 1/5 of its memory.

Usage: import_bench.py BUILD [--size-mb N] [--keep DIR] [--rounds R]"""

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time

MiB = 1 << 20


class Emitter:
    """Writes pickle opcodes with a memo, as pickle.Pickler at protocol 4."""

    def __init__(self, f):
        self.f = f
        self.memo = {}
        self.buf = []
        self.n = 0

    def put(self, b):
        self.buf.append(b)
        if len(self.buf) >= 4096:
            self.flush()

    def flush(self):
        self.f.write(b"".join(self.buf))
        self.buf = []

    def get(self, i):
        return b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)

    def memoize(self):
        i = len(self.memo)
        self.memo[("anon", i)] = i
        return b"\x94", i

    def s(self, text):
        """A string, memoised as Python's pickler memoises str objects."""
        key = ("s", text)
        if key in self.memo:
            return self.get(self.memo[key])
        raw = text.encode()
        i = len(self.memo)
        self.memo[key] = i
        return b"\x8c" + bytes([len(raw)]) + raw + b"\x94"


def int_op(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    if -(1 << 31) <= v < (1 << 31):
        return b"J" + struct.pack("<i", v)
    raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def generate(path, size_mb):
    """Writes the pickle; returns (segments, trace entries)."""
    with open(path, "wb", buffering=1 << 22) as f:
        e = Emitter(f)
        e.put(b"\x80\x04")
        e.put(b"}\x94")  # the root dict (memo 0)
        e.memo[("root",)] = 0
        # Shared frame lists: 256 call stacks of 12 frames each.
        stacks = []
        for k in range(256):
            out = [b"]\x94"]  # EMPTY_LIST, MEMOIZE
            idx = len(e.memo)
            e.memo[("stack", k)] = idx
            body = [b"("]
            for d in range(12):
                body.append(b"}\x94")
                e.memo[("framedict", k, d)] = len(e.memo)
                body.append(b"(" + e.s("filename") + e.s("/srv/train/model_%d.py" % (d % 7)) + e.s("line") +
                            int_op(10 + 3 * d + k % 17) + e.s("name") + e.s("layer_%d" % ((k + d) % 40)) + b"u")
            body.append(b"e")
            e.put(out[0] + b"".join(body))
            stacks.append(idx)
        e.put(b"0" * 256)  # POP each list (they stay in the memo)
        e.put(b"(" + e.s("segments") + b"]\x94")
        e.memo[("segs",)] = len(e.memo)
        base = 0x7F0000000000
        nseg = 64
        seg_size = 1 << 30
        e.put(b"(")
        for sidx in range(nseg):
            a = base + sidx * (2 << 30)
            e.put(b"}\x94")
            e.memo[("seg", sidx)] = len(e.memo)
            # Memo indices follow the stream: the head's strings first.
            head = (b"(" + e.s("device") + int_op(0) + e.s("address") + int_op(a) + e.s("total_size") +
                    int_op(seg_size) + e.s("allocated_size") + int_op(seg_size // 2) + e.s("active_size") +
                    int_op(seg_size // 2) + e.s("requested_size") + int_op(seg_size // 2 - 200) + e.s("stream") +
                    int_op(0) + e.s("segment_type") + e.s("large") + e.s("segment_pool_id") + b"K\x00K\x00\x86" +
                    e.s("is_expandable") + b"\x89" + e.s("frames") + e.get(stacks[sidx % 256]) + e.s("blocks"))
            blocks = [b"]("]
            for j in range(4):
                blocks.append(b"}(" + e.s("address") + int_op(a + j * (seg_size // 4)) + e.s("size") +
                              int_op(seg_size // 4) + e.s("requested_size") + int_op(seg_size // 4 - 100) +
                              e.s("state") + e.s("active_allocated" if j % 2 == 0 else "inactive") + e.s("frames") +
                              e.get(stacks[j * 7 % 256]) + b"u")
            e.put(head + b"".join(blocks) + b"eu")
        e.put(b"e")
        e.put(e.s("device_traces") + b"]]\x94")
        e.memo[("trace0",)] = len(e.memo)
        # The trace: allocs into the segments' free halves, then frees.
        # Each string once in the stream, then memo gets, as a pickler does
        # (a byte string reused here would memoise it again each time).
        warm = b"".join(e.s(k) for k in ("alloc", "free_requested", "free_completed", "action", "addr", "size",
                                           "stream", "time_us", "frames"))
        e.put(b"(" + warm + b"1")  # MARK, the strings, POP_MARK: nothing left on the stack
        actions = {k: e.s(k) for k in ("alloc", "free_requested", "free_completed")}
        keys = {k: e.s(k) for k in ("action", "addr", "size", "stream", "time_us", "frames")}
        t = 1_733_000_000_000_000
        live = []
        events = 0
        target = size_mb * MiB
        batch = []
        while True:
            for _ in range(1000):
                if live and (len(live) > 400 or (events * 2654435761) % 7 < 3):
                    a, size, st = live.pop((events * 40503) % len(live))
                    for act in ("free_requested", "free_completed"):
                        batch.append(b"}(" + keys["action"] + actions[act] + keys["addr"] + int_op(a) + keys["size"] +
                                     int_op(size) + keys["stream"] + b"K\x00" + keys["time_us"] + int_op(t) +
                                     keys["frames"] + e.get(stacks[st]) + b"u")
                        t += 3
                        events += 1
                else:
                    sidx = events % nseg
                    size = 512 * (1 + (events * 2246822519) % 4096)
                    a = base + sidx * (2 << 30) + seg_size // 2 + ((events * 3266489917) % 1000) * (512 << 10)
                    st = (events * 668265263) % 256
                    live.append((a, size, st))
                    batch.append(b"}(" + keys["action"] + actions["alloc"] + keys["addr"] + int_op(a) + keys["size"] +
                                 int_op(size) + keys["stream"] + b"K\x00" + keys["time_us"] + int_op(t) +
                                 keys["frames"] + e.get(stacks[st]) + b"u")
                    t += 5
                    events += 1
            e.put(b"(" + b"".join(batch) + b"e")
            batch = []
            if f.tell() + sum(len(b) for b in e.buf) >= target:
                break
        e.put(b"a")  # the device's list into device_traces
        e.put(b"u.")  # segments and device_traces into the root
        e.flush()
    return nseg, events


def measured(cmd):
    """Runs cmd under GNU time: its wall seconds, its own peak RSS in bytes
    (not the forking bench's), and its standard output."""
    with tempfile.NamedTemporaryFile("r") as t:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name, *cmd], capture_output=True)
        if p.returncode:
            sys.exit("%s failed (%d): %s" % (cmd[0], p.returncode, p.stderr.decode(errors="replace")[-2000:]))
        wall, kb = t.read().split()[-2:]
    return float(wall), int(kb) * 1024, p.stdout.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--keep", default=None, help="keep the pickle and snapshot in this directory")
    a = ap.parse_args()
    d = a.keep or tempfile.mkdtemp(prefix="mt-bench-gpu-")
    os.makedirs(d, exist_ok=True)
    pkl, snap = os.path.join(d, "snapshot.pickle"), os.path.join(d, "snapshot.snap")
    t0 = time.monotonic()
    nseg, events = generate(pkl, a.size_mb)
    gen = time.monotonic() - t0
    size = os.path.getsize(pkl)
    print("generated %s: %.1f MB, %d segments, %d trace entries (%.1f s)" % (pkl, size / 1e6, nseg, events, gen))
    tools = os.path.join(a.build, "tools")
    rows = []
    wall, rss, out = measured([os.path.join(tools, "memtrace-convert"), "--from", "torch", pkl, snap])
    rows.append(("memtrace-convert --from torch", wall, rss))
    wall_g, rss_g, _ = measured([os.path.join(tools, "memtrace-gpu"), "-f", "json", snap])
    rows.append(("memtrace-gpu (the converted file)", wall_g, rss_g))
    code = "import pickle,sys; d=pickle.load(open(sys.argv[1],'rb')); print(len(d['device_traces'][0]))"
    wall_p, rss_p, out_p = measured(["/usr/bin/python3", "-c", code, pkl])
    if int(out_p.strip()) != events:
        sys.exit("pickle.load read %s entries, not %d" % (out_p.strip(), events))
    rows.append(("python3 pickle.load (baseline)", wall_p, rss_p))
    print("\n%-36s %9s %10s %12s %11s %8s %8s" % ("", "wall s", "MB/s", "entries/s", "peak RSS", "x faster",
                                                 "x less mem"))
    for name, w, r in rows:
        print("%-36s %9.2f %10.1f %12.0f %8.0f MB %8.1f %8.1f" % (name, w, size / 1e6 / w, events / w, r / 1e6,
                                                                   wall_p / w, rss_p / r))
    print("\nconverted snapshot: %.1f MB; %s" % (os.path.getsize(snap) / 1e6, out.strip()))
    ok = wall_p / rows[0][1] >= 10 and rss_p / rows[0][2] >= 5
    print("goal (>= 10x faster, <= 1/5 of the memory of pickle.load): %s" % ("met" if ok else "NOT met"))
    if not a.keep:
        os.unlink(pkl)
        os.unlink(snap)
        os.rmdir(d)


if __name__ == "__main__":
    main()
