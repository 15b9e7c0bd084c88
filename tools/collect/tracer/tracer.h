/* The memtrace allocation tracer: the in-process half of allocation
 * traces (formats/SPEC.md 4.3, "Allocation traces (1.4)" and
 * "trace_live (1.4)"). Runtime hooks (the Python extension's tracing.c)
 * call it at each allocation and free; it decides which events to record,
 * remembers the recorded blocks, and a writer thread of its own writes
 * them to a run file that readers can follow while it grows (SPEC.md 3.4).
 * Like every collector it links the formats/ writer only.
 *
 * One tracer per process, started and stopped any number of times.
 *
 * Sampled mode (the default): each byte allocated is a sample point with
 * probability 1/S (S = sample_bytes) through a per-thread countdown of
 * bytes drawn from an exponential distribution, so a block of n bytes is
 * recorded with probability p = 1 - exp(-n/S) and carries weight 1/p.
 * The countdown is the whole cost of an allocation that is not recorded
 * (mt_tracer_take(): a thread-local subtraction). Frees are matched with
 * the recorded blocks through an address map (addrmap.c) in front of
 * which a lock-free filter says "certainly not recorded" for almost every
 * free. Full mode records every event.
 *
 * Each recorded event goes, with its time (CLOCK_MONOTONIC since the
 * meta start_time), into its thread's buffer. The writer thread takes
 * every buffer's lock, swaps the buffers out and lets go, so that one
 * moment separates what a drain takes from what it leaves; merges them
 * in time order; writes the frames and stacks they name, then the allocs
 * records; keeps the live bytes of every stack, which it writes as a
 * trace_live checkpoint every checkpoint_ns and at the end; and writes
 * an `rss` sample at each drain. It drains every drain_ns and when a
 * buffer fills (the allocating thread then waits for it: the tracer's
 * memory is bounded whatever the run's length), and flushes the file at
 * least every flush_ns, so a process killed at any moment leaves a file
 * readable up to its last flush.
 *
 * Reentrancy: the tracer's own memory comes from malloc(3), never from
 * the hooked allocators. A hook that may be re-entered (the Python
 * allocators, called from code the hook runs) marks the thread busy with
 * mt__trace_tls.busy around its own work.
 *
 * Fork: a child forked while the tracer runs has a copy of it without its
 * writer thread and perhaps with a lock taken by a thread that is not
 * there: in the child the tracer is off (pthread_atfork), so that the hooks
 * pass every call through and nothing writes to the parent's file. The
 * child may start a trace of its own. */
#ifndef MT_TRACER_H
#define MT_TRACER_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MT_TRACE_DEFAULT_SAMPLE_BYTES 524288u

typedef struct mt_tracer_config {
    const char *path;         /* the trace file */
    uint64_t sample_bytes;    /* mean bytes between samples; 0: 512 KiB */
    int all;                  /* record every event (trace_mode all) */
    uint64_t seed;            /* the sampling RNG's seed; 0: a random one */
    const char *tool;         /* meta tool; NULL: "memtrace-tracer" */
    const char *command;      /* meta command; NULL: none */
    const char *domains;      /* meta trace_domains, "0,3,4" */
    const char *const *meta;  /* more meta: key, value, key, value, ..., NULL */
    uint64_t drain_ns;        /* 0: 100 ms */
    uint64_t flush_ns;        /* 0: 1 s */
    uint64_t checkpoint_ns;   /* 0: 10 s */
    size_t buffer_events;     /* events per thread buffer; 0: 8192 */
    /* Stacks only (heap dumps' allocation stacks): no file (path is then
     * NULL), no writer thread, no event buffers; every allocation is
     * recorded (as full mode) into the address map with its stack, and
     * the interned frames and stacks are kept, for mt_tracer_lookup_*. */
    int stacks_only;
} mt_tracer_config;

/* Opens the file (at its path from the first flush on, which start
 * makes: SPEC.md 3.4), writes the meta and starts the writer thread.
 * @return 0, or MT_E_STATE (a trace runs already), MT_E_INVAL (no path),
 *         MT_E_IO (the file; diag says why), MT_E_NOMEM. */
int mt_tracer_start(const mt_tracer_config *cfg, mt_diag *diag);

/* Stops recording, drains what was recorded, writes a last checkpoint
 * and closes the file with its index. The hooks may still call in: they
 * then pass everything through.
 * @return 0, or MT_E_STATE (no trace runs), the writer's first error. */
int mt_tracer_stop(mt_diag *diag);

/* 1 between a successful start and stop (0 in a forked child). */
int mt_tracer_running(void);
/* 1 when the running tracer was started stacks_only. */
int mt_tracer_stacks_only(void);

/* Nanoseconds since the trace's start_time, the clock of its records. */
uint64_t mt_tracer_now(void);

/* Adds an events record (SPEC.md 4.3, events: "step" for a pipeline
 * step) at now, written with the next drain.
 * @return 0, or MT_E_STATE, MT_E_NOMEM. */
int mt_tracer_event(const char *kind, const char *name, double value, const char *detail);

/* Counts of what the tracer saw, for tests and the front end. */
typedef struct mt_tracer_stats {
    uint64_t allocs, frees;   /* records written */
    uint64_t dropped;         /* events lost to a failed malloc */
    uint64_t threads;         /* threads that recorded an event */
    uint64_t frames, stacks;  /* interned so far */
} mt_tracer_stats;
void mt_tracer_get_stats(mt_tracer_stats *out);

