/* The gnuplot script and data writer the plot kinds share: the one place
 * that quotes a user's string for gnuplot. Internal. */
#ifndef MT_PLOT_WRITER_H
#define MT_PLOT_WRITER_H

#include <stdio.h>
#include "memtrace/plot.h"

/* The gnuplot variables that hold the data file's and the picture's
 * names: every plot command reads MT_PW_DATA, never a name pasted in. */
#define MT_PW_DATA MT_PLOT_DATA_VAR
#define MT_PW_IMAGE MT_PLOT_IMAGE_VAR

/* One plot being written. */
typedef struct mt_pw {
    FILE *gp, *dat;
    const mt_plot_opts *o;
    const mt_plot_kind *kind;
    int blocks;             /* data blocks begun */
} mt_pw;

/* Starts the script: what drew it, from which files (base names only, so
 * that the script does not depend on where they were), the terminal at
 * width x height unless the options set a size, the output, the data's
 * separator and the colours. */
void mt__pw_begin(mt_pw *w, const mt_plot_kind *k, const mt_plot_opts *o, const char *const *paths, size_t n,
                 FILE *gp, FILE *dat, unsigned width, unsigned height);

/* Writes s as a gnuplot single-quoted string: quotes doubled, control
 * characters (NUL, newline, ...) as spaces, invalid UTF-8 as U+FFFD
 * (text.h's MT_TEXT_GNUPLOT), so that any type or column name is safe in
 * the script and in an SVG. gnuplot expands neither `command` nor @macro
 * inside single quotes, and a backslash there is an ordinary character.
 * This is the one function through which a string from a user or a file
 * reaches a script: the tests run gnuplot on hostile names
 * (tests/unit/plot/test_plot.c). */
void mt__pw_quote(FILE *f, const char *s, size_t n);

/* mt__pw_quote for a tic label in `set xtics ('label' pos, ...)`, which
 * gnuplot reads as a format string (a step "keep 90%" failed with "Bad
 * format character"): '%' is doubled as well. Titles, key entries, labels
 * and ticlabels read from the data file are not formats: use mt__pw_quote. */
void mt__pw_quote_tic(FILE *f, const char *s, size_t n);

/* `set title '...'`: the options' title when given, else fmt. */
void mt__pw_title(mt_pw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes a label as a data field: as mt__pw_quote cleans it, '"' as '\'',
 * and names longer than 56 characters shortened in the middle. */
void mt__pw_field(FILE *f, const char *s, size_t n);

/* Begins the next data block (blocks are apart by two blank lines, which
 * gnuplot's `index` counts) with a comment line naming its columns.
 * @return the block's index. */
int mt__pw_block(mt_pw *w, const char *columns);

/* The binary unit the largest magnitude reads best in, its divisor in
 * *div: "B", "KiB", "MiB", "GiB", "TiB". */
const char *mt__pw_unit(double max_abs, double *div);

/* mt_snapshot_load(), with diag->file naming path when it fails. */
int mt__pw_load(const char *path, unsigned flags, mt_snapshot **s, mt_diag *diag);

/* Base name of a path, for labels. */
const char *mt__pw_base(const char *path);

/* Horizontal bars, one row a group, the first row on top (y = rows - 1):
 * the y range follows from rows. xmin and xmax (in the unit) leave room for
 * the value labels at the bars' ends. */
void mt__pw_bars_axes(mt_pw *w, size_t rows, double xmin, double xmax, const char *unit,
                     const char *xlabel);

/* Height of a picture of rows bar rows, in pixels. */
unsigned mt__pw_bars_height(size_t rows);

/* Finishes: MT_E_IO when either stream failed. */
int mt__pw_end(mt_pw *w, mt_diag *diag);

#endif
