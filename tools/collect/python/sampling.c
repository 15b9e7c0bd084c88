/* memtrace._memtrace.Sampler: the sampler library (tools/collect/sampler)
 * driven from Python, with the Python figures added to its samples.
 *
 * Threads. The library's sampler thread reads the OS figures every
 * interval and never takes the GIL: a main thread that holds it for
 * seconds (a C extension's long call, a heap dump) must not stop the rss
 * curve, least of all at a peak. The Python figures (tracemalloc's traced
 * memory, the collector's counts) can only be read with the GIL, so a
 * second C thread, the figures thread, takes it every max(interval, 100 ms)
 * with PyGILState_Ensure, reads them, stamps them with the sampler's clock
 * while it still holds the GIL (no Python code runs between the reading
 * and the stamp) and leaves them in a cache; the sampler's extra callback
 * writes each new reading once, at its own time. A wait for the GIL thus
 * delays only the Python series. Measured (Sampler.gil_wait(), 2 s runs
 * at 100 ms on a 2-core machine): a CPU-bound main thread hands the GIL
 * over within the switch interval (5.3 ms mean, 6.5 ms most), so a
 * reading costs the program one GIL switch per 100 ms; a sleeping one at
 * once (27 us mean); a 0.4 s C call that keeps the GIL delays that one
 * reading by up to 0.4 s while the rss samples go on (tests/python/
 * test_sampling.py checks both). Reading the figures in the sampler
 * thread itself "when the GIL is free soon" would need a timed GIL
 * acquisition, which CPython does not offer.
 *
 * Requests to the main thread. A heap dump must run in the main thread
 * between bytecodes (the heap is then consistent, as for a signal
 * handler), and an exit alert must raise SystemExit there. The sampler
 * thread queues the request and schedules one Py_AddPendingCall (which
 * needs no GIL); drain() runs it in the main thread with the GIL and calls
 * the Python handler that start() was given.
 *
 * Finalization. A thread that takes the GIL of a finalizing interpreter
 * is ended on the spot (possibly holding our locks), and pending calls
 * go nowhere once it has begun; so the figures thread checks
 * Py_IsFinalizing before each reading and the package stops the sampler
 * in an atexit handler, which runs before finalization begins.
 *
 * One sampler per process: every piece of state is in G below. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "cpython.h"
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "memtrace/errors.h"
#include "sampler.h"
#include "sampling.h"

#if PY_VERSION_HEX >= 0x030D0000
#define py_finalizing() Py_IsFinalizing()
#else
#define py_finalizing() _Py_IsFinalizing()
#endif

#define NREQ 16
#define MAX_ALERTS 64

extern char **environ;

enum { REQ_PEAK, REQ_DUMP, REQ_EXIT };
static const char *const req_names[] = { "peak", "dump", "exit" };

typedef struct request {
    int kind;
    char name[256]; /* the alert's expression */
    double value;   /* rss for a peak, the measure for an alert */
} request;

/* The Python figures of one reading. */
typedef struct pyfigs {
    uint64_t time_ns;
    int tracing;
    double traced, traced_peak;
    double count[3], collections[3];
    int fresh; /* read and not yet written */
} pyfigs;

static struct {
    /* Start, stop and the exit watchdog's stop take stop_mu, always
     * without the GIL held (so that a thread waiting for it never keeps
     * the figures thread from the GIL it needs to finish). s is set and
     * cleared under stop_mu. */
    pthread_mutex_t stop_mu;
    mt_sampler *s;
    char path[4096];

    /* The figures thread and its cache; mu is held only for copies. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int cv_monotonic;
    pthread_t fig_thread;
    int fig_running, fig_stop;
    uint64_t fig_period_ns;
    pyfigs figs;
    uint64_t gil_waits, gil_wait_total_ns, gil_wait_max_ns;
    /* Borrowed by the figures thread, owned here, released with the GIL. */
    PyObject *gc_get_count, *gc_get_stats, *tm_is_tracing, *tm_get_traced;

    /* Requests to the main thread, under mu. */
    request req[NREQ];
    size_t nreq;
    int scheduled;
    int exit_requested;

