/* locks/check.c — nsl_engine_check: the engine's derived state (the
 * counters the O(depth) conflict checks read, the owners' lists, the
 * queue's indexes) recomputed from what it derives from and compared.
 *
 * For tests, between engine calls: it walks the whole table, so it costs
 * nothing unless called, and about a pass over the table when it is (the
 * differential test calls it after every step). The first difference found
 * is reported.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "locks/engine_internal.h"

/* A holder on the path from the root to the node being walked, with what
 * the walk found below it so far. */
typedef struct frame_holder {
    const lk_holder *h;
    uint32_t below[2];              /* nodes below where its owner holds X / S */
    uint32_t child_e[2];            /* direct children where its owner holds E in X / S */
} frame_holder;

/* A waiting part's node and mode, sorted, so the walk can count those
 * pointing at each node. */
typedef struct part_at {
    const lk_node *node;
    int mode;
} part_at;

typedef struct checker {
    const nsl_engine *e;
    char *why;
    size_t cap;
    frame_holder *path;             /* the holders of the nodes on the path */
    size_t path_count, path_capacity;
    size_t frame[NSL_MAX_SUBSCRIPTS + 2];   /* where each depth's holders start */
    part_at *parts;
    size_t part_count, parts_found;
    const lk_holder **held;         /* holders with direct holds, as the walk finds them */
    size_t held_count, held_capacity;
    uint64_t idle;                  /* nodes flagged idle, in the tree */
    bool saw_last_name;
} checker;

/* ---- messages (cold) ------------------------------------------------------ */

static void vsay(checker *k, const lk_node *n, const char *fmt, va_list ap)
{
    if (!k->why || !k->cap)
        return;
    size_t len = 0;
    if (n && n->depth == ROOT_DEPTH) {
        len = (size_t)snprintf(k->why, k->cap, "the root of database %u: ", n->db);
    } else if (n) {
        uint8_t key[NSL_MAX_KEY_BYTES];
        size_t klen = lk_node_key(n, key, sizeof key);
        char name[600] = "?";
        if (klen <= sizeof key)
            nsl_key_format_bytes(key, klen, name, sizeof name);
        const nsl_registry *reg = nsl_resolver_registry(k->e->resolver);
        const char *db = n->db < k->e->database_count ? nsl_registry_database(reg, n->db)->name
                                                      : "?";
        len = (size_t)snprintf(k->why, k->cap, "%s %s: ", db, name);
    }
    if (len < k->cap)
        vsnprintf(k->why + len, k->cap - len, fmt, ap);
}

/* Records the difference (at node n, or NULL) and returns false. */
static bool bad(checker *k, const lk_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), cold));
static bool bad(checker *k, const lk_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(k, n, fmt, ap);
    va_end(ap);
    return false;
}

/* ---- helpers --------------------------------------------------------------- */

static void *grow(void *p, size_t *capacity, size_t size)
{
    *capacity = *capacity ? *capacity * 2 : 64;
    p = realloc(p, *capacity * size);
    if (!p)
        abort();
    return p;
}

static int part_cmp(const void *a, const void *b)
{
    const part_at *x = a, *y = b;
    if (x->node != y->node)
        return (uintptr_t)x->node < (uintptr_t)y->node ? -1 : 1;
    return x->mode - y->mode;
}

static int ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(const void *const *)a, y = (uintptr_t)*(const void *const *)b;
    return x < y ? -1 : x > y;
}

/* The waiting parts at n, per mode. */
static void parts_at(checker *k, const lk_node *n, uint32_t out[2])
{
    out[0] = out[1] = 0;
    size_t lo = 0, hi = k->part_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)k->parts[mid].node < (uintptr_t)n)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < k->part_count && k->parts[lo].node == n; lo++) {
        out[k->parts[lo].mode]++;
        k->parts_found++;
    }
}

