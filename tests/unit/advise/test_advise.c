/* The rule engine (advise.h): each condition, each saving model against
 * hand-computed bytes, messages, overrides and disabling, and every kind
 * of malformed rule file with its line and column. */
#include <math.h>
#include "memtrace/analyze.h"
#include "../helpers.h"

#define S(x) mt_str_c(x)

static mt_value u(uint64_t v) { mt_value x = { MT_VAL_UINT, { .u = v } }; return x; }
static mt_value i64(int64_t v) { mt_value x = { MT_VAL_INT, { .i = v } }; return x; }

/* A hand-built table: frame "sales" of 1000 rows at step "load" with
 *   qty     int64, 1..5, no nulls, 5 distinct, 8000 bytes
 *   price   float64, 400 NaN, whole, 0..300, 8000 bytes
 *   region  object, 4 distinct ASCII strings of 5 characters, 1000 x 8
 *           pointers + 1000 x 54-byte objects, shared (distinct_bytes 216)
 *   seg     category, 10 categories of which 3 used, int8 codes
 * and frame "big" of 10 rows with a 2-level MultiIndex that takes half. */
typedef struct fixture {
    mt_df_frame_info frames[2];
    mt_df_col_info cols[5];
    mt_df_step steps[2];
    mt_df_table t;
    mt_gpu_device gpu;
} fixture;

static void fixture_init(fixture *x) {
    memset(x, 0, sizeof *x);
    mt_df_frame *f = &x->frames[0].rec;
    f->id = 1;
    f->name = S("sales");
    f->rows = 1000;
    f->columns = 4;
    f->step = S("load");
    f->index_kind = S("range");
    f->deep_bytes = 8000 + 8000 + 62000 + 1000 + 500;
    x->frames[0].n_columns = 4;
    mt_df_frame *g = &x->frames[1].rec;
    g->id = 2;
    g->name = S("big");
    g->rows = 10;
    g->columns = 1;
    g->step = S("report");
    g->index_kind = S("multi");
    g->index_nlevels = 2;
    g->index_bytes = 80;
    g->index_levels_bytes = 60;
    g->index_codes_bytes = 20;
    g->deep_bytes = 160;
    x->frames[1].first_column = 4;
    x->frames[1].n_columns = 1;

    mt_df_column *c = &x->cols[0].rec;
    c->frame = 1, c->position = 0, c->name = S("qty"), c->dtype = S("int64");
    c->shallow_bytes = c->deep_bytes = 8000;
    c->distinct_count = 5, c->min = u(1), c->max = u(5), c->flags = MT_COL_INTEGRAL | MT_COL_F32_EXACT;
    x->cols[0].int_fit = "int8";
    c = &x->cols[1].rec;
    c->frame = 1, c->position = 1, c->name = S("price"), c->dtype = S("float64");
    c->shallow_bytes = c->deep_bytes = 8000;
    c->null_count = 400, c->distinct_count = 300, c->min = u(0), c->max = u(300);
    c->flags = MT_COL_INTEGRAL | MT_COL_F32_EXACT;
    x->cols[1].int_fit = "int16";
    c = &x->cols[2].rec;
    c->frame = 1, c->position = 2, c->name = S("region"), c->dtype = S("object"), c->value_type = S("str");
    c->shallow_bytes = 8000, c->deep_bytes = 8000 + 54000, c->distinct_bytes = 216;
    c->distinct_count = 4, c->text_count = 1000, c->len_min = c->len_max = 5, c->len_total = 5000;
    c = &x->cols[3].rec;
    c->frame = 1, c->position = 3, c->name = S("seg"), c->dtype = S("category");
    c->shallow_bytes = 1000 + 500, c->deep_bytes = 1500, c->distinct_count = 3, c->categories = 10;
    c->categories_bytes = 500, c->code_bytes = 1, c->flags = MT_COL_KEY;
    c = &x->cols[4].rec;
    c->frame = 2, c->position = 0, c->name = S("v"), c->dtype = S("int64");
    c->shallow_bytes = c->deep_bytes = 80, c->distinct_count = 10, c->min = i64(-3), c->max = u(4000);
    x->cols[4].int_fit = "int16";
    for (int i = 0; i < 5; i++) x->cols[i].frame = i < 4 ? 0 : 1;

    x->steps[0] = (mt_df_step){ "load", 1, 100e6, 50e6, 300e6, 8000 + 8000 + 62000 + 1000 + 500, 1, 0 };
    x->steps[1] = (mt_df_step){ "report", 2, NAN, NAN, NAN, 160, 1, 0 };
    x->t.n_frames = 2, x->t.frames = x->frames;
    x->t.n_columns = 5, x->t.columns = x->cols;
    x->t.n_steps = 2, x->t.steps = x->steps;
    x->gpu.id = 0, x->gpu.name = S("H100"), x->gpu.total_bytes = 80ull << 30;
    x->gpu.reserved_bytes = 10ull << 30, x->gpu.allocated_bytes = 4ull << 30;
}