    PyObject *handler; /* touched with the GIL only */
    PyObject *owner;   /* the Sampler that runs (borrowed); with the GIL only */
} G = { .stop_mu = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* The figures thread.                                                  */

/* The float of a Python int or float, or -1 on anything else. */
static double as_double(PyObject *o) {
    double v = o ? PyFloat_AsDouble(o) : -1;
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return v;
}

/* Reads the figures; the GIL is held. Errors leave a figure out. */
static void read_figs(pyfigs *f) {
    memset(f, 0, sizeof *f);
    for (int g = 0; g < 3; g++) f->count[g] = f->collections[g] = -1;
    f->traced = f->traced_peak = -1;
    PyObject *r = PyObject_CallNoArgs(G.gc_get_count);
    if (r && PyTuple_Check(r) && PyTuple_GET_SIZE(r) >= 3)
        for (int g = 0; g < 3; g++) f->count[g] = as_double(PyTuple_GET_ITEM(r, g));
    Py_XDECREF(r);
    r = PyObject_CallNoArgs(G.gc_get_stats);
    if (r && PyList_Check(r))
        for (Py_ssize_t g = 0; g < 3 && g < PyList_GET_SIZE(r); g++) {
            PyObject *d = PyList_GET_ITEM(r, g);
            PyObject *c = PyDict_Check(d) ? PyDict_GetItemString(d, "collections") : NULL;
            f->collections[g] = as_double(c);
        }
    Py_XDECREF(r);
    r = PyObject_CallNoArgs(G.tm_is_tracing);
    f->tracing = r == Py_True;
    Py_XDECREF(r);
    if (f->tracing) {
        r = PyObject_CallNoArgs(G.tm_get_traced);
        if (r && PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 2) {
            f->traced = as_double(PyTuple_GET_ITEM(r, 0));
            f->traced_peak = as_double(PyTuple_GET_ITEM(r, 1));
        }
        Py_XDECREF(r);
    }
    PyErr_Clear();
}

static void *fig_main(void *arg) {
    mt_sampler *s = arg;
    uint64_t next = mono_ns();
    for (;;) {
        next += G.fig_period_ns;
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        uint64_t now = mono_ns();
        uint64_t wait = next > now ? next - now : 0;
        if (!wait) next = now; /* fell behind (a long GIL wait): no catch-up burst */
        dl.tv_sec += (time_t)(wait / 1000000000u);
        dl.tv_nsec += (long)(wait % 1000000000u);
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&G.mu);
        while (!G.fig_stop && pthread_cond_timedwait(&G.cv, &G.mu, &dl) != ETIMEDOUT) {
        }
        int stop = G.fig_stop;
        pthread_mutex_unlock(&G.mu);
        if (stop || py_finalizing()) break;
        uint64_t t0 = mono_ns();
        PyGILState_STATE st = PyGILState_Ensure();
        uint64_t waited = mono_ns() - t0;
        pyfigs f;
        read_figs(&f);
        f.time_ns = mt_sampler_now(s);
        f.fresh = 1;
        PyGILState_Release(st);
        pthread_mutex_lock(&G.mu);
        G.figs = f;
        G.gil_waits++;
        G.gil_wait_total_ns += waited;
        if (waited > G.gil_wait_max_ns) G.gil_wait_max_ns = waited;
        pthread_mutex_unlock(&G.mu);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Requests to the main thread.                                         */

static int drain(void *unused);

/* Schedules drain() once for whatever is queued; mu is held. A full
 * pending-call queue (CPython's holds 32) is retried at the next sample. */
static void schedule_locked(void) {
    if (G.nreq && !G.scheduled && !py_finalizing() && Py_AddPendingCall(drain, NULL) == 0) G.scheduled = 1;
}

static void push_request(int kind, const char *name, double value) {
    pthread_mutex_lock(&G.mu);
    if (G.nreq < NREQ) {
        request *r = &G.req[G.nreq++];
        r->kind = kind;
        snprintf(r->name, sizeof r->name, "%s", name ? name : "");
        r->value = value;
    }
    schedule_locked();
    pthread_mutex_unlock(&G.mu);
}

/* In the main thread, with the GIL. */
static int drain(void *unused) {
    (void)unused;
    request q[NREQ];
    pthread_mutex_lock(&G.mu);
    size_t n = G.nreq;
    memcpy(q, G.req, n * sizeof *q);
    G.nreq = 0;
    G.scheduled = 0;
    pthread_mutex_unlock(&G.mu);
    int exit_now = 0;
    PyObject *h = G.handler;
    Py_XINCREF(h);
    for (size_t i = 0; i < n; i++) {
        if (q[i].kind == REQ_EXIT) exit_now = 1;
        if (!h) continue;
        PyObject *r = PyObject_CallFunction(h, "ssd", req_names[q[i].kind], q[i].name, q[i].value);
        /* The handler's failure (a dump to a full disk) is reported, not
         * raised into whatever the program was doing. */
        if (!r) PyErr_WriteUnraisable(h);
        Py_XDECREF(r);
    }
    Py_XDECREF(h);
    if (exit_now) {
        PyObject *code = PyLong_FromLong(MT_SAMPLER_EXIT_ALERT);
        if (code) {
            PyErr_SetObject(PyExc_SystemExit, code);
            Py_DECREF(code);
        }
        return -1;
    }
    return 0;
}

/* The exit alert's fallback: the main thread did not leave within 5 s of
 * SystemExit (it caught it, or it sits in a C call). The file is closed
 * with its exit event before the process goes. */
static void *exit_watchdog(void *unused) {
    (void)unused;
    struct timespec ts = { 5, 0 };
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
    pthread_mutex_lock(&G.stop_mu); /* waits for a stop under way */
    mt_sampler *s = G.s;
    G.s = NULL;
    if (s) {
        pthread_mutex_lock(&G.mu);
        G.fig_stop = 1; /* not joined: it may wait for a GIL that never comes */
        pthread_cond_broadcast(&G.cv);
        pthread_mutex_unlock(&G.mu);
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        mt_sampler_stop(s, MT_SAMPLER_EXIT_ALERT, &d);
    }
    fprintf(stderr, "memtrace: the program did not exit within 5 s of an exit alert: ending it (status %d)\n",
            MT_SAMPLER_EXIT_ALERT);
    fflush(stderr);
    _exit(MT_SAMPLER_EXIT_ALERT);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The sampler's callbacks, on its thread.                              */

/* Reaps one command of an exec alert, so that it leaves no zombie. */
static void *reap(void *arg) {
    pid_t pid = (pid_t)(intptr_t)arg;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return NULL;
}

/* Runs an exec alert's command (mt_alert_spawn), reaped on a thread of
 * its own so that it leaves no zombie. */
static void run_command(const mt_alert *a, double value) {
    pid_t pid;
    if (mt_alert_spawn(a, value, getpid(), G.path, &pid)) {
        fprintf(stderr, "memtrace: alert %s: cannot run /bin/sh: %s\n", a->expr, strerror(errno));
        return;
    }
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, reap, (void *)(intptr_t)pid)) waitpid(pid, NULL, WNOHANG);
    pthread_attr_destroy(&at);
}

/* Every action says so on stderr first, as memtrace-sample's do ("as log,
 * then ..."): an :exit alert otherwise ends the program with 124 and no
 * word of why. */
static void on_alert(void *ctx, const mt_alert *a, double value) {
    (void)ctx;
    const char *what = a->action == MT_ALERT_EXIT ? "; stopping" : a->action == MT_ALERT_DUMP ? "; dumping the heap" : "";
    fprintf(stderr, "memtrace: alert %s: %.17g%s\n", a->expr, value, what);
    fflush(stderr);
    if (a->action == MT_ALERT_EXEC)
        run_command(a, value);
    else if (a->action == MT_ALERT_DUMP) push_request(REQ_DUMP, a->expr, value);
    else if (a->action == MT_ALERT_EXIT) {
        pthread_mutex_lock(&G.mu);
        int first = !G.exit_requested;
        G.exit_requested = 1;
        pthread_mutex_unlock(&G.mu);
        if (first) {
            push_request(REQ_EXIT, a->expr, value);
            pthread_t t;
            pthread_attr_t at;
            pthread_attr_init(&at);
            pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&t, &at, exit_watchdog, NULL)) _exit(MT_SAMPLER_EXIT_ALERT);
            pthread_attr_destroy(&at);
        }
    }
}

