/* libFuzzer target for the snapshot reader and loader: any bytes must give
 * either an error or a consistent snapshot, never a crash, a leak or
 * undefined behaviour. Seeds: testdata/ *.snap and testdata/damaged. */
#include <stddef.h>
#include <stdint.h>
#include "memtrace/analyze.h"
#include "checks.h"

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
        check_consistent(s);
        mt_snapshot_free(s);
    }
    return 0;
}
