/* The fleet view (memtrace/fleet.h): many workers' dumps read together. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "common/names.h"
#include "memtrace/fleet.h"
#include "memtrace/frames.h"
#include "memtrace/graph.h"
#include "memtrace/leaks.h"
#include "memtrace/robust.h"
#include "memtrace/snapshot.h"

/* The number of p[0..len) in t, added when new (common/names.h: a name's
 * text moves when the table grows, so pointers are taken once every name
 * is in). @return 0 or MT_E_NOMEM. */
static int intern_id(mt__names *t, const char *p, size_t len, uint32_t *id) {
    int64_t i = mt__names_index(t, p, len);
    if (i < 0) return MT_E_NOMEM;
    *id = (uint32_t)i;
    return 0;
}

/* ---- what is kept of a worker's latest dump ---- */

typedef struct stat_entry {
    uint32_t id; /* into the types or columns table */
    uint64_t count, bytes;
} stat_entry;

typedef struct wstate {
    uint32_t name, host; /* into impl->strings */
    uint64_t pid;
    size_t n_paths, cap_paths;
    const char **paths;
    uint64_t objects, heap, frames, rss;
    int has_rss;
    stat_entry *types, *cols; /* sorted by id */
    size_t n_types, n_cols;
} wstate;

typedef struct impl {
    mt__names strings; /* worker names, hosts, leak types and paths */
    mt__names types, cols;
    wstate *w;
    size_t n_w, cap_w;
} impl;

static const char *const metric_names[] = { "heap", "frames", "rss", "unmanaged" };

const char *mt_fleet_metric_name(mt_fleet_metric m) {
    return (unsigned)m < MT_FLEET_METRICS ? metric_names[m] : "?";
}

static int cmp_path(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void mt_fleet_paths_free(char **paths, size_t n) {
    for (size_t i = 0; paths && i < n; i++) free(paths[i]);
    free(paths);
}

static int push_path(char ***out, size_t *n, size_t *cap, char *p) {
    if (!p) return MT_E_NOMEM;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        char **q = realloc(*out, nc * sizeof *q);
        if (!q) {
            free(p);
            return MT_E_NOMEM;
        }
        *out = q;
        *cap = nc;
    }
    (*out)[(*n)++] = p;
    return 0;
}

int mt_fleet_paths(const char *const *args, size_t n_args, char ***out, size_t *n, mt_diag *diag) {
    char **v = NULL;
    size_t nv = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < n_args; i++) {
        struct stat st;
        if (stat(args[i], &st) || !S_ISDIR(st.st_mode)) {
            /* A file, or nothing: the load says what is wrong with it. */
            rc = push_path(&v, &nv, &cap, strdup(args[i]));
            continue;
        }
        DIR *d = opendir(args[i]);
        if (!d) {
            if (diag) diag->file = args[i];
            rc = mt_diag_set(diag, MT_E_IO, "cannot read the directory: %s", strerror(errno));
            break;
        }
        size_t first = nv;
        struct dirent *e;
        while (!rc && (e = readdir(d))) {
            size_t len = strlen(e->d_name);
            if (len <= 5 || strcmp(e->d_name + len - 5, ".snap")) continue;
            size_t dl = strlen(args[i]);
            char *p = malloc(dl + len + 2);
            if (p) sprintf(p, "%s%s%s", args[i], dl && args[i][dl - 1] == '/' ? "" : "/", e->d_name);
            rc = push_path(&v, &nv, &cap, p);
        }
        closedir(d);
        if (!rc && nv > first) qsort(v + first, nv - first, sizeof *v, cmp_path);
    }
    if (!rc && !nv) {
        if (diag && n_args) diag->file = args[n_args - 1];
        rc = mt_diag_set(diag, MT_E_INVAL, "no heap dumps (.snap files) here");
    }
    if (rc) {
        if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory");
        mt_fleet_paths_free(v, nv);
        return rc;
    }
    *out = v;
    *n = nv;
    return 0;
}

/* The meta value key as a string, or an empty one. */
static mt_str meta_str(const mt_snapshot *s, const char *key) {
    const mt_value *v = mt_snapshot_meta_get(s, key);
    if (v && v->type == MT_VAL_STR && v->v.s.len) return v->v.s;
    return (mt_str){ "", 0 };
}

static int cmp_entry(const void *a, const void *b) {
    uint32_t x = ((const stat_entry *)a)->id, y = ((const stat_entry *)b)->id;
    return (x > y) - (x < y);
}

