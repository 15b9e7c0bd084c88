/* memtrace._analyze: libanalyze for Python. memtrace/analyze.py wraps it
 * (tables as pandas DataFrames, repr and _repr_html_); this file makes
 * the module, its exceptions and the one error-to-exception mapping. */
#include <string.h>
#include "analyze.h"

PyObject *mta_Error, *mta_BadInputError, *mta_NotFoundError, *mta_FileError;

static PyObject *int_or_none(int64_t v, int64_t none) {
    if (v == none) Py_RETURN_NONE;
    return PyLong_FromLongLong((long long)v);
}

PyObject *mta_raise(const char *path, int rc, const mt_diag *diag) { return mta_raise_text(NULL, path, rc, diag); }

PyObject *mta_raise_text(const char *text, const char *path, int rc, const mt_diag *diag) {
    char where[400];
    mt_diag d = { 0 };
    if (diag) {
        d = *diag;
    } else {
        mt_diag_clear(&d);
        d.code = rc;
    }
    if (!d.msg[0]) snprintf(d.msg, sizeof d.msg, "%s", mt_strerror(rc));
    mt_diag_format(&d, where, sizeof where);
    PyObject *type = mta_Error;
    switch (rc) {
    case MT_E_IO: type = mta_FileError; break;
    case MT_E_NOTFOUND: type = mta_NotFoundError; break;
    case MT_E_NOMEM: PyErr_NoMemory(); return NULL;
    case MT_E_NOTSNAP: case MT_E_VERSION: case MT_E_TRUNCATED: case MT_E_CHECKSUM: case MT_E_CORRUPT:
    case MT_E_MSGPACK: case MT_E_RECORD: case MT_E_DAMAGED: case MT_E_RANGE: case MT_E_LIMIT: case MT_E_PARSE:
    case MT_E_INVAL:
        type = mta_BadInputError;
        break;
    default: break;
    }
    PyObject *msg = text   ? PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace")
                    : path ? PyUnicode_FromFormat("%s: %s", path, where)
                           : PyUnicode_FromString(where);
    if (!msg) return NULL;
    PyObject *exc = PyObject_CallFunctionObjArgs(type, msg, NULL);
    Py_DECREF(msg);
    if (!exc) return NULL;
    PyObject *v;
#define SET(name, expr)                                                        \
    if (!(v = (expr)) || PyObject_SetAttrString(exc, name, v) < 0) {           \
        Py_XDECREF(v);                                                         \
        Py_DECREF(exc);                                                        \
        return NULL;                                                           \
    }                                                                          \
    Py_DECREF(v);
    SET("path", path ? PyUnicode_DecodeFSDefault(path) : (Py_INCREF(Py_None), Py_None));
    SET("code", PyUnicode_FromString(mt_err_name(rc)));
    SET("block", int_or_none(d.block, -1));
    SET("offset", int_or_none(d.offset, -1));
    SET("line", int_or_none(d.line, 0));
    SET("column", int_or_none(d.column, 0));
    SET("reason", PyUnicode_FromString(d.msg));
    /* A file the system would not open or read: errno, strerror and
     * filename as an OSError has them, so that code written for open()'s
     * errors (e.errno == errno.ENOENT) reads this one too. str(e) stays
     * the tool's message (FileError's __str__ is BaseException's). */
    if (type == mta_FileError) {
        if (d.sys_errno) {
            SET("errno", PyLong_FromLong(d.sys_errno));
            SET("strerror", PyUnicode_DecodeLocale(strerror(d.sys_errno), "surrogateescape"));
        }
        if (path) SET("filename", PyUnicode_DecodeFSDefault(path));
    }
#undef SET
    PyErr_SetObject(type, exc);
    Py_DECREF(exc);
    return NULL;
}

int mta_put(PyObject *d, const char *key, PyObject *v) {
    if (!v) return -1;
    int rc = PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
    return rc;
}

int mta_append(PyObject *l, PyObject *v) {
    if (!v) return -1;
    int rc = PyList_Append(l, v);
    Py_DECREF(v);
    return rc;
}

