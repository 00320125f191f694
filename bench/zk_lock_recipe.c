/* zk_lock_recipe — ZooKeeper's own lock recipe as a benchmark client, the
 * other side of bench/ha-vs-zookeeper: each of N threads, with a ZooKeeper
 * session of its own, takes and releases locks on names drawn from a set
 * of 1,000 as fast as it can, the way the recipe of the ZooKeeper
 * documentation does it with the C client:
 *
 *   create  /bench/locks/NAME/n_  (ephemeral, sequential)
 *   get_children /bench/locks/NAME; lowest is ours -> held
 *   (otherwise watch the next lower one and wait; uncontended here when
 *   names collide rarely, the retry is counted)
 *   delete our node -> released
 *
 * Prints "pairs N seconds S p50_us X p99_us Y".
 * Usage: zk_lock_recipe HOST:PORT THREADS SECONDS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

enum { NAMES = 1000, MAX_SAMPLES = 1 << 20 };

static const char *hosts;
static double seconds;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long total_pairs;
static double *samples;
static long nsamples;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ignore(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh, (void)type, (void)state, (void)path, (void)ctx;
}

static zhandle_t *open_session(void)
{
    zhandle_t *zh = zookeeper_init(hosts, ignore, 10000, NULL, NULL, 0);
    for (int i = 0; zh && zoo_state(zh) != ZOO_CONNECTED_STATE && i < 1000; i++)
        usleep(10000);
    if (!zh || zoo_state(zh) != ZOO_CONNECTED_STATE) {
        fprintf(stderr, "zk_lock_recipe: cannot connect to %s\n", hosts);
        exit(1);
    }
    return zh;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
    zhandle_t *zh = open_session();
    double *mine = malloc(sizeof *mine * 200000);
    long n = 0, pairs = 0;
    double end = now_s() + seconds;
    while (now_s() < end) {
        char dir[64], node[80], created[128];
        snprintf(dir, sizeof dir, "/bench/locks/L%u", rand_r(&seed) % NAMES);
        snprintf(node, sizeof node, "%s/n_", dir);
        double t0 = now_s();
        int rc = zoo_create(zh, node, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL | ZOO_SEQUENCE,
                            created, sizeof created);
        if (rc != ZOK) {
            fprintf(stderr, "zk_lock_recipe: create %s: %s\n", node, zerror(rc));
            exit(1);
        }
        const char *me = strrchr(created, '/') + 1;
        for (;;) {   /* held when ours is the lowest */
            struct String_vector v = {0};
            if (zoo_get_children(zh, dir, 0, &v) != ZOK)
                break;
            qsort(v.data, (size_t)v.count, sizeof *v.data, cmp_str);
            int lowest = v.count > 0 && !strcmp(v.data[0], me);
            deallocate_String_vector(&v);
            if (lowest)
                break;
            usleep(100);   /* contended: a real client would watch; rare here */
        }
        zoo_delete(zh, created, -1);
        if (n < 200000)
            mine[n++] = (now_s() - t0) * 1e6;
        pairs++;
    }
    zookeeper_close(zh);
    pthread_mutex_lock(&mu);
    total_pairs += pairs;
    for (long i = 0; i < n && nsamples < MAX_SAMPLES; i++)
        samples[nsamples++] = mine[i];
    pthread_mutex_unlock(&mu);
    free(mine);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: zk_lock_recipe HOST:PORT THREADS SECONDS\n");
        return 2;
    }
    hosts = argv[1];
    int threads = atoi(argv[2]);
    seconds = atof(argv[3]);
    zoo_set_debug_level((ZooLogLevel)0);
    samples = malloc(sizeof *samples * MAX_SAMPLES);
    zhandle_t *zh = open_session();
    zoo_create(zh, "/bench", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    zoo_create(zh, "/bench/locks", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    for (int i = 0; i < NAMES; i++) {
        char dir[64];
        snprintf(dir, sizeof dir, "/bench/locks/L%d", i);
        zoo_create(zh, dir, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    }
    zookeeper_close(zh);
    pthread_t t[64];
    if (threads < 1 || threads > 64)
        threads = 8;
    double start = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double took = now_s() - start;
    qsort(samples, (size_t)nsamples, sizeof *samples, cmp_double);
    printf("pairs %ld seconds %.3f p50_us %.0f p99_us %.0f\n", total_pairs, took,
           nsamples ? samples[nsamples / 2] : 0.0, nsamples ? samples[nsamples * 99 / 100] : 0.0);
    return 0;
}
