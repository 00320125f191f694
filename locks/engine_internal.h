/* locks — the engine's private data structures, shared by its files.
 *
 * Per database, a tree of nodes created on demand: the name part (`^G`) and
 * then one node per subscript. Each node keeps its children in a uthash
 * table keyed by their encoded subscript bytes, so finding a name costs one
 * small hash look-up per level, and the cost does not grow with what is
 * held elsewhere in the table. A node knows what is held *at* it (per-owner
 * holders) and how much is held and waited for *below* it, so a conflict
 * check walks up the ancestors and reads counters: O(depth), whatever the
 * size of the table.
 *
 * Most entries are leaves held by one owner, so that case is one allocation:
 * the node carries its first holder inline, and everything a plain leaf
 * does not need (children, other owners' holders, counts below, waiters,
 * delock and escalation state) is in extensions allocated on demand.
 */
#ifndef NSL_LOCKS_ENGINE_INTERNAL_H
#define NSL_LOCKS_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

/* Most nodes have few children: start child tables small. */
#undef HASH_INITIAL_NUM_BUCKETS
#undef HASH_INITIAL_NUM_BUCKETS_LOG2
#define HASH_INITIAL_NUM_BUCKETS 4U
#define HASH_INITIAL_NUM_BUCKETS_LOG2 2U
/* uthash doubles a table as soon as one chain reaches the threshold; at
 * 10 that leaves about one bucket (16 bytes) per entry, at 12 about one per
 * two, for chains that are still short. */
#undef HASH_BKT_CAPACITY_THRESH
#define HASH_BKT_CAPACITY_THRESH 12U



#include "locks/locks.h"

enum { MODE_X = 0, MODE_S = 1 };         /* exclusive, shared */

/* Count slots of a holder: mode x escalating. */
enum { T_X = 0, T_XE = 1, T_S = 2, T_SE = 3, T_COUNT = 4 };

static inline int type_slot(int mode, bool escalating)
{
    return mode * 2 + (escalating ? 1 : 0);
}

typedef struct lk_node lk_node;
typedef struct lk_holder lk_holder;
typedef struct lk_owner lk_owner;
typedef struct lk_request lk_request;

/* A multiset of 64-bit fingerprints (open addressing, linear probing):
 * the children an escalated lock stands for (docs/LANGUAGE.md). */
typedef struct lk_fpset {
    uint64_t *slots;         /* 0 empty, 1 deleted, else fingerprint */
    uint32_t capacity;       /* any size, or 0 */
    uint32_t used;           /* live + deleted */
    uint32_t live;
} lk_fpset;

/* An escalated lock held on a parent node, in one mode. */
typedef struct lk_escalated {
    uint32_t count;          /* children it stands for (still held) */
    uint32_t deferred;       /* of those, released at transaction end */
    lk_fpset children;
} lk_escalated;

/* What a holder rarely needs: only ancestors (intention counts),
 * transactions (delock) and escalation use it, so a plain held entry does
 * not pay for it. */
typedef struct lk_holder_more {
    uint16_t deferred[T_COUNT];         /* of the counts, in delock state */
    uint32_t below[2];                  /* this owner's entries below holding X / S */
    uint32_t child_e[2];                /* children holding E locks in X / S */
    lk_escalated *esc[2];               /* escalated lock in X / S, or NULL */
} lk_holder_more;

/* One owner's record at one node: its direct holds there, and (in its
 * lk_holder_more) its holds below. A node's first holder lives inside the
 * node, so a held entry is one allocation; other owners' holders at the
 * same node are lk_holder_extra. */
struct lk_holder {
    lk_owner *owner;                    /* NULL: the node's inline slot is free */
    lk_holder *owner_prev, *owner_next; /* the owner's entries (holders that hold) */
    uint64_t token;                     /* fencing token of the first grant */
    uint32_t since;                     /* its time, as an epoch offset: lk_holder_since */
    uint16_t namespace_id;              /* where the first grant came from */
    uint8_t is_inline;                  /* lk_node.first, else an lk_holder_extra */
    uint16_t count[T_COUNT];            /* held counts by type */
};

