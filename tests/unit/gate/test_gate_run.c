/* memtrace-gate's budgets on two hand-written heaps: which groups offend,
 * in what order, under which allowance, and the values the sentences a
 * user reads are made of (tools/memtrace-gate.c writes those; the CLI
 * case gate/hand-computed prints them for these same heaps), all computed
 * by hand from the sizes below. Through the
 * public API only (memtrace/gate.h, memtrace/heapjson.h). */
#include <math.h>
#include "memtrace/analyze.h"
#include "memtrace/heapjson.h"
#include "../helpers.h"

/* By type, baseline -> current: A 100 -> 300, B 100 -> 250, C 100 -> 400,
 * D 100 -> 200, keep 1000 -> 2000, F none -> 50. Totals 1400 -> 3200. */
static const char *baseline_json =
    "{\"objects\": [{\"id\": 1, \"type\": \"A\", \"size\": 100}, {\"id\": 2, \"type\": \"B\", \"size\": 100},"
    " {\"id\": 3, \"type\": \"C\", \"size\": 100}, {\"id\": 4, \"type\": \"D\", \"size\": 100},"
    " {\"id\": 5, \"type\": \"keep\", \"size\": 1000}]}";
static const char *current_json =
    "{\"objects\": [{\"id\": 1, \"type\": \"A\", \"size\": 100}, {\"id\": 11, \"type\": \"A\", \"size\": 200},"
    " {\"id\": 2, \"type\": \"B\", \"size\": 250}, {\"id\": 3, \"type\": \"C\", \"size\": 400},"
    " {\"id\": 4, \"type\": \"D\", \"size\": 200}, {\"id\": 5, \"type\": \"keep\", \"size\": 1000},"
    " {\"id\": 15, \"type\": \"keep\", \"size\": 1000}, {\"id\": 6, \"type\": \"F\", \"size\": 50}]}";

static char *base_path, *cur_path;

static void setup(void) {
    mt_diag d;
    base_path = tmp_path();
    cur_path = tmp_path();
    ck_assert_msg(import_str(baseline_json, base_path, &d) == 0, "%s", d.msg);
    ck_assert_msg(import_str(current_json, cur_path, &d) == 0, "%s", d.msg);
}

static void teardown(void) {
    unlink(base_path);
    unlink(cur_path);
    free(base_path);
    free(cur_path);
}

static void run(const char *policy, mt_gate_result *r) {
    mt_gate_policy *p;
    mt_diag d;
    int rc = mt_gate_policy_parse("policy.yaml", policy, strlen(policy), &p, &d);
    ck_assert_msg(rc == 0, "%u:%u: %s", d.line, d.column, d.msg);
    const char *b[] = { base_path }, *c[] = { cur_path };
    mt_gate_input in = { b, 1, c, 1, NULL, 0 };
    memset(r, 0, sizeof *r);
    rc = mt_gate_run(p, &in, r, &d);
    ck_assert_msg(rc == 0, "%s", d.msg);
    mt_gate_policy_free(p);
}

static const mt_gate_check *check_of(const mt_gate_result *r, const char *budget) {
    for (size_t i = 0; i < r->n_checks; i++)
        if (!strcmp(r->checks[i].budget, budget)) return &r->checks[i];
    ck_abort_msg("no check %s", budget);
    return NULL;
}

START_TEST(group_bytes_with_allowances_and_more_than_three_offenders) {
    mt_gate_result r;
    run("budgets: {group_growth_bytes: 10, total_growth_bytes: 2000}\n"
        "group_by: type\n"
        "allow:\n"
        "  - {group: B, growth_bytes: 150}\n"   /* +150: within */
        "  - {group: D, growth_percent: 50}\n"  /* no bytes allowance: held to 10 B */
        "  - {group: 'k*', ignore: true}\n",
        &r);
    ck_assert_uint_eq(r.n_checks, 2);
    ck_assert_uint_eq(r.failed, 1);
    ck_assert_uint_eq(r.baseline_bytes, 1400);
    ck_assert_uint_eq(r.current_bytes, 3200);
    const mt_gate_check *g = check_of(&r, "group_growth_bytes");
    ck_assert(!g->passed);
    ck_assert_uint_eq(g->n_offenders, 4);
    ck_assert_double_eq(g->limit, 10);
    ck_assert_double_eq(g->actual, 300);
    /* Worst first: C +300, A +200, D +100 (its percent allowance does not
     * cover bytes), F +50 from nothing; B's +150 is within its 150. */
    static const struct { const char *name; uint64_t a, b; double percent; } want[] = {
        { "C", 100, 400, 300 }, { "A", 100, 300, 200 }, { "D", 100, 200, 100 }, { "F", 0, 50, INFINITY } };
    for (size_t i = 0; i < 4; i++) {
        const mt_gate_offender *o = &g->offenders[i];
        ck_assert_str_eq(o->name, want[i].name);
        ck_assert_uint_eq(o->bytes_a, want[i].a);
        ck_assert_uint_eq(o->bytes_b, want[i].b);
        if (isinf(want[i].percent)) ck_assert(isinf(o->percent) && o->percent > 0);
        else ck_assert_double_eq_tol(o->percent, want[i].percent, 1e-9);
        ck_assert_double_eq(o->limit, 10);
        ck_assert_ptr_null(o->allowance);
    }
    /* 3200 - 1400 = 1800 of 2000; 1800 / 1400 = +128.6%. */
    const mt_gate_check *t = check_of(&r, "total_growth_bytes");
    ck_assert(t->passed);
    ck_assert_double_eq(t->actual, 1800);
    ck_assert_uint_eq(t->bytes_a, 1400);
    ck_assert_uint_eq(t->bytes_b, 3200);
    ck_assert_double_eq_tol(t->percent, 1800.0 / 1400 * 100, 1e-9);
    ck_assert_double_eq(t->limit, 2000);
    mt_gate_result_free(&r);
}
END_TEST

