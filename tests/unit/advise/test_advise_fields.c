/* Every field a rule's message may name (memtrace-rules(5), Fields), for
 * each scope, filled in from a hand-built table whose values are chosen
 * so that each expected text is computed by hand below; absent values
 * print '?'. Also the family of each pandas dtype (dtype_kind) and the
 * ne and not_in tests. Through the public API only (memtrace/advise.h,
 * memtrace/frames.h). */
#include <math.h>
#include "memtrace/analyze.h"
#include "../helpers.h"

#define KiB 1024.0
#define MiB (1024.0 * 1024)
#define GiB (1024.0 * 1024 * 1024)

static mt_str S(const char *s) {
    return mt_str_c(s);
}

/* Frame 0 "sales" (step load) with five columns; frame 1 "kinds" with one
 * column per dtype family. */
static const char *const kinds[][2] = {
    { "uint8", "uint" },          { "int32", "int" },        { "float32", "float" },
    { "complex128", "complex" },  { "bool", "bool" },        { "object", "object" },
    { "string", "string" },       { "category", "category" }, { "datetime64[ns]", "datetime" },
    { "timedelta64[ns]", "timedelta" }, { "period[D]", "period" }, { "Int8", "nullable_int" },
    { "UInt16", "nullable_int" }, { "Float32", "nullable_float" }, { "boolean", "boolean" },
    { "Sparse[int8, 0]", "sparse" }, { "decimal", "other" },
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

static mt_df_frame_info frames[2];
static mt_df_col_info cols[5 + N_KINDS];
static mt_df_step steps[2];
static mt_df_table table;
static mt_gpu_device gpus[2];

static void build(void) {
    memset(frames, 0, sizeof frames);
    memset(cols, 0, sizeof cols);
    mt_df_frame *f = &frames[0].rec;
    f->id = 1;
    f->name = S("sales");
    f->rows = 1000;
    f->columns = 5;
    f->index_kind = S("multi");
    f->index_bytes = 8192;
    f->shallow_bytes = 16384;
    f->deep_bytes = 65536;
    f->step = S("load");
    f->index_nlevels = 2;
    f->index_levels_bytes = 3072;
    f->index_codes_bytes = 4096;
    f->columns_kind = S("range");
    frames[0].n_columns = 5;
    f = &frames[1].rec;
    f->id = 2;
    f->name = S("kinds");
    f->rows = 10;
    f->columns = N_KINDS;
    f->index_kind = S("range");
    f->deep_bytes = 0;  /* no share for its columns: ratio of nothing */
    f->columns_kind = S("multi");
    f->columns_nlevels = 3;
    frames[1].first_column = 5;
    frames[1].n_columns = N_KINDS;

    mt_df_column *c = &cols[0].rec; /* a nullable float */
    c->frame = 1;
    c->name = S("price");
    c->dtype = S("Float64");
    c->shallow_bytes = c->deep_bytes = 9216;
    c->null_count = 100;
    c->distinct_count = 450;
    c->min = (mt_value){ .type = MT_VAL_FLOAT, .v.f = 0.5 };
    c->max = (mt_value){ .type = MT_VAL_FLOAT, .v.f = 99.5 };
    c->flags = MT_COL_F32_EXACT;
    c->f32_max_rel_error = 0.25;
    c = &cols[1].rec; /* text */
    c->frame = 1;
    c->position = 1;
    c->name = S("city");
    c->dtype = S("object");
    c->value_type = S("str");
    c->shallow_bytes = 8192;
    c->deep_bytes = 32768;
    c->distinct_count = 4;
    c->min = (mt_value){ .type = MT_VAL_STR, .v.s = S("Berlin") };
    c->max = (mt_value){ .type = MT_VAL_STR, .v.s = S("Rome") };
    c->flags = MT_COL_KEY | MT_COL_SORTED | MT_COL_UNIQUE | MT_COL_MIXED | MT_COL_DATETIME_TEXT;
    c->text_count = 1000;
    c->len_total = 6000;
    c->len_max = 9;
    c = &cols[2].rec; /* whole numbers that fit int16 */
    c->frame = 1;
    c->position = 2;
    c->name = S("qty");
    c->dtype = S("int64");
    c->shallow_bytes = c->deep_bytes = 8000;
    c->distinct_count = 1000;
    c->min = (mt_value){ .type = MT_VAL_INT, .v.i = -5 };
    c->max = (mt_value){ .type = MT_VAL_UINT, .v.u = 300 };
    c->flags = MT_COL_INTEGRAL;
    cols[2].int_fit = "int16";
    c = &cols[3].rec; /* a categorical with unused categories */
    c->frame = 1;
    c->position = 3;
    c->name = S("code");
    c->dtype = S("category");
    c->shallow_bytes = 1000;
    c->deep_bytes = 1640;
    c->distinct_count = 4;
    c->categories = 10;
    c->categories_bytes = 640;
    c->code_bytes = 1;
    c->min = (mt_value){ .type = MT_VAL_BOOL, .v.b = 1 };
    c->max = (mt_value){ .type = MT_VAL_NIL };
    c = &cols[4].rec; /* sparse, fits uint8 */
    c->frame = 1;
    c->position = 4;
    c->name = S("hits");
    c->dtype = S("Sparse[float64, nan]");
    c->shallow_bytes = c->deep_bytes = 2000;
    c->null_count = 1500; /* more than the rows: non_null is 0, not negative */
    c->density = 0.25;
    c->dense_bytes = 8000;
    cols[4].int_fit = "uint8";
    for (size_t i = 0; i < 5; i++) cols[i].frame = 0;
    for (size_t k = 0; k < N_KINDS; k++) {
        c = &cols[5 + k].rec;
        c->frame = 2;
        c->position = (uint32_t)k;
        c->name = S(kinds[k][0]);
        c->dtype = S(kinds[k][0]);
        cols[5 + k].frame = 1;
    }

    memset(steps, 0, sizeof steps);
    steps[0] = (mt_df_step){ "load", 1, 2 * MiB, 1 * MiB, 3 * MiB, (uint64_t)MiB, 1, 0 };
    steps[1] = (mt_df_step){ "idle", 2, NAN, NAN, NAN, 0, 0, 0 };

    memset(&table, 0, sizeof table);
    table.n_frames = 2;
    table.frames = frames;
    table.n_columns = 5 + N_KINDS;
    table.columns = cols;
    table.n_steps = 2;
    table.steps = steps;
    table.deep_bytes = 65536;
    table.shallow_bytes = 16384;

    memset(gpus, 0, sizeof gpus);
    gpus[0] = (mt_gpu_device){ 0, S("cuda:0"), (uint64_t)(16 * GiB), (uint64_t)(4 * GiB), (uint64_t)GiB };
    gpus[1] = (mt_gpu_device){ 1, S("cuda:1"), 0, 0, 0 };
}

static const char *rules_yaml =
    "rules:\n"
    "  - id: cols\n    scope: column\n    severity: info\n    when: {frame: sales}\n"
    "    action: {message: \"{frame}|{column}|{step}|{dtype}|{dtype_kind}|{value_type}|{int_fit}|{nullable_int_fit}|"
    "{rows}|{nulls}|{null_ratio}|{non_null}|{distinct}|{distinct_ratio}|{bytes}|{shallow_bytes}|{object_bytes}|"
    "{share}|{min}|{max}|{whole}|{float32_exact}|{float32_error}|{key}|{sorted}|{unique}|{mixed}|"
    "{datetime_text}|{text_ratio}|{len_mean}|{len_max}|{categories}|{unused_categories}|{categories_bytes}|"
    "{density}|{frame_bytes}|{frame_rows}|{rule}|{severity}|{{x}}\"}\n"
    "  - id: kinds\n    scope: column\n    when: {frame: {ne: sales}}\n"
    "    action: {message: \"{dtype_kind}\"}\n"
    "  - id: notin\n    scope: column\n    severity: error\n"
    "    when: {frame: sales, dtype: {ne: object}, column: {not_in: [qty, hits]}}\n"
    "    action: {message: \"{column}\"}\n"
    "  - id: frm\n    scope: frame\n"
    "    action: {message: \"{frame}|{step}|{rows}|{columns}|{bytes}|{shallow_bytes}|{index_kind}|{index_bytes}|"
    "{index_share}|{index_nlevels}|{index_levels_bytes}|{index_codes_bytes}|{columns_kind}|{columns_nlevels}\"}\n"
    "  - id: stp\n    scope: step\n"
    "    action: {message: \"{step}|{peak}|{traced}|{rss}|{frames_bytes}|{frames}|{available}|{peak_ratio}|"
    "{frames_ratio}|{peak_over_frames}\"}\n"
    "  - id: gpu\n    scope: gpu\n"
    "    action: {message: \"{device}|{total}|{reserved}|{allocated}|{unused_reserved}|{unused_ratio}|"
    "{reserved_ratio}\"}\n";

/* The advice's strings point into the rules: they live until done(). */
static mt_rules *r;

/* The message of rule's advice on subject (a column, frame, step or
 * device name), or NULL. */
static const char *msg_of(const mt_advice_list *l, const char *rule, const char *subject) {
    for (size_t i = 0; i < l->n; i++) {
        const mt_advice *a = &l->items[i];
        const char *who = a->column ? a->column : a->device ? a->device : !strcmp(a->scope, "step") ? a->step : a->frame;
        if (!strcmp(a->rule, rule) && who && !strcmp(who, subject)) return a->message;
    }
    return NULL;
}

static void done(mt_advice_list *l) {
    mt_advice_list_free(l);
    mt_rules_free(r);
    r = NULL;
}

static size_t count_of(const mt_advice_list *l, const char *rule) {
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) n += !strcmp(l->items[i].rule, rule);
    return n;
}

