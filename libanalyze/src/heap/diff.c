/* Comparing two snapshots group by group (diff.h).
 *
 * Each snapshot's objects or records are turned into (group, count,
 * bytes) and summed into one table of rows keyed by group name, so that
 * groups line up across snapshots whatever their ids inside each file. */
#include "memtrace/checked.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/diff.h"
#include "memtrace/sites.h"
#include "memtrace/u64map.h"
#include "common/array.h"
#include "common/names.h"
#include "common/nametable.h"

static const char *const by_names[] = { "type", "module", "site", "traceback", "column", "device" };

const char *mt_group_by_name(mt_group_by by) { return mt__name_of(by_names, MT__NAMES_N(by_names), (unsigned)by); }

int mt_group_by_from_name(const char *name, mt_group_by *out) {
    int i = mt__name_find(by_names, MT__NAMES_N(by_names), name);
    if (i < 0) return MT_E_INVAL;
    *out = (mt_group_by)i;
    return 0;
}

/* ---- the table of groups ---- */

typedef struct table {
    mt__names names;       /* group names, one per row */
    mt_diff_row *rows;
    size_t cap;
} table;

/* The row of group name[0..len), made when new; -1 when memory runs out. */
static int64_t row_of(table *t, const char *name, size_t len) {
    if (mt__grow((void **)&t->rows, &t->cap, t->names.n, sizeof(mt_diff_row))) return -1;
    size_t before = t->names.n;
    int64_t r = mt__names_index(&t->names, name, len);
    if (r >= 0 && (size_t)r == before) memset(&t->rows[r], 0, sizeof(mt_diff_row));
    return r;
}

static void add(table *t, uint32_t row, int side, uint64_t count, uint64_t bytes) {
    mt_diff_row *r = &t->rows[row];
    if (side) {
        r->count_b += count;
        r->bytes_b = mt_sat_add_u64(r->bytes_b, bytes);
    } else {
        r->count_a += count;
        r->bytes_a = mt_sat_add_u64(r->bytes_a, bytes);
    }
}

/* ---- what each grouping reads ---- */

static int has_object_stacks(const mt_snapshot *s) { return mt_snapshot_graph(s)->stack != NULL; }

static int use_objects(const mt_snapshot *a, const mt_snapshot *b, mt_group_by by) {
    if (by == MT_BY_TYPE || by == MT_BY_MODULE) return 1;
    if (by == MT_BY_SITE || by == MT_BY_TRACEBACK) return has_object_stacks(a) && has_object_stacks(b);
    return 0;
}

int mt_diff_check(const mt_snapshot *s, mt_group_by by, mt_diag *diag) {
    switch (by) {
    case MT_BY_TYPE:
    case MT_BY_MODULE:
        if (mt_snapshot_count(s, MT_KIND_OBJECT)) return 0;
        return mt_diag_set(diag, MT_E_NOTFOUND, "holds no objects to group by %s%s", mt_group_by_name(by),
                           mt_snapshot_count(s, MT_KIND_ALLOC) ? " (it holds allocations: try --by site)" : "");
    case MT_BY_SITE:
    case MT_BY_TRACEBACK:
        if (has_object_stacks(s) || mt_snapshot_count(s, MT_KIND_ALLOC) || mt_snapshot_count(s, MT_KIND_GPU_BLOCK))
            return 0;
        return mt_diag_set(diag, MT_E_NOTFOUND,
                           "holds no allocation sites: dump it while tracemalloc traces, or import a tracemalloc "
                           "snapshot with memtrace.import_tracemalloc");
    case MT_BY_COLUMN:
        if (mt_snapshot_count(s, MT_KIND_DF_COLUMN)) return 0;
        return mt_diag_set(diag, MT_E_NOTFOUND, "holds no DataFrame columns: write it with memtrace.dump_frames");
    case MT_BY_DEVICE:
        if (mt_snapshot_count(s, MT_KIND_GPU_SEGMENT)) return 0;
        return mt_diag_set(diag, MT_E_NOTFOUND, "holds no GPU segments");
    }
    return mt_diag_set(diag, MT_E_INVAL, "unknown grouping %d", (int)by);
}

int mt_diff_check_pair(const mt_snapshot *a, const mt_snapshot *b, mt_group_by by, int *side, mt_diag *diag) {
    /* Sites may be missing from one side: a tracemalloc snapshot taken
     * just after tracing started holds no traces, and that is an answer. */
    if ((by == MT_BY_SITE || by == MT_BY_TRACEBACK) && (!mt_diff_check(a, by, NULL) || !mt_diff_check(b, by, NULL)))
        return 0;
    for (*side = 0; *side < 2; ++*side)
        if (mt_diff_check(*side ? b : a, by, diag)) return diag ? diag->code : MT_E_NOTFOUND;
    return 0;
}

