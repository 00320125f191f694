/* bench_server_show — what a SHOW of a big table costs everyone else.
 *
 * Starts `nslock serve` (the binary given with --nslock) in a temporary
 * directory, fills its table with N entries (-n, default 1,000,000) from one
 * session, then runs lock+unlock pairs in a second session (depth 1: one
 * request in flight) while a third session sends SHOW and reads the whole
 * answer. Reported: the latency of every request of the pairs session sent
 * while the SHOW was being answered (worst, p99, p50), the SHOW's own time,
 * and the server's peak resident memory (VmHWM).
 *
 * With --http the third session is an HTTP client instead: the server gets
 * server.http and the table is read as GET /api/locks (the same JSON,
 * produced a chunk per loop turn, the connection suspended in between).
 *
 *   bench_server_show --nslock build/nslock [-n ENTRIES] [--http]
 *
 * Output: readable lines, then one `RESULT key=value ...` line for scripts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_server_show: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ---- a buffered line connection ----------------------------------------------- */

typedef struct conn {
    int fd;
    char buf[1 << 16];
    size_t off, len;
} conn;

static conn *conn_open(const char *path)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        die("calloc");
    c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

static void conn_send(conn *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write");
        p += w;
        n -= (size_t)w;
    }
}

/* The next line (NUL-terminated, newline dropped), valid until the next call. */
static char *conn_line(conn *c)
{
    for (;;) {
        char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
        if (nl) {
            *nl = '\0';
            char *line = c->buf + c->off;
            c->off = (size_t)(nl - c->buf) + 1;
            return line;
        }
        if (c->off) {
            memmove(c->buf, c->buf + c->off, c->len - c->off);
            c->len -= c->off;
            c->off = 0;
        }
        if (c->len == sizeof c->buf) {
            fprintf(stderr, "bench_server_show: a line longer than %zu bytes\n", sizeof c->buf);
            exit(1);
        }
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "bench_server_show: the server closed the connection\n");
            exit(1);
        }
        c->len += (size_t)r;
    }
}

/* ---- the SHOW session (a thread of its own) ----------------------------------------- */

typedef struct show_run {
    const char *socket;
    int http_port;                  /* 0: SHOW over the socket */
    volatile uint64_t start, end;   /* 0: not yet */
    long rows;
} show_run;

/* GET /api/locks (HTTP/1.0: the body ends when the server closes); rows
 * are the lines of the document that hold an object. */
static void http_locks(show_run *r)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->http_port),
                            .sin_addr.s_addr = htonl(0x7f000001)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect to server.http");
    usleep(200000);                 /* the pairs are running */
    r->start = now_ns();
    const char req[] = "GET /api/locks HTTP/1.0\r\n\r\n";
    if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
        die("write");
    static char buf[1 << 16];
    long rows = 0;
    char prev = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read");
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '{' && prev == ' ')      /* a row: "      {" */
                rows++;
            prev = buf[i];
        }
    }
    r->end = now_ns();
    r->rows = rows;
    close(fd);
}

static void *show_thread(void *arg)
{
    show_run *r = arg;
    if (r->http_port) {
        http_locks(r);
        return NULL;
    }
    conn *c = conn_open(r->socket);
    if (!c)
        die("connect");
    usleep(200000);                 /* the pairs are running */
    r->start = now_ns();
    conn_send(c, "SHOW\n", 5);
    char *head = conn_line(c);
    if (strncmp(head, "DATA ", 5) != 0) {
        fprintf(stderr, "bench_server_show: SHOW answered '%s'\n", head);
        exit(1);
    }
    long n = atol(head + 5);
    for (long i = 0; i < n; i++)
        conn_line(c);
    r->end = now_ns();
    r->rows = n;
    close(c->fd);
    free(c);
    return NULL;
}

/* ---- the server ------------------------------------------------------------------- */

