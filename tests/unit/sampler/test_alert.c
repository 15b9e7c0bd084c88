/* The --alert parser: what each accepted expression means, and for each
 * bad one the column at fault, hand-counted, and what was expected. */
#include <math.h>
#include "internal.h"
#include "../helpers.h"

static const struct {
    const char *text;
    const char *series;
    int below, percent_of;
    double threshold;
    mt_alert_action action;
    const char *command;
} GOOD[] = {
    {"rss>2GiB", "rss", 0, 0, 2.0 * 1073741824.0, MT_ALERT_LOG, ""},
    {"rss>1.5MB:exit", "rss", 0, 0, 1.5e6, MT_ALERT_EXIT, ""},
    {"pss>80%limit", "pss", 0, 1, 80, MT_ALERT_LOG, ""},
    {"rss>90%available:dump", "rss", 0, 2, 90, MT_ALERT_DUMP, ""},
    {"growth>100MiB/min", "growth", 0, 0, 100.0 * 1048576.0 / 60.0, MT_ALERT_LOG, ""},
    {"growth>1GB/h:log", "growth", 0, 0, 1e9 / 3600.0, MT_ALERT_LOG, ""},
    {"growth>512KiB/s", "growth", 0, 0, 512.0 * 1024.0, MT_ALERT_LOG, ""},
    {"mem.available<1GiB:exec=echo low: $X", "mem.available", 1, 0, 1073741824.0, MT_ALERT_EXEC,
     "echo low: $X"},
    {"procs>100", "procs", 0, 0, 100, MT_ALERT_LOG, ""},
    {"gpu0.used>10TB", "gpu0.used", 0, 0, 10e12, MT_ALERT_LOG, ""},
    {"gpu1.driver_reserved>1GiB", "gpu1.driver_reserved", 0, 0, 1073741824.0, MT_ALERT_LOG, ""},
    {"gpu0.pid.4242>2GiB:dump", "gpu0.pid.4242", 0, 0, 2147483648.0, MT_ALERT_DUMP, ""},
    {"cgroup.oom_kill>0", "cgroup.oom_kill", 0, 0, 0, MT_ALERT_LOG, ""},
    {"rss>3B", "rss", 0, 0, 3, MT_ALERT_LOG, ""},
};

START_TEST(good_expressions) {
    for (size_t i = 0; i < sizeof GOOD / sizeof GOOD[0]; i++) {
        mt_alert a;
        mt_diag d;
        ck_assert_msg(mt_alert_parse(GOOD[i].text, &a, &d) == 0, "%s: %s", GOOD[i].text, d.msg);
        ck_assert_str_eq(a.expr, GOOD[i].text);
        ck_assert_str_eq(a.series, GOOD[i].series);
        ck_assert_int_eq(a.below, GOOD[i].below);
        ck_assert_int_eq(a.percent_of, GOOD[i].percent_of);
        ck_assert_msg(fabs(a.threshold - GOOD[i].threshold) <= 1e-9 * fabs(GOOD[i].threshold), "%s: %g != %g",
                      GOOD[i].text, a.threshold, GOOD[i].threshold);
        ck_assert_int_eq(a.action, GOOD[i].action);
        ck_assert_str_eq(a.command, GOOD[i].command);
        ck_assert_int_eq(a.fired, 0);
    }
}
END_TEST

