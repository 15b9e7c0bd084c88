/* Human-readable sizes (units.h). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "memtrace/checked.h"
#include "memtrace/errors.h"
#include "memtrace/units.h"

const char *mt_human_bytes(uint64_t n, char *buf) {
    static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    /* A total that saturated (checked.h's mt_sat_add_u64) is not 16.0 EiB. */
    if (n == UINT64_MAX) return "more than 16 EiB";
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

const char *mt_signed_bytes(int64_t n, char *buf) {
    char h[16];
    snprintf(buf, 24, "%s%s", n < 0 ? "-" : n > 0 ? "+" : "",
             mt_human_bytes(n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n, h));
    return buf;
}

const char *mt_change_bytes(uint64_t a, uint64_t b, char *buf) {
    char h[16];
    if (a == UINT64_MAX || b == UINT64_MAX) return "unknown";
    snprintf(buf, 24, "%s%s", b < a ? "-" : b > a ? "+" : "", mt_human_bytes(b < a ? a - b : b - a, h));
    return buf;
}

int mt_size_parse(const char *s, double *out) {
    static const struct { const char *unit; double scale; } units[] = {
        { "", 1 }, { "B", 1 }, { "KB", 1e3 }, { "MB", 1e6 }, { "GB", 1e9 }, { "TB", 1e12 },
        { "KiB", 1024.0 }, { "MiB", 1048576.0 }, { "GiB", 1073741824.0 }, { "TiB", 1099511627776.0 },
    };
    if (!s || !*s || isspace((unsigned char)*s)) return MT_E_PARSE;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s) return MT_E_PARSE;
    if (errno == ERANGE) return MT_E_RANGE;
    while (*end == ' ') end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].unit)) {
            v *= units[i].scale;
            if (!isfinite(v)) return MT_E_RANGE;
            *out = v;
            return 0;
        }
    return MT_E_PARSE;
}

int mt_bytes_parse(const char *s, uint64_t *out) {
    static const struct { const char *unit; uint64_t scale; } units[] = {
        { "", 1 },
        { "B", 1 },
        { "KB", 1000 },
        { "MB", 1000000 },
        { "GB", 1000000000 },
        { "TB", 1000000000000 },
        { "PB", 1000000000000000 },
        { "EB", 1000000000000000000 },
        { "KiB", (uint64_t)1 << 10 },
        { "MiB", (uint64_t)1 << 20 },
        { "GiB", (uint64_t)1 << 30 },
        { "TiB", (uint64_t)1 << 40 },
        { "PiB", (uint64_t)1 << 50 },
        { "EiB", (uint64_t)1 << 60 },
    };
    if (!s) return MT_E_PARSE;
    const char *p = s;
    uint64_t whole = 0, frac = 0, den = 1;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++)
        if (mt_mul_u64(whole, 10, &whole) || mt_add_u64(whole, (uint64_t)(*p - '0'), &whole)) return MT_E_RANGE;
    if (!digits) return MT_E_PARSE;
    if (*p == '.') {
        int fd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, fd++) {
            /* 10^19 overflows: a longer fraction can name no whole byte
             * that a shorter one cannot, once trailing zeros go. */
            if (fd >= 18) {
                if (*p != '0') return MT_E_PARSE;
                continue;
            }
            frac = frac * 10 + (uint64_t)(*p - '0');
            den *= 10;
        }
        if (!fd) return MT_E_PARSE;
    }
    int space = *p == ' ';
    p += space;
    for (size_t i = space ? 1 : 0; i < sizeof units / sizeof units[0]; i++) { /* "1 " is no size */
        if (strcmp(p, units[i].unit)) continue;
        uint64_t v, part;
        if (mt_mul_u64(whole, units[i].scale, &v)) return MT_E_RANGE;
        if (frac) {
            /* frac * scale / den exactly, in 128 bits: no rounding. */
            unsigned __int128 f = (unsigned __int128)frac * units[i].scale;
            if (f % den) return MT_E_PARSE; /* part of a byte */
            f /= den;
            if (f > UINT64_MAX) return MT_E_RANGE;
            part = (uint64_t)f;
            if (mt_add_u64(v, part, &v)) return MT_E_RANGE;
        }
        *out = v;
        return 0;
    }
    return MT_E_PARSE;
}
