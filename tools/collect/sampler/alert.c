/* The --alert expression: MEASURE OP THRESHOLD [:ACTION] (sampler.h). A
 * collector links no libanalyze, so the sizes are parsed here rather
 * than by mt_size_parse(); the units are the same. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct {
    const char *name;
    double bytes;
} UNITS[] = {
    {"B", 1.0},
    {"KiB", 1024.0},
    {"MiB", 1048576.0},
    {"GiB", 1073741824.0},
    {"TiB", 1099511627776.0},
    {"KB", 1e3},
    {"MB", 1e6},
    {"GB", 1e9},
    {"TB", 1e12},
};
#define UNITS_EXPECTED "B, KiB, MiB, GiB, TiB, KB, MB, GB, TB"

/* The error at 0-based position at of text (diag's column is 1-based):
 * "TEXT: WHAT at column N (expected EXPECTED)". */
static int fail(mt_diag *diag, const char *text, size_t at, const char *what, const char *expected) {
    int rc = mt_diag_set(diag, MT_E_PARSE, "%.40s: %s at column %zu%s%s%s", text, what, at + 1,
                         expected ? " (expected " : "", expected ? expected : "", expected ? ")" : "");
    if (diag) diag->column = (uint32_t)(at + 1);
    return rc;
}

/* 1 for a series the sampler or the Python collector writes, *count set
 * for one that counts things rather than bytes. */
static int known_series(const char *n, int *count) {
    static const char *const bytes[] = { "rss", "pss", "uss", "swap", "cgroup.current", "cgroup.max",
                                         "mem.available", "traced", "traced.peak" };
    static const char *const counts[] = { "procs", "cgroup.oom", "cgroup.oom_kill" };
    *count = 0;
    for (size_t k = 0; k < sizeof bytes / sizeof *bytes; k++)
        if (!strcmp(n, bytes[k])) return 1;
    for (size_t k = 0; k < sizeof counts / sizeof *counts; k++)
        if (!strcmp(n, counts[k])) return *count = 1;
    const char *stem[] = { "gc.count", "gc.collections" };
    for (size_t k = 0; k < 2; k++) {
        size_t l = strlen(stem[k]);
        if (!strncmp(n, stem[k], l) && n[l] >= '0' && n[l] <= '2' && !n[l + 1]) return *count = 1;
    }
    size_t d = strncmp(n, "gpu", 3) ? 0 : strspn(n + 3, "0123456789");
    if (!d) return 0;
    const char *w = n + 3 + d;
    /* gpuN.pid.PID too: a process known before the run (-p, a server). */
    size_t p = strncmp(w, ".pid.", 5) ? 0 : strspn(w + 5, "0123456789");
    return !strcmp(w, ".used") || !strcmp(w, ".total") || !strcmp(w, ".driver_reserved") || (p && !w[5 + p]);
}

