/* Applying rules (advise.h): the values of the fields a rule can test
 * (fields.h), the saving models, message templates, and the ranking of
 * what comes out. */
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "advise/advise_impl.h"
#include "common/array.h"
#include "frames/pandas_model.h"
#include "memtrace/gpu.h"
#include "memtrace/units.h"

/* The fields (fields.h), for the accessors' switches. */
enum {
#define X_ENUM(id, name, scopes, type, unit) X_##id,
    MT__ADVISE_FIELDS(X_ENUM)
#undef X_ENUM
};

/* What the action computed, for messages. */
enum {
#define V_ENUM(id, name) V_##id,
    MT__ACTION_VARS(V_ENUM)
#undef V_ENUM
};

/* ---- subjects and their fields ---- */

typedef struct subject {
    unsigned scope;
    const mt_df_table *t;
    const mt_df_col_info *c;
    const mt_df_frame_info *f;
    const mt_df_step *st;
    const mt_gpu_device *g;
    const mt_gpu_device_report *gr; /* the allocator's measures of g, or NULL */
    unsigned ooms, frag_ooms, cap_ooms; /* of gr's device */
    const mt_gpu_oom *last_frag;    /* its last fragmentation OOM, or NULL */
    int expandable;                 /* the file's allocator had expandable segments on */
    double available;
    int pandas_bytes;        /* savings in pandas' deep count, not real bytes */
    char kind[16];           /* dtype_kind */
    char nullable_fit[8];    /* "Int8" ... */
    char int_fit[8];         /* int_fit with the headroom: "int16" ..., or "" */
    int headroom_bits;       /* mt_advise_input.int_headroom_bits */
} subject;

typedef struct fval {
    int have;
    double num;
    const char *str;
} fval;

static int starts(const char *s, const char *prefix) {
    return !strncmp(s, prefix, strlen(prefix));
}

static fval num(double v) {
    fval x = { 1, v, NULL };
    return x;
}

static fval str(const char *s) {
    fval x = { 1, 0, s };
    return x;
}

static fval none(void) {
    fval x = { 0, 0, NULL };
    return x;
}

static fval ratio(double a, double b) {
    return b > 0 ? num(a / b) : none();
}

static fval value_num(const mt_value *v) {
    switch (v->type) {
    case MT_VAL_INT: return num((double)v->v.i);
    case MT_VAL_UINT: return num((double)v->v.u);
    case MT_VAL_FLOAT: return num(v->v.f);
    case MT_VAL_BOOL: return num(v->v.b);
    default: return none();
    }
}

/* The smallest signed integer dtype that holds c's values shifted left by
 * bits (bits to spare above the largest magnitude), or "". Never an
 * unsigned dtype: a difference of two values of one is negative. */
static void headroom_fit(const mt_df_col_info *c, int bits, char *out, size_t n) {
    out[0] = 0;
    if (!c->int_fit) return;  /* not whole numbers, or no range */
    fval lo = value_num(&c->rec.min), hi = value_num(&c->rec.max);
    if (!lo.have || !hi.have) return;
    long double scale = ldexpl(1.0L, bits), a = (long double)lo.num * scale, b = (long double)hi.num * scale;
    /* Exact where the recorded values are integers (a float loses digits beyond 2^53). */
    if (c->rec.min.type == MT_VAL_INT) a = (long double)c->rec.min.v.i * scale;
    if (c->rec.max.type == MT_VAL_INT) b = (long double)c->rec.max.v.i * scale;
    if (c->rec.max.type == MT_VAL_UINT) b = (long double)c->rec.max.v.u * scale;
    for (int w = 8; w <= 64; w *= 2) {
        long double top = ldexpl(1.0L, w - 1);
        if (a >= -top && b <= top - 1) {
            snprintf(out, n, "int%d", w);
            return;
        }
    }
}

/* Key columns of c's frame, and the rows a groupby over all of them
 * returns with pandas' default observed=False once they are categorical:
 * every combination of their categories (their distinct values, or the
 * categories of a categorical). */
static double key_groups(const subject *s, double *keys) {
    const mt_df_frame_info *fi = &s->t->frames[s->c->frame];
    double groups = 1;
    *keys = 0;
    for (size_t i = fi->first_column; i < fi->first_column + fi->n_columns && i < s->t->n_columns; i++) {
        const mt_df_column *r = &s->t->columns[i].rec;
        if (!(r->flags & MT_COL_KEY)) continue;
        *keys += 1;
        groups *= (double)(r->categories ? r->categories : r->distinct_count);
    }
    return groups;
}

