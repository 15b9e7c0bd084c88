"""python3 -m memtrace heap|run|trace [options] -- script.py [args...]

heap: runs a script and dumps its heap when it exits
(DIR/heap-PID-RUN-exit.snap; with --sigterm also when SIGTERM stops it)
and each time it receives the signal (DIR/heap-PID-RUN-0001.snap, ...).
run: runs a script under memtrace's sampler, which writes its memory every
interval, its pipeline steps, heap dumps and alerts to a run file
(run-PID-RUN.snap) that memtrace-top follows while it runs.
trace: runs a script with its allocations traced, each recorded one with
its Python stack, into a trace file (trace-PID-RUN.snap) that
memtrace-trace reads: sampled by default (under 5% of the run time),
every allocation with --all."""

import argparse
import atexit
import builtins
import os
import re
import signal
import sys
import traceback
import tracemalloc
import types

import memtrace
from memtrace import _memtrace
from memtrace._sampling import Sampling, _exit_status


def _script_args(parser, sub):
    sub.add_argument("script", help="the Python script to run")
    sub.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")


def _prepare_script(script, args):
    """Makes the process look like `python3 script.py args` and returns the
    script's compiled code and its __main__ globals."""
    # argparse keeps a "--" that follows the script: it is not the script's.
    sys.argv = [script] + (args[1:] if args[:1] == ["--"] else args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    # As `python3 script.py` does: the script is __main__, and its globals
    # live until the interpreter exits, so an exit dump sees them (runpy's
    # run_path would drop them first).
    main_module = types.ModuleType("__main__")
    main_module.__file__ = script
    main_module.__builtins__ = builtins
    sys.modules["__main__"] = main_module
    with open(script, "rb") as f:
        code = compile(f.read(), script, "exec")
    return code, main_module.__dict__


def _alert(text):
    """argparse type of --alert: the expression, checked now, with a caret
    under the column at fault."""
    try:
        _memtrace.parse_alert(text)
    except ValueError as e:
        col = getattr(e, "column", 0)
        raise argparse.ArgumentTypeError("%s\n  %s\n  %s^" % (e, text, " " * max(col - 1, 0)))
    return text


# The units of memtrace's C tools (units.h, mt_bytes_parse).
_UNITS = {"": 1, "B": 1, "KB": 1000, "KiB": 1024, "MB": 10**6, "MiB": 1 << 20, "GB": 10**9, "GiB": 1 << 30}


def _bytes(text):
    """A size as the other memtrace tools take it: 524288, 512KiB, 1MB."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?) ?([A-Za-z]*)", text)
    if not m or m.group(2) not in _UNITS:
        raise argparse.ArgumentTypeError("%r is not a size: a number of bytes, optionally with B, KiB, MiB, GiB, "
                                         "KB, MB or GB" % text)
    v = float(m.group(1)) * _UNITS[m.group(2)]
    if v != int(v):
        raise argparse.ArgumentTypeError("%r is not a whole number of bytes" % text)
    v = int(v)
    if v < 1:
        raise argparse.ArgumentTypeError("%s must be at least 1 byte" % text)
    return v


def _positive(kind, low):
    def conv(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % text)
        if not v >= low:
            raise argparse.ArgumentTypeError("%s must be at least %s" % (text, low))
        return v
    return conv


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m memtrace", description=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    heap = sub.add_parser("heap", help="run a script, dump its heap at exit and on a signal")
    heap.add_argument("-o", "--output", required=True, metavar="DIR", help="directory for the snapshots")
    heap.add_argument("--signal", default="SIGUSR2", metavar="NAME", help="signal that dumps (default SIGUSR2)")
    heap.add_argument("--label", help="label stored in every snapshot")
    heap.add_argument("--trace", type=_positive(int, 0), default=0, metavar="N",
                      help="record each allocation's stack (N innermost frames, at most 128) with memtrace's "
                           "tracer, so that dumped objects carry it (default: off; tracemalloc is not used)")
    heap.add_argument("--sigterm", action="store_true",
                      help="on SIGTERM (a container's stop), dump as at exit, then die of the signal")
    heap.add_argument("--collect", action="store_true",
                      help="run the garbage collector before each dump, so that garbage is not counted")
    _script_args(parser, heap)
    run = sub.add_parser("run", help="run a script under the sampler, writing a run file")
    run.add_argument("--interval", type=_positive(float, 10), default=100.0, metavar="MS",
                     help="sampling interval in milliseconds (default 100, at least 10)")
    run.add_argument("-o", "--output", metavar="FILE",
                     help="the run file (default run-PID-RUN.snap here, never an existing file)")
    run.add_argument("--heap-on-peak", metavar="DIR",
                     help="dump the heap to DIR/heap-PID-RUN-peak-NNNN.snap at each new rss peak")
    run.add_argument("--peak-margin", type=_positive(float, 0), default=10.0, metavar="PCT",
                     help="a new peak passes the last by this percentage (default 10)")
    run.add_argument("--peak-every", type=_positive(float, 0), default=30.0, metavar="S",
                     help="at most one peak dump per S seconds, unless rss is 1.5 times the last (default 30)")
    run.add_argument("--alert", type=_alert, action="append", default=[], metavar="EXPR",
                     help="an alert, as memtrace-sample(1) takes it: 'rss>2GiB:exit', 'growth>100MiB/min:dump'")
    run.add_argument("--children", action="store_true", help="add the script's child processes to its figures")
    run.add_argument("--trace", type=int, default=0, metavar="N",
                     help="trace allocations with tracemalloc (N frames), which adds the traced series")
    _script_args(parser, run)
    tr = sub.add_parser("trace", help="run a script with its allocations traced, writing a trace file",
                        description=_TRACE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    tr.add_argument("-o", "--output", metavar="FILE",
                    help="the trace file (default trace-PID-RUN.snap here, never an existing file)")
    mode = tr.add_mutually_exclusive_group()
    mode.add_argument("--sample-bytes", type=_bytes, default=524288, metavar="N",
                      help="sampled mode: one sample every N bytes allocated on average (default 524288)")
    mode.add_argument("--all", action="store_true", help="full mode: record every allocation and free")
    tr.add_argument("--seed", type=_positive(int, 0), default=0, metavar="N",
                    help="seed of the sampling's random numbers (default: a random seed)")
    tr.add_argument("--no-numpy", action="store_true",
                    help="do not import NumPy to trace its array buffers")
    _script_args(parser, tr)
    opts = parser.parse_args(argv)
    if not os.path.exists(opts.script):
        parser.error("cannot run %s: no such file" % opts.script)
    if opts.command == "heap":
        return _heap(parser, opts)
    if opts.command == "trace":
        return _trace(parser, opts)
    return _run(parser, opts)


def _heap(parser, opts):
    try:
        signum = getattr(signal, opts.signal if opts.signal.startswith("SIG") else "SIG" + opts.signal)
    except AttributeError:
        parser.error("unknown signal %r" % opts.signal)
    if opts.sigterm and signum == signal.SIGTERM:
        parser.error("--sigterm and --signal SIGTERM both want SIGTERM: choose one")
    if opts.trace > 128:
        parser.error("--trace %d: at most 128 frames" % opts.trace)
    if opts.trace:
        # memtrace's own tracer, not tracemalloc: a dump looks each object
        # up in its address map (memtrace.start_stacks).
        memtrace.start_stacks(opts.trace)
    memtrace.install_signal_handler(opts.output, signum, label=opts.label, collect=opts.collect)
    # Registered before the script runs: atexit calls it after the script's
    # own exit handlers, on the heap as the script leaves it.
    memtrace.dump_at_exit(opts.output, label=opts.label, collect=opts.collect, sigterm=opts.sigterm)
    code, glob = _prepare_script(opts.script, opts.args)
    exec(code, glob)


_TRACE_HELP = """Runs a Python script with its allocations traced: CPython's raw, mem
and object allocators and (NumPy >= 1.22, imported first unless
--no-numpy) NumPy's array buffers allocated by the main thread, each
recorded allocation with its Python stack, into a trace file that
memtrace-trace(1) reads. The file is flushed every second: a script
killed meanwhile leaves a file readable up to its last flush.

Sampled mode (the default) records a block of n bytes with probability
1 - exp(-n/N) and weight 1/p, so that every total read from the file is
an unbiased estimate; --all records every event (slower, larger files).
A child the script forks is not traced. Exit status: the script's; 3
when the trace file cannot be written."""


def _trace(parser, opts):
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    code, glob = _prepare_script(opts.script, opts.args)
    path = opts.output or memtrace._reserve(lambda: memtrace._free_path(
        os.path.join(".", "trace-%d-%s" % (os.getpid(), memtrace._run_id()))))
    t = memtrace.Trace(path, opts.sample_bytes, opts.all, seed=opts.seed or None, numpy=not opts.no_numpy,
                       command=" ".join([opts.script] + args), tool="python3 -m memtrace trace")
    if t.numpy:
        try:
            import numpy  # noqa: F401  (its allocator is hooked at start)
        except ImportError:
            t.numpy = False
    try:
        t.start()
    except (OSError, ValueError, RuntimeError) as e:
        print("python3 -m memtrace trace: %s: %s" % (path, e), file=sys.stderr)
        sys.exit(3)
    # Stopped at exit, after the script's own exit handlers (registered
    # later, run earlier), while the interpreter still runs.
    atexit.register(t.stop)
    try:
        exec(code, glob)
    except SystemExit:
        raise
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb)
        sys.exit(130 if isinstance(e, KeyboardInterrupt) else 1)


def _run(parser, opts):
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    code, glob = _prepare_script(opts.script, opts.args)
    if opts.trace:
        tracemalloc.start(opts.trace)
    # Taken (O_EXCL) just before the sampler writes its header there.
    path = opts.output or memtrace._reserve(memtrace._run_path)
    s = Sampling(path, interval=opts.interval / 1000.0, heap_on_peak=opts.heap_on_peak,
                 peak_margin=opts.peak_margin / 100.0, peak_every=opts.peak_every, alerts=opts.alert,
                 children=opts.children, command=" ".join([opts.script] + args), tool="python3 -m memtrace run")
    # The sampler stops at exit (its atexit handler, registered before the
    # script's own, runs after them) with the status recorded here.
    try:
        try:
            s.start()
        except (OSError, ValueError) as e:
            print("python3 -m memtrace run: %s" % e, file=sys.stderr)
            sys.exit(3)
        exec(code, glob)
    except SystemExit as e:
        s.exit_status = _exit_status(e.code)
        raise
    except BaseException as e:
        # As Python reports an uncaught exception, without this runner's
        # frames; then status 1 (130 for ^C, as a shell reports SIGINT).
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb)
        s.exit_status = 130 if isinstance(e, KeyboardInterrupt) else 1
        sys.exit(s.exit_status)
    s.exit_status = 0


if __name__ == "__main__":
    main()
