/* memtrace-sample: records the memory of a process (and by default its
 * descendants) every interval into a run file that readers follow while it
 * grows (formats/SPEC.md 3.4), by the sampler of tools/collect/sampler. It
 * runs a command under it or watches a process by PID, fires alerts, and
 * serves the latest figures to Prometheus scrapers (--listen). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "collect/sampler/sampler.h"
#include "common/cli.h"
#include "memtrace/json.h"
#include "memtrace/series.h"
#include "memtrace/text.h"
#include "memtrace/units.h"

extern char **environ;

static const mt_tool tool = {
    "memtrace-sample", "(-p PID | -- COMMAND [ARGS...])",
    "Record the memory of a process and its children every interval into a run file that memtrace-top,\n"
    "memtrace-plot and memtrace-export read while it grows: run COMMAND under it, or watch process PID.",
    0, INT32_MAX,
    "Alerts: MEASURE>THRESHOLD or MEASURE<THRESHOLD, THRESHOLD a number, a size, N%limit, N%available or, for\n"
    "growth, SIZE/s|min|h; then :log (the default), :dump, :exit or :exec=COMMAND. Such as 'rss>2GiB',\n"
    "'pss>80%limit:exit', 'growth>100MiB/min:exec=./page.sh \"$MEMTRACE_VALUE\"'.\n"
    "Measures: rss pss uss swap procs cgroup.current cgroup.max mem.available gpuN.used ..., or growth.\n"
    "\nexit status: the command's own (128+N for signal N), or 0 when -p's process ends or the recording\n"
    "stops; 2 usage error, 3 unwritable output, 124 an :exit alert stopped it, 126 COMMAND cannot be\n"
    "executed, 127 not found\n",
};

/* Exit status of a run stopped by an :exit alert, as timeout(1) says. */
enum { EXIT_ALERT = MT_SAMPLER_EXIT_ALERT, EXIT_CANNOT_EXEC = 126, EXIT_NOT_FOUND = 127 };

/* An :exit alert gives the command this long after SIGTERM before SIGKILL. */
#define KILL_AFTER_NS (5ull * 1000000000ull)

/* What the sampler thread, the listener and the main thread share. */
typedef struct run {
    mt_sampler *s;
    pid_t pid;                 /* sampled */
    const char *path;          /* the run file */
    char label[256];           /* the command label of the metrics */
    int quiet;
    atomic_int exit_alert;     /* an :exit alert fired */
    atomic_uint_fast64_t samples;
    atomic_uint_fast64_t peak_rss, peak_ns;
} run;

static uint64_t mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* "850 ms", "12.5 s", "2 min 3 s", "1 h 5 min": how long, as people say it. */
static const char *human_duration(uint64_t ns, char *buf, size_t n) {
    double s = (double)ns / 1e9;
    uint64_t whole = (uint64_t)s;
    if (s < 1) snprintf(buf, n, "%.0f ms", s * 1000);
    else if (s < 60) snprintf(buf, n, "%.1f s", s);
    else if (whole < 3600) snprintf(buf, n, "%" PRIu64 " min %" PRIu64 " s", whole / 60, whole % 60);
    else snprintf(buf, n, "%" PRIu64 " h %" PRIu64 " min", whole / 3600, whole % 3600 / 60);
    return buf;
}

/* "alert EXPR: MEASURE VALUE" on stderr, the value as a size, a rate or a
 * count. Terminal-safe: the expression comes from the command line. */
static void alert_line(const mt_alert *a, double value, const char *what) {
    char expr[300], v[48], b[16];
    mt_text_escape(expr, sizeof expr, MT_TEXT_TERMINAL, a->expr, strlen(a->expr));
    double mag = fabs(value);
    uint64_t n = mag < 1.8e19 ? (uint64_t)mag : UINT64_MAX;
    if (!strcmp(a->series, "growth")) snprintf(v, sizeof v, "%s%s/s", value < 0 ? "-" : "", mt_human_bytes(n, b));
    else if (!mt_series_is_count(a->series)) snprintf(v, sizeof v, "%s", mt_human_bytes(n, b));
    else snprintf(v, sizeof v, "%g", value);
    fprintf(stderr, "%s: alert %s: %s %s%s%s\n", tool.name, expr, a->series, v, what ? "; " : "", what ? what : "");
}

