/* bench_client_pairs — lock+unlock pairs through libnslock at one client,
 * the C side of bench/python-vs-c (which runs the same loop from Python
 * over the same library and compares), and the comparison of the three
 * ways of making a pair (docs/PERFORMANCE.md "The client: pipelined
 * requests and the asynchronous unlock").
 *
 * Usage: bench_client_pairs SOCKET SECONDS [sync|async|deferred|pipelined]
 *   Prints "pairs N seconds S" after SECONDS of pairs on ^B(i % 1000) as
 *   fast as one client can go: sync (the default) nslock_lock +
 *   nslock_unlock, two round trips; async nslock_lock +
 *   nslock_unlock_async, written at once, its answer read with the next
 *   lock's; deferred, the unlock with NSLOCK_ASYNC | NSLOCK_DEFER, written
 *   with the next lock in one write; pipelined, batches of PIPELINE_DEPTH
 *   pairs queued with nslock_pipeline_lock/_unlock and then collected.
 * Usage: bench_client_pairs --serve NSLOCK SECONDS [ROUNDS]
 *   Starts `NSLOCK serve` on a temporary socket and runs the four modes
 *   one after another, ROUNDS times (default 3) so that all see the same
 *   machine, printing pairs/s, the ratio to sync and the CPU time a pair
 *   (this process and the server, from getrusage and /proc) of each
 *   round, then the medians.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nslock.h"

#define PIPELINE_DEPTH 16
#define NAMES 1000

enum mode { MODE_SYNC, MODE_ASYNC, MODE_DEFERRED, MODE_PIPELINED, MODE_COUNT };
static const char *const mode_names[MODE_COUNT] = {"sync", "async", "deferred", "pipelined"};

static char names[NAMES][16];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int failed(const nslock_error *err)
{
    fprintf(stderr, "bench_client_pairs: %s: %s\n", err->name, err->message);
    return -1;
}

/* 100 pairs the way mode makes them. */
static int hundred_pairs(nslock *c, enum mode mode, long first, nslock_error *err)
{
    for (long k = 0; k < 100;) {
        const char *name = names[(first + k) % NAMES];
        if (mode == MODE_PIPELINED) {
            long batch = 100 - k < PIPELINE_DEPTH ? 100 - k : PIPELINE_DEPTH;
            for (long j = 0; j < batch; j++) {
                name = names[(first + k + j) % NAMES];
                if (nslock_pipeline_lock(c, name, NSLOCK_EXCLUSIVE, NSLOCK_WAIT_FOREVER, err) < 0
                    || nslock_pipeline_unlock(c, name, NSLOCK_EXCLUSIVE, err) < 0)
                    return -1;
            }
            for (long j = 0; j < 2 * batch; j++)
                if (nslock_pipeline_result(c, NULL, err) < 0)
                    return -1;
            k += batch;
            continue;
        }
        if (nslock_lock(c, name, NSLOCK_EXCLUSIVE, NSLOCK_WAIT_FOREVER, NULL, err) < 0)
            return -1;
        unsigned flags = mode == MODE_ASYNC      ? NSLOCK_ASYNC
                         : mode == MODE_DEFERRED ? NSLOCK_ASYNC | NSLOCK_DEFER
                                                 : 0;
        int rc = nslock_unlock_flags(c, name, NSLOCK_EXCLUSIVE, flags, err);
        if (rc < 0)
            return -1;
        k++;
    }
    return 0;
}

/* Pairs for `seconds` on a new connection; -1 on an error. */
static long run(const char *socket_path, enum mode mode, double seconds, double *took)
{
    nslock *c;
    nslock_error err;
    if (nslock_connect(&c, socket_path, "bench-c", &err) < 0)
        return failed(&err);
    long pairs = 0;
    double start = now_s(), end = start + seconds, t = start;
    while (t < end) {
        if (hundred_pairs(c, mode, pairs, &err) < 0) {
            nslock_close(c);
            return failed(&err);
        }
        pairs += 100;
        t = now_s();
    }
    if (nslock_sync(c, &err) < 0) {     /* the last unlock's answer is part of the run */
        nslock_close(c);
        return failed(&err);
    }
    *took = now_s() - start;
    nslock_close(c);
    return pairs;
}

static pid_t server_pid;
static char server_dir[64];

/* CPU seconds (user + system) this process and the server have used: on a
 * shared machine, CPU per pair varies far less than pairs/s. */
