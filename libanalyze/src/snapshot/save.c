/* Writing a loaded snapshot back out (snapshot.h: mt_snapshot_save). */
#include <stdlib.h>
#include <string.h>
#include "snapshot/snapshot_impl.h"

typedef struct copy_ctx {
    mt_writer *w;
    mt_kind kind;
} copy_ctx;

static int copy_record(void *arg, const void *rec) {
    copy_ctx *c = arg;
    return mt_writer_add(c->w, c->kind, rec);
}

/* Copies every record of the kinds the loader does not keep from the
 * source's intact blocks, kind by kind. */
static int copy_other_kinds(const mt_snapshot *s, mt_writer *w, mt_diag *diag) {
    for (int k = 1; k <= MT_KIND_MAX; k++) {
        if (k == MT_KIND_META || k == MT_KIND_TYPE || k == MT_KIND_OBJECT || k == MT_KIND_REF || k == MT_KIND_ROOT)
            continue;
        copy_ctx c = { w, (mt_kind)k };
        int rc = mt_snapshot_each(s, (mt_kind)k, copy_record, &c, diag);
        if (rc) return mt_diag_set(diag, rc, "cannot copy %s records: %s", mt_kind_name(k), mt_strerror(rc));
    }
    return 0;
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
