/* text.h: the UTF-8 checker and one escaper per output syntax, on hostile
 * names: quotes, backslashes, newlines, NUL, terminal escapes, C1
 * controls, invalid UTF-8 of every kind, and cuts at the buffer's end. */
#include "memtrace/analyze.h"
#include "../helpers.h"

static char *put(mt_text_syntax syn, const char *s, size_t n) {
    char *out;
    size_t len;
    FILE *f = open_memstream(&out, &len);
    mt_text_put(f, syn, s, n);
    fclose(f);
    return out;
}

#define CHECK(syn, in, want)                                    \
    do {                                                        \
        char *got_ = put(syn, in, sizeof in - 1);               \
        ck_assert_str_eq(got_, want);                           \
        char buf_[256];                                         \
        size_t n_ = mt_text_escape(buf_, sizeof buf_, syn, in, sizeof in - 1); \
        ck_assert_uint_eq(n_, strlen(want));                    \
        ck_assert_str_eq(buf_, want);                           \
        free(got_);                                             \
    } while (0)

START_TEST(utf8_len_accepts_only_utf8) {
    ck_assert_uint_eq(mt_utf8_len("a", 1), 1);
    ck_assert_uint_eq(mt_utf8_len("\xc3\xb1", 2), 2);
    ck_assert_uint_eq(mt_utf8_len("\xe2\x82\xac", 3), 3);
    ck_assert_uint_eq(mt_utf8_len("\xf0\x9f\x98\x80", 4), 4);
    ck_assert_uint_eq(mt_utf8_len("\xc3", 1), 0);             /* cut short */
    ck_assert_uint_eq(mt_utf8_len("\x80", 1), 0);             /* lone continuation */
    ck_assert_uint_eq(mt_utf8_len("\xc0\xaf", 2), 0);         /* overlong '/' */
    ck_assert_uint_eq(mt_utf8_len("\xe0\x80\xaf", 3), 0);     /* overlong */
    ck_assert_uint_eq(mt_utf8_len("\xed\xa0\x80", 3), 0);     /* surrogate */
    ck_assert_uint_eq(mt_utf8_len("\xf4\x90\x80\x80", 4), 0); /* past U+10FFFF */
    ck_assert_uint_eq(mt_utf8_len("\xf5\x80\x80\x80", 4), 0);
    ck_assert_uint_eq(mt_utf8_len("\xff", 1), 0);
    ck_assert_uint_eq(mt_utf8_len("", 0), 0);
}
END_TEST

