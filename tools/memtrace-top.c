/* memtrace-top: a live view of a run file that a sampler is writing. It
 * only reads the file (MT_LOAD_GROWING), so it can never hold the writer
 * back; it polls stat() and reloads when the file's size or identity
 * changed (SPEC.md 3.4). Plain ANSI, no curses. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "common/cli.h"

static const mt_tool tool = {
    "memtrace-top", "FILE|-p PID",
    "Follow a run file that memtrace-sample or 'python3 -m memtrace run' is writing: per series the current value, "
    "peak, limit, growth per minute, time to the limit and a sparkline, and the last step, dump and alert.\n"
    "With -p PID it runs memtrace-sample on the process into a temporary file and follows that.",
    0, 1, NULL,
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

typedef struct view {
    const char *path;
    int once, color, utf8;
    unsigned width;
    uint64_t interval_ms;
    const char **series;      /* --series, split at commas */
    char *series_text;        /* the strings they point into */
    size_t n_series;
    pid_t pid;                /* -p */
} view;

/* Seconds as people read a span: "12.3s", "4m05s", "2h03m", "3d04h". */
static const char *span_text(double s, char *buf, size_t n) {
    if (isnan(s)) snprintf(buf, n, "-");
    else if (isinf(s)) snprintf(buf, n, "never");
    else if (s < 60) snprintf(buf, n, "%.1fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else if (s < 86400) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s < 1e9) snprintf(buf, n, "%dd%02dh", (int)(s / 86400), (int)fmod(s / 3600, 24));
    else snprintf(buf, n, "never");
    return buf;
}

static const char *value_text(const char *series, double v, char *buf, size_t n) {
    if (isnan(v)) {
        snprintf(buf, n, "-");
    } else if (mt_series_is_count(series)) {
        snprintf(buf, n, "%.0f", v);
    } else {
        char h[32];
        mt_human_bytes(v <= 0 ? 0 : v >= 1.8e19 ? UINT64_MAX : (uint64_t)v, h);
        snprintf(buf, n, "%s", h);
    }
    return buf;
}

static const char *rate_text(const char *series, double per_s, char *buf, size_t n) {
    if (isnan(per_s)) return snprintf(buf, n, "-"), buf;
    double m = per_s * 60, a = fabs(m);
    char v[40];
    value_text(series, a, v, sizeof v);
    snprintf(buf, n, "%s%s", m < 0 ? "-" : m > 0 ? "+" : "", v);
    return buf;
}

/* The limits are shown in the rows of what runs into them. */
static int is_limit(const char *name) {
    size_t digits;
    const char *gpu = mt_series_gpu(name, &digits);
    return !strcmp(name, "cgroup.max") || (gpu && !strcmp(gpu, "total"));
}

/* The order rows come in when --series does not say: the figures people
 * look at first. */
static int rank(const char *name) {
    static const char *const order[] = { "rss", "pss", "uss", "swap", "cgroup.current", "traced", "mem.available" };
    for (int i = 0; i < (int)(sizeof order / sizeof *order); i++)
        if (!strcmp(name, order[i])) return i;
    size_t digits;
    const char *gpu = mt_series_gpu(name, &digits);
    return gpu && !strcmp(gpu, "used") ? 20 : 40;
}

static void sparkline(FILE *f, const mt_series *s, size_t width, int utf8) {
    static const char *const bars[] = { "\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
                                        "\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88" };
    static const char ascii[] = "_.-~=+*#";
    size_t from = s->n > width ? s->n - width : 0;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = from; i < s->n; i++)
        if (!isnan(s->p[i].value)) {
            lo = fmin(lo, s->p[i].value);
            hi = fmax(hi, s->p[i].value);
        }
    for (size_t i = from; i < s->n; i++) {
        double v = s->p[i].value;
        int k = isnan(v) ? -1 : hi > lo ? (int)floor((v - lo) / (hi - lo) * 7.999) : 0;
        if (k < 0) fputc(' ', f);
        else if (utf8) fputs(bars[k], f);
        else fputc(ascii[k], f);
    }
}

