/* The DataFrame table (frames.h): loading hand-written records, integer
 * fits, item sizes, the pandas model (pandas_model.h) against what pandas
 * 1.5.3 measured, and kmv sketch estimates against exact set sizes. */
#include <math.h>
#include "memtrace/analyze.h"
#include "memtrace/valhash.h"
#include "frames/pandas_model.h"
#include "../helpers.h"

#define S(x) mt_str_c(x)

static mt_value u(uint64_t v) { mt_value x = { MT_VAL_UINT, { .u = v } }; return x; }
static mt_value i64(int64_t v) { mt_value x = { MT_VAL_INT, { .i = v } }; return x; }
static mt_value f(double v) { mt_value x = { MT_VAL_FLOAT, { .f = v } }; return x; }
static mt_value str(const char *s) { mt_value x = { MT_VAL_STR, { .s = { s, strlen(s) } } }; return x; }

START_TEST(int_fit_picks_the_smallest_width) {
    mt_value lo, hi;
    struct { mt_value lo, hi; const char *want; } cases[] = {
        { u(0), u(127), "int8" },          { i64(-128), u(127), "int8" },   { u(0), u(128), "uint8" },
        { u(0), u(255), "uint8" },         { i64(-1), u(128), "int16" },    { u(0), u(65535), "uint16" },
        { i64(-32769), u(5), "int32" },    { u(0), u(4294967295u), "uint32" }, { i64(-1), u(4294967295u), "int64" },
        { u(0), u(UINT64_MAX), "uint64" }, { i64(-1), u(UINT64_MAX), NULL }, { f(0), f(200), "uint8" },
        { f(-3), f(2.5), NULL },           { str("a"), str("b"), NULL },    { f(-1e300), f(0), NULL },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        lo = cases[k].lo;
        hi = cases[k].hi;
        const char *got = mt_df_int_fit(&lo, &hi);
        if (!cases[k].want) ck_assert_msg(!got, "case %zu: %s", k, got);
        else ck_assert_msg(got && !strcmp(got, cases[k].want), "case %zu: %s, want %s", k, got ? got : "NULL",
                           cases[k].want);
    }
    ck_assert_uint_eq(mt_df_itemsize("int16", 5), 2);
    ck_assert_uint_eq(mt_df_itemsize("UInt16", 6), 2);
    ck_assert_uint_eq(mt_df_itemsize("Float32", 7), 4);
    ck_assert_uint_eq(mt_df_itemsize("datetime64[ns, UTC]", 19), 8);
    ck_assert_uint_eq(mt_df_itemsize("category", 8), 0);
}
END_TEST

