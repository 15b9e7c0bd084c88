/* heapjson.h: mt_heapjson_import_path opens what it imports safely (no
 * devices, a FIFO without a writer times out instead of blocking), and a
 * label with a NUL byte keeps its length. Hostile documents are in
 * testdata/hostile (tests/cli/cases/convert/heapjson-*). */
#include <sys/stat.h>
#include <time.h>
#include "memtrace/analyze.h"
#include "memtrace/heapjson.h"
#include "../helpers.h"

START_TEST(import_path_reads_a_regular_file_and_keeps_nul_in_labels) {
    char *in = tmp_path(), *out = tmp_path();
    const char json[] = "{\"objects\": [{\"id\": 7, \"type\": \"t\", \"size\": 8, "
                        "\"refs\": [{\"id\": 7, \"label\": \"a\\u0000b\"}]}]}";
    spit(in, json, sizeof json - 1);
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_msg(mt_heapjson_import_path(in, out, &d) == 0, "%s", d.msg);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(out, MT_LOAD_LABELS, &s, NULL), 0);
    mt_str label = mt_snapshot_ref_label(s, 0);
    ck_assert_uint_eq(label.len, 3);
    ck_assert(memcmp(label.ptr, "a\0b", 3) == 0);
    mt_snapshot_free(s);
    unlink(in);
    unlink(out);
    free(in);
    free(out);
}
END_TEST

START_TEST(import_path_refuses_a_device) {
    char *out = tmp_path();
    unlink(out);
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_heapjson_import_path("/dev/zero", out, &d), MT_E_IO);
    ck_assert_ptr_nonnull(strstr(d.msg, "character device"));
    ck_assert_int_ne(access(out, F_OK), 0);
    free(out);
}
END_TEST

/* fopen(3) on a FIFO with no writer blocked for ever. */
START_TEST(import_path_gives_up_on_a_fifo_without_writer) {
    char *fifo = tmp_path(), *out = tmp_path();
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    mt_diag d;
    mt_diag_clear(&d);
    time_t t0 = time(NULL);
    ck_assert_int_eq(mt_heapjson_import_path(fifo, out, &d), MT_E_IO);
    ck_assert_ptr_nonnull(strstr(d.msg, "no data for 10000 ms"));
    ck_assert_int_le(time(NULL) - t0, 20);
    unlink(fifo);
    free(fifo);
    free(out);
}
END_TEST

int main(void) {
    Suite *s = suite_create("heapjson");
    TCase *tc = tcase_create("heapjson");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, import_path_reads_a_regular_file_and_keeps_nul_in_labels);
    tcase_add_test(tc, import_path_refuses_a_device);
    tcase_add_test(tc, import_path_gives_up_on_a_fifo_without_writer);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