static int str_eq(mt_str x, mt_str y) { return x.len == y.len && !memcmp(x.ptr, y.ptr, x.len); }

int mt_diff_same_process(const mt_snapshot *a, const mt_snapshot *b) {
    const mt_value *pa = mt_snapshot_meta_get(a, "pid"), *pb = mt_snapshot_meta_get(b, "pid");
    const mt_value *ha = mt_snapshot_meta_get(a, "host"), *hb = mt_snapshot_meta_get(b, "host");
    if (!pa || !pb || !ha || !hb || pa->type != MT_VAL_UINT || pb->type != MT_VAL_UINT || ha->type != MT_VAL_STR ||
        hb->type != MT_VAL_STR)
        return 0;
    return pa->v.u == pb->v.u && str_eq(ha->v.s, hb->v.s);
}

/* The row of every object of s (UINT32_MAX for lost ones). */
static int object_rows(table *t, const mt_snapshot *s, mt_group_by by, uint32_t **out, mt_diag *diag) {
    const mt_graph *g = mt_snapshot_graph(s);
    uint32_t *rows = malloc((g->n_objects ? g->n_objects : 1) * 4);
    uint32_t *type_row = malloc((g->n_types ? g->n_types : 1) * 4);
    mt_sites *sites = NULL;
    mt_u64map cache = MT_U64MAP_INIT;
    char buf[4096];
    int rc = MT_E_NOMEM;
    if (!rows || !type_row) goto out;
    if (by == MT_BY_TYPE || by == MT_BY_MODULE) {
        for (uint32_t k = 0; k < g->n_types; k++) {
            mt_str nm = g->type_names[k];
            if (by == MT_BY_MODULE) {
                size_t dot = nm.len;
                while (dot > 0 && nm.ptr[dot - 1] != '.') dot--;
                nm = dot ? (mt_str){ nm.ptr, dot - 1 } : mt_str_c("builtins");
            }
            int64_t r = row_of(t, nm.ptr, nm.len);
            if (r < 0) goto out;
            type_row[k] = (uint32_t)r;
        }
        for (uint32_t i = 0; i < g->n_objects; i++)
            rows[i] = (g->flags[i] & MT_OBJ_LOST) ? UINT32_MAX : type_row[g->type[i]];
    } else {
        if ((rc = mt_sites_load(s, &sites, diag))) goto out;
        rc = MT_E_NOMEM;
        for (uint32_t i = 0; i < g->n_objects; i++) {
            if (g->flags[i] & MT_OBJ_LOST) {
                rows[i] = UINT32_MAX;
                continue;
            }
            uint32_t st = g->stack[i], r;
            if (!mt_u64map_get(&cache, st, &r)) {
                size_t len = mt_sites_format(sites, st, by == MT_BY_TRACEBACK, buf, sizeof buf);
                int64_t rr = row_of(t, buf, len < sizeof buf ? len : sizeof buf - 1);
                if (rr < 0 || mt_u64map_put(&cache, st, (uint32_t)rr)) goto out;
                r = (uint32_t)rr;
            }
            rows[i] = r;
        }
    }
    *out = rows;
    rows = NULL;
    rc = 0;
out:
    free(rows);
    free(type_row);
    mt_sites_free(sites);
    mt_u64map_free(&cache);
    return rc;
}