static void on_peak(void *ctx, uint64_t rss) {
    (void)ctx;
    push_request(REQ_PEAK, NULL, (double)rss);
}

/* Writes the figures thread's newest reading, once, at its time. */
static void extra(void *ctx, mt_sampler *s, uint64_t time_ns) {
    (void)ctx;
    (void)time_ns;
    pthread_mutex_lock(&G.mu);
    pyfigs f = G.figs;
    G.figs.fresh = 0;
    schedule_locked(); /* a request the pending-call queue refused */
    pthread_mutex_unlock(&G.mu);
    if (!f.fresh) return;
    static const char *const counts[] = { "gc.count0", "gc.count1", "gc.count2" };
    static const char *const colls[] = { "gc.collections0", "gc.collections1", "gc.collections2" };
    for (int g = 0; g < 3; g++) {
        if (f.count[g] >= 0) mt_sampler_point(s, counts[g], f.time_ns, f.count[g]);
        if (f.collections[g] >= 0) mt_sampler_point(s, colls[g], f.time_ns, f.collections[g]);
    }
    if (f.tracing && f.traced >= 0) {
        mt_sampler_point(s, "traced", f.time_ns, f.traced);
        mt_sampler_point(s, "traced.peak", f.time_ns, f.traced_peak);
    }
}

