/* memtrace-diff: what grew between two snapshots. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"

static const mt_tool tool = {
    "memtrace-diff", "A.snap B.snap",
    "Compare two snapshots group by group: count and bytes in each, the change, and, when both come from the\n"
    "same process, the objects new in B, freed since A and surviving, matched by id and type. Two allocation\n"
    "traces are compared site by site, by what was live at each one's end (or peak).",
    2, 2, NULL,
};

enum { FMT_TEXT, FMT_JSON, FMT_CSV };

static int64_t delta(uint64_t b, uint64_t a) { return (int64_t)(b - a); }
static uint64_t absdelta(uint64_t b, uint64_t a) { return b > a ? b - a : a - b; }

/* A row with nothing to say: the same count and bytes on both sides and,
 * matched, no object new or freed. The text leaves them out, so that a
 * --top N table is not padded with them; JSON and CSV keep every group. */
static int unchanged(const mt_diff_row *r) {
    return r->count_a == r->count_b && r->bytes_a == r->bytes_b && r->bytes_a != UINT64_MAX && !r->new_count &&
           !r->freed_count;
}

/* A total that saturated (mt_sat_add_u64) has no known change. */
static int unknown(const mt_diff_row *r) { return r->bytes_a == UINT64_MAX || r->bytes_b == UINT64_MAX; }

/* b - a bytes for CSV, exactly; empty when unknown. */
static const char *csv_delta(const mt_diff_row *r, char *buf) {
    if (unknown(r)) buf[0] = 0;
    else if (r->bytes_b < r->bytes_a) snprintf(buf, 24, "-%" PRIu64, r->bytes_a - r->bytes_b);
    else snprintf(buf, 24, "%" PRIu64, r->bytes_b - r->bytes_a);
    return buf;
}

/* Percent change of bytes; "new" when A had none. */
static const char *percent(const mt_diff_row *r, char *buf) {
    if (unknown(r)) return "unknown";
    if (!r->bytes_a) return r->bytes_b ? "new" : "0.0%";
    snprintf(buf, 24, "%+.1f%%", 100.0 * ((double)r->bytes_b - (double)r->bytes_a) / (double)r->bytes_a);
    return buf;
}

static void describe(const char *label, const char *file, const mt_snapshot *s) {
    const mt_value *pid = mt_snapshot_meta_get(s, "pid"), *host = mt_snapshot_meta_get(s, "host"),
                   *lab = mt_snapshot_meta_get(s, "label");
    printf("%s: %s", label, mt_cli_cstr(file));
    if (pid && pid->type == MT_VAL_UINT) printf(", pid %" PRIu64, pid->v.u);
    if (host && host->type == MT_VAL_STR) printf(" on %s", mt_cli_str(host->v.s));
    if (lab && lab->type == MT_VAL_STR) printf(", \"%s\"", mt_cli_str(lab->v.s));
    putchar('\n');
}

/* Long site names keep their end (the line number), others their start:
 * a traceback is written innermost frame first, so its start is where the
 * object was allocated, which tells its rows apart. */
static void print_group(const char *name, int width, int keep_end) {
    const char *g = mt_cli_cstr(name); /* escaped first: the cuts below are on what shows */
    int n = (int)strlen(g);
    /* A traceback (keep_end 2) whose innermost frame alone is too long
     * shows that frame as a site is shown, up to its line number. */
    if (keep_end == 2) {
        const char *lt = strstr(g, " < ");
        int first = lt ? (int)(lt - g) : n;
        keep_end = n > width && first > width - 3;
        if (keep_end && first < n) {
            /* "...frame:line" with the outer frames left out, marked. */
            int room = width - 6, at = first - (room > 0 ? room : 0);
            while (at < first && ((unsigned char)g[at] & 0xc0) == 0x80) at++;
            printf("...%.*s...%*s", first - at, g + at, width - 6 - (first - at), "");
            return;
        }
    }
    if (n <= width) {
        printf("%-*s", width, g);
    } else if (keep_end) {
        int at = n - (width - 3);
        while (at < n && ((unsigned char)g[at] & 0xc0) == 0x80) at++; /* a whole character */
        printf("...%s", g + at);
    } else {
        int at = width - 3;
        while (at > 0 && ((unsigned char)g[at] & 0xc0) == 0x80) at--;
        printf("%.*s...", at, g);
    }
}

