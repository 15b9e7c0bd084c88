/* Strings from files, made safe for each output syntax (text.h). */
#include <string.h>
#include "memtrace/text.h"

size_t mt_utf8_len(const void *s, size_t n) {
    const unsigned char *p = s;
    if (!n) return 0;
    if (p[0] < 0x80) return 1;
    size_t len = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 && p[0] <= 0xef ? 3 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0; /* overlong, surrogate */
    if (len == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0; /* overlong, > U+10FFFF */
    return len;
}

size_t mt_utf8_cut(const char *s, size_t i) {
    while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80) i--;
    return i;
}

static const char fffd[] = "\xef\xbf\xbd";

/* The syntaxes that show a control or a byte that is not UTF-8 as \xNN. */
static int shows_hex(mt_text_syntax syntax) {
    return syntax == MT_TEXT_TERMINAL || syntax == MT_TEXT_GITHUB || syntax == MT_TEXT_GITHUB_PROPERTY;
}

/* The replacement for the sequence at p (len bytes, 0: one invalid byte)
 * in syntax: NULL when it stays as it is. buf holds made-up ones. */
static const char *escape_of(mt_text_syntax syntax, const unsigned char *p, size_t len, char buf[8]) {
    static const char hex[] = "0123456789abcdef";
    unsigned c = p[0];
    if (!len) {
        if (syntax == MT_TEXT_PYTHON) return "\\ufffd";
        if (!shows_hex(syntax)) return fffd;
        goto hexbyte;
    }
    if (len == 2 && c == 0xc2 && p[1] < 0xa0) { /* C1 controls, U+0080..U+009F: CSI is one */
        if (shows_hex(syntax)) return NULL; /* each byte comes back here as a lone byte */
        if (syntax == MT_TEXT_PYTHON) {
            c = p[1]; /* the code point: "\x85" is U+0085 */
            goto hexbyte;
        }
        if (syntax == MT_TEXT_XML || syntax == MT_TEXT_GNUPLOT || syntax == MT_TEXT_GNUPLOT_FORMAT ||
            syntax == MT_TEXT_GNUPLOT_DATA)
            return NULL; /* allowed, and harmless */
        return syntax == MT_TEXT_OPENMETRICS ? fffd : " ";
    }
    if (len == 3 && syntax == MT_TEXT_XML && c == 0xef && p[1] == 0xbf && p[2] >= 0xbe)
        return fffd; /* U+FFFE, U+FFFF: not characters to XML */
    if (len > 1) return NULL;
    switch (syntax) {
    case MT_TEXT_OPENMETRICS:
        if (c == '\\') return "\\\\";
        if (c == '"') return "\\\"";
        if (c == '\n') return "\\n";
        if (c < 0x20 || c == 0x7f) return fffd;
        return NULL;
    case MT_TEXT_FOLDED:
        if (c == ';') return ":";
        if (c < 0x20 || c == 0x7f) return " ";
        return NULL;
    case MT_TEXT_DOT:
        if (c == '\\') return "\\\\";
        if (c == '"') return "\\\"";
        if (c == '\n') return "\\n";
        if (c < 0x20 || c == 0x7f) return " ";
        return NULL;
    case MT_TEXT_GITHUB_PROPERTY:
        if (c == ':') return "%3A";
        if (c == ',') return "%2C";
        /* fall through */
    case MT_TEXT_GITHUB:
        if (c == '%') return "%25";
        if (c == '\n') return "%0A";
        if (c == '\r') return "%0D";
        if (c == '\t') return "\\t";
        if (c < 0x20 || c == 0x7f) goto hexbyte;
        return NULL;
    case MT_TEXT_XML:
        if (c == '&') return "&amp;";
        if (c == '<') return "&lt;";
        if (c == '>') return "&gt;";
        if (c == '"') return "&quot;";
        if (c == '\'') return "&apos;";
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return fffd;
        return NULL;
    case MT_TEXT_PYTHON:
        if (c == '"') return "\\\"";
        if (c == '\\') return "\\\\";
        if (c == '\n') return "\\n";
        if (c < 0x20 || c == 0x7f) goto hexbyte;
        return NULL;
    case MT_TEXT_GNUPLOT_FORMAT:
        if (c == '%') return "%%";
        /* fall through */
    case MT_TEXT_GNUPLOT:
        if (c == '\'') return "''";
        if (c < 0x20 || c == 0x7f) return " ";
        return NULL;
    case MT_TEXT_GNUPLOT_DATA:
        if (c == '"') return "'";
        if (c < 0x20 || c == 0x7f) return " ";
        return NULL;
    case MT_TEXT_TERMINAL:
        if (c == '\n') return "\\n";
        if (c == '\t') return "\\t";
        if (c == '\r') return "\\r";
        if (c < 0x20 || c == 0x7f) goto hexbyte;
        return NULL;
    }
    return NULL;
hexbyte:
    buf[0] = '\\';
    buf[1] = 'x';
    buf[2] = hex[c >> 4];
    buf[3] = hex[c & 15];
    buf[4] = 0;
    return buf;
}