static mt_rules *rules_of(const char *yaml) {
    mt_rules *r;
    mt_diag d;
    ck_assert_int_eq(mt_rules_new(&r), 0);
    int rc = mt_rules_add(r, "t.yaml", yaml, strlen(yaml), &d);
    ck_assert_msg(rc == 0, "rules: line %u, column %u: %s", d.line, d.column, d.msg);
    return r;
}

static mt_advice_list *advise(const mt_rules *r, fixture *x, double available) {
    mt_advise_input in = { &x->t, &x->gpu, 1, available, 1, 0, NULL }; /* pandas bytes: the hand counts below */
    mt_advice_list *l;
    mt_diag d;
    ck_assert_int_eq(mt_advise(r, &in, &l, &d), 0);
    return l;
}

/* Which columns (by name, space-separated, in table order) a column rule
 * with the condition `when` fires on. */
static void fires(const char *when, const char *want) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "rules:\n  - id: t\n    scope: column\n    when: {%s}\n    action: {message: \"{column}\"}\n", when);
    mt_rules *r = rules_of(yaml);
    fixture x;
    fixture_init(&x);
    mt_advice_list *l = advise(r, &x, 0);
    char got[256] = "";
    for (size_t i = 0; i < x.t.n_columns; i++)
        for (size_t k = 0; k < l->n; k++)
            if (l->items[k].column_index == i) {
                if (got[0]) strcat(got, " ");
                strcat(got, l->items[k].message);
            }
    ck_assert_msg(!strcmp(got, want), "when {%s}: fired on '%s', want '%s'", when, got, want);
    mt_advice_list_free(l);
    mt_rules_free(r);
}

START_TEST(each_condition_selects_the_right_columns) {
    fires("", "qty price region seg v");
    fires("dtype: int64", "qty v");
    fires("dtype: [float64, object]", "price region");
    fires("dtype: {ne: int64}", "price region seg");
    fires("dtype: {not_in: [int64, category]}", "price region");
    fires("column: {matches: \"[pq]*\"}", "qty price");
    fires("dtype_kind: category", "seg");
    fires("value_type: str", "region");
    fires("int_fit: {ne: \"\"}", "qty price v");
    fires("nulls: {gt: 0}", "price");
    fires("null_ratio: 40%", "price");
    fires("distinct_ratio: {le: 0.01}", "qty region seg");
    fires("distinct_ratio: {lt: 0.0045}", "region seg");
    fires("bytes: {ge: 8000, lt: 60KiB}", "qty price");
    fires("share: {gt: 0.7}", "region");
    fires("min: {lt: 0}", "v");   /* absent for objects: never true */
    fires("max: {ge: 300}", "price v");
    fires("max: {in: [5, 4000]}", "qty v");
    fires("whole: true", "qty price");
    fires("whole: {ne: true}", "region seg v");
    fires("key: true", "seg");
    fires("len_mean: 5", "region");
    fires("unused_categories: 7", "seg");
    fires("frame: big", "v");
    fires("step: load, frame_rows: {gt: 100}", "qty price region seg");
}
END_TEST

