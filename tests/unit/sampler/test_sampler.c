/* The sampler thread end to end, read back from its run file with the
 * formats reader: a process of known memory (mt-hold) seen rising by what
 * it allocated; a file rewritten (thinned) while a follower opens it at
 * random moments; alerts, peaks, a vanished target and the gpu series
 * through a fake root and a fake NVML; the start's refusals. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include "memtrace/format.h"
#include "sampler.h"
#include "fakeroot.h"
#include "../helpers.h"


/* ------------------------------------------------------------------ */
/* The file, read back.                                                 */

typedef struct rec {
    char series[32], kind[16], name[64], detail[64];
    uint64_t t, span, count;
    double v, min, max;
} rec;

typedef struct loaded {
    rec *samples, *events;
    size_t ns, ne;
    char tool[64], command[64];
    uint64_t pid, interval, mem_total, start_time;
    int closed;
} loaded;

static void copy(char *dst, size_t n, mt_str s) {
    snprintf(dst, n, "%.*s", (int)s.len, s.ptr ? s.ptr : "");
}

/* Reads path whole; growing: as a follower does. @return the open's code. */
static int load(const char *path, int growing, loaded *L) {
    memset(L, 0, sizeof *L);
    mt_reader *r;
    mt_diag d;
    int rc = growing ? mt_reader_open_growing(path, &r, &d) : mt_reader_open(path, &r, &d);
    if (rc) return rc;
    ck_assert_msg(mt_reader_damage_count(r) == 0, "%s: damage: %s", path, mt_reader_damage(r, 0)->msg);
    L->closed = mt_reader_closed(r);
    size_t cap_s = 0, cap_e = 0;
    for (size_t b = 0; b < mt_reader_block_count(r); b++) {
        mt_cursor c;
        ck_assert_int_eq(mt_reader_block_open(r, b, &c, &d), 0);
        mt_record x;
        int k;
        while ((k = mt_cursor_next(&c, &x.u, &d)) == 1) {
            if (c.kind == MT_KIND_META) {
                mt_meta *m = &x.u.meta;
                char key[32];
                copy(key, sizeof key, m->key);
                if (!strcmp(key, "tool")) copy(L->tool, sizeof L->tool, m->value.v.s);
                if (!strcmp(key, "command")) copy(L->command, sizeof L->command, m->value.v.s);
                if (!strcmp(key, "pid")) L->pid = m->value.v.u;
                if (!strcmp(key, "interval_ns")) L->interval = m->value.v.u;
                if (!strcmp(key, "mem_total")) L->mem_total = m->value.v.u;
                if (!strcmp(key, "start_time")) L->start_time = m->value.v.u;
            } else if (c.kind == MT_KIND_SAMPLE) {
                if (L->ns == cap_s) L->samples = realloc(L->samples, (cap_s = cap_s * 2 + 256) * sizeof(rec));
                rec *o = &L->samples[L->ns++];
                memset(o, 0, sizeof *o);
                mt_sample *s = &x.u.sample;
                copy(o->series, sizeof o->series, s->series);
                copy(o->name, sizeof o->name, s->step);
                o->t = s->time_ns, o->span = s->span_ns, o->v = s->value;
                o->min = s->span_ns ? s->min : s->value;
                o->max = s->span_ns ? s->max : s->value;
                o->count = s->span_ns ? s->count : 1;
            } else if (c.kind == MT_KIND_EVENT) {
                if (L->ne == cap_e) L->events = realloc(L->events, (cap_e = cap_e * 2 + 16) * sizeof(rec));
                rec *o = &L->events[L->ne++];
                memset(o, 0, sizeof *o);
                mt_event *e = &x.u.event;
                copy(o->kind, sizeof o->kind, e->kind);
                copy(o->name, sizeof o->name, e->name);
                copy(o->detail, sizeof o->detail, e->detail);
                o->t = e->time_ns, o->v = e->value;
            }
        }
        ck_assert_msg(k == 0, "%s: block %zu: %s", path, b, d.msg);
    }
    mt_reader_free(r);
    return 0;
}

static void unload(loaded *L) {
    free(L->samples);
    free(L->events);
}

