/* coord.h — what a server of an HA cluster keeps in ZooKeeper (docs/CONFIG.md):
 * who leads, the epoch, the fencing-token reservations and the registry of
 * sessions holding locks. The lock path never waits on it.
 *
 * Everything here runs on the server's libuv loop. The ZooKeeper C client
 * has threads of its own; its callbacks only queue what they saw and wake
 * the loop (uv_async), which acts on it: the engine stays single-threaded.
 *
 * Znodes under the cluster's path P:
 *   P/election/n_NNNNNNNNNN   ephemeral sequential, one per server, data =
 *                             the address clients use to reach it; the
 *                             lowest leads.
 *   P/tokens                  "N": fencing tokens up to N are reserved;
 *                             a leader raises it by compare-and-set before
 *                             it hands out tokens beyond it. A leader's
 *                             epoch is the zxid of its first such write,
 *                             so it rises with every leadership, even one
 *                             regained under the same election znode.
 *   P/registry/S              one per session holding locks (S its id),
 *                             data = the SHA-256 of its secret, in hex.
 */
#ifndef NSL_SERVER_COORD_H
#define NSL_SERVER_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct nsl_coord nsl_coord;

typedef enum nsl_coord_role {
    NSL_COORD_STARTING,    /* not yet in the election */
    NSL_COORD_STANDBY,     /* another server leads (or none is known yet) */
    NSL_COORD_LEADER,      /* this server leads: it may serve locks */
} nsl_coord_role;

typedef struct nsl_coord_config {
    const char *zookeeper;      /* "host:port,host:port" */
    const char *path;           /* the cluster's znode */
    uint32_t session_timeout_ms;
    const char *advertise;      /* this server's address for clients */
    uint64_t token_block;       /* tokens reserved at a time (0: 100,000) */
} nsl_coord_config;

typedef struct nsl_coord_events {
    /* This server now leads, in epoch `epoch` (it should run recovery with
     * the registry it reads, then serve). */
    void (*leading)(void *arg, uint64_t epoch);
    /* Another server leads (address), or none is known (NULL). */
    void (*standby)(void *arg, const char *leader);
    /* This server stops leading: it lost ZooKeeper for two thirds of the
     * session timeout, or its session expired. It must grant nothing more
     * and close its clients' connections; it rejoins as a standby. */
    void (*step_down)(void *arg, const char *why);
} nsl_coord_events;

/* Connects and enters the election. Returns 0, or -1 with why in buf. */
int nsl_coord_start(uv_loop_t *loop, const nsl_coord_config *cfg,
                    const nsl_coord_events *events, void *arg, nsl_coord **out,
                    char *why, size_t why_cap);
/* Leaves the election (deleting this server's znode) and closes. */
void nsl_coord_stop(nsl_coord *c);

/* Gives up leading (step_down follows) and rejoins the election with a
 * fresh ZooKeeper session: for a leader that cannot do its part. */
void nsl_coord_resign(nsl_coord *c, const char *why);

nsl_coord_role nsl_coord_role_now(const nsl_coord *c);
uint64_t nsl_coord_epoch(const nsl_coord *c);      /* 0 unless leading */
const char *nsl_coord_leader(const nsl_coord *c);  /* the leader's address, or NULL */
/* "connected", "connecting", "expired", ... for STATS. */
const char *nsl_coord_session_state(const nsl_coord *c);

/* Jeopardy: true while leading and ZooKeeper answered within two thirds
 * of the session timeout, by the loop's monotonic clock. Checked before
 * every grant: a leader frozen and resumed after another was elected
 * grants nothing. */
bool nsl_coord_may_grant(nsl_coord *c);

/* Tokens: a grant may use tokens up to nsl_coord_tokens_reserved(); when it
 * runs low, nsl_coord_reserve() raises the reservation (compare-and-set on
 * P/tokens) and calls done(arg, ok) on the loop. A new leader's first
 * reservation starts above every earlier leader's. */
uint64_t nsl_coord_tokens_reserved(const nsl_coord *c);
uint64_t nsl_coord_tokens_base(const nsl_coord *c);  /* tokens start above this */
void nsl_coord_reserve(nsl_coord *c, void (*done)(void *arg, bool ok), void *arg);

/* The registry. put/del call done(arg, ok) once ZooKeeper has it (the
 * session's first grant waits for that, as it waits for fdatasync on one
 * machine). list reads all of it: for each entry fn(arg, id, secret_hash). */
void nsl_coord_registry_put(nsl_coord *c, uint32_t id, const char *secret_hash_hex,
                            void (*done)(void *arg, bool ok), void *arg);
/* done (may be NULL) is told once ZooKeeper has removed it (or it was gone). */
void nsl_coord_registry_del(nsl_coord *c, uint32_t id, void (*done)(void *arg, bool ok),
                            void *arg);
void nsl_coord_registry_list(nsl_coord *c,
                             void (*fn)(void *arg, uint32_t id, const char *secret_hash_hex),
                             void (*done)(void *arg, bool ok), void *arg);

#endif
