/* memtrace-trace: what an allocation trace says: the peak and the stacks
 * live then, what was never freed, temporaries, top sites, sizes, memory
 * at any moment, folded stacks for flame graphs. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/cli.h"

static const mt_tool tool = {
    "memtrace-trace", "FILE",
    "Read an allocation trace (a run file with meta trace_mode, SPEC.md 4.3): the peak and the call stacks live\n"
    "then, what was still allocated at the end, temporary allocations, top sites, a size histogram, memory at any\n"
    "moment, and folded stacks for flame graph tools. Sampled traces give estimates with 95% intervals (+-).",
    1, 1, NULL,
};

static const char *const by_names[] = { "peak", "allocated", "count", "temporary", "leaked", NULL };
static const char *const folded_names[] = { "peak", "leaked", "allocated", "temporary", NULL };

typedef struct progress {
    int on;
    int last;
} progress;

/* A progress line on a terminal's stderr, for files that take a while. */
static void on_progress(void *arg, uint64_t done, uint64_t total) {
    progress *p = arg;
    if (!p->on || total < 1000000) return;
    int pct = (int)(done * 100 / total);
    if (pct == p->last) return;
    p->last = pct;
    fprintf(stderr, "\rmemtrace-trace: reading %d%%", pct);
    if (done >= total) fputs("\r\033[K", stderr);
}

/* "1.5 MiB" or, for an estimate, "1.5 MiB +- 20.0 KiB" (1.96 standard errors). */
static const char *bytes_est(mt_est e, int sampled, char *buf, size_t n) {
    char a[16], b[16];
    const char *x = mt_human_bytes(e.value > 0 ? (uint64_t)llround(e.value) : 0, a);
    if (sampled) snprintf(buf, n, "%s +- %s", x, mt_human_bytes((uint64_t)llround(1.96 * e.se), b));
    else snprintf(buf, n, "%s", x);
    return buf;
}

static const char *count_est(mt_est e, int sampled, char *buf, size_t n) {
    if (sampled) snprintf(buf, n, "%.0f +- %.0f", e.value, 1.96 * e.se);
    else snprintf(buf, n, "%.0f", e.value);
    return buf;
}

static void json_est(mt_jw *w, const char *key, mt_est e, const char *unit) {
    char k[64];
    mt_jw_double(w, key, e.value);
    snprintf(k, sizeof k, "%s_se", key);
    mt_jw_double(w, k, e.se);
    (void)unit;
}

static double seconds(uint64_t ns) { return (double)ns / 1e9; }

