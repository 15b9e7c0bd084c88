/* memtrace._analyze: the peak memory of a pandas operation before it runs
 * (memtrace-predict's analysis). predict() returns what memtrace-predict
 * --format json prints, as a dict. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "common/cli.h"
#include "extra.h"
#include "memtrace/predict.h"

/* memtrace-predict's rule: a --shapes value names a file when one is
 * there, or it has no '='; otherwise it is inline shapes. */
static int is_file(const char *v) {
    struct stat st;
    return !strchr(v, '=') || stat(v, &st) == 0;
}

/* A number as the tool's JSON writes it: rounded to a whole byte, 0 for
 * a negative one, None when not finite. */
static PyObject *num(double v) {
    if (!isfinite(v)) Py_RETURN_NONE;
    return mta_u64(v > 0 ? (uint64_t)llround(v) : 0);
}

static PyObject *strs(char **v, size_t n) {
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *s = mta_cstr_or_none(v[i]);
        if (!s) Py_CLEAR(l);
        else PyList_SET_ITEM(l, (Py_ssize_t)i, s);
    }
    return l;
}

static PyObject *prediction_dict(const mt_prediction *p, uint64_t available) {
    PyObject *d = PyDict_New(), *sugg = NULL, *row = NULL;
    if (!d || mta_put(d, "op", PyUnicode_FromString(mt_predict_op_name(p->op))) ||
        mta_put(d, "peak_bytes", num(p->peak_bytes)) || mta_put(d, "result_bytes", num(p->result_bytes)) ||
        mta_put(d, "result_rows", num(p->result_rows)) || mta_put(d, "result_real_bytes", num(p->result_real_bytes)) ||
        mta_put(d, "result_shared_bytes", num(p->result_shared_bytes)) ||
        mta_put(d, "input_bytes", num(p->input_bytes)) ||
        (available > 0 ? mta_put(d, "available_bytes", mta_u64(available))
                       : PyDict_SetItemString(d, "available_bytes", Py_None)) ||
        (p->fits >= 0 ? mta_put(d, "fits", PyBool_FromLong(p->fits)) : PyDict_SetItemString(d, "fits", Py_None)) ||
        (isfinite(p->multiplier) ? mta_put(d, "multiplier", PyFloat_FromDouble(round(p->multiplier * 1000) / 1000))
                                 : PyDict_SetItemString(d, "multiplier", Py_None)) ||
        mta_put(d, "model", PyUnicode_FromString(p->model ? p->model : "")) ||
        mta_put(d, "pandas", PyUnicode_FromString(mt_predict_pandas_version())) ||
        mta_put(d, "warnings", strs(p->warnings, p->n_warnings)) || !(sugg = PyList_New(0)))
        goto fail;
    for (size_t i = 0; i < p->n_suggestions; i++) {
        if (!(row = PyDict_New()) || mta_put(row, "text", mta_cstr_or_none(p->suggestions[i].text)) ||
            mta_put(row, "peak_bytes", num(p->suggestions[i].peak_bytes)) || PyList_Append(sugg, row))
            goto fail;
        Py_CLEAR(row);
    }
    if (mta_put(d, "suggestions", sugg)) {
        sugg = NULL;
        goto fail;
    }
    sugg = NULL;
    if (mta_put(d, "assumptions", strs(p->assumptions, p->n_assumptions))) goto fail;
    return d;
fail:
    Py_XDECREF(row);
    Py_XDECREF(sugg);
    Py_XDECREF(d);
    return NULL;
}

/* A list-of-names argument: None, a str with commas (as the tool's
 * option) or a sequence of str. @return 0, or -1 with an exception set. */
static int names_arg(PyObject *o, const char *what, mt_names *out, PyObject **keep) {
    out->v = NULL;
    out->n = 0;
    *keep = NULL;
    if (!o || o == Py_None) return 0;
    PyObject *seq;
    if (PyUnicode_Check(o)) {
        PyObject *comma = PyUnicode_FromString(",");
        if (!comma) return -1;
        seq = PyUnicode_Split(o, comma, -1);
        Py_DECREF(comma);
    } else {
        Py_INCREF(o);
        seq = o;
    }
    if (!seq) return -1;
    size_t n;
    const char **v = mta_strings(seq, what, &n, keep);
    Py_DECREF(seq);
    if (!v) return -1;
    for (size_t i = 0; i < n; i++)
        if (!*v[i]) {
            free(v);
            Py_CLEAR(*keep);
            PyErr_Format(PyExc_ValueError, "%s has an empty name", what);
            return -1;
        }
    out->v = v;
    out->n = n;
    return 0;
}