/* ------------------------------------------------------------------ */
/* Alerts from Python.                                                  */

/* ValueError with the library's message (the expression, what is wrong,
 * its column and what was expected);
 * its attributes column, expr and reason let a caller point at the
 * character at fault (the argparse of `python3 -m memtrace run` does). */
static PyObject *alert_error(const char *text, const mt_diag *d) {
    PyObject *exc = PyObject_CallFunction(PyExc_ValueError, "s", d->msg);
    if (!exc) return NULL;
    PyObject *col = PyLong_FromUnsignedLong(d->column), *expr = PyUnicode_FromString(text),
             *m = PyUnicode_FromString(d->msg);
    if (col && expr && m && PyObject_SetAttrString(exc, "column", col) == 0 &&
        PyObject_SetAttrString(exc, "expr", expr) == 0 && PyObject_SetAttrString(exc, "reason", m) == 0)
        PyErr_SetObject(PyExc_ValueError, exc);
    Py_XDECREF(col);
    Py_XDECREF(expr);
    Py_XDECREF(m);
    Py_DECREF(exc);
    return NULL;
}

static int parse_one(PyObject *o, mt_alert *out) {
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "an alert must be a str, not %.100s", Py_TYPE(o)->tp_name);
        return -1;
    }
    const char *text = PyUnicode_AsUTF8(o);
    if (!text) return -1;
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    if (mt_alert_parse(text, out, &d)) {
        alert_error(text, &d);
        return -1;
    }
    return 0;
}

PyObject *memtrace_parse_alert(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *text;
    if (!PyArg_ParseTuple(args, "U", &text)) return NULL;
    mt_alert a;
    if (parse_one(text, &a)) return NULL;
    static const char *const of[] = { "bytes", "limit", "available" };
    return Py_BuildValue("{s:s,s:s,s:s,s:d,s:s,s:s,s:s}", "expr", a.expr, "series", a.series, "of",
                         of[a.percent_of >= 0 && a.percent_of <= 2 ? a.percent_of : 0], "threshold", a.threshold,
                         "action", mt_alert_action_name(a.action), "command", a.command, "op", a.below ? "<" : ">");
}

/* ------------------------------------------------------------------ */
/* The Sampler type.                                                    */

typedef struct {
    PyObject_HEAD
    int running;   /* this object started the sampler that runs */
    PyObject *path;
} SamplerObject;

static int check_running(SamplerObject *self) {
    if (!self->running || !G.s) {
        PyErr_SetString(PyExc_ValueError, "the sampler is not running");
        return -1;
    }
    return 0;
}

