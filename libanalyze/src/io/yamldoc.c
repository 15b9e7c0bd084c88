/* YAML documents for files people write (yamldoc.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/fileio.h"
#include "memtrace/units.h"
#include "common/names.h"
#include "io/yamldoc.h"

/* Fills diag with code, the mark's line and column (when m is not NULL)
 * and the message: the one place YAML errors are made. */
static int bad_at(mt__ydoc *y, const yaml_mark_t *m, int code, const char *fmt, va_list ap) {
    if (!y->diag) return code;
    mt_diag_clear(y->diag);
    y->diag->code = code;
    y->diag->file = y->file;
    if (m) {
        y->diag->line = (uint32_t)m->line + 1;
        y->diag->column = (uint32_t)m->column + 1;
    }
    vsnprintf(y->diag->msg, sizeof y->diag->msg, fmt, ap);
    return code;
}

int mt__ybad(mt__ydoc *y, const yaml_node_t *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = bad_at(y, n ? &n->start_mark : NULL, MT_E_INVAL, fmt, ap);
    va_end(ap);
    return rc;
}

int mt__ynomem(mt__ydoc *y) {
    return mt_diag_set(y->diag, MT_E_NOMEM, "out of memory reading %s", y->what);
}

const char *mt__ykind(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

const char *mt__yscalar(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

yaml_node_t *mt__ynode(mt__ydoc *y, int i) {
    return yaml_document_get_node(&y->doc, i);
}

int mt__ywant(mt__ydoc *y, yaml_node_t *n, yaml_node_type_t type, const char *what) {
    if (n->type == type) return 0;
    return mt__ybad(y, n, "%s must be %s, not %s", what,
                    type == YAML_MAPPING_NODE ? "a mapping" : type == YAML_SEQUENCE_NODE ? "a list" : "a scalar",
                    mt__ykind(n));
}

int mt__ykeys(mt__ydoc *y, yaml_node_t *m) {
    /* A rule's or budget's few keys: compared pairwise, without the set's
     * allocations (at most 120 comparisons). */
    size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    if (n <= 16) {
        for (yaml_node_pair_t *a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top; a++) {
            yaml_node_t *k = mt__ynode(y, a->key);
            if (!mt__yscalar(k)) return mt__ybad(y, k, "keys must be scalars, not %s", mt__ykind(k));
            for (yaml_node_pair_t *b = m->data.mapping.pairs.start; b < a; b++) {
                yaml_node_t *first = mt__ynode(y, b->key);
                if (!strcmp(mt__yscalar(first), mt__yscalar(k)))
                    return mt__ybad(y, k, "key '%s' repeats (first at line %zu)", mt__yscalar(k),
                                    first->start_mark.line + 1);
            }
        }
        return 0;
    }
    /* Each key's index in the set is its pair's: a repeat stops the walk. */
    mt__names seen = { 0 };
    int rc = 0;
    for (yaml_node_pair_t *a = m->data.mapping.pairs.start; !rc && a < m->data.mapping.pairs.top; a++) {
        yaml_node_t *k = mt__ynode(y, a->key);
        const char *s = mt__yscalar(k);
        if (!s) {
            rc = mt__ybad(y, k, "keys must be scalars, not %s", mt__ykind(k));
            break;
        }
        size_t before = seen.n;
        int64_t at = mt__names_index(&seen, s, k->data.scalar.length);
        if (at < 0) rc = mt__ynomem(y);
        else if ((size_t)at < before) {
            yaml_node_t *first = mt__ynode(y, m->data.mapping.pairs.start[at].key);
            rc = mt__ybad(y, k, "key '%s' repeats (first at line %zu)", s, first->start_mark.line + 1);
        }
    }
    mt__names_free(&seen);
    return rc;
}

int mt__ymap(mt__ydoc *y, yaml_node_t *m, const char *what) {
    if (mt__ywant(y, m, YAML_MAPPING_NODE, what)) return MT_E_INVAL;
    return mt__ykeys(y, m);
}

int mt__ynumber(const char *s, double *out) {
    size_t n = s ? strlen(s) : 0;
    if (n > 1 && s[n - 1] == '%' && n < 64) {
        char num[64];
        memcpy(num, s, n - 1);
        num[n - 1] = 0;
        if (n > 2 && num[n - 2] == ' ') return MT_E_PARSE;
        int rc = mt_size_parse(num, out);
        if (rc) return rc;
        *out /= 100;
        return 0;
    }
    return mt_size_parse(s, out);
}

int mt__ybool(mt__ydoc *y, yaml_node_t *n, const char *what, int *out) {
    const char *s = mt__yscalar(n);
    if (s && (!strcmp(s, "true") || !strcmp(s, "True"))) *out = 1;
    else if (s && (!strcmp(s, "false") || !strcmp(s, "False"))) *out = 0;
    else
        return mt__ybad(y, n, "%s must be true or false, not %s%s%s", what, s ? "'" : "", s ? s : mt__ykind(n),
                        s ? "'" : "");
    return 0;
}

static int yaml_error(yaml_parser_t *yp, mt__ydoc *y) {
    if (yp->error == YAML_MEMORY_ERROR) return mt__ynomem(y);
    int rc = mt_diag_set(y->diag, MT_E_PARSE, "%s%s%s", yp->problem ? yp->problem : "not YAML",
                         yp->context ? " " : "", yp->context ? yp->context : "");
    if (y->diag) {
        y->diag->file = y->file;
        y->diag->line = (uint32_t)yp->problem_mark.line + 1;
        y->diag->column = (uint32_t)yp->problem_mark.column + 1;
    }
    return rc;
}

static int event_bad(mt__ydoc *y, const yaml_event_t *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int event_bad(mt__ydoc *y, const yaml_event_t *e, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = bad_at(y, &e->start_mark, code, fmt, ap);
    va_end(ap);
    return rc;
}

/* Walks text's events before any tree is built, stopping at the first
 * list or mapping nested deeper than MT_YAML_MAX_DEPTH, the first alias
 * and the first scalar holding a NUL byte. The scanner costs O(depth) a
 * token, so the walk stays linear in the text up to the bound. */
static int prescan(mt__ydoc *y, const char *text, size_t len) {
    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp)) return mt__ynomem(y);
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    int rc = 0, depth = 0;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&yp, &e)) {
            rc = yaml_error(&yp, y);
            break;
        }
        yaml_event_type_t t = e.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > MT_YAML_MAX_DEPTH)
                rc = event_bad(y, &e, MT_E_LIMIT, "%s nested deeper than the %d levels %s may have",
                               t == YAML_SEQUENCE_START_EVENT ? "a list" : "a mapping", MT_YAML_MAX_DEPTH, y->what);
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        } else if (t == YAML_ALIAS_EVENT) {
            rc = event_bad(y, &e, MT_E_INVAL, "alias '*%s': aliases are not allowed in %s; write the value out",
                           (const char *)e.data.alias.anchor, y->what);
        } else if (t == YAML_SCALAR_EVENT && strlen((const char *)e.data.scalar.value) != e.data.scalar.length) {
            rc = event_bad(y, &e, MT_E_INVAL, "a scalar holds a NUL byte at character %zu, where text is expected",
                           strlen((const char *)e.data.scalar.value) + 1);
        }
        yaml_event_delete(&e);
        if (rc || t == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&yp);
    return rc;
}

