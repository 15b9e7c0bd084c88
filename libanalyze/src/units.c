/* Human-readable sizes (units.h). */
#include <inttypes.h>
#include <stdio.h>
#include "memtrace/units.h"

const char *mt_human_bytes(uint64_t n, char *buf) {
    static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    if (n < 1024) {
        snprintf(buf, 16, "%" PRIu64 " B", n);
        return buf;
    }
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 6) {
        v /= 1024;
        u++;
    }
    snprintf(buf, 16, "%.1f %s", v, units[u]);
    return buf;
}
