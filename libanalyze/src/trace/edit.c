/* Traces rewritten into smaller traces (traceedit.h): a time window cut
 * out, a full trace thinned to its sampled equivalent. Each is a few
 * passes of mt_snapshot_each over the allocs records, holding per-stack
 * totals, never per-event state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/array.h"
#include "memtrace/format.h"
#include "memtrace/traceedit.h"
#include "memtrace/u64map.h"
#include "memtrace/valhash.h"

/* ------------------------------------------------------------------ */
/* Shared: the live bytes of each stack, and the checkpoints of s.      */

/* Live bytes, blocks and records of each stack as records are applied;
 * stacks in the order first met, so that checkpoints come out in a
 * stable order. */
typedef struct live_table {
    mt_u64map idx;      /* stack id -> index */
    uint32_t *stack;
    double *bytes, *count;
    int64_t *recs;      /* live records: a stack with none gets no checkpoint record */
    size_t n, cap;
} live_table;

static void live_free(live_table *t) {
    mt_u64map_free(&t->idx);
    free(t->stack);
    free(t->bytes);
    free(t->count);
    free(t->recs);
}

/* w of SPEC.md 4.3: weight, or count, or 1. */
static double rec_w(const mt_alloc *a) {
    return a->weight > 0 ? a->weight : a->count ? (double)a->count : 1.0;
}

static int live_apply(live_table *t, const mt_alloc *a) {
    if (a->op != MT_ALLOC_ALLOC && a->op != MT_ALLOC_FREE) return 0;
    uint32_t i;
    if (!mt_u64map_get(&t->idx, a->stack, &i)) {
        size_t c0 = t->cap;
        if (t->n >= t->cap) {
            size_t c = c0;
            if (mt__reserve((void **)&t->stack, &c, t->n + 1, sizeof *t->stack)) return MT_E_NOMEM;
            c = c0;
            if (mt__reserve((void **)&t->bytes, &c, t->n + 1, sizeof *t->bytes)) return MT_E_NOMEM;
            c = c0;
            if (mt__reserve((void **)&t->count, &c, t->n + 1, sizeof *t->count)) return MT_E_NOMEM;
            c = c0;
            if (mt__reserve((void **)&t->recs, &c, t->n + 1, sizeof *t->recs)) return MT_E_NOMEM;
            t->cap = c;
        }
        i = (uint32_t)t->n;
        if (mt_u64map_put(&t->idx, a->stack, i)) return MT_E_NOMEM;
        t->stack[i] = a->stack;
        t->bytes[i] = t->count[i] = 0;
        t->recs[i] = 0;
        t->n++;
    }
    double w = rec_w(a), sign = a->op == MT_ALLOC_ALLOC ? 1.0 : -1.0;
    t->bytes[i] += sign * w * (double)a->size;
    t->count[i] += sign * w;
    t->recs[i] += a->op == MT_ALLOC_ALLOC ? 1 : -1;
    return 0;
}

/* Writes one checkpoint: every stack with live records, at time_ns,
 * covering the first upto allocs records written. The writer is flushed
 * first, so the checkpoint's block comes after the allocs it covers. */
static int live_checkpoint(const live_table *t, mt_writer *w, uint64_t time_ns, uint64_t upto) {
    int rc = mt_writer_flush(w);
    for (size_t i = 0; i < t->n && !rc; i++) {
        if (t->recs[i] <= 0) continue;
        mt_trace_live l = { time_ns, t->stack[i], t->bytes[i], t->count[i], upto };
        rc = mt_writer_add(w, MT_KIND_TRACE_LIVE, &l);
    }
    return rc;
}

/* s's checkpoints, one (time, upto) each, in file order. */
typedef struct ckpt_list {
    uint64_t *time, *upto;
    size_t n, cap;
} ckpt_list;

static int on_ckpt(void *arg, const void *rec) {
    ckpt_list *c = arg;
    const mt_trace_live *l = rec;
    if (c->n && c->time[c->n - 1] == l->time_ns && c->upto[c->n - 1] == l->upto) return 0;
    size_t cap = c->cap;
    if (mt__grow((void **)&c->time, &cap, c->n, sizeof *c->time)) return MT_E_NOMEM;
    cap = c->cap;
    if (mt__grow((void **)&c->upto, &cap, c->n, sizeof *c->upto)) return MT_E_NOMEM;
    c->cap = cap;
    c->time[c->n] = l->time_ns;
    c->upto[c->n] = l->upto;
    c->n++;
    return 0;
}

