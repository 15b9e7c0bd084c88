"""DataFrame snapshots: memtrace.dump_frames and memtrace.pipeline.

Every column is read once, in C (column_stats), over pandas' own buffers:
nothing is copied and no Python code runs per row. Numeric columns are
scanned without the GIL, two at a time. The records are df_frames,
df_columns, df_values and df_sketches of memtrace-snap(5).
"""

import concurrent.futures
import os
import time
import tracemalloc

from . import _sampling
from ._memtrace import ObjectLedger, Writer, column_stats, rss

# Flags of df_columns (memtrace-snap(5)).
KEY, SORTED, UNIQUE, F32_EXACT, INTEGRAL, DISTINCT_EST, DBYTES_EST, MIXED, DATETIME_TEXT = (1 << i for i in range(9))
REAL_RECORDED, REAL_EST = 1 << 10, 1 << 11
FRAME_REAL_RECORDED = 2  # df_frames flag bit 1

_TOP = 20       # most common values kept per key column
_SKETCH = 1024  # hashes in a key column's kmv sketch


def _write_meta(w, tool, label, start_ns):
    import numpy
    import pandas
    w.add_process_meta(tool, label=None if label is None else str(label), start_time=start_ns,
                       traced=tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else None)
    w.add_meta("pandas_version", pandas.__version__)
    w.add_meta("numpy_version", numpy.__version__)


def _scalar(v):
    """A value as a df_values or min/max record holds it."""
    import numpy as np
    import pandas as pd
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        v = int(v)
        return v if -(1 << 63) <= v < (1 << 64) else str(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, (pd.Timestamp, pd.Timedelta)):
        return int(v.value)
    if isinstance(v, (np.datetime64, np.timedelta64)):
        return int(v.astype("int64"))
    if isinstance(v, (str, bytes)):
        return v
    return str(v)


def _index_facts(index):
    """kind, nlevels, levels bytes, codes bytes of a row or column index."""
    import pandas as pd
    if isinstance(index, pd.MultiIndex):
        return ("multi", index.nlevels, sum(int(lv.memory_usage(deep=True)) for lv in index.levels),
                sum(int(c.nbytes) for c in index.codes))
    if isinstance(index, pd.RangeIndex):
        return "range", 1, 0, 0
    return str(index.dtype), 1, 0, 0


