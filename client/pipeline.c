/* client/pipeline.c — answers owed: asynchronous unlocks and pipelined
 * requests (docs/CLIENT.md "Pipelining and the asynchronous unlock").
 *
 * A request whose answer the caller does not wait for is written at once
 * and remembered here, in the order sent, until its answer is read. The
 * server answers in order, so the answers owed come before the answer of
 * any request sent after them: every call that reads an answer reads these
 * first (nsl_owed_drain). An asynchronous unlock's answer is checked by the
 * library, and a failure is kept for the next call to report; a pipelined
 * request's answer is kept for nslock_pipeline_result.
 *
 * The request text is kept too: after a reconnect the requests the server
 * never received are sent again (RESUME says how many it had, a restarted
 * server had none), so that nothing owed is lost with a connection.
 *
 * Mirror: an unlock (LOCK -) leaves the mirror when it is sent, so that a
 * recovery in between never reclaims what the program released; anything
 * else is mirrored when its answer is read, as a synchronous call does.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

size_t nsl_owed_unanswered(const nslock *c)
{
    return c->owed_count - c->owed_answered;
}

/* Entry i, answered, leaves the queue. */
static void owed_remove(nslock *c, size_t i)
{
    free(c->owed[i].text);
    memmove(&c->owed[i], &c->owed[i + 1], (c->owed_count - i - 1) * sizeof c->owed[0]);
    c->owed_count--;
    if (i < c->owed_answered)
        c->owed_answered--;
}

void nsl_owed_clear(nslock *c)
{
    for (size_t i = 0; i < c->owed_count; i++)
        free(c->owed[i].text);
    c->owed_count = c->owed_answered = 0;
    c->has_deferred = false;
}

/* The owed request parsed again into c->owed_cmd (c->cmd may be in use by
 * the call that reads this answer); *a is NULL for the bare LOCK. */
static bool parse_owed(nslock *c, const nsl_owed *o, const nsl_lock_arg **a)
{
    nsl_error perr;
    if (nsl_lock_command_parse(o->text, o->len - 1, &c->owed_cmd, &perr) != NSL_OK)
        return false;       /* cannot happen: it was parsed before it was sent */
    *a = c->owed_cmd.arg_count ? &c->owed_cmd.args[0] : NULL;
    return true;
}

/* What an answer means for its request: the mirror learns it, an
 * asynchronous unlock's failure is kept for the next call, a pipelined
 * request keeps its result. Entry i has just been answered. */
static void settle(nslock *c, size_t i, int rc, const nslock_outcome *got, const nslock_error *e)
{
    nsl_owed *o = &c->owed[i];
    const nsl_lock_arg *a = NULL;
    bool parsed = parse_owed(c, o, &a);
    bool unlock = parsed && a && a->op == NSL_OP_REMOVE;
    if (parsed && !unlock)
        nsl_mirror_apply(&c->mirror, o->ns, &c->owed_cmd, a,
                         rc == 0 ? NSL_OK : nsl_client_server_code(e), got->test, got->token);
    if (!o->async_unlock) {
        o->answered = true;
        o->rc = rc;
        o->outcome = *got;
        o->error = *e;
        return;
    }
    if (rc < 0 && !c->has_deferred) {
        /* the first failure is reported; it names the unlock, without its '\n' */
        c->has_deferred = true;
        c->deferred = *e;
        int name_len = (int)(o->len > 7 ? o->len - 7 : 0);
        snprintf(c->deferred.message, sizeof c->deferred.message, "unlock of %.*s: %.*s",
                 name_len > 200 ? 200 : name_len, o->text + 6,
                 (int)sizeof c->deferred.message - 220, e->message);
    }
    owed_remove(c, i);
}

/* Reads the answer of the oldest request owed. -1 when the connection
 * failed or the answer broke the protocol (err set). */
int nsl_owed_drain_one(nslock *c, nslock_error *err)
{
    size_t i = c->owed_answered;
    char *line;
    size_t len;
    if (nsl_client_read_line(c, nsl_client_deadline(c, c->owed[i].wait), &line, &len, err) < 0)
        return -1;
    c->answers++;
    nslock_outcome got = {.test = -1, .token = 0};
    nslock_error e;
    int rc;
    if (len >= 4 && memcmp(line, "ERR ", 4) == 0)
        rc = nsl_client_answer_error(c, &e, line + 4);
    else if (len >= 2 && line[0] == 'O' && line[1] == 'K' && (line[2] == '\0' || line[2] == ' '))
        rc = nsl_client_lock_outcome(c, line[2] ? line + 3 : line + 2, &got, &e);
    else
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "unexpected answer to a pipelined request from %s: "
                                     "'%.60s'; connection closed", c->where, line);
    if (rc < 0 && c->fd < 0) {     /* a malformed OK closed the connection */
        *err = e;
        return -1;
    }
    if (rc == 0)
        nsl_client_ok(&e);
    c->owed_answered++;
    settle(c, i, rc, &got, &e);
    return 0;
}

