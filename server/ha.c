/* server/ha.c — serving as one server of an HA cluster (docs/HA.md).
 *
 * coord.c keeps this server's place in ZooKeeper; this file is what the
 * server does with it:
 *
 *   standby   every request but AUTH, PING, STATS, CLUSTER and QUIT is
 *             answered `ERR STANDBY <leader>`: clients go to the leader.
 *   leading   the registry is read from ZooKeeper, the table starts afresh
 *             with tokens above every earlier leader's reservation and
 *             owner ids above every registered session's, and the
 *             registered sessions are awaited as after a restart
 *             (recovery.c). Registration goes to ZooKeeper instead of the
 *             state directory.
 *   stepping down  (ZooKeeper silent for two thirds of the session timeout,
 *             checked before anything is sent): every connection is closed
 *             unsent and the table dropped, the registry left as it is for
 *             the next leader; then standby again.
 *
 * The lock path never waits on ZooKeeper: tokens come from a reservation
 * raised ahead of need, and only a session's first grant waits for its
 * registry znode, as it waits for fdatasync on one machine.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/coord.h"
#include "server/server_internal.h"

/* ---- role changes ----------------------------------------------------------------- */

/* Ends every connection without sending what it is owed and without
 * touching the registry: what was granted here is the next leader's to
 * recover. */
static void drop_everyone(nsl_server *srv)
{
    if (srv->engine)
        nsl_engine_hold_grants(srv->engine, true, nsl_server_now(srv));
    nsl_recovery_abandon(srv);
    srv->keep_registry = true;
    for (nsl_session *s = srv->sessions; s; s = s->next)
        if (!s->handle_closing)
            nsl_session_force_close(s);
    srv->keep_registry = false;
    srv->ready_head = srv->ready_tail = NULL;
}

typedef struct leading_read {
    nsl_server *srv;
    uint64_t epoch;
    nsl_registered *recs;
    size_t count, cap;
} leading_read;

static void on_registered_session(void *arg, uint32_t id, const char *hash_hex)
{
    leading_read *lr = arg;
    nsl_registered rec = {.session = id};
    if (strlen(hash_hex) != 2 * NSL_SECRET_HASH_BYTES) {
        nsl_log(NSL_LOG_WARN, "ha: registry entry %" PRIu32 " is not a secret's hash: ignored", id);
        return;
    }
    for (size_t i = 0; i < NSL_SECRET_HASH_BYTES; i++) {
        unsigned v;
        if (sscanf(hash_hex + 2 * i, "%2x", &v) != 1) {
            nsl_log(NSL_LOG_WARN, "ha: registry entry %" PRIu32 " is not a secret's hash: "
                    "ignored", id);
            return;
        }
        rec.hash[i] = (uint8_t)v;
    }
    if (lr->count == lr->cap) {
        lr->cap = lr->cap ? 2 * lr->cap : 64;
        lr->recs = realloc(lr->recs, lr->cap * sizeof *lr->recs);
        if (!lr->recs)
            abort();
    }
    lr->recs[lr->count++] = rec;
}

static void on_registry_read(void *arg, bool ok)
{
    leading_read *lr = arg;
    nsl_server *srv = lr->srv;
    /* A step-down (or another election) came first: this read is stale. */
    bool current = !srv->stopping && nsl_coord_role_now(srv->coord) == NSL_COORD_LEADER
                   && nsl_coord_epoch(srv->coord) == lr->epoch;
    if (current && !ok) {
        nsl_coord_resign(srv->coord, "cannot read the registry of sessions holding locks");
        current = false;
    }
    if (current) {
        /* Whoever connected while this server stood by holds nothing. */
        drop_everyone(srv);
        nsl_owner_id max_session = 0;
        for (size_t i = 0; i < lr->count; i++)
            if (lr->recs[i].session > max_session)
                max_session = lr->recs[i].session;
        uint64_t first_token = nsl_coord_tokens_base(srv->coord);
        if (!nsl_server_new_engine(srv, first_token, max_session)) {
            nsl_coord_resign(srv->coord, "cannot create the lock engine");
        } else {
            srv->state.epoch = lr->epoch;
            srv->ha_serving = true;
            nsl_log(NSL_LOG_INFO, "ha: leading, epoch %" PRIu64 ", fencing tokens after %" PRIu64
                    ", %zu registered session%s", lr->epoch, first_token, lr->count,
                    lr->count == 1 ? "" : "s");
            nsl_recovery_begin(srv, lr->recs, lr->count);
            lr->recs = NULL;
            nsl_server_settle(srv);
        }
    }
    free(lr->recs);
    free(lr);
}

