/* locks/table.c — the node tree, holders and the O(depth) conflict checks. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "locks/engine_internal.h"

/* Subscript keys are a few bytes. Read them as at most a few overlapping
 * words (as wyhash does for short keys), never past their end, and never
 * a byte at a time. */
static inline uint64_t read32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint64_t read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline unsigned short_key_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t a = 0, b = 0, h = 0x9e3779b97f4a7c15ull ^ len;
    if (len >= 8) {
        for (; len > 8; p += 8, len -= 8)
            h = (h ^ read64(p)) * 0xff51afd7ed558ccdull;
        a = read64(p + len - 8);       /* the last word, overlapping */
    } else if (len >= 4) {
        a = read32(p);
        b = read32(p + len - 4);
    } else if (len > 0) {
        a = (uint64_t)p[0] << 16 | (uint64_t)p[len >> 1] << 8 | p[len - 1];
    }
    h ^= a * 0xc4ceb9fe1a85ec53ull;
    h ^= b * 0x9fb21c651e98df25ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (unsigned)h;
}
#undef HASH_FUNCTION
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = short_key_hash((keyptr), (size_t)(keylen)))

/* Keys are a few bytes: compare them in words, as the hash reads them. */
static inline int short_keycmp(const void *x, const void *y, size_t len)
{
    const unsigned char *a = x, *b = y;
    if (len >= 8) {
        for (; len > 8; a += 8, b += 8, len -= 8)
            if (read64(a) != read64(b))
                return 1;
        return read64(a + len - 8) != read64(b + len - 8);
    }
    if (len >= 4)
        return read32(a) != read32(b) || read32(a + len - 4) != read32(b + len - 4);
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return 1;
    return 0;
}
#undef HASH_KEYCMP
#define HASH_KEYCMP(a, b, n) short_keycmp((a), (b), (size_t)(n))

/* ---- pools ----------------------------------------------------------------
 * Under AddressSanitizer the pools hand out plain malloc blocks, so that a
 * use after free is still caught. */

#if defined(__SANITIZE_ADDRESS__)
#define NSL_POOLS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NSL_POOLS 0
#endif
#endif
#ifndef NSL_POOLS
#define NSL_POOLS 1
#endif

#define POOL_CHUNK (64 * 1024)

static void pool_init(lk_pool *p, size_t size)
{
    memset(p, 0, sizeof *p);
    p->size = (size + 7) & ~(size_t)7;
}

static void *pool_get(lk_pool *p)
{
    if (!NSL_POOLS) {
        void *x = malloc(p->size);
        if (!x)
            abort();
        return x;
    }
    if (!p->free) {
        if (p->chunk_count == p->chunk_capacity) {
            p->chunk_capacity = p->chunk_capacity ? p->chunk_capacity * 2 : 16;
            p->chunks = realloc(p->chunks, p->chunk_capacity * sizeof *p->chunks);
            if (!p->chunks)
                abort();
        }
        char *chunk = malloc(POOL_CHUNK);
        if (!chunk)
            abort();
        p->chunks[p->chunk_count++] = chunk;
        for (size_t off = 0; off + p->size <= POOL_CHUNK; off += p->size) {
            *(void **)(chunk + off) = p->free;
            p->free = chunk + off;
        }
    }
    void *x = p->free;
    p->free = *(void **)x;
    return x;
}

static void pool_put(lk_pool *p, void *x)
{
    if (!NSL_POOLS) {
        free(x);
        return;
    }
    *(void **)x = p->free;
    p->free = x;
}

/* Node sizes: the header plus the part, rounded up to 8 bytes; a pool per
 * size class for the common short parts. */
#define NODE_HEADER offsetof(lk_node, part)
#define NODE_MIN_SIZE ((NODE_HEADER + 1 + 7) & ~(size_t)7)

static size_t node_size(size_t part_len)
{
    size_t size = (NODE_HEADER + part_len + 7) & ~(size_t)7;
    return size < NODE_MIN_SIZE ? NODE_MIN_SIZE : size;
}

static size_t node_class(size_t part_len)
{
    return (node_size(part_len) - NODE_MIN_SIZE) / 8;
}

