/* The sampler thread: reads the process's memory every interval, writes
 * the points to the run file and to the bounded store, evaluates the
 * alerts, and rewrites the file from the store when it has grown by a
 * point tier (formats/SPEC.md 3.4, 4.3).
 *
 * Locking: s->mu guards the writer, the store, the events, the step and
 * the stop flag. Reading /proc and calling back happen outside it, so
 * that a callback may call mt_sampler_point() or mt_sampler_event(). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memtrace/format.h"
#include "internal.h"

#ifndef MT_VERSION_STRING
#define MT_VERSION_STRING "0"
#endif

/* The window of the growth measure. */
#define GROWTH_WINDOW_NS (10ull * MT__SEC_NS)

typedef struct event {
    uint64_t t;
    char *kind, *name, *detail;
    double value;
} event;

typedef mt__tv tv;

struct mt_sampler {
    char *path, *root, *tool, *command;
    uint64_t interval, flush_ns;
    size_t point_tier;
    pid_t pid;
    pid_t owner; /* the process that started it: a forked child is not */
    int children;
    mt_alert *alerts;
    size_t n_alerts;
    mt_sampler_alert_fn on_alert;
    double peak_margin;
    uint64_t peak_every;
    mt_sampler_peak_fn on_peak;
    mt_sampler_extra_fn extra;
    void *ctx;

    uint64_t mono0;      /* CLOCK_MONOTONIC at start_time */
    uint64_t start_time; /* ns since the epoch */
    char host[256];
    uint64_t mem_total;
    mt_cgroup cg;
    int has_cg;
    struct gpu_poll *gpu; /* NULL: no GPU thread ("" nvml_lib) */
    uint64_t gpu_seq;     /* the last poll taken into the file */
    struct gpu_point *gpu_pts;

    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Guarded by mu. */
    int stopping;
    mt_writer *w;
    mt__store *store;
    event *ev;
    size_t nev, evcap;
    char *step;
    /* The step before the last change and when that change was: a sample
     * is timed before its thread takes mu, so one timed before a step
     * that got mu first still belongs to the step before it. */
    char *prev_step;
    uint64_t step_t;
    uint64_t last_flush;
    size_t ticks; /* samples since the file was last rewritten */
    int err;
    char errmsg[200];

    int gone; /* atomic: read by mt_sampler_target_gone() from any thread */

    /* The sampler thread's own (and start's and stop's, before and after it). */
    tv *win;
    size_t wn, wcap;
    uint64_t rollup_next; /* mono_ns when smaps_rollup is read again */
    double peak_ref;
    uint64_t peak_last;
    int peak_rising;      /* past the margin, waiting for rss to stop rising */
    double peak_top;
    double peak_held;     /* the highest rss while peak_every held a call back */
    uint64_t peak_since, peak_rose;
    int peak_fired_once;
};

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * MT__SEC_NS + (uint64_t)ts.tv_nsec;
}

uint64_t mt_sampler_now(const mt_sampler *s) {
    uint64_t n = mono_ns();
    return n > s->mono0 ? n - s->mono0 : 0;
}

/* A child forked from the sampled process (multiprocessing's fork, a
 * shell-out) holds a copy of the sampler without its thread, perhaps with
 * the mutex taken at the fork, and the parent's file descriptor: it must
 * neither write nor wait. */
static int foreign(const mt_sampler *s) {
    return getpid() != s->owner;
}

/* Keeps the first error of the run. */
static void note(mt_sampler *s, int rc, const char *what) {
    if (rc && !s->err) {
        s->err = rc;
        snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", what, mt_strerror(rc));
    }
}

static int write_meta(mt_sampler *s, mt_writer *w) {
    int rc = 0;
    if (!rc) rc = mt_writer_meta_str(w, "tool", s->tool);
    if (!rc) rc = mt_writer_meta_str(w, "tool_version", MT_VERSION_STRING);
    if (!rc) rc = mt_writer_meta_uint(w, "pid", (uint64_t)s->pid);
    if (!rc) rc = mt_writer_meta_str(w, "host", s->host);
    if (!rc) rc = mt_writer_meta_uint(w, "start_time", s->start_time);
    if (!rc) rc = mt_writer_meta_uint(w, "interval_ns", s->interval);
    if (!rc) rc = mt_writer_meta_str(w, "command", s->command);
    if (!rc && s->has_cg) rc = mt_writer_meta_str(w, "cgroup", s->cg.dir + strlen(s->root));
    if (!rc && s->mem_total) rc = mt_writer_meta_uint(w, "mem_total", s->mem_total);
    return rc;
}

