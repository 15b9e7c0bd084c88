/* Dominators, retained sizes, paths, cycles and diffs on graphs whose
 * answers are worked out by hand (networkx checks random and real heaps in
 * tests/python/test_graph.py). */
#include <stdint.h>
#include "memtrace/analyze.h"
#include "../helpers.h"

/* A graph to write: object i has id 1000 + i. */
typedef struct spec {
    uint32_t n;
    const uint64_t *size;        /* NULL: every object 1 byte */
    const char *const *type;     /* NULL: every object "t" */
    const uint32_t (*edge)[2];
    size_t n_edges;
    const uint8_t *weak;         /* per edge, may be NULL */
    const char *const *label;    /* per edge, may be NULL */
    const uint32_t *root;
    const char *const *root_kind;
    size_t n_roots;
    const char *const *root_name; /* NULL: every root "m"; "" for none */
} spec;

static uint32_t type_id(const char *name, const char **names, uint32_t *n) {
    for (uint32_t i = 0; i < *n; i++)
        if (!strcmp(names[i], name)) return i + 1;
    names[*n] = name;
    return ++*n;
}

static mt_snapshot *build(const spec *sp, const char *pid) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    if (pid) {
        mt_writer_meta_str(w, "host", "h");
        mt_writer_meta_uint(w, "pid", (uint64_t)atoi(pid));
    }
    const char *names[64];
    uint32_t nt = 0;
    for (uint32_t i = 0; i < sp->n; i++) {
        const char *tn = sp->type ? sp->type[i] : "t";
        uint32_t before = nt, t = type_id(tn, names, &nt);
        if (nt != before) {
            mt_type ty = { t, mt_str_c(tn) };
            ck_assert_int_eq(mt_writer_add(w, MT_KIND_TYPE, &ty), 0);
        }
        mt_object o = { 1000 + i, t, sp->size ? sp->size[i] : 1, 0, 0, 0 };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &o), 0);
    }
    for (size_t e = 0; e < sp->n_edges; e++) {
        mt_ref r = { sp->edge[e][0], sp->edge[e][1], sp->weak && sp->weak[e] ? MT_REF_WEAK : 0,
                     mt_str_c(sp->label ? sp->label[e] : NULL) };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_REF, &r), 0);
    }
    for (size_t r = 0; r < sp->n_roots; r++) {
        mt_root rt = { sp->root[r], mt_str_c(sp->root_kind ? sp->root_kind[r] : "module"),
                       mt_str_c(sp->root_name ? sp->root_name[r] : "m") };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_ROOT, &rt), 0);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(path, MT_LOAD_LABELS, &s, NULL), 0);
    unlink(path);
    free(path);
    return s;
}

#define R MT_DOM_ROOT
#define NONE_ MT_DOM_NONE

START_TEST(diamond_two_roots_weak_and_garbage) {
    /* 0 and 5 are roots. 4 is reached from both, so only the virtual root
     * dominates it; 3 is reached through 1 and 2, so 0 dominates it. 6
     * refers into the graph but nothing refers to it; 7 is held weakly. */
    static const uint32_t edges[][2] = { { 0, 1 }, { 0, 2 }, { 1, 3 }, { 2, 3 }, { 3, 4 },
                                         { 5, 4 }, { 6, 0 }, { 0, 7 } };
    static const uint8_t weak[] = { 0, 0, 0, 0, 0, 0, 0, 1 };
    static const uint64_t size[] = { 10, 20, 30, 40, 50, 60, 70, 80 };
    static const uint32_t roots[] = { 0, 5 };
    spec sp = { 8, size, NULL, edges, 8, weak, NULL, roots, NULL, 2, NULL };
    mt_snapshot *s = build(&sp, NULL);
    mt_dominators d;
    ck_assert_int_eq(mt_dominators_compute(mt_snapshot_graph(s), &d, NULL), 0);
    static const uint32_t want[] = { R, 0, 0, 0, R, R, NONE_, NONE_ };
    static const uint64_t ret[] = { 100, 20, 30, 40, 50, 60, 0, 0 };
    for (int i = 0; i < 8; i++) {
        ck_assert_uint_eq(d.idom[i], want[i]);
        ck_assert_uint_eq(d.retained[i], ret[i]);
    }
    ck_assert_uint_eq(d.retained_count[0], 4);
    ck_assert_uint_eq(d.n_reachable, 6);
    ck_assert_uint_eq(d.reachable_bytes, 210);
    ck_assert_uint_eq(d.n_unreachable, 2);
    ck_assert_uint_eq(d.unreachable_bytes, 150);
    uint32_t top[3];
    ck_assert_uint_eq(mt_dominators_top(&d, 3, top), 3);
    ck_assert_uint_eq(top[0], 0);
    ck_assert_uint_eq(top[1], 5);
    ck_assert_uint_eq(top[2], 4);
    uint32_t all[10];
    ck_assert_uint_eq(mt_dominators_top(&d, 10, all), 6);
    ck_assert_uint_eq(all[5], 1); /* the smallest last */
    mt_dominators_free(&d);
    mt_snapshot_free(s);
}
END_TEST

START_TEST(no_references_loaded_is_refused) {
    static const uint32_t roots[] = { 0 };
    spec sp = { 2, NULL, NULL, NULL, 0, NULL, NULL, roots, NULL, 1, NULL };
    char *path = tmp_path();
    mt_snapshot *s = build(&sp, NULL);
    ck_assert_int_eq(mt_snapshot_save(s, path, NULL), 0);
    mt_snapshot_free(s);
    /* An empty reference list still loads as a graph... */
    ck_assert_int_eq(mt_snapshot_load(path, MT_LOAD_REFS, &s, NULL), 0);
    mt_dominators d;
    ck_assert_int_eq(mt_dominators_compute(mt_snapshot_graph(s), &d, NULL), 0);
    ck_assert_uint_eq(d.idom[0], R);
    ck_assert_uint_eq(d.idom[1], NONE_);
    mt_dominators_free(&d);
    mt_snapshot_free(s);
    /* ...but without MT_LOAD_REFS there is none. */
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, NULL), 0);
    mt_diag diag;
    mt_diag_clear(&diag);
    ck_assert_int_eq(mt_dominators_compute(mt_snapshot_graph(s), &d, &diag), MT_E_INVAL);
    ck_assert_ptr_null(d.idom);
    mt_cycles c;
    ck_assert_int_eq(mt_cycles_compute(mt_snapshot_graph(s), &c, NULL), MT_E_INVAL);
    mt_path p;
    ck_assert_int_eq(mt_path_to_root(mt_snapshot_graph(s), 0, &p, NULL), MT_E_INVAL);
    mt_snapshot_free(s);
    unlink(path);
    free(path);
}
END_TEST

/* A chain far deeper than any C stack would take recursively. */
#define CHAIN 1000000u

