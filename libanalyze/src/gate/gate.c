/* Memory budgets for CI (gate.h): the policy file and the checks. */
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/array.h"
#include "memtrace/frames.h"
#include "memtrace/gate.h"
#include "memtrace/leaks.h"
#include "memtrace/text.h"
#include "memtrace/units.h"
#include "memtrace/strbuf.h"
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
    N_BUDGETS
};

/* How a budget's value is written: bytes (64 MiB), percent (10 or 10%),
 * a confidence in 0..1, a severity name. */
enum { U_BYTES, U_PERCENT, U_CONFIDENCE, U_SEVERITY };

static const struct {
    const char *name;
    int unit;
} budgets[N_BUDGETS] = {
    { "total_growth_bytes", U_BYTES },   { "total_growth_percent", U_PERCENT }, { "group_growth_bytes", U_BYTES },
    { "group_growth_percent", U_PERCENT }, { "peak_bytes", U_BYTES },         { "leak_confidence", U_CONFIDENCE },
    { "advice_severity", U_SEVERITY },
};

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

/* Exact (mt_parse_bytes): "18446744073709551616", "1e19" or "0x10" must
 * not wrap or round into a budget that passes everything. The budgets are
 * compared as doubles; 2^64-1 rounds up to 2^64, which hb() shows as
 * "more than 16 EiB". */