/* What advise_with passes besides: the headroom, and a change to the
 * table after build(). */
static int headroom;
static void (*tweak)(void);

static mt_advice_list *advise_with(const char *yaml, double available) {
    build();
    if (tweak) tweak();
    mt_diag d;
    ck_assert_int_eq(mt_rules_new(&r), 0);
    int rc = mt_rules_add(r, "fields.yaml", yaml, strlen(yaml), &d);
    ck_assert_msg(rc == 0, "%u:%u: %s", d.line, d.column, d.msg);
    mt_advise_input in = { &table, gpus, 2, available, 1, headroom, NULL }; /* pandas bytes: the hand counts below */
    mt_advice_list *l = NULL;
    ck_assert_int_eq(mt_advise(r, &in, &l, &d), 0);
    return l;
}

static mt_advice_list *advise(double available) {
    return advise_with(rules_yaml, available);
}

#define EXPECT(l, rule, who, want)                                                                  \
    do {                                                                                           \
        const char *got_ = msg_of(l, rule, who);                                                   \
        ck_assert_msg(got_ && !strcmp(got_, want), "%s on %s:\n got  %s\n want %s", rule, who,     \
                      got_ ? got_ : "(no advice)", want);                                           \
    } while (0)

START_TEST(column_fields_fill_in_by_hand) {
    mt_advice_list *l = advise(8 * MiB);
    /* share: 9216 / 65536 = 14.0625% to 3 digits; null_ratio 100/1000;
     * distinct_ratio 450 of 900 non-null. */
    EXPECT(l, "cols", "price",
           "sales|price|load|Float64|nullable_float||||1000|100|10%|900|450|50%|9.0 KiB|9.0 KiB|0 B|14.1%|0.5|99.5|"
           "false|true|0.25|false|false|false|false|false|0%|?|?|0|0|0 B|?|64.0 KiB|1000|cols|info|{x}");
    /* object_bytes 32768 - 8192; len_mean 6000 / 1000; distinct 4 of 1000. */
    EXPECT(l, "cols", "city",
           "sales|city|load|object|object|str|||1000|0|0%|1000|4|0.4%|32.0 KiB|8.0 KiB|24.0 KiB|50%|?|?|"
           "false|false|?|true|true|true|true|true|100%|6|9|0|0|0 B|?|64.0 KiB|1000|cols|info|{x}");
    EXPECT(l, "cols", "qty",
           "sales|qty|load|int64|int||int16|Int16|1000|0|0%|1000|1000|100%|7.8 KiB|7.8 KiB|0 B|12.2%|-5|300|"
           "true|false|?|false|false|false|false|false|0%|?|?|0|0|0 B|?|64.0 KiB|1000|cols|info|{x}");
    /* unused categories 10 - 4; a bool minimum reads as 1, a nil maximum as absent. */
    EXPECT(l, "cols", "code",
           "sales|code|load|category|category||||1000|0|0%|1000|4|0.4%|1.6 KiB|1000 B|640 B|2.5%|1|?|"
           "false|false|?|false|false|false|false|false|0%|?|?|10|6|640 B|?|64.0 KiB|1000|cols|info|{x}");
    /* 1500 nulls of 1000 rows: non_null 0, and the ratios over it absent;
     * no int_fit without a recorded range, and never uint8. */
    EXPECT(l, "cols", "hits",
           "sales|hits|load|Sparse[float64, nan]|sparse||||1000|1500|150%|0|0|?|2.0 KiB|2.0 KiB|0 B|3.05%|?|?|"
           "false|false|?|false|false|false|false|false|?|?|?|0|0|0 B|25%|64.0 KiB|1000|cols|info|{x}");
    ck_assert_uint_eq(count_of(l, "cols"), 5);
    done(l);
}
END_TEST

