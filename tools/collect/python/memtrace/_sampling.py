"""memtrace.sampling (this module, memtrace._sampling): the process's memory sampled into a run file that
memtrace-top(1) and memtrace-plot(1) follow while it grows.

The sampler is memtrace's C sampler thread (the one of memtrace-sample(1)),
which reads rss, pss, uss, swap, the cgroup and MemAvailable every interval
without taking the GIL; this package adds tracemalloc's traced memory (while
it traces) and the collector's counts, read with the GIL at most every
max(interval, 100 ms). Pipeline steps (memtrace.pipeline) and heap dumps
(install_signal_handler, heap_on_peak, dump alerts) land in the same file as
events, on the samples' clock."""

import atexit
import itertools
import os

from . import _memtrace

_active = None  # the Sampling that runs; one per process


def active():
    """The Sampling that runs in this process, or None."""
    return _active


def _forget_after_fork():
    # The child has none of the parent's threads: its copy of the sampler
    # is dropped untouched, and the child samples nothing unless it starts.
    global _active
    if _active is not None:
        _active._s._forget()
        _active._running = False
        _active = None


os.register_at_fork(after_in_child=_forget_after_fork)


def _exit_status(code):
    """The exit status Python gives SystemExit(code): 0 for None, an int
    as it is, 1 for anything else (which Python prints)."""
    if code is None:
        return 0
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    return 1


class Sampling:
    """A sampler writing the run file path; see memtrace.sampling()."""

    def __init__(self, path, *, interval=0.1, heap_on_peak=None, peak_margin=0.10, peak_every=30.0, alerts=(),
                 children=False, command=None, tool="memtrace.sampling"):
        self.path = os.fspath(path)
        if isinstance(alerts, str):
            alerts = (alerts,)
        self.alerts = tuple(alerts)
        for a in self.alerts:
            _memtrace.parse_alert(a)  # a bad one fails here, before anything starts
        self.interval = float(interval)
        self.heap_on_peak = os.fspath(heap_on_peak) if heap_on_peak is not None else None
        self.peak_margin = float(peak_margin)
        self.peak_every = float(peak_every)
        if self.peak_margin < 0 or self.peak_every < 0:
            raise ValueError("peak_margin and peak_every must not be negative")
        self.children = bool(children)
        self.command = command
        self.tool = tool
        self.dumps = []  # the heap dumps this sampler asked for, in order
        self.exit_status = None  # what stop() records when given none
        self._peaks = itertools.count(1)
        self._alert_dumps = itertools.count(1)
        self._s = _memtrace.Sampler()
        self._running = False

    def start(self):
        """Starts sampling; raises RuntimeError if a sampler already runs
        in this process. Returns self."""
        global _active
        if _active is not None:
            raise RuntimeError("memtrace.sampling: a sampler already runs in this process (writing %s); "
                               "stop it before starting another" % _active.path)
        if self.heap_on_peak is not None:
            os.makedirs(self.heap_on_peak, exist_ok=True)
        # Active, and stopped at exit, before the thread starts: its first
        # sample may fire an alert whose request (SystemExit for :exit)
        # runs as soon as the next bytecode does. Stopped before the
        # interpreter finalizes: the sampler's threads must not reach into
        # a finalizing interpreter.
        _active = self
        self._running = True
        atexit.register(self._atexit)
        started = False
        try:
            self._s.start(self.path, interval=self.interval, children=self.children, alerts=list(self.alerts),
                          peak_margin=self.peak_margin if self.heap_on_peak is not None else 0.0,
                          peak_every=self.peak_every, tool=self.tool, command=self.command, handler=self._handle)
            started = True
        finally:
            # Only a start that failed is undone: an exception raised by
            # a request right after a start (SystemExit) leaves it running,
            # to be stopped by whoever handles the exit.
            if not started and not self._s.running:
                _active = None
                self._running = False
                atexit.unregister(self._atexit)
        return self

    def stop(self, status=None):
        """Takes a last sample, records an exit event with status (none
        when None, unless exit_status was set or an exit alert fired) and
        closes the file; a second call does nothing."""
        global _active
        if not self._running:
            return
        self._running = False
        if _active is self:
            _active = None
        atexit.unregister(self._atexit)
        self._s.stop(self.exit_status if status is None else status)

    def _atexit(self):
        self.stop()

    @property
    def running(self):
        """True between start() and stop()."""
        return self._running

    def step(self, name):
        """Records a step event; later samples carry the step's name.
        While memtrace.trace runs, the step is an event of its file too."""
        self._s.step(name)
        from ._tracing import active as _trace_active
        t = _trace_active()
        if t is not None:
            t.step(name)

    def event(self, kind, name=None, value=0.0, detail=None):
        """Records an event now (memtrace-snap(5), events)."""
        self._s.event(kind, name, value, detail)

    def latest(self):
        """The newest value of each series: {'rss': ..., 'traced': ...}."""
        return self._s.latest()

    def now(self):
        """Nanoseconds since the run's start, the clock of its records."""
        return self._s.now()

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop(_exit_status(exc.code) if isinstance(exc, SystemExit) else None)
        return False

    def _handle(self, kind, name, value):
        """A request of the sampler thread, run in the main thread between
        bytecodes (as a signal handler is), so the heap is consistent."""
        from . import _dump_new
        if kind == "peak":
            n = next(self._peaks)
            summary = _dump_new(self.heap_on_peak, "peak-%04d" % n, label="peak %d" % n, _event="peak",
                                _event_value=value)
        elif kind == "dump":
            n = next(self._alert_dumps)
            where = self.heap_on_peak or os.path.dirname(os.path.abspath(self.path))
            summary = _dump_new(where, "alert-%04d" % n, label="alert %s" % name)
        else:
            return  # exit: the extension raises SystemExit after this
        self.dumps.append(summary["path"])


def sampling(path, *, interval=0.1, heap_on_peak=None, peak_margin=0.10, peak_every=30.0, alerts=(), children=False):
    """with memtrace.sampling("run.snap") as s: ... (or s.start() ... s.stop())

    Samples the process every interval seconds into the run file path.
    heap_on_peak=DIR dumps the heap to DIR/heap-PID-RUN-peak-NNNN.snap when
    rss passes its previous peak by peak_margin (0.10: 10%), at most every
    peak_every seconds. alerts are expressions as memtrace-sample(1)'s
    --alert takes them ('rss>2GiB:dump', 'growth>100MiB/min:exit').
    children=True adds the process's children to the process figures."""
    return Sampling(path, interval=interval, heap_on_peak=heap_on_peak, peak_margin=peak_margin,
                    peak_every=peak_every, alerts=alerts, children=children)
