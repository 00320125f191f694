/* client/recover.c — keeping a session's locks across a server restart
 * (docs/CLIENT.md "Restart recovery").
 *
 * When the connection goes, the library reconnects with back-off for up to
 * the server's grace period. A server with a new epoch restarted: the
 * library proves the session with its secret (RECLAIM SESSION), re-asserts
 * every lock of its mirror with the original tokens, oldest first, in
 * pipelined batches, says RECLAIM DONE, and restores the namespace; only
 * then does the call that noticed go on (and send its request again). A
 * server with the same epoch did not restart: it ended the session with
 * the connection, so whatever was held is lost. Lost locks are never taken
 * again behind the program's back: every call fails with LOST until the
 * program acknowledges it.
 *
 * The keeper thread notices a lost connection while the program makes no
 * call. It waits in poll() for the socket to hang up, without the handle;
 * it takes the handle only to recover, so it never reads an answer that
 * belongs to a call.
 */
#define _GNU_SOURCE     /* POLLRDHUP, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"

#define RECLAIM_BATCH 1024          /* lines in flight: the server answers each at once */
#define BACKOFF_FIRST 0.02
#define BACKOFF_MAX 0.5

bool nsl_client_should_recover(const nslock *c, const nslock_error *err)
{
    if (!c->recovery || c->lost || c->closing)
        return false;
    return err->code == NSLOCK_E_IO || err->code == NSLOCK_E_SHUTDOWN;
}

int nsl_client_declare_lost(nslock *c, nslock_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->lost_why.code = code;
    snprintf(c->lost_why.name, sizeof c->lost_why.name, "%s", nslock_errname(code));
    vsnprintf(c->lost_why.message, sizeof c->lost_why.message, fmt, ap);
    va_end(ap);
    c->lost = true;
    c->resync_pending = false;
    nsl_mirror_clear(&c->mirror);
    nsl_owed_clear(c);           /* nothing owed is answered by a session that is gone */
    if (err)
        *err = c->lost_why;
    if (c->on_lost)
        c->on_lost(c, &c->lost_why, c->on_lost_arg);
    return -1;
}