START_TEST(pandas_dtypes) {
    ck_assert_str_eq(mt__pandas_dtype_kind("UInt16"), "nullable_int");
    ck_assert_str_eq(mt__pandas_dtype_kind("uint16"), "uint");
    ck_assert_str_eq(mt__pandas_dtype_kind("Sparse[float64, nan]"), "sparse");
    ck_assert_str_eq(mt__pandas_dtype_kind("string[pyarrow]"), "string");
    ck_assert_str_eq(mt__pandas_dtype_kind("datetime64[ns]"), "datetime");
    ck_assert_str_eq(mt__pandas_dtype_kind("boolean"), "boolean");
    ck_assert_str_eq(mt__pandas_dtype_kind("mystery"), "other");
    /* Values and the mask byte of the nullable dtypes. */
    ck_assert_uint_eq(mt__pandas_dtype_row_bytes("Int64"), 9);
    ck_assert_uint_eq(mt__pandas_dtype_row_bytes("Float32"), 5);
    ck_assert_uint_eq(mt__pandas_dtype_row_bytes("boolean"), 2);
    ck_assert_uint_eq(mt__pandas_dtype_row_bytes("int64"), 8);
    ck_assert_uint_eq(mt__pandas_dtype_row_bytes("category"), 0);
    ck_assert(mt__pandas_dtype_is_object("string") && mt__pandas_dtype_is_object("object") &&
              mt__pandas_dtype_is_object("string[pyarrow]"));
    ck_assert(!mt__pandas_dtype_is_object("category") && mt__pandas_dtype_is_category("category"));
    ck_assert(mt__pandas_dtype_may_fit_int("float64") && mt__pandas_dtype_may_fit_int("object") &&
              mt__pandas_dtype_may_fit_int("Int64") && mt__pandas_dtype_may_fit_int("Sparse[float64, nan]"));
    ck_assert(!mt__pandas_dtype_may_fit_int("datetime64[ns, UTC]") && !mt__pandas_dtype_may_fit_int("Sparse[bool]") &&
              !mt__pandas_dtype_may_fit_int("interval[int64, right]") && !mt__pandas_dtype_may_fit_int("category"));
    char buf[8];
    mt__pandas_nullable_int_name("uint16", buf, sizeof buf);
    ck_assert_str_eq(buf, "UInt16");
    mt__pandas_nullable_int_name("int8", buf, sizeof buf);
    ck_assert_str_eq(buf, "Int8");
    mt__pandas_nullable_int_name("float32", buf, sizeof buf);
    ck_assert_str_eq(buf, "");
    /* pd.Categorical(range(k)).codes.dtype on pandas 1.5.3: int8 for 126,
     * int16 for 127 and 32766, int32 for 32767. */
    ck_assert_uint_eq(mt__pandas_code_bytes(126), 1);
    ck_assert_uint_eq(mt__pandas_code_bytes(127), 2);
    ck_assert_uint_eq(mt__pandas_code_bytes(32766), 2);
    ck_assert_uint_eq(mt__pandas_code_bytes(32767), 4);
    ck_assert_double_eq(mt__pandas_ascii_str_bytes(8), 57);  /* sys.getsizeof("abcdefgh") */
    ck_assert_double_eq(mt__pandas_vector_bytes(100, 0), 8 * 128);
    ck_assert_double_eq(mt__pandas_vector_bytes(129, 0), 8 * 512);
    ck_assert_double_eq(mt__pandas_vector_bytes(129, 1), 8 * 256);
}
END_TEST

/* Bytes tracemalloc saw in khash's domain (424242) on pandas 1.5.3 for a
 * table made for a hint (Int64HashTable(hint), Int8HashTable ...) after
 * map_locations of that many distinct keys; PyObjectHashTable gave the
 * same figures as int64 for 10^3 to 2 * 10^6 string keys. */
START_TEST(pandas_hashtables_match_tracemalloc) {
    struct { double hint, keys; unsigned kb; double bytes; } m[] = {
        { 1000, 1000, 8, 33064 },           { 10000, 10000, 8, 264232 },
        { 100000, 100000, 8, 2113576 },     { 1000000, 1000000, 8, 33816616 },
        /* past the hint's cap of 2^20 + 7 the table doubles as keys come */
        { 2000000, 2000000, 8, 67633192 },  { 5000000, 5000000, 8, 135266344 },
        { 10000000, 10000000, 8, 270532648 },
        /* a big hint with few keys keeps the capped table: 2^21 buckets */
        { 3000000, 1000, 8, 33816616 },     { 100000, 10, 8, 2113576 },
        /* narrow keys: 1, 2 and 4 bytes a bucket's key */
        { 5, 5, 1, 116 },                   { 100, 100, 1, 2376 },          { 20000, 127, 1, 299048 },
        { 20000, 20000, 2, 331816 },        { 20000, 20000, 4, 397352 },
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        double got = mt__pandas_hashtable_bytes(m[i].hint, m[i].keys, m[i].kb);
        ck_assert_msg(got == m[i].bytes, "hint %.0f keys %.0f: %.0f bytes, measured %.0f", m[i].hint, m[i].keys, got,
                      m[i].bytes);
    }
    /* kh_needed_n_buckets: 788 keys fit 1024 buckets (upper bound 788),
     * 789 need 2048; an empty table has 4. */
    ck_assert_double_eq(mt__pandas_hashtable_buckets(788, 788), 1024);
    ck_assert_double_eq(mt__pandas_hashtable_buckets(789, 789), 2048);
    ck_assert_double_eq(mt__pandas_hashtable_buckets(0, 0), 4);
}
END_TEST

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* A sorted sketch of the k smallest hashes of the integers [from, to). */
static unsigned char *sketch(int64_t from, int64_t to, size_t k, size_t *len, int *full) {
    size_t n = (size_t)(to - from);
    uint64_t *h = malloc(n * sizeof *h);
    for (int64_t v = from; v < to; v++) h[v - from] = mt_hash_int(v);
    qsort(h, n, sizeof *h, cmp_u64);
    size_t m = n < k ? n : k;
    unsigned char *out = malloc(m * 8 + 1);
    for (size_t i = 0; i < m; i++)
        for (int b = 0; b < 8; b++) out[i * 8 + b] = (unsigned char)(h[i] >> (8 * b));
    free(h);
    *len = m * 8;
    *full = n > k;
    return out;
}

