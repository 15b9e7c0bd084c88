/* memtrace._analyze: the fleet view over many workers' dumps
 * (memtrace/fleet.h), for memtrace.analyze.fleet. _analyze.fleet returns
 * a dict with exactly the fields of memtrace-fleet --format json, so that
 * the two can be compared as they are; the Python wrapper makes its
 * tables DataFrames. */
#include <stdlib.h>
#include "extra.h"

static PyObject *str_or_none(const char *s) {
    if (s && *s) return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "backslashreplace");
    Py_RETURN_NONE;
}

static PyObject *str_of(const char *s) { return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "backslashreplace"); }

static PyObject *deltas(const mt_fleet_delta *d, size_t n, const char *name_key, int count) {
    PyObject *l = PyList_New(0);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *o = PyDict_New();
        if (!o || mta_put(o, name_key, str_of(d[i].name)) ||
            (count && mta_put(o, "count", PyLong_FromUnsignedLongLong(d[i].count))) ||
            mta_put(o, "bytes", PyLong_FromUnsignedLongLong(d[i].bytes)) ||
            (count && mta_put(o, "median_count", PyFloat_FromDouble(d[i].median_count))) ||
            mta_put(o, "median_bytes", PyFloat_FromDouble(d[i].median_bytes)) ||
            mta_put(o, "delta_bytes", PyLong_FromLongLong(d[i].delta_bytes)) || PyList_Append(l, o)) {
            Py_XDECREF(o);
            Py_CLEAR(l);
            break;
        }
        Py_DECREF(o);
    }
    return l;
}

static PyObject *bytes_or_none(int has, uint64_t v) {
    if (has) return PyLong_FromUnsignedLongLong(v);
    Py_RETURN_NONE;
}

/* The fleet as memtrace-fleet --format json writes it. */
static PyObject *fleet_dict(const mt_fleet *F) {
    PyObject *r = PyDict_New(), *spread = PyDict_New(), *workers = PyList_New(0), *outliers = PyList_New(0),
             *leaks = PyList_New(0);
    if (!r || !spread || !workers || !outliers || !leaks) goto fail;
    if (mta_put(r, "threshold", PyFloat_FromDouble(F->threshold))) goto fail;
    for (int m = 0; m < MT_FLEET_METRICS; m++) {
        const mt_fleet_spread *s = &F->spread[m];
        PyObject *o = PyDict_New();
        if (!o || mta_put(spread, mt_fleet_metric_name((mt_fleet_metric)m), o)) goto fail;
        if (mta_put(o, "workers", PyLong_FromSize_t(s->n)) || mta_put(o, "median_bytes", PyFloat_FromDouble(s->median)) ||
            mta_put(o, "mad_bytes", PyFloat_FromDouble(s->mad)) ||
            mta_put(o, "max_bytes", s->n ? PyFloat_FromDouble(s->max) : (Py_INCREF(Py_None), Py_None)) ||
            mta_put(o, "max_worker", s->n ? str_of(F->workers[s->max_worker].name) : (Py_INCREF(Py_None), Py_None)))
            goto fail;
    }
    for (size_t k = 0; k < F->n_workers; k++) {
        const mt_fleet_worker *fw = &F->workers[k];
        PyObject *o = PyDict_New(), *z = PyDict_New();
        if (!o || !z || PyList_Append(workers, o)) {
            Py_XDECREF(o);
            Py_XDECREF(z);
            goto fail;
        }
        Py_DECREF(o);
        if (mta_put(o, "worker", str_of(fw->name)) || mta_put(o, "host", str_of(fw->host)) ||
            mta_put(o, "pid", PyLong_FromUnsignedLongLong(fw->pid)) || mta_put(o, "dumps", PyLong_FromSize_t(fw->n_dumps)) ||
            mta_put(o, "latest", mta_path_str(fw->n_dumps ? fw->paths[fw->n_dumps - 1] : NULL)) ||
            mta_put(o, "objects", PyLong_FromUnsignedLongLong(fw->objects)) ||
            mta_put(o, "heap_bytes", PyLong_FromUnsignedLongLong(fw->values[MT_FLEET_HEAP])) ||
            mta_put(o, "frames_bytes", PyLong_FromUnsignedLongLong(fw->values[MT_FLEET_FRAMES])) ||
            mta_put(o, "rss_bytes", bytes_or_none(fw->has_rss, fw->values[MT_FLEET_RSS])) ||
            mta_put(o, "unmanaged_bytes", bytes_or_none(fw->has_rss, fw->values[MT_FLEET_UNMANAGED]))) {
            Py_DECREF(z);
            goto fail;
        }
        if (mta_put(o, "z", z)) goto fail; /* took z; o holds it for the scores below */
        for (int m = 0; m < MT_FLEET_METRICS; m++)
            if (mta_put(z, mt_fleet_metric_name((mt_fleet_metric)m), PyFloat_FromDouble(fw->z[m]))) goto fail;
        if (mta_put(o, "outlier", PyBool_FromLong(fw->outlier)) ||
            mta_put(o, "outlier_by", str_or_none(fw->outlier ? mt_fleet_metric_name(fw->worst) : NULL)) ||
            mta_put(o, "types", deltas(fw->types, fw->n_types, "type", 1)) ||
            mta_put(o, "columns", deltas(fw->columns, fw->n_columns, "column", 0)))
            goto fail;
        if (fw->outlier) {
            PyObject *nm = str_of(fw->name);
            if (!nm || PyList_Append(outliers, nm)) {
                Py_XDECREF(nm);
                goto fail;
            }
            Py_DECREF(nm);
        }
    }
    for (size_t i = 0; i < F->n_leaks; i++) {
        const mt_fleet_leak *l = &F->leaks[i];
        PyObject *o = PyDict_New(), *ws = PyList_New(0);
        if (!o || !ws || PyList_Append(leaks, o)) {
            Py_XDECREF(o);
            Py_XDECREF(ws);
            goto fail;
        }
        Py_DECREF(o);
        if (mta_put(o, "type", str_of(l->type)) || mta_put(o, "point_type", str_or_none(l->point_type)) ||
            mta_put(o, "path", str_or_none(l->path)) || mta_put(o, "n_workers", PyLong_FromSize_t(l->n_workers)) ||
            mta_put(o, "of_workers", PyLong_FromSize_t(F->n_series))) {
            Py_DECREF(ws);
            goto fail;
        }
        if (mta_put(o, "workers", ws)) goto fail; /* took ws; o holds it for the names below */
        for (size_t j = 0; j < l->n_workers; j++) {
            PyObject *nm = str_of(F->workers[l->workers[j]].name);
            if (!nm || PyList_Append(ws, nm)) {
                Py_XDECREF(nm);
                goto fail;
            }
            Py_DECREF(nm);
        }
        if (mta_put(o, "bytes_per_snapshot", PyLong_FromUnsignedLongLong(l->bytes_per_snapshot)) ||
            mta_put(o, "objects_per_snapshot", PyLong_FromUnsignedLongLong(l->objects_per_snapshot)) ||
            mta_put(o, "confidence", PyFloat_FromDouble(l->confidence)))
            goto fail;
    }
    /* Each mta_put takes its list, set or not: the ones not yet put are
     * dropped at fail. */
    PyObject *v;
    v = spread, spread = NULL;
    if (mta_put(r, "spread", v)) goto fail;
    v = workers, workers = NULL;
    if (mta_put(r, "workers", v)) goto fail;
    v = outliers, outliers = NULL;
    if (mta_put(r, "outliers", v) || mta_put(r, "leaks_analyzed", PyBool_FromLong(F->leaks_done)) ||
        mta_put(r, "series_workers", PyLong_FromSize_t(F->n_series)))
        goto fail;
    v = leaks, leaks = NULL;
    if (mta_put(r, "leaks", v)) goto fail;
    return r;
fail:
    Py_XDECREF(r);
    Py_XDECREF(spread);
    Py_XDECREF(workers);
    Py_XDECREF(outliers);
    Py_XDECREF(leaks);
    return NULL;
}

