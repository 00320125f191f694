/* bench_server_load — load generator for `nslock serve` and its peers (docs/PERFORMANCE.md).
 *
 * Modes (-m):
 *   pairs  each connection runs lock+unlock pairs of names of its own:
 *          LOCK +^k(c,i) then LOCK -^k(c,i) (with -p redis: SET k:c:i 1 NX
 *          PX 30000 then DEL k:c:i). A pair is two requests, two round trips
 *          at depth 1.
 *   ping   PING round trips (nslock answers OK PONG, Redis +PONG).
 *   floor  the same ping-pong over a socketpair with a forked echo process:
 *          what the kernel alone allows, no server code at all.
 *   grant  grant latency of a waiter: A holds ^w, B waits on LOCK +^w, A
 *          sends LOCK -^w; the time from that send to B's receipt of OK 1.
 *   first  every connection (-c, e.g. 1000) takes its first lock at once:
 *          LOCK +^f(c) is written on all of them before any answer is read,
 *          and STATS `registry_syncs` is read before and after on a
 *          connection of its own: the fsyncs the server's group commit of
 *          new holders cost (docs/DESIGN.md "Restart recovery").
 *
 * All connections are driven by this one thread (poll), as redis-benchmark
 * and `pgbench -j 1` drive theirs, so that one CPU is the client's. Depth
 * (-d) is the number of requests in flight on each connection (pipelining);
 * latencies are those of a whole pair (or round trip), from the send of its
 * first request to the receipt of its last response.
 *
 * -p line speaks to the floors of bench/compare-cpu (bench/echo_epoll,
 * bench/echo_uring), which answer every line with OK: the requests are
 * nslock's, byte for byte, the answers the shortest there is.
 *
 * --server-pid PID reads the server's CPU time (utime + stime of
 * /proc/PID/stat, all its threads) at the start and the end of the measured
 * window and reports it per request served (a pair is two requests).
 * --idle N opens N more connections before the load, each made a session
 * by one round trip (HELLO, PING) and then left idle, and reports the
 * server's RSS (/proc/PID/status) before and after: the memory of an idle
 * session.
 *
 * Redis keys carry a tag drawn at each start (k:TAG:c:i): a run never meets
 * the keys a run before it left behind (a pair cut off by the end of a timed
 * run leaves its key until PX expires, and SET NX would answer $-1).
 *
 * Output: readable lines, then one `RESULT key=value ...` line for scripts.
 * bench/compare-server runs it against nslock and Redis, bench/recovery
 * runs -m first; `--help` for usage. Without -s (as bench/run-all runs it)
 * it measures the floor only.
 */
#define _GNU_SOURCE   /* sched_setaffinity */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- a log-bucket latency histogram (HDR style) ------------------------ */

/* Values (ns) below 2^SUB_BITS have a bucket each; above, every power of two
 * is split into 2^SUB_BITS buckets, so a percentile is within 1/32 (3 %). */
#define SUB_BITS 5
#define SUB (1u << SUB_BITS)
#define HIST_BUCKETS ((64 - SUB_BITS + 1) * SUB)

typedef struct histogram {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total;
    uint64_t max;
} histogram;

static unsigned hist_index(uint64_t v)
{
    if (v < SUB)
        return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - SUB_BITS;
    return (shift + 1) * SUB + (unsigned)((v >> shift) - SUB);
}

/* The middle of a bucket, which is what a percentile reports (capped at
 * the largest value seen, which may lie below the middle of its bucket). */
static double hist_value(unsigned idx)
{
    if (idx < SUB)
        return idx;
    unsigned shift = idx / SUB - 1;
    uint64_t low = (uint64_t)(idx % SUB + SUB) << shift;
    return (double)low + (double)((uint64_t)1 << shift) / 2.0;
}

static void hist_add(histogram *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    h->total++;
    if (v > h->max)
        h->max = v;
}

static double hist_percentile(const histogram *h, double p)
{
    if (h->total == 0)
        return 0;
    uint64_t rank = (uint64_t)((double)h->total * p / 100.0);
    if (rank >= h->total)
        rank = h->total - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen > rank) {
            double v = hist_value(i);
            return v > (double)h->max ? (double)h->max : v;
        }
    }
    return (double)h->max;
}

