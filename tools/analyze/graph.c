/* memtrace._analyze: what keeps objects alive (memtrace-graph's analyses),
 * and the helpers the analyses beyond the core share (extra.h).
 *
 * graph_load() loads a snapshot with its labelled references and computes
 * its dominator tree once, into a capsule that the other graph_* calls
 * read: memtrace.analyze.graph(path) keeps it, so that dominators(),
 * retained() and path_to_roots() do not load the file again. The graph is
 * read-only once loaded, so calls on one capsule from several threads may
 * overlap with the GIL released. */
#include <stdlib.h>
#include <string.h>
#include "extra.h"
#include "memtrace/graph.h"

/* ---- shared helpers (extra.h) ---- */

mt_snapshot *mta_load(const char *path, unsigned flags, int salvage) {
    mt_snapshot *s = NULL;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    diag.file = path;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_snapshot_load(path, flags | (salvage ? MT_LOAD_SALVAGE : 0), &s, &diag);
    Py_END_ALLOW_THREADS
    if (rc) {
        mta_raise(path, rc, &diag);
        return NULL;
    }
    return s;
}

PyObject *mta_str(const char *p, size_t len) { return PyUnicode_DecodeUTF8(p ? p : "", (Py_ssize_t)len, "replace"); }

PyObject *mta_cstr_or_none(const char *s) {
    if (!s) Py_RETURN_NONE;
    return mta_str(s, strlen(s));
}

PyObject *mta_u64(uint64_t v) { return PyLong_FromUnsignedLongLong((unsigned long long)v); }

/* mta_strings and mta_paths: each item as paths ? its os.fsencode()
 * bytes : its UTF-8, in a list that holds what the array points into. */
static const char **strings(PyObject *seq, const char *what, size_t *n, PyObject **keep, int paths) {
    *keep = NULL;
    *n = 0;
    int one = PyUnicode_Check(seq) || (paths && (PyBytes_Check(seq) || PyObject_HasAttrString(seq, "__fspath__")));
    PyObject *list = one ? Py_BuildValue("[O]", seq) : PySequence_List(seq);
    if (!list) {
        PyErr_Format(PyExc_TypeError, "%s must be a %s or a sequence of them", what, paths ? "path" : "str");
        return NULL;
    }
    Py_ssize_t len = PyList_GET_SIZE(list);
    const char **v = calloc((size_t)len + 1, sizeof *v);
    if (!v) {
        Py_DECREF(list);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *item = PyList_GET_ITEM(list, i), *held = NULL;
        if (paths) {
            if (!PyUnicode_FSConverter(item, &held)) {
                if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                    PyErr_Clear();
                    PyErr_Format(PyExc_TypeError, "%s must hold str, bytes or paths, not %.100s", what,
                                 Py_TYPE(item)->tp_name);
                }
                goto fail;
            }
        } else {
            if (!PyUnicode_Check(item)) {
                PyErr_Format(PyExc_TypeError, "%s must hold str, not %.100s", what, Py_TYPE(item)->tp_name);
                goto fail;
            }
            Py_INCREF(item);
            held = item;
        }
        PyList_SET_ITEM(list, i, held); /* the list holds what v points into */
        Py_DECREF(item);
        if (paths) {
            v[i] = PyBytes_AS_STRING(held); /* FSConverter refused an embedded NUL */
            continue;
        }
        Py_ssize_t size;
        if (!(v[i] = PyUnicode_AsUTF8AndSize(held, &size))) goto fail;
        if (strlen(v[i]) != (size_t)size) {
            PyErr_Format(PyExc_ValueError, "%s: a name holds a NUL character", what);
            goto fail;
        }
    }
    *n = (size_t)len;
    *keep = list;
    return v;
fail:
    free(v);
    Py_DECREF(list);
    return NULL;
}

const char **mta_strings(PyObject *seq, const char *what, size_t *n, PyObject **keep) {
    return strings(seq, what, n, keep, 0);
}

const char **mta_paths(PyObject *seq, const char *what, size_t *n, PyObject **keep) {
    return strings(seq, what, n, keep, 1);
}

PyObject *mta_path_str(const char *path) {
    if (!path) Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(path);
}

/* ---- the graph ---- */

