/* The loader's arrays against the records written: CSR both ways checked
 * edge by edge against the plain edge list (sorted and shuffled sources),
 * labels and weak flags, roots, type totals computed by hand, the JSON
 * heap document (errors with line and column, round trips) and
 * mt_snapshot_save keeping kinds the loader does not keep. */
#include <pthread.h>
#include "memtrace/analyze.h"
#include "../helpers.h"

typedef struct edge { uint32_t src, dst, weak; char label[16]; } edge;

static int cmp_edge(const void *a, const void *b) {
    const edge *x = a, *y = b;
    if (x->src != y->src) return x->src < y->src ? -1 : 1;
    if (x->dst != y->dst) return x->dst < y->dst ? -1 : 1;
    if (x->weak != y->weak) return x->weak < y->weak ? -1 : 1;
    return strcmp(x->label, y->label);
}

/* Writes n objects and m edges (shuffled sources when shuffle), loads with
 * labels, and compares the out- and in-adjacency with the edge list. */
static void graph_case(uint32_t n, uint32_t m, int shuffle, uint32_t seed) {
    edge *e = calloc(m ? m : 1, sizeof *e);
    for (uint32_t k = 0; k < m; k++) {
        seed = seed * 1103515245u + 12345u;
        e[k].src = shuffle ? (seed >> 4) % n : (uint32_t)((uint64_t)k * n / m);
        seed = seed * 1103515245u + 12345u;
        e[k].dst = (seed >> 4) % n;
        e[k].weak = (seed >> 20) % 7 == 0;
        if ((seed >> 12) % 3 == 0) snprintf(e[k].label, sizeof e[k].label, "l%u", k);
    }
    char *path = tmp_path();
    mt_writer *w;
    mt_writer_opts o = { .block_bytes = 2048, .level = 0, .background = 0 };
    ck_assert_int_eq(mt_writer_open(path, &o, &w, NULL), 0);
    mt_type t = { 5, mt_str_c("node") };
    mt_writer_add(w, MT_KIND_TYPE, &t);
    for (uint32_t i = 0; i < n; i++) {
        mt_object ob = { 1000 + i, 5, i, 0, 0, 0 };
        mt_writer_add(w, MT_KIND_OBJECT, &ob);
    }
    for (uint32_t k = 0; k < m; k++) {
        mt_ref r = { e[k].src, e[k].dst, e[k].weak ? MT_REF_WEAK : 0, mt_str_c(e[k].label) };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_REF, &r), 0);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(path, MT_LOAD_LABELS, &s, NULL), 0);
    const mt_graph *g = mt_snapshot_graph(s);
    ck_assert_uint_eq(g->n_objects, n);
    ck_assert_uint_eq(g->n_refs, m);
    /* Out-edges, read back as an edge list, equal the written multiset. */
    edge *got = calloc(m ? m : 1, sizeof *got);
    uint64_t k = 0;
    for (uint32_t u = 0; u < n; u++)
        for (uint32_t x = g->out_off[u]; x < g->out_off[u + 1]; x++, k++) {
            got[k].src = u;
            got[k].dst = g->out_dst[x] & MT_GRAPH_INDEX;
            got[k].weak = !!(g->out_dst[x] & MT_GRAPH_WEAK);
            mt_str l = mt_snapshot_ref_label(s, x);
            snprintf(got[k].label, sizeof got[k].label, "%.*s", (int)l.len, l.ptr);
        }
    ck_assert_uint_eq(k, m);
    qsort(e, m, sizeof *e, cmp_edge);
    qsort(got, m, sizeof *got, cmp_edge);
    for (uint32_t j = 0; j < m; j++) ck_assert_int_eq(cmp_edge(&e[j], &got[j]), 0);
    /* In-edges are the same multiset seen from the other end. */
    k = 0;
    for (uint32_t v = 0; v < n; v++)
        for (uint32_t x = g->in_off[v]; x < g->in_off[v + 1]; x++, k++) {
            got[k].src = g->in_src[x] & MT_GRAPH_INDEX;
            got[k].dst = v;
            got[k].weak = !!(g->in_src[x] & MT_GRAPH_WEAK);
            got[k].label[0] = 0;
        }
    ck_assert_uint_eq(k, m);
    for (uint32_t j = 0; j < m; j++) e[j].label[0] = 0;
    qsort(e, m, sizeof *e, cmp_edge);
    qsort(got, m, sizeof *got, cmp_edge);
    for (uint32_t j = 0; j < m; j++) ck_assert_int_eq(cmp_edge(&e[j], &got[j]), 0);
    /* Without MT_LOAD_REFS there is no adjacency, but refs are checked. */
    mt_snapshot_free(s);
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, NULL), 0);
    ck_assert_ptr_null(mt_snapshot_graph(s)->out_off);
    ck_assert_uint_eq(mt_snapshot_graph(s)->n_refs, 0);
    mt_snapshot_free(s);
    unlink(path);
    free(path);
    free(e);
    free(got);
}

