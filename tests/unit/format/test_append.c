/* mt_writer_append: a log that several writers extend in turn (a
 * notebook's cell log, SPEC.md section 3.5). Each case writes cells with
 * known fields, appends more through separate writers (closed, abandoned
 * as a crash would leave them, cut short mid-block), and reads the file
 * back with the ordinary reader: every cell written and flushed is there,
 * in order, with sequence numbers that go on; a damaged header mid-file
 * and a second writer are refused without changing a byte. */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "../helpers.h"
#include "memtrace/format.h"
#include "../../../formats/src/internal.h"

static const mt_writer_opts small = { .block_bytes = 256, .level = 1, .background = 0 };

static void add_cells(mt_writer *w, uint32_t session, uint32_t from, uint32_t n) {
    for (uint32_t i = from; i < from + n; i++) {
        char src[32];
        snprintf(src, sizeof src, "x%u = [0] * %u", i, i * 1000);
        mt_nb_cell c = { .id = i, .exec_count = i, .source = mt_str_c(src), .start_ns = i * 10ull,
                         .end_ns = i * 10ull + 5, .rss_before = i * 100ull, .rss_after = i * 100ull + 50,
                         .session = session, .status = mt_str_c(i % 3 ? "ok" : "error"),
                         .error = mt_str_c(i % 3 ? "" : "ValueError: no"), .source_hash = mt_str_c("h"),
                         .rss_peak = i * 100ull + 70, .flags = MT_CELL_PEAK_EXACT, .overhead_ns = i };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_NB_CELL, &c), 0);
    }
}

/* Reads every cell back; checks ids run 1..n in order and each one's
 * fields; returns how many; *closed says whether an index was found. */
static uint32_t read_cells(const char *path, uint32_t *sessions_seen, int *closed) {
    mt_reader *r;
    mt_diag d;
    ck_assert_int_eq(mt_reader_open(path, &r, &d), 0);
    *closed = mt_reader_closed(r);
    uint32_t n = 0;
    uint64_t next_first = 0;
    for (size_t b = 0; b < mt_reader_block_count(r); b++) {
        const mt_block_info *bi = mt_reader_block(r, b);
        if (bi->kind != MT_KIND_NB_CELL) continue;
        ck_assert_uint_eq(bi->first, next_first); /* sequence numbers go on */
        next_first = bi->first + bi->count;
        mt_cursor c;
        mt_record rec;
        ck_assert_int_eq(mt_reader_block_open(r, b, &c, NULL), 0);
        while (mt_cursor_next(&c, &rec.u, NULL) == 1) {
            const mt_nb_cell *x = &rec.u.nb_cell;
            n++;
            ck_assert_uint_eq(x->id, n);
            ck_assert_uint_eq(x->rss_peak, n * 100ull + 70);
            ck_assert_uint_eq(x->status.len, n % 3 ? 2 : 5);
            ck_assert_uint_eq(x->flags, MT_CELL_PEAK_EXACT);
            if (sessions_seen) sessions_seen[n] = x->session;
        }
    }
    mt_reader_free(r);
    return n;
}

static unsigned header_minor(const char *path) {
    size_t n;
    unsigned char *b = slurp(path, &n);
    unsigned m = b[10] | (unsigned)b[11] << 8;
    free(b);
    return m;
}

START_TEST(creates_then_extends) {
    char *p = tmp_path(); /* an empty file: created in place */
    mt_writer *w;
    ck_assert_int_eq(mt_writer_append(p, &small, &w, NULL), 0);
    add_cells(w, 1, 1, 40);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    ck_assert_int_eq(mt_writer_append(p, &small, &w, NULL), 0);
    ck_assert_uint_eq(mt_writer_count(w, MT_KIND_NB_CELL), 40); /* counts go on */
    add_cells(w, 2, 41, 25);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    uint32_t sess[128] = { 0 };
    int closed;
    ck_assert_uint_eq(read_cells(p, sess, &closed), 65);
    ck_assert(closed);
    ck_assert_uint_eq(sess[40], 1);
    ck_assert_uint_eq(sess[41], 2);
    /* One index at the end, over both writers' blocks. */
    mt_reader *r;
    ck_assert_int_eq(mt_reader_open(p, &r, NULL), 0);
    ck_assert_uint_eq(mt_reader_damage_count(r), 0);
    mt_reader_free(r);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(missing_file_is_created) {
    char *p = tmp_path();
    unlink(p);
    mt_writer *w;
    ck_assert_int_eq(mt_writer_append(p, NULL, &w, NULL), 0);
    add_cells(w, 1, 1, 3);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    int closed;
    ck_assert_uint_eq(read_cells(p, NULL, &closed), 3);
    ck_assert_uint_eq(header_minor(p), MT_FORMAT_MINOR);
    unlink(p);
    free(p);
}
END_TEST

/* A kernel killed after a flush: its blocks stay, the next session goes on
 * after them, and the reader finds every cell. */
START_TEST(after_a_crash) {
    char *p = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_append(p, &small, &w, NULL), 0);
    add_cells(w, 1, 1, 30);
    ck_assert_int_eq(mt_writer_flush(w), 0);
    mt_writer_abandon(w); /* no index: as a crash leaves it */
    int closed;
    ck_assert_uint_eq(read_cells(p, NULL, &closed), 30);
    ck_assert(!closed);
    ck_assert_int_eq(mt_writer_append(p, &small, &w, NULL), 0);
    add_cells(w, 2, 31, 5);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    ck_assert_uint_eq(read_cells(p, NULL, &closed), 35);
    ck_assert(closed);
    unlink(p);
    free(p);
}
END_TEST

