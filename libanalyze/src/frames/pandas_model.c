/* The pandas model (pandas_model.h): dtype families and widths, which
 * integer dtype a value range fits (frames.h), codes, objects and khash
 * tables, as pandas 1.5 has them. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "memtrace/frames.h"
#include "frames/pandas_model.h"

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

unsigned mt__pandas_dtype_itemsize(const char *dtype, size_t len) {
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

unsigned mt_df_itemsize(const char *dtype, size_t len) {
    return mt__pandas_dtype_itemsize(dtype, len);
}

static int starts(const char *s, const char *prefix) {
    return !strncmp(s, prefix, strlen(prefix));
}

const char *mt__pandas_dtype_kind(const char *d) {
    if (starts(d, "Sparse[")) return "sparse";
    if (starts(d, "uint")) return "uint";
    if (starts(d, "int")) return "int";
    if (starts(d, "float")) return "float";
    if (starts(d, "complex")) return "complex";
    if (!strcmp(d, "bool")) return "bool";
    if (!strcmp(d, "object")) return "object";
    if (starts(d, "string")) return "string";
    if (!strcmp(d, "category")) return "category";
    if (starts(d, "datetime64")) return "datetime";
    if (starts(d, "timedelta64")) return "timedelta";
    if (starts(d, "period")) return "period";
    if (starts(d, "Int") || starts(d, "UInt")) return "nullable_int";
    if (starts(d, "Float")) return "nullable_float";
    if (!strcmp(d, "boolean")) return "boolean";
    return "other";
}

unsigned mt__pandas_dtype_row_bytes(const char *dtype) {
    if (!strcmp(dtype, "boolean")) return 2;
    unsigned item = mt__pandas_dtype_itemsize(dtype, strlen(dtype));
    /* Int8 ... UInt64, Float32, Float64: a mask byte beside each value. */
    if (item && (dtype[0] == 'I' || dtype[0] == 'U' || dtype[0] == 'F')) return item + 1;
    return item;
}

int mt__pandas_dtype_is_object(const char *dtype) {
    return !strcmp(dtype, "object") || starts(dtype, "string");
}

int mt__pandas_dtype_may_fit_int(const char *d) {
    /* Anywhere in the name: "datetime64[ns, UTC]", "Sparse[bool]",
     * "interval[int64, right]" (whose "int" must not count). */
    return !(strstr(d, "date") || strstr(d, "time") || strstr(d, "period") || strstr(d, "bool") ||
             strstr(d, "category") || strstr(d, "interval"));
}

int mt__pandas_dtype_is_category(const char *dtype) {
    return !strcmp(dtype, "category");
}

void mt__pandas_nullable_int_name(const char *numpy_int, char *buf, size_t n) {
    if (!n) return;
    if (starts(numpy_int, "uint")) snprintf(buf, n, "UInt%s", numpy_int + 4);
    else if (starts(numpy_int, "int")) snprintf(buf, n, "Int%s", numpy_int + 3);
    else buf[0] = 0;
}

unsigned mt__pandas_code_bytes(double k) {
    return k < 127 ? 1 : k < 32767 ? 2 : k < 2147483647.0 ? 4 : 8;
}

double mt__pandas_ascii_str_bytes(double len) {
    return 49.0 + len;
}

/* khash_python.h's __ac_HASH_UPPER and hashtable_class_helper's
 * SIZE_HINT_LIMIT. */
#define KH_UPPER 0.77
#define KH_HINT_LIMIT ((double)((1u << 20) + 7))

/* The most keys a table of nb buckets holds before it doubles. */
static double upper_bound(double nb) {
    return floor(nb * KH_UPPER + 0.5);
}

/* kh_needed_n_buckets: the smallest power of two whose upper bound is at
 * least n. */
static double needed_buckets(double n) {
    double nb = 1;
    while (nb < n) nb *= 2;
    return upper_bound(nb) < n ? 2 * nb : nb;
}

double mt__pandas_hashtable_buckets(double size_hint, double n_keys) {
    /* The table made for the hint: kh_resize rounds the capped hint up to
     * a power of two, at least 4. */
    double want = fmin(needed_buckets(size_hint), KH_HINT_LIMIT), nb = 4;
    while (nb < want) nb *= 2;
    /* kh_put doubles it when a new key finds it at its upper bound. */
    while (upper_bound(nb) < n_keys) nb *= 2;
    return nb;
}

double mt__pandas_hashtable_bytes(double size_hint, double n_keys, unsigned key_bytes) {
    double nb = mt__pandas_hashtable_buckets(size_hint, n_keys);
    /* kh_<type>_t: four uint32 counters and three pointers. */
    double header = 4 * 4 + 3 * 8;
    double flag_words = fmax(floor(nb / 32), 1);
    return header + 4 * flag_words + nb * (key_bytes + 8);
}

double mt__pandas_categories_bytes(double k, double item, double objects) {
    return k * item + objects + mt__pandas_hashtable_bytes(k, k, 8);
}

double mt__pandas_vector_bytes(double n, int object) {
    double cap = 128;
    while (cap < n) cap *= object ? 2 : 4;
    return 8 * cap;
}
