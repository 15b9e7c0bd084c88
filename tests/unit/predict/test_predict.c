/* memtrace-predict's models (predict.h, predict_impl.h) on hand-computed
 * cases: pandas' hash-table sizes, join rows from key statistics, the
 * groupby factorize phase, inline shapes, the CSV sampler, advice and the
 * errors of bad requests. The models against real pandas are checked by
 * tests/python/test_predict.py. */
#include <math.h>
#include "memtrace/analyze.h"
#include "predict/predict_impl.h"
#include "predict/constants.h"
#include "../helpers.h"

START_TEST(hashtable_sizes_follow_khash) {
    /* What tracemalloc saw pandas 1.5.3 allocate (khash's own domain) for
     * Int64HashTable(n) holding n distinct keys; the model itself is
     * checked in tests/unit/frames. 2^19 buckets of 8 + 8 bytes, a flag
     * bit each and a 40-byte header. */
    ck_assert_double_eq(mt_predict_hashtable_bytes(250000, 8), 40 + 524288.0 * 16 + 524288 / 8);
    ck_assert_double_eq(mt_predict_hashtable_bytes(1000, 8), 33064);
    /* int16 codes: 2 + 8 bytes a bucket; 20000 -> 2^15 (Int16HashTable). */
    ck_assert_double_eq(mt_predict_hashtable_bytes(20000, 2), 331816);
    /* The hint is capped at 2^20 + 7, but 10^7 keys double the table to
     * 2^24 buckets (the old model stopped at 2^21: 8 times too small). */
    ck_assert_double_eq(mt_predict_hashtable_bytes(1e7, 8), 270532648);
    ck_assert_double_eq(mt_predict_hashtable_bytes(0, 8), 40 + 4 + 4 * 16);
}
END_TEST

static int calibrated(const char *group) {
    for (size_t i = 0; i < sizeof mt_predict_table / sizeof mt_predict_table[0]; i++)
        if (!strcmp(mt_predict_table[i].group, group)) return 1;
    return 0;
}

START_TEST(every_model_group_is_calibrated) {
    const char *hows[] = { "inner", "left", "right", "outer" }, *kinds[] = { "number", "object", "category" };
    char g[64];
    for (int h = 0; h < 4; h++)
        for (int k = 0; k < 3; k++) {
            snprintf(g, sizeof g, "merge/%s/%s", hows[h], kinds[k]);
            ck_assert_msg(calibrated(g), "%s", g);
        }
    const char *aggs[] = { "size", "median", "reduce" }, *keys[] = { "other", "category" };
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < 2; k++) {
            snprintf(g, sizeof g, "groupby/%s/%s", aggs[a], keys[k]);
            ck_assert_msg(calibrated(g), "%s", g);
        }
    const char *rest[] = { "pivot_table/mean", "pivot_table/sum", "pivot_table/count", "concat/aligned",
                           "concat/mismatch", "sort/number", "sort/object", "sort/category", "read_csv" };
    for (int i = 0; i < 9; i++) ck_assert_msg(calibrated(rest[i]), "%s", rest[i]);
    ck_assert_str_eq(mt_predict_pandas_version(), MT_PREDICT_PANDAS);
    mt_predict_op op = MT_PREDICT_N_OPS;
    ck_assert_int_eq(mt_predict_op_from_name("pivot_table", &op), 0);
    ck_assert_int_eq(op, MT_PREDICT_PIVOT_TABLE);
    ck_assert_int_eq(mt_predict_op_from_name("join", &op), MT_E_INVAL);
    ck_assert_int_eq(op, MT_PREDICT_PIVOT_TABLE);
    ck_assert_str_eq(mt_predict_op_name(MT_PREDICT_READ_CSV), "read_csv");
}
END_TEST

static mt_pcol key(double distinct, double nulls) {
    mt_pcol c = { .name = "k", .dtype = "int64", .distinct = distinct, .nulls = nulls };
    return c;
}