START_TEST(astype_bytes_are_hand_computed) {
    fixture x;
    fixture_init(&x);
    uint64_t b;
    const mt_df_col_info *qty = &x.cols[0], *price = &x.cols[1], *region = &x.cols[2];
    struct { const mt_df_col_info *c; const char *to; int rc; uint64_t want; } cases[] = {
        { qty, "int8", 0, 1000 },          { qty, "uint16", 0, 2000 },      { qty, "Int8", 0, 2000 },
        { qty, "float32", 0, 4000 },       { qty, "bool", 0, 1000 },        { qty, "boolean", 0, 2000 },
        { price, "int16", MT_E_NOTFOUND, 0 }, /* NaN: a numpy integer cannot hold it */
        { price, "Int16", 0, 3000 },       { price, "float32", 0, 4000 },   { price, "datetime64[ns]", 0, 8000 },
        /* 600 stored values, 8 bytes each and an int32 index */
        { price, "Sparse[float64, nan]", 0, 600 * 12 }, { price, "Sparse[float32]", 0, 600 * 8 },
        { price, "Sparse[int64, 0]", MT_E_NOTFOUND, 0 },
        /* 1000 int8 codes; 4 categories: 4 pointers and, shared, 216 bytes
         * of objects; a hash table of 8 buckets (40 + 4 + 8 x 16) */
        { region, "category", 0, 1000 + 4 * 8 + 216 + 172 },
        /* 300 numeric categories of 8 bytes, int16 codes, 512 buckets */
        { price, "category", 0, 2000 + 300 * 8 + 40 + 16 * 4 + 512 * 16 },
        { region, "string", MT_E_NOTFOUND, 0 }, { region, "nonsense", MT_E_NOTFOUND, 0 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        b = 0;
        int rc = mt_advise_astype_bytes(cases[k].c, 1000, cases[k].to, &b);
        ck_assert_msg(rc == cases[k].rc, "case %zu (%s): rc %d", k, cases[k].to, rc);
        if (!rc) ck_assert_msg(b == cases[k].want, "case %zu (%s): %llu bytes, want %llu", k, cases[k].to,
                               (unsigned long long)b, (unsigned long long)cases[k].want);
    }
    /* Unshared strings: the objects of 4 values, 49 + 5 bytes each. */
    x.cols[2].rec.distinct_bytes = 54000;
    ck_assert_int_eq(mt_advise_astype_bytes(region, 1000, "category", &b), 0);
    ck_assert_uint_eq(b, 1000 + 4 * 8 + 4 * 54 + 172);
}
END_TEST

static const mt_advice *find(const mt_advice_list *l, const char *rule, const char *column) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].rule, rule) && (!column || (l->items[i].column && !strcmp(l->items[i].column, column))))
            return &l->items[i];
    return NULL;
}