START_TEST(deep_chain_needs_no_recursion) {
    uint32_t (*edges)[2] = malloc(sizeof *edges * CHAIN);
    for (uint32_t i = 0; i + 1 < CHAIN; i++) {
        edges[i][0] = i;
        edges[i][1] = i + 1;
    }
    edges[CHAIN - 1][0] = CHAIN - 1; /* closing the ring: one huge cycle */
    edges[CHAIN - 1][1] = 0;
    static const uint32_t roots[] = { 0 };
    spec sp = { CHAIN, NULL, NULL, (const uint32_t(*)[2])edges, CHAIN, NULL, NULL, roots, NULL, 1, NULL };
    mt_snapshot *s = build(&sp, NULL);
    const mt_graph *g = mt_snapshot_graph(s);
    mt_dominators d;
    ck_assert_int_eq(mt_dominators_compute(g, &d, NULL), 0);
    ck_assert_uint_eq(d.idom[0], R);
    for (uint32_t i = 1; i < CHAIN; i++) ck_assert_uint_eq(d.idom[i], i - 1);
    ck_assert_uint_eq(d.retained[0], CHAIN);
    ck_assert_uint_eq(d.retained[CHAIN - 1], 1);
    mt_path p;
    ck_assert_int_eq(mt_path_to_root(g, CHAIN - 1, &p, NULL), 0);
    ck_assert_uint_eq(p.len, CHAIN);
    ck_assert_uint_eq(p.obj[0], 0);
    ck_assert_uint_eq(p.obj[CHAIN - 1], CHAIN - 1);
    mt_path_free(&p);
    mt_cycles c;
    ck_assert_int_eq(mt_cycles_compute(g, &c, NULL), 0);
    ck_assert_uint_eq(c.n_cyclic, 1);
    ck_assert_uint_eq(c.cyclic[0].objects, CHAIN);
    mt_cycles_free(&c);
    mt_dominators_free(&d);
    mt_snapshot_free(s);
    free(edges);
}
END_TEST

/* An LRU cache: one array holds every node of a linked list. Semi-NCA and
 * Cooper-Harvey-Kennedy go quadratic here; this one must finish at once
 * (the test's CTest timeout turns a quadratic run into a failure). */
#define LRU 300000u

START_TEST(list_held_by_an_array_stays_linear) {
    uint32_t n = LRU + 1;
    uint32_t (*edges)[2] = malloc(sizeof *edges * 2 * LRU);
    size_t m = 0;
    for (uint32_t i = 1; i <= LRU; i++) {
        edges[m][0] = 0;
        edges[m++][1] = i;
    }
    for (uint32_t i = 1; i < LRU; i++) {
        edges[m][0] = i;
        edges[m++][1] = i + 1;
    }
    static const uint32_t roots[] = { 0 };
    spec sp = { n, NULL, NULL, (const uint32_t(*)[2])edges, m, NULL, NULL, roots, NULL, 1, NULL };
    mt_snapshot *s = build(&sp, NULL);
    mt_dominators d;
    ck_assert_int_eq(mt_dominators_compute(mt_snapshot_graph(s), &d, NULL), 0);
    for (uint32_t i = 1; i <= LRU; i++) {
        ck_assert_uint_eq(d.idom[i], 0);
        ck_assert_uint_eq(d.retained[i], 1);
    }
    ck_assert_uint_eq(d.retained[0], n);
    mt_dominators_free(&d);
    mt_snapshot_free(s);
    free(edges);
}
END_TEST

START_TEST(type_retained_counts_nested_objects_once) {
    /* dict 0 -> dict 1 -> str 2; dict 0 -> str 3; list 4 -> str 3 too. */
    static const uint32_t edges[][2] = { { 0, 1 }, { 1, 2 }, { 0, 3 }, { 4, 3 } };
    static const uint64_t size[] = { 100, 50, 7, 9, 30 };
    static const char *const type[] = { "dict", "dict", "str", "str", "list" };
    static const uint32_t roots[] = { 0, 4 };
    spec sp = { 5, size, type, edges, 4, NULL, NULL, roots, NULL, 2, NULL };
    mt_snapshot *s = build(&sp, NULL);
    const mt_graph *g = mt_snapshot_graph(s);
    mt_dominators d;
    ck_assert_int_eq(mt_dominators_compute(g, &d, NULL), 0);
    uint64_t tr[8];
    ck_assert_int_eq(mt_dominators_type_retained(g, &d, tr, NULL), 0);
    for (uint32_t t = 0; t < g->n_types; t++) {
        mt_str nm = g->type_names[t];
        uint64_t want = nm.len == 4 && !memcmp(nm.ptr, "dict", 4) ? 157 /* 100 + 50 + 7, not + 57 again */
                        : nm.len == 3 && !memcmp(nm.ptr, "str", 3) ? 16
                        : nm.len == 4 && !memcmp(nm.ptr, "list", 4) ? 30
                                                                     : 0;
        ck_assert_uint_eq(tr[t], want);
    }
    mt_dominators_free(&d);
    mt_snapshot_free(s);
}
END_TEST

