/* memtrace-predict: the peak memory of a pandas merge, groupby,
 * pivot_table, concat, sort_values or read_csv, before it runs. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "common/cli.h"

enum {
    OPT_OP = 1, OPT_SHAPES, OPT_LEFT, OPT_RIGHT, OPT_ON, OPT_HOW, OPT_FRAME, OPT_BY, OPT_AGG, OPT_COLUMNS,
    OPT_OBSERVED, OPT_INDEX, OPT_VALUES, OPT_AGGFUNC, OPT_FRAMES, OPT_CSV, OPT_SAMPLE, OPT_AVAILABLE, OPT_FORMAT
};

static const mt_opt opts[] = {
    { OPT_OP, 0, "op", "OP", "the operation: merge, groupby, pivot_table, concat, sort or read_csv" },
    { OPT_SHAPES, 's', "shapes", "FILE|SHAPES", "a snapshot of memtrace.dump_frames, or inline shapes NAME=ROWSxCOLS[:COL/...],..." },
    { OPT_LEFT, 0, "left", "NAME", "merge: the left frame" },
    { OPT_RIGHT, 0, "right", "NAME", "merge: the right frame" },
    { OPT_ON, 0, "on", "COL[,COL]", "merge: the key columns" },
    { OPT_HOW, 0, "how", "inner|left|right|outer", "merge: the join (default: inner)" },
    { OPT_FRAME, 0, "frame", "NAME", "groupby, pivot_table, sort: the frame" },
    { OPT_BY, 0, "by", "COL[,COL]", "groupby, sort: the key columns" },
    { OPT_AGG, 0, "agg", "FUNC", "groupby: sum (default), mean, count, min, max, median, std or size" },
    { OPT_COLUMNS, 0, "columns", "COL[,COL]", "groupby: the value columns (default: all others); pivot_table: the column key" },
    { OPT_OBSERVED, 0, "observed", NULL, "groupby: observed=True (categorical keys group only the values present)" },
    { OPT_INDEX, 0, "index", "COL", "pivot_table: the row key" },
    { OPT_VALUES, 0, "values", "COL", "pivot_table: the values" },
    { OPT_AGGFUNC, 0, "aggfunc", "mean|sum|count", "pivot_table: the aggregation (default: mean)" },
    { OPT_FRAMES, 0, "frames", "A,B,...", "concat: the frames, in order" },
    { OPT_CSV, 0, "csv", "PATH", "read_csv: the file" },
    { OPT_SAMPLE, 0, "sample-rows", "N", "read_csv: rows to sample for the column types (default: 1000)" },
    { OPT_AVAILABLE, 0, "available", "BYTES", "memory there is (default: MemAvailable of /proc/meminfo); units KiB, MiB, GiB, KB, MB, GB" },
    { OPT_FORMAT, 'f', "format", "text|json", "output format (default: text)" },
    { 0, 0, NULL, NULL, NULL },
};

static const mt_tool tool = {
    "memtrace-predict", "--op OP (--shapes FILE|SHAPES | --csv PATH)",
    "Predict the peak memory of a pandas merge, groupby, pivot_table, concat, sort_values or read_csv\n"
    "before it runs, from the shapes and key statistics memtrace.dump_frames recorded (or inline shapes),\n"
    "with models calibrated on real pandas; warn when it will not fit and say what would.",
    opts, 0, 0,
    "The peak is the memory the operation holds at once beyond its inputs. Exit 1 means it does not fit\n"
    "in the available memory.\n",
};

/* Splits a comma-separated list in place. */
static mt_names split(const mt_cli *c, const char *opt, char *v) {
    mt_names n = { NULL, 0 };
    size_t cap = 1;
    for (const char *p = v; *p; p++) cap += *p == ',';
    const char **out = calloc(cap, sizeof *out);
    if (!out) {
        fprintf(stderr, "%s: out of memory\n", tool.name);
        exit(MT_EXIT_INPUT);
    }
    for (char *tok = v, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = 0;
        if (!*tok) mt_cli_usage_error(c, "%s has an empty name in '%s'", opt, v);
        out[n.n++] = tok;
    }
    n.v = out;
    return n;
}

/* --available exactly as given: the request holds it as a double, and
 * 2^64-1 as a double is 2^64, which no uint64_t holds. 0: unknown. */
static uint64_t available;

