"""GPU memory per training step, for batch-size advice (memtrace-gpu --batch).

    with memtrace.gpu_steps("steps.snap", model=model, optimizer=opt) as rec:
        for bs in (8, 16, 32):
            with rec.step(bs):
                train_step(bs)

Each step records, per device, the allocator's peak allocated and reserved
bytes during the step (PyTorch: torch.cuda.reset_peak_memory_stats before,
max_memory_allocated/max_memory_reserved after), what stayed allocated, and
the device's total and used memory (torch.cuda.mem_get_info), as samples
gpuN.step.* whose step is the label (memtrace-snap(5), section 4.5). A step
that runs out of memory is recorded as an oom event for its label and the
exception goes on. TensorFlow's tf.config.experimental.get_memory_info()
and JAX's Device.memory_stats() dicts, or PyTorch's memory_stats(), go to
record() instead. The file is flushed after every step, so a process that
dies keeps the steps before."""

import os
import time

from ._memtrace import Writer

__all__ = ["gpu_steps", "GpuSteps"]

# Optimizer state per parameter, in units of the parameter's own size:
# torch.optim.Adam/AdamW keep exp_avg and exp_avg_sq like the parameter
# (zeros_like), SGD with momentum one buffer, plain SGD none.
_OPT_STATES = {"adam": 2, "adamw": 2, "sparseadam": 2, "nadam": 2, "radam": 2, "adamax": 2, "rmsprop": 1,
               "adagrad": 1, "adadelta": 2, "sgd": 0, "sgd-momentum": 1, "lion": 1, "none": 0}


def _optimizer_name(opt):
    name = type(opt).__name__.lower()
    if name == "sgd":
        groups = getattr(opt, "param_groups", None) or [{}]
        if any(g.get("momentum", 0) for g in groups):
            return "sgd-momentum"
    return name


def _from_stats(stats):
    """(peak_allocated, peak_reserved, allocated, reserved, limit) from a stats
    dict of PyTorch, TensorFlow or JAX; None where it does not say."""
    if "allocated_bytes.all.peak" in stats:  # torch.cuda.memory_stats()
        return (stats.get("allocated_bytes.all.peak"), stats.get("reserved_bytes.all.peak"),
                stats.get("allocated_bytes.all.current"), stats.get("reserved_bytes.all.current"), None)
    if "peak_bytes_in_use" in stats or "bytes_in_use" in stats:  # JAX Device.memory_stats()
        return (stats.get("peak_bytes_in_use"), stats.get("peak_bytes_reserved", stats.get("peak_pool_bytes")),
                stats.get("bytes_in_use"), stats.get("bytes_reserved", stats.get("pool_bytes")),
                stats.get("bytes_limit"))
    if "peak" in stats and "current" in stats:  # TensorFlow get_memory_info(): the BFC allocator's bytes in use
        return (stats["peak"], None, stats["current"], None, None)
    raise ValueError("record(): stats is not PyTorch's memory_stats(), TensorFlow's get_memory_info() or "
                     "JAX's memory_stats() (keys %s)" % sorted(stats)[:8])