static fval column_field(const subject *s, int f) {
    const mt_df_col_info *c = s->c;
    const mt_df_column *r = &c->rec;
    const mt_df_frame *fr = &s->t->frames[c->frame].rec;
    double rows = (double)fr->rows, non_null = rows - (double)r->null_count;
    if (non_null < 0) non_null = 0;
    switch (f) {
    case X_FRAME: return str(fr->name.ptr);
    case X_COLUMN: return str(r->name.ptr);
    case X_STEP: return str(fr->step.ptr);
    case X_DTYPE: return str(r->dtype.ptr);
    case X_DTYPE_KIND: return str(s->kind);
    case X_VALUE_TYPE: return str(r->value_type.ptr);
    case X_INT_FIT: return str(s->int_fit);
    case X_NULLABLE_INT_FIT: return str(s->nullable_fit);
    case X_ROWS: return num(rows);
    case X_NULLS: return num((double)r->null_count);
    case X_NULL_RATIO: return ratio((double)r->null_count, rows);
    case X_NON_NULL: return num(non_null);
    case X_DISTINCT: return num((double)r->distinct_count);
    case X_DISTINCT_RATIO: return ratio((double)r->distinct_count, non_null);
    case X_BYTES: return num((double)r->deep_bytes);
    case X_SHALLOW_BYTES: return num((double)r->shallow_bytes);
    case X_OBJECT_BYTES: return num((double)(r->deep_bytes - (r->deep_bytes > r->shallow_bytes ? r->shallow_bytes : r->deep_bytes)));
    case X_SHARE: return ratio((double)r->deep_bytes, (double)fr->deep_bytes);
    case X_MIN: return value_num(&r->min);
    case X_MAX: return value_num(&r->max);
    case X_WHOLE: return num(!!(r->flags & MT_COL_INTEGRAL));
    case X_FLOAT32_EXACT: return num(!!(r->flags & MT_COL_F32_EXACT));
    case X_FLOAT32_ERROR:
        return !strcmp(s->kind, "float") || !strcmp(s->kind, "nullable_float") ? num(r->f32_max_rel_error) : none();
    case X_KEY: return num(!!(r->flags & MT_COL_KEY));
    case X_SORTED: return num(!!(r->flags & MT_COL_SORTED));
    case X_UNIQUE: return num(!!(r->flags & MT_COL_UNIQUE));
    case X_MIXED: return num(!!(r->flags & MT_COL_MIXED));
    case X_DATETIME_TEXT: return num((r->flags & MT_COL_DATETIME_TEXT) || r->datetime_format.len);
    case X_DATETIME_FORMAT: return str(r->datetime_format.len ? r->datetime_format.ptr : "");
    case X_DATETIME_AMBIGUOUS: return num(r->datetime_format.len && (r->flags & MT_COL_DATETIME_DAYFIRST_TOO));
    case X_TEXT_RATIO: return ratio((double)r->text_count, non_null);
    case X_LEN_MEAN: return r->text_count ? num((double)r->len_total / (double)r->text_count) : none();
    case X_LEN_MAX: return r->text_count ? num((double)r->len_max) : none();
    case X_CATEGORIES: return num((double)r->categories);
    case X_UNUSED_CATEGORIES:
        return num(r->categories > r->distinct_count ? (double)(r->categories - r->distinct_count) : 0);
    case X_CATEGORIES_BYTES: return num((double)r->categories_bytes);
    case X_DENSITY: return r->dense_bytes ? num(r->density) : none();
    case X_FRAME_BYTES: return num((double)fr->deep_bytes);
    case X_FRAME_ROWS: return num(rows);
    case X_KEY_COLUMNS:
    case X_KEY_GROUPS: {
        double keys, groups = key_groups(s, &keys);
        return num(f == X_KEY_COLUMNS ? keys : groups);
    }
    default: return none();
    }
}

static fval frame_field(const subject *s, int f) {
    const mt_df_frame *r = &s->f->rec;
    switch (f) {
    case X_FRAME: return str(r->name.ptr);
    case X_STEP: return str(r->step.ptr);
    case X_ROWS: return num((double)r->rows);
    case X_COLUMNS: return num(r->columns);
    case X_BYTES: return num((double)r->deep_bytes);
    case X_SHALLOW_BYTES: return num((double)r->shallow_bytes);
    case X_INDEX_KIND: return str(r->index_kind.ptr);
    case X_INDEX_BYTES: return num((double)r->index_bytes);
    case X_INDEX_SHARE: return ratio((double)r->index_bytes, (double)r->deep_bytes);
    case X_INDEX_NLEVELS: return num(r->index_nlevels ? r->index_nlevels : 1);
    case X_INDEX_LEVELS_BYTES: return num((double)r->index_levels_bytes);
    case X_INDEX_CODES_BYTES: return num((double)r->index_codes_bytes);
    case X_COLUMNS_KIND: return str(r->columns_kind.ptr);
    case X_COLUMNS_NLEVELS: return num(r->columns_nlevels ? r->columns_nlevels : 1);
    default: return none();
    }
}

static fval step_field(const subject *s, int f) {
    const mt_df_step *r = s->st;
    double av = s->available > 0 ? s->available : NAN;
    fval peak = isnan(r->traced_peak) ? none() : num(r->traced_peak);
    switch (f) {
    case X_STEP: return str(r->name);
    case X_PEAK: return peak;
    case X_TRACED: return isnan(r->traced) ? none() : num(r->traced);
    case X_RSS: return isnan(r->rss) ? none() : num(r->rss);
    case X_FRAMES_BYTES: return num((double)r->frames_deep);
    case X_FRAMES: return num((double)r->n_frames);
    case X_AVAILABLE: return isnan(av) ? none() : num(av);
    case X_PEAK_RATIO: return peak.have && !isnan(av) ? num(peak.num / av) : none();
    case X_FRAMES_RATIO: return !isnan(av) ? num((double)r->frames_deep / av) : none();
    case X_PEAK_OVER_FRAMES: return peak.have ? ratio(peak.num, (double)r->frames_deep) : none();
    default: return none();
    }
}

