/* Memory budgets for CI (gate.h): the policy file and the checks. */
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/array.h"
#include "memtrace/frames.h"
#include "memtrace/gate.h"
#include "memtrace/gpu.h"
#include "memtrace/leaks.h"
#include "memtrace/tracediff.h"
#include "memtrace/units.h"
#include "io/yamldoc.h"

/* The budgets, in checking order. */
enum {
    B_TOTAL_BYTES,
    B_TOTAL_PERCENT,
    B_GROUP_BYTES,
    B_GROUP_PERCENT,
    B_PEAK_BYTES,
    B_LEAK_CONFIDENCE,
    B_ADVICE_SEVERITY,
    B_GPU_PEAK_BYTES,
    N_BUDGETS
};

/* The public names of the same budgets (gate.h), in the same order. */
_Static_assert(B_TOTAL_BYTES == (int)MT_GATE_TOTAL_GROWTH_BYTES && B_ADVICE_SEVERITY == (int)MT_GATE_ADVICE_SEVERITY &&
                   B_GPU_PEAK_BYTES == (int)MT_GATE_GPU_PEAK_BYTES && N_BUDGETS == (int)MT_GATE_GPU_PEAK_BYTES + 1,
               "gate.h's mt_gate_budget follows the checking order");

/* How a budget's value is written: bytes (64 MiB), percent (10 or 10%),
 * a confidence in 0..1, a severity name. */
enum { U_BYTES, U_PERCENT, U_CONFIDENCE, U_SEVERITY };

static const struct {
    const char *name;
    int unit;
} budgets[N_BUDGETS] = {
    { "total_growth_bytes", U_BYTES },   { "total_growth_percent", U_PERCENT }, { "group_growth_bytes", U_BYTES },
    { "group_growth_percent", U_PERCENT }, { "peak_bytes", U_BYTES },         { "leak_confidence", U_CONFIDENCE },
    { "advice_severity", U_SEVERITY }, { "gpu_peak_bytes", U_BYTES },
};

const char *mt_gate_budget_name(mt_gate_budget b) {
    return (unsigned)b < N_BUDGETS ? budgets[b].name : "?";
}

int mt_gate_budget_from_name(const char *name, mt_gate_budget *out) {
    for (int b = 0; b < N_BUDGETS; b++)
        if (!strcmp(name, budgets[b].name)) {
            *out = (mt_gate_budget)b;
            return 0;
        }
    return MT_E_INVAL;
}

typedef struct allowance {
    char *group;                 /* fnmatch pattern */
    int ignore;
    int has_bytes, has_percent;
    double bytes, percent;
} allowance;

struct mt_gate_policy {
    int set[N_BUDGETS];
    double limit[N_BUDGETS];
    mt_group_by by;
    double group_min_bytes;      /* smaller groups are not held to a percentage */
    char *peak_series;
    int trace_at_peak;           /* traces: growth of what was live at each peak, not at the end */
    double available;            /* 0: the caller's */
    allowance *allow;
    size_t n_allow, cap_allow;
};

void mt_gate_policy_free(mt_gate_policy *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_allow; i++) free(p->allow[i].group);
    free(p->allow);
    free(p->peak_series);
    free(p);
}

/* ---- the policy file ---- */

/* Exact (mt_bytes_parse): "18446744073709551616", "1e19" or "0x10" must
 * not wrap or round into a budget that passes everything. The budgets are
 * compared as doubles; 2^64-1 rounds up to 2^64, which hb() shows as
 * "more than 16 EiB". */
static int get_size(mt__ydoc *y, yaml_node_t *v, const char *key, double *out) {
    const char *s = mt__yscalar(v);
    uint64_t b;
    if (!s || mt_bytes_parse(s, &b))
        return mt__ybad(y, v, "%s must be a size from 0 to 18446744073709551615 bytes such as 64 MiB, 2GB or "
                              "1000000, not %s%s%s", key, s ? "'" : "", s ? s : mt__ykind(v), s ? "'" : "");
    *out = (double)b;
    return 0;
}

/* 10 and 10% both mean ten percent. */
static int get_percent(mt__ydoc *y, yaml_node_t *v, const char *key, double *out) {
    const char *s = mt__yscalar(v);
    double d;
    if (!s || mt__ynumber(s, &d) || d < 0 || (!strchr(s, '%') && strpbrk(s, "KMGTkmgtBb")))
        return mt__ybad(y, v, "%s must be a percentage such as 10 or 12.5%%, not %s%s%s", key, s ? "'" : "",
                        s ? s : mt__ykind(v), s ? "'" : "");
    *out = strchr(s, '%') ? d * 100 : d;
    return 0;
}

