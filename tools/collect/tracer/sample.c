/* The sampling arithmetic of the tracer (tracer.h, sampled mode): a
 * Poisson process over the bytes allocated, of rate 1/S, drawn as the
 * countdown from one sample point to the next, as jemalloc's and
 * tcmalloc's heap profilers do. */
#include <math.h>
#include "internal.h"

uint64_t mt__rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double mt__rng_exp(uint64_t *state, double mean) {
    /* u in (0, 1]: the top 53 bits, plus one, so log never sees 0. */
    double u = (double)((mt__rng_next(state) >> 11) + 1) * (1.0 / 9007199254740992.0);
    return -log(u) * mean;
}

int64_t mt__sample_countdown(uint64_t *state, uint64_t sample_bytes) {
    double x = mt__rng_exp(state, (double)sample_bytes);
    /* 2^62 bytes is never reached; the cap keeps the conversion defined. */
    if (!(x < 4.6e18)) x = 4.6e18;
    return (int64_t)x + 1;
}

double mt__sample_weight(uint64_t n, uint64_t sample_bytes) {
    /* -expm1 keeps the precision of p for blocks much smaller than S. */
    double p = -expm1(-(double)n / (double)sample_bytes);
    return p > 0 ? 1.0 / p : 1.0;
}
