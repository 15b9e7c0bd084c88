/* The notebook recorder's C helpers: counting the collector's objects by
 * type after a cell, and reading back where a cell log stands. */
#include "celllog.h"
#include <stdint.h>
#include <stdlib.h>
#include "memtrace/format.h"

typedef struct {
    PyTypeObject *type;
    Py_ssize_t count;
} tslot;

/* Open addressing on the type pointer: a notebook's heap has a few
 * thousand types and tens of thousands to millions of objects. */
static int tcount(tslot **tab, size_t *cap, size_t *used, PyTypeObject *t) {
    size_t mask = *cap - 1, h = ((uintptr_t)t >> 4) * 0x9E3779B97F4A7C15ull;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if ((*tab)[i].type == t) {
            (*tab)[i].count++;
            return 0;
        }
        if (!(*tab)[i].type) {
            (*tab)[i].type = t;
            (*tab)[i].count = 1;
            break;
        }
    }
    if (++*used * 2 <= *cap) return 0;
    size_t ncap = *cap * 2;
    tslot *n = calloc(ncap, sizeof *n);
    if (!n) return -1;
    for (size_t j = 0; j < *cap; j++) {
        if (!(*tab)[j].type) continue;
        size_t k = (((uintptr_t)(*tab)[j].type >> 4) * 0x9E3779B97F4A7C15ull) & (ncap - 1);
        while (n[k].type) k = (k + 1) & (ncap - 1);
        n[k] = (*tab)[j];
    }
    free(*tab);
    *tab = n;
    *cap = ncap;
    return 0;
}

PyObject *memtrace_gc_type_counts(PyObject *self, PyObject *unused) {
    PyObject *gc = PyImport_ImportModule("gc");
    if (!gc) return NULL;
    PyObject *objs = PyObject_CallMethod(gc, "get_objects", NULL);
    Py_DECREF(gc);
    if (!objs) return NULL;
    if (!PyList_Check(objs)) {
        Py_DECREF(objs);
        return PyErr_Format(PyExc_TypeError, "gc.get_objects() did not return a list");
    }
    size_t cap = 1024, used = 0;
    tslot *tab = calloc(cap, sizeof *tab);
    if (!tab) {
        Py_DECREF(objs);
        return PyErr_NoMemory();
    }
    Py_ssize_t n = PyList_GET_SIZE(objs);
    for (Py_ssize_t i = 0; i < n; i++)
        if (tcount(&tab, &cap, &used, Py_TYPE(PyList_GET_ITEM(objs, i)))) {
            free(tab);
            Py_DECREF(objs);
            return PyErr_NoMemory();
        }
    PyObject *d = PyDict_New();
    for (size_t j = 0; d && j < cap; j++) {
        if (!tab[j].type) continue;
        PyObject *c = PyLong_FromSsize_t(tab[j].count);
        if (!c || PyDict_SetItem(d, (PyObject *)tab[j].type, c) < 0) Py_CLEAR(d);
        Py_XDECREF(c);
    }
    free(tab);
    /* The list goes after the counts: its references kept every counted
     * type alive while it was a key. */
    Py_DECREF(objs);
    return d;
}

PyObject *memtrace_cell_log_state(PyObject *self, PyObject *args) {
    PyObject *path;
    if (!PyArg_ParseTuple(args, "O&", PyUnicode_FSConverter, &path)) return NULL;
    mt_reader *r = NULL;
    mt_diag d;
    mt_diag_clear(&d);
    unsigned long long sessions = 0, cells = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_reader_open(PyBytes_AS_STRING(path), &r, &d);
    for (size_t b = 0; !rc && b < mt_reader_block_count(r); b++) {
        const mt_block_info *bi = mt_reader_block(r, b);
        if (bi->kind == MT_KIND_NB_CELL) {
            cells += bi->count;
            continue;
        }
        if (bi->kind != MT_KIND_EVENT) continue;
        mt_cursor c;
        mt_record rec;
        if (mt_reader_block_open(r, b, &c, NULL)) continue; /* a damaged block: counted as none */
        while (mt_cursor_next(&c, &rec.u, NULL) == 1)
            if (rec.u.event.kind.len == 7 && !memcmp(rec.u.event.kind.ptr, "session", 7)) sessions++;
    }
    mt_reader_free(r);
    Py_END_ALLOW_THREADS
    if (rc) {
        char where[400];
        mt_diag_format(&d, where, sizeof where);
        PyErr_Format(rc == MT_E_IO ? PyExc_OSError : PyExc_ValueError, "%s", where);
        Py_DECREF(path);
        return NULL;
    }
    Py_DECREF(path);
    return Py_BuildValue("{sKsK}", "sessions", sessions, "cells", cells);
}