START_TEST(kmv_estimates_sizes_and_overlap) {
    struct { int64_t a0, a1, b0, b1; } cases[] = {
        { 0, 20000, 10000, 30000 },  /* a third of the union in both */
        { 0, 20000, 0, 20000 },      /* the same set */
        { 0, 20000, 20000, 25000 },  /* disjoint */
        { 0, 500, 250, 20000 },      /* one small, exact sketch */
        { 0, 300, 100, 400 },        /* both exact */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t la, lb;
        int fa, fb;
        unsigned char *a = sketch(cases[c].a0, cases[c].a1, 1024, &la, &fa);
        unsigned char *b = sketch(cases[c].b0, cases[c].b1, 1024, &lb, &fb);
        mt_kmv_estimate e;
        ck_assert_int_eq(mt_kmv_compare(a, la, fa, b, lb, fb, &e), 0);
        double na = (double)(cases[c].a1 - cases[c].a0), nb = (double)(cases[c].b1 - cases[c].b0);
        double lo = cases[c].a0 > cases[c].b0 ? (double)cases[c].a0 : (double)cases[c].b0;
        double hi = cases[c].a1 < cases[c].b1 ? (double)cases[c].a1 : (double)cases[c].b1;
        double both = hi > lo ? hi - lo : 0, uni = na + nb - both;
        /* k = 1024: a standard error of about 1/sqrt(k) = 3%; allow 4 of them. */
        ck_assert_msg(fabs(e.distinct_a - na) <= 0.12 * na, "case %zu: a %.0f vs %.0f", c, e.distinct_a, na);
        ck_assert_msg(fabs(e.distinct_b - nb) <= 0.12 * nb, "case %zu: b %.0f vs %.0f", c, e.distinct_b, nb);
        ck_assert_msg(fabs(e.union_ - uni) <= 0.12 * uni, "case %zu: union %.0f vs %.0f", c, e.union_, uni);
        ck_assert_msg(fabs(e.both - both) <= 0.12 * uni, "case %zu: both %.0f vs %.0f", c, e.both, both);
        if (!fa && !fb) {
            ck_assert(e.exact);
            ck_assert_double_eq(e.both, both);
            ck_assert_double_eq(e.union_, uni);
        }
        free(a);
        free(b);
    }
    mt_kmv_estimate e;
    ck_assert_int_eq(mt_kmv_compare("abc", 3, 0, "", 0, 0, &e), MT_E_INVAL);
}
END_TEST

