/* Invariants of a loaded snapshot that every fuzz target over the
 * container checks: the graph's arrays agree with each other (the reader
 * target), and the analyses over it hold theirs (the graph target). A
 * broken invariant traps, so libFuzzer and tests/fuzz/replay.c report it. */
#ifndef MT_FUZZ_CHECKS_H
#define MT_FUZZ_CHECKS_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "memtrace/analyze.h"
#include "memtrace/checked.h"

static inline void check_consistent(const mt_snapshot *s) {
    /* The graph must be internally consistent. */
    const mt_graph *g = mt_snapshot_graph(s);
    for (uint32_t u = 0; u < g->n_objects; u++) {
        if (g->type[u] >= g->n_types) __builtin_trap();
        for (uint32_t e = g->out_off[u]; e < g->out_off[u + 1]; e++) {
            if ((g->out_dst[e] & MT_GRAPH_INDEX) >= g->n_objects) __builtin_trap();
            (void)mt_snapshot_ref_label(s, e);
        }
    }
    if (g->out_off[g->n_objects] != g->n_refs || g->in_off[g->n_objects] != g->n_refs) __builtin_trap();
    for (uint32_t i = 0; i < g->n_roots; i++)
        if (g->root_obj[i] >= g->n_objects) __builtin_trap();
}

static inline void check_graph(const mt_snapshot *s) {
    const mt_graph *g = mt_snapshot_graph(s);
    mt_dominators d;
    if (mt_dominators_compute(g, &d, NULL)) return;
    uint64_t bytes = 0;
    for (uint32_t v = 0; v < g->n_objects; v++) {
        uint32_t i = d.idom[v];
        if (i != MT_DOM_ROOT && i != MT_DOM_NONE) {
            /* A dominator is reachable and retains at least what v does. */
            if (i >= g->n_objects || d.idom[i] == MT_DOM_NONE || d.retained[i] < d.retained[v]) __builtin_trap();
        }
        /* Sizes past 2^64 - 1 saturate there (huge-sizes-cycle.snap). */
        if (i == MT_DOM_ROOT) bytes = mt_sat_add_u64(bytes, d.retained[v]);
    }
    if (bytes != d.reachable_bytes) __builtin_trap();
    uint64_t *tr = malloc(((size_t)g->n_types + 1) * 8);
    if (tr && mt_dominators_type_retained(g, &d, tr, NULL) == 0) {
        uint64_t sum = 0;
        for (uint32_t t = 0; t < g->n_types; t++) sum = mt_sat_add_u64(sum, tr[t]);
        if (sum < bytes) __builtin_trap(); /* each object counts at least once */
    }
    free(tr);
    uint32_t top[4];
    uint32_t k = mt_dominators_top(&d, 4, top);
    for (uint32_t j = 1; j < k; j++)
        if (d.retained[top[j]] > d.retained[top[j - 1]]) __builtin_trap();
    for (uint32_t v = 0; v < g->n_objects && v < 8; v++) {
        mt_path p;
        int rc = mt_path_to_root(g, v, &p, NULL);
        if ((rc == 0) != (d.idom[v] != MT_DOM_NONE)) __builtin_trap();
        if (rc == 0 && (p.obj[p.len - 1] != v || g->root_obj[p.root] != p.obj[0])) __builtin_trap();
        mt_path_free(&p);
    }
    mt_cycles c;
    if (mt_cycles_compute(g, &c, NULL) == 0) {
        for (uint32_t j = 0; j < c.n_cyclic; j++)
            if (c.cyclic[j].first >= g->n_objects || c.comp[c.cyclic[j].first] != c.cyclic[j].comp) __builtin_trap();
        mt_cycles_free(&c);
    }
    mt_dominators_free(&d);
}

/* A snapshot diffed against itself: equal sides, nothing new or freed. */
static inline void check_self_diff(const mt_snapshot *s) {
    for (int by = MT_BY_TYPE; by <= MT_BY_DEVICE; by++) {
        mt_diff d;
        if (mt_diff_compute(s, s, (mt_group_by)by, &d, NULL)) continue;
        if (d.total.count_a != d.total.count_b || d.total.bytes_a != d.total.bytes_b) __builtin_trap();
        /* Matched by id, every object of a file is kept against itself. */
        if (d.matched && (d.total.new_count || d.total.freed_count)) __builtin_trap();
        mt_diff_sort(&d, MT_DIFF_BY_DELTA);
        mt_diff_free(&d);
    }
}

#endif
