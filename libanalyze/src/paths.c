/* Shortest strong paths to roots (graph.h: mt_path_to_root). */
#include <stdlib.h>
#include <string.h>
#include "memtrace/graph.h"

#define NONE 0xffffffffu

void mt_path_free(mt_path *p) {
    free(p->obj);
    free(p->edge);
    memset(p, 0, sizeof *p);
}

/* Breadth first from the target along in-edges: the first root met is a
 * nearest one. A root of kind "c" (held from C, inferred from reference
 * counts) names nothing a reader can find, so the search goes on past it
 * for a module, frame or other root, and falls back to the nearest "c"
 * root only when there is none. toward[v] is the next object on v's way
 * to the target. */
int mt_path_to_root(const mt_graph *g, uint32_t target, mt_path *path, mt_diag *diag) {
    memset(path, 0, sizeof *path);
    uint32_t n = g->n_objects;
    if (target >= n) return mt_diag_set(diag, MT_E_RANGE, "object %u is past the last one (%u objects)", target, n);
    if (!g->out_off) return mt_diag_set(diag, MT_E_INVAL, "the snapshot was loaded without references");
    uint32_t *toward = malloc((size_t)n * 4), *queue = malloc((size_t)n * 4), *root_of = malloc((size_t)n * 4);
    int rc = MT_E_NOMEM;
    if (!toward || !queue || !root_of) goto out;
    for (uint32_t i = 0; i < n; i++) toward[i] = root_of[i] = NONE;
    /* The first root record of each object names it. */
    for (uint32_t r = g->n_roots; r-- > 0;) root_of[g->root_obj[r]] = r;
    uint32_t head = 0, tail = 0, found = NONE, found_c = NONE;
    toward[target] = target;
    queue[tail++] = target;
    while (head < tail) {
        uint32_t v = queue[head++];
        if (root_of[v] != NONE) {
            mt_str k = g->root_kind[root_of[v]];
            if (!(k.len == 1 && k.ptr[0] == 'c')) {
                found = v;
                break;
            }
            if (found_c == NONE) found_c = v;
        }
        for (uint32_t e = g->in_off[v]; e < g->in_off[v + 1]; e++) {
            uint32_t s = g->in_src[e];
            if ((s & MT_GRAPH_WEAK) || toward[s] != NONE) continue;
            toward[s] = v;
            queue[tail++] = s;
        }
    }
    if (found == NONE) found = found_c;
    if (found == NONE) {
        rc = mt_diag_set(diag, MT_E_NOTFOUND, "no root reaches object %u through strong references", target);
        goto out;
    }
    uint32_t len = 1;
    for (uint32_t v = found; v != target; v = toward[v]) len++;
    path->obj = malloc((size_t)len * 4);
    path->edge = malloc((size_t)(len > 1 ? len - 1 : 1) * 4);
    if (!path->obj || !path->edge) {
        mt_path_free(path);
        goto out;
    }
    path->root = root_of[found];
    path->len = len;
    uint32_t k = 0;
    for (uint32_t v = found;; v = toward[v]) {
        path->obj[k] = v;
        if (v == target) break;
        /* The edge v -> toward[v]: the first strong one, as labels go. */
        uint32_t w = toward[v], e = g->out_off[v];
        while (e < g->out_off[v + 1] && g->out_dst[e] != w) e++;
        path->edge[k++] = e;
    }
    rc = 0;
out:
    free(toward);
    free(queue);
    free(root_of);
    if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory finding a path to a root");
    return rc;
}
