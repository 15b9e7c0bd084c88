/* memtrace._memtrace.column_stats: one pass in C over a DataFrame column's
 * values, without copying them, for memtrace.dump_frames.
 *
 * Distinct values are counted with Wegman's adaptive sampling: a set of
 * value hashes kept exact until it holds HSET_MAX entries, then only the
 * hashes below a threshold that halves whenever the set fills again. The
 * count is exact for columns of up to HSET_MAX distinct values and within
 * about 1/sqrt(HSET_MAX/2) (0.6%) beyond, in bounded memory; and the set
 * always holds the smallest hashes, which are the kmv sketch. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "cpython.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/valhash.h"
#include "colstats.h"
#include "datefmt.h"

#define HSET_MAX (1u << 16)  /* entries; the table is twice that: 1 MiB, in L2 */

/* An adaptive sample of 64-bit hashes, with an optional byte count per
 * entry (for the distinct objects of an object column). */
typedef struct hset {
    uint64_t *key;     /* 0: empty */
    uint64_t *val;     /* NULL unless counting bytes */
    size_t slots, count;
    uint64_t limit;    /* hashes above it are not sampled */
    int with_val;
} hset;

static int hset_init(hset *s, int with_val) {
    memset(s, 0, sizeof *s);
    s->slots = 64;
    s->limit = UINT64_MAX;
    s->with_val = with_val;
    s->key = calloc(s->slots, sizeof *s->key);
    if (with_val) s->val = calloc(s->slots, sizeof *s->val);
    return s->key && (!with_val || s->val) ? 0 : -1;
}

static void hset_free(hset *s) {
    free(s->key);
    free(s->val);
}

static void hset_place(uint64_t *key, uint64_t *val, size_t mask, uint64_t h, uint64_t v) {
    size_t i = (size_t)(h >> 7) & mask;
    while (key[i]) i = (i + 1) & mask;
    key[i] = h;
    if (val) val[i] = v;
}

/* Rebuilds into slots entries, keeping only hashes up to the limit. */
static int hset_rebuild(hset *s, size_t slots) {
    uint64_t *key = calloc(slots, sizeof *key), *val = NULL;
    if (!key || (s->with_val && !(val = calloc(slots, sizeof *val)))) {
        free(key);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->slots; i++) {
        if (!s->key[i] || s->key[i] > s->limit) continue;
        hset_place(key, val, slots - 1, s->key[i], s->val ? s->val[i] : 0);
        n++;
    }
    free(s->key);
    free(s->val);
    s->key = key;
    s->val = val;
    s->slots = slots;
    s->count = n;
    return 0;
}

/* Adds h (with v bytes when counting them) unless above the limit or
 * already there. */
static inline int hset_add(hset *s, uint64_t h, uint64_t v) {
    if (!h) h = 1;
    if (h > s->limit) return 0;
    size_t mask = s->slots - 1, i = (size_t)(h >> 7) & mask;
    while (s->key[i]) {
        if (s->key[i] == h) return 0;
        i = (i + 1) & mask;
    }
    s->key[i] = h;
    if (s->val) s->val[i] = v;
    if (++s->count * 2 <= s->slots) return 0;
    if (s->slots < 2 * (size_t)HSET_MAX) return hset_rebuild(s, s->slots * 2);
    /* Full: sample half as much. */
    while (s->count * 2 > s->slots / 2 + s->slots / 4) {
        s->limit >>= 1;
        if (hset_rebuild(s, s->slots)) return -1;
    }
    return 0;
}

