/* mt_trace_cut and mt_trace_thin (traceedit.h) against traces written
 * here with the formats writer. The oracle is the test's own replay of
 * the events it wrote (live bytes per stack at a moment: the sum over
 * allocations minus the sum over frees, SPEC.md 4.3), hand-computed
 * figures for a small trace, and for thinning the Horvitz-Thompson
 * variance of the estimate over the full events (several seeds). */
#include <math.h>
#include <stdint.h>
#include "memtrace/analyze.h"
#include "../helpers.h"

#define SEC 1000000000ull
#define S(x) mt_str_c(x)

typedef struct tr {
    mt_alloc *a;
    size_t n, cap;
} tr;

static void tr_add(tr *t, mt_alloc a) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->a = realloc(t->a, t->cap * sizeof *t->a);
    }
    t->a[t->n++] = a;
}

static mt_alloc ev(double t_s, uint32_t op, uint64_t addr, uint64_t size, uint32_t stack, double born_s) {
    mt_alloc a;
    memset(&a, 0, sizeof a);
    a.time_ns = (uint64_t)llround(t_s * 1e9);
    a.op = op;
    a.address = addr;
    a.size = size;
    a.stack = stack;
    a.domain = MT_DOMAIN_PYTHON;
    a.born_ns = op == MT_ALLOC_FREE ? (uint64_t)llround(born_s * 1e9) : 0;
    return a;
}

static double w_of(const mt_alloc *a) { return a->weight > 0 ? a->weight : a->count ? (double)a->count : 1; }

/* The oracle: live bytes of stack after every record with time_ns <= t
 * (t_incl) or < t. */
static double live_at(const mt_alloc *a, size_t n, uint32_t stack, uint64_t t, int t_incl) {
    double b = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i].time_ns > t || (!t_incl && a[i].time_ns == t)) break;
        if (a[i].stack != stack) continue;
        if (a[i].op == MT_ALLOC_ALLOC) b += a[i].size * w_of(&a[i]);
        else if (a[i].op == MT_ALLOC_FREE) b -= a[i].size * w_of(&a[i]);
    }
    return b;
}

/* Writes a trace: frames 1..4, stacks 1 (main), 2 (alloc_a <- main),
 * 3 (alloc_b <- main), 4 (unused); checkpoints after the records whose
 * indices are listed (computed from the records themselves). */
static void write_trace(const char *path, const char *mode, const tr *t, const size_t *ck_after, size_t n_ck,
                        const uint64_t *ck_time) {
    mt_writer *w;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, &d), 0);
    mt_writer_meta_str(w, "tool", "test_traceedit");
    mt_writer_meta_uint(w, "start_time", 1764770400000000000ull);
    mt_writer_meta_str(w, "trace_mode", mode);
    if (!strcmp(mode, "sampled")) mt_writer_meta_uint(w, "sample_bytes", 4096);
    mt_frame f[4] = { { 1, S("alloc_a"), S("a.py"), 10 }, { 2, S("main"), S("a.py"), 1 },
                      { 3, S("alloc_b"), S("b.py"), 20 }, { 4, S("unused"), S("c.py"), 5 } };
    for (int i = 0; i < 4; i++) mt_writer_add(w, MT_KIND_FRAME, &f[i]);
    mt_stack st[4] = { { 1, 2, 0 }, { 2, 1, 1 }, { 3, 3, 1 }, { 4, 4, 0 } };
    for (int i = 0; i < 4; i++) mt_writer_add(w, MT_KIND_STACK, &st[i]);
    mt_writer_flush(w);
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) {
        mt_writer_add(w, MT_KIND_ALLOC, &t->a[i]);
        while (k < n_ck && ck_after[k] == i + 1) {
            mt_writer_flush(w);
            for (uint32_t s = 1; s <= 4; s++) {
                double b = live_at(t->a, i + 1, s, UINT64_MAX, 1);
                double c = 0;
                for (size_t j = 0; j <= i; j++)
                    if (t->a[j].stack == s) c += (t->a[j].op == MT_ALLOC_ALLOC ? 1 : -1) * w_of(&t->a[j]);
                if (c <= 0) continue;
                mt_trace_live l = { ck_time[k], s, b, c, i + 1 };
                mt_writer_add(w, MT_KIND_TRACE_LIVE, &l);
            }
            k++;
        }
    }
    mt_sample sm[3] = { { 1 * SEC, S("rss"), 1e6, S(""), 0, 0, 0, 0 },
                        { 3500000000ull, S("rss"), 2e6, S(""), 0, 0, 0, 0 },
                        { 6 * SEC, S("rss"), 3e6, S(""), 0, 0, 0, 0 } };
    for (int i = 0; i < 3; i++) mt_writer_add(w, MT_KIND_SAMPLE, &sm[i]);
    mt_event e[2] = { { 0, S("start"), S("app"), 0, S("") }, { 4 * SEC, S("step"), S("train"), 0, S("") } };
    for (int i = 0; i < 2; i++) mt_writer_add(w, MT_KIND_EVENT, &e[i]);
    ck_assert_int_eq(mt_writer_close(w, &d), 0);
}

