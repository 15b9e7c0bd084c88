"""memtrace.analyze: memtrace's analyses as Python objects.

The numbers are libanalyze's, the same as the memtrace-* tools print
(tests compare them with each tool's --format json). Tables come as
pandas DataFrames. Errors raise memtrace.analyze.Error (BadInputError,
NotFoundError, FileError), whose path, code, block, offset, line and
column say where.

    import memtrace
    with memtrace.open("heap.snap") as s:
        s.info().type_table     # every type: type, count, bytes
        s.columns()             # DataFrame columns by real bytes
    memtrace.analyze.diff("a.snap", "b.snap", by="site").groups
    memtrace.analyze.leaks(["s1.snap", "s2.snap", "s3.snap"]).suspects
"""

import datetime
import os

from memtrace import _analyze
from memtrace._analyze import BadInputError, Error, FileError, NotFoundError  # noqa: F401
from memtrace._results import Result, table  # noqa: F401

__all__ = ["Error", "BadInputError", "NotFoundError", "FileError", "Result",
           "open", "Snapshot", "Info", "Frames", "Diff", "Leaks", "diff", "leaks"]

_TYPE_COLUMNS = ["type", "count", "bytes"]
_FRAME_COLUMNS = ["name", "step", "rows", "columns", "real_bytes", "pandas_deep_bytes", "shallow_bytes",
                  "shared_bytes", "real_estimated", "index_kind", "index_nlevels", "index_real_bytes",
                  "index_deep_bytes", "time_ns"]
_COLUMN_COLUMNS = ["frame", "step", "position", "name", "dtype", "real_bytes", "pandas_deep_bytes",
                   "shallow_bytes", "real_share", "share", "distinct_bytes", "null_count", "distinct_count",
                   "distinct_estimated", "min", "max", "int_fit", "key", "sorted", "unique", "integral",
                   "f32_exact", "f32_max_rel_error", "mixed", "real_recorded", "real_estimated"]
_STEP_COLUMNS = ["name", "time_ns", "rss", "traced", "traced_peak", "frames", "frames_real_bytes",
                 "frames_pandas_deep_bytes"]
_DIFF_COLUMNS = ["group", "count_a", "count_b", "count_delta", "bytes_a", "bytes_b", "bytes_delta", "percent"]
_MATCHED_COLUMNS = ["new_count", "new_bytes", "freed_count", "freed_bytes", "surviving_count", "surviving_bytes"]
_SUSPECT_COLUMNS = ["rank", "type", "confidence", "type_objects_per_snapshot", "growth_objects_per_snapshot",
                    "growth_bytes_per_snapshot", "retained_bytes", "p_value", "point_type", "point_path", "site",
                    "explanation"]
_GROWING_COLUMNS = ["type", "kind", "p_value", "reason"]


def _utc_date(ns):
    """ns since the epoch as memtrace-info's start_date:
    2026-11-18T22:13:20.5Z, the fraction only when there is one."""
    s, frac = divmod(ns, 1000000000)
    text = datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + ("%09d" % frac).rstrip("0")
    return text + "Z"


class Info(Result):
    """What a snapshot holds (memtrace-info): every field of its
    --format json as an attribute (types is how many there are);
    type_table (every type, by bytes), top_types_by_bytes and
    top_types_by_count as DataFrames."""

    _title = "memtrace info"
    _fields = ("file", "format_version", "objects", "object_bytes", "refs", "roots", "rss_bytes",
               "unaccounted_bytes", "lost_objects")
    _tables = ("type_table",)


class Frames(Result):
    """Where a DataFrame snapshot's memory is (memtrace-frames): the
    --format json fields; frames, columns (every column of the frames
    shown, largest first), steps and grew_most as DataFrames. Each frame's
    and column's full record (index, categorical, sparse, top values) is
    in records."""

    _title = "memtrace frames"
    _fields = ("file", "bytes", "real_bytes", "pandas_deep_bytes", "shallow_bytes", "real_shared_bytes",
               "real_step")
    _tables = ("frames", "columns", "steps")


class Diff(Result):
    """Two snapshots compared group by group (memtrace-diff): the
    --format json fields; groups as a DataFrame, total and rss as dicts."""

    _title = "memtrace diff"
    _fields = ("a", "b", "by", "matched", "groups_total", "groups_shown", "total")
    _tables = ("groups",)


class Leaks(Result):
    """Leaks told from growth (memtrace-leaks): the --format json fields
    (suspects and not_leaking as lists of dicts, with their series) and
    the same as DataFrames in suspect_table and growing."""

    _title = "memtrace leaks"
    _fields = ("snapshots", "noise_floor_bytes", "native_growth")
    _tables = ("suspect_table", "growing")