START_TEST(cycles_are_found_and_ranked) {
    static const uint32_t edges[][2] = { { 0, 1 }, { 1, 0 }, { 2, 2 }, { 3, 4 }, { 4, 5 },
                                         { 5, 3 }, { 6, 0 }, { 7, 6 }, { 6, 7 } };
    static const uint8_t weak[] = { 0, 0, 0, 0, 0, 0, 0, 1, 0 }; /* 7 -> 6 is weak: no cycle */
    static const uint64_t size[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    spec sp = { 8, size, NULL, edges, 9, weak, NULL, NULL, NULL, 0, NULL };
    mt_snapshot *s = build(&sp, NULL);
    mt_cycles c;
    ck_assert_int_eq(mt_cycles_compute(mt_snapshot_graph(s), &c, NULL), 0);
    ck_assert_uint_eq(c.n_cyclic, 3);
    ck_assert_uint_eq(c.cyclic[0].objects, 3);
    ck_assert_uint_eq(c.cyclic[0].bytes, 15);
    ck_assert_uint_eq(c.cyclic[1].objects, 2);
    ck_assert_uint_eq(c.cyclic[1].bytes, 3);
    ck_assert_uint_eq(c.cyclic[2].objects, 1);
    ck_assert_uint_eq(c.cyclic[2].first, 2);
    ck_assert_uint_eq(c.cyclic_objects, 6);
    ck_assert_uint_eq(c.comp[3], c.comp[5]);
    ck_assert_uint_ne(c.comp[6], c.comp[7]);
    ck_assert_uint_eq(c.n_comp, 5);
    mt_cycles_free(&c);
    mt_snapshot_free(s);
}
END_TEST

START_TEST(paths_prefer_named_roots_and_follow_strong_references) {
    /* 0 module -> 1 dict -> 2 target; 3 is a "c" root right above 2; 4
     * (a module root) refers to 2 weakly only; 5 is garbage. */
    static const uint32_t edges[][2] = { { 0, 1 }, { 1, 2 }, { 3, 2 }, { 4, 2 }, { 5, 2 } };
    static const uint8_t weak[] = { 0, 0, 0, 1, 0 };
    static const char *const label[] = { "__dict__", "['x']", NULL, "w", NULL };
    static const uint32_t roots[] = { 3, 0, 4 };
    static const char *const kinds[] = { "c", "module", "module" };
    spec sp = { 6, NULL, NULL, edges, 5, weak, label, roots, kinds, 3, NULL };
    mt_snapshot *s = build(&sp, NULL);
    const mt_graph *g = mt_snapshot_graph(s);
    mt_path p;
    ck_assert_int_eq(mt_path_to_root(g, 2, &p, NULL), 0);
    ck_assert_uint_eq(p.len, 3);
    ck_assert_uint_eq(p.root, 1);
    ck_assert_uint_eq(p.obj[0], 0);
    ck_assert_uint_eq(p.obj[1], 1);
    mt_str l = mt_snapshot_ref_label(s, p.edge[1]);
    ck_assert_int_eq((int)l.len, 5);
    ck_assert_int_eq(memcmp(l.ptr, "['x']", 5), 0);
    mt_path_free(&p);
    /* Only the "c" root reaches 3 itself. */
    ck_assert_int_eq(mt_path_to_root(g, 3, &p, NULL), 0);
    ck_assert_uint_eq(p.len, 1);
    ck_assert_uint_eq(p.root, 0);
    mt_path_free(&p);
    mt_diag diag;
    mt_diag_clear(&diag);
    ck_assert_int_eq(mt_path_to_root(g, 5, &p, &diag), MT_E_NOTFOUND);
    ck_assert_ptr_null(p.obj);
    ck_assert_int_eq(mt_path_to_root(g, 6, &p, &diag), MT_E_RANGE);
    mt_snapshot_free(s);
}
END_TEST

/* A path's text, checked and freed. */
static void path_text_is(const mt_snapshot *s, uint32_t target, uint32_t root, const char *want) {
    mt_path p;
    ck_assert_int_eq(mt_path_to_root(mt_snapshot_graph(s), target, &p, NULL), 0);
    ck_assert_uint_eq(p.root, root);
    char *text = mt_path_format(s, &p);
    ck_assert_str_eq(text, want);
    free(text);
    mt_path_free(&p);
}

START_TEST(paths_prefer_long_lived_holders_over_frames) {
    /* A request in flight: its frame 0 (a root) holds the payload 4 in a
     * local, one hop away; the module 1 holds it three hops away, through
     * its __dict__ 2 and the registry 3. The module wins: it outlives the
     * request. Object 6 is held by the frame and by 5, a dict held from C:
     * the frame wins, it names code. Object 7 only C holds. Object 8 is a
     * frame root's local and a module root itself (a root record of each
     * kind): it is the module. */
    static const char *const types[] = { "frame", "module", "dict", "dict", "app.Payload", "dict", "t", "t", "t" };
    static const uint32_t edges[][2] = { { 0, 4 }, { 1, 2 }, { 2, 3 }, { 3, 4 }, { 5, 6 }, { 0, 6 }, { 5, 7 }, { 0, 8 } };
    static const char *const label[] = { "payload", "__dict__", "['REGISTRY']", "['/item']", "['k']", "tmp", "['j']", "m" };
    static const uint32_t roots[] = { 0, 5, 8, 1, 8 };
    static const char *const kinds[] = { "frame", "c", "frame", "module", "module" };
    static const char *const names[] = { "do_GET (/srv/app/server.py:31, thread 7)", "", "x (a.py:1, thread 7)", "app",
                                         "late" };
    spec sp = { 9, NULL, types, edges, 8, NULL, label, roots, kinds, 5, names };
    mt_snapshot *s = build(&sp, NULL);
    path_text_is(s, 4, 3, "module app \xe2\x86\x92 REGISTRY['/item']");
    path_text_is(s, 6, 0, "frame do_GET (server.py:31, thread 7) \xe2\x86\x92 local 'tmp'");
    path_text_is(s, 7, 1, "held by C (refcount not explained by tracked referrers) dict['j']");
    path_text_is(s, 8, 4, "module late");
    mt_snapshot_free(s);
}
END_TEST

START_TEST(path_through_a_traceback_names_frame_and_local) {
    /* FAILED[197] holds an exception whose traceback's next entry is
     * find_route's frame, whose local G is the graph; the collector labels
     * the frame's reference with its place (formats/SPEC.md, refs). A
     * sys.modules dict held from C names itself. */
    static const char *const types[] = { "module", "dict", "list", "networkx.exception.NetworkXNoPath", "traceback",
                                         "traceback", "frame", "networkx.classes.graph.Graph", "dict" };
    static const uint32_t edges[][2] = { { 0, 1 }, { 1, 2 }, { 2, 3 }, { 3, 4 }, { 4, 5 }, { 5, 6 }, { 6, 7 }, { 8, 0 } };
    static const char *const label[] = { "__dict__", "['FAILED']", "[197]", "__traceback__", "tb_next",
                                         "tb_frame (/home/u/jobs.py:64 in find_route)", "G", "['__main__']" };
    static const uint32_t roots[] = { 8, 0 };
    static const char *const kinds[] = { "c", "module" };
    static const char *const names[] = { "sys.modules", "__main__" };
    spec sp = { 9, NULL, types, edges, 8, NULL, label, roots, kinds, 2, names };
    mt_snapshot *s = build(&sp, NULL);
    path_text_is(s, 7, 1,
                 "module __main__ \xe2\x86\x92 FAILED[197] \xe2\x86\x92 NetworkXNoPath.__traceback__ \xe2\x86\x92 tb_next "
                 "\xe2\x86\x92 tb_frame (jobs.py:64 in find_route) \xe2\x86\x92 local 'G'");
    path_text_is(s, 8, 0, "held by C sys.modules");
    mt_snapshot_free(s);
}
END_TEST

START_TEST(frame_places_keep_the_files_last_component) {
    /* Windows paths cut at the last backslash; a name with parentheses
     * but no FILE:LINE, and a label after a frame that is not a place,
     * stay as they are; a frame's reference to a frame is a place, not a
     * local. */
    static const char *const types[] = { "frame", "frame", "t", "frame", "t" };
    static const uint32_t edges[][2] = { { 0, 1 }, { 1, 2 }, { 3, 4 } };
    static const char *const label[] = { "f_back (C:\\app\\w.py:5 in run)", "x", "y" };
    static const uint32_t roots[] = { 0, 3 };
    static const char *const kinds[] = { "frame", "frame" };
    static const char *const names[] = { "main (C:\\app\\main.py:9, thread 2)", "idle (no place)" };
    spec sp = { 5, NULL, types, edges, 3, NULL, label, roots, kinds, 2, names };
    mt_snapshot *s = build(&sp, NULL);
    path_text_is(s, 2, 0,
                 "frame main (main.py:9, thread 2) \xe2\x86\x92 f_back (w.py:5 in run) \xe2\x86\x92 local 'x'");
    path_text_is(s, 4, 1, "frame idle (no place) \xe2\x86\x92 local 'y'");
    mt_snapshot_free(s);
}
END_TEST

START_TEST(a_frames_own_fields_are_not_read_as_locals) {
    /* CPython 3.8 to 3.10's dumps label a frame's references to its own
     * fields by name: f_globals is a field, x a local variable. */
    static const char *const types[] = { "frame", "dict", "t" };
    static const uint32_t edges[][2] = { { 0, 1 }, { 0, 2 } };
    static const char *const label[] = { "f_globals", "x" };
    static const uint32_t roots[] = { 0 };
    static const char *const kinds[] = { "frame" };
    static const char *const names[] = { "f0 (w.py:1, thread 1)" };
    spec sp = { 3, NULL, types, edges, 2, NULL, label, roots, kinds, 1, names };
    mt_snapshot *s = build(&sp, NULL);
    path_text_is(s, 1, 0, "frame f0 (w.py:1, thread 1) \xe2\x86\x92 f_globals");
    path_text_is(s, 2, 0, "frame f0 (w.py:1, thread 1) \xe2\x86\x92 local 'x'");
    mt_snapshot_free(s);
}
END_TEST

START_TEST(any_kind_but_frame_and_c_counts_as_long_lived) {
    /* 2 is held by two frames (the first met wins) and by "c"; 4 by a
     * root of kind "other" and by a frame; 6 by a root of kind "g" (a
     * one-letter kind that is not "c") and by "c". */
    static const char *const types[] = { "frame", "frame", "t", "dict", "t", "dict", "t", "frame" };
    static const uint32_t edges[][2] = { { 0, 2 }, { 1, 2 }, { 3, 2 }, { 5, 4 }, { 7, 4 }, { 3, 6 }, { 5, 6 } };
    static const char *const label[] = { "a", "b", "['c']", "['o']", "f", "['d']", "['e']" };
    static const uint32_t roots[] = { 0, 1, 3, 5, 7, 5 };
    static const char *const kinds[] = { "frame", "frame", "c", "other", "frame", "g" };
    static const char *const names[] = { "f0 (w.py:1, thread 1)", "f1 (w.py:2, thread 1)", "", "reg", "f7 (C:x:7)", "" };
    spec sp = { 8, NULL, types, edges, 7, NULL, label, roots, kinds, 6, names };
    mt_snapshot *s = build(&sp, NULL);
    path_text_is(s, 2, 0, "frame f0 (w.py:1, thread 1) \xe2\x86\x92 local 'a'");
    path_text_is(s, 4, 3, "other reg['o']");
    path_text_is(s, 6, 3, "other reg['e']");
    path_text_is(s, 7, 4, "frame f7 (C:x:7)"); /* no separator: the whole name */
    mt_snapshot_free(s);
}
END_TEST

START_TEST(app_stack_skips_the_standard_library) {
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/usr/lib/python3.11/json/decoder.py")), 1);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/opt/py/lib64/python3.8/logging/__init__.py")), 1);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("<frozen importlib._bootstrap>")), 1);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("C:\\Python311\\Lib\\json\\decoder.py")), 1);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/usr/lib/python3/dist-packages/yaml/nodes.py")), 0);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/v/lib/python3.11/site-packages/requests/api.py")), 0);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/srv/lib/app.py")), 0);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/srv/lib/python")), 0);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("jobs.py")), 0);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/x/lib/pythonq/a.py")), 0);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/x/lib64/pythonq/a.py")), 0);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/x/lib64/python3")), 0); /* too short for a file under it */
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/x/Libs/a.py")), 0);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/x/Lib")), 0);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/x/Lib/a.py")), 1);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("<frozen")), 0);
    ck_assert_int_eq(mt_sites_is_stdlib(mt_str_c("/x/lib/python3.9/dist-packages/a.py")), 0);
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    /* Stack 1: json's decoder < json.loads < jobs.py:12; stack 4: only
     * the standard library; stack 5 loops in the standard library. */
    mt_frame f[] = { { 1, mt_str_c("raw_decode"), mt_str_c("/usr/lib/python3.11/json/decoder.py"), 353 },
                     { 2, mt_str_c("loads"), mt_str_c("/usr/lib/python3.11/json/__init__.py"), 346 },
                     { 3, mt_str_c("load_job"), mt_str_c("/srv/app/jobs.py"), 12 } };
    mt_stack st[] = { { 1, 1, 2 }, { 2, 2, 3 }, { 3, 3, 0 }, { 4, 1, 0 }, { 5, 2, 6 }, { 6, 1, 5 } };
    for (int i = 0; i < 3; i++) ck_assert_int_eq(mt_writer_add(w, MT_KIND_FRAME, &f[i]), 0);
    for (int i = 0; i < 6; i++) ck_assert_int_eq(mt_writer_add(w, MT_KIND_STACK, &st[i]), 0);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, NULL), 0);
    mt_sites *t;
    ck_assert_int_eq(mt_sites_load(s, &t, NULL), 0);
    ck_assert_uint_eq(mt_sites_app_stack(t, 1), 3);
    ck_assert_uint_eq(mt_sites_app_stack(t, 2), 3);
    ck_assert_uint_eq(mt_sites_app_stack(t, 3), 3);
    ck_assert_uint_eq(mt_sites_app_stack(t, 4), 4);
    ck_assert_uint_eq(mt_sites_app_stack(t, 5), 5);
    ck_assert_uint_eq(mt_sites_app_stack(t, 0), 0);
    ck_assert_uint_eq(mt_sites_app_stack(t, 99), 99);
    mt_sites_free(t);
    mt_snapshot_free(s);
    unlink(path);
    free(path);
}
END_TEST

