/* bench_client_recovery — restart recovery of 3 × 100,000 locks (docs/DESIGN.md).
 *
 * Each run starts `nslock serve` (temp socket, temp --state-dir), has CLIENTS
 * libnslock handles (keeper threads, as a program would have them) take
 * LOCKS locks each (`^r(c,i)`, nslock_lock_names in batches), kills the
 * server with SIGKILL, starts it again at once on the same state directory,
 * and measures what the clients' libraries do on their own: reconnect,
 * RECLAIM every lock, RECLAIM DONE. A fresh client connects as soon as the
 * restarted server answers and sends `LOCK +^fresh`, which the server holds
 * until recovery has ended.
 *
 * Times are taken from the restart (the fork of the new server):
 *   ready       the fresh client's HELLO was answered (the server is up)
 *   reconnect   a client's connect() to the restarted server succeeded:
 *               its library's reconnect; RECLAIM SESSION follows after one
 *               HELLO round trip. The clients retry with back-off (20, 40,
 *               80 ... ms from the moment they saw the connection go), so
 *               when they come back depends on where the restart falls in
 *               that schedule; that is why docs/PERFORMANCE.md counts from the *last*
 *               client's reconnect.
 *   reclaimed   the client's nslock_on_reclaimed callback ran: every lock
 *               reclaimed, RECLAIM DONE answered
 *   fresh       the fresh client's LOCK +^fresh was answered: new requests
 *               are served
 * and the figure of docs/PERFORMANCE.md is fresh - (last reconnect), target ≤ 2 s.
 *
 * The reconnect is seen by wrapping connect(): this program defines it, so
 * libnslock's calls land here (the executable comes first in symbol lookup),
 * and it records the time of each successful connect by descriptor; after
 * the recovery nslock_fd() names each client's descriptor. Nothing in
 * libnslock is changed or needed for it.
 *
 * Usage: bench_client_recovery [--nslock PATH] [-c CLIENTS] [-n LOCKS]
 *                              [-b BATCH] [-r RUNS] [--server-cpu CPU] [--quick]
 * Default: 3 clients × 100,000 locks, batches of 500, 5 runs; --quick: 1 run
 * of 3 × 10,000. The nslock binary defaults to ../nslock beside this
 * program's bench/ directory (the build's). Pin the clients with taskset;
 * --server-cpu pins the server (through taskset). bench/recovery runs it.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "nslock.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- connect(), wrapped ---------------------------------------------------- */

#define MAX_FD 65536
static double connect_time[MAX_FD];   /* of the last successful connect on each fd */
static pthread_mutex_t connect_mu = PTHREAD_MUTEX_INITIALIZER;
static bool connect_seen;              /* the wrapper is the one libnslock calls */

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    long rc = syscall(SYS_connect, fd, addr, len);
    if (rc == 0 && fd >= 0 && fd < MAX_FD) {
        double t = now_s();
        pthread_mutex_lock(&connect_mu);
        connect_time[fd] = t;
        connect_seen = true;
        pthread_mutex_unlock(&connect_mu);
    }
    return (int)rc;
}

static double connected_at(int fd)
{
    if (fd < 0 || fd >= MAX_FD)
        return 0;
    pthread_mutex_lock(&connect_mu);
    double t = connect_time[fd];
    pthread_mutex_unlock(&connect_mu);
    return t;
}

/* ---- options ------------------------------------------------------------------ */

typedef struct options {
    char nslock[4096];
    int clients;
    long locks;
    int batch;
    int runs;
    int server_cpu;     /* -1: not pinned */
} options;

static void usage(FILE *out)
{
    fputs("Usage: bench_client_recovery [--nslock PATH] [-c CLIENTS] [-n LOCKS] [-b BATCH]\n"
          "                             [-r RUNS] [--server-cpu CPU] [--quick]\n"
          "  --nslock PATH    the server binary (default: the build's, ../nslock)\n"
          "  -c CLIENTS       libnslock clients (default 3)\n"
          "  -n LOCKS         locks each client holds (default 100000)\n"
          "  -b BATCH         names per nslock_lock_names call (default 500)\n"
          "  -r RUNS          kill-and-restart runs, each on a fresh server (default 5)\n"
          "  --server-cpu CPU pin the server to CPU (taskset)\n"
          "  --quick          -r 1 -n 10000\n",
          out);
}