/* orphan: 1 a column names a missing frame, 2 two frames share an id. */
static void write_table(const char *path, int orphan) {
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, &d), 0);
    mt_df_frame fr = { .id = 7, .name = S("orders"), .rows = 10, .columns = 2, .index_kind = S("range"),
                       .shallow_bytes = 300, .deep_bytes = 900, .step = S("load"), .time_ns = 50 };
    mt_writer_add(w, MT_KIND_DF_FRAME, &fr);
    mt_df_frame g = { .id = orphan == 2 ? 7 : 9, .name = S("users"), .rows = 3, .columns = 1, .deep_bytes = 24, .step = S("join"),
                      .time_ns = 90 };
    mt_writer_add(w, MT_KIND_DF_FRAME, &g);
    /* Columns out of order; the table sorts them by frame and position. */
    mt_df_column c1 = { .frame = 7, .position = 1, .name = S("city"), .dtype = S("object"), .shallow_bytes = 80,
                        .deep_bytes = 680, .distinct_count = 3 };
    mt_df_column c0 = { .frame = 7, .position = 0, .name = S("qty"), .dtype = S("int64"), .shallow_bytes = 80,
                        .deep_bytes = 80, .min = u(1), .max = u(90), .flags = MT_COL_INTEGRAL };
    mt_df_column c2 = { .frame = orphan == 1 ? 8 : 9, .position = 0, .name = S("id"), .dtype = S("float64"),
                        .shallow_bytes = 24, .deep_bytes = 24, .min = f(-5), .max = f(40000),
                        .flags = MT_COL_INTEGRAL | MT_COL_KEY };
    mt_writer_add(w, MT_KIND_DF_COLUMN, &c1);
    mt_writer_add(w, MT_KIND_DF_COLUMN, &c2);
    mt_writer_add(w, MT_KIND_DF_COLUMN, &c0);
    mt_df_value v[] = { { 7, 1, str("Oslo"), 5 }, { 7, 1, str("Rome"), 3 }, { 7, 1, str("Lima"), 9 } };
    for (int i = 0; i < 3; i++) mt_writer_add(w, MT_KIND_DF_VALUE, &v[i]);
    mt_df_sketch sk = { 9, 0, S("kmv"), { "\1\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0", 16 } };
    mt_writer_add(w, MT_KIND_DF_SKETCH, &sk);
    mt_sample sm[] = { { 100, S("rss"), 2e6, S("join"), 0, 0, 0, 0 }, { 40, S("rss"), 1e6, S("load"), 0, 0, 0, 0 },
                       { 41, S("traced"), 5e5, S("load"), 0, 0, 0, 0 }, { 5, S("rss"), 1, S(""), 0, 0, 0, 0 },
                       /* A thinned bucket: the step's peak is its max, 7e6, not its mean. */
                       { 110, S("traced_peak"), 3e6, S("join"), 50, 1e6, 7e6, 5 } };
    for (int i = 0; i < 5; i++) mt_writer_add(w, MT_KIND_SAMPLE, &sm[i]);
    ck_assert_int_eq(mt_writer_close(w, &d), 0);
}

