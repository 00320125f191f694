/* libnslock's API (nslock.h): each call is one request of docs/PROTOCOL.md
 * and the reading of its answer. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mapping/mapping.h"

#include "client_internal.h"

/* ---- connections ------------------------------------------------------------ */

int nslock_default_socket(char *buf, size_t cap)
{
    const char *env = getenv("NSLOCK_SOCKET");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (env && *env)
        n = snprintf(buf, cap, "%s", env);
    else if (xdg && *xdg == '/')
        n = snprintf(buf, cap, "%s/nslock/nslock.sock", xdg);
    else
        n = snprintf(buf, cap, "/tmp/nslock-%lu/nslock.sock", (unsigned long)getuid());
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

static int usable(nslock *c, nslock_error *err);
static int resync_removed(nslock *c, nslock_error *err);

/* An "ERR ..." answer. "ERR LOST removed by ..." says another session's
 * REMOVE took some of this session's entries: the program is told (the
 * call fails, on_lost fires) and the mirror is brought in line with the
 * server before the next request (resync_removed). */
int nsl_client_answer_error(nslock *c, nslock_error *err, const char *rest)
{
    nslock_error e;
    nsl_client_server_error(&e, rest);
    if (e.code == NSLOCK_E_STANDBY) {
        /* "ERR STANDBY <leader or -> words": the address is for the
         * library (cluster.c), the words for people */
        size_t len = strcspn(e.message, " ");
        snprintf(c->leader_hint, sizeof c->leader_hint, "%.*s",
                 len < sizeof c->leader_hint && !(len == 1 && e.message[0] == '-') ? (int)len : 0,
                 e.message);
        memmove(e.message, e.message + len + (e.message[len] == ' '),
                strlen(e.message + len + (e.message[len] == ' ')) + 1);
    }
    if (e.code == NSLOCK_E_LOST && strncmp(e.message, "removed by ", 11) == 0) {
        c->resync_pending = true;
        if (c->on_lost)
            c->on_lost(c, &e, c->on_lost_arg);
    }
    if (err)
        *err = e;
    return -1;
}

/* Reads an answer's first line; on "OK ..." sets *rest to what follows OK
 * and returns 0. ERR lines become the server's error (connection kept). */
static int expect_ok(nslock *c, double deadline, const char **rest, nslock_error *err)
{
    char *line;
    size_t len;
    if (nsl_client_read_line(c, deadline, &line, &len, err) < 0)
        return -1;
    c->answers++;
    if (len >= 2 && line[0] == 'O' && line[1] == 'K' && (line[2] == '\0' || line[2] == ' ')) {
        *rest = line[2] ? line + 3 : line + 2;
        return 0;
    }
    if (len >= 4 && memcmp(line, "ERR ", 4) == 0)
        return nsl_client_answer_error(c, err, line + 4);
    if (len > 5 && memcmp(line, "DATA ", 5) == 0)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "%s answered with data where OK was expected; "
                                     "connection closed", c->where);
    return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                 "unexpected answer from %s: '%.60s'; connection closed",
                                 c->where, line);
}

/* Sends the request built in c->wbuf, then expect_ok(). wait: how long the
 * server may keep it waiting (negative: forever). */
static int request(nslock *c, double wait, const char **rest, nslock_error *err)
{
    if (nsl_client_req_end(c, err) < 0)
        return -1;
    double deadline = nsl_client_deadline(c, wait);
    if (nsl_client_send(c, deadline, err) < 0)
        return -1;
    return expect_ok(c, deadline, rest, err);
}

/* HELLO's answer: "nslock VERSION session ID", then "key value" pairs:
 * namespace, epoch, secret and grace are remembered (an older server may
 * send none of them; then there is no restart recovery). */
static int parse_hello(nslock *c, const char *rest, nslock_error *err)
{
    char word[16], key[32], value[80];
    unsigned long version;
    unsigned long long session;
    int used = 0;
    if (sscanf(rest, "%15s %lu session %llu%n", word, &version, &session, &used) != 3
        || strcmp(word, "nslock") != 0)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "%s is not an nslock server (HELLO answered 'OK %.60s')",
                                     c->where, rest);
    if (version != NSLOCK_PROTOCOL_VERSION)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "%s speaks protocol version %lu, this library %d",
                                     c->where, version, NSLOCK_PROTOCOL_VERSION);
    c->session = session;
    c->epoch = 0;
    c->server_timeout = 0;
    c->takeover = 0;
    const char *p = rest + used;
    int n;
    while (sscanf(p, "%31s %79s%n", key, value, &n) == 2) {
        if (strcmp(key, "namespace") == 0) {
            snprintf(c->ns, sizeof c->ns, "%.*s", (int)sizeof c->ns - 1, value);
            snprintf(c->default_ns, sizeof c->default_ns, "%.*s", (int)sizeof c->ns - 1, value);
        } else if (strcmp(key, "epoch") == 0) {
            c->epoch = strtoull(value, NULL, 10);
        } else if (strcmp(key, "secret") == 0) {
            snprintf(c->secret, sizeof c->secret, "%.*s", (int)sizeof c->secret - 1, value);
        } else if (strcmp(key, "grace") == 0) {
            c->server_grace = strtod(value, NULL);
        } else if (strcmp(key, "timeout") == 0) {
            c->server_timeout = strtod(value, NULL);
        } else if (strcmp(key, "takeover") == 0) {
            c->takeover = strtod(value, NULL);
        }
        p += n;
    }
    return 0;
}

int nsl_client_hello_at(nslock *c, const char *where, nslock_error *err)
{
    const char *rest;
    c->standby = false;
    if ((c->tcp ? nsl_client_open_tcp(c, where, err) : nsl_client_open_unix(c, where, err)) < 0)
        return -1;
    c->ns[0] = '\0';
    if (c->tcp) {
        nsl_client_req_reset(c);
        nsl_client_req_str(c, "AUTH ");
        nsl_client_req_str(c, c->token);
        if (request(c, 0, &rest, err) < 0)
            goto fail;
    }
    nsl_client_req_reset(c);
    nsl_client_req_str(c, "HELLO");
    if (c->client_name[0]) {
        nsl_client_req_str(c, " name=");
        nsl_client_req_str(c, c->client_name);
    }
    if (c->tcp)   /* over a Unix socket the server reads it from the socket */
        nsl_client_req_fmt(c, " pid=%ld", (long)getpid());
    if (request(c, 0, &rest, err) < 0) {
        if (err->code == NSLOCK_E_STANDBY && c->standby_ok && !c->recovery && c->fd >= 0) {
            /* kept for STATS and CLUSTER: no session, nothing to recover */
            c->standby = true;
            c->session = 0;
            c->epoch = 0;
            c->takeover = 0;
            return 0;
        }
        goto fail;
    }
    if (parse_hello(c, rest, err) < 0)
        goto fail;
    nsl_client_watch_leader(c);
    nsl_client_keeper_wake(c);
    return 0;
fail:
    nsl_client_close_fd(c);
    return -1;
}

