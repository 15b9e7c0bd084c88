/* memtrace-cells: a notebook's cell log (SPEC.md 4.4) as a table of the
 * cells it ran, its kernel sessions, and the cells whose re-runs keep
 * memory (memtrace/cells.h). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/cli.h"

static const mt_tool tool = {
    "memtrace-cells", "FILE",
    "Show a notebook's cell log, which the memtrace IPython extension appends to in every kernel session: each\n"
    "cell run with its wall time, resident memory before, after and at its peak, what it retained, its DataFrames\n"
    "and its error; the sessions, and whether each ended cleanly; and the cells whose re-runs keep memory.",
    1, 1,
    "json always carries the sessions, the cells (--session, --sort and --top apply) and the growing cells;\n"
    "--by session and --leaks choose what text and csv show.",
};

enum { FMT_TEXT, FMT_JSON, FMT_CSV };

typedef struct view {
    const char *file;
    const mt_cells *c;
    const mt_cell *cells;
    size_t n;                 /* every cell */
    const mt_cell_session *ss;
    size_t nss;
    uint32_t *order;          /* the cells shown, in the order shown */
    size_t shown;
    uint64_t session;         /* 0: every session */
    uint64_t threshold;
    mt_cell_growth_set grow;
    unsigned char *growing;   /* per cell: a run of a growing cell */
} view;

static const char *bytes(uint64_t v, char *buf) { return mt_human_bytes(v, buf); }

/* "250 ms", "2.00 s", "4m05s". */
static const char *wall_text(uint64_t ns, char *buf, size_t n) {
    double s = (double)ns / 1e9;
    if (s < 1) snprintf(buf, n, "%.0f ms", s * 1e3);
    else if (s < 60) snprintf(buf, n, "%.2f s", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    return buf;
}

static const char *utc_text(uint64_t ns, char *buf, size_t n) {
    time_t t = (time_t)(ns / 1000000000u);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm)) snprintf(buf, n, "-");
    return buf;
}

/* The source's first line, as tables show it. */
static mt_str first_line(const mt_cell *c) {
    const char *nl = memchr(c->source, '\n', c->source_len);
    return (mt_str){ c->source, nl ? (size_t)(nl - c->source) : c->source_len };
}

static const char *peak_name(mt_cell_peak p) {
    return p == MT_CELL_PEAK_IS_EXACT ? "exact" : p == MT_CELL_PEAK_IS_SAMPLED ? "sampled" : "unknown";
}

/* Whether cell index i is a run of a growing cell. */
static int is_growing(const view *v, uint32_t i) { return v->growing[i]; }

static void print_cells_text(const view *v) {
    char a[32], b[32], p[32], r[32], w[32];
    int sampled = 0, unknown = 0;
    printf("%5s %5s %7s  %-11s %8s %10s %10s %11s %10s %6s  %s\n", "cell", "[n]", "session", "status", "wall",
           "rss before", "after", "peak ", "retained", "frames", "source");
    for (size_t k = 0; k < v->shown; k++) {
        const mt_cell *c = &v->cells[v->order[k]];
        char n[16], pk[40];
        snprintf(n, sizeof n, "[%" PRIu32 "]", c->exec_count);
        if (c->peak == MT_CELL_PEAK_UNKNOWN) {
            snprintf(pk, sizeof pk, "- ");
            unknown = 1;
        } else {
            snprintf(pk, sizeof pk, "%s%s", bytes(c->rss_peak, p), c->peak == MT_CELL_PEAK_IS_SAMPLED ? "~" : " ");
            sampled |= c->peak == MT_CELL_PEAK_IS_SAMPLED;
        }
        printf("%5" PRIu32 " %5s %7" PRIu32 "  %-11s %8s %10s %10s %11s %10s %6zu  %s%s\n", c->id, n, c->session,
               mt_cell_status_name(c->status), wall_text(c->wall_ns, w, sizeof w), bytes(c->rss_before, a),
               bytes(c->rss_after, b), pk, mt_signed_bytes(c->retained, r), c->n_frames, mt_cli_str(first_line(c)),
               is_growing(v, v->order[k]) ? "  (growing)" : "");
        /* Its frames by what they hold; pandas' deep count, which charges
         * a shared object at every row, beside it. */
        for (size_t i = 0; i < c->n_frames; i++) {
            const mt_cell_frame *f = &c->frames[i];
            char rb[32], db[32];
            printf("%13sframe %s (%" PRIu64 " x %" PRIu32 "): ", "", mt_cli_cstr(f->name), f->rows, f->columns);
            if (f->real_bytes)
                printf("%s%s real, ", f->real_estimated ? "~" : "", mt_human_bytes(f->real_bytes, rb));
            printf("%s%s pandas deep\n", f->estimated ? "~" : "", mt_human_bytes(f->deep_bytes, db));
        }
        if (c->status != MT_CELL_OK || c->error[0])
            printf("%13s%s: %s\n", "", c->status == MT_CELL_INTERRUPTED ? "interrupted" : "error",
                   c->error[0] ? mt_cli_cstr(c->error) : "(no message)");
    }
    if (sampled || unknown)
        printf("%s%s%s\n", sampled ? "~ peak sampled: a spike shorter than the interval may be missed" : "",
               sampled && unknown ? "; " : "", unknown ? "- peak not measured" : "");
}