static int add_objects(table *t, const mt_snapshot *a, const mt_snapshot *b, int matched, mt_group_by by,
                       mt_diag *diag) {
    const mt_graph *ga = mt_snapshot_graph(a), *gb = mt_snapshot_graph(b);
    uint32_t *ra = NULL, *rb = NULL;
    uint8_t *seen = NULL;
    mt_u64map ids = MT_U64MAP_INIT;
    int rc = object_rows(t, a, by, &ra, diag);
    if (!rc) rc = object_rows(t, b, by, &rb, diag);
    if (rc) goto out;
    rc = MT_E_NOMEM;
    for (uint32_t i = 0; i < ga->n_objects; i++)
        if (ra[i] != UINT32_MAX) add(t, ra[i], 0, 1, ga->size[i]);
    for (uint32_t i = 0; i < gb->n_objects; i++)
        if (rb[i] != UINT32_MAX) add(t, rb[i], 1, 1, gb->size[i]);
    if (matched) {
        if (!(seen = calloc(ga->n_objects ? ga->n_objects : 1, 1))) goto out;
        /* Id 0 is "unknown" (a salvaged copy's placeholders; it may
         * repeat): such an object can be told neither kept, new nor freed,
         * and counts in the totals only. A self-diff of a salvaged file
         * had called one of two id-0 objects new and the other freed. */
        for (uint32_t i = 0; i < ga->n_objects; i++)
            if (ra[i] != UINT32_MAX && ga->id[i] && mt_u64map_put(&ids, ga->id[i], i)) goto out;
        for (uint32_t i = 0; i < gb->n_objects; i++) {
            if (rb[i] == UINT32_MAX || !gb->id[i]) continue;
            mt_diff_row *r = &t->rows[rb[i]];
            uint32_t j;
            /* The same id in the same group: an id of a freed object
             * that a new one reuses (CPython reuses addresses at once)
             * has, by site, another traceback, and had counted there as
             * surviving (1095 surviving of 500). Then it is freed in A's
             * group and new in B's, and surviving <= count A holds. */
            if (mt_u64map_get(&ids, gb->id[i], &j) && !seen[j] && ra[j] == rb[i] &&
                str_eq(ga->type_names[ga->type[j]], gb->type_names[gb->type[i]])) {
                seen[j] = 1;
                r->kept_count++;
                r->kept_bytes = mt_sat_add_u64(r->kept_bytes, gb->size[i]);
            } else {
                r->new_count++;
                r->new_bytes = mt_sat_add_u64(r->new_bytes, gb->size[i]);
            }
        }
        for (uint32_t i = 0; i < ga->n_objects; i++)
            if (ra[i] != UINT32_MAX && ga->id[i] && !seen[i]) {
                t->rows[ra[i]].freed_count++;
                t->rows[ra[i]].freed_bytes = mt_sat_add_u64(t->rows[ra[i]].freed_bytes, ga->size[i]);
            }
    }
    rc = 0;
out:
    free(ra);
    free(rb);
    free(seen);
    mt_u64map_free(&ids);
    if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory comparing objects");
    return rc;
}

/* ---- records: allocations, DataFrame columns, GPU segments ---- */

typedef struct rec_ctx {
    table *t;
    int side;
    mt_group_by by;
    mt_sites *sites;
    mt_u64map cache;       /* stack id or frame id -> row */
    mt_u64map frames;      /* DataFrame id -> slot in the arrays below */
    char **frame_name;
    uint64_t *frame_rows;
    size_t n_frames, cap_frames, cap_frames2;
} rec_ctx;

static int64_t stack_row(rec_ctx *c, uint32_t stack) {
    uint32_t r;
    if (mt_u64map_get(&c->cache, stack, &r)) return r;
    char buf[4096];
    size_t len = mt_sites_format(c->sites, stack, c->by == MT_BY_TRACEBACK, buf, sizeof buf);
    int64_t rr = row_of(c->t, buf, len < sizeof buf ? len : sizeof buf - 1);
    if (rr < 0 || mt_u64map_put(&c->cache, stack, (uint32_t)rr)) return -1;
    return rr;
}

static int on_site(void *arg, uint32_t stack, uint64_t count, uint64_t bytes) {
    rec_ctx *c = arg;
    int64_t r = stack_row(c, stack);
    if (r < 0) return MT_E_NOMEM;
    add(c->t, (uint32_t)r, c->side, count, bytes);
    return 0;
}

static int on_df_frame(void *arg, const void *rec) {
    rec_ctx *c = arg;
    const mt_df_frame *f = rec;
    if (mt__grow((void **)&c->frame_name, &c->cap_frames, c->n_frames, sizeof(char *)) ||
        mt__grow((void **)&c->frame_rows, &c->cap_frames2, c->n_frames, 8))
        return MT_E_NOMEM;
    char *nm = malloc(f->name.len + 1);
    if (!nm) return MT_E_NOMEM;
    memcpy(nm, f->name.ptr, f->name.len);
    nm[f->name.len] = 0;
    c->frame_name[c->n_frames] = nm;
    c->frame_rows[c->n_frames] = f->rows;
    if (mt_u64map_put(&c->frames, f->id, (uint32_t)c->n_frames)) {
        free(nm);
        return MT_E_NOMEM;
    }
    c->n_frames++;
    return 0;
}

