/* memtrace._analyze: rule files applied to DataFrame snapshots and
 * pipeline dumps (memtrace-advise's analysis). advise() returns what
 * memtrace-advise --format json prints, as dicts and lists. */
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"
#include "extra.h"
#include "memtrace/advise.h"
#include "memtrace/gpu.h"

/* A rule set: the shipped rules unless no_defaults, then each file of
 * rule_files in order; NULL with the exception raised (a rule file that
 * is not YAML or has a wrong rule: BadInputError with its line and
 * column; one that cannot be read: FileError). */
mt_rules *mta_rules_make(PyObject *rule_files, int no_defaults) {
    mt_rules *rules = NULL;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    if (mt_rules_new(&rules)) return (mt_rules *)PyErr_NoMemory();
    if (!no_defaults && mt_rules_add(rules, "rules/default.yaml", mt_default_rules, mt_default_rules_len, &diag)) {
        mta_raise("rules/default.yaml", diag.code, &diag);
        mt_rules_free(rules);
        return NULL;
    }
    if (rule_files && rule_files != Py_None) {
        PyObject *keep;
        size_t n;
        const char **files = mta_paths(rule_files, "rules", &n, &keep);
        if (!files) {
            mt_rules_free(rules);
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            int rc;
            Py_BEGIN_ALLOW_THREADS
            rc = mt_rules_add_file(rules, files[i], &diag);
            Py_END_ALLOW_THREADS
            if (rc) {
                mta_raise(files[i], rc, &diag);
                mt_rules_free(rules);
                rules = NULL;
                break;
            }
        }
        free(files);
        Py_DECREF(keep);
    }
    return rules;
}

/* One input file and what the rules made of it (as memtrace-advise's). */
typedef struct input {
    const char *file;
    mt_snapshot *s;
    mt_df_table *t;
    mt_gpu_device *gpus;
    size_t n_gpus;
    mt_gpu_report *gr;      /* the allocator's measures; NULL: no allocator state */
    mt_advice_list *advice;
} input;

static int to_datetime(const mt_advice *a) { return a->to_dtype && !strncmp(a->to_dtype, "datetime64", 10); }