START_TEST(actions_compute_savings_and_messages) {
    mt_rules *r = rules_of(
        "version: 1\n"
        "rules:\n"
        "  - id: ints\n    scope: column\n    when: {dtype_kind: int}\n"
        "    action: {to: \"{int_fit}\", lossless: true, message: \"{frame}.{column} {min}..{max}: {to} saves {saving} of {bytes} ({share}) {{x}}\"}\n"
        "  - id: nint\n    scope: column\n    when: {dtype: float64, whole: true}\n"
        "    action: {to: \"{nullable_int_fit}\", message: \"{to} {new_bytes}\"}\n"
        "  - id: cats\n    scope: column\n    when: {unused_categories: {gt: 0}}\n"
        "    action: {saving: unused_categories, kind: category, message: \"{unused_categories} of {categories}\"}\n"
        "  - id: chunk\n    scope: step\n    when: {peak_ratio: {gt: 0.5}}\n"
        "    action: {saving: chunks, budget_fraction: 0.25, kind: chunking, message: \"{step}: {chunks} x {chunk_rows} rows, {peak_ratio}\"}\n"
        "  - id: trans\n    scope: step\n    when: {peak_over_frames: {ge: 3}}\n"
        "    action: {saving: transient, message: \"{peak} for {frames_bytes}\"}\n"
        "  - id: gpu\n    scope: gpu\n    when: {unused_ratio: {ge: 0.5}}\n"
        "    action: {saving: unused_reserved, message: \"{device} {unused_reserved} {unused_ratio}\"}\n"
        "  - id: mi\n    scope: frame\n    when: {index_nlevels: 2, index_share: {ge: 0.5}}\n"
        "    action: {kind: index, message: \"{frame} {index_levels_bytes}+{index_codes_bytes}\"}\n");
    fixture x;
    fixture_init(&x);
    mt_advice_list *l = advise(r, &x, 400e6);
    const mt_advice *a = find(l, "ints", "qty");
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->to_dtype, "int8");
    ck_assert_str_eq(a->from_dtype, "int64");
    ck_assert_uint_eq(a->saving_bytes, 7000);
    ck_assert_int_eq(a->lossless, 1);
    ck_assert_int_eq(a->in_total, 1);
    ck_assert_str_eq(a->kind, "dtype");
    ck_assert_str_eq(a->message, "sales.qty 1..5: int8 saves 6.8 KiB of 7.8 KiB (10.1%) {x}");
    a = find(l, "ints", "v");
    ck_assert_uint_eq(a->saving_bytes, 60);
    a = find(l, "nint", "price");
    ck_assert_str_eq(a->to_dtype, "Int16");
    ck_assert_uint_eq(a->saving_bytes, 5000);
    ck_assert_str_eq(a->message, "Int16 2.9 KiB");
    /* 3 of 10 categories kept: 150 bytes of categories, 1000 codes */
    a = find(l, "cats", "seg");
    ck_assert_uint_eq(a->saving_bytes, 350);
    ck_assert_str_eq(a->message, "7 of 10");
    /* 300 MB at peak, chunks of at most a quarter of 400 MB: 3 of them */
    a = find(l, "chunk", NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->step, "load");
    ck_assert_uint_eq(a->chunks, 3);
    ck_assert_uint_eq(a->chunk_rows, 334);
    ck_assert_uint_eq(a->saving_bytes, 200000000);
    ck_assert_int_eq(a->in_total, 0);
    ck_assert_str_eq(a->message, "load: 3 x 334 rows, 75%");
    a = find(l, "trans", NULL);
    ck_assert_uint_eq(a->saving_bytes, 300000000 - 79500);
    a = find(l, "gpu", NULL);
    ck_assert_str_eq(a->device, "H100");
    ck_assert_uint_eq(a->saving_bytes, 6ull << 30);
    ck_assert_str_eq(a->message, "H100 6.0 GiB 60%");
    a = find(l, "mi", NULL);
    ck_assert_str_eq(a->frame, "big");
    ck_assert_str_eq(a->message, "big 60 B+20 B");
    ck_assert_uint_eq(a->saving_bytes, 0);
    /* Ranked by saving; the total counts stored data only. */
    for (size_t i = 1; i < l->n; i++) ck_assert_uint_ge(l->items[i - 1].saving_bytes, l->items[i].saving_bytes);
    ck_assert_uint_eq(l->total_saving_bytes, 7000 + 60 + 5000 + 350);
    ck_assert_uint_eq(l->data_bytes, x.frames[0].rec.deep_bytes + 160);
    /* Per frame, the dtype changes only (not the categories' saving):
     * qty and price in sales, v in big. */
    ck_assert_uint_eq(l->n_frames, 2);
    ck_assert_uint_eq(l->frames[0].changes, 2);
    ck_assert_uint_eq(l->frames[0].saving_bytes, 7000 + 5000);
    ck_assert_uint_eq(l->frames[0].to_datetime, 0);
    ck_assert_uint_eq(l->frames[1].changes, 1);
    ck_assert_uint_eq(l->frames[1].saving_bytes, 60);
    mt_advice_list_free(l);
    /* Without a budget the chunk rule has nothing to compare with. */
    l = advise(r, &x, 0);
    ck_assert_ptr_null(find(l, "chunk", NULL));
    mt_advice_list_free(l);
    mt_rules_free(r);
}
END_TEST

START_TEST(a_column_gets_its_best_dtype_change_only) {
    mt_rules *r = rules_of(
        "rules:\n"
        "  - {id: f32, scope: column, when: {float32_exact: true}, action: {to: float32, message: m}}\n"
        "  - {id: fit, scope: column, when: {whole: true, nulls: 0}, action: {to: \"{int_fit}\", message: m}}\n"
        "  - {id: same, scope: column, when: {dtype: int64}, action: {to: int64, message: m}}\n"
        "  - {id: bigger, scope: column, when: {dtype: int64}, action: {to: Int64, message: m}}\n");
    fixture x;
    fixture_init(&x);
    mt_advice_list *l = advise(r, &x, 0);
    /* qty: int8 (7000) beats float32 (4000); price: float32 only; no
     * change to the same or a larger dtype. */
    ck_assert_uint_eq(l->n, 2);
    ck_assert_str_eq(l->items[0].rule, "fit");
    ck_assert_str_eq(l->items[0].column, "qty");
    ck_assert_str_eq(l->items[1].rule, "f32");
    ck_assert_str_eq(l->items[1].column, "price");
    ck_assert_uint_eq(l->total_saving_bytes, 7000 + 4000);
    /* The dropped changes are not in the frame's total either. */
    ck_assert_uint_eq(l->frames[0].changes, 2);
    ck_assert_uint_eq(l->frames[0].saving_bytes, 7000 + 4000);
    ck_assert_uint_eq(l->frames[1].changes, 0);
    mt_advice_list_free(l);
    mt_rules_free(r);
}
END_TEST

