/* The sampler's bounded store on synthetic clocks: every point and bucket
 * checked against a brute-force recomputation over the points fed in
 * (count, least, greatest exact; mean to rounding), tiers in time order
 * and never overlapping, the coarse tier bounded. */
#include <math.h>
#include "internal.h"
#include "../helpers.h"

typedef struct orig {
    uint64_t t;
    double v;
} orig;

static int by_time(const void *a, const void *b) {
    const orig *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

typedef struct check {
    const char *series;
    const orig *o;
    size_t n;
    uint64_t seen, prev_end, points, buckets;
    int started;
    const char *last_step;
} check;

/* First index with t >= at. */
static size_t lower(const orig *o, size_t n, uint64_t at) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (o[mid].t < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int visit(void *ctx, const char *series, const mt__bucket *b, const char *step) {
    check *c = ctx;
    if (strcmp(series, c->series) != 0) return 0;
    uint64_t end = b->time_ns + (b->span_ns ? b->span_ns : 1);
    if (c->started) ck_assert_msg(b->time_ns >= c->prev_end, "%s: overlap at %llu", series, (unsigned long long)b->time_ns);
    c->started = 1;
    c->prev_end = end;
    size_t i = lower(c->o, c->n, b->time_ns), j = lower(c->o, c->n, end);
    ck_assert_uint_eq(j - i, b->count);
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    for (size_t k = i; k < j; k++) {
        mn = fmin(mn, c->o[k].v);
        mx = fmax(mx, c->o[k].v);
        sum += c->o[k].v;
    }
    ck_assert(b->min == mn);
    ck_assert(b->max == mx);
    ck_assert_msg(fabs(b->mean - sum / (double)(j - i)) <= 1e-9 * fabs(sum / (double)(j - i)) + 1e-12, "mean %g vs %g",
                  b->mean, sum / (double)(j - i));
    if (b->span_ns) {
        c->buckets++;
        ck_assert_ptr_null(step);
    } else {
        c->points++;
        ck_assert_uint_eq(b->count, 1);
        c->last_step = step;
    }
    c->seen += b->count;
    return 0;
}

static uint64_t rng = 88172645463325252ull;
static double next_value(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng % 1000000) * 4096.0;
}

static void run_check(mt__store *st, const char *series, orig *o, size_t n, check *c) {
    qsort(o, n, sizeof *o, by_time);
    memset(c, 0, sizeof *c);
    c->series = series;
    c->o = o;
    c->n = n;
    ck_assert_int_eq(mt__store_each(st, visit, c), 0);
    ck_assert_uint_eq(c->seen, n);
}

static size_t series_index(const mt__store *st, const char *name) {
    for (size_t i = 0; i < mt__store_series_count(st); i++)
        if (strcmp(mt__store_series_name(st, i), name) == 0) return i;
    ck_abort_msg("no series %s", name);
    return 0;
}

/* Three hours at 100 ms, two series: 10 min of points, the hour before in
 * seconds, the rest in minutes. */
START_TEST(three_hours_at_100ms) {
    const size_t n = 3 * 3600 * 10, tier = 6000;
    mt__store *st = mt__store_new(tier);
    orig *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    uint64_t t0 = 123456789; /* not on a second */
    for (size_t i = 0; i < n; i++) {
        uint64_t t = t0 + (uint64_t)i * 100000000ull;
        a[i] = (orig){t, next_value()};
        b[i] = (orig){t + 7, (double)i};
        ck_assert_int_eq(mt__store_add(st, "rss", a[i].t, a[i].v, i >= n - 10 ? "train" : NULL), 0);
        ck_assert_int_eq(mt__store_add(st, "pss", b[i].t, b[i].v, NULL), 0);
    }
    check c;
    run_check(st, "rss", a, n, &c);
    ck_assert_str_eq(c.last_step, "train");
    mt__tier_counts k;
    mt__store_series_counts(st, series_index(st, "rss"), &k);
    ck_assert_uint_le(k.points, tier);
    ck_assert_uint_ge(k.points, tier - 10); /* a whole second leaves at a time */
    ck_assert_uint_le(k.seconds, 3600);
    ck_assert_uint_ge(k.seconds, 3599);
    ck_assert_uint_le(k.coarse, MT__COARSE_MAX);
    ck_assert_uint_eq(k.coarse_width_ns, MT__COARSE_MIN_NS);
    /* 3 h - 10 min - 1 h of minutes, give or take the edges. */
    ck_assert_uint_ge(k.coarse, 109);
    ck_assert_uint_le(k.coarse, 112);
    ck_assert(k.latest == a[n - 1].v);
    run_check(st, "pss", b, n, &c);
    ck_assert_uint_eq(c.points + c.buckets, k.points + k.seconds + k.coarse);
    mt__store_free(st);
    free(a);
    free(b);
}
END_TEST

/* 200 hours at 10 s: 12000 minutes, over 4096, so the coarse tier widens. */
START_TEST(the_coarse_tier_widens_and_stays_bounded) {
    const size_t n = 200 * 360, tier = 100;
    mt__store *st = mt__store_new(tier);
    orig *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) {
        a[i] = (orig){(uint64_t)i * 10000000000ull, next_value()};
        ck_assert_int_eq(mt__store_add(st, "rss", a[i].t, a[i].v, NULL), 0);
        if (i % 5000 == 0) {
            mt__tier_counts k;
            mt__store_series_counts(st, 0, &k);
            ck_assert_uint_le(k.coarse, MT__COARSE_MAX);
        }
    }
    check c;
    run_check(st, "rss", a, n, &c);
    mt__tier_counts k;
    mt__store_series_counts(st, 0, &k);
    ck_assert_uint_le(k.coarse, MT__COARSE_MAX);
    ck_assert_uint_ge(k.coarse, MT__COARSE_MAX / 2);
    ck_assert_uint_eq(k.coarse_width_ns, 4 * MT__COARSE_MIN_NS);
    ck_assert_uint_eq(k.points, tier);
    mt__store_free(st);
    free(a);
}
END_TEST

/* Points that come late: neighbours swapped, and a few far older than
 * what the store keeps as points. */
START_TEST(late_points_join_the_bucket_of_their_time) {
    const size_t n = 20000, tier = 500;
    mt__store *st = mt__store_new(tier);
    orig *a = malloc((n + 3) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = (orig){1000000000ull + (uint64_t)i * 250000000ull, next_value()};
    for (size_t i = 0; i + 1 < n; i += 7) {
        orig x = a[i];
        a[i] = a[i + 1];
        a[i + 1] = x;
    }
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(mt__store_add(st, "rss", a[i].t, a[i].v, NULL), 0);
        if (i == n / 2) {
            /* Inside the seconds, before every bucket, and in the points. */
            a[n] = (orig){a[i].t - 400ull * MT__SEC_NS + 3, 1.0};
            a[n + 1] = (orig){5, -7.0};
            a[n + 2] = (orig){a[i].t - 2, 1e12};
            for (size_t k = n; k < n + 3; k++) ck_assert_int_eq(mt__store_add(st, "rss", a[k].t, a[k].v, NULL), 0);
        }
    }
    check c;
    run_check(st, "rss", a, n + 3, &c);
    mt__store_free(st);
    free(a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sampler-thin");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, three_hours_at_100ms);
    tcase_add_test(tc, the_coarse_tier_widens_and_stays_bounded);
    tcase_add_test(tc, late_points_join_the_bucket_of_their_time);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
