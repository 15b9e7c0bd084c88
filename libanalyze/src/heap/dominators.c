/* Dominators and retained sizes (graph.h).
 *
 * The Lengauer-Tarjan algorithm with balanced linking, O(m alpha(m, n))
 * whatever the shape. Semi-NCA and Cooper-Harvey-
 * Kennedy are simpler but go quadratic on a list whose nodes one array
 * also holds (an LRU cache), a shape heaps are full of. Everything after
 * the DFS works on DFS numbers, so the arrays are dense and the virtual
 * root is number 0. */
#include <stdlib.h>
#include <string.h>
#include "memtrace/checked.h"
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
                if (e + 8 < end) __builtin_prefetch(&num[g->out_dst[e + 8] & MT_GRAPH_INDEX]);
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

/* A vertex of the link-eval forest, every field eval() and link() read
 * packed together: on 10M objects nearly every step up the forest is a
 * cache miss, and one miss a step is what the time is made of. Indices
 * are DFS numbers plus one; 0 is the sentinel (size 0, lsemi 0). lsemi
 * caches semi[label], so comparing labels needs no further load. */
typedef struct lt_node {
    uint32_t ancestor, label, lsemi, child, size, semi;
} lt_node;

/* compress() of the algorithm, its recursion turned into a walk up that
 * keeps the path in stk, then the updates applied top down. */
static void compress(uint32_t v, lt_node *t, uint32_t *stk) {
    uint32_t top = 0, x = v;
    while (t[t[x].ancestor].ancestor != 0) {
        stk[top++] = x;
        x = t[x].ancestor;
    }
    while (top > 0) {
        lt_node *y = &t[stk[--top]];
        const lt_node *a = &t[y->ancestor];
        if (a->lsemi < y->lsemi) {
            y->label = a->label;
            y->lsemi = a->lsemi;
        }
        y->ancestor = a->ancestor;
    }
}

/* eval(): the vertex of least semi on v's forest path, and that semi. */
static uint32_t eval(uint32_t v, lt_node *t, uint32_t *stk, uint32_t *semi) {
    if (t[v].ancestor == 0) {
        *semi = t[v].lsemi;
        return t[v].label;
    }
    compress(v, t, stk);
    const lt_node *a = &t[t[v].ancestor];
    if (a->lsemi >= t[v].lsemi) {
        *semi = t[v].lsemi;
        return t[v].label;
    }
    *semi = a->lsemi;
    return a->label;
}

/* link(v, w) with the balancing of the sophisticated version, which keeps
 * the forest shallow: simple linking left paths of six misses an eval on
 * 10M objects (bench/graph). */
static void link(uint32_t v, uint32_t w, lt_node *t) {
    uint32_t s = w;
    while (t[w].lsemi < t[t[s].child].lsemi) {
        uint32_t cs = t[s].child, ccs = t[cs].child;
        if (t[s].size + t[ccs].size >= 2 * t[cs].size) {
            t[cs].ancestor = s;
            t[s].child = ccs;
        } else {
            t[cs].size = t[s].size;
            t[s].ancestor = cs;
            s = cs;
        }
    }
    t[s].label = t[w].label;
    t[s].lsemi = t[w].lsemi;
    t[v].size += t[w].size;
    if (t[v].size < 2 * t[w].size) {
        uint32_t x = s;
        s = t[v].child;
        t[v].child = x;
    }
    while (s != 0) {
        t[s].ancestor = v;
        s = t[s].child;
    }
}