static int parse_budget(mt__ydoc *y, mt_gate_policy *p, int b, yaml_node_t *v) {
    const char *s = mt__yscalar(v);
    double d;
    switch (budgets[b].unit) {
    case U_BYTES: return get_size(y, v, budgets[b].name, &p->limit[b]);
    case U_PERCENT: return get_percent(y, v, budgets[b].name, &p->limit[b]);
    case U_CONFIDENCE:
        if (!s || mt__ynumber(s, &d) || strchr(s, '%') || d < 0 || d > 1)
            return mt__ybad(y, v, "%s must be a confidence from 0 to 1 such as 0.9, not %s%s%s", budgets[b].name,
                            s ? "'" : "", s ? s : mt__ykind(v), s ? "'" : "");
        p->limit[b] = d;
        return 0;
    default: {
        mt_severity sev;
        if (!s || mt_severity_from_name(s, &sev))
            return mt__ybad(y, v, "%s must be info, warning or error, not %s%s%s", budgets[b].name, s ? "'" : "",
                            s ? s : mt__ykind(v), s ? "'" : "");
        p->limit[b] = sev;
        return 0;
    }
    }
}

static int parse_budgets(mt__ydoc *y, mt_gate_policy *p, yaml_node_t *m) {
    int krc = mt__ymap(y, m, "budgets");
    if (krc) return krc;
    /* A gate that checks nothing passes every run: always a mistake. */
    if (m->data.mapping.pairs.top == m->data.mapping.pairs.start)
        return mt__ybad(y, m, "budgets is empty: a policy must set at least one budget, such as "
                              "total_growth_percent: 10");
    for (yaml_node_pair_t *a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top; a++) {
        yaml_node_t *k = mt__ynode(y, a->key), *v = mt__ynode(y, a->value);
        mt_gate_budget b;
        if (mt_gate_budget_from_name(mt__yscalar(k), &b))
            return mt__ybad(y, k,
                            "unknown budget '%s' (expected total_growth_bytes, total_growth_percent, "
                            "group_growth_bytes, group_growth_percent, peak_bytes, leak_confidence, "
                            "advice_severity or gpu_peak_bytes)",
                            mt__yscalar(k));
        int rc = parse_budget(y, p, b, v);
        if (rc) return rc;
        p->set[b] = 1;
    }
    return 0;
}

static int parse_allowance(mt__ydoc *y, mt_gate_policy *p, yaml_node_t *m) {
    int krc = mt__ymap(y, m, "an allowance");
    if (krc) return krc;
    if (mt__grow((void **)&p->allow, &p->cap_allow, p->n_allow, sizeof *p->allow)) return mt__ynomem(y);
    allowance *al = &p->allow[p->n_allow];
    memset(al, 0, sizeof *al);
    p->n_allow++;
    int rc = 0;
    for (yaml_node_pair_t *a = m->data.mapping.pairs.start; !rc && a < m->data.mapping.pairs.top; a++) {
        yaml_node_t *k = mt__ynode(y, a->key), *v = mt__ynode(y, a->value);
        const char *key = mt__yscalar(k);
        if (!strcmp(key, "group")) {
            if (mt__ywant(y, v, YAML_SCALAR_NODE, "group")) return MT_E_INVAL;
            if (!(al->group = strdup(mt__yscalar(v)))) return mt__ynomem(y);
        } else if (!strcmp(key, "growth_bytes")) {
            rc = get_size(y, v, key, &al->bytes);
            al->has_bytes = 1;
        } else if (!strcmp(key, "growth_percent")) {
            rc = get_percent(y, v, key, &al->percent);
            al->has_percent = 1;
        } else if (!strcmp(key, "ignore")) {
            rc = mt__ybool(y, v, key, &al->ignore);
        } else {
            return mt__ybad(y, k, "unknown key '%s' in an allowance (expected group, growth_bytes, "
                                  "growth_percent or ignore)", key);
        }
    }
    if (!rc && !al->group) rc = mt__ybad(y, m, "an allowance needs 'group', the group name or a pattern such as 'app.*'");
    if (!rc && !al->ignore && !al->has_bytes && !al->has_percent)
        rc = mt__ybad(y, m, "the allowance for '%s' sets nothing: give growth_bytes, growth_percent or ignore: true",
                      al->group);
    return rc;
}