/* Sorted by upto, then time (a writer writes them in that order
 * already; a file written otherwise still gets each one at its place).
 * Insertion sort: checkpoints are few (one per 10 s of run). */
static void ckpt_sort(ckpt_list *c) {
    for (size_t i = 1; i < c->n; i++) {
        uint64_t t = c->time[i], u = c->upto[i];
        size_t j = i;
        for (; j > 0 && (c->upto[j - 1] > u || (c->upto[j - 1] == u && c->time[j - 1] > t)); j--) {
            c->time[j] = c->time[j - 1];
            c->upto[j] = c->upto[j - 1];
        }
        c->time[j] = t;
        c->upto[j] = u;
    }
}

static int ckpt_load(const mt_snapshot *s, ckpt_list *c, mt_diag *diag) {
    memset(c, 0, sizeof *c);
    int rc = mt_snapshot_each(s, MT_KIND_TRACE_LIVE, on_ckpt, c, diag);
    if (!rc) ckpt_sort(c);
    return rc;
}

static void ckpt_free(ckpt_list *c) {
    free(c->time);
    free(c->upto);
}

/* Copies records, optionally those of a time window only. */
typedef struct copy_ctx {
    mt_writer *w;
    mt_kind kind;
    int window;
    uint64_t from, to;
} copy_ctx;

static uint64_t rec_time(mt_kind kind, const void *rec) {
    switch (kind) {
    case MT_KIND_SAMPLE: return ((const mt_sample *)rec)->time_ns;
    case MT_KIND_EVENT: return ((const mt_event *)rec)->time_ns;
    case MT_KIND_GPU_EVENT: return ((const mt_gpu_event *)rec)->time_ns;
    default: return 0;
    }
}

static int copy_record(void *arg, const void *rec) {
    copy_ctx *c = arg;
    if (c->window) {
        uint64_t t = rec_time(c->kind, rec);
        if (t < c->from || t > c->to) return 0;
    }
    return mt_writer_add(c->w, c->kind, rec);
}

/* Every kind but meta, frames, stacks, allocs and trace_live, which the
 * callers write themselves; with window, the timed kinds (samples,
 * events, gpu_events) only inside [from, to]. */
static int copy_rest(const mt_snapshot *s, mt_writer *w, int window, uint64_t from, uint64_t to, mt_diag *diag) {
    for (int k = 1; k <= MT_KIND_MAX; k++) {
        if (k == MT_KIND_META || k == MT_KIND_FRAME || k == MT_KIND_STACK || k == MT_KIND_ALLOC ||
            k == MT_KIND_TRACE_LIVE)
            continue;
        copy_ctx c = { w, (mt_kind)k, 0, from, to };
        c.window = window && (k == MT_KIND_SAMPLE || k == MT_KIND_EVENT || k == MT_KIND_GPU_EVENT);
        int rc = mt_snapshot_each(s, (mt_kind)k, copy_record, &c, diag);
        if (rc) return mt_diag_set(diag, rc, "cannot copy %s records: %s", mt_kind_name(k), mt_strerror(rc));
    }
    return 0;
}

static int copy_meta(const mt_snapshot *s, mt_writer *w) {
    int rc = 0;
    for (size_t i = 0; i < mt_snapshot_meta_count(s) && !rc; i++) rc = mt_writer_add(w, MT_KIND_META, mt_snapshot_meta(s, i));
    return rc;
}

static int meta_is(const mt_snapshot *s, const char *key, const char *want) {
    const mt_value *v = mt_snapshot_meta_get(s, key);
    if (!v) return 0;
    if (!want) return 1;
    return v->type == MT_VAL_STR && v->v.s.len == strlen(want) && !memcmp(v->v.s.ptr, want, v->v.s.len);
}

/* A set of u32 ids (stacks, frames). */
static int set_add(mt_u64map *m, uint32_t id) {
    uint32_t v;
    return mt_u64map_get(m, id, &v) ? 0 : mt_u64map_put(m, id, 1);
}