class _Column:
    """One column's record, filled by plan() (with the GIL) and scan()
    (the part that may run without it)."""

    def __init__(self, position, label, series, key):
        self.position = position
        self.series = series
        self.key = key
        self.rec = {"name": str(label), "dtype": str(series.dtype)}
        self.data = None      # the buffer column_stats reads
        self.kind = "n"
        self.opts = {}
        self.stats = None

    def plan(self):
        """Chooses the buffer to scan and fills the sizes pandas knows."""
        import numpy as np
        import pandas as pd
        from pandas.api.types import is_object_dtype
        s, rec = self.series, self.rec
        arr = s.array
        dtype = s.dtype
        self.opts = {"sketch": _SKETCH if self.key else 0, "top": _TOP if self.key else 0}
        rec["shallow_bytes"] = int(s.memory_usage(index=False, deep=False))
        if isinstance(dtype, pd.CategoricalDtype):
            cats = dtype.categories
            self.kind = "c"
            self.data = arr.codes
            self.opts["code_hashes"] = _category_hashes(cats)
            cbytes = int(cats.memory_usage(deep=True))
            rec.update(categories=len(cats), categories_bytes=cbytes, code_bytes=int(arr.codes.itemsize),
                       deep_bytes=int(arr.codes.nbytes) + cbytes)
        elif isinstance(dtype, pd.SparseDtype):
            sp = arr.sp_values
            self.data, self.kind = _buffer_of(sp)
            if self.kind == "O":
                self.opts["nulls"] = (pd.NA, pd.NaT)
            rec.update(deep_bytes=int(s.memory_usage(index=False, deep=True)), fill_value=_scalar(arr.fill_value),
                       density=float(arr.density), dense_bytes=len(s) * int(np.dtype(dtype.subtype).itemsize))
        elif hasattr(arr, "_mask") and hasattr(arr, "_data"):
            # Nullable Int*, UInt*, Float*, boolean: values and a mask.
            self.data, self.opts["mask"] = arr._data, arr._mask.view("u1")
            rec["deep_bytes"] = rec["shallow_bytes"]
        elif dtype.kind in "mM" or isinstance(dtype, pd.PeriodDtype):
            self.data, self.kind = arr.asi8, "t"
            rec["deep_bytes"] = rec["shallow_bytes"]
        elif is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype) and hasattr(arr, "_ndarray"):
            self.data = arr._ndarray if hasattr(arr, "_ndarray") else s.to_numpy()
            self.kind = "O"
            self.opts["nulls"] = (pd.NA, pd.NaT)
        elif isinstance(dtype, np.dtype) and dtype.kind in "biuf":
            self.data = s.to_numpy(copy=False)
            rec["deep_bytes"] = rec["shallow_bytes"]
        else:
            # Intervals and other extension arrays: their objects, a copy.
            self.data, self.kind = np.asarray(arr, dtype=object), "O"
            self.opts["nulls"] = (pd.NA, pd.NaT)
            rec["deep_bytes"] = int(s.memory_usage(index=False, deep=True))

    def scan(self):
        self.stats = column_stats(self.data, self.kind, **self.opts)

    def finish(self, rows):
        """Fills the record from the scan; returns (record, top values, sketch)."""
        import pandas as pd
        st, rec = self.stats, self.rec
        s = self.series
        nulls = st["nulls"]
        count = st["count"]
        distinct = st["distinct"]
        mn, mx = st["min"], st["max"]
        if isinstance(s.dtype, pd.SparseDtype):
            # The fill value stands for the rows not stored.
            hidden = rows - len(self.data)
            fill = s.array.fill_value
            if hidden and pd.isna(fill):
                nulls += hidden
            elif hidden:
                count += hidden
                distinct += 1
                if mn is not None and isinstance(fill, (int, float)) and not isinstance(fill, bool):
                    mn, mx = min(mn, fill), max(mx, fill)
        if self.kind == "O":
            if "deep_bytes" not in rec:
                rec["deep_bytes"] = rec["shallow_bytes"] + st["sizeof_total"]
            rec.update(distinct_bytes=st["distinct_bytes"], text_count=st["text"], len_min=st["len_min"],
                       len_max=st["len_max"], len_total=st["len_total"], value_type=_type_name(st["value_type"]))
        if s.dtype == bool or str(s.dtype) == "boolean":
            mn = None if mn is None else bool(mn)
            mx = None if mx is None else bool(mx)
        flags = KEY if self.key else 0
        if st["sorted"] and not nulls:
            flags |= SORTED
        if st["distinct_exact"] and distinct == count and not nulls:
            flags |= UNIQUE
        if st["f32_exact"] and self.kind == "n":
            flags |= F32_EXACT
        if st["integral"]:
            flags |= INTEGRAL
        if not st["distinct_exact"]:
            flags |= DISTINCT_EST
        if self.kind == "O" and not st["distinct_bytes_exact"]:
            flags |= DBYTES_EST
        if self.kind == "O" and st["mixed"]:
            flags |= MIXED
        if self.kind == "O" and st["datetime_text"]:
            flags |= DATETIME_TEXT
        if self.kind == "O" and st["datetime_format"]: rec["datetime_format"], flags = st["datetime_format"], flags | st["datetime_flags"]
        rec.update(null_count=nulls, distinct_count=distinct, min=mn, max=mx, flags=flags,
                   f32_max_rel_error=st["f32_max_rel_error"])
        top = []
        if self.key:
            # Rows of the scanned buffer (codes, stored points), not of s:
            # pandas' value_counts would copy the column.
            cats = s.cat.categories if isinstance(s.dtype, pd.CategoricalDtype) else None
            for row, n in st["top"]:
                v = self.data[row]
                top.append((_scalar(cats[v] if cats is not None else v), n))
            if isinstance(s.dtype, pd.SparseDtype) and not pd.isna(s.array.fill_value):
                hidden = rows - len(self.data)
                if hidden:
                    top.append((_scalar(s.array.fill_value), hidden))
                    top.sort(key=lambda vn: -vn[1])
                    top = top[:_TOP]
        return rec, top, st["sketch"] if self.key else b""


