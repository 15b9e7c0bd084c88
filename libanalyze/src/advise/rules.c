/* Rule files (memtrace-rules(5)): YAML read with libyaml's document API,
 * checked key by key so that every mistake is reported with its line,
 * column and the key or value at fault, then merged into a rule set. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "advise/advise_impl.h"
#include "common/nametable.h"
#include "common/array.h"
#include "memtrace/text.h"
#include "memtrace/units.h"
#include "common/names.h"
#include "io/yamldoc.h"

typedef struct parse {
    mt__ydoc y;
    const mt_rules *set;
    mt__rule *staged;     /* this file's rules: new ones and overrides */
    size_t n_staged, cap_staged;
    size_t *target;       /* per staged rule: the index it replaces, or SIZE_MAX */
    size_t cap_target;
    char **disable;       /* ids the file switches off */
    size_t n_disable;
    yaml_node_t **disable_nodes;
    /* Ids by hash, so that a file of many rules costs linear time: name i
     * of staged_ids is staged rule i, of set_ids rule i of the set; an id
     * looked up and absent is added past the end, which reads as absent
     * again (index >= the count). */
    mt__names staged_ids, set_ids;
    int set_indexed;
} parse;

static int get_str(parse *p, yaml_node_t *n, const char *what, char **out) {
    if (mt__ywant(&p->y, n, YAML_SCALAR_NODE, what)) return MT_E_INVAL;
    char *s = strdup(mt__yscalar(n));
    if (!s) return mt__ynomem(&p->y);
    free(*out);
    *out = s;
    return 0;
}

static int scope_of(const char *s) {
    if (!strcmp(s, "column")) return MT__SCOPE_COLUMN;
    if (!strcmp(s, "frame")) return MT__SCOPE_FRAME;
    if (!strcmp(s, "step")) return MT__SCOPE_STEP;
    if (!strcmp(s, "gpu")) return MT__SCOPE_GPU;
    return 0;
}

static const char *scope_name(unsigned scope) {
    switch (scope) {
    case MT__SCOPE_COLUMN: return "column";
    case MT__SCOPE_FRAME: return "frame";
    case MT__SCOPE_STEP: return "step";
    case MT__SCOPE_GPU: return "gpu";
    default: return "?";
    }
}

/* Checks the {name} placeholders of a message or target against the
 * scope's fields (string fields only when strings_only) and the action's
 * variables. "{{" and "}}" stand for braces. */
static int check_template(parse *p, yaml_node_t *n, const char *what, const char *s, unsigned scope,
                          int strings_only) {
    for (const char *c = s; *c; c++) {
        if ((c[0] == '{' && c[1] == '{') || (c[0] == '}' && c[1] == '}')) {
            c++;
            continue;
        }
        if (*c == '}') return mt__ybad(&p->y, n, "%s: '}' without '{' (write '}}' for a brace)", what);
        if (*c != '{') continue;
        const char *end = strchr(c, '}');
        if (!end) return mt__ybad(&p->y, n, "%s: '{' without '}' (write '{{' for a brace)", what);
        size_t len = (size_t)(end - c - 1);
        int f = mt__field_find(scope, c + 1, len);
        if (f < 0 && (strings_only || mt__action_var_find(c + 1, len) < 0))
            return mt__ybad(&p->y, n, "%s: unknown placeholder '{%.*s}' for scope %s", what, (int)len, c + 1, scope_name(scope));
        if (f >= 0 && strings_only && mt__fields[f].type != MT__FT_STR)
            return mt__ybad(&p->y, n, "%s: '{%.*s}' is not a string field", what, (int)len, c + 1);
        c = end;
    }
    return 0;
}

static void term_free(mt__term *t) {
    for (size_t i = 0; t->str && i < t->n; i++) free(t->str[i]);
    free(t->str);
    free(t->num);
}

static void cond_free(mt__cond *c) {
    for (size_t i = 0; i < c->n; i++) term_free(&c->terms[i]);
    free(c->terms);
}