static int set_has(const mt_u64map *m, uint32_t id) {
    uint32_t v;
    return mt_u64map_get(m, id, &v);
}

/* The most blocks one allocs record may stand for here: a trace writes
 * one record an event, and a count past this (a damaged or hostile file)
 * would overflow the carried counts or draw without end when thinned. */
#define MAX_RECORD_COUNT 4294967296ull

static int check_count(const mt_alloc *a) {
    return a->count > MAX_RECORD_COUNT ? MT_E_LIMIT : 0;
}

/* ------------------------------------------------------------------ */
/* Cut                                                                  */

/* Blocks live before the window, merged by what a reader can tell apart:
 * (stack, domain, size, weight). Keyed in a u64map by a hash of the
 * four, checked against the group's own fields; on a (rare) hash
 * collision the next salt is tried, so two groups never merge. */
typedef struct group_table {
    mt_u64map idx;
    uint32_t *stack, *domain;
    uint64_t *size;
    double *weight;
    int64_t *net;       /* blocks (exact records) or records (sampled ones) live */
    size_t n, cap;
} group_table;


static uint64_t dbits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static int group_apply(group_table *g, const mt_alloc *a) {
    if (a->op != MT_ALLOC_ALLOC && a->op != MT_ALLOC_FREE) return 0;
    if (check_count(a)) return MT_E_LIMIT;
    double wt = a->weight > 0 ? a->weight : 0;
    uint64_t base = mt_fmix64(((uint64_t)a->stack << 32 | a->domain) ^ mt_fmix64(a->size ^ mt_fmix64(dbits(wt))));
    uint32_t i = 0;
    for (uint64_t salt = 0;; salt++) {
        uint64_t key = mt_fmix64(base + salt * 0x9e3779b97f4a7c15ull);
        if (!mt_u64map_get(&g->idx, key, &i)) {
            size_t c0 = g->cap, c;
            if (g->n >= g->cap) {
                c = c0;
                if (mt__reserve((void **)&g->stack, &c, g->n + 1, sizeof *g->stack)) return MT_E_NOMEM;
                c = c0;
                if (mt__reserve((void **)&g->domain, &c, g->n + 1, sizeof *g->domain)) return MT_E_NOMEM;
                c = c0;
                if (mt__reserve((void **)&g->size, &c, g->n + 1, sizeof *g->size)) return MT_E_NOMEM;
                c = c0;
                if (mt__reserve((void **)&g->weight, &c, g->n + 1, sizeof *g->weight)) return MT_E_NOMEM;
                c = c0;
                if (mt__reserve((void **)&g->net, &c, g->n + 1, sizeof *g->net)) return MT_E_NOMEM;
                g->cap = c;
            }
            i = (uint32_t)g->n;
            if (mt_u64map_put(&g->idx, key, i)) return MT_E_NOMEM;
            g->stack[i] = a->stack;
            g->domain[i] = a->domain;
            g->size[i] = a->size;
            g->weight[i] = wt;
            g->net[i] = 0;
            g->n++;
            break;
        }
        if (g->stack[i] == a->stack && g->domain[i] == a->domain && g->size[i] == a->size &&
            dbits(g->weight[i]) == dbits(wt))
            break;
    }
    /* A sampled record stands for weight blocks whatever its count: it
     * is carried as a record. An exact one carries its count. */
    int64_t d = wt > 0 ? 1 : (int64_t)(a->count ? a->count : 1);
    g->net[i] += a->op == MT_ALLOC_ALLOC ? d : -d;
    return 0;
}

static void group_free(group_table *g) {
    mt_u64map_free(&g->idx);
    free(g->stack);
    free(g->domain);
    free(g->size);
    free(g->weight);
    free(g->net);
}

