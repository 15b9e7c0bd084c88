/* What CPython 3.12 and 3.13 show only through their internal headers,
 * read as debuggers do, for the very Python the extension is built for
 * (cpython.h states the contract; cpython311.c says why each is read in
 * place rather than through the public API).
 *
 * What changed since 3.11:
 *   - 3.12: the managed dict's two pointers became one word, a dict or
 *     (tagged with bit 0) the values array, which is still allocated
 *     apart with 3.11's prefix before it;
 *   - 3.13: the values live inside the object (Py_TPFLAGS_INLINE_VALUES),
 *     after its header, with their own small header (capacity, size,
 *     embedded, valid) and the insertion order after the values; the
 *     managed-dict word holds the dict only; frames name their code as
 *     f_executable and the thread state holds current_frame itself. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_gc.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_object.h>
#include <internal/pycore_pystate.h>
#include <internal/pycore_runtime.h> /* _PyRuntime.tracemalloc */
#include "cpython.h"

#if PY_VERSION_HEX < 0x030C0000 || PY_VERSION_HEX >= 0x030E0000
#error "cpython312.c reads CPython 3.12 and 3.13's frames and object layout: CMake picks the file for this Python"
#endif
#ifdef Py_GIL_DISABLED
#error "the free-threaded build keeps objects and collector state otherwise: not supported"
#endif

/* mt__gc_tracked reads the header this way. */
_Static_assert(sizeof(PyGC_Head) == 2 * sizeof(uintptr_t) && offsetof(PyGC_Head, _gc_next) == 0,
               "CPython's collector header: _gc_next first, two words");
#if PY_VERSION_HEX >= 0x030D0000
/* mt__held_size's arithmetic: a pointer-sized header, then the values. */
_Static_assert(offsetof(PyDictValues, values) == sizeof(PyObject *), "3.13's inline values: one word of header");
#define CODE(f) _PyFrame_GetCode(f)
#else
#define CODE(f) ((f)->f_code)
#endif

int mt__frame_locals(PyObject *frame, mt__local_fn fn, void *arg) {
    _PyInterpreterFrame *f = ((PyFrameObject *)frame)->f_frame;
    if (!f) return 0;
#if PY_VERSION_HEX >= 0x030D0000
    if (!PyCode_Check(f->f_executable)) return 0;
#endif
    PyCodeObject *co = CODE(f);
    for (int i = 0; i < co->co_nlocalsplus; i++) {
        PyObject *v = f->localsplus[i];
        if (v && fn(PyTuple_GET_ITEM(co->co_localsplusnames, i), v, arg)) return -1;
    }
    return 0;
}

int mt__gc_objects(mt__object_fn fn, void *arg) {
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (int g = 0; g <= NUM_GENERATIONS; g++) {
        PyGC_Head *head = g < NUM_GENERATIONS ? &interp->gc.generations[g].head : &interp->gc.permanent_generation.head;
        for (PyGC_Head *gc = _PyGCHead_NEXT(head); gc != head; gc = _PyGCHead_NEXT(gc))
            if (fn((PyObject *)(gc + 1), g, arg)) return -1;
    }
    return 0;
}

/* dict_traverse of 3.12 and 3.13, with the keys: a table of str keys
 * visits only its values (split ones kept apart), any other table each
 * value and then its key. */
int mt__dict_refs(PyObject *dict, mt__dict_ref_fn fn, void *arg) {
    PyDictObject *mp = (PyDictObject *)dict;
    PyDictKeysObject *keys = mp->ma_keys;
    Py_ssize_t n = keys->dk_nentries;
    if (DK_IS_UNICODE(keys)) {
        PyDictUnicodeEntry *entries = DK_UNICODE_ENTRIES(keys);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *v = mp->ma_values ? mp->ma_values->values[i] : entries[i].me_value;
            if (v && fn(v, entries[i].me_key, arg)) return -1;
        }
        return 0;
    }
    PyDictKeyEntry *entries = DK_ENTRIES(keys);
    for (Py_ssize_t i = 0; i < n; i++)
        if (entries[i].me_value &&
            (fn(entries[i].me_value, entries[i].me_key, arg) || fn(entries[i].me_key, NULL, arg)))
            return -1;
    return 0;
}

size_t mt__preheader_size(PyTypeObject *t) { return _PyType_PreHeaderSize(t); }

/* The instance's values while they hold its attributes; NULL once a dict
 * holds them (or for any other object). */
static PyDictValues *values_of(PyObject *o) {
    PyTypeObject *t = Py_TYPE(o);
    if (!(t->tp_flags & Py_TPFLAGS_MANAGED_DICT)) return NULL;
#if PY_VERSION_HEX >= 0x030D0000
    if (!(t->tp_flags & Py_TPFLAGS_INLINE_VALUES)) return NULL;
    PyDictValues *v = _PyObject_InlineValues(o);
    return v->valid ? v : NULL;
#else
    PyDictOrValues dorv = *_PyObject_DictOrValuesPointer(o);
    return _PyDictOrValues_IsValues(dorv) ? _PyDictOrValues_GetValues(dorv) : NULL;
#endif
}