/* Runs an :exec alert's command (mt_alert_spawn); reaped by the main loop. */
static void alert_exec(const run *r, const mt_alert *a, double value) {
    pid_t child;
    int rc = mt_alert_spawn(a, value, r->pid, r->path, &child);
    if (rc) fprintf(stderr, "%s: alert %s: cannot run /bin/sh: %s\n", tool.name, a->expr,
                    rc == MT_E_NOMEM ? "out of memory" : strerror(errno));
}

/* On the sampler thread (sampler.h, mt_sampler_alert_fn): the library
 * records the alert event; this says so on stderr and acts. */
static void on_alert(void *ctx, const mt_alert *a, double value) {
    run *r = ctx;
    switch (a->action) {
    case MT_ALERT_LOG: alert_line(a, value, NULL); break;
    case MT_ALERT_DUMP:
        alert_line(a, value, "a heap dump needs the Python collector (python3 -m memtrace run); logged instead");
        break;
    case MT_ALERT_EXIT:
        alert_line(a, value, "stopping");
        atomic_store(&r->exit_alert, 1);
        break;
    case MT_ALERT_EXEC:
        alert_line(a, value, NULL);
        alert_exec(r, a, value);
        break;
    }
}

/* Once per sample (sampler.h, mt_sampler_extra_fn): counts the samples and
 * keeps the peak of rss for the closing line. */
static void on_sample(void *ctx, mt_sampler *s, uint64_t time_ns) {
    run *r = ctx;
    const char *names[256];
    double values[256];
    size_t n = mt_sampler_latest(s, names, values, 256);
    atomic_fetch_add(&r->samples, 1);
    for (size_t i = 0; i < n && i < 256; i++)
        if (!strcmp(names[i], "rss") && values[i] > (double)atomic_load(&r->peak_rss)) {
            atomic_store(&r->peak_rss, (uint64_t)values[i]);
            atomic_store(&r->peak_ns, time_ns);
        }
}

/* ------------------------------------------------------------------ */
/* --listen: the latest figures in the OpenMetrics text format.          */

typedef struct listener {
    int fd;
    pthread_t thread;
    atomic_int stop;
    run *r;
} listener;

/* A series' metric, named as memtrace-export names it (mt_series_metric):
 * `rss` → memtrace_rss_bytes, `gpu0.used` → memtrace_gpu_used_bytes
 * with label device="0", `gpu0.pid.42` → memtrace_gpu_process_bytes with
 * labels device="0" and process="42", counts without a unit. */
typedef struct metric {
    char name[128];
    char value[24];           /* the device, or "" */
    char process[24];         /* the process of a gpuN.pid.PID, or "" */
    int bytes;
    double v;
} metric;

static void metric_of(const char *series, double v, metric *m) {
    memset(m, 0, sizeof *m);
    m->v = v;
    m->bytes = !mt_series_is_count(series);
    mt_series_metric(series, m->name, sizeof m->name, m->value, sizeof m->value);
    mt_series_gpu_pid(series, m->process, sizeof m->process);
}

/* Decimal labels in numeric order. */
static int num_cmp(const char *x, const char *y) {
    size_t lx = strlen(x), ly = strlen(y);
    return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x, y);
}

static int metric_cmp(const void *a, const void *b) {
    const metric *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    c = num_cmp(x->value, y->value);
    return c ? c : num_cmp(x->process, y->process);
}