/* What a rewritten file holds, read back through the loader. */
typedef struct back {
    mt_snapshot *s;
    tr allocs;
    mt_trace_live ck[256];
    size_t n_ck;
    uint32_t stacks[16], frames[16];
    size_t n_stacks, n_frames, n_samples, n_events;
} back;

static int on_alloc(void *arg, const void *rec) {
    tr_add(&((back *)arg)->allocs, *(const mt_alloc *)rec);
    return 0;
}
static int on_live(void *arg, const void *rec) {
    back *b = arg;
    ck_assert_uint_lt(b->n_ck, 256);
    b->ck[b->n_ck++] = *(const mt_trace_live *)rec;
    return 0;
}
static int on_stack(void *arg, const void *rec) {
    back *b = arg;
    b->stacks[b->n_stacks++] = ((const mt_stack *)rec)->id;
    return 0;
}
static int on_frame(void *arg, const void *rec) {
    back *b = arg;
    b->frames[b->n_frames++] = ((const mt_frame *)rec)->id;
    return 0;
}
static int on_sample(void *arg, const void *rec) {
    back *b = arg;
    ck_assert_uint_eq(((const mt_sample *)rec)->time_ns, 3500000000ull);
    b->n_samples++;
    return 0;
}
static int on_event(void *arg, const void *rec) {
    back *b = arg;
    ck_assert_uint_eq(((const mt_event *)rec)->time_ns, 4 * SEC);
    b->n_events++;
    return 0;
}

static void read_back(const char *path, back *b, int windowed) {
    memset(b, 0, sizeof *b);
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_load(path, 0, &b->s, &d), 0);
    ck_assert_int_eq(mt_snapshot_each(b->s, MT_KIND_ALLOC, on_alloc, b, &d), 0);
    ck_assert_int_eq(mt_snapshot_each(b->s, MT_KIND_TRACE_LIVE, on_live, b, &d), 0);
    if (b->n_stacks < 16) ck_assert_int_eq(mt_snapshot_each(b->s, MT_KIND_STACK, on_stack, b, &d), 0);
    ck_assert_int_eq(mt_snapshot_each(b->s, MT_KIND_FRAME, on_frame, b, &d), 0);
    if (windowed) {
        ck_assert_int_eq(mt_snapshot_each(b->s, MT_KIND_SAMPLE, on_sample, b, &d), 0);
        ck_assert_int_eq(mt_snapshot_each(b->s, MT_KIND_EVENT, on_event, b, &d), 0);
    }
    /* SPEC.md 4.3: allocs in nondecreasing time order. */
    for (size_t i = 1; i < b->allocs.n; i++) ck_assert_uint_le(b->allocs.a[i - 1].time_ns, b->allocs.a[i].time_ns);
}

static void back_free(back *b) {
    mt_snapshot_free(b->s);
    free(b->allocs.a);
}

