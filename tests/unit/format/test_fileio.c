/* fileio.h: bounded input reading and replace-on-success outputs, against
 * the cases issue 30 found: devices, FIFOs with no writer, endless pipes,
 * non-magic bytes, /proc files, a failed write over an existing file, a
 * device as the output. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include "memtrace/fileio.h"
#include "memtrace/format.h"
#include "../helpers.h"

static double seconds_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

START_TEST(regular_file_is_read_whole_with_a_nul_after) {
    char *p = tmp_path();
    spit(p, "hello", 5);
    uint8_t *b;
    size_t n;
    ck_assert_int_eq(mt_input_read(p, NULL, &b, &n, NULL), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(b, "hello", 6), 0); /* the NUL included */
    free(b);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(a_file_over_the_bound_is_refused_before_reading) {
    char *p = tmp_path();
    spit(p, "0123456789", 10);
    mt_input_opts o = { .max_bytes = 9 };
    uint8_t *b = (uint8_t *)1;
    size_t n;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_input_read(p, &o, &b, &n, &d), MT_E_LIMIT);
    ck_assert_ptr_null(b);
    ck_assert_str_eq(d.msg, "the file has 10 bytes, more than the 9 this reader takes");
    o.max_bytes = 10;
    ck_assert_int_eq(mt_input_read(p, &o, &b, &n, &d), 0);
    free(b);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(devices_are_refused_unless_asked) {
    uint8_t *b;
    size_t n;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_input_read("/dev/zero", NULL, &b, &n, &d), MT_E_IO);
    ck_assert_str_eq(d.msg, "cannot read: a character device, not a regular file or a pipe");
    ck_assert_int_eq(mt_input_read("/tmp", NULL, &b, &n, &d), MT_E_IO);
    ck_assert_str_eq(d.msg, "cannot read: Is a directory");
    /* Asked for, a device is read up to the bound, not until memory ends. */
    mt_input_opts o = { .max_bytes = 1 << 20, .allow_special = 1 };
    ck_assert_int_eq(mt_input_read("/dev/zero", &o, &b, &n, &d), MT_E_LIMIT);
    ck_assert_str_eq(d.msg, "the input is larger than the 1048576 bytes this reader takes");
    /* ... and with a magic, refused at its first bytes. */
    o.magic = "\x89MTS";
    o.magic_len = 4;
    ck_assert_int_eq(mt_input_read("/dev/zero", &o, &b, &n, &d), MT_E_NOTSNAP);
}
END_TEST

START_TEST(proc_files_are_read_to_their_end) {
    /* st_size is 0 for /proc files; they are not empty. */
    uint8_t *b;
    size_t n;
    ck_assert_int_eq(mt_input_read("/proc/self/status", NULL, &b, &n, NULL), 0);
    ck_assert_uint_gt(n, 100);
    ck_assert_ptr_nonnull(strstr((char *)b, "Pid:"));
    free(b);
}
END_TEST

START_TEST(a_fifo_with_no_writer_times_out) {
    char *p = tmp_path();
    unlink(p);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    mt_input_opts o = { .idle_ms = 300 };
    uint8_t *b;
    size_t n;
    mt_diag d;
    mt_diag_clear(&d);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(mt_input_read(p, &o, &b, &n, &d), MT_E_IO);
    double s = seconds_since(&t0);
    ck_assert_double_ge(s, 0.25);
    ck_assert_double_lt(s, 5.0);
    ck_assert_str_eq(d.msg, "no data for 300 ms (a pipe or FIFO with no writer?); giving up");
    unlink(p);
    free(p);
}
END_TEST