/* The fraction of the hash space sampled. */
static double hset_rate(const hset *s) {
    return s->limit == UINT64_MAX ? 1.0 : ((double)s->limit + 1.0) / 18446744073709551616.0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The k smallest hashes, sorted, as little-endian bytes. The sampled
 * hashes are uniform below the limit, so the k smallest are almost surely
 * below a cut that expects 2k of them: only those are sorted. */
static PyObject *hset_sketch(const hset *s, size_t k) {
    if (!k) return PyBytes_FromStringAndSize(NULL, 0);
    uint64_t *all = malloc((s->count ? s->count : 1) * sizeof *all);
    if (!all) return PyErr_NoMemory();
    uint64_t cut = UINT64_MAX;
    if (k && s->count > 4 * k) cut = (uint64_t)((double)s->limit * (2.0 * (double)k / (double)s->count));
    size_t n;
    for (;;) {
        n = 0;
        for (size_t i = 0; i < s->slots; i++)
            if (s->key[i] && s->key[i] <= cut) all[n++] = s->key[i];
        if (n >= k || cut == UINT64_MAX) break;
        cut = UINT64_MAX;
    }
    qsort(all, n, sizeof *all, cmp_u64);
    if (n > k) n = k;
    PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
    if (b) {
        unsigned char *p = (unsigned char *)PyBytes_AS_STRING(b);
        for (size_t i = 0; i < n; i++)
            for (int j = 0; j < 8; j++) p[i * 8 + j] = (unsigned char)(all[i] >> (8 * j));
    }
    free(all);
    return b;
}

/* Misra-Gries heavy hitters over value hashes: any value more frequent
 * than rows / (cap + 1) is surely among the counters, whose counts are
 * then made exact by a second pass over the column (recount). */
typedef struct mg {
    uint64_t *key, *cnt;
    Py_ssize_t *row;   /* first row holding the value */
    size_t n, cap;
    int32_t *idx;      /* open addressing over key, -1 empty */
    size_t slots;
} mg;

static int mg_init(mg *m, size_t cap) {
    memset(m, 0, sizeof *m);
    m->cap = cap;
    m->slots = 1;
    while (m->slots < 2 * cap) m->slots <<= 1;
    m->key = malloc(cap * sizeof *m->key);
    m->cnt = malloc(cap * sizeof *m->cnt);
    m->row = malloc(cap * sizeof *m->row);
    m->idx = malloc(m->slots * sizeof *m->idx);
    if (!m->key || !m->cnt || !m->row || !m->idx) return -1;
    memset(m->idx, 0xff, m->slots * sizeof *m->idx);
    return 0;
}

static void mg_free(mg *m) {
    free(m->key);
    free(m->cnt);
    free(m->row);
    free(m->idx);
}

static int32_t *mg_slot(mg *m, uint64_t h) {
    size_t i = (size_t)(h >> 11) & (m->slots - 1);
    while (m->idx[i] >= 0 && m->key[m->idx[i]] != h) i = (i + 1) & (m->slots - 1);
    return &m->idx[i];
}

static void mg_add(mg *m, uint64_t h, Py_ssize_t row) {
    int32_t *at = mg_slot(m, h);
    if (*at >= 0) {
        m->cnt[*at]++;
        return;
    }
    if (m->n < m->cap) {
        *at = (int32_t)m->n;
        m->key[m->n] = h;
        m->cnt[m->n] = 1;
        m->row[m->n++] = row;
        return;
    }
    /* Full: every counter loses one, and the new value is dropped. At
     * most rows / (cap + 1) such rounds, so O(1) a row amortized. */
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        if (--m->cnt[i]) {
            m->key[k] = m->key[i];
            m->cnt[k] = m->cnt[i];
            m->row[k++] = m->row[i];
        }
    m->n = k;
    memset(m->idx, 0xff, m->slots * sizeof *m->idx);
    for (size_t i = 0; i < m->n; i++) *mg_slot(m, m->key[i]) = (int32_t)i;
}

/* Half-precision floats ('e'), which numpy exports for float16. */
static double half_to_double(uint16_t h) {
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return h & 0x8000 ? -v : v;
}

/* Reads element i of a 1-D buffer of signed or unsigned integers. */
static inline int64_t read_int(const char *p, Py_ssize_t size) {
    switch (size) {
    case 1: return *(const int8_t *)p;
    case 2: { int16_t v; memcpy(&v, p, 2); return v; }
    case 4: { int32_t v; memcpy(&v, p, 4); return v; }
    default: { int64_t v; memcpy(&v, p, 8); return v; }
    }
}

static inline uint64_t read_uint(const char *p, Py_ssize_t size) {
    switch (size) {
    case 1: return *(const uint8_t *)p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

/* Where a column's values are: read by both passes. */
typedef struct colsrc {
    int kind, cls;
    const char *base, *mbase, *codes;
    Py_ssize_t n, stride, itemsize, mstride, ncodes;
    PyObject *nulls;
} colsrc;

/* A number of row i, as its kind reads it. */
typedef union rowval {
    double f;
    int64_t i;
    uint64_t u;
} rowval;

/* Reads row i of a column of numbers, booleans, times or codes (not
 * objects): 0 for a null (masked, NaN, NaT, code -1), else 1 with the
 * value in *v and its value hash in *h. */
static inline int read_row(const colsrc *c, Py_ssize_t i, rowval *v, uint64_t *h) {
    const char *p = c->base + i * c->stride;
    if (c->mbase && c->mbase[i * c->mstride]) return 0;
    switch (c->kind) {
    case 'f':
        if (c->itemsize == 8) memcpy(&v->f, p, 8);
        else if (c->itemsize == 4) { float f; memcpy(&f, p, 4); v->f = f; }
        else { uint16_t u; memcpy(&u, p, 2); v->f = half_to_double(u); }
        if (isnan(v->f)) return 0;
        *h = mt_hash_double(v->f);
        return 1;
    case 'c':
        v->i = read_int(p, c->itemsize);
        if (v->i < 0 || v->i >= c->ncodes) return 0;
        memcpy(h, c->codes + v->i * 8, 8);
        return 1;
    case 't':
        v->i = read_int(p, c->itemsize);
        if (v->i == INT64_MIN) return 0;  /* NaT */
        *h = mt_hash_time(v->i);
        return 1;
    case 'i':
        v->i = read_int(p, c->itemsize);
        *h = mt_hash_int(v->i);
        return 1;
    default: /* 'u', 'b' */
        v->u = c->cls == 'b' ? (uint64_t)(*(const unsigned char *)p != 0) : read_uint(p, c->itemsize);
        *h = mt_hash_uint(v->u);
        return 1;
    }
}

/* What one pass gathers. */
typedef struct acc {
    uint64_t n, nulls;
    int kind;                 /* 'i', 'u', 'f', 'b', 't', 'c', 'O' */
    int have;                 /* a non-null value was seen */
    int64_t imin, imax;
    uint64_t umin, umax;
    double fmin, fmax, fprev;
    int64_t iprev;
    uint64_t uprev;
    int sorted, integral, f32_exact;
    double f32_err;
    hset distinct;
    /* Object columns. */
    hset objects;
    uint64_t sizeof_total, text, len_min, len_max, len_total;
    PyTypeObject *first_type;
    int mixed;
    uint64_t dates;           /* strings in ISO 8601 date or date-time form */
    mt_datefmt dt;            /* the one layout of the non-null values, if any (datefmt.h) */
    uint64_t *hashes;         /* per row, when asked for */
    mg *top;                  /* heavy hitters, when asked for */
} acc;

/* Row i's hash h (not a null's) goes to what was asked for. */
static inline void acc_row(acc *a, Py_ssize_t i, uint64_t h) {
    if (a->hashes) a->hashes[i] = h;
    if (a->top) mg_add(a->top, h, i);
}

static inline int acc_int(acc *a, int64_t v, uint64_t h) {
    if (!a->have) {
        a->imin = a->imax = v;
        a->have = 1;
    } else {
        if (v < a->iprev) a->sorted = 0;
        if (v < a->imin) a->imin = v;
        if (v > a->imax) a->imax = v;
    }
    a->iprev = v;
    a->n++;
    return hset_add(&a->distinct, h, 0);
}

static inline int acc_uint(acc *a, uint64_t v, uint64_t h) {
    if (!a->have) {
        a->umin = a->umax = v;
        a->have = 1;
    } else {
        if (v < a->uprev) a->sorted = 0;
        if (v < a->umin) a->umin = v;
        if (v > a->umax) a->umax = v;
    }
    a->uprev = v;
    a->n++;
    return hset_add(&a->distinct, h, 0);
}

static inline int acc_double(acc *a, double x, uint64_t h) {
    if (!a->have) {
        a->fmin = a->fmax = x;
        a->have = 1;
    } else {
        if (x < a->fprev) a->sorted = 0;
        if (x < a->fmin) a->fmin = x;
        if (x > a->fmax) a->fmax = x;
    }
    a->fprev = x;
    a->n++;
    if (a->integral && !(isfinite(x) && x == trunc(x))) a->integral = 0;
    float f = (float)x;
    if ((double)f != x) {
        a->f32_exact = 0;
        double e = x != 0 ? fabs((x - (double)f) / x) : 0;
        if (!(e <= a->f32_err)) a->f32_err = e;  /* also an overflow to inf */
    }
    return hset_add(&a->distinct, h, 0);
}

/* The common case, float64 without a mask, kept branch-light: one pass
 * over 8M random doubles went from 11 to about 4 ns a value. */
static int scan_f64(acc *a, const char *base, Py_ssize_t n, Py_ssize_t stride) {
    double mn = INFINITY, mx = -INFINITY, prev = -INFINITY, err = a->f32_err;
    uint64_t cnt = 0, nulls = 0;
    int sorted = 1, integral = 1, exact = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        double v;
        memcpy(&v, base + i * stride, 8);
        if (isnan(v)) {
            nulls++;
            sorted = 0;
            continue;
        }
        cnt++;
        sorted &= v >= prev;
        prev = v;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        int in_range = v > -9223372036854775808.0 && v < 9223372036854775808.0;
        int64_t iv = in_range ? (int64_t)v : 0;
        int whole = in_range && (double)iv == v;
        integral &= whole;
        float f = (float)v;
        if ((double)f != v) {
            exact = 0;
            double e = fabs((v - (double)f) / v);
            if (!(e <= err)) err = e;
        }
        uint64_t h;
        if (whole) h = mt_hash_int(iv);
        else {
            uint64_t bits;
            memcpy(&bits, &v, 8);
            h = mt_fmix64(bits ^ MT_HASH_TAG_FLOAT);
        }
        if (h <= a->distinct.limit && hset_add(&a->distinct, h, 0)) return -1;
        acc_row(a, i, h);
    }
    if (cnt) {
        if (!a->have) {
            a->fmin = mn;
            a->fmax = mx;
        }
        a->have = 1;
    }
    a->n += cnt;
    a->nulls += nulls;
    a->sorted &= sorted;
    a->integral &= integral;
    a->f32_exact &= exact;
    a->f32_err = err;
    return 0;
}

/* int64 without a mask: likewise. */
static int scan_i64(acc *a, const char *base, Py_ssize_t n, Py_ssize_t stride) {
    int64_t mn = INT64_MAX, mx = INT64_MIN, prev = INT64_MIN;
    int sorted = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, base + i * stride, 8);
        sorted &= v >= prev;
        prev = v;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        uint64_t h = mt_hash_int(v);
        if (h <= a->distinct.limit && hset_add(&a->distinct, h, 0)) return -1;
        acc_row(a, i, h);
    }
    if (n) {
        a->imin = mn;
        a->imax = mx;
        a->have = 1;
    }
    a->n += (uint64_t)n;
    a->sorted &= sorted;
    return 0;
}

