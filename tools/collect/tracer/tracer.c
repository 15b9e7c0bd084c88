/* The tracer's threads and file (tracer.h): per-thread event buffers, the
 * writer thread that drains them in time order, live bytes per stack and
 * their checkpoints. */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "memtrace/format.h"
#include "internal.h"
#include "sampler.h"
#include "tracer.h"

#define SEC_NS 1000000000ULL
#define GEN_DEAD 0xFFFFFFFFu

__thread mt__trace_tls mt__tls __attribute__((tls_model("initial-exec")));
volatile int mt__trace_all;
uint8_t *volatile mt__trace_filter;

typedef struct mt__ev {
    uint64_t t, addr, size, born;
    double w;
    uint32_t stack;
    uint8_t op, domain;
} mt__ev;

/* One thread's buffer. The struct belongs to its thread for the thread's
 * life and joins each trace anew (gen, id); the writer frees it once the
 * thread has exited and its events are written. */
typedef struct mt__thr {
    pthread_mutex_t mu;
    pthread_cond_t drained;
    mt__ev *buf;        /* the thread's, under mu */
    size_t n, cap;
    mt__ev *spare;      /* the writer's */
    mt__ev *taken;      /* swapped out by the last drain, the writer's */
    size_t ntaken;
    uint32_t id, gen;
    int dead, named;
    pid_t tid;
    struct mt__thr *next;
} mt__thr;

typedef struct mt__queued_event {
    uint64_t t;
    double value;
    char *kind, *name, *detail;
} mt__queued_event;

typedef struct mt__live {
    int64_t n;          /* recorded blocks live */
    double bytes, count;
} mt__live;

static struct {
    pthread_once_t once;
    pthread_key_t key;
    pthread_mutex_t reg_mu;  /* the list of threads, ids */
    mt__thr *threads;
    uint32_t nthreads;
    pthread_mutex_t map_mu;
    mt__addrmap map;
    pthread_mutex_t intern_mu;
    mt__intern in;
    pthread_mutex_t ev_mu;
    mt__queued_event *events;
    size_t nevents, capevents;
    pthread_mutex_t wmu;     /* the writer's wake-up */
    pthread_cond_t wcond;
    int kick, stop_req;
    pthread_t writer;
    mt_writer *w;
    volatile int running;
    uint32_t gen;
    uint64_t sample_bytes, seed;
    int all;
    int stacks_only;         /* no file: the map and the interner only */
    uint64_t mono0, start_time;
    uint64_t drain_ns, flush_ns, checkpoint_ns;
    size_t cap;
    mt__live *live;
    size_t nlive;
    mt_tracer_stats stats;
    int err;
    char errmsg[256];
} T = {.once = PTHREAD_ONCE_INIT, .sample_bytes = MT_TRACE_DEFAULT_SAMPLE_BYTES};

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SEC_NS + (uint64_t)ts.tv_nsec;
}

uint64_t mt_tracer_now(void) {
    uint64_t n = mono_ns();
    return n > T.mono0 ? n - T.mono0 : 0;
}

int mt_tracer_running(void) { return T.running; }

int mt_tracer_stacks_only(void) { return T.running && T.stacks_only; }

/* The map's lock, unless this thread holds it for its lookups. */
static inline void map_lock(void) {
    if (!mt__tls.owner) pthread_mutex_lock(&T.map_mu);
}
static inline void map_unlock(void) {
    if (!mt__tls.owner) pthread_mutex_unlock(&T.map_mu);
}

/* A thread's exit: its struct is the writer's to free once drained; the
 * thread records nothing more (its last frees pass through). */
static void thread_exit(void *arg) {
    mt__thr *t = arg;
    pthread_mutex_lock(&t->mu);
    t->dead = 1;
    pthread_mutex_unlock(&t->mu);
    mt__tls.thr = NULL;
    mt__tls.gen = GEN_DEAD;
}

/* The child of a fork has no writer thread, and the locks may have been
 * held by threads it does not have: it forgets the parent's trace
 * (leaving its memory, which it cannot know to be consistent). */