/* Copies a str or None into buf as UTF-8; NULL for None. */
static int c_text(PyObject *o, char *buf, size_t n, const char **out, const char *what) {
    if (o == Py_None) {
        *out = NULL;
        return 0;
    }
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str or None, not %.100s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    Py_ssize_t len;
    const char *u = PyUnicode_AsUTF8AndSize(o, &len);
    if (!u) return -1;
    if (memchr(u, 0, (size_t)len)) {
        PyErr_Format(PyExc_ValueError, "%s must not contain a NUL character", what);
        return -1;
    }
    snprintf(buf, n, "%s", u);
    *out = buf;
    return 0;
}

static PyObject *import_attr(const char *mod, const char *name) {
    PyObject *m = PyImport_ImportModule(mod);
    if (!m) return NULL;
    PyObject *a = PyObject_GetAttrString(m, name);
    Py_DECREF(m);
    return a;
}

static void release_python_refs(void) {
    Py_CLEAR(G.gc_get_count);
    Py_CLEAR(G.gc_get_stats);
    Py_CLEAR(G.tm_is_tracing);
    Py_CLEAR(G.tm_get_traced);
    Py_CLEAR(G.handler);
}

static PyObject *Sampler_start(SamplerObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "path", "interval", "children", "alerts", "peak_margin", "peak_every", "tool",
                              "command", "handler", NULL };
    PyObject *path, *alerts = NULL, *tool = Py_None, *command = Py_None, *handler = Py_None;
    double interval = 0.1, peak_margin = 0.0, peak_every = 30.0;
    int children = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|$dpOddOOO", kwlist, PyUnicode_FSConverter, &path, &interval,
                                     &children, &alerts, &peak_margin, &peak_every, &tool, &command, &handler))
        return NULL;
    PyObject *ret = NULL;
    mt_alert *al = NULL;
    size_t nal = 0;
    char tbuf[128], cbuf[1024];
    const char *tool_c, *command_c;
    if (self->running || G.s) {
        PyErr_Format(PyExc_RuntimeError, "a sampler already runs in this process (writing %s): stop it first",
                     G.path);
        goto out;
    }
    if (!(interval >= 0.01) || interval > 86400) {
        PyErr_Format(PyExc_ValueError, "interval must be 0.01 to 86400 seconds, not %g", interval);
        goto out;
    }
    if (!(peak_margin >= 0) || !(peak_every >= 0)) {
        PyErr_SetString(PyExc_ValueError, "peak_margin and peak_every must not be negative");
        goto out;
    }
    if (handler != Py_None && !PyCallable_Check(handler)) {
        PyErr_SetString(PyExc_TypeError, "handler must be callable or None");
        goto out;
    }
    if (c_text(tool, tbuf, sizeof tbuf, &tool_c, "tool") || c_text(command, cbuf, sizeof cbuf, &command_c, "command"))
        goto out;
    if (alerts && alerts != Py_None) {
        PyObject *seq = PySequence_Fast(alerts, "alerts must be a sequence of str");
        if (!seq) goto out;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        if (n > MAX_ALERTS) {
            Py_DECREF(seq);
            PyErr_Format(PyExc_ValueError, "at most %d alerts, not %zd", MAX_ALERTS, n);
            goto out;
        }
        al = n ? PyMem_Calloc((size_t)n, sizeof *al) : NULL;
        if (n && !al) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            goto out;
        }
        for (Py_ssize_t i = 0; i < n; i++)
            if (parse_one(PySequence_Fast_GET_ITEM(seq, i), &al[nal++])) {
                Py_DECREF(seq);
                goto out;
            }
        Py_DECREF(seq);
    }
    if (!(G.gc_get_count = import_attr("gc", "get_count")) || !(G.gc_get_stats = import_attr("gc", "get_stats")) ||
        !(G.tm_is_tracing = import_attr("tracemalloc", "is_tracing")) ||
        !(G.tm_get_traced = import_attr("tracemalloc", "get_traced_memory"))) {
        release_python_refs();
        goto out;
    }
    Py_INCREF(handler);
    G.handler = handler == Py_None ? (Py_DECREF(handler), NULL) : handler;
    snprintf(G.path, sizeof G.path, "%s", PyBytes_AS_STRING(path));
    G.nreq = 0;
    G.scheduled = 0;
    G.exit_requested = 0;
    memset(&G.figs, 0, sizeof G.figs);
    G.gil_waits = G.gil_wait_total_ns = G.gil_wait_max_ns = 0;
    uint64_t interval_ns = (uint64_t)(interval * 1e9 + 0.5);
    G.fig_period_ns = interval_ns > 100000000u ? interval_ns : 100000000u;

    mt_sampler_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.path = G.path;
    cfg.interval_ns = interval_ns;
    cfg.follow_children = children;
    cfg.tool = tool_c ? tool_c : "memtrace.sampling";
    cfg.command = command_c;
    cfg.alerts = al;
    cfg.n_alerts = nal;
    cfg.on_alert = on_alert;
    cfg.peak_margin = peak_margin;
    cfg.peak_every_ns = (uint64_t)(peak_every * 1e9);
    cfg.on_peak = peak_margin > 0 ? on_peak : NULL;
    cfg.extra = extra;
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    int rc;
    /* A first reading of the Python figures, so that the first sample
     * (at the run's time 0, taken by mt_sampler_start) has them. */
    read_figs(&G.figs);
    G.figs.time_ns = 0;
    G.figs.fresh = 1;
    if (!G.cv_monotonic) {
        /* The figures thread waits for CLOCK_MONOTONIC deadlines. */
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&G.cv, &ca); /* over the static initializer's: nothing to destroy */
        pthread_condattr_destroy(&ca);
        G.cv_monotonic = 1;
    }
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&G.stop_mu);
    mt_sampler *s = NULL;
    rc = mt_sampler_start(&cfg, &s, &d);
    if (!rc) {
        G.fig_stop = 0;
        G.fig_running = pthread_create(&G.fig_thread, NULL, fig_main, s) == 0;
        G.s = s;
    }
    pthread_mutex_unlock(&G.stop_mu);
    Py_END_ALLOW_THREADS
    if (rc) {
        release_python_refs();
        char where[400];
        if (d.msg[0]) mt_diag_format(&d, where, sizeof where);
        else snprintf(where, sizeof where, "%s", mt_strerror(rc));
        PyErr_Format(rc == MT_E_IO ? PyExc_OSError : rc == MT_E_NOMEM ? PyExc_MemoryError : PyExc_ValueError,
                     "%s: %s", G.path, where);
        goto out;
    }
    self->running = 1;
    G.owner = (PyObject *)self;
    Py_XSETREF(self->path, PyUnicode_DecodeFSDefault(G.path));
    ret = Py_NewRef(Py_None);
