/* The sampler's bounded store (formats/SPEC.md 4.3, "Thinning").
 *
 * Per series, in time order and never overlapping:
 *   coarse  buckets of at least MT__COARSE_MIN_NS, at most MT__COARSE_MAX
 *           of them: when one more is needed the width doubles and
 *           neighbours in the same wider slot merge;
 *   seconds 1-second buckets over the hour before the points;
 *   points  the last point_tier points as taken.
 * Points leave their tier a whole second at a time, and never the second
 * of the newest point, so that the second's bucket [s, s + 1 s) ends
 * where the points left begin (the tier then holds point_tier points, or
 * the newest second's when that is more); a bucket of the
 * coarse tier spans from its first member's start to its last member's
 * end, so it never reaches into the tier after it. Every merge keeps the
 * count, the weighted mean, the least and the greatest value. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct point {
    uint64_t t;
    double v;
    uint32_t step; /* index + 1 in the store's steps, 0 for none */
} point;

/* A ring of buckets (the 1-second tier). */
typedef struct ring {
    mt__bucket *b;
    size_t head, n, cap;
} ring;

typedef struct series {
    char *name;
    point *pts; /* a ring too: head ph, pn of pcap */
    size_t ph, pn, pcap;
    ring sec;
    mt__bucket *coarse;
    size_t cn, ccap;
    uint64_t width;
    double latest;
    uint64_t latest_ns;
    int has_latest;
} series;

struct mt__store {
    size_t point_tier;
    series *s;
    size_t ns, scap;
    char **steps;
    size_t nsteps, stepcap;
};

mt__store *mt__store_new(size_t point_tier) {
    mt__store *st = calloc(1, sizeof *st);
    if (st) st->point_tier = point_tier ? point_tier : 1;
    return st;
}

void mt__store_free(mt__store *st) {
    if (!st) return;
    for (size_t i = 0; i < st->ns; i++) {
        free(st->s[i].name);
        free(st->s[i].pts);
        free(st->s[i].sec.b);
        free(st->s[i].coarse);
    }
    for (size_t i = 0; i < st->nsteps; i++) free(st->steps[i]);
    free(st->steps);
    free(st->s);
    free(st);
}

static uint64_t end_of(const mt__bucket *b) {
    return b->time_ns + (b->span_ns ? b->span_ns : 1);
}

/* a absorbs b. */
static void merge(mt__bucket *a, const mt__bucket *b) {
    uint64_t start = a->time_ns < b->time_ns ? a->time_ns : b->time_ns;
    uint64_t ea = end_of(a), eb = end_of(b);
    uint64_t count = a->count + b->count;
    a->mean = (a->mean * (double)a->count + b->mean * (double)b->count) / (double)count;
    a->count = count;
    if (b->min < a->min) a->min = b->min;
    if (b->max > a->max) a->max = b->max;
    a->time_ns = start;
    a->span_ns = (ea > eb ? ea : eb) - start;
}

static mt__bucket *ring_at(const ring *r, size_t i) {
    return &r->b[(r->head + i) % r->cap];
}

static int ring_push(ring *r, const mt__bucket *b) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        mt__bucket *nb = malloc(cap * sizeof *nb);
        if (!nb) return MT_E_NOMEM;
        for (size_t i = 0; i < r->n; i++) nb[i] = *ring_at(r, i);
        free(r->b);
        r->b = nb;
        r->head = 0;
        r->cap = cap;
    }
    *ring_at(r, r->n++) = *b;
    return 0;
}

static point *pt_at(const series *s, size_t i) {
    return &s->pts[(s->ph + i) % s->pcap];
}

static int pts_grow(series *s) {
    size_t cap = s->pcap ? s->pcap * 2 : 64;
    point *np = malloc(cap * sizeof *np);
    if (!np) return MT_E_NOMEM;
    for (size_t i = 0; i < s->pn; i++) np[i] = *pt_at(s, i);
    free(s->pts);
    s->pts = np;
    s->ph = 0;
    s->pcap = cap;
    return 0;
}