typedef struct row {
    const mt_series *s;
    const char *name;
    int rank;
    size_t order;
} row;

static int row_cmp(const void *a, const void *b) {
    const row *x = a, *y = b;
    if (x->rank != y->rank) return x->rank - y->rank;
    return (x->order > y->order) - (x->order < y->order);
}

/* What the header says of the writer. */
typedef enum wstate { W_RUNNING, W_CLOSED, W_GONE } wstate;

static const char *meta_str(const mt_snapshot *s, const char *key, char *buf, size_t n) {
    const mt_value *v = mt_snapshot_meta_get(s, key);
    if (!v) return NULL;
    if (v->type == MT_VAL_STR) snprintf(buf, n, "%s", mt_cli_str(v->v.s));
    else if (v->type == MT_VAL_UINT) snprintf(buf, n, "%" PRIu64, v->v.u);
    else if (v->type == MT_VAL_INT) snprintf(buf, n, "%" PRId64, v->v.i);
    else return NULL;
    return buf;
}

/* One frame into f: lines ending in '\n' (the live view adds its escapes
 * when it copies them to the terminal). */
static void frame(FILE *f, const view *V, const char *shown, const mt_snapshot *snap, const mt_run *run, wstate st,
                  const char *problem) {
    char a[64], b[64], c[64], d[64], e[64];
    char pid[32], cmd[512];
    fprintf(f, "memtrace-top: %s", mt_cli_cstr(shown));
    /* -p shows "pid N" already. */
    if (snap && meta_str(snap, "pid", pid, sizeof pid) && strncmp(shown, "pid ", 4)) fprintf(f, "  pid %s", pid);
    if (snap && meta_str(snap, "command", cmd, sizeof cmd)) fprintf(f, "  %s", cmd);
    fputc('\n', f);
    if (run) {
        static const char *const names[] = { "running", "closed", "writer gone (file not growing)" };
        fprintf(f, "elapsed %s  state %s  %" PRIu64 " records in %zu series", span_text((double)run->end_ns / 1e9, a, sizeof a),
                names[st], run->n_points, run->n_series);
        uint64_t pend = mt_snapshot_pending(snap);
        if (pend) fprintf(f, "  (%" PRIu64 " bytes of an unfinished block not read yet)", pend);
        fputc('\n', f);
    }
    if (problem) fprintf(f, "%s\n", problem);
    if (!run) return;
    fputc('\n', f);

    size_t nrows = 0;
    row *rows = calloc(run->n_series + V->n_series + 1, sizeof *rows);
    if (!rows) return;
    if (V->n_series) {
        for (size_t i = 0; i < V->n_series; i++) rows[nrows++] = (row){ mt_run_find(run, V->series[i]), V->series[i], 0, i };
    } else {
        for (size_t i = 0; i < run->n_series; i++)
            if (!is_limit(run->series[i].name))
                rows[nrows++] = (row){ &run->series[i], run->series[i].name, rank(run->series[i].name), i };
        qsort(rows, nrows, sizeof *rows, row_cmp);
    }
    /* The sparkline takes what the width leaves after the figures. */
    enum { FIXED = 16 + 12 + 22 + 22 + 12 + 26 };
    size_t spark = V->width > FIXED + 8 ? V->width - FIXED - 2 : 8;
    if (spark > 120) spark = 120;
    if (!nrows) fprintf(f, "no samples yet\n");
    else
        fprintf(f, "%-15s %11s %-21s %-21s %11s  %-25s %s\n", "series", "current", " peak (at)", " limit", "growth/min",
                "time to limit", "recent");
    for (size_t i = 0; i < nrows; i++) {
        const mt_series *s = rows[i].s;
        fprintf(f, "%-15s ", mt_cli_strw(mt_str_c(rows[i].name), 15));
        if (!s) {
            fprintf(f, "(no such series)\n");
            continue;
        }
        mt_series_summary m;
        mt_series_summarize(run, snap, s, NULL, &m);
        char peak[64], lim[64], ttl[64];
        snprintf(peak, sizeof peak, " %s (%s)", value_text(s->name, m.peak, a, sizeof a),
                 span_text((double)m.peak_ns / 1e9, b, sizeof b));
        if (isnan(m.peak)) snprintf(peak, sizeof peak, " -");
        if (m.limit_from) snprintf(lim, sizeof lim, " %s %s", value_text(s->name, m.limit, c, sizeof c), m.limit_from);
        else snprintf(lim, sizeof lim, " -");
        const char *col = NULL;
        switch (m.growth) {
        case MT_GROWTH_AT_LIMIT: snprintf(ttl, sizeof ttl, "at the limit"); col = "\x1b[31m"; break;
        case MT_GROWTH_GROWING:
            if (isnan(m.ttl)) {
                snprintf(ttl, sizeof ttl, "growing");
            } else {
                /* The soonest first: the time to act by. */
                snprintf(ttl, sizeof ttl, "%s (%s..%s)", span_text(m.ttl, a, sizeof a), span_text(m.ttl_lo, d, sizeof d),
                         span_text(m.ttl_hi, e, sizeof e));
                col = m.ttl_lo < 300 ? "\x1b[31m" : m.ttl_lo < 3600 ? "\x1b[33m" : NULL;
            }
            break;
        case MT_GROWTH_UNSURE:
            if (isnan(m.ttl_lo)) snprintf(ttl, sizeof ttl, "unsure");
            else snprintf(ttl, sizeof ttl, "unsure, >= %s", span_text(m.ttl_lo, a, sizeof a));
            break;
        case MT_GROWTH_NONE: snprintf(ttl, sizeof ttl, "not growing"); break;
        default: snprintf(ttl, sizeof ttl, "too few points"); break;
        }
        /* A closed run is over: a time to its limit would read as a
         * forecast for a process that no longer runs. */
        if (st == W_CLOSED && m.growth != MT_GROWTH_AT_LIMIT) {
            snprintf(ttl, sizeof ttl, "run ended");
            col = NULL;
        }
        int colored = col && V->color && !V->once;
        fprintf(f, "%11s %-21s %-21s %11s  %s%-25s%s ", value_text(s->name, m.current, c, sizeof c), peak, lim,
                rate_text(s->name, m.rate, d, sizeof d), colored ? col : "", ttl, colored ? "\x1b[0m" : "");
        sparkline(f, s, spark, V->utf8);
        fputc('\n', f);
    }
    free(rows);
    /* The last step, dump and alert, and the last event of another kind. */
    const mt_run_event *last[4] = { NULL, NULL, NULL, NULL };
    for (size_t i = 0; i < run->n_events; i++) {
        const mt_run_event *ev = &run->events[i];
        int k = !strcmp(ev->kind, "step") ? 0 : !strcmp(ev->kind, "dump") || !strcmp(ev->kind, "peak") ? 1
              : !strcmp(ev->kind, "alert")                                                          ? 2
              : !strcmp(ev->kind, "start")                                                          ? -1
                                                                                                     : 3;
        if (k >= 0) last[k] = ev;
    }
    int any = 0;
    for (int k = 0; k < 4; k++) {
        const mt_run_event *ev = last[k];
        if (!ev) continue;
        if (!any++) fprintf(f, "\nlast events\n");
        fprintf(f, "  %-6s %10s  %s", mt_cli_cstr(ev->kind), span_text((double)ev->time_ns / 1e9, a, sizeof a),
                mt_cli_cstr(ev->name));
        if (k == 1 || k == 2) {
            if (ev->value > 0) fprintf(f, " at %s", value_text("rss", ev->value, b, sizeof b));
            if (*ev->detail) fprintf(f, k == 1 ? " -> %s" : " (%s)", mt_cli_cstr(ev->detail));
        } else if (*ev->detail) {
            fprintf(f, " (%s)", mt_cli_cstr(ev->detail));
        }
        fputc('\n', f);
    }
}

