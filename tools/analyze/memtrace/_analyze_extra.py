"""memtrace.analyze's graph, advise, predict, gate and fleet: what keeps
objects alive, rule-based advice on DataFrames, the peak of a pandas
operation before it runs, memory budgets, and many workers' dumps side
by side. memtrace.analyze re-exports every
name in __all__.

Each returns a Result whose fields are the numbers of the matching
tool's --format json (memtrace-graph, memtrace-advise, memtrace-predict)
and whose tables are pandas DataFrames with one row per entry of the
JSON's lists; tests/python/test_analyze_extra.py compares them.
"""

import os

from memtrace import _analyze
from memtrace._results import Result, table

__all__ = ["graph", "Graph", "advise", "advise_rules", "predict", "gate"]


def _path(p):
    return os.fsdecode(os.fspath(p))


def _paths(paths):
    if isinstance(paths, (str, bytes, os.PathLike)):
        return [_path(paths)]
    return [_path(p) for p in paths]


# ---- graph: memtrace-graph ----

_RETAINER_COLUMNS = ["id", "type", "size", "retained", "retained_objects", "idom", "path"]
_TYPE_COLUMNS = ["type", "count", "bytes", "retained"]
_CYCLE_COLUMNS = ["objects", "bytes", "most_common_type", "types", "example_id"]


class Dominators(Result):
    """Every object a root reaches, in depth-first preorder of the
    dominator tree (memtrace-graph --idom and --retained): its immediate
    dominator (0: the virtual root), size, retained bytes and objects."""

    _title = "dominators"
    _fields = ("file", "reachable_objects", "reachable_bytes", "unreachable_objects", "unreachable_bytes")
    _tables = ("objects",)


class Retained(Result):
    """memtrace-graph's report: the largest retainers (each with its way
    from a root), retained bytes by type, what no root reaches, cycles."""

    _title = "retained"
    _fields = ("file", "objects", "object_bytes", "refs", "weak_refs", "roots", "reachable", "unreachable", "cycles")
    _tables = ("top_retainers", "types_by_retained", "unreachable_types", "largest_cycles")


class Paths(Result):
    """memtrace-graph --path-to-roots: shortest strong paths from a root,
    one row a target in paths, one row a hop in steps (path is the row of
    paths it belongs to; label is the reference's, None for the root)."""

    _title = "paths to roots"
    _fields = ("file", "what")
    _tables = ("paths", "steps")