static void sleep_for(double seconds)
{
    struct timespec ts = {.tv_sec = (time_t)seconds,
                          .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* One request and its first answer line; an ERR fills err. */
static int exchange(nslock *c, double deadline, const char **rest, nslock_error *err)
{
    char *line;
    size_t len;
    if (nsl_client_req_end(c, err) < 0 || nsl_client_send(c, deadline, err) < 0 ||
        nsl_client_read_line(c, deadline, &line, &len, err) < 0)
        return -1;
    c->answers++;
    if (len >= 2 && line[0] == 'O' && line[1] == 'K') {
        *rest = line[2] ? line + 3 : line + 2;
        return 0;
    }
    if (len >= 4 && memcmp(line, "ERR ", 4) == 0)
        return nsl_client_server_error(err, line + 4);
    return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL, "unexpected answer '%.60s' from %s",
                                 line, c->where);
}

/* Sends the mirror's RECLAIM lines in batches; 0, or -1 with err set by
 * the first refusal (all answers are read either way). *connection_ok is
 * false when the connection itself failed. */
static int send_reclaims(nslock *c, nsl_mirror_entry **v, size_t n, double deadline,
                         bool *connection_ok, nslock_error *err)
{
    int status = 0;
    *connection_ok = true;
    for (size_t done = 0; done < n;) {
        size_t batch = n - done < RECLAIM_BATCH ? n - done : RECLAIM_BATCH;
        nsl_client_req_reset(c);
        for (size_t i = 0; i < batch; i++)
            nsl_mirror_reclaim_line(v[done + i], c);
        if (c->woverflow)
            return nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory building the reclaim");
        nslock_error io;
        if (nsl_client_send(c, deadline, &io) < 0) {
            *connection_ok = false;
            *err = io;
            return -1;
        }
        for (size_t i = 0; i < batch; i++) {
            char *line;
            size_t len;
            if (nsl_client_read_line(c, deadline, &line, &len, &io) < 0) {
                *connection_ok = false;
                *err = io;
                return -1;
            }
            c->answers++;
            if (strcmp(line, "OK") == 0)
                continue;
            if (status == 0) {
                status = -1;
                if (len >= 4 && memcmp(line, "ERR ", 4) == 0)
                    nsl_client_server_error(err, line + 4);
                else
                    nsl_client_fail(err, NSLOCK_E_PROTOCOL, "unexpected answer '%.60s'", line);
            }
        }
        done += batch;
    }
    return status;
}

/* The reclaim failed half-way: give back what was re-created, so the
 * session holds nothing the program was told it lost. */
static void release_partial(nslock *c, double deadline)
{
    const char *rest;
    nslock_error ignore;
    nsl_client_req_reset(c);
    nsl_client_req_str(c, "RECLAIM DONE");
    exchange(c, deadline, &rest, &ignore);
    if (c->fd >= 0 && c->mirror.tlevel) {
        nsl_client_req_reset(c);
        nsl_client_req_str(c, "TROLLBACK");
        exchange(c, deadline, &rest, &ignore);
    }
    if (c->fd >= 0) {
        nsl_client_req_reset(c);
        nsl_client_req_str(c, "LOCK");
        exchange(c, deadline, &rest, &ignore);
    }
}

static int reclaim(nslock *c, uint64_t session, const char *secret, double deadline,
                   nslock_error *err)
{
    const char *rest;
    unsigned tlevel = c->mirror.tlevel;
    nsl_client_req_reset(c);
    nsl_client_req_fmt(c, "RECLAIM SESSION %llu %s %u", (unsigned long long)session, secret, tlevel);
    if (exchange(c, deadline, &rest, err) < 0) {
        if (c->fd < 0)
            return -1;            /* the connection failed: try again */
        if (!nsl_mirror_count(&c->mirror) && !tlevel)
            return 0;             /* nothing to lose: go on as the new session */
        return nsl_client_declare_lost(c, err, err->code == NSLOCK_E_PROTECT ? NSLOCK_E_PROTECT
                                                                              : NSLOCK_E_LOST,
                                       "the server at %s (epoch %llu) would not give session %llu "
                                       "back: %s: %s", c->where, (unsigned long long)c->epoch,
                                       (unsigned long long)session, err->name, err->message);
    }
    size_t n;
    nsl_mirror_entry **v = nsl_mirror_sorted(&c->mirror, &n);
    bool connection_ok;
    nslock_error refused;
    int rc = send_reclaims(c, v, n, deadline, &connection_ok, &refused);
    free(v);
    if (!connection_ok) {
        *err = refused;
        return -1;
    }
    if (rc < 0) {
        release_partial(c, deadline);
        c->session = session;
        nsl_mirror_set_tlevel(&c->mirror, 0);
        return nsl_client_declare_lost(c, err, refused.code == NSLOCK_E_CONFLICT ? NSLOCK_E_CONFLICT
                                                                                 : NSLOCK_E_LOST,
                                       "the server at %s refused to give back a lock of "
                                       "session %llu after its restart: %s: %s", c->where,
                                       (unsigned long long)session, refused.name, refused.message);
    }
    nsl_client_req_reset(c);
    nsl_client_req_str(c, "RECLAIM DONE");
    if (exchange(c, deadline, &rest, err) < 0) {
        if (c->fd < 0)
            return -1;
        return nsl_client_declare_lost(c, err, NSLOCK_E_LOST, "the server at %s ended the "
                                       "recovery before session %llu was done: %s: %s", c->where,
                                       (unsigned long long)session, err->name, err->message);
    }
    c->session = session;
    snprintf(c->secret, sizeof c->secret, "%s", secret);
    return (int)n;
}

/* The number after " replay" in RESUME's answer; a server before
 * pipelining wrote the word alone, for one answer. */
static uint64_t replay_count(const char *rest)
{
    const char *p = strstr(rest, " replay");
    if (p == NULL)
        return 0;
    if (p[7] != ' ')
        return 1;
    return strtoull(p + 8, NULL, 10);
}

/* The R answers sent again after RESUME's answer, kept for the readers
 * (nsl_client_read_line gives them first, so they are set up only once
 * all are read). */
static int read_replays(nslock *c, uint64_t count, double deadline, nslock_error *err)
{
    char *all = NULL;
    size_t len = 0, cap = 0;
    for (uint64_t k = 0; k < count; k++) {
        char *line;
        size_t n;
        if (nsl_client_read_line(c, deadline, &line, &n, err) < 0) {
            free(all);
            return -1;
        }
        if (len + n + 2 > cap) {
            cap = (len + n + 2) * 2;
            char *bigger = realloc(all, cap);
            if (bigger == NULL) {
                free(all);
                return nsl_client_fail_close(c, err, NSLOCK_E_NOMEM, "out of memory reading "
                                             "RESUME's answers; connection closed");
            }
            all = bigger;
        }
        memcpy(all + len, line, n);
        len += n;
        all[len++] = '\n';
        all[len] = '\0';
    }
    c->replay = all;
    c->replay_len = len;
    c->replay_at = 0;
    return 0;
}

/* RESUME over a fresh connection: 0 when the session goes on here, -1
 * with err otherwise (the connection closed: retry). Of the requests whose
 * answers are owed (nsl_owed_*, then the call's own, if cut off), the
 * server sent the first R answers again and still serves the next P: the
 * rest never reached it and are sent again (*covered = R + P). */
static int resume(nslock *c, uint64_t session, const char *secret, uint64_t answers,
                  size_t *covered, nslock_error *err)
{
    const char *rest;
    nsl_client_replay_clear(c);      /* what an earlier attempt read is sent again */
    nsl_client_req_reset(c);
    nsl_client_req_fmt(c, "RESUME %llu %s %llu", (unsigned long long)session, secret,
                       (unsigned long long)answers);
    double deadline = nsl_client_deadline(c, 0);
    if (exchange(c, deadline, &rest, err) < 0)
        return -1;
    /* "resumed ID[ pending P][ replay R]" */
    unsigned long long id, pending = 0;
    if (sscanf(rest, "resumed %llu", &id) != 1 || id != session) {
        nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL, "unexpected answer to RESUME: '%.60s'",
                              rest);
        return -1;
    }
    const char *p = strstr(rest, " pending ");
    if (p)
        pending = strtoull(p + 9, NULL, 10);
    uint64_t replay = replay_count(rest);
    c->session = session;
    snprintf(c->secret, sizeof c->secret, "%s", secret);
    c->answers = answers;
    if (read_replays(c, replay, deadline, err) < 0)
        return -1;
    uint64_t had = pending + replay, owed = nsl_owed_unanswered(c);
    /* neither what the server still has nor what it answers again is sent
     * again: beyond the answers owed, that is the cut-off call's request */
    c->resume_pending = had > owed ? had - owed : 0;
    *covered = had < owed ? (size_t)had : owed;
    return 0;
}

