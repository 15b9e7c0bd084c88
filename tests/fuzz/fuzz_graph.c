/* libFuzzer target for the analyses over a loaded snapshot: whatever a
 * salvage makes of the bytes, dominators, retained sizes, paths, cycles,
 * call stacks and diffs must hold their invariants and never crash.
 * Seeds: testdata/ *.snap and testdata/damaged. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "memtrace/analyze.h"

static void check_graph(const mt_snapshot *s) {
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
        if (i == MT_DOM_ROOT) bytes += d.retained[v];
    }
    if (bytes != d.reachable_bytes) __builtin_trap();
    uint64_t *tr = malloc(((size_t)g->n_types + 1) * 8);
    if (tr && mt_dominators_type_retained(g, &d, tr, NULL) == 0) {
        uint64_t sum = 0;
        for (uint32_t t = 0; t < g->n_types; t++) sum += tr[t];
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mt_snapshot *s;
    if (mt_snapshot_load_mem(data, size, "fuzz", MT_LOAD_LABELS | MT_LOAD_SALVAGE, &s, NULL)) return 0;
    check_graph(s);
    for (int by = MT_BY_TYPE; by <= MT_BY_DEVICE; by++) {
        mt_diff d;
        if (mt_diff_compute(s, s, (mt_group_by)by, &d, NULL)) continue;
        if (d.total.count_a != d.total.count_b || d.total.bytes_a != d.total.bytes_b) __builtin_trap();
        mt_diff_sort(&d, MT_DIFF_BY_DELTA);
        mt_diff_free(&d);
    }
    /* The DataFrame table, and every pair of its sketches. */
    mt_df_table *t;
    if (mt_df_table_load(s, &t, NULL) == 0) {
        for (size_t i = 0; i < t->n_columns && i < 8; i++)
            for (size_t j = 0; j < t->n_columns && j < 8; j++) {
                const mt_df_sketch *a = t->columns[i].sketch, *b = t->columns[j].sketch;
                mt_kmv_estimate e;
                if (a && b) mt_kmv_compare(a->data.ptr, a->data.len, i & 1, b->data.ptr, b->data.len, j & 1, &e);
            }
        mt_df_table_free(t);
    }
    mt_snapshot_free(s);
    return 0;
}
