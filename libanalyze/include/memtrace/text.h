/* Strings from files, made safe for the syntax they are written in.
 *
 * A type, frame, column or label name comes from a snapshot that may be
 * damaged or hostile: it may hold quotes, backslashes, newlines, NUL,
 * terminal escapes and bytes that are not UTF-8. Every place that writes
 * such a string into an output goes through one of these, one per output
 * syntax, so that the output stays valid for its parser whatever the
 * name. tests/unit/common/test_text.c checks each against hostile names, and the
 * CLI and Python tests check the tools' outputs with real parsers. */
#ifndef MEMTRACE_TEXT_H
#define MEMTRACE_TEXT_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Length of the valid UTF-8 sequence at s (n bytes left): 1 to 4, or 0
 * when the bytes there are not UTF-8 (a stray continuation byte, an
 * overlong form, a surrogate, past U+10FFFF, cut short). The one UTF-8
 * checker of libanalyze and the tools. */
size_t mt_utf8_len(const void *s, size_t n);

/* Where a cut of s before byte i lands on a character boundary, moving
 * back over continuation bytes: i, or less (0 at the least). */
size_t mt_utf8_cut(const char *s, size_t i);

typedef enum mt_text_syntax {
    /* An OpenMetrics label value, between its double quotes: '\\', '"'
     * and newline escaped as the OpenMetrics spec says (\\ \" \n); other
     * control characters and each byte that is not UTF-8 as U+FFFD. */
    MT_TEXT_OPENMETRICS,
    /* A frame of a folded stack (flame graph tools): ';' (the frame
     * separator) as ':', control characters (newline ends the line) as a
     * space, each byte that is not UTF-8 as U+FFFD. */
    MT_TEXT_FOLDED,
    /* A Graphviz DOT double-quoted string: '"' and '\\' escaped, newline
     * as \n, other control characters (NUL, which Graphviz refuses) as a
     * space, each byte that is not UTF-8 as U+FFFD. */
    MT_TEXT_DOT,
    /* Text for a terminal: newline, tab and carriage return as \n, \t,
     * \r; other C0 and C1 control characters (ESC, CSI) and DEL as \xNN
     * (one escape per byte); each byte that is not UTF-8 as \xNN. */
    MT_TEXT_TERMINAL,
    /* The message of a GitHub Actions workflow command (::error ...::TEXT):
     * '%', carriage return and line feed as %25, %0D and %0A, which GitHub
     * decodes; tab as \t, other C0 and C1 control characters and DEL as
     * \xNN; each byte that is not UTF-8 as \xNN, as MT_TEXT_TERMINAL. */
    MT_TEXT_GITHUB,
    /* A property of a workflow command (title=...): as MT_TEXT_GITHUB, and
     * ':' and ',', which end a property, as %3A and %2C. */
    MT_TEXT_GITHUB_PROPERTY,
    /* XML 1.0 text or an attribute value: & < > " ' as entities; the
     * characters XML forbids (C0 controls other than tab, newline and
     * carriage return; U+FFFE, U+FFFF) and each byte that is not UTF-8 as
     * U+FFFD. */
    MT_TEXT_XML,
    /* The inside of a Python string literal in double quotes: '"' and
     * '\\' escaped, newline as \n, other C0 and C1 control characters and
     * DEL as \xNN (the character's code), each byte that is not UTF-8 as
     * \ufffd, so that the code is valid Python whatever the string. */
    MT_TEXT_PYTHON,
    /* A gnuplot single-quoted string: '\'' doubled, control characters
     * (C0 and DEL) as a space, each byte that is not UTF-8 as U+FFFD. */
    MT_TEXT_GNUPLOT,
    /* As MT_TEXT_GNUPLOT, and '%' doubled: for a string gnuplot uses as a
     * format (a tic label in set xtics ('label' pos, ...)). */
    MT_TEXT_GNUPLOT_FORMAT,
    /* A field of a gnuplot data file whose fields are tab-separated: '"'
     * (which would open a quoted field) as '\'', control characters (tab
     * and newline end a field and a row) as a space, each byte that is not
     * UTF-8 as U+FFFD. */
    MT_TEXT_GNUPLOT_DATA,
} mt_text_syntax;

/* Writes s[0..n) escaped for syntax to f. */
void mt_text_put(FILE *f, mt_text_syntax syntax, const char *s, size_t n);

/* Writes s[0..n) escaped for syntax into dst (cap bytes), NUL-terminated
 * and cut at a character boundary, never inside an escape, when it does
 * not fit. @return the length the whole escape needs, as snprintf does. */
size_t mt_text_escape(char *dst, size_t cap, mt_text_syntax syntax, const char *s, size_t n);

/* Writes n names into dst (cap bytes, NUL-terminated) as a sentence
 * lists them: "a", "a or b", "a, b or c" with last " or " (", " gives
 * "a, b, c"). Name i is the const char * at names + i * stride bytes, so
 * that a field of an array of structs can be listed; stride 0 means
 * sizeof(char *), an array of strings. A list that does not fit keeps the
 * whole names that do, then ", ..."; cap below 8 may hold only part of
 * that. The names are copied as they are: escape them for the output
 * first if they come from a file.
 * @return dst. */
const char *mt_text_list(char *dst, size_t cap, const void *names, size_t n, size_t stride, const char *last);

#ifdef __cplusplus
}
#endif
#endif
