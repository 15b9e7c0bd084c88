"""PyTorch CUDA allocator snapshots as `torch.cuda.memory._snapshot()`
returns them, built by hand from the schema each PyTorch release documents
(torch/cuda/memory.py's `_snapshot` docstring, torch/csrc/cuda/Module.cpp),
and `expected()`: what formats/SPEC.md section 4.5 says an importer writes
for one, computed here in Python, independently of the C importer.

Schemas:
- legacy (before 2.1): blocks have size, state and `history` ([{addr,
  real_size, frames}]), no address and no requested_size;
- 2.1+: blocks have address, requested_size and frames; segments have
  requested_size, frames; trace entries have no time_us;
- newest: trace entries have time_us (and compile_context, user_metadata,
  pool_id), `annotate` actions, `allocator_settings` at the root.

Run as a script, it writes the fixture pickles of testdata/torch/.
"""

import os
import pickle
import sys

MiB = 1 << 20
KiB = 1 << 10


def frame(name, filename="train.py", line=1):
    return {"filename": filename, "line": line, "name": name}


def frames(*names, base=10):
    # innermost first, as PyTorch lists them
    return [frame(n, "model.py" if i % 2 else "train.py", base + i) for i, n in enumerate(names)]


# ---------------------------------------------------------------- builders


def block(address, size, state, requested=None, fr=None):
    b = {"address": address, "size": size, "requested_size": size if requested is None else requested,
         "state": state, "frames": fr if fr is not None else []}
    return b


def segment(device, address, blocks, stream=0, seg_type=None, pool=(0, 0), expandable=False, fr=None,
            legacy=False):
    total = sum(b["size"] for b in blocks)
    alloc = sum(b["size"] for b in blocks if b["state"] == "active_allocated")
    active = sum(b["size"] for b in blocks if b["state"].startswith("active"))
    s = {"device": device, "address": address, "total_size": total, "allocated_size": alloc,
         "active_size": active, "stream": stream,
         "segment_type": seg_type or ("small" if total <= 2 * MiB else "large"),
         "segment_pool_id": pool, "is_expandable": expandable, "blocks": blocks}
    if not legacy:
        s["requested_size"] = sum(b.get("requested_size", 0) for b in blocks if b["state"] == "active_allocated")
        s["frames"] = fr if fr is not None else []
    return s


def entry(action, addr, size, stream=0, fr=None, time_us=None, **extra):
    e = {"action": action, "addr": addr, "size": size, "stream": stream}
    if fr is not None:
        e["frames"] = fr
    if time_us is not None:
        e["time_us"] = time_us
    e.update(extra)
    return e


def oom(size, device_free, stream=0, fr=None, time_us=None):
    e = {"action": "oom", "size": size, "stream": stream, "device_free": device_free}
    if fr is not None:
        e["frames"] = fr
    if time_us is not None:
        e["time_us"] = time_us
    return e


# --------------------------------------------------------------- snapshots


def legacy():
    """Before 2.1: blocks without address, the request in history."""
    f1 = frames("linear", "forward", "main")
    blocks = [
        {"size": 512 * KiB, "state": "active_allocated",
         "history": [{"addr": 0x7f0000000000, "real_size": 500 * KiB, "frames": f1}]},
        {"size": 512 * KiB, "state": "inactive"},
        {"size": 1 * MiB, "state": "active_allocated",
         "history": [{"addr": 0x7f0000100000, "real_size": 1000 * KiB, "frames": frames("conv", "main")},
                     {"addr": 0x7f0000100000, "real_size": 4, "frames": []}]},
    ]
    seg = {"device": 0, "address": 0x7f0000000000, "total_size": 2 * MiB, "allocated_size": 1536 * KiB,
           "active_size": 1536 * KiB, "stream": 0, "segment_type": "small", "blocks": blocks}
    trace = [entry("segment_alloc", 0x7f0000000000, 2 * MiB, fr=f1),
             entry("alloc", 0x7f0000000000, 512 * KiB, fr=f1),
             entry("alloc", 0x7f0000080000, 512 * KiB, fr=frames("tmp")),
             entry("free_requested", 0x7f0000080000, 512 * KiB),
             entry("free_completed", 0x7f0000080000, 512 * KiB),
             entry("alloc", 0x7f0000100000, 1 * MiB, fr=frames("conv", "main"))]
    return {"segments": [seg], "device_traces": [trace]}