START_TEST(a_fifo_with_a_writer_is_read_to_its_end) {
    char *p = tmp_path();
    unlink(p);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(p, O_WRONLY);
        for (int i = 0; i < 100; i++) {
            char line[32];
            int k = snprintf(line, sizeof line, "line %d\n", i);
            if (write(fd, line, (size_t)k) != k) _exit(1);
            if (i == 50) usleep(100000); /* a pause shorter than the time-out */
        }
        _exit(0);
    }
    mt_input_opts o = { .idle_ms = 3000 };
    uint8_t *b;
    size_t n;
    ck_assert_int_eq(mt_input_read(p, &o, &b, &n, NULL), 0);
    ck_assert_ptr_nonnull(strstr((char *)b, "line 99\n"));
    free(b);
    int st;
    waitpid(pid, &st, 0);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(an_endless_pipe_stops_at_the_bound_or_the_magic) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        char z[4096] = { 0 };
        for (;;)
            if (write(fds[1], z, sizeof z) < 0) _exit(0);
    }
    close(fds[1]);
    int saved = dup(0);
    dup2(fds[0], 0);
    close(fds[0]);
    mt_input_opts o = { .max_bytes = 1 << 20 };
    uint8_t *b;
    size_t n;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_input_read("-", &o, &b, &n, &d), MT_E_LIMIT);
    o.magic = "\x89MTS\r\n\x1a\n";
    o.magic_len = 8;
    ck_assert_int_eq(mt_input_read("-", &o, &b, &n, &d), MT_E_NOTSNAP);
    ck_assert_str_eq(d.msg, "not a memtrace snapshot: the first 8 bytes are not its magic");
    dup2(saved, 0);
    close(saved);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}
END_TEST

START_TEST(an_aborted_output_leaves_the_target_as_it_was) {
    char *p = tmp_path();
    spit(p, "earlier", 7);
    chmod(p, 0640);
    mt_output o;
    ck_assert_int_eq(mt_output_open(&o, p, NULL), 0);
    ck_assert_ptr_nonnull(o.tmp);
    ck_assert_int_eq(write(o.fd, "new", 3), 3);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", o.tmp);
    mt_output_abort(&o);
    size_t n;
    unsigned char *b = slurp(p, &n);
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(memcmp(b, "earlier", 7), 0);
    free(b);
    ck_assert_int_ne(access(tmp, F_OK), 0); /* no temporary file left */
    /* Committed, the target is replaced whole and keeps its mode. */
    ck_assert_int_eq(mt_output_open(&o, p, NULL), 0);
    ck_assert_int_eq(write(o.fd, "new", 3), 3);
    ck_assert_int_eq(mt_output_commit(&o, NULL), 0);
    b = slurp(p, &n);
    ck_assert_uint_eq(n, 3);
    free(b);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0640);
    unlink(p);
    free(p);
}
END_TEST

/* A valid name of NAME_MAX bytes: ".NAME.XXXXXX" would be too long, so
 * the temporary file beside it takes a short name (it failed with "File
 * name too long"). */
START_TEST(a_name_at_name_max_gets_a_short_temporary_name) {
    char dir[] = "/tmp/test_fileio.XXXXXX", path[4096];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    long max = pathconf(dir, _PC_NAME_MAX);
    if (max <= 0 || max > 1000) max = 255;
    int len = snprintf(path, sizeof path, "%s/", dir);
    for (long i = 0; i < max - 4; i++) path[len++] = 'a';
    strcpy(path + len, ".png");
    mt_output o;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_msg(mt_output_open(&o, path, &d) == 0, "%s", d.msg);
    ck_assert_ptr_nonnull(o.tmp);
    ck_assert_int_eq(strncmp(o.tmp, dir, strlen(dir)), 0); /* beside the target */
    ck_assert_int_eq(write(o.fd, "new", 3), 3);
    ck_assert_int_eq(mt_output_commit(&o, &d), 0);
    size_t n;
    unsigned char *b = slurp(path, &n);
    ck_assert_uint_eq(n, 3);
    free(b);
    unlink(path);
    /* One byte shorter than the bound still gets the descriptive name. */
    strcpy(path + len - 8, ".png");
    ck_assert_int_eq(mt_output_open(&o, path, &d), 0);
    ck_assert_ptr_nonnull(strstr(o.tmp, "/.aaaa"));
    mt_output_abort(&o);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(a_link_is_followed_and_kept) {
    char *p = tmp_path();
    spit(p, "x", 1);
    char link[4096];
    snprintf(link, sizeof link, "%s.link", p);
    ck_assert_int_eq(symlink(p, link), 0);
    FILE *f;
    mt_output o;
    ck_assert_int_eq(mt_output_fopen(&o, link, &f, NULL), 0);
    fputs("through the link", f);
    ck_assert_int_eq(mt_output_fclose(&o, f, 1, NULL), 0);
    struct stat st;
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    size_t n;
    unsigned char *b = slurp(p, &n);
    ck_assert_uint_eq(n, 16);
    free(b);
    unlink(link);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(a_device_output_is_written_in_place_never_replaced) {
    mt_output o;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_output_open(&o, "/dev/null", &d), 0);
    ck_assert_ptr_null(o.tmp);
    ck_assert_int_eq(write(o.fd, "x", 1), 1);
    ck_assert_int_eq(mt_output_commit(&o, &d), 0);
    struct stat st;
    ck_assert_int_eq(stat("/dev/null", &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
    /* The snapshot writer on /dev/full: the error, and the device kept. */
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open("/dev/full", NULL, &w, &d), MT_E_IO);
    ck_assert_int_eq(stat("/dev/full", &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
    ck_assert_int_eq(mt_output_open(&o, "/tmp", &d), MT_E_IO);
    ck_assert_str_eq(d.msg, "cannot create: Is a directory");
}
END_TEST

START_TEST(a_failed_snapshot_write_keeps_the_earlier_file) {
    char *p = tmp_path();
    spit(p, "earlier snapshot", 16);
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(p, NULL, &w, NULL), 0);
    mt_type ty = { 1, mt_str_c("dict") };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_TYPE, &ty), 0);
    ck_assert_int_eq(mt_writer_flush(w), 0);
    mt_writer_abandon(w); /* as after a MemoryError or a full disk */
    size_t n;
    unsigned char *b = slurp(p, &n);
    ck_assert_uint_eq(n, 16);
    ck_assert_int_eq(memcmp(b, "earlier snapshot", 16), 0);
    free(b);
    /* publish_on_flush: after the first flush, the target holds the new file. */
    mt_writer_opts wo = { .publish_on_flush = 1 };
    ck_assert_int_eq(mt_writer_open(p, &wo, &w, NULL), 0);
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_TYPE, &ty), 0);
    b = slurp(p, &n);
    ck_assert_uint_eq(n, 16); /* not yet */
    free(b);
    ck_assert_int_eq(mt_writer_flush(w), 0);
    b = slurp(p, &n);
    ck_assert_int_eq(memcmp(b, "\x89MTS", 4), 0);
    free(b);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    unlink(p);
    free(p);
}
END_TEST

