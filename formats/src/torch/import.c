/* mt_torch_import(): a PyTorch CUDA allocator snapshot (a pickled dict)
 * to gpu_* records, as formats/SPEC.md section 4.5 maps them. The pickle
 * machine (pickle.c) hands over each segment and trace entry as the
 * pickle completes it; this file converts it and writes it at once. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/fileio.h"
#include "memtrace/torch.h"
#include "memtrace/u64map.h"
#include "pickle.h"

/* An interned frame: its text, owned, so that the frame dict it came
 * from can be released. */
typedef struct fent {
    uint64_t hash;
    char *name, *file;
    size_t nlen, flen;
    uint32_t line, id;
} fent;

typedef struct dev {
    uint32_t index;
    uint64_t reserved, allocated;
} dev;

typedef struct ctx {
    mt_writer *w;
    mt_diag *diag;
    mt_torch_counts counts;
    fent *frames;       /* open addressing; id 0 marks a free slot */
    size_t fcap, fcount;
    mt_u64map stacks;   /* frame << 32 | parent -> stack id */
    dev *devs;
    size_t ndev, capdev;
    int out_failed;     /* the failure is the output's: diag names it */
    mt_u64map dev_ix;   /* device index -> slot in devs */
} ctx;

static int bad(ctx *c, int code, const mt__pv *at, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(ctx *c, int code, const mt__pv *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->diag->msg, sizeof c->diag->msg, fmt, ap);
    va_end(ap);
    c->diag->code = code;
    c->diag->offset = at ? (int64_t)at->off : -1;
    return code;
}

static int wfail(ctx *c, int rc) {
    c->out_failed = 1;
    return mt_diag_set(c->diag, rc, "cannot write the snapshot: %s", mt_strerror(rc));
}

static int wadd(ctx *c, mt_kind kind, const void *rec) {
    int rc = mt_writer_add(c->w, kind, rec);
    return rc ? wfail(c, rc) : 0;
}

/* ---- fields ---- */

/* An unsigned integer field of d: *out, or def when absent (or None, as
 * optional fields may be), or the error required/what says. */
static int get_u64(ctx *c, const mt__pv *d, const char *key, int required, uint64_t def, uint64_t *out) {
    const mt__pv *v = mt__pv_get(d, key);
    if (!v || v->type == MT__PV_NONE) {
        if (required) return bad(c, MT_E_RECORD, d, "expected key '%s' in this dict", key);
        *out = def;
        return 0;
    }
    if (v->type == MT__PV_BOOL) {
        *out = v->v.u;
        return 0;
    }
    if (v->type != MT__PV_INT)
        return bad(c, MT_E_RECORD, v, "expected an integer for '%s', not a %s", key, mt__pk_type_name(v->type));
    if (v->neg) return bad(c, MT_E_RANGE, v, "'%s' is negative (%" PRId64 ")", key, v->v.i);
    *out = v->v.u;
    return 0;
}

/* A stream is a cudaStream_t as Python's int: kept as its 64 bits even
 * when negative. */
static int get_bits(ctx *c, const mt__pv *d, const char *key, uint64_t *out) {
    const mt__pv *v = mt__pv_get(d, key);
    *out = 0;
    if (!v || v->type == MT__PV_NONE) return 0;
    if (v->type != MT__PV_INT)
        return bad(c, MT_E_RECORD, v, "expected an integer for '%s', not a %s", key, mt__pk_type_name(v->type));
    *out = v->v.u;
    return 0;
}

static int get_u32(ctx *c, const mt__pv *d, const char *key, int required, uint32_t *out) {
    uint64_t u;
    int rc = get_u64(c, d, key, required, 0, &u);
    if (rc) return rc;
    if (u > UINT32_MAX) return bad(c, MT_E_RANGE, mt__pv_get(d, key), "'%s' is above 2^32 - 1 (%" PRIu64 ")", key, u);
    *out = (uint32_t)u;
    return 0;
}

