/* What the collector needs of CPython beyond its public API: frames,
 * collector lists, dict tables, object layout and the sizes its built-in
 * types report, for every CPython from 3.8 to 3.13. One implementation
 * file per family of layouts, chosen by CMake from the interpreter's
 * version (tools/collect/python/CMakeLists.txt):
 *   cpython38.c   3.8 to 3.10: frame objects with f_localsplus, dicts
 *                 beside the instance, the collector state in _PyRuntime
 *                 (3.8) or the interpreter (3.9, 3.10);
 *   cpython311.c  3.11: interpreter frames, inline values in an array
 *                 before the object (its values pointer in the pre-header);
 *   cpython312.c  3.12 and 3.13: 3.12's dict-or-values word, 3.13's values
 *                 inside the object.
 * Each checks the layout it assumes against the interpreter's internal
 * headers (or, where 3.8 to 3.10 install none for dicts, at run time), so
 * that a port to another Python touches this header and one new file. The
 * rest of the collector includes this header and no internal one. */
#ifndef MT_CPYTHON_H
#define MT_CPYTHON_H

#include <Python.h>
#include <frameobject.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x03080000 || PY_VERSION_HEX >= 0x030E0000
#error "the memtrace collector supports CPython 3.8 to 3.13: port cpython.h for this Python"
#endif

/* 1 where a frame object's traverse visits its local variables (3.8 to
 * 3.10): the dump labels those references (mt__attribute_name) and gives
 * the frame no second one per local. */
#define MT__FRAME_TRAVERSES_LOCALS (PY_VERSION_HEX < 0x030B0000)

/* Calls fn(name, value, arg) for each bound local variable of a running
 * frame (cells as the cell objects); stops at fn's nonzero return (then
 * -1). Reads the frame without building f_locals, which would keep every
 * local alive after the dump. */
typedef int (*mt__local_fn)(PyObject *name, PyObject *value, void *arg);
int mt__frame_locals(PyObject *frame, mt__local_fn fn, void *arg);

/* Calls fn(object, generation, arg) for every object the collector
 * tracks; generation 3 is the permanent one of gc.freeze(). Stops at fn's
 * nonzero return (then -1). With the GIL held and no collection possible:
 * fn must not free objects or let the collector run. */
typedef int (*mt__object_fn)(PyObject *o, int generation, void *arg);
int mt__gc_objects(mt__object_fn fn, void *arg);

/* Calls fn(ref, key, arg) for each reference of the exact dict, a value
 * with its key, a key with NULL; at least those its traverse visits (3.8
 * to 3.10 report every key: the dump ignores those it did not mark).
 * Stops at fn's nonzero return (then -1). No side effects. */
typedef int (*mt__dict_ref_fn)(PyObject *ref, PyObject *key, void *arg);
int mt__dict_refs(PyObject *dict, mt__dict_ref_fn fn, void *arg);

/* The bytes sys.getsizeof adds to __sizeof__ for instances of t: the
 * collector's header and (3.11 on) the managed dict's pointers before the
 * object. */
size_t mt__preheader_size(PyTypeObject *t);

/* The bytes o holds that sys.getsizeof leaves out and no other object's
 * size counts: 3.11 and 3.12's values array of an instance whose
 * attributes have no dict yet (allocated apart, freed with it), or the
 * prefix of that array once a dict holds it (the dict's __sizeof__ counts
 * the values only), 3.13's values inside the object (less what a dict
 * sharing them counts). 0 for
 * anything else and on 3.8 to 3.10, whose instance dicts are objects of
 * their own. SPEC.md (object sizes) states the rule. No side effects. */
size_t mt__held_size(PyObject *o);

/* The bytes of a 3.11 or 3.12 values array whose prefix is prefix bytes
 * long, for a type whose shared keys have usable slots now: the capacity
 * it was made with is usable or more (cpython311.c says why), and the
 * prefix holds capacity + 2 bytes rounded up to a word. */
static inline size_t mt__values_bytes(size_t prefix, Py_ssize_t usable) {
    Py_ssize_t lo = (Py_ssize_t)prefix - (Py_ssize_t)sizeof(PyObject *) - 1, hi = (Py_ssize_t)prefix - 2;
    Py_ssize_t cap = usable < lo ? lo : usable > hi ? hi : usable;
    return prefix + (size_t)(cap > 0 ? cap : 0) * sizeof(PyObject *);
}

