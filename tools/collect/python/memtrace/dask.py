"""memtrace.dask: heap dumps, DataFrame snapshots and samplers on every
worker of a Dask cluster, and the memtrace tools' per-file work spread
over the cluster with the partial results merged on the client.

    import memtrace.dask
    report = memtrace.dask.dump(client, "/shared/dumps")   # every worker
    report["failed"]                                       # {address: why}
    memtrace.dask.sample(client, "/shared/runs", interval=0.5)
    memtrace.dask.stop(client)
    memtrace.dask.analyze(paths, "leaks", client=client)

This module imports nothing of distributed: the client is used through its
methods (run, run_on_scheduler, map, gather), and the functions that run
on the workers are this module's own, found there by name. The workers
must import the same memtrace package (a shared install or build tree),
and the dump directory must be one they all see (a shared file system, or
one machine's LocalCluster) for the client to find the files."""

import json
import os
import socket
import subprocess
import tempfile
import time

__all__ = ["dump", "sample", "stop", "analyze", "WHAT"]

WHAT = ("heap", "frames", "samples")
"""What dump() can write on each worker: the heap snapshot, the DataFrames
the worker holds, and an event in the run file of the sampler that
sample() started."""

_sampler = None  # this worker's Sampling, started by sample()
_seq = 0         # dump()s made by this client process, for the file tag


# --- on the workers ---------------------------------------------------------

def _server(dask_worker, dask_scheduler):
    """(worker, scheduler), one of them None: distributed's run() and
    run_on_scheduler() hand the process's server as every one of
    dask_worker and dask_scheduler a function takes, whichever it is, so
    on the scheduler dask_worker is the Scheduler. Told apart by type."""
    server = dask_worker if dask_worker is not None else dask_scheduler
    if server is None:
        return None, None
    from distributed import Scheduler
    return (None, server) if isinstance(server, Scheduler) else (server, None)


def _labels(dask_worker=None, dask_scheduler=None):
    """The label.* meta keys (memtrace-snap(5), meta) naming this process
    in the cluster: host, pid, the worker's address and name."""
    meta = {"label.host": socket.gethostname(), "label.pid": str(os.getpid())}
    if dask_worker is not None:
        meta.update({"label.role": "worker", "label.worker": str(dask_worker.address),
                     "label.name": str(dask_worker.name)})
    elif dask_scheduler is not None:
        meta.update({"label.role": "scheduler", "label.worker": str(dask_scheduler.address),
                     "label.name": "scheduler"})
    return meta


def _add_meta(path, meta):
    """Appends meta records to a closed snapshot (SPEC 3.5): the last
    record of a key counts, so these override nothing the dump wrote."""
    from ._memtrace import Writer
    with Writer(path, append=True) as w:
        for k, v in meta.items():
            w.add_meta(k, v)


def _publish(make_path, write, meta):
    """Writes a snapshot under a hidden name, labels it, then links it to a
    new name of make_path(): a worker that dies while dumping leaves no
    file under a dump's name, and no earlier file is ever replaced (link(2)
    fails on an existing name). Returns the path."""
    final = make_path()
    tmp = os.path.join(os.path.dirname(final), ".%s.part" % os.path.basename(final))
    try:
        write(tmp)
        _add_meta(tmp, meta)
        while True:
            try:
                os.link(tmp, final)
                return final
            except FileExistsError:
                final = make_path()
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _key_name(key):
    """A Dask key as a frame's name: a str as it is, a tuple key
    ('x-1f2e', 3) as Python writes it."""
    return key if isinstance(key, str) else str(key)


def _held_frames(dask_worker):
    """{key name: DataFrame} of the pandas DataFrames in the worker's
    memory. Only the in-memory part of a spilling store (SpillBuffer.fast)
    is read: reading its disk part would load every spilled partition."""
    import sys
    pd = sys.modules.get("pandas")
    if pd is None or dask_worker is None:
        return {}
    data = dask_worker.data
    fast = getattr(data, "fast", data)
    return {_key_name(k): v for k, v in list(fast.items()) if isinstance(v, pd.DataFrame)}


