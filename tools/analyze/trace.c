/* memtrace._analyze: allocation traces (memtrace-trace's analysis).
 * trace() returns what memtrace-trace --format json --histogram prints,
 * as a dict with the same keys, plus the live-bytes curve memtrace-plot
 * draws and the warnings the tool prints on stderr; trace_folded() the
 * lines of memtrace-trace --folded. Both read the file with the GIL
 * released. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "extra.h"
#include "memtrace/trace.h"

/* memtrace-trace --by's names, in mt_trace_by's order. */
static const char *const by_names[] = { "peak", "allocated", "count", "temporary", "leaked", NULL };
/* memtrace-trace --folded's names and the figure each sums. */
static const char *const folded_names[] = { "peak", "leaked", "allocated", "temporary", NULL };
static const mt_trace_by folded_by[] = { MT_TRACE_BY_PEAK, MT_TRACE_BY_LEAKED, MT_TRACE_BY_ALLOCATED,
                                         MT_TRACE_BY_TEMPORARY };

static int name_index(const char *const *names, const char *what, const char *v) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], v)) return i;
    PyObject *all = PyUnicode_FromString("");
    for (int i = 0; all && names[i]; i++) {
        PyObject *x = PyUnicode_FromFormat("%U%s'%s'", all, i ? ", " : "", names[i]);
        Py_SETREF(all, x);
    }
    if (all) PyErr_Format(PyExc_ValueError, "%s must be one of %U, got '%s'", what, all, v);
    Py_XDECREF(all);
    return -1;
}

/* d[key] = e.value and d[key + "_se"] = e.se, as memtrace-trace's JSON. */
static int put_est(PyObject *d, const char *key, mt_est e) {
    char k[64];
    snprintf(k, sizeof k, "%s_se", key);
    return mta_put(d, key, PyFloat_FromDouble(e.value)) || mta_put(d, k, PyFloat_FromDouble(e.se)) ? -1 : 0;
}

static int put_step(PyObject *d, const mt_trace_step *st) {
    return mta_put(d, "step", st ? mta_cstr_or_none(st->name) : (Py_INCREF(Py_None), Py_None));
}

/* Opens path with the GIL released; NULL with the exception raised. */
static mt_trace *open_trace(const char *path, unsigned flags, const mt_trace_opts *to) {
    mt_trace *t = NULL;
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    d.file = path;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_trace_open(path, flags, to, &t, &d);
    Py_END_ALLOW_THREADS
    if (rc) {
        mta_raise(path, rc, &d);
        return NULL;
    }
    return t;
}

/* mt_trace_sites() with the GIL released; -1 with the exception raised. */
static int sites_of(mt_trace *t, const char *path, const mt_trace_at *at, mt_trace_site **sites, size_t *n) {
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    d.file = path;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_trace_sites(t, at, sites, n, &d);
    Py_END_ALLOW_THREADS
    if (rc) {
        mta_raise(path, rc, &d);
        return -1;
    }
    return 0;
}

static PyObject *warnings_of(const mt_trace_summary *S, const mt_trace_at *at) {
    char warn[MT_TRACE_WARNINGS][MT_TRACE_WARNING_LEN];
    size_t k = mt_trace_warnings(S, at, MT_TRACE_WARN_FILE | MT_TRACE_WARN_MOMENT, warn);
    PyObject *w = PyList_New(0);
    for (size_t i = 0; w && i < k; i++)
        if (mta_append(w, PyUnicode_FromString(warn[i]))) Py_CLEAR(w);
    return w;
}