START_TEST(csr_sorted_sources) { graph_case(5000, 20000, 0, 1); }
END_TEST
START_TEST(csr_shuffled_sources) { graph_case(5000, 20000, 1, 2); }
END_TEST
START_TEST(csr_edge_cases) {
    graph_case(1, 0, 0, 3);
    graph_case(1, 5, 1, 4);      /* self loops */
    graph_case(300, 1, 1, 5);
    graph_case(10, 5000, 1, 6);  /* many parallel edges */
}
END_TEST

START_TEST(type_stats_match_hand_totals) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    mt_type a = { 10, mt_str_c("dict") }, b = { 20, mt_str_c("list") }, c = { 30, mt_str_c("str") };
    mt_writer_add(w, MT_KIND_TYPE, &a);
    mt_writer_add(w, MT_KIND_TYPE, &b);
    mt_writer_add(w, MT_KIND_TYPE, &c);
    /* dict: 3 x 232 = 696; list: 5 x 56 = 280; str: 1 x 1000 = 1000. */
    for (int i = 0; i < 3; i++) { mt_object o = { 1 + i, 10, 232, 0, 0, 0 }; mt_writer_add(w, MT_KIND_OBJECT, &o); }
    for (int i = 0; i < 5; i++) { mt_object o = { 10 + i, 20, 56, 0, 0, 0 }; mt_writer_add(w, MT_KIND_OBJECT, &o); }
    mt_object big = { 99, 30, 1000, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_OBJECT, &big);
    mt_root r = { 8, mt_str_c("module"), mt_str_c("app") };
    mt_writer_add(w, MT_KIND_ROOT, &r);
    mt_writer_meta_str(w, "tool", "t1");
    mt_writer_meta_uint(w, "pid", 4242);
    mt_writer_meta_str(w, "tool", "t2"); /* the last one wins */
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, NULL), 0);
    const mt_graph *g = mt_snapshot_graph(s);
    ck_assert_uint_eq(g->n_types, 3);
    mt_type_stat st[3];
    mt_snapshot_type_stats(s, 1, st);
    ck_assert_str_eq(g->type_names[st[0].type].ptr, "str");
    ck_assert_uint_eq(st[0].bytes, 1000);
    ck_assert_str_eq(g->type_names[st[1].type].ptr, "dict");
    ck_assert_uint_eq(st[1].bytes, 696);
    ck_assert_uint_eq(st[2].bytes, 280);
    mt_snapshot_type_stats(s, 0, st);
    ck_assert_str_eq(g->type_names[st[0].type].ptr, "list");
    ck_assert_uint_eq(st[0].count, 5);
    /* dict and str: 3 and 1 objects; by count dict comes before str. */
    ck_assert_str_eq(g->type_names[st[1].type].ptr, "dict");
    ck_assert_uint_eq(g->n_roots, 1);
    ck_assert_uint_eq(g->root_obj[0], 8);
    ck_assert_str_eq(g->root_kind[0].ptr, "module");
    ck_assert_str_eq(g->root_name[0].ptr, "app");
    ck_assert_uint_eq(mt_snapshot_meta_count(s), 3);
    ck_assert_str_eq(mt_snapshot_meta_get(s, "tool")->v.s.ptr, "t2");
    ck_assert_uint_eq(mt_snapshot_meta_get(s, "pid")->v.u, 4242);
    ck_assert_ptr_null(mt_snapshot_meta_get(s, "nope"));
    mt_snapshot_free(s);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(bad_references_are_refused_or_dropped) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    mt_type t = { 1, mt_str_c("x") };
    mt_writer_add(w, MT_KIND_TYPE, &t);
    mt_object o = { 1, 1, 8, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_OBJECT, &o);
    mt_ref good = { 0, 0, 0, mt_str_c(NULL) }, bad = { 0, 7, 0, mt_str_c(NULL) };
    mt_writer_add(w, MT_KIND_REF, &good);
    mt_writer_add(w, MT_KIND_REF, &bad);
    mt_object orphan = { 2, 9, 8, 0, 0, 0 }; /* type 9 is never defined */
    mt_writer_add(w, MT_KIND_OBJECT, &orphan);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_snapshot *s;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_load(path, MT_LOAD_REFS, &s, &d), MT_E_DAMAGED);
    ck_assert_int_eq(d.kind, MT_KIND_OBJECT);
    ck_assert_str_eq(d.msg, "record 1: object names type 9, which no types record defines");
    ck_assert_int_eq(mt_snapshot_load(path, MT_LOAD_REFS | MT_LOAD_SALVAGE, &s, &d), 0);
    const mt_graph *g = mt_snapshot_graph(s);
    ck_assert_uint_eq(g->n_objects, 2);
    ck_assert_str_eq(g->type_names[g->type[1]].ptr, "<type 9>");
    ck_assert_uint_eq(g->n_refs, 1);
    ck_assert_uint_eq(mt_snapshot_dropped_refs(s), 1); /* 0 -> 7, past the 2 objects */
    mt_snapshot_free(s);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(json_import_errors_say_where) {
    char *out = tmp_path();
    mt_diag d;
    struct { const char *json; int code; uint32_t line, col; const char *msg; } cases[] = {
        { "", MT_E_PARSE, 1, 1, "expected a JSON object ({\"objects\": [...]}), found end of input" },
        { "{\"objects\": [\n  {\"id\": 1, \"type\": \"a\"}]}", MT_E_PARSE, 2, 3, "object has no \"size\"" },
        { "{\"objects\": [{\"id\": -1}]}", MT_E_PARSE, 1, 21, "\"id\" -1 is negative: expected a non-negative integer" },
        { "{\"objects\": [{\"id\": 1, \"type\": \"a\", \"size\": 1},\n{\"id\": 1, \"type\": \"a\", \"size\": 1}]}",
          MT_E_RANGE, 2, 1, "duplicate object id 1 (first on line 1)" },
        { "{\"objects\": [{\"id\": 1, \"type\": \"a\", \"size\": 1, \"refs\": [\n 5]}]}", MT_E_RANGE, 2, 2,
          "reference to id 5, which no object has (from object 1)" },
        { "{\"objects\": [], \"roots\": [3]}", MT_E_RANGE, 1, 27, "root 0 names id 3, which no object has" },
        { "{\"objects\": [1 2]}", MT_E_PARSE, 1, 14, "expected an object ({...}) in \"objects\", found a number" },
        { "{\"objects\": []} x", MT_E_PARSE, 1, 17, "unexpected 'x' where a JSON value or punctuation was expected" },
        { "{\"meta\": {\"a\": \"\\ud800\"}}", MT_E_PARSE, 1, 17, "lone high surrogate in a string" },
        { "{\"meta\": {\"a\": 01}}", MT_E_PARSE, 1, 16, "malformed number '01'" },
        { "{\"meta\": {\"a\": [1]}}", MT_E_PARSE, 1, 16, "expected a string, number, boolean or null meta value, found '['" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ck_assert_int_eq(import_str(cases[i].json, out, &d), cases[i].code);
        ck_assert_str_eq(d.msg, cases[i].msg);
        ck_assert_uint_eq(d.line, cases[i].line);
        ck_assert_uint_eq(d.column, cases[i].col);
    }
    unlink(out);
    free(out);
}
END_TEST

START_TEST(json_round_trip_is_exact) {
    const char *json =
        "{\"meta\": {\"tool\": \"t\\u00e9\\n\", \"pid\": 42, \"neg\": -7, \"f\": 0.25, \"ok\": false, \"n\": null},\n"
        "\"objects\": [\n"
        "{\"id\": 18446744073709551615, \"type\": \"a.B\", \"size\": 9, \"flags\": 1, \"gen\": 2, \"refs\": [{\"id\": 2, \"label\": \"x\\\"y\"}, {\"id\": 2, \"weak\": true}]},\n"
        "{\"id\": 2, \"type\": \"list\", \"size\": 56, \"stack\": 3, \"refs\": [18446744073709551615]}],\n"
        "\"roots\": [\n"
        "{\"id\": 2, \"kind\": \"module\", \"name\": \"app\"}]}\n";
    char *snap = tmp_path();
    mt_diag d;
    ck_assert_int_eq(import_str(json, snap, &d), 0);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(snap, MT_LOAD_LABELS, &s, NULL), 0);
    char *buf;
    size_t n;
    FILE *f = open_memstream(&buf, &n);
    ck_assert_int_eq(mt_heapjson_export(s, f, NULL), 0);
    fclose(f);
    /* The exporter writes the canonical form this document is already in,
     * but for the escape of é, which comes back as UTF-8. */
    const char *want =
        "{\"meta\": {\"tool\": \"t\xc3\xa9\\n\", \"pid\": 42, \"neg\": -7, \"f\": 0.25, \"ok\": false, \"n\": null},\n"
        "\"objects\": [\n"
        "{\"id\": 18446744073709551615, \"type\": \"a.B\", \"size\": 9, \"flags\": 1, \"gen\": 2, \"refs\": [{\"id\": 2, \"label\": \"x\\\"y\"}, {\"id\": 2, \"weak\": true}]},\n"
        "{\"id\": 2, \"type\": \"list\", \"size\": 56, \"stack\": 3, \"refs\": [18446744073709551615]}],\n"
        "\"roots\": [\n"
        "{\"id\": 2, \"kind\": \"module\", \"name\": \"app\"}]}\n";
    ck_assert_str_eq(buf, want);
    free(buf);
    mt_snapshot_free(s);
    unlink(snap);
    free(snap);
}
END_TEST