int main(int argc, char **argv) {
    int json = 0, salvage = 0, whole = 0, histogram = 0, no_cp = 0, by = 0, folded = -1;
    uint64_t top = 10;
    double at_s = -1, temp_ms = 1;
    const char *at_step = NULL;
    const mt_opt opts[] = {
        MT_OPT_FORMAT(&json, MT_NAMES("text", "json"), "output format (default: text)"),
        MT_OPT_TOP(&top, "show the top N sites (default: 10; 0: all)"),
        MT_OPT_CHOICE(0, "by", &by, by_names,
                      "rank sites by bytes live at the moment shown (the peak or --at), allocated, "
                      "blocks allocated, temporary blocks, or bytes leaked (default: peak)"),
        MT_OPT_FLAG(0, "stack", &whole, "show each site's whole call stack, innermost first"),
        MT_OPT_DOUBLE(0, "temporary-threshold", "MS", &temp_ms, 0, 1e9,
                      "a block freed within MS milliseconds of its allocation is temporary (default: 1)"),
        MT_OPT_FLAG(0, "histogram", &histogram, "show allocations by size class (powers of two)"),
        MT_OPT_DOUBLE(0, "at", "SECONDS", &at_s, 0, 1e10, "show what was live SECONDS after the start, not at the peak"),
        MT_OPT_STRING(0, "at-step", "NAME", &at_step, "show what was live when step NAME began"),
        MT_OPT_CHOICE(0, "folded", &folded, folded_names,
                      "print only folded stacks (outermost;...;innermost BYTES) for flame graph tools"),
        MT_OPT_FLAG(0, "no-checkpoints", &no_cp, "replay every moment from the first record, not from a checkpoint"),
        MT_OPT_SALVAGE(&salvage),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    if (at_s >= 0 && at_step) mt_cli_usage_error(&c, "--at and --at-step name one moment: give one of them");
    const char *path = c.args[0];
    progress pr = { isatty(STDERR_FILENO), -1 };
    mt_trace_opts to = { (uint64_t)llround(temp_ms * 1e6), 1, on_progress, &pr };
    unsigned flags = (salvage ? MT_LOAD_SALVAGE : 0) | (no_cp ? MT_TRACE_NO_CHECKPOINTS : 0);
    mt_trace *t;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    diag.file = path;
    int rc = mt_trace_open(path, flags, &to, &t, &diag);
    if (rc) {
        mt_cli_fail(tool.name, path, &diag);
        if (rc == MT_E_DAMAGED) fprintf(stderr, "%s: %s: use --salvage to read its intact blocks\n", tool.name, path);
        free(c.args);
        return MT_EXIT_INPUT;
    }
    mt_trace_summary S;
    mt_trace_summary_get(t, &S);
    /* Every figure shown is a reported one (trace.h: the floors). */
    mt_trace_summary_floor(t, &S);
    int sm = S.sampled;
    char warn[MT_TRACE_WARNINGS][MT_TRACE_WARNING_LEN];
    for (size_t i = 0, k = mt_trace_warnings(&S, NULL, MT_TRACE_WARN_FILE, warn); i < k; i++)
        mt_cli_warn(tool.name, path, "%s", warn[i]);
    /* The moment shown. */
    mt_trace_at at = { MT_TRACE_AT_PEAK, 0 };
    if (at_step) {
        const mt_trace_step *st = mt_trace_step_find(t, at_step);
        if (!st) {
            size_t nsteps = mt_trace_step_count(t);
            mt_trace_free(t);
            mt_cli_usage_error(&c, "%s has no step named '%s' (%zu steps)", path, at_step, nsteps);
        }
        at = (mt_trace_at){ MT_TRACE_AT_TIME, st->time_ns };
    } else if (at_s >= 0)
        at = (mt_trace_at){ MT_TRACE_AT_TIME, (uint64_t)llround(at_s * 1e9) };
    for (size_t i = 0, k = mt_trace_warnings(&S, &at, MT_TRACE_WARN_MOMENT, warn); i < k; i++)
        mt_cli_warn(tool.name, path, "%s", warn[i]);
    /* The whole-trace figures come with any moment: the end needs no replay. */
    if (folded > 0) at.when = MT_TRACE_AT_END;
    mt_trace_site *sites;
    size_t n;
    rc = mt_trace_sites(t, &at, &sites, &n, &diag);
    if (rc) {
        int code = mt_cli_fail(tool.name, path, &diag);
        mt_trace_free(t);
        free(c.args);
        return code == MT_EXIT_USAGE ? MT_EXIT_INPUT : code;
    }
    const mt_sites *tab = mt_trace_stacks(t);
    char line[8192];
    if (folded >= 0) {
        static const mt_trace_by fb[] = { MT_TRACE_BY_PEAK, MT_TRACE_BY_LEAKED, MT_TRACE_BY_ALLOCATED,
                                          MT_TRACE_BY_TEMPORARY };
        mt_trace_sites_sort(sites, n, fb[folded]);
        for (size_t i = 0; i < n; i++) {
            double v = folded == 3 ? sites[i].temporary.value : mt_trace_site_figure(&sites[i], fb[folded]).value;
            if (llround(v) <= 0) continue;
            char *big = NULL;
            size_t need = mt_trace_folded(t, sites[i].stack, line, sizeof line);
            const char *txt = line;
            if (need >= sizeof line && (big = malloc(need + 1))) {
                mt_trace_folded(t, sites[i].stack, big, need + 1);
                txt = big;
            }
            printf("%s %lld\n", mt_cli_cstr(txt), (long long)llround(v));
            free(big);
        }
        free(sites);
        mt_trace_free(t);
        free(c.args);
        return mt_cli_finish(tool.name);
    }
    mt_est at_bytes = S.peak;
    uint64_t at_ns = S.peak_ns;
    if (at.when == MT_TRACE_AT_TIME) {
        at_bytes = mt_trace_sites_live_total(t, sites, n);
        at_ns = at.time_ns;
    }
    const mt_trace_step *peak_step = mt_trace_step_at(t, S.peak_ns), *at_step_p = mt_trace_step_at(t, at_ns);
    mt_trace_sites_sort(sites, n, (mt_trace_by)by);
    mt_trace_sites_floor(t, sites, n); /* each row is a reported figure */
    size_t shown = top && n > top ? (size_t)top : n;
    mt_trace_size_class hist[MT_TRACE_SIZE_CLASSES];
    mt_trace_histogram(t, hist);
    if (json) {
        mt_jw w;
        mt_jw_init(&w, stdout);
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "file", path);
        mt_jw_cstr(&w, "mode", sm ? "sampled" : "all");
        if (sm) mt_jw_double(&w, "sample_bytes", S.sample_bytes);
        mt_jw_bool(&w, "estimates", sm);
        mt_jw_uint(&w, "records", S.records);
        mt_jw_uint(&w, "allocations", S.allocs);
        mt_jw_uint(&w, "frees", S.frees);
        mt_jw_double(&w, "duration_s", seconds(S.duration_ns));
        mt_jw_uint(&w, "stacks", S.stacks);
        mt_jw_uint(&w, "checkpoints", S.checkpoints);
        mt_jw_bool(&w, "truncated", S.truncated);
        mt_jw_begin_object(&w, "peak");
        json_est(&w, "bytes", S.peak, "B");
        mt_jw_double(&w, "time_s", seconds(S.peak_ns));
        mt_jw_uint(&w, "record", S.peak_seq);
        if (peak_step) mt_jw_cstr(&w, "step", peak_step->name);
        else mt_jw_null(&w, "step");
        mt_jw_end_object(&w);
        mt_jw_begin_object(&w, "leaked");
        json_est(&w, "bytes", S.end, "B");
        json_est(&w, "blocks", S.end_count, "");
        mt_jw_end_object(&w);
        mt_jw_begin_object(&w, "allocated");
        json_est(&w, "bytes", S.allocated, "B");
        json_est(&w, "blocks", S.allocated_count, "");
        mt_jw_end_object(&w);
        mt_jw_begin_object(&w, "temporary");
        mt_jw_double(&w, "threshold_ms", (double)S.temporary_ns / 1e6);
        json_est(&w, "bytes", S.temporary, "B");
        json_est(&w, "blocks", S.temporary_count, "");
        mt_jw_end_object(&w);
        if (at.when == MT_TRACE_AT_TIME) {
            mt_jw_begin_object(&w, "at");
            mt_jw_double(&w, "time_s", seconds(at_ns));
            if (at_step_p) mt_jw_cstr(&w, "step", at_step_p->name);
            else mt_jw_null(&w, "step");
            json_est(&w, "bytes", at_bytes, "B");
            mt_jw_end_object(&w);
        }
        mt_jw_cstr(&w, "by", by_names[by]);
        mt_jw_cstr(&w, "live_at", at.when == MT_TRACE_AT_TIME ? "at" : "peak");
        mt_jw_begin_array(&w, "sites");
        for (size_t i = 0; i < shown; i++) {
            const mt_trace_site *s = &sites[i];
            mt_sites_format(tab, s->stack, whole, line, sizeof line);
            mt_jw_begin_object(&w, NULL);
            mt_jw_uint(&w, "stack", s->stack);
            mt_jw_cstr(&w, "site", line);
            json_est(&w, "live_bytes", s->live, "B");
            json_est(&w, "live_blocks", s->live_count, "");
            json_est(&w, "allocated_bytes", s->allocated, "B");
            json_est(&w, "allocated_blocks", s->allocated_count, "");
            json_est(&w, "temporary_bytes", s->temporary, "B");
            json_est(&w, "temporary_blocks", s->temporary_count, "");
            json_est(&w, "leaked_bytes", s->end, "B");
            json_est(&w, "leaked_blocks", s->end_count, "");
            mt_jw_end_object(&w);
        }
        mt_jw_end_array(&w);
        if (histogram) {
            mt_jw_begin_array(&w, "histogram");
            for (int k = 0; k < MT_TRACE_SIZE_CLASSES; k++) {
                if (hist[k].count.value == 0) continue;
                mt_jw_begin_object(&w, NULL);
                mt_jw_uint(&w, "low", hist[k].low);
                mt_jw_uint(&w, "high", hist[k].high);
                json_est(&w, "blocks", hist[k].count, "");
                json_est(&w, "bytes", hist[k].bytes, "B");
                mt_jw_end_object(&w);
            }
            mt_jw_end_array(&w);
        }
        mt_jw_end_object(&w);
    } else {
        char b1[48], b2[48], b3[48];
        printf("trace: %s\n", mt_cli_cstr(path));
        if (sm)
            printf("mode: sampled, one sample every %s allocated on average: figures are estimates, +- a 95%% "
                   "interval (1.96 standard errors)\n", mt_human_bytes((uint64_t)S.sample_bytes, b1));
        else
            printf("mode: all (every allocation recorded: figures are exact)\n");
        printf("records: %" PRIu64 " (%" PRIu64 " allocation%s, %" PRIu64 " free%s) over %.3f s, %zu stack%s, %zu "
               "checkpoint%s\n", S.records, S.allocs, S.allocs == 1 ? "" : "s", S.frees, S.frees == 1 ? "" : "s",
               seconds(S.duration_ns), S.stacks, S.stacks == 1 ? "" : "s", S.checkpoints,
               S.checkpoints == 1 ? "" : "s");
        printf("peak: %s at %.3f s", bytes_est(S.peak, sm, b1, sizeof b1), seconds(S.peak_ns));
        if (peak_step) printf(", in step %s", mt_cli_cstr(peak_step->name));
        printf("\n");
        printf("still allocated at the end (leaked): %s in %s blocks\n", bytes_est(S.end, sm, b1, sizeof b1),
               count_est(S.end_count, sm, b2, sizeof b2));
        printf("allocated: %s in %s blocks\n", bytes_est(S.allocated, sm, b1, sizeof b1),
               count_est(S.allocated_count, sm, b2, sizeof b2));
        printf("temporary (freed within %g ms): %s in %s blocks\n", (double)S.temporary_ns / 1e6,
               bytes_est(S.temporary, sm, b1, sizeof b1), count_est(S.temporary_count, sm, b2, sizeof b2));
        if (at.when == MT_TRACE_AT_TIME) {
            printf("live at %.3f s", seconds(at_ns));
            if (at_step_p) printf(" (step %s)", mt_cli_cstr(at_step_p->name));
            printf(": %s\n", bytes_est(at_bytes, sm, b1, sizeof b1));
        }
        const char *moment = at.when == MT_TRACE_AT_TIME ? "at the moment asked" : "at the peak";
        static const char *const what[] = { "bytes live %s", "bytes allocated", "blocks allocated",
                                            "temporary blocks", "bytes still allocated at the end" };
        char head[80];
        snprintf(head, sizeof head, what[by], moment);
        printf("\ntop sites by %s:\n", head);
        printf("  %-22s %-22s %-22s %s\n", at.when == MT_TRACE_AT_TIME ? "live then" : "live at the peak", "allocated", "leaked", "site");
        if (!shown) printf("  (none)\n");
        for (size_t i = 0; i < shown; i++) {
            const mt_trace_site *s = &sites[i];
            mt_sites_format(tab, s->stack, whole, line, sizeof line);
            printf("  %-22s %-22s %-22s %s\n", bytes_est(s->live, sm, b1, sizeof b1),
                   bytes_est(s->allocated, sm, b2, sizeof b2), bytes_est(s->end, sm, b3, sizeof b3),
                   mt_cli_cstr(line));
            if (by == MT_TRACE_BY_COUNT || by == MT_TRACE_BY_TEMPORARY)
                printf("  %22s %s blocks allocated, %s temporary (%s)\n", "",
                       count_est(s->allocated_count, sm, b1, sizeof b1),
                       count_est(s->temporary_count, sm, b2, sizeof b2), bytes_est(s->temporary, sm, b3, sizeof b3));
        }
        if (histogram) {
            printf("\nallocations by size:\n");
            printf("  %-24s %-22s %s\n", "size", "blocks", "bytes");
            for (int k = 0; k < MT_TRACE_SIZE_CLASSES; k++) {
                if (hist[k].count.value == 0) continue;
                char range[48], lo[16], hi[16];
                snprintf(range, sizeof range, "%s .. %s", mt_human_bytes(hist[k].low, lo),
                         mt_human_bytes(hist[k].high, hi));
                printf("  %-24s %-22s %s\n", range, count_est(hist[k].count, sm, b1, sizeof b1),
                       bytes_est(hist[k].bytes, sm, b2, sizeof b2));
            }
        }
    }
    free(sites);
    mt_trace_free(t);
    free(c.args);
    return mt_cli_finish(tool.name);
}
