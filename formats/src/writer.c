/* The streaming writer: one msgpack buffer per record kind, each
 * compressed into a block and written as soon as it is full, by the
 * caller's thread or, with opts.background, by a second one that takes
 * finished blocks in order from a queue of two. When that queue is full
 * the caller compresses its block itself and queues the result, so that
 * both threads compress when compression is what holds the dump up. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <msgpack.h>
#include <zstd.h>
#include "memtrace/fileio.h"
#include "internal.h"

typedef struct kbuf {
    msgpack_sbuffer sb;
    uint32_t count;   /* records in the unfinished block */
    uint64_t total;   /* records of this kind written, this block included */
} kbuf;

enum { QUEUE = 2 };

/* A finished block waiting for the background thread. */
typedef struct job {
    uint16_t kind;
    uint32_t count;
    uint64_t first;
    uint32_t raw;       /* 0: sb holds the payload; else its zstd frame, of a payload of raw bytes */
    msgpack_sbuffer sb;
} job;

struct mt_writer {
    int fd;           /* out.fd while the writer runs */
    mt_output out;    /* the target, through a temporary file beside it */
    int publish_on_flush;
    int err;          /* sticky; atomic, as both threads may set it */
    char errmsg[sizeof ((mt_diag *)0)->msg]; /* a diag message, whole */
    size_t block_bytes;
    int level;
    uint64_t offset;  /* bytes written so far */
    ZSTD_CCtx *cctx;
    ZSTD_CCtx *own_cctx;     /* the caller's, for blocks it compresses itself */
    uint64_t own_blocks;     /* how many it did */
    msgpack_sbuffer zbuf;    /* emit_block's compressed block */
    kbuf kinds[MT_KIND_MAX + 1];
    mt__index_entry *index;
    size_t nindex, capindex;
    msgpack_sbuffer scratch; /* the index block's payload */
    /* The background thread owns fd, offset, cctx, zbuf and the index
     * while it runs; everything below is under mu. */
    int background;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* a job queued, a job done, or stop */
    job q[QUEUE];
    size_t qhead, qlen;
    int busy, stop;
    msgpack_sbuffer spare[QUEUE + 1]; /* emptied buffers, kept for their room */
    size_t nspare;
};

static int err_of(mt_writer *w) { return __atomic_load_n(&w->err, __ATOMIC_ACQUIRE); }

static int fail(mt_writer *w, int code, const char *what) {
    pthread_mutex_lock(&w->mu);
    if (!w->err) {
        snprintf(w->errmsg, sizeof w->errmsg, "%s", what);
        __atomic_store_n(&w->err, code, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&w->mu);
    return err_of(w);
}

static int write_all(mt_writer *w, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            char m[160];
            snprintf(m, sizeof m, "cannot write at offset %llu: %s", (unsigned long long)w->offset,
                     strerror(errno));
            return fail(w, MT_E_IO, m);
        }
        p += k;
        n -= (size_t)k;
        w->offset += (uint64_t)k;
    }
    return 0;
}

/* A compression context as SPEC.md 3.2 asks; NULL without memory. */
static ZSTD_CCtx *make_cctx(int level) {
    ZSTD_CCtx *c = ZSTD_createCCtx();
    if (!c) return NULL;
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    /* SPEC.md 3.2: every frame carries its content checksum and size. */
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
    return c;
}

static int reserve(msgpack_sbuffer *sb, size_t more) {
    if (sb->alloc - sb->size >= more) return 0;
    size_t want = sb->alloc ? sb->alloc * 2 : 8192;
    while (want - sb->size < more) want *= 2;
    char *p = realloc(sb->data, want);
    if (!p) return -1;
    sb->data = p;
    sb->alloc = want;
    return 0;
}

/* Writes payload into out as a zstd frame of raw (stored) blocks, with
 * its content size and checksum as SPEC.md 3.2 asks (RFC 8878 3.1.1: the
 * magic, a header of a 128 KiB window and an 8-byte content size, blocks
 * of at most 128 KiB, the low 32 bits of XXH64). For a payload that
 * compresses past MT_MAX_RAW_RATIO, which readers refuse as an
 * amplification: a writer must never make a file its readers refuse. */
