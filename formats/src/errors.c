/* The error table's text, and diagnostics. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "memtrace/errors.h"
#include "memtrace/format.h"

const char *mt_strerror(int code) {
    switch (code) {
    case 0: return "success";
#define MT__ERR_TEXT(name, value, text) case value: return text;
    MT_ERRNO_MAP(MT__ERR_TEXT)
#undef MT__ERR_TEXT
    }
    return "unknown error";
}

const char *mt_err_name(int code) {
    switch (code) {
    case 0: return "MT_OK";
#define MT__ERR_NAME(name, value, text) case value: return "MT_E_" #name;
    MT_ERRNO_MAP(MT__ERR_NAME)
#undef MT__ERR_NAME
    }
    return "MT_E_UNKNOWN";
}

void mt_diag_clear(mt_diag *d) {
    if (!d) return;
    const char *file = d->file;
    memset(d, 0, sizeof *d);
    d->file = file;
    d->offset = -1;
    d->block = -1;
}

int mt_diag_set(mt_diag *d, int code, const char *fmt, ...) {
    if (!d) return code;
    d->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    return code;
}

char *mt_diag_format(const mt_diag *d, char *buf, size_t n) {
    if (n == 0) return buf;
    char where[96] = "";
    if (d->line)
        snprintf(where, sizeof where, "line %u, column %u: ", (unsigned)d->line, (unsigned)d->column);
    else if (d->block >= 0) {
        char at[40] = "";
        if (d->offset >= 0) snprintf(at, sizeof at, " at offset %lld", (long long)d->offset);
        snprintf(where, sizeof where, "block %lld%s%s%s%s: ", (long long)d->block, at, d->kind ? " (" : "",
                 d->kind ? mt_kind_name(d->kind) : "", d->kind ? ")" : "");
    }
    else if (d->offset >= 0)
        snprintf(where, sizeof where, "offset %lld: ", (long long)d->offset);
    snprintf(buf, n, "%s%s", where, d->msg[0] ? d->msg : mt_strerror(d->code));
    return buf;
}
