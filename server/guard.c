/* server/guard.c — who may connect, and how fast a wrong token is answered.
 *
 * Connections are refused, with one ERR LIMIT line, when too many TCP
 * connections wait to authenticate (server.max_unauthenticated), when TCP
 * sessions have taken their share of the file descriptors, or when the
 * descriptors are all in use. The last quarter of the descriptors is kept
 * for Unix-socket clients, so a TCP flood never locks out local ones, and
 * the server refuses before the kernel does: libuv, at EMFILE, drops
 * pending connections without telling anyone.
 *
 * A wrong AUTH token is answered later the more often its peer address has
 * presented one lately, so guessing costs time. Refusals and wrong tokens
 * are logged once per episode, when it starts and, with a count, when it
 * has been quiet for EPISODE_QUIET_MS (or the server stops): a flood makes
 * two log lines, not one per attempt.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server_internal.h"

enum {
    EPISODE_QUIET_MS = 10000,    /* an episode ends after this long without a new event */
    FIRST_DELAY_MS = 100,        /* the second wrong token of an episode */
    MAX_DELAY_MS = 5000,         /* well within the 10 s AUTH deadline */
    SPARE_FDS = 16,              /* state files, the user and group databases, ZooKeeper */
    MAX_PEERS = 1024,            /* addresses remembered; beyond, the quietest is forgotten */
};

typedef enum refusal {
    REFUSE_UNAUTHENTICATED,
    REFUSE_TCP_SHARE,
    REFUSE_NO_FDS,
    REFUSE_ACCEPT_FAILED,
    REFUSALS,
} refusal;

static const char *const refusal_why[REFUSALS] = {
    [REFUSE_UNAUTHENTICATED] = "too many TCP connections waiting to authenticate "
                               "(server.max_unauthenticated)",
    [REFUSE_TCP_SHARE] = "TCP sessions use their share of the file descriptors; "
                         "the rest is kept for Unix-socket clients",
    [REFUSE_NO_FDS] = "every file descriptor the limit allows is in use",
    [REFUSE_ACCEPT_FAILED] = "accepting failed",
};

typedef struct episode {
    uint64_t count, first_ms, last_ms;
    bool open;
} episode;

typedef struct peer_key {
    uint8_t family;              /* 0: the address could not be read */
    uint8_t addr[16];
} peer_key;

typedef struct peer {
    UT_hash_handle hh;
    peer_key key;
    char name[INET6_ADDRSTRLEN];
    uint64_t failures, first_ms, last_ms, longest_delay_ms;
} peer;

typedef struct nsl_guard nsl_guard;

struct nsl_guard {
    nsl_server *srv;
    uv_timer_t timer;
    uint64_t timer_due;          /* UINT64_MAX: not armed */
    size_t session_limit;        /* sessions the descriptors allow; 0: no limit known */
    size_t tcp_limit;            /* open sessions beyond which TCP is refused */
    size_t unauthenticated;      /* TCP sessions that have not authenticated */
    uint64_t refused, auth_failures;
    episode refusals[REFUSALS];
    char accept_error[64];       /* the error of the REFUSE_ACCEPT_FAILED episode */
    peer *peers;
    size_t peer_count;
    nsl_session **delayed;       /* wrong tokens waiting for their answer */
    size_t delayed_count, delayed_cap;
};

/* ---- the timer -------------------------------------------------------------------- */

static void on_guard_timer(uv_timer_t *t);

/* Makes the timer fire by `due` (it may fire earlier; it then re-arms). */
static void arm(nsl_guard *g, uint64_t due)
{
    if (due >= g->timer_due || g->srv->stopping)
        return;
    g->timer_due = due;
    uint64_t now = uv_now(&g->srv->loop);
    uv_timer_start(&g->timer, on_guard_timer, due > now ? due - now : 0, 0);
}

static void end_refusals(nsl_guard *g, refusal why)
{
    episode *ep = &g->refusals[why];
    nsl_log(NSL_LOG_WARN, "refused %" PRIu64 " connection%s in %.1f s: %s%s%s", ep->count,
            ep->count == 1 ? "" : "s", (double)(ep->last_ms - ep->first_ms) / 1000.0,
            refusal_why[why], why == REFUSE_ACCEPT_FAILED ? ": " : "",
            why == REFUSE_ACCEPT_FAILED ? g->accept_error : "");
    ep->open = false;
}

static void forget_peer(nsl_guard *g, peer *p)
{
    if (p->failures > 1)
        nsl_log(NSL_LOG_WARN, "%" PRIu64 " wrong AUTH tokens over TCP from %s in %.1f s; "
                "the slowest answer waited %" PRIu64 " ms", p->failures, p->name,
                (double)(p->last_ms - p->first_ms) / 1000.0, p->longest_delay_ms);
    HASH_DEL(g->peers, p);
    g->peer_count--;
    free(p);
}

static void drop_delayed(nsl_guard *g, size_t i)
{
    g->delayed[i]->auth_answer_due = 0;
    g->delayed[i] = g->delayed[--g->delayed_count];
}