static void store_frame(msgpack_sbuffer *out, const char *payload, size_t size) {
    uint8_t *p = (uint8_t *)out->data;
    mt__put32(p, 0xFD2FB528u);
    p[4] = 3u << 6 | 1u << 2; /* 8-byte content size, checksum, not single-segment */
    p[5] = 7u << 3;           /* window 2^(10+7) = 128 KiB */
    mt__put64(p + 6, size);
    p += 14;
    size_t left = size;
    const char *q = payload;
    do {
        size_t n = left < (128u << 10) ? left : (128u << 10);
        uint32_t bh = (uint32_t)n << 3 | (n == left); /* type 0: raw; the last one */
        p[0] = (uint8_t)bh;
        p[1] = (uint8_t)(bh >> 8);
        p[2] = (uint8_t)(bh >> 16);
        memcpy(p + 3, q, n);
        p += 3 + n;
        q += n;
        left -= n;
    } while (left);
    mt__put32(p, (uint32_t)mt__xxh64(payload, size, 0));
    p += 4;
    out->size = (size_t)(p - (uint8_t *)out->data);
}

/* Bytes store_frame writes for size bytes of payload. */
static size_t stored_frame_bound(size_t size) { return 14 + 3 * (size / (128u << 10) + 1) + size + 4; }

/* Compresses payload with cctx into out (emptied first): a frame that
 * write_block can take as it is. */
static int compress(mt_writer *w, ZSTD_CCtx *cctx, msgpack_sbuffer *out, const char *payload, size_t size) {
    if (size > MT__MAX_RAW) return fail(w, MT_E_LIMIT, "block larger than 256 MiB");
    out->size = 0;
    if (reserve(out, ZSTD_compressBound(size))) return fail(w, MT_E_NOMEM, "cannot allocate the compression buffer");
    size_t z = ZSTD_compress2(cctx, out->data, out->alloc, payload, size);
    if (ZSTD_isError(z)) {
        char m[160];
        snprintf(m, sizeof m, "zstd: %s", ZSTD_getErrorName(z));
        return fail(w, MT_E_IO, m);
    }
    if (z > UINT32_MAX) return fail(w, MT_E_LIMIT, "block larger than 256 MiB");
    out->size = z;
    if ((uint64_t)z * MT_MAX_RAW_RATIO < size) {
        out->size = 0;
        if (reserve(out, stored_frame_bound(size))) return fail(w, MT_E_NOMEM, "cannot allocate the compression buffer");
        store_frame(out, payload, size);
    }
    return 0;
}

/* Writes one block of kind: its header and z, compress()'s frame of a
 * payload of raw bytes. */
static int write_block(mt_writer *w, uint16_t kind, uint32_t count, uint64_t first, const void *z, size_t zsize,
                       size_t raw) {
    mt__bhdr h = { kind, 0, count, first, (uint32_t)zsize, (uint32_t)raw };
    uint8_t hdr[MT__BLOCK_HEADER_SIZE];
    mt__bhdr_put(hdr, &h);
    uint64_t at = w->offset;
    if (write_all(w, hdr, sizeof hdr) || write_all(w, z, zsize)) return err_of(w);
    if (kind != MT_KIND_INDEX) {
        if (w->nindex == w->capindex) {
            size_t nc = w->capindex ? 2 * w->capindex : 64;
            mt__index_entry *ni = realloc(w->index, nc * sizeof *ni);
            if (!ni) return fail(w, MT_E_NOMEM, "cannot grow the index");
            w->index = ni;
            w->capindex = nc;
        }
        w->index[w->nindex++] = (mt__index_entry){ at, kind, count, first, (uint32_t)zsize, (uint32_t)raw };
    }
    return 0;
}

