/* locks — the lock engine (docs/LANGUAGE.md).
 *
 * A pure single-threaded state machine: no I/O, no threads, no clock reads.
 * The caller creates owners (sessions), hands them LOCK commands already
 * parsed by mapping/, and feeds the engine the time. A command either
 * completes at once (granted, timed out, released, or an error) or is
 * queued; a queued command completes later, during some engine call, through
 * the `done` callback: when a release lets it in, when its timeout passes at
 * a tick, or when deadlock detection picks it as the victim.
 *
 * Callbacks are delivered after the engine's state is consistent, at the
 * end of the public call that caused them; they may call back into the
 * engine (the nested call's own callbacks are delivered by the outer loop).
 *
 * Time is milliseconds on any monotonic scale the caller likes.
 */
#ifndef NSL_LOCKS_H
#define NSL_LOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mapping/mapping.h"

#define NSL_MAX_LOCK_COUNT 32766     /* per type, per entry (IRIS <MAX LOCKS>) */

typedef struct nsl_engine nsl_engine;
typedef uint32_t nsl_owner_id;       /* 0 is never a valid owner */

typedef struct nsl_engine_options {
    uint64_t max_entries;            /* table entries; beyond it requests wait */
    uint32_t escalation_threshold;   /* more than this many E children escalate */
    uint32_t deadlock_check_ms;      /* 0 disables deadlock detection */
    uint32_t max_owner_entries;      /* per owner; beyond it LIMIT (0: no limit) */
    uint64_t first_token;            /* fencing tokens start after this value */
    nsl_owner_id first_owner;        /* owner ids start after it (the registry's highest) */
} nsl_engine_options;

/* Defaults of docs/CONFIG.md (1,000,000 entries, threshold 1000, 1000 ms). */
void nsl_engine_options_default(nsl_engine_options *opt);

/* The outcome of one command. */
typedef struct nsl_lock_result {
    nsl_code code;       /* NSL_OK, or why the command failed */
    int test;            /* $TEST of the last argument that takes locks:
                            1 granted, 0 timed out; -1 when none took locks */
    uint64_t token;      /* fencing token of that grant (test == 1) */
    uint64_t ticket;     /* set when the command was queued */
    char message[240];   /* error detail: the deadlock cycle, the limit hit */
} nsl_lock_result;

typedef enum nsl_engine_status {
    NSL_DONE,            /* *result holds the outcome */
    NSL_QUEUED,          /* result->ticket identifies it; `done` will follow */
} nsl_engine_status;

typedef enum nsl_notice {
    NSL_NOTICE_TABLE_FULL,      /* once per episode: "LOCK TABLE FULL" */
    NSL_NOTICE_TABLE_ROOM,      /* the episode ended */
    NSL_NOTICE_DEADLOCK,        /* a victim was chosen; text names the cycle */
    NSL_NOTICE_ESCALATION,      /* children were replaced by their parent */
} nsl_notice;

typedef struct nsl_engine_callbacks {
    /* A queued command completed. */
    void (*done)(void *ctx, nsl_owner_id owner, const nsl_lock_result *result);
    /* Something an operator should see in the log. May be NULL. */
    void (*notice)(void *ctx, nsl_notice kind, const char *text);
    /* A table entry left the table (released, removed, its owner ended, or
     * folded into its parent by an escalation); since is the time of its
     * first grant, as passed in. For the server's hold-time figures; it
     * must not call into the engine. May be NULL. */
    void (*released)(void *ctx, uint32_t database, uint64_t since);
} nsl_engine_callbacks;

/* The engine borrows resolver (and through it the registry). */
nsl_engine *nsl_engine_new(const nsl_engine_options *opt,
                           const nsl_resolver *resolver,
                           const nsl_engine_callbacks *cb, void *ctx);
void nsl_engine_free(nsl_engine *e);

/* ---- owners ------------------------------------------------------------- */

/* A new owner in namespace ns. Ids increase and are never reused. */
nsl_owner_id nsl_engine_owner_new(nsl_engine *e, uint32_t namespace_id);
/* An owner with a chosen id: a session reclaiming after a restart keeps its
 * id. NSL_COMMAND when the id is 0, UINT32_MAX or in use; NSL_NAMESPACE for
 * an unknown namespace. Later nsl_engine_owner_new() ids stay above every id
 * adopted. */
nsl_code nsl_engine_owner_adopt(nsl_engine *e, nsl_owner_id id, uint32_t namespace_id);
/* Switches the namespace later lock names resolve in. */
nsl_code nsl_engine_owner_set_namespace(nsl_engine *e, nsl_owner_id owner,
                                        uint32_t namespace_id);
uint32_t nsl_engine_owner_namespace(const nsl_engine *e, nsl_owner_id owner);
/* Everything the owner holds or waits for goes at once; waiters
 * behind it are served. Its queued command gets no callback. */
