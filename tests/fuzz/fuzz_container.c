/* Structure-aware libFuzzer target for the .snap container. Raw byte
 * mutations die at the header CRC or the zstd checksum; this target's
 * custom mutator parses its input as a container (formats/SPEC.md
 * sections 2, 3 and 5, parsed here from the spec and not with the reader
 * under test), edits one block's header fields or its decompressed msgpack
 * payload, and writes the file back with valid CRCs, a recompressed frame
 * (checksum and content size), a matching index and trailer, so that the
 * edit reaches the loader. It also drops, duplicates, swaps and cuts
 * blocks, and crosses blocks of two files over. check_mutator.py (CTest
 * fuzz-mutator) checks with zlib and zstandard that its output stays sound.
 *
 * The body loads the result as the tools do: strict, then with
 * MT_LOAD_SALVAGE, and runs the graph analyses of fuzz_graph over what
 * loads. Errors must say why. Memory and time are bounded by libFuzzer's
 * -rss_limit_mb and -timeout (tests/fuzz/replay.c for the replay): an
 * input that makes the loader allocate gigabytes is a finding.
 * Seeds: tests/fuzz/seeds/fuzz_container/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "memtrace/analyze.h"
#include "checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int salvage = 0; salvage < 2; salvage++) {
        mt_snapshot *s = NULL;
        mt_diag d;
        mt_diag_clear(&d);
        unsigned flags = MT_LOAD_LABELS | (salvage ? MT_LOAD_SALVAGE : 0);
        int rc = mt_snapshot_load_mem(data, size, "fuzz.snap", flags, &s, &d);
        if (rc) {
            if (rc > 0 || !d.msg[0] || s) __builtin_trap(); /* errors say why */
            continue;
        }
        check_consistent(s);
        if (salvage) {
            check_graph(s);
            check_self_diff(s);
        }
        mt_snapshot_free(s);
    }
    return 0;
}

/* ---- The container, parsed from the spec ---- */

#define HEADER_SIZE 16
#define BLOCK_HEADER 36
#define TRAILER_SIZE 24
#define KIND_INDEX 0xFF00u
#define MAX_BLOCKS 256
#define MAX_RAW (4u << 20) /* what the mutator decompresses and writes: keep an exec fast */

static const uint8_t magic[8] = { 0x89, 'M', 'T', 'S', '\r', '\n', 0x1a, '\n' };
static const uint8_t marker[8] = { 0xb5, 'M', 'T', 'B', 'L', 'K', '\r', '\n' };
static const uint8_t end_magic[8] = { 'M', 'T', 'S', 'E', 'N', 'D', '\r', '\n' };

/* CRC-32/ISO-HDLC (SPEC.md 3.1), bitwise: the harness must not share the
 * reader's table. */
