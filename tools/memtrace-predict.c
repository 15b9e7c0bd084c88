/* memtrace-predict: the peak memory of a pandas merge, groupby,
 * pivot_table, concat, sort_values or read_csv, before it runs. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "common/cli.h"

static const mt_tool tool = {
    "memtrace-predict", "--op OP (--shapes FILE|SHAPES | --csv PATH)",
    "Predict the peak memory of a pandas merge, groupby, pivot_table, concat, sort_values or read_csv\n"
    "before it runs, from the shapes and key statistics memtrace.dump_frames recorded (or inline shapes),\n"
    "with models calibrated on real pandas; warn when it will not fit and say what would.",
    0, 0,
    "The peak is the memory the operation holds at once beyond its inputs. Exit 1 means it does not fit\n"
    "in the available memory.\n",
};

/* Splits a comma-separated list into *out, replacing what it held: one
 * allocation holds the pointers and a copy of the names, so that
 * free(out->v) frees both. */
static void split(const mt_cli *c, const char *opt, const char *v, mt_names *out) {
    size_t cap = 1, len = strlen(v) + 1, n = 0;
    for (const char *p = v; *p; p++) cap += *p == ',';
    const char **names = malloc(cap * sizeof *names + len);
    if (!names) {
        fprintf(stderr, "%s: out of memory\n", tool.name);
        exit(MT_EXIT_INPUT);
    }
    char *copy = memcpy(names + cap, v, len);
    for (char *tok = copy, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = 0;
        if (!*tok) mt_cli_usage_error(c, "%s has an empty name in '%s'", opt, v);
        names[n++] = tok;
    }
    free((void *)out->v);
    out->v = names;
    out->n = n;
}

/* --on, --by, --frames: a list of names into the mt_names at o->dst. */
static void names_opt(const mt_cli *c, const mt_opt *o, const char *v) {
    char opt[32];
    snprintf(opt, sizeof opt, "--%s", o->name);
    split(c, opt, v, o->dst);
}

/* --op into the mt_predict_op at o->dst. */
static void op_opt(const mt_cli *c, const mt_opt *o, const char *v) {
    if (mt_predict_op_from_name(v, o->dst))
        mt_cli_usage_error(c, "--op must be merge, groupby, pivot_table, concat, sort or read_csv, not '%s'", v);
}

/* --sample-rows: at least one. */
static void sample_rows_opt(const mt_cli *c, const mt_opt *o, const char *v) {
    uint64_t n = mt_cli_uint(c, "--sample-rows", v);
    if (!n) mt_cli_usage_error(c, "--sample-rows must be at least 1");
    *(uint64_t *)o->dst = n;
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
    char b3[16];
    printf("  %-12s %.0f rows, %s real (%s shared with the inputs), pandas deep %s\n", "result", p->result_rows,
           mt_human_bytes((uint64_t)p->result_real_bytes, b1), mt_human_bytes((uint64_t)p->result_shared_bytes, b2),
           mt_human_bytes((uint64_t)p->result_bytes, b3));
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
    num(&w, "result_real_bytes", p->result_real_bytes);
    num(&w, "result_shared_bytes", p->result_shared_bytes);
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
    const char *shapes_arg = NULL, *columns = NULL;
    mt_predict_request q = { .op = MT_PREDICT_N_OPS, .observed = -1 };
    int fmt = 0;
    const mt_opt opts[] = {
        MT_OPT_CALLBACK(0, "op", "OP", &q.op, op_opt, "the operation: merge, groupby, pivot_table, concat, sort or read_csv"),
        MT_OPT_STRING('s', "shapes", "FILE|SHAPES", &shapes_arg,
                      "a snapshot of memtrace.dump_frames, or inline shapes NAME=ROWSxCOLS[:COL/...],..."),
        MT_OPT_STRING(0, "left", "NAME", &q.left, "merge: the left frame"),
        MT_OPT_STRING(0, "right", "NAME", &q.right, "merge: the right frame"),
        MT_OPT_CALLBACK(0, "on", "COL[,COL]", &q.on, names_opt, "merge: the key columns"),
        MT_OPT_STRING(0, "how", "inner|left|right|outer", &q.how, "merge: the join (default: inner)"),
        MT_OPT_STRING(0, "frame", "NAME", &q.frame, "groupby, pivot_table, sort: the frame"),
        MT_OPT_CALLBACK(0, "by", "COL[,COL]", &q.by, names_opt, "groupby, sort: the key columns"),
        MT_OPT_STRING(0, "agg", "FUNC", &q.agg, "groupby: sum (default), mean, count, min, max, median, std or size"),
        MT_OPT_STRING(0, "columns", "COL[,COL]", &columns,
                      "groupby: the value columns (default: all others); pivot_table: the column key"),
        MT_OPT_FLAG(0, "observed", &q.observed, "groupby: observed=True (categorical keys group only the values present)"),
        MT_OPT_STRING(0, "index", "COL", &q.index, "pivot_table: the row key"),
        MT_OPT_STRING(0, "values", "COL", &q.values, "pivot_table: the values"),
        MT_OPT_STRING(0, "aggfunc", "mean|sum|count", &q.aggfunc, "pivot_table: the aggregation (default: mean)"),
        MT_OPT_CALLBACK(0, "frames", "A,B,...", &q.frames, names_opt, "concat: the frames, in order"),
        MT_OPT_STRING(0, "csv", "PATH", &q.csv, "read_csv: the file"),
        MT_OPT_CALLBACK(0, "sample-rows", "N", &q.sample_rows, sample_rows_opt,
                        "read_csv: rows to sample for the column types (default: 1000)"),
        MT_OPT_AVAILABLE(&available, "memory there is"),
        MT_OPT_FORMAT(&fmt, MT_NAMES("text", "json"), "output format (default: text)"),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    if (q.op == MT_PREDICT_N_OPS) mt_cli_usage_error(&c, "--op is needed");
    if (q.op == MT_PREDICT_READ_CSV && !q.csv) mt_cli_usage_error(&c, "--op read_csv needs --csv PATH");
    if (q.op != MT_PREDICT_READ_CSV && !shapes_arg)
        mt_cli_usage_error(&c, "--op %s needs --shapes FILE or inline shapes", mt_predict_op_name(q.op));
    if (columns) {
        if (q.op == MT_PREDICT_PIVOT_TABLE) {
            q.pivot_columns = columns;
        } else {
            split(&c, "--columns", columns, &q.columns);
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
                if (mt_shapes_from_snapshot(s, t, &shapes, &diag)) {
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
    free((void *)q.on.v);
    free((void *)q.by.v);
    free((void *)q.columns.v);
    free((void *)q.frames.v);
    free(c.args);
    return code;
}
