"""PyTorch CUDA allocator snapshots as memtrace snapshots (formats/SPEC.md
section 4.5): memtrace.import_torch_snapshot and memtrace.dump_cuda.

The pickle is read in C (formats/'s importer), which takes only the
opcodes of a dict of builtins and never runs or imports anything a file
names: a snapshot from elsewhere is safe to import, unlike with
pickle.load."""

import os
import pickle

from ._memtrace import import_torch as _import_torch


def import_torch_snapshot(src, out, *, label=None):
    """Write the PyTorch CUDA allocator snapshot src to the memtrace
    snapshot out. src is the path (str or os.PathLike) of a file that
    torch.cuda.memory._dump_snapshot() wrote, the dict that
    torch.cuda.memory._snapshot() returns (or the list of segments of
    PyTorch 1.x and memory_snapshot()), or such a pickle's bytes.
    Returns the counts {segments, blocks, events, devices, frames, stacks,
    sequence_clock}. Raises ValueError naming the byte offset for a pickle
    the importer refuses, OSError for a file it cannot read or write."""
    return _import(src, out, label, {}, "memtrace.import_torch_snapshot")


def _import(src, out, label, meta, tool):
    if label is not None:
        meta["label"] = str(label)
    if isinstance(src, (dict, list)):  # a list: PyTorch 1.x's snapshot, its segments
        # One way in: the dict goes through the same C reader as a file.
        src = pickle.dumps(src, protocol=4)
    elif isinstance(src, (str, os.PathLike)):
        src = os.fspath(src)
    elif not isinstance(src, (bytes, bytearray, memoryview)):
        raise TypeError("import_torch_snapshot needs a path, the dict torch.cuda.memory._snapshot() returns, "
                        "or a pickle's bytes, not %s" % type(src).__name__)
    return _import_torch(src, out, meta=meta, tool=tool)


def _stats_meta(torch):
    """torch.cuda.memory_stats(d) of every visible device as meta keys
    gpuN.stats.KEY (numbers only), gpuN.total_memory where the device's
    properties say it, and gpuN.free_memory (torch.cuda.mem_get_info)."""
    meta = {}
    for d in range(torch.cuda.device_count()):
        for k, v in sorted(torch.cuda.memory_stats(d).items()):
            if isinstance(v, (bool, int, float)):
                meta["gpu%d.stats.%s" % (d, k)] = v
        props = getattr(torch.cuda, "get_device_properties", None)
        total = getattr(props(d), "total_memory", None) if props else None
        if isinstance(total, int):
            meta["gpu%d.total_memory" % d] = total
        # The device's free memory, everyone's use counted (cudaMemGetInfo):
        # with the total, what PyTorch's allocator does not hold.
        info = getattr(torch.cuda, "mem_get_info", None)
        if info:
            free, whole = info(d)
            meta["gpu%d.free_memory" % d] = int(free)
            meta.setdefault("gpu%d.total_memory" % d, int(whole))
    return meta


def dump_cuda(path, *, label=None):
    """Write this process's CUDA caching allocator state to the memtrace
    snapshot path: torch.cuda.memory._snapshot() (segments, blocks, and
    the trace that torch.cuda.memory._record_memory_history() keeps) as
    gpu_* records, and torch.cuda.memory_stats() of every visible device
    as meta keys gpuN.stats.KEY. Returns the importer's counts. Raises
    RuntimeError when PyTorch is missing or CUDA is not available."""
    try:
        import torch
    except ImportError as e:
        raise RuntimeError("memtrace.dump_cuda needs PyTorch: import torch failed (%s)" % e) from e
    if not torch.cuda.is_available():
        raise RuntimeError("memtrace.dump_cuda: CUDA is not available (torch.cuda.is_available() is False): "
                           "there is no GPU allocator state to dump")
    snap = torch.cuda.memory._snapshot()
    return _import(snap, path, label, _stats_meta(torch), "memtrace.dump_cuda")