static void after_fork_child(void) {
    T.running = 0;
    T.stacks_only = 0;
    mt__trace_all = 0;
    mt__trace_filter = NULL;
    T.w = NULL;
    T.threads = NULL;
    T.nthreads = 0;
    T.events = NULL;
    T.nevents = T.capevents = 0;
    T.live = NULL;
    T.nlive = 0;
    memset(&T.in, 0, sizeof T.in);
    pthread_mutex_init(&T.reg_mu, NULL);
    pthread_mutex_init(&T.map_mu, NULL);
    pthread_mutex_init(&T.intern_mu, NULL);
    pthread_mutex_init(&T.ev_mu, NULL);
    pthread_mutex_init(&T.wmu, NULL);
    mt__tls.thr = NULL;
    mt__tls.gen = 0;
    mt__tls.busy = 0;
    mt__tls.owner = 0;
}

static void init_once(void) {
    pthread_key_create(&T.key, thread_exit);
    pthread_mutex_init(&T.reg_mu, NULL);
    pthread_mutex_init(&T.map_mu, NULL);
    pthread_mutex_init(&T.intern_mu, NULL);
    pthread_mutex_init(&T.ev_mu, NULL);
    pthread_mutex_init(&T.wmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&T.wcond, &ca);
    pthread_condattr_destroy(&ca);
    mt__addrmap_init(&T.map);
    pthread_atfork(NULL, NULL, after_fork_child);
}

static uint64_t thread_seed(uint32_t id) {
    if (T.seed) return T.seed + (uint64_t)id * 0xD1B54A32D192ED03ULL;
    uint64_t s = mono_ns() ^ ((uint64_t)syscall(SYS_gettid) << 32) ^ (uint64_t)(uintptr_t)&mt__tls;
    mt__rng_next(&s);
    return s;
}

/* The calling thread's buffer in the running trace, registering it with
 * its first event; NULL when it cannot record. */
static mt__thr *thr_get(void) {
    if (mt__tls.gen == T.gen && mt__tls.thr) return mt__tls.thr;
    if (mt__tls.gen == GEN_DEAD || !T.running) return NULL;
    mt__thr *t = mt__tls.thr;
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t) return NULL;
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->drained, NULL);
        t->tid = (pid_t)syscall(SYS_gettid);
        pthread_mutex_lock(&T.reg_mu);
        t->next = T.threads;
        T.threads = t;
        pthread_mutex_unlock(&T.reg_mu);
        pthread_setspecific(T.key, t);
        mt__tls.thr = t;
    }
    /* Lock order everywhere: the list, then a buffer. */
    pthread_mutex_lock(&T.reg_mu);
    pthread_mutex_lock(&t->mu);
    if (t->cap != T.cap) {
        mt__ev *b = malloc(T.cap * sizeof *b);
        if (!b) {
            pthread_mutex_unlock(&t->mu);
            pthread_mutex_unlock(&T.reg_mu);
            return NULL;
        }
        free(t->buf);
        free(t->spare);
        t->spare = NULL;
        t->buf = b;
        t->cap = T.cap;
    }
    t->n = 0;
    t->id = ++T.nthreads;
    t->gen = T.gen;
    t->named = 0;
    pthread_mutex_unlock(&t->mu);
    pthread_mutex_unlock(&T.reg_mu);
    mt__tls.gen = T.gen;
    mt__tls.rng = thread_seed(t->id);
    return t;
}

int mt__trace_take_slow(size_t n) {
    /* left <= 0: the countdown ran out within this block (or this thread
     * has not joined the trace yet, or no trace runs). */
    if (mt__tls.busy) {
        mt__tls.left = (int64_t)T.sample_bytes;
        return 0;
    }
    if (!T.running || mt__tls.gen == GEN_DEAD) {
        /* Keep the countdown going between traces, drawn as in one. */
        mt__tls.left = mt__sample_countdown(&mt__tls.rng, T.sample_bytes);
        return 0;
    }
    if (mt__tls.gen != T.gen) {
        if (!thr_get()) {
            mt__tls.left = (int64_t)T.sample_bytes;
            return 0;
        }
        mt__tls.left = mt__sample_countdown(&mt__tls.rng, T.sample_bytes);
        if (mt__tls.left > (int64_t)n) {
            mt__tls.left -= (int64_t)n;
            return 0;
        }
    }
    /* Sampled. The process after the block's end is a fresh one. */
    mt__tls.left = mt__sample_countdown(&mt__tls.rng, T.sample_bytes);
    return 1;
}

static void kick_writer(void) {
    pthread_mutex_lock(&T.wmu);
    T.kick = 1;
    pthread_cond_signal(&T.wcond);
    pthread_mutex_unlock(&T.wmu);
}

