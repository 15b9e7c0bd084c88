/* Sizes as people read them, the same in every tool and message. */
#ifndef MEMTRACE_UNITS_H
#define MEMTRACE_UNITS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "1.5 KiB", "12 B": binary units, one decimal. buf needs 16 bytes;
 * returns buf. */
const char *mt_human_bytes(uint64_t n, char *buf);

#ifdef __cplusplus
}
#endif
#endif