void nsl_engine_owner_end(nsl_engine *e, nsl_owner_id owner, uint64_t now);
bool nsl_engine_owner_exists(const nsl_engine *e, nsl_owner_id owner);
/* True while the owner has a queued command. */
bool nsl_engine_owner_waiting(const nsl_engine *e, nsl_owner_id owner);
/* The table entries the owner holds (0 for an unknown owner). */
uint64_t nsl_engine_owner_entries(const nsl_engine *e, nsl_owner_id owner);

/* ---- commands ------------------------------------------------------------ */

/* Runs a parsed LOCK command (docs/LANGUAGE.md) for owner: its arguments left to
 * right, each with its own timeout. An owner runs one command at a time:
 * while one is queued, another gets NSL_COMMAND. */
nsl_engine_status nsl_engine_execute(nsl_engine *e, nsl_owner_id owner,
                                     const nsl_lock_command *cmd, uint64_t now,
                                     nsl_lock_result *result);

/* One argument given as structured items (names already parsed). */
nsl_engine_status nsl_engine_lock(nsl_engine *e, nsl_owner_id owner,
                                  nsl_lock_op op, const nsl_lock_item *items,
                                  size_t item_count, int64_t timeout_ms,
                                  uint64_t now, nsl_lock_result *result);

/* Transactions (docs/LANGUAGE.md). TROLLBACK with levels == 0 ends all levels. */
nsl_code nsl_engine_tstart(nsl_engine *e, nsl_owner_id owner);
nsl_code nsl_engine_tcommit(nsl_engine *e, nsl_owner_id owner, uint64_t now);
nsl_code nsl_engine_trollback(nsl_engine *e, nsl_owner_id owner,
                              unsigned levels, uint64_t now);
unsigned nsl_engine_tlevel(const nsl_engine *e, nsl_owner_id owner);

/* ---- restart recovery (docs/DESIGN.md) ------------------------------------------- */

/* While grants are held no lock request is granted: requests that would take
 * locks queue in arrival order with their timeouts running (a :0 request gets
 * $TEST 0 at once, a timed one OK 0 at its deadline); releases, transactions
 * and owner ends work as always. Ending the hold serves the queue in arrival
 * order (settle + deliver callbacks). */
void nsl_engine_hold_grants(nsl_engine *e, bool hold, uint64_t now);
bool nsl_engine_grants_held(const nsl_engine *e);

/* What a session held of one lock name, as its client library mirrors it. */
enum { NSL_COUNT_X, NSL_COUNT_XE, NSL_COUNT_S, NSL_COUNT_SE, NSL_COUNT_TYPES };

typedef struct nsl_reclaim {
    uint32_t namespace_id;       /* where it was taken: resolution happens there */
    nsl_lockname name;
    uint16_t count[NSL_COUNT_TYPES];
    uint16_t deferred[NSL_COUNT_TYPES];  /* of those, in the delock state (<= count) */
    uint64_t token;              /* the fencing token the client was given */
} nsl_reclaim;

/* Re-creates, for owner, one entry per database the name resolves to in
 * r->namespace_id, all or nothing, with those counts, delock state and
 * token, without queueing, without counting as a grant and without taking a
 * new token (so it works while grants are held). SINCE is `now`.
 *
 * E counts on a child take part in escalation as grants do: more than
 * escalation_threshold E children of one parent in one mode become the
 * escalated parent with its fingerprint set, unless another owner's holds
 * are in the way (waiters are not: they came after what is being
 * restored); children of an already escalated parent are absorbed, deferred
 * counts included. An escalated parent carries the token and SINCE of the
 * oldest child it replaced (as escalation does for grants), so reclaiming
 * the children of an escalated parent in token order re-creates it.
 * Re-creating an escalation is not a new one: no notice, not in the stats.
 *
 * Errors: NSL_CONFLICT (message names the other owner and the database)
 * when another owner holds an entry that conflicts with it; NSL_NAMESPACE
 * from resolution; NSL_LIMIT when a count is above NSL_MAX_LOCK_COUNT (also
 * once added to what the owner holds there) or deferred > count;
 * NSL_COMMAND when all counts are 0, E counts are given for a name without
 * subscripts, the token is 0 or above first_token (not issued before this
 * engine started: it could repeat a token of this run), or the owner has a
 * queued command; NSL_NOTFOUND for an unknown owner.
 *
 * Reclaimed entries do not count against max_entries / max_owner_entries
 * (they existed before the restart) but do count in `entries`. If the owner
 * already holds an entry at that node (two names of one session land on one
 * database entry, e.g. through two namespaces), the counts add and the entry
 * keeps the lower token (and that token's namespace). */
nsl_code nsl_engine_reclaim(nsl_engine *e, nsl_owner_id owner, const nsl_reclaim *r,
                            uint64_t now, nsl_error *err);

/* Ends the owner's queued command at once, as if its waiting argument had
 * timed out; the arguments after it are not run. The outcome goes into
 * *result (no `done` callback): test 0, nothing of that argument taken.
 * False, changing nothing, when the owner has no queued command. */
bool nsl_engine_cancel(nsl_engine *e, nsl_owner_id owner, uint64_t now,
                       nsl_lock_result *result);