static void on_leading(void *arg, uint64_t epoch)
{
    nsl_server *srv = arg;
    nsl_log(NSL_LOG_INFO, "ha: elected leader of %s (epoch %" PRIu64 "): reading the registry",
            srv->cfg->ha_path, epoch);
    snprintf(srv->ha_leader, sizeof srv->ha_leader, "%s", srv->ha_advertise);
    leading_read *lr = calloc(1, sizeof *lr);
    if (!lr)
        abort();
    lr->srv = srv;
    lr->epoch = epoch;
    nsl_coord_registry_list(srv->coord, on_registered_session, on_registry_read, lr);
}

static void on_standby(void *arg, const char *leader)
{
    nsl_server *srv = arg;
    if (strcmp(srv->ha_leader, leader ? leader : "") == 0)
        return;
    snprintf(srv->ha_leader, sizeof srv->ha_leader, "%s", leader ? leader : "");
    nsl_log(NSL_LOG_INFO, "ha: standing by; the leader is %s", leader ? leader : "not known yet");
}

static void on_step_down(void *arg, const char *why)
{
    nsl_server *srv = arg;
    srv->ha_serving = false;
    srv->ha_leader[0] = '\0';
    srv->ha_tokens_short = false;
    if (srv->stopping)
        return;
    nsl_log(NSL_LOG_WARN, "ha: stepping down (%s): closing %zu connection%s, granting nothing "
            "more; rejoining as a standby", why, srv->session_count,
            srv->session_count == 1 ? "" : "s");
    drop_everyone(srv);
}

bool nsl_ha_start(nsl_server *srv)
{
    const nsl_config *cfg = srv->cfg;
    const char *advertise = cfg->ha_advertise ? cfg->ha_advertise : cfg->listen;
    snprintf(srv->ha_advertise, sizeof srv->ha_advertise, "%s", advertise ? advertise : "");
    nsl_coord_config cc = {
        .zookeeper = cfg->ha_zookeeper,
        .path = cfg->ha_path,
        .session_timeout_ms = cfg->ha_session_timeout_ms,
        .advertise = srv->ha_advertise,
        .token_block = srv->ha_token_block,
    };
    static const nsl_coord_events events = {
        .leading = on_leading, .standby = on_standby, .step_down = on_step_down,
    };
    char why[256];
    if (nsl_coord_start(&srv->loop, &cc, &events, srv, &srv->coord, why, sizeof why) != 0) {
        nsl_log(NSL_LOG_ERROR, "ha: %s", why);
        return false;
    }
    nsl_log(NSL_LOG_INFO, "ha: joining the election at %s on ZooKeeper %s as %s",
            cfg->ha_path, cfg->ha_zookeeper, srv->ha_advertise);
    return true;
}

void nsl_ha_stop(nsl_server *srv)
{
    if (!srv->coord)
        return;
    srv->ha_serving = false;
    nsl_coord_stop(srv->coord);   /* the election znode goes: a standby takes over */
    srv->coord = NULL;
}

/* ---- the lock path's checks --------------------------------------------------------- */

