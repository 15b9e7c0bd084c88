"""memtrace-gpu against figures Python computes from the same allocator state.

The fixtures are written with memtrace.Writer's gpu records (SPEC.md 4.5):
a random allocator simulation (first fit in 2 MiB small and 20 MiB large
segments, several streams, frees pending on a stream, a trace whose first
entries a ring buffer dropped) and hand-made OOMs whose causes are known by
construction. The oracle for the trace is independent of the tool's replay:
it walks the trace backwards from the final state, which needs no guess about
what the dropped entries held."""

import json
import os
import random
import subprocess

import pytest

from conftest import tool

MiB = 1 << 20
SMALL, LARGE = 2 * MiB, 20 * MiB


def gpu(*args):
    r = subprocess.run([tool("memtrace-gpu"), *map(str, args)], capture_output=True, text=True)
    return r


def gpu_json(*args):
    r = gpu("-f", "json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


class Sim:
    """A toy caching allocator: enough to make consistent states and traces."""

    def __init__(self, rng, device=0, streams=(0,)):
        self.rng, self.device, self.streams = rng, device, streams
        self.segs = {}    # address -> dict(size, stream, small, blocks: {addr: [size, req, state, stack]})
        self.events = []  # (action, addr, size, stream, stack)
        self.next_addr = 0x7f0000000000 + device * (1 << 40)
        self.t = 0

    def ev(self, action, addr, size, stream, stack=0):
        self.events.append((action, addr, size, stream, stack))

    def alloc(self, req, stream, stack):
        size = max(512, (req + 511) // 512 * 512)
        small = size <= MiB
        for a, s in sorted(self.segs.items()):
            if s["stream"] != stream or s["small"] != small:
                continue
            at = a
            for b in sorted(s["blocks"]):
                if b - at >= size:
                    break
                at = max(at, b + s["blocks"][b][0])
            else:
                if a + s["size"] - at < size:
                    continue
            s["blocks"][at] = [size, req, "active_allocated", stack]
            self.ev("alloc", at, size, stream, stack)
            return at
        segsize = SMALL if small else (LARGE if size < 10 * MiB else (size + 2 * MiB - 1) // (2 * MiB) * 2 * MiB)
        a = self.next_addr
        self.next_addr += segsize + 64 * MiB
        self.segs[a] = {"size": segsize, "stream": stream, "small": small, "blocks": {}}
        self.ev("segment_alloc", a, segsize, stream)
        s = self.segs[a]
        s["blocks"][a] = [size, req, "active_allocated", stack]
        self.ev("alloc", a, size, stream, stack)
        return a

    def live(self):
        return [(a, b) for a, s in self.segs.items() for b, v in s["blocks"].items() if v[2] == "active_allocated"]

    def seg_of(self, b):
        return next(a for a, s in self.segs.items() if a <= b < a + s["size"])

    def free(self, b, pending=False):
        s = self.segs[self.seg_of(b)]
        v = s["blocks"][b]
        self.ev("free_requested", b, v[0], s["stream"], v[3])
        if pending:
            v[2] = "active_pending_free"
        else:
            self.ev("free_completed", b, v[0], s["stream"], v[3])
            del s["blocks"][b]

    def release_empty(self):
        for a in [a for a, s in self.segs.items() if not s["blocks"]]:
            if self.rng.random() < 0.5:
                self.ev("segment_free", a, self.segs[a]["size"], self.segs[a]["stream"])
                del self.segs[a]

    def write(self, w, events_from=0, pools=None):
        for a, s in sorted(self.segs.items()):
            blocks = s["blocks"]
            alloc = sum(v[0] for v in blocks.values() if v[2] == "active_allocated")
            active = sum(v[0] for v in blocks.values())
            req = sum(v[1] for v in blocks.values() if v[2] == "active_allocated")
            w.add_gpu_segment(self.device, a, s["size"], stream=s["stream"], pool="small" if s["small"] else "large",
                              allocated_bytes=alloc, active_bytes=active, requested_bytes=req)
            at = a
            for b in sorted(blocks) + [a + s["size"]]:
                if b > at:
                    w.add_gpu_block(self.device, at, b - at, state="inactive")
                if b < a + s["size"]:
                    v = blocks[b]
                    w.add_gpu_block(self.device, b, v[0], requested=v[1], state=v[2], stack=v[3])
                    at = b + v[0]
        for i, (action, addr, size, stream, stack) in enumerate(self.events[events_from:]):
            w.add_gpu_event(self.device, action, addr, size, time_ns=1000 * i, stream=stream, stack=stack)


def simulate(seed, device=0, steps=400):
    rng = random.Random(seed)
    sim = Sim(rng, device, streams=(0, 0x5555))
    for i in range(steps):
        live = sim.live()
        if live and rng.random() < 0.45:
            sim.free(rng.choice(live)[1], pending=rng.random() < 0.05)
        else:
            req = rng.choice([rng.randrange(1, 900 * 1024), rng.randrange(MiB + 1, 9 * MiB), rng.randrange(10 * MiB, 60 * MiB)])
            sim.alloc(req, rng.choice(sim.streams), stack=rng.randrange(1, 4))
        if i % 40 == 39:
            sim.release_empty()
    return sim


def write_frames(w):
    for k in (1, 2, 3):
        w.add_frame(k, "train.py", 10 * k, "step%d" % k)
        w.add_stack(k, k)


def pool_oracle(sim):
    rows = {}
    for a, s in sim.segs.items():
        key = ("small" if s["small"] else "large", s["stream"])
        r = rows.setdefault(key, dict(reserved=0, allocated=0, requested=0, pending_free=0, releasable=0,
                                      largest_free=0, segments=0))
        r["segments"] += 1
        r["reserved"] += s["size"]
        used = 0
        at = a
        for b in sorted(s["blocks"]) + [a + s["size"]]:
            if b > at:
                r["largest_free"] = max(r["largest_free"], b - at)
            if b < a + s["size"]:
                v = s["blocks"][b]
                used += v[0]
                if v[2] == "active_allocated":
                    r["allocated"] += v[0]
                    r["requested"] += v[1]
                else:
                    r["pending_free"] += v[0]
                at = b + v[0]
        if not used:
            r["releasable"] += s["size"]
    for r in rows.values():
        r["inactive"] = r["reserved"] - r["allocated"] - r["pending_free"]
        r["stranded"] = r["inactive"] - r["releasable"]
    return rows


def backward_curve(sim, events_from):
    """Active and reserved bytes after each kept entry, from the final state backwards."""
    active = sum(v[0] for s in sim.segs.values() for v in s["blocks"].values())
    reserved = sum(s["size"] for s in sim.segs.values())
    kept = sim.events[events_from:]
    after = [None] * len(kept)
    for i in range(len(kept) - 1, -1, -1):
        after[i] = (active, reserved)
        action, _, size, _, _ = kept[i]
        if action == "alloc":
            active -= size
        elif action == "free_completed":
            active += size
        elif action == "segment_alloc":
            reserved -= size
        elif action == "segment_free":
            reserved += size
    return (active, reserved), after


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_pools_and_peak_match_python(tmp_path, seed):
    import memtrace

    sim = simulate(seed)
    drop = 37 if seed % 2 else 0  # a ring buffer that wrapped
    path = tmp_path / "s.snap"
    with memtrace.Writer(str(path)) as w:
        w.add_meta("gpu_source", "torch")
        write_frames(w)
        sim.write(w, events_from=drop)
    got = gpu_json(path)
    (dev,) = got["files"][0]["devices"]
    want = pool_oracle(sim)
    rows = {(p["pool"], p["stream"]): p for p in dev["pools"] if p["pool"] is not None}
    assert set(rows) == set(want)
    for key, w_ in want.items():
        for k, v in w_.items():
            assert rows[key][k] == v, (key, k)
        p = rows[key]
        assert p["internal_fragmentation"] == pytest.approx(
            (w_["allocated"] - w_["requested"]) / w_["allocated"] if w_["allocated"] else 0)
        assert p["external_fragmentation"] == pytest.approx(
            1 - w_["largest_free"] / w_["inactive"] if w_["inactive"] else 0)
        assert p["utilization"] == pytest.approx(w_["allocated"] / w_["reserved"])
    (total,) = [p for p in dev["pools"] if p["pool"] is None]
    for k in ("reserved", "allocated", "requested", "pending_free", "releasable", "stranded"):
        assert total[k] == sum(w_[k] for w_ in want.values()), k
    assert total["largest_free"] == max(w_["largest_free"] for w_ in want.values())
    # The trace, against the backward walk.
    start, after = backward_curve(sim, drop)
    t = dev["trace"]
    assert t["events"] == len(after)
    assert t["start_active"] == start[0]
    peak = max([start[0]] + [a for a, _ in after])
    assert t["peak_active"] == peak
    assert t["max_reserved"] == max([start[1]] + [r for _, r in after])
    assert t["end_active"] == after[-1][0]
    if after and peak != start[0]:
        assert after[t["peak_index"]][0] == peak
        assert t["peak_reserved"] == after[t["peak_index"]][1]
    seen, orphan = set(), False
    for action, addr, _, _, _ in sim.events[drop:]:
        if action in ("alloc", "segment_alloc"):
            seen.add((action == "alloc", addr))
        elif action in ("free_completed", "segment_free"):
            orphan = orphan or (action == "free_completed", addr) not in seen
    assert t["wrapped"] == orphan
    # Sites of the live blocks: bytes by stack.
    by = {}
    for s in sim.segs.values():
        for v in s["blocks"].values():
            if v[2] == "active_allocated":
                by[v[3]] = by.get(v[3], 0) + v[0]
    assert {s["stack"]: s["bytes"] for s in dev["sites"]} == by
    assert {s["site"] for s in dev["sites"]} <= {"step1 (train.py:10)", "step2 (train.py:20)", "step3 (train.py:30)"}


def test_sites_at_peak_hold_the_peak(tmp_path):
    import memtrace

    sim = simulate(9)
    path = tmp_path / "s.snap"
    with memtrace.Writer(str(path)) as w:
        write_frames(w)
        sim.write(w, events_from=50)
    dev = gpu_json(path)["files"][0]["devices"][0]
    # Every live block at the peak has a stack here except those the
    # dropped entries allocated (stack 0 when only their free is seen).
    assert sum(s["bytes"] for s in dev["sites_at_peak"]) == dev["trace"]["peak_active"]


def oom_fixture(w, *, oom_size, device_free, expandable=False):
    """Two 20 MiB large segments on stream 0, each with a 12 MiB block in use
    and 8 MiB free; then an OOM of oom_size with device_free free."""
    base = 0x7f0000000000
    if expandable:
        w.add_meta("gpu.expandable_segments", 1)
    for k in range(2):
        a = base + k * (1 << 30)
        w.add_gpu_segment(0, a, 20 * MiB, stream=0, pool="large", allocated_bytes=12 * MiB,
                          active_bytes=12 * MiB, requested_bytes=12 * MiB, flags=1 if expandable else 0)
        w.add_gpu_block(0, a, 12 * MiB, requested=12 * MiB, state="active_allocated", stack=0)
        w.add_gpu_block(0, a + 12 * MiB, 8 * MiB, state="inactive")
    t = 0
    for k in range(2):
        a = base + k * (1 << 30)
        w.add_gpu_event(0, "segment_alloc", a, 20 * MiB, time_ns=t)
        w.add_gpu_event(0, "alloc", a, 12 * MiB, time_ns=t + 1)
        w.add_gpu_event(0, "alloc", a + 12 * MiB, 8 * MiB, time_ns=t + 2)
        w.add_gpu_event(0, "free_requested", a + 12 * MiB, 8 * MiB, time_ns=t + 3)
        w.add_gpu_event(0, "free_completed", a + 12 * MiB, 8 * MiB, time_ns=t + 4)
        t += 10
    w.add_gpu_event(0, "oom", 0, oom_size, time_ns=t, device_free=device_free)


@pytest.mark.parametrize("size,free,expandable,cause,helps", [
    # 12 MiB: 16 MiB free in two 8 MiB holes, 2 MiB on the device.
    (12 * MiB, 2 * MiB, False, "fragmentation", ["expandable_segments:True"]),
    # Expandable segments already on: nothing to suggest below 21 MiB.
    (12 * MiB, 2 * MiB, True, "fragmentation", []),
    # 30 MiB with 16 + 16 free: fragmentation; no segment is 30 MiB, so
    # max_split_size_mb would not have kept one whole.
    (30 * MiB, 16 * MiB, False, "fragmentation", ["expandable_segments:True"]),
    # 40 MiB with 16 + 2 free: capacity, short of 22 MiB.
    (40 * MiB, 2 * MiB, False, "capacity", []),
    # 8 MiB fits an 8 MiB hole: neither cause; something the file does not show refused it.
    (8 * MiB, 0, False, "fits", []),
])
def test_oom_classified(tmp_path, size, free, expandable, cause, helps):
    import memtrace

    path = tmp_path / "oom.snap"
    with memtrace.Writer(str(path)) as w:
        oom_fixture(w, oom_size=size, device_free=free, expandable=expandable)
    dev = gpu_json(path)["files"][0]["devices"][0]
    (o,) = dev["ooms"]
    assert o["pool_free"] == 16 * MiB
    assert o["largest_free"] == 8 * MiB
    assert o["active"] == 24 * MiB and o["reserved"] == 40 * MiB
    assert o["cause"] == cause
    assert o["would_help"] == helps
    assert o["shortfall"] == (max(0, size - 16 * MiB - free) if cause == "capacity" else 0)
    text = gpu(path).stdout
    assert cause + ":" in text
    for h in helps:
        assert h in text


def test_two_files_side_by_side(tmp_path):
    import memtrace

    paths = []
    for rank in range(2):
        sim = simulate(20 + rank, steps=150 + 150 * rank)
        p = tmp_path / ("rank%d.snap" % rank)
        with memtrace.Writer(str(p)) as w:
            sim.write(w)
        paths.append((p, sim))
    got = gpu_json(*[p for p, _ in paths])
    peaks = [f["devices"][0]["trace"]["peak_active"] for f in got["files"]]
    want = [max([backward_curve(sim, 0)[0][0]] + [a for a, _ in backward_curve(sim, 0)[1]]) for _, sim in paths]
    assert peaks == want
    mean = sum(peaks) / 2
    assert got["spread"]["imbalance"] == pytest.approx((max(peaks) - mean) / mean)
    text = gpu(*[p for p, _ in paths]).stdout
    assert "side by side" in text and "imbalance" in text


def test_device_filter_and_two_devices(tmp_path):
    import memtrace

    path = tmp_path / "two.snap"
    sims = [simulate(30 + d, device=d, steps=120) for d in (0, 1)]
    with memtrace.Writer(str(path)) as w:
        w.add_gpu_device(0, "NVIDIA H100", total_bytes=80 << 30)
        w.add_gpu_device(1, "NVIDIA H100", total_bytes=80 << 30)
        w.add_meta("gpu0.free_memory", (80 << 30) - (5 << 30))
        for s in sims:
            s.write(w)
    got = gpu_json(path)["files"][0]["devices"]
    assert [d["device"] for d in got] == [0, 1]
    res0 = sum(s["size"] for s in sims[0].segs.values())
    assert got[0]["used"] == 5 << 30 and got[0]["outside_pytorch"] == (5 << 30) - res0
    assert got[1]["used"] is None
    only = gpu_json("--device", 1, path)["files"][0]["devices"]
    assert [d["device"] for d in only] == [1] and only[0]["pools"] == got[1]["pools"]
    r = gpu("--device", 7, path)
    assert r.returncode == 3 and "no GPU records of device 7" in r.stderr


def test_refusals(tmp_path, testdata):
    r = gpu(tmp_path / "missing.snap")
    assert r.returncode != 0 and "missing.snap" in r.stderr
    import memtrace

    p = tmp_path / "heap.snap"
    with memtrace.Writer(str(p)) as w:
        w.add_object(1, "int", 28)
    r = gpu(p)
    assert r.returncode == 3 and "no GPU records" in r.stderr


def test_max_split_only_when_a_segment_was_carved(tmp_path):
    """A 64 MiB segment carved by two 12 MiB blocks (holes of 20 MiB): a
    30 MiB request fails with 40 MiB free; with max_split_size_mb:29 the
    12 MiB requests would not have split it."""
    import memtrace

    a = 0x7f0000000000
    path = tmp_path / "carved.snap"
    with memtrace.Writer(str(path)) as w:
        w.add_gpu_segment(0, a, 64 * MiB, pool="large", allocated_bytes=24 * MiB, active_bytes=24 * MiB)
        for off, size, state in ((0, 12, "active_allocated"), (12, 20, "inactive"), (32, 12, "active_allocated"),
                                 (44, 20, "inactive")):
            w.add_gpu_block(0, a + off * MiB, size * MiB, requested=size * MiB, state=state)
        w.add_gpu_event(0, "oom", 0, 30 * MiB, time_ns=1, device_free=0)
    (o,) = gpu_json(path)["files"][0]["devices"][0]["ooms"]
    assert (o["pool_free"], o["largest_free"], o["cause"]) == (40 * MiB, 20 * MiB, "fragmentation")
    assert o["would_help"] == ["expandable_segments:True", "max_split_size_mb:29"]


# ---- batch size ---------------------------------------------------------

GiB = 1 << 30


def steps_file(path, points, *, total=80 * GiB, used_extra=0, model=None, kind="torch"):
    """points: (batch, peak_allocated, peak_reserved) per step."""
    import memtrace

    with memtrace.gpu_steps(path) as rec:
        if model:
            for k, v in model.items():
                rec._w.add_meta(k, v)
        for b, peak, res in points:
            if kind == "torch":
                stats = {"allocated_bytes.all.peak": peak, "reserved_bytes.all.peak": res,
                         "allocated_bytes.all.current": peak // 3, "reserved_bytes.all.current": res}
                rec.record(b, stats, total=total, used=res + used_extra)
            elif kind == "jax":
                rec.record(b, {"peak_bytes_in_use": peak, "bytes_in_use": peak // 3, "bytes_limit": total,
                               "peak_bytes_reserved": res, "bytes_reserved": res})
            else:
                rec.record(b, {"peak": peak, "current": peak // 3}, total=total)


def expected_fit(points):
    import numpy as np

    x = np.array([p[0] for p in points], float)
    y = np.array([p[1] for p in points], float)
    slope, icpt = np.polyfit(x, y, 1)
    return slope, icpt, y - (icpt + slope * x)


def expected_max(slope, icpt, frag, budget):
    b = 0
    while (icpt + (b + 1) * slope) * (1 + frag) <= budget:
        b += 1
    return b


@pytest.mark.parametrize("kind", ["torch", "jax", "tf"])
def test_batch_fit_matches_least_squares(tmp_path, kind):
    rng = random.Random(5)
    per, fixed = 37 * MiB, 3 * GiB
    pts = []
    for b in (8, 16, 24, 32, 32):
        peak = fixed + b * per + rng.randrange(-20 * MiB, 20 * MiB)
        pts.append((b, peak, int(peak * 1.08)))
    path = tmp_path / "steps.snap"
    steps_file(path, pts, kind=kind, used_extra=700 * MiB)
    (b,) = gpu_json("--batch", path)["files"][0]["batch"]
    # The fit is over each size's highest peak.
    top = {}
    for x, peak, res in pts:
        top[x] = max(top.get(x, 0), peak)
    fpts = sorted((x, y, 0) for x, y in top.items())
    slope, icpt, resid = expected_fit(fpts)
    assert b["per_sample"] == pytest.approx(slope, rel=1e-9)
    assert b["fixed"] == pytest.approx(icpt, rel=1e-9)
    assert b["residual_max"] == pytest.approx(max(abs(resid)), rel=1e-6)
    assert [p["batch"] for p in b["points"]] == [8, 16, 24, 32]
    frag = max(res / peak - 1 for _, peak, res in pts if peak == top[_]) if kind != "tf" else 0
    assert b["fragmentation"] == pytest.approx(frag, rel=1e-6)
    outside = 700 * MiB if kind == "torch" else 0
    assert b["outside"] == outside
    budget = 80 * GiB * 0.95 - outside
    assert b["max_batch"] == expected_max(slope, icpt, frag, budget)
    assert b["max_batch_safe"] <= b["max_batch"]
    assert b["confidence"] in ("low", "medium")  # far beyond 32
    text = gpu("--batch", path).stdout
    assert "largest batch that fits: %d" % b["max_batch"] in text


def test_batch_two_sizes_is_low_confidence_and_an_oom_bounds_it(tmp_path):
    import memtrace

    path = tmp_path / "s.snap"
    with memtrace.gpu_steps(path) as rec:
        for bs in (4, 8):
            rec.record(bs, {"allocated_bytes.all.peak": GiB + bs * 100 * MiB}, total=16 * GiB)
        rec.record(64, {"allocated_bytes.all.peak": 15 * GiB}, total=16 * GiB, oom=True)
    (b,) = gpu_json(path)["files"][0]["batch"]
    assert b["confidence"] == "low" and b["oom_batch"] == 64
    # 1 GiB + 100 MiB x B <= 15.2 GiB gives 145; the OOM at 64 caps it.
    assert b["max_batch"] == 63 and b["per_sample"] == pytest.approx(100 * MiB)
    assert [p["oom"] for p in b["points"]] == [False, False, True]


def test_batch_static_estimate_cross_check(tmp_path):
    pts = [(b, 2 * GiB + b * 50 * MiB, 0) for b in (2, 4, 8)]
    model = {"gpu.model.param_bytes": 400 * MiB, "gpu.model.trainable_bytes": 400 * MiB,
             "gpu.model.optimizer_bytes": 800 * MiB}
    path = tmp_path / "agree.snap"
    steps_file(path, [(b, p, p) for b, p, _ in pts], model=model)
    (b,) = gpu_json(path)["files"][0]["batch"]
    assert b["static"]["total"] == 1600 * MiB and not b["static"]["disagrees"]  # fixed 2 GiB: within range
    # The same steps with a model 4x larger: fixed memory is too small for it.
    path2 = tmp_path / "disagree.snap"
    steps_file(path2, [(b, p, p) for b, p, _ in pts])
    (b2,) = gpu_json("--param-bytes", "1600MiB", "--optimizer", "adam", path2)["files"][0]["batch"]
    assert b2["static"] == {"weights": 1600 * MiB, "gradients": 1600 * MiB, "optimizer_state": 3200 * MiB,
                            "total": 6400 * MiB, "disagrees": True}
    assert "DISAGREES" in gpu("--param-bytes", "1600MiB", "--optimizer", "adam", path2).stdout


def test_batch_refusals(tmp_path):
    import memtrace

    p = tmp_path / "bad.snap"
    with memtrace.gpu_steps(p) as rec:
        rec.record("large", {"peak": 1, "current": 1})
    r = gpu(p)
    assert r.returncode == 3 and "step label 'large' is not a batch size" in r.stderr
    with pytest.raises(ValueError, match="not PyTorch's memory_stats"):
        with memtrace.gpu_steps(tmp_path / "x.snap") as rec:
            rec.record(1, {"something": 1})


class FakeCuda:
    """torch.cuda as gpu_steps uses it, on two devices."""

    class OutOfMemoryError(RuntimeError):
        pass

    def __init__(self, available=True):
        self.available = available
        self.peak = [0, 0]
        self.resets = 0

    def is_available(self):
        return self.available

    def device_count(self):
        return 2

    def reset_peak_memory_stats(self, d):
        self.resets += 1
        self.peak[d] = 0

    def memory_stats(self, d):
        return {"allocated_bytes.all.peak": self.peak[d], "reserved_bytes.all.peak": self.peak[d] + 10 * MiB,
                "allocated_bytes.all.current": 0, "reserved_bytes.all.current": self.peak[d] + 10 * MiB}

    def mem_get_info(self, d):
        return (40 * GiB - self.peak[d] - 500 * MiB, 40 * GiB)


def test_step_with_a_fake_torch(tmp_path, monkeypatch):
    import sys
    import types

    import memtrace

    cuda = FakeCuda()
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    path = tmp_path / "steps.snap"
    with memtrace.gpu_steps(path) as rec:
        for bs in (2, 4, 8):
            with rec.step(bs):
                cuda.peak = [GiB + bs * 64 * MiB, GiB]
        with pytest.raises(FakeCuda.OutOfMemoryError):
            with rec.step(512):
                cuda.peak = [30 * GiB, GiB]
                raise FakeCuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert cuda.resets == 8
    got = gpu_json(path)["files"][0]["batch"]
    assert [b["device"] for b in got] == [0, 1]
    b0 = got[0]
    assert b0["per_sample"] == pytest.approx(64 * MiB) and b0["oom_batch"] == 512
    # used (peak + 500 MiB) less reserved (peak + 10 MiB)
    assert b0["total"] == 40 * GiB and b0["outside"] == 490 * MiB
    cuda.available = False
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        with memtrace.gpu_steps(tmp_path / "none.snap") as rec:
            with rec.step(1):
                pass


def test_diff_by_site_and_device(tmp_path):
    import memtrace

    sims, paths = [], []
    for i, seed in enumerate((41, 42)):
        sim = simulate(seed)
        p = tmp_path / ("d%d.snap" % i)
        with memtrace.Writer(str(p)) as w:
            write_frames(w)
            sim.write(w)
        sims.append(sim)
        paths.append(p)

    def diff(by):
        r = subprocess.run([tool("memtrace-diff"), "--by", by, "-f", "json", *map(str, paths)], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        return {g["group"]: g for g in json.loads(r.stdout)["groups"]}

    site = diff("site")
    for side, sim in zip("ab", sims):
        want = {}
        for s in sim.segs.values():
            for v in s["blocks"].values():
                if v[2] == "active_allocated":
                    k = "train.py:%d" % (10 * v[3])
                    want[k] = want.get(k, 0) + v[0]
        assert {g: site[g]["bytes_" + side] for g in site if site[g]["bytes_" + side]} == want
    dev = diff("device")
    for side, sim in zip("ab", sims):
        want = {}
        for s in sim.segs.values():
            k = "gpu0/" + ("small" if s["small"] else "large")
            want[k] = want.get(k, 0) + s["size"]
        assert {g: dev[g]["bytes_" + side] for g in dev if dev[g]["bytes_" + side]} == want


def test_gate_gpu_peak_bytes_per_device(tmp_path):
    import memtrace

    sims, paths = [], []
    for i, seed in enumerate((51, 52)):
        sim = simulate(seed)
        p = tmp_path / ("g%d.snap" % i)
        with memtrace.Writer(str(p)) as w:
            sim.write(w)
        sims.append(sim)
        paths.append(str(p))
    peaks = []
    for sim in sims:
        start, after = backward_curve(sim, 0)
        peaks.append(max([start[0]] + [a for a, _ in after]))
    limit = (min(peaks) + max(peaks)) // 2  # between the two: one device over
    pol = tmp_path / "p.yaml"
    pol.write_text("budgets:\n  gpu_peak_bytes: %d\n" % limit)
    r = subprocess.run([tool("memtrace-gate"), "-f", "json", "-p", str(pol), "-b", paths[0], "-c", paths[0], "-c",
                        paths[1]], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    (c,) = json.loads(r.stdout)["checks"]
    assert c["budget"] == "gpu_peak_bytes" and c["actual"] == max(peaks)
    worst = paths[peaks.index(max(peaks))]
    assert [o["name"] for o in c["offenders"]] == [worst + ": cuda:0"]
    assert c["offenders"][0]["bytes"] == max(peaks)
    pol.write_text("budgets:\n  gpu_peak_bytes: %d\n" % max(peaks))
    r = subprocess.run([tool("memtrace-gate"), "-p", str(pol), "-b", paths[0], "-c", paths[1]], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_advise_gpu_fields_are_memtrace_gpus_measures(tmp_path):
    """Every GPU field a rule can test, against memtrace-gpu's figures (which
    the tests above hold to Python's), and the shipped OOM rules."""
    import memtrace

    path = tmp_path / "oom.snap"
    with memtrace.Writer(str(path)) as w:
        w.add_gpu_device(0, "A100", total_bytes=40 * GiB)
        w.add_meta("gpu0.free_memory", 40 * GiB - 3 * GiB)
        oom_fixture(w, oom_size=12 * MiB, device_free=2 * MiB)
    fields = ["pending_free", "inactive", "releasable", "stranded", "largest_free", "internal_fragmentation",
              "external_fragmentation", "utilization", "peak_active", "outside", "ooms", "fragmentation_ooms",
              "capacity_ooms", "expandable_segments"]
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: show\n    scope: gpu\n    severity: info\n    when:\n      ooms: {ge: 0}\n"
                     "    action:\n      message: \"%s\"\n" % ";".join("%s={%s}" % (f, f) for f in fields))
    r = subprocess.run([tool("memtrace-advise"), "-f", "json", "--no-default-rules", "-r", str(rules), str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (a,) = json.loads(r.stdout)["advice"]
    got = dict(kv.split("=", 1) for kv in a["message"].split(";"))
    dev = gpu_json(path)["files"][0]["devices"][0]
    (total,) = [p for p in dev["pools"] if p["pool"] is None]
    assert got["ooms"] == "1" and got["fragmentation_ooms"] == "1" and got["capacity_ooms"] == "0"
    assert got["expandable_segments"] == "0"
    for f, unit in (("stranded", MiB), ("largest_free", MiB), ("inactive", MiB)):
        assert got[f] == "%.1f MiB" % (total[f] / unit), f
    assert got["releasable"] == "0 B" and got["pending_free"] == "0 B"
    assert got["peak_active"] == "%.1f MiB" % (dev["trace"]["peak_active"] / MiB)
    assert got["outside"] == "%.1f GiB" % ((3 * GiB - total["reserved"]) / GiB)
    r = subprocess.run([tool("memtrace-advise"), "-f", "json", str(path)], capture_output=True, text=True)
    assert "gpu-fragmentation-oom" in r.stdout and "gpu-capacity-oom" not in r.stdout


def test_export_prometheus_and_folded(tmp_path):
    import memtrace

    sim = simulate(61)
    path = tmp_path / "s.snap"
    with memtrace.Writer(str(path)) as w:
        write_frames(w)
        sim.write(w)
    r = subprocess.run([tool("memtrace-export"), "-t", "prometheus", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = {}
    for line in r.stdout.splitlines():
        if line.startswith("memtrace_gpu_pool_"):
            name, value = line.rsplit(" ", 1)
            got[name] = float(value)
    for (pool, stream), w_ in pool_oracle(sim).items():
        label = 'device="0",pool="%s%s"' % (pool, "@%#x" % stream if stream else "")
        for k in ("reserved", "allocated", "requested", "pending_free", "inactive", "releasable", "stranded",
                  "largest_free"):
            assert got["memtrace_gpu_pool_%s_bytes{%s}" % (k, label)] == w_[k], (label, k)
    r = subprocess.run([tool("memtrace-export"), "-t", "folded", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    folded = {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in r.stdout.splitlines()}
    want = {}
    for s in sim.segs.values():
        for v in s["blocks"].values():
            if v[2] == "active_allocated":
                k = "step%d (train.py:%d)" % (v[3], 10 * v[3])
                want[k] = want.get(k, 0) + v[0]
    assert folded == want


def plot_blocks(dat):
    out = []
    for chunk in open(dat, encoding="utf-8").read().split("\n\n\n"):
        out.append([line.split("\t") for line in chunk.splitlines() if line and not line.startswith("#")])
    return out


def test_plot_gpu_segments_and_timeline(tmp_path):
    import memtrace
    from PIL import Image

    sim = simulate(71)
    path = tmp_path / "s.snap"
    with memtrace.Writer(str(path)) as w:
        sim.write(w, events_from=25)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    out = tmp_path / "seg.png"
    r = subprocess.run([tool("memtrace-plot"), "gpu-segments", str(path), "-o", str(out), "-k", "-n", "1000"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert Image.open(out).size[0] == 1100
    boxes, labels = plot_blocks(tmp_path / "seg.dat")[:2]
    assert len(labels) == len(sim.segs)
    # Per row: the boxes tile the segment; the blue ones are its blocks in use.
    rows = {}
    for x, row, half, state in boxes:
        rows.setdefault(int(row), []).append((float(x) - float(half), 2 * float(half), int(state)))
    sizes = sorted(s["size"] for s in sim.segs.values())
    assert sorted(round(sum(w for _, w, _ in r_)) for r_ in rows.values()) == sizes
    used = sorted(round(sum(w for _, w, st in r_ if st == 0)) for r_ in rows.values())
    want = sorted(sum(v[0] for v in s["blocks"].values() if v[2] == "active_allocated") for s in sim.segs.values())
    assert used == want
    out = tmp_path / "t.png"
    r = subprocess.run([tool("memtrace-plot"), "gpu-timeline", str(path), "-o", str(out), "-k"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    curve = plot_blocks(tmp_path / "t.dat")[0]
    _, after = backward_curve(sim, 25)
    assert [(int(a), int(b)) for _, a, b in curve] == after
    r = subprocess.run([tool("memtrace-plot"), "gpu-timeline", os.path.join(os.path.dirname(__file__), "..", "..",
                        "testdata", "heap-small.snap"), "-o", str(tmp_path / "x.png")], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 3 and "no GPU records" in r.stderr


def test_nvml_samples_beside_an_allocator_state(tmp_path):
    import memtrace

    rng = random.Random(81)
    run = tmp_path / "run.snap"
    pts = []
    with memtrace.Writer(str(run)) as w:
        for i in range(50):
            used = rng.randrange(1 * GiB, 6 * GiB)
            pts.append((i * 100_000_000, used))
            w.add_sample("gpu0.used", used, time_ns=i * 100_000_000)
            w.add_sample("gpu0.total", 80 * GiB, time_ns=i * 100_000_000)
            w.add_sample("gpu0.driver_reserved", 300 * MiB, time_ns=i * 100_000_000)
            w.add_sample("gpu0.pid.4242", used // 2, time_ns=i * 100_000_000)
            w.add_sample("gpu0.pid.77", 100 * MiB, time_ns=i * 100_000_000)
        w.add_sample("gpu0.allocated", 5, time_ns=0)  # a cell log's series: not NVML's
    sim = simulate(82)
    state = tmp_path / "state.snap"
    with memtrace.Writer(str(state)) as w:
        sim.write(w)
    got = gpu_json(state, run)
    (nv,) = got["files"][1]["nvml"]
    peak_t, peak = max(pts, key=lambda p: (p[1], -p[0]))
    assert nv["used_peak"] == peak and nv["used_peak_ns"] == peak_t and nv["used_last"] == pts[-1][1]
    assert nv["total"] == 80 * GiB and nv["driver_reserved"] == 300 * MiB
    assert nv["processes"] == 2 and nv["process_pid"] == "4242" and nv["process_peak"] == peak // 2
    start, after = backward_curve(sim, 0)
    most = max([start[1]] + [r for _, r in after])
    assert nv["outside_pytorch_at_least"] == peak - most
    r = gpu("--device", 1, run)
    assert r.returncode == 3


def test_stats_meta_capacity_and_alloc_retries(tmp_path):
    """memtrace.dump_cuda's meta: gpuN.total_memory stands for the capacity
    where no device record gives one; num_alloc_retries feeds the report and
    the gpu-alloc-retries rule."""
    import memtrace

    path = tmp_path / "s.snap"
    with memtrace.Writer(str(path)) as w:
        w.add_meta("gpu0.total_memory", 24 * GiB)
        w.add_meta("gpu0.free_memory", 20 * GiB)
        w.add_meta("gpu0.stats.num_alloc_retries", 3)
        oom_fixture(w, oom_size=40 * MiB, device_free=2 * MiB)
    dev = gpu_json(path)["files"][0]["devices"][0]
    assert dev["total"] == 24 * GiB and dev["used"] == 4 * GiB and dev["alloc_retries"] == 3
    r = subprocess.run([tool("memtrace-advise"), "-f", "json", str(path)], capture_output=True, text=True)
    rules = {a["rule"] for a in json.loads(r.stdout)["advice"]}
    assert {"gpu-alloc-retries", "gpu-capacity-oom", "gpu-outside-pytorch"} <= rules
    assert "gpu-fragmentation-oom" not in rules


def transformer_peak(batch, rng):
    """A synthetic training step's peak allocated bytes: a 350M-parameter
    model in fp16 with Adam (16 bytes a parameter, "Transformer Math 101"),
    activations of 24 layers at sequence 1024, hidden 1024, 16 heads, 16-bit
    without recomputation, s*b*h*(34 + 5*a*s/h) per layer (Korthikanti et
    al.), each tensor rounded up as the caching allocator rounds (512 B;
    above 1 MiB, whole 2 MiB pieces), and +-1% of other workspace."""
    params, s, h, a, layers = 350e6, 1024, 1024, 16, 24
    states = 16 * params
    per_layer = s * batch * h * (34 + 5 * a * s / h)
    tensors = 40  # the per-layer activations, in this many tensors
    one = per_layer / tensors
    rounded = (one // (2 * MiB) + 1) * 2 * MiB if one > MiB else (one // 512 + 1) * 512
    return int(states + layers * tensors * rounded * rng.uniform(0.99, 1.01))


def test_two_batch_sizes_predict_a_third_within_5_percent(tmp_path):
    import memtrace

    rng = random.Random(91)
    path = tmp_path / "steps.snap"
    with memtrace.gpu_steps(path) as rec:
        for b in (2, 4):
            rec.record(b, {"allocated_bytes.all.peak": transformer_peak(b, rng)}, total=80 * GiB)
    truth = transformer_peak(8, random.Random(92))
    (b,) = gpu_json("--at", 8, path)["files"][0]["batch"]
    assert b["confidence"] == "low"  # two sizes: said so
    assert abs(b["at"]["peak_allocated"] - truth) / truth < 0.05
    # With three sizes the upper bound covers the truth at 16.
    path3 = tmp_path / "steps3.snap"
    with memtrace.gpu_steps(path3) as rec:
        for bs in (2, 4, 6, 8):
            rec.record(bs, {"allocated_bytes.all.peak": transformer_peak(bs, rng)}, total=80 * GiB)
    truth16 = transformer_peak(16, random.Random(93))
    (b3,) = gpu_json("--at", 16, path3)["files"][0]["batch"]
    assert abs(b3["at"]["peak_allocated"] - truth16) / truth16 < 0.05
    assert b3["at"]["peak_allocated_high"] >= b3["at"]["peak_allocated"]
    assert "at batch 16: peak allocated" in gpu("--at", 16, path3).stdout


def test_outside_pairs_a_steps_own_used_and_reserved(tmp_path):
    """used - reserved of the same step, never the highest use with the
    lowest reserve of another step (the cache grows over a run)."""
    import memtrace

    path = tmp_path / "s.snap"
    with memtrace.gpu_steps(path) as rec:
        for bs, res in ((8, 2000), (16, 3000), (24, 3100)):
            rec.record(bs, {"allocated_bytes.all.peak": (1000 + 40 * bs) * MiB, "reserved_bytes.all.peak": res * MiB,
                            "allocated_bytes.all.current": 0, "reserved_bytes.all.current": res * MiB},
                       total=16 * GiB, used=(res + 600) * MiB)
    (b,) = gpu_json(path)["files"][0]["batch"]
    assert b["outside"] == 600 * MiB


def test_an_oom_the_fit_says_fits_lowers_the_confidence(tmp_path):
    import memtrace

    path = tmp_path / "s.snap"
    with memtrace.gpu_steps(path) as rec:
        for bs in (2, 4, 8):
            rec.record(bs, {"allocated_bytes.all.peak": GiB + bs * 100 * MiB}, total=16 * GiB)
        rec.record(16, {"allocated_bytes.all.peak": 3 * GiB}, total=16 * GiB, oom=True)
    (b,) = gpu_json(path)["files"][0]["batch"]
    assert b["oom_contradicts_fit"] and b["confidence"] == "low" and "under-predicts" in b["confidence_why"]
    assert b["max_batch"] == 15
    assert "yet the fit says it fits" in gpu(path).stdout


def test_sites_name_the_callers_frame_not_torchs(tmp_path):
    """A snapshot's stacks end in PyTorch's own code; a site is the innermost
    frame outside it, with its function, so an encoder's and a decoder's
    layers are two sites; --stack shows every frame."""
    import memtrace

    a = 0x7F0000000000
    path = tmp_path / "s.snap"
    with memtrace.Writer(str(path)) as w:
        w.add_frame(1, "/usr/lib/python3/dist-packages/torch/nn/modules/linear.py", 114, "forward")
        w.add_frame(2, "model.py", 20, "encoder")
        w.add_frame(3, "model.py", 40, "decoder")
        w.add_stack(1, 2)            # encoder
        w.add_stack(2, 1, parent=1)  # linear < encoder
        w.add_stack(3, 3)            # decoder
        w.add_stack(4, 1, parent=3)  # linear < decoder
        w.add_gpu_segment(0, a, 20 * MiB, pool="large", allocated_bytes=20 * MiB, active_bytes=20 * MiB)
        w.add_gpu_block(0, a, 12 * MiB, requested=12 * MiB, state="active_allocated", stack=2)
        w.add_gpu_block(0, a + 12 * MiB, 8 * MiB, requested=8 * MiB, state="active_allocated", stack=4)
    dev = gpu_json(path)["files"][0]["devices"][0]
    assert [(s["site"], s["bytes"]) for s in dev["sites"]] == [("encoder (model.py:20)", 12 * MiB),
                                                              ("decoder (model.py:40)", 8 * MiB)]
    whole = gpu_json("--stack", path)["files"][0]["devices"][0]["sites"]
    assert whole[0]["site"] == ("forward (/usr/lib/python3/dist-packages/torch/nn/modules/linear.py:114) < "
                                "encoder (model.py:20)")


def test_oddities_are_warned_of(tmp_path):
    import memtrace

    a = 0x7F0000000000
    path = tmp_path / "odd.snap"
    with memtrace.Writer(str(path)) as w:
        w.add_gpu_segment(0, a, 4 * MiB, pool="large")
        w.add_gpu_block(0, a, 2 * MiB, state="active_allocated")  # 2 MiB uncovered
        w.add_gpu_segment(0, a + GiB, 4 * MiB, pool="large")
        w.add_gpu_block(0, a + GiB, 3 * MiB, state="active_allocated")
        w.add_gpu_block(0, a + GiB + 2 * MiB, 2 * MiB, state="weird")  # overlaps, unknown state
        w.add_gpu_event(0, "alloc", a, 2 * MiB, time_ns=1)
        w.add_gpu_event(0, "teleport", a, 2 * MiB, time_ns=2)
        w.add_gpu_event(0, "annotate", 0, 0, time_ns=3)
    r = gpu(path)
    assert r.returncode == 0
    for text in ("1 segment with space no block covers", "1 segment whose blocks overlap",
                 "1 block in a state PyTorch does not name", "1 trace entry with an action this version does not know"):
        assert text in r.stderr, text
    f = gpu_json(path)["files"][0]
    assert f["oddities"] == {"segments_with_gaps": 1, "segments_with_overlaps": 1, "unknown_block_states": 1,
                             "unknown_actions": 1}
    # Entries keep the source's numbering: three entries, the peak after the first.
    t = f["devices"][0]["trace"]
    assert t["events"] == 3 and t["peak_index"] == 0


def test_a_trace_without_a_state_and_nvml_only_plots(tmp_path):
    """A file with trace entries and no segments or blocks (a state not
    kept), and a sampler run with NVML series only: both analysed and drawn."""
    import memtrace

    path = tmp_path / "t.snap"
    with memtrace.Writer(str(path)) as w:
        w.add_gpu_event(0, "segment_alloc", 0x1000000, 20 * MiB, time_ns=0)
        w.add_gpu_event(0, "alloc", 0x1000000, 8 * MiB, time_ns=1000)
        w.add_gpu_event(0, "free_completed", 0x1000000, 8 * MiB, time_ns=2000)
    t = gpu_json(path)["files"][0]["devices"][0]["trace"]
    assert (t["peak_active"], t["end_active"], t["max_reserved"]) == (8 * MiB, 0, 20 * MiB)
    run = tmp_path / "run.snap"
    with memtrace.Writer(str(run)) as w:
        for i in range(5):
            w.add_sample("gpu0.used", (i + 1) * GiB, time_ns=i * 10**8)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    r = subprocess.run([tool("memtrace-plot"), "gpu-timeline", str(path), str(run), "-o", str(tmp_path / "t.png"),
                        "-k"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    blocks = plot_blocks(tmp_path / "t.dat")
    assert [(float(x), float(v)) for x, v in blocks[2]] == [(i / 10, (i + 1) * GiB) for i in range(5)]