/* Compresses payload into one block of kind and writes it. */
static int emit_block(mt_writer *w, uint16_t kind, uint32_t count, uint64_t first,
                      const char *payload, size_t size) {
    if (compress(w, w->cctx, &w->zbuf, payload, size)) return err_of(w);
    return write_block(w, kind, count, first, w->zbuf.data, w->zbuf.size, size);
}

/* Kinds other records refer to by id. They go to disk before any block
 * that may refer to them, so that a file cut short after a block still
 * holds the types, strings, frames and stacks that block needs. */
static int is_dictionary(int kind) {
    return kind == MT_KIND_META || kind == MT_KIND_STRING || kind == MT_KIND_TYPE || kind == MT_KIND_FRAME ||
           kind == MT_KIND_STACK;
}

/* The background thread: blocks in the order they were queued. */
static void *compressor(void *arg) {
    mt_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->qlen && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        if (!w->qlen) break;
        job j = w->q[w->qhead];
        w->qhead = (w->qhead + 1) % QUEUE;
        w->qlen--;
        w->busy = 1;
        pthread_mutex_unlock(&w->mu);
        if (!err_of(w)) {
            if (j.raw) write_block(w, j.kind, j.count, j.first, j.sb.data, j.sb.size, j.raw);
            else emit_block(w, j.kind, j.count, j.first, j.sb.data, j.sb.size);
        }
        pthread_mutex_lock(&w->mu);
        j.sb.size = 0;
        if (w->nspare < QUEUE + 1) w->spare[w->nspare++] = j.sb;
        else msgpack_sbuffer_destroy(&j.sb);
        w->busy = 0;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* An emptied buffer from the spare ones; under mu. */
static msgpack_sbuffer take_spare(mt_writer *w) {
    msgpack_sbuffer sb;
    if (w->nspare) sb = w->spare[--w->nspare];
    else msgpack_sbuffer_init(&sb);
    return sb;
}

/* Hands kind's finished block to the background thread and gives the
 * kind an emptied buffer. While the queue is full the block is compressed
 * here rather than waited on: with the walk and zstd on two cores of one
 * machine, zstd was often the slower (1M objects: 90 ms of zstd against
 * 80 of walk), and the caller sat idle. */
static int enqueue(mt_writer *w, int kind) {
    kbuf *b = &w->kinds[kind];
    job j = { (uint16_t)kind, b->count, b->total - b->count, 0, b->sb };
    pthread_mutex_lock(&w->mu);
    if (w->qlen == QUEUE && !w->err && (w->own_cctx || (w->own_cctx = make_cctx(w->level)))) {
        msgpack_sbuffer z = take_spare(w);
        pthread_mutex_unlock(&w->mu);
        int rc = compress(w, w->own_cctx, &z, b->sb.data, b->sb.size);
        pthread_mutex_lock(&w->mu);
        if (rc) {
            msgpack_sbuffer_destroy(&z);
        } else {
            j.raw = (uint32_t)b->sb.size;
            j.sb = z;
            w->own_blocks++;
        }
    }
    while (w->qlen == QUEUE && !w->err) pthread_cond_wait(&w->cv, &w->mu);
    int rc = w->err;
    if (!rc) {
        w->q[(w->qhead + w->qlen++) % QUEUE] = j;
        if (j.raw) b->sb.size = 0; /* the kind keeps its buffer */
        else b->sb = take_spare(w);
        pthread_cond_broadcast(&w->cv);
    } else if (j.raw) {
        msgpack_sbuffer_destroy(&j.sb);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Waits until the background thread has written every queued block. */
static int drain(mt_writer *w) {
    if (!w->background) return err_of(w);
    pthread_mutex_lock(&w->mu);
    /* After an error the thread drops what is left without writing it. */
    while (w->qlen || w->busy) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    return err_of(w);
}

/* Stops the background thread; queued blocks are written first unless
 * discard is set. */
static void stop_thread(mt_writer *w, int discard) {
    if (!w->background) return;
    pthread_mutex_lock(&w->mu);
    if (discard) {
        for (; w->qlen; w->qlen--, w->qhead = (w->qhead + 1) % QUEUE) msgpack_sbuffer_destroy(&w->q[w->qhead].sb);
    }
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    w->background = 0;
}

static int flush_kind(mt_writer *w, int kind) {
    kbuf *b = &w->kinds[kind];
    if (!b->count) return 0;
    if (!is_dictionary(kind))
        for (int k = 1; k <= MT_KIND_MAX; k++)
            if (is_dictionary(k) && w->kinds[k].count && flush_kind(w, k)) return err_of(w);
    int rc;
    if (w->background) {
        rc = enqueue(w, kind);
    } else {
        rc = emit_block(w, (uint16_t)kind, b->count, b->total - b->count, b->sb.data, b->sb.size);
        b->sb.size = 0;
    }
    b->count = 0;
    return rc;
}

/* A writer with nothing open yet: buffers, compressor, lock. */
static mt_writer *writer_new(const mt_writer_opts *opts, mt_diag *diag) {
    mt_writer *w = calloc(1, sizeof *w);
    if (!w) {
        mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the writer");
        return NULL;
    }
    w->fd = -1;
    w->out.fd = -1;
    w->block_bytes = opts && opts->block_bytes ? opts->block_bytes : (1u << 20);
    if (w->block_bytes > MT__MAX_RAW / 2) w->block_bytes = MT__MAX_RAW / 2;
    w->level = opts && opts->level ? opts->level : 3;
    msgpack_sbuffer_init(&w->zbuf);
    w->cctx = make_cctx(w->level);
    if (!w->cctx) {
        free(w);
        mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the zstd context");
        return NULL;
    }
    for (int k = 0; k <= MT_KIND_MAX; k++) msgpack_sbuffer_init(&w->kinds[k].sb);
    msgpack_sbuffer_init(&w->scratch);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    return w;
}

static void writer_start(mt_writer *w, const mt_writer_opts *opts, mt_writer **out) {
    /* Without a thread the writer works as well, only slower. */
    if (opts && opts->background && !pthread_create(&w->thread, NULL, compressor, w)) w->background = 1;
    *out = w;
}

int mt_writer_open(const char *path, const mt_writer_opts *opts, mt_writer **out, mt_diag *diag) {
    *out = NULL;
    mt_writer *w = writer_new(opts, diag);
    if (!w) return MT_E_NOMEM;
    int orc = mt_output_open(&w->out, path, diag);
    if (orc) {
        mt_writer_abandon(w);
        return orc;
    }
    w->fd = w->out.fd;
    w->publish_on_flush = opts && opts->publish_on_flush;
    uint8_t hdr[MT__HEADER_SIZE] = { 0 };
    memcpy(hdr, MT__MAGIC, 8);
    mt__put16(hdr + 8, MT_FORMAT_MAJOR);
    mt__put16(hdr + 10, MT_FORMAT_MINOR);
    if (write_all(w, hdr, sizeof hdr)) {
        int rc = mt_diag_set(diag, w->err, "%s", w->errmsg);
        mt_writer_abandon(w);
        return rc;
    }
    writer_start(w, opts, out);
    return 0;
}

/* pread of exactly n bytes at off: 1 read, 0 end of file first, -1 error. */
static int pread_full(int fd, void *buf, size_t n, uint64_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) return 0;
        got += (size_t)r;
    }
    return 1;
}

/* Reads the block headers of the file open on w->fd (size bytes) into the
 * index and the kinds' counts; *end is where appending starts. */
static int scan_for_append(mt_writer *w, uint64_t size, uint64_t *end, mt_diag *diag) {
    uint64_t at = MT__HEADER_SIZE;
    for (;;) {
        uint8_t hb[MT__BLOCK_HEADER_SIZE];
        if (at == size) break;
        int r = pread_full(w->fd, hb, sizeof hb, at);
        if (r < 0) return mt_diag_set(diag, MT_E_IO, "cannot read: %s", strerror(errno));
        if (r == 0) break; /* a header cut short at the end: not yet written */
        mt__bhdr h;
        if (mt__bhdr_get(hb, &h)) {
            if (diag) diag->offset = (int64_t)at;
            return mt_diag_set(diag, MT_E_DAMAGED,
                               "a damaged block header: appending would hide what follows it "
                               "(memtrace-convert --salvage copies what can be read)");
        }
        uint64_t next = at + MT__BLOCK_HEADER_SIZE + h.stored;
        if (next > size) break; /* a payload cut short at the end */
        if (h.kind == MT_KIND_INDEX) {
            /* The index and trailer of a closed file (or their start, when
             * a close was cut short): written again at close. */
            if (size - next <= MT__TRAILER_SIZE) break;
            if (diag) diag->offset = (int64_t)at;
            return mt_diag_set(diag, MT_E_DAMAGED, "an index block followed by %llu bytes, not a trailer",
                               (unsigned long long)(size - next));
        }
        if (h.kind >= 1 && h.kind <= MT_KIND_MAX) {
            kbuf *b = &w->kinds[h.kind];
            if (h.first + h.count > b->total) b->total = h.first + h.count;
        }
        if (w->nindex == w->capindex) {
            size_t nc = w->capindex ? 2 * w->capindex : 64;
            mt__index_entry *ni = realloc(w->index, nc * sizeof *ni);
            if (!ni) return mt_diag_set(diag, MT_E_NOMEM, "cannot grow the index");
            w->index = ni;
            w->capindex = nc;
        }
        w->index[w->nindex++] = (mt__index_entry){ at, h.kind, h.count, h.first, h.stored, h.raw };
        at = next;
    }
    *end = at;
    return 0;
}

int mt_writer_append(const char *path, const mt_writer_opts *opts, mt_writer **out, mt_diag *diag) {
    *out = NULL;
    mt_writer *w = writer_new(opts, diag);
    if (!w) return MT_E_NOMEM;
    int rc = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = mt_diag_set(diag, MT_E_IO, "cannot open for appending: %s", strerror(errno));
        goto fail;
    }
    w->fd = w->out.fd = fd;
    w->out.path = strdup(path);
    if (!w->out.path) {
        rc = mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the output's name");
        goto fail;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        if (errno == EWOULDBLOCK)
            rc = mt_diag_set(diag, MT_E_BUSY, "another writer is appending to it");
        else
            rc = mt_diag_set(diag, MT_E_IO, "cannot lock: %s", strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = mt_diag_set(diag, MT_E_IO, "cannot stat: %s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = mt_diag_set(diag, MT_E_IO, "not a regular file; only a file can be appended to");
        goto fail;
    }
    uint8_t hdr[MT__HEADER_SIZE] = { 0 };
    uint64_t end = MT__HEADER_SIZE;
    if (st.st_size == 0) {
        memcpy(hdr, MT__MAGIC, 8);
        mt__put16(hdr + 8, MT_FORMAT_MAJOR);
        mt__put16(hdr + 10, MT_FORMAT_MINOR);
        if (write_all(w, hdr, sizeof hdr)) {
            rc = mt_diag_set(diag, w->err, "%s", w->errmsg);
            goto fail;
        }
    } else {
        int r = pread_full(fd, hdr, sizeof hdr, 0);
        if (r < 0) {
            rc = mt_diag_set(diag, MT_E_IO, "cannot read: %s", strerror(errno));
            goto fail;
        }
        if (r == 0 || memcmp(hdr, MT__MAGIC, 8) != 0) {
            rc = mt_diag_set(diag, MT_E_NOTSNAP, "not a memtrace snapshot (no magic at offset 0); not appending to it");
            goto fail;
        }
        unsigned major = mt__le16(hdr + 8), minor = mt__le16(hdr + 10);
        if (major != MT_FORMAT_MAJOR) {
            rc = mt_diag_set(diag, MT_E_VERSION, "format version %u.%u is not this writer's %u.x; not appending to it",
                             major, minor, (unsigned)MT_FORMAT_MAJOR);
            goto fail;
        }
        rc = scan_for_append(w, (uint64_t)st.st_size, &end, diag);
        if (rc) goto fail;
        if (minor < MT_FORMAT_MINOR) {
            uint8_t v[2];
            mt__put16(v, MT_FORMAT_MINOR);
            if (pwrite(fd, v, 2, 10) != 2) {
                rc = mt_diag_set(diag, MT_E_IO, "cannot update the header: %s", strerror(errno));
                goto fail;
            }
        }
        if ((uint64_t)st.st_size != end && ftruncate(fd, (off_t)end) != 0) {
            rc = mt_diag_set(diag, MT_E_IO, "cannot drop its index or unfinished block: %s", strerror(errno));
            goto fail;
        }
        if (lseek(fd, (off_t)end, SEEK_SET) < 0) {
            rc = mt_diag_set(diag, MT_E_IO, "cannot seek: %s", strerror(errno));
            goto fail;
        }
        w->offset = end;
    }
    writer_start(w, opts, out);
    return 0;
fail:
    if (diag) diag->file = path;
    mt_writer_abandon(w);
    return rc;
}

static uint8_t *put_value(uint8_t *p, const mt_value *v) {
    switch (v->type) {
    case MT_VAL_NIL: *p++ = 0xc0; break;
    case MT_VAL_BOOL: *p++ = v->v.b ? 0xc3 : 0xc2; break;
    case MT_VAL_INT: p = mt__mp_put_int(p, v->v.i); break;
    case MT_VAL_UINT: p = mt__mp_put_uint(p, v->v.u); break;
    case MT_VAL_FLOAT: p = mt__mp_put_double(p, v->v.f); break;
    case MT_VAL_STR: p = mt__mp_put_raw(p, v->v.s.ptr, v->v.s.len, 0); break;
    case MT_VAL_BIN: p = mt__mp_put_raw(p, v->v.s.ptr, v->v.s.len, 1); break;
    }
    return p;
}

/* 1 when the field holds its default (0, empty, nil), which SPEC.md 4.1
 * lets a writer leave out at the end of a record. */
static int is_default(const mt__field *f, const char *rec) {
    const char *p = rec + f->offset;
    switch (f->type) {
    case MT__F_U32: return *(const uint32_t *)p == 0;
    case MT__F_U64: return *(const uint64_t *)p == 0;
    case MT__F_F64: return *(const double *)p == 0.0;
    case MT__F_STR: case MT__F_BIN: return ((const mt_str *)p)->len == 0;
    case MT__F_VAL: return ((const mt_value *)p)->type == MT_VAL_NIL;
    }
    return 0;
}

/* The most bytes rec can take packed. Packing writes into room reserved
 * first, so that a record is added whole or, when memory runs out, not at
 * all. */
static size_t packed_bound(const mt__kind_desc *d, const void *rec) {
    size_t n = 5; /* the array header */
    for (unsigned i = 0; i < d->nfields; i++) {
        const char *p = (const char *)rec + d->fields[i].offset;
        if (d->fields[i].type == MT__F_STR || d->fields[i].type == MT__F_BIN) n += 5 + ((const mt_str *)p)->len;
        else if (d->fields[i].type == MT__F_VAL) n += 9 + ((const mt_value *)p)->v.s.len * (((const mt_value *)p)->type >= MT_VAL_STR);
        else n += 9;
    }
    return n;
}

uint8_t *mt__pack_record(uint8_t *p, const mt__kind_desc *d, const void *rec) {
    unsigned n = d->nfields;
    while (n > 0 && !d->fields[n - 1].required && is_default(&d->fields[n - 1], rec)) n--;
    p = mt__mp_put_array(p, n);
    for (unsigned i = 0; i < n; i++) {
        const mt__field *f = &d->fields[i];
        const char *at = (const char *)rec + f->offset;
        switch (f->type) {
        case MT__F_U32: p = mt__mp_put_uint(p, *(const uint32_t *)at); break;
        case MT__F_U64: p = mt__mp_put_uint(p, *(const uint64_t *)at); break;
        case MT__F_F64: p = mt__mp_put_double(p, *(const double *)at); break;
        case MT__F_STR: p = mt__mp_put_raw(p, ((const mt_str *)at)->ptr, ((const mt_str *)at)->len, 0); break;
        case MT__F_BIN: p = mt__mp_put_raw(p, ((const mt_str *)at)->ptr, ((const mt_str *)at)->len, 1); break;
        case MT__F_VAL: p = put_value(p, (const mt_value *)at); break;
        }
    }
    return p;
}

/* Appends rec to sb, which has packed_bound() bytes of room. */
static void pack_record(msgpack_sbuffer *sb, const mt__kind_desc *d, const void *rec) {
    uint8_t *p = mt__pack_record((uint8_t *)sb->data + sb->size, d, rec);
    sb->size = (size_t)(p - (uint8_t *)sb->data);
}

/* Objects and references are nearly all of a heap snapshot's records:
 * they are packed field by field here, the schema's order and trailing
 * defaults written out (SPEC.md 4.1, 4.2), instead of by the generic loop,
 * which took a fifth of dump_heap's main thread (perf, 1M objects).
 * tests/unit/format/test_format.c checks them against the generic packer. */
static inline uint8_t *pack_object(uint8_t *p, const mt_object *o) {
    unsigned n = o->gen ? 6 : o->stack ? 5 : o->flags ? 4 : 3;
    *p++ = (uint8_t)(0x90 | n);
    p = mt__mp_put_uint(p, o->id);
    p = mt__mp_put_uint(p, o->type);
    p = mt__mp_put_uint(p, o->size);
    if (n > 3) p = mt__mp_put_uint(p, o->flags);
    if (n > 4) p = mt__mp_put_uint(p, o->stack);
    if (n > 5) p = mt__mp_put_uint(p, o->gen);
    return p;
}

static inline uint8_t *pack_ref(uint8_t *p, const mt_ref *r) {
    unsigned n = r->label.len ? 4 : r->flags ? 3 : 2;
    *p++ = (uint8_t)(0x90 | n);
    p = mt__mp_put_uint(p, r->src);
    p = mt__mp_put_uint(p, r->dst);
    if (n > 2) p = mt__mp_put_uint(p, r->flags);
    if (n > 3) p = mt__mp_put_raw(p, r->label.ptr, r->label.len, 0);
    return p;
}

/* For the tests: the fast packers, not inline. */
uint8_t *mt__pack_object(uint8_t *p, const mt_object *o) { return pack_object(p, o); }
uint8_t *mt__pack_ref(uint8_t *p, const mt_ref *r) { return pack_ref(p, r); }
uint64_t mt__writer_own_blocks(const mt_writer *w) { return w->own_blocks; }

int mt_writer_add(mt_writer *w, mt_kind kind, const void *rec) {
    int rc = err_of(w);
    if (rc) return rc;
    if (kind < 1 || kind > MT_KIND_MAX || !rec) return MT_E_INVAL;
    kbuf *b = &w->kinds[kind];
    const mt__kind_desc *d = NULL;
    /* An object: array header, 6 uints of at most 9 bytes, less the 4-byte
     * ones; a reference: header, 3 uint32s, the label's str header. */
    size_t bound = kind == MT_KIND_OBJECT ? 40
                   : kind == MT_KIND_REF  ? 21 + ((const mt_ref *)rec)->label.len
                                          : packed_bound(d = mt__kind_schema(kind), rec);
    if (reserve(&b->sb, bound)) return fail(w, MT_E_NOMEM, "cannot grow a block buffer");
    uint8_t *p = (uint8_t *)b->sb.data + b->sb.size;
    p = kind == MT_KIND_OBJECT ? pack_object(p, rec) : kind == MT_KIND_REF ? pack_ref(p, rec) : mt__pack_record(p, d, rec);
    b->sb.size = (size_t)(p - (uint8_t *)b->sb.data);
    b->count++;
    b->total++;
    if (b->sb.size >= w->block_bytes || b->count == UINT32_MAX) return flush_kind(w, kind);
    return 0;
}

int mt_writer_meta_str(mt_writer *w, const char *key, const char *value) {
    mt_meta m = { mt_str_c(key), { MT_VAL_STR, { .s = mt_str_c(value) } } };
    return mt_writer_add(w, MT_KIND_META, &m);
}

int mt_writer_meta_uint(mt_writer *w, const char *key, uint64_t value) {
    mt_meta m = { mt_str_c(key), { MT_VAL_UINT, { .u = value } } };
    return mt_writer_add(w, MT_KIND_META, &m);
}

int mt_writer_meta_float(mt_writer *w, const char *key, double value) {
    mt_meta m = { mt_str_c(key), { MT_VAL_FLOAT, { .f = value } } };
    return mt_writer_add(w, MT_KIND_META, &m);
}

uint64_t mt_writer_count(const mt_writer *w, mt_kind kind) {
    return kind >= 1 && kind <= MT_KIND_MAX ? w->kinds[kind].total : 0;
}

int mt_writer_flush(mt_writer *w) {
    /* Kinds in number order: objects before the references to them.  */
    for (int k = 1; k <= MT_KIND_MAX && !err_of(w); k++) flush_kind(w, k);
    int rc = drain(w);
    if (!rc && w->publish_on_flush && w->out.tmp) {
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        if (mt_output_publish(&w->out, &d)) rc = fail(w, MT_E_IO, d.msg);
    }
    return rc;
}

int mt_writer_close(mt_writer *w, mt_diag *diag) {
    if (!w) return 0;
    int rc = mt_writer_flush(w);
    stop_thread(w, 0);
    if (!rc) {
        const mt__kind_desc *d = mt__kind_schema(MT_KIND_INDEX);
        /* Integers only: at most 9 bytes a field, 5 the array header. */
        if (reserve(&w->scratch, w->nindex * (5 + 9 * d->nfields) + 1))
            rc = fail(w, MT_E_NOMEM, "cannot allocate the index");
        for (size_t i = 0; !rc && i < w->nindex; i++) pack_record(&w->scratch, d, &w->index[i]);
        uint64_t index_at = w->offset;
        if (!rc) rc = emit_block(w, MT_KIND_INDEX, (uint32_t)w->nindex, 0, w->scratch.data ? w->scratch.data : "",
                        w->scratch.size);
        if (!rc) {
            uint8_t t[MT__TRAILER_SIZE];
            mt__put64(t, index_at);
            mt__put32(t + 8, (uint32_t)w->nindex);
            mt__put32(t + 12, mt__crc32(t, 12));
            memcpy(t + 16, MT__END_MAGIC, 8);
            rc = write_all(w, t, sizeof t);
        }
    }
    if (!rc) {
        /* Only a complete file replaces the target. */
        mt_diag d = { 0 };
        mt_diag_clear(&d);
        if (mt_output_commit(&w->out, &d)) rc = fail(w, MT_E_IO, d.msg);
    }
    w->fd = -1;
    if (rc) mt_diag_set(diag, rc, "%s", w->errmsg);
    mt_writer_abandon(w);
    return rc;
}

void mt_writer_abandon(mt_writer *w) {
    if (!w) return;
    stop_thread(w, 1);
    /* Removes the temporary file: the target keeps what it held. */
    mt_output_abort(&w->out);
    for (size_t i = 0; i < w->nspare; i++) msgpack_sbuffer_destroy(&w->spare[i]);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    for (int k = 0; k <= MT_KIND_MAX; k++) msgpack_sbuffer_destroy(&w->kinds[k].sb);
    msgpack_sbuffer_destroy(&w->scratch);
    ZSTD_freeCCtx(w->cctx);
    ZSTD_freeCCtx(w->own_cctx);
    msgpack_sbuffer_destroy(&w->zbuf);
    free(w->index);
    free(w);
}