static pid_t serve(const char *nslock, const char *dir, const char *socket, long entries,
                   int http_port)
{
    char config[256], state[256], log[256];
    snprintf(config, sizeof config, "%s/nslock.yaml", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(log, sizeof log, "%s/server.log", dir);
    FILE *f = fopen(config, "w");
    if (!f)
        die(config);
    fprintf(f,
            "lock_table:\n  max_entries: %ld\n  max_session_entries: %ld\n"
            "server:\n  socket: %s\n  state_dir: %s\n  recovery_grace_s: 0\n",
            entries + 1000, entries + 1000, socket, state);
    if (http_port)
        fprintf(f, "  http: 127.0.0.1:%d\n", http_port);
    fprintf(f, "databases:\n  USERDB: { directory: /data/user }\n"
            "namespaces:\n  USER: { globals: USERDB }\n");
    fclose(f);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        if (!freopen(log, "w", stderr) || !freopen("/dev/null", "r", stdin))
            _exit(127);
        execl(nslock, nslock, "serve", "--config", config, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 2000; i++) {
        conn *c = conn_open(socket);
        if (c) {
            close(c->fd);
            free(c);
            return pid;
        }
        usleep(5000);
    }
    fprintf(stderr, "bench_server_show: the server did not listen (see %s)\n", log);
    kill(pid, SIGKILL);
    exit(1);
}

static long peak_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static void fill(conn *c, long entries)
{
    enum { BATCH = 1000 };
    static char buf[BATCH * 40];
    for (long i = 0; i < entries; i += BATCH) {
        size_t len = 0;
        long end = i + BATCH < entries ? i + BATCH : entries;
        for (long j = i; j < end; j++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "LOCK +^fill(%ld)\n", j);
        conn_send(c, buf, len);
        for (long j = i; j < end; j++) {
            char *l = conn_line(c);
            if (strncmp(l, "OK 1", 4) != 0) {
                fprintf(stderr, "bench_server_show: fill %ld answered '%s'\n", j, l);
                exit(1);
            }
        }
    }
}

/* A loopback port nobody listens on now (the kernel's choice). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("a free port");
    close(fd);
    return ntohs(a.sin_port);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *nslock = NULL;
    long entries = 1000000;
    bool http = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--http")) {
            http = true;
        } else if (!strcmp(argv[i], "--nslock") && i + 1 < argc) {
            nslock = argv[++i];
        } else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            entries = atol(argv[++i]);
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: bench_server_show --nslock PATH [-n ENTRIES] [--http]\n");
            return 0;
        } else {
            fprintf(stderr, "usage: bench_server_show --nslock PATH [-n ENTRIES] [--http]\n");
            return 2;
        }
    }
    if (!nslock || entries < 1) {
        fprintf(stderr, "usage: bench_server_show --nslock PATH [-n ENTRIES] [--http]\n");
        return 2;
    }
    char dir[] = "/tmp/nslock-bench-show-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp");
    char socket_path[128];
    snprintf(socket_path, sizeof socket_path, "%s/s.sock", dir);
    int http_port = http ? free_port() : 0;
    pid_t server = serve(nslock, dir, socket_path, entries, http_port);

    conn *filler = conn_open(socket_path), *pairs = conn_open(socket_path);
    if (!filler || !pairs)
        die("connect");
    uint64_t t0 = now_ns();
    fill(filler, entries);
    printf("filled %ld entries in %.2f s\n", entries, (double)(now_ns() - t0) / 1e9);

    show_run run = {.socket = socket_path, .http_port = http_port};
    pthread_t th;
    pthread_create(&th, NULL, show_thread, &run);

    size_t cap = 1 << 20, during = 0;
    uint64_t *lat = malloc(cap * sizeof *lat);
    for (uint64_t i = 0; !run.end; i++) {
        char req[64];
        int n = snprintf(req, sizeof req, "LOCK %c^pair(%" PRIu64 ")\n", i % 2 ? '-' : '+', i / 2);
        uint64_t sent = now_ns();
        conn_send(pairs, req, (size_t)n);
        char *l = conn_line(pairs);
        uint64_t got = now_ns();
        if (l[0] != 'O') {
            fprintf(stderr, "bench_server_show: %s answered '%s'\n", req, l);
            return 1;
        }
        /* during the SHOW: sent after it was, answered before it ended */
        if (run.start && sent >= run.start) {
            if (during == cap)
                lat = realloc(lat, (cap *= 2) * sizeof *lat);
            lat[during++] = got - sent;
        }
    }
    pthread_join(th, NULL);
    qsort(lat, during, sizeof *lat, u64_cmp);
    double show_s = (double)(run.end - run.start) / 1e9;
    double worst = during ? (double)lat[during - 1] / 1e6 : 0;
    double p99 = during ? (double)lat[during * 99 / 100] / 1e6 : 0;
    double p50 = during ? (double)lat[during / 2] / 1e6 : 0;
    long rss = peak_rss_kib(server);
    printf("%s of %ld rows: %.2f s\n", http ? "GET /api/locks" : "SHOW", run.rows, show_s);
    printf("pairs session during the SHOW: %zu requests, worst %.2f ms, p99 %.3f ms, p50 %.3f ms\n",
           during, worst, p99, p50);
    printf("server peak RSS: %ld MiB\n", rss / 1024);
    printf("RESULT via=%s entries=%ld show_s=%.3f during=%zu worst_ms=%.3f p99_ms=%.3f p50_ms=%.3f "
           "peak_rss_mib=%ld\n", http ? "http" : "show", entries, show_s, during, worst, p99, p50, rss / 1024);

    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_server_show: could not remove %s\n", dir);
    free(lat);
    return 0;
}
