/* The cgroup v2 figures of a process and the machine's /proc/meminfo. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int mt_cgroup_find(const char *root, pid_t pid, mt_cgroup *out) {
    memset(out, 0, sizeof *out);
    out->max = UINT64_MAX;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    if (mt__read_small(root, path, buf, sizeof buf) < 0) return MT_E_NOTFOUND;
    /* cgroup v2 is the line of hierarchy 0 with no controllers: "0::/a/b".
     * A v1-only machine has none. */
    for (char *p = buf; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        if (strncmp(p, "0::", 3) == 0) {
            const char *cg = p + 3;
            char rel[600];
            /* "/" is the root cgroup; the directory is then /sys/fs/cgroup. */
            snprintf(rel, sizeof rel, "/sys/fs/cgroup%s", strcmp(cg, "/") == 0 ? "" : cg);
            if (mt__root_path(out->dir, sizeof out->dir, root, rel)) return MT_E_NOTFOUND;
            out->base_len = strlen(root ? root : "") + strlen("/sys/fs/cgroup");
            return 0;
        }
        p = nl ? nl + 1 : NULL;
    }
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

int mt_cgroup_read(mt_cgroup *cg) {
    char buf[1024];
    int any = 0;
    cg->has_current = 0;
    cg->has_events = 0;
    cg->max = UINT64_MAX;
    if (read_cg(cg, "memory.current", buf, sizeof buf) > 0 && parse_u64(buf, &cg->current))
        any = cg->has_current = 1;
    if (read_cg(cg, "memory.max", buf, sizeof buf) > 0) {
        uint64_t m;
        if (strncmp(buf, "max", 3) != 0 && parse_u64(buf, &m)) cg->max = m;
        any = 1;
    }
    /* The limit that applies is the least of the ancestors' too: Slurm
     * limits job_N and runs the task in job_N/step_M/task_0, systemd puts
     * MemoryMax= on a slice above the scope. The leaf's "max" alone made
     * time to limit and N%limit alerts use MemTotal, far past the OOM. */
    char up[sizeof cg->dir], path[sizeof cg->dir + 16];
    snprintf(up, sizeof up, "%s", cg->dir);
    for (char *slash; strlen(up) > cg->base_len && (slash = strrchr(up, '/')) && (size_t)(slash - up) >= cg->base_len;) {
        *slash = 0;
        if ((size_t)(slash - up) == cg->base_len) break; /* the root cgroup has no memory.max */
        snprintf(path, sizeof path, "%s/memory.max", up);
        uint64_t m;
        if (mt__read_small("", path, buf, sizeof buf) > 0 && strncmp(buf, "max", 3) != 0 && parse_u64(buf, &m) &&
            m < cg->max)
            cg->max = m;
    }
    if (read_cg(cg, "memory.events", buf, sizeof buf) > 0) {
        cg->oom = cg->oom_kill = 0;
        int a = event_count(buf, "oom", &cg->oom);
        int b = event_count(buf, "oom_kill", &cg->oom_kill);
        cg->has_events = a || b;
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
