/* What memtrace knows of how pandas lays a column out in memory: dtype
 * widths and which integer dtype a value range fits (frames.h). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "memtrace/frames.h"

/* min..max as signed 64-bit bounds; 0 when a value is not an integer.
 * *big is set when max exceeds INT64_MAX. */
static int as_int(const mt_value *v, int64_t *out, int *big) {
    switch (v->type) {
    case MT_VAL_INT: *out = v->v.i; return 1;
    case MT_VAL_UINT:
        if (v->v.u > INT64_MAX) {
            *big = 1;
            *out = INT64_MAX;
        } else
            *out = (int64_t)v->v.u;
        return 1;
    case MT_VAL_BOOL: *out = v->v.b; return 1;
    case MT_VAL_FLOAT:
        if (!(v->v.f >= -9223372036854775808.0 && v->v.f < 9223372036854775808.0) || v->v.f != trunc(v->v.f))
            return 0;
        *out = (int64_t)v->v.f;
        return 1;
    default: return 0;
    }
}

const char *mt_df_int_fit(const mt_value *min, const mt_value *max) {
    int64_t lo, hi;
    int big = 0;
    if (!as_int(min, &lo, &big) || !as_int(max, &hi, &big)) return NULL;
    if (big) return lo >= 0 ? "uint64" : NULL;
    static const struct { const char *name; int64_t lo, hi; } fits[] = {
        { "int8", INT8_MIN, INT8_MAX }, { "uint8", 0, UINT8_MAX }, { "int16", INT16_MIN, INT16_MAX },
        { "uint16", 0, UINT16_MAX }, { "int32", INT32_MIN, INT32_MAX }, { "uint32", 0, UINT32_MAX },
        { "int64", INT64_MIN, INT64_MAX },
    };
    for (size_t i = 0; i < sizeof fits / sizeof fits[0]; i++)
        if (lo >= fits[i].lo && hi <= fits[i].hi) return fits[i].name;
    return NULL;
}

unsigned mt_df_itemsize(const char *dtype, size_t len) {
    static const struct { const char *name; unsigned size; } known[] = {
        { "int8", 1 }, { "uint8", 1 }, { "int16", 2 }, { "uint16", 2 }, { "int32", 4 }, { "uint32", 4 },
        { "int64", 8 }, { "uint64", 8 }, { "float16", 2 }, { "float32", 4 }, { "float64", 8 }, { "bool", 1 },
        { "object", 8 }, { "complex64", 8 }, { "complex128", 16 },
    };
    /* Nullable Int8, UInt16, Float64 have their numpy twin's width. */
    char low[16];
    if (len < sizeof low && (dtype[0] == 'I' || dtype[0] == 'U' || dtype[0] == 'F')) {
        memcpy(low, dtype, len);
        low[0] = (char)(low[0] - 'A' + 'a');
        if (low[0] == 'u' && len > 1) low[1] = (char)(low[1] == 'I' ? 'i' : low[1]);
        low[len] = 0;
        dtype = low;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == len && !memcmp(known[i].name, dtype, len)) return known[i].size;
    if (len >= 10 && (!memcmp(dtype, "datetime64", 10) || (len >= 11 && !memcmp(dtype, "timedelta64", 11))))
        return 8;
    return 0;
}
