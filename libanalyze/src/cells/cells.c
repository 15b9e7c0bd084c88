/* A notebook's cell log (memtrace/cells.h). Every record kind sits in
 * blocks of its own, so the cells are read first and the frames and
 * samples find their cell by the id in their step "cell:ID" (a gc count
 * with step "session:N" is the baseline of session N). Everything
 * lives in flat arrays and one string pool; the pointers the accessors
 * hand out are set once the pool has stopped moving. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/cells.h"
#include "memtrace/snapshot.h"
#include "common/array.h"

typedef struct cell_strs {
    size_t source, hash, error; /* pool offsets */
} cell_strs;

typedef struct frame_raw {
    uint32_t cell;   /* index of its cell */
    size_t seq;      /* file order */
    size_t name;     /* pool offset */
    mt_cell_frame f;
} frame_raw;

typedef struct gpu_raw {
    uint32_t cell, device, which; /* which: 0 allocated, 1 reserved, 2 peak_allocated */
    size_t seq;
    double v;
} gpu_raw;

typedef struct gc_raw {
    uint32_t cell, session;
    int base;        /* a session's baseline (step "session:N"), before its cells */
    size_t seq;
    size_t type;     /* pool offset */
    const char *name;
    double v;
} gc_raw;

typedef struct sess_raw {
    uint32_t session;
    int from_cell;   /* 0: a session event */
    size_t seq;
    size_t kernel, detail;
    uint64_t start_ns;
    int ended;
    uint32_t started;      /* the cell of its last cell_start event, or 0 */
    size_t started_src;    /* pool offset of that event's detail */
    uint64_t started_ns;
    double started_rss;
} sess_raw;

typedef struct id_ix {
    uint32_t id, ix;
} id_ix;

struct mt_cells {
    mt_cell *cells;
    cell_strs *strs;
    size_t n, cap, cap_strs;
    char *pool;
    size_t pool_len, pool_cap;
    frame_raw *fr;
    size_t nfr, capfr;
    mt_cell_frame *frames;
    gpu_raw *gr;
    size_t ngr, capgr;
    mt_cell_gpu *gpu;
    size_t ngpu;
    gc_raw *gc;
    size_t ngc, capgc;
    mt_cell_type *types;
    size_t ntypes;
    size_t *type_name;  /* pool offsets of types[] names */
    sess_raw *sr;
    size_t nsr, capsr;
    int in_session;     /* sr holds the latest session event at nsr - 1 */
    size_t last_event;
    mt_cell_session *sessions;
    size_t nsessions;
    id_ix *ids;         /* cells by id, for the steps */
    int closed;
};

static int pool_add(mt_cells *C, mt_str s, size_t *at) {
    return mt__pool_add(&C->pool, &C->pool_len, &C->pool_cap, s.ptr, s.len, at) ? MT_E_NOMEM : 0;
}

/* A u64 difference as a signed one, saturated. */
static int64_t sdiff(uint64_t a, uint64_t b) {
    if (a >= b) return a - b > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(a - b);
    return b - a > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)(b - a);
}

static int64_t ssum(int64_t a, int64_t b) {
    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
    return a + b;
}