def _dump_here(directory, what, tag, label, collect, tracebacks, keys, dask_worker=None, dask_scheduler=None):
    """dump()'s work in one worker (or the scheduler): each kind of what,
    apart, so that one that fails leaves the others."""
    import memtrace
    dask_worker, dask_scheduler = _server(dask_worker, dask_scheduler)
    meta = _labels(dask_worker, dask_scheduler)
    meta["label.dump"] = tag
    name = meta.get("label.name", "")
    out = {"host": meta["label.host"], "pid": os.getpid(), "name": name, "files": {}, "failed": {}, "skipped": {}}
    os.makedirs(directory, exist_ok=True)
    base = "%d-%s-%s" % (os.getpid(), memtrace._run_id(), tag)
    text = label if label is not None else "dask %s %s" % (meta.get("label.role", "process"), name)
    for kind in what:
        try:
            if kind == "heap":
                out["files"]["heap"] = _publish(
                    lambda: memtrace.snapshot_path(directory, tag),
                    lambda p: memtrace.dump_heap(p, label=text, collect=collect, tracebacks=tracebacks), meta)
            elif kind == "frames":
                frames = _held_frames(dask_worker)
                if not frames:
                    out["skipped"]["frames"] = "no pandas DataFrame in this worker's memory"
                    continue
                out["files"]["frames"] = _publish(
                    lambda: memtrace._free_path(os.path.join(directory, "frames-" + base)),
                    lambda p: memtrace.dump_frames(p, frames, keys=keys, label=text), meta)
            elif kind == "samples":
                if _sampler is None or not _sampler.running:
                    out["skipped"]["samples"] = "no sampler runs here: memtrace.dask.sample() starts one"
                    continue
                _sampler.event("dump", tag, 0.0, out["files"].get("heap"))
                out["files"]["samples"] = _sampler.path
            else:
                raise ValueError("unknown kind %r; dump writes %s" % (kind, ", ".join(WHAT)))
        except Exception as e:
            out["failed"][kind] = "%s: %s" % (type(e).__name__, e)
    return out


def _sample_here(directory, interval, heap_on_peak, alerts, dask_worker=None, dask_scheduler=None):
    global _sampler
    import memtrace
    from ._sampling import Sampling
    if _sampler is not None and _sampler.running:
        raise RuntimeError("a memtrace.dask sampler already runs here (writing %s); memtrace.dask.stop() first"
                           % _sampler.path)
    meta = _labels(*_server(dask_worker, dask_scheduler))
    os.makedirs(directory, exist_ok=True)
    path = memtrace._reserve(lambda: memtrace._run_path(directory))
    s = Sampling(path, interval=interval, heap_on_peak=heap_on_peak, alerts=alerts,
                 command="dask %s %s at %s" % (meta.get("label.role", "process"), meta.get("label.name", ""),
                                               meta.get("label.worker", "")), tool="memtrace.dask.sample")
    s.start()
    _sampler = s
    return {"host": meta["label.host"], "pid": os.getpid(), "name": meta.get("label.name", ""),
            "files": {"samples": path}, "failed": {}, "skipped": {}}


def _stop_here(dask_worker=None, dask_scheduler=None):
    """Stops this worker's sampler and labels its run file, which can be
    appended to only once the sampler has closed it."""
    global _sampler
    meta = _labels(*_server(dask_worker, dask_scheduler))
    out = {"host": meta["label.host"], "pid": os.getpid(), "name": meta.get("label.name", ""), "files": {},
           "failed": {}, "skipped": {}}
    s, _sampler = _sampler, None
    if s is None:
        out["skipped"]["samples"] = "no sampler ran here"
        return out
    s.stop()
    try:
        _add_meta(s.path, meta)
    except Exception as e:
        out["failed"]["samples"] = "labels: %s: %s" % (type(e).__name__, e)
    out["files"]["samples"] = s.path
    return out


# --- on the client ----------------------------------------------------------

