/* The one JSON number formatter and string escaper (json.h). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "memtrace/json.h"
#include "memtrace/text.h"

size_t mt_json_num(char *buf, double d, unsigned flags) {
    buf[0] = 0;
    if (!isfinite(d)) return 0;
    int n = 0;
    /* Up to 2^53 every whole double is an integer a reader keeps exactly;
     * %.0f writes it in full, where %g would write 1e+15. */
    if (fabs(d) <= 9007199254740992.0 && d == trunc(d)) {
        n = snprintf(buf, MT_JSON_NUM_MAX, "%.0f", d);
    } else {
        /* %.Pg rounds correctly, so the first P whose text reads back is
         * the fewest digits any spelling of d can have; 17 always does. */
        for (int p = 1; p <= 17; p++) {
            n = snprintf(buf, MT_JSON_NUM_MAX, "%.*g", p, d);
            if (strtod(buf, NULL) == d) break;
        }
    }
    if ((flags & MT_JSON_FLOAT_MARK) && !strpbrk(buf, ".e")) {
        memcpy(buf + n, ".0", 3);
        n += 2;
    }
    return (size_t)n;
}

void mt_json_put_num(FILE *out, double d, unsigned flags) {
    char buf[MT_JSON_NUM_MAX];
    if (mt_json_num(buf, d, flags)) fputs(buf, out);
    else fputs("null", out); /* JSON has no NaN or infinity */
}

/* A JSON string; binary gives each byte above 0x7f as \u00XX. */
static void put_string(FILE *out, mt_str s, int binary) {
    putc('"', out);
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c == '\r') fputs("\\r", out);
        else if (c < 0x20 || c == 0x7f) fprintf(out, "\\u%04x", c);
        else if (c < 0x80) putc(c, out);
        else if (binary) fprintf(out, "\\u%04x", c);
        else {
            size_t len = mt_utf8_len(p + i, s.len - i);
            if (!len) fputs("\\ufffd", out);
            else {
                fwrite(p + i, 1, len, out);
                i += len - 1;
            }
        }
    }
    putc('"', out);
}

void mt_json_put_str(FILE *out, mt_str s) { put_string(out, s, 0); }

void mt_json_put_value(FILE *out, const mt_value *v) {
    switch (v->type) {
    case MT_VAL_NIL: fputs("null", out); break;
    case MT_VAL_BOOL: fputs(v->v.b ? "true" : "false", out); break;
    case MT_VAL_INT: fprintf(out, "%" PRId64, v->v.i); break;
    case MT_VAL_UINT: fprintf(out, "%" PRIu64, v->v.u); break;
    case MT_VAL_FLOAT: mt_json_put_num(out, v->v.f, 0); break;
    case MT_VAL_STR: put_string(out, v->v.s, 0); break;
    case MT_VAL_BIN: put_string(out, v->v.s, 1); break;
    }
}