static bool node_unused(const lk_node *n)
{
    const lk_node_more *m = n->more;
    return !n->first.owner && !n->pins &&
           (!m || (!m->children && !m->holders &&
                   !(m->below[0] | m->below[1] | m->wait_here[0] | m->wait_here[1] |
                     m->wait_below[0] | m->wait_below[1])));
}

static bool fpset_ok(checker *k, const lk_node *n, const lk_escalated *esc, int m)
{
    const lk_fpset *s = &esc->children;
    if (!esc->count || esc->deferred > esc->count)
        return bad(k, n, "escalated %c lock with count %u, %u deferred", "XS"[m], esc->count,
                   esc->deferred);
    uint32_t live = 0, used = 0;
    for (uint32_t i = 0; i < s->capacity; i++) {
        live += s->slots[i] > 1;
        used += s->slots[i] != 0;
    }
    if (live != s->live || used != s->used || (s->capacity && used >= s->capacity))
        return bad(k, n, "escalated %c fingerprint set says %u live, %u used of %u; has %u, %u",
                   "XS"[m], s->live, s->used, s->capacity, live, used);
    if (s->live != esc->count - esc->deferred)
        return bad(k, n, "escalated %c lock counts %u, %u deferred, but stands for %u children",
                   "XS"[m], esc->count, esc->deferred, s->live);
    return true;
}

/* ---- the walk ----------------------------------------------------------------- */

/* One holder at n (depth d) on its own, and what it means for the holders
 * on the path above: their records count it, and none of another owner may
 * conflict with it. */
static bool holder_ok(checker *k, const lk_node *n, const lk_holder *h)
{
    const nsl_engine *e = k->e;
    const lk_holder_more *hm = lk_holder_more_of(h);
    unsigned modes = lk_holder_modes(h);
    for (int t = 0; t < T_COUNT; t++) {
        unsigned deferred = hm ? hm->deferred[t] : 0;
        if (h->count[t] > NSL_MAX_LOCK_COUNT || deferred > h->count[t])
            return bad(k, n, "owner %u: count %u, %u deferred in slot %d", h->owner->id,
                       h->count[t], deferred, t);
    }
    if (n->depth == 0 && (h->count[T_XE] | h->count[T_SE]))
        return bad(k, n, "owner %u: E counts on a name without subscripts", h->owner->id);
    for (int m = 0; hm && m < 2; m++) {
        if (hm->esc[m] && !fpset_ok(k, n, hm->esc[m], m))
            return false;
        if (hm->esc[m] && hm->child_e[m])
            return bad(k, n, "owner %u: escalated in %c while %u children hold E in it",
                       h->owner->id, "XS"[m], hm->child_e[m]);
    }
    if (!modes) {
        if (!hm || !(hm->below[0] | hm->below[1] | hm->child_e[0] | hm->child_e[1]))
            return bad(k, n, "owner %u: a holder that records nothing is kept", h->owner->id);
        return true;
    }
    if (k->held_count == k->held_capacity)
        k->held = grow(k->held, &k->held_capacity, sizeof *k->held);
    k->held[k->held_count++] = h;
    if (!h->token || h->token > e->last_token)
        return bad(k, n, "owner %u: token %llu (last %llu)", h->owner->id,
                   (unsigned long long)h->token, (unsigned long long)e->last_token);
    if (h->namespace_id >= nsl_registry_namespace_count(nsl_resolver_registry(e->resolver)))
        return bad(k, n, "owner %u: namespace %u", h->owner->id, h->namespace_id);
    unsigned ebits = n->depth > 0 ? lk_holder_ebits(h) : 0;
    for (unsigned d = 0; d < n->depth; d++) {
        frame_holder *mine = NULL;
        for (size_t i = k->frame[d]; i < k->frame[d + 1]; i++) {
            const lk_holder *g = k->path[i].h;
            unsigned gm = lk_holder_modes(g);
            if (g->owner == h->owner)
                mine = &k->path[i];
            else if (gm && ((gm | modes) & (1u << MODE_X)))
                return bad(k, n, "SAFETY: owner %u holds it while owner %u holds an ancestor",
                           h->owner->id, g->owner->id);
        }
        if (!mine)
            return bad(k, n, "owner %u holds it without a holder at the ancestor at depth %u",
                       h->owner->id, d);
        for (int m = 0; m < 2; m++) {
            mine->below[m] += (modes >> m) & 1u;
            if (d + 1 == n->depth)
                mine->child_e[m] += (ebits >> m) & 1u;
        }
    }
    return true;
}

