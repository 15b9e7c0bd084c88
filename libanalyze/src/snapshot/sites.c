/* Allocation sites (sites.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/sites.h"
#include "memtrace/u64map.h"
#include "common/array.h"

typedef struct site_frame {
    size_t file, function; /* pool offsets */
    uint32_t file_len, function_len, line;
} site_frame;

typedef struct site_stack {
    uint32_t frame, parent; /* record ids */
} site_stack;

struct mt_sites {
    mt_u64map frame_ids, stack_ids; /* record id -> index */
    site_frame *frames;
    size_t n_frames, cap_frames;
    site_stack *stacks;
    size_t n_stacks, cap_stacks;
    char *pool;
    size_t pool_len, pool_cap;
};

static int keep(mt_sites *t, mt_str s, size_t *at) {
    return mt__pool_add(&t->pool, &t->pool_len, &t->pool_cap, s.ptr, s.len, at);
}

static int on_frame(void *arg, const void *rec) {
    mt_sites *t = arg;
    const mt_frame *f = rec;
    if (mt__grow((void **)&t->frames, &t->cap_frames, t->n_frames, sizeof(site_frame))) return MT_E_NOMEM;
    site_frame *sf = &t->frames[t->n_frames];
    if (keep(t, f->file, &sf->file) || keep(t, f->function, &sf->function)) return MT_E_NOMEM;
    sf->file_len = (uint32_t)f->file.len;
    sf->function_len = (uint32_t)f->function.len;
    sf->line = f->line;
    if (mt_u64map_put(&t->frame_ids, f->id, (uint32_t)t->n_frames)) return MT_E_NOMEM;
    t->n_frames++;
    return 0;
}

static int on_stack(void *arg, const void *rec) {
    mt_sites *t = arg;
    const mt_stack *s = rec;
    if (mt__grow((void **)&t->stacks, &t->cap_stacks, t->n_stacks, sizeof(site_stack))) return MT_E_NOMEM;
    t->stacks[t->n_stacks] = (site_stack){ s->frame, s->parent };
    if (mt_u64map_put(&t->stack_ids, s->id, (uint32_t)t->n_stacks)) return MT_E_NOMEM;
    t->n_stacks++;
    return 0;
}

int mt_sites_load(const mt_snapshot *s, mt_sites **out, mt_diag *diag) {
    mt_sites *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t) return mt_diag_set(diag, MT_E_NOMEM, "out of memory reading call stacks");
    int rc = mt_snapshot_each(s, MT_KIND_FRAME, on_frame, t, diag);
    if (!rc) rc = mt_snapshot_each(s, MT_KIND_STACK, on_stack, t, diag);
    if (rc) {
        mt_sites_free(t);
        if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory reading call stacks");
        return rc;
    }
    *out = t;
    return 0;
}

int mt_sites_read(mt_reader *r, int salvage, mt_sites **out, mt_diag *diag) {
    mt_sites *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t) return mt_diag_set(diag, MT_E_NOMEM, "out of memory reading call stacks");
    int rc = 0;
    for (int pass = 0; !rc && pass < 2; pass++) {
        mt_kind kind = pass ? MT_KIND_STACK : MT_KIND_FRAME;
        for (size_t i = 0; !rc && i < mt_reader_block_count(r); i++) {
            const mt_block_info *b = mt_reader_block(r, i);
            if (b->kind != kind || b->status != MT_BLOCK_OK) continue;
            mt_cursor c;
            mt_record rec;
            mt_diag d = { 0 };
            mt_diag_clear(&d);
            int brc = mt_reader_block_open(r, i, &c, &d);
            while (!brc && (brc = mt_cursor_next(&c, &rec.u, &d)) == 1)
                brc = pass ? on_stack(t, &rec.u) : on_frame(t, &rec.u);
            if (brc == MT_E_NOMEM) rc = MT_E_NOMEM;
            else if (brc < 0 && !salvage) {
                rc = MT_E_DAMAGED;
                if (diag) {
                    const char *file = diag->file;
                    *diag = d;
                    diag->file = file;
                    diag->code = rc;
                }
            }
        }
    }
    if (rc) {
        mt_sites_free(t);
        if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory reading call stacks");
        return rc;
    }
    *out = t;
    return 0;
}