/* The type name of a table row, for comparing with the hand-made answer. */
static int type_is(const mt_graph *g, uint32_t t, const char *name) {
    return g->type_names[t].len == strlen(name) && !memcmp(g->type_names[t].ptr, name, g->type_names[t].len);
}

START_TEST(report_is_worked_out_by_hand) {
    /* The diamond above, object 4 5 bytes heavier, with types and labels,
     * plus a cycle 8 <-> 9 that no root reaches. Reachable: 0 1 2 3 4 5
     * (215 bytes); unreachable: 6 7 (only held weakly) 8 9 (340 bytes).
     * Retained: 0 holds 1 2 3 (100), 5 alone (60), 4 is held by 3 and 5
     * (55), 3 (40). By type: module 0 and 5 (160, 70 B), str 4 (55),
     * dict 1 and 2 (50), list 3 (40); unreachable: list 8 9 (190 B),
     * str 7 (80), frame 6 (70). */
    static const uint32_t edges[][2] = { { 0, 1 }, { 0, 2 }, { 1, 3 }, { 2, 3 }, { 3, 4 },
                                         { 5, 4 }, { 6, 0 }, { 0, 7 }, { 8, 9 }, { 9, 8 } };
    static const uint8_t weak[] = { 0, 0, 0, 0, 0, 0, 0, 1, 0, 0 };
    static const char *const label[] = { "a", "b", "c", "d", "e", "big", "f", "w", "g", "h" };
    static const uint64_t size[] = { 10, 20, 30, 40, 55, 60, 70, 80, 90, 100 };
    static const char *const type[] = { "module", "dict", "dict", "list", "str",
                                        "module", "frame", "str", "list", "list" };
    static const uint32_t roots[] = { 0, 5 };
    spec sp = { 10, size, type, edges, 10, weak, label, roots, NULL, 2, NULL };
    mt_snapshot *s = build(&sp, NULL);
    const mt_graph *g = mt_snapshot_graph(s);
    mt_dominators d;
    ck_assert_int_eq(mt_dominators_compute(g, &d, NULL), 0);
    mt_graph_report r;
    ck_assert_int_eq(mt_graph_report_compute(s, &d, 3, &r, NULL), 0);
    ck_assert_uint_eq(r.objects, 10);
    ck_assert_uint_eq(r.object_bytes, 555);
    ck_assert_uint_eq(r.refs, 10);
    ck_assert_uint_eq(r.weak_refs, 1);
    ck_assert_uint_eq(r.roots, 2);

    ck_assert_uint_eq(r.n_retainers, 3);
    static const uint32_t want_top[] = { 0, 5, 4 };
    for (int k = 0; k < 3; k++) {
        ck_assert_uint_eq(r.retainers[k].obj, want_top[k]);
        ck_assert(r.retainers[k].has_path);
    }
    /* The roots are their own paths; 4 is one hop from root 5 and two
     * from root 0, so the shortest way is 5's "big" reference. */
    ck_assert_uint_eq(r.retainers[0].path.len, 1);
    ck_assert_uint_eq(r.retainers[0].path.root, 0);
    ck_assert_uint_eq(r.retainers[1].path.root, 1);
    ck_assert_uint_eq(r.retainers[2].path.len, 2);
    ck_assert_uint_eq(r.retainers[2].path.obj[0], 5);
    char *text = mt_path_format(s, &r.retainers[2].path);
    ck_assert_str_eq(text, "module m \xe2\x86\x92 big");
    free(text);

    static const char *const want_types[] = { "module", "str", "dict" };
    static const uint64_t want_count[] = { 2, 1, 2 }, want_bytes[] = { 70, 55, 50 }, want_ret[] = { 160, 55, 50 };
    ck_assert_uint_eq(r.n_types, 3); /* list (40) is cut by the top */
    for (int k = 0; k < 3; k++) {
        ck_assert(type_is(g, r.types[k].type, want_types[k]));
        ck_assert_uint_eq(r.types[k].count, want_count[k]);
        ck_assert_uint_eq(r.types[k].bytes, want_bytes[k]);
        ck_assert_uint_eq(r.types[k].retained, want_ret[k]);
    }
    static const char *const want_unr[] = { "list", "str", "frame" };
    static const uint64_t unr_count[] = { 2, 1, 1 }, unr_bytes[] = { 190, 80, 70 };
    ck_assert_uint_eq(r.n_unreachable, 3);
    for (int k = 0; k < 3; k++) {
        ck_assert(type_is(g, r.unreachable[k].type, want_unr[k]));
        ck_assert_uint_eq(r.unreachable[k].count, unr_count[k]);
        ck_assert_uint_eq(r.unreachable[k].bytes, unr_bytes[k]);
        ck_assert_uint_eq(r.unreachable[k].retained, 0);
    }

    ck_assert_uint_eq(r.cycles.n_cyclic, 1);
    ck_assert_uint_eq(r.cycles.cyclic_objects, 2);
    ck_assert_uint_eq(r.cycles.cyclic_bytes, 190);
    ck_assert_uint_eq(r.n_cycles, 1);
    ck_assert(type_is(g, r.cycle_types[0].most_common, "list"));
    ck_assert_uint_eq(r.cycle_types[0].n_types, 1);
    mt_graph_report_free(&r);
    mt_graph_report_free(&r); /* emptied: safe twice */

    /* A top of 0 shows no rows, and the counts still. */
    ck_assert_int_eq(mt_graph_report_compute(s, &d, 0, &r, NULL), 0);
    ck_assert_uint_eq(r.n_retainers + r.n_types + r.n_unreachable + r.n_cycles, 0);
    ck_assert_uint_eq(r.cycles.n_cyclic, 1);
    ck_assert_uint_eq(r.object_bytes, 555);
    mt_graph_report_free(&r);
    mt_dominators_free(&d);
    mt_snapshot_free(s);
}
END_TEST

