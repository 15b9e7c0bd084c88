/* memtrace._memtrace: the C side of the memtrace Python package.
 *
 * Links the formats/ writer and nothing of libanalyze: it runs inside the
 * user's process and must stay small. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>
#include "memtrace/format.h"
#include "memtrace/torch.h"
#include "memtrace/u64map.h"
#include "celllog.h"
#include "heapdump.h"
#include "colstats.h"
#include "realbytes.h"
#include "sampling.h"
#include "tracing.h"

/* A reference whose ends were not both known when it was added. */
typedef struct pending {
    uint64_t src, dst;
    uint32_t flags;
    char *label;       /* owned; NULL for none */
    size_t label_len;
} pending;

typedef struct {
    PyObject_HEAD
    mt_writer *w;
    PyObject *path;
    PyObject *types;   /* dict: type name -> type id */
    PyObject *hold;    /* list: UTF-8 copies the next record borrows */
    mt_u64map ids;     /* object id -> dense index */
    pending *pend;
    size_t npend, cappend;
    pending *proots;   /* roots by id, resolved at close; kind in label */
    size_t nroots, caproots;
} WriterObject;

static PyObject *raise_mt(int rc, const mt_diag *d, PyObject *path) {
    char where[400];
    if (d && d->msg[0]) mt_diag_format(d, where, sizeof where);
    else snprintf(where, sizeof where, "%s", mt_strerror(rc));
    PyObject *exc = rc == MT_E_IO ? PyExc_OSError : rc == MT_E_NOMEM ? PyExc_MemoryError : PyExc_ValueError;
    /* path is the bytes of PyUnicode_FSConverter: named as the user wrote it. */
    if (path && PyBytes_Check(path)) PyErr_Format(exc, "%s: %s", PyBytes_AS_STRING(path), where);
    else if (path) PyErr_Format(exc, "%S: %s", path, where);
    else PyErr_SetString(exc, where);
    return NULL;
}

static int check_open(WriterObject *self) {
    if (!self->w) {
        PyErr_SetString(PyExc_ValueError, "the writer is closed");
        return -1;
    }
    return 0;
}

static void free_pending(pending *p, size_t n) {
    for (size_t i = 0; i < n; i++) free(p[i].label);
    free(p);
}

static void Writer_dealloc(WriterObject *self) {
    /* Dropped without close(): leave the file as a crash would. */
    mt_writer_abandon(self->w);
    mt_u64map_free(&self->ids);
    free_pending(self->pend, self->npend);
    free_pending(self->proots, self->nroots);
    Py_XDECREF(self->path);
    Py_XDECREF(self->types);
    Py_XDECREF(self->hold);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Writer_init(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "path", "block_bytes", "level", "append", NULL };
    PyObject *path;
    Py_ssize_t block_bytes = 0;
    int level = 0, append = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|$nip", kwlist, PyUnicode_FSConverter, &path, &block_bytes, &level,
                                     &append))
        return -1;
    if (block_bytes < 0) {
        Py_DECREF(path);
        PyErr_SetString(PyExc_ValueError, "block_bytes must not be negative");
        return -1;
    }
    /* publish_on_flush: flush() promises that what was added survives a
     * crash, so the first flush puts the file at path (a pipeline recorded
     * step by step); until then path keeps what it held. */
    mt_writer_opts o = { .block_bytes = (size_t)block_bytes, .level = level, .background = 0, .publish_on_flush = 1 };
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    /* append: in place, under a lock (a cell log that each kernel session
     * extends); a file another writer holds is BlockingIOError. */
    int rc = append ? mt_writer_append(PyBytes_AS_STRING(path), &o, &self->w, &d)
                    : mt_writer_open(PyBytes_AS_STRING(path), &o, &self->w, &d);
    if (rc == MT_E_BUSY) {
        PyErr_Format(PyExc_BlockingIOError, "%s: %s", PyBytes_AS_STRING(path), d.msg);
        Py_DECREF(path);
        return -1;
    }
    if (rc) {
        raise_mt(rc, &d, path);
        Py_DECREF(path);
        return -1;
    }
    self->path = path;
    self->types = PyDict_New();
    self->hold = PyList_New(0);
    return self->types && self->hold ? 0 : -1;
}

/* Converts str to an mt_str borrowing its UTF-8; None gives an empty one.
 * A non-ASCII str is encoded (lone surrogates as backslash escapes, which
 * UTF-8 cannot hold) into a temporary bytes object kept in
 * self->hold until add() writes the record: PyUnicode_AsUTF8 would cache
 * the UTF-8 in the str itself and so change the __sizeof__ of the user's
 * strings, which memory_usage(deep=True) counts. */
static int as_str(WriterObject *self, PyObject *o, mt_str *out, const char *what) {
    if (o == Py_None || !o) {
        *out = mt_str_c(NULL);
        return 0;
    }
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str or None, not %.100s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    if (PyUnicode_IS_ASCII(o)) {
        out->ptr = (const char *)PyUnicode_DATA(o);
        out->len = (size_t)PyUnicode_GET_LENGTH(o);
        return 0;
    }
    /* A lone surrogate has no UTF-8: written as a backslash escape. */
    PyObject *b = PyUnicode_AsEncodedString(o, "utf-8", "backslashreplace");
    if (!b) return -1;
    int rc = PyList_Append(self->hold, b);
    Py_DECREF(b);
    if (rc) return -1;
    out->ptr = PyBytes_AS_STRING(b);
    out->len = (size_t)PyBytes_GET_SIZE(b);
    return 0;
}

/* An unsigned integer argument: filled in with its name and bound before
 * parsing, converted by conv_uint ("O&") with no silent wrap: a negative
 * value is a ValueError, one past the bound an OverflowError, both naming
 * the argument and the range. */
typedef struct uarg {
    const char *name;
    uint64_t max;
    uint64_t v;
} uarg;

#define U64(nm, dflt) { nm, UINT64_MAX, dflt }
#define U32(nm, dflt) { nm, UINT32_MAX, dflt }

static int conv_uint(PyObject *o, void *p) {
    uarg *a = p;
    PyObject *n = PyNumber_Index(o);
    if (!n) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", a->name, Py_TYPE(o)->tp_name);
        }
        return 0;
    }
    int neg = _PyLong_Sign(n) < 0;
    unsigned long long v = neg ? 0 : PyLong_AsUnsignedLongLong(n);
    int bad = neg || (v == (unsigned long long)-1 && PyErr_Occurred()) || v > a->max;
    if (bad) {
        PyErr_Clear();
        PyErr_Format(neg ? PyExc_ValueError : PyExc_OverflowError, "%s must be in 0..%llu, not %S", a->name,
                     (unsigned long long)a->max, n);
    }
    Py_DECREF(n);
    if (bad) return 0;
    a->v = v;
    return 1;
}

static PyObject *add(WriterObject *self, mt_kind kind, const void *rec) {
    int rc = mt_writer_add(self->w, kind, rec);
    if (PyList_GET_SIZE(self->hold) && PyList_SetSlice(self->hold, 0, PY_SSIZE_T_MAX, NULL)) return NULL;
    if (rc) return raise_mt(rc, NULL, self->path);
    Py_RETURN_NONE;
}

/* Converts None, bool, int, float, str or bytes to an mt_value that
 * borrows o's data. */