static uint32_t crc32_iso(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

typedef struct blk {
    uint16_t kind, flags;
    uint32_t count, stored, raw; /* stored and raw are written as is only when forged */
    uint64_t first;
    uint8_t *payload; /* the stored bytes (a zstd frame, or whatever was there) */
    size_t len;
    int forged; /* header fields edited on purpose: write them, not the payload's */
} blk;

typedef struct container {
    uint8_t head[HEADER_SIZE];
    blk b[MAX_BLOCKS];
    size_t n;
    int closed; /* had an index and trailer: write them back */
} container;

static void container_free(container *c) {
    for (size_t i = 0; i < c->n; i++) free(c->b[i].payload);
    c->n = 0;
}

/* Reads blocks from offset 16 while their marker and CRC check out. 0 if the
 * input is not a container at all. */
static int container_parse(const uint8_t *p, size_t size, container *c) {
    memset(c, 0, sizeof *c);
    if (size < HEADER_SIZE || memcmp(p, magic, 8)) return 0;
    memcpy(c->head, p, HEADER_SIZE);
    size_t off = HEADER_SIZE;
    while (off + BLOCK_HEADER <= size && c->n < MAX_BLOCKS) {
        const uint8_t *h = p + off;
        if (memcmp(h, marker, 8) || crc32_iso(h, 32) != (uint32_t)get_le(h + 32, 4)) break;
        uint32_t stored = (uint32_t)get_le(h + 24, 4);
        if (stored > size - off - BLOCK_HEADER) break;
        uint16_t kind = (uint16_t)get_le(h + 8, 2);
        if (kind == KIND_INDEX) {
            c->closed = 1;
            break;
        }
        blk *b = &c->b[c->n++];
        b->kind = kind;
        b->flags = (uint16_t)get_le(h + 10, 2);
        b->count = (uint32_t)get_le(h + 12, 4);
        b->first = get_le(h + 16, 8);
        b->stored = stored;
        b->raw = (uint32_t)get_le(h + 28, 4);
        b->len = stored;
        b->payload = malloc(stored ? stored : 1);
        memcpy(b->payload, h + BLOCK_HEADER, stored);
        off += BLOCK_HEADER + stored;
    }
    return 1;
}

/* The raw size a frame declares, or -1. */
static int64_t frame_raw(const blk *b) {
    unsigned long long n = ZSTD_getFrameContentSize(b->payload, b->len);
    if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR || n > 0xFFFFFFFFull) return -1;
    return (int64_t)n;
}

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void buf_add(buf *o, const void *p, size_t n) {
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n) cap *= 2;
        o->p = realloc(o->p, cap);
        o->cap = cap;
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
}

static void write_block(buf *o, uint16_t kind, uint16_t flags, uint32_t count, uint64_t first, uint32_t stored,
                        uint32_t raw, const uint8_t *payload, size_t len) {
    uint8_t h[BLOCK_HEADER];
    memcpy(h, marker, 8);
    put_le(h + 8, kind, 2);
    put_le(h + 10, flags, 2);
    put_le(h + 12, count, 4);
    put_le(h + 16, first, 8);
    put_le(h + 24, stored, 4);
    put_le(h + 28, raw, 4);
    put_le(h + 32, crc32_iso(h, 32), 4);
    buf_add(o, h, sizeof h);
    buf_add(o, payload, len);
}

/* msgpack writers for the index records. */
static void mp_uint(buf *o, uint64_t v) {
    uint8_t t[9];
    if (v < 128) {
        t[0] = (uint8_t)v;
        buf_add(o, t, 1);
    } else {
        t[0] = 0xcf;
        for (int i = 0; i < 8; i++) t[1 + i] = (uint8_t)(v >> (56 - 8 * i));
        buf_add(o, t, 9);
    }
}

static size_t compress_frame(const uint8_t *raw, size_t n, uint8_t **out) {
    ZSTD_CCtx *z = ZSTD_createCCtx();
    size_t cap = ZSTD_compressBound(n);
    *out = malloc(cap);
    ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(z, ZSTD_c_contentSizeFlag, 1);
    ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, 1);
    size_t r = ZSTD_compress2(z, *out, cap, raw, n);
    ZSTD_freeCCtx(z);
    if (ZSTD_isError(r)) {
        free(*out);
        *out = NULL;
        return 0;
    }
    return r;
}

/* Writes the file: header, blocks (each header with its CRC), and, when
 * closed, an index of what was written and a trailer. cut > 0 ends the
 * file that many bytes early. */