START_TEST(save_keeps_every_kind) {
    char *a = tmp_path(), *b = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(a, NULL, &w, NULL), 0);
    mt_type t = { 1, mt_str_c("dict") };
    mt_writer_add(w, MT_KIND_TYPE, &t);
    mt_object o = { 77, 1, 100, 0, 0, 0 };
    mt_writer_add(w, MT_KIND_OBJECT, &o);
    mt_ref r = { 0, 0, MT_REF_WEAK, mt_str_c("self") };
    mt_writer_add(w, MT_KIND_REF, &r);
    for (uint32_t i = 0; i < 10; i++) {
        mt_sample sm = { i * 1000, mt_str_c("rss"), 1e6 + i, mt_str_c("load"), 0, 0, 0, 0 };
        mt_writer_add(w, MT_KIND_SAMPLE, &sm);
    }
    mt_nb_cell cell = { .id = 1, .exec_count = 3, .source = mt_str_c("df = load()"),
                        .start_ns = 5, .end_ns = 9, .rss_before = 100, .rss_after = 200 };
    mt_writer_add(w, MT_KIND_NB_CELL, &cell);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(a, MT_LOAD_LABELS, &s, NULL), 0);
    ck_assert_int_eq(mt_snapshot_save(s, b, NULL), 0);
    mt_snapshot_free(s);
    mt_reader *rd;
    ck_assert_int_eq(mt_reader_open(b, &rd, NULL), 0);
    int samples = 0, cells = 0;
    for (size_t i = 0; i < mt_reader_block_count(rd); i++) {
        mt_cursor c;
        mt_record rec;
        ck_assert_int_eq(mt_reader_block_open(rd, i, &c, NULL), 0);
        while (mt_cursor_next(&c, &rec.u, NULL) == 1) {
            if (c.kind == MT_KIND_SAMPLE) {
                ck_assert_uint_eq(rec.u.sample.time_ns, (uint64_t)samples * 1000);
                ck_assert(rec.u.sample.value == 1e6 + samples);
                samples++;
            }
            if (c.kind == MT_KIND_NB_CELL) {
                cells++;
                ck_assert_uint_eq(rec.u.nb_cell.rss_after, 200);
            }
            if (c.kind == MT_KIND_REF) {
                ck_assert_uint_eq(rec.u.ref.flags, MT_REF_WEAK);
                ck_assert_uint_eq(rec.u.ref.label.len, 4);
            }
        }
    }
    ck_assert_int_eq(samples, 10);
    ck_assert_int_eq(cells, 1);
    mt_reader_free(rd);
    unlink(a);
    unlink(b);
    free(a);
    free(b);
}
END_TEST

