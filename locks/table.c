/* locks/table.c — the node tree, holders and the O(depth) conflict checks. */
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

void lk_pools_init(nsl_engine *e)
{
    for (int i = 0; i < NODE_POOLS; i++)
        pool_init(&e->node_pools[i], sizeof(lk_node) + 8 * (size_t)(i + 1));
    pool_init(&e->holder_pool, sizeof(lk_holder));
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
    pool_free(&e->holder_pool);
}

/* ---- nodes ------------------------------------------------------------------ */

static lk_node *node_alloc(nsl_engine *e, size_t part_len)
{
    size_t cls = part_len ? (part_len - 1) / 8 : 0;
    lk_node *n = cls < NODE_POOLS ? pool_get(&e->node_pools[cls])
                                  : malloc(sizeof *n + part_len);
    if (!n)
        abort();
    memset(n, 0, sizeof *n);
    return n;
}

static void node_release(nsl_engine *e, lk_node *n)
{
    size_t cls = n->part_len ? (size_t)(n->part_len - 1) / 8 : 0;
    if (cls < NODE_POOLS)
        pool_put(&e->node_pools[cls], n);
    else
        free(n);
}

static lk_node *node_find(const lk_node *parent, const uint8_t *part, size_t len)
{
    lk_node *found = NULL;
    HASH_FIND(hh, parent->children, part, len, found);
    return found;
}

static lk_node *node_create(nsl_engine *e, lk_node *parent, const uint8_t *part,
                            size_t len)
{
    lk_node *n = node_alloc(e, len);
    n->parent = parent;
    n->db = parent->db;
    n->depth = parent->depth == ROOT_DEPTH ? 0 : (uint8_t)(parent->depth + 1);
    n->part_len = (uint16_t)len;
    memcpy(n->part, part, len);
    HASH_ADD(hh, parent->children, part, len, n);
    return n;
}

lk_node *lk_node_get(nsl_engine *e, uint32_t db, const nsl_key *key, bool create)
{
    lk_node *n = e->roots[db];
    size_t start = 0;
    for (unsigned level = 0; level <= key->nsubs; level++) {
        size_t end = key->end[level];
        lk_node *child = node_find(n, key->bytes + start, end - start);
        if (!child) {
            if (!create)
                return NULL;
            child = node_create(e, n, key->bytes + start, end - start);
        }
        n = child;
        start = end;
    }
    return n;
}

static bool node_unused(const lk_node *n)
{
    return !n->holders && !n->children &&
           !(n->pins | n->below[0] | n->below[1] | n->wait_here[0] | n->wait_here[1] |
             n->wait_below[0] | n->wait_below[1]);
}

static void node_free_upwards(nsl_engine *e, lk_node *n)
{
    while (n->depth != ROOT_DEPTH && !n->idle && node_unused(n)) {
        lk_node *parent = n->parent;
        HASH_DELETE(hh, parent->children, n);
        node_release(e, n);
        n = parent;
    }
}

/* A node nothing keeps is not freed at once but parked in a small ring of
 * idle nodes, and freed when the ring needs its slot and it is still
 * unused. Locking and unlocking names under one parent then reuses the
 * parent and its child table instead of rebuilding them each time. */