typedef struct graph {
    mt_snapshot *s;
    const mt_graph *g;
    mt_dominators d;
    char *path;
} graph;

static const char CAPSULE[] = "memtrace._analyze.graph";

static void graph_free(PyObject *cap) {
    graph *x = PyCapsule_GetPointer(cap, CAPSULE);
    if (!x) return;
    mt_dominators_free(&x->d);
    mt_snapshot_free(x->s);
    free(x->path);
    free(x);
}

static graph *graph_of(PyObject *cap) { return PyCapsule_GetPointer(cap, CAPSULE); }

static PyObject *py_graph_load(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = { "path", "salvage", NULL };
    PyObject *pathobj = NULL;
    int salvage = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|p:graph_load", kwlist, PyUnicode_FSConverter, &pathobj, &salvage))
        return NULL;
    const char *path = PyBytes_AS_STRING(pathobj);
    graph *x = calloc(1, sizeof *x);
    if (!x || !(x->path = strdup(path))) {
        free(x);
        Py_DECREF(pathobj);
        return PyErr_NoMemory();
    }
    if (!(x->s = mta_load(path, MT_LOAD_LABELS, salvage))) {
        free(x->path);
        free(x);
        Py_DECREF(pathobj);
        return NULL;
    }
    x->g = mt_snapshot_graph(x->s);
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    diag.file = path;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_dominators_compute(x->g, &x->d, &diag);
    Py_END_ALLOW_THREADS
    if (rc) {
        mta_raise(path, rc, &diag);
        mt_snapshot_free(x->s);
        free(x->path);
        free(x);
        Py_DECREF(pathobj);
        return NULL;
    }
    Py_DECREF(pathobj);
    PyObject *cap = PyCapsule_New(x, CAPSULE, graph_free);
    if (!cap) {
        mt_dominators_free(&x->d);
        mt_snapshot_free(x->s);
        free(x->path);
        free(x);
    }
    return cap;
}

static PyObject *type_str(const graph *x, uint32_t v) {
    mt_str t = x->g->type_names[x->g->type[v]];
    return mta_str(t.ptr, t.len);
}