/* ---- options --------------------------------------------------------- */

typedef enum mode { MODE_PAIRS, MODE_PING, MODE_FLOOR, MODE_GRANT, MODE_FIRST } mode;
typedef enum proto { PROTO_NSLOCK, PROTO_REDIS, PROTO_ECHO, PROTO_LINE } proto;

typedef struct options {
    const char *socket;
    mode mode;
    proto proto;
    int conns;
    int depth;
    double seconds;
    double warmup;
    uint64_t count;     /* units per connection (0: run for `seconds`) */
    int echo_cpu;       /* floor: pin the echo process there (-1: no) */
    int server_pid;     /* whose CPU time and RSS to read (0: none) */
    int idle;           /* idle sessions opened before the load */
    char tag[16];       /* Redis: this run's key tag */
} options;

static void usage(FILE *out)
{
    fputs("Usage: bench_server_load [-s SOCKET] [-m pairs|ping|floor|grant|first] [-p nslock|redis]\n"
          "                         [-c CONNS] [-d DEPTH] [-t SECONDS] [-w WARMUP] [-n COUNT]\n"
          "                         [--echo-cpu CPU] [--server-pid PID] [--idle N] [--quick]\n"
          "  -s SOCKET   the server's Unix socket (not for -m floor); without -s and\n"
          "              -m, only the floor is measured\n"
          "  -m MODE     pairs (default): lock+unlock pairs; ping: PING round trips;\n"
          "              floor: socketpair ping-pong with a forked echo process;\n"
          "              grant: latency from a release to the waiter's grant;\n"
          "              first: all -c connections take their first lock at once,\n"
          "              with the server's registry fsyncs (STATS registry_syncs)\n"
          "  -p PROTO    nslock (default), redis (SET NX PX + DEL, PING) or line\n"
          "              (nslock's requests, any answer line OK: bench/echo_*)\n"
          "  -c CONNS    connections, all driven by this thread (default 1)\n"
          "  -d DEPTH    requests in flight per connection (default 1)\n"
          "  -t SECONDS  measured duration (default 5)\n"
          "  -w SECONDS  warm-up before measuring (default 0.5)\n"
          "  -n COUNT    instead of -t: pairs/round trips per connection; for grant,\n"
          "              the number of hand-overs (default 10000)\n"
          "  --echo-cpu  floor: the CPU the echo process is pinned to\n"
          "  --server-pid PID  report the server's CPU time per request (/proc/PID/stat)\n"
          "  --idle N    first open N idle sessions (one round trip each) and report\n"
          "              the server's RSS before and after (needs --server-pid)\n"
          "  --quick     -t 1 -w 0.2\n",
          out);
}

static double parse_number(const char *opt, const char *text, double min)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || v < min) {
        fprintf(stderr, "bench_server_load: %s: bad value '%s'\n", opt, text);
        exit(2);
    }
    return v;
}

