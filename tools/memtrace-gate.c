/* memtrace-gate: fail a build on a memory regression. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"
#include "memtrace/text.h"

static const mt_tool tool = {
    "memtrace-gate", "--baseline A.snap --current B.snap",
    "Check a run's snapshots against memory budgets: growth over a baseline in total and by group, the peak,\n"
    "new leak suspects and advice. Exits 0 within budget, 1 when a budget is exceeded.",
    0, 0, NULL,
};

static const char default_policy[] = "budgets:\n  total_growth_percent: 10\n";

/* ---- the sentences: each check's one-line summary, and a line an
 * offender for the details ---- */

/* A check in words. details is NULL when the check has none. */
typedef struct check_text {
    char *summary, *details;
} check_text;

static const char *hb(double bytes, char *buf) {
    /* 2^64 and above do not convert: shown as saturated. */
    return mt_human_bytes(bytes >= 18446744073709551616.0 ? UINT64_MAX : bytes > 0 ? (uint64_t)bytes : 0, buf);
}

/* A name from a snapshot or a policy as terminal-safe text
 * (MT_TEXT_TERMINAL): details are lines joined by '\n', so a name's own
 * newline would split one, and its ESC or BEL would reach a terminal or a
 * CI log raw. */
static void put_name(FILE *f, const char *s) { mt_text_put(f, MT_TEXT_TERMINAL, s, strlen(s)); }

/* "dict: +1.5 MiB (1.0 MiB -> 2.5 MiB, +150.0%)" */
static void growth_line(FILE *f, const char *name, uint64_t a, uint64_t b, double percent) {
    char h1[16], h2[16], h3[24];
    put_name(f, name);
    fprintf(f, ": %s (%s -> %s", mt_change_bytes(a, b, h3), hb((double)a, h1), hb((double)b, h2));
    if (isinf(percent)) fprintf(f, ", new)");
    else if (isnan(percent)) fprintf(f, ", change unknown)");
    else fprintf(f, ", %+.1f%%)", percent);
}

static void total_text(const mt_gate_check *c, FILE *sum) {
    char h1[16], h2[16], h3[24], hl[16];
    fprintf(sum, "total %s", mt_change_bytes(c->bytes_a, c->bytes_b, h3));
    if (c->bytes_a == UINT64_MAX || c->bytes_b == UINT64_MAX) fprintf(sum, " (a total is more than 16 EiB)");
    else if (isinf(c->percent)) fprintf(sum, " (from nothing)");
    else fprintf(sum, " (%+.1f%%)", c->percent);
    fprintf(sum, ": %s -> %s, ", hb((double)c->bytes_a, h1), hb((double)c->bytes_b, h2));
    const char *verdict = c->passed ? "within" : "over";
    if (c->kind == MT_GATE_TOTAL_GROWTH_PERCENT) fprintf(sum, "%s %g%%", verdict, c->limit);
    else fprintf(sum, "%s %s", verdict, hb(c->limit, hl));
}

static void group_text(const mt_gate_check *c, FILE *sum, FILE *det) {
    int percent = c->kind == MT_GATE_GROUP_GROWTH_PERCENT;
    size_t n = c->n_offenders;
    char h[16];
    const char *lim = percent ? NULL : hb(c->limit, h);
    if (n) {
        if (percent) fprintf(sum, "%zu group%s grew by more than %g%%: ", n, n == 1 ? "" : "s", c->limit);
        else fprintf(sum, "%zu group%s grew by more than %s: ", n, n == 1 ? "" : "s", lim);
        for (size_t k = 0; k < n && k < 3; k++) {
            const mt_gate_offender *o = &c->offenders[k];
            char h3[24];
            fprintf(sum, "%s", k ? ", " : "");
            put_name(sum, o->name);
            if (!percent) fprintf(sum, " %s", mt_change_bytes(o->bytes_a, o->bytes_b, h3));
            else if (isnan(o->percent)) fprintf(sum, " unknown");
            else if (isinf(o->percent)) fprintf(sum, " new");
            else fprintf(sum, " %+.1f%%", o->percent);
        }
        if (n > 3) fprintf(sum, ", and %zu more", n - 3);
        for (size_t k = 0; k < n; k++) {
            const mt_gate_offender *o = &c->offenders[k];
            char hl[16];
            growth_line(det, o->name, o->bytes_a, o->bytes_b, o->percent);
            if (percent) fprintf(det, ", limit %g%%", o->limit);
            else fprintf(det, ", limit %s", hb(o->limit, hl));
            if (o->allowance) {
                fprintf(det, " (allowance ");
                put_name(det, o->allowance);
                fprintf(det, ")");
            }
            fprintf(det, "\n");
        }
    } else if (!c->group) {
        fprintf(sum, "no group to check");
    } else {
        fprintf(sum, "largest: ");
        growth_line(sum, c->group, c->bytes_a, c->bytes_b, c->percent);
        if (percent) fprintf(sum, ", within %g%%", c->limit);
        else fprintf(sum, ", within %s", lim);
    }
}

