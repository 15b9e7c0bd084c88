/* Generations and leak suspects across a series of snapshots (leaks.h).
 *
 * Each snapshot is loaded in turn and reduced to per-type series and, for
 * every object, its birth generation; only the last is kept, for the
 * dominator tree that names where leaked objects accumulate. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/nametable.h"
#include "memtrace/units.h"
#include "memtrace/diff.h"
#include "memtrace/leaks.h"
#include "memtrace/u64map.h"
#include "common/array.h"
#include "common/names.h"

#define NONE 0xffffffffu

/* ---- the verdicts' names ---- */

static const char *const verdict_names[] = { "none", "suspect", "plateau", "one-time", "noise" };

const char *mt_leak_verdict_name(mt_leak_verdict v) { return mt__name_of(verdict_names, MT__NAMES_N(verdict_names), (unsigned)v); }

int mt_leak_verdict_from_name(const char *name, mt_leak_verdict *out) {
    int i = mt__name_find(verdict_names, MT__NAMES_N(verdict_names), name);
    if (i < 0) return MT_E_INVAL;
    *out = (mt_leak_verdict)i;
    return 0;
}

/* ---- generations ---- */

struct mt_generations {
    mt_u64map prev;   /* key -> birth, for the snapshot before */
    uint32_t k;       /* snapshots taken so far */
};

int mt_generations_new(mt_generations **out) {
    *out = calloc(1, sizeof **out);
    return *out ? 0 : MT_E_NOMEM;
}

void mt_generations_free(mt_generations *g) {
    if (!g) return;
    mt_u64map_free(&g->prev);
    free(g);
}

int mt_generations_next(mt_generations *g, const uint64_t *keys, uint32_t n, uint32_t *birth) {
    mt_u64map cur = MT_U64MAP_INIT;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t b;
        if (!mt_u64map_get(&cur, keys[i], &b) && !mt_u64map_get(&g->prev, keys[i], &b)) b = g->k;
        birth[i] = b;
        if (mt_u64map_put(&cur, keys[i], b)) {
            mt_u64map_free(&cur);
            return MT_E_NOMEM;
        }
    }
    mt_u64map_free(&g->prev);
    g->prev = cur;
    g->k++;
    return 0;
}

/* Types whose objects change size while they live: their size cannot
 * tell a reused address from the same object. */