static void rule_free(mt__rule *r) {
    free(r->id);
    free(r->description);
    free(r->kind);
    free(r->to);
    free(r->message);
    free(r->file);
    for (size_t i = 0; i < r->n_conds; i++) cond_free(&r->conds[i]);
    free(r->conds);
    memset(r, 0, sizeof *r);
}

static char *dup_or_null(const char *s, int *fail) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *fail = 1;
    return d;
}

static int rule_clone(const mt__rule *src, mt__rule *dst) {
    int fail = 0;
    *dst = *src;
    dst->id = dup_or_null(src->id, &fail);
    dst->description = dup_or_null(src->description, &fail);
    dst->kind = dup_or_null(src->kind, &fail);
    dst->to = dup_or_null(src->to, &fail);
    dst->message = dup_or_null(src->message, &fail);
    dst->file = dup_or_null(src->file, &fail);
    dst->conds = calloc(src->n_conds ? src->n_conds : 1, sizeof *dst->conds);
    dst->n_conds = 0;
    dst->cap_conds = src->n_conds ? src->n_conds : 1;
    if (!dst->conds) fail = 1;
    for (size_t i = 0; !fail && i < src->n_conds; i++) {
        const mt__cond *c = &src->conds[i];
        mt__cond *d = &dst->conds[dst->n_conds++];
        d->field = c->field;
        d->n = 0;
        if (!(d->terms = calloc(c->n ? c->n : 1, sizeof *d->terms))) {
            fail = 1;
            break;
        }
        for (size_t j = 0; !fail && j < c->n; j++) {
            const mt__term *t = &c->terms[j];
            mt__term *u = &d->terms[d->n++];
            *u = *t;
            u->num = NULL;
            u->str = NULL;
            if (t->num && (u->num = malloc(t->n * sizeof *u->num))) memcpy(u->num, t->num, t->n * sizeof *u->num);
            else if (t->num) fail = 1;
            if (t->str && (u->str = calloc(t->n, sizeof *u->str)))
                for (size_t k = 0; k < t->n; k++) u->str[k] = dup_or_null(t->str[k], &fail);
            else if (t->str) fail = 1;
        }
    }
    if (fail) {
        rule_free(dst);
        return -1;
    }
    return 0;
}

static const char *const op_names[] = { "eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "matches", NULL };

/* "a, b or c" from a NULL-terminated table, so that messages list what
 * the tables hold. */
static const char *one_of(const char *const *names, char *buf, size_t n) {
    size_t count = 0;
    while (names[count]) count++;
    return mt_text_list(buf, n, names, count, 0, " or ");
}

/* One term's value(s), typed by the field. */
static int parse_term(parse *p, yaml_node_t *v, const mt__fdesc *f, int op, mt__term *t) {
    t->op = op;
    int list = op == MT__OP_IN || op == MT__OP_NOT_IN;
    if (list && mt__ywant(&p->y, v, YAML_SEQUENCE_NODE, op == MT__OP_IN ? "in" : "not_in")) return MT_E_INVAL;
    if (!list && mt__ywant(&p->y, v, YAML_SCALAR_NODE, f->name)) return MT_E_INVAL;
    size_t n = list ? (size_t)(v->data.sequence.items.top - v->data.sequence.items.start) : 1;
    if (list && !n) return mt__ybad(&p->y, v, "%s: the list is empty", op_names[op]);
    if (f->type == MT__FT_BOOL) {
        if (op != MT__OP_EQ && op != MT__OP_NE)
            return mt__ybad(&p->y, v, "%s is true or false: use eq or ne, not %s", f->name, op_names[op]);
        return mt__ybool(&p->y, v, f->name, &t->b);
    }
    if (op >= MT__OP_LT && op <= MT__OP_GE && f->type != MT__FT_NUM)
        return mt__ybad(&p->y, v, "%s is a string: %s compares numbers", f->name, op_names[op]);
    if (op == MT__OP_MATCHES && f->type != MT__FT_STR)
        return mt__ybad(&p->y, v, "%s is a number: matches takes a string field", f->name);
    t->n = n;
    if (f->type == MT__FT_NUM && !(t->num = calloc(n, sizeof *t->num))) return mt__ynomem(&p->y);
    if (f->type == MT__FT_STR && !(t->str = calloc(n, sizeof *t->str))) return mt__ynomem(&p->y);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *e = list ? mt__ynode(&p->y, v->data.sequence.items.start[i]) : v;
        if (mt__ywant(&p->y, e, YAML_SCALAR_NODE, "a value")) return MT_E_INVAL;
        if (f->type == MT__FT_NUM) {
            if (mt__ynumber(mt__yscalar(e), &t->num[i]))
                return mt__ybad(&p->y, e, "%s takes a number (with %%, B, KiB, MiB, GiB ...), not '%s'", f->name, mt__yscalar(e));
        } else if (!(t->str[i] = strdup(mt__yscalar(e))))
            return mt__ynomem(&p->y);
    }
    return 0;
}