/* A block cut short at the end (killed mid-write): cut at every byte of
 * the last block, the cut block is dropped and the rest kept. */
START_TEST(torn_tail_dropped) {
    char *p = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_append(p, &small, &w, NULL), 0);
    add_cells(w, 1, 1, 12);
    ck_assert_int_eq(mt_writer_flush(w), 0);
    mt_writer_abandon(w);
    size_t n;
    unsigned char *whole = slurp(p, &n);
    mt_reader *r;
    ck_assert_int_eq(mt_reader_open(p, &r, NULL), 0);
    size_t nb = mt_reader_block_count(r);
    ck_assert_uint_ge(nb, 2);
    const mt_block_info *last = mt_reader_block(r, nb - 1);
    uint64_t last_at = last->offset;
    uint32_t kept = 0;
    for (size_t b = 0; b + 1 < nb; b++)
        if (mt_reader_block(r, b)->kind == MT_KIND_NB_CELL) kept += mt_reader_block(r, b)->count;
    mt_reader_free(r);
    for (uint64_t cut = last_at + 1; cut < n; cut += 7) {
        spit(p, whole, cut);
        ck_assert_int_eq(mt_writer_append(p, &small, &w, NULL), 0);
        ck_assert_uint_eq(mt_writer_count(w, MT_KIND_NB_CELL), kept);
        add_cells(w, 2, kept + 1, 4);
        ck_assert_int_eq(mt_writer_close(w, NULL), 0);
        int closed;
        ck_assert_uint_eq(read_cells(p, NULL, &closed), kept + 4);
        ck_assert(closed);
    }
    free(whole);
    unlink(p);
    free(p);
}
END_TEST

/* A damaged block header before the end: refused, the file untouched. */
START_TEST(damaged_header_refused) {
    char *p = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_append(p, &small, &w, NULL), 0);
    add_cells(w, 1, 1, 30);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    size_t n;
    unsigned char *b = slurp(p, &n);
    mt_reader *r;
    ck_assert_int_eq(mt_reader_open(p, &r, NULL), 0);
    ck_assert_uint_ge(mt_reader_block_count(r), 3);
    uint64_t at = mt_reader_block(r, 1)->offset;
    mt_reader_free(r);
    b[at + 4] ^= 0x55; /* inside the second block's header */
    spit(p, b, n);
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_writer_append(p, &small, &w, &d), MT_E_DAMAGED);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(d.offset, (int64_t)at);
    ck_assert_ptr_nonnull(strstr(d.msg, "damaged"));
    size_t n2;
    unsigned char *after = slurp(p, &n2);
    ck_assert_uint_eq(n2, n);
    ck_assert(!memcmp(after, b, n));
    free(after);
    free(b);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(not_a_snapshot_refused) {
    char *p = tmp_path();
    spit(p, "name,value\n1,2\n", 15);
    mt_writer *w;
    mt_diag d;
    ck_assert_int_eq(mt_writer_append(p, NULL, &w, &d), MT_E_NOTSNAP);
    size_t n;
    unsigned char *b = slurp(p, &n);
    ck_assert_uint_eq(n, 15); /* untouched */
    free(b);
    /* A future major version. */
    unsigned char h[16] = { 0 };
    memcpy(h, MT__MAGIC, 8);
    h[8] = MT_FORMAT_MAJOR + 1;
    spit(p, h, sizeof h);
    ck_assert_int_eq(mt_writer_append(p, NULL, &w, &d), MT_E_VERSION);
    /* A directory. */
    ck_assert_int_eq(mt_writer_append("/tmp", NULL, &w, &d), MT_E_IO);
    unlink(p);
    free(p);
}
END_TEST

/* Two writers on one file: the second is refused at once, in this process
 * (flock locks belong to the open file) and in another. */
