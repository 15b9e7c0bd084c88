/* memtrace-advise: rule files applied to DataFrame snapshots and pipeline
 * dumps; which change saves how much. */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"
#include "memtrace/gpu.h"

enum { FMT_TEXT, FMT_JSON, FMT_PYTHON };

static const mt_tool tool = {
    "memtrace-advise", "FILE...",
    "Apply YAML rules to DataFrame snapshots and pipeline dumps (memtrace.dump_frames, memtrace.pipeline):\n"
    "dtype changes, categoricals, chunking and engines, each with the saving its recorded statistics\n"
    "predict, ranked by saving. The rule language is memtrace-rules(5).",
    0, INT_MAX,
    "Exit 1 means advice at the --fail-on severity or above; a bad rule file is a usage error (2).\n",
};

/* One input file and what the rules made of it. */
typedef struct input {
    const char *file;
    mt_snapshot *s;
    mt_df_table *t;
    mt_gpu_device *gpus;
    size_t n_gpus;
    mt_gpu_report *gr;      /* the allocator's measures; NULL: no allocator state */
    mt_advice_list *advice;
} input;

/* s as a Python string literal, valid Python whatever the name (text.h). */
static void py_str(const char *s) {
    putchar('"');
    mt_text_put(stdout, MT_TEXT_PYTHON, s, strlen(s));
    putchar('"');
}

static int py_identifier(const char *s) {
    static const char *const keywords[] = { "False", "None", "True", "and", "as", "assert", "async", "await",
                                            "break", "class", "continue", "def", "del", "elif", "else", "except",
                                            "finally", "for", "from", "global", "if", "import", "in", "is",
                                            "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try",
                                            "while", "with", "yield", "pd", NULL };
    if (!*s || isdigit((unsigned char)*s)) return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_') return 0;
    for (int i = 0; keywords[i]; i++)
        if (!strcmp(keywords[i], s)) return 0;
    return 1;
}

/* The variable frame f is in: its name, or frames["name"] where the name
 * is no identifier or is only its step's (a frame given alone to
 * p.step(name, df) is named after the step, not after a variable). */
static void py_frame(const mt_df_frame *f) {
    const char *name = f->name.ptr;
    if (py_identifier(name) && !(f->step.len && !strcmp(f->step.ptr, name))) fputs(name, stdout);
    else {
        fputs("frames[", stdout);
        py_str(name);
        putchar(']');
    }
}

static int is_dtype_change(const mt_advice *a) {
    return a->column && a->to_dtype && !strcmp(a->kind, "dtype");
}

static int to_datetime(const mt_advice *a) {
    return !strncmp(a->to_dtype, "datetime64", 10);
}

/* A dtype read_csv's dtype= can give frame f's column at read time (dates
 * are parsed after; sparse has no read-time form). */
static int read_time_type(const mt_advice *a, size_t f) {
    return a->frame_index == f && is_dtype_change(a) && !to_datetime(a) && strncmp(a->to_dtype, "Sparse", 6);
}

/* frame[column] */
static void py_column(const mt_df_frame *f, const char *column) {
    py_frame(f);
    putchar('[');
    py_str(column);
    putchar(']');
}

/* A later frame of the same name and variable: the code goes there. */
static size_t later_same(const mt_df_table *t, size_t f) {
    for (size_t g = t->n_frames; g-- > f + 1;)
        if (!strcmp(t->frames[g].rec.name.ptr, t->frames[f].rec.name.ptr)) return g;
    return SIZE_MAX;
}

