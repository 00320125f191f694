/* server/recovery.c — no lock lost or double-granted across a restart
 * (docs/DESIGN.md "Restart recovery").
 *
 * Two halves. Registration: before a session is granted anything it is
 * durable in the registry. Its first LOCK that takes locks is held back
 * until the next batch is written; every session that asked in the same
 * loop turn shares that batch's one fdatasync (a uv_check handle writes it
 * after the turn's I/O). A batch that cannot be written answers its
 * requests ERR IO: nothing is granted that is not registered.
 *
 * Recovery: a server that starts with a non-empty registry holds every
 * grant (the engine queues lock requests, timeouts running) while the
 * registered sessions come back with RECLAIM SESSION, RECLAIM per lock and
 * RECLAIM DONE. It ends when all have said DONE or the grace runs out;
 * then the registry is rewritten with the sessions that came back, and only
 * after that is durable are the queued requests served.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <nettle/memops.h>

#include "server/coord.h"
#include "server/server_internal.h"

typedef struct awaited {
    UT_hash_handle hh;
    nsl_registered rec;
    nsl_session *by;                 /* the session reclaiming it now, or NULL */
    bool done;                       /* said RECLAIM DONE */
} awaited;

struct nsl_recovery {
    uv_timer_t grace;                /* first: the close callback frees the whole */
    awaited *sessions;               /* every session of the old registry */
    size_t waiting_for;              /* of them, not done */
    size_t reclaimed_locks, conflicts;  /* for the log line at the end */
    uint64_t started;
};

bool nsl_recovery_active(const nsl_server *srv)
{
    return srv->recovery != NULL;
}

size_t nsl_recovery_awaited(const nsl_server *srv)
{
    return srv->recovery ? srv->recovery->waiting_for : 0;
}

/* ---- registration ---------------------------------------------------------------- */

static void session_record(const nsl_session *s, nsl_registered *rec)
{
    rec->session = s->owner;
    nsl_secret_hash(s->secret, rec->hash);
}

static void on_commit_check(uv_check_t *h);

/* The log holds a record per session that ever registered and one per
 * session that left: rewritten with the live ones once it is mostly dead
 * weight (never while recovering: the old sessions are awaited). */
static void maybe_compact(nsl_server *srv)
{
    nsl_state *st = &srv->state;
    if (srv->coord || srv->recovery || st->registry_lines < 4096 || st->registry_lines < 4 * srv->registered_count)
        return;
    nsl_registered *recs = malloc((srv->registered_count + 1) * sizeof *recs);
    if (!recs)
        abort();
    size_t n = 0;
    for (nsl_session *s = srv->sessions; s; s = s->next)
        if (s->registered && !s->ended && n < srv->registered_count)
            session_record(s, &recs[n++]);
    nsl_state_rewrite_registry(st, recs, n);
    free(recs);
}

void nsl_recovery_register(nsl_session *s, const char *line, size_t len)
{
    nsl_server *srv = s->srv;
    s->held_line = malloc(len ? len : 1);
    if (!s->held_line) {
        nsl_out_err(s, NSL_NOMEM, NULL);
        return;
    }
    memcpy(s->held_line, line, len);
    s->held_len = len;
    s->registering = true;
    s->waiting = true;               /* what arrives meanwhile queues behind it */
    s->lock_arrived_ns = uv_hrtime();   /* its wait for the LOCK's grant starts now */
    if (srv->registering_count == srv->registering_cap) {
        srv->registering_cap = srv->registering_cap ? 2 * srv->registering_cap : 16;
        srv->registering = realloc(srv->registering, srv->registering_cap * sizeof *srv->registering);
        if (!srv->registering)
            abort();
    }
    srv->registering[srv->registering_count++] = s;
    if (!uv_is_active((uv_handle_t *)&srv->commit_check))
        uv_check_start(&srv->commit_check, on_commit_check);
}

bool nsl_recovery_commit_pending(const nsl_server *srv)
{
    return uv_is_active((const uv_handle_t *)&srv->commit_check);
}

/* A batch ZooKeeper has not confirmed yet (HA); the state directory's
 * batches are written and run within one loop turn. */