static int variable_size(mt_str t) {
    static const char *const names[] = { "list", "dict", "set", "bytearray", "collections.deque",
                                         "collections.OrderedDict", "collections.defaultdict",
                                         "collections.Counter", "array.array", "io.BytesIO", "io.StringIO",
                                         "<lost>" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (t.len == strlen(names[i]) && !memcmp(t.ptr, names[i], t.len)) return 1;
    return 0;
}

uint64_t mt_identity_key(uint64_t id, mt_str type, uint64_t size) {
    if (variable_size(type)) size = 0;
    uint64_t k = id ^ (mt__fnv1a(type.ptr, type.len) * 0x9e3779b97f4a7c15ull) ^ (size * 0xc2b2ae3d27d4eb4full);
    k ^= k >> 31;
    k *= 0xbf58476d1ce4e5b9ull;
    return k ^ (k >> 29);
}

/* Object i's identity key in g: its size left out when the object says
 * its size may change while it lives (MT_OBJ_SIZE_VARIES). */
static uint64_t key_at(const mt_graph *g, uint32_t i) {
    return mt_identity_key(g->id[i], g->type_names[g->type[i]], (g->flags[i] & MT_OBJ_SIZE_VARIES) ? 0 : g->size[i]);
}

/* ---- the analysis ---- */

typedef struct impl {
    mt__names types;     /* one name per group */
    size_t cap_groups;
    uint32_t *acc;       /* [objects of the last snapshot]: accumulation point, NONE */
} impl;

static void suspect_free(mt_leak_suspect *sp) {
    free(sp->groups);
    free(sp->gen_objects);
    free(sp->gen_bytes);
    free(sp->retained);
    free(sp->also);
}

/* Keeps the suspects not marked in drop, in order. */
static void compact(mt_leaks *L, const uint8_t *drop) {
    size_t kept = 0;
    for (size_t si = 0; si < L->n_suspects; si++) {
        if (drop[si]) suspect_free(&L->suspects[si]);
        else
            L->suspects[kept++] = L->suspects[si];
    }
    L->n_suspects = kept;
}

void mt_leaks_free(mt_leaks *L) {
    for (size_t i = 0; i < L->n_groups; i++) {
        free(L->groups[i].count);
        free(L->groups[i].bytes);
        free(L->groups[i].survivors);
    }
    for (size_t i = 0; i < L->n_suspects; i++) suspect_free(&L->suspects[i]);
    free(L->groups);
    free(L->heap_bytes);
    free(L->rss);
    free(L->suspects);
    free(L->growing);
    free(L->birth);
    mt_dominators_free(&L->dom);
    impl *im = L->impl;
    if (im) {
        mt__names_free(&im->types);
        free(im->acc);
        free(im);
    }
    memset(L, 0, sizeof *L);
}

static int64_t group_of(mt_leaks *L, mt_str name) {
    impl *im = L->impl;
    if (mt__grow((void **)&L->groups, &im->cap_groups, L->n_groups, sizeof(mt_leak_group))) return -1;
    int64_t gi = mt__names_index(&im->types, name.ptr, name.len);
    if (gi < 0 || (size_t)gi < L->n_groups) return gi;
    mt_leak_group *gr = &L->groups[gi];
    memset(gr, 0, sizeof *gr);
    gr->point = NONE;
    gr->count = calloc(L->n_snapshots, 8);
    gr->bytes = calloc(L->n_snapshots, 8);
    gr->survivors = calloc(L->n_snapshots, 8);
    L->n_groups++; /* counted at once, so that mt_leaks_free() frees its series */
    return gr->count && gr->bytes && gr->survivors ? gi : -1;
}

/* Series and births of snapshot k; *keep_birth receives the births when
 * it is the last. */
static int take(mt_leaks *L, mt_generations *gen, const mt_snapshot *s, size_t k, uint32_t **births) {
    const mt_graph *g = mt_snapshot_graph(s);
    uint32_t n = g->n_objects;
    uint64_t *keys = malloc((n ? n : 1) * 8);
    uint32_t *birth = malloc((n ? n : 1) * 4), *tg = malloc((g->n_types ? g->n_types : 1) * 4);
    int rc = MT_E_NOMEM;
    if (!keys || !birth || !tg) goto out;
    for (uint32_t t = 0; t < g->n_types; t++) {
        int64_t gi = group_of(L, g->type_names[t]);
        if (gi < 0) goto out;
        tg[t] = (uint32_t)gi;
    }
    /* Lost placeholders get keys of their own that match nothing. */
    for (uint32_t i = 0; i < n; i++)
        keys[i] = (g->flags[i] & MT_OBJ_LOST) ? ~(uint64_t)i ^ ((uint64_t)k << 40)
                                               : key_at(g, i);
    if (mt_generations_next(gen, keys, n, birth)) goto out;
    double rss;
    if (mt_snapshot_meta_number(s, "rss", &rss) && rss > 0 && rss < 1.8e19) L->rss[k] = (uint64_t)rss;
    for (uint32_t i = 0; i < n; i++) {
        if (g->flags[i] & MT_OBJ_LOST) continue;
        L->heap_bytes[k] += g->size[i];
        mt_leak_group *gr = &L->groups[tg[g->type[i]]];
        gr->count[k]++;
        gr->bytes[k] += g->size[i];
        if (k + 1 == L->n_snapshots) gr->survivors[birth[i]]++;
    }
    if (births) {
        *births = birth;
        birth = NULL;
    }
    rc = 0;
out:
    free(keys);
    free(birth);
    free(tg);
    return rc;
}

static double theil_sen_u64(const uint64_t *v, size_t n) {
    double y[256] = { 0 };
    size_t m = n < 256 ? n : 256;
    for (size_t i = 0; i < m; i++) y[i] = (double)v[n - m + i];
    return mt_theil_sen(y, m);
}

static void judge(mt_leak_group *gr, size_t n, const mt_leaks_opts *o) {
    double y[256] = { 0 };
    size_t m = n < 256 ? n : 256;
    for (size_t i = 0; i < m; i++) y[i] = (double)gr->count[n - m + i];
    mt_mann_kendall_test(y, m, &gr->mk);
    gr->count_slope = theil_sen_u64(gr->count, n);
    gr->bytes_slope = theil_sen_u64(gr->bytes, n);
    gr->late_from = n / 2 < n - 2 ? n / 2 : n - 2;
    gr->late_slope = theil_sen_u64(gr->count + gr->late_from, n - gr->late_from);
    for (size_t k = 0; k < n; k++) {
        if (gr->survivors[k]) gr->surviving_generations++;
        if (k && gr->survivors[k]) gr->leaving_generations++;
    }
    int64_t gain = (int64_t)(gr->count[n - 1] - gr->count[0]);
    int64_t gain_bytes = (int64_t)(gr->bytes[n - 1] - gr->bytes[0]);
    if (gain <= 0 || gain_bytes < (int64_t)o->min_growth) return;
    int64_t max_step = 0;
    for (size_t k = 1; k < n; k++) {
        int64_t st = (int64_t)(gr->count[k] - gr->count[k - 1]);
        if (st > max_step) {
            max_step = st;
            gr->jump_at = k;
        }
    }
    if (max_step * 5 >= gain * 4 && gr->leaving_generations <= 1) gr->verdict = MT_LEAK_ONE_TIME;
    else if (gr->late_slope <= 0) gr->verdict = MT_LEAK_PLATEAU;
    else if (gr->count_slope > 0 && 2 * gr->leaving_generations >= n - 1) {
        gr->verdict = MT_LEAK_SUSPECT;
        gr->confidence = (1 - gr->mk.p) * (double)gr->leaving_generations / (double)(n - 1);
        if (gr->mk.p > o->alpha) gr->confidence *= 0.5;
    } else
        gr->verdict = MT_LEAK_NOISE;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t median_u64(const uint64_t *v, size_t n) {
    if (!n) return 0;
    uint64_t *c = malloc(n * 8);
    if (!c) return 0;
    memcpy(c, v, n * 8);
    qsort(c, n, 8, cmp_u64);
    uint64_t m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return m;
}

/* Bytes and confidence together: a large growth at confidence 0.5 ranks
 * below one of half its size at 1.00. */
static int cmp_suspect(const void *a, const void *b) {
    const mt_leak_suspect *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->bytes_per_snapshot != y->bytes_per_snapshot) return x->bytes_per_snapshot > y->bytes_per_snapshot ? -1 : 1;
    return (x->point > y->point) - (x->point < y->point);
}

typedef struct growth {
    double slope;
    size_t group;
} growth;

static int cmp_growth(const void *a, const void *b) {
    const growth *x = a, *y = b;
    if (x->slope != y->slope) return x->slope > y->slope ? -1 : 1;
    return (x->group > y->group) - (x->group < y->group);
}

/* L->growing: the groups that grew without being suspects, most bytes per
 * snapshot first, as a report lists them. */
static int rank_growing(mt_leaks *L) {
    growth *tmp = malloc((L->n_groups + 1) * sizeof *tmp);
    if (!tmp || !(L->growing = malloc((L->n_groups + 1) * sizeof *L->growing))) {
        free(tmp);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < L->n_groups; i++)
        if (L->groups[i].verdict >= MT_LEAK_PLATEAU) tmp[n++] = (growth){ L->groups[i].bytes_slope, i };
    qsort(tmp, n, sizeof *tmp, cmp_growth);
    for (size_t k = 0; k < n; k++) L->growing[k] = tmp[k].group;
    L->n_growing = n;
    free(tmp);
    return 0;
}

/* Accumulation points in the last snapshot: for each object born after
 * the first snapshot, the nearest dominator born in it. One pass in DFS
 * preorder, where a dominator always comes first. */
static int find_points(mt_leaks *L, const mt_snapshot *s) {
    const mt_graph *g = mt_snapshot_graph(s);
    mt_dominators *d = &L->dom;
    size_t n = L->n_snapshots;
    impl *im = L->impl;
    uint32_t *acc = im->acc = malloc((g->n_objects ? g->n_objects : 1) * 4),
             *tg = malloc((g->n_types ? g->n_types : 1) * 4);
    uint64_t *type_gen = NULL;       /* [suspects][generations]: the representative group's own */
    mt_u64map slot = MT_U64MAP_INIT; /* point -> suspect */
    uint64_t *direct = NULL;         /* [suspects][groups]: retained right under the point */
    uint8_t *member = NULL;          /* [suspects][groups]: suspect groups accumulating there */
    uint8_t *drop = NULL;            /* [suspects]: not a leak after all */
    int rc = MT_E_NOMEM;
    if (!acc || !tg) goto out;
    for (uint32_t t = 0; t < g->n_types; t++) tg[t] = (uint32_t)group_of(L, g->type_names[t]);
    for (uint32_t i = 0; i < g->n_objects; i++) acc[i] = NONE;
    for (uint32_t k = 0; k < d->n_reachable; k++) {
        uint32_t v = d->order[k], p = d->idom[v];
        if (p == MT_DOM_ROOT) continue;
        acc[v] = L->birth[p] == 0 ? p : acc[p];
    }
    /* One suspect per point that suspect groups' new objects reach. */
    size_t cap = 0;
    for (uint32_t v = 0; v < g->n_objects; v++) {
        if (!L->birth[v] || acc[v] == NONE || (g->flags[v] & MT_OBJ_LOST)) continue;
        if (L->groups[tg[g->type[v]]].verdict != MT_LEAK_SUSPECT) continue;
        uint32_t si;
        if (!mt_u64map_get(&slot, acc[v], &si)) {
            if (mt__grow((void **)&L->suspects, &cap, L->n_suspects, sizeof(mt_leak_suspect))) goto out;
            mt_leak_suspect *sp = &L->suspects[L->n_suspects];
            memset(sp, 0, sizeof *sp);
            sp->point = acc[v];
            sp->gen_objects = calloc(n, 8);
            sp->gen_bytes = calloc(n, 8);
            if (!sp->gen_objects || !sp->gen_bytes || mt_u64map_put(&slot, acc[v], (uint32_t)L->n_suspects)) {
                free(sp->gen_objects);
                free(sp->gen_bytes);
                goto out;
            }
            si = (uint32_t)L->n_suspects++;
        }
        L->suspects[si].gen_objects[L->birth[v]]++;
        L->suspects[si].gen_bytes[L->birth[v]] += g->size[v];
    }
    size_t ng = L->n_groups, ns = L->n_suspects;
    if (!(direct = calloc((ns ? ns : 1) * (ng ? ng : 1), 8)) || !(member = calloc((ns ? ns : 1) * (ng ? ng : 1), 1)) ||
        !(drop = calloc(ns ? ns : 1, 1)))
        goto out;
    for (uint32_t v = 0; v < g->n_objects; v++) {
        uint32_t si;
        if (!L->birth[v] || acc[v] == NONE || !mt_u64map_get(&slot, acc[v], &si)) continue;
        size_t gi = tg[g->type[v]];
        /* What sits right under the point, suspect or not, retaining the
         * most: the leaked records themselves, not their keys. */
        if (d->idom[v] == acc[v]) direct[(size_t)si * ng + gi] += 1 + d->retained[v];
        mt_leak_group *gr = &L->groups[gi];
        if (gr->verdict != MT_LEAK_SUSPECT) continue;
        member[(size_t)si * ng + gi] = 1;
        gr->point_objects++;
        if (gr->point == NONE) gr->point = acc[v];
        if (g->stack && g->stack[v] && !gr->site) gr->site = g->stack[v];
    }
    for (size_t si = 0; si < ns; si++) {
        mt_leak_suspect *sp = &L->suspects[si];
        size_t best = 0, gcap = 0; /* sp->groups starts empty */
        for (size_t gi = 0; gi < ng; gi++) {
            if (direct[si * ng + gi] > direct[si * ng + best]) best = gi;
            if (!member[si * ng + gi]) continue;
            if (mt__grow((void **)&sp->groups, &gcap, sp->n_groups, sizeof(size_t))) goto out;
            sp->groups[sp->n_groups++] = gi;
        }
        sp->group = best;
        sp->p = L->groups[best].mk.p;
        sp->confidence = L->groups[best].confidence;
    }
    if (!(type_gen = calloc((ns ? ns : 1) * n, 8))) goto out;
    for (uint32_t v = 0; v < g->n_objects; v++) {
        uint32_t si;
        if (!L->birth[v] || acc[v] == NONE || !mt_u64map_get(&slot, acc[v], &si)) continue;
        if (tg[g->type[v]] == L->suspects[si].group) type_gen[(size_t)si * n + L->birth[v]]++;
    }
    for (size_t si = 0; si < ns; si++) {
        mt_leak_suspect *sp = &L->suspects[si];
        size_t best = sp->group;
        /* A leak keeps what every generation left; a cache that evicts its
         * oldest entries does not hold the first later generation's. */
        size_t leaving = 0;
        for (size_t k = 1; k < n; k++) leaving += sp->gen_objects[k] > 0;
        /* And what fills the point must be a suspect itself: a cache
         * whose entries plateau is not a leak because some of the objects
         * its entries hold share a type with a leak's. */
        sp->objects_per_snapshot = median_u64(sp->gen_objects + 1, n - 1);
        sp->bytes_per_snapshot = median_u64(sp->gen_bytes + 1, n - 1);
        sp->type_objects_per_snapshot = median_u64(type_gen + si * n + 1, n - 1);
        drop[si] = !sp->gen_objects[1] || 3 * leaving < 2 * (n - 1) || L->groups[best].verdict != MT_LEAK_SUSPECT;
    }
    compact(L, drop);
    ns = L->n_suspects;
    /* Suspect groups whose objects hang from the roots themselves. */
    for (size_t gi = 0; gi < ng; gi++) {
        mt_leak_group *gr = &L->groups[gi];
        if (gr->verdict != MT_LEAK_SUSPECT || gr->point_objects) continue;
        if (mt__grow((void **)&L->suspects, &cap, L->n_suspects, sizeof(mt_leak_suspect))) goto out;
        mt_leak_suspect *sp = &L->suspects[L->n_suspects];
        memset(sp, 0, sizeof *sp);
        sp->point = NONE;
        sp->group = gi;
        if (!(sp->groups = malloc(sizeof(size_t)))) goto out;
        sp->groups[sp->n_groups++] = gi;
        L->n_suspects++;
        sp->objects_per_snapshot = gr->count_slope > 0 ? (uint64_t)gr->count_slope : 0;
        sp->type_objects_per_snapshot = sp->objects_per_snapshot;
        sp->bytes_per_snapshot = gr->bytes_slope > 0 ? (uint64_t)gr->bytes_slope : 0;
        sp->p = gr->mk.p;
        sp->confidence = gr->confidence;
    }
    rc = 0;
out:
    free(type_gen);
    free(tg);
    free(direct);
    free(member);
    free(drop);
    mt_u64map_free(&slot);
    return rc;
}

/* The suspects' points' retained bytes in every snapshot: the last from
 * L->dom, the earlier ones loaded again with their references. A point is
 * born in the first snapshot, so it is in each, found by its identity. */
static int point_series(mt_leaks *L, const char *const *paths, unsigned load_flags, const mt_snapshot *last,
                        mt_diag *diag) {
    const mt_graph *lg = mt_snapshot_graph(last);
    size_t n = L->n_snapshots, ns = L->n_suspects;
    mt_u64map want = MT_U64MAP_INIT; /* identity key -> suspect */
    int rc = MT_E_NOMEM, any = 0;
    for (size_t si = 0; si < ns; si++) {
        mt_leak_suspect *sp = &L->suspects[si];
        uint32_t p = sp->point;
        if (p == NONE) continue;
        if (!(sp->retained = calloc(n, 8))) goto out;
        sp->retained[n - 1] = L->dom.retained[p];
        if (mt_u64map_put(&want, key_at(lg, p), (uint32_t)si))
            goto out;
        any = 1;
    }
    for (size_t k = 0; any && k + 1 < n; k++) {
        mt_snapshot *s;
        const char *file = diag ? diag->file : NULL;
        if (diag) diag->file = paths[k];
        if ((rc = mt_snapshot_load(paths[k], (load_flags & MT_LOAD_SALVAGE) | MT_LOAD_REFS, &s, diag))) goto out;
        if (diag) diag->file = file;
        const mt_graph *g = mt_snapshot_graph(s);
        mt_dominators d;
        if ((rc = mt_dominators_compute(g, &d, diag))) {
            mt_snapshot_free(s);
            goto out;
        }
        for (uint32_t i = 0; i < g->n_objects; i++) {
            uint32_t si;
            if (g->flags[i] & MT_OBJ_LOST) continue;
            if (mt_u64map_get(&want, key_at(g, i), &si))
                L->suspects[si].retained[k] = d.retained[i];
        }
        mt_dominators_free(&d);
        mt_snapshot_free(s);
    }
    rc = 0;
out:
    mt_u64map_free(&want);
    return rc;
}

/* Drops the points whose retained bytes do not grow steadily: over the
 * later half they do not grow, or they rose in fewer than two thirds of
 * the steps. A cache that stays full keeps its size but for a step when
 * its table resizes. (The floor is applied after causes are merged, so
 * that a small part of a large cause is named with it.) */
static int drop_flat(mt_leaks *L) {
    size_t n = L->n_snapshots, ns = L->n_suspects;
    uint8_t *drop = calloc(ns ? ns : 1, 1);
    if (!drop) return -1;
    for (size_t si = 0; si < ns; si++) {
        mt_leak_suspect *sp = &L->suspects[si];
        if (!sp->retained) continue;
        size_t from = n / 2 < n - 2 ? n / 2 : n - 2;
        double late = theil_sen_u64(sp->retained + from, n - from);
        sp->retained_slope = theil_sen_u64(sp->retained, n);
        size_t rises = 0;
        for (size_t k = 1; k < n; k++) rises += sp->retained[k] > sp->retained[k - 1];
        drop[si] = late <= 0 || 3 * rises < 2 * (n - 1);
    }
    compact(L, drop);
    free(drop);
    return 0;
}

static size_t uf_find(size_t *parent, size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
}

/* One cause, one suspect: points whose new objects refer to each other's
 * new objects (weak references included: logging's handler list holds
 * weak references to the handlers its loggers hold) are merged into the
 * one with the higher score. */
static int merge_causes(mt_leaks *L, const mt_snapshot *last) {
    const mt_graph *g = mt_snapshot_graph(last);
    impl *im = L->impl;
    size_t n = L->n_snapshots, ns = L->n_suspects;
    if (ns < 2 || !g->out_off) return 0;
    mt_u64map slot = MT_U64MAP_INIT;
    size_t *parent = malloc(ns * sizeof *parent);
    uint8_t *drop = calloc(ns, 1);
    int rc = -1;
    if (!parent || !drop) goto out;
    for (size_t si = 0; si < ns; si++) {
        parent[si] = si;
        if (L->suspects[si].point != NONE && mt_u64map_put(&slot, L->suspects[si].point, (uint32_t)si)) goto out;
    }
    for (uint32_t v = 0; v < g->n_objects; v++) {
        uint32_t a, b;
        if (!L->birth[v] || im->acc[v] == NONE || !mt_u64map_get(&slot, im->acc[v], &a)) continue;
        for (uint32_t e = g->out_off[v]; e < g->out_off[v + 1]; e++) {
            uint32_t w = g->out_dst[e] & MT_GRAPH_INDEX;
            if (!L->birth[w] || im->acc[w] == NONE || im->acc[w] == im->acc[v] || !mt_u64map_get(&slot, im->acc[w], &b))
                continue;
            size_t ra = uf_find(parent, a), rb = uf_find(parent, b);
            if (ra == rb) continue;
            /* The root of a set is its highest score, so it stays the name. */
            if (cmp_suspect(&L->suspects[rb], &L->suspects[ra]) < 0) parent[ra] = rb;
            else
                parent[rb] = ra;
        }
    }
    for (size_t si = 0; si < ns; si++) {
        size_t r = uf_find(parent, si);
        if (r == si) continue;
        mt_leak_suspect *to = &L->suspects[r], *from = &L->suspects[si];
        uint32_t *also = realloc(to->also, (to->n_also + 1 + from->n_also) * sizeof *also);
        size_t *groups = realloc(to->groups, (to->n_groups + from->n_groups) * sizeof *groups);
        if (also) to->also = also;
        if (groups) to->groups = groups;
        if (!also || !groups) goto out;
        to->also[to->n_also++] = from->point;
        for (size_t j = 0; j < from->n_groups; j++) {
            size_t k = 0;
            while (k < to->n_groups && to->groups[k] != from->groups[j]) k++;
            if (k == to->n_groups) to->groups[to->n_groups++] = from->groups[j];
        }
        for (size_t k = 0; k < n; k++) {
            to->gen_objects[k] += from->gen_objects[k];
            to->gen_bytes[k] += from->gen_bytes[k];
            if (to->retained && from->retained) to->retained[k] += from->retained[k];
        }
        to->objects_per_snapshot = median_u64(to->gen_objects + 1, n - 1);
        to->bytes_per_snapshot = median_u64(to->gen_bytes + 1, n - 1);
        if (to->retained) to->retained_slope = theil_sen_u64(to->retained, n);
        drop[si] = 1;
    }
    compact(L, drop);
    rc = 0;
out:
    free(parent);
    free(drop);
    mt_u64map_free(&slot);
    return rc;
}

/* The noise floor: steady growth too small to be worth a report. */
static int drop_small(mt_leaks *L) {
    uint8_t *drop = calloc(L->n_suspects ? L->n_suspects : 1, 1);
    if (!drop) return -1;
    for (size_t si = 0; si < L->n_suspects; si++) drop[si] = L->suspects[si].bytes_per_snapshot < L->floor;
    compact(L, drop);
    free(drop);
    return 0;
}

static void rank_suspects(mt_leaks *L) {
    for (size_t si = 0; si < L->n_suspects; si++)
        L->suspects[si].score = (double)L->suspects[si].bytes_per_snapshot * L->suspects[si].confidence;
    if (L->n_suspects) qsort(L->suspects, L->n_suspects, sizeof(mt_leak_suspect), cmp_suspect);
}

int mt_leaks_compute(const char *const *paths, size_t n, unsigned load_flags, const mt_leaks_opts *opts,
                     mt_leaks *L, mt_snapshot **last, mt_diag *diag) {
    memset(L, 0, sizeof *L);
    *last = NULL;
    if (n < 3) return mt_diag_set(diag, MT_E_INVAL, "a leak needs at least 3 snapshots in time order, not %zu", n);
    mt_leaks_opts o = { .alpha = 0.05, .min_growth = 1, .floor = MT_LEAKS_FLOOR };
    if (opts) {
        if (opts->alpha > 0) o.alpha = opts->alpha;
        if (opts->min_growth) o.min_growth = opts->min_growth;
        if (opts->floor) o.floor = opts->floor;
    }
    mt_generations *gen = NULL;
    L->n_snapshots = n;
    L->floor = o.floor;
    if (!(L->impl = calloc(1, sizeof(impl))) || mt_generations_new(&gen) || !(L->heap_bytes = calloc(n, 8)) ||
        !(L->rss = calloc(n, 8)))
        goto nomem;
    for (size_t k = 0; k < n; k++) {
        mt_snapshot *s;
        const char *file = diag ? diag->file : NULL;
        if (diag) diag->file = paths[k];
        int rc = mt_snapshot_load(paths[k], load_flags | (k + 1 == n ? MT_LOAD_LABELS : 0), &s, diag);
        if (rc) {
            mt_generations_free(gen);
            mt_leaks_free(L);
            return rc;
        }
        if (diag) diag->file = file;
        if (opts && opts->loaded) opts->loaded(opts->ctx, paths[k], s);
        rc = take(L, gen, s, k, k + 1 == n ? &L->birth : NULL);
        if (k + 1 < n) mt_snapshot_free(s);
        else
            *last = s;
        if (rc) goto nomem;
    }
    mt_generations_free(gen);
    gen = NULL;
    mt_rss_heap rh;
    mt_rss_heap_figures(&rh, L->rss[0], L->rss[n - 1], L->heap_bytes[0], L->heap_bytes[n - 1]);
    if (rh.has_rss) {
        L->rss_growth = (int64_t)(rh.rss_b - rh.rss_a);
        L->heap_growth = (int64_t)(rh.heap_b - rh.heap_a);
        L->unaccounted = rh.unaccounted;
        L->native_growth = rh.native;
    }
    for (size_t i = 0; i < L->n_groups; i++) {
        L->groups[i].type = mt__names_str(&((impl *)L->impl)->types, i);
        judge(&L->groups[i], n, &o);
    }
    int rc = mt_dominators_compute(mt_snapshot_graph(*last), &L->dom, diag);
    if (rc) {
        mt_snapshot_free(*last);
        *last = NULL;
        mt_leaks_free(L);
        return rc;
    }
    if (find_points(L, *last)) goto nomem;
    rc = point_series(L, paths, load_flags, *last, diag);
    if (rc) {
        mt_snapshot_free(*last);
        *last = NULL;
        mt_leaks_free(L);
        return rc == MT_E_NOMEM ? mt_diag_set(diag, MT_E_NOMEM, "out of memory comparing %zu snapshots", n) : rc;
    }
    if (drop_flat(L)) goto nomem;
    rank_suspects(L);
    if (merge_causes(L, *last) || drop_small(L) || rank_growing(L)) goto nomem;
    rank_suspects(L);
    return 0;
nomem:
    mt_generations_free(gen);
    mt_snapshot_free(*last);
    *last = NULL;
    mt_leaks_free(L);
    return mt_diag_set(diag, MT_E_NOMEM, "out of memory comparing %zu snapshots", n);
}

const char *mt_leak_growth_label(mt_leak_verdict v) {
    switch (v) {
    case MT_LEAK_PLATEAU: return "plateaued";
    case MT_LEAK_ONE_TIME: return "one-time";
    case MT_LEAK_NOISE: return "no trend";
    default: return "";
    }
}

void mt_leak_group_reason(const mt_leak_group *g, size_t n, char *buf, size_t len) {
    int64_t gain = (int64_t)(g->count[n - 1] - g->count[0]);
    char h[24];
    mt_signed_bytes((int64_t)(g->bytes[n - 1] - g->bytes[0]), h);
    switch (g->verdict) {
    case MT_LEAK_PLATEAU:
        snprintf(buf, len, "grew by %" PRId64 " objects (%s), then stopped: no growth over the last %zu snapshots", gain,
                 h, n - g->late_from);
        break;
    case MT_LEAK_ONE_TIME: {
        size_t k = g->jump_at;
        snprintf(buf, len, "%" PRId64 " of its %" PRId64 " new objects arrived between snapshots %zu and %zu, and "
                 "later snapshots left none", (int64_t)(g->count[k] - g->count[k - 1]), gain, k, k + 1);
        break;
    }
    default:
        snprintf(buf, len, "grew by %" PRId64 " objects (%s) without a monotonic trend (Mann-Kendall p = %.3g)", gain, h,
                 g->mk.p);
    }
}

void mt_leak_suspect_reason(const mt_leaks *L, const mt_snapshot *last, size_t k, char *buf, size_t len) {
    const mt_leak_suspect *sp = &L->suspects[k];
    const mt_leak_group *gr = &L->groups[sp->group];
    size_t n = L->n_snapshots;
    mt_str ptype = mt_str_c("-");
    if (sp->point != UINT32_MAX) {
        const mt_graph *g = mt_snapshot_graph(last);
        ptype = g->type_names[g->type[sp->point]];
    }
    snprintf(buf, len, "%s rose %s (Mann-Kendall p = %.2g); %u of %zu later "
             "generations left survivors%s%.*s",
             gr->type, gr->mk.s == (int64_t)(n * (n - 1) / 2) ? "in every snapshot" : "in most snapshots", gr->mk.p,
             gr->leaving_generations, n - 1, sp->point != UINT32_MAX ? ", held by " : "",
             sp->point != UINT32_MAX ? (int)ptype.len : 0, ptype.ptr);
}
