/* What the source files of memtrace._analyze share. Each concern's file
 * defines one method table (mta_<concern>_methods, ended by a NULL
 * entry) that module.c gathers into the module's. */
#ifndef MEMTRACE_PY_ANALYZE_H
#define MEMTRACE_PY_ANALYZE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "memtrace/analyze.h"

/* memtrace.analyze.Error and the subclasses mta_raise() picks by code:
 * BadInputError (also ValueError: a damaged or foreign file, a syntax
 * error), NotFoundError (also LookupError), FileError (also OSError). */
extern PyObject *mta_Error, *mta_BadInputError, *mta_NotFoundError, *mta_FileError;

/* Raises the exception for rc (a negative MT_E_* code) and returns NULL.
 * The exception's args are (message,) and its attributes path (str or
 * None), code ("MT_E_DAMAGED"), block, offset, line, column (None where
 * diag has none) and reason (diag's msg); the message reads as the tools
 * print it: "PATH: block 7 at offset 81920 (objects): checksum mismatch".
 * path may be NULL, diag may be NULL (then mt_strerror(rc) is the reason). */
PyObject *mta_raise(const char *path, int rc, const mt_diag *diag);
/* The same with text (UTF-8, NULL: as mta_raise) as the message. */
PyObject *mta_raise_text(const char *text, const char *path, int rc, const mt_diag *diag);

/* Sets d[key] = v and drops the reference to v (stolen, also on error).
 * @return 0, or -1 with an exception set (v NULL: the exception its
 *         maker set). */
int mta_put(PyObject *d, const char *key, PyObject *v);
/* Appends v to list l, stealing v as mta_put does. */
int mta_append(PyObject *l, PyObject *v);

/* An integer argument that counts or sizes something (top, available):
 * an int, or an object with __index__, not a bool, from 0 to 2**64 - 1.
 * Parse it with "O" and convert it here, not with "K", which would take
 * -1 for 2**64 - 1. o NULL (not given) leaves *out as it is.
 * @return 0, or -1 with ValueError "top must be >= 0, got -1" (or a
 *         TypeError, OverflowError) naming the argument. */
int mta_count(PyObject *o, const char *name, unsigned long long *out);

extern PyMethodDef mta_core_methods[];    /* core.c: open, info, frames, columns, diff, leaks */
extern PyMethodDef mta_graph_methods[];   /* graph.c: dominators, retained, paths to roots */
extern PyMethodDef mta_advise_methods[];  /* advise.c */
extern PyMethodDef mta_predict_methods[]; /* predict.c */
extern PyMethodDef mta_gate_methods[];    /* gate.c */
extern PyMethodDef mta_fleet_methods[];   /* fleet.c: many workers' dumps */
extern PyMethodDef mta_trace_methods[];   /* trace.c: allocation traces */

#endif
