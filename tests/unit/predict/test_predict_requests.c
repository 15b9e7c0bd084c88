/* memtrace-predict's requests: each incomplete or contradictory one is
 * refused with the message the tool prints, and the several-key models
 * give the numbers their documented assumptions compute by hand. Through
 * the public API only (memtrace/predict.h). */
#include <math.h>
#include "memtrace/analyze.h"
#include "../helpers.h"

/* left: 1000 rows, keys a (10 values) and b (5); right: 200 rows, the
 * same keys. */
static const char *shapes_text = "left=1000x3:a=int64~10/b=int64~5/float64,right=200x3:a=int64~10/b=int64~5/float64";

static mt_shapes *shapes(void) {
    mt_shapes *s = NULL;
    mt_diag d;
    int rc = mt_shapes_parse(shapes_text, &s, &d);
    ck_assert_msg(rc == 0, "%s", d.msg);
    return s;
}

static const char *one[] = { "a" };
static const char *two[] = { "a", "b" };
static const char *zzz_yyy[] = { "zzz", "yyy" };
static const char *many[65];

#define NAMES(a) ((mt_names){ a, sizeof a / sizeof a[0] })

typedef struct {
    mt_predict_request q;
    int with_shapes;
    int rc;
    const char *msg;             /* the whole message, or its start when prefix */
    int prefix;
} bad_case;

START_TEST(each_bad_request_is_refused_with_what_is_missing) {
    for (size_t i = 0; i < 65; i++) many[i] = "left";
    mt_names seventeen = { many, 17 }, sixty_five = { many, 65 };
    bad_case bad[] = {
        { { .op = MT_PREDICT_N_OPS }, 1, MT_E_INVAL, "unknown operation", 0 },
        { { .op = MT_PREDICT_GROUPBY, .frame = "left", .by = NAMES(one) }, 0, MT_E_INVAL,
          "--shapes is needed for --op groupby", 0 },
        { { .op = MT_PREDICT_MERGE, .left = "left", .right = "right", .on = NAMES(one), .how = "cross" }, 1,
          MT_E_INVAL, "--how must be inner, left, right or outer, not 'cross'", 0 },
        { { .op = MT_PREDICT_GROUPBY, .frame = "left", .by = NAMES(one), .agg = "avg" }, 1, MT_E_INVAL,
          "--agg must be sum, mean, count, min, max, median, std or size, not 'avg'", 0 },
        { { .op = MT_PREDICT_PIVOT_TABLE, .frame = "left", .index = "a", .pivot_columns = "b", .values = "a",
            .aggfunc = "median" }, 1, MT_E_INVAL, "--aggfunc must be mean, sum or count, not 'median'", 0 },
        { { .op = MT_PREDICT_CONCAT }, 1, MT_E_INVAL, "--frames is needed for --op concat", 0 },
        { { .op = MT_PREDICT_CONCAT, .frames = sixty_five }, 1, MT_E_INVAL, "at most 64 --frames", 0 },
        { { .op = MT_PREDICT_MERGE, .left = "left", .right = "right" }, 1, MT_E_INVAL,
          "--on is needed for --op merge", 0 },
        { { .op = MT_PREDICT_MERGE, .left = "left", .right = "right", .on = seventeen }, 1, MT_E_INVAL,
          "at most 16 --on columns", 0 },
        { { .op = MT_PREDICT_MERGE, .right = "right", .on = NAMES(one) }, 1, MT_E_INVAL,
          "--left is needed for --op merge", 0 },
        { { .op = MT_PREDICT_MERGE, .left = "left", .right = "", .on = NAMES(one) }, 1, MT_E_INVAL,
          "--right is needed for --op merge", 0 },
        /* Inline shapes give a name they lack to an unnamed column; each
         * frame has one. */
        { { .op = MT_PREDICT_MERGE, .left = "left", .right = "right", .on = NAMES(zzz_yyy) }, 1, MT_E_NOTFOUND,
          "frame 'left' has no column 'yyy' and no unnamed column left for it", 0 },
        { { .op = MT_PREDICT_GROUPBY, .frame = "left" }, 1, MT_E_INVAL, "--by is needed for --op groupby", 0 },
        { { .op = MT_PREDICT_GROUPBY, .frame = "left", .by = seventeen }, 1, MT_E_INVAL, "at most 16 --by columns", 0 },
        { { .op = MT_PREDICT_GROUPBY, .frame = "left", .by = NAMES(one), .columns = NAMES(zzz_yyy) }, 1,
          MT_E_NOTFOUND, "frame 'left' has no column 'yyy' and no unnamed column left for it", 0 },
        { { .op = MT_PREDICT_GROUPBY, .frame = "nope", .by = NAMES(one) }, 1, MT_E_NOTFOUND,
          "no frame named 'nope' (there is: left, right)", 0 },
        { { .op = MT_PREDICT_PIVOT_TABLE, .frame = "left", .index = "a", .pivot_columns = "b" }, 1, MT_E_INVAL,
          "--index, --columns and --values are needed for --op pivot_table", 0 },
        /* Each of the three missing: a crash before. */
        { { .op = MT_PREDICT_PIVOT_TABLE, .frame = "left", .pivot_columns = "b", .values = "a" }, 1, MT_E_INVAL,
          "--index, --columns and --values are needed for --op pivot_table", 0 },
        { { .op = MT_PREDICT_PIVOT_TABLE, .frame = "left", .index = "a", .values = "a" }, 1, MT_E_INVAL,
          "--index, --columns and --values are needed for --op pivot_table", 0 },
        { { .op = MT_PREDICT_PIVOT_TABLE, .frame = "left", .index = "zzz", .pivot_columns = "yyy", .values = "xxx" },
          1, MT_E_NOTFOUND, "frame 'left' has no column 'yyy' and no unnamed column left for it", 0 },
    };
    mt_shapes *s = shapes();
    char wrong[8192] = "";
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        mt_prediction p;
        mt_diag d;
        mt_diag_clear(&d);
        int rc = mt_predict_run(bad[k].with_shapes ? s : NULL, &bad[k].q, &p, &d);
        int msg_ok = bad[k].prefix ? !strncmp(d.msg, bad[k].msg, strlen(bad[k].msg)) : !strcmp(d.msg, bad[k].msg);
        if (rc != bad[k].rc || d.code != rc || !msg_ok)
            snprintf(wrong + strlen(wrong), sizeof wrong - strlen(wrong), "\ncase %zu: rc %d: %s", k, rc, d.msg);
        mt_prediction_free(&p);
    }
    mt_shapes_free(s);
    ck_assert_msg(!wrong[0], "%s", wrong);
}
END_TEST