static fval gpu_field(const subject *s, int f) {
    const mt_gpu_device *g = s->g;
    double unused = g->reserved_bytes > g->allocated_bytes ? (double)(g->reserved_bytes - g->allocated_bytes) : 0;
    switch (f) {
    case X_DEVICE: return str(g->name.ptr);
    case X_TOTAL: return num((double)g->total_bytes);
    case X_RESERVED: return num((double)g->reserved_bytes);
    case X_ALLOCATED: return num((double)g->allocated_bytes);
    case X_UNUSED_RESERVED: return num(unused);
    case X_UNUSED_RATIO: return ratio(unused, (double)g->reserved_bytes);
    case X_RESERVED_RATIO: return ratio((double)g->reserved_bytes, (double)g->total_bytes);
    default: break;
    }
    const mt_gpu_device_report *r = s->gr;
    if (!r) return none();
    switch (f) {
    case X_PENDING_FREE: return num((double)r->all.pending_free);
    case X_INACTIVE: return num((double)r->all.inactive);
    case X_RELEASABLE: return num((double)r->all.releasable);
    case X_STRANDED: return num((double)r->all.stranded);
    case X_LARGEST_FREE: return num((double)r->all.largest_free);
    case X_INTERNAL_FRAG: return num(r->all.internal_frag);
    case X_EXTERNAL_FRAG: return num(r->all.external_frag);
    case X_UTILIZATION: return num(r->all.utilization);
    case X_PEAK_ACTIVE: return num((double)(r->has_trace ? r->trace.peak_active : r->all.allocated));
    case X_OUTSIDE: return r->has_used ? num(r->outside > 0 ? (double)r->outside : 0) : none();
    case X_OOMS: return num(s->ooms);
    case X_FRAGMENTATION_OOMS: return num(s->frag_ooms);
    case X_CAPACITY_OOMS: return num(s->cap_ooms);
    case X_OOM_SIZE: return s->last_frag ? num((double)s->last_frag->size) : none();
    case X_OOM_POOL_FREE: return s->last_frag ? num((double)s->last_frag->pool_free) : none();
    case X_OOM_LARGEST_FREE: return s->last_frag ? num((double)s->last_frag->largest_free) : none();
    case X_EXPANDABLE: return num(s->expandable);
    case X_ALLOC_RETRIES: return r->alloc_retries >= 0 ? num((double)r->alloc_retries) : none();
    default: return none();
    }
}

static fval field(const subject *s, int f) {
    switch (s->scope) {
    case MT__SCOPE_COLUMN: return column_field(s, f);
    case MT__SCOPE_FRAME: return frame_field(s, f);
    case MT__SCOPE_STEP: return step_field(s, f);
    default: return gpu_field(s, f);
    }
}

/* ---- conditions ---- */

static int term_holds(const mt__term *t, const mt__fdesc *d, fval v) {
    if (!v.have) return 0;
    if (d->type == MT__FT_BOOL) return (t->op == MT__OP_EQ) == ((v.num != 0) == t->b);
    if (d->type == MT__FT_STR) {
        const char *s = v.str ? v.str : "";
        int any = 0;
        for (size_t i = 0; i < t->n && !any; i++)
            any = t->op == MT__OP_MATCHES ? !fnmatch(t->str[i], s, 0) : !strcmp(t->str[i], s);
        return t->op == MT__OP_NE || t->op == MT__OP_NOT_IN ? !any : any;
    }
    double x = v.num, y = t->num[0];
    switch (t->op) {
    case MT__OP_EQ: return x == y;
    case MT__OP_NE: return x != y;
    case MT__OP_LT: return x < y;
    case MT__OP_LE: return x <= y;
    case MT__OP_GT: return x > y;
    case MT__OP_GE: return x >= y;
    default: {
        int any = 0;
        for (size_t i = 0; i < t->n && !any; i++) any = x == t->num[i];
        return t->op == MT__OP_IN ? any : !any;
    }
    }
}

static int rule_holds(const mt__rule *r, const subject *s) {
    for (size_t i = 0; i < r->n_conds; i++) {
        const mt__cond *c = &r->conds[i];
        fval v = field(s, c->field);
        for (size_t j = 0; j < c->n; j++)
            if (!term_holds(&c->terms[j], &mt__fields[c->field], v)) return 0;
    }
    return 1;
}

/* ---- saving models ---- */

/* Bytes of the categories pandas builds for an astype("category") of c:
 * an index of its distinct values, numbers or objects (8-byte pointers
 * and the objects, of which every distinct value keeps one). */
static double categories_bytes(const mt_df_col_info *c, uint64_t rows) {
    const mt_df_column *r = &c->rec;
    double k = (double)r->distinct_count;
    unsigned item = mt__pandas_dtype_itemsize(r->dtype.ptr, r->dtype.len);
    if (!mt__pandas_dtype_is_object(r->dtype.ptr)) return mt__pandas_categories_bytes(k, item ? item : 8, 0);
    /* Strings of the mean length where every value is text; otherwise
     * the mean object over the rows. */
    double non_null = (double)rows - (double)r->null_count;
    double each = r->text_count && (double)r->text_count >= non_null
                      ? mt__pandas_ascii_str_bytes((double)r->len_total / (double)r->text_count)
                      : rows ? (double)(r->deep_bytes - r->shallow_bytes) / (double)rows : 0;
    double objects = k * each;
    /* Objects shared between rows count once in distinct_bytes, which
     * bounds the distinct values' objects from above. */
    if (r->distinct_bytes && (double)r->distinct_bytes < objects) objects = (double)r->distinct_bytes;
    return mt__pandas_categories_bytes(k, 8, objects);
}

int mt_advise_astype_bytes(const mt_df_col_info *c, uint64_t rows, const char *to, uint64_t *out) {
    const mt_df_column *r = &c->rec;
    double n = (double)rows, bytes;
    int nulls = r->null_count > 0;
    size_t len = strlen(to);
    unsigned item = mt__pandas_dtype_itemsize(to, len), row = mt__pandas_dtype_row_bytes(to);
    if (mt__pandas_dtype_is_category(to)) {
        bytes = n * mt__pandas_code_bytes((double)r->distinct_count) + categories_bytes(c, rows);
    } else if (starts(to, "Sparse[")) {
        /* Sparse[float64] and Sparse[float64, nan]: the non-null values
         * and an int32 index of their rows. */
        char sub[32];
        size_t sl = strcspn(to + 7, ",]");
        if (sl >= sizeof sub) return MT_E_NOTFOUND;
        memcpy(sub, to + 7, sl);
        sub[sl] = 0;
        const char *rest = to + 7 + sl;
        if (!starts(sub, "float") || (strcmp(rest, "]") && strcmp(rest, ", nan]"))) return MT_E_NOTFOUND;
        unsigned w = mt__pandas_dtype_itemsize(sub, sl);
        if (!w) return MT_E_NOTFOUND;
        bytes = (n - (double)r->null_count) * (w + 4);
    } else if (row > item) {
        bytes = n * row;  /* a nullable dtype: values and the mask */
    } else if (item && !mt__pandas_dtype_is_object(to)) {
        /* numpy dtypes have no missing value but NaN and NaT. */
        if (nulls && !starts(to, "float") && !starts(to, "datetime64") && !starts(to, "timedelta64"))
            return MT_E_NOTFOUND;
        bytes = n * item;
    } else
        return MT_E_NOTFOUND;
    *out = (uint64_t)llround(bytes);
    return 0;
}

