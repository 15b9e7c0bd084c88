/* libFuzzer target for the snapshot reader and loader: any bytes must give
 * either an error or a consistent snapshot, never a crash, a leak or
 * undefined behaviour. Seeds: testdata/ *.snap and testdata/damaged. */
#include <stddef.h>
#include <stdint.h>
#include "memtrace/analyze.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mt_reader *r;
    if (mt_reader_open_mem(data, size, "fuzz", &r, NULL) == 0) {
        for (size_t i = 0; i < mt_reader_block_count(r); i++) {
            mt_cursor c;
            mt_record rec;
            if (mt_reader_block_open(r, i, &c, NULL)) continue;
            while (mt_cursor_next(&c, &rec.u, NULL) == 1) {}
        }
        mt_reader_free(r);
    }
    mt_snapshot *s;
    if (mt_snapshot_load_mem(data, size, "fuzz", MT_LOAD_LABELS | MT_LOAD_SALVAGE, &s, NULL) == 0) {
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
        mt_snapshot_free(s);
    }
    return 0;
}