/* ---- diffs ---- */

static const mt_diff_row *row(const mt_diff *d, const char *group) {
    for (size_t i = 0; i < d->n_rows; i++)
        if (!strcmp(d->rows[i].group, group)) return &d->rows[i];
    return NULL;
}

START_TEST(lookups_top_of_type_and_nearby_by_hand) {
    /* 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3, 3 -> 4, 4 -> 5, root 0. Dominators:
     * 1 2 3 under 0, 4 under 3, 5 under 4. Retained: 5 60, 4 110, 3 150,
     * 2 30, 1 20. The dicts 1 2 4 by retained: 4, 2, 1. */
    static const uint32_t edges[][2] = { { 0, 1 }, { 0, 2 }, { 1, 3 }, { 2, 3 }, { 3, 4 }, { 4, 5 } };
    static const uint64_t size[] = { 10, 20, 30, 40, 50, 60 };
    static const char *const type[] = { "module", "dict", "dict", "list", "dict", "str" };
    static const uint32_t roots[] = { 0 };
    spec sp = { 6, size, type, edges, 6, NULL, NULL, roots, NULL, 1, NULL };
    mt_snapshot *s = build(&sp, NULL);
    const mt_graph *g = mt_snapshot_graph(s);
    mt_dominators d;
    ck_assert_int_eq(mt_dominators_compute(g, &d, NULL), 0);

    uint32_t v = 99, t = 99;
    ck_assert_int_eq(mt_graph_find_id(g, 1003, &v), 0);
    ck_assert_uint_eq(v, 3);
    ck_assert_int_eq(mt_graph_find_id(g, 999, &v), MT_E_NOTFOUND);
    ck_assert_uint_eq(v, 3);
    ck_assert_int_eq(mt_graph_find_type(g, "dict", 4, &t), 0);
    ck_assert_uint_eq(g->type_names[t].len, 4);
    ck_assert_int_eq(memcmp(g->type_names[t].ptr, "dict", 4), 0);
    uint32_t t2;
    ck_assert_int_eq(mt_graph_find_type(g, "dic", 3, &t2), MT_E_NOTFOUND);
    ck_assert_int_eq(mt_graph_find_type(g, "nope", 4, &t2), MT_E_NOTFOUND);

    uint32_t top[5];
    ck_assert_uint_eq(mt_dominators_top_of_type(g, &d, t, 5, top), 3);
    ck_assert_uint_eq(top[0], 4);
    ck_assert_uint_eq(top[1], 2);
    ck_assert_uint_eq(top[2], 1);
    ck_assert_uint_eq(mt_dominators_top_of_type(g, &d, t, 2, top), 2);
    ck_assert_uint_eq(top[0], 4);
    ck_assert_uint_eq(top[1], 2);
    ck_assert_uint_eq(mt_dominators_top_of_type(g, &d, t, 0, top), 0);

    /* mt_graph_select: an id (decimal or 0x hexadecimal) before a type's
     * largest; neither is NOTFOUND, with the name in the message. */
    uint32_t n = 99;
    mt_diag dg;
    mt_diag_clear(&dg);
    ck_assert_int_eq(mt_graph_select(g, &d, "1003", 4, 5, top, &n, &dg), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(top[0], 3);
    ck_assert_int_eq(mt_graph_select(g, &d, "0x3eb", 5, 5, top, &n, &dg), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(top[0], 3);
    ck_assert_int_eq(mt_graph_select(g, &d, "dict", 4, 2, top, &n, &dg), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(top[0], 4);
    ck_assert_uint_eq(top[1], 2);
    ck_assert_int_eq(mt_graph_select(g, &d, "dictionary", 4, 5, top, &n, &dg), 0); /* len bounds the name */
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(mt_graph_select(g, &d, "999", 3, 5, top, &n, &dg), MT_E_NOTFOUND);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_nonnull(strstr(dg.msg, "'999'"));
    ck_assert_int_eq(mt_graph_select(g, &d, "+1003", 5, 5, top, &n, NULL), MT_E_NOTFOUND);

    /* Depth 2 from 0: 0; 1 2; 3 (reached from 1 first). 3 is at depth 2,
     * so its edge to 4 is not drawn; both edges into 3 are. */
    mt_graph_nearby nb;
    ck_assert_int_eq(mt_graph_nearby_compute(g, 0, 2, 500, &nb, NULL), 0);
    static const uint32_t want_obj[] = { 0, 1, 2, 3 }, want_level[] = { 0, 1, 1, 2 };
    static const uint32_t want_from[] = { 0, 0, 1, 2 }, want_to[] = { 1, 2, 3, 3 };
    ck_assert_uint_eq(nb.n, 4);
    ck_assert_int_eq(nb.cut, 0);
    for (int k = 0; k < 4; k++) {
        ck_assert_uint_eq(nb.obj[k], want_obj[k]);
        ck_assert_uint_eq(nb.level[k], want_level[k]);
    }
    ck_assert_uint_eq(nb.n_edges, 4);
    for (int k = 0; k < 4; k++) {
        ck_assert_uint_eq(nb.edge_from[k], want_from[k]);
        ck_assert_uint_eq(g->out_dst[nb.edge[k]] & MT_GRAPH_INDEX, want_to[k]);
    }
    mt_graph_nearby_free(&nb);
    /* At most 3 objects: 3 is left out, and so are the edges into it. */
    ck_assert_int_eq(mt_graph_nearby_compute(g, 0, 2, 3, &nb, NULL), 0);
    ck_assert_uint_eq(nb.n, 3);
    ck_assert_int_eq(nb.cut, 1);
    ck_assert_uint_eq(nb.n_edges, 2);
    ck_assert_uint_eq(g->out_dst[nb.edge[1]] & MT_GRAPH_INDEX, 2);
    mt_graph_nearby_free(&nb);
    /* No bound (0): the same four objects and four edges, nothing cut. */
    ck_assert_int_eq(mt_graph_nearby_compute(g, 0, 2, 0, &nb, NULL), 0);
    ck_assert_uint_eq(nb.n, 4);
    ck_assert_int_eq(nb.cut, 0);
    ck_assert_uint_eq(nb.n_edges, 4);
    mt_graph_nearby_free(&nb);
    /* Depth 0: the object alone. */
    ck_assert_int_eq(mt_graph_nearby_compute(g, 4, 0, 500, &nb, NULL), 0);
    ck_assert_uint_eq(nb.n, 1);
    ck_assert_uint_eq(nb.obj[0], 4);
    ck_assert_uint_eq(nb.n_edges, 0);
    mt_graph_nearby_free(&nb);
    mt_graph_nearby_free(&nb); /* safe on an empty one */
    ck_assert_int_eq(mt_graph_nearby_compute(g, 6, 2, 500, &nb, NULL), MT_E_RANGE);
    ck_assert_uint_eq(nb.n, 0);
    mt_dominators_free(&d);
    mt_snapshot_free(s);
}
END_TEST

START_TEST(diff_matches_objects_of_one_process) {
    /* A: ids 1000..1004; B: ids 1000..1006, where 1000 changed type (an
     * address reused) and 1001 grew. */
    static const char *const ta[] = { "app.User", "app.User", "int", "app.Cache", "int" };
    static const uint64_t sa[] = { 10, 20, 28, 100, 28 };
    static const char *const tb[] = { "int", "app.User", "int", "app.Cache", "int", "app.User", "app.User" };
    static const uint64_t sb[] = { 28, 25, 28, 100, 28, 10, 10 };
    spec a = { 5, sa, ta, NULL, 0, NULL, NULL, NULL, NULL, 0, NULL };
    spec b = { 7, sb, tb, NULL, 0, NULL, NULL, NULL, NULL, 0, NULL };
    mt_snapshot *A = build(&a, "7"), *B = build(&b, "7"), *C = build(&b, "8");
    mt_diff d;
    ck_assert_int_eq(mt_diff_compute(A, B, MT_BY_TYPE, &d, NULL), 0);
    ck_assert_int_eq(d.matched, 1);
    const mt_diff_row *u = row(&d, "app.User");
    ck_assert_ptr_nonnull(u);
    ck_assert_uint_eq(u->count_a, 2);
    ck_assert_uint_eq(u->bytes_a, 30);
    ck_assert_uint_eq(u->count_b, 3);
    ck_assert_uint_eq(u->bytes_b, 45);
    ck_assert_uint_eq(u->new_count, 2);      /* 1005, 1006 */
    ck_assert_uint_eq(u->new_bytes, 20);
    ck_assert_uint_eq(u->freed_count, 1);    /* 1000 became an int */
    ck_assert_uint_eq(u->freed_bytes, 10);
    ck_assert_uint_eq(u->kept_count, 1);     /* 1001, now 25 bytes */
    ck_assert_uint_eq(u->kept_bytes, 25);
    const mt_diff_row *i = row(&d, "int");
    ck_assert_uint_eq(i->new_count, 1);
    ck_assert_uint_eq(i->kept_count, 2);
    ck_assert_uint_eq(d.total.count_a, 5);
    ck_assert_uint_eq(d.total.count_b, 7);
    ck_assert_uint_eq(d.total.new_count, 3);
    ck_assert_uint_eq(d.total.freed_count, 1);
    mt_diff_sort(&d, MT_DIFF_BY_DELTA);
    ck_assert_str_eq(d.rows[0].group, "int");       /* +28 */
    ck_assert_str_eq(d.rows[1].group, "app.User");  /* +15 */
    ck_assert_str_eq(d.rows[2].group, "app.Cache"); /* 0 */
    mt_diff_sort(&d, MT_DIFF_BY_COUNT);
    ck_assert_str_eq(d.rows[0].group, "app.User");  /* 3, before int by name */
    mt_diff_free(&d);
    /* Another process: groups only. */
    ck_assert_int_eq(mt_diff_compute(A, C, MT_BY_MODULE, &d, NULL), 0);
    ck_assert_int_eq(d.matched, 0);
    ck_assert_uint_eq(row(&d, "app")->count_b, 4);
    ck_assert_uint_eq(row(&d, "builtins")->bytes_b, 84);
    ck_assert_uint_eq(row(&d, "app")->new_count, 0);
    mt_diff_free(&d);
    /* Nothing to group by columns: the message names the snapshot. */
    mt_diag diag;
    mt_diag_clear(&diag);
    ck_assert_int_eq(mt_diff_compute(A, B, MT_BY_COLUMN, &d, &diag), MT_E_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(diag.msg, "first snapshot holds no DataFrame columns"));
    mt_snapshot_free(A);
    mt_snapshot_free(B);
    mt_snapshot_free(C);
}
END_TEST

/* A process with one site that allocates 2 objects and frees them, and
 * another that reuses their ids (CPython reuses a freed address at once):
 * by site, those ids are new objects of the second site, not survivors.
 * Matching by id and type alone had called them surviving, giving the
 * second site 3 surviving of 1 in A. */
static mt_snapshot *sited(int second) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    mt_writer_meta_str(w, "host", "h");
    mt_writer_meta_uint(w, "pid", 7);
    mt_frame f1 = { 1, mt_str_c("old"), mt_str_c("a.py"), 1 }, f2 = { 2, mt_str_c("new"), mt_str_c("b.py"), 2 };
    mt_stack s1 = { 1, 1, 0 }, s2 = { 2, 2, 0 };
    mt_type ty = { 1, mt_str_c("dict") };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_FRAME, &f1), 0);
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_FRAME, &f2), 0);
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_STACK, &s1), 0);
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_STACK, &s2), 0);
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_TYPE, &ty), 0);
    /* A: ids 1, 2 from a.py:1; id 3 from b.py:2. B: ids 1, 2, 3 and 4 from
     * b.py:2 (1 and 2 reused, 3 kept, 4 new). */
    for (uint64_t id = 1; id <= (second ? 4u : 3u); id++) {
        mt_object o = { id, 1, 64, 0, second || id == 3 ? 2u : 1u, 0 };
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &o), 0);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, NULL), 0);
    unlink(path);
    free(path);
    return s;
}