START_TEST(join_rows_from_key_statistics) {
    const char *assumed;
    double wl, wr;
    /* Many-to-one, the right's keys a superset: every left row matches once. */
    mt_pcol l = key(100, 0), r = key(100, 0);
    ck_assert_double_eq_tol(mt__predict_join_rows(&l, 1000, &r, 100, "inner", &assumed, &wl, &wr), 1000, 1e-9);
    ck_assert_ptr_nonnull(assumed); /* no sketches: containment was assumed */
    ck_assert_double_eq_tol(mt__predict_join_rows(&l, 1000, &r, 100, "outer", NULL, NULL, NULL), 1000, 1e-9);
    /* 100 right keys the left lacks: a right join adds them. */
    r = key(200, 0);
    ck_assert_double_eq_tol(mt__predict_join_rows(&l, 1000, &r, 200, "right", NULL, &wl, &wr), 1100, 1e-9);
    ck_assert_double_eq_tol(wl, 1000, 1e-9);  /* rows that have a left row */
    ck_assert_double_eq_tol(wr, 1100, 1e-9);
    ck_assert_double_eq_tol(mt__predict_join_rows(&l, 1000, &r, 200, "left", NULL, NULL, NULL), 1000, 1e-9);
    /* A skewed value known from the most common values: "a" 50 times on
     * the left, 10 on the right; 10 more values 5 and 1 times:
     * 50 * 10 + 10 * 5 * 1 = 550. */
    mt_df_value lt = { .count = 50 }, rt = { .count = 10 };
    lt.value.type = rt.value.type = MT_VAL_STR;
    lt.value.v.s = rt.value.v.s = mt_str_c("a");
    l = key(11, 0);
    r = key(11, 0);
    l.top = &lt;
    l.n_top = 1;
    r.top = &rt;
    r.n_top = 1;
    ck_assert_double_eq_tol(mt__predict_join_rows(&l, 100, &r, 20, "inner", NULL, NULL, NULL), 550, 1e-9);
    /* An int key on one side and a float one (it had nulls) on the other
     * are the same values. */
    mt_df_value ft = { .count = 10 };
    ft.value.type = MT_VAL_FLOAT;
    ft.value.v.f = 7.0;
    lt.value.type = MT_VAL_UINT;
    lt.value.v.u = 7;
    r.top = &ft;
    ck_assert_double_eq_tol(mt__predict_join_rows(&l, 100, &r, 20, "inner", NULL, NULL, NULL), 550, 1e-9);
    /* Missing keys join missing keys: 6 matched values + 4 x 2 nulls. */
    l = key(6, 4);
    r = key(8, 2);
    ck_assert_double_eq_tol(mt__predict_join_rows(&l, 10, &r, 10, "inner", NULL, NULL, NULL), 14, 1e-9);
    ck_assert_double_eq_tol(mt__predict_join_rows(&l, 10, &r, 10, "left", NULL, NULL, NULL), 14, 1e-9);
}
END_TEST

static mt_shapes *parse_ok(const char *text) {
    mt_shapes *s = NULL;
    mt_diag d = { .file = NULL };
    ck_assert_msg(mt_shapes_parse(text, &s, &d) == 0, "%s: %s", text, d.msg);
    return s;
}

static void parse_bad(const char *text, unsigned column, const char *msg) {
    mt_shapes *s = (mt_shapes *)1;
    mt_diag d = { .file = NULL };
    ck_assert_int_eq(mt_shapes_parse(text, &s, &d), MT_E_PARSE);
    ck_assert_ptr_null(s);
    ck_assert_msg(d.column == column, "%s: column %u, not %u (%s)", text, d.column, column, d.msg);
    ck_assert_msg(strstr(d.msg, msg), "%s: %s", text, d.msg);
}