static int as_value(WriterObject *self, PyObject *value, mt_value *out, const char *what) {
    memset(out, 0, sizeof *out);
    if (value == Py_None) out->type = MT_VAL_NIL;
    else if (PyBool_Check(value)) {
        out->type = MT_VAL_BOOL;
        out->v.b = value == Py_True;
    } else if (PyLong_Check(value)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow > 0) {
            out->type = MT_VAL_UINT;
            out->v.u = PyLong_AsUnsignedLongLong(value);
            if (PyErr_Occurred()) overflow = -1;
        }
        if (overflow < 0) {
            PyErr_Clear();
            PyErr_Format(PyExc_OverflowError, "%s must be in -9223372036854775808..18446744073709551615, not %S",
                         what, value);
            return -1;
        } else if (v < 0) {
            out->type = MT_VAL_INT;
            out->v.i = v;
        } else {
            out->type = MT_VAL_UINT;
            out->v.u = (uint64_t)v;
        }
    } else if (PyFloat_Check(value)) {
        out->type = MT_VAL_FLOAT;
        out->v.f = PyFloat_AS_DOUBLE(value);
    } else if (PyUnicode_Check(value)) {
        out->type = MT_VAL_STR;
        if (as_str(self, value, &out->v.s, what)) return -1;
    } else if (PyBytes_Check(value)) {
        out->type = MT_VAL_BIN;
        out->v.s.ptr = PyBytes_AS_STRING(value);
        out->v.s.len = (size_t)PyBytes_GET_SIZE(value);
    } else {
        PyErr_Format(PyExc_TypeError, "%s must be None, bool, int, float, str or bytes, not %.100s", what,
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    return 0;
}

/* as_str for an argument the writer needs NUL-terminated: refused with
 * ValueError if it holds a NUL. */
static int c_string(WriterObject *self, PyObject *o, mt_str *out, const char *what) {
    if (as_str(self, o, out, what)) return -1;
    if (memchr(out->ptr ? out->ptr : "", 0, out->len)) {
        PyErr_Format(PyExc_ValueError, "%s must not contain a NUL character", what);
        return -1;
    }
    if (!out->ptr) *out = mt_str_c("");
    return 0;
}

static PyObject *Writer_add_meta(WriterObject *self, PyObject *args) {
    PyObject *key, *value;
    if (!PyArg_ParseTuple(args, "UO", &key, &value) || check_open(self)) return NULL;
    mt_meta m;
    if (as_str(self, key, &m.key, "key") || as_value(self, value, &m.value, "a meta value")) return NULL;
    return add(self, MT_KIND_META, &m);
}

static PyObject *Writer_add_process_meta(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "tool", "label", "start_time", "traced", NULL };
    PyObject *tool, *label = Py_None, *traced = Py_None;
    uarg start = U64("start_time", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|$OO&O", kwlist, &tool, &label, conv_uint, &start, &traced) ||
        check_open(self))
        return NULL;
    if (label != Py_None && !PyUnicode_Check(label))
        return PyErr_Format(PyExc_TypeError, "label must be a str or None, not %.100s", Py_TYPE(label)->tp_name);
    mt_str t;
    if (c_string(self, tool, &t, "tool")) return NULL;
    mt__process_meta(self->w, t.ptr, label, start.v, mt__rss_bytes(), traced);
    if (PyList_GET_SIZE(self->hold) && PyList_SetSlice(self->hold, 0, PY_SSIZE_T_MAX, NULL)) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Writer_add_sample(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "series", "value", "time_ns", "step", NULL };
    PyObject *series, *step = Py_None;
    double value;
    uarg time_ns = U64("time_ns", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Ud|$O&O", kwlist, &series, &value, conv_uint, &time_ns, &step) ||
        check_open(self))
        return NULL;
    mt_sample sm = { .time_ns = time_ns.v, .value = value };
    if (as_str(self, series, &sm.series, "series") || as_str(self, step, &sm.step, "step")) return NULL;
    return add(self, MT_KIND_SAMPLE, &sm);
}

static PyObject *Writer_count(WriterObject *self, PyObject *args) {
    const char *name;
    mt_kind kind;
    if (!PyArg_ParseTuple(args, "s", &name) || check_open(self)) return NULL;
    if (mt_kind_from_name(name, &kind)) return PyErr_Format(PyExc_ValueError, "%s: not a record kind", name);
    return PyLong_FromUnsignedLongLong(mt_writer_count(self->w, kind));
}

static PyObject *Writer_add_event(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "kind", "name", "value", "detail", "time_ns", NULL };
    PyObject *kind, *name = Py_None, *detail = Py_None;
    double value = 0.0;
    uarg time_ns = U64("time_ns", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|OdO$O&", kwlist, &kind, &name, &value, &detail, conv_uint,
                                     &time_ns) ||
        check_open(self))
        return NULL;
    mt_event e = { .time_ns = time_ns.v, .value = value };
    if (as_str(self, kind, &e.kind, "kind") || as_str(self, name, &e.name, "name") ||
        as_str(self, detail, &e.detail, "detail"))
        return NULL;
    return add(self, MT_KIND_EVENT, &e);
}

/* GPU allocator state (SPEC.md 4.5): the records a PyTorch snapshot
 * becomes, for memtrace.import_torch_snapshot and for tests. */
static PyObject *Writer_add_gpu_device(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "id", "name", "total_bytes", "reserved_bytes", "allocated_bytes", NULL };
    PyObject *name;
    uarg id = U32("id", 0), tot = U64("total_bytes", 0), res = U64("reserved_bytes", 0), al = U64("allocated_bytes", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&U|$O&O&O&", kwlist, conv_uint, &id, &name, conv_uint, &tot,
                                     conv_uint, &res, conv_uint, &al) ||
        check_open(self))
        return NULL;
    mt_gpu_device d = { .id = (uint32_t)id.v, .total_bytes = tot.v, .reserved_bytes = res.v, .allocated_bytes = al.v };
    if (as_str(self, name, &d.name, "name")) return NULL;
    return add(self, MT_KIND_GPU_DEVICE, &d);
}

static PyObject *Writer_add_gpu_segment(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "device", "address", "size", "stream", "pool", "allocated_bytes", "requested_bytes",
                              "active_bytes", "flags", "stack", NULL };
    PyObject *pool = Py_None;
    uarg dev = U32("device", 0), addr = U64("address", 0), size = U64("size", 0), st = U64("stream", 0),
         al = U64("allocated_bytes", 0), rq = U64("requested_bytes", 0), ac = U64("active_bytes", 0),
         fl = U32("flags", 0), stack = U32("stack", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&O&|$O&OO&O&O&O&O&", kwlist, conv_uint, &dev, conv_uint, &addr,
                                     conv_uint, &size, conv_uint, &st, &pool, conv_uint, &al, conv_uint, &rq,
                                     conv_uint, &ac, conv_uint, &fl, conv_uint, &stack) ||
        check_open(self))
        return NULL;
    mt_gpu_segment g = { .device = (uint32_t)dev.v, .address = addr.v, .size = size.v, .stream = st.v,
                         .allocated_bytes = al.v, .requested_bytes = rq.v, .active_bytes = ac.v,
                         .flags = (uint32_t)fl.v, .stack = (uint32_t)stack.v };
    if (as_str(self, pool, &g.pool, "pool")) return NULL;
    return add(self, MT_KIND_GPU_SEGMENT, &g);
}

