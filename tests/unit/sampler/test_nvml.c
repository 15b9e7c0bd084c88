/* nvml.c against the fake libnvidia-ml.so.1 (fake_nvml.c), configured per
 * test through its environment: which memory and process calls answer
 * (v2, v1, refused, absent, failing), the ABI trap of a driver writing
 * another stride of process records, a process count that grows between
 * the sizing call and the read, and records that must be left out (a pid
 * not under /proc, a size over the device's total or not available).
 * The oracle is the fake's configuration and its own call counts. */
#include <dlfcn.h>
#include "sampler.h"
#include "fakeroot.h"
#include "../helpers.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)

/* The fake's count of calls to name (without "nvml") since its init. */
static unsigned calls(const char *lib, const char *name) {
    void *dl = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
    ck_assert_ptr_nonnull(dl);
    unsigned (*fn)(const char *) = (unsigned (*)(const char *))dlsym(dl, "fake_nvml_calls");
    ck_assert_ptr_nonnull(fn);
    unsigned n = fn(name);
    dlclose(dl);
    return n;
}

START_TEST(memory_through_the_v2_call) {
    fake_env("FAKE_NVML_DEVICES", "3", "FAKE_NVML_USED", "1000,2000000,3000000000", NULL);
    mt_nvml *nv = mt_nvml_open(FAKE_NVML);
    ck_assert_ptr_nonnull(nv);
    ck_assert_uint_eq(mt_nvml_count(nv), 3);
    const uint64_t want[3] = { 1000, 2000000, 3000000000ull };
    for (unsigned i = 0; i < 3; i++) {
        mt_nvml_mem m;
        ck_assert_int_eq(mt_nvml_memory(nv, i, &m), 0);
        ck_assert_int_eq(m.v2, 1);
        ck_assert_uint_eq(m.used, want[i]);
        ck_assert_uint_eq(m.total, 80 * GiB);
        ck_assert_uint_eq(m.reserved, 256 * MiB);
        ck_assert_uint_eq(m.free, 80 * GiB - want[i]);
    }
    mt_nvml_mem m;
    ck_assert_int_eq(mt_nvml_memory(nv, 3, &m), MT_E_INVAL);
    ck_assert_uint_eq(calls(FAKE_NVML, "DeviceGetMemoryInfo_v2"), 3);
    ck_assert_uint_eq(calls(FAKE_NVML, "DeviceGetMemoryInfo"), 0);
    mt_nvml_close(nv);
    ck_assert_ptr_null(mt_nvml_open("/nonexistent/libnvidia-ml.so.1"));
    ck_assert_ptr_null(mt_nvml_open(""));
    mt_nvml_close(NULL);
}
END_TEST

/* A library without the _v2 call, one that refuses the struct version and
 * one that says the call is not there: the unversioned call answers, and
 * _v2 is not asked again after a refusal. */
START_TEST(memory_falls_back_to_v1) {
    fake_env(NULL);
    mt_nvml *nv = mt_nvml_open(FAKE_NVML_V1);
    ck_assert_ptr_nonnull(nv);
    mt_nvml_mem m;
    ck_assert_int_eq(mt_nvml_memory(nv, 1, &m), 0);
    ck_assert_int_eq(m.v2, 0);
    ck_assert_uint_eq(m.used, 2 * GiB);
    ck_assert_uint_eq(m.total, 80 * GiB);
    ck_assert_uint_eq(m.reserved, 0);
    mt_nvml_close(nv);

    const char *how[] = { "mismatch", "notfound" };
    for (int k = 0; k < 2; k++) {
        fake_env("FAKE_NVML_MEM_V2", how[k], NULL);
        nv = mt_nvml_open(FAKE_NVML);
        ck_assert_ptr_nonnull(nv);
        for (int rep = 0; rep < 3; rep++) {
            ck_assert_int_eq(mt_nvml_memory(nv, 0, &m), 0);
            ck_assert_int_eq(m.v2, 0);
            ck_assert_uint_eq(m.used, 1 * GiB);
        }
        ck_assert_uint_eq(calls(FAKE_NVML, "DeviceGetMemoryInfo_v2"), 1);
        ck_assert_uint_eq(calls(FAKE_NVML, "DeviceGetMemoryInfo"), 3);
        mt_nvml_close(nv);
    }
}
END_TEST

/* A call failing on one device fails there only, and only that time; a
 * device without a handle keeps its index; no init, no count: no NVML. */