/* The exposition, one family per metric, samples of a family together
 * as OpenMetrics asks, then # EOF. @return a malloc'd body, or NULL. */
static char *metrics_body(run *r, size_t *len) {
    const char *names[256];
    double values[256];
    metric m[256];
    size_t n = mt_sampler_latest(r->s, names, values, 256);
    if (n > 256) n = 256;
    for (size_t i = 0; i < n; i++) metric_of(names[i], values[i], &m[i]);
    qsort(m, n, sizeof *m, metric_cmp);
    char *body = NULL;
    FILE *f = open_memstream(&body, len);
    if (!f) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(m[i].name, m[i - 1].name)) {
            fprintf(f, "# TYPE %s gauge\n", m[i].name);
            if (m[i].bytes) fprintf(f, "# UNIT %s bytes\n", m[i].name);
        } else if (!strcmp(m[i].value, m[i - 1].value) && !strcmp(m[i].process, m[i - 1].process)) {
            continue; /* two series that sanitize alike: the first wins */
        }
        fprintf(f, "%s{pid=\"%d\",command=\"", m[i].name, (int)r->pid);
        mt_text_put(f, MT_TEXT_OPENMETRICS, r->label, strlen(r->label));
        fputc('"', f);
        if (m[i].value[0]) fprintf(f, ",device=\"%s\"", m[i].value);
        if (m[i].process[0]) fprintf(f, ",process=\"%s\"", m[i].process);
        char num[MT_JSON_NUM_MAX];
        if (!mt_json_num(num, m[i].v, 0)) strcpy(num, isnan(m[i].v) ? "NaN" : m[i].v > 0 ? "+Inf" : "-Inf");
        fprintf(f, "} %s\n", num);
    }
    fputs("# EOF\n", f);
    if (fclose(f)) {
        free(body);
        return NULL;
    }
    return body;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return; /* the client left, or SO_SNDTIMEO ran out */
        p += w;
        n -= (size_t)w;
    }
}

/* body is left out for HEAD (send_body 0), its length still said. */
static void respond_as(int fd, const char *status, const char *type, const char *body, size_t len, int send_body) {
    char head[256];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                     type, len);
    send_all(fd, head, (size_t)h);
    if (send_body) send_all(fd, body, len);
}

static void respond_text(int fd, const char *status, const char *msg) {
    respond_as(fd, status, "text/plain; charset=utf-8", msg, strlen(msg), 1);
}

/* Request heads longer than this are refused: a scraper sends a few
 * hundred bytes. */
#define MAX_REQUEST 8192

