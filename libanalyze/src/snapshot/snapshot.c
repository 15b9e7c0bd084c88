/* Loading a snapshot into flat arrays (snapshot.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/checked.h"
#include "memtrace/snapshot.h"
#include "memtrace/u64map.h"
#include "common/array.h"
#include "snapshot/snapshot_impl.h"

/* ---- string pool: offsets while loading, mt_str once it stops moving ---- */

static int64_t pool_add(mt_snapshot *s, mt_str str) {
    size_t at;
    return mt__pool_add(&s->pool, &s->pool_len, &s->pool_cap, str.ptr, str.len, &at) ? -1 : (int64_t)at;
}

/* Offsets are stored in the ptr field until fix_str() turns them into
 * pointers; pool_ref encodes one. */
static mt_str pool_ref(int64_t at, size_t len) {
    mt_str r = { (const char *)(uintptr_t)at, len };
    return r;
}

static void fix_str(const mt_snapshot *s, mt_str *str) { str->ptr = s->pool + (uintptr_t)str->ptr; }

#define NOMEM(diag) mt_diag_set(diag, MT_E_NOMEM, "out of memory while loading")

/* ---- loading, one pass per concern ---- */

typedef struct loader {
    mt_snapshot *s;
    mt_reader *r;
    unsigned flags;
    mt_diag *diag;
    mt_u64map type_ids;   /* type record id -> type index */
    uint32_t lost_type;   /* index of "<lost>", or UINT32_MAX */
    /* references while they stream in */
    uint32_t *src;        /* per edge; NULL while sources come sorted */
    uint32_t next_u;      /* first object whose out_off is not set yet */
    uint32_t last_src;
    uint64_t cap_refs;
} loader;

/* A damaged block stops a strict load; a salvage load goes on. */
static int block_failed(loader *L, int rc) {
    if (rc == MT_E_NOMEM) return rc;
    return (L->flags & MT_LOAD_SALVAGE) ? 0 : MT_E_DAMAGED;
}

static void count_kind(mt_snapshot *s, const mt_block_info *b) {
    int k = b->kind >= 1 && b->kind <= MT_KIND_MAX ? b->kind : 0;
    mt_kind_stat *st = &s->kinds[k];
    st->kind = k;
    st->blocks++;
    st->records = mt_sat_add_u64(st->records, b->count);
    st->stored = mt_sat_add_u64(st->stored, (uint64_t)b->stored + MT_BLOCK_HEADER_BYTES);
    st->raw = mt_sat_add_u64(st->raw, b->raw);
}

static int add_type(loader *L, uint64_t id, mt_str name, uint32_t *index) {
    mt_snapshot *s = L->s;
    if (mt__grow((void **)&s->type_names, &s->cap_types, s->n_types, sizeof(mt_str))) return MT_E_NOMEM;
    int64_t at = pool_add(s, name);
    if (at < 0) return MT_E_NOMEM;
    s->type_names[s->n_types] = pool_ref(at, name.len);
    *index = s->n_types++;
    if (mt_u64map_put(&L->type_ids, id, *index)) return MT_E_NOMEM;
    return 0;
}

/* Runs fn on every record of every block of kind, in file order. Before a
 * block, start (if any) keeps in mark what undo needs to take the block's
 * records back, and may refuse the block (a nonzero code, why filled). A
 * block whose records fail, in the reader or in fn, is undone. */
typedef int (*record_fn)(loader *L, const mt_block_info *b, const mt_record *rec, char *why, size_t n);
typedef int (*start_fn)(loader *L, const mt_block_info *b, void *mark, char *why, size_t n);
typedef void (*undo_fn)(loader *L, const mt_block_info *b, void *mark);

static int loaded_kind(int kind) {
    return kind == MT_KIND_META || kind == MT_KIND_TYPE || kind == MT_KIND_OBJECT || kind == MT_KIND_REF ||
           kind == MT_KIND_ROOT;
}

/* Hands the reader the blocks the next pass will open, in order, so it
 * decompresses them ahead on the second core. */
static void prefetch_kind(loader *L, int kind) {
    size_t nb = mt_reader_block_count(L->r), n = 0;
    size_t *order = malloc((nb ? nb : 1) * sizeof *order);
    if (!order) return; /* only slower */
    for (size_t i = 0; i < nb; i++) {
        const mt_block_info *b = mt_reader_block(L->r, i);
        if (b->status == MT_BLOCK_OK && (kind ? b->kind == kind : !loaded_kind(b->kind))) order[n++] = i;
    }
    mt_reader_prefetch(L->r, order, n);
    free(order);
}

/* Marks block i failed with code and msg, and says so in d. */
static void fail_block(loader *L, size_t i, const mt_block_info *b, mt_diag *d, int code, const char *msg) {
    mt_reader_block_fail(L->r, i, code, msg);
    d->block = (int64_t)i;
    d->offset = (int64_t)b->offset;
    d->kind = b->kind;
    mt_diag_set(d, code, "%s", msg);
}

