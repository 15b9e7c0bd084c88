/* memtrace-plot: pictures of snapshots, drawn by gnuplot from a script and
 * data written in a private temporary directory under fixed names; the
 * picture (and, with --keep-script, the script and data) is then copied
 * into place through mt_output. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/cli.h"
#include "memtrace/fileio.h"
#include "memtrace/plot.h"

static mt_tool tool = {
    "memtrace-plot", "KIND FILE...",
    "Draw a picture of snapshots with gnuplot (PNG or SVG): memory over time, what grew between two snapshots,\n"
    "DataFrames by column, leak suspects across a series, the largest retainers.",
    2, 1 << 20, NULL,
};

/* The kinds, as --help lists them: made from libanalyze's table. */
static char *kinds_epilog(void) {
    size_t n, cap = 64;
    const mt_plot_kind *k = mt_plot_kinds(&n);
    for (size_t i = 0; i < n; i++) cap += strlen(k[i].summary) + 64;
    char *s = malloc(cap), *p = s;
    if (!s) return NULL;
    p += sprintf(p, "kinds:");
    for (size_t i = 0; i < n; i++) {
        char head[64];
        snprintf(head, sizeof head, "%s %s", k[i].name, k[i].files);
        p += sprintf(p, "\n  %-26s %s", head, k[i].summary);
        if (k[i].default_top) p += sprintf(p, " (top %u)", k[i].default_top);
    }
    strcpy(p, "\n");
    return s;
}

/* path with its extension (after the last '.' of the base name) replaced. */
static char *with_ext(const char *path, const char *ext) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - path) : strlen(path);
    char *s = malloc(stem + strlen(ext) + 1);
    if (!s) return NULL;
    memcpy(s, path, stem);
    strcpy(s + stem, ext);
    return s;
}

static const char *base_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The directory of path, for gnuplot to run in ("." for a bare name). */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Runs prog on script in dir with the fixed names -e gives it, its error
 * output passed on with our name.
 * @return its exit status; -1 with errno when it could not start. */
