/* Records the loader does not keep, read again from the snapshot's
 * reader (snapshot.h: mt_snapshot_each). The load decoded every block and
 * marked those it refused, so only blocks still marked intact are read. */
#include <stdlib.h>
#include <string.h>
#include "snapshot_impl.h"

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
        mt_diag d;
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
