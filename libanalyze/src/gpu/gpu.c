/* A CUDA caching allocator's state and trace, measured (gpu.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/array.h"
#include "memtrace/gpu.h"
#include "memtrace/u64map.h"

/* Requests up to this size come from the small pool (PyTorch's
 * kSmallSize), whose segments are 2 MiB (kSmallBuffer); a large-pool
 * segment is 20 MiB or at least 10 MiB rounded up, never 2 MiB, so a trace
 * segment of 2 MiB is a small-pool one. */
#define SMALL_SIZE (1ull << 20)
#define SMALL_SEGMENT (2ull << 20)
/* PyTorch refuses max_split_size_mb at or below 20. */
#define MIN_MAX_SPLIT_MB 20

enum { ST_OTHER, ST_ALLOCATED, ST_PENDING, ST_INACTIVE };
enum { EV_OTHER, EV_ALLOC, EV_FREE_REQ, EV_FREE, EV_SEG_ALLOC, EV_SEG_FREE, EV_SEG_MAP, EV_SEG_UNMAP, EV_OOM };

typedef struct seg {
    uint32_t device;
    uint64_t address, size, stream;
    char pool[40];
    uint64_t allocated, requested, active;
    uint32_t flags, stack;
    size_t first_block, n_blocks; /* its blocks in the sorted block array */
} seg;

typedef struct blk {
    uint32_t device;
    uint64_t address, size, requested;
    int state;
    uint32_t stack;
} blk;

typedef struct ev {
    uint32_t device;
    int action;
    uint64_t time_ns, address, size, stream, device_free;
    uint32_t stack;
} ev;

/* A live block or segment range during a replay. */
typedef struct live {
    uint64_t address, size, stream;
    uint32_t stack;
    int small;  /* segments: of the small pool */
    int priv;   /* segments: of a private pool */
} live;

typedef struct liveset {
    live *v;
    size_t n, cap;
    mt_u64map pos; /* address -> index in v (stale entries are checked) */
    uint64_t bytes;
} liveset;

struct mt_gpu_report {
    mt_gpu_device_report *devices;
    size_t n_devices;
    mt_gpu_pool *pools;
    size_t n_pools;
    mt_gpu_oom *ooms;
    size_t n_ooms, cap_ooms;
    mt_gpu_site *sites;
    size_t n_sites, cap_sites;
    int expandable;
    uint64_t max_split;   /* meta gpu.max_split_size; 0: not set */
    mt_gpu_oddities odd;
    /* Each device's curve, for mt_gpu_report_curve(). */
    struct curve {
        uint32_t device;
        uint64_t *t, *active, *reserved;
        size_t n;
    } *curves;
    size_t n_curves;
};

typedef struct load {
    seg *segs;
    size_t n_segs, cap_segs;
    blk *blks;
    size_t n_blks, cap_blks;
    ev *evs;
    size_t n_evs, cap_evs;
    uint32_t *devs;
    size_t n_devs, cap_devs;
    int device; /* -1: all */
    size_t unknown_actions, unknown_states;
} load;

static void copy_str(char *dst, size_t n, mt_str s) {
    size_t len = s.len < n - 1 ? s.len : n - 1;
    if (len) memcpy(dst, s.ptr, len);
    dst[len] = 0;
}

static int str_is(mt_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && !memcmp(s.ptr, c, n);
}

static int add_dev(load *l, uint32_t d) {
    for (size_t i = 0; i < l->n_devs; i++)
        if (l->devs[i] == d) return 0;
    if (mt__grow((void **)&l->devs, &l->cap_devs, l->n_devs, sizeof *l->devs)) return MT_E_NOMEM;
    l->devs[l->n_devs++] = d;
    return 0;
}

static int want(const load *l, uint32_t d) {
    return l->device < 0 || (uint32_t)l->device == d;
}

static int on_device(void *arg, const void *rec) {
    load *l = arg;
    const mt_gpu_device *d = rec;
    return want(l, d->id) ? add_dev(l, d->id) : 0;
}

static int on_segment(void *arg, const void *rec) {
    load *l = arg;
    const mt_gpu_segment *g = rec;
    if (!want(l, g->device)) return 0;
    if (mt__grow((void **)&l->segs, &l->cap_segs, l->n_segs, sizeof *l->segs)) return MT_E_NOMEM;
    seg *s = &l->segs[l->n_segs++];
    memset(s, 0, sizeof *s);
    s->device = g->device;
    s->address = g->address;
    s->size = g->size;
    s->stream = g->stream;
    copy_str(s->pool, sizeof s->pool, g->pool);
    if (!s->pool[0]) strcpy(s->pool, g->size == SMALL_SEGMENT ? "small" : "large");
    s->allocated = g->allocated_bytes;
    s->requested = g->requested_bytes;
    s->active = g->active_bytes;
    s->flags = g->flags;
    s->stack = g->stack;
    return add_dev(l, g->device);
}

