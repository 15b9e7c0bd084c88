/* Runs fuzz_container's custom mutator N times over one file and writes
 * each result to OUTDIR/NNNN.snap, for check_mutator.py:
 *   fuzz_container_mutate FILE OUTDIR N */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

int main(int argc, char **argv) {
    enum { MAX = 1 << 20 };
    if (argc != 4) {
        fprintf(stderr, "usage: %s FILE OUTDIR N\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    uint8_t *in = malloc(MAX), *w = malloc(MAX);
    size_t n = f && in ? fread(in, 1, MAX, f) : 0;
    if (f) fclose(f);
    if (!n || !w) {
        fprintf(stderr, "%s: %s: cannot read it\n", argv[0], argv[1]);
        return 1;
    }
    unsigned count = (unsigned)strtoul(argv[3], NULL, 10);
    for (unsigned i = 0; i < count; i++) {
        memcpy(w, in, n);
        size_t m = LLVMFuzzerCustomMutator(w, n, MAX, i * 2654435761u + 1);
        char path[4096];
        snprintf(path, sizeof path, "%s/%04u.snap", argv[2], i);
        FILE *o = fopen(path, "wb");
        if (!o || fwrite(w, 1, m, o) != m || fclose(o)) {
            fprintf(stderr, "%s: %s: cannot write it\n", argv[0], path);
            return 1;
        }
    }
    free(in);
    free(w);
    return 0;
}