static void on_guard_timer(uv_timer_t *t)
{
    nsl_guard *g = t->data;
    nsl_server *srv = g->srv;
    uint64_t now = uv_now(&srv->loop), next = UINT64_MAX;
    g->timer_due = UINT64_MAX;
    for (size_t i = 0; i < g->delayed_count;) {
        nsl_session *s = g->delayed[i];
        if (s->auth_answer_due > now) {
            if (s->auth_answer_due < next)
                next = s->auth_answer_due;
            i++;
            continue;
        }
        drop_delayed(g, i);
        if (!s->ended) {
            nsl_out_err(s, NSL_PROTECT, "bad token");
            nsl_session_end(s, true);
        }
    }
    for (int why = 0; why < REFUSALS; why++) {
        episode *ep = &g->refusals[why];
        if (!ep->open)
            continue;
        if (now - ep->last_ms >= EPISODE_QUIET_MS)
            end_refusals(g, (refusal)why);
        else if (ep->last_ms + EPISODE_QUIET_MS < next)
            next = ep->last_ms + EPISODE_QUIET_MS;
    }
    peer *p, *tmp;
    HASH_ITER(hh, g->peers, p, tmp) {
        if (now - p->last_ms >= EPISODE_QUIET_MS)
            forget_peer(g, p);
        else if (p->last_ms + EPISODE_QUIET_MS < next)
            next = p->last_ms + EPISODE_QUIET_MS;
    }
    if (next != UINT64_MAX)
        arm(g, next);
    nsl_server_settle(srv);
}

/* ---- starting and stopping ---------------------------------------------------------- */

/* Descriptors open now (the listeners, the loop's own, stdio). */
static size_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 64;                       /* a guess on the safe side */
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n ? n - 1 : 0;                /* not the directory's own */
}

bool nsl_guard_start(nsl_server *srv)
{
    nsl_guard *g = calloc(1, sizeof *g);
    if (!g) {
        nsl_log(NSL_LOG_ERROR, "out of memory");
        return false;
    }
    g->srv = srv;
    g->timer_due = UINT64_MAX;
    uv_timer_init(&srv->loop, &g->timer);
    g->timer.data = g;
    uv_unref((uv_handle_t *)&g->timer);  /* never what keeps the loop running */
    srv->guard = g;

    /* The loop uses epoll, not select: the soft limit can go up to the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return true;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return true;
    size_t used = open_fds() + SPARE_FDS;
    size_t room = rl.rlim_cur > used + 4 ? (size_t)rl.rlim_cur - used : 4;
    g->session_limit = room;
    g->tcp_limit = room - room / 4;
    nsl_log(room < 64 ? NSL_LOG_WARN : NSL_LOG_DEBUG,
            "the file descriptor limit %llu leaves room for %zu sessions, %zu of them over TCP",
            (unsigned long long)rl.rlim_cur, g->session_limit, g->tcp_limit);
    return true;
}

void nsl_guard_stop(nsl_server *srv)
{
    nsl_guard *g = srv->guard;
    if (!g)
        return;
    for (int why = 0; why < REFUSALS; why++)
        if (g->refusals[why].open)
            end_refusals(g, (refusal)why);
    peer *p, *tmp;
    HASH_ITER(hh, g->peers, p, tmp)
        forget_peer(g, p);
    while (g->delayed_count)
        drop_delayed(g, g->delayed_count - 1);
    if (!uv_is_closing((uv_handle_t *)&g->timer))
        uv_close((uv_handle_t *)&g->timer, NULL);
}

void nsl_guard_free(nsl_server *srv)
{
    nsl_guard *g = srv->guard;
    if (!g)
        return;
    peer *p, *tmp;
    HASH_ITER(hh, g->peers, p, tmp) {
        HASH_DEL(g->peers, p);
        free(p);
    }
    free(g->delayed);
    free(g);
    srv->guard = NULL;
}

/* ---- connections -------------------------------------------------------------------------- */

static void record_refusal(nsl_guard *g, refusal why, const char *detail)
{
    nsl_server *srv = g->srv;
    uint64_t now = uv_now(&srv->loop);
    episode *ep = &g->refusals[why];
    g->refused++;
    if (!ep->open) {
        *ep = (episode){.open = true, .first_ms = now};
        if (detail)
            snprintf(g->accept_error, sizeof g->accept_error, "%s", detail);
        nsl_log(NSL_LOG_WARN, "refusing %sconnections: %s%s%s (%zu sessions open, %zu of "
                "them TCP awaiting AUTH); counting them until none for %d s",
                why == REFUSE_UNAUTHENTICATED || why == REFUSE_TCP_SHARE ? "TCP " : "",
                refusal_why[why], detail ? ": " : "", detail ? detail : "",
                srv->session_count, g->unauthenticated, EPISODE_QUIET_MS / 1000);
    }
    ep->count++;
    ep->last_ms = now;
    arm(g, now + EPISODE_QUIET_MS);
}

bool nsl_guard_admit(nsl_session *s)
{
    nsl_server *srv = s->srv;
    nsl_guard *g = srv->guard;
    if (!g)
        return true;
    refusal why = REFUSALS;
    const char *answer = NULL;
    if (g->session_limit && srv->session_count >= g->session_limit) {
        why = REFUSE_NO_FDS;
        answer = "ERR LIMIT the server has no file descriptor left; try again later\n";
    } else if (s->tcp && g->tcp_limit && srv->session_count >= g->tcp_limit) {
        why = REFUSE_TCP_SHARE;
        answer = "ERR LIMIT the server takes no more TCP sessions; try again later\n";
    } else if (s->tcp && g->unauthenticated >= srv->cfg->max_unauthenticated) {
        why = REFUSE_UNAUTHENTICATED;
        answer = "ERR LIMIT too many connections waiting to authenticate; try again later\n";
    }
    if (why == REFUSALS) {
        if (s->tcp) {
            s->unauth_counted = true;
            g->unauthenticated++;
        }
        return true;
    }
    /* One try: a peer that does not read is not waited for. */
    uv_buf_t buf = uv_buf_init((char *)answer, (unsigned)strlen(answer));
    (void)uv_try_write(&s->h.stream, &buf, 1);
    record_refusal(g, why, NULL);
    return false;
}

void nsl_guard_accept_failed(nsl_server *srv, int status)
{
    if (srv->guard)
        record_refusal(srv->guard, REFUSE_ACCEPT_FAILED, uv_strerror(status));
    else
        nsl_log(NSL_LOG_WARN, "accepting a connection failed: %s", uv_strerror(status));
}

void nsl_guard_authenticated(nsl_session *s)
{
    nsl_guard *g = s->srv->guard;
    if (g && s->unauth_counted) {
        s->unauth_counted = false;
        g->unauthenticated--;
    }
}

void nsl_guard_closed(nsl_session *s)
{
    nsl_guard *g = s->srv->guard;
    if (!g)
        return;
    nsl_guard_authenticated(s);
    if (s->auth_answer_due)
        for (size_t i = 0; i < g->delayed_count; i++)
            if (g->delayed[i] == s) {
                drop_delayed(g, i);
                break;
            }
}

/* ---- wrong tokens --------------------------------------------------------------------------- */

static peer *peer_of(nsl_guard *g, nsl_session *s)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    peer_key key;
    memset(&key, 0, sizeof key);
    char name[INET6_ADDRSTRLEN] = "an unknown address";
    if (uv_tcp_getpeername(&s->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
            key.family = AF_INET;
            memcpy(key.addr, &in->sin_addr, 4);
            uv_ip4_name(in, name, sizeof name);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
            key.family = AF_INET6;
            memcpy(key.addr, &in6->sin6_addr, 16);
            uv_ip6_name(in6, name, sizeof name);
        }
    }
    peer *p;
    HASH_FIND(hh, g->peers, &key, sizeof key, p);
    if (p)
        return p;
    if (g->peer_count >= MAX_PEERS) {
        peer *quietest = g->peers;
        for (peer *q = g->peers; q; q = q->hh.next)
            if (q->last_ms < quietest->last_ms)
                quietest = q;
        forget_peer(g, quietest);
    }
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->key = key;
    snprintf(p->name, sizeof p->name, "%s", name);
    HASH_ADD(hh, g->peers, key, sizeof p->key, p);
    g->peer_count++;
    return p;
}

