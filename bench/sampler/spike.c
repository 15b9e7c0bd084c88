/* bench/sampler's spike: a process whose memory has one peak of known
 * size and length, and which says what its true peak was.
 *
 *   spike MiB MS
 * sleeps 300 ms, allocates and touches MiB mebibytes, holds them MS
 * milliseconds, reads its own VmRSS (the truth a sampler is compared
 * with), frees them, sleeps 300 ms and prints "peak_rss BYTES". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&t, &t)) {}
}

static unsigned long long vmrss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %llu kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib * 1024;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: spike MiB MS\n");
        return 2;
    }
    size_t bytes = (size_t)strtoull(argv[1], NULL, 10) << 20;
    long ms = strtol(argv[2], NULL, 10);
    sleep_ms(300);
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 3;
    for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
    unsigned long long peak = vmrss();
    sleep_ms(ms);
    munmap(p, bytes);
    sleep_ms(300);
    printf("peak_rss %llu\n", peak);
    return 0;
}