/* A condition: `field: value`, `field: [a, b]` or `field: {op: value ...}`. */
static int parse_cond(parse *p, yaml_node_t *k, yaml_node_t *v, unsigned scope, mt__cond *c) {
    const char *name = mt__yscalar(k);
    int fi = mt__field_find(scope, name, strlen(name));
    if (fi < 0) return mt__ybad(&p->y, k, "unknown field '%s' for scope %s (memtrace-rules(5) lists them)", name, scope_name(scope));
    const mt__fdesc *f = &mt__fields[fi];
    c->field = fi;
    size_t n = v->type == YAML_MAPPING_NODE ? (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start) : 1;
    if (!n) return mt__ybad(&p->y, v, "%s: the mapping of tests is empty", name);
    if (!(c->terms = calloc(n, sizeof *c->terms))) return mt__ynomem(&p->y);
    if (v->type == YAML_SCALAR_NODE) {
        c->n = 1;
        return parse_term(p, v, f, MT__OP_EQ, &c->terms[0]);
    }
    if (v->type == YAML_SEQUENCE_NODE) {
        c->n = 1;
        return parse_term(p, v, f, MT__OP_IN, &c->terms[0]);
    }
    int krc = mt__ykeys(&p->y, v);
    if (krc) return krc;
    for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
        yaml_node_t *ok = mt__ynode(&p->y, a->key);
        int op = 0;
        while (op_names[op] && strcmp(op_names[op], mt__yscalar(ok))) op++;
        if (!op_names[op]) {
            char names[128];
            return mt__ybad(&p->y, ok, "unknown test '%s' (expected %s)", mt__yscalar(ok), one_of(op_names, names, sizeof names));
        }
        int rc = parse_term(p, mt__ynode(&p->y, a->value), f, op, &c->terms[c->n++]);
        if (rc) return rc;
    }
    return 0;
}

/* Replaces r's condition on the same field, or appends c. */
static int put_cond(parse *p, mt__rule *r, mt__cond *c) {
    for (size_t i = 0; i < r->n_conds; i++)
        if (r->conds[i].field == c->field) {
            cond_free(&r->conds[i]);
            r->conds[i] = *c;
            return 0;
        }
    if (mt__grow((void **)&r->conds, &r->cap_conds, r->n_conds, sizeof *r->conds)) return mt__ynomem(&p->y);
    r->conds[r->n_conds++] = *c;
    return 0;
}

static int parse_when(parse *p, yaml_node_t *m, mt__rule *r) {
    int krc = mt__ymap(&p->y, m, "when");
    if (krc) return krc;
    for (yaml_node_pair_t *a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top; a++) {
        mt__cond c = { 0 };
        int rc = parse_cond(p, mt__ynode(&p->y, a->key), mt__ynode(&p->y, a->value), r->scope, &c);
        if (!rc) rc = put_cond(p, r, &c);
        if (rc) {
            cond_free(&c);
            return rc;
        }
    }
    return 0;
}