static void print_text(const mt_prediction *p, const mt_predict_request *q) {
    char b1[16], b2[16];
    printf("%s: %s", tool.name, mt_predict_op_name(p->op));
    if (q->op == MT_PREDICT_MERGE) printf(" of %s and %s, how=%s", q->left, q->right, q->how ? q->how : "inner");
    else if (q->op == MT_PREDICT_GROUPBY) printf(" of %s, %s", q->frame, q->agg ? q->agg : "sum");
    else if (q->op == MT_PREDICT_PIVOT_TABLE) printf(" of %s, %s", q->frame, q->aggfunc ? q->aggfunc : "mean");
    else if (q->op == MT_PREDICT_SORT) printf(" of %s", q->frame);
    else if (q->op == MT_PREDICT_READ_CSV) printf(" of %s", q->csv);
    printf("\n");
    printf("  %-12s %s (%.2fx the input's %s)\n", "peak", mt_human_bytes((uint64_t)p->peak_bytes, b1), p->multiplier,
           mt_human_bytes((uint64_t)p->input_bytes, b2));
    printf("  %-12s %.0f rows, %s\n", "result", p->result_rows, mt_human_bytes((uint64_t)p->result_bytes, b1));
    if (available > 0)
        printf("  %-12s %s: %s\n", "available", mt_human_bytes(available, b1),
               p->fits ? "fits" : "does not fit");
    else
        printf("  %-12s unknown\n", "available");
    printf("  %-12s %s, calibrated on pandas %s\n", "model", p->model ? p->model : "-", mt_predict_pandas_version());
    if (p->n_warnings) printf("warnings:\n");
    for (size_t i = 0; i < p->n_warnings; i++) printf("  %s\n", p->warnings[i]);
    if (p->n_suggestions) printf("suggestions:\n");
    for (size_t i = 0; i < p->n_suggestions; i++) printf("  %s\n", p->suggestions[i].text);
    if (p->n_assumptions) printf("assumptions:\n");
    for (size_t i = 0; i < p->n_assumptions; i++) printf("  %s\n", p->assumptions[i]);
}

static void num(mt_jw *w, const char *key, double v) {
    if (isfinite(v)) mt_jw_uint(w, key, v > 0 ? (uint64_t)llround(v) : 0);
    else mt_jw_null(w, key);
}

static void print_json(const mt_prediction *p) {
    mt_jw w;
    mt_jw_init(&w, stdout);
    mt_jw_begin_object(&w, NULL);
    mt_jw_cstr(&w, "op", mt_predict_op_name(p->op));
    num(&w, "peak_bytes", p->peak_bytes);
    num(&w, "result_bytes", p->result_bytes);
    num(&w, "result_rows", p->result_rows);
    num(&w, "input_bytes", p->input_bytes);
    if (available > 0) mt_jw_uint(&w, "available_bytes", available);
    else mt_jw_null(&w, "available_bytes");
    if (p->fits >= 0) mt_jw_bool(&w, "fits", p->fits);
    else mt_jw_null(&w, "fits");
    if (isfinite(p->multiplier)) mt_jw_double(&w, "multiplier", round(p->multiplier * 1000) / 1000);
    else mt_jw_null(&w, "multiplier");
    mt_jw_cstr(&w, "model", p->model ? p->model : "");
    mt_jw_cstr(&w, "pandas", mt_predict_pandas_version());
    mt_jw_begin_array(&w, "warnings");
    for (size_t i = 0; i < p->n_warnings; i++) mt_jw_cstr(&w, NULL, p->warnings[i]);
    mt_jw_end_array(&w);
    mt_jw_begin_array(&w, "suggestions");
    for (size_t i = 0; i < p->n_suggestions; i++) {
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "text", p->suggestions[i].text);
        num(&w, "peak_bytes", p->suggestions[i].peak_bytes);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    mt_jw_begin_array(&w, "assumptions");
    for (size_t i = 0; i < p->n_assumptions; i++) mt_jw_cstr(&w, NULL, p->assumptions[i]);
    mt_jw_end_array(&w);
    mt_jw_end_object(&w);
    fputc('\n', stdout);
}

/* A --shapes value names a file when one is there (or '-', or it has no
 * '='); otherwise it is inline shapes. */
static int is_file(const char *v) {
    struct stat st;
    return !strcmp(v, "-") || !strchr(v, '=') || stat(v, &st) == 0;
}