/* The latest dump of worker w: its totals, per-type and per-column bytes. */
static int read_dump(impl *im, wstate *w, const mt_snapshot *s, mt_diag *diag) {
    const mt_graph *g = mt_snapshot_graph(s);
    mt_type_stat *ts = malloc((g->n_types ? g->n_types : 1) * sizeof *ts);
    stat_entry *te = malloc((g->n_types ? g->n_types : 1) * sizeof *te);
    if (!ts || !te) {
        free(ts);
        free(te);
        return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
    }
    mt_snapshot_type_stats(s, 1, ts);
    size_t nt = 0;
    uint64_t objects = 0, heap = 0;
    int rc = 0;
    for (uint32_t i = 0; !rc && i < g->n_types; i++) {
        if (!ts[i].count) continue;
        mt_str nm = g->type_names[ts[i].type];
        objects += ts[i].count;
        heap += ts[i].bytes;
        te[nt].count = ts[i].count;
        te[nt].bytes = ts[i].bytes;
        rc = intern_id(&im->types, nm.ptr, nm.len, &te[nt].id);
        nt++;
    }
    free(ts);
    /* Two type records of one name (a class defined twice) are one row. */
    qsort(te, nt, sizeof *te, cmp_entry);
    size_t m = 0;
    for (size_t i = 0; i < nt; i++) {
        if (m && te[m - 1].id == te[i].id) {
            te[m - 1].count += te[i].count;
            te[m - 1].bytes += te[i].bytes;
        } else
            te[m++] = te[i];
    }
    nt = m;
    mt_df_table *t = NULL;
    stat_entry *ce = NULL;
    size_t nc = 0;
    uint64_t frames = 0;
    if (!rc) rc = mt_df_table_load(s, &t, diag);
    size_t t_frames = 0;
    if (!rc) {
        frames = t->real_bytes;
        t_frames = t->n_frames;
        ce = malloc((t->n_columns ? t->n_columns : 1) * sizeof *ce);
        if (!ce) rc = MT_E_NOMEM;
        for (size_t i = 0; !rc && i < t->n_columns; i++) {
            const mt_df_col_info *c = &t->columns[i];
            mt_str fname = t->frames[c->frame].rec.name;
            char buf[512];
            int len = snprintf(buf, sizeof buf, "%.*s.%.*s", fname.len ? (int)fname.len : 5,
                               fname.len ? fname.ptr : "frame", (int)c->rec.name.len, c->rec.name.ptr);
            if (len < 0) len = 0;
            if ((size_t)len >= sizeof buf) len = (int)sizeof buf - 1;
            ce[nc].count = 0;
            ce[nc].bytes = mt_df_col_real_bytes(c);
            rc = intern_id(&im->cols, buf, (size_t)len, &ce[nc].id);
            nc++;
        }
        if (!rc) {
            qsort(ce, nc, sizeof *ce, cmp_entry);
            m = 0;
            for (size_t i = 0; i < nc; i++) {
                if (m && ce[m - 1].id == ce[i].id) ce[m - 1].bytes += ce[i].bytes;
                else ce[m++] = ce[i];
            }
            nc = m;
        }
    }
    mt_df_table_free(t);
    if (rc) {
        free(te);
        free(ce);
        if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory");
        return rc;
    }
    /* memtrace.dump_heap writes objects, memtrace.dump_frames DataFrames:
     * a worker's latest of each kind is what it holds. */
    if (g->n_objects) {
        free(w->types);
        w->types = te;
        w->n_types = nt;
        w->objects = objects;
        w->heap = heap;
        double rss;
        w->has_rss = mt_snapshot_meta_number(s, "rss", &rss) && rss > 0;
        w->rss = w->has_rss ? (uint64_t)rss : 0;
    } else
        free(te);
    if (t_frames) {
        free(w->cols);
        w->cols = ce;
        w->n_cols = nc;
        w->frames = frames;
    } else
        free(ce);
    return 0;
}