void mt_sites_free(mt_sites *t) {
    if (!t) return;
    mt_u64map_free(&t->frame_ids);
    mt_u64map_free(&t->stack_ids);
    free(t->frames);
    free(t->stacks);
    free(t->pool);
    free(t);
}

size_t mt_sites_count(const mt_sites *t) { return t->n_stacks; }

static const site_frame *frame_of(const mt_sites *t, uint32_t stack) {
    uint32_t si, fi;
    if (!stack || !mt_u64map_get(&t->stack_ids, stack, &si)) return NULL;
    if (!mt_u64map_get(&t->frame_ids, t->stacks[si].frame, &fi)) return NULL;
    return &t->frames[fi];
}

int mt_sites_frame(const mt_sites *t, uint32_t stack, mt_str *file, mt_str *function, uint32_t *line) {
    const site_frame *f = frame_of(t, stack);
    if (!f) return 0;
    if (file) *file = (mt_str){ t->pool + f->file, f->file_len };
    if (function) *function = (mt_str){ t->pool + f->function, f->function_len };
    if (line) *line = f->line;
    return 1;
}

uint32_t mt_sites_parent(const mt_sites *t, uint32_t stack) {
    uint32_t si;
    if (!stack || !mt_u64map_get(&t->stack_ids, stack, &si)) return 0;
    return t->stacks[si].parent;
}

int mt_sites_is_stdlib(mt_str f) {
    static const char frozen[] = "<frozen ";
    if (f.len >= sizeof frozen - 1 && !memcmp(f.ptr, frozen, sizeof frozen - 1)) return 1;
    int in_lib = 0;
    for (size_t i = 0; i < f.len; i++) {
        if (f.ptr[i] != '/' && f.ptr[i] != '\\') continue;
        const char *p = f.ptr + i + 1;
        size_t left = f.len - i - 1;
        /* "lib/python3.11/", "lib64/python3.8/", Windows' "Lib/". */
        if ((left > 11 && !memcmp(p, "lib/python", 10) && p[10] >= '0' && p[10] <= '9') ||
            (left > 13 && !memcmp(p, "lib64/python", 12) && p[12] >= '0' && p[12] <= '9') ||
            (left > 4 && !memcmp(p, "Lib", 3) && (p[3] == '\\' || p[3] == '/')))
            in_lib = 1;
        if ((left > 14 && !memcmp(p, "site-packages", 13)) || (left > 14 && !memcmp(p, "dist-packages", 13))) return 0;
    }
    return in_lib;
}

uint32_t mt_sites_app_stack(const mt_sites *t, uint32_t stack) {
    uint32_t s = stack;
    /* A chain longer than the table has loops. */
    for (size_t depth = 0; s && depth <= t->n_stacks; depth++, s = mt_sites_parent(t, s)) {
        const site_frame *f = frame_of(t, s);
        if (f && !mt_sites_is_stdlib((mt_str){ t->pool + f->file, f->file_len })) return s;
    }
    return stack;
}

/* Appends len bytes of s at buf[at], as far as n allows; returns the new
 * length the text needs. */
static size_t put(char *buf, size_t n, size_t at, const char *s, size_t len) {
    if (at + 1 < n) {
        size_t c = len < n - at - 1 ? len : n - at - 1;
        memcpy(buf + at, s, c);
        buf[at + c] = 0;
    }
    return at + len;
}