static void peak_text(const mt_gate_check *c, FILE *sum) {
    char h1[16], h2[16];
    fprintf(sum, "peak ");
    put_name(sum, c->series);
    fprintf(sum, " %s in %s, %s %s", hb(c->actual, h1), c->where, c->passed ? "within" : "over", hb(c->limit, h2));
}

static void gpu_peak_text(const mt_gate_check *c, FILE *sum, FILE *det) {
    char h1[16], h2[16];
    for (size_t k = 0; k < c->n_offenders; k++) {
        const mt_gate_offender *o = &c->offenders[k];
        put_name(det, o->name);
        fprintf(det, ": GPU peak %s, over %s\n", hb((double)o->bytes, h1), hb(o->limit, h2));
    }
    fprintf(sum, "GPU peak %s in %s, %s %s", hb(c->actual, h1), c->where, c->passed ? "within" : "over",
            hb(c->limit, h2));
    if (c->n_offenders) fprintf(sum, " (%zu device%s over)", c->n_offenders, c->n_offenders == 1 ? "" : "s");
}

static void leak_text(const mt_gate_check *c, FILE *sum, FILE *det) {
    size_t n = c->n_offenders;
    for (size_t k = 0; k < n; k++) {
        const mt_gate_offender *o = &c->offenders[k];
        char h[16];
        put_name(det, o->name);
        fprintf(det, ": +%llu ", (unsigned long long)o->objects);
        put_name(det, o->name);
        fprintf(det, " objects a snapshot (%s with what they hold), confidence %.2f", hb((double)o->bytes, h),
                o->confidence);
        if (o->path) {
            fprintf(det, ", accumulates in ");
            put_name(det, o->path);
        }
        fputc('\n', det);
        if (k < 3) {
            if (k) fprintf(sum, ", ");
            else fprintf(sum, "new leak suspects at or above %g: ", c->limit);
            put_name(sum, o->name);
            fprintf(sum, " (%.2f)", o->confidence);
        }
    }
    if (n > 3) fprintf(sum, ", and %zu more", n - 3);
    if (!n) fprintf(sum, "no new leak suspect at or above %g", c->limit);
    if (c->n_known) fprintf(sum, " (%zu suspect%s also in the baseline)", c->n_known, c->n_known == 1 ? "" : "s");
}

static void advice_text(const mt_gate_check *c, FILE *sum, FILE *det) {
    size_t n = c->n_offenders;
    for (size_t k = 0; k < n; k++) {
        const mt_gate_offender *o = &c->offenders[k];
        char h[16];
        fprintf(det, "%s [", mt_severity_name(o->severity));
        put_name(det, o->name);
        fprintf(det, "] ");
        put_name(det, o->message);
        fprintf(det, " (saves %s)\n", hb((double)o->bytes, h));
        if (k < 3) {
            fprintf(sum, "%s", k ? ", " : "advice at or above the severity: ");
            put_name(sum, o->name);
        }
    }
    if (n > 3) fprintf(sum, ", and %zu more", n - 3);
    if (!n) fprintf(sum, "no advice at %s or above (%zu below)", mt_severity_name((mt_severity)c->limit), c->n_advice);
}

/* The words of every check of r, or NULL when memory ran out; free with
 * free_texts. */