/* Real bytes (the default): region's 1000 pointers and its 4 shared
 * strings once, 8000 + 216, where pandas counts 8000 + 54000; the
 * category it becomes is the same either way, so the savings differ by
 * exactly what pandas overcounts. A column recorded at a later step counts
 * once; the resident and peak effects are taken apart. */
START_TEST(savings_are_real_bytes_and_a_column_counts_once) {
    mt_rules *r = rules_of("rules:\n"
                           "  - id: ints\n    scope: column\n    when: {dtype_kind: int}\n"
                           "    action: {to: \"{int_fit}\", message: m}\n"
                           "  - id: cat\n    scope: column\n    when: {dtype: object}\n"
                           "    action: {to: category, message: m}\n");
    fixture x;
    fixture_init(&x);
    mt_advise_input in = { &x.t, NULL, 0, 0, 0, 0, NULL };
    mt_advice_list *real, *pandas;
    mt_diag d;
    ck_assert_int_eq(mt_advise(r, &in, &real, &d), 0);
    in.pandas_bytes = 1;
    ck_assert_int_eq(mt_advise(r, &in, &pandas, &d), 0);
    const mt_advice *a = find(real, "cat", "region"), *b = find(pandas, "cat", "region");
    ck_assert_uint_eq(a->bytes, 8000 + 216);
    ck_assert_uint_eq(b->bytes, 62000);
    ck_assert_uint_eq(b->saving_bytes - a->saving_bytes, 62000 - 8216);
    ck_assert_uint_eq(find(real, "ints", "qty")->saving_bytes, 7000);
    /* sales: 8000 + 8000 + 8216 + 1500; big: its 80-byte index and v. */
    ck_assert_uint_eq(real->data_bytes, 8000 + 8000 + 8216 + 1500 + 80 + 80);
    ck_assert_uint_eq(real->total_saving_bytes, 7000 + a->saving_bytes + 60);
    ck_assert_uint_eq(real->columns_changed, 3);
    ck_assert_uint_eq(real->columns_repeated, 0);
    /* Step load has the most traced memory and the highest peak; the
     * first step's peak cannot fall. */
    ck_assert_int_eq(real->resident.known, 1);
    ck_assert_uint_eq(real->resident.step, 0);
    ck_assert_uint_eq(real->resident.saving_bytes, 7000 + a->saving_bytes);
    ck_assert_int_eq(real->peak.known, 1);
    ck_assert_uint_eq(real->peak.step, 0);
    ck_assert_uint_eq(real->peak.saving_bytes, 0);
    ck_assert_str_eq(real->resident_basis, "traced");
    uint64_t cat = a->saving_bytes;
    mt_advice_list_free(real);
    mt_advice_list_free(pandas);

    /* big.v renamed qty: at step report it is the same int64 column as
     * sales.qty, which saves more, so its 60 bytes leave the total. The
     * report step now peaks highest: its inputs (load's frame) shrink by
     * 7000 + cat, down to load's own peak at most. */
    x.cols[4].rec.name = S("qty");
    x.steps[1].traced = 1e6;
    x.steps[1].traced_peak = 300e6 + 5000;
    in.pandas_bytes = 0;
    ck_assert_int_eq(mt_advise(r, &in, &real, &d), 0);
    ck_assert_uint_eq(real->columns_repeated, 1);
    ck_assert_uint_eq(real->columns_changed, 2);
    ck_assert_uint_eq(real->total_saving_bytes, 7000 + cat);
    ck_assert_uint_eq(real->data_bytes, 8000 + 8000 + 8216 + 1500 + 80);
    ck_assert_uint_eq(real->peak.step, 1);
    ck_assert_uint_eq(real->peak.then_step, 0);
    ck_assert_uint_eq(real->peak.saving_bytes, 5000);
    mt_advice_list_free(real);
    mt_rules_free(r);
}
END_TEST

