/* The sampler's internals, shared by its files and its tests. */
#ifndef MT_SAMPLER_INTERNAL_H
#define MT_SAMPLER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "sampler.h"

/* Reads a whole small file (/proc, /sys) under root into buf, NUL
 * terminated. @return bytes read, or -1 with errno set. */
long mt__read_small(const char *root, const char *path, char *buf, size_t n);
/* root + path into out (n bytes). @return 0, or MT_E_RANGE when it does
 * not fit. */
int mt__root_path(char *out, size_t n, const char *root, const char *path);
/* The number after "key" at the start of a line of text ("VmRSS:  12 kB"),
 * times 1024 when the line says kB. @return 1 when found, else 0. */
int mt__field_kb(const char *text, const char *key, uint64_t *out);

/* A time and a value. */
typedef struct mt__tv {
    uint64_t t;
    double v;
} mt__tv;
/* The least-squares slope of v over t, per second (t in ns): the growth
 * alert's measure. 0 under two points or with all at one time. Points in
 * time order (the first is the origin). */
double mt__slope_per_s(const mt__tv *p, size_t n);

/* ------------------------------------------------------------------ */
/* The bounded store (thin.c): per series a point tier, a tier of
 * 1-second buckets covering the hour before it, and a coarse tier of at
 * most MT__COARSE_MAX buckets of at least MT__COARSE_MIN_NS, widened by
 * merging pairs. Not thread safe: the sampler's mutex guards it. */

#define MT__SEC_NS 1000000000ull
#define MT__SEC_TIER_NS (3600ull * MT__SEC_NS)
#define MT__COARSE_MIN_NS (60ull * MT__SEC_NS)
#define MT__COARSE_MAX 4096

/* A point (span 0, count 1, min = max = value) or a bucket of the points
 * in [time_ns, time_ns + span_ns). */
typedef struct mt__bucket {
    uint64_t time_ns, span_ns;
    double mean, min, max;
    uint64_t count;
} mt__bucket;

typedef struct mt__store mt__store;

/* point_tier: points kept unthinned per series (at least 1). NULL when
 * memory ran out. */
mt__store *mt__store_new(size_t point_tier);
void mt__store_free(mt__store *st);
/* Adds a point; step may be NULL. Points of one series may come out of
 * order: one older than what the store keeps as points joins the bucket
 * that covers its time. @return 0 or MT_E_NOMEM. */
int mt__store_add(mt__store *st, const char *series, uint64_t time_ns, double value, const char *step);

/* Calls fn for every point and bucket of every series, each series in
 * time order (coarse, then 1-second, then points); step is NULL for a
 * bucket and for a point without one. A nonzero return of fn stops the
 * walk and is returned. */
typedef int (*mt__store_fn)(void *ctx, const char *series, const mt__bucket *b, const char *step);
int mt__store_each(const mt__store *st, mt__store_fn fn, void *ctx);

/* What one series holds, for tests and the latest-values call. */
typedef struct mt__tier_counts {
    size_t points, seconds, coarse;
    uint64_t coarse_width_ns;
    double latest;
    uint64_t latest_ns;
} mt__tier_counts;
size_t mt__store_series_count(const mt__store *st);
const char *mt__store_series_name(const mt__store *st, size_t i);
void mt__store_series_counts(const mt__store *st, size_t i, mt__tier_counts *out);
/* The newest value of the series name. @return 1 when it has one, else 0. */
int mt__store_latest(const mt__store *st, const char *name, double *out);

#endif