START_TEST(inline_shapes) {
    mt_shapes *s = parse_ok("orders=2e6x8:customer_id=int64~50000/float64*6/str,customers=50kx3");
    ck_assert_uint_eq(s->n_frames, 2);
    const mt_pframe *o = &s->frames[0];
    ck_assert_str_eq(o->name, "orders");
    ck_assert_double_eq(o->rows, 2e6);
    ck_assert_uint_eq(o->n_cols, 8);
    ck_assert_str_eq(o->cols[0].name, "customer_id");
    ck_assert_double_eq(o->cols[0].distinct, 50000);
    ck_assert_double_eq(o->cols[0].shallow, 16e6);
    ck_assert_str_eq(o->cols[6].dtype, "float64");
    ck_assert_str_eq(o->cols[7].dtype, "object");
    ck_assert_double_eq(o->cols[7].shallow, 16e6);
    ck_assert_double_eq(s->frames[1].rows, 50000);
    ck_assert_str_eq(s->frames[1].cols[2].dtype, "float64");
    ck_assert(s->frames[1].cols[2].inline_dtype);
    mt_shapes_free(s);
    parse_bad("", 1, "expected NAME=ROWSxCOLS");
    parse_bad("left=10", 8, "expected 'x'");
    parse_bad("left=10x2:int65", 11, "expected a dtype");
    parse_bad("left=10x2:int64*3", 18, "more columns described");
    parse_bad("left=10x2;right=1x1", 10, "expected ','");
    parse_bad("a=1x1,a=2x2", 7, "already given");
    parse_bad("a=1x0", 6, "between 1 and 100000");
    parse_bad("a=1e400x1", 3, "too large");
    /* Decimal only: strtod read "0x10" as sixteen rows and "inf" as a count. */
    parse_bad("a=0x10x6", 7, "expected ','");
    parse_bad("a=0x0x1", 6, "between 1 and 100000");
    parse_bad("a=infx1", 3, "expected the rows: decimal digits");
    parse_bad("a=nanx1", 3, "expected the rows: decimal digits");
    parse_bad("a=1.5x1", 3, "the rows 1.5 is not a whole number");
    parse_bad("a=10x1.5", 6, "the columns 1.5 is not a whole number");
    parse_bad("a=9007199254740992x1", 3, "too large");
    parse_bad("a=9007199254740993x1", 3, "too large");
    parse_bad("a=10000Tx1", 3, "too large");
    parse_bad("a=10x2:int64*0", 15, "the repeat must be at least 1");
    parse_bad("a=10x2:int64~11", 16, "11 distinct values are more than the frame's 10 rows");
    parse_bad("a=10x2:int64~1.5", 14, "not a whole number");
    parse_bad("a=10x2:int64~0x5", 15, "expected ','");
    s = parse_ok("a=0x3:k=int64~0,b=1.5kx2,c=2e3x1,d=9007199254740991x1");
    ck_assert_double_eq(s->frames[0].rows, 0);
    ck_assert_uint_eq(s->frames[0].n_cols, 3);
    ck_assert_double_eq(s->frames[0].cols[0].shallow, 0);
    ck_assert_double_eq(s->frames[1].rows, 1500);
    ck_assert_double_eq(s->frames[2].rows, 2000);
    mt_shapes_free(s);
}
END_TEST


static mt_names names1(const char **v) {
    mt_names n = { v, 1 };
    return n;
}

START_TEST(merge_result_real_counts_each_string_once) {
    /* 1000 rows with a key of 10 strings joined onto 10 rows that carry a
     * column of 5 strings (8 characters: 57-byte str objects). The result
     * takes pointers (8 bytes a row a column) to the inputs' strings:
     * each string once, shared; pandas' deep count has one a row. */
    mt_shapes *s = parse_ok("l=1000x2:k=str~10/float64,r=10x2:k=str~10/str~5");
    const char *on[] = { "k" };
    mt_predict_request q = { .op = MT_PREDICT_MERGE, .left = "l", .right = "r", .on = names1(on),
                             .available_bytes = 64e9 };
    mt_prediction p;
    mt_diag d = { .file = NULL };
    ck_assert_msg(mt_predict_run(s, &q, &p, &d) == 0, "%s", d.msg);
    ck_assert_double_eq_tol(p.result_rows, 1000, 1e-6);
    double shared = 10 * 57 + 5 * 57, real = 1000 * 8 * 3 + 1000 * 8 /* Int64Index */ + shared;
    ck_assert_double_eq_tol(p.result_shared_bytes, shared, 1e-6);
    ck_assert_double_eq_tol(p.result_real_bytes, real, 1e-6);
    ck_assert_double_eq_tol(p.result_bytes, 1000 * (8 + 57) * 2 + 1000 * 8 + 1000 * 8, 1e-6);
    mt_prediction_free(&p);
    mt_shapes_free(s);
}
END_TEST