typedef struct outcome {
    uint64_t bytes, saving, new_bytes, chunks, chunk_rows;
    char to[64];
} outcome;

/* The largest value of an integer dtype ("int16", "UInt8", ...); 0 when
 * to is not one. */
static double int_dtype_max(const char *to) {
    int u = (to[0] == 'u' || to[0] == 'U');
    const char *p = to + u;
    if (strncmp(p, "int", 3) && strncmp(p, "Int", 3)) return 0;
    int w = atoi(p + 3);
    if (w != 8 && w != 16 && w != 32 && w != 64) return 0;
    return ldexp(1.0, u ? w : w - 1) - 1;
}

/* Whole bits between the largest magnitude of s's column and the largest
 * value of integer dtype to; -1 when either is unknown. */
static int headroom_of(const subject *s, const char *to) {
    double top = int_dtype_max(to);
    if (!top || s->scope != MT__SCOPE_COLUMN) return -1;
    fval lo = value_num(&s->c->rec.min), hi = value_num(&s->c->rec.max);
    if (!lo.have || !hi.have) return -1;
    double m = fmax(fabs(lo.num), fabs(hi.num));
    return (int)floor(log2(top / (m >= 1 ? m : 1)));
}

/* Fills a template: {field} from s, action variables from o. */
static int expand(const char *tpl, const mt__rule *r, const subject *s, const outcome *o, char *buf, size_t n) {
    size_t len = 0;
#define PUT(...) do { int w_ = snprintf(buf + len, n > len ? n - len : 0, __VA_ARGS__); if (w_ > 0) len += (size_t)w_; } while (0)
    for (const char *c = tpl; *c; c++) {
        if ((c[0] == '{' && c[1] == '{') || (c[0] == '}' && c[1] == '}')) {
            PUT("%c", *c);
            c++;
            continue;
        }
        const char *end = *c == '{' ? strchr(c, '}') : NULL;
        if (!end) {
            PUT("%c", *c);
            continue;
        }
        size_t nl = (size_t)(end - c - 1);
        char h[16];
        int v = mt__action_var_find(c + 1, nl), fi = mt__field_find(s->scope, c + 1, nl);
        if (fi >= 0) {
            fval x = field(s, fi);
            const mt__fdesc *d = &mt__fields[fi];
            if (!x.have) PUT("?");
            else if (d->type == MT__FT_STR) PUT("%s", x.str ? x.str : "");
            else if (d->type == MT__FT_BOOL) PUT("%s", x.num ? "true" : "false");
            else if (d->unit == MT__U_BYTES) PUT("%s", mt_human_bytes((uint64_t)(x.num > 0 ? x.num : 0), h));
            else if (d->unit == MT__U_RATIO) PUT("%.3g%%", 100 * x.num);
            else if (d->unit == MT__U_COUNT) PUT("%.0f", x.num);
            else PUT("%.6g", x.num);
        } else if (o) {
            switch (v) {
            case V_TO: PUT("%s", o->to); break;
            case V_SAVING: PUT("%s", mt_human_bytes(o->saving, h)); break;
            case V_NEW_BYTES: PUT("%s", mt_human_bytes(o->new_bytes, h)); break;
            case V_CHUNKS: PUT("%" PRIu64, o->chunks); break;
            case V_CHUNK_ROWS: PUT("%" PRIu64, o->chunk_rows); break;
            case V_RULE: PUT("%s", r->id); break;
            case V_TO_MAX:
                if (int_dtype_max(o->to) > 0) PUT("%.0f", int_dtype_max(o->to));
                else PUT("?");
                break;
            case V_HEADROOM:
                if (headroom_of(s, o->to) >= 0) PUT("%d", headroom_of(s, o->to));
                else PUT("?");
                break;
            default: PUT("%s", mt_severity_name(r->severity)); break;
            }
        }
        c = end;
    }
#undef PUT
    if (n) buf[len < n ? len : n - 1] = 0;
    return len >= n;
}

/* Rows of the largest frame recorded at a step or before it: the input
 * that a chunked reader would split. */
static uint64_t step_rows(const subject *s) {
    uint64_t rows = 0;
    size_t upto = (size_t)(s->st - s->t->steps);
    for (size_t i = 0; i < s->t->n_frames; i++) {
        const mt_df_frame *f = &s->t->frames[i].rec;
        for (size_t j = 0; f->step.len && j <= upto; j++)
            if (!strcmp(f->step.ptr, s->t->steps[j].name) && f->rows > rows) rows = f->rows;
    }
    return rows;
}