START_TEST(json_strings_numbers_and_escapes) {
    /* Every escape, UTF-8 of 1 to 4 bytes, a surrogate pair, exponents,
     * integers at the 64-bit limits and past them (then floats). */
    const char *json =
        "{\"meta\": {\"s\": \"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u0041\\u00e9\\u20ac\\ud83d\\ude00\","
        " \"e\": 1.5e3, \"E\": -2E-2, \"max\": 18446744073709551615, \"over\": 18446744073709551616,"
        " \"min\": -9223372036854775808, \"under\": -9223372036854775809, \"z\": -0, \"t\": true},"
        " \"objects\": [], \"ignored\": {\"deep\": [[{\"x\": [1, 2, {}]}]], \"n\": null}}";
    char *snap = tmp_path();
    mt_diag d;
    ck_assert_msg(import_str(json, snap, &d) == 0, "%s", d.msg);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(snap, 0, &s, NULL), 0);
    const mt_value *v = mt_snapshot_meta_get(s, "s");
    ck_assert_int_eq(v->type, MT_VAL_STR);
    const char *want = "q\" b\\ s/ \b\f\n\r\t A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    ck_assert_uint_eq(v->v.s.len, strlen(want));
    ck_assert(memcmp(v->v.s.ptr, want, v->v.s.len) == 0);
    ck_assert(mt_snapshot_meta_get(s, "e")->v.f == 1500.0);
    ck_assert(mt_snapshot_meta_get(s, "E")->v.f == -0.02);
    ck_assert_int_eq(mt_snapshot_meta_get(s, "max")->type, MT_VAL_UINT);
    ck_assert_uint_eq(mt_snapshot_meta_get(s, "max")->v.u, UINT64_MAX);
    ck_assert_int_eq(mt_snapshot_meta_get(s, "over")->type, MT_VAL_FLOAT);
    ck_assert_int_eq(mt_snapshot_meta_get(s, "min")->type, MT_VAL_INT);
    ck_assert_int_eq(mt_snapshot_meta_get(s, "min")->v.i, INT64_MIN);
    ck_assert_int_eq(mt_snapshot_meta_get(s, "under")->type, MT_VAL_FLOAT);
    ck_assert_int_eq(mt_snapshot_meta_get(s, "z")->type, MT_VAL_UINT);
    ck_assert_int_eq(mt_snapshot_meta_get(s, "t")->v.b, 1);
    mt_snapshot_free(s);
    /* Bad strings and numbers, each with where and why. */
    struct { const char *json; uint32_t col; const char *msg; } bad[] = {
        { "{\"meta\": {\"a\": \"\\x\"}}", 18, "unknown escape in a string" },
        { "{\"meta\": {\"a\": \"\\u12g4\"}}", 21, "expected four hex digits after \\u" },
        { "{\"meta\": {\"a\": \"\\udc00\"}}", 17, "lone low surrogate in a string" },
        { "{\"meta\": {\"a\": \"\\ud800\\u0041\"}}", 17, "bad low surrogate in a string" },
        { "{\"meta\": {\"a\": \"x\ny\"}}", 18, "control character in a string (escape it)" },
        { "{\"meta\": {\"a\": \"open", 16, "string is not closed" },
        { "{\"meta\": {\"a\": 1.}}", 16, "malformed number '1.'" },
        { "{\"meta\": {\"a\": 1e}}", 16, "malformed number '1e'" },
        { "{\"meta\": {\"a\": -}}", 16, "malformed number '-'" },
        { "{\"meta\": {\"a\": tru}}", 16, "expected a value" },
        { "{\"meta\": {\"a\" 1}}", 15, "expected ':' after a key, found a number" },
        { "{\"meta\": {1: 2}}", 11, "expected a key (a string), found a number" },
        { "{\"objects\": {}}", 13, "expected an array for \"objects\", found '{'" },
        { "{\"objects\": [{\"id\": 1, \"type\": 5}]}", 32, "expected a type name (a string) for \"type\", found a number" },
        { "{\"objects\": [{\"id\": 1, \"type\": \"a\", \"size\": 1, \"gen\": 4294967296}]}", 55, "\"gen\" 4294967296 is more than 4294967295: expected a 32-bit value" },
        { "{\"objects\": [{\"id\": 1, \"type\": \"a\", \"size\": 1, \"refs\": [{\"label\": \"x\"}]}]}", 57, "reference has no \"id\"" },
        { "{\"objects\": [{\"id\": 1, \"type\": \"a\", \"size\": 1, \"refs\": [{\"id\": 1, \"weak\": 1}]}]}", 75, "expected true or false for \"weak\", found a number" },
        { "{\"roots\": [{\"kind\": \"c\"}]}", 12, "root has no \"id\"" },
        { "{\"roots\": [\"x\"]}", 12, "expected an object id or {\"id\": ...} in \"roots\", found a string" },
        { "{\"x\": ]}", 7, "expected a value, found ']'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_ne(import_str(bad[i].json, snap, &d), 0);
        ck_assert_msg(strcmp(d.msg, bad[i].msg) == 0, "case %zu: got '%s'", i, d.msg);
        ck_assert_msg(d.column == bad[i].col, "case %zu: column %u, expected %u", i, d.column, bad[i].col);
    }
    unlink(snap);
    free(snap);
}
END_TEST

