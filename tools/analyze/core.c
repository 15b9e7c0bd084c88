/* memtrace._analyze's core analyses: a loaded snapshot (open, info,
 * frames), diff and leaks. Each returns a dict with exactly the fields of
 * the tool's --format json output (memtrace-info, memtrace-frames,
 * memtrace-diff, memtrace-leaks), computed by the same libanalyze calls;
 * memtrace/analyze.py turns them into Results and DataFrames. Loads and
 * analyses run without the GIL. */
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include "analyze.h"
#include "memtrace/checked.h"
#include "common/cli.h"

/* ---- Python values from libanalyze's ---- */

static PyObject *u64(uint64_t v) { return PyLong_FromUnsignedLongLong((unsigned long long)v); }
static PyObject *i64(int64_t v) { return PyLong_FromLongLong((long long)v); }
static PyObject *none(void) { Py_RETURN_NONE; }
static PyObject *flag(int v) { return PyBool_FromLong(v); }

/* A float as the tools' JSON writes it: NaN and infinities as None. */
static PyObject *dbl(double v) { return isfinite(v) ? PyFloat_FromDouble(v) : none(); }

/* Text from a file: invalid UTF-8 becomes U+FFFD, as in the tools' JSON. */
static PyObject *text(const char *p, size_t n) { return PyUnicode_DecodeUTF8(p ? p : "", (Py_ssize_t)(p ? n : 0), "replace"); }
static PyObject *str(mt_str s) { return text(s.ptr, s.len); }
static PyObject *cstr(const char *s) { return text(s, s ? strlen(s) : 0); }

/* A scalar from a file (meta values, column min and max): binary values
 * as bytes. */
static PyObject *value(const mt_value *v) {
    switch (v->type) {
    case MT_VAL_BOOL: return flag(v->v.b);
    case MT_VAL_INT: return i64(v->v.i);
    case MT_VAL_UINT: return u64(v->v.u);
    case MT_VAL_FLOAT: return dbl(v->v.f);
    case MT_VAL_STR: return str(v->v.s);
    case MT_VAL_BIN: return PyBytes_FromStringAndSize(v->v.s.ptr, (Py_ssize_t)v->v.s.len);
    default: return none();
    }
}

/* b - a as the tools' JSON writes a delta: None when either saturated. */
static PyObject *delta(uint64_t a, uint64_t b) {
    if (a == UINT64_MAX || b == UINT64_MAX) return none();
    if (b >= a) return u64(b - a);
    PyObject *d = u64(a - b), *neg = d ? PyNumber_Negative(d) : NULL;
    Py_XDECREF(d);
    return neg;
}

/* ---- Snapshot ---- */

typedef struct {
    PyObject_HEAD
    mt_snapshot *s;
    PyObject *path;     /* str, as given */
    mt_df_table *df;    /* loaded on the first frames() */
    /* A call runs on it without the GIL. One at a time: the reader the
     * snapshot keeps open is not shared (mt_snapshot_each), and close()
     * must not free it under the call; a second call, or close(), raises
     * RuntimeError meanwhile. */
    int busy;
} Snapshot;

static PyTypeObject SnapshotType;

static int path_arg(PyObject *arg, PyObject **bytes) { return PyUnicode_FSConverter(arg, bytes); }

static Snapshot *snapshot_check(PyObject *o) {
    if (!PyObject_TypeCheck(o, &SnapshotType)) {
        PyErr_SetString(PyExc_TypeError, "expected a memtrace snapshot (memtrace.open)");
        return NULL;
    }
    Snapshot *sn = (Snapshot *)o;
    if (!sn->s) {
        /* A ValueError, as a closed file's "I/O operation on closed file". */
        PyErr_Format(PyExc_ValueError, "memtrace.analyze.Snapshot %U is closed", sn->path);
        return NULL;
    }
    return sn;
}

static void snapshot_release(Snapshot *sn) {
    mt_df_table_free(sn->df);
    sn->df = NULL;
    mt_snapshot_free(sn->s);
    sn->s = NULL;
}

static void snapshot_dealloc(Snapshot *sn) {
    snapshot_release(sn);
    Py_XDECREF(sn->path);
    Py_TYPE(sn)->tp_free((PyObject *)sn);
}

/* open(path, salvage=False): loads path without the GIL. */
static PyObject *mta_open(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = { "path", "salvage", NULL };
    PyObject *p, *b = NULL;
    int salvage = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p", kwlist, &p, &salvage)) return NULL;
    if (!path_arg(p, &b)) return NULL;
    if (PyType_Ready(&SnapshotType) < 0) {
        Py_DECREF(b);
        return NULL;
    }
    const char *path = PyBytes_AS_STRING(b);
    mt_snapshot *s = NULL;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    diag.file = path;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_snapshot_load(path, salvage ? MT_LOAD_SALVAGE : 0, &s, &diag);
    Py_END_ALLOW_THREADS
    if (rc) {
        mta_raise(path, rc, &diag);
        Py_DECREF(b);
        return NULL;
    }
    Snapshot *sn = PyObject_New(Snapshot, &SnapshotType);
    if (!sn) {
        mt_snapshot_free(s);
        Py_DECREF(b);
        return NULL;
    }
    sn->s = s;
    sn->df = NULL;
    sn->busy = 0;
    sn->path = PyUnicode_DecodeFSDefault(path);
    Py_DECREF(b);
    if (!sn->path) {
        Py_DECREF(sn);
        return NULL;
    }
    return (PyObject *)sn;
}

static PyObject *snapshot_close(Snapshot *sn, PyObject *unused) {
    (void)unused;
    if (sn->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the snapshot is in use by another thread");
        return NULL;
    }
    snapshot_release(sn);
    Py_RETURN_NONE;
}