/* With t->mu held: room for one event, waiting for the writer while the
 * buffer is full. 0 when the trace stopped (or the thread left it). */
static int room(mt__thr *t) {
    while (T.running && t->gen == T.gen && t->n == t->cap) {
        pthread_mutex_unlock(&t->mu);
        kick_writer();
        pthread_mutex_lock(&t->mu);
        if (t->n == t->cap && T.running && t->gen == T.gen) pthread_cond_wait(&t->drained, &t->mu);
    }
    if (!T.running || t->gen != T.gen) return 0;
    if (t->n == t->cap - t->cap / 4) kick_writer();
    return 1;
}

/* A stacks_only tracer's allocation: into the map, nothing else. */
static void stacks_alloc(const void *p, size_t n, uint32_t domain, uint32_t stack) {
    mt__addr_entry a = {(uint64_t)(uintptr_t)p, n, 0, 0.0, stack, domain};
    map_lock();
    int bad = T.running && mt__addrmap_put(&T.map, &a);
    map_unlock();
    if (bad) __atomic_fetch_add(&T.stats.dropped, 1, __ATOMIC_RELAXED);
}

void mt_tracer_alloc(const void *p, size_t n, uint32_t domain, uint32_t stack) {
    if (T.stacks_only) {
        if (p) stacks_alloc(p, n, domain, stack);
        return;
    }
    mt__thr *t = thr_get();
    if (!t || !p) return;
    double w = T.all ? 0.0 : mt__sample_weight(n, T.sample_bytes);
    pthread_mutex_lock(&t->mu);
    if (room(t)) {
        /* The time is read under the buffer's lock, so that a drain (which
         * holds every buffer's lock at once) separates the times it takes
         * from those it leaves. */
        mt__ev *e = &t->buf[t->n];
        e->t = mt_tracer_now();
        e->addr = (uint64_t)(uintptr_t)p;
        e->size = n;
        e->born = 0;
        e->w = w;
        e->stack = stack;
        e->op = MT_ALLOC_ALLOC;
        e->domain = (uint8_t)domain;
        mt__addr_entry a = {e->addr, n, e->t, w, stack, domain};
        pthread_mutex_lock(&T.map_mu);
        int bad = mt__addrmap_put(&T.map, &a);
        pthread_mutex_unlock(&T.map_mu);
        if (bad)
            __atomic_fetch_add(&T.stats.dropped, 1, __ATOMIC_RELAXED);
        else
            t->n++;
    }
    pthread_mutex_unlock(&t->mu);
}

_Static_assert(MT__TRACE_FILTER_MASK == ((1u << MT__ADDR_FILTER_BITS) - 1), "tracer.h's filter mask");

int mt_tracer_forget(const void *p, mt_tracer_block *b) {
    if (!T.running) return 0;
    mt__addr_entry e;
    map_lock();
    int found = mt__addrmap_take(&T.map, (uint64_t)(uintptr_t)p, &e);
    map_unlock();
    if (!found) return 0;
    b->size = e.size;
    b->born = e.born;
    b->weight = e.weight;
    b->stack = e.stack;
    b->domain = e.domain;
    return 1;
}

void mt_tracer_unforget(const void *p, const mt_tracer_block *b) {
    mt__addr_entry e = {(uint64_t)(uintptr_t)p, b->size, b->born, b->weight, b->stack, b->domain};
    map_lock();
    mt__addrmap_put(&T.map, &e);
    map_unlock();
}

void mt_tracer_free(const void *p, const mt_tracer_block *b) {
    if (T.stacks_only) return; /* out of the map already: nothing to write */
    mt__thr *t = thr_get();
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    if (room(t)) {
        mt__ev *e = &t->buf[t->n++];
        e->t = mt_tracer_now();
        e->addr = (uint64_t)(uintptr_t)p;
        e->size = b->size;
        e->born = b->born;
        e->w = b->weight;
        e->stack = b->stack;
        e->op = MT_ALLOC_FREE;
        e->domain = (uint8_t)b->domain;
    }
    pthread_mutex_unlock(&t->mu);
}

void mt_tracer_intern_lock(void) { pthread_mutex_lock(&T.intern_mu); }
void mt_tracer_intern_unlock(void) { pthread_mutex_unlock(&T.intern_mu); }

uint32_t mt_tracer_frame_cached(const void *key, uint64_t at) {
    return mt__pairmap_get(&T.in.at, (uint64_t)(uintptr_t)key, at);
}