static int parse_action(parse *p, yaml_node_t *m, mt__rule *r) {
    int krc = mt__ymap(&p->y, m, "action");
    if (krc) return krc;
    for (yaml_node_pair_t *a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top; a++) {
        yaml_node_t *k = mt__ynode(&p->y, a->key), *v = mt__ynode(&p->y, a->value);
        const char *key = mt__yscalar(k);
        int rc = 0;
        if (!strcmp(key, "kind")) rc = get_str(p, v, "kind", &r->kind);
        else if (!strcmp(key, "to")) {
            if (!(rc = get_str(p, v, "to", &r->to))) rc = check_template(p, v, "to", r->to, r->scope, 1);
        } else if (!strcmp(key, "message")) {
            if (!(rc = get_str(p, v, "message", &r->message)))
                rc = check_template(p, v, "message", r->message, r->scope, 0);
        } else if (!strcmp(key, "lossless")) rc = mt__ybool(&p->y, v, "lossless", &r->lossless);
        else if (!strcmp(key, "saving")) {
            if (mt__ywant(&p->y, v, YAML_SCALAR_NODE, "saving")) return MT_E_INVAL;
            int i = 0;
            while (mt__saving_names[i] && strcmp(mt__saving_names[i], mt__yscalar(v))) i++;
            if (!mt__saving_names[i]) {
                char names[128];
                return mt__ybad(&p->y, v, "unknown saving model '%s' (expected %s)", mt__yscalar(v),
                           one_of(mt__saving_names, names, sizeof names));
            }
            r->saving = i;
        } else if (!strcmp(key, "budget_fraction")) {
            double f;
            if (mt__ywant(&p->y, v, YAML_SCALAR_NODE, "budget_fraction")) return MT_E_INVAL;
            if (mt__ynumber(mt__yscalar(v), &f) || f <= 0 || f > 1)
                return mt__ybad(&p->y, v, "budget_fraction must be a number in (0, 1], not '%s'", mt__yscalar(v));
            r->budget_fraction = f;
        } else
            return mt__ybad(&p->y, k, "unknown action key '%s' (expected kind, to, saving, lossless, budget_fraction or message)",
                       key);
        if (rc) return rc;
    }
    return 0;
}

static int valid_id(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-_.", *s)) return 0;
    return 1;
}

/* The index of id among the first n names of t (SIZE_MAX when absent),
 * or -1 when memory runs out. */
static int find_id(mt__names *t, size_t n, const char *id, size_t *at) {
    int64_t i = mt__names_index(t, id, strlen(id));
    if (i < 0) return -1;
    *at = (size_t)i < n ? (size_t)i : SIZE_MAX;
    return 0;
}

/* Rule id's index in the set, or SIZE_MAX. @return 0 or -1 (no memory). */
static int find_in_set(parse *p, const char *id, size_t *at) {
    if (!p->set_indexed) {
        for (size_t i = 0; i < p->set->n; i++)
            if (mt__names_index(&p->set_ids, p->set->rules[i].id, strlen(p->set->rules[i].id)) < 0) return -1;
        p->set_indexed = 1;
    }
    return find_id(&p->set_ids, p->set->n, id, at);
}