static PyObject *snapshot_meta(Snapshot *sn, void *unused) {
    (void)unused;
    if (!snapshot_check((PyObject *)sn)) return NULL;
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (size_t i = 0; i < mt_snapshot_meta_count(sn->s); i++) {
        const mt_meta *m = mt_snapshot_meta(sn->s, i);
        PyObject *k = str(m->key), *v = k ? value(&m->value) : NULL;
        if (!v || PyDict_SetItem(d, k, v) < 0) {
            Py_XDECREF(k);
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(k);
        Py_DECREF(v);
    }
    return d;
}

static PyObject *snapshot_closed(Snapshot *sn, void *unused) {
    (void)unused;
    return flag(sn->s == NULL);
}

static PyObject *type_rows(const mt_snapshot *s, const mt_type_stat *st, uint32_t n) {
    const mt_graph *g = mt_snapshot_graph(s);
    PyObject *l = PyList_New(0);
    for (uint32_t i = 0; l && i < n; i++) {
        PyObject *r = PyDict_New();
        if (!r || mta_put(r, "type", str(g->type_names[st[i].type])) || mta_put(r, "count", u64(st[i].count)) ||
            mta_put(r, "bytes", u64(st[i].bytes))) {
            Py_XDECREF(r);
            Py_CLEAR(l);
            break;
        }
        if (mta_append(l, r)) { /* took r */
            Py_CLEAR(l);
            break;
        }
    }
    return l;
}

static PyObject *damage_rows(const mt_snapshot *s) {
    PyObject *l = PyList_New(0);
    for (size_t i = 0; l && i < mt_snapshot_damage_count(s); i++) {
        const mt_damage *d = mt_snapshot_damage(s, i);
        PyObject *r = PyDict_New();
        if (!r || mta_put(r, "error", cstr(mt_err_name(d->code))) ||
            (d->block >= 0 && mta_put(r, "block", u64((uint64_t)d->block))) || mta_put(r, "offset", u64(d->offset)) ||
            mta_put(r, "length", u64(d->length)) || (d->kind && mta_put(r, "kind", cstr(mt_kind_name(d->kind)))) ||
            mta_put(r, "records", u64(d->records)) || mta_put(r, "message", cstr(d->msg))) {
            Py_XDECREF(r);
            Py_CLEAR(l);
        } else if (mta_append(l, r)) { /* took r */
            Py_CLEAR(l);
        }
    }
    return l;
}

/* info(top=10): memtrace-info --format json's fields, and "type_table":
 * every type by bytes (top_types_* hold the first top). */
static PyObject *snapshot_info(Snapshot *sn, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "top", NULL };
    unsigned long long top = 10;
    PyObject *top_o = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &top_o) || mta_count(top_o, "top", &top)) return NULL;
    if (!snapshot_check((PyObject *)sn)) return NULL;
    const mt_snapshot *s = sn->s;
    const mt_graph *g = mt_snapshot_graph(s);
    mt_type_stat *by_bytes = PyMem_Malloc((g->n_types + 1) * sizeof *by_bytes);
    mt_type_stat *by_count = PyMem_Malloc((g->n_types + 1) * sizeof *by_count);
    PyObject *d = NULL, *o = NULL;
    if (!by_bytes || !by_count) {
        PyErr_NoMemory();
        goto done;
    }
    /* The counts take a pass over every object: without the GIL, and
     * with the snapshot marked busy so that no other thread closes it. */
    if (sn->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the snapshot is in use by another thread");
        goto done;
    }
    sn->busy++;
    Py_BEGIN_ALLOW_THREADS
    mt_snapshot_type_stats(s, 1, by_bytes);
    mt_snapshot_type_stats(s, 0, by_count);
    Py_END_ALLOW_THREADS
    sn->busy--;
    uint32_t ntop = 0, nall = 0;
    while (ntop < g->n_types && ntop < top && by_bytes[ntop].count) ntop++;
    while (nall < g->n_types && by_bytes[nall].count) nall++;
    uint64_t objects = 0, bytes = 0;
    for (uint32_t t = 0; t < g->n_types; t++) {
        objects = mt_sat_add_u64(objects, by_bytes[t].count);
        bytes = mt_sat_add_u64(bytes, by_bytes[t].bytes);
    }
    const mt_kind_stat *ks;
    size_t nk = mt_snapshot_kind_stats(s, &ks);
    uint64_t raw = 0, stored = 0, refs = 0, roots = 0;
    if (!(d = PyDict_New()) || !(o = PyDict_New())) goto fail;
    for (size_t i = 0; i < nk; i++) {
        raw = mt_sat_add_u64(raw, ks[i].raw);
        stored = mt_sat_add_u64(stored, ks[i].stored);
        if (ks[i].kind == MT_KIND_REF) refs = ks[i].records;
        if (ks[i].kind == MT_KIND_ROOT) roots = ks[i].records;
        PyObject *r = PyDict_New();
        if (!r || mta_put(r, "count", u64(ks[i].records)) || mta_put(r, "blocks", u64(ks[i].blocks)) ||
            mta_put(r, "raw_bytes", u64(ks[i].raw)) || mta_put(r, "stored_bytes", u64(ks[i].stored))) {
            Py_XDECREF(r);
            goto fail;
        }
        if (mta_put(o, ks[i].kind ? mt_kind_name(ks[i].kind) : "unknown", r)) goto fail; /* took r */
    }
    unsigned major, minor;
    mt_snapshot_version(s, &major, &minor);
    Py_INCREF(sn->path);
    if (mta_put(d, "file", sn->path) || mta_put(d, "file_bytes", u64(mt_snapshot_file_size(s))) ||
        mta_put(d, "format_version", PyUnicode_FromFormat("%u.%u", major, minor)) ||
        mta_put(d, "blocks", u64(mt_snapshot_block_count(s))) || mta_put(d, "meta", snapshot_meta(sn, NULL)))
        goto fail;
    /* mta_put takes o, set or not. */
    PyObject *records = o;
    o = NULL;
    if (mta_put(d, "records", records)) goto fail;
    double rss;
    int has_rss = mt_snapshot_meta_number(s, "rss", &rss) && rss >= 1 && rss < 1.8e19;
    if (mta_put(d, "raw_bytes", u64(raw)) || mta_put(d, "stored_bytes", u64(stored)) ||
        mta_put(d, "compression_ratio", dbl(stored ? (double)raw / (double)stored : 0)) ||
        mta_put(d, "objects", u64(objects)) || mta_put(d, "object_bytes", u64(bytes)) ||
        mta_put(d, "rss_bytes", has_rss ? u64((uint64_t)rss) : none()) ||
        mta_put(d, "unaccounted_bytes", has_rss ? i64(mt_rss_unaccounted((uint64_t)rss, bytes)) : none()) ||
        mta_put(d, "refs", u64(refs)) || mta_put(d, "roots", u64(roots)) || mta_put(d, "types", u64(g->n_types)) ||
        mta_put(d, "top_types_by_bytes", type_rows(s, by_bytes, ntop)) ||
        mta_put(d, "top_types_by_count", type_rows(s, by_count, ntop)) ||
        mta_put(d, "type_table", type_rows(s, by_bytes, nall)) || mta_put(d, "damage", damage_rows(s)) ||
        mta_put(d, "lost_objects", u64(mt_snapshot_lost_objects(s))) ||
        mta_put(d, "dropped_refs", u64(mt_snapshot_dropped_refs(s))))
        goto fail;
    goto done;