int nslock_open(nslock **out, const nslock_options *o, nslock_error *err)
{
    return nslock_open_ex(out, o, NULL, err);
}

int nslock_open_ex(nslock **out, const nslock_options *o, const nslock_options_more *more,
                   nslock_error *err)
{
    static const nslock_options defaults;
    static const nslock_options_more no_more;
    *out = NULL;
    if (o == NULL)
        o = &defaults;
    if (more == NULL)
        more = &no_more;
    if (o->client_name && nsl_client_check_word("client name", o->client_name, err) < 0)
        return -1;
    if (o->client_name && strlen(o->client_name) >= sizeof ((nslock *)0)->client_name)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "client name '%s' is too long",
                               o->client_name);
    if (o->keeper != NSLOCK_KEEPER_THREAD && o->keeper != NSLOCK_KEEPER_NONE)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "keeper must be NSLOCK_KEEPER_THREAD or "
                               "NSLOCK_KEEPER_NONE");
    nslock *c = nsl_client_new(err);
    if (c == NULL)
        return -1;
    if (nsl_client_set_target(c, o, more, err) < 0) {
        nslock_close(c);
        return -1;
    }
    if (o->client_name)
        snprintf(c->client_name, sizeof c->client_name, "%s", o->client_name);
    c->standby_ok = more->standby_ok != 0;
    c->keeper = o->keeper;
    c->server_uid = o->server_uid;
    if (!c->server_uid) {
        const char *env = getenv("NSLOCK_SERVER_UID");
        c->server_uid = env && *env ? (long)strtoul(env, NULL, 10) : -1;
    }
    if (nsl_client_hello_cluster(c, err) < 0) {
        nslock_close(c);
        return -1;
    }
    c->recovery = !o->no_recovery && c->epoch != 0;
    if (c->recovery && c->keeper == NSLOCK_KEEPER_THREAD && nsl_client_keeper_start(c, err) < 0) {
        nslock_close(c);
        return -1;
    }
    nsl_client_ok(err);
    *out = c;
    return 0;
}

int nslock_connect(nslock **out, const char *socket_path, const char *client_name,
                   nslock_error *err)
{
    nslock_options o = {.socket_path = socket_path, .client_name = client_name};
    return nslock_open(out, &o, err);
}

int nslock_connect_tcp(nslock **out, const char *host_port, const char *token,
                       const char *client_name, nslock_error *err)
{
    *out = NULL;
    if (host_port == NULL)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no host:port");
    nslock_options o = {.host_port = host_port, .token = token, .client_name = client_name};
    return nslock_open(out, &o, err);
}

void nslock_close(nslock *c)
{
    if (c == NULL)
        return;
    nsl_client_keeper_stop(c);
    c->closing = true;           /* nothing is recovered any more */
    /* The answers owed are read, up to a request that may wait (a LOCK
     * with a timeout): ending the session releases everything anyway, and
     * a grant is not worth waiting for only to be released. */
    nslock_error ignored;
    while (c->fd >= 0 && nsl_owed_unanswered(c) && c->owed[c->owed_answered].wait == 0
           && nsl_owed_drain_one(c, &ignored) == 0)
        ;
    /* closing is QUIT without the round trip (PROTOCOL.md) */
    nsl_client_close_fd(c);
    nsl_owed_clear(c);
    free(c->owed);
    nsl_client_replay_clear(c);
    nsl_lock_command_free(&c->owed_cmd);
    nsl_mirror_clear(&c->mirror);
    nsl_lock_command_free(&c->cmd);
    pthread_mutex_destroy(&c->mu);
    if (c->cancel_fd >= 0)
        close(c->cancel_fd);
    nsl_client_free_target(c);
    free(c->rbuf);
    free(c->wbuf);
    free(c->wpend);
    free(c);
}

void nslock_set_grace(nslock *c, double seconds)
{
    pthread_mutex_lock(&c->mu);
    c->grace = seconds;
    pthread_mutex_unlock(&c->mu);
}

/* Read under the handle: during a recovery the connection briefly has a
 * session id of its own before it takes the old one back. */
uint64_t nslock_session_id(const nslock *c)
{
    nslock *m = (nslock *)c;         /* the mutex is not part of the value */
    pthread_mutex_lock(&m->mu);
    uint64_t id = c->session;
    pthread_mutex_unlock(&m->mu);
    return id;
}

const char *nslock_current_namespace(const nslock *c)
{
    return c->ns[0] ? c->ns : NULL;
}

static int read_show_rows(nslock *c, double deadline, nslock_entry **rows, size_t *count,
                         nslock_error *err);

/* After a REMOVE took entries of this session: what the server still shows
 * of it decides what the mirror keeps, so that neither a restart nor
 * nslock_held_list brings back what was removed. */
static int resync_removed(nslock *c, nslock_error *err)
{
    nslock_entry *rows;
    size_t n;
    nsl_client_req_fmt(c, "SHOW owner=%llu nowaiters", (unsigned long long)c->session);
    if (nsl_client_req_end(c, err) < 0)
        return -1;
    double deadline = nsl_client_deadline(c, 0);
    if (nsl_client_send(c, deadline, err) < 0 || read_show_rows(c, deadline, &rows, &n, err) < 0)
        return -1;
    nsl_mirror_retain(&c->mirror, rows, n);
    nslock_free(rows);
    c->resync_pending = false;
    nsl_client_req_reset(c);
    return 0;
}

/* Ready for a new request (client_internal.h): reconnecting first if the
 * connection went while no call was made. */
int nsl_client_usable(nslock *c, bool drain, nslock_error *err)
{
    if (c->lost) {
        if (err)
            *err = c->lost_why;
        return -1;
    }
    if (c->fd < 0 && !c->recovery)
        return nsl_client_fail(err, NSLOCK_E_IO, "the connection to %s is closed", c->where);
    if (c->fd < 0 && nsl_client_recover(c, err) < 0)
        return -1;
    while (c->show_left > 0) {
        char *line;
        size_t len;
        if (nsl_client_read_line(c, nsl_client_deadline(c, 0), &line, &len, err) < 0)
            return -1;
        c->show_left--;
    }
    nsl_client_req_reset(c);
    if (drain && nsl_owed_drain(c, err) < 0)
        return -1;
    if (nsl_owed_take_deferred(c, err) < 0)
        return -1;
    /* SHOW's answer would come behind the answers owed: after them */
    if (c->resync_pending && !nsl_owed_unanswered(c) && resync_removed(c, err) < 0)
        return -1;
    return 0;
}