static int state_of(mt_str s) {
    if (str_is(s, "active_allocated")) return ST_ALLOCATED;
    /* PyTorch's documentation names the state active_awaiting_free. */
    if (str_is(s, "active_pending_free") || str_is(s, "active_awaiting_free")) return ST_PENDING;
    if (str_is(s, "inactive")) return ST_INACTIVE;
    return ST_OTHER;
}

static int on_block(void *arg, const void *rec) {
    load *l = arg;
    const mt_gpu_block *b = rec;
    if (!want(l, b->device)) return 0;
    if (mt__grow((void **)&l->blks, &l->cap_blks, l->n_blks, sizeof *l->blks)) return MT_E_NOMEM;
    l->blks[l->n_blks++] = (blk){ b->device, b->address, b->size, b->requested, state_of(b->state), b->stack };
    if (l->blks[l->n_blks - 1].state == ST_OTHER) l->unknown_states++;
    return 0;
}

static int action_of(mt_str a) {
    static const char *names[] = { NULL, "alloc", "free_requested", "free_completed", "segment_alloc",
                                   "segment_free", "segment_map", "segment_unmap", "oom" };
    for (int i = 1; i < (int)(sizeof names / sizeof *names); i++)
        if (str_is(a, names[i])) return i;
    return EV_OTHER;
}

