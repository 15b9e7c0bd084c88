"""memtrace.notebook: memory cell by cell in IPython and Jupyter.

    %load_ext memtrace          # every cell from now on is recorded
    %memtrace status            # where the log is, what it costs
    %memtrace report            # cells by peak and by what they kept
    %memtrace plot              # memory over cells, with the cell numbers

For every cell the recorder writes one nb_cells record into the
notebook's cell log (memtrace-snap(5), section 4.4): its execution count,
source (first line) and a hash of all of it, its times, rss before and
after and the peak inside it (the kernel's own high-water mark, reset
before the cell through /proc/self/clear_refs: exact, free, and no thread;
where that file cannot be written, a sampling thread that may miss a
spike shorter than its 5 ms interval), tracemalloc's figures while it
traces, whether it raised or was interrupted, and after it the pandas
DataFrames that it created or grew, the objects the collector tracks by
type (the types whose count changed) and GPU memory per CUDA device when
torch.cuda is in use. The log is appended to, under a lock, and flushed
after every cell: a kernel that dies loses at most the cell it was
running, and a restarted kernel adds a session to the same file.

memtrace-cells(1) reads the log offline; memtrace-plot(1) cells draws it.
"""

import atexit
import hashlib
import os
import socket
import sys
import threading
import time

from . import _memtrace
from . import _tools

MiB = 1 << 20
FLAG_PEAK_EXACT, FLAG_PEAK_SAMPLED, FLAG_TRACED = 1, 2, 4
FRAME_DEEP_EST = 1
FRAME_REAL_RECORDED = 2  # df_frames flags bit 1: real_bytes and shared_bytes recorded
FRAME_REAL_EST = 4  # df_frames flags bit 2: real_bytes from sampled objects
SOURCE_MAX = 200          # bytes of a cell's first line kept in the log
EXACT_OBJECT_ROWS = 10000  # object columns up to this many rows are measured whole
SAMPLE_ROWS = 1000         # beyond it, this many rows, evenly spaced
LEDGER_OBJECTS = 8192      # real bytes: distinct objects charged exactly, then sampled by address hash
TYPES_BUDGET_NS = 2_000_000  # counting types after every cell while it costs less


def _clear_refs_works():
    """Whether the peak rss can be reset (Linux >= 4.0; refused in some
    sandboxes): the high-water mark then measures each cell exactly."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _vm_hwm() > 0
    except OSError:
        return False


def _reset_hwm():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _vm_hwm():
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class _PeakThread:
    """The fallback when the high-water mark cannot be reset: rss every
    5 ms while a cell runs. It needs the GIL between reads, so a C call
    that holds it longer (rare for large allocations, which release it
    or are brief) can hide a spike: such a peak is marked sampled."""

    def __init__(self, interval=0.005):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._t = None

    def start(self, rss):
        self.peak = rss
        self._stop.clear()
        self._t = threading.Thread(target=self._run, name="memtrace-cell-peak", daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.wait(self.interval):
            r = _memtrace.rss()
            if r > self.peak:
                self.peak = r

    def stop(self):
        self._stop.set()
        if self._t is not None:
            self._t.join()
            self._t = None
        return self.peak


def _first_line(raw):
    """A cell's first non-blank line, cut at SOURCE_MAX bytes."""
    first = raw.strip().split("\n", 1)[0] if raw.strip() else ""
    if len(first.encode()) > SOURCE_MAX:
        first = first.encode()[:SOURCE_MAX].decode(errors="ignore")
    return first


def _type_name(t):
    m = getattr(t, "__module__", None)
    q = getattr(t, "__qualname__", t.__name__)
    return q if m in (None, "builtins") else "%s.%s" % (m, q)


def _notebook_path(shell):
    """The notebook the kernel runs, when the front end says: Jupyter
    Server 2 sets JPY_SESSION_NAME (ipykernel also puts it in __session__),
    VS Code sets __vsc_ipynb_file__."""
    for v in (os.environ.get("JPY_SESSION_NAME"), shell.user_ns.get("__session__"),
              shell.user_ns.get("__vsc_ipynb_file__")):
        if isinstance(v, str) and v:
            return v
    return None