/* {"type", "count", "bytes"[, "retained"]} of a type table's row. */
static PyObject *type_row(const graph *x, const mt_graph_type_total *t, int retained) {
    PyObject *d = PyDict_New();
    mt_str n = x->g->type_names[t->type];
    if (!d || mta_put(d, "type", mta_str(n.ptr, n.len)) || mta_put(d, "count", mta_u64(t->count)) ||
        mta_put(d, "bytes", mta_u64(t->bytes)) || (retained && mta_put(d, "retained", mta_u64(t->retained)))) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

/* x's path p as people read it, or None without one. */
static PyObject *path_text(const graph *x, const mt_path *p, int has) {
    if (!has) Py_RETURN_NONE;
    char *text = mt_path_format(x->s, p);
    if (!text) return PyErr_NoMemory();
    PyObject *o = mta_str(text, strlen(text));
    free(text);
    return o;
}

/* The report of memtrace-graph --format json with --top top, as a dict
 * of the same keys (less "file", which the caller knows). */
static PyObject *report_dict(const graph *x, const mt_graph_report *r) {
    const mt_graph *g = x->g;
    const mt_dominators *d = &x->d;
    PyObject *out = PyDict_New(), *sub = NULL, *list = NULL, *row = NULL;
    if (!out) return NULL;
    if (mta_put(out, "objects", mta_u64(r->objects)) || mta_put(out, "object_bytes", mta_u64(r->object_bytes)) ||
        mta_put(out, "refs", mta_u64(r->refs)) || mta_put(out, "weak_refs", mta_u64(r->weak_refs)) ||
        mta_put(out, "roots", mta_u64(r->roots)))
        goto fail;
    if (!(sub = PyDict_New()) || mta_put(sub, "objects", mta_u64(d->n_reachable)) ||
        mta_put(sub, "bytes", mta_u64(d->reachable_bytes)))
        goto fail;
    if (mta_put(out, "reachable", sub)) {
        sub = NULL;
        goto fail;
    }
    if (!(sub = PyDict_New()) || mta_put(sub, "objects", mta_u64(d->n_unreachable)) ||
        mta_put(sub, "bytes", mta_u64(d->unreachable_bytes)) || !(list = PyList_New(0)))
        goto fail;
    for (uint32_t k = 0; k < r->n_unreachable; k++)
        if (mta_append(list, type_row(x, &r->unreachable[k], 0))) goto fail;
    if (mta_put(sub, "types", list)) {
        list = NULL;
        goto fail;
    }
    list = NULL;
    if (mta_put(out, "unreachable", sub)) {
        sub = NULL;
        goto fail;
    }
    sub = NULL;
    if (!(list = PyList_New(0))) goto fail;
    for (uint32_t k = 0; k < r->n_retainers; k++) {
        uint32_t o = r->retainers[k].obj;
        if (!(row = PyDict_New()) || mta_put(row, "id", mta_u64(g->id[o])) || mta_put(row, "type", type_str(x, o)) ||
            mta_put(row, "size", mta_u64(g->size[o])) || mta_put(row, "retained", mta_u64(d->retained[o])) ||
            mta_put(row, "retained_objects", mta_u64(d->retained_count[o])) ||
            mta_put(row, "idom", mta_u64(d->idom[o] == MT_DOM_ROOT ? 0 : g->id[d->idom[o]])) ||
            mta_put(row, "path", path_text(x, &r->retainers[k].path, r->retainers[k].has_path)))
            goto fail;
        if (mta_append(list, row)) {
            row = NULL;
            goto fail;
        }
        row = NULL;
    }
    if (mta_put(out, "top_retainers", list)) {
        list = NULL;
        goto fail;
    }
    list = NULL; /* out holds it now */
    if (!(list = PyList_New(0))) goto fail;
    for (uint32_t k = 0; k < r->n_types; k++)
        if (mta_append(list, type_row(x, &r->types[k], 1))) goto fail;
    if (mta_put(out, "types_by_retained", list)) {
        list = NULL;
        goto fail;
    }
    list = NULL;
    const mt_cycles *cy = &r->cycles;
    if (!(sub = PyDict_New()) || mta_put(sub, "components", mta_u64(cy->n_cyclic)) ||
        mta_put(sub, "objects", mta_u64(cy->cyclic_objects)) || mta_put(sub, "bytes", mta_u64(cy->cyclic_bytes)) ||
        !(list = PyList_New(0)))
        goto fail;
    for (uint32_t k = 0; k < r->n_cycles; k++) {
        mt_str t = g->type_names[r->cycle_types[k].most_common];
        if (!(row = PyDict_New()) || mta_put(row, "objects", mta_u64(cy->cyclic[k].objects)) ||
            mta_put(row, "bytes", mta_u64(cy->cyclic[k].bytes)) || mta_put(row, "most_common_type", mta_str(t.ptr, t.len)) ||
            mta_put(row, "types", mta_u64(r->cycle_types[k].n_types)) ||
            mta_put(row, "example_id", mta_u64(g->id[cy->cyclic[k].first])))
            goto fail;
        if (mta_append(list, row)) {
            row = NULL;
            goto fail;
        }
        row = NULL;
    }
    if (mta_put(sub, "largest", list)) {
        list = NULL;
        goto fail;
    }
    list = NULL;
    if (mta_put(out, "cycles", sub)) {
        sub = NULL;
        goto fail;
    }
    return out;
fail:
    Py_XDECREF(row);
    Py_XDECREF(list);
    Py_XDECREF(sub);
    Py_DECREF(out);
    return NULL;
}

static PyObject *py_graph_report(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *cap;
    unsigned long long top;
    PyObject *top_o;
    if (!PyArg_ParseTuple(args, "OO:graph_report", &cap, &top_o) || mta_count(top_o, "top", &top)) return NULL;
    graph *x = graph_of(cap);
    if (!x) return NULL;
    if (top > 100000) top = 100000; /* as memtrace-graph bounds --top */
    mt_graph_report r;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    diag.file = x->path;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_graph_report_compute(x->s, &x->d, (uint32_t)top, &r, &diag);
    Py_END_ALLOW_THREADS
    if (rc) return mta_raise(x->path, rc, &diag);
    PyObject *out = report_dict(x, &r);
    mt_graph_report_free(&r);
    return out;
}

/* Every reachable object in depth-first preorder (the order of
 * memtrace-graph --idom and --retained) as columns: bytes of native
 * uint64 (id, idom, size, retained, retained_objects), uint32 (type
 * index) and the list of type names the index points into. */
static PyObject *py_graph_columns(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *cap;
    if (!PyArg_ParseTuple(args, "O:graph_columns", &cap)) return NULL;
    graph *x = graph_of(cap);
    if (!x) return NULL;
    const mt_graph *g = x->g;
    const mt_dominators *d = &x->d;
    size_t n = d->n_reachable;
    PyObject *cols[6] = { 0 };
    static const size_t width[6] = { 8, 8, 8, 8, 8, 4 };
    for (int i = 0; i < 6; i++)
        if (!(cols[i] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * width[i])))) goto fail;
    {
        uint64_t *id = (uint64_t *)PyBytes_AS_STRING(cols[0]), *idom = (uint64_t *)PyBytes_AS_STRING(cols[1]),
                 *size = (uint64_t *)PyBytes_AS_STRING(cols[2]), *ret = (uint64_t *)PyBytes_AS_STRING(cols[3]),
                 *cnt = (uint64_t *)PyBytes_AS_STRING(cols[4]);
        uint32_t *type = (uint32_t *)PyBytes_AS_STRING(cols[5]);
        Py_BEGIN_ALLOW_THREADS
        for (size_t k = 0; k < n; k++) {
            uint32_t o = d->order[k];
            id[k] = g->id[o];
            idom[k] = d->idom[o] == MT_DOM_ROOT ? 0 : g->id[d->idom[o]];
            size[k] = g->size[o];
            ret[k] = d->retained[o];
            cnt[k] = d->retained_count[o];
            type[k] = g->type[o];
        }
        Py_END_ALLOW_THREADS
    }
    PyObject *names = PyList_New((Py_ssize_t)g->n_types);
    if (!names) goto fail;
    for (uint32_t t = 0; t < g->n_types; t++) {
        PyObject *s = mta_str(g->type_names[t].ptr, g->type_names[t].len);
        if (!s) {
            Py_DECREF(names);
            goto fail;
        }
        PyList_SET_ITEM(names, t, s);
    }
    return Py_BuildValue("{sNsNsNsNsNsNsNsKsKsKsK}", "id", cols[0], "idom", cols[1], "size", cols[2], "retained",
                         cols[3], "retained_objects", cols[4], "type_index", cols[5], "type_names", names,
                         "reachable_objects", (unsigned long long)d->n_reachable, "reachable_bytes",
                         (unsigned long long)d->reachable_bytes, "unreachable_objects",
                         (unsigned long long)d->n_unreachable, "unreachable_bytes",
                         (unsigned long long)d->unreachable_bytes);