int nsl_owed_drain(nslock *c, nslock_error *err)
{
    while (nsl_owed_unanswered(c))
        if (nsl_owed_drain_one(c, err) < 0)
            return -1;
    return 0;
}

/* Whether an answer can be read without waiting for the server. */
static bool answer_ready(nslock *c)
{
    if (c->replay_at < c->replay_len || memchr(c->rbuf + c->rpos, '\n', c->rlen - c->rpos))
        return true;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return c->fd >= 0 && poll(&p, 1, 0) > 0;
}

int nsl_owed_drain_ready(nslock *c, nslock_error *err)
{
    while (nsl_owed_unanswered(c) && answer_ready(c))
        if (nsl_owed_drain_one(c, err) < 0)
            return -1;
    return 0;
}

int nsl_owed_take_deferred(nslock *c, nslock_error *err)
{
    if (!c->has_deferred)
        return 0;
    c->has_deferred = false;
    if (err)
        *err = c->deferred;
    return -1;
}

int nsl_owed_send(nslock *c, double wait, bool async_unlock, bool hold, nslock_error *err)
{
    while (nsl_owed_unanswered(c) >= NSL_CLIENT_MAX_OWED)
        if (nsl_owed_drain_one(c, err) < 0)
            return -1;
    if (c->owed_count == c->owed_cap) {
        size_t cap = c->owed_cap ? c->owed_cap * 2 : 16;
        nsl_owed *bigger = realloc(c->owed, cap * sizeof *bigger);
        if (bigger == NULL)
            return nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory for a pipelined request");
        c->owed = bigger;
        c->owed_cap = cap;
    }
    char *text = malloc(c->wlen);
    if (text == NULL)
        return nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory for a pipelined request");
    memcpy(text, c->wbuf, c->wlen);
    int rc;
    if (hold && !c->resume_pending)
        rc = nsl_client_hold(c, err);
    else
        rc = nsl_client_send(c, nsl_client_deadline(c, wait), err);
    if (rc < 0) {
        free(text);
        return -1;
    }
    nsl_owed *o = &c->owed[c->owed_count++];
    memset(o, 0, sizeof *o);
    o->text = text;
    o->len = c->wlen;
    o->wait = wait;
    o->async_unlock = async_unlock;
    snprintf(o->ns, sizeof o->ns, "%s", c->ns);
    const nsl_lock_arg *a = NULL;
    if (parse_owed(c, o, &a) && a && a->op == NSL_OP_REMOVE)
        /* released when sent: a recovery before the answer must not reclaim it */
        nsl_mirror_apply(&c->mirror, o->ns, &c->owed_cmd, a, NSL_OK, -1, 0);
    else
        c->ever_held = true;    /* the server registers the session at its first LOCK */
    return 0;
}

int nsl_owed_resend(nslock *c, size_t covered, nslock_error *err)
{
    size_t from = c->owed_answered + covered, bytes = 0;
    for (size_t i = from; i < c->owed_count; i++)
        bytes += c->owed[i].len;
    if (bytes == 0)
        return 0;
    char *all = malloc(bytes);
    if (all == NULL)
        return nsl_client_fail_close(c, err, NSLOCK_E_IO, "out of memory sending the "
                                     "pipelined requests again; connection closed");
    size_t at = 0;
    for (size_t i = from; i < c->owed_count; i++) {
        memcpy(all + at, c->owed[i].text, c->owed[i].len);
        at += c->owed[i].len;
    }
    int rc = nsl_client_send_raw(c, all, bytes, nsl_client_deadline(c, 0), err);
    free(all);
    return rc;
}

/* ---- the calls -------------------------------------------------------------------- */

/* The request built in c->wbuf, a LOCK command of at most one argument,
 * goes out (or is held back for the next write) with its answer owed. */
static int send_owed(nslock *c, double wait, bool async_unlock, bool hold, nslock_error *err)
{
    nsl_error perr;
    if (nsl_client_req_end(c, err) < 0)
        return -1;
    if (nsl_lock_command_parse(c->wbuf, c->wlen - 1, &c->owed_cmd, &perr) != NSL_OK)
        return nsl_client_fail(err, NSLOCK_E_SYNTAX, "'%.*s': %s", (int)(c->wlen - 1), c->wbuf,
                               perr.message);
    if (c->owed_cmd.arg_count > 1)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "'%.*s' has %zu arguments: a pipelined "
                               "command has one (its answer says what it did)",
                               (int)(c->wlen - 1), c->wbuf, c->owed_cmd.arg_count);
    if (nsl_owed_send(c, wait, async_unlock, hold, err) < 0)
        return -1;
    nsl_client_ok(err);
    return 0;
}