/* kind 0 stands for every kind the loader does not keep. */
static int each_block(loader *L, int kind, record_fn fn, start_fn start, undo_fn undo) {
    size_t nb = mt_reader_block_count(L->r);
    prefetch_kind(L, kind);
    for (size_t i = 0; i < nb; i++) {
        const mt_block_info *b = mt_reader_block(L->r, i);
        if (b->status != MT_BLOCK_OK || (kind ? b->kind != kind : loaded_kind(b->kind))) continue;
        mt_cursor c;
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        char mark[64], why[160] = "";
        int rc = start ? start(L, b, mark, why, sizeof why) : 0;
        if (rc) fail_block(L, i, b, &d, rc, why);
        else
            rc = mt_reader_block_open(L->r, i, &c, &d);
        int opened = !rc;
        mt_record rec;
        rec.kind = (mt_kind)b->kind;
        while (!rc) {
            if ((rc = mt_cursor_next(&c, &rec.u, &d)) != 1) break;
            rc = 0;
            int frc = fn ? fn(L, b, &rec, why, sizeof why) : 0;
            if (frc == MT_E_NOMEM) return NOMEM(L->diag);
            if (frc) {
                char msg[200];
                snprintf(msg, sizeof msg, "record %llu: %s", (unsigned long long)c.index - 1, why);
                fail_block(L, i, b, &d, frc, msg);
                rc = frc;
            }
        }
        if (rc < 0) {
            if (opened && undo) undo(L, b, mark);
            int stop = block_failed(L, rc);
            if (stop) {
                if (L->diag) {
                    const char *file = L->diag->file;
                    *L->diag = d;
                    L->diag->file = file;
                    L->diag->code = stop == MT_E_NOMEM ? MT_E_NOMEM : MT_E_DAMAGED;
                }
                return stop == MT_E_NOMEM ? NOMEM(L->diag) : stop;
            }
        }
    }
    return 0;
}

/* meta */
static int on_meta(loader *L, const mt_block_info *b, const mt_record *rec, char *why, size_t n) {
    mt_snapshot *s = L->s;
    if (mt__grow((void **)&s->meta, &s->cap_meta, s->n_meta, sizeof(mt_meta))) return MT_E_NOMEM;
    mt_meta m = rec->u.meta;
    int64_t k = pool_add(s, m.key);
    if (k < 0) return MT_E_NOMEM;
    m.key = pool_ref(k, m.key.len);
    if (m.value.type == MT_VAL_STR || m.value.type == MT_VAL_BIN) {
        int64_t v = pool_add(s, m.value.v.s);
        if (v < 0) return MT_E_NOMEM;
        m.value.v.s = pool_ref(v, m.value.v.s.len);
    }
    s->meta[s->n_meta++] = m;
    return 0;
}

static int meta_mark(loader *L, const mt_block_info *b, void *mark, char *why, size_t n) {
    memcpy(mark, &L->s->n_meta, sizeof(size_t));
    return 0;
}
static void meta_undo(loader *L, const mt_block_info *b, void *mark) { memcpy(&L->s->n_meta, mark, sizeof(size_t)); }

/* types */
static int on_type(loader *L, const mt_block_info *b, const mt_record *rec, char *why, size_t n) {
    uint32_t idx;
    if (mt_u64map_get(&L->type_ids, rec->u.type.id, &idx)) {
        snprintf(why, n, "type id %u is defined twice", rec->u.type.id);
        return MT_E_RECORD;
    }
    return add_type(L, rec->u.type.id, rec->u.type.name, &idx);
}

/* objects */
static void lose_objects(loader *L, uint32_t from, uint32_t to) {
    mt_snapshot *s = L->s;
    for (uint32_t i = from; i < to; i++) {
        s->id[i] = 0;
        s->type[i] = L->lost_type;
        s->size[i] = 0;
        s->flags[i] = MT_OBJ_LOST;
        if (s->stack) s->stack[i] = 0;
        if (s->gen) s->gen[i] = 0;
    }
    s->lost_objects += to - from;
}

static int on_object(loader *L, const mt_block_info *b, const mt_record *rec, char *why, size_t n) {
    mt_snapshot *s = L->s;
    const mt_object *o = &rec->u.object;
    uint32_t t;
    if (!mt_u64map_get(&L->type_ids, o->type, &t)) {
        if (!(L->flags & MT_LOAD_SALVAGE)) {
            snprintf(why, n, "object names type %u, which no types record defines", o->type);
            return MT_E_RANGE;
        }
        char name[32];
        snprintf(name, sizeof name, "<type %u>", o->type);
        if (add_type(L, o->type, mt_str_c(name), &t)) return MT_E_NOMEM;
    }
    uint32_t i = s->n_objects++;
    s->id[i] = o->id;
    s->type[i] = t;
    s->size[i] = o->size;
    s->flags[i] = o->flags & ~MT_OBJ_LOST;
    if (o->stack && !s->stack && !(s->stack = calloc(s->cap_objects ? s->cap_objects : 1, 4))) return MT_E_NOMEM;
    if (o->gen && !s->gen && !(s->gen = calloc(s->cap_objects ? s->cap_objects : 1, 4))) return MT_E_NOMEM;
    if (s->stack) s->stack[i] = o->stack;
    if (s->gen) s->gen[i] = o->gen;
    return 0;
}

