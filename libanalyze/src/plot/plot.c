/* The plot kinds' table and the gnuplot script and data writer they share. */
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include "memtrace/text.h"
#include "plot/plot_impl.h"

/* New kinds (GPU, allocation traces) go here; the tool's help, its man
 * page's list and its checks follow this table. */
static const mt_plot_kind kinds[] = {
    { "timeline", "FILE...", 1, (size_t)-1, 0,
      "memory over time: a pipeline's samples with its steps, or one point a snapshot (rss, traced, heap)",
      mt_plot_timeline },
    { "diff", "A B", 2, 2, 20, "the groups that grew (or shrank) most from A to B, as bars", mt_plot_diff },
    { "frames", "FILE", 1, 1, 30, "DataFrames as stacked bars of their columns' and index's bytes", mt_plot_frames },
    { "leaks", "FILE FILE FILE...", 3, (size_t)-1, 8,
      "objects per type across a snapshot series, and the last one's survivors by birth generation",
      mt_plot_leaks },
    { "retained", "FILE", 1, 1, 20, "the objects that retain the most memory, with their paths from roots",
      mt_plot_retained },
};

const mt_plot_kind *mt_plot_kinds(size_t *n) {
    *n = sizeof kinds / sizeof kinds[0];
    return kinds;
}

int mt_plot_kind_from_name(const char *name, const mt_plot_kind **out) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i].name, name)) {
            *out = &kinds[i];
            return 0;
        }
    return MT_E_INVAL;
}

int mt_plot_write(const mt_plot_kind *kind, const char *const *paths, size_t n, const mt_plot_opts *o, FILE *script,
                  FILE *data, mt_diag *diag) {
    if (n < kind->min_files || n > kind->max_files) {
        if (kind->min_files == kind->max_files)
            return mt_diag_set(diag, MT_E_INVAL, "a %s plot takes %zu file%s, not %zu", kind->name, kind->min_files,
                               kind->min_files == 1 ? "" : "s", n);
        return mt_diag_set(diag, MT_E_INVAL, "a %s plot takes at least %zu file%s, not %zu", kind->name,
                           kind->min_files, kind->min_files == 1 ? "" : "s", n);
    }
    if (o->top && !kind->default_top)
        return mt_diag_set(diag, MT_E_INVAL, "--top does not apply to a %s plot", kind->name);
    if (o->by != MT_BY_TYPE && kind->write != mt_plot_diff)
        return mt_diag_set(diag, MT_E_INVAL, "--by applies to a diff plot only");
    return kind->write(kind, paths, n, o, script, data, diag);
}

/* Tableau's ten colours: told apart by most readers, and in grey. */
static const char *const palette[] = { "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                       "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac" };

int mt_pw_load(const char *path, unsigned flags, mt_snapshot **s, mt_diag *diag) {
    int rc = mt_snapshot_load(path, flags, s, diag);
    if (rc && diag) diag->file = path;
    return rc;
}

const char *mt_pw_base(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void mt_pw_begin(mt_pw *w, const mt_plot_kind *k, const mt_plot_opts *o, const char *const *paths, size_t n,
                 FILE *gp, FILE *dat, unsigned width, unsigned height) {
    w->gp = gp;
    w->dat = dat;
    w->o = o;
    w->kind = k;
    w->blocks = 0;
    if (o->width) width = o->width;
    if (o->height) height = o->height;
    fprintf(gp, "# memtrace-plot %s of", k->name);
    for (size_t i = 0; i < n; i++) {
        fputc(' ', gp);
        mt_pw_quote(gp, mt_pw_base(paths[i]), strlen(mt_pw_base(paths[i])));
    }
    /* The data's and the picture's names are variables, so that the tool
     * can run this script on names it chose (gnuplot -e), while a kept
     * script still draws from its own directory. */
    fprintf(gp, "\n# The data is read from %s (tab-separated; blocks are read with 'index').\n"
                "# Restyle it and draw again, from this directory: gnuplot THIS-FILE\n\n"
                "if (!exists(\"%s\")) %s = ",
            MT_PW_DATA, MT_PW_DATA, MT_PW_DATA);
    mt_pw_quote(gp, o->data, strlen(o->data));
    fprintf(gp, "\nif (!exists(\"%s\")) %s = ", MT_PW_IMAGE, MT_PW_IMAGE);
    mt_pw_quote(gp, o->image, strlen(o->image));
    fputc('\n', gp);
    if (o->format == MT_PLOT_SVG)
        fprintf(gp, "set terminal svg size %u,%u noenhanced font 'sans,11' background '#ffffff'\n", width, height);
    else
        fprintf(gp, "set terminal pngcairo size %u,%u noenhanced font 'sans,10' background '#ffffff'\n", width, height);
    fprintf(gp, "set output %s", MT_PW_IMAGE);
    /* Tabs, so that labels may hold spaces; gnuplot reads "\t" as a tab
     * only in double quotes. */
    fprintf(gp, "\nset datafile separator \"\\t\"\n");
    for (size_t i = 0; i < sizeof palette / sizeof palette[0]; i++)
        fprintf(gp, "set linetype %zu lc rgb '%s' lw 2 pt 7 ps 0.8\n", i + 1, palette[i]);
    fprintf(gp, "set linetype cycle %zu\n", sizeof palette / sizeof palette[0]);
    fprintf(gp, "set border 3\nset tics nomirror\nset key noautotitle\n");
}

/* Copies s[0..n) cleaned: control characters as spaces, invalid UTF-8 as
 * '?', the quote character q as repl, and '%' twice when pct is set. */
static void put_clean(FILE *f, const char *s, size_t n, char q, const char *repl, int pct) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = mt_utf8_len(u + i, n - i);
        if (!len) {
            fputc('?', f);
            i++;
        } else if (len > 1) {
            fwrite(u + i, 1, len, f);
            i += len;
        } else {
            unsigned char c = u[i++];
            if (c < 0x20 || c == 0x7f) fputc(' ', f);
            else if (c == (unsigned char)q) fputs(repl, f);
            else if (c == '%' && pct) fputs("%%", f);
            else fputc(c, f);
        }
    }
}

