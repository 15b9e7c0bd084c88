/* Dominators and retained sizes (graph.h).
 *
 * The simple Lengauer-Tarjan algorithm: path compression without
 * balancing, O(m log n) whatever the shape. Semi-NCA and Cooper-Harvey-
 * Kennedy are simpler but go quadratic on a list whose nodes one array
 * also holds (an LRU cache), a shape heaps are full of. Everything after
 * the DFS works on DFS numbers, so the arrays are dense and the virtual
 * root is number 0. */
#include <stdlib.h>
#include <string.h>
#include "memtrace/graph.h"

#define NONE 0xffffffffu

static int need_refs(const mt_graph *g, mt_diag *diag) {
    if (g->n_objects && !g->out_off)
        return mt_diag_set(diag, MT_E_INVAL, "the snapshot was loaded without references");
    return 0;
}

void mt_dominators_free(mt_dominators *d) {
    free(d->idom);
    free(d->retained);
    free(d->retained_count);
    free(d->order);
    memset(d, 0, sizeof *d);
}

/* Numbers every object reachable from the roots in DFS preorder, 1..N-1
 * (0 is the virtual root). num[v] is v's number or NONE; vertex[k] the
 * object numbered k (vertex[0] unused); parent[k] the number of its DFS
 * parent. The DFS keeps its own stack (stk, cur), never the C stack. */
static uint32_t number(const mt_graph *g, uint32_t *num, uint32_t *vertex, uint32_t *parent, uint32_t *stk,
                       uint32_t *cur) {
    uint32_t n = g->n_objects, next = 1;
    for (uint32_t i = 0; i < n; i++) num[i] = NONE;
    for (uint32_t r = 0; r < g->n_roots; r++) {
        uint32_t s = g->root_obj[r];
        if (num[s] != NONE) continue;
        num[s] = next;
        vertex[next] = s;
        parent[next] = 0;
        next++;
        uint32_t top = 0;
        stk[0] = s;
        cur[0] = g->out_off[s];
        for (;;) {
            uint32_t v = stk[top], e = cur[top], end = g->out_off[v + 1];
            while (e < end) {
                uint32_t w = g->out_dst[e++];
                if ((w & MT_GRAPH_WEAK) || num[w] != NONE) continue;
                cur[top] = e;
                num[w] = next;
                vertex[next] = w;
                parent[next] = num[v];
                next++;
                stk[++top] = w;
                cur[top] = g->out_off[w];
                goto pushed;
            }
            if (top == 0) break;
            top--;
        pushed:;
        }
    }
    return next;
}

/* eval() of the algorithm: the vertex of least semi on the forest path
 * above v, compressing the path on the way. The compression walks up with
 * an explicit stack first, then applies the updates top down, exactly as
 * the recursive version does. */
static uint32_t eval(uint32_t v, uint32_t *ancestor, uint32_t *label, const uint32_t *semi, uint32_t *stk) {
    if (ancestor[v] == NONE) return v;
    uint32_t top = 0, x = v;
    while (ancestor[ancestor[x]] != NONE) {
        stk[top++] = x;
        x = ancestor[x];
    }
    while (top > 0) {
        uint32_t y = stk[--top], a = ancestor[y];
        if (semi[label[a]] < semi[label[y]]) label[y] = label[a];
        ancestor[y] = ancestor[a];
    }
    return label[v];
}