/* The rule's saving on s; 0 when it applies, -1 when the advice is moot. */
static int compute(const mt__rule *r, const subject *s, outcome *o) {
    memset(o, 0, sizeof *o);
    if (r->to && (expand(r->to, r, s, NULL, o->to, sizeof o->to) || !o->to[0] || strchr(o->to, '?')))
        return -1;  /* a target from an absent field: {int_fit} of a non-integer column */
    switch (s->scope) {
    case MT__SCOPE_COLUMN: o->bytes = s->pandas_bytes ? s->c->rec.deep_bytes : mt_df_col_real_bytes(s->c); break;
    case MT__SCOPE_FRAME: o->bytes = s->f->rec.deep_bytes; break;
    case MT__SCOPE_STEP: o->bytes = isnan(s->st->traced_peak) ? 0 : (uint64_t)s->st->traced_peak; break;
    default: o->bytes = s->g->reserved_bytes;
    }
    switch (r->saving) {
    case MT__SAVE_ASTYPE: {
        uint64_t rows = s->t->frames[s->c->frame].rec.rows;
        if (!strcmp(o->to, s->c->rec.dtype.ptr) || mt_advise_astype_bytes(s->c, rows, o->to, &o->new_bytes))
            return -1;
        if (o->new_bytes >= o->bytes) return -1;
        o->saving = o->bytes - o->new_bytes;
        return 0;
    }
    case MT__SAVE_UNUSED_CATEGORIES: {
        const mt_df_column *c = &s->c->rec;
        if (!c->categories || c->categories <= c->distinct_count) return -1;
        double keep = (double)c->distinct_count / (double)c->categories;
        double rows = (double)s->t->frames[s->c->frame].rec.rows;
        double now_codes = (double)(c->deep_bytes - c->categories_bytes);
        double after = (double)c->categories_bytes * keep + rows * mt__pandas_code_bytes((double)c->distinct_count);
        if (after > (double)c->categories_bytes + now_codes) return -1;
        o->new_bytes = (uint64_t)llround(after);
        o->saving = o->bytes > o->new_bytes ? o->bytes - o->new_bytes : 0;
        return o->saving ? 0 : -1;
    }
    case MT__SAVE_CHUNKS: {
        double peak = s->st->traced_peak, budget = s->available * (r->budget_fraction > 0 ? r->budget_fraction : 0.5);
        if (isnan(peak) || !(budget > 0)) return -1;
        o->chunks = (uint64_t)ceil(peak / budget);
        if (o->chunks < 2) return -1;
        uint64_t rows = step_rows(s);
        o->chunk_rows = rows ? (rows + o->chunks - 1) / o->chunks : 0;
        o->new_bytes = (uint64_t)ceil(peak / (double)o->chunks);
        o->saving = o->bytes > o->new_bytes ? o->bytes - o->new_bytes : 0;
        return 0;
    }
    case MT__SAVE_TRANSIENT: {
        double peak = s->st->traced_peak, kept = (double)s->st->frames_deep;
        if (isnan(peak) || peak <= kept) return -1;
        o->new_bytes = (uint64_t)kept;
        o->saving = (uint64_t)(peak - kept);
        return 0;
    }
    case MT__SAVE_UNUSED_RESERVED:
        if (s->g->reserved_bytes <= s->g->allocated_bytes) return -1;
        o->new_bytes = s->g->allocated_bytes;
        o->saving = s->g->reserved_bytes - s->g->allocated_bytes;
        return 0;
    default:
        return 0;
    }
}

/* ---- the run ---- */

typedef struct run {
    mt_advice *items;
    size_t n, cap;
    const mt_rules *rules;
    size_t *rule_of;      /* per item: its rule's index, for ordering */
    size_t cap_rule_of;
} run;

/* A saving too small to warn about: under MT_ADVISE_MINOR_BYTES, or under
 * MT_ADVISE_MINOR_SHARE of the column's frame. */
/* The share is of the frame in the bytes the savings are counted in: with
 * real bytes a frame of repeated strings is several times smaller than
 * pandas' deep count, and its 1% would demote real warnings. */
static int minor_saving(const subject *s, uint64_t saving) {
    double frame = s->pandas_bytes ? (double)s->t->frames[s->c->frame].rec.deep_bytes
                                   : (double)mt_df_frame_real_bytes(s->t, s->c->frame);
    return saving < MT_ADVISE_MINOR_BYTES || (double)saving < MT_ADVISE_MINOR_SHARE * frame;
}

static int emit(run *R, size_t ri, const subject *s) {
    const mt__rule *r = &R->rules->rules[ri];
    outcome o;
    if (!rule_holds(r, s) || compute(r, s, &o)) return 0;
    char msg[1024];
    expand(r->message, r, s, &o, msg, sizeof msg);
    if (mt__grow((void **)&R->items, &R->cap, R->n, sizeof *R->items) ||
        mt__grow((void **)&R->rule_of, &R->cap_rule_of, R->n, sizeof *R->rule_of))
        return MT_E_NOMEM;
    mt_advice *a = &R->items[R->n];
    memset(a, 0, sizeof *a);
    if (!(a->message = strdup(msg))) return MT_E_NOMEM;
    if (o.to[0] && !(a->to_dtype = strdup(o.to))) {
        free(a->message);
        return MT_E_NOMEM;
    }
    R->rule_of[R->n++] = ri;
    a->rule = r->id;
    a->severity = r->severity;
    a->kind = r->kind;
    a->frame_index = a->column_index = SIZE_MAX;
    a->bytes = o.bytes;
    a->saving_bytes = o.saving;
    a->chunks = o.chunks;
    a->chunk_rows = o.chunk_rows;
    a->lossless = r->lossless;
    a->in_total = r->saving == MT__SAVE_ASTYPE || r->saving == MT__SAVE_UNUSED_CATEGORIES;
    if (a->in_total && s->scope == MT__SCOPE_COLUMN && minor_saving(s, o.saving)) a->severity = MT_SEV_INFO;
    switch (s->scope) {
    case MT__SCOPE_COLUMN:
        a->scope = "column";
        a->column_index = (size_t)(s->c - s->t->columns);
        a->frame_index = s->c->frame;
        a->frame = s->t->frames[s->c->frame].rec.name.ptr;
        a->column = s->c->rec.name.ptr;
        a->from_dtype = s->c->rec.dtype.ptr;
        if (s->t->frames[s->c->frame].rec.step.len) a->step = s->t->frames[s->c->frame].rec.step.ptr;
        break;
    case MT__SCOPE_FRAME:
        a->scope = "frame";
        a->frame_index = (size_t)(s->f - s->t->frames);
        a->frame = s->f->rec.name.ptr;
        if (s->f->rec.step.len) a->step = s->f->rec.step.ptr;
        break;
    case MT__SCOPE_STEP:
        a->scope = "step";
        a->step = s->st->name;
        break;
    default:
        a->scope = "gpu";
        a->device = s->g->name.ptr;
    }
    return 0;
}