static int on_event(void *arg, const void *rec) {
    load *l = arg;
    const mt_gpu_event *e = rec;
    if (!want(l, e->device)) return 0;
    /* snapshot, annotate and actions of later releases change no memory,
     * but keep their place: entry numbers are the source's. */
    int a = action_of(e->action);
    /* snapshot and annotate are PyTorch's marks; anything else is new. */
    if (a == EV_OTHER && !str_is(e->action, "snapshot") && !str_is(e->action, "annotate")) l->unknown_actions++;
    if (mt__grow((void **)&l->evs, &l->cap_evs, l->n_evs, sizeof *l->evs)) return MT_E_NOMEM;
    l->evs[l->n_evs++] = (ev){ e->device, a, e->time_ns, e->address, e->size, e->stream, e->device_free, e->stack };
    return add_dev(l, e->device);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_seg(const void *a, const void *b) {
    const seg *x = a, *y = b;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    return x->address < y->address ? -1 : x->address > y->address;
}

static int cmp_blk(const void *a, const void *b) {
    const blk *x = a, *y = b;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    return x->address < y->address ? -1 : x->address > y->address;
}

/* Events of each device keep their file order (the trace's): sort by
 * device with the index as tie-break. */
typedef struct evx {
    uint32_t device;
    size_t i;
} evx;
static int cmp_evx(const void *a, const void *b) {
    const evx *x = a, *y = b;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static double ratio(uint64_t num, uint64_t den) {
    return den ? (double)num / (double)den : 0;
}

static void finish_pool(mt_gpu_pool *p) {
    p->inactive = p->reserved >= p->allocated + p->pending_free ? p->reserved - p->allocated - p->pending_free : 0;
    p->stranded = p->inactive >= p->releasable ? p->inactive - p->releasable : 0;
    p->internal_frag = p->allocated >= p->requested ? ratio(p->allocated - p->requested, p->allocated) : 0;
    p->external_frag = p->inactive ? 1.0 - ratio(p->largest_free, p->inactive) : 0;
    p->utilization = ratio(p->allocated, p->reserved);
}

/* Adds segment s (its blocks, or its own figures when it has none) to p. */
static void add_segment(mt_gpu_pool *p, const seg *s, const blk *blks) {
    p->segments++;
    if (s->flags & MT_GPU_SEG_EXPANDABLE) p->expandable++;
    p->reserved += s->size;
    uint64_t a = 0, q = 0, pend = 0, largest = 0;
    if (s->n_blocks) {
        /* Space no block record covers is free too (a writer that lists
         * only the blocks in use): each gap is one free piece. */
        uint64_t at = s->address;
        for (size_t j = 0; j <= s->n_blocks; j++) {
            uint64_t next = j < s->n_blocks ? blks[s->first_block + j].address : s->address + s->size;
            if (next > at && next - at > largest) largest = next - at;
            if (j < s->n_blocks && blks[s->first_block + j].address + blks[s->first_block + j].size > at)
                at = blks[s->first_block + j].address + blks[s->first_block + j].size;
        }
        for (size_t j = 0; j < s->n_blocks; j++) {
            const blk *b = &blks[s->first_block + j];
            if (b->state == ST_ALLOCATED) {
                a += b->size;
                q += b->requested ? b->requested : b->size;
            } else if (b->state == ST_PENDING) {
                pend += b->size;
            } else if (b->size > largest) {
                largest = b->size;
            }
        }
        p->blocks += (uint32_t)s->n_blocks;
    } else {
        /* The segment's own figures: no block map, so its free bytes are
         * one piece only when nothing in it is in use. */
        a = s->allocated;
        q = s->requested ? s->requested : a;
        pend = s->active > a ? s->active - a : 0;
        if (!s->active && !a) largest = s->size;
    }
    p->allocated += a;
    p->requested += q;
    p->pending_free += pend;
    if (!a && !pend) p->releasable += s->size;
    if (largest > p->largest_free) p->largest_free = largest;
}

/* ---- replay ---------------------------------------------------------- */

static int ls_add(liveset *s, const live *x) {
    if (mt__grow((void **)&s->v, &s->cap, s->n, sizeof *s->v)) return MT_E_NOMEM;
    if (s->n > UINT32_MAX - 1 || mt_u64map_put(&s->pos, x->address, (uint32_t)s->n)) return MT_E_NOMEM;
    s->v[s->n++] = *x;
    s->bytes += x->size;
    return 0;
}

/* Removes the range at address; 0 with *gone when it was live, else 1. */
static int ls_remove(liveset *s, uint64_t address, live *gone) {
    uint32_t i;
    if (!mt_u64map_get(&s->pos, address, &i) || i >= s->n || s->v[i].address != address) return 1;
    if (gone) *gone = s->v[i];
    s->bytes -= s->v[i].size;
    s->v[i] = s->v[--s->n];
    if (i < s->n) mt_u64map_put(&s->pos, s->v[i].address, i); /* an existing key: never grows */
    return 0;
}

static int ls_has(const liveset *s, uint64_t address) {
    uint32_t i;
    return mt_u64map_get(&s->pos, address, &i) && i < s->n && s->v[i].address == address;
}

static void ls_free(liveset *s) {
    free(s->v);
    mt_u64map_free(&s->pos);
    memset(s, 0, sizeof *s);
}

static int cmp_live(const void *a, const void *b) {
    const live *x = a, *y = b;
    return x->address < y->address ? -1 : x->address > y->address;
}

/* F and L for a request of size bytes on stream: the free bytes of the
 * live segments of its pool and stream, and their largest gap between
 * live blocks (adjacent free blocks are merged, so a gap is one block). */
static int free_space(const liveset *segs, const liveset *blocks, uint64_t size, uint64_t stream, uint64_t *f,
                      uint64_t *l, uint64_t *biggest) {
    int small = size <= SMALL_SIZE;
    live *sv = malloc((segs->n + 1) * sizeof *sv), *bv = malloc((blocks->n + 1) * sizeof *bv);
    if (!sv || !bv) {
        free(sv);
        free(bv);
        return MT_E_NOMEM;
    }
    size_t ns = 0;
    for (size_t i = 0; i < segs->n; i++)
        if (segs->v[i].stream == stream && segs->v[i].small == small && !segs->v[i].priv) sv[ns++] = segs->v[i];
    memcpy(bv, blocks->v, blocks->n * sizeof *bv);
    mt__qsort(sv, ns, sizeof *sv, cmp_live);
    mt__qsort(bv, blocks->n, sizeof *bv, cmp_live);
    uint64_t free_bytes = 0, largest = 0;
    size_t j = 0;
    *biggest = 0;
    for (size_t i = 0; i < ns; i++) {
        uint64_t at = sv[i].address, end = sv[i].address + sv[i].size;
        if (sv[i].size > *biggest) *biggest = sv[i].size;
        while (j < blocks->n && bv[j].address < sv[i].address) j++;
        for (size_t k = j; k < blocks->n && bv[k].address < end; k++) {
            if (bv[k].address > at) {
                uint64_t gap = bv[k].address - at;
                free_bytes += gap;
                if (gap > largest) largest = gap;
            }
            uint64_t e = bv[k].address + bv[k].size;
            if (e > at) at = e;
        }
        if (end > at) {
            free_bytes += end - at;
            if (end - at > largest) largest = end - at;
        }
    }
    free(sv);
    free(bv);
    *f = free_bytes;
    *l = largest;
    return 0;
}

/* The blocks and segment ranges live at a point of a device's trace. */
typedef struct replay {
    liveset blocks, segs;
} replay;

/* Blocks and segment ranges live before the trace began: those freed in
 * it that it never allocated, and those of the final state that it did
 * not allocate (for a segment, the part of it no live trace range
 * covers: an expandable segment grows by mapping). */
static int pre_trace(const ev *const *evs, size_t n, const seg *segs, size_t n_segs, const blk *blks, size_t n_blks,
                     uint32_t device, liveset *pre_b, liveset *pre_s, int *wrapped) {
    liveset b = { 0 }, s = { 0 };
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const ev *e = evs[i];
        live x = { e->address, e->size, e->stream, e->stack, e->size == SMALL_SEGMENT, 0 };
        switch (e->action) {
        case EV_ALLOC:
            ls_remove(&b, e->address, NULL);
            rc = ls_add(&b, &x);
            break;
        case EV_FREE:
            if (ls_remove(&b, e->address, NULL) && !ls_has(pre_b, e->address)) {
                *wrapped = 1;
                x.stack = 0;
                rc = ls_add(pre_b, &x);
            }
            break;
        case EV_SEG_ALLOC:
        case EV_SEG_MAP:
            ls_remove(&s, e->address, NULL);
            rc = ls_add(&s, &x);
            break;
        case EV_SEG_FREE:
        case EV_SEG_UNMAP:
            if (ls_remove(&s, e->address, NULL) && !ls_has(pre_s, e->address)) {
                *wrapped = 1;
                rc = ls_add(pre_s, &x);
            }
            break;
        }
    }
    for (size_t i = 0; i < n_blks && !rc; i++) {
        const blk *k = &blks[i];
        if (k->device != device || (k->state != ST_ALLOCATED && k->state != ST_PENDING)) continue;
        if (ls_has(&b, k->address) || ls_has(pre_b, k->address)) continue;
        live x = { k->address, k->size, 0, k->stack, 0, 0 };
        /* The block's stream is its segment's. */
        for (size_t j = 0; j < n_segs; j++)
            if (segs[j].device == device && k->address >= segs[j].address &&
                k->address < segs[j].address + segs[j].size)
                x.stream = segs[j].stream;
        rc = ls_add(pre_b, &x);
    }
    for (size_t i = 0; i < n_segs && !rc; i++) {
        const seg *g = &segs[i];
        if (g->device != device) continue;
        uint64_t covered = 0;
        for (size_t j = 0; j < s.n; j++)
            if (s.v[j].address >= g->address && s.v[j].address < g->address + g->size) covered += s.v[j].size;
        if (covered >= g->size || ls_has(pre_s, g->address)) continue;
        live x = { g->address + covered, g->size - covered, g->stream, 0, !strcmp(g->pool, "small"),
                   strncmp(g->pool, "private", 7) == 0 };
        if (!covered) x.address = g->address;
        rc = ls_add(pre_s, &x);
    }
    ls_free(&b);
    ls_free(&s);
    return rc;
}

/* Applies event e to r; with oom, classifies an oom event into *oom. */
static int step(replay *r, const ev *e) {
    live x = { e->address, e->size, e->stream, e->stack, e->size == SMALL_SEGMENT, 0 };
    switch (e->action) {
    case EV_ALLOC:
        ls_remove(&r->blocks, e->address, NULL);
        return ls_add(&r->blocks, &x);
    case EV_FREE:
        ls_remove(&r->blocks, e->address, NULL);
        return 0;
    case EV_SEG_ALLOC:
    case EV_SEG_MAP:
        ls_remove(&r->segs, e->address, NULL);
        return ls_add(&r->segs, &x);
    case EV_SEG_FREE:
    case EV_SEG_UNMAP:
        ls_remove(&r->segs, e->address, NULL);
        return 0;
    }
    return 0;
}

static int replay_start(replay *r, const liveset *pre_b, const liveset *pre_s) {
    memset(&r->blocks, 0, sizeof r->blocks);
    memset(&r->segs, 0, sizeof r->segs);
    int rc = 0;
    for (size_t i = 0; i < pre_b->n && !rc; i++) rc = ls_add(&r->blocks, &pre_b->v[i]);
    for (size_t i = 0; i < pre_s->n && !rc; i++) rc = ls_add(&r->segs, &pre_s->v[i]);
    return rc;
}

static int add_site(mt_gpu_report *rep, uint32_t device, int at_peak, uint32_t stack, uint64_t bytes) {
    for (size_t i = rep->n_sites; i-- > 0;) {
        mt_gpu_site *s = &rep->sites[i];
        if (s->device != device || s->at_peak != at_peak) break;
        if (s->stack == stack) {
            s->bytes += bytes;
            s->blocks++;
            return 0;
        }
    }
    if (mt__grow((void **)&rep->sites, &rep->cap_sites, rep->n_sites, sizeof *rep->sites)) return MT_E_NOMEM;
    rep->sites[rep->n_sites++] = (mt_gpu_site){ device, at_peak, stack, bytes, 1 };
    return 0;
}

static int cmp_site(const void *a, const void *b) {
    const mt_gpu_site *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* Keeps the top sites of the group that starts at from. */
static void trim_sites(mt_gpu_report *rep, size_t from, size_t top) {
    if (rep->n_sites <= from) return;
    mt__qsort(rep->sites + from, rep->n_sites - from, sizeof *rep->sites, cmp_site);
    if (rep->n_sites - from > top) rep->n_sites = from + top;
}

static int classify(mt_gpu_report *rep, replay *r, const ev *e, uint64_t index) {
    if (mt__grow((void **)&rep->ooms, &rep->cap_ooms, rep->n_ooms, sizeof *rep->ooms)) return MT_E_NOMEM;
    mt_gpu_oom *o = &rep->ooms[rep->n_ooms];
    memset(o, 0, sizeof *o);
    o->device = e->device;
    o->time_ns = e->time_ns;
    o->index = index;
    o->size = e->size;
    o->stream = e->stream;
    o->device_free = e->device_free;
    o->active = r->blocks.bytes;
    o->reserved = r->segs.bytes;
    o->stack = e->stack;
    uint64_t biggest;
    int rc = free_space(&r->segs, &r->blocks, e->size, e->stream, &o->pool_free, &o->largest_free, &biggest);
    if (rc) return rc;
    uint64_t s = e->size, f = o->pool_free, d = e->device_free;
    uint64_t one = o->largest_free > d ? o->largest_free : d;
    o->cause = s <= one ? MT_GPU_OOM_FITS : s <= f + d ? MT_GPU_OOM_FRAGMENTATION : MT_GPU_OOM_CAPACITY;
    o->fragmentation = o->cause == MT_GPU_OOM_FRAGMENTATION;
    if (o->cause == MT_GPU_OOM_CAPACITY) o->shortfall = s - (f + d);
    if (o->fragmentation) {
        /* PyTorch's own advice for a fragmentation OOM; with expandable
         * segments already on it is no help. */
        if (!rep->expandable) o->helps |= MT_GPU_HELP_EXPANDABLE;
        /* Blocks above max_split_size are never split: with it below the
         * request's size, the smaller requests that carved a segment at
         * least this large would have gone elsewhere and left it whole.
         * So only when such a segment exists, and only a value PyTorch
         * accepts (above 20 MiB). */
        uint64_t mb = (s - 1) >> 20;
        /* A max_split_size already at or below that value did its part. */
        if (s > SMALL_SIZE && mb > MIN_MAX_SPLIT_MB && biggest >= s && (!rep->max_split || rep->max_split >> 20 > mb)) {
            o->helps |= MT_GPU_HELP_MAX_SPLIT;
            o->max_split_mb = mb > UINT32_MAX ? UINT32_MAX : (uint32_t)mb;
        }
    }
    rep->n_ooms++;
    return 0;
}

static int store_curve(mt_gpu_report *rep, uint32_t device, size_t n) {
    struct curve *c = realloc(rep->curves, (rep->n_curves + 1) * sizeof *c);
    if (!c) return MT_E_NOMEM;
    rep->curves = c;
    c = &rep->curves[rep->n_curves];
    memset(c, 0, sizeof *c);
    c->device = device;
    c->t = malloc((n + 1) * sizeof *c->t);
    c->active = malloc((n + 1) * sizeof *c->active);
    c->reserved = malloc((n + 1) * sizeof *c->reserved);
    rep->n_curves++;
    if (!c->t || !c->active || !c->reserved) return MT_E_NOMEM;
    return 0;
}

/* The device's trace: peak, OOMs, the curve, and the sites at the peak. */
static int trace_device(mt_gpu_report *rep, mt_gpu_device_report *dr, const ev *const *evs, size_t n, const load *l,
                        size_t top) {
    liveset pre_b = { 0 }, pre_s = { 0 };
    replay r = { { 0 }, { 0 } };
    mt_gpu_trace_stats *t = &dr->trace;
    int rc = pre_trace(evs, n, l->segs, l->n_segs, l->blks, l->n_blks, dr->device, &pre_b, &pre_s, &t->wrapped);
    if (!rc) rc = replay_start(&r, &pre_b, &pre_s);
    if (!rc) rc = store_curve(rep, dr->device, n);
    if (rc) goto done;
    struct curve *c = &rep->curves[rep->n_curves - 1];
    t->events = n;
    t->start_active = r.blocks.bytes;
    t->peak_active = r.blocks.bytes;
    t->peak_reserved = t->max_reserved = r.segs.bytes;
    t->peak_index = 0;
    t->peak_time_ns = n ? evs[0]->time_ns : 0;
    int peak_before = 1; /* the peak is the state before the first entry */
    for (size_t i = 0; i < n && !rc; i++) {
        const ev *e = evs[i];
        if (e->action == EV_OOM) {
            t->ooms++;
            rc = classify(rep, &r, e, i);
        } else {
            rc = step(&r, e);
        }
        c->t[c->n] = e->time_ns;
        c->active[c->n] = r.blocks.bytes;
        c->reserved[c->n++] = r.segs.bytes;
        if (r.blocks.bytes > t->peak_active) {
            t->peak_active = r.blocks.bytes;
            t->peak_time_ns = e->time_ns;
            t->peak_index = i;
            t->peak_reserved = r.segs.bytes;
            peak_before = 0;
        }
        if (r.segs.bytes > t->max_reserved) t->max_reserved = r.segs.bytes;
    }
    if (rc) goto done;
    t->end_active = r.blocks.bytes;
    /* What was live at the peak: replay again up to it. */
    ls_free(&r.blocks);
    ls_free(&r.segs);
    rc = replay_start(&r, &pre_b, &pre_s);
    for (size_t i = 0; !rc && !peak_before && i <= t->peak_index; i++)
        if (evs[i]->action != EV_OOM) rc = step(&r, evs[i]);
    size_t from = rep->n_sites;
    for (size_t i = 0; i < r.blocks.n && !rc; i++)
        rc = add_site(rep, dr->device, 1, r.blocks.v[i].stack, r.blocks.v[i].size);
    if (!rc) trim_sites(rep, from, top);
done:
    ls_free(&pre_b);
    ls_free(&pre_s);
    ls_free(&r.blocks);
    ls_free(&r.segs);
    return rc;
}

static int cmp_pool(const void *a, const void *b) {
    const mt_gpu_pool *x = a, *y = b;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    if (x->all_streams != y->all_streams) return x->all_streams ? -1 : 1;
    if (x->reserved != y->reserved) return x->reserved > y->reserved ? -1 : 1;
    int c = strcmp(x->pool, y->pool);
    if (c) return c;
    return x->stream < y->stream ? -1 : x->stream > y->stream;
}

static int meta_num(const mt_snapshot *s, const char *key, double *out) {
    return mt_snapshot_meta_number(s, key, out);
}

static int analyze(const mt_snapshot *s, load *l, size_t top, mt_gpu_report *rep, mt_diag *diag) {
    double v;
    rep->expandable = meta_num(s, "gpu.expandable_segments", &v) && v != 0;
    /* PyTorch reports an unset max_split_size as SIZE_MAX. */
    rep->max_split = meta_num(s, "gpu.max_split_size", &v) && v > 0 && v < 1e18 ? (uint64_t)v : 0;
    mt__qsort(l->devs, l->n_devs, sizeof *l->devs, cmp_u32);
    mt__qsort(l->segs, l->n_segs, sizeof *l->segs, cmp_seg);
    mt__qsort(l->blks, l->n_blks, sizeof *l->blks, cmp_blk);
    /* Each block to the segment that holds it. */
    size_t j = 0;
    for (size_t i = 0; i < l->n_segs; i++) {
        seg *g = &l->segs[i];
        while (j < l->n_blks && (l->blks[j].device < g->device ||
                                 (l->blks[j].device == g->device && l->blks[j].address < g->address)))
            j++;
        g->first_block = j;
        while (j < l->n_blks && l->blks[j].device == g->device && l->blks[j].address < g->address + g->size) j++;
        g->n_blocks = j - g->first_block;
        if (g->n_blocks) {
            uint64_t at = g->address;
            int gap = 0, over = 0;
            for (size_t k = g->first_block; k < j; k++) {
                if (l->blks[k].address > at) gap = 1;
                if (l->blks[k].address < at || l->blks[k].address + l->blks[k].size > g->address + g->size) over = 1;
                if (l->blks[k].address + l->blks[k].size > at) at = l->blks[k].address + l->blks[k].size;
            }
            if (at < g->address + g->size) gap = 1;
            rep->odd.gaps += gap;
            rep->odd.overlaps += over;
        }
    }
    rep->odd.unknown_states = l->unknown_states;
    rep->odd.unknown_actions = l->unknown_actions;
    rep->devices = calloc(l->n_devs ? l->n_devs : 1, sizeof *rep->devices);
    if (!rep->devices) return mt_diag_set(diag, MT_E_NOMEM, "out of memory for the GPU report");
    rep->n_devices = l->n_devs;
    /* Pools: one row per device total and per (device, pool, stream). */
    size_t cap_pools = 0;
    int rc = 0;
    for (size_t d = 0; d < l->n_devs; d++) {
        mt_gpu_device_report *dr = &rep->devices[d];
        dr->device = l->devs[d];
        snprintf(dr->name, sizeof dr->name, "cuda:%u", dr->device);
        dr->all.device = dr->device;
        dr->all.all_streams = 1;
        for (size_t i = 0; i < l->n_segs; i++) {
            const seg *g = &l->segs[i];
            if (g->device != dr->device) continue;
            add_segment(&dr->all, g, l->blks);
            size_t k;
            for (k = 0; k < rep->n_pools; k++) {
                mt_gpu_pool *p = &rep->pools[k];
                if (!p->all_streams && p->device == g->device && p->stream == g->stream && !strcmp(p->pool, g->pool))
                    break;
            }
            if (k == rep->n_pools) {
                if (mt__grow((void **)&rep->pools, &cap_pools, rep->n_pools + 1, sizeof *rep->pools))
                    return mt_diag_set(diag, MT_E_NOMEM, "out of memory for the GPU report");
                mt_gpu_pool *p = &rep->pools[rep->n_pools++];
                memset(p, 0, sizeof *p);
                p->device = g->device;
                p->stream = g->stream;
                memcpy(p->pool, g->pool, sizeof p->pool);
            }
            add_segment(&rep->pools[k], g, l->blks);
        }
        finish_pool(&dr->all);
        /* Sites of the snapshot's state. */
        size_t from = rep->n_sites;
        for (size_t i = 0; i < l->n_blks && !rc; i++)
            if (l->blks[i].device == dr->device && l->blks[i].state == ST_ALLOCATED)
                rc = add_site(rep, dr->device, 0, l->blks[i].stack, l->blks[i].size);
        if (rc) return mt_diag_set(diag, rc, "out of memory for the GPU report");
        trim_sites(rep, from, top);
    }
    for (size_t k = 0; k < rep->n_pools; k++) finish_pool(&rep->pools[k]);
    /* Device rows join the pool rows, first in their device. */
    if (mt__reserve((void **)&rep->pools, &cap_pools, rep->n_pools + l->n_devs, sizeof *rep->pools))
        return mt_diag_set(diag, MT_E_NOMEM, "out of memory for the GPU report");
    for (size_t d = 0; d < l->n_devs; d++) rep->pools[rep->n_pools++] = rep->devices[d].all;
    mt__qsort(rep->pools, rep->n_pools, sizeof *rep->pools, cmp_pool);
    /* Device records: names and capacity (else meta gpuN.total_memory);
     * meta gpuN.free_memory: the device's free memory when the state was
     * taken; gpuN.stats.num_alloc_retries: memory_stats()'s count of
     * cudaMalloc retries (SPEC.md 4.5). */
    mt_gpu_device *devs = NULL;
    size_t nd = 0;
    rc = mt_snapshot_gpu_devices(s, &devs, &nd, diag);
    if (rc) return rc;
    for (size_t d = 0; d < l->n_devs; d++) {
        mt_gpu_device_report *dr = &rep->devices[d];
        for (size_t i = 0; i < nd; i++)
            if (devs[i].id == dr->device) {
                if (devs[i].name.len) copy_str(dr->name, sizeof dr->name, devs[i].name);
                dr->total = devs[i].total_bytes;
            }
        char key[64];
        snprintf(key, sizeof key, "gpu%u.total_memory", dr->device);
        if (!dr->total && meta_num(s, key, &v) && v > 0 && v < 1.8e19) dr->total = (uint64_t)v;
        snprintf(key, sizeof key, "gpu%u.stats.num_alloc_retries", dr->device);
        dr->alloc_retries = meta_num(s, key, &v) && v >= 0 && v < 1.8e19 ? (int64_t)v : -1;
        snprintf(key, sizeof key, "gpu%u.free_memory", dr->device);
        if (dr->total && meta_num(s, key, &v) && v >= 0 && v <= (double)dr->total) {
            dr->has_used = 1;
            dr->used = dr->total - (uint64_t)v;
            dr->outside = (int64_t)dr->used - (int64_t)dr->all.reserved;
        }
    }
    mt_gpu_devices_free(devs, nd);
    /* The traces, device by device in trace order. */
    evx *order = malloc((l->n_evs + 1) * sizeof *order);
    const ev **evs = malloc((l->n_evs + 1) * sizeof *evs);
    if (!order || !evs) {
        free(order);
        free(evs);
        return mt_diag_set(diag, MT_E_NOMEM, "out of memory for the GPU trace");
    }
    for (size_t i = 0; i < l->n_evs; i++) order[i] = (evx){ l->evs[i].device, i };
    mt__qsort(order, l->n_evs, sizeof *order, cmp_evx);
    for (size_t i = 0; i < l->n_evs; i++) evs[i] = &l->evs[order[i].i];
    free(order);
    size_t at = 0;
    for (size_t d = 0; d < l->n_devs && !rc; d++) {
        mt_gpu_device_report *dr = &rep->devices[d];
        size_t first = at;
        while (at < l->n_evs && evs[at]->device == dr->device) at++;
        if (at == first) continue;
        dr->has_trace = 1;
        rc = trace_device(rep, dr, evs + first, at - first, l, top);
    }
    free(evs);
    if (rc) return mt_diag_set(diag, rc, "out of memory for the GPU trace");
    return 0;
}

int mt_gpu_analyze(const mt_snapshot *s, const mt_gpu_opts *opts, mt_gpu_report **out, mt_diag *diag) {
    *out = NULL;
    load l = { 0 };
    l.device = opts && opts->device_set ? opts->device : -1;
    size_t top = opts && opts->top ? opts->top : 10;
    int rc = mt_snapshot_each(s, MT_KIND_GPU_DEVICE, on_device, &l, diag);
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_GPU_SEGMENT, on_segment, &l, diag);
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_GPU_BLOCK, on_block, &l, diag);
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_GPU_EVENT, on_event, &l, diag);
    if (rc == MT_E_NOMEM) rc = mt_diag_set(diag, rc, "out of memory for the GPU records");
    mt_gpu_report *rep = NULL;
    if (!rc && !l.n_devs) {
        if (l.device >= 0)
            rc = mt_diag_set(diag, MT_E_NOTFOUND, "no GPU records of device %d", l.device);
        else
            rc = mt_diag_set(diag, MT_E_NOTFOUND, "no GPU records (gpu_devices, gpu_segments, gpu_events)");
    }
    if (!rc && !(rep = calloc(1, sizeof *rep))) rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory");
    if (!rc) rc = analyze(s, &l, top, rep, diag);
    free(l.segs);
    free(l.blks);
    free(l.evs);
    free(l.devs);
    if (rc) {
        mt_gpu_report_free(rep);
        return rc;
    }
    *out = rep;
    return 0;
}