static int write_event(mt_writer *w, const event *e) {
    mt_event r;
    memset(&r, 0, sizeof r);
    r.time_ns = e->t;
    r.kind = mt_str_c(e->kind);
    r.name = mt_str_c(e->name);
    r.value = e->value;
    r.detail = mt_str_c(e->detail);
    return mt_writer_add(w, MT_KIND_EVENT, &r);
}

#define MT__FLUSH_MIN_NS 50000000ull
/* The longest a peak call waits for rss to stop rising. */
#define MT__PEAK_SETTLE_NS 1000000000ull
#define MT__PEAK_FLAT_NS 30000000ull
/* A peak this many times the last one's top is called even within peak_every. */
#define MT__PEAK_MUCH 1.5

static const mt_writer_opts WRITER_OPTS = {0, 0, 0, 1};

/* Rewrites the file from the store: the new file is renamed over the path
 * at its first flush, so the path always holds a whole, followable file;
 * the old writer is then dropped (after a publish, abandoning it unlinks
 * nothing: formats/src/writer.c). A failure keeps the old file growing. */
static int compact_locked(mt_sampler *s) {
    mt_writer *nw;
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    int rc = mt_writer_open(s->path, &WRITER_OPTS, &nw, &d);
    if (rc) return rc;
    rc = write_meta(s, nw);
    for (size_t i = 0; !rc && i < s->nev; i++) rc = write_event(nw, &s->ev[i]);
    if (!rc) rc = mt__store_write(s->store, nw);
    if (!rc) rc = mt_writer_flush(nw);
    if (rc) {
        mt_writer_abandon(nw);
        s->ticks = 0; /* try again a point tier later, not every sample */
        return rc;
    }
    mt_writer_abandon(s->w);
    s->w = nw;
    s->ticks = 0;
    s->last_flush = mono_ns();
    return 0;
}

static void add_point_locked(mt_sampler *s, const char *series, uint64_t t, double v) {
    mt_sample r;
    memset(&r, 0, sizeof r);
    r.time_ns = t;
    r.series = mt_str_c(series);
    r.value = v;
    const char *step = t < s->step_t ? s->prev_step : s->step;
    r.step = mt_str_c(step);
    note(s, mt_writer_add(s->w, MT_KIND_SAMPLE, &r), "cannot write a sample");
    note(s, mt__store_add(s->store, series, t, v, step), "cannot keep a sample");
}