START_TEST(second_writer_busy) {
    char *p = tmp_path();
    mt_writer *w, *w2;
    mt_diag d;
    ck_assert_int_eq(mt_writer_append(p, NULL, &w, NULL), 0);
    ck_assert_int_eq(mt_writer_append(p, NULL, &w2, &d), MT_E_BUSY);
    ck_assert_ptr_nonnull(strstr(d.msg, "another writer"));
    pid_t kid = fork();
    if (kid == 0) {
        mt_writer *w3;
        _exit(mt_writer_append(p, NULL, &w3, NULL) == MT_E_BUSY ? 0 : 1);
    }
    int st;
    waitpid(kid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    add_cells(w, 1, 1, 2);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    /* Released at close. */
    ck_assert_int_eq(mt_writer_append(p, NULL, &w2, NULL), 0);
    add_cells(w2, 2, 3, 1);
    ck_assert_int_eq(mt_writer_close(w2, NULL), 0);
    int closed;
    ck_assert_uint_eq(read_cells(p, NULL, &closed), 3);
    unlink(p);
    free(p);
}
END_TEST

/* A file written by an older minor version: its header says the newer one
 * once the appender's records are in it. */
START_TEST(older_minor_raised) {
    char *p = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_append(p, NULL, &w, NULL), 0);
    add_cells(w, 1, 1, 2);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    size_t n;
    unsigned char *b = slurp(p, &n);
    b[10] = 2;
    b[11] = 0;
    spit(p, b, n);
    free(b);
    ck_assert_uint_eq(header_minor(p), 2);
    ck_assert_int_eq(mt_writer_append(p, NULL, &w, NULL), 0);
    add_cells(w, 2, 3, 1);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    ck_assert_uint_eq(header_minor(p), MT_FORMAT_MINOR);
    int closed;
    ck_assert_uint_eq(read_cells(p, NULL, &closed), 3);
    unlink(p);
    free(p);
}
END_TEST

/* More odd files: a closed file with bytes after its trailer (an index
 * that does not end the file), a header cut short, a FIFO; each refused
 * with its code, with and without a diag. And a long log (over 64 blocks,
 * past the first index allocation) appended to and read back whole. */
START_TEST(odd_files_and_a_long_log) {
    char *p = tmp_path();
    mt_writer *w;
    mt_diag d;
    ck_assert_int_eq(mt_writer_append(p, &small, &w, NULL), 0);
    add_cells(w, 1, 1, 400);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_reader *r;
    ck_assert_int_eq(mt_reader_open(p, &r, NULL), 0);
    ck_assert_uint_gt(mt_reader_block_count(r), 64);
    mt_reader_free(r);
    ck_assert_int_eq(mt_writer_append(p, &small, &w, NULL), 0);
    add_cells(w, 2, 401, 3);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    int closed;
    ck_assert_uint_eq(read_cells(p, NULL, &closed), 403);
    size_t n;
    unsigned char *b = slurp(p, &n);
    unsigned char *more = calloc(n + 100, 1);
    memcpy(more, b, n);
    spit(p, more, n + 100);
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_writer_append(p, &small, &w, &d), MT_E_DAMAGED);
    ck_assert_ptr_nonnull(strstr(d.msg, "not a trailer"));
    ck_assert_str_eq(d.file, p);
    ck_assert_int_eq(mt_writer_append(p, &small, &w, NULL), MT_E_DAMAGED);
    spit(p, b, 5); /* a header cut short */
    ck_assert_int_eq(mt_writer_append(p, NULL, &w, &d), MT_E_NOTSNAP);
    ck_assert_int_eq(mt_writer_append(p, NULL, &w, NULL), MT_E_NOTSNAP);
    unlink(p);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    ck_assert_int_eq(mt_writer_append(p, NULL, &w, &d), MT_E_IO);
    ck_assert_ptr_nonnull(strstr(d.msg, "not a regular file"));
    unlink(p);
    ck_assert_int_eq(mt_writer_append("/nonexistent-dir/x.snap", NULL, &w, NULL), MT_E_IO);
    free(more);
    free(b);
    free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("append");
    TCase *t = tcase_create("append");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, creates_then_extends);
    tcase_add_test(t, missing_file_is_created);
    tcase_add_test(t, after_a_crash);
    tcase_add_test(t, torn_tail_dropped);
    tcase_add_test(t, damaged_header_refused);
    tcase_add_test(t, not_a_snapshot_refused);
    tcase_add_test(t, second_writer_busy);
    tcase_add_test(t, older_minor_raised);
    tcase_add_test(t, odd_files_and_a_long_log);
    suite_add_tcase(s, t);
    return run_suite(s);
}