fail:
    Py_CLEAR(d);
done:
    Py_XDECREF(o);
    PyMem_Free(by_bytes);
    PyMem_Free(by_count);
    return d;
}

/* ---- frames ---- */

enum { BYTES_REAL, BYTES_PANDAS };

static uint64_t frame_bytes(const mt_df_table *t, int bytes, size_t i) {
    return bytes == BYTES_PANDAS ? t->frames[i].rec.deep_bytes : mt_df_frame_real_bytes(t, i);
}

static uint64_t col_bytes(int bytes, const mt_df_col_info *c) {
    return bytes == BYTES_PANDAS ? c->rec.deep_bytes : mt_df_col_real_bytes(c);
}

/* A column's part of its frame by one figure (memtrace-frames' share). */
static double share(const mt_df_table *t, const mt_df_col_info *c, int bytes) {
    uint64_t d = frame_bytes(t, bytes, c->frame);
    return d ? (double)col_bytes(bytes, c) / (double)d : 0;
}

typedef struct sort_ctx {
    const mt_df_table *t;
    int bytes;
} sort_ctx;

/* Larger first, then file order: memtrace-frames' order. */
static int by_bytes(uint64_t x, uint64_t y, size_t i, size_t j) {
    if (x != y) return x < y ? 1 : -1;
    return (i > j) - (i < j);
}

static int by_frame_bytes(const void *a, const void *b, void *arg) {
    const sort_ctx *c = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return by_bytes(frame_bytes(c->t, c->bytes, i), frame_bytes(c->t, c->bytes, j), i, j);
}

static int by_column_bytes(const void *a, const void *b, void *arg) {
    const sort_ctx *c = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return by_bytes(col_bytes(c->bytes, &c->t->columns[i]), col_bytes(c->bytes, &c->t->columns[j]), i, j);
}

/* A column's record as memtrace-frames' JSON has it; with_frame: its
 * frame's name and step first (a row of the columns table). */
static PyObject *column_dict(const mt_df_table *t, const mt_df_col_info *c, int with_frame) {
    const mt_df_column *r = &c->rec;
    const mt_df_frame *f = &t->frames[c->frame].rec;
    PyObject *d = PyDict_New(), *o = NULL;
    if (!d) return NULL;
    if ((with_frame && (mta_put(d, "frame", str(f->name)) || mta_put(d, "step", str(f->step)))) ||
        mta_put(d, "position", u64(r->position)) || mta_put(d, "name", str(r->name)) ||
        mta_put(d, "dtype", str(r->dtype)) || mta_put(d, "shallow_bytes", u64(r->shallow_bytes)) ||
        mta_put(d, "deep_bytes", u64(r->deep_bytes)) || mta_put(d, "real_bytes", u64(mt_df_col_real_bytes(c))) ||
        mta_put(d, "real_recorded", flag(r->real_bytes != 0 || (r->flags & MT_COL_REAL_RECORDED))) ||
        mta_put(d, "real_estimated", flag(!!(r->flags & MT_COL_REAL_EST))) ||
        mta_put(d, "pandas_deep_bytes", u64(r->deep_bytes)) || mta_put(d, "share", dbl(share(t, c, BYTES_PANDAS))) ||
        mta_put(d, "real_share", dbl(share(t, c, BYTES_REAL))) || mta_put(d, "distinct_bytes", u64(r->distinct_bytes)) ||
        mta_put(d, "null_count", u64(r->null_count)) || mta_put(d, "distinct_count", u64(r->distinct_count)) ||
        mta_put(d, "distinct_estimated", flag(!!(r->flags & MT_COL_DISTINCT_EST))) || mta_put(d, "min", value(&r->min)) ||
        mta_put(d, "max", value(&r->max)) || mta_put(d, "int_fit", c->int_fit ? cstr(c->int_fit) : none()) ||
        mta_put(d, "key", flag(!!(r->flags & MT_COL_KEY))) || mta_put(d, "sorted", flag(!!(r->flags & MT_COL_SORTED))) ||
        mta_put(d, "unique", flag(!!(r->flags & MT_COL_UNIQUE))) ||
        mta_put(d, "integral", flag(!!(r->flags & MT_COL_INTEGRAL))) ||
        mta_put(d, "f32_exact", flag(!!(r->flags & MT_COL_F32_EXACT))) ||
        mta_put(d, "f32_max_rel_error", dbl(r->f32_max_rel_error)) || mta_put(d, "mixed", flag(!!(r->flags & MT_COL_MIXED))) ||
        (r->value_type.len && mta_put(d, "value_type", str(r->value_type))) ||
        mta_put(d, "datetime_text", flag(!!(r->flags & MT_COL_DATETIME_TEXT))))
        goto fail;
    if (r->text_count) {
        if (!(o = PyDict_New()) || mta_put(o, "count", u64(r->text_count)) || mta_put(o, "len_min", u64(r->len_min)) ||
            mta_put(o, "len_max", u64(r->len_max)) ||
            mta_put(o, "len_mean", dbl((double)r->len_total / (double)r->text_count)))
            goto fail;
        if (mta_put(d, "text", o)) { o = NULL; goto fail; }
        o = NULL;
    }
    if (r->categories || r->code_bytes) {
        if (!(o = PyDict_New()) || mta_put(o, "categories", u64(r->categories)) ||
            mta_put(o, "categories_bytes", u64(r->categories_bytes)) ||
            mta_put(o, "codes_bytes", u64(r->deep_bytes - r->categories_bytes)) || mta_put(o, "code_bytes", u64(r->code_bytes)))
            goto fail;
        if (mta_put(d, "categorical", o)) { o = NULL; goto fail; }
        o = NULL;
    }
    if (r->dense_bytes) {
        if (!(o = PyDict_New()) || mta_put(o, "fill_value", value(&r->fill_value)) || mta_put(o, "density", dbl(r->density)) ||
            mta_put(o, "dense_bytes", u64(r->dense_bytes)) ||
            mta_put(o, "efficiency", dbl((double)r->shallow_bytes / (double)r->dense_bytes)))
            goto fail;
        if (mta_put(d, "sparse", o)) { o = NULL; goto fail; }
        o = NULL;
    }
    if (c->n_top) {
        if (!(o = PyList_New(0))) goto fail;
        for (size_t i = 0; i < c->n_top; i++) {
            PyObject *v = PyDict_New();
            if (!v || mta_put(v, "value", value(&c->top[i].value)) || mta_put(v, "count", u64(c->top[i].count))) {
                Py_XDECREF(v);
                goto fail;
            }
            if (mta_append(o, v)) goto fail; /* took v */
        }
        if (mta_put(d, "top_values", o)) { o = NULL; goto fail; }
        o = NULL;
    }
    if (c->sketch && mta_put(d, "sketch_hashes", u64(c->sketch->data.len / 8))) goto fail;
    return d;
fail:
    Py_XDECREF(o);
    Py_DECREF(d);
    return NULL;
}