static int usable(nslock *c, nslock_error *err)
{
    return nsl_client_usable(c, true, err);
}

/* A request whose answer is a bare OK. */
static int simple(nslock *c, const char *text, nslock_error *err)
{
    const char *rest;
    if (usable(c, err) < 0)
        return -1;
    nsl_client_req_str(c, text);
    if (request(c, 0, &rest, err) < 0)
        return -1;
    nsl_client_ok(err);
    return 0;
}

int nslock_ping(nslock *c, nslock_error *err)
{
    API_CALL(c, err, simple(c, "PING", &e_));
}

int nslock_server_address(nslock *c, char *buf, size_t cap)
{
    pthread_mutex_lock(&c->mu);
    int n = snprintf(buf, cap, "%s", c->where);
    pthread_mutex_unlock(&c->mu);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

int nslock_is_standby(nslock *c)
{
    pthread_mutex_lock(&c->mu);
    int standby = c->standby;
    pthread_mutex_unlock(&c->mu);
    return standby;
}

/* "OK role R epoch E leader ADDR zookeeper STATE" (leader "-": none). */
static int cluster(nslock *c, nslock_cluster *out, nslock_error *err)
{
    const char *rest;
    if (usable(c, err) < 0)
        return -1;
    nsl_client_req_str(c, "CLUSTER");
    if (request(c, 0, &rest, err) < 0)
        return -1;
    unsigned long long epoch;
    char leader[sizeof out->leader];
    memset(out, 0, sizeof *out);
    if (sscanf(rest, "role %15s epoch %llu leader %159s zookeeper %31s", out->role, &epoch,
               leader, out->zookeeper) != 4)
        return nsl_client_fail(err, NSLOCK_E_PROTOCOL, "unexpected answer to CLUSTER from %s: "
                               "'%.80s'", c->where, rest);
    out->epoch = epoch;
    snprintf(out->leader, sizeof out->leader, "%s", strcmp(leader, "-") ? leader : "");
    nsl_client_ok(err);
    return 0;
}

int nslock_cluster_get(nslock *c, nslock_cluster *out, nslock_error *err)
{
    API_CALL(c, err, cluster(c, out, &e_));
}

/* ---- locks ------------------------------------------------------------------ */

/* "OK 1 TOKEN" / "OK 0" / "OK" of a LOCK command. */
int nsl_client_lock_outcome(nslock *c, const char *rest, nslock_outcome *out, nslock_error *err)
{
    nslock_outcome o = {.test = -1, .token = 0};
    if (rest[0] == '1' && rest[1] == ' ' && nsl_client_parse_u64(rest + 2, &o.token))
        o.test = 1;
    else if (rest[0] == '0' && rest[1] == '\0')
        o.test = 0;
    else if (rest[0] != '\0')
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "unexpected answer to LOCK from %s: 'OK %.60s'; "
                                     "connection closed", c->where, rest);
    if (out)
        *out = o;
    nsl_client_ok(err);
    return 0;
}

/* The server's error, in the engine's codes, for the mirror. */
nsl_code nsl_client_server_code(const nslock_error *err)
{
    nsl_code code = nsl_code_from_name(err->name, strlen(err->name));
    return code == NSL_CODE_COUNT ? NSL_COMMAND : code;
}

/* Errors found by the client's own parse carry the codes the server would
 * have answered (the same parser). */
static int parse_failed(const nsl_error *e, const char *command, nslock_error *err)
{
    int code = NSLOCK_E_SYNTAX;
    const char *name = nsl_code_name(e->code);
    for (int k = 1; k < NSLOCK_E_UNKNOWN; k++)
        if (strcmp(nslock_errname(k), name) == 0)
            code = k;
    if (e->column > 0)
        return nsl_client_fail(err, code, "column %d of '%.200s': %s", e->column, command,
                               e->message);
    return nsl_client_fail(err, code, "'%.200s': %s", command, e->message);
}

/* prefix ("LOCK +") and the names of argument a of c->cmd, with their types. */
static void req_items(nslock *c, const char *prefix, const nsl_lock_arg *a)
{
    nsl_client_req_str(c, prefix);
    if (a->item_count > 1)
        nsl_client_req_add(c, "(", 1);
    for (size_t i = 0; i < a->item_count; i++) {
        const nsl_lock_item *it = &c->cmd.items[a->first_item + i];
        char name[4096];
        size_t n = nsl_lockname_format(&it->name, name, sizeof name);
        if (i)
            nsl_client_req_add(c, ",", 1);
        nsl_client_req_add(c, name, n < sizeof name ? n : sizeof name - 1);
        nsl_client_req_types(c, it->types, NULL);
    }
    if (a->item_count > 1)
        nsl_client_req_add(c, ")", 1);
}

/* "LOCK" and one argument of c->cmd, with its own timeout. */
static void req_argument(nslock *c, const nsl_lock_arg *a)
{
    req_items(c, a->op == NSL_OP_ADD ? "LOCK +" : a->op == NSL_OP_REMOVE ? "LOCK -" : "LOCK ", a);
    if (a->has_timeout)
        nsl_client_req_timeout(c, (double)a->timeout_ms / 1000.0, NULL);
}

static double argument_wait(const nsl_lock_arg *a)
{
    if (a->op == NSL_OP_REMOVE || a->item_count == 0)
        return 0;
    return a->has_timeout ? (double)a->timeout_ms / 1000.0 : -1;
}

/* One request for (at most) one argument: text as given when the command
 * has one, else argument i rebuilt. The mirror learns the answer. A lost
 * connection is recovered and the request sent again. */
/* After the LOCK's answer: reads the answer to the CANCEL sent behind it.
 * True when the CANCEL ended the wait (OK 1). A failure here has closed
 * the connection; the next call recovers it. */
static bool cancel_answer(nslock *c)
{
    const char *rest;
    nslock_error ignored;
    c->cancel_sent = false;
    atomic_store(&c->cancel_asked, false);
    return expect_ok(c, nsl_client_deadline(c, 0), &rest, &ignored) == 0 && strcmp(rest, "1") == 0;
}

static int cancelled(nslock *c, const nsl_lock_arg *a, nslock_error *err)
{
    atomic_store(&c->cancel_asked, false);
    nsl_mirror_apply(&c->mirror, c->ns, &c->cmd, a, NSL_OK, 0, 0);
    return nsl_client_fail(err, NSLOCK_E_CANCELLED, "the lock request was cancelled; "
                           "nothing of it was taken");
}

