/* What CPython 3.11 shows only through its internal headers, read as
 * debuggers do, for the very Python the extension is built for. Kept in
 * this one file (cpython.h states the contract shared with the other
 * versions' files).
 *
 * A running frame's local variables, read without side effects.
 *
 * In CPython 3.11 a running frame keeps its locals in the thread's frame
 * stack, which neither the frame object's traverse nor any public call
 * shows without building an f_locals dict; that dict then stays on the
 * frame and keeps every local alive after the dump (the collector's own
 * leak test caught it). So this one file reads the interpreter frame, as
 * debuggers do. Cells are reported as the cell objects.
 *
 * An exact dict's references in the order its traverse visits them, each
 * value with its key, for labels without a search per value.
 *
 * Every object the collector tracks, by generation, walked in place:
 * gc.get_objects() would build a list of them, 8 bytes an object, which
 * was most of the collector's own memory on a heap of 10M objects
 * (bench/heap_collect: 122 MB in all). */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_gc.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_object.h>
#include <internal/pycore_pymem.h>
#include <internal/pycore_pystate.h>
#include "cpython.h"

/* mt__gc_tracked reads the header this way. */
_Static_assert(sizeof(PyGC_Head) == 2 * sizeof(uintptr_t) && offsetof(PyGC_Head, _gc_next) == 0,
               "CPython 3.11's collector header: _gc_next first, two words");

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "cpython311.c reads CPython 3.11's frames and collector lists: CMake picks the file for this Python"
#endif

int mt__frame_locals(PyObject *frame, mt__local_fn fn, void *arg) {
    _PyInterpreterFrame *f = ((PyFrameObject *)frame)->f_frame;
    if (!f) return 0;
    PyCodeObject *co = f->f_code;
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
        /* The caller must not let the collector run, nor free objects. */
        for (PyGC_Head *gc = _PyGCHead_NEXT(head); gc != head; gc = _PyGCHead_NEXT(gc))
            if (fn((PyObject *)(gc + 1), g, arg)) return -1;
    }
    return 0;
}

/* dict_traverse of 3.11, with the keys: a table of str keys visits only
 * its values (they may be split, kept beside the keys), any other table
 * each value and then its key. */
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

/* An instance's values array (3.11): allocated apart when the instance is
 * made, freed with it, or taken over by its __dict__ when one is made (the
 * pointer is then NULL, and the dict's size counts the values). Its size:
 * a prefix (insertion order, then the count, then the prefix's own size in
 * the byte before the array: capacity + 2 rounded up to a word) and a
 * value per slot of its capacity, which is the type's shared keys' usable
 * size at the moment the instance was made; each new instance takes one
 * from it until one is left (init_inline_values), so that size now is
 * the capacity of every instance made since, and never more than an older
 * one's: clamped to what the prefix allows, it is exact for all but the
 * class's first few instances, and within 7 slots for those. */
size_t mt__held_size(PyObject *o) {
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyDict_Type) {
        PyDictValues *v = ((PyDictObject *)o)->ma_values;
        return v ? ((const uint8_t *)v)[-1] : 0; /* the prefix its size leaves out */
    }
    if (!(t->tp_flags & Py_TPFLAGS_MANAGED_DICT)) return 0;
    PyDictValues *values = *_PyObject_ValuesPointer(o);
    PyDictKeysObject *keys = ((PyHeapTypeObject *)t)->ht_cached_keys;
    if (!values || !keys) return 0;
    return mt__values_bytes(((const uint8_t *)values)[-1], keys->dk_nentries + keys->dk_usable);
}

int mt__thread_stack(PyCodeObject **code, int *addr, int max) {
    PyThreadState *ts = _PyThreadState_GET();
    int d = 0;
    if (!ts || !ts->cframe) return 0;
    for (_PyInterpreterFrame *f = ts->cframe->current_frame; f && d < max; f = f->previous) {
        if (_PyFrame_IsIncomplete(f)) continue;
        code[d] = f->f_code;
        addr[d++] = _PyInterpreterFrame_LASTI(f) * (int)sizeof(_Py_CODEUNIT);
    }
    return d;
}

int mt__gc_disable(void) { return PyGC_Disable(); }
int mt__gc_enable(void) { return PyGC_Enable(); }

/* Instance attributes in 3.11 live in a values array beside the object
 * until something asks for __dict__; the names are the type's shared keys.
 * Read in place: asking for __dict__ would build the dict for good. */
PyObject *mt__attribute_name(PyObject *owner, PyObject *value) {
    PyTypeObject *t = Py_TYPE(owner);
    if (!(t->tp_flags & Py_TPFLAGS_MANAGED_DICT)) return NULL;
    PyDictValues *values = *_PyObject_ValuesPointer(owner);
    PyDictKeysObject *keys = ((PyHeapTypeObject *)t)->ht_cached_keys;
    if (!values || !keys || keys->dk_kind != DICT_KEYS_SPLIT) return NULL;
    Py_ssize_t n = keys->dk_nentries < 64 ? keys->dk_nentries : 64;
    for (Py_ssize_t i = 0; i < n; i++)
        if (values->values[i] == value) return DK_UNICODE_ENTRIES(keys)[i].me_key;
    return NULL;
}

PyObject *mt__hidden_dict(PyObject *o) { return NULL; }

PyObject *mt__instance_dict(PyObject *owner) {
    PyTypeObject *t = Py_TYPE(owner);
    if (t->tp_flags & Py_TPFLAGS_MANAGED_DICT) return *_PyObject_ManagedDictPointer(owner);
    if (t->tp_dictoffset > 0) return *(PyObject **)((char *)owner + t->tp_dictoffset);
    return NULL;
}

/* 3.11's tracemalloc reads the frame limit each time it records a stack
 * (traceback_get_frames), and walks the thread's frames, from
 * PyGILState_GetThisThreadState's current one, to count them: with the
 * limit 1 and no current frame, a record is a lookup and no more. Nothing
 * else reads either while no Python code runs. */
void mt__tracemalloc_quiet(mt__quiet *q) {
    PyThreadState *ts = PyThreadState_Get();
    q->active = 0;
    if (!mt__quiet_allowed(ts)) return;
    q->active = 1;
    q->limit = _Py_tracemalloc_config.max_nframe;
    q->frame = ts->cframe->current_frame;
    _Py_tracemalloc_config.max_nframe = 1;
    ts->cframe->current_frame = NULL;
}

void mt__tracemalloc_loud(mt__quiet *q) {
    if (!q->active) return;
    q->active = 0;
    _Py_tracemalloc_config.max_nframe = q->limit;
    PyThreadState_Get()->cframe->current_frame = q->frame;
}