static void print_frame_code(const mt_df_table *t, const mt_advice_list *l, size_t f) {
    char h1[16];
    const mt_df_frame *fr = &t->frames[f].rec;
    const char *name = fr->name.ptr;
    size_t changes = l->frames[f].changes, dates = l->frames[f].to_datetime;
    int named_by_step = fr->step.len && !strcmp(fr->step.ptr, name);
    /* The file's columns: a frame not from a pipeline may be read_csv's;
     * a pipeline's is the one of its first step. */
    int file_frame = !fr->step.len || (t->n_steps && !strcmp(fr->step.ptr, t->steps[0].name));
    if (changes) {
        printf("\n# %s", mt_cli_cstr(name));
        if (fr->step.len) printf(" at step %s", mt_cli_cstr(fr->step.ptr));
        printf(": %zu column%s, %s saved\n", changes, changes == 1 ? "" : "s", mt_human_bytes(l->frames[f].saving_bytes, h1));
        if (named_by_step)
            printf("# (given alone to p.step(): its variable is not recorded, so the code reads frames[\"%s\"])\n",
                   mt_cli_cstr(name));
        if (changes > dates) {
            py_frame(fr);
            printf(" = ");
            py_frame(fr);
            printf(".astype({\n");
            for (size_t i = 0; i < l->n; i++) {
                const mt_advice *a = &l->items[i];
                if (a->frame_index != f || !is_dtype_change(a) || to_datetime(a)) continue;
                printf("    ");
                py_str(a->column);
                printf(": ");
                py_str(a->to_dtype);
                printf(",  # %s, %s%s", mt_cli_cstr(a->from_dtype), mt_human_bytes(a->saving_bytes, h1),
                       a->lossless ? ", lossless" : "");
                const char *to = a->to_dtype;
                int u = to[0] == 'u' || to[0] == 'U';
                if (!strncmp(to + u, "int", 3) || !strncmp(to + u, "Int", 3))
                    printf("; wraps past %s's range: cast up before ** 2, products, sums", mt_cli_cstr(to));
                if (a->column_index < t->n_columns && (t->columns[a->column_index].rec.flags & MT_COL_KEY) &&
                    !strcmp(to, "category"))
                    printf("; a key: groupby(..., observed=True), and merge with the other side cast alike");
                printf("\n");
            }
            printf("})\n");
        }
        for (size_t i = 0; i < l->n; i++) {
            const mt_advice *a = &l->items[i];
            if (a->frame_index != f || !is_dtype_change(a) || !to_datetime(a)) continue;
            const mt_df_column *c = a->column_index < t->n_columns ? &t->columns[a->column_index].rec : NULL;
            py_column(fr, a->column);
            printf(" = pd.to_datetime(");
            py_column(fr, a->column);
            if (c && c->datetime_format.len) {
                printf(", format=");
                py_str(c->datetime_format.ptr);
            }
            printf(")  # %s, %s", mt_cli_cstr(a->from_dtype), mt_human_bytes(a->saving_bytes, h1));
            if (c && (c->flags & MT_COL_DATETIME_DAYFIRST_TOO) && c->datetime_format.len)
                printf("; day and month order is a guess: swap %%d and %%m if the source writes the day first");
            printf("\n");
        }
        /* The same types at read time, only where the columns are the file's. */
        if (!file_frame) {
            printf("# %s is derived after reading (step %s): no read-time options for it\n", mt_cli_cstr(name),
                   mt_cli_cstr(fr->step.ptr));
        } else {
            size_t types = 0;
            for (size_t i = 0; i < l->n; i++)
                types += read_time_type(&l->items[i], f);
            if (types || dates) {
                printf(fr->step.len ? "# at read time, where step %s's frame is read_csv's result: pd.read_csv(PATH"
                                    : "# at read time, where the frame is read_csv's result%s: pd.read_csv(PATH",
                       fr->step.len ? mt_cli_cstr(fr->step.ptr) : "");
                size_t j = 0;
                for (size_t i = 0; i < l->n; i++) {
                    const mt_advice *a = &l->items[i];
                    if (!read_time_type(a, f)) continue;
                    printf("%s", j++ ? ", " : ", dtype={");
                    py_str(a->column);
                    printf(": ");
                    py_str(a->to_dtype);
                }
                printf("%s)", j ? "}" : "");
                if (dates) printf(", then the pd.to_datetime lines above");
                printf("\n");
            }
        }
    }
    for (size_t i = 0; i < l->n; i++) {
        const mt_advice *a = &l->items[i];
        if (a->frame_index != f || !a->column || strcmp(a->kind, "category") || !a->saving_bytes) continue;
        py_column(fr, a->column);
        printf(" = ");
        py_column(fr, a->column);
        printf(".cat.remove_unused_categories()  # %s\n", mt_human_bytes(a->saving_bytes, h1));
    }
}