void mt_gpu_report_free(mt_gpu_report *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_curves; i++) {
        free(r->curves[i].t);
        free(r->curves[i].active);
        free(r->curves[i].reserved);
    }
    free(r->curves);
    free(r->devices);
    free(r->pools);
    free(r->ooms);
    free(r->sites);
    free(r);
}

size_t mt_gpu_report_devices(const mt_gpu_report *r, const mt_gpu_device_report **out) {
    *out = r->devices;
    return r->n_devices;
}

size_t mt_gpu_report_pools(const mt_gpu_report *r, const mt_gpu_pool **out) {
    *out = r->pools;
    return r->n_pools;
}

size_t mt_gpu_report_ooms(const mt_gpu_report *r, const mt_gpu_oom **out) {
    *out = r->ooms;
    return r->n_ooms;
}

size_t mt_gpu_report_sites(const mt_gpu_report *r, const mt_gpu_site **out) {
    *out = r->sites;
    return r->n_sites;
}

int mt_gpu_report_expandable(const mt_gpu_report *r) {
    return r->expandable;
}

void mt_gpu_report_oddities(const mt_gpu_report *r, mt_gpu_oddities *out) {
    *out = r->odd;
}

uint64_t mt_gpu_report_max_split(const mt_gpu_report *r) {
    return r->max_split;
}