int mt_sampler_point(mt_sampler *s, const char *series, uint64_t time_ns, double value) {
    if (!s || !series || !*series) return MT_E_INVAL;
    if (foreign(s)) return MT_E_STATE;
    pthread_mutex_lock(&s->mu);
    add_point_locked(s, series, time_ns, value);
    int rc = s->err;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static char *dup_or_null(const char *t, int *fail) {
    if (!t) return NULL;
    char *c = strdup(t);
    if (!c) *fail = 1;
    return c;
}

static int event_locked(mt_sampler *s, uint64_t t, const char *kind, const char *name, double value,
                        const char *detail) {
    if (s->nev == s->evcap) {
        size_t cap = s->evcap ? s->evcap * 2 : 16;
        event *ne = realloc(s->ev, cap * sizeof *ne);
        if (!ne) return MT_E_NOMEM;
        s->ev = ne;
        s->evcap = cap;
    }
    int fail = 0;
    event e = {t, dup_or_null(kind, &fail), dup_or_null(name, &fail), dup_or_null(detail, &fail), value};
    if (fail) {
        free(e.kind), free(e.name), free(e.detail);
        return MT_E_NOMEM;
    }
    s->ev[s->nev++] = e;
    return write_event(s->w, &e);
}

int mt_sampler_event(mt_sampler *s, const char *kind, const char *name, double value, const char *detail) {
    if (!s || !kind || !*kind) return MT_E_INVAL;
    if (foreign(s)) return MT_E_STATE;
    uint64_t t = mt_sampler_now(s);
    pthread_mutex_lock(&s->mu);
    int rc = event_locked(s, t, kind, name, value, detail);
    note(s, rc, "cannot write an event");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int mt_sampler_step(mt_sampler *s, const char *name) {
    if (!s) return MT_E_INVAL;
    if (foreign(s)) return MT_E_STATE;
    char *c = name ? strdup(name) : NULL;
    if (name && !c) return MT_E_NOMEM;
    pthread_mutex_lock(&s->mu);
    /* Timed under mu, so that every sample written after this call was
     * timed either after it or (step_t) is told apart. */
    uint64_t t = mt_sampler_now(s);
    free(s->prev_step);
    s->prev_step = s->step;
    s->step = c;
    s->step_t = t;
    int rc = name ? event_locked(s, t, "step", name, 0, NULL) : 0;
    note(s, rc, "cannot write an event");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

size_t mt_sampler_latest(mt_sampler *s, const char **names, double *values, size_t n) {
    if (foreign(s)) return 0;
    pthread_mutex_lock(&s->mu);
    size_t total = mt__store_series_count(s->store);
    for (size_t i = 0; i < total && i < n; i++) {
        mt__tier_counts c;
        mt__store_series_counts(s->store, i, &c);
        names[i] = mt__store_series_name(s->store, i);
        values[i] = c.latest;
    }
    pthread_mutex_unlock(&s->mu);
    return total;
}

int mt_sampler_target_gone(const mt_sampler *s) {
    return __atomic_load_n(&s->gone, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------ */
/* The GPU thread                                                       */

/* NVML calls can block for seconds (nvmlInit without persistence mode, a
 * GPU fallen off the bus, a driver busy with a reset), so they run on a
 * thread of their own: each sample takes the poll that has finished
 * since the last one and asks for the next. A sample never waits for
 * NVML; a poll that hangs only stops the gpu series. The thread shares
 * nothing with the sampler but a gpu_poll, freed by whichever of the two
 * lets go of it last, so that a stop need not wait for a hung call: it
 * waits GPU_STOP_WAIT_NS, then leaves the thread to finish on its own.
 *
 * Series: gpuN.used, gpuN.total, gpuN.driver_reserved (v2 memory call
 * only; not gpuN.reserved, which is the caching allocator's in a cell
 * log, SPEC.md 4.4),
 * gpuN.pid.PID for every process NVML lists on device N, the sampled
 * tree's and the others' alike, since other processes are what fill a
 * device; a process gone from the list gets one last point of 0. The
 * process call walks the driver's contexts and costs more than the
 * memory call, so it is made at most once per 100 times its last cost
 * (1% of a CPU), as smaps_rollup is. */

#define GPU_MAX_POINTS 1024            /* points one poll hands over */
#define GPU_MAX_PROCS 256              /* processes read per device */
#define GPU_STOP_WAIT_NS 1000000000ull /* a stop waits this long for a poll */

typedef struct gpu_point {
    char name[32];
    double v;
} gpu_point;

typedef struct gpu_poll {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    /* Set before the thread starts, then read only. */
    char *lib;         /* NULL: the default library */
    char *root;
    uint64_t mono0;
    /* Guarded by mu. */
    int refs;          /* the sampler's and the thread's */
    int kicked, stopping, exited;
    uint64_t seq;      /* polls finished */
    uint64_t t;        /* the latest poll's time, on the sampler's clock */
    gpu_point *pts;
    size_t n;
} gpu_poll;

static void gpu_release(gpu_poll *g) {
    pthread_mutex_lock(&g->mu);
    int last = --g->refs == 0;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (!last) return;
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g->lib), free(g->root), free(g->pts);
    free(g);
}

static void gpu_put(gpu_point *p, size_t *n, const char *name, double v) {
    if (*n >= GPU_MAX_POINTS) return;
    snprintf(p[*n].name, sizeof p[*n].name, "%s", name);
    p[(*n)++].v = v;
}

/* What the thread keeps from poll to poll. */
typedef struct gpu_state {
    mt_nvml *nv;
    mt_nvml_proc *procs;  /* one poll's processes of a device */
    mt_nvml_proc *prev;   /* per device, GPU_MAX_PROCS: the last list read */
    size_t *nprev;
    uint64_t procs_next;  /* mono_ns when the process lists are read again */
} gpu_state;

/* One poll of every device into p. @return the number of points. */
static size_t gpu_poll_once(gpu_state *st, const char *root, gpu_point *p) {
    size_t n = 0;
    char nm[32];
    uint64_t t0 = mono_ns();
    int procs_due = t0 >= st->procs_next;
    uint64_t procs_cost = 0;
    for (unsigned d = 0; d < mt_nvml_count(st->nv); d++) {
        mt_nvml_mem m;
        if (mt_nvml_memory(st->nv, d, &m)) continue;
        snprintf(nm, sizeof nm, "gpu%u.used", d);
        gpu_put(p, &n, nm, (double)m.used);
        snprintf(nm, sizeof nm, "gpu%u.total", d);
        gpu_put(p, &n, nm, (double)m.total);
        if (m.v2) {
            snprintf(nm, sizeof nm, "gpu%u.driver_reserved", d);
            gpu_put(p, &n, nm, (double)m.reserved);
        }
        if (!procs_due) continue;
        uint64_t c0 = mono_ns();
        size_t k = 0;
        int rc = mt_nvml_processes(st->nv, d, root, m.total, st->procs, GPU_MAX_PROCS, &k, NULL);
        procs_cost += mono_ns() - c0;
        if (rc) continue; /* no list: no process is taken for gone */
        /* One pid listed twice (a context per MIG instance) is one
         * process: its sizes add up. */
        size_t u = 0;
        for (size_t j = 0; j < k; j++) {
            size_t q = 0;
            while (q < u && st->procs[q].pid != st->procs[j].pid) q++;
            if (q < u)
                st->procs[q].used += st->procs[j].used;
            else
                st->procs[u++] = st->procs[j];
        }
        for (size_t j = 0; j < u; j++) {
            snprintf(nm, sizeof nm, "gpu%u.pid.%u", d, (unsigned)st->procs[j].pid);
            gpu_put(p, &n, nm, (double)st->procs[j].used);
        }
        mt_nvml_proc *prev = st->prev + (size_t)d * GPU_MAX_PROCS;
        for (size_t j = 0; j < st->nprev[d]; j++) {
            size_t q = 0;
            while (q < u && st->procs[q].pid != prev[j].pid) q++;
            if (q < u) continue;
            snprintf(nm, sizeof nm, "gpu%u.pid.%u", d, (unsigned)prev[j].pid);
            gpu_put(p, &n, nm, 0);
        }
        memcpy(prev, st->procs, u * sizeof *prev);
        st->nprev[d] = u;
    }
    if (procs_due) st->procs_next = t0 + 100 * procs_cost;
    return n;
}

static void *gpu_run(void *arg) {
    gpu_poll *g = arg;
    /* Named for top -H and gdb, and for the tests that look for it. */
    pthread_setname_np(pthread_self(), "memtrace-gpu");
    gpu_state st;
    memset(&st, 0, sizeof st);
    gpu_point *p = malloc(GPU_MAX_POINTS * sizeof *p);
    st.nv = mt_nvml_open(g->lib);
    unsigned nd = mt_nvml_count(st.nv);
    if (nd) {
        st.procs = malloc(GPU_MAX_PROCS * sizeof *st.procs);
        st.prev = malloc((size_t)nd * GPU_MAX_PROCS * sizeof *st.prev);
        st.nprev = calloc(nd, sizeof *st.nprev);
    }
    if (st.nv && p && st.procs && st.prev && st.nprev) {
        pthread_mutex_lock(&g->mu);
        while (!g->stopping) {
            if (!g->kicked) {
                pthread_cond_wait(&g->cv, &g->mu);
                continue;
            }
            g->kicked = 0;
            pthread_mutex_unlock(&g->mu);
            uint64_t t = mono_ns();
            size_t n = gpu_poll_once(&st, g->root, p);
            pthread_mutex_lock(&g->mu);
            memcpy(g->pts, p, n * sizeof *p);
            g->n = n;
            g->t = t > g->mono0 ? t - g->mono0 : 0;
            g->seq++;
        }
        pthread_mutex_unlock(&g->mu);
    }
    mt_nvml_close(st.nv);
    free(st.procs), free(st.prev), free(st.nprev), free(p);
    pthread_mutex_lock(&g->mu);
    g->exited = 1;
    pthread_mutex_unlock(&g->mu);
    gpu_release(g);
    return NULL;
}

/* Starts the GPU thread; nothing when lib is "" or the thread cannot be
 * had (the run then has no gpu series, as on a machine without one). */
static void gpu_start(mt_sampler *s, const char *lib) {
    if (lib && !*lib) return;
    gpu_poll *g = calloc(1, sizeof *g);
    gpu_point *own = malloc(GPU_MAX_POINTS * sizeof *own);
    if (!g || !own || !(g->pts = malloc(GPU_MAX_POINTS * sizeof *g->pts)) || !(g->root = strdup(s->root)) ||
        (lib && !(g->lib = strdup(lib)))) {
        if (g) free(g->pts), free(g->root), free(g->lib);
        free(g), free(own);
        return;
    }
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    g->mono0 = s->mono0;
    g->refs = 2;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int rc = pthread_create(&th, &at, gpu_run, g);
    pthread_attr_destroy(&at);
    if (rc) {
        g->refs = 1;
        gpu_release(g);
        free(own);
        return;
    }
    s->gpu = g;
    s->gpu_pts = own;
}

/* Takes the poll finished since the last call into pts and asks for the
 * next. @return the number of points, *t their time. */
static size_t gpu_take(mt_sampler *s, uint64_t *t) {
    gpu_poll *g = s->gpu;
    size_t n = 0;
    if (!g) return 0;
    pthread_mutex_lock(&g->mu);
    if (g->seq != s->gpu_seq) {
        s->gpu_seq = g->seq;
        n = g->n;
        memcpy(s->gpu_pts, g->pts, n * sizeof *g->pts);
        *t = g->t;
    }
    if (!g->stopping) {
        g->kicked = 1;
        pthread_cond_signal(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* Asks the thread to stop and waits GPU_STOP_WAIT_NS at most for it,
 * so that the poll in flight makes the last sample. */
static void gpu_stop(mt_sampler *s) {
    gpu_poll *g = s->gpu;
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    g->stopping = 1;
    pthread_cond_broadcast(&g->cv);
    uint64_t until = mono_ns() + GPU_STOP_WAIT_NS;
    struct timespec ts = {(time_t)(until / MT__SEC_NS), (long)(until % MT__SEC_NS)};
    while (!g->exited)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&g->mu);
}

/* ------------------------------------------------------------------ */
/* One sample                                                           */

typedef struct named {
    char name[32];
    double v;
} named;

double mt__slope_per_s(const mt__tv *p, size_t n) {
    if (n < 2) return 0;
    /* Centred on the first time, so that large clocks lose no digits. */
    double mt = 0, mv = 0;
    for (size_t i = 0; i < n; i++) mt += (double)(p[i].t - p[0].t), mv += p[i].v;
    mt /= (double)n;
    mv /= (double)n;
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double dt = (double)(p[i].t - p[0].t) - mt;
        num += dt * (p[i].v - mv);
        den += dt * dt;
    }
    return den > 0 ? num / den * 1e9 : 0;
}

static double growth(const mt_sampler *s) {
    return mt__slope_per_s(s->win, s->wn);
}

static void window_add(mt_sampler *s, uint64_t t, double rss) {
    size_t drop = 0;
    while (drop < s->wn && s->win[drop].t + GROWTH_WINDOW_NS < t) drop++;
    if (drop) memmove(s->win, s->win + drop, (s->wn - drop) * sizeof *s->win);
    s->wn -= drop;
    if (s->wn == s->wcap) {
        size_t cap = s->wcap ? s->wcap * 2 : 64;
        tv *nw = realloc(s->win, cap * sizeof *nw);
        if (!nw) return; /* the measure then uses what it has */
        s->win = nw;
        s->wcap = cap;
    }
    s->win[s->wn++] = (tv){t, rss};
}

static int lookup(const named *v, size_t n, const char *name, double *out) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0) {
            *out = v[i].v;
            return 1;
        }
    return 0;
}

#define MAX_VALUES 64

/* Reads everything, writes it, evaluates alerts and the peak, and calls
 * back. Called by the thread, and by start and stop around it. */
static void take_sample(mt_sampler *s, int with_callbacks) {
    uint64_t t = mt_sampler_now(s);
    named v[MAX_VALUES];
    size_t n = 0;
    mt_procmem pm;
    /* smaps_rollup walks the page tables: at most 1% of a CPU on it. */
    uint64_t t0 = mono_ns();
    int rollup = t0 >= s->rollup_next;
    int rc = mt_procmem_read_opts(s->root, s->pid, s->children, rollup, &pm);
    if (rollup) s->rollup_next = t0 + 100 * (mono_ns() - t0);
    if (rc == MT_E_NOTFOUND) {
        __atomic_store_n(&s->gone, 1, __ATOMIC_RELEASE);
        return;
    }
#define PUT(nm, val) (snprintf(v[n].name, sizeof v[n].name, "%s", nm), v[n++].v = (double)(val))
    if (!rc) {
        PUT("rss", pm.rss);
        PUT("swap", pm.swap);
        if (pm.has_rollup) {
            PUT("pss", pm.pss);
            PUT("uss", pm.uss);
        }
        if (s->children) PUT("procs", pm.procs);
    }
    if (s->has_cg && mt_cgroup_read(&s->cg) == 0) {
        if (s->cg.has_current) PUT("cgroup.current", s->cg.current);
        if (s->cg.max != UINT64_MAX) PUT("cgroup.max", s->cg.max);
        if (s->cg.has_events) {
            PUT("cgroup.oom", s->cg.oom);
            PUT("cgroup.oom_kill", s->cg.oom_kill);
        }
    }
    uint64_t avail, total;
    if (mt_meminfo_read(s->root, &avail, &total) == 0) PUT("mem.available", avail);
#undef PUT
    /* The GPU poll finished since the last sample, at its own time. */
    uint64_t gt = t;
    size_t ng = gpu_take(s, &gt);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) add_point_locked(s, v[i].name, t, v[i].v);
    for (size_t i = 0; i < ng; i++) add_point_locked(s, s->gpu_pts[i].name, gt, s->gpu_pts[i].v);
    pthread_mutex_unlock(&s->mu);

    if (with_callbacks && s->extra) s->extra(s->ctx, s, t);

    double rss = 0;
    int has_rss = lookup(v, n, "rss", &rss);
    if (has_rss) window_add(s, t, rss);

    /* Alerts: which fire now, decided and recorded under the lock, the
     * callbacks after it. */
    size_t fired[64], nf = 0;
    double fired_v[64];
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_alerts; i++) {
        mt_alert *a = &s->alerts[i];
        double val, thr = a->threshold;
        if (strcmp(a->series, "growth") == 0) {
            /* Half a window of points, or 50 samples, at least: two
             * samples of a start-up (an import) are no rate to act on. */
            uint64_t span = GROWTH_WINDOW_NS / 2 < 50 * s->interval ? GROWTH_WINDOW_NS / 2 : 50 * s->interval;
            if (!has_rss || s->wn < 2 || s->win[s->wn - 1].t - s->win[0].t < span) continue;
            val = growth(s);
        } else if (!lookup(v, n, a->series, &val) && !mt__store_latest(s->store, a->series, &val)) {
            continue;
        }
        if (a->percent_of == 1) {
            double limit = 0;
            if (!lookup(v, n, "cgroup.max", &limit)) limit = (double)s->mem_total;
            if (limit <= 0) continue;
            thr = a->threshold / 100.0 * limit;
        } else if (a->percent_of == 2) {
            double av;
            if (!lookup(v, n, "mem.available", &av)) continue;
            thr = a->threshold / 100.0 * av;
        }
        int crossed = a->below ? val < thr : val > thr;
        if (crossed && !a->fired) {
            a->fired = 1;
            char detail[sizeof a->command + 8];
            if (a->action == MT_ALERT_EXEC)
                snprintf(detail, sizeof detail, "exec=%s", a->command);
            else
                snprintf(detail, sizeof detail, "%s", mt_alert_action_name(a->action));
            note(s, event_locked(s, t, "alert", a->expr, val, detail), "cannot write an event");
            if (nf < 64) fired_v[nf] = val, fired[nf++] = i;
        } else if (!crossed && a->fired) {
            a->fired = 0;
        }
    }
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; with_callbacks && i < nf; i++)
        if (s->on_alert) s->on_alert(s->ctx, &s->alerts[fired[i]], fired_v[i]);

    /* A new peak: rss above the last reference by the margin, and not
     * sooner than peak_every after the last call unless rss is half as
     * high again as that call's top: a load step's rise must not hide the
     * join's peak that follows it within the same 30 s. The call waits until
     * rss stops rising (or for MT__PEAK_SETTLE_NS at most, for a steady
     * climb), so that a dump it asks for sees the top of a spike, not the
     * first tenth of its way up. */
    if (has_rss && s->peak_margin > 0) {
        if (s->peak_ref <= 0) {
            s->peak_ref = rss;
        } else if (s->peak_rising) {
            if (rss > s->peak_top) {
                s->peak_top = rss;
                s->peak_rose = t;
            }
            /* Flat for 30 ms (three samples at 10 ms; one at 100 ms): a
             * single flat sample at a short interval is often the
             * allocator between two arenas, not the top. */
            if (t - s->peak_rose >= MT__PEAK_FLAT_NS || t - s->peak_since >= MT__PEAK_SETTLE_NS) {
                double top = rss > s->peak_top ? rss : s->peak_top;
                s->peak_rising = 0;
                s->peak_ref = top;
                s->peak_last = t;
                s->peak_fired_once = 1;
                if (with_callbacks && s->on_peak) s->on_peak(s->ctx, (uint64_t)top);
            }
        } else {
            int held_back = s->peak_fired_once && t - s->peak_last < s->peak_every && !(rss > s->peak_ref * MT__PEAK_MUCH);
            double base = s->peak_held > s->peak_ref ? s->peak_held : s->peak_ref;
            if (held_back) {
                /* The maximum reached while peak_every holds calls back is
                 * the one a later call must pass ("passes its previous
                 * maximum"), not the last call's top. */
                if (rss > s->peak_ref * (1.0 + s->peak_margin) && rss > s->peak_held) s->peak_held = rss;
            } else if (rss > base * (1.0 + s->peak_margin)) {
                s->peak_rising = 1;
                s->peak_top = rss;
                s->peak_since = s->peak_rose = t;
                s->peak_held = 0;
            }
        }
    }

    pthread_mutex_lock(&s->mu);
    s->ticks++;
    if (s->ticks >= s->point_tier) note(s, compact_locked(s), "cannot rewrite the run file");
    pthread_mutex_unlock(&s->mu);
}