size_t mt_sites_format(const mt_sites *t, uint32_t stack, int whole, char *buf, size_t n) {
    if (n) buf[0] = 0;
    size_t at = 0;
    /* A chain longer than the table has loops. */
    for (size_t depth = 0; depth <= t->n_stacks; depth++) {
        if (depth) at = put(buf, n, at, " < ", 3);
        const site_frame *f = frame_of(t, stack);
        if (f) {
            char line[16];
            int k = snprintf(line, sizeof line, ":%u", f->line);
            at = put(buf, n, at, t->pool + f->file, f->file_len);
            at = put(buf, n, at, line, (size_t)k);
        } else
            at = put(buf, n, at, "<unknown>", 9);
        stack = mt_sites_parent(t, stack);
        if (!whole || !stack) break;
    }
    return at;
}

/* ---- what is live, by stack ---- */

typedef struct live_ctx {
    mt_site_fn fn;
    void *arg;
    mt_u64map at;          /* address -> slot in the arrays below */
    uint32_t *stack;
    uint64_t *size;        /* UINT64_MAX once freed */
    size_t n, cap_stack, cap_size;
} live_ctx;

/* Live records count as they are; an alloc counts until a free of its
 * address, so that an event stream and a live summary agree. */
static int on_alloc(void *arg, const void *rec) {
    live_ctx *c = arg;
    const mt_alloc *al = rec;
    uint32_t slot;
    if (al->op == MT_ALLOC_LIVE) return c->fn(c->arg, al->stack, al->count ? al->count : 1, al->size);
    if (al->op == MT_ALLOC_ALLOC) {
        if (!mt_u64map_get(&c->at, al->address, &slot)) {
            if (mt__grow((void **)&c->stack, &c->cap_stack, c->n, 4) ||
                mt__grow((void **)&c->size, &c->cap_size, c->n, 8) ||
                mt_u64map_put(&c->at, al->address, (uint32_t)c->n))
                return MT_E_NOMEM;
            slot = (uint32_t)c->n++;
        }
        c->stack[slot] = al->stack;
        c->size[slot] = al->size;
    } else if (al->op == MT_ALLOC_FREE && mt_u64map_get(&c->at, al->address, &slot)) {
        c->size[slot] = UINT64_MAX;
    }
    return 0;
}

typedef struct gpu_ctx {
    mt_site_fn fn;
    void *arg;
} gpu_ctx;

static int on_gpu_block(void *arg, const void *rec) {
    const gpu_ctx *c = arg;
    const mt_gpu_block *b = rec;
    static const char used[] = "active_allocated";
    if (b->state.len != sizeof used - 1 || memcmp(b->state.ptr, used, sizeof used - 1)) return 0;
    return c->fn(c->arg, b->stack, 1, b->size);
}

int mt_sites_live(const mt_snapshot *s, mt_site_fn fn, void *arg, mt_diag *diag) {
    const mt_graph *g = mt_snapshot_graph(s);
    int rc = 0;
    if (g->stack) {
        for (uint32_t i = 0; !rc && i < g->n_objects; i++)
            if (!(g->flags[i] & MT_OBJ_LOST)) rc = fn(arg, g->stack[i], 1, g->size[i]);
        return rc;
    }
    /* A GPU allocator's state: its blocks in use are what is live. */
    if (!mt_snapshot_count(s, MT_KIND_ALLOC) && mt_snapshot_count(s, MT_KIND_GPU_BLOCK)) {
        gpu_ctx c = { fn, arg };
        return mt_snapshot_each(s, MT_KIND_GPU_BLOCK, on_gpu_block, &c, diag);
    }
    live_ctx c = { fn, arg, MT_U64MAP_INIT, NULL, NULL, 0, 0, 0 };
    rc = mt_snapshot_each(s, MT_KIND_ALLOC, on_alloc, &c, diag);
    for (size_t i = 0; !rc && i < c.n; i++)
        if (c.size[i] != UINT64_MAX) rc = fn(arg, c.stack[i], 1, c.size[i]);
    mt_u64map_free(&c.at);
    free(c.stack);
    free(c.size);
    if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory following allocations");
    return rc;
}