static void print_python(const input *ins, size_t n) {
    char h1[16], h2[16];
    printf("# memtrace-advise: the pandas code of the advice; review it before you run it.\n");
    printf("import pandas as pd\n");
    for (size_t k = 0; k < n; k++) {
        const input *in = &ins[k];
        const mt_df_table *t = in->t;
        const mt_advice_list *l = in->advice;
        printf("\n# %s: the dtype changes save %s of %s\n", in->file, mt_human_bytes(l->total_saving_bytes, h1),
               mt_human_bytes(l->data_bytes, h2));
        for (size_t f = 0; t && f < t->n_frames; f++) {
            size_t later = later_same(t, f);
            if (later == SIZE_MAX) {
                print_frame_code(t, l, f);
                continue;
            }
            /* Its columns may be gone by then: the variable's last frame gets the code. */
            if (l->frames[f].changes)
                printf("\n# %s at step %s: %zu change%s; the variable is recorded again at step %s, whose code follows\n",
                       mt_cli_cstr(t->frames[f].rec.name.ptr), mt_cli_cstr(t->frames[f].rec.step.ptr),
                       l->frames[f].changes, l->frames[f].changes == 1 ? "" : "s",
                       mt_cli_cstr(t->frames[later].rec.step.ptr));
        }
        for (size_t i = 0; i < l->n; i++) {
            const mt_advice *a = &l->items[i];
            if (a->chunks && a->chunk_rows)
                printf("# step %s: in %" PRIu64 " chunks: for chunk in pd.read_csv(PATH, chunksize=%" PRIu64 "): ...\n",
                       mt_cli_cstr(a->step), a->chunks, a->chunk_rows);
            else if (a->chunks)
                printf("# step %s: in %" PRIu64 " chunks\n", mt_cli_cstr(a->step), a->chunks);
        }
    }
}

/* What the changes do to a pipeline's memory: resident, peak and RSS apart. */
static void print_effects(const input *in) {
    const mt_advice_list *l = in->advice;
    char h1[16], h2[16], h3[16];
    const struct mt_advice_effect *r = &l->resident, *p = &l->peak, *m = &l->rss;
    if (l->columns_repeated)
        printf("  (%zu column%s recorded again at later steps counted once)\n", l->columns_repeated,
               l->columns_repeated == 1 ? "" : "s");
    if (!r->known && !p->known) return;
    if (r->known)
        printf("  resident: %s off the %s frames of step %s (%.1f%% of them) and of its %s %s (%.1f%%)\n",
               mt_human_bytes(r->saving_bytes, h1), mt_human_bytes(r->frames_bytes, h2),
               mt_cli_cstr(in->t->steps[r->step].name),
               r->frames_bytes ? 100.0 * (double)r->saving_bytes / (double)r->frames_bytes : 0.0,
               !strcmp(l->resident_basis, "traced") ? "traced memory" : "RSS", mt_human_bytes((uint64_t)r->memory, h3),
               r->memory > 0 ? 100.0 * (double)r->saving_bytes / r->memory : 0.0);
    if (p->known && p->step == 0)
        printf("  peak: unchanged: the highest traced peak, %s, is at the first step, %s, which makes the data; a change\n"
               "    after it cannot lower it (give the dtypes to the reader instead)\n",
               mt_human_bytes((uint64_t)p->memory, h1), mt_cli_cstr(in->t->steps[p->step].name));
    else if (p->known) {
        printf("  peak: about %s off the highest traced peak, %s at step %s (%.1f%% of the peak), taking from each\n"
               "    step's peak the changed columns of its inputs (the frames of the step before)",
               mt_human_bytes(p->saving_bytes, h1), mt_human_bytes((uint64_t)p->memory, h2),
               mt_cli_cstr(in->t->steps[p->step].name), p->memory > 0 ? 100.0 * (double)p->saving_bytes / p->memory : 0.0);
        if (p->then_step != p->step)
            printf(";\n    the highest would then be step %s's, %s%s", mt_cli_cstr(in->t->steps[p->then_step].name),
                   mt_human_bytes((uint64_t)p->then_memory, h3),
                   p->then_step == 0 ? ", which a change after the read cannot lower" : "");
        printf("\n");
    } else
        printf("  peak: unknown (the steps recorded no traced peak)\n");
    if (m->known)
        printf("  rss: at most %s off the highest RSS, %s at step %s (%.1f%% of it)\n", mt_human_bytes(m->saving_bytes, h1),
               mt_human_bytes((uint64_t)m->memory, h2), mt_cli_cstr(in->t->steps[m->step].name),
               m->memory > 0 ? 100.0 * (double)m->saving_bytes / m->memory : 0.0);
}

