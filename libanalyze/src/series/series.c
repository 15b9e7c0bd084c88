/* A run file's series and events (memtrace/series.h). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/series.h"
#include "memtrace/trend.h"
#include "common/array.h"

typedef struct series_impl {
    char *name;
    size_t len;           /* the name's bytes, NUL included when it holds one */
    mt_series_point *p;
    size_t n, cap, n_buckets;
} series_impl;

typedef struct run_impl {
    mt_run pub;
    series_impl *s;
    size_t ns, cap_s;
    mt_series *view;
    mt_run_event *ev;
    size_t nev, cap_ev;
    size_t last;          /* the series the previous sample went to */
} run_impl;

static char *dupn(const char *p, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static int on_sample(void *arg, const void *rec) {
    run_impl *R = arg;
    const mt_sample *r = rec;
    series_impl *s = NULL;
    /* Samples come series after series, interleaved: try the last one and
     * its successor first. */
    for (size_t k = 0; k < R->ns && !s; k++) {
        size_t i = (R->last + k) % R->ns;
        if (R->s[i].len == r->series.len && !memcmp(R->s[i].name, r->series.ptr, r->series.len)) {
            s = &R->s[i];
            R->last = i;
        }
    }
    if (!s) {
        if (mt__grow((void **)&R->s, &R->cap_s, R->ns, sizeof *R->s)) return MT_E_NOMEM;
        s = &R->s[R->ns];
        memset(s, 0, sizeof *s);
        if (!(s->name = dupn(r->series.ptr, r->series.len))) return MT_E_NOMEM;
        s->len = r->series.len;
        R->last = R->ns++;
    }
    if (mt__grow((void **)&s->p, &s->cap, s->n, sizeof *s->p)) return MT_E_NOMEM;
    mt_series_point *p = &s->p[s->n++];
    p->time_ns = r->time_ns;
    p->span_ns = r->span_ns;
    p->value = r->value;
    if (r->span_ns) {
        p->min = r->min;
        p->max = r->max;
        p->count = r->count ? r->count : 1;
        s->n_buckets++;
    } else {
        p->min = p->max = r->value;
        p->count = 1;
    }
    uint64_t end = r->time_ns + r->span_ns;
    if (end < r->time_ns) end = UINT64_MAX;
    if (end > R->pub.end_ns) R->pub.end_ns = end;
    return 0;
}

static int on_event(void *arg, const void *rec) {
    run_impl *R = arg;
    const mt_event *e = rec;
    if (mt__grow((void **)&R->ev, &R->cap_ev, R->nev, sizeof *R->ev)) return MT_E_NOMEM;
    mt_run_event *d = &R->ev[R->nev];
    d->time_ns = e->time_ns;
    d->value = e->value;
    d->kind = dupn(e->kind.ptr, e->kind.len);
    d->name = dupn(e->name.ptr, e->name.len);
    d->detail = dupn(e->detail.ptr, e->detail.len);
    R->nev++;
    if (!d->kind || !d->name || !d->detail) return MT_E_NOMEM;
    if (e->time_ns > R->pub.end_ns) R->pub.end_ns = e->time_ns;
    return 0;
}

static int point_by_time(const void *a, const void *b) {
    const mt_series_point *x = a, *y = b;
    return (x->time_ns > y->time_ns) - (x->time_ns < y->time_ns);
}

/* Events keep file order among equal times: the index breaks ties. */
typedef struct ev_sort {
    mt_run_event e;
    size_t seq;
} ev_sort;

static int event_by_time(const void *a, const void *b) {
    const ev_sort *x = a, *y = b;
    if (x->e.time_ns != y->e.time_ns) return x->e.time_ns < y->e.time_ns ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

void mt_run_free(mt_run *pub) {
    if (!pub) return;
    run_impl *R = (run_impl *)pub;
    for (size_t i = 0; i < R->ns; i++) {
        free(R->s[i].name);
        free(R->s[i].p);
    }
    for (size_t i = 0; i < R->nev; i++) {
        free((char *)R->ev[i].kind);
        free((char *)R->ev[i].name);
        free((char *)R->ev[i].detail);
    }
    free(R->s);
    free(R->view);
    free(R->ev);
    free(R);
}

int mt_run_load(const mt_snapshot *snap, mt_run **out, mt_diag *diag) {
    *out = NULL;
    run_impl *R = calloc(1, sizeof *R);
    if (!R) return mt_diag_set(diag, MT_E_NOMEM, "out of memory reading a run's series");
    int rc = mt_snapshot_each(snap, MT_KIND_SAMPLE, on_sample, R, diag);
    if (!rc) rc = mt_snapshot_each(snap, MT_KIND_EVENT, on_event, R, diag);
    if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory reading a run's series");
    if (!rc && R->ns && !(R->view = calloc(R->ns, sizeof *R->view)))
        rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory reading a run's series");
    if (rc) {
        mt_run_free(&R->pub);
        return rc;
    }
    for (size_t i = 0; i < R->ns; i++) {
        series_impl *s = &R->s[i];
        /* Writers add points in time order; sort only when they did not
         * (SPEC.md allows any order), which a thinned rewrite may do. */
        size_t k = 1;
        while (k < s->n && s->p[k - 1].time_ns <= s->p[k].time_ns) k++;
        if (k < s->n) qsort(s->p, s->n, sizeof *s->p, point_by_time);
        R->view[i] = (mt_series){ s->name, s->p, s->n, s->n_buckets };
        R->pub.n_points += s->n;
    }
    if (R->nev > 1) {
        ev_sort *t = malloc(R->nev * sizeof *t);
        if (!t) {
            mt_run_free(&R->pub);
            return mt_diag_set(diag, MT_E_NOMEM, "out of memory sorting %zu events", R->nev);
        }
        for (size_t i = 0; i < R->nev; i++) t[i] = (ev_sort){ R->ev[i], i };
        qsort(t, R->nev, sizeof *t, event_by_time);
        for (size_t i = 0; i < R->nev; i++) R->ev[i] = t[i].e;
        free(t);
    }
    const mt_value *st = mt_snapshot_meta_get(snap, "start_time");
    if (st && st->type == MT_VAL_UINT) R->pub.start_time = st->v.u;
    R->pub.series = R->view;
    R->pub.n_series = R->ns;
    R->pub.events = R->ev;
    R->pub.n_events = R->nev;
    *out = &R->pub;
    return 0;
}

const mt_series *mt_run_find(const mt_run *r, const char *name) {
    for (size_t i = 0; r && i < r->n_series; i++)
        if (!strcmp(r->series[i].name, name)) return &r->series[i];
    return NULL;
}

double mt_run_last(const mt_run *r, const char *name) {
    const mt_series *s = mt_run_find(r, name);
    return s && s->n ? s->p[s->n - 1].value : NAN;
}

const char *mt_growth_name(mt_growth g) {
    switch (g) {
    case MT_GROWTH_NONE: return "not growing";
    case MT_GROWTH_UNSURE: return "unsure";
    case MT_GROWTH_GROWING: return "growing";
    case MT_GROWTH_AT_LIMIT: return "at limit";
    default: return "unknown";
    }
}

int mt_series_is_count(const char *name) {
    return !strncmp(name, "gc.", 3) || !strcmp(name, "procs") || !strncmp(name, "cgroup.oom", 10);
}

const char *mt_series_gpu(const char *name, size_t *digits) {
    size_t d = 0;
    *digits = 0;
    if (strncmp(name, "gpu", 3)) return NULL;
    while (isdigit((unsigned char)name[3 + d])) d++;
    if (!d || name[3 + d] != '.') return NULL;
    *digits = d;
    return name + 3 + d + 1;
}

int mt_series_gpu_pid(const char *name, char *pid, size_t pn) {
    size_t digits;
    pid[0] = 0;
    const char *what = mt_series_gpu(name, &digits);
    if (!what || strncmp(what, "pid.", 4)) return 0;
    size_t d = strspn(what + 4, "0123456789");
    if (!d || what[4 + d] || d >= pn) return 0;
    memcpy(pid, what + 4, d + 1);
    return 1;
}

void mt_series_metric(const char *name, char *family, size_t fn, char *device, size_t dn) {
    size_t k, digits;
    char pid[24];
    device[0] = 0;
    const char *what = mt_series_gpu(name, &digits);
    if (what && mt_series_gpu_pid(name, pid, sizeof pid)) what = "process";
    if (what && digits < dn) {
        memcpy(device, name + 3, digits);
        device[digits] = 0;
        k = (size_t)snprintf(family, fn, "memtrace_gpu_");
    } else {
        what = name;
        k = (size_t)snprintf(family, fn, "memtrace_");
    }
    for (const char *p = what; *p && k + 7 < fn; p++) family[k++] = isalnum((unsigned char)*p) || *p == '_' ? *p : '_';
    family[k] = 0;
    if (!mt_series_is_count(name)) strcat(family, "_bytes");
}

/* The series that run into the process's memory limit. */
static int is_memory(const char *name) {
    static const char *const mem[] = { "rss", "pss", "uss", "cgroup.current" };
    for (size_t i = 0; i < sizeof mem / sizeof *mem; i++)
        if (!strcmp(name, mem[i])) return 1;
    return 0;
}

int mt_series_summarize(const mt_run *r, const mt_snapshot *snap, const mt_series *s, const mt_series_opts *opts,
                        mt_series_summary *out) {
    memset(out, 0, sizeof *out);
    out->current = out->peak = out->limit = out->headroom = NAN;
    out->rate = out->rate_lo = out->rate_hi = NAN;
    out->ttl = out->ttl_lo = out->ttl_hi = NAN;
    if (!s) return MT_E_INVAL;
    mt_series_opts o = opts ? *opts : (mt_series_opts){ 0 };
    if (!o.window_ns) o.window_ns = 60ull * 1000000000ull;
    if (!o.max_points) o.max_points = 200;
    if (o.max_points < 2) o.max_points = 2;
    if (!(o.z > 0)) o.z = 1.96;

    out->n = s->n;
    for (size_t i = 0; i < s->n; i++) {
        const mt_series_point *p = &s->p[i];
        out->points += p->count;
        /* A bucket's peak is its max: its mean hides the spike. */
        double hi = p->span_ns ? p->max : p->value;
        if (!isnan(hi) && (isnan(out->peak) || hi > out->peak)) {
            out->peak = hi;
            out->peak_ns = p->time_ns;
            out->peak_span_ns = p->span_ns;
        }
    }
    if (!s->n) return 0;
    const mt_series_point *lastp = &s->p[s->n - 1];
    out->current = lastp->value;
    out->current_ns = lastp->time_ns;

    /* The limit. */
    char gpu_total[64];
    const char *lim_series = NULL;
    size_t nl = strlen(s->name), digits;
    const char *gpu_what = mt_series_gpu(s->name, &digits);
    if (is_memory(s->name)) {
        lim_series = "cgroup.max";
    } else if (gpu_what && !strcmp(gpu_what, "used") && nl < sizeof gpu_total) {
        memcpy(gpu_total, s->name, nl - 5);
        strcpy(gpu_total + nl - 5, ".total");
        lim_series = gpu_total;
    }
    if (lim_series) {
        double v = mt_run_last(r, lim_series);
        if (!isnan(v) && v > 0) {
            out->limit = v;
            out->limit_from = mt_run_find(r, lim_series)->name;
        } else if (is_memory(s->name) && snap && mt_snapshot_meta_number(snap, "mem_total", &v) && v > 0) {
            out->limit = v;
            out->limit_from = "mem_total";
        }
    }

    /* The window: the points since end - window, evenly thinned to at
     * most max_points (Theil-Sen's pairs grow as the square). */
    uint64_t end = lastp->time_ns + lastp->span_ns / 2;
    uint64_t from = end > o.window_ns ? end - o.window_ns : 0;
    size_t first = s->n;
    while (first > 0 && s->p[first - 1].time_ns + s->p[first - 1].span_ns / 2 >= from) first--;
    size_t avail = 0;
    for (size_t i = first; i < s->n; i++) avail += !isnan(s->p[i].value);
    double *x = NULL, *y = NULL;
    size_t m = 0;
    if (avail >= 2) {
        size_t take = avail < o.max_points ? avail : o.max_points;
        x = malloc(take * sizeof *x);
        y = malloc(take * sizeof *y);
        if (x && y) {
            size_t seen = 0;
            for (size_t i = first; i < s->n && m < take; i++) {
                if (isnan(s->p[i].value)) continue;
                /* Keep the seen-th usable point when it is the next of
                 * take spread evenly over avail, the last one always. */
                size_t want = take > 1 ? (m * (avail - 1)) / (take - 1) : 0;
                if (seen++ != want) continue;
                const mt_series_point *p = &s->p[i];
                x[m] = (double)(p->time_ns - s->p[first].time_ns + p->span_ns / 2) / 1e9;
                y[m++] = p->value;
            }
        }
    }
    out->window_points = m;
    if (m >= 2) out->window_ns = (uint64_t)((x[m - 1] - x[0]) * 1e9);
    double fit_end = NAN;
    /* Five points is the fewest whose 95% interval of the rate can
     * exclude 0 at all (Sen's C exceeds the pairs below that). */
    if (m >= 5 && mt_theil_sen_xy(x, y, m, o.z, &out->rate, &out->rate_lo, &out->rate_hi)) {
        /* The line's level: the median of y - rate x, at the last x. */
        double *res = malloc(m * sizeof *res);
        if (res) {
            for (size_t i = 0; i < m; i++) res[i] = y[i] - out->rate * x[i];
            for (size_t i = 1; i < m; i++) /* insertion sort: m is small */
                for (size_t j = i; j > 0 && res[j - 1] > res[j]; j--) {
                    double t = res[j];
                    res[j] = res[j - 1];
                    res[j - 1] = t;
                }
            double med = m % 2 ? res[m / 2] : (res[m / 2 - 1] + res[m / 2]) / 2;
            fit_end = med + out->rate * x[m - 1];
            free(res);
        }
        if (out->rate_lo > 0) out->growth = MT_GROWTH_GROWING;
        else if (out->rate_hi <= 0) out->growth = MT_GROWTH_NONE;
        else out->growth = MT_GROWTH_UNSURE;
    } else {
        out->rate = out->rate_lo = out->rate_hi = NAN;
    }
    free(x);
    free(y);

    if (!isnan(out->limit)) {
        double level = out->current;
        if (!isnan(fit_end) && fit_end > level) level = fit_end;
        out->headroom = out->limit - level;
        out->headroom_from = out->limit_from;
        double avail_mem = is_memory(s->name) ? mt_run_last(r, "mem.available") : NAN;
        if (!isnan(avail_mem) && avail_mem < out->headroom) {
            out->headroom = avail_mem;
            out->headroom_from = "mem.available";
        }
        if (out->headroom <= 0 || out->current >= out->limit) {
            out->growth = MT_GROWTH_AT_LIMIT;
            out->ttl = out->ttl_lo = out->ttl_hi = 0;
        } else if (out->growth == MT_GROWTH_GROWING) {
            out->ttl = out->headroom / out->rate;
            out->ttl_lo = out->headroom / out->rate_hi;
            out->ttl_hi = out->headroom / out->rate_lo;
        } else if (out->growth == MT_GROWTH_UNSURE) {
            out->ttl = out->ttl_hi = INFINITY;
            out->ttl_lo = out->headroom / out->rate_hi;
        }
    }
    return 0;
}