START_TEST(every_error_code_has_a_name_and_text) {
    int seen = 0;
    for (int code = -1; code >= -64; code--) {
        if (!strcmp(mt_err_name(code), "MT_E_UNKNOWN")) {
            ck_assert_str_eq(mt_strerror(code), "unknown error");
            continue;
        }
        seen++;
        ck_assert_str_ne(mt_strerror(code), "unknown error");
        for (int other = code + 1; other < 0; other++) ck_assert_str_ne(mt_err_name(code), mt_err_name(other));
    }
    ck_assert_int_eq(seen, 17);
    ck_assert_str_eq(mt_err_name(0), "MT_OK");
    ck_assert_str_eq(mt_strerror(0), "success");
    mt_diag d;
    mt_diag_clear(&d);
    char buf[64];
    d.code = MT_E_IO;
    ck_assert_str_eq(mt_diag_format(&d, buf, sizeof buf), "input/output error");
    d.offset = 12;
    mt_diag_set(&d, MT_E_IO, "x");
    ck_assert_str_eq(mt_diag_format(&d, buf, sizeof buf), "offset 12: x");
    d.line = 3;
    d.column = 4;
    ck_assert_str_eq(mt_diag_format(&d, buf, sizeof buf), "line 3, column 4: x");
    mt_diag_clear(&d);
    d.block = 3;
    d.offset = 77;
    mt_diag_set(&d, MT_E_CORRUPT, "no block marker");
    ck_assert_str_eq(mt_diag_format(&d, buf, sizeof buf), "block 3 at offset 77: no block marker");
    d.block = 4;
    d.offset = -1; /* a block whose offset is unknown: no "at offset" */
    d.kind = MT_KIND_REF;
    ck_assert_str_eq(mt_diag_format(&d, buf, sizeof buf), "block 4 (refs): no block marker");
    ck_assert_int_eq(mt_diag_set(NULL, MT_E_RANGE, "ignored"), MT_E_RANGE);
    mt_diag_clear(NULL);
}
END_TEST