class Graph:
    """A snapshot loaded with its references and its dominator tree,
    computed once (graph(path)); the methods read it. Close it, or use it
    as a context manager, to free its memory at once."""

    def __init__(self, path, salvage=False):
        self.path = _path(path)
        self._g = _analyze.graph_load(self.path, salvage=bool(salvage))

    @property
    def closed(self):
        return self._g is None

    def close(self):
        """Frees the loaded snapshot and its dominator tree. The C graph
        goes with its last reference: a call running on it in another
        thread holds one, so it finishes first. Twice is fine."""
        self._g = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _graph(self):
        g = self._g
        if g is None:
            # A ValueError, as a closed file's and a closed Snapshot's.
            raise ValueError("memtrace.analyze.Graph %s is closed" % self.path)
        return g

    def __repr__(self):
        return "<memtrace.analyze.Graph %r%s>" % (self.path, ", closed" if self._g is None else "")

    def dominators(self):
        """Every reachable object (memtrace-graph --idom and --retained) as
        the DataFrame objects: id, idom (0: the virtual root), type, size,
        retained, retained_objects, in depth-first preorder."""
        import numpy
        import pandas

        c = _analyze.graph_columns(self._graph())
        names = numpy.array(c["type_names"] + [""], dtype=object)
        cols = {
            "id": numpy.frombuffer(c["id"], dtype=numpy.uint64),
            "idom": numpy.frombuffer(c["idom"], dtype=numpy.uint64),
            "type": names[numpy.frombuffer(c["type_index"], dtype=numpy.uint32)],
            "size": numpy.frombuffer(c["size"], dtype=numpy.uint64),
            "retained": numpy.frombuffer(c["retained"], dtype=numpy.uint64),
            "retained_objects": numpy.frombuffer(c["retained_objects"], dtype=numpy.uint64),
        }
        df = pandas.DataFrame(cols, columns=list(cols))
        return Dominators(file=self.path, reachable_objects=c["reachable_objects"],
                          reachable_bytes=c["reachable_bytes"], unreachable_objects=c["unreachable_objects"],
                          unreachable_bytes=c["unreachable_bytes"], objects=df)

    def retained(self, top=10):
        """memtrace-graph --format json --top top."""
        r = _analyze.graph_report(self._graph(), int(top))
        unreachable = dict(r["unreachable"])
        cycles = dict(r["cycles"])
        return Retained(
            file=self.path,
            objects=r["objects"], object_bytes=r["object_bytes"], refs=r["refs"], weak_refs=r["weak_refs"],
            roots=r["roots"], reachable=r["reachable"],
            unreachable={k: v for k, v in unreachable.items() if k != "types"},
            cycles={k: v for k, v in cycles.items() if k != "largest"},
            top_retainers=table(r["top_retainers"], _RETAINER_COLUMNS),
            types_by_retained=table(r["types_by_retained"], _TYPE_COLUMNS),
            unreachable_types=table(unreachable["types"], _TYPE_COLUMNS[:3]),
            largest_cycles=table(cycles["largest"], _CYCLE_COLUMNS),
        )

    def path_to_roots(self, id_or_type, top=10):
        """memtrace-graph --path-to-roots: the object of this id (an int,
        or a str as the tool reads one: decimal or 0x hexadecimal), else
        the top largest objects of the type named so. NotFoundError when
        neither is in the snapshot."""
        paths = _analyze.graph_paths(self._graph(), id_or_type, int(top))
        rows, steps = [], []
        for k, p in enumerate(paths):
            root = p["root"] or {}
            rows.append({"id": p["id"], "type": p["type"], "retained": p["retained"], "path": p["path"],
                         "root_kind": root.get("kind"), "root_name": root.get("name")})
            for i, s in enumerate(p["steps"]):
                steps.append({"path": k, "step": i, "id": s["id"], "type": s["type"], "label": s["label"]})
        return Paths(file=self.path, what=id_or_type,
                     paths=table(rows, ["id", "type", "retained", "path", "root_kind", "root_name"]),
                     steps=table(steps, ["path", "step", "id", "type", "label"]))


def graph(path, salvage=False):
    """The reference graph of the heap snapshot at path, its dominator
    tree computed (memtrace-graph): .dominators(), .retained(top=10),
    .path_to_roots(id_or_type, top=10). salvage reads the intact blocks of
    a damaged file, as --salvage."""
    return Graph(path, salvage=salvage)


# ---- advise: memtrace-advise ----

_ADVICE_COLUMNS = ["file", "rule", "severity", "scope", "kind", "frame", "column", "step", "device", "from_dtype",
                   "to_dtype", "datetime_format", "bytes", "saving_bytes", "in_total", "chunks", "lossless", "message"]
_FILE_COLUMNS = ["file", "total_saving_bytes", "data_bytes", "columns_changed", "columns_repeated"]
_EFFECT_COLUMNS = ["file", "effect", "step", "basis", "memory_bytes", "frames_bytes", "then_step", "then_bytes",
                   "saving_bytes"]


class Advice(Result):
    """memtrace-advise --format json: the advice, largest saving first, a
    row a piece; per file totals; what the dtype changes do to a
    pipeline's resident memory, peak and RSS (effects, a row each one
    known)."""

    _title = "advice"
    _fields = ("bytes", "total_saving_bytes", "data_bytes", "resulting_bytes", "available_bytes")
    _tables = ("advice", "files", "effects")


def advise(paths, rules=None, bytes="real", default_rules=True, available=None, int_headroom=8, salvage=False):
    """Applies the shipped rules and the rule files rules (a path or a
    list, later ones override: memtrace-rules(5)) to the DataFrame
    snapshots and pipeline dumps paths, as memtrace-advise. bytes: "real"
    (what the frames really hold) or "pandas" (memory_usage(deep=True)).
    available: the memory a pipeline may use (default: this machine's
    available memory). A rule file that is not YAML or has a wrong rule
    raises BadInputError with its line and column."""
    r = _analyze.advise(_paths(paths), rules=None if rules is None else _paths(rules),
                        default_rules=bool(default_rules), bytes=bytes, available=int(available or 0),
                        int_headroom=int(int_headroom), salvage=bool(salvage))
    effects = []
    for f in r["files"]:
        for name in ("resident", "peak", "rss"):
            e = f[name]
            if e is not None:
                effects.append(dict(e, file=f["file"], effect=name))
    return Advice(bytes=r["bytes"], total_saving_bytes=r["total_saving_bytes"], data_bytes=r["data_bytes"],
                  resulting_bytes=r["resulting_bytes"], available_bytes=r["available_bytes"],
                  advice=table(r["advice"], _ADVICE_COLUMNS), files=table(r["files"], _FILE_COLUMNS),
                  effects=table(effects, _EFFECT_COLUMNS))