static int get_str(ctx *c, const mt__pv *d, const char *key, int required, mt_str *out) {
    const mt__pv *v = mt__pv_get(d, key);
    *out = (mt_str){ "", 0 };
    if (!v || v->type == MT__PV_NONE) {
        if (required) return bad(c, MT_E_RECORD, d, "expected key '%s' in this dict", key);
        return 0;
    }
    if (v->type != MT__PV_STR)
        return bad(c, MT_E_RECORD, v, "expected a str for '%s', not a %s", key, mt__pk_type_name(v->type));
    *out = (mt_str){ v->v.s.p, v->v.s.n };
    return 0;
}

static int expect(ctx *c, const mt__pv *v, int type, const char *what) {
    if (v->type == type) return 0;
    if (v->type == MT__PV_GONE)
        return bad(c, MT_E_RECORD, v, "expected %s, found an element already converted (shared through the memo)",
                   what);
    return bad(c, MT_E_RECORD, v, "expected %s, not a %s", what, mt__pk_type_name(v->type));
}

/* ---- frames and stacks ---- */

static uint64_t fhash(const char *a, size_t an, const char *b, size_t bn, uint32_t line) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < an; i++) h = (h ^ (uint8_t)a[i]) * 0x100000001B3ull;
    h = (h ^ 0xff) * 0x100000001B3ull;
    for (size_t i = 0; i < bn; i++) h = (h ^ (uint8_t)b[i]) * 0x100000001B3ull;
    return (h ^ line) * 0x100000001B3ull;
}

static int frames_grow(ctx *c) {
    size_t nc = c->fcap ? c->fcap * 2 : 256;
    fent *n = calloc(nc, sizeof *n);
    if (!n) return mt_diag_set(c->diag, MT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < c->fcap; i++)
        if (c->frames[i].id) {
            size_t j = c->frames[i].hash & (nc - 1);
            while (n[j].id) j = (j + 1) & (nc - 1);
            n[j] = c->frames[i];
        }
    free(c->frames);
    c->frames = n;
    c->fcap = nc;
    return 0;
}

/* The frame id of one frame dict {filename, line, name}, written when new. */
static int intern_frame(ctx *c, mt__pv *f, uint32_t *id) {
    if (f->type == MT__PV_FRAME) {
        *id = f->v.id;
        return 0;
    }
    int rc = expect(c, f, MT__PV_DICT, "a frame dict");
    mt_str name, file;
    uint32_t line = 0;
    if (rc || (rc = get_str(c, f, "name", 0, &name)) || (rc = get_str(c, f, "filename", 0, &file)) ||
        (rc = get_u32(c, f, "line", 0, &line)))
        return rc;
    if ((c->fcount + 1) * 4 > c->fcap * 3 && (rc = frames_grow(c))) return rc;
    uint64_t h = fhash(name.ptr, name.len, file.ptr, file.len, line);
    size_t i = h & (c->fcap - 1);
    for (; c->frames[i].id; i = (i + 1) & (c->fcap - 1)) {
        fent *e = &c->frames[i];
        if (e->hash == h && e->line == line && e->nlen == name.len && e->flen == file.len &&
            !memcmp(e->name, name.ptr, name.len) && !memcmp(e->file, file.ptr, file.len)) {
            *id = e->id;
            goto done;
        }
    }
    if (c->fcount >= UINT32_MAX - 1) return bad(c, MT_E_LIMIT, f, "more than 2^32 - 2 distinct frames");
    fent e = { h, malloc(name.len + 1), malloc(file.len + 1), name.len, file.len, line, (uint32_t)c->fcount + 1 };
    if (!e.name || !e.file) {
        free(e.name);
        free(e.file);
        return mt_diag_set(c->diag, MT_E_NOMEM, "out of memory");
    }
    memcpy(e.name, name.ptr, name.len);
    memcpy(e.file, file.ptr, file.len);
    mt_frame rec = { e.id, { e.name, e.nlen }, { e.file, e.flen }, line };
    if ((rc = wadd(c, MT_KIND_FRAME, &rec))) {
        free(e.name);
        free(e.file);
        return rc;
    }
    c->frames[i] = e;
    c->fcount++;
    c->counts.frames++;
    *id = e.id;
done:
    /* A frame dict the memo shares is kept as its id only. */
    mt__pv_become(f, MT__PV_FRAME, *id);
    return 0;
}