static double meta_num(const mt_snapshot *s, const char *key) {
    double v = -1;
    ck_assert_msg(mt_snapshot_meta_number(s, key, &v), "meta %s missing", key);
    return v;
}

/* The small trace of the header comment of each test. */
static void small_trace(tr *t) {
    memset(t, 0, sizeof *t);
    tr_add(t, ev(0.5, 0, 0xa1, 100, 2, 0));
    tr_add(t, ev(1.0, 0, 0xa2, 100, 2, 0));
    tr_add(t, ev(1.5, 0, 0xb1, 1000, 3, 0));
    tr_add(t, ev(2.0, 1, 0xa1, 100, 2, 0.5));
    tr_add(t, ev(2.5, 0, 0xc1, 50, 4, 0));
    tr_add(t, ev(2.8, 1, 0xc1, 50, 4, 2.5));
    tr_add(t, ev(3.0, 0, 0xa3, 300, 2, 0)); /* the window [3 s, 5 s] starts */
    tr_add(t, ev(3.5, 1, 0xb1, 1000, 3, 1.5));
    tr_add(t, ev(4.0, 0, 0xb2, 2000, 3, 0));
    tr_add(t, ev(4.5, 1, 0xa2, 100, 2, 1.0));
    tr_add(t, ev(6.0, 0, 0xd1, 7, 4, 0));
}

/* Cut [3 s, 5 s] of the small trace, by hand: before the window A2 (100
 * B, stack 2) and B1 (1000 B, stack 3) are live; C1 of stack 4 was born
 * and freed before it, D of stack 4 comes after it: stack 4 and frame 4
 * are left out. The cut holds 2 carried records and the 4 of the window;
 * the checkpoint at 4.2 s (after 9 records of the trace) becomes one
 * after 5 records: stack 2 400 B (A2, A3), stack 3 2000 B (B2); the one
 * at the end (5 s, 6 records): stack 2 300 B, stack 3 2000 B. */
START_TEST(cut_small_by_hand) {
    tr t;
    small_trace(&t);
    size_t after[] = { 6, 9, 11 };
    uint64_t when[] = { 2900000000ull, 4200000000ull, 6 * SEC };
    char *in = tmp_path(), *out = tmp_path();
    write_trace(in, "all", &t, after, 3, when);
    mt_snapshot *s;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_load(in, 0, &s, &d), 0);
    mt_trace_edit_stats st;
    ck_assert_int_eq(mt_trace_cut(s, 3 * SEC, 5 * SEC, out, &st, &d), 0);
    ck_assert_uint_eq(st.carried, 2);
    ck_assert_uint_eq(st.allocs_out, 6);
    ck_assert_uint_eq(st.checkpoints, 2);
    back b;
    read_back(out, &b, 1);
    ck_assert_uint_eq(b.allocs.n, 6);
    /* The carried blocks: at 3 s, one record each, exact. */
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(b.allocs.a[i].time_ns, 3 * SEC);
        ck_assert_uint_eq(b.allocs.a[i].op, MT_ALLOC_ALLOC);
        ck_assert_uint_eq(b.allocs.a[i].count, 1);
        ck_assert(b.allocs.a[i].weight == 0);
    }
    ck_assert_uint_eq(b.allocs.a[0].stack + b.allocs.a[1].stack, 5);
    ck_assert_uint_eq(b.allocs.a[0].size + b.allocs.a[1].size, 1100);
    ck_assert_uint_eq(b.allocs.a[2].address, 0xa3);
    ck_assert_uint_eq(b.allocs.a[5].address, 0xa2);
    ck_assert_uint_eq(b.allocs.a[5].born_ns, 1 * SEC); /* the free keeps its block's birth */
    ck_assert(live_at(b.allocs.a, b.allocs.n, 2, 3 * SEC, 0) == 0); /* nothing before the window */
    ck_assert(live_at(b.allocs.a, b.allocs.n, 2, 3 * SEC, 1) == 400);
    ck_assert(live_at(b.allocs.a, b.allocs.n, 3, 3 * SEC, 1) == 1000);
    ck_assert(live_at(b.allocs.a, b.allocs.n, 2, 5 * SEC, 1) == 300);
    ck_assert(live_at(b.allocs.a, b.allocs.n, 3, 5 * SEC, 1) == 2000);
    ck_assert_uint_eq(b.n_ck, 4);
    for (size_t i = 0; i < b.n_ck; i++) {
        const mt_trace_live *l = &b.ck[i];
        int first = i < 2;
        ck_assert_uint_eq(l->time_ns, first ? 4200000000ull : 5 * SEC);
        ck_assert_uint_eq(l->upto, first ? 5 : 6);
        if (l->stack == 2) ck_assert(l->bytes == (first ? 400 : 300) && l->count == (first ? 2 : 1));
        else ck_assert(l->stack == 3 && l->bytes == 2000 && l->count == 1);
    }
    ck_assert_uint_eq(b.n_stacks, 3); /* 1, 2, 3: stack 4 is named by nothing kept */
    for (size_t i = 0; i < b.n_stacks; i++) ck_assert_uint_ne(b.stacks[i], 4);
    ck_assert_uint_eq(b.n_frames, 3);
    for (size_t i = 0; i < b.n_frames; i++) ck_assert_uint_ne(b.frames[i], 4);
    ck_assert_uint_eq(b.n_samples, 1);
    ck_assert_uint_eq(b.n_events, 1);
    ck_assert(meta_num(b.s, "cut_from_ns") == 3e9);
    ck_assert(meta_num(b.s, "cut_to_ns") == 5e9);
    ck_assert(meta_num(b.s, "start_time") == 1764770400000000000.0);
    back_free(&b);
    mt_snapshot_free(s);
    unlink(in);
    unlink(out);
    free(in);
    free(out);
    free(t.a);
}
END_TEST