/* An asynchronous unlock sent before this call's incremental LOCK failed,
 * and the LOCK, sent behind it, was granted: it is given back (LOCK - of
 * the same names; inside a transaction that delocks, as any unlock), so
 * that the call reporting the failure has done nothing. Should even that
 * fail, the mirror (nslock_held_list) still has it. */
static void give_back(nslock *c, const nsl_lock_arg *a)
{
    const char *rest;
    nslock_error ignored;
    nsl_client_req_reset(c);
    req_items(c, "LOCK -", a);
    if (request(c, 0, &rest, &ignored) == 0) {
        nsl_lock_arg undo = *a;
        undo.op = NSL_OP_REMOVE;
        nsl_mirror_apply(&c->mirror, c->ns, &c->cmd, &undo, NSL_OK, -1, 0);
    }
}

static int run_argument(nslock *c, const char *text, const nsl_lock_arg *a, double wait,
                        nslock_outcome *out, nslock_error *err)
{
    bool cancellable = wait != 0;
    /* Only an incremental LOCK goes out ahead of the answers owed, so that
     * unlock-async then lock is one round trip: what it took can be given
     * back should an unlock before it have failed. Anything else waits for
     * those answers first, so that it is not run when the call reports
     * such a failure. */
    bool ahead = a && a->op == NSL_OP_ADD;
    atomic_store(&c->cancel_asked, false);   /* only a cancel during this wait counts */
    for (;;) {
        const char *rest = "";
        /* cancelled while the connection was recovered: not sent again,
         * unless the resumed server still has it waiting */
        if (cancellable && atomic_load(&c->cancel_asked) && !c->resume_pending)
            return cancelled(c, a, err);
        int rc = ahead ? 0 : nsl_owed_drain(c, err);
        /* (a resumed session that has this request already answers it:
         * that answer is read, and what it took given back, below) */
        if (rc == 0 && !c->resume_pending && nsl_owed_take_deferred(c, err) < 0)
            return -1;
        if (rc == 0) {
            nsl_client_req_reset(c);
            if (text)
                nsl_client_req_str(c, text);
            else
                req_argument(c, a);
            /* The server registers a session at its first request that takes
             * locks, before any grant: if the connection goes while it waits,
             * the next server awaits the session, so it must reclaim (holding
             * nothing) for that server's recovery not to wait its whole grace. */
            if (a && a->op != NSL_OP_REMOVE)
                c->ever_held = true;
            rc = nsl_client_req_end(c, err);
            if (rc == 0)
                rc = nsl_client_send(c, nsl_client_deadline(c, wait), err);
            if (rc == 0)
                rc = nsl_owed_drain(c, err);   /* the answers owed come first */
            if (rc == 0) {
                c->cancellable = cancellable;
                c->cancel_sent = false;
                rc = expect_ok(c, nsl_client_deadline(c, wait), &rest, err);
                c->cancellable = false;
            }
        }
        if (rc == 0 && nsl_client_lock_outcome(c, rest, out, err) == 0) {
            nsl_mirror_apply(&c->mirror, c->ns, &c->cmd, a, NSL_OK, out->test, out->token);
            bool was_cancelled = c->cancel_sent && cancel_answer(c) && out->test == 0;
            if (c->has_deferred) {
                if (out->test == 1)
                    give_back(c, a);
                return nsl_owed_take_deferred(c, err);
            }
            if (was_cancelled)
                return nsl_client_fail(err, NSLOCK_E_CANCELLED, "the lock request was "
                                       "cancelled; nothing of it was taken");
            return 0;
        }
        if (!nsl_client_should_recover(c, err)) {
            if (c->fd >= 0) {   /* a server error: the session is intact */
                nsl_mirror_apply(&c->mirror, c->ns, &c->cmd, a, nsl_client_server_code(err), -1, 0);
                if (c->cancel_sent)
                    cancel_answer(c);
            }
            nsl_owed_take_deferred(c, err);   /* the earlier failure is told first */
            return -1;
        }
        c->cancel_sent = false;   /* its answer went with the connection */
        if (nsl_client_recover(c, err) < 0)
            return -1;
    }
}

/* A LOCK command in text form: parsed here (with the server's own parser)
 * so that the mirror knows what each name is; a command of several
 * arguments goes as one request per argument, so that each answer says
 * what its argument did. $TEST is that of the last argument taking locks. */
static int run_command(nslock *c, const char *command, nslock_outcome *out, nslock_error *err)
{
    nsl_error perr;
    nslock_outcome got, result = {.test = -1, .token = 0};
    if (nsl_lock_command_parse(command, strlen(command), &c->cmd, &perr) != NSL_OK)
        return parse_failed(&perr, command, err);
    if (c->cmd.arg_count <= 1) {
        double wait;
        if (nsl_client_command_wait(command, &wait, err) < 0)
            return -1;
        const nsl_lock_arg *a = c->cmd.arg_count ? &c->cmd.args[0] : NULL;
        if (run_argument(c, command, a, wait, &got, err) < 0)
            return -1;
        result = got;
    }
    for (size_t i = 0; c->cmd.arg_count > 1 && i < c->cmd.arg_count; i++) {
        const nsl_lock_arg *a = &c->cmd.args[i];
        if (run_argument(c, NULL, a, argument_wait(a), &got, err) < 0)
            return -1;
        if (got.test >= 0)
            result = got;
    }
    if (out)
        *out = result;
    nsl_client_ok(err);
    return 0;
}

/* The command built in c->wbuf. */
static int run_built(nslock *c, nslock_outcome *out, nslock_error *err)
{
    if (c->woverflow)
        return nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory building a request");
    char small[512];
    char *text = c->wlen < sizeof small ? small : malloc(c->wlen + 1);
    if (text == NULL)
        return nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory building a request");
    memcpy(text, c->wbuf, c->wlen);
    text[c->wlen] = '\0';
    int rc = run_command(c, text, out, err);
    if (text != small)
        free(text);
    return rc;
}

static int lock_names(nslock *c, const char *const *names, size_t count, unsigned types,
                      double timeout, nslock_outcome *out, nslock_error *err)
{
    if (nsl_client_usable(c, false, err) < 0)
        return -1;
    if (count == 0 || names == NULL)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no lock names");
    for (size_t i = 0; i < count; i++)
        if (nsl_client_check_name(names[i], err) < 0)
            return -1;
    nsl_client_req_str(c, count == 1 ? "LOCK +" : "LOCK +(");
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            nsl_client_req_add(c, ",", 1);
        nsl_client_req_str(c, names[i]);
    }
    if (count > 1)
        nsl_client_req_add(c, ")", 1);
    if (nsl_client_req_types(c, types, err) < 0 || nsl_client_req_timeout(c, timeout, err) < 0)
        return -1;
    return run_built(c, out, err);
}