typedef struct cut_ctx {
    uint64_t from, to;
    group_table groups;
    mt_u64map named;    /* stacks the written records name */
    uint64_t before;    /* allocs records before the window */
    uint64_t inside;    /* and in it */
    uint64_t last_ns;   /* time of the last record in the window */
    uint64_t before_ns; /* time of the last record before it */
    int after;          /* a record after the window was seen */
    /* The writing pass. */
    mt_writer *w;
    live_table live;
    const ckpt_list *ck;
    size_t next_ck;
    uint64_t written;   /* allocs records written */
    uint64_t carried;   /* of which blocks live at the start */
    uint64_t seen;      /* allocs records of s read in the writing pass */
    uint64_t ck_written;
    uint64_t last_ck_time, last_ck_upto;
    int any_ck;
} cut_ctx;

static int cut_scan(void *arg, const void *rec) {
    cut_ctx *c = arg;
    const mt_alloc *a = rec;
    if (a->time_ns < c->from) {
        c->before++;
        c->before_ns = a->time_ns;
        return group_apply(&c->groups, a);
    }
    if (a->time_ns > c->to) {
        c->after = 1;
        return 1; /* records are in time order: the rest is later */
    }
    c->inside++;
    c->last_ns = a->time_ns;
    return set_add(&c->named, a->stack);
}

/* Writes the checkpoints of s due once `seen` records of s were read
 * (those inside the window, at their time, over what the cut wrote). */
static int cut_due_checkpoints(cut_ctx *c) {
    int rc = 0;
    while (!rc && c->next_ck < c->ck->n && c->ck->upto[c->next_ck] <= c->seen) {
        size_t k = c->next_ck++;
        uint64_t t = c->ck->time[k], u = c->ck->upto[k];
        if (t < c->from || t > c->to || u < c->before) continue;
        rc = live_checkpoint(&c->live, c->w, t, c->written);
        c->ck_written++;
        c->any_ck = 1;
        c->last_ck_time = t;
        c->last_ck_upto = c->written;
    }
    return rc;
}

static int cut_write(void *arg, const void *rec) {
    cut_ctx *c = arg;
    const mt_alloc *a = rec;
    int rc;
    if (a->time_ns > c->to) return 1;
    if (a->time_ns >= c->from) {
        if ((rc = mt_writer_add(c->w, MT_KIND_ALLOC, a)) || (rc = live_apply(&c->live, a))) return rc;
        c->written++;
    }
    c->seen++;
    return cut_due_checkpoints(c);
}

/* Stacks of s as arrays, to follow each named stack to its callers. */
typedef struct stack_list {
    mt_u64map idx;
    uint32_t *id, *frame, *parent;
    size_t n, cap;
} stack_list;

static int on_stack(void *arg, const void *rec) {
    stack_list *l = arg;
    const mt_stack *st = rec;
    uint32_t i;
    if (mt_u64map_get(&l->idx, st->id, &i)) return 0; /* a repeated id: the first one counts */
    size_t c0 = l->cap, c;
    if (l->n >= l->cap) {
        c = c0;
        if (mt__reserve((void **)&l->id, &c, l->n + 1, sizeof *l->id)) return MT_E_NOMEM;
        c = c0;
        if (mt__reserve((void **)&l->frame, &c, l->n + 1, sizeof *l->frame)) return MT_E_NOMEM;
        c = c0;
        if (mt__reserve((void **)&l->parent, &c, l->n + 1, sizeof *l->parent)) return MT_E_NOMEM;
        l->cap = c;
    }
    if (mt_u64map_put(&l->idx, st->id, (uint32_t)l->n)) return MT_E_NOMEM;
    l->id[l->n] = st->id;
    l->frame[l->n] = st->frame;
    l->parent[l->n] = st->parent;
    l->n++;
    return 0;
}

static void stack_list_free(stack_list *l) {
    mt_u64map_free(&l->idx);
    free(l->id);
    free(l->frame);
    free(l->parent);
}

typedef struct filter_ctx {
    mt_writer *w;
    const mt_u64map *keep;
} filter_ctx;

static int write_frame_if(void *arg, const void *rec) {
    filter_ctx *f = arg;
    return set_has(f->keep, ((const mt_frame *)rec)->id) ? mt_writer_add(f->w, MT_KIND_FRAME, rec) : 0;
}

static int write_stack_if(void *arg, const void *rec) {
    filter_ctx *f = arg;
    return set_has(f->keep, ((const mt_stack *)rec)->id) ? mt_writer_add(f->w, MT_KIND_STACK, rec) : 0;
}

