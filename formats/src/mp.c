/* A zero-copy msgpack token reader.
 *
 * The writer encodes records by hand (internal.h, in msgpack-c's forms),
 * and we read them by hand too: msgpack-c's msgpack_unpack_next()
 * allocates a zone for every record it returns, and a heap snapshot holds
 * tens of millions of small records. tests/unit/format/test_format.c checks both
 * halves against msgpack-c. */
#include "internal.h"

static inline int need(const uint8_t *p, const uint8_t *end, size_t n) {
    return (size_t)(end - p) >= n;
}

static inline uint64_t be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

int mt__mp_next(const uint8_t **pp, const uint8_t *end, mt__mptok *t) {
    const uint8_t *p = *pp;
    if (p >= end) return MT_E_MSGPACK;
    uint8_t b = *p++;
    uint32_t len = 0;
    int width = 0;
    if (b <= 0x7f) { t->type = MT__MP_UINT; t->u = b; goto done; }
    if (b >= 0xe0) { t->type = MT__MP_INT; t->i = (int8_t)b; goto done; }
    if ((b & 0xe0) == 0xa0) { t->type = MT__MP_STR; len = b & 0x1f; goto payload; }
    if ((b & 0xf0) == 0x90) { t->type = MT__MP_ARRAY; t->u = b & 0x0f; goto done; }
    if ((b & 0xf0) == 0x80) { t->type = MT__MP_MAP; t->u = b & 0x0f; goto done; }
    switch (b) {
    case 0xc0: t->type = MT__MP_NIL; goto done;
    case 0xc2: case 0xc3: t->type = MT__MP_BOOL; t->u = b & 1; goto done;
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        width = 1 << (b - 0xcc);
        if (!need(p, end, (size_t)width)) return MT_E_MSGPACK;
        t->type = MT__MP_UINT; t->u = be(p, width); p += width; goto done;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        width = 1 << (b - 0xd0);
        if (!need(p, end, (size_t)width)) return MT_E_MSGPACK;
        uint64_t raw = be(p, width);
        p += width;
        int shift = 64 - 8 * width;
        /* Sign-extend through an unsigned shift: no UB on negatives. */
        int64_t v = shift ? (int64_t)(raw << shift) >> shift : (int64_t)raw;
        if (v >= 0) { t->type = MT__MP_UINT; t->u = (uint64_t)v; }
        else { t->type = MT__MP_INT; t->i = v; }
        goto done;
    }
    case 0xca: {
        if (!need(p, end, 4)) return MT_E_MSGPACK;
        uint32_t raw = (uint32_t)be(p, 4);
        float f;
        memcpy(&f, &raw, 4);
        t->type = MT__MP_FLOAT; t->f = f; p += 4; goto done;
    }
    case 0xcb: {
        if (!need(p, end, 8)) return MT_E_MSGPACK;
        uint64_t raw = be(p, 8);
        memcpy(&t->f, &raw, 8);
        t->type = MT__MP_FLOAT; p += 8; goto done;
    }
    case 0xd9: case 0xda: case 0xdb:
        t->type = MT__MP_STR; width = 1 << (b - 0xd9); break;
    case 0xc4: case 0xc5: case 0xc6:
        t->type = MT__MP_BIN; width = 1 << (b - 0xc4); break;
    case 0xdc: case 0xdd:
        width = b == 0xdc ? 2 : 4;
        if (!need(p, end, (size_t)width)) return MT_E_MSGPACK;
        t->type = MT__MP_ARRAY; t->u = be(p, width); p += width; goto done;
    case 0xde: case 0xdf:
        width = b == 0xde ? 2 : 4;
        if (!need(p, end, (size_t)width)) return MT_E_MSGPACK;
        t->type = MT__MP_MAP; t->u = be(p, width); p += width; goto done;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        /* fixext: a type byte, then 1..16 bytes. */
        t->type = MT__MP_EXT; len = 1u + (1u << (b - 0xd4)); goto payload;
    case 0xc7: case 0xc8: case 0xc9:
        width = 1 << (b - 0xc7);
        if (!need(p, end, (size_t)width)) return MT_E_MSGPACK;
        len = (uint32_t)be(p, width) + 1u; /* + the type byte */
        if (len == 0) return MT_E_MSGPACK;
        p += width; t->type = MT__MP_EXT; goto payload;
    default: /* 0xc1 is never used */
        return MT_E_MSGPACK;
    }
    if (!need(p, end, (size_t)width)) return MT_E_MSGPACK;
    len = (uint32_t)be(p, width);
    p += width;
payload:
    if (!need(p, end, len)) return MT_E_MSGPACK;
    t->ptr = p; t->len = len; p += len;
done:
    *pp = p;
    return 0;
}

int mt__mp_skip(const uint8_t **p, const uint8_t *end) {
    uint64_t pending = 1;
    mt__mptok t;
    while (pending) {
        int rc = mt__mp_next(p, end, &t);
        if (rc) return rc;
        pending--;
        if (t.type == MT__MP_ARRAY || t.type == MT__MP_MAP) {
            uint64_t add = t.type == MT__MP_MAP ? 2 * t.u : t.u;
            /* Each element takes at least one byte: a larger count is a lie,
             * and checking here keeps `pending` from overflowing. */
            if (add > (uint64_t)(end - *p)) return MT_E_MSGPACK;
            pending += add;
        }
    }
    return 0;
}