typedef struct lk_holder_extra {
    lk_holder h;                        /* first: the two convert by a cast */
    lk_holder_more more;
    lk_node *node;
    struct lk_holder_extra *next, *prev; /* the node's other extra holders, newest first */
    UT_hash_handle hh;                  /* in the node's by_owner index */
} lk_holder_extra;

/* What a node rarely needs: a leaf held by one owner has none of it.
 * Allocated when the node gets children, a second holder, waiters, or its
 * first holder needs lk_holder_more. */
typedef struct lk_node_more {
    lk_node *children;                  /* uthash head: the child nodes */
    lk_holder_extra *holders;           /* holders beyond the inline one */
    lk_holder_extra *by_owner;          /* the same, uthash by owner: a name under
                                           which many sessions lock has one holder
                                           per session at its top node */
    uint32_t below[2];                  /* entries below holding X / S (all owners) */
    uint32_t wait_here[2];              /* waiting parts at this node, X / S */
    uint32_t wait_below[2];             /* waiting parts strictly below */
    lk_holder_more first_more;          /* the inline holder's */
} lk_node_more;

struct lk_node {
    UT_hash_handle hh;
    lk_node *parent;
    lk_node_more *more;                 /* or NULL */
    lk_holder first;
    uint32_t held_s;                    /* owners holding S directly here */
    uint32_t pins;                      /* request parts pointing here */
    uint16_t db;
    uint16_t part_len;
    uint8_t depth;                      /* 0: the name node; root sentinels: 0xFF */
    uint8_t held_x;                     /* owners holding X directly here: 0 or 1 */
    uint8_t idle;                       /* parked in the engine's idle ring */
    uint8_t part[];                     /* the encoded subscript: the hash key */
};

_Static_assert(NSL_MAX_NAMESPACES - 1 <= UINT16_MAX, "lk_holder.namespace_id is 16 bits");
_Static_assert(NSL_MAX_DATABASES - 1 <= UINT16_MAX, "lk_node.db is 16 bits");
/* A held entry of a short name is one 144-byte node (the target is <= 160
 * bytes an entry, table overhead included): keep the header within it. */
_Static_assert(offsetof(lk_node, part) <= 136, "lk_node grew past its budget");

#define ROOT_DEPTH 0xFF

/* One (database, node, mode) a request asks for. */
typedef struct lk_part {
    lk_node *node;
    uint8_t mode;
    uint8_t escalating;
    uint8_t types;                      /* NSL_TYPE_* as written */
} lk_part;

struct lk_request {
    lk_owner *owner;
    lk_request *prev, *next;            /* the FIFO of all waiting requests */
    lk_part *parts;
    uint32_t part_count;
    uint32_t namespace_id;
    uint64_t seq;                       /* arrival order; the ticket */
    uint64_t enqueued;
    uint64_t deadline;                  /* UINT64_MAX: none */
    uint64_t check_at;                  /* next deadlock check; UINT64_MAX: none */
    size_t heap_index;
};

/* The deadline heap's order: by min(deadline, check_at), equal times in
 * arrival order. */
static inline uint64_t lk_request_due(const lk_request *r)
{
    return r->deadline < r->check_at ? r->deadline : r->check_at;
}

static inline bool lk_request_before(const lk_request *a, const lk_request *b)
{
    uint64_t ka = lk_request_due(a), kb = lk_request_due(b);
    return ka != kb ? ka < kb : a->seq < b->seq;
}