/* The node's own structure, holders and counters at it. */
static bool node_ok(checker *k, const lk_node *n)
{
    uint32_t held[2] = {0, 0};
    const lk_holder *x_holder = NULL, *s_holder = NULL;
    if (!n->first.is_inline)
        return bad(k, n, "the inline holder is not marked inline");
    if (n->more) {
        /* the extras' list and their index by owner hold the same records */
        unsigned listed = 0;
        for (const lk_holder_extra *x = n->more->holders; x; x = x->next) {
            if (x->next && x->next->prev != x)
                return bad(k, n, "the extra holders' list is broken");
            listed++;
        }
        if (listed != HASH_COUNT(n->more->by_owner))
            return bad(k, n, "%u extra holders listed, %u indexed by owner", listed,
                       HASH_COUNT(n->more->by_owner));
    }
    for (const lk_holder *h = lk_holders_first(n); h; h = lk_holders_next(n, h)) {
        if (!h->owner)
            return bad(k, n, "a holder without an owner");
        if (!h->is_inline && ((const lk_holder_extra *)h)->node != n)
            return bad(k, n, "an extra holder of another node");
        if (lk_holder_find(n, h->owner) != h)
            return bad(k, n, "owner %u has two holders", h->owner->id);
        if (!holder_ok(k, n, h))
            return false;
        unsigned modes = lk_holder_modes(h);
        if (modes & (1u << MODE_X)) {
            held[MODE_X]++;
            x_holder = h;
        }
        if (modes & (1u << MODE_S)) {
            held[MODE_S]++;
            s_holder = h;
        }
    }
    if (held[MODE_X] != n->held_x || held[MODE_S] != n->held_s)
        return bad(k, n, "held_x %u held_s %u, the holders say %u and %u", n->held_x, n->held_s,
                   held[MODE_X], held[MODE_S]);
    if (held[MODE_X] > 1 || (held[MODE_X] && held[MODE_S] > 1) ||
        (held[MODE_X] && s_holder && s_holder != x_holder))
        return bad(k, n, "SAFETY: %u exclusive and %u shared holders", held[MODE_X], held[MODE_S]);
    k->idle += n->idle;
    k->saw_last_name |= n == k->e->last_name;
    if (n->depth != ROOT_DEPTH && !n->idle && node_unused(n))
        return bad(k, n, "an unused node is neither freed nor parked");
    return true;
}

typedef struct subtree {
    uint32_t held[2];      /* holders holding X / S, n included */
    uint32_t waiting[2];   /* waiting parts in X / S, n included */
} subtree;

