/* The cgroup figures of a process (v2, or v1's memory controller) and
 * the machine's /proc/meminfo. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* dir = root + base + path ("/" the base itself). @return 0 or MT_E_NOTFOUND. */
static int cg_dir(mt_cgroup *out, const char *root, const char *base, const char *cg) {
    char rel[600];
    snprintf(rel, sizeof rel, "%s%s", base, strcmp(cg, "/") == 0 ? "" : cg);
    if (mt__root_path(out->dir, sizeof out->dir, root, rel)) return MT_E_NOTFOUND;
    out->base_len = strlen(root ? root : "") + strlen(base);
    return 0;
}

/* 1 when the comma-separated controller list names memory. */
static int lists_memory(const char *c, size_t n) {
    for (size_t i = 0; i + 6 <= n; i++)
        if (!strncmp(c + i, "memory", 6) && (i == 0 || c[i - 1] == ',') && (i + 6 == n || c[i + 6] == ','))
            return 1;
    return 0;
}

int mt_cgroup_find(const char *root, pid_t pid, mt_cgroup *out) {
    memset(out, 0, sizeof *out);
    out->max = UINT64_MAX;
    char path[64], buf[4096], probe[700];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    if (mt__read_small(root, path, buf, sizeof buf) < 0) return MT_E_NOTFOUND;
    const char *v2 = NULL, *v1 = NULL;
    /* cgroup v2 is the line of hierarchy 0 with no controllers: "0::/a/b";
     * v1's memory controller a line "N:memory:/a/b" (or with others). */
    for (char *p = buf; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        char *c1 = strchr(p, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (strncmp(p, "0::", 3) == 0) v2 = p + 3;
        else if (c1 && c2 && lists_memory(c1 + 1, (size_t)(c2 - c1 - 1))) v1 = c2 + 1;
        p = nl ? nl + 1 : NULL;
    }
    /* A v2 line whose cgroup has no memory.current (a hybrid host's
     * unified tree, the root cgroup) gives way to v1's memory controller. */
    if (v2 && !cg_dir(out, root, "/sys/fs/cgroup", v2)) {
        snprintf(probe, sizeof probe, "%s/memory.current", out->dir);
        if (!v1 || access(probe, R_OK) == 0) return 0;
    }
    if (v1 && !cg_dir(out, root, "/sys/fs/cgroup/memory", v1)) {
        out->v1 = 1;
        return 0;
    }
    if (v2) return cg_dir(out, root, "/sys/fs/cgroup", v2);
    return MT_E_NOTFOUND;
}

/* Reads dir/name into buf. @return bytes or -1. */
static long read_cg(const mt_cgroup *cg, const char *name, char *buf, size_t n) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", cg->dir, name);
    return mt__read_small("", path, buf, n);
}

static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno) return 0;
    *out = (uint64_t)v;
    return 1;
}

/* The count after "key " on a line of memory.events. */
static int event_count(const char *text, const char *key, uint64_t *out) {
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ') return parse_u64(p + kl + 1, out);
    return 0;
}

/* v1 writes "no limit" as the largest page-aligned long (9223372036854771712). */
#define V1_NO_LIMIT (1ull << 62)

int mt_cgroup_read(mt_cgroup *cg) {
    char buf[1024];
    int any = 0;
    const char *current = cg->v1 ? "memory.usage_in_bytes" : "memory.current";
    const char *limit = cg->v1 ? "memory.limit_in_bytes" : "memory.max";
    cg->has_current = 0;
    cg->has_events = 0;
    cg->max = UINT64_MAX;
    if (read_cg(cg, current, buf, sizeof buf) > 0 && parse_u64(buf, &cg->current))
        any = cg->has_current = 1;
    if (read_cg(cg, limit, buf, sizeof buf) > 0) {
        uint64_t m;
        if (strncmp(buf, "max", 3) != 0 && parse_u64(buf, &m) && !(cg->v1 && m >= V1_NO_LIMIT)) cg->max = m;
        any = 1;
    }
    /* The limit that applies is the least of the ancestors' too: Slurm
     * limits job_N and runs the task in job_N/step_M/task_0, systemd puts
     * MemoryMax= on a slice above the scope. The leaf's "max" alone made
     * time to limit and N%limit alerts use MemTotal, far past the OOM. */
    char up[sizeof cg->dir], path[sizeof cg->dir + 32];
    snprintf(up, sizeof up, "%s", cg->dir);
    for (char *slash; strlen(up) > cg->base_len && (slash = strrchr(up, '/')) && (size_t)(slash - up) >= cg->base_len;) {
        *slash = 0;
        if ((size_t)(slash - up) == cg->base_len) break; /* the root cgroup has no limit */
        snprintf(path, sizeof path, "%s/%s", up, limit);
        uint64_t m;
        if (mt__read_small("", path, buf, sizeof buf) > 0 && strncmp(buf, "max", 3) != 0 && parse_u64(buf, &m) &&
            !(cg->v1 && m >= V1_NO_LIMIT) && m < cg->max)
            cg->max = m;
    }
    if (!cg->v1 && read_cg(cg, "memory.events", buf, sizeof buf) > 0) {
        cg->oom = cg->oom_kill = 0;
        int a = event_count(buf, "oom", &cg->oom);
        int b = event_count(buf, "oom_kill", &cg->oom_kill);
        cg->has_events = a || b;
        any = 1;
    }
    /* v1 counts OOM kills in memory.oom_control (kernel 4.13 on); it has
     * no count of OOM events as such. */
    if (cg->v1 && read_cg(cg, "memory.oom_control", buf, sizeof buf) > 0) {
        cg->oom = cg->oom_kill = 0;
        cg->has_events = event_count(buf, "oom_kill", &cg->oom_kill);
        cg->oom = cg->oom_kill;
        any = 1;
    }
    return any ? 0 : MT_E_IO;
}

int mt_meminfo_read(const char *root, uint64_t *available, uint64_t *total) {
    char buf[8192];
    if (mt__read_small(root, "/proc/meminfo", buf, sizeof buf) < 0) return MT_E_IO;
    uint64_t a = 0, t = 0;
    if (!mt__field_kb(buf, "MemTotal:", &t)) return MT_E_IO;
    /* MemAvailable came with Linux 3.14; without it, MemFree is the floor. */
    if (!mt__field_kb(buf, "MemAvailable:", &a)) mt__field_kb(buf, "MemFree:", &a);
    if (available) *available = a;
    if (total) *total = t;
    return 0;
}
