/* Text the tools build: a growing buffer, and paths to roots written as
 * people read them (mt_path_format), shared by memtrace-graph and memtrace-leaks. */
#ifndef MT_CLI_PATHTEXT_H
#define MT_CLI_PATHTEXT_H

#include <stddef.h>
#include "memtrace/analyze.h"
#include "memtrace/strbuf.h"

/* libanalyze's growing string (memtrace/strbuf.h): s is NUL-terminated
 * once anything was put; free() it. */
typedef mt_sbuf sbuf;

/* mt_sbuf_put and the like that exit 3 with a message when memory runs
 * out, as a tool may. */
void sb_put(sbuf *b, const char *s, size_t n);
void sb_str(sbuf *b, mt_str s);
void sb_cstr(sbuf *b, const char *s);

/* Appends path p of snapshot s (loaded with labels) as mt_path_format()
 * writes it; exits 3 when memory runs out. */
void mt_cli_render_path(sbuf *b, const mt_snapshot *s, const mt_path *p);

#endif
