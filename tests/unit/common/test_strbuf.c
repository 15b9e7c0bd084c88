/* memtrace/strbuf.h: the one growing string. Its contents are compared
 * with what snprintf(3) writes for the same appends. */
#include <stdint.h>
#include "memtrace/strbuf.h"
#include "../helpers.h"

START_TEST(appends_as_snprintf_would) {
    mt_sbuf b = MT_SBUF_INIT;
    char want[20000];
    size_t at = 0;
    for (int i = 0; i < 1000; i++) {
        mt_sbuf_printf(&b, "%d:%s;", i, i % 2 ? "odd" : "even");
        at += (size_t)snprintf(want + at, sizeof want - at, "%d:%s;", i, i % 2 ? "odd" : "even");
        mt_sbuf_putc(&b, 'x');
        want[at++] = 'x';
        mt_sbuf_puts(&b, "ab");
        mt_sbuf_put(&b, "cdef", 2);
        memcpy(want + at, "abcd", 4);
        at += 4;
        want[at] = 0;
        ck_assert_uint_eq(b.len, at);
        ck_assert_uint_lt(b.len, b.cap);
    }
    ck_assert_str_eq(b.s, want);
    ck_assert_int_eq(b.fail, 0);
    size_t len;
    char *s = mt_sbuf_detach(&b, &len);
    ck_assert_str_eq(s, want);
    ck_assert_uint_eq(len, at);
    ck_assert_ptr_null(b.s); /* handed over: b is empty and ready */
    ck_assert_uint_eq(b.len, 0);
    free(s);
    mt_sbuf_puts(&b, "again");
    ck_assert_str_eq(b.s, "again");
    mt_sbuf_free(&b);
    ck_assert_ptr_null(b.s);
}
END_TEST

START_TEST(nul_bytes_count_and_reset_keeps_memory) {
    mt_sbuf b = MT_SBUF_INIT;
    mt_sbuf_put(&b, "a\0b", 3);
    mt_sbuf_putc(&b, 0);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_int_eq(memcmp(b.s, "a\0b\0", 5), 0);
    char *mem = b.s;
    mt_sbuf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_ptr_eq(b.s, mem);
    ck_assert_str_eq(b.s, "");
    mt_sbuf_put(&b, NULL, 0); /* nothing, from nowhere */
    ck_assert_str_eq(b.s, "");
    mt_sbuf_free(&b);
}
END_TEST

START_TEST(detach_of_nothing_is_an_empty_string) {
    mt_sbuf b = MT_SBUF_INIT;
    size_t len = 7;
    char *s = mt_sbuf_detach(&b, &len);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "");
    ck_assert_uint_eq(len, 0);
    free(s);
}
END_TEST

START_TEST(a_failed_append_sticks_and_detach_says_so) {
    mt_sbuf b = MT_SBUF_INIT;
    mt_sbuf_puts(&b, "kept");
    /* More than memory can hold: refused before any allocation. */
    mt_sbuf_put(&b, "", SIZE_MAX - 2);
    ck_assert_int_eq(b.fail, 1);
    mt_sbuf_puts(&b, "more");
    ck_assert_str_eq(b.s, "kept"); /* later appends do nothing */
    size_t len = 7;
    ck_assert_ptr_null(mt_sbuf_detach(&b, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_null(b.s); /* freed */
    ck_assert_int_eq(b.fail, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("strbuf");
    TCase *tc = tcase_create("strbuf");
    tcase_add_test(tc, appends_as_snprintf_would);
    tcase_add_test(tc, nul_bytes_count_and_reset_keeps_memory);
    tcase_add_test(tc, detach_of_nothing_is_an_empty_string);
    tcase_add_test(tc, a_failed_append_sticks_and_detach_says_so);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