static void container_write(const container *c, buf *o, size_t cut) {
    buf_add(o, c->head, HEADER_SIZE);
    buf idx = { 0 };
    uint64_t *offs = malloc((c->n + 1) * sizeof *offs);
    for (size_t i = 0; i < c->n; i++) {
        const blk *b = &c->b[i];
        uint32_t stored = b->forged ? b->stored : (uint32_t)b->len;
        int64_t fr = frame_raw(b);
        uint32_t raw = b->forged || fr < 0 ? b->raw : (uint32_t)fr;
        offs[i] = o->len;
        write_block(o, b->kind, b->flags, b->count, b->first, stored, raw, b->payload, b->len);
        uint8_t a = 0x96;
        buf_add(&idx, &a, 1);
        mp_uint(&idx, offs[i]);
        mp_uint(&idx, b->kind);
        mp_uint(&idx, b->count);
        mp_uint(&idx, b->first);
        mp_uint(&idx, stored);
        mp_uint(&idx, raw);
    }
    if (c->closed) {
        uint8_t *z;
        size_t zn = compress_frame(idx.p ? idx.p : (const uint8_t *)"", idx.len, &z);
        if (z) {
            uint64_t at = o->len;
            write_block(o, KIND_INDEX, 0, (uint32_t)c->n, 0, (uint32_t)zn, (uint32_t)idx.len, z, zn);
            uint8_t t[TRAILER_SIZE];
            put_le(t, at, 8);
            put_le(t + 8, c->n, 4);
            put_le(t + 12, crc32_iso(t, 12), 4);
            memcpy(t + 16, end_magic, 8);
            buf_add(o, t, sizeof t);
            free(z);
        }
    }
    free(idx.p);
    free(offs);
    if (cut && cut < o->len) o->len -= cut;
}

/* ---- msgpack, read from the spec (section 4.1) ---- */

/* The length of the value at p (up to n bytes), or 0 if it does not end in
 * n bytes or nests deeper than 32. */
static size_t mp_skip(const uint8_t *p, size_t n, int depth) {
    if (!n || depth > 32) return 0;
    uint8_t t = p[0];
    uint64_t items = 0, len = 0;
    size_t h = 1;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) return 1;
    if ((t & 0xe0) == 0xa0) len = t & 0x1f;
    else if ((t & 0xf0) == 0x90) items = t & 0x0f;
    else if ((t & 0xf0) == 0x80) items = 2u * (t & 0x0f);
    else {
        switch (t) {
        case 0xcc: case 0xd0: return n >= 2 ? 2 : 0;
        case 0xcd: case 0xd1: return n >= 3 ? 3 : 0;
        case 0xca: case 0xce: case 0xd2: return n >= 5 ? 5 : 0;
        case 0xcb: case 0xcf: case 0xd3: return n >= 9 ? 9 : 0;
        case 0xd4: return n >= 3 ? 3 : 0;
        case 0xd5: return n >= 4 ? 4 : 0;
        case 0xd6: return n >= 6 ? 6 : 0;
        case 0xd7: return n >= 10 ? 10 : 0;
        case 0xd8: return n >= 18 ? 18 : 0;
        case 0xc4: case 0xd9: if (n < 2) return 0; len = p[1]; h = 2; break;
        case 0xc5: case 0xda: if (n < 3) return 0; len = (uint64_t)p[1] << 8 | p[2]; h = 3; break;
        case 0xc6: case 0xdb: if (n < 5) return 0; len = (uint64_t)p[1] << 24 | p[2] << 16 | p[3] << 8 | p[4]; h = 5; break;
        case 0xc7: if (n < 3) return 0; len = p[1] + 1u; h = 2; break;
        case 0xc8: if (n < 4) return 0; len = (p[1] << 8 | p[2]) + 1u; h = 3; break;
        case 0xc9: if (n < 6) return 0; len = ((uint64_t)p[1] << 24 | p[2] << 16 | p[3] << 8 | p[4]) + 1; h = 5; break;
        case 0xdc: case 0xde: if (n < 3) return 0; items = (p[1] << 8 | p[2]) * (t == 0xde ? 2u : 1u); h = 3; break;
        case 0xdd: case 0xdf: if (n < 5) return 0; items = ((uint64_t)p[1] << 24 | p[2] << 16 | p[3] << 8 | p[4]) * (t == 0xdf ? 2u : 1u); h = 5; break;
        default: return 0;
        }
    }
    if (len) return len <= n - h ? h + len : 0;
    size_t at = h;
    for (uint64_t i = 0; i < items; i++) {
        if (at >= n) return 0;
        size_t k = mp_skip(p + at, n - at, depth + 1);
        if (!k) return 0;
        at += k;
    }
    return at;
}