static int on_cell(void *arg, const void *rec) {
    mt_cells *C = arg;
    const mt_nb_cell *r = rec;
    if (C->n >= UINT32_MAX) return MT_E_LIMIT;
    if (mt__grow((void **)&C->cells, &C->cap, C->n, sizeof *C->cells) ||
        mt__grow((void **)&C->strs, &C->cap_strs, C->n, sizeof *C->strs))
        return MT_E_NOMEM;
    cell_strs *st = &C->strs[C->n];
    if (pool_add(C, r->source, &st->source) || pool_add(C, r->source_hash, &st->hash) || pool_add(C, r->error, &st->error))
        return MT_E_NOMEM;
    mt_cell *c = &C->cells[C->n++];
    memset(c, 0, sizeof *c);
    c->id = r->id;
    c->exec_count = r->exec_count;
    c->session = r->session;
    c->source_len = r->source.len;
    if (!r->status.len || (r->status.len == 2 && !memcmp(r->status.ptr, "ok", 2))) c->status = MT_CELL_OK;
    else if (r->status.len == 11 && !memcmp(r->status.ptr, "interrupted", 11)) c->status = MT_CELL_INTERRUPTED;
    else c->status = MT_CELL_ERROR;
    c->start_ns = r->start_ns;
    c->end_ns = r->end_ns;
    c->wall_ns = r->end_ns > r->start_ns ? r->end_ns - r->start_ns : 0;
    c->rss_before = r->rss_before;
    c->rss_after = r->rss_after;
    c->rss_peak = r->rss_peak;
    c->flags = r->flags;
    /* Exact wins when a writer set both bits. */
    c->peak = r->flags & MT_CELL_PEAK_EXACT ? MT_CELL_PEAK_IS_EXACT
              : r->flags & MT_CELL_PEAK_SAMPLED ? MT_CELL_PEAK_IS_SAMPLED
                                                : MT_CELL_PEAK_UNKNOWN;
    c->retained = sdiff(r->rss_after, r->rss_before);
    c->peak_rise = c->peak ? sdiff(r->rss_peak, r->rss_before) : 0;
    c->traced = !!(r->flags & MT_CELL_TRACED);
    if (c->traced) {
        c->traced_before = r->traced_before;
        c->traced_after = r->traced_after;
        c->traced_peak = r->traced_peak;
    }
    c->overhead_ns = r->overhead_ns;
    return 0;
}

static int id_cmp(const void *a, const void *b) {
    const id_ix *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return (x->ix > y->ix) - (x->ix < y->ix);
}

/* N of a step "PREFIX:N" (1 to 10 digits, at most 2^32-1), or -1: the
 * cell ids in "cell:ID" and the sessions of baselines, "session:N". */
static int64_t step_number(mt_str step, const char *prefix) {
    size_t p = strlen(prefix);
    if (step.len <= p || step.len > p + 10 || memcmp(step.ptr, prefix, p)) return -1;
    uint64_t n = 0;
    for (size_t i = p; i < step.len; i++) {
        if (step.ptr[i] < '0' || step.ptr[i] > '9') return -1;
        n = n * 10 + (uint64_t)(step.ptr[i] - '0');
    }
    return n <= UINT32_MAX ? (int64_t)n : -1;
}

/* The cell of a step "cell:ID" (its first with that id), or -1. */
static int64_t step_cell(const mt_cells *C, mt_str step) {
    int64_t id = step_number(step, "cell:");
    if (id < 0) return -1;
    size_t lo = 0, hi = C->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (C->ids[mid].id < (uint64_t)id) lo = mid + 1;
        else hi = mid;
    }
    return lo < C->n && C->ids[lo].id == (uint64_t)id ? (int64_t)C->ids[lo].ix : -1;
}

static int on_frame(void *arg, const void *rec) {
    mt_cells *C = arg;
    const mt_df_frame *r = rec;
    int64_t ix = step_cell(C, r->step);
    if (ix < 0) return 0;
    if (mt__grow((void **)&C->fr, &C->capfr, C->nfr, sizeof *C->fr)) return MT_E_NOMEM;
    frame_raw *f = &C->fr[C->nfr];
    f->cell = (uint32_t)ix;
    f->seq = C->nfr;
    if (pool_add(C, r->name, &f->name)) return MT_E_NOMEM;
    f->f = (mt_cell_frame){ NULL,           r->rows,         r->columns,
                            r->deep_bytes,  !!(r->flags & MT_FRAME_DEEP_EST),
                            r->real_bytes,  r->shared_bytes, !!(r->flags & MT_FRAME_REAL_EST) };
    C->nfr++;
    return 0;
}

/* The session of a step "session:N" (a session's baseline), or 0. */
static uint32_t step_session(mt_str step) {
    int64_t n = step_number(step, "session:");
    return n > 0 ? (uint32_t)n : 0;
}