/* The worker a dump belongs to, added when new. */
static int worker_of(impl *im, const mt_snapshot *s, const char *path, size_t *out) {
    static const char *const keys[] = { "label.worker", "label.name", "worker", "name" };
    mt_str host = meta_str(s, "host"), name = { "", 0 };
    double pidv = 0;
    int has_pid = mt_snapshot_meta_number(s, "pid", &pidv);
    for (size_t k = 0; k < sizeof keys / sizeof keys[0] && !name.len; k++) name = meta_str(s, keys[k]);
    char buf[512];
    if (!name.len) {
        /* A dump without host or pid is a worker of its own. */
        int len = host.len || has_pid ? snprintf(buf, sizeof buf, "%.*s:%.0f", (int)host.len, host.ptr, pidv)
                                      : snprintf(buf, sizeof buf, "%s", path);
        if (len < 0) len = 0;
        name = (mt_str){ buf, (size_t)len < sizeof buf ? (size_t)len : sizeof buf - 1 };
    }
    uint32_t id, hid;
    if (intern_id(&im->strings, name.ptr, name.len, &id) || intern_id(&im->strings, host.ptr, host.len, &hid))
        return MT_E_NOMEM;
    for (size_t i = 0; i < im->n_w; i++)
        if (im->w[i].name == id) {
            *out = i;
            return 0;
        }
    if (im->n_w == im->cap_w) {
        size_t nc = im->cap_w ? im->cap_w * 2 : 16;
        wstate *w = realloc(im->w, nc * sizeof *w);
        if (!w) return MT_E_NOMEM;
        im->w = w;
        im->cap_w = nc;
    }
    wstate *w = &im->w[im->n_w];
    memset(w, 0, sizeof *w);
    w->name = id;
    w->host = hid;
    w->pid = has_pid && pidv > 0 ? (uint64_t)pidv : 0;
    *out = im->n_w++;
    return 0;
}

