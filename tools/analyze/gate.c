/* memtrace._analyze: memory budgets over a baseline and a current run
 * (memtrace-gate's analysis). gate() returns every check's verdict and
 * values as dicts; the sentences are the tool's. */
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"
#include "extra.h"
#include "memtrace/gate.h"

/* memtrace-gate's policy when none is given. */
static const char default_policy[] = "budgets:\n  total_growth_percent: 10\n";

static PyObject *offender_dict(const mt_gate_check *c, const mt_gate_offender *o) {
    PyObject *d = PyDict_New();
    if (!d || mta_put(d, "name", mta_cstr_or_none(o->name)) || mta_put(d, "bytes_a", mta_u64(o->bytes_a)) ||
        mta_put(d, "bytes_b", mta_u64(o->bytes_b)) || mta_put(d, "percent", PyFloat_FromDouble(o->percent)) ||
        mta_put(d, "limit", PyFloat_FromDouble(o->limit)) || mta_put(d, "allowance", mta_cstr_or_none(o->allowance)) ||
        mta_put(d, "objects", mta_u64(o->objects)) || mta_put(d, "bytes", mta_u64(o->bytes)) ||
        mta_put(d, "confidence", PyFloat_FromDouble(o->confidence)) || mta_put(d, "path", mta_cstr_or_none(o->path)) ||
        mta_put(d, "severity",
                c->kind == MT_GATE_ADVICE_SEVERITY ? PyUnicode_FromString(mt_severity_name(o->severity))
                                                   : (Py_INCREF(Py_None), Py_None)) ||
        mta_put(d, "message", mta_cstr_or_none(o->message))) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *check_dict(const mt_gate_check *c) {
    PyObject *d = PyDict_New(), *offs = NULL, *row = NULL;
    if (!d || mta_put(d, "budget", PyUnicode_FromString(c->budget)) ||
        mta_put(d, "passed", PyBool_FromLong(c->passed)) || mta_put(d, "limit", PyFloat_FromDouble(c->limit)) ||
        mta_put(d, "actual", PyFloat_FromDouble(c->actual)) || mta_put(d, "bytes_a", mta_u64(c->bytes_a)) ||
        mta_put(d, "bytes_b", mta_u64(c->bytes_b)) || mta_put(d, "percent", PyFloat_FromDouble(c->percent)) ||
        mta_put(d, "group", mta_cstr_or_none(c->group)) || mta_put(d, "series", mta_cstr_or_none(c->series)) ||
        mta_put(d, "where", mta_cstr_or_none(c->where)) || mta_put(d, "known_suspects", mta_u64(c->n_known)) ||
        mta_put(d, "advice", mta_u64(c->n_advice)) || !(offs = PyList_New(0)))
        goto fail;
    for (size_t i = 0; i < c->n_offenders; i++) {
        if (!(row = offender_dict(c, &c->offenders[i])) || PyList_Append(offs, row)) goto fail;
        Py_CLEAR(row);
    }
    if (mta_put(d, "offenders", offs)) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
fail:
    Py_XDECREF(row);
    Py_XDECREF(offs);
    Py_XDECREF(d);
    return NULL;
}

static PyObject *result_dict(const mt_gate_result *r) {
    PyObject *d = PyDict_New(), *checks = NULL, *row = NULL;
    if (!d || mta_put(d, "passed", PyBool_FromLong(r->failed == 0)) || mta_put(d, "failed", mta_u64(r->failed)) ||
        mta_put(d, "budgets", mta_u64(r->n_checks)) || mta_put(d, "by", PyUnicode_FromString(mt_group_by_name(r->by))) ||
        mta_put(d, "baseline_bytes", mta_u64(r->baseline_bytes)) ||
        mta_put(d, "current_bytes", mta_u64(r->current_bytes)) || mta_put(d, "traces", PyBool_FromLong(r->traces)) ||
        mta_put(d, "trace_at_peak", PyBool_FromLong(r->trace_at_peak)) || !(checks = PyList_New(0)))
        goto fail;
    for (size_t i = 0; i < r->n_checks; i++) {
        if (!(row = check_dict(&r->checks[i])) || PyList_Append(checks, row)) goto fail;
        Py_CLEAR(row);
    }
    if (mta_put(d, "checks", checks)) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
fail:
    Py_XDECREF(row);
    Py_XDECREF(checks);
    Py_XDECREF(d);
    return NULL;
}

static PyObject *py_gate(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = { "baseline", "current", "policy", "policy_text", "rules", "available", NULL };
    PyObject *base_obj, *cur_obj, *policy_obj = NULL, *rule_files = Py_None;
    const char *policy_text = NULL;
    unsigned long long available = 0;
    PyObject *available_o = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O&zOO:gate", kwlist, &base_obj, &cur_obj, PyUnicode_FSConverter,
                                     &policy_obj, &policy_text, &rule_files, &available_o))
        return NULL;
    if (mta_count(available_o, "available", &available)) {
        Py_XDECREF(policy_obj);
        return NULL;
    }
    PyObject *out = NULL, *keep_b = NULL, *keep_c = NULL;
    const char **base = NULL, **cur = NULL;
    size_t nb = 0, nc = 0;
    mt_gate_policy *policy = NULL;
    mt_rules *rules = NULL;
    mt_gate_result r;
    memset(&r, 0, sizeof r);
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    const char *policy_path = policy_obj ? PyBytes_AS_STRING(policy_obj) : NULL;
    if (policy_path && policy_text) {
        PyErr_SetString(PyExc_ValueError, "gate() takes a policy file or a policy's text, not both");
        goto done;
    }
    if (!(base = mta_paths(base_obj, "baseline", &nb, &keep_b)) ||
        !(cur = mta_paths(cur_obj, "current", &nc, &keep_c)))
        goto done;
    if (!nb || !nc) {
        PyErr_SetString(PyExc_ValueError, "gate() needs a baseline and a current snapshot");
        goto done;
    }
    int rc;
    const char *pname = policy_path ? policy_path : policy_text ? "(policy text)" : "(default policy)";
    Py_BEGIN_ALLOW_THREADS
    if (policy_path) rc = mt_gate_policy_load(policy_path, &policy, &d);
    else if (policy_text) rc = mt_gate_policy_parse(pname, policy_text, strlen(policy_text), &policy, &d);
    else rc = mt_gate_policy_parse(pname, default_policy, sizeof default_policy - 1, &policy, &d);
    Py_END_ALLOW_THREADS
    if (rc) {
        mta_raise(pname, rc, &d);
        goto done;
    }
    /* The shipped rules and the given ones, as memtrace-gate's. */
    if (!(rules = mta_rules_make(rule_files, 0))) goto done;
    if (!available) available = (unsigned long long)mt_cli_mem_available();
    mt_gate_input in = { base, nb, cur, nc, rules, (double)available };
    Py_BEGIN_ALLOW_THREADS
    rc = mt_gate_run(policy, &in, &r, &d);
    Py_END_ALLOW_THREADS
    if (rc) {
        mta_raise(d.file ? d.file : pname, rc, &d);
        goto done;
    }
    out = result_dict(&r);
done:
    mt_gate_result_free(&r);
    mt_rules_free(rules);
    mt_gate_policy_free(policy);
    free(base);
    free(cur);
    Py_XDECREF(keep_b);
    Py_XDECREF(keep_c);
    Py_XDECREF(policy_obj);
    return out;
}

PyMethodDef mta_gate_methods[] = {
    { "gate", (PyCFunction)(void (*)(void))py_gate, METH_VARARGS | METH_KEYWORDS,
      "gate($module, /, baseline, current, policy=None, policy_text=None, rules=None, available=0)\n--\n\n"
      "memtrace-gate --format json as a dict." },
    { NULL, NULL, 0, NULL },
};