static int on_sample(void *arg, const void *rec) {
    mt_cells *C = arg;
    const mt_sample *r = rec;
    int64_t ix = step_cell(C, r->step);
    uint32_t base = ix < 0 ? step_session(r->step) : 0;
    if (ix < 0 && !base) return 0;
    const char *s = r->series.ptr;
    size_t n = r->series.len;
    if (n > 3 && !memcmp(s, "gc.", 3)) {
        if (mt__grow((void **)&C->gc, &C->capgc, C->ngc, sizeof *C->gc)) return MT_E_NOMEM;
        gc_raw *g = &C->gc[C->ngc];
        g->base = base != 0;
        g->cell = base ? 0 : (uint32_t)ix;
        g->session = base ? base : C->cells[ix].session;
        g->seq = C->ngc;
        g->v = r->value;
        if (pool_add(C, (mt_str){ s + 3, n - 3 }, &g->type)) return MT_E_NOMEM;
        C->ngc++;
        return 0;
    }
    /* gpuN.allocated, gpuN.reserved, gpuN.peak_allocated (SPEC.md 4.4). */
    if (base || n < 5 || memcmp(s, "gpu", 3)) return 0;
    size_t d = 3;
    uint64_t dev = 0;
    while (d < n && d < 12 && s[d] >= '0' && s[d] <= '9') dev = dev * 10 + (uint64_t)(s[d++] - '0');
    if (d == 3 || d >= n || s[d] != '.' || dev > UINT32_MAX) return 0;
    static const char *const what[] = { "allocated", "reserved", "peak_allocated" };
    mt_str w = { s + d + 1, n - d - 1 };
    for (uint32_t k = 0; k < 3; k++)
        if (w.len == strlen(what[k]) && !memcmp(w.ptr, what[k], w.len)) {
            if (mt__grow((void **)&C->gr, &C->capgr, C->ngr, sizeof *C->gr)) return MT_E_NOMEM;
            C->gr[C->ngr] = (gpu_raw){ (uint32_t)ix, (uint32_t)dev, k, C->ngr, r->value };
            C->ngr++;
        }
    return 0;
}

/* The id of a step "cell:ID" whether or not the log has that cell, or 0. */
static uint32_t step_id(mt_str step) {
    int64_t id = step_number(step, "cell:");
    return id > 0 ? (uint32_t)id : 0;
}

static int on_event(void *arg, const void *rec) {
    mt_cells *C = arg;
    const mt_event *e = rec;
    if (e->kind.len == 10 && !memcmp(e->kind.ptr, "cell_start", 10)) {
        /* Flushed before the cell ran: the last one of a session that
         * died names the cell it died in. */
        uint32_t id = step_id(e->name);
        if (!C->in_session || !id) return 0;
        sess_raw *s = &C->sr[C->last_event];
        s->started = id;
        s->started_ns = e->time_ns;
        s->started_rss = e->value;
        return pool_add(C, e->detail, &s->started_src) ? MT_E_NOMEM : 0;
    }
    if (e->kind.len == 11 && !memcmp(e->kind.ptr, "session_end", 11)) {
        /* It ends the session whose event came last before it. */
        if (C->in_session) C->sr[C->last_event].ended = 1;
        C->in_session = 0;
        return 0;
    }
    if (e->kind.len != 7 || memcmp(e->kind.ptr, "session", 7)) return 0;
    /* A number a session can have; anything else names none. */
    if (!(e->value >= 1 && e->value <= UINT32_MAX && e->value == floor(e->value))) {
        C->in_session = 0;
        return 0;
    }
    if (mt__grow((void **)&C->sr, &C->capsr, C->nsr, sizeof *C->sr)) return MT_E_NOMEM;
    sess_raw *s = &C->sr[C->nsr];
    memset(s, 0, sizeof *s);
    s->session = (uint32_t)e->value;
    s->seq = C->nsr;
    s->start_ns = e->time_ns;
    if (pool_add(C, e->name, &s->kernel) || pool_add(C, e->detail, &s->detail)) return MT_E_NOMEM;
    C->last_event = C->nsr++;
    C->in_session = 1;
    return 0;
}

