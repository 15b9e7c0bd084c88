/* The one growing string of libanalyze and the tools. It remembers
 * running out of memory, so that a long run of appends needs one check at
 * its end: once an append fails, the later ones do nothing and fail stays
 * set. A zeroed mt_sbuf ({0}, MT_SBUF_INIT) is empty and ready. */
#ifndef MEMTRACE_STRBUF_H
#define MEMTRACE_STRBUF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_sbuf {
    char *s;          /* NUL-terminated once anything was put, else NULL */
    size_t len, cap;
    int fail;         /* an append ran out of memory; later ones do nothing */
} mt_sbuf;

#define MT_SBUF_INIT { NULL, 0, 0, 0 }

/* Appends s[0..n) (s may be NULL when n is 0). */
void mt_sbuf_put(mt_sbuf *b, const char *s, size_t n);
/* Appends the NUL-terminated s. */
void mt_sbuf_puts(mt_sbuf *b, const char *s);
/* Appends one byte (NUL too: len counts it). */
void mt_sbuf_putc(mt_sbuf *b, int c);
/* Appends what printf(3) would write. */
void mt_sbuf_printf(mt_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Empties b, keeping its memory for reuse; fail is cleared too. */
void mt_sbuf_reset(mt_sbuf *b);

/* Hands b's string over to the caller, who free()s it; *len (if len is
 * not NULL) gets its length. b is empty and ready afterwards.
 * @return the string ("" when nothing was put), or NULL when an append
 *         ran out of memory or the empty string cannot be allocated (the
 *         memory is freed then). */
char *mt_sbuf_detach(mt_sbuf *b, size_t *len);

/* Frees b's memory; b is empty and ready afterwards. */
void mt_sbuf_free(mt_sbuf *b);

#ifdef __cplusplus
}
#endif
#endif
