/* Rule files (memtrace-rules(5)): a value of the wrong YAML kind, a test
 * that does not fit its field, and an override that would drop its
 * conditions are refused with the line, column and whole message; the
 * set is left as it was. test_advise covers the other mistakes. Through
 * the public API only (memtrace/advise.h). */
#include "memtrace/analyze.h"
#include "../helpers.h"

typedef struct {
    const char *yaml;
    unsigned line, col;
    const char *msg;             /* the whole message */
} bad_case;

#define R(x) "rules:\n  - {id: x, scope: column, " x "}\n"
#define W(x) "rules:\n  - id: x\n    scope: column\n    action: {message: m}\n    when: " x "\n"

static const bad_case bad[] = {
    /* The file's own keys. */
    { "version: [1]\n", 1, 10, "version must be a scalar, not a list" },
    { "version: one\n", 1, 10, "version one is not one this reader knows (1)" },
    { "rules: {id: x}\n", 1, 8, "rules must be a list, not a mapping" },
    { "disable: x\n", 1, 10, "disable must be a list, not a scalar" },
    { "disable: [[x]]\n", 1, 11, "an id in disable must be a scalar, not a list" },
    { "rules:\n  - x\n", 2, 5, "a rule must be a mapping, not a scalar" },
    /* A rule's keys. */
    { "rules:\n  - {id: [x], scope: column}\n", 2, 10, "id must be a scalar, not a list" },
    { "rules:\n  - {id: x, scope: [column]}\n", 2, 20, "scope must be a scalar, not a list" },
    { R("severity: [info]"), 2, 38, "severity must be a scalar, not a list" },
    { R("description: [a]"), 2, 41, "description must be a scalar, not a list" },
    { R("enabled: maybe"), 2, 37, "enabled must be true or false, not 'maybe'" },
    { R("enabled: [true]"), 2, 37, "enabled must be true or false, not a list" },
    { R("when: [a]"), 2, 34, "when must be a mapping, not a list" },
    /* action */
    { R("action: m"), 2, 36, "action must be a mapping, not a scalar" },
    { R("action: {kind: [a], message: m}"), 2, 43, "kind must be a scalar, not a list" },
    { R("action: {message: [m]}"), 2, 46, "message must be a scalar, not a list" },
    { R("action: {to: [int8], message: m}"), 2, 41, "to must be a scalar, not a list" },
    { R("action: {saving: [astype], message: m}"), 2, 45, "saving must be a scalar, not a list" },
    { R("action: {lossless: sometimes, message: m}"), 2, 47, "lossless must be true or false, not 'sometimes'" },
    { "rules:\n  - {id: x, scope: step, action: {budget_fraction: [1], message: m}}\n", 2, 52,
      "budget_fraction must be a scalar, not a list" },
    { "rules:\n  - {id: x, scope: step, action: {budget_fraction: 0, message: m}}\n", 2, 52,
      "budget_fraction must be a number in (0, 1], not '0'" },
    { "rules:\n  - {id: x, scope: step, action: {budget_fraction: half, message: m}}\n", 2, 52,
      "budget_fraction must be a number in (0, 1], not 'half'" },
    { R("action: {message: \"a}b\"}"), 2, 46, "message: '}' without '{' (write '}}' for a brace)" },
    { R("action: {to: \"{rule}\", message: m}"), 2, 41, "to: unknown placeholder '{rule}' for scope column" },
    /* when: each test against the kind of its field. */
    { W("{key: {lt: 1}}"), 5, 22, "key is true or false: use eq or ne, not lt" },
    { W("{key: [true]}"), 5, 17, "key is true or false: use eq or ne, not in" },
    { W("{bytes: {matches: 'a*'}}"), 5, 29, "bytes is a number: matches takes a string field" },
    { W("{dtype: {in: int8}}"), 5, 24, "in must be a list, not a scalar" },
    { W("{dtype: {not_in: int8}}"), 5, 28, "not_in must be a list, not a scalar" },
    { W("{dtype: {not_in: []}}"), 5, 28, "not_in: the list is empty" },
    { W("{bytes: {gt: [1]}}"), 5, 24, "bytes must be a scalar, not a list" },
    { W("{dtype: [[int8]]}"), 5, 20, "a value must be a scalar, not a list" },
    { W("{bytes: [1, lots]}"), 5, 23, "bytes takes a number (with %, B, KiB, MiB, GiB ...), not 'lots'" },
    { W("{bytes: {}}"), 5, 19, "bytes: the mapping of tests is empty" },
    { W("{bytes: {gt: 1, gt: 2}}"), 5, 27, "key 'gt' repeats (first at line 5)" },
};