static double cpu_used(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)server_pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    /* fields 14 and 15 (utime, stime), counted after the ')' ending the name */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                            &ut, &st) != 2)
        return self;
    return self + (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", server_dir);
    if (server_dir[0] && system(cmd) != 0)
        fprintf(stderr, "bench_client_pairs: could not remove %s\n", server_dir);
}

/* `nslock serve` on dir/s.sock; 0 once it answers. */
static int start_server(const char *binary, char *socket_path, size_t cap)
{
    snprintf(server_dir, sizeof server_dir, "/tmp/bench-pairs-XXXXXX");
    if (mkdtemp(server_dir) == NULL)
        return -1;
    snprintf(socket_path, cap, "%s/s.sock", server_dir);
    char state[96], log[96];
    snprintf(state, sizeof state, "%s/state", server_dir);
    snprintf(log, sizeof log, "%s/log", server_dir);
    server_pid = fork();
    if (server_pid < 0)
        return -1;
    if (server_pid == 0) {
        if (freopen(log, "w", stderr) == NULL)
            _exit(126);
        execl(binary, "nslock", "serve", "--socket", socket_path, "--state-dir", state,
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        nslock *c;
        if (nslock_connect(&c, socket_path, "bench-probe", NULL) == 0) {
            nslock_close(c);
            return 0;
        }
        usleep(50000);
    }
    fprintf(stderr, "bench_client_pairs: the server did not start (see %s)\n", log);
    return -1;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The modes one after another in each round, so that a machine whose load
 * changes (a shared one) weighs on all alike; the ratios are per round,
 * their median reported. */
static int compare(const char *binary, double seconds, int rounds)
{
    char socket_path[108];
    if (rounds < 1 || rounds > 100 || start_server(binary, socket_path, sizeof socket_path) < 0) {
        stop_server();
        return 1;
    }
    double rate[MODE_COUNT][100], ratio[MODE_COUNT][100], cpu[MODE_COUNT][100];
    for (int r = 0; r < rounds; r++) {
        for (int m = 0; m < MODE_COUNT; m++) {
            double took, cpu_before = cpu_used();
            long pairs = run(socket_path, (enum mode)m, seconds, &took);
            if (pairs < 0) {
                stop_server();
                return 1;
            }
            rate[m][r] = (double)pairs / took;
            cpu[m][r] = (cpu_used() - cpu_before) / (double)pairs * 1e6;
        }
        printf("round %d:", r + 1);
        for (int m = 0; m < MODE_COUNT; m++) {
            ratio[m][r] = rate[m][r] / rate[MODE_SYNC][r];
            printf(" %s %.0f pairs/s (%.2fx, %.1f us CPU/pair)", mode_names[m], rate[m][r],
                   ratio[m][r], cpu[m][r]);
        }
        printf("\n");
        fflush(stdout);
    }
    printf("median of %d rounds (pipelined: %d pairs a batch):\n", rounds, PIPELINE_DEPTH);
    for (int m = 0; m < MODE_COUNT; m++)
        printf("  %-9s %7.0f pairs/s  %.2fx sync  %5.1f us CPU a pair (client + server)\n",
               mode_names[m], median(rate[m], rounds), median(ratio[m], rounds),
               median(cpu[m], rounds));
    stop_server();
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 0; i < NAMES; i++)
        snprintf(names[i], sizeof names[i], "^B(%d)", i);
    if (argc >= 4 && argc <= 5 && strcmp(argv[1], "--serve") == 0)
        return compare(argv[2], atof(argv[3]), argc == 5 ? atoi(argv[4]) : 3);
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: bench_client_pairs SOCKET SECONDS [sync|async|deferred|pipelined]\n"
                        "       bench_client_pairs --serve NSLOCK SECONDS [ROUNDS]\n");
        return 2;
    }
    enum mode mode = MODE_SYNC;
    for (int m = 0; argc == 4 && m < MODE_COUNT; m++)
        if (strcmp(argv[3], mode_names[m]) == 0)
            mode = (enum mode)m;
    if (argc == 4 && strcmp(argv[3], mode_names[mode]) != 0) {
        fprintf(stderr, "bench_client_pairs: unknown mode '%s'\n", argv[3]);
        return 2;
    }
    double took;
    long pairs = run(argv[1], mode, atof(argv[2]), &took);
    if (pairs < 0)
        return 1;
    printf("pairs %ld seconds %.3f\n", pairs, took);
    return 0;
}