static void text_row(const mt_diff_row *r, int width, int keep_end, int matched) {
    char h1[16], h2[16], h3[24], p[24];
    printf("  ");
    print_group(r->group, width, keep_end);
    printf(" %10" PRIu64 " %10" PRIu64 " %+10" PRId64 " %10s %10s %11s %8s", r->count_a, r->count_b,
           delta(r->count_b, r->count_a), mt_human_bytes(r->bytes_a, h1), mt_human_bytes(r->bytes_b, h2),
           mt_change_bytes(r->bytes_a, r->bytes_b, h3), percent(r, p));
    if (matched) printf(" %9" PRIu64 " %9" PRIu64 " %9" PRIu64, r->new_count, r->freed_count, r->kept_count);
    putchar('\n');
}

static void json_row(mt_jw *w, const char *key, const mt_diff_row *r, int matched) {
    mt_jw_begin_object(w, key);
    mt_jw_cstr(w, "group", r->group);
    mt_jw_uint(w, "count_a", r->count_a);
    mt_jw_uint(w, "count_b", r->count_b);
    mt_jw_int(w, "count_delta", delta(r->count_b, r->count_a));
    mt_jw_uint(w, "bytes_a", r->bytes_a);
    mt_jw_uint(w, "bytes_b", r->bytes_b);
    mt_jw_delta(w, "bytes_delta", r->bytes_a, r->bytes_b);
    if (r->bytes_a && !unknown(r)) mt_jw_double(w, "percent", 100.0 * ((double)r->bytes_b - (double)r->bytes_a) / (double)r->bytes_a);
    else mt_jw_null(w, "percent");
    if (matched) {
        mt_jw_uint(w, "new_count", r->new_count);
        mt_jw_uint(w, "new_bytes", r->new_bytes);
        mt_jw_uint(w, "freed_count", r->freed_count);
        mt_jw_uint(w, "freed_bytes", r->freed_bytes);
        mt_jw_uint(w, "surviving_count", r->kept_count);
        mt_jw_uint(w, "surviving_bytes", r->kept_bytes);
    }
    mt_jw_end_object(w);
}

static void csv_row(const mt_diff_row *r, int matched) {
    char p[32] = "", bd[24];
    if (r->bytes_a && !unknown(r)) snprintf(p, sizeof p, "%.4f", 100.0 * ((double)r->bytes_b - (double)r->bytes_a) / (double)r->bytes_a);
    mt_csv_put_str(stdout, r->group, strlen(r->group));
    printf(",%" PRIu64 ",%" PRIu64 ",%" PRId64 ",%" PRIu64 ",%" PRIu64 ",%s,%s", r->count_a, r->count_b,
           delta(r->count_b, r->count_a), r->bytes_a, r->bytes_b, csv_delta(r, bd), p);
    if (matched)
        printf(",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n", r->new_count, r->new_bytes,
               r->freed_count, r->freed_bytes, r->kept_count, r->kept_bytes);
    else
        printf(",,,,,,\n");
}

/* Signed bytes, "-1.0 MiB" or "66.0 MiB", with "+" for a change. */
static const char *signed_bytes(int64_t v, int plus, char *buf, size_t n) {
    char h[16];
    snprintf(buf, n, "%s%s", v < 0 ? "-" : plus && v > 0 ? "+" : "",
             mt_human_bytes(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, h));
    return buf;
}

/* Resident memory beside the heap and what the heap leaves of it
 * unaccounted, and, when rss outgrew the heap, what that means and how to
 * see it. */