static int mp_is_int(uint8_t t) {
    return t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xcf) || (t >= 0xd0 && t <= 0xd3);
}

static int mp_is_str(uint8_t t) { return (t & 0xe0) == 0xa0 || t == 0xd9 || t == 0xda || t == 0xdb; }

static const uint64_t extremes[] = { 0, 1, 2, 0x7ffffffdu, 0x7fffffffu, 0x80000000u, 0xffffffffu, 0x100000000ull,
                                     1ull << 26, 1ull << 31, 1ull << 63, UINT64_MAX, UINT64_MAX - 1 };
#define N_EXTREMES (sizeof extremes / sizeof extremes[0])

static uint32_t rnd(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static uint64_t pick_value(uint32_t *s, uint64_t old) {
    switch (rnd(s) % 4) {
    case 0: return old + 1;
    case 1: return old - 1;
    case 2: return (uint64_t)rnd(s) << 32 | rnd(s);
    default: return extremes[rnd(s) % N_EXTREMES];
    }
}

/* Replaces n bytes at p[at] with the m bytes of r; returns the new length,
 * or 0 if it would pass cap. */
static size_t splice(uint8_t *p, size_t len, size_t cap, size_t at, size_t n, const uint8_t *r, size_t m) {
    if (len - n + m > cap) return 0;
    memmove(p + at + m, p + at + n, len - at - n);
    memcpy(p + at, r, m);
    return len - n + m;
}

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));

/* Edits a decompressed payload in place (capacity cap); returns the new
 * length and adjusts *count when records are added or dropped. */
