/* The gnuplot script and data writer the plot kinds share (writer.h). */
#include <stdarg.h>
#include <string.h>
#include "memtrace/text.h"
#include "plot/writer.h"

/* Tableau's ten colours: told apart by most readers, and in grey. */
static const char *const palette[] = { "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                       "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac" };

int mt__pw_load(const char *path, unsigned flags, mt_snapshot **s, mt_diag *diag) {
    int rc = mt_snapshot_load(path, flags, s, diag);
    if (rc && diag) diag->file = path;
    return rc;
}

const char *mt__pw_base(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void mt__pw_begin(mt_pw *w, const mt_plot_kind *k, const mt_plot_opts *o, const char *const *paths, size_t n,
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
        mt__pw_quote(gp, mt__pw_base(paths[i]), strlen(mt__pw_base(paths[i])));
    }
    /* The data's and the picture's names are variables, so that the tool
     * can run this script on names it chose (gnuplot -e), while a kept
     * script still draws from its own directory. */
    fprintf(gp, "\n# The data is read from %s (tab-separated; blocks are read with 'index').\n"
                "# Restyle it and draw again, from this directory: gnuplot THIS-FILE\n\n"
                "if (!exists(\"%s\")) %s = ",
            MT_PW_DATA, MT_PW_DATA, MT_PW_DATA);
    mt__pw_quote(gp, o->data, strlen(o->data));
    fprintf(gp, "\nif (!exists(\"%s\")) %s = ", MT_PW_IMAGE, MT_PW_IMAGE);
    mt__pw_quote(gp, o->image, strlen(o->image));
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

void mt__pw_quote(FILE *f, const char *s, size_t n) {
    fputc('\'', f);
    mt_text_put(f, MT_TEXT_GNUPLOT, s, n);
    fputc('\'', f);
}

void mt__pw_quote_tic(FILE *f, const char *s, size_t n) {
    fputc('\'', f);
    mt_text_put(f, MT_TEXT_GNUPLOT_FORMAT, s, n);
    fputc('\'', f);
}

void mt__pw_title(mt_pw *w, const char *fmt, ...) {
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
    mt__pw_quote(w->gp, buf, strlen(buf));
    fputc('\n', w->gp);
}

void mt__pw_field(FILE *f, const char *s, size_t n) {
    enum { MAX = 56, HEAD = 26 };
    if (n <= MAX) {
        mt_text_put(f, MT_TEXT_GNUPLOT_DATA, s, n);
        return;
    }
    /* Keep both ends: a module's name and a class's both matter. */
    size_t head = mt_utf8_cut(s, HEAD), tail = mt_utf8_cut(s, n - (MAX - HEAD - 3));
    mt_text_put(f, MT_TEXT_GNUPLOT_DATA, s, head);
    fputs("...", f);
    mt_text_put(f, MT_TEXT_GNUPLOT_DATA, s + tail, n - tail);
}

int mt__pw_block(mt_pw *w, const char *columns) {
    if (w->blocks) fputs("\n\n", w->dat);
    fprintf(w->dat, "# %s\n", columns);
    return w->blocks++;
}

const char *mt__pw_unit(double max_abs, double *div) {
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

unsigned mt__pw_bars_height(size_t rows) {
    size_t h = 130 + 20 * rows;
    return h < 420 ? 420 : h > 20000 ? 20000 : (unsigned)h;
}

void mt__pw_bars_axes(mt_pw *w, size_t rows, double xmin, double xmax, const char *unit,
                     const char *xlabel) {
    FILE *gp = w->gp;
    char label[128];
    snprintf(label, sizeof label, "%s (%s)", xlabel, unit);
    fprintf(gp, "set xlabel ");
    mt__pw_quote(gp, label, strlen(label));
    fputc('\n', gp);
    fprintf(gp, "set yrange [-0.7:%zu.7]\n", rows ? rows - 1 : 0);
    fprintf(gp, "set xrange [%.6g:%.6g]\n", xmin, xmax);
    fprintf(gp, "set ytics scale 0 font ',9'\nset grid xtics\nset yzeroaxis lt -1 lw 1\n");
    fprintf(gp, "set key inside bottom right opaque box width 1\nset style fill solid 0.85 noborder\n");
}

int mt__pw_end(mt_pw *w, mt_diag *diag) {
    if (fflush(w->gp) || ferror(w->gp) || fflush(w->dat) || ferror(w->dat))
        return mt_diag_set(diag, MT_E_IO, "cannot write the plot's script or data");
    return 0;
}