void lk_pools_init(nsl_engine *e)
{
    for (int i = 0; i < NODE_POOLS; i++)
        pool_init(&e->node_pools[i], NODE_MIN_SIZE + 8 * (size_t)i);
    pool_init(&e->extra_pool, sizeof(lk_holder_extra));
    pool_init(&e->more_pool, sizeof(lk_node_more));
}

static void pool_free(lk_pool *p)
{
    for (size_t i = 0; i < p->chunk_count; i++)
        free(p->chunks[i]);
    free(p->chunks);
}

void lk_pools_free(nsl_engine *e)
{
    for (int i = 0; i < NODE_POOLS; i++)
        pool_free(&e->node_pools[i]);
    pool_free(&e->extra_pool);
    pool_free(&e->more_pool);
}

/* ---- nodes ------------------------------------------------------------------ */

static lk_node *node_alloc(nsl_engine *e, size_t part_len)
{
    size_t cls = node_class(part_len);
    lk_node *n = cls < NODE_POOLS ? pool_get(&e->node_pools[cls]) : malloc(node_size(part_len));
    if (!n)
        abort();
    memset(n, 0, NODE_HEADER);
    n->first.is_inline = 1;
    return n;
}

static void node_release(nsl_engine *e, lk_node *n)
{
    if (e->last_name == n)
        e->last_name = NULL;
    if (n->more)
        pool_put(&e->more_pool, n->more);
    size_t cls = node_class(n->part_len);
    if (cls < NODE_POOLS)
        pool_put(&e->node_pools[cls], n);
    else
        free(n);
}

lk_node_more *lk_node_more_get(nsl_engine *e, lk_node *n)
{
    if (!n->more) {
        n->more = pool_get(&e->more_pool);
        memset(n->more, 0, sizeof *n->more);
    }
    return n->more;
}

static lk_node *node_find(const lk_node *parent, const uint8_t *part, size_t len,
                          unsigned hashv)
{
    lk_node *found = NULL;
    if (parent->more)
        HASH_FIND_BYHASHVALUE(hh, parent->more->children, part, len, hashv, found);
    return found;
}

static lk_node *node_create(nsl_engine *e, lk_node *parent, const uint8_t *part,
                            size_t len, unsigned hashv)
{
    lk_node *n = node_alloc(e, len);
    n->parent = parent;
    n->db = parent->db;
    n->depth = parent->depth == ROOT_DEPTH ? 0 : (uint8_t)(parent->depth + 1);
    n->part_len = (uint16_t)len;
    memcpy(n->part, part, len);
    lk_node_more *pm = lk_node_more_get(e, parent);
    HASH_ADD_BYHASHVALUE(hh, pm->children, part, len, hashv, n);
    return n;
}

lk_node *lk_node_get(nsl_engine *e, uint32_t db, const nsl_key *key, bool create)
{
    lk_node *n = e->roots[db];
    size_t start = 0;
    unsigned level = 0;
    /* Consecutive commands mostly name the same global: its node is kept. */
    lk_node *last = e->last_name;
    if (last && last->db == db && last->part_len == key->end[0] &&
        !short_keycmp(last->part, key->bytes, key->end[0])) {
        n = last;
        start = key->end[0];
        level = 1;
    }
    for (; level <= key->nsubs; level++) {
        size_t end = key->end[level];
        unsigned hashv = short_key_hash(key->bytes + start, end - start);
        lk_node *child = node_find(n, key->bytes + start, end - start, hashv);
        if (!child) {
            if (!create)
                return NULL;
            child = node_create(e, n, key->bytes + start, end - start, hashv);
        }
        if (level == 0)
            e->last_name = child;
        n = child;
        start = end;
    }
    return n;
}

static bool more_unused(const lk_node_more *m)
{
    return !m->children && !m->holders &&
           !(m->below[0] | m->below[1] | m->wait_here[0] | m->wait_here[1] |
             m->wait_below[0] | m->wait_below[1]);
}

/* Gives back a node's extension once it records nothing, so an entry that
 * once had a waiter, a delock or a second owner costs again what a plain
 * one does. */
static void node_more_trim(nsl_engine *e, lk_node *n)
{
    static const lk_holder_more zero;
    lk_node_more *m = n->more;
    if (m && n->depth != ROOT_DEPTH && more_unused(m) &&
        !memcmp(&m->first_more, &zero, sizeof zero)) {
        pool_put(&e->more_pool, m);
        n->more = NULL;
    }
}