int mt_dominators_compute(const mt_graph *g, mt_dominators *d, mt_diag *diag) {
    memset(d, 0, sizeof *d);
    if (need_refs(g, diag)) return MT_E_INVAL;
    uint32_t n = g->n_objects;
    size_t cap = (size_t)n + 1;
    uint32_t *num = malloc(cap * 4), *vertex = malloc(cap * 4), *parent = malloc(cap * 4), *semi = malloc(cap * 4),
             *ancestor = malloc(cap * 4), *label = malloc(cap * 4), *idom = malloc(cap * 4),
             *bucket = malloc(cap * 4), *bnext = malloc(cap * 4);
    uint8_t *is_root = calloc(cap, 1);
    int rc = MT_E_NOMEM;
    if (!num || !vertex || !parent || !semi || !ancestor || !label || !idom || !bucket || !bnext || !is_root) goto out;
    for (uint32_t r = 0; r < g->n_roots; r++) is_root[g->root_obj[r]] = 1;

    /* ancestor and label double as the DFS's stack and edge cursors. */
    uint32_t N = number(g, num, vertex, parent, ancestor, label);
    for (uint32_t k = 0; k < N; k++) {
        semi[k] = label[k] = k;
        ancestor[k] = NONE;
        bucket[k] = NONE;
    }
    /* bnext doubles as eval's stack, which needs at most N entries; the
     * buckets chain through idom, which is only written once a vertex has
     * left its bucket. */
    uint32_t *bchain = idom;
    for (uint32_t w = N - 1; w >= 1; w--) {
        uint32_t v = vertex[w];
        if (is_root[v]) semi[w] = 0;
        for (uint32_t e = g->in_off[v]; e < g->in_off[v + 1]; e++) {
            uint32_t s = g->in_src[e];
            if (s & MT_GRAPH_WEAK) continue;
            uint32_t p = num[s];
            if (p == NONE) continue;
            uint32_t u = eval(p, ancestor, label, semi, bnext);
            if (semi[u] < semi[w]) semi[w] = semi[u];
        }
        bchain[w] = bucket[semi[w]];
        bucket[semi[w]] = w;
        uint32_t pw = parent[w];
        ancestor[w] = pw;
        for (uint32_t x = bucket[pw]; x != NONE;) {
            uint32_t nx = bchain[x];
            uint32_t u = eval(x, ancestor, label, semi, bnext);
            bchain[x] = semi[u] < semi[x] ? u : pw; /* now x's idom, or to be fixed below */
            x = nx;
        }
        bucket[pw] = NONE;
    }
    idom[0] = 0;
    for (uint32_t w = 1; w < N; w++)
        if (idom[w] != semi[w]) idom[w] = idom[idom[w]];

    /* Retained sizes bottom up: an idom always has a smaller number. */
    d->retained = calloc(n ? n : 1, 8);
    d->retained_count = calloc(n ? n : 1, 4);
    d->idom = malloc((n ? n : 1) * 4);
    d->order = malloc((N > 1 ? N - 1 : 1) * 4);
    uint64_t *ret = malloc(cap * 8);
    if (!d->retained || !d->retained_count || !d->idom || !d->order || !ret) {
        free(ret);
        mt_dominators_free(d);
        goto out;
    }
    uint32_t *cnt = semi; /* semi is no longer needed */
    for (uint32_t k = 1; k < N; k++) {
        ret[k] = (g->flags[vertex[k]] & MT_OBJ_LOST) ? 0 : g->size[vertex[k]];
        cnt[k] = 1;
    }
    ret[0] = 0;
    cnt[0] = 0;
    for (uint32_t k = N - 1; k >= 1; k--) {
        ret[idom[k]] += ret[k];
        cnt[idom[k]] += cnt[k];
    }
    for (uint32_t i = 0; i < n; i++) d->idom[i] = MT_DOM_NONE;
    for (uint32_t k = 1; k < N; k++) {
        uint32_t v = vertex[k];
        d->idom[v] = idom[k] ? vertex[idom[k]] : MT_DOM_ROOT;
        d->retained[v] = ret[k];
        d->retained_count[v] = cnt[k];
        d->order[k - 1] = v;
    }
    free(ret);
    d->n_objects = n;
    d->n_reachable = N - 1;
    for (uint32_t i = 0; i < n; i++) {
        if (g->flags[i] & MT_OBJ_LOST) continue;
        uint64_t b = g->size[i];
        if (d->idom[i] == MT_DOM_NONE) {
            d->n_unreachable++;
            d->unreachable_bytes += b;
        } else
            d->reachable_bytes += b;
    }
    rc = 0;
out:
    free(num);
    free(vertex);
    free(parent);
    free(semi);
    free(ancestor);
    free(label);
    free(idom);
    free(bucket);
    free(bnext);
    free(is_root);
    return rc ? mt_diag_set(diag, rc, "out of memory computing dominators of %u objects", n) : 0;
}