static PyObject *step_value(double v) { return isnan(v) ? none() : u64((uint64_t)v); }

static PyObject *frame_dict(const mt_df_table *t, size_t i) {
    const mt_df_frame *f = &t->frames[i].rec;
    PyObject *d = PyDict_New(), *ix = PyDict_New(), *cl = PyDict_New();
    if (!d || !ix || !cl) goto fail;
    if (mta_put(ix, "kind", str(f->index_kind)) || mta_put(ix, "nlevels", u64(f->index_nlevels)) ||
        mta_put(ix, "shallow_bytes", u64(f->index_shallow_bytes)) || mta_put(ix, "deep_bytes", u64(f->index_bytes)) ||
        mta_put(ix, "real_bytes", u64(mt_df_index_real_bytes(t, i))) ||
        mta_put(ix, "levels_bytes", u64(f->index_levels_bytes)) || mta_put(ix, "codes_bytes", u64(f->index_codes_bytes)) ||
        mta_put(cl, "kind", str(f->columns_kind)) || mta_put(cl, "nlevels", u64(f->columns_nlevels)) ||
        mta_put(cl, "levels_bytes", u64(f->columns_levels_bytes)) || mta_put(cl, "codes_bytes", u64(f->columns_codes_bytes)))
        goto fail;
    if (mta_put(d, "name", str(f->name)) || mta_put(d, "step", str(f->step)) || mta_put(d, "rows", u64(f->rows)) ||
        mta_put(d, "columns", u64(f->columns)) || mta_put(d, "column_count", u64(f->columns)) ||
        mta_put(d, "shallow_bytes", u64(f->shallow_bytes)) ||
        mta_put(d, "deep_bytes", u64(f->deep_bytes)) || mta_put(d, "pandas_deep_bytes", u64(f->deep_bytes)) ||
        mta_put(d, "real_bytes", u64(mt_df_frame_real_bytes(t, i))) ||
        mta_put(d, "shared_bytes", u64(mt_df_frame_shared_bytes(t, i))) ||
        mta_put(d, "real_estimated", flag(mt_df_frame_real_estimated(t, i))))
        goto fail;
    int rc = mta_put(d, "index", ix);
    ix = NULL;
    if (rc) goto fail;
    rc = mta_put(d, "column_labels", cl);
    cl = NULL;
    if (rc || mta_put(d, "time_ns", u64(f->time_ns))) goto fail;
    return d;
fail:
    Py_XDECREF(d);
    Py_XDECREF(ix);
    Py_XDECREF(cl);
    return NULL;
}

/* frames(frame=None, step=None, bytes="real"): memtrace-frames --format
 * json's fields; each frame's "columns" in position order, and
 * "column_table": the columns of the frames shown, largest first by the
 * figure bytes names (the CSV's rows), with their frame and step. */