static void print_text(const input *ins, size_t n, size_t top, int pandas_bytes) {
    char h1[16], h2[16], h3[16];
    for (size_t k = 0; k < n; k++) {
        const input *in = &ins[k];
        const mt_advice_list *l = in->advice;
        uint64_t total = l->total_saving_bytes, data = l->data_bytes;
        if (k) printf("\n");
        if (!in->t->n_frames && !in->t->n_steps)
            /* GPU records only: no frames for the savings to be a share of. */
            printf("%s: %zu piece%s of advice on GPU memory\n", mt_cli_cstr(in->file), l->n, l->n == 1 ? "" : "s");
        else
            printf("%s: %zu piece%s of advice; the changes save %s (%.1f%%) of the %s %s, leaving %s\n",
                   mt_cli_cstr(in->file), l->n, l->n == 1 ? "" : "s", mt_human_bytes(total, h1),
                   data ? 100.0 * (double)total / (double)data : 0.0, mt_human_bytes(data, h2),
                   pandas_bytes ? "pandas counts for the frames (memory_usage(deep=True))" : "the frames really hold",
                   mt_human_bytes(data - (total < data ? total : data), h3));
        print_effects(in);
        size_t shown = top && top < l->n ? top : l->n;
        if (!shown) continue;
        printf("\n  %10s  %-8s %-28s %s\n", "saving", "severity", "rule", "subject and change");
        for (size_t i = 0; i < shown; i++) {
            const mt_advice *a = &l->items[i];
            char subject[512];
            if (a->column) snprintf(subject, sizeof subject, "%s.%s", mt_cli_cstr(a->frame), mt_cli_cstr(a->column));
            else if (a->frame) snprintf(subject, sizeof subject, "%s", mt_cli_cstr(a->frame));
            else if (a->step) snprintf(subject, sizeof subject, "step %s", mt_cli_cstr(a->step));
            else snprintf(subject, sizeof subject, "%s", a->device ? mt_cli_cstr(a->device) : "?");
            printf("  %10s  %-8s %-28s %s", a->saving_bytes ? mt_human_bytes(a->saving_bytes, h1) : "-",
                   mt_severity_name(a->severity), a->rule, subject);
            if (a->from_dtype && a->to_dtype) printf(": %s -> %s", mt_cli_cstr(a->from_dtype), mt_cli_cstr(a->to_dtype));
            else if (a->chunks) printf(": %" PRIu64 " chunks", a->chunks);
            if (a->lossless && a->saving_bytes) printf(" (lossless)");
            printf("\n  %10s  ", "");
            mt_text_put(stdout, MT_TEXT_TERMINAL, a->message, strlen(a->message));
            putchar('\n');
        }
        if (shown < l->n) printf("  ... and %zu more (--top 0 shows all)\n", l->n - shown);
    }
}

static void json_effect(mt_jw *w, const char *key, const input *in, const struct mt_advice_effect *e, const char *basis) {
    if (!e->known) {
        mt_jw_null(w, key);
        return;
    }
    mt_jw_begin_object(w, key);
    mt_jw_cstr(w, "step", in->t->steps[e->step].name);
    mt_jw_cstr(w, "basis", basis);
    mt_jw_uint(w, "memory_bytes", (uint64_t)e->memory);
    if (strcmp(key, "peak")) mt_jw_uint(w, "frames_bytes", e->frames_bytes);
    else {
        mt_jw_cstr(w, "then_step", in->t->steps[e->then_step].name);
        mt_jw_uint(w, "then_bytes", (uint64_t)e->then_memory);
    }
    mt_jw_uint(w, "saving_bytes", e->saving_bytes);
    mt_jw_end_object(w);
}

