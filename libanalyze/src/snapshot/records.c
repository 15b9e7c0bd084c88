/* Records the loader does not keep, read again from the snapshot's
 * reader (snapshot.h: mt_snapshot_each). The load decoded every block and
 * marked those it refused, so only blocks still marked intact are read. */
#include <stdlib.h>
#include <string.h>
#include "common/array.h"
#include "snapshot/snapshot_impl.h"

uint64_t mt_snapshot_count(const mt_snapshot *s, mt_kind kind) {
    return kind >= 1 && kind <= MT_KIND_MAX ? s->kinds[kind].records : 0;
}

int mt_snapshot_each(const mt_snapshot *s, mt_kind kind, mt_record_fn fn, void *arg, mt_diag *diag) {
    mt_reader *r = s->reader;
    mt_record rec;
    int rc = 0;
    for (size_t i = 0; i < mt_reader_block_count(r) && !rc; i++) {
        const mt_block_info *b = mt_reader_block(r, i);
        if (b->status != MT_BLOCK_OK || b->kind != kind) continue;
        mt_cursor c;
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        if ((rc = mt_reader_block_open(r, i, &c, &d)) == MT_E_NOMEM) break;
        if (rc) return mt_diag_set(diag, MT_E_STATE, "block %zu changed since the load: %s", i, d.msg);
        int k;
        while (!rc && (k = mt_cursor_next(&c, &rec.u, NULL)) == 1) rc = fn(arg, &rec.u);
        if (!rc && k < 0) return mt_diag_set(diag, MT_E_STATE, "block %zu changed since the load", i);
    }
    if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory reading %s records", mt_kind_name(kind));
    return rc;
}

typedef struct gpu_list {
    mt_gpu_device *dev;
    size_t n, cap;
} gpu_list;

static int on_gpu_device(void *arg, const void *rec) {
    gpu_list *g = arg;
    if (mt__grow((void **)&g->dev, &g->cap, g->n, sizeof *g->dev)) return MT_E_NOMEM;
    mt_gpu_device *d = &g->dev[g->n];
    *d = *(const mt_gpu_device *)rec;
    /* The record's strings live in the reader's block buffer. */
    char *name = malloc(d->name.len + 1);
    if (!name) return MT_E_NOMEM;
    if (d->name.len) memcpy(name, d->name.ptr, d->name.len);
    name[d->name.len] = 0;
    d->name.ptr = name;
    g->n++;
    return 0;
}

int mt_snapshot_gpu_devices(const mt_snapshot *s, mt_gpu_device **out, size_t *n, mt_diag *diag) {
    gpu_list g = { NULL, 0, 0 };
    int rc = mt_snapshot_each(s, MT_KIND_GPU_DEVICE, on_gpu_device, &g, diag);
    if (rc) {
        mt_gpu_devices_free(g.dev, g.n);
        g.dev = NULL;
        g.n = 0;
    }
    *out = g.dev;
    *n = g.n;
    return rc;
}

void mt_gpu_devices_free(mt_gpu_device *d, size_t n) {
    for (size_t i = 0; d && i < n; i++) free((char *)d[i].name.ptr);
    free(d);
}

uint64_t mt_df_column_real_bytes(const mt_df_column *r) {
    if (r->real_bytes || (r->flags & MT_COL_REAL_RECORDED)) return r->real_bytes;
    if (r->dtype.len == 6 && !memcmp(r->dtype.ptr, "object", 6)) return r->shallow_bytes + r->distinct_bytes;
    return r->deep_bytes;
}