def _type_name(t):
    """The value_type of df_columns: "str", "decimal.Decimal"; "" for none."""
    if t is None:
        return ""
    return t.__qualname__ if t.__module__ == "builtins" else t.__module__ + "." + t.__qualname__


def _buffer_of(values):
    """(buffer, kind) for a numpy array of any dtype."""
    import numpy as np
    values = np.asarray(values)
    if values.dtype.kind in "mM":
        return values.view("i8"), "t"
    if values.dtype.kind == "O":
        return values, "O"
    return values, "n"


def _category_hashes(cats):
    """The value hash of each category, read as a column of the
    categories' dtype is read, so that a categorical key and a plain one
    hash alike."""
    import pandas as pd
    c = _Column(0, "categories", pd.Series(cats), False)
    c.plan()
    return column_stats(c.data, c.kind, hashes=True, **c.opts)["hashes"]


class _Ledger:
    """What the frames of one block (a dump_frames call, a pipeline step)
    hold, for df_frames and df_columns real_bytes and shared_bytes: numpy
    buffers by data address and size, Python objects by identity (in C,
    ObjectLedger). Each is charged once to a frame, and is shared when a
    frame written before it in the block was charged for it too."""

    def __init__(self, max_objects=None):
        # max_objects: distinct objects kept exactly, then sampled (the
        # notebook's per-cell ledger keeps fewer, to stay cheap).
        self.objects = ObjectLedger() if max_objects is None else ObjectLedger(max_objects=max_objects)
        self.buffers = {}  # (kind, ...) -> the last frame charged (engines)
        self.lanes = {}    # lane -> [starts, ranges, longest] of charged intervals
        self.frame = 0

    def next_frame(self):
        self.frame += 1
        self.objects.next_frame()

    def _charge(self, lane, start, end):
        """(new, shared) of the interval [start, end) of a lane: the part
        this frame was not charged for yet, and of that the part an
        earlier frame was."""
        import bisect
        starts, ranges, longest = self.lanes.setdefault(lane, [[], [], 0])
        lo = bisect.bisect_left(starts, start - longest)
        hi = bisect.bisect_left(starts, end)
        mine, earlier = [], []
        for s, e, f in ranges[lo:hi]:
            if e > start:
                (mine if f == self.frame else earlier).append((max(s, start), min(e, end)))
        new = _minus([(start, end)], mine)
        charged = sum(e - s for s, e in new)
        shared = sum(e - s for s, e in _intersect(new, earlier))
        if charged:
            at = bisect.bisect_left(starts, start)
            starts.insert(at, start)
            ranges.insert(at, (start, end, self.frame))
            self.lanes[lane][2] = max(longest, end - start)
        return charged, shared

    def buffer(self, a):
        """(bytes, shared) of numpy array a's data: the bytes of its
        address range that this frame was not charged for yet, and of
        those the ones an earlier frame was. Live buffers overlap only
        where they are the same memory (a view, a shallow copy)."""
        nbytes = int(a.nbytes)
        if not nbytes:
            return 0, 0
        start = a.__array_interface__["data"][0]
        if a.ndim == 1 and a.strides[0] == -a.itemsize:
            start -= (len(a) - 1) * a.itemsize
        elif a.ndim == 1 and not a.flags.c_contiguous:
            # Strided, as a column of a frame built from a C-order 2-D
            # array (stride = the row's width): its items lie on a lane,
            # the addresses congruent to start modulo the stride, so two
            # views on one lane (the column and a row slice of it) overlap
            # where their item indices do.
            step = abs(a.strides[0])
            if a.strides[0] < 0:
                start -= (len(a) - 1) * step
            first = start // step
            items, shared = self._charge(("lane", step, start % step, a.itemsize), first, first + len(a))
            return items * a.itemsize, shared * a.itemsize
        elif not (a.flags.c_contiguous or a.flags.f_contiguous):
            # More dimensions and strided: known by its layout only.
            key = ("strided", start, nbytes, a.strides)
            last = self.buffers.get(key)
            if last == self.frame:
                return 0, 0
            self.buffers[key] = self.frame
            return nbytes, nbytes if last is not None else 0
        return self._charge(None, start, start + nbytes)

    def array(self, arr):
        """(bytes, shared, estimated) of a numpy or pandas array: its
        buffers and the objects it references."""
        import numpy as np
        import pandas as pd
        if isinstance(arr, pd.Index) and "_engine" in getattr(arr, "_cache", {}):
            # Its hash table, built by a lookup (pandas counts it too).
            b, sh, est = self.array(arr._values)
            eb, esh = self._engine(arr._engine)
            return b + eb, sh + esh, est
        if isinstance(arr, (pd.Index, pd.Series)):
            arr = arr._values
        if isinstance(arr, pd.Categorical):
            b, sh = self.buffer(arr.codes)
            cb, csh, est = self.array(arr.categories)
            return b + cb, sh + csh, est
        if isinstance(arr, pd.arrays.SparseArray):
            b, sh, est = self.array(arr.sp_values)
            return b + int(arr.nbytes) - int(arr.sp_values.nbytes), sh, est
        if hasattr(arr, "_mask") and hasattr(arr, "_data"):
            b, sh = self.buffer(arr._data)
            mb, msh = self.buffer(arr._mask)
            return b + mb, sh + msh, False
        if not isinstance(arr, np.ndarray) and isinstance(getattr(arr, "_ndarray", None), np.ndarray):
            arr = arr._ndarray  # datetimes, periods, timedeltas, numpy-backed strings
        if isinstance(arr, np.ndarray):
            b, sh = self.buffer(arr)
            if arr.dtype.kind != "O":
                return b, sh, False
            if arr.ndim != 1:
                arr = arr.ravel()
            ob, osh, est = self.objects.objects(arr, skip=(pd.NA, pd.NaT))
            return b + ob, sh + osh, est
        # Arrow-backed and other extension arrays: what they say they hold.
        return int(getattr(arr, "nbytes", 0)), 0, False

    def _engine(self, engine):
        """(bytes, shared) of an index's lookup engine, by identity."""
        key = ("engine", id(engine))
        last = self.buffers.get(key)
        if last == self.frame:
            return 0, 0
        self.buffers[key] = self.frame
        b = int(engine.sizeof(deep=False))
        return b, b if last is not None else 0

    def index(self, index):
        """(bytes, shared) of a row index: 0 for a RangeIndex."""
        import pandas as pd
        if isinstance(index, pd.RangeIndex):
            return 0, 0
        if isinstance(index, pd.MultiIndex):
            b = sh = 0
            for lv in index.levels:
                lb, lsh, _ = self.array(lv)
                b, sh = b + lb, sh + lsh
            for c in index.codes:
                cb, csh = self.buffer(c)
                b, sh = b + cb, sh + csh
            return b, sh
        b, sh, _ = self.array(index)
        return b, sh


