/* Writes testdata/all-kinds.snap: one or two records of every kind with
 * fixed values, which tests/python/test_format.py checks field by field
 * through the independent reader. Usage: mt-fixture OUT.snap
 *
 * mt-fixture --hostile OUT.snap writes testdata/hostile/names.snap: a small
 * heap, stacks, DataFrame, samples and a GPU device whose every name is
 * hostile (quote, backslash, newline, terminal escape, ';', NUL, invalid
 * UTF-8), for the tests that check each output with its own parser.
 *
 * mt-fixture --percent OUT.snap writes testdata/hostile/percent.snap: a
 * pipeline whose steps hold '%' ("keep 90%", "sample 1%d"), which gnuplot
 * reads as a format in a tic label, and a heap of one 1 MiB object whose
 * type holds a terminal escape, BEL, tab, newline and '%' (for the GitHub
 * workflow commands of memtrace-gate --github). */
#include <stdio.h>
#include <string.h>
#include "memtrace/format.h"

#define S(x) mt_str_c(x)

/* Every name: the bytes a parser or a terminal chokes on, NUL included. */
static const char hostile_bytes[] = "q\"b\\s\nnl\r\x1b[31mred\x1b]0;title\x07;semi\0nul\xff\xc3(\xed\xa0\x80\xc2\x9b"
                                    "`touch PWNED`'.system('touch PWNED').'@x";
#define H ((mt_str){ hostile_bytes, sizeof hostile_bytes - 1 })

