/* memtrace.dump_heap (heapdump.c). */
#ifndef MT_HEAPDUMP_H
#define MT_HEAPDUMP_H

#include <Python.h>

/* dump_heap(path, *, label=None, tracebacks=True, collect=False) -> dict */
PyObject *memtrace_dump_heap(PyObject *self, PyObject *args, PyObject *kw);

#endif
