"""python3 -m memtrace heap -o DIR [options] -- script.py [args...]

Runs a script and dumps its heap when it exits (DIR/heap-PID-RUN-exit.snap)
and each time it receives the signal (DIR/heap-PID-RUN-0001.snap, ...)."""

import argparse
import atexit
import os
import builtins
import signal
import sys
import tracemalloc
import types

import memtrace


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m memtrace", description=__doc__.split("\n\n")[1])
    sub = parser.add_subparsers(dest="command", required=True)
    heap = sub.add_parser("heap", help="run a script, dump its heap at exit and on a signal")
    heap.add_argument("-o", "--output", required=True, metavar="DIR", help="directory for the snapshots")
    heap.add_argument("--signal", default="SIGUSR2", metavar="NAME", help="signal that dumps (default SIGUSR2)")
    heap.add_argument("--label", help="label stored in every snapshot")
    heap.add_argument("--trace", type=int, default=0, metavar="N",
                      help="record allocation tracebacks of N frames with tracemalloc (default: off)")
    heap.add_argument("script", help="the Python script to run")
    heap.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    opts = parser.parse_args(argv)
    try:
        signum = getattr(signal, opts.signal if opts.signal.startswith("SIG") else "SIG" + opts.signal)
    except AttributeError:
        parser.error("unknown signal %r" % opts.signal)
    if not os.path.exists(opts.script):
        parser.error("cannot run %s: no such file" % opts.script)
    if opts.trace:
        tracemalloc.start(opts.trace)
    memtrace.install_signal_handler(opts.output, signum, label=opts.label)
    # Registered before the script runs: atexit calls it after the script's
    # own exit handlers, on the heap as the script leaves it.
    atexit.register(lambda: memtrace._dump_new(opts.output, "exit", label=opts.label or "exit"))
    # argparse keeps a "--" that follows the script: it is not the script's.
    sys.argv = [opts.script] + (opts.args[1:] if opts.args[:1] == ["--"] else opts.args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(opts.script)))
    # As `python3 script.py` does: the script is __main__, and its globals
    # live until the interpreter exits, so the exit dump sees them (runpy's
    # run_path would drop them first).
    main_module = types.ModuleType("__main__")
    main_module.__file__ = opts.script
    main_module.__builtins__ = builtins
    sys.modules["__main__"] = main_module
    with open(opts.script, "rb") as f:
        code = compile(f.read(), opts.script, "exec")
    exec(code, main_module.__dict__)


if __name__ == "__main__":
    main()