/* fleet(paths, threshold=3.5, top=10, leaks=True, salvage=False) */
static PyObject *py_fleet(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "paths", "threshold", "top", "leaks", "salvage", NULL };
    PyObject *seq;
    double threshold = MT_FLEET_THRESHOLD;
    unsigned long long top = MT_FLEET_TOP;
    PyObject *top_o = NULL;
    int leaks = 1, salvage = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$dOpp", kwlist, &seq, &threshold, &top_o, &leaks, &salvage) ||
        mta_count(top_o, "top", &top))
        return NULL;
    if (top > UINT32_MAX) top = UINT32_MAX; /* more than any fleet has: all, as 0 */
    if (!(threshold >= 0.1 && threshold <= 1000))
        return PyErr_Format(PyExc_ValueError, "threshold must be a number from 0.1 to 1000, not %g", threshold);
    PyObject *fast = PySequence_Fast(seq, "paths must be a sequence of paths");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **enc = calloc((size_t)n + 1, sizeof *enc);
    const char **args_c = calloc((size_t)n + 1, sizeof *args_c);
    PyObject *result = NULL;
    if (!enc || !args_c) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(fast, i), &enc[i])) goto out;
        args_c[i] = PyBytes_AS_STRING(enc[i]);
    }
    mt_diag diag = { .file = NULL };
    mt_diag_clear(&diag);
    char **paths = NULL;
    size_t np = 0;
    mt_fleet F;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_fleet_paths(args_c, (size_t)n, &paths, &np, &diag);
    if (!rc) {
        mt_fleet_opts o = { threshold, top ? (uint32_t)top : UINT32_MAX, !leaks, salvage ? MT_LOAD_SALVAGE : 0, NULL, NULL, NULL };
        rc = mt_fleet_compute((const char *const *)paths, np, &o, &F, &diag);
    }
    Py_END_ALLOW_THREADS
    if (rc) {
        mta_raise(diag.file, rc, &diag);
    } else {
        result = fleet_dict(&F);
        mt_fleet_free(&F);
    }
    mt_fleet_paths_free(paths, np);
out:
    for (Py_ssize_t i = 0; enc && i < n; i++) Py_XDECREF(enc[i]);
    free(enc);
    free(args_c);
    Py_DECREF(fast);
    return result;
}

PyMethodDef mta_fleet_methods[] = {
    { "fleet", (PyCFunction)(void (*)(void))py_fleet, METH_VARARGS | METH_KEYWORDS,
      "fleet(paths, *, threshold=3.5, top=10, leaks=True, salvage=False)\n--\n\n"
      "Many workers' heap dumps (files, or directories of *.snap) compared: a dict with the fields of\n"
      "memtrace-fleet --format json. memtrace.analyze.fleet wraps it in a Result with DataFrames." },
    { NULL, NULL, 0, NULL },
};