START_TEST(each_dtype_has_its_family) {
    mt_advice_list *l = advise(0);
    for (size_t k = 0; k < N_KINDS; k++) EXPECT(l, "kinds", kinds[k][0], kinds[k][1]);
    ck_assert_uint_eq(count_of(l, "kinds"), N_KINDS);
    /* ne and not_in: sales' columns but object, qty and hits. */
    ck_assert_uint_eq(count_of(l, "notin"), 2);
    EXPECT(l, "notin", "price", "price");
    EXPECT(l, "notin", "code", "code");
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].rule, "notin")) ck_assert_int_eq(l->items[i].severity, MT_SEV_ERROR);
    done(l);
}
END_TEST

START_TEST(frame_step_and_gpu_fields_fill_in_by_hand) {
    mt_advice_list *l = advise(8 * MiB);
    /* index_share 8192 / 65536; a frame without levels counts as 1. */
    EXPECT(l, "frm", "sales", "sales|load|1000|5|64.0 KiB|16.0 KiB|multi|8.0 KiB|12.5%|2|3.0 KiB|4.0 KiB|range|1");
    EXPECT(l, "frm", "kinds", "kinds||10|17|0 B|0 B|range|0 B|?|1|0 B|0 B|multi|3");
    /* peak 3 MiB of 8 MiB available; frames 1 MiB of 8; peak 3x the frames. */
    EXPECT(l, "stp", "load", "load|3.0 MiB|1.0 MiB|2.0 MiB|1.0 MiB|1|8.0 MiB|37.5%|12.5%|3");
    EXPECT(l, "stp", "idle", "idle|?|?|?|0 B|0|8.0 MiB|?|0%|?");
    /* 4 GiB reserved of 16, 1 allocated: 3 GiB unused, 75% of reserved. */
    EXPECT(l, "gpu", "cuda:0", "cuda:0|16.0 GiB|4.0 GiB|1.0 GiB|3.0 GiB|75%|25%");
    EXPECT(l, "gpu", "cuda:1", "cuda:1|0 B|0 B|0 B|0 B|?|?");
    done(l);
    /* Without the memory available, what is relative to it is absent. */
    l = advise(0);
    EXPECT(l, "stp", "load", "load|3.0 MiB|1.0 MiB|2.0 MiB|1.0 MiB|1|?|?|?|3");
    done(l);
}
END_TEST