static int parse_policy(mt__ydoc *y, mt_gate_policy *p) {
    yaml_node_t *root = yaml_document_get_root_node(&y->doc);
    if (!root) return mt__ybad(y, NULL, "the file is empty: expected a mapping with 'budgets'");
    int krc = mt__ymap(y, root, "a policy");
    if (krc) return krc;
    int have_budgets = 0, rc = 0;
    for (yaml_node_pair_t *a = root->data.mapping.pairs.start; !rc && a < root->data.mapping.pairs.top; a++) {
        yaml_node_t *k = mt__ynode(y, a->key), *v = mt__ynode(y, a->value);
        const char *key = mt__yscalar(k), *s = mt__yscalar(v);
        double d;
        if (!strcmp(key, "version")) {
            if (!s || mt__ynumber(s, &d) || d != 1)
                rc = mt__ybad(y, v, "version %s is not one this reader knows (1)", s ? s : mt__ykind(v));
        } else if (!strcmp(key, "budgets")) {
            rc = parse_budgets(y, p, v);
            have_budgets = 1;
        } else if (!strcmp(key, "allow")) {
            if (mt__ywant(y, v, YAML_SEQUENCE_NODE, "allow")) return MT_E_INVAL;
            for (yaml_node_item_t *i = v->data.sequence.items.start; !rc && i < v->data.sequence.items.top; i++)
                rc = parse_allowance(y, p, mt__ynode(y, *i));
        } else if (!strcmp(key, "group_by")) {
            if (!s || mt_group_by_from_name(s, &p->by))
                rc = mt__ybad(y, v, "group_by must be type, module, site, traceback, column or device, not %s%s%s",
                              s ? "'" : "", s ? s : mt__ykind(v), s ? "'" : "");
        } else if (!strcmp(key, "group_min_bytes")) {
            rc = get_size(y, v, key, &p->group_min_bytes);
        } else if (!strcmp(key, "peak_series")) {
            if (mt__ywant(y, v, YAML_SCALAR_NODE, "peak_series")) return MT_E_INVAL;
            free(p->peak_series);
            if (!(p->peak_series = strdup(s))) return mt__ynomem(y);
        } else if (!strcmp(key, "available")) {
            rc = get_size(y, v, key, &p->available);
        } else if (!strcmp(key, "trace_at")) {
            if (s && !strcmp(s, "end")) p->trace_at_peak = 0;
            else if (s && !strcmp(s, "peak")) p->trace_at_peak = 1;
            else
                rc = mt__ybad(y, v, "trace_at must be end or peak, not %s%s%s", s ? "'" : "", s ? s : mt__ykind(v),
                              s ? "'" : "");
        } else {
            rc = mt__ybad(y, k,
                          "unknown key '%s' (expected budgets, allow, group_by, group_min_bytes, peak_series, "
                          "trace_at, available or version)",
                          key);
        }
    }
    if (!rc && !have_budgets) rc = mt__ybad(y, root, "the policy sets no budgets: add 'budgets:' with at least one");
    return rc;
}

