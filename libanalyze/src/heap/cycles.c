/* Strongly connected components (graph.h: mt_cycles_compute).
 *
 * Tarjan's algorithm with its recursion turned into an explicit stack of
 * (object, next edge), so that a chain of millions of objects is fine. */
#include <stdlib.h>
#include <string.h>
#include "memtrace/checked.h"
#include "memtrace/graph.h"

#define NONE 0xffffffffu

void mt_cycles_free(mt_cycles *c) {
    free(c->comp);
    free(c->cyclic);
    memset(c, 0, sizeof *c);
}

static int cmp_cycle(const void *x, const void *y) {
    const mt_cycle *a = x, *b = y;
    if (a->objects != b->objects) return a->objects > b->objects ? -1 : 1;
    if (a->bytes != b->bytes) return a->bytes > b->bytes ? -1 : 1;
    return (a->comp > b->comp) - (a->comp < b->comp);
}

int mt_cycles_compute(const mt_graph *g, mt_cycles *c, mt_diag *diag) {
    memset(c, 0, sizeof *c);
    uint32_t n = g->n_objects;
    if (n && !g->out_off) return mt_diag_set(diag, MT_E_INVAL, "the snapshot was loaded without references");
    size_t cap = n ? n : 1;
    /* index[v]: DFS number, NONE before the visit; low[v]: lowlink, and
     * NONE once v is assigned (off Tarjan's stack). */
    uint32_t *index = malloc(cap * 4), *low = malloc(cap * 4), *tstk = malloc(cap * 4), *cstk = malloc(cap * 4),
             *cur = malloc(cap * 4);
    uint32_t *size = NULL;
    uint8_t *self = NULL;
    c->comp = malloc(cap * 4);
    int rc = MT_E_NOMEM;
    if (!index || !low || !tstk || !cstk || !cur || !c->comp) goto out;
    for (uint32_t i = 0; i < n; i++) index[i] = NONE;
    uint32_t next = 0, tt = 0, ncomp = 0;
    for (uint32_t s = 0; s < n; s++) {
        if (index[s] != NONE) continue;
        uint32_t top = 0;
        cstk[0] = s;
        cur[0] = g->out_off[s];
        index[s] = low[s] = next++;
        tstk[tt++] = s;
        for (;;) {
            uint32_t v = cstk[top];
            uint32_t e = cur[top], end = g->out_off[v + 1];
            int pushed = 0;
            while (e < end) {
                uint32_t w = g->out_dst[e++];
                if (w & MT_GRAPH_WEAK) continue;
                if (index[w] == NONE) {
                    cur[top] = e;
                    index[w] = low[w] = next++;
                    tstk[tt++] = w;
                    cstk[++top] = w;
                    cur[top] = g->out_off[w];
                    pushed = 1;
                    break;
                }
                if (low[w] != NONE && index[w] < low[v]) low[v] = index[w];
            }
            if (pushed) continue;
            if (low[v] == index[v]) {
                uint32_t w;
                do {
                    w = tstk[--tt];
                    c->comp[w] = ncomp;
                    low[w] = NONE;
                } while (w != v);
                ncomp++;
            }
            if (top == 0) break;
            top--;
            uint32_t u = cstk[top];
            if (low[v] != NONE && low[v] < low[u]) low[u] = low[v];
        }
    }
    c->n_objects = n;
    c->n_comp = ncomp;
    /* Sizes per component, and which single objects refer to themselves. */
    size = calloc(ncomp ? ncomp : 1, 4);
    self = calloc(ncomp ? ncomp : 1, 1);
    if (!size || !self) goto out;
    for (uint32_t v = 0; v < n; v++) {
        size[c->comp[v]]++;
        for (uint32_t e = g->out_off[v]; e < g->out_off[v + 1]; e++)
            if (g->out_dst[e] == v) self[c->comp[v]] = 1;
    }
    for (uint32_t k = 0; k < ncomp; k++)
        if (size[k] > 1 || self[k]) c->n_cyclic++;
    if (!(c->cyclic = calloc(c->n_cyclic ? c->n_cyclic : 1, sizeof(mt_cycle)))) goto out;
    /* size[k] becomes k's slot in cyclic, or NONE. */
    uint32_t slot = 0;
    for (uint32_t k = 0; k < ncomp; k++) {
        if (size[k] > 1 || self[k]) {
            c->cyclic[slot].comp = k;
            c->cyclic[slot].first = NONE;
            size[k] = slot++;
        } else
            size[k] = NONE;
    }
    for (uint32_t v = 0; v < n; v++) {
        uint32_t sl = size[c->comp[v]];
        if (sl == NONE) continue;
        mt_cycle *cy = &c->cyclic[sl];
        uint64_t b = (g->flags[v] & MT_OBJ_LOST) ? 0 : g->size[v];
        cy->objects++;
        cy->bytes = mt_sat_add_u64(cy->bytes, b); /* sizes come from the file */
        if (cy->first == NONE) cy->first = v;
        c->cyclic_objects++;
        c->cyclic_bytes = mt_sat_add_u64(c->cyclic_bytes, b);
    }
    qsort(c->cyclic, c->n_cyclic, sizeof(mt_cycle), cmp_cycle);
    rc = 0;
out:
    free(index);
    free(low);
    free(tstk);
    free(cstk);
    free(cur);
    free(size);
    free(self);
    if (rc) {
        mt_cycles_free(c);
        return mt_diag_set(diag, rc, "out of memory finding cycles among %u objects", n);
    }
    return 0;
}