def _minus(ranges, cut):
    """The parts of sorted disjoint ranges outside the ranges of cut."""
    for cs, ce in sorted(cut):
        out = []
        for s, e in ranges:
            if ce <= s or cs >= e:
                out.append((s, e))
                continue
            if s < cs:
                out.append((s, cs))
            if ce < e:
                out.append((ce, e))
        ranges = out
    return ranges


def _intersect(ranges, other):
    """The bytes of ranges (disjoint) that other's ranges (which may
    overlap each other) cover, as disjoint ranges."""
    hit = []
    for s, e in ranges:
        for os_, oe in other:
            if os_ < e and oe > s:
                hit.append((max(s, os_), min(e, oe)))
    merged = []
    for s, e in sorted(hit):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _charge_frame(ledger, cols, recs, index):
    """Sets real_bytes on each column record (each object once in the
    frame, an earlier column's not again) and returns the frame's
    (real_bytes, shared_bytes): its columns, then its index."""
    ledger.next_frame()
    real = shared = 0
    for c, (rec, _, _) in zip(cols, recs):
        if c.kind == "O" and c.data is not None and not _holds_objects(c.series):
            # A copy made for the scan (intervals): pandas' count.
            b, sh, est = rec["deep_bytes"], 0, False
        else:
            b, sh, est = ledger.array(c.series.array)
        rec["real_bytes"] = b
        rec["flags"] = rec.get("flags", 0) | REAL_RECORDED | (REAL_EST if est else 0)
        real, shared = real + b, shared + sh
    ib, ish = ledger.index(index)
    return real + ib, shared + ish