/* The stack id of a frame list (innermost frame first, as PyTorch lists
 * them): a chain from the outermost frame, written where new. 0 for an
 * empty list or none. */
static int intern_stack(ctx *c, mt__pv *l, uint32_t *id) {
    *id = 0;
    if (!l || l->type == MT__PV_NONE) return 0;
    if (l->type == MT__PV_STACK) {
        *id = l->v.id;
        return 0;
    }
    int rc = expect(c, l, MT__PV_LIST, "a list of frames");
    if (rc) return rc;
    uint32_t parent = 0;
    for (size_t k = l->v.c.n; k > 0; k--) {
        uint32_t fid = 0, sid;
        if ((rc = intern_frame(c, l->v.c.items[k - 1], &fid))) return rc;
        uint64_t key = (uint64_t)fid << 32 | parent;
        if (!mt_u64map_get(&c->stacks, key, &sid)) {
            if (c->stacks.count >= UINT32_MAX - 1) return bad(c, MT_E_LIMIT, l, "more than 2^32 - 2 stacks");
            sid = (uint32_t)c->stacks.count + 1;
            mt_stack rec = { sid, fid, parent };
            if ((rc = wadd(c, MT_KIND_STACK, &rec))) return rc;
            if (mt_u64map_put(&c->stacks, key, sid)) return mt_diag_set(c->diag, MT_E_NOMEM, "out of memory");
            c->counts.stacks++;
        }
        parent = sid;
    }
    *id = parent;
    mt__pv_become(l, MT__PV_STACK, parent);
    return 0;
}

/* ---- devices ---- */

static int see_device(ctx *c, uint32_t index, dev **out) {
    uint32_t slot;
    if (!mt_u64map_get(&c->dev_ix, index, &slot)) {
        if (c->ndev == c->capdev) {
            size_t nc = c->capdev ? c->capdev * 2 : 8;
            dev *d = realloc(c->devs, nc * sizeof *d);
            if (!d) return mt_diag_set(c->diag, MT_E_NOMEM, "out of memory");
            c->devs = d;
            c->capdev = nc;
        }
        slot = (uint32_t)c->ndev;
        if (mt_u64map_put(&c->dev_ix, index, slot)) return mt_diag_set(c->diag, MT_E_NOMEM, "out of memory");
        c->devs[c->ndev++] = (dev){ index, 0, 0 };
    }
    if (out) *out = &c->devs[slot];
    return 0;
}

/* ---- segments ---- */

typedef struct bl {
    mt_gpu_block b;
    size_t order;
} bl;

