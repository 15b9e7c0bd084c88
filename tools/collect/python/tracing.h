/* memtrace._memtrace's allocation tracing (tracing.c): the CPython and
 * NumPy allocator hooks over the tracer core (tools/collect/tracer). */
#ifndef MT_PY_TRACING_H
#define MT_PY_TRACING_H

#include <Python.h>

/* trace_start(path, *, sample_bytes, all, seed, numpy, tool, command,
 * python_version) -> the domains hooked ("0,3,4"). */
PyObject *memtrace_trace_start(PyObject *self, PyObject *args, PyObject *kw);
/* trace_stop() -> {allocs, frees, dropped, threads, frames, stacks}. */
PyObject *memtrace_trace_stop(PyObject *self, PyObject *unused);
PyObject *memtrace_trace_running(PyObject *self, PyObject *unused);
/* trace_now() -> nanoseconds since the trace's start_time. */
PyObject *memtrace_trace_now(PyObject *self, PyObject *unused);
/* trace_event(kind, name=None, value=0.0, detail=None) -> True when recorded. */
PyObject *memtrace_trace_event(PyObject *self, PyObject *args, PyObject *kw);
/* trace_after_fork(): in a forked child, takes the hooks out. */
PyObject *memtrace_trace_after_fork(PyObject *self, PyObject *unused);

/* stacks_start(nframes): records every allocation's stack (nframes
 * innermost frames) for heap dumps, with no file (tracer.h, stacks_only). */
PyObject *memtrace_stacks_start(PyObject *self, PyObject *args, PyObject *kw);
/* stacks_stop() -> {dropped, frames, stacks}. */
PyObject *memtrace_stacks_stop(PyObject *self, PyObject *unused);
/* stacks_running() -> nframes while recording, else 0. */
PyObject *memtrace_stacks_running(PyObject *self, PyObject *unused);

#endif