const char *mt_gpu_oom_cause_name(int cause) {
    static const char *const names[] = { "capacity", "fragmentation", "fits" };
    return cause >= 0 && cause < 3 ? names[cause] : "?";
}

size_t mt_gpu_report_curve(const mt_gpu_report *r, uint32_t device, size_t max, uint64_t *time_ns, uint64_t *active,
                           uint64_t *reserved) {
    const struct curve *c = NULL;
    for (size_t i = 0; i < r->n_curves; i++)
        if (r->curves[i].device == device) c = &r->curves[i];
    if (!c || !c->n || !max) return 0;
    if (c->n <= max) {
        memcpy(time_ns, c->t, c->n * sizeof *time_ns);
        memcpy(active, c->active, c->n * sizeof *active);
        memcpy(reserved, c->reserved, c->n * sizeof *reserved);
        return c->n;
    }
    /* The first and the last entry as they are; between them, pairs: the
     * least and the most active of each stretch of entries, in their
     * order, so that the swings show and the peak is kept. Reserved is the
     * stretch's most. */
    size_t pairs = max >= 4 ? (max - 2) / 2 : 0, out = 0;
    time_ns[out] = c->t[0];
    active[out] = c->active[0];
    reserved[out++] = c->reserved[0];
    for (size_t k = 0; k < pairs; k++) {
        size_t a = 1 + (size_t)((double)k * (double)(c->n - 2) / (double)pairs);
        size_t b = 1 + (size_t)((double)(k + 1) * (double)(c->n - 2) / (double)pairs);
        if (b <= a) b = a + 1;
        if (b > c->n - 1) b = c->n - 1;
        if (a >= b) continue;
        size_t lo = a, hi = a;
        uint64_t res = 0;
        for (size_t i = a; i < b; i++) {
            if (c->active[i] < c->active[lo]) lo = i;
            if (c->active[i] > c->active[hi]) hi = i;
            if (c->reserved[i] > res) res = c->reserved[i];
        }
        size_t first = lo < hi ? lo : hi, second = lo < hi ? hi : lo;
        time_ns[out] = c->t[first];
        active[out] = c->active[first];
        reserved[out++] = res;
        time_ns[out] = c->t[second];
        active[out] = c->active[second];
        reserved[out++] = res;
    }
    if (max >= 2) {
        time_ns[out] = c->t[c->n - 1];
        active[out] = c->active[c->n - 1];
        reserved[out++] = c->reserved[c->n - 1];
    }
    return out;
}

void mt_gpu_spread_of(const double *v, size_t n, mt_gpu_spread *out) {
    memset(out, 0, sizeof *out);
    if (!n) return;
    double sum = 0;
    out->max = out->min = v[0];
    for (size_t i = 0; i < n; i++) {
        sum += v[i];
        if (v[i] > out->max) {
            out->max = v[i];
            out->max_at = i;
        }
        if (v[i] < out->min) {
            out->min = v[i];
            out->min_at = i;
        }
    }
    out->mean = sum / (double)n;
    out->imbalance = n > 1 && out->mean > 0 ? (out->max - out->mean) / out->mean : 0;
}
