/* libFuzzer target for the JSON heap document reader. The snapshot it
 * writes goes to /dev/null. Seeds: testdata/ *.json. */
#include <stdio.h>
#include "memtrace/analyze.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f) return 0;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_heapjson_import(f, "/dev/null", &d) != 0 && d.msg[0] == 0) __builtin_trap(); /* errors say why */
    fclose(f);
    return 0;
}