/* Blocks carry the sequence number of their first record: a gap left by
 * a lost block becomes placeholders, so that later indices hold. */
static int objects_start(loader *L, const mt_block_info *b, void *mark, char *why, size_t n) {
    mt_snapshot *s = L->s;
    if (b->first < s->n_objects) {
        snprintf(why, n, "objects block overlaps the one before it");
        return MT_E_CORRUPT;
    }
    lose_objects(L, s->n_objects, (uint32_t)b->first);
    s->n_objects = (uint32_t)b->first;
    memcpy(mark, &s->n_objects, sizeof s->n_objects);
    return 0;
}

/* An undone block's objects become placeholders with the next gap. */
static void objects_undo(loader *L, const mt_block_info *b, void *mark) {
    memcpy(&L->s->n_objects, mark, sizeof L->s->n_objects);
}

/* Bytes block i spans in the file: to the next block, or to the end (for
 * a block cut short, what is left of it). */
static uint64_t block_span(const mt_reader *r, size_t i) {
    const mt_block_info *b = mt_reader_block(r, i);
    uint64_t end = i + 1 < mt_reader_block_count(r) ? mt_reader_block(r, i + 1)->offset : mt_reader_size(r), span;
    return mt_sub_u64(end, b->offset, &span) ? 0 : span;
}

/* The most objects a damaged stretch of span bytes can have held
 * (SPEC.md 6.1): its payload bytes, times the ratio bound, over the
 * smallest objects record. */
static uint64_t span_objects(uint64_t span) {
    return mt_block_max_records(MT_KIND_OBJECT, span > MT_BLOCK_HEADER_BYTES ? span - MT_BLOCK_HEADER_BYTES : 0);
}

/* Checks that the objects blocks' sequence numbers tile (SPEC.md 6.1)
 * and sets *total to the objects the load will hold. A gap between two
 * objects blocks is placeholders only as far as the damaged stretches
 * between them can have held objects; an intact block that leaves a gap
 * no damage explains, or overlaps the one before it, is damage: a strict
 * load stops there, a salvage load refuses the block (and says so). So
 * what the load allocates stays in proportion to the file, never to a
 * sequence number it claims. */
static int plan_objects(loader *L, uint64_t *total) {
    mt_reader *r = L->r;
    uint64_t expect = 0, budget = 0;
    size_t nb = mt_reader_block_count(r);
    for (size_t i = 0; i < nb; i++) {
        const mt_block_info *b = mt_reader_block(r, i);
        uint64_t span = block_span(r, i);
        if (b->kind != MT_KIND_OBJECT) {
            /* A stretch whose header is unknown may have been objects. */
            if (b->status == MT_BLOCK_DAMAGED && b->kind == 0) budget = mt_sat_add_u64(budget, span_objects(span));
            continue;
        }
        uint64_t end;
        int tiles = !mt_add_u64(b->first, b->count, &end) && end <= MT_MAX_OBJECTS && b->first >= expect &&
                    b->first - expect <= budget;
        if (tiles && b->status == MT_BLOCK_DAMAGED && b->count > span_objects(span)) tiles = 0;
        if (tiles) {
            expect = end;
            budget = 0;
            continue;
        }
        /* A damaged block whose header cannot be trusted: a stretch. */
        if (b->status == MT_BLOCK_DAMAGED) {
            budget = mt_sat_add_u64(budget, span_objects(span));
            continue;
        }
        char msg[200];
        if (b->first < expect)
            snprintf(msg, sizeof msg, "first record %llu overlaps the objects before it, which end at record %llu",
                     (unsigned long long)b->first, (unsigned long long)expect);
        else if (budget)
            snprintf(msg, sizeof msg,
                     "first record %llu leaves a gap of %llu objects after record %llu; the damage before it can "
                     "hold at most %llu",
                     (unsigned long long)b->first, (unsigned long long)(b->first - expect),
                     (unsigned long long)expect, (unsigned long long)budget);
        else
            snprintf(msg, sizeof msg,
                     "first record %llu does not follow the objects before it, which end at record %llu",
                     (unsigned long long)b->first, (unsigned long long)expect);
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        fail_block(L, i, b, &d, MT_E_CORRUPT, msg);
        if (!(L->flags & MT_LOAD_SALVAGE)) {
            if (L->diag) {
                const char *file = L->diag->file;
                *L->diag = d;
                L->diag->file = file;
                L->diag->code = MT_E_DAMAGED;
            }
            return MT_E_DAMAGED;
        }
        budget = mt_sat_add_u64(budget, span_objects(span));
    }
    *total = expect;
    return 0;
}

static int check_ids(loader *L);

static int load_objects(loader *L) {
    mt_snapshot *s = L->s;
    uint64_t total = 0;
    int rc = plan_objects(L, &total);
    if (rc) return rc;
    size_t cap = total ? (size_t)total : 1;
    s->cap_objects = cap;
    s->id = malloc(cap * 8);
    s->size = malloc(cap * 8);
    s->type = malloc(cap * 4);
    s->flags = malloc(cap * 4);
    if (!s->id || !s->size || !s->type || !s->flags) return NOMEM(L->diag);
    rc = each_block(L, MT_KIND_OBJECT, on_object, objects_start, objects_undo);
    if (rc) return rc;
    lose_objects(L, s->n_objects, (uint32_t)total);
    s->n_objects = (uint32_t)total;
    return check_ids(L);
}

