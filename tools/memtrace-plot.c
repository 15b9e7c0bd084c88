/* memtrace-plot: pictures of snapshots, drawn by gnuplot from a script and
 * data written next to the picture. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/cli.h"
#include "memtrace/plot.h"

enum { OPT_OUTPUT = 1, OPT_FORMAT, OPT_TOP, OPT_BY, OPT_SIZE, OPT_TITLE, OPT_KEEP, OPT_GNUPLOT };

static const mt_opt opts[] = {
    { OPT_OUTPUT, 'o', "output", "OUT.png|OUT.svg", "the picture to write (required); its script and data go beside it" },
    { OPT_FORMAT, 'f', "format", "png|svg", "the picture's format (default: from the output's extension)" },
    { OPT_TOP, 'n', "top", "N", "groups, frames or objects to show (default: the kind's, listed below)" },
    { OPT_BY, 0, "by", "GROUP", "diff: type, module, site, traceback, column or device (default: type)" },
    { OPT_SIZE, 0, "size", "WxH", "the picture's size in pixels (default: sized to what it shows)" },
    { OPT_TITLE, 't', "title", "TEXT", "the title instead of the kind's own" },
    { OPT_KEEP, 'k', "keep-script", NULL, "keep OUT.gp and OUT.dat to restyle and draw again with gnuplot" },
    { OPT_GNUPLOT, 0, "gnuplot", "PROG", "the gnuplot to run (default: gnuplot, found on PATH)" },
    { 0, 0, NULL, NULL, NULL },
};

static mt_tool tool = {
    "memtrace-plot", "KIND FILE...",
    "Draw a picture of snapshots with gnuplot (PNG or SVG): memory over time, what grew between two snapshots,\n"
    "DataFrames by column, leak suspects across a series, the largest retainers.",
    opts, 2, 1 << 20, NULL,
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

/* Runs prog on script in dir, its error output passed on with our name.
 * @return its exit status; -1 with errno when it could not start. */
static int run_gnuplot(const char *prog, const char *dir, const char *script) {
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
        if (!chdir(dir)) execlp(prog, prog, script, (char *)NULL);
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

static void parse_size(const mt_cli *c, const char *v, mt_plot_opts *o) {
    char *end;
    unsigned long w = strtoul(v, &end, 10), h = 0;
    if (*end == 'x' || *end == 'X') h = strtoul(end + 1, &end, 10);
    if (*end || w < 100 || h < 100 || w > 20000 || h > 20000)
        mt_cli_usage_error(c, "--size must be WIDTHxHEIGHT in pixels, each 100 to 20000, not '%s'", v);
    o->width = (unsigned)w;
    o->height = (unsigned)h;
}

int main(int argc, char **argv) {
    char *epilog = kinds_epilog();
    tool.epilog = epilog;
    mt_cli c;
    mt_cli_init(&c, &tool, argc, argv);
    const char *v, *out = NULL, *gnuplot = "gnuplot";
    int id, format = -1, keep = 0;
    mt_plot_opts o = { 0 };
    while ((id = mt_cli_next(&c, &v)))
        switch (id) {
        case OPT_OUTPUT: out = v; break;
        case OPT_FORMAT: format = mt_cli_choice(&c, "--format", v, (const char *const[]){ "png", "svg", NULL }); break;
        case OPT_TOP: {
            uint64_t n = mt_cli_uint(&c, "--top", v);
            if (!n || n > 100000) mt_cli_usage_error(&c, "--top must be 1 to 100000, not '%s'", v);
            o.top = (uint32_t)n;
            break;
        }
        case OPT_BY:
            if (mt_group_by_parse(v, &o.by))
                mt_cli_usage_error(&c, "--by must be type, module, site, traceback, column or device, not '%s'", v);
            break;
        case OPT_SIZE: parse_size(&c, v, &o); break;
        case OPT_TITLE: o.title = v; break;
        case OPT_KEEP: keep = 1; break;
        case OPT_GNUPLOT: gnuplot = v; break;
        }
    const mt_plot_kind *kind = mt_plot_kind_find(c.args[0]);
    if (!kind) mt_cli_usage_error(&c, "no plot kind '%s' (the kinds are listed in --help)", c.args[0]);
    if (!out) mt_cli_usage_error(&c, "-o OUT.png or -o OUT.svg is required");
    const char *ext = strrchr(base_of(out), '.');
    if (format < 0) {
        if (ext && !strcmp(ext, ".png")) format = MT_PLOT_PNG;
        else if (ext && !strcmp(ext, ".svg")) format = MT_PLOT_SVG;
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
    o.image = base_of(out);
    o.data = base_of(data);

    int code = MT_EXIT_OK;
    FILE *gp = fopen(script, "w"), *dat = gp ? fopen(data, "w") : NULL;
    if (!gp || !dat) {
        fprintf(stderr, "%s: %s: cannot write: %s\n", tool.name, gp ? data : script, strerror(errno));
        if (gp) {
            fclose(gp);
            unlink(script);
        }
        return MT_EXIT_INPUT;
    }
    mt_diag d = { .file = NULL };
    mt_diag_clear(&d);
    int rc = mt_plot_write(kind, (const char *const *)c.args + 1, (size_t)c.nargs - 1, &o, gp, dat, &d);
    int bad_close = fclose(gp) | fclose(dat);
    if (rc) {
        code = mt_cli_fail(tool.name, d.file, &d);
        unlink(script);
        unlink(data);
        goto out;
    }
    if (bad_close) {
        fprintf(stderr, "%s: %s: cannot write: %s\n", tool.name, script, strerror(errno));
        code = MT_EXIT_INPUT;
        goto out;
    }
    /* gnuplot would leave an old picture in place on failure. */
    unlink(out);
    int st = run_gnuplot(gnuplot, dir, base_of(script));
    struct stat sb;
    if (st < 0) {
        int e = errno;
        fprintf(stderr, "%s: cannot run %s: %s\n", tool.name, gnuplot, strerror(e));
        if (e == ENOENT)
            fprintf(stderr, "%s: the pictures are drawn by gnuplot at run time: install it (Debian: apt-get install "
                            "gnuplot-nox) or name it with --gnuplot\n",
                    tool.name);
        fprintf(stderr, "%s: kept %s and %s: run 'gnuplot %s' in %s to draw %s\n", tool.name, script, data,
                base_of(script), dir, o.image);
        code = MT_EXIT_INPUT;
    } else if (st || stat(out, &sb) || !sb.st_size) {
        if (st) fprintf(stderr, "%s: gnuplot failed on %s (exit status %d)\n", tool.name, script, st);
        else fprintf(stderr, "%s: gnuplot wrote no picture to %s\n", tool.name, out);
        fprintf(stderr, "%s: kept %s and %s to look into\n", tool.name, script, data);
        code = MT_EXIT_INPUT;
    } else if (!keep) {
        unlink(script);
        unlink(data);
    }
out:
    free(c.args);
    free(script);
    free(data);
    free(dir);
    free(epilog);
    return code;
}
