/* YAML documents read with libyaml's document API, for the files people
 * write (rule files, gate policies): one document a file, and every
 * mistake reported with its file, line and column. Internal. */
#ifndef MT_YAMLDOC_H
#define MT_YAMLDOC_H

#include <stddef.h>
#include <yaml.h>
#include "memtrace/errors.h"

/* Bounds on the YAML files people write, so that a hostile one costs
 * little: its size (read with mt_input_read), the nesting of its lists and
 * mappings (checked as libyaml's events arrive, before a tree is built:
 * libyaml's scanner does work in proportion to the depth at every token),
 * and no aliases (*name), which would let a small file make the checks
 * walk one mapping many times. memtrace-rules(5) documents them. */
#define MT_YAML_MAX_BYTES (16u << 20)
#define MT_YAML_MAX_DEPTH 64

typedef struct mt__ydoc {
    yaml_document_t doc;
    const char *file;     /* for messages */
    mt_diag *diag;
    const char *what;     /* "the rules", "the policy": for messages */
} mt__ydoc;

/* Parses text as one YAML document into y (freed with mt__ydoc_free,
 * also after a failure). @return 0, or MT_E_PARSE (diag has the line and
 * column), MT_E_LIMIT (nested deeper than MT_YAML_MAX_DEPTH, or text
 * longer than MT_YAML_MAX_BYTES), MT_E_INVAL (a second document, an
 * alias, a NUL byte in a scalar), MT_E_NOMEM. */
int mt__ydoc_load(mt__ydoc *y, const char *file, const char *what, const char *text, size_t len, mt_diag *diag);
void mt__ydoc_free(mt__ydoc *y);

/* Reads a whole file into *buf (malloc'd, *len bytes) with mt_input_read:
 * a regular file, a pipe or a FIFO (no device), at most MT_YAML_MAX_BYTES,
 * a pipe that sends nothing for 10 s given up.
 * @return 0, or MT_E_IO, MT_E_LIMIT, MT_E_NOMEM with diag naming path. */
int mt__read_file(const char *path, const char *what, char **buf, size_t *len, mt_diag *diag);

/* Sets diag to the message at n's position (none when n is NULL).
 * @return MT_E_INVAL. */
int mt__ybad(mt__ydoc *y, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int mt__ynomem(mt__ydoc *y);

yaml_node_t *mt__ynode(mt__ydoc *y, int i);
/* "a scalar", "a list", "a mapping". */
const char *mt__ykind(const yaml_node_t *n);
/* A scalar's text, or NULL for another node. */
const char *mt__yscalar(const yaml_node_t *n);
/* 0 when n is of type, else the message "WHAT must be a list, not ...". */
int mt__ywant(mt__ydoc *y, yaml_node_t *n, yaml_node_type_t type, const char *what);
/* 0 when a mapping's keys are scalars that do not repeat (a hash set:
 * linear in the keys), else MT_E_INVAL or MT_E_NOMEM. */
int mt__ykeys(mt__ydoc *y, yaml_node_t *m);
/* mt__ywant(y, m, YAML_MAPPING_NODE, what), then mt__ykeys.
 * @return 0, MT_E_INVAL or MT_E_NOMEM: pass it on as it is. */
int mt__ymap(mt__ydoc *y, yaml_node_t *m, const char *what);
/* A number with an optional unit: 1.5, 20% (0.2), 64 KiB, 2GB.
 * @return 0, or MT_E_PARSE or MT_E_RANGE as mt_size_parse(). */
int mt__ynumber(const char *s, double *out);
/* true/True/false/False into *out. @return 0, or the message. */
int mt__ybool(mt__ydoc *y, yaml_node_t *n, const char *what, int *out);

#endif