int mt_gate_policy_parse(const char *name, const char *text, size_t len, mt_gate_policy **out, mt_diag *diag) {
    mt_diag_clear(diag);
    *out = NULL;
    mt_gate_policy *p = calloc(1, sizeof *p);
    if (!p || !(p->peak_series = strdup("rss"))) {
        free(p);
        return mt_diag_set(diag, MT_E_NOMEM, "out of memory reading the policy");
    }
    p->by = MT_BY_TYPE;
    p->group_min_bytes = 64 * 1024;
    mt__ydoc y;
    int rc = mt__ydoc_load(&y, name, "the policy", text, len, diag);
    if (!rc) rc = parse_policy(&y, p);
    mt__ydoc_free(&y);
    if (rc) {
        if (diag) diag->file = name;
        mt_gate_policy_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int mt_gate_policy_load(const char *path, mt_gate_policy **out, mt_diag *diag) {
    char *buf;
    size_t len;
    *out = NULL;
    int rc = mt__read_file(path, "the policy", &buf, &len, diag);
    if (rc) return rc;
    rc = mt_gate_policy_parse(path, buf ? buf : "", len, out, diag);
    free(buf);
    return rc;
}

/* ---- the checks ---- */

/* Checks hold copies of the names they report: the diff, leak analysis
 * and advice they come from are freed before mt_gate_run returns. */
static int dup(char **out, const char *s) {
    if (!s) return 0;
    *out = strdup(s);
    return *out ? 0 : MT_E_NOMEM;
}

/* A new check of budget b, counted when the caller fills it in. */
static mt_gate_check *check_new(mt_gate_result *r, int b, double limit) {
    mt_gate_check *c = &r->checks[r->n_checks++];
    c->kind = (mt_gate_budget)b;
    c->budget = mt_gate_budget_name((mt_gate_budget)b);
    c->limit = limit;
    c->passed = 1;
    return c;
}

/* Records the verdict: passed when nothing offends. */
static void check_done(mt_gate_result *r, mt_gate_check *c, double actual) {
    c->actual = actual;
    c->passed = c->n_offenders == 0;
    if (!c->passed) r->failed++;
}

static int load(const char *path, mt_snapshot **s, mt_diag *diag) {
    int rc = mt_snapshot_load(path, 0, s, diag);
    if (rc && diag) diag->file = path;
    return rc;
}

/* The last current snapshot serves growth, the peak and advice: loaded
 * once, on first use, and freed by mt_gate_run. */
static int last_current(const mt_gate_input *in, mt_snapshot **cur, mt_diag *diag) {
    return *cur ? 0 : load(in->current[in->n_current - 1], cur, diag);
}

/* Whether a or b saturated (mt_sat_add_u64): their change is unknown, and
 * an unknown change offends every budget rather than pass unchecked. */
static int unknown(uint64_t a, uint64_t b) { return a == UINT64_MAX || b == UINT64_MAX; }

/* NAN when a total saturated (UINT64_MAX): its change is not known. */
static double pct(double a, double b) {
    if (a >= 18446744073709551615.0 || b >= 18446744073709551615.0) return NAN;
    return a > 0 ? 100.0 * (b - a) / a : (b > a ? INFINITY : 0);
}

typedef struct offender {
    size_t row;
    double amount;               /* bytes or percent over which it offends */
    double limit;
    const allowance *by;
} offender;

static int by_amount(const void *x, const void *y) {
    const offender *a = x, *b = y;
    if (a->amount != b->amount) return a->amount < b->amount ? 1 : -1;
    return (a->row > b->row) - (a->row < b->row);
}

static const allowance *allowance_of(const mt_gate_policy *p, const char *group) {
    for (size_t i = 0; i < p->n_allow; i++)
        if (!fnmatch(p->allow[i].group, group, 0)) return &p->allow[i];
    return NULL;
}

/* The group budgets: each group against its limit, or its allowance's. */
static int check_groups(const mt_gate_policy *p, const mt_diff *d, int b, mt_gate_result *r) {
    int percent = b == B_GROUP_PERCENT;
    offender *off = malloc((d->n_rows ? d->n_rows : 1) * sizeof *off);
    if (!off) return MT_E_NOMEM;
    size_t n = 0;
    double worst = 0;
    size_t worst_row = SIZE_MAX;
    for (size_t i = 0; i < d->n_rows; i++) {
        const mt_diff_row *row = &d->rows[i];
        const allowance *al = allowance_of(p, row->group);
        if (al && al->ignore) continue;
        double delta = (double)row->bytes_b - (double)row->bytes_a;
        int unk = unknown(row->bytes_a, row->bytes_b);
        double amount = unk ? INFINITY : percent ? pct((double)row->bytes_a, (double)row->bytes_b) : delta;
        /* Small groups swing by large percentages: not held to one. */
        if (percent && (double)row->bytes_b < p->group_min_bytes) continue;
        if (worst_row == SIZE_MAX || amount > worst) {
            worst = amount;
            worst_row = i;
        }
        double limit = p->limit[b];
        if (al && (percent ? al->has_percent : al->has_bytes)) limit = percent ? al->percent : al->bytes;
        else al = NULL;
        if (unk || (delta > 0 && amount > limit)) off[n++] = (offender){ i, amount, limit, al };
    }
    qsort(off, n, sizeof *off, by_amount);
    mt_gate_check *c = check_new(r, b, p->limit[b]);
    int rc = 0;
    if (n && !(c->offenders = calloc(n, sizeof *c->offenders))) rc = MT_E_NOMEM;
    for (size_t k = 0; !rc && k < n; k++) {
        const mt_diff_row *row = &d->rows[off[k].row];
        mt_gate_offender *o = &c->offenders[c->n_offenders++];
        o->bytes_a = row->bytes_a;
        o->bytes_b = row->bytes_b;
        o->percent = pct((double)row->bytes_a, (double)row->bytes_b);
        o->limit = off[k].limit;
        if (!(rc = dup(&o->name, row->group)) && off[k].by) rc = dup(&o->allowance, off[k].by->group);
    }
    if (!rc && worst_row != SIZE_MAX) {
        const mt_diff_row *row = &d->rows[worst_row];
        c->bytes_a = row->bytes_a;
        c->bytes_b = row->bytes_b;
        c->percent = pct((double)row->bytes_a, (double)row->bytes_b);
        rc = dup(&c->group, row->group);
    }
    free(off);
    if (!rc) check_done(r, c, worst_row == SIZE_MAX ? 0 : worst);
    return rc;
}

static int check_totals(const mt_gate_policy *p, const mt_diff *d, int b, mt_gate_result *r) {
    double a = (double)d->total.bytes_a, cb = (double)d->total.bytes_b, delta = cb - a;
    double actual = b == B_TOTAL_PERCENT ? pct(a, cb) : delta;
    mt_gate_check *c = check_new(r, b, p->limit[b]);
    c->bytes_a = d->total.bytes_a;
    c->bytes_b = d->total.bytes_b;
    c->percent = pct(a, cb);
    int unk = unknown(d->total.bytes_a, d->total.bytes_b);
    if (unk || (delta > 0 && actual > p->limit[b])) {
        /* Over: the total is the one offender. */
        if (!(c->offenders = calloc(1, sizeof *c->offenders))) return MT_E_NOMEM;
        mt_gate_offender *o = &c->offenders[c->n_offenders++];
        o->bytes_a = c->bytes_a;
        o->bytes_b = c->bytes_b;
        o->percent = c->percent;
        o->limit = p->limit[b];
        if (dup(&o->name, "total")) return MT_E_NOMEM;
    }
    if (unk) actual = INFINITY;
    check_done(r, c, actual);
    return 0;
}

static int is_trace(const mt_snapshot *s) { return mt_snapshot_meta_get(s, "trace_mode") != NULL; }

/* Bytes of an estimate as the growth budgets count them. */
static uint64_t est_u64(double v) {
    if (!(v > 0)) return 0;
    return v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)llround(v);
}

/* Two allocation traces, site by site (tracediff.h), as the rows the
 * growth budgets read: the bytes live at each trace's end (or peak);
 * estimates of a sampled trace as they are. rows and td are the caller's
 * to free. Grouped by site unless the policy says traceback. */
static int trace_growth(const mt_gate_policy *p, const mt_gate_input *in, mt_diff *d, mt_trace_diff *td,
                        mt_diag *diag) {
    mt_trace *ta = NULL, *tb = NULL;
    const char *pa = in->baseline[in->n_baseline - 1], *pb = in->current[in->n_current - 1];
    mt_group_by by = p->by == MT_BY_TRACEBACK ? MT_BY_TRACEBACK : MT_BY_SITE;
    if (p->by != MT_BY_TYPE && p->by != MT_BY_SITE && p->by != MT_BY_TRACEBACK)
        return mt_diag_set(diag, MT_E_INVAL, "group_by %s: traces are grouped by site or traceback",
                           mt_group_by_name(p->by));
    int rc = mt_trace_open(pa, 0, NULL, &ta, diag);
    if (rc && diag) diag->file = pa;
    if (!rc && (rc = mt_trace_open(pb, 0, NULL, &tb, diag)) && diag) diag->file = pb;
    if (!rc) rc = mt_trace_diff_compute(ta, tb, by, p->trace_at_peak ? MT_TRACE_AT_PEAK : MT_TRACE_AT_END, td, diag);
    mt_trace_free(ta);
    mt_trace_free(tb);
    if (rc) return rc;
    memset(d, 0, sizeof *d);
    d->by = by;
    if (td->n_rows && !(d->rows = calloc(td->n_rows, sizeof *d->rows))) return MT_E_NOMEM;
    for (size_t i = 0; i <= td->n_rows; i++) {
        const mt_trace_diff_row *t = i < td->n_rows ? &td->rows[i] : &td->total;
        mt_diff_row *r = i < td->n_rows ? &d->rows[i] : &d->total;
        r->group = t->group;
        r->bytes_a = est_u64(t->bytes_a.value);
        r->bytes_b = est_u64(t->bytes_b.value);
        r->count_a = est_u64(t->count_a.value);
        r->count_b = est_u64(t->count_b.value);
    }
    d->n_rows = td->n_rows;
    return 0;
}

/* peak_series "trace": the most bytes live at once in the current traces. */
static int trace_peak(const char *path, double *peak, mt_diag *diag) {
    mt_trace *t;
    int rc = mt_trace_open(path, 0, NULL, &t, diag);
    if (rc) {
        if (diag) diag->file = path;
        return rc;
    }
    mt_trace_summary S;
    mt_trace_summary_get(t, &S);
    *peak = S.peak.value;
    mt_trace_free(t);
    return 0;
}

typedef struct peak_ctx {
    const char *series;
    size_t len;
    double max;
    int found;
} peak_ctx;

static int on_sample(void *arg, const void *rec) {
    peak_ctx *c = arg;
    const mt_sample *s = rec;
    /* A bucket of thinned points peaks at its max, not its mean. */
    double v = s->span_ns ? s->max : s->value;
    if (s->series.len == c->len && !memcmp(s->series.ptr, c->series, c->len) && !isnan(v)) {
        if (!c->found || v > c->max) c->max = v;
        c->found = 1;
    }
    return 0;
}

static int check_peak(const mt_gate_policy *p, const mt_gate_input *in, mt_snapshot **cur, mt_gate_result *r,
                      mt_diag *diag) {
    double peak = 0;
    const char *where = NULL;
    for (size_t i = 0; i < in->n_current; i++) {
        int last = i + 1 == in->n_current;
        mt_snapshot *s = NULL;
        int rc = last ? last_current(in, cur, diag) : load(in->current[i], &s, diag);
        if (rc) return rc;
        if (last) s = *cur;
        peak_ctx c = { p->peak_series, strlen(p->peak_series), 0, 0 };
        if (!strcmp(p->peak_series, "trace") && is_trace(s)) {
            rc = trace_peak(in->current[i], &c.max, diag);
            c.found = !rc;
        } else {
            rc = mt_snapshot_each(s, MT_KIND_SAMPLE, on_sample, &c, diag);
            if (!c.found) c.found = mt_snapshot_meta_number(s, p->peak_series, &c.max);
        }
        if (!last) mt_snapshot_free(s);
        if (rc) return rc;
        if (c.found && (!where || c.max > peak)) {
            peak = c.max;
            where = in->current[i];
        }
    }
    if (!where) {
        int rc = mt_diag_set(diag, MT_E_NOTFOUND,
                             "peak_bytes: no current snapshot records '%s' samples or meta (set peak_series to one "
                             "it does: rss, traced, tracemalloc_peak, ...)",
                             p->peak_series);
        if (diag) diag->file = in->current[in->n_current - 1];
        return rc;
    }
    mt_gate_check *c = check_new(r, B_PEAK_BYTES, p->limit[B_PEAK_BYTES]);
    c->where = where;
    int rc = dup(&c->series, p->peak_series);
    if (!rc && peak > p->limit[B_PEAK_BYTES]) {
        /* Over: the snapshot with the peak is the one offender. */
        if (!(c->offenders = calloc(1, sizeof *c->offenders))) return MT_E_NOMEM;
        mt_gate_offender *o = &c->offenders[c->n_offenders++];
        o->bytes = peak >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)peak;
        o->limit = p->limit[B_PEAK_BYTES];
        rc = dup(&o->name, where);
    }
    if (!rc) check_done(r, c, peak);
    return rc;
}