/* Finds id in a sorted entry array; NULL when absent. */
static const stat_entry *find_entry(const stat_entry *e, size_t n, uint32_t id) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (e[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && e[lo].id == id ? &e[lo] : NULL;
}

static int cmp_delta(const void *a, const void *b) {
    const mt_fleet_delta *x = a, *y = b;
    if (x->delta_bytes != y->delta_bytes) return x->delta_bytes < y->delta_bytes ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* The entries of worker k that hold more than the median worker's, most
 * first, at most top (ws[i].types or .cols by cols). */
static int deltas(const impl *im, size_t k, int cols, uint32_t top, mt_fleet_delta **out, size_t *n_out,
                  double *scratch) {
    const wstate *w = &im->w[k];
    const stat_entry *e = cols ? w->cols : w->types;
    size_t n = cols ? w->n_cols : w->n_types;
    const mt__names *names = cols ? &im->cols : &im->types;
    mt_fleet_delta *d = malloc((n ? n : 1) * sizeof *d);
    if (!d) return MT_E_NOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        double *c = scratch, *b = scratch + im->n_w;
        for (size_t j = 0; j < im->n_w; j++) {
            const stat_entry *f = cols ? find_entry(im->w[j].cols, im->w[j].n_cols, e[i].id)
                                       : find_entry(im->w[j].types, im->w[j].n_types, e[i].id);
            c[j] = f ? (double)f->count : 0;
            b[j] = f ? (double)f->bytes : 0;
        }
        double mc = mt_median_inplace(c, im->n_w), mb = mt_median_inplace(b, im->n_w);
        double delta = (double)e[i].bytes - mb;
        if (delta < 0.5) continue;
        d[m].name = mt__names_str(names, e[i].id);
        d[m].count = e[i].count;
        d[m].bytes = e[i].bytes;
        d[m].median_count = mc;
        d[m].median_bytes = mb;
        d[m].delta_bytes = (int64_t)llround(delta);
        m++;
    }
    qsort(d, m, sizeof *d, cmp_delta);
    if (m > top) m = top;
    *out = d;
    *n_out = m;
    return 0;
}

/* ---- leaks across workers ---- */

typedef struct leak_acc {
    uint32_t type, ptype, path; /* into strings */
    size_t *workers, n;
    uint64_t *bytes, *objects;
    double confidence;
} leak_acc;

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_leak(const void *a, const void *b) {
    const mt_fleet_leak *x = a, *y = b;
    if (x->n_workers != y->n_workers) return x->n_workers < y->n_workers ? 1 : -1;
    if (x->bytes_per_snapshot != y->bytes_per_snapshot) return x->bytes_per_snapshot < y->bytes_per_snapshot ? 1 : -1;
    return strcmp(x->type, y->type);
}

static int fleet_leaks(impl *im, mt_fleet *F, const mt_fleet_opts *o, mt_diag *diag) {
    leak_acc *acc = NULL;
    size_t n_acc = 0, cap_acc = 0, done = 0;
    int rc = 0;
    for (size_t k = 0; k < F->n_workers; k++)
        if (F->workers[k].n_dumps >= 3) F->n_series++;
    for (size_t k = 0; !rc && k < F->n_workers; k++) {
        const mt_fleet_worker *fw = &F->workers[k];
        if (fw->n_dumps < 3) continue;
        if (o->progress) o->progress(o->ctx, "leaks", mt__names_str(&im->strings, im->w[k].name), done, F->n_series);
        done++;
        mt_leaks L;
        mt_snapshot *last = NULL;
        mt_leaks_opts lo = { 0 };
        rc = mt_leaks_compute(fw->paths, fw->n_dumps, o->load_flags, &lo, &L, &last, diag);
        if (rc) break;
        const mt_graph *g = mt_snapshot_graph(last);
        for (size_t s = 0; !rc && s < L.n_suspects; s++) {
            const mt_leak_suspect *sp = &L.suspects[s];
            const char *type = L.groups[sp->group].type;
            mt_str pt = { "", 0 };
            char *path = NULL;
            if (sp->point != UINT32_MAX) {
                mt_path p;
                pt = g->type_names[g->type[sp->point]];
                if (!mt_path_to_root(g, sp->point, &p, NULL)) {
                    path = mt_path_format(last, &p);
                    mt_path_free(&p);
                }
            }
            uint32_t ti, pi, hi;
            if (intern_id(&im->strings, type, strlen(type), &ti) || intern_id(&im->strings, pt.ptr, pt.len, &pi) ||
                intern_id(&im->strings, path ? path : "", path ? strlen(path) : 0, &hi)) {
                free(path);
                rc = MT_E_NOMEM;
                break;
            }
            free(path);
            size_t a = 0;
            while (a < n_acc && !(acc[a].type == ti && acc[a].ptype == pi && acc[a].path == hi)) a++;
            if (a == n_acc) {
                if (n_acc == cap_acc) {
                    size_t nc = cap_acc ? cap_acc * 2 : 16;
                    leak_acc *q = realloc(acc, nc * sizeof *q);
                    if (!q) {
                        rc = MT_E_NOMEM;
                        break;
                    }
                    acc = q;
                    cap_acc = nc;
                }
                memset(&acc[a], 0, sizeof acc[a]);
                acc[a].type = ti;
                acc[a].ptype = pi;
                acc[a].path = hi;
                acc[a].confidence = 1;
                acc[a].workers = calloc(F->n_workers, sizeof *acc[a].workers);
                acc[a].bytes = calloc(F->n_workers, sizeof *acc[a].bytes);
                acc[a].objects = calloc(F->n_workers, sizeof *acc[a].objects);
                n_acc++;
                if (!acc[a].workers || !acc[a].bytes || !acc[a].objects) {
                    rc = MT_E_NOMEM;
                    break;
                }
            }
            leak_acc *l = &acc[a];
            /* One worker counts once however many of its suspects match. */
            if (l->n && l->workers[l->n - 1] == k) continue;
            l->workers[l->n] = k;
            l->bytes[l->n] = sp->bytes_per_snapshot;
            l->objects[l->n] = sp->type_objects_per_snapshot;
            l->n++;
            if (sp->confidence < l->confidence) l->confidence = sp->confidence;
        }
        mt_leaks_free(&L);
        mt_snapshot_free(last);
    }
    if (!rc && n_acc) {
        F->leaks = calloc(n_acc, sizeof *F->leaks);
        if (!F->leaks) rc = MT_E_NOMEM;
    }
    for (size_t a = 0; !rc && a < n_acc; a++) {
        mt_fleet_leak *fl = &F->leaks[F->n_leaks++];
        leak_acc *l = &acc[a];
        fl->type = mt__names_str(&im->strings, l->type);
        fl->point_type = mt__names_str(&im->strings, l->ptype);
        fl->path = mt__names_str(&im->strings, l->path);
        fl->n_workers = l->n;
        fl->workers = l->workers;
        l->workers = NULL;
        fl->confidence = l->confidence;
        qsort(l->bytes, l->n, sizeof *l->bytes, cmp_u64);
        qsort(l->objects, l->n, sizeof *l->objects, cmp_u64);
        /* The median worker's; the lower middle one of an even count. */
        fl->bytes_per_snapshot = l->bytes[(l->n - 1) / 2];
        fl->objects_per_snapshot = l->objects[(l->n - 1) / 2];
    }
    if (!rc && F->n_leaks) qsort(F->leaks, F->n_leaks, sizeof *F->leaks, cmp_leak);
    for (size_t a = 0; a < n_acc; a++) {
        free(acc[a].workers);
        free(acc[a].bytes);
        free(acc[a].objects);
    }
    free(acc);
    if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory");
    return rc;
}

/* ---- the whole ---- */

static int cmp_worker(const void *a, const void *b) {
    const mt_fleet_worker *x = a, *y = b;
    return strverscmp(x->name, y->name);
}

static int fleet_compute(const char *const *paths, size_t n, const mt_fleet_opts *o, mt_fleet *out, mt_diag *diag) {
    static const mt_fleet_opts none = { 0 };
    if (!o) o = &none;
    memset(out, 0, sizeof *out);
    if (!n) return mt_diag_set(diag, MT_E_INVAL, "no heap dumps given");
    impl *im = calloc(1, sizeof *im);
    if (!im) return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
    out->impl = im;
    out->threshold = o->threshold > 0 ? o->threshold : MT_FLEET_THRESHOLD;
    uint32_t top = o->top ? o->top : MT_FLEET_TOP;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (o->progress) o->progress(o->ctx, "reading", paths[i], i, n);
        mt_snapshot *s;
        rc = mt_snapshot_load(paths[i], o->load_flags & ~(MT_LOAD_REFS | MT_LOAD_LABELS), &s, diag);
        if (rc) {
            if (diag) diag->file = paths[i];
            break;
        }
        if (o->loaded) o->loaded(o->ctx, paths[i], s);
        size_t k;
        rc = worker_of(im, s, paths[i], &k);
        wstate *w = &im->w[k];
        if (!rc && w->n_paths == w->cap_paths) {
            size_t nc = w->cap_paths ? w->cap_paths * 2 : 4;
            const char **p = realloc(w->paths, nc * sizeof *p);
            if (p) {
                w->paths = p;
                w->cap_paths = nc;
            } else
                rc = MT_E_NOMEM;
        }
        if (!rc) {
            /* Only heap dumps make the series the leak analysis reads. */
            if (mt_snapshot_graph(s)->n_objects) w->paths[w->n_paths++] = paths[i];
            rc = read_dump(im, w, s, diag);
        }
        if (rc && diag) diag->file = paths[i];
        mt_snapshot_free(s);
    }
    if (!rc) {
        out->workers = calloc(im->n_w, sizeof *out->workers);
        if (!out->workers) rc = MT_E_NOMEM;
    }
    double *scratch = NULL;
    if (!rc) {
        scratch = malloc(2 * im->n_w * sizeof *scratch);
        if (!scratch) rc = MT_E_NOMEM;
    }
    if (rc) {
        free(scratch);
        if (rc == MT_E_NOMEM) mt_diag_set(diag, rc, "out of memory");
        return rc;
    }
    /* Sorted by name, with wstate in the same order so that indices agree. */
    out->n_workers = im->n_w;
    for (size_t k = 0; k < im->n_w; k++) {
        mt_fleet_worker *fw = &out->workers[k];
        wstate *w = &im->w[k];
        fw->name = mt__names_str(&im->strings, w->name);
        fw->host = mt__names_str(&im->strings, w->host);
        fw->pid = w->pid;
        fw->n_dumps = w->n_paths;
        fw->paths = w->paths;
        fw->objects = w->objects;
        fw->has_rss = w->has_rss;
        fw->values[MT_FLEET_HEAP] = w->heap;
        fw->values[MT_FLEET_FRAMES] = w->frames;
        fw->values[MT_FLEET_RSS] = w->rss;
        uint64_t known = w->heap + w->frames;
        fw->values[MT_FLEET_UNMANAGED] = w->has_rss && w->rss > known ? w->rss - known : 0;
    }
    {
        /* Sort workers and their states together by name. */
        size_t nw = im->n_w;
        size_t *idx = malloc((nw ? nw : 1) * sizeof *idx);
        mt_fleet_worker *fw = malloc((nw ? nw : 1) * sizeof *fw);
        wstate *ws = malloc((nw ? nw : 1) * sizeof *ws);
        if (!idx || !fw || !ws) {
            free(idx);
            free(fw);
            free(ws);
            free(scratch);
            return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
        }
        for (size_t i = 0; i < nw; i++) idx[i] = i;
        for (size_t i = 1; i < nw; i++) /* insertion sort: stable, and workers are few */
            for (size_t j = i; j > 0 && cmp_worker(&out->workers[idx[j - 1]], &out->workers[idx[j]]) > 0; j--) {
                size_t t = idx[j];
                idx[j] = idx[j - 1];
                idx[j - 1] = t;
            }
        for (size_t i = 0; i < nw; i++) {
            fw[i] = out->workers[idx[i]];
            ws[i] = im->w[idx[i]];
        }
        memcpy(out->workers, fw, nw * sizeof *fw);
        memcpy(im->w, ws, nw * sizeof *ws);
        free(idx);
        free(fw);
        free(ws);
    }
    /* The spread of each metric and each worker's robust z-score. */
    for (int m = 0; m < MT_FLEET_METRICS; m++) {
        mt_fleet_spread *sp = &out->spread[m];
        int needs_rss = m == MT_FLEET_RSS || m == MT_FLEET_UNMANAGED;
        size_t c = 0;
        for (size_t k = 0; k < im->n_w; k++) {
            const mt_fleet_worker *fw = &out->workers[k];
            if (needs_rss && !fw->has_rss) continue;
            double v = (double)fw->values[m];
            if (!c || v > sp->max) {
                sp->max = v;
                sp->max_worker = k;
            }
            scratch[c++] = v;
        }
        sp->n = c;
        sp->median = mt_median_inplace(scratch, c);
        sp->mad = mt_mad_inplace(scratch, c, sp->median);
        double floor = MT_FLEET_FLOOR_SHARE * sp->median;
        if (floor < MT_FLEET_FLOOR_BYTES) floor = MT_FLEET_FLOOR_BYTES;
        for (size_t k = 0; k < im->n_w; k++) {
            mt_fleet_worker *fw = &out->workers[k];
            fw->z[m] = needs_rss && !fw->has_rss ? 0 : mt_robust_z((double)fw->values[m], sp->median, sp->mad, floor);
        }
    }
    for (size_t k = 0; !rc && k < im->n_w; k++) {
        mt_fleet_worker *fw = &out->workers[k];
        fw->worst = MT_FLEET_HEAP;
        for (int m = 1; m < MT_FLEET_METRICS; m++)
            if (fw->z[m] > fw->z[fw->worst]) fw->worst = (mt_fleet_metric)m;
        fw->outlier = fw->z[fw->worst] > out->threshold;
        if (!fw->outlier) continue;
        out->n_outliers++;
        rc = deltas(im, k, 0, top, &fw->types, &fw->n_types, scratch);
        if (!rc) rc = deltas(im, k, 1, top, &fw->columns, &fw->n_columns, scratch);
    }
    free(scratch);
    if (rc) return mt_diag_set(diag, rc, "out of memory");
    out->leaks_done = !o->no_leaks;
    if (!o->no_leaks) rc = fleet_leaks(im, out, o, diag);
    /* The leaks' names may have moved the workers' (common/names.h). */
    for (size_t k = 0; k < im->n_w; k++) {
        out->workers[k].name = mt__names_str(&im->strings, im->w[k].name);
        out->workers[k].host = mt__names_str(&im->strings, im->w[k].host);
    }
    return rc;
}

int mt_fleet_compute(const char *const *paths, size_t n, const mt_fleet_opts *o, mt_fleet *out, mt_diag *diag) {
    int rc = fleet_compute(paths, n, o, out, diag);
    if (rc) mt_fleet_free(out);
    return rc;
}

void mt_fleet_free(mt_fleet *out) {
    if (!out) return;
    impl *im = out->impl;
    for (size_t k = 0; k < out->n_workers; k++) {
        free(out->workers[k].types);
        free(out->workers[k].columns);
    }
    for (size_t i = 0; i < out->n_leaks; i++) free(out->leaks[i].workers);
    free(out->leaks);
    free(out->workers);
    if (im) {
        for (size_t k = 0; k < im->n_w; k++) {
            free(im->w[k].paths);
            free(im->w[k].types);
            free(im->w[k].cols);
        }
        free(im->w);
        mt__names_free(&im->strings);
        mt__names_free(&im->types);
        mt__names_free(&im->cols);
        free(im);
    }
    memset(out, 0, sizeof *out);
}