void lk_node_prune(nsl_engine *e, lk_node *n)
{
    if (n->depth == ROOT_DEPTH || n->idle || !node_unused(n))
        return;
    if (!NSL_POOLS) {              /* sanitizer builds: free at once */
        node_free_upwards(e, n);
        return;
    }
    lk_node *old = e->idle[e->idle_next];
    e->idle[e->idle_next] = n;
    e->idle_next = (e->idle_next + 1) % IDLE_NODES;
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

lk_holder *lk_holder_find(const lk_node *n, const lk_owner *o)
{
    for (lk_holder *h = n->holders; h; h = h->node_next)
        if (h->owner == o)
            return h;
    return NULL;
}

lk_holder *lk_holder_get(nsl_engine *e, lk_node *n, lk_owner *o)
{
    lk_holder *h = lk_holder_find(n, o);
    if (h)
        return h;
    h = pool_get(&e->holder_pool);
    memset(h, 0, sizeof *h);
    h->node = n;
    h->owner = o;
    h->node_next = n->holders;
    n->holders = h;
    return h;
}

unsigned lk_holder_modes(const lk_holder *h)
{
    unsigned m = 0;
    if (h->count[T_X] | h->count[T_XE] || (h->esc[MODE_X] && h->esc[MODE_X]->count))
        m |= 1u << MODE_X;
    if (h->count[T_S] | h->count[T_SE] || (h->esc[MODE_S] && h->esc[MODE_S]->count))
        m |= 1u << MODE_S;
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
    return !(h->below[0] | h->below[1] | h->child_e[0] | h->child_e[1]) &&
           !h->esc[0] && !h->esc[1];
}

static void holder_unlink(lk_holder *h)
{
    lk_holder **pp = &h->node->holders;
    while (*pp != h)
        pp = &(*pp)->node_next;
    *pp = h->node_next;
}

/* Frees h if it records nothing; returns true if it did. The node is left
 * for the caller to prune. */
static bool holder_release_if_empty(nsl_engine *e, lk_holder *h)
{
    if (!holder_empty(h))
        return false;
    holder_unlink(h);
    pool_put(&e->holder_pool, h);
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
}

static void owner_list_remove(nsl_engine *e, lk_holder *h)
{
    lk_owner *o = h->owner;
    if (h->owner_prev)
        h->owner_prev->owner_next = h->owner_next;
    else
        o->held = h->owner_next;
    if (h->owner_next)
        h->owner_next->owner_prev = h->owner_prev;
    h->owner_prev = h->owner_next = NULL;
    o->entries--;
    e->entries--;
}

/* Adds delta to the "held below" counts of every ancestor of n, for the
 * whole node and for owner o's record there. */
static void propagate_below(nsl_engine *e, lk_node *n, lk_owner *o, int mode, int delta)
{
    for (lk_node *a = n->parent; a->depth != ROOT_DEPTH; a = a->parent) {
        a->below[mode] += (uint32_t)delta;
        lk_holder *ah = delta > 0 ? lk_holder_get(e, a, o) : lk_holder_find(a, o);
        ah->below[mode] += (uint32_t)delta;
        if (delta < 0)
            holder_release_if_empty(e, ah);
    }
}

/* Brings the node's and the ancestors' counters, the owner's list and the
 * table's entry count in line with h's new counts, then frees what is no
 * longer used. h may be freed. */
void lk_holder_changed(nsl_engine *e, lk_holder *h, unsigned old_modes, unsigned old_ebits)
{
    lk_node *n = h->node;
    lk_owner *o = h->owner;
    unsigned modes = lk_holder_modes(h);
    unsigned ebits = lk_holder_ebits(h);

    for (int m = 0; m < 2; m++) {
        unsigned bit = 1u << m;
        if ((modes & bit) && !(old_modes & bit)) {
            n->held[m]++;
            propagate_below(e, n, o, m, +1);
        }
    }
    for (int m = 0; m < 2; m++) {
        unsigned bit = 1u << m;
        if (((ebits ^ old_ebits) & bit) && n->depth > 0) {
            lk_holder *ph = lk_holder_get(e, n->parent, o);   /* exists: n is held below it */
            if (ebits & bit)
                ph->child_e[m]++;
            else {
                ph->child_e[m]--;
                holder_release_if_empty(e, ph);
            }
        }
    }
    for (int m = 0; m < 2; m++) {
        unsigned bit = 1u << m;
        if (!(modes & bit) && (old_modes & bit)) {
            n->held[m]--;
            propagate_below(e, n, o, m, -1);
        }
    }
    if (modes && !old_modes)
        owner_list_add(e, h);
    else if (!modes && old_modes)
        owner_list_remove(e, h);
    if (!modes && holder_release_if_empty(e, h))   /* one that holds is not empty */
        lk_node_prune(e, n);
}

/* Does another owner hold, at n or an ancestor, or below n, something that
 * conflicts with mode? Reads counters; walks a holder list only where a
 * counter says another owner may hold. */
bool lk_blocked_by_holders(const lk_node *n, const lk_owner *o, int mode)
{
    for (const lk_node *a = n; a->depth != ROOT_DEPTH; a = a->parent) {
        uint32_t x = a->held[MODE_X], s = mode == MODE_X ? a->held[MODE_S] : 0;
        if (!(x | s))
            continue;
        const lk_holder *mine = lk_holder_find(a, o);
        unsigned my = mine ? lk_holder_modes(mine) : 0;
        if (x > (my & 1u) || s > ((my >> 1) & 1u))
            return true;
    }
    uint32_t bx = n->below[MODE_X], bs = mode == MODE_X ? n->below[MODE_S] : 0;
    if (bx | bs) {
        const lk_holder *mine = lk_holder_find(n, o);
        uint32_t my_x = mine ? mine->below[MODE_X] : 0;
        uint32_t my_s = mine && mode == MODE_X ? mine->below[MODE_S] : 0;
        if (bx > my_x || bs > my_s)
            return true;
    }
    return false;
}

/* Would a new request for mode at n conflict with a registered (earlier)
 * waiting request? SPEC 6.6: it then waits behind it. */
bool lk_blocked_by_waiters(const lk_node *n, int mode)
{
    for (const lk_node *a = n; a->depth != ROOT_DEPTH; a = a->parent)
        if (a->wait_here[MODE_X] || (mode == MODE_X && a->wait_here[MODE_S]))
            return true;
    return n->wait_below[MODE_X] || (mode == MODE_X && n->wait_below[MODE_S]);
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

void lk_register_wait(lk_node *n, int mode, int delta)
{
    n->wait_here[mode] += (uint32_t)delta;
    for (lk_node *a = n->parent; a->depth != ROOT_DEPTH; a = a->parent)
        a->wait_below[mode] += (uint32_t)delta;
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