START_TEST(a_fifo_output_with_no_reader_is_given_up) {
    char *p = tmp_path();
    unlink(p);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    mt_output o;
    mt_diag d;
    mt_diag_clear(&d);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(mt_output_open(&o, p, &d), MT_E_IO);
    double s = seconds_since(&t0);
    ck_assert_double_ge(s, MT_INPUT_IDLE_MS_DEFAULT / 1000.0 - 0.5);
    ck_assert_double_lt(s, MT_INPUT_IDLE_MS_DEFAULT / 1000.0 + 5);
    ck_assert_str_eq(d.msg, "no reader opened the FIFO within 10000 ms; giving up");
    /* With a reader, the FIFO gets the bytes and stays a FIFO. */
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(p, O_RDONLY);
        char buf[16];
        ssize_t k = read(fd, buf, sizeof buf);
        _exit(k == 5 && !memcmp(buf, "hello", 5) ? 0 : 1);
    }
    ck_assert_int_eq(mt_output_open(&o, p, &d), 0);
    ck_assert_ptr_null(o.tmp);
    ck_assert_int_eq(write(o.fd, "hello", 5), 5);
    ck_assert_int_eq(mt_output_commit(&o, &d), 0);
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct stat sb;
    ck_assert_int_eq(stat(p, &sb), 0);
    ck_assert(S_ISFIFO(sb.st_mode));
    unlink(p);
    free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fileio");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, regular_file_is_read_whole_with_a_nul_after);
    tcase_add_test(tc, a_file_over_the_bound_is_refused_before_reading);
    tcase_add_test(tc, devices_are_refused_unless_asked);
    tcase_add_test(tc, proc_files_are_read_to_their_end);
    tcase_add_test(tc, a_fifo_with_no_writer_times_out);
    tcase_add_test(tc, a_fifo_with_a_writer_is_read_to_its_end);
    tcase_add_test(tc, an_endless_pipe_stops_at_the_bound_or_the_magic);
    tcase_add_test(tc, an_aborted_output_leaves_the_target_as_it_was);
    tcase_add_test(tc, a_name_at_name_max_gets_a_short_temporary_name);
    tcase_add_test(tc, a_link_is_followed_and_kept);
    tcase_add_test(tc, a_device_output_is_written_in_place_never_replaced);
    tcase_add_test(tc, a_failed_snapshot_write_keeps_the_earlier_file);
    tcase_add_test(tc, a_fifo_output_with_no_reader_is_given_up);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