static void rss_text(const mt_rss_heap *rh) {
    char r1[16], r2[16], rd[24], h1[16], h2[16], hd[24], u[24], ua[24], ub[24];
    printf("\nrss: %s -> %s (%s); heap objects: %s -> %s (%s)\n", mt_human_bytes(rh->rss_a, r1),
           mt_human_bytes(rh->rss_b, r2), mt_change_bytes(rh->rss_a, rh->rss_b, rd), mt_human_bytes(rh->heap_a, h1),
           mt_human_bytes(rh->heap_b, h2), mt_change_bytes(rh->heap_a, rh->heap_b, hd));
    printf("unaccounted (rss less the heap's objects): %s -> %s (%s)\n",
           signed_bytes(mt_rss_unaccounted(rh->rss_a, rh->heap_a), 0, ua, sizeof ua),
           signed_bytes(mt_rss_unaccounted(rh->rss_b, rh->heap_b), 0, ub, sizeof ub),
           signed_bytes(rh->unaccounted, 1, u, sizeof u));
    if (rh->native)
        printf("note: rss grew %s more than the heap did: memory no Python object holds (a C extension's or a\n"
               "  library's own allocations), which a heap dump cannot show; record native allocations with\n"
               "  'python3 -m memtrace trace' (CPython's allocators and NumPy's) or heaptrack (every malloc)\n",
               mt_human_bytes((uint64_t)rh->unaccounted, u));
}

/* Bytes with, for an estimate, its 95% interval: "1.5 MiB +-20.0 KiB". */
static const char *est_bytes(mt_est e, int sampled, char *buf, size_t n) {
    char h[16], i[16];
    double v = e.value < 0 ? 0 : e.value;
    if (!sampled) snprintf(buf, n, "%s", mt_human_bytes((uint64_t)llround(v), h));
    else snprintf(buf, n, "%s +-%s", mt_human_bytes((uint64_t)llround(v), h), mt_human_bytes((uint64_t)llround(1.96 * e.se), i));
    return buf;
}

static const char *est_change(mt_est e, int sampled, char *buf, size_t n) {
    char h[24], i[16];
    mt_signed_bytes((int64_t)llround(e.value), h);
    if (!sampled) snprintf(buf, n, "%s", h);
    else snprintf(buf, n, "%s +-%s", h, mt_human_bytes((uint64_t)llround(1.96 * e.se), i));
    return buf;
}

static void trace_json_est(mt_jw *w, const char *key, mt_est e, int sampled) {
    mt_jw_double(w, key, e.value);
    if (sampled) {
        char k[64];
        snprintf(k, sizeof k, "%s_se", key);
        mt_jw_double(w, k, e.se);
    }
}

static void trace_json_row(mt_jw *w, const char *key, const mt_trace_diff_row *r, int sampled) {
    mt_jw_begin_object(w, key);
    mt_jw_cstr(w, "group", r->group);
    trace_json_est(w, "bytes_a", r->bytes_a, sampled);
    trace_json_est(w, "bytes_b", r->bytes_b, sampled);
    trace_json_est(w, "bytes_delta", r->delta, sampled);
    trace_json_est(w, "count_a", r->count_a, sampled);
    trace_json_est(w, "count_b", r->count_b, sampled);
    mt_jw_end_object(w);
}

static void trace_csv_row(const mt_trace_diff_row *r) {
    mt_csv_put_str(stdout, r->group, strlen(r->group));
    const mt_est *e[] = { &r->bytes_a, &r->bytes_b, &r->delta, &r->count_a, &r->count_b };
    for (int k = 0; k < 5; k++) {
        putchar(',');
        mt_json_put_num(stdout, e[k]->value, 0);
        putchar(',');
        mt_json_put_num(stdout, e[k]->se, 0);
    }
    putchar('\n');
}