START_TEST(later_files_override_and_disable) {
    mt_rules *r = rules_of(
        "rules:\n"
        "  - id: a\n    scope: column\n    severity: info\n    when: {dtype: int64, bytes: {ge: 1000}}\n"
        "    action: {to: int32, message: \"a {column}\"}\n"
        "  - {id: b, scope: column, when: {dtype: object}, action: {message: b}}\n"
        "  - {id: c, scope: frame, action: {message: c}}\n");
    const char *over =
        "rules:\n"
        "  - id: a\n    severity: error\n    when: {bytes: {ge: 1}}\n"
        "  - {id: b, enabled: false}\n"
        "  - {id: d, scope: gpu, action: {message: d}}\n"
        "disable: [c]\n";
    mt_diag d;
    ck_assert_int_eq(mt_rules_add(r, "over.yaml", over, strlen(over), &d), 0);
    ck_assert_uint_eq(mt_rules_count(r), 4);
    mt_rule_info ri;
    mt_rules_get(r, 0, &ri);
    ck_assert_str_eq(ri.id, "a");
    ck_assert_int_eq(ri.severity, MT_SEV_ERROR);
    ck_assert_str_eq(ri.file, "over.yaml");
    ck_assert_uint_eq(ri.line, 2);
    mt_rules_get(r, 1, &ri);
    ck_assert_int_eq(ri.enabled, 0);
    mt_rules_get(r, 2, &ri);
    ck_assert_int_eq(ri.enabled, 0);
    mt_rules_get(r, 3, &ri);
    ck_assert_str_eq(ri.id, "d");
    ck_assert_str_eq(ri.scope, "gpu");
    fixture x;
    fixture_init(&x);
    mt_advice_list *l = advise(r, &x, 0);
    /* a fires on v (80 bytes) too now that its bytes condition is 1; its
     * dtype condition stayed. */
    ck_assert_uint_eq(l->n, 3);
    ck_assert_ptr_nonnull(find(l, "a", "qty"));
    ck_assert_ptr_nonnull(find(l, "a", "v"));
    /* The rule says error, but severity follows the size: v's 40 bytes
     * and qty's 4000 are under MT_ADVISE_MINOR_BYTES. */
    ck_assert_int_eq(find(l, "a", "v")->severity, MT_SEV_INFO);
    ck_assert_int_eq(find(l, "a", "qty")->severity, MT_SEV_INFO);
    ck_assert_ptr_nonnull(find(l, "d", NULL));
    mt_advice_list_free(l);
    /* A failing file changes nothing. */
    const char *broken = "rules:\n  - {id: a, severity: info}\n  - {id: e, scope: nowhere, action: {message: e}}\n";
    ck_assert_int_eq(mt_rules_add(r, "broken.yaml", broken, strlen(broken), &d), MT_E_INVAL);
    mt_rules_get(r, 0, &ri);
    ck_assert_int_eq(ri.severity, MT_SEV_ERROR);
    ck_assert_uint_eq(mt_rules_count(r), 4);
    mt_rules_free(r);
}
END_TEST