START_TEST(diff_by_site_does_not_match_a_reused_id) {
    mt_snapshot *A = sited(0), *B = sited(1);
    mt_diff d;
    ck_assert_int_eq(mt_diff_compute(A, B, MT_BY_SITE, &d, NULL), 0);
    ck_assert_int_eq(d.matched, 1);
    const mt_diff_row *o = row(&d, "a.py:1"), *n = row(&d, "b.py:2");
    ck_assert_ptr_nonnull(o);
    ck_assert_ptr_nonnull(n);
    ck_assert_uint_eq(o->count_a, 2);
    ck_assert_uint_eq(o->count_b, 0);
    ck_assert_uint_eq(o->freed_count, 2);   /* 1 and 2 left a.py:1 */
    ck_assert_uint_eq(o->kept_count, 0);
    ck_assert_uint_eq(n->count_a, 1);
    ck_assert_uint_eq(n->count_b, 4);
    ck_assert_uint_eq(n->kept_count, 1);    /* 3 only: at most count A */
    ck_assert_uint_eq(n->new_count, 3);     /* 1, 2 (reused) and 4 */
    ck_assert_uint_eq(n->freed_count, 0);
    ck_assert_uint_eq(d.total.kept_count, 1);
    mt_diff_free(&d);
    /* By type the site does not matter: 1, 2 and 3 survive. */
    ck_assert_int_eq(mt_diff_compute(A, B, MT_BY_TYPE, &d, NULL), 0);
    ck_assert_uint_eq(row(&d, "dict")->kept_count, 3);
    ck_assert_uint_eq(row(&d, "dict")->new_count, 1);
    mt_diff_free(&d);
    mt_snapshot_free(A);
    mt_snapshot_free(B);
}
END_TEST

