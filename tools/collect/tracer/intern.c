/* Frame and stack interning (internal.h): frames keyed by the caller's
 * code identity and line, stacks as a tree of (frame, parent), so that an
 * event names its whole stack with one id and the file holds each frame
 * and each (frame, parent) once. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static inline size_t pair_slot(uint64_t a, uint64_t b, size_t cap) {
    uint64_t k = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

uint32_t mt__pairmap_get(const mt__pairmap *m, uint64_t a, uint64_t b) {
    if (!m->cap) return 0;
    for (size_t i = pair_slot(a, b, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->v[i]) return 0;
        if (m->a[i] == a && m->b[i] == b) return m->v[i];
    }
}

static void pair_insert(uint64_t *ka, uint64_t *kb, uint32_t *kv, size_t cap, uint64_t a, uint64_t b, uint32_t v) {
    size_t i = pair_slot(a, b, cap);
    while (kv[i] && !(ka[i] == a && kb[i] == b)) i = (i + 1) & (cap - 1);
    ka[i] = a;
    kb[i] = b;
    kv[i] = v;
}

int mt__pairmap_put(mt__pairmap *m, uint64_t a, uint64_t b, uint32_t v) {
    if ((m->count + 1) * 4 > m->cap * 3) {
        size_t nc = m->cap ? m->cap * 2 : 256;
        uint64_t *na = malloc(nc * sizeof *na), *nb = malloc(nc * sizeof *nb);
        uint32_t *nv = calloc(nc, sizeof *nv);
        if (!na || !nb || !nv) {
            free(na);
            free(nb);
            free(nv);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->v[i]) pair_insert(na, nb, nv, nc, m->a[i], m->b[i], m->v[i]);
        size_t count = m->count;
        mt__pairmap_free(m);
        m->count = count;
        m->a = na;
        m->b = nb;
        m->v = nv;
        m->cap = nc;
    }
    if (!mt__pairmap_get(m, a, b)) m->count++;
    pair_insert(m->a, m->b, m->v, m->cap, a, b, v);
    return 0;
}

void mt__pairmap_free(mt__pairmap *m) {
    free(m->a);
    free(m->b);
    free(m->v);
    m->a = m->b = NULL;
    m->v = NULL;
    m->cap = m->count = 0;
}

static char *copy(const char *s, size_t n) {
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = 0;
    }
    return c;
}

uint32_t mt__intern_frame(mt__intern *in, uint64_t key, uint32_t line, const char *function, size_t function_len,
                          const char *file, size_t file_len, int *is_new) {
    *is_new = 0;
    uint32_t id = mt__pairmap_get(&in->frames, key, line);
    if (id) return id;
    if (in->n_new_frames == in->cap_new_frames) {
        size_t nc = in->cap_new_frames ? in->cap_new_frames * 2 : 64;
        mt__new_frame *n = realloc(in->new_frames, nc * sizeof *n);
        if (!n) return 0;
        in->new_frames = n;
        in->cap_new_frames = nc;
    }
    mt__new_frame *f = &in->new_frames[in->n_new_frames];
    f->function = copy(function, function_len);
    f->file = copy(file, file_len);
    if (!f->function || !f->file || mt__pairmap_put(&in->frames, key, line, in->nframes + 1)) {
        free(f->function);
        free(f->file);
        return 0;
    }
    f->id = ++in->nframes;
    f->line = line;
    in->n_new_frames++;
    *is_new = 1;
    return f->id;
}

uint32_t mt__intern_stack(mt__intern *in, uint32_t frame, uint32_t parent) {
    uint32_t id = mt__pairmap_get(&in->stacks, frame, parent);
    if (id) return id;
    if (in->n_new_stacks == in->cap_new_stacks) {
        size_t nc = in->cap_new_stacks ? in->cap_new_stacks * 2 : 64;
        mt__new_stack *n = realloc(in->new_stacks, nc * sizeof *n);
        if (!n) return 0;
        in->new_stacks = n;
        in->cap_new_stacks = nc;
    }
    if (mt__pairmap_put(&in->stacks, frame, parent, in->nstacks + 1)) return 0;
    mt__new_stack *s = &in->new_stacks[in->n_new_stacks++];
    s->id = ++in->nstacks;
    s->frame = frame;
    s->parent = parent;
    return s->id;
}

void mt__intern_free(mt__intern *in) {
    mt__pairmap_free(&in->at);
    mt__pairmap_free(&in->frames);
    mt__pairmap_free(&in->stacks);
    for (size_t i = 0; i < in->n_new_frames; i++) {
        free(in->new_frames[i].function);
        free(in->new_frames[i].file);
    }
    free(in->new_frames);
    free(in->new_stacks);
    memset(in, 0, sizeof *in);
}