static void print_sessions_text(const view *v) {
    char t[40], p[32], r[32];
    printf("%7s  %-16s %-19s  %5s %10s %10s  %s\n", "session", "kernel", "started (UTC)", "cells", "peak", "retained",
           "ended");
    for (size_t i = 0; i < v->nss; i++) {
        const mt_cell_session *s = &v->ss[i];
        if (v->session && s->session != v->session) continue;
        printf("%7" PRIu32 "  %-16s %-19s  %5zu %10s %10s  %s\n", s->session,
               s->kernel[0] ? mt_cli_strw(mt_str_c(s->kernel), 16) : "-", utc_text(s->start_ns, t, sizeof t),
               s->n_cells, bytes(s->peak, p), mt_signed_bytes(s->retained, r),
               s->ended ? "yes" : "no: did not end cleanly: killed or still running");
    }
    /* The cell a dead kernel was running: what an OOM kill ended. */
    for (size_t i = 0; i < v->nss; i++) {
        const mt_cell_session *s = &v->ss[i];
        if (!s->died_in || (v->session && s->session != v->session)) continue;
        printf("session %" PRIu32 " died running cell %" PRIu32 " (started %s at rss %s): %s\n", s->session,
               s->died_in, utc_text(s->died_start_ns, t, sizeof t), bytes(s->died_rss_before, p),
               mt_cli_str(mt_str_c(s->died_source)));
    }
}

static int group_shown(const view *v, const mt_cell_growth *g) { return !v->session || g->session == v->session; }

static void print_growing_text(const view *v) {
    char h[32], m[32], sd[32], t[32];
    size_t n = 0;
    for (size_t i = 0; i < v->grow.n; i++) n += group_shown(v, &v->grow.g[i]);
    printf("growing cells (re-runs in one session that each kept more than %s)%s\n", bytes(v->threshold, h),
           n ? ":" : ": none");
    for (size_t i = 0; i < v->grow.n; i++) {
        const mt_cell_growth *g = &v->grow.g[i];
        if (!group_shown(v, g)) continue;
        mt_str src = first_line(&v->cells[g->runs[0]]);
        printf("  %s\n    session %" PRIu32 ", cells", mt_cli_str(src), g->session);
        for (size_t r = 0; r < g->n_runs; r++) printf("%s %" PRIu32, r ? "," : "", v->cells[g->runs[r]].id);
        uint64_t mean = (uint64_t)llround(g->kept_mean), dev = (uint64_t)llround(g->kept_sd);
        printf(": %zu of %zu runs kept %s +- %s, %s in all\n", g->n_kept, g->n_runs, bytes(mean, m), bytes(dev, sd),
               mt_signed_bytes(g->total, t));
        printf("    kept per run:");
        for (size_t r = 0; r < g->n_runs; r++) printf("%s %s", r ? "," : "", mt_signed_bytes(mt_cell_kept(&v->cells[g->runs[r]]), t));
        putchar('\n');
        if (g->n_types) {
            printf("    gc counts grown over those runs:");
            for (size_t k = 0; k < g->n_types; k++)
                printf("%s %s +%" PRId64, k ? "," : "", mt_cli_cstr(g->types[k].type), g->types[k].delta);
            putchar('\n');
        }
        if (g->n_elsewhere)
            printf("    also ran %zu time%s in other sessions (not judged across a restart)\n", g->n_elsewhere,
                   g->n_elsewhere == 1 ? "" : "s");
    }
}

