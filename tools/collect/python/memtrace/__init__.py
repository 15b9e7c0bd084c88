"""memtrace: write heap snapshots that the memtrace-* tools analyze offline.

The work is done in C (memtrace._memtrace) over the snapshot writer of
memtrace's formats/ library; see memtrace-snap(5) for the file format and
memtrace(3) for this package.

    import memtrace
    memtrace.dump_heap("heap.snap", label="after request 1000")
    memtrace.dump_frames("frames.snap", {"orders": orders}, keys=["customer_id"])
    with memtrace.pipeline("run.snap") as p:
        p.step("load", df)

    with memtrace.Writer("fixture.snap") as w:   # records by hand
        w.add_object(1, "dict", 232)
        w.add_object(2, "list", 88)
        w.add_ref(1, 2, label="items")
        w.add_root(1, kind="module", name="app")
"""

import itertools
import os
import signal

from ._memtrace import FORMAT_MAJOR, FORMAT_MINOR, Writer, __version__, dump_heap

from ._tracemalloc import import_tracemalloc
from .frames import Pipeline, dump_frames, pipeline

__all__ = ["Writer", "dump_heap", "dump_frames", "pipeline", "Pipeline", "import_tracemalloc", "install_signal_handler", "snapshot_path", "FORMAT_MAJOR",
           "FORMAT_MINOR", "__version__"]


def snapshot_path(directory, tag):
    """The file a numbered or final dump goes to: DIR/heap-PID-TAG.snap.
    The pid keeps dumps of several workers of one job apart."""
    return os.path.join(directory, "heap-%d-%s.snap" % (os.getpid(), tag))


def install_signal_handler(directory, signum=signal.SIGUSR2, *, label=None, tracebacks=True):
    """Dump the heap to DIR/heap-PID-0001.snap, -0002, ... each time the
    process receives signum (SIGUSR2 by default): `kill -USR2 PID`.

    Python runs the handler in the main thread between bytecodes, so the
    dump sees a consistent heap. Returns the previous handler."""
    os.makedirs(directory, exist_ok=True)
    counter = itertools.count(1)

    def handler(signo, frame):
        n = next(counter)
        dump_heap(snapshot_path(directory, "%04d" % n), label=label or "signal %d" % n, tracebacks=tracebacks)

    return signal.signal(signum, handler)