/* ---- time ------------------------------------------------------------------ */

/* Fires the timeouts and deadlock checks due at `now`. */
void nsl_engine_tick(nsl_engine *e, uint64_t now);
/* The earliest time tick() has something to do; UINT64_MAX when nothing. */
uint64_t nsl_engine_next_deadline(const nsl_engine *e);

/* ---- administration ------------------------------------------------------- */

/* Removes held entries matching every given criterion (owner 0, db < 0 or
 * key NULL mean "any"); waiters are served. Returns the number removed. */
size_t nsl_engine_remove(nsl_engine *e, nsl_owner_id owner, int64_t db,
                         const nsl_key *key, uint64_t now);

/* Called for each entry nsl_engine_remove_each takes, as it takes it (an
 * owner's entries one after another), before waiters are served: key is
 * the entry's encoded name. It must not call into the engine. */
typedef void (*nsl_removed_fn)(void *ctx, nsl_owner_id owner, uint32_t db,
                               const uint8_t *key, size_t key_len);
/* nsl_engine_remove, telling fn (may be NULL) whose entries went. */
size_t nsl_engine_remove_each(nsl_engine *e, nsl_owner_id owner, int64_t db,
                              const nsl_key *key, uint64_t now,
                              nsl_removed_fn fn, void *ctx);

typedef struct nsl_engine_stats {
    uint64_t entries, max_entries;
    uint64_t owners, waiters;
    uint64_t grants, escalations, deadlocks, timeouts;
    uint64_t table_full_episodes;
    uint64_t last_token;
} nsl_engine_stats;

void nsl_engine_stats_get(const nsl_engine *e, nsl_engine_stats *out);
/* The table entries held in one database (0 for an unknown one). */
uint64_t nsl_engine_database_entries(const nsl_engine *e, uint32_t database);

/* Recomputes the engine's derived state from scratch (counters at every
 * node, pins, owners' lists and entry counts, the idle ring, the deadline
 * heap, the FIFO, escalated counts) and compares. Returns false with the
 * first difference in why. For tests: it walks everything, and is meant to
 * be called between engine calls, not from a callback. */
bool nsl_engine_check(const nsl_engine *e, char *why, size_t cap);

/* ---- the table view (docs/PROTOCOL.md) --------------------------------------------- */

typedef struct nsl_view_filter {
    int64_t database;        /* < 0: any */
    int64_t namespace_id;    /* < 0: any */
    nsl_owner_id owner;      /* 0: any */
    const char *name_prefix; /* prefix of the canonical name; NULL: any */
    bool no_waiters;
} nsl_view_filter;

void nsl_view_filter_init(nsl_view_filter *f);

/* Why a waiting request with no owner in its way waits. */
enum { NSL_WAIT_LOCKS, NSL_WAIT_ROOM, NSL_WAIT_RECOVERY };

typedef struct nsl_view_row {
    uint32_t database;
    nsl_owner_id owner;
    uint32_t namespace_id;
    bool waiting;
    char mode[64];             /* ModeCount: "Exclusive/2->Delock", "WaitShared" */
    char *name;                /* canonical reference, no namespace part */
    uint8_t *key;              /* encoded name, for ordering */
    uint16_t key_len;
    uint64_t since;            /* time of the first grant / of the wait */
    uint64_t token;            /* 0 for waiting rows */
    nsl_owner_id *blockers;    /* waiting rows: owners it waits for */
    size_t blocker_count;
    uint8_t wait_reason;       /* waiting rows without blockers: why they wait */
} nsl_view_row;

typedef struct nsl_view {
    nsl_view_row *rows;        /* sorted: database name, name collation,
                                  held before waiting, owner */
    size_t count;
} nsl_view;

/* A snapshot of the table. */
nsl_code nsl_engine_view(const nsl_engine *e, const nsl_view_filter *filter,
                         nsl_view *out);
void nsl_view_free(nsl_view *v);

/* The table a piece at a time, for a table too big to walk in one go: a
 * cursor returns one row per call, held entries (owner by owner, in no
 * particular order) and then waiting rows. The table may change between
 * calls: the engine moves open cursors past what it frees. An entry held
 * for the whole walk comes exactly once; one granted or released during it
 * may come or not. Waiting rows are taken in one go when the held ones are
 * done. Rows are not sorted. */
typedef struct nsl_view_cursor nsl_view_cursor;

/* The filter (and its name prefix) is copied. NULL when out of memory. */
nsl_view_cursor *nsl_view_cursor_open(nsl_engine *e, const nsl_view_filter *filter);
/* The next row into *row, false at the end. row->name is NULL (format
 * row->key with nsl_key_format_bytes); row->key and row->blockers belong
 * to the cursor and last until the next call. */
bool nsl_view_cursor_next(nsl_engine *e, nsl_view_cursor *c, nsl_view_row *row);
/* Closes the cursor (before nsl_engine_free, which closes any left). */
void nsl_view_cursor_close(nsl_engine *e, nsl_view_cursor *c);

#endif