/* Sorts n keys (LSD radix, 16 bits a pass, a pass skipped when every key
 * has the same digit); returns the buffer, a or tmp, that holds them. */
static uint64_t *sort_ids(uint64_t *a, uint64_t *tmp, size_t n, size_t *count) {
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, (sizeof *count) << 16);
        for (size_t i = 0; i < n; i++) count[(a[i] >> shift) & 0xffff]++;
        if (count[a[0] >> shift & 0xffff] == n) continue;
        size_t at = 0;
        for (size_t d = 0; d < (1u << 16); d++) {
            size_t c = count[d];
            count[d] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++) tmp[count[(a[i] >> shift) & 0xffff]++] = a[i];
        uint64_t *t = a;
        a = tmp;
        tmp = t;
    }
    return a;
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* Index of the intact objects block holding object i, or SIZE_MAX. */
static size_t block_of(const loader *L, uint32_t i) {
    for (size_t k = 0; k < mt_reader_block_count(L->r); k++) {
        const mt_block_info *b = mt_reader_block(L->r, k);
        if (b->kind == MT_KIND_OBJECT && b->status == MT_BLOCK_OK && b->first <= i && i - b->first < b->count)
            return k;
    }
    return SIZE_MAX;
}

/* An object id names one object (SPEC.md 4.3): matching snapshots by id
 * (memtrace-diff) counted a duplicate as one new and one freed object. A
 * strict load refuses the file; a salvage load refuses the block of each
 * later duplicate, whose objects become placeholders. The check sorts a
 * copy of the ids (16 bytes an object while it runs), skipped when the
 * ids already increase, as a collector writes them. Id 0 is "unknown"
 * (the placeholders a salvaged copy keeps) and may repeat. */
static int check_ids(loader *L) {
    mt_snapshot *s = L->s;
    uint32_t n = s->n_objects;
    int increasing = 1;
    uint64_t prev = 0;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n && increasing; i++) {
        if ((s->flags[i] & MT_OBJ_LOST) || !s->id[i]) continue;
        if (kept++ && s->id[i] <= prev) increasing = 0;
        prev = s->id[i];
    }
    if (increasing) return 0;
    uint64_t *a = malloc((size_t)n * 8), *tmp = malloc((size_t)n * 8);
    size_t *count = n >= (1u << 16) ? malloc(sizeof *count << 16) : malloc(1);
    if (!a || !tmp || !count) {
        free(a);
        free(tmp);
        free(count);
        return NOMEM(L->diag);
    }
    size_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!(s->flags[i] & MT_OBJ_LOST) && s->id[i]) a[m++] = s->id[i];
    /* Below 2^16 ids, clearing the radix counts (512 KiB a pass) costs
     * more than sorting: qsort (perf, heap-medium.snap: +2.5 ms a load). */
    uint64_t *sorted = a;
    if (m >= (1u << 16)) sorted = sort_ids(a, tmp, m, count);
    else qsort(a, m, sizeof *a, cmp_u64);
    mt_u64map dup = MT_U64MAP_INIT;
    int rc = 0;
    for (size_t i = 1; i < m && !rc; i++)
        if (sorted[i] == sorted[i - 1] && mt_u64map_put(&dup, sorted[i], UINT32_MAX)) rc = MT_E_NOMEM;
    free(a);
    free(tmp);
    free(count);
    for (uint32_t i = 0; i < n && !rc && dup.count; i++) {
        uint32_t first;
        if ((s->flags[i] & MT_OBJ_LOST) || !mt_u64map_get(&dup, s->id[i], &first)) continue;
        if (first == UINT32_MAX || (s->flags[first] & MT_OBJ_LOST)) {
            if (mt_u64map_put(&dup, s->id[i], i)) rc = MT_E_NOMEM;
            continue;
        }
        size_t bi = block_of(L, i);
        if (bi == SIZE_MAX) continue; /* cannot happen: i is kept, so its block is intact */
        const mt_block_info *b = mt_reader_block(L->r, bi);
        char msg[200];
        snprintf(msg, sizeof msg, "record %llu: object %u has id 0x%llx, as object %u does: an id names one object",
                 (unsigned long long)(i - b->first), i, (unsigned long long)s->id[i], first);
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        fail_block(L, bi, b, &d, MT_E_RECORD, msg);
        if (!(L->flags & MT_LOAD_SALVAGE)) {
            if (L->diag) {
                const char *file = L->diag->file;
                *L->diag = d;
                L->diag->file = file;
                L->diag->code = MT_E_DAMAGED;
            }
            rc = MT_E_DAMAGED;
            break;
        }
        for (uint64_t k = b->first; k < b->first + b->count; k++)
            if (!(s->flags[k] & MT_OBJ_LOST)) lose_objects(L, (uint32_t)k, (uint32_t)k + 1);
    }
    mt_u64map_free(&dup);
    return rc == MT_E_NOMEM ? NOMEM(L->diag) : rc;
}

