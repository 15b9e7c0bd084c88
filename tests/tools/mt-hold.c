/* mt-hold MiB MS [DELAY_MS]: waits DELAY_MS, allocates MiB mebibytes and
 * touches every page, prints "held" on stdout, holds them MS milliseconds,
 * frees them and exits 0. A process of known memory for the sampler's
 * tests (and anyone's): its RSS rises by MiB while it holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: mt-hold MiB MS [DELAY_MS]\n");
        return 2;
    }
    long mib = atol(argv[1]), ms = atol(argv[2]), delay = argc > 3 ? atol(argv[3]) : 0;
    if (mib < 0 || ms < 0 || delay < 0) {
        fprintf(stderr, "mt-hold: sizes and times are not negative\n");
        return 2;
    }
    sleep_ms(delay);
    size_t n = (size_t)mib << 20;
    volatile unsigned char *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "mt-hold: cannot allocate %ld MiB\n", mib);
        return 1;
    }
    long page = sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < n; i += (size_t)page) p[i] = (unsigned char)(i | 1);
    printf("held\n");
    fflush(stdout);
    sleep_ms(ms);
    free((void *)p);
    return 0;
}
