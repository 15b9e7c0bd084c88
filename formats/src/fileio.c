/* Bounded input reading and replace-on-success outputs (fileio.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "memtrace/fileio.h"

static const char *file_kind(mode_t m) {
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISDIR(m)) return "a directory";
    return "not a regular file";
}

/* MT_E_IO for a system call that failed with err: "WHAT: strerror(err)"
 * as the message, err in diag->sys_errno (errors.h). */
static int sys_fail(mt_diag *diag, int err, const char *what) {
    mt_diag_set(diag, MT_E_IO, "%s: %s", what, strerror(err));
    if (diag) diag->sys_errno = err;
    return MT_E_IO;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd has data or end of file, for at most idle_ms (negative:
 * for ever). Returns 0, or 1 on time-out, or -1 with errno. */
static int wait_readable(int fd, int idle_ms) {
    if (idle_ms < 0) return 0;
    int64_t end = now_ms() + idle_ms;
    for (;;) {
        int64_t left = end - now_ms();
        if (left < 0) left = 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int k = poll(&p, 1, (int)left);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) return 1;
        return 0;
    }
}

int mt_input_open(const char *path, const mt_input_opts *opts, mt_input *in, mt_diag *diag) {
    memset(in, 0, sizeof *in);
    in->fd = -1;
    in->idle_ms = opts && opts->idle_ms ? opts->idle_ms : MT_INPUT_IDLE_MS_DEFAULT;
    int is_stdin = !strcmp(path, "-");
    int fd = 0;
    struct stat st;
    if (!is_stdin) {
        /* Look before opening: opening a FIFO for reading blocks until a
         * writer comes, and opening some devices has effects. */
        if (stat(path, &st) != 0) return sys_fail(diag, errno, "cannot open");
        if (S_ISDIR(st.st_mode)) return sys_fail(diag, EISDIR, "cannot read");
        if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !(opts && opts->allow_special))
            return mt_diag_set(diag, MT_E_IO, "cannot read: %s, not a regular file or a pipe", file_kind(st.st_mode));
        fd = open(path, O_RDONLY | O_CLOEXEC | (S_ISFIFO(st.st_mode) ? O_NONBLOCK : 0));
        if (fd < 0) return sys_fail(diag, errno, "cannot open");
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        if (!is_stdin) close(fd);
        return sys_fail(diag, e, "cannot read");
    }
    if (is_stdin && !S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) &&
        !(opts && opts->allow_special)) {
        return mt_diag_set(diag, MT_E_IO, "cannot read standard input: %s, not a regular file or a pipe",
                           file_kind(st.st_mode));
    }
    in->fd = fd;
    in->owned = !is_stdin;
    in->regular = S_ISREG(st.st_mode);
    in->pipe = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
    in->size = in->regular ? (uint64_t)st.st_size : 0;
    return 0;
}

int mt_input_chunk(mt_input *in, void *buf, size_t cap, size_t *got, mt_diag *diag) {
    *got = 0;
    for (;;) {
        if (in->pipe) {
            int w = wait_readable(in->fd, in->idle_ms);
            if (w == 1)
                return mt_diag_set(diag, MT_E_IO, "no data for %d ms%s; giving up", in->idle_ms,
                                   in->offset ? " after the first bytes" : " (a pipe or FIFO with no writer?)");
            if (w < 0) return sys_fail(diag, errno, "cannot read");
        }
        ssize_t k = read(in->fd, buf, cap);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k < 0) {
            int e = errno;
            char what[64];
            snprintf(what, sizeof what, "cannot read at offset %llu", (unsigned long long)in->offset);
            return sys_fail(diag, e, what);
        }
        *got = (size_t)k;
        in->offset += (uint64_t)k;
        return 0;
    }
}

void mt_input_close(mt_input *in) {
    if (in->owned && in->fd >= 0) close(in->fd);
    in->fd = -1;
    in->owned = 0;
}