START_TEST(table_joins_frames_columns_values_and_steps) {
    char *path = tmp_path();
    write_table(path, 0);
    mt_snapshot *s;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, &d), 0);
    mt_df_table *t;
    ck_assert_int_eq(mt_df_table_load(s, &t, &d), 0);
    ck_assert_uint_eq(t->n_frames, 2);
    ck_assert_uint_eq(t->n_columns, 3);
    ck_assert_uint_eq(t->deep_bytes, 924);
    const mt_df_frame_info *o = &t->frames[0];
    ck_assert_str_eq(o->rec.name.ptr, "orders");
    ck_assert_uint_eq(o->n_columns, 2);
    const mt_df_col_info *qty = &t->columns[o->first_column], *city = qty + 1;
    ck_assert_str_eq(qty->rec.name.ptr, "qty");
    ck_assert_str_eq(qty->int_fit, "int8");
    ck_assert_str_eq(city->rec.name.ptr, "city");
    ck_assert_ptr_null(city->int_fit);
    ck_assert_uint_eq(city->n_top, 3);
    ck_assert_uint_eq(city->top[0].count, 9);
    ck_assert_int_eq(city->top[0].value.type, MT_VAL_STR);
    ck_assert_int_eq(memcmp(city->top[0].value.v.s.ptr, "Lima", 4), 0);
    ck_assert_uint_eq(city->top[2].count, 3);
    const mt_df_col_info *id = &t->columns[t->frames[1].first_column];
    ck_assert_str_eq(id->int_fit, "int32");
    ck_assert_ptr_nonnull(id->sketch);
    ck_assert_uint_eq(id->sketch->data.len, 16);
    /* Steps in time order; the stepless sample makes none. */
    ck_assert_uint_eq(t->n_steps, 2);
    ck_assert_str_eq(t->steps[0].name, "load");
    ck_assert_uint_eq(t->steps[0].time_ns, 40);
    ck_assert_double_eq(t->steps[0].rss, 1e6);
    ck_assert_double_eq(t->steps[0].traced, 5e5);
    ck_assert(isnan(t->steps[0].traced_peak));
    ck_assert_uint_eq(t->steps[0].frames_deep, 900);
    ck_assert_str_eq(t->steps[1].name, "join");
    ck_assert_uint_eq(t->steps[1].n_frames, 1);
    ck_assert_double_eq(t->steps[1].traced_peak, 7e6);
    mt_df_table_free(t);
    mt_snapshot_free(s);

    write_table(path, 1);
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, &d), 0);
    ck_assert_int_eq(mt_df_table_load(s, &t, &d), MT_E_RECORD);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(d.msg, "column 'id' (position 0) names frame 8, which has no frame record");
    mt_snapshot_free(s);

    write_table(path, 2);
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, &d), 0);
    ck_assert_int_eq(mt_df_table_load(s, &t, &d), MT_E_RECORD);
    ck_assert_str_eq(d.msg, "frame id 7 is used twice (frames 'orders' and 'users')");
    mt_snapshot_free(s);
    mt_df_table_free(NULL);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(steps_that_grew_most_by_hand) {
    /* RSS 100, 300 (+200), unknown (traced: the step before has none, so
     * 0), 250 (RSS unknown before: traced 50 -> 80, +30), 450 (+200, a
     * tie: the earlier step first), 400 (-50, no growth). */
    mt_df_step st[6];
    memset(st, 0, sizeof st);
    double rss[] = { 100, 300, NAN, 250, 450, 400 }, traced[] = { NAN, NAN, 50, 80, 90, 95 };
    for (int i = 0; i < 6; i++) {
        st[i].rss = rss[i];
        st[i].traced = traced[i];
        st[i].traced_peak = NAN;
    }
    mt_df_table t;
    memset(&t, 0, sizeof t);
    t.steps = st;
    t.n_steps = 6;
    size_t step[4];
    double gain[4];
    ck_assert_uint_eq(mt_df_steps_grew_most(&t, 4, step, gain), 3);
    ck_assert_uint_eq(step[0], 1);
    ck_assert_double_eq(gain[0], 200);
    ck_assert_uint_eq(step[1], 4);
    ck_assert_double_eq(gain[1], 200);
    ck_assert_uint_eq(step[2], 3);
    ck_assert_double_eq(gain[2], 30);
    ck_assert_uint_eq(mt_df_steps_grew_most(&t, 1, step, gain), 1);
    ck_assert_uint_eq(step[0], 1);
    ck_assert_uint_eq(mt_df_steps_grew_most(&t, 0, step, gain), 0);
    t.n_steps = 1;
    ck_assert_uint_eq(mt_df_steps_grew_most(&t, 4, step, gain), 0);
}
END_TEST

START_TEST(json_strings_stay_valid) {
    char buf[256];
    FILE *out = fmemopen(buf, sizeof buf, "w");
    mt_str bad = { "a\xff\xc3\xa9\xe2\x82\"\n\xed\xa0\x80\xf0\x9f\x98\x80", 15 };
    mt_json_put_str(out, bad);
    mt_value bin = { MT_VAL_BIN, { .s = { "\x01\xff", 2 } } }, nan = f(NAN), inf = f(-INFINITY);
    mt_json_put_value(out, &bin);
    mt_json_put_value(out, &nan);
    mt_json_put_value(out, &inf);
    fclose(out);
    /* Bad bytes become U+FFFD, one each; good sequences pass through. */
    ck_assert_str_eq(buf, "\"a\\ufffd\xc3\xa9\\ufffd\\ufffd\\\"\\n\\ufffd\\ufffd\\ufffd\xf0\x9f\x98\x80\""
                          "\"\\u0001\\u00ff\"nullnull");
}
END_TEST

/* Real bytes (format 1.6): recorded figures are taken as they are; a
 * file without them falls back to shallow + distinct objects for object
 * columns and deep bytes for the others, never pandas' deep count of
 * objects; a frame's shared bytes are counted once in the table and in
 * its step. */