static int frame_cmp(const void *a, const void *b) {
    const frame_raw *x = a, *y = b;
    if (x->cell != y->cell) return x->cell < y->cell ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int gpu_cmp(const void *a, const void *b) {
    const gpu_raw *x = a, *y = b;
    if (x->cell != y->cell) return x->cell < y->cell ? -1 : 1;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int u32_cmp(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* By type, then session, then the order the cells ran: each run of one
 * type in one session is that type's counts over time. */
static int gc_cmp(const void *a, const void *b) {
    const gc_raw *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    if (x->session != y->session) return x->session < y->session ? -1 : 1;
    if (x->base != y->base) return x->base ? -1 : 1;
    if (x->cell != y->cell) return x->cell < y->cell ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The deltas by cell, then type name. */
static int delta_cmp(const void *a, const void *b) {
    const gc_raw *x = a, *y = b;
    if (x->cell != y->cell) return x->cell < y->cell ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int sess_cmp(const void *a, const void *b) {
    const sess_raw *x = a, *y = b;
    if (x->session != y->session) return x->session < y->session ? -1 : 1;
    if (x->from_cell != y->from_cell) return x->from_cell - y->from_cell;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

void mt_cells_free(mt_cells *C) {
    if (!C) return;
    free(C->cells);
    free(C->strs);
    free(C->pool);
    free(C->fr);
    free(C->frames);
    free(C->gr);
    free(C->gpu);
    free(C->gc);
    free(C->types);
    free(C->sr);
    free(C->sessions);
    free(C->ids);
    free(C);
}

/* The frames, GPU figures and gc deltas as one range per cell. */
static int attach(mt_cells *C) {
    if (C->nfr) {
        qsort(C->fr, C->nfr, sizeof *C->fr, frame_cmp);
        if (!(C->frames = malloc(C->nfr * sizeof *C->frames))) return MT_E_NOMEM;
        for (size_t i = 0; i < C->nfr; i++) {
            C->frames[i] = C->fr[i].f;
            C->frames[i].name = C->pool + C->fr[i].name;
            mt_cell *c = &C->cells[C->fr[i].cell];
            if (!c->n_frames++) c->frames = &C->frames[i];
        }
    }
    if (C->ngr) {
        qsort(C->gr, C->ngr, sizeof *C->gr, gpu_cmp);
        if (!(C->gpu = malloc(C->ngr * sizeof *C->gpu))) return MT_E_NOMEM;
        for (size_t i = 0; i < C->ngr; i++) {
            const gpu_raw *g = &C->gr[i];
            mt_cell_gpu *d = C->ngpu ? &C->gpu[C->ngpu - 1] : NULL;
            if (!d || i == 0 || C->gr[i - 1].cell != g->cell || d->device != g->device) {
                d = &C->gpu[C->ngpu++];
                *d = (mt_cell_gpu){ g->device, NAN, NAN, NAN };
            }
            /* The last sample of a figure wins. */
            if (g->which == 0) d->allocated = g->v;
            else if (g->which == 1) d->reserved = g->v;
            else d->peak_allocated = g->v;
        }
        size_t k = 0;
        for (size_t i = 0; i < C->ngr; i++)
            if (i == 0 || C->gr[i - 1].cell != C->gr[i].cell || C->gr[i - 1].device != C->gr[i].device) {
                mt_cell *c = &C->cells[C->gr[i].cell];
                if (!c->n_gpu++) c->gpu = &C->gpu[k];
                k++;
            }
    }
    if (C->ngc) {
        for (size_t i = 0; i < C->ngc; i++) C->gc[i].name = C->pool + C->gc[i].type;
        qsort(C->gc, C->ngc, sizeof *C->gc, gc_cmp);
        /* The sessions that wrote a baseline: in them a type missing
         * from it had none of its objects at the start. */
        uint32_t *based = malloc(C->ngc * sizeof *based);
        if (!based) return MT_E_NOMEM;
        size_t nb = 0;
        for (size_t i = 0; i < C->ngc; i++)
            if (C->gc[i].base) based[nb++] = C->gc[i].session;
        qsort(based, nb, sizeof *based, u32_cmp);
        /* Deltas in place: an entry that follows one of its type and
         * session keeps v - the previous v in v; the rest go. */
        size_t m = 0;
        double prev = 0;
        for (size_t i = 0; i < C->ngc; i++) {
            gc_raw g = C->gc[i];
            int follows = i > 0 && C->gc[i - 1].session == g.session && !strcmp(C->gc[i - 1].name, g.name);
            if (!follows && !g.base && bsearch(&g.session, based, nb, sizeof *based, u32_cmp)) {
                follows = 1;
                prev = 0;
            }
            double d = g.v - prev;
            prev = g.v;
            if (!follows || g.base || isnan(d) || d == 0) continue;
            g.v = d;
            C->gc[m++] = g;
        }
        free(based);
        qsort(C->gc, m, sizeof *C->gc, delta_cmp);
        if (m && !(C->types = malloc(m * sizeof *C->types))) return MT_E_NOMEM;
        for (size_t i = 0; i < m; i++) {
            double d = C->gc[i].v;
            C->types[i].type = C->gc[i].name;
            C->types[i].delta = d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : (int64_t)llround(d);
            mt_cell *c = &C->cells[C->gc[i].cell];
            if (!c->n_types++) c->types = &C->types[i];
        }
        C->ntypes = m;
    }
    return 0;
}

/* The last cell started in a session's events (a later event of the
 * same number goes after an earlier one in file order). */
static void died_note(mt_cells *C, mt_cell_session *s, const sess_raw *r) {
    s->died_in = r->started;
    s->died_source = C->pool + r->started_src;
    s->died_start_ns = r->started_ns;
    double v = r->started_rss;
    s->died_rss_before = v >= 1.8e19 ? UINT64_MAX : v > 0 ? (uint64_t)v : 0;
}

/* Whether session has a record of cell id. The cell a kernel died in
 * has none, and the next session numbers its first cell the same. */
static int has_cell(const mt_cells *C, uint32_t id, uint32_t session) {
    size_t lo = 0, hi = C->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (C->ids[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    for (; lo < C->n && C->ids[lo].id == id; lo++)
        if (C->cells[C->ids[lo].ix].session == session) return 1;
    return 0;
}

static int make_sessions(mt_cells *C) {
    /* The events' sessions, then one entry per cell: sorted, each number
     * once, its first event giving the kernel. */
    size_t ne = C->nsr;
    if (mt__reserve((void **)&C->sr, &C->capsr, ne + C->n, sizeof *C->sr)) return MT_E_NOMEM;
    for (size_t i = 0; i < C->n; i++)
        C->sr[ne + i] = (sess_raw){ C->cells[i].session, 1, i, 0, 0, C->cells[i].start_ns, 0, 0, 0, 0, 0 };
    size_t all = ne + C->n;
    qsort(C->sr, all, sizeof *C->sr, sess_cmp);
    if (!(C->sessions = calloc(all ? all : 1, sizeof *C->sessions))) return MT_E_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < all; i++) {
        const sess_raw *r = &C->sr[i];
        if (k && C->sessions[k - 1].session == r->session) {
            mt_cell_session *s = &C->sessions[k - 1];
            if (!r->from_cell) s->ended |= r->ended;
            if (!r->from_cell && r->started) died_note(C, s, r);
            continue;
        }
        mt_cell_session *s = &C->sessions[k++];
        s->session = r->session;
        s->kernel = r->from_cell ? "" : C->pool + r->kernel;
        s->detail = r->from_cell ? "" : C->pool + r->detail;
        s->ended = r->ended;
        s->died_source = "";
        if (!r->from_cell && r->started) died_note(C, s, r);
        /* Cells come by file order: a session without an event starts
         * at its earliest cell. */
        s->start_ns = r->start_ns;
        if (r->from_cell)
            for (size_t j = i + 1; j < all && C->sr[j].session == r->session; j++)
                if (C->sr[j].start_ns < s->start_ns) s->start_ns = C->sr[j].start_ns;
    }
    C->nsessions = k;
    /* A started cell that has a record finished: the session died after. */
    for (size_t i = 0; i < k; i++) {
        mt_cell_session *s = &C->sessions[i];
        if (s->ended || (s->died_in && has_cell(C, s->died_in, s->session))) {
            s->died_in = 0;
            s->died_source = "";
            s->died_start_ns = s->died_rss_before = 0;
        }
    }
    for (size_t i = 0; i < C->n; i++) {
        const mt_cell *c = &C->cells[i];
        size_t lo = 0, hi = k;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (C->sessions[mid].session < c->session) lo = mid + 1;
            else hi = mid;
        }
        mt_cell_session *s = &C->sessions[lo]; /* every cell's session is there */
        uint64_t p = mt_cell_peak_or_after(c);
        if (!s->n_cells++ || p > s->peak) s->peak = p;
        s->retained = ssum(s->retained, c->retained);
    }
    return 0;
}

int mt_cells_load(const char *path, mt_cells **out, mt_diag *diag) {
    *out = NULL;
    mt_snapshot *s;
    /* A killed kernel leaves the file unclosed (SPEC.md 3.5): what it
     * flushed is whole, and the rest is a block cut short. */
    int rc = mt_snapshot_load(path, MT_LOAD_GROWING, &s, diag);
    if (rc) {
        if (diag) diag->file = path;
        return rc;
    }
    if (!mt_snapshot_count(s, MT_KIND_NB_CELL)) {
        mt_snapshot_free(s);
        rc = mt_diag_set(diag, MT_E_NOTFOUND, "not a cell log: no nb_cells records");
        if (diag) diag->file = path;
        return rc;
    }
    mt_cells *C = calloc(1, sizeof *C);
    if (!C) {
        mt_snapshot_free(s);
        rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory reading a cell log");
        if (diag) diag->file = path;
        return rc;
    }
    C->closed = mt_snapshot_closed(s);
    rc = mt_snapshot_each(s, MT_KIND_NB_CELL, on_cell, C, diag);
    if (!rc && !(C->ids = malloc((C->n ? C->n : 1) * sizeof *C->ids))) rc = MT_E_NOMEM;
    if (!rc) {
        for (size_t i = 0; i < C->n; i++) C->ids[i] = (id_ix){ C->cells[i].id, (uint32_t)i };
        qsort(C->ids, C->n, sizeof *C->ids, id_cmp);
        rc = mt_snapshot_each(s, MT_KIND_DF_FRAME, on_frame, C, diag);
    }
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_SAMPLE, on_sample, C, diag);
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_EVENT, on_event, C, diag);
    mt_snapshot_free(s);
    if (!rc) rc = make_sessions(C);
    if (!rc) {
        /* The pool has stopped growing: point into it. */
        for (size_t i = 0; i < C->n; i++) {
            C->cells[i].source = C->pool + C->strs[i].source;
            C->cells[i].source_hash = C->pool + C->strs[i].hash;
            C->cells[i].error = C->pool + C->strs[i].error;
        }
        rc = attach(C);
    }
    if (rc) {
        if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory reading a cell log");
        else if (rc == MT_E_LIMIT) mt_diag_set(diag, rc, "more than %" PRIu32 " cells", UINT32_MAX);
        if (diag) diag->file = path;
        mt_cells_free(C);
        return rc;
    }
    *out = C;
    return 0;
}

const mt_cell *mt_cells_list(const mt_cells *c, size_t *n) {
    *n = c->n;
    return c->cells;
}

const mt_cell_session *mt_cells_sessions(const mt_cells *c, size_t *n) {
    *n = c->nsessions;
    return c->sessions;
}

int mt_cells_closed(const mt_cells *c) { return c->closed; }

uint64_t mt_cell_peak_or_after(const mt_cell *cell) {
    return cell->peak != MT_CELL_PEAK_UNKNOWN ? cell->rss_peak : cell->rss_after;
}

int64_t mt_cell_kept(const mt_cell *cell) {
    if (!cell->traced) return cell->retained;
    int64_t t = sdiff(cell->traced_after, cell->traced_before);
    return t > cell->retained ? t : cell->retained;
}

const char *mt_cell_status_name(mt_cell_status s) {
    return s == MT_CELL_ERROR ? "error" : s == MT_CELL_INTERRUPTED ? "interrupted" : "ok";
}

static const char *const order_names[] = { "id", "peak", "retained", "wall" };

const char *mt_cells_order_name(mt_cells_order o) {
    return (unsigned)o < sizeof order_names / sizeof *order_names ? order_names[o] : "?";
}

int mt_cells_order_from_name(const char *name, mt_cells_order *out) {
    for (size_t i = 0; i < sizeof order_names / sizeof *order_names; i++)
        if (!strcmp(name, order_names[i])) {
            *out = (mt_cells_order)i;
            return 0;
        }
    return MT_E_INVAL;
}

typedef struct sort_key {
    int64_t key;     /* larger first */
    uint32_t ix;
} sort_key;

static int key_cmp(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return (x->ix > y->ix) - (x->ix < y->ix);
}

static int64_t clamp_u(uint64_t v) { return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v; }

int mt_cells_sort(const mt_cells *c, mt_cells_order by, uint32_t *order) {
    for (size_t i = 0; i < c->n; i++) order[i] = (uint32_t)i;
    if (by == MT_CELLS_BY_ID || c->n < 2) return 0;
    sort_key *k = malloc(c->n * sizeof *k);
    if (!k) return MT_E_NOMEM;
    for (size_t i = 0; i < c->n; i++) {
        const mt_cell *x = &c->cells[i];
        k[i].ix = (uint32_t)i;
        k[i].key = by == MT_CELLS_BY_PEAK       ? clamp_u(mt_cell_peak_or_after(x))
                   : by == MT_CELLS_BY_RETAINED ? x->retained
                                                : clamp_u(x->wall_ns);
    }
    qsort(k, c->n, sizeof *k, key_cmp);
    for (size_t i = 0; i < c->n; i++) order[i] = k[i].ix;
    free(k);
    return 0;
}

/* ---- growing cells ---- */

typedef struct run_key {
    const char *key;   /* the hash, or the source when there is none */
    size_t len;
    uint32_t session, ix;
} run_key;

static int run_cmp(const void *a, const void *b) {
    const run_key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    if (x->session != y->session) return x->session < y->session ? -1 : 1;
    return (x->ix > y->ix) - (x->ix < y->ix);
}

static int type_name_cmp(const void *a, const void *b) {
    return strcmp(((const mt_cell_type *)a)->type, ((const mt_cell_type *)b)->type);
}

static int type_growth_cmp(const void *a, const void *b) {
    const mt_cell_type *x = a, *y = b;
    if (x->delta != y->delta) return x->delta > y->delta ? -1 : 1;
    return strcmp(x->type, y->type);
}

static int growth_cmp(const void *a, const void *b) {
    const mt_cell_growth *x = a, *y = b;
    if (x->total != y->total) return x->total > y->total ? -1 : 1;
    return (x->runs[0] > y->runs[0]) - (x->runs[0] < y->runs[0]);
}

void mt_cell_growth_free(mt_cell_growth_set *set) {
    if (!set) return;
    free(set->g);
    free(set->runs_);
    free(set->types_);
    memset(set, 0, sizeof *set);
}

int mt_cells_growing(const mt_cells *c, uint64_t threshold, mt_cell_growth_set *out, mt_diag *diag) {
    memset(out, 0, sizeof *out);
    size_t n = c->n;
    if (!n) return 0;
    run_key *k = malloc(n * sizeof *k);
    /* Runs and types are bounded by the cells and the deltas. */
    out->runs_ = malloc(n * sizeof *out->runs_);
    out->g = malloc(n * sizeof *out->g);
    out->types_ = malloc((c->ntypes ? c->ntypes : 1) * sizeof *out->types_);
    if (!k || !out->runs_ || !out->g || !out->types_) {
        free(k);
        mt_cell_growth_free(out);
        return mt_diag_set(diag, MT_E_NOMEM, "out of memory finding growing cells");
    }
    for (size_t i = 0; i < n; i++) {
        const mt_cell *x = &c->cells[i];
        if (x->source_hash[0]) k[i] = (run_key){ x->source_hash, strlen(x->source_hash), x->session, (uint32_t)i };
        else k[i] = (run_key){ x->source, x->source_len, x->session, (uint32_t)i };
    }
    qsort(k, n, sizeof *k, run_cmp);
    size_t nruns = 0, ntypes = 0, ng = 0;
    for (size_t a = 0; a < n;) {
        /* [a, b): one cell; [s, e): its runs in one session. */
        size_t b = a;
        while (b < n && k[b].len == k[a].len && !memcmp(k[b].key, k[a].key, k[a].len)) b++;
        for (size_t s = a; s < b;) {
            size_t e = s;
            while (e < b && k[e].session == k[s].session) e++;
            size_t kept = 0;
            double sum = 0;
            for (size_t i = s; i < e; i++) {
                int64_t r = mt_cell_kept(&c->cells[k[i].ix]);
                if (r > 0 && (uint64_t)r > threshold) {
                    kept++;
                    sum += (double)r;
                }
            }
            if (kept >= 2) {
                mt_cell_growth *g = &out->g[ng++];
                memset(g, 0, sizeof *g);
                const mt_cell *first = &c->cells[k[s].ix];
                g->source = first->source;
                g->source_hash = first->source_hash;
                g->session = k[s].session;
                g->runs = (const uint32_t *)(uintptr_t)nruns; /* an offset until the end */
                g->n_runs = e - s;
                g->n_kept = kept;
                g->kept_mean = sum / (double)kept;
                double ss = 0;
                size_t t0 = ntypes;
                for (size_t i = s; i < e; i++) {
                    const mt_cell *x = &c->cells[k[i].ix];
                    out->runs_[nruns++] = k[i].ix;
                    int64_t r = mt_cell_kept(x);
                    g->total = ssum(g->total, r);
                    if (r > 0 && (uint64_t)r > threshold) ss += ((double)r - g->kept_mean) * ((double)r - g->kept_mean);
                    for (size_t j = 0; j < x->n_types; j++) out->types_[ntypes++] = x->types[j];
                }
                g->kept_sd = sqrt(ss / (double)(kept - 1));
                g->n_elsewhere = (b - a) - (e - s);
                /* The types' growth over the runs: summed by name, the
                 * ones that grew, most first. */
                mt_cell_type *t = out->types_ + t0;
                size_t nt = ntypes - t0, m = 0;
                qsort(t, nt, sizeof *t, type_name_cmp);
                for (size_t i = 0; i < nt; i++) {
                    if (m && !strcmp(t[m - 1].type, t[i].type)) t[m - 1].delta = ssum(t[m - 1].delta, t[i].delta);
                    else t[m++] = t[i];
                }
                size_t p = 0;
                for (size_t i = 0; i < m; i++)
                    if (t[i].delta > 0) t[p++] = t[i];
                qsort(t, p, sizeof *t, type_growth_cmp);
                ntypes = t0 + p;
                g->types = (const mt_cell_type *)(uintptr_t)t0;
                g->n_types = p;
            }
            s = e;
        }
        a = b;
    }
    free(k);
    for (size_t i = 0; i < ng; i++) {
        out->g[i].runs = out->runs_ + (uintptr_t)out->g[i].runs;
        out->g[i].types = out->types_ + (uintptr_t)out->g[i].types;
    }
    qsort(out->g, ng, sizeof *out->g, growth_cmp);
    out->n = ng;
    return 0;
}