int mt_dominators_compute(const mt_graph *g, mt_dominators *d, mt_diag *diag) {
    memset(d, 0, sizeof *d);
    if (need_refs(g, diag)) return MT_E_INVAL;
    uint32_t n = g->n_objects;
    size_t cap = (size_t)n + 2;
    uint32_t *num = malloc(cap * 4), *vertex = malloc(cap * 4), *parent = malloc(cap * 4), *idom = malloc(cap * 4),
             *bucket = malloc(cap * 4), *stk = malloc(cap * 4), *cur = malloc(cap * 4);
    lt_node *t = malloc(cap * sizeof *t);
    uint8_t *is_root = calloc(cap, 1);
    int rc = MT_E_NOMEM;
    if (!num || !vertex || !parent || !idom || !bucket || !stk || !cur || !t || !is_root) goto out;
    for (uint32_t r = 0; r < g->n_roots; r++) is_root[g->root_obj[r]] = 1;

    uint32_t N = number(g, num, vertex, parent, stk, cur);
    free(cur);
    cur = NULL;
    /* From here on, DFS number k is forest vertex k + 1. */
    t[0] = (lt_node){ 0, 0, 0, 0, 0, 0 };
    for (uint32_t k = 1; k <= N; k++) t[k] = (lt_node){ 0, k, k, 0, 1, k };
    for (uint32_t k = 0; k <= N; k++) bucket[k] = NONE;
    /* The buckets (by forest vertex) chain DFS numbers through idom, which
     * is only written once a vertex has left its bucket. */
    uint32_t *bchain = idom;
    uint32_t ps[64];
    for (uint32_t w = N - 1; w >= 1; w--) {
        /* Every load below misses the cache on a big heap: ask for the
         * next vertices' edge lists early, and gather a vertex's
         * predecessors before walking the forest from any of them, so
         * that the misses overlap instead of queueing. */
        if (w > 4) __builtin_prefetch(&g->in_off[vertex[w - 4]]);
        if (w > 2) {
            uint32_t v2 = vertex[w - 2];
            __builtin_prefetch(&is_root[v2]);
            __builtin_prefetch(&g->in_src[g->in_off[v2]]);
        }
        uint32_t v = vertex[w], W = w + 1, sw = is_root[v] ? 1 : W;
        uint32_t e = g->in_off[v], end = g->in_off[v + 1];
        while (e < end) {
            uint32_t k = 0;
            for (; e < end && k < 64; e++) {
                uint32_t s = g->in_src[e];
                if (s & MT_GRAPH_WEAK) continue;
                uint32_t p = num[s];
                /* A vertex not processed yet is its own eval, and its
                 * semi is its number. */
                if (p == NONE) continue;
                if (p < w) {
                    if (p + 1 < sw) sw = p + 1;
                    continue;
                }
                __builtin_prefetch(&t[p + 1]);
                ps[k++] = p + 1;
            }
            for (uint32_t i = 0; i < k; i++) {
                uint32_t c;
                eval(ps[i], t, stk, &c);
                if (c < sw) sw = c;
            }
        }
        t[W].semi = t[W].lsemi = sw;
        bchain[w] = bucket[sw];
        bucket[sw] = w;
        uint32_t PW = parent[w] + 1;
        link(PW, W, t);
        for (uint32_t x = bucket[PW]; x != NONE;) {
            uint32_t nx = bchain[x], c;
            uint32_t u = eval(x + 1, t, stk, &c);
            bchain[x] = c < t[x + 1].semi ? u - 1 : parent[w]; /* now x's idom, or to be fixed below */
            x = nx;
        }
        bucket[PW] = NONE;
    }
    idom[0] = 0;
    for (uint32_t w = 1; w < N; w++)
        if (idom[w] != t[w + 1].semi - 1) idom[w] = idom[idom[w]];

    /* Retained sizes bottom up: an idom always has a smaller number. */
    d->retained = calloc(n ? n : 1, 8);
    d->retained_count = calloc(n ? n : 1, 4);
    d->idom = malloc((n ? n : 1) * 4);
    d->order = malloc((N > 1 ? N - 1 : 1) * 4);
    uint64_t *ret = (uint64_t *)t; /* the forest is no longer needed */
    if (!d->retained || !d->retained_count || !d->idom || !d->order) {
        mt_dominators_free(d);
        goto out;
    }
    uint32_t *count = bucket; /* the buckets are empty now */
    for (uint32_t k = 1; k < N; k++) {
        ret[k] = (g->flags[vertex[k]] & MT_OBJ_LOST) ? 0 : g->size[vertex[k]];
        count[k] = 1;
    }
    ret[0] = 0;
    count[0] = 0;
    for (uint32_t k = N - 1; k >= 1; k--) {
        ret[idom[k]] = mt_sat_add_u64(ret[idom[k]], ret[k]); /* sizes come from the file */
        count[idom[k]] += count[k];
    }
    for (uint32_t i = 0; i < n; i++) d->idom[i] = MT_DOM_NONE;
    for (uint32_t k = 1; k < N; k++) {
        uint32_t v = vertex[k];
        d->idom[v] = idom[k] ? vertex[idom[k]] : MT_DOM_ROOT;
        d->retained[v] = ret[k];
        d->retained_count[v] = count[k];
        d->order[k - 1] = v;
    }
    d->n_objects = n;
    d->n_reachable = N - 1;
    for (uint32_t i = 0; i < n; i++) {
        if (g->flags[i] & MT_OBJ_LOST) continue;
        uint64_t b = g->size[i];
        if (d->idom[i] == MT_DOM_NONE) {
            d->n_unreachable++;
            d->unreachable_bytes = mt_sat_add_u64(d->unreachable_bytes, b);
        } else
            d->reachable_bytes = mt_sat_add_u64(d->reachable_bytes, b);
    }
    rc = 0;
out:
    free(num);
    free(vertex);
    free(parent);
    free(idom);
    free(bucket);
    free(stk);
    free(cur);
    free(t);
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
            if (!open[g->type[c]]++) out[g->type[c]] = mt_sat_add_u64(out[g->type[c]], d->retained[c]);
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