void mt_pw_quote(FILE *f, const char *s, size_t n) {
    fputc('\'', f);
    put_clean(f, s, n, '\'', "''", 0);
    fputc('\'', f);
}

void mt_pw_quote_tic(FILE *f, const char *s, size_t n) {
    fputc('\'', f);
    put_clean(f, s, n, '\'', "''", 1);
    fputc('\'', f);
}

void mt_pw_title(mt_pw *w, const char *fmt, ...) {
    char buf[512];
    if (w->o->title) {
        snprintf(buf, sizeof buf, "%s", w->o->title);
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
    }
    fprintf(w->gp, "set title ");
    mt_pw_quote(w->gp, buf, strlen(buf));
    fputc('\n', w->gp);
}

/* Where a cut at i lands on a character boundary, moving back. */
static size_t boundary(const char *s, size_t i) {
    while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80) i--;
    return i;
}

void mt_pw_field(FILE *f, const char *s, size_t n) {
    enum { MAX = 56, HEAD = 26 };
    if (n <= MAX) {
        put_clean(f, s, n, '"', "'", 0);
        return;
    }
    /* Keep both ends: a module's name and a class's both matter. */
    size_t head = boundary(s, HEAD), tail = boundary(s, n - (MAX - HEAD - 3));
    put_clean(f, s, head, '"', "'", 0);
    fputs("...", f);
    put_clean(f, s + tail, n - tail, '"', "'", 0);
}

int mt_pw_block(mt_pw *w, const char *columns) {
    if (w->blocks) fputs("\n\n", w->dat);
    fprintf(w->dat, "# %s\n", columns);
    return w->blocks++;
}

const char *mt_pw_unit(double max_abs, double *div) {
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;
    double d = 1;
    while (u < 4 && max_abs >= d * 1024) {
        d *= 1024;
        u++;
    }
    *div = d;
    return units[u];
}

unsigned mt_pw_bars_height(size_t rows) {
    size_t h = 130 + 20 * rows;
    return h < 420 ? 420 : h > 20000 ? 20000 : (unsigned)h;
}

void mt_pw_bars_axes(mt_pw *w, size_t rows, double xmin, double xmax, const char *unit,
                     const char *xlabel) {
    FILE *gp = w->gp;
    char label[128];
    snprintf(label, sizeof label, "%s (%s)", xlabel, unit);
    fprintf(gp, "set xlabel ");
    mt_pw_quote(gp, label, strlen(label));
    fputc('\n', gp);
    fprintf(gp, "set yrange [-0.7:%zu.7]\n", rows ? rows - 1 : 0);
    fprintf(gp, "set xrange [%.6g:%.6g]\n", xmin, xmax);
    fprintf(gp, "set ytics scale 0 font ',9'\nset grid xtics\nset yzeroaxis lt -1 lw 1\n");
    fprintf(gp, "set key inside bottom right opaque box width 1\nset style fill solid 0.85 noborder\n");
}

int mt_pw_end(mt_pw *w, mt_diag *diag) {
    if (fflush(w->gp) || ferror(w->gp) || fflush(w->dat) || ferror(w->dat))
        return mt_diag_set(diag, MT_E_IO, "cannot write the plot's script or data");
    return 0;
}
