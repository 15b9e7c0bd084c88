/* memtrace-frames: where a DataFrame snapshot's memory is, by frame,
 * column and pipeline step. */
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"

enum { FMT_TEXT, FMT_JSON, FMT_CSV };

static const mt_tool tool = {
    "memtrace-frames", "FILE",
    "Show the memory of the DataFrames in a snapshot written by memtrace.dump_frames or memtrace.pipeline:\n"
    "frames by bytes, their columns by bytes with share, dtype and statistics, the overhead of MultiIndex\n"
    "levels and codes and of categoricals, sparse columns' efficiency, and for a pipeline the memory by step.\n"
    "Bytes are the memory the frames really hold (each buffer and each distinct object once), with pandas'\n"
    "memory_usage(deep=True) count beside them, which charges a shared string at every row that holds it.",
    1, 1, NULL,
};

enum { BYTES_REAL, BYTES_PANDAS };

typedef struct view {
    const mt_df_table *t;
    const char *frame, *step;  /* filters; NULL for all */
    int bytes;                 /* the figure shown first and sorted by: BYTES_REAL or BYTES_PANDAS */
    size_t *frames;            /* indices of the frames shown, by that figure */
    size_t n_frames;
    size_t *cols;              /* indices of their columns, by that figure */
    size_t n_cols;
    uint64_t deep, shallow;
    uint64_t real;             /* real bytes of the frames shown, what they share counted once; for a
                                * pipeline, of the step whose frames hold the most */
    uint64_t shared;           /* what was counted once: the frames' shared_bytes (of that step) */
    int shared_outside;        /* --frame: frames not shown may hold the shared bytes, not subtracted */
    size_t n_steps_shown;      /* steps the frames shown were recorded at */
    const char *real_step;     /* that step; NULL when not a pipeline's */
} view;

/* A frame's real bytes (SPEC.md 4.3), its row index's, whether they are
 * an estimate and what it shares: libanalyze's, so that memtrace.analyze
 * reports the same. */
static uint64_t frame_real(const mt_df_table *t, size_t i) { return mt_df_frame_real_bytes(t, i); }
static uint64_t index_real(const mt_df_table *t, size_t i) { return mt_df_index_real_bytes(t, i); }
static int frame_real_estimated(const mt_df_table *t, size_t i) { return mt_df_frame_real_estimated(t, i); }
static uint64_t frame_shared(const mt_df_table *t, size_t i) { return mt_df_frame_shared_bytes(t, i); }

static uint64_t frame_bytes(const view *v, size_t i) {
    return v->bytes == BYTES_PANDAS ? v->t->frames[i].rec.deep_bytes : frame_real(v->t, i);
}

static uint64_t col_bytes(const view *v, const mt_df_col_info *c) {
    return v->bytes == BYTES_PANDAS ? c->rec.deep_bytes : mt_df_col_real_bytes(c);
}

static int shown(const view *v, const mt_df_frame_info *f) {
    return (!v->frame || !strcmp(v->frame, f->rec.name.ptr)) && (!v->step || !strcmp(v->step, f->rec.step.ptr));
}

/* Larger deep bytes first, then file order. */
static int by_bytes(uint64_t x, uint64_t y, size_t i, size_t j) {
    if (x != y) return x < y ? 1 : -1;
    return (i > j) - (i < j);
}

static int by_frame_bytes(const void *a, const void *b, void *arg) {
    const view *v = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return by_bytes(frame_bytes(v, i), frame_bytes(v, j), i, j);
}

static int by_column_bytes(const void *a, const void *b, void *arg) {
    const view *v = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return by_bytes(col_bytes(v, &v->t->columns[i]), col_bytes(v, &v->t->columns[j]), i, j);
}

/* The real bytes of the frames shown (mt_df_frames_real). */
static int view_real(view *v) {
    mt_df_real r;
    if (mt_df_frames_real(v->t, v->frames, v->n_frames, v->frame != NULL, &r)) return -1;
    v->shared_outside = v->frame != NULL;
    v->n_steps_shown = r.n_steps;
    v->real = r.real;
    v->shared = r.shared;
    v->real_step = r.step;
    return 0;
}