static int unlock_owed(nslock *c, const char *name, unsigned types, bool async_unlock,
                       bool hold, nslock_error *err)
{
    if (nsl_client_usable(c, false, err) < 0 || nsl_client_req_unlock(c, name, types, err) < 0)
        return -1;
    return send_owed(c, 0, async_unlock, hold, err);
}

int nslock_unlock_async(nslock *c, const char *name, unsigned types, nslock_error *err)
{
    API_CALL(c, err, unlock_owed(c, name, types, true, false, &e_));
}

int nslock_unlock_flags(nslock *c, const char *name, unsigned types, unsigned flags,
                        nslock_error *err)
{
    if (flags & ~(unsigned)(NSLOCK_ASYNC | NSLOCK_DEFER))
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "unknown unlock flags 0x%x", flags);
    if (!(flags & NSLOCK_ASYNC))
        return nslock_unlock(c, name, types, err);
    API_CALL(c, err, unlock_owed(c, name, types, true, (flags & NSLOCK_DEFER) != 0, &e_));
}

/* Pipelined requests are held back until something reads (or nslock_flush):
 * a batch is one write. */
int nslock_pipeline_unlock(nslock *c, const char *name, unsigned types, nslock_error *err)
{
    API_CALL(c, err, unlock_owed(c, name, types, false, true, &e_));
}

static int lock_owed(nslock *c, const char *name, unsigned types, double timeout,
                     nslock_error *err)
{
    if (nsl_client_usable(c, false, err) < 0 || nsl_client_check_name(name, err) < 0)
        return -1;
    nsl_client_req_str(c, "LOCK +");
    nsl_client_req_str(c, name);
    if (nsl_client_req_types(c, types, err) < 0 || nsl_client_req_timeout(c, timeout, err) < 0)
        return -1;
    return send_owed(c, timeout < 0 || timeout > 1e9 ? -1 : timeout, false, true, err);
}

int nslock_pipeline_lock(nslock *c, const char *name, unsigned types, double timeout,
                         nslock_error *err)
{
    API_CALL(c, err, lock_owed(c, name, types, timeout, &e_));
}

static int command_owed(nslock *c, const char *command, nslock_error *err)
{
    double wait;
    if (nsl_client_usable(c, false, err) < 0 || nsl_client_command_wait(command, &wait, err) < 0)
        return -1;
    nsl_client_req_str(c, command);
    return send_owed(c, wait, false, true, err);
}

int nslock_pipeline_command(nslock *c, const char *command, nslock_error *err)
{
    API_CALL(c, err, command_owed(c, command, &e_));
}

/* The oldest pipelined result: read (with the answers owed before it) if
 * it has not come yet. *stored: the result returned is the request's own
 * (a server error in it is not the connection's, so nothing is recovered). */
static int pipeline_result(nslock *c, nslock_outcome *out, bool *stored, nslock_error *err)
{
    *stored = false;
    if (nsl_client_usable(c, false, err) < 0)
        return -1;
    for (;;) {
        if (nsl_owed_take_deferred(c, err) < 0)
            return -1;
        if (c->owed_count == 0)
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no pipelined request is owed an "
                                   "answer");
        nsl_owed *o = &c->owed[0];
        if (o->answered) {
            int rc = o->rc;
            if (out)
                *out = o->outcome;
            if (err)
                *err = o->error;
            owed_remove(c, 0);
            *stored = true;
            return rc;
        }
        if (nsl_owed_drain_one(c, err) < 0)
            return -1;
    }
}

int nslock_pipeline_result(nslock *c, nslock_outcome *out, nslock_error *err)
{
    if (c == NULL)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no connection (NULL handle)");
    nslock_error e;
    bool stored;
    int rc;
    pthread_mutex_lock(&c->mu);
    /* a lost connection is recovered (what was owed is sent again or
     * replayed), and the answer read from the new one */
    while ((rc = pipeline_result(c, out, &stored, &e)) < 0 && !stored
           && nsl_client_should_recover(c, &e) && nsl_client_recover(c, &e) == 0)
        ;
    pthread_mutex_unlock(&c->mu);
    if (err)
        *err = e;
    return rc;
}

size_t nslock_pipeline_owed(nslock *c)
{
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    size_t n = 0;
    for (size_t i = 0; i < c->owed_count; i++)
        n += !c->owed[i].async_unlock;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static int flush(nslock *c, nslock_error *err)
{
    if (nsl_client_usable(c, false, err) < 0)
        return -1;
    if (c->wpend_len && nsl_client_flush(c, nsl_client_deadline(c, 0), err) < 0)
        return -1;
    nsl_client_ok(err);
    return 0;
}

int nslock_flush(nslock *c, nslock_error *err)
{
    API_CALL(c, err, flush(c, &e_));
}

int nslock_sync(nslock *c, nslock_error *err)
{
    API_CALL(c, err, nsl_client_usable(c, true, &e_));
}
