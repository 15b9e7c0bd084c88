/* memtrace-export: a snapshot in other systems' formats. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "common/cli.h"

static const mt_tool tool = {
    "memtrace-export", "FILE",
    "Write a snapshot's records as JSON lines or CSV (block by block, for files larger than memory), its summary\n"
    "gauges in the OpenMetrics text format for a node exporter's textfile collector, or its allocation stacks\n"
    "folded for flame graph tools; an allocation trace's stacks folded or as a speedscope profile.",
    1, 1,
    "Kinds: meta strings types objects refs roots frames stacks allocs samples df_frames df_columns df_values\n"
    "df_sketches gpu_devices gpu_segments gpu_blocks gpu_events nb_cells events.",
};

enum { TO_JSON, TO_CSV, TO_PROMETHEUS, TO_FOLDED, TO_SPEEDSCOPE };

/* --what, in the order of its names. */
static const mt_trace_by what_by[] = { MT_TRACE_BY_PEAK, MT_TRACE_BY_LEAKED, MT_TRACE_BY_ALLOCATED, MT_TRACE_BY_TEMPORARY };

/* A trace (meta trace_mode) folded or as speedscope. *handled is 0 when
 * in is not a trace, for the caller to read it as a snapshot. */
static int trace_out(const char *in, int to, int what, int by_count, int salvage, const char *out_path, int *handled) {
    mt_trace *t;
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    d.file = in;
    *handled = 1;
    int rc = mt_trace_open(in, salvage ? MT_LOAD_SALVAGE : 0, NULL, &t, &d);
    if (rc && to == TO_FOLDED) {
        /* Not a trace, or damaged: the snapshot way says which. */
        *handled = 0;
        return 0;
    }
    if (rc) {
        int code = mt_cli_fail(tool.name, in, &d);
        if (rc == MT_E_DAMAGED) fprintf(stderr, "%s: %s: use --salvage to read its intact blocks\n", tool.name, in);
        return code == MT_EXIT_USAGE ? MT_EXIT_INPUT : code;
    }
    mt_output o;
    FILE *f = mt_cli_out_open(tool.name, out_path, &o);
    if (!f) {
        mt_trace_free(t);
        return MT_EXIT_INPUT;
    }
    const char *base = strrchr(in, '/');
    rc = to == TO_SPEEDSCOPE ? mt_export_speedscope(t, base ? base + 1 : in, f, &d)
                             : mt_export_trace_folded(t, what_by[what], by_count, f, &d);
    int code = mt_cli_out_close(tool.name, out_path, &o, f, !rc);
    if (rc) code = mt_cli_fail(tool.name, rc == MT_E_IO ? out_path ? out_path : "standard output" : in, &d);
    mt_trace_free(t);
    return code;
}

/* --kind: adds the kinds of v to the mask at o->dst. */
static void parse_kinds(const mt_cli *c, const mt_opt *o, const char *v) {
    uint32_t mask = 0;
    char buf[64];
    while (*v) {
        size_t n = strcspn(v, ",");
        mt_kind k;
        int rc = MT_E_INVAL;
        if (n < sizeof buf) {
            memcpy(buf, v, n);
            buf[n] = 0;
            rc = mt_kind_from_name(buf, &k);
        }
        if (rc) mt_cli_usage_error(c, "--kind: no record kind '%.*s' (the kinds are listed in --help)", (int)n, v);
        mask |= MT_EXPORT_KIND(k);
        v += n + (v[n] == ',');
    }
    if (!mask) mt_cli_usage_error(c, "--kind needs a kind");
    *(uint32_t *)o->dst |= mask;
}

/* CSV of several kinds: DIR/KIND.csv for each kind present. */
static int csv_dir(mt_reader *r, const char *in, uint32_t mask, int salvage, const char *dir) {
    if (mkdir(dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "%s: %s: cannot create the directory: %s\n", tool.name, dir, strerror(errno));
        return MT_EXIT_INPUT;
    }
    uint32_t present = 0;
    for (size_t b = 0; b < mt_reader_block_count(r); b++) {
        const mt_block_info *bi = mt_reader_block(r, b);
        if (bi->kind >= 1 && bi->kind <= MT_KIND_MAX) present |= MT_EXPORT_KIND(bi->kind);
    }
    for (int k = 1; k <= MT_KIND_MAX; k++) {
        if (!(mask & present & MT_EXPORT_KIND(k))) continue;
        size_t n = strlen(dir) + strlen(mt_kind_name(k)) + 8;
        char *path = malloc(n);
        if (!path) return MT_EXIT_INPUT;
        snprintf(path, n, "%s/%s.csv", dir, mt_kind_name(k));
        mt_output o;
        FILE *f = mt_cli_out_open(tool.name, path, &o);
        int code = MT_EXIT_INPUT;
        if (f) {
            mt_diag d = { 0 };
            mt_diag_clear(&d);
            int rc = mt_export_csv(r, k, salvage, f, &d);
            code = mt_cli_out_close(tool.name, path, &o, f, !rc);
            if (rc) code = mt_cli_fail(tool.name, rc == MT_E_IO ? path : in, &d);
        }
        free(path);
        if (code) return code;
    }
    return MT_EXIT_OK;
}