static check_text *texts_of(const mt_gate_result *r) {
    check_text *t = calloc(r->n_checks + 1, sizeof *t);
    int ok = t != NULL;
    for (size_t i = 0; ok && i < r->n_checks; i++) {
        const mt_gate_check *c = &r->checks[i];
        size_t ns, nd;
        FILE *sum = open_memstream(&t[i].summary, &ns), *det = open_memstream(&t[i].details, &nd);
        if (!sum || !det) {
            if (sum) fclose(sum);
            if (det) fclose(det);
            ok = 0;
            break;
        }
        switch (c->kind) {
        case MT_GATE_TOTAL_GROWTH_BYTES:
        case MT_GATE_TOTAL_GROWTH_PERCENT: total_text(c, sum); break;
        case MT_GATE_GROUP_GROWTH_BYTES:
        case MT_GATE_GROUP_GROWTH_PERCENT: group_text(c, sum, det); break;
        case MT_GATE_PEAK_BYTES: peak_text(c, sum); break;
        case MT_GATE_LEAK_CONFIDENCE: leak_text(c, sum, det); break;
        case MT_GATE_ADVICE_SEVERITY: advice_text(c, sum, det); break;
        case MT_GATE_GPU_PEAK_BYTES: gpu_peak_text(c, sum, det); break;
        }
        ok = !ferror(sum) && !ferror(det);
        ok &= fclose(sum) == 0;
        ok &= fclose(det) == 0;
        if (ok && !nd) {
            free(t[i].details);
            t[i].details = NULL;
        }
    }
    if (!ok && t) {
        for (size_t i = 0; i < r->n_checks; i++) {
            free(t[i].summary);
            free(t[i].details);
        }
        free(t);
        t = NULL;
    }
    return t;
}

static void free_texts(check_text *t, size_t n) {
    for (size_t i = 0; t && i < n; i++) {
        free(t[i].summary);
        free(t[i].details);
    }
    free(t);
}

/* ---- the outputs ---- */

static void print_report(const mt_gate_result *r, const check_text *t, const mt_gate_input *in, int quiet) {
    char h1[16], h2[16];
    if (!quiet)
        printf("baseline %s, current %s; %s by %s: %s -> %s\n", mt_cli_cstr(in->baseline[in->n_baseline - 1]),
               mt_cli_cstr(in->current[in->n_current - 1]),
               r->traces ? r->trace_at_peak ? "bytes live at the peak" : "bytes live at the end"
               : r->by == MT_BY_COLUMN || r->by == MT_BY_DEVICE ? "grouped"
                                                                  : "objects",
               mt_group_by_name(r->by), mt_human_bytes(r->baseline_bytes, h1), mt_human_bytes(r->current_bytes, h2));
    for (size_t i = 0; i < r->n_checks; i++) {
        const mt_gate_check *c = &r->checks[i];
        if (quiet && c->passed) continue;
        printf("%s  %-21s %s\n", c->passed ? "PASS" : "FAIL", mt_cli_cstr(c->budget), mt_cli_cstr(t[i].summary));
        if (!c->passed && t[i].details) {
            const char *p = t[i].details;
            while (*p) {
                size_t n = strcspn(p, "\n");
                printf("        %s\n", mt_cli_text(p, n));
                p += n + (p[n] == '\n');
            }
        }
    }
    if (r->failed) printf("%zu of %zu budgets exceeded\n", r->failed, r->n_checks);
    else if (!quiet) printf("all %zu budgets kept\n", r->n_checks);
}

/* --format json: every check's values, as memtrace.analyze.gate() returns
 * them (a percent or value that is not finite, from nothing or
 * saturated, is null). */