static void print_json(const input *ins, size_t n, uint64_t available, int pandas_bytes) {
    mt_jw w;
    mt_jw_init(&w, stdout);
    mt_jw_begin_object(&w, NULL);
    uint64_t total = 0, data = 0;
    for (size_t k = 0; k < n; k++) {
        total += ins[k].advice->total_saving_bytes;
        data += ins[k].advice->data_bytes;
    }
    mt_jw_cstr(&w, "bytes", pandas_bytes ? "pandas" : "real");
    mt_jw_uint(&w, "total_saving_bytes", total);
    mt_jw_uint(&w, "data_bytes", data);
    mt_jw_uint(&w, "resulting_bytes", data - (total < data ? total : data));
    if (available > 0) mt_jw_uint(&w, "available_bytes", available);
    else mt_jw_null(&w, "available_bytes");
    mt_jw_begin_array(&w, "files");
    for (size_t k = 0; k < n; k++) {
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "file", ins[k].file);
        mt_jw_uint(&w, "total_saving_bytes", ins[k].advice->total_saving_bytes);
        mt_jw_uint(&w, "data_bytes", ins[k].advice->data_bytes);
        mt_jw_uint(&w, "columns_changed", ins[k].advice->columns_changed);
        mt_jw_uint(&w, "columns_repeated", ins[k].advice->columns_repeated);
        json_effect(&w, "resident", &ins[k], &ins[k].advice->resident, ins[k].advice->resident_basis);
        json_effect(&w, "peak", &ins[k], &ins[k].advice->peak, "traced_peak");
        json_effect(&w, "rss", &ins[k], &ins[k].advice->rss, "rss");
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
    mt_jw_begin_array(&w, "advice");
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < ins[k].advice->n; i++) {
            const mt_advice *a = &ins[k].advice->items[i];
            mt_jw_begin_object(&w, NULL);
            mt_jw_cstr(&w, "file", ins[k].file);
            mt_jw_cstr(&w, "rule", a->rule);
            mt_jw_cstr(&w, "severity", mt_severity_name(a->severity));
            mt_jw_cstr(&w, "scope", a->scope);
            mt_jw_cstr(&w, "kind", a->kind);
#define STR_OR_NULL(key, v) do { if (v) mt_jw_cstr(&w, key, v); else mt_jw_null(&w, key); } while (0)
            STR_OR_NULL("frame", a->frame);
            STR_OR_NULL("column", a->column);
            STR_OR_NULL("step", a->step);
            STR_OR_NULL("device", a->device);
            STR_OR_NULL("from_dtype", a->from_dtype);
            STR_OR_NULL("to_dtype", a->to_dtype);
#undef STR_OR_NULL
            const mt_df_table *t = ins[k].t;
            if (a->to_dtype && to_datetime(a) && t && a->column_index < t->n_columns &&
                t->columns[a->column_index].rec.datetime_format.len)
                mt_jw_cstr(&w, "datetime_format", t->columns[a->column_index].rec.datetime_format.ptr);
            mt_jw_uint(&w, "bytes", a->bytes);
            mt_jw_uint(&w, "saving_bytes", a->saving_bytes);
            mt_jw_bool(&w, "in_total", a->in_total);
            if (a->chunks) mt_jw_uint(&w, "chunks", a->chunks);
            mt_jw_bool(&w, "lossless", a->lossless);
            mt_jw_cstr(&w, "message", a->message);
            mt_jw_end_object(&w);
        }
    mt_jw_end_array(&w);
    mt_jw_end_object(&w);
}

static void list_rules(const mt_rules *r) {
    printf("%-30s %-8s %-7s %-9s %s\n", "rule", "severity", "scope", "enabled", "from");
    for (size_t i = 0; i < mt_rules_count(r); i++) {
        mt_rule_info ri;
        mt_rules_get(r, i, &ri);
        printf("%-30s %-8s %-7s %-9s %s:%u\n", ri.id, mt_severity_name(ri.severity), ri.scope, ri.enabled ? "yes" : "no",
               ri.file, ri.line);
    }
}