/* Nulls in object columns: None, float NaN, and the singletons given. */
static int is_null_object(PyObject *o, PyObject *nulls) {
    if (o == Py_None) return 1;
    if (PyFloat_Check(o) && isnan(PyFloat_AS_DOUBLE(o))) return 1;
    if (nulls)
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(nulls); i++)
            if (o == PyTuple_GET_ITEM(nulls, i)) return 1;
    return 0;
}

static int digits(const Py_UCS1 *p, int n) {
    for (int i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9') return 0;
    return 1;
}

/* YYYY-MM-DD, then optionally T or a space, HH:MM, and :SS with an
 * optional fraction; no UTC offset, as pandas parses a column of those
 * into datetime64 without a timezone. */
static int iso_datetime(PyObject *o) {
    if (PyUnicode_KIND(o) != PyUnicode_1BYTE_KIND) return 0;
    const Py_UCS1 *p = PyUnicode_1BYTE_DATA(o);
    Py_ssize_t n = PyUnicode_GET_LENGTH(o);
    if (n < 10 || !digits(p, 4) || p[4] != '-' || !digits(p + 5, 2) || p[7] != '-' || !digits(p + 8, 2)) return 0;
    int month = (p[5] - '0') * 10 + p[6] - '0', day = (p[8] - '0') * 10 + p[9] - '0';
    int year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + p[3] - '0';
    if (month < 1 || month > 12 || day < 1 || day > 31 || !mt_date_fits_ns(year, month, day)) return 0;
    if (n == 10) return 1;
    if (n < 16 || (p[10] != 'T' && p[10] != ' ') || !digits(p + 11, 2) || p[13] != ':' || !digits(p + 14, 2))
        return 0;
    if (n == 16) return 1;
    if (n < 19 || p[16] != ':' || !digits(p + 17, 2)) return 0;
    if (n == 19) return 1;
    return p[19] == '.' && n > 20 && digits(p + 20, (int)(n - 20 < 9 ? n - 20 : 10));
}

/* A non-null value for the column's date layout: text of one-byte
 * characters, or else not a date. */
static void see_date(mt_datefmt *d, PyObject *o) {
    if (PyUnicode_Check(o) && PyUnicode_KIND(o) == PyUnicode_1BYTE_KIND)
        mt_datefmt_see(d, (const char *)PyUnicode_1BYTE_DATA(o), (size_t)PyUnicode_GET_LENGTH(o));
    else mt_datefmt_see(d, NULL, 0);
}

/* datetime_format, and datetime_flags: flag bit 9 (SPEC.md 4.3) when the
 * values read day-first as well as month-first. */
static int put_date_format(PyObject *result, const mt_datefmt *d) {
    char fmt[64];
    int ambiguous = 0;
    PyObject *f = PyUnicode_FromString(mt_datefmt_result(d, fmt, sizeof fmt, &ambiguous) ? fmt : "");
    PyObject *b = PyLong_FromLong(ambiguous ? 1 << 9 : 0);
    int rc = !f || !b || PyDict_SetItemString(result, "datetime_format", f) ||
             PyDict_SetItemString(result, "datetime_flags", b);
    Py_XDECREF(f);
    Py_XDECREF(b);
    return rc ? -1 : 0;
}

/* o.__sizeof__(), as pandas' memory_usage(deep=True) sums it (colstats.h). */
int mt__object_sizeof(PyObject *o, uint64_t *out) {
    static PyObject *name;
    if (!name && !(name = PyUnicode_InternFromString("__sizeof__"))) return -1;
    PyObject *r = PyObject_CallMethodNoArgs(o, name);
    if (!r) return -1;
    Py_ssize_t v = PyLong_AsSsize_t(r);
    Py_DECREF(r);
    if (v < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "__sizeof__() returned a negative size");
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static uint64_t hash_object(PyObject *o) {
    if (PyUnicode_Check(o))
        return mt_hash_codepoints(PyUnicode_DATA(o), (size_t)PyUnicode_GET_LENGTH(o), PyUnicode_KIND(o));
    if (PyLong_Check(o)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (!overflow) return mt_hash_int(v);
        if (overflow > 0) {
            unsigned long long u = PyLong_AsUnsignedLongLong(o);
            if (!PyErr_Occurred()) return mt_hash_uint(u);
        }
        PyErr_Clear();
    }
    if (PyFloat_Check(o)) return mt_hash_double(PyFloat_AS_DOUBLE(o));
    Py_hash_t h = PyObject_Hash(o);
    if (h == -1) {
        /* Unhashable (a list): count it by identity. */
        PyErr_Clear();
        h = (Py_hash_t)(uintptr_t)o;
    }
    return mt_fmix64((uint64_t)h ^ 0x2545F4914F6CDD1Dull);
}

static int acc_object(acc *a, PyObject *o, PyObject *nulls, uint64_t *hash) {
    uint64_t size;
    if (mt__object_sizeof(o, &size)) return -1;
    a->sizeof_total += size;
    if (hset_add(&a->objects, mt_fmix64((uint64_t)(uintptr_t)o), size)) return -2;
    if (is_null_object(o, nulls)) {
        a->nulls++;
        return 0;
    }
    if (!a->first_type) {
        /* Held: a heap type may go with its last instance. */
        a->first_type = Py_TYPE(o);
        Py_INCREF(a->first_type);
    } else if (Py_TYPE(o) != a->first_type) a->mixed = 1;
    see_date(&a->dt, o);
    if (PyUnicode_Check(o)) {
        uint64_t len = (uint64_t)PyUnicode_GET_LENGTH(o);
        if (!a->text || len < a->len_min) a->len_min = len;
        if (len > a->len_max) a->len_max = len;
        a->len_total += len;
        a->text++;
        a->dates += (uint64_t)iso_datetime(o);
    }
    a->n++;
    *hash = hash_object(o);
    return hset_add(&a->distinct, *hash, 0) ? -2 : 0;
}

static PyObject *value_or_none(int have, PyObject *v) {
    if (have) return v;
    Py_XDECREF(v);
    Py_RETURN_NONE;
}

/* Row i's value hash as the first pass computed it; 0 for a null. */
static uint64_t row_hash(const colsrc *c, Py_ssize_t i) {
    if (c->kind == 'O') {
        PyObject *o;
        memcpy(&o, c->base + i * c->stride, sizeof o);
        if (!o || is_null_object(o, c->nulls)) return 0;
        Py_INCREF(o); /* its __hash__ may run Python code that frees it */
        uint64_t h = hash_object(o);
        Py_DECREF(o);
        return h;
    }
    rowval v;
    uint64_t h;
    return read_row(c, i, &v, &h) ? h : 0;
}

/* Most common first, then the earlier first row. */
static int by_count(const void *a, const void *b, void *arg) {
    const mg *m = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (m->cnt[x] != m->cnt[y]) return m->cnt[x] < m->cnt[y] ? 1 : -1;
    return (m->row[x] > m->row[y]) - (m->row[x] < m->row[y]);
}

/* Counts the candidates of m exactly in a second pass and returns the k
 * most common as a list of (first row, count). */
static PyObject *recount(mg *m, const colsrc *c, size_t k) {
    for (size_t i = 0; i < m->n; i++) {
        m->cnt[i] = 0;
        m->row[i] = -1;
    }
    int objects = c->kind == 'O';
    PyThreadState *ts = objects ? NULL : PyEval_SaveThread();
    for (Py_ssize_t i = 0; i < c->n; i++) {
        uint64_t h = row_hash(c, i);
        if (!h) continue;
        int32_t at = *mg_slot(m, h);
        if (at < 0) continue;
        if (!m->cnt[at]++) m->row[at] = i;
    }
    if (ts) PyEval_RestoreThread(ts);
    size_t *order = malloc((m->n ? m->n : 1) * sizeof *order);
    if (!order) return PyErr_NoMemory();
    for (size_t i = 0; i < m->n; i++) order[i] = i;
    qsort_r(order, m->n, sizeof *order, by_count, m);
    if (k > m->n) k = m->n;
    PyObject *list = PyList_New(0);
    for (size_t j = 0; list && j < k && m->cnt[order[j]]; j++) {
        PyObject *t = Py_BuildValue("(nK)", m->row[order[j]], (unsigned long long)m->cnt[order[j]]);
        if (!t || PyList_Append(list, t)) Py_CLEAR(list);
        Py_XDECREF(t);
    }
    free(order);
    return list;
}

/* The element type of a buffer, from its struct format: 'i', 'u', 'f',
 * 'b' (bool), 'O', or 0 when not understood. */
static int format_class(const char *fmt, Py_ssize_t itemsize) {
    if (!fmt) return 'u';
    while (*fmt == '<' || *fmt == '>' || *fmt == '=' || *fmt == '@' || *fmt == '!') fmt++;
    if (!fmt[0] || fmt[1]) return 0;
    switch (fmt[0]) {
    case 'b': case 'h': case 'i': case 'l': case 'q': case 'n': return itemsize <= 8 ? 'i' : 0;
    case 'B': case 'H': case 'I': case 'L': case 'Q': case 'N': return itemsize <= 8 ? 'u' : 0;
    case 'e': case 'f': case 'd': return 'f';
    case '?': return 'b';
    case 'O': return 'O';
    default: return 0;
    }
}

PyObject *memtrace_column_stats(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "data", "kind", "mask", "code_hashes", "nulls", "sketch", "hashes", "top", NULL };
    PyObject *data, *mask_obj = Py_None, *codes_obj = Py_None, *nulls = Py_None;
    int kind;
    Py_ssize_t sketch_k = 1024, top_k = 0;
    int want_hashes = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OC|$OOOnpn", kwlist, &data, &kind, &mask_obj, &codes_obj, &nulls,
                                     &sketch_k, &want_hashes, &top_k))
        return NULL;
    if (top_k < 0) return PyErr_Format(PyExc_ValueError, "top must not be negative");
    if (!strchr("ntcO", kind) || !kind)
        return PyErr_Format(PyExc_ValueError, "kind must be one of n t c O, not %c", kind);
    if (nulls != Py_None && !PyTuple_Check(nulls)) return PyErr_Format(PyExc_TypeError, "nulls must be a tuple");
    if (sketch_k < 0) return PyErr_Format(PyExc_ValueError, "sketch must not be negative");

    Py_buffer view, mask = { 0 }, codes = { 0 };
    if (PyObject_GetBuffer(data, &view, PyBUF_RECORDS_RO) < 0) return NULL;
    PyObject *result = NULL;
    acc a;
    mg heavy;
    memset(&a, 0, sizeof a);
    memset(&heavy, 0, sizeof heavy);
    a.kind = kind;
    a.sorted = a.integral = a.f32_exact = 1;
    int have_mask = 0, have_codes = 0;
    int cls = format_class(view.format, view.itemsize);
    if (kind == 'n' && cls != 'O') kind = a.kind = cls;
    if (view.ndim != 1) {
        PyErr_Format(PyExc_ValueError, "column data must be one-dimensional, not %d-dimensional", view.ndim);
        goto out;
    }
    if (!cls || kind == 'n' || (kind == 'O') != (cls == 'O') || ((kind == 't' || kind == 'c') && cls != 'i')) {
        PyErr_Format(PyExc_ValueError, "kind %c does not match the buffer's format '%s'", kind,
                     view.format ? view.format : "B");
        goto out;
    }
    Py_ssize_t n = view.shape[0], stride = view.strides ? view.strides[0] : view.itemsize;
    if (mask_obj != Py_None) {
        if (PyObject_GetBuffer(mask_obj, &mask, PyBUF_RECORDS_RO) < 0) goto out;
        have_mask = 1;
        if (mask.ndim != 1 || mask.shape[0] != n || mask.itemsize != 1) {
            PyErr_Format(PyExc_ValueError, "mask must be %zd one-byte values", n);
            goto out;
        }
    }
    if (kind == 'c') {
        if (codes_obj == Py_None || PyObject_GetBuffer(codes_obj, &codes, PyBUF_SIMPLE) < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "kind c needs code_hashes");
            goto out;
        }
        have_codes = 1;
        if (codes.len % 8) {
            PyErr_SetString(PyExc_ValueError, "code_hashes must be 8-byte hashes");
            goto out;
        }
    }
    if (hset_init(&a.distinct, 0) || (kind == 'O' && hset_init(&a.objects, 1)) ||
        (want_hashes && !(a.hashes = calloc(n ? (size_t)n : 1, sizeof *a.hashes))) ||
        (top_k && mg_init(&heavy, (size_t)(top_k * 16 > 1024 ? top_k * 16 : 1024)))) {
        PyErr_NoMemory();
        goto out;
    }
    if (top_k) a.top = &heavy;
    const char *base = view.buf, *mbase = have_mask ? mask.buf : NULL;
    Py_ssize_t mstride = have_mask && mask.strides ? mask.strides[0] : 1;
    Py_ssize_t ncodes = have_codes ? codes.len / 8 : 0;
    colsrc src = { kind, cls, base, mbase, have_codes ? codes.buf : NULL, n, stride, view.itemsize, mstride,
                   ncodes, nulls == Py_None ? NULL : nulls };
    int err = 0;
    /* Numbers are read without the GIL: the buffers stay exported. */
    if (kind != 'O') {
        Py_BEGIN_ALLOW_THREADS
        Py_ssize_t from = 0;
        if (!mbase && kind == 'f' && view.itemsize == 8) err = scan_f64(&a, base, n, stride), from = n;
        else if (!mbase && kind == 'i' && view.itemsize == 8) err = scan_i64(&a, base, n, stride), from = n;
        for (Py_ssize_t i = from; i < n && !err; i++) {
            rowval v;
            uint64_t h;
            if (!read_row(&src, i, &v, &h)) {
                a.nulls++;
                a.sorted = 0;
                continue;
            }
            switch (kind) {
            case 'f': err = acc_double(&a, v.f, h); break;
            case 'c':
                a.n++;
                err = hset_add(&a.distinct, h, 0);
                break;
            case 'i': case 't': err = acc_int(&a, v.i, h); break;
            default: err = acc_uint(&a, v.u, h);
            }
            acc_row(&a, i, h);
        }
        Py_END_ALLOW_THREADS
        if (err) {
            PyErr_NoMemory();
            goto out;
        }
    } else {
        /* A reference to each value is held while it is read: its
         * __sizeof__ and __hash__ run Python code, which (or another
         * thread meanwhile) may replace and free the column's values. No
         * snapshot of the column: that would be a copy of it. */
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *o;
            memcpy(&o, base + i * stride, sizeof o);
            if (!o) o = Py_None;
            Py_INCREF(o);
            uint64_t h = 0;
            int rc = acc_object(&a, o, nulls == Py_None ? NULL : nulls, &h);
            Py_DECREF(o);
            if (rc == -2) PyErr_NoMemory();
            if (rc) goto out;
            if (h) acc_row(&a, i, h);
        }
        a.sorted = 0;  /* not judged for objects */
    }

    /* Build the answer. */
    PyObject *mn = NULL, *mx = NULL;
    if (kind == 'f') {
        mn = value_or_none(a.have, PyFloat_FromDouble(a.fmin));
        mx = value_or_none(a.have, PyFloat_FromDouble(a.fmax));
    } else if (kind == 'i' || kind == 't') {
        mn = value_or_none(a.have, PyLong_FromLongLong(a.imin));
        mx = value_or_none(a.have, PyLong_FromLongLong(a.imax));
    } else if (kind == 'u' || kind == 'b') {
        mn = value_or_none(a.have, PyLong_FromUnsignedLongLong(a.umin));
        mx = value_or_none(a.have, PyLong_FromUnsignedLongLong(a.umax));
    } else {
        mn = value_or_none(0, NULL);
        mx = value_or_none(0, NULL);
    }
    int exact = a.distinct.limit == UINT64_MAX;
    double distinct = exact ? (double)a.distinct.count : floor((double)a.distinct.count / hset_rate(&a.distinct) + 0.5);
    if (!exact && distinct > (double)a.n) distinct = (double)a.n;
    PyObject *sketch = hset_sketch(&a.distinct, (size_t)sketch_k);
    PyObject *hashes = a.hashes ? PyBytes_FromStringAndSize((const char *)a.hashes, n * 8) : (Py_INCREF(Py_None), Py_None);
    if (!mn || !mx || !sketch || !hashes) {
        Py_XDECREF(mn);
        Py_XDECREF(mx);
        Py_XDECREF(sketch);
        Py_XDECREF(hashes);
        goto out;
    }
    int floats = kind == 'f';
    result = Py_BuildValue("{s:n,s:K,s:K,s:N,s:N,s:N,s:N,s:N,s:d,s:K,s:N,s:N,s:N}", "rows", n, "count",
                           (unsigned long long)a.n, "nulls", (unsigned long long)a.nulls, "min", mn, "max", mx,
                           "sorted", PyBool_FromLong(a.sorted && a.have), "integral",
                           PyBool_FromLong(a.integral && kind != 'O' && kind != 'c'), "f32_exact",
                           PyBool_FromLong(floats ? a.f32_exact : (kind != 'O' && kind != 'c' && kind != 't')),
                           "f32_max_rel_error", floats ? a.f32_err : 0.0, "distinct",
                           (unsigned long long)distinct, "distinct_exact", PyBool_FromLong(exact), "sketch",
                           sketch, "hashes", hashes);
    /* Integers survive float32 only within 2^24. */
    if (result && (kind == 'i' || kind == 'u' || kind == 'b')) {
        double lo = kind == 'i' ? (double)a.imin : (double)a.umin, hi = kind == 'i' ? (double)a.imax : (double)a.umax;
        int fits = !a.have || (lo >= -16777216.0 && hi <= 16777216.0);
        PyObject *f = PyBool_FromLong(fits);
        if (PyDict_SetItemString(result, "f32_exact", f)) Py_CLEAR(result);
        Py_DECREF(f);
    }
    if (result && kind == 'O') {
        int oexact = a.objects.limit == UINT64_MAX;
        uint64_t sum = 0;
        for (size_t i = 0; i < a.objects.slots; i++)
            if (a.objects.key[i]) sum += a.objects.val[i];
        double dbytes = oexact ? (double)sum : (double)sum / hset_rate(&a.objects);
        PyObject *vtype = a.n && !a.mixed ? (PyObject *)a.first_type : Py_None;
        PyObject *extra = Py_BuildValue("{s:K,s:K,s:N,s:K,s:K,s:K,s:K,s:N,s:O,s:N}", "sizeof_total",
                                        (unsigned long long)a.sizeof_total, "distinct_bytes",
                                        (unsigned long long)floor(dbytes + 0.5), "distinct_bytes_exact",
                                        PyBool_FromLong(oexact), "text", (unsigned long long)a.text, "len_min",
                                        (unsigned long long)a.len_min, "len_max", (unsigned long long)a.len_max,
                                        "len_total", (unsigned long long)a.len_total, "mixed",
                                        PyBool_FromLong(a.mixed), "value_type", vtype, "datetime_text",
                                        PyBool_FromLong(a.n && a.dates == a.n));
        if (!extra || PyDict_Update(result, extra)) Py_CLEAR(result);
        Py_XDECREF(extra);
    }
    if (result && kind == 'O' && put_date_format(result, &a.dt)) Py_CLEAR(result);
    if (result && top_k) {
        PyObject *top = recount(&heavy, &src, (size_t)top_k);
        if (!top || PyDict_SetItemString(result, "top", top)) Py_CLEAR(result);
        Py_XDECREF(top);
    }
out:
    Py_XDECREF(a.first_type);
    mg_free(&heavy);
    hset_free(&a.distinct);
    hset_free(&a.objects);
    free(a.hashes);
    if (have_mask) PyBuffer_Release(&mask);
    if (have_codes) PyBuffer_Release(&codes);
    PyBuffer_Release(&view);
    return result;
}
