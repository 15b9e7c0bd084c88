/* Importing a PyTorch CUDA caching allocator snapshot.
 *
 * What `torch.cuda.memory._snapshot()` returns, and what
 * `torch.cuda.memory._dump_snapshot()` writes with pickle, is a dict of
 * builtins: {segments: [...], device_traces: [[...], ...],
 * allocator_settings: {...}}. mt_torch_import() reads that pickle and
 * writes a memtrace snapshot whose gpu_devices, gpu_segments, gpu_blocks
 * and gpu_events records follow formats/SPEC.md section 4.5.
 *
 * The pickle is read by a small stack machine that knows only the opcodes
 * a pickled dict of builtins uses: of protocols 2 to 5 PROTO, FRAME, STOP,
 * EMPTY_DICT/LIST/TUPLE, MARK, SETITEM(S), APPEND(S), TUPLE, TUPLE1-3,
 * (SHORT_)BINUNICODE, BINUNICODE8, (SHORT_)BINBYTES, BINBYTES8, BININT,
 * BININT1, BININT2, LONG1, LONG4, BINFLOAT, NONE, NEWTRUE, NEWFALSE,
 * MEMOIZE, (LONG_)BINPUT, (LONG_)BINGET; and the few of protocols 0 and 1
 * that cost nothing more (LIST, DICT, POP, POP_MARK, DUP, and the decimal
 * INT and LONG that protocol 1 writes for integers of 2^31 and more).
 * Opcodes that name or call code (GLOBAL, STACK_GLOBAL, REDUCE, BUILD,
 * INST, OBJ, NEWOBJ, NEWOBJ_EX, PERSID, BINPERSID, EXT1/2/4) are refused as
 * bad input, as is every other opcode: nothing in the file is ever
 * executed or imported.
 *
 * Memory: the pickle is never held whole. Each element of the root's
 * `segments` list and of each `device_traces[i]` list is converted and
 * written when the pickle appends it (a pickler appends at most 1000
 * elements per APPENDS), then released: a memoised frame dict or frame list
 * (PyTorch shares them between blocks and trace entries) is kept as its
 * interned frame or stack id, the element's dicts and lists and the str
 * values of keys the importer does not read (user_metadata,
 * compile_context) as 8 bytes of the memo. So memory is bounded by the
 * output (its frames, the strs it holds, a few bytes per record) and one
 * APPENDS batch, not by the pickle. The price: a later memo reference to a
 * dict or list of an element already converted is refused (PyTorch makes
 * none; a pickle of shared dicts from elsewhere may).
 *
 * Limits, each refused as bad input with the byte offset where it was met:
 * nesting deeper than MT_TORCH_MAX_DEPTH containers or marks, a length
 * past the end of the file (or above MT_TORCH_MAX_STRING from a pipe), an
 * integer wider than 64 bits, a container changed after it was placed in
 * another (the way a pickle makes a cycle), a memo reference to a slot
 * never written, truncation. */
#ifndef MEMTRACE_TORCH_H
#define MEMTRACE_TORCH_H

#include <stddef.h>
#include <stdint.h>
#include "memtrace/errors.h"
#include "memtrace/format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Containers (and marks) open at once, at most. PyTorch's deepest value
 * (root, segments, segment, blocks, block, frames, frame) is 7. */
#define MT_TORCH_MAX_DEPTH 64
/* The longest string or bytes value read from a pipe, whose end is not
 * known in advance (a regular file's is, and bounds it instead). */
#define MT_TORCH_MAX_STRING (64u << 20)

/* What an import wrote, for a tool to print. */
typedef struct mt_torch_counts {
    uint64_t segments;   /* gpu_segments records */
    uint64_t blocks;     /* gpu_blocks records */
    uint64_t events;     /* gpu_events records */
    uint64_t devices;    /* gpu_devices records */
    uint64_t frames;     /* frames records (distinct source locations) */
    uint64_t stacks;     /* stacks records */
    int sequence_clock;  /* 1 when some trace entry had no time_us (meta gpu_clock = sequence) */
} mt_torch_counts;

typedef struct mt_torch_opts {
    const char *tool;        /* meta `tool`; NULL: none written */
    const mt_meta *meta;     /* more meta records written as they are (the
                              * caller's memory_stats), after the importer's */
    size_t nmeta;
    const mt_writer_opts *writer; /* NULL: the writer's defaults */
} mt_torch_opts;

/* Reads the pickle at in_path ("-" is standard input; read step by step
 * through mt_input_open(), so a device is refused and a silent pipe times
 * out) and writes the snapshot at out_path through mt_writer_open() (a
 * temporary file renamed into place only when complete: on any failure
 * out_path keeps what it held). opts and counts may be NULL; *counts is
 * filled on success.
 * @return 0; on failure diag->file names the file at fault (in_path or
 * out_path) and:
 *   MT_E_PARSE   the input is not a pickle this reader takes: an opcode it
 *                refuses or does not know, a value where another was
 *                expected (diag->offset is the byte offset of the opcode or
 *                value, diag->msg says what was expected);
 *   MT_E_TRUNCATED the pickle ends before STOP (diag->offset: its end);
 *   MT_E_LIMIT   a length past the end of the input, nesting deeper than
 *                MT_TORCH_MAX_DEPTH, an integer wider than 64 bits;
 *   MT_E_RANGE   a number that does not fit its field (a negative size, a
 *                device index above 2^32 - 1, time_us * 1000 above 2^64 - 1);
 *   MT_E_RECORD  the pickle is sound but not an allocator snapshot (the
 *                root is not a dict, a segment without `address`);
 *   MT_E_IO      in_path cannot be read or out_path written (diag names
 *                the system error);
 *   MT_E_NOMEM. */
int mt_torch_import(const char *in_path, const char *out_path, const mt_torch_opts *opts, mt_torch_counts *counts,
                    mt_diag *diag);

/* The same from a pickle held in memory (len bytes at data), as Python's
 * pickle.dumps() returns it. diag->file is left as the caller set it for
 * errors of the input, and set to out_path for errors of the output. */
int mt_torch_import_mem(const void *data, size_t len, const char *out_path, const mt_torch_opts *opts,
                        mt_torch_counts *counts, mt_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
