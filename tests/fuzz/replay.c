/* Replays files through a fuzz target's LLVMFuzzerTestOneInput without
 * libFuzzer, so that the normal and the sanitizer builds (gcc) run every
 * target's seeds and regression files as CTest tests (label fuzz-replay).
 *
 *   replay_<target> [-t SECONDS] [-m MIB] FILE|DIR...
 *
 * A directory is replayed file by file in name order (README* and dot files
 * skipped). Each input is bounded like a libFuzzer run with -timeout and
 * -rss_limit_mb: past -t seconds (default 10, 30 under ASan, or
 * $MT_REPLAY_TIMEOUT) or
 * once the heap it holds passes -m MiB (default 2048, or $MT_REPLAY_MIB),
 * the replay names the file and aborts. The seconds are CPU seconds (the
 * process's user and system time, ITIMER_PROF), so that a machine busy
 * with other work does not turn a slow wall clock into a finding; a
 * wall-clock bound ten times as long still catches an input that blocks. An input that makes a reader
 * allocate gigabytes is a finding, not a skipped case: the heap bound is
 * counted on every malloc, calloc, realloc and free of the code under test
 * (linked with -Wl,--wrap), so it fails even when the allocation would
 * have succeeded. Outside AddressSanitizer, RLIMIT_AS also caps the
 * process at four times the bound, to protect the machine.
 * Each input runs in a child process (MT_REPLAY_NOFORK=1: in the replay's
 * own, for a debugger), so every finding is reported ("FINDING: killed by
 * signal ..."), not only the first.
 * Exit: 0 when every input ran cleanly, 1 when one did not (a finding, a
 * read error) or on a usage error. */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* Structure-aware targets call libFuzzer's mutator; never during a replay. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) {
    (void)data, (void)max_size;
    return size;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifdef UNDER_ASAN
/* A backstop for what the wrapped allocator does not see (libzstd's and
 * libyaml's own buffers); ASAN_OPTIONS from the environment still win. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "hard_rss_limit_mb=8192"; }
#endif

static const char *current = "(none)";
static size_t limit_bytes = (size_t)2048 << 20;
static size_t live, peak;
static int counting;

static void die(const char *what) {
    /* async-signal-safe: no stdio */
    const char *parts[] = { "replay: ", current, ": ", what, "\n" };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (write(2, parts[i], strlen(parts[i])) < 0) break;
    abort();
}

static void on_alarm(int sig) {
    (void)sig;
    die("ran past the time bound (a hang, or work out of proportion to the input)");
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static void account(size_t add, size_t sub) {
    if (!counting) return;
    live = sub > live ? 0 : live - sub; /* a pointer from an unwrapped allocator */
    live += add;
    if (live > peak) peak = live;
    if (live > limit_bytes) {
        counting = 0;
        die("the heap passed the replay's memory bound (allocation out of proportion to the input)");
    }
}

static void refuse_huge(size_t n) {
    if (counting && n > limit_bytes) {
        counting = 0;
        die("one allocation asked for more than the replay's memory bound");
    }
}

void *__wrap_malloc(size_t n) {
    refuse_huge(n);
    void *p = __real_malloc(n);
    if (p) account(malloc_usable_size(p), 0);
    return p;
}

void *__wrap_calloc(size_t k, size_t n) {
    if (n && k > SIZE_MAX / n) return NULL;
    refuse_huge(k * n);
    void *p = __real_calloc(k, n);
    if (p) account(malloc_usable_size(p), 0);
    return p;
}

void *__wrap_realloc(void *p, size_t n) {
    refuse_huge(n);
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = __real_realloc(p, n);
    if (q) account(malloc_usable_size(q), old);
    else if (!n) account(0, old);
    return q;
}

void __wrap_free(void *p) {
    if (p) account(0, malloc_usable_size(p));
    __real_free(p);
}

/* Runs one input; in a child process unless MT_REPLAY_NOFORK is set, so
 * that one finding does not hide the next (the child's abort or signal is
 * reported and the replay goes on). */
static int run_file(const char *path, unsigned seconds) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0, k;
    uint8_t *data = __real_malloc(cap);
    while (data && (k = fread(data + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) data = __real_realloc(data, cap *= 2);
    }
    int bad = !data || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: %s: cannot read it\n", path);
        __real_free(data);
        return -1;
    }
    /* Exactly the input's bytes, as libFuzzer hands them over. */
    uint8_t *copy = __real_malloc(n ? n : 1);
    memcpy(copy, data, n);
    __real_free(data);
    current = path;
    live = peak = 0;
    struct itimerval cpu = { { 0, 0 }, { (time_t)seconds, 0 } }, off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_PROF, &cpu, NULL);
    alarm(seconds * 10);
    counting = 1;
    LLVMFuzzerTestOneInput(copy, n);
    counting = 0;
    alarm(0);
    setitimer(ITIMER_PROF, &off, NULL);
    __real_free(copy);
    printf("%s: %zu bytes, heap peak %zu KiB\n", path, n, peak >> 10);
    fflush(stdout);
    return 0;
}