int nslock_lock(nslock *c, const char *name, unsigned types, double timeout,
                nslock_outcome *out, nslock_error *err)
{
    API_CALL(c, err, lock_names(c, &name, 1, types, timeout, out, &e_));
}

int nslock_lock_names(nslock *c, const char *const *names, size_t count, unsigned types,
                      double timeout, nslock_outcome *out, nslock_error *err)
{
    API_CALL(c, err, lock_names(c, names, count, types, timeout, out, &e_));
}

static int unlock(nslock *c, const char *name, unsigned types, nslock_error *err)
{
    if (nsl_client_usable(c, false, err) < 0 || nsl_client_req_unlock(c, name, types, err) < 0)
        return -1;
    return run_built(c, NULL, err);
}

int nslock_unlock(nslock *c, const char *name, unsigned types, nslock_error *err)
{
    API_CALL(c, err, unlock(c, name, types, &e_));
}

static int unlock_all(nslock *c, nslock_error *err)
{
    if (usable(c, err) < 0)
        return -1;
    return run_command(c, "LOCK", NULL, err);
}

int nslock_unlock_all(nslock *c, nslock_error *err)
{
    API_CALL(c, err, unlock_all(c, &e_));
}

static int command(nslock *c, const char *text, nslock_outcome *out, nslock_error *err)
{
    double wait;
    if (nsl_client_usable(c, false, err) < 0 || nsl_client_command_wait(text, &wait, err) < 0)
        return -1;
    return run_command(c, text, out, err);
}

int nslock_command(nslock *c, const char *text, nslock_outcome *out, nslock_error *err)
{
    API_CALL(c, err, command(c, text, out, &e_));
}

static int set_namespace(nslock *c, const char *name, nslock_error *err)
{
    const char *rest;
    if (usable(c, err) < 0 || nsl_client_check_word("namespace", name, err) < 0)
        return -1;
    nsl_client_req_str(c, "NS ");
    nsl_client_req_str(c, name);
    if (request(c, 0, &rest, err) < 0)
        return -1;
    /* the server stores namespace names upper-case (docs/CONFIG.md) */
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof c->ns; i++)
        c->ns[i] = (char)toupper((unsigned char)name[i]);
    c->ns[i] = '\0';
    nsl_client_ok(err);
    return 0;
}

int nslock_namespace(nslock *c, const char *name, nslock_error *err)
{
    API_CALL(c, err, set_namespace(c, name, &e_));
}

static int transaction(nslock *c, const char *text, int *level, nslock_error *err)
{
    const char *rest;
    uint64_t n;
    if (usable(c, err) < 0)
        return -1;
    nsl_client_req_str(c, text);
    if (request(c, 0, &rest, err) < 0)
        return -1;
    if (!nsl_client_parse_u64(rest, &n) || n > 1000000)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "unexpected answer to %s from %s: 'OK %.60s'; "
                                     "connection closed", text, c->where, rest);
    nsl_mirror_set_tlevel(&c->mirror, (unsigned)n);
    if (level)
        *level = (int)n;
    nsl_client_ok(err);
    return 0;
}

int nslock_tstart(nslock *c, int *level, nslock_error *err)
{
    API_CALL(c, err, transaction(c, "TSTART", level, &e_));
}

int nslock_tcommit(nslock *c, int *level, nslock_error *err)
{
    API_CALL(c, err, transaction(c, "TCOMMIT", level, &e_));
}

int nslock_trollback(nslock *c, int one_level, int *level, nslock_error *err)
{
    API_CALL(c, err, transaction(c, one_level ? "TROLLBACK 1" : "TROLLBACK", level, &e_));
}

long long nslock_recovering(nslock *c)
{
    pthread_mutex_lock(&c->mu);
    long long awaited = c->awaited;
    pthread_mutex_unlock(&c->mu);
    return awaited;
}

int nslock_tlevel(nslock *c)
{
    pthread_mutex_lock(&c->mu);
    int level = (int)c->mirror.tlevel;
    pthread_mutex_unlock(&c->mu);
    return level;
}

static int held_list(nslock *c, nslock_held **rows, size_t *count, nslock_error *err)
{
    *rows = NULL;
    *count = 0;
    if (c->resync_pending && usable(c, err) < 0)
        return -1;
    if (nsl_mirror_list(&c->mirror, rows, count) < 0)
        return nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory");
    nsl_client_ok(err);
    return 0;
}

int nslock_held_list(nslock *c, nslock_held **rows, size_t *count, nslock_error *err)
{
    API_CALL(c, err, held_list(c, rows, count, &e_));
}

/* ---- multi-line answers ---------------------------------------------------------- */

void nslock_free(void *rows)
{
    free(rows);
}

/* Reads "DATA n" and returns n. */
static int read_data_header(nslock *c, double deadline, size_t *count, nslock_error *err)
{
    char *line;
    size_t len;
    uint64_t n;
    if (nsl_client_read_line(c, deadline, &line, &len, err) < 0)
        return -1;
    c->answers++;
    /* "DATA n", maybe followed by words ("recovering 2" after a restart) */
    char *space = len > 5 ? strchr(line + 5, ' ') : NULL;
    c->awaited = -1;
    if (space) {
        *space = '\0';
        unsigned long long awaited;
        if (sscanf(space + 1, "recovering %llu", &awaited) == 1)
            c->awaited = (long long)awaited;
    }
    if (len > 5 && memcmp(line, "DATA ", 5) == 0 && nsl_client_parse_u64(line + 5, &n)
        && n <= SIZE_MAX / 64) {
        *count = (size_t)n;
        return 0;
    }
    if (len >= 4 && memcmp(line, "ERR ", 4) == 0)
        return nsl_client_answer_error(c, err, line + 4);
    return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                 "unexpected answer from %s: '%.60s' (expected DATA); "
                                 "connection closed", c->where, line);
}

/* Splits a DATA line at its tabs, in place, into at least want fields
 * (more are ignored: a newer server may add columns at the end). "-" is an
 * empty field. */
static int split_fields(nslock *c, char *line, char **fields, size_t want, nslock_error *err)
{
    static char empty[] = "";
    size_t n = 0;
    char *p = line;
    while (n < want) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (tab == NULL)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    if (n < want)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "a line from %s with %zu fields, expected %zu; "
                                     "connection closed", c->where, n, want);
    char *tab = strchr(p, '\t');   /* cut off extra fields */
    if (tab)
        *tab = '\0';
    for (size_t i = 0; i < want; i++)
        if (strcmp(fields[i], "-") == 0)
            fields[i] = empty;
    return 0;
}

typedef int (*fill_row)(void *row, char **fields);

/* The rows of a DATA answer as one block: the array of rows, then their
 * text, so nslock_free() frees both. */