class GpuSteps:
    """A recorder of GPU memory per training step (see gpu_steps)."""

    def __init__(self, path, *, label="batch_size", model=None, optimizer=None, append=False):
        self.path = os.fspath(path)
        if not append and os.path.exists(self.path):
            os.unlink(self.path)
        # Written in place (append) and flushed per step: an OOM that kills
        # the process keeps every step before it.
        self._w = Writer(self.path, append=True)
        self._t0 = time.monotonic_ns()
        self._w.add_meta("gpu_steps", label)
        if model is not None:
            self._model(model, optimizer)
        self._w.flush()

    def _model(self, model, optimizer):
        params = list(model.parameters()) if hasattr(model, "parameters") else list(model)
        n = sum(p.numel() for p in params)
        nbytes = sum(p.numel() * p.element_size() for p in params)
        train = [p for p in params if getattr(p, "requires_grad", True)]
        tbytes = sum(p.numel() * p.element_size() for p in train)
        self._w.add_meta("gpu.model.parameters", int(n))
        self._w.add_meta("gpu.model.param_bytes", int(nbytes))
        self._w.add_meta("gpu.model.trainable_bytes", int(tbytes))
        if optimizer is not None:
            name = optimizer if isinstance(optimizer, str) else _optimizer_name(optimizer)
            self._w.add_meta("gpu.model.optimizer", name)
            if name in _OPT_STATES:
                self._w.add_meta("gpu.model.optimizer_bytes", int(_OPT_STATES[name] * tbytes))

    def _now(self):
        return time.monotonic_ns() - self._t0

    def _add(self, device, label, name, value, t):
        if value is not None:
            self._w.add_sample("gpu%d.step.%s" % (device, name), float(value), time_ns=t, step=label)

    def record(self, value, stats, *, device=0, total=None, used=None, oom=False):
        """Records one step with label value from a stats dict (PyTorch's
        memory_stats(), TensorFlow's get_memory_info(), JAX's memory_stats());
        total and used: the device's capacity and memory in use, if known;
        oom=True: the step ran out of memory (its figures stop short)."""
        label = str(value)
        peak, peak_res, cur, res, limit = _from_stats(stats)
        if peak is None:
            raise ValueError("record(): the stats give no peak")
        # One time for the step's samples: they pair up by it.
        t = self._now()
        if oom:
            self._w.add_event("oom", label, 0.0, None, time_ns=t)
        self._add(device, label, "peak_allocated", peak, t)
        self._add(device, label, "peak_reserved", peak_res, t)
        self._add(device, label, "allocated", cur, t)
        self._add(device, label, "reserved", res, t)
        self._add(device, label, "total", total if total is not None else limit, t)
        self._add(device, label, "used", used, t)
        self._w.flush()

    def step(self, value):
        """A context manager around one PyTorch training step labelled value
        (the batch size): every visible CUDA device's peaks are reset before
        and recorded after. An out-of-memory error inside is recorded as an
        oom event for the label and raised again."""
        return _Step(self, value)

    def close(self):
        """Closes the file; a second call does nothing."""
        if not self._w.closed:
            self._w.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _torch_cuda():
    try:
        import torch
    except ImportError:
        raise RuntimeError("memtrace.gpu_steps: step() measures PyTorch's CUDA devices and torch is not "
                           "installed; pass TensorFlow's or JAX's stats dict to record()") from None
    if not torch.cuda.is_available():
        raise RuntimeError("memtrace.gpu_steps: CUDA is not available (torch.cuda.is_available() is False); "
                           "nothing to measure")
    return torch


class _Step:
    def __init__(self, rec, value):
        self.rec, self.value = rec, value

    def __enter__(self):
        self.torch = _torch_cuda()
        self.devices = range(self.torch.cuda.device_count())
        for d in self.devices:
            self.torch.cuda.reset_peak_memory_stats(d)
        return self

    def __exit__(self, kind, exc, tb):
        torch, rec, label = self.torch, self.rec, str(self.value)
        oom = getattr(torch.cuda, "OutOfMemoryError", None)
        if exc is not None and ((oom and isinstance(exc, oom)) or "out of memory" in str(exc)):
            rec._w.add_event("oom", label, 0.0, str(exc).split("\n")[0][:500], time_ns=rec._now())
        for d in self.devices:
            free, total = torch.cuda.mem_get_info(d)
            rec.record(self.value, torch.cuda.memory_stats(d), device=d, total=total, used=total - free)
        rec._w.flush()
        return False


def gpu_steps(path, *, label="batch_size", model=None, optimizer=None, append=False):
    """A GpuSteps recorder writing to path (replaced unless append): its
    step(value) measures one PyTorch step, record(value, stats) takes any
    framework's stats dict. model (its parameters()) and optimizer (or its
    name: "adam", "sgd-momentum", ...) add a static estimate of weights,
    gradients and optimizer state for memtrace-gpu --batch to check the
    fit against."""
    return GpuSteps(path, label=label, model=model, optimizer=optimizer, append=append)
