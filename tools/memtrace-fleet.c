/* memtrace-fleet: many workers' heap dumps side by side (memtrace/fleet.h). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/cli.h"

static const mt_tool tool = {
    "memtrace-fleet", "FILE...|DIR",
    "Compare the heap dumps of a cluster's workers: per worker the totals of its latest dump (objects, heap,\n"
    "DataFrames, rss, unmanaged), the spread, the outliers by a robust z-score with the types and columns that set\n"
    "them apart from the median worker, and the leaks that show on several workers' series.",
    1, 1 << 20, NULL,
};

typedef struct progress {
    int on, shown;
} progress;

/* A progress line on a terminal's stderr: reading dozens of dumps and
 * running the leak analysis on each series takes a while. */
static void on_progress(void *ctx, const char *what, const char *path, size_t done, size_t total) {
    progress *p = ctx;
    if (!p->on) return;
    fprintf(stderr, "\r\033[K%s: %s %zu/%zu %s", tool.name, what, done + 1, total, mt_cli_cstr(path));
    p->shown = 1;
}

static void warn_damage(void *ctx, const char *path, const mt_snapshot *s) {
    (void)ctx;
    mt_cli_warn_damage(tool.name, path, s);
}

static void json_bytes_or_null(mt_jw *w, const char *key, int has, uint64_t v) {
    if (has) mt_jw_uint(w, key, v);
    else mt_jw_null(w, key);
}

static void json_deltas(mt_jw *w, const char *key, const char *name_key, const mt_fleet_delta *d, size_t n, int count) {
    mt_jw_begin_array(w, key);
    for (size_t i = 0; i < n; i++) {
        mt_jw_begin_object(w, NULL);
        mt_jw_cstr(w, name_key, d[i].name);
        if (count) mt_jw_uint(w, "count", d[i].count);
        mt_jw_uint(w, "bytes", d[i].bytes);
        if (count) mt_jw_double(w, "median_count", d[i].median_count);
        mt_jw_double(w, "median_bytes", d[i].median_bytes);
        mt_jw_int(w, "delta_bytes", d[i].delta_bytes);
        mt_jw_end_object(w);
    }
    mt_jw_end_array(w);
}

static void print_json(const mt_fleet *F) {
    mt_jw w;
    mt_jw_init(&w, stdout);
    mt_jw_begin_object(&w, NULL);
    mt_jw_double(&w, "threshold", F->threshold);
    mt_jw_begin_object(&w, "spread");
    for (int m = 0; m < MT_FLEET_METRICS; m++) {
        const mt_fleet_spread *s = &F->spread[m];
        mt_jw_begin_object(&w, mt_fleet_metric_name((mt_fleet_metric)m));
        mt_jw_uint(&w, "workers", s->n);
        mt_jw_double(&w, "median_bytes", s->median);
        mt_jw_double(&w, "mad_bytes", s->mad);
        if (s->n) {
            mt_jw_double(&w, "max_bytes", s->max);
            mt_jw_cstr(&w, "max_worker", F->workers[s->max_worker].name);
        } else {
            mt_jw_null(&w, "max_bytes");
            mt_jw_null(&w, "max_worker");
        }
        mt_jw_end_object(&w);
    }
    mt_jw_end_object(&w);
    mt_jw_begin_array(&w, "workers");
    for (size_t k = 0; k < F->n_workers; k++) {
        const mt_fleet_worker *fw = &F->workers[k];
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "worker", fw->name);
        mt_jw_cstr(&w, "host", fw->host);
        mt_jw_uint(&w, "pid", fw->pid);
        mt_jw_uint(&w, "dumps", fw->n_dumps);
        if (fw->n_dumps) mt_jw_cstr(&w, "latest", fw->paths[fw->n_dumps - 1]);
        else mt_jw_null(&w, "latest");
        mt_jw_uint(&w, "objects", fw->objects);
        mt_jw_uint(&w, "heap_bytes", fw->values[MT_FLEET_HEAP]);
        mt_jw_uint(&w, "frames_bytes", fw->values[MT_FLEET_FRAMES]);
        json_bytes_or_null(&w, "rss_bytes", fw->has_rss, fw->values[MT_FLEET_RSS]);
        json_bytes_or_null(&w, "unmanaged_bytes", fw->has_rss, fw->values[MT_FLEET_UNMANAGED]);
        mt_jw_begin_object(&w, "z");
        for (int m = 0; m < MT_FLEET_METRICS; m++) mt_jw_double(&w, mt_fleet_metric_name((mt_fleet_metric)m), fw->z[m]);
        mt_jw_end_object(&w);
        mt_jw_bool(&w, "outlier", fw->outlier);
        if (fw->outlier) mt_jw_cstr(&w, "outlier_by", mt_fleet_metric_name(fw->worst));
        else mt_jw_null(&w, "outlier_by");
        json_deltas(&w, "types", "type", fw->types, fw->n_types, 1);
        json_deltas(&w, "columns", "column", fw->columns, fw->n_columns, 0);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    mt_jw_begin_array(&w, "outliers");
    for (size_t k = 0; k < F->n_workers; k++)
        if (F->workers[k].outlier) mt_jw_cstr(&w, NULL, F->workers[k].name);
    mt_jw_end_array(&w);
    mt_jw_bool(&w, "leaks_analyzed", F->leaks_done);
    mt_jw_uint(&w, "series_workers", F->n_series);
    mt_jw_begin_array(&w, "leaks");
    for (size_t i = 0; i < F->n_leaks; i++) {
        const mt_fleet_leak *l = &F->leaks[i];
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "type", l->type);
        if (l->point_type[0]) mt_jw_cstr(&w, "point_type", l->point_type);
        else mt_jw_null(&w, "point_type");
        if (l->path[0]) mt_jw_cstr(&w, "path", l->path);
        else mt_jw_null(&w, "path");
        mt_jw_uint(&w, "n_workers", l->n_workers);
        mt_jw_uint(&w, "of_workers", F->n_series);
        mt_jw_begin_array(&w, "workers");
        for (size_t j = 0; j < l->n_workers; j++) mt_jw_cstr(&w, NULL, F->workers[l->workers[j]].name);
        mt_jw_end_array(&w);
        mt_jw_uint(&w, "bytes_per_snapshot", l->bytes_per_snapshot);
        mt_jw_uint(&w, "objects_per_snapshot", l->objects_per_snapshot);
        mt_jw_double(&w, "confidence", l->confidence);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    mt_jw_end_object(&w);
    putchar('\n');
}