size_t mt__held_size(PyObject *o) {
#if PY_VERSION_HEX >= 0x030D0000
    /* Inside the object, valid or not, for its whole life: the header
     * word, the capacity's values and their insertion order rounded to a
     * word (_PyInlineValuesSize). A dict sharing them (made for __dict__)
     * counts the values in its own size: those are left to it. */
    PyTypeObject *t = Py_TYPE(o);
    if (!(t->tp_flags & Py_TPFLAGS_INLINE_VALUES)) return 0;
    PyDictValues *v = _PyObject_InlineValues(o);
    size_t cap = v->capacity, ptr = sizeof(PyObject *);
    size_t held = ptr + cap * ptr + (cap + ptr - 1) / ptr * ptr;
    PyDictObject *d = _PyObject_ManagedDictPointer(o)->dict;
    if (d && d->ma_values == v) held -= shared_keys_usable_size(d->ma_keys) * ptr;
    return held;
#else
    /* Allocated apart, 3.11's way (cpython311.c says how it is sized);
     * a dict that took it over counts all but its prefix. */
    if (Py_TYPE(o) == &PyDict_Type) {
        PyDictValues *dv = ((PyDictObject *)o)->ma_values;
        return dv ? ((const uint8_t *)dv)[-1] : 0;
    }
    PyDictValues *v = values_of(o);
    PyDictKeysObject *keys = ((PyHeapTypeObject *)Py_TYPE(o))->ht_cached_keys;
    if (!v || !keys) return 0;
    return mt__values_bytes(((const uint8_t *)v)[-1], keys->dk_nentries + keys->dk_usable);
#endif
}

/* Read in place: asking for __dict__ would build the dict for good. */
PyObject *mt__attribute_name(PyObject *owner, PyObject *value) {
    PyDictValues *values = values_of(owner);
    PyDictKeysObject *keys = values ? ((PyHeapTypeObject *)Py_TYPE(owner))->ht_cached_keys : NULL;
    if (!keys || keys->dk_kind != DICT_KEYS_SPLIT) return NULL;
    Py_ssize_t n = keys->dk_nentries < 64 ? keys->dk_nentries : 64;
    for (Py_ssize_t i = 0; i < n; i++)
        if (values->values[i] == value) return DK_UNICODE_ENTRIES(keys)[i].me_key;
    return NULL;
}

PyObject *mt__hidden_dict(PyObject *o) {
#if PY_VERSION_HEX >= 0x030D0000
    /* PyObject_VisitManagedDict visits the values while they are valid. */
    if (!(Py_TYPE(o)->tp_flags & Py_TPFLAGS_INLINE_VALUES) || !_PyObject_InlineValues(o)->valid) return NULL;
    return (PyObject *)_PyObject_ManagedDictPointer(o)->dict;
#else
    return NULL;
#endif
}

PyObject *mt__instance_dict(PyObject *owner) {
    PyTypeObject *t = Py_TYPE(owner);
    if (t->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
#if PY_VERSION_HEX >= 0x030D0000
        return (PyObject *)_PyObject_ManagedDictPointer(owner)->dict;
#else
        PyDictOrValues dorv = *_PyObject_DictOrValuesPointer(owner);
        return _PyDictOrValues_IsValues(dorv) ? NULL : _PyDictOrValues_GetDict(dorv);
#endif
    }
    if (t->tp_dictoffset > 0) return *(PyObject **)((char *)owner + t->tp_dictoffset);
    return NULL;
}

int mt__thread_stack(PyCodeObject **code, int *addr, int max) {
    /* _PyThreadState_GET reads a thread-local the interpreter does not
     * export to extensions. */
#if PY_VERSION_HEX >= 0x030D0000
    PyThreadState *ts = PyThreadState_GetUnchecked();
#else
    PyThreadState *ts = _PyThreadState_UncheckedGet();
#endif
    int d = 0;
    if (!ts) return 0;
#if PY_VERSION_HEX >= 0x030D0000
    _PyInterpreterFrame *f = ts->current_frame;
#else
    _PyInterpreterFrame *f = ts->cframe ? ts->cframe->current_frame : NULL;
#endif
    for (; f && d < max; f = f->previous) {
        /* The C stack's entry shims run no code of the program's. */
        if (f->owner == FRAME_OWNED_BY_CSTACK) continue;
#if PY_VERSION_HEX >= 0x030D0000
        if (!PyCode_Check(f->f_executable)) continue;
#endif
        if (_PyFrame_IsIncomplete(f)) continue;
        code[d] = CODE(f);
        addr[d++] = _PyInterpreterFrame_LASTI(f) * (int)sizeof(_Py_CODEUNIT);
    }
    return d;
}

int mt__gc_disable(void) { return PyGC_Disable(); }
int mt__gc_enable(void) { return PyGC_Enable(); }


/* 3.12 and 3.13 keep tracemalloc's frame limit in _PyRuntime, and its
 * traceback_get_frames walks the thread's interpreter frames from the
 * current one (3.12: tstate->cframe->current_frame; 3.13: tstate->
 * current_frame) to count them (cpython311.c's comment says why that is
 * costly). */
#if PY_VERSION_HEX >= 0x030D0000
#define CURRENT_FRAME(ts) ((ts)->current_frame)
#else
#define CURRENT_FRAME(ts) ((ts)->cframe->current_frame)
#endif

void mt__tracemalloc_quiet(mt__quiet *q) {
    PyThreadState *ts = PyThreadState_Get();
    q->active = 0;
    if (!mt__quiet_allowed(ts)) return;
    q->active = 1;
    q->limit = _PyRuntime.tracemalloc.config.max_nframe;
    q->frame = CURRENT_FRAME(ts);
    _PyRuntime.tracemalloc.config.max_nframe = 1;
    CURRENT_FRAME(ts) = NULL;
}

void mt__tracemalloc_loud(mt__quiet *q) {
    if (!q->active) return;
    q->active = 0;
    _PyRuntime.tracemalloc.config.max_nframe = q->limit;
    CURRENT_FRAME(PyThreadState_Get()) = q->frame;
}
