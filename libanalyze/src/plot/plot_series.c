/* Plots of recorded series and DataFrames: timeline (memory over time,
 * with pipeline steps) and frames (columns as stacked bars). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/frames.h"
#include "memtrace/json.h"
#include "memtrace/series.h"
#include "memtrace/units.h"
#include "plot/plot_impl.h"
#include "common/array.h"

/* ---- timeline ---- */

typedef struct tl_series {
    char *name;
    double *t, *v;          /* t in ns since the Unix epoch (or the file's start) */
    double *lo, *hi;        /* a bucket's min and max; a point's value twice */
    size_t n, cap_t, cap_v, cap_lo, cap_hi; /* grown apart, so that failing to grow one loses nothing */
    int band;               /* it has buckets: drawn with their min-max band */
} tl_series;

/* An event drawn as a vertical mark: a dump, an alert, a peak, an exit. */
typedef struct tl_mark {
    double t;
    char *label;            /* "dump peak", "alert rss>2GiB" */
} tl_mark;

typedef struct tl_step {
    double t;
    char *name;
    size_t file;
} tl_step;

typedef struct tl {
    tl_series *s;
    size_t ns, cap_s;
    tl_step *st;
    size_t nst, cap_st;
    tl_mark *mk;
    size_t nmk, cap_mk;
    int oom;
    double base;            /* the file's start_time, ns */
    const char *suffix;     /* ": label" of the file when there are several */
    size_t file;
} tl;

/* Writes d with the fewest digits that read back exactly (0.1, not
 * 0.10000000000000001), as the rest of memtrace's output does; NaN and the
 * infinities as printf spells them, which gnuplot reads. */
static void put_num(FILE *out, double d) {
    char buf[MT_JSON_NUM_MAX];
    if (mt_json_num(buf, d, 0)) fputs(buf, out);
    else fprintf(out, "%g", d);
}

static char *join(const char *a, size_t alen, const char *b) {
    size_t blen = b ? strlen(b) : 0;
    char *p = malloc(alen + blen + 1);
    if (!p) return NULL;
    memcpy(p, a, alen);
    if (blen) memcpy(p + alen, b, blen);
    p[alen + blen] = 0;
    return p;
}

static void tl_add(tl *T, const char *name, size_t len, double t, double v, double lo, double hi) {
    if (T->oom) return;
    tl_series *s = NULL;
    size_t slen = T->suffix ? strlen(T->suffix) : 0;
    for (size_t i = 0; i < T->ns && !s; i++)
        if (strlen(T->s[i].name) == len + slen && !memcmp(T->s[i].name, name, len) &&
            (!slen || !strcmp(T->s[i].name + len, T->suffix)))
            s = &T->s[i];
    if (!s) {
        if (mt__grow((void **)&T->s, &T->cap_s, T->ns, sizeof *T->s)) goto oom;
        s = &T->s[T->ns];
        memset(s, 0, sizeof *s);
        if (!(s->name = join(name, len, T->suffix))) goto oom;
        T->ns++;
    }
    if (mt__grow((void **)&s->t, &s->cap_t, s->n, sizeof *s->t) || mt__grow((void **)&s->v, &s->cap_v, s->n, sizeof *s->v) ||
        mt__grow((void **)&s->lo, &s->cap_lo, s->n, sizeof *s->lo) || mt__grow((void **)&s->hi, &s->cap_hi, s->n, sizeof *s->hi))
        goto oom;
    if (lo != v || hi != v) s->band = 1;
    s->t[s->n] = t;
    s->lo[s->n] = lo;
    s->hi[s->n] = hi;
    s->v[s->n++] = v;
    return;
oom:
    T->oom = 1;
}

/* A step is where it first appears in its file. */
static void tl_step_add(tl *T, mt_str name, double t) {
    for (size_t i = 0; i < T->nst; i++)
        if (T->st[i].file == T->file && strlen(T->st[i].name) == name.len && !memcmp(T->st[i].name, name.ptr, name.len)) {
            if (t < T->st[i].t) T->st[i].t = t;
            return;
        }
    if (mt__grow((void **)&T->st, &T->cap_st, T->nst, sizeof *T->st)) {
        T->oom = 1;
        return;
    }
    if (!(T->st[T->nst].name = join(name.ptr, name.len, NULL))) {
        T->oom = 1;
        return;
    }
    T->st[T->nst].t = t;
    T->st[T->nst++].file = T->file;
}

