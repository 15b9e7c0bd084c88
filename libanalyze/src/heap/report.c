/* memtrace-graph's report as data (graph.h: mt_graph_report_compute). */
#include <stdlib.h>
#include <string.h>
#include "memtrace/checked.h"
#include "memtrace/graph.h"

static int by_retained(const void *x, const void *y) {
    const mt_graph_type_total *a = x, *b = y;
    if (a->retained != b->retained) return a->retained > b->retained ? -1 : 1;
    if (a->bytes != b->bytes) return a->bytes > b->bytes ? -1 : 1;
    return (a->type > b->type) - (a->type < b->type);
}

static int by_bytes(const void *x, const void *y) {
    const mt_graph_type_total *a = x, *b = y;
    if (a->bytes != b->bytes) return a->bytes > b->bytes ? -1 : 1;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return (a->type > b->type) - (a->type < b->type);
}

/* The rows sorted, cut to the top that have objects. */
static uint32_t top_rows(mt_graph_type_total *rows, uint32_t n, uint32_t top,
                         int (*cmp)(const void *, const void *)) {
    qsort(rows, n, sizeof *rows, cmp);
    uint32_t k = 0;
    while (k < n && k < top && rows[k].count) k++;
    return k;
}

/* The most common type, and how many types, of each of the first n
 * cyclic components: one pass over the objects, a tally per component
 * shown (n is at most the top asked for). */
static int cycle_types(const mt_graph *g, const mt_cycles *c, uint32_t n, mt_graph_cycle_types *out) {
    uint32_t nt = g->n_types ? g->n_types : 1;
    uint32_t *tally = calloc((size_t)n * nt + 1, 4), *slot = malloc((size_t)c->n_comp * 4 + 4);
    if (!tally || !slot) {
        free(tally);
        free(slot);
        return MT_E_NOMEM;
    }
    for (uint32_t k = 0; k < c->n_comp; k++) slot[k] = UINT32_MAX;
    for (uint32_t k = 0; k < n; k++) slot[c->cyclic[k].comp] = k;
    for (uint32_t v = 0; v < g->n_objects; v++)
        if (slot[c->comp[v]] != UINT32_MAX) tally[(size_t)slot[c->comp[v]] * nt + g->type[v]]++;
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t *t = tally + (size_t)k * nt;
        out[k].most_common = 0;
        out[k].n_types = 0;
        for (uint32_t i = 0; i < g->n_types; i++) {
            if (t[i]) out[k].n_types++;
            if (t[i] > t[out[k].most_common]) out[k].most_common = i;
        }
    }
    free(tally);
    free(slot);
    return 0;
}

int mt_graph_report_compute(const mt_snapshot *s, const mt_dominators *d, uint32_t top, mt_graph_report *r,
                            mt_diag *diag) {
    memset(r, 0, sizeof *r);
    const mt_graph *g = mt_snapshot_graph(s);
    if (!g->out_off) return mt_diag_set(diag, MT_E_INVAL, "the snapshot was loaded without references");
    r->objects = (uint64_t)g->n_objects - mt_snapshot_lost_objects(s);
    r->object_bytes = mt_sat_add_u64(d->reachable_bytes, d->unreachable_bytes);
    r->refs = g->n_refs;
    r->roots = g->n_roots;
    for (uint64_t e = 0; e < g->n_refs; e++) r->weak_refs += (g->out_dst[e] & MT_GRAPH_WEAK) != 0;

    int rc = MT_E_NOMEM;
    uint32_t *best = malloc(((size_t)top + 1) * 4);
    uint64_t *tret = malloc(((size_t)g->n_types + 1) * 8);
    r->types = calloc((size_t)g->n_types + 1, sizeof *r->types);
    r->unreachable = calloc((size_t)g->n_types + 1, sizeof *r->unreachable);
    if (!best || !tret || !r->types || !r->unreachable) goto fail;

    /* Types: every object counted on its side of the roots. */
    if ((rc = mt_dominators_type_retained(g, d, tret, diag))) goto fail;
    for (uint32_t t = 0; t < g->n_types; t++) {
        r->types[t].type = r->unreachable[t].type = t;
        r->types[t].retained = tret[t];
    }
    for (uint32_t o = 0; o < g->n_objects; o++) {
        if (g->flags[o] & MT_OBJ_LOST) continue;
        mt_graph_type_total *row = d->idom[o] == MT_DOM_NONE ? &r->unreachable[g->type[o]] : &r->types[g->type[o]];
        row->count++;
        row->bytes = mt_sat_add_u64(row->bytes, g->size[o]); /* sizes come from the file */
    }
    r->n_types = top_rows(r->types, g->n_types, top, by_retained);
    r->n_unreachable = top_rows(r->unreachable, g->n_types, top, by_bytes);

    /* The largest retainers, each named by its way from a root. */
    uint32_t nbest = mt_dominators_top(d, top, best);
    rc = MT_E_NOMEM;
    if (!(r->retainers = calloc((size_t)nbest + 1, sizeof *r->retainers))) goto fail;
    for (uint32_t k = 0; k < nbest; k++) {
        mt_graph_retainer *x = &r->retainers[k];
        x->obj = best[k];
        rc = mt_path_to_root(g, best[k], &x->path, diag);
        if (rc && rc != MT_E_NOTFOUND) goto fail;
        x->has_path = rc == 0;
        r->n_retainers = k + 1;
    }

    if ((rc = mt_cycles_compute(g, &r->cycles, diag))) goto fail;
    r->n_cycles = r->cycles.n_cyclic < top ? r->cycles.n_cyclic : top;
    rc = MT_E_NOMEM;
    if (!(r->cycle_types = calloc((size_t)r->n_cycles + 1, sizeof *r->cycle_types))) goto fail;
    if ((rc = cycle_types(g, &r->cycles, r->n_cycles, r->cycle_types))) goto fail;
    free(best);
    free(tret);
    return 0;
fail:
    free(best);
    free(tret);
    mt_graph_report_free(r);
    if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory computing the graph report");
    return rc;
}

void mt_graph_report_free(mt_graph_report *r) {
    for (uint32_t k = 0; r->retainers && k < r->n_retainers; k++) mt_path_free(&r->retainers[k].path);
    free(r->retainers);
    free(r->types);
    free(r->unreachable);
    mt_cycles_free(&r->cycles);
    free(r->cycle_types);
    memset(r, 0, sizeof *r);
}
