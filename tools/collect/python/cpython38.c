/* What CPython 3.8 to 3.10 show only through their internal headers (or
 * their public structs), for the very Python the extension is built for
 * (cpython.h states the contract; cpython311.c says why each is read in
 * place rather than through the public API).
 *
 * These Pythons are simpler for the walk: a frame object holds its locals
 * in f_localsplus (names in co_varnames, then co_cellvars and
 * co_freevars), which its traverse visits too; an instance's attributes
 * are in a dict of its own, an object the walk finds and sizes as any
 * other; sys.getsizeof adds the collector's header only. The collector's
 * state is in _PyRuntime (3.8) or the interpreter (3.9, 3.10). Dict
 * tables are not in any installed header: their references come from
 * PyDict_Next, every key included. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <frameobject.h>
#include <stddef.h>
#if PY_VERSION_HEX >= 0x03090000
#include <internal/pycore_gc.h>
#include <internal/pycore_interp.h>
#else
#include <internal/pycore_pystate.h>
#endif
#if PY_VERSION_HEX >= 0x03090000
#include <internal/pycore_pymem.h> /* _Py_tracemalloc_config (3.8: pymem.h) */
#endif
#include "cpython.h"

#if PY_VERSION_HEX < 0x03080000 || PY_VERSION_HEX >= 0x030B0000
#error "cpython38.c reads CPython 3.8 to 3.10's frames and collector state: CMake picks the file for this Python"
#endif

/* mt__gc_tracked reads the header this way. */
_Static_assert(sizeof(PyGC_Head) == 2 * sizeof(uintptr_t) && offsetof(PyGC_Head, _gc_next) == 0,
               "CPython's collector header: _gc_next first, two words");

static struct _gc_runtime_state *gc_state(void) {
#if PY_VERSION_HEX >= 0x03090000
    return &PyInterpreterState_Get()->gc;
#else
    return &_PyRuntime.gc;
#endif
}

int mt__frame_locals(PyObject *frame, mt__local_fn fn, void *arg) {
    PyFrameObject *f = (PyFrameObject *)frame;
    PyCodeObject *co = f->f_code;
    PyObject *names[3] = { co->co_varnames, co->co_cellvars, co->co_freevars };
    Py_ssize_t k = 0;
    for (int part = 0; part < 3; part++) {
        if (!names[part] || !PyTuple_Check(names[part])) continue;
        Py_ssize_t n = PyTuple_GET_SIZE(names[part]);
        if (part == 0 && n > co->co_nlocals) n = co->co_nlocals;
        for (Py_ssize_t i = 0; i < n; i++, k++) {
            PyObject *v = f->f_localsplus[k];
            if (v && fn(PyTuple_GET_ITEM(names[part], i), v, arg)) return -1;
        }
    }
    return 0;
}

int mt__gc_objects(mt__object_fn fn, void *arg) {
    struct _gc_runtime_state *gc = gc_state();
    for (int g = 0; g <= NUM_GENERATIONS; g++) {
        PyGC_Head *head = g < NUM_GENERATIONS ? &gc->generations[g].head : &gc->permanent_generation.head;
        for (PyGC_Head *h = _PyGCHead_NEXT(head); h != head; h = _PyGCHead_NEXT(h))
            if (fn((PyObject *)(h + 1), g, arg)) return -1;
    }
    return 0;
}

/* Every value with its key, and every key: these dicts' traverse visits
 * the keys of tables that are not str-only, which no installed header
 * lets the walk tell apart; a key the walk did not mark is ignored. */
int mt__dict_refs(PyObject *dict, mt__dict_ref_fn fn, void *arg) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(dict, &pos, &k, &v))
        if (fn(v, k, arg) || fn(k, NULL, arg)) return -1;
    return 0;
}

size_t mt__preheader_size(PyTypeObject *t) { return PyType_IS_GC(t) ? sizeof(PyGC_Head) : 0; }

/* An instance's attributes are in its __dict__, an object of its own. */
size_t mt__held_size(PyObject *o) { return 0; }

static int local_named(PyObject *name, PyObject *v, void *arg) {
    PyObject **q = arg; /* {the value sought, its name} */
    if (v != q[0]) return 0;
    q[1] = name;
    return 1;
}

/* Instances keep attributes in a dict here: only a frame's locals, which
 * its traverse visits, are named. */
PyObject *mt__attribute_name(PyObject *owner, PyObject *value) {
    PyObject *q[2] = { value, NULL };
    if (Py_TYPE(owner) == &PyFrame_Type) mt__frame_locals(owner, local_named, q);
    return q[1];
}

PyObject *mt__hidden_dict(PyObject *o) { return NULL; }

PyObject *mt__instance_dict(PyObject *owner) {
    if (Py_TYPE(owner)->tp_dictoffset == 0) return NULL;
    PyObject **p = _PyObject_GetDictPtr(owner);
    return p ? *p : NULL;
}

int mt__thread_stack(PyCodeObject **code, int *addr, int max) {
    PyThreadState *ts = _PyThreadState_UncheckedGet();
    int d = 0;
    for (PyFrameObject *f = ts ? ts->frame : NULL; f && d < max; f = f->f_back) {
        code[d] = f->f_code;
        int lasti = f->f_lasti < 0 ? 0 : f->f_lasti;
#if PY_VERSION_HEX >= 0x030A0000
        lasti *= (int)sizeof(_Py_CODEUNIT); /* 3.10 counts instructions */
#endif
        addr[d++] = lasti;
    }
    return d;
}

#if PY_VERSION_HEX >= 0x030A0000
int mt__gc_disable(void) { return PyGC_Disable(); }
int mt__gc_enable(void) { return PyGC_Enable(); }
#else
/* gc.disable itself sets this flag; the module's function may have been
 * replaced by Python code. */
int mt__gc_disable(void) {
    struct _gc_runtime_state *gc = gc_state();
    int was = gc->enabled;
    gc->enabled = 0;
    return was;
}
int mt__gc_enable(void) {
    struct _gc_runtime_state *gc = gc_state();
    int was = gc->enabled;
    gc->enabled = 1;
    return was;
}
#endif

/* tracemalloc's traceback_get_frames of 3.8 to 3.10 reads the frame limit
 * and walks the thread's frame objects from tstate->frame to count them
 * (cpython311.c's comment says why that is costly). */
void mt__tracemalloc_quiet(mt__quiet *q) {
    PyThreadState *ts = PyThreadState_Get();
    q->active = 0;
    if (!mt__quiet_allowed(ts)) return;
    q->active = 1;
    q->limit = _Py_tracemalloc_config.max_nframe;
    q->frame = ts->frame;
    _Py_tracemalloc_config.max_nframe = 1;
    ts->frame = NULL;
}

void mt__tracemalloc_loud(mt__quiet *q) {
    if (!q->active) return;
    q->active = 0;
    _Py_tracemalloc_config.max_nframe = q->limit;
    PyThreadState_Get()->frame = q->frame;
}