START_TEST(malformed_files_say_where_and_what) {
    struct { const char *yaml; int rc; unsigned line, col; const char *msg; } cases[] = {
        { "rules: [\n", MT_E_PARSE, 2, 1, "did not find expected node content" },
        { "", MT_E_INVAL, 0, 0, "the file is empty" },
        { "- a\n", MT_E_INVAL, 1, 1, "a rule file must be a mapping, not a list" },
        { "rule:\n  - id: x\n", MT_E_INVAL, 1, 1, "unknown key 'rule' (expected version, rules or disable)" },
        { "version: 2\n", MT_E_INVAL, 1, 10, "version 2 is not one this reader knows" },
        { "rules:\n  - scope: column\n", MT_E_INVAL, 2, 5, "a rule needs an id" },
        { "rules:\n  - id: a b\n", MT_E_INVAL, 2, 9, "id 'a b' may hold only" },
        { "rules:\n  - {id: x, action: {message: m}}\n", MT_E_INVAL, 2, 5, "rule 'x' needs a scope" },
        { "rules:\n  - {id: x, scope: columns}\n", MT_E_INVAL, 2, 20, "unknown scope 'columns'" },
        { "rules:\n  - {id: x, scope: operation}\n", MT_E_INVAL, 2, 20, "scope 'operation' needs" },
        { "rules:\n  - {id: x, scope: column, colour: red}\n", MT_E_INVAL, 2, 28, "unknown rule key 'colour'" },
        { "rules:\n  - {id: x, scope: column, severity: fatal}\n", MT_E_INVAL, 2, 38, "unknown severity 'fatal'" },
        { "rules:\n  - id: x\n    scope: column\n    when:\n      distinc_ratio: {lt: 1}\n", MT_E_INVAL, 5, 7,
          "unknown field 'distinc_ratio' for scope column" },
        { "rules:\n  - id: x\n    scope: step\n    when: {dtype: int64}\n", MT_E_INVAL, 4, 12,
          "unknown field 'dtype' for scope step" },
        { "rules:\n  - id: x\n    scope: column\n    when: {bytes: {lt: lots}}\n", MT_E_INVAL, 4, 24,
          "bytes takes a number" },
        { "rules:\n  - id: x\n    scope: column\n    when: {bytes: {about: 3}}\n", MT_E_INVAL, 4, 20,
          "unknown test 'about'" },
        { "rules:\n  - id: x\n    scope: column\n    when: {dtype: {lt: 3}}\n", MT_E_INVAL, 4, 24,
          "dtype is a string: lt compares numbers" },
        { "rules:\n  - id: x\n    scope: column\n    when: {key: maybe}\n", MT_E_INVAL, 4, 17,
          "key must be true or false, not 'maybe'" },
        { "rules:\n  - id: x\n    scope: column\n    when: {dtype: {in: []}}\n", MT_E_INVAL, 4, 24, "in: the list is empty" },
        { "rules:\n  - {id: x, scope: column}\n", MT_E_INVAL, 2, 5, "rule 'x' needs action: message" },
        { "rules:\n  - {id: x, scope: column, action: {message: \"{colum}\"}}\n", MT_E_INVAL, 2, 46,
          "message: unknown placeholder '{colum}' for scope column" },
        { "rules:\n  - {id: x, scope: column, action: {message: \"{column\"}}\n", MT_E_INVAL, 2, 46,
          "message: '{' without '}'" },
        { "rules:\n  - {id: x, scope: column, action: {to: \"{bytes}\", message: m}}\n", MT_E_INVAL, 2, 41,
          "to: '{bytes}' is not a string field" },
        { "rules:\n  - {id: x, scope: column, action: {saving: magic, message: m}}\n", MT_E_INVAL, 2, 45,
          "unknown saving model 'magic'" },
        { "rules:\n  - {id: x, scope: column, action: {saving: chunks, message: m}}\n", MT_E_INVAL, 2, 5,
          "saving 'chunks' does not apply to scope column" },
        { "rules:\n  - {id: x, scope: column, action: {saving: astype, message: m}}\n", MT_E_INVAL, 2, 5,
          "saving astype needs action: to" },
        { "rules:\n  - {id: x, scope: step, action: {budget_fraction: 2, message: m}}\n", MT_E_INVAL, 2, 52,
          "budget_fraction must be a number in (0, 1]" },
        { "rules:\n  - {id: x, scope: column, action: {colour: red, message: m}}\n", MT_E_INVAL, 2, 37,
          "unknown action key 'colour'" },
        { "rules:\n  - {id: x, scope: column, action: {message: m}}\n  - {id: x, scope: frame, action: {message: m}}\n",
          MT_E_INVAL, 3, 10, "rule 'x' is defined twice in this file" },
        { "rules:\n  - {id: x, scope: column, scope: frame}\n", MT_E_INVAL, 2, 28, "key 'scope' repeats" },
        { "disable: [nothing]\n", MT_E_INVAL, 1, 11, "disable: no rule has the id 'nothing'" },
        { "rules: []\n---\nrules: []\n", MT_E_INVAL, 3, 1, "the file holds one YAML document" },
    };
    /* Every wrong case is reported, not just the first. */
    char wrong[4096] = "";
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mt_rules *r;
        mt_diag d;
        ck_assert_int_eq(mt_rules_new(&r), 0);
        int rc = mt_rules_add(r, "bad.yaml", cases[k].yaml, strlen(cases[k].yaml), &d);
        if (rc != cases[k].rc || d.code != rc || strcmp(d.file, "bad.yaml") || d.line != cases[k].line ||
            d.column != cases[k].col || !strstr(d.msg, cases[k].msg) || mt_rules_count(r))
            snprintf(wrong + strlen(wrong), sizeof wrong - strlen(wrong), "\ncase %zu: rc %d at %u:%u: %s", k, rc,
                     d.line, d.column, d.msg);
        mt_rules_free(r);
    }
    ck_assert_msg(!wrong[0], "%s", wrong);
}
END_TEST