/* 1 when instances of t may hold such bytes (mt__held_size): a managed
 * dict (3.11 on). Asked once per type. */
static inline int mt__may_hold(PyTypeObject *t) {
#if PY_VERSION_HEX >= 0x030D0000
    return (t->tp_flags & Py_TPFLAGS_MANAGED_DICT) != 0;
#elif PY_VERSION_HEX >= 0x030B0000
    return (t->tp_flags & Py_TPFLAGS_MANAGED_DICT) != 0 || t == &PyDict_Type;
#else
    return 0;
#endif
}

/* The name of the instance attribute of owner whose value is value when
 * owner keeps its attributes without a dict (3.11 on), or, where a frame's
 * traverse visits its locals (3.8 to 3.10, MT__FRAME_TRAVERSES_LOCALS),
 * of the local variable of frame owner that holds value; NULL when there
 * is none. Borrowed; no side effects. */
PyObject *mt__attribute_name(PyObject *owner, PyObject *value);

/* o's __dict__ when o's traverse does not visit it (3.13: while the
 * dict shares the values inside the object, the traverse visits the
 * values instead), so that the walk finds it: untracked, as a dict of
 * atomic values is, nothing else would. NULL otherwise. No side effects. */
PyObject *mt__hidden_dict(PyObject *o);
#define MT__HIDDEN_DICTS (PY_VERSION_HEX >= 0x030D0000) /* else never one: no call */

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
 * and counted still, but with no frames. tracemalloc records the whole
 * stack for every object made or reused from a free list, each frame's
 * line found by a scan of its code's line table, which made the heap
 * dump's own short-lived tuples cost 10-60 times the dump itself
 * (bench/dump_pause). The GIL must be held throughout, and no Python code
 * run in between: the thread's frames are hidden. */
void mt__tracemalloc_quiet(mt__quiet *q);
void mt__tracemalloc_loud(mt__quiet *q);

/* Whether mt__tracemalloc_quiet may act for thread state ts: tracemalloc
 * walks the frames of PyGILState_GetThisThreadState(), so hiding ts's
 * frame helps only when that is ts (not in a subinterpreter, nor after a
 * PyThreadState_Swap), and its frame limit is process-wide, so with a
 * second interpreter (3.12's own GIL) it is left alone. The limit is set
 * to 1, never 0: 3.8 stops its walk only on reaching the limit. */
static inline int mt__quiet_allowed(PyThreadState *ts) {
    return PyGILState_GetThisThreadState() == ts && !PyInterpreterState_Next(PyInterpreterState_Main());
}

/* The calling thread's Python stack, innermost first: up to max code
 * objects (borrowed) and the byte offset of each frame's instruction, as
 * PyCode_Addr2Line takes it. The GIL is held; no allocation, no Python
 * call. Returns the number of frames. */
int mt__thread_stack(PyCodeObject **code, int *addr, int max);

/* Disables (enables) the collector; returns whether it was enabled. */
int mt__gc_disable(void);
int mt__gc_enable(void);

/* A code object's qualified name (3.11 on), else its name. Borrowed. */
static inline PyObject *mt__code_name(PyCodeObject *co) {
#if PY_VERSION_HEX >= 0x030B0000
    return co->co_qualname;
#else
    return co->co_name;
#endif
}

/* 1 when the collector tracks o, a collector object: the first word of
 * the header before it is its list link, zero while untracked (3.8 to
 * 3.13 alike; each implementation file asserts it). Inline: the mark pass
 * asks for every new object it visits. */
static inline int mt__gc_tracked(PyObject *o) { return ((const uintptr_t *)o)[-2] != 0; }

/* sys.getsizeof(o) less the pre-header, computed as __sizeof__ computes
 * it, for an exact list or (up to 3.11, before ints changed layout) int;
 * -1 for anything else. Saves a method call and an int object for each of
 * the commonest objects. tests/python/test_heap.py checks it against
 * sys.getsizeof. */
static inline Py_ssize_t mt__builtin_size(PyObject *o) {
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyList_Type) return t->tp_basicsize + ((PyListObject *)o)->allocated * (Py_ssize_t)sizeof(void *);
#if PY_VERSION_HEX < 0x030C0000
    if (t == &PyLong_Type) {
        Py_ssize_t n = Py_SIZE(o);
        n = n < 0 ? -n : n;
#if PY_VERSION_HEX >= 0x030B0000
        /* Zero counts the one digit it is allocated with, as 3.11.2 does. */
        if (!n) n = 1;
#endif
        return t->tp_basicsize + n * t->tp_itemsize;
    }