/* One object of size heap, and meta rss when rss >= 0 (as a float when
 * asked: the meta may hold any number type). */
static mt_snapshot *rss_snap(double rss, uint64_t heap, int as_float) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    if (rss >= 0 && as_float) mt_writer_meta_float(w, "rss", rss);
    else if (rss >= 0) mt_writer_meta_uint(w, "rss", (uint64_t)rss);
    mt_type ty = { 1, mt_str_c("bytes") };
    mt_object o = { 1, 1, heap, 0, 0, 0 };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_TYPE, &ty), 0);
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_OBJECT, &o), 0);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, NULL), 0);
    unlink(path);
    free(path);
    return s;
}

START_TEST(rss_growth_beyond_the_heap_is_native) {
    enum { MiB = 1 << 20 };
    mt_rss_heap r;
    /* rss +200 MiB, heap +19 MiB: 181 MiB unaccounted (the lxml case). */
    mt_snapshot *a = rss_snap(80.0 * MiB, 14 * MiB, 0), *b = rss_snap(280.0 * MiB, 33 * MiB, 1);
    mt_rss_heap_compare(a, b, &r);
    ck_assert_int_eq(r.has_rss, 1);
    ck_assert_uint_eq(r.rss_a, 80u * MiB);
    ck_assert_uint_eq(r.rss_b, 280u * MiB);
    ck_assert_uint_eq(r.heap_a, 14u * MiB);
    ck_assert_uint_eq(r.heap_b, 33u * MiB);
    ck_assert_int_eq(r.unaccounted, 181LL * MiB);
    ck_assert_int_eq(r.native, 1);
    ck_assert_uint_eq(mt_heap_bytes(b), 33u * MiB);
    mt_snapshot_free(b);
    /* rss +40 MiB for a heap +30 MiB: allocator slack, not native. */
    b = rss_snap(120.0 * MiB, 44 * MiB, 0);
    mt_rss_heap_compare(a, b, &r);
    ck_assert_int_eq(r.unaccounted, 10LL * MiB);
    ck_assert_int_eq(r.native, 0);
    mt_snapshot_free(b);
    /* rss +60 MiB, heap +20 MiB: 40 MiB over, rss grew 3x the heap. */
    b = rss_snap(140.0 * MiB, 34 * MiB, 0);
    mt_rss_heap_compare(a, b, &r);
    ck_assert_int_eq(r.unaccounted, 40LL * MiB);
    ck_assert_int_eq(r.native, 1);
    mt_snapshot_free(b);
    /* rss +100 MiB, heap +60 MiB: 40 MiB over, but under twice the heap's
     * growth, which pymalloc's arenas may cost: no note. */
    b = rss_snap(180.0 * MiB, 74 * MiB, 0);
    mt_rss_heap_compare(a, b, &r);
    ck_assert_int_eq(r.unaccounted, 40LL * MiB);
    ck_assert_int_eq(r.native, 0);
    mt_snapshot_free(b);
    /* rss fell while the heap shrank: negative, no note. */
    b = rss_snap(70.0 * MiB, 4 * MiB, 0);
    mt_rss_heap_compare(a, b, &r);
    ck_assert_int_eq(r.unaccounted, 0);
    ck_assert_int_eq(r.native, 0);
    mt_snapshot_free(b);
    /* No rss on one side (or 0: unknown): nothing compared. */
    b = rss_snap(-1, 4 * MiB, 0);
    mt_rss_heap_compare(a, b, &r);
    ck_assert_int_eq(r.has_rss, 0);
    ck_assert_int_eq(r.native, 0);
    ck_assert_uint_eq(r.heap_b, 4u * MiB);
    mt_snapshot_free(b);
    b = rss_snap(0, 4 * MiB, 0);
    mt_rss_heap_compare(b, a, &r);
    ck_assert_int_eq(r.has_rss, 0);
    mt_snapshot_free(b);
    mt_snapshot_free(a);
}
END_TEST

/* Allocation records by site: frames, stacks, live summaries and
 * alloc/free events that cancel. */
