/* memtrace-gate's policy file: each mistake a user can make in it is
 * refused with the line, the column and the message memtrace-gate(1)
 * documents, and a policy that parses keeps what it says. Through the
 * public API only (memtrace/gate.h). */
#include "memtrace/analyze.h"
#include "../helpers.h"

typedef struct {
    const char *yaml;
    int rc;
    unsigned line, col;
    const char *msg;             /* the whole message */
} bad_case;

static const bad_case bad[] = {
    /* The document as a whole. */
    { "", MT_E_INVAL, 0, 0, "the file is empty: expected a mapping with 'budgets'" },
    { "- 1\n", MT_E_INVAL, 1, 1, "a policy must be a mapping, not a list" },
    { "version: 1\n", MT_E_INVAL, 1, 1, "the policy sets no budgets: add 'budgets:' with at least one" },
    { "version: 2\nbudgets: {peak_bytes: 1}\n", MT_E_INVAL, 1, 10, "version 2 is not one this reader knows (1)" },
    { "version: [1]\nbudgets: {peak_bytes: 1}\n", MT_E_INVAL, 1, 10, "version a list is not one this reader knows (1)" },
    { "colour: red\nbudgets: {peak_bytes: 1}\n", MT_E_INVAL, 1, 1,
      "unknown key 'colour' (expected budgets, allow, group_by, group_min_bytes, peak_series, trace_at, available or version)" },
    { "budgets: {peak_bytes: 1}\nbudgets: {peak_bytes: 2}\n", MT_E_INVAL, 2, 1, "key 'budgets' repeats (first at line 1)" },
    /* budgets */
    { "budgets: [peak_bytes]\n", MT_E_INVAL, 1, 10, "budgets must be a mapping, not a list" },
    { "budgets: {}\n", MT_E_INVAL, 1, 10,
      "budgets is empty: a policy must set at least one budget, such as total_growth_percent: 10" },
    { "budgets: {peak: 1}\n", MT_E_INVAL, 1, 11,
      "unknown budget 'peak' (expected total_growth_bytes, total_growth_percent, group_growth_bytes, "
      "group_growth_percent, peak_bytes, leak_confidence, advice_severity or gpu_peak_bytes)" },
    { "budgets: {peak_bytes: lots}\n", MT_E_INVAL, 1, 23,
      "peak_bytes must be a size from 0 to 18446744073709551615 bytes such as 64 MiB, 2GB or 1000000, not 'lots'" },
    { "budgets: {peak_bytes: [1]}\n", MT_E_INVAL, 1, 23,
      "peak_bytes must be a size from 0 to 18446744073709551615 bytes such as 64 MiB, 2GB or 1000000, not a list" },
    { "budgets: {total_growth_percent: ten}\n", MT_E_INVAL, 1, 33,
      "total_growth_percent must be a percentage such as 10 or 12.5%, not 'ten'" },
    { "budgets: {total_growth_percent: -5}\n", MT_E_INVAL, 1, 33,
      "total_growth_percent must be a percentage such as 10 or 12.5%, not '-5'" },
    { "budgets: {group_growth_percent: 10 MiB}\n", MT_E_INVAL, 1, 33,
      "group_growth_percent must be a percentage such as 10 or 12.5%, not '10 MiB'" },
    { "budgets: {group_growth_percent: {a: 1}}\n", MT_E_INVAL, 1, 33,
      "group_growth_percent must be a percentage such as 10 or 12.5%, not a mapping" },
    { "budgets: {leak_confidence: 1.5}\n", MT_E_INVAL, 1, 28,
      "leak_confidence must be a confidence from 0 to 1 such as 0.9, not '1.5'" },
    { "budgets: {leak_confidence: 90%}\n", MT_E_INVAL, 1, 28,
      "leak_confidence must be a confidence from 0 to 1 such as 0.9, not '90%'" },
    { "budgets: {leak_confidence: -0.1}\n", MT_E_INVAL, 1, 28,
      "leak_confidence must be a confidence from 0 to 1 such as 0.9, not '-0.1'" },
    { "budgets: {leak_confidence: [0.9]}\n", MT_E_INVAL, 1, 28,
      "leak_confidence must be a confidence from 0 to 1 such as 0.9, not a list" },
    { "budgets: {advice_severity: fatal}\n", MT_E_INVAL, 1, 28,
      "advice_severity must be info, warning or error, not 'fatal'" },
    { "budgets: {advice_severity: [error]}\n", MT_E_INVAL, 1, 28,
      "advice_severity must be info, warning or error, not a list" },
    /* The other top-level keys. */
    { "budgets: {peak_bytes: 1}\ntrace_at: start\n", MT_E_INVAL, 2, 11, "trace_at must be end or peak, not 'start'" },
    { "budgets: {peak_bytes: 1}\ngroup_by: colour\n", MT_E_INVAL, 2, 11,
      "group_by must be type, module, site, traceback, column or device, not 'colour'" },
    { "budgets: {peak_bytes: 1}\ngroup_by: [type]\n", MT_E_INVAL, 2, 11,
      "group_by must be type, module, site, traceback, column or device, not a list" },
    { "budgets: {peak_bytes: 1}\ngroup_min_bytes: few\n", MT_E_INVAL, 2, 18,
      "group_min_bytes must be a size from 0 to 18446744073709551615 bytes such as 64 MiB, 2GB or 1000000, not 'few'" },
    { "budgets: {peak_bytes: 1}\navailable: 1 parsec\n", MT_E_INVAL, 2, 12,
      "available must be a size from 0 to 18446744073709551615 bytes such as 64 MiB, 2GB or 1000000, not '1 parsec'" },
    { "budgets: {peak_bytes: 1}\npeak_series: [rss]\n", MT_E_INVAL, 2, 14, "peak_series must be a scalar, not a list" },
    /* allow */
    { "budgets: {peak_bytes: 1}\nallow: {group: a}\n", MT_E_INVAL, 2, 8, "allow must be a list, not a mapping" },
    { "budgets: {peak_bytes: 1}\nallow: [a]\n", MT_E_INVAL, 2, 9, "an allowance must be a mapping, not a scalar" },
    { "budgets: {peak_bytes: 1}\nallow: [{group: [a]}]\n", MT_E_INVAL, 2, 17, "group must be a scalar, not a list" },
    { "budgets: {peak_bytes: 1}\nallow: [{group: a, colour: red}]\n", MT_E_INVAL, 2, 20,
      "unknown key 'colour' in an allowance (expected group, growth_bytes, growth_percent or ignore)" },
    { "budgets: {peak_bytes: 1}\nallow: [{growth_bytes: 1}]\n", MT_E_INVAL, 2, 9,
      "an allowance needs 'group', the group name or a pattern such as 'app.*'" },
    { "budgets: {peak_bytes: 1}\nallow: [{group: 'app.*'}]\n", MT_E_INVAL, 2, 9,
      "the allowance for 'app.*' sets nothing: give growth_bytes, growth_percent or ignore: true" },
    { "budgets: {peak_bytes: 1}\nallow: [{group: a, ignore: false}]\n", MT_E_INVAL, 2, 9,
      "the allowance for 'a' sets nothing: give growth_bytes, growth_percent or ignore: true" },
    { "budgets: {peak_bytes: 1}\nallow: [{group: a, growth_percent: lots}]\n", MT_E_INVAL, 2, 36,
      "growth_percent must be a percentage such as 10 or 12.5%, not 'lots'" },
    { "budgets: {peak_bytes: 1}\nallow: [{group: a, growth_bytes: lots}]\n", MT_E_INVAL, 2, 34,
      "growth_bytes must be a size from 0 to 18446744073709551615 bytes such as 64 MiB, 2GB or 1000000, not 'lots'" },
};