int mt__ydoc_load(mt__ydoc *y, const char *file, const char *what, const char *text, size_t len, mt_diag *diag) {
    memset(y, 0, sizeof *y);
    y->file = file;
    y->diag = diag;
    y->what = what;
    if (len > MT_YAML_MAX_BYTES) {
        int rc = mt_diag_set(diag, MT_E_LIMIT, "%s hold %zu bytes, more than the %u a YAML file may hold", what, len,
                             MT_YAML_MAX_BYTES);
        if (diag) diag->file = file;
        return rc;
    }
    int rc = prescan(y, text, len);
    if (rc) return rc;
    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp)) return mt__ynomem(y);
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    yaml_document_t next;
    if (!yaml_parser_load(&yp, &y->doc)) {
        memset(&y->doc, 0, sizeof y->doc);
        goto fail;
    }
    /* One document a file: a second one is a mistake, not ignored. */
    if (!yaml_parser_load(&yp, &next)) goto fail;
    yaml_node_t *root = yaml_document_get_root_node(&next);
    if (root) rc = mt__ybad(y, root, "the file holds one YAML document; this is a second");
    yaml_document_delete(&next);
    yaml_parser_delete(&yp);
    return rc;
fail:
    rc = yaml_error(&yp, y);
    yaml_parser_delete(&yp);
    return rc;
}

void mt__ydoc_free(mt__ydoc *y) {
    if (y->doc.nodes.start) yaml_document_delete(&y->doc);
    memset(&y->doc, 0, sizeof y->doc);
}

int mt__read_file(const char *path, const char *what, char **out, size_t *out_len, mt_diag *diag) {
    (void)what;
    mt_diag_clear(diag);
    mt_input_opts o = { .max_bytes = MT_YAML_MAX_BYTES };
    uint8_t *data;
    int rc = mt_input_read(path, &o, &data, out_len, diag);
    if (rc) {
        if (diag) diag->file = path;
        return rc;
    }
    *out = (char *)data;
    return 0;
}