static size_t mutate_payload(uint8_t *p, size_t len, size_t cap, uint32_t *count, uint32_t *s) {
    /* Find the records and the scalars among the first ones. */
    enum { MAXPOS = 512 };
    size_t rec[MAXPOS], ints[MAXPOS], strs[MAXPOS], arrs[MAXPOS];
    size_t nrec = 0, nint = 0, nstr = 0, narr = 0;
    for (size_t at = 0; at < len && nrec < MAXPOS;) {
        size_t k = mp_skip(p + at, len - at, 0);
        if (!k) break;
        rec[nrec++] = at;
        for (size_t j = at; j < at + k;) { /* walk the record's bytes value by value */
            uint8_t t = p[j];
            if (mp_is_int(t) && nint < MAXPOS) ints[nint++] = j;
            if (mp_is_str(t) && nstr < MAXPOS) strs[nstr++] = j;
            if (((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) && narr < MAXPOS) arrs[narr++] = j;
            if ((t & 0xf0) == 0x90 || (t & 0xf0) == 0x80) j += 1;
            else if (t == 0xdc || t == 0xde) j += 3;
            else if (t == 0xdd || t == 0xdf) j += 5;
            else {
                size_t v = mp_skip(p + j, at + k - j, 0);
                j += v ? v : 1;
            }
        }
        at += k;
    }
    uint8_t tmp[16];
    switch (rnd(s) % 8) {
    case 0:
    case 1: /* an integer becomes an extreme, as unsigned or signed */
        if (nint) {
            size_t at = ints[rnd(s) % nint];
            size_t old = mp_skip(p + at, len - at, 0);
            uint64_t v = pick_value(s, 0);
            size_t m;
            if (rnd(s) % 4 == 0) {
                tmp[0] = 0xd3;
                for (int i = 0; i < 8; i++) tmp[1 + i] = (uint8_t)(v >> (56 - 8 * i));
                m = 9;
            } else if (v < 128) {
                tmp[0] = (uint8_t)v;
                m = 1;
            } else {
                tmp[0] = 0xcf;
                for (int i = 0; i < 8; i++) tmp[1 + i] = (uint8_t)(v >> (56 - 8 * i));
                m = 9;
            }
            size_t r = splice(p, len, cap, at, old, tmp, m);
            return r ? r : len;
        }
        break;
    case 2: /* duplicate a record, many times for an amplification */
        if (nrec) {
            size_t i = rnd(s) % nrec;
            size_t at = rec[i], k = mp_skip(p + at, len - at, 0);
            uint32_t times = rnd(s) % 4 ? 1 : 1 + rnd(s) % 65536;
            for (uint32_t t = 0; t < times && len + k <= cap; t++) {
                memmove(p + at + k, p + at, len - at);
                len += k;
                if (rnd(s) % 8) (*count)++;
            }
            return len;
        }
        break;
    case 3: /* drop a record */
        if (nrec) {
            size_t at = rec[rnd(s) % nrec], k = mp_skip(p + at, len - at, 0);
            memmove(p + at, p + at + k, len - at - k);
            if (rnd(s) % 8) (*count)--;
            return len - k;
        }
        break;
    case 4: /* change an array's length */
        if (narr) {
            size_t at = arrs[rnd(s) % narr];
            size_t old = p[at] == 0xdc ? 3 : p[at] == 0xdd ? 5 : 1;
            uint32_t n = rnd(s) % 3 == 0 ? (uint32_t)pick_value(s, 0) : (uint32_t)(p[at] & 0x0f) + (rnd(s) % 2 ? 1u : UINT32_MAX);
            tmp[0] = 0xdd;
            tmp[1] = (uint8_t)(n >> 24), tmp[2] = (uint8_t)(n >> 16), tmp[3] = (uint8_t)(n >> 8), tmp[4] = (uint8_t)n;
            size_t m = 5;
            if (n < 16) tmp[0] = (uint8_t)(0x90 | n), m = 1;
            size_t r = splice(p, len, cap, at, old, tmp, m);
            return r ? r : len;
        }
        break;
    case 5: /* a str becomes a bin (or a nil, or an integer) */
        if (nstr) {
            size_t at = strs[rnd(s) % nstr];
            uint8_t t = p[at];
            if ((t & 0xe0) == 0xa0) {
                uint8_t b[2] = { 0xc4, (uint8_t)(t & 0x1f) };
                size_t r = splice(p, len, cap, at, 1, b, 2);
                return r ? r : len;
            }
            p[at] = t == 0xd9 ? 0xc4 : t == 0xda ? 0xc5 : 0xc6;
            return len;
        }
        break;
    default:
        break;
    }
    if (LLVMFuzzerMutate && len < cap) return LLVMFuzzerMutate(p, len, cap);
    if (len) p[rnd(s) % len] ^= (uint8_t)(1u << (rnd(s) % 8));
    return len;
}

/* Decompresses, edits and recompresses block b's payload. */
static void edit_payload(blk *b, uint32_t *s) {
    int64_t raw = frame_raw(b);
    if (raw < 0 || raw > MAX_RAW) return;
    size_t cap = (size_t)raw * 2 + 4096;
    if (cap > MAX_RAW) cap = MAX_RAW;
    uint8_t *p = malloc(cap);
    size_t n = ZSTD_decompress(p, cap, b->payload, b->len);
    if (ZSTD_isError(n)) {
        free(p);
        return;
    }
    n = mutate_payload(p, n, cap, &b->count, s);
    uint8_t *z;
    size_t zn = compress_frame(p, n, &z);
    free(p);
    if (!z) return;
    free(b->payload);
    b->payload = z;
    b->len = zn;
    b->forged = 0;
}

/* Forges one header field; the CRC is recomputed when the file is written. */
static void edit_header(blk *b, uint32_t *s) {
    b->stored = (uint32_t)b->len;
    int64_t fr = frame_raw(b);
    if (!b->forged) b->raw = fr < 0 ? b->raw : (uint32_t)fr;
    b->forged = 1;
    switch (rnd(s) % 8) {
    case 0: b->kind = rnd(s) % 2 ? (uint16_t)(1 + rnd(s) % 20) : (uint16_t)pick_value(s, b->kind); break;
    case 1: b->count = (uint32_t)pick_value(s, b->count); break;
    case 2:
    case 3: b->first = pick_value(s, b->first); break;
    case 4: b->stored = (uint32_t)pick_value(s, b->stored); break;
    case 5: b->raw = (uint32_t)pick_value(s, b->raw); break;
    case 6: b->flags = (uint16_t)rnd(s); break;
    default: /* consistent but huge: first and count that do not tile */
        b->first = pick_value(s, b->first);
        b->count = (uint32_t)pick_value(s, b->count);
        break;
    }
}

static void dup_block(container *c, size_t i, const blk *src) {
    if (c->n >= MAX_BLOCKS) return;
    memmove(&c->b[i + 1], &c->b[i], (c->n - i) * sizeof(blk));
    c->b[i] = *src;
    c->b[i].payload = malloc(src->len ? src->len : 1);
    memcpy(c->b[i].payload, src->payload, src->len);
    c->n++;
}

static size_t emit(const container *c, size_t cut, uint8_t *data, size_t size, size_t max_size) {
    buf o = { 0 };
    container_write(c, &o, cut);
    if (o.len > max_size) { /* too big for libFuzzer: keep the input */
        free(o.p);
        return size;
    }
    memcpy(data, o.p, o.len);
    free(o.p);
    return o.len;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    container c;
    uint32_t s = seed | 1;
    if (!container_parse(data, size, &c) || c.n == 0 || rnd(&s) % 32 == 0) {
        container_free(&c);
        return LLVMFuzzerMutate ? LLVMFuzzerMutate(data, size, max_size) : size;
    }
    size_t cut = 0;
    int edits = 1 + (rnd(&s) % 4 == 0);
    for (int e = 0; e < edits; e++) {
        size_t i = rnd(&s) % c.n;
        switch (rnd(&s) % 16) {
        case 0: case 1: case 2: case 3: case 4: edit_header(&c.b[i], &s); break;
        case 5: case 6: case 7: case 8: case 9: case 10: edit_payload(&c.b[i], &s); break;
        case 11: /* drop a block */
            if (c.n > 1) {
                free(c.b[i].payload);
                memmove(&c.b[i], &c.b[i + 1], (c.n - i - 1) * sizeof(blk));
                c.n--;
            }
            break;
        case 12: { /* duplicate a block */
            blk copy = c.b[i];
            dup_block(&c, rnd(&s) % (c.n + 1), &copy);
            break;
        }
        case 13: { /* swap two blocks */
            size_t j = rnd(&s) % c.n;
            blk t = c.b[i];
            c.b[i] = c.b[j];
            c.b[j] = t;
            break;
        }
        case 14: c.closed = !c.closed; break;
        default: cut = 1 + rnd(&s) % 64; break;
        }
    }
    size_t r = emit(&c, cut, data, size, max_size);
    container_free(&c);
    return r;
}

size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t n1, const uint8_t *d2, size_t n2, uint8_t *out,
                                 size_t max_out, unsigned int seed) {
    container a, b;
    uint32_t s = seed | 1;
    int ok = container_parse(d1, n1, &a);
    ok &= container_parse(d2, n2, &b);
    if (!ok || !a.n || !b.n) {
        container_free(&a);
        container_free(&b);
        size_t n = n1 < max_out ? n1 : max_out;
        memcpy(out, d1, n);
        return n;
    }
    /* Blocks of the second file spliced into the first. */
    size_t k = 1 + rnd(&s) % b.n;
    for (size_t j = 0; j < k; j++) dup_block(&a, rnd(&s) % (a.n + 1), &b.b[rnd(&s) % b.n]);
    size_t r = emit(&a, 0, out, 0, max_out);
    container_free(&a);
    container_free(&b);
    if (!r) {
        r = n1 < max_out ? n1 : max_out;
        memcpy(out, d1, r);
    }
    return r;
}