#endif
    return -1;
}

/* Calls fn(ref, name, arg) for each reference of code object co that
 * its type's object members (co_consts, co_names, co_filename ...) leave
 * out: from 3.11 its local names and kinds, which the members of 3.8 to
 * 3.10 had covered (co_varnames ...), and the co_code bytes and name
 * tuples made when first asked for (3.11's _co_code, 3.12 on
 * _co_cached). Stops at fn's nonzero return (then -1). No side effects:
 * nothing is made. */
typedef int (*mt__named_ref_fn)(PyObject *ref, const char *name, void *arg);
static inline int mt__code_refs(PyObject *co, mt__named_ref_fn fn, void *arg) {
#if PY_VERSION_HEX >= 0x030B0000
    PyCodeObject *c = (PyCodeObject *)co;
    struct {
        PyObject *o;
        const char *name;
    } r[] = {
        { c->co_localsplusnames, "co_localsplusnames" },
        { c->co_localspluskinds, "co_localspluskinds" },
#if PY_VERSION_HEX >= 0x030C0000
        { c->_co_cached ? c->_co_cached->_co_code : NULL, "co_code" },
        { c->_co_cached ? c->_co_cached->_co_varnames : NULL, "co_varnames" },
        { c->_co_cached ? c->_co_cached->_co_cellvars : NULL, "co_cellvars" },
        { c->_co_cached ? c->_co_cached->_co_freevars : NULL, "co_freevars" },
#else
        { c->_co_code, "co_code" },
#endif
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (r[i].o && fn(r[i].o, r[i].name, arg)) return -1;
#else
    (void)co;
    (void)fn;
    (void)arg;
#endif
    return 0;
}

/* A weak reference's target, Py_None once dead; borrowed, no side
 * effects (3.13 deprecates PyWeakref_GET_OBJECT, which read the same
 * field; PyWeakref_GetRef would take a reference). */
static inline PyObject *mt__weakref_target(PyObject *ref) { return ((PyWeakReference *)ref)->wr_object; }

/* The public API of later Pythons the collector uses, for earlier ones. */
#if PY_VERSION_HEX < 0x03090000
#define Py_IS_TYPE(o, t) (Py_TYPE(o) == (t))
static inline PyObject *PyObject_CallNoArgs(PyObject *f) { return PyObject_CallFunctionObjArgs(f, NULL); }
static inline PyObject *PyObject_CallMethodNoArgs(PyObject *o, PyObject *name) {
    return PyObject_CallMethodObjArgs(o, name, NULL);
}
static inline PyFrameObject *PyFrame_GetBack(PyFrameObject *f) {
    Py_XINCREF(f->f_back);
    return f->f_back;
}
static inline PyCodeObject *PyFrame_GetCode(PyFrameObject *f) {
    Py_INCREF(f->f_code);
    return f->f_code;
}
#endif
#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *Py_NewRef(PyObject *o) {
    Py_INCREF(o);
    return o;
}
#endif
#ifndef METH_METHOD
#define METH_METHOD 0 /* 3.9's; no 3.8 method has it */
#endif
#if PY_VERSION_HEX >= 0x030D0000
/* Exported still, but declared in 3.13's internal headers only. */
PyAPI_FUNC(PyObject *) _PyTraceMalloc_GetTraceback(unsigned int domain, uintptr_t ptr);
#endif

/* The line traceback tb names in its frame. 3.8 to 3.11.0 store
 * tb_lineno when the traceback is made; later 3.11 releases (3.11.7, not
 * Debian's 3.11.2) and 3.12 on leave -1 until asked, and tb_lineno's
 * getter computes it as here: PyCode_Addr2Line at tb_lasti (bytes in
 * every version). No side effects. */
static inline int mt__traceback_line(PyObject *tb) {
    PyTracebackObject *t = (PyTracebackObject *)tb;
    if (t->tb_lineno >= 0 || !t->tb_frame) return t->tb_lineno;
    PyCodeObject *co = PyFrame_GetCode(t->tb_frame);
    int line = PyCode_Addr2Line(co, t->tb_lasti);
    Py_DECREF(co);
    return line;
}

#endif