uint32_t mt_tracer_frame(const void *key, uint64_t at, uint32_t line, const char *function, size_t function_len,
                        const char *file, size_t file_len, int *is_new) {
    uint32_t id = mt__intern_frame(&T.in, (uint64_t)(uintptr_t)key, line, function, function_len, file, file_len,
                                   is_new);
    if (id && mt__pairmap_put(&T.in.at, (uint64_t)(uintptr_t)key, at, id)) return id; /* uncached: still right */
    return id;
}

uint32_t mt_tracer_stack(uint32_t frame, uint32_t parent) { return mt__intern_stack(&T.in, frame, parent); }

static char *strdup_or_null(const char *s) { return s ? strdup(s) : NULL; }

int mt_tracer_event(const char *kind, const char *name, double value, const char *detail) {
    if (!T.running) return MT_E_STATE;
    mt__queued_event e = {mt_tracer_now(), value, strdup_or_null(kind), strdup_or_null(name), strdup_or_null(detail)};
    pthread_mutex_lock(&T.ev_mu);
    int rc = 0;
    if (T.nevents == T.capevents) {
        size_t nc = T.capevents ? T.capevents * 2 : 16;
        mt__queued_event *ne = realloc(T.events, nc * sizeof *ne);
        if (ne) {
            T.events = ne;
            T.capevents = nc;
        }
    }
    if (T.nevents < T.capevents && e.kind)
        T.events[T.nevents++] = e;
    else
        rc = MT_E_NOMEM;
    pthread_mutex_unlock(&T.ev_mu);
    if (rc) {
        free(e.kind);
        free(e.name);
        free(e.detail);
    }
    return rc;
}

void mt_tracer_get_stats(mt_tracer_stats *out) {
    *out = T.stats;
    out->threads = T.nthreads;
    if (T.running) {
        out->frames = T.in.nframes;
        out->stacks = T.in.nstacks;
    }
}

/* ------------------------------------------------------------------ */
/* The writer thread.                                                   */

static void note(int rc, const char *what) {
    if (rc && !T.err) {
        T.err = rc;
        snprintf(T.errmsg, sizeof T.errmsg, "%s: %s", what, mt_strerror(rc));
    }
}

static int live_grow(uint32_t stack) {
    if (stack < T.nlive) return 0;
    size_t nn = T.nlive ? T.nlive : 1024;
    while (nn <= stack) nn *= 2;
    mt__live *l = realloc(T.live, nn * sizeof *l);
    if (!l) return -1;
    memset(l + T.nlive, 0, (nn - T.nlive) * sizeof *l);
    T.live = l;
    T.nlive = nn;
    return 0;
}

/* Takes every buffer of the running trace at one moment: every buffer's
 * lock held at once, so that each event taken was timed before the cut
 * and each left is timed after. Frees the structs of exited threads. */
static uint64_t drain(void) {
    pthread_mutex_lock(&T.reg_mu);
    for (mt__thr *t = T.threads; t; t = t->next) pthread_mutex_lock(&t->mu);
    uint64_t cut = mt_tracer_now();
    for (mt__thr *t = T.threads; t; t = t->next) {
        t->ntaken = 0;
        if (t->gen != T.gen || !t->n) continue;
        if (!t->spare) t->spare = malloc(t->cap * sizeof *t->spare);
        if (!t->spare) continue; /* taken next time; the thread waits */
        t->taken = t->buf;
        t->ntaken = t->n;
        t->buf = t->spare;
        t->spare = NULL;
        t->n = 0;
    }
    for (mt__thr *t = T.threads; t; t = t->next) {
        pthread_cond_broadcast(&t->drained);
        pthread_mutex_unlock(&t->mu);
    }
    pthread_mutex_unlock(&T.reg_mu);
    return cut;
}

static void write_thread_names(void) {
    pthread_mutex_lock(&T.reg_mu);
    for (mt__thr *t = T.threads; t; t = t->next) {
        if (t->gen != T.gen || t->named) continue;
        char key[32], val[64];
        snprintf(key, sizeof key, "thread.%u", t->id);
        if (t->tid == getpid())
            snprintf(val, sizeof val, "main (tid %d)", (int)t->tid);
        else
            snprintf(val, sizeof val, "tid %d", (int)t->tid);
        note(mt_writer_meta_str(T.w, key, val), "cannot write the thread names");
        t->named = 1;
    }
    pthread_mutex_unlock(&T.reg_mu);
}