/* One entry of `rules:`. */
static int parse_rule(parse *p, yaml_node_t *m) {
    int krc = mt__ymap(&p->y, m, "a rule");
    if (krc) return krc;
    yaml_node_t *idn = NULL, *scopen = NULL;
    for (yaml_node_pair_t *a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top; a++) {
        const char *key = mt__yscalar(mt__ynode(&p->y, a->key));
        if (!strcmp(key, "id")) idn = mt__ynode(&p->y, a->value);
        if (!strcmp(key, "scope")) scopen = mt__ynode(&p->y, a->value);
    }
    if (!idn) return mt__ybad(&p->y, m, "a rule needs an id");
    if (mt__ywant(&p->y, idn, YAML_SCALAR_NODE, "id")) return MT_E_INVAL;
    const char *id = mt__yscalar(idn);
    if (!valid_id(id)) return mt__ybad(&p->y, idn, "id '%s' may hold only letters, digits, '-', '_' and '.'", id);
    size_t twice, at;
    if (find_id(&p->staged_ids, p->n_staged, id, &twice) || find_in_set(p, id, &at)) return mt__ynomem(&p->y);
    if (twice != SIZE_MAX) return mt__ybad(&p->y, idn, "rule '%s' is defined twice in this file", id);
    if (mt__grow((void **)&p->staged, &p->cap_staged, p->n_staged, sizeof *p->staged)) return mt__ynomem(&p->y);
    if (mt__grow((void **)&p->target, &p->cap_target, p->n_staged, sizeof *p->target)) return mt__ynomem(&p->y);
    mt__rule *r = &p->staged[p->n_staged];
    const mt__rule *old = at != SIZE_MAX ? &p->set->rules[at] : NULL;
    if (old) {
        if (rule_clone(old, r)) return mt__ynomem(&p->y);
    } else {
        memset(r, 0, sizeof *r);
        r->enabled = r->saving = r->lossless = -1;
        if (!(r->id = strdup(id))) return mt__ynomem(&p->y);
    }
    p->target[p->n_staged++] = at;
    free(r->file);
    if (!(r->file = strdup(p->y.file))) return mt__ynomem(&p->y);
    r->line = (uint32_t)m->start_mark.line + 1;

    if (scopen) {
        if (mt__ywant(&p->y, scopen, YAML_SCALAR_NODE, "scope")) return MT_E_INVAL;
        unsigned s = (unsigned)scope_of(mt__yscalar(scopen));
        if (!s && !strcmp(mt__yscalar(scopen), "operation"))
            return mt__ybad(&p->y, scopen, "scope 'operation' needs the predicted peaks of memtrace-predict, which this "
                                  "version does not have");
        if (!s) return mt__ybad(&p->y, scopen, "unknown scope '%s' (expected column, frame, step or gpu)", mt__yscalar(scopen));
        if (old && s != old->scope && old->n_conds)
            return mt__ybad(&p->y, scopen, "rule '%s' changes its scope from %s to %s: its conditions would not apply", id,
                       scope_name(old->scope), scope_name(s));
        r->scope = s;
    } else if (!old)
        return mt__ybad(&p->y, m, "rule '%s' needs a scope (column, frame, step or gpu)", id);

    for (yaml_node_pair_t *a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top; a++) {
        yaml_node_t *k = mt__ynode(&p->y, a->key), *v = mt__ynode(&p->y, a->value);
        const char *key = mt__yscalar(k);
        int rc = 0;
        if (!strcmp(key, "id") || !strcmp(key, "scope")) continue;
        if (!strcmp(key, "description")) rc = get_str(p, v, "description", &r->description);
        else if (!strcmp(key, "severity")) {
            if (mt__ywant(&p->y, v, YAML_SCALAR_NODE, "severity")) return MT_E_INVAL;
            mt_severity s;
            if (mt_severity_from_name(mt__yscalar(v), &s)) return mt__ybad(&p->y, v, "unknown severity '%s' (expected info, warning or error)", mt__yscalar(v));
            r->severity = s;
        } else if (!strcmp(key, "enabled")) rc = mt__ybool(&p->y, v, "enabled", &r->enabled);
        else if (!strcmp(key, "when")) rc = parse_when(p, v, r);
        else if (!strcmp(key, "action")) rc = parse_action(p, v, r);
        else
            return mt__ybad(&p->y, k, "unknown rule key '%s' (expected id, description, scope, severity, enabled, when or "
                             "action)", key);
        if (rc) return rc;
    }

    /* A new rule must be complete; defaults for what it may leave out. */
    if (!r->message) return mt__ybad(&p->y, m, "rule '%s' needs action: message", id);
    if (r->severity == 0) r->severity = MT_SEV_WARNING;
    if (r->enabled < 0) r->enabled = 1;
    if (r->lossless < 0) r->lossless = 0;
    if (r->saving < 0) r->saving = r->to ? MT__SAVE_ASTYPE : MT__SAVE_NONE;
    if (!r->kind && !(r->kind = strdup(r->saving == MT__SAVE_ASTYPE ? "dtype" : "advice"))) return mt__ynomem(&p->y);
    if (!(mt__saving_scopes[r->saving] & r->scope))
        return mt__ybad(&p->y, m, "rule '%s': saving '%s' does not apply to scope %s", id, mt__saving_names[r->saving],
                   scope_name(r->scope));
    if (r->saving == MT__SAVE_ASTYPE && !r->to) return mt__ybad(&p->y, m, "rule '%s': saving astype needs action: to", id);
    return 0;
}