static int forking = 1;

static int replay_file(const char *path, unsigned seconds) {
    if (!forking) return run_file(path, seconds);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return run_file(path, seconds);
    if (pid == 0) _exit(run_file(path, seconds) ? 2 : 0);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    if (WIFSIGNALED(st))
        fprintf(stderr, "replay: %s: FINDING: killed by signal %d (%s)\n", path, WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (WEXITSTATUS(st) != 2)
        fprintf(stderr, "replay: %s: FINDING: exit status %d\n", path, WEXITSTATUS(st));
    return -1;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int replay_path(const char *path, unsigned seconds, size_t *done) {
    struct stat st;
    if (stat(path, &st)) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        ++*done;
        return replay_file(path, seconds);
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strncmp(e->d_name, "README", 6)) continue;
        names = __real_realloc(names, (n + 1) * sizeof *names);
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[n] = __real_malloc(len);
        snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, by_name);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (replay_path(names[i], seconds, done)) rc = -1;
        __real_free(names[i]);
    }
    __real_free(names);
    return rc;
}

static unsigned long env_or(const char *name, unsigned long dflt) {
    const char *v = getenv(name);
    return v && *v ? strtoul(v, NULL, 10) : dflt;
}

int main(int argc, char **argv) {
#ifdef UNDER_ASAN
    unsigned seconds = (unsigned)env_or("MT_REPLAY_TIMEOUT", 30); /* ASan runs code 2-3 times slower */
#else
    unsigned seconds = (unsigned)env_or("MT_REPLAY_TIMEOUT", 10);
#endif
    unsigned long mib = env_or("MT_REPLAY_MIB", 2048);
    int opt;
    while ((opt = getopt(argc, argv, "t:m:")) != -1) {
        if (opt == 't') seconds = (unsigned)strtoul(optarg, NULL, 10);
        else if (opt == 'm') mib = strtoul(optarg, NULL, 10);
        else {
            fprintf(stderr, "usage: %s [-t SECONDS] [-m MIB] FILE|DIR...\n", argv[0]);
            return 1;
        }
    }
    if (optind >= argc || !seconds || !mib) {
        fprintf(stderr, "usage: %s [-t SECONDS] [-m MIB] FILE|DIR...\n", argv[0]);
        return 1;
    }
    limit_bytes = (size_t)mib << 20;
    forking = !getenv("MT_REPLAY_NOFORK");
#ifndef UNDER_ASAN
    struct rlimit rl = { (rlim_t)limit_bytes * 4, (rlim_t)limit_bytes * 4 };
    setrlimit(RLIMIT_AS, &rl);
#endif
    signal(SIGALRM, on_alarm);
    signal(SIGPROF, on_alarm);
    size_t done = 0;
    int rc = 0;
    for (int i = optind; i < argc; i++)
        if (replay_path(argv[i], seconds, &done)) rc = 1;
    printf("replayed %zu inputs%s\n", done, rc ? ", not all cleanly" : "");
    return rc;
}