static int read_rows(nslock *c, double deadline, size_t nfields, size_t row_size,
                     fill_row fill, void **out, size_t *count, nslock_error *err)
{
    size_t n;
    *out = NULL;
    *count = 0;
    if (read_data_header(c, deadline, &n, err) < 0)
        return -1;
    /* gather the lines first: the row array's size must be known before the text */
    char *text = NULL;
    size_t tlen = 0, tcap = 0;
    for (size_t i = 0; i < n; i++) {
        char *line;
        size_t len;
        if (nsl_client_read_line(c, nsl_client_deadline(c, 0), &line, &len, err) < 0)
            goto fail;
        if (tlen + len + 1 > tcap) {
            size_t cap = tcap ? tcap : 4096;
            while (cap < tlen + len + 1)
                cap *= 2;
            char *bigger = realloc(text, cap);
            if (bigger == NULL) {
                nsl_client_fail_close(c, err, NSLOCK_E_NOMEM,
                                      "out of memory reading an answer; connection closed");
                goto fail;
            }
            text = bigger;
            tcap = cap;
        }
        memcpy(text + tlen, line, len + 1);
        tlen += len + 1;
    }
    size_t rows_bytes = (n * row_size + 15) & ~(size_t)15;
    char *block = malloc(rows_bytes + tlen + 1);
    if (block == NULL) {
        nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory for %zu rows", n);
        goto fail;
    }
    if (tlen)
        memcpy(block + rows_bytes, text, tlen);
    free(text);
    char *line = block + rows_bytes;
    char *fields[16] = {0};
    for (size_t i = 0; i < n; i++) {
        char *next = line + strlen(line) + 1;
        if (split_fields(c, line, fields, nfields, err) < 0 || fill(block + i * row_size, fields) < 0) {
            if (c->fd >= 0)
                nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                      "a malformed line from %s; connection closed", c->where);
            free(block);
            return -1;
        }
        line = next;
    }
    *out = block;
    *count = n;
    nsl_client_ok(err);
    return 0;
fail:
    free(text);
    return -1;
}

/* ---- resolve ------------------------------------------------------------------ */

static int fill_resolution(void *row, char **f)
{
    nslock_resolution *r = row;
    r->database = f[0];
    r->directory = f[1];
    r->rule = f[2];
    r->mapping = f[3];
    return 0;
}

static int do_resolve(nslock *c, const char *name, nslock_resolution **rows, size_t *count,
                      nslock_error *err)
{
    *rows = NULL;
    *count = 0;
    if (usable(c, err) < 0 || nsl_client_check_name(name, err) < 0)
        return -1;
    nsl_client_req_str(c, "RESOLVE ");
    nsl_client_req_str(c, name);
    if (nsl_client_req_end(c, err) < 0)
        return -1;
    double deadline = nsl_client_deadline(c, 0);
    if (nsl_client_send(c, deadline, err) < 0)
        return -1;
    return read_rows(c, deadline, 4, sizeof(nslock_resolution), fill_resolution,
                     (void **)rows, count, err);
}

/* ---- show --------------------------------------------------------------------- */

static int fill_entry(void *row, char **f)
{
    nslock_entry *e = row;
    uint64_t pid = 0;
    e->database = f[0];
    e->directory = f[1];
    if (!nsl_client_parse_u64(f[2], &e->owner))
        return -1;
    if (*f[3] && !nsl_client_parse_u64(f[3], &pid))
        return -1;
    e->pid = (long)pid;
    e->client = f[4];
    e->mode = f[5];
    e->name = f[6];
    e->namespace_name = f[7];
    e->since = f[8];
    e->token = 0;
    if (*f[9] && !nsl_client_parse_u64(f[9], &e->token))
        return -1;
    e->waiting = strncmp(e->mode, "Wait", 4) == 0;
    e->blockers = f[10];
    return 0;
}

static int send_show_rest(nslock *c, const nslock_show_filter *f, double *deadline,
                          nslock_error *err);

/* SHOW, its json and columns=, sort= and waiters words, then the filters. */
static int send_show_more(nslock *c, const nslock_show_filter *f, const nslock_show_more *m,
                          bool json, double *deadline, nslock_error *err)
{
    if (usable(c, err) < 0)
        return -1;
    if (m && ((m->columns && nsl_client_check_word("columns", m->columns, err) < 0)
              || (m->sort && nsl_client_check_word("sort", m->sort, err) < 0)))
        return -1;
    nsl_client_req_str(c, json ? "SHOW json" : "SHOW");
    if (json && m && m->columns)
        nsl_client_req_fmt(c, " columns=%s", m->columns);
    if (m && m->sort)
        nsl_client_req_fmt(c, " sort=%s", m->sort);
    if (m && m->waiters_only)
        nsl_client_req_str(c, " waiters");
    return send_show_rest(c, f, deadline, err);
}

static int send_show(nslock *c, const nslock_show_filter *f, double *deadline,
                     nslock_error *err)
{
    return send_show_more(c, f, NULL, false, deadline, err);
}

/* The filters of SHOW after its first words, and the sending. */
static int send_show_rest(nslock *c, const nslock_show_filter *f, double *deadline,
                          nslock_error *err)
{
    if (f) {
        if ((f->database && nsl_client_check_word("database", f->database, err) < 0)
            || (f->namespace_name && nsl_client_check_word("namespace", f->namespace_name, err) < 0))
            return -1;
        if (f->name_prefix && strpbrk(f->name_prefix, "\r\n"))
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "a line break in the name prefix");
        if (f->pid < 0)
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "negative pid %ld", f->pid);
        if (f->database)
            nsl_client_req_fmt(c, " database=%s", f->database);
        if (f->namespace_name)
            nsl_client_req_fmt(c, " namespace=%s", f->namespace_name);
        if (f->owner)
            nsl_client_req_fmt(c, " owner=%llu", (unsigned long long)f->owner);
        if (f->pid)
            nsl_client_req_fmt(c, " pid=%ld", f->pid);
        if (f->no_waiters)
            nsl_client_req_str(c, " nowaiters");
        /* last, as a name may hold blanks inside its strings */
        if (f->name_prefix && *f->name_prefix) {
            nsl_client_req_str(c, " name=");
            nsl_client_req_str(c, f->name_prefix);
        }
    }
    if (nsl_client_req_end(c, err) < 0)
        return -1;
    *deadline = nsl_client_deadline(c, 0);
    return nsl_client_send(c, *deadline, err);
}

static int read_show_rows(nslock *c, double deadline, nslock_entry **rows, size_t *count,
                         nslock_error *err)
{
    return read_rows(c, deadline, 11, sizeof(nslock_entry), fill_entry, (void **)rows, count,
                     err);
}