fail:
    for (int i = 0; i < 6; i++) Py_XDECREF(cols[i]);
    return NULL;
}

/* One entry of memtrace-graph --format json's "paths". */
static PyObject *path_dict(const graph *x, uint32_t v) {
    const mt_graph *g = x->g;
    mt_path p;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    diag.file = x->path;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_path_to_root(g, v, &p, &diag);
    Py_END_ALLOW_THREADS
    if (rc && rc != MT_E_NOTFOUND) return mta_raise(x->path, rc, &diag);
    PyObject *out = PyDict_New(), *steps = NULL, *row = NULL;
    if (!out || mta_put(out, "id", mta_u64(g->id[v])) || mta_put(out, "type", type_str(x, v)) ||
        mta_put(out, "retained", mta_u64(x->d.retained[v])))
        goto fail;
    if (rc == MT_E_NOTFOUND) {
        if (PyDict_SetItemString(out, "path", Py_None) || PyDict_SetItemString(out, "root", Py_None) ||
            mta_put(out, "steps", PyList_New(0)))
            goto fail;
        return out;
    }
    if (mta_put(out, "path", path_text(x, &p, 1))) goto fail;
    if (!(row = PyDict_New()) ||
        mta_put(row, "kind", mta_str(g->root_kind[p.root].ptr, g->root_kind[p.root].len)) ||
        mta_put(row, "name", mta_str(g->root_name[p.root].ptr, g->root_name[p.root].len)))
        goto fail;
    if (mta_put(out, "root", row)) {
        row = NULL;
        goto fail;
    }
    row = NULL;
    if (!(steps = PyList_New(0))) goto fail;
    for (uint32_t i = 0; i < p.len; i++) {
        if (!(row = PyDict_New()) || mta_put(row, "id", mta_u64(g->id[p.obj[i]])) ||
            mta_put(row, "type", type_str(x, p.obj[i])))
            goto fail;
        if (i) {
            mt_str l = mt_snapshot_ref_label(x->s, p.edge[i - 1]);
            if (mta_put(row, "label", mta_str(l.ptr, l.len))) goto fail;
        } else if (PyDict_SetItemString(row, "label", Py_None)) {
            goto fail;
        }
        if (mta_append(steps, row)) {
            row = NULL;
            goto fail;
        }
        row = NULL;
    }
    mt_path_free(&p);
    if (mta_put(out, "steps", steps)) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
fail:
    if (rc == 0) mt_path_free(&p);
    Py_XDECREF(row);
    Py_XDECREF(steps);
    Py_XDECREF(out);
    return NULL;
}