def _kernel_id():
    """The kernel's id from its connection file (kernel-ID.json), else ''."""
    try:
        from ipykernel.connect import get_connection_file
        name = os.path.basename(get_connection_file())
        if name.startswith("kernel-") and name.endswith(".json"):
            return name[7:-5]
    except Exception:  # not in a kernel (plain IPython), or an old ipykernel
        pass
    return ""


def log_path_for(shell, directory=None):
    """Where the cell log of this kernel goes: NOTEBOOK.memtrace.snap
    beside the notebook (or in directory, $MEMTRACE_CELL_DIR), or, when
    the notebook is unknown, ipython-KERNEL.memtrace.snap in the current
    directory. $MEMTRACE_CELL_LOG names the file outright."""
    explicit = os.environ.get("MEMTRACE_CELL_LOG")
    if explicit:
        return os.path.abspath(explicit)
    directory = directory or os.environ.get("MEMTRACE_CELL_DIR")
    nb = _notebook_path(shell)
    if nb:
        base = os.path.basename(nb)
        if base.endswith(".ipynb"):
            base = base[:-6]
        # Jupyter Server gives the notebook's path relative to its root,
        # and starts the kernel in the notebook's directory.
        where = directory or (os.path.dirname(nb) if os.path.isabs(nb) else os.getcwd())
    else:
        base = "ipython-%s" % (_kernel_id() or os.getpid())
        where = directory or os.getcwd()
    return os.path.join(where, base + ".memtrace.snap")