static int bl_cmp(const void *a, const void *b) {
    const bl *x = a, *y = b;
    if (x->b.address != y->b.address) return x->b.address < y->b.address ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int convert_segment(ctx *c, mt__pv *s) {
    int rc = expect(c, s, MT__PV_DICT, "a segment dict");
    if (rc) return rc;
    mt_gpu_segment g;
    memset(&g, 0, sizeof g);
    if ((rc = get_u32(c, s, "device", 1, &g.device)) || (rc = get_u64(c, s, "address", 1, 0, &g.address)) ||
        (rc = get_u64(c, s, "total_size", 1, 0, &g.size)) || (rc = get_bits(c, s, "stream", &g.stream)) ||
        (rc = get_u64(c, s, "allocated_size", 0, 0, &g.allocated_bytes)) ||
        (rc = get_u64(c, s, "active_size", 0, 0, &g.active_bytes)) ||
        (rc = get_u64(c, s, "requested_size", 0, 0, &g.requested_bytes)) ||
        (rc = get_str(c, s, "segment_type", 0, &g.pool)))
        return rc;
    uint64_t expandable;
    if ((rc = get_u64(c, s, "is_expandable", 0, 0, &expandable))) return rc;
    if (expandable) g.flags |= MT_GPU_SEG_EXPANDABLE;
    /* A private pool (a CUDA graph's, or one a user made) is named by its
     * id, which (0, 0) is not. */
    char pool[64];
    const mt__pv *pid = mt__pv_get(s, "segment_pool_id");
    if (pid && pid->type != MT__PV_NONE) {
        if ((pid->type != MT__PV_TUPLE && pid->type != MT__PV_LIST) || pid->v.c.n != 2 ||
            pid->v.c.items[0]->type != MT__PV_INT || pid->v.c.items[1]->type != MT__PV_INT)
            return bad(c, MT_E_RECORD, pid, "expected a pair of integers for 'segment_pool_id'");
        const mt__pv *a = pid->v.c.items[0], *b = pid->v.c.items[1];
        if (a->v.u || b->v.u) {
            snprintf(pool, sizeof pool, a->neg ? "private:%" PRId64 : "private:%" PRIu64, a->v.u);
            size_t n = strlen(pool);
            snprintf(pool + n, sizeof pool - n, b->neg ? ",%" PRId64 : ",%" PRIu64, b->v.u);
            g.pool = mt_str_c(pool);
        }
    }
    if ((rc = intern_stack(c, mt__pv_get(s, "frames"), &g.stack))) return rc;
    dev *d;
    if ((rc = see_device(c, g.device, &d))) return rc;
    d->reserved += g.size;
    d->allocated += g.allocated_bytes;
    if ((rc = wadd(c, MT_KIND_GPU_SEGMENT, &g))) return rc;
    c->counts.segments++;

    mt__pv *blocks = mt__pv_get(s, "blocks");
    if (!blocks || blocks->type == MT__PV_NONE) return 0;
    if ((rc = expect(c, blocks, MT__PV_LIST, "a list of blocks for 'blocks'"))) return rc;
    size_t n = blocks->v.c.n;
    bl *out = n ? malloc(n * sizeof *out) : NULL;
    if (n && !out) return mt_diag_set(c->diag, MT_E_NOMEM, "out of memory");
    uint64_t at = g.address; /* where the next block starts, for blocks that do not say */
    int sorted = 1;
    for (size_t i = 0; i < n && !rc; i++) {
        mt__pv *b = blocks->v.c.items[i];
        mt_gpu_block *r = &out[i].b;
        memset(r, 0, sizeof *r);
        out[i].order = i;
        r->device = g.device;
        if ((rc = expect(c, b, MT__PV_DICT, "a block dict")) || (rc = get_u64(c, b, "size", 1, 0, &r->size)) ||
            (rc = get_str(c, b, "state", 0, &r->state)) || (rc = get_u64(c, b, "address", 0, at, &r->address)))
            break;
        if (r->state.len == 20 && !memcmp(r->state.ptr, "active_awaiting_free", 20))
            r->state = mt_str_c("active_pending_free");
        mt__pv *frames = mt__pv_get(b, "frames");
        if (mt__pv_get(b, "requested_size")) {
            rc = get_u64(c, b, "requested_size", 0, 0, &r->requested);
        } else {
            /* Before 2.1: what the caller asked for is its history's. */
            mt__pv *h = mt__pv_get(b, "history");
            if (h && h->type != MT__PV_NONE && !(rc = expect(c, h, MT__PV_LIST, "a list for 'history'")) &&
                h->v.c.n) {
                mt__pv *h0 = h->v.c.items[0];
                if (!(rc = expect(c, h0, MT__PV_DICT, "a history dict")) &&
                    !(rc = get_u64(c, h0, "real_size", 0, 0, &r->requested)) && !frames)
                    frames = mt__pv_get(h0, "frames");
            }
        }
        if (rc || (rc = intern_stack(c, frames, &r->stack))) break;
        if (r->address + r->size < r->address) {
            rc = bad(c, MT_E_RANGE, b, "a block that ends past 2^64");
            break;
        }
        at = r->address + r->size;
        if (i && bl_cmp(&out[i - 1], &out[i]) > 0) sorted = 0;
    }
    if (!rc && !sorted) qsort(out, n, sizeof *out, bl_cmp);
    for (size_t i = 0; i < n && !rc; i++)
        if (!(rc = wadd(c, MT_KIND_GPU_BLOCK, &out[i].b))) c->counts.blocks++;
    free(out);
    return rc;
}

/* ---- trace entries ---- */

static int convert_entry(ctx *c, uint32_t device, uint64_t pos, mt__pv *e) {
    int rc = expect(c, e, MT__PV_DICT, "a trace entry dict");
    if (rc) return rc;
    mt_gpu_event ev;
    memset(&ev, 0, sizeof ev);
    ev.device = device;
    uint64_t us;
    if ((rc = get_str(c, e, "action", 1, &ev.action)) || (rc = get_u64(c, e, "addr", 0, 0, &ev.address)) ||
        (rc = get_u64(c, e, "size", 0, 0, &ev.size)) || (rc = get_bits(c, e, "stream", &ev.stream)) ||
        (rc = get_u64(c, e, "device_free", 0, 0, &ev.device_free)) ||
        (rc = intern_stack(c, mt__pv_get(e, "frames"), &ev.stack)))
        return rc;
    const mt__pv *t = mt__pv_get(e, "time_us");
    if (t && t->type != MT__PV_NONE) {
        if ((rc = get_u64(c, e, "time_us", 0, 0, &us))) return rc;
        if (us > UINT64_MAX / 1000) return bad(c, MT_E_RANGE, t, "'time_us' above (2^64 - 1) / 1000");
        ev.time_ns = us * 1000;
    } else {
        /* No clock: the entry's place in its device's ring buffer. */
        ev.time_ns = pos;
        c->counts.sequence_clock = 1;
    }
    if ((rc = see_device(c, device, NULL)) || (rc = wadd(c, MT_KIND_GPU_EVENT, &ev))) return rc;
    c->counts.events++;
    return 0;
}

static int on_elem(void *vc, const mt__pv *list, uint64_t pos, mt__pv *item, mt_diag *diag) {
    ctx *c = vc;
    (void)diag;
    return list->role == MT__ROLE_SEGMENTS ? convert_segment(c, item) : convert_entry(c, list->aux, pos, item);
}

/* ---- the root ---- */

static int settings_meta(ctx *c, const mt__pv *s) {
    int rc = expect(c, s, MT__PV_DICT, "a dict for 'allocator_settings'");
    if (rc) return rc;
    const mt__pv *v;
    if ((v = mt__pv_get(s, "PYTORCH_CUDA_ALLOC_CONF")) && v->type == MT__PV_STR) {
        mt_meta m = { mt_str_c("gpu.alloc_conf"), { .type = MT_VAL_STR, .v.s = { v->v.s.p, v->v.s.n } } };
        if ((rc = wadd(c, MT_KIND_META, &m))) return rc;
    }
    if ((v = mt__pv_get(s, "max_split_size")) && v->type == MT__PV_INT) {
        mt_meta m = { mt_str_c("gpu.max_split_size"),
                      { .type = v->neg ? MT_VAL_INT : MT_VAL_UINT, .v.u = v->v.u } };
        if ((rc = wadd(c, MT_KIND_META, &m))) return rc;
    }
    if ((v = mt__pv_get(s, "garbage_collection_threshold")) && (v->type == MT__PV_FLOAT || v->type == MT__PV_INT)) {
        double f = v->type == MT__PV_FLOAT ? v->v.f : v->neg ? (double)v->v.i : (double)v->v.u;
        if ((rc = mt_writer_meta_float(c->w, "gpu.garbage_collection_threshold", f)))
            return wfail(c, rc);
    }
    if ((v = mt__pv_get(s, "expandable_segments")) && (v->type == MT__PV_BOOL || v->type == MT__PV_INT)) {
        if ((rc = mt_writer_meta_uint(c->w, "gpu.expandable_segments", v->v.u != 0)))
            return wfail(c, rc);
    }
    /* roundup_power2_divisions: a dict {"1": n, "2": n, ...} (a list of n
     * in some releases), written as text "1:n,2:n" (or "n,n"). */
    if ((v = mt__pv_get(s, "roundup_power2_divisions")) &&
        (v->type == MT__PV_DICT || v->type == MT__PV_LIST || v->type == MT__PV_TUPLE)) {
        size_t cap = 64, len = 0;
        char *txt = malloc(cap);
        if (!txt) return mt_diag_set(c->diag, MT_E_NOMEM, "out of memory");
        txt[0] = 0;
        int dict = v->type == MT__PV_DICT;
        for (size_t i = 0; i < v->v.c.n; i += dict ? 2 : 1) {
            const mt__pv *k = dict ? v->v.c.items[i] : NULL, *x = v->v.c.items[i + (dict ? 1 : 0)];
            char part[160];
            char num[32] = "?";
            if (x->type == MT__PV_INT)
                snprintf(num, sizeof num, x->neg ? "%" PRId64 : "%" PRIu64, x->v.u);
            if (k && k->type == MT__PV_STR)
                snprintf(part, sizeof part, "%s%.*s:%s", len ? "," : "", (int)(k->v.s.n > 64 ? 64 : k->v.s.n),
                         k->v.s.p, num);
            else
                snprintf(part, sizeof part, "%s%s", len ? "," : "", num);
            size_t pl = strlen(part);
            if (len + pl + 1 > cap) {
                char *t = realloc(txt, (cap = 2 * (len + pl + 1)));
                if (!t) {
                    free(txt);
                    return mt_diag_set(c->diag, MT_E_NOMEM, "out of memory");
                }
                txt = t;
            }
            memcpy(txt + len, part, pl + 1);
            len += pl;
        }
        rc = mt_writer_meta_str(c->w, "gpu.roundup_power2_divisions", txt);
        free(txt);
        if (rc) return wfail(c, rc);
    }
    return 0;
}

static int dev_cmp(const void *a, const void *b) {
    const dev *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* What the streaming left (all of it, for a pickle whose shape it did not
 * follow), the settings and the devices. */
static int finish(ctx *c, mt__pv *root, const mt_torch_opts *o) {
    /* Before the dict (PyTorch 1.x, and memory_snapshot() still), a
     * snapshot was the list of segments itself. */
    int list_root = root->type == MT__PV_LIST;
    int rc = list_root ? 0 : expect(c, root, MT__PV_DICT, "a dict, or a list of segments, at the root of the pickle "
                                                          "(an allocator snapshot)");
    if (rc) return rc;
    mt__pv *segs = list_root ? root : mt__pv_get(root, "segments");
    mt__pv *traces = list_root ? NULL : mt__pv_get(root, "device_traces"), *v;
    if (!segs && !traces)
        return bad(c, MT_E_RECORD, root, "expected key 'segments' or 'device_traces' in the root dict");
    if (segs && segs->type != MT__PV_NONE) {
        if ((rc = expect(c, segs, MT__PV_LIST, "a list for 'segments'"))) return rc;
        for (size_t i = 0; i < segs->v.c.n; i++)
            if ((rc = convert_segment(c, segs->v.c.items[i]))) return rc;
    }
    if (traces && traces->type != MT__PV_NONE) {
        if ((rc = expect(c, traces, MT__PV_LIST, "a list of lists for 'device_traces'"))) return rc;
        if (traces->v.c.n > (uint64_t)UINT32_MAX + 1)
            return bad(c, MT_E_RANGE, traces, "more than 2^32 device traces");
        for (size_t d = 0; d < traces->v.c.n; d++) {
            mt__pv *l = traces->v.c.items[d];
            if ((rc = expect(c, l, MT__PV_LIST, "a list of trace entries"))) return rc;
            for (size_t i = 0; i < l->v.c.n; i++)
                if ((rc = convert_entry(c, (uint32_t)d, l->v.c.consumed + i, l->v.c.items[i]))) return rc;
        }
    }
    if (!list_root && (v = mt__pv_get(root, "allocator_settings")) && v->type != MT__PV_NONE &&
        (rc = settings_meta(c, v)))
        return rc;
    if (c->counts.sequence_clock && (rc = mt_writer_meta_str(c->w, "gpu_clock", "sequence")))
        return wfail(c, rc);
    if (c->ndev) qsort(c->devs, c->ndev, sizeof *c->devs, dev_cmp); /* never with NULL: UB even for 0 */
    for (size_t i = 0; i < c->ndev; i++) {
        char name[24];
        snprintf(name, sizeof name, "cuda:%" PRIu32, c->devs[i].index);
        mt_gpu_device d = { c->devs[i].index, mt_str_c(name), 0, c->devs[i].reserved, c->devs[i].allocated };
        if ((rc = wadd(c, MT_KIND_GPU_DEVICE, &d))) return rc;
        c->counts.devices++;
    }
    for (size_t i = 0; o && i < o->nmeta; i++)
        if ((rc = wadd(c, MT_KIND_META, &o->meta[i]))) return rc;
    return 0;
}

static int import(mt__src *src, const char *out_path, const mt_torch_opts *o, mt_torch_counts *counts,
                  mt_diag *diag) {
    ctx c;
    memset(&c, 0, sizeof c);
    c.diag = diag;
    c.stacks = (mt_u64map)MT_U64MAP_INIT;
    c.dev_ix = (mt_u64map)MT_U64MAP_INIT;
    const char *in_file = diag->file;
    diag->file = out_path;
    int rc = mt_writer_open(out_path, o ? o->writer : NULL, &c.w, diag);
    if (rc) return rc;
    diag->file = in_file;
    if (o && o->tool && (rc = mt_writer_meta_str(c.w, "tool", o->tool)))
        wfail(&c, rc);
    if (!rc && (rc = mt_writer_meta_str(c.w, "gpu_source", "torch")))
        wfail(&c, rc);
    mt__pv *root = NULL;
    if (!rc) rc = mt__pk_run(src, on_elem, &c, &root, diag);
    if (!rc) rc = finish(&c, root, o);
    mt__pv_decref(root);
    mt__pv_cache_drain();
    for (size_t i = 0; i < c.fcap; i++)
        if (c.frames[i].id) {
            free(c.frames[i].name);
            free(c.frames[i].file);
        }
    free(c.frames);
    free(c.devs);
    mt_u64map_free(&c.stacks);
    mt_u64map_free(&c.dev_ix);
    if (rc) {
        /* The writer's own failure is the output's, and names it. */
        if (c.out_failed) diag->file = out_path;
        mt_writer_abandon(c.w);
        return rc;
    }
    mt_diag cd = { 0 };
    mt_diag_clear(&cd);
    if ((rc = mt_writer_close(c.w, &cd))) {
        *diag = cd;
        diag->file = out_path;
        return rc;
    }
    if (counts) *counts = c.counts;
    return 0;
}

int mt_torch_import_mem(const void *data, size_t len, const char *out_path, const mt_torch_opts *opts,
                        mt_torch_counts *counts, mt_diag *diag) {
    mt_diag local = { 0 };
    if (!diag) diag = &local;
    mt_diag_clear(diag);
    if (!out_path || (!data && len)) return mt_diag_set(diag, MT_E_INVAL, "no output path, or no input");
    mt__src src = { .mem = data, .len = len, .total = len };
    return import(&src, out_path, opts, counts, diag);
}

int mt_torch_import(const char *in_path, const char *out_path, const mt_torch_opts *opts, mt_torch_counts *counts,
                    mt_diag *diag) {
    mt_diag local = { 0 };
    if (!diag) diag = &local;
    mt_diag_clear(diag);
    diag->file = in_path;
    if (!in_path || !out_path) return mt_diag_set(diag, MT_E_INVAL, "no input or output path");
    mt_input in;
    int rc = mt_input_open(in_path, NULL, &in, diag);
    if (rc) return rc;
    mt__src src = { .in = &in, .buf = malloc(64u << 10), .total = in.regular ? in.size : UINT64_MAX };
    if (!src.buf) {
        mt_input_close(&in);
        return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
    }
    rc = import(&src, out_path, opts, counts, diag);
    free(src.buf);
    mt_input_close(&in);
    return rc;
}
