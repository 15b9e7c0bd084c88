/* The plot writer (plot.h, plot_impl.h): gnuplot quoting, data labels,
 * units, the kinds table and its argument checks, and a timeline's script
 * and data for hand-written samples, checked line by line. */
#include "memtrace/analyze.h"
#include "plot/plot_impl.h"
#include "../helpers.h"

/* What fn writes to a stream, as a string to free(). */
#define CAPTURE(out, call)                                       \
    do {                                                         \
        size_t len_;                                             \
        FILE *f = open_memstream(&(out), &len_);                 \
        call;                                                    \
        fclose(f);                                               \
    } while (0)

/* The kind named name, which must exist. */
static const mt_plot_kind *kind_named(const char *name) {
    const mt_plot_kind *k = NULL;
    ck_assert_int_eq(mt_plot_kind_from_name(name, &k), 0);
    return k;
}

START_TEST(quote_doubles_quotes_and_cleans_bytes) {
    char *out;
    const char in[] = "it's\n\"x\"\t\xff\xc3\xb1";
    CAPTURE(out, mt__pw_quote(f, in, sizeof in - 1));
    ck_assert_str_eq(out, "'it''s \"x\" \xef\xbf\xbd\xc3\xb1'"); /* U+FFFD, as every output */
    free(out);
    /* An overlong encoding and a lone continuation byte are not UTF-8. */
    CAPTURE(out, mt__pw_quote(f, "\xc0\xaf|\x80", 4));
    ck_assert_str_eq(out, "'\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd'");
    free(out);
}
END_TEST

static int valid_utf8(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        int len = *u < 0x80 ? 1 : (*u >> 5) == 6 ? 2 : (*u >> 4) == 14 ? 3 : (*u >> 3) == 30 ? 4 : 0;
        if (!len) return 0;
        for (int i = 1; i < len; i++)
            if ((u[i] & 0xc0) != 0x80) return 0;
        u += len;
    }
    return 1;
}