/* Depth first: node n, then its subtree, then the counters that sum it. */
static bool walk(checker *k, const lk_node *n, subtree *out)
{
    bool root = n->depth == ROOT_DEPTH;
    unsigned d = root ? 0 : n->depth;
    if (!root) {
        /* n's holders join the path, for the nodes below to count into. */
        if (d > NSL_MAX_SUBSCRIPTS)
            return bad(k, n, "deeper than a lock name can be");
        k->frame[d] = k->path_count;
        for (const lk_holder *h = lk_holders_first(n); h; h = lk_holders_next(n, h)) {
            if (k->path_count == k->path_capacity)
                k->path = grow(k->path, &k->path_capacity, sizeof *k->path);
            k->path[k->path_count++] = (frame_holder){h, {0, 0}, {0, 0}};
        }
        k->frame[d + 1] = k->path_count;
        if (!node_ok(k, n))
            return false;
    } else if (n->first.owner || (n->more && n->more->holders) || n->pins) {
        return bad(k, n, "a root holds or is pinned");
    }
    subtree below = {{0, 0}, {0, 0}};
    if (n->more) {
        uint8_t want_depth = root ? 0 : (uint8_t)(n->depth + 1);
        lk_node *c, *tmp;
        HASH_ITER(hh, n->more->children, c, tmp) {
            if (c->parent != n || c->db != n->db || c->depth != want_depth ||
                c->hh.key != c->part || c->hh.keylen != c->part_len)
                return bad(k, n, "a child that does not belong to it");
            subtree s;
            if (!walk(k, c, &s))
                return false;
            for (int m = 0; m < 2; m++) {
                below.held[m] += s.held[m];
                below.waiting[m] += s.waiting[m];
            }
        }
    }
    uint32_t parts[2] = {0, 0};
    if (k->part_count)
        parts_at(k, n, parts);
    const lk_node_more *m = n->more;
    for (int i = 0; i < 2; i++) {
        /* The roots keep no counters: the walks up stop below them. */
        uint32_t want_below = root ? 0 : below.held[i];
        uint32_t want_wait_below = root ? 0 : below.waiting[i];
        if ((m ? m->below[i] : 0) != want_below)
            return bad(k, n, "below[%c] %u, the subtree holds %u", "XS"[i], m ? m->below[i] : 0,
                       want_below);
        if ((m ? m->wait_here[i] : 0) != parts[i])
            return bad(k, n, "wait_here[%c] %u, %u parts wait here", "XS"[i],
                       m ? m->wait_here[i] : 0, parts[i]);
        if ((m ? m->wait_below[i] : 0) != want_wait_below)
            return bad(k, n, "wait_below[%c] %u, %u parts wait below", "XS"[i],
                       m ? m->wait_below[i] : 0, want_wait_below);
        out->held[i] = below.held[i];
        out->waiting[i] = below.waiting[i] + parts[i];
    }
    if (n->pins != parts[0] + parts[1])
        return bad(k, n, "%u pins, %u request parts", n->pins, parts[0] + parts[1]);
    if (root)
        return true;
    /* What was found below n's holders, against their records. */
    for (size_t i = k->frame[d]; i < k->frame[d + 1]; i++) {
        const frame_holder *f = &k->path[i];
        const lk_holder_more *hm = lk_holder_more_of(f->h);
        unsigned modes = lk_holder_modes(f->h);
        for (int j = 0; j < 2; j++) {
            uint32_t have_below = hm ? hm->below[j] : 0, have_child_e = hm ? hm->child_e[j] : 0;
            if (have_below != f->below[j] || have_child_e != f->child_e[j])
                return bad(k, n, "owner %u: below[%c] %u child_e[%c] %u; the subtree says %u, %u",
                           f->h->owner->id, "XS"[j], have_below, "XS"[j], have_child_e,
                           f->below[j], f->child_e[j]);
            out->held[j] += (modes >> j) & 1u;
        }
    }
    k->path_count = k->frame[d];
    return true;
}

/* ---- the queue, the owners, the rest ------------------------------------------------ */