int mt_input_read(const char *path, const mt_input_opts *opts, uint8_t **data, size_t *len, mt_diag *diag) {
    *data = NULL;
    *len = 0;
    uint64_t max = opts && opts->max_bytes ? opts->max_bytes : MT_INPUT_MAX_DEFAULT;
    const uint8_t *magic = opts ? opts->magic : NULL;
    size_t magic_len = magic ? opts->magic_len : 0;
    mt_input in;
    int rc = mt_input_open(path, opts, &in, diag);
    if (rc) return rc;
    if (in.regular && in.size > max) {
        mt_input_close(&in);
        return mt_diag_set(diag, MT_E_LIMIT, "the file has %llu bytes, more than the %llu this reader takes",
                           (unsigned long long)in.size, (unsigned long long)max);
    }
    /* A regular file's size is known (0 for /proc files, which are read to
     * their end all the same); a pipe grows its buffer as bytes come. */
    size_t cap = in.regular && in.size > 0 ? (size_t)in.size + 1 : 1 << 16;
    uint8_t *b = malloc(cap);
    size_t n = 0;
    int checked = magic_len == 0;
    if (!b) rc = mt_diag_set(diag, MT_E_NOMEM, "cannot allocate %zu bytes for the input", cap);
    while (!rc) {
        if (n + 1 >= cap) {
            size_t ncap = cap * 2;
            if (ncap > max + 1) ncap = (size_t)max + 1;
            if (ncap <= n + 1) ncap = n + 2; /* one byte past max, to see that there is more */
            uint8_t *nb = realloc(b, ncap);
            if (!nb) {
                rc = mt_diag_set(diag, MT_E_NOMEM, "cannot hold %zu bytes of the input in memory", ncap);
                break;
            }
            b = nb;
            cap = ncap;
        }
        size_t k;
        if ((rc = mt_input_chunk(&in, b + n, cap - 1 - n, &k, diag))) break;
        if (k == 0) break;
        n += k;
        if (!checked && n >= magic_len) {
            checked = 1;
            if (memcmp(b, magic, magic_len)) {
                rc = mt_diag_set(diag, MT_E_NOTSNAP, "not a memtrace snapshot: the first %zu bytes are not its magic",
                                 magic_len);
                break;
            }
        }
        if (n > max) {
            rc = mt_diag_set(diag, MT_E_LIMIT, "the input is larger than the %llu bytes this reader takes",
                             (unsigned long long)max);
            break;
        }
    }
    mt_input_close(&in);
    if (rc) {
        free(b);
        return rc;
    }
    b[n] = 0;
    *data = b;
    *len = n;
    return 0;
}

/* ---- outputs ---- */

/* The permission bits a new file gets: 0666 less the umask, read from
 * /proc without umask(2), which would race with the process's threads. */
static mode_t new_file_mode(void) {
    mode_t mask = 022;
    FILE *f = fopen("/proc/self/status", "re");
    if (f) {
        char line[128];
        unsigned m;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "Umask: %o", &m) == 1) {
                mask = (mode_t)m;
                break;
            }
        fclose(f);
    }
    return 0666 & ~mask;
}

