/* An allocation trace (trace.h) for flame graph tools: folded stacks and
 * speedscope's JSON file format (export.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/names.h"
#include "memtrace/export.h"
#include "memtrace/json.h"

/* The byte (or block) figure of a site that `what` names: live at the
 * moment mt_trace_sites() was asked (the peak), still live at the end,
 * allocated, or temporary. */
static double site_value(const mt_trace_site *s, mt_trace_by what, int by_count) {
    switch (what) {
    case MT_TRACE_BY_LEAKED: return by_count ? s->end_count.value : s->end.value;
    case MT_TRACE_BY_ALLOCATED:
    case MT_TRACE_BY_COUNT: return by_count ? s->allocated_count.value : s->allocated.value;
    case MT_TRACE_BY_TEMPORARY: return by_count ? s->temporary_count.value : s->temporary.value;
    default: return by_count ? s->live_count.value : s->live.value;
    }
}

typedef struct fline {
    char *text;
    long long v;
} fline;

static int fline_cmp(const void *a, const void *b) { return strcmp(((const fline *)a)->text, ((const fline *)b)->text); }

int mt_export_trace_folded(mt_trace *t, mt_trace_by what, int by_count, FILE *out, mt_diag *diag) {
    mt_trace_site *sites;
    size_t n;
    int rc = mt_trace_sites(t, NULL, &sites, &n, diag);
    if (rc) return rc;
    fline *lines = calloc(n ? n : 1, sizeof *lines);
    size_t k = 0;
    if (!lines) rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory for %zu folded stacks", n);
    for (size_t i = 0; i < n && !rc; i++) {
        long long v = llround(site_value(&sites[i], what, by_count));
        if (v <= 0) continue;
        size_t need = mt_trace_folded(t, sites[i].stack, NULL, 0);
        char *txt = malloc(need + 1);
        if (!txt) {
            rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory for a folded stack of %zu bytes", need);
            break;
        }
        mt_trace_folded(t, sites[i].stack, txt, need + 1);
        lines[k].text = txt;
        lines[k++].v = v;
    }
    if (!rc) {
        qsort(lines, k, sizeof *lines, fline_cmp);
        for (size_t i = 0; i < k; i++) fprintf(out, "%s %lld\n", lines[i].text, lines[i].v);
        if (ferror(out)) rc = mt_diag_set(diag, MT_E_IO, "cannot write the folded stacks");
    }
    for (size_t i = 0; i < k; i++) free(lines[i].text);
    free(lines);
    free(sites);
    return rc;
}

/* speedscope's shared frames: one per distinct (function, file, line),
 * keyed by the three joined with a separator no name of ours holds. */
typedef struct frame_tab {
    mt__names names;
    uint32_t *stack;    /* [i]: a stack whose innermost frame is frame i */
    size_t cap;
} frame_tab;

static int64_t frame_index(frame_tab *f, const mt_sites *tab, uint32_t stack) {
    mt_str file = { "", 0 }, fn = { "", 0 };
    uint32_t line = 0;
    int known = mt_sites_frame(tab, stack, &file, &fn, &line);
    char key[1024];
    int len = known ? snprintf(key, sizeof key, "%.*s\x1f%.*s\x1f%u", (int)(fn.len > 400 ? 400 : fn.len), fn.ptr,
                               (int)(file.len > 400 ? 400 : file.len), file.ptr, line)
                    : snprintf(key, sizeof key, "\x1f<unknown>");
    if (mt__reserve((void **)&f->stack, &f->cap, f->names.n + 1, sizeof *f->stack)) return -1;
    size_t before = f->names.n;
    int64_t i = mt__names_index(&f->names, key, (size_t)len);
    if (i >= 0 && (size_t)i == before) f->stack[i] = known ? stack : 0;
    return i;
}