/* The frames and stacks interned since the last drain: every one that an
 * event taken by this drain names (it was interned before its event was
 * buffered). */
static int write_dictionary(void) {
    pthread_mutex_lock(&T.intern_mu);
    mt__new_frame *nf = T.in.new_frames;
    size_t nnf = T.in.n_new_frames;
    mt__new_stack *ns = T.in.new_stacks;
    size_t nns = T.in.n_new_stacks;
    T.in.new_frames = NULL;
    T.in.n_new_frames = T.in.cap_new_frames = 0;
    T.in.new_stacks = NULL;
    T.in.n_new_stacks = T.in.cap_new_stacks = 0;
    pthread_mutex_unlock(&T.intern_mu);
    for (size_t i = 0; i < nnf; i++) {
        mt_frame f = {nf[i].id, mt_str_c(nf[i].function), mt_str_c(nf[i].file), nf[i].line};
        note(mt_writer_add(T.w, MT_KIND_FRAME, &f), "cannot write a frame");
        free(nf[i].function);
        free(nf[i].file);
    }
    for (size_t i = 0; i < nns; i++) {
        mt_stack s = {ns[i].id, ns[i].frame, ns[i].parent};
        note(mt_writer_add(T.w, MT_KIND_STACK, &s), "cannot write a stack");
    }
    free(nf);
    free(ns);
    return nnf || nns;
}

static void write_event(const mt__ev *e, uint32_t thread) {
    mt_alloc a = {e->t, e->op, e->addr, e->size, e->stack, thread, e->domain, 0, e->w,
                  e->op == MT_ALLOC_FREE ? e->born : 0};
    note(mt_writer_add(T.w, MT_KIND_ALLOC, &a), "cannot write an allocation");
    if (e->op == MT_ALLOC_FREE)
        T.stats.frees++;
    else
        T.stats.allocs++;
    if (live_grow(e->stack)) return;
    mt__live *l = &T.live[e->stack];
    double w = e->w > 0 ? e->w : 1.0;
    if (e->op == MT_ALLOC_ALLOC) {
        l->n++;
        l->bytes += (double)e->size * w;
        l->count += w;
    } else if (--l->n <= 0) {
        /* Exactly nothing: no rounding left over from the weights. */
        l->n = 0;
        l->bytes = l->count = 0;
    } else {
        l->bytes -= (double)e->size * w;
        l->count -= w;
    }
}

/* The taken buffers merged by time: each is in time order already. */
static void write_events(void) {
    /* The list is walked under its lock: a thread's first event pushes
     * onto it at any time (TSan). Its nodes stay: only this thread reaps. */
    size_t k = 0;
    pthread_mutex_lock(&T.reg_mu);
    for (mt__thr *t = T.threads; t; t = t->next)
        if (t->ntaken) k++;
    mt__thr **src = k ? malloc(k * sizeof *src) : NULL;
    size_t *pos = k ? calloc(k, sizeof *pos) : NULL;
    if (!src || !pos) {
        pthread_mutex_unlock(&T.reg_mu);
        free(src);
        free(pos);
        return;
    }
    k = 0;
    for (mt__thr *t = T.threads; t; t = t->next)
        if (t->ntaken) src[k++] = t;
    pthread_mutex_unlock(&T.reg_mu);
    for (;;) {
        size_t best = k;
        for (size_t i = 0; i < k; i++)
            if (pos[i] < src[i]->ntaken &&
                (best == k || src[i]->taken[pos[i]].t < src[best]->taken[pos[best]].t))
                best = i;
        if (best == k) break;
        write_event(&src[best]->taken[pos[best]++], src[best]->id);
    }
    for (size_t i = 0; i < k; i++) {
        /* The buffer comes back as the next spare. */
        if (!src[i]->spare)
            src[i]->spare = src[i]->taken;
        else
            free(src[i]->taken);
        src[i]->taken = NULL;
        src[i]->ntaken = 0;
    }
    free(src);
    free(pos);
}