static bool node_unused(const lk_node *n)
{
    return !n->first.owner && !n->pins && (!n->more || more_unused(n->more));
}

static void node_free_upwards(nsl_engine *e, lk_node *n)
{
    while (n->depth != ROOT_DEPTH && !n->idle && node_unused(n)) {
        lk_node *parent = n->parent;
        HASH_DELETE(hh, parent->more->children, n);
        node_release(e, n);
        n = parent;
    }
}

/* Sanitizer builds park only a few nodes, so that evictions are constant
 * and a node used after it was freed is caught soon. */
#define IDLE_RING (NSL_POOLS ? IDLE_NODES : 4)

/* A node nothing keeps is not freed at once but parked in a small ring of
 * idle nodes, and freed when the ring needs its slot and it is still
 * unused. Locking and unlocking names under one parent then reuses the
 * parent and its child table instead of rebuilding them each time. */
void lk_node_prune(nsl_engine *e, lk_node *n)
{
    if (n->depth == ROOT_DEPTH || n->idle || !node_unused(n))
        return;
    lk_node *old = e->idle[e->idle_next];
    e->idle[e->idle_next] = n;
    e->idle_next = (e->idle_next + 1) % IDLE_RING;
    n->idle = 1;
    if (old) {
        old->idle = 0;
        node_free_upwards(e, old);
    }
}

/* Frees every parked node (the engine is going away, or a test wants an
 * exact count). */
void lk_nodes_flush(nsl_engine *e)
{
    for (size_t i = 0; i < IDLE_NODES; i++) {
        lk_node *n = e->idle[i];
        if (!n)
            continue;
        e->idle[i] = NULL;
        n->idle = 0;
        node_free_upwards(e, n);
    }
}

/* The sentinel above a database's names: in no table, never pruned. */
lk_node *lk_root_new(nsl_engine *e, uint32_t db)
{
    lk_node *root = node_alloc(e, 0);
    root->db = (uint16_t)db;
    root->depth = ROOT_DEPTH;
    return root;
}

/* Frees the root sentinels' child tables and the sentinels. */
void lk_roots_free(nsl_engine *e)
{
    for (uint32_t db = 0; db < e->database_count; db++) {
        lk_node *root = e->roots[db];
        if (root->more)
            HASH_CLEAR(hh, root->more->children);
        node_release(e, root);
    }
}

/* ---- holders ------------------------------------------------------------- */

lk_holder *lk_holder_find(const lk_node *n, const lk_owner *o)
{
    if (n->first.owner == o)
        return (lk_holder *)&n->first;
    if (!n->more || !n->more->by_owner)
        return NULL;
    lk_holder_extra *x;
    HASH_FIND(hh, n->more->by_owner, &o, sizeof o, x);
    return x ? &x->h : NULL;
}

lk_holder *lk_holder_get(nsl_engine *e, lk_node *n, lk_owner *o)
{
    lk_holder *h = lk_holder_find(n, o);
    if (h)
        return h;
    if (!n->first.owner) {
        h = &n->first;
        memset(h, 0, sizeof *h);
        h->is_inline = 1;
        h->owner = o;
        if (n->more)
            memset(&n->more->first_more, 0, sizeof n->more->first_more);
        return h;
    }
    lk_node_more *m = lk_node_more_get(e, n);
    lk_holder_extra *x = pool_get(&e->extra_pool);
    memset(x, 0, sizeof *x);
    x->h.owner = o;
    x->node = n;
    x->next = m->holders;
    if (m->holders)
        m->holders->prev = x;
    m->holders = x;
    HASH_ADD(hh, m->by_owner, h.owner, sizeof x->h.owner, x);
    return &x->h;
}

lk_holder_more *lk_holder_more_get(nsl_engine *e, lk_holder *h)
{
    if (!h->is_inline)
        return &((lk_holder_extra *)h)->more;
    return &lk_node_more_get(e, lk_holder_node(h))->first_more;
}

static uint32_t offset_from(uint64_t base, uint64_t now)
{
    if (now <= base)
        return 0;                                /* a clock that went back */
    return now - base > UINT32_MAX ? UINT32_MAX : (uint32_t)(now - base);
}