def frame_real_bytes(df, ledger=None):
    """(real_bytes, shared_bytes, estimated) of DataFrame df as the
    ledger charges it (SPEC.md 4.3): its columns' buffers and the distinct
    objects they reference, each once, then its row index. With a ledger
    that charged other frames before, shared_bytes is what they also hold.
    estimated: the ledger sampled objects (past its max_objects)."""
    ledger = _Ledger() if ledger is None else ledger
    ledger.next_frame()
    real = shared = 0
    estimated = False
    for _, s in df.items():
        b, sh, est = ledger.array(s.array)
        real, shared, estimated = real + b, shared + sh, estimated or est
    ib, ish = ledger.index(df.index)
    return real + ib, shared + ish, estimated


def _holds_objects(series):
    """Whether series' values are Python objects it holds (not a copy)."""
    import pandas as pd
    from pandas.api.types import is_object_dtype
    d = series.dtype
    return is_object_dtype(d) or isinstance(d, (pd.StringDtype, pd.SparseDtype, pd.CategoricalDtype))


class _FrameWriter:
    """Writes frames to a Writer, numbering them from 1."""

    def __init__(self, writer, keys, threads):
        self.w = writer
        self.keys = keys
        self.next_id = 1
        self.columns = 0
        self.ledger = _Ledger()
        self.pool = concurrent.futures.ThreadPoolExecutor(threads) if threads > 1 else None

    def close(self):
        if self.pool:
            self.pool.shutdown()

    def write(self, name, df, step=None, time_ns=0, keys=None):
        import pandas as pd
        if isinstance(df, pd.Series):
            df = df.to_frame()
        if not isinstance(df, pd.DataFrame):
            raise TypeError("frames must be DataFrames (or Series), not %s" % type(df).__name__)
        keys = set(self.keys if keys is None else keys)
        fid = self.next_id
        self.next_id += 1
        rows = len(df)
        cols = [_Column(i, label, s, str(label) in keys or label in keys)
                for i, (label, s) in enumerate(df.items())]
        for c in cols:
            c.plan()
        # Object columns call Python (__sizeof__) and keep the GIL; the others
        # run in the pool while this thread does them.
        tasks = [c.scan for c in cols if c.kind != "O"]
        futures = [self.pool.submit(t) for t in tasks] if self.pool else []
        for c in cols:
            if c.kind == "O":
                c.scan()
        if not self.pool:
            for t in tasks:
                t()
        for f in futures:
            f.result()
        index = df.index
        ikind, inl, ilev, icod = _index_facts(index)
        ckind, cnl, clev, ccod = _index_facts(df.columns)
        ideep = int(index.memory_usage(deep=True))
        ishallow = int(index.memory_usage())
        recs = [c.finish(rows) for c in cols]
        real, shared = _charge_frame(self.ledger, cols, recs, index)
        self.w.add_df_frame(fid, str(name), rows, len(cols), index_kind=ikind, index_bytes=ideep,
                            shallow_bytes=ishallow + sum(r["shallow_bytes"] for r, _, _ in recs),
                            deep_bytes=ideep + sum(r["deep_bytes"] for r, _, _ in recs), step=step,
                            index_shallow_bytes=ishallow, index_levels_bytes=ilev, index_codes_bytes=icod,
                            index_nlevels=inl, columns_kind=ckind, columns_levels_bytes=clev,
                            columns_codes_bytes=ccod, columns_nlevels=cnl, time_ns=time_ns,
                            real_bytes=real, shared_bytes=shared, flags=FRAME_REAL_RECORDED)
        for c, (rec, top, sketch) in zip(cols, recs):
            self.w.add_df_column(fid, c.position, rec.pop("name"), rec.pop("dtype"), rec.pop("shallow_bytes"),
                                 rec.pop("deep_bytes"), **rec)
            for v, n in top:
                if v is not None:
                    self.w.add_df_value(fid, c.position, v, n)
            if sketch:
                self.w.add_df_sketch(fid, c.position, "kmv", sketch)
        self.columns += len(cols)
        return fid


def _named(frames, default):
    import pandas as pd
    if isinstance(frames, (pd.DataFrame, pd.Series)):
        return [(default, frames)]
    if isinstance(frames, dict):
        return list(frames.items())
    raise TypeError("frames must be a DataFrame or a dict of name -> DataFrame, not %s" % type(frames).__name__)