static void write_queued_events(void) {
    pthread_mutex_lock(&T.ev_mu);
    mt__queued_event *ev = T.events;
    size_t n = T.nevents;
    T.events = NULL;
    T.nevents = T.capevents = 0;
    pthread_mutex_unlock(&T.ev_mu);
    for (size_t i = 0; i < n; i++) {
        mt_event e = {ev[i].t, mt_str_c(ev[i].kind), mt_str_c(ev[i].name), ev[i].value, mt_str_c(ev[i].detail)};
        note(mt_writer_add(T.w, MT_KIND_EVENT, &e), "cannot write an event");
        free(ev[i].kind);
        free(ev[i].name);
        free(ev[i].detail);
    }
    free(ev);
}

static void write_rss(void) {
    mt_procmem pm;
    if (mt_procmem_read_opts(NULL, getpid(), 0, 0, &pm)) return;
    mt_sample s = {0};
    s.time_ns = mt_tracer_now();
    s.series = mt_str_c("rss");
    s.value = (double)pm.rss;
    note(mt_writer_add(T.w, MT_KIND_SAMPLE, &s), "cannot write an rss sample");
}

/* A checkpoint after every allocs record written so far: flushed first,
 * so that its block follows theirs in the file. */
static void write_checkpoint(uint64_t cut) {
    note(mt_writer_flush(T.w), "cannot flush the trace");
    uint64_t upto = mt_writer_count(T.w, MT_KIND_ALLOC);
    for (size_t i = 0; i < T.nlive; i++) {
        if (T.live[i].n <= 0) continue;
        mt_trace_live l = {cut, (uint32_t)i, T.live[i].bytes, T.live[i].count, upto};
        note(mt_writer_add(T.w, MT_KIND_TRACE_LIVE, &l), "cannot write a checkpoint");
    }
}

/* Frees the structs of threads that exited, once their events are
 * written. */
static void reap_threads(void) {
    pthread_mutex_lock(&T.reg_mu);
    for (mt__thr **pp = &T.threads; *pp;) {
        mt__thr *t = *pp;
        pthread_mutex_lock(&t->mu);
        int gone = t->dead && (t->gen != T.gen || !t->n) && !t->ntaken;
        pthread_mutex_unlock(&t->mu);
        if (!gone) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        free(t->buf);
        free(t->spare);
        free(t->taken);
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->drained);
        free(t);
    }
    pthread_mutex_unlock(&T.reg_mu);
}

static void *writer_main(void *arg) {
    (void)arg;
    uint64_t last_flush = mono_ns(), last_ckpt = last_flush;
    for (;;) {
        pthread_mutex_lock(&T.wmu);
        uint64_t deadline = mono_ns() + T.drain_ns;
        struct timespec ts = {(time_t)(deadline / SEC_NS), (long)(deadline % SEC_NS)};
        while (!T.kick && !T.stop_req)
            if (pthread_cond_timedwait(&T.wcond, &T.wmu, &ts) == ETIMEDOUT) break;
        int stopping = T.stop_req;
        T.kick = 0;
        pthread_mutex_unlock(&T.wmu);

        uint64_t cut = drain();
        write_thread_names();
        if (write_dictionary()) note(mt_writer_flush(T.w), "cannot flush the trace");
        write_events();
        write_queued_events();
        write_rss();
        reap_threads();
        uint64_t now = mono_ns();
        if (stopping || now - last_ckpt >= T.checkpoint_ns) {
            write_checkpoint(cut);
            last_ckpt = now;
        }
        if (stopping || now - last_flush >= T.flush_ns) {
            note(mt_writer_flush(T.w), "cannot flush the trace");
            last_flush = now;
        }
        if (stopping) break;
    }
    return NULL;
}

static int write_meta(const mt_tracer_config *cfg) {
    char host[256] = "", domains[64];
    gethostname(host, sizeof host - 1);
    snprintf(domains, sizeof domains, "%s", cfg->domains ? cfg->domains : "");
    int rc = mt_writer_meta_str(T.w, "tool", cfg->tool ? cfg->tool : "memtrace-tracer");
    if (!rc) rc = mt_writer_meta_str(T.w, "tool_version", MT_VERSION_STRING);
    if (!rc) rc = mt_writer_meta_str(T.w, "host", host);
    if (!rc) rc = mt_writer_meta_uint(T.w, "pid", (uint64_t)getpid());
    if (!rc) rc = mt_writer_meta_uint(T.w, "start_time", T.start_time);
    if (!rc && cfg->command) rc = mt_writer_meta_str(T.w, "command", cfg->command);
    if (!rc) rc = mt_writer_meta_str(T.w, "trace_mode", T.all ? "all" : "sampled");
    if (!rc) rc = mt_writer_meta_uint(T.w, "sample_bytes", T.all ? 1 : T.sample_bytes);
    if (!rc) rc = mt_writer_meta_str(T.w, "trace_domains", domains);
    if (!rc) rc = mt_writer_meta_uint(T.w, "trace_checkpoint_ns", T.checkpoint_ns);
    for (const char *const *m = cfg->meta; !rc && m && m[0] && m[1]; m += 2) rc = mt_writer_meta_str(T.w, m[0], m[1]);
    return rc;
}