/* Records the grant that created h's entry. Tokens and times both grow,
 * so the epoch of a token is the last one starting at or before it. A
 * token from before the engine started (a reclaim) is timed from the first
 * reclaim instead: reclaims come during a recovery grace of seconds, so one
 * base serves them all (one more than 49 days later would show the latest
 * time an offset can say). */
void lk_holder_stamp(nsl_engine *e, lk_holder *h, uint64_t token, uint64_t now)
{
    if (token <= e->opt.first_token) {
        if (!e->reclaimed) {
            e->reclaimed = true;
            e->reclaim_base = now;
        }
        h->token = token;
        h->since = offset_from(e->reclaim_base, now);
        return;
    }
    lk_epoch *cur = e->epoch_count ? &e->epochs[e->epoch_count - 1] : NULL;
    if (!cur || (now > cur->base && now - cur->base > UINT32_MAX)) {
        if (e->epoch_count == e->epoch_capacity) {
            e->epoch_capacity = e->epoch_capacity ? e->epoch_capacity * 2 : 4;
            e->epochs = realloc(e->epochs, e->epoch_capacity * sizeof *e->epochs);
            if (!e->epochs)
                abort();
        }
        cur = &e->epochs[e->epoch_count++];
        cur->first_token = token;
        cur->base = now;
    }
    h->token = token;
    h->since = now > cur->base ? (uint32_t)(now - cur->base) : 0;   /* a clock that went back */
}

uint64_t lk_holder_since(const nsl_engine *e, const lk_holder *h)
{
    if (h->token <= e->opt.first_token)
        return e->reclaim_base + h->since;
    size_t lo = 0, hi = e->epoch_count;       /* the last epoch with first_token <= token */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->epochs[mid].first_token <= h->token)
            lo = mid;
        else
            hi = mid;
    }
    return e->epoch_count ? e->epochs[lo].base + h->since : h->since;
}

unsigned lk_holder_modes(const lk_holder *h)
{
    unsigned m = (h->count[T_X] | h->count[T_XE] ? 1u << MODE_X : 0) |
                 (h->count[T_S] | h->count[T_SE] ? 1u << MODE_S : 0);
    const lk_holder_more *hm = lk_holder_more_of(h);
    if (hm) {
        if (hm->esc[MODE_X] && hm->esc[MODE_X]->count)
            m |= 1u << MODE_X;
        if (hm->esc[MODE_S] && hm->esc[MODE_S]->count)
            m |= 1u << MODE_S;
    }
    return m;
}

/* Which modes the holder holds as escalating locks on this (child) node. */
unsigned lk_holder_ebits(const lk_holder *h)
{
    return (h->count[T_XE] ? 1u << MODE_X : 0) | (h->count[T_SE] ? 1u << MODE_S : 0);
}

static bool holder_empty(const lk_holder *h)
{
    for (int t = 0; t < T_COUNT; t++)
        if (h->count[t])
            return false;
    const lk_holder_more *hm = lk_holder_more_of(h);
    return !hm || (!(hm->below[0] | hm->below[1] | hm->child_e[0] | hm->child_e[1]) &&
                   !hm->esc[0] && !hm->esc[1]);
}

/* Frees h if it records nothing; returns true if it did. The node is left
 * for the caller to prune. */
static bool holder_release_if_empty(nsl_engine *e, lk_holder *h)
{
    if (!holder_empty(h))
        return false;
    if (h->is_inline) {
        h->owner = NULL;
        return true;
    }
    lk_holder_extra *x = (lk_holder_extra *)h;
    lk_node_more *m = x->node->more;
    if (x->prev)
        x->prev->next = x->next;
    else
        m->holders = x->next;
    if (x->next)
        x->next->prev = x->prev;
    HASH_DELETE(hh, m->by_owner, x);
    pool_put(&e->extra_pool, x);
    return true;
}

static void owner_list_add(nsl_engine *e, lk_holder *h)
{
    lk_owner *o = h->owner;
    h->owner_prev = NULL;
    h->owner_next = o->held;
    if (o->held)
        o->held->owner_prev = h;
    o->held = h;
    o->entries++;
    e->entries++;
    e->database_entries[lk_holder_node(h)->db]++;
}