int mta_count(PyObject *o, const char *name, unsigned long long *out) {
    if (!o) return 0;
    if (PyBool_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not bool", name);
        return -1;
    }
    PyObject *v = PyNumber_Index(o);
    if (!v) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", name, Py_TYPE(o)->tp_name);
        }
        return -1;
    }
    int overflow = 0;
    long long s = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (s == -1 && PyErr_Occurred()) {
        Py_DECREF(v);
        return -1;
    }
    if (overflow < 0 || (!overflow && s < 0)) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0, got %R", name, v);
        Py_DECREF(v);
        return -1;
    }
    unsigned long long u = PyLong_AsUnsignedLongLong(v);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_OverflowError, "%s must be < 2**64, got %R", name, v);
        Py_DECREF(v);
        return -1;
    }
    Py_DECREF(v);
    *out = u;
    return 0;
}

static PyMethodDef *const tables[] = { mta_core_methods, mta_graph_methods, mta_advise_methods,
                                       mta_predict_methods, mta_gate_methods, mta_fleet_methods,
                                       mta_trace_methods };
static PyMethodDef methods[128];

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "memtrace._analyze",
    "libanalyze, memtrace's analysis library, for Python (use memtrace.analyze).", -1, methods,
    NULL, NULL, NULL, NULL,
};

static int add_exc(PyObject *m, PyObject **slot, const char *name, PyObject *bases, const char *doc,
                   PyObject *dict) {
    char qual[64];
    snprintf(qual, sizeof qual, "memtrace.analyze.%s", name);
    if (!(*slot = PyErr_NewExceptionWithDoc(qual, doc, bases, dict))) return -1;
    Py_INCREF(*slot);
    return PyModule_AddObject(m, name, *slot) < 0 ? (Py_DECREF(*slot), -1) : 0;
}

PyMODINIT_FUNC PyInit__analyze(void) {
    size_t n = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (PyMethodDef *m = tables[t]; m->ml_name; m++) {
            if (n + 1 >= sizeof methods / sizeof methods[0]) {
                PyErr_SetString(PyExc_SystemError, "memtrace._analyze: more methods than its table holds");
                return NULL;
            }
            methods[n++] = *m;
        }
    methods[n] = (PyMethodDef){ NULL, NULL, 0, NULL };
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    PyObject *b1 = NULL, *b2 = NULL, *b3 = NULL, *fd = NULL, *str = NULL;
    /* FileError's str() is its message, as the tools print it: OSError's
     * would read "[Errno 2] ...: 'PATH'" once errno and filename are set. */
    if (!(fd = PyDict_New()) || !(str = PyObject_GetAttrString(PyExc_BaseException, "__str__")) ||
        PyDict_SetItemString(fd, "__str__", str) < 0) {
        Py_XDECREF(fd);
        Py_XDECREF(str);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(str);
    if (add_exc(m, &mta_Error, "Error", NULL,
                "memtrace could not analyze its input; path, code, block, offset, line, column, reason say where "
                "and why", NULL) < 0 ||
        !(b1 = PyTuple_Pack(2, mta_Error, PyExc_ValueError)) ||
        add_exc(m, &mta_BadInputError, "BadInputError", b1, "a damaged or foreign file, or text that does not parse", NULL) < 0 ||
        !(b2 = PyTuple_Pack(2, mta_Error, PyExc_LookupError)) ||
        add_exc(m, &mta_NotFoundError, "NotFoundError", b2, "what was asked for is not in the input", NULL) < 0 ||
        !(b3 = PyTuple_Pack(2, mta_Error, PyExc_OSError)) ||
        add_exc(m, &mta_FileError, "FileError", b3,
                "a file could not be read or written; errno, strerror and filename as OSError's where the "
                "system said why",
                fd) < 0) {
        Py_XDECREF(fd);
        Py_XDECREF(b1);
        Py_XDECREF(b2);
        Py_XDECREF(b3);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(fd);
    Py_DECREF(b1);
    Py_DECREF(b2);
    Py_DECREF(b3);
    return m;
}
