/* Allocation tracing of a Python process (tracing.h): CPython's three
 * allocator domains and NumPy's data allocator, hooked and wrapped, each
 * recorded event with its Python stack read from the thread state in C,
 * handed to the tracer core (tools/collect/tracer/tracer.h).
 *
 * What a hook does on the way through:
 *   - an allocation: the wrapped allocator, then mt_tracer_take(n), which
 *     in sampled mode is one thread-local subtraction; only a recorded
 *     block walks the stack and takes locks;
 *   - a free: a lock-free filter (mt_tracer_maybe_recorded) says "not
 *     recorded" for nearly every block; a recorded one leaves the address
 *     map before its allocator gets it back (so its address cannot be
 *     recorded again meanwhile), then its free is recorded;
 *   - a realloc: the free of the old block and the allocation of the new.
 * Domains in the file: mem and object 0, raw 3, NumPy 4 (SPEC.md 4.3).
 *
 * The stack: the thread's frame chain (mt__thread_stack, read from the
 * internal headers of the Python built for, cpython.h), no
 * Python call, no allocation but the tracer's own malloc. A raw
 * allocation made without the GIL (CPython allocates raw memory from
 * threads that hold no thread state) has stack 0: its thread's frames may
 * be changing under it. Frames are keyed by (code object, instruction)
 * and hold a reference to their code object until the trace stops, so
 * that its address is not reused for another code meanwhile.
 *
 * NumPy (>= 1.22): its data allocator is a context variable
 * (PyDataMem_SetHandler). start sets memtrace's handler in the context of
 * the thread that starts the trace, so the array buffers that thread
 * allocates (pandas' columns included) are traced; threads with a context
 * of their own (every thread started by `threading`, which starts in an
 * empty context, and asyncio tasks copied before the start) keep NumPy's
 * default handler, and their array buffers are not traced. An array
 * allocated while tracing frees through memtrace's handler whenever it
 * dies; that handler passes everything through once the trace stops. */
#include <Python.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "cpython.h"
#include "tracer.h"
#include "tracing.h"

#ifdef MT_HAVE_NUMPY
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL memtrace_tracing_ARRAY_API
#include <numpy/arrayobject.h>
#endif

/* Frames kept per event: the innermost ones, at most depth (a stacks
 * tracer's nframes). */
#define MAX_DEPTH 128
static int depth = MAX_DEPTH;

typedef struct hook {
    PyMemAllocatorEx prev;
    PyMemAllocatorDomain dom;
    uint32_t domain;    /* in the file */
    int raw;            /* may run without the GIL */
    int installed;      /* ours is in the chain (perhaps under another's) */
} hook;

static hook H[3] = {
    {.dom = PYMEM_DOMAIN_RAW, .domain = 3, .raw = 1},
    {.dom = PYMEM_DOMAIN_MEM, .domain = 0},
    {.dom = PYMEM_DOMAIN_OBJ, .domain = 0},
};

/* Code objects the interned frames name, each held once. */
static PyObject **codes;
static size_t ncodes, capcodes;