static PyObject *site_dict(const mt_sites *tab, const mt_trace_site *s, int whole) {
    char line[8192];
    mt_sites_format(tab, s->stack, whole, line, sizeof line);
    PyObject *d = PyDict_New();
    if (!d || mta_put(d, "stack", mta_u64(s->stack)) || mta_put(d, "site", mta_cstr_or_none(line)) ||
        put_est(d, "live_bytes", s->live) || put_est(d, "live_blocks", s->live_count) ||
        put_est(d, "allocated_bytes", s->allocated) || put_est(d, "allocated_blocks", s->allocated_count) ||
        put_est(d, "temporary_bytes", s->temporary) || put_est(d, "temporary_blocks", s->temporary_count) ||
        put_est(d, "leaked_bytes", s->end) || put_est(d, "leaked_blocks", s->end_count)) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

/* The summary's part of the dict: memtrace-trace's JSON keys. */
static int put_summary(PyObject *out, mt_trace *t, const mt_trace_summary *S) {
    PyObject *peak = NULL, *leaked = NULL, *alloc = NULL, *temp = NULL;
    int sm = S->sampled;
    if (mta_put(out, "mode", PyUnicode_FromString(sm ? "sampled" : "all")) ||
        mta_put(out, "sample_bytes", sm ? PyFloat_FromDouble(S->sample_bytes) : (Py_INCREF(Py_None), Py_None)) ||
        mta_put(out, "estimates", PyBool_FromLong(sm)) || mta_put(out, "records", mta_u64(S->records)) ||
        mta_put(out, "allocations", mta_u64(S->allocs)) || mta_put(out, "frees", mta_u64(S->frees)) ||
        mta_put(out, "duration_s", PyFloat_FromDouble((double)S->duration_ns / 1e9)) ||
        mta_put(out, "stacks", mta_u64(S->stacks)) || mta_put(out, "checkpoints", mta_u64(S->checkpoints)) ||
        mta_put(out, "truncated", PyBool_FromLong(S->truncated)) || !(peak = PyDict_New()) ||
        put_est(peak, "bytes", S->peak) || mta_put(peak, "time_s", PyFloat_FromDouble((double)S->peak_ns / 1e9)) ||
        mta_put(peak, "record", mta_u64(S->peak_seq)) || put_step(peak, mt_trace_step_at(t, S->peak_ns)) ||
        !(leaked = PyDict_New()) || put_est(leaked, "bytes", S->end) || put_est(leaked, "blocks", S->end_count) ||
        !(alloc = PyDict_New()) || put_est(alloc, "bytes", S->allocated) ||
        put_est(alloc, "blocks", S->allocated_count) || !(temp = PyDict_New()) ||
        mta_put(temp, "threshold_ms", PyFloat_FromDouble((double)S->temporary_ns / 1e6)) ||
        put_est(temp, "bytes", S->temporary) || put_est(temp, "blocks", S->temporary_count))
        goto fail;
    /* mta_put steals: clear each pointer as it is handed over. */
    int rc = mta_put(out, "peak", peak);
    peak = NULL;
    if (!rc) rc = mta_put(out, "leaked", leaked);
    leaked = NULL;
    if (!rc) rc = mta_put(out, "allocated", alloc);
    alloc = NULL;
    if (!rc) rc = mta_put(out, "temporary", temp);
    temp = NULL;
    if (rc) goto fail;
    return 0;
fail:
    Py_XDECREF(peak);
    Py_XDECREF(leaked);
    Py_XDECREF(alloc);
    Py_XDECREF(temp);
    return -1;
}

static PyObject *histogram_list(const mt_trace *t) {
    mt_trace_size_class hist[MT_TRACE_SIZE_CLASSES];
    mt_trace_histogram(t, hist);
    PyObject *l = PyList_New(0);
    for (int k = 0; l && k < MT_TRACE_SIZE_CLASSES; k++) {
        if (hist[k].count.value == 0) continue;
        PyObject *d = PyDict_New();
        if (!d || mta_put(d, "low", mta_u64(hist[k].low)) || mta_put(d, "high", mta_u64(hist[k].high)) ||
            put_est(d, "blocks", hist[k].count) || put_est(d, "bytes", hist[k].bytes) || mta_append(l, d)) {
            Py_XDECREF(d);
            Py_CLEAR(l);
        }
    }
    return l;
}

static PyObject *curve_list(const mt_trace *t, size_t points) {
    PyObject *l = PyList_New(0);
    if (!l || !points) return l;
    /* mt_trace_curve() fills at most MT_TRACE_CURVE_RES points: ask no more room. */
    if (points > MT_TRACE_CURVE_RES) points = MT_TRACE_CURVE_RES;
    mt_trace_point *pt = calloc(points, sizeof *pt);
    if (!pt) {
        Py_DECREF(l);
        return PyErr_NoMemory();
    }
    size_t got = 0;
    mt_trace_curve(t, points, pt, &got);
    for (size_t i = 0; i < got; i++) {
        PyObject *row = Py_BuildValue("(ddd)", (double)pt[i].time_ns / 1e9, pt[i].max_bytes, pt[i].end_bytes);
        if (mta_append(l, row)) {
            Py_CLEAR(l);
            break;
        }
    }
    free(pt);
    return l;
}

static PyObject *py_trace(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = { "path", "at", "at_step", "by", "top", "stack", "temporary_ms", "curve", "salvage",
                              "no_checkpoints", NULL };
    PyObject *pathobj = NULL, *at_obj = Py_None, *top_obj = NULL, *curve_obj = NULL;
    const char *at_step = NULL, *byname = "peak";
    unsigned long long top = 10, points = 200;
    int whole = 0, salvage = 0, no_cp = 0;
    double temp_ms = 1.0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|OzsOpdOpp:trace", kwlist, PyUnicode_FSConverter, &pathobj, &at_obj,
                                     &at_step, &byname, &top_obj, &whole, &temp_ms, &curve_obj, &salvage, &no_cp))
        return NULL;
    const char *path = PyBytes_AS_STRING(pathobj);
    PyObject *out = NULL;
    mt_trace *t = NULL;
    mt_trace_site *sites = NULL;
    size_t n = 0;
    double at_s = -1;
    int by = name_index(by_names, "by", byname);
    if (by < 0) goto done;
    if (mta_count(top_obj, "top", &top) || mta_count(curve_obj, "curve", &points)) goto done;
    if (!(temp_ms >= 0 && temp_ms <= 1e9)) {
        char v[32];
        snprintf(v, sizeof v, "%g", temp_ms);
        PyErr_Format(PyExc_ValueError, "temporary_ms must be from 0 to 1e9 milliseconds, got %s", v);
        goto done;
    }
    if (at_obj != Py_None) {
        at_s = PyFloat_AsDouble(at_obj);
        if (at_s == -1 && PyErr_Occurred()) goto done;
        if (!(at_s >= 0 && at_s <= 1e10)) {
            PyErr_Format(PyExc_ValueError, "at must be seconds after the start, from 0 to 1e10, got %R", at_obj);
            goto done;
        }
        if (at_step) {
            PyErr_SetString(PyExc_ValueError, "at and at_step name one moment: give one of them");
            goto done;
        }
    }
    mt_trace_opts to = { (uint64_t)llround(temp_ms * 1e6), 1, NULL, NULL };
    if (!(t = open_trace(path, (salvage ? MT_LOAD_SALVAGE : 0) | (no_cp ? MT_TRACE_NO_CHECKPOINTS : 0), &to)))
        goto done;
    mt_trace_summary S;
    mt_trace_summary_get(t, &S);
    mt_trace_summary_floor(t, &S);
    mt_trace_at at = { MT_TRACE_AT_PEAK, 0 };
    if (at_step) {
        const mt_trace_step *st = mt_trace_step_find(t, at_step);
        if (!st) {
            mt_diag d = { 0 };
            mt_diag_clear(&d);
            mt_diag_set(&d, MT_E_NOTFOUND, "no step named '%.100s' (%zu steps)", at_step, mt_trace_step_count(t));
            mta_raise(path, MT_E_NOTFOUND, &d);
            goto done;
        }
        at = (mt_trace_at){ MT_TRACE_AT_TIME, st->time_ns };
    } else if (at_s >= 0)
        at = (mt_trace_at){ MT_TRACE_AT_TIME, (uint64_t)llround(at_s * 1e9) };
    if (sites_of(t, path, &at, &sites, &n)) goto done;
    /* The total at a time, before the floors, as memtrace-trace sums it. */
    mt_est at_bytes = S.peak;
    uint64_t at_ns = S.peak_ns;
    if (at.when == MT_TRACE_AT_TIME) {
        at_bytes = mt_trace_sites_live_total(t, sites, n);
        at_ns = at.time_ns;
    }
    mt_trace_sites_sort(sites, n, (mt_trace_by)by);
    mt_trace_sites_floor(t, sites, n);
    size_t shown = top && n > (size_t)top ? (size_t)top : n;
    PyObject *list = NULL, *atd = NULL;
    int rc;
    if (!(out = PyDict_New()) || mta_put(out, "file", PyUnicode_DecodeFSDefault(path)) ||
        put_summary(out, t, &S))
        goto fail;
    if (at.when == MT_TRACE_AT_TIME) {
        if (!(atd = PyDict_New()) || mta_put(atd, "time_s", PyFloat_FromDouble((double)at_ns / 1e9)) ||
            put_step(atd, mt_trace_step_at(t, at_ns)) || put_est(atd, "bytes", at_bytes))
            goto fail;
        rc = mta_put(out, "at", atd);
        atd = NULL;
        if (rc) goto fail;
    } else if (mta_put(out, "at", (Py_INCREF(Py_None), Py_None)))
        goto fail;
    if (mta_put(out, "by", PyUnicode_FromString(by_names[by])) ||
        mta_put(out, "live_at", PyUnicode_FromString(at.when == MT_TRACE_AT_TIME ? "at" : "peak")) ||
        !(list = PyList_New(0)))
        goto fail;
    const mt_sites *tab = mt_trace_stacks(t);
    for (size_t i = 0; i < shown; i++)
        if (mta_append(list, site_dict(tab, &sites[i], whole))) goto fail;
    rc = mta_put(out, "sites", list);
    list = NULL;
    if (rc || mta_put(out, "histogram", histogram_list(t)) || mta_put(out, "curve", curve_list(t, (size_t)points)) ||
        mta_put(out, "warnings", warnings_of(&S, &at)))
        goto fail;
    goto done;