/* The action's variables, from each saving model, computed by hand. */
static const char *savings_yaml =
    "rules:\n"
    /* 1000 rows of int16: 2000 B instead of 8000 (1.95 and 5.86 KiB). */
    "  - {id: fit, scope: column, when: {column: qty},\n"
    "     action: {to: '{int_fit}', message: '{column} to {to}: {new_bytes}, saves {saving}'}}\n"
    /* A target from an absent field ({int_fit} of a float) is no advice. */
    "  - {id: nofit, scope: column, when: {column: price}, action: {to: '{int_fit}', message: m}}\n"
    /* 4 of 10 categories used: 640 B x 0.4 + 1000 one-byte codes = 1256 B
     * of 1640. */
    "  - {id: cats, scope: column, action: {saving: unused_categories, message: '{new_bytes}, saves {saving}'}}\n"
    /* A 3 MiB peak in a quarter of 8 MiB: 2 chunks of 500 of the step's
     * 1000 rows, 1.5 MiB each. The idle step has no peak: no advice. */
    "  - {id: chunk, scope: step, action: {saving: chunks, budget_fraction: 0.25,\n"
    "     message: '{chunks} chunks of {chunk_rows} rows: {new_bytes}, saves {saving}'}}\n"
    /* The 3 MiB peak over the 1 MiB of frames kept. */
    "  - {id: trans, scope: step, action: {saving: transient, message: '{new_bytes}, saves {saving}'}}\n"
    /* 4 GiB reserved, 1 allocated; cuda:1 reserves nothing. */
    "  - {id: res, scope: gpu, action: {saving: unused_reserved, message: '{new_bytes}, saves {saving}'}}\n";