static int on_df_column(void *arg, const void *rec) {
    rec_ctx *c = arg;
    const mt_df_column *col = rec;
    uint32_t slot;
    const char *frame = "?";
    uint64_t rows = 0;
    if (mt_u64map_get(&c->frames, col->frame, &slot)) {
        frame = c->frame_name[slot];
        rows = c->frame_rows[slot];
    }
    char buf[1024];
    int len = snprintf(buf, sizeof buf, "%s.%.*s", frame, (int)(col->name.len > 900 ? 900 : col->name.len),
                       col->name.ptr);
    int64_t r = row_of(c->t, buf, (size_t)len < sizeof buf ? (size_t)len : sizeof buf - 1);
    if (r < 0) return MT_E_NOMEM;
    /* The bytes it really holds (each shared string once), not pandas'
     * deep count (SPEC.md 4.3, df_columns real_bytes). */
    add(c->t, (uint32_t)r, c->side, rows, mt_df_column_real_bytes(col));
    return 0;
}

static int on_gpu_segment(void *arg, const void *rec) {
    rec_ctx *c = arg;
    const mt_gpu_segment *sg = rec;
    char buf[300];
    int len = snprintf(buf, sizeof buf, "gpu%u/%.*s", sg->device, (int)(sg->pool.len > 256 ? 256 : sg->pool.len),
                       sg->pool.ptr);
    int64_t r = row_of(c->t, buf, (size_t)len);
    if (r < 0) return MT_E_NOMEM;
    add(c->t, (uint32_t)r, c->side, 1, sg->size);
    return 0;
}

static int add_records(table *t, const mt_snapshot *s, int side, mt_group_by by, mt_diag *diag) {
    rec_ctx c;
    memset(&c, 0, sizeof c);
    c.t = t;
    c.side = side;
    c.by = by;
    int rc = 0;
    if (by == MT_BY_SITE || by == MT_BY_TRACEBACK) {
        if (!(rc = mt_sites_load(s, &c.sites, diag))) rc = mt_sites_live(s, on_site, &c, diag);
    } else if (by == MT_BY_COLUMN) {
        rc = mt_snapshot_each(s, MT_KIND_DF_FRAME, on_df_frame, &c, diag);
        if (!rc) rc = mt_snapshot_each(s, MT_KIND_DF_COLUMN, on_df_column, &c, diag);
    } else {
        rc = mt_snapshot_each(s, MT_KIND_GPU_SEGMENT, on_gpu_segment, &c, diag);
    }
    mt_sites_free(c.sites);
    mt_u64map_free(&c.cache);
    mt_u64map_free(&c.frames);
    for (size_t i = 0; i < c.n_frames; i++) free(c.frame_name[i]);
    free(c.frame_name);
    free(c.frame_rows);
    if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory grouping records by %s", mt_group_by_name(by));
    return rc;
}

/* ---- the diff ---- */

static void free_table(table *t) {
    if (!t) return;
    mt__names_free(&t->names);
    free(t->rows);
    free(t);
}

void mt_diff_free(mt_diff *d) {
    free_table(d->impl);
    memset(d, 0, sizeof *d);
}

int mt_diff_compute(const mt_snapshot *a, const mt_snapshot *b, mt_group_by by, mt_diff *d, mt_diag *diag) {
    memset(d, 0, sizeof *d);
    mt_diag dd = { 0 };
    mt_diag_clear(&dd);
    int side;
    if (mt_diff_check_pair(a, b, by, &side, &dd))
        return mt_diag_set(diag, dd.code, "the %s snapshot %s", side ? "second" : "first", dd.msg);
    table *t = calloc(1, sizeof *t);
    if (!t) return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
    d->impl = t;
    d->by = by;
    int objects = use_objects(a, b, by);
    d->matched = objects && mt_diff_same_process(a, b);
    int rc;
    if (objects) rc = add_objects(t, a, b, d->matched, by, diag);
    else if (!(rc = add_records(t, a, 0, by, diag)))
        rc = add_records(t, b, 1, by, diag);
    if (rc) {
        mt_diff_free(d);
        return rc;
    }
    d->rows = t->rows;
    d->n_rows = t->names.n;
    d->total.group = "total";
    for (size_t i = 0; i < t->names.n; i++) {
        mt_diff_row *r = &t->rows[i];
        r->group = mt__names_str(&t->names, i);
        d->total.count_a += r->count_a;
        d->total.bytes_a = mt_sat_add_u64(d->total.bytes_a, r->bytes_a);
        d->total.count_b += r->count_b;
        d->total.bytes_b = mt_sat_add_u64(d->total.bytes_b, r->bytes_b);
        d->total.new_count += r->new_count;
        d->total.new_bytes = mt_sat_add_u64(d->total.new_bytes, r->new_bytes);
        d->total.freed_count += r->freed_count;
        d->total.freed_bytes = mt_sat_add_u64(d->total.freed_bytes, r->freed_bytes);
        d->total.kept_count += r->kept_count;
        d->total.kept_bytes = mt_sat_add_u64(d->total.kept_bytes, r->kept_bytes);
    }
    return 0;
}