START_TEST(failing_calls) {
    fake_env("FAKE_NVML_FAIL", "DeviceGetMemoryInfo_v2@1", NULL);
    mt_nvml *nv = mt_nvml_open(FAKE_NVML);
    mt_nvml_mem m;
    ck_assert_int_eq(mt_nvml_memory(nv, 1, &m), MT_E_IO);
    ck_assert_int_eq(mt_nvml_memory(nv, 0, &m), 0);
    ck_assert_int_eq(m.v2, 1); /* a failure is no refusal of the version */
    mt_nvml_close(nv);

    fake_env("FAKE_NVML_FAIL", "DeviceGetMemoryInfo@1", NULL);
    nv = mt_nvml_open(FAKE_NVML_V1);
    ck_assert_int_eq(mt_nvml_memory(nv, 1, &m), MT_E_IO);
    ck_assert_int_eq(mt_nvml_memory(nv, 0, &m), 0);
    mt_nvml_close(nv);

    fake_env("FAKE_NVML_FAIL", "DeviceGetHandleByIndex_v2@0", NULL);
    nv = mt_nvml_open(FAKE_NVML);
    ck_assert_uint_eq(mt_nvml_count(nv), 2);
    ck_assert_int_eq(mt_nvml_memory(nv, 0, &m), MT_E_IO);
    ck_assert_int_eq(mt_nvml_memory(nv, 1, &m), 0);
    ck_assert_uint_eq(m.used, 2 * GiB);
    size_t n;
    mt_nvml_proc p[4];
    ck_assert_int_eq(mt_nvml_processes(nv, 0, "", 80 * GiB, p, 4, &n, NULL), MT_E_IO);
    mt_nvml_close(nv);

    fake_env("FAKE_NVML_FAIL", "DeviceGetHandleByIndex_v2", NULL);
    ck_assert_ptr_null(mt_nvml_open(FAKE_NVML));
    fake_env("FAKE_NVML_FAIL", "Init_v2", NULL);
    ck_assert_ptr_null(mt_nvml_open(FAKE_NVML));
    fake_env("FAKE_NVML_FAIL", "DeviceGetCount_v2", NULL);
    ck_assert_ptr_null(mt_nvml_open(FAKE_NVML));
    fake_env("FAKE_NVML_DEVICES", "0", NULL);
    ck_assert_ptr_null(mt_nvml_open(FAKE_NVML));
}
END_TEST

/* A fake root where pids 100, 200 and 300 exist. */
static char *proc_root(void) {
    char *root = fake_root();
    fake_status(root, 100, "S (sleeping)", 1000, 0);
    fake_status(root, 200, "S (sleeping)", 1000, 0);
    fake_status(root, 300, "S (sleeping)", 1000, 0);
    return root;
}

static const mt_nvml_proc *find(const mt_nvml_proc *p, size_t n, uint32_t pid) {
    for (size_t i = 0; i < n; i++)
        if (p[i].pid == pid) return &p[i];
    return NULL;
}

/* Records left out: a pid not under /proc (another pid namespace, or one
 * that exited), a size over the total, a size not available; the others
 * read through _v2, which stays the call asked. */