START_TEST(real_bytes_recorded_and_fallback) {
    char *path = tmp_path();
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, &d), 0);
    mt_df_frame a = { .id = 1, .name = S("a"), .rows = 50, .columns = 2, .index_bytes = 132, .deep_bytes = 5000,
                      .step = S("s"), .real_bytes = 1000 };
    mt_df_frame b = { .id = 2, .name = S("copy"), .rows = 50, .columns = 1, .index_bytes = 132, .deep_bytes = 4000,
                      .step = S("s"), .real_bytes = 600, .shared_bytes = 600 };
    mt_df_frame old = { .id = 3, .name = S("old"), .rows = 10, .columns = 2, .index_bytes = 100, .deep_bytes = 680,
                        .step = S("t") };
    mt_writer_add(w, MT_KIND_DF_FRAME, &a);
    mt_writer_add(w, MT_KIND_DF_FRAME, &b);
    mt_writer_add(w, MT_KIND_DF_FRAME, &old);
    mt_df_column cols[] = {
        { .frame = 1, .position = 0, .name = S("sym"), .dtype = S("object"), .shallow_bytes = 400,
          .deep_bytes = 4600, .distinct_bytes = 200, .real_bytes = 600 },
        { .frame = 1, .position = 1, .name = S("x"), .dtype = S("int64"), .shallow_bytes = 400, .deep_bytes = 400,
          .real_bytes = 400 },
        { .frame = 2, .position = 0, .name = S("sym"), .dtype = S("object"), .shallow_bytes = 400,
          .deep_bytes = 4000, .distinct_bytes = 200, .real_bytes = 600 },
        { .frame = 3, .position = 0, .name = S("s"), .dtype = S("object"), .shallow_bytes = 80, .deep_bytes = 500,
          .distinct_bytes = 30 },
        { .frame = 3, .position = 1, .name = S("n"), .dtype = S("int64"), .shallow_bytes = 80, .deep_bytes = 80 },
    };
    for (size_t i = 0; i < 5; i++) mt_writer_add(w, MT_KIND_DF_COLUMN, &cols[i]);
    ck_assert_int_eq(mt_writer_close(w, &d), 0);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, &d), 0);
    mt_df_table *t;
    ck_assert_int_eq(mt_df_table_load(s, &t, &d), 0);
    ck_assert_uint_eq(t->n_frames, 3);
    ck_assert_uint_eq(mt_df_col_real_bytes(&t->columns[0]), 600);
    ck_assert_uint_eq(mt_df_col_real_bytes(&t->columns[1]), 400);
    ck_assert_uint_eq(mt_df_col_real_bytes(&t->columns[3]), 80 + 30);  /* shallow + distinct objects */
    ck_assert_uint_eq(mt_df_col_real_bytes(&t->columns[4]), 80);
    ck_assert_uint_eq(mt_df_frame_real_bytes(t, 0), 1000);
    ck_assert_uint_eq(mt_df_frame_real_bytes(t, 1), 600);
    ck_assert_uint_eq(mt_df_frame_real_bytes(t, 2), 100 + 110 + 80);
    /* The copy shares all it holds: counted once. */
    ck_assert_uint_eq(t->real_bytes, 1000 + 0 + 290);
    ck_assert_uint_eq(t->n_steps, 2);
    for (size_t i = 0; i < t->n_steps; i++) {
        if (!strcmp(t->steps[i].name, "s")) ck_assert_uint_eq(t->steps[i].frames_real, 1000);
        else ck_assert_uint_eq(t->steps[i].frames_real, 290);
    }
    mt_df_table_free(t);
    mt_snapshot_free(s);
    unlink(path);
    free(path);
}
END_TEST

int main(void) {
    Suite *s = suite_create("frames");
    TCase *tc = tcase_create("frames");
    tcase_add_test(tc, int_fit_picks_the_smallest_width);
    tcase_add_test(tc, pandas_dtypes);
    tcase_add_test(tc, pandas_hashtables_match_tracemalloc);
    tcase_add_test(tc, kmv_estimates_sizes_and_overlap);
    tcase_add_test(tc, table_joins_frames_columns_values_and_steps);
    tcase_add_test(tc, json_strings_stay_valid);
    tcase_add_test(tc, steps_that_grew_most_by_hand);
    tcase_add_test(tc, real_bytes_recorded_and_fallback);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