/* Two traces (trace.h), site by site (tracediff.h). */
static int trace_diff(const char *fa, const char *fb, mt_trace *a, mt_group_by by, int peak, mt_diff_key key,
                      uint64_t top, uint64_t min_delta, int fmt, int salvage) {
    mt_trace *b;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    diag.file = fb;
    int rc = mt_trace_open(fb, salvage ? MT_LOAD_SALVAGE : 0, NULL, &b, &diag);
    if (rc) {
        int code = mt_cli_fail(tool.name, fb, &diag);
        if (rc == MT_E_NOTFOUND) fprintf(stderr, "%s: %s is a trace: both files must be traces\n", tool.name, mt_cli_cstr(fa));
        mt_trace_free(a);
        return code == MT_EXIT_USAGE ? MT_EXIT_INPUT : code;
    }
    mt_trace_diff d;
    rc = mt_trace_diff_compute(a, b, by, peak ? MT_TRACE_AT_PEAK : MT_TRACE_AT_END, &d, &diag);
    if (rc) {
        int code = mt_cli_fail(tool.name, NULL, &diag);
        mt_trace_free(a);
        mt_trace_free(b);
        return code;
    }
    mt_trace_diff_sort(&d, key);
    size_t kept = 0, shown, same = 0;
    for (size_t i = 0; i < d.n_rows; i++) {
        const mt_trace_diff_row *r = &d.rows[i];
        if (fmt == FMT_TEXT && r->delta.value == 0 && r->count_a.value == r->count_b.value) same++;
        else if (fabs(r->delta.value) >= (double)min_delta) d.rows[kept++] = *r;
    }
    shown = top && kept > top ? (size_t)top : kept;
    const char *moment = peak ? "peak" : "end";
    if (fmt == FMT_JSON) {
        mt_jw w;
        mt_jw_init(&w, stdout);
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "a", fa);
        mt_jw_cstr(&w, "b", fb);
        mt_jw_cstr(&w, "by", mt_group_by_name(by));
        mt_jw_cstr(&w, "moment", moment);
        mt_jw_bool(&w, "sampled", d.sampled);
        mt_jw_uint(&w, "groups_total", d.n_rows);
        mt_jw_uint(&w, "groups_shown", shown);
        mt_jw_begin_array(&w, "groups");
        for (size_t i = 0; i < shown; i++) trace_json_row(&w, NULL, &d.rows[i], d.sampled);
        mt_jw_end_array(&w);
        trace_json_row(&w, "total", &d.total, d.sampled);
        mt_jw_end_object(&w);
    } else if (fmt == FMT_CSV) {
        printf("group,bytes_a,bytes_a_se,bytes_b,bytes_b_se,bytes_delta,bytes_delta_se,count_a,count_a_se,count_b,count_b_se\n");
        for (size_t i = 0; i < shown; i++) trace_csv_row(&d.rows[i]);
    } else {
        printf("A: %s (trace)\nB: %s (trace)\n", mt_cli_cstr(fa), mt_cli_cstr(fb));
        printf("grouped by %s; bytes live at the %s of each trace%s\n", mt_group_by_name(by), moment,
               d.sampled ? "; estimates with 95% intervals" : "");
        int width = 5;
        for (size_t i = 0; i < shown; i++) {
            int n = (int)strlen(d.rows[i].group);
            if (n > width) width = n;
        }
        if (width > 48) width = 48;
        int bw = d.sampled ? 22 : 10;
        printf("\n  %-*s %*s %*s %*s %10s %10s\n", width, "group", bw, "bytes A", bw, "bytes B", bw, "change", "blocks A",
               "blocks B");
        for (size_t i = 0; i <= shown; i++) {
            const mt_trace_diff_row *r = i < shown ? &d.rows[i] : &d.total;
            char x[48], y[48], z[48];
            printf("  ");
            print_group(r->group, width, i < shown ? (by == MT_BY_SITE ? 1 : 2) : 0);
            printf(" %*s %*s %*s %10.0f %10.0f\n", bw, est_bytes(r->bytes_a, d.sampled, x, sizeof x), bw,
                   est_bytes(r->bytes_b, d.sampled, y, sizeof y), bw, est_change(r->delta, d.sampled, z, sizeof z),
                   r->count_a.value, r->count_b.value);
        }
        if (kept > shown) printf("  (%zu more groups; --top 0 shows all)\n", kept - shown);
        if (d.n_rows > kept + same)
            printf("  (%zu groups changed by less than %" PRIu64 " bytes)\n", d.n_rows - kept - same, min_delta);
        if (same) printf("  (%zu group%s unchanged)\n", same, same == 1 ? "" : "s");
    }
    mt_trace_diff_free(&d);
    mt_trace_free(a);
    mt_trace_free(b);
    return mt_cli_finish(tool.name);
}