START_TEST(fields_are_cut_in_the_middle_on_character_boundaries) {
    char *out;
    CAPTURE(out, mt__pw_field(f, "say \"hi\"", 8));
    ck_assert_str_eq(out, "say 'hi'");
    free(out);
    char name[200] = "";
    for (int i = 0; i < 30; i++) strcat(name, "\xc3\xa9"); /* 30 two-byte characters */
    strcat(name, ".middle.of.a.long.qualified.name.");
    for (int i = 0; i < 30; i++) strcat(name, "\xe2\x82\xac"); /* 30 three-byte ones */
    CAPTURE(out, mt__pw_field(f, name, strlen(name)));
    ck_assert_msg(valid_utf8(out), "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "..."));
    ck_assert_uint_le(strlen(out), 56);
    ck_assert_int_eq(memcmp(out, name, 26), 0);                                /* the head kept */
    ck_assert_str_eq(out + strlen(out) - 9, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"); /* and the tail */
    free(out);
}
END_TEST

START_TEST(units_fit_the_largest_value) {
    double div;
    ck_assert_str_eq(mt__pw_unit(0, &div), "B");
    ck_assert_str_eq(mt__pw_unit(1023, &div), "B");
    ck_assert_double_eq(div, 1);
    ck_assert_str_eq(mt__pw_unit(1024, &div), "KiB");
    ck_assert_str_eq(mt__pw_unit(5.0 * (1 << 30), &div), "GiB");
    ck_assert_double_eq(div, 1 << 30);
    ck_assert_str_eq(mt__pw_unit(1e18, &div), "TiB");
    ck_assert_double_eq(div, 1099511627776.0);
}
END_TEST

START_TEST(kinds_table_and_argument_checks) {
    size_t n;
    const mt_plot_kind *k = mt_plot_kinds(&n);
    ck_assert_uint_eq(n, 10); /* fleet the eighth, then gpu-segments and gpu-timeline */
    for (size_t i = 0; i < n; i++) {
        ck_assert_ptr_eq(kind_named(k[i].name), &k[i]);
        ck_assert_uint_le(k[i].min_files, k[i].max_files);
        ck_assert_ptr_nonnull(k[i].write);
    }
    const mt_plot_kind *none = NULL;
    ck_assert_int_eq(mt_plot_kind_from_name("pie", &none), MT_E_INVAL);
    ck_assert_ptr_null(none);

    mt_plot_opts o = { .image = "p.png", .data = "p.dat" };
    mt_diag d = { 0 };
    const char *one[] = { "a.snap" };
    const mt_plot_kind *diff = kind_named("diff"), *tl = kind_named("timeline");
    ck_assert_int_eq(mt_plot_write(diff, one, 1, &o, stdout, stdout, &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "a diff plot takes 2 files, not 1");
    ck_assert_int_eq(mt_plot_write(kind_named("leaks"), one, 1, &o, stdout, stdout, &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "a leaks plot takes at least 3 files, not 1");
    const char *two[] = { "a.snap", "b.snap" };
    ck_assert_int_eq(mt_plot_write(kind_named("trace"), two, 2, &o, stdout, stdout, &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "a trace plot takes 1 file, not 2");
    ck_assert_int_eq(mt_plot_write(kind_named("cells"), two, 2, &o, stdout, stdout, &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "a cells plot takes 1 file, not 2");
    o.top = 3;
    ck_assert_int_eq(mt_plot_write(tl, one, 1, &o, stdout, stdout, &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "--top does not apply to a timeline plot");
    o.top = 0;
    o.by = MT_BY_MODULE;
    ck_assert_int_eq(mt_plot_write(tl, one, 1, &o, stdout, stdout, &d), MT_E_INVAL);
    ck_assert_str_eq(d.msg, "--by applies to a diff plot only");
}
END_TEST

static void sample(mt_writer *w, uint64_t t, const char *series, double v, const char *step) {
    mt_sample s = { t, mt_str_c(series), v, mt_str_c(step), 0, 0, 0, 0 };
    ck_assert_int_eq(mt_writer_add(w, MT_KIND_SAMPLE, &s), 0);
}

START_TEST(timeline_script_and_data_for_known_samples) {
    char *path = tmp_path();
    mt_writer *w;
    mt_diag d = { 0 };
    ck_assert_int_eq(mt_writer_open(path, NULL, &w, &d), 0);
    mt_writer_meta_uint(w, "start_time", 1795000000000000123u);
    sample(w, 1000000000, "rss", 1 << 20, "load");
    sample(w, 1500000000, "traced", 512, "load");
    sample(w, 3000000000, "rss", 3 << 20, "join");
    sample(w, 2000000000, "rss", 2 << 20, "load");
    ck_assert_int_eq(mt_writer_close(w, &d), 0);

    mt_plot_opts o = { .format = MT_PLOT_SVG, .image = "t.svg", .data = "t.dat", .title = "it's mine" };
    const char *paths[] = { path };
    char *gp, *dat;
    size_t glen, dlen;
    FILE *g = open_memstream(&gp, &glen), *f = open_memstream(&dat, &dlen);
    ck_assert_int_eq(mt_plot_write(kind_named("timeline"), paths, 1, &o, g, f, &d), 0);
    fclose(g);
    fclose(f);
    /* Seconds since the start, points in time order, steps where they begin. */
    ck_assert_str_eq(dat, "# seconds\tbytes\tseries rss\n"
                          "1\t1048576\n2\t2097152\n3\t3145728\n"
                          "\n\n# seconds\tbytes\tseries traced\n"
                          "1.5\t512\n"
                          "\n\n# seconds\tstep\n"
                          "1\tload\n3\tjoin\n");
    ck_assert_ptr_nonnull(strstr(gp, "set terminal svg size 1000,600 noenhanced"));
    ck_assert_ptr_nonnull(strstr(gp, "if (!exists(\"datafile\")) datafile = 't.dat'\n"
                                     "if (!exists(\"image\")) image = 't.svg'\n"));
    ck_assert_ptr_nonnull(strstr(gp, "set output image\n"));
    ck_assert_ptr_nonnull(strstr(gp, "set title 'it''s mine'\n"));
    ck_assert_ptr_nonnull(strstr(gp, "set ylabel 'memory (MiB)'\nunit = 1048576.0\n"));
    ck_assert_ptr_nonnull(strstr(gp, "('load' 1, 'join' 3)"));
    ck_assert_ptr_nonnull(strstr(gp, "plot datafile index 0 using ($1/tunit):($2/unit) with linespoints lc 1 title 'rss'"));
    ck_assert_ptr_nonnull(strstr(gp, "datafile index 1 using ($1/tunit):($2/unit) with linespoints lc 2 title 'traced'"));
    /* Only the base name of the input. */
    ck_assert_ptr_null(strstr(gp, path));
    free(gp);
    free(dat);
    unlink(path);
    free(path);
}
END_TEST

/* Names that would run `touch PWNED` if a string reached gnuplot as code:
 * a quote closed early, a backquote, a macro (@pwn is defined below), a
 * newline, a backslash before the newline, a NUL, invalid UTF-8; and '%',
 * which gnuplot read as a format in the step tics ("Bad format character"). */
static const char *const hostile[] = {
    "x'.system('touch PWNED').'",
    "x`touch PWNED`",
    "@pwn",
    "a\nsystem('touch PWNED')\nb",
    "a\\\nsystem('touch PWNED')\n#",
    "q\\'; system('touch PWNED'); '",
    "\"; system('touch PWNED'); \"",
    "\xff'\xc0.system('touch PWNED').'\xed\xa0\x80",
    "keep 90%",
    "sample 1%d",
    "%s%n%%",
};

/* mt__pw_quote is the one function that puts strings from users and files
 * in a script: gnuplot, run on scripts whose titles, data and picture
 * names, series and step names are hostile, draws them and runs nothing. */
START_TEST(hostile_names_run_nothing_in_gnuplot) {
    if (system("gnuplot --version >/dev/null 2>&1")) return; /* not installed: the CLI test says so */
    char dir[] = "/tmp/test_plot.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        char snap[512], script[512], pwned[512], cmd[2048];
        snprintf(snap, sizeof snap, "%s/in.snap", dir);
        snprintf(script, sizeof script, "%s/script.gp", dir);
        snprintf(pwned, sizeof pwned, "%s/PWNED", dir);
        mt_writer *w;
        mt_diag d = { 0 };
        ck_assert_int_eq(mt_writer_open(snap, NULL, &w, &d), 0);
        sample(w, 1000000000, hostile[i], 1 << 20, hostile[i]);
        sample(w, 2000000000, hostile[i], 2 << 20, "second");
        ck_assert_int_eq(mt_writer_close(w, &d), 0);
        mt_plot_opts o = { .format = MT_PLOT_SVG, .image = hostile[i], .data = hostile[i], .title = hostile[i] };
        const char *paths[] = { snap };
        FILE *g = fopen(script, "w"), *f;
        char data[512];
        snprintf(data, sizeof data, "%s/data.dat", dir);
        f = fopen(data, "w");
        ck_assert_int_eq(mt_plot_write(kind_named("timeline"), paths, 1, &o, g, f, &d), 0);
        fclose(g);
        fclose(f);
        /* Run it as the tool does, and as a kept script (its own names). */
        snprintf(cmd, sizeof cmd,
                 "cd %s && gnuplot -e \"pwn = \\\"system('touch PWNED')\\\"; datafile = 'data.dat'; "
                 "image = 'out.svg'\" script.gp 2>/dev/null",
                 dir);
        ck_assert_msg(system(cmd) == 0, "gnuplot failed on hostile name %zu", i);
        ck_assert_msg(access(pwned, F_OK) != 0, "hostile name %zu ran a command", i);
        snprintf(cmd, sizeof cmd, "cd %s && gnuplot -e \"pwn = \\\"system('touch PWNED')\\\"\" script.gp 2>/dev/null",
                 dir);
        ck_assert_int_ne(system(cmd), -1);
        ck_assert_msg(access(pwned, F_OK) != 0, "hostile name %zu ran a command from a kept script", i);
        snprintf(cmd, sizeof cmd, "rm -f %s/* %s/.[!.]*", dir, dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    /* A NUL inside a name ends nothing: it is a space like the other controls. */
    char *out;
    CAPTURE(out, mt__pw_quote(f, "a\0'b", 4));
    ck_assert_str_eq(out, "'a ''b'");
    free(out);
    /* Tic labels are formats to gnuplot: '%' doubled there, and only there. */
    CAPTURE(out, mt__pw_quote_tic(f, "90% 'x'%d", 9));
    ck_assert_str_eq(out, "'90%% ''x''%%d'");
    free(out);
    CAPTURE(out, mt__pw_quote(f, "90%", 3));
    ck_assert_str_eq(out, "'90%'");
    free(out);
    rmdir(dir);
}
END_TEST

/* Each value's name reads back to the value; a name not in the table
 * (another spelling, another case, empty) is refused and leaves *out
 * alone; one past the last value has no name. */
START_TEST(formats_are_named_both_ways) {
    static const struct {
        mt_plot_format v;
        const char *name;
    } t[] = {
        { MT_PLOT_PNG, "png" },
        { MT_PLOT_SVG, "svg" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        ck_assert_str_eq(mt_plot_format_name(t[i].v), t[i].name);
        mt_plot_format v = (mt_plot_format)99;
        ck_assert_int_eq(mt_plot_format_from_name(t[i].name, &v), 0);
        ck_assert_int_eq(v, t[i].v);
    }
    ck_assert_str_eq(mt_plot_format_name((mt_plot_format)(MT_PLOT_SVG + 1)), "?");
    const char *misses[] = { ".svg", "PNG", "" };
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        mt_plot_format v = MT_PLOT_SVG;
        ck_assert_int_eq(mt_plot_format_from_name(misses[i], &v), MT_E_INVAL);
        ck_assert_int_eq(v, MT_PLOT_SVG);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    /* gnuplot runs twice for each hostile name: past check's 4 s default
     * on a loaded 2-core machine (it timed out with 11 names under ctest -j2). */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, quote_doubles_quotes_and_cleans_bytes);
    tcase_add_test(tc, fields_are_cut_in_the_middle_on_character_boundaries);
    tcase_add_test(tc, units_fit_the_largest_value);
    tcase_add_test(tc, kinds_table_and_argument_checks);
    tcase_add_test(tc, timeline_script_and_data_for_known_samples);
    tcase_add_test(tc, hostile_names_run_nothing_in_gnuplot);
    tcase_add_test(tc, formats_are_named_both_ways);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
