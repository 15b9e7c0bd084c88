/* YAML documents read with libyaml's document API, for the files people
 * write (rule files, gate policies): one document a file, and every
 * mistake reported with its file, line and column. Internal. */
#ifndef MT_YAMLDOC_H
#define MT_YAMLDOC_H

#include <stddef.h>
#include <yaml.h>
#include "memtrace/errors.h"

typedef struct mt__ydoc {
    yaml_document_t doc;
    const char *file;     /* for messages */
    mt_diag *diag;
    const char *what;     /* "the rules", "the policy": for messages */
} mt__ydoc;

/* Parses text as one YAML document into y (freed with mt__ydoc_free,
 * also after a failure). @return 0, or MT_E_PARSE (diag has the line and
 * column), MT_E_INVAL (a second document), MT_E_NOMEM. */
int mt__ydoc_load(mt__ydoc *y, const char *file, const char *what, const char *text, size_t len, mt_diag *diag);
void mt__ydoc_free(mt__ydoc *y);

/* Reads a whole file into *buf (malloc'd, *len bytes).
 * @return 0, or MT_E_IO, MT_E_NOMEM with diag naming path. */
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
/* 0 when a mapping's keys are scalars that do not repeat. */
int mt__ykeys(mt__ydoc *y, yaml_node_t *m);
/* A number with an optional unit: 1.5, 20% (0.2), 64 KiB, 2GB. @return 0 or -1. */
int mt__ynumber(const char *s, double *out);
/* true/True/false/False into *out. @return 0, or the message. */
int mt__ybool(mt__ydoc *y, yaml_node_t *n, const char *what, int *out);

#endif