static void serve_one(listener *l, int fd) {
    char req[MAX_REQUEST + 1];
    size_t got = 0;
    /* A client that stalls holds the listener at most this long, never
     * the sampler, which shares only mt_sampler_latest's lock with it. */
    struct timeval tv = { 2, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int whole = 0; /* the head ended with its blank line */
    while (got < MAX_REQUEST && !whole) {
        ssize_t k = recv(fd, req + got, MAX_REQUEST - got, 0);
        if (k <= 0) break;
        got += (size_t)k;
        req[got] = 0;
        whole = strstr(req, "\r\n\r\n") || strstr(req, "\n\n");
    }
    req[got] = 0;
    if (!whole) {
        if (got >= MAX_REQUEST)
            respond_text(fd, "431 Request Header Fields Too Large", "request head over 8 KiB\n");
        else if (got)
            respond_text(fd, "400 Bad Request", "request head cut short\n");
        return;
    }
    req[strcspn(req, "\r\n")] = 0;
    char method[16], target[1024], version[16];
    if (sscanf(req, "%15s %1023s %15s", method, target, version) != 3 || strncmp(version, "HTTP/1.", 7)) {
        respond_text(fd, "400 Bad Request", "bad request\n");
        return;
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        respond_text(fd, "405 Method Not Allowed", "only GET\n");
        return;
    }
    size_t path_len = strcspn(target, "?");
    if (path_len != 8 || strncmp(target, "/metrics", 8)) {
        respond_text(fd, "404 Not Found", "not found: the figures are at /metrics\n");
        return;
    }
    size_t len = 0;
    char *body = metrics_body(l->r, &len);
    if (!body) {
        respond_text(fd, "500 Internal Server Error", "out of memory\n");
        return;
    }
    respond_as(fd, "200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", body, len,
               strcmp(method, "HEAD") != 0);
    free(body);
}

/* One connection at a time: a scraper asks every few seconds. */
static void *serve(void *arg) {
    listener *l = arg;
    while (!atomic_load(&l->stop)) {
        struct pollfd p = { l->fd, POLLIN, 0 };
        if (poll(&p, 1, 100) <= 0) continue;
        int c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        serve_one(l, c);
        close(c);
    }
    return NULL;
}

/* Binds [ADDR:]PORT (127.0.0.1 without ADDR; [V6]:PORT for IPv6) and
 * says where on stderr. @return the socket, or exits. */
static int listen_on(const mt_cli *c, const char *spec, int quiet) {
    char host[128] = "127.0.0.1";
    const char *port = spec;
    const char *colon = strrchr(spec, ':');
    if (colon) {
        const char *h = spec;
        size_t n = (size_t)(colon - spec);
        if (n >= 2 && h[0] == '[' && h[n - 1] == ']') h++, n -= 2;
        if (!n || n >= sizeof host)
            mt_cli_usage_error(c, "--listen expects [ADDR:]PORT such as 9464 or 127.0.0.1:9464, not '%s'", spec);
        memcpy(host, h, n);
        host[n] = 0;
        port = colon + 1;
    }
    uint64_t p;
    if (mt_cli_parse_uint(port, 65535, &p))
        mt_cli_usage_error(c, "--listen: the port must be an integer from 0 to 65535, not '%s'", port);
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM };
    struct addrinfo *ai;
    if (getaddrinfo(host, port, &hints, &ai))
        mt_cli_usage_error(c, "--listen: '%s' is not a numeric IPv4 or IPv6 address", host);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 8)) {
        fprintf(stderr, "%s: --listen %s: cannot listen: %s\n", tool.name, spec, strerror(errno));
        exit(MT_EXIT_INPUT);
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    char shown[INET6_ADDRSTRLEN + 2] = "?";
    unsigned bound = 0;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    int loopback = 0;
    if (sa.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&sa;
        inet_ntop(AF_INET, &in->sin_addr, shown, sizeof shown);
        bound = ntohs(in->sin_port);
        loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (sa.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
        shown[0] = '[';
        inet_ntop(AF_INET6, &in6->sin6_addr, shown + 1, sizeof shown - 2);
        strcat(shown, "]");
        bound = ntohs(in6->sin6_port);
        loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    /* Port 0 is only of use once it is printed: said even with -q. */
    if (!quiet || p == 0) fprintf(stderr, "%s: listening on %s:%u\n", tool.name, shown, bound);
    if (!loopback && !quiet)
        fprintf(stderr, "%s: warning: every host that can reach %s can read the figures of /metrics\n", tool.name,
                shown);
    return fd;
}

/* ------------------------------------------------------------------ */
/* The command.                                                          */

/* Forks COMMAND held before its exec until *go is written, so that the
 * sampler's first point comes before the command's first allocation;
 * *err reports exec's errno (closed on exec: EOF means it ran). */
static pid_t fork_command(char **cmd, const sigset_t *mask, int *go, int *err) {
    int g[2], e[2];
    if (pipe2(g, O_CLOEXEC) || pipe2(e, O_CLOEXEC)) return -1;
    pid_t child = fork();
    if (child < 0) return -1;
    if (child == 0) {
        char b;
        close(g[1]);
        close(e[0]);
        if (read(g[0], &b, 1) != 1) _exit(EXIT_NOT_FOUND); /* memtrace-sample gave up */
        sigprocmask(SIG_SETMASK, mask, NULL);
        signal(SIGPIPE, SIG_DFL); /* an ignored signal stays ignored across exec */
        execvp(cmd[0], cmd);
        int no = errno;
        ssize_t w = write(e[1], &no, sizeof no);
        (void)w;
        _exit(no == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
    }
    close(g[0]);
    close(e[1]);
    *go = g[1];
    *err = e[0];
    return child;
}

/* A process as /proc names it now: its start time (clock ticks after
 * boot) tells it from a later one that reuses its PID. */
typedef struct proc_id {
    pid_t pid, ppid;
    unsigned long long start;
} proc_id;

/* Fields 4 and 22 of /proc/PID/stat, after the command's parentheses
 * (which may hold spaces and parentheses themselves). @return 0 or -1. */
static int proc_stat(pid_t pid, proc_id *out) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    int ppid;
    if (!p || sscanf(p + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                     &ppid, &out->start) != 2)
        return -1;
    out->pid = pid;
    out->ppid = ppid;
    return 0;
}

/* The command and its descendants, parents first, into t (cap entries),
 * each with its start time, so that a pid reused later is not signalled.
 * @return how many. */
static size_t tree_of(pid_t root, proc_id *t, size_t cap) {
    pid_t *pids;
    size_t np, n = 0;
    if (mt_proc_tree(NULL, root, &pids, &np)) return 0;
    for (size_t i = 0; i < np && n < cap; i++)
        if (!proc_stat(pids[i], &t[n])) n++;
    free(pids);
    return n;
}

/* Sends sig to each process of t that is still the one found. */
static void signal_tree(const proc_id *t, size_t n, int sig) {
    for (size_t i = 0; i < n; i++) {
        proc_id now;
        if (!proc_stat(t[i].pid, &now) && now.start == t[i].start) kill(t[i].pid, sig);
    }
}

/* The command line as one string, for the meta and the start event. */
static char *join(char **argv, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(argv[i]) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i) strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

/* What -p's process runs: /proc/PID/cmdline with spaces, or "". */
static char *proc_cmdline(pid_t pid, char *comm, size_t comm_n) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    if (n < 0) n = 0;
    buf[n] = 0;
    for (ssize_t i = 0; i + 1 < n; i++)
        if (!buf[i]) buf[i] = ' ';
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t k = fd >= 0 ? read(fd, comm, comm_n - 1) : -1;
    if (fd >= 0) close(fd);
    comm[k > 0 ? k : 0] = 0;
    comm[strcspn(comm, "\n")] = 0;
    return strdup(buf);
}

/* sample-PID.snap, or sample-PID-2.snap and on when that exists: a name
 * chosen for the user never replaces a file. */
static char *default_path(pid_t pid) {
    char buf[64];
    struct stat st;
    snprintf(buf, sizeof buf, "sample-%d.snap", (int)pid);
    for (unsigned k = 2; lstat(buf, &st) == 0 && k < 100000; k++)
        snprintf(buf, sizeof buf, "sample-%d-%u.snap", (int)pid, k);
    return strdup(buf);
}

/* The library's message (the expression, what is wrong, the column, what
 * was expected), then the expression with a caret under that column. */
static __attribute__((noreturn)) void bad_alert(const char *expr, const mt_diag *d) {
    char shown[600], before[600], msg[600];
    size_t col = d->column ? d->column - 1 : 0;
    if (col > strlen(expr)) col = strlen(expr);
    mt_text_escape(shown, sizeof shown, MT_TEXT_TERMINAL, expr, strlen(expr));
    mt_text_escape(before, sizeof before, MT_TEXT_TERMINAL, expr, col);
    mt_text_escape(msg, sizeof msg, MT_TEXT_TERMINAL, d->msg, strlen(d->msg));
    size_t pad = 0; /* characters, not bytes: the escaped text is UTF-8 */
    for (const char *q = before; *q; q++) pad += ((unsigned char)*q & 0xC0) != 0x80;
    fprintf(stderr, "%s: --alert %s\n  %s\n  %*s^\n", tool.name, msg[0] ? msg : shown, shown, (int)pad, "");
    fprintf(stderr, "Try '%s --help' for more information.\n", tool.name);
    exit(MT_EXIT_USAGE);
}

/* Reaps what ended (the command, :exec alerts' shells); when the command
 * did, sets *status to its exit status (128+N for signal N), makes it
 * *code unless an alert set one already, and clears *child. */
static void reap(pid_t *child, int *status, int *code) {
    int st;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0)
        if (*child && w == *child) {
            *status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
            *child = 0;
            if (*code == MT_EXIT_OK) *code = *status;
        }
}