static int has_assumption(const mt_prediction *p, const char *text) {
    for (size_t i = 0; i < p->n_assumptions; i++)
        if (!strcmp(p->assumptions[i], text)) return 1;
    return 0;
}

/* Merge on two keys: 10 x 5 = 50 combinations on each side, all of the
 * smaller side's on the other; 1000 / 50 = 20 left rows and 200 / 50 = 4
 * right rows each: 50 x 20 x 4 = 4000 rows. */
START_TEST(a_merge_on_two_keys_spreads_their_combinations_evenly) {
    mt_shapes *s = shapes();
    mt_predict_request q = { .op = MT_PREDICT_MERGE, .left = "left", .right = "right", .on = NAMES(two) };
    mt_prediction p;
    mt_diag d;
    ck_assert_int_eq(mt_predict_run(s, &q, &p, &d), 0);
    ck_assert_double_eq_tol(p.result_rows, 4000, 1e-9);
    ck_assert(has_assumption(&p, "the key combinations are spread evenly and those of the side with fewer all occur "
                                 "on the other (several keys have no joint statistics)"));
    mt_prediction_free(&p);
    /* One key: 10 values, 100 and 20 rows each: 10 x 100 x 20. */
    q.on = NAMES(one);
    ck_assert_int_eq(mt_predict_run(s, &q, &p, &d), 0);
    ck_assert_double_eq_tol(p.result_rows, 20000, 1e-9);
    ck_assert(!has_assumption(&p, "the key combinations are spread evenly and those of the side with fewer all occur "
                                  "on the other (several keys have no joint statistics)"));
    mt_prediction_free(&p);
    mt_shapes_free(s);
}
END_TEST

/* Group by two keys: 1000 rows into 50 combinations, of which
 * 50 (1 - e^-20) are expected to occur: 50 once rounded. */
START_TEST(a_groupby_on_two_keys_expects_the_occupied_combinations) {
    mt_shapes *s = shapes();
    mt_predict_request q = { .op = MT_PREDICT_GROUPBY, .frame = "left", .by = NAMES(two), .agg = "sum" };
    mt_prediction p;
    mt_diag d;
    ck_assert_int_eq(mt_predict_run(s, &q, &p, &d), 0);
    ck_assert(has_assumption(&p, "the 2 keys' combinations are spread evenly: 50 groups expected"));
    ck_assert_double_eq_tol(p.result_rows, 50 * -expm1(-1000.0 / 50), 1e-9);
    mt_prediction_free(&p);
    mt_shapes_free(s);
}
END_TEST