static PyObject *Writer_add_gpu_block(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "device", "address", "size", "requested", "state", "stack", NULL };
    PyObject *state = Py_None;
    uarg dev = U32("device", 0), addr = U64("address", 0), size = U64("size", 0), rq = U64("requested", 0),
         stack = U32("stack", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&O&|$O&OO&", kwlist, conv_uint, &dev, conv_uint, &addr, conv_uint,
                                     &size, conv_uint, &rq, &state, conv_uint, &stack) ||
        check_open(self))
        return NULL;
    mt_gpu_block b = { .device = (uint32_t)dev.v, .address = addr.v, .size = size.v, .requested = rq.v,
                       .stack = (uint32_t)stack.v };
    if (as_str(self, state, &b.state, "state")) return NULL;
    return add(self, MT_KIND_GPU_BLOCK, &b);
}

static PyObject *Writer_add_gpu_event(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "device", "action", "address", "size", "time_ns", "stream", "stack", "device_free",
                              NULL };
    PyObject *action;
    uarg dev = U32("device", 0), addr = U64("address", 0), size = U64("size", 0), t = U64("time_ns", 0),
         st = U64("stream", 0), stack = U32("stack", 0), free_ = U64("device_free", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&U|O&O&$O&O&O&O&", kwlist, conv_uint, &dev, &action, conv_uint,
                                     &addr, conv_uint, &size, conv_uint, &t, conv_uint, &st, conv_uint, &stack,
                                     conv_uint, &free_) ||
        check_open(self))
        return NULL;
    mt_gpu_event e = { .device = (uint32_t)dev.v, .time_ns = t.v, .address = addr.v, .size = size.v,
                       .stream = st.v, .stack = (uint32_t)stack.v, .device_free = free_.v };
    if (as_str(self, action, &e.action, "action")) return NULL;
    return add(self, MT_KIND_GPU_EVENT, &e);
}

static PyObject *Writer_add_nb_cell(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "id", "exec_count", "source", "start_ns", "end_ns", "rss_before", "rss_after",
                              "session", "status", "error", "source_hash", "rss_peak", "flags", "traced_before",
                              "traced_after", "traced_peak", "overhead_ns", NULL };
    PyObject *source = Py_None, *status = Py_None, *error = Py_None, *hash = Py_None;
    uarg id = U32("id", 0), ec = U32("exec_count", 0), st = U64("start_ns", 0), en = U64("end_ns", 0),
         rb = U64("rss_before", 0), ra = U64("rss_after", 0), se = U32("session", 0), rp = U64("rss_peak", 0),
         fl = U32("flags", 0), tb = U64("traced_before", 0), ta = U64("traced_after", 0),
         tp = U64("traced_peak", 0), ov = U64("overhead_ns", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|$O&OO&O&O&O&O&OOOO&O&O&O&O&O&", kwlist, conv_uint, &id, conv_uint,
                                     &ec, &source, conv_uint, &st, conv_uint, &en, conv_uint, &rb, conv_uint, &ra,
                                     conv_uint, &se, &status, &error, &hash, conv_uint, &rp, conv_uint, &fl,
                                     conv_uint, &tb, conv_uint, &ta, conv_uint, &tp, conv_uint, &ov) ||
        check_open(self))
        return NULL;
    mt_nb_cell c = { .id = (uint32_t)id.v, .exec_count = (uint32_t)ec.v, .start_ns = st.v, .end_ns = en.v,
                     .rss_before = rb.v, .rss_after = ra.v, .session = (uint32_t)se.v, .rss_peak = rp.v,
                     .flags = (uint32_t)fl.v, .traced_before = tb.v, .traced_after = ta.v, .traced_peak = tp.v,
                     .overhead_ns = ov.v };
    if (as_str(self, source, &c.source, "source") || as_str(self, status, &c.status, "status") ||
        as_str(self, error, &c.error, "error") || as_str(self, hash, &c.source_hash, "source_hash"))
        return NULL;
    return add(self, MT_KIND_NB_CELL, &c);
}

static PyObject *Writer_add_df_frame(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "id", "name", "rows", "columns", "index_kind", "index_bytes", "shallow_bytes",
                              "deep_bytes", "step", "index_shallow_bytes", "index_levels_bytes",
                              "index_codes_bytes", "index_nlevels", "columns_kind", "columns_levels_bytes",
                              "columns_codes_bytes", "columns_nlevels", "time_ns", "flags", "real_bytes",
                              "shared_bytes", NULL };
    mt_df_frame f;
    memset(&f, 0, sizeof f);
    PyObject *name, *index_kind = Py_None, *step = Py_None, *columns_kind = Py_None;
    uarg id = U32("id", 0), rows = U64("rows", 0), cols = U32("columns", 0), ib = U64("index_bytes", 0),
         sb = U64("shallow_bytes", 0), db = U64("deep_bytes", 0), isb = U64("index_shallow_bytes", 0),
         ilb = U64("index_levels_bytes", 0), icb = U64("index_codes_bytes", 0), inl = U32("index_nlevels", 0),
         clb = U64("columns_levels_bytes", 0), ccb = U64("columns_codes_bytes", 0), cnl = U32("columns_nlevels", 0),
         t = U64("time_ns", 0), fl = U32("flags", 0), rb = U64("real_bytes", 0), shb = U64("shared_bytes", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&UO&O&|$OO&O&O&OO&O&O&O&OO&O&O&O&O&O&O&", kwlist, conv_uint, &id, &name,
                                     conv_uint, &rows, conv_uint, &cols, &index_kind, conv_uint, &ib, conv_uint, &sb,
                                     conv_uint, &db, &step, conv_uint, &isb, conv_uint, &ilb, conv_uint, &icb,
                                     conv_uint, &inl, &columns_kind, conv_uint, &clb, conv_uint, &ccb, conv_uint, &cnl,
                                     conv_uint, &t, conv_uint, &fl, conv_uint, &rb, conv_uint, &shb) ||
        check_open(self))
        return NULL;
    if (!id.v) return PyErr_Format(PyExc_ValueError, "frame ids start at 1");
    f.flags = (uint32_t)fl.v;
    f.real_bytes = rb.v;
    f.shared_bytes = shb.v;
    f.id = (uint32_t)id.v;
    f.rows = rows.v;
    f.columns = (uint32_t)cols.v;
    f.index_bytes = ib.v;
    f.shallow_bytes = sb.v;
    f.deep_bytes = db.v;
    f.index_shallow_bytes = isb.v;
    f.index_levels_bytes = ilb.v;
    f.index_codes_bytes = icb.v;
    f.index_nlevels = (uint32_t)inl.v;
    f.columns_levels_bytes = clb.v;
    f.columns_codes_bytes = ccb.v;
    f.columns_nlevels = (uint32_t)cnl.v;
    f.time_ns = t.v;
    if (as_str(self, name, &f.name, "name") || as_str(self, index_kind, &f.index_kind, "index_kind") ||
        as_str(self, step, &f.step, "step") || as_str(self, columns_kind, &f.columns_kind, "columns_kind"))
        return NULL;
    return add(self, MT_KIND_DF_FRAME, &f);
}