typedef struct nsl_reg_batch {
    struct nsl_reg_batch *next;
    nsl_server *srv;
    nsl_session **list;
    size_t count;
    size_t pending;                  /* answers still to come */
    bool ok;
} nsl_reg_batch;

/* Wherever a batch names old, it now names s (NULL: nobody). */
static void replace_registering(nsl_server *srv, nsl_session *old, nsl_session *s)
{
    for (size_t i = 0; i < srv->registering_count; i++)
        if (srv->registering[i] == old)
            srv->registering[i] = s;
    for (nsl_reg_batch *b = srv->reg_batches; b; b = b->next)
        for (size_t i = 0; i < b->count; i++)
            if (b->list[i] == old)
                b->list[i] = s;
}

void nsl_recovery_take_over(nsl_session *s, nsl_session *old)
{
    replace_registering(s->srv, old, s);
}

static void forget_registering(nsl_session *s)
{
    replace_registering(s->srv, s, NULL);
    free(s->held_line);
    s->held_line = NULL;
    s->registering = false;
    s->lock_arrived_ns = 0;
}

/* The held LOCKs of a batch run now that it is durable (or answer ERR IO). */
static void run_batch(nsl_server *srv, nsl_reg_batch *b)
{
    /* Their grants may register nobody else, but a session may end
     * meanwhile: the list is the batch's own. */
    for (size_t i = 0; i < b->count; i++) {
        nsl_session *s = b->list[i];
        if (!s)
            continue;
        char *line = s->held_line;
        size_t len = s->held_len;
        s->held_line = NULL;
        s->registering = false;
        s->waiting = false;
        if (!s->ended) {
            size_t from = s->out_len;
            if (b->ok) {
                s->registered = true;
                srv->registered_count++;
                nsl_protocol_handle(s, line, len);
            } else {
                s->lock_arrived_ns = 0;
                if (srv->coord)
                    nsl_out_errf(s, NSL_IO, "the session cannot be registered in ZooKeeper, "
                                 "so nothing can be granted to it");
                else
                    nsl_out_errf(s, NSL_IO, "the session cannot be registered in the state "
                                 "directory %s, so nothing can be granted to it",
                                 srv->state.dir);
            }
            if (!s->waiting)
                nsl_session_answered(s, from);
            nsl_session_make_ready(s);
        }
        free(line);
    }
    free(b->list);
    free(b);
    nsl_server_settle(srv);
}