/* The n lines of a DATA answer, each handed to write with its '\n'. */
static int relay_lines(nslock *c, size_t n, int (*write)(void *arg, const char *text, size_t len),
                       void *arg, const char *what, nslock_error *err)
{
    bool refused = false;
    for (size_t i = 0; i < n; i++) {
        char *line;
        size_t len;
        if (nsl_client_read_line(c, nsl_client_deadline(c, 0), &line, &len, err) < 0)
            return -1;
        line[len] = '\n';         /* the reader's buffer holds the line and its newline */
        if (!refused && write(arg, line, len + 1) != 0)
            refused = true;        /* the rest is read all the same: the answer must end */
        line[len] = '\0';
    }
    if (refused)
        return nsl_client_fail(err, NSLOCK_E_IO, "the JSON of %s could not be written", what);
    nsl_client_ok(err);
    return 0;
}

static int do_show_json(nslock *c, const nslock_show_filter *filter,
                        const nslock_show_more *more,
                        int (*write)(void *arg, const char *text, size_t len), void *arg,
                        nslock_error *err)
{
    double deadline;
    size_t n;
    if (send_show_more(c, filter, more, true, &deadline, err) < 0
        || read_data_header(c, deadline, &n, err) < 0)
        return -1;
    return relay_lines(c, n, write, arg, "SHOW", err);
}

/* STATS json: the server's own document of its counters and its place in
 * a cluster (the one /api/stats serves). */
static int do_stats_json(nslock *c, int (*write)(void *arg, const char *text, size_t len),
                         void *arg, nslock_error *err)
{
    if (usable(c, err) < 0)
        return -1;
    nsl_client_req_str(c, "STATS json");
    double deadline = nsl_client_deadline(c, 0);
    long long awaited = c->awaited;   /* what the last SHOW said, not this */
    size_t n;
    int rc = nsl_client_req_end(c, err) < 0 || nsl_client_send(c, deadline, err) < 0
             || read_data_header(c, deadline, &n, err) < 0;
    c->awaited = awaited;
    return rc ? -1 : relay_lines(c, n, write, arg, "STATS", err);
}

int nslock_stats_json(nslock *c, int (*write)(void *arg, const char *text, size_t len),
                      void *arg, nslock_error *err)
{
    /* not sent again: the lines already written cannot be taken back */
    if (c == NULL)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no connection (NULL handle)");
    pthread_mutex_lock(&c->mu);
    int rc = do_stats_json(c, write, arg, err);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int do_show_ex(nslock *c, const nslock_show_filter *filter, const nslock_show_more *more,
                      nslock_entry **rows, size_t *count, nslock_error *err)
{
    double deadline;
    *rows = NULL;
    *count = 0;
    if (send_show_more(c, filter, more, false, &deadline, err) < 0)
        return -1;
    return read_show_rows(c, deadline, rows, count, err);
}

static int do_show(nslock *c, const nslock_show_filter *filter, nslock_entry **rows,
                   size_t *count, nslock_error *err)
{
    return do_show_ex(c, filter, NULL, rows, count, err);
}

static int do_show_begin(nslock *c, const nslock_show_filter *filter, size_t *count,
                         nslock_error *err)
{
    double deadline;
    size_t n;
    if (send_show(c, filter, &deadline, err) < 0 || read_data_header(c, deadline, &n, err) < 0)
        return -1;
    c->show_left = n;
    if (count)
        *count = n;
    nsl_client_ok(err);
    return 0;
}

static int do_show_next(nslock *c, nslock_entry *row, nslock_error *err)
{
    char *line, *fields[11];
    size_t len;
    if (c->show_cut) {
        c->show_cut = false;
        return nsl_client_fail(err, NSLOCK_E_IO, "the connection to %s was lost in the middle "
                               "of SHOW (the session's locks were recovered)", c->where);
    }
    if (c->fd < 0)
        return usable(c, err);
    if (c->show_left == 0) {
        nsl_client_ok(err);
        return 0;
    }
    if (nsl_client_read_line(c, nsl_client_deadline(c, 0), &line, &len, err) < 0)
        return -1;
    c->show_left--;
    if (split_fields(c, line, fields, 11, err) < 0)
        return -1;
    if (fill_entry(row, fields) < 0)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "a malformed SHOW line from %s; connection closed",
                                     c->where);
    nsl_client_ok(err);
    return 1;
}

/* ---- namespaces ---------------------------------------------------------------- */

static int fill_namespace(void *row, char **f)
{
    nslock_namespace_info *n = row;
    n->name = f[0];
    n->globals = f[1];
    return 0;
}

static int do_namespaces_list(nslock *c, nslock_namespace_info **rows, size_t *count,
                              nslock_error *err)
{
    *rows = NULL;
    *count = 0;
    if (usable(c, err) < 0)
        return -1;
    nsl_client_req_str(c, "NAMESPACES");
    if (nsl_client_req_end(c, err) < 0)
        return -1;
    double deadline = nsl_client_deadline(c, 0);
    if (nsl_client_send(c, deadline, err) < 0)
        return -1;
    return read_rows(c, deadline, 2, sizeof(nslock_namespace_info), fill_namespace,
                     (void **)rows, count, err);
}

/* ---- config ------------------------------------------------------------------- */

static int do_config_text(nslock *c, nslock_config_source **out, nslock_error *err)
{
    *out = NULL;
    if (usable(c, err) < 0)
        return -1;
    nsl_client_req_str(c, "CONFIG");
    if (nsl_client_req_end(c, err) < 0)
        return -1;
    double deadline = nsl_client_deadline(c, 0);
    size_t n;
    if (nsl_client_send(c, deadline, err) < 0 || read_data_header(c, deadline, &n, err) < 0)
        return -1;
    if (n == 0)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "an empty CONFIG answer from %s; connection closed",
                                     c->where);
    /* the struct, then the file name's line, then the text's lines */
    size_t cap = sizeof **out + 4096, used = sizeof **out, file_end = 0;
    char *block = malloc(cap);
    for (size_t i = 0; block && i < n; i++) {
        char *line;
        size_t len;
        if (nsl_client_read_line(c, nsl_client_deadline(c, 0), &line, &len, err) < 0) {
            free(block);
            return -1;
        }
        if (used + len + 2 > cap) {
            while (used + len + 2 > cap)
                cap *= 2;
            char *bigger = realloc(block, cap);
            if (bigger == NULL) {
                free(block);
                block = NULL;
                break;
            }
            block = bigger;
        }
        memcpy(block + used, line, len);
        used += len;
        block[used++] = i == 0 ? '\0' : '\n';
        if (i == 0)
            file_end = used;
    }
    if (block == NULL)
        return nsl_client_fail_close(c, err, NSLOCK_E_NOMEM,
                                     "out of memory reading an answer; connection closed");
    block[used] = '\0';
    nslock_config_source *src = (nslock_config_source *)block;
    src->file = block + sizeof *src;
    src->text = block + file_end;
    src->len = used - file_end;
    *out = src;
    nsl_client_ok(err);
    return 0;
}