uint64_t nsl_guard_auth_failed(nsl_session *s)
{
    nsl_server *srv = s->srv;
    nsl_guard *g = srv->guard;
    if (!g)
        return 0;
    g->auth_failures++;
    uint64_t now = uv_now(&srv->loop);
    peer *p = peer_of(g, s);
    uint64_t failures = 1;
    if (p) {
        if (!p->failures) {
            p->first_ms = now;
            nsl_log(NSL_LOG_WARN, "wrong AUTH token over TCP from %s (session %u); more from "
                    "there are answered ever more slowly and counted, not logged one by one",
                    p->name, s->owner);
        }
        failures = ++p->failures;
        p->last_ms = now;
        arm(g, now + EPISODE_QUIET_MS);
    }
    if (failures < 2)
        return 0;
    uint64_t delay = failures - 2 >= 16 ? MAX_DELAY_MS : (uint64_t)FIRST_DELAY_MS << (failures - 2);
    if (delay > MAX_DELAY_MS)
        delay = MAX_DELAY_MS;
    if (g->delayed_count == g->delayed_cap) {
        size_t cap = g->delayed_cap ? 2 * g->delayed_cap : 16;
        nsl_session **grown = realloc(g->delayed, cap * sizeof *grown);
        if (!grown)
            return 0;
        g->delayed = grown;
        g->delayed_cap = cap;
    }
    if (p && delay > p->longest_delay_ms)
        p->longest_delay_ms = delay;
    s->auth_answer_due = now + delay;
    g->delayed[g->delayed_count++] = s;
    arm(g, s->auth_answer_due);
    return delay;
}

uint64_t nsl_guard_refused(const nsl_server *srv)
{
    return srv->guard ? srv->guard->refused : 0;
}

uint64_t nsl_guard_auth_failures(const nsl_server *srv)
{
    return srv->guard ? srv->guard->auth_failures : 0;
}
