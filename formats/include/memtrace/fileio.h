/* Reading inputs and writing outputs safely.
 *
 * One way, shared by formats/, libanalyze/ and the tools, to take a file
 * that may be hostile (a device, an endless pipe, a FIFO with no writer, a
 * file cut short while it is read) and to write one without destroying
 * what was there (a temporary file beside the target, renamed over it only
 * on success; never a truncate or unlink of something that is not a
 * regular file). formats/SPEC.md section 6.1 and each tool's man page say
 * the bounds. */
#ifndef MEMTRACE_FILEIO_H
#define MEMTRACE_FILEIO_H

#include <stdint.h>
#include <stdio.h>
#include "memtrace/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default bound on an input read whole: 16 GiB. */
#define MT_INPUT_MAX_DEFAULT (16ull << 30)
/* Default wait for a pipe or FIFO that sends nothing: 10 seconds. */
#define MT_INPUT_IDLE_MS_DEFAULT 10000

typedef struct mt_input_opts {
    uint64_t max_bytes;  /* refuse a larger input (MT_E_LIMIT); 0: MT_INPUT_MAX_DEFAULT */
    int allow_special;   /* also read devices and sockets; else regular files, pipes, FIFOs and "-" only */
    int idle_ms;         /* pipe or FIFO: fail (MT_E_IO) when no byte arrives for this long;
                            0: MT_INPUT_IDLE_MS_DEFAULT; negative: wait for ever */
    const void *magic;   /* if set, the input must start with these bytes (MT_E_NOTSNAP) */
    size_t magic_len;    /*   checked as soon as they have arrived, before the rest is read */
} mt_input_opts;

/* Reads path ("-" is standard input) whole into a new buffer with one NUL
 * byte after its end (not counted in *len), which the caller frees. The
 * read stops at the bound: the file's size is checked first, a pipe's
 * bytes as they come. A file that shrinks while it is read ends where it
 * ends (it is read with read(2), never mapped, so no SIGBUS). opts may be
 * NULL for the defaults. An input shorter than magic_len is returned as
 * it is: too short to say, the caller reports it.
 * @return 0; MT_E_IO (cannot open, a directory, a device without
 * allow_special, no data within idle_ms, a read error: diag says which,
 * and diag->sys_errno holds the errno where a system call failed),
 * MT_E_LIMIT (larger than max_bytes), MT_E_NOTSNAP (magic differs),
 * MT_E_NOMEM. */
int mt_input_read(const char *path, const mt_input_opts *opts, uint8_t **data, size_t *len, mt_diag *diag);

/* An input read step by step, for readers that take only part of a large
 * file (a CSV's first rows): the same checks as mt_input_read, without
 * reading it whole. Caller-owned; fill it with mt_input_open(). */
typedef struct mt_input {
    int fd;          /* read with mt_input_chunk */
    int owned;       /* 0 for standard input, which is not closed */
    int regular;     /* a regular file: size is its size */
    int pipe;        /* a pipe, FIFO or socket: reads wait at most idle_ms */
    int idle_ms;
    uint64_t size;   /* a regular file's size when opened, else 0 */
    uint64_t offset; /* bytes read so far */
} mt_input;

/* Opens path ("-" is standard input) as mt_input_read would, with opts'
 * allow_special and idle_ms (max_bytes and magic are the caller's to
 * check): a directory or, without allow_special, a device or socket is
 * refused before it is opened; a FIFO is opened without waiting for a
 * writer. @return 0, MT_E_IO (diag says why). */
int mt_input_open(const char *path, const mt_input_opts *opts, mt_input *in, mt_diag *diag);

/* Reads at most cap bytes into buf; *got is 0 at the end of the input.
 * From a pipe or FIFO it waits at most in->idle_ms for the first byte.
 * @return 0, or MT_E_IO (no data within idle_ms, a read error). */
int mt_input_chunk(mt_input *in, void *buf, size_t cap, size_t *got, mt_diag *diag);

/* Closes what mt_input_open opened (never standard input). A no-op on a
 * closed input. */
void mt_input_close(mt_input *in);

/* An output written beside its target and renamed over it on commit.
 * Caller-owned; fill it with mt_output_open(). */
typedef struct mt_output {
    int fd;        /* where to write */
    char *path;    /* the target */
    char *tmp;     /* the temporary file beside it; NULL when writing in place */
} mt_output;

/* Opens an output for path. A regular file or a new name is written
 * through a temporary file in the same directory (".NAME.XXXXXX", mode as
 * the target's or 0666 less the umask), so the target is replaced whole
 * or not at all; a symbolic link is followed to the file it names. An
 * existing target that is not a regular file (a device, a FIFO,
 * /dev/stdout) is written in place and never truncated, unlinked or
 * replaced; a FIFO that no reader opens within MT_INPUT_IDLE_MS_DEFAULT
 * is given up (MT_E_IO). "-" is standard output, in place.
 * @return 0, MT_E_IO (diag names the system error: a directory, no such
 * folder, no permission), MT_E_NOMEM. */
int mt_output_open(mt_output *o, const char *path, mt_diag *diag);

/* Renames the temporary file over the target, once; the fd stays open
 * and writes still go to the file, now at its final name. A no-op when
 * writing in place or already published.
 * @return 0 or MT_E_IO. */
int mt_output_publish(mt_output *o, mt_diag *diag);

/* Closes the output and publishes it: after 0, the target holds what was
 * written. On failure the temporary file is removed and the target is as
 * it was. Frees what o holds in every case.
 * @return 0 or MT_E_IO. */
int mt_output_commit(mt_output *o, mt_diag *diag);

/* Closes the output and removes the temporary file, if it was not
 * published: the target is as it was. A no-op on a zeroed or aborted o. */
void mt_output_abort(mt_output *o);

/* A stdio stream over mt_output, for text outputs. *f is the stream; close
 * it with mt_output_fclose(), which commits when ok is non-zero (after a
 * flush and a check of the stream's error flag) and aborts otherwise.
 * @return 0, MT_E_IO, MT_E_NOMEM. */
int mt_output_fopen(mt_output *o, const char *path, FILE **f, mt_diag *diag);
int mt_output_fclose(mt_output *o, FILE *f, int ok, mt_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