/* LC_ALL, else LC_CTYPE, else LANG names UTF-8: the first one set counts,
 * as setlocale reads them. */
static int locale_utf8(void) {
    const char *vars[] = { "LC_ALL", "LC_CTYPE", "LANG" };
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return strcasestr(v, "utf-8") || strcasestr(v, "utf8");
    }
    return 0;
}

static void split_series(view *V, const char *list) {
    char *copy = strdup(list);
    if (!copy) exit(MT_EXIT_INPUT);
    V->series_text = copy;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const char **n = realloc(V->series, (V->n_series + 1) * sizeof *n);
        if (!n) exit(MT_EXIT_INPUT);
        V->series = n;
        V->series[V->n_series++] = t; /* copy lives to the end */
    }
}

/* The loaded file, kept from one reload to the next. */
typedef struct follow {
    mt_snapshot *snap;
    mt_run *run;
    struct stat st;          /* what stat() said when it was loaded */
    int have;
    char problem[600];
    double last_change;      /* monotonic seconds of the last change seen */
} follow;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Loads path again. @return 0, or an MT_E_* code with the problem said. */
static int reload(follow *F, const char *path, const struct stat *st) {
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    mt_snapshot *s = NULL;
    mt_run *r = NULL;
    int rc = mt_snapshot_load(path, MT_LOAD_GROWING, &s, &d);
    if (!rc) rc = mt_run_load(s, &r, &d);
    if (rc) {
        char where[400];
        mt_diag_format(&d, where, sizeof where);
        snprintf(F->problem, sizeof F->problem, "cannot read %s: %s", mt_cli_cstr(path), where);
        mt_snapshot_free(s);
        return rc;
    }
    mt_run_free(F->run);
    mt_snapshot_free(F->snap);
    F->snap = s;
    F->run = r;
    F->st = *st;
    F->have = 1;
    F->problem[0] = 0;
    return 0;
}