static bool queue_ok(checker *k)
{
    const nsl_engine *e = k->e;
    uint64_t count = 0, last_seq = 0, parts = 0;
    const lk_request *prev = NULL;
    for (const lk_request *r = e->fifo_head; r; prev = r, r = r->next) {
        if (++count > e->waiters)
            return bad(k, NULL, "the queue is longer than its %llu waiters",
                       (unsigned long long)e->waiters);
        if (r->prev != prev)
            return bad(k, NULL, "queue: request %llu has a wrong prev", (unsigned long long)r->seq);
        if (r->seq <= last_seq)
            return bad(k, NULL, "queue: request %llu after %llu", (unsigned long long)r->seq,
                       (unsigned long long)last_seq);
        last_seq = r->seq;
        if (lk_owner_find(e, r->owner->id) != r->owner || r->owner->waiting != r)
            return bad(k, NULL, "queue: request %llu is not its owner's",
                       (unsigned long long)r->seq);
        if (!r->part_count || !r->parts)
            return bad(k, NULL, "queue: request %llu has no parts", (unsigned long long)r->seq);
        if (r->heap_index >= e->heap_count || e->heap[r->heap_index] != r)
            return bad(k, NULL, "queue: request %llu is not at its heap index",
                       (unsigned long long)r->seq);
        if (!e->opt.deadlock_check_ms && r->check_at != UINT64_MAX)
            return bad(k, NULL, "queue: a deadlock check without deadlock detection");
        parts += r->part_count;
    }
    if (prev != e->fifo_tail)
        return bad(k, NULL, "queue: the tail is not the last request");
    if (count != e->waiters || e->heap_count != e->waiters)
        return bad(k, NULL, "queue: %llu requests, %llu waiters, %zu in the heap",
                   (unsigned long long)count, (unsigned long long)e->waiters, e->heap_count);
    for (size_t i = 0; i < e->heap_count; i++) {
        if (e->heap[i]->heap_index != i)
            return bad(k, NULL, "heap: slot %zu holds a request that says %zu", i,
                       e->heap[i]->heap_index);
        if (i && lk_request_before(e->heap[i], e->heap[(i - 1) / 2]))
            return bad(k, NULL, "heap: slot %zu comes before its parent", i);
    }
    if (!parts)
        return true;
    k->parts = malloc(parts * sizeof *k->parts);
    if (!k->parts)
        abort();
    for (const lk_request *r = e->fifo_head; r; r = r->next) {
        for (uint32_t i = 0; i < r->part_count; i++) {
            if (r->parts[i].mode > MODE_S)
                return bad(k, r->parts[i].node, "queue: request %llu: part %u has mode %u",
                           (unsigned long long)r->seq, i, r->parts[i].mode);
            k->parts[k->part_count++] = (part_at){r->parts[i].node, r->parts[i].mode};
        }
    }
    qsort(k->parts, k->part_count, sizeof *k->parts, part_cmp);
    return true;
}

/* After the walk: the owners' lists hold exactly the holders it found with
 * direct holds. */
static bool owners_ok(checker *k)
{
    const nsl_engine *e = k->e;
    const lk_holder **listed = malloc((k->held_count ? k->held_count : 1) * sizeof *listed);
    if (!listed)
        abort();
    size_t n = 0;
    bool ok = true;
    const lk_owner *o, *tmp;
    HASH_ITER(hh, e->owners, o, tmp) {
        if (!o->id || o->id >= e->next_owner) {
            ok = bad(k, NULL, "owner %u: id not below the next one (%u)", o->id, e->next_owner);
            break;
        }
        if (o->tlevel > 127 || o->busy != (o->waiting != NULL) || o->resume_queued) {
            ok = bad(k, NULL, "owner %u: transaction level %u, busy %d, %s a queued request%s",
                     o->id, o->tlevel, o->busy, o->waiting ? "with" : "without",
                     o->resume_queued ? ", queued to resume" : "");
            break;
        }
        uint64_t mine = 0;
        const lk_holder *prev = NULL;
        for (const lk_holder *h = o->held; h && ok; prev = h, h = h->owner_next) {
            const lk_node *node = lk_holder_node(h);
            if (++mine > o->entries || n == k->held_count)
                ok = bad(k, NULL, "owner %u: more entries listed than its %llu, or than held",
                         o->id, (unsigned long long)o->entries);
            else if (h->owner_prev != prev || h->owner != o)
                ok = bad(k, node, "owner %u: its list is broken here", o->id);
            else
                listed[n++] = h;
        }
        if (ok && mine != o->entries)
            ok = bad(k, NULL, "owner %u: %llu entries listed, %llu counted", o->id,
                     (unsigned long long)mine, (unsigned long long)o->entries);
        if (!ok)
            break;
    }
    if (ok && (n != k->held_count || n != e->entries))
        ok = bad(k, NULL, "the owners list %zu entries, the table holds %zu, the count says %llu",
                 n, k->held_count, (unsigned long long)e->entries);
    /* the per-database counts (nslock_database_entries) add up, database by database */
    for (uint32_t db = 0; ok && db < e->database_count; db++) {
        uint64_t in_db = 0;
        for (size_t i = 0; i < n; i++)
            in_db += lk_holder_node(listed[i])->db == db;
        if (in_db != e->database_entries[db])
            ok = bad(k, NULL, "database %u: %llu entries held, its count says %llu", db,
                     (unsigned long long)in_db, (unsigned long long)e->database_entries[db]);
    }
    if (ok && n > 1) {
        qsort(listed, n, sizeof *listed, ptr_cmp);
        qsort(k->held, n, sizeof *k->held, ptr_cmp);
    }
    for (size_t i = 0; ok && i < n; i++)
        if (listed[i] != k->held[i])
            ok = bad(k, lk_holder_node(k->held[i]),
                     "owner %u: an entry the table holds is not on its list, or the other way",
                     k->held[i]->owner->id);
    free(listed);
    return ok;
}

