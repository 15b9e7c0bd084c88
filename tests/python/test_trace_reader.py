"""memtrace-trace against figures computed here from the records that the
independent reader (spec_reader.py, written from formats/SPEC.md alone)
decodes: live bytes per stack, the peak, the end, allocated, temporary
and the standard errors of sampled traces."""

import json
import math
import os
import subprocess

import spec_reader
from conftest import BUILD, tool


def trace_json(path, *args):
    p = subprocess.run([tool("memtrace-trace"), "--format", "json", "--top", "0", *args, path],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def oracle(path, at_ns=None, temporary_ns=1_000_000, growing=False):
    """Replays the allocs records in file order, as SPEC.md 4.3 says."""
    s = spec_reader.Snapshot(path, growing=growing)
    live, var = {}, {}
    tot = tot_var = 0.0
    peak = (-1.0, 0.0, None, None, None)  # bytes, var, seq, time, per-stack copy
    allocated = alloc_var = temp = temp_var = 0.0
    at = None
    for seq, r in enumerate(s.of("allocs")):
        if at_ns is not None and at is None and r["time_ns"] > at_ns:
            at = dict(live)
        w = r["weight"] if r["weight"] > 0 else (r["count"] or 1)
        x = r["size"] * w
        v = r["size"] ** 2 * w * (w - 1) if r["weight"] > 0 else 0.0
        sign = 1 if r["op"] == 0 else -1
        live[r["stack"]] = live.get(r["stack"], 0.0) + sign * x
        var[r["stack"]] = var.get(r["stack"], 0.0) + sign * v
        tot += sign * x
        tot_var += sign * v
        if r["op"] == 0:
            allocated += x
            alloc_var += v
        elif r["time_ns"] - r["born_ns"] <= temporary_ns:
            temp += x
            temp_var += v
        if tot > peak[0]:
            peak = (tot, tot_var, seq, r["time_ns"], dict(live))
    if at_ns is not None and at is None:
        at = dict(live)
    return dict(peak=peak, end=tot, end_var=tot_var, live=live, allocated=allocated, alloc_var=alloc_var,
                temp=temp, temp_var=temp_var, at=at)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def floor(path):
    """The variance a reported figure in bytes gains (trace.h): one
    sample's worth, sample_bytes^2, in a sampled trace."""
    meta = spec_reader.Snapshot(path, growing=True).meta()  # closed or not
    return float(meta["sample_bytes"]) ** 2 if meta.get("trace_mode") == "sampled" else 0.0


def check(path, d, o):
    f = floor(path)
    assert close(d["peak"]["bytes"], o["peak"][0])
    assert d["peak"]["record"] == o["peak"][2]
    assert close(d["peak"]["time_s"], o["peak"][3] / 1e9)
    assert close(d["peak"]["bytes_se"], math.sqrt(max(o["peak"][1], 0) + f))
    assert close(d["leaked"]["bytes"], o["end"])
    assert close(d["leaked"]["bytes_se"], math.sqrt(max(o["end_var"], 0) + f))
    assert close(d["allocated"]["bytes"], o["allocated"])
    assert close(d["allocated"]["bytes_se"], math.sqrt(o["alloc_var"] + f))
    assert close(d["temporary"]["bytes"], o["temp"])
    assert close(d["temporary"]["bytes_se"], math.sqrt(o["temp_var"] + f))
    per_stack = {x["stack"]: x for x in d["sites"]}
    for stack, b in o["peak"][4].items():
        assert close(per_stack[stack]["live_bytes"] if stack in per_stack else 0.0, b), stack
    for stack, b in o["live"].items():
        assert close(per_stack[stack]["leaked_bytes"] if stack in per_stack else 0.0, b), stack


def test_fixtures_match_the_independent_replay(testdata):
    for name in ("trace.snap", "trace-sampled.snap"):
        path = os.path.join(testdata, name)
        check(path, trace_json(path), oracle(path))
    # Cut inside its last allocs block: what the complete blocks hold.
    path = os.path.join(testdata, "growing", "trace-cut.snap")
    d = trace_json(path)
    assert d["truncated"] is True
    check(path, d, oracle(path, growing=True))


def test_generated_trace_at_many_moments(tmp_path):
    """A synthetic trace of 100k events with a checkpoint every 10 ms: the
    peak's stacks, the end, and the live bytes by stack at moments between
    checkpoints, from checkpoints and from a full replay."""
    path = str(tmp_path / "t.snap")
    subprocess.run([os.path.join(BUILD, "bench", "gen_trace"), path, "100000", "--stacks", "50",
                    "--checkpoint-ms", "10"], check=True, capture_output=True)
    check(path, trace_json(path), oracle(path))
    for t in (0.0061, 0.025, 0.0499995, 0.0667, 0.095):
        o = oracle(path, at_ns=round(t * 1e9))
        for extra in ([], ["--no-checkpoints"]):
            d = trace_json(path, "--at", repr(t), *extra)
            per_stack = {x["stack"]: x["live_bytes"] for x in d["sites"]}
            assert close(d["at"]["bytes"], sum(o["at"].values())), (t, extra)
            for stack, b in o["at"].items():
                assert close(per_stack.get(stack, 0.0), b), (t, extra, stack)


def test_sampled_generated_trace(tmp_path):
    path = str(tmp_path / "s.snap")
    subprocess.run([os.path.join(BUILD, "bench", "gen_trace"), path, "100000", "--stacks", "20",
                    "--sampled", "65536"], check=True, capture_output=True)
    d = trace_json(path)
    assert d["mode"] == "sampled" and d["estimates"] is True
    check(path, d, oracle(path))