/* Closes the named stacks over their callers and collects their frames;
 * writes both kinds, filtered, in the order of s. */
static int cut_dictionaries(const mt_snapshot *s, mt_u64map *named, mt_writer *w, mt_diag *diag) {
    stack_list l;
    memset(&l, 0, sizeof l);
    mt_u64map frames = MT_U64MAP_INIT;
    int rc = mt_snapshot_each(s, MT_KIND_STACK, on_stack, &l, diag);
    /* Callers: each walk stops at a stack already named, so the whole
     * closure costs one step per stack, loops in a damaged file included. */
    for (size_t i = 0; i < l.n && !rc; i++) {
        if (!set_has(named, l.id[i])) continue;
        uint32_t j = (uint32_t)i;
        for (size_t steps = 0; steps <= l.n && !rc; steps++) {
            rc = set_add(&frames, l.frame[j]);
            uint32_t p = l.parent[j], pj;
            if (rc || !p || set_has(named, p) || !mt_u64map_get(&l.idx, p, &pj)) break;
            rc = set_add(named, p);
            j = pj;
        }
    }
    /* The walk above added callers after the loop passed them: a second
     * sweep collects their frames (each walk stopped where it met one). */
    for (size_t i = 0; i < l.n && !rc; i++)
        if (set_has(named, l.id[i])) rc = set_add(&frames, l.frame[i]);
    filter_ctx ff = { w, &frames }, fs = { w, named };
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_FRAME, write_frame_if, &ff, diag);
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_STACK, write_stack_if, &fs, diag);
    stack_list_free(&l);
    mt_u64map_free(&frames);
    return rc;
}

static int fail_write(mt_writer *w, int rc, const char *path, mt_diag *diag) {
    mt_writer_abandon(w);
    if (diag && !diag->msg[0]) mt_diag_set(diag, rc, "cannot write: %s", mt_strerror(rc));
    if (diag) diag->file = path;
    return rc;
}