static long parse_long(const char *opt, const char *v, long min, long max)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) {
        fprintf(stderr, "bench_client_recovery: %s: bad value '%s'\n", opt, v);
        exit(2);
    }
    return x;
}

static void parse_options(int argc, char **argv, options *o)
{
    *o = (options){.clients = 3, .locks = 100000, .batch = 500, .runs = 5, .server_cpu = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--quick")) {
            o->runs = 1;
            o->locks = 10000;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_client_recovery: %s: missing value or unknown option\n", a);
            usage(stderr);
            exit(2);
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--nslock"))
            snprintf(o->nslock, sizeof o->nslock, "%s", v);
        else if (!strcmp(a, "-c"))
            o->clients = (int)parse_long(a, v, 1, 64);
        else if (!strcmp(a, "-n"))
            o->locks = parse_long(a, v, 1, 10000000);
        else if (!strcmp(a, "-b"))
            o->batch = (int)parse_long(a, v, 1, 4000);
        else if (!strcmp(a, "-r"))
            o->runs = (int)parse_long(a, v, 1, 1000);
        else if (!strcmp(a, "--server-cpu"))
            o->server_cpu = (int)parse_long(a, v, 0, 4095);
        else {
            fprintf(stderr, "bench_client_recovery: unknown option '%s'\n", a);
            usage(stderr);
            exit(2);
        }
    }
    if (!o->nslock[0]) {
        char self[2048];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) {
            fputs("bench_client_recovery: cannot find myself; give --nslock\n", stderr);
            exit(2);
        }
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(o->nslock, sizeof o->nslock, "%s/../nslock", self);
    }
    if (access(o->nslock, X_OK) != 0) {
        fprintf(stderr, "bench_client_recovery: %s: not an executable (build the target nslock, "
                "or give --nslock)\n", o->nslock);
        exit(2);
    }
}

/* ---- the server ---------------------------------------------------------------------- */

typedef struct server {
    char dir[256], socket[300], state[300], log[300];
    pid_t pid;
} server;

static void die(const char *fmt, const char *what)
{
    fprintf(stderr, "bench_client_recovery: ");
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    exit(1);
}

static void server_start(server *s, const options *o)
{
    s->pid = fork();
    if (s->pid < 0)
        die("fork: %s", strerror(errno));
    if (s->pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0)
            dup2(fd, 2);
        char cpu[16];
        snprintf(cpu, sizeof cpu, "%d", o->server_cpu);
        if (o->server_cpu >= 0)
            execlp("taskset", "taskset", "-c", cpu, o->nslock, "serve", "-s", s->socket,
                   "--state-dir", s->state, "-l", "info", (char *)NULL);
        else
            execl(o->nslock, o->nslock, "serve", "-s", s->socket, "--state-dir", s->state,
                  "-l", "info", (char *)NULL);
        _exit(127);
    }
}

static void server_stop(server *s, int sig)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, sig);
    int status;
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
}

/* The server's own figure: "recovery ended (...) after N ms". */
static long server_recovery_ms(const server *s)
{
    FILE *f = fopen(s->log, "r");
    if (!f)
        return -1;
    char line[1024];
    long ms = -1;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "recovery ended");
        if (p && (p = strstr(p, " after ")))
            ms = strtol(p + 7, NULL, 10);
    }
    fclose(f);
    return ms;
}

/* ---- CPU time (schedstat: nanoseconds on a CPU) --------------------------------------- */

static double task_cpu(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    unsigned long long ns = 0;
    if (fscanf(f, "%llu", &ns) != 1)
        ns = 0;
    fclose(f);
    return (double)ns / 1e9;
}

static double server_cpu(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/schedstat", (long)pid);
    return task_cpu(path);
}

