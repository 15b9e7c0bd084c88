/* A growing string that remembers running out of memory, so that a long
 * run of appends needs one check at its end. Internal to libanalyze. */
#ifndef MT_STRBUF_H
#define MT_STRBUF_H

#include <stddef.h>

typedef struct mt_sbuf {
    char *s;          /* NUL-terminated once anything was put; free() it */
    size_t len, cap;
    int fail;         /* an append ran out of memory; later ones do nothing */
} mt_sbuf;

void mt_sbuf_put(mt_sbuf *b, const char *s, size_t n);
void mt_sbuf_printf(mt_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
