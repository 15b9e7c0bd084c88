/* A helper of the notebook recorder (memtrace.notebook) that must be
 * cheap enough to run after every cell. */
#ifndef MEMTRACE_CELLLOG_H
#define MEMTRACE_CELLLOG_H

#include <Python.h>

/* gc_type_counts() -> {type: count} over the objects the collector
 * tracks. Counted in C (a quarter of collections.Counter's time). */
PyObject *memtrace_gc_type_counts(PyObject *self, PyObject *unused);

#endif
