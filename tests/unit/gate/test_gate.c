/* The gate's verdicts as data (gate.h): budgets, measured values, limits
 * and offenders on snapshots whose growth is worked out by hand. The
 * sentences memtrace-gate writes from them are checked by the CLI cases
 * in tests/cli/cases/gate/ and tests/python/test_gate.py. */
#include <math.h>
#include <stdint.h>
#include "memtrace/analyze.h"
#include "../helpers.h"

/* A snapshot of one object per (type, size) pair. */
static char *snap(const char *const *type, const uint64_t *size, int n) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    for (int i = 0; i < n; i++) {
        mt_type ty = { (uint32_t)i + 1, mt_str_c(type[i]) };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_TYPE, &ty), 0);
        mt_object o = { 1000 + (uint64_t)i, (uint32_t)i + 1, size[i], 0, 0, 0 };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &o), 0);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    return path;
}

static const mt_gate_check *check_of(const mt_gate_result *r, mt_gate_budget kind) {
    for (size_t i = 0; i < r->n_checks; i++)
        if (r->checks[i].kind == kind) return &r->checks[i];
    return NULL;
}

START_TEST(growth_budgets_report_values_and_offenders) {
    /* Baseline: dict 1000 B, list 100 B. Current: dict 5000, list 150,
     * str 10 (new). Total 1100 -> 5160: +4060 B, +369.1%. Groups against
     * 100 B: dict +4000 offends; list +50 offends its allowance of 10;
     * str +10 is within. */
    static const char *const ta[] = { "dict", "list" }, *const tb[] = { "dict", "list", "str" };
    static const uint64_t sa[] = { 1000, 100 }, sb[] = { 5000, 150, 10 };
    char *a = snap(ta, sa, 2), *b = snap(tb, sb, 3);
    static const char policy[] = "budgets:\n  total_growth_bytes: 1000\n  total_growth_percent: 400\n"
                                 "  group_growth_bytes: 100\nallow:\n  - group: list\n    growth_bytes: 10\n";
    mt_gate_policy *p;
    mt_diag d;
    ck_assert_int_eq(mt_gate_policy_parse("p.yaml", policy, sizeof policy - 1, &p, &d), 0);
    const char *base[] = { a }, *cur[] = { b };
    mt_gate_input in = { base, 1, cur, 1, NULL, 0 };
    mt_gate_result r;
    ck_assert_int_eq(mt_gate_run(p, &in, &r, &d), 0);
    ck_assert_uint_eq(r.n_checks, 3);
    ck_assert_uint_eq(r.failed, 2);
    ck_assert_uint_eq(r.baseline_bytes, 1100);
    ck_assert_uint_eq(r.current_bytes, 5160);

    const mt_gate_check *c = check_of(&r, MT_GATE_TOTAL_GROWTH_BYTES);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(c->budget, "total_growth_bytes");
    ck_assert(!c->passed);
    ck_assert_double_eq(c->limit, 1000);
    ck_assert_double_eq(c->actual, 4060);
    ck_assert_uint_eq(c->bytes_a, 1100);
    ck_assert_uint_eq(c->bytes_b, 5160);
    ck_assert_double_eq_tol(c->percent, 100.0 * 4060 / 1100, 1e-9);
    ck_assert_uint_eq(c->n_offenders, 1);
    ck_assert_str_eq(c->offenders[0].name, "total");

    c = check_of(&r, MT_GATE_TOTAL_GROWTH_PERCENT);
    ck_assert(c->passed); /* 369.1% is within 400% */
    ck_assert_double_eq_tol(c->actual, 100.0 * 4060 / 1100, 1e-9);
    ck_assert_uint_eq(c->n_offenders, 0);

    c = check_of(&r, MT_GATE_GROUP_GROWTH_BYTES);
    ck_assert(!c->passed);
    ck_assert_double_eq(c->actual, 4000);
    ck_assert_uint_eq(c->n_offenders, 2);
    ck_assert_str_eq(c->offenders[0].name, "dict");
    ck_assert_uint_eq(c->offenders[0].bytes_a, 1000);
    ck_assert_uint_eq(c->offenders[0].bytes_b, 5000);
    ck_assert_double_eq(c->offenders[0].percent, 400);
    ck_assert_double_eq(c->offenders[0].limit, 100);
    ck_assert_ptr_null(c->offenders[0].allowance);
    ck_assert_str_eq(c->offenders[1].name, "list");
    ck_assert_double_eq(c->offenders[1].limit, 10);
    ck_assert_str_eq(c->offenders[1].allowance, "list");
    ck_assert_str_eq(c->group, "dict"); /* the group that grew most */
    mt_gate_result_free(&r);
    mt_gate_result_free(&r); /* emptied: safe twice */
    mt_gate_policy_free(p);

    /* Nothing over: the largest growth is still reported, with no
     * offender. A group new since the baseline grows from nothing. */
    static const char calm[] = "budgets:\n  group_growth_bytes: 1 MiB\n";
    ck_assert_int_eq(mt_gate_policy_parse("p.yaml", calm, sizeof calm - 1, &p, &d), 0);
    ck_assert_int_eq(mt_gate_run(p, &in, &r, &d), 0);
    c = &r.checks[0];
    ck_assert(c->passed);
    ck_assert_uint_eq(c->n_offenders, 0);
    ck_assert_ptr_null(c->offenders);
    ck_assert_str_eq(c->group, "dict");
    ck_assert_double_eq(c->limit, 1048576);
    mt_gate_result_free(&r);
    mt_gate_policy_free(p);
    const char *base2[] = { b }, *cur2[] = { a };
    mt_gate_input back = { base2, 1, cur2, 1, NULL, 0 };
    static const char pct[] = "budgets:\n  group_growth_percent: 10\ngroup_min_bytes: 0\n";
    ck_assert_int_eq(mt_gate_policy_parse("p.yaml", pct, sizeof pct - 1, &p, &d), 0);
    ck_assert_int_eq(mt_gate_run(p, &back, &r, &d), 0);
    c = &r.checks[0];
    ck_assert(c->passed); /* everything shrank */
    ck_assert_str_eq(c->group, "list"); /* -33.3%, the least shrinking */
    ck_assert_double_eq_tol(c->percent, -100.0 / 3, 1e-9);
    mt_gate_result_free(&r);
    mt_gate_policy_free(p);
    unlink(a);
    unlink(b);
    free(a);
    free(b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gate");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, growth_budgets_report_values_and_offenders);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
