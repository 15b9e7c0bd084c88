/* The frames a prediction reads: from a snapshot's DataFrame records, or
 * parsed from inline shapes ("left=2000000x8,right=50000x3"). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "predict/predict_impl.h"
#include "common/array.h"
#include "frames/pandas_model.h"

void mt_shapes_free(mt_shapes *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_frames; i++) {
        free(s->frames[i].cols);
        free(s->frames[i].owned);
    }
    free(s->frames);
    free(s->text);
    free(s);
}

/* Smallest dtype a column fits, for the dtype advice. */
static void fit_of(const mt_df_col_info *ci, double rows, mt_pcol *p) {
    const mt_df_column *r = &ci->rec;
    if (ci->int_fit && strcmp(ci->int_fit, p->dtype) && !strncmp(p->dtype, "int", 3)) {
        p->fit_dtype = ci->int_fit;
        p->fit_bytes = mt__pandas_dtype_itemsize(ci->int_fit, strlen(ci->int_fit));
    } else if (!strcmp(p->dtype, "float64") && (r->flags & MT_COL_F32_EXACT)) {
        p->fit_dtype = "float32";
        p->fit_bytes = 4;
    } else if (mt__pcol_is_object(p) && p->distinct >= 0 && p->distinct <= rows / 2) {
        p->fit_dtype = "category";
        p->fit_bytes = mt__pandas_code_bytes(p->distinct);
    }
}

int mt_shapes_from_snapshot(const mt_snapshot *snap, const mt_df_table *t, mt_shapes **out, mt_diag *diag) {
    int rc = mt_shapes_from_table(t, NULL, out, diag);
    if (rc) return rc;
    /* The version pandas had when the frames were dumped: the models warn
     * when it is not the one they were calibrated on. */
    const mt_value *pv = mt_snapshot_meta_get(snap, "pandas_version");
    if (pv && pv->type == MT_VAL_STR) {
        snprintf((*out)->version, sizeof (*out)->version, "%.*s", (int)pv->v.s.len, pv->v.s.ptr);
        (*out)->pandas_version = (*out)->version;
    }
    return 0;
}

int mt_shapes_from_table(const mt_df_table *t, const char *pandas_version, mt_shapes **out, mt_diag *diag) {
    *out = NULL;
    if (!t->n_frames) return mt_diag_set(diag, MT_E_NOTFOUND, "no DataFrame records (write them with memtrace.dump_frames)");
    size_t text = 0;
    for (size_t i = 0; i < t->n_frames; i++) text += t->frames[i].rec.name.len + 1;
    for (size_t i = 0; i < t->n_columns; i++)
        text += t->columns[i].rec.name.len + t->columns[i].rec.dtype.len + 2;
    mt_shapes *s = calloc(1, sizeof *s);
    if (!s || !(s->frames = calloc(t->n_frames, sizeof *s->frames)) || !(s->text = malloc(text + 1))) {
        mt_shapes_free(s);
        return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
    }
    char *at = s->text;
#define COPY(dst, str) do { memcpy(at, (str).ptr, (str).len); at[(str).len] = 0; (dst) = at; at += (str).len + 1; } while (0)
    s->pandas_version = pandas_version;
    for (size_t i = 0; i < t->n_frames; i++) {
        const mt_df_frame_info *fi = &t->frames[i];
        mt_pframe *f = &s->frames[s->n_frames++];
        COPY(f->name, fi->rec.name);
        f->rows = (double)fi->rec.rows;
        f->index_bytes = (double)fi->rec.index_bytes;
        if (fi->n_columns && !(f->cols = calloc(fi->n_columns, sizeof *f->cols))) {
            mt_shapes_free(s);
            return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
        }
        for (size_t j = 0; j < fi->n_columns; j++) {
            const mt_df_col_info *ci = &t->columns[fi->first_column + j];
            const mt_df_column *r = &ci->rec;
            mt_pcol *p = &f->cols[f->n_cols++];
            COPY(p->name, r->name);
            COPY(p->dtype, r->dtype);
            p->shallow = (double)r->shallow_bytes;
            p->deep = (double)r->deep_bytes;
            p->nulls = (double)r->null_count;
            /* The objects each once: distinct_bytes (the column's own,
             * not less what an earlier column shares, as real_bytes is);
             * 0 with objects counted by pandas means not recorded, and
             * real_bytes (1.6) says it then. */
            if (mt__pandas_dtype_is_object(p->dtype)) {
                uint64_t real = mt_df_col_real_bytes(ci);
                if (r->distinct_bytes || r->deep_bytes <= r->shallow_bytes)
                    p->objects = (double)r->distinct_bytes, p->has_objects = 1;
                else if (r->real_bytes > r->shallow_bytes)
                    p->objects = (double)(real - r->shallow_bytes), p->has_objects = 1;
            }
            /* distinct_count is optional: 0 over rows that are not all
             * missing means it was not recorded. */
            p->distinct = r->distinct_count || f->rows <= p->nulls ? (double)r->distinct_count : -1;
            p->code_bytes = r->code_bytes;
            p->categories = (double)r->categories;
            p->categories_bytes = (double)r->categories_bytes;
            p->top = ci->top;
            p->n_top = ci->n_top;
            if (ci->sketch) {
                p->sketch = ci->sketch->data.ptr;
                p->sketch_len = ci->sketch->data.len;
                p->sketch_full = r->distinct_count > p->sketch_len / 8 || (r->flags & MT_COL_DISTINCT_EST);
            }
            fit_of(ci, f->rows, p);
        }
    }
#undef COPY
    *out = s;
    return 0;
}

