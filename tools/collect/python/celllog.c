/* The notebook recorder's C helper: counting the collector's objects by
 * type after a cell, cheaply enough to run after every cell. */
#include "celllog.h"
#include <stdint.h>
#include <stdlib.h>

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