out:
    PyMem_Free(al);
    Py_DECREF(path);
    return ret;
}

/* Stops the sampler this object runs; the GIL is held on entry and exit. */
static int stop_sampler(SamplerObject *self, int status, mt_diag *d) {
    int rc = 0;
    self->running = 0;
    G.owner = NULL;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&G.stop_mu);
    mt_sampler *s = G.s;
    G.s = NULL;
    if (s) {
        if (G.fig_running) {
            pthread_mutex_lock(&G.mu);
            G.fig_stop = 1;
            pthread_cond_broadcast(&G.cv);
            pthread_mutex_unlock(&G.mu);
            pthread_join(G.fig_thread, NULL);
            G.fig_running = 0;
        }
        rc = mt_sampler_stop(s, status, d);
    }
    pthread_mutex_unlock(&G.stop_mu);
    Py_END_ALLOW_THREADS
    release_python_refs();
    pthread_mutex_lock(&G.mu);
    G.nreq = 0; /* a dump asked for now would be recorded nowhere */
    pthread_mutex_unlock(&G.mu);
    return rc;
}

static PyObject *Sampler_stop(SamplerObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "status", NULL };
    PyObject *status = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &status)) return NULL;
    if (!self->running) Py_RETURN_NONE;
    long st = -1;
    if (status != Py_None) {
        st = PyLong_AsLong(status);
        if (st == -1 && PyErr_Occurred()) return NULL;
        if (st < 0) return PyErr_Format(PyExc_ValueError, "status must be None or at least 0, not %ld", st);
    } else if (G.exit_requested)
        st = MT_SAMPLER_EXIT_ALERT;
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    int rc = stop_sampler(self, (int)st, &d);
    if (rc) {
        char where[400];
        if (d.msg[0]) mt_diag_format(&d, where, sizeof where);
        else snprintf(where, sizeof where, "%s", mt_strerror(rc));
        return PyErr_Format(rc == MT_E_IO ? PyExc_OSError : PyExc_ValueError, "%S: %s", self->path, where);
    }
    Py_RETURN_NONE;
}