static int hostile(const char *path) {
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(path, NULL, &w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    mt_meta host = { S("host"), { MT_VAL_STR, { .s = H } } };
    mt_meta label = { S("label"), { MT_VAL_STR, { .s = H } } };
    mt_meta rss = { S("rss"), { MT_VAL_UINT, { .u = 1u << 20 } } };
    mt_writer_add(w, MT_KIND_META, &host);
    mt_writer_add(w, MT_KIND_META, &label);
    mt_writer_add(w, MT_KIND_META, &rss);
    mt_type t1 = { 1, H }, t2 = { 2, S("dict") };
    mt_writer_add(w, MT_KIND_TYPE, &t1);
    mt_writer_add(w, MT_KIND_TYPE, &t2);
    mt_object o1 = { 0x1000, 2, 232, MT_OBJ_GC_TRACKED, 1, 1 };
    mt_object o2 = { 0x2000, 1, 88, 0, 1, 1 };
    mt_writer_add(w, MT_KIND_OBJECT, &o1);
    mt_writer_add(w, MT_KIND_OBJECT, &o2);
    mt_ref r1 = { 0, 1, 0, H };
    mt_writer_add(w, MT_KIND_REF, &r1);
    mt_root root = { 0, S("module"), H };
    mt_writer_add(w, MT_KIND_ROOT, &root);
    mt_frame fr = { 1, H, H, 42 }, fr2 = { 2, S("main"), S("app.py"), 1 };
    mt_writer_add(w, MT_KIND_FRAME, &fr);
    mt_writer_add(w, MT_KIND_FRAME, &fr2);
    mt_stack st2 = { 2, 2, 0 }, st1 = { 1, 1, 2 };
    mt_writer_add(w, MT_KIND_STACK, &st2);
    mt_writer_add(w, MT_KIND_STACK, &st1);
    mt_alloc al = { 1000, MT_ALLOC_ALLOC, 0x1000, 64, 1, 7, 1, 0 };
    mt_writer_add(w, MT_KIND_ALLOC, &al);
    mt_sample sm = { 5, H, 1048576, H, 0, 0, 0, 0 }, sm2 = { 9, H, 2097152, S("next"), 0, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_SAMPLE, &sm);
    mt_writer_add(w, MT_KIND_SAMPLE, &sm2);
    mt_df_frame df = { .id = 1, .name = H, .rows = 1000, .columns = 1, .index_kind = H, .index_bytes = 132,
                       .shallow_bytes = 8132, .deep_bytes = 8132, .step = H, .index_shallow_bytes = 132,
                       .columns_kind = H, .time_ns = 6 };
    mt_writer_add(w, MT_KIND_DF_FRAME, &df);
    mt_df_column col = { .frame = 1, .position = 0, .name = H, .dtype = H, .shallow_bytes = 8000,
                         .deep_bytes = 8000, .distinct_count = 1000, .value_type = H };
    mt_writer_add(w, MT_KIND_DF_COLUMN, &col);
    mt_gpu_device gd = { 0, H, 85899345920ull, 1ull << 30, 1ull << 29 };
    mt_writer_add(w, MT_KIND_GPU_DEVICE, &gd);
    if (mt_writer_close(w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    return 0;
}

static int percent(const char *path) {
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(path, NULL, &w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    mt_sample s1 = { 1000000000, S("rss"), 1048576, S("keep 90%"), 0, 0, 0, 0 };
    mt_sample s2 = { 2000000000, S("rss"), 2097152, S("sample 1%d"), 0, 0, 0, 0 };
    mt_sample s3 = { 3000000000, S("rss"), 3145728, S("%s%n%%"), 0, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_SAMPLE, &s1);
    mt_writer_add(w, MT_KIND_SAMPLE, &s2);
    mt_writer_add(w, MT_KIND_SAMPLE, &s3);
    mt_type t = { 1, S("\x1b]0;title\x07\tx\ny%") };
    mt_object o = { 0x1000, 1, 1048576, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_TYPE, &t);
    mt_writer_add(w, MT_KIND_OBJECT, &o);
    if (mt_writer_close(w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", path, d.msg);
        return 3;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--hostile")) return hostile(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--percent")) return percent(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: mt-fixture [--hostile|--percent] OUT.snap\n");
        return 2;
    }
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    if (mt_writer_open(argv[1], NULL, &w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", argv[1], d.msg);
        return 3;
    }
    mt_writer_meta_str(w, "tool", "mt-fixture");
    mt_writer_meta_uint(w, "pid", 4242);
    mt_writer_meta_float(w, "ratio", 0.5);
    mt_meta neg = { S("neg"), { MT_VAL_INT, { .i = -7 } } };
    mt_meta ok = { S("ok"), { MT_VAL_BOOL, { .b = 1 } } };
    mt_meta blob = { S("blob"), { MT_VAL_BIN, { .s = { "\x00\x01", 2 } } } };
    mt_meta none = { S("none"), { MT_VAL_NIL, { .u = 0 } } };
    mt_writer_add(w, MT_KIND_META, &neg);
    mt_writer_add(w, MT_KIND_META, &ok);
    mt_writer_add(w, MT_KIND_META, &blob);
    mt_writer_add(w, MT_KIND_META, &none);
    mt_string str = { 1, S("hello") };
    mt_writer_add(w, MT_KIND_STRING, &str);
    mt_type t1 = { 1, S("dict") }, t2 = { 2, S("list") };
    mt_writer_add(w, MT_KIND_TYPE, &t1);
    mt_writer_add(w, MT_KIND_TYPE, &t2);
    mt_object o1 = { 0x7f0000001000ull, 1, 232, MT_OBJ_GC_TRACKED, 1, 2 };
    mt_object o2 = { 0x7f0000002000ull, 2, 88, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_OBJECT, &o1);
    mt_writer_add(w, MT_KIND_OBJECT, &o2);
    mt_ref r1 = { 0, 1, 0, S("items") }, r2 = { 1, 0, MT_REF_WEAK, S(NULL) };
    mt_writer_add(w, MT_KIND_REF, &r1);
    mt_writer_add(w, MT_KIND_REF, &r2);
    mt_root root = { 0, S("module"), S("app") };
    mt_writer_add(w, MT_KIND_ROOT, &root);
    mt_frame fr = { 1, S("load"), S("app.py"), 42 };
    mt_writer_add(w, MT_KIND_FRAME, &fr);
    mt_stack st = { 1, 1, 0 };
    mt_writer_add(w, MT_KIND_STACK, &st);
    mt_alloc al = { 1000, MT_ALLOC_ALLOC, 0x1000, 64, 1, 7, 1, 0 };
    mt_writer_add(w, MT_KIND_ALLOC, &al);
    mt_sample sm = { 5, S("rss"), 1048576.5, S("load"), 0, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_SAMPLE, &sm);
    /* 1.3: a bucket of four thinned points, and an event. */
    mt_sample bucket = { 10, S("rss"), 2097152, S("load"), 1000, 1048576, 4194304, 4 };
    mt_writer_add(w, MT_KIND_SAMPLE, &bucket);
    mt_event ev = { 11, S("dump"), S("peak"), 4194304, S("heap-1.snap") };
    mt_writer_add(w, MT_KIND_EVENT, &ev);
    mt_df_frame df = { .id = 1, .name = S("orders"), .rows = 1000000, .columns = 8, .index_kind = S("range"),
                       .index_bytes = 132, .shallow_bytes = 64000132, .deep_bytes = 96000132, .step = S("load"),
                       .index_shallow_bytes = 132, .columns_kind = S("object"), .time_ns = 6 };
    mt_writer_add(w, MT_KIND_DF_FRAME, &df);
    mt_df_column col = { .frame = 1, .position = 0, .name = S("customer_id"), .dtype = S("int64"),
                         .shallow_bytes = 8000000, .deep_bytes = 8000000, .distinct_count = 50000,
                         .min = { MT_VAL_UINT, { .u = 1 } }, .max = { MT_VAL_UINT, { .u = 50000 } },
                         .flags = MT_COL_KEY | MT_COL_INTEGRAL, .f32_max_rel_error = 0.25,
                         .fill_value = { MT_VAL_INT, { .i = -1 } }, .density = 0.5, .dense_bytes = 16,
                         .value_type = { "str", 3 } };
    mt_writer_add(w, MT_KIND_DF_COLUMN, &col);
    mt_df_value dv = { 1, 0, { MT_VAL_STR, { .s = { "US", 2 } } }, 120 };
    mt_writer_add(w, MT_KIND_DF_VALUE, &dv);
    mt_df_sketch sk = { 1, 0, S("kmv"), { "\x01\x02\x03", 3 } };
    mt_writer_add(w, MT_KIND_DF_SKETCH, &sk);
    mt_gpu_device gd = { 0, S("NVIDIA H100"), 85899345920ull, 1ull << 30, 1ull << 29 };
    mt_writer_add(w, MT_KIND_GPU_DEVICE, &gd);
    mt_gpu_segment gs = { 0, 0x7f0000000000ull, 2u << 20, 0, S("large"), 1u << 20 };
    mt_writer_add(w, MT_KIND_GPU_SEGMENT, &gs);
    mt_gpu_block gb = { 0, 0x7f0000000000ull, 1u << 20, 1000000, S("active_allocated"), 1 };
    mt_writer_add(w, MT_KIND_GPU_BLOCK, &gb);
    mt_gpu_event ge = { 0, 99, S("alloc"), 0x7f0000000000ull, 1u << 20, 0, 1 };
    mt_writer_add(w, MT_KIND_GPU_EVENT, &ge);
    mt_nb_cell nb = { 1, 3, S("df = pd.read_csv('x.csv')"), 10, 20, 100, 200 };
    mt_writer_add(w, MT_KIND_NB_CELL, &nb);
    if (mt_writer_close(w, &d)) {
        fprintf(stderr, "mt-fixture: %s: %s\n", argv[1], d.msg);
        return 3;
    }
    return 0;
}