/* Widens the coarse tier until it holds at most MT__COARSE_MAX buckets. */
static void coarse_widen(series *s) {
    while (s->cn > MT__COARSE_MAX) {
        s->width *= 2;
        size_t o = 0;
        for (size_t i = 0; i < s->cn; i++) {
            if (o && s->coarse[o - 1].time_ns / s->width == s->coarse[i].time_ns / s->width)
                merge(&s->coarse[o - 1], &s->coarse[i]);
            else
                s->coarse[o++] = s->coarse[i];
        }
        s->cn = o;
    }
}

static int coarse_add(series *s, const mt__bucket *b) {
    if (s->cn && s->coarse[s->cn - 1].time_ns / s->width == b->time_ns / s->width) {
        merge(&s->coarse[s->cn - 1], b);
        return 0;
    }
    if (s->cn == s->ccap) {
        size_t cap = s->ccap ? s->ccap * 2 : 64;
        mt__bucket *nc = realloc(s->coarse, cap * sizeof *nc);
        if (!nc) return MT_E_NOMEM;
        s->coarse = nc;
        s->ccap = cap;
    }
    s->coarse[s->cn++] = *b;
    coarse_widen(s);
    return 0;
}

/* Moves the oldest second of points into the 1-second tier, and what the
 * hour no longer covers into the coarse tier. */
static int evict(mt__store *st, series *s) {
    /* Never the second of the newest point: its bucket would end after
     * points still to come, which the file holds as points beside it. */
    while (s->pn > st->point_tier && pt_at(s, 0)->t / MT__SEC_NS != pt_at(s, s->pn - 1)->t / MT__SEC_NS) {
        uint64_t sec = pt_at(s, 0)->t / MT__SEC_NS;
        mt__bucket b = {sec * MT__SEC_NS, MT__SEC_NS, 0, 0, 0, 0};
        while (s->pn && pt_at(s, 0)->t / MT__SEC_NS == sec) {
            point *p = pt_at(s, 0);
            mt__bucket one = {p->t, 0, p->v, p->v, p->v, 1};
            if (b.count)
                merge(&b, &one);
            else
                b.mean = b.min = b.max = p->v, b.count = 1;
            s->ph = (s->ph + 1) % s->pcap;
            s->pn--;
        }
        b.time_ns = sec * MT__SEC_NS;
        b.span_ns = MT__SEC_NS;
        if (s->sec.n && ring_at(&s->sec, s->sec.n - 1)->time_ns == b.time_ns) {
            merge(ring_at(&s->sec, s->sec.n - 1), &b);
        } else {
            int rc = ring_push(&s->sec, &b);
            if (rc) return rc;
        }
    }
    if (!s->sec.n) return 0;
    uint64_t last_end = end_of(ring_at(&s->sec, s->sec.n - 1));
    uint64_t cutoff = last_end > MT__SEC_TIER_NS ? last_end - MT__SEC_TIER_NS : 0;
    while (s->sec.n && end_of(ring_at(&s->sec, 0)) <= cutoff) {
        int rc = coarse_add(s, ring_at(&s->sec, 0));
        if (rc) return rc;
        s->sec.head = (s->sec.head + 1) % s->sec.cap;
        s->sec.n--;
    }
    return 0;
}

static series *find(mt__store *st, const char *name) {
    for (size_t i = st->ns; i-- > 0;)
        if (strcmp(st->s[i].name, name) == 0) return &st->s[i];
    if (st->ns == st->scap) {
        size_t cap = st->scap ? st->scap * 2 : 16;
        series *ns = realloc(st->s, cap * sizeof *ns);
        if (!ns) return NULL;
        st->s = ns;
        st->scap = cap;
    }
    series *s = &st->s[st->ns];
    memset(s, 0, sizeof *s);
    s->width = MT__COARSE_MIN_NS;
    if (!(s->name = strdup(name))) return NULL;
    st->ns++;
    return s;
}

static int step_id(mt__store *st, const char *step, uint32_t *out) {
    *out = 0;
    if (!step || !*step) return 0;
    for (size_t i = st->nsteps; i-- > 0;)
        if (strcmp(st->steps[i], step) == 0) {
            *out = (uint32_t)(i + 1);
            return 0;
        }
    if (st->nsteps == st->stepcap) {
        size_t cap = st->stepcap ? st->stepcap * 2 : 16;
        char **ns = realloc(st->steps, cap * sizeof *ns);
        if (!ns) return MT_E_NOMEM;
        st->steps = ns;
        st->stepcap = cap;
    }
    if (!(st->steps[st->nsteps] = strdup(step))) return MT_E_NOMEM;
    *out = (uint32_t)++st->nsteps;
    return 0;
}

