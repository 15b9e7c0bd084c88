"""memtrace.analyze.trace: what an allocation trace says (memtrace-trace),
for traces written by `python3 -m memtrace trace`, memtrace.trace() or
the notebook's tracer. memtrace.analyze re-exports every name in __all__.

The fields are memtrace-trace --format json --histogram's, and its lists
are DataFrames: tests/python/test_analyze_trace.py compares the two.
Sampled traces give estimates: each figure X comes with X_se, its
standard error (a 95% interval is X +- 1.96 X_se); exact traces have
X_se 0.
"""

import os

from memtrace import _analyze
from memtrace._results import Result, table

__all__ = ["trace", "Trace", "trace_folded"]

_SITE_COLUMNS = ["stack", "site", "live_bytes", "live_bytes_se", "live_blocks", "live_blocks_se", "allocated_bytes",
                 "allocated_bytes_se", "allocated_blocks", "allocated_blocks_se", "temporary_bytes",
                 "temporary_bytes_se", "temporary_blocks", "temporary_blocks_se", "leaked_bytes", "leaked_bytes_se",
                 "leaked_blocks", "leaked_blocks_se"]
_HISTOGRAM_COLUMNS = ["low", "high", "blocks", "blocks_se", "bytes", "bytes_se"]
_CURVE_COLUMNS = ["time_s", "max_bytes", "end_bytes"]


class Trace(Result):
    """memtrace-trace's report of one trace. Fields as its --format json:
    mode ("all" or "sampled"), sample_bytes, estimates, records,
    allocations, frees, duration_s, stacks, checkpoints, truncated, peak
    (bytes, time_s, record, step), leaked, allocated, temporary (bytes and
    blocks, each with _se), at (the moment asked: time_s, step, bytes; None
    at the peak), by, live_at, and warnings (what the tool prints on
    stderr: a file cut short, blocks salvage left out, a moment after the
    end). Tables: sites (the top sites by `by`, live bytes at the peak or
    at the moment asked), histogram (allocations by size class, powers of
    two) and curve (the live-bytes curve memtrace-plot draws: each point's
    most bytes live and bytes live at its end)."""

    _title = "trace"
    _fields = ("file", "mode", "records", "duration_s", "peak", "leaked", "allocated", "temporary", "at", "warnings")
    _tables = ("sites", "histogram", "curve")


def trace(path, at=None, at_step=None, by="peak", top=10, stack=False, temporary_ms=1.0, curve=200, salvage=False,
          no_checkpoints=False):
    """memtrace-trace --format json --histogram: the peak and the sites
    live then (or at `at` seconds after the start, or when the step named
    at_step began), what was still allocated at the end, temporaries (freed
    within temporary_ms), the top sites ranked by `by` ("peak",
    "allocated", "count", "temporary", "leaked"; top=0: every site, stack:
    each site's whole call stack), the size histogram, and a live-bytes
    curve of `curve` points (0: none; at most 4096). NotFoundError for a file that is
    not a trace or a step it does not have, BadInputError for a damaged
    one (salvage=True reads its intact blocks), FileError when it cannot
    be read."""
    d = _analyze.trace(os.fspath(path), at=None if at is None else float(at), at_step=at_step, by=by, top=top,
                       stack=bool(stack), temporary_ms=float(temporary_ms), curve=curve, salvage=bool(salvage),
                       no_checkpoints=bool(no_checkpoints))
    d["sites"] = table(d["sites"], _SITE_COLUMNS)
    d["histogram"] = table(d["histogram"], _HISTOGRAM_COLUMNS)
    d["curve"] = table(d["curve"], _CURVE_COLUMNS)
    return Trace(**d)


def trace_folded(path, by="peak", salvage=False):
    """memtrace-trace --folded BY: one (frames, bytes) pair per stack,
    frames outermost first joined by ';', largest first; by is "peak",
    "leaked", "allocated" or "temporary". Write them as
    "%s %d\\n" % pair for flamegraph.pl, speedscope or inferno."""
    return _analyze.trace_folded(os.fspath(path), by=by, salvage=bool(salvage))