/* The connection is gone: a new one, with the session resumed
 * (*covered: the answers owed that the server had) or reclaimed (0). */
static int reconnect(nslock *c, size_t *covered, nslock_error *err)
{
    *covered = 0;
    if (c->lost) {
        *err = c->lost_why;
        return -1;
    }
    if (!c->recovery)
        return -1;
    if (c->show_left)
        c->show_cut = true;
    nsl_client_close_fd(c);
    nsl_client_replay_clear(c);
    c->resume_pending = 0;
    uint64_t old_epoch = c->epoch, session = c->session, answers = c->answers;
    char secret[sizeof c->secret], ns[sizeof c->ns];
    memcpy(secret, c->secret, sizeof secret);
    memcpy(ns, c->ns, sizeof ns);
    double grace = c->server_grace > 0 ? c->server_grace : 1;
    /* in a cluster a standby first has to notice and take over */
    double give_up = nsl_client_now() + c->takeover + grace + 1;
    double delay = BACKOFF_FIRST;
    bool have = nsl_mirror_count(&c->mirror) > 0 || c->mirror.tlevel > 0;
    for (;;) {
        nslock_error why;
        int rc = nsl_client_hello(c, 1, &why);
        if (rc == 0 && c->epoch == old_epoch && c->tcp) {
            /* The same server, over TCP: the session may still be open (a
             * request of it may even be waiting in the server's queue). */
            int r = resume(c, session, secret, answers, covered, &why);
            if (r == 0) {
                if (c->on_reclaimed)
                    c->on_reclaimed(c, nsl_mirror_count(&c->mirror), c->epoch,
                                    c->on_reclaimed_arg);
                nsl_client_ok(err);
                return 0;
            }
            if (c->fd >= 0 && have)
                return nsl_client_declare_lost(c, err, NSLOCK_E_LOST, "%s", why.message);
            if (c->fd >= 0)
                break;            /* nothing held: go on as the new session */
            /* the new connection failed too: try again */
        } else if (rc == 0 && c->epoch == old_epoch) {
            /* The same server: it ended the session with the connection. */
            if (have)
                return nsl_client_declare_lost(c, err, NSLOCK_E_LOST,
                                               "the connection to %s was lost and the server "
                                               "(which did not restart) ended session %llu with "
                                               "it: its locks are gone", c->where,
                                               (unsigned long long)session);
            rc = 0;
            break;
        }
        if (rc == 0 && !have && !c->ever_held)
            break;                 /* nothing to reclaim */
        if (rc == 0 && c->resync_pending && have)
            /* a REMOVE took some locks and the library never learned which:
             * reclaiming the mirror could bring them back */
            return nsl_client_declare_lost(c, err, NSLOCK_E_LOST,
                                           "the server at %s restarted after a REMOVE took "
                                           "locks of session %llu, before the library could "
                                           "learn which: its locks are not reclaimed", c->where,
                                           (unsigned long long)session);
        if (rc == 0) {
            double deadline = nsl_client_now() + grace + c->grace;
            int n = reclaim(c, session, secret, deadline, &why);
            if (n < 0 && c->lost) {
                *err = why;
                return -1;
            }
            if (n >= 0) {
                /* The new connection starts in the default namespace. */
                const char *rest;
                if (ns[0] && strcmp(ns, c->default_ns) != 0) {
                    nsl_client_req_reset(c);
                    nsl_client_req_fmt(c, "NS %s", ns);
                    if (exchange(c, deadline, &rest, &why) < 0 && c->fd >= 0)
                        return nsl_client_declare_lost(c, err, NSLOCK_E_LOST,
                                                       "namespace %s is gone from %s after its "
                                                       "restart: %s", ns, c->where, why.message);
                    snprintf(c->ns, sizeof c->ns, "%s", ns);
                }
                if (c->fd >= 0) {
                    if (c->on_reclaimed)
                        c->on_reclaimed(c, (size_t)n, c->epoch, c->on_reclaimed_arg);
                    nsl_client_ok(err);
                    return 0;
                }
            }
            /* the connection failed during the reclaim: start over */
        }
        if (nsl_client_now() + delay > give_up)
            return nsl_client_declare_lost(c, err, NSLOCK_E_LOST,
                                           "no server at %s within %.1f s of losing the "
                                           "connection (%s): session %llu's locks are lost",
                                           c->where, c->takeover + grace + 1, why.message,
                                           (unsigned long long)session);
        sleep_for(delay);
        delay = delay * 2 < BACKOFF_MAX ? delay * 2 : BACKOFF_MAX;
    }
    if (c->on_reclaimed)
        c->on_reclaimed(c, 0, c->epoch, c->on_reclaimed_arg);
    nsl_client_ok(err);
    return 0;
}