static void print_text(const view *v, int by_session, int leaks) {
    size_t nc = 0;
    for (size_t i = 0; i < v->nss; i++)
        if (!v->session || v->ss[i].session == v->session) nc += v->ss[i].n_cells;
    if (!leaks && !by_session) {
        printf("%s: %zu cell%s in %zu session%s%s\n\n", mt_cli_cstr(v->file), nc, nc == 1 ? "" : "s",
               v->session ? (size_t)1 : v->nss, v->session || v->nss == 1 ? "" : "s",
               mt_cells_closed(v->c) ? "" : " (the file is not closed: a kernel still writes it, or was killed)");
        print_cells_text(v);
        putchar('\n');
    }
    if (!leaks) {
        print_sessions_text(v);
        if (!by_session) putchar('\n');
    }
    if (!by_session) print_growing_text(v);
}

static void json_cell(mt_jw *w, const mt_cell *c) {
    mt_jw_begin_object(w, NULL);
    mt_jw_uint(w, "id", c->id);
    mt_jw_uint(w, "session", c->session);
    mt_jw_uint(w, "exec_count", c->exec_count);
    mt_jw_str(w, "source", c->source, c->source_len);
    mt_jw_cstr(w, "source_hash", c->source_hash);
    mt_jw_uint(w, "start_ns", c->start_ns);
    mt_jw_uint(w, "end_ns", c->end_ns);
    mt_jw_uint(w, "wall_ns", c->wall_ns);
    mt_jw_uint(w, "rss_before", c->rss_before);
    mt_jw_uint(w, "rss_after", c->rss_after);
    if (c->peak == MT_CELL_PEAK_UNKNOWN) mt_jw_null(w, "rss_peak");
    else mt_jw_uint(w, "rss_peak", c->rss_peak);
    mt_jw_cstr(w, "peak", peak_name(c->peak));
    mt_jw_int(w, "retained", c->retained);
    if (c->peak == MT_CELL_PEAK_UNKNOWN) mt_jw_null(w, "peak_rise");
    else mt_jw_int(w, "peak_rise", c->peak_rise);
    mt_jw_cstr(w, "status", mt_cell_status_name(c->status));
    mt_jw_cstr(w, "error", c->error);
    if (c->traced) {
        mt_jw_begin_object(w, "traced");
        mt_jw_uint(w, "before", c->traced_before);
        mt_jw_uint(w, "after", c->traced_after);
        mt_jw_uint(w, "peak", c->traced_peak);
        mt_jw_end_object(w);
    } else
        mt_jw_null(w, "traced");
    mt_jw_uint(w, "overhead_ns", c->overhead_ns);
    mt_jw_begin_array(w, "frames");
    for (size_t i = 0; i < c->n_frames; i++) {
        const mt_cell_frame *f = &c->frames[i];
        mt_jw_begin_object(w, NULL);
        mt_jw_cstr(w, "name", f->name);
        mt_jw_uint(w, "rows", f->rows);
        mt_jw_uint(w, "columns", f->columns);
        /* real_bytes: null in a log written before 1.6. */
        if (f->real_bytes) mt_jw_uint(w, "real_bytes", f->real_bytes);
        else mt_jw_null(w, "real_bytes");
        mt_jw_uint(w, "shared_bytes", f->shared_bytes);
        mt_jw_bool(w, "real_estimated", f->real_estimated);
        mt_jw_uint(w, "deep_bytes", f->deep_bytes);
        mt_jw_bool(w, "estimated", f->estimated);
        mt_jw_end_object(w);
    }
    mt_jw_end_array(w);
    mt_jw_begin_array(w, "gpu");
    for (size_t i = 0; i < c->n_gpu; i++) {
        const mt_cell_gpu *g = &c->gpu[i];
        mt_jw_begin_object(w, NULL);
        mt_jw_uint(w, "device", g->device);
        mt_jw_double(w, "allocated", g->allocated);
        mt_jw_double(w, "reserved", g->reserved);
        mt_jw_double(w, "peak_allocated", g->peak_allocated);
        mt_jw_end_object(w);
    }
    mt_jw_end_array(w);
    mt_jw_begin_array(w, "types");
    for (size_t i = 0; i < c->n_types; i++) {
        mt_jw_begin_object(w, NULL);
        mt_jw_cstr(w, "type", c->types[i].type);
        mt_jw_int(w, "delta", c->types[i].delta);
        mt_jw_end_object(w);
    }
    mt_jw_end_array(w);
    mt_jw_end_object(w);
}