/* Every thread of this process but the main one: the keeper threads. */
static double keepers_cpu(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    double sum = 0;
    struct dirent *e;
    long self = (long)getpid();
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strtol(e->d_name, NULL, 10) == self)
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        sum += task_cpu(path);
    }
    closedir(d);
    return sum;
}

/* ---- one run ---------------------------------------------------------------------------- */

typedef struct client {
    nslock *h;
    int index;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    double reclaimed_at;
    size_t reclaimed;
    bool lost;
} client;

static void on_reclaimed(nslock *h, size_t locks, uint64_t epoch, void *arg)
{
    (void)h;
    (void)epoch;
    client *c = arg;
    double t = now_s();
    pthread_mutex_lock(c->mu);
    c->reclaimed_at = t;
    c->reclaimed = locks;
    pthread_cond_broadcast(c->cv);
    pthread_mutex_unlock(c->mu);
}

static void on_lost(nslock *h, const nslock_error *why, void *arg)
{
    (void)h;
    client *c = arg;
    fprintf(stderr, "bench_client_recovery: client %d lost its locks: %s: %s\n", c->index,
            why->name, why->message);
    pthread_mutex_lock(c->mu);
    c->lost = true;
    pthread_cond_broadcast(c->cv);
    pthread_mutex_unlock(c->mu);
}

static void check(int rc, const nslock_error *err, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "bench_client_recovery: %s: %s: %s\n", what, err->name, err->message);
        exit(1);
    }
}

static void take_locks(client *c, const options *o)
{
    size_t cap = (size_t)o->batch;
    char *buf = malloc(cap * 32);
    const char **names = malloc(cap * sizeof *names);
    if (!buf || !names)
        die("%s", "out of memory");
    for (long done = 0; done < o->locks;) {
        size_t k = 0;
        for (; k < cap && done + (long)k < o->locks; k++) {
            names[k] = buf + k * 32;
            snprintf(buf + k * 32, 32, "^r(%d,%ld)", c->index, done + (long)k);
        }
        nslock_outcome got;
        nslock_error err;
        check(nslock_lock_names(c->h, names, k, NSLOCK_EXCLUSIVE, 0, &got, &err), &err,
              "nslock_lock_names");
        if (got.test != 1)
            die("%s", "a lock was not granted (another run's server on the socket?)");
        done += (long)k;
    }
    free(buf);
    free(names);
}

typedef struct result {
    double ready, last_reconnect, first_reconnect, last_reclaimed, fresh;
    double reclaim_max;              /* the longest reconnect-to-reclaimed of a client */
    long server_ms;
    double take_s;
    double server_cpu, keepers_cpu;  /* CPU time from the restart to the end of the recovery */
} result;

