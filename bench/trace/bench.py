"""bench/trace: what memtrace's allocation tracer costs, how close its
sampled mode comes to the full trace, and what reading a large trace
costs, every figure from one run. Prints three tables:

1. overhead: three workloads (workload.py: a pure-Python object-heavy
   loop, a pandas pipeline, a NumPy array workload), each timed in one
   process with tracing off, the tracer sampled (sample_bytes, default
   512 KiB), the tracer in full (all=True), tracemalloc at 1 frame and
   at 25 frames; the modes in an order rotated each round, R rounds
   (default 5); medians of wall and CPU time (the process's, the tracer's
   threads included), of each mode's ratio to off in the same round with
   the least and greatest ratio. Tracing time includes starting and stopping the
   tracer (its last flush and close).
2. accuracy: each workload traced in full (memtrace.trace(all=True),
   in a fresh process); the full trace is then thinned as the sampled mode would have
   recorded it (SPEC.md: a block of n bytes kept with probability
   p = 1 - exp(-n/S), weight 1/p), under K seeds, the decision for a
   block drawn from a hash of (address, allocation time, seed) so its free
   gets the same one; the peak and the bytes of the top 10 stacks live at
   the peak and allocated are estimated from the thinned records and
   compared with the exact figures: relative errors (median and largest
   over the seeds) and the predicted standard error (SPEC.md's variance)
   over the true value (from the full trace: a block of n bytes adds
   n^2 (1 - p) / p), and how often the estimate falls within 1.96 of its
   own standard error (read from the thinned records, as memtrace-trace
   prints its 95% intervals). Goal: within 5% for stacks over 1% of the
   peak; the same count at smaller sample_bytes shows where it is met.
   Also file bytes per event of the full traces.
3. analysis at scale: a trace of N million events (default 100) made by
   the generator, analyzed by memtrace-trace: wall time, CPU time and peak
   RSS of the memtrace-trace process, file size and bytes per event.

Usage: bench.py BUILD [--rounds R] [--scale F] [--seeds K] [--events M]
                [--only overhead|accuracy|scale] [--keep DIR]
BUILD is a build tree with the Python package (BUILD/python), the
generator and memtrace-trace."""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))
import spec_reader  # noqa: E402

WORKLOADS = ["objects", "pandas", "numpy"]
SWEEP = [512 * 1024, 64 * 1024, 8 * 1024, 1024]
MODES = ["off", "sampled", "full", "tm1", "tm25"]
LABEL = {"off": "off", "sampled": "sampled", "full": "full", "tm1": "tracemalloc 1", "tm25": "tracemalloc 25"}


def mib(b):
    return "%.1f MiB" % (b / 1048576.0)


def pyenv(build):
    return dict(os.environ, PYTHONPATH=os.path.join(build, "python"))


def have_tracer(build):
    r = subprocess.run([sys.executable, "-c", "import memtrace, sys; from memtrace import _memtrace; "
                        "sys.exit(0 if hasattr(memtrace, 'trace') or hasattr(_memtrace, 'trace_start') else 1)"],
                       env=pyenv(build), capture_output=True)
    return r.returncode == 0


# 1. overhead -----------------------------------------------------------------