/* references */
typedef struct label_ent {
    uint64_t edge;   /* sequence number while loading, then CSR position */
    int64_t at;      /* pool offset */
    uint32_t len;
} label_ent;

/* Sources have come sorted so far; from edge e on they do not: spell out
 * the source of every edge loaded before e. */
static int unsort(loader *L, uint64_t e) {
    mt_snapshot *s = L->s;
    L->src = malloc((L->cap_refs ? L->cap_refs : 1) * 4);
    if (!L->src) return MT_E_NOMEM;
    for (uint32_t u = 0; u < L->next_u; u++) {
        uint64_t end = u + 1 < L->next_u ? s->out_off[u + 1] : e;
        for (uint64_t k = s->out_off[u]; k < end; k++) L->src[k] = u;
    }
    return 0;
}

static int on_ref(loader *L, const mt_block_info *b, const mt_record *rec, char *why, size_t n) {
    mt_snapshot *s = L->s;
    const mt_ref *r = &rec->u.ref;
    if (r->src >= s->n_objects || r->dst >= s->n_objects) {
        if (L->flags & MT_LOAD_SALVAGE) {
            s->dropped_refs++;
            return 0;
        }
        snprintf(why, n, "reference %u -> %u names an object past the last one (%u objects)", r->src, r->dst,
                 s->n_objects);
        return MT_E_RANGE;
    }
    if (!(L->flags & MT_LOAD_REFS)) return 0;
    uint64_t e = s->n_refs;
    if (e >= L->cap_refs) {
        snprintf(why, n, "more references than the block headers announce");
        return MT_E_CORRUPT;
    }
    if (!L->src && r->src < L->last_src && unsort(L, e)) return MT_E_NOMEM;
    if (L->src) L->src[e] = r->src;
    else {
        while (L->next_u <= r->src) s->out_off[L->next_u++] = (uint32_t)e;
        L->last_src = r->src;
    }
    s->out_dst[e] = r->dst | (r->flags & MT_REF_WEAK ? MT_GRAPH_WEAK : 0);
    if ((L->flags & MT_LOAD_LABELS) && r->label.len) {
        if (mt__grow((void **)&s->labels, &s->cap_labels, s->n_labels, sizeof(label_ent))) return MT_E_NOMEM;
        int64_t at = pool_add(s, r->label);
        if (at < 0) return MT_E_NOMEM;
        ((label_ent *)s->labels)[s->n_labels++] = (label_ent){ e, at, (uint32_t)r->label.len };
    }
    s->n_refs = e + 1;
    return 0;
}

typedef struct ref_mark { uint64_t n_refs; size_t n_labels; uint64_t dropped; uint32_t last_src; } ref_mark;

static int refs_mark(loader *L, const mt_block_info *b, void *mark, char *why, size_t n) {
    ref_mark m = { L->s->n_refs, L->s->n_labels, L->s->dropped_refs, L->last_src };
    memcpy(mark, &m, sizeof m);
    return 0;
}

static void refs_undo(loader *L, const mt_block_info *b, void *mark) {
    ref_mark m;
    memcpy(&m, mark, sizeof m);
    mt_snapshot *s = L->s;
    s->n_refs = m.n_refs;
    s->n_labels = m.n_labels;
    s->dropped_refs = m.dropped;
    /* Sorted mode: objects whose out-edges began inside the undone block
     * start over; those before it all start below m.n_refs. */
    if (!L->src) {
        while (L->next_u > 0 && s->out_off[L->next_u - 1] >= m.n_refs) L->next_u--;
        L->last_src = m.last_src;
    }
}

static int cmp_label(const void *a, const void *b) {
    uint64_t x = ((const label_ent *)a)->edge, y = ((const label_ent *)b)->edge;
    return x < y ? -1 : x > y;
}

/* In-edges from out-edges, by destination buckets of 2^16 objects. The
 * sources are first written, in file order, into their bucket's stretch
 * of in_src (with the low 16 bits of each destination beside them), then
 * each stretch, small enough for the cache, is sorted by destination.
 * Placing every source straight at its final slot scatters 4 bytes at a
 * time over the whole array; on 10M objects and 40M references that took
 * 1.3 s of a 2.8 s load (perf, bench/format). */
#define BUCKET_SHIFT 16

