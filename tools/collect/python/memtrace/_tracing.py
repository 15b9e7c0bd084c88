"""memtrace.trace (this module, memtrace._tracing): allocation traces of a
Python process, with the Python line of every recorded allocation, into a
trace file (memtrace-snap(5), "Allocation traces") that memtrace-trace(1)
reads.

    with memtrace.trace("run.snap"):               # sampled, 512 KiB mean
        main()
    with memtrace.trace("run.snap", all=True):     # every allocation
        main()
    memtrace.start_trace("run.snap"); ...; memtrace.stop_trace()

    python3 -m memtrace trace -o run.snap -- app.py ARGS

What is traced: CPython's raw, mem and object allocators (PyMem_RawMalloc,
PyMem_Malloc, PyObject_Malloc; domains 3, 0 and 0 of the file) and, with
NumPy >= 1.22, NumPy's data allocator (array buffers, pandas' columns;
domain 4). A realloc is the free of the old block and the allocation of
the new. The stack of each recorded allocation is read in C from the
thread's frames (up to 128 innermost frames), without running Python code;
a raw allocation made without the GIL has no stack (stack 0).

Sampled mode (the default): each allocated byte is a sample point with
probability 1/sample_bytes, so a block of n bytes is recorded with
probability p = 1 - exp(-n/sample_bytes) and weight 1/p: every total read
from the file is an unbiased estimate, with variance the sum of
size^2 * w * (w - 1). An allocation that is not sampled costs one
thread-local subtraction. all=True records every allocation and free.

NumPy's allocator is a context variable: the trace hooks it in the context
of the thread that starts it, so that thread's array buffers are traced.
Threads started with `threading` run in a context of their own, with
NumPy's default allocator: their array buffers are not traced (their
Python objects are). Arrays allocated while tracing free through
memtrace's handler for the rest of their lives; it passes through once the
trace stops.

The file is written by a thread of the tracer's own, which drains the
per-thread buffers at least every 100 ms, flushes the file at least every
second (a process killed at any moment leaves a file readable up to its
last flush), writes the process's rss with each drain and checkpoints of
the live bytes per stack every 10 seconds and at the end.

Fork: a child forked while tracing does not trace (and never writes into
the parent's file); it may start a trace of its own. One trace per process
at a time; a trace may be stopped and another started. Pipeline steps
(memtrace.pipeline) and memtrace.sampling steps taken while tracing are
`step` events of the trace.
"""

import os
import sys

from . import _memtrace

DEFAULT_SAMPLE_BYTES = 524288

_active = None  # the running Trace
_stacks = False  # start_stacks ran and stop_stacks did not


def active():
    """The Trace that runs in this process, or None."""
    return _active


def _forget_after_fork():
    global _active
    global _stacks
    if _stacks:
        _stacks = False
        _memtrace.trace_after_fork()  # the child records no stacks
    if _active is not None:
        _memtrace.trace_after_fork()
        _active._running = False
        _active = None


os.register_at_fork(after_in_child=_forget_after_fork)


