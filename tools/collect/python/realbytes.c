/* memtrace._memtrace.ObjectLedger: which Python objects the frames of one
 * dump_frames call (or one pipeline step) reference, by identity, so that
 * each object is charged once to a frame however many rows and columns
 * hold it, and what a frame shares with the frames written before it.
 *
 * One table of object addresses per ledger, each with the last frame that
 * was charged for it. An object is charged to frame F the first time F
 * references it; it is shared when an earlier frame was charged for it
 * too. Sizes are sys.getsizeof's (__sizeof__ plus the GC header), which is
 * what the object's allocation asked for. Past LEDGER_MAX distinct objects
 * the table keeps only the addresses whose hash is below a limit that
 * halves each time it fills again (as column_stats' distinct sets do), and
 * an object charged while a fraction r of the hash space is kept counts
 * size / r: each object is then charged at most once a frame and the sum
 * stays unbiased. The answer says when it was so estimated. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "cpython.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/valhash.h"
#include "colstats.h"
#include "realbytes.h"

#define LEDGER_MAX (1u << 18)  /* objects kept exactly; the table is twice that */

typedef struct {
    PyObject_HEAD
    uint64_t *key;      /* fmix64 of the address; 0 empty */
    uint32_t *frame;    /* last frame charged for it */
    size_t slots, count;
    uint64_t limit;     /* hashes above it are not kept */
    uint32_t current;   /* the frame being charged, from 1 */
    size_t max;         /* objects kept exactly (LEDGER_MAX unless max_objects) */
} LedgerObject;

static int ledger_rebuild(LedgerObject *L, size_t slots) {
    uint64_t *key = calloc(slots, sizeof *key);
    uint32_t *frame = calloc(slots, sizeof *frame);
    if (!key || !frame) {
        free(key);
        free(frame);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < L->slots; i++) {
        if (!L->key[i] || L->key[i] > L->limit) continue;
        size_t j = (size_t)(L->key[i] >> 7) & (slots - 1);
        while (key[j]) j = (j + 1) & (slots - 1);
        key[j] = L->key[i];
        frame[j] = L->frame[i];
        n++;
    }
    free(L->key);
    free(L->frame);
    L->key = key;
    L->frame = frame;
    L->slots = slots;
    L->count = n;
    return 0;
}

static double ledger_rate(const LedgerObject *L) {
    return L->limit == UINT64_MAX ? 1.0 : ((double)L->limit + 1.0) / 18446744073709551616.0;
}