static int build_in_edges(mt_snapshot *s) {
    uint32_t n = s->n_objects;
    uint64_t m = s->n_refs;
    size_t nb = ((size_t)n >> BUCKET_SHIFT) + 1;
    s->in_off = malloc(((size_t)n + 1) * 4);
    s->in_src = malloc((m ? m : 1) * 4);
    uint64_t *start = calloc(nb + 1, 8), *cursor = malloc(nb * 8);
    uint16_t *low = malloc((m ? m : 1) * 2);
    uint32_t *count = malloc(((size_t)1 << BUCKET_SHIFT) * 4);
    uint32_t *tmp = NULL;
    uint64_t biggest = 0;
    int rc = MT_E_NOMEM;
    if (!s->in_off || !s->in_src || !start || !cursor || !low || !count) goto out;
    for (uint64_t k = 0; k < m; k++) start[((s->out_dst[k] & MT_GRAPH_INDEX) >> BUCKET_SHIFT) + 1]++;
    for (size_t b = 0; b < nb; b++) {
        if (start[b + 1] > biggest) biggest = start[b + 1];
        start[b + 1] += start[b];
    }
    if (!(tmp = malloc((biggest ? biggest : 1) * 6))) goto out;
    memcpy(cursor, start, nb * 8);
    for (uint32_t u = 0; u < n; u++)
        for (uint32_t k = s->out_off[u]; k < s->out_off[u + 1]; k++) {
            uint32_t d = s->out_dst[k];
            uint64_t at = cursor[(d & MT_GRAPH_INDEX) >> BUCKET_SHIFT]++;
            s->in_src[at] = u | (d & MT_GRAPH_WEAK);
            low[at] = (uint16_t)d;
        }
    uint16_t *tlow = (uint16_t *)(tmp + biggest);
    for (size_t b = 0; b < nb; b++) {
        uint32_t lo = (uint32_t)(b << BUCKET_SHIFT);
        uint32_t width = n - lo < (1u << BUCKET_SHIFT) ? n - lo : 1u << BUCKET_SHIFT;
        uint64_t first = start[b], size = start[b + 1] - first;
        memset(count, 0, (size_t)width * 4);
        for (uint64_t k = 0; k < size; k++) count[low[first + k]]++;
        uint32_t at = (uint32_t)first;
        for (uint32_t i = 0; i < width; i++) {
            s->in_off[lo + i] = at;
            at += count[i];
            count[i] = s->in_off[lo + i]; /* from here on: the next free slot */
        }
        memcpy(tmp, s->in_src + first, size * 4);
        memcpy(tlow, low + first, size * 2);
        for (uint64_t k = 0; k < size; k++) s->in_src[count[tlow[k]]++] = tmp[k];
    }
    s->in_off[n] = (uint32_t)m;
    rc = 0;
out:
    free(start);
    free(cursor);
    free(low);
    free(count);
    free(tmp);
    return rc;
}

/* Turns the streamed edges into CSR both ways. */
static int finish_refs(loader *L) {
    mt_snapshot *s = L->s;
    uint32_t n = s->n_objects;
    uint64_t m = s->n_refs;
    if (!L->src) {
        while (L->next_u <= n) s->out_off[L->next_u++] = (uint32_t)m;
    } else {
        /* Counting sort by source; labels follow their edges. */
        memset(s->out_off, 0, ((size_t)n + 1) * 4);
        for (uint64_t k = 0; k < m; k++) s->out_off[L->src[k] + 1]++;
        for (uint32_t u = 0; u < n; u++) s->out_off[u + 1] += s->out_off[u];
        uint32_t *sorted = malloc((m ? m : 1) * 4);
        uint32_t *pos = malloc(((size_t)n + 1) * 4);
        if (!sorted || !pos) {
            free(sorted);
            free(pos);
            return MT_E_NOMEM;
        }
        memcpy(pos, s->out_off, ((size_t)n + 1) * 4);
        label_ent *lab = s->labels;
        size_t li = 0;
        for (uint64_t k = 0; k < m; k++) {
            uint32_t p = pos[L->src[k]]++;
            sorted[p] = s->out_dst[k];
            if (li < s->n_labels && lab[li].edge == k) lab[li++].edge = p;
        }
        free(pos);
        free(s->out_dst);
        s->out_dst = sorted;
        free(L->src);
        L->src = NULL;
        if (s->n_labels) qsort(s->labels, s->n_labels, sizeof(label_ent), cmp_label);
    }
    return build_in_edges(s);
}

static int load_refs(loader *L) {
    mt_snapshot *s = L->s;
    uint64_t total = 0;
    size_t nb = mt_reader_block_count(L->r);
    for (size_t i = 0; i < nb; i++) {
        const mt_block_info *b = mt_reader_block(L->r, i);
        if (b->kind == MT_KIND_REF && b->status == MT_BLOCK_OK) total += b->count;
    }
    if (total > UINT32_MAX)
        return mt_diag_set(L->diag, MT_E_LIMIT, "%llu references exceed the limit of %u", (unsigned long long)total,
                           UINT32_MAX);
    if (L->flags & MT_LOAD_REFS) {
        L->cap_refs = total;
        s->out_off = malloc(((size_t)s->n_objects + 1) * 4);
        s->out_dst = malloc((total ? total : 1) * 4);
        if (!s->out_off || !s->out_dst) return NOMEM(L->diag);
    }
    int rc = each_block(L, MT_KIND_REF, on_ref, refs_mark, refs_undo);
    if (rc) return rc;
    if ((L->flags & MT_LOAD_REFS) && finish_refs(L)) return NOMEM(L->diag);
    return 0;
}