int mt_output_open(mt_output *o, const char *path, mt_diag *diag) {
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (!strcmp(path, "-")) {
        o->fd = dup(1);
        if (o->fd < 0) return sys_fail(diag, errno, "cannot write to standard output");
        return 0;
    }
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) return sys_fail(diag, EISDIR, "cannot create");
    if (exists && !S_ISREG(st.st_mode)) {
        /* A device, a FIFO, a terminal: write into it, never replace it.
         * Opening a FIFO for writing blocks until a reader comes: open it
         * without blocking, and wait for a reader as long as an input
         * waits for a writer (ENXIO: none yet). */
        int64_t end = now_ms() + MT_INPUT_IDLE_MS_DEFAULT;
        while ((o->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0 && errno == ENXIO &&
               now_ms() < end)
            usleep(20000);
        if (o->fd < 0 && errno == ENXIO)
            return mt_diag_set(diag, MT_E_IO, "no reader opened the FIFO within %d ms; giving up",
                               MT_INPUT_IDLE_MS_DEFAULT);
        if (o->fd < 0) return sys_fail(diag, errno, "cannot open");
        int fl = fcntl(o->fd, F_GETFL);
        if (fl >= 0) fcntl(o->fd, F_SETFL, fl & ~O_NONBLOCK);
        return 0;
    }
    /* Replace the file a link names, not the link. */
    char *real = exists ? realpath(path, NULL) : NULL;
    o->path = real ? real : strdup(path);
    if (!o->path) return mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the output's name");
    char *dirc = strdup(o->path), *basec = strdup(o->path);
    size_t tl = strlen(o->path) + 16;
    o->tmp = malloc(tl);
    if (!dirc || !basec || !o->tmp) {
        free(dirc);
        free(basec);
        mt_output_abort(o);
        return mt_diag_set(diag, MT_E_NOMEM, "cannot allocate the output's name");
    }
    const char *dir = dirname(dirc), *base = basename(basec);
    /* ".NAME.XXXXXX" says whose temporary file it is, but is 8 bytes longer
     * than NAME: for a name near NAME_MAX (a valid 255-byte name failed
     * with "File name too long") a short one in the same directory. */
    long name_max = pathconf(dir, _PC_NAME_MAX);
    if (name_max <= 0) name_max = 255;
    if (strlen(base) + 8 > (size_t)name_max) snprintf(o->tmp, tl, "%s/.mt-XXXXXX", dir);
    else snprintf(o->tmp, tl, "%s/.%s.XXXXXX", dir, base);
    free(dirc);
    free(basec);
    o->fd = mkostemp(o->tmp, O_CLOEXEC);
    if (o->fd < 0) {
        int e = errno;
        free(o->tmp);
        o->tmp = NULL;
        mt_output_abort(o);
        return sys_fail(diag, e, "cannot create");
    }
    fchmod(o->fd, exists ? (st.st_mode & 07777) : new_file_mode());
    return 0;
}

int mt_output_publish(mt_output *o, mt_diag *diag) {
    if (!o->tmp) return 0;
    if (rename(o->tmp, o->path) != 0) return sys_fail(diag, errno, "cannot rename into place");
    free(o->tmp);
    o->tmp = NULL;
    return 0;
}

int mt_output_commit(mt_output *o, mt_diag *diag) {
    int rc = 0;
    if (o->fd >= 0 && close(o->fd) != 0) rc = sys_fail(diag, errno, "cannot close");
    o->fd = -1;
    if (!rc) rc = mt_output_publish(o, diag);
    mt_output_abort(o);
    return rc;
}

void mt_output_abort(mt_output *o) {
    if (o->fd >= 0) close(o->fd);
    o->fd = -1;
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    o->tmp = NULL;
    o->path = NULL;
}

int mt_output_fopen(mt_output *o, const char *path, FILE **f, mt_diag *diag) {
    *f = NULL;
    int rc = mt_output_open(o, path, diag);
    if (rc) return rc;
    *f = fdopen(o->fd, "w");
    if (!*f) {
        mt_output_abort(o);
        return mt_diag_set(diag, MT_E_NOMEM, "cannot open a stream on the output");
    }
    o->fd = -1; /* the stream owns it now */
    return 0;
}

int mt_output_fclose(mt_output *o, FILE *f, int ok, mt_diag *diag) {
    int rc = 0;
    if (f) {
        if (fflush(f) != 0 || ferror(f)) {
            if (ok) rc = sys_fail(diag, errno ? errno : EIO, "cannot write");
        }
        if (fclose(f) != 0 && ok && !rc) rc = sys_fail(diag, errno, "cannot close");
    }
    if (!ok || rc) {
        mt_output_abort(o);
        return rc;
    }
    return mt_output_commit(o, diag);
}
