/* memtrace._memtrace.column_stats (colstats.c). */
#ifndef MT_COLSTATS_H
#define MT_COLSTATS_H

#include <Python.h>

/* column_stats(data, kind, *, mask=None, code_hashes=None, nulls=None,
 *              sketch=1024, hashes=False) -> dict
 * data: a one-dimensional buffer (numpy array, no copy). kind: 'n' numbers
 * or booleans as the buffer's format says, 't' int64 nanoseconds with
 * INT64_MIN as NaT, 'c' categorical codes (-1 missing) whose values hash
 * to code_hashes (8 bytes per category), 'O' Python objects (None, NaN and
 * the singletons in nulls are missing). mask: one byte per row, nonzero
 * where missing. Raises ValueError for a buffer kind does not fit. */
PyObject *memtrace_column_stats(PyObject *self, PyObject *args, PyObject *kw);

/* o.__sizeof__() into *out, as pandas' memory_usage(deep=True) sums it
 * (no GC header). @return 0, or -1 with a Python exception set (the call
 * failed, or returned a negative size). */
int mt__object_sizeof(PyObject *o, uint64_t *out);

#endif
