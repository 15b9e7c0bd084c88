/* The one strftime layout of a column of date strings (datefmt.c), for
 * df_columns datetime_format (SPEC.md 4.3). Pure C: no Python here. */
#ifndef MT_DATEFMT_H
#define MT_DATEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Zeroed is the start: no value seen. */
typedef struct mt_datefmt {
    uint64_t seen;      /* values given */
    uint32_t mask;      /* the date layouts every value so far matches */
    int8_t time[32];    /* per layout: the time layout its values have */
} mt_datefmt;

/* One non-null value: s[0..n) when it is text (ASCII or Latin-1 bytes),
 * or s NULL for a value that is not (no layout fits it then). */
void mt_datefmt_see(mt_datefmt *d, const char *s, size_t n);

/* The layout every value seen parses with, as a strftime format that
 * pandas.to_datetime(format=) accepts, into buf; 0 when none does (or no
 * value was seen). *ambiguous is 1 when the values fit day-first and
 * month-first alike (every day and month 12 or less): buf then holds the
 * month-first layout, which is how pandas reads such dates unless told
 * dayfirst=True. */
int mt_datefmt_result(const mt_datefmt *d, char *buf, size_t n, int *ambiguous);

/* 1 when y-m-d lies where datetime64[ns] can hold it whatever its time of
 * day (1677-09-22 to 2262-04-10), else 0: pandas.to_datetime raises
 * OutOfBoundsDatetime for a column holding a sentinel like 9999-12-31, so
 * such a column has no layout to advise. */
int mt_date_fits_ns(int y, int m, int d);

#endif