/* A device's peak in one snapshot (gpu_peak_bytes). */
typedef struct gpu_peak {
    uint32_t device;
    uint64_t bytes;
} gpu_peak;

static void peak_put(gpu_peak *v, size_t *n, uint32_t device, uint64_t bytes) {
    for (size_t i = 0; i < *n; i++)
        if (v[i].device == device) {
            if (bytes > v[i].bytes) v[i].bytes = bytes;
            return;
        }
    v[*n].device = device;
    v[(*n)++].bytes = bytes;
}

/* The peak of every GPU device of s: its allocator's (the trace's peak,
 * else what is allocated) and its steps' peak allocated, the higher.
 * *v is malloc'd; *n 0 when s has no GPU records. */
static int gpu_peaks(const mt_snapshot *s, gpu_peak **v, size_t *n, mt_diag *diag) {
    mt_gpu_report *r = NULL;
    mt_gpu_batch *b = NULL;
    size_t nb = 0;
    *v = NULL;
    *n = 0;
    int rc = mt_gpu_analyze(s, NULL, &r, diag);
    if (rc && rc != MT_E_NOTFOUND) return rc;
    int rb = mt_gpu_batch_fit(s, NULL, &b, &nb, diag);
    if (rb && rb != MT_E_NOTFOUND) {
        mt_gpu_report_free(r);
        return rb;
    }
    const mt_gpu_device_report *d = NULL;
    size_t nd = r ? mt_gpu_report_devices(r, &d) : 0;
    if (!(*v = malloc((nd + nb + 1) * sizeof **v))) rc = MT_E_NOMEM;
    for (size_t i = 0; *v && i < nd; i++)
        peak_put(*v, n, d[i].device, d[i].has_trace ? d[i].trace.peak_active : d[i].all.allocated);
    for (size_t i = 0; *v && i < nb; i++)
        for (size_t k = 0; k < b[i].n_points; k++) peak_put(*v, n, b[i].device, b[i].points[k].peak_allocated);
    mt_gpu_report_free(r);
    mt_gpu_batches_free(b, nb);
    return *v ? 0 : MT_E_NOMEM;
}