static void owner_list_remove(nsl_engine *e, lk_holder *h)
{
    lk_owner *o = h->owner;
    if (e->cursors)
        lk_cursors_skip_holder(e, h);
    if (h->owner_prev)
        h->owner_prev->owner_next = h->owner_next;
    else
        o->held = h->owner_next;
    if (h->owner_next)
        h->owner_next->owner_prev = h->owner_prev;
    h->owner_prev = h->owner_next = NULL;
    o->entries--;
    e->entries--;
    uint32_t db = lk_holder_node(h)->db;
    e->database_entries[db]--;
    if (e->cb.released)
        e->cb.released(e->ctx, db, lk_holder_since(e, h));
}

/* Adds delta to the "held below" counts of every ancestor of n, for the
 * whole node and for owner o's record there. An ancestor has children, so
 * it has its lk_node_more. */
static void propagate_below(nsl_engine *e, lk_node *n, lk_owner *o, int mode, int delta)
{
    for (lk_node *a = n->parent; a->depth != ROOT_DEPTH; a = a->parent) {
        a->more->below[mode] += (uint32_t)delta;
        lk_holder *ah = delta > 0 ? lk_holder_get(e, a, o) : lk_holder_find(a, o);
        lk_holder_more *am = ah->is_inline ? &a->more->first_more
                                           : &((lk_holder_extra *)ah)->more;
        am->below[mode] += (uint32_t)delta;
        if (delta < 0 && !am->below[mode])
            holder_release_if_empty(e, ah);
    }
}

static void node_held_add(lk_node *n, int mode, int delta)
{
    if (mode == MODE_X)
        n->held_x = (uint8_t)(n->held_x + delta);
    else
        n->held_s += (uint32_t)delta;
}

/* Brings the node's and the ancestors' counters, the owner's list and the
 * table's entry count in line with h's new counts, then frees what is no
 * longer used. h may be freed. */
void lk_holder_changed(nsl_engine *e, lk_holder *h, unsigned old_modes, unsigned old_ebits)
{
    lk_node *n = lk_holder_node(h);
    lk_owner *o = h->owner;
    unsigned modes = lk_holder_modes(h);
    unsigned ebits = lk_holder_ebits(h);
    unsigned gained = modes & ~old_modes, lost = old_modes & ~modes;
    unsigned echanged = n->depth > 0 ? ebits ^ old_ebits : 0;

    if (!(gained | lost | echanged)) {       /* a count moved within a mode */
        if (!modes)
            holder_release_if_empty(e, h);
        node_more_trim(e, n);
        lk_node_prune(e, n);
        return;
    }
    for (int m = 0; m < 2; m++) {
        if (gained & (1u << m)) {
            node_held_add(n, m, +1);
            propagate_below(e, n, o, m, +1);
        }
    }
    for (int m = 0; m < 2; m++) {
        unsigned bit = 1u << m;
        if (echanged & bit) {
            lk_holder *ph = lk_holder_get(e, n->parent, o);   /* exists: n is held below it */
            lk_holder_more *pm = lk_holder_more_get(e, ph);
            if (ebits & bit)
                pm->child_e[m]++;
            else {
                pm->child_e[m]--;
                holder_release_if_empty(e, ph);
            }
        }
    }
    for (int m = 0; m < 2; m++) {
        if (lost & (1u << m)) {
            node_held_add(n, m, -1);
            propagate_below(e, n, o, m, -1);
        }
    }
    if (modes && !old_modes)
        owner_list_add(e, h);
    else if (!modes && old_modes)
        owner_list_remove(e, h);
    if (!modes)
        holder_release_if_empty(e, h);      /* one that holds is not empty */
    node_more_trim(e, n);
    lk_node_prune(e, n);
}

/* Does another owner hold, at n or an ancestor, or below n, something that
 * conflicts with mode? Reads counters; looks for the owner's own holder
 * only where a counter says someone holds. */
bool lk_blocked_by_holders(const lk_node *n, const lk_owner *o, int mode)
{
    for (const lk_node *a = n; a->depth != ROOT_DEPTH; a = a->parent) {
        uint32_t x = a->held_x, s = mode == MODE_X ? a->held_s : 0;
        if (!(x | s))
            continue;
        const lk_holder *mine = lk_holder_find(a, o);
        unsigned my = mine ? lk_holder_modes(mine) : 0;
        if (x > (my & 1u) || s > ((my >> 1) & 1u))
            return true;
    }
    if (!n->more)
        return false;
    uint32_t bx = n->more->below[MODE_X], bs = mode == MODE_X ? n->more->below[MODE_S] : 0;
    if (bx | bs) {
        const lk_holder *mine = lk_holder_find(n, o);
        const lk_holder_more *hm = mine ? lk_holder_more_of(mine) : NULL;
        uint32_t my_x = hm ? hm->below[MODE_X] : 0;
        uint32_t my_s = hm && mode == MODE_X ? hm->below[MODE_S] : 0;
        if (bx > my_x || bs > my_s)
            return true;
    }
    return false;
}

