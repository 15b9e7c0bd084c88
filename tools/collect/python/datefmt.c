/* Date layouts of text columns (datefmt.h). Each value is matched against
 * every layout still possible; a column has a layout when all of its
 * values match the same date layout followed by the same time layout.
 * The directives read as pandas' strptime reads them: %Y four digits,
 * %m %d %H %M %S one or two, %f one to nine, %b and %B English month
 * names in any case; and the fields are checked (month 1-12, a day the
 * month has, hours below 24), because to_datetime(format=) refuses what
 * they do not allow. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "datefmt.h"

/* Month-first before day-first: where both fit, pandas reads month first. */
static const char *const layouts[] = {
    "%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%m-%d-%Y", "%d-%m-%Y", "%m.%d.%Y", "%d.%m.%Y",
    "%b %d %Y", "%B %d %Y", "%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%d-%b-%Y",
};
enum { N_LAYOUTS = sizeof layouts / sizeof layouts[0] };

static const char *const months[] = { "january", "february", "march", "april", "may", "june", "july",
                                      "august", "september", "october", "november", "december" };

/* Up to max digits (at least min) at s[*i..n): their value, or -1. */
static int number(const char *s, size_t n, size_t *i, int min, int max) {
    int v = 0, k = 0;
    while (k < max && *i < n && s[*i] >= '0' && s[*i] <= '9') v = v * 10 + (s[(*i)++] - '0'), k++;
    return k >= min ? v : -1;
}

/* A month name at s[*i..n): %b three letters, %B the full name. */
static int month_name(const char *s, size_t n, size_t *i, int full) {
    for (int m = 0; m < 12; m++) {
        size_t len = full ? strlen(months[m]) : 3, k = 0;
        while (k < len && *i + k < n && tolower((unsigned char)s[*i + k]) == months[m][k]) k++;
        if (k == len && (*i + k >= n || !isalpha((unsigned char)s[*i + k]))) {
            *i += len;
            return m + 1;
        }
    }
    return -1;
}

static int days_in(int y, int m) {
    static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : d[m - 1];
}

int mt_date_fits_ns(int y, int m, int d) {
    long v = (long)y * 10000 + m * 100 + d;
    return v >= 16770922L && v <= 22620410L;
}

/* Matches layout fmt at the start of s; the length matched, or 0. */
static size_t match_date(const char *fmt, const char *s, size_t n) {
    size_t i = 0;
    int y = -1, m = -1, d = -1;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            if (i >= n || s[i] != *f) return 0;
            i++;
            continue;
        }
        switch (*++f) {
        case 'Y': y = number(s, n, &i, 4, 4); break;
        case 'm': m = number(s, n, &i, 1, 2); break;
        case 'd': d = number(s, n, &i, 1, 2); break;
        case 'b': m = month_name(s, n, &i, 0); break;
        default: m = month_name(s, n, &i, 1); break;
        }
        if ((f[0] == 'Y' && y < 0) || ((f[0] == 'm' || f[0] == 'b' || f[0] == 'B') && m < 0) || (f[0] == 'd' && d < 0))
            return 0;
    }
    return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days_in(y, m) && mt_date_fits_ns(y, m, d) ? i : 0;
}

/* The time after a date, s[0..n): 0 none; else separator (1 ' ', 2 'T')
 * times 4 plus 1 %H:%M, 2 %H:%M:%S, 3 %H:%M:%S.%f; -1 no time layout. */
static int match_time(const char *s, size_t n) {
    if (!n) return 0;
    if (s[0] != ' ' && s[0] != 'T') return -1;
    size_t i = 1;
    int sep = s[0] == ' ' ? 1 : 2, kind = 1;
    int h = number(s, n, &i, 1, 2);
    if (h < 0 || h > 23 || i >= n || s[i++] != ':') return -1;
    int mi = number(s, n, &i, 1, 2);
    if (mi < 0 || mi > 59) return -1;
    if (i < n && s[i] == ':') {
        i++;
        int sec = number(s, n, &i, 1, 2);
        if (sec < 0 || sec > 59) return -1;
        kind = 2;
        if (i < n && s[i] == '.') {
            i++;
            if (number(s, n, &i, 1, 9) < 0) return -1;
            kind = 3;
        }
    }
    return i == n ? sep * 4 + kind : -1;
}

void mt_datefmt_see(mt_datefmt *d, const char *s, size_t n) {
    if (d->seen++ == 0) d->mask = (1u << N_LAYOUTS) - 1;
    if (!s) d->mask = 0;
    for (int k = 0; k < N_LAYOUTS && d->mask; k++) {
        if (!(d->mask & (1u << k))) continue;
        size_t len = match_date(layouts[k], s, n);
        int t = len ? match_time(s + len, n - len) : -1;
        if (t < 0 || (d->seen > 1 && t != d->time[k])) d->mask &= ~(1u << k);
        else d->time[k] = (int8_t)t;
    }
}

int mt_datefmt_result(const mt_datefmt *d, char *buf, size_t n, int *ambiguous) {
    static const char *const times[] = { "%H:%M", "%H:%M:%S", "%H:%M:%S.%f" };
    *ambiguous = 0;
    if (!d->seen || !d->mask) return 0;
    int k = 0;
    while (!(d->mask & (1u << k))) k++;
    /* The month-first layouts are 2, 4, 6; their day-first twins follow. */
    *ambiguous = (k == 2 || k == 4 || k == 6) && (d->mask & (1u << (k + 1)));
    int t = d->time[k];
    int w = t ? snprintf(buf, n, "%s%c%s", layouts[k], t / 4 == 1 ? ' ' : 'T', times[t % 4 - 1])
              : snprintf(buf, n, "%s", layouts[k]);
    return w > 0 && (size_t)w < n;
}