static size_t utf8_of(PyObject *u, char *out, size_t cap) {
    if (!u || !PyUnicode_Check(u) || !PyUnicode_IS_READY(u)) {
        memcpy(out, "?", 1);
        return 1;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(u);
    if (PyUnicode_IS_ASCII(u)) {
        size_t n = (size_t)len < cap ? (size_t)len : cap;
        memcpy(out, PyUnicode_DATA(u), n);
        return n;
    }
    int kind = PyUnicode_KIND(u);
    const void *data = PyUnicode_DATA(u);
    size_t o = 0;
    for (Py_ssize_t i = 0; i < len && o + 4 <= cap; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80) {
            out[o++] = (char)c;
        } else if (c < 0x800) {
            out[o++] = (char)(0xC0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD; /* a lone surrogate is no UTF-8 */
            out[o++] = (char)(0xE0 | (c >> 12));
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | (c >> 18));
            out[o++] = (char)(0x80 | ((c >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    return o;
}

static int keep_code(PyObject *code) {
    if (ncodes == capcodes) {
        size_t nc = capcodes ? capcodes * 2 : 256;
        PyObject **n = realloc(codes, nc * sizeof *n);
        if (!n) return -1;
        codes = n;
        capcodes = nc;
    }
    Py_INCREF(code);
    codes[ncodes++] = code;
    return 0;
}

/* The thread's last stack: its frames (code, instruction) innermost
 * first and the stack id of each frame's chain out to the last one kept,
 * so that the next capture interns only the frames that changed (a loop
 * allocating repeats its whole stack). Valid for the tracer start it was
 * made in (codes_gen): the interned frames hold their codes until then, so
 * that a code's address names the same code. */
typedef struct last_stack {
    uint64_t gen;
    int d;
    PyCodeObject *co[MAX_DEPTH];
    int lasti[MAX_DEPTH];
    uint32_t sid[MAX_DEPTH];
} last_stack;
/* malloc'd per thread (static TLS has no room for it: the tracer's
 * initial-exec TLS puts this module's in the static block), freed at the
 * thread's exit. */
static __thread last_stack *last;
static pthread_key_t last_key;
static pthread_once_t last_once = PTHREAD_ONCE_INIT;
static void last_free(void *p) {
    last = NULL; /* a later destructor's allocation makes a new one */
    free(p);
}
static void last_key_make(void) { pthread_key_create(&last_key, last_free); }

static last_stack *last_get(void) {
    if (last) return last;
    pthread_once(&last_once, last_key_make);
    last = calloc(1, sizeof *last);
    if (last) pthread_setspecific(last_key, last);
    return last;
}
static uint64_t codes_gen = 1;

/* The calling thread's Python stack as a stack id; the GIL is held. */
static uint32_t capture(void) {
    PyCodeObject *co[MAX_DEPTH];
    int lasti[MAX_DEPTH]; /* the instruction's byte offset */
    int d = mt__thread_stack(co, lasti, depth);
    if (!d) return 0;
    /* The frames shared with the last stack, from the outermost kept. */
    last_stack *l = last_get();
    int same = 0;
    if (!l) return 0;
    if (l->gen == codes_gen)
        while (same < d && same < l->d && co[d - 1 - same] == l->co[l->d - 1 - same] &&
               lasti[d - 1 - same] == l->lasti[l->d - 1 - same])
            same++;
    if (same == d && same == l->d) return l->sid[0];
    uint32_t frame[MAX_DEPTH], sid[MAX_DEPTH], s = 0;
    if (same) {
        /* Shift the shared part to its new places. */
        memmove(sid + (d - same), l->sid + (l->d - same), (size_t)same * sizeof *sid);
        s = sid[d - same];
    }
    int todo = d - same; /* frames 0 .. todo-1 to intern */
    mt_tracer_intern_lock();
    for (int i = 0; i < todo; i++) {
        uint32_t id = mt_tracer_frame_cached(co[i], (uint64_t)lasti[i]);
        if (!id) {
            char fn[512], file[1024];
            size_t nfn = utf8_of(mt__code_name(co[i]), fn, sizeof fn);
            size_t nfile = utf8_of(co[i]->co_filename, file, sizeof file);
            int line = PyCode_Addr2Line(co[i], lasti[i]);
            int is_new = 0;
            id = mt_tracer_frame(co[i], (uint64_t)lasti[i], line > 0 ? (uint32_t)line : 0, fn, nfn, file, nfile,
                                &is_new);
            if (id && is_new && keep_code((PyObject *)co[i])) id = 0;
        }
        if (!id) {
            /* No memory: the stack from here out is unknown. */
            todo = i;
            s = 0;
            d = -1;
            break;
        }
        frame[i] = id;
    }
    for (int i = todo - 1; i >= 0; i--) {
        if (!(s = mt_tracer_stack(frame[i], s))) break;
        sid[i] = s;
    }
    mt_tracer_intern_unlock();
    if (s && d > 0) {
        l->gen = codes_gen;
        l->d = d;
        memcpy(l->co, co, (size_t)d * sizeof *co);
        memcpy(l->lasti, lasti, (size_t)d * sizeof *lasti);
        memcpy(l->sid, sid, (size_t)d * sizeof *sid);
    } else {
        l->gen = 0; /* out of memory midway: no cache */
    }
    return s;
}

static void record(uint32_t domain, int raw, void *p, size_t n) {
    mt__tls.busy++;
    uint32_t stack = 0;
    if (!raw || PyGILState_Check()) stack = capture();
    mt_tracer_alloc(p, n, domain, stack);
    mt__tls.busy--;
}

static inline void forget(void *p, int *had, mt_tracer_block *b) {
    *had = p && mt_tracer_maybe_recorded(p) && mt_tracer_forget(p, b);
}

/* CPython's object and mem allocators (pymalloc) serve requests of 1 to
 * 512 bytes from their pools and pass every other request, and every
 * realloc they cannot do in a pool, to the raw allocator, through its
 * hook. So that such a block is counted once, in its outer domain (as
 * tracemalloc does), the thread is marked busy around those calls, and
 * the raw hook passes a busy thread's calls through. Small requests need
 * no mark: their fast path is the sampling countdown and a tail call. */
#define POOLED(n) ((size_t)(n) - 1 < 512)

/* take: the sampling's decision made before the call, or -1 to make it
 * after (full mode, and sizes that pymalloc passes to the raw hook). */
static void *__attribute__((noinline)) obj_malloc_slow(hook *h, size_t n, int take) {
    int nest = !POOLED(n);
    mt__tls.busy += nest;
    void *p = h->prev.malloc(h->prev.ctx, n);
    mt__tls.busy -= nest;
    if (take < 0) take = mt_tracer_take(n);
    if (p && take) record(h->domain, 0, p, n);
    return p;
}

/* The fast path: no stack frame, the countdown, a tail call. */
static void *h_obj_malloc(void *ctx, size_t n) {
    hook *h = ctx;
    if (POOLED(n) && !mt__trace_all) {
        if ((mt__tls.left -= (int64_t)n) > 0) return h->prev.malloc(h->prev.ctx, n);
        return obj_malloc_slow(h, n, mt__trace_take_slow(n));
    }
    return obj_malloc_slow(h, n, -1);
}

static void *__attribute__((noinline)) obj_calloc_slow(hook *h, size_t nelem, size_t elsize, int take) {
    int nest = !POOLED(nelem * elsize);
    mt__tls.busy += nest;
    void *p = h->prev.calloc(h->prev.ctx, nelem, elsize);
    mt__tls.busy -= nest;
    if (take < 0) take = mt_tracer_take(nelem * elsize);
    if (p && take) record(h->domain, 0, p, nelem * elsize);
    return p;
}

static void *h_obj_calloc(void *ctx, size_t nelem, size_t elsize) {
    hook *h = ctx;
    size_t n = nelem * elsize;
    if (POOLED(n) && !mt__trace_all) {
        if ((mt__tls.left -= (int64_t)n) > 0) return h->prev.calloc(h->prev.ctx, nelem, elsize);
        return obj_calloc_slow(h, nelem, elsize, mt__trace_take_slow(n));
    }
    return obj_calloc_slow(h, nelem, elsize, -1);
}

static void *h_obj_realloc(void *ctx, void *p, size_t n) {
    hook *h = ctx;
    int had;
    mt_tracer_block b;
    forget(p, &had, &b);
    mt__tls.busy++;
    void *q = h->prev.realloc(h->prev.ctx, p, n);
    mt__tls.busy--;
    if (!q) {
        if (had) mt_tracer_unforget(p, &b); /* p is still allocated */
        return q;
    }
    if (had) mt_tracer_free(p, &b);
    if (mt_tracer_take(n)) record(h->domain, 0, q, n);
    return q;
}

static void __attribute__((noinline)) free_slow(hook *h, void *p) {
    int had;
    mt_tracer_block b;
    forget(p, &had, &b);
    h->prev.free(h->prev.ctx, p);
    if (had) mt_tracer_free(p, &b);
}

/* Every domain's free: the filter's one load, then a tail call. */
static void h_free(void *ctx, void *p) {
    hook *h = ctx;
    if (!mt_tracer_maybe_recorded(p)) {
        h->prev.free(h->prev.ctx, p);
        return;
    }
    free_slow(h, p);
}

static void *__attribute__((noinline)) raw_malloc_slow(hook *h, size_t n, int take) {
    void *p = h->prev.malloc(h->prev.ctx, n);
    if (take < 0) take = mt_tracer_take(n);
    if (p && take) record(h->domain, 1, p, n);
    return p;
}

static void *h_raw_malloc(void *ctx, size_t n) {
    hook *h = ctx;
    if (mt__tls.busy) return h->prev.malloc(h->prev.ctx, n);
    if (!mt__trace_all) {
        if ((mt__tls.left -= (int64_t)n) > 0) return h->prev.malloc(h->prev.ctx, n);
        return raw_malloc_slow(h, n, mt__trace_take_slow(n));
    }
    return raw_malloc_slow(h, n, -1);
}

static void *__attribute__((noinline)) raw_calloc_slow(hook *h, size_t nelem, size_t elsize, int take) {
    void *p = h->prev.calloc(h->prev.ctx, nelem, elsize);
    if (take < 0) take = mt_tracer_take(nelem * elsize);
    if (p && take) record(h->domain, 1, p, nelem * elsize);
    return p;
}

static void *h_raw_calloc(void *ctx, size_t nelem, size_t elsize) {
    hook *h = ctx;
    if (mt__tls.busy) return h->prev.calloc(h->prev.ctx, nelem, elsize);
    if (!mt__trace_all) {
        if ((mt__tls.left -= (int64_t)(nelem * elsize)) > 0) return h->prev.calloc(h->prev.ctx, nelem, elsize);
        return raw_calloc_slow(h, nelem, elsize, mt__trace_take_slow(nelem * elsize));
    }
    return raw_calloc_slow(h, nelem, elsize, -1);
}

static void *h_raw_realloc(void *ctx, void *p, size_t n) {
    hook *h = ctx;
    if (mt__tls.busy) return h->prev.realloc(h->prev.ctx, p, n);
    int had;
    mt_tracer_block b;
    forget(p, &had, &b);
    void *q = h->prev.realloc(h->prev.ctx, p, n);
    if (!q) {
        if (had) mt_tracer_unforget(p, &b);
        return q;
    }
    if (had) mt_tracer_free(p, &b);
    if (mt_tracer_take(n)) record(h->domain, 1, q, n);
    return q;
}

static int hooks_install(void) {
    for (int i = 0; i < 3; i++) {
        if (H[i].installed) continue; /* still in the chain, under another's hook */
        PyMem_GetAllocator(H[i].dom, &H[i].prev);
        PyMemAllocatorEx ours = {&H[i], H[i].raw ? h_raw_malloc : h_obj_malloc, H[i].raw ? h_raw_calloc : h_obj_calloc,
                                 H[i].raw ? h_raw_realloc : h_obj_realloc, h_free};
        PyMem_SetAllocator(H[i].dom, &ours);
        H[i].installed = 1;
    }
    return 0;
}

/* Takes ours out where it is on top; under another's hook (tracemalloc
 * started after the trace) it stays, passing everything through. */
static void hooks_remove(void) {
    for (int i = 2; i >= 0; i--) {
        PyMemAllocatorEx cur;
        PyMem_GetAllocator(H[i].dom, &cur);
        if (H[i].installed && cur.ctx == &H[i] && cur.free == h_free) {
            PyMem_SetAllocator(H[i].dom, &H[i].prev);
            H[i].installed = 0;
        }
    }
}

/* ------------------------------------------------------------------ */
/* NumPy                                                                */

#ifdef MT_HAVE_NUMPY
static PyDataMem_Handler *np_inner;      /* the handler memtrace's wraps, for good */
static PyObject *np_inner_capsule;       /* held for good: arrays may free through it */
static PyObject *np_capsule;             /* memtrace's handler; arrays hold it */
static PyObject *np_prev;                /* what this context had before start */
static int np_ready;

static void *np_malloc(void *ctx, size_t n) {
    (void)ctx;
    void *p = np_inner->allocator.malloc(np_inner->allocator.ctx, n);
    if (p && mt_tracer_take(n)) record(4, 1, p, n);
    return p;
}

static void *np_calloc(void *ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    void *p = np_inner->allocator.calloc(np_inner->allocator.ctx, nelem, elsize);
    if (p && mt_tracer_take(nelem * elsize)) record(4, 1, p, nelem * elsize);
    return p;
}

static void *np_realloc(void *ctx, void *p, size_t n) {
    (void)ctx;
    int had;
    mt_tracer_block b;
    forget(p, &had, &b);
    void *q = np_inner->allocator.realloc(np_inner->allocator.ctx, p, n);
    if (!q) {
        if (had) mt_tracer_unforget(p, &b);
        return q;
    }
    if (had) mt_tracer_free(p, &b);
    if (mt_tracer_take(n)) record(4, 1, q, n);
    return q;
}

static void np_free(void *ctx, void *p, size_t size) {
    (void)ctx;
    if (!mt_tracer_maybe_recorded(p)) {
        np_inner->allocator.free(np_inner->allocator.ctx, p, size);
        return;
    }
    int had;
    mt_tracer_block b;
    forget(p, &had, &b);
    np_inner->allocator.free(np_inner->allocator.ctx, p, size);
    if (had) mt_tracer_free(p, &b);
}

static PyDataMem_Handler np_handler = {"memtrace", 1, {NULL, np_malloc, np_calloc, np_realloc, np_free}};

/* Sets memtrace's handler in the current context. @return 1 when set, 0
 * when NumPy is missing, too old, or another handler is in place. */
static int numpy_install(void) {
    if (!np_ready) {
        if (_import_array() < 0) {
            PyErr_Clear();
            return 0;
        }
        if (PyArray_GetNDArrayCFeatureVersion() < 0x0000000f) return 0; /* NumPy 1.22 */
        np_capsule = PyCapsule_New(&np_handler, "mem_handler", NULL);
        if (!np_capsule) {
            PyErr_Clear();
            return 0;
        }
        np_ready = 1;
    }
    PyObject *cur = PyDataMem_GetHandler();
    if (!cur) {
        PyErr_Clear();
        return 0;
    }
    if (cur == np_capsule) {
        Py_DECREF(cur);
        return 1;
    }
    if (!np_inner_capsule) {
        np_inner = PyCapsule_GetPointer(cur, "mem_handler");
        if (!np_inner) {
            PyErr_Clear();
            Py_DECREF(cur);
            return 0;
        }
        np_inner_capsule = cur; /* held for good */
    } else if (cur != np_inner_capsule) {
        /* Arrays of the earlier trace free through np_inner: another
         * handler cannot take its place. */
        Py_DECREF(cur);
        return 0;
    } else {
        Py_DECREF(cur);
    }
    PyObject *old = PyDataMem_SetHandler(np_capsule);
    if (!old) {
        PyErr_Clear();
        return 0;
    }
    Py_XSETREF(np_prev, old);
    return 1;
}

static void numpy_remove(void) {
    if (!np_ready || !np_prev) return;
    PyObject *cur = PyDataMem_GetHandler();
    if (cur == np_capsule) {
        PyObject *old = PyDataMem_SetHandler(np_prev);
        Py_XDECREF(old);
    }
    Py_XDECREF(cur);
    PyErr_Clear();
    Py_CLEAR(np_prev);
}
#else
static int numpy_install(void) { return 0; }
static void numpy_remove(void) {}
#endif

/* ------------------------------------------------------------------ */
/* The module's functions.                                              */

static void release_codes(void) {
    codes_gen++; /* every thread's last stack names codes let go */
    PyObject **c = codes;
    size_t n = ncodes;
    codes = NULL;
    ncodes = capcodes = 0;
    for (size_t i = 0; i < n; i++) Py_DECREF(c[i]);
    free(c);
}

static PyObject *error_from(int rc, const mt_diag *d) {
    PyObject *type = rc == MT_E_STATE ? PyExc_RuntimeError : rc == MT_E_INVAL ? PyExc_ValueError
                   : rc == MT_E_NOMEM ? PyExc_MemoryError : PyExc_OSError;
    PyErr_SetString(type, d->msg[0] ? d->msg : mt_strerror(rc));
    return NULL;
}

PyObject *memtrace_trace_start(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"path", "sample_bytes", "all", "seed", "numpy", "tool", "command", "python_version",
                             NULL};
    PyObject *path_obj;
    unsigned long long sample_bytes = MT_TRACE_DEFAULT_SAMPLE_BYTES, seed = 0;
    int all = 0, numpy = 1;
    const char *tool = NULL, *command = NULL, *pyver = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|$KpKpzzz", kwlist, PyUnicode_FSConverter, &path_obj,
                                     &sample_bytes, &all, &seed, &numpy, &tool, &command, &pyver))
        return NULL;
    if (!sample_bytes) {
        Py_DECREF(path_obj);
        PyErr_SetString(PyExc_ValueError, "sample_bytes must be at least 1");
        return NULL;
    }
    if (mt_tracer_running()) {
        Py_DECREF(path_obj);
        PyErr_SetString(PyExc_RuntimeError, mt_tracer_stacks_only()
                                                 ? "allocation stacks are recorded in this process (memtrace.start_stacks); stop them first"
                                                 : "a trace runs already in this process; stop it first");
        return NULL;
    }
    depth = MAX_DEPTH;
    int with_numpy = numpy && numpy_install();
    const char *domains = with_numpy ? "0,3,4" : "0,3";
    const char *meta[] = {"python_version", pyver ? pyver : "", NULL, NULL};
    mt_tracer_config cfg = {0};
    cfg.path = PyBytes_AS_STRING(path_obj);
    cfg.sample_bytes = sample_bytes;
    cfg.all = all;
    cfg.seed = seed;
    cfg.tool = tool ? tool : "memtrace.trace";
    cfg.command = command;
    cfg.domains = domains;
    cfg.meta = pyver ? meta : NULL;
    mt_diag d = {0};
    int rc;
    /* Codes held by an earlier trace's frames are let go now: the trace
     * starts with no frames. */
    release_codes();
    Py_BEGIN_ALLOW_THREADS
    rc = mt_tracer_start(&cfg, &d);
    Py_END_ALLOW_THREADS
    if (rc) {
        if (with_numpy) numpy_remove();
        /* The error names the file, as the command line's does. */
        if (d.msg[0] && !strstr(d.msg, cfg.path)) {
            mt_diag named = d;
            snprintf(named.msg, sizeof named.msg, "%.100s: %.150s", cfg.path, d.msg);
            d = named;
        }
        Py_DECREF(path_obj);
        return error_from(rc, &d);
    }
    Py_DECREF(path_obj);
    hooks_install();
    return PyUnicode_FromString(domains);
}

PyObject *memtrace_trace_stop(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    if (!mt_tracer_running() || mt_tracer_stacks_only()) {
        PyErr_SetString(PyExc_RuntimeError, "no trace runs in this process");
        return NULL;
    }
    hooks_remove();
    numpy_remove();
    mt_diag d = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mt_tracer_stop(&d);
    Py_END_ALLOW_THREADS
    mt_tracer_stats st;
    mt_tracer_get_stats(&st);
    release_codes();
    if (rc) return error_from(rc, &d);
    return Py_BuildValue("{sKsKsKsKsKsK}", "allocs", (unsigned long long)st.allocs, "frees",
                         (unsigned long long)st.frees, "dropped", (unsigned long long)st.dropped, "threads",
                         (unsigned long long)st.threads, "frames", (unsigned long long)st.frames, "stacks",
                         (unsigned long long)st.stacks);
}

PyObject *memtrace_trace_running(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyBool_FromLong(mt_tracer_running());
}

PyObject *memtrace_trace_now(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyLong_FromUnsignedLongLong(mt_tracer_now());
}

PyObject *memtrace_trace_event(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"kind", "name", "value", "detail", NULL};
    const char *kind, *name = NULL, *detail = NULL;
    double value = 0.0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|zdz", kwlist, &kind, &name, &value, &detail)) return NULL;
    int rc = mt_tracer_event(kind, name, value, detail);
    return PyBool_FromLong(rc == 0);
}

PyObject *memtrace_trace_after_fork(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    /* The core is off in the child already (its pthread_atfork handler):
     * the hooks leave, and the parent's code references go. */
    hooks_remove();
    numpy_remove();
    release_codes();
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Allocation stacks for heap dumps: the tracer without a file.         */

PyObject *memtrace_stacks_start(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char *kwlist[] = {"nframes", NULL};
    int nframes = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "i", kwlist, &nframes)) return NULL;
    if (nframes < 1 || nframes > MAX_DEPTH)
        return PyErr_Format(PyExc_ValueError, "nframes must be 1 to %d, not %d", MAX_DEPTH, nframes);
    if (mt_tracer_running()) {
        PyErr_SetString(PyExc_RuntimeError, mt_tracer_stacks_only()
                                                 ? "allocation stacks are recorded already in this process"
                                                 : "a trace runs in this process (memtrace.trace): stop it first");
        return NULL;
    }
    release_codes();
    depth = nframes;
    mt_tracer_config cfg = {0};
    cfg.stacks_only = 1;
    mt_diag d = {0};
    int rc = mt_tracer_start(&cfg, &d);
    if (rc) return error_from(rc, &d);
    hooks_install();
    Py_RETURN_NONE;
}

PyObject *memtrace_stacks_stop(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    if (!mt_tracer_stacks_only()) {
        PyErr_SetString(PyExc_RuntimeError, "no allocation stacks are recorded in this process");
        return NULL;
    }
    hooks_remove();
    mt_diag d = {0};
    int rc = mt_tracer_stop(&d);
    mt_tracer_stats st;
    mt_tracer_get_stats(&st);
    release_codes();
    if (rc) return error_from(rc, &d);
    return Py_BuildValue("{sKsKsK}", "dropped", (unsigned long long)st.dropped, "frames",
                         (unsigned long long)st.frames, "stacks", (unsigned long long)st.stacks);
}

PyObject *memtrace_stacks_running(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return mt_tracer_stacks_only() ? PyLong_FromLong(depth) : PyLong_FromLong(0);
}