def dump_frames(path, frames, *, keys=None, label=None, threads=2):
    """Write a DataFrame snapshot of frames (a DataFrame, named "df", or a
    dict of name -> DataFrame) to path.

    Per frame: rows, columns, the index and its memory (a MultiIndex's
    levels and codes apart), shallow and deep bytes exactly as pandas'
    memory_usage() and memory_usage(deep=True), and the real bytes it holds
    (buffers and each distinct object once) with the part of them a frame
    before it in frames also holds. Per column: dtype, shallow, deep and
    real bytes, distinct objects' bytes, nulls, distinct values (exact
    up to 65536, estimated beyond), min and max, float32 exactness, string
    lengths, categories, sparse density. Columns named in keys (join and
    group keys) also get their most common values and a kmv sketch.
    Returns {path, frames, columns, bytes, seconds}."""
    t0 = time.perf_counter()
    start = time.time_ns()
    named = _named(frames, "df")
    with Writer(path) as w:
        _write_meta(w, "memtrace.dump_frames", label, start)
        fw = _FrameWriter(w, keys or (), threads)
        try:
            for name, df in named:
                fw.write(name, df, time_ns=time.time_ns() - start)
        finally:
            fw.close()
    return {"path": os.fspath(path), "frames": len(named), "columns": fw.columns,
            "bytes": os.path.getsize(path), "seconds": time.perf_counter() - t0}


class Pipeline:
    """Records a pipeline's steps into one snapshot: at each step the
    process RSS, the traced memory and its peak since the last step, and
    the frames given. Each step is flushed to disk before step() returns,
    so a crash keeps every finished step. Use memtrace.pipeline()."""

    def __init__(self, path, *, keys=None, label=None, trace=True, threads=2):
        self.path = os.fspath(path)
        self._start = time.time_ns()
        self._started_tracing = bool(trace) and not tracemalloc.is_tracing()
        if self._started_tracing:
            tracemalloc.start()
        self._w = Writer(self.path)
        _write_meta(self._w, "memtrace.pipeline", label, self._start)
        self._fw = _FrameWriter(self._w, keys or (), threads)
        self.steps = []
        self._w.flush()

    def step(self, name, frames=None, *, keys=None):
        """Records step name: memory now, and frames (a DataFrame or a dict
        of name -> DataFrame; a single frame is named after the step).
        keys, when given, names this step's key columns in place of the
        pipeline's."""
        if self._w.closed:
            raise ValueError("the pipeline is closed")
        # While memtrace.sampling runs, the step is also an event of its
        # run file, and the samples that follow carry its name.
        sampler = _sampling.active()
        if sampler is not None:
            sampler.step(name)  # a step of the running trace too
        else:
            from ._tracing import active as _trace_active
            t = _trace_active()
            if t is not None:
                t.step(name)
        now = time.time_ns() - self._start
        # Measured before this dump allocates anything.
        resident = rss()
        traced = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else None
        if resident:
            self._w.add_sample("rss", resident, time_ns=now, step=name)
        if traced:
            self._w.add_sample("traced", traced[0], time_ns=now, step=name)
            self._w.add_sample("traced_peak", traced[1], time_ns=now, step=name)
        if frames is not None:
            self._fw.ledger = _Ledger()  # a step's frames share among themselves only
            for fname, df in _named(frames, name):
                self._fw.write(fname, df, step=name, time_ns=now, keys=keys)
        self._w.flush()
        if traced:
            tracemalloc.reset_peak()  # the next step's peak is its own
        self.steps.append(name)

    def close(self):
        """Writes the index and closes the file (the with block does it);
        a second call does nothing."""
        if self._w.closed:
            return
        try:
            self._fw.close()
            self._w.close()
        finally:
            if self._started_tracing:
                tracemalloc.stop()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None and not self._w.closed:
            self._w.add_meta("error", "%s: %s" % (exc_type.__name__, exc))
        self.close()
        return False


def pipeline(path, *, keys=None, label=None, trace=True, threads=2):
    """with memtrace.pipeline("run.snap") as p: ...; p.step("load", df)

    trace=True starts tracemalloc for the pipeline's duration when it is
    not already tracing, so that each step records the traced memory and
    its peak; trace=False records RSS only (and tracemalloc's figures
    when the caller traces)."""
    return Pipeline(path, keys=keys, label=label, trace=trace, threads=threads)