static const mt_writer_opts WRITER_OPTS = {0, 0, 0, 1};

/* Empties the map and the interner for a new trace. */
static void reset_tables(void) {
    pthread_mutex_lock(&T.map_mu);
    mt__addrmap_clear(&T.map);
    pthread_mutex_unlock(&T.map_mu);
    pthread_mutex_lock(&T.intern_mu);
    mt__intern_free(&T.in);
    pthread_mutex_unlock(&T.intern_mu);
}

/* A stacks_only start: full mode into the map, no file, no thread. */
static int stacks_start(const mt_tracer_config *cfg) {
    (void)cfg;
    T.all = 1;
    T.stacks_only = 1;
    memset(&T.stats, 0, sizeof T.stats);
    T.err = 0;
    T.errmsg[0] = 0;
    reset_tables();
    T.mono0 = mono_ns();
    pthread_mutex_lock(&T.map_mu);
    T.running = 1;
    pthread_mutex_unlock(&T.map_mu);
    mt__trace_all = 1;
    mt__trace_filter = mt__addrmap_filter(&T.map);
    return 0;
}

/* A stacks_only stop: off under the map's lock (an allocation is in the
 * map before or not at all), then the tables go. */
static int stacks_stop(void) {
    mt__trace_all = 0;
    mt__trace_filter = NULL;
    pthread_mutex_lock(&T.map_mu);
    T.running = 0;
    pthread_mutex_unlock(&T.map_mu);
    pthread_mutex_lock(&T.intern_mu);
    T.stats.frames = T.in.nframes;
    T.stats.stacks = T.in.nstacks;
    pthread_mutex_unlock(&T.intern_mu);
    reset_tables();
    T.stacks_only = 0;
    return 0;
}

int mt_tracer_lookup_begin(void) {
    if (!T.running || !T.stacks_only || mt__tls.owner) return MT_E_STATE;
    mt__tls.busy++;
    pthread_mutex_lock(&T.map_mu);
    pthread_mutex_lock(&T.intern_mu);
    mt__tls.owner = 1;
    if (!T.running) { /* stopped meanwhile */
        mt_tracer_lookup_end();
        return MT_E_STATE;
    }
    return 0;
}

void mt_tracer_lookup_end(void) {
    if (!mt__tls.owner) return;
    mt__tls.owner = 0;
    pthread_mutex_unlock(&T.intern_mu);
    pthread_mutex_unlock(&T.map_mu);
    mt__tls.busy--;
}

uint32_t mt_tracer_lookup_stack(const void *p) {
    uint64_t a = (uint64_t)(uintptr_t)p;
    if (!mt__tls.owner || !mt__addrmap_maybe(&T.map, a)) return 0;
    const mt__addr_entry *e = mt__addrmap_find(&T.map, a);
    return e ? e->stack : 0;
}

int mt_tracer_lookup_stack_info(uint32_t id, uint32_t *frame, uint32_t *parent) {
    /* Nothing drains the lists of a stacks_only tracer: id n is entry n-1. */
    if (!mt__tls.owner || !id || id > T.in.n_new_stacks) return 0;
    const mt__new_stack *s = &T.in.new_stacks[id - 1];
    *frame = s->frame;
    *parent = s->parent;
    return s->id == id;
}

int mt_tracer_lookup_frame(uint32_t id, const char **function, const char **file, uint32_t *line) {
    if (!mt__tls.owner || !id || id > T.in.n_new_frames) return 0;
    const mt__new_frame *f = &T.in.new_frames[id - 1];
    *function = f->function;
    *file = f->file;
    *line = f->line;
    return f->id == id;
}