/* ---- inline shapes ---- */

typedef struct parser {
    const char *text, *p;
    mt_diag *diag;
} parser;

static int fail(parser *ps, const char *what) {
    mt_diag_set(ps->diag, MT_E_PARSE, "%s", what);
    if (ps->diag) ps->diag->column = (uint32_t)(ps->p - ps->text) + 1;
    return MT_E_PARSE;
}

/* The largest count: 2^53 - 1, past which doubles stop holding every
 * integer (9007199254740993 would be read as 2^53). */
#define MAX_COUNT 9007199254740991.0

/* A count: decimal digits with an optional fraction and exponent and k, M,
 * G or T (powers of 1000), that comes to a whole number from 0 to 2^53 - 1.
 * Only that: strtod alone would also take hexadecimal ("0x10" is 16),
 * "inf" and "nan". */
static int number(parser *ps, const char *what, double *out) {
    const char *p = ps->p, *start = p;
    char msg[160];
    if (!isdigit((unsigned char)*p)) {
        snprintf(msg, sizeof msg, "expected %s: decimal digits", what);
        return fail(ps, msg);
    }
    while (isdigit((unsigned char)*p)) p++;
    if (*p == '.' && isdigit((unsigned char)p[1]))
        for (p++; isdigit((unsigned char)*p);) p++;
    if ((*p == 'e' || *p == 'E') &&
        (isdigit((unsigned char)p[1]) || ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2]))))
        for (p += 2; isdigit((unsigned char)*p);) p++;
    char digits[64];
    size_t n = (size_t)(p - start);
    if (n >= sizeof digits) {
        snprintf(msg, sizeof msg, "%s has more than %zu characters", what, sizeof digits - 1);
        return fail(ps, msg);
    }
    memcpy(digits, start, n);
    digits[n] = 0;
    double v = strtod(digits, NULL);
    const char *sfx = "kMGT";
    const char *at = *p ? strchr(sfx, *p) : NULL;
    if (at) {
        v *= pow(1000, (double)(at - sfx + 1));
        p++;
    }
    if (!isfinite(v) || v >= MAX_COUNT + 1) {
        snprintf(msg, sizeof msg, "%s %.*s is too large: more than the 9007199254740991 (2^53 - 1) a count may be", what,
                 (int)(p - start), start);
        return fail(ps, msg);
    }
    if (v != floor(v)) {
        snprintf(msg, sizeof msg, "%s %.*s is not a whole number", what, (int)(p - start), start);
        return fail(ps, msg);
    }
    *out = v;
    ps->p = p;
    return 0;
}