START_TEST(shipped_rules_load_and_a_missing_file_is_named) {
    mt_rules *r;
    mt_diag d;
    ck_assert_int_eq(mt_rules_new(&r), 0);
    int rc = mt_rules_add_file(r, MT_SOURCE_DIR "/rules/default.yaml", &d);
    ck_assert_msg(rc == 0, "%u:%u: %s", d.line, d.column, d.msg);
    ck_assert_uint_ge(mt_rules_count(r), 15);
    ck_assert_int_eq(mt_rules_add_file(r, "/nonexistent/rules.yaml", &d), MT_E_IO);
    ck_assert_str_eq(d.file, "/nonexistent/rules.yaml");
    ck_assert_ptr_nonnull(strstr(d.msg, "No such file"));
    mt_severity sev = MT_SEV_INFO;
    ck_assert_int_eq(mt_severity_from_name("warning", &sev), 0);
    ck_assert_int_eq(sev, MT_SEV_WARNING);
    ck_assert_int_eq(mt_severity_from_name("loud", &sev), MT_E_INVAL);
    ck_assert_int_eq(sev, MT_SEV_WARNING);
    double v;
    ck_assert_int_eq(mt_size_parse("1.5 GiB", &v), 0);
    ck_assert_double_eq(v, 1.5 * 1073741824.0);
    ck_assert_int_eq(mt_size_parse("64KB", &v), 0);
    ck_assert_double_eq(v, 64000);
    ck_assert_int_eq(mt_size_parse("500000", &v), 0);
    ck_assert_double_eq(v, 500000);
    ck_assert_int_eq(mt_size_parse("8 GB ", &v), MT_E_PARSE);
    ck_assert_int_eq(mt_size_parse("lots", &v), MT_E_PARSE);
    ck_assert_int_eq(mt_size_parse("1e400", &v), MT_E_RANGE);
    ck_assert_int_eq(mt_size_parse("3 parsecs", &v), MT_E_PARSE);
    mt_rules_free(r);
}
END_TEST

/* Sizes are exact integers: a double would round 2^64-1 up to 2^64, and
 * strtod would take hex and exponents. */
START_TEST(sizes_parse_exactly) {
    uint64_t b = 7;
    ck_assert_int_eq(mt_bytes_parse("18446744073709551615", &b), 0);
    ck_assert_uint_eq(b, UINT64_MAX);
    ck_assert_int_eq(mt_bytes_parse("18446744073709551616", &b), MT_E_RANGE);
    ck_assert_int_eq(mt_bytes_parse("17179869184 GiB", &b), MT_E_RANGE);
    ck_assert_int_eq(mt_bytes_parse("17179869183 GiB", &b), 0);
    ck_assert_uint_eq(b, 17179869183ull << 30);
    ck_assert_int_eq(mt_bytes_parse("16 EiB", &b), MT_E_RANGE);
    ck_assert_int_eq(mt_bytes_parse("15 EiB", &b), 0);
    ck_assert_uint_eq(b, 15ull << 60);
    ck_assert_int_eq(mt_bytes_parse("1.5 GiB", &b), 0);
    ck_assert_uint_eq(b, 1610612736);
    ck_assert_int_eq(mt_bytes_parse("0.5KB", &b), 0);
    ck_assert_uint_eq(b, 500);
    ck_assert_int_eq(mt_bytes_parse("2.0", &b), 0);
    ck_assert_uint_eq(b, 2);
    ck_assert_int_eq(mt_bytes_parse("0", &b), 0);
    ck_assert_uint_eq(b, 0);
    ck_assert_int_eq(mt_bytes_parse("64KB", &b), 0);
    ck_assert_uint_eq(b, 64000);
    /* Part of a byte, or no number at all. */
    const char *bad[] = { "1.5", "0.1 KiB", "1e19", "1E3", "0x10", "-1", "+1", " 1", "1 ", "1  KiB", "1.", ".5 KiB",
                          "inf", "nan", "", "1 kib", "3 parsecs", "1.0000000000000000001 EiB", NULL };
    for (const char **s = bad; *s; s++) ck_assert_msg(mt_bytes_parse(*s, &b) == MT_E_PARSE, "'%s' parsed", *s);
    ck_assert_int_eq(mt_bytes_parse(NULL, &b), MT_E_PARSE);
}
END_TEST

int main(void) {
    Suite *s = suite_create("advise");
    TCase *tc = tcase_create("advise");
    tcase_add_test(tc, each_condition_selects_the_right_columns);
    tcase_add_test(tc, astype_bytes_are_hand_computed);
    tcase_add_test(tc, sizes_parse_exactly);
    tcase_add_test(tc, actions_compute_savings_and_messages);
    tcase_add_test(tc, a_column_gets_its_best_dtype_change_only);
    tcase_add_test(tc, later_files_override_and_disable);
    tcase_add_test(tc, savings_are_real_bytes_and_a_column_counts_once);
    tcase_add_test(tc, malformed_files_say_where_and_what);
    tcase_add_test(tc, shipped_rules_load_and_a_missing_file_is_named);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