int mt_trace_cut(const mt_snapshot *s, uint64_t from_ns, uint64_t to_ns, const char *path,
                 mt_trace_edit_stats *stats, mt_diag *diag) {
    if (!meta_is(s, "trace_mode", NULL))
        return mt_diag_set(diag, MT_E_INVAL, "not an allocation trace: its meta has no trace_mode");
    if (from_ns > to_ns)
        return mt_diag_set(diag, MT_E_INVAL, "the window ends before it starts: %llu ns to %llu ns",
                           (unsigned long long)from_ns, (unsigned long long)to_ns);
    cut_ctx c;
    memset(&c, 0, sizeof c);
    c.from = from_ns;
    c.to = to_ns;
    ckpt_list ck;
    mt_writer *w = NULL;
    uint64_t end = 0;
    int rc = ckpt_load(s, &ck, diag);
    c.ck = &ck;
    if (!rc) {
        rc = mt_snapshot_each(s, MT_KIND_ALLOC, cut_scan, &c, diag);
        if (rc > 0) rc = 0;
        if (rc == MT_E_LIMIT)
            mt_diag_set(diag, rc, "an allocs record stands for more than %llu blocks (its count): not a trace's",
                        MAX_RECORD_COUNT);
    }
    if (!rc && c.before && !c.inside && !c.after)
        rc = mt_diag_set(diag, MT_E_INVAL, "the window starts at %.3f s, after the trace's last record (%.3f s)",
                         from_ns / 1e9, c.before_ns / 1e9);
    /* The stacks of the blocks carried in are named too. */
    for (size_t i = 0; i < c.groups.n && !rc; i++)
        if (c.groups.net[i] > 0) rc = set_add(&c.named, c.groups.stack[i]);
    if (!rc) rc = mt_writer_open(path, NULL, &w, diag);
    if (rc) goto out;
    c.w = w;
    /* Without an end, the window ends at its last record. */
    end = to_ns == UINT64_MAX ? (c.inside ? c.last_ns : from_ns) : to_ns;
    if ((rc = copy_meta(s, w)) || (rc = mt_writer_meta_uint(w, "cut_from_ns", from_ns)) ||
        (rc = mt_writer_meta_uint(w, "cut_to_ns", end)))
        goto fail;
    if ((rc = cut_dictionaries(s, &c.named, w, diag)) || (rc = mt_writer_flush(w))) goto fail;
    /* The blocks live at the start, as allocations at from_ns. */
    for (size_t i = 0; i < c.groups.n && !rc; i++) {
        int64_t n = c.groups.net[i];
        if (n <= 0) continue;
        mt_alloc a;
        memset(&a, 0, sizeof a);
        a.time_ns = from_ns;
        a.op = MT_ALLOC_ALLOC;
        a.size = c.groups.size[i];
        a.stack = c.groups.stack[i];
        a.domain = c.groups.domain[i];
        a.weight = c.groups.weight[i];
        /* Exact blocks: one record of n; sampled ones: n records, so that
         * each keeps its own variance (SPEC.md: size² w (w - 1) a record). */
        int64_t copies = a.weight > 0 ? n : 1;
        if (a.weight == 0) a.count = (uint64_t)n;
        for (int64_t k = 0; k < copies && !rc; k++) {
            if ((rc = mt_writer_add(w, MT_KIND_ALLOC, &a)) || (rc = live_apply(&c.live, &a))) break;
            c.written++;
            c.carried++;
        }
    }
    c.seen = 0;
    if (!rc) rc = cut_due_checkpoints(&c);
    if (!rc) {
        rc = mt_snapshot_each(s, MT_KIND_ALLOC, cut_write, &c, diag);
        if (rc > 0) rc = 0;
    }
    if (rc) goto fail;
    if (!(c.any_ck && c.last_ck_time == end && c.last_ck_upto == c.written)) {
        if ((rc = live_checkpoint(&c.live, w, end, c.written))) goto fail;
        c.ck_written++;
    }
    if ((rc = copy_rest(s, w, 1, from_ns, to_ns, diag))) goto fail;
    if (stats) {
        stats->allocs_in = c.before + c.inside;
        stats->allocs_out = c.written;
        stats->carried = c.carried;
        stats->checkpoints = c.ck_written;
    }
    w = NULL;
    rc = mt_writer_close(c.w, diag);
    if (rc && diag) diag->file = path;
    goto out;
fail:
    rc = fail_write(w, rc, path, diag);
out:
    ckpt_free(&ck);
    group_free(&c.groups);
    mt_u64map_free(&c.named);
    live_free(&c.live);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Thin                                                                 */

typedef struct thin_ctx {
    double S;
    uint64_t seed;
    mt_writer *w;
    live_table live;
    const ckpt_list *ck;
    size_t next_ck;
    uint64_t seen, written, ck_written;
    uint64_t last_ck_time, last_ck_upto, last_ns;
    int any_ck;
} thin_ctx;

/* Uniform in [0, 1) from the block's identity: the allocation and the
 * free of one block (same address, size, and the allocation's time,
 * which the free carries in born_ns) draw the same number. */
static double block_draw(uint64_t seed, uint64_t address, uint64_t size, uint64_t born, uint64_t k) {
    uint64_t h = mt_fmix64(seed ^ 0x243f6a8885a308d3ull);
    h = mt_fmix64(h ^ address);
    h = mt_fmix64(h ^ size);
    h = mt_fmix64(h ^ born);
    h = mt_fmix64(h ^ k);
    return (double)(h >> 11) * 0x1p-53;
}

static int thin_due_checkpoints(thin_ctx *c) {
    int rc = 0;
    while (!rc && c->next_ck < c->ck->n && c->ck->upto[c->next_ck] <= c->seen) {
        size_t k = c->next_ck++;
        rc = live_checkpoint(&c->live, c->w, c->ck->time[k], c->written);
        c->ck_written++;
        c->any_ck = 1;
        c->last_ck_time = c->ck->time[k];
        c->last_ck_upto = c->written;
    }
    return rc;
}

static int thin_record(void *arg, const void *rec) {
    thin_ctx *c = arg;
    const mt_alloc *a = rec;
    int rc = 0;
    c->seen++;
    c->last_ns = a->time_ns;
    if (a->op != MT_ALLOC_ALLOC && a->op != MT_ALLOC_FREE) {
        if ((rc = mt_writer_add(c->w, MT_KIND_ALLOC, a))) return rc;
        c->written++;
        return thin_due_checkpoints(c);
    }
    if (check_count(a)) return MT_E_LIMIT;
    double p = -expm1(-(double)a->size / c->S);
    uint64_t born = a->op == MT_ALLOC_ALLOC ? a->time_ns : a->born_ns;
    uint64_t blocks = a->count ? a->count : 1;
    mt_alloc o = *a;
    o.count = 0;
    o.weight = p > 0 ? 1.0 / p : 0;
    for (uint64_t k = 0; k < blocks && !rc && p > 0; k++) {
        if (block_draw(c->seed, a->address, a->size, born, k) >= p) continue;
        if ((rc = mt_writer_add(c->w, MT_KIND_ALLOC, &o)) || (rc = live_apply(&c->live, &o))) break;
        c->written++;
    }
    return rc ? rc : thin_due_checkpoints(c);
}

int mt_trace_thin(const mt_snapshot *s, uint64_t sample_bytes, uint64_t seed, const char *path,
                  mt_trace_edit_stats *stats, mt_diag *diag) {
    if (!meta_is(s, "trace_mode", NULL))
        return mt_diag_set(diag, MT_E_INVAL, "not an allocation trace: its meta has no trace_mode");
    if (!meta_is(s, "trace_mode", "all"))
        return mt_diag_set(diag, MT_E_INVAL, "not a full trace: its trace_mode is not \"all\" (only a trace of every event can be thinned)");
    if (meta_is(s, "cut_from_ns", NULL))
        return mt_diag_set(diag, MT_E_INVAL, "a cut trace, whose blocks live at its start are merged into one record each: thin the whole trace, then cut");
    if (!sample_bytes) return mt_diag_set(diag, MT_E_INVAL, "sample_bytes is 0: expected a mean distance between samples of at least 1 byte");
    thin_ctx c;
    memset(&c, 0, sizeof c);
    c.S = (double)sample_bytes;
    c.seed = seed;
    ckpt_list ck;
    mt_writer *w = NULL;
    copy_ctx cf = { NULL, MT_KIND_FRAME, 0, 0, 0 }, cs = { NULL, MT_KIND_STACK, 0, 0, 0 };
    int rc = ckpt_load(s, &ck, diag);
    c.ck = &ck;
    if (!rc) rc = mt_writer_open(path, NULL, &w, diag);
    if (rc) goto out;
    c.w = w;
    if ((rc = copy_meta(s, w)) || (rc = mt_writer_meta_str(w, "trace_mode", "sampled")) ||
        (rc = mt_writer_meta_uint(w, "sample_bytes", sample_bytes)) || (rc = mt_writer_meta_uint(w, "thin_seed", seed)))
        goto fail;
    cf.w = cs.w = w;
    if ((rc = mt_snapshot_each(s, MT_KIND_FRAME, copy_record, &cf, diag)) ||
        (rc = mt_snapshot_each(s, MT_KIND_STACK, copy_record, &cs, diag)) || (rc = mt_writer_flush(w)))
        goto fail;
    if ((rc = thin_due_checkpoints(&c))) goto fail;
    if ((rc = mt_snapshot_each(s, MT_KIND_ALLOC, thin_record, &c, diag))) {
        if (rc == MT_E_LIMIT)
            mt_diag_set(diag, rc, "an allocs record stands for more than %llu blocks (its count): not a trace's",
                        MAX_RECORD_COUNT);
        goto fail;
    }
    if (!(c.any_ck && c.last_ck_time == c.last_ns && c.last_ck_upto == c.written)) {
        if ((rc = live_checkpoint(&c.live, w, c.last_ns, c.written))) goto fail;
        c.ck_written++;
    }
    if ((rc = copy_rest(s, w, 0, 0, 0, diag))) goto fail;
    if (stats) {
        stats->allocs_in = c.seen;
        stats->allocs_out = c.written;
        stats->carried = 0;
        stats->checkpoints = c.ck_written;
    }
    rc = mt_writer_close(w, diag);
    if (rc && diag) diag->file = path;
    goto out;
fail:
    rc = fail_write(w, rc, path, diag);
out:
    ckpt_free(&ck);
    live_free(&c.live);
    return rc;
}