static PyObject *Sampler_step(SamplerObject *self, PyObject *args) {
    PyObject *name;
    char buf[512];
    const char *c;
    if (!PyArg_ParseTuple(args, "O", &name) || check_running(self) || c_text(name, buf, sizeof buf, &c, "name"))
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&G.stop_mu); /* another thread's stop() may be freeing it */
    rc = G.s ? mt_sampler_step(G.s, c) : MT_E_INVAL;
    pthread_mutex_unlock(&G.stop_mu);
    Py_END_ALLOW_THREADS
    if (rc) return PyErr_Format(PyExc_OSError, "%S: step %R: %s", self->path, name, mt_strerror(rc));
    Py_RETURN_NONE;
}

static PyObject *Sampler_event(SamplerObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "kind", "name", "value", "detail", NULL };
    PyObject *kind, *name = Py_None, *detail = Py_None;
    double value = 0.0;
    char kb[64], nb[512], db[4096];
    const char *k, *n, *dt;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OdO", kwlist, &kind, &name, &value, &detail) ||
        check_running(self) || c_text(kind, kb, sizeof kb, &k, "kind") || c_text(name, nb, sizeof nb, &n, "name") ||
        c_text(detail, db, sizeof db, &dt, "detail"))
        return NULL;
    if (!k) return PyErr_Format(PyExc_TypeError, "kind must be a str, not None");
    int rc;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&G.stop_mu);
    rc = G.s ? mt_sampler_event(G.s, k, n, value, dt) : MT_E_INVAL;
    pthread_mutex_unlock(&G.stop_mu);
    Py_END_ALLOW_THREADS
    if (rc) return PyErr_Format(PyExc_OSError, "%S: event %R: %s", self->path, kind, mt_strerror(rc));
    Py_RETURN_NONE;
}

static PyObject *Sampler_latest(SamplerObject *self, PyObject *unused) {
    if (check_running(self)) return NULL;
    const char *names[256];
    double values[256];
    char copy[256][64]; /* the names, copied while the sampler surely lives */
    size_t n = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&G.stop_mu);
    if (G.s) n = mt_sampler_latest(G.s, names, values, 256);
    if (n > 256) n = 256;
    for (size_t i = 0; i < n; i++) snprintf(copy[i], sizeof copy[i], "%s", names[i]);
    pthread_mutex_unlock(&G.stop_mu);
    Py_END_ALLOW_THREADS
    PyObject *d = PyDict_New();
    for (size_t i = 0; d && i < n; i++) {
        PyObject *v = PyFloat_FromDouble(values[i]);
        if (!v || PyDict_SetItemString(d, copy[i], v)) Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

static PyObject *Sampler_now(SamplerObject *self, PyObject *unused) {
    if (check_running(self)) return NULL;
    uint64_t t = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&G.stop_mu);
    if (G.s) t = mt_sampler_now(G.s);
    pthread_mutex_unlock(&G.stop_mu);
    Py_END_ALLOW_THREADS
    return PyLong_FromUnsignedLongLong(t);
}

static PyObject *Sampler_gil_wait(SamplerObject *self, PyObject *unused) {
    pthread_mutex_lock(&G.mu);
    PyObject *r = Py_BuildValue("{s:K,s:d,s:d}", "readings", (unsigned long long)G.gil_waits, "total",
                                G.gil_wait_total_ns / 1e9, "max", G.gil_wait_max_ns / 1e9);
    pthread_mutex_unlock(&G.mu);
    return r;
}