static bool holds_against(const lk_holder *h, int mode)
{
    unsigned m = lk_holder_modes(h);
    return (m & (1u << MODE_X)) || (mode == MODE_X && (m & (1u << MODE_S)));
}

static const lk_owner *conflict_below(const lk_node *n, const lk_owner *o, int mode)
{
    if (!n->more || !(n->more->below[MODE_X] | n->more->below[MODE_S]))
        return NULL;
    lk_node *c, *tmp;
    HASH_ITER(hh, n->more->children, c, tmp) {
        for (const lk_holder *h = lk_holders_first(c); h; h = lk_holders_next(c, h))
            if (h->owner != o && holds_against(h, mode))
                return h->owner;
        const lk_owner *x = conflict_below(c, o, mode);
        if (x)
            return x;
    }
    return NULL;
}

/* Another owner whose holds keep mode at n from o (one of them), or NULL:
 * for messages only, it may walk n's subtree. */
const lk_owner *lk_conflicting_owner(const lk_node *n, const lk_owner *o, int mode)
{
    for (const lk_node *a = n; a->depth != ROOT_DEPTH; a = a->parent)
        for (const lk_holder *h = lk_holders_first(a); h; h = lk_holders_next(a, h))
            if (h->owner != o && holds_against(h, mode))
                return h->owner;
    return conflict_below(n, o, mode);
}

/* Would a new request for mode at n conflict with a registered (earlier)
 * waiting request? docs/LANGUAGE.md: it then waits behind it. */
bool lk_blocked_by_waiters(const lk_node *n, int mode)
{
    for (const lk_node *a = n; a->depth != ROOT_DEPTH; a = a->parent) {
        const lk_node_more *m = a->more;
        if (m && (m->wait_here[MODE_X] || (mode == MODE_X && m->wait_here[MODE_S])))
            return true;
    }
    const lk_node_more *m = n->more;
    return m && (m->wait_below[MODE_X] || (mode == MODE_X && m->wait_below[MODE_S]));
}

/* The owner already holds, at the node or above, a mode that covers this
 * one: granting it takes nothing from anyone queued, so FIFO order does
 * not apply to it (and the waiters ahead do not block it). */
bool lk_owner_covers(const lk_node *n, const lk_owner *o, int mode)
{
    for (const lk_node *a = n; a->depth != ROOT_DEPTH; a = a->parent) {
        const lk_holder *h = lk_holder_find(a, o);
        unsigned m = h ? lk_holder_modes(h) : 0;
        if ((m & (1u << MODE_X)) || (mode == MODE_S && (m & (1u << MODE_S))))
            return true;
    }
    return false;
}

void lk_register_wait(nsl_engine *e, lk_node *n, int mode, int delta)
{
    lk_node_more_get(e, n)->wait_here[mode] += (uint32_t)delta;
    for (lk_node *a = n->parent; a->depth != ROOT_DEPTH; a = a->parent)
        a->more->wait_below[mode] += (uint32_t)delta;
    if (delta < 0)
        node_more_trim(e, n);
}

/* ancestor is n or one of n's ancestors. */
bool lk_node_covers(const lk_node *ancestor, const lk_node *n)
{
    if (ancestor->db != n->db || ancestor->depth > n->depth)
        return false;
    while (n->depth > ancestor->depth)
        n = n->parent;
    return n == ancestor;
}

/* The encoded key of n, by concatenating the parts from the top. */
size_t lk_node_key(const lk_node *n, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    for (const lk_node *a = n; a->depth != ROOT_DEPTH; a = a->parent)
        len += a->part_len;
    if (len > cap)
        return len;
    size_t end = len;
    for (const lk_node *a = n; a->depth != ROOT_DEPTH; a = a->parent) {
        end -= a->part_len;
        memcpy(buf + end, a->part, a->part_len);
    }
    return len;
}