int main(int argc, char **argv) {
    const char **rule_files = NULL;
    size_t n_rule_files = 0;
    int fmt = FMT_TEXT, salvage = 0, no_defaults = 0, list = 0, fail_on = -1;
    int pandas_bytes = 0; /* --bytes: 0 real, 1 pandas */
    uint64_t available = 0; /* exact: 0 unknown */
    uint64_t top = 0;
    uint64_t headroom = MT_ADVISE_INT_HEADROOM_DEFAULT;
    /* A choice stores its name's index: index k is severity MT_SEV_INFO + k,
     * named as the library names it. */
    const char *const severity_names[] = { mt_severity_name(MT_SEV_INFO), mt_severity_name(MT_SEV_WARNING),
                                           mt_severity_name(MT_SEV_ERROR), NULL };
    const mt_opt opts[] = {
        MT_OPT_LIST('r', "rules", "FILE", &rule_files, &n_rule_files,
                    "apply the rules of FILE after the shipped ones (repeatable; later files override)"),
        MT_OPT_FLAG(0, "no-default-rules", &no_defaults, "do not apply the shipped rules"),
        MT_OPT_FORMAT(&fmt, MT_NAMES("text", "json", "python"),
                      "output format (default: text); python prints the pandas code of the dtype advice"),
        MT_OPT_CHOICE(0, "fail-on", &fail_on, severity_names,
                      "exit 1 when advice of this severity or higher exists"),
        MT_OPT_AVAILABLE(&available, "memory the pipeline may use"),
        MT_OPT_CHOICE(0, "bytes", &pandas_bytes, MT_NAMES("real", "pandas"),
                      "savings in the bytes frames really hold (default: real) or in pandas' deep count"),
        MT_OPT_UINT_RANGE(0, "int-headroom", "N", &headroom, 0, 56,
                          "integer dtype advice keeps N bits above the largest magnitude (default: 8)"),
        MT_OPT_TOP(&top, "show the N largest savings in text (default: 0, all)"),
        MT_OPT_FLAG(0, "list-rules", &list, "list the rules that would apply, and exit"),
        MT_OPT_SALVAGE(&salvage),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    fail_on = fail_on < 0 ? 0 : MT_SEV_INFO + fail_on; /* 0: never */
    if (!list && !c.nargs) mt_cli_usage_error(&c, "no snapshot given");

    mt_rules *rules = NULL;
    mt_diag diag = { 0 };
    int code = 0;
    if (mt_rules_new(&rules)) {
        fprintf(stderr, "%s: out of memory\n", tool.name);
        return MT_EXIT_INPUT;
    }
    if (!no_defaults && mt_rules_add(rules, "rules/default.yaml", mt_default_rules, mt_default_rules_len, &diag))
        code = mt_cli_fail(tool.name, "rules/default.yaml", &diag);
    for (size_t i = 0; !code && i < n_rule_files; i++)
        if (mt_rules_add_file(rules, rule_files[i], &diag))
            code = diag.code == MT_E_NOMEM ? mt_cli_fail(tool.name, rule_files[i], &diag)
                                           : (mt_cli_fail(tool.name, rule_files[i], &diag), MT_EXIT_USAGE);
    if (!code && list) {
        list_rules(rules);
        code = mt_cli_finish(tool.name);
        mt_rules_free(rules);
        free(rule_files);
        free(c.args);
        return code;
    }
    if (!code && !mt_rules_count(rules)) {
        fprintf(stderr, "%s: no rules to apply: --no-default-rules needs --rules FILE\n", tool.name);
        code = MT_EXIT_USAGE;
    }
    if (!available) available = (uint64_t)mt_cli_mem_available();

    input *ins = calloc((size_t)c.nargs + 1, sizeof *ins);
    if (!ins && !code) {
        fprintf(stderr, "%s: out of memory\n", tool.name);
        code = MT_EXIT_INPUT;
    }
    for (int k = 0; !code && k < c.nargs; k++) {
        input *in = &ins[k];
        in->file = c.args[k];
        code = mt_cli_load(tool.name, in->file, 0, salvage, &in->s);
        int rc = code ? 0 : mt_advise_load(in->s, &in->t, &in->gpus, &in->n_gpus, &in->gr, &diag);
        if (rc) {
            code = mt_cli_fail(tool.name, in->file, &diag);
            if (rc == MT_E_NOTFOUND) code = MT_EXIT_INPUT; /* the file holds nothing to advise on */
        }
        mt_advise_input ai = { in->t, in->gpus, in->n_gpus, (double)available, pandas_bytes, (int)headroom, in->gr };
        if (!code && mt_advise(rules, &ai, &in->advice, &diag)) code = mt_cli_fail(tool.name, in->file, &diag);
    }
    if (!code) {
        if (fmt == FMT_JSON) print_json(ins, (size_t)c.nargs, available, pandas_bytes);
        else if (fmt == FMT_PYTHON) print_python(ins, (size_t)c.nargs);
        else print_text(ins, (size_t)c.nargs, (size_t)top, pandas_bytes);
        code = mt_cli_finish(tool.name);
        for (int k = 0; !code && fail_on && k < c.nargs; k++)
            for (size_t i = 0; i < ins[k].advice->n; i++)
                if ((int)ins[k].advice->items[i].severity >= fail_on) code = MT_EXIT_FINDING;
    }
    for (int k = 0; ins && k < c.nargs; k++) {
        mt_advice_list_free(ins[k].advice);
        mt_gpu_devices_free(ins[k].gpus, ins[k].n_gpus);
        mt_gpu_report_free(ins[k].gr);
        mt_df_table_free(ins[k].t);
        mt_snapshot_free(ins[k].s);
    }
    free(ins);
    mt_rules_free(rules);
    free(rule_files);
    free(c.args);
    return code;
}