START_TEST(groupby_peak_is_pandas_factorize_phase) {
    /* 1M rows, an int64 key of 1000 values, two float columns summed.
     * pandas takes the two columns (16 MB), factorizes the key with a
     * hash table for every row (2^21 buckets: the hint is capped), codes
     * (8 MB) and uniques (a vector of 2048 grown by 4 from 128). */
    mt_shapes *s = parse_ok("df=1000000x3:key=int64~1000/float64*2");
    const char *by[] = { "key" };
    mt_predict_request q = { .op = MT_PREDICT_GROUPBY, .frame = "df", .by = names1(by), .agg = "sum",
                             .observed = -1, .available_bytes = 64e9 };
    mt_prediction p;
    mt_diag d = { .file = NULL };
    ck_assert_msg(mt_predict_run(s, &q, &p, &d) == 0, "%s", d.msg);
    double phase = 16e6 + (2097152.0 * 16 + 262144) + 8e6 + 8 * 2048;
    ck_assert_msg(fabs(p.peak_bytes - phase) < 0.01 * phase, "peak %.0f, phase %.0f", p.peak_bytes, phase);
    ck_assert_double_eq(p.result_rows, 1000);
    ck_assert_double_eq(p.result_bytes, 1000 * 2 * 8 + 1000 * 8); /* two sums and an Int64Index */
    ck_assert_double_eq(p.input_bytes, 24e6 + 128);
    ck_assert_double_eq_tol(p.multiplier, p.peak_bytes / p.input_bytes, 1e-12);
    ck_assert_int_eq(p.fits, 1);
    ck_assert_str_eq(p.model, "groupby/reduce/other");
    mt_prediction_free(&p);
    mt_shapes_free(s);
}
END_TEST

START_TEST(a_merge_that_does_not_fit_gets_chunks) {
    mt_shapes *s = parse_ok("orders=20Mx6,customers=1Mx3");
    const char *on[] = { "customer_id" };
    mt_predict_request q = { .op = MT_PREDICT_MERGE, .left = "orders", .right = "customers", .on = names1(on),
                             .observed = -1, .available_bytes = 1e9 };
    mt_prediction p;
    mt_diag d = { .file = NULL };
    ck_assert_msg(mt_predict_run(s, &q, &p, &d) == 0, "%s", d.msg);
    ck_assert_int_eq(p.fits, 0);
    ck_assert_double_eq(p.result_rows, 20e6); /* assumed many-to-one, every key matching */
    ck_assert_uint_ge(p.n_warnings, 1);
    ck_assert_ptr_nonnull(strstr(p.warnings[p.n_warnings - 1], "will not fit"));
    int chunks = 0, assumed = 0;
    for (size_t i = 0; i < p.n_suggestions; i++)
        if (strstr(p.suggestions[i].text, "chunks of")) {
            chunks = 1;
            ck_assert_double_le(p.suggestions[i].peak_bytes, 0.8e9);
        }
    for (size_t i = 0; i < p.n_assumptions; i++) assumed |= strstr(p.assumptions[i], "many-to-one") != NULL;
    ck_assert(chunks);
    ck_assert(assumed);
    mt_prediction_free(&p);
    /* Nothing fits in 1 MB: an engine out of core. */
    q.available_bytes = 1e6;
    ck_assert_int_eq(mt_predict_run(s, &q, &p, &d), 0);
    ck_assert_ptr_nonnull(strstr(p.suggestions[p.n_suggestions - 1].text, "DuckDB"));
    mt_prediction_free(&p);
    mt_shapes_free(s);
}
END_TEST