START_TEST(each_misfit_value_is_refused_where_and_how) {
    /* Every wrong case is reported, not just the first. */
    char wrong[8192] = "";
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        mt_rules *r;
        mt_diag d;
        ck_assert_int_eq(mt_rules_new(&r), 0);
        int rc = mt_rules_add(r, "bad.yaml", bad[k].yaml, strlen(bad[k].yaml), &d);
        if (rc != MT_E_INVAL || d.code != rc || !d.file || strcmp(d.file, "bad.yaml") || d.line != bad[k].line ||
            d.column != bad[k].col || strcmp(d.msg, bad[k].msg) || mt_rules_count(r))
            snprintf(wrong + strlen(wrong), sizeof wrong - strlen(wrong), "\ncase %zu: rc %d at %u:%u: %s", k, rc,
                     d.line, d.column, d.msg);
        mt_rules_free(r);
    }
    ck_assert_msg(!wrong[0], "%s", wrong);
}
END_TEST

/* A later file may override a rule; moving a rule with conditions to
 * another scope would leave conditions on fields that scope lacks. */
START_TEST(an_override_keeps_its_scope_when_it_has_conditions) {
    mt_rules *r;
    mt_diag d;
    ck_assert_int_eq(mt_rules_new(&r), 0);
    const char *base = "rules:\n  - id: big\n    scope: column\n    when: {bytes: {gt: 1 MiB}}\n"
                       "    action: {message: '{column} is big'}\n  - {id: plain, scope: column, action: {message: m}}\n";
    ck_assert_int_eq(mt_rules_add(r, "base.yaml", base, strlen(base), &d), 0);
    const char *move = "rules:\n  - {id: big, scope: frame}\n";
    ck_assert_int_eq(mt_rules_add(r, "move.yaml", move, strlen(move), &d), MT_E_INVAL);
    ck_assert_str_eq(d.file, "move.yaml");
    ck_assert_uint_eq(d.line, 2);
    ck_assert_uint_eq(d.column, 22);
    ck_assert_str_eq(d.msg, "rule 'big' changes its scope from column to frame: its conditions would not apply");
    /* Without conditions a rule may move; its message must then fit the
     * new scope, and a frame has no {column}. */
    const char *plain = "rules:\n  - {id: plain, scope: frame, severity: error}\n";
    ck_assert_int_eq(mt_rules_add(r, "plain.yaml", plain, strlen(plain), &d), 0);
    ck_assert_uint_eq(mt_rules_count(r), 2);
    mt_rule_info ri;
    mt_rules_get(r, 1, &ri);
    ck_assert_str_eq(ri.id, "plain");
    ck_assert_int_eq(ri.severity, MT_SEV_ERROR);
    /* A disable of a rule of an earlier file, in a file that also
     * defines one. */
    const char *dis = "rules:\n  - {id: new, scope: step, action: {message: m}}\ndisable: [big, new]\n";
    ck_assert_int_eq(mt_rules_add(r, "dis.yaml", dis, strlen(dis), &d), 0);
    ck_assert_uint_eq(mt_rules_count(r), 3);
    for (size_t i = 0; i < 3; i++) {
        mt_rules_get(r, i, &ri);
        ck_assert_int_eq(ri.enabled, !strcmp(ri.id, "plain"));
    }
    mt_rules_free(r);
}
END_TEST

int main(void) {
    Suite *s = suite_create("rules_errors");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, each_misfit_value_is_refused_where_and_how);
    tcase_add_test(tc, an_override_keeps_its_scope_when_it_has_conditions);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