static PyObject *Sampler_get_path(SamplerObject *self, void *unused) {
    return Py_NewRef(self->path ? self->path : Py_None);
}

static PyObject *Sampler_get_running(SamplerObject *self, void *unused) {
    return PyBool_FromLong(self->running && G.s);
}

/* After fork() the child has the parent's memory but none of its
 * threads: forget the sampler without touching it (its mutexes may be
 * held by a thread that is not there). */
static PyObject *Sampler_forget(SamplerObject *self, PyObject *unused) {
    if (self->running) {
        self->running = 0;
        G.s = NULL;
        G.owner = NULL;
        G.fig_running = 0;
        pthread_mutex_init(&G.mu, NULL);
        pthread_mutex_init(&G.stop_mu, NULL);
        memset(&G.cv, 0, sizeof G.cv); /* the parent's waiter is not here */
        G.cv_monotonic = 0;            /* initialized at the next start */
        G.handler = NULL; /* leaked: the parent's handler */
        G.gc_get_count = G.gc_get_stats = G.tm_is_tracing = G.tm_get_traced = NULL;
    }
    Py_RETURN_NONE;
}

static void Sampler_dealloc(SamplerObject *self) {
    if (self->running) {
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        stop_sampler(self, -1, &d);
    }
    Py_XDECREF(self->path);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Sampler_methods[] = {
    { "start", (PyCFunction)(void (*)(void))Sampler_start, METH_VARARGS | METH_KEYWORDS,
      "start($self, /, path, *, interval=0.1, children=False, alerts=None, peak_margin=0.0, peak_every=30.0, "
      "tool=None, command=None, handler=None)\n--\n\n"
      "Starts sampling into the run file path (at its path at once, flushed every second).\n"
      "handler(kind, name, value) is called in the main thread for 'peak' (value the rss),\n"
      "'dump' and 'exit' (name the alert, value its measure) requests." },
    { "stop", (PyCFunction)(void (*)(void))Sampler_stop, METH_VARARGS | METH_KEYWORDS,
      "stop($self, /, status=None)\n--\n\n"
      "Stops the thread, takes a last sample, writes an exit event with status (none for\n"
      "None; 124 after an exit alert) and closes the file." },
    { "step", (PyCFunction)Sampler_step, METH_VARARGS,
      "step($self, name, /)\n--\n\n"
      "A step event; later samples carry the step's name (None: no step)." },
    { "event", (PyCFunction)(void (*)(void))Sampler_event, METH_VARARGS | METH_KEYWORDS,
      "event($self, /, kind, name=None, value=0.0, detail=None)\n--\n\n"
      "Records an event now, on the samples' clock." },
    { "latest", (PyCFunction)Sampler_latest, METH_NOARGS,
      "latest($self, /)\n--\n\n"
      "The newest value of each series, as a dict." },
    { "now", (PyCFunction)Sampler_now, METH_NOARGS,
      "now($self, /)\n--\n\n"
      "Nanoseconds since the run's start: the clock of every record." },
    { "gil_wait", (PyCFunction)Sampler_gil_wait, METH_NOARGS,
      "gil_wait($self, /)\n--\n\n"
      "How the readings of the Python figures waited for the GIL: {readings, total, max} (s)." },
    { "_forget", (PyCFunction)Sampler_forget, METH_NOARGS, "Drops a sampler inherited through fork()." },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef Sampler_getset[] = {
    { "path", (getter)Sampler_get_path, NULL, "the run file (None before start)", NULL },
    { "running", (getter)Sampler_get_running, NULL, "True between start() and stop()", NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject memtrace_SamplerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "memtrace._memtrace.Sampler",
    .tp_doc = "Sampler()\n--\n\n"
              "The sampler thread of memtrace's collector library; one runs per process.\n"
              "Use memtrace.sampling().",
    .tp_basicsize = sizeof(SamplerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)Sampler_dealloc,
    .tp_methods = Sampler_methods,
    .tp_getset = Sampler_getset,
};
