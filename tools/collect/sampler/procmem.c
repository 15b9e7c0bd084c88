/* A process's memory from /proc: VmRSS and VmSwap of status, Pss and the
 * private pages of smaps_rollup, summed over its descendants on demand. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int mt__root_path(char *out, size_t n, const char *root, const char *path) {
    int k = snprintf(out, n, "%s%s", root ? root : "", path);
    return k < 0 || (size_t)k >= n ? MT_E_RANGE : 0;
}

/* Not mt_input_read() (fileio.h): that one stats and allocates, and this
 * runs for several files every sample, into the caller's stack buffer. */
long mt__read_small(const char *root, const char *path, char *buf, size_t n) {
    char full[1024];
    if (mt__root_path(full, sizeof full, root, path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t got = 0;
    while (got + 1 < n) {
        ssize_t k = read(fd, buf + got, n - 1 - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (k == 0) break;
        got += (size_t)k;
    }
    close(fd);
    buf[got] = 0;
    return (long)got;
}

int mt__field_kb(const char *text, const char *key, uint64_t *out) {
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) != 0) continue;
        const char *q = p + kl;
        while (*q == ' ' || *q == '\t') q++;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(q, &end, 10);
        if (end == q || errno) return 0;
        while (*end == ' ' || *end == '\t') end++;
        *out = strncmp(end, "kB", 2) == 0 ? (uint64_t)v * 1024u : (uint64_t)v;
        return 1;
    }
    return 0;
}

/* One process's figures added to *out. @return 0, or MT_E_NOTFOUND when
 * it is gone (no status, or a zombie: it exited and awaits its parent). */
static int read_one(const char *root, pid_t pid, mt_procmem *out, int *rollup, int want_rollup) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (mt__read_small(root, path, buf, sizeof buf) < 0)
        return errno == ENOENT || errno == ESRCH ? MT_E_NOTFOUND : MT_E_IO;
    const char *st = strstr(buf, "\nState:");
    if (st) {
        st += 7;
        while (*st == ' ' || *st == '\t') st++;
        if (*st == 'Z' || *st == 'X') return MT_E_NOTFOUND;
    }
    uint64_t v;
    if (mt__field_kb(buf, "VmRSS:", &v)) out->rss += v;
    if (mt__field_kb(buf, "VmSwap:", &v)) out->swap += v;
    out->procs++;
    *rollup = 0;
    if (!want_rollup) return 0;
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    char rb[4096];
    if (mt__read_small(root, path, rb, sizeof rb) > 0) {
        uint64_t pss = 0, clean = 0, dirty = 0;
        if (mt__field_kb(rb, "Pss:", &pss)) {
            mt__field_kb(rb, "Private_Clean:", &clean);
            mt__field_kb(rb, "Private_Dirty:", &dirty);
            out->pss += pss;
            out->uss += clean + dirty;
            *rollup = 1;
        }
    }
    return 0;
}

typedef struct pidvec {
    pid_t *v;
    size_t n, cap;
} pidvec;

/* Processes a tree may hold before the walk stops adding: a bound on the
 * walk's memory and time, far above a real job's tree. */
#define MAX_TREE 65536

static int push(pidvec *pv, pid_t p) {
    for (size_t i = 0; i < pv->n; i++)
        if (pv->v[i] == p) return 0; /* a pid met twice: reused, or a cycle */
    if (pv->n >= MAX_TREE) return 0;
    if (pv->n == pv->cap) {
        size_t cap = pv->cap ? pv->cap * 2 : 16;
        pid_t *nv = realloc(pv->v, cap * sizeof *nv);
        if (!nv) return MT_E_NOMEM;
        pv->v = nv;
        pv->cap = cap;
    }
    pv->v[pv->n++] = p;
    return 0;
}

static void push_list(pidvec *pv, const char *text, int *rc) {
    const char *p = text;
    while (*p) {
        char *end;
        long c = strtol(p, &end, 10);
        if (end == p) break;
        if (c > 0 && !*rc) *rc = push(pv, (pid_t)c);
        p = end;
    }
}

/* The children of pid through /proc/PID/task/TID/children (each thread's
 * own children). @return 1 when that file exists, 0 when the kernel lacks
 * it (then the caller scans every /proc/N/stat), -1 when there is no task
 * directory (the process ended; a /proc without them). */
static int children_of(const char *root, pid_t pid, pidvec *pv, int *rc) {
    char path[1024], dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    if (mt__root_path(path, sizeof path, root, dir)) return 0;
    DIR *d = opendir(path);
    if (!d) return -1;
    int found = 0;
    struct dirent *e;
    char buf[8192];
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char f[128];
        snprintf(f, sizeof f, "%s/%.32s/children", dir, e->d_name);
        if (mt__read_small(root, f, buf, sizeof buf) < 0) continue;
        found = 1;
        push_list(pv, buf, rc);
    }
    closedir(d);
    return found;
}

/* Every process whose parent is in pv from index `from` on, by the ppid of
 * /proc/N/stat (field 4, after the command in parentheses). */
static void scan_ppid(const char *root, pidvec *pv, int *rc) {
    char path[1024];
    if (mt__root_path(path, sizeof path, root, "/proc")) return;
    DIR *d = opendir(path);
    if (!d) return;
    /* Parents found in one pass may have children listed earlier: repeat
     * until a pass adds nothing. */
    for (size_t before = 0; before != pv->n && !*rc;) {
        before = pv->n;
        rewinddir(d);
        struct dirent *e;
        char buf[1024];
        while ((e = readdir(d)) && !*rc) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            char f[128];
            snprintf(f, sizeof f, "/proc/%.32s/stat", e->d_name);
            if (mt__read_small(root, f, buf, sizeof buf) <= 0) continue;
            const char *rp = strrchr(buf, ')');
            if (!rp) continue;
            char state;
            int ppid;
            if (sscanf(rp + 1, " %c %d", &state, &ppid) != 2) continue;
            for (size_t i = 0; i < pv->n; i++)
                if (pv->v[i] == ppid) {
                    *rc = push(pv, (pid_t)atoi(e->d_name));
                    break;
                }
        }
    }
    closedir(d);
}

int mt_procmem_read(const char *root, pid_t pid, int children, mt_procmem *out) {
    return mt_procmem_read_opts(root, pid, children, 1, out);
}

int mt_procmem_read_opts(const char *root, pid_t pid, int children, int rollup_too, mt_procmem *out) {
    memset(out, 0, sizeof *out);
    int rollup = 0;
    int rc = read_one(root, pid, out, &rollup, rollup_too);
    if (rc) return rc;
    out->has_rollup = rollup;
    if (!children) return 0;
    pidvec pv = {0};
    rc = push(&pv, pid);
    int have_children_files = 1;
    for (size_t i = 0; i < pv.n && !rc; i++) {
        int k = children_of(root, pv.v[i], &pv, &rc);
        /* A descendant without a task directory just ended; the target
         * without one, or any process without the files, means a kernel
         * that does not list children. */
        if (k == 0 || (k < 0 && i == 0)) {
            have_children_files = 0;
            break;
        }
    }
    if (!have_children_files && !rc) {
        pv.n = 1;
        scan_ppid(root, &pv, &rc);
    }
    /* A descendant that vanished between the listing and its reading just
     * ended: it is left out, not an error. */
    for (size_t i = 1; i < pv.n && !rc; i++) {
        int r = 0;
        int e = read_one(root, pv.v[i], out, &r, rollup_too);
        if (e && e != MT_E_NOTFOUND && e != MT_E_IO) rc = e;
    }
    free(pv.v);
    return rc;
}