static mt_snapshot *allocs(int second) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    mt_frame f1 = { 1, mt_str_c("main"), mt_str_c("app.py"), 3 };
    mt_frame f2 = { 2, mt_str_c("load"), mt_str_c("io.py"), 10 };
    mt_stack s1 = { 1, 1, 0 }, s2 = { 2, 2, 1 }, s3 = { 3, 2, 9 }; /* s3's parent is unknown */
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_FRAME, &f1), 0);
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_FRAME, &f2), 0);
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_STACK, &s1), 0);
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_STACK, &s2), 0);
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_STACK, &s3), 0);
    mt_alloc live = { 0, MT_ALLOC_LIVE, 0, 1000, 2, 0, 0, second ? 7 : 4, 0, 0 };
    mt_alloc one = { 0, MT_ALLOC_LIVE, 0, 64, 1, 0, 0, 0, 0, 0 };
    mt_alloc a1 = { 1, MT_ALLOC_ALLOC, 0x10, 500, 3, 0, 0, 0, 0, 0 };
    mt_alloc a2 = { 2, MT_ALLOC_ALLOC, 0x20, 300, 3, 0, 0, 0, 0, 0 };
    mt_alloc f = { 3, MT_ALLOC_FREE, 0x10, 0, 0, 0, 0, 0, 0, 0 };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_ALLOC, &live), 0);
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_ALLOC, &one), 0);
    if (second) {
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_ALLOC, &a1), 0);
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_ALLOC, &a2), 0);
        ck_assert_int_eq(mt_writer_add(w, MT_KIND_ALLOC, &f), 0);
    }
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, NULL), 0);
    unlink(path);
    free(path);
    return s;
}

START_TEST(diff_by_site_and_traceback_from_allocations) {
    mt_snapshot *a = allocs(0), *b = allocs(1);
    mt_diff d;
    ck_assert_int_eq(mt_diff_compute(a, b, MT_BY_SITE, &d, NULL), 0);
    ck_assert_int_eq(d.matched, 0);
    /* Stacks 2 and 3 share their innermost frame: one site. */
    const mt_diff_row *io = row(&d, "io.py:10");
    ck_assert_ptr_nonnull(io);
    ck_assert_uint_eq(io->count_a, 4);
    ck_assert_uint_eq(io->bytes_a, 1000);
    ck_assert_uint_eq(io->count_b, 8);
    ck_assert_uint_eq(io->bytes_b, 1300);
    ck_assert_uint_eq(row(&d, "app.py:3")->count_b, 1);
    ck_assert_uint_eq(d.n_rows, 2);
    mt_diff_free(&d);
    ck_assert_int_eq(mt_diff_compute(a, b, MT_BY_TRACEBACK, &d, NULL), 0);
    ck_assert_ptr_nonnull(row(&d, "io.py:10 < app.py:3"));
    ck_assert_uint_eq(row(&d, "io.py:10 < <unknown>")->bytes_b, 300);
    mt_diff_free(&d);
    mt_diag diag;
    mt_diag_clear(&diag);
    ck_assert_int_eq(mt_diff_check(a, MT_BY_TYPE, &diag), MT_E_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(diag.msg, "try --by site"));
    mt_snapshot_free(a);
    mt_snapshot_free(b);
}
END_TEST

START_TEST(sites_format_cuts_loops_and_long_text) {
    char *path = tmp_path();
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, NULL), 0);
    mt_frame f = { 1, mt_str_c("f"), mt_str_c("loop.py"), 7 };
    mt_stack s1 = { 1, 1, 2 }, s2 = { 2, 1, 1 }; /* each the other's caller */
    mt_writer_add(w, MT_KIND_FRAME, &f);
    mt_writer_add(w, MT_KIND_STACK, &s1);
    mt_writer_add(w, MT_KIND_STACK, &s2);
    ck_assert_int_eq(mt_writer_close(w, NULL), 0);
    mt_snapshot *s;
    ck_assert_int_eq(mt_snapshot_load(path, 0, &s, NULL), 0);
    mt_sites *t;
    ck_assert_int_eq(mt_sites_load(s, &t, NULL), 0);
    char buf[256];
    size_t n = mt_sites_format(t, 1, 1, buf, sizeof buf);
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_str_eq(buf, "loop.py:7 < loop.py:7 < loop.py:7"); /* stops after one round */
    char small[8];
    ck_assert_uint_eq(mt_sites_format(t, 1, 0, small, sizeof small), 9);
    ck_assert_str_eq(small, "loop.py");
    ck_assert_uint_eq(mt_sites_format(t, 0, 0, buf, sizeof buf), 9);
    ck_assert_str_eq(buf, "<unknown>");
    mt_str file, fn;
    uint32_t line;
    ck_assert_int_eq(mt_sites_frame(t, 2, &file, &fn, &line), 1);
    ck_assert_uint_eq(line, 7);
    ck_assert_int_eq(mt_sites_frame(t, 5, &file, &fn, &line), 0);
    mt_sites_free(t);
    mt_snapshot_free(s);
    unlink(path);
    free(path);
}
END_TEST

/* Each value's name reads back to the value; a name not in the table
 * (another spelling, another case, empty) is refused and leaves *out
 * alone; one past the last value has no name. */
START_TEST(diff_keys_are_named_both_ways) {
    static const struct {
        mt_diff_key v;
        const char *name;
    } t[] = {
        { MT_DIFF_BY_DELTA, "delta" },
        { MT_DIFF_BY_BYTES, "bytes" },
        { MT_DIFF_BY_COUNT, "count" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        ck_assert_str_eq(mt_diff_key_name(t[i].v), t[i].name);
        mt_diff_key v = (mt_diff_key)99;
        ck_assert_int_eq(mt_diff_key_from_name(t[i].name, &v), 0);
        ck_assert_int_eq(v, t[i].v);
    }
    ck_assert_str_eq(mt_diff_key_name((mt_diff_key)(MT_DIFF_BY_COUNT + 1)), "?");
    const char *misses[] = { "size", "Delta", "" };
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        mt_diff_key v = MT_DIFF_BY_COUNT;
        ck_assert_int_eq(mt_diff_key_from_name(misses[i], &v), MT_E_INVAL);
        ck_assert_int_eq(v, MT_DIFF_BY_COUNT);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("graph");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, diamond_two_roots_weak_and_garbage);
    tcase_add_test(tc, diff_by_site_does_not_match_a_reused_id);
    tcase_add_test(tc, rss_growth_beyond_the_heap_is_native);
    tcase_add_test(tc, no_references_loaded_is_refused);
    tcase_add_test(tc, deep_chain_needs_no_recursion);
    tcase_add_test(tc, list_held_by_an_array_stays_linear);
    tcase_add_test(tc, type_retained_counts_nested_objects_once);
    tcase_add_test(tc, cycles_are_found_and_ranked);
    tcase_add_test(tc, paths_prefer_named_roots_and_follow_strong_references);
    tcase_add_test(tc, report_is_worked_out_by_hand);
    tcase_add_test(tc, lookups_top_of_type_and_nearby_by_hand);
    tcase_add_test(tc, diff_matches_objects_of_one_process);
    tcase_add_test(tc, diff_by_site_and_traceback_from_allocations);
    tcase_add_test(tc, sites_format_cuts_loops_and_long_text);
    tcase_add_test(tc, paths_prefer_long_lived_holders_over_frames);
    tcase_add_test(tc, path_through_a_traceback_names_frame_and_local);
    tcase_add_test(tc, frame_places_keep_the_files_last_component);
    tcase_add_test(tc, any_kind_but_frame_and_c_counts_as_long_lived);
    tcase_add_test(tc, a_frames_own_fields_are_not_read_as_locals);
    tcase_add_test(tc, app_stack_skips_the_standard_library);
    tcase_add_test(tc, diff_keys_are_named_both_ways);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