def _on_cluster(client, fn, scheduler, *args):
    """Runs fn on every worker (and the scheduler if asked); returns the
    report: per process what it wrote, failed or skipped, and the
    processes that did not answer (a worker that died meanwhile) with why."""
    known = client.scheduler_info().get("workers", {})
    results = client.run(fn, *args, on_error="return")
    report = {"workers": {}, "failed": {}, "files": []}
    for addr, r in results.items():
        if isinstance(r, BaseException):
            name = known.get(addr, {}).get("name", "")
            report["failed"][addr] = "worker %s: %s: %s" % (name, type(r).__name__, r)
        else:
            report["workers"][addr] = r
    for addr in known:
        if addr not in results:
            report["failed"][addr] = "worker %s: no answer (it left the cluster)" % known[addr].get("name", "")
    if scheduler:
        try:
            report["scheduler"] = client.run_on_scheduler(fn, *args)
        except Exception as e:
            report["failed"]["scheduler"] = "scheduler: %s: %s" % (type(e).__name__, e)
    for r in list(report["workers"].values()) + ([report["scheduler"]] if "scheduler" in report else []):
        report["files"].extend(r["files"].values())
    return report


def dump(client, directory, what=WHAT, scheduler=False, *, label=None, collect=False, tracebacks=True, keys=None):
    """Dumps every worker of client's cluster (and the scheduler with
    scheduler=True) into directory, through client.run.

    what: "heap" writes DIR/heap-PID-RUN-TAG.snap (memtrace.dump_heap);
    "frames" DIR/frames-PID-RUN-TAG.snap with every pandas DataFrame the
    worker holds in memory (persisted or scattered partitions), each named
    by its Dask key, with column statistics (memtrace.dump_frames; keys
    names the key columns); "samples" marks a dump event in the run file
    of the sampler sample() started. TAG, the same for every file of one
    call, sorts in time order. Each file's meta carries label.host,
    label.pid, label.worker (the address), label.name, label.role and
    label.dump (TAG). A file is written under a hidden name and takes its
    name only once complete: a worker that dies mid-dump leaves no file.

    Returns {"tag", "directory", "workers": {address: {"host", "pid",
    "name", "files": {kind: path}, "failed": {kind: why}, "skipped": {kind:
    why}}}, "failed": {address: why}, "files": [every path]}: a worker that
    fails or dies is reported in failed, and the call does not raise."""
    global _seq
    what = (what,) if isinstance(what, str) else tuple(what)
    for kind in what:
        if kind not in WHAT:
            raise ValueError("unknown kind %r; dump writes %s" % (kind, ", ".join(WHAT)))
    directory = os.path.abspath(os.fspath(directory))
    os.makedirs(directory, exist_ok=True)
    _seq += 1
    now = time.time()
    tag = "dask-%s%03d-%04d" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)), int(now * 1000) % 1000, _seq)
    report = _on_cluster(client, _dump_here, scheduler, directory, what, tag, label, collect, tracebacks,
                         None if keys is None else list(keys))
    report.update(tag=tag, directory=directory)
    return report


def sample(client, directory, interval=0.1, scheduler=False, *, heap_on_peak=None, alerts=()):
    """Starts memtrace's sampler (memtrace.sampling) on every worker (and
    the scheduler with scheduler=True), each writing its own run file
    DIR/run-PID-RUN.snap, every interval seconds: rss, pss, uss, the
    cgroup, tracemalloc's traced memory and the collector's counts.
    heap_on_peak and alerts as memtrace.sampling takes them. Returns the
    report of dump(); stop() stops the samplers and labels their files."""
    directory = os.path.abspath(os.fspath(directory))
    os.makedirs(directory, exist_ok=True)
    if heap_on_peak is not None:
        heap_on_peak = os.path.abspath(os.fspath(heap_on_peak))
    alerts = (alerts,) if isinstance(alerts, str) else tuple(alerts)
    return _on_cluster(client, _sample_here, scheduler, directory, float(interval), heap_on_peak, alerts)


def stop(client, scheduler=False):
    """Stops the samplers sample() started, each closing its run file with
    a last sample and labelling it as dump() labels its files. Returns the
    report of dump() with each run file."""
    return _on_cluster(client, _stop_here, scheduler)


# --- analysis ---------------------------------------------------------------

_INFO_ALL = "100000000"  # --top for every type: the merge needs all of them


