/* Records the loader does not keep, read again from the source
 * (snapshot.h: mt_snapshot_each). The load has checked every block, so
 * only those it found intact are read. */
#include <stdlib.h>
#include <string.h>
#include "snapshot_impl.h"

uint64_t mt_snapshot_count(const mt_snapshot *s, mt_kind kind) {
    return kind >= 1 && kind <= MT_KIND_MAX ? s->kinds[kind].records : 0;
}

int mt_snapshot_each(const mt_snapshot *s, mt_kind kind, mt_record_fn fn, void *arg, mt_diag *diag) {
    if (!mt_snapshot_count(s, kind)) return 0;
    mt_reader *r;
    mt_diag d;
    mt_diag_clear(&d);
    int rc = s->path ? mt_reader_open(s->path, &r, &d) : mt_reader_open_mem(s->mem, s->mem_size, "", &r, &d);
    if (rc) {
        if (rc == MT_E_NOMEM) return mt_diag_set(diag, rc, "out of memory reading %s records", mt_kind_name(kind));
        return mt_diag_set(diag, MT_E_STATE, "cannot read the source again for its %s records (%s)",
                           mt_kind_name(kind), mt_strerror(rc));
    }
    mt_record rec;
    for (size_t i = 0; i < mt_reader_block_count(r) && !rc; i++) {
        const mt_block_info *b = mt_reader_block(r, i);
        if (b->status != MT_BLOCK_OK || b->kind != kind) continue;
        /* A block the load refused (a salvage) is checked again here and
         * skipped as a whole, as the load did. */
        mt_cursor c;
        int k;
        if (mt_reader_block_open(r, i, &c, NULL)) continue;
        while ((k = mt_cursor_next(&c, &rec.u, NULL)) == 1) {}
        if (k < 0 || mt_reader_block_open(r, i, &c, NULL)) continue;
        while (!rc && mt_cursor_next(&c, &rec.u, NULL) == 1) rc = fn(arg, &rec.u);
    }
    mt_reader_free(r);
    return rc;
}