static int view_build(view *v) {
    const mt_df_table *t = v->t;
    v->frames = malloc((t->n_frames + 1) * sizeof *v->frames);
    v->cols = malloc((t->n_columns + 1) * sizeof *v->cols);
    if (!v->frames || !v->cols) return -1;
    for (size_t i = 0; i < t->n_frames; i++) {
        const mt_df_frame_info *f = &t->frames[i];
        if (!shown(v, f)) continue;
        v->frames[v->n_frames++] = i;
        v->deep += f->rec.deep_bytes;
        v->shallow += f->rec.shallow_bytes;
        for (size_t j = 0; j < f->n_columns; j++) v->cols[v->n_cols++] = f->first_column + j;
    }
    if (v->n_frames) qsort_r(v->frames, v->n_frames, sizeof *v->frames, by_frame_bytes, v);
    if (v->n_cols) qsort_r(v->cols, v->n_cols, sizeof *v->cols, by_column_bytes, v);
    return view_real(v);
}

/* A column's part of its frame, by the figure shown. */
static double share(const view *v, const mt_df_col_info *c) {
    uint64_t d = frame_bytes(v, c->frame);
    return d ? (double)col_bytes(v, c) / (double)d : 0;
}

/* By one figure: pandas' deep bytes (the JSON and CSV "share") or real. */
static double share_by(const view *v, const mt_df_col_info *c, int bytes) {
    view w = *v;
    w.bytes = bytes;
    return share(&w, c);
}

/* Text cells as wide as their longest entry (up to NAME_MAX_COLS, then cut
 * with "..."), counted in characters, so long names keep the columns of a
 * table aligned. */
#define NAME_MAX_COLS 40

