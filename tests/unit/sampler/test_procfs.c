/* The sampler's readers: /proc, cgroup v2 and meminfo through a fake root
 * checked field by field against the numbers written there, the real
 * /proc against /proc/self/statm and sysconf (NVML: test_nvml.c). */
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <math.h>
#include <signal.h>
#include "sampler.h"
#include "fakeroot.h"
#include "../helpers.h"

#define KB 1024ull

START_TEST(status_and_rollup_fields) {
    char *root = fake_root();
    fake_status(root, 100, "S (sleeping)", 1000, 10);
    fake_rollup(root, 100, 800, 100, 500);
    mt_procmem pm;
    ck_assert_int_eq(mt_procmem_read(root, 100, 0, &pm), 0);
    ck_assert_uint_eq(pm.rss, 1000 * KB);
    ck_assert_uint_eq(pm.swap, 10 * KB);
    ck_assert_int_eq(pm.has_rollup, 1);
    ck_assert_uint_eq(pm.pss, 800 * KB);
    ck_assert_uint_eq(pm.uss, 600 * KB);
    ck_assert_uint_eq(pm.procs, 1);
    rm_tree(root);
    free(root);
}
END_TEST

START_TEST(no_rollup_leaves_pss_out) {
    char *root = fake_root();
    fake_status(root, 7, "R (running)", 5, 0);
    mt_procmem pm;
    ck_assert_int_eq(mt_procmem_read(root, 7, 0, &pm), 0);
    ck_assert_uint_eq(pm.rss, 5 * KB);
    ck_assert_int_eq(pm.has_rollup, 0);
    rm_tree(root);
    free(root);
}
END_TEST

START_TEST(a_gone_or_zombie_target_is_notfound) {
    char *root = fake_root();
    mt_procmem pm;
    ck_assert_int_eq(mt_procmem_read(root, 42, 0, &pm), MT_E_NOTFOUND);
    fake_status(root, 43, "Z (zombie)", 0, 0);
    ck_assert_int_eq(mt_procmem_read(root, 43, 1, &pm), MT_E_NOTFOUND);
    rm_tree(root);
    free(root);
}
END_TEST

/* 100 has two threads, each with a child (200, 300); 200 has 400; 300
 * vanished before it was read: left out, not an error. */
START_TEST(children_summed_through_task_children) {
    char *root = fake_root();
    fake_status(root, 100, "S (sleeping)", 1000, 10);
    fake_rollup(root, 100, 800, 100, 500);
    fake_file(root, "proc/100/task/100/children", "200 ");
    fake_file(root, "proc/100/task/101/children", "300 ");
    fake_status(root, 200, "S (sleeping)", 2000, 20);
    fake_rollup(root, 200, 1500, 0, 1200);
    fake_children(root, 200, "400 ");
    fake_status(root, 400, "R (running)", 4000, 0);
    fake_children(root, 400, "");
    mt_procmem pm;
    ck_assert_int_eq(mt_procmem_read(root, 100, 1, &pm), 0);
    ck_assert_uint_eq(pm.procs, 3);
    ck_assert_uint_eq(pm.rss, (1000 + 2000 + 4000) * KB);
    ck_assert_uint_eq(pm.swap, 30 * KB);
    ck_assert_uint_eq(pm.pss, (800 + 1500) * KB);
    ck_assert_uint_eq(pm.uss, (600 + 1200) * KB);
    /* Without children: the target alone. */
    ck_assert_int_eq(mt_procmem_read(root, 100, 0, &pm), 0);
    ck_assert_uint_eq(pm.procs, 1);
    ck_assert_uint_eq(pm.rss, 1000 * KB);
    rm_tree(root);
    free(root);
}
END_TEST

/* A kernel without task/TID/children: descendants by the ppid of
 * /proc/N/stat, whose command may hold ") 1 (". */