/* Walks the dominator tree depth first, keeping per type how many of the
 * current object's dominators are of its type: an object counts for its
 * type only when none is. */
int mt_dominators_type_retained(const mt_graph *g, const mt_dominators *d, uint64_t *out, mt_diag *diag) {
    uint32_t n = d->n_objects, R = d->n_reachable;
    for (uint32_t t = 0; t < g->n_types; t++) out[t] = 0;
    uint32_t *off = calloc((size_t)n + 2, 4), *kids = malloc((R ? R : 1) * 4);
    uint32_t *stk = malloc(((size_t)R + 1) * 4), *cur = malloc(((size_t)R + 1) * 4);
    uint32_t *open = calloc(g->n_types ? g->n_types : 1, 4);
    int rc = MT_E_NOMEM;
    if (!off || !kids || !stk || !cur || !open) goto out;
    /* Children lists by parent; slot n is the virtual root. */
#define PARENT(v) (d->idom[v] == MT_DOM_ROOT ? n : d->idom[v])
    for (uint32_t k = 0; k < R; k++) off[PARENT(d->order[k]) + 1]++;
    for (uint32_t i = 0; i <= n; i++) off[i + 1] += off[i];
    for (uint32_t k = 0; k < R; k++) {
        uint32_t p = PARENT(d->order[k]);
        kids[off[p]++] = d->order[k];
    }
    for (uint32_t i = n + 1; i > 0; i--) off[i] = off[i - 1];
    off[0] = 0;
#undef PARENT
    uint32_t top = 0;
    stk[0] = n;
    cur[0] = off[n];
    while (1) {
        uint32_t v = stk[top];
        if (cur[top] < off[v + 1]) {
            uint32_t c = kids[cur[top]++];
            if (!open[g->type[c]]++) out[g->type[c]] += d->retained[c];
            stk[++top] = c;
            cur[top] = off[c];
            continue;
        }
        if (top == 0) break;
        open[g->type[v]]--;
        top--;
    }
    rc = 0;
out:
    free(off);
    free(kids);
    free(stk);
    free(cur);
    free(open);
    return rc ? mt_diag_set(diag, rc, "out of memory computing retained sizes by type") : 0;
}

static int heap_less(const mt_dominators *d, uint32_t a, uint32_t b) {
    /* a ranks below b: smaller retained, or equal and a larger index. */
    return d->retained[a] < d->retained[b] || (d->retained[a] == d->retained[b] && a > b);
}

static void sift_down(const mt_dominators *d, uint32_t *h, uint32_t n, uint32_t i) {
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && heap_less(d, h[l], h[m])) m = l;
        if (r < n && heap_less(d, h[r], h[m])) m = r;
        if (m == i) return;
        uint32_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* A min-heap of the best n so far: O(R log n). */
uint32_t mt_dominators_top(const mt_dominators *d, uint32_t n, uint32_t *out) {
    uint32_t k = 0;
    if (!n) return 0;
    for (uint32_t j = 0; j < d->n_reachable; j++) {
        uint32_t v = d->order[j];
        if (k < n) {
            out[k++] = v;
            if (k == n)
                for (uint32_t i = n / 2 + 1; i-- > 0;) sift_down(d, out, n, i);
        } else if (heap_less(d, out[0], v)) {
            out[0] = v;
            sift_down(d, out, n, 0);
        }
    }
    if (k < n)
        for (uint32_t i = k / 2 + 1; i-- > 0;) sift_down(d, out, k, i);
    /* Heap sort, larger first. */
    for (uint32_t m = k; m > 1; m--) {
        uint32_t t = out[0];
        out[0] = out[m - 1];
        out[m - 1] = t;
        sift_down(d, out, m - 1, 0);
    }
    return k;
}