/* json_effect of memtrace-advise: None, or the effect's dict. */
static PyObject *effect(const input *in, const struct mt_advice_effect *e, const char *basis, int peak) {
    if (!e->known) Py_RETURN_NONE;
    PyObject *d = PyDict_New();
    if (!d || mta_put(d, "step", mta_cstr_or_none(in->t->steps[e->step].name)) ||
        mta_put(d, "basis", mta_cstr_or_none(basis)) || mta_put(d, "memory_bytes", mta_u64((uint64_t)e->memory)) ||
        (!peak && mta_put(d, "frames_bytes", mta_u64(e->frames_bytes))) ||
        (peak && mta_put(d, "then_step", mta_cstr_or_none(in->t->steps[e->then_step].name))) ||
        (peak && mta_put(d, "then_bytes", mta_u64((uint64_t)e->then_memory))) ||
        mta_put(d, "saving_bytes", mta_u64(e->saving_bytes))) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *advice_dict(const input *in, const mt_advice *a) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    const mt_df_table *t = in->t;
    if (mta_put(d, "file", mta_path_str(in->file)) || mta_put(d, "rule", mta_cstr_or_none(a->rule)) ||
        mta_put(d, "severity", mta_cstr_or_none(mt_severity_name(a->severity))) ||
        mta_put(d, "scope", mta_cstr_or_none(a->scope)) || mta_put(d, "kind", mta_cstr_or_none(a->kind)) ||
        mta_put(d, "frame", mta_cstr_or_none(a->frame)) || mta_put(d, "column", mta_cstr_or_none(a->column)) ||
        mta_put(d, "step", mta_cstr_or_none(a->step)) || mta_put(d, "device", mta_cstr_or_none(a->device)) ||
        mta_put(d, "from_dtype", mta_cstr_or_none(a->from_dtype)) ||
        mta_put(d, "to_dtype", mta_cstr_or_none(a->to_dtype)))
        goto fail;
    if (to_datetime(a) && t && a->column_index < t->n_columns && t->columns[a->column_index].rec.datetime_format.len) {
        if (mta_put(d, "datetime_format", mta_cstr_or_none(t->columns[a->column_index].rec.datetime_format.ptr)))
            goto fail;
    } else if (PyDict_SetItemString(d, "datetime_format", Py_None)) {
        goto fail;
    }
    if (mta_put(d, "bytes", mta_u64(a->bytes)) || mta_put(d, "saving_bytes", mta_u64(a->saving_bytes)) ||
        mta_put(d, "in_total", PyBool_FromLong(a->in_total)) ||
        (a->chunks ? mta_put(d, "chunks", mta_u64(a->chunks)) : PyDict_SetItemString(d, "chunks", Py_None)) ||
        mta_put(d, "lossless", PyBool_FromLong(a->lossless)) || mta_put(d, "message", mta_cstr_or_none(a->message)))
        goto fail;
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

/* What memtrace-advise --format json prints for ins. */
static PyObject *advise_dict(const input *ins, size_t n, uint64_t available, int pandas_bytes) {
    uint64_t total = 0, data = 0;
    for (size_t k = 0; k < n; k++) {
        total += ins[k].advice->total_saving_bytes;
        data += ins[k].advice->data_bytes;
    }
    PyObject *out = PyDict_New(), *files = NULL, *advice = NULL, *row = NULL;
    if (!out || mta_put(out, "bytes", PyUnicode_FromString(pandas_bytes ? "pandas" : "real")) ||
        mta_put(out, "total_saving_bytes", mta_u64(total)) || mta_put(out, "data_bytes", mta_u64(data)) ||
        mta_put(out, "resulting_bytes", mta_u64(data - (total < data ? total : data))) ||
        (available > 0 ? mta_put(out, "available_bytes", mta_u64(available))
                       : PyDict_SetItemString(out, "available_bytes", Py_None)) ||
        !(files = PyList_New(0)) || !(advice = PyList_New(0)))
        goto fail;
    for (size_t k = 0; k < n; k++) {
        const mt_advice_list *l = ins[k].advice;
        if (!(row = PyDict_New()) || mta_put(row, "file", mta_path_str(ins[k].file)) ||
            mta_put(row, "total_saving_bytes", mta_u64(l->total_saving_bytes)) ||
            mta_put(row, "data_bytes", mta_u64(l->data_bytes)) ||
            mta_put(row, "columns_changed", mta_u64(l->columns_changed)) ||
            mta_put(row, "columns_repeated", mta_u64(l->columns_repeated)) ||
            mta_put(row, "resident", effect(&ins[k], &l->resident, l->resident_basis, 0)) ||
            mta_put(row, "peak", effect(&ins[k], &l->peak, "traced_peak", 1)) ||
            mta_put(row, "rss", effect(&ins[k], &l->rss, "rss", 0)) || PyList_Append(files, row))
            goto fail;
        Py_CLEAR(row);
        for (size_t i = 0; i < l->n; i++) {
            if (!(row = advice_dict(&ins[k], &l->items[i])) || PyList_Append(advice, row)) goto fail;
            Py_CLEAR(row);
        }
    }
    if (mta_put(out, "files", files)) {
        files = NULL;
        goto fail;
    }
    if (mta_put(out, "advice", advice)) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
fail:
    Py_XDECREF(row);
    Py_XDECREF(files);
    Py_XDECREF(advice);
    Py_XDECREF(out);
    return NULL;
}

/* Loads one input (snapshot, DataFrame records, GPU devices) and applies
 * the rules to it, with the GIL released. @return 0, or an MT_E_* code
 * with diag filled. */
static int advise_one(input *in, int salvage, const mt_rules *rules, const mt_advise_input *proto, mt_diag *diag) {
    int rc = mt_snapshot_load(in->file, salvage ? MT_LOAD_SALVAGE : 0, &in->s, diag);
    if (!rc) rc = mt_advise_load(in->s, &in->t, &in->gpus, &in->n_gpus, &in->gr, diag);
    if (!rc) {
        mt_advise_input ai = *proto;
        ai.table = in->t;
        ai.gpus = in->gpus;
        ai.n_gpus = in->n_gpus;
        ai.gpu_report = in->gr;
        rc = mt_advise(rules, &ai, &in->advice, diag);
    }
    return rc;
}

static PyObject *py_advise(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = { "paths", "rules", "default_rules", "bytes", "available", "int_headroom", "salvage",
                              NULL };
    PyObject *paths, *rule_files = Py_None;
    int defaults = 1, salvage = 0;
    const char *bytes = "real";
    unsigned long long available = 0;
    PyObject *available_o = NULL;
    int headroom = MT_ADVISE_INT_HEADROOM_DEFAULT;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OpsOip:advise", kwlist, &paths, &rule_files, &defaults, &bytes,
                                     &available_o, &headroom, &salvage) ||
        mta_count(available_o, "available", &available))
        return NULL;
    int pandas_bytes;
    if (!strcmp(bytes, "real")) pandas_bytes = 0;
    else if (!strcmp(bytes, "pandas")) pandas_bytes = 1;
    else {
        PyErr_Format(PyExc_ValueError, "bytes must be 'real' or 'pandas', not '%s'", bytes);
        return NULL;
    }
    if (headroom < 0 || headroom > 56) {
        PyErr_Format(PyExc_ValueError, "int_headroom must be 0 to 56, not %d", headroom);
        return NULL;
    }
    PyObject *keep;
    size_t n;
    const char **files = mta_paths(paths, "paths", &n, &keep);
    if (!files) return NULL;
    if (!n) {
        free(files);
        Py_DECREF(keep);
        PyErr_SetString(PyExc_ValueError, "advise() needs at least one snapshot");
        return NULL;
    }
    PyObject *out = NULL;
    input *ins = calloc(n, sizeof *ins);
    mt_rules *rules = ins ? mta_rules_make(rule_files, !defaults) : (mt_rules *)PyErr_NoMemory();
    if (rules && !mt_rules_count(rules)) {
        PyErr_SetString(PyExc_ValueError, "no rules to apply: default_rules=False needs rules=[FILE, ...]");
        goto done;
    }
    if (!rules) goto done;
    /* The available memory is the machine's unless given, as the tool's. */
    if (!available) available = (unsigned long long)mt_cli_mem_available();
    mt_advise_input proto = { NULL, NULL, 0, (double)available, pandas_bytes, headroom, NULL };
    for (size_t k = 0; k < n; k++) {
        mt_diag diag = { 0 };
        mt_diag_clear(&diag);
        ins[k].file = files[k];
        diag.file = files[k];
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = advise_one(&ins[k], salvage, rules, &proto, &diag);
        Py_END_ALLOW_THREADS
        if (rc) {
            mta_raise(files[k], rc, &diag);
            goto done;
        }
    }
    out = advise_dict(ins, n, available, pandas_bytes);