class Snapshot:
    """A snapshot loaded by libanalyze (memtrace.open). Close it, or use
    it as a context manager, to free its memory at once."""

    def __init__(self, handle):
        self._s = handle

    @property
    def path(self):
        return self._s.path

    @property
    def meta(self):
        """The meta entries as a dict (binary values as bytes)."""
        return self._s.meta

    @property
    def closed(self):
        return self._s.closed

    def close(self):
        self._s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return repr(self._s)

    def info(self, top=10):
        """memtrace-info's figures: meta, records per kind, totals, RSS and
        what the objects leave unaccounted, every type (type_table) and the top
        largest (top_types_by_bytes, top_types_by_count)."""
        d = self._s.info(top=top)
        start = d["meta"].get("start_time")
        if isinstance(start, int) and not isinstance(start, bool) and start >= 0:
            d["start_date"] = _utc_date(start)
        d["type_table"] = table(d["type_table"], _TYPE_COLUMNS)
        d["top_types_by_bytes"] = table(d["top_types_by_bytes"], _TYPE_COLUMNS)
        d["top_types_by_count"] = table(d["top_types_by_count"], _TYPE_COLUMNS)
        return Info(**d)

    def _frames(self, frame, step, bytes):
        return self._s.frames(frame=frame, step=step, bytes=bytes)

    def frames(self, frame=None, step=None, bytes="real"):
        """memtrace-frames' figures: frames by real bytes (bytes="pandas":
        by pandas' memory_usage(deep=True) count), each with its real
        bytes, pandas' count, shared bytes and index; the columns of those
        frames; a pipeline's steps. frame, step: only the frames of that
        name or step."""
        d = self._frames(frame, step, bytes)
        records = d["frames"]
        rows = []
        for f in records:
            r = dict(f)
            r["index_kind"] = f["index"]["kind"]
            r["index_nlevels"] = f["index"]["nlevels"]
            r["index_real_bytes"] = f["index"]["real_bytes"]
            r["index_deep_bytes"] = f["index"]["deep_bytes"]
            # The JSON's "columns" is said twice, the count and then the
            # records (a JSON reader keeps the records); the count is
            # column_count.
            r["columns"] = f.pop("column_count")
            rows.append(r)
        d["records"] = records
        d["frames"] = table(rows, _FRAME_COLUMNS)
        d["columns"] = table(d.pop("column_table"), _COLUMN_COLUMNS)
        d["steps"] = table(d["steps"], _STEP_COLUMNS)
        d["grew_most"] = table(d["grew_most"], ["step", "bytes"])
        return Frames(**d)

    def columns(self, frame=None, step=None, bytes="real"):
        """The columns of the frames (memtrace-frames' columns, its CSV's
        rows) as a DataFrame, largest first: real_bytes (each buffer and
        each distinct object once) beside pandas_deep_bytes (pandas'
        memory_usage(deep=True), which counts a shared object at every row
        that holds it)."""
        return table(self._frames(frame, step, bytes)["column_table"], _COLUMN_COLUMNS)


def open(path, salvage=False):  # noqa: A001 - memtrace.open is the documented name
    """The snapshot at path, loaded (without the GIL) as memtrace-info
    loads it. salvage: use every intact block of a damaged file (info()'s
    damage says what was lost). Raises FileError (no such file, not
    readable), BadInputError (not a snapshot, damaged: its block and
    offset)."""
    return Snapshot(_analyze.open(os.fspath(path), salvage=salvage))


def _snapshot(x, salvage, opened):
    if isinstance(x, Snapshot):
        return x
    s = open(x, salvage=salvage)
    opened.append(s)
    return s


def diff(a, b, by="type", sort="delta", top=None, min_delta=0, salvage=False):
    """memtrace-diff: a and b (paths or open Snapshots) group by group. by:
    type, module, site, traceback, column or device; sort: delta, bytes or
    count; top: the first N groups (None: all); min_delta: leave out
    groups whose bytes changed by less. The comparison runs without the
    GIL. Raises NotFoundError when a snapshot lacks what by needs."""
    opened = []
    try:
        sa = _snapshot(a, salvage, opened)
        sb = _snapshot(b, salvage, opened)
        d = _analyze.diff(sa._s, sb._s, by=by, sort=sort, top=top or 0, min_delta=min_delta)
    finally:
        for s in opened:
            s.close()
    cols = _DIFF_COLUMNS + (_MATCHED_COLUMNS if d["matched"] else [])
    d["groups"] = table(d["groups"], cols)
    return Diff(**d)


def leaks(paths, top=10, min_growth=0, floor=0, salvage=False, stdlib_frames=False):
    """memtrace-leaks over three or more snapshots of one process, in time
    order: leak suspects (with the container they accumulate in, its path
    to a root, and series) and groups that grow without leaking. top: at
    most N of each (None or 0: all); min_growth, floor: as
    --min-growth and --floor (0: the tool's defaults). Snapshots are loaded
    one at a time, without the GIL."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]  # one path: the tool's "needs three snapshots", not one a character
    d = _analyze.leaks([os.fspath(p) for p in paths], top=top or 0, min_growth=min_growth, floor=floor,
                       salvage=salvage, stdlib_frames=stdlib_frames)
    rows = []
    for s in d["suspects"]:
        r = dict(s)
        p = s["accumulation_point"] or {}
        r["point_type"] = p.get("type")
        r["point_path"] = p.get("path")
        r.setdefault("site", None)
        rows.append(r)
    d["suspect_table"] = table(rows, _SUSPECT_COLUMNS)
    d["growing"] = table(d["not_leaking"], _GROWING_COLUMNS)
    return Leaks(**d)


# The core analyses (open, info, frames, columns, diff, leaks) are defined
# above; the rest live in _analyze_extra, one section a concern, and
# allocation traces in _analyze_trace.
from memtrace import _analyze_extra  # noqa: E402
from memtrace._analyze_extra import *  # noqa: E402,F401,F403

__all__ += _analyze_extra.__all__

from memtrace import _analyze_trace  # noqa: E402
from memtrace._analyze_trace import *  # noqa: E402,F401,F403

__all__ += _analyze_trace.__all__