static wstate state_of(const follow *F, const view *V) {
    if (!F->snap) return W_RUNNING;
    if (mt_snapshot_closed(F->snap)) return W_CLOSED;
    /* The sampler flushes after each sample, once per its interval (meta
     * interval_ns: an hour at most with memtrace-sample -i), and at least
     * once a second at short intervals: a file that has not changed for 3
     * of the sampler's intervals, or of ours, or 3 s when that is longer,
     * lost its writer. Our polling alone would call a run sampled every
     * 5 s "gone" between its samples. */
    double quiet = 3.0 * (double)V->interval_ms / 1000, run_ns;
    if (mt_snapshot_meta_number(F->snap, "interval_ns", &run_ns) && run_ns > 0 && 3.0 * run_ns / 1e9 > quiet)
        quiet = 3.0 * run_ns / 1e9;
    if (quiet < 3) quiet = 3;
    struct timespec nw;
    clock_gettime(CLOCK_REALTIME, &nw);
    double age = (double)(nw.tv_sec - F->st.st_mtim.tv_sec) + (double)(nw.tv_nsec - F->st.st_mtim.tv_nsec) / 1e9;
    return age > quiet ? W_GONE : W_RUNNING;
}

/* Copies a frame to the terminal in place: home, each line cleared to its
 * end, what is below cleared: no flicker, no scrolling. */
static void paint(const char *text, size_t len) {
    fputs("\x1b[H", stdout);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        fwrite(p, 1, n, stdout);
        fputs("\x1b[K\n", stdout);
        p += n + 1;
    }
    fputs("\x1b[J", stdout);
    fflush(stdout);
}

