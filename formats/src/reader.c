/* The reader: reads a file whole (bounded, never mapped), finds its
 * blocks through the footer index (or
 * by scanning when the file was not closed or the index is damaged),
 * checks every block, and lists what could not be used. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader: the checksum flag */
#include <zstd.h>
#include <zstd_errors.h>
#include "internal.h"
#include "memtrace/checked.h"
#include "memtrace/fileio.h"

struct prefetch;
static void pf_stop(mt_reader *r);

struct mt_reader {
    const uint8_t *data;
    size_t size;
    uint8_t *owned;   /* free on free: the file, read whole */
    unsigned major, minor;
    int closed;
    int growing;      /* opened by mt_reader_open_growing */
    uint64_t pending; /* bytes of an unfinished final block left out */
    mt_block_info *blocks;
    size_t nblocks, capblocks;
    mt_damage *damage;
    size_t ndamage, capdamage;
    ZSTD_DCtx *dctx;
    uint8_t *buf;
    size_t bufcap;
    struct prefetch *pf;  /* a background decompressor, or NULL */
};

static void *grow(void *p, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return p;
    size_t nc = *cap ? *cap * 2 : 16;
    void *np = realloc(p, nc * elem);
    if (np) *cap = nc;
    return np;
}

/* Makes room for `more` damage notes beyond those listed. */
static int grow_damage(mt_reader *r, size_t more) {
    if (r->ndamage + more <= r->capdamage) return 1;
    mt_damage *nd = realloc(r->damage, (r->ndamage + more) * sizeof *nd);
    if (!nd) return 0;
    r->damage = nd;
    r->capdamage = r->ndamage + more;
    return 1;
}

static int add_block(mt_reader *r, const mt_block_info *b) {
    mt_block_info *nb = grow(r->blocks, &r->capblocks, r->nblocks, sizeof *nb);
    if (!nb) return MT_E_NOMEM;
    r->blocks = nb;
    r->blocks[r->nblocks++] = *b;
    return 0;
}

/* Lists a damaged stretch. Fails only for lack of memory: open reserves
 * room for one note per block, so later notes always fit. */