static size_t text_cols(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static const char *cell(mt_str s) { return mt_cli_strw(s, NAME_MAX_COLS * 4); }

static void put_cell(const char *s, size_t width) {
    size_t n = text_cols(s);
    if (n > NAME_MAX_COLS) {
        /* Cut at a character boundary, marked. */
        size_t k = 0, c = 0;
        while (s[k] && c < NAME_MAX_COLS - 3) {
            k++;
            while (((unsigned char)s[k] & 0xC0) == 0x80) k++;
            c++;
        }
        printf("%.*s...", (int)k, s);
        n = NAME_MAX_COLS;
    } else
        fputs(s, stdout);
    for (; n < width; n++) putchar(' ');
}

static size_t fit(size_t w, const char *s) {
    size_t n = text_cols(s);
    if (n > NAME_MAX_COLS) n = NAME_MAX_COLS;
    return n > w ? n : w;
}

static int is_dtype(const mt_df_col_info *c, const char *prefix) {
    return !strncmp(c->rec.dtype.ptr, prefix, strlen(prefix));
}

static int is_float(const mt_df_col_info *c) {
    return is_dtype(c, "float") || is_dtype(c, "Float") || is_dtype(c, "Sparse[float");
}

/* Appends printf output to buf (of n), separated by "; ". */
static void note(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(char *buf, size_t n, const char *fmt, ...) {
    size_t len = strlen(buf);
    if (len && len + 2 < n) {
        memcpy(buf + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    if (len < n) vsnprintf(buf + len, n - len, fmt, ap);
    va_end(ap);
}

/* What a reader should notice about a column, in a few words. */
static void column_notes(const mt_df_col_info *c, char *buf, size_t n) {
    const mt_df_column *r = &c->rec;
    char h1[16], h2[16];
    buf[0] = 0;
    if (r->flags & MT_COL_KEY) note(buf, n, "key");
    if (c->int_fit) {
        unsigned now = mt_df_itemsize(r->dtype.ptr, r->dtype.len);
        const char *fit = c->int_fit;
        unsigned bits = (unsigned)atoi(fit + (fit[0] == 'u' ? 4 : 3));
        if (is_float(c) || is_dtype(c, "object")) note(buf, n, "whole numbers: fit %s%s", fit, r->null_count ? " (nullable)" : "");
        else if (!now || bits / 8 < now) note(buf, n, "fits %s", fit);
    } else if (is_float(c) && r->null_count + r->distinct_count) {
        if (is_dtype(c, "float32") || is_dtype(c, "Float32")) {
            /* already float32 */
        } else if (r->flags & MT_COL_F32_EXACT) note(buf, n, "float32-exact");
        else note(buf, n, "float32 rel. error %.1e", r->f32_max_rel_error);
    }
    if (r->text_count) {
        if (r->len_min == r->len_max) note(buf, n, "text %" PRIu64 " chars", r->len_min);
        else
            note(buf, n, "text %" PRIu64 "-%" PRIu64 " chars (mean %.1f)", r->len_min, r->len_max,
                 (double)r->len_total / (double)r->text_count);
    }
    if (is_dtype(c, "object") || is_dtype(c, "string")) {
        uint64_t objects = r->deep_bytes - r->shallow_bytes;
        if (r->distinct_bytes && r->distinct_bytes < objects)
            note(buf, n, "distinct objects %s%s of %s", r->flags & MT_COL_DBYTES_EST ? "~" : "",
                 mt_human_bytes(r->distinct_bytes, h1), mt_human_bytes(objects, h2));
    }
    if (r->flags & MT_COL_MIXED) note(buf, n, "mixed types");
    if (r->categories)
        note(buf, n, "%" PRIu64 " categories %s + codes %s", r->categories, mt_human_bytes(r->categories_bytes, h1),
             mt_human_bytes(r->deep_bytes - r->categories_bytes, h2));
    if (r->dense_bytes)
        note(buf, n, "density %.3g, %.2fx the dense %s", r->density, (double)r->shallow_bytes / (double)r->dense_bytes,
             mt_human_bytes(r->dense_bytes, h1));
    if (r->flags & MT_COL_UNIQUE) note(buf, n, "unique");
    if (r->flags & MT_COL_SORTED) note(buf, n, "sorted");
}

static const char *distinct_text(const mt_df_column *r, char *buf, size_t n) {
    if (r->flags & MT_COL_DISTINCT_EST) {
        double d = (double)r->distinct_count;
        if (d >= 1e6) snprintf(buf, n, "~%.1fM", d / 1e6);
        else if (d >= 1e3) snprintf(buf, n, "~%.1fk", d / 1e3);
        else snprintf(buf, n, "~%.0f", d);
    } else
        snprintf(buf, n, "%" PRIu64, r->distinct_count);
    return buf;
}

static const char *index_text(const view *v, size_t i, char *buf, size_t n) {
    const mt_df_frame *f = &v->t->frames[i].rec;
    char h[16];
    uint64_t b = v->bytes == BYTES_PANDAS ? f->index_bytes : index_real(v->t, i);
    if (f->index_nlevels > 1)
        snprintf(buf, n, "%s(%u) %s", mt_cli_str(f->index_kind), f->index_nlevels, mt_human_bytes(b, h));
    else
        snprintf(buf, n, "%s %s", f->index_kind.len ? mt_cli_str(f->index_kind) : "?", mt_human_bytes(b, h));
    return buf;
}

static void print_text(const view *v, const char *file, size_t top) {
    const mt_df_table *t = v->t;
    char h1[16], h2[16], h3[16], h4[16], buf[512];
    int pandas = v->bytes == BYTES_PANDAS, est = 0;
    for (size_t i = 0; i < v->n_frames; i++) est |= frame_real_estimated(t, v->frames[i]);
    printf("%s: %zu frame%s, %zu columns", mt_cli_cstr(file), v->n_frames, v->n_frames == 1 ? "" : "s", v->n_cols);
    if (pandas)
        printf(", %s pandas deep (%s shallow; %s%s real)", mt_human_bytes(v->deep, h1), mt_human_bytes(v->shallow, h2),
               est ? "~" : "", mt_human_bytes(v->real, h3));
    else
        printf(", %s%s real (%s pandas deep, %s shallow)", est ? "~" : "", mt_human_bytes(v->real, h1),
               mt_human_bytes(v->deep, h2), mt_human_bytes(v->shallow, h3));
    if (t->n_steps) printf(", pipeline of %zu steps", t->n_steps);
    printf("\n");
    if (!v->n_frames) return;
    if (v->real_step && v->n_steps_shown > 1)
        printf("Real bytes of the step whose frames hold the most, %s (steps record the same frames again).\n",
               mt_cli_cstr(v->real_step));
    if (v->shared && v->shared_outside)
        printf("%s of it is also held by frames written before it (views, shallow copies, shared strings).\n",
               mt_human_bytes(v->shared, h1));
    else if (v->shared)
        printf("%s of it is held by more than one frame (views, shallow copies, shared strings) and counted once.\n",
               mt_human_bytes(v->shared, h1));

    size_t wf = strlen("frame"), ws = strlen("step");
    for (size_t i = 0; i < v->n_frames; i++) {
        const mt_df_frame *f = &t->frames[v->frames[i]].rec;
        wf = fit(wf, cell(f->name));
        ws = fit(ws, f->step.len ? cell(f->step) : "-");
    }
    printf("\nFrames by %s bytes\n  ", pandas ? "pandas deep" : "real");
    put_cell("frame", wf + 1);
    put_cell("step", ws);
    printf(" %10s %5s  %-18s %11s %11s %11s\n", "rows", "cols", "index", pandas ? "pandas deep" : "real",
           "shared", pandas ? "real" : "pandas deep");
    for (size_t i = 0; i < v->n_frames; i++) {
        size_t fi = v->frames[i];
        const mt_df_frame *f = &t->frames[fi].rec;
        uint64_t real = frame_real(t, fi), sh = frame_shared(t, fi);
        char rb[24];
        snprintf(rb, sizeof rb, "%s%s", frame_real_estimated(t, fi) ? "~" : "", mt_human_bytes(real, h4));
        printf("  ");
        put_cell(cell(f->name), wf + 1);
        put_cell(f->step.len ? cell(f->step) : "-", ws);
        printf(" %10" PRIu64 " %5u  %-18s %11s %11s %11s\n", f->rows, f->columns, index_text(v, fi, buf, sizeof buf),
               pandas ? mt_human_bytes(f->deep_bytes, h1) : rb, sh ? mt_human_bytes(sh, h2) : "-",
               pandas ? rb : mt_human_bytes(f->deep_bytes, h3));
    }

    size_t n = top && top < v->n_cols ? top : v->n_cols;
    size_t wc = strlen("column"), wd = strlen("dtype");
    wf = strlen("frame");
    for (size_t i = 0; i < n; i++) {
        const mt_df_col_info *c = &t->columns[v->cols[i]];
        wf = fit(wf, cell(t->frames[c->frame].rec.name));
        wc = fit(wc, cell(c->rec.name));
        wd = fit(wd, cell(c->rec.dtype));
    }
    printf("\nColumns by %s bytes (%zu of %zu)\n  ", pandas ? "pandas deep" : "real", n, v->n_cols);
    put_cell("frame", wf + 1);
    put_cell("column", wc + 1);
    put_cell("dtype", wd);
    printf(" %11s %6s %11s %8s %9s  %s\n", pandas ? "pandas deep" : "real", "share", pandas ? "real" : "pandas deep",
           "nulls", "distinct", "notes");
    for (size_t i = 0; i < n; i++) {
        const mt_df_col_info *c = &t->columns[v->cols[i]];
        char dist[32];
        uint64_t real = mt_df_col_real_bytes(c);
        int cest = !!(c->rec.flags & MT_COL_REAL_EST);
        char rb[24];
        snprintf(rb, sizeof rb, "%s%s", cest ? "~" : "", mt_human_bytes(real, h2));
        column_notes(c, buf, sizeof buf);
        printf("  ");
        put_cell(cell(t->frames[c->frame].rec.name), wf + 1);
        put_cell(cell(c->rec.name), wc + 1);
        put_cell(cell(c->rec.dtype), wd);
        printf(" %11s %5.1f%% %11s %8" PRIu64 " %9s  %s\n", pandas ? mt_human_bytes(c->rec.deep_bytes, h1) : rb,
               100 * share(v, c), pandas ? rb : mt_human_bytes(c->rec.deep_bytes, h1), c->rec.null_count,
               distinct_text(&c->rec, dist, sizeof dist), buf);
    }

    /* Overheads: MultiIndex levels and codes, categoricals, sparse. */
    int head = 0;
    for (size_t i = 0; i < v->n_frames; i++) {
        const mt_df_frame *f = &t->frames[v->frames[i]].rec;
        for (int cols = 0; cols < 2; cols++) {
            uint32_t nl = cols ? f->columns_nlevels : f->index_nlevels;
            if (nl < 2) continue;
            if (!head++) printf("\nMultiIndex overhead\n");
            uint64_t lv = cols ? f->columns_levels_bytes : f->index_levels_bytes;
            uint64_t cd = cols ? f->columns_codes_bytes : f->index_codes_bytes;
            printf("  %s: %s, %u levels: levels %s, codes %s", mt_cli_str(f->name), cols ? "column labels" : "row index", nl,
                   mt_human_bytes(lv, h1), mt_human_bytes(cd, h2));
            if (!cols) {
                uint64_t ib = pandas ? f->index_bytes : index_real(t, v->frames[i]);
                uint64_t fb = frame_bytes(v, v->frames[i]);
                printf(" (index %s, %.1f%% of the frame)", mt_human_bytes(ib, h3), fb ? 100.0 * (double)ib / (double)fb : 0);
            }
            printf("\n");
        }
    }
    head = 0;
    for (size_t i = 0; i < v->n_cols; i++) {
        const mt_df_col_info *c = &t->columns[v->cols[i]];
        if (!c->rec.categories && !c->rec.code_bytes) continue;
        if (!head++) printf("\nCategoricals: categories and codes\n");
        uint64_t codes = c->rec.deep_bytes - c->rec.categories_bytes;
        printf("  %s.%s: %" PRIu64 " categories %s, codes %s (%u byte%s each); %.1f%% in categories\n",
               mt_cli_str(t->frames[c->frame].rec.name), mt_cli_str(c->rec.name), c->rec.categories,
               mt_human_bytes(c->rec.categories_bytes, h1), mt_human_bytes(codes, h2), c->rec.code_bytes,
               c->rec.code_bytes == 1 ? "" : "s",
               c->rec.deep_bytes ? 100.0 * (double)c->rec.categories_bytes / (double)c->rec.deep_bytes : 0);
    }
    head = 0;
    for (size_t i = 0; i < v->n_cols; i++) {
        const mt_df_col_info *c = &t->columns[v->cols[i]];
        if (!c->rec.dense_bytes) continue;
        if (!head++) printf("\nSparse columns: stored bytes over the dense equivalent\n");
        double eff = (double)c->rec.shallow_bytes / (double)c->rec.dense_bytes;
        printf("  %s.%s: %s stored, %s dense: efficiency %.3f at density %.3g%s\n", mt_cli_str(t->frames[c->frame].rec.name),
               mt_cli_str(c->rec.name), mt_human_bytes(c->rec.shallow_bytes, h1), mt_human_bytes(c->rec.dense_bytes, h2), eff,
               c->rec.density, eff >= 1 ? " (dense would be smaller)" : "");
    }

    if (!t->n_steps) return;
    size_t wst = strlen("step");
    for (size_t i = 0; i < t->n_steps; i++) wst = fit(wst, mt_cli_cstr(t->steps[i].name));
    printf("\nPipeline: memory by step\n  ");
    put_cell("step", wst);
    printf(" %9s %11s %11s %11s %11s %11s %12s\n", "time", "rss", "traced", "traced peak",
           pandas ? "pandas deep" : "frames real", pandas ? "frames real" : "pandas deep", "rss change");
    for (size_t i = 0; i < t->n_steps; i++) {
        const mt_df_step *s = &t->steps[i];
        char d[24] = "-";
        if (i && !isnan(s->rss) && !isnan(t->steps[i - 1].rss))
            mt_signed_bytes((int64_t)(s->rss - t->steps[i - 1].rss), d);
        char fr[16], fd[16];
        snprintf(fr, sizeof fr, "%s", s->n_frames ? mt_human_bytes(s->frames_real, h4) : "-");
        snprintf(fd, sizeof fd, "%s", s->n_frames ? mt_human_bytes(s->frames_deep, h4) : "-");
        printf("  ");
        put_cell(mt_cli_cstr(s->name), wst);
        printf(" %8.2fs %11s %11s %11s %11s %11s %12s\n", (double)s->time_ns / 1e9,
               isnan(s->rss) ? "-" : mt_human_bytes((uint64_t)s->rss, h1),
               isnan(s->traced) ? "-" : mt_human_bytes((uint64_t)s->traced, h2),
               isnan(s->traced_peak) ? "-" : mt_human_bytes((uint64_t)s->traced_peak, h3), pandas ? fd : fr,
               pandas ? fr : fd, d);
    }
    printf("  traced peak: the most memory traced since the step before (absolute, not what the step added)\n"
           "  frames real: what the step's frames hold, memory shared between them counted once%s\n",
           pandas ? "; pandas deep: memory_usage(deep=True) summed" : "");
    /* The steps that grew most: by RSS, else by traced memory. */
    size_t best[3];
    double gain[3];
    size_t nbest = mt_df_steps_grew_most(t, 3, best, gain);
    if (nbest) {
        printf("\nSteps that grew most:");
        for (size_t k = 0; k < nbest; k++)
            printf("%s %s (%s)", k ? "," : "", mt_cli_cstr(t->steps[best[k]].name), mt_signed_bytes((int64_t)gain[k], h1));
        printf("\n");
    }
}

static void json_column(mt_jw *w, const view *v, const mt_df_col_info *c) {
    const mt_df_column *r = &c->rec;
    mt_jw_begin_object(w, NULL);
    mt_jw_uint(w, "position", r->position);
    mt_jw_str(w, "name", r->name.ptr, r->name.len);
    mt_jw_str(w, "dtype", r->dtype.ptr, r->dtype.len);
    mt_jw_uint(w, "shallow_bytes", r->shallow_bytes);
    mt_jw_uint(w, "deep_bytes", r->deep_bytes);
    mt_jw_uint(w, "real_bytes", mt_df_col_real_bytes(c));
    mt_jw_bool(w, "real_recorded", r->real_bytes != 0 || (r->flags & MT_COL_REAL_RECORDED));
    mt_jw_bool(w, "real_estimated", !!(r->flags & MT_COL_REAL_EST));
    mt_jw_uint(w, "pandas_deep_bytes", r->deep_bytes);
    mt_jw_double(w, "share", share_by(v, c, BYTES_PANDAS));
    mt_jw_double(w, "real_share", share_by(v, c, BYTES_REAL));
    mt_jw_uint(w, "distinct_bytes", r->distinct_bytes);
    mt_jw_uint(w, "null_count", r->null_count);
    mt_jw_uint(w, "distinct_count", r->distinct_count);
    mt_jw_bool(w, "distinct_estimated", !!(r->flags & MT_COL_DISTINCT_EST));
    mt_jw_value(w, "min", &r->min);
    mt_jw_value(w, "max", &r->max);
    if (c->int_fit) mt_jw_cstr(w, "int_fit", c->int_fit);
    else mt_jw_null(w, "int_fit");
    mt_jw_bool(w, "key", !!(r->flags & MT_COL_KEY));
    mt_jw_bool(w, "sorted", !!(r->flags & MT_COL_SORTED));
    mt_jw_bool(w, "unique", !!(r->flags & MT_COL_UNIQUE));
    mt_jw_bool(w, "integral", !!(r->flags & MT_COL_INTEGRAL));
    mt_jw_bool(w, "f32_exact", !!(r->flags & MT_COL_F32_EXACT));
    mt_jw_double(w, "f32_max_rel_error", r->f32_max_rel_error);
    mt_jw_bool(w, "mixed", !!(r->flags & MT_COL_MIXED));
    if (r->value_type.len) mt_jw_str(w, "value_type", r->value_type.ptr, r->value_type.len);
    mt_jw_bool(w, "datetime_text", !!(r->flags & MT_COL_DATETIME_TEXT));
    if (r->text_count) {
        mt_jw_begin_object(w, "text");
        mt_jw_uint(w, "count", r->text_count);
        mt_jw_uint(w, "len_min", r->len_min);
        mt_jw_uint(w, "len_max", r->len_max);
        mt_jw_double(w, "len_mean", (double)r->len_total / (double)r->text_count);
        mt_jw_end_object(w);
    }
    if (r->categories || r->code_bytes) {
        mt_jw_begin_object(w, "categorical");
        mt_jw_uint(w, "categories", r->categories);
        mt_jw_uint(w, "categories_bytes", r->categories_bytes);
        mt_jw_uint(w, "codes_bytes", r->deep_bytes - r->categories_bytes);
        mt_jw_uint(w, "code_bytes", r->code_bytes);
        mt_jw_end_object(w);
    }
    if (r->dense_bytes) {
        mt_jw_begin_object(w, "sparse");
        mt_jw_value(w, "fill_value", &r->fill_value);
        mt_jw_double(w, "density", r->density);
        mt_jw_uint(w, "dense_bytes", r->dense_bytes);
        mt_jw_double(w, "efficiency", (double)r->shallow_bytes / (double)r->dense_bytes);
        mt_jw_end_object(w);
    }
    if (c->n_top) {
        mt_jw_begin_array(w, "top_values");
        for (size_t i = 0; i < c->n_top; i++) {
            mt_jw_begin_object(w, NULL);
            mt_jw_value(w, "value", &c->top[i].value);
            mt_jw_uint(w, "count", c->top[i].count);
            mt_jw_end_object(w);
        }
        mt_jw_end_array(w);
    }
    if (c->sketch) mt_jw_uint(w, "sketch_hashes", c->sketch->data.len / 8);
    mt_jw_end_object(w);
}

static void json_step_value(mt_jw *w, const char *key, double v) {
    if (isnan(v)) mt_jw_null(w, key);
    else mt_jw_uint(w, key, (uint64_t)v);
}

static void print_json(const view *v, const char *file) {
    const mt_df_table *t = v->t;
    mt_jw w;
    mt_jw_init(&w, stdout);
    mt_jw_begin_object(&w, NULL);
    mt_jw_cstr(&w, "file", file);
    mt_jw_cstr(&w, "bytes", v->bytes == BYTES_PANDAS ? "pandas" : "real");
    mt_jw_uint(&w, "shallow_bytes", v->shallow);
    mt_jw_uint(&w, "deep_bytes", v->deep);
    mt_jw_uint(&w, "pandas_deep_bytes", v->deep);
    mt_jw_uint(&w, "real_bytes", v->real);
    mt_jw_uint(&w, "real_shared_bytes", v->shared);
    if (v->real_step) mt_jw_cstr(&w, "real_step", v->real_step);
    else mt_jw_null(&w, "real_step");
    mt_jw_begin_array(&w, "frames");
    for (size_t i = 0; i < v->n_frames; i++) {
        const mt_df_frame_info *fi = &t->frames[v->frames[i]];
        const mt_df_frame *f = &fi->rec;
        mt_jw_begin_object(&w, NULL);
        mt_jw_str(&w, "name", f->name.ptr, f->name.len);
        mt_jw_str(&w, "step", f->step.ptr, f->step.len);
        mt_jw_uint(&w, "rows", f->rows);
        mt_jw_uint(&w, "columns", f->columns);
        mt_jw_uint(&w, "shallow_bytes", f->shallow_bytes);
        mt_jw_uint(&w, "deep_bytes", f->deep_bytes);
        mt_jw_uint(&w, "pandas_deep_bytes", f->deep_bytes);
        mt_jw_uint(&w, "real_bytes", frame_real(t, v->frames[i]));
        mt_jw_uint(&w, "shared_bytes", frame_shared(t, v->frames[i]));
        mt_jw_bool(&w, "real_estimated", frame_real_estimated(t, v->frames[i]));
        mt_jw_begin_object(&w, "index");
        mt_jw_str(&w, "kind", f->index_kind.ptr, f->index_kind.len);
        mt_jw_uint(&w, "nlevels", f->index_nlevels);
        mt_jw_uint(&w, "shallow_bytes", f->index_shallow_bytes);
        mt_jw_uint(&w, "deep_bytes", f->index_bytes);
        mt_jw_uint(&w, "real_bytes", index_real(t, v->frames[i]));
        mt_jw_uint(&w, "levels_bytes", f->index_levels_bytes);
        mt_jw_uint(&w, "codes_bytes", f->index_codes_bytes);
        mt_jw_end_object(&w);
        mt_jw_begin_object(&w, "column_labels");
        mt_jw_str(&w, "kind", f->columns_kind.ptr, f->columns_kind.len);
        mt_jw_uint(&w, "nlevels", f->columns_nlevels);
        mt_jw_uint(&w, "levels_bytes", f->columns_levels_bytes);
        mt_jw_uint(&w, "codes_bytes", f->columns_codes_bytes);
        mt_jw_end_object(&w);
        mt_jw_uint(&w, "time_ns", f->time_ns);
        mt_jw_begin_array(&w, "columns");
        for (size_t j = 0; j < fi->n_columns; j++) json_column(&w, v, &t->columns[fi->first_column + j]);
        mt_jw_end_array(&w);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    mt_jw_begin_array(&w, "steps");
    for (size_t i = 0; i < t->n_steps; i++) {
        const mt_df_step *s = &t->steps[i];
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "name", s->name);
        mt_jw_uint(&w, "time_ns", s->time_ns);
        json_step_value(&w, "rss", s->rss);
        json_step_value(&w, "traced", s->traced);
        json_step_value(&w, "traced_peak", s->traced_peak);
        mt_jw_uint(&w, "frames", s->n_frames);
        mt_jw_uint(&w, "frames_deep_bytes", s->frames_deep);
        mt_jw_uint(&w, "frames_pandas_deep_bytes", s->frames_deep);
        mt_jw_uint(&w, "frames_real_bytes", s->frames_real);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    size_t best[3];
    double gain[3];
    size_t nbest = mt_df_steps_grew_most(t, 3, best, gain);
    mt_jw_begin_array(&w, "grew_most");
    for (size_t k = 0; k < nbest; k++) {
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "step", t->steps[best[k]].name);
        mt_jw_uint(&w, "bytes", (uint64_t)gain[k]);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    mt_jw_end_object(&w);
    printf("\n");
}

static void print_csv(const view *v) {
    const mt_df_table *t = v->t;
    printf("frame,step,position,column,dtype,shallow_bytes,deep_bytes,share,distinct_bytes,null_count,"
           "distinct_count,distinct_estimated,min,max,int_fit,f32_exact,f32_max_rel_error,key,sorted,unique,mixed,"
           "text_count,len_min,len_max,categories,categories_bytes,code_bytes,density,dense_bytes,real_bytes,"
           "real_estimated,real_share\n");
    for (size_t i = 0; i < v->n_cols; i++) {
        const mt_df_col_info *c = &t->columns[v->cols[i]];
        const mt_df_column *r = &c->rec;
        const mt_df_frame *f = &t->frames[c->frame].rec;
        mt_csv_put_str(stdout, f->name.ptr, f->name.len);
        putchar(',');
        mt_csv_put_str(stdout, f->step.ptr, f->step.len);
        printf(",%u,", r->position);
        mt_csv_put_str(stdout, r->name.ptr, r->name.len);
        putchar(',');
        mt_csv_put_str(stdout, r->dtype.ptr, r->dtype.len);
        printf(",%" PRIu64 ",%" PRIu64 ",%.6f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%d,", r->shallow_bytes, r->deep_bytes,
               share_by(v, c, BYTES_PANDAS), r->distinct_bytes, r->null_count, r->distinct_count, !!(r->flags & MT_COL_DISTINCT_EST));
        mt_csv_put_value(stdout, &r->min);
        putchar(',');
        mt_csv_put_value(stdout, &r->max);
        printf(",%s,%d,%.6g,%d,%d,%d,%d,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%u,%.6g,%" PRIu64
               ",%" PRIu64 ",%d,%.6f\n",
               c->int_fit ? c->int_fit : "", !!(r->flags & MT_COL_F32_EXACT), r->f32_max_rel_error,
               !!(r->flags & MT_COL_KEY), !!(r->flags & MT_COL_SORTED), !!(r->flags & MT_COL_UNIQUE),
               !!(r->flags & MT_COL_MIXED), r->text_count, r->len_min, r->len_max, r->categories, r->categories_bytes,
               r->code_bytes, r->density, r->dense_bytes, mt_df_col_real_bytes(c),
               !!(r->flags & MT_COL_REAL_EST), share_by(v, c, BYTES_REAL));
    }
}

int main(int argc, char **argv) {
    int fmt = FMT_TEXT, salvage = 0;
    uint64_t top = 20;
    view vw;
    memset(&vw, 0, sizeof vw);
    const mt_opt opts[] = {
        MT_OPT_FORMAT(&fmt, MT_NAMES("text", "json", "csv"), "output format (default: text); csv prints one row per column"),
        MT_OPT_TOP(&top, "show the N largest columns in text (default: 20; 0 for all)"),
        MT_OPT_STRING(0, "frame", "NAME", &vw.frame, "only the frames named NAME"),
        MT_OPT_STRING(0, "step", "NAME", &vw.step, "only the frames of pipeline step NAME"),
        MT_OPT_CHOICE(0, "bytes", &vw.bytes, MT_NAMES("real", "pandas"),
                      "the figure shown first and sorted by: real (default) or pandas (deep count)"),
        MT_OPT_SALVAGE(&salvage),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    const char *file = c.args[0];
    mt_snapshot *s = NULL;
    mt_df_table *t = NULL;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    int code = mt_cli_load(tool.name, file, 0, salvage, &s);
    if (!code && mt_df_table_load(s, &t, &diag)) code = mt_cli_fail(tool.name, file, &diag);
    if (!code && !t->n_frames && !t->n_steps) {
        fprintf(stderr, "%s: %s: holds no DataFrame records: write it with memtrace.dump_frames or memtrace.pipeline\n",
                tool.name, file);
        code = MT_EXIT_INPUT;
    }
    if (!code) {
        vw.t = t;
        if (view_build(&vw)) {
            fprintf(stderr, "%s: out of memory\n", tool.name);
            code = MT_EXIT_INPUT;
        } else if ((vw.frame || vw.step) && !vw.n_frames) {
            fprintf(stderr, "%s: %s: no frame %s%s%s%s\n", tool.name, file, vw.frame ? "named " : "",
                    vw.frame ? vw.frame : "", vw.step ? " at step " : "", vw.step ? vw.step : "");
            code = MT_EXIT_INPUT;
        } else {
            if (fmt == FMT_JSON) print_json(&vw, file);
            else if (fmt == FMT_CSV) print_csv(&vw);
            else print_text(&vw, file, (size_t)top);
            code = mt_cli_finish(tool.name);
        }
    }
    free(vw.frames);
    free(vw.cols);
    mt_df_table_free(t);
    mt_snapshot_free(s);
    free(c.args);
    return code;
}