/* ------------------------------------------------------------------ */
/* For the hooks.                                                        */

/* Per-thread state. Initial-exec TLS: the hooks read it on every
 * allocation, and a dlopen'd extension's few bytes fit the static TLS
 * that glibc keeps for such libraries. */
typedef struct mt__trace_tls {
    int64_t left;       /* bytes until the next sample point */
    uint32_t gen;       /* the trace this thread's state belongs to */
    int busy;           /* inside the tracer: the hooks pass calls through */
    int owner;          /* holds the lookup locks (mt_tracer_lookup_begin) */
    struct mt__thr *thr;
    uint64_t rng;
} mt__trace_tls;
extern __thread mt__trace_tls mt__tls __attribute__((tls_model("initial-exec")));
extern volatile int mt__trace_all;  /* full mode and running */

/* The slow half of mt_tracer_take(). */
int mt__trace_take_slow(size_t n);

/* 1 when an allocation of n bytes is to be recorded. In sampled mode
 * the fast path is one thread-local subtraction: nothing else. */
static inline int mt_tracer_take(size_t n) {
    if (mt__trace_all) return !mt__tls.busy;
    if ((mt__tls.left -= (int64_t)n) > 0) return 0;
    return mt__trace_take_slow(n);
}

/* Records the allocation of block p (n bytes, domain, stack id from
 * mt_tracer_stack_*), one that mt_tracer_take(n) said to record. */
void mt_tracer_alloc(const void *p, size_t n, uint32_t domain, uint32_t stack);

/* The address map's filter while a trace runs, else NULL (tracer.c). */
extern uint8_t *volatile mt__trace_filter;
#define MT__TRACE_FILTER_MASK ((1u << 18) - 1) /* internal.h's MT__ADDR_FILTER_BITS */

/* 1 when p may be a recorded block: a lock-free filter over the address
 * map, 0 for nearly every block that is not; one load of a counter that
 * the frees of neighbouring blocks share. */
static inline int mt_tracer_maybe_recorded(const void *p) {
    uint8_t *f = mt__trace_filter;
    return f && __atomic_load_n(&f[((uintptr_t)p >> 4) & MT__TRACE_FILTER_MASK], __ATOMIC_RELAXED);
}

/* A recorded block taken out of the address map. */
typedef struct mt_tracer_block {
    uint64_t size, born;
    double weight;
    uint32_t stack, domain;
} mt_tracer_block;

/* Takes p out of the address map (before the block is given back to its
 * allocator, so that its address cannot be recorded again meanwhile).
 * @return 1 and *b when p was recorded, else 0. */
int mt_tracer_forget(const void *p, mt_tracer_block *b);
/* Puts back a block that mt_tracer_forget took (a failed realloc). */
void mt_tracer_unforget(const void *p, const mt_tracer_block *b);
/* Records the free of a block mt_tracer_forget took. */
void mt_tracer_free(const void *p, const mt_tracer_block *b);

/* Frame and stack interning, under one lock: mt_tracer_intern_lock(),
 * the calls, mt_tracer_intern_unlock(). key is the caller's identity of
 * the code (it must keep the code alive, so that the key is not reused);
 * `at` a position in it (an instruction offset) that a cache maps to
 * the frame without computing its line again. */
void mt_tracer_intern_lock(void);
void mt_tracer_intern_unlock(void);
/* The frame cached for (key, at), or 0. */
uint32_t mt_tracer_frame_cached(const void *key, uint64_t at);
/* The frame of (key, line) (a new one gets function and file, copied),
 * cached for (key, at). *is_new says it is new: the caller then keeps key
 * alive. @return its id, or 0 when memory ran out. */
uint32_t mt_tracer_frame(const void *key, uint64_t at, uint32_t line, const char *function, size_t function_len,
                        const char *file, size_t file_len, int *is_new);
/* The stack (frame, parent); 0 when memory ran out. */
uint32_t mt_tracer_stack(uint32_t frame, uint32_t parent);

/* ------------------------------------------------------------------ */
/* Lookups of a stacks_only tracer (a heap dump's allocation stacks).   */

/* Takes the address map's and the interner's locks for the calling thread
 * until mt_tracer_lookup_end(); 0, or MT_E_STATE when no stacks_only
 * tracer runs. In between, the calling thread's hooks pass its own
 * allocations through unrecorded (mt__tls.busy), and its frees of recorded
 * blocks take them out of the map without locking again (mt__tls.owner):
 * the thread holds the locks, so it cannot deadlock on them. Other
 * threads that allocate wait for the end. */
int mt_tracer_lookup_begin(void);
void mt_tracer_lookup_end(void);
/* The stack id the block starting at p was allocated with (0: unknown,
 * or allocated before the tracer started). */
uint32_t mt_tracer_lookup_stack(const void *p);
/* A stack's innermost frame and its parent stack; 0 when id is unknown. */
int mt_tracer_lookup_stack_info(uint32_t id, uint32_t *frame, uint32_t *parent);
/* A frame's function, file (NUL-terminated, the tracer's own, valid
 * until mt_tracer_lookup_end) and line; 0 when id is unknown. */
int mt_tracer_lookup_frame(uint32_t id, const char **function, const char **file, uint32_t *line);

#ifdef __cplusplus
}
#endif
#endif