/* A random trace: n blocks over 10 s on stacks 1..4, of sizes from a
 * few classes, each freed later or never; weights when sampled. */
static void random_trace(tr *t, unsigned seed, int n, int sampled) {
    memset(t, 0, sizeof *t);
    srand(seed);
    typedef struct blk {
        uint64_t born, death, addr, size;
        uint32_t stack;
        double w;
    } blk;
    blk *b = calloc((size_t)n, sizeof *b);
    static const uint64_t sizes[] = { 16, 48, 256, 4096, 70000, 1 << 20 };
    for (int i = 0; i < n; i++) {
        b[i].born = (uint64_t)i * (10 * SEC / (uint64_t)n);
        b[i].death = rand() % 4 ? b[i].born + (uint64_t)(rand() % 3000) * 1000000ull + 1 : UINT64_MAX;
        b[i].addr = 0x10000 + (uint64_t)(i % 97) * 64; /* addresses reused, as malloc does */
        b[i].size = sizes[rand() % 6];
        b[i].stack = 1 + (uint32_t)(rand() % 4);
        b[i].w = sampled ? 1.0 / -expm1(-(double)b[i].size / 4096.0) : 0;
    }
    /* Merge the births and deaths in time order: births are in order, a
     * pending list of deaths is scanned each step (n is small). */
    int *pending = calloc((size_t)n, sizeof *pending);
    size_t np = 0;
    for (int i = 0; i <= n; i++) {
        uint64_t now = i < n ? b[i].born : UINT64_MAX - 1;
        for (;;) {
            size_t best = np;
            for (size_t k = 0; k < np; k++)
                if (b[pending[k]].death <= now && (best == np || b[pending[k]].death < b[pending[best]].death)) best = k;
            if (best == np) break;
            blk *x = &b[pending[best]];
            if (x->death < 10 * SEC + 3 * SEC) {
                mt_alloc f = ev(0, 1, x->addr, x->size, x->stack, 0);
                f.time_ns = x->death;
                f.born_ns = x->born;
                f.weight = x->w;
                tr_add(t, f);
            }
            pending[best] = pending[--np];
        }
        if (i == n) break;
        mt_alloc a = ev(0, 0, b[i].addr, b[i].size, b[i].stack, 0);
        a.time_ns = b[i].born;
        a.weight = b[i].w;
        tr_add(t, a);
        if (b[i].death != UINT64_MAX) pending[np++] = i;
    }
    free(pending);
    free(b);
}