def v21():
    """2.1+: block addresses, requested sizes and frames; no time_us."""
    fa, fb = frames("matmul", "forward", "main"), frames("relu", "forward", "main")
    base = 0x7f4000000000
    blocks = [block(base, 4 * MiB, "active_allocated", 4 * MiB - 100, fa),
              block(base + 4 * MiB, 6 * MiB, "active_pending_free", 6 * MiB, fb),
              block(base + 10 * MiB, 10 * MiB, "inactive", 0)]
    segs = [segment(0, base, blocks, stream=0, fr=fa),
            segment(0, base + 64 * MiB, [block(base + 64 * MiB, 2 * MiB, "inactive", 0)], seg_type="small")]
    trace = [entry("segment_alloc", base, 20 * MiB, fr=fa), entry("alloc", base, 4 * MiB, fr=fa),
             entry("alloc", base + 4 * MiB, 6 * MiB, fr=fb),
             entry("free_requested", base + 4 * MiB, 6 * MiB, fr=fb),
             entry("segment_alloc", base + 64 * MiB, 2 * MiB, fr=fb),
             entry("snapshot", 0, 0)]
    return {"segments": segs, "device_traces": [trace]}


def newest():
    """time_us, annotate, pool ids, user metadata, compile context, the
    allocator's settings, and the documentation's state name."""
    fa = frames("attention", "block", "forward", "main")
    base = 0x7f8000000000
    blocks = [block(base, 8 * MiB, "active_allocated", 8 * MiB - 4096, fa),
              block(base + 8 * MiB, 2 * MiB, "active_awaiting_free", 2 * MiB, fa),
              block(base + 10 * MiB, 10 * MiB, "inactive", 0)]
    segs = [segment(0, base, blocks, stream=0x5555deadbeef, fr=fa)]
    t0 = 1733456789000000
    trace = [entry("segment_alloc", base, 20 * MiB, fr=fa, time_us=t0, compile_context="N/A", user_metadata="",
                   pool_id=(0, 0)),
             entry("alloc", base, 8 * MiB, fr=fa, time_us=t0 + 5, compile_context="[0/0]", user_metadata="step 1"),
             {"action": "annotate", "time_us": t0 + 7, "user_metadata": "epoch 2", "stream": 0, "size": 0},
             entry("alloc", base + 8 * MiB, 2 * MiB, fr=fa, time_us=t0 + 9),
             entry("free_requested", base + 8 * MiB, 2 * MiB, fr=fa, time_us=t0 + 12)]
    settings = {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:False,max_split_size_mb:512",
                "max_split_size": 512 * MiB, "garbage_collection_threshold": 0.6, "expandable_segments": False,
                "pinned_num_register_threads": 1, "release_lock_on_cudamalloc": False,
                "pinned_use_cuda_host_register": False, "graph_capture_record_stream_reuse": False,
                "roundup_power2_divisions": {"1": 0, "2": 0, "4": 4, "8": 0}}
    return {"segments": segs, "device_traces": [trace], "allocator_settings": settings,
            "external_annotations": [{"device": 0, "time_us": t0 + 7, "stage": "epoch 2"}]}


def frag_oom():
    """Free space split across segments: the request is larger than any
    free block but no larger than what is free in all plus the device."""
    base = 0x7e0000000000
    segs = []
    for i in range(4):
        a = base + i * 32 * MiB
        segs.append(segment(0, a, [block(a, 12 * MiB, "active_allocated", 12 * MiB, frames("keep%d" % i)),
                                   block(a + 12 * MiB, 8 * MiB, "inactive", 0)], seg_type="large"))
    # free: 4 x 8 MiB = 32 MiB in blocks of 8 MiB, and 10 MiB on the device
    trace = [entry("alloc", base, 12 * MiB, time_us=100), oom(30 * MiB, 10 * MiB, fr=frames("big"), time_us=200)]
    return {"segments": segs, "device_traces": [trace]}


def capacity_oom():
    """More than everything free: a capacity OOM."""
    base = 0x7e8000000000
    segs = [segment(0, base, [block(base, 20 * MiB, "active_allocated", 20 * MiB),
                              block(base + 20 * MiB, 2 * MiB, "inactive", 0)], seg_type="large")]
    trace = [oom(1 << 30, 4 * MiB, fr=frames("huge", "main"), time_us=10)]
    return {"segments": segs, "device_traces": [trace]}


def expandable():
    """An expandable segment grown and shrunk by segment_map/unmap."""
    base = 0x7c0000000000
    segs = [segment(0, base, [block(base, 20 * MiB, "active_allocated", 20 * MiB - 1),
                              block(base + 20 * MiB, 44 * MiB, "inactive", 0)], seg_type="large",
                    expandable=True)]
    trace = [entry("segment_map", base, 64 * MiB, time_us=1), entry("alloc", base, 20 * MiB, time_us=2),
             entry("alloc", base + 20 * MiB, 30 * MiB, time_us=3),
             entry("free_completed", base + 20 * MiB, 30 * MiB, time_us=4),
             entry("segment_unmap", base + 64 * MiB, 0, time_us=5)]
    return {"segments": segs, "device_traces": [trace],
            "allocator_settings": {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
                                   "expandable_segments": True, "max_split_size": -1,
                                   "garbage_collection_threshold": 0,
                                   "roundup_power2_divisions": [0, 0, 4]}}


