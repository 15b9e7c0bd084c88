/* Per-type totals (snapshot.h: mt_snapshot_type_stats). */
#include <stdlib.h>
#include <string.h>
#include "memtrace/checked.h"
#include "snapshot/snapshot_impl.h"

typedef struct sort_ctx {
    const mt_snapshot *s;
    int by_bytes;
} sort_ctx;

static int strcmp_str(mt_str a, mt_str b) {
    size_t n = a.len < b.len ? a.len : b.len;
    int c = memcmp(a.ptr, b.ptr, n);
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

static int cmp_stat(const void *x, const void *y, void *arg) {
    const sort_ctx *c = arg;
    const mt_type_stat *a = x, *b = y;
    uint64_t ka = c->by_bytes ? a->bytes : a->count, kb = c->by_bytes ? b->bytes : b->count;
    if (ka != kb) return ka > kb ? -1 : 1;
    uint64_t sa = c->by_bytes ? a->count : a->bytes, sb = c->by_bytes ? b->count : b->bytes;
    if (sa != sb) return sa > sb ? -1 : 1;
    return strcmp_str(c->s->type_names[a->type], c->s->type_names[b->type]);
}

void mt_snapshot_type_stats(const mt_snapshot *s, int by_bytes, mt_type_stat *out) {
    for (uint32_t t = 0; t < s->n_types; t++) out[t] = (mt_type_stat){ t, 0, 0 };
    for (uint32_t i = 0; i < s->n_objects; i++) {
        if (s->flags[i] & MT_OBJ_LOST) continue;
        out[s->type[i]].count++;
        /* Sizes come from the file: a sum past 2^64 - 1 stays there
         * (printed as such) instead of wrapping to a small, wrong total. */
        out[s->type[i]].bytes = mt_sat_add_u64(out[s->type[i]].bytes, s->size[i]);
    }
    sort_ctx c = { s, by_bytes };
    qsort_r(out, s->n_types, sizeof *out, cmp_stat, &c);
}
