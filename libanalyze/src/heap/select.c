/* Picking objects out of a graph: by id, by type, a type's largest, and
 * the neighbourhood a picture of one object shows (graph.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/graph.h"

int mt_graph_find_id(const mt_graph *g, uint64_t id, uint32_t *out) {
    /* Linear: a tool looks up one id per run, and an index would cost
     * 12 bytes per object to save a scan that takes milliseconds. */
    for (uint32_t i = 0; i < g->n_objects; i++)
        if (g->id[i] == id && !(g->flags[i] & MT_OBJ_LOST)) {
            *out = i;
            return 0;
        }
    return MT_E_NOTFOUND;
}

int mt_graph_find_type(const mt_graph *g, const char *name, size_t len, uint32_t *out) {
    for (uint32_t t = 0; t < g->n_types; t++)
        if (g->type_names[t].len == len && !memcmp(g->type_names[t].ptr, name, len)) {
            *out = t;
            return 0;
        }
    return MT_E_NOTFOUND;
}

uint32_t mt_dominators_top_of_type(const mt_graph *g, const mt_dominators *d, uint32_t type, uint32_t n,
                                   uint32_t *out) {
    /* Insertion into a sorted list of at most n: n is a report's top. */
    uint32_t k = 0;
    if (!n) return 0;
    for (uint32_t i = 0; i < g->n_objects; i++) {
        if (g->type[i] != type || (g->flags[i] & MT_OBJ_LOST)) continue;
        if (k == n && d->retained[i] <= d->retained[out[n - 1]]) continue;
        uint32_t j = k < n ? k++ : n - 1;
        while (j > 0 && d->retained[out[j - 1]] < d->retained[i]) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = i;
    }
    return k;
}

/* An id as the tools take one: decimal, or hexadecimal with 0x; no sign
 * or space, nothing after it. */
static int parse_id(const char *s, size_t len, uint64_t *id) {
    char buf[32], *end;
    if (!len || len >= sizeof buf || s[0] < '0' || s[0] > '9') return 0;
    memcpy(buf, s, len);
    buf[len] = 0;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 0);
    if (errno || end == buf || *end) return 0;
    *id = v;
    return 1;
}

int mt_graph_select(const mt_graph *g, const mt_dominators *d, const char *what, size_t len, uint32_t n,
                    uint32_t *out, uint32_t *written, mt_diag *diag) {
    uint64_t id;
    uint32_t v, t;
    *written = 0;
    if (parse_id(what, len, &id) && !mt_graph_find_id(g, id, &v)) {
        if (n) {
            out[0] = v;
            *written = 1;
        }
        return 0;
    }
    if (mt_graph_find_type(g, what, len, &t))
        return mt_diag_set(diag, MT_E_NOTFOUND, "no object has the id or the type '%.*s'", (int)(len > 200 ? 200 : len),
                           what);
    *written = mt_dominators_top_of_type(g, d, t, n, out);
    return 0;
}

void mt_graph_nearby_free(mt_graph_nearby *nb) {
    free(nb->obj);
    free(nb->level);
    free(nb->edge);
    free(nb->edge_from);
    memset(nb, 0, sizeof *nb);
}

int mt_graph_nearby_compute(const mt_graph *g, uint32_t start, uint64_t depth, uint32_t max_objects,
                            mt_graph_nearby *nb, mt_diag *diag) {
    memset(nb, 0, sizeof *nb);
    if (!g->out_off) return mt_diag_set(diag, MT_E_INVAL, "the snapshot was loaded without references");
    if (start >= g->n_objects) return mt_diag_set(diag, MT_E_RANGE, "object %u is not in the graph", start);
    uint32_t n = g->n_objects, cap = max_objects && max_objects < n ? max_objects : n;
    uint32_t *level = malloc((size_t)n * 4);
    nb->obj = malloc((size_t)cap * 4);
    nb->level = malloc((size_t)cap * 4);
    if (!level || !nb->obj || !nb->level) goto nomem;
    for (uint32_t i = 0; i < n; i++) level[i] = UINT32_MAX;
    /* Breadth first, so that a cut drops the farthest objects. */
    uint32_t head = 0, tail = 0;
    level[start] = 0;
    nb->obj[tail++] = start;
    while (head < tail) {
        uint32_t v = nb->obj[head++];
        if (level[v] >= depth) continue;
        for (uint32_t e = g->out_off[v]; e < g->out_off[v + 1]; e++) {
            uint32_t w = g->out_dst[e] & MT_GRAPH_INDEX;
            if (level[w] != UINT32_MAX) continue;
            if (tail >= cap) {
                nb->cut = 1;
                continue;
            }
            level[w] = level[v] + 1;
            nb->obj[tail++] = w;
        }
    }
    nb->n = tail;
    size_t n_edges = 0;
    for (uint32_t k = 0; k < tail; k++) {
        uint32_t v = nb->obj[k];
        nb->level[k] = level[v];
        if (level[v] >= depth) continue;
        for (uint32_t e = g->out_off[v]; e < g->out_off[v + 1]; e++)
            n_edges += level[g->out_dst[e] & MT_GRAPH_INDEX] != UINT32_MAX;
    }
    nb->edge = malloc((n_edges ? n_edges : 1) * 4);
    nb->edge_from = malloc((n_edges ? n_edges : 1) * 4);
    if (!nb->edge || !nb->edge_from) goto nomem;
    for (uint32_t k = 0; k < tail; k++) {
        uint32_t v = nb->obj[k];
        if (level[v] >= depth) continue;
        for (uint32_t e = g->out_off[v]; e < g->out_off[v + 1]; e++)
            if (level[g->out_dst[e] & MT_GRAPH_INDEX] != UINT32_MAX) {
                nb->edge[nb->n_edges] = e;
                nb->edge_from[nb->n_edges++] = v;
            }
    }
    free(level);
    return 0;
nomem:
    free(level);
    mt_graph_nearby_free(nb);
    return mt_diag_set(diag, MT_E_NOMEM, "out of memory walking the references of %u objects", n);
}