def advise_rules(rules=None, default_rules=True):
    """The rules advise() would apply, enabled or not (memtrace-advise
    --list-rules), as a DataFrame."""
    rows = _analyze.advise_rules(rules=None if rules is None else _paths(rules), default_rules=bool(default_rules))
    return table(rows, ["rule", "severity", "scope", "kind", "enabled", "file", "line", "description"])


# ---- predict: memtrace-predict ----


class Prediction(Result):
    """memtrace-predict --format json: the peak beyond the inputs, the
    result's size, whether it fits, and ways to make it fit."""

    _title = "prediction"
    _fields = ("op", "peak_bytes", "result_bytes", "result_rows", "result_real_bytes", "result_shared_bytes",
               "input_bytes", "available_bytes", "fits", "multiplier", "model", "pandas", "warnings", "assumptions")
    _tables = ("suggestions",)


def predict(op, shapes=None, *, left=None, right=None, on=None, how=None, frame=None, by=None, agg=None,
            columns=None, observed=None, index=None, values=None, aggfunc=None, frames=None, csv=None,
            sample_rows=None, available=None):
    """The peak memory of a pandas operation before it runs, as
    memtrace-predict: op is merge, groupby, pivot_table, concat, sort or
    read_csv; shapes a snapshot of memtrace.dump_frames (a path) or
    inline shapes ("left=2e6x8,right=5e4x3"); the other arguments are the
    tool's options of the same names (lists as lists or comma-separated
    str). available: the memory there is (default: this machine's)."""
    kw = dict(left=left, right=right, on=on, how=how, frame=frame, by=by, agg=agg, columns=columns,
              observed=observed, index=index, values=values, aggfunc=aggfunc, frames=frames,
              sample_rows=int(sample_rows or 0), available=int(available or 0))
    if csv is not None:
        kw["csv"] = _path(csv)
    if shapes is not None and isinstance(shapes, os.PathLike):
        shapes = os.fspath(shapes)
        if isinstance(shapes, bytes):
            shapes = os.fsdecode(shapes)
        kw["shapes"] = _PathArg(shapes)
    elif shapes is not None:
        kw["shapes"] = shapes
    r = _analyze.predict(op, **kw)
    suggestions = table(r.pop("suggestions"), ["text", "peak_bytes"])
    return Prediction(suggestions=suggestions, **r)


class _PathArg(os.PathLike):
    """A str that is a file, whatever it holds (an '=' in a directory's
    name): the module reads a str as memtrace-predict reads --shapes."""

    def __init__(self, p):
        self._p = p

    def __fspath__(self):
        return self._p


# ---- gate: memtrace-gate ----

_CHECK_COLUMNS = ["budget", "passed", "limit", "actual", "bytes_a", "bytes_b", "percent", "group", "series", "where",
                  "known_suspects", "advice", "offenders"]
_OFFENDER_COLUMNS = ["budget", "name", "bytes_a", "bytes_b", "percent", "limit", "allowance", "objects", "bytes",
                     "confidence", "path", "severity", "message"]


class GateResult(Result):
    """memtrace-gate's verdicts: passed (no budget exceeded), a row a
    budget in checks (in checking order, offenders: how many), a row
    each offender in offenders (worst first within a budget). bool() of
    it is passed."""

    _title = "gate"
    _fields = ("passed", "failed", "budgets", "by", "baseline_bytes", "current_bytes", "traces", "trace_at_peak")
    _tables = ("checks", "offenders")

    def __bool__(self):
        return bool(self.passed)