static PyObject *snapshot_frames(Snapshot *sn, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "frame", "step", "bytes", NULL };
    const char *fname = NULL, *sname = NULL, *bname = "real";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|zzs", kwlist, &fname, &sname, &bname)) return NULL;
    if (!snapshot_check((PyObject *)sn)) return NULL;
    int bytes;
    if (!strcmp(bname, "real")) bytes = BYTES_REAL;
    else if (!strcmp(bname, "pandas")) bytes = BYTES_PANDAS;
    else {
        PyErr_Format(PyExc_ValueError, "bytes must be 'real' or 'pandas', not '%s'", bname);
        return NULL;
    }
    if (sn->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the snapshot is in use by another thread");
        return NULL;
    }
    if (!sn->df) {
        mt_diag diag = { 0 };
        mt_diag_clear(&diag);
        int rc;
        mt_df_table *t = NULL;
        sn->busy++;
        Py_BEGIN_ALLOW_THREADS
        rc = mt_df_table_load(sn->s, &t, &diag);
        Py_END_ALLOW_THREADS
        sn->busy--;
        PyObject *pb = NULL;
        if (rc) {
            if (PyUnicode_FSConverter(sn->path, &pb)) {
                mta_raise(PyBytes_AS_STRING(pb), rc, &diag);
                Py_DECREF(pb);
            }
            return NULL;
        }
        sn->df = t;
    }
    const mt_df_table *t = sn->df;
    if (!t->n_frames && !t->n_steps) {
        PyObject *pb = NULL;
        if (PyUnicode_FSConverter(sn->path, &pb)) {
            mt_diag d = { 0 };
            mt_diag_clear(&d);
            mt_diag_set(&d, MT_E_NOTFOUND, "holds no DataFrame records: write it with memtrace.dump_frames or memtrace.pipeline");
            mta_raise(PyBytes_AS_STRING(pb), MT_E_NOTFOUND, &d);
            Py_DECREF(pb);
        }
        return NULL;
    }
    size_t *frames = PyMem_Malloc((t->n_frames + 1) * sizeof *frames);
    size_t *cols = PyMem_Malloc((t->n_columns + 1) * sizeof *cols);
    PyObject *d = NULL, *fl = NULL, *cl = NULL, *sl = NULL, *gl = NULL;
    if (!frames || !cols) {
        PyErr_NoMemory();
        goto done;
    }
    size_t nf = 0, nc = 0;
    uint64_t deep = 0, shallow = 0;
    for (size_t i = 0; i < t->n_frames; i++) {
        const mt_df_frame_info *f = &t->frames[i];
        if (fname && strcmp(fname, f->rec.name.ptr)) continue;
        if (sname && strcmp(sname, f->rec.step.ptr)) continue;
        frames[nf++] = i;
        deep += f->rec.deep_bytes;
        shallow += f->rec.shallow_bytes;
        for (size_t j = 0; j < f->n_columns; j++) cols[nc++] = f->first_column + j;
    }
    if ((fname || sname) && !nf) {
        mt_diag dg = { 0 };
        mt_diag_clear(&dg);
        mt_diag_set(&dg, MT_E_NOTFOUND, "no frame %s%s%s%s", fname ? "named " : "", fname ? fname : "",
                    sname ? " at step " : "", sname ? sname : "");
        PyObject *pb = NULL;
        if (PyUnicode_FSConverter(sn->path, &pb)) {
            mta_raise(PyBytes_AS_STRING(pb), MT_E_NOTFOUND, &dg);
            Py_DECREF(pb);
        }
        goto done;
    }
    sort_ctx sc = { t, bytes };
    if (nf) qsort_r(frames, nf, sizeof *frames, by_frame_bytes, &sc);
    if (nc) qsort_r(cols, nc, sizeof *cols, by_column_bytes, &sc);
    mt_df_real real;
    if (mt_df_frames_real(t, frames, nf, fname != NULL, &real)) {
        PyErr_NoMemory();
        goto done;
    }
    if (!(d = PyDict_New()) || !(fl = PyList_New(0)) || !(cl = PyList_New(0)) || !(sl = PyList_New(0)) ||
        !(gl = PyList_New(0)))
        goto fail;
    Py_INCREF(sn->path);
    if (mta_put(d, "file", sn->path) || mta_put(d, "bytes", cstr(bytes == BYTES_PANDAS ? "pandas" : "real")) ||
        mta_put(d, "shallow_bytes", u64(shallow)) || mta_put(d, "deep_bytes", u64(deep)) ||
        mta_put(d, "pandas_deep_bytes", u64(deep)) || mta_put(d, "real_bytes", u64(real.real)) ||
        mta_put(d, "real_shared_bytes", u64(real.shared)) || mta_put(d, "real_step", real.step ? cstr(real.step) : none()))
        goto fail;
    for (size_t k = 0; k < nf; k++) {
        const mt_df_frame_info *fi = &t->frames[frames[k]];
        PyObject *f = frame_dict(t, frames[k]), *fc = PyList_New(0);
        if (!f || !fc || mta_put(f, "columns", (Py_INCREF(fc), fc))) {
            Py_XDECREF(f);
            Py_XDECREF(fc);
            goto fail;
        }
        if (mta_append(fl, f)) { /* took f */
            Py_DECREF(fc);
            goto fail;
        }
        for (size_t j = 0; j < fi->n_columns; j++)
            if (mta_append(fc, column_dict(t, &t->columns[fi->first_column + j], 0))) {
                Py_DECREF(fc);
                goto fail;
            }
        Py_DECREF(fc);
    }
    for (size_t k = 0; k < nc; k++)
        if (mta_append(cl, column_dict(t, &t->columns[cols[k]], 1))) goto fail;
    for (size_t i = 0; i < t->n_steps; i++) {
        const mt_df_step *s = &t->steps[i];
        PyObject *o = PyDict_New();
        if (!o || mta_put(o, "name", cstr(s->name)) || mta_put(o, "time_ns", u64(s->time_ns)) ||
            mta_put(o, "rss", step_value(s->rss)) || mta_put(o, "traced", step_value(s->traced)) ||
            mta_put(o, "traced_peak", step_value(s->traced_peak)) || mta_put(o, "frames", u64(s->n_frames)) ||
            mta_put(o, "frames_deep_bytes", u64(s->frames_deep)) ||
            mta_put(o, "frames_pandas_deep_bytes", u64(s->frames_deep)) ||
            mta_put(o, "frames_real_bytes", u64(s->frames_real))) {
            Py_XDECREF(o);
            goto fail;
        }
        if (mta_append(sl, o)) goto fail; /* took o */
    }
    size_t best[3];
    double gain[3];
    size_t nbest = mt_df_steps_grew_most(t, 3, best, gain);
    for (size_t k = 0; k < nbest; k++) {
        PyObject *o = PyDict_New();
        if (!o || mta_put(o, "step", cstr(t->steps[best[k]].name)) || mta_put(o, "bytes", u64((uint64_t)gain[k]))) {
            Py_XDECREF(o);
            goto fail;
        }
        if (mta_append(gl, o)) goto fail; /* took o */
    }
    /* mta_put() takes each list's reference, set or not. */
    PyObject *f1 = fl, *f2 = sl, *f3 = gl, *f4 = cl;
    fl = sl = gl = cl = NULL;
    if (mta_put(d, "frames", f1)) {
        Py_DECREF(f2), Py_DECREF(f3), Py_DECREF(f4);
        goto fail;
    }
    if (mta_put(d, "steps", f2)) {
        Py_DECREF(f3), Py_DECREF(f4);
        goto fail;
    }
    if (mta_put(d, "grew_most", f3)) {
        Py_DECREF(f4);
        goto fail;
    }
    if (mta_put(d, "column_table", f4)) goto fail;
    goto done;