static PyObject *Writer_add_df_column(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "frame", "position", "name", "dtype", "shallow_bytes", "deep_bytes",
                              "distinct_bytes", "null_count", "distinct_count", "min", "max", "flags",
                              "f32_max_rel_error", "text_count", "len_min", "len_max", "len_total", "categories",
                              "categories_bytes", "code_bytes", "fill_value", "density", "dense_bytes", "value_type",
                              "real_bytes", "datetime_format", NULL };
    mt_df_column c;
    memset(&c, 0, sizeof c);
    PyObject *name, *dtype, *mn = Py_None, *mx = Py_None, *fill = Py_None, *vtype = NULL, *dtfmt = NULL;
    uarg fr = U32("frame", 0), pos = U32("position", 0), sb = U64("shallow_bytes", 0), db = U64("deep_bytes", 0),
         dsb = U64("distinct_bytes", 0), nc = U64("null_count", 0), dc = U64("distinct_count", 0),
         fl = U32("flags", 0), tc = U64("text_count", 0), lmin = U64("len_min", 0), lmax = U64("len_max", 0),
         ltot = U64("len_total", 0), cats = U64("categories", 0), cb = U64("categories_bytes", 0),
         cdb = U32("code_bytes", 0), dense = U64("dense_bytes", 0), rb = U64("real_bytes", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&UUO&O&|$O&O&O&OOO&dO&O&O&O&O&O&O&OdO&UO&U", kwlist, conv_uint, &fr,
                                     conv_uint, &pos, &name, &dtype, conv_uint, &sb, conv_uint, &db, conv_uint, &dsb,
                                     conv_uint, &nc, conv_uint, &dc, &mn, &mx, conv_uint, &fl, &c.f32_max_rel_error,
                                     conv_uint, &tc, conv_uint, &lmin, conv_uint, &lmax, conv_uint, &ltot, conv_uint,
                                     &cats, conv_uint, &cb, conv_uint, &cdb, &fill, &c.density, conv_uint, &dense,
                                     &vtype, conv_uint, &rb, &dtfmt) ||
        check_open(self))
        return NULL;
    c.frame = (uint32_t)fr.v;
    c.position = (uint32_t)pos.v;
    c.shallow_bytes = sb.v;
    c.deep_bytes = db.v;
    c.distinct_bytes = dsb.v;
    c.null_count = nc.v;
    c.distinct_count = dc.v;
    c.flags = (uint32_t)fl.v;
    c.text_count = tc.v;
    c.len_min = lmin.v;
    c.len_max = lmax.v;
    c.len_total = ltot.v;
    c.categories = cats.v;
    c.categories_bytes = cb.v;
    c.code_bytes = (uint32_t)cdb.v;
    c.dense_bytes = dense.v;
    c.real_bytes = rb.v;
    if (as_str(self, name, &c.name, "name") || as_str(self, dtype, &c.dtype, "dtype") ||
        as_value(self, mn, &c.min, "min") || as_value(self, mx, &c.max, "max") ||
        as_value(self, fill, &c.fill_value, "fill_value") ||
        (vtype && as_str(self, vtype, &c.value_type, "value_type")) ||
        (dtfmt && as_str(self, dtfmt, &c.datetime_format, "datetime_format")))
        return NULL;
    return add(self, MT_KIND_DF_COLUMN, &c);
}

static PyObject *Writer_add_df_value(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "frame", "position", "value", "count", NULL };
    mt_df_value v;
    PyObject *value;
    uarg fr = U32("frame", 0), pos = U32("position", 0), count = U64("count", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&OO&", kwlist, conv_uint, &fr, conv_uint, &pos, &value, conv_uint,
                                     &count) ||
        check_open(self) || as_value(self, value, &v.value, "value"))
        return NULL;
    v.frame = (uint32_t)fr.v;
    v.position = (uint32_t)pos.v;
    v.count = count.v;
    return add(self, MT_KIND_DF_VALUE, &v);
}

static PyObject *Writer_add_df_sketch(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "frame", "position", "kind", "data", NULL };
    mt_df_sketch k;
    PyObject *kind;
    Py_buffer data;
    uarg fr = U32("frame", 0), pos = U32("position", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&Uy*", kwlist, conv_uint, &fr, conv_uint, &pos, &kind, &data))
        return NULL;
    k.frame = (uint32_t)fr.v;
    k.position = (uint32_t)pos.v;
    PyObject *r = NULL;
    if (!check_open(self) && !as_str(self, kind, &k.kind, "kind")) {
        k.data.ptr = data.buf;
        k.data.len = (size_t)data.len;
        r = add(self, MT_KIND_DF_SKETCH, &k);
    }
    PyBuffer_Release(&data);
    return r;
}

static int type_id(WriterObject *self, PyObject *name, uint32_t *id) {
    PyObject *have = PyDict_GetItemWithError(self->types, name);
    if (have) {
        *id = (uint32_t)PyLong_AsUnsignedLong(have);
        return 0;
    }
    if (PyErr_Occurred()) return -1;
    mt_type t;
    t.id = (uint32_t)PyDict_GET_SIZE(self->types) + 1;
    if (as_str(self, name, &t.name, "type")) return -1;
    PyObject *v = PyLong_FromUnsignedLong(t.id);
    if (!v || PyDict_SetItem(self->types, name, v)) {
        Py_XDECREF(v);
        return -1;
    }
    Py_DECREF(v);
    int rc = mt_writer_add(self->w, MT_KIND_TYPE, &t);
    if (rc) {
        raise_mt(rc, NULL, self->path);
        return -1;
    }
    *id = t.id;
    return 0;
}

static PyObject *Writer_add_object(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "id", "type", "size", "flags", "gen", "stack", NULL };
    uarg ida = U64("id", 0), size = U64("size", 0), flags = U32("flags", 0), gen = U32("gen", 0),
         stack = U32("stack", 0);
    PyObject *type;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&UO&|$O&O&O&", kwlist, conv_uint, &ida, &type, conv_uint, &size,
                                     conv_uint, &flags, conv_uint, &gen, conv_uint, &stack) ||
        check_open(self))
        return NULL;
    unsigned long long id = ida.v;
    uint32_t idx;
    if (mt_u64map_get(&self->ids, id, &idx))
        return PyErr_Format(PyExc_ValueError, "object id %llu was already added (as object %u)", id, idx);
    uint64_t n = mt_writer_count(self->w, MT_KIND_OBJECT);
    if (n >= 0x7fffffffu) return PyErr_Format(PyExc_OverflowError, "a snapshot holds at most 2^31-1 objects");
    mt_object o = { id, 0, size.v, (uint32_t)flags.v, (uint32_t)stack.v, (uint32_t)gen.v };
    if (type_id(self, type, &o.type)) return NULL;
    if (mt_u64map_put(&self->ids, id, (uint32_t)n)) return PyErr_NoMemory();
    return add(self, MT_KIND_OBJECT, &o);
}

static int keep_pending(pending **arr, size_t *n, size_t *cap, uint64_t src, uint64_t dst, uint32_t flags,
                        mt_str label) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        pending *np = realloc(*arr, nc * sizeof *np);
        if (!np) return -1;
        *arr = np;
        *cap = nc;
    }
    pending *p = &(*arr)[*n];
    p->src = src;
    p->dst = dst;
    p->flags = flags;
    p->label = NULL;
    p->label_len = label.len;
    if (label.len) {
        if (!(p->label = malloc(label.len))) return -1;
        memcpy(p->label, label.ptr, label.len);
    }
    (*n)++;
    return 0;
}

