/* YAML documents for files people write (yamldoc.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/units.h"
#include "yamldoc.h"

int mt__ybad(mt__ydoc *y, const yaml_node_t *n, const char *fmt, ...) {
    if (!y->diag) return MT_E_INVAL;
    mt_diag_clear(y->diag);
    y->diag->code = MT_E_INVAL;
    y->diag->file = y->file;
    if (n) {
        y->diag->line = (uint32_t)n->start_mark.line + 1;
        y->diag->column = (uint32_t)n->start_mark.column + 1;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(y->diag->msg, sizeof y->diag->msg, fmt, ap);
    va_end(ap);
    return MT_E_INVAL;
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
    for (yaml_node_pair_t *a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top; a++) {
        yaml_node_t *k = mt__ynode(y, a->key);
        if (!mt__yscalar(k)) return mt__ybad(y, k, "keys must be scalars, not %s", mt__ykind(k));
        for (yaml_node_pair_t *b = m->data.mapping.pairs.start; b < a; b++)
            if (!strcmp(mt__yscalar(mt__ynode(y, b->key)), mt__yscalar(k)))
                return mt__ybad(y, k, "key '%s' repeats", mt__yscalar(k));
    }
    return 0;
}

int mt__ynumber(const char *s, double *out) {
    size_t n = s ? strlen(s) : 0;
    if (n > 1 && s[n - 1] == '%' && n < 64) {
        char num[64];
        memcpy(num, s, n - 1);
        num[n - 1] = 0;
        if (mt_parse_size(num, out) || (n > 2 && num[n - 2] == ' ')) return -1;
        *out /= 100;
        return 0;
    }
    return mt_parse_size(s, out);
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

int mt__ydoc_load(mt__ydoc *y, const char *file, const char *what, const char *text, size_t len, mt_diag *diag) {
    memset(y, 0, sizeof *y);
    y->file = file;
    y->diag = diag;
    y->what = what;
    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp)) return mt__ynomem(y);
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    int rc = 0;
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
    if (yp.error == YAML_MEMORY_ERROR) rc = mt__ynomem(y);
    else {
        rc = mt_diag_set(diag, MT_E_PARSE, "%s%s%s", yp.problem ? yp.problem : "not YAML", yp.context ? " " : "",
                         yp.context ? yp.context : "");
        if (diag) {
            diag->file = file;
            diag->line = (uint32_t)yp.problem_mark.line + 1;
            diag->column = (uint32_t)yp.problem_mark.column + 1;
        }
    }
    yaml_parser_delete(&yp);
    return rc;
}

void mt__ydoc_free(mt__ydoc *y) {
    if (y->doc.nodes.start) yaml_document_delete(&y->doc);
    memset(&y->doc, 0, sizeof y->doc);
}

int mt__read_file(const char *path, const char *what, char **out, size_t *out_len, mt_diag *diag) {
    mt_diag_clear(diag);
    FILE *f = fopen(path, "rb");
    int rc = 0;
    if (!f) {
        rc = mt_diag_set(diag, MT_E_IO, "cannot open: %s", strerror(errno));
        if (diag) diag->file = path;
        return rc;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            size_t nc = cap ? cap * 2 : 16384;
            char *nb = realloc(buf, nc);
            if (!nb) {
                rc = mt_diag_set(diag, MT_E_NOMEM, "out of memory reading %s", what);
                break;
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) rc = mt_diag_set(diag, MT_E_IO, "cannot read: %s", strerror(errno));
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        if (diag) diag->file = path;
        return rc;
    }
    *out = buf;
    *out_len = len;
    return 0;
}