static void parse_options(int argc, char **argv, options *o)
{
    *o = (options){.mode = MODE_PAIRS, .proto = PROTO_NSLOCK, .conns = 1, .depth = 1,
                   .seconds = 5, .warmup = 0.5, .echo_cpu = -1};
    bool mode_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--quick")) {   /* as bench/run-all passes it */
            o->seconds = 1;
            o->warmup = 0.2;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_server_load: %s: missing value or unknown option\n", a);
            usage(stderr);
            exit(2);
        }
        const char *v = argv[++i];
        if (!strcmp(a, "-s"))
            o->socket = v;
        else if (!strcmp(a, "-m")) {
            mode_given = true;
            if (!strcmp(v, "pairs"))
                o->mode = MODE_PAIRS;
            else if (!strcmp(v, "ping"))
                o->mode = MODE_PING;
            else if (!strcmp(v, "floor"))
                o->mode = MODE_FLOOR;
            else if (!strcmp(v, "grant"))
                o->mode = MODE_GRANT;
            else if (!strcmp(v, "first"))
                o->mode = MODE_FIRST;
            else {
                fprintf(stderr, "bench_server_load: -m: unknown mode '%s'\n", v);
                exit(2);
            }
        } else if (!strcmp(a, "-p")) {
            if (!strcmp(v, "nslock"))
                o->proto = PROTO_NSLOCK;
            else if (!strcmp(v, "redis"))
                o->proto = PROTO_REDIS;
            else if (!strcmp(v, "line"))
                o->proto = PROTO_LINE;
            else {
                fprintf(stderr, "bench_server_load: -p: unknown protocol '%s'\n", v);
                exit(2);
            }
        } else if (!strcmp(a, "-c"))
            o->conns = (int)parse_number(a, v, 1);
        else if (!strcmp(a, "-d"))
            o->depth = (int)parse_number(a, v, 1);
        else if (!strcmp(a, "-t"))
            o->seconds = parse_number(a, v, 0.01);
        else if (!strcmp(a, "-w"))
            o->warmup = parse_number(a, v, 0);
        else if (!strcmp(a, "-n"))
            o->count = (uint64_t)parse_number(a, v, 1);
        else if (!strcmp(a, "--echo-cpu"))
            o->echo_cpu = (int)parse_number(a, v, 0);
        else if (!strcmp(a, "--server-pid"))
            o->server_pid = (int)parse_number(a, v, 1);
        else if (!strcmp(a, "--idle"))
            o->idle = (int)parse_number(a, v, 0);
        else {
            fprintf(stderr, "bench_server_load: unknown option '%s'\n", a);
            usage(stderr);
            exit(2);
        }
    }
    if (!mode_given && !o->socket) {
        /* bench/run-all runs every bench without arguments: measure what
         * needs no server */
        fputs("bench_server_load: no -s SOCKET: measuring the socketpair floor only\n", stderr);
        o->mode = MODE_FLOOR;
    }
    if (o->mode == MODE_FLOOR)
        o->proto = PROTO_ECHO;
    if (o->mode != MODE_FLOOR && !o->socket) {
        fputs("bench_server_load: -s SOCKET is required\n", stderr);
        exit(2);
    }
    if ((o->mode == MODE_GRANT || o->mode == MODE_FIRST) && o->proto != PROTO_NSLOCK) {
        fputs("bench_server_load: -m grant and -m first are for nslock only\n", stderr);
        exit(2);
    }
    if (o->mode == MODE_FIRST)
        o->count = 1;       /* a session's first lock happens once */
    if (o->idle && !o->server_pid) {
        fputs("bench_server_load: --idle needs --server-pid (it reports the server's RSS)\n",
              stderr);
        exit(2);
    }
    if (o->server_pid && (o->mode == MODE_FLOOR || o->mode == MODE_GRANT)) {
        fputs("bench_server_load: --server-pid is for -m pairs, ping and first\n", stderr);
        exit(2);
    }
    /* the Redis key tag: time and pid, so that two runs never share keys */
    uint64_t seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid() * 2654435761u;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed ^= (uint64_t)ts.tv_nsec * 11400714819323198485u;
    snprintf(o->tag, sizeof o->tag, "%08" PRIx32, (uint32_t)(seed ^ seed >> 32));
    if (o->conns > 4096 || o->depth > 4096) {
        fputs("bench_server_load: -c and -d are at most 4096\n", stderr);
        exit(2);
    }
}

/* ---- connections ----------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define IN_CAP 65536

typedef struct conn {
    int fd;
    int index;
    char in[IN_CAP];
    size_t in_len;
    char *out;           /* requests not yet written */
    size_t out_len, out_off, out_cap;
    uint64_t sent;       /* requests queued for sending */
    uint64_t answered;   /* responses received */
    uint64_t *start;     /* send time of each unit in flight, a ring of `depth` */
} conn;

