/* A fake root directory for the sampler's readers: proc/PID/... and
 * sys/fs/cgroup/... files written by the test. */
#ifndef MT_TEST_FAKEROOT_H
#define MT_TEST_FAKEROOT_H

#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline char *fake_root(void) {
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *p = malloc(strlen(dir) + 32);
    sprintf(p, "%s/mt-root-XXXXXX", dir);
    ck_assert_ptr_nonnull(mkdtemp(p));
    return p;
}

/* Writes root/rel, making its directories; text replaces the file whole
 * through a rename, so a sampler reading it meanwhile sees old or new. */
static inline void fake_file(const char *root, const char *rel, const char *text) {
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        ck_assert(mkdir(path, 0700) == 0 || errno == EEXIST);
        *s = '/';
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(rename(tmp, path), 0);
}

static inline void rm_tree(const char *root) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

/* A status file as the kernel writes it, with VmRSS and VmSwap in kB. */
static inline void fake_status(const char *root, int pid, const char *state, unsigned long rss_kb,
                               unsigned long swap_kb) {
    char rel[64], text[512];
    snprintf(rel, sizeof rel, "proc/%d/status", pid);
    snprintf(text, sizeof text,
             "Name:\tfake\nUmask:\t0022\nState:\t%s\nTgid:\t%d\nPid:\t%d\nVmPeak:\t  999999 kB\n"
             "VmRSS:\t%8lu kB\nRssAnon:\t    1 kB\nVmSwap:\t%8lu kB\nThreads:\t1\n",
             state, pid, pid, rss_kb, swap_kb);
    fake_file(root, rel, text);
}

static inline void fake_rollup(const char *root, int pid, unsigned long pss, unsigned long clean,
                               unsigned long dirty) {
    char rel[64], text[512];
    snprintf(rel, sizeof rel, "proc/%d/smaps_rollup", pid);
    snprintf(text, sizeof text,
             "55d0c0000000-7ffd00000000 ---p 00000000 00:00 0                          [rollup]\n"
             "Rss:               99999 kB\nPss:             %6lu kB\nPss_Dirty:          1 kB\n"
             "Shared_Clean:       77 kB\nShared_Dirty:        0 kB\nPrivate_Clean:    %6lu kB\n"
             "Private_Dirty:    %6lu kB\nSwap:                0 kB\n",
             pss, clean, dirty);
    fake_file(root, rel, text);
}

static inline void fake_children(const char *root, int pid, const char *children) {
    char rel[64];
    snprintf(rel, sizeof rel, "proc/%d/task/%d/children", pid, pid);
    fake_file(root, rel, children);
}

extern char **environ;

/* Starts mt-hold (MT_HOLD, built by CMake) with argv, its standard output
 * a pipe whose read end goes to *out (mt-hold writes "held\n" once it
 * holds its memory). @return its pid. */
static inline pid_t spawn_hold(char *const argv[], int *out) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t child;
    ck_assert_int_eq(posix_spawn(&child, MT_HOLD, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    *out = fds[0];
    return child;
}

/* Clears every FAKE_NVML_* and sets the pairs given (name, value, ...,
 * NULL): each test says its whole configuration of
 * the fake libnvidia-ml.so.1 (fake_nvml.c). */
static inline void fake_env(const char *first, ...) {
    static const char *const all[] = { "FAKE_NVML_DEVICES", "FAKE_NVML_USED", "FAKE_NVML_FAIL", "FAKE_NVML_MEM_V2",
                                       "FAKE_NVML_PROC_V2", "FAKE_NVML_PROCS", "FAKE_NVML_SLEEP_MS" };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) unsetenv(all[i]);
    va_list ap;
    va_start(ap, first);
    for (const char *k = first; k; k = va_arg(ap, const char *)) setenv(k, va_arg(ap, const char *), 1);
    va_end(ap);
}

#endif
