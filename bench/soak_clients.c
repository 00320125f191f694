/* soak_clients — the concurrency soak's load: N libnslock clients taking and
 * releasing conflicting locks for D seconds, each logging what it was told
 * with CLOCK_MONOTONIC times, for bench/check_overlap.py to check.
 *
 * bench/soak-restart runs it against a server it SIGKILLs and restarts
 * every few seconds (docs/DESIGN.md: nothing a client was told it holds may be
 * granted to anyone else unless that client is told it lost it; tokens only
 * rise). `soak_clients --help` for the options; `soak_clients --now` prints
 * CLOCK_MONOTONIC in nanoseconds (the script stamps its restarts with it).
 *
 * bench/soak-failover runs it against an HA cluster (--servers, --token-file:
 * TCP, nslock_open_ex() with the server list), killing or freezing the
 * leader every few seconds.
 *
 * Each client is a forked process with one connection of its own, opened
 * with nslock_open_ex() and the default keeper thread, so a restart is
 * recovered by the library while the client holds, sleeps or waits. It
 * loops over operations on names of a small key space,
 *
 *     ^soak                     the whole global (rare: -r)
 *     ^soak(i)                  i < K (-k)
 *     ^soak(i,j)                j < J (-j; conflicts with ^soak(i) and ^soak)
 *
 * exclusive or shared, one name (nslock_lock) or several at once
 * (nslock_lock_names), waiting forever or with a short timeout, and
 * sometimes one name then a second one incrementally while holding the
 * first (which can time out or be chosen to break a deadlock). It holds
 * what it got for a random 0..H microseconds (-m) and releases it.
 *
 * Log, one file per client (DIR/client-NN.log), one line per event:
 *
 *   OPEN     client session epoch t_ns
 *   GRANT    client session X|S name token t_ns t_req_ns epoch
 *   RELEASE  client name t_ns
 *   LOST     client session code t_ns message...
 *   RECLAIMED client session locks epoch t_ns
 *   CHECK    client session name token server_token server_mode ok|MISMATCH
 *   ERROR    client session code op t_ns message...
 *   END      client key=value...
 *
 * GRANT: t_ns is taken after the answer arrived, t_req_ns before the request
 * was sent; a grant of several names is one line per name with the same
 * token and times; epoch is the granting server's (nslock_epoch() before and
 * after the call; 0 when they differ: the library reclaimed meanwhile, so the
 * grant's leader is not known). RELEASE: t_ns is taken before the unlock is sent (the
 * line is written after). So a logged hold [GRANT t_ns, RELEASE t_ns] lies
 * inside the server's own hold of it: logged holds that overlap are holds
 * that overlapped. LOST: written by the nslock_on_lost callback, at the
 * moment the library tells the program; every hold of that client open then
 * ends then (the client then calls nslock_lost_clear() and goes on as a new
 * session). RECLAIMED: written by the nslock_on_reclaimed callback. CHECK:
 * after a hold that spanned a reclaim, the client compares the tokens of
 * what it holds with the server's own table (SHOW for its owner id): a
 * reclaimed lock must keep its original token. ERROR: a call failed in a
 * way the soak does not expect (IO, TIMEOUT, PROTOCOL, ...); the client's
 * holds end there (it believes it holds nothing after that), it reopens.
 *
 * Exit status: 0 when every client ended cleanly with no LOST, no ERROR and
 * no CHECK mismatch (or, with -L, LOSTs allowed), 1 otherwise, 2 usage or
 * setup errors.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L   /* clock_gettime, getopt, sigaction (CMake defines it) */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/nslock.h"

#define MAX_CLIENTS 1024
#define MAX_MULTI 3
#define MAX_HELD 4

typedef struct options {
    const char *socket;
    const char *servers;          /* TCP, an HA cluster: "host:port,host:port" */
    const char *token_file;
    const char *logdir;
    int clients;
    double seconds;
    int keys;
    int children;
    int root_permille;
    long max_hold_us;
    unsigned seed;
    bool allow_lost;
} options;

