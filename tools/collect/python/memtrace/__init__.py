"""memtrace: write heap snapshots that the memtrace-* tools analyze offline.

The work is done in C (memtrace._memtrace) over the snapshot writer of
memtrace's formats/ library; see memtrace-snap(5) for the file format and
memtrace(3) for this package.

    import memtrace
    memtrace.dump_heap("heap.snap", label="after request 1000")
    memtrace.dump_frames("frames.snap", {"orders": orders}, keys=["customer_id"])
    with memtrace.pipeline("frames.snap") as p:
        p.step("load", df)
    with memtrace.sampling("run.snap", heap_on_peak="dumps"):   # rss, traced, gc
        main()                                                 # every 100 ms

    python3 -m memtrace run --heap-on-peak dumps --alert 'rss>2GiB:exit' -- app.py
    with memtrace.trace("trace.snap"):        # allocations with their lines,
        main()                                # sampled (memtrace-trace(1))
    python3 -m memtrace trace -o trace.snap -- app.py
    memtrace.dump_cuda("gpu.snap")            # PyTorch's CUDA allocator state
    memtrace.import_torch_snapshot("snapshot.pickle", "gpu.snap")

    with memtrace.Writer("fixture.snap") as w:   # records by hand
        w.add_object(1, "dict", 232)
        w.add_object(2, "list", 88)
        w.add_ref(1, 2, label="items")
        w.add_root(1, kind="module", name="app")
"""

import atexit
import itertools
import os
import signal
import sys
import traceback

from ._memtrace import FORMAT_MAJOR, FORMAT_MINOR, Writer, __version__, dump_heap
from ._memtrace import rss as _rss

from ._tracemalloc import import_tracemalloc
from .frames import Pipeline, dump_frames, pipeline
from ._sampling import Sampling, sampling
from ._sampling import active as _sampling_active
from ._tracing import Trace, start_trace, stop_trace, trace
from ._tracing import start_stacks, stop_stacks, stacks_running
from .gpu import GpuSteps, gpu_steps
from ._torch import dump_cuda, import_torch_snapshot

__all__ = ["Writer", "dump_heap", "dump_frames", "pipeline", "Pipeline", "sampling", "Sampling", "import_tracemalloc", "trace", "Trace", "start_trace", "stop_trace",
           "start_stacks", "stop_stacks", "stacks_running", "gpu_steps", "GpuSteps", "import_torch_snapshot", "dump_cuda",
           "install_signal_handler", "dump_at_exit", "snapshot_path", "FORMAT_MAJOR", "FORMAT_MINOR", "__version__"]


_run = None


def _run_id():
    """8 random hex digits drawn once per process (again after a fork):
    the pid alone repeats, as PID 1 in every run of a container."""
    global _run
    if _run is None:
        _run = os.urandom(4).hex()
    return _run


def _new_run():
    global _run
    _run = None


os.register_at_fork(after_in_child=_new_run)


def snapshot_path(directory, tag):
    """The file a numbered or final dump goes to:
    DIR/heap-PID-RUN-TAG.snap, RUN 8 hex digits drawn once per process.
    The pid keeps dumps of several workers of one job apart, RUN those of
    several runs with one pid (PID 1 in a container). Never the name of a
    file that exists: a taken name gets .2, .3 ... before .snap."""
    return _free_path(os.path.join(directory, "heap-%d-%s-%s" % (os.getpid(), _run_id(), tag)))


def _run_path(directory="."):
    """DIR/run-PID-RUN.snap, the run file of `python3 -m memtrace run`,
    named as snapshot_path names dumps (and never an existing file)."""
    return _free_path(os.path.join(directory, "run-%d-%s" % (os.getpid(), _run_id())))


def _free_path(base):
    path, n = base + ".snap", 2
    while os.path.lexists(path):
        path, n = "%s.%d.snap" % (base, n), n + 1
    return path


def _reserve(make_path):
    """A new file of make_path()'s, taken with O_EXCL so that no earlier
    file is ever replaced, even by a racing process."""
    while True:
        path = make_path()
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            return path
        except FileExistsError:
            continue