static PyObject *Writer_add_ref(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "src", "dst", "label", "weak", NULL };
    uarg srca = U64("src", 0), dsta = U64("dst", 0);
    PyObject *label = Py_None;
    int weak = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&|Op", kwlist, conv_uint, &srca, conv_uint, &dsta, &label, &weak) ||
        check_open(self))
        return NULL;
    unsigned long long src = srca.v, dst = dsta.v;
    mt_ref r;
    memset(&r, 0, sizeof r);
    if (as_str(self, label, &r.label, "label")) return NULL;
    r.flags = weak ? MT_REF_WEAK : 0;
    if (mt_u64map_get(&self->ids, src, &r.src) && mt_u64map_get(&self->ids, dst, &r.dst))
        return add(self, MT_KIND_REF, &r);
    /* An end not added yet: resolved at close(). */
    if (keep_pending(&self->pend, &self->npend, &self->cappend, src, dst, r.flags, r.label)) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *Writer_add_root(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "id", "kind", "name", NULL };
    uarg ida = U64("id", 0);
    PyObject *kindo = NULL, *name = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|UO", kwlist, conv_uint, &ida, &kindo, &name) || check_open(self))
        return NULL;
    unsigned long long id = ida.v;
    mt_root r;
    if (kindo) {
        if (c_string(self, kindo, &r.kind, "kind")) return NULL;
    } else
        r.kind = mt_str_c("other");
    const char *kind = r.kind.ptr; /* NUL-terminated: a bytes object's or a literal */
    if (as_str(self, name, &r.name, "name")) return NULL;
    if (mt_u64map_get(&self->ids, id, &r.obj)) return add(self, MT_KIND_ROOT, &r);
    /* Kept as kind "\0" name, so that one pending list serves roots too. */
    size_t kl = strlen(kind);
    char *both = malloc(kl + 1 + r.name.len);
    if (!both) return PyErr_NoMemory();
    memcpy(both, kind, kl + 1);
    memcpy(both + kl + 1, r.name.ptr, r.name.len);
    mt_str joined = { both, kl + 1 + r.name.len };
    int rc = keep_pending(&self->proots, &self->nroots, &self->caproots, id, 0, 0, joined);
    free(both);
    if (rc) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *Writer_add_frame(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "id", "file", "line", "function", NULL };
    uarg id = U32("id", 0), line = U32("line", 0);
    PyObject *file, *function = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&OO&|O", kwlist, conv_uint, &id, &file, conv_uint, &line, &function) ||
        check_open(self))
        return NULL;
    if (!id.v) return PyErr_Format(PyExc_ValueError, "frame ids start at 1");
    mt_frame f = { (uint32_t)id.v, { NULL, 0 }, { NULL, 0 }, (uint32_t)line.v };
    if (as_str(self, file, &f.file, "file") || as_str(self, function, &f.function, "function")) return NULL;
    return add(self, MT_KIND_FRAME, &f);
}

static PyObject *Writer_add_stack(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "id", "frame", "parent", NULL };
    uarg id = U32("id", 0), frame = U32("frame", 0), parent = U32("parent", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&|O&", kwlist, conv_uint, &id, conv_uint, &frame, conv_uint,
                                     &parent) ||
        check_open(self))
        return NULL;
    if (!id.v) return PyErr_Format(PyExc_ValueError, "stack ids start at 1");
    mt_stack st = { (uint32_t)id.v, (uint32_t)frame.v, (uint32_t)parent.v };
    return add(self, MT_KIND_STACK, &st);
}

static PyObject *Writer_add_alloc(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "size", "stack", "op", "count", "address", "time_ns", "thread", "domain", NULL };
    uarg size = U64("size", 0), stack = U32("stack", 0), opa = U32("op", MT_ALLOC_LIVE), count = U64("count", 0),
         address = U64("address", 0), time_ns = U64("time_ns", 0), thread = U32("thread", 0),
         domain = U32("domain", 0);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|O&$O&O&O&O&O&O&", kwlist, conv_uint, &size, conv_uint, &stack,
                                     conv_uint, &opa, conv_uint, &count, conv_uint, &address, conv_uint, &time_ns,
                                     conv_uint, &thread, conv_uint, &domain) ||
        check_open(self))
        return NULL;
    unsigned op = (unsigned)opa.v;
    if (op > MT_ALLOC_LIVE) return PyErr_Format(PyExc_ValueError, "op must be ALLOC (0), FREE (1) or LIVE (2), not %u", op);
    mt_alloc a = { time_ns.v, op, address.v, size.v, (uint32_t)stack.v, (uint32_t)thread.v, (uint32_t)domain.v,
                   count.v, 0, 0 };
    return add(self, MT_KIND_ALLOC, &a);
}

static PyObject *Writer_flush(WriterObject *self, PyObject *unused) {
    if (check_open(self)) return NULL;
    int rc = mt_writer_flush(self->w);
    if (rc) return raise_mt(rc, NULL, self->path);
    Py_RETURN_NONE;
}

static PyObject *Writer_close(WriterObject *self, PyObject *unused) {
    if (!self->w) Py_RETURN_NONE;
    /* Check every pending end first: on a missing object the writer stays
     * open, so the caller can add it and close again. */
    for (size_t i = 0; i < self->npend; i++) {
        uint32_t a, b;
        if (!mt_u64map_get(&self->ids, self->pend[i].src, &a) || !mt_u64map_get(&self->ids, self->pend[i].dst, &b)) {
            uint64_t missing = mt_u64map_get(&self->ids, self->pend[i].src, &a) ? self->pend[i].dst : self->pend[i].src;
            return PyErr_Format(PyExc_ValueError, "add_ref(%llu, %llu): object id %llu was never added",
                                (unsigned long long)self->pend[i].src, (unsigned long long)self->pend[i].dst,
                                (unsigned long long)missing);
        }
    }
    for (size_t i = 0; i < self->nroots; i++) {
        uint32_t a;
        if (!mt_u64map_get(&self->ids, self->proots[i].src, &a))
            return PyErr_Format(PyExc_ValueError, "add_root(%llu): object id %llu was never added",
                                (unsigned long long)self->proots[i].src, (unsigned long long)self->proots[i].src);
    }
    int rc = 0;
    for (size_t i = 0; i < self->npend && !rc; i++) {
        mt_ref r = { 0, 0, self->pend[i].flags, { self->pend[i].label, self->pend[i].label_len } };
        mt_u64map_get(&self->ids, self->pend[i].src, &r.src);
        mt_u64map_get(&self->ids, self->pend[i].dst, &r.dst);
        rc = mt_writer_add(self->w, MT_KIND_REF, &r);
    }
    for (size_t i = 0; i < self->nroots && !rc; i++) {
        const char *kind = self->proots[i].label;
        size_t kl = strlen(kind);
        mt_root r = { 0, mt_str_c(kind), { kind + kl + 1, self->proots[i].label_len - kl - 1 } };
        mt_u64map_get(&self->ids, self->proots[i].src, &r.obj);
        rc = mt_writer_add(self->w, MT_KIND_ROOT, &r);
    }
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    int crc = mt_writer_close(self->w, &d);
    self->w = NULL;
    if (rc || crc) return raise_mt(rc ? rc : crc, rc ? NULL : &d, self->path);
    Py_RETURN_NONE;
}