static options opt = {
    .socket = NULL,
    .servers = NULL,
    .token_file = NULL,
    .logdir = NULL,
    .clients = 16,
    .seconds = 60,
    .keys = 16,
    .children = 2,
    .root_permille = 5,
    .max_hold_us = 5000,
    .seed = 0,
    .allow_lost = false,
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- one client -------------------------------------------------------------- */

typedef struct held_lock {
    char name[32];
    bool shared;
    uint64_t token;
} held_lock;

typedef struct client {
    int id;
    int log_fd;
    nslock *c;
    uint64_t rng;
    held_lock held[MAX_HELD];
    int nheld;
    /* the session id as last seen by the client's own thread: the callbacks
     * may not call into the handle (not even nslock_session_id) */
    _Atomic uint64_t session;
    /* written by the callbacks (on the keeper thread or inside a call) */
    atomic_int lost_seen;
    atomic_int reclaims_seen;
    _Atomic uint64_t reclaimed_locks;
    /* counters for END */
    uint64_t ops, grants, grant_events, timeouts, deadlocks, losts, errors, checks, mismatches,
             reopens;
} client;

/* One line, one write(2): the file is O_APPEND, and the callbacks write
 * from the keeper thread, so lines never interleave. */
static void logf_line(client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_line(client *cl, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(cl->log_fd, p, (size_t)n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (int)w;
    }
}

/* xorshift64*: each client its own stream. */
static uint64_t rnd(client *cl)
{
    cl->rng ^= cl->rng >> 12;
    cl->rng ^= cl->rng << 25;
    cl->rng ^= cl->rng >> 27;
    return cl->rng * 2685821657736338717ull;
}

static unsigned rnd_below(client *cl, unsigned n)
{
    return (unsigned)(rnd(cl) >> 33) % n;
}

static void pick_name(client *cl, char *out, size_t cap)
{
    if (opt.root_permille > 0 && rnd_below(cl, 1000) < (unsigned)opt.root_permille) {
        snprintf(out, cap, "^soak");
        return;
    }
    unsigned i = rnd_below(cl, (unsigned)opt.keys);
    if (opt.children > 0 && rnd_below(cl, 4) == 0)
        snprintf(out, cap, "^soak(%u,%u)", i, rnd_below(cl, (unsigned)opt.children));
    else
        snprintf(out, cap, "^soak(%u)", i);
}

static bool is_held_name(const client *cl, const char *name)
{
    for (int i = 0; i < cl->nheld; i++)
        if (strcmp(cl->held[i].name, name) == 0)
            return true;
    return false;
}

static void on_lost(nslock *c, const nslock_error *why, void *arg)
{
    client *cl = arg;
    uint64_t t = now_ns();
    (void)c;
    logf_line(cl, "LOST %d %" PRIu64 " %s %" PRIu64 " %s", cl->id, atomic_load(&cl->session),
              why->name, t, why->message);
    atomic_store(&cl->lost_seen, 1);
}

static void on_reclaimed(nslock *c, size_t locks, uint64_t epoch, void *arg)
{
    client *cl = arg;
    uint64_t t = now_ns();
    (void)c;
    logf_line(cl, "RECLAIMED %d %" PRIu64 " %zu %" PRIu64 " %" PRIu64, cl->id,
              atomic_load(&cl->session), locks, epoch, t);
    atomic_fetch_add(&cl->reclaims_seen, 1);
    atomic_fetch_add(&cl->reclaimed_locks, (uint64_t)locks);
}

/* Opens the connection, retrying for a while: the server may be between a
 * SIGKILL and its restart. */
static int client_open(client *cl)
{
    char name[32];
    snprintf(name, sizeof name, "soak-%02d", cl->id);
    nslock_options o = {.socket_path = opt.socket, .client_name = name,
                        .keeper = NSLOCK_KEEPER_THREAD};
    nslock_options_more more = {.servers = opt.servers, .token_file = opt.token_file};
    nslock_error err;
    uint64_t give_up = now_ns() + 30ull * 1000000000u;
    for (;;) {
        if (nslock_open_ex(&cl->c, &o, &more, &err) == 0)
            break;
        if (now_ns() > give_up || stop_requested) {
            fprintf(stderr, "soak_clients: client %d: cannot connect to %s: %s: %s\n", cl->id,
                    opt.servers ? opt.servers : opt.socket, err.name, err.message);
            return -1;
        }
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&cl->session, nslock_session_id(cl->c));
    nslock_on_lost(cl->c, on_lost, cl);
    nslock_on_reclaimed(cl->c, on_reclaimed, cl);
    logf_line(cl, "OPEN %d %" PRIu64 " %" PRIu64 " %" PRIu64, cl->id, atomic_load(&cl->session),
              nslock_epoch(cl->c), now_ns());
    return 0;
}

/* A call failed. LOST (or a loss reported as CONFLICT/PROTECT): the
 * callback logged it; acknowledge and go on holding nothing. DEADLOCK:
 * expected now and then, the session keeps what it holds. Anything else
 * is unexpected: log it, and start again on a new connection. Returns true
 * when the client still holds what it held. */
static bool call_failed(client *cl, const char *op, const nslock_error *err)
{
    if (nslock_is_lost(cl->c)) {
        if (!atomic_exchange(&cl->lost_seen, 0))   /* the callback fires first; say so if not */
            logf_line(cl, "LOST %d %" PRIu64 " %s-nocallback %" PRIu64, cl->id,
                      nslock_session_id(cl->c), err->name, now_ns());
        cl->losts++;
        nslock_lost_clear(cl->c);
        atomic_store(&cl->session, nslock_session_id(cl->c));
        cl->nheld = 0;
        return false;
    }
    if (err->code == NSLOCK_E_DEADLOCK) {
        cl->deadlocks++;
        return true;
    }
    logf_line(cl, "ERROR %d %" PRIu64 " %s %s %" PRIu64 " %s", cl->id,
              nslock_session_id(cl->c), err->name, op, now_ns(), err->message);
    fprintf(stderr, "soak_clients: client %d: %s failed: %s: %s\n", cl->id, op, err->name,
            err->message);
    cl->errors++;
    cl->nheld = 0;
    nslock_close(cl->c);
    cl->c = NULL;
    cl->reopens++;
    if (client_open(cl) < 0)
        exit(2);
    return false;
}

/* Takes names (one: nslock_lock; several: nslock_lock_names). Returns 1
 * granted (added to held), 0 not granted, -1 the call failed (see
 * call_failed; *still_holding says whether the earlier holds survive). */
static int take(client *cl, const char *const *names, size_t n, bool shared, double timeout,
                bool *still_holding)
{
    nslock_outcome got;
    nslock_error err;
    unsigned types = shared ? NSLOCK_SHARED : NSLOCK_EXCLUSIVE;
    uint64_t epoch_before = nslock_epoch(cl->c);
    uint64_t t_req = now_ns();
    int rc = n == 1 ? nslock_lock(cl->c, names[0], types, timeout, &got, &err)
                    : nslock_lock_names(cl->c, names, n, types, timeout, &got, &err);
    uint64_t t = now_ns();
    /* the epoch of the server that granted: the same before and after the
     * call, or unknown (0) when the library reclaimed at a new leader
     * meanwhile */
    uint64_t epoch = nslock_epoch(cl->c);
    if (epoch != epoch_before)
        epoch = 0;
    *still_holding = true;
    if (rc < 0) {
        *still_holding = call_failed(cl, n == 1 ? "lock" : "lock_names", &err);
        return -1;
    }
    if (got.test != 1) {
        cl->timeouts++;
        return 0;
    }
    uint64_t session = nslock_session_id(cl->c);
    atomic_store(&cl->session, session);
    for (size_t i = 0; i < n; i++) {
        logf_line(cl, "GRANT %d %" PRIu64 " %s %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
                  cl->id, session, shared ? "S" : "X", names[i], got.token, t, t_req, epoch);
        held_lock *h = &cl->held[cl->nheld++];
        snprintf(h->name, sizeof h->name, "%s", names[i]);
        h->shared = shared;
        h->token = got.token;
    }
    cl->grants += n;
    cl->grant_events++;
    return 1;
}

static void release_all(client *cl)
{
    /* newest first, as a program unwinds */
    while (cl->nheld > 0) {
        held_lock *h = &cl->held[cl->nheld - 1];
        nslock_error err;
        uint64_t t = now_ns();
        int rc = nslock_unlock(cl->c, h->name, h->shared ? NSLOCK_SHARED : NSLOCK_EXCLUSIVE, &err);
        logf_line(cl, "RELEASE %d %s %" PRIu64, cl->id, h->name, t);
        if (rc < 0) {
            call_failed(cl, "unlock", &err);
            /* whatever happened, the client believes it holds nothing now */
            cl->nheld = 0;
            return;
        }
        cl->nheld--;
    }
}

/* After a hold that spanned a reclaim: the server's table must show every
 * lock the client holds with the token it was granted. */
static void check_tokens(client *cl)
{
    nslock_show_filter f = {.owner = nslock_session_id(cl->c)};
    nslock_entry *rows;
    size_t n;
    nslock_error err;
    if (nslock_show(cl->c, &f, &rows, &n, &err) < 0) {
        call_failed(cl, "show", &err);
        return;
    }
    for (int i = 0; i < cl->nheld; i++) {
        const held_lock *h = &cl->held[i];
        const nslock_entry *e = NULL;
        for (size_t r = 0; r < n; r++)
            if (!rows[r].waiting && strcmp(rows[r].name, h->name) == 0)
                e = &rows[r];
        const char *want = h->shared ? "Shared" : "Exclusive";
        bool ok = e && e->token == h->token && strncmp(e->mode, want, strlen(want)) == 0;
        logf_line(cl, "CHECK %d %" PRIu64 " %s %" PRIu64 " %" PRIu64 " %s %s", cl->id, f.owner,
                  h->name, h->token, e ? e->token : 0, e ? e->mode : "-", ok ? "ok" : "MISMATCH");
        cl->checks++;
        if (!ok) {
            cl->mismatches++;
            fprintf(stderr, "soak_clients: client %d: after a reclaim the server shows %s as %s "
                    "token %" PRIu64 ", granted %s token %" PRIu64 "\n", cl->id, h->name,
                    e ? e->mode : "(absent)", e ? e->token : 0, want, h->token);
        }
    }
    nslock_free(rows);
}

static void hold_for_a_while(client *cl)
{
    long us = opt.max_hold_us > 0 ? (long)rnd_below(cl, (unsigned)opt.max_hold_us + 1) : 0;
    if (us == 0)
        return;
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_requested)
        ;
}

static double pick_timeout(client *cl)
{
    /* 0 (one attempt) a quarter of the time, else 1..30 ms */
    unsigned r = rnd_below(cl, 4);
    return r == 0 ? 0.0 : (double)(1 + rnd_below(cl, 30)) / 1000.0;
}

static void one_op(client *cl)
{
    char names[MAX_MULTI][32];
    const char *ptrs[MAX_MULTI];
    bool shared = rnd_below(cl, 5) < 2;   /* 40 % shared */
    unsigned kind = rnd_below(cl, 100);
    bool holding;
    int reclaims_before = atomic_load(&cl->reclaims_seen);
    cl->ops++;
    if (kind < 55) {
        /* one name, waiting forever (a third of them) or with a timeout */
        pick_name(cl, names[0], sizeof names[0]);
        ptrs[0] = names[0];
        double timeout = kind < 40 ? NSLOCK_WAIT_FOREVER : pick_timeout(cl);
        if (take(cl, ptrs, 1, shared, timeout, &holding) != 1)
            return;
    } else if (kind < 85) {
        /* two or three names, all or nothing */
        size_t n = 2 + rnd_below(cl, MAX_MULTI - 1);
        size_t have = 0;
        for (int tries = 0; have < n && tries < 20; tries++) {
            pick_name(cl, names[have], sizeof names[have]);
            bool dup = false;
            for (size_t i = 0; i < have; i++)
                dup = dup || strcmp(names[i], names[have]) == 0;
            if (!dup)
                ptrs[have] = names[have], have++;
        }
        double timeout = kind < 75 ? NSLOCK_WAIT_FOREVER : pick_timeout(cl);
        if (take(cl, ptrs, have, shared, timeout, &holding) != 1)
            return;
    } else {
        /* one name, then a second while holding the first: that second
         * request may time out, or be chosen to break a deadlock */
        pick_name(cl, names[0], sizeof names[0]);
        ptrs[0] = names[0];
        if (take(cl, ptrs, 1, shared, NSLOCK_WAIT_FOREVER, &holding) != 1)
            return;
        hold_for_a_while(cl);
        do
            pick_name(cl, names[1], sizeof names[1]);
        while (is_held_name(cl, names[1]));
        ptrs[1] = names[1];
        bool shared2 = rnd_below(cl, 5) < 2;
        double timeout = (double)(5 + rnd_below(cl, 50)) / 1000.0;
        if (take(cl, ptrs + 1, 1, shared2, timeout, &holding) < 0 && !holding)
            return;
    }
    hold_for_a_while(cl);
    if (atomic_load(&cl->reclaims_seen) != reclaims_before && cl->nheld > 0)
        check_tokens(cl);
    release_all(cl);
}

static int client_main(int id)
{
    client *cl = calloc(1, sizeof *cl);
    if (!cl)
        return 2;
    cl->id = id;
    cl->rng = ((uint64_t)opt.seed << 20) ^ (0x9E3779B97F4A7C15ull * (uint64_t)(id + 1));
    if (cl->rng == 0)
        cl->rng = 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/client-%02d.log", opt.logdir, id);
    cl->log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (cl->log_fd < 0) {
        fprintf(stderr, "soak_clients: %s: %s\n", path, strerror(errno));
        return 2;
    }
    if (client_open(cl) < 0)
        return 2;
    uint64_t end = now_ns() + (uint64_t)(opt.seconds * 1e9);
    while (!stop_requested && now_ns() < end)
        one_op(cl);
    release_all(cl);
    logf_line(cl, "END %d ops=%" PRIu64 " grants=%" PRIu64 " grant_events=%" PRIu64
              " timeouts=%" PRIu64 " deadlocks=%" PRIu64 " lost=%" PRIu64 " errors=%" PRIu64
              " reclaims=%d reclaimed_locks=%" PRIu64 " checks=%" PRIu64 " mismatches=%" PRIu64
              " reopens=%" PRIu64 " t=%" PRIu64,
              id, cl->ops, cl->grants, cl->grant_events, cl->timeouts, cl->deadlocks, cl->losts,
              cl->errors, atomic_load(&cl->reclaims_seen), atomic_load(&cl->reclaimed_locks),
              cl->checks, cl->mismatches,
              cl->reopens, now_ns());
    nslock_close(cl->c);
    close(cl->log_fd);
    bool bad = cl->errors > 0 || cl->mismatches > 0 || (cl->losts > 0 && !opt.allow_lost);
    free(cl);
    return bad ? 1 : 0;
}

/* ---- the parent ------------------------------------------------------------ */

static void usage(FILE *to)
{
    fprintf(to,
            "Usage: soak_clients -s SOCKET -o LOGDIR [OPTIONS]\n"
            "       soak_clients --servers HOST:PORT,... --token-file FILE -o LOGDIR [OPTIONS]\n"
            "       soak_clients --now     print CLOCK_MONOTONIC in nanoseconds\n"
            "\n"
            "Runs N libnslock clients (forked, one connection each, keeper thread on)\n"
            "locking and releasing names ^soak, ^soak(i), ^soak(i,j) for D seconds,\n"
            "each logging its grants and releases to LOGDIR/client-NN.log for\n"
            "bench/check_overlap.py.\n"
            "\n"
            "Options:\n"
            "  -s SOCKET   the server's Unix socket\n"
            "  --servers HOST:PORT,...  the servers of an HA cluster over TCP instead\n"
            "              (bench/soak-failover); the library finds the leader and\n"
            "              reclaims at the next one after a failover\n"
            "  --token-file FILE  the TCP token's file (with --servers)\n"
            "  -o LOGDIR   where the logs go (must exist)\n"
            "  -n N        clients (default 16)\n"
            "  -d SECONDS  how long each client runs (default 60)\n"
            "  -k K        keys ^soak(0..K-1) (default 16)\n"
            "  -j J        children ^soak(i,0..J-1) per key, 0 for none (default 2)\n"
            "  -r PERMILLE how often a name is the whole ^soak (default 5 per 1000)\n"
            "  -m US       longest hold in microseconds (default 5000)\n"
            "  -e SEED     random seed (default 0)\n"
            "  -L          LOST is allowed (counted, not a failure)\n"
            "\n"
            "Exit status: 0 all clients clean; 1 a client saw LOST (unless -L), an\n"
            "unexpected error, or a token mismatch after a reclaim; 2 usage or setup.\n");
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--now") == 0) {
        printf("%" PRIu64 "\n", now_ns());
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    int ch, v;
    static const struct option longopts[] = {
        {"servers", required_argument, NULL, 'S'},
        {"token-file", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    while ((ch = getopt_long(argc, argv, "s:o:n:d:k:j:r:m:e:Lh", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': opt.socket = optarg; break;
        case 'S': opt.servers = optarg; break;
        case 'T': opt.token_file = optarg; break;
        case 'o': opt.logdir = optarg; break;
        case 'n':
            if (parse_int(optarg, 1, MAX_CLIENTS, &opt.clients) < 0)
                goto bad;
            break;
        case 'd': {
            char *end;
            opt.seconds = strtod(optarg, &end);
            if (*end || !(opt.seconds > 0 && opt.seconds < 1e6))
                goto bad;
            break;
        }
        case 'k':
            if (parse_int(optarg, 1, 100000, &opt.keys) < 0)
                goto bad;
            break;
        case 'j':
            if (parse_int(optarg, 0, 100000, &opt.children) < 0)
                goto bad;
            break;
        case 'r':
            if (parse_int(optarg, 0, 1000, &opt.root_permille) < 0)
                goto bad;
            break;
        case 'm':
            if (parse_int(optarg, 0, 10000000, &v) < 0)
                goto bad;
            opt.max_hold_us = v;
            break;
        case 'e':
            if (parse_int(optarg, 0, 1 << 30, &v) < 0)
                goto bad;
            opt.seed = (unsigned)v;
            break;
        case 'L': opt.allow_lost = true; break;
        case 'h': usage(stdout); return 0;
        default: goto bad;
        }
    }
    if (optind != argc || !opt.logdir || (!opt.socket == !opt.servers)
        || (opt.token_file && !opt.servers))
        goto bad;

    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    pid_t pids[MAX_CLIENTS];
    for (int i = 0; i < opt.clients; i++) {
        pid_t p = fork();
        if (p < 0) {
            perror("soak_clients: fork");
            for (int k = 0; k < i; k++)
                kill(pids[k], SIGTERM);
            return 2;
        }
        if (p == 0)
            exit(client_main(i));   /* exit, not _exit: LeakSanitizer runs at exit */
        pids[i] = p;
    }

    /* Wait for the children. On SIGTERM/SIGINT pass it on, and kill what is
     * still there a few seconds later. */
    int worst = 0, left = opt.clients;
    bool passed_on = false;
    uint64_t kill_at = 0;
    while (left > 0) {
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p > 0) {
            int i;
            for (i = 0; i < opt.clients && pids[i] != p; i++)
                ;
            int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 2;
            if (!WIFEXITED(status))
                fprintf(stderr, "soak_clients: client %d killed by signal %d\n", i,
                        WTERMSIG(status));
            else if (rc != 0)
                fprintf(stderr, "soak_clients: client %d exited %d\n", i, rc);
            if (rc > worst)
                worst = rc;
            if (i < opt.clients)
                pids[i] = 0;
            left--;
            continue;
        }
        if (p < 0 && errno != EINTR)
            break;
        if (stop_requested && !passed_on) {
            passed_on = true;
            kill_at = now_ns() + 3ull * 1000000000u;
            for (int i = 0; i < opt.clients; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGTERM);
        }
        if (passed_on && now_ns() > kill_at) {
            for (int i = 0; i < opt.clients; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGKILL);
            kill_at = UINT64_MAX;
        }
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    return worst;

bad:
    usage(stderr);
    return 2;
}