fail:
    Py_CLEAR(d);
done:
    Py_XDECREF(fl);
    Py_XDECREF(cl);
    Py_XDECREF(sl);
    Py_XDECREF(gl);
    PyMem_Free(frames);
    PyMem_Free(cols);
    return d;
}

static PyObject *snapshot_enter(PyObject *self, PyObject *unused) {
    (void)unused;
    Py_INCREF(self);
    return self;
}

static PyObject *snapshot_exit(Snapshot *sn, PyObject *args) {
    (void)args;
    PyObject *r = snapshot_close(sn, NULL);
    if (!r) return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyObject *snapshot_repr(Snapshot *sn) {
    if (!sn->s) return PyUnicode_FromFormat("<memtrace snapshot %R, closed>", sn->path);
    const mt_graph *g = mt_snapshot_graph(sn->s);
    return PyUnicode_FromFormat("<memtrace snapshot %R: %u objects, %u types>", sn->path, g->n_objects, g->n_types);
}

static PyMethodDef snapshot_methods[] = {
    { "info", (PyCFunction)(void (*)(void))snapshot_info, METH_VARARGS | METH_KEYWORDS,
      "info(top=10): memtrace-info --format json's fields as a dict" },
    { "frames", (PyCFunction)(void (*)(void))snapshot_frames, METH_VARARGS | METH_KEYWORDS,
      "frames(frame=None, step=None, bytes='real'): memtrace-frames --format json's fields as a dict" },
    { "close", (PyCFunction)snapshot_close, METH_NOARGS, "frees the loaded snapshot" },
    { "__enter__", snapshot_enter, METH_NOARGS, NULL },
    { "__exit__", (PyCFunction)snapshot_exit, METH_VARARGS, NULL },
    { NULL, NULL, 0, NULL },
};

static PyObject *snapshot_path(Snapshot *sn, void *unused) {
    (void)unused;
    Py_INCREF(sn->path);
    return sn->path;
}

static PyGetSetDef snapshot_getset[] = {
    { "meta", (getter)snapshot_meta, NULL, "the snapshot's meta entries as a dict (the last of a repeated key)", NULL },
    { "path", (getter)snapshot_path, NULL, "the path it was opened from", NULL },
    { "closed", (getter)snapshot_closed, NULL, "whether close() was called", NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject SnapshotType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "memtrace._analyze.Snapshot",
    .tp_basicsize = sizeof(Snapshot),
    .tp_dealloc = (destructor)snapshot_dealloc,
    .tp_repr = (reprfunc)snapshot_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A snapshot loaded by libanalyze (memtrace._analyze.open).",
    .tp_methods = snapshot_methods,
    .tp_getset = snapshot_getset,
};

/* ---- diff ---- */

static int unknown(const mt_diff_row *r) { return r->bytes_a == UINT64_MAX || r->bytes_b == UINT64_MAX; }

static PyObject *diff_row(const mt_diff_row *r, int matched) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    if (mta_put(d, "group", cstr(r->group)) || mta_put(d, "count_a", u64(r->count_a)) || mta_put(d, "count_b", u64(r->count_b)) ||
        mta_put(d, "count_delta", delta(r->count_a, r->count_b)) || mta_put(d, "bytes_a", u64(r->bytes_a)) ||
        mta_put(d, "bytes_b", u64(r->bytes_b)) || mta_put(d, "bytes_delta", delta(r->bytes_a, r->bytes_b)) ||
        mta_put(d, "percent", r->bytes_a && !unknown(r)
                              ? dbl(100.0 * ((double)r->bytes_b - (double)r->bytes_a) / (double)r->bytes_a)
                              : none()))
        goto fail;
    if (matched && (mta_put(d, "new_count", u64(r->new_count)) || mta_put(d, "new_bytes", u64(r->new_bytes)) ||
                    mta_put(d, "freed_count", u64(r->freed_count)) || mta_put(d, "freed_bytes", u64(r->freed_bytes)) ||
                    mta_put(d, "surviving_count", u64(r->kept_count)) || mta_put(d, "surviving_bytes", u64(r->kept_bytes))))
        goto fail;
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

static uint64_t absdelta(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

/* diff(a, b, by="type", sort="delta", top=0, min_delta=0): memtrace-diff
 * --format json's fields for two open snapshots. */
static PyObject *mta_diff(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = { "a", "b", "by", "sort", "top", "min_delta", NULL };
    PyObject *oa, *ob;
    const char *byname = "type", *sortname = "delta";
    unsigned long long top = 0, min_delta = 0;
    PyObject *top_o = NULL, *min_delta_o = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|ssOO", kwlist, &oa, &ob, &byname, &sortname, &top_o, &min_delta_o) ||
        mta_count(top_o, "top", &top) || mta_count(min_delta_o, "min_delta", &min_delta))
        return NULL;
    Snapshot *a = snapshot_check(oa), *b = a ? snapshot_check(ob) : NULL;
    if (!b) return NULL;
    mt_group_by by;
    mt_diff_key key;
    if (mt_group_by_from_name(byname, &by)) {
        PyErr_Format(PyExc_ValueError, "by must be type, module, site, traceback, column or device, not '%s'", byname);
        return NULL;
    }
    if (mt_diff_key_from_name(sortname, &key)) {
        PyErr_Format(PyExc_ValueError, "sort must be delta, bytes or count, not '%s'", sortname);
        return NULL;
    }
    if (a->busy || b->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the snapshot is in use by another thread");
        return NULL;
    }
    mt_diff d;
    memset(&d, 0, sizeof d);
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    int side = -1, rc;
    mt_rss_heap rh;
    a->busy++;
    b->busy++;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_diff_check_pair(a->s, b->s, by, &side, &diag);
    if (!rc) {
        side = -1;
        rc = mt_diff_compute(a->s, b->s, by, &d, &diag);
    }
    if (!rc) {
        mt_diff_sort(&d, key);
        mt_rss_heap_compare(a->s, b->s, &rh);
    }
    Py_END_ALLOW_THREADS
    a->busy--;
    b->busy--;
    if (rc) {
        PyObject *pb = NULL;
        if (side < 0) mta_raise(NULL, rc, &diag);
        else if (PyUnicode_FSConverter(side ? b->path : a->path, &pb)) {
            mta_raise(PyBytes_AS_STRING(pb), rc, &diag);
            Py_DECREF(pb);
        }
        mt_diff_free(&d);
        return NULL;
    }
    int objects = by == MT_BY_TYPE || by == MT_BY_MODULE || d.matched;
    const char *note = d.matched ? NULL
                       : objects && !mt_diff_same_process(a->s, b->s)
                           ? "the snapshots come from different processes: compared by group only"
                           : NULL;
    size_t kept = 0;
    for (size_t i = 0; i < d.n_rows; i++)
        if (absdelta(d.rows[i].bytes_b, d.rows[i].bytes_a) >= min_delta) d.rows[kept++] = d.rows[i];
    size_t shown = top && kept > top ? (size_t)top : kept;
    PyObject *o = PyDict_New(), *l = PyList_New(0), *r = NULL;
    if (!o || !l) goto fail;
    if (mta_put(o, "a", (Py_INCREF(a->path), a->path)) || mta_put(o, "b", (Py_INCREF(b->path), b->path)) || mta_put(o, "by", cstr(mt_group_by_name(by))) ||
        mta_put(o, "matched", flag(d.matched)) || (note && mta_put(o, "note", cstr(note))) ||
        mta_put(o, "groups_total", u64(d.n_rows)) || mta_put(o, "groups_shown", u64(shown)))
        goto fail;
    for (size_t i = 0; i < shown; i++)
        if (mta_append(l, diff_row(&d.rows[i], d.matched))) goto fail;
    int prc = mta_put(o, "groups", l);
    l = NULL;
    if (prc || mta_put(o, "total", diff_row(&d.total, d.matched))) goto fail;
    if (rh.has_rss) {
        if (!(r = PyDict_New()) || mta_put(r, "rss_a", u64(rh.rss_a)) || mta_put(r, "rss_b", u64(rh.rss_b)) ||
            mta_put(r, "heap_a", u64(rh.heap_a)) || mta_put(r, "heap_b", u64(rh.heap_b)) ||
            mta_put(r, "unaccounted_a", i64(mt_rss_unaccounted(rh.rss_a, rh.heap_a))) ||
            mta_put(r, "unaccounted_b", i64(mt_rss_unaccounted(rh.rss_b, rh.heap_b))) ||
            mta_put(r, "unaccounted_bytes", i64(rh.unaccounted)) || mta_put(r, "native_growth", flag(rh.native)))
            goto fail;
        prc = mta_put(o, "rss", r);
        r = NULL;
        if (prc) goto fail;
    }
    mt_diff_free(&d);
    return o;
fail:
    Py_XDECREF(o);
    Py_XDECREF(l);
    Py_XDECREF(r);
    mt_diff_free(&d);
    return NULL;
}

/* ---- leaks ---- */

static PyObject *series(const uint64_t *v, size_t n) {
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *x = u64(v[i]);
        if (!x) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, x);
    }
    return l;
}