static PyObject *py_predict(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = { "op", "shapes", "left", "right", "on", "how", "frame", "by", "agg", "columns",
                              "observed", "index", "values", "aggfunc", "frames", "csv", "sample_rows",
                              "available", NULL };
    const char *opname, *left = NULL, *right = NULL, *how = NULL, *frame = NULL, *agg = NULL, *index = NULL,
                        *values = NULL, *aggfunc = NULL;
    PyObject *shapes_obj = Py_None, *on = Py_None, *by = Py_None, *columns = Py_None, *observed = Py_None,
             *frames = Py_None, *csv_obj = NULL;
    unsigned long long sample_rows = 0, available = 0;
    PyObject *sample_rows_o = NULL, *available_o = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|OzzOzzOzOOzzzOO&OO:predict", kwlist, &opname, &shapes_obj, &left,
                                     &right, &on, &how, &frame, &by, &agg, &columns, &observed, &index, &values,
                                     &aggfunc, &frames, PyUnicode_FSConverter, &csv_obj, &sample_rows_o,
                                     &available_o))
        return NULL;
    if (mta_count(sample_rows_o, "sample_rows", &sample_rows) || mta_count(available_o, "available", &available)) {
        Py_XDECREF(csv_obj);
        return NULL;
    }
    mt_predict_request q = { .op = MT_PREDICT_N_OPS, .observed = -1 };
    PyObject *out = NULL, *keep_on = NULL, *keep_by = NULL, *keep_cols = NULL, *keep_frames = NULL, *shapes_bytes = NULL;
    mt_snapshot *s = NULL;
    mt_df_table *t = NULL;
    mt_shapes *shapes = NULL;
    mt_prediction p;
    memset(&p, 0, sizeof p);
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    const char *where = NULL;
    if (mt_predict_op_from_name(opname, &q.op)) {
        PyErr_Format(PyExc_ValueError, "op must be merge, groupby, pivot_table, concat, sort or read_csv, not '%s'",
                     opname);
        goto done;
    }
    q.left = left;
    q.right = right;
    q.how = how;
    q.frame = frame;
    q.agg = agg;
    q.index = index;
    q.values = values;
    q.aggfunc = aggfunc;
    q.csv = csv_obj ? PyBytes_AS_STRING(csv_obj) : NULL;
    q.sample_rows = sample_rows;
    if (observed != Py_None) {
        int v = PyObject_IsTrue(observed);
        if (v < 0) goto done;
        q.observed = v;
    }
    if (names_arg(on, "on", &q.on, &keep_on) || names_arg(by, "by", &q.by, &keep_by) ||
        names_arg(frames, "frames", &q.frames, &keep_frames))
        goto done;
    if (columns != Py_None) {
        if (q.op == MT_PREDICT_PIVOT_TABLE) {
            if (!PyUnicode_Check(columns)) {
                PyErr_SetString(PyExc_TypeError, "pivot_table's columns is one column name (str)");
                goto done;
            }
            if (!(q.pivot_columns = PyUnicode_AsUTF8(columns))) goto done;
        } else if (names_arg(columns, "columns", &q.columns, &keep_cols)) {
            goto done;
        }
    }
    if (q.op == MT_PREDICT_READ_CSV && !q.csv) {
        PyErr_SetString(PyExc_ValueError, "predict('read_csv') needs csv=PATH");
        goto done;
    }
    if (q.op != MT_PREDICT_READ_CSV && shapes_obj == Py_None) {
        PyErr_Format(PyExc_ValueError, "predict('%s') needs shapes=: a snapshot of memtrace.dump_frames or inline shapes",
                     opname);
        goto done;
    }
    if (!available) available = (unsigned long long)mt_cli_mem_available();
    q.available_bytes = (double)available;
    if (q.op != MT_PREDICT_READ_CSV) {
        /* A path object is a file; a str is one when memtrace-predict
         * would take it for one. */
        int path_like = !PyUnicode_Check(shapes_obj);
        if (!PyUnicode_FSConverter(shapes_obj, &shapes_bytes)) goto done;
        const char *arg = PyBytes_AS_STRING(shapes_bytes);
        where = arg;
        if (path_like || is_file(arg)) {
            if (!(s = mta_load(arg, 0, 0))) goto done;
            int rc;
            diag.file = arg;
            Py_BEGIN_ALLOW_THREADS
            rc = mt_df_table_load(s, &t, &diag);
            Py_END_ALLOW_THREADS
            if (rc) {
                mta_raise(arg, rc, &diag);
                goto done;
            }
            if ((rc = mt_shapes_from_snapshot(s, t, &shapes, &diag))) {
                mta_raise(arg, rc, &diag);
                goto done;
            }
        } else {
            int rc = mt_shapes_parse(arg, &shapes, &diag);
            if (rc) {
                /* As memtrace-predict says it: the argument, the
                 * character, and the text with a caret under it. */
                size_t cap = 2 * strlen(arg) + sizeof diag.msg + 64;
                char *text = malloc(cap);
                if (!text) {
                    PyErr_NoMemory();
                    goto done;
                }
                snprintf(text, cap, "shapes: character %u: %s\n  %s\n  %*s^", (unsigned)diag.column, diag.msg, arg,
                         diag.column ? (int)diag.column - 1 : 0, "");
                mta_raise_text(text, NULL, rc, &diag);
                free(text);
                goto done;
            }
        }
    } else {
        where = q.csv;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_predict_run(shapes, &q, &p, &diag);
    Py_END_ALLOW_THREADS
    if (rc) {
        /* A request at fault names no file; read_csv's errors name theirs. */
        mta_raise(rc == MT_E_INVAL || rc == MT_E_NOTFOUND ? NULL : diag.file ? diag.file : where, rc, &diag);
        goto done;
    }
    out = prediction_dict(&p, available);
done:
    mt_prediction_free(&p);
    mt_shapes_free(shapes);
    mt_df_table_free(t);
    mt_snapshot_free(s);
    free((void *)q.on.v);
    free((void *)q.by.v);
    free((void *)q.columns.v);
    free((void *)q.frames.v);
    Py_XDECREF(keep_on);
    Py_XDECREF(keep_by);
    Py_XDECREF(keep_cols);
    Py_XDECREF(keep_frames);
    Py_XDECREF(shapes_bytes);
    Py_XDECREF(csv_obj);
    return out;
}

PyMethodDef mta_predict_methods[] = {
    { "predict", (PyCFunction)(void (*)(void))py_predict, METH_VARARGS | METH_KEYWORDS,
      "predict($module, /, op, shapes=None, left=None, right=None, on=None, how=None, frame=None, by=None,\n"
      "        agg=None, columns=None, observed=None, index=None, values=None, aggfunc=None, frames=None,\n"
      "        csv=None, sample_rows=0, available=0)\n--\n\nmemtrace-predict --format json as a dict." },
    { NULL, NULL, 0, NULL },
};