bool nsl_ha_allows(nsl_server *srv, const char *keyword, size_t len)
{
    if (!srv->coord || srv->ha_serving)
        return true;
    static const char *const always[] = {"AUTH", "PING", "STATS", "CLUSTER", "QUIT"};
    for (size_t i = 0; i < sizeof always / sizeof *always; i++)
        if (strlen(always[i]) == len && memcmp(always[i], keyword, len) == 0)
            return true;
    return false;
}

void nsl_ha_refuse(nsl_session *s)
{
    nsl_server *srv = s->srv;
    if (srv->ha_leader[0] && strcmp(srv->ha_leader, srv->ha_advertise) != 0) {
        nsl_out_str(s, "ERR STANDBY ");
        nsl_out_clean(s, srv->ha_leader, strlen(srv->ha_leader));
        nsl_out_str(s, " this server stands by; the leader is at ");
        nsl_out_clean(s, srv->ha_leader, strlen(srv->ha_leader));
        nsl_out_char(s, '\n');
    } else {
        nsl_out_str(s, "ERR STANDBY - no server leads yet (an election is under way)\n");
    }
}

static void on_reserved(void *arg, bool ok)
{
    nsl_server *srv = arg;
    srv->ha_reserving = false;
    if (!ok || !srv->ha_serving)
        return;           /* coord stands down on a reservation it could not make */
    if (srv->ha_tokens_short) {
        srv->ha_tokens_short = false;
        for (nsl_session *s = srv->sessions; s; s = s->next)
            if (s->out_len && !s->handle_closing)
                nsl_session_flush(s);
    }
    nsl_server_settle(srv);
}

bool nsl_ha_may_send(nsl_server *srv, uint64_t last_token)
{
    if (!srv->ha_serving)
        return true;      /* a standby's answers carry no grant */
    if (!nsl_coord_may_grant(srv->coord))
        return false;     /* the step-down has closed every connection */
    uint64_t reserved = nsl_coord_tokens_reserved(srv->coord);
    uint64_t block = srv->ha_token_block ? srv->ha_token_block : 100000;
    if (!srv->ha_reserving && last_token + block / 2 > reserved) {
        srv->ha_reserving = true;
        nsl_coord_reserve(srv->coord, on_reserved, srv);
    }
    if (last_token <= reserved)
        return true;
    if (!srv->ha_tokens_short)
        nsl_log(NSL_LOG_WARN, "ha: fencing tokens beyond the reservation in ZooKeeper (%" PRIu64
                "): answers wait for the next one", reserved);
    srv->ha_tokens_short = true;
    return false;
}

/* ---- the registry ------------------------------------------------------------------- */

void nsl_ha_register(nsl_server *srv, const nsl_registered *rec,
                     void (*done)(void *arg, bool ok), void *arg)
{
    if (!srv->ha_serving) {
        done(arg, false);
        return;
    }
    char hex[2 * NSL_SECRET_HASH_BYTES + 1];
    for (size_t i = 0; i < NSL_SECRET_HASH_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", rec->hash[i]);
    nsl_coord_registry_put(srv->coord, rec->session, hex, done, arg);
}

void nsl_ha_unregister(nsl_server *srv, uint32_t session)
{
    if (srv->ha_serving)
        nsl_coord_registry_del(srv->coord, session, NULL, NULL);
}

void nsl_ha_forget(nsl_server *srv, uint32_t session, void (*done)(void *arg, bool ok),
                   void *arg)
{
    if (!srv->ha_serving) {
        done(arg, false);
        return;
    }
    nsl_coord_registry_del(srv->coord, session, done, arg);
}

/* ---- CLUSTER ------------------------------------------------------------------------ */

const char *nsl_ha_role(const nsl_server *srv)
{
    if (!srv->coord)
        return "alone";
    if (srv->ha_serving)
        return "leader";
    return nsl_coord_role_now(srv->coord) == NSL_COORD_LEADER ? "electing" : "standby";
}

const char *nsl_ha_zookeeper_state(const nsl_server *srv)
{
    return srv->coord ? nsl_coord_session_state(srv->coord) : "-";
}