def wrapped_ring():
    """A ring buffer that wrapped: its first entries free blocks whose
    allocation it no longer holds."""
    base = 0x7d0000000000
    segs = [segment(0, base, [block(base, 2 * MiB, "active_allocated", 2 * MiB, frames("still_live")),
                              block(base + 2 * MiB, 18 * MiB, "inactive", 0)], seg_type="large")]
    trace = [entry("free_requested", base + 2 * MiB, 4 * MiB), entry("free_completed", base + 2 * MiB, 4 * MiB),
             entry("free_completed", base + 6 * MiB, 1 * MiB), entry("alloc", base + 8 * MiB, 1 * MiB),
             entry("free_completed", base + 8 * MiB, 1 * MiB)]
    return {"segments": segs, "device_traces": [trace]}


def two_devices():
    b0, b1 = 0x7a0000000000, 0x7b0000000000
    segs = [segment(0, b0, [block(b0, 2 * MiB, "active_allocated", 1000)]),
            segment(1, b1, [block(b1, 20 * MiB, "active_allocated", 19 * MiB, frames("shard1")),
                            block(b1 + 20 * MiB, 2 * MiB, "inactive", 0)], stream=7)]
    traces = [[entry("alloc", b0, 2 * MiB, time_us=5)],
              [entry("alloc", b1, 20 * MiB, stream=7, time_us=6), oom(64 * MiB, 1 * MiB, stream=7, time_us=9)],
              []]  # a third device with an empty trace names nothing
    return {"segments": segs, "device_traces": traces}


def private_pool():
    base = 0x790000000000
    segs = [segment(0, base, [block(base, 2 * MiB, "active_allocated", 2 * MiB, frames("graph_replay"))],
                    pool=(1, 0), seg_type="small"),
            segment(0, base + 32 * MiB, [block(base + 32 * MiB, 2 * MiB, "inactive", 0)], pool=(0, 3)),
            segment(0, base + 64 * MiB, [block(base + 64 * MiB, 2 * MiB, "inactive", 0)], pool=(0, 0))]
    return {"segments": segs, "device_traces": [[]]}