static nslock *fresh_connect(const server *s, double give_up)
{
    for (;;) {
        nslock_options opt = {.socket_path = s->socket, .client_name = "bench-recovery-fresh",
                              .keeper = NSLOCK_KEEPER_NONE, .no_recovery = 1};
        nslock *h;
        nslock_error err;
        if (nslock_open(&h, &opt, &err) == 0)
            return h;
        if (now_s() > give_up)
            die("the restarted server did not answer: %s", err.message);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void run_once(const options *o, int run, result *r)
{
    server s = {0};
    const char *tmpdir = getenv("TMPDIR");
    snprintf(s.dir, sizeof s.dir, "%s/bench-recovery.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(s.dir))
        die("mkdtemp: %s", strerror(errno));
    snprintf(s.socket, sizeof s.socket, "%s/nslock.sock", s.dir);
    snprintf(s.state, sizeof s.state, "%s/state", s.dir);
    snprintf(s.log, sizeof s.log, "%s/server.log", s.dir);
    server_start(&s, o);

    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    client *cl = calloc((size_t)o->clients, sizeof *cl);
    if (!cl)
        die("%s", "out of memory");
    nslock *probe = fresh_connect(&s, now_s() + 10);   /* the server is up */
    nslock_close(probe);
    double t0 = now_s();
    for (int i = 0; i < o->clients; i++) {
        client *c = &cl[i];
        c->index = i;
        c->mu = &mu;
        c->cv = &cv;
        char name[64];
        snprintf(name, sizeof name, "bench-recovery-%d", i);
        nslock_options opt = {.socket_path = s.socket, .client_name = name};
        nslock_error err;
        check(nslock_open(&c->h, &opt, &err), &err, "nslock_open");
        nslock_on_reclaimed(c->h, on_reclaimed, c);
        nslock_on_lost(c->h, on_lost, c);
        take_locks(c, o);
    }
    r->take_s = now_s() - t0;
    nslock_stats st;
    nslock_error err;
    check(nslock_stats_get(cl[0].h, &st, &err), &err, "STATS");
    uint64_t want = (uint64_t)o->clients * (uint64_t)o->locks;
    if (st.entries != want) {
        fprintf(stderr, "bench_client_recovery: the server holds %" PRIu64 " entries, not %"
                PRIu64 "\n", st.entries, want);
        exit(1);
    }

    /* Kill, and start again at once. */
    double keepers_before = keepers_cpu();
    server_stop(&s, SIGKILL);
    double t_restart = now_s();
    server_start(&s, o);
    nslock *fresh = fresh_connect(&s, t_restart + 10);
    r->ready = now_s() - t_restart;
    nslock_stats before;
    check(nslock_stats_get(fresh, &before, &err), &err, "STATS on the restarted server");
    nslock_outcome got;
    check(nslock_lock(fresh, "^fresh", NSLOCK_EXCLUSIVE, 30, &got, &err), &err, "LOCK +^fresh");
    double t_fresh = now_s();
    if (got.test != 1)
        die("%s", "LOCK +^fresh was not granted within 30 s");

    /* Every client has reclaimed by now (recovery ended); wait for the callbacks. */
    pthread_mutex_lock(&mu);
    for (;;) {
        int done = 0;
        for (int i = 0; i < o->clients; i++)
            done += cl[i].reclaimed_at > 0 || cl[i].lost;
        if (done == o->clients)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 30;
        if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
            die("%s", "the clients did not reclaim within 30 s");
    }
    pthread_mutex_unlock(&mu);
    r->server_cpu = server_cpu(s.pid);
    r->keepers_cpu = keepers_cpu() - keepers_before;

    r->fresh = t_fresh - t_restart;
    r->last_reconnect = 0;
    r->first_reconnect = 1e9;
    r->last_reclaimed = 0;
    r->reclaim_max = 0;
    printf("run %d: %d × %ld locks taken in %.2f s; killed, restarted; server up after %.1f ms "
           "(STATS: recovering %" PRIu64 ", awaiting %" PRIu64 ")\n", run, o->clients, o->locks,
           r->take_s, r->ready * 1e3, before.recovering, before.recovery_awaited);
    bool failed = false;
    for (int i = 0; i < o->clients; i++) {
        client *c = &cl[i];
        if (c->lost || c->reclaimed != (size_t)o->locks) {
            fprintf(stderr, "bench_client_recovery: client %d reclaimed %zu of %ld locks\n", i,
                    c->reclaimed, o->locks);
            failed = true;
            continue;
        }
        double tc = connected_at(nslock_fd(c->h));
        double reconnect = tc > 0 ? tc - t_restart : r->ready;
        double reclaimed = c->reclaimed_at - t_restart;
        printf("  client %d: reconnected at +%.1f ms, reclaimed %zu locks at +%.1f ms "
               "(%.1f ms after its reconnect)\n", i, reconnect * 1e3, c->reclaimed,
               reclaimed * 1e3, (reclaimed - reconnect) * 1e3);
        if (reconnect > r->last_reconnect)
            r->last_reconnect = reconnect;
        if (reconnect < r->first_reconnect)
            r->first_reconnect = reconnect;
        if (reclaimed > r->last_reclaimed)
            r->last_reclaimed = reclaimed;
        if (reclaimed - reconnect > r->reclaim_max)
            r->reclaim_max = reclaimed - reconnect;
    }
    if (failed)
        exit(1);
    check(nslock_stats_get(fresh, &st, &err), &err, "STATS after the recovery");
    if (st.entries != want + 1 || st.recovering) {
        fprintf(stderr, "bench_client_recovery: after the recovery the server holds %" PRIu64
                " entries (recovering %" PRIu64 "), not %" PRIu64 "\n", st.entries,
                st.recovering, want + 1);
        exit(1);
    }
    r->server_ms = server_recovery_ms(&s);
    printf("  LOCK +^fresh answered at +%.1f ms: %.1f ms after the last client's reconnect "
           "[target: <= 2000]; server log: recovery ended after %ld ms\n", r->fresh * 1e3,
           (r->fresh - r->last_reconnect) * 1e3, r->server_ms);
    printf("  CPU from the restart to the end of the recovery: server %.1f ms (%.2f us a "
           "lock), the clients' keeper threads %.1f ms in all (%.2f us a lock)\n",
           r->server_cpu * 1e3, r->server_cpu * 1e6 / (double)want, r->keepers_cpu * 1e3,
           r->keepers_cpu * 1e6 / (double)want);
    printf("RESULT run=%d clients=%d locks=%ld ready_ms=%.1f first_reconnect_ms=%.1f "
           "last_reconnect_ms=%.1f last_reclaimed_ms=%.1f fresh_ms=%.1f "
           "fresh_after_last_reconnect_ms=%.1f server_recovery_ms=%ld server_cpu_ms=%.1f "
           "keepers_cpu_ms=%.1f\n", run, o->clients,
           o->locks, r->ready * 1e3, r->first_reconnect * 1e3, r->last_reconnect * 1e3,
           r->last_reclaimed * 1e3, r->fresh * 1e3, (r->fresh - r->last_reconnect) * 1e3,
           r->server_ms, r->server_cpu * 1e3, r->keepers_cpu * 1e3);
    fflush(stdout);

    nslock_close(fresh);
    for (int i = 0; i < o->clients; i++)
        nslock_close(cl[i].h);
    free(cl);
    server_stop(&s, SIGTERM);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_client_recovery: could not remove %s\n", s.dir);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void summary(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    printf("  %-52s min %8.1f  median %8.1f  max %8.1f\n", what, v[0] * 1e3, med * 1e3,
           v[n - 1] * 1e3);
}

int main(int argc, char **argv)
{
    options o;
    parse_options(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    result *r = calloc((size_t)o.runs, sizeof *r);
    double *v = calloc((size_t)o.runs, sizeof *v);
    if (!r || !v)
        die("%s", "out of memory");
    printf("bench_client_recovery: %s, %d clients × %ld locks (batches of %d), %d run%s\n",
           o.nslock, o.clients, o.locks, o.batch, o.runs, o.runs == 1 ? "" : "s");
    for (int i = 0; i < o.runs; i++)
        run_once(&o, i + 1, &r[i]);
    if (!connect_seen)
        puts("note: connect() was not seen; reconnect times are the server's readiness");
    printf("over %d run%s (ms from the restart unless said otherwise):\n", o.runs,
           o.runs == 1 ? "" : "s");
#define SUMMARY(what, expr)                      \
    do {                                         \
        for (int i = 0; i < o.runs; i++)         \
            v[i] = (expr);                       \
        summary(what, v, o.runs);                \
    } while (0)
    SUMMARY("server up (fresh client's HELLO answered)", r[i].ready);
    SUMMARY("first client reconnected", r[i].first_reconnect);
    SUMMARY("last client reconnected", r[i].last_reconnect);
    SUMMARY("longest reclaim of a client (from its reconnect)", r[i].reclaim_max);
    SUMMARY("last client reclaimed (callback)", r[i].last_reclaimed);
    SUMMARY("LOCK +^fresh answered", r[i].fresh);
    SUMMARY("LOCK +^fresh answered, after the last reconnect", r[i].fresh - r[i].last_reconnect);
    SUMMARY("CPU of the server, restart to end of recovery", r[i].server_cpu);
    SUMMARY("CPU of the clients' keeper threads, in all", r[i].keepers_cpu);
    free(r);
    free(v);
    return 0;
}
