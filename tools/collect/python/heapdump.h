/* memtrace.dump_heap (heapdump.c). */
#ifndef MT_HEAPDUMP_H
#define MT_HEAPDUMP_H

#include <Python.h>

/* Calls fn(name, value, arg) for each bound local variable of a running
 * frame (frame_locals.c); stops at fn's nonzero return (then -1). */
typedef int (*mt__local_fn)(PyObject *name, PyObject *value, void *arg);
int mt__frame_locals(PyObject *frame, mt__local_fn fn, void *arg);

/* dump_heap(path, *, label=None, tracebacks=True, collect=False) -> dict */
PyObject *memtrace_dump_heap(PyObject *self, PyObject *args, PyObject *kw);

#endif