static int Ledger_init(LedgerObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "max_objects", NULL };
    Py_ssize_t max = LEDGER_MAX;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|$n", kwlist, &max)) return -1;
    /* The table starts at 1024 slots and doubles up to twice max. */
    if (max < 512 || max > (1 << 26) || (max & (max - 1))) {
        PyErr_Format(PyExc_ValueError, "max_objects must be a power of two from 512 to 2^26, not %zd", max);
        return -1;
    }
    self->max = (size_t)max;
    free(self->key);
    free(self->frame);
    self->slots = 1024;
    self->count = 0;
    self->limit = UINT64_MAX;
    self->current = 0;
    self->key = calloc(self->slots, sizeof *self->key);
    self->frame = calloc(self->slots, sizeof *self->frame);
    if (!self->key || !self->frame) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void Ledger_dealloc(LedgerObject *self) {
    free(self->key);
    free(self->frame);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* sys.getsizeof(o): __sizeof__ plus the GC header (two words) of a
 * collected type. */
static int getsizeof(PyObject *o, uint64_t *out) {
    if (mt__object_sizeof(o, out)) return -1;
    *out += PyObject_IS_GC(o) ? 2 * (uint64_t)sizeof(uintptr_t) : 0;
    return 0;
}

/* 1 when frame `current` is to be charged for the object of hash h (and
 * *shared when an earlier frame was), 0 when not (charged already, or not
 * sampled); -1 out of memory. */
static int ledger_charge(LedgerObject *L, uint64_t h, int *shared) {
    if (h > L->limit) return 0;
    size_t mask = L->slots - 1, i = (size_t)(h >> 7) & mask;
    while (L->key[i]) {
        if (L->key[i] == h) {
            if (L->frame[i] == L->current) return 0;
            L->frame[i] = L->current;
            *shared = 1;
            return 1;
        }
        i = (i + 1) & mask;
    }
    L->key[i] = h;
    L->frame[i] = L->current;
    *shared = 0;
    if (++L->count * 2 <= L->slots) return 1;
    if (L->slots < 2 * L->max) return ledger_rebuild(L, L->slots * 2) ? -1 : 1;
    while (L->count * 2 > L->slots / 2 + L->slots / 4) {
        L->limit >>= 1;
        if (ledger_rebuild(L, L->slots)) return -1;
    }
    return 1;
}

static PyObject *Ledger_next_frame(LedgerObject *self, PyObject *unused) {
    (void)unused;
    self->current++;
    Py_RETURN_NONE;
}

static PyObject *Ledger_objects(LedgerObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "data", "skip", NULL };
    PyObject *data, *skip = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$O", kwlist, &data, &skip)) return NULL;
    if (skip != Py_None && !PyTuple_Check(skip)) return PyErr_Format(PyExc_TypeError, "skip must be a tuple");
    if (!self->current) return PyErr_Format(PyExc_ValueError, "call next_frame() before objects()");
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_RECORDS_RO) < 0) return NULL;
    PyObject *result = NULL;
    const char *fmt = view.format ? view.format : "B";
    while (*fmt == '<' || *fmt == '>' || *fmt == '=' || *fmt == '@' || *fmt == '!') fmt++;
    if (view.ndim != 1 || strcmp(fmt, "O")) {
        PyErr_Format(PyExc_ValueError, "data must be a one-dimensional buffer of objects, not %d-dimensional '%s'",
                     view.ndim, fmt);
        goto out;
    }
    double bytes = 0, shared = 0;
    int estimated = 0;
    Py_ssize_t n = view.shape[0], stride = view.strides ? view.strides[0] : view.itemsize;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o;
        memcpy(&o, (const char *)view.buf + i * stride, sizeof o);
        /* None, booleans and the null singletons are not the frame's. */
        if (!o || o == Py_None || o == Py_True || o == Py_False) continue;
        if (skip != Py_None) {
            int found = 0;
            for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(skip) && !found; k++) found = o == PyTuple_GET_ITEM(skip, k);
            if (found) continue;
        }
        int sh = 0;
        int rc = ledger_charge(self, mt_fmix64((uint64_t)(uintptr_t)o), &sh);
        if (rc < 0) {
            PyErr_NoMemory();
            goto out;
        }
        if (!rc) continue;
        uint64_t size;
        double rate = ledger_rate(self);
        /* Its __sizeof__ may run Python code that frees it meanwhile. */
        Py_INCREF(o);
        int err = getsizeof(o, &size);
        Py_DECREF(o);
        if (err) goto out;
        if (rate < 1.0) estimated = 1;
        bytes += (double)size / rate;
        if (sh) shared += (double)size / rate;
    }
    result = Py_BuildValue("(KKN)", (unsigned long long)(bytes + 0.5), (unsigned long long)(shared + 0.5),
                           PyBool_FromLong(estimated));
out:
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef Ledger_methods[] = {
    { "next_frame", (PyCFunction)Ledger_next_frame, METH_NOARGS,
      "next_frame($self, /)\n--\n\nStarts charging the next frame." },
    { "objects", (PyCFunction)(void (*)(void))Ledger_objects, METH_VARARGS | METH_KEYWORDS,
      "objects($self, /, data, *, skip=None)\n--\n\n"
      "Charges the current frame for the objects of data (a one-dimensional buffer of\n"
      "objects, not copied) it has not been charged for yet; None, True, False and the\n"
      "objects in skip are not charged. Returns (bytes, shared, estimated): their\n"
      "sys.getsizeof sum, the part an earlier frame was charged for too, and whether\n"
      "the ledger samples (past max_objects distinct objects)." },
    { NULL, NULL, 0, NULL },
};

PyTypeObject memtrace_ObjectLedgerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "memtrace._memtrace.ObjectLedger",
    .tp_basicsize = sizeof(LedgerObject),
    .tp_dealloc = (destructor)Ledger_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "ObjectLedger(*, max_objects=262144)\n--\n\n"
              "The distinct objects charged to the frames of one snapshot, by identity (df_frames and\n"
              "df_columns real_bytes and shared_bytes of memtrace-snap(5)). Past max_objects distinct\n"
              "objects (a power of two) it samples them by address hash, unbiased.",
    .tp_methods = Ledger_methods,
    .tp_init = (initproc)Ledger_init,
    .tp_new = PyType_GenericNew,
};