/* A point (type, id and path to a root) in the last snapshot. */
static PyObject *point_dict(const mt_snapshot *last, uint32_t point) {
    const mt_graph *g = mt_snapshot_graph(last);
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    char *path = NULL;
    mt_path p;
    if (!mt_path_to_root(g, point, &p, NULL)) {
        path = mt_path_format(last, &p);
        mt_path_free(&p);
    }
    if (mta_put(d, "id", u64(g->id[point])) || mta_put(d, "type", str(g->type_names[g->type[point]])) ||
        mta_put(d, "path", path ? cstr(path) : none())) {
        free(path);
        Py_DECREF(d);
        return NULL;
    }
    free(path);
    return d;
}

static PyObject *suspect_dict(const mt_leaks *L, const mt_snapshot *last, const mt_sites *sites, size_t k,
                              int stdlib_frames) {
    const mt_leak_suspect *sp = &L->suspects[k];
    const mt_leak_group *gr = &L->groups[sp->group];
    size_t n = L->n_snapshots;
    uint64_t retained = sp->point != UINT32_MAX ? L->dom.retained[sp->point] : 0;
    char why[400], site[1024] = "";
    if (sites && gr->site)
        mt_sites_format(sites, stdlib_frames ? gr->site : mt_sites_app_stack(sites, gr->site), 0, site, sizeof site);
    mt_leak_suspect_reason(L, last, k, why, sizeof why);
    PyObject *d = PyDict_New(), *l = NULL;
    if (!d) return NULL;
    if (mta_put(d, "rank", u64(k + 1)) || mta_put(d, "type", cstr(gr->type)) || !(l = PyList_New(0))) goto fail;
    for (size_t j = 0; j < sp->n_groups; j++)
        if (mta_append(l, cstr(L->groups[sp->groups[j]].type))) goto fail;
    int rc = mta_put(d, "types", l);
    l = NULL;
    if (rc || mta_put(d, "accumulation_point", sp->point != UINT32_MAX ? point_dict(last, sp->point) : none()) ||
        !(l = PyList_New(0)))
        goto fail;
    for (size_t j = 0; j < sp->n_also; j++)
        if (mta_append(l, point_dict(last, sp->also[j]))) goto fail;
    rc = mta_put(d, "also_accumulates_in", l);
    l = NULL;
    if (rc || (site[0] && mta_put(d, "site", cstr(site))) ||
        mta_put(d, "surviving_generations", u64(gr->surviving_generations)) ||
        mta_put(d, "type_objects_per_snapshot", u64(sp->type_objects_per_snapshot)) ||
        mta_put(d, "growth_objects_per_snapshot", u64(sp->objects_per_snapshot)) ||
        mta_put(d, "growth_bytes_per_snapshot", u64(sp->bytes_per_snapshot)) || mta_put(d, "retained_bytes", u64(retained)) ||
        mta_put(d, "p_value", dbl(sp->p)) || mta_put(d, "confidence", dbl(sp->confidence)) || mta_put(d, "score", dbl(sp->score)) ||
        mta_put(d, "explanation", cstr(why)) ||
        mta_put(d, "retained_series", sp->retained ? series(sp->retained, n) : none()) ||
        mta_put(d, "count_series", series(gr->count, n)) || mta_put(d, "survivors_by_generation", series(gr->survivors, n)) ||
        (sp->gen_objects && mta_put(d, "accumulated_by_generation", series(sp->gen_objects, n))))
        goto fail;
    return d;
fail:
    Py_XDECREF(l);
    Py_DECREF(d);
    return NULL;
}