int nsl_client_recover(nslock *c, nslock_error *err)
{
    /* the requests owed that the new connection's server never received
     * are sent again; should that connection fail too, once more */
    for (int attempt = 0;; attempt++) {
        size_t covered;
        if (reconnect(c, &covered, err) < 0)
            return -1;
        nslock_error why;
        if (nsl_owed_resend(c, covered, &why) == 0)
            return 0;
        if (attempt == 3) {
            *err = why;
            return -1;
        }
    }
}

/* ---- the keeper ------------------------------------------------------------------ */

void nsl_client_keeper_wake(nslock *c)
{
    if (c->keeper_running) {
        char b = 1;
        ssize_t n = write(c->wake[1], &b, 1);
        (void)n;                   /* a full pipe already wakes it */
    }
}

static bool hung_up(int fd, int timeout_ms, int wake_fd)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLRDHUP}, {.fd = wake_fd, .events = POLLIN}};
    int n = poll(p, wake_fd >= 0 ? 2 : 1, timeout_ms);
    if (n > 0 && wake_fd >= 0 && (p[1].revents & POLLIN)) {
        char buf[64];
        while (read(wake_fd, buf, sizeof buf) > 0)
            ;
    }
    return n > 0 && (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Over TCP a server ends a session it has not heard from for its timeout:
 * an idle handle says PING after a third of it. -1: no keep-alive due. */
static int keepalive_ms(const nslock *c)
{
    if (!c->tcp || c->fd < 0 || c->lost)
        return -1;
    double every = c->server_timeout > 0 ? c->server_timeout / 3 : -1;
    /* an HA leader is also checked on, so that a frozen one is left in time
     * to reclaim at its successor (docs/HA.md) */
    if (c->takeover > 0 && (every < 0 || every > nsl_client_probe_wait(c)))
        every = nsl_client_probe_wait(c);
    if (every < 0)
        return -1;
    double left = c->last_io + every - nsl_client_now();
    return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

/* The keep-alive itself, with the handle held and no call in progress. */
static void keepalive(nslock *c)
{
    if (keepalive_ms(c) != 0)
        return;
    nslock_error err;
    const char *rest;
    /* Answers owed that have come are read (a server ends a session that
     * takes none of its answers); while one has not, a request may wait on
     * the server, and the session is not idle: no PING behind it, whose
     * answer would wait too. */
    if (nsl_owed_drain_ready(c, &err) < 0) {
        if (nsl_client_should_recover(c, &err))
            nsl_client_recover(c, &err);
        return;
    }
    if (nsl_owed_unanswered(c)) {
        c->last_io = nsl_client_now();
        return;
    }
    nsl_client_req_reset(c);
    nsl_client_req_str(c, "PING");
    double deadline = nsl_client_deadline(c, 0);
    if (c->takeover > 0) {
        double soon = nsl_client_now() + nsl_client_probe_wait(c);
        if (deadline < 0 || deadline > soon)
            deadline = soon;
    }
    /* a keep-alive nobody answers (a frozen server) is a lost connection:
     * no call of the program's is cut off by giving up on it */
    int rc = exchange(c, deadline, &rest, &err);
    bool silent = rc < 0 && err.code == NSLOCK_E_TIMEOUT && c->recovery && !c->lost
                  && !c->closing;
    if (silent && c->takeover > 0)
        nsl_client_suspect_server(c);
    if (rc < 0 && (nsl_client_should_recover(c, &err) || silent) &&
        nsl_client_recover(c, &err) == 0) {
        /* a resumed session may owe the PING's answer (sent again or to
         * come): nobody waits for it */
        char *line;
        size_t len;
        for (; c->resume_pending; c->resume_pending--)
            if (nsl_client_read_line(c, nsl_client_deadline(c, 0), &line, &len, &err) == 0)
                c->answers++;
    }
}

static void *keeper_main(void *arg)
{
    nslock *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->closing) {
        int fd = c->lost ? -1 : c->fd;
        uint64_t connection = c->connection;
        int timeout = keepalive_ms(c);
        pthread_mutex_unlock(&c->mu);
        /* Only hang-ups, never input: answers belong to the calls. */
        bool gone = hung_up(fd, timeout, c->wake[0]);
        pthread_mutex_lock(&c->mu);
        /* A call may have recovered meanwhile, and its new socket may have
         * the old one's number: only the connection polled is judged. */
        if (c->closing || c->lost || c->connection != connection || fd < 0)
            continue;
        if (gone) {
            nslock_error ignore;
            nsl_client_recover(c, &ignore);
        } else if (c->show_left == 0) {
            keepalive(c);          /* not in the middle of a SHOW's rows */
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int nsl_client_keeper_start(nslock *c, nslock_error *err)
{
    if (pipe2(c->wake, O_CLOEXEC | O_NONBLOCK) < 0)
        return nsl_client_fail(err, NSLOCK_E_IO, "pipe: %s", strerror(errno));
    /* The keeper takes no signals: they stay the program's. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&c->keeper_thread, NULL, keeper_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(c->wake[0]);
        close(c->wake[1]);
        c->wake[0] = c->wake[1] = -1;
        return nsl_client_fail(err, NSLOCK_E_NOMEM, "cannot start the keeper thread: %s",
                               strerror(rc));
    }
    c->keeper_running = true;
    return 0;
}

void nsl_client_keeper_stop(nslock *c)
{
    if (!c->keeper_running)
        return;
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    nsl_client_keeper_wake(c);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->keeper_thread, NULL);
    c->keeper_running = false;
    close(c->wake[0]);
    close(c->wake[1]);
    c->wake[0] = c->wake[1] = -1;
}

/* ---- the public calls -------------------------------------------------------------- */

uint64_t nslock_epoch(const nslock *c)
{
    nslock *m = (nslock *)c;         /* the mutex is not part of the value */
    pthread_mutex_lock(&m->mu);
    uint64_t epoch = c->epoch;
    pthread_mutex_unlock(&m->mu);
    return epoch;
}

int nslock_is_lost(nslock *c)
{
    pthread_mutex_lock(&c->mu);
    int lost = c->lost;
    pthread_mutex_unlock(&c->mu);
    return lost;
}

int nslock_lost_clear(nslock *c)
{
    pthread_mutex_lock(&c->mu);
    int was = c->lost;
    /* a LOST that named a REMOVE left the handle usable: nothing to forget */
    if (was) {
        c->lost = false;
        nsl_mirror_clear(&c->mirror);
        c->ever_held = false;
    }
    pthread_mutex_unlock(&c->mu);
    return was;
}

void nslock_on_lost(nslock *c, nslock_lost_fn fn, void *arg)
{
    pthread_mutex_lock(&c->mu);
    c->on_lost = fn;
    c->on_lost_arg = arg;
    pthread_mutex_unlock(&c->mu);
}

void nslock_on_reclaimed(nslock *c, nslock_reclaimed_fn fn, void *arg)
{
    pthread_mutex_lock(&c->mu);
    c->on_reclaimed = fn;
    c->on_reclaimed_arg = arg;
    pthread_mutex_unlock(&c->mu);
}

int nslock_fd(nslock *c)
{
    pthread_mutex_lock(&c->mu);
    int fd = c->lost ? -1 : c->fd;
    pthread_mutex_unlock(&c->mu);
    return fd;
}

int nslock_process(nslock *c, nslock_error *err)
{
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    if (c->lost) {
        if (err)
            *err = c->lost_why;
        rc = -1;
    } else if (c->recovery && (c->fd < 0 || hung_up(c->fd, 0, -1))) {
        nslock_error e;
        rc = nsl_client_recover(c, &e);
        if (err)
            *err = e;
    } else {
        /* input between calls is the answers owed (pipeline.c): read them */
        nslock_error e;
        if (c->show_left == 0 && nsl_owed_drain_ready(c, &e) < 0) {
            rc = nsl_client_should_recover(c, &e) ? nsl_client_recover(c, &e) : -1;
            if (err)
                *err = e;
        } else {
            if (c->show_left == 0)
                keepalive(c);
            nsl_client_ok(err);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}