static int measure_char(char c) {
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

int mt_alert_parse(const char *text, mt_alert *out, mt_diag *diag) {
    mt_alert a;
    memset(&a, 0, sizeof a);
    mt_diag_clear(diag);
    size_t len = strlen(text);
    if (len >= sizeof a.expr) return fail(diag, text, sizeof a.expr - 1, "too long", "at most 255 characters");
    memcpy(a.expr, text, len + 1);
    size_t i = 0;
    while (measure_char(text[i])) i++;
    if (i == 0) return fail(diag, text, 0, "no measure", "a series name or growth");
    if (i >= sizeof a.series) return fail(diag, text, sizeof a.series - 1, "series name too long", "at most 63 characters");
    memcpy(a.series, text, i);
    int growth = strcmp(a.series, "growth") == 0, count = 0;
    if (text[i] == '>')
        a.below = 0;
    else if (text[i] == '<')
        a.below = 1;
    else {
        char what[32] = "no comparison";
        if (text[i]) snprintf(what, sizeof what, "unexpected \"%.1s\"", text + i);
        return fail(diag, text, i, what, "> or <");
    }
    /* A misspelt measure ("rs") would never fire: only the series the
     * sampler writes are taken (SPEC.md 4.3, samples). */
    if (!growth && !known_series(a.series, &count))
        return fail(diag, text, 0, "unknown measure",
                    "rss, pss, uss, swap, procs, cgroup.current, cgroup.max, cgroup.oom, cgroup.oom_kill, "
                    "mem.available, traced, traced.peak, gc.countN, gc.collectionsN, "
                    "gpuN.used|total|driver_reserved|pid.PID or growth");
    i++;
    const char *num = text + i;
    char *end;
    double v = strtod(num, &end);
    /* strtod takes "inf", "nan" and hex; a threshold is plain decimal. */
    const char *x = strpbrk(num, "xX");
    if (end == num || !(isdigit((unsigned char)*num) || *num == '.') || (x && x < end) || !(v >= 0))
        return fail(diag, text, i, "no threshold", "a number");
    i += (size_t)(end - num);
    if (text[i] == '%') {
        if (growth) return fail(diag, text, i, "growth takes a size per time, not a percentage", "/s, /min or /h");
        i++;
        const char *of = text + i;
        size_t n = strcspn(of, ":");
        if (n == 5 && strncmp(of, "limit", 5) == 0)
            a.percent_of = 1;
        else if (n == 9 && strncmp(of, "available", 9) == 0)
            a.percent_of = 2;
        else
            return fail(diag, text, i, "no base of the percentage", "limit or available after %");
        a.threshold = v;
        i += n;
    } else {
        size_t u = i;
        while (isalpha((unsigned char)text[i])) i++;
        double mult = 1.0;
        if (i > u && count) {
            char what[96];
            snprintf(what, sizeof what, "%s is a count, not a size", a.series);
            return fail(diag, text, u, what, "a plain number");
        }
        if (i > u) {
            size_t k, nu = sizeof UNITS / sizeof UNITS[0];
            for (k = 0; k < nu; k++)
                if (strlen(UNITS[k].name) == i - u && strncmp(UNITS[k].name, text + u, i - u) == 0) break;
            if (k == nu) {
                char what[64];
                snprintf(what, sizeof what, "unknown unit \"%.*s\"", (int)(i - u > 40 ? 40 : i - u), text + u);
                return fail(diag, text, u, what, UNITS_EXPECTED);
            }
            mult = UNITS[k].bytes;
        }
        a.threshold = v * mult;
        if (!isfinite(a.threshold)) return fail(diag, text, (size_t)(num - text), "threshold out of range", "a finite number");
        if (growth) {
            if (text[i] != '/') return fail(diag, text, i, "no time unit", "/s, /min or /h after the size of a growth");
            i++;
            const char *per = text + i;
            size_t n = strcspn(per, ":");
            double secs;
            if (n == 1 && per[0] == 's')
                secs = 1;
            else if (n == 3 && strncmp(per, "min", 3) == 0)
                secs = 60;
            else if (n == 1 && per[0] == 'h')
                secs = 3600;
            else
                return fail(diag, text, i, "unknown time unit", "s, min or h after /");
            a.threshold /= secs;
            i += n;
        } else if (text[i] == '/') {
            return fail(diag, text, i, "a size per time is for growth only", "an action after :, or the end");
        }
    }
    if (text[i] == ':') {
        i++;
        const char *act = text + i;
        if (strcmp(act, "log") == 0)
            a.action = MT_ALERT_LOG;
        else if (strcmp(act, "dump") == 0)
            a.action = MT_ALERT_DUMP;
        else if (strcmp(act, "exit") == 0)
            a.action = MT_ALERT_EXIT;
        else if (strncmp(act, "exec=", 5) == 0) {
            if (!act[5]) return fail(diag, text, i + 5, "no command", "a command after exec=");
            a.action = MT_ALERT_EXEC;
            snprintf(a.command, sizeof a.command, "%s", act + 5);
        } else
            return fail(diag, text, i, "unknown action", "log, dump, exit or exec=COMMAND");
    } else if (text[i]) {
        char what[32];
        snprintf(what, sizeof what, "unexpected \"%.1s\"", text + i);
        return fail(diag, text, i, what, ": and an action, or the end");
    }
    *out = a;
    return 0;
}

const char *mt_alert_action_name(mt_alert_action a) {
    switch (a) {
    case MT_ALERT_LOG: return "log";
    case MT_ALERT_DUMP: return "dump";
    case MT_ALERT_EXIT: return "exit";
    case MT_ALERT_EXEC: return "exec";
    }
    return "log";
}

extern char **environ;

int mt_alert_spawn(const mt_alert *a, double value, pid_t pid, const char *file, pid_t *child) {
    size_t n = 0;
    while (environ[n]) n++;
    char **env = malloc((n + 5) * sizeof *env);
    char *file_var = NULL;
    if (!env || asprintf(&file_var, "MEMTRACE_FILE=%s", file ? file : "") < 0) {
        free(env);
        return MT_E_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "MEMTRACE_ALERT=", 15) && strncmp(environ[i], "MEMTRACE_VALUE=", 15) &&
            strncmp(environ[i], "MEMTRACE_PID=", 13) && strncmp(environ[i], "MEMTRACE_FILE=", 14))
            env[k++] = environ[i];
    char vars[3][sizeof a->expr + 32];
    snprintf(vars[0], sizeof vars[0], "MEMTRACE_ALERT=%s", a->expr);
    snprintf(vars[1], sizeof vars[1], "MEMTRACE_VALUE=%.17g", value);
    snprintf(vars[2], sizeof vars[2], "MEMTRACE_PID=%d", (int)pid);
    for (int i = 0; i < 3; i++) env[k++] = vars[i];
    env[k++] = file_var;
    env[k] = NULL;
    /* The caller's threads may block signals its main loop waits for; the
     * command gets an empty mask and the default actions back. */
    posix_spawnattr_t attr;
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = { "sh", "-c", (char *)a->command, NULL };
    int rc = posix_spawn(child, "/bin/sh", NULL, &attr, argv, env);
    posix_spawnattr_destroy(&attr);
    free(file_var);
    free(env);
    if (rc) errno = rc; /* posix_spawn returns its error; errno may be stale */
    return rc ? MT_E_IO : 0;
}
