/* libFuzzer target for the PyTorch allocator snapshot importer (the
 * pickle reader of formats/src/torch/). Each input is read from memory
 * and, through a memfd, as a file read in chunks; the snapshot goes to
 * /dev/null. Both reads must agree, an error must say why and where (an
 * offset inside the input), and success must have read a STOP. Seeds:
 * testdata/torch/ *.pickle and tests/fuzz/seeds/fuzz_torch/. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "memtrace/torch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mt_diag d = { 0 };
    mt_torch_counts a = { 0 }, b = { 0 };
    int rc = mt_torch_import_mem(data, size, "/dev/null", NULL, &a, &d);
    if (rc) {
        if (!d.msg[0]) __builtin_trap(); /* errors say why */
        if (rc != MT_E_NOMEM && (d.offset < -1 || d.offset > (int64_t)size)) __builtin_trap();
        if ((rc == MT_E_PARSE || rc == MT_E_TRUNCATED || rc == MT_E_LIMIT) && d.offset < 0) __builtin_trap();
    } else if (!size || !memchr(data, '.', size)) {
        __builtin_trap(); /* no STOP, yet read */
    }
    int fd = memfd_create("fuzz_torch", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        mt_diag e = { 0 };
        int rc2 = mt_torch_import(path, "/dev/null", NULL, &b, &e);
        /* The same answer from a file as from memory. */
        if (rc2 != rc && rc != MT_E_NOMEM && rc2 != MT_E_NOMEM) __builtin_trap();
        if (!rc && !rc2 && memcmp(&a, &b, sizeof a)) __builtin_trap();
        if (rc && rc2 == rc && (e.offset != d.offset || strcmp(e.msg, d.msg))) __builtin_trap();
    }
    close(fd);
    return 0;
}