static int parse_doc(parse *p) {
    yaml_node_t *root = yaml_document_get_root_node(&p->y.doc);
    if (!root) return mt__ybad(&p->y, NULL, "the file is empty: expected a mapping with 'rules'");
    int krc = mt__ymap(&p->y, root, "a rule file");
    if (krc) return krc;
    for (yaml_node_pair_t *a = root->data.mapping.pairs.start; a < root->data.mapping.pairs.top; a++) {
        yaml_node_t *k = mt__ynode(&p->y, a->key), *v = mt__ynode(&p->y, a->value);
        const char *key = mt__yscalar(k);
        double ver;
        if (!strcmp(key, "version")) {
            if (mt__ywant(&p->y, v, YAML_SCALAR_NODE, "version")) return MT_E_INVAL;
            if (mt__ynumber(mt__yscalar(v), &ver) || ver != 1)
                return mt__ybad(&p->y, v, "version %s is not one this reader knows (1)", mt__yscalar(v));
        } else if (!strcmp(key, "rules")) {
            if (mt__ywant(&p->y, v, YAML_SEQUENCE_NODE, "rules")) return MT_E_INVAL;
            for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
                int rc = parse_rule(p, mt__ynode(&p->y, *i));
                if (rc) return rc;
            }
        } else if (!strcmp(key, "disable")) {
            if (mt__ywant(&p->y, v, YAML_SEQUENCE_NODE, "disable")) return MT_E_INVAL;
            size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            p->disable_nodes = calloc(n ? n : 1, sizeof *p->disable_nodes);
            if (!p->disable_nodes) return mt__ynomem(&p->y);
            for (size_t i = 0; i < n; i++) {
                yaml_node_t *e = mt__ynode(&p->y, v->data.sequence.items.start[i]);
                if (mt__ywant(&p->y, e, YAML_SCALAR_NODE, "an id in disable")) return MT_E_INVAL;
                p->disable_nodes[p->n_disable++] = e;
            }
        } else
            return mt__ybad(&p->y, k, "unknown key '%s' (expected version, rules or disable)", key);
    }
    for (size_t i = 0; i < p->n_disable; i++) {
        const char *id = mt__yscalar(p->disable_nodes[i]);
        size_t in_file, in_set;
        if (find_id(&p->staged_ids, p->n_staged, id, &in_file) || find_in_set(p, id, &in_set))
            return mt__ynomem(&p->y);
        if (in_file == SIZE_MAX && in_set == SIZE_MAX)
            return mt__ybad(&p->y, p->disable_nodes[i], "disable: no rule has the id '%s'", id);
    }
    return 0;
}

int mt_rules_new(mt_rules **out) {
    *out = calloc(1, sizeof **out);
    return *out ? 0 : MT_E_NOMEM;
}

void mt_rules_free(mt_rules *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) rule_free(&r->rules[i]);
    free(r->rules);
    free(r);
}