struct lk_owner {
    UT_hash_handle hh;
    nsl_owner_id id;
    uint32_t namespace_id;
    unsigned tlevel;
    lk_holder *held;                    /* holders with direct holds */
    uint64_t entries;
    lk_request *waiting;
    /* A command in progress: the arguments after the queued one. */
    bool busy;
    nsl_lock_arg *rest_args;
    size_t rest_count, rest_next, rest_capacity;
    nsl_lock_item *rest_items;
    size_t rest_items_capacity;
    int last_test;
    uint64_t last_token;
    uint32_t mark;                      /* deadlock search */
    lk_owner *resume_next;
    bool resume_queued;
};

/* Grant times are stored as 32-bit millisecond offsets from an epoch: the
 * tokens from first_token on were granted at base or later. A new epoch
 * begins when an offset would not fit, so there is one per 49 days.
 * Tokens up to the engine's first_token were handed out before it started
 * and come back only through reclaim, in any order: their times are
 * offsets from the first reclaim (nsl_engine.reclaim_base). */
typedef struct lk_epoch {
    uint64_t first_token;
    uint64_t base;
} lk_epoch;

typedef struct lk_event {
    nsl_owner_id owner;
    nsl_lock_result result;
} lk_event;

/* A free list of equal-sized objects, carved from 64 KiB chunks: nodes and
 * holders come and go on every lock and unlock. */
typedef struct lk_pool {
    size_t size;
    void *free;
    void **chunks;
    size_t chunk_count, chunk_capacity;
} lk_pool;

/* Small: a parked node stays in its parent's child table, where every
 * lookup of a name not held walks past it (docs/DESIGN.md). */
#define IDLE_NODES 64
#define NODE_POOLS 4          /* four classes of part length, 8 bytes apart */

struct nsl_engine {
    nsl_engine_options opt;
    const nsl_resolver *resolver;
    nsl_engine_callbacks cb;
    void *ctx;

    lk_node **roots;                    /* per database sentinel, not in any table */
    uint64_t *database_entries;         /* per database: entries held there */
    lk_pool node_pools[NODE_POOLS];
    lk_pool extra_pool;                 /* lk_holder_extra */
    lk_pool more_pool;                  /* lk_node_more */
    lk_node *idle[IDLE_NODES];          /* see lk_node_prune */
    lk_node *last_name;                 /* the name node last looked up */
    size_t idle_next;
    uint32_t database_count;

    lk_owner *owners;                   /* uthash by id */
    lk_owner *last_owner;               /* the last one looked up */
    nsl_owner_id next_owner;

    lk_request *fifo_head, *fifo_tail;  /* waiting requests, arrival order */
    uint64_t waiters;
    uint64_t next_seq;
    lk_request **heap;                  /* by min(deadline, check_at) */
    size_t heap_count, heap_capacity;

    uint64_t entries;
    uint64_t last_token;
    lk_epoch *epochs;                   /* by first_token */
    size_t epoch_count, epoch_capacity;
    uint64_t reclaim_base;              /* time of the first reclaim */
    bool reclaimed;                     /* reclaim_base is set */
    bool grants_held;                   /* nsl_engine_hold_grants */
    bool table_full;                    /* in a LOCK TABLE FULL episode */
    bool dirty;                         /* something was released: serve waiters */

    lk_owner *resume_head, *resume_tail;
    lk_event *events;
    size_t event_count, event_capacity;
    bool delivering;

    lk_part *scratch;                   /* parts of the request being tried */
    size_t scratch_capacity;

    uint32_t mark_epoch;
    nsl_engine_stats stats;

    nsl_view_cursor *cursors;           /* open ones, moved past what goes */
};