done:
    for (size_t k = 0; ins && k < n; k++) {
        mt_advice_list_free(ins[k].advice);
        mt_gpu_devices_free(ins[k].gpus, ins[k].n_gpus);
        mt_gpu_report_free(ins[k].gr);
        mt_df_table_free(ins[k].t);
        mt_snapshot_free(ins[k].s);
    }
    free(ins);
    mt_rules_free(rules);
    free(files);
    Py_DECREF(keep);
    return out;
}

/* memtrace-advise --list-rules: every rule of the set, enabled or not. */
static PyObject *py_advise_rules(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = { "rules", "default_rules", NULL };
    PyObject *rule_files = Py_None;
    int defaults = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|Op:advise_rules", kwlist, &rule_files, &defaults)) return NULL;
    mt_rules *rules = mta_rules_make(rule_files, !defaults);
    if (!rules) return NULL;
    PyObject *list = PyList_New(0), *row = NULL;
    for (size_t i = 0; list && i < mt_rules_count(rules); i++) {
        mt_rule_info ri;
        mt_rules_get(rules, i, &ri);
        if (!(row = PyDict_New()) || mta_put(row, "rule", mta_cstr_or_none(ri.id)) ||
            mta_put(row, "severity", mta_cstr_or_none(mt_severity_name(ri.severity))) ||
            mta_put(row, "scope", mta_cstr_or_none(ri.scope)) || mta_put(row, "kind", mta_cstr_or_none(ri.kind)) ||
            mta_put(row, "enabled", PyBool_FromLong(ri.enabled)) || mta_put(row, "file", mta_path_str(ri.file)) ||
            mta_put(row, "line", mta_u64(ri.line)) ||
            mta_put(row, "description", mta_cstr_or_none(ri.description)) || PyList_Append(list, row))
            Py_CLEAR(list);
        Py_CLEAR(row);
    }
    mt_rules_free(rules);
    return list;
}

PyMethodDef mta_advise_methods[] = {
    { "advise", (PyCFunction)(void (*)(void))py_advise, METH_VARARGS | METH_KEYWORDS,
      "advise($module, /, paths, rules=None, default_rules=True, bytes='real', available=0, int_headroom=8,\n"
      "       salvage=False)\n--\n\nmemtrace-advise --format json as a dict." },
    { "advise_rules", (PyCFunction)(void (*)(void))py_advise_rules, METH_VARARGS | METH_KEYWORDS,
      "advise_rules($module, /, rules=None, default_rules=True)\n--\n\nmemtrace-advise --list-rules as a list of dicts." },
    { NULL, NULL, 0, NULL },
};
