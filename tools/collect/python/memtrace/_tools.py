"""memtrace._tools: finding and running the memtrace-* analysis programs
from Python (the notebook magics show their output inline).

The package itself links the writer only; the analysis lives in the
tools, so a magic that reports runs one, as a user would in a terminal,
and there is one copy of every analysis."""

import os
import shutil
import subprocess


class ToolError(RuntimeError):
    """A memtrace tool that could not run or that failed; its message is
    the tool's own error line."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def _candidates(name):
    env = os.environ.get("MEMTRACE_BIN")
    if env:
        yield os.path.join(env, name)
    # The build tree (BUILD/python/memtrace beside BUILD/tools) and an
    # install prefix (PREFIX/lib/pythonX.Y/dist-packages/memtrace beside
    # PREFIX/bin), whichever holds this package.
    here = os.path.dirname(os.path.abspath(__file__))
    d = here
    for _ in range(5):
        d = os.path.dirname(d)
        yield os.path.join(d, "tools", name)
        yield os.path.join(d, "bin", name)
    found = shutil.which(name)
    if found:
        yield found


def find(name):
    """The path of the memtrace tool name (memtrace-cells, ...): from
    $MEMTRACE_BIN, beside this package's build tree or install prefix, or
    on PATH. Raises ToolError naming where it looked."""
    for c in _candidates(name):
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise ToolError("%s: not found beside the memtrace package nor on PATH; set MEMTRACE_BIN to the directory "
                    "that holds the memtrace tools" % name)


def run(name, *args, ok=(0,), timeout=600):
    """Runs tool name with args; returns its CompletedProcess (text).
    An exit status outside ok raises ToolError with the tool's stderr."""
    path = find(name)
    p = subprocess.run([path, *map(os.fspath, args)], capture_output=True, text=True, timeout=timeout)
    if p.returncode not in ok:
        msg = p.stderr.strip() or "%s exited with status %d" % (name, p.returncode)
        raise ToolError(msg, p.returncode)
    return p
