/* libFuzzer target for memtrace-predict's text readers: inline shapes
 * (then a merge, groupby, pivot and sort over whatever frames they
 * describe) and the CSV sampler (the input written to a file). Whatever the
 * input, each returns a result or an error that says why, never crashes
 * or leaks. Seeds: tests/fuzz/seeds/fuzz_predict/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "memtrace/analyze.h"

static void run(const mt_shapes *s, mt_predict_request *q) {
    mt_prediction p;
    mt_diag d;
    int rc = mt_predict_run(s, q, &p, &d);
    if (rc && (!d.msg[0] || d.code != rc)) __builtin_trap(); /* errors say why */
    if (!rc) {
        if (!(p.peak_bytes >= 0) || !(p.result_rows >= 0)) __builtin_trap();
        mt_prediction_free(&p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    if (data[0] & 1) {
        mt_shapes *s = NULL;
        mt_diag d;
        int rc = mt_shapes_parse(text, &s, &d);
        if (rc && (!d.msg[0] || s)) __builtin_trap();
        if (!rc) {
            const char *keys[] = { "k", "c2" };
            mt_names on = { keys, 1 + (data[0] >> 1 & 1) };
            mt_predict_request q = { .op = MT_PREDICT_MERGE, .left = "a", .right = "b", .on = on,
                                     .available_bytes = 1e6 };
            run(s, &q);
            q.op = MT_PREDICT_GROUPBY, q.frame = "a", q.by = on, q.agg = data[0] & 4 ? "median" : "size";
            run(s, &q);
            q.op = MT_PREDICT_PIVOT_TABLE, q.index = "k", q.pivot_columns = "c2", q.values = "c3";
            run(s, &q);
            q.op = MT_PREDICT_SORT;
            run(s, &q);
            const char *fs[] = { "a", "b", "a" };
            q.op = MT_PREDICT_CONCAT, q.frames.v = fs, q.frames.n = 3;
            run(s, &q);
        }
        mt_shapes_free(s);
    } else {
        char path[] = "/tmp/fuzz-predict-XXXXXX";
        int fd = mkstemp(path);
        if (fd >= 0) {
            if (write(fd, data + 1, size - 1) == (ssize_t)(size - 1)) {
                mt_predict_request q = { .op = MT_PREDICT_READ_CSV, .csv = path, .sample_rows = 1 + data[0] % 50,
                                         .available_bytes = 1e5 };
                run(NULL, &q);
            }
            close(fd);
            unlink(path);
        }
    }
    free(text);
    return 0;
}