def _hwm(pid):
    """The peak resident set (VmHWM, bytes) of process pid, or 0 once gone."""
    try:
        with open("/proc/%d/status" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _run_tool(unit):
    """Runs one memtrace tool with --format json (on a worker, or here);
    returns {"result", "seconds", "peak_rss", "host", "pid"} or {"error"}
    with the tool's message. peak_rss is the tool's VmHWM read every 5 ms
    while it runs: its rusage would not do, since Linux starts a child's
    maxrss at its parent's (a worker's) high-water mark when it execs."""
    from . import _tools
    name, args, ok = unit
    path = _tools.find(name)
    t0 = time.perf_counter()
    peak = 0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([path, *args], stdout=out, stderr=err)
        while p.poll() is None:
            peak = max(peak, _hwm(p.pid))
            time.sleep(0.005)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if p.returncode not in ok:
            msg = err.read().decode("utf-8", "replace").strip()
            return {"error": msg or "%s exited with status %d" % (name, p.returncode), "status": p.returncode}
        result = json.loads(out.read())
    return {"result": result, "seconds": seconds, "peak_rss": peak, "host": socket.gethostname(),
            "pid": os.getpid(), "status": p.returncode}


def _series(paths):
    """{process: [paths in time order]} of paths named as memtrace names
    dumps (heap-PID-RUN-TAG.snap, frames-...): PID-RUN is one process, and
    TAG sorts in time order. A list of lists or a dict is taken as the
    series it already is."""
    if isinstance(paths, dict):
        return {str(k): [os.path.abspath(os.fspath(p)) for p in v] for k, v in paths.items()}
    paths = list(paths)
    if paths and not isinstance(paths[0], (str, bytes, os.PathLike)):
        return {"series-%d" % i: [os.path.abspath(os.fspath(p)) for p in s] for i, s in enumerate(paths)}
    groups = {}
    for p in paths:
        parts = os.path.basename(os.fspath(p)).split("-")
        if len(parts) < 4 or not parts[1].isdigit():
            raise ValueError("%s: not named KIND-PID-RUN-TAG.snap as memtrace names dumps; give the series as a "
                             "dict {worker: [paths in time order]}" % os.fspath(p))
        groups.setdefault("-".join(parts[:3]), []).append(os.path.abspath(os.fspath(p)))
    return {k: sorted(v) for k, v in sorted(groups.items())}


def _units(paths, what, by, leaks_args):
    """The per-file or per-series tool runs of analysis what: (key, unit)."""
    if what == "info":
        files = [os.path.abspath(os.fspath(p)) for p in paths]
        return [(f, ("memtrace-info", ["--top", _INFO_ALL, "--format", "json", f], (0,))) for f in files], {}
    series = _series(paths)
    units, skipped = [], {}
    for key, files in series.items():
        if what == "diff":
            if len(files) < 2:
                skipped[key] = "one snapshot: a diff needs two"
                continue
            units.append((key, ("memtrace-diff", ["--top", "0", "--by", by, "--format", "json", files[0], files[-1]],
                                (0,))))
        else:
            if len(files) < 3:
                skipped[key] = "%d snapshots: memtrace-leaks needs three or more" % len(files)
                continue
            units.append((key, ("memtrace-leaks", [*leaks_args, "--format", "json", *files], (0, 1))))
    return units, skipped


def _add(into, d, fields):
    for f in fields:
        v = d.get(f)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            into[f] = into.get(f, 0) + v


_INFO_SUMS = ("file_bytes", "raw_bytes", "stored_bytes", "objects", "object_bytes", "rss_bytes", "unaccounted_bytes",
              "refs", "roots")


def merge_info(parts):
    """One memtrace-info JSON a file ({path: json}) merged: the sums of
    their counts and bytes, and every type's count and bytes summed over
    the files (each info run with every type listed)."""
    total = {"files": len(parts)}
    types = {}
    for path in sorted(parts):
        j = parts[path]
        _add(total, j, _INFO_SUMS)
        for t in j.get("top_types_by_bytes", ()):
            c = types.setdefault(t["type"], {"type": t["type"], "count": 0, "bytes": 0, "files": 0})
            c["count"] += t["count"]
            c["bytes"] += t["bytes"]
            c["files"] += 1
    total["types"] = sorted(types.values(), key=lambda t: (-t["bytes"], t["type"]))
    return total


_DIFF_SUMS = ("count_a", "count_b", "count_delta", "bytes_a", "bytes_b", "bytes_delta", "new_count", "new_bytes",
              "freed_count", "freed_bytes", "surviving_count", "surviving_bytes")
_RSS_SUMS = ("rss_a", "rss_b", "heap_a", "heap_b", "unaccounted_a", "unaccounted_b", "unaccounted_bytes")


def merge_diff(parts):
    """memtrace-diff JSONs (one a worker, first against last dump) merged:
    per group and in total, the counts and bytes of A and B, the changes,
    and new, freed and surviving objects summed over the workers."""
    groups, total, rss = {}, {}, {}
    by = None
    for key in sorted(parts):
        j = parts[key]
        by = j.get("by", by)
        for g in j["groups"]:
            into = groups.setdefault(g["group"], {"group": g["group"], "workers": 0})
            into["workers"] += 1
            _add(into, g, _DIFF_SUMS)
        _add(total, j.get("total", {}), _DIFF_SUMS)
        if j.get("rss"):
            _add(rss, j["rss"], _RSS_SUMS)
    for g in list(groups.values()) + [total]:
        a = g.get("bytes_a", 0)
        g["percent"] = g.get("bytes_delta", 0) * 100.0 / a if a else None
    return {"by": by, "workers": len(parts),
            "groups": sorted(groups.values(), key=lambda g: (-g.get("bytes_delta", 0), g["group"])),
            "total": total, "rss": rss}


def merge_leaks(parts):
    """memtrace-leaks JSONs (one a worker's series) merged: the suspects
    grouped by type, with the workers that show each, their growth a
    snapshot and retained bytes summed, the highest confidence; and the
    native growth (rss the heap does not account for) summed."""
    suspects, native = {}, {"suspected": 0}
    for key in sorted(parts):
        j = parts[key]
        for s in j.get("suspects", ()):
            into = suspects.setdefault(s["type"], {"type": s["type"], "workers": [], "growth_bytes_per_snapshot": 0,
                                                   "growth_objects_per_snapshot": 0, "retained_bytes": 0,
                                                   "max_confidence": 0.0})
            into["workers"].append(key)
            _add(into, s, ("growth_bytes_per_snapshot", "growth_objects_per_snapshot", "retained_bytes"))
            into["max_confidence"] = max(into["max_confidence"], s.get("confidence", 0.0))
        ng = j.get("native_growth") or {}
        _add(native, ng, ("rss_growth_bytes", "heap_growth_bytes", "unaccounted_bytes"))
        native["suspected"] += bool(ng.get("suspected"))
    for s in suspects.values():
        s["worker_count"] = len(s["workers"])
    return {"series": len(parts),
            "suspects": sorted(suspects.values(), key=lambda s: (-s["worker_count"], -s["growth_bytes_per_snapshot"],
                                                                 s["type"])),
            "native_growth": native}


# --- fleet: memtrace-fleet's view, its reading spread over the workers ----

_MAD_SCALE = 1.4826          # memtrace/robust.h
_FLOOR_SHARE = 0.05          # memtrace/fleet.h: the z-score's scale is never
_FLOOR_BYTES = 1 << 20       # below 5% of the median nor below 1 MiB
_METRICS = ("heap", "frames", "rss", "unmanaged")


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    if not n:
        return 0.0
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def _robust_z(v, med, mad, floor):
    scale = max(_MAD_SCALE * mad, floor)
    if v == med:
        return 0.0
    if scale <= 0:
        return float("inf") if v > med else float("-inf")
    return (v - med) / scale


def _verscmp_key(name):
    """strverscmp(3)'s order as a key: digit runs compare as numbers (by
    length, then digits), the rest byte by byte."""
    import re
    key = []
    for run in re.findall(rb"\d+|\D+", name.encode("utf-8", "surrogateescape")):
        key.append((1, len(run), run) if run[:1].isdigit() else (0, 0, run))
    return key


def _fleet_worker_name(meta, path):
    """The worker a dump belongs to, as memtrace-fleet names it: the first
    of label.worker, label.name, worker and name (a non-empty string),
    else HOST:PID, else the path."""
    for k in ("label.worker", "label.name", "worker", "name"):
        v = meta.get(k)
        if isinstance(v, str) and v:
            return v
    host = meta.get("host") if isinstance(meta.get("host"), str) else ""
    pid = meta.get("pid")
    has_pid = isinstance(pid, (int, float)) and not isinstance(pid, bool)
    if host or has_pid:
        return "%s:%.0f" % (host, pid if has_pid else 0)
    return path


def _fleet_file(path):
    """A file's part of the fleet view, read once by memtrace-info (its
    meta, objects and every type) and, for a file without objects or one
    whose frames count, memtrace-frames (each column's real bytes)."""
    i = _run_tool(("memtrace-info", ["--top", _INFO_ALL, "--format", "json", path], (0,)))
    if "error" in i:
        return i
    j = i["result"]
    meta = j.get("meta", {})
    pid = meta.get("pid")
    pid = int(pid) if isinstance(pid, (int, float)) and not isinstance(pid, bool) and pid > 0 else 0
    rss = meta.get("rss")
    rss = rss if isinstance(rss, (int, float)) and not isinstance(rss, bool) and rss > 0 else None
    out = {"worker": _fleet_worker_name(meta, path), "host": meta.get("host") if isinstance(meta.get("host"), str)
           else "", "pid": pid, "heap": j["objects"] > 0, "objects": j["objects"], "heap_bytes": j["object_bytes"],
           "frames_bytes": 0, "rss_bytes": None if rss is None else int(rss), "types": {}, "columns": None,
           "seconds": i["seconds"], "peak_rss": i["peak_rss"]}
    for t in j["top_types_by_bytes"]:
        c = out["types"].setdefault(t["type"], [0, 0])
        c[0] += t["count"]
        c[1] += t["bytes"]
    if not out["heap"] or j["records"].get("df_frames", {}).get("count"):
        f = _run_tool(("memtrace-frames", ["--format", "json", path], (0,)))
        if "error" in f:
            return f
        if f["result"]["frames"]:
            cols = {}
            for fr in f["result"]["frames"]:
                for c in fr["columns"]:
                    key = ("%s.%s" % (fr["name"] or "frame", c["name"]))[:511]
                    cols[key] = cols.get(key, 0) + c["real_bytes"]
            out["columns"] = cols
            out["frames_bytes"] = f["result"]["real_bytes"]
        out["seconds"] += f["seconds"]
        out["peak_rss"] = max(out["peak_rss"], f["peak_rss"])
    out["pid_here"] = os.getpid()
    return out


def _fleet_deltas(k, ws, attr, top, count):
    """The types (count) or columns of worker k holding more bytes than
    the median worker's, most first, at most top (0: all)."""
    rows = []
    for name, v in getattr(ws[k], attr).items():
        if count:
            c, b = v
            cs = [getattr(w, attr).get(name, (0, 0))[0] for w in ws]
            bs = [getattr(w, attr).get(name, (0, 0))[1] for w in ws]
        else:
            b = v
            bs = [getattr(w, attr).get(name, 0) for w in ws]
        mb = float(_median(bs))
        delta = b - mb
        if delta < 0.5:
            continue
        if count:
            row = {"type": name, "count": c, "bytes": b, "median_count": float(_median(cs))}
        else:
            row = {"column": name, "bytes": b}
        row["median_bytes"] = mb
        row["delta_bytes"] = int(delta + 0.5)  # llround of a positive number
        rows.append(row)
    rows.sort(key=lambda r: (-r["delta_bytes"], r.get("type", r.get("column")).encode("utf-8", "surrogateescape")))
    return rows if top == 0 else rows[:top]


class _W:
    def __init__(self, name, host, pid):
        self.name, self.host, self.pid = name, host, pid
        self.paths, self.types, self.cols = [], {}, {}
        self.objects = self.heap = self.frames = self.rss = 0
        self.has_rss = False


def merge_fleet(files, series_leaks, threshold=3.5, top=10):
    """memtrace-fleet's JSON from its parts: files, [(path, _fleet_file's
    result)] in the order the paths were given, and series_leaks,
    {worker: the leaks of memtrace-fleet run on that worker's heap dumps
    alone}. The same rules as libanalyze/src/fleet/fleet.c: a worker's
    latest heap dump and latest DataFrame snapshot give its totals, a
    robust z-score per total, the median worker per type and column, and
    a leak's workers grouped by type, container type and path, with the
    lower middle worker's growth and the lowest confidence."""
    ws = {}
    for path, f in files:
        w = ws.get(f["worker"])
        if w is None:
            w = ws[f["worker"]] = _W(f["worker"], f["host"], f["pid"])
        if f["heap"]:
            w.paths.append(path)
            w.types = {t: tuple(v) for t, v in f["types"].items()}
            w.objects, w.heap = f["objects"], f["heap_bytes"]
            w.has_rss = f["rss_bytes"] is not None and f["rss_bytes"] > 0
            w.rss = f["rss_bytes"] if w.has_rss else 0
        if f["columns"] is not None:
            w.cols = dict(f["columns"])
            w.frames = f["frames_bytes"]
    order = sorted(ws.values(), key=lambda w: _verscmp_key(w.name))
    values = []
    for w in order:
        known = w.heap + w.frames
        values.append({"heap": w.heap, "frames": w.frames, "rss": w.rss,
                       "unmanaged": w.rss - known if w.has_rss and w.rss > known else 0})
    spread, z = {}, [dict() for _ in order]
    for m in _METRICS:
        needs_rss = m in ("rss", "unmanaged")
        xs, mx, mk = [], None, None
        for k, w in enumerate(order):
            if needs_rss and not w.has_rss:
                continue
            v = float(values[k][m])
            if mx is None or v > mx:
                mx, mk = v, k
            xs.append(v)
        med = float(_median(xs))
        mad = float(_median([abs(x - med) for x in xs]))
        spread[m] = {"workers": len(xs), "median_bytes": med, "mad_bytes": mad,
                     "max_bytes": mx, "max_worker": order[mk].name if mk is not None else None}
        floor = max(_FLOOR_SHARE * med, float(_FLOOR_BYTES))
        for k, w in enumerate(order):
            z[k][m] = 0.0 if needs_rss and not w.has_rss else _robust_z(float(values[k][m]), med, mad, floor)
    workers, outliers = [], []
    for k, w in enumerate(order):
        worst = "heap"
        for m in _METRICS[1:]:
            if z[k][m] > z[k][worst]:
                worst = m
        out = z[k][worst] > threshold
        if out:
            outliers.append(w.name)
        workers.append({"worker": w.name, "host": w.host, "pid": w.pid, "dumps": len(w.paths),
                        "latest": w.paths[-1] if w.paths else None, "objects": w.objects,
                        "heap_bytes": w.heap, "frames_bytes": w.frames,
                        "rss_bytes": w.rss if w.has_rss else None,
                        "unmanaged_bytes": values[k]["unmanaged"] if w.has_rss else None,
                        "z": z[k], "outlier": out, "outlier_by": worst if out else None,
                        "types": _fleet_deltas(k, order, "types", top, True) if out else [],
                        "columns": _fleet_deltas(k, order, "cols", top, False) if out else []})
    series = [w.name for w in order if len(w.paths) >= 3]
    groups = {}
    for name in series:
        seen = set()
        for l in series_leaks[name]:
            key = (l["type"], l["point_type"] or "", l["path"] or "")
            if key in seen:
                continue
            seen.add(key)
            g = groups.setdefault(key, {"workers": [], "bytes": [], "objects": [], "confidence": 1.0})
            g["workers"].append(name)
            g["bytes"].append(l["bytes_per_snapshot"])
            g["objects"].append(l["objects_per_snapshot"])
            g["confidence"] = min(g["confidence"], l["confidence"])
    leaks = []
    for (t, pt, path), g in groups.items():
        n = len(g["workers"])
        leaks.append({"type": t, "point_type": pt or None, "path": path or None, "n_workers": n,
                      "of_workers": len(series), "workers": g["workers"],
                      "bytes_per_snapshot": sorted(g["bytes"])[(n - 1) // 2],
                      "objects_per_snapshot": sorted(g["objects"])[(n - 1) // 2], "confidence": g["confidence"]})
    leaks.sort(key=lambda l: (-l["n_workers"], -l["bytes_per_snapshot"], l["type"].encode("utf-8", "surrogateescape")))
    return {"threshold": float(threshold), "spread": spread, "workers": workers, "outliers": outliers,
            "leaks_analyzed": True, "series_workers": len(series), "leaks": leaks}


def _fleet(paths, client, threshold, top):
    """analyze(..., "fleet"): one task a file, then one a worker's series
    of three heap dumps or more (the leak analysis, the slow part)."""
    from ._tools import ToolError
    files = [os.path.abspath(os.fspath(p)) for p in paths]

    def run(fn, args):
        if client is None:
            return [fn(a) for a in args]
        return client.gather(client.map(fn, args, pure=False))

    per_file = run(_fleet_file, files)
    for o in per_file:
        if "error" in o:
            raise ToolError(o["error"], o.get("status"))
    heap = {}
    for path, f in zip(files, per_file):
        if f["heap"]:
            heap.setdefault(f["worker"], []).append(path)
    names = [n for n in heap if len(heap[n]) >= 3]
    units = [("memtrace-fleet", ["--top", "0", "--format", "json", *heap[n]], (0,)) for n in names]
    outs = run(_run_tool, units)
    leaks, runs = {}, {}
    for n, o in zip(names, outs):
        if "error" in o:
            raise ToolError(o["error"], o.get("status"))
        got = o["result"]["workers"]
        if len(got) != 1 or got[0]["worker"] != n:
            raise ToolError("memtrace-fleet: %s's dumps name another worker on their own" % n)
        leaks[n] = o["result"]["leaks"]
        runs["series " + n] = {k: o[k] for k in ("seconds", "peak_rss", "host", "pid")}
    for path, f in zip(files, per_file):
        runs[path] = {"seconds": f["seconds"], "peak_rss": f["peak_rss"], "host": f["host"], "pid": f["pid_here"]}
    merged = merge_fleet(list(zip(files, per_file)), leaks, threshold, top)
    return {"what": "fleet", "merged": merged, "parts": {"files": dict(zip(files, per_file)), "leaks": leaks},
            "skipped": {}, "runs": runs}


_MERGE = {"info": merge_info, "diff": merge_diff, "leaks": merge_leaks, "fleet": None}


def analyze(paths, what="info", client=None, *, by="type", leaks_args=(), threshold=3.5, top=10):
    """Runs analysis what over snapshots, the per-file (or per-worker
    series) work spread over client's workers as futures, and merges the
    partial results here; with client=None the same work runs here, one
    tool after the other.

    what: "info" runs memtrace-info on each file; "diff" memtrace-diff on
    each worker's first and last dump (grouped by by); "leaks"
    memtrace-leaks on each worker's series of three or more dumps. A
    worker's series are the paths named heap-PID-RUN-TAG.snap with one
    PID-RUN (dump() names files so), in TAG order, or paths given as
    {worker: [paths in time order]}. Each tool runs with --format json
    and the merge adds counts and bytes, so it equals what the tools print
    run one by one on one machine.

    "fleet" gives memtrace-fleet's view (threshold and top as its
    --threshold and --top): each file is read on a worker (memtrace-info,
    and memtrace-frames for DataFrames), each worker's series of three
    heap dumps or more goes through memtrace-fleet on one, and the spread,
    robust z-scores, median worker and leaks grouped across workers are
    computed here by memtrace-fleet's rules; "merged" equals its
    --format json on the same paths in the same order (workers are named
    from the files' meta, as memtrace-fleet names them).

    Returns {"what", "merged", "parts": {file or worker: the tool's JSON},
    "skipped": {worker: why}, "runs": {file or worker: {"seconds",
    "peak_rss", "host", "pid"}}}. A tool that fails raises
    memtrace._tools.ToolError with its message."""
    from ._tools import ToolError
    if what not in _MERGE:
        raise ValueError("unknown analysis %r; analyze runs %s" % (what, ", ".join(sorted(_MERGE))))
    if what == "fleet":
        return _fleet(paths, client, threshold, top)
    units, skipped = _units(paths, what, by, tuple(leaks_args))
    if client is None:
        outs = [_run_tool(u) for _, u in units]
    else:
        futures = client.map(_run_tool, [u for _, u in units], pure=False)
        outs = client.gather(futures)
    parts, runs = {}, {}
    for (key, unit), o in zip(units, outs):
        if "error" in o:
            raise ToolError(o["error"], o.get("status"))
        parts[key] = o["result"]
        runs[key] = {k: o[k] for k in ("seconds", "peak_rss", "host", "pid")}
    return {"what": what, "merged": _MERGE[what](parts), "parts": parts, "skipped": skipped, "runs": runs}