/* Inline shapes (memtrace-predict(1), --shapes): each mistake at the
 * character where it is, counted by hand. */
START_TEST(bad_inline_shapes_say_where) {
    static const struct { const char *text; unsigned col; const char *msg; } bad[] = {
        { "=5x3", 1, "expected NAME=ROWSxCOLS" },
        { "a=5x100001", 11, "the columns must be between 1 and 100000" },
        { "a=5x0", 6, "the columns must be between 1 and 100000" },
        { "a=1x100000,b=1x100000,c=1x100000,d=1x100000,e=1x100000,f=1x100000,g=1x100000,h=1x100000,"
          "i=1x100000,j=1x100000,k=1x1", 116, "more than 1000000 columns in all the frames" },
        { "a=5x2:k=int64*2", 16, "a named column cannot repeat" },
        { "a=10x3:k=int64~5*", 18, "expected the repeat: decimal digits" },
        { "a=10x1:category~300", 20, "300 distinct values are more than the frame's 10 rows" },
        { "a=5x3:fancy", 7, "expected a dtype: int64, int32, int16, int8, uint*, float64, float32, bool, object, str, "
                            "category or datetime64[ns]" },
        { "a=123456789012345678901234567890123456789012345678901234567890123456789x2", 3,
          "the rows has more than 63 characters" },
    };
    char wrong[4096] = "";
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        mt_shapes *sh = (mt_shapes *)1;
        mt_diag d;
        int rc = mt_shapes_parse(bad[k].text, &sh, &d);
        if (rc != MT_E_PARSE || d.column != bad[k].col || strcmp(d.msg, bad[k].msg) || sh)
            snprintf(wrong + strlen(wrong), sizeof wrong - strlen(wrong), "\n%s: rc %d at %u: %s", bad[k].text, rc,
                     d.column, d.msg);
        mt_shapes_free(sh);
    }
    ck_assert_msg(!wrong[0], "%s", wrong);
    /* Counts with an exponent, a fraction and a unit. */
    static const struct { const char *text; double rows; } good[] = {
        { "a=1e+3x2", 1000 }, { "a=1.5e-0kx2", 1500 }, { "a=2.5Mx1", 2500000 }, { "a=10x2:k=int64~5/object~3*1", 10 },
    };
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        mt_shapes *sh;
        mt_diag d;
        ck_assert_msg(mt_shapes_parse(good[k].text, &sh, &d) == 0, "%s: %s", good[k].text, d.msg);
        static const char *key[] = { "k" };
        mt_predict_request q = { .op = MT_PREDICT_SORT, .frame = "a", .by = NAMES(key) };
        mt_prediction p;
        ck_assert_msg(mt_predict_run(sh, &q, &p, &d) == 0, "%s: %s", good[k].text, d.msg);
        ck_assert_double_eq(p.result_rows, good[k].rows);
        mt_prediction_free(&p);
        mt_shapes_free(sh);
    }
}
END_TEST

START_TEST(ops_are_named_both_ways) {
    static const char *const names[] = { "merge", "groupby", "pivot_table", "concat", "sort", "read_csv" };
    for (int i = 0; i < MT_PREDICT_N_OPS; i++) {
        ck_assert_str_eq(mt_predict_op_name((mt_predict_op)i), names[i]);
        mt_predict_op op = MT_PREDICT_N_OPS;
        ck_assert_int_eq(mt_predict_op_from_name(names[i], &op), 0);
        ck_assert_int_eq(op, i);
    }
    ck_assert_str_eq(mt_predict_op_name(MT_PREDICT_N_OPS), "?");
    /* A miss is MT_E_INVAL and leaves *out alone. */
    mt_predict_op op = MT_PREDICT_GROUPBY;
    ck_assert_int_eq(mt_predict_op_from_name("join", &op), MT_E_INVAL);
    ck_assert_int_eq(op, MT_PREDICT_GROUPBY);
}
END_TEST

int main(void) {
    Suite *s = suite_create("predict_requests");
    TCase *tc = tcase_create("requests");
    /* bad_inline_shapes_say_where builds a million columns before the
     * limit refuses one more: under 1 s in the release build, 8-12 s with
     * ThreadSanitizer's shadow memory on a busy two-core machine. */
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, each_bad_request_is_refused_with_what_is_missing);
    tcase_add_test(tc, a_merge_on_two_keys_spreads_their_combinations_evenly);
    tcase_add_test(tc, a_groupby_on_two_keys_expects_the_occupied_combinations);
    tcase_add_test(tc, bad_inline_shapes_say_where);
    tcase_add_test(tc, ops_are_named_both_ways);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