int mt_tracer_start(const mt_tracer_config *cfg, mt_diag *diag) {
    pthread_once(&T.once, init_once);
    if (T.running) {
        mt_diag_set(diag, MT_E_STATE, "a trace runs already in this process");
        return MT_E_STATE;
    }
    if (cfg && cfg->stacks_only) return stacks_start(cfg);
    if (!cfg || !cfg->path || !*cfg->path) {
        mt_diag_set(diag, MT_E_INVAL, "no trace file given");
        return MT_E_INVAL;
    }
    T.stacks_only = 0;
    T.sample_bytes = cfg->sample_bytes ? cfg->sample_bytes : MT_TRACE_DEFAULT_SAMPLE_BYTES;
    T.all = cfg->all;
    T.seed = cfg->seed;
    T.drain_ns = cfg->drain_ns ? cfg->drain_ns : SEC_NS / 10;
    T.flush_ns = cfg->flush_ns ? cfg->flush_ns : SEC_NS;
    T.checkpoint_ns = cfg->checkpoint_ns ? cfg->checkpoint_ns : 10 * SEC_NS;
    T.cap = cfg->buffer_events ? cfg->buffer_events : 8192;
    if (T.cap < 16) T.cap = 16;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    T.mono0 = mono_ns();
    T.start_time = (uint64_t)rt.tv_sec * SEC_NS + (uint64_t)rt.tv_nsec;
    memset(&T.stats, 0, sizeof T.stats);
    T.err = 0;
    T.errmsg[0] = 0;
    free(T.live);
    T.live = NULL;
    T.nlive = 0;
    reset_tables();
    int rc = mt_writer_open(cfg->path, &WRITER_OPTS, &T.w, diag);
    if (rc) return rc;
    rc = write_meta(cfg);
    if (!rc) rc = mt_writer_flush(T.w); /* at its path from now on */
    if (rc) {
        mt_diag_set(diag, rc, "%s: cannot write the trace's header: %s", cfg->path, mt_strerror(rc));
        mt_writer_abandon(T.w);
        T.w = NULL;
        return rc;
    }
    pthread_mutex_lock(&T.reg_mu);
    T.gen = T.gen + 1 == GEN_DEAD ? 1 : T.gen + 1;
    T.nthreads = 0;
    pthread_mutex_unlock(&T.reg_mu);
    T.kick = T.stop_req = 0;
    /* This thread's countdown starts afresh (from the seed, if given). */
    mt__tls.left = 0;
    T.running = 1;
    if (pthread_create(&T.writer, NULL, writer_main, NULL)) {
        T.running = 0;
        mt_writer_abandon(T.w);
        T.w = NULL;
        mt_diag_set(diag, MT_E_NOMEM, "cannot start the tracer's writer thread");
        return MT_E_NOMEM;
    }
    mt__trace_all = T.all;
    mt__trace_filter = mt__addrmap_filter(&T.map);
    return 0;
}

int mt_tracer_stop(mt_diag *diag) {
    if (!T.running) {
        mt_diag_set(diag, MT_E_STATE, "no trace runs in this process");
        return MT_E_STATE;
    }
    if (T.stacks_only) return stacks_stop();
    mt__trace_all = 0;
    mt__trace_filter = NULL;
    /* Off under every buffer's lock: an event is either buffered before
     * the writer's last drain or not at all. */
    pthread_mutex_lock(&T.reg_mu);
    for (mt__thr *t = T.threads; t; t = t->next) pthread_mutex_lock(&t->mu);
    T.running = 0;
    for (mt__thr *t = T.threads; t; t = t->next) {
        pthread_cond_broadcast(&t->drained);
        pthread_mutex_unlock(&t->mu);
    }
    pthread_mutex_unlock(&T.reg_mu);
    /* The last drain takes what was buffered; it needs running only to
     * know the buffers of this trace (gen). */
    pthread_mutex_lock(&T.wmu);
    T.stop_req = 1;
    pthread_cond_signal(&T.wcond);
    pthread_mutex_unlock(&T.wmu);
    pthread_join(T.writer, NULL);
    int rc = mt_writer_close(T.w, diag);
    T.w = NULL;
    if (T.err) {
        mt_diag_set(diag, T.err, "%s", T.errmsg);
        rc = T.err;
    }
    pthread_mutex_lock(&T.map_mu);
    mt__addrmap_clear(&T.map);
    pthread_mutex_unlock(&T.map_mu);
    pthread_mutex_lock(&T.intern_mu);
    T.stats.frames = T.in.nframes;
    T.stats.stacks = T.in.nstacks;
    mt__intern_free(&T.in);
    pthread_mutex_unlock(&T.intern_mu);
    return rc;
}
