/* bench_client_pairs — lock+unlock pairs through libnslock at one client,
 * the C side of bench/python-vs-c (which runs the same loop from Python
 * over the same library and compares).
 *
 * Usage: bench_client_pairs SOCKET SECONDS
 * Prints "pairs N seconds S" after SECONDS of nslock_lock + nslock_unlock
 * of ^B(i % 1000) as fast as one client can go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nslock.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_client_pairs SOCKET SECONDS\n");
        return 2;
    }
    double seconds = atof(argv[2]);
    nslock *c;
    nslock_error err;
    if (nslock_connect(&c, argv[1], "bench-c", &err) < 0) {
        fprintf(stderr, "bench_client_pairs: %s: %s\n", err.name, err.message);
        return 1;
    }
    char names[1000][16];
    for (int i = 0; i < 1000; i++)
        snprintf(names[i], sizeof names[i], "^B(%d)", i);
    long pairs = 0;
    double start = now_s(), end = start + seconds, t = start;
    while (t < end) {
        for (int k = 0; k < 100; k++, pairs++) {
            const char *name = names[pairs % 1000];
            if (nslock_lock(c, name, NSLOCK_EXCLUSIVE, NSLOCK_WAIT_FOREVER, NULL, &err) < 0
                || nslock_unlock(c, name, NSLOCK_EXCLUSIVE, &err) < 0) {
                fprintf(stderr, "bench_client_pairs: %s: %s\n", err.name, err.message);
                return 1;
            }
        }
        t = now_s();
    }
    printf("pairs %ld seconds %.3f\n", pairs, t - start);
    nslock_close(c);
    return 0;
}