/* Series a memory axis does not draw: counts (the GC's, procs), the
 * machine's MemAvailable and a GPU's capacity, whose scale would flatten
 * the process's own curves (memtrace-top shows them). */
static int off_axis(mt_str name) {
    char n[64];
    if (name.len >= sizeof n) return 0;
    memcpy(n, name.ptr, name.len);
    n[name.len] = 0;
    if (mt_series_is_count(n) || !strcmp(n, "mem.available")) return 1;
    size_t digits;
    const char *what = mt_series_gpu(n, &digits);
    return what && !strcmp(what, "total");
}

static int on_sample(void *arg, const void *rec) {
    tl *T = arg;
    const mt_sample *r = rec;
    double t = T->base + (double)r->time_ns;
    if (off_axis(r->series)) {
        if (r->step.len) tl_step_add(T, r->step, t);
        return T->oom ? MT_E_NOMEM : 0;
    }
    /* A bucket is drawn at its middle, by its mean, with its min-max band:
     * a spike thinned into it still shows. */
    if (r->span_ns) tl_add(T, r->series.ptr, r->series.len, t + (double)r->span_ns / 2, r->value, r->min, r->max);
    else tl_add(T, r->series.ptr, r->series.len, t, r->value, r->value, r->value);
    if (r->step.len) tl_step_add(T, r->step, t);
    return T->oom ? MT_E_NOMEM : 0;
}

/* Steps go along the top with the samples' steps; the other events but
 * the start become labelled vertical marks. */
static int on_event(void *arg, const void *rec) {
    tl *T = arg;
    const mt_event *e = rec;
    double t = T->base + (double)e->time_ns;
    if (e->kind.len == 4 && !memcmp(e->kind.ptr, "step", 4)) {
        tl_step_add(T, e->name, t);
        return T->oom ? MT_E_NOMEM : 0;
    }
    if (e->kind.len == 5 && !memcmp(e->kind.ptr, "start", 5)) return 0;
    if (mt__grow((void **)&T->mk, &T->cap_mk, T->nmk, sizeof *T->mk)) return MT_E_NOMEM;
    /* "peak-0001" says its kind already: no "peak peak-0001". */
    mt_str kind = e->kind;
    if (e->name.len > kind.len && !memcmp(e->name.ptr, kind.ptr, kind.len)) kind.len = 0;
    size_t n = kind.len + (kind.len && e->name.len) + e->name.len;
    char *l = malloc(n + 1);
    if (!l) return MT_E_NOMEM;
    memcpy(l, kind.ptr, kind.len);
    if (kind.len && e->name.len) l[kind.len] = ' ';
    if (e->name.len) memcpy(l + n - e->name.len, e->name.ptr, e->name.len);
    l[n] = 0;
    T->mk[T->nmk++] = (tl_mark){ t, l };
    return 0;
}

static void tl_free(tl *T) {
    for (size_t i = 0; i < T->ns; i++) {
        free(T->s[i].name);
        free(T->s[i].t);
        free(T->s[i].v);
        free(T->s[i].lo);
        free(T->s[i].hi);
    }
    for (size_t i = 0; i < T->nst; i++) free(T->st[i].name);
    for (size_t i = 0; i < T->nmk; i++) free(T->mk[i].label);
    free(T->s);
    free(T->st);
    free(T->mk);
}