int main(int argc, char **argv) {
    int fmt = FMT_TEXT, salvage = 0, sort = MT_DIFF_BY_DELTA, peak = 0;
    uint64_t top = 20, min_delta = 0;
    mt_group_by by = MT_BY_TYPE;
    /* A choice stores its name's index: index k is mt_diff_key k. */
    const char *const sort_names[] = {
        [MT_DIFF_BY_DELTA] = mt_diff_key_name(MT_DIFF_BY_DELTA),
        [MT_DIFF_BY_BYTES] = mt_diff_key_name(MT_DIFF_BY_BYTES),
        [MT_DIFF_BY_COUNT] = mt_diff_key_name(MT_DIFF_BY_COUNT),
        NULL,
    };
    const mt_opt opts[] = {
        MT_OPT_GROUP_BY('b', "type|module|site|traceback|column|device", &by, "what to group by (default: type)"),
        MT_OPT_TOP(&top, "show the first N groups, 0 for all (default: 20)"),
        MT_OPT_UINT(0, "min-delta", "BYTES", &min_delta, "leave out groups whose bytes changed by less than BYTES"),
        MT_OPT_CHOICE('s', "sort", &sort, sort_names,
                      "order of the groups, larger first (default: delta)"),
        MT_OPT_FORMAT(&fmt, MT_NAMES("text", "json", "csv"), "output format (default: text)"),
        MT_OPT_FLAG(0, "peak", &peak, "traces: compare what was live at each one's peak, not at its end"),
        MT_OPT_SALVAGE_FILES(&salvage),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    mt_diff_key key = (mt_diff_key)sort;
    const char *fa = c.args[0], *fb = c.args[1];
    if (!strcmp(fa, "-") && !strcmp(fb, "-")) mt_cli_usage_error(&c, "only one of A and B can be '-'");
    if (strcmp(fa, "-") && strcmp(fb, "-")) {
        /* Two traces: by site unless told traceback. */
        mt_trace *ta;
        mt_diag td = { 0 };
        mt_diag_clear(&td);
        td.file = fa;
        /* Anything but a trace that opens (not a trace, damage, ...) goes
         * the snapshot way, whose load says what is wrong and how to
         * salvage it. */
        int rc = mt_trace_open(fa, salvage ? MT_LOAD_SALVAGE : 0, NULL, &ta, &td);
        if (!rc) {
            if (by == MT_BY_TYPE) by = MT_BY_SITE;
            if (by != MT_BY_SITE && by != MT_BY_TRACEBACK) {
                mt_trace_free(ta);
                mt_cli_usage_error(&c, "traces are compared by site or traceback, not by %s", mt_group_by_name(by));
            }
            int code = trace_diff(fa, fb, ta, by, peak, (mt_diff_key)sort, top, min_delta, fmt, salvage);
            free(c.args);
            return code;
        }
    }
    if (peak) mt_cli_usage_error(&c, "--peak applies to traces only");
    mt_snapshot *a = NULL, *b = NULL;
    mt_diff d;
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    int side, code = mt_cli_load(tool.name, fa, 0, salvage, &a);
    if (!code) code = mt_cli_load(tool.name, fb, 0, salvage, &b);
    if (!code && mt_diff_check_pair(a, b, by, &side, &diag)) code = mt_cli_fail(tool.name, side ? fb : fa, &diag);
    if (!code && mt_diff_compute(a, b, by, &d, &diag)) code = mt_cli_fail(tool.name, NULL, &diag);
    if (code) {
        mt_snapshot_free(a);
        mt_snapshot_free(b);
        free(c.args);
        return code;
    }
    mt_diff_sort(&d, key);
    mt_rss_heap rh;
    mt_rss_heap_compare(a, b, &rh);
    int objects = by == MT_BY_TYPE || by == MT_BY_MODULE || d.matched;
    const char *note = d.matched ? NULL
                       : objects && !mt_diff_same_process(a, b)
                           ? "the snapshots come from different processes: compared by group only"
                           : NULL;
    /* Rows to show: above --min-delta, the first --top of them. */
    size_t shown = 0, kept = 0, same = 0;
    mt_diff_row *rows = d.rows;
    for (size_t i = 0; i < d.n_rows; i++) {
        if (fmt == FMT_TEXT && unchanged(&rows[i])) same++;
        else if (absdelta(rows[i].bytes_b, rows[i].bytes_a) >= min_delta) rows[kept++] = rows[i];
    }
    shown = top && kept > top ? top : kept;

    if (fmt == FMT_JSON) {
        mt_jw w;
        mt_jw_init(&w, stdout);
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "a", fa);
        mt_jw_cstr(&w, "b", fb);
        mt_jw_cstr(&w, "by", mt_group_by_name(by));
        mt_jw_bool(&w, "matched", d.matched);
        if (note) mt_jw_cstr(&w, "note", note);
        mt_jw_uint(&w, "groups_total", d.n_rows);
        mt_jw_uint(&w, "groups_shown", shown);
        mt_jw_begin_array(&w, "groups");
        for (size_t i = 0; i < shown; i++) json_row(&w, NULL, &rows[i], d.matched);
        mt_jw_end_array(&w);
        json_row(&w, "total", &d.total, d.matched);
        if (rh.has_rss) {
            mt_jw_begin_object(&w, "rss");
            mt_jw_uint(&w, "rss_a", rh.rss_a);
            mt_jw_uint(&w, "rss_b", rh.rss_b);
            mt_jw_uint(&w, "heap_a", rh.heap_a);
            mt_jw_uint(&w, "heap_b", rh.heap_b);
            mt_jw_int(&w, "unaccounted_a", mt_rss_unaccounted(rh.rss_a, rh.heap_a));
            mt_jw_int(&w, "unaccounted_b", mt_rss_unaccounted(rh.rss_b, rh.heap_b));
            mt_jw_int(&w, "unaccounted_bytes", rh.unaccounted);
            mt_jw_bool(&w, "native_growth", rh.native);
            mt_jw_end_object(&w);
        }
        mt_jw_end_object(&w);
    } else if (fmt == FMT_CSV) {
        printf("group,count_a,count_b,count_delta,bytes_a,bytes_b,bytes_delta,percent,new_count,new_bytes,"
               "freed_count,freed_bytes,surviving_count,surviving_bytes\n");
        for (size_t i = 0; i < shown; i++) csv_row(&rows[i], d.matched);
    } else {
        describe("A", fa, a);
        describe("B", fb, b);
        printf("grouped by %s; ", mt_group_by_name(by));
        if (d.matched) printf("objects matched by id and type (same process)\n");
        else if (note) printf("note: %s\n", note);
        else printf("records compared by group\n");
        int width = 5, keep_end = by == MT_BY_SITE ? 1 : by == MT_BY_TRACEBACK ? 2 : 0;
        for (size_t i = 0; i < shown; i++) {
            int n = (int)strlen(rows[i].group);
            if (n > width) width = n;
        }
        if (width > 48) width = 48;
        printf("\n  %-*s %10s %10s %10s %10s %10s %11s %8s", width, "group", "count A", "count B", "change", "bytes A",
               "bytes B", "change", "%");
        if (d.matched) printf(" %9s %9s %9s", "new", "freed", "surviving");
        putchar('\n');
        for (size_t i = 0; i < shown; i++) text_row(&rows[i], width, keep_end, d.matched);
        text_row(&d.total, width, 0, d.matched);
        if (kept > shown) printf("  (%zu more groups; --top 0 shows all)\n", kept - shown);
        if (d.n_rows > kept + same)
            printf("  (%zu groups changed by less than %" PRIu64 " bytes)\n", d.n_rows - kept - same, min_delta);
        if (same) printf("  (%zu group%s unchanged)\n", same, same == 1 ? "" : "s");
        if (rh.has_rss) rss_text(&rh);
    }
    mt_diff_free(&d);
    mt_snapshot_free(a);
    mt_snapshot_free(b);
    free(c.args);
    return mt_cli_finish(tool.name);
}