static void check_cut_matches_replay(int sampled) {
    tr t;
    random_trace(&t, 7 + (unsigned)sampled, 3000, sampled);
    /* Checkpoints every 2 s of the trace, at the first record after it. */
    size_t after[8];
    uint64_t when[8];
    size_t n_ck = 0;
    for (size_t i = 0; i < t.n && n_ck < 8; i++)
        if (t.a[i].time_ns >= (n_ck + 1) * 2 * SEC) {
            after[n_ck] = i;
            when[n_ck] = t.a[i - 1].time_ns;
            n_ck++;
        }
    char *in = tmp_path(), *out = tmp_path();
    write_trace(in, sampled ? "sampled" : "all", &t, after, n_ck, when);
    mt_snapshot *s;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_load(in, 0, &s, &d), 0);
    uint64_t from = 3 * SEC + 123, to = 7 * SEC + 5;
    ck_assert_int_eq(mt_trace_cut(s, from, to, out, NULL, &d), 0);
    back b;
    read_back(out, &b, 0);
    double tol = sampled ? 1e-6 : 0;
    uint64_t times[] = { from, from + SEC / 3, 5 * SEC, 6 * SEC + 777777, to };
    for (uint32_t st = 1; st <= 4; st++)
        for (size_t k = 0; k < 5; k++) {
            double want = live_at(t.a, t.n, st, times[k], 1);
            double got = live_at(b.allocs.a, b.allocs.n, st, times[k], 1);
            ck_assert_msg(fabs(want - got) <= tol * fabs(want) + tol, "stack %u at %llu ns: %g, expected %g", st,
                          (unsigned long long)times[k], got, want);
        }
    /* Every record of the window is kept as it was. */
    size_t in_window = 0;
    for (size_t i = 0; i < t.n; i++) in_window += t.a[i].time_ns >= from && t.a[i].time_ns <= to;
    size_t carried = 0;
    while (carried < b.allocs.n && b.allocs.a[carried].address == 0) carried++;
    ck_assert_uint_eq(b.allocs.n - carried, in_window);
    /* Checkpoints agree with a replay of the cut. */
    ck_assert_uint_gt(b.n_ck, 0);
    for (size_t i = 0; i < b.n_ck; i++) {
        const mt_trace_live *l = &b.ck[i];
        double want = live_at(b.allocs.a, l->upto, l->stack, UINT64_MAX, 1);
        ck_assert_msg(fabs(want - l->bytes) <= 1e-6 * fabs(want) + 1e-6, "checkpoint %zu: %g, replay %g", i, l->bytes,
                      want);
        ck_assert_uint_ge(l->time_ns, from);
        ck_assert_uint_le(l->time_ns, to);
    }
    back_free(&b);
    mt_snapshot_free(s);
    unlink(in);
    unlink(out);
    free(in);
    free(out);
    free(t.a);
}

START_TEST(cut_full_matches_replay) { check_cut_matches_replay(0); }
END_TEST

START_TEST(cut_sampled_matches_replay) { check_cut_matches_replay(1); }
END_TEST

/* Thinning: every kept free has its kept allocation, every kept
 * allocation of a freed block its free; the estimates of allocated and
 * live-at-end bytes per stack are within 4 standard deviations of the
 * full figures, the variance being sum size^2 (1 - p) / p over the
 * blocks (Horvitz-Thompson), for 6 seeds. */