/* A CSV field: quoted when it holds a comma, a quote or a line break
 * (RFC 4180), quotes doubled. */
static void csv_field(const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_csv(const mt_fleet *F) {
    printf("worker,host,pid,dumps,objects,heap_bytes,frames_bytes,rss_bytes,unmanaged_bytes,"
           "z_heap,z_frames,z_rss,z_unmanaged,outlier,outlier_by\n");
    for (size_t k = 0; k < F->n_workers; k++) {
        const mt_fleet_worker *fw = &F->workers[k];
        csv_field(fw->name);
        putchar(',');
        csv_field(fw->host);
        printf(",%" PRIu64 ",%zu,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", fw->pid, fw->n_dumps, fw->objects,
               fw->values[MT_FLEET_HEAP], fw->values[MT_FLEET_FRAMES]);
        if (fw->has_rss) printf("%" PRIu64 ",%" PRIu64, fw->values[MT_FLEET_RSS], fw->values[MT_FLEET_UNMANAGED]);
        else putchar(',');
        for (int m = 0; m < MT_FLEET_METRICS; m++) printf(",%.4g", fw->z[m]);
        printf(",%d,%s\n", fw->outlier, fw->outlier ? mt_fleet_metric_name(fw->worst) : "");
    }
}

static void print_text(const mt_fleet *F, size_t n_dumps) {
    char a[16], b[16], c[16], d[16], e[16];
    printf("workers: %zu (%zu dumps)\n\n", F->n_workers, n_dumps);
    printf("  %-24s %5s %10s %10s %10s %10s %10s\n", "worker", "dumps", "objects", "heap", "frames", "rss",
           "unmanaged");
    for (size_t k = 0; k < F->n_workers; k++) {
        const mt_fleet_worker *fw = &F->workers[k];
        printf("%c %-24s %5zu %10" PRIu64 " %10s %10s %10s %10s\n", fw->outlier ? '!' : ' ',
               mt_cli_strw(mt_str_c(fw->name), 24), fw->n_dumps, fw->objects,
               mt_human_bytes(fw->values[MT_FLEET_HEAP], a), mt_human_bytes(fw->values[MT_FLEET_FRAMES], b),
               fw->has_rss ? mt_human_bytes(fw->values[MT_FLEET_RSS], c) : "-",
               fw->has_rss ? mt_human_bytes(fw->values[MT_FLEET_UNMANAGED], d) : "-");
    }
    printf("\nspread:\n");
    for (int m = 0; m < MT_FLEET_METRICS; m++) {
        const mt_fleet_spread *s = &F->spread[m];
        if (!s->n) {
            printf("  %-10s no worker has it\n", mt_fleet_metric_name((mt_fleet_metric)m));
            continue;
        }
        printf("  %-10s median %s, MAD %s, max %s (%s)\n", mt_fleet_metric_name((mt_fleet_metric)m),
               mt_human_bytes((uint64_t)llround(s->median), a), mt_human_bytes((uint64_t)llround(s->mad), b),
               mt_human_bytes((uint64_t)llround(s->max), e), mt_cli_cstr(F->workers[s->max_worker].name));
    }
    printf("\noutliers (robust z-score above %.3g)%s\n", F->threshold, F->n_outliers ? ":" : ": none");
    for (size_t k = 0; k < F->n_workers; k++) {
        const mt_fleet_worker *fw = &F->workers[k];
        if (!fw->outlier) continue;
        const mt_fleet_spread *s = &F->spread[fw->worst];
        double v = (double)fw->values[fw->worst];
        printf("  %s: %s %s", mt_cli_cstr(fw->name), mt_fleet_metric_name(fw->worst), mt_human_bytes((uint64_t)v, a));
        if (s->median > 0) printf(", %.1fx the median %s", v / s->median, mt_human_bytes((uint64_t)llround(s->median), b));
        printf(" (z = %.1f)\n", fw->z[fw->worst]);
        if (fw->n_types) printf("    types above the median worker:\n");
        for (size_t i = 0; i < fw->n_types; i++) {
            const mt_fleet_delta *t = &fw->types[i];
            char sd[24];
            mt_signed_bytes(t->delta_bytes, sd);
            printf("      %-40s %10s  %" PRIu64 " objects, %s (median %.0f, %s)\n", mt_cli_strw(mt_str_c(t->name), 40),
                   sd, t->count, mt_human_bytes(t->bytes, a), t->median_count,
                   mt_human_bytes((uint64_t)llround(t->median_bytes), b));
        }
        if (fw->n_columns) printf("    DataFrame columns above the median worker:\n");
        for (size_t i = 0; i < fw->n_columns; i++) {
            const mt_fleet_delta *t = &fw->columns[i];
            char sd[24];
            mt_signed_bytes(t->delta_bytes, sd);
            printf("      %-40s %10s  %s (median %s)\n", mt_cli_strw(mt_str_c(t->name), 40), sd,
                   mt_human_bytes(t->bytes, a), mt_human_bytes((uint64_t)llround(t->median_bytes), b));
        }
    }
    if (!F->leaks_done) {
        printf("\nleaks: not analyzed (--no-leaks)\n");
        return;
    }
    if (!F->n_series) {
        printf("\nleaks: no worker has a series of 3 dumps or more\n");
        return;
    }
    printf("\nleaks across workers (%zu with a series)%s\n", F->n_series, F->n_leaks ? ":" : ": none");
    for (size_t i = 0; i < F->n_leaks; i++) {
        const mt_fleet_leak *l = &F->leaks[i];
        printf("  %s: on %zu of %zu workers, +%" PRIu64 " objects (%s) a snapshot (median), confidence %.2f or more\n",
               mt_cli_cstr(l->type), l->n_workers, F->n_series, l->objects_per_snapshot,
               mt_human_bytes(l->bytes_per_snapshot, a), l->confidence);
        if (l->point_type[0]) {
            printf("    accumulates in %s: ", mt_cli_cstr(l->point_type));
            if (l->path[0]) mt_text_put(stdout, MT_TEXT_TERMINAL, l->path, strlen(l->path));
            else fputs("(no path to a root)", stdout);
            putchar('\n');
        }
        printf("    workers:");
        for (size_t j = 0; j < l->n_workers; j++) printf("%s %s", j ? "," : "", mt_cli_cstr(F->workers[l->workers[j]].name));
        putchar('\n');
    }
}

int main(int argc, char **argv) {
    int format = 0, salvage = 0, no_leaks = 0;
    double threshold = MT_FLEET_THRESHOLD;
    uint64_t top = MT_FLEET_TOP;
    const mt_opt opts[] = {
        MT_OPT_FORMAT(&format, MT_NAMES("text", "json", "csv"),
                      "output format (default: text); csv is one row a worker"),
        MT_OPT_DOUBLE(0, "threshold", "Z", &threshold, 0.1, 1000,
                      "a worker is an outlier when a robust z-score is above Z (default: 3.5)"),
        MT_OPT_TOP_RANGE(&top, 0, 100000, "types and columns shown per outlier, 0 for all (default: 10)"),
        MT_OPT_FLAG(0, "no-leaks", &no_leaks, "skip the leak analysis of each worker's series (the slow part)"),
        MT_OPT_SALVAGE_FILES(&salvage),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    mt_diag diag = { .file = NULL }; /* mt_diag_clear keeps the file */
    mt_diag_clear(&diag);
    char **paths;
    size_t n;
    int rc = mt_fleet_paths((const char *const *)c.args, (size_t)c.nargs, &paths, &n, &diag);
    if (rc) {
        int code = mt_cli_fail(tool.name, diag.file, &diag);
        free(c.args);
        return code;
    }
    progress pr = { isatty(STDERR_FILENO), 0 };
    mt_fleet_opts o = { threshold, top ? (uint32_t)top : UINT32_MAX, no_leaks, salvage ? MT_LOAD_SALVAGE : 0,
                        on_progress, NULL, &pr };
    /* What a salvage dropped, said of each file as it is loaded. */
    if (salvage) o.loaded = warn_damage;
    mt_fleet F;
    rc = mt_fleet_compute((const char *const *)paths, n, &o, &F, &diag);
    if (pr.shown) fputs("\r\033[K", stderr);
    if (rc) {
        int code = mt_cli_fail(tool.name, diag.file, &diag);
        if (rc == MT_E_DAMAGED) fprintf(stderr, "%s: %s: use --salvage to read its intact blocks\n", tool.name, diag.file);
        mt_fleet_paths_free(paths, n);
        free(c.args);
        return code;
    }
    if (format == 1) print_json(&F);
    else if (format == 2) print_csv(&F);
    else print_text(&F, n);
    mt_fleet_free(&F);
    mt_fleet_paths_free(paths, n);
    free(c.args);
    return mt_cli_finish(tool.name);
}