static void print_json(const view *v) {
    mt_jw w;
    mt_jw_init(&w, stdout);
    mt_jw_begin_object(&w, NULL);
    mt_jw_cstr(&w, "file", v->file);
    mt_jw_bool(&w, "closed", mt_cells_closed(v->c));
    mt_jw_uint(&w, "threshold", v->threshold);
    mt_jw_begin_array(&w, "sessions");
    for (size_t i = 0; i < v->nss; i++) {
        const mt_cell_session *s = &v->ss[i];
        if (v->session && s->session != v->session) continue;
        mt_jw_begin_object(&w, NULL);
        mt_jw_uint(&w, "session", s->session);
        mt_jw_cstr(&w, "kernel", s->kernel);
        mt_jw_cstr(&w, "detail", s->detail);
        mt_jw_uint(&w, "start_ns", s->start_ns);
        mt_jw_uint(&w, "cells", s->n_cells);
        mt_jw_bool(&w, "ended", s->ended);
        mt_jw_uint(&w, "peak", s->peak);
        mt_jw_int(&w, "retained", s->retained);
        if (s->died_in) {
            mt_jw_begin_object(&w, "died_in");
            mt_jw_uint(&w, "id", s->died_in);
            mt_jw_cstr(&w, "source", s->died_source);
            mt_jw_uint(&w, "start_ns", s->died_start_ns);
            mt_jw_uint(&w, "rss_before", s->died_rss_before);
            mt_jw_end_object(&w);
        } else
            mt_jw_null(&w, "died_in");
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    mt_jw_begin_array(&w, "cells");
    for (size_t k = 0; k < v->shown; k++) json_cell(&w, &v->cells[v->order[k]]);
    mt_jw_end_array(&w);
    mt_jw_begin_array(&w, "growing");
    for (size_t i = 0; i < v->grow.n; i++) {
        const mt_cell_growth *g = &v->grow.g[i];
        if (!group_shown(v, g)) continue;
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "source", g->source);
        mt_jw_cstr(&w, "source_hash", g->source_hash);
        mt_jw_uint(&w, "session", g->session);
        mt_jw_begin_array(&w, "runs");
        for (size_t r = 0; r < g->n_runs; r++) mt_jw_uint(&w, NULL, v->cells[g->runs[r]].id);
        mt_jw_end_array(&w);
        mt_jw_begin_array(&w, "retained");
        for (size_t r = 0; r < g->n_runs; r++) mt_jw_int(&w, NULL, mt_cell_kept(&v->cells[g->runs[r]]));
        mt_jw_end_array(&w);
        mt_jw_int(&w, "total", g->total);
        mt_jw_uint(&w, "kept", g->n_kept);
        mt_jw_double(&w, "kept_mean", g->kept_mean);
        mt_jw_double(&w, "kept_sd", g->kept_sd);
        mt_jw_uint(&w, "elsewhere", g->n_elsewhere);
        mt_jw_begin_array(&w, "types");
        for (size_t k = 0; k < g->n_types; k++) {
            mt_jw_begin_object(&w, NULL);
            mt_jw_cstr(&w, "type", g->types[k].type);
            mt_jw_int(&w, "growth", g->types[k].delta);
            mt_jw_end_object(&w);
        }
        mt_jw_end_array(&w);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    mt_jw_end_object(&w);
    putchar('\n');
}

static void csv_cstr(const char *s) { mt_csv_put_str(stdout, s, strlen(s)); }

static void print_csv(const view *v, int by_session, int leaks) {
    if (by_session) {
        printf("session,kernel,start_ns,cells,ended,peak,retained,died_in\n");
        for (size_t i = 0; i < v->nss; i++) {
            const mt_cell_session *s = &v->ss[i];
            if (v->session && s->session != v->session) continue;
            printf("%" PRIu32 ",", s->session);
            csv_cstr(s->kernel);
            printf(",%" PRIu64 ",%zu,%s,%" PRIu64 ",%" PRId64 ",", s->start_ns, s->n_cells, s->ended ? "true" : "false",
                   s->peak, s->retained);
            if (s->died_in) printf("%" PRIu32, s->died_in);
            printf("\n");
        }
        return;
    }
    if (leaks) {
        printf("session,source_hash,runs,kept,kept_mean,kept_sd,total,source\n");
        for (size_t i = 0; i < v->grow.n; i++) {
            const mt_cell_growth *g = &v->grow.g[i];
            if (!group_shown(v, g)) continue;
            printf("%" PRIu32 ",", g->session);
            csv_cstr(g->source_hash);
            putchar(',');
            for (size_t r = 0; r < g->n_runs; r++) printf("%s%" PRIu32, r ? " " : "", v->cells[g->runs[r]].id);
            printf(",%zu,%.0f,%.0f,%" PRId64 ",", g->n_kept, g->kept_mean, g->kept_sd, g->total);
            mt_csv_put_str(stdout, g->source, strlen(g->source));
            putchar('\n');
        }
        return;
    }
    printf("id,session,exec_count,status,start_ns,wall_ns,rss_before,rss_after,rss_peak,peak,retained,frames,error,"
           "source_hash,source\n");
    for (size_t k = 0; k < v->shown; k++) {
        const mt_cell *c = &v->cells[v->order[k]];
        printf("%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", c->id,
               c->session, c->exec_count, mt_cell_status_name(c->status), c->start_ns, c->wall_ns, c->rss_before,
               c->rss_after);
        if (c->peak != MT_CELL_PEAK_UNKNOWN) printf("%" PRIu64, c->rss_peak);
        printf(",%s,%" PRId64 ",%zu,", peak_name(c->peak), c->retained, c->n_frames);
        csv_cstr(c->error);
        putchar(',');
        csv_cstr(c->source_hash);
        putchar(',');
        mt_csv_put_str(stdout, c->source, c->source_len);
        putchar('\n');
    }
}

int main(int argc, char **argv) {
    int fmt = FMT_TEXT, sort = MT_CELLS_BY_ID, by = 0, leaks = 0;
    uint64_t top = 0;
    view v;
    memset(&v, 0, sizeof v);
    v.threshold = MT_CELLS_DEFAULT_THRESHOLD;
    const mt_opt opts[] = {
        MT_OPT_CHOICE('s', "sort", &sort, MT_NAMES("id", "peak", "retained", "wall"),
                      "order of the cells: as they ran, highest peak (after when unknown), most retained, longest "
                      "(default: id)"),
        MT_OPT_TOP(&top, "show the first N cells in that order (default: 0, all)"),
        MT_OPT_UINT_RANGE(0, "session", "N", &v.session, 1, UINT32_MAX, "only session N"),
        MT_OPT_CHOICE(0, "by", &by, MT_NAMES("cell", "session"), "one line per cell (default) or per session"),
        MT_OPT_FLAG(0, "leaks", &leaks, "show only the cells whose re-runs keep memory"),
        MT_OPT_SIZE(0, "threshold", "SIZE", &v.threshold,
                    "a run keeps memory when it retains more than SIZE (default: 1MiB); units KiB, MiB, GiB, KB, MB, GB"),
        MT_OPT_FORMAT(&fmt, MT_NAMES("text", "json", "csv"), "output format (default: text)"),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    if (by && leaks) mt_cli_usage_error(&c, "--by session and --leaks show different things: give one");
    v.file = c.args[0];
    mt_cells *cl = NULL;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    int code = MT_EXIT_OK;
    if (mt_cells_load(v.file, &cl, &diag)) {
        code = mt_cli_fail(tool.name, v.file, &diag);
        free(c.args);
        return code;
    }
    v.c = cl;
    v.cells = mt_cells_list(cl, &v.n);
    v.ss = mt_cells_sessions(cl, &v.nss);
    if (v.session) {
        size_t i = 0;
        while (i < v.nss && v.ss[i].session != v.session) i++;
        if (i == v.nss) {
            fprintf(stderr, "%s: %s: no session %" PRIu64 " (sessions %" PRIu32 " to %" PRIu32 ")\n", tool.name,
                    mt_cli_cstr(v.file), v.session, v.ss[0].session, v.ss[v.nss - 1].session);
            mt_cells_free(cl);
            free(c.args);
            return MT_EXIT_USAGE;
        }
    }
    v.order = malloc(v.n * sizeof *v.order);
    v.growing = calloc(v.n, 1);
    if (!v.order || !v.growing || mt_cells_sort(cl, (mt_cells_order)sort, v.order) ||
        mt_cells_growing(cl, v.threshold, &v.grow, &diag)) {
        fprintf(stderr, "%s: %s: out of memory\n", tool.name, mt_cli_cstr(v.file));
        code = MT_EXIT_INPUT;
    } else {
        for (size_t g = 0; g < v.grow.n; g++)
            for (size_t r = 0; r < v.grow.g[g].n_runs; r++) v.growing[v.grow.g[g].runs[r]] = 1;
        /* The session filter, then --top. */
        for (size_t k = 0; k < v.n; k++)
            if (!v.session || v.cells[v.order[k]].session == v.session) v.order[v.shown++] = v.order[k];
        if (top && v.shown > top) v.shown = (size_t)top;
        if (fmt == FMT_JSON) print_json(&v);
        else if (fmt == FMT_CSV) print_csv(&v, by, leaks);
        else print_text(&v, by, leaks);
        code = mt_cli_finish(tool.name);
    }
    mt_cell_growth_free(&v.grow);
    free(v.order);
    free(v.growing);
    mt_cells_free(cl);
    free(c.args);
    return code;
}