static void flush_locked(mt_sampler *s) {
    note(s, mt_writer_flush(s->w), "cannot flush the run file");
    s->last_flush = mono_ns();
}

static struct timespec abs_ts(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / MT__SEC_NS), (long)(ns % MT__SEC_NS)};
    return ts;
}

/* Waits on absolute CLOCK_MONOTONIC deadlines, so that the time a sample
 * takes does not drift the next one; a condition variable on that clock
 * rather than clock_nanosleep, so that stop does not wait an interval. */
static void *run(void *arg) {
    mt_sampler *s = arg;
    uint64_t next = mono_ns() + s->interval;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        uint64_t flush_at = s->last_flush + s->flush_ns;
        struct timespec ts = abs_ts(next < flush_at ? next : flush_at);
        int rc = pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (s->stopping) break;
        if (rc != ETIMEDOUT && rc != 0) continue;
        uint64_t now = mono_ns();
        /* Once the target is gone the thread samples no more but goes on
         * flushing what other threads add, until stop. */
        int gone = __atomic_load_n(&s->gone, __ATOMIC_ACQUIRE);
        if (gone) next = now + s->flush_ns;
        int sampled = 0;
        if (now >= next && !gone) {
            sampled = 1;
            pthread_mutex_unlock(&s->mu);
            take_sample(s, 1);
            pthread_mutex_lock(&s->mu);
            next += s->interval;
            /* Behind by more than an interval (a stopped process, a loaded
             * machine): skip the missed ticks rather than burst. */
            if (next <= now) next = now + s->interval;
            if (__atomic_load_n(&s->gone, __ATOMIC_ACQUIRE)) flush_locked(s);
        }
        /* When every sample is to be flushed (flush_ns no longer than the
         * interval), it is, right after it is taken: a deadline counted
         * from the last flush, which a slow sample may have delayed, would
         * now and then hold a sample back a whole interval. */
        if ((sampled && s->flush_ns <= s->interval) || mono_ns() >= s->last_flush + s->flush_ns) flush_locked(s);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void sampler_free(mt_sampler *s) {
    if (!s) return;
    mt_writer_abandon(s->w);
    mt__store_free(s->store);
    for (size_t i = 0; i < s->nev; i++) free(s->ev[i].kind), free(s->ev[i].name), free(s->ev[i].detail);
    free(s->ev);
    free(s->step);
    free(s->prev_step);
    free(s->win);
    free(s->alerts);
    free(s->path), free(s->root), free(s->tool), free(s->command);
    if (s->gpu) {
        /* A start that failed after gpu_start(), or a stop: the thread
         * must not wait for kicks that will never come. */
        pthread_mutex_lock(&s->gpu->mu);
        s->gpu->stopping = 1;
        pthread_cond_broadcast(&s->gpu->cv);
        pthread_mutex_unlock(&s->gpu->mu);
        gpu_release(s->gpu);
    }
    free(s->gpu_pts);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int mt_sampler_start(const mt_sampler_config *cfg, mt_sampler **out, mt_diag *diag) {
    *out = NULL;
    mt_diag_clear(diag);
    if (!cfg || !cfg->path || !*cfg->path) return mt_diag_set(diag, MT_E_INVAL, "no run file path");
    uint64_t interval = cfg->interval_ns ? cfg->interval_ns : 100000000ull;
    if (interval < 10000000ull)
        return mt_diag_set(diag, MT_E_INVAL, "interval %.3g ms is under the 10 ms the sampler takes",
                           (double)interval / 1e6);
    mt_sampler *s = calloc(1, sizeof *s);
    if (!s) return mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the sampler");
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->interval = interval;
    /* A follower (memtrace-top) shows a sample once its block is in the
     * file: flushing each sample, and at least every 50 ms at shorter
     * intervals, keeps that under 100 ms. The small blocks cost file size
     * (bench/sampler: about 3 times the bytes of a flush a second), which
     * the next rewrite takes back. */
    s->flush_ns = cfg->flush_ns ? cfg->flush_ns : (interval > MT__FLUSH_MIN_NS ? interval : MT__FLUSH_MIN_NS);
    s->point_tier = cfg->point_tier ? cfg->point_tier : (size_t)(600ull * MT__SEC_NS / interval);
    if (!s->point_tier) s->point_tier = 1;
    s->owner = getpid();
    s->pid = cfg->pid ? cfg->pid : s->owner;
    s->children = cfg->follow_children;
    s->on_alert = cfg->on_alert;
    s->peak_margin = cfg->peak_margin;
    s->peak_every = cfg->peak_every_ns;
    s->on_peak = cfg->on_peak;
    s->extra = cfg->extra;
    s->ctx = cfg->ctx;
    s->path = strdup(cfg->path);
    s->root = strdup(cfg->root ? cfg->root : "");
    s->tool = strdup(cfg->tool ? cfg->tool : "memtrace-sampler");
    s->command = strdup(cfg->command ? cfg->command : "");
    s->store = mt__store_new(s->point_tier);
    if (cfg->n_alerts && (s->alerts = malloc(cfg->n_alerts * sizeof *s->alerts)))
        memcpy(s->alerts, cfg->alerts, cfg->n_alerts * sizeof *s->alerts);
    if (!s->path || !s->root || !s->tool || !s->command || !s->store || (cfg->n_alerts && !s->alerts)) {
        sampler_free(s);
        return mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the sampler");
    }
    s->n_alerts = cfg->n_alerts;
    for (size_t i = 0; i < s->n_alerts; i++) s->alerts[i].fired = 0;

    mt_procmem pm;
    int rc = mt_procmem_read(s->root, s->pid, 0, &pm);
    if (rc) {
        int pid = (int)s->pid;
        sampler_free(s);
        return mt_diag_set(diag, rc, rc == MT_E_NOTFOUND ? "process %d not found" : "cannot read process %d", pid);
    }
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    s->mono0 = mono_ns();
    s->start_time = (uint64_t)rt.tv_sec * MT__SEC_NS + (uint64_t)rt.tv_nsec;
    if (gethostname(s->host, sizeof s->host - 1) != 0) s->host[0] = 0;
    mt_meminfo_read(s->root, NULL, &s->mem_total);
    s->has_cg = mt_cgroup_find(s->root, s->pid, &s->cg) == 0;
    gpu_start(s, cfg->nvml_lib);

    rc = mt_writer_open(s->path, &WRITER_OPTS, &s->w, diag);
    if (rc) {
        sampler_free(s);
        return rc;
    }
    rc = write_meta(s, s->w);
    if (!rc) rc = event_locked(s, 0, "start", s->command, 0, NULL);
    if (rc) {
        mt_diag_set(diag, rc, "cannot write the run file's start");
        sampler_free(s);
        return rc;
    }
    take_sample(s, 1);
    flush_locked(s); /* publishes the file at its path */
    if (s->err) {
        rc = mt_diag_set(diag, s->err, "%s", s->errmsg);
        sampler_free(s);
        return rc;
    }
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        sampler_free(s);
        return mt_diag_set(diag, MT_E_NOMEM, "cannot start the sampler thread");
    }
    s->thread_started = 1;
    *out = s;
    return 0;
}

int mt_sampler_stop(mt_sampler *s, int status, mt_diag *diag) {
    mt_diag_clear(diag);
    if (!s) return 0;
    if (foreign(s))
        return mt_diag_set(diag, MT_E_STATE, "the sampler belongs to process %d, not to this fork of it", (int)s->owner);
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    gpu_stop(s);
    if (!__atomic_load_n(&s->gone, __ATOMIC_ACQUIRE)) take_sample(s, 0);
    pthread_mutex_lock(&s->mu);
    if (status >= 0) note(s, event_locked(s, mt_sampler_now(s), "exit", NULL, status, NULL), "cannot write an event");
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    int rc = mt_writer_close(s->w, &d);
    s->w = NULL;
    note(s, rc, "cannot close the run file");
    pthread_mutex_unlock(&s->mu);
    rc = s->err;
    if (rc) mt_diag_set(diag, rc, "%s%s%s", s->errmsg, d.msg[0] ? ": " : "", d.msg);
    sampler_free(s);
    return rc;
}
