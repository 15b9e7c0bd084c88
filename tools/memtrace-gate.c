/* memtrace-gate: fail a build on a memory regression. */
#include <errno.h>
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

static void print_report(const mt_gate_result *r, const mt_gate_input *in, int quiet) {
    char h1[16], h2[16];
    if (!quiet)
        printf("baseline %s, current %s; %s by %s: %s -> %s\n", mt_cli_cstr(in->baseline[in->n_baseline - 1]),
               mt_cli_cstr(in->current[in->n_current - 1]), r->by == MT_BY_COLUMN || r->by == MT_BY_DEVICE ? "grouped" : "objects",
               mt_group_by_name(r->by), mt_human_bytes(r->baseline_bytes, h1), mt_human_bytes(r->current_bytes, h2));
    for (size_t i = 0; i < r->n_checks; i++) {
        const mt_gate_check *c = &r->checks[i];
        if (quiet && c->passed) continue;
        printf("%s  %-21s %s\n", c->passed ? "PASS" : "FAIL", mt_cli_cstr(c->budget), mt_cli_cstr(c->summary));
        if (!c->passed && c->details) {
            const char *p = c->details;
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

static void print_github(const mt_gate_result *r) {
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
        mt_text_put(stdout, MT_TEXT_GITHUB, c->summary, strlen(c->summary));
        if (c->details) {
            mt_text_put(stdout, MT_TEXT_GITHUB, "\n", 1);
            mt_text_put(stdout, MT_TEXT_GITHUB, c->details, strlen(c->details));
        }
        putchar('\n');
    }
}

/* XML text: the five entities escaped, and characters XML 1.0 forbids
 * (controls other than tab and line breaks) replaced. */
static void xml_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '&') fputs("&amp;", f);
        else if (ch == '<') fputs("&lt;", f);
        else if (ch == '>') fputs("&gt;", f);
        else if (ch == '"') fputs("&quot;", f);
        else if (ch == '\'') fputs("&apos;", f);
        else if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') fputc('?', f);
        else fputc(ch, f);
    }
}

static int write_junit(const char *path, const mt_gate_result *r, const mt_gate_input *in) {
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
            xml_escaped(f, c->summary);
            fputs("</system-out>\n    </testcase>\n", f);
            continue;
        }
        fputs(">\n      <failure type=\"budget exceeded\" message=\"", f);
        xml_escaped(f, c->summary);
        fputs("\">", f);
        xml_escaped(f, c->details ? c->details : c->summary);
        fputs("</failure>\n    </testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    return mt_cli_out_close(tool.name, path, &o, f, 1);
}

int main(int argc, char **argv) {
    const char *policy_path = NULL, *junit = NULL, **base = NULL, **cur = NULL, **rule_files = NULL;
    size_t n_base = 0, n_cur = 0, n_rules = 0;
    int github = 0, quiet = 0;
    const mt_opt opts[] = {
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

    mt_diag d;
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
    if (!code) {
        mt_gate_input in = { base, n_base, cur, n_cur, rules, mt_cli_mem_available() };
        if ((rc = mt_gate_run(policy, &in, &r, &d))) {
            /* A budget the inputs cannot serve is a usage matter of the
             * policy; a snapshot that cannot be read is bad input. */
            code = mt_cli_fail(tool.name, d.file ? d.file : policy_path ? policy_path : "(default policy)", &d);
        } else {
            print_report(&r, &in, quiet);
            if (github) print_github(&r);
            code = mt_cli_finish(tool.name);
            if (!code && junit) code = write_junit(junit, &r, &in);
            if (!code && r.failed) code = MT_EXIT_FINDING;
        }
    }
    mt_gate_result_free(&r);
    mt_rules_free(rules);
    mt_gate_policy_free(policy);
    free(base);
    free(cur);
    free(rule_files);
    return code;
}