static int check_gpu_peak(const mt_gate_policy *p, const mt_gate_input *in, mt_snapshot **cur, mt_gate_result *r,
                          mt_diag *diag) {
    double limit = p->limit[B_GPU_PEAK_BYTES], worst = 0;
    const char *where = NULL;
    mt_gate_check *c = check_new(r, B_GPU_PEAK_BYTES, limit);
    int rc = 0;
    size_t cap = 0;
    for (size_t i = 0; i < in->n_current && !rc; i++) {
        int last = i + 1 == in->n_current;
        mt_snapshot *s = NULL;
        rc = last ? last_current(in, cur, diag) : load(in->current[i], &s, diag);
        if (rc) break;
        if (last) s = *cur;
        gpu_peak *v;
        size_t n;
        rc = gpu_peaks(s, &v, &n, diag);
        if (!last) mt_snapshot_free(s);
        for (size_t k = 0; !rc && k < n; k++) {
            if (!where || (double)v[k].bytes > worst) {
                worst = (double)v[k].bytes;
                where = in->current[i];
            }
            if ((double)v[k].bytes <= limit) continue;
            if (mt__grow((void **)&c->offenders, &cap, c->n_offenders, sizeof *c->offenders)) {
                rc = MT_E_NOMEM;
                break;
            }
            mt_gate_offender *o = &c->offenders[c->n_offenders];
            memset(o, 0, sizeof *o);
            o->bytes = v[k].bytes;
            o->limit = limit;
            size_t len = strlen(in->current[i]) + 32;
            if (!(o->name = malloc(len))) {
                rc = MT_E_NOMEM;
                break;
            }
            snprintf(o->name, len, "%s: cuda:%u", in->current[i], v[k].device);
            c->n_offenders++;
        }
        free(v);
    }
    if (rc) return rc;
    if (!where) {
        rc = mt_diag_set(diag, MT_E_NOTFOUND,
                         "gpu_peak_bytes: no current snapshot holds GPU records (an allocator's state from "
                         "memtrace-convert --from torch or memtrace.dump_cuda, or memtrace.gpu_steps' steps)");
        if (diag) diag->file = in->current[in->n_current - 1];
        return rc;
    }
    /* Worst first. */
    for (size_t a = 1; a < c->n_offenders; a++)
        for (size_t b = a; b > 0 && c->offenders[b].bytes > c->offenders[b - 1].bytes; b--) {
            mt_gate_offender t = c->offenders[b];
            c->offenders[b] = c->offenders[b - 1];
            c->offenders[b - 1] = t;
        }
    c->where = where;
    check_done(r, c, worst);
    return 0;
}