def overhead(build, rounds, scale, d, sample_bytes):
    modes = MODES if have_tracer(build) else ["off", "tm1", "tm25"]
    rows = []
    for kind in WORKLOADS:
        out = json.loads(subprocess.run(
            [sys.executable, os.path.join(HERE, "workload.py"), kind, str(rounds), d, "--scale", str(scale),
             "--modes", ",".join(modes), "--sample-bytes", str(sample_bytes)],
            env=pyenv(build), capture_output=True, text=True, check=True).stdout)
        n = len(out["off"])
        fresh = {m: fresh_run(build, kind, m, scale, d, sample_bytes) for m in modes}
        for m in modes:
            wr = sorted(out[m][i][0] / out["off"][i][0] for i in range(n))
            cr = sorted(out[m][i][1] / out["off"][i][1] for i in range(n))
            rows.append((kind, m, statistics.median(x[0] for x in out[m]), statistics.median(x[1] for x in out[m]),
                         statistics.median(wr), statistics.median(cr), wr[0], wr[-1], cr[0], cr[-1],
                         fresh[m][0], fresh[m][1]))
    print("1. overhead: %d rounds in one process per workload, modes rotated each round; ratio to off in the same"
          " round (median, [least .. greatest]); sampled = %d KiB" % (rounds, sample_bytes // 1024))
    if "sampled" not in modes:
        print("   (no memtrace.trace in %s/python: the tracer's modes are left out)" % build)
    print("%-8s %-15s %7s %7s %9s %-17s %9s %-17s %10s %10s" % ("workload", "mode", "wall s", "cpu s", "wall",
                                                                "  range", "cpu", "  range", "peak rss", "file"))
    for kind, m, w, c, wr, cr, wlo, whi, clo, chi, rss, fsize in rows:
        print("%-8s %-15s %7.3f %7.3f %+8.1f%% [%+5.1f .. %+5.1f%%] %+8.1f%% [%+5.1f .. %+5.1f%%] %10s %10s" % (
            kind, LABEL[m], w, c, (wr - 1) * 100, (wlo - 1) * 100, (whi - 1) * 100, (cr - 1) * 100,
            (clo - 1) * 100, (chi - 1) * 100, mib(rss), mib(fsize) if fsize is not None else "-"))
    print("peak rss: of a fresh process running the workload once in that mode (memtrace.trace in it for the"
          " tracer, PYTHONTRACEMALLOC for tracemalloc); file: its trace")
    print()
    return rows


def fresh_run(build, kind, mode, scale, d, sample_bytes):
    """Peak RSS (and trace file size) of one process running the workload
    once in mode: in one process the allocator keeps what earlier modes
    freed, so only a fresh process shows a mode's own peak."""
    env = pyenv(build)
    wl = [os.path.join(HERE, "workload.py"), kind, "once", d, "--scale", str(scale)]
    path = os.path.join(d, "fresh.snap")
    cmd = [sys.executable] + wl
    if mode.startswith("tm"):
        env["PYTHONTRACEMALLOC"] = mode[2:]
    elif mode in ("full", "sampled"):
        cmd += ["--trace", path, "--mode", mode, "--sample-bytes", str(sample_bytes)]
    rc, _wall, _cpu, rss, text = run_measured(cmd, env=env)
    if rc != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), rc, text[-2000:]))
    size = None
    if os.path.exists(path):
        size = os.path.getsize(path)
        os.unlink(path)
    return rss, size


# 2. accuracy -----------------------------------------------------------------

def read_allocs(path):
    """The allocs records of a trace as numpy arrays, in sequence order
    (spec_reader's checks on the container, msgpack arrays decoded
    without its per-field checks: a full trace holds millions)."""
    import msgpack
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    snap = spec_reader.Snapshot(path, kinds={"meta", "frames", "stacks"})
    cols = {k: [] for k in ("time_ns", "op", "address", "size", "stack", "count", "weight", "born_ns")}
    idx = {"time_ns": 0, "op": 1, "address": 2, "size": 3, "stack": 4, "count": 7, "weight": 8, "born_ns": 9}
    blocks = sorted((b for b in snap.blocks if b["kind"] == 9), key=lambda b: b["first"])
    for b in blocks:
        recs = msgpack.unpackb(b"\xdd" + b["count"].to_bytes(4, "big") + spec_reader.decompress(data, b), raw=False)
        for k, i in idx.items():
            cols[k].extend(r[i] if len(r) > i and r[i] is not None else 0 for r in recs)
    out = {k: np.array(v, dtype=np.float64 if k == "weight" else np.uint64) for k, v in cols.items()}
    return snap, out, len(data)


def mix64(x):
    """splitmix64's finalizer over a uint64 array: a uniform draw per block."""
    import numpy as np
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def exact_figures(a):
    """Full-mode truth: the live curve, the peak and where, bytes per stack
    live at the peak and allocated over the run."""
    import numpy as np
    cnt = np.where(a["count"] == 0, 1, a["count"]).astype(np.float64)
    w = np.where(a["weight"] > 0, a["weight"], cnt)
    sign = np.where(a["op"] == 0, 1.0, -1.0)
    signed = sign * a["size"].astype(np.float64) * w
    curve = np.cumsum(signed)
    k = int(np.argmax(curve))
    nstacks = int(a["stack"].max()) + 1
    live = np.bincount(a["stack"][:k + 1].astype(np.int64), weights=signed[:k + 1], minlength=nstacks)
    isalloc = a["op"] == 0
    alloc = np.bincount(a["stack"][isalloc].astype(np.int64), weights=(a["size"] * 1.0 * w)[isalloc],
                        minlength=nstacks)
    return {"peak": curve[k], "k": k, "live": live, "alloc": alloc, "curve": curve, "signed": signed}