/* Frees what main allocated and returns code: every way out of main. */
static int leave(int code, mt_cli *c, void *alert_text, void *alerts, char *cmdline, char *chosen) {
    free(chosen);
    free(cmdline);
    free(alerts);
    free(alert_text);
    free(c->args);
    return code;
}
#define LEAVE(code) return leave((code), &c, (void *)alert_text, alerts, cmdline, chosen)

int main(int argc, char **argv) {
    const char *out = NULL, *listen_spec = NULL;
    const char **alert_text = NULL;
    size_t n_alerts = 0;
    uint64_t interval = 100, pid64 = 0;
    double duration = 0;
    int no_children = 0, quiet = 0;
    const mt_opt opts[] = {
        MT_OPT_OUTPUT("FILE", &out, "the run file (default: sample-PID.snap here, never replacing a file)"),
        MT_OPT_UINT_RANGE('i', "interval", "MS", &interval, 10, 3600000, "milliseconds between samples (default: 100)"),
        MT_OPT_LIST(0, "alert", "EXPR", &alert_text, &n_alerts, "act when a measure passes a threshold (repeatable)"),
        MT_OPT_STRING(0, "listen", "[ADDR:]PORT", &listen_spec,
                      "serve the latest figures at /metrics (OpenMetrics; ADDR 127.0.0.1 by default)"),
        MT_OPT_FLAG(0, "no-children", &no_children, "sample the process alone, not its descendants"),
        MT_OPT_DOUBLE(0, "duration", "SECONDS", &duration, 0.01, 1e9, "stop recording after this long"),
        MT_OPT_FLAG('q', "quiet", &quiet, "print no start and end lines"),
        MT_OPT_UINT_RANGE('p', "pid", "PID", &pid64, 1, INT32_MAX, "sample this running process until it ends"),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    char **cmd = NULL;
    int ncmd = c.nargs;
    if (ncmd) {
        /* Everything after "--" is the command's, options included; an
         * argument before it is a mistake, not a command. */
        if (!c.only_args || c.args[0] != argv[argc - ncmd] || strcmp(argv[argc - ncmd - 1], "--"))
            mt_cli_usage_error(&c, "unexpected argument '%s': the command goes after '--'", c.args[0]);
        cmd = argv + argc - ncmd;
    }
    if (pid64 && cmd) mt_cli_usage_error(&c, "-p and a command exclude each other");
    if (!pid64 && !cmd) mt_cli_usage_error(&c, "missing -p PID or -- COMMAND");

    char *cmdline = NULL, *chosen = NULL;
    mt_alert *alerts = n_alerts ? calloc(n_alerts, sizeof *alerts) : NULL;
    if (n_alerts && !alerts) LEAVE(MT_EXIT_INPUT);
    for (size_t i = 0; i < n_alerts; i++) {
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        if (mt_alert_parse(alert_text[i], &alerts[i], &d)) bad_alert(alert_text[i], &d);
    }

    run r = { 0 };
    r.quiet = quiet;
    pid_t pid = (pid_t)pid64;
    if (pid && kill(pid, 0) && errno == ESRCH) {
        fprintf(stderr, "%s: no process with PID %d\n", tool.name, (int)pid);
        LEAVE(MT_EXIT_INPUT);
    }
    listener l = { .fd = -1, .r = &r };
    if (listen_spec) l.fd = listen_on(&c, listen_spec, quiet);

    /* A closed stderr or a scraper that hung up is no reason to leave the
     * run file unclosed; the command gets SIGPIPE's default back. */
    signal(SIGPIPE, SIG_IGN);

    /* The main loop takes these with sigtimedwait; blocked before any
     * thread starts, so that every thread inherits the mask. */
    sigset_t waitset, old;
    sigemptyset(&waitset);
    sigaddset(&waitset, SIGINT);
    sigaddset(&waitset, SIGTERM);
    sigaddset(&waitset, SIGHUP);
    sigaddset(&waitset, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &waitset, &old);

    int go = -1, err = -1;
    pid_t child = 0;
    if (cmd) {
        if ((child = fork_command(cmd, &old, &go, &err)) < 0) {
            fprintf(stderr, "%s: %s: cannot start: %s\n", tool.name, mt_cli_cstr(cmd[0]), strerror(errno));
            LEAVE(MT_EXIT_INPUT);
        }
        pid = child;
        cmdline = join(cmd, ncmd);
        const char *base = strrchr(cmd[0], '/');
        snprintf(r.label, sizeof r.label, "%s", base ? base + 1 : cmd[0]);
    } else {
        cmdline = proc_cmdline(pid, r.label, sizeof r.label);
    }
    chosen = out ? NULL : default_path(pid);
    r.pid = pid;
    r.path = out ? out : chosen;
    if (!cmdline || !r.path) LEAVE(MT_EXIT_INPUT);

    mt_sampler_config cfg = {
        .path = r.path,
        .interval_ns = interval * 1000000ull,
        .pid = pid,
        .follow_children = !no_children,
        /* NVML where the driver put it elsewhere, or "" for no GPU series;
         * the tests load a fake. */
        .nvml_lib = getenv("MEMTRACE_NVML_LIB"),
        .tool = tool.name,
        .command = cmdline,
        .alerts = alerts,
        .n_alerts = n_alerts,
        .on_alert = on_alert,
        .extra = on_sample,
        .ctx = &r,
    };
    mt_diag diag = { 0 };
    mt_diag_clear(&diag);
    diag.file = r.path;
    if (mt_sampler_start(&cfg, &r.s, &diag)) {
        if (child) {
            close(go); /* the command is never run */
            waitpid(child, NULL, 0);
        }
        if (l.fd >= 0) close(l.fd);
        LEAVE(mt_cli_fail(tool.name, r.path, &diag));
    }
    if (l.fd >= 0 && pthread_create(&l.thread, NULL, serve, &l)) {
        fprintf(stderr, "%s: cannot start the --listen thread\n", tool.name);
        close(l.fd);
        l.fd = -1;
    }
    uint64_t t0 = mono_ns();

    int code = MT_EXIT_OK, status = -1, exec_failed = 0;
    if (child) {
        ssize_t w = write(go, "g", 1);
        (void)w;
        close(go);
        int no;
        ssize_t k;
        while ((k = read(err, &no, sizeof no)) < 0 && errno == EINTR) {}
        close(err);
        if (k == (ssize_t)sizeof no) {
            if (no == ENOENT)
                fprintf(stderr, "%s: %s: command not found\n", tool.name, mt_cli_cstr(cmd[0]));
            else
                fprintf(stderr, "%s: %s: cannot execute: %s\n", tool.name, mt_cli_cstr(cmd[0]), strerror(no));
            code = no == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
            waitpid(child, NULL, 0);
            child = 0;
            status = code;
            exec_failed = 1;
        }
    }

    /* Said once the command runs: one that cannot gets its error alone. */
    if (!quiet && !exec_failed)
        fprintf(stderr, "%s: recording PID %d to %s every %" PRIu64 " ms\n", tool.name, (int)pid,
                mt_cli_cstr(r.path), interval);

    /* Until the command ends (its status is ours), -p's process goes, a
     * signal or --duration stops the recording, or an :exit alert. */
    uint64_t term_at = 0, stop_at = duration > 0 ? t0 + (uint64_t)(duration * 1e9) : 0;
    int killed = 0;
    static proc_id stopped[4096]; /* what an :exit alert stopped */
    size_t n_stopped = 0;
    while (code == MT_EXIT_OK || child) {
        struct timespec tick = { 0, 50 * 1000000 };
        siginfo_t si;
        int sig = sigtimedwait(&waitset, &si, &tick);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
            if (!child) break;
            /* A signal from the terminal reached the command's process
             * group already (the command included); one sent to us alone
             * is passed on. */
            if (si.si_code != SI_KERNEL) kill(child, sig);
        }
        reap(&child, &status, &code);
        if (cmd && !child) break;
        if (!cmd && mt_sampler_target_gone(r.s)) break;
        uint64_t now = mono_ns();
        if (atomic_load(&r.exit_alert) && code != EXIT_ALERT) {
            code = EXIT_ALERT;
            if (!child) break; /* -p: the process is not ours to stop */
            /* The whole tree: a shell does not pass SIGTERM on to what it
             * runs, and what the command started is part of the run. */
            n_stopped = tree_of(child, stopped, sizeof stopped / sizeof *stopped);
            signal_tree(stopped, n_stopped, SIGTERM);
            term_at = now;
        }
        if (term_at && !killed && now - term_at >= KILL_AFTER_NS) {
            signal_tree(stopped, n_stopped, SIGKILL);
            kill(child, SIGKILL);
            killed = 1;
        }
        if (stop_at && now >= stop_at) {
            /* A command runs on: the recording stops, and its status is
             * still ours (the loop after the recording waits for it). */
            if (child && !quiet)
                fprintf(stderr, "%s: --duration reached: recording stopped, waiting for the command\n", tool.name);
            break;
        }
    }
    if (l.fd >= 0) {
        atomic_store(&l.stop, 1);
        pthread_join(l.thread, NULL);
        close(l.fd);
    }
    uint64_t samples = atomic_load(&r.samples), peak = atomic_load(&r.peak_rss), peak_ns = atomic_load(&r.peak_ns);
    uint64_t ran = mt_sampler_now(r.s);
    mt_diag_clear(&diag);
    diag.file = r.path;
    if (mt_sampler_stop(r.s, child ? -1 : status, &diag)) {
        int rc = mt_cli_fail(tool.name, r.path, &diag);
        if (code == MT_EXIT_OK) code = rc;
    }
    if (!quiet && !exec_failed) {
        char a[32], b[32], p[16], at[80] = "";
        if (peak)
            snprintf(at, sizeof at, "; peak rss %s at %s", mt_human_bytes(peak, p), human_duration(peak_ns, b, sizeof b));
        fprintf(stderr, "%s: recorded %" PRIu64 " sample%s over %s to %s%s\n", tool.name, samples,
                samples == 1 ? "" : "s", human_duration(ran, a, sizeof a), mt_cli_cstr(r.path), at);
    }
    /* A command that never ran leaves no file of ours behind. */
    if (exec_failed && chosen) unlink(chosen);
    while (child) {
        /* The recording is closed; the command's status is still ours. */
        siginfo_t si;
        int sig = sigwaitinfo(&waitset, &si);
        if ((sig == SIGINT || sig == SIGTERM || sig == SIGHUP) && si.si_code != SI_KERNEL) kill(child, sig);
        reap(&child, &status, &code);
    }
    LEAVE(code);
}