static size_t word(parser *ps) {
    size_t n = 0;
    while (ps->p[n] && !strchr(",:/=~*", ps->p[n])) n++;
    return n;
}

static int known_dtype(const char *s, size_t n) {
    static const char *const ok[] = { "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8",
                                      "float64", "float32", "bool", "object", "str", "category", "datetime64[ns]",
                                      NULL };
    for (size_t i = 0; ok[i]; i++)
        if (strlen(ok[i]) == n && !memcmp(ok[i], s, n)) return 1;
    return 0;
}

/* An inline column with a dtype: sizes as pandas has them for rows rows
 * (strings: 8 characters). */
static void inline_sizes(mt_pcol *c, double rows) {
    if (!strcmp(c->dtype, "str")) c->dtype = "object";
    if (!strcmp(c->dtype, "category")) {
        double d = c->distinct >= 0 ? c->distinct : 100;
        c->code_bytes = mt__pandas_code_bytes(d);
        c->categories = d;
        c->categories_bytes = mt__pandas_categories_bytes(d, 8, d * mt__pandas_ascii_str_bytes(8));
        /* memory_usage() counts the categories' hash table too. */
        c->shallow = c->code_bytes * rows + mt__pandas_categories_bytes(d, 8, 0);
        c->deep = c->code_bytes * rows + c->categories_bytes;
    } else if (!strcmp(c->dtype, "object")) {
        c->shallow = 8 * rows;
        c->deep = (8 + mt__pandas_ascii_str_bytes(8)) * rows;
        if (c->distinct >= 0) { /* each distinct string once */
            c->objects = c->distinct * mt__pandas_ascii_str_bytes(8);
            c->has_objects = 1;
        }
    } else {
        unsigned n = mt__pandas_dtype_itemsize(c->dtype, strlen(c->dtype));
        c->shallow = c->deep = (n ? n : 8) * rows;
    }
}