static int add_damage(mt_reader *r, int code, int64_t block, uint64_t offset, uint64_t length, int kind,
                      uint64_t first, uint64_t records, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

static int add_damage(mt_reader *r, int code, int64_t block, uint64_t offset, uint64_t length, int kind,
                      uint64_t first, uint64_t records, const char *fmt, ...) {
    mt_damage *nd = grow(r->damage, &r->capdamage, r->ndamage, sizeof *nd);
    if (!nd) return MT_E_NOMEM;
    r->damage = nd;
    mt_damage *d = &r->damage[r->ndamage++];
    *d = (mt_damage){ code, block, offset, length, kind, first, records, "" };
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    return 0;
}

void mt_reader_block_fail(mt_reader *r, size_t i, int code, const char *msg) {
    if (i >= r->nblocks || r->blocks[i].status == MT_BLOCK_DAMAGED) return;
    mt_block_info *b = &r->blocks[i];
    b->status = MT_BLOCK_DAMAGED;
    add_damage(r, code, (int64_t)i, b->offset, MT__BLOCK_HEADER_SIZE + (uint64_t)b->stored, b->kind, b->first,
               b->count, "%s", msg);
}

/* Checks what a header with a sound CRC claims against what its stored
 * bytes can hold (SPEC.md sections 6.1 and 7): a forged count, raw size
 * or sequence number must fail here, before anything is allocated from
 * it. Returns 0, or a code with msg filled. */
static int check_claims(const mt__bhdr *h, char *msg, size_t n) {
    if (h->raw > MT__MAX_RAW) {
        snprintf(msg, n, "raw size %u exceeds the 256 MiB limit", h->raw);
        return MT_E_LIMIT;
    }
    if ((uint64_t)h->raw > (uint64_t)h->stored * MT_MAX_RAW_RATIO) {
        snprintf(msg, n, "raw size %u is more than %u times its stored size %u, the bound on a block's compression",
                 h->raw, MT_MAX_RAW_RATIO, h->stored);
        return MT_E_LIMIT;
    }
    unsigned min = mt__kind_min_bytes(h->kind);
    if (h->count > h->raw / min) {
        snprintf(msg, n, "%u records cannot fit in %u raw bytes (a record takes at least %u)", h->count, h->raw, min);
        return MT_E_CORRUPT;
    }
    uint64_t end;
    if (h->kind == MT_KIND_OBJECT && (h->first >= MT__MAX_OBJECTS || h->count > MT__MAX_OBJECTS - h->first)) {
        snprintf(msg, n, "first record %llu%s is past the %u objects a file may hold",
                 (unsigned long long)h->first, h->first >= MT__MAX_OBJECTS ? "" : " plus the block's records",
                 MT__MAX_OBJECTS);
        return MT_E_LIMIT;
    }
    if (mt_add_u64(h->first, h->count, &end)) {
        snprintf(msg, n, "first record %llu plus %u records is past 2^64 - 1", (unsigned long long)h->first, h->count);
        return MT_E_CORRUPT;
    }
    return 0;
}

/* Offset of the next marker at or after from whose header checks out, or
 * end. */
static size_t next_block(const mt_reader *r, size_t from, size_t end) {
    while (from + MT__BLOCK_HEADER_SIZE <= end) {
        const uint8_t *m = memmem(r->data + from, end - from, MT__BLOCK_MARKER, 8);
        if (!m) break;
        size_t at = (size_t)(m - r->data);
        mt__bhdr h;
        if (at + MT__BLOCK_HEADER_SIZE <= end && mt__bhdr_get(m, &h) == 0) return at;
        from = at + 1;
    }
    return end;
}

/* Walks blocks from the header to end, resynchronizing on damage. */
static int scan(mt_reader *r, size_t end) {
    size_t pos = MT__HEADER_SIZE;
    while (pos < end) {
        int64_t bi = (int64_t)r->nblocks;
        if (end - pos < MT__BLOCK_HEADER_SIZE) {
            return add_damage(r, MT_E_TRUNCATED, -1, pos, end - pos, 0, 0, 0,
                              "file ends inside a block header (%zu of %d bytes)", end - pos, MT__BLOCK_HEADER_SIZE);
        }
        mt__bhdr h;
        int rc = mt__bhdr_get(r->data + pos, &h);
        if (rc == 0) {
            uint64_t need = MT__BLOCK_HEADER_SIZE + (uint64_t)h.stored;
            if (need > end - pos) {
                mt_block_info b = { pos, h.first, h.count, h.stored, h.raw, h.kind, MT_BLOCK_DAMAGED };
                if (h.kind != MT_KIND_INDEX && add_block(r, &b)) return MT_E_NOMEM;
                return add_damage(r, MT_E_TRUNCATED, h.kind == MT_KIND_INDEX ? -1 : bi, pos, end - pos,
                                  h.kind == MT_KIND_INDEX ? 0 : h.kind, h.first, h.kind == MT_KIND_INDEX ? 0 : h.count,
                                  "block is cut short: it needs %llu bytes, the file has %zu left",
                                  (unsigned long long)need, end - pos);
            }
            char why[160];
            int bad = check_claims(&h, why, sizeof why);
            if (bad && h.kind != MT_KIND_INDEX) {
                mt_block_info b = { pos, h.first, h.count, h.stored, h.raw, h.kind, MT_BLOCK_DAMAGED };
                if (add_block(r, &b)) return MT_E_NOMEM;
                if (add_damage(r, bad, bi, pos, need, h.kind, h.first, 0, "%s", why)) return MT_E_NOMEM;
            }
            /* An index block without its trailer: the writer stopped while
             * closing. It holds no data, so it is passed over. */
            else if (h.kind != MT_KIND_INDEX) {
                mt_block_info b = { pos, h.first, h.count, h.stored, h.raw, h.kind, MT_BLOCK_OK };
                if (add_block(r, &b)) return MT_E_NOMEM;
            }
            pos += need;
            continue;
        }
        size_t next = next_block(r, pos + 1, end);
        mt_block_info b = { pos, 0, 0, 0, 0, 0, MT_BLOCK_DAMAGED };
        if (add_block(r, &b)) return MT_E_NOMEM;
        if (add_damage(r, rc, bi, pos, next - pos, 0, 0, 0, "%s; skipped %zu bytes to %s",
                       rc == MT_E_CHECKSUM ? "block header checksum mismatch" : "no block marker", next - pos,
                       next < end ? "the next block" : "the end of the file"))
            return MT_E_NOMEM;
        pos = next;
    }
    return 0;
}

/* Decompresses the frame at src into r->buf, checking everything SPEC.md
 * 3.2 asks of it. Fills msg on failure. */
typedef struct zbuf {
    ZSTD_DCtx *dctx;
    uint8_t *buf;
    size_t cap;
} zbuf;

static int inflate_into(zbuf *z, const uint8_t *src, uint32_t stored, uint32_t raw, char *msg, size_t n) {
    if (raw > MT__MAX_RAW) {
        snprintf(msg, n, "raw size %u exceeds the 256 MiB limit", raw);
        return MT_E_LIMIT;
    }
    ZSTD_frameHeader fh;
    size_t hr = ZSTD_getFrameHeader(&fh, src, stored);
    if (hr != 0 || fh.frameType != ZSTD_frame) {
        snprintf(msg, n, "payload is not a zstd frame");
        return MT_E_CORRUPT;
    }
    if (!fh.checksumFlag) {
        snprintf(msg, n, "zstd frame has no content checksum");
        return MT_E_CORRUPT;
    }
    if (fh.frameContentSize == ZSTD_CONTENTSIZE_UNKNOWN || fh.frameContentSize == ZSTD_CONTENTSIZE_ERROR) {
        snprintf(msg, n, "zstd frame does not declare its size, the block header says %u bytes", raw);
        return MT_E_CORRUPT;
    }
    if (fh.frameContentSize != raw) {
        snprintf(msg, n, "zstd frame holds %llu bytes, the block header says %u",
                 (unsigned long long)fh.frameContentSize, raw);
        return MT_E_CORRUPT;
    }
    if ((uint64_t)raw > (uint64_t)stored * MT_MAX_RAW_RATIO) {
        snprintf(msg, n, "raw size %u is more than %u times its stored size %u, the bound on a block's compression",
                 raw, MT_MAX_RAW_RATIO, stored);
        return MT_E_LIMIT;
    }
    if ((size_t)raw + 1 > z->cap) {
        uint8_t *nb = realloc(z->buf, (size_t)raw + 1);
        if (!nb) {
            snprintf(msg, n, "cannot allocate %u bytes", raw);
            return MT_E_NOMEM;
        }
        z->buf = nb;
        z->cap = (size_t)raw + 1;
    }
    size_t got = ZSTD_decompressDCtx(z->dctx, z->buf, raw, src, stored);
    if (ZSTD_isError(got)) {
        if (ZSTD_getErrorCode(got) == ZSTD_error_checksum_wrong) {
            snprintf(msg, n, "payload checksum mismatch");
            return MT_E_CHECKSUM;
        }
        snprintf(msg, n, "zstd: %s", ZSTD_getErrorName(got));
        return MT_E_CORRUPT;
    }
    if (got != raw) {
        snprintf(msg, n, "payload holds %zu bytes, the block header says %u", got, raw);
        return MT_E_CORRUPT;
    }
    return 0;
}

static int inflate(mt_reader *r, const uint8_t *src, uint32_t stored, uint32_t raw, char *msg, size_t n) {
    zbuf z = { r->dctx, r->buf, r->bufcap };
    int rc = inflate_into(&z, src, stored, raw, msg, n);
    r->buf = z.buf;
    r->bufcap = z.cap;
    return rc;
}

/* 1, with msg filled, when an entry of the index just read (r->blocks)
 * cannot be believed: it disagrees with the sound header at its offset,
 * or its claims fail check_claims where the header cannot be read. */
static int index_lies(const mt_reader *r, char *msg, size_t n) {
    for (size_t i = 0; i < r->nblocks; i++) {
        const mt_block_info *b = &r->blocks[i];
        mt__bhdr e = { .kind = b->kind, .count = b->count, .first = b->first, .stored = b->stored, .raw = b->raw };
        mt__bhdr h;
        if (mt__bhdr_get(r->data + b->offset, &h) != 0) {
            char why[120]; /* check_claims says at most 105 */
            if (check_claims(&e, why, sizeof why) == 0) continue;
            snprintf(msg, n, "entry %zu for a damaged block header: %s", i, why);
            return 1;
        }
        const char *field = NULL;
        uint64_t said = 0, has = 0;
        if (h.kind != e.kind) field = "kind", said = e.kind, has = h.kind;
        else if (h.count != e.count) field = "count", said = e.count, has = h.count;
        else if (h.first != e.first) field = "first", said = e.first, has = h.first;
        else if (h.stored != e.stored) field = "stored", said = e.stored, has = h.stored;
        else if (h.raw != e.raw) field = "raw", said = e.raw, has = h.raw;
        if (!field) continue;
        snprintf(msg, n, "entry %zu says %s %llu, the block header at offset %llu says %llu", i, field,
                 (unsigned long long)said, (unsigned long long)b->offset, (unsigned long long)has);
        return 1;
    }
    return 0;
}

/* Reads the trailer and index; 1 when they describe the file, which then
 * needs no scan. */
static int load_index(mt_reader *r) {
    if (r->size < MT__HEADER_SIZE + MT__BLOCK_HEADER_SIZE + MT__TRAILER_SIZE) return 0;
    const uint8_t *t = r->data + r->size - MT__TRAILER_SIZE;
    if (memcmp(t + 16, MT__END_MAGIC, 8) != 0) return 0;
    size_t end = r->size - MT__TRAILER_SIZE;
    if (mt__crc32(t, 12) != mt__le32(t + 12))
        return add_damage(r, MT_E_CHECKSUM, -1, end, MT__TRAILER_SIZE, 0, 0, 0,
                          "trailer checksum mismatch; scanning instead") ? -1 : 0;
    uint64_t at = mt__le64(t);
    uint32_t nb = mt__le32(t + 8);
    mt__bhdr h;
    char msg[200] = "";
    int rc = MT_E_CORRUPT;
    if (at < MT__HEADER_SIZE || at > end - MT__BLOCK_HEADER_SIZE) snprintf(msg, sizeof msg, "index offset %llu is outside the file", (unsigned long long)at);
    else if ((rc = mt__bhdr_get(r->data + at, &h)) != 0) snprintf(msg, sizeof msg, "index block header is damaged");
    else if (h.kind != MT_KIND_INDEX || h.count != nb || at + MT__BLOCK_HEADER_SIZE + h.stored != end) {
        rc = MT_E_CORRUPT;
        snprintf(msg, sizeof msg, "index block does not match the trailer");
    } else
        rc = inflate(r, r->data + at + MT__BLOCK_HEADER_SIZE, h.stored, h.raw, msg, sizeof msg);
    if (rc == MT_E_NOMEM) return -1;
    if (rc) return add_damage(r, rc, -1, at < end ? at : end, 0, 0, 0, 0, "index: %s; scanning instead", msg) ? -1 : 0;
    const mt__kind_desc *d = mt__kind_schema(MT_KIND_INDEX);
    const uint8_t *p = r->buf, *pe = r->buf + h.raw;
    uint64_t expect = MT__HEADER_SIZE;
    for (uint32_t i = 0; i < nb; i++) {
        mt__index_entry e;
        if ((rc = mt__record_decode(d, &p, pe, &e, msg, sizeof msg)) != 0 || e.offset != expect ||
            e.kind == MT_KIND_INDEX || e.kind > 0xFFFF) {
            if (!rc) snprintf(msg, sizeof msg, "entry %u does not follow the previous block", i);
            r->nblocks = 0;
            return add_damage(r, rc ? rc : MT_E_CORRUPT, -1, at, 0, 0, 0, 0, "index: %s; scanning instead", msg) ? -1 : 0;
        }
        mt_block_info b = { e.offset, e.first, e.count, e.stored, e.raw, (uint16_t)e.kind, MT_BLOCK_OK };
        if (add_block(r, &b)) return -1;
        /* expect <= at here, so this cannot wrap; checked all the same. */
        if (mt_add_u64(e.offset, MT__BLOCK_HEADER_SIZE + (uint64_t)e.stored, &expect) || expect > at) {
            r->nblocks = 0;
            return add_damage(r, MT_E_CORRUPT, -1, at, 0, 0, 0, 0,
                              "index: entry %u ends past the index at offset %llu; scanning instead", i,
                              (unsigned long long)at) ? -1 : 0;
        }
    }
    if (expect != at || p != pe) {
        r->nblocks = 0;
        return add_damage(r, MT_E_CORRUPT, -1, at, 0, 0, 0, 0, "index: blocks do not reach the index; scanning instead")
                   ? -1 : 0;
    }
    /* The index decodes and tiles the file; it is used only if it also
     * agrees with every sound block header and claims only what a header
     * may (SPEC.md section 5). An entry can lie as well as a header: one
     * that disagrees with a header whose CRC holds is not believed over
     * it, and one whose count or raw size fails the header checks would
     * otherwise stand in for a damaged header and forge the records lost. */
    if (index_lies(r, msg, sizeof msg)) {
        r->nblocks = 0;
        return add_damage(r, MT_E_CORRUPT, -1, at, 0, 0, 0, 0, "index: %s; scanning instead", msg) ? -1 : 0;
    }
    /* Room for one note per block, so that block_fail never allocates. */
    if (!grow_damage(r, r->nblocks + 1)) return -1;
    /* The index is sound: check that each block it lists is where it says. */
    for (size_t i = 0; i < r->nblocks; i++) {
        mt_block_info *b = &r->blocks[i];
        rc = mt__bhdr_get(r->data + b->offset, &h);
        char why[160];
        if (rc == 0 && (rc = check_claims(&h, why, sizeof why)) != 0) {
            /* Its count is one of the claims in doubt: records lost unknown. */
            b->status = MT_BLOCK_DAMAGED;
            add_damage(r, rc, (int64_t)i, b->offset, MT__BLOCK_HEADER_SIZE + (uint64_t)b->stored, b->kind, b->first,
                       0, "%s", why);
        }
        else if (rc)
            mt_reader_block_fail(r, i, rc, rc == MT_E_CHECKSUM ? "block header checksum mismatch"
                                 : "no block marker where the index points");
    }
    r->closed = 1;
    return 1;
}

static int open_common(mt_reader *r, const char *name, mt_diag *diag) {
    if (r->size == 0) return mt_diag_set(diag, MT_E_NOTSNAP, "empty file, not a memtrace snapshot");
    size_t k = r->size < 8 ? r->size : 8;
    if (memcmp(r->data, MT__MAGIC, k) != 0) return mt_diag_set(diag, MT_E_NOTSNAP, "not a memtrace snapshot (bad magic)");
    if (r->size < MT__HEADER_SIZE) {
        if (diag) diag->offset = 0;
        return mt_diag_set(diag, MT_E_TRUNCATED, "file ends inside the header (%zu of %d bytes)", r->size,
                           MT__HEADER_SIZE);
    }
    r->major = mt__le16(r->data + 8);
    r->minor = mt__le16(r->data + 10);
    if (r->major > MT_FORMAT_MAJOR || r->major == 0)
        return mt_diag_set(diag, MT_E_VERSION, "format version %u.%u is %s this reader's %d.%d", r->major, r->minor,
                           r->major ? "newer than" : "older than any supported by", MT_FORMAT_MAJOR, MT_FORMAT_MINOR);
    (void)name;
    r->dctx = ZSTD_createDCtx();
    if (!r->dctx) return mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the zstd context");
    int idx = load_index(r);
    if (idx < 0) return mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the block table");
    if (!idx) {
        size_t end = r->size;
        int unclosed = !(r->size >= MT__TRAILER_SIZE && memcmp(r->data + r->size - 8, MT__END_MAGIC, 8) == 0);
        if (!unclosed) end -= MT__TRAILER_SIZE;
        if (scan(r, end)) return mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the block table");
        /* A file still being written ends, at worst, in a block its writer
         * has not finished writing: the scan's last note, a block or a
         * header cut short at the very end. Those bytes are not there yet,
         * and the missing index is what an open file looks like. */
        if (unclosed && r->growing) {
            mt_damage *d = r->ndamage ? &r->damage[r->ndamage - 1] : NULL;
            if (d && d->code == MT_E_TRUNCATED && d->offset + d->length == r->size) {
                if (d->block >= 0 && (size_t)d->block + 1 == r->nblocks) r->nblocks--;
                r->pending = d->length;
                r->ndamage--;
            }
        }
        /* After the scan, so that a block cut short is named first. */
        else if (unclosed && add_damage(r, MT_E_TRUNCATED, -1, r->size, 0, 0, 0, 0,
                                   "no index at the end: the file was not closed (its writer is still writing it, or stopped or crashed)"))
            return mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the damage list");
        if (!grow_damage(r, r->nblocks + 1)) return mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the damage list");
    }
    return 0;
}

static int open_mem(const void *data, size_t size, const char *name, int growing, mt_reader **out, mt_diag *diag) {
    *out = NULL;
    mt_reader *r = calloc(1, sizeof *r);
    if (!r) return mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the reader");
    r->growing = growing;
    r->data = data;
    r->size = size;
    int rc = open_common(r, name, diag);
    if (rc) {
        mt_reader_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int mt_reader_open_mem(const void *data, size_t size, const char *name, mt_reader **out, mt_diag *diag) {
    return open_mem(data, size, name, 0, out, diag);
}

int mt_reader_open_mem_growing(const void *data, size_t size, const char *name, mt_reader **out, mt_diag *diag) {
    return open_mem(data, size, name, 1, out, diag);
}

static int open_path(const char *path, int growing, mt_reader **out, mt_diag *diag) {
    *out = NULL;
    mt_reader *r = calloc(1, sizeof *r);
    if (!r) return mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the reader");
    r->growing = growing;
    /* Read whole with read(2), bounded, the magic checked as soon as it
     * has arrived (SPEC.md 6.1): a device, an endless pipe or a FIFO with
     * no writer ends in an error, and a file cut short while it is read
     * cannot raise SIGBUS, as a mapping did. Reading costs about as much
     * as the page faults of a mapping (bench/format, 1M objects). */
    mt_input_opts o = { .magic = MT__MAGIC, .magic_len = 8 };
    int rc = mt_input_read(path, &o, &r->owned, &r->size, diag);
    if (rc) {
        free(r);
        if (rc == MT_E_NOTSNAP) return mt_diag_set(diag, MT_E_NOTSNAP, "not a memtrace snapshot (bad magic)");
        return rc;
    }
    r->data = r->owned;
    rc = open_common(r, path, diag);
    if (rc) {
        mt_reader_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void mt_reader_free(mt_reader *r) {
    if (!r) return;
    pf_stop(r);
    free(r->owned);
    free(r->blocks);
    free(r->damage);
    free(r->buf);
    ZSTD_freeDCtx(r->dctx);
    free(r);
}

void mt_reader_version(const mt_reader *r, unsigned *major, unsigned *minor) {
    if (major) *major = r->major;
    if (minor) *minor = r->minor;
}

uint64_t mt_reader_size(const mt_reader *r) { return r->size; }
int mt_reader_open(const char *path, mt_reader **out, mt_diag *diag) { return open_path(path, 0, out, diag); }

int mt_reader_open_growing(const char *path, mt_reader **out, mt_diag *diag) {
    return open_path(path, 1, out, diag);
}

uint64_t mt_reader_pending(const mt_reader *r) { return r->pending; }

int mt_reader_closed(const mt_reader *r) { return r->closed; }
size_t mt_reader_block_count(const mt_reader *r) { return r->nblocks; }
const mt_block_info *mt_reader_block(const mt_reader *r, size_t i) { return i < r->nblocks ? &r->blocks[i] : NULL; }
size_t mt_reader_damage_count(const mt_reader *r) { return r->ndamage; }
const mt_damage *mt_reader_damage(const mt_reader *r, size_t i) { return i < r->ndamage ? &r->damage[i] : NULL; }

int mt_damage_diag(const mt_damage *d, int code, mt_diag *diag) {
    if (!diag) return code;
    mt_diag_set(diag, code, "%s", d->msg);
    diag->block = d->block;
    diag->offset = (int64_t)d->offset;
    diag->kind = d->kind;
    return code;
}

/* ---- prefetch: decompressing ahead on a second thread ----
 *
 * The loader opens blocks one after the other and decodes their records;
 * decompression is about half of that work (perf, 10M objects), so a
 * thread that decompresses the next blocks meanwhile uses the second core.
 * It only fills buffers: what a block's decompression found is reported by
 * mt_reader_block_open() on the caller's thread, as without it. */
#define PF_SLOTS 4

typedef struct pf_slot {
    zbuf z;
    int state;            /* 0 free, 1 being filled, 2 ready */
    int rc;
    char msg[160];
} pf_slot;

typedef struct prefetch {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t *order;        /* blocks, in the order they will be opened */
    size_t n, produced, consumed;
    int stop;
    const mt_reader *r;
    pf_slot slot[PF_SLOTS];
} prefetch;

static void *pf_main(void *arg) {
    prefetch *pf = arg;
    for (;;) {
        pthread_mutex_lock(&pf->mu);
        while (!pf->stop && pf->produced < pf->n && pf->slot[pf->produced % PF_SLOTS].state != 0)
            pthread_cond_wait(&pf->cv, &pf->mu);
        if (pf->stop || pf->produced == pf->n) {
            pthread_mutex_unlock(&pf->mu);
            return NULL;
        }
        pf_slot *sl = &pf->slot[pf->produced % PF_SLOTS];
        size_t bi = pf->order[pf->produced];
        sl->state = 1;
        pthread_mutex_unlock(&pf->mu);
        /* Block headers and the file's bytes do not change once open. */
        const mt_block_info *b = &pf->r->blocks[bi];
        sl->msg[0] = 0;
        sl->rc = inflate_into(&sl->z, pf->r->data + b->offset + MT__BLOCK_HEADER_SIZE, b->stored, b->raw, sl->msg,
                              sizeof sl->msg);
        pthread_mutex_lock(&pf->mu);
        sl->state = 2;
        pf->produced++;
        pthread_cond_broadcast(&pf->cv);
        pthread_mutex_unlock(&pf->mu);
    }
}

/* Frees a prefetcher whose thread is not running (any more); synced: its
 * mutex and condition were made. */
static void pf_free(prefetch *pf, int synced) {
    for (int i = 0; i < PF_SLOTS; i++) {
        ZSTD_freeDCtx(pf->slot[i].z.dctx);
        free(pf->slot[i].z.buf);
    }
    if (synced) {
        pthread_mutex_destroy(&pf->mu);
        pthread_cond_destroy(&pf->cv);
    }
    free(pf->order);
    free(pf);
}

static void pf_stop(mt_reader *r) {
    prefetch *pf = r->pf;
    if (!pf) return;
    pthread_mutex_lock(&pf->mu);
    pf->stop = 1;
    pthread_cond_broadcast(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
    pthread_join(pf->thread, NULL);
    pf_free(pf, 1);
    r->pf = NULL;
}

/* Below this much to decompress, starting a thread costs more than it
 * saves (the reader fuzzer ran 6 times fewer inputs a second with a
 * thread for every pass of every tiny file). */
#define PF_MIN_RAW (1u << 20)

int mt_reader_prefetch(mt_reader *r, const size_t *blocks, size_t n) {
    pf_stop(r);
    uint64_t raw = 0;
    for (size_t i = 0; i < n; i++) {
        if (blocks[i] >= r->nblocks) return MT_E_INVAL;
        raw = mt_sat_add_u64(raw, r->blocks[blocks[i]].raw);
    }
    if (n < 2 || raw < PF_MIN_RAW) return 0; /* nothing worth overlapping */
    prefetch *pf = calloc(1, sizeof *pf);
    if (!pf) return MT_E_NOMEM;
    int ok = (pf->order = malloc(n * sizeof *pf->order)) != NULL;
    for (int i = 0; ok && i < PF_SLOTS; i++) ok = (pf->slot[i].z.dctx = ZSTD_createDCtx()) != NULL;
    if (!ok || pthread_mutex_init(&pf->mu, NULL) != 0) {
        pf_free(pf, 0);
        return MT_E_NOMEM;
    }
    pthread_cond_init(&pf->cv, NULL);
    memcpy(pf->order, blocks, n * sizeof *blocks);
    pf->n = n;
    pf->r = r;
    if (pthread_create(&pf->thread, NULL, pf_main, pf) != 0) {
        pf_free(pf, 1); /* no thread: everything is decompressed on open, as before */
        return 0;
    }
    r->pf = pf;
    return 0;
}

/* If block i is the next one prefetched, waits for it and takes its
 * buffer: returns 1 with *rc and msg set; else returns 0. */
static int pf_take(mt_reader *r, size_t i, int *rc, char *msg, size_t n) {
    prefetch *pf = r->pf;
    if (!pf) return 0;
    pthread_mutex_lock(&pf->mu);
    if (pf->consumed >= pf->n || pf->order[pf->consumed] != i) {
        pthread_mutex_unlock(&pf->mu);
        return 0;
    }
    pf_slot *sl = &pf->slot[pf->consumed % PF_SLOTS];
    while (sl->state != 2) pthread_cond_wait(&pf->cv, &pf->mu);
    /* Swap buffers: the cursor reads the slot's, the slot reuses ours. */
    uint8_t *b = r->buf;
    size_t cap = r->bufcap;
    r->buf = sl->z.buf;
    r->bufcap = sl->z.cap;
    sl->z.buf = b;
    sl->z.cap = cap;
    *rc = sl->rc;
    snprintf(msg, n, "%s", sl->msg);
    sl->state = 0;
    pf->consumed++;
    pthread_cond_broadcast(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
    return 1;
}

static int block_diag(mt_diag *diag, const mt_reader *r, size_t i, int code, const char *msg) {
    if (diag) {
        diag->block = (int64_t)i;
        diag->offset = i < r->nblocks ? (int64_t)r->blocks[i].offset : -1;
        diag->kind = i < r->nblocks ? r->blocks[i].kind : 0;
    }
    return mt_diag_set(diag, code, "%s", msg);
}

int mt_reader_block_open(mt_reader *r, size_t i, mt_cursor *c, mt_diag *diag) {
    memset(c, 0, sizeof *c);
    if (i >= r->nblocks) return mt_diag_set(diag, MT_E_INVAL, "no block %zu", i);
    mt_block_info *b = &r->blocks[i];
    if (b->status == MT_BLOCK_DAMAGED) {
        for (size_t k = 0; k < r->ndamage; k++)
            if (r->damage[k].block == (int64_t)i) return block_diag(diag, r, i, r->damage[k].code, r->damage[k].msg);
        return block_diag(diag, r, i, MT_E_CORRUPT, "block is damaged");
    }
    char msg[160];
    int rc;
    if (!pf_take(r, i, &rc, msg, sizeof msg))
        rc = inflate(r, r->data + b->offset + MT__BLOCK_HEADER_SIZE, b->stored, b->raw, msg, sizeof msg);
    if (rc) {
        if (rc != MT_E_NOMEM) mt_reader_block_fail(r, i, rc, msg);
        return block_diag(diag, r, i, rc, msg);
    }
    c->p = r->buf;
    c->end = r->buf + b->raw;
    c->count = b->count;
    c->kind = b->kind;
    c->block = i;
    c->reader = r;
    return 0;
}

int mt_cursor_next(mt_cursor *c, void *rec, mt_diag *diag) {
    mt_reader *r = c->reader;
    if (!r) return 0;
    char msg[200];
    int rc;
    if (c->index == c->count) {
        if (c->p == c->end) return 0;
        snprintf(msg, sizeof msg, "%zu bytes follow the last of its %u records", (size_t)(c->end - c->p), c->count);
        rc = MT_E_CORRUPT;
    } else if (c->p == c->end) {
        snprintf(msg, sizeof msg, "payload ends after %llu of its %u records", (unsigned long long)c->index, c->count);
        rc = MT_E_CORRUPT;
    } else {
        const mt__kind_desc *d = mt__kind_schema(c->kind);
        char why[160] = "record is not msgpack";
        size_t at = (size_t)(c->p - r->buf);
        if (d && c->kind != MT_KIND_INDEX) rc = mt__record_decode(d, &c->p, c->end, rec, why, sizeof why);
        else rc = mt__mp_skip(&c->p, c->end); /* a kind from a newer writer */
        if (rc == 0) {
            c->index++;
            return 1;
        }
        snprintf(msg, sizeof msg, "record %llu (payload byte %zu): %s", (unsigned long long)c->index, at, why);
    }
    mt_reader_block_fail(r, c->block, rc, msg);
    c->p = c->end;
    c->index = c->count;
    c->reader = NULL;
    return block_diag(diag, r, c->block, rc, msg);
}