START_TEST(openmetrics_label_values) {
    CHECK(MT_TEXT_OPENMETRICS, "a\\b\"c\nd", "a\\\\b\\\"c\\nd");
    CHECK(MT_TEXT_OPENMETRICS, "x\0y\x1b[31m\r\x7f", "x\xef\xbf\xbdy\xef\xbf\xbd[31m\xef\xbf\xbd\xef\xbf\xbd");
    CHECK(MT_TEXT_OPENMETRICS, "\xff\xc3\xb1\xed\xa0\x80\xc2\x9b", "\xef\xbf\xbd\xc3\xb1\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}
END_TEST

START_TEST(folded_frames) {
    CHECK(MT_TEXT_FOLDED, "f;g (a.py:1)\nh\r\0\x1b", "f:g (a.py:1) h   ");
    CHECK(MT_TEXT_FOLDED, "caf\xc3\xa9\xff", "caf\xc3\xa9\xef\xbf\xbd");
}
END_TEST

START_TEST(dot_strings) {
    CHECK(MT_TEXT_DOT, "say \"hi\"\\\n\0!", "say \\\"hi\\\"\\\\\\n !");
    CHECK(MT_TEXT_DOT, "\xfe<b>", "\xef\xbf\xbd<b>");
}
END_TEST

START_TEST(terminal_text) {
    CHECK(MT_TEXT_TERMINAL, "a\nb\tc\rd", "a\\nb\\tc\\rd");
    CHECK(MT_TEXT_TERMINAL, "\x1b]0;pwned\x07\x7f\0", "\\x1b]0;pwned\\x07\\x7f\\x00");
    CHECK(MT_TEXT_TERMINAL, "\xc2\x9b" "31m\xff\xc3\xb1", "\\xc2\\x9b31m\\xff\xc3\xb1");
}
END_TEST

/* GitHub decodes %25, %0D, %0A (and %3A, %2C in a property): a raw line
 * feed would end the command, a raw ESC or BEL reach the log. */
START_TEST(github_commands) {
    CHECK(MT_TEXT_GITHUB, "90% a\nb\rc:d,e", "90%25 a%0Ab%0Dc:d,e");
    CHECK(MT_TEXT_GITHUB_PROPERTY, "90% a\nb\rc:d,e", "90%25 a%0Ab%0Dc%3Ad%2Ce");
    CHECK(MT_TEXT_GITHUB, "\x1b]0;title\x07\tx\x7f\0", "\\x1b]0;title\\x07\\tx\\x7f\\x00");
    CHECK(MT_TEXT_GITHUB_PROPERTY, "\xc2\x9b" "31m\xff\xc3\xb1", "\\xc2\\x9b31m\\xff\xc3\xb1");
}
END_TEST

START_TEST(xml_text) {
    CHECK(MT_TEXT_XML, "a<b>&\"c\"'d'", "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;");
    /* Tab and line breaks are XML characters; other C0 controls are not. */
    CHECK(MT_TEXT_XML, "\t\n\r\0\x1b!", "\t\n\r\xef\xbf\xbd\xef\xbf\xbd!");
    /* Neither is U+FFFE or U+FFFF; U+FFFD and C1 (allowed, if discouraged) stay. */
    CHECK(MT_TEXT_XML, "\xef\xbf\xbe\xef\xbf\xbf\xef\xbf\xbd\xc2\x85", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xc2\x85");
    CHECK(MT_TEXT_XML, "\xff\xc3\xb1\xc0\xaf", "\xef\xbf\xbd\xc3\xb1\xef\xbf\xbd\xef\xbf\xbd");
}
END_TEST

START_TEST(python_strings) {
    CHECK(MT_TEXT_PYTHON, "say \"hi\"\\\n", "say \\\"hi\\\"\\\\\\n");
    CHECK(MT_TEXT_PYTHON, "\0\t\r\x1b\x7f", "\\x00\\x09\\x0d\\x1b\\x7f");
    /* A C1 control by its code ("\x85" is U+0085), other UTF-8 as it is. */
    CHECK(MT_TEXT_PYTHON, "\xc2\x85\xc3\xb1'", "\\x85\xc3\xb1'");
    CHECK(MT_TEXT_PYTHON, "a\xff" "b\xed\xa0\x80", "a\\ufffdb\\ufffd\\ufffd\\ufffd");
}
END_TEST

START_TEST(gnuplot_strings) {
    CHECK(MT_TEXT_GNUPLOT, "it's 90%\n\t`x` @m \\", "it''s 90%  `x` @m \\");
    CHECK(MT_TEXT_GNUPLOT_FORMAT, "it's 90%", "it''s 90%%");
    CHECK(MT_TEXT_GNUPLOT_DATA, "a\"b'\tc\n", "a'b' c ");
    CHECK(MT_TEXT_GNUPLOT, "\xff\xc3\xb1\xc2\x85", "\xef\xbf\xbd\xc3\xb1\xc2\x85");
}
END_TEST

START_TEST(utf8_cut_backs_up_to_a_boundary) {
    const char s[] = "a\xe2\x82\xac" "b";
    ck_assert_uint_eq(mt_utf8_cut(s, 0), 0);
    ck_assert_uint_eq(mt_utf8_cut(s, 1), 1);
    ck_assert_uint_eq(mt_utf8_cut(s, 2), 1);
    ck_assert_uint_eq(mt_utf8_cut(s, 3), 1);
    ck_assert_uint_eq(mt_utf8_cut(s, 4), 4);
    ck_assert_uint_eq(mt_utf8_cut("\x80\x80", 1), 0);
}
END_TEST

START_TEST(escape_cuts_at_boundaries) {
    char buf[6];
    /* "ab" + 3-byte euro fits in 5; a second euro does not: cut before it. */
    size_t n = mt_text_escape(buf, sizeof buf, MT_TEXT_TERMINAL, "ab\xe2\x82\xac\xe2\x82\xac", 8);
    ck_assert_uint_eq(n, 8);
    ck_assert_str_eq(buf, "ab\xe2\x82\xac");
    /* An escape is whole or left out. */
    n = mt_text_escape(buf, sizeof buf, MT_TEXT_TERMINAL, "abc\x1b", 4);
    ck_assert_uint_eq(n, 7);
    ck_assert_str_eq(buf, "abc");
    n = mt_text_escape(buf, 1, MT_TEXT_DOT, "abc", 3);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(buf, "");
    ck_assert_uint_eq(mt_text_escape(NULL, 0, MT_TEXT_DOT, "a\"", 2), 3);
}
END_TEST

START_TEST(lists_as_sentences) {
    static const char *const abc[] = { "alpha", "beta", "gamma" };
    char buf[64];
    ck_assert_str_eq(mt_text_list(buf, sizeof buf, abc, 0, 0, " or "), "");
    ck_assert_str_eq(mt_text_list(buf, sizeof buf, abc, 1, 0, " or "), "alpha");
    ck_assert_str_eq(mt_text_list(buf, sizeof buf, abc, 2, 0, " or "), "alpha or beta");
    ck_assert_str_eq(mt_text_list(buf, sizeof buf, abc, 3, 0, " or "), "alpha, beta or gamma");
    ck_assert_str_eq(mt_text_list(buf, sizeof buf, abc, 3, 0, " and "), "alpha, beta and gamma");
    ck_assert_str_eq(mt_text_list(buf, sizeof buf, abc, 3, 0, ", "), "alpha, beta, gamma");
    /* A field of an array of structs. */
    struct item {
        int x;
        const char *name;
    } items[] = { { 1, "a" }, { 2, "b" }, { 3, "c" } };
    ck_assert_str_eq(mt_text_list(buf, sizeof buf, &items[0].name, 3, sizeof items[0], " or "), "a, b or c");
    /* Too long: whole names, then ", ..."; exactly fitting needs no cut. */
    ck_assert_str_eq(mt_text_list(buf, 21, abc, 3, 0, " or "), "alpha, beta or gamma");
    ck_assert_str_eq(mt_text_list(buf, 20, abc, 3, 0, " or "), "alpha, beta, ...");
    ck_assert_str_eq(mt_text_list(buf, 17, abc, 3, 0, " or "), "alpha, beta, ...");
    ck_assert_str_eq(mt_text_list(buf, 16, abc, 3, 0, " or "), "alpha, ...");
    ck_assert_str_eq(mt_text_list(buf, 11, abc, 3, 0, " or "), "alpha, ...");
    ck_assert_str_eq(mt_text_list(buf, 10, abc, 3, 0, " or "), "...");
    ck_assert_str_eq(mt_text_list(buf, 3, abc, 3, 0, " or "), "..");
    ck_assert_str_eq(mt_text_list(buf, 1, abc, 3, 0, " or "), "");
    buf[0] = 'x';
    mt_text_list(buf, 0, abc, 3, 0, " or "); /* writes nothing */
    ck_assert_int_eq(buf[0], 'x');
}
END_TEST

int main(void) {
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, utf8_len_accepts_only_utf8);
    tcase_add_test(tc, openmetrics_label_values);
    tcase_add_test(tc, folded_frames);
    tcase_add_test(tc, dot_strings);
    tcase_add_test(tc, terminal_text);
    tcase_add_test(tc, github_commands);
    tcase_add_test(tc, xml_text);
    tcase_add_test(tc, python_strings);
    tcase_add_test(tc, gnuplot_strings);
    tcase_add_test(tc, utf8_cut_backs_up_to_a_boundary);
    tcase_add_test(tc, escape_cuts_at_boundaries);
    tcase_add_test(tc, lists_as_sentences);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