START_TEST(processes_through_v2_with_records_left_out) {
    char *root = proc_root();
    fake_env("FAKE_NVML_PROCS", "0:100:1048576,0:200:na,0:4000:4096,0:300:2097152,"
             "1:100:999999999999999,1:200:5", NULL);
    mt_nvml *nv = mt_nvml_open(FAKE_NVML);
    mt_nvml_proc p[8];
    size_t n;
    int v;
    for (int rep = 0; rep < 2; rep++) {
        ck_assert_int_eq(mt_nvml_processes(nv, 0, root, 80 * GiB, p, 8, &n, &v), 0);
        ck_assert_int_eq(v, 2);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(find(p, n, 100)->used, 1048576);
        ck_assert_uint_eq(find(p, n, 300)->used, 2097152);
        ck_assert_ptr_null(find(p, n, 200));
        ck_assert_ptr_null(find(p, n, 4000));
    }
    ck_assert_int_eq(mt_nvml_processes(nv, 1, root, 80 * GiB, p, 8, &n, &v), 0);
    ck_assert_int_eq(v, 2);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(p[0].pid, 200);
    ck_assert_uint_eq(p[0].used, 5);
    /* Room for one: one. */
    ck_assert_int_eq(mt_nvml_processes(nv, 0, root, 80 * GiB, p, 1, &n, &v), 0);
    ck_assert_uint_eq(n, 1);
    /* No processes: none, in one call. */
    fake_env("FAKE_NVML_PROCS", "1:100:5", NULL);
    mt_nvml_close(nv);
    nv = mt_nvml_open(FAKE_NVML);
    ck_assert_int_eq(mt_nvml_processes(nv, 0, root, 80 * GiB, p, 8, &n, &v), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(calls(FAKE_NVML, "DeviceGetComputeRunningProcesses_v2"), 1);
    ck_assert_int_eq(mt_nvml_processes(nv, 2, root, 80 * GiB, p, 8, &n, &v), MT_E_INVAL);
    mt_nvml_close(nv);
    rm_tree(root);
    free(root);
}
END_TEST

/* The driver writes 32-byte ("v3") or 16-byte records where _v2 asked
 * for 24: read at 24, the second and third records are garbage, which
 * the checks catch; the unversioned call reads them right and is used
 * from then on. */
START_TEST(processes_of_a_driver_with_another_stride) {
    char *root = proc_root();
    const char *stride[] = { "stride32", "stride16" };
    for (int k = 0; k < 2; k++) {
        fake_env("FAKE_NVML_PROC_V2", stride[k], "FAKE_NVML_PROCS", "0:100:1073741824,0:200:2147483648,0:300:4096",
                 NULL);
        mt_nvml *nv = mt_nvml_open(FAKE_NVML);
        mt_nvml_proc p[8];
        size_t n;
        int v;
        for (int rep = 0; rep < 2; rep++) {
            ck_assert_int_eq(mt_nvml_processes(nv, 0, root, 80 * GiB, p, 8, &n, &v), 0);
            ck_assert_int_eq(v, 1);
            ck_assert_uint_eq(n, 3);
            ck_assert_uint_eq(find(p, n, 100)->used, 1073741824ull);
            ck_assert_uint_eq(find(p, n, 200)->used, 2147483648ull);
            ck_assert_uint_eq(find(p, n, 300)->used, 4096);
        }
        /* _v2 was asked the first time only (sizing, read). */
        ck_assert_uint_eq(calls(FAKE_NVML, "DeviceGetComputeRunningProcesses_v2"), 2);
        mt_nvml_close(nv);
    }
    rm_tree(root);
    free(root);
}
END_TEST

/* _v2 absent from the library, saying it is not there, or failing; a
 * library of v1 calls only; both failing. */
START_TEST(processes_fall_back_to_v1) {
    char *root = proc_root();
    const char *procs = "0:100:1000,0:300:3000";
    mt_nvml_proc p[8];
    size_t n;
    int v;
    for (int k = 0; k < 3; k++) {
        if (k == 0) fake_env("FAKE_NVML_PROCS", procs, NULL);
        if (k == 1) fake_env("FAKE_NVML_PROCS", procs, "FAKE_NVML_PROC_V2", "notfound", NULL);
        if (k == 2) fake_env("FAKE_NVML_PROCS", procs, "FAKE_NVML_FAIL", "DeviceGetComputeRunningProcesses_v2", NULL);
        const char *lib = k == 0 ? FAKE_NVML_V1 : FAKE_NVML;
        mt_nvml *nv = mt_nvml_open(lib);
        ck_assert_int_eq(mt_nvml_processes(nv, 0, root, 80 * GiB, p, 8, &n, &v), 0);
        ck_assert_int_eq(v, 1);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(find(p, n, 100)->used, 1000);
        ck_assert_uint_eq(find(p, n, 300)->used, 3000);
        ck_assert_uint_eq(calls(lib, "DeviceGetComputeRunningProcesses"), 2);
        mt_nvml_close(nv);
    }
    fake_env("FAKE_NVML_PROCS", procs, "FAKE_NVML_FAIL",
             "DeviceGetComputeRunningProcesses_v2,DeviceGetComputeRunningProcesses", NULL);
    mt_nvml *nv = mt_nvml_open(FAKE_NVML);
    ck_assert_int_eq(mt_nvml_processes(nv, 0, root, 80 * GiB, p, 8, &n, &v), MT_E_IO);
    ck_assert_uint_eq(n, 0);
    mt_nvml_close(nv);
    rm_tree(root);
    free(root);
}
END_TEST

/* A process starts between the sizing call and the read: the read says
 * INSUFFICIENT_SIZE with the new count and is made again, once. */
START_TEST(processes_that_grow_between_the_calls) {
    char *root = proc_root();
    fake_env("FAKE_NVML_PROCS", "0:100:1000,0:+200:2000,0:+300:3000", NULL);
    mt_nvml *nv = mt_nvml_open(FAKE_NVML);
    mt_nvml_proc p[8];
    size_t n;
    int v;
    ck_assert_int_eq(mt_nvml_processes(nv, 0, root, 80 * GiB, p, 8, &n, &v), 0);
    ck_assert_int_eq(v, 2);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(find(p, n, 200)->used, 2000);
    ck_assert_uint_eq(find(p, n, 300)->used, 3000);
    /* Sizing, a read too small, the read again. */
    ck_assert_uint_eq(calls(FAKE_NVML, "DeviceGetComputeRunningProcesses_v2"), 3);
    ck_assert_uint_eq(calls(FAKE_NVML, "DeviceGetComputeRunningProcesses"), 0);
    mt_nvml_close(nv);
    rm_tree(root);
    free(root);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sampler-nvml");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, memory_through_the_v2_call);
    tcase_add_test(tc, memory_falls_back_to_v1);
    tcase_add_test(tc, failing_calls);
    tcase_add_test(tc, processes_through_v2_with_records_left_out);
    tcase_add_test(tc, processes_of_a_driver_with_another_stride);
    tcase_add_test(tc, processes_fall_back_to_v1);
    tcase_add_test(tc, processes_that_grow_between_the_calls);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