START_TEST(each_bad_policy_is_refused_where_and_how_the_manual_says) {
    /* Every wrong case is reported, not just the first. */
    char wrong[8192] = "";
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        mt_gate_policy *p = (mt_gate_policy *)1;
        mt_diag d;
        int rc = mt_gate_policy_parse("policy.yaml", bad[k].yaml, strlen(bad[k].yaml), &p, &d);
        if (rc != bad[k].rc || d.code != rc || !d.file || strcmp(d.file, "policy.yaml") || d.line != bad[k].line ||
            d.column != bad[k].col || strcmp(d.msg, bad[k].msg) || p)
            snprintf(wrong + strlen(wrong), sizeof wrong - strlen(wrong), "\ncase %zu: rc %d at %u:%u: %s", k, rc,
                     d.line, d.column, d.msg);
        mt_gate_policy_free(p);
    }
    ck_assert_msg(!wrong[0], "%s", wrong);
}
END_TEST

START_TEST(a_missing_policy_file_is_named) {
    mt_gate_policy *p = (mt_gate_policy *)1;
    mt_diag d;
    int rc = mt_gate_policy_load("/nonexistent/policy.yaml", &p, &d);
    ck_assert_int_eq(rc, MT_E_IO);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(d.file, "/nonexistent/policy.yaml");
    ck_assert_ptr_nonnull(strstr(d.msg, "No such file or directory"));
    mt_gate_policy_free(NULL); /* a no-op */
}
END_TEST

/* Each value's name reads back to the value; a name not in the table
 * (another spelling, another case, empty) is refused and leaves *out
 * alone; one past the last value has no name. */
START_TEST(budgets_are_named_both_ways) {
    static const struct {
        mt_gate_budget v;
        const char *name;
    } t[] = {
        { MT_GATE_TOTAL_GROWTH_BYTES, "total_growth_bytes" },
        { MT_GATE_TOTAL_GROWTH_PERCENT, "total_growth_percent" },
        { MT_GATE_GROUP_GROWTH_BYTES, "group_growth_bytes" },
        { MT_GATE_GROUP_GROWTH_PERCENT, "group_growth_percent" },
        { MT_GATE_PEAK_BYTES, "peak_bytes" },
        { MT_GATE_LEAK_CONFIDENCE, "leak_confidence" },
        { MT_GATE_ADVICE_SEVERITY, "advice_severity" },
        { MT_GATE_GPU_PEAK_BYTES, "gpu_peak_bytes" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        ck_assert_str_eq(mt_gate_budget_name(t[i].v), t[i].name);
        mt_gate_budget v = (mt_gate_budget)99;
        ck_assert_int_eq(mt_gate_budget_from_name(t[i].name, &v), 0);
        ck_assert_int_eq(v, t[i].v);
    }
    ck_assert_str_eq(mt_gate_budget_name((mt_gate_budget)(MT_GATE_GPU_PEAK_BYTES + 1)), "?");
    const char *misses[] = { "total-growth-bytes", "Peak_bytes", "" };
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        mt_gate_budget v = MT_GATE_ADVICE_SEVERITY;
        ck_assert_int_eq(mt_gate_budget_from_name(misses[i], &v), MT_E_INVAL);
        ck_assert_int_eq(v, MT_GATE_ADVICE_SEVERITY);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("gate_policy");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, each_bad_policy_is_refused_where_and_how_the_manual_says);
    tcase_add_test(tc, a_missing_policy_file_is_named);
    tcase_add_test(tc, budgets_are_named_both_ways);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