int mt_shapes_parse(const char *text, mt_shapes **out, mt_diag *diag) {
    *out = NULL;
    mt_shapes *s = calloc(1, sizeof *s);
    size_t len = strlen(text);
    if (!s || !(s->text = malloc(2 * len + 2))) {
        mt_shapes_free(s);
        return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
    }
    s->is_inline = 1;
    char *pool = s->text; /* names, NUL-terminated, copied as they are read */
    parser ps = { text, text, diag };
    size_t cap = 0;
    double total_cols = 0;
    int rc = 0;
    if (!*text) { rc = fail(&ps, "expected NAME=ROWSxCOLS"); goto bad; }
    for (;;) {
        size_t n = word(&ps);
        if (!n || ps.p[n] != '=') { rc = fail(&ps, "expected NAME=ROWSxCOLS"); goto bad; }
        if (s->n_frames == cap) {
            size_t old = cap;
            if (mt__grow((void **)&s->frames, &cap, s->n_frames, sizeof *s->frames)) {
                rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory");
                goto bad;
            }
            memset(s->frames + old, 0, (cap - old) * sizeof *s->frames);
        }
        mt_pframe *f = &s->frames[s->n_frames++];
        memcpy(pool, ps.p, n);
        pool[n] = 0;
        f->name = pool;
        pool += n + 1;
        for (size_t i = 0; i + 1 < s->n_frames; i++)
            if (!strcmp(s->frames[i].name, f->name)) { rc = fail(&ps, "a frame of that name is already given"); goto bad; }
        ps.p += n + 1;
        double rows, ncols;
        if ((rc = number(&ps, "the rows", &rows))) goto bad;
        if (*ps.p != 'x') { rc = fail(&ps, "expected 'x' and the number of columns after the rows"); goto bad; }
        ps.p++;
        if ((rc = number(&ps, "the columns", &ncols))) goto bad;
        if (ncols < 1 || ncols > 100000) {
            rc = fail(&ps, "the columns must be between 1 and 100000");
            goto bad;
        }
        /* Past a million columns in all, inline text is not what anyone
         * types, and each column costs a model's worth of memory. */
        if ((total_cols += ncols) > 1000000) {
            rc = fail(&ps, "more than 1000000 columns in all the frames");
            goto bad;
        }
        f->rows = rows;
        f->index_bytes = 128; /* a RangeIndex */
        if (!(f->cols = calloc((size_t)ncols, sizeof *f->cols))) { rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory"); goto bad; }
        f->n_cols = (size_t)ncols;
        /* Columns not named are c1, c2, ... by position. */
        if (!(f->owned = malloc(f->n_cols * 24))) { rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory"); goto bad; }
        for (size_t i = 0; i < f->n_cols; i++) {
            snprintf(f->owned + 24 * i, 24, "c%zu", i + 1);
            f->cols[i].name = f->owned + 24 * i;
            f->cols[i].dtype = "float64";
            f->cols[i].inline_dtype = 1;
            f->cols[i].distinct = -1;
        }
        size_t at = 0;
        if (*ps.p == ':') {
            do {
                ps.p++;
                mt_pcol c = { .name = NULL, .distinct = -1 };
                size_t m = word(&ps);
                if (m && ps.p[m] == '=') {
                    memcpy(pool, ps.p, m);
                    pool[m] = 0;
                    c.name = pool;
                    c.named = 1;
                    pool += m + 1;
                    ps.p += m + 1;
                    m = word(&ps);
                }
                if (!m || !known_dtype(ps.p, m)) {
                    rc = fail(&ps, "expected a dtype: int64, int32, int16, int8, uint*, float64, float32, bool, "
                                   "object, str, category or datetime64[ns]");
                    goto bad;
                }
                memcpy(pool, ps.p, m);
                pool[m] = 0;
                c.dtype = pool;
                pool += m + 1;
                ps.p += m;
                double times = 1;
                if (*ps.p == '~') {
                    ps.p++;
                    if ((rc = number(&ps, "the distinct values", &c.distinct))) goto bad;
                    if (c.distinct > rows) {
                        char msg[160];
                        snprintf(msg, sizeof msg, "%.0f distinct values are more than the frame's %.0f rows",
                                 c.distinct, rows);
                        rc = fail(&ps, msg);
                        goto bad;
                    }
                    c.inline_distinct = 1;
                }
                if (*ps.p == '*') {
                    ps.p++;
                    if ((rc = number(&ps, "the repeat", &times))) goto bad;
                    if (times < 1) {
                        rc = fail(&ps, "the repeat must be at least 1");
                        goto bad;
                    }
                    if (c.named && times > 1) { rc = fail(&ps, "a named column cannot repeat"); goto bad; }
                }
                if (at + times > f->n_cols) { rc = fail(&ps, "more columns described than the frame has"); goto bad; }
                for (double k = 0; k < times; k++, at++) {
                    const char *dflt = f->cols[at].name;
                    f->cols[at] = c;
                    if (!c.named) f->cols[at].name = dflt;
                }
            } while (*ps.p == '/');
        }
        for (size_t i = 0; i < f->n_cols; i++) inline_sizes(&f->cols[i], rows);
        if (!*ps.p) break;
        if (*ps.p != ',') { rc = fail(&ps, "expected ',' and another frame, or the end"); goto bad; }
        ps.p++;
    }
    *out = s;
    return 0;
bad:
    mt_shapes_free(s);
    return rc;
}
