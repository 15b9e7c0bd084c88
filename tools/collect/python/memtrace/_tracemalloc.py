"""Python's own tracemalloc snapshots as memtrace snapshots.

Each trace becomes an allocation site: its traceback is stored once as a
chain of stacks (memtrace-snap(5), frames and stacks), and the traces of
one traceback and domain as one "live" allocation record holding their
count and total size, so that memtrace-diff --by site on two imports
gives what tracemalloc.Snapshot.compare_to(old, "lineno") gives."""

import os
import tracemalloc

from ._memtrace import Writer

ALLOC_LIVE = 2


def import_tracemalloc(snapshot, out_path, *, label=None):
    """Write a tracemalloc.Snapshot, or a file saved with Snapshot.dump(),
    to out_path as a memtrace snapshot. Returns the number of traces."""
    if isinstance(snapshot, (str, bytes, os.PathLike)):
        snapshot = tracemalloc.Snapshot.load(snapshot)
    if not isinstance(snapshot, tracemalloc.Snapshot):
        raise TypeError("import_tracemalloc needs a tracemalloc.Snapshot or the path of one, not %s"
                        % type(snapshot).__name__)
    frames, stacks, live = {}, {}, {}
    with Writer(out_path) as w:
        w.add_meta("tool", "memtrace.import_tracemalloc")
        w.add_meta("source", "tracemalloc")
        w.add_meta("traceback_limit", snapshot.traceback_limit)
        if label is not None:
            w.add_meta("label", label)
        ntraces = 0
        for trace in snapshot.traces:
            ntraces += 1
            parent = 0
            # Traceback is oldest first since Python 3.7: build the chain
            # from the outermost call inwards.
            for fr in trace.traceback:
                fid = frames.get((fr.filename, fr.lineno))
                if fid is None:
                    fid = frames[(fr.filename, fr.lineno)] = len(frames) + 1
                    w.add_frame(fid, fr.filename, fr.lineno)
                key = (fid, parent)
                sid = stacks.get(key)
                if sid is None:
                    sid = stacks[key] = len(stacks) + 1
                    w.add_stack(sid, fid, parent)
                parent = sid
            # memtrace's domains: 0 for Python's allocator, 1 for the rest.
            slot = live.setdefault((parent, 0 if trace.domain == 0 else 1), [0, 0])
            slot[0] += 1
            slot[1] += trace.size
        for (stack, domain), (count, size) in live.items():
            w.add_alloc(size, stack, op=ALLOC_LIVE, count=count, domain=domain)
    return ntraces