START_TEST(group_percent_skips_small_groups_and_names_the_allowance) {
    mt_gate_result r;
    /* Groups under 220 B now (D, F) are not held to a percentage; B's
     * +150% is within its own 200%; keep's +100% within 120%. */
    run("budgets: {group_growth_percent: 120}\n"
        "group_min_bytes: 220\n"
        "allow: [{group: B, growth_percent: 200}, {group: A, growth_percent: 150}]\n",
        &r);
    ck_assert_uint_eq(r.failed, 1);
    const mt_gate_check *g = check_of(&r, "group_growth_percent");
    ck_assert(!g->passed);
    ck_assert_uint_eq(g->n_offenders, 2);
    ck_assert_double_eq_tol(g->actual, 300, 1e-9);
    ck_assert_str_eq(g->offenders[0].name, "C");
    ck_assert_double_eq_tol(g->offenders[0].percent, 300, 1e-9);
    ck_assert_double_eq(g->offenders[0].limit, 120);
    ck_assert_ptr_null(g->offenders[0].allowance);
    ck_assert_str_eq(g->offenders[1].name, "A");
    ck_assert_double_eq_tol(g->offenders[1].percent, 200, 1e-9);
    ck_assert_double_eq(g->offenders[1].limit, 150);
    ck_assert_str_eq(g->offenders[1].allowance, "A");
    mt_gate_result_free(&r);
}
END_TEST

START_TEST(passing_groups_name_the_largest_and_a_total_percent_over) {
    mt_gate_result r;
    run("budgets: {group_growth_bytes: 1 MiB, total_growth_percent: 100}\n", &r);
    ck_assert_uint_eq(r.failed, 1);
    const mt_gate_check *g = check_of(&r, "group_growth_bytes");
    ck_assert(g->passed);
    ck_assert_uint_eq(g->n_offenders, 0);
    /* The group that grew most: keep, 1000 -> 2000 (+100%), within 1 MiB. */
    ck_assert_str_eq(g->group, "keep");
    ck_assert_uint_eq(g->bytes_a, 1000);
    ck_assert_uint_eq(g->bytes_b, 2000);
    ck_assert_double_eq_tol(g->percent, 100, 1e-9);
    ck_assert_double_eq(g->limit, 1048576);
    const mt_gate_check *t = check_of(&r, "total_growth_percent");
    ck_assert(!t->passed);
    ck_assert_double_eq_tol(t->actual, 1800.0 / 1400 * 100, 1e-9);
    ck_assert_uint_eq(t->n_offenders, 1);
    ck_assert_str_eq(t->offenders[0].name, "total");
    ck_assert_double_eq(t->limit, 100);
    mt_gate_result_free(&r);
}
END_TEST

START_TEST(a_gate_needs_both_runs_and_rules_for_advice) {
    mt_gate_policy *p;
    mt_diag d;
    const char *pol = "budgets: {advice_severity: warning}\n";
    ck_assert_int_eq(mt_gate_policy_parse("p.yaml", pol, strlen(pol), &p, &d), 0);
    const char *b[] = { base_path }, *c[] = { cur_path };
    mt_gate_result r = { 0 };
    mt_gate_input none = { b, 0, c, 1, NULL, 0 };
    ck_assert_int_eq(mt_gate_run(p, &none, &r, &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "a gate needs a baseline and a current snapshot");
    mt_gate_input in = { b, 1, c, 1, NULL, 0 };
    ck_assert_int_eq(mt_gate_run(p, &in, &r, &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "advice_severity needs rules and none were given");
    mt_gate_result_free(&r);
    mt_gate_policy_free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gate_run");
    TCase *tc = tcase_create("run");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, group_bytes_with_allowances_and_more_than_three_offenders);
    tcase_add_test(tc, group_percent_skips_small_groups_and_names_the_allowance);
    tcase_add_test(tc, passing_groups_name_the_largest_and_a_total_percent_over);
    tcase_add_test(tc, a_gate_needs_both_runs_and_rules_for_advice);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