class CellRecorder:
    """Records every cell of an IPython shell into a cell log; see the
    module's documentation. frames, types and gpu turn those parts off
    (types="auto", the default, counts the collector's objects after
    every cell while that costs under 2 ms, and otherwise after the cells
    whose rss grew by 1 MiB or more)."""

    def __init__(self, shell, path=None, *, frames=True, types="auto", gpu=True):
        self.shell = shell
        self.requested = path
        self.frames = frames
        self.types = types
        self.gpu = gpu
        self.path = None       # the log, while recording
        self.session = 0
        self.cell_id = 0       # the cell now running (or the last one)
        self.cells = 0         # recorded by this session
        self.after_cell = []   # f(cell dict) after every cell (magics)
        self.note = None       # said once at start (another kernel holds the log)
        self.overhead_ns = 0   # all this session's hooks together
        self._w = None
        self._pre = None
        # MEMTRACE_CELL_PEAK=sampled forces the sampling thread (to measure
        # it, or where a reset high-water mark misleads a tool).
        self._exact = os.environ.get("MEMTRACE_CELL_PEAK") != "sampled" and _clear_refs_works()
        self._peak_thread = None if self._exact else _PeakThread()
        self._frames_seen = {}  # name -> (id(df), fingerprint, deep)
        self._types_last = None
        self._types_cost = 0
        self._dump_dir = None
        self._peak_floor = 0
        self._pid = os.getpid()
        self._warned = set()
        os.register_at_fork(after_in_child=self._forget_after_fork)

    # -- starting and stopping -------------------------------------------

    def start(self):
        """Opens (or creates) the log, records a session and hooks the
        shell; a second start does nothing. Returns self."""
        if self._w is not None:
            return self
        path = os.path.abspath(self.requested or log_path_for(self.shell))
        w, path = self._open(path)
        self.cells = 0
        self.overhead_ns = 0
        self._pid = os.getpid()
        # Where the log stands, from its block headers (a collector links
        # the writer only and reads no records): the first session writes
        # the file's four meta records and every session one `session`
        # meta, so the meta count numbers the sessions.
        metas = w.count("meta")
        if metas == 0:
            for key, value in (("log", "cells"), ("clock", "unix"), ("tool", "memtrace.notebook"),
                               ("tool_version", _memtrace.__version__)):
                w.add_meta(key, value)
        self.session = max(metas - 3, 1)
        w.add_meta("session", self.session)
        self._w = w
        self.path = path
        self.cell_id = w.count("nb_cells")
        detail = "python %d.%d.%d, pid %d on %s" % (sys.version_info[:3] + (os.getpid(), socket.gethostname()))
        nb = _notebook_path(self.shell)
        if nb:
            detail += ", notebook " + nb
        now = time.time_ns()
        w.add_event("session", _kernel_id() or "pid-%d" % os.getpid(), float(self.session), detail, time_ns=now)
        if self.types:
            # The baseline of the counts after each cell: every type now.
            t0 = time.perf_counter_ns()
            self._types_last = self._count_types()
            self._types_cost = time.perf_counter_ns() - t0
            step = "session:%d" % self.session
            for name, n in sorted(self._types_last.items()):
                w.add_sample("gc." + name, float(n), time_ns=now, step=step)
        w.flush()
        self.shell.events.register("pre_run_cell", self._pre_run_cell)
        self.shell.events.register("post_run_cell", self._post_run_cell)
        atexit.register(self.stop)  # a kernel shut down or restarted ends its session
        return self

    def _open(self, path):
        """The writer of the log at path, or, when that cannot be appended
        to (another kernel holds it, it is damaged, its directory is read
        only), of a log of this kernel's own beside it or in the temporary
        directory, with a note saying why. Recording never stops a kernel."""
        try:
            return _memtrace.Writer(path, append=True), path
        except (OSError, ValueError) as e:
            why = ("is being written by another kernel" if isinstance(e, BlockingIOError)
                   else "cannot be appended to (%s)" % e)
        root = path[:-len(".memtrace.snap")] if path.endswith(".memtrace.snap") else path
        name = "%s.kernel-%d.memtrace.snap" % (os.path.basename(root), os.getpid())
        import tempfile
        for where in (os.path.dirname(path), tempfile.gettempdir()):
            alt = os.path.join(where, name)
            try:
                w = _memtrace.Writer(alt, append=True)
            except (OSError, ValueError):
                continue
            self.note = "memtrace: %s %s; this kernel records into %s" % (path, why, alt)
            return w, alt
        raise OSError("memtrace: %s %s, and no other log could be created" % (path, why))

    def _forget_after_fork(self):
        # A forked child (multiprocessing's fork start method) shares the
        # log's file and lock: it must neither write nor close it.
        if self._w is not None and os.getpid() != self._pid:
            atexit.unregister(self.stop)
            self._w = None
            self.path = None

    def observe_peak(self, rss):
        """A peak rss seen inside the running cell by someone who reset the
        high-water mark after the recorder did (%%memtrace, line by line):
        the cell's peak is at least that."""
        self._peak_floor = max(self._peak_floor, int(rss))

    def stop(self):
        """Unhooks the shell, records the end of the session and closes
        the log; a second stop does nothing."""
        if self._w is None:
            return
        if os.getpid() != self._pid:
            self._forget_after_fork()
            return
        for name, fn in (("pre_run_cell", self._pre_run_cell), ("post_run_cell", self._post_run_cell)):
            try:
                self.shell.events.unregister(name, fn)
            except ValueError:
                pass
        atexit.unregister(self.stop)
        if self._pre is not None and self._peak_thread is not None:
            self._peak_thread.stop()  # stopped inside a cell (%memtrace off)
        w, self._w = self._w, None
        try:
            w.add_event("session_end", None, float(self.session), None, time_ns=time.time_ns())
            w.close()
        finally:
            self.path = None
            self._pre = None

    @property
    def recording(self):
        return self._w is not None

    def event(self, kind, name=None, value=0.0, detail=None):
        """An event in the log now (a dump a magic took); nothing when off."""
        if self._w is not None:
            self._w.add_event(kind, name, float(value), detail, time_ns=time.time_ns())
            self._w.flush()

    def dump_dir(self):
        """A directory for the dumps the magics take: LOG.d beside the
        log, or a temporary one while not recording."""
        if self.path:
            d = self.path + ".d"
        else:
            if self._dump_dir is None:
                import tempfile
                self._dump_dir = tempfile.mkdtemp(prefix="memtrace-")
            d = self._dump_dir
        os.makedirs(d, exist_ok=True)
        return d

    # -- the hooks ---------------------------------------------------------

    def _pre_run_cell(self, info):
        t0 = time.perf_counter_ns()
        raw = getattr(info, "raw_cell", "") or ""
        self.cell_id += 1
        rss = _memtrace.rss()
        tm = sys.modules.get("tracemalloc")
        traced = None
        if tm is not None and tm.is_tracing():
            traced = tm.get_traced_memory()[0]
            if hasattr(tm, "reset_peak"):  # 3.9
                tm.reset_peak()
        gpus = self._gpu_devices()
        for d in gpus:
            sys.modules["torch"].cuda.reset_peak_memory_stats(d)
        step = "cell:%d" % self.cell_id
        from ._sampling import active as sampling_active
        from ._tracing import active as trace_active
        s, t = sampling_active(), trace_active()
        if s is not None:
            s.step(step)  # marks the trace too
        elif t is not None:
            t.step(step)
        if self._exact:
            try:
                _reset_hwm()
            except OSError:
                self._exact = False
                self._peak_thread = _PeakThread()
        if not self._exact:
            self._peak_thread.start(rss)
        self._peak_floor = 0
        start = time.time_ns()
        self._pre = dict(raw=raw, start=start, rss=rss, traced=traced, gpus=gpus)
        if self._w is not None:
            # Flushed before the cell runs: a kernel the OOM killer ends
            # inside it leaves the cell it was running in the log.
            self._guard("the cell's start", self._started, step, raw, start, rss)
        self._pre["cost"] = time.perf_counter_ns() - t0

    def _started(self, step, raw, start, rss):
        self._w.add_event("cell_start", step, float(rss), _first_line(raw), time_ns=start)
        self._w.flush()

    def _guard(self, what, fn, *args):
        """Runs one part of the recording; a failure of it (a DataFrame
        whose __sizeof__ raises, a full disk) is said once, and the rest of
        the recording goes on: the recorder never breaks a cell."""
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001 - reported, never raised into the user's cell
            key = (what, type(e).__name__)
            if key not in self._warned:
                self._warned.add(key)
                print("memtrace: %s not recorded: %s: %s" % (what, type(e).__name__, e), file=sys.stderr)
            return None

    def _post_run_cell(self, result):
        pre, self._pre = self._pre, None
        if pre is None or self._w is None:
            return  # the cell that loaded the extension: it had no start
        self._guard("the cell", self._record, pre, result)

    def _record(self, pre, result):
        end = time.time_ns()
        t0 = time.perf_counter_ns()
        rss_after = _memtrace.rss()
        if self._exact:
            peak, flags = max(_vm_hwm(), pre["rss"], rss_after, self._peak_floor), FLAG_PEAK_EXACT
        else:
            peak, flags = max(self._peak_thread.stop(), rss_after), FLAG_PEAK_SAMPLED
        traced = {}
        tm = sys.modules.get("tracemalloc")
        if pre["traced"] is not None and tm is not None and tm.is_tracing():
            cur, tpeak = tm.get_traced_memory()
            traced = dict(traced_before=pre["traced"], traced_after=cur, traced_peak=tpeak)
            flags |= FLAG_TRACED
        err = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        if err is None:
            status, error = "ok", ""
        elif isinstance(err, KeyboardInterrupt):
            status, error = "interrupted", "KeyboardInterrupt"
        else:
            status, error = "error", ("%s: %s" % (type(err).__name__, err))[:SOURCE_MAX]
        raw = pre["raw"]
        first = _first_line(raw)
        cid, w, step = self.cell_id, self._w, "cell:%d" % self.cell_id
        cell = dict(id=cid, exec_count=getattr(result, "execution_count", None) or 0, source=first,
                    start_ns=pre["start"], end_ns=end, rss_before=pre["rss"], rss_after=rss_after,
                    session=self.session, status=status, error=error,
                    source_hash=hashlib.sha256(raw.encode(errors="replace")).hexdigest()[:16],
                    rss_peak=peak, flags=flags, **traced)
        extra = []
        if self.frames and "pandas" in sys.modules:
            extra += self._guard("DataFrames", self._frames_after, cid, step, end) or []
        samples = []
        for d in pre["gpus"]:
            samples += self._guard("GPU %d" % d, self._gpu_figures, d) or []
        if self.types and self._types_due(rss_after - pre["rss"]):
            samples += self._guard("gc type counts", self._type_changes) or []
        cell["overhead_ns"] = pre["cost"] + time.perf_counter_ns() - t0
        w.add_nb_cell(**cell)
        for kw in extra:
            w.add_df_frame(**kw)
        for series, value in samples:
            w.add_sample(series, float(value), time_ns=end, step=step)
        w.flush()
        self.cells += 1
        self.overhead_ns += time.perf_counter_ns() - t0 + pre["cost"]
        for f in list(self.after_cell):
            f(cell)

    # -- the parts -----------------------------------------------------------

    def _gpu_devices(self):
        """The CUDA devices torch has set up, without setting any up."""
        torch = sys.modules.get("torch") if self.gpu else None
        if torch is None:
            return []
        try:
            if not torch.cuda.is_initialized():
                return []
            return list(range(torch.cuda.device_count()))
        except Exception:  # a torch without CUDA, a broken driver: no GPU figures
            return []

    def _gpu_figures(self, d):
        cuda = sys.modules["torch"].cuda
        return [("gpu%d.allocated" % d, cuda.memory_allocated(d)),
                ("gpu%d.reserved" % d, cuda.memory_reserved(d)),
                ("gpu%d.peak_allocated" % d, cuda.max_memory_allocated(d))]

    def _count_types(self):
        return {_type_name(t): n for t, n in _memtrace.gc_type_counts().items()}

    def _types_due(self, grew):
        if self.types is True:
            return True
        return self._types_cost < TYPES_BUDGET_NS or grew >= MiB

    def _type_changes(self):
        t0 = time.perf_counter_ns()
        now = self._count_types()
        self._types_cost = time.perf_counter_ns() - t0
        last = self._types_last or {}
        self._types_last = now
        changed = [(n, now.get(n, 0) - last.get(n, 0)) for n in set(now) | set(last)]
        changed = [c for c in changed if c[1]]
        # Every change is written: a reader takes each count's difference
        # from the last one written, so one left out would be charged to
        # a later cell.
        changed.sort(key=lambda c: c[0])
        return [("gc." + n, now.get(n, 0)) for n, _ in changed]

    def _frames_after(self, cid, step, end):
        """df_frames records of the user's DataFrames that this cell
        created or grew (a new name, a new object, more rows, columns or
        bytes)."""
        from .frames import _Ledger, frame_real_bytes
        pd = sys.modules["pandas"]
        out, seen = [], {}
        ledger = None  # one for the frames of this cell: shared_bytes among them
        for name, obj in list(self.shell.user_ns.items()):
            if name.startswith("_") or not isinstance(obj, pd.DataFrame):
                continue
            fp = _fingerprint(obj)
            old = self._frames_seen.get(name)
            if old is not None and old[0] == id(obj) and old[1] == fp:
                seen[name] = old
                continue
            if ledger is None:
                ledger = _Ledger(max_objects=LEDGER_OBJECTS)
            # What the frame holds, each object once (the ledger walks the
            # object pointers in C, no __sizeof__ per row), and pandas' count.
            real, shared, real_est = frame_real_bytes(obj, ledger)
            deep, estimated = frame_deep_bytes(obj)
            seen[name] = (id(obj), fp, real)
            if old is not None and old[0] == id(obj) and real <= old[2]:
                continue  # the same frame, no larger
            out.append(dict(id=self._w.count("df_frames") + len(out) + 1, name=name, rows=int(obj.shape[0]),
                            columns=int(obj.shape[1]), deep_bytes=deep, step=step, time_ns=end,
                            flags=(FRAME_DEEP_EST if estimated else 0) | FRAME_REAL_RECORDED | (FRAME_REAL_EST if real_est else 0),
                            index_bytes=int(obj.index.memory_usage(deep=not estimated)),
                            real_bytes=real, shared_bytes=shared))
        self._frames_seen = seen
        return out