static pid_t sampler_pid;
static char sampler_dir[PATH_MAX], sampler_file[PATH_MAX + 16];

/* memtrace-sample beside this program. */
static int start_sampler(pid_t pid) {
    char self[PATH_MAX], exe[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) slash[1] = 0;
    snprintf(exe, sizeof exe, "%smemtrace-sample", slash ? self : "");
    if (access(exe, X_OK)) {
        fprintf(stderr, "%s: cannot run %s: %s\n", tool.name, exe, strerror(errno));
        return -1;
    }
    /* A directory of our own (mkdtemp, mode 0700), not a name in /tmp
     * that anyone can guess from our pid and create first: another user's
     * file there would be followed, or fail memtrace-sample's rename. */
    const char *tmpdir = getenv("TMPDIR");
    snprintf(sampler_dir, sizeof sampler_dir, "%s/memtrace-top.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(sampler_dir)) {
        fprintf(stderr, "%s: cannot make a directory %s: %s\n", tool.name, sampler_dir, strerror(errno));
        sampler_dir[0] = 0;
        return -1;
    }
    snprintf(sampler_file, sizeof sampler_file, "%s/run.snap", sampler_dir);
    char pidtext[32];
    snprintf(pidtext, sizeof pidtext, "%ld", (long)pid);
    sampler_pid = fork();
    if (sampler_pid < 0) return -1;
    if (!sampler_pid) {
        execl(exe, "memtrace-sample", "-q", "-o", sampler_file, "-p", pidtext, (char *)NULL);
        _exit(127);
    }
    return 0;
}

static void stop_sampler(void) {
    if (sampler_pid > 0) {
        kill(sampler_pid, SIGINT);
        waitpid(sampler_pid, NULL, 0);
        sampler_pid = 0;
    }
    if (*sampler_file) unlink(sampler_file);
    if (*sampler_dir) rmdir(sampler_dir); /* fails, harmlessly, if the sampler left a temporary file */
}

