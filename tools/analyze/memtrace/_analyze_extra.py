"""memtrace.analyze's graph, advise, predict, gate and fleet (to be
written); memtrace.analyze re-exports every name in __all__."""

__all__ = []


# ---------------------------------------------------------------- fleet
# memtrace.analyze.fleet: many workers' dumps side by side (memtrace-fleet).

from memtrace._results import Result, table  # noqa: E402


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