def predicted_var(a, t, sample_bytes):
    """The variance a sampled trace's estimates have, from the full trace:
    a block of n bytes kept with p = 1 - exp(-n/S) adds n^2 (1 - p) / p
    (its free cancels it once it is gone)."""
    import numpy as np
    size = a["size"].astype(np.float64)
    p = -np.expm1(-size / sample_bytes)
    v = np.where(p > 0, size * size * (1 - p) / np.where(p > 0, p, 1.0), 0.0)
    sign = np.where(a["op"] == 0, 1.0, -1.0)
    st = a["stack"].astype(np.int64)
    k = t["k"]
    n = len(t["live"])
    isalloc = a["op"] == 0
    return {"live": np.bincount(st[:k + 1], weights=(sign * v)[:k + 1], minlength=n),
            "alloc": np.bincount(st[isalloc], weights=v[isalloc], minlength=n),
            "peak": float((sign * v)[:k + 1].sum())}


def thinned_figures(a, sample_bytes, seed, k_true):
    """The figures a sampled trace of the same run would give: each block
    kept with p = 1 - exp(-size/S) and weight 1/p, decided once per block
    from (address, birth time, seed) so its free agrees."""
    import numpy as np
    born = np.where(a["op"] == 0, a["time_ns"], a["born_ns"])
    with np.errstate(over="ignore"):
        key = mix64(a["address"] * np.uint64(0x9E3779B97F4A7C15) ^ mix64(born + np.uint64((seed * 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF)))
    u = (key >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    size = a["size"].astype(np.float64)
    p = -np.expm1(-size / sample_bytes)
    kept = u < p
    w = np.where(kept, 1.0 / np.where(p > 0, p, 1.0), 0.0)
    sign = np.where(a["op"] == 0, 1.0, -1.0)
    signed = sign * size * w
    var = sign * size * size * w * (w - 1.0)
    curve = np.cumsum(signed)
    nstacks = int(a["stack"].max()) + 1
    st = a["stack"].astype(np.int64)
    live = np.bincount(st[:k_true + 1], weights=signed[:k_true + 1], minlength=nstacks)
    live_var = np.bincount(st[:k_true + 1], weights=var[:k_true + 1], minlength=nstacks)
    isalloc = a["op"] == 0
    alloc = np.bincount(st[isalloc], weights=(size * w)[isalloc], minlength=nstacks)
    alloc_var = np.bincount(st[isalloc], weights=var[isalloc], minlength=nstacks)
    k = int(np.argmax(curve))
    return {"peak": curve[k], "k": k, "at_true_peak": curve[k_true], "live": live, "live_var": live_var,
            "alloc": alloc, "alloc_var": alloc_var, "records": int(kept.sum())}


def stack_name(snap, sid):
    frames = {f["id"]: f for f in snap.of("frames")}
    stacks = {s["id"]: s for s in snap.of("stacks")}
    s = stacks.get(sid)
    if s is None:
        return "(no stack)"
    f = frames.get(s["frame"], {"function": "?", "file": "?", "line": 0})
    return "%s %s:%d" % (f["function"], os.path.basename(f["file"]), f["line"])


def trace_workload(build, kind, scale, d, mode, out):
    """The workload run once in a fresh process, traced in mode into out
    (by memtrace.trace inside the process, as the overhead runs are)."""
    cmd = [sys.executable, os.path.join(HERE, "workload.py"), kind, "once", d, "--scale", str(scale), "--trace", out,
           "--mode", mode]
    subprocess.run(cmd, env=pyenv(build), check=True, capture_output=True)


def reader_check(build, path, t, n, sample_bytes):
    """memtrace-trace's peak of the full trace against this script's
    (two readers of one file must agree exactly), and, when memtrace-convert
    has --thin-to-sampled, memtrace-trace's peak of the thinned file."""
    tool = find_tool(build, ["memtrace-trace"])
    if tool is None:
        return ""
    r = subprocess.run([tool, "--format", "json", "--top", "1", path], capture_output=True, text=True)
    if r.returncode != 0:
        return "memtrace-trace failed (%d): %s" % (r.returncode, r.stderr.strip()[-300:])
    j = json.loads(r.stdout)
    out = "memtrace-trace: %d records, peak %d bytes (%s this script's)" % (
        j["records"], j["peak"]["bytes"], "equal to" if j["records"] == n and j["peak"]["bytes"] == t["peak"]
        else "DIFFERENT FROM")
    conv = find_tool(build, ["memtrace-convert"])
    if conv and "--thin-to-sampled" in subprocess.run([conv, "--help"], capture_output=True, text=True).stdout:
        thin = path + ".thin.snap"
        r = subprocess.run([conv, "--thin-to-sampled", str(sample_bytes), path, thin], capture_output=True, text=True)
        if r.returncode == 0:
            j = json.loads(subprocess.run([tool, "--format", "json", "--top", "1", thin], capture_output=True,
                                          text=True, check=True).stdout)
            out += "; thinned by memtrace-convert: peak %.0f +- %.0f (1.96 se), err %+.2f%%" % (
                j["peak"]["bytes"], 1.96 * j["peak"]["bytes_se"], 100 * (j["peak"]["bytes"] / t["peak"] - 1))
            os.unlink(thin)
        else:
            out += "; memtrace-convert --thin-to-sampled failed: " + r.stderr.strip()[-300:]
    return out


def accuracy(build, scale, seeds, d, sample_bytes):
    if not have_tracer(build):
        print("2. accuracy: no memtrace.trace in %s/python: skipped" % build)
        print()
        return []
    import numpy as np
    density = []
    print("2. accuracy: the full trace of each workload thinned to sampled at %d KiB under %d seeds, against the"
          " exact figures; err: median and largest |relative error| over the seeds; se: predicted standard error"
          " / true value" % (sample_bytes // 1024, seeds))
    summary = []
    calib = []
    calib_true = []
    by_s = {}
    for kind in WORKLOADS:
        path = os.path.join(d, "full_%s.snap" % kind)
        trace_workload(build, kind, scale, d, "full", path)
        snap, a, size = read_allocs(path)
        n = len(a["op"])
        density.append((kind, n, size))
        t = exact_figures(a)
        check = reader_check(build, path, t, n, sample_bytes)
        runs = [thinned_figures(a, sample_bytes, s + 1, t["k"]) for s in range(seeds)]
        pv = predicted_var(a, t, sample_bytes)
        pk = [abs(r["peak"] / t["peak"] - 1) for r in runs]
        at = [abs(r["at_true_peak"] / t["peak"] - 1) for r in runs]
        kept = statistics.median(r["records"] for r in runs)
        print("%s: %d events (%d kept by sampling, %.2f%%), peak %s: sampled peak err median %.2f%% max %.2f%%;"
              " live at the true peak's moment err median %.2f%% max %.2f%% (se %.2f%%)" % (
                  kind, n, kept, 100.0 * kept / max(n, 1), mib(t["peak"]), 100 * statistics.median(pk),
                  100 * max(pk), 100 * statistics.median(at), 100 * max(at),
                  100 * math.sqrt(max(pv["peak"], 0)) / t["peak"]))
        if check:
            print("  " + check)
        for what, key in (("live at the peak", "live"), ("allocated", "alloc")):
            top = np.argsort(-t[key])[:10]
            print("  top 10 stacks by bytes %s" % what)
            print("    %10s %7s %8s %8s %7s  %s" % ("bytes", "%peak", "err med", "err max", "se", "stack (innermost"
                                                                                             " frame)"))
            for sid in top:
                truth = t[key][sid]
                if truth <= 0:
                    continue
                errs = [abs(r[key][sid] / truth - 1) for r in runs]
                se = math.sqrt(max(pv[key][sid], 0.0)) / truth
                calib.extend(abs(r[key][sid] - truth) <= 1.96 * math.sqrt(max(r[key + "_var"][sid], 0.0)) + 1e-9
                             for r in runs)
                calib_true.extend(abs(r[key][sid] - truth) <= 1.96 * se * truth + 1e-9 for r in runs)
                share = truth / t["peak"]
                mark = ""
                if share >= 0.01:
                    ok = max(errs) <= 0.05
                    mark = " ok" if ok else " MISS"
                    summary.append((kind, key, ok))
                print("    %10s %6.1f%% %7.2f%% %7.2f%% %6.2f%%  %s%s" % (
                    mib(truth), 100 * share, 100 * statistics.median(errs), 100 * max(errs), 100 * se,
                    stack_name(snap, int(sid)), mark))
        for sb in SWEEP:
            rs = runs if sb == sample_bytes else [thinned_figures(a, sb, s + 1, t["k"]) for s in range(seeds)]
            ok = tot = 0
            for key in ("live", "alloc"):
                for sid in np.argsort(-t[key])[:10]:
                    if t[key][sid] >= 0.01 * t["peak"]:
                        tot += 1
                        ok += all(abs(r[key][sid] / t[key][sid] - 1) <= 0.05 for r in rs)
            by_s.setdefault(sb, []).append((kind, ok, tot, statistics.median(abs(r["peak"] / t["peak"] - 1)
                                                                               for r in rs)))
        os.unlink(path)
    n_ok = sum(1 for s in summary if s[2])
    print("stacks over 1%% of the peak within 5%% under every seed: %d of %d" % (n_ok, len(summary)))
    print("estimates within 1.96 standard errors of the truth: %.1f%% of %d with the true se, %.1f%% with the se"
          " estimated from the sampled records (the 95%% interval memtrace-trace prints; too narrow where a stack"
          " has few samples)" % (100.0 * sum(calib_true) / max(len(calib_true), 1), len(calib_true),
                                 100.0 * sum(calib) / max(len(calib), 1)))
    print("by sample_bytes (top-10 stacks over 1% of the peak, live at the peak and allocated, within 5% under"
          " every seed; median |peak error|):")
    for sb in sorted(by_s, reverse=True):
        print("  %7s: " % ("%d KiB" % (sb // 1024) if sb >= 1024 else "%d B" % sb) + ", ".join(
            "%s %d of %d (peak %.2f%%)" % (k, ok, tot, 100 * pe) for k, ok, tot, pe in by_s[sb]))
    print("file bytes per event, full mode: " + ", ".join(
        "%s %.2f (%d events, %s)" % (k, s / max(n, 1), n, mib(s)) for k, n, s in density))
    print()
    return density


# 3. analysis at scale --------------------------------------------------------

def run_measured(cmd, **kw):
    """Runs cmd under /usr/bin/time; returns (returncode, wall s, cpu s,
    peak rss bytes, output). Not wait4's rusage of a child forked from
    here: a child's ru_maxrss counts what it shared with this process
    before its exec (this process holds the accuracy section's arrays)."""
    with tempfile.TemporaryDirectory() as td:
        tf = os.path.join(td, "time")
        r = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf] + cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, **kw)
        with open(tf) as f:
            last = f.read().strip().splitlines()[-1].split()
    wall, user, sys_s, rss_kb = float(last[0]), float(last[1]), float(last[2]), int(last[3])
    return r.returncode, wall, user + sys_s, rss_kb * 1024, r.stdout.decode(errors="replace")


def find_tool(build, names):
    for n in names:
        for sub in ("bench", "tools", ""):
            p = os.path.join(build, sub, n)
            if os.path.exists(p):
                return p
    return None


def scale_bench(build, events_m, d):
    gen = find_tool(build, ["gen_trace"])
    tool = find_tool(build, ["memtrace-trace"])
    print("3. analysis at scale: %d million events" % events_m)
    if gen is None or tool is None:
        print("   no %s in %s: skipped" % ("generator" if gen is None else "memtrace-trace", build))
        print()
        return
    path = os.path.join(d, "big.snap")
    rc, wall, cpu, rss, text = run_measured([gen, path, str(events_m * 1_000_000)])
    if rc != 0:
        print("   generator failed (%d): %s" % (rc, text.strip()[-500:]))
        return
    size = os.path.getsize(path)
    truth = " ".join(text.split())
    print("   generated in %.1f s (%s, %.2f bytes per event); the generator's truth: %s" % (
        wall, mib(size), size / (events_m * 1e6), truth[:200]))
    rc, wall, cpu, rss, text = run_measured([tool, "--format", "json", path])
    print("   memtrace-trace FILE: exit %d, %.1f s wall, %.1f s cpu, peak RSS %s, %.0f ns per event" % (
        rc, wall, cpu, mib(rss), wall * 1e9 / (events_m * 1e6)))
    if rc != 0:
        print("   " + text.strip()[-1000:])
    else:
        import re
        j = json.loads(text)
        m = re.search(r"peak (\d+)", truth)
        print("   it read %d records, %d stacks, %d checkpoints; peak %d bytes at %.3f s (%s the generator's)" % (
            j["records"], j["stacks"], j["checkpoints"], j["peak"]["bytes"], j["peak"]["time_s"],
            "equal to" if m and int(m.group(1)) == j["peak"]["bytes"] else "DIFFERENT FROM"))
    os.unlink(path)
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--events", type=int, default=100, help="millions of events for the analysis bench")
    ap.add_argument("--sample-bytes", type=int, default=512 * 1024)
    ap.add_argument("--only", choices=["overhead", "accuracy", "scale"])
    ap.add_argument("--keep", help="a directory for the generated CSV and traces (default: a temporary one)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    d = a.keep or tempfile.mkdtemp(prefix="bench-trace-")
    os.makedirs(d, exist_ok=True)
    try:
        if a.only in (None, "overhead"):
            overhead(build, a.rounds, a.scale, d, a.sample_bytes)
        if a.only in (None, "accuracy"):
            accuracy(build, a.scale, a.seeds, d, a.sample_bytes)
        if a.only in (None, "scale"):
            scale_bench(build, a.events, d)
    finally:
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