START_TEST(savings_fill_in_the_action_variables) {
    mt_advice_list *l = advise_with(savings_yaml, 8 * MiB);
    EXPECT(l, "fit", "qty", "qty to int16: 2.0 KiB, saves 5.9 KiB");
    ck_assert_uint_eq(count_of(l, "nofit"), 0);
    EXPECT(l, "cats", "code", "1.2 KiB, saves 384 B");
    ck_assert_uint_eq(count_of(l, "cats"), 1);
    EXPECT(l, "chunk", "load", "2 chunks of 500 rows: 1.5 MiB, saves 1.5 MiB");
    ck_assert_uint_eq(count_of(l, "chunk"), 1);
    EXPECT(l, "trans", "load", "1.0 MiB, saves 2.0 MiB");
    ck_assert_uint_eq(count_of(l, "trans"), 1);
    EXPECT(l, "res", "cuda:0", "1.0 GiB, saves 3.0 GiB");
    ck_assert_uint_eq(count_of(l, "res"), 1);
    /* Stored data counts in the total (6000 + 384), peaks do not. */
    ck_assert_uint_eq(l->total_saving_bytes, 6000 + 384);
    ck_assert_uint_eq(l->data_bytes, 65536);
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].rule, "fit")) {
            ck_assert_str_eq(l->items[i].to_dtype, "int16");
            ck_assert_uint_eq(l->items[i].bytes, 8000);
            ck_assert_uint_eq(l->items[i].saving_bytes, 6000);
        } else if (!strcmp(l->items[i].rule, "chunk")) {
            ck_assert_uint_eq(l->items[i].chunks, 2);
            ck_assert_uint_eq(l->items[i].chunk_rows, 500);
        }
    done(l);
}
END_TEST

/* A message is cut to the 1023 bytes its buffer holds, whatever follows. */
START_TEST(a_long_message_is_cut_not_overrun) {
    char yaml[4096], xs[1100];
    memset(xs, 'x', 1022);
    xs[1022] = 0;
    const char *tail = "{to}{saving}{new_bytes}{rule}{severity}{column}{whole}{bytes}{null_ratio}{nulls}{min}"
                       "{value_type}{len_max}{{}}";
    snprintf(yaml, sizeof yaml,
             "rules:\n"
             "  - {id: long, scope: column, when: {column: qty}, action: {saving: none, to: '{int_fit}',"
             " message: '{{%s%s'}}\n"
             "  - {id: longstep, scope: step, action: {saving: chunks, budget_fraction: 0.25, message: '%s}}x"
             "{chunks}{chunk_rows}{peak}{step}'}}\n",
             xs, tail, xs);
    mt_advice_list *l = advise_with(yaml, 8 * MiB);
    char want[1200];
    snprintf(want, sizeof want, "{%s", xs);
    EXPECT(l, "long", "qty", want);
    /* "}}" is one '}': 1022 x and it fill the 1023 bytes. */
    snprintf(want, sizeof want, "%s}", xs);
    EXPECT(l, "longstep", "load", want);
    done(l);
}
END_TEST

/* int_fit keeps the headroom asked for, signed only; {to_max} and
 * {headroom} of the target, by hand. */
static const char *fit_yaml =
    "rules:\n"
    "  - {id: fit, scope: column, when: {column: [qty, hits]},\n"
    "     action: {to: '{int_fit}', message: '{int_fit}|{nullable_int_fit}|{to}|{to_max}|{headroom}'}}\n";

