/* Shared by the Check suites: temporary files and whole-file I/O. */
#ifndef MT_TEST_HELPERS_H
#define MT_TEST_HELPERS_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh path under $TMPDIR (or /tmp); the caller unlinks it. */
static inline char *tmp_path(void) {
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *p = malloc(strlen(dir) + 32);
    sprintf(p, "%s/mt-test-XXXXXX", dir);
    int fd = mkstemp(p);
    ck_assert_int_ge(fd, 0);
    close(fd);
    return p;
}

static inline unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static inline void spit(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Imports a JSON heap document from a string into out. Needs
 * memtrace/analyze.h before this header. */
#ifdef MEMTRACE_HEAPJSON_H
static inline int import_str(const char *json, const char *out, mt_diag *d) {
    FILE *f = fmemopen((void *)json, strlen(json), "r");
    mt_diag_clear(d);
    int rc = mt_heapjson_import(f, out, d);
    fclose(f);
    return rc;
}
#endif

static inline int run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