int mt_rules_add(mt_rules *r, const char *name, const char *text, size_t len, mt_diag *diag) {
    mt_diag_clear(diag);
    parse p;
    memset(&p, 0, sizeof p);
    p.set = r;
    int rc = mt__ydoc_load(&p.y, name, "the rules", text, len, diag);
    if (!rc) rc = parse_doc(&p);
    /* Grow the set before committing anything, so that failure leaves it whole. */
    size_t adds = 0;
    for (size_t i = 0; i < p.n_staged; i++) adds += p.target[i] == SIZE_MAX;
    if (!rc && mt__reserve((void **)&r->rules, &r->cap, r->n + adds, sizeof *r->rules)) rc = mt__ynomem(&p.y);
    /* Where each disabled rule will be once committed, found before
     * anything changes, so that running out of memory leaves the set whole. */
    size_t *dis_at = NULL;
    if (!rc && p.n_disable) {
        size_t *pos = malloc((p.n_staged ? p.n_staged : 1) * sizeof *pos);
        dis_at = malloc(p.n_disable * sizeof *dis_at);
        if (!pos || !dis_at) rc = mt__ynomem(&p.y);
        for (size_t k = 0, next = r->n; !rc && k < p.n_staged; k++)
            pos[k] = p.target[k] != SIZE_MAX ? p.target[k] : next++;
        for (size_t i = 0; !rc && i < p.n_disable; i++) {
            const char *id = mt__yscalar(p.disable_nodes[i]);
            size_t k, at;
            if (find_id(&p.staged_ids, p.n_staged, id, &k) || find_in_set(&p, id, &at)) rc = mt__ynomem(&p.y);
            else dis_at[i] = k != SIZE_MAX ? pos[k] : at;
        }
        free(pos);
        if (rc) {
            free(dis_at);
            dis_at = NULL;
        }
    }
    for (size_t i = 0; i < p.n_staged; i++) {
        if (rc) {
            rule_free(&p.staged[i]);
            continue;
        }
        if (p.target[i] == SIZE_MAX) r->rules[r->n++] = p.staged[i];
        else {
            rule_free(&r->rules[p.target[i]]);
            r->rules[p.target[i]] = p.staged[i];
        }
    }
    for (size_t i = 0; dis_at && i < p.n_disable; i++)
        if (dis_at[i] != SIZE_MAX) r->rules[dis_at[i]].enabled = 0;
    free(dis_at);
    free(p.staged);
    free(p.target);
    free(p.disable_nodes);
    mt__names_free(&p.staged_ids);
    mt__names_free(&p.set_ids);
    mt__ydoc_free(&p.y);
    if (rc && diag) diag->file = name;
    return rc;
}

int mt_rules_add_file(mt_rules *r, const char *path, mt_diag *diag) {
    char *buf;
    size_t len;
    int rc = mt__read_file(path, "the rules", &buf, &len, diag);
    if (rc) return rc;
    rc = mt_rules_add(r, path, buf ? buf : "", len, diag);
    free(buf);
    return rc;
}

size_t mt_rules_count(const mt_rules *r) {
    return r->n;
}

void mt_rules_get(const mt_rules *r, size_t i, mt_rule_info *out) {
    const mt__rule *x = &r->rules[i];
    out->id = x->id;
    out->description = x->description ? x->description : "";
    out->scope = scope_name(x->scope);
    out->kind = x->kind;
    out->severity = x->severity;
    out->enabled = x->enabled;
    out->file = x->file;
    out->line = x->line;
}

static const char *const sev_names[] = { [MT_SEV_INFO] = "info", [MT_SEV_WARNING] = "warning",
                                         [MT_SEV_ERROR] = "error" };

const char *mt_severity_name(mt_severity sev) { return mt__name_of(sev_names, MT__NAMES_N(sev_names), (unsigned)sev); }

int mt_severity_from_name(const char *name, mt_severity *out) {
    int i = mt__name_find(sev_names, MT__NAMES_N(sev_names), name);
    if (i < 0) return MT_E_INVAL;
    *out = (mt_severity)i;
    return 0;
}