class Trace:
    """An allocation trace writing path; see memtrace.trace()."""

    def __init__(self, path, sample_bytes=DEFAULT_SAMPLE_BYTES, all=False, *, seed=None, numpy=True, command=None,
                 tool="memtrace.trace"):
        self.path = os.fspath(path)
        self.sample_bytes = int(sample_bytes)
        if self.sample_bytes < 1:
            raise ValueError("sample_bytes must be at least 1, not %d" % self.sample_bytes)
        self.all = bool(all)
        self.seed = 0 if seed is None else int(seed)
        if self.seed < 0:
            raise ValueError("seed must not be negative")
        self.numpy = bool(numpy)
        self.command = command
        self.tool = tool
        self.domains = None  # "0,3,4" once started
        self.stats = None  # the counts stop() returns
        self._running = False

    def start(self):
        """Starts tracing; RuntimeError if a trace runs already in this
        process, OSError if the file cannot be written. Returns self."""
        global _active
        if _active is not None:
            raise RuntimeError("memtrace.trace: a trace runs already in this process (writing %s); "
                               "stop it first" % _active.path)
        self.domains = _memtrace.trace_start(self.path, sample_bytes=self.sample_bytes, all=self.all,
                                             seed=self.seed, numpy=self.numpy, tool=self.tool,
                                             command=self.command, python_version=sys.version.split()[0])
        self._running = True
        _active = self
        return self

    def stop(self):
        """Stops tracing and closes the file with its index; returns the
        counts {allocs, frees, dropped, threads, frames, stacks} of what was
        written. A second call returns them again."""
        global _active
        if not self._running:
            return self.stats
        self._running = False
        if _active is self:
            _active = None
        self.stats = _memtrace.trace_stop()
        return self.stats

    @property
    def running(self):
        """True between start() and stop()."""
        return self._running

    def step(self, name):
        """Records a `step` event (a pipeline step began) in the trace."""
        if self._running:
            _memtrace.trace_event("step", name)

    def event(self, kind, name=None, value=0.0, detail=None):
        """Records an event now (memtrace-snap(5), events)."""
        if self._running:
            _memtrace.trace_event(kind, name, float(value), detail)

    def now(self):
        """Nanoseconds since the trace's start, the clock of its records."""
        return _memtrace.trace_now()

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        return False


def trace(path, sample_bytes=DEFAULT_SAMPLE_BYTES, all=False, *, seed=None, numpy=True):
    """with memtrace.trace("run.snap") as t: ...

    Traces the process's allocations into the trace file path while the
    block runs. sample_bytes is the mean distance between samples in
    bytes (sampled mode, the default: under 5% of the run time); all=True
    records every allocation and free (full mode). seed fixes the sampling's
    random sequence (tests). numpy=True imports NumPy, when it is
    installed, to hook its data allocator in this thread's context.
    Returns the Trace (not yet started: `with` starts it, or t.start())."""
    return Trace(path, sample_bytes, all, seed=seed, numpy=numpy)


def start_trace(path, sample_bytes=DEFAULT_SAMPLE_BYTES, all=False, *, seed=None, numpy=True):
    """Starts a trace as memtrace.trace() describes it and returns it; stop
    it with memtrace.stop_trace() or its stop()."""
    return Trace(path, sample_bytes, all, seed=seed, numpy=numpy).start()


def stop_trace():
    """Stops the running trace and returns its counts (see Trace.stop());
    RuntimeError when none runs."""
    if _active is None:
        raise RuntimeError("memtrace.stop_trace: no trace runs in this process")
    return _active.stop()


def start_stacks(nframes=10):
    """Records the stack (its nframes innermost frames, 1 to 128) of every
    allocation through CPython's raw, mem and object allocators from now
    on, for heap dumps: memtrace.dump_heap (and `python3 -m memtrace heap
    --trace N`) then gives each object the stack its memory was allocated
    at, as tracemalloc's tracebacks would, at a fraction of their cost in
    the dump. Memtrace's own tracer in full mode with no file: the address
    of every live block with its stack id, and the interned frames and
    stacks; tracemalloc is left alone. Objects allocated before the start,
    and objects a type's free list hands out again (tuples, lists, dicts,
    floats reused without an allocation), carry the stack their block was
    allocated at, or none. RuntimeError when stacks or a trace
    (memtrace.trace) are recorded already in this process."""
    if _active is not None:
        raise RuntimeError("memtrace.start_stacks: a trace runs in this process (writing %s); stop it first"
                           % _active.path)
    global _stacks
    _memtrace.stacks_start(int(nframes))
    _stacks = True


def stop_stacks():
    """Stops recording allocation stacks (memtrace.start_stacks) and forgets
    them; returns {dropped, frames, stacks}. RuntimeError when none are
    recorded."""
    global _stacks
    _stacks = False
    return _memtrace.stacks_stop()


def stacks_running():
    """The frames recorded per allocation stack (memtrace.start_stacks), or 0
    when none are recorded."""
    return _memtrace.stacks_running()