/* memtrace-graph --path-to-roots WHAT --top TOP: an object by id (an int,
 * or a str as the tool reads it), else the TOP largest objects of the
 * type named WHAT. */
static PyObject *py_graph_paths(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *cap, *what;
    unsigned long long top;
    PyObject *top_o;
    if (!PyArg_ParseTuple(args, "OOO:graph_paths", &cap, &what, &top_o) || mta_count(top_o, "top", &top)) return NULL;
    graph *x = graph_of(cap);
    if (!x) return NULL;
    if (top > 100000) top = 100000;
    if (!top) top = 1;
    const mt_graph *g = x->g;
    uint32_t *targets = NULL, nt = 0, v = 0;
    uint64_t id;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    if (PyLong_Check(what) && !PyBool_Check(what)) {
        unsigned long long u;
        if (mta_count(what, "id", &u)) return NULL;
        id = u;
        if (mt_graph_find_id(g, id, &v)) {
            mt_diag_set(&diag, MT_E_NOTFOUND, "no object has the id %llu", (unsigned long long)id);
            return mta_raise(x->path, MT_E_NOTFOUND, &diag);
        }
        nt = 1;
    } else if (PyUnicode_Check(what)) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(what, &len);
        if (!s) return NULL;
        if (!(targets = malloc((size_t)top * sizeof *targets))) return PyErr_NoMemory();
        int rc = mt_graph_select(g, &x->d, s, (size_t)len, (uint32_t)top, targets, &nt, &diag);
        if (rc) {
            free(targets);
            return mta_raise(x->path, rc, &diag);
        }
    } else {
        PyErr_Format(PyExc_TypeError, "path_to_roots() takes an object id (int) or a type name (str), not %.100s",
                     Py_TYPE(what)->tp_name);
        return NULL;
    }
    PyObject *list = PyList_New(0);
    for (uint32_t k = 0; list && k < nt; k++)
        if (mta_append(list, path_dict(x, targets ? targets[k] : v))) Py_CLEAR(list);
    free(targets);
    return list;
}

PyMethodDef mta_graph_methods[] = {
    { "graph_load", (PyCFunction)(void (*)(void))py_graph_load, METH_VARARGS | METH_KEYWORDS,
      "graph_load($module, /, path, salvage=False)\n--\n\nA loaded snapshot and its dominator tree (a capsule)." },
    { "graph_report", py_graph_report, METH_VARARGS,
      "graph_report($module, graph, top, /)\n--\n\nmemtrace-graph --format json --top top's report as a dict." },
    { "graph_columns", py_graph_columns, METH_VARARGS,
      "graph_columns($module, graph, /)\n--\n\nEvery reachable object's id, idom, size, retained, as native arrays." },
    { "graph_paths", py_graph_paths, METH_VARARGS,
      "graph_paths($module, graph, what, top, /)\n--\n\nShortest strong paths from roots, as memtrace-graph -p WHAT --top TOP." },
    { NULL, NULL, 0, NULL },
};