def _fingerprint(df):
    """What changes when a frame is replaced, reshaped or a column set
    anew: its shape and the buffers of its blocks (pandas' BlockManager;
    a pandas without one is compared by shape alone)."""
    try:
        return (df.shape, tuple(id(b.values) for b in df._mgr.blocks))
    except AttributeError:
        return (df.shape,)


def frame_deep_bytes(df):
    """(bytes, estimated): memory_usage(deep=True).sum() of df, computed
    exactly for numeric blocks (their buffers' nbytes) and for object
    columns up to EXACT_OBJECT_ROWS rows; beyond that, each object column
    is measured on SAMPLE_ROWS evenly spaced rows and scaled (estimated is
    then True). pandas' own figure walks every object: seconds on a large
    frame, after every cell."""
    n = len(df)
    if n <= EXACT_OBJECT_ROWS:
        return int(df.memory_usage(deep=True).sum()), False
    total, estimated = 0, False
    import numpy as np
    mu = df.memory_usage(deep=False)  # the index and every column's buffer
    total = int(mu.sum())
    step = max(1, n // SAMPLE_ROWS)
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        if col.dtype != object:
            if isinstance(col.dtype, np.dtype):
                continue
            objs = getattr(col.array, "_ndarray", None)
            if objs is None or objs.dtype != object:
                # an extension array of buffers (categorical, sparse,
                # Arrow strings): pandas' own deep figure is cheap
                total += int(col.memory_usage(index=False, deep=True)) - int(col.memory_usage(index=False))
                continue
            vals = objs[::step]  # Python strings (string[python]): as object
        else:
            vals = col.values[::step]
        total += int(sum(map(sys.getsizeof, vals)) * (n / len(vals)))
        estimated = True
    idx = df.index
    if idx.dtype == object:
        vals = idx.values[::step]
        total += int(sum(map(sys.getsizeof, vals)) * (n / len(vals)))
        estimated = True
    return total, estimated


# -- the magics ----------------------------------------------------------------

_recorder = None


def recorder():
    """The recorder of this IPython session, or None before %load_ext."""
    return _recorder


class _Shown:
    """An inline result with an HTML and a text form."""

    def __init__(self, html, text):
        self.html, self.text = html, text

    def _repr_html_(self):
        return self.html

    def __repr__(self):
        return self.text


def _esc(s):
    import html
    return html.escape(str(s), quote=True)


def _size(n):
    if n is None:
        return ""
    neg, n = n < 0, abs(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            s = ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
            return ("-" if neg else "") + s
        n /= 1024.0


_SORT_JS = ("<script>function mtSort(th){var t=th.closest('table'),i=[...th.parentNode.children].indexOf(th),"
            "b=t.tBodies[0],r=[...b.rows],d=th.dataset.dir==='d'?'a':'d';th.dataset.dir=d;"
            "r.sort(function(x,y){var a=x.cells[i].dataset.v,c=y.cells[i].dataset.v;"
            "var p=parseFloat(a),q=parseFloat(c);var v=isNaN(p)||isNaN(q)?a.localeCompare(c):p-q;"
            "return d==='a'?v:-v});r.forEach(function(e){b.appendChild(e)})}</script>")


def report_html(doc, sort="peak", top=None):
    """An HTML table of a memtrace-cells JSON document: one row per cell,
    sortable by clicking a column, sorted by sort (peak or retained) at
    first; then the cells that keep growing when re-run."""
    cells = list(doc.get("cells", []))
    key = {"peak": lambda c: -(c.get("rss_peak") or c.get("rss_after") or 0),
           "retained": lambda c: -(c.get("retained") or 0), "wall": lambda c: -(c.get("wall_ns") or 0),
           "id": lambda c: c["id"]}[sort]
    cells.sort(key=key)
    if top:
        cells = cells[:top]
    cols = [("cell", "id"), ("[n]", "exec_count"), ("session", "session"), ("status", "status"),
            ("wall", "wall_ns"), ("rss before", "rss_before"), ("after", "rss_after"), ("peak", "rss_peak"),
            ("retained", "retained"), ("source", "source")]
    h = [_SORT_JS, "<table class='memtrace-cells'><thead><tr>"]
    h += ["<th onclick='mtSort(this)' data-key='%s'>%s</th>" % (k, _esc(t)) for t, k in cols]
    h.append("</tr></thead><tbody>")
    for c in cells:
        h.append("<tr>")
        for _, k in cols:
            v = c.get(k)
            if k in ("rss_before", "rss_after", "rss_peak", "retained"):
                shown = _size(v) + (" ~" if k == "rss_peak" and c.get("peak") == "sampled" else "")
            elif k == "wall_ns":
                shown = "%.3f s" % ((v or 0) / 1e9)
            elif k == "status" and v != "ok":
                shown = "%s: %s" % (v, c.get("error", ""))
            else:
                shown = "" if v is None else v
            h.append("<td data-v='%s'>%s</td>" % (_esc("" if v is None else v), _esc(shown)))
        h.append("</tr>")
    h.append("</tbody></table>")
    growing = doc.get("growing", [])
    if growing:
        h.append("<p><b>Cells that keep memory each time they run:</b></p><ul class='memtrace-growing'>")
        for g in growing:
            types = ", ".join("%s +%d" % (t["type"], t["growth"]) for t in g.get("types", [])[:5])
            h.append("<li><code>%s</code>: runs %s kept %s (%s in all)%s</li>" % (
                _esc(g.get("source", "")), _esc(", ".join(map(str, g.get("runs", [])))),
                _esc(", ".join(_size(r) for r in g.get("retained", []))), _esc(_size(g.get("total"))),
                _esc("; growing types: " + types) if types else ""))
        h.append("</ul>")
    return "".join(h)


def _parse(args, allowed):
    """ARGS of a magic: (positional, {option: value}) for --opt VALUE."""
    import shlex
    words, pos, opts = shlex.split(args), [], {}
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("--"):
            if w[2:] not in allowed:
                raise MagicError("%s: unknown option (known: %s)" % (w, ", ".join("--" + a for a in allowed)))
            if i + 1 >= len(words):
                raise MagicError("%s needs a value" % w)
            opts[w[2:]] = words[i + 1]
            i += 2
        else:
            pos.append(w)
            i += 1
    return pos, opts


class MagicError(Exception):
    """A magic's bad input; shown as one line, without a traceback."""


def _cmd_on(rec, shell, args):
    pos, _ = _parse(args, ())
    if pos and rec.recording and os.path.abspath(pos[0]) != rec.path:
        rec.stop()  # on ANOTHER.snap: this session goes on in that log
    if pos:
        rec.requested = os.path.abspath(pos[0])
    rec.start()
    return _status(rec)


def _cmd_off(rec, shell, args):
    rec.stop()
    return _status(rec)


def _status(rec):
    if not rec.recording:
        text = "memtrace: not recording (%memtrace on starts)"
    else:
        per = rec.overhead_ns / rec.cells / 1e6 if rec.cells else 0.0
        text = ("memtrace: recording cells into %s, session %d, %d cells so far; peak rss %s; "
                "%.2f ms per cell spent recording" % (rec.path, rec.session, rec.cells,
                                                      "exact (VmHWM)" if rec._exact else "sampled every 5 ms",
                                                      per))
        if rec.note:
            text += "\n" + rec.note
    return _Shown("<pre>%s</pre>" % _esc(text), text)


def _cmd_status(rec, shell, args):
    return _status(rec)


def _log_or_error(rec, pos):
    path = pos[0] if pos else rec.path
    if not path:
        raise MagicError("no cell log: recording is off (%memtrace on) and no file was named")
    return path


def _cmd_report(rec, shell, args):
    import json
    pos, opts = _parse(args, ("sort", "top"))
    sort = opts.get("sort", "peak")
    if sort not in ("peak", "retained", "wall", "id"):
        raise MagicError("--sort %s: not a sort order (peak, retained, wall or id)" % sort)
    try:
        top = int(opts.get("top", 0))
    except ValueError:
        raise MagicError("--top %s: not a number" % opts["top"])
    path = _log_or_error(rec, pos)
    doc = json.loads(_tools.run("memtrace-cells", path, "--format", "json").stdout)
    text = _tools.run("memtrace-cells", path, "--sort", sort, *(("--top", str(top)) if top else ())).stdout
    return _Shown(report_html(doc, sort, top or None), text.rstrip("\n"))


def _cmd_plot(rec, shell, args):
    from IPython.display import SVG, Image
    pos, _ = _parse(args, ())
    path = _log_or_error(rec, pos)
    out = os.path.join(rec.dump_dir(), "cells-%d" % os.getpid())
    try:
        _tools.run("memtrace-plot", "cells", path, "-o", out + ".png")
        return Image(filename=out + ".png")
    except _tools.ToolError as e:
        png_error = str(e)
    try:  # gnuplot without a PNG terminal: SVG needs none of its fonts
        _tools.run("memtrace-plot", "cells", path, "-o", out + ".svg")
    except _tools.ToolError as e:
        raise MagicError("memtrace-plot cells failed: %s (PNG: %s)" % (e, png_error))
    return SVG(filename=out + ".svg")


def _more(name):
    def call(rec, shell, args):
        from . import _nbmagics
        getattr(_nbmagics, name)(rec, shell, args)  # shows its own result
        return None
    return call


COMMANDS = {
    "on": _cmd_on, "off": _cmd_off, "status": _cmd_status, "report": _cmd_report, "plot": _cmd_plot,
    "snapshot": _more("snapshot"), "advise": _more("advise"), "predict": _more("predict"), "leaks": _more("leaks"),
}

USAGE = """%memtrace on [LOG] | off | status
%memtrace report [LOG] [--sort peak|retained|wall|id] [--top N]
%memtrace plot [LOG]
%memtrace snapshot NAME [--frames]
%memtrace advise DATAFRAME
%memtrace predict EXPRESSION          e.g. %memtrace predict df1.merge(df2, on="k")
%memtrace leaks [start|stop]
%%memtrace                            the cell's peak line by line"""


def memtrace_magic(line, cell=None):
    """%memtrace COMMAND ...; %%memtrace profiles one cell line by line."""
    global _recorder
    from IPython import get_ipython
    shell = get_ipython()
    if _recorder is None:  # after %unload_ext: a recorder that %memtrace on starts
        _recorder = CellRecorder(shell)
    rec = _recorder
    from IPython.display import display
    try:
        if cell is not None:
            from . import _nbmagics
            _nbmagics.profile_cell(rec, shell, line, cell)  # shows its own report
            return None
        words = line.split(None, 1)
        if not words or words[0] in ("help", "-h", "--help"):
            print(USAGE)
            return None
        fn = COMMANDS.get(words[0])
        if fn is None:
            raise MagicError("%s: not a %%memtrace command\n%s" % (words[0], USAGE))
        shown = fn(rec, shell, words[1] if len(words) > 1 else "")
    except (MagicError, _tools.ToolError) as e:
        print("memtrace: %s" % e, file=sys.stderr)
        return None
    except Exception as e:
        # the magics' own error type (in _nbmagics) is shown the same way
        if type(e).__name__ == "MagicError":
            print("memtrace: %s" % e, file=sys.stderr)
            return None
        raise
    if shown is not None and cell is None:
        display(shown)
    return None


def load_ipython_extension(shell, path=None):
    """%load_ext memtrace: starts recording every cell (see the module)."""
    global _recorder
    if _recorder is None:
        _recorder = CellRecorder(shell, path)
        shell.register_magic_function(memtrace_magic, "line_cell", "memtrace")
    _recorder.start()
    if _recorder.note:
        print(_recorder.note, file=sys.stderr)


def unload_ipython_extension(shell):
    """%unload_ext memtrace: stops recording; the log stays."""
    global _recorder
    if _recorder is not None:
        _recorder.stop()
        _recorder = None