/* leaks(paths, top=10, min_growth=0, floor=0, salvage=False,
 * stdlib_frames=False): memtrace-leaks --format json's fields. */
static PyObject *mta_leaks(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = { "paths", "top", "min_growth", "floor", "salvage", "stdlib_frames", NULL };
    PyObject *seq;
    unsigned long long top = 10, min_growth = 0, floor_ = 0;
    PyObject *top_o = NULL, *min_growth_o = NULL, *floor_o = NULL;
    int salvage = 0, stdlib_frames = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOOpp", kwlist, &seq, &top_o, &min_growth_o, &floor_o, &salvage,
                                     &stdlib_frames) ||
        mta_count(top_o, "top", &top) || mta_count(min_growth_o, "min_growth", &min_growth) ||
        mta_count(floor_o, "floor", &floor_))
        return NULL;
    PyObject *fast = PySequence_Fast(seq, "paths must be a sequence of paths");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n < 3) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "a leak shows across at least 3 snapshots in time order; %zd given", n);
        return NULL;
    }
    PyObject **bytes = PyMem_Calloc((size_t)n, sizeof *bytes);
    const char **paths = PyMem_Calloc((size_t)n, sizeof *paths);
    PyObject *out = NULL;
    mt_leaks L;
    memset(&L, 0, sizeof L);
    mt_snapshot *last = NULL;
    mt_sites *sites = NULL;
    if (!bytes || !paths) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(fast, i), &bytes[i])) goto done;
        paths[i] = PyBytes_AS_STRING(bytes[i]);
    }
    mt_leaks_opts o;
    memset(&o, 0, sizeof o);
    o.min_growth = min_growth;
    o.floor = floor_;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_leaks_compute(paths, (size_t)n, salvage ? MT_LOAD_SALVAGE : 0, &o, &L, &last, &diag);
    if (!rc && mt_snapshot_graph(last)->stack && mt_sites_load(last, &sites, NULL)) sites = NULL;
    Py_END_ALLOW_THREADS
    if (rc) {
        mta_raise(diag.file, rc, &diag);
        goto done;
    }
    size_t ns = L.n_snapshots;
    size_t nsus = top && L.n_suspects > top ? (size_t)top : L.n_suspects;
    size_t nshow = top && L.n_growing > top ? (size_t)top : L.n_growing;
    PyObject *ng = NULL, *sl = NULL, *gl = NULL;
    if (!(out = PyDict_New()) || mta_put(out, "snapshots", u64(ns)) || mta_put(out, "noise_floor_bytes", u64(L.floor)) ||
        !(ng = PyDict_New()))
        goto fail;
    int has = L.rss[0] && L.rss[ns - 1];
    if (mta_put(ng, "rss_growth_bytes", has ? i64(L.rss_growth) : none()) ||
        mta_put(ng, "heap_growth_bytes", has ? i64(L.heap_growth) : none()) ||
        mta_put(ng, "unaccounted_bytes", has ? i64(L.unaccounted) : none()) ||
        mta_put(ng, "suspected", flag(L.native_growth)))
        goto fail;
    rc = mta_put(out, "native_growth", ng);
    ng = NULL;
    if (rc || !(sl = PyList_New(0))) goto fail;
    for (size_t k = 0; k < nsus; k++)
        if (mta_append(sl, suspect_dict(&L, last, sites, k, stdlib_frames))) goto fail;
    rc = mta_put(out, "suspects", sl);
    sl = NULL;
    if (rc || !(gl = PyList_New(0))) goto fail;
    for (size_t k = 0; k < nshow; k++) {
        const mt_leak_group *gr = &L.groups[L.growing[k]];
        char why[400];
        mt_leak_group_reason(gr, ns, why, sizeof why);
        PyObject *r = PyDict_New();
        if (!r || mta_put(r, "type", cstr(gr->type)) || mta_put(r, "kind", cstr(mt_leak_growth_label(gr->verdict))) ||
            mta_put(r, "reason", cstr(why)) || mta_put(r, "p_value", dbl(gr->mk.p)) ||
            mta_put(r, "count_series", series(gr->count, ns)) || mta_put(r, "bytes_series", series(gr->bytes, ns))) {
            Py_XDECREF(r);
            goto fail;
        }
        if (mta_append(gl, r)) goto fail; /* took r */
    }
    rc = mta_put(out, "not_leaking", gl);
    gl = NULL;
    if (rc) goto fail;
    goto done;
fail:
    Py_XDECREF(ng);
    Py_XDECREF(sl);
    Py_XDECREF(gl);
    Py_CLEAR(out);
done:
    mt_sites_free(sites);
    mt_leaks_free(&L);
    mt_snapshot_free(last);
    for (Py_ssize_t i = 0; bytes && i < n; i++) Py_XDECREF(bytes[i]);
    PyMem_Free(bytes);
    PyMem_Free(paths);
    Py_DECREF(fast);
    return out;
}

PyMethodDef mta_core_methods[] = {
    { "open", (PyCFunction)(void (*)(void))mta_open, METH_VARARGS | METH_KEYWORDS,
      "open(path, salvage=False): the snapshot at path, loaded without the GIL" },
    { "diff", (PyCFunction)(void (*)(void))mta_diff, METH_VARARGS | METH_KEYWORDS,
      "diff(a, b, by='type', sort='delta', top=0, min_delta=0): memtrace-diff --format json's fields" },
    { "leaks", (PyCFunction)(void (*)(void))mta_leaks, METH_VARARGS | METH_KEYWORDS,
      "leaks(paths, top=10, min_growth=0, floor=0, salvage=False, stdlib_frames=False): "
      "memtrace-leaks --format json's fields" },
    { NULL, NULL, 0, NULL },
};