static void on_batch_part(void *arg, bool ok)
{
    nsl_reg_batch *b = arg;
    b->ok &= ok;
    if (--b->pending > 0)
        return;
    nsl_server *srv = b->srv;
    for (nsl_reg_batch **p = &srv->reg_batches; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    run_batch(srv, b);
}

/* Once per loop turn: one batch, one fdatasync (or one round of ZooKeeper
 * writes), for every session that asked. */
static void on_commit_check(uv_check_t *h)
{
    nsl_server *srv = h->data;
    uv_check_stop(h);
    nsl_reg_batch *b = calloc(1, sizeof *b);
    nsl_registered *recs = malloc((srv->registering_count + 1) * sizeof *recs);
    if (!b || !recs)
        abort();
    b->srv = srv;
    b->list = srv->registering;
    b->count = srv->registering_count;
    b->ok = true;
    srv->registering = NULL;
    srv->registering_count = srv->registering_cap = 0;
    size_t n = 0;
    for (size_t i = 0; i < b->count; i++)
        if (b->list[i] && !b->list[i]->ended)
            session_record(b->list[i], &recs[n++]);
    if (srv->coord) {
        b->next = srv->reg_batches;
        srv->reg_batches = b;
        b->pending = n + 1;
        for (size_t i = 0; i < n; i++)
            nsl_ha_register(srv, &recs[i], on_batch_part, b);
        free(recs);
        on_batch_part(b, true);
        return;
    }
    b->ok = n == 0 || nsl_state_register(&srv->state, recs, n);
    free(recs);
    run_batch(srv, b);
}

/* ---- the grace ---------------------------------------------------------------------- */

static void free_recovery(uv_handle_t *grace)
{
    free(grace);                     /* the nsl_recovery it starts */
}

/* HA: the registry znodes of the sessions that did not come back are
 * being deleted; the held requests wait for that. */
typedef struct forgetting {
    nsl_server *srv;
    size_t pending;
    bool ok;
} forgetting;

static void serve_held(nsl_server *srv)
{
    /* Only now, with the new registry durable, are the held requests served. */
    nsl_engine_hold_grants(srv->engine, false, nsl_server_now(srv));
    nsl_server_settle(srv);
}

static void on_forgotten(void *arg, bool ok)
{
    forgetting *f = arg;
    f->ok &= ok;
    if (--f->pending > 0)
        return;
    nsl_server *srv = f->srv;
    bool ok_all = f->ok;
    free(f);
    if (!srv->ha_serving)
        return;                      /* stepped down meanwhile: nothing is served here */
    if (!ok_all) {
        /* A later leader would await sessions whose locks others hold now. */
        nsl_coord_resign(srv->coord, "cannot remove the lost sessions from the registry");
        return;
    }
    serve_held(srv);
}

static void recovery_end(nsl_server *srv, const char *why)
{
    nsl_recovery *r = srv->recovery;
    size_t total = HASH_COUNT(r->sessions), back = total - r->waiting_for;
    /* The sessions that came back (and those registered meanwhile) are the
     * new registry; the rest lost their locks. */
    forgetting *f = NULL;
    if (srv->coord) {
        f = calloc(1, sizeof *f);
        if (!f)
            abort();
        *f = (forgetting){.srv = srv, .pending = 1, .ok = true};
        awaited *a, *tmp;
        HASH_ITER(hh, r->sessions, a, tmp)
            if (!a->done) {
                f->pending++;
                nsl_ha_forget(srv, a->rec.session, on_forgotten, f);
            }
    } else {
        size_t n = 0;
        nsl_registered *recs = malloc((srv->session_count + 1) * sizeof *recs);
        if (!recs)
            abort();
        for (nsl_session *s = srv->sessions; s; s = s->next)
            if (s->registered && !s->ended)
                session_record(s, &recs[n++]);
        if (!nsl_state_rewrite_registry(&srv->state, recs, n))
            nsl_log(NSL_LOG_WARN, "recovery: the old registry stays in place (it still names "
                    "every session that holds locks)");
        free(recs);
    }

    char lost[256] = "";
    size_t lost_len = 0, lost_count = 0;
    awaited *a, *tmp;
    HASH_ITER(hh, r->sessions, a, tmp) {
        if (!a->done) {
            lost_count++;
            if (lost_len + 16 < sizeof lost)
                lost_len += (size_t)snprintf(lost + lost_len, sizeof lost - lost_len, "%s%" PRIu32,
                                             lost_len ? ", " : "", a->rec.session);
            if (a->by)
                a->by->reclaiming = false;  /* too late: its next RECLAIM gets LOST */
        }
        HASH_DEL(r->sessions, a);
        free(a);
    }
    uint64_t ms = nsl_server_now(srv) - r->started;
    if (lost_count)
        nsl_log(NSL_LOG_WARN, "recovery ended (%s) after %" PRIu64 " ms: %zu of %zu sessions "
                "reclaimed %zu locks; session%s %s%s did not come back and lost theirs", why, ms,
                back, total, r->reclaimed_locks, lost_count == 1 ? "" : "s", lost,
                lost_len + 16 >= sizeof lost ? ", ..." : "");
    else
        nsl_log(r->conflicts ? NSL_LOG_WARN : NSL_LOG_INFO, "recovery ended (%s) after %" PRIu64
                " ms: %zu of %zu sessions reclaimed %zu locks, %zu reclaims refused as conflicts",
                why, ms, back, total, r->reclaimed_locks, r->conflicts);
    uv_close((uv_handle_t *)&r->grace, free_recovery);
    srv->recovery = NULL;
    if (f)
        on_forgotten(f, true);
    else
        serve_held(srv);
}

static void await_sessions(nsl_server *srv, nsl_registered *recs, size_t count);

static void on_grace(uv_timer_t *t)
{
    nsl_server *srv = t->loop->data;
    if (srv->recovery)
        recovery_end(srv, "the grace period passed");
}

bool nsl_recovery_start(nsl_server *srv, const char *state_dir, uint64_t *first_token,
                        nsl_owner_id *max_session)
{
    char legacy[sizeof srv->socket_path + 16];
    snprintf(legacy, sizeof legacy, "%s.tokens", srv->socket_path);
    nsl_registered *recs;
    size_t count;
    if (!nsl_state_open(&srv->state, state_dir, legacy, first_token, &recs, &count))
        return false;
    nsl_recovery_init(srv);
    *max_session = 0;
    for (size_t i = 0; i < count; i++)
        if (recs[i].session > *max_session)
            *max_session = recs[i].session;
    nsl_log(NSL_LOG_INFO, "state directory %s, epoch %" PRIu64, state_dir, srv->state.epoch);
    if (count == 0 || srv->cfg->recovery_grace_s == 0) {
        if (count)
            nsl_log(NSL_LOG_WARN, "recovery_grace_s is 0: the locks of %zu sessions from before "
                    "the restart are lost", count);
        free(recs);
        return count == 0 || nsl_state_rewrite_registry(&srv->state, NULL, 0);
    }
    await_sessions(srv, recs, count);
    return true;
}

void nsl_recovery_init(nsl_server *srv)
{
    uv_check_init(&srv->loop, &srv->commit_check);
    srv->commit_check.data = srv;
}

void nsl_recovery_begin(nsl_server *srv, nsl_registered *recs, size_t count)
{
    if (count && srv->cfg->recovery_grace_s == 0) {
        nsl_log(NSL_LOG_WARN, "recovery_grace_s is 0: the locks of %zu sessions of the last "
                "leader are lost", count);
        nsl_engine_hold_grants(srv->engine, true, nsl_server_now(srv));
        forgetting *f = calloc(1, sizeof *f);
        if (!f)
            abort();
        *f = (forgetting){.srv = srv, .pending = count + 1, .ok = true};
        for (size_t i = 0; i < count; i++)
            nsl_ha_forget(srv, recs[i].session, on_forgotten, f);
        free(recs);
        on_forgotten(f, true);
        return;
    }
    if (count == 0) {
        free(recs);
        return;
    }
    nsl_engine_hold_grants(srv->engine, true, nsl_server_now(srv));
    await_sessions(srv, recs, count);
}

void nsl_recovery_abandon(nsl_server *srv)
{
    nsl_recovery *r = srv->recovery;
    if (!r)
        return;
    awaited *a, *tmp;
    HASH_ITER(hh, r->sessions, a, tmp) {
        if (a->by)
            a->by->reclaiming = false;
        HASH_DEL(r->sessions, a);
        free(a);
    }
    uv_close((uv_handle_t *)&r->grace, free_recovery);
    srv->recovery = NULL;
}

/* Recovery: the sessions of the old registry (recs, freed here) are
 * awaited for the grace. */
static void await_sessions(nsl_server *srv, nsl_registered *recs, size_t count)
{
    nsl_recovery *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    for (size_t i = 0; i < count; i++) {
        awaited *a = calloc(1, sizeof *a);
        if (!a)
            abort();
        a->rec = recs[i];
        HASH_ADD(hh, r->sessions, rec.session, sizeof a->rec.session, a);
    }
    free(recs);
    r->waiting_for = count;
    r->started = nsl_server_now(srv);
    srv->loop.data = srv;
    uv_timer_init(&srv->loop, &r->grace);
    uv_timer_start(&r->grace, on_grace, (uint64_t)srv->cfg->recovery_grace_s * 1000, 0);
    srv->recovery = r;
    nsl_log(NSL_LOG_INFO, "recovering: waiting up to %" PRIu32 " s for %zu session%s to reclaim "
            "their locks", srv->cfg->recovery_grace_s, count, count == 1 ? "" : "s");
}

/* The engine must hold grants before the first connection: start() calls
 * this once the engine exists. */
void nsl_recovery_free(nsl_server *srv)
{
    nsl_recovery *r = srv->recovery;
    if (r) {
        awaited *a, *tmp;
        HASH_ITER(hh, r->sessions, a, tmp) {
            HASH_DEL(r->sessions, a);
            free(a);
        }
        free(r);
        srv->recovery = NULL;
    }
    free(srv->registering);
    srv->registering = NULL;
    nsl_state_close(&srv->state);
}

void nsl_recovery_session_end(nsl_session *s)
{
    nsl_server *srv = s->srv;
    if (s->registering)
        forget_registering(s);
    /* A stopping server keeps its registry: after a restart (a deploy) the
     * sessions reclaim what they held. */
    if (s->registered) {
        srv->registered_count--;
        if (srv->stopping || srv->keep_registry) {
            /* kept: the sessions reclaim after the restart or at the next leader */
        } else if (srv->coord) {
            nsl_ha_unregister(srv, s->owner);
        } else {
            nsl_state_unregister(&srv->state, s->owner);
            maybe_compact(srv);
        }
    }
    s->registered = false;
    nsl_recovery *r = srv->recovery;
    if (!r || !s->reclaiming)
        return;
    /* Cut off mid-reclaim: what it reclaimed went with it; it may come back
     * within the grace and start again. */
    awaited *a;
    HASH_FIND(hh, r->sessions, &s->owner, sizeof s->owner, a);
    if (a && a->by == s)
        a->by = NULL;
    s->reclaiming = false;
}

/* ---- RECLAIM ---------------------------------------------------------------------------- */

static void out_lost(nsl_session *s, nsl_owner_id id)
{
    nsl_out_errf(s, NSL_LOST, "session %u has no locks to reclaim here: the server is not "
                 "recovering them (they were lost when the grace ran out, or never registered)",
                 id);
}

void nsl_recovery_reclaim_session(nsl_session *s, nsl_owner_id id, const uint8_t *secret,
                                  unsigned tlevel)
{
    nsl_server *srv = s->srv;
    nsl_recovery *r = srv->recovery;
    if (!r) {
        out_lost(s, id);
        return;
    }
    awaited *a;
    HASH_FIND(hh, r->sessions, &id, sizeof id, a);
    if (!a || a->done) {
        out_lost(s, id);
        return;
    }
    uint8_t hash[NSL_SECRET_HASH_BYTES];
    nsl_secret_hash(secret, hash);
    if (!memeql_sec(hash, a->rec.hash, sizeof hash)) {
        nsl_log(NSL_LOG_ERROR, "session %u (pid %ld): RECLAIM of session %u with a wrong "
                "secret; refused", s->owner, s->pid, id);
        nsl_out_errf(s, NSL_PROTECT, "wrong secret for session %u", id);
        return;
    }
    if (a->by) {
        nsl_out_errf(s, NSL_CONFLICT, "session %u is being reclaimed by another connection", id);
        return;
    }
    if (s->reclaiming || s->registered || s->waiting ||
        nsl_engine_owner_entries(srv->engine, s->owner) > 0) {
        nsl_out_err(s, NSL_COMMAND, "RECLAIM SESSION must come first on a new connection");
        return;
    }
    /* The connection takes over the old session id: the fresh owner HELLO
     * gave it holds nothing. */
    uint32_t ns = nsl_engine_owner_namespace(srv->engine, s->owner);
    HASH_DEL(srv->by_owner, s);
    nsl_engine_owner_end(srv->engine, s->owner, nsl_server_now(srv));
    if (nsl_engine_owner_adopt(srv->engine, id, ns) != NSL_OK)
        abort();                     /* ids above the registry's are never handed out */
    s->owner = id;
    HASH_ADD(hh, srv->by_owner, owner, sizeof s->owner, s);
    memcpy(s->secret, secret, NSL_SECRET_BYTES);
    s->registered = true;            /* it is in the registry already */
    srv->registered_count++;
    s->reclaiming = true;
    a->by = s;
    for (unsigned i = 0; i < tlevel; i++)
        nsl_engine_tstart(srv->engine, id);
    nsl_log(NSL_LOG_INFO, "session %u (pid %ld, %s): reclaiming", id, s->pid,
            s->client[0] ? s->client : "-");
    nsl_out_str(s, "OK session ");
    nsl_out_u64(s, id);
    nsl_out_char(s, '\n');
}

/* One lock: "TOKEN X,XE,S,SE DX,DXE,DS,DSE NAMESPACE NAME". */
void nsl_recovery_reclaim_lock(nsl_session *s, const char *text, size_t len, size_t column)
{
    nsl_server *srv = s->srv;
    if (!s->reclaiming) {
        if (!srv->recovery)
            out_lost(s, s->owner);
        else
            nsl_out_err(s, NSL_COMMAND, "RECLAIM SESSION first");
        return;
    }
    nsl_reclaim rc;
    memset(&rc, 0, sizeof rc);
    const char *p = text, *end = text + len;
    char *stop;
    errno = 0;
    unsigned long long token = strtoull(p, &stop, 10);
    bool ok = stop != p && !errno && *stop == ' ';
    p = stop;
    for (int group = 0; ok && group < 2; group++) {
        uint16_t *dst = group ? rc.deferred : rc.count;
        for (int i = 0; ok && i < NSL_COUNT_TYPES; i++) {
            p++;                      /* the ' ' or ',' before it */
            unsigned long v = strtoul(p, &stop, 10);
            ok = stop != p && v <= NSL_MAX_LOCK_COUNT && *stop == (i < 3 ? ',' : ' ');
            dst[i] = (uint16_t)v;
            p = stop;
        }
    }
    const char *ns_start = ok ? p + 1 : p;
    const char *ns_end = ok ? memchr(ns_start, ' ', (size_t)(end - ns_start)) : NULL;
    if (!ok || !ns_end || ns_end == ns_start) {
        nsl_out_errf(s, NSL_SYNTAX, "column %zu: expected RECLAIM TOKEN X,XE,S,SE "
                     "DX,DXE,DS,DSE NAMESPACE NAME", column);
        return;
    }
    char nsname[256];
    size_t nslen = (size_t)(ns_end - ns_start);
    snprintf(nsname, sizeof nsname, "%.*s", (int)(nslen < sizeof nsname ? nslen : sizeof nsname - 1),
             ns_start);
    const nsl_namespace *ns = nsl_registry_find_namespace(srv->reg, nsname);
    if (!ns) {
        nsl_out_errf(s, NSL_NAMESPACE, "unknown namespace '%s'", nsname);
        return;
    }
    const char *name = ns_end + 1;
    nsl_error err;
    if (nsl_lockname_parse(name, (size_t)(end - name), NULL, &rc.name, &err) != NSL_OK) {
        nsl_out_errf(s, err.code, "column %zu: %s", column + (size_t)(name - text) + (size_t)err.column,
                     err.message);
        return;
    }
    rc.namespace_id = ns->id;
    rc.token = token;
    if (nsl_engine_reclaim(srv->engine, s->owner, &rc, nsl_server_now(srv), &err) != NSL_OK) {
        if (err.code == NSL_CONFLICT) {
            srv->recovery->conflicts++;
            nsl_log(NSL_LOG_ERROR, "session %u (pid %ld): reclaim of %.*s refused: %s", s->owner,
                    s->pid, (int)(end - name), name, err.message);
        }
        nsl_out_err(s, err.code, err.message);
        return;
    }
    srv->recovery->reclaimed_locks++;
    nsl_out_put(s, "OK\n", 3);
}

void nsl_recovery_reclaim_done(nsl_session *s)
{
    nsl_server *srv = s->srv;
    nsl_recovery *r = srv->recovery;
    if (!s->reclaiming) {
        if (!r)
            out_lost(s, s->owner);
        else
            nsl_out_err(s, NSL_COMMAND, "RECLAIM SESSION first");
        return;
    }
    awaited *a;
    HASH_FIND(hh, r->sessions, &s->owner, sizeof s->owner, a);
    s->reclaiming = false;
    a->done = true;
    a->by = NULL;
    r->waiting_for--;
    nsl_log(NSL_LOG_INFO, "session %u: reclaimed %" PRIu64 " entries", s->owner,
            nsl_engine_owner_entries(srv->engine, s->owner));
    nsl_out_str(s, "OK\n");
    if (!r->waiting_for)
        recovery_end(srv, "every session came back");
}

/* RESUME: a TCP client whose connection broke (the server may not even
 * have noticed: a dead network sends nothing) takes its live session over
 * a new connection, if no answer it has not read was lost, or only the
 * last, which is sent again. */
void nsl_recovery_resume(nsl_session *s, nsl_owner_id id, const uint8_t *secret,
                         uint64_t client_answered)
{
    nsl_server *srv = s->srv;
    nsl_session *old = nsl_session_by_owner(srv, id);
    if (!s->tcp) {
        nsl_out_err(s, NSL_COMMAND, "RESUME is for TCP sessions: a Unix-socket session ends "
                    "with its connection");
        return;
    }
    if (!old || old == s || !old->tcp || old->ended) {
        nsl_out_errf(s, NSL_LOST, "session %u is not open here: it ended with its connection "
                     "or after server.session_timeout_s of silence", id);
        return;
    }
    if (!memeql_sec(old->secret, secret, NSL_SECRET_BYTES)) {
        nsl_log(NSL_LOG_ERROR, "session %u: RESUME of session %u with a wrong secret; refused",
                s->owner, id);
        nsl_out_errf(s, NSL_PROTECT, "wrong secret for session %u", id);
        return;
    }
    if (s->registered || s->waiting || s->reclaiming || s->q_count ||
        nsl_engine_owner_entries(srv->engine, s->owner) > 0) {
        nsl_out_err(s, NSL_COMMAND, "RESUME must come first on a new connection");
        return;
    }
    /* answers the client did not read: sent again when the server still
     * has them (the last few short ones), else the session cannot go on */
    uint64_t lost = client_answered <= old->answered ? old->answered - client_answered
                                                     : UINT64_MAX;
    if (lost > old->recent_count || old->q_count) {
        nsl_log(NSL_LOG_WARN, "session %u: cannot be resumed (the client read %" PRIu64
                " answers of %" PRIu64 "); ended", id, client_answered, old->answered);
        nsl_out_errf(s, NSL_LOST, "session %u cannot be resumed: answers it did not read were "
                     "lost with its connection; it is ended", id);
        nsl_session_end(old, false);
        return;
    }
    uint64_t pending = old->received - old->answered;
    /* the last `lost` lines of old->recent */
    char replay[NSL_RECENT_BYTES];
    size_t replay_len = 0;
    if (lost) {
        size_t at = old->recent_len;
        for (uint64_t k = 0; k < lost; k++) {
            do
                at--;
            while (at > 0 && old->recent[at - 1] != '\n');
        }
        replay_len = old->recent_len - at;
        memcpy(replay, old->recent + at, replay_len);
    }
    nsl_session_take_over(s, old);
    nsl_log(NSL_LOG_INFO, "session %u (%s): resumed over a new connection; %" PRIu64
            " answer(s) sent again", id, s->client[0] ? s->client : "-", lost);
    nsl_out_str(s, "OK resumed ");
    nsl_out_u64(s, id);
    if (pending) {
        nsl_out_str(s, " pending ");
        nsl_out_u64(s, pending);
    }
    if (lost) {
        nsl_out_str(s, " replay ");
        nsl_out_u64(s, lost);
    }
    nsl_out_char(s, '\n');
    nsl_out_put(s, replay, replay_len);
}

/* A fresh session's secret: 128 random bits. */
void nsl_recovery_new_secret(nsl_session *s)
{
    size_t got = 0;
    while (got < NSL_SECRET_BYTES) {
        ssize_t n = getrandom(s->secret + got, NSL_SECRET_BYTES - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            nsl_log(NSL_LOG_ERROR, "getrandom: %s", strerror(errno));
            abort();
        }
        got += (size_t)n;
    }
}