/* Separate handles from separate threads: no shared state. Run under
 * ThreadSanitizer in CI. */
typedef struct job { const char *path; uint64_t refs, bytes; int rc; } job;

static void *load_job(void *arg) {
    job *j = arg;
    mt_snapshot *s;
    j->rc = mt_snapshot_load(j->path, MT_LOAD_LABELS, &s, NULL);
    if (j->rc) return NULL;
    const mt_graph *g = mt_snapshot_graph(s);
    j->refs = g->n_refs;
    for (uint32_t i = 0; i < g->n_objects; i++) j->bytes += g->size[i];
    mt_snapshot_free(s);
    return NULL;
}

START_TEST(handles_work_from_threads_at_once) {
    char *path = tmp_path();
    mt_writer *w;
    mt_writer_opts o = { .block_bytes = 4096, .level = 0, .background = 0 };
    ck_assert_int_eq(mt_writer_open(path, &o, &w, NULL), 0);
    mt_type t = { 1, mt_str_c("x") };
    mt_writer_add(w, MT_KIND_TYPE, &t);
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < 20000; i++) {
        mt_object ob = { i, 1, i % 100, 0, 0, 0 };
        bytes += i % 100;
        mt_writer_add(w, MT_KIND_OBJECT, &ob);
        mt_ref r = { i, (i * 31u) % 20000, 0, mt_str_c(i % 2 ? "a" : NULL) };
        mt_writer_add(w, MT_KIND_REF, &r);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){ path, 0, 0, -1 };
        ck_assert_int_eq(pthread_create(&th[i], NULL, load_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(jobs[i].rc, 0);
        ck_assert_uint_eq(jobs[i].refs, 20000);
        ck_assert_uint_eq(jobs[i].bytes, bytes);
    }
    unlink(path);
    free(path);
}
END_TEST

