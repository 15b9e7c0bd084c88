/* Helpers of the notebook recorder (memtrace.notebook) that must be cheap
 * enough to run after every cell, or that read its cell log. */
#ifndef MEMTRACE_CELLLOG_H
#define MEMTRACE_CELLLOG_H

#include <Python.h>

/* gc_type_counts() -> {type: count} over the objects the collector
 * tracks. Counted in C (a quarter of collections.Counter's time). */
PyObject *memtrace_gc_type_counts(PyObject *self, PyObject *unused);

/* cell_log_state(path) -> {sessions, cells}: how many session events and
 * nb_cells records the cell log at path holds (0, 0 for an empty file). */
PyObject *memtrace_cell_log_state(PyObject *self, PyObject *args);

#endif