static void print_json(const mt_gate_result *r, const mt_gate_input *in) {
    mt_jw w;
    mt_jw_init(&w, stdout);
    mt_jw_begin_object(&w, NULL);
    mt_jw_bool(&w, "passed", r->failed == 0);
    mt_jw_uint(&w, "failed", r->failed);
    mt_jw_uint(&w, "budgets", r->n_checks);
    mt_jw_cstr(&w, "by", mt_group_by_name(r->by));
    mt_jw_uint(&w, "baseline_bytes", r->baseline_bytes);
    mt_jw_uint(&w, "current_bytes", r->current_bytes);
    mt_jw_bool(&w, "traces", r->traces);
    mt_jw_bool(&w, "trace_at_peak", r->trace_at_peak);
    mt_jw_begin_array(&w, "baseline");
    for (size_t i = 0; i < in->n_baseline; i++) mt_jw_cstr(&w, NULL, in->baseline[i]);
    mt_jw_end_array(&w);
    mt_jw_begin_array(&w, "current");
    for (size_t i = 0; i < in->n_current; i++) mt_jw_cstr(&w, NULL, in->current[i]);
    mt_jw_end_array(&w);
#define STR_OR_NULL(key, v) do { if (v) mt_jw_cstr(&w, key, v); else mt_jw_null(&w, key); } while (0)
    mt_jw_begin_array(&w, "checks");
    for (size_t i = 0; i < r->n_checks; i++) {
        const mt_gate_check *c = &r->checks[i];
        mt_jw_begin_object(&w, NULL);
        mt_jw_cstr(&w, "budget", c->budget);
        mt_jw_bool(&w, "passed", c->passed);
        mt_jw_double(&w, "limit", c->limit);
        mt_jw_double(&w, "actual", c->actual);
        mt_jw_uint(&w, "bytes_a", c->bytes_a);
        mt_jw_uint(&w, "bytes_b", c->bytes_b);
        mt_jw_double(&w, "percent", c->percent);
        STR_OR_NULL("group", c->group);
        STR_OR_NULL("series", c->series);
        STR_OR_NULL("where", c->where);
        mt_jw_uint(&w, "known_suspects", c->n_known);
        mt_jw_uint(&w, "advice", c->n_advice);
        mt_jw_begin_array(&w, "offenders");
        for (size_t k = 0; k < c->n_offenders; k++) {
            const mt_gate_offender *o = &c->offenders[k];
            mt_jw_begin_object(&w, NULL);
            STR_OR_NULL("name", o->name);
            mt_jw_uint(&w, "bytes_a", o->bytes_a);
            mt_jw_uint(&w, "bytes_b", o->bytes_b);
            mt_jw_double(&w, "percent", o->percent);
            mt_jw_double(&w, "limit", o->limit);
            STR_OR_NULL("allowance", o->allowance);
            mt_jw_uint(&w, "objects", o->objects);
            mt_jw_uint(&w, "bytes", o->bytes);
            mt_jw_double(&w, "confidence", o->confidence);
            STR_OR_NULL("path", o->path);
            STR_OR_NULL("severity", c->kind == MT_GATE_ADVICE_SEVERITY ? mt_severity_name(o->severity) : NULL);
            STR_OR_NULL("message", o->message);
            mt_jw_end_object(&w);
        }
        mt_jw_end_array(&w);
        mt_jw_end_object(&w);
    }
    mt_jw_end_array(&w);
#undef STR_OR_NULL
    mt_jw_end_object(&w);
}

static void print_github(const mt_gate_result *r, const check_text *t) {
    for (size_t i = 0; i < r->n_checks; i++) {
        const mt_gate_check *c = &r->checks[i];
        if (c->passed) continue;
        /* Each part escaped on its own (text.h): the details' line feeds
         * join lines as %0A, and the names in them were made terminal-safe
         * by the gate, so that none holds a line feed of its own. */
        fputs("::error title=", stdout);
        mt_text_put(stdout, MT_TEXT_GITHUB_PROPERTY, "memtrace-gate ", 14);
        mt_text_put(stdout, MT_TEXT_GITHUB_PROPERTY, c->budget, strlen(c->budget));
        fputs("::", stdout);
        mt_text_put(stdout, MT_TEXT_GITHUB, t[i].summary, strlen(t[i].summary));
        if (t[i].details) {
            mt_text_put(stdout, MT_TEXT_GITHUB, "\n", 1);
            mt_text_put(stdout, MT_TEXT_GITHUB, t[i].details, strlen(t[i].details));
        }
        putchar('\n');
    }
}

static void xml_escaped(FILE *f, const char *s) { mt_text_put(f, MT_TEXT_XML, s, strlen(s)); }

