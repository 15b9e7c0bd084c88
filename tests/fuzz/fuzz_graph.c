/* libFuzzer target for the analyses over a loaded snapshot: whatever a
 * salvage makes of the bytes, dominators, retained sizes, paths, cycles,
 * call stacks and diffs must hold their invariants and never crash.
 * Seeds: testdata/ *.snap and testdata/damaged. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "memtrace/analyze.h"
#include "checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mt_snapshot *s;
    if (mt_snapshot_load_mem(data, size, "fuzz", MT_LOAD_LABELS | MT_LOAD_SALVAGE, &s, NULL)) return 0;
    check_graph(s);
    check_self_diff(s);
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