static int by_time(const void *a, const void *b) {
    const tl_step *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

static int mark_by_time(const void *a, const void *b) {
    const tl_mark *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* A snapshot's label for series names, into buf. */
static const char *file_label(const mt_snapshot *s, const char *path, char *buf, size_t n) {
    const mt_value *v = mt_snapshot_meta_get(s, "label");
    if (v && v->type == MT_VAL_STR && v->v.s.len) snprintf(buf, n, "%.*s", (int)v->v.s.len, v->v.s.ptr);
    else snprintf(buf, n, "%s", mt__pw_base(path));
    return buf;
}

typedef struct point {
    double t, v, lo, hi;
    size_t seq;           /* its place in the file, for equal times */
} point;

static int by_point_time(const void *a, const void *b) {
    const point *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sorts a series' points by time, keeping the file order of equal times.
 * Collectors write samples in time order, so mostly nothing moves.
 * @return 0, or MT_E_NOMEM. */
static int sort_series(tl_series *s) {
    size_t i = 1;
    while (i < s->n && s->t[i - 1] <= s->t[i]) i++;
    if (i >= s->n) return 0;
    point *p = malloc(s->n * sizeof *p);
    if (!p) return MT_E_NOMEM;
    for (i = 0; i < s->n; i++) p[i] = (point){ s->t[i], s->v[i], s->lo[i], s->hi[i], i };
    qsort(p, s->n, sizeof *p, by_point_time);
    for (i = 0; i < s->n; i++) {
        s->t[i] = p[i].t;
        s->v[i] = p[i].v;
        s->lo[i] = p[i].lo;
        s->hi[i] = p[i].hi;
    }
    free(p);
    return 0;
}

int mt__plot_timeline(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                     FILE *dat, mt_diag *diag) {
    tl T = { 0 };
    int rc = 0, sampled = -1, timed = 1;
    uint64_t start0 = 0;
    char **labels = calloc(n, sizeof *labels);
    if (!labels) return mt_diag_set(diag, MT_E_NOMEM, "no memory for %zu file labels", n);
    for (size_t f = 0; f < n && !rc; f++) {
        mt_snapshot *s;
        /* A run file may still be being written: its unfinished last
         * block is left out, and the caller told how much of it. */
        if ((rc = mt__pw_load(paths[f], MT_LOAD_GROWING, &s, diag))) break;
        if (o->pending) o->pending[f] = mt_snapshot_pending(s);
        char lab[256], suffix[260];
        file_label(s, paths[f], lab, sizeof lab);
        labels[f] = join(lab, strlen(lab), NULL);
        int has = mt_snapshot_count(s, MT_KIND_SAMPLE) > 0;
        if (sampled >= 0 && has != sampled) {
            rc = mt_diag_set(diag, MT_E_NOTFOUND,
                             "%s: a timeline draws files with samples or heap snapshots, not both; %s has %s",
                             has ? "has samples" : "has no samples", mt__pw_base(paths[0]),
                             sampled ? "samples" : "none");
            if (diag) diag->file = paths[f];
            mt_snapshot_free(s);
            break;
        }
        sampled = has;
        /* Times count from the first file's start, in whole nanoseconds:
         * a double holds an epoch in ns only to 256 ns. */
        uint64_t start = 0;
        const mt_value *st = mt_snapshot_meta_get(s, "start_time");
        if (st && st->type == MT_VAL_UINT) start = st->v.u;
        else timed = 0;
        if (!f) start0 = start;
        T.base = (double)(int64_t)(start - start0);
        T.file = f;
        snprintf(suffix, sizeof suffix, ": %s", lab);
        T.suffix = n > 1 ? suffix : NULL;
        if (has) {
            rc = mt_snapshot_each(s, MT_KIND_SAMPLE, on_sample, &T, diag);
            if (!rc) rc = mt_snapshot_each(s, MT_KIND_EVENT, on_event, &T, diag);
        } else {
            /* One point a snapshot: what its meta says and its heap. */
            double x = timed ? T.base : (double)f, v;
            T.suffix = NULL;
            if (mt_snapshot_meta_number(s, "rss", &v)) tl_add(&T, "rss", 3, x, v, v, v);
            if (mt_snapshot_meta_number(s, "tracemalloc_current", &v)) tl_add(&T, "traced", 6, x, v, v, v);
            const mt_graph *g = mt_snapshot_graph(s);
            if (g->n_objects) {
                mt_type_stat *ts = malloc((size_t)g->n_types * sizeof *ts);
                if (!ts) {
                    T.oom = 1;
                } else {
                    mt_snapshot_type_stats(s, 1, ts);
                    double sum = 0;
                    for (uint32_t i = 0; i < g->n_types; i++) sum += (double)ts[i].bytes;
                    free(ts);
                    tl_add(&T, "heap objects", 12, x, sum, sum, sum);
                }
            }
        }
        mt_snapshot_free(s);
        if (!rc && (T.oom || !labels[f])) rc = mt_diag_set(diag, MT_E_NOMEM, "no memory for the timeline");
    }
    if (rc) goto out;
    if (!T.ns) {
        rc = mt_diag_set(diag, MT_E_NOTFOUND, "nothing to draw: no samples, no rss or tracemalloc meta, no objects");
        if (diag) diag->file = paths[0];
        goto out;
    }
    if (!sampled && !timed)
        for (size_t i = 0; i < T.ns; i++)
            for (size_t j = 0; j < T.s[i].n; j++) T.s[i].t[j] *= 1e9; /* indices stand in for seconds */

    double t0 = INFINITY, t1 = -INFINITY, vmax = 0;
    size_t points = 0;
    for (size_t i = 0; i < T.ns; i++) {
        if (sort_series(&T.s[i])) {
            rc = mt_diag_set(diag, MT_E_NOMEM, "no memory to sort %zu samples", T.s[i].n);
            goto out;
        }
        for (size_t j = 0; j < T.s[i].n; j++) {
            t0 = fmin(t0, T.s[i].t[j]);
            t1 = fmax(t1, T.s[i].t[j]);
            vmax = fmax(vmax, fmax(fabs(T.s[i].v[j]), fabs(T.s[i].hi[j])));
        }
        points = T.s[i].n > points ? T.s[i].n : points;
    }
    /* Samples count from their process's start; snapshots from the first. */
    if (sampled) t0 = fmin(t0, 0);
    if (T.nst) qsort(T.st, T.nst, sizeof *T.st, by_time);
    double span = (t1 - t0) / 1e9, tdiv = 1;
    const char *tunit = "s";
    if (span > 2 * 3600) tdiv = 3600, tunit = "h";
    else if (span > 120) tdiv = 60, tunit = "min";
    double div;
    const char *unit = mt__pw_unit(vmax, &div);

    mt_pw w;
    size_t ticks = sampled ? T.nst : n;
    mt__pw_begin(&w, k, o, paths, n, gp, dat, ticks > 40 ? (unsigned)(200 + 20 * ticks) : 1000, 600);
    if (n == 1) mt__pw_title(&w, "Memory over time: %s", labels[0]);
    else mt__pw_title(&w, "Memory over time: %zu %s", n, sampled ? "files" : "snapshots");
    if (sampled || timed) fprintf(gp, "set xlabel 'time (%s)'\n", tunit);
    else fprintf(gp, "set xlabel 'snapshot'\n");
    fprintf(gp, "set ylabel 'memory (%s)'\nunit = %.1f\ntunit = %.1f\nset yrange [0:*]\nset grid\n"
                "set key outside right top\nset offsets 0, graph 0.02, graph 0.05, 0\n%s",
            unit, div, sampled || timed ? tdiv : 1, sampled ? "set xrange [0:*]\n" : "");
    /* Steps (or snapshots) named along the top, lined up with the time axis. */
    if (ticks) {
        fprintf(gp, "set link x2\nset x2tics rotate by 45 left font ',9' (");
        for (size_t i = 0; i < ticks; i++) {
            if (i) fputs(", ", gp);
            const char *name = sampled ? T.st[i].name : labels[i];
            mt__pw_quote_tic(gp, name, strlen(name));
            double t = sampled ? T.st[i].t : (timed ? T.s[0].t[0] : 0);
            if (!sampled) {
                /* Snapshot i's point: the same in every series it has. */
                for (size_t si = 0; si < T.ns; si++)
                    if (T.s[si].n == n) t = T.s[si].t[i];
            }
            fprintf(gp, " %.9g", (t - t0) / 1e9 / (sampled || timed ? tdiv : 1));
        }
        fprintf(gp, ")\nset grid x2tics\n");
    }
    /* Dumps, alerts and the like: a dashed vertical line each, labelled
     * along it (the first MARKS of them; more would only blot the plot). */
    enum { MARKS = 40 };
    if (T.nmk > 1) qsort(T.mk, T.nmk, sizeof *T.mk, mark_by_time);
    /* Events of one moment (an alert and the dump it took) share a mark,
     * their labels joined, so that they do not print over each other. */
    size_t nm = 0;
    for (size_t i = 0; i < T.nmk; i++) {
        if (nm && T.mk[nm - 1].t == T.mk[i].t) {
            char *a = T.mk[nm - 1].label, *b = T.mk[i].label, *j = malloc(strlen(a) + strlen(b) + 3);
            if (!j) {
                rc = mt_diag_set(diag, MT_E_NOMEM, "no memory for the timeline's events");
                goto out;
            }
            sprintf(j, "%s; %s", a, b);
            free(a);
            free(b);
            T.mk[nm - 1].label = j;
        } else {
            T.mk[nm++] = T.mk[i];
        }
    }
    T.nmk = nm;
    for (size_t i = 0; i < T.nmk && i < MARKS; i++) {
        double x = (T.mk[i].t - t0) / 1e9 / tdiv;
        fprintf(gp, "set arrow %zu from first %.9g, graph 0 to first %.9g, graph 1 nohead dt 2 lc rgb '#b22222'\n",
                i + 1, x, x);
        fprintf(gp, "set label %zu ", i + 1);
        mt__pw_quote(gp, T.mk[i].label, strlen(T.mk[i].label));
        fprintf(gp, " at first %.9g, graph 0.98 rotate by 90 right front font ',8' tc rgb '#b22222' offset -0.6, 0\n",
                x);
    }
    fprintf(gp, "plot");
    for (size_t i = 0; i < T.ns; i++) {
        char cols[300];
        /* A series with buckets carries their min and max for its band;
         * one without keeps the two columns it always had. */
        snprintf(cols, sizeof cols, "seconds\tbytes%s\tseries %s", T.s[i].band ? "\tmin\tmax" : "", T.s[i].name);
        int b = mt__pw_block(&w, cols);
        for (size_t j = 0; j < T.s[i].n; j++) {
            fprintf(dat, "%.9g\t", (T.s[i].t[j] - t0) / 1e9);
            put_num(dat, T.s[i].v[j]);
            if (T.s[i].band) {
                fputc('\t', dat);
                put_num(dat, T.s[i].lo[j]);
                fputc('\t', dat);
                put_num(dat, T.s[i].hi[j]);
            }
            fputc('\n', dat);
        }
        if (T.s[i].band)
            fprintf(gp, "%s %s index %d using ($1/tunit):($3/unit):($4/unit) with filledcurves fs transparent solid 0.2 "
                        "noborder lc %zu notitle,",
                    i ? ", \\\n    " : "", MT_PW_DATA, b, i + 1);
        fprintf(gp, "%s %s index %d using ($1/tunit):($2/unit) with %s lc %zu title ",
                i && !T.s[i].band ? ", \\\n    " : "", MT_PW_DATA, b, points <= 60 ? "linespoints" : "lines", i + 1);
        mt__pw_quote(gp, T.s[i].name, strlen(T.s[i].name));
    }
    fputc('\n', gp);
    if (T.nst) {
        mt__pw_block(&w, "seconds\tstep");
        for (size_t i = 0; i < T.nst; i++) {
            fprintf(dat, "%.9g\t", (T.st[i].t - t0) / 1e9);
            mt__pw_field(dat, T.st[i].name, strlen(T.st[i].name));
            fputc('\n', dat);
        }
    }
    if (T.nmk) {
        mt__pw_block(&w, "seconds\tevent");
        for (size_t i = 0; i < T.nmk; i++) {
            fprintf(dat, "%.9g\t", (T.mk[i].t - t0) / 1e9);
            mt__pw_field(dat, T.mk[i].label, strlen(T.mk[i].label));
            fputc('\n', dat);
        }
    }
    rc = mt__pw_end(&w, diag);
out:
    for (size_t f = 0; f < n; f++) free(labels[f]);
    free(labels);
    tl_free(&T);
    return rc;
}

/* ---- frames ---- */

typedef struct seg {
    const char *name;
    size_t len;
    double bytes;
} seg;

static int seg_by_name(const void *a, const void *b) {
    const seg *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, m);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int seg_by_bytes(const void *a, const void *b) {
    const seg *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    return seg_by_name(a, b);
}

/* A frame's bytes: what it really holds (SPEC.md 4.3, what it shares
 * with an earlier frame included), or with pandas set pandas' deep count,
 * which charges a shared object at every row. */
static uint64_t frame_bytes(const mt_df_table *t, size_t i, int pandas) {
    const mt_df_frame_info *f = &t->frames[i];
    if (!pandas) return mt_df_frame_real_bytes(t, i);
    return f->rec.deep_bytes ? f->rec.deep_bytes : f->rec.shallow_bytes;
}

/* Whether a frame's real bytes are an estimate: a column's objects were
 * sampled (df_columns flag bit 6 with real_bytes recorded). */
static int real_estimated(const mt_df_table *t, const mt_df_frame_info *f) {
    for (size_t c = 0; c < f->n_columns; c++) {
        const mt_df_column *r = &t->columns[f->first_column + c].rec;
        if (r->real_bytes && (r->flags & MT_COL_DBYTES_EST)) return 1;
    }
    return 0;
}

/* A frame with its bytes, so that sorting needs no state. */
typedef struct frame_rank {
    const mt_df_frame_info *f;
    uint64_t bytes;
    size_t index;
} frame_rank;

static int frame_by_bytes(const void *a, const void *b) {
    const frame_rank *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static uint64_t col_bytes(const mt_df_col_info *c, int pandas) {
    if (!pandas) return mt_df_col_real_bytes(c);
    return c->rec.deep_bytes ? c->rec.deep_bytes : c->rec.shallow_bytes;
}

/* Which segment a column's bytes go to: its name's, or "other columns". */
static size_t seg_of(const seg *named, size_t k, const mt_df_col_info *c) {
    for (size_t i = 0; i < k; i++)
        if (named[i].len == c->rec.name.len && !memcmp(named[i].name, c->rec.name.ptr, named[i].len)) return i;
    return k;
}

int mt__plot_frames(const mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *gp,
                   FILE *dat, mt_diag *diag) {
    (void)n;
    enum { NAMED = 8 };
    mt_snapshot *s = NULL;
    mt_df_table *t = NULL;
    frame_rank *order = NULL;
    seg *segs = NULL;
    const int pd = o->pandas_bytes;
    int rc = mt__pw_load(paths[0], 0, &s, diag);
    if (rc) return rc;
    if ((rc = mt_df_table_load(s, &t, diag))) goto out;
    if (!t->n_frames) {
        rc = mt_diag_set(diag, MT_E_NOTFOUND, "no DataFrame records: a frames plot needs a memtrace.dump_frames file");
        if (diag) diag->file = paths[0];
        goto out;
    }
    order = malloc(t->n_frames * sizeof *order);
    segs = malloc((t->n_columns + 1) * sizeof *segs);
    if (!order || !segs) {
        rc = mt_diag_set(diag, MT_E_NOMEM, "no memory for %zu frames", t->n_frames);
        goto out;
    }
    for (size_t i = 0; i < t->n_frames; i++) order[i] = (frame_rank){ &t->frames[i], frame_bytes(t, i, pd), i };
    qsort(order, t->n_frames, sizeof *order, frame_by_bytes);
    size_t rows = o->top ? o->top : k->default_top;
    if (rows > t->n_frames) rows = t->n_frames;

    /* The column names with the most bytes over the frames shown get
     * their own colour, the same in every frame. */
    size_t ns = 0;
    for (size_t r = 0; r < rows; r++) {
        const mt_df_frame_info *f = order[r].f;
        for (size_t c = 0; c < f->n_columns; c++) {
            const mt_df_col_info *ci = &t->columns[f->first_column + c];
            segs[ns++] = (seg){ ci->rec.name.ptr, ci->rec.name.len, (double)col_bytes(ci, pd) };
        }
    }
    qsort(segs, ns, sizeof *segs, seg_by_name);
    size_t m = 0;
    for (size_t i = 0; i < ns; i++) {
        if (m && !seg_by_name(&segs[m - 1], &segs[i])) segs[m - 1].bytes += segs[i].bytes;
        else segs[m++] = segs[i];
    }
    qsort(segs, m, sizeof *segs, seg_by_bytes);
    size_t named = m < NAMED ? m : NAMED;
    int other = m > named;

    double sums[NAMED + 2], vmax = 0;
    for (size_t r = 0; r < rows; r++) vmax = fmax(vmax, (double)order[r].bytes);
    double div;
    const char *unit = mt__pw_unit(vmax, &div);
    mt_pw w;
    mt__pw_begin(&w, k, o, paths, 1, gp, dat, 1100, mt__pw_bars_height(rows));
    char total[16];
    /* The total counts bytes that frames share once (real), or is
     * pandas' sum. A pipeline records the same frames at every step: its
     * total is the step whose frames hold the most, as memtrace-frames
     * reports it. */
    uint64_t sum = pd ? t->deep_bytes : t->real_bytes;
    const mt_df_step *top_step = NULL;
    for (size_t i = 0; !pd && i < t->n_steps; i++)
        if (t->steps[i].n_frames && (!top_step || t->steps[i].frames_real > top_step->frames_real))
            top_step = &t->steps[i];
    if (top_step) sum = top_step->frames_real;
    mt__pw_title(&w, "DataFrame memory by column: %s (%zu frames, %s %s%s%s)", mt__pw_base(paths[0]), t->n_frames,
                mt_human_bytes(sum, total), pd ? "pandas deep" : "real", top_step ? " at step " : "",
                top_step ? top_step->name : "");
    mt__pw_block(&w, "y\tthen where each segment ends, bytes (index, the named columns, other columns)\tframe\tlabel");
    for (size_t r = 0; r < rows; r++) {
        const mt_df_frame_info *f = order[r].f;
        memset(sums, 0, sizeof sums);
        uint64_t cols = 0;
        for (size_t c = 0; c < f->n_columns; c++) {
            const mt_df_col_info *ci = &t->columns[f->first_column + c];
            sums[1 + seg_of(segs, named, ci)] += (double)col_bytes(ci, pd);
            cols += col_bytes(ci, pd);
        }
        /* The index is what the frame's bytes hold beyond its columns. */
        uint64_t all = order[r].bytes;
        sums[0] = all > cols ? (double)(all - cols) : 0;
        fprintf(dat, "%zu", rows - 1 - r);
        double end = 0;
        for (size_t i = 0; i < named + 2; i++) {
            end += sums[i];
            fputc('\t', dat);
            put_num(dat, end);
        }
        char label[600], h[16];
        if (f->rec.step.len)
            snprintf(label, sizeof label, "%.*s @ %.*s", (int)f->rec.name.len, f->rec.name.ptr, (int)f->rec.step.len,
                     f->rec.step.ptr);
        else
            snprintf(label, sizeof label, "%.*s", (int)f->rec.name.len, f->rec.name.ptr);
        fputc('\t', dat);
        mt__pw_field(dat, label, strlen(label));
        fprintf(dat, "\t%s%s (%" PRIu64 " x %u)\n", !pd && real_estimated(t, f) ? "~" : "",
                mt_human_bytes((uint64_t)end, h), f->rec.rows, f->rec.columns);
    }
    fprintf(gp, "unit = %.1f\n", div);
    mt__pw_bars_axes(&w, rows, 0, vmax ? vmax / div * 1.4 : 1, unit, pd ? "pandas deep bytes" : "real bytes");
    fprintf(gp, "set key outside right top\n");
    /* Data column 2 + i is where segment i ends (index, the named
     * columns, other columns); it starts where segment i - 1 ends. */
    size_t label_col = 2 + named + 2;
    fprintf(gp, "plot");
    for (size_t i = 0; i < named + 2; i++) {
        if (i == named + 1 && !other) continue;
        const char *name = i == 0 ? "index" : i <= named ? segs[i - 1].name : "other columns";
        size_t len = i == 0 ? 5 : i <= named ? segs[i - 1].len : 13;
        char start[32] = "0";
        if (i) snprintf(start, sizeof start, "$%zu/unit", i + 1);
        fprintf(gp, "%s %s index 0 using (0):1:(%s):($%zu/unit):($1-0.4):($1+0.4) with boxxyerror lc %zu title ",
                i ? ", \\\n    " : "", MT_PW_DATA, start, i + 2, i == 0 ? (size_t)10 : i);
        mt__pw_quote(gp, name, len);
    }
    fprintf(gp, ", \\\n     %s index 0 using ($%zu/unit):1:%zu:ytic(%zu) with labels left offset 0.6,0 font ',9'\n",
            MT_PW_DATA, 2 + named + 1, label_col + 1, label_col);
    rc = mt__pw_end(&w, diag);
out:
    free(order);
    free(segs);
    mt_df_table_free(t);
    mt_snapshot_free(s);
    return rc;
}