/* One profile: a sample a site, root frame first, weighed by its figure. */
static int put_profile(FILE *out, mt_trace *t, frame_tab *f, mt_trace_site *sites, size_t n, mt_trace_by what,
                       const char *name, int first, mt_diag *diag) {
    const mt_sites *tab = mt_trace_stacks(t);
    mt_trace_sites_sort(sites, n, what);
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        long long v = llround(site_value(&sites[i], what, 0));
        if (v > 0) total += (double)v;
    }
    fprintf(out, "%s\n  {\"type\": \"sampled\", \"name\": ", first ? "" : ",");
    mt_json_put_str(out, mt_str_c(name));
    fputs(", \"unit\": \"bytes\", \"startValue\": 0, \"endValue\": ", out);
    mt_json_put_num(out, total, 0);
    fputs(",\n   \"samples\": [", out);
    size_t cap = mt_sites_count(tab) + 1, m = 0;
    if (cap > 4096) cap = 4096;
    int64_t chain[4096];
    for (size_t i = 0; i < n; i++) {
        if (llround(site_value(&sites[i], what, 0)) <= 0) continue;
        size_t depth = 0;
        for (uint32_t s = sites[i].stack; depth < cap; s = mt_sites_parent(tab, s)) {
            if ((chain[depth++] = frame_index(f, tab, s)) < 0)
                return mt_diag_set(diag, MT_E_NOMEM, "out of memory for the speedscope frames");
            if (!s || !mt_sites_parent(tab, s)) break;
        }
        fputs(m++ ? ", [" : "[", out);
        for (size_t d = depth; d-- > 0;) fprintf(out, "%lld%s", (long long)chain[d], d ? ", " : "");
        fputc(']', out);
    }
    fputs("],\n   \"weights\": [", out);
    m = 0;
    for (size_t i = 0; i < n; i++) {
        long long v = llround(site_value(&sites[i], what, 0));
        if (v > 0) fprintf(out, "%s%lld", m++ ? ", " : "", v);
    }
    fputs("]}", out);
    return 0;
}

int mt_export_speedscope(mt_trace *t, const char *name, FILE *out, mt_diag *diag) {
    mt_trace_site *sites;
    size_t n;
    int rc = mt_trace_sites(t, NULL, &sites, &n, diag);
    if (rc) return rc;
    mt_trace_summary S;
    mt_trace_summary_get(t, &S);
    frame_tab f;
    memset(&f, 0, sizeof f);
    char peak[96];
    snprintf(peak, sizeof peak, "live at the peak (%.3f s)%s", S.peak_ns / 1e9, S.sampled ? ", estimated" : "");
    const char *leaked = S.sampled ? "still live at the end (leaked), estimated" : "still live at the end (leaked)";
    const char *alloc = S.sampled ? "allocated, estimated" : "allocated";
    fputs("{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\",\n \"name\": ", out);
    mt_json_put_str(out, mt_str_c(name));
    fputs(",\n \"exporter\": \"memtrace-export\", \"activeProfileIndex\": 0,\n \"profiles\": [", out);
    rc = put_profile(out, t, &f, sites, n, MT_TRACE_BY_PEAK, peak, 1, diag);
    if (!rc) rc = put_profile(out, t, &f, sites, n, MT_TRACE_BY_LEAKED, leaked, 0, diag);
    if (!rc) rc = put_profile(out, t, &f, sites, n, MT_TRACE_BY_ALLOCATED, alloc, 0, diag);
    if (!rc) {
        /* The frames last: the profiles above named them as they met them. */
        fputs("],\n \"shared\": {\"frames\": [", out);
        const mt_sites *tab = mt_trace_stacks(t);
        for (size_t i = 0; i < f.names.n; i++) {
            mt_str file, fn;
            uint32_t line;
            fputs(i ? ",\n  " : "\n  ", out);
            if (!f.stack[i] || !mt_sites_frame(tab, f.stack[i], &file, &fn, &line)) {
                fputs("{\"name\": \"<unknown>\"}", out);
                continue;
            }
            fputs("{\"name\": ", out);
            mt_json_put_str(out, fn.len ? fn : file);
            fputs(", \"file\": ", out);
            mt_json_put_str(out, file);
            fprintf(out, ", \"line\": %u}", line);
        }
        fputs("]}}\n", out);
        if (ferror(out)) rc = mt_diag_set(diag, MT_E_IO, "cannot write the speedscope file");
    }
    mt__names_free(&f.names);
    free(f.stack);
    free(sites);
    return rc;
}
