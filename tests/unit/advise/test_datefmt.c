/* The collector's date layout detection (tools/collect/python/datefmt.c),
 * on columns whose layout, or why none fits, is known by hand: calendar
 * facts (no 30 February, 29 February only in leap years), month names, a
 * time layout that must not change between values, and day-first against
 * month-first. test_advise_safety.py checks the layouts against pandas. */
#include "datefmt.h"
#include "../helpers.h"

/* The layout of values[0..n) (NULL entries: values that are not text),
 * "" when none, with "?" appended when the order is a guess. */
static const char *layout_of(const char *const *values, size_t n) {
    static char out[80];
    mt_datefmt d;
    memset(&d, 0, sizeof d);
    for (size_t i = 0; i < n; i++) mt_datefmt_see(&d, values[i], values[i] ? strlen(values[i]) : 0);
    char buf[64];
    int amb = -1;
    if (!mt_datefmt_result(&d, buf, sizeof buf, &amb)) {
        ck_assert_int_eq(amb, 0);
        return "";
    }
    snprintf(out, sizeof out, "%s%s", buf, amb ? "?" : "");
    return out;
}

#define LAYOUT(want, ...)                                                                  \
    do {                                                                                   \
        const char *const v_[] = { __VA_ARGS__ };                                          \
        ck_assert_str_eq(layout_of(v_, sizeof v_ / sizeof v_[0]), want);                   \
    } while (0)

START_TEST(each_layout_is_found) {
    LAYOUT("%Y-%m-%d", "2010-01-01", "2012-02-29", "1999-12-31");
    LAYOUT("%Y/%m/%d %H:%M", "2010/01/01 00:00", "2011/12/31 23:59");
    LAYOUT("%Y/%m/%d", "2012/01/01", "2013/1/5");                  /* one digit, as strptime reads it */
    LAYOUT("%b %d %Y", "Jan 1 2000", "feb 28 2001", "DEC 31 1999");
    LAYOUT("%B %d, %Y", "January 1, 2000", "May 3, 2001");
    LAYOUT("%b %d, %Y", "May 3, 2001", "Jun 4, 2001");               /* May is both: the short one */
    LAYOUT("%d %b %Y", "1 Jan 2000", "15 Mar 2020");
    LAYOUT("%d-%b-%Y", "01-Jan-2000", "15-Mar-2020");
    LAYOUT("%Y-%m-%dT%H:%M:%S.%f", "2010-01-01T10:00:00.123456", "2010-01-01T10:00:01.5");
    LAYOUT("%Y-%m-%d %H:%M:%S", "2010-01-01 10:00:00", "2010-01-01 23:59:59");
}
END_TEST

START_TEST(day_and_month_order) {
    LAYOUT("%d/%m/%Y", "13/02/2000", "01/03/2001");                 /* a day above 12 first */
    LAYOUT("%m/%d/%Y", "02/13/2000", "01/03/2001");                 /* a day above 12 second */
    LAYOUT("%m/%d/%Y?", "01/02/2000", "03/04/2001");                /* nothing tells: pandas' reading */
    LAYOUT("%m.%d.%Y?", "01.02.2000");
    LAYOUT("%d.%m.%Y", "31.12.2000");
    LAYOUT("", "13/02/2000", "02/13/2000");                         /* both orders: no one layout */
}
END_TEST

START_TEST(what_no_layout_fits) {
    LAYOUT("", "2010-02-30");                                       /* no 30 February */
    LAYOUT("", "2011-02-29");                                       /* 2011 is no leap year */
    LAYOUT("", "1900-02-29");                                       /* nor 1900 */
    LAYOUT("%Y-%m-%d", "2000-02-29");                               /* 2000 is */
    /* Outside what datetime64[ns] holds, pd.to_datetime raises
     * OutOfBoundsDatetime: a sentinel spoils the column's layout. */
    LAYOUT("", "2010-01-01", "9999-12-31");
    LAYOUT("", "0001-01-01");
    LAYOUT("", "1677-09-21");
    LAYOUT("", "2262-04-11");
    LAYOUT("%Y-%m-%d", "1677-09-22", "2262-04-10");
    LAYOUT("", "Jan 1 1600");
    LAYOUT("", "2010-13-01");
    LAYOUT("", "2010-01-01", "Jan 1 2000");                         /* two layouts */
    LAYOUT("", "2010-01-01", "2010-01-01 10:00");                   /* a time on some values only */
    LAYOUT("", "2010-01-01 24:00");
    LAYOUT("", "2010-01-01 10:60");
    LAYOUT("", "2010-01-01T10:00:00.1234567890");                   /* ten fraction digits */
    LAYOUT("", "2010-01-01 10:00 ");                                /* trailing space */
    LAYOUT("", "Janu 1 2000");
    LAYOUT("", "Junee 1 2000");
    LAYOUT("", "10-01-01");                                         /* two-digit years are not read */
    LAYOUT("", "2010-01-01", NULL);                                 /* a value that is not text */
    LAYOUT("", "");
    ck_assert_str_eq(layout_of(NULL, 0), "");                       /* nothing seen */
}
END_TEST

START_TEST(a_short_buffer_is_no_layout) {
    mt_datefmt d;
    memset(&d, 0, sizeof d);
    const char *v = "2010-01-01T10:00:00.5";
    mt_datefmt_see(&d, v, strlen(v));
    char buf[8];
    int amb;
    ck_assert_int_eq(mt_datefmt_result(&d, buf, sizeof buf, &amb), 0);
    char big[64];
    ck_assert_int_eq(mt_datefmt_result(&d, big, sizeof big, &amb), 1);
    ck_assert_str_eq(big, "%Y-%m-%dT%H:%M:%S.%f");
}
END_TEST

int main(void) {
    Suite *s = suite_create("datefmt");
    TCase *tc = tcase_create("layouts");
    tcase_add_test(tc, each_layout_is_found);
    tcase_add_test(tc, day_and_month_order);
    tcase_add_test(tc, what_no_layout_fits);
    tcase_add_test(tc, a_short_buffer_is_no_layout);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
