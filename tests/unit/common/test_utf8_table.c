/* mt_utf8_len against the Unicode Standard's table of well-formed UTF-8
 * byte sequences (Unicode 15, chapter 3, Table 3-7), written out below
 * as the oracle: every first and second byte, and the edges of each
 * range for the third and fourth, whole and cut short. */
#include "memtrace/analyze.h"
#include "../helpers.h"

/* Table 3-7: the first byte's range, then the allowed range of each
 * following byte. */
static const struct {
    unsigned lo, hi, n;
    unsigned r[3][2];
} table37[] = {
    { 0x00, 0x7F, 1, { { 0 } } },
    { 0xC2, 0xDF, 2, { { 0x80, 0xBF } } },
    { 0xE0, 0xE0, 3, { { 0xA0, 0xBF }, { 0x80, 0xBF } } },
    { 0xE1, 0xEC, 3, { { 0x80, 0xBF }, { 0x80, 0xBF } } },
    { 0xED, 0xED, 3, { { 0x80, 0x9F }, { 0x80, 0xBF } } },
    { 0xEE, 0xEF, 3, { { 0x80, 0xBF }, { 0x80, 0xBF } } },
    { 0xF0, 0xF0, 4, { { 0x90, 0xBF }, { 0x80, 0xBF }, { 0x80, 0xBF } } },
    { 0xF1, 0xF3, 4, { { 0x80, 0xBF }, { 0x80, 0xBF }, { 0x80, 0xBF } } },
    { 0xF4, 0xF4, 4, { { 0x80, 0x8F }, { 0x80, 0xBF }, { 0x80, 0xBF } } },
};

static size_t oracle(const unsigned char *p, size_t n) {
    for (size_t k = 0; k < sizeof table37 / sizeof table37[0]; k++) {
        if (p[0] < table37[k].lo || p[0] > table37[k].hi) continue;
        if (n < table37[k].n) return 0;
        for (unsigned i = 1; i < table37[k].n; i++)
            if (p[i] < table37[k].r[i - 1][0] || p[i] > table37[k].r[i - 1][1]) return 0;
        return table37[k].n;
    }
    return 0;
}

/* The edges of every range in the table, and a byte outside them all. */
static const unsigned char edges[] = { 0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF };

START_TEST(utf8_len_follows_table_3_7) {
    char wrong[2048] = "";
    size_t checked = 0;
    unsigned char p[4];
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            for (size_t c = 0; c < sizeof edges; c++)
                for (size_t d = 0; d < sizeof edges; d++) {
                    p[0] = (unsigned char)a, p[1] = (unsigned char)b, p[2] = edges[c], p[3] = edges[d];
                    for (size_t n = 1; n <= 4; n++) {
                        size_t got = mt_utf8_len(p, n), want = oracle(p, n);
                        checked++;
                        if (got != want && strlen(wrong) < sizeof wrong - 80)
                            snprintf(wrong + strlen(wrong), sizeof wrong - strlen(wrong),
                                     "\n%02x %02x %02x %02x (n %zu): %zu, the table says %zu", p[0], p[1], p[2], p[3],
                                     n, got, want);
                    }
                }
    ck_assert_uint_eq(checked, 256u * 256 * sizeof edges * sizeof edges * 4);
    ck_assert_msg(!wrong[0], "%s", wrong);
}
END_TEST

int main(void) {
    Suite *s = suite_create("utf8_table");
    TCase *tc = tcase_create("utf8");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, utf8_len_follows_table_3_7);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