static int write_junit(const char *path, const mt_gate_result *r, const check_text *t, const mt_gate_input *in) {
    mt_output o;
    FILE *f = mt_cli_out_open(tool.name, path, &o);
    if (!f) return MT_EXIT_INPUT;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"memtrace-gate\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"0\">\n",
            r->n_checks, r->failed);
    fprintf(f,
            "  <testsuite name=\"memtrace-gate\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\" "
            "time=\"0\">\n",
            r->n_checks, r->failed);
    fputs("    <properties>\n", f);
    for (size_t i = 0; i < in->n_baseline; i++) {
        fputs("      <property name=\"baseline\" value=\"", f);
        xml_escaped(f, in->baseline[i]);
        fputs("\"/>\n", f);
    }
    for (size_t i = 0; i < in->n_current; i++) {
        fputs("      <property name=\"current\" value=\"", f);
        xml_escaped(f, in->current[i]);
        fputs("\"/>\n", f);
    }
    fputs("    </properties>\n", f);
    for (size_t i = 0; i < r->n_checks; i++) {
        const mt_gate_check *c = &r->checks[i];
        fputs("    <testcase name=\"", f);
        xml_escaped(f, c->budget);
        fputs("\" classname=\"memtrace-gate\" time=\"0\"", f);
        if (c->passed) {
            fputs(">\n      <system-out>", f);
            xml_escaped(f, t[i].summary);
            fputs("</system-out>\n    </testcase>\n", f);
            continue;
        }
        fputs(">\n      <failure type=\"budget exceeded\" message=\"", f);
        xml_escaped(f, t[i].summary);
        fputs("\">", f);
        xml_escaped(f, t[i].details ? t[i].details : t[i].summary);
        fputs("</failure>\n    </testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    return mt_cli_out_close(tool.name, path, &o, f, 1);
}

int main(int argc, char **argv) {
    const char *policy_path = NULL, *junit = NULL, **base = NULL, **cur = NULL, **rule_files = NULL;
    size_t n_base = 0, n_cur = 0, n_rules = 0;
    int github = 0, quiet = 0, json = 0;
    const mt_opt opts[] = {
        MT_OPT_FORMAT(&json, MT_NAMES("text", "json"), "output format of the report (default: text)"),
        MT_OPT_LIST('b', "baseline", "FILE", &base, &n_base,
                    "snapshot of the reference run (repeat for a series, in time order)"),
        MT_OPT_LIST('c', "current", "FILE", &cur, &n_cur,
                    "snapshot of the run under test (repeat for a series, in time order)"),
        MT_OPT_STRING('p', "policy", "FILE", &policy_path, "the budgets, in YAML (default: total_growth_percent: 10)"),
        MT_OPT_STRING(0, "junit", "FILE", &junit, "also write a JUnit XML report, one test case per budget"),
        MT_OPT_FLAG(0, "github", &github, "also print GitHub Actions annotations for the budgets exceeded"),
        MT_OPT_LIST('r', "rules", "FILE", &rule_files, &n_rules,
                    "rule file for advice_severity, added to the shipped rules (repeatable)"),
        MT_OPT_FLAG('q', "quiet", &quiet, "print only the budgets exceeded"),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    if (!n_base) mt_cli_usage_error(&c, "--baseline is required: the snapshot to compare with");
    if (!n_cur) mt_cli_usage_error(&c, "--current is required: the snapshot of the run under test");
    free(c.args);

    mt_diag d = { 0 };
    mt_diag_clear(&d);
    mt_gate_policy *policy = NULL;
    mt_rules *rules = NULL;
    int code = MT_EXIT_OK;
    int rc = policy_path ? mt_gate_policy_load(policy_path, &policy, &d)
                         : mt_gate_policy_parse("(default policy)", default_policy, sizeof default_policy - 1, &policy,
                                                &d);
    /* The policy is the caller's configuration: any fault in it, syntax
     * included, is bad usage (2), like a bad option. */
    if (rc) code = mt_cli_fail(tool.name, policy_path ? policy_path : "(default policy)", &d) ? MT_EXIT_USAGE : 0;
    if (!code && rc == 0) {
        if (mt_rules_new(&rules) ||
            mt_rules_add(rules, "rules/default.yaml", mt_default_rules, mt_default_rules_len, &d)) {
            code = mt_cli_fail(tool.name, "rules/default.yaml", &d);
        }
        for (size_t i = 0; !code && i < n_rules; i++)
            if (mt_rules_add_file(rules, rule_files[i], &d)) code = mt_cli_fail(tool.name, rule_files[i], &d);
    }
    mt_gate_result r;
    memset(&r, 0, sizeof r);
    check_text *texts = NULL;
    if (!code) {
        mt_gate_input in = { base, n_base, cur, n_cur, rules, mt_cli_mem_available() };
        if ((rc = mt_gate_run(policy, &in, &r, &d))) {
            /* A budget the inputs cannot serve is a usage matter of the
             * policy; a snapshot that cannot be read is bad input. */
            code = mt_cli_fail(tool.name, d.file ? d.file : policy_path ? policy_path : "(default policy)", &d);
        } else if (!(texts = texts_of(&r))) {
            fprintf(stderr, "%s: out of memory\n", tool.name);
            code = MT_EXIT_INPUT;
        } else {
            if (json) print_json(&r, &in);
            else print_report(&r, texts, &in, quiet);
            if (github) print_github(&r, texts);
            code = mt_cli_finish(tool.name);
            if (!code && junit) code = write_junit(junit, &r, texts, &in);
            if (!code && r.failed) code = MT_EXIT_FINDING;
        }
    }
    free_texts(texts, r.n_checks);
    mt_gate_result_free(&r);
    mt_rules_free(rules);
    mt_gate_policy_free(policy);
    free(base);
    free(cur);
    free(rule_files);
    return code;
}