fail:
    Py_XDECREF(list);
    Py_XDECREF(atd);
    Py_CLEAR(out);
done:
    free(sites);
    mt_trace_free(t);
    Py_XDECREF(pathobj);
    return out;
}

static PyObject *py_trace_folded(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = { "path", "by", "salvage", NULL };
    PyObject *pathobj = NULL;
    const char *byname = "peak";
    int salvage = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|sp:trace_folded", kwlist, PyUnicode_FSConverter, &pathobj, &byname,
                                     &salvage))
        return NULL;
    const char *path = PyBytes_AS_STRING(pathobj);
    PyObject *out = NULL;
    mt_trace *t = NULL;
    mt_trace_site *sites = NULL;
    size_t n = 0;
    int f = name_index(folded_names, "by", byname);
    if (f < 0 || !(t = open_trace(path, salvage ? MT_LOAD_SALVAGE : 0, NULL))) goto done;
    /* The whole-trace figures need no replay: the end's, as the tool. */
    mt_trace_at at = { f > 0 ? MT_TRACE_AT_END : MT_TRACE_AT_PEAK, 0 };
    if (sites_of(t, path, &at, &sites, &n)) goto done;
    mt_trace_sites_sort(sites, n, folded_by[f]);
    if (!(out = PyList_New(0))) goto done;
    for (size_t i = 0; i < n; i++) {
        double v = f == 3 ? sites[i].temporary.value : mt_trace_site_figure(&sites[i], folded_by[f]).value;
        long long b = llround(v);
        if (b <= 0) continue;
        size_t need = mt_trace_folded(t, sites[i].stack, NULL, 0);
        char *txt = malloc(need + 1);
        if (!txt) {
            PyErr_NoMemory();
            Py_CLEAR(out);
            break;
        }
        mt_trace_folded(t, sites[i].stack, txt, need + 1);
        PyObject *row = Py_BuildValue("(NL)", mta_str(txt, need), b);
        free(txt);
        if (mta_append(out, row)) {
            Py_CLEAR(out);
            break;
        }
    }
done:
    free(sites);
    mt_trace_free(t);
    Py_XDECREF(pathobj);
    return out;
}

PyMethodDef mta_trace_methods[] = {
    { "trace", (PyCFunction)(void (*)(void))py_trace, METH_VARARGS | METH_KEYWORDS,
      "trace($module, /, path, at=None, at_step=None, by='peak', top=10, stack=False, temporary_ms=1.0, curve=200, "
      "salvage=False, no_checkpoints=False)\n--\n\n"
      "memtrace-trace --format json --histogram as a dict, with the live-bytes curve (curve points of "
      "(time_s, max_bytes, end_bytes)) and the tool's warnings." },
    { "trace_folded", (PyCFunction)(void (*)(void))py_trace_folded, METH_VARARGS | METH_KEYWORDS,
      "trace_folded($module, /, path, by='peak', salvage=False)\n--\n\n"
      "memtrace-trace --folded BY as a list of (frames, bytes)." },
    { NULL, NULL, 0, NULL },
};