START_TEST(children_found_by_ppid_without_children_files) {
    char *root = fake_root();
    fake_status(root, 10, "S (sleeping)", 100, 0);
    fake_file(root, "proc/10/stat", "10 (sh) S 1 10 10 0");
    fake_status(root, 12, "S (sleeping)", 300, 0);
    fake_file(root, "proc/12/stat", "12 (odd) 1 (name) S 11 10 10 0");
    fake_status(root, 11, "S (sleeping)", 200, 0);
    fake_file(root, "proc/11/stat", "11 (python3) S 10 10 10 0");
    fake_status(root, 13, "S (sleeping)", 5000, 0);
    fake_file(root, "proc/13/stat", "13 (other) S 1 13 13 0");
    mt_procmem pm;
    ck_assert_int_eq(mt_procmem_read(root, 10, 1, &pm), 0);
    ck_assert_uint_eq(pm.procs, 3);
    ck_assert_uint_eq(pm.rss, 600 * KB);
    rm_tree(root);
    free(root);
}
END_TEST

START_TEST(cgroup_v2_fields) {
    char *root = fake_root();
    fake_file(root, "proc/100/cgroup", "0::/user.slice/job.scope\n");
    fake_file(root, "sys/fs/cgroup/user.slice/job.scope/memory.current", "123456789\n");
    fake_file(root, "sys/fs/cgroup/user.slice/job.scope/memory.max", "2147483648\n");
    fake_file(root, "sys/fs/cgroup/user.slice/job.scope/memory.events",
              "low 0\nhigh 3\nmax 5\noom 2\noom_kill 1\noom_group_kill 0\n");
    mt_cgroup cg;
    ck_assert_int_eq(mt_cgroup_find(root, 100, &cg), 0);
    char want[600];
    snprintf(want, sizeof want, "%s/sys/fs/cgroup/user.slice/job.scope", root);
    ck_assert_str_eq(cg.dir, want);
    ck_assert_int_eq(mt_cgroup_read(&cg), 0);
    ck_assert_int_eq(cg.has_current, 1);
    ck_assert_uint_eq(cg.current, 123456789);
    ck_assert_uint_eq(cg.max, 2147483648ull);
    ck_assert_int_eq(cg.has_events, 1);
    ck_assert_uint_eq(cg.oom, 2);
    ck_assert_uint_eq(cg.oom_kill, 1);
    fake_file(root, "sys/fs/cgroup/user.slice/job.scope/memory.max", "max\n");
    ck_assert_int_eq(mt_cgroup_read(&cg), 0);
    ck_assert_uint_eq(cg.max, UINT64_MAX);
    rm_tree(root);
    free(root);
}
END_TEST

/* A limit on an ancestor applies to the process (Slurm's job_N above
 * job_N/step_M/task_0, systemd's MemoryMax= on a slice): cgroup.max is the
 * least of the chain, the root cgroup (which has no memory.max) aside. */
START_TEST(cgroup_limit_of_an_ancestor) {
    char *root = fake_root();
    fake_file(root, "proc/200/cgroup", "0::/slurm/job_7/step_0/task_0\n");
    fake_file(root, "sys/fs/cgroup/memory.max", "1\n"); /* never there; ignored if it were */
    fake_file(root, "sys/fs/cgroup/slurm/memory.max", "8589934592\n");
    fake_file(root, "sys/fs/cgroup/slurm/job_7/memory.max", "1073741824\n");
    fake_file(root, "sys/fs/cgroup/slurm/job_7/step_0/memory.max", "max\n");
    fake_file(root, "sys/fs/cgroup/slurm/job_7/step_0/task_0/memory.current", "5000\n");
    fake_file(root, "sys/fs/cgroup/slurm/job_7/step_0/task_0/memory.max", "max\n");
    mt_cgroup cg;
    ck_assert_int_eq(mt_cgroup_find(root, 200, &cg), 0);
    ck_assert_int_eq(mt_cgroup_read(&cg), 0);
    ck_assert_uint_eq(cg.current, 5000);
    ck_assert_uint_eq(cg.max, 1073741824ull);
    /* A tighter limit below wins. */
    fake_file(root, "sys/fs/cgroup/slurm/job_7/step_0/task_0/memory.max", "536870912\n");
    ck_assert_int_eq(mt_cgroup_read(&cg), 0);
    ck_assert_uint_eq(cg.max, 536870912ull);
    /* None anywhere: no limit. */
    fake_file(root, "sys/fs/cgroup/slurm/job_7/step_0/task_0/memory.max", "max\n");
    fake_file(root, "sys/fs/cgroup/slurm/job_7/memory.max", "max\n");
    fake_file(root, "sys/fs/cgroup/slurm/memory.max", "max\n");
    ck_assert_int_eq(mt_cgroup_read(&cg), 0);
    ck_assert_uint_eq(cg.max, UINT64_MAX);
    rm_tree(root);
    free(root);
}
END_TEST