static PyObject *Writer_enter(WriterObject *self, PyObject *unused) {
    if (check_open(self)) return NULL;
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *Writer_exit(WriterObject *self, PyObject *args) {
    if (PyTuple_GET_SIZE(args) >= 1 && PyTuple_GET_ITEM(args, 0) != Py_None) {
        /* Left by an exception: the snapshot is unfinished. Given up as a
         * crash would leave it: path keeps what it held before (or what
         * the last flush() put there), no temporary file stays. */
        mt_writer_abandon(self->w);
        self->w = NULL;
        Py_RETURN_FALSE;
    }
    PyObject *r = Writer_close(self, NULL);
    if (!r) return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyObject *Writer_get_objects(WriterObject *self, void *unused) {
    return PyLong_FromUnsignedLongLong(self->w ? mt_writer_count(self->w, MT_KIND_OBJECT) : self->ids.count);
}

static PyObject *Writer_get_closed(WriterObject *self, void *unused) { return PyBool_FromLong(self->w == NULL); }

/* Each docstring opens with the signature in Argument Clinic's form
 * ("name($self, /, ...)\n--\n\n"), which Python turns into
 * __text_signature__ for inspect.signature() and help(); it must list
 * the kwlist and format of the PyArg_Parse call in the same order
 * (tests/python/test_docs.py compares them). */
static PyMethodDef Writer_methods[] = {
    { "add_meta", (PyCFunction)Writer_add_meta, METH_VARARGS,
      "add_meta($self, key, value, /)\n--\n\n"
      "One meta entry; value is None, bool, int, float, str or bytes." },
    { "add_object", (PyCFunction)(void (*)(void))Writer_add_object, METH_VARARGS | METH_KEYWORDS,
      "add_object($self, /, id, type, size, *, flags=0, gen=0, stack=0)\n--\n\n"
      "One object; ids must be unique." },
    { "add_ref", (PyCFunction)(void (*)(void))Writer_add_ref, METH_VARARGS | METH_KEYWORDS,
      "add_ref($self, /, src, dst, label=None, weak=False)\n--\n\n"
      "A reference from object id src to object id dst; its ends may be added later." },
    { "add_root", (PyCFunction)(void (*)(void))Writer_add_root, METH_VARARGS | METH_KEYWORDS,
      "add_root($self, /, id, kind='other', name=None)\n--\n\n"
      "Marks an object as held from outside the graph." },
    { "add_frame", (PyCFunction)(void (*)(void))Writer_add_frame, METH_VARARGS | METH_KEYWORDS,
      "add_frame($self, /, id, file, line, function=None)\n--\n\n"
      "A source location; ids start at 1." },
    { "add_stack", (PyCFunction)(void (*)(void))Writer_add_stack, METH_VARARGS | METH_KEYWORDS,
      "add_stack($self, /, id, frame, parent=0)\n--\n\n"
      "A call stack: its innermost frame and its caller's stack; ids start at 1." },
    { "add_alloc", (PyCFunction)(void (*)(void))Writer_add_alloc, METH_VARARGS | METH_KEYWORDS,
      "add_alloc($self, /, size, stack=0, *, op=2, count=0, address=0, time_ns=0, thread=0, domain=0)\n--\n\n"
      "An allocation event (op 0 an allocation, 1 a free), or with op 2 (LIVE) the live blocks\n"
      "of a stack: count of them (0 means 1), size bytes in all." },
    { "add_process_meta", (PyCFunction)(void (*)(void))Writer_add_process_meta, METH_VARARGS | METH_KEYWORDS,
      "add_process_meta($self, /, tool, *, label=None, start_time=0, traced=None)\n--\n\n"
      "The meta every collector writes (tool, tool_version, pid, host, start_time,\n"
      "python_version, rss now, label, and tracemalloc's figures when traced is\n"
      "get_traced_memory()'s (current, peak))." },
    { "add_sample", (PyCFunction)(void (*)(void))Writer_add_sample, METH_VARARGS | METH_KEYWORDS,
      "add_sample($self, /, series, value, *, time_ns=0, step=None)\n--\n\n"
      "One point of a time series." },
    { "add_df_frame", (PyCFunction)(void (*)(void))Writer_add_df_frame, METH_VARARGS | METH_KEYWORDS,
      "add_df_frame($self, /, id, name, rows, columns, *, index_kind=None, index_bytes=0, shallow_bytes=0, "
      "deep_bytes=0, step=None, index_shallow_bytes=0, index_levels_bytes=0, index_codes_bytes=0, "
      "index_nlevels=0, columns_kind=None, columns_levels_bytes=0, columns_codes_bytes=0, "
      "columns_nlevels=0, time_ns=0, flags=0, real_bytes=0, shared_bytes=0)\n--\n\n"
      "A DataFrame (memtrace-snap(5), df_frames); frame ids start at 1." },
    { "count", (PyCFunction)Writer_count, METH_VARARGS,
      "count($self, kind, /)\n--\n\n"
      "Records of kind ('nb_cells', 'meta', ...) in the file so far: with append=True, those\n"
      "it held before too (read from its block headers)." },
    { "add_event", (PyCFunction)(void (*)(void))Writer_add_event, METH_VARARGS | METH_KEYWORDS,
      "add_event($self, /, kind, name=None, value=0.0, detail=None, *, time_ns=0)\n--\n\n"
      "An event on the samples' clock (memtrace-snap(5), events): a step, a dump, a session." },
    { "add_gpu_device", (PyCFunction)(void (*)(void))Writer_add_gpu_device, METH_VARARGS | METH_KEYWORDS,
      "add_gpu_device($self, /, id, name, *, total_bytes=0, reserved_bytes=0, allocated_bytes=0)\n--\n\n"
      "A GPU (gpu_devices, SPEC.md 4.5)." },
    { "add_gpu_segment", (PyCFunction)(void (*)(void))Writer_add_gpu_segment, METH_VARARGS | METH_KEYWORDS,
      "add_gpu_segment($self, /, device, address, size, *, stream=0, pool=None, allocated_bytes=0, "
      "requested_bytes=0, active_bytes=0, flags=0, stack=0)\n--\n\n"
      "A caching allocator segment (gpu_segments; flags bit 0: expandable)." },
    { "add_gpu_block", (PyCFunction)(void (*)(void))Writer_add_gpu_block, METH_VARARGS | METH_KEYWORDS,
      "add_gpu_block($self, /, device, address, size, *, requested=0, state=None, stack=0)\n--\n\n"
      "A block of a segment (gpu_blocks)." },
    { "add_gpu_event", (PyCFunction)(void (*)(void))Writer_add_gpu_event, METH_VARARGS | METH_KEYWORDS,
      "add_gpu_event($self, /, device, action, address=0, size=0, *, time_ns=0, stream=0, stack=0, "
      "device_free=0)\n--\n\n"
      "A device trace entry (gpu_events; device_free for an oom)." },
    { "add_nb_cell", (PyCFunction)(void (*)(void))Writer_add_nb_cell, METH_VARARGS | METH_KEYWORDS,
      "add_nb_cell($self, /, id, *, exec_count=0, source=None, start_ns=0, end_ns=0, rss_before=0, "
      "rss_after=0, session=0, status=None, error=None, source_hash=None, rss_peak=0, flags=0, "
      "traced_before=0, traced_after=0, traced_peak=0, overhead_ns=0)\n--\n\n"
      "One notebook cell's run (memtrace-snap(5), nb_cells)." },
    { "add_df_column", (PyCFunction)(void (*)(void))Writer_add_df_column, METH_VARARGS | METH_KEYWORDS,
      "add_df_column($self, /, frame, position, name, dtype, shallow_bytes, deep_bytes, *, distinct_bytes=0, "
      "null_count=0, distinct_count=0, min=None, max=None, flags=0, f32_max_rel_error=0.0, "
      "text_count=0, len_min=0, len_max=0, len_total=0, categories=0, categories_bytes=0, "
      "code_bytes=0, fill_value=None, density=0.0, dense_bytes=0, value_type='', real_bytes=0, "
      "datetime_format='')\n--\n\n"
      "A column of a DataFrame (memtrace-snap(5), df_columns)." },
    { "add_df_value", (PyCFunction)(void (*)(void))Writer_add_df_value, METH_VARARGS | METH_KEYWORDS,
      "add_df_value($self, /, frame, position, value, count)\n--\n\n"
      "One of a key column's most common values." },
    { "add_df_sketch", (PyCFunction)(void (*)(void))Writer_add_df_sketch, METH_VARARGS | METH_KEYWORDS,
      "add_df_sketch($self, /, frame, position, kind, data)\n--\n\n"
      "A sketch of a column's values (kind 'kmv')." },
    { "flush", (PyCFunction)Writer_flush, METH_NOARGS,
      "flush($self, /)\n--\n\n"
      "Writes every unfinished block, so that what was added survives a crash;\n"
      "the first flush puts the file at path (until then path keeps what it held)." },
    { "close", (PyCFunction)Writer_close, METH_NOARGS,
      "close($self, /)\n--\n\n"
      "Resolves pending references, writes the index and closes the file.\n"
      "Raises ValueError (leaving the writer open) if a reference names an id never added." },
    { "__enter__", (PyCFunction)Writer_enter, METH_NOARGS, NULL },
    { "__exit__", (PyCFunction)Writer_exit, METH_VARARGS,
      "Closes the writer; left by an exception, gives the snapshot up instead: path keeps\n"
      "what it held before, or what the last flush() put there." },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef Writer_getset[] = {
    { "objects", (getter)Writer_get_objects, NULL, "objects added so far", NULL },
    { "closed", (getter)Writer_get_closed, NULL, "True once close() succeeded", NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject WriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "memtrace.Writer",
    .tp_doc = "Writer(path, *, block_bytes=0, level=0, append=False)\n--\n\n"
              "Writes a memtrace snapshot (.snap) record by record with bounded memory; with\n"
              "append=True extends the snapshot at path in place under a lock (BlockingIOError\n"
              "while another writer holds it).",
    .tp_basicsize = sizeof(WriterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Writer_init,
    .tp_dealloc = (destructor)Writer_dealloc,
    .tp_methods = Writer_methods,
    .tp_getset = Writer_getset,
};

static PyObject *module_rss(PyObject *self, PyObject *unused) {
    return PyLong_FromUnsignedLongLong(mt__rss_bytes());
}

/* import_torch(src, out, *, meta=None, tool=None): a PyTorch allocator
 * snapshot's pickle (bytes-like, or a path) to the snapshot out, through
 * formats/'s importer with the GIL released. meta: {key: value} written
 * as meta records after the importer's (memtrace.dump_cuda's memory_stats). */
static PyObject *module_import_torch(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "src", "out", "meta", "tool", NULL };
    PyObject *src, *outb = NULL, *meta = Py_None, *tool = Py_None, *items = NULL, *srcb = NULL, *ret = NULL;
    mt_meta *mm = NULL;
    Py_buffer buf = { 0 };
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO&|$OO", kwlist, &src, PyUnicode_FSConverter, &outb, &meta, &tool))
        return NULL;
    mt_torch_opts o = { 0 };
    if (tool != Py_None && !(o.tool = PyUnicode_AsUTF8(tool))) goto done;
    if (meta != Py_None) {
        if (!PyDict_Check(meta)) {
            PyErr_SetString(PyExc_TypeError, "meta must be a dict or None");
            goto done;
        }
        /* A list of (key, value) pairs holds every string the records
         * borrow while the GIL is released. */
        if (!(items = PyDict_Items(meta))) goto done;
        Py_ssize_t n = PyList_GET_SIZE(items);
        if (n && !(mm = PyMem_Calloc((size_t)n, sizeof *mm))) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *k = PyTuple_GET_ITEM(PyList_GET_ITEM(items, i), 0);
            PyObject *v = PyTuple_GET_ITEM(PyList_GET_ITEM(items, i), 1);
            Py_ssize_t len;
            const char *t;
            if (!PyUnicode_Check(k)) {
                PyErr_SetString(PyExc_TypeError, "meta keys must be str");
                goto done;
            }
            if (!(t = PyUnicode_AsUTF8AndSize(k, &len))) goto done;
            mm[i].key = (mt_str){ t, (size_t)len };
            if (v == Py_None) {
                mm[i].value.type = MT_VAL_NIL;
            } else if (PyBool_Check(v)) {
                mm[i].value.type = MT_VAL_BOOL;
                mm[i].value.v.b = v == Py_True;
            } else if (PyLong_Check(v)) {
                int over;
                long long x = PyLong_AsLongLongAndOverflow(v, &over);
                if (over > 0) {
                    unsigned long long u = PyLong_AsUnsignedLongLong(v);
                    if (u == (unsigned long long)-1 && PyErr_Occurred()) goto done;
                    mm[i].value.type = MT_VAL_UINT;
                    mm[i].value.v.u = u;
                } else if (over < 0 || (x == -1 && PyErr_Occurred())) {
                    if (!PyErr_Occurred()) PyErr_Format(PyExc_OverflowError, "meta %R: below -2^63", k);
                    goto done;
                } else {
                    mm[i].value.type = x < 0 ? MT_VAL_INT : MT_VAL_UINT;
                    mm[i].value.v.i = x;
                }
            } else if (PyFloat_Check(v)) {
                mm[i].value.type = MT_VAL_FLOAT;
                mm[i].value.v.f = PyFloat_AS_DOUBLE(v);
            } else if (PyUnicode_Check(v)) {
                if (!(t = PyUnicode_AsUTF8AndSize(v, &len))) goto done;
                mm[i].value.type = MT_VAL_STR;
                mm[i].value.v.s = (mt_str){ t, (size_t)len };
            } else {
                PyErr_Format(PyExc_TypeError, "meta %R: a value must be None, bool, int, float or str, not %.100s", k,
                             Py_TYPE(v)->tp_name);
                goto done;
            }
        }
        o.meta = mm;
        o.nmeta = (size_t)n;
    }
    mt_torch_counts c;
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    int rc;
    if (PyObject_CheckBuffer(src)) {
        if (PyObject_GetBuffer(src, &buf, PyBUF_SIMPLE) < 0) goto done;
        d.file = "<pickle>";
        Py_BEGIN_ALLOW_THREADS
        rc = mt_torch_import_mem(buf.buf, (size_t)buf.len, PyBytes_AS_STRING(outb), &o, &c, &d);
        Py_END_ALLOW_THREADS
    } else {
        if (!PyUnicode_FSConverter(src, &srcb)) goto done;
        Py_BEGIN_ALLOW_THREADS
        rc = mt_torch_import(PyBytes_AS_STRING(srcb), PyBytes_AS_STRING(outb), &o, &c, &d);
        Py_END_ALLOW_THREADS
    }
    if (rc) {
        PyObject *at = d.file ? PyUnicode_DecodeFSDefault(d.file) : NULL;
        raise_mt(rc, &d, at);
        Py_XDECREF(at);
        goto done;
    }
    ret = Py_BuildValue("{sKsKsKsKsKsKsO}", "segments", (unsigned long long)c.segments, "blocks",
                        (unsigned long long)c.blocks, "events", (unsigned long long)c.events, "devices",
                        (unsigned long long)c.devices, "frames", (unsigned long long)c.frames, "stacks",
                        (unsigned long long)c.stacks, "sequence_clock", c.sequence_clock ? Py_True : Py_False);
done:
    if (buf.obj) PyBuffer_Release(&buf);
    PyMem_Free(mm);
    Py_XDECREF(items);
    Py_XDECREF(srcb);
    Py_XDECREF(outb);
    return ret;
}

static PyMethodDef module_methods[] = {
    { "import_torch", (PyCFunction)(void (*)(void))module_import_torch, METH_VARARGS | METH_KEYWORDS,
      "import_torch($module, /, src, out, *, meta=None, tool=None)\n--\n\n"
      "Writes the snapshot out from a PyTorch CUDA allocator snapshot's pickle: src is\n"
      "its bytes or a path (formats/SPEC.md section 4.5; memtrace.import_torch_snapshot).\n"
      "meta: {key: value} meta records added after the importer's. Returns the counts\n"
      "{segments, blocks, events, devices, frames, stacks, sequence_clock}; ValueError\n"
      "naming the byte offset for a pickle it refuses, OSError for a file it cannot read\n"
      "or write." },
    { "rss", module_rss, METH_NOARGS,
      "rss($module, /)\n--\n\nThe process's resident set size in bytes; 0 when unknown." },
    { "dump_heap", (PyCFunction)(void (*)(void))memtrace_dump_heap, METH_VARARGS | METH_KEYWORDS,
      "dump_heap($module, /, path, *, label=None, tracebacks=True, collect=False)\n--\n\n"
      "Writes every object the garbage collector tracks, and every object they\n"
      "reference, with sizes, references, roots and (when tracemalloc traces)\n"
      "allocation tracebacks, to the snapshot path. Holds the GIL and runs no\n"
      "Python code (a Python __sizeof__ is not called: such objects get their\n"
      "C-level size); runs no collection unless collect=True; leaves the GC\n"
      "state as it found it.\n"
      "Returns a dict {path, objects, refs, roots, bytes, c_level_sizes, seconds}." },
    { "column_stats", (PyCFunction)(void (*)(void))memtrace_column_stats, METH_VARARGS | METH_KEYWORDS,
      "column_stats($module, /, data, kind, *, mask=None, code_hashes=None, nulls=None, sketch=1024, "
      "hashes=False, top=0)\n--\n\n"
      "One pass in C over a column's values (a buffer, not copied): counts, nulls, min, max,\n"
      "float32 exactness, distinct values (exact up to 2^16, estimated beyond) and a kmv sketch;\n"
      "for objects also their __sizeof__ total, distinct objects' bytes and string lengths;\n"
      "with top > 0, the top most common values and their exact counts." },
    { "gc_type_counts", memtrace_gc_type_counts, METH_NOARGS,
      "gc_type_counts($module, /)\n--\n\n"
      "{type: count} of the objects the garbage collector tracks, counted in C." },
    { "parse_alert", memtrace_parse_alert, METH_VARARGS,
      "parse_alert($module, text, /)\n--\n\n"
      "An alert expression (memtrace-sample(1), ALERTS) as a dict {expr, series, op, of,\n"
      "threshold, action, command}; ValueError naming the column at fault (its column\n"
      "attribute) for a bad one." },
    { "trace_start", (PyCFunction)(void (*)(void))memtrace_trace_start, METH_VARARGS | METH_KEYWORDS,
      "trace_start($module, /, path, *, sample_bytes=524288, all=False, seed=0, numpy=True, tool=None, "
      "command=None, python_version=None)\n--\n\n"
      "Starts tracing allocations into the trace file path (memtrace.trace); returns the\n"
      "domains hooked, \"0,3,4\" with NumPy's data allocator." },
    { "trace_stop", memtrace_trace_stop, METH_NOARGS,
      "trace_stop($module, /)\n--\n\nStops the trace and closes its file; returns its counts\n"
      "{allocs, frees, dropped, threads, frames, stacks}." },
    { "trace_running", memtrace_trace_running, METH_NOARGS,
      "trace_running($module, /)\n--\n\nTrue while a trace runs in this process." },
    { "trace_now", memtrace_trace_now, METH_NOARGS,
      "trace_now($module, /)\n--\n\nNanoseconds since the trace's start_time." },
    { "trace_event", (PyCFunction)(void (*)(void))memtrace_trace_event, METH_VARARGS | METH_KEYWORDS,
      "trace_event($module, /, kind, name=None, value=0.0, detail=None)\n--\n\n"
      "Adds an events record to the running trace; False when none runs." },
    { "trace_after_fork", memtrace_trace_after_fork, METH_NOARGS,
      "trace_after_fork($module, /)\n--\n\nIn a forked child: takes the tracer's hooks out." },
    { "stacks_start", (PyCFunction)(void (*)(void))memtrace_stacks_start, METH_VARARGS | METH_KEYWORDS,
      "stacks_start($module, /, nframes)\n--\n\n"
      "Records the stack (nframes innermost frames) of every allocation for heap dumps\n"
      "(memtrace.start_stacks): no file." },
    { "stacks_stop", memtrace_stacks_stop, METH_NOARGS,
      "stacks_stop($module, /)\n--\n\nStops recording allocation stacks; returns {dropped, frames, stacks}." },
    { "stacks_running", memtrace_stacks_running, METH_NOARGS,
      "stacks_running($module, /)\n--\n\nnframes while allocation stacks are recorded, else 0." },
    { NULL, NULL, 0, NULL },
};

#if PY_VERSION_HEX < 0x030A0000
/* PyModule_AddObjectRef (3.10): adds value under name without stealing
 * the caller's reference, on success as on failure, so that one error path
 * fits every call. The fallback for 3.8 and 3.9 behaves the same. */
static int PyModule_AddObjectRef(PyObject *mod, const char *name, PyObject *value) {
    if (!value) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_SystemError, "PyModule_AddObjectRef() with a NULL value");
        return -1;
    }
    Py_INCREF(value);
    if (PyModule_AddObject(mod, name, value) < 0) {
        Py_DECREF(value);
        return -1;
    }
    return 0;
}
#endif

/* Py_mod_exec: fills a module object the import system created. It may run
 * more than once in a process (a subinterpreter's import, a module created
 * afresh from its spec, importlib.reload), so it only adds attributes:
 * PyType_Ready is a no-op on a type already ready, and the module keeps no
 * state of its own. Writer is a static type shared by every such module;
 * PyModule_AddObjectRef takes a new reference for each, which the module
 * gives back when it is freed. On failure the import system frees the
 * module, and with it whatever was added, so nothing is released here. */
static int module_exec(PyObject *m) {
    if (PyType_Ready(&WriterType) < 0 || PyType_Ready(&memtrace_SamplerType) < 0 ||
        PyType_Ready(&memtrace_ObjectLedgerType) < 0)
        return -1;
    if (PyModule_AddObjectRef(m, "Writer", (PyObject *)&WriterType) < 0 ||
        PyModule_AddObjectRef(m, "Sampler", (PyObject *)&memtrace_SamplerType) < 0 ||
        PyModule_AddObjectRef(m, "ObjectLedger", (PyObject *)&memtrace_ObjectLedgerType) < 0 ||
        PyModule_AddStringConstant(m, "__version__", MT_VERSION_STRING) < 0 ||
        PyModule_AddIntConstant(m, "FORMAT_MAJOR", MT_FORMAT_MAJOR) < 0 ||
        PyModule_AddIntConstant(m, "FORMAT_MINOR", MT_FORMAT_MINOR) < 0)
        return -1;
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    { Py_mod_exec, module_exec },
    { 0, NULL },
};

/* Multi-phase initialization (PEP 489): m_size 0, no per-module state. */
static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "memtrace._memtrace", "The C side of the memtrace package.", 0, module_methods,
    module_slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__memtrace(void) { return PyModuleDef_Init(&module); }