def gate(baseline, current, policy=None, rules=None, policy_text=None, available=None):
    """Checks the current run's snapshots against the budgets of policy
    (a YAML file, memtrace-gate(1); or its text as policy_text; default:
    total_growth_percent: 10) over the baseline's, as memtrace-gate.
    baseline and current: a path or a list in time order. rules: rule
    files for advice_severity. A policy that is not YAML or has a wrong
    key raises BadInputError with its line and column."""
    kw = {}
    if policy is not None:
        kw["policy"] = _path(policy)
    if policy_text is not None:
        kw["policy_text"] = policy_text
    r = _analyze.gate(_paths(baseline), _paths(current), rules=None if rules is None else _paths(rules),
                      available=int(available or 0), **kw)
    checks, offenders = [], []
    for c in r["checks"]:
        offs = c.pop("offenders")
        checks.append(dict(c, offenders=len(offs)))
        offenders.extend(dict(o, budget=c["budget"]) for o in offs)
    return GateResult(passed=r["passed"], failed=r["failed"], budgets=r["budgets"], by=r["by"],
                      baseline_bytes=r["baseline_bytes"], current_bytes=r["current_bytes"], traces=r["traces"],
                      trace_at_peak=r["trace_at_peak"], checks=table(checks, _CHECK_COLUMNS),
                      offenders=table(offenders, _OFFENDER_COLUMNS))


# ---------------------------------------------------------------- fleet
# memtrace.analyze.fleet: many workers' dumps side by side (memtrace-fleet).



class FleetResult(Result):
    """memtrace-fleet's answer. Fields as its --format json: threshold,
    spread (per total: workers, median_bytes, mad_bytes, max_bytes,
    max_worker), outliers (names), leaks_analyzed, series_workers. Tables:
    workers (one row a worker: its totals, z-scores z_heap ... z_unmanaged,
    outlier, outlier_by), types and columns (per outlier, what it holds
    above the median worker; the worker column names it) and leaks (one
    row a leak shared by workers; workers lists them). raw is the dict as
    the tool's JSON has it."""

    _title = "fleet"
    _fields = ("threshold", "outliers", "leaks_analyzed", "series_workers")
    _tables = ("workers", "types", "columns", "leaks")

    def to_dict(self):
        return self.raw


_FLEET_WORKER_COLUMNS = ["worker", "host", "pid", "dumps", "latest", "objects", "heap_bytes", "frames_bytes",
                         "rss_bytes", "unmanaged_bytes", "z_heap", "z_frames", "z_rss", "z_unmanaged", "outlier",
                         "outlier_by"]


def fleet(paths, *, threshold=3.5, top=10, leaks=True, salvage=False):
    """Compare the heap dumps of a cluster's workers (paths: files, or
    directories standing for their *.snap files in name order), as
    memtrace-fleet does: per worker the totals of its latest dump, the
    spread, the outliers by a robust z-score above threshold with the
    types and DataFrame columns that set them apart from the median
    worker (top of each, 0 for all), and, unless leaks is False, the leaks
    that show on several workers' series. Returns a FleetResult. Raises
    memtrace.analyze.Error (FileError for a file that cannot be read,
    BadInputError for a damaged one) naming the file."""
    from memtrace import _analyze

    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    raw = _analyze.fleet(list(paths), threshold=threshold, top=top, leaks=leaks, salvage=salvage)
    rows = []
    types = []
    cols = []
    for w in raw["workers"]:
        row = dict(w)
        for k, v in w["z"].items():
            row["z_" + k] = v
        rows.append(row)
        types.extend(dict(t, worker=w["worker"]) for t in w["types"])
        cols.extend(dict(c, worker=w["worker"]) for c in w["columns"])
    return FleetResult(
        raw=raw,
        threshold=raw["threshold"],
        spread=raw["spread"],
        outliers=raw["outliers"],
        leaks_analyzed=raw["leaks_analyzed"],
        series_workers=raw["series_workers"],
        workers=table(rows, _FLEET_WORKER_COLUMNS),
        types=table(types, ["worker", "type", "count", "bytes", "median_count", "median_bytes", "delta_bytes"]),
        columns=table(cols, ["worker", "column", "bytes", "median_bytes", "delta_bytes"]),
        leaks=table(raw["leaks"], ["type", "point_type", "path", "n_workers", "of_workers", "workers",
                                   "bytes_per_snapshot", "objects_per_snapshot", "confidence"]),
    )


__all__ += ["fleet", "FleetResult"]