static int run_gnuplot(const char *prog, const char *dir, const char *names, const char *script) {
    int status_pipe[2], err_pipe[2];
    if (pipe2(status_pipe, O_CLOEXEC)) return -1;
    if (pipe(err_pipe)) {
        close(status_pipe[0]);
        close(status_pipe[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (!pid) {
        close(status_pipe[0]);
        close(err_pipe[0]);
        dup2(err_pipe[1], 2);
        close(err_pipe[1]);
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) dup2(fd, 0);
        if (!chdir(dir)) execlp(prog, prog, "-e", names, script, (char *)NULL);
        int e = errno;
        if (write(status_pipe[1], &e, sizeof e) < 0) _exit(127);
        _exit(127);
    }
    close(status_pipe[1]);
    close(err_pipe[1]);
    int e = 0;
    ssize_t got = read(status_pipe[0], &e, sizeof e);
    close(status_pipe[0]);
    FILE *err = fdopen(err_pipe[0], "r");
    char line[1024];
    while (err && fgets(line, sizeof line, err)) {
        if (line[0] == '\n') continue;
        fprintf(stderr, "%s: gnuplot: %s%s", tool.name, line, strchr(line, '\n') ? "" : "\n");
    }
    if (err) fclose(err);
    else close(err_pipe[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (got == (ssize_t)sizeof e) {
        errno = e;
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Copies the file from (in our private directory) to the user's path
 * through mt_output: a regular file is replaced whole or not at all, a
 * device or FIFO is written in place, never unlinked or truncated.
 * @return 0, or -1 after a message. */
static int copy_out(const char *from, const char *to) {
    mt_diag d = { 0 };
    mt_diag_clear(&d);
    d.file = to;
    mt_output o;
    FILE *f, *in = fopen(from, "rb");
    if (!in) {
        fprintf(stderr, "%s: %s: cannot read: %s\n", tool.name, from, strerror(errno));
        return -1;
    }
    if (mt_output_fopen(&o, to, &f, &d)) {
        fclose(in);
        mt_cli_fail(tool.name, to, &d);
        return -1;
    }
    char buf[65536];
    size_t got;
    int ok = 1;
    /* A failed write sets f's error flag, which mt_output_fclose reports. */
    while ((got = fread(buf, 1, sizeof buf, in)))
        if (fwrite(buf, 1, got, f) != got) break;
    if (ferror(in)) ok = 0;
    fclose(in);
    if (!ok) {
        fprintf(stderr, "%s: %s: cannot read: %s\n", tool.name, from, strerror(errno));
        mt_output_fclose(&o, f, 0, &d);
        return -1;
    }
    if (mt_output_fclose(&o, f, 1, &d)) {
        mt_cli_fail(tool.name, to, &d);
        return -1;
    }
    return 0;
}

static void remove_in(const char *dir, const char *name) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* --size WxH into the mt_plot_opts at opt->dst. */
static void parse_size(const mt_cli *c, const mt_opt *opt, const char *v) {
    mt_plot_opts *o = opt->dst;
    uint64_t w = 0, h = 0;
    const char *x = strpbrk(v, "xX");
    char wbuf[32];
    if (!x || (size_t)(x - v) >= sizeof wbuf || (memcpy(wbuf, v, (size_t)(x - v)), wbuf[x - v] = 0,
                                                 mt_cli_parse_uint(wbuf, 20000, &w) || mt_cli_parse_uint(x + 1, 20000, &h)) ||
        w < 100 || h < 100)
        mt_cli_usage_error(c, "--size must be WIDTHxHEIGHT in pixels, each 100 to 20000, not '%s'", v);
    o->width = (unsigned)w;
    o->height = (unsigned)h;
}

int main(int argc, char **argv) {
    char *epilog = kinds_epilog();
    tool.epilog = epilog;
    const char *out = NULL, *gnuplot = "gnuplot";
    int format = -1, keep = 0;
    uint64_t top = 0; /* the kind's */
    mt_plot_opts o = { 0 };
    /* A choice stores its name's index: index k is mt_plot_format k. */
    const char *const format_names[] = {
        [MT_PLOT_PNG] = mt_plot_format_name(MT_PLOT_PNG),
        [MT_PLOT_SVG] = mt_plot_format_name(MT_PLOT_SVG),
        NULL,
    };
    const mt_opt opts[] = {
        MT_OPT_OUTPUT("OUT.png|OUT.svg", &out, "the picture to write (required); -k puts its script and data beside it"),
        MT_OPT_FORMAT(&format, format_names, "the picture's format (default: from the output's extension)"),
        MT_OPT_TOP_RANGE(&top, 1, 100000, "groups, frames or objects to show (default: the kind's, listed below)"),
        MT_OPT_GROUP_BY(0, "GROUP", &o.by, "diff: type, module, site, traceback, column or device (default: type)"),
        MT_OPT_CHOICE(0, "bytes", &o.pandas_bytes, MT_NAMES("real", "pandas"),
                      "frames: the figure drawn: real (default) or pandas (deep count)"),
        MT_OPT_CALLBACK(0, "size", "WxH", &o, parse_size,
                        "the picture's size in pixels (default: sized to what it shows)"),
        MT_OPT_STRING('t', "title", "TEXT", &o.title, "the title instead of the kind's own"),
        MT_OPT_FLAG('k', "keep-script", &keep, "keep OUT.gp and OUT.dat to restyle and draw again with gnuplot"),
        MT_OPT_STRING(0, "gnuplot", "PROG", &gnuplot, "the gnuplot to run (default: gnuplot, found on PATH)"),
        MT_OPT_END,
    };
    mt_cli c;
    mt_cli_parse(&c, &tool, opts, argc, argv);
    o.top = (uint32_t)top;
    const mt_plot_kind *kind;
    if (mt_plot_kind_from_name(c.args[0], &kind)) mt_cli_usage_error(&c, "no plot kind '%s' (the kinds are listed in --help)", c.args[0]);
    if (!out) mt_cli_usage_error(&c, "-o OUT.png or -o OUT.svg is required");
    const char *ext = strrchr(base_of(out), '.');
    if (format < 0) {
        /* The extension is the format's name: ".png", ".svg". */
        mt_plot_format f;
        if (ext && !mt_plot_format_from_name(ext + 1, &f)) format = (int)f;
        else mt_cli_usage_error(&c, "cannot tell the format of '%s': name it .png or .svg, or give --format", out);
    }
    o.format = (mt_plot_format)format;
    char *script = with_ext(out, ".gp"), *data = with_ext(out, ".dat"), *dir = dir_of(out);
    if (!script || !data || !dir) {
        fprintf(stderr, "%s: out of memory\n", tool.name);
        return MT_EXIT_INPUT;
    }
    if (!strcmp(script, out) || !strcmp(data, out))
        mt_cli_usage_error(&c, "the output '%s' would be overwritten by its own script or data", out);
    /* The kept script's own names, escaped by mt__pw_quote; gnuplot runs it
     * in a private directory on fixed names given with -e, so that no name
     * from the command line or a file is read as gnuplot code or a path. */
    o.image = base_of(out);
    o.data = base_of(data);

    int code = MT_EXIT_OK;
    char tmp[PATH_MAX];
    const char *tmpdir = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/memtrace-plot.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "%s: cannot make a temporary directory in %s: %s\n", tool.name,
                tmpdir && *tmpdir ? tmpdir : "/tmp", strerror(errno));
        return MT_EXIT_INPUT;
    }
    char pic[16];
    snprintf(pic, sizeof pic, "out.%s", mt_plot_format_name(o.format));
    char t_script[PATH_MAX + 16], t_data[PATH_MAX + 16], t_pic[PATH_MAX + 16], names[64];
    snprintf(t_script, sizeof t_script, "%s/script.gp", tmp);
    snprintf(t_data, sizeof t_data, "%s/data.dat", tmp);
    snprintf(t_pic, sizeof t_pic, "%s/%s", tmp, pic);
    snprintf(names, sizeof names, MT_PLOT_DATA_VAR "='data.dat'; " MT_PLOT_IMAGE_VAR "='%s'", pic);
    FILE *gp = fopen(t_script, "w"), *dat = gp ? fopen(t_data, "w") : NULL;
    if (!gp || !dat) {
        fprintf(stderr, "%s: %s: cannot write: %s\n", tool.name, gp ? t_data : t_script, strerror(errno));
        if (gp) fclose(gp);
        code = MT_EXIT_INPUT;
        goto out;
    }
    mt_diag d = { .file = NULL };
    mt_diag_clear(&d);
    size_t nfiles = (size_t)c.nargs - 1;
    uint64_t *pending = calloc(nfiles ? nfiles : 1, sizeof *pending);
    o.pending = pending;
    int rc = pending ? mt_plot_write(kind, (const char *const *)c.args + 1, nfiles, &o, gp, dat, &d)
                     : mt_diag_set(&d, MT_E_NOMEM, "out of memory");
    int bad_close = fclose(gp) | fclose(dat);
    /* A run file still being written is drawn up to its last whole block. */
    for (size_t i = 0; !rc && i < nfiles; i++)
        if (pending[i])
            fprintf(stderr, "%s: %s: still being written: left out the %" PRIu64 " bytes of an unfinished block\n",
                    tool.name, c.args[1 + i], pending[i]);
    free(pending);
    if (rc) {
        code = mt_cli_fail(tool.name, d.file, &d);
        goto out;
    }
    if (bad_close) {
        fprintf(stderr, "%s: %s: cannot write: %s\n", tool.name, t_script, strerror(errno));
        code = MT_EXIT_INPUT;
        goto out;
    }
    int st = run_gnuplot(gnuplot, tmp, names, "script.gp");
    struct stat sb;
    if (st < 0) {
        int e = errno;
        fprintf(stderr, "%s: cannot run %s: %s\n", tool.name, gnuplot, strerror(e));
        if (e == ENOENT)
            fprintf(stderr, "%s: the pictures are drawn by gnuplot at run time: install it (Debian: apt-get install "
                            "gnuplot-nox) or name it with --gnuplot\n",
                    tool.name);
        code = MT_EXIT_INPUT;
    } else if (st || stat(t_pic, &sb) || !sb.st_size) {
        if (st) fprintf(stderr, "%s: gnuplot failed on the script for %s (exit status %d)\n", tool.name, out, st);
        else fprintf(stderr, "%s: gnuplot wrote no picture for %s\n", tool.name, out);
        code = MT_EXIT_INPUT;
    } else if (copy_out(t_pic, out) || (keep && (copy_out(t_script, script) || copy_out(t_data, data)))) {
        /* OUT.gp and OUT.dat are the user's files unless -k asked for
         * them, and a failed run replaces none of them: they are written
         * only here, after the picture, through mt_output. */
        code = MT_EXIT_INPUT;
    }
out:
    remove_in(tmp, "script.gp");
    remove_in(tmp, "data.dat");
    remove_in(tmp, pic);
    rmdir(tmp);
    free(c.args);
    free(script);
    free(data);
    free(dir);
    free(epilog);
    return code;
}