static bool rest_ok(checker *k)
{
    const nsl_engine *e = k->e;
    if (e->resume_head || e->resume_tail || e->event_count || e->delivering)
        return bad(k, NULL, "called inside an engine call: resumes or callbacks are pending");
    if (e->last_owner && lk_owner_find(e, e->last_owner->id) != e->last_owner)
        return bad(k, NULL, "the owner cache points to an owner that is gone");
    if (e->last_name && (e->last_name->depth != 0 || !k->saw_last_name))
        return bad(k, NULL, "the name cache points to a node that is not a name in the table");
    if (k->parts_found != k->part_count)
        return bad(k, NULL, "%zu waiting parts point to nodes outside the table",
                   k->part_count - k->parts_found);
    if (e->last_token < e->opt.first_token)
        return bad(k, NULL, "last token %llu below first_token %llu",
                   (unsigned long long)e->last_token, (unsigned long long)e->opt.first_token);
    for (size_t i = 0; i < e->epoch_count; i++) {
        const lk_epoch *ep = &e->epochs[i];
        if (ep->first_token <= e->opt.first_token || ep->first_token > e->last_token ||
            (i && (ep->first_token <= ep[-1].first_token || ep->base < ep[-1].base)))
            return bad(k, NULL, "epoch %zu (token %llu at %llu) out of order", i,
                       (unsigned long long)ep->first_token, (unsigned long long)ep->base);
    }
    /* Every parked node is flagged and every flagged node parked (the walk
     * counted those in the table). */
    uint64_t ring = 0;
    for (size_t i = 0; i < IDLE_NODES; i++) {
        const lk_node *n = e->idle[i];
        if (n && !n->idle)
            return bad(k, n, "in the idle ring (slot %zu) but not flagged idle", i);
        ring += n != NULL;
    }
    if (ring != k->idle)
        return bad(k, NULL, "%llu nodes in the idle ring, %llu in the table flagged idle",
                   (unsigned long long)ring, (unsigned long long)k->idle);
    return true;
}

bool nsl_engine_check(const nsl_engine *e, char *why, size_t cap)
{
    checker k = {.e = e, .why = why, .cap = cap};
    if (why && cap)
        why[0] = '\0';
    /* The queue first: its parts are what the pins and wait counters count. */
    bool ok = queue_ok(&k);
    for (uint32_t db = 0; ok && db < e->database_count; db++) {
        const lk_node *root = e->roots[db];
        if (!root || root->depth != ROOT_DEPTH || root->db != db)
            ok = bad(&k, NULL, "database %u: its root is wrong", db);
        subtree s;
        ok = ok && walk(&k, root, &s);
    }
    ok = ok && owners_ok(&k) && rest_ok(&k);
    free(k.path);
    free(k.parts);
    free(k.held);
    return ok;
}
