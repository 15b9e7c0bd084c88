/* Pictures of snapshots, drawn by gnuplot: each plot kind writes its data
 * (tab-separated, one block per series) and a readable gnuplot script that
 * draws it. Running gnuplot is the caller's business; the script names the
 * image and the data by the names in mt_plot_opts, so it is meant to run
 * from the directory that holds them. Given the same inputs and options
 * the script and the data are the same bytes: no time, no absolute path. */
#ifndef MEMTRACE_PLOT_H
#define MEMTRACE_PLOT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "memtrace/diff.h"
#include "memtrace/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The gnuplot variables the script reads the data file's and the picture's
 * names from; it sets them to mt_plot_opts' names only when they are not
 * set already, so that `gnuplot -e "datafile='data.dat'; image='out.png'"`
 * runs it on names the caller chose. */
#define MT_PLOT_DATA_VAR "datafile"
#define MT_PLOT_IMAGE_VAR "image"

typedef enum mt_plot_format { MT_PLOT_PNG = 0, MT_PLOT_SVG } mt_plot_format;

/* "png", "svg" (also the pictures' file extensions); "?" for a value out
 * of range. */
const char *mt_plot_format_name(mt_plot_format f);
/* The format named name, as mt_plot_format_name() spells it.
 * @return 0 and *out, or MT_E_INVAL for a name not in the list (*out is
 *         left as it was). */
int mt_plot_format_from_name(const char *name, mt_plot_format *out);

typedef struct mt_plot_opts {
    mt_plot_format format;
    const char *image;      /* the output's name as the script writes it ("out.png") */
    const char *data;       /* the data file's name as the script reads it ("out.dat") */
    unsigned width, height; /* pixels; 0: sized by the content (one bar row per 18 px) */
    uint32_t top;           /* groups, frames or bars shown; 0: the kind's default */
    mt_group_by by;         /* diff: what the bars group by */
    const char *title;      /* NULL: the kind's own title */
    int pandas_bytes;       /* frames: pandas' deep bytes, not real bytes (SPEC.md 4.3) */
    /* timeline, which reads files still being written (MT_LOAD_GROWING):
     * when not NULL, pending[i] gets the bytes of an unfinished block left
     * out at the end of file i (mt_snapshot_pending), n entries. */
    uint64_t *pending;
} mt_plot_opts;

/* Every kind draws from snapshot paths, loaded one at a time. */
typedef struct mt_plot_kind {
    const char *name;       /* "timeline" */
    const char *files;      /* the files it takes, for usage: "FILE..." */
    size_t min_files, max_files;
    uint32_t default_top;   /* 0: --top does not apply */
    const char *summary;    /* one line */
    int (*write)(const struct mt_plot_kind *k, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *script,
                 FILE *data, mt_diag *diag);
} mt_plot_kind;

/* The kinds, in the order help lists them; *n is set to their number. */
const mt_plot_kind *mt_plot_kinds(size_t *n);

/* The kind named name (its name field), an entry of mt_plot_kinds().
 * @return 0 and *out, or MT_E_INVAL for a name not in the list. */
int mt_plot_kind_from_name(const char *name, const mt_plot_kind **out);

/* Loads paths (n within the kind's min_files..max_files) and writes the
 * gnuplot script to script and its data to data.
 * @return 0, or MT_E_INVAL (a wrong number of files, or an option the kind
 *         cannot use), the loads' errors (diag->file names the snapshot),
 *         MT_E_NOTFOUND (a snapshot lacks what the kind draws: samples,
 *         objects, references, frames; the message says which),
 *         MT_E_NOMEM, MT_E_IO (a stream could not be written). */
int mt_plot_write(const mt_plot_kind *kind, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *script,
                  FILE *data, mt_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