/* Walks s, calling emit with each piece of output. */
typedef struct sink {
    FILE *f;
    char *dst;
    size_t cap, len;
    int full;
} sink;

/* Appends a piece: a run of whole UTF-8 characters (may be cut between
 * two of them) or one escape (whole or not at all). Once something does
 * not fit, nothing more is written, only counted. */
static void emit(sink *k, const char *s, size_t n, int run) {
    if (k->f) {
        fwrite(s, 1, n, k->f);
        return;
    }
    if (!k->full && k->dst && k->cap) {
        size_t room = k->cap - 1 - k->len, m = n;
        if (m > room) {
            k->full = 1;
            m = 0;
            if (run) {
                m = mt_utf8_cut(s, room);
            }
        }
        memcpy(k->dst + k->len, s, m);
        k->dst[k->len + m] = 0;
        if (k->full) k->cap = 0; /* stop writing */
    }
    k->len += n;
}

static void walk(sink *k, mt_text_syntax syntax, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0; /* bytes at i - run that stay as they are */
    for (size_t i = 0; i < n;) {
        size_t len = mt_utf8_len(p + i, n - i);
        char buf[8];
        /* A C1 control on a terminal: its two bytes are escaped one by one. */
        int c1 = shows_hex(syntax) && len == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0;
        const char *e = c1 ? NULL : escape_of(syntax, p + i, len, buf);
        if (!e && !c1) {
            run += len;
            i += len;
            continue;
        }
        if (run) emit(k, s + i - run, run, 1);
        run = 0;
        if (c1) {
            for (int b = 0; b < 2; b++) {
                escape_of(MT_TEXT_TERMINAL, p + i + b, 0, buf);
                emit(k, buf, 4, 0);
            }
            i += 2;
            continue;
        }
        emit(k, e, strlen(e), 0);
        i += len ? len : 1;
    }
    if (run) emit(k, s + n - run, run, 1);
}

void mt_text_put(FILE *f, mt_text_syntax syntax, const char *s, size_t n) {
    sink k = { f, NULL, 0, 0, 0 };
    walk(&k, syntax, s, n);
}

size_t mt_text_escape(char *dst, size_t cap, mt_text_syntax syntax, const char *s, size_t n) {
    sink k = { NULL, dst, cap, 0, 0 };
    if (dst && cap) dst[0] = 0;
    walk(&k, syntax, s, n);
    return k.len;
}

const char *mt_text_list(char *dst, size_t cap, const void *names, size_t n, size_t stride, const char *last) {
    static const char more[] = ", ...";
    if (!cap) return dst;
    if (!stride) stride = sizeof(const char *);
    size_t len = 0;
    dst[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = *(const char *const *)((const char *)names + i * stride);
        const char *sep = i == 0 ? "" : i + 1 == n ? last : ", ";
        size_t a = strlen(sep), b = strlen(name);
        /* Room for this name, and for ", ..." after it unless it is the last. */
        size_t need = a + b + (i + 1 < n ? sizeof more - 1 : 0);
        if (need >= cap - len) {
            const char *cut = i ? more : more + 2; /* "..." alone when no name fits */
            size_t m = strlen(cut) < cap - 1 - len ? strlen(cut) : cap - 1 - len;
            memcpy(dst + len, cut, m);
            dst[len + m] = 0;
            return dst;
        }
        memcpy(dst + len, sep, a);
        memcpy(dst + len + a, name, b);
        len += a + b;
        dst[len] = 0;
    }
    return dst;
}