/* The leak analysis of a series, with the library's noise floor
 * (MT_LEAKS_FLOOR), as memtrace-leaks runs it; *last (may be NULL) keeps
 * the last snapshot for the suspects' paths. */
static int suspects_of(const char *const *paths, size_t n, mt_leaks *l, mt_snapshot **last, mt_diag *diag) {
    mt_snapshot *s = NULL;
    int rc = mt_leaks_compute(paths, n, 0, NULL, l, &s, diag);
    if (last) *last = s;
    else
        mt_snapshot_free(s);
    return rc;
}

/* "dict: module __main__ → _LEAKS": where a suspect accumulates; NULL in
 * *out when it has no point or no path. */
static int point_text(const mt_snapshot *s, uint32_t point, char **out) {
    const mt_graph *g = mt_snapshot_graph(s);
    mt_path p;
    *out = NULL;
    if (point == UINT32_MAX || mt_path_to_root(g, point, &p, NULL)) return 0;
    char *path = mt_path_format(s, &p);
    mt_path_free(&p);
    if (!path) return MT_E_NOMEM;
    mt_str t = g->type_names[g->type[point]];
    size_t len = t.len + 2 + strlen(path) + 1;
    if ((*out = malloc(len))) snprintf(*out, len, "%.*s: %s", (int)t.len, t.ptr, path);
    free(path);
    return *out ? 0 : MT_E_NOMEM;
}

static int check_leaks(const mt_gate_policy *p, const mt_gate_input *in, mt_gate_result *r, mt_diag *diag) {
    if (in->n_current < 3)
        return mt_diag_set(diag, MT_E_INVAL,
                           "leak_confidence needs a series of at least 3 current snapshots from one run (give "
                           "--current 3 times or more); %zu given",
                           in->n_current);
    mt_leaks cur, base;
    memset(&cur, 0, sizeof cur);
    memset(&base, 0, sizeof base);
    mt_snapshot *last = NULL;
    int rc = suspects_of(in->current, in->n_current, &cur, &last, diag);
    if (!rc && in->n_baseline >= 3) rc = suspects_of(in->baseline, in->n_baseline, &base, NULL, diag);
    mt_gate_check *c = NULL;
    if (!rc) {
        c = check_new(r, B_LEAK_CONFIDENCE, p->limit[B_LEAK_CONFIDENCE]);
        if (cur.n_suspects && !(c->offenders = calloc(cur.n_suspects, sizeof *c->offenders))) rc = MT_E_NOMEM;
    }
    double worst = 0;
    for (size_t i = 0; !rc && i < cur.n_suspects; i++) {
        const mt_leak_suspect *s = &cur.suspects[i];
        const char *type = cur.groups[s->group].type;
        int old = 0;
        for (size_t j = 0; j < base.n_suspects && !old; j++)
            old = !strcmp(base.groups[base.suspects[j].group].type, type);
        if (old) {
            c->n_known++;
            continue;
        }
        if (s->confidence > worst) worst = s->confidence;
        if (s->confidence < p->limit[B_LEAK_CONFIDENCE]) continue;
        mt_gate_offender *o = &c->offenders[c->n_offenders++];
        o->objects = s->type_objects_per_snapshot;
        o->bytes = s->bytes_per_snapshot;
        o->confidence = s->confidence;
        rc = dup(&o->name, type);
        if (!rc) rc = point_text(last, s->point, &o->path);
    }
    if (!rc) check_done(r, c, worst);
    mt_snapshot_free(last);
    mt_leaks_free(&cur);
    mt_leaks_free(&base);
    return rc;
}

static int check_advice(const mt_gate_policy *p, const mt_gate_input *in, mt_snapshot **cur, mt_gate_result *r,
                        mt_diag *diag) {
    const char *path = in->current[in->n_current - 1];
    if (!in->rules) return mt_diag_set(diag, MT_E_INVAL, "advice_severity needs rules and none were given");
    int rc = last_current(in, cur, diag);
    if (rc) return rc;
    const mt_snapshot *s = *cur;
    mt_df_table *t = NULL;
    mt_gpu_device *gpus = NULL;
    size_t n_gpus = 0;
    mt_gpu_report *gr = NULL;
    mt_advice_list *l = NULL;
    rc = mt_advise_load(s, &t, &gpus, &n_gpus, &gr, diag);
    if (rc == MT_E_NOTFOUND)
        rc = mt_diag_set(diag, MT_E_NOTFOUND,
                         "advice_severity needs DataFrame, pipeline or GPU records, and the current snapshot "
                         "has none");
    if (!rc) {
        mt_advise_input ai = { t, gpus, n_gpus, p->available > 0 ? p->available : in->available_bytes, 0,
                               MT_ADVISE_INT_HEADROOM_DEFAULT, gr };
        rc = mt_advise(in->rules, &ai, &l, diag);
    }
    if (rc && diag) diag->file = path;
    mt_gate_check *c = NULL;
    if (!rc) {
        c = check_new(r, B_ADVICE_SEVERITY, p->limit[B_ADVICE_SEVERITY]);
        c->n_advice = l->n;
        if (l->n && !(c->offenders = calloc(l->n, sizeof *c->offenders))) rc = MT_E_NOMEM;
    }
    int worst = 0;
    for (size_t i = 0; !rc && i < l->n; i++) {
        const mt_advice *a = &l->items[i];
        int sev = (int)a->severity;
        if (sev > worst) worst = sev;
        if (sev < (int)p->limit[B_ADVICE_SEVERITY]) continue;
        mt_gate_offender *o = &c->offenders[c->n_offenders++];
        o->severity = a->severity;
        o->bytes = a->saving_bytes;
        if (!(rc = dup(&o->name, a->rule))) rc = dup(&o->message, a->message);
    }
    if (!rc) check_done(r, c, worst);
    mt_advice_list_free(l);
    mt_gpu_devices_free(gpus, n_gpus);
    mt_gpu_report_free(gr);
    mt_df_table_free(t);
    return rc;
}