START_TEST(cgroup_root_v1_and_missing) {
    char *root = fake_root();
    mt_cgroup cg;
    fake_file(root, "proc/5/cgroup", "0::/\n");
    ck_assert_int_eq(mt_cgroup_find(root, 5, &cg), 0);
    char want[600];
    snprintf(want, sizeof want, "%s/sys/fs/cgroup", root);
    ck_assert_str_eq(cg.dir, want);
    ck_assert_int_eq(mt_cgroup_read(&cg), MT_E_IO); /* nothing there */
    fake_file(root, "proc/6/cgroup", "12:cpu,cpuacct:/x\n11:cpuset:/x\n");
    ck_assert_int_eq(mt_cgroup_find(root, 6, &cg), MT_E_NOTFOUND); /* no memory controller, no v2 */
    ck_assert_int_eq(mt_cgroup_find(root, 7, &cg), MT_E_NOTFOUND);
    rm_tree(root);
    free(root);
}
END_TEST

/* A hybrid host (this project's CI machine is one) or an older container
 * runtime: the v2 line names the unified tree's root, without memory
 * figures, and the limit is the v1 memory controller's, on an ancestor;
 * v1 writes "no limit" as 9223372036854771712. A v2 cgroup with figures
 * wins over v1. */
START_TEST(cgroup_v1_memory_controller) {
    char *root = fake_root();
    fake_file(root, "proc/8/cgroup", "9:name=systemd:/\n4:memory:/docker/abc\n1:cpu,cpuacct:/\n0::/\n");
    fake_file(root, "sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes", "104857600\n");
    fake_file(root, "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "9223372036854771712\n");
    fake_file(root, "sys/fs/cgroup/memory/docker/abc/memory.oom_control",
              "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    fake_file(root, "sys/fs/cgroup/memory/docker/memory.limit_in_bytes", "1073741824\n");
    fake_file(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    mt_cgroup cg;
    ck_assert_int_eq(mt_cgroup_find(root, 8, &cg), 0);
    ck_assert_int_eq(cg.v1, 1);
    char want[600];
    snprintf(want, sizeof want, "%s/sys/fs/cgroup/memory/docker/abc", root);
    ck_assert_str_eq(cg.dir, want);
    ck_assert_int_eq(mt_cgroup_read(&cg), 0);
    ck_assert_uint_eq(cg.current, 104857600);
    ck_assert_uint_eq(cg.max, 1073741824ull);
    ck_assert_int_eq(cg.has_events, 1);
    ck_assert_uint_eq(cg.oom_kill, 2);
    /* No limit anywhere: none. */
    fake_file(root, "sys/fs/cgroup/memory/docker/memory.limit_in_bytes", "9223372036854771712\n");
    ck_assert_int_eq(mt_cgroup_read(&cg), 0);
    ck_assert_uint_eq(cg.max, UINT64_MAX);
    /* A v2 cgroup with its figures is read as v2. */
    fake_file(root, "proc/9/cgroup", "4:memory:/docker/abc\n0::/app\n");
    fake_file(root, "sys/fs/cgroup/app/memory.current", "5000\n");
    ck_assert_int_eq(mt_cgroup_find(root, 9, &cg), 0);
    ck_assert_int_eq(cg.v1, 0);
    ck_assert_int_eq(mt_cgroup_read(&cg), 0);
    ck_assert_uint_eq(cg.current, 5000);
    rm_tree(root);
    free(root);
}
END_TEST

START_TEST(meminfo_fields) {
    char *root = fake_root();
    fake_file(root, "proc/meminfo",
              "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:   12345678 kB\n"
              "Buffers:           1000 kB\n");
    uint64_t a, t;
    ck_assert_int_eq(mt_meminfo_read(root, &a, &t), 0);
    ck_assert_uint_eq(t, 16000000 * KB);
    ck_assert_uint_eq(a, 12345678 * KB);
    fake_file(root, "proc/meminfo", "MemTotal: 100 kB\nMemFree: 40 kB\n");
    ck_assert_int_eq(mt_meminfo_read(root, &a, &t), 0);
    ck_assert_uint_eq(a, 40 * KB);
    rm_tree(root);
    free(root);
}
END_TEST

/* The real /proc, against statm's resident pages read by another path. */
START_TEST(real_self_against_statm) {
    /* Some memory of our own, so that the figure is not all shared text. */
    size_t n = 32u << 20;
    volatile char *p = malloc(n);
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    mt_procmem pm;
    ck_assert_int_eq(mt_procmem_read(NULL, getpid(), 0, &pm), 0);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, resident;
    ck_assert_int_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    uint64_t statm = (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t diff = pm.rss > statm ? pm.rss - statm : statm - pm.rss;
    ck_assert_msg(diff < (1u << 20), "VmRSS %llu vs statm %llu", (unsigned long long)pm.rss,
                  (unsigned long long)statm);
    ck_assert_uint_ge(pm.rss, n);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    ck_assert_uint_ge((uint64_t)ru.ru_maxrss * 1024 + (1u << 20), pm.rss); /* the peak bounds it */
    if (pm.has_rollup) {
        ck_assert_uint_le(pm.uss, pm.rss);
        ck_assert_uint_ge(pm.uss, n);
    }
    free((void *)p);
    uint64_t a, t;
    ck_assert_int_eq(mt_meminfo_read(NULL, &a, &t), 0);
    ck_assert_uint_eq(t, (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE));
    ck_assert_uint_le(a, t);
}
END_TEST


/* The real tree: this process and an mt-hold child holding 32 MiB; the
 * sum over the tree less this process alone is the child's own figure,
 * read apart, and that holds the 32 MiB. */
START_TEST(real_children_are_summed) {
    char *argv[] = {"mt-hold", "32", "20000", NULL};
    int out;
    pid_t child = spawn_hold(argv, &out);
    char line[8] = {0};
    ck_assert_int_eq(read(out, line, 5), 5);
    mt_procmem self, tree, kid;
    ck_assert_int_eq(mt_procmem_read(NULL, getpid(), 0, &self), 0);
    ck_assert_int_eq(mt_procmem_read(NULL, getpid(), 1, &tree), 0);
    ck_assert_int_eq(mt_procmem_read(NULL, child, 0, &kid), 0);
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    close(out);
    ck_assert_uint_eq(tree.procs, 2);
    ck_assert_uint_ge(kid.rss, 32u << 20);
    double diff = (double)tree.rss - (double)self.rss - (double)kid.rss;
    ck_assert_msg(fabs(diff) < 2.0 * 1048576.0, "tree %llu, self %llu, child %llu",
                  (unsigned long long)tree.rss, (unsigned long long)self.rss, (unsigned long long)kid.rss);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sampler-procfs");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30); /* spawns mt-hold: a loaded machine is slow to */
    tcase_add_test(tc, status_and_rollup_fields);
    tcase_add_test(tc, no_rollup_leaves_pss_out);
    tcase_add_test(tc, a_gone_or_zombie_target_is_notfound);
    tcase_add_test(tc, children_summed_through_task_children);
    tcase_add_test(tc, children_found_by_ppid_without_children_files);
    tcase_add_test(tc, cgroup_v2_fields);
    tcase_add_test(tc, cgroup_limit_of_an_ancestor);
    tcase_add_test(tc, cgroup_root_v1_and_missing);
    tcase_add_test(tc, cgroup_v1_memory_controller);
    tcase_add_test(tc, meminfo_fields);
    tcase_add_test(tc, real_self_against_statm);
    tcase_add_test(tc, real_children_are_summed);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