/* Every enabled rule of s's scope, in rule order. The subject is set up
 * once for all of them; the ranking below does not depend on this order. */
static int emit_all(run *R, const subject *s) {
    for (size_t ri = 0; ri < R->rules->n; ri++) {
        const mt__rule *r = &R->rules->rules[ri];
        if (!r->enabled || r->scope != s->scope) continue;
        int rc = emit(R, ri, s);
        if (rc) return rc;
    }
    return 0;
}

static void advice_free(mt_advice *a) {
    free(a->message);
    free((char *)a->to_dtype);
}

/* Saving, largest first; then severity, highest first; then rule order
 * and subject order (stable through the index). */
typedef struct order_ctx {
    const mt_advice *items;
    const size_t *rule_of;
} order_ctx;

static int by_saving(const void *x, const void *y, void *arg) {
    const order_ctx *o = arg;
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    const mt_advice *a = &o->items[i], *b = &o->items[j];
    if (a->saving_bytes != b->saving_bytes) return a->saving_bytes < b->saving_bytes ? 1 : -1;
    if (a->severity != b->severity) return a->severity < b->severity ? 1 : -1;
    if (o->rule_of[i] != o->rule_of[j]) return o->rule_of[i] < o->rule_of[j] ? -1 : 1;
    return (i > j) - (i < j);
}

/* ---- a column once, and what the changes do to a pipeline ---- */

/* Whether column j of t is column i < j recorded again: the same frame
 * and column name, or at another step the same column name and dtype
 * (memtrace.pipeline names a lone frame after its step, and a step that
 * filters rows changes a column's counts, not what it is). */
static int same_column(const mt_df_table *t, size_t i, size_t j) {
    const mt_df_col_info *a = &t->columns[i], *b = &t->columns[j];
    const mt_df_frame *fa = &t->frames[a->frame].rec, *fb = &t->frames[b->frame].rec;
    if (a->frame == b->frame || strcmp(a->rec.name.ptr, b->rec.name.ptr)) return 0;
    if (!strcmp(fa->name.ptr, fb->name.ptr)) return 1;
    if (!fa->step.len || !fb->step.len || !strcmp(fa->step.ptr, fb->step.ptr)) return 0;
    return !strcmp(a->rec.dtype.ptr, b->rec.dtype.ptr);
}

static uint64_t col_bytes(const mt_df_col_info *c, int pandas) {
    return pandas ? c->rec.deep_bytes : mt_df_col_real_bytes(c);
}

static int by_column_name(const void *x, const void *y, void *arg) {
    const mt_df_table *t = arg;
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    int c = strcmp(t->columns[i].rec.name.ptr, t->columns[j].rec.name.ptr);
    return c ? c : (i > j) - (i < j);
}

/* Bytes of t's frames with each column once (its largest record); rep[]
 * gets each column's first record. work: n_columns entries of scratch,
 * most: n_columns. Columns are compared only with those of their name. */
static uint64_t data_bytes_once(const mt_df_table *t, int pandas, size_t *rep, size_t *work, uint64_t *most) {
    uint64_t sum = 0;
    for (size_t j = 0; j < t->n_columns; j++) {
        rep[j] = work[j] = j;
        most[j] = 0;
    }
    if (t->n_columns) qsort_r(work, t->n_columns, sizeof *work, by_column_name, (void *)t);
    for (size_t a = 0, b; a < t->n_columns; a = b) {
        for (b = a + 1; b < t->n_columns && !strcmp(t->columns[work[a]].rec.name.ptr, t->columns[work[b]].rec.name.ptr);)
            b++;
        for (size_t y = a + 1; y < b; y++)
            for (size_t x = a; x < y && rep[work[y]] == work[y]; x++)
                if (rep[work[x]] == work[x] && same_column(t, work[x], work[y])) rep[work[y]] = work[x];
    }
    for (size_t f = 0; f < t->n_frames; f++) {
        const mt_df_frame_info *fi = &t->frames[f];
        uint64_t bytes = pandas ? fi->rec.deep_bytes : mt_df_frame_real_bytes(t, f), cols = 0;
        if (!pandas) bytes -= fi->rec.shared_bytes < bytes ? fi->rec.shared_bytes : bytes;
        for (size_t k = 0; k < fi->n_columns; k++) cols += col_bytes(&t->columns[fi->first_column + k], pandas);
        sum += bytes > cols ? bytes - cols : 0;  /* the index, and columns not recorded */
    }
    for (size_t j = 0; j < t->n_columns; j++) {
        uint64_t b = col_bytes(&t->columns[j], pandas);
        if (b > most[rep[j]]) most[rep[j]] = b;
    }
    for (size_t j = 0; j < t->n_columns; j++) sum += most[j];
    return sum;
}