static void die_errno(const char *what)
{
    fprintf(stderr, "bench_server_load: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "bench_server_load: socket path too long: %s\n", path);
        exit(2);
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        die_errno("socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr, "bench_server_load: connect %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return fd;
}

static void out_append(conn *c, const char *data, size_t len)
{
    if (c->out_len + len > c->out_cap) {
        c->out_cap = (c->out_len + len) * 2;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out)
            die_errno("realloc");
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

/* Writes what the socket takes; returns false when something is left. */
static bool out_flush(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return false;
            die_errno("write");
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    return true;
}

/* Blocking read of one line (without its "\r\n"); for setup and grant mode. */
static void read_line(conn *c, char *line, size_t cap)
{
    for (;;) {
        char *nl = memchr(c->in, '\n', c->in_len);
        if (nl) {
            size_t len = (size_t)(nl - c->in);
            size_t take = len > 0 && c->in[len - 1] == '\r' ? len - 1 : len;
            if (take >= cap)
                take = cap - 1;
            memcpy(line, c->in, take);
            line[take] = '\0';
            c->in_len -= len + 1;
            memmove(c->in, nl + 1, c->in_len);
            return;
        }
        if (c->in_len == IN_CAP) {
            fputs("bench_server_load: response line too long\n", stderr);
            exit(1);
        }
        ssize_t n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
        if (n == 0) {
            fprintf(stderr, "bench_server_load: connection %d closed by the server\n", c->index);
            exit(1);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die_errno("read");
        }
        c->in_len += (size_t)n;
    }
}

static void send_line(conn *c, const char *text)
{
    out_append(c, text, strlen(text));
    out_append(c, "\n", 1);
    out_flush(c);
}

static void expect_prefix(const conn *c, const char *line, const char *prefix, const char *what)
{
    if (strncmp(line, prefix, strlen(prefix)) != 0) {
        fprintf(stderr, "bench_server_load: connection %d, %s: expected '%s...', got '%s'\n",
                c->index, what, prefix, line);
        exit(1);
    }
}

static void conn_open(conn *c, int index, int fd, const options *o)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->index = index;
    c->start = calloc((size_t)o->depth, sizeof *c->start);
    if (!c->start)
        die_errno("calloc");
    if (o->proto == PROTO_NSLOCK) {
        char line[256];
        send_line(c, "HELLO name=bench_server_load");
        read_line(c, line, sizeof line);
        expect_prefix(c, line, "OK nslock", "HELLO");
    }
}

/* ---- the server's CPU time and memory (/proc) ------------------------ */

/* /proc/PID/FILE of the server, or exit. */
static FILE *open_proc(int pid, const char *file, char *path, size_t cap)
{
    snprintf(path, cap, "/proc/%d/%s", pid, file);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_server_load: --server-pid: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return f;
}

/* utime + stime of process pid, all its threads, in seconds. */
static double server_cpu_seconds(int pid)
{
    char path[64], buf[1024];
    FILE *f = open_proc(pid, "stat", path, sizeof path);
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    /* the fields after the command name, which is in parentheses and may
     * hold spaces: state is field 3, utime 14, stime 15 */
    char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &utime, &stime) != 2) {
        fprintf(stderr, "bench_server_load: --server-pid: cannot parse %s\n", path);
        exit(1);
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of process pid, in KiB. */
static long server_rss_kb(int pid)
{
    char path[64], line[256];
    FILE *f = open_proc(pid, "status", path, sizeof path);
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* --idle: opens o->idle connections, each made a session by one round trip
 * and left open (their descriptors are left to the exit); the RSS growth it
 * caused goes to `extra` for the RESULT line. */
static void open_idle_sessions(const options *o, char *extra, size_t cap)
{
    static const char *hello[] = {"HELLO name=idle\n", "*1\r\n$4\r\nPING\r\n", "", "PING\n"};
    static const char *answer[] = {"OK nslock", "+PONG", "", "OK"};
    long before = server_rss_kb(o->server_pid);
    uint64_t t0 = now_ns();
    for (int i = 0; i < o->idle; i++) {
        int fd = connect_unix(o->socket);
        const char *req = hello[o->proto];
        if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
            die_errno("write (idle session)");
        char buf[512];
        size_t len = 0;
        while (!memchr(buf, '\n', len)) {
            ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
            if (n <= 0) {
                fprintf(stderr, "bench_server_load: idle session %d: %s\n", i,
                        n == 0 ? "closed by the server" : strerror(errno));
                exit(1);
            }
            len += (size_t)n;
            if (len == sizeof buf - 1)
                break;
        }
        if (strncmp(buf, answer[o->proto], strlen(answer[o->proto]))) {
            fprintf(stderr, "bench_server_load: idle session %d: expected '%s...', got '%.*s'\n",
                    i, answer[o->proto], (int)len, buf);
            exit(1);
        }
    }
    long after = server_rss_kb(o->server_pid);
    double per = o->idle ? (double)(after - before) * 1024.0 / o->idle : 0;
    printf("%d idle sessions opened in %.2f s: server RSS %ld -> %ld KiB, %.0f bytes each\n",
           o->idle, (double)(now_ns() - t0) / 1e9, before, after, per);
    snprintf(extra, cap, " idle=%d rss_before_kb=%ld rss_after_kb=%ld idle_bytes=%.0f", o->idle,
             before, after, per);
}

/* ---- the load loop (pairs, ping, floor) ------------------------------ */

static int requests_per_unit(const options *o)
{
    return o->mode == MODE_PAIRS ? 2 : 1;
}

/* Appends request number k of connection c. */
static void queue_request(conn *c, const options *o, uint64_t k)
{
    char buf[160];
    int n;
    if (o->mode == MODE_FIRST) {
        n = snprintf(buf, sizeof buf, "LOCK +^f(%d)\n", c->index);
    } else if (o->mode != MODE_PAIRS) {
        if (o->proto == PROTO_REDIS)
            n = snprintf(buf, sizeof buf, "*1\r\n$4\r\nPING\r\n");
        else
            n = snprintf(buf, sizeof buf, "PING\n");
    } else {
        uint64_t unit = k / 2;
        bool lock = k % 2 == 0;
        if (o->proto != PROTO_REDIS) {
            n = snprintf(buf, sizeof buf, "LOCK %c^k(%d,%" PRIu64 ")\n", lock ? '+' : '-',
                         c->index, unit);
        } else {
            char key[64];
            int klen = snprintf(key, sizeof key, "k:%s:%d:%" PRIu64, o->tag, c->index, unit);
            if (lock)
                n = snprintf(buf, sizeof buf,
                             "*6\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\n1\r\n$2\r\nNX\r\n"
                             "$2\r\nPX\r\n$5\r\n30000\r\n", klen, key);
            else
                n = snprintf(buf, sizeof buf, "*2\r\n$3\r\nDEL\r\n$%d\r\n%s\r\n", klen, key);
        }
    }
    out_append(c, buf, (size_t)n);
}

/* What the response to request k must start with (and, for a release,
 * be equal to: a lock that was not held would answer otherwise). */
static void check_response(const conn *c, const options *o, uint64_t k, const char *line,
                           size_t len)
{
    const char *want;
    bool exact = true;
    if (o->proto == PROTO_LINE)
        want = "OK";
    else if (o->mode == MODE_FIRST) {
        want = "OK 1 ";
        exact = false;
    } else if (o->mode != MODE_PAIRS)
        want = o->proto == PROTO_REDIS ? "+PONG" : o->proto == PROTO_ECHO ? "PING" : "OK PONG";
    else if (k % 2 == 0) {
        want = o->proto == PROTO_REDIS ? "+OK" : "OK 1 ";
        exact = o->proto == PROTO_REDIS;
    } else
        want = o->proto == PROTO_REDIS ? ":1" : "OK";
    size_t wl = strlen(want);
    if (exact ? (len != wl || memcmp(line, want, wl)) : (len < wl || memcmp(line, want, wl))) {
        fprintf(stderr, "bench_server_load: connection %d, request %" PRIu64
                ": expected '%s', got '%.*s'\n", c->index, k, want, (int)len, line);
        exit(1);
    }
}

typedef struct run_state {
    histogram hist;
    uint64_t units;     /* completed while measuring */
    bool measuring;
} run_state;

/* Reads what is there (blocking when `block`) and accounts every complete
 * response line. */
static void conn_read(conn *c, const options *o, run_state *st, bool block)
{
    ssize_t n;
    for (;;) {
        n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
        if (n > 0)
            break;
        if (n == 0) {
            fprintf(stderr, "bench_server_load: connection %d closed by the server\n", c->index);
            exit(1);
        }
        if (errno == EINTR)
            continue;
        if (!block && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        die_errno("read");
    }
    c->in_len += (size_t)n;
    uint64_t t = now_ns();
    int per = requests_per_unit(o);
    char *p = c->in, *end = c->in + c->in_len, *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        size_t len = (size_t)(nl - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        uint64_t k = c->answered++;
        check_response(c, o, k, p, len);
        if ((int)(k % (uint64_t)per) == per - 1 && st->measuring) {
            uint64_t unit = k / (uint64_t)per;
            hist_add(&st->hist, t - c->start[unit % (uint64_t)o->depth]);
            st->units++;
        }
        p = nl + 1;
    }
    c->in_len = (size_t)(end - p);
    memmove(c->in, p, c->in_len);
}

/* Tops connection c up to `depth` requests in flight. */
static void conn_fill(conn *c, const options *o, uint64_t t, uint64_t max_requests)
{
    int per = requests_per_unit(o);
    while (c->sent - c->answered < (uint64_t)o->depth && c->sent < max_requests) {
        if (c->sent % (uint64_t)per == 0)
            c->start[(c->sent / (uint64_t)per) % (uint64_t)o->depth] = t;
        queue_request(c, o, c->sent);
        c->sent++;
    }
}

static void report(const options *o, const char *what, double seconds, const run_state *st,
                   const char *extra)
{
    static const char *protos[] = {"nslock", "redis", "echo", "line"};
    static const char *modes[] = {"pairs", "ping", "floor", "grant", "first"};
    double rate = (double)st->units / seconds;
    double p50 = hist_percentile(&st->hist, 50) / 1e3, p99 = hist_percentile(&st->hist, 99) / 1e3,
           p999 = hist_percentile(&st->hist, 99.9) / 1e3, max = (double)st->hist.max / 1e3;
    printf("%s %s, %d connection%s, depth %d, %.2f s: %.0f %s/s\n", protos[o->proto], what,
           o->conns, o->conns == 1 ? "" : "s", o->depth, seconds, rate,
           o->mode == MODE_PAIRS ? "pairs" : o->mode == MODE_FIRST ? "first locks" : "round trips");
    printf("  latency of each (us): p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%" PRIu64 " samples)\n",
           p50, p99, p999, max, st->hist.total);
    printf("RESULT proto=%s mode=%s conns=%d depth=%d rate=%.0f p50_us=%.1f p99_us=%.1f "
           "p999_us=%.1f max_us=%.1f%s\n", protos[o->proto], modes[o->mode], o->conns, o->depth,
           rate, p50, p99, p999, max, extra);
}

/* STATS, the value of row `key`; -1 when the server has no such row. */
static long long stats_value(conn *c, const char *key)
{
    char line[256];
    send_line(c, "STATS");
    read_line(c, line, sizeof line);
    expect_prefix(c, line, "DATA ", "STATS");
    long rows = strtol(line + 5, NULL, 10);
    long long value = -1;
    size_t kl = strlen(key);
    for (long i = 0; i < rows; i++) {
        read_line(c, line, sizeof line);
        if (!strncmp(line, key, kl) && line[kl] == '\t')
            value = strtoll(line + kl + 1, NULL, 10);
    }
    return value;
}

/* stats: for -m first, a connection of its own to read registry_syncs on
 * before and after (NULL otherwise). */
static void run_load(const options *o, conn *conns, conn *stats, const char *extra_in)
{
    int n = o->conns;
    if (n < 1 || n > 4096)   /* parse_options keeps it there; this tells the compiler */
        abort();
    bool block = n == 1;   /* one connection: plain blocking reads, no poll */
    for (int i = 0; i < n; i++)
        if (!block)
            fcntl(conns[i].fd, F_SETFL, fcntl(conns[i].fd, F_GETFL) | O_NONBLOCK);
    struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
    run_state *st = calloc(1, sizeof *st);
    if (!pfd || !st)
        die_errno("calloc");
    uint64_t per = (uint64_t)requests_per_unit(o);
    uint64_t max_requests = o->count ? o->count * per : UINT64_MAX;
    uint64_t t = now_ns(), t_start = t, t_end = 0;
    uint64_t warm_end = o->count ? t : t + (uint64_t)(o->warmup * 1e9);
    uint64_t stop = warm_end + (uint64_t)(o->seconds * 1e9);
    bool draining = false;
    long long syncs_before = stats ? stats_value(stats, "registry_syncs") : -1;
    if (stats && syncs_before < 0) {
        fputs("bench_server_load: STATS has no 'registry_syncs' row (a server without "
              "restart recovery)\n", stderr);
        exit(1);
    }
    uint64_t t_written = 0;   /* -m first: when every request was written */
    double cpu_start = 0, cpu_end = 0;   /* --server-pid: its CPU time over the window */
    if (o->count) {
        st->measuring = true;
        t = t_start = now_ns();
        cpu_start = o->server_pid ? server_cpu_seconds(o->server_pid) : 0;
    }
    for (;;) {
        t = now_ns();
        if (!st->measuring && !draining && t >= warm_end) {
            st->measuring = true;
            t_start = t;
            cpu_start = o->server_pid ? server_cpu_seconds(o->server_pid) : 0;
        }
        if (!o->count && !draining && t >= stop) {
            draining = true;
            st->measuring = false;
            t_end = t;
            cpu_end = o->server_pid ? server_cpu_seconds(o->server_pid) : 0;
        }
        bool idle = true;
        for (int i = 0; i < n; i++) {
            conn *c = &conns[i];
            if (!draining)
                conn_fill(c, o, t, max_requests);
            out_flush(c);
            if (c->sent != c->answered)
                idle = false;
        }
        if (stats && !t_written) {
            bool all = true;
            for (int i = 0; i < n && all; i++)
                all = conns[i].out_len == 0;
            if (all)
                t_written = now_ns();
        }
        if (idle) {
            if (o->count) {
                t_end = now_ns();
                st->measuring = false;
                cpu_end = o->server_pid ? server_cpu_seconds(o->server_pid) : 0;
            }
            break;
        }
        if (block) {
            conn_read(&conns[0], o, st, true);
            continue;
        }
        for (int i = 0; i < n; i++) {
            pfd[i].fd = conns[i].fd;
            pfd[i].events = POLLIN | (conns[i].out_len ? POLLOUT : 0);
        }
        if (poll(pfd, (nfds_t)n, 100) < 0 && errno != EINTR)
            die_errno("poll");
        for (int i = 0; i < n; i++)
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                conn_read(&conns[i], o, st, false);
    }
    char extra[512];
    snprintf(extra, sizeof extra, "%s", extra_in);
    if (o->server_pid) {
        double cpu = cpu_end - cpu_start, secs = (double)(t_end - t_start) / 1e9;
        uint64_t requests = st->units * per;
        double us = requests ? cpu * 1e6 / (double)requests : 0;
        printf("server %d: %.2f s of CPU in %.2f s (%.0f %%), %.2f us per request\n",
               o->server_pid, cpu, secs, secs > 0 ? 100 * cpu / secs : 0, us);
        size_t used = strlen(extra);
        snprintf(extra + used, sizeof extra - used, " server_cpu_s=%.2f cpu_us_per_req=%.3f",
                 cpu, us);
    }
    if (stats) {
        long long syncs = stats_value(stats, "registry_syncs") - syncs_before;
        printf("nslock %d sessions taking their first lock at once: %lld registry fsync%s "
               "(STATS registry_syncs %lld -> %lld); every request written after %.2f ms, "
               "every answer after %.2f ms\n", n, syncs, syncs == 1 ? "" : "s", syncs_before,
               syncs_before + syncs, (double)(t_written - t_start) / 1e6,
               (double)(t_end - t_start) / 1e6);
        size_t used = strlen(extra);
        snprintf(extra + used, sizeof extra - used, " syncs=%lld written_ms=%.3f", syncs,
                 (double)(t_written - t_start) / 1e6);
    }
    report(o, o->mode == MODE_PAIRS ? "lock+unlock pairs" : o->mode == MODE_FIRST
           ? "first lock of each session" : "ping-pong", (double)(t_end - t_start) / 1e9, st,
           extra);
    free(st);
    free(pfd);
}

/* ---- floor: socketpair ping-pong with an echo process ----------------- */

static int start_echo(int echo_cpu)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        die_errno("socketpair");
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        close(sv[0]);
        if (echo_cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(echo_cpu, &set);
            if (sched_setaffinity(0, sizeof set, &set) < 0)
                die_errno("sched_setaffinity");
        }
        char buf[65536];
        for (;;) {
            ssize_t n = read(sv[1], buf, sizeof buf);
            if (n <= 0)
                _exit(0);
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(sv[1], buf + off, (size_t)(n - off));
                if (w <= 0)
                    _exit(1);
                off += w;
            }
        }
    }
    close(sv[1]);
    return sv[0];
}

/* ---- grant latency ---------------------------------------------------- */

static long stats_waiters(conn *c)
{
    long long waiters = stats_value(c, "waiters");
    if (waiters < 0) {
        fputs("bench_server_load: STATS has no 'waiters' row\n", stderr);
        exit(1);
    }
    return waiters;
}

static void run_grant(const options *o, conn *a, conn *b)
{
    uint64_t rounds = o->count ? o->count : 10000;
    char line[256];
    histogram *h = calloc(1, sizeof *h);
    if (!h)
        die_errno("calloc");
    conn *holder = a, *waiter = b;
    send_line(holder, "LOCK +^w");
    read_line(holder, line, sizeof line);
    expect_prefix(holder, line, "OK 1 ", "first LOCK +^w");
    uint64_t t_begin = now_ns();
    for (uint64_t i = 0; i < rounds; i++) {
        send_line(waiter, "LOCK +^w");
        /* The release must find the request queued, else nothing is measured. */
        while (stats_waiters(holder) < 1)
            ;
        uint64_t t0 = now_ns();
        send_line(holder, "LOCK -^w");
        read_line(waiter, line, sizeof line);
        uint64_t t1 = now_ns();
        expect_prefix(waiter, line, "OK 1 ", "waiting LOCK +^w");
        read_line(holder, line, sizeof line);
        expect_prefix(holder, line, "OK", "LOCK -^w");
        hist_add(h, t1 - t0);
        conn *x = holder;
        holder = waiter;
        waiter = x;
    }
    double secs = (double)(now_ns() - t_begin) / 1e9;
    send_line(holder, "LOCK -^w");
    read_line(holder, line, sizeof line);
    double p50 = hist_percentile(h, 50) / 1e3, p99 = hist_percentile(h, 99) / 1e3,
           p999 = hist_percentile(h, 99.9) / 1e3, max = (double)h->max / 1e3;
    printf("nslock grant latency after release, %" PRIu64 " hand-overs in %.2f s\n", rounds, secs);
    printf("  from the holder's send of LOCK -^w to the waiter's OK 1 (us): "
           "p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", p50, p99, p999, max);
    printf("RESULT proto=nslock mode=grant conns=2 depth=1 rate=%.0f p50_us=%.1f p99_us=%.1f "
           "p999_us=%.1f max_us=%.1f\n", (double)rounds / secs, p50, p99, p999, max);
    free(h);
}

int main(int argc, char **argv)
{
    options o;
    parse_options(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    int n = o.mode == MODE_GRANT ? 2 : o.conns;
    int fds_needed = n + o.idle + 1;
    /* 1,000 connections need more descriptors than a default soft limit of
     * 1024 leaves: raise it as far as the hard limit allows */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)fds_needed + 64) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)fds_needed + 64
                          ? (rlim_t)fds_needed + 64 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* -m first: one more connection, the last, reads STATS */
    int total = o.mode == MODE_FIRST ? n + 1 : n;
    conn *conns = calloc((size_t)total, sizeof *conns);
    if (!conns)
        die_errno("calloc");
    for (int i = 0; i < total; i++) {
        int fd = o.mode == MODE_FLOOR ? start_echo(o.echo_cpu) : connect_unix(o.socket);
        conn_open(&conns[i], i, fd, &o);
    }
    char idle_extra[160] = "";
    if (o.idle)
        open_idle_sessions(&o, idle_extra, sizeof idle_extra);
    if (o.mode == MODE_GRANT)
        run_grant(&o, &conns[0], &conns[1]);
    else
        run_load(&o, conns, o.mode == MODE_FIRST ? &conns[n] : NULL, idle_extra);
    for (int i = 0; i < total; i++) {
        close(conns[i].fd);   /* an echo process sees EOF and exits */
        free(conns[i].out);
        free(conns[i].start);
    }
    while (wait(NULL) > 0)
        ;
    free(conns);
    return 0;
}