int main(int argc, char **argv) {
    view V = { 0 };
    int once = 0, no_color = 0;
    uint64_t interval = 50, width = 0, pid = 0;
    const char *series = NULL;
    const mt_opt opts[] = {
        MT_OPT_FLAG(0, "once", &once, "print one frame without escape codes and exit (for scripts)"),
        MT_OPT_UINT_RANGE(0, "interval", "MS", &interval, 10, 60000, "poll the file every MS milliseconds (default: 50)"),
        MT_OPT_STRING(0, "series", "LIST", &series, "show these series, comma-separated (default: every one but limits)"),
        MT_OPT_UINT_RANGE(0, "width", "N", &width, 40, 1000, "lay out for N columns (default: the terminal's, else 132)"),
        MT_OPT_FLAG(0, "no-color", &no_color, "no colours in the live view"),
        MT_OPT_UINT_RANGE('p', "pid", "PID", &pid, 1, INT_MAX, "run memtrace-sample on process PID and follow its output"),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    if (!pid && c.nargs != 1) mt_cli_usage_error(&c, "give a run FILE or -p PID");
    if (pid && c.nargs) mt_cli_usage_error(&c, "give a run FILE or -p PID, not both");
    if (series) {
        split_series(&V, series);
        if (!V.n_series) mt_cli_usage_error(&c, "--series needs at least one series name");
    }
    V.once = once;
    V.interval_ms = interval;
    V.color = !no_color && !getenv("NO_COLOR") && isatty(STDOUT_FILENO);
    V.utf8 = locale_utf8();
    V.pid = (pid_t)pid;
    struct winsize ws;
    V.width = width ? (unsigned)width
              : (!once && isatty(STDOUT_FILENO) && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col >= 40) ? ws.ws_col
                                                                                                               : 132;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    const char *path = c.nargs ? c.args[0] : NULL;
    char shown[64];
    if (pid) {
        if (start_sampler((pid_t)pid)) {
            fprintf(stderr, "%s: cannot start memtrace-sample for pid %" PRIu64 "\n", tool.name, pid);
            free(c.args);
            return MT_EXIT_INPUT;
        }
        path = sampler_file;
        snprintf(shown, sizeof shown, "pid %" PRIu64, pid);
    }
    const char *name = pid ? shown : path;

    follow F = { 0 };
    int code = MT_EXIT_OK;
    if (once) {
        struct stat st;
        /* With -p, wait up to 10 s for the sampler's first flush. */
        double deadline = now_s() + 10;
        int rc;
        for (;;) {
            rc = stat(path, &st) ? MT_E_IO : reload(&F, path, &st);
            if (!rc || !pid || stop || now_s() > deadline) break;
            int status;
            if (waitpid(sampler_pid, &status, WNOHANG) == sampler_pid) {
                sampler_pid = 0;
                rc = stat(path, &st) ? MT_E_IO : reload(&F, path, &st);
                break;
            }
            usleep(50000);
        }
        if (rc) {
            if (!F.problem[0]) snprintf(F.problem, sizeof F.problem, "cannot read %s: %s", mt_cli_cstr(path), strerror(errno));
            fprintf(stderr, "%s: %s\n", tool.name, F.problem + strlen("cannot read "));
            code = rc == MT_E_INVAL ? MT_EXIT_USAGE : MT_EXIT_INPUT;
        } else {
            frame(stdout, &V, name, F.snap, F.run, state_of(&F, &V), NULL);
            code = mt_cli_finish(tool.name);
        }
    } else {
        int tty = isatty(STDOUT_FILENO);
        if (tty) fputs("\x1b[?25l\x1b[2J", stdout); /* hide the cursor, clear once */
        double last_paint = 0;
        int dirty = 1;
        while (!stop) {
            struct stat st;
            if (!stat(path, &st)) {
                int changed = !F.have || st.st_ino != F.st.st_ino || st.st_dev != F.st.st_dev ||
                              st.st_size != F.st.st_size || st.st_mtim.tv_nsec != F.st.st_mtim.tv_nsec ||
                              st.st_mtim.tv_sec != F.st.st_mtim.tv_sec;
                /* A rewrite renamed over the path is a new file: read it
                 * from the start, which a reload always does. */
                if (changed && !reload(&F, path, &st)) dirty = 1;
                else if (changed) dirty = 1;
            } else if (F.have || !F.problem[0]) {
                snprintf(F.problem, sizeof F.problem, "cannot read %s: %s", mt_cli_cstr(path), strerror(errno));
                dirty = 1;
            }
            if (pid && sampler_pid > 0) {
                int status;
                if (waitpid(sampler_pid, &status, WNOHANG) == sampler_pid) {
                    sampler_pid = 0;
                    if (!stat(path, &st)) reload(&F, path, &st);
                    stop = 1;
                    dirty = 1;
                }
            }
            /* Redraw on a change, and every second for the state. */
            if (dirty || now_s() - last_paint >= 1) {
                char *buf = NULL;
                size_t len = 0;
                FILE *m = open_memstream(&buf, &len);
                if (m) {
                    frame(m, &V, name, F.snap, F.run, state_of(&F, &V), F.problem[0] ? F.problem : NULL);
                    fclose(m);
                    if (tty) paint(buf, len);
                    else {
                        fwrite(buf, 1, len, stdout);
                        fputs("\n", stdout);
                        fflush(stdout);
                    }
                    free(buf);
                }
                last_paint = now_s();
                dirty = 0;
            }
            if (!stop) usleep((useconds_t)(interval * 1000));
        }
        if (tty) fputs("\x1b[?25h\n", stdout); /* the cursor back */
        fflush(stdout);
    }
    stop_sampler();
    mt_run_free(F.run);
    mt_snapshot_free(F.snap);
    free(V.series);
    free(V.series_text);
    free(c.args);
    return code;
}