/* roots */
static int on_root(loader *L, const mt_block_info *b, const mt_record *rec, char *why, size_t n) {
    mt_snapshot *s = L->s;
    const mt_root *r = &rec->u.root;
    if (r->obj >= s->n_objects) {
        if (L->flags & MT_LOAD_SALVAGE) {
            s->dropped_refs++;
            return 0;
        }
        snprintf(why, n, "root names object %u, past the last one (%u objects)", r->obj, s->n_objects);
        return MT_E_RANGE;
    }
    size_t c = s->cap_roots;
    if (mt__grow((void **)&s->root_obj, &c, s->n_roots, 4)) return MT_E_NOMEM;
    c = s->cap_roots;
    if (mt__grow((void **)&s->root_kind, &c, s->n_roots, sizeof(mt_str))) return MT_E_NOMEM;
    c = s->cap_roots;
    if (mt__grow((void **)&s->root_name, &c, s->n_roots, sizeof(mt_str))) return MT_E_NOMEM;
    s->cap_roots = c;
    int64_t k = pool_add(s, r->kind), nm = pool_add(s, r->name);
    if (k < 0 || nm < 0) return MT_E_NOMEM;
    s->root_obj[s->n_roots] = r->obj;
    s->root_kind[s->n_roots] = pool_ref(k, r->kind.len);
    s->root_name[s->n_roots] = pool_ref(nm, r->name.len);
    s->n_roots++;
    return 0;
}

static int roots_mark(loader *L, const mt_block_info *b, void *mark, char *why, size_t n) {
    uint64_t m[2] = { L->s->n_roots, L->s->dropped_refs };
    memcpy(mark, m, sizeof m);
    return 0;
}
static void roots_undo(loader *L, const mt_block_info *b, void *mark) {
    uint64_t m[2];
    memcpy(m, mark, sizeof m);
    L->s->n_roots = (uint32_t)m[0];
    L->s->dropped_refs = m[1];
}

static void finish_strings(mt_snapshot *s) {
    for (uint32_t i = 0; i < s->n_types; i++) fix_str(s, &s->type_names[i]);
    for (size_t i = 0; i < s->n_meta; i++) {
        fix_str(s, &s->meta[i].key);
        if (s->meta[i].value.type == MT_VAL_STR || s->meta[i].value.type == MT_VAL_BIN) fix_str(s, &s->meta[i].value.v.s);
    }
    for (uint32_t i = 0; i < s->n_roots; i++) {
        fix_str(s, &s->root_kind[i]);
        fix_str(s, &s->root_name[i]);
    }
}

static int load(loader *L) {
    mt_snapshot *s = L->s;
    mt_reader *r = L->r;
    if (mt_reader_damage_count(r) && !(L->flags & MT_LOAD_SALVAGE))
        return mt_damage_diag(mt_reader_damage(r, 0), MT_E_DAMAGED, L->diag);
    int rc;
    if ((rc = each_block(L, MT_KIND_META, on_meta, meta_mark, meta_undo)) ||
        (rc = each_block(L, MT_KIND_TYPE, on_type, NULL, NULL)))
        return rc;
    uint32_t lost;
    if (add_type(L, UINT64_MAX, mt_str_c("<lost>"), &lost)) return NOMEM(L->diag);
    L->lost_type = lost;
    if ((rc = load_objects(L)) || (rc = load_refs(L)) ||
        (rc = each_block(L, MT_KIND_ROOT, on_root, roots_mark, roots_undo)))
        return rc;
    /* Every other kind is checked record by record even though nothing here
     * keeps it: a damaged block must not pass for a sound one. */
    if ((rc = each_block(L, 0, NULL, NULL, NULL))) return rc;
    /* "<lost>" is last when nothing else needed a placeholder; drop it when
     * no object uses it so that reports do not show an empty type. */
    if (!s->lost_objects && s->n_types == lost + 1) s->n_types--;
    finish_strings(s);
    return 0;
}

static int load_common(mt_reader *r, const char *name, unsigned flags, mt_snapshot **out, mt_diag *diag) {
    if (flags & MT_LOAD_LABELS) flags |= MT_LOAD_REFS;
    mt_snapshot *s = calloc(1, sizeof *s);
    if (!s) {
        mt_reader_free(r);
        return NOMEM(diag);
    }
    loader L = { s, r, flags, diag, MT_U64MAP_INIT, UINT32_MAX, NULL, 0, 0, 0 };
    int rc = load(&L);
    mt_u64map_free(&L.type_ids);
    free(L.src);
    /* Kind statistics cover every block the reader knows, damaged or not. */
    for (size_t i = 0; i < mt_reader_block_count(r); i++)
        if (mt_reader_block(r, i)->status == MT_BLOCK_OK) count_kind(s, mt_reader_block(r, i));
    s->n_blocks = mt_reader_block_count(r);
    s->file_size = mt_reader_size(r);
    s->pending = mt_reader_pending(r);
    s->closed = mt_reader_closed(r);
    mt_reader_version(r, &s->major, &s->minor);
    s->n_damage = mt_reader_damage_count(r);
    if (s->n_damage && (s->damage = malloc(s->n_damage * sizeof(mt_damage))))
        for (size_t i = 0; i < s->n_damage; i++) s->damage[i] = *mt_reader_damage(r, i);
    else if (s->n_damage)
        s->n_damage = 0;
    if (rc) {
        mt_reader_free(r);
        mt_snapshot_free(s);
        return rc;
    }
    /* Kept for the kinds the load does not keep; its mapping costs
     * address space, not memory. */
    mt_reader_prefetch(r, NULL, 0);
    s->reader = r;
    /* What the accessors hand out, made once: known kinds first, then 0. */
    for (int k = 1; k <= MT_KIND_MAX + 1; k++) {
        int kk = k == MT_KIND_MAX + 1 ? 0 : k;
        if (s->kinds[kk].blocks) s->kind_list[s->n_kind_list++] = s->kinds[kk];
    }
    s->graph = (mt_graph){ s->n_objects, s->id, s->type, s->size, s->flags, s->stack, s->gen,
                           s->n_refs, s->out_off, s->out_dst, s->in_off, s->in_src,
                           s->n_types, s->type_names, s->n_roots, s->root_obj, s->root_kind, s->root_name };
    *out = s;
    return 0;
}