START_TEST(thin_within_poisson_bounds) {
    tr t;
    random_trace(&t, 11, 6000, 0);
    char *in = tmp_path(), *out = tmp_path();
    write_trace(in, "all", &t, NULL, 0, NULL);
    mt_snapshot *s;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_load(in, 0, &s, &d), 0);
    const double S_ = 65536;
    double alloc_true[5] = { 0 }, alloc_var[5] = { 0 }, live_true[5] = { 0 }, live_var[5] = { 0 };
    for (size_t i = 0; i < t.n; i++) {
        const mt_alloc *a = &t.a[i];
        double p = -expm1(-(double)a->size / S_), v = (double)a->size * a->size * (1 - p) / p;
        double sign = a->op == MT_ALLOC_ALLOC ? 1 : -1;
        if (a->op == MT_ALLOC_ALLOC) {
            alloc_true[a->stack] += a->size;
            alloc_var[a->stack] += v;
        }
        live_true[a->stack] += sign * a->size;
        live_var[a->stack] += sign * v; /* a freed block leaves the live sum and its variance */
    }
    int differ = 0;
    uint64_t first_kept = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        mt_trace_edit_stats st;
        ck_assert_int_eq(mt_trace_thin(s, (uint64_t)S_, seed, out, &st, &d), 0);
        back b;
        read_back(out, &b, 0);
        if (seed == 1) first_kept = b.allocs.n;
        else differ |= b.allocs.n != first_kept;
        const mt_value *mode = mt_snapshot_meta_get(b.s, "trace_mode");
        ck_assert(mode && mode->type == MT_VAL_STR && mode->v.s.len == 7 && !memcmp(mode->v.s.ptr, "sampled", 7));
        ck_assert(meta_num(b.s, "sample_bytes") == S_);
        double alloc_est[5] = { 0 }, live_est[5] = { 0 };
        for (size_t i = 0; i < b.allocs.n; i++) {
            const mt_alloc *a = &b.allocs.a[i];
            double p = -expm1(-(double)a->size / S_);
            ck_assert_msg(fabs(a->weight - 1 / p) < 1e-9 * a->weight, "weight %g, expected %g", a->weight, 1 / p);
            if (a->op == MT_ALLOC_ALLOC) alloc_est[a->stack] += a->size * a->weight;
            live_est[a->stack] += (a->op == MT_ALLOC_ALLOC ? 1.0 : -1.0) * (double)a->size * a->weight;
            if (a->op == MT_ALLOC_FREE) {
                /* Its allocation was kept: same address, at born_ns. */
                int found = 0;
                for (size_t j = 0; j < i && !found; j++)
                    found = b.allocs.a[j].op == MT_ALLOC_ALLOC && b.allocs.a[j].address == a->address &&
                            b.allocs.a[j].time_ns == a->born_ns;
                ck_assert_msg(found, "free at %llu ns of a block not kept", (unsigned long long)a->time_ns);
            }
        }
        /* A kept allocation whose block the full trace frees has its free. */
        size_t kept_frees = 0, want_frees = 0;
        for (size_t i = 0; i < b.allocs.n; i++) kept_frees += b.allocs.a[i].op == MT_ALLOC_FREE;
        for (size_t i = 0; i < b.allocs.n; i++) {
            const mt_alloc *a = &b.allocs.a[i];
            if (a->op != MT_ALLOC_ALLOC) continue;
            for (size_t j = 0; j < t.n; j++)
                if (t.a[j].op == MT_ALLOC_FREE && t.a[j].address == a->address && t.a[j].born_ns == a->time_ns) {
                    want_frees++;
                    break;
                }
        }
        ck_assert_uint_eq(kept_frees, want_frees);
        for (int k = 1; k <= 4; k++) {
            ck_assert_msg(fabs(alloc_est[k] - alloc_true[k]) <= 4 * sqrt(alloc_var[k]),
                          "seed %llu stack %d allocated: estimate %g, true %g, sd %g", (unsigned long long)seed, k,
                          alloc_est[k], alloc_true[k], sqrt(alloc_var[k]));
            ck_assert_msg(fabs(live_est[k] - live_true[k]) <= 4 * sqrt(live_var[k]) + 1e-6,
                          "seed %llu stack %d live: estimate %g, true %g, sd %g", (unsigned long long)seed, k,
                          live_est[k], live_true[k], sqrt(live_var[k]));
        }
        /* The end checkpoint is the replay of what was kept. */
        ck_assert_uint_gt(b.n_ck, 0);
        for (size_t i = 0; i < b.n_ck; i++) {
            ck_assert_uint_eq(b.ck[i].upto, b.allocs.n);
            ck_assert(fabs(b.ck[i].bytes - live_est[b.ck[i].stack]) <= 1e-6 * fabs(live_est[b.ck[i].stack]) + 1e-6);
        }
        back_free(&b);
    }
    ck_assert_msg(differ, "six seeds kept the same number of records");
    mt_snapshot_free(s);
    unlink(in);
    unlink(out);
    free(in);
    free(out);
    free(t.a);
}
END_TEST