/* A point older than every point kept joins the bucket that covers its
 * time, or the nearest before it, stretched to cover it (the next bucket
 * starts after it, so none overlaps); before every bucket, the first. */
static void fold_late(series *s, uint64_t t, double v) {
    mt__bucket one = {t, 0, v, v, v, 1};
    mt__bucket *best = NULL;
    for (size_t i = 0; i < s->cn; i++)
        if (s->coarse[i].time_ns <= t) best = &s->coarse[i];
    for (size_t i = 0; i < s->sec.n; i++)
        if (ring_at(&s->sec, i)->time_ns <= t) best = ring_at(&s->sec, i);
    if (!best) best = s->cn ? &s->coarse[0] : ring_at(&s->sec, 0);
    merge(best, &one);
}

int mt__store_add(mt__store *st, const char *name, uint64_t t, double v, const char *step) {
    series *s = find(st, name);
    if (!s) return MT_E_NOMEM;
    uint32_t sid;
    int rc = step_id(st, step, &sid);
    if (rc) return rc;
    if (!s->has_latest || t >= s->latest_ns) {
        s->latest = v;
        s->latest_ns = t;
        s->has_latest = 1;
    }
    /* Where the points begin: the end of the last bucket. */
    uint64_t floor = 0;
    int buckets = s->sec.n || s->cn;
    if (s->sec.n)
        floor = end_of(ring_at(&s->sec, s->sec.n - 1));
    else if (s->cn)
        floor = end_of(&s->coarse[s->cn - 1]);
    if (buckets && t < floor) {
        fold_late(s, t, v);
        return 0;
    }
    if (s->pn == s->pcap && (rc = pts_grow(s))) return rc;
    /* In time order: a late point moves the later ones up by one. */
    size_t i = s->pn;
    while (i > 0 && pt_at(s, i - 1)->t > t) {
        *pt_at(s, i) = *pt_at(s, i - 1);
        i--;
    }
    *pt_at(s, i) = (point){t, v, sid};
    s->pn++;
    return evict(st, s);
}

int mt__store_each(const mt__store *st, mt__store_fn fn, void *ctx) {
    for (size_t k = 0; k < st->ns; k++) {
        const series *s = &st->s[k];
        int rc;
        for (size_t i = 0; i < s->cn; i++)
            if ((rc = fn(ctx, s->name, &s->coarse[i], NULL))) return rc;
        for (size_t i = 0; i < s->sec.n; i++)
            if ((rc = fn(ctx, s->name, ring_at(&s->sec, i), NULL))) return rc;
        for (size_t i = 0; i < s->pn; i++) {
            const point *p = pt_at(s, i);
            mt__bucket b = {p->t, 0, p->v, p->v, p->v, 1};
            if ((rc = fn(ctx, s->name, &b, p->step ? st->steps[p->step - 1] : NULL))) return rc;
        }
    }
    return 0;
}

size_t mt__store_series_count(const mt__store *st) {
    return st->ns;
}

const char *mt__store_series_name(const mt__store *st, size_t i) {
    return i < st->ns ? st->s[i].name : NULL;
}

void mt__store_series_counts(const mt__store *st, size_t i, mt__tier_counts *out) {
    memset(out, 0, sizeof *out);
    if (i >= st->ns) return;
    const series *s = &st->s[i];
    out->points = s->pn;
    out->seconds = s->sec.n;
    out->coarse = s->cn;
    out->coarse_width_ns = s->width;
    out->latest = s->latest;
    out->latest_ns = s->latest_ns;
}

int mt__store_latest(const mt__store *st, const char *name, double *out) {
    for (size_t i = 0; i < st->ns; i++)
        if (strcmp(st->s[i].name, name) == 0 && st->s[i].has_latest) {
            *out = st->s[i].latest;
            return 1;
        }
    return 0;
}
