/* common/names.h, the one string-keyed map of libanalyze (names to dense
 * indices in order of first sight), and common/hash.h's FNV-1a, against
 * the published FNV-1a test vectors and a plain linear search. */
#include <stdint.h>
#include "common/names.h"
#include "../helpers.h"

START_TEST(fnv1a_matches_the_published_vectors) {
    /* From the FNV reference (isthe.com/chongo/tech/comp/fnv, test_fnv.c). */
    ck_assert_uint_eq(mt__fnv1a("", 0), 0xcbf29ce484222325ull);
    ck_assert_uint_eq(mt__fnv1a("a", 1), 0xaf63dc4c8601ec8cull);
    ck_assert_uint_eq(mt__fnv1a("foobar", 6), 0x85944171f73967e8ull);
}
END_TEST

START_TEST(indices_in_order_of_first_sight) {
    mt__names t = { 0 };
    enum { N = 5000 };
    char name[32];
    /* Each name twice, the second time after many others: the same index. */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N; i++) {
            int len = snprintf(name, sizeof name, "type.%d", i * 7919 % N);
            int64_t at = mt__names_index(&t, name, (size_t)len);
            ck_assert_int_eq(at, i);
            ck_assert_str_eq(mt__names_str(&t, (size_t)at), name);
        }
    ck_assert_uint_eq(t.n, N);
    /* A prefix or a longer name is another name; so is the empty one. */
    ck_assert_int_eq(mt__names_index(&t, "type.1", 5), N);
    ck_assert_int_eq(mt__names_index(&t, "type.10x", 8), N + 1);
    ck_assert_int_eq(mt__names_index(&t, "", 0), N + 2);
    ck_assert_int_eq(mt__names_index(&t, "", 0), N + 2);
    ck_assert_int_eq(mt__names_index(&t, "type.1", 5), N);
    /* No name twice, as a linear search over all pairs finds. */
    for (size_t i = 0; i < t.n; i++)
        for (size_t k = i + 1; k < t.n; k++)
            if (!strcmp(mt__names_str(&t, i), mt__names_str(&t, k))) ck_abort_msg("names %zu and %zu are equal", i, k);
    mt__names_free(&t);
    ck_assert_uint_eq(t.n, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("names");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, fnv1a_matches_the_published_vectors);
    tcase_add_test(tc, indices_in_order_of_first_sight);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