START_TEST(refuses_what_it_cannot_rewrite) {
    tr t;
    small_trace(&t);
    char *in = tmp_path(), *out = tmp_path(), *cut = tmp_path();
    write_trace(in, "sampled", &t, NULL, 0, NULL);
    mt_snapshot *s;
    mt_diag d;
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_snapshot_load(in, 0, &s, &d), 0);
    ck_assert_int_eq(mt_trace_thin(s, 4096, 1, out, NULL, &d), MT_E_INVAL);
    ck_assert_ptr_nonnull(strstr(d.msg, "not a full trace"));
    ck_assert_int_eq(mt_trace_cut(s, 5, 4, out, NULL, &d), MT_E_INVAL);
    mt_snapshot_free(s);
    write_trace(in, "all", &t, NULL, 0, NULL);
    ck_assert_int_eq(mt_snapshot_load(in, 0, &s, &d), 0);
    ck_assert_int_eq(mt_trace_cut(s, SEC, UINT64_MAX, cut, NULL, &d), 0);
    mt_snapshot_free(s);
    ck_assert_int_eq(mt_snapshot_load(cut, 0, &s, &d), 0);
    ck_assert(meta_num(s, "cut_to_ns") == 6e9); /* no end given: the last record's time */
    mt_diag_clear(&d);
    ck_assert_int_eq(mt_trace_thin(s, 4096, 1, out, NULL, &d), MT_E_INVAL);
    ck_assert_ptr_nonnull(strstr(d.msg, "cut"));
    mt_snapshot_free(s);
    /* A record of 2^40 blocks is refused, not drawn block by block. */
    tr big;
    memset(&big, 0, sizeof big);
    mt_alloc huge = ev(1.0, 0, 0x10, 64, 2, 0);
    huge.count = 1ull << 40;
    tr_add(&big, huge);
    write_trace(in, "all", &big, NULL, 0, NULL);
    ck_assert_int_eq(mt_snapshot_load(in, 0, &s, &d), 0);
    ck_assert_int_eq(mt_trace_thin(s, 4096, 1, out, NULL, &d), MT_E_LIMIT);
    ck_assert_int_eq(mt_trace_cut(s, 2 * SEC, 3 * SEC, out, NULL, &d), MT_E_LIMIT);
    mt_snapshot_free(s);
    free(big.a);
    /* A heap snapshot is not a trace. */
    mt_writer *w;
    ck_assert_int_eq(mt_writer_open(in, NULL, &w, &d), 0);
    mt_writer_meta_str(w, "tool", "x");
    ck_assert_int_eq(mt_writer_close(w, &d), 0);
    ck_assert_int_eq(mt_snapshot_load(in, 0, &s, &d), 0);
    ck_assert_int_eq(mt_trace_cut(s, 0, SEC, out, NULL, &d), MT_E_INVAL);
    ck_assert_ptr_nonnull(strstr(d.msg, "not an allocation trace"));
    mt_snapshot_free(s);
    unlink(in);
    unlink(out);
    unlink(cut);
    free(in);
    free(out);
    free(cut);
    free(t.a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("traceedit");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cut_small_by_hand);
    tcase_add_test(tc, cut_full_matches_replay);
    tcase_add_test(tc, cut_sampled_matches_replay);
    tcase_add_test(tc, thin_within_poisson_bounds);
    tcase_add_test(tc, refuses_what_it_cannot_rewrite);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