def _dump_new(directory, tag, _event="dump", _event_value=None, **kw):
    """dump_heap to a new snapshot_path, the name taken with O_EXCL first so
    that no earlier dump is ever replaced, even by a racing process; on
    failure the empty name is given back. While a sampler runs, the dump
    is also an event of its run file (kind _event, detail the path, value
    _event_value or the rss before the dump)."""
    path = _reserve(lambda: snapshot_path(directory, tag))
    resident = _rss() if _event_value is None else _event_value
    try:
        summary = dump_heap(path, **kw)
    except BaseException:
        try:
            if os.path.getsize(path) == 0:
                os.unlink(path)
        except OSError:
            pass
        raise
    s = _sampling_active()
    if s is not None:
        s.event(_event, tag, float(resident), os.path.abspath(path))
    return summary


def install_signal_handler(directory, signum=signal.SIGUSR2, *, label=None, tracebacks=True, collect=False):
    """Dump the heap to DIR/heap-PID-RUN-0001.snap, -0002, ... each time the
    process receives signum (SIGUSR2 by default): `kill -USR2 PID`. RUN
    tells this run's dumps from those of an earlier run with the same pid;
    an existing file is never overwritten (see snapshot_path). collect:
    run the garbage collector first, so that unreachable objects are not
    counted.

    Python runs the handler in the main thread between bytecodes, so the
    dump sees a consistent heap. While memtrace.sampling runs, each dump is
    a `dump` event of its run file. Returns the previous handler."""
    os.makedirs(directory, exist_ok=True)
    counter = itertools.count(1)

    def handler(signo, frame):
        n = next(counter)
        _dump_new(directory, "%04d" % n, label=label or "signal %d" % n, tracebacks=tracebacks, collect=collect)

    return signal.signal(signum, handler)


def dump_at_exit(directory, *, label=None, tracebacks=True, collect=False, sigterm=False):
    """Dump the heap to DIR/heap-PID-RUN-exit.snap when the interpreter
    exits (an atexit handler: it runs after the exit handlers registered
    later, on the heap as the program leaves it). collect: run the garbage
    collector first.

    sigterm=True: also when SIGTERM stops the process (Kubernetes' and
    systemd's stop signal, which ends Python without its exit handlers),
    labelled "SIGTERM"; the process then dies of SIGTERM, as it would have
    without the handler, and its parent sees it terminated by the signal.
    A program that sets its own SIGTERM handler later keeps it, and its
    exit dumps as any exit does."""
    os.makedirs(directory, exist_ok=True)

    def dump(why):
        _dump_new(directory, "exit", label=label or why, tracebacks=tracebacks, collect=collect)

    atexit.register(dump, "exit")
    if sigterm:
        def on_sigterm(signo, frame):
            # One dump: a second SIGTERM meanwhile would run this again.
            signal.signal(signo, signal.SIG_IGN)
            try:
                dump("SIGTERM")
            except BaseException:
                traceback.print_exc()
            finally:
                # Dies of the signal: its default action, raised again.
                sys.stderr.flush()
                signal.signal(signo, signal.SIG_DFL)
                os.kill(os.getpid(), signo)
                os._exit(128 + signo)  # not reached while SIGTERM ends the process

        signal.signal(signal.SIGTERM, on_sigterm)


def load_ipython_extension(shell):
    """%load_ext memtrace: records every cell's memory (memtrace.notebook)."""
    from .notebook import load_ipython_extension as load
    load(shell)


def unload_ipython_extension(shell):
    """%unload_ext memtrace: stops recording cells; the log stays."""
    from .notebook import unload_ipython_extension as unload
    unload(shell)


def __getattr__(name):
    """memtrace.open and memtrace.analyze, imported on first use: the
    analysis library (memtrace._analyze over libanalyze) stays out of a
    process that only dumps."""
    if name in ("open", "analyze"):
        import importlib
        analyze = importlib.import_module("memtrace.analyze")
        return analyze if name == "analyze" else analyze.open
    raise AttributeError("module 'memtrace' has no attribute %r" % name)