def high_addresses():
    """Addresses of 2^63 and more: pickle writes them as 9-byte LONG1."""
    base = 0xffff800000000000
    segs = [segment(0, base, [block(base, 2 * MiB - 512, "active_allocated", 2 * MiB - 600),
                              block(base + 2 * MiB - 512, 512, "inactive", 0)], stream=(1 << 64) - 1)]
    trace = [entry("alloc", base, 2 * MiB - 512, time_us=(1 << 63) // 1000), entry("segment_free", 1 << 63, 0)]
    return {"segments": segs, "device_traces": [trace]}


def shared_frames(n_entries=50):
    """One frame list object shared by a block and many trace entries, and
    one frame dict shared by two lists: the pickle's memo holds them once."""
    fr = frames("shared_alloc", "forward", "main")
    inner = fr[0]
    other = [inner, frame("other_caller", "other.py", 99)]
    base = 0x780000000000
    blocks = [block(base + i * 512, 512, "active_allocated", 500, fr if i % 2 else other) for i in range(8)]
    blocks.append(block(base + 8 * 512, 2 * MiB - 8 * 512, "inactive", 0))
    segs = [segment(0, base, blocks, fr=fr)]
    trace = [entry("alloc" if i % 2 == 0 else "free_completed", base + (i // 2 % 8) * 512, 512,
                   fr=fr if i % 3 else other) for i in range(n_entries)]
    return {"segments": segs, "device_traces": [trace]}


def many_segments(n=2500):
    """More segments than one APPENDS batch (pickle batches 1000)."""
    base = 0x700000000000
    segs = [segment(0, base + i * 2 * MiB, [block(base + i * 2 * MiB, 2 * MiB, "active_allocated", i + 1,
                                                  frames("layer%d" % (i % 7)))]) for i in range(n)]
    trace = [entry("alloc", base + i * 2 * MiB, 2 * MiB, fr=frames("layer%d" % (i % 7)), time_us=i)
             for i in range(n)]
    return {"segments": segs, "device_traces": [trace]}


ALL = {
    "legacy": legacy, "v21": v21, "newest": newest, "frag_oom": frag_oom, "capacity_oom": capacity_oom,
    "expandable": expandable, "wrapped_ring": wrapped_ring, "two_devices": two_devices,
    "private_pool": private_pool, "high_addresses": high_addresses, "shared_frames": shared_frames,
    "many_segments": many_segments,
}


# ------------------------------------------------------------------ oracle


def _stack(fr):
    """A frame list as the tuple of (function, file, line), innermost first."""
    return tuple((f.get("name", ""), f.get("filename", ""), f.get("line", 0)) for f in (fr or []))


def expected(snap):
    """The records SPEC.md 4.5 maps snap to: {kind: [dict, ...]} with each
    record's `stack` given as its frames (innermost first), and the meta
    keys the importer writes."""
    segs, blocks, events = [], [], []
    devs = {}
    for s in snap.get("segments", []):
        dev = devs.setdefault(s["device"], [0, 0])
        dev[0] += s["total_size"]
        dev[1] += s["allocated_size"]
        pid = s.get("segment_pool_id") or (0, 0)
        pool = "private:%d,%d" % tuple(pid) if any(pid) else s.get("segment_type", "")
        segs.append({"device": s["device"], "address": s["address"], "size": s["total_size"],
                     "stream": s.get("stream", 0) % (1 << 64), "pool": pool,
                     "allocated_bytes": s.get("allocated_size", 0), "requested_bytes": s.get("requested_size", 0),
                     "active_bytes": s.get("active_size", 0), "flags": 1 if s.get("is_expandable") else 0,
                     "stack": _stack(s.get("frames"))})
        at = s["address"]
        mine = []
        for i, b in enumerate(s.get("blocks", [])):
            addr = b.get("address", at)
            if "requested_size" in b:
                req, fr = b["requested_size"], b.get("frames")
            else:
                h = (b.get("history") or [{}])[0]
                req, fr = h.get("real_size", 0), b.get("frames", h.get("frames"))
            state = b.get("state", "")
            if state == "active_awaiting_free":
                state = "active_pending_free"
            mine.append(((addr, i), {"device": s["device"], "address": addr, "size": b["size"], "requested": req,
                                     "state": state, "stack": _stack(fr)}))
            at = addr + b["size"]
        blocks += [r for _k, r in sorted(mine, key=lambda kv: kv[0])]
    seq = False
    for d, trace in enumerate(snap.get("device_traces", [])):
        for i, e in enumerate(trace):
            devs.setdefault(d, [0, 0])
            if e.get("time_us") is not None:
                t = e["time_us"] * 1000
            else:
                t, seq = i, True
            events.append({"device": d, "time_ns": t, "action": e["action"], "address": e.get("addr", 0),
                           "size": e.get("size", 0), "stream": e.get("stream", 0) % (1 << 64),
                           "stack": _stack(e.get("frames")), "device_free": e.get("device_free", 0)})
    devices = [{"id": d, "name": "cuda:%d" % d, "total_bytes": 0, "reserved_bytes": r, "allocated_bytes": a}
               for d, (r, a) in sorted(devs.items())]
    meta = {"gpu_source": "torch"}
    st = snap.get("allocator_settings")
    if st:
        if "PYTORCH_CUDA_ALLOC_CONF" in st:
            meta["gpu.alloc_conf"] = st["PYTORCH_CUDA_ALLOC_CONF"]
        if "max_split_size" in st:
            meta["gpu.max_split_size"] = st["max_split_size"]
        if "garbage_collection_threshold" in st:
            meta["gpu.garbage_collection_threshold"] = float(st["garbage_collection_threshold"])
        if "expandable_segments" in st:
            meta["gpu.expandable_segments"] = int(bool(st["expandable_segments"]))
        r = st.get("roundup_power2_divisions")
        if isinstance(r, dict):
            meta["gpu.roundup_power2_divisions"] = ",".join("%s:%d" % kv for kv in r.items())
        elif isinstance(r, (list, tuple)):
            meta["gpu.roundup_power2_divisions"] = ",".join(str(x) for x in r)
    if seq:
        meta["gpu_clock"] = "sequence"
    return {"gpu_devices": devices, "gpu_segments": segs, "gpu_blocks": blocks, "gpu_events": events,
            "meta": meta}


# ---------------------------------------------------------------- fixtures

FIXTURES = {
    # name: (snapshot, pickle protocol); what memtrace-gpu and its tests read
    "frag-oom.pickle": (frag_oom, 4),
    "legacy.pickle": (legacy, 2),
    "newest-two-devices.pickle": (lambda: dict(two_devices(), allocator_settings=newest()["allocator_settings"]), 5),
}


def write_fixtures(folder):
    os.makedirs(folder, exist_ok=True)
    for name, (make, proto) in FIXTURES.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(pickle.dumps(make(), protocol=proto))


if __name__ == "__main__":
    write_fixtures(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..",
                                                                       "testdata", "torch"))