START_TEST(save_and_export_error_contracts) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    mt_type tb = { 1, mt_str_c("b") }, ta = { 2, mt_str_c("a") };
    mt_writer_add(w, MT_KIND_TYPE, &tb);
    mt_writer_add(w, MT_KIND_TYPE, &ta);
    mt_object o1 = { 5, 1, 10, 0, 0, 0 }, o2 = { 5, 2, 10, 0, 0, 0 }; /* the same id twice */
    mt_writer_add(w, MT_KIND_OBJECT, &o1);
    mt_writer_add(w, MT_KIND_OBJECT, &o2);
    mt_ref r = { 0, 1, 0, mt_str_c(NULL) };
    mt_writer_add(w, MT_KIND_REF, &r);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_snapshot *s;
    mt_diag d;
    /* Two objects with one id are damage (SPEC.md 4.3): a strict load
     * refuses them, where the JSON export used to be the first to say. */
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, &d), MT_E_DAMAGED);
    ck_assert_str_eq(d.msg, "record 1: object 1 has id 0x5, as object 0 does: an id names one object");
    unlink(path);
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    mt_writer_add(w, MT_KIND_TYPE, &tb);
    mt_writer_add(w, MT_KIND_TYPE, &ta);
    o2.id = 6;
    mt_writer_add(w, MT_KIND_OBJECT, &o1);
    mt_writer_add(w, MT_KIND_OBJECT, &o2);
    mt_writer_add(w, MT_KIND_REF, &r);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    /* Loaded without references: neither save nor export can be whole. */
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, NULL), 0);
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_save(s, "/tmp/never-written.snap", &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "references were not loaded");
    ck_assert_int_eq(access("/tmp/never-written.snap", F_OK), -1);
    FILE *f = fopen("/dev/null", "w");
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_heapjson_export(s, f, &d), MT_E_INVAL);
    /* Equal count and bytes: ranked by name, either way. */
    mt_type_stat st[2];
    mt_snapshot_type_stats(s, 1, st);
    ck_assert_str_eq(mt_snapshot_graph(s)->type_names[st[0].type].ptr, "a");
    mt_snapshot_type_stats(s, 0, st);
    ck_assert_str_eq(mt_snapshot_graph(s)->type_names[st[0].type].ptr, "a");
    mt_snapshot_free(s);
    ck_assert_int_eq(mt_snapshot_load(path, MT_LOAD_LABELS, &s, NULL), 0);
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_save(s, "/nonexistent-dir/x.snap", &d), MT_E_IO);
    ck_assert_str_eq(d.msg, "cannot create: No such file or directory");
    fclose(f);
    mt_snapshot_free(s);
    unlink(path);
    free(path);
}
END_TEST

int main(void) {
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase_create("snapshot");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, csr_sorted_sources);
    tcase_add_test(tc, csr_shuffled_sources);
    tcase_add_test(tc, csr_edge_cases);
    tcase_add_test(tc, type_stats_match_hand_totals);
    tcase_add_test(tc, bad_references_are_refused_or_dropped);
    tcase_add_test(tc, json_import_errors_say_where);
    tcase_add_test(tc, json_round_trip_is_exact);
    tcase_add_test(tc, save_keeps_every_kind);
    tcase_add_test(tc, json_strings_numbers_and_escapes);
    tcase_add_test(tc, every_error_code_has_a_name_and_text);
    tcase_add_test(tc, handles_work_from_threads_at_once);
    tcase_add_test(tc, save_and_export_error_contracts);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