static int get_size(mt__ydoc *y, yaml_node_t *v, const char *key, double *out) {
    const char *s = mt__yscalar(v);
    uint64_t b;
    if (!s || mt_parse_bytes(s, &b))
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
        int sev = s ? mt_severity_parse(s) : 0;
        if (sev <= 0)
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
        int b = 0;
        while (b < N_BUDGETS && strcmp(budgets[b].name, mt__yscalar(k))) b++;
        if (b == N_BUDGETS)
            return mt__ybad(y, k,
                            "unknown budget '%s' (expected total_growth_bytes, total_growth_percent, "
                            "group_growth_bytes, group_growth_percent, peak_bytes, leak_confidence or "
                            "advice_severity)",
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
            if (!s || mt_group_by_parse(s, &p->by))
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
        } else {
            rc = mt__ybad(y, k,
                          "unknown key '%s' (expected budgets, allow, group_by, group_min_bytes, peak_series, "
                          "available or version)",
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

/* A growing string for summaries and details. */
typedef mt_sbuf text;

static const char *hb(double bytes, char *buf) {
    /* 2^64 and above do not convert: shown as saturated. */
    return mt_human_bytes(bytes >= 18446744073709551616.0 ? UINT64_MAX : bytes > 0 ? (uint64_t)bytes : 0, buf);
}

/* Appends a name from a snapshot or a policy as terminal-safe text
 * (MT_TEXT_TERMINAL): details are lines joined by '\n', so a name's own
 * newline would split one, and its ESC or BEL would reach a terminal or a
 * CI log raw. */
static void put_name(text *t, const char *s) {
    size_t n = strlen(s);
    char small[256];
    size_t need = mt_text_escape(small, sizeof small, MT_TEXT_TERMINAL, s, n);
    if (need < sizeof small) {
        mt_sbuf_put(t, small, need);
        return;
    }
    char *big = malloc(need + 1);
    if (!big) {
        t->fail = 1;
        return;
    }
    mt_text_escape(big, need + 1, MT_TEXT_TERMINAL, s, n);
    mt_sbuf_put(t, big, need);
    free(big);
}

/* The change from a to b, signed: "+1.5 MiB". */
static const char *change(uint64_t a, uint64_t b, char *buf) {
    return mt_change_bytes(a, b, buf);
}

static int check_add(mt_gate_result *r, int b, double limit, double actual, size_t offenders, text *summary,
                     text *details) {
    if (summary->fail || details->fail) {
        free(summary->s);
        free(details->s);
        return MT_E_NOMEM;
    }
    mt_gate_check *c = &r->checks[r->n_checks++];
    c->budget = budgets[b].name;
    c->limit = limit;
    c->actual = actual;
    c->n_offenders = offenders;
    c->passed = offenders == 0;
    c->summary = summary->s;
    c->details = details->s;
    if (!c->passed) r->failed++;
    return 0;
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

static void growth_line(text *t, const mt_diff_row *row) {
    char h1[16], h2[16], h3[24];
    put_name(t, row->group);
    mt_sbuf_printf(t, ": %s (%s -> %s", change(row->bytes_a, row->bytes_b, h3),
        hb((double)row->bytes_a, h1), hb((double)row->bytes_b, h2));
    double p = pct((double)row->bytes_a, (double)row->bytes_b);
    if (isinf(p)) mt_sbuf_printf(t, ", new)");
    else if (isnan(p)) mt_sbuf_printf(t, ", change unknown)");
    else mt_sbuf_printf(t, ", %+.1f%%)", p);
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
    text sum = { 0 }, det = { 0 };
    char h[16];
    const char *lim = percent ? NULL : hb(p->limit[b], h);
    if (n) {
        if (percent) mt_sbuf_printf(&sum, "%zu group%s grew by more than %g%%: ", n, n == 1 ? "" : "s", p->limit[b]);
        else mt_sbuf_printf(&sum, "%zu group%s grew by more than %s: ", n, n == 1 ? "" : "s", lim);
        for (size_t k = 0; k < n && k < 3; k++) {
            const mt_diff_row *row = &d->rows[off[k].row];
            char h3[24];
            if (percent) {
                double pc = pct((double)row->bytes_a, (double)row->bytes_b);
                mt_sbuf_printf(&sum, "%s", k ? ", " : "");
                put_name(&sum, row->group);
                if (isnan(pc)) mt_sbuf_printf(&sum, " unknown");
                else if (isinf(pc)) mt_sbuf_printf(&sum, " new");
                else mt_sbuf_printf(&sum, " %+.1f%%", pc);
            } else {
                mt_sbuf_printf(&sum, "%s", k ? ", " : "");
                put_name(&sum, row->group);
                mt_sbuf_printf(&sum, " %s", change(row->bytes_a, row->bytes_b, h3));
            }
        }
        if (n > 3) mt_sbuf_printf(&sum, ", and %zu more", n - 3);
        for (size_t k = 0; k < n; k++) {
            growth_line(&det, &d->rows[off[k].row]);
            char hl[16];
            if (percent) mt_sbuf_printf(&det, ", limit %g%%", off[k].limit);
            else mt_sbuf_printf(&det, ", limit %s", hb(off[k].limit, hl));
            if (off[k].by) {
                mt_sbuf_printf(&det, " (allowance ");
                put_name(&det, off[k].by->group);
                mt_sbuf_printf(&det, ")");
            }
            mt_sbuf_printf(&det, "\n");
        }
    } else if (worst_row == SIZE_MAX) {
        mt_sbuf_printf(&sum, "no group to check");
    } else {
        mt_sbuf_printf(&sum, "largest: ");
        growth_line(&sum, &d->rows[worst_row]);
        if (percent) mt_sbuf_printf(&sum, ", within %g%%", p->limit[b]);
        else mt_sbuf_printf(&sum, ", within %s", lim);
    }
    free(off);
    return check_add(r, b, p->limit[b], worst_row == SIZE_MAX ? 0 : worst, n, &sum, &det);
}

static int check_totals(const mt_gate_policy *p, const mt_diff *d, int b, mt_gate_result *r) {
    double a = (double)d->total.bytes_a, c = (double)d->total.bytes_b, delta = c - a;
    double actual = b == B_TOTAL_PERCENT ? pct(a, c) : delta;
    text sum = { 0 }, det = { 0 };
    char h1[16], h2[16], h3[24], hl[16];
    mt_sbuf_printf(&sum, "total %s", change(d->total.bytes_a, d->total.bytes_b, h3));
    int unk = unknown(d->total.bytes_a, d->total.bytes_b);
    if (unk) mt_sbuf_printf(&sum, " (a total is more than 16 EiB)");
    else if (isinf(pct(a, c))) mt_sbuf_printf(&sum, " (from nothing)");
    else mt_sbuf_printf(&sum, " (%+.1f%%)", pct(a, c));
    mt_sbuf_printf(&sum, ": %s -> %s, ", hb(a, h1), hb(c, h2));
    int over = unk || (delta > 0 && actual > p->limit[b]);
    if (unk) actual = INFINITY;
    if (b == B_TOTAL_PERCENT) mt_sbuf_printf(&sum, "%s %g%%", over ? "over" : "within", p->limit[b]);
    else mt_sbuf_printf(&sum, "%s %s", over ? "over" : "within", hb(p->limit[b], hl));
    return check_add(r, b, p->limit[b], actual, (size_t)over, &sum, &det);
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
    if (s->series.len == c->len && !memcmp(s->series.ptr, c->series, c->len) && !isnan(s->value)) {
        if (!c->found || s->value > c->max) c->max = s->value;
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
        rc = mt_snapshot_each(s, MT_KIND_SAMPLE, on_sample, &c, diag);
        if (!c.found) c.found = mt_snapshot_meta_number(s, p->peak_series, &c.max);
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
    text sum = { 0 }, det = { 0 };
    char h1[16], h2[16];
    int over = peak > p->limit[B_PEAK_BYTES];
    mt_sbuf_printf(&sum, "peak ");
    put_name(&sum, p->peak_series);
    mt_sbuf_printf(&sum, " %s in %s, %s %s", hb(peak, h1), where, over ? "over" : "within",
        hb(p->limit[B_PEAK_BYTES], h2));
    return check_add(r, B_PEAK_BYTES, p->limit[B_PEAK_BYTES], peak, (size_t)over, &sum, &det);
}

/* The leak analysis of a series; only its suspects are read. */
static int suspects_of(const char *const *paths, size_t n, mt_leaks *l, mt_diag *diag) {
    mt_snapshot *last = NULL;
    int rc = mt_leaks_compute(paths, n, 0, NULL, l, &last, diag);
    mt_snapshot_free(last);
    return rc;
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
    int rc = suspects_of(in->current, in->n_current, &cur, diag);
    if (!rc && in->n_baseline >= 3) rc = suspects_of(in->baseline, in->n_baseline, &base, diag);
    text sum = { 0 }, det = { 0 };
    size_t n = 0, known = 0;
    double worst = 0;
    for (size_t i = 0; !rc && i < cur.n_suspects; i++) {
        const mt_leak_suspect *s = &cur.suspects[i];
        const char *type = cur.groups[s->group].type;
        int old = 0;
        for (size_t j = 0; j < base.n_suspects && !old; j++)
            old = !strcmp(base.groups[base.suspects[j].group].type, type);
        if (old) {
            known++;
            continue;
        }
        if (s->confidence > worst) worst = s->confidence;
        if (s->confidence < p->limit[B_LEAK_CONFIDENCE]) continue;
        char h[16];
        put_name(&det, type);
        mt_sbuf_printf(&det, ": %llu objects (%s) a snapshot, confidence %.2f\n",
            (unsigned long long)s->objects_per_snapshot, hb((double)s->bytes_per_snapshot, h), s->confidence);
        if (n < 3) {
            if (n) mt_sbuf_printf(&sum, ", ");
            else mt_sbuf_printf(&sum, "new leak suspects at or above %g: ", p->limit[B_LEAK_CONFIDENCE]);
            put_name(&sum, type);
            mt_sbuf_printf(&sum, " (%.2f)", s->confidence);
        }
        n++;
    }
    if (!rc) {
        if (n > 3) mt_sbuf_printf(&sum, ", and %zu more", n - 3);
        if (!n) mt_sbuf_printf(&sum, "no new leak suspect at or above %g", p->limit[B_LEAK_CONFIDENCE]);
        if (known) mt_sbuf_printf(&sum, " (%zu suspect%s also in the baseline)", known, known == 1 ? "" : "s");
        rc = check_add(r, B_LEAK_CONFIDENCE, p->limit[B_LEAK_CONFIDENCE], worst, n, &sum, &det);
    } else {
        free(sum.s);
        free(det.s);
    }
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
    mt_advice_list *l = NULL;
    if (!(rc = mt_df_table_load(s, &t, diag)) && !(rc = mt_snapshot_gpu_devices(s, &gpus, &n_gpus, diag))) {
        if (!t->n_frames && !t->n_steps && !n_gpus) {
            rc = mt_diag_set(diag, MT_E_NOTFOUND,
                             "advice_severity needs DataFrame, pipeline or GPU records, and the current snapshot "
                             "has none");
        } else {
            mt_advise_input ai = { t, gpus, n_gpus, p->available > 0 ? p->available : in->available_bytes };
            rc = mt_advise(in->rules, &ai, &l, diag);
        }
    }
    if (rc && diag) diag->file = path;
    text sum = { 0 }, det = { 0 };
    size_t n = 0;
    int worst = 0;
    for (size_t i = 0; !rc && i < l->n; i++) {
        const mt_advice *a = &l->items[i];
        if (a->severity > worst) worst = a->severity;
        if (a->severity < (int)p->limit[B_ADVICE_SEVERITY]) continue;
        char h[16];
        mt_sbuf_printf(&det, "%s [", mt_severity_name(a->severity));
        put_name(&det, a->rule);
        mt_sbuf_printf(&det, "] ");
        put_name(&det, a->message);
        mt_sbuf_printf(&det, " (saves %s)\n", hb((double)a->saving_bytes, h));
        if (n < 3) {
            mt_sbuf_printf(&sum, "%s", n ? ", " : "advice at or above the severity: ");
            put_name(&sum, a->rule);
        }
        n++;
    }
    if (!rc) {
        if (n > 3) mt_sbuf_printf(&sum, ", and %zu more", n - 3);
        if (!n) mt_sbuf_printf(&sum, "no advice at %s or above (%zu below)", mt_severity_name((int)p->limit[B_ADVICE_SEVERITY]),
                    l->n);
        rc = check_add(r, B_ADVICE_SEVERITY, p->limit[B_ADVICE_SEVERITY], worst, n, &sum, &det);
    }
    mt_advice_list_free(l);
    mt_gpu_devices_free(gpus, n_gpus);
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
        memset(&d, 0, sizeof d);
        if (!(rc = load(in->baseline[in->n_baseline - 1], &a, diag)) && !(rc = last_current(in, &cur, diag)))
            rc = mt_diff_compute(a, cur, p->by, &d, diag);
        if (!rc) {
            mt_diff_sort(&d, MT_DIFF_BY_DELTA);
            out->baseline_bytes = d.total.bytes_a;
            out->current_bytes = d.total.bytes_b;
        }
        for (int k = B_TOTAL_BYTES; !rc && k <= B_TOTAL_PERCENT; k++)
            if (p->set[k]) rc = check_totals(p, &d, k, out);
        for (int k = B_GROUP_BYTES; !rc && k <= B_GROUP_PERCENT; k++)
            if (p->set[k]) rc = check_groups(p, &d, k, out);
        mt_diff_free(&d);
        mt_snapshot_free(a);
    }
    if (!rc && p->set[B_PEAK_BYTES]) rc = check_peak(p, in, &cur, out, diag);
    if (!rc && p->set[B_LEAK_CONFIDENCE]) rc = check_leaks(p, in, out, diag);
    if (!rc && p->set[B_ADVICE_SEVERITY]) rc = check_advice(p, in, &cur, out, diag);
    mt_snapshot_free(cur);
    if (rc == MT_E_NOMEM && diag && !diag->msg[0]) mt_diag_set(diag, rc, "out of memory");
    if (rc) mt_gate_result_free(out);
    return rc;
}

void mt_gate_result_free(mt_gate_result *r) {
    for (size_t i = 0; r->checks && i < r->n_checks; i++) {
        free(r->checks[i].summary);
        free(r->checks[i].details);
    }
    free(r->checks);
    memset(r, 0, sizeof *r);
}