/* table.c — nodes, holders, conflicts */
void lk_pools_init(nsl_engine *e);
void lk_pools_free(nsl_engine *e);
lk_node *lk_root_new(nsl_engine *e, uint32_t db);
void lk_roots_free(nsl_engine *e);
lk_node *lk_node_get(nsl_engine *e, uint32_t db, const nsl_key *key, bool create);
lk_node_more *lk_node_more_get(nsl_engine *e, lk_node *n);
void lk_node_prune(nsl_engine *e, lk_node *n);
void lk_nodes_flush(nsl_engine *e);
lk_holder *lk_holder_find(const lk_node *n, const lk_owner *o);
lk_holder *lk_holder_get(nsl_engine *e, lk_node *n, lk_owner *o);
lk_holder_more *lk_holder_more_get(nsl_engine *e, lk_holder *h);
void lk_holder_stamp(nsl_engine *e, lk_holder *h, uint64_t token, uint64_t now);
uint64_t lk_holder_since(const nsl_engine *e, const lk_holder *h);
unsigned lk_holder_modes(const lk_holder *h);
unsigned lk_holder_ebits(const lk_holder *h);
void lk_holder_changed(nsl_engine *e, lk_holder *h, unsigned old_modes, unsigned old_ebits);
bool lk_blocked_by_holders(const lk_node *n, const lk_owner *o, int mode);
bool lk_blocked_by_waiters(const lk_node *n, int mode);
const lk_owner *lk_conflicting_owner(const lk_node *n, const lk_owner *o, int mode);
bool lk_owner_covers(const lk_node *n, const lk_owner *o, int mode);
void lk_register_wait(nsl_engine *e, lk_node *n, int mode, int delta);
bool lk_node_covers(const lk_node *ancestor, const lk_node *n);
size_t lk_node_key(const lk_node *n, uint8_t *buf, size_t cap);

static inline lk_node *lk_holder_node(const lk_holder *h)
{
    if (h->is_inline)
        return (lk_node *)((const char *)h - offsetof(lk_node, first));
    return ((const lk_holder_extra *)h)->node;
}

/* The holder's rare fields, or NULL when it has none yet (all zero). */
static inline lk_holder_more *lk_holder_more_of(const lk_holder *h)
{
    if (!h->is_inline)
        return &((lk_holder_extra *)h)->more;
    lk_node_more *m = lk_holder_node(h)->more;
    return m ? &m->first_more : NULL;
}

/* The holders at a node: the inline one (if taken), then the extras. */
static inline lk_holder *lk_holders_first(const lk_node *n)
{
    if (n->first.owner)
        return (lk_holder *)&n->first;
    return n->more && n->more->holders ? &n->more->holders->h : NULL;
}

static inline lk_holder *lk_holders_next(const lk_node *n, const lk_holder *h)
{
    const lk_holder_extra *x = h->is_inline ? (n->more ? n->more->holders : NULL)
                                            : ((const lk_holder_extra *)h)->next;
    return x ? (lk_holder *)&x->h : NULL;
}

/* view.c — an open cursor must not point at what the table frees */
void lk_cursors_skip_holder(nsl_engine *e, const lk_holder *h);
void lk_cursors_skip_owner(nsl_engine *e, const lk_owner *o);
void lk_cursors_free(nsl_engine *e);

/* escalate.c */
uint64_t lk_fingerprint(const uint8_t *part, size_t len);
void lk_fpset_add(lk_fpset *s, uint64_t fp);
bool lk_fpset_remove(lk_fpset *s, uint64_t fp);
void lk_fpset_free(lk_fpset *s);
void lk_escalate_maybe(nsl_engine *e, lk_holder *parent_holder, int mode, bool restoring);
bool lk_escalated_absorb(nsl_engine *e, const lk_part *p, lk_owner *o);
bool lk_escalated_release(nsl_engine *e, lk_node *parent, const uint8_t *part,
                          size_t len, lk_owner *o, int mode, bool defer_final,
                          bool defer_always);

/* deadlock.c */
size_t lk_request_blockers(const nsl_engine *e, const lk_request *r,
                           nsl_owner_id *out, size_t cap);
void lk_deadlock_check(nsl_engine *e, lk_request *r);

/* engine.c — used by the files above */
lk_owner *lk_owner_find(const nsl_engine *e, nsl_owner_id id);
void lk_request_fail(nsl_engine *e, lk_request *r, nsl_code code, int test,
                     const char *message);
void lk_notice(nsl_engine *e, nsl_notice kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