static int cmp_u64(uint64_t x, uint64_t y) { return x > y ? -1 : x < y; }

static int cmp_row(const void *x, const void *y, void *arg) {
    const mt_diff_row *a = x, *b = y;
    int c = 0;
    switch (*(const mt_diff_key *)arg) {
    case MT_DIFF_BY_DELTA: {
        /* Deltas are signed and may need 65 bits. */
        __int128 da = (__int128)a->bytes_b - a->bytes_a, db = (__int128)b->bytes_b - b->bytes_a;
        c = da > db ? -1 : da < db;
        break;
    }
    case MT_DIFF_BY_BYTES: c = cmp_u64(a->bytes_b, b->bytes_b); break;
    case MT_DIFF_BY_COUNT: c = cmp_u64(a->count_b, b->count_b); break;
    }
    return c ? c : strcmp(a->group, b->group);
}

static const char *const key_names[] = { "delta", "bytes", "count" };

const char *mt_diff_key_name(mt_diff_key key) { return mt__name_of(key_names, MT__NAMES_N(key_names), (unsigned)key); }

int mt_diff_key_from_name(const char *name, mt_diff_key *out) {
    int i = mt__name_find(key_names, MT__NAMES_N(key_names), name);
    if (i < 0) return MT_E_INVAL;
    *out = (mt_diff_key)i;
    return 0;
}

void mt_diff_sort(mt_diff *d, mt_diff_key key) {
    if (d->n_rows) qsort_r(d->rows, d->n_rows, sizeof(mt_diff_row), cmp_row, &key);
}

/* ---- resident memory against the heap ---- */

uint64_t mt_heap_bytes(const mt_snapshot *s) {
    const mt_graph *g = mt_snapshot_graph(s);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < g->n_objects; i++)
        if (!(g->flags[i] & MT_OBJ_LOST)) sum = mt_sat_add_u64(sum, g->size[i]);
    return sum;
}

void mt_rss_heap_compare(const mt_snapshot *a, const mt_snapshot *b, mt_rss_heap *out) {
    double ra, rb;
    int ha = mt_snapshot_meta_number(a, "rss", &ra) && ra > 0, hb = mt_snapshot_meta_number(b, "rss", &rb) && rb > 0;
    mt_rss_heap_figures(out, ha && ra < 1.8e19 ? (uint64_t)ra : 0, hb && rb < 1.8e19 ? (uint64_t)rb : 0,
                        mt_heap_bytes(a), mt_heap_bytes(b));
}

void mt_rss_heap_figures(mt_rss_heap *out, uint64_t rss_a, uint64_t rss_b, uint64_t heap_a, uint64_t heap_b) {
    memset(out, 0, sizeof *out);
    out->rss_a = rss_a;
    out->rss_b = rss_b;
    out->heap_a = heap_a;
    out->heap_b = heap_b;
    out->has_rss = rss_a && rss_b;
    if (!out->has_rss) return;
    /* In doubles: the growths may be negative, and no sum of them wraps. */
    double rss_growth = (double)rss_b - (double)rss_a;
    double heap_growth = (double)heap_b - (double)heap_a;
    double un = rss_growth - heap_growth;
    out->unaccounted = un >= 9.2e18 ? INT64_MAX : un <= -9.2e18 ? INT64_MIN : (int64_t)un;
    out->native = mt_rss_outgrew_heap(rss_growth, heap_growth);
}

int mt_rss_outgrew_heap(double rss_growth, double heap_growth) {
    return rss_growth - heap_growth >= (double)MT_NATIVE_MIN_BYTES && rss_growth >= 2 * (heap_growth > 0 ? heap_growth : 0);
}

int64_t mt_rss_unaccounted(uint64_t rss, uint64_t heap) {
    if (rss >= heap) return rss - heap > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(rss - heap);
    return heap - rss > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)(heap - rss);
}
