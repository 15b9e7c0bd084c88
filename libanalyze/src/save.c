/* Writing a loaded snapshot back out (snapshot.h: mt_snapshot_save). */
#include <stdlib.h>
#include <string.h>
#include "snapshot_impl.h"

/* Copies every record of the kinds the loader does not keep from the
 * source's intact blocks. A block is read through once to check it before
 * any of it is written, so that a damaged block adds nothing. */
static int copy_other_kinds(const mt_snapshot *s, mt_writer *w, mt_diag *diag) {
    mt_reader *r;
    int rc = s->path ? mt_reader_open(s->path, &r, diag) : mt_reader_open_mem(s->mem, s->mem_size, "", &r, diag);
    if (rc) return rc;
    mt_record rec;
    for (size_t i = 0; i < mt_reader_block_count(r) && !rc; i++) {
        const mt_block_info *b = mt_reader_block(r, i);
        int k = b->kind;
        if (b->status != MT_BLOCK_OK || k == MT_KIND_META || k == MT_KIND_TYPE || k == MT_KIND_OBJECT ||
            k == MT_KIND_REF || k == MT_KIND_ROOT || k < 1 || k > MT_KIND_MAX)
            continue;
        mt_cursor c;
        int n = 0;
        if (mt_reader_block_open(r, i, &c, NULL)) continue;
        while ((n = mt_cursor_next(&c, &rec.u, NULL)) == 1) {}
        if (n < 0 || mt_reader_block_open(r, i, &c, NULL)) continue;
        while (!rc && mt_cursor_next(&c, &rec.u, NULL) == 1) rc = mt_writer_add(w, (mt_kind)k, &rec.u);
    }
    mt_reader_free(r);
    return rc ? mt_diag_set(diag, rc, "cannot copy records: %s", mt_strerror(rc)) : 0;
}

int mt_snapshot_save(const mt_snapshot *s, const char *path, mt_diag *diag) {
    if (s->n_refs && !s->out_off) return mt_diag_set(diag, MT_E_INVAL, "references were not loaded");
    if (!s->out_off) {
        /* Loaded without references: only a snapshot with none can be saved. */
        for (size_t i = 0; i <= MT_KIND_MAX; i++)
            if (s->kinds[i].kind == MT_KIND_REF && s->kinds[i].records)
                return mt_diag_set(diag, MT_E_INVAL, "references were not loaded");
    }
    mt_writer *w;
    int rc = mt_writer_open(path, NULL, &w, diag);
    if (rc) return rc;
    for (size_t i = 0; i < s->n_meta && !rc; i++) rc = mt_writer_add(w, MT_KIND_META, &s->meta[i]);
    for (uint32_t t = 0; t < s->n_types && !rc; t++) {
        mt_type ty = { t + 1, s->type_names[t] };
        rc = mt_writer_add(w, MT_KIND_TYPE, &ty);
    }
    for (uint32_t i = 0; i < s->n_objects && !rc; i++) {
        mt_object o = { s->id[i], s->type[i] + 1, s->size[i], s->flags[i] & ~MT_OBJ_LOST,
                        s->stack ? s->stack[i] : 0, s->gen ? s->gen[i] : 0 };
        rc = mt_writer_add(w, MT_KIND_OBJECT, &o);
    }
    for (uint32_t u = 0; s->out_off && u < s->n_objects && !rc; u++)
        for (uint32_t e = s->out_off[u]; e < s->out_off[u + 1] && !rc; e++) {
            uint32_t d = s->out_dst[e];
            mt_ref r = { u, d & MT_GRAPH_INDEX, d & MT_GRAPH_WEAK ? MT_REF_WEAK : 0, mt_snapshot_ref_label(s, e) };
            rc = mt_writer_add(w, MT_KIND_REF, &r);
        }
    for (uint32_t i = 0; i < s->n_roots && !rc; i++) {
        mt_root r = { s->root_obj[i], s->root_kind[i], s->root_name[i] };
        rc = mt_writer_add(w, MT_KIND_ROOT, &r);
    }
    if (!rc) rc = copy_other_kinds(s, w, diag);
    if (rc) {
        mt_diag_set(diag, rc, "cannot write: %s", mt_strerror(rc));
        mt_writer_abandon(w);
        return rc;
    }
    return mt_writer_close(w, diag);
}