int mt_gate_run(const mt_gate_policy *p, const mt_gate_input *in, mt_gate_result *out, mt_diag *diag) {
    mt_diag_clear(diag);
    memset(out, 0, sizeof *out);
    out->by = p->by;
    if (!in->n_baseline || !in->n_current)
        return mt_diag_set(diag, MT_E_INVAL, "a gate needs a baseline and a current snapshot");
    if (!(out->checks = calloc(N_BUDGETS, sizeof *out->checks))) return mt_diag_set(diag, MT_E_NOMEM, "out of memory");
    int rc = 0;
    mt_snapshot *cur = NULL;
    if (p->set[B_TOTAL_BYTES] || p->set[B_TOTAL_PERCENT] || p->set[B_GROUP_BYTES] || p->set[B_GROUP_PERCENT]) {
        mt_snapshot *a = NULL;
        mt_diff d;
        mt_trace_diff td;
        int traces = 0;
        memset(&d, 0, sizeof d);
        memset(&td, 0, sizeof td);
        if (!(rc = load(in->baseline[in->n_baseline - 1], &a, diag)) && !(rc = last_current(in, &cur, diag))) {
            traces = is_trace(a) && is_trace(cur);
            if (traces) {
                rc = trace_growth(p, in, &d, &td, diag);
                if (!rc) {
                    out->by = d.by;
                    out->traces = 1;
                    out->trace_at_peak = p->trace_at_peak;
                }
            } else if (is_trace(a) != is_trace(cur)) {
                rc = mt_diag_set(diag, MT_E_INVAL, "%s, and the baseline %s %s: compare a trace with a trace",
                                 is_trace(cur) ? "an allocation trace" : "not an allocation trace",
                                 in->baseline[in->n_baseline - 1], is_trace(a) ? "is one" : "is not");
                if (diag) diag->file = in->current[in->n_current - 1];
            } else {
                rc = mt_diff_compute(a, cur, p->by, &d, diag);
            }
        }
        if (!rc) {
            mt_diff_sort(&d, MT_DIFF_BY_DELTA);
            out->baseline_bytes = d.total.bytes_a;
            out->current_bytes = d.total.bytes_b;
        }
        for (int k = B_TOTAL_BYTES; !rc && k <= B_TOTAL_PERCENT; k++)
            if (p->set[k]) rc = check_totals(p, &d, k, out);
        for (int k = B_GROUP_BYTES; !rc && k <= B_GROUP_PERCENT; k++)
            if (p->set[k]) rc = check_groups(p, &d, k, out);
        if (traces) {
            free(d.rows);
            mt_trace_diff_free(&td);
        } else {
            mt_diff_free(&d);
        }
        mt_snapshot_free(a);
    }
    if (!rc && p->set[B_PEAK_BYTES]) rc = check_peak(p, in, &cur, out, diag);
    if (!rc && p->set[B_LEAK_CONFIDENCE]) rc = check_leaks(p, in, out, diag);
    if (!rc && p->set[B_ADVICE_SEVERITY]) rc = check_advice(p, in, &cur, out, diag);
    if (!rc && p->set[B_GPU_PEAK_BYTES]) rc = check_gpu_peak(p, in, &cur, out, diag);
    mt_snapshot_free(cur);
    if (rc == MT_E_NOMEM && diag && !diag->msg[0]) mt_diag_set(diag, rc, "out of memory");
    if (rc) mt_gate_result_free(out);
    return rc;
}

void mt_gate_result_free(mt_gate_result *r) {
    for (size_t i = 0; r->checks && i < r->n_checks; i++) {
        mt_gate_check *c = &r->checks[i];
        for (size_t k = 0; k < c->n_offenders; k++) {
            free(c->offenders[k].name);
            free(c->offenders[k].allowance);
            free(c->offenders[k].message);
            free(c->offenders[k].path);
        }
        free(c->offenders);
        free(c->group);
        free(c->series);
    }
    free(r->checks);
    memset(r, 0, sizeof *r);
}