START_TEST(int_fit_keeps_the_headroom_and_no_unsigned) {
    /* qty: -5 to 300. 300 << 6 = 19200 fits int16, 300 << 7 = 38400 does
     * not; -5 alone would fit int8. int16's 32767 / 300 leaves 6 bits. */
    static const struct { int bits; const char *want; } cases[] = {
        { 0, "int16|Int16|int16|32767|6" },
        { 6, "int16|Int16|int16|32767|6" },
        { 7, "int32|Int32|int32|2147483647|22" },
        { 22, "int32|Int32|int32|2147483647|22" },
        { 23, NULL },  /* 300 << 23 needs int64, qty's own dtype: no advice */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        headroom = cases[k].bits;
        mt_advice_list *l = advise_with(fit_yaml, 0);
        if (cases[k].want) EXPECT(l, "fit", "qty", cases[k].want);
        else ck_assert_uint_eq(count_of(l, "fit"), 0);
        /* hits was recorded as fitting uint8 but has no range: no fit. */
        ck_assert_ptr_null(msg_of(l, "fit", "hits"));
        done(l);
    }
    headroom = 0;
}
END_TEST

static void dates_and_keys(void) {
    cols[1].rec.datetime_format = S("%d/%m/%Y");          /* city */
    cols[3].rec.flags |= MT_COL_KEY;                      /* code: 10 categories */
    cols[0].rec.datetime_format = S("%m/%d/%Y");          /* price: a guess */
    cols[0].rec.flags |= MT_COL_DATETIME_DAYFIRST_TOO;
}

START_TEST(date_layouts_and_key_groups) {
    tweak = dates_and_keys;
    mt_advice_list *l = advise_with(
        "rules:\n"
        "  - {id: d, scope: column, when: {frame: sales},\n"
        "     action: {message: '{datetime_text}|{datetime_format}|{datetime_ambiguous}|{key_columns}|{key_groups}'}}\n",
        0);
    tweak = NULL;
    /* city (4 distinct) and code (10 categories) are the keys: 4 x 10. */
    EXPECT(l, "d", "city", "true|%d/%m/%Y|false|2|40");
    EXPECT(l, "d", "price", "true|%m/%d/%Y|true|2|40");
    EXPECT(l, "d", "qty", "false||false|2|40");
    done(l);
}
END_TEST

static void big_qty(void) {
    frames[0].rec.rows = 1000000;
    frames[0].rec.deep_bytes = 16000000;
    cols[2].rec.shallow_bytes = cols[2].rec.deep_bytes = 8000000;
}

START_TEST(severity_follows_the_saving) {
    const char *yaml = "rules:\n  - {id: s, scope: column, severity: error, when: {column: qty},\n"
                       "     action: {to: int16, message: m}}\n";
    /* 1000 rows: 6000 bytes saved, under 64 KiB. */
    mt_advice_list *l = advise_with(yaml, 0);
    ck_assert_uint_eq(l->n, 1);
    ck_assert_uint_eq(l->items[0].saving_bytes, 6000);
    ck_assert_int_eq(l->items[0].severity, MT_SEV_INFO);
    done(l);
    /* A million rows: 6,000,000 bytes, 37.5% of the frame: the rule's own. */
    tweak = big_qty;
    l = advise_with(yaml, 0);
    tweak = NULL;
    ck_assert_uint_eq(l->items[0].saving_bytes, 6000000);
    ck_assert_int_eq(l->items[0].severity, MT_SEV_ERROR);
    done(l);
}
END_TEST

int main(void) {
    Suite *s = suite_create("advise_fields");
    TCase *tc = tcase_create("fields");
    tcase_add_test(tc, column_fields_fill_in_by_hand);
    tcase_add_test(tc, each_dtype_has_its_family);
    tcase_add_test(tc, frame_step_and_gpu_fields_fill_in_by_hand);
    tcase_add_test(tc, savings_fill_in_the_action_variables);
    tcase_add_test(tc, a_long_message_is_cut_not_overrun);
    tcase_add_test(tc, int_fit_keeps_the_headroom_and_no_unsigned);
    tcase_add_test(tc, date_layouts_and_key_groups);
    tcase_add_test(tc, severity_follows_the_saving);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