int mt_snapshot_load(const char *path, unsigned flags, mt_snapshot **out, mt_diag *diag) {
    *out = NULL;
    mt_reader *r;
    int rc = (flags & MT_LOAD_GROWING) ? mt_reader_open_growing(path, &r, diag) : mt_reader_open(path, &r, diag);
    return rc ? rc : load_common(r, path, flags, out, diag);
}

int mt_snapshot_load_mem(const void *data, size_t size, const char *name, unsigned flags, mt_snapshot **out,
                         mt_diag *diag) {
    *out = NULL;
    mt_reader *r;
    int rc = mt_reader_open_mem(data, size, name, &r, diag);
    return rc ? rc : load_common(r, name, flags, out, diag);
}

void mt_snapshot_free(mt_snapshot *s) {
    if (!s) return;
    free(s->id);
    free(s->type);
    free(s->size);
    free(s->flags);
    free(s->stack);
    free(s->gen);
    free(s->out_off);
    free(s->out_dst);
    free(s->in_off);
    free(s->in_src);
    free(s->type_names);
    free(s->root_obj);
    free(s->root_kind);
    free(s->root_name);
    free(s->meta);
    free(s->labels);
    free(s->pool);
    free(s->damage);
    mt_reader_free(s->reader);
    free(s);
}

const mt_graph *mt_snapshot_graph(const mt_snapshot *s) { return &s->graph; }

mt_str mt_snapshot_ref_label(const mt_snapshot *s, uint64_t e) {
    const label_ent *l = s->labels;
    size_t lo = 0, hi = s->n_labels;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (l[mid].edge < e) lo = mid + 1;
        else hi = mid;
    }
    if (lo < s->n_labels && l[lo].edge == e) {
        mt_str r = { s->pool + l[lo].at, l[lo].len };
        return r;
    }
    return mt_str_c(NULL);
}

size_t mt_snapshot_meta_count(const mt_snapshot *s) { return s->n_meta; }
const mt_meta *mt_snapshot_meta(const mt_snapshot *s, size_t i) { return i < s->n_meta ? &s->meta[i] : NULL; }

const mt_value *mt_snapshot_meta_get(const mt_snapshot *s, const char *key) {
    size_t n = strlen(key);
    for (size_t i = s->n_meta; i-- > 0;)
        if (s->meta[i].key.len == n && memcmp(s->meta[i].key.ptr, key, n) == 0) return &s->meta[i].value;
    return NULL;
}

int mt_snapshot_meta_number(const mt_snapshot *s, const char *key, double *out) {
    const mt_value *v = mt_snapshot_meta_get(s, key);
    if (!v) return 0;
    if (v->type == MT_VAL_UINT) *out = (double)v->v.u;
    else if (v->type == MT_VAL_INT) *out = (double)v->v.i;
    else if (v->type == MT_VAL_FLOAT) *out = v->v.f;
    else return 0;
    return 1;
}

size_t mt_snapshot_kind_stats(const mt_snapshot *s, const mt_kind_stat **out) {
    *out = s->kind_list;
    return s->n_kind_list;
}

uint64_t mt_snapshot_file_size(const mt_snapshot *s) { return s->file_size; }
int mt_snapshot_closed(const mt_snapshot *s) { return s->closed; }
uint64_t mt_snapshot_pending(const mt_snapshot *s) { return s->pending; }
void mt_snapshot_version(const mt_snapshot *s, unsigned *major, unsigned *minor) {
    if (major) *major = s->major;
    if (minor) *minor = s->minor;
}
uint64_t mt_snapshot_block_count(const mt_snapshot *s) { return s->n_blocks; }
size_t mt_snapshot_damage_count(const mt_snapshot *s) { return s->n_damage; }
const mt_damage *mt_snapshot_damage(const mt_snapshot *s, size_t i) { return i < s->n_damage ? &s->damage[i] : NULL; }
uint64_t mt_snapshot_dropped_refs(const mt_snapshot *s) { return s->dropped_refs; }
uint64_t mt_snapshot_lost_objects(const mt_snapshot *s) { return s->lost_objects; }
