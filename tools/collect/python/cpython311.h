/* What the heap walk needs of CPython 3.11 beyond its public API: its
 * frames, collector lists, dict tables, object layout and the sizes its
 * built-in types report. A port to another Python touches this header and
 * cpython311.c only; cpython311.c checks the layout the inline functions
 * below assume against the interpreter's internal headers. */
#ifndef MT_CPYTHON311_H
#define MT_CPYTHON311_H

#include <Python.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "cpython311.h assumes CPython 3.11's layout and sizes: port it for this Python"
#endif

/* Calls fn(name, value, arg) for each bound local variable of a running
 * frame (cpython311.c); stops at fn's nonzero return (then -1). */
typedef int (*mt__local_fn)(PyObject *name, PyObject *value, void *arg);
int mt__frame_locals(PyObject *frame, mt__local_fn fn, void *arg);

/* The line traceback tb names in its frame (tb_lineno); no side effects. */
int mt__traceback_line(PyObject *tb);

/* Calls fn(object, generation, arg) for every object the collector
 * tracks; generation 3 is the permanent one of gc.freeze(). Stops at fn's
 * nonzero return (then -1). With the GIL held and no collection possible:
 * fn must not free objects or let the collector run (cpython311.c). */
typedef int (*mt__object_fn)(PyObject *o, int generation, void *arg);
int mt__gc_objects(mt__object_fn fn, void *arg);

/* Calls fn(ref, key, arg) for each reference the exact dict's traverse
 * visits, in its order: a value with its key, a key with NULL. Stops at
 * fn's nonzero return (then -1). No side effects (cpython311.c). */
typedef int (*mt__dict_ref_fn)(PyObject *ref, PyObject *key, void *arg);
int mt__dict_refs(PyObject *dict, mt__dict_ref_fn fn, void *arg);

/* The bytes sys.getsizeof adds to __sizeof__ for instances of t: the
 * collector's header and the managed dict's pointers before the object. */
size_t mt__preheader_size(PyTypeObject *t);

/* The name of the instance attribute of owner whose value is value when
 * owner keeps its attributes without a dict (3.11's inline values);
 * NULL when it does not. Borrowed; no side effects. */
PyObject *mt__attribute_name(PyObject *owner, PyObject *value);

/* owner's __dict__ if it has one already; NULL otherwise. Never makes one. */
PyObject *mt__instance_dict(PyObject *owner);

/* What mt__tracemalloc_quiet changed, for mt__tracemalloc_loud. */
typedef struct mt__quiet {
    int active;
    int limit;    /* tracemalloc's frame limit */
    void *frame;  /* this thread's innermost frame */
} mt__quiet;

/* While tracemalloc traces, makes its recording of the calling thread's
 * own allocations cheap until mt__tracemalloc_loud(q): they are traced
 * and counted still, but with no frames. 3.11 records the whole stack
 * for every object made or reused from a free list, each frame's line
 * found by a linear scan of its code's line table, which made the heap
 * dump's own short-lived tuples cost 10-60 times the dump itself. The
 * GIL must be held throughout, and no Python code run in between: the
 * thread's frames are hidden (cpython311.c). */
void mt__tracemalloc_quiet(mt__quiet *q);
void mt__tracemalloc_loud(mt__quiet *q);

/* 1 when the collector tracks o, a collector object: the first word of
 * the header before it is its list link, zero while untracked. Inline:
 * the mark pass asks for every new object it visits. */
static inline int mt__gc_tracked(PyObject *o) { return ((const uintptr_t *)o)[-2] != 0; }

/* sys.getsizeof(o) less the pre-header, computed as 3.11's __sizeof__
 * computes it, for an exact list or int; -1 for anything else. Saves a
 * method call and an int object for each of the commonest objects.
 * tests/python/test_heap.py checks it against sys.getsizeof. */
static inline Py_ssize_t mt__builtin_size(PyObject *o) {
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyList_Type) return t->tp_basicsize + ((PyListObject *)o)->allocated * (Py_ssize_t)sizeof(void *);
    if (t == &PyLong_Type) {
        /* Zero counts the one digit it is allocated with, as 3.11.2 does. */
        Py_ssize_t n = Py_SIZE(o);
        n = n < 0 ? -n : n;
        return t->tp_basicsize + (n ? n : 1) * t->tp_itemsize;
    }
    return -1;
}

#endif