/* ---- stats -------------------------------------------------------------------- */

static int fill_stat(void *row, char **f)
{
    nslock_stat *s = row;
    s->key = f[0];
    return nsl_client_parse_u64(f[1], &s->value) ? 0 : -1;
}

static int do_stats_list(nslock *c, nslock_stat **items, size_t *count, nslock_error *err)
{
    *items = NULL;
    *count = 0;
    if (usable(c, err) < 0)
        return -1;
    nsl_client_req_str(c, "STATS");
    if (nsl_client_req_end(c, err) < 0)
        return -1;
    double deadline = nsl_client_deadline(c, 0);
    if (nsl_client_send(c, deadline, err) < 0)
        return -1;
    return read_rows(c, deadline, 2, sizeof(nslock_stat), fill_stat, (void **)items, count,
                     err);
}

static int do_stats_get(nslock *c, nslock_stats *stats, nslock_error *err)
{
    static const struct {
        const char *key;
        size_t offset;
    } known[] = {
#define STAT_FIELD_(f) {#f, offsetof(nslock_stats, f)}
        STAT_FIELD_(entries), STAT_FIELD_(max_entries), STAT_FIELD_(sessions),
        STAT_FIELD_(waiters), STAT_FIELD_(grants), STAT_FIELD_(escalations),
        STAT_FIELD_(deadlocks), STAT_FIELD_(timeouts), STAT_FIELD_(table_full_episodes),
        STAT_FIELD_(epoch), STAT_FIELD_(recovering), STAT_FIELD_(recovery_awaited),
        STAT_FIELD_(registry_syncs),
#undef STAT_FIELD_
    };
    nslock_stat *items;
    size_t n;
    memset(stats, 0, sizeof *stats);
    if (do_stats_list(c, &items, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (strcmp(items[i].key, known[k].key) == 0)
                memcpy((char *)stats + known[k].offset, &items[i].value, sizeof(uint64_t));
    nslock_free(items);
    return 0;
}

/* ---- remove ------------------------------------------------------------------- */

static int do_remove(nslock *c, const nslock_remove_filter *f, uint64_t *removed,
                     nslock_error *err)
{
    const char *rest;
    uint64_t n;
    if (usable(c, err) < 0)
        return -1;
    if (f == NULL || (!f->owner && !f->pid && !f->database && !f->name))
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT,
                               "REMOVE needs at least one of owner, pid, database, name");
    if (f->pid < 0)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "negative pid %ld", f->pid);
    if ((f->database && nsl_client_check_word("database", f->database, err) < 0)
        || (f->name && nsl_client_check_name(f->name, err) < 0))
        return -1;
    nsl_client_req_str(c, "REMOVE");
    if (f->owner)
        nsl_client_req_fmt(c, " owner=%llu", (unsigned long long)f->owner);
    if (f->pid)
        nsl_client_req_fmt(c, " pid=%ld", f->pid);
    if (f->database)
        nsl_client_req_fmt(c, " database=%s", f->database);
    if (f->name) {
        nsl_client_req_str(c, " name=");
        nsl_client_req_str(c, f->name);
    }
    if (request(c, 0, &rest, err) < 0)
        return -1;
    if (!nsl_client_parse_u64(rest, &n))
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "unexpected answer to REMOVE from %s: 'OK %.60s'; "
                                     "connection closed", c->where, rest);
    /* it may have taken this session's own entries: the server is not
     * asked to tell the remover, so the mirror asks it */
    if (!f->owner || f->owner == c->session)
        c->resync_pending = true;
    if (removed)
        *removed = n;
    nsl_client_ok(err);
    return 0;
}

/* ---- the public calls of the reading side ------------------------------------------ */

int nslock_resolve(nslock *c, const char *name, nslock_resolution **rows, size_t *count,
                   nslock_error *err)
{
    API_CALL(c, err, do_resolve(c, name, rows, count, &e_));
}

int nslock_show(nslock *c, const nslock_show_filter *filter, nslock_entry **rows,
                size_t *count, nslock_error *err)
{
    API_CALL(c, err, do_show(c, filter, rows, count, &e_));
}

int nslock_show_ex(nslock *c, const nslock_show_filter *filter, const nslock_show_more *more,
                   nslock_entry **rows, size_t *count, nslock_error *err)
{
    API_CALL(c, err, do_show_ex(c, filter, more, rows, count, &e_));
}

int nslock_show_json(nslock *c, const nslock_show_filter *filter, const nslock_show_more *more,
                     int (*write)(void *arg, const char *text, size_t len), void *arg,
                     nslock_error *err)
{
    /* not sent again: the lines already written cannot be taken back */
    if (c == NULL)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no connection (NULL handle)");
    pthread_mutex_lock(&c->mu);
    int rc = do_show_json(c, filter, more, write, arg, err);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int nslock_show_begin(nslock *c, const nslock_show_filter *filter, size_t *count,
                      nslock_error *err)
{
    API_CALL(c, err, do_show_begin(c, filter, count, &e_));
}

/* Not sent again: the rows already read cannot be taken back. */
int nslock_show_next(nslock *c, nslock_entry *row, nslock_error *err)
{
    if (c == NULL)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no connection (NULL handle)");
    pthread_mutex_lock(&c->mu);
    int rc = do_show_next(c, row, err);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int nslock_namespaces_list(nslock *c, nslock_namespace_info **rows, size_t *count,
                           nslock_error *err)
{
    API_CALL(c, err, do_namespaces_list(c, rows, count, &e_));
}

int nslock_config_text(nslock *c, nslock_config_source **out, nslock_error *err)
{
    API_CALL(c, err, do_config_text(c, out, &e_));
}

int nslock_stats_list(nslock *c, nslock_stat **items, size_t *count, nslock_error *err)
{
    API_CALL(c, err, do_stats_list(c, items, count, &e_));
}

int nslock_stats_get(nslock *c, nslock_stats *stats, nslock_error *err)
{
    API_CALL(c, err, do_stats_get(c, stats, &e_));
}

/* REMOVE is not sent again after a recovery: the caller decides. */
int nslock_remove(nslock *c, const nslock_remove_filter *f, uint64_t *removed,
                  nslock_error *err)
{
    if (c == NULL)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no connection (NULL handle)");
    pthread_mutex_lock(&c->mu);
    int rc = do_remove(c, f, removed, err);
    pthread_mutex_unlock(&c->mu);
    return rc;
}