int main(int argc, char **argv) {
    mt_cli c;
    mt_cli_init(&c, &tool, argc, argv);
    const char *v, *shapes_arg = NULL, *columns = NULL;
    mt_predict_request q = { .op = MT_PREDICT_N_OPS, .observed = -1 };
    int id, fmt = 0;
    char *lists[4] = { 0 };
    while ((id = mt_cli_next(&c, &v)))
        switch (id) {
        case OPT_OP: {
            int op = mt_predict_op_find(v);
            if (op < 0)
                mt_cli_usage_error(&c, "--op must be merge, groupby, pivot_table, concat, sort or read_csv, not '%s'", v);
            q.op = (mt_predict_op)op;
            break;
        }
        case OPT_SHAPES: shapes_arg = v; break;
        case OPT_LEFT: q.left = v; break;
        case OPT_RIGHT: q.right = v; break;
        case OPT_ON: free(lists[0]); lists[0] = strdup(v); q.on = split(&c, "--on", lists[0]); break;
        case OPT_HOW: q.how = v; break;
        case OPT_FRAME: q.frame = v; break;
        case OPT_BY: free(lists[1]); lists[1] = strdup(v); q.by = split(&c, "--by", lists[1]); break;
        case OPT_AGG: q.agg = v; break;
        case OPT_COLUMNS: columns = v; break;
        case OPT_OBSERVED: q.observed = 1; break;
        case OPT_INDEX: q.index = v; break;
        case OPT_VALUES: q.values = v; break;
        case OPT_AGGFUNC: q.aggfunc = v; break;
        case OPT_FRAMES: free(lists[2]); lists[2] = strdup(v); q.frames = split(&c, "--frames", lists[2]); break;
        case OPT_CSV: q.csv = v; break;
        case OPT_SAMPLE:
            q.sample_rows = mt_cli_uint(&c, "--sample-rows", v);
            if (!q.sample_rows) mt_cli_usage_error(&c, "--sample-rows must be at least 1");
            break;
        case OPT_AVAILABLE: available = mt_cli_size(&c, "--available", v); break;
        case OPT_FORMAT: fmt = mt_cli_choice(&c, "--format", v, (const char *const[]){ "text", "json", NULL }); break;
        }
    if (q.op == MT_PREDICT_N_OPS) mt_cli_usage_error(&c, "--op is needed");
    if (q.op == MT_PREDICT_READ_CSV && !q.csv) mt_cli_usage_error(&c, "--op read_csv needs --csv PATH");
    if (q.op != MT_PREDICT_READ_CSV && !shapes_arg)
        mt_cli_usage_error(&c, "--op %s needs --shapes FILE or inline shapes", mt_predict_op_name(q.op));
    if (columns) {
        if (q.op == MT_PREDICT_PIVOT_TABLE) {
            q.pivot_columns = columns;
        } else {
            lists[3] = strdup(columns);
            q.columns = split(&c, "--columns", lists[3]);
        }
    }
    if (!available) available = (uint64_t)mt_cli_mem_available();
    q.available_bytes = (double)available;

    /* Cleared, not zeroed: a zeroed diag says "block 0 at offset 0". */
    mt_diag diag = { .file = NULL };
    mt_diag_clear(&diag);
    mt_snapshot *s = NULL;
    mt_df_table *t = NULL;
    mt_shapes *shapes = NULL;
    mt_prediction p = { 0 };
    int code = 0;
    const char *where = shapes_arg;
    if (shapes_arg && q.op != MT_PREDICT_READ_CSV) {
        if (is_file(shapes_arg)) {
            code = mt_cli_load(tool.name, shapes_arg, 0, 0, &s);
            if (!code && mt_df_table_load(s, &t, &diag)) code = mt_cli_fail(tool.name, shapes_arg, &diag);
            if (!code) {
                const mt_value *pv = mt_snapshot_meta_get(s, "pandas_version");
                char *ver = NULL;
                static char verbuf[64];
                if (pv && pv->type == MT_VAL_STR) {
                    snprintf(verbuf, sizeof verbuf, "%.*s", (int)pv->v.s.len, pv->v.s.ptr);
                    ver = verbuf;
                }
                if (mt_shapes_from_table(t, ver, &shapes, &diag)) {
                    if (diag.code == MT_E_NOTFOUND)
                        fprintf(stderr, "%s: %s: %s\n", tool.name, shapes_arg, diag.msg), code = MT_EXIT_INPUT;
                    else
                        code = mt_cli_fail(tool.name, shapes_arg, &diag);
                }
            }
        } else if (where = "--shapes", mt_shapes_parse(shapes_arg, &shapes, &diag)) {
            fprintf(stderr, "%s: --shapes: character %u: %s\n%s:   %s\n%s:   %*s^\n", tool.name, diag.column,
                    diag.msg, tool.name, shapes_arg, tool.name, (int)diag.column - 1, "");
            code = MT_EXIT_USAGE;
        }
    }
    if (q.op == MT_PREDICT_READ_CSV) where = q.csv;
    if (!code && mt_predict_run(shapes, &q, &p, &diag)) {
        if (diag.code == MT_E_INVAL || diag.code == MT_E_NOTFOUND) {
            fprintf(stderr, "%s: %s\n", tool.name, diag.msg);
            code = diag.code == MT_E_INVAL ? MT_EXIT_USAGE : MT_EXIT_INPUT;
        } else if (diag.code == MT_E_IO || diag.code == MT_E_PARSE) {
            fprintf(stderr, "%s: %s\n", tool.name, diag.msg);
            code = MT_EXIT_INPUT;
        } else {
            code = mt_cli_fail(tool.name, where, &diag);
        }
    }
    if (!code) {
        if (fmt == 1) print_json(&p);
        else print_text(&p, &q);
        code = mt_cli_finish(tool.name);
        if (!code && p.fits == 0) code = MT_EXIT_FINDING;
    }
    mt_prediction_free(&p);
    mt_shapes_free(shapes);
    mt_df_table_free(t);
    mt_snapshot_free(s);
    for (int i = 0; i < 4; i++) free(lists[i]);
    free((void *)q.on.v);
    free((void *)q.by.v);
    free((void *)q.columns.v);
    free((void *)q.frames.v);
    free(c.args);
    return code;
}