START_TEST(bad_requests_say_what_is_wrong) {
    mt_shapes *s = parse_ok("a=10x2,b=10x2");
    const char *on[] = { "k" };
    mt_predict_request q = { .op = MT_PREDICT_MERGE, .left = "a", .right = "nope", .on = names1(on) };
    mt_prediction p;
    mt_diag d = { .file = NULL };
    ck_assert_int_eq(mt_predict_run(s, &q, &p, &d), MT_E_NOTFOUND);
    ck_assert_str_eq(d.msg, "no frame named 'nope' (there is: a, b)");
    q.right = "b";
    q.how = "cross";
    ck_assert_int_eq(mt_predict_run(s, &q, &p, &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "--how must be inner, left, right or outer, not 'cross'");
    q.how = NULL;
    q.on.n = 0;
    ck_assert_int_eq(mt_predict_run(s, &q, &p, &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "--on is needed for --op merge");
    q.op = MT_PREDICT_SORT;
    ck_assert_int_eq(mt_predict_run(s, &q, &p, &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "--frame is needed for --op sort");
    q.op = MT_PREDICT_READ_CSV;
    ck_assert_int_eq(mt_predict_run(NULL, &q, &p, &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "--csv is needed for --op read_csv");
    q.op = MT_PREDICT_GROUPBY;
    ck_assert_int_eq(mt_predict_run(NULL, &q, &p, &d), MT_E_INVAL);
    mt_shapes_free(s);

    /* A snapshot's frame without the column asked for. */
    s = parse_ok("df=10x2:a=int64/b=float64");
    s->is_inline = 0; /* as a snapshot: no unnamed column to take the name */
    const char *by[] = { "c" };
    mt_predict_request g = { .op = MT_PREDICT_GROUPBY, .frame = "df", .by = names1(by) };
    ck_assert_int_eq(mt_predict_run(s, &g, &p, &d), MT_E_NOTFOUND);
    ck_assert_str_eq(d.msg, "frame 'df' has no column 'c' (it has a, b)");
    mt_shapes_free(s);
}
END_TEST

/* An empty frame is a shape like any other: every operation predicts
 * finite numbers for it, never NaN or a division by zero. */
START_TEST(zero_rows_predict_finite_numbers) {
    mt_shapes *s = parse_ok("a=0x3:k=int64/v=float64/w=str,b=0x2:k=int64");
    const char *k[] = { "k" }, *fr[] = { "a", "b" };
    mt_predict_request qs[] = {
        { .op = MT_PREDICT_MERGE, .left = "a", .right = "b", .on = names1(k) },
        { .op = MT_PREDICT_GROUPBY, .frame = "a", .by = names1(k) },
        { .op = MT_PREDICT_PIVOT_TABLE, .frame = "a", .index = "k", .pivot_columns = "w", .values = "v" },
        { .op = MT_PREDICT_CONCAT, .frames = { fr, 2 } },
        { .op = MT_PREDICT_SORT, .frame = "a", .by = names1(k) },
    };
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        mt_prediction p;
        mt_diag d = { .file = NULL };
        ck_assert_msg(mt_predict_run(s, &qs[i], &p, &d) == 0, "op %zu: %s", i, d.msg);
        ck_assert_msg(isfinite(p.peak_bytes) && p.peak_bytes >= 0, "op %zu: peak %g", i, p.peak_bytes);
        ck_assert_msg(p.result_rows == 0, "op %zu: %g rows", i, p.result_rows);
        ck_assert_msg(isfinite(p.result_bytes) && p.result_bytes >= 0, "op %zu: %g bytes", i, p.result_bytes);
        mt_prediction_free(&p);
    }
    mt_shapes_free(s);
}
END_TEST

START_TEST(csv_sample_reads_kinds_nulls_and_quotes) {
    char *path = tmp_path();
    const char text[] = "a,b,c,d\n1,2.5,x,True\n2,,\"y,\"\"z\"\"\",False\n\n3,4,\"multi\nline\",True\n";
    spit(path, text, sizeof text - 1);
    mt_csv_sample smp;
    mt_diag d = { .file = NULL };
    ck_assert_msg(mt__csv_sample_read(path, 100, &smp, &d) == 0, "%s", d.msg);
    ck_assert_uint_eq(smp.n_cols, 4);
    ck_assert_str_eq(smp.cols[2].name, "c");
    ck_assert_int_eq(smp.cols[0].kind, 'i');
    ck_assert_int_eq(smp.cols[1].kind, 'f');
    ck_assert_double_eq(smp.cols[1].nulls, 1);
    ck_assert_int_eq(smp.cols[2].kind, 'O');
    ck_assert_double_eq(smp.cols[2].distinct, 3);
    ck_assert_double_eq(smp.cols[2].text_bytes, 1 + 5 + 10); /* x, y,"z", multi\nline */
    ck_assert_int_eq(smp.cols[3].kind, 'b');
    ck_assert(smp.exact);
    ck_assert_double_eq(smp.rows, 3);
    ck_assert_double_eq(smp.file_bytes, sizeof text - 1);
    mt__csv_sample_free(&smp);
    /* A sample of 1 row: the rows from the file's size. */
    ck_assert_int_eq(mt__csv_sample_read(path, 1, &smp, &d), 0);
    ck_assert(!smp.exact);
    ck_assert_double_eq_tol(smp.rows, (double)(sizeof text - 1 - 8) / 13, 1e-9); /* 13: "1,2.5,x,True\n" */
    mt__csv_sample_free(&smp);
    const char open_quote[] = "a,b\n1,\"never closed\n2,3\n";
    spit(path, open_quote, sizeof open_quote - 1);
    ck_assert_int_eq(mt__csv_sample_read(path, 100, &smp, &d), MT_E_PARSE);
    ck_assert_ptr_nonnull(strstr(d.msg, "line 2: a quoted field is not closed"));
    /* The position predict.h promises, counted by hand: the quote opens
     * line 2 ("1,\"never...") at column 3, byte 4 + 2 of the file. */
    ck_assert_str_eq(d.file, path);
    ck_assert_uint_eq(d.line, 2);
    ck_assert_uint_eq(d.column, 3);
    ck_assert_int_eq(d.offset, 6);
    /* A quote opened on a later line of a row than the one it starts on
     * (the first field spans two lines) is placed on its own line. */
    const char late_quote[] = "a,b\n\"x\ny\",\"open\n";
    spit(path, late_quote, sizeof late_quote - 1);
    ck_assert_int_eq(mt__csv_sample_read(path, 100, &smp, &d), MT_E_PARSE);
    ck_assert_ptr_nonnull(strstr(d.msg, "line 2: a quoted field is not closed"));
    ck_assert_uint_eq(d.line, 3);
    ck_assert_uint_eq(d.column, 4);
    ck_assert_int_eq(d.offset, 10);
    spit(path, "", 0);
    ck_assert_int_eq(mt__csv_sample_read(path, 100, &smp, &d), MT_E_PARSE);
    ck_assert_ptr_nonnull(strstr(d.msg, "expected a header line"));
    /* Short rows: the fields they lack are missing values. */
    const char short_rows[] = "a,b,c\n1\n2,x\n";
    spit(path, short_rows, sizeof short_rows - 1);
    ck_assert_int_eq(mt__csv_sample_read(path, 100, &smp, &d), 0);
    ck_assert_double_eq(smp.cols[0].nulls, 0);
    ck_assert_int_eq(smp.cols[0].kind, 'i');
    ck_assert_double_eq(smp.cols[1].nulls, 1);
    ck_assert_int_eq(smp.cols[1].kind, 'O');
    ck_assert_double_eq(smp.cols[2].nulls, 2);
    ck_assert_int_eq(smp.cols[2].kind, 'f');
    mt__csv_sample_free(&smp);
    unlink(path);
    ck_assert_int_eq(mt__csv_sample_read(path, 100, &smp, &d), MT_E_IO);
    free(path);
}
END_TEST

/* The bounds: MT_CSV_MAX_COLUMNS columns (exactly that many are read) and
 * MT_CSV_MAX_ROW_BYTES bytes a row, each refused with its line. */
START_TEST(csv_sample_bounds_columns_and_row_bytes) {
    char *path = tmp_path();
    size_t n = MT_CSV_MAX_COLUMNS - 1 + 1 + 4; /* the commas, a newline, "1\n1\n" */
    char *text = malloc(MT_CSV_MAX_ROW_BYTES + 16);
    memset(text, ',', MT_CSV_MAX_COLUMNS - 1);
    memcpy(text + MT_CSV_MAX_COLUMNS - 1, "\n1\n1\n", 5);
    spit(path, text, n);
    mt_csv_sample smp;
    mt_diag d = { .file = NULL };
    ck_assert_msg(mt__csv_sample_read(path, 100, &smp, &d) == 0, "%s", d.msg);
    ck_assert_uint_eq(smp.n_cols, MT_CSV_MAX_COLUMNS);
    ck_assert_double_eq(smp.cols[MT_CSV_MAX_COLUMNS - 1].nulls, 2);
    mt__csv_sample_free(&smp);
    memset(text, ',', MT_CSV_MAX_COLUMNS);
    memcpy(text + MT_CSV_MAX_COLUMNS, "\n1\n", 3);
    spit(path, text, MT_CSV_MAX_COLUMNS + 3);
    ck_assert_int_eq(mt__csv_sample_read(path, 100, &smp, &d), MT_E_LIMIT);
    ck_assert_uint_eq(d.line, 1);
    ck_assert_str_eq(d.msg, "more than the 100000 columns a row may have");
    /* A data row past the columns' bound is refused too, at its line. */
    memcpy(text, "a\n1\n", 4);
    memset(text + 4, ',', MT_CSV_MAX_COLUMNS);
    spit(path, text, 4 + MT_CSV_MAX_COLUMNS);
    ck_assert_int_eq(mt__csv_sample_read(path, 100, &smp, &d), MT_E_LIMIT);
    ck_assert_uint_eq(d.line, 3);
    memcpy(text, "a\n\"", 3);
    memset(text + 3, 'x', MT_CSV_MAX_ROW_BYTES);
    spit(path, text, 3 + MT_CSV_MAX_ROW_BYTES);
    ck_assert_int_eq(mt__csv_sample_read(path, 100, &smp, &d), MT_E_LIMIT);
    ck_assert_uint_eq(d.line, 2);
    ck_assert_str_eq(d.msg, "a row longer than the 16777216 bytes a row may have");
    unlink(path);
    free(path);
    free(text);
}
END_TEST

int main(void) {
    Suite *s = suite_create("predict");
    TCase *tc = tcase_create("predict");
    tcase_add_test(tc, hashtable_sizes_follow_khash);
    tcase_add_test(tc, every_model_group_is_calibrated);
    tcase_add_test(tc, join_rows_from_key_statistics);
    tcase_add_test(tc, inline_shapes);
    tcase_add_test(tc, zero_rows_predict_finite_numbers);
    tcase_add_test(tc, groupby_peak_is_pandas_factorize_phase);
    tcase_add_test(tc, a_merge_that_does_not_fit_gets_chunks);
    tcase_add_test(tc, bad_requests_say_what_is_wrong);
    tcase_add_test(tc, csv_sample_reads_kinds_nulls_and_quotes);
    tcase_add_test(tc, csv_sample_bounds_columns_and_row_bytes);
    tcase_add_test(tc, merge_result_real_counts_each_string_once);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