/* The savings of the column changes (change[]) to frames recorded at step st. */
static uint64_t step_saving(const mt_advice_list *l, const mt_df_table *t, size_t st, const unsigned char *change) {
    uint64_t sum = 0;
    for (size_t k = 0; k < l->n; k++) {
        const mt_df_frame *f = change[k] ? &t->frames[l->items[k].frame_index].rec : NULL;
        if (f && f->step.len && !strcmp(f->step.ptr, t->steps[st].name)) sum += l->items[k].saving_bytes;
    }
    return sum;
}

static void effects(mt_advice_list *l, const mt_df_table *t, int pandas, const unsigned char *change) {
    size_t r = SIZE_MAX, p = SIZE_MAX, m = SIZE_MAX;
    for (size_t i = 0; t && i < t->n_steps; i++) {
        const mt_df_step *st = &t->steps[i];
        if (!isnan(st->traced) && (r == SIZE_MAX || st->traced > t->steps[r].traced)) r = i;
        if (!isnan(st->traced_peak) && (p == SIZE_MAX || st->traced_peak > t->steps[p].traced_peak)) p = i;
        if (!isnan(st->rss) && (m == SIZE_MAX || st->rss > t->steps[m].rss)) m = i;
    }
    l->resident_basis = r != SIZE_MAX ? "traced" : "rss";
    if (r == SIZE_MAX) r = m;
    if (r != SIZE_MAX) {
        l->resident = (struct mt_advice_effect){ 1, r, isnan(t->steps[r].traced) ? t->steps[r].rss : t->steps[r].traced,
                                                 pandas ? t->steps[r].frames_deep : t->steps[r].frames_real,
                                                 step_saving(l, t, r, change), r, 0 };
    }
    if (p != SIZE_MAX) {
        /* Each step's peak can fall by its inputs' changes at most; the
         * first step's (the read) not at all: the highest that remains. */
        size_t then = p;
        double then_peak = -1;
        for (size_t i = 0; i < t->n_steps; i++) {
            double pk = t->steps[i].traced_peak, s = i ? (double)step_saving(l, t, i - 1, change) : 0;
            if (!isnan(pk) && pk - s > then_peak) {
                then_peak = pk - s > 0 ? pk - s : 0;
                then = i;
            }
        }
        double peak = t->steps[p].traced_peak;
        l->peak = (struct mt_advice_effect){ 1, p, peak, 0, peak > then_peak ? (uint64_t)(peak - then_peak) : 0,
                                             then, then_peak };
    }
    if (m != SIZE_MAX)
        l->rss = (struct mt_advice_effect){ 1, m, t->steps[m].rss,
                                            pandas ? t->steps[m].frames_deep : t->steps[m].frames_real,
                                            step_saving(l, t, m, change), m, 0 };
}