static const struct {
    const char *text;
    unsigned column;
    const char *says; /* a part of the message */
} BAD[] = {
    {"", 1, "no measure at column 1 (expected a series name or growth)"},
    {">2GiB", 1, "(expected a series name or growth)"},
    {"rss", 4, "no comparison at column 4 (expected > or <)"},
    {"rss=2GiB", 4, "unexpected \"=\" at column 4 (expected > or <)"},
    {"rss>", 5, "(expected a number)"},
    {"rss>GiB", 5, "(expected a number)"},
    {"rss>-1GiB", 5, "(expected a number)"},
    {"rss>0x10", 5, "(expected a number)"},
    {"rss>inf", 5, "(expected a number)"},
    {"rss>2XB", 6, "unknown unit \"XB\""},
    {"rss>2gib", 6, "unknown unit \"gib\""},
    {"pss>80%", 8, "(expected limit or available after %)"},
    {"pss>80%limits", 8, "(expected limit or available after %)"},
    {"growth>100MiB", 14, "(expected /s, /min or /h"},
    {"growth>100MiB/day", 15, "(expected s, min or h after /)"},
    {"growth>5%limit", 9, "not a percentage"},
    {"rss>2GiB/s", 9, "for growth only"},
    {"rss>2GiB:explode", 10, "unknown action at column 10 (expected log, dump, exit or exec=COMMAND)"},
    {"rss>2GiB:exec=", 15, "(expected a command after exec=)"},
    {"rss>2GiB ", 9, "unexpected \" \""},
    {"rss>2GiB:", 10, "unknown action"},
    {"r$s>1", 2, "unexpected \"$\" at column 2 (expected > or <)"},
    {"rs>1GiB", 1, "unknown measure at column 1 (expected rss, pss"},
    {"gpu>1GiB", 1, "unknown measure"},
    {"gpu0.pid>1GiB", 1, "unknown measure"},
    {"gpu0.pid.12x>1GiB", 1, "unknown measure"},
    {"gpu0.free>1GiB", 1, "or growth)"},
    {"gpu0.reserved>1GiB", 1, "unknown measure"}, /* a cell log's, not the sampler's */
    {"gc.count3>5", 1, "unknown measure"},
    {"procs>3MiB", 8, "procs is a count, not a size at column 8 (expected a plain number)"},
    {"rss>1e400", 5, "threshold out of range"},
};

START_TEST(bad_expressions_name_their_column) {
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        mt_alert a;
        memset(&a, 0x5a, sizeof a);
        mt_diag d;
        ck_assert_int_eq(mt_alert_parse(BAD[i].text, &a, &d), MT_E_PARSE);
        ck_assert_int_eq(d.code, MT_E_PARSE);
        ck_assert_msg(d.column == BAD[i].column, "%s: column %u, want %u (%s)", BAD[i].text, d.column, BAD[i].column,
                      d.msg);
        ck_assert_msg(strstr(d.msg, BAD[i].says), "%s: \"%s\" lacks \"%s\"", BAD[i].text, d.msg, BAD[i].says);
        char col[32];
        snprintf(col, sizeof col, "at column %u", BAD[i].column);
        ck_assert_msg(strstr(d.msg, col), "%s: \"%s\" lacks \"%s\"", BAD[i].text, d.msg, col);
        ck_assert_int_eq(((unsigned char *)&a)[0], 0x5a); /* *out left alone */
    }
}
END_TEST

START_TEST(the_message_of_the_brief) {
    mt_alert a;
    mt_diag d;
    ck_assert_int_eq(mt_alert_parse("rss>2XB", &a, &d), MT_E_PARSE);
    ck_assert_str_eq(d.msg,
                     "rss>2XB: unknown unit \"XB\" at column 6 (expected B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)");
}
END_TEST

START_TEST(too_long) {
    char text[400];
    memset(text, 'r', sizeof text);
    text[399] = 0;
    mt_alert a;
    mt_diag d;
    ck_assert_int_eq(mt_alert_parse(text, &a, &d), MT_E_PARSE);
    ck_assert_uint_eq(d.column, 256);
    memcpy(text + 70, ">1", 3);
    ck_assert_int_eq(mt_alert_parse(text, &a, &d), MT_E_PARSE);
    ck_assert_uint_eq(d.column, 64);
    ck_assert_str_eq(mt_alert_action_name(MT_ALERT_EXEC), "exec");
}
END_TEST

/* The growth measure: least squares, hand-computed. */
START_TEST(growth_is_the_least_squares_slope) {
    mt__tv line[] = {{5000000000ull, 0}, {6000000000ull, 10}, {7000000000ull, 20}};
    ck_assert(fabs(mt__slope_per_s(line, 3) - 10.0) < 1e-9);
    /* t 0..3 s, v 1 3 2 6: sum dt*dv = 7, sum dt^2 = 5. */
    mt__tv noisy[] = {{0, 1}, {1000000000ull, 3}, {2000000000ull, 2}, {3000000000ull, 6}};
    ck_assert(fabs(mt__slope_per_s(noisy, 4) - 1.4) < 1e-9);
    ck_assert(mt__slope_per_s(noisy, 1) == 0);
    mt__tv same[] = {{7, 1}, {7, 9}};
    ck_assert(mt__slope_per_s(same, 2) == 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sampler-alert");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, good_expressions);
    tcase_add_test(tc, bad_expressions_name_their_column);
    tcase_add_test(tc, the_message_of_the_brief);
    tcase_add_test(tc, too_long);
    tcase_add_test(tc, growth_is_the_least_squares_slope);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