static int by_t(const void *a, const void *b) {
    const rec *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* The records of one series in time order into out; their number. */
static size_t series_of(const loaded *L, const char *name, rec *out) {
    size_t n = 0;
    for (size_t i = 0; i < L->ns; i++)
        if (!strcmp(L->samples[i].series, name)) out[n++] = L->samples[i];
    qsort(out, n, sizeof *out, by_t);
    return n;
}

static const rec *event_of(const loaded *L, const char *kind, size_t nth) {
    for (size_t i = 0; i < L->ne; i++)
        if (!strcmp(L->events[i].kind, kind) && nth-- == 0) return &L->events[i];
    return NULL;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */

/* mt-hold 64 MiB: the rss the sampler recorded rises by 64 MiB (within
 * 5%: page tables, the allocator's header), and -p's process ending is
 * seen as the target gone, the file ending cleanly. */
START_TEST(a_known_allocation_is_seen_in_the_file) {
    char *argv[] = {"mt-hold", "64", "1200", "400", NULL};
    int out;
    pid_t child = spawn_hold(argv, &out);

    char *path = tmp_path();
    mt_sampler_config cfg = {0};
    cfg.path = path;
    cfg.interval_ns = 10000000;
    cfg.pid = child;
    cfg.nvml_lib = "";
    cfg.tool = "test_sampler";
    cfg.command = "mt-hold 64 1200 400";
    mt_sampler *s;
    mt_diag d;
    ck_assert_msg(mt_sampler_start(&cfg, &s, &d) == 0, "%s", d.msg);
    char line[16] = {0};
    ck_assert_int_eq(read(out, line, 5), 5);
    ck_assert_str_eq(line, "held\n");
    /* The process ends; unreaped, it is a zombie: gone for the sampler. */
    double dead = now_s() + 20;
    while (!mt_sampler_target_gone(s) && now_s() < dead) sleep_ms(10);
    ck_assert_int_eq(mt_sampler_target_gone(s), 1);
    int st;
    ck_assert_int_eq(waitpid(child, &st, 0), child);
    close(out);
    ck_assert_int_eq(mt_sampler_stop(s, WEXITSTATUS(st), &d), 0);

    loaded L;
    ck_assert_int_eq(load(path, 0, &L), 0);
    ck_assert_int_eq(L.closed, 1);
    ck_assert_str_eq(L.tool, "test_sampler");
    ck_assert_str_eq(L.command, "mt-hold 64 1200 400");
    ck_assert_uint_eq(L.pid, (uint64_t)child);
    ck_assert_uint_eq(L.interval, 10000000);
    ck_assert_uint_gt(L.mem_total, 0);
    ck_assert_ptr_nonnull(event_of(&L, "start", 0));
    ck_assert_str_eq(event_of(&L, "start", 0)->name, "mt-hold 64 1200 400");
    ck_assert_ptr_nonnull(event_of(&L, "exit", 0));
    ck_assert(event_of(&L, "exit", 0)->v == 0);
    rec *r = malloc(L.ns * sizeof *r);
    size_t n = series_of(&L, "rss", r);
    ck_assert_uint_gt(n, 20);
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < n; i++) lo = fmin(lo, r[i].v), hi = fmax(hi, r[i].v);
    /* The baseline: the last sample before the rise began. */
    double base = lo;
    for (size_t i = 0; i < n && r[i].v < lo + 1048576.0; i++) base = r[i].v;
    double rise = hi - base, want = 64.0 * 1048576.0;
    ck_assert_msg(fabs(rise - want) <= 0.05 * want, "rss rose %.1f MiB, want 64", rise / 1048576.0);
    ck_assert_uint_gt(series_of(&L, "mem.available", r), 0);
    ck_assert_uint_gt(series_of(&L, "swap", r), 0);
    ck_assert_uint_eq(series_of(&L, "gpu0.used", r), 0);
    free(r);
    unload(&L);
    unlink(path);
    free(path);
}
END_TEST

/* ------------------------------------------------------------------ */

static int extra_calls; /* atomic */

static void extra(void *ctx, mt_sampler *s, uint64_t t) {
    int n = __atomic_add_fetch(&extra_calls, 1, __ATOMIC_RELAXED);
    ck_assert_int_eq(mt_sampler_point(s, "extra.n", t, n), 0);
}

/* point_tier 15 at 10 ms: the file is rewritten every 150 ms while the
 * test opens it as a follower at random moments: every opening reads a
 * whole file. At the end the counts of the rss buckets and points add up
 * to the samples taken, and no two overlap. */
START_TEST(a_file_rewritten_while_followed_is_always_readable) {
    char *path = tmp_path();
    mt_sampler_config cfg = {0};
    cfg.path = path;
    cfg.interval_ns = 10000000;
    cfg.flush_ns = 30000000;
    cfg.point_tier = 15;
    cfg.nvml_lib = "";
    cfg.extra = extra;
    __atomic_store_n(&extra_calls, 0, __ATOMIC_RELAXED);
    mt_sampler *s;
    mt_diag d;
    ck_assert_msg(mt_sampler_start(&cfg, &s, &d) == 0, "%s", d.msg);
    struct stat st0;
    ck_assert_int_eq(stat(path, &st0), 0);
    int opened = 0, inode_changed = 0;
    unsigned seed = 12345;
    double end = now_s() + 2.5;
    while (now_s() < end) {
        loaded L;
        ck_assert_int_eq(load(path, 1, &L), 0);
        ck_assert_str_eq(L.tool, "memtrace-sampler");
        ck_assert_ptr_nonnull(event_of(&L, "start", 0));
        opened++;
        unload(&L);
        struct stat st;
        if (stat(path, &st) == 0 && st.st_ino != st0.st_ino) inode_changed = 1;
        if (opened % 5 == 0) mt_sampler_event(s, "note", "from the test", opened, NULL);
        seed = seed * 1103515245u + 12345u;
        sleep_ms((long)(seed >> 16) % 40);
    }
    const char *names[64];
    double values[64];
    size_t nseries = mt_sampler_latest(s, names, values, 64);
    int has_rss = 0;
    for (size_t i = 0; i < nseries && i < 64; i++) has_rss |= !strcmp(names[i], "rss") && values[i] > 0;
    ck_assert_int_eq(has_rss, 1);
    ck_assert_int_eq(mt_sampler_stop(s, -1, &d), 0);
    ck_assert_int_ge(opened, 10);
    ck_assert_int_eq(inode_changed, 1);

    loaded L;
    ck_assert_int_eq(load(path, 0, &L), 0);
    ck_assert_int_eq(L.closed, 1);
    ck_assert_ptr_null(event_of(&L, "exit", 0)); /* status -1: none */
    ck_assert_ptr_nonnull(event_of(&L, "note", 0));
    rec *r = malloc(L.ns * sizeof *r);
    size_t n = series_of(&L, "rss", r);
    uint64_t total = 0;
    int buckets = 0;
    for (size_t i = 0; i < n; i++) {
        total += r[i].count;
        buckets += r[i].span > 0;
        if (i) ck_assert_uint_ge(r[i].t, r[i - 1].t + (r[i - 1].span ? r[i - 1].span : 1));
        ck_assert(r[i].min <= r[i].v && r[i].v <= r[i].max);
    }
    /* The start's sample, one per extra call, and the stop's. */
    ck_assert_uint_eq(total, (uint64_t)__atomic_load_n(&extra_calls, __ATOMIC_RELAXED) + 1);
    ck_assert_int_gt(buckets, 0);
    n = series_of(&L, "extra.n", r);
    total = 0;
    for (size_t i = 0; i < n; i++) total += r[i].count;
    ck_assert_uint_eq(total, (uint64_t)__atomic_load_n(&extra_calls, __ATOMIC_RELAXED)); /* start and ticks */
    free(r);
    unload(&L);
    unlink(path);
    free(path);
}
END_TEST

/* ------------------------------------------------------------------ */

static mt_sampler *alert_sampler; /* atomic */
static int alerts_fired[4], peaks;  /* atomic */
static uint64_t peak_rss;           /* atomic */

static void on_alert(void *ctx, const mt_alert *a, double value) {
    int which = a->series[0] == 'r' ? 0 : a->series[0] == 'm' ? 1 : 2;
    __atomic_add_fetch(&alerts_fired[which], 1, __ATOMIC_RELAXED);
    /* Called without the sampler's lock: writing an event does not block. */
    mt_sampler *s = __atomic_load_n(&alert_sampler, __ATOMIC_ACQUIRE);
    if (s) ck_assert_int_eq(mt_sampler_event(s, "dump", "after-alert", value, "/tmp/x.snap"), 0);
}

static void on_peak(void *ctx, uint64_t rss) {
    __atomic_store_n(&peak_rss, rss, __ATOMIC_RELAXED);
    __atomic_add_fetch(&peaks, 1, __ATOMIC_RELAXED);
}

static int wait_for(int *counter, int at_least) {
    double dead = now_s() + 20;
    while (__atomic_load_n(counter, __ATOMIC_RELAXED) < at_least && now_s() < dead) sleep_ms(5);
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* Polls until the sampler's newest value of series is want. */
static void wait_latest(mt_sampler *s, const char *series, double want) {
    double dead = now_s() + 20;
    for (;;) {
        const char *names[64];
        double values[64];
        size_t n = mt_sampler_latest(s, names, values, 64);
        for (size_t i = 0; i < n && i < 64; i++)
            if (!strcmp(names[i], series) && values[i] == want) return;
        ck_assert_msg(now_s() < dead, "%s never became %g", series, want);
        sleep_ms(5);
    }
}

static void fake_system(const char *root, unsigned long avail_kb) {
    char text[256];
    snprintf(text, sizeof text, "MemTotal:  10000 kB\nMemFree:  100 kB\nMemAvailable:  %lu kB\n", avail_kb);
    fake_file(root, "proc/meminfo", text);
}

/* Peaks against peak_every (1 s here): a rise within it is held back but
 * remembered, so that after it a level above the last call's top yet
 * below the maximum held back calls nothing ("passes its previous
 * maximum"); a rise past 1.5 times the last top calls at once. */
START_TEST(peaks_held_back_raise_the_reference) {
    char *root = fake_root();
    fake_status(root, 100, "S (sleeping)", 1000, 0);
    fake_system(root, 5000000);
    char *path = tmp_path();
    mt_sampler_config cfg = {0};
    cfg.path = path;
    cfg.interval_ns = 10000000;
    cfg.pid = 100;
    cfg.root = root;
    cfg.nvml_lib = "";
    cfg.peak_margin = 0.1;
    cfg.peak_every_ns = 1000000000;
    cfg.on_peak = on_peak;
    __atomic_store_n(&peaks, 0, __ATOMIC_RELAXED);
    mt_sampler *s;
    mt_diag d;
    ck_assert_msg(mt_sampler_start(&cfg, &s, &d) == 0, "%s", d.msg);
    wait_latest(s, "rss", 1000 * 1024);
    fake_status(root, 100, "S (sleeping)", 1500, 0);
    ck_assert_int_eq(wait_for(&peaks, 1), 1);
    ck_assert_uint_eq(__atomic_load_n(&peak_rss, __ATOMIC_RELAXED), 1500 * 1024);
    fake_status(root, 100, "S (sleeping)", 2000, 0); /* held back: under 1.5 x 1500 */
    wait_latest(s, "rss", 2000 * 1024);
    fake_status(root, 100, "S (sleeping)", 1700, 0); /* above 1500 + 10%, below 2000 */
    wait_latest(s, "rss", 1700 * 1024);
    sleep_ms(1300);
    ck_assert_int_eq(__atomic_load_n(&peaks, __ATOMIC_RELAXED), 1);
    fake_status(root, 100, "S (sleeping)", 2300, 0); /* past 2000 + 10% */
    ck_assert_int_eq(wait_for(&peaks, 2), 2);
    ck_assert_uint_eq(__atomic_load_n(&peak_rss, __ATOMIC_RELAXED), 2300 * 1024);
    fake_status(root, 100, "S (sleeping)", 3500, 0); /* 1.5 x 2300 within the second */
    ck_assert_int_eq(wait_for(&peaks, 3), 3);
    ck_assert_uint_eq(__atomic_load_n(&peak_rss, __ATOMIC_RELAXED), 3500 * 1024);
    ck_assert_int_eq(mt_sampler_stop(s, 0, &d), 0);
    unlink(path);
    free(path);
    rm_tree(root);
    free(root);
}
END_TEST

START_TEST(alerts_peaks_and_a_vanished_target_through_a_fake_root) {
    char *root = fake_root();
    fake_status(root, 100, "S (sleeping)", 1000, 0);
    fake_file(root, "proc/100/cgroup", "0::/job\n");
    fake_file(root, "sys/fs/cgroup/job/memory.current", "3000000\n");
    fake_file(root, "sys/fs/cgroup/job/memory.max", "4096000\n");
    fake_file(root, "sys/fs/cgroup/job/memory.events", "oom 0\noom_kill 0\n");
    fake_system(root, 5000);
    mt_alert al[3];
    mt_diag d;
    ck_assert_int_eq(mt_alert_parse("rss>50%limit:exit", &al[0], &d), 0); /* 2000 KB of 4000 */
    ck_assert_int_eq(mt_alert_parse("mem.available<1000KiB:exec=true", &al[1], &d), 0);
    /* 1500 KiB in one sample, among flat ones of the 10 s window. */
    ck_assert_int_eq(mt_alert_parse("growth>100KiB/s:dump", &al[2], &d), 0);
    char *path = tmp_path();
    mt_sampler_config cfg = {0};
    cfg.path = path;
    cfg.interval_ns = 10000000;
    cfg.pid = 100;
    cfg.root = root;
    cfg.nvml_lib = FAKE_NVML;
    fake_env(NULL);
    cfg.alerts = al;
    cfg.n_alerts = 3;
    cfg.on_alert = on_alert;
    cfg.peak_margin = 0.5;
    cfg.on_peak = on_peak;
    memset(alerts_fired, 0, sizeof alerts_fired);
    __atomic_store_n(&peaks, 0, __ATOMIC_RELAXED);
    mt_sampler *s;
    ck_assert_msg(mt_sampler_start(&cfg, &s, &d) == 0, "%s", d.msg);
    __atomic_store_n(&alert_sampler, s, __ATOMIC_RELEASE);
    sleep_ms(50);
    ck_assert_int_eq(__atomic_load_n(&alerts_fired[0], __ATOMIC_RELAXED), 0);

    fake_status(root, 100, "S (sleeping)", 2500, 0); /* over 2000 KiB */
    ck_assert_int_eq(wait_for(&alerts_fired[0], 1), 1);
    ck_assert_int_eq(wait_for(&peaks, 1), 1);
    ck_assert_int_ge(wait_for(&alerts_fired[2], 1), 1);
    ck_assert_uint_eq(__atomic_load_n(&peak_rss, __ATOMIC_RELAXED), 2500 * 1024);
    sleep_ms(50);
    ck_assert_int_eq(__atomic_load_n(&alerts_fired[0], __ATOMIC_RELAXED), 1); /* once while over */
    fake_status(root, 100, "S (sleeping)", 1000, 0); /* re-arms */
    wait_latest(s, "rss", 1000 * 1024);
    fake_status(root, 100, "S (sleeping)", 2600, 0);
    ck_assert_int_eq(wait_for(&alerts_fired[0], 2), 2);
    fake_system(root, 500);
    ck_assert_int_eq(wait_for(&alerts_fired[1], 1), 1);

    rm_tree(root); /* the process is gone */
    double dead = now_s() + 20;
    while (!mt_sampler_target_gone(s) && now_s() < dead) sleep_ms(5);
    ck_assert_int_eq(mt_sampler_target_gone(s), 1);
    __atomic_store_n(&alert_sampler, NULL, __ATOMIC_RELEASE);
    ck_assert_int_eq(mt_sampler_stop(s, 3, &d), 0);

    loaded L;
    ck_assert_int_eq(load(path, 0, &L), 0);
    const rec *by[3][4] = {{0}};
    int nby[3] = {0};
    for (size_t i = 0; i < L.ne; i++) {
        const rec *e = &L.events[i];
        if (strcmp(e->kind, "alert")) continue;
        int k = e->name[0] == 'r' ? 0 : e->name[0] == 'm' ? 1 : 2;
        if (nby[k] < 4) by[k][nby[k]] = e;
        nby[k]++;
    }
    ck_assert_int_eq(nby[0], 2);
    ck_assert_str_eq(by[0][0]->name, "rss>50%limit:exit");
    ck_assert_str_eq(by[0][0]->detail, "exit");
    ck_assert(by[0][0]->v == 2500 * 1024);
    ck_assert(by[0][1]->v == 2600 * 1024);
    ck_assert_int_eq(nby[1], 1);
    ck_assert_str_eq(by[1][0]->name, "mem.available<1000KiB:exec=true");
    ck_assert_str_eq(by[1][0]->detail, "exec=true");
    ck_assert(by[1][0]->v == 500 * 1024);
    ck_assert_int_eq(nby[2], __atomic_load_n(&alerts_fired[2], __ATOMIC_RELAXED));
    ck_assert_str_eq(by[2][0]->detail, "dump");
    ck_assert(by[2][0]->v > 100 * 1024);
    ck_assert_str_eq(event_of(&L, "dump", 0)->name, "after-alert");
    ck_assert(event_of(&L, "exit", 0)->v == 3);
    rec *r = malloc(L.ns * sizeof *r);
    ck_assert_uint_gt(series_of(&L, "cgroup.max", r), 0);
    ck_assert(r[0].v == 4096000);
    ck_assert_uint_gt(series_of(&L, "cgroup.current", r), 0);
    ck_assert(r[0].v == 3000000);
    ck_assert_uint_gt(series_of(&L, "cgroup.oom_kill", r), 0);
    ck_assert_uint_gt(series_of(&L, "gpu1.used", r), 0);
    ck_assert(r[0].v == 2.0 * 1073741824.0);
    ck_assert_uint_gt(series_of(&L, "gpu0.total", r), 0);
    ck_assert(r[0].v == 80.0 * 1073741824.0);
    ck_assert_uint_eq(series_of(&L, "pss", r), 0); /* no smaps_rollup there */
    ck_assert_uint_eq(L.mem_total, 10000 * 1024);
    free(r);
    unload(&L);
    unlink(path);
    free(path);
    free(root);
}
END_TEST

/* A forked child's copy of the sampler writes nothing into the parent's
 * file and does not wait for the thread it lacks. */
START_TEST(a_forked_child_leaves_the_file_alone) {
    char *path = tmp_path();
    mt_sampler_config cfg = {0};
    cfg.path = path;
    cfg.interval_ns = 10000000;
    cfg.nvml_lib = "";
    mt_sampler *s;
    mt_diag d;
    ck_assert_msg(mt_sampler_start(&cfg, &s, &d) == 0, "%s", d.msg);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        int bad = mt_sampler_event(s, "child", NULL, 0, NULL) != MT_E_STATE;
        bad |= mt_sampler_point(s, "child", 1, 1) != MT_E_STATE;
        bad |= mt_sampler_step(s, "child") != MT_E_STATE;
        bad |= mt_sampler_stop(s, 0, &d) != MT_E_STATE;
        _exit(bad);
    }
    int st;
    ck_assert_int_eq(waitpid(child, &st, 0), child);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(mt_sampler_event(s, "parent", NULL, 0, NULL), 0);
    ck_assert_int_eq(mt_sampler_stop(s, 0, &d), 0);
    loaded L;
    ck_assert_int_eq(load(path, 0, &L), 0);
    ck_assert_int_eq(L.closed, 1);
    ck_assert_ptr_null(event_of(&L, "child", 0));
    ck_assert_ptr_nonnull(event_of(&L, "parent", 0));
    for (size_t i = 0; i < L.ns; i++) ck_assert_str_ne(L.samples[i].series, "child");
    unload(&L);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(start_refuses) {
    mt_sampler *s = (mt_sampler *)1;
    mt_diag d;
    mt_sampler_config cfg = {0};
    cfg.path = "/nonexistent-dir/run.snap";
    cfg.nvml_lib = "";
    cfg.interval_ns = 5000000;
    ck_assert_int_eq(mt_sampler_start(&cfg, &s, &d), MT_E_INVAL);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(d.msg, "10 ms"));
    cfg.interval_ns = 0;
    ck_assert_int_eq(mt_sampler_start(&cfg, &s, &d), MT_E_IO);
    char *root = fake_root();
    cfg.root = root;
    cfg.pid = 4242;
    cfg.path = "/tmp/never-written.snap";
    ck_assert_int_eq(mt_sampler_start(&cfg, &s, &d), MT_E_NOTFOUND);
    ck_assert_str_eq(d.msg, "process 4242 not found");
    ck_assert_int_eq(access(cfg.path, F_OK), -1);
    rm_tree(root);
    free(root);
}
END_TEST

/* The GPU series at 10 ms through the fake NVML: device memory with the
 * v2 call's reserved share, each process's memory on each device (the
 * sampled one's and another's), records left out (a pid not under /proc,
 * a size not available), and a process that leaves the list (its /proc
 * entry gone) getting one last point of 0. */
START_TEST(gpu_series_per_device_and_process) {
    char *root = fake_root();
    fake_status(root, 100, "S (sleeping)", 1000, 0);
    fake_status(root, 555, "S (sleeping)", 1000, 0);
    fake_system(root, 5000);
    fake_env("FAKE_NVML_PROCS", "0:100:1073741824,0:555:536870912,0:777:1024,1:100:na,1:555:2048", NULL);
    char *path = tmp_path();
    mt_sampler_config cfg = {0};
    cfg.path = path;
    cfg.interval_ns = 10000000;
    cfg.pid = 100;
    cfg.root = root;
    cfg.nvml_lib = FAKE_NVML;
    mt_sampler *s;
    mt_diag d;
    ck_assert_msg(mt_sampler_start(&cfg, &s, &d) == 0, "%s", d.msg);
    wait_latest(s, "gpu1.pid.555", 2048);
    sleep_ms(200);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/proc/555'", root);
    ck_assert_int_eq(system(cmd), 0);
    wait_latest(s, "gpu0.pid.555", 0);
    wait_latest(s, "gpu1.pid.555", 0);
    sleep_ms(50);
    ck_assert_int_eq(mt_sampler_stop(s, 0, &d), 0);

    loaded L;
    ck_assert_int_eq(load(path, 0, &L), 0);
    rec *r = malloc(L.ns * sizeof *r);
    size_t nrss = series_of(&L, "rss", r);
    size_t n = series_of(&L, "gpu0.used", r);
    /* One poll per sample, none lost at 10 ms (the first sample asks for
     * the first poll). */
    ck_assert_msg(n + 2 >= nrss && nrss >= 20, "gpu0.used %zu points, rss %zu", n, nrss);
    for (size_t i = 0; i < n; i++) ck_assert(r[i].v == 1073741824.0);
    for (size_t i = 1; i < n; i++) ck_assert_uint_gt(r[i].t, r[i - 1].t);
    ck_assert_uint_gt(series_of(&L, "gpu1.used", r), 0);
    ck_assert(r[0].v == 2.0 * 1073741824.0);
    ck_assert_uint_gt(series_of(&L, "gpu0.driver_reserved", r), 0);
    ck_assert(r[0].v == 256.0 * 1048576.0);
    ck_assert_uint_gt(series_of(&L, "gpu0.total", r), 0);
    ck_assert(r[0].v == 80.0 * 1073741824.0);
    /* The process lists are read at most once per 100 times their cost:
     * every sample with the fake, unless a sanitizer slows it. */
    n = series_of(&L, "gpu0.pid.100", r);
    ck_assert_msg(n >= 5 && n <= nrss + 2, "gpu0.pid.100 %zu points, rss %zu", n, nrss);
    for (size_t i = 0; i < n; i++) ck_assert(r[i].v == 1073741824.0);
    const char *dev[2] = { "gpu0.pid.555", "gpu1.pid.555" };
    const double was[2] = { 536870912.0, 2048.0 };
    for (int k = 0; k < 2; k++) {
        n = series_of(&L, dev[k], r);
        ck_assert_uint_gt(n, 10);
        for (size_t i = 0; i + 1 < n; i++) ck_assert(r[i].v == was[k]);
        ck_assert(r[n - 1].v == 0); /* once, then no more points */
    }
    ck_assert_uint_eq(series_of(&L, "gpu0.pid.777", r), 0);
    ck_assert_uint_eq(series_of(&L, "gpu1.pid.100", r), 0);
    free(r);
    unload(&L);
    unlink(path);
    free(path);
    rm_tree(root);
    free(root);
}
END_TEST

/* NVML calls that hang (3 s each) hold up neither the samples nor the
 * stop (which waits 1 s for the poll in flight, then leaves it). */
START_TEST(a_hung_nvml_stops_only_the_gpu_series) {
    char *root = fake_root();
    fake_status(root, 100, "S (sleeping)", 1000, 0);
    fake_system(root, 5000);
    fake_env("FAKE_NVML_SLEEP_MS", "3000", NULL);
    char *path = tmp_path();
    mt_sampler_config cfg = {0};
    cfg.path = path;
    cfg.interval_ns = 10000000;
    cfg.pid = 100;
    cfg.root = root;
    cfg.nvml_lib = FAKE_NVML;
    mt_sampler *s;
    mt_diag d;
    double t0 = now_s();
    ck_assert_msg(mt_sampler_start(&cfg, &s, &d) == 0, "%s", d.msg);
    sleep_ms(400);
    double t1 = now_s();
    ck_assert_int_eq(mt_sampler_stop(s, 0, &d), 0);
    double stop_s = now_s() - t1;
    ck_assert_msg(stop_s < 2.0, "the stop took %.2f s", stop_s);
    loaded L;
    ck_assert_int_eq(load(path, 0, &L), 0);
    rec *r = malloc(L.ns * sizeof *r);
    size_t nrss = series_of(&L, "rss", r);
    /* 40 ticks in 400 ms; a loaded machine takes fewer, never none. */
    ck_assert_msg(nrss >= 15, "%zu rss points in %.2f s", nrss, t1 - t0);
    ck_assert_uint_eq(series_of(&L, "gpu0.used", r), 0);
    free(r);
    unload(&L);
    unlink(path);
    free(path);
    rm_tree(root);
    free(root);
}
END_TEST

/* This process's threads named memtrace-gpu (the sampler's GPU thread). */
static int gpu_threads(void) {
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue; /* gone meanwhile */
        if (fgets(comm, sizeof comm, f) && !strcmp(comm, "memtrace-gpu\n")) n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* A start that fails once the GPU thread runs (an unwritable file) ends
 * that thread too, as a stop does: none is left waiting for samples. */
START_TEST(a_failed_start_or_a_stop_leaves_no_gpu_thread) {
    fake_env(NULL);
    mt_sampler_config cfg = {0};
    cfg.path = "/nonexistent-dir/run.snap";
    cfg.nvml_lib = FAKE_NVML;
    mt_sampler *s;
    mt_diag d;
    ck_assert_int_eq(mt_sampler_start(&cfg, &s, &d), MT_E_IO);
    /* The GPU thread is detached: it may take a moment to be gone. */
    double dead = now_s() + 10;
    while (gpu_threads() && now_s() < dead) sleep_ms(5);
    ck_assert_int_eq(gpu_threads(), 0);
    char *path = tmp_path();
    cfg.path = path;
    cfg.interval_ns = 10000000;
    ck_assert_msg(mt_sampler_start(&cfg, &s, &d) == 0, "%s", d.msg);
    sleep_ms(50);
    ck_assert_int_eq(gpu_threads(), 1);
    ck_assert_int_eq(mt_sampler_stop(s, 0, &d), 0);
    dead = now_s() + 10;
    while (gpu_threads() && now_s() < dead) sleep_ms(5);
    ck_assert_int_eq(gpu_threads(), 0);
    unlink(path);
    free(path);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_known_allocation_is_seen_in_the_file);
    tcase_add_test(tc, a_file_rewritten_while_followed_is_always_readable);
    tcase_add_test(tc, alerts_peaks_and_a_vanished_target_through_a_fake_root);
    tcase_add_test(tc, peaks_held_back_raise_the_reference);
    tcase_add_test(tc, a_forked_child_leaves_the_file_alone);
    tcase_add_test(tc, start_refuses);
    tcase_add_test(tc, gpu_series_per_device_and_process);
    tcase_add_test(tc, a_hung_nvml_stops_only_the_gpu_series);
    tcase_add_test(tc, a_failed_start_or_a_stop_leaves_no_gpu_thread);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