int mt_advise(const mt_rules *rules, const mt_advise_input *in, mt_advice_list **out, mt_diag *diag) {
    mt_diag_clear(diag);
    *out = NULL;
    run R = { 0 };
    R.rules = rules;
    const mt_df_table *t = in->table;
    int rc = 0;
    subject s;
    memset(&s, 0, sizeof s);
    s.t = t;
    s.available = in->available_bytes;
    s.pandas_bytes = in->pandas_bytes;
    s.headroom_bits = in->int_headroom_bits > 0 ? in->int_headroom_bits : 0;
    s.scope = MT__SCOPE_COLUMN;
    for (size_t i = 0; t && i < t->n_columns && !rc; i++) {
        s.c = &t->columns[i];
        snprintf(s.kind, sizeof s.kind, "%s", mt__pandas_dtype_kind(s.c->rec.dtype.ptr));
        s.nullable_fit[0] = 0;
        headroom_fit(s.c, s.headroom_bits, s.int_fit, sizeof s.int_fit);
        if (s.int_fit[0]) mt__pandas_nullable_int_name(s.int_fit, s.nullable_fit, sizeof s.nullable_fit);
        rc = emit_all(&R, &s);
    }
    s.scope = MT__SCOPE_FRAME;
    for (size_t i = 0; t && i < t->n_frames && !rc; i++) {
        s.f = &t->frames[i];
        rc = emit_all(&R, &s);
    }
    s.scope = MT__SCOPE_STEP;
    for (size_t i = 0; t && i < t->n_steps && !rc; i++) {
        s.st = &t->steps[i];
        rc = emit_all(&R, &s);
    }
    s.scope = MT__SCOPE_GPU;
    const mt_gpu_device_report *grs = NULL;
    size_t n_grs = in->gpu_report ? mt_gpu_report_devices(in->gpu_report, &grs) : 0;
    for (size_t i = 0; i < in->n_gpus && !rc; i++) {
        int measured = 0;
        for (size_t k = 0; k < n_grs; k++) measured |= grs[k].device == in->gpus[i].id;
        if (measured) continue; /* a subject below, with its measures */
        s.g = &in->gpus[i];
        rc = emit_all(&R, &s);
    }
    if (n_grs) {
        const mt_gpu_oom *ooms;
        size_t n_ooms = mt_gpu_report_ooms(in->gpu_report, &ooms);
        s.expandable = mt_gpu_report_expandable(in->gpu_report);
        for (size_t k = 0; k < n_grs && !rc; k++) {
            const mt_gpu_device_report *r = &grs[k];
            mt_gpu_device d = { r->device, mt_str_c(r->name), r->total, r->all.reserved, r->all.allocated };
            /* What the device record says wins over the sums of the
             * segments: it may count what the state left out. */
            for (size_t i = 0; i < in->n_gpus; i++) {
                const mt_gpu_device *g = &in->gpus[i];
                if (g->id != r->device) continue;
                if (g->name.len) d.name = g->name;
                if (g->total_bytes) d.total_bytes = g->total_bytes;
                if (g->reserved_bytes) d.reserved_bytes = g->reserved_bytes;
                if (g->allocated_bytes) d.allocated_bytes = g->allocated_bytes;
            }
            s.g = &d;
            s.gr = r;
            s.ooms = s.frag_ooms = s.cap_ooms = 0;
            s.last_frag = NULL;
            for (size_t i = 0; i < n_ooms; i++)
                if (ooms[i].device == r->device) {
                    s.ooms++;
                    s.cap_ooms += ooms[i].cause == MT_GPU_OOM_CAPACITY;
                    if (ooms[i].cause == MT_GPU_OOM_FRAGMENTATION) {
                        s.frag_ooms++;
                        s.last_frag = &ooms[i];
                    }
                }
            rc = emit_all(&R, &s);
        }
        s.gr = NULL;
    }
    mt_advice_list *l = NULL;
    size_t *order = NULL;
    unsigned char *taken = NULL;  /* columns that have their dtype change */
    size_t *rep = NULL;           /* per column: its first record (same_column); then scratch */
    uint64_t *most = NULL;        /* per first record: its largest bytes */
    unsigned char *more = NULL;   /* per first record: a change of it is in the total */
    unsigned char *change = NULL; /* per item of l: a column change (dtype, categories) */
    if (rc || !(l = calloc(1, sizeof *l)) || !(order = malloc((R.n ? R.n : 1) * sizeof *order)) ||
        !(l->items = malloc((R.n ? R.n : 1) * sizeof *l->items)) || !(change = calloc(R.n ? R.n : 1, 1)) ||
        (t && t->n_columns &&
         (!(taken = calloc(t->n_columns, 1)) || !(more = calloc(t->n_columns, 1)) ||
          !(rep = malloc(2 * t->n_columns * sizeof *rep)) || !(most = malloc(t->n_columns * sizeof *most)))) ||
        (t && t->n_frames && !(l->frames = calloc(t->n_frames, sizeof *l->frames)))) {
        for (size_t i = 0; i < R.n; i++) advice_free(&R.items[i]);
        if (l) {
            free(l->items);
            free(l->frames);
        }
        free(taken);
        free(rep);
        free(most);
        free(more);
        free(change);
        free(l);
        free(order);
        free(R.items);
        free(R.rule_of);
        return mt_diag_set(diag, MT_E_NOMEM, "out of memory applying the rules");
    }
    for (size_t i = 0; i < R.n; i++) order[i] = i;
    order_ctx oc = { R.items, R.rule_of };
    if (R.n) qsort_r(order, R.n, sizeof *order, by_saving, &oc);
    if (t) l->data_bytes = data_bytes_once(t, in->pandas_bytes, rep, rep ? rep + t->n_columns : NULL, most);
    /* One dtype change a column: the first in order saves most. */
    for (size_t k = 0; k < R.n; k++) {
        mt_advice *a = &R.items[order[k]];
        if (a->in_total && a->column_index != SIZE_MAX) {
            if (taken[a->column_index]) {
                advice_free(a);
                continue;
            }
            taken[a->column_index] = 1;
            change[l->n] = 1;
            /* A column recorded at several steps counts once in the total. */
            if (more[rep[a->column_index]]) {
                a->in_total = 0;
                l->columns_repeated++;
            } else {
                more[rep[a->column_index]] = 1;
                l->columns_changed++;
            }
        }
        if (a->in_total) l->total_saving_bytes += a->saving_bytes;
        l->items[l->n++] = *a;
    }
    effects(l, t, in->pandas_bytes, change);
    free(rep);
    free(most);
    free(more);
    free(change);
    l->n_frames = t ? t->n_frames : 0;
    for (size_t i = 0; i < l->n; i++) {
        const mt_advice *a = &l->items[i];
        if (a->frame_index >= l->n_frames || !a->column || !a->to_dtype || strcmp(a->kind, "dtype")) continue;
        mt_advice_frame *f = &l->frames[a->frame_index];
        f->changes++;
        f->to_datetime += !strncmp(a->to_dtype, "datetime64", 10);
        f->saving_bytes += a->saving_bytes;
    }
    free(taken);
    free(order);
    free(R.items);
    free(R.rule_of);
    *out = l;
    return 0;
}

void mt_advice_list_free(mt_advice_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) advice_free(&l->items[i]);
    free(l->items);
    free(l->frames);
    free(l);
}

int mt_advise_load(const mt_snapshot *s, mt_df_table **t, mt_gpu_device **gpus, size_t *n_gpus,
                   mt_gpu_report **gpu_report, mt_diag *diag) {
    *t = NULL;
    *gpus = NULL;
    *n_gpus = 0;
    *gpu_report = NULL;
    int rc = mt_df_table_load(s, t, diag);
    if (!rc) rc = mt_snapshot_gpu_devices(s, gpus, n_gpus, diag);
    if (!rc && (mt_snapshot_count(s, MT_KIND_GPU_SEGMENT) || mt_snapshot_count(s, MT_KIND_GPU_EVENT)))
        rc = mt_gpu_analyze(s, NULL, gpu_report, diag);
    if (!rc && !(*t)->n_frames && !(*t)->n_steps && !*n_gpus && !*gpu_report)
        rc = mt_diag_set(diag, MT_E_NOTFOUND,
                         "holds no DataFrame, pipeline or GPU records: write it with memtrace.dump_frames, "
                         "memtrace.pipeline or memtrace.dump_cuda");
    if (rc) {
        mt_df_table_free(*t);
        mt_gpu_devices_free(*gpus, *n_gpus);
        mt_gpu_report_free(*gpu_report);
        *t = NULL;
        *gpus = NULL;
        *n_gpus = 0;
        *gpu_report = NULL;
    }
    return rc;
}