static int records(const char *in, int to, uint32_t mask, int salvage, const char *out_path) {
    mt_reader *r;
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    d.file = in;
    if (mt_reader_open(strcmp(in, "-") ? in : "/dev/stdin", &r, &d)) return mt_cli_fail(tool.name, in, &d);
    int code, several = to == TO_CSV && (mask & (mask - 1));
    if (several && (!out_path || !strcmp(out_path, "-"))) {
        /* "-o -" made a directory named "-": several files cannot go to
         * standard output. */
        if (out_path)
            fprintf(stderr, "%s: CSV of several kinds is several files, which cannot go to standard output (-o -): "
                            "give -o DIR or one --kind\n", tool.name);
        else
            fprintf(stderr, "%s: CSV of several kinds needs -o DIR (one file per kind) or one --kind\n", tool.name);
        mt_reader_free(r);
        return MT_EXIT_USAGE;
    }
    if (several) {
        code = csv_dir(r, in, mask, salvage, out_path);
    } else {
        mt_output o;
        FILE *f = mt_cli_out_open(tool.name, out_path, &o);
        if (!f) {
            mt_reader_free(r);
            return MT_EXIT_INPUT;
        }
        int k = 1;
        while (to == TO_CSV && !(mask & MT_EXPORT_KIND(k))) k++;
        int rc = to == TO_CSV ? mt_export_csv(r, k, salvage, f, &d) : mt_export_json(r, mask, salvage, f, &d);
        code = mt_cli_out_close(tool.name, out_path, &o, f, !rc);
        if (rc) {
            code = mt_cli_fail(tool.name, rc == MT_E_IO ? out_path ? out_path : "standard output" : in, &d);
            if (rc == MT_E_DAMAGED || rc == MT_E_CHECKSUM || rc == MT_E_CORRUPT)
                fprintf(stderr, "%s: %s: use --salvage to read its intact blocks\n", tool.name, in);
        }
    }
    if (salvage) mt_cli_warn_reader_damage(tool.name, in, r);
    mt_reader_free(r);
    return code;
}

int main(int argc, char **argv) {
    const char *out_path = NULL;
    int to = -1, by_count = 0, salvage = 0, history = 0, what = -1;
    uint32_t mask = 0;
    uint64_t top = 100;
    const mt_opt opts[] = {
        /* In the order of TO_*. */
        MT_OPT_CHOICE('t', "to", &to, MT_NAMES("json", "csv", "prometheus", "folded", "speedscope"),
                      "output format (required; speedscope: allocation traces only)"),
        MT_OPT_CALLBACK('k', "kind", "KIND[,KIND...]", &mask, parse_kinds,
                        "json and csv: only these record kinds (objects, refs, samples, ...)"),
        MT_OPT_OUTPUT("PATH", &out_path, "write to PATH (csv of several kinds: a directory of KIND.csv files)"),
        MT_OPT_TOP(&top, "prometheus: the N types with most bytes, the rest as \"<other>\" (default: 100; 0: all)"),
        MT_OPT_FLAG(0, "history", &history,
                    "prometheus: every point of a run's series, timestamped (default: the last value of each)"),
        MT_OPT_FLAG(0, "count", &by_count, "folded: weigh stacks by objects or blocks instead of bytes"),
        MT_OPT_CHOICE(0, "what", &what, MT_NAMES("peak", "leaked", "allocated", "temporary"),
                      "folded, of a trace: the bytes live at the peak, still live at the end, allocated, or "
                      "temporary (default: peak)"),
        MT_OPT_SALVAGE(&salvage),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    if (to < 0) mt_cli_usage_error(&c, "--to is required: json, csv, prometheus, folded or speedscope");
    if (what >= 0 && to != TO_FOLDED) mt_cli_usage_error(&c, "--what applies to folded only");
    if (by_count && to == TO_SPEEDSCOPE) mt_cli_usage_error(&c, "--count applies to folded only");
    if (mask && to > TO_CSV) mt_cli_usage_error(&c, "--kind applies to json and csv only");
    if (history && to != TO_PROMETHEUS) mt_cli_usage_error(&c, "--history applies to prometheus only");
    if (top > UINT32_MAX) mt_cli_usage_error(&c, "--top is too large");
    const char *in = c.args[0];
    free(c.args);
    if (to <= TO_CSV) return records(in, to, mask ? mask : MT_EXPORT_ALL, salvage, out_path);
    if (to == TO_SPEEDSCOPE || to == TO_FOLDED) {
        int handled = 0, code = 0;
        if (strcmp(in, "-")) code = trace_out(in, to, what < 0 ? 0 : what, by_count, salvage, out_path, &handled);
        else if (to == TO_SPEEDSCOPE) {
            fprintf(stderr, "%s: a speedscope profile is made from a trace file, not standard input\n", tool.name);
            return MT_EXIT_USAGE;
        }
        if (handled) return code;
        if (what >= 0) {
            fprintf(stderr, "%s: %s: --what is for allocation traces, and this is not one (no trace_mode meta)\n",
                    tool.name, mt_cli_cstr(in));
            return MT_EXIT_USAGE;
        }
    }

    mt_snapshot *s;
    int code = mt_cli_load(tool.name, in, 0, salvage, &s);
    if (code) return code;
    mt_output o;
    FILE *f = mt_cli_out_open(tool.name, out_path, &o);
    if (!f) {
        mt_snapshot_free(s);
        return MT_EXIT_INPUT;
    }
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    int rc = to == TO_PROMETHEUS ? mt_export_openmetrics_run(s, (uint32_t)top, history, f, &d) : mt_export_folded(s, by_count, f, &d);
    code = mt_cli_out_close(tool.name, out_path, &o, f, !rc);
    if (rc) code = mt_cli_fail(tool.name, rc == MT_E_IO ? out_path ? out_path : "standard output" : in, &d);
    mt_snapshot_free(s);
    return code;
}
