"""memtrace-export --to speedscope|folded and memtrace-diff on allocation
traces, against a replay of the allocs records that spec_reader reads from
SPEC.md alone: live bytes per stack at the peak (the first moment the
total is highest) and at the end, bytes allocated, and for sampled traces
the standard error sqrt(sum size^2 w (w - 1)) of each estimate."""

import json
import math
import os
import subprocess

import pytest

import spec_reader
from conftest import ROOT, tool

TRACES = [os.path.join(ROOT, "testdata", n) for n in ("trace-sites.snap", "trace.snap", "trace-sampled.snap")]


def run(name, *args):
    p = subprocess.run([tool(name), *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def replay(path):
    """Per stack: live at the peak, live at the end, allocated, and the
    variance of the end's estimate; and each stack's frames, root first."""
    s = spec_reader.Snapshot(path)
    frames = {f["id"]: (f["function"], f["file"], f["line"]) for f in s.of("frames")}
    parent = {st["id"]: (st["frame"], st["parent"]) for st in s.of("stacks")}
    live, alloc, var, total, best, at_peak = {}, {}, {}, 0.0, -1.0, {}
    for a in s.of("allocs"):
        w = a["weight"] or a["count"] or 1
        sign = 1 if a["op"] == 0 else -1
        k = a["stack"]
        live[k] = live.get(k, 0.0) + sign * a["size"] * w
        var[k] = var.get(k, 0.0) + sign * a["size"] ** 2 * w * (w - 1)
        if sign > 0:
            alloc[k] = alloc.get(k, 0.0) + a["size"] * w
        total += sign * a["size"] * w
        if total > best:
            best, at_peak = total, dict(live)

    def path_of(k):
        out = []
        while k and k in parent and len(out) < 1000:
            out.append(frames[parent[k][0]])
            k = parent[k][1]
        return tuple(reversed(out))

    return {k: path_of(k) for k in live}, at_peak, live, alloc, var


@pytest.mark.parametrize("path", TRACES)
def test_speedscope_profiles_are_the_replay(path):
    paths, peak, end, alloc, _var = replay(path)
    doc = json.loads(run("memtrace-export", "--to", "speedscope", path))
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    fr = [(f["name"], f["file"], f["line"]) for f in doc["shared"]["frames"]]
    assert len(set(fr)) == len(fr)
    want = [peak, end, alloc]
    assert len(doc["profiles"]) == 3
    for prof, figures in zip(doc["profiles"], want):
        assert prof["type"] == "sampled" and prof["unit"] == "bytes"
        got = {}
        for sample, weight in zip(prof["samples"], prof["weights"]):
            key = tuple(fr[i] for i in sample)
            got[key] = got.get(key, 0) + weight
        expect = {}
        for k, v in figures.items():
            if round(v) > 0:
                expect[paths[k]] = expect.get(paths[k], 0) + round(v)
        assert got == expect
        assert prof["endValue"] == sum(prof["weights"])


@pytest.mark.parametrize("what", ["peak", "leaked", "allocated"])
def test_folded_is_the_replay(what):
    path = TRACES[1]
    paths, peak, end, alloc, _var = replay(path)
    figures = {"peak": peak, "leaked": end, "allocated": alloc}[what]
    got = {}
    for line in run("memtrace-export", "--to", "folded", "--what", what, path).splitlines():
        stack, n = line.rsplit(" ", 1)
        got[stack] = int(n)
    expect = {}
    for k, v in figures.items():
        if round(v) > 0:
            name = ";".join(f"{fn} ({fi}:{ln})" for fn, fi, ln in paths[k])
            expect[name] = expect.get(name, 0) + round(v)
    assert got == expect


def test_diff_of_traces_carries_the_standard_error():
    a, b = TRACES[1], TRACES[2]
    doc = json.loads(run("memtrace-diff", "-f", "json", "--by", "traceback", "--top", "0", a, b))
    assert doc["sampled"] is True and doc["moment"] == "end"
    sides = []
    for path in (a, b):
        paths, _peak, end, _alloc, var = replay(path)
        by = {}
        for k, v in end.items():
            name = " < ".join(f"{fi}:{ln}" for _fn, fi, ln in reversed(paths[k])) if paths[k] else "<unknown>"
            e = by.setdefault(name, [0.0, 0.0])
            e[0] += v
            e[1] += var[k]
        sides.append(by)
    rows = {r["group"]: r for r in doc["groups"]}
    floor = []
    for path in (a, b):
        meta = spec_reader.Snapshot(path).meta()
        floor.append(float(meta["sample_bytes"]) ** 2 if meta.get("trace_mode") == "sampled" else 0.0)
    for name in set(sides[0]) | set(sides[1]):
        va, vara = sides[0].get(name, (0.0, 0.0))
        vb, varb = sides[1].get(name, (0.0, 0.0))
        if va == 0 and vb == 0:
            continue
        r = rows[name]
        assert r["bytes_a"] == pytest.approx(va, rel=1e-9, abs=1e-6)
        assert r["bytes_b"] == pytest.approx(vb, rel=1e-9, abs=1e-6)
        assert r["bytes_delta"] == pytest.approx(vb - va, rel=1e-9, abs=1e-6)
        # Each side's reported bytes gain one sample's worth of variance,
        # sample_bytes^2, when that side is sampled (trace.h).
        vara, varb = max(vara, 0) + floor[0], max(varb, 0) + floor[1]
        assert r["bytes_b_se"] == pytest.approx(math.sqrt(varb), rel=1e-6, abs=1e-6)
        assert r["bytes_delta_se"] == pytest.approx(math.sqrt(vara + varb), rel=1e-6, abs=1e-6)


HOSTILE = os.path.join(ROOT, "testdata", "hostile", "trace-names.snap")


def test_hostile_names_in_speedscope_folded_and_plot(tmp_path):
    """A frame whose function and file hold quotes, a newline, escapes, NUL
    and invalid UTF-8: speedscope stays JSON (the names as JSON strings),
    folded stays one line a stack of valid UTF-8, and gnuplot draws the
    plot without running anything a name holds."""
    doc = json.loads(run("memtrace-export", "--to", "speedscope", HOSTILE))
    names = [f["name"] for f in doc["shared"]["frames"]]
    assert "main" in names and any('q"b\\s\nnl' in n for n in names)
    assert [p["weights"] for p in doc["profiles"]] == [[1000, 500], [1000], [1000, 500]]
    out = subprocess.run([tool("memtrace-export"), "--to", "folded", "--what", "allocated", HOSTILE],
                         capture_output=True).stdout
    lines = out.decode("utf-8").splitlines()
    assert len(lines) == 2
    assert sorted(int(l.rsplit(" ", 1)[1]) for l in lines) == [500, 1000]
    p = subprocess.run([tool("memtrace-plot"), "trace", "-k", "-o", "t.svg", HOSTILE], cwd=tmp_path,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "t.svg").stat().st_size > 0
    assert not (tmp_path / "PWNED").exists()
