/* locks/engine.c — owners, commands, the wait queue, timeouts, transactions.
 *
 * Every public entry point does its work, then settles (serves the waiters
 * that releases let in, and resumes the commands they belonged to), then
 * delivers the callbacks that piled up. The FIFO of waiting requests is
 * served in arrival order; a request is granted when no other owner holds
 * anything in its way and no earlier waiting request of another owner
 * conflicts with it (docs/LANGUAGE.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "locks/engine_internal.h"

#define NO_TIME UINT64_MAX

/* The owners table is keyed by a 32-bit id: a multiply is hash enough. */
#undef HASH_FUNCTION
#define HASH_FUNCTION(keyptr, keylen, hashv)                                  \
    do {                                                                      \
        uint32_t id_;                                                         \
        memcpy(&id_, (keyptr), sizeof id_);                                   \
        (void)(keylen);                                                       \
        (hashv) = (unsigned)((id_ * 0x9e3779b97f4a7c15ull) >> 32);            \
    } while (0)

/* ---- small helpers ------------------------------------------------------ */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

void lk_notice(nsl_engine *e, nsl_notice kind, const char *fmt, ...)
{
    if (!e->cb.notice)
        return;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    e->cb.notice(e->ctx, kind, text);
}

/* Every look-up of the owners table goes through here: the table's hash
 * function is this file's. */
lk_owner *lk_owner_find(const nsl_engine *e, nsl_owner_id id)
{
    lk_owner *o = e->last_owner;       /* one session calls many times in a row */
    if (o && o->id == id)
        return o;
    HASH_FIND(hh, e->owners, &id, sizeof id, o);
    if (o)
        ((nsl_engine *)e)->last_owner = o;   /* a cache, not state */
    return o;
}

static void push_event(nsl_engine *e, lk_owner *o, const nsl_lock_result *r)
{
    if (e->event_count == e->event_capacity) {
        e->event_capacity = e->event_capacity ? e->event_capacity * 2 : 16;
        e->events = xrealloc(e->events, e->event_capacity * sizeof *e->events);
    }
    e->events[e->event_count].owner = o->id;
    e->events[e->event_count++].result = *r;
}

static void queue_resume(nsl_engine *e, lk_owner *o)
{
    if (o->resume_queued)
        return;
    o->resume_queued = true;
    o->resume_next = NULL;
    if (e->resume_tail)
        e->resume_tail->resume_next = o;
    else
        e->resume_head = o;
    e->resume_tail = o;
}

/* ---- the deadline heap --------------------------------------------------- */

static void heap_swap(nsl_engine *e, size_t i, size_t j)
{
    lk_request *t = e->heap[i];
    e->heap[i] = e->heap[j];
    e->heap[j] = t;
    e->heap[i]->heap_index = i;
    e->heap[j]->heap_index = j;
}

static void heap_fix(nsl_engine *e, size_t i)
{
    while (i > 0 && lk_request_before(e->heap[i], e->heap[(i - 1) / 2])) {
        heap_swap(e, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < e->heap_count && lk_request_before(e->heap[l], e->heap[m]))
            m = l;
        if (r < e->heap_count && lk_request_before(e->heap[r], e->heap[m]))
            m = r;
        if (m == i)
            return;
        heap_swap(e, i, m);
        i = m;
    }
}

static void heap_push(nsl_engine *e, lk_request *r)
{
    if (e->heap_count == e->heap_capacity) {
        e->heap_capacity = e->heap_capacity ? e->heap_capacity * 2 : 16;
        e->heap = xrealloc(e->heap, e->heap_capacity * sizeof *e->heap);
    }
    r->heap_index = e->heap_count;
    e->heap[e->heap_count++] = r;
    heap_fix(e, r->heap_index);
}

static void heap_remove(nsl_engine *e, lk_request *r)
{
    size_t i = r->heap_index;
    e->heap_count--;
    if (i != e->heap_count) {
        e->heap[i] = e->heap[e->heap_count];
        e->heap[i]->heap_index = i;
        heap_fix(e, i);
    }
}

/* ---- engine and owners ---------------------------------------------------- */

void nsl_engine_options_default(nsl_engine_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->max_entries = 1000000;
    opt->escalation_threshold = 1000;
    opt->deadlock_check_ms = 1000;
}

nsl_engine *nsl_engine_new(const nsl_engine_options *opt, const nsl_resolver *resolver,
                           const nsl_engine_callbacks *cb, void *ctx)
{
    nsl_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->opt = *opt;
    e->resolver = resolver;
    if (cb)
        e->cb = *cb;
    e->ctx = ctx;
    e->database_count = (uint32_t)nsl_registry_database_count(nsl_resolver_registry(resolver));
    e->roots = calloc(e->database_count ? e->database_count : 1, sizeof *e->roots);
    e->database_entries = calloc(e->database_count ? e->database_count : 1,
                                 sizeof *e->database_entries);
    if (!e->roots || !e->database_entries) {
        free(e->roots);
        free(e->database_entries);
        free(e);
        return NULL;
    }
    lk_pools_init(e);
    for (uint32_t db = 0; db < e->database_count; db++)
        e->roots[db] = lk_root_new(e, db);
    e->next_owner = opt->first_owner + 1;
    e->last_token = opt->first_token;
    return e;
}

static void request_free(nsl_engine *e, lk_request *r);
static void release_everything(nsl_engine *e, lk_owner *o);

void nsl_engine_free(nsl_engine *e)
{
    if (!e)
        return;
    e->cb.released = NULL;             /* the table going away is not releases */
    lk_cursors_free(e);
    lk_owner *o, *tmp;
    HASH_ITER(hh, e->owners, o, tmp) {
        if (o->waiting)
            request_free(e, o->waiting);
        release_everything(e, o);
        HASH_DEL(e->owners, o);
        free(o->rest_args);
        free(o->rest_items);
        free(o);
    }
    lk_nodes_flush(e);
    lk_roots_free(e);
    free(e->roots);
    free(e->database_entries);
    lk_pools_free(e);
    free(e->heap);
    free(e->epochs);
    free(e->events);
    free(e->scratch);
    free(e);
}

static lk_owner *owner_add(nsl_engine *e, nsl_owner_id id, uint32_t namespace_id)
{
    lk_owner *o = calloc(1, sizeof *o);
    if (!o)
        abort();
    o->id = id;
    o->namespace_id = namespace_id;
    o->last_test = -1;
    HASH_ADD(hh, e->owners, id, sizeof o->id, o);
    return o;
}

nsl_owner_id nsl_engine_owner_new(nsl_engine *e, uint32_t namespace_id)
{
    return owner_add(e, e->next_owner++, namespace_id)->id;
}

/* UINT32_MAX is refused too: the next new id would not fit. */
nsl_code nsl_engine_owner_adopt(nsl_engine *e, nsl_owner_id id, uint32_t namespace_id)
{
    if (id == 0 || id == UINT32_MAX || lk_owner_find(e, id))
        return NSL_COMMAND;
    if (namespace_id >= nsl_registry_namespace_count(nsl_resolver_registry(e->resolver)))
        return NSL_NAMESPACE;
    owner_add(e, id, namespace_id);
    if (id >= e->next_owner)
        e->next_owner = id + 1;
    return NSL_OK;
}

nsl_code nsl_engine_owner_set_namespace(nsl_engine *e, nsl_owner_id id, uint32_t namespace_id)
{
    lk_owner *o = lk_owner_find(e, id);
    if (!o)
        return NSL_NOTFOUND;
    if (namespace_id >= nsl_registry_namespace_count(nsl_resolver_registry(e->resolver)))
        return NSL_NAMESPACE;
    o->namespace_id = namespace_id;
    return NSL_OK;
}

uint32_t nsl_engine_owner_namespace(const nsl_engine *e, nsl_owner_id id)
{
    const lk_owner *o = lk_owner_find(e, id);
    return o ? o->namespace_id : 0;
}

bool nsl_engine_owner_exists(const nsl_engine *e, nsl_owner_id id)
{
    return lk_owner_find(e, id) != NULL;
}

bool nsl_engine_owner_waiting(const nsl_engine *e, nsl_owner_id id)
{
    const lk_owner *o = lk_owner_find(e, id);
    return o && o->waiting;
}

uint64_t nsl_engine_owner_entries(const nsl_engine *e, nsl_owner_id id)
{
    const lk_owner *o = lk_owner_find(e, id);
    return o ? o->entries : 0;
}

/* ---- requests -------------------------------------------------------------- */

/* One at a time: a part still pinned keeps its node (and so its
 * ancestors) alive while an earlier part's prune walks up the tree. */
static void parts_unpin(nsl_engine *e, lk_part *parts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        parts[i].node->pins--;
        lk_node_prune(e, parts[i].node);
    }
}

static void request_register(nsl_engine *e, lk_request *r, int delta)
{
    for (uint32_t i = 0; i < r->part_count; i++)
        lk_register_wait(e, r->parts[i].node, r->parts[i].mode, delta);
}

/* Takes r out of the queue and frees it; nothing is delivered. */
static void request_free(nsl_engine *e, lk_request *r)
{
    request_register(e, r, -1);
    heap_remove(e, r);
    if (r->prev)
        r->prev->next = r->next;
    else
        e->fifo_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        e->fifo_tail = r->prev;
    e->waiters--;
    r->owner->waiting = NULL;
    parts_unpin(e, r->parts, r->part_count);
    free(r->parts);
    free(r);
}

static void command_finish(lk_owner *o)
{
    o->busy = false;
    o->rest_count = o->rest_next = 0;
}

void lk_request_fail(nsl_engine *e, lk_request *r, nsl_code code, int test,
                     const char *message)
{
    lk_owner *o = r->owner;
    request_free(e, r);
    e->dirty = true;     /* those queued behind it may go now */
    if (code == NSL_OK) {
        o->last_test = test;
        o->last_token = 0;
        queue_resume(e, o);
        return;
    }
    nsl_lock_result res = {.code = code, .test = -1};
    snprintf(res.message, sizeof res.message, "%s", message ? message : nsl_code_text(code));
    command_finish(o);
    push_event(e, o, &res);
}

static bool absorbable(const lk_part *p, const lk_owner *o)
{
    if (!p->escalating || p->node->depth == 0)
        return false;
    const lk_holder *ph = lk_holder_find(p->node->parent, o);
    const lk_holder_more *pm = ph ? lk_holder_more_of(ph) : NULL;
    return pm && pm->esc[p->mode];
}

static int node_ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(lk_node *const *)a, y = (uintptr_t)*(lk_node *const *)b;
    return x < y ? -1 : x > y;
}

/* How many table entries granting the parts would add: one per node the
 * owner does not hold yet, counting a node named twice once, and nothing
 * for a name an escalated parent absorbs. Only asked near a limit. */
static uint64_t parts_new_entries(const lk_owner *o, const lk_part *parts, size_t n)
{
    lk_node *few[16];
    lk_node **nodes = n <= 16 ? few : malloc(n * sizeof *nodes);
    if (!nodes)
        abort();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const lk_holder *h = lk_holder_find(parts[i].node, o);
        if (!absorbable(&parts[i], o) && (!h || !lk_holder_modes(h)))
            nodes[k++] = parts[i].node;
    }
    qsort(nodes, k, sizeof *nodes, node_ptr_cmp);
    uint64_t needed = 0;
    for (size_t i = 0; i < k; i++)
        needed += i == 0 || nodes[i] != nodes[i - 1];
    if (nodes != few)
        free(nodes);
    return needed;
}

typedef enum { TRY_GRANT, TRY_WAIT, TRY_FULL } try_outcome;

static try_outcome parts_try(nsl_engine *e, const lk_owner *o, const lk_part *parts,
                             size_t n)
{
    if (e->grants_held)
        return TRY_WAIT;
    for (size_t i = 0; i < n; i++) {
        const lk_part *p = &parts[i];
        if (absorbable(p, o))
            continue;
        if (lk_blocked_by_holders(p->node, o, p->mode))
            return TRY_WAIT;
        if (lk_blocked_by_waiters(p->node, p->mode) && !lk_owner_covers(p->node, o, p->mode))
            return TRY_WAIT;
    }
    if (e->entries + n > e->opt.max_entries &&      /* n bounds the new entries */
        e->entries + parts_new_entries(o, parts, n) > e->opt.max_entries)
        return TRY_FULL;
    return TRY_GRANT;
}

/* One part's share of a grant. */
static void part_grant(nsl_engine *e, lk_owner *o, const lk_part *p, uint64_t token,
                       uint32_t namespace_id, uint64_t now)
{
    if (lk_escalated_absorb(e, p, o))
        return;
    lk_holder *h = lk_holder_get(e, p->node, o);
    unsigned old_modes = lk_holder_modes(h), old_ebits = lk_holder_ebits(h);
    int slot = type_slot(p->mode, p->escalating);
    lk_holder_more *hm = lk_holder_more_of(h);
    if (hm && hm->deferred[slot])
        hm->deferred[slot]--;            /* locking again leaves the delock state */
    else
        h->count[slot]++;
    if (!old_modes) {
        lk_holder_stamp(e, h, token, now);
        h->namespace_id = (uint16_t)namespace_id;
    }
    lk_holder_changed(e, h, old_modes, old_ebits);
}

static uint64_t parts_grant(nsl_engine *e, lk_owner *o, lk_part *parts, size_t n,
                            uint32_t namespace_id, uint64_t now)
{
    uint64_t token = ++e->last_token;
    e->stats.grants++;
    for (size_t i = 0; i < n; i++)
        part_grant(e, o, &parts[i], token, namespace_id, now);
    for (size_t i = 0; i < n; i++) {
        lk_part *p = &parts[i];
        if (!p->escalating || p->node->depth == 0)
            continue;
        lk_holder *ph = lk_holder_find(p->node->parent, o);
        lk_holder_more *pm = ph ? lk_holder_more_of(ph) : NULL;
        if (pm && pm->child_e[p->mode] > e->opt.escalation_threshold)
            lk_escalate_maybe(e, ph, p->mode, false);
    }
    return token;
}

static void table_full_episode(nsl_engine *e)
{
    if (e->table_full)
        return;
    e->table_full = true;
    e->stats.table_full_episodes++;
    lk_notice(e, NSL_NOTICE_TABLE_FULL, "LOCK TABLE FULL (%llu entries)",
              (unsigned long long)e->opt.max_entries);
}

/* Resolves the items of one argument into (node, mode) parts in
 * e->scratch, pinning the nodes. */
static nsl_code parts_build(nsl_engine *e, lk_owner *o, const nsl_lock_item *items,
                            size_t item_count, size_t *count, nsl_lock_result *res)
{
    nsl_resolution resolution;
    nsl_error err;
    size_t n = 0;
    for (size_t i = 0; i < item_count; i++) {
        const nsl_lock_item *it = &items[i];
        if (nsl_resolve(e->resolver, o->namespace_id, &it->name, &resolution, &err) != NSL_OK) {
            parts_unpin(e, e->scratch, n);
            res->code = err.code;
            snprintf(res->message, sizeof res->message, "%s", err.message);
            return err.code;
        }
        if (n + resolution.count > e->scratch_capacity) {
            e->scratch_capacity = (n + resolution.count) * 2;
            e->scratch = xrealloc(e->scratch, e->scratch_capacity * sizeof *e->scratch);
        }
        int mode = it->types & NSL_TYPE_SHARED ? MODE_S : MODE_X;
        for (uint32_t d = 0; d < resolution.count; d++) {
            lk_part *p = &e->scratch[n++];
            p->node = lk_node_get(e, resolution.dbs[d].db, &it->name.key, true);
            p->node->pins++;
            p->mode = (uint8_t)mode;
            p->escalating = (it->types & NSL_TYPE_ESCALATING) && it->name.key.nsubs > 0;
            p->types = it->types;
        }
    }
    *count = n;
    return NSL_OK;
}

typedef struct part_ref {
    lk_node *node;
    int slot;
    size_t index;
} part_ref;

static int part_ref_cmp(const void *a, const void *b)
{
    const part_ref *x = a, *y = b;
    if (x->node != y->node)
        return (uintptr_t)x->node < (uintptr_t)y->node ? -1 : 1;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static bool part_same(const lk_part *a, const lk_part *b)
{
    return a->node == b->node && a->mode == b->mode && a->escalating == b->escalating;
}

/* A simple LOCK sets rather than counts (docs/LANGUAGE.md, as GT.M): a (database,
 * node, type) its names reach twice is locked once. Keeps the first of
 * each, in order; the pins of the others go (their node stays pinned). */
static void parts_dedup(lk_part *parts, size_t *count)
{
    size_t n = *count, k = 0;
    if (n <= 16) {
        for (size_t i = 0; i < n; i++) {
            bool dup = false;
            for (size_t j = 0; j < k && !dup; j++)
                dup = part_same(&parts[j], &parts[i]);
            if (dup)
                parts[i].node->pins--;
            else
                parts[k++] = parts[i];
        }
        *count = k;
        return;
    }
    part_ref *refs = malloc(n * sizeof *refs);
    bool *drop = calloc(n, sizeof *drop);
    if (!refs || !drop)
        abort();
    for (size_t i = 0; i < n; i++)
        refs[i] = (part_ref){parts[i].node, type_slot(parts[i].mode, parts[i].escalating), i};
    qsort(refs, n, sizeof *refs, part_ref_cmp);
    for (size_t i = 1; i < n; i++)
        drop[refs[i].index] = refs[i].node == refs[i - 1].node && refs[i].slot == refs[i - 1].slot;
    for (size_t i = 0; i < n; i++) {
        if (drop[i])
            parts[i].node->pins--;
        else
            parts[k++] = parts[i];
    }
    free(refs);
    free(drop);
    *count = k;
}

static nsl_code parts_check_limits(nsl_engine *e, const lk_owner *o,
                                   const lk_part *parts, size_t n, nsl_lock_result *res)
{
    for (size_t i = 0; i < n; i++) {
        const lk_holder *h = lk_holder_find(parts[i].node, o);
        int slot = type_slot(parts[i].mode, parts[i].escalating);
        const lk_holder_more *hm = h ? lk_holder_more_of(h) : NULL;
        if (h && h->count[slot] >= NSL_MAX_LOCK_COUNT && !(hm && hm->deferred[slot])) {
            res->code = NSL_LIMIT;
            snprintf(res->message, sizeof res->message,
                     "lock count would exceed %d", NSL_MAX_LOCK_COUNT);
            return NSL_LIMIT;
        }
    }
    if (e->opt.max_owner_entries && o->entries + n > e->opt.max_owner_entries &&
        o->entries + parts_new_entries(o, parts, n) > e->opt.max_owner_entries) {
        res->code = NSL_LIMIT;
        snprintf(res->message, sizeof res->message,
                 "session would hold more than %u entries", e->opt.max_owner_entries);
        return NSL_LIMIT;
    }
    return NSL_OK;
}

static void release_all(nsl_engine *e, lk_owner *o);

/* One argument that takes locks. The simple form releases everything
 * first, once its names are known to resolve (as M evaluates an
 * argument's names before it acts). */
static nsl_engine_status lock_arg(nsl_engine *e, lk_owner *o, const nsl_lock_item *items,
                                  size_t item_count, bool simple, int64_t timeout_ms,
                                  uint64_t now, nsl_lock_result *res)
{
    size_t n;
    if (parts_build(e, o, items, item_count, &n, res) != NSL_OK)
        return NSL_DONE;
    if (simple) {
        parts_dedup(e->scratch, &n);
        release_all(e, o);
    }
    if (parts_check_limits(e, o, e->scratch, n, res) != NSL_OK) {
        parts_unpin(e, e->scratch, n);
        return NSL_DONE;
    }
    try_outcome t = parts_try(e, o, e->scratch, n);
    if (t == TRY_GRANT) {
        o->last_token = parts_grant(e, o, e->scratch, n, o->namespace_id, now);
        o->last_test = 1;
        parts_unpin(e, e->scratch, n);
        return NSL_DONE;
    }
    if (t == TRY_FULL)
        table_full_episode(e);
    if (timeout_ms == 0) {
        o->last_test = 0;
        o->last_token = 0;
        parts_unpin(e, e->scratch, n);
        return NSL_DONE;
    }
    lk_request *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->parts = malloc(n * sizeof *r->parts);
    if (!r->parts)
        abort();
    memcpy(r->parts, e->scratch, n * sizeof *r->parts);   /* the pins move with them */
    r->part_count = (uint32_t)n;
    r->owner = o;
    r->namespace_id = o->namespace_id;
    r->seq = ++e->next_seq;
    r->enqueued = now;
    r->deadline = timeout_ms < 0 ? NO_TIME : now + (uint64_t)timeout_ms;
    r->check_at = e->opt.deadlock_check_ms ? now + e->opt.deadlock_check_ms : NO_TIME;
    request_register(e, r, +1);
    r->prev = e->fifo_tail;
    if (e->fifo_tail)
        e->fifo_tail->next = r;
    else
        e->fifo_head = r;
    e->fifo_tail = r;
    heap_push(e, r);
    e->waiters++;
    o->waiting = r;
    res->ticket = r->seq;
    return NSL_QUEUED;
}

/* ---- releasing ------------------------------------------------------------- */

static void holder_zero(nsl_engine *e, lk_holder *h)
{
    unsigned old_modes = lk_holder_modes(h), old_ebits = lk_holder_ebits(h);
    memset(h->count, 0, sizeof h->count);
    lk_holder_more *hm = lk_holder_more_of(h);
    if (hm) {
        memset(hm->deferred, 0, sizeof hm->deferred);
        for (int m = 0; m < 2; m++) {
            if (hm->esc[m]) {
                lk_fpset_free(&hm->esc[m]->children);
                free(hm->esc[m]);
                hm->esc[m] = NULL;
            }
        }
    }
    e->dirty = true;
    lk_holder_changed(e, h, old_modes, old_ebits);
}

static void release_everything(nsl_engine *e, lk_owner *o)
{
    while (o->held)
        holder_zero(e, o->held);
}

/* A bare LOCK: outside a transaction everything goes now; inside, every
 * lock goes into the delock state (docs/LANGUAGE.md). */
static void release_all(nsl_engine *e, lk_owner *o)
{
    if (!o->tlevel) {
        release_everything(e, o);
        return;
    }
    for (lk_holder *h = o->held; h; h = h->owner_next) {
        lk_holder_more *hm = lk_holder_more_get(e, h);
        memcpy(hm->deferred, h->count, sizeof hm->deferred);
        for (int m = 0; m < 2; m++) {
            if (hm->esc[m]) {
                hm->esc[m]->deferred = hm->esc[m]->count;
                lk_fpset_free(&hm->esc[m]->children);
            }
        }
    }
}

static void unlock_one(nsl_engine *e, lk_owner *o, uint32_t db, const nsl_key *key,
                       uint8_t types)
{
    int mode = types & NSL_TYPE_SHARED ? MODE_S : MODE_X;
    bool escalating = (types & NSL_TYPE_ESCALATING) != 0;
    int slot = type_slot(mode, escalating);
    bool in_tx = o->tlevel > 0 && !(types & NSL_TYPE_IMMEDIATE);
    bool defer_always = in_tx && (types & NSL_TYPE_DEFERRED);

    lk_node *n = lk_node_get(e, db, key, false);
    lk_holder *h = n ? lk_holder_find(n, o) : NULL;
    lk_holder_more *hm = h ? lk_holder_more_of(h) : NULL;
    unsigned deferred = hm ? hm->deferred[slot] : 0;
    if (h && h->count[slot] > deferred) {
        unsigned held = h->count[slot] - deferred;
        if (defer_always || (in_tx && held == 1)) {
            lk_holder_more_get(e, h)->deferred[slot]++;
            return;
        }
        unsigned old_modes = lk_holder_modes(h), old_ebits = lk_holder_ebits(h);
        h->count[slot]--;
        e->dirty = true;
        lk_holder_changed(e, h, old_modes, old_ebits);
        return;
    }
    if (!escalating || key->nsubs == 0)
        return;
    lk_node *parent = n ? n->parent : NULL;
    if (!parent) {
        nsl_key up;
        nsl_key_truncate(key, key->nsubs - 1u, &up);
        parent = lk_node_get(e, db, &up, false);
    }
    if (parent) {
        size_t start = key->end[key->nsubs - 1];
        lk_escalated_release(e, parent, key->bytes + start, key->len - start, o, mode,
                             in_tx, defer_always);
    }
}

/* An argument that removes locks: all its names must resolve before any
 * is unlocked. */
static nsl_code unlock_arg(nsl_engine *e, lk_owner *o, const nsl_lock_item *items,
                           size_t item_count, nsl_lock_result *res)
{
    nsl_resolution resolution;
    nsl_error err;
    for (size_t pass = item_count > 1 ? 0 : 1; pass < 2; pass++) {
        for (size_t i = 0; i < item_count; i++) {
            if (nsl_resolve(e->resolver, o->namespace_id, &items[i].name, &resolution,
                            &err) != NSL_OK) {
                res->code = err.code;
                snprintf(res->message, sizeof res->message, "%s", err.message);
                return err.code;
            }
            for (uint32_t d = 0; pass == 1 && d < resolution.count; d++)
                unlock_one(e, o, resolution.dbs[d].db, &items[i].name.key, items[i].types);
        }
    }
    return NSL_OK;
}

/* The outermost transaction ended: delocked counts go now. */
static void transaction_end(nsl_engine *e, lk_owner *o)
{
    lk_holder *next;
    for (lk_holder *h = o->held; h; h = next) {
        next = h->owner_next;
        lk_holder_more *hm = lk_holder_more_of(h);
        bool any = false;
        for (int t = 0; hm && t < T_COUNT; t++)
            any |= hm->deferred[t] != 0;
        for (int m = 0; hm && m < 2; m++)
            any |= hm->esc[m] && hm->esc[m]->deferred;
        if (!any)
            continue;
        unsigned old_modes = lk_holder_modes(h), old_ebits = lk_holder_ebits(h);
        for (int t = 0; t < T_COUNT; t++) {
            h->count[t] = (uint16_t)(h->count[t] - hm->deferred[t]);
            hm->deferred[t] = 0;
        }
        for (int m = 0; m < 2; m++) {
            lk_escalated *esc = hm->esc[m];
            if (!esc)
                continue;
            esc->count -= esc->deferred;
            esc->deferred = 0;
            if (!esc->count) {
                lk_fpset_free(&esc->children);
                free(esc);
                hm->esc[m] = NULL;
            }
        }
        e->dirty = true;
        lk_holder_changed(e, h, old_modes, old_ebits);
    }
}

/* ---- commands ---------------------------------------------------------------- */

/* Keeps the arguments after a queued one, for when it completes. */
static void save_rest(lk_owner *o, const nsl_lock_arg *args, const nsl_lock_item *items,
                      size_t from, size_t to)
{
    size_t nargs = to - from, nitems = 0;
    for (size_t i = from; i < to; i++)
        nitems += args[i].item_count;
    if (nargs > o->rest_capacity) {
        o->rest_capacity = nargs;
        o->rest_args = xrealloc(o->rest_args, nargs * sizeof *o->rest_args);
    }
    if (nitems > o->rest_items_capacity) {
        o->rest_items_capacity = nitems;
        o->rest_items = xrealloc(o->rest_items, nitems * sizeof *o->rest_items);
    }
    size_t k = 0;
    for (size_t i = from; i < to; i++) {
        nsl_lock_arg *a = &o->rest_args[i - from];
        *a = args[i];
        memcpy(o->rest_items + k, items + args[i].first_item,
               args[i].item_count * sizeof *items);
        a->first_item = k;
        k += args[i].item_count;
    }
    o->rest_count = nargs;
    o->rest_next = 0;
}

/* Runs arguments [start, count) of a command. */
static nsl_engine_status drive(nsl_engine *e, lk_owner *o, const nsl_lock_arg *args,
                               const nsl_lock_item *items, size_t count, size_t start,
                               uint64_t now, nsl_lock_result *res)
{
    for (size_t i = start; i < count; i++) {
        const nsl_lock_arg *a = &args[i];
        /* a bare LOCK may come before any command had items to store */
        const nsl_lock_item *its = a->item_count ? items + a->first_item : NULL;
        if (a->op == NSL_OP_REMOVE) {
            if (unlock_arg(e, o, its, a->item_count, res) != NSL_OK)
                goto failed;
            continue;
        }
        if (a->item_count == 0) {          /* bare LOCK */
            release_all(e, o);
            continue;
        }
        nsl_engine_status st = lock_arg(e, o, its, a->item_count, a->op == NSL_OP_SIMPLE,
                                        a->timeout_ms, now, res);
        if (st == NSL_QUEUED) {
            if (args == o->rest_args)
                o->rest_next = i + 1;
            else
                save_rest(o, args, items, i + 1, count);
            return NSL_QUEUED;
        }
        if (res->code != NSL_OK)
            goto failed;
    }
    res->code = NSL_OK;
    res->test = o->last_test;
    res->token = o->last_test == 1 ? o->last_token : 0;
    res->message[0] = '\0';
    command_finish(o);
    return NSL_DONE;
failed:
    res->test = -1;
    res->token = 0;
    command_finish(o);
    return NSL_DONE;
}

/* Grants every waiting request that may go, in arrival order. */
static void serve_waiters(nsl_engine *e, uint64_t now)
{
    /* Unregister everyone, then re-register those that stay, so that each
     * request is checked against the earlier waiters only. */
    for (lk_request *r = e->fifo_head; r; r = r->next)
        request_register(e, r, -1);
    bool any_full = false;
    lk_request *next;
    for (lk_request *r = e->fifo_head; r; r = next) {
        next = r->next;
        try_outcome t = parts_try(e, r->owner, r->parts, r->part_count);
        if (t != TRY_GRANT) {
            any_full |= t == TRY_FULL;
            request_register(e, r, +1);
            continue;
        }
        lk_owner *o = r->owner;
        uint64_t token = parts_grant(e, o, r->parts, r->part_count, r->namespace_id, now);
        request_register(e, r, +1);     /* request_free takes it off again */
        request_free(e, r);
        o->last_test = 1;
        o->last_token = token;
        queue_resume(e, o);
    }
    if (e->table_full && !any_full && e->entries < e->opt.max_entries) {
        e->table_full = false;
        lk_notice(e, NSL_NOTICE_TABLE_ROOM, "lock table has room again (%llu entries)",
                  (unsigned long long)e->entries);
    }
}

static void resume(nsl_engine *e, lk_owner *o, uint64_t now)
{
    nsl_lock_result res;
    memset(&res, 0, sizeof res);
    if (drive(e, o, o->rest_args, o->rest_items, o->rest_count, o->rest_next, now, &res) == NSL_DONE)
        push_event(e, o, &res);
}

static void settle(nsl_engine *e, uint64_t now)
{
    while (e->dirty || e->resume_head) {
        if (e->dirty) {
            e->dirty = false;
            if (e->fifo_head && !e->grants_held)
                serve_waiters(e, now);
        }
        while (e->resume_head) {
            lk_owner *o = e->resume_head;
            e->resume_head = o->resume_next;
            if (!e->resume_head)
                e->resume_tail = NULL;
            o->resume_queued = false;
            resume(e, o, now);
        }
    }
    /* An episode whose waiters all timed out (or went) ends once there is
     * room, like one whose waiters were served: serve_waiters only runs
     * while someone waits. */
    if (e->table_full && !e->fifo_head && e->entries < e->opt.max_entries) {
        e->table_full = false;
        lk_notice(e, NSL_NOTICE_TABLE_ROOM, "lock table has room again (%llu entries)",
                  (unsigned long long)e->entries);
    }
}

static void deliver(nsl_engine *e)
{
    if (e->delivering)
        return;
    e->delivering = true;
    for (size_t i = 0; i < e->event_count; i++) {
        lk_event ev = e->events[i];   /* the array may grow during the call */
        if (e->cb.done)
            e->cb.done(e->ctx, ev.owner, &ev.result);
    }
    e->event_count = 0;
    e->delivering = false;
}

static void result_done(nsl_lock_result *res, int test, uint64_t token)
{
    res->code = NSL_OK;
    res->test = test;
    res->token = token;
    res->ticket = 0;
    res->message[0] = '\0';
}

/* The everyday command, +name or -name for one name, in one step: the
 * same primitives as the general path without its bookkeeping (pins,
 * saved arguments, the resume queue), which only multi-part, waiting or
 * failing commands need. Returns false, having changed nothing that
 * matters, when the command must take the general path: it spans
 * databases, is an E lock, or cannot be granted at once. */
static bool run_single(nsl_engine *e, lk_owner *o, nsl_lock_op op, const nsl_lock_item *it,
                       uint64_t now, nsl_lock_result *res)
{
    if (o->busy || (op != NSL_OP_ADD && op != NSL_OP_REMOVE))
        return false;
    nsl_resolution resolution;
    nsl_error err;
    if (nsl_resolve(e->resolver, o->namespace_id, &it->name, &resolution, &err) != NSL_OK)
        return false;
    if (op == NSL_OP_REMOVE) {
        for (uint32_t d = 0; d < resolution.count; d++)
            unlock_one(e, o, resolution.dbs[d].db, &it->name.key, it->types);
        result_done(res, -1, 0);
        settle(e, now);
        deliver(e);
        return true;
    }
    if (resolution.count != 1 || (it->types & NSL_TYPE_ESCALATING) || e->grants_held)
        return false;
    /* Near a limit, the general path decides and words the error. */
    if (e->entries >= e->opt.max_entries ||
        (e->opt.max_owner_entries && o->entries >= e->opt.max_owner_entries))
        return false;
    lk_part p = {.node = lk_node_get(e, resolution.dbs[0].db, &it->name.key, true),
                 .mode = it->types & NSL_TYPE_SHARED ? MODE_S : MODE_X,
                 .types = it->types};
    const lk_holder *h = lk_holder_find(p.node, o);
    if ((h && h->count[type_slot(p.mode, false)] >= NSL_MAX_LOCK_COUNT) ||
        lk_blocked_by_holders(p.node, o, p.mode) ||
        (lk_blocked_by_waiters(p.node, p.mode) && !lk_owner_covers(p.node, o, p.mode))) {
        lk_node_prune(e, p.node);
        return false;
    }
    uint64_t token = ++e->last_token;
    e->stats.grants++;
    part_grant(e, o, &p, token, o->namespace_id, now);
    result_done(res, 1, token);
    return true;
}

static nsl_engine_status start_command(nsl_engine *e, lk_owner *o, const nsl_lock_arg *args,
                                       const nsl_lock_item *items, size_t count,
                                       uint64_t now, nsl_lock_result *res)
{
    res->code = NSL_OK;
    res->test = -1;
    res->token = 0;
    res->ticket = 0;
    res->message[0] = '\0';
    if (o->busy) {
        res->code = NSL_COMMAND;
        snprintf(res->message, sizeof res->message,
                 "the session already has a command waiting");
        return NSL_DONE;
    }
    o->busy = true;
    o->last_test = -1;
    o->last_token = 0;
    nsl_engine_status st = drive(e, o, args, items, count, 0, now, res);
    settle(e, now);
    deliver(e);
    return st;
}

nsl_engine_status nsl_engine_execute(nsl_engine *e, nsl_owner_id owner,
                                     const nsl_lock_command *cmd, uint64_t now,
                                     nsl_lock_result *res)
{
    lk_owner *o = lk_owner_find(e, owner);
    if (!o) {
        memset(res, 0, sizeof *res);
        res->test = -1;
        res->code = NSL_NOTFOUND;
        snprintf(res->message, sizeof res->message, "no owner %u", owner);
        return NSL_DONE;
    }
    if (cmd->arg_count == 0) {
        /* bare LOCK: release everything */
        static const nsl_lock_arg release = {.op = NSL_OP_SIMPLE};
        return start_command(e, o, &release, NULL, 1, now, res);
    }
    if (cmd->arg_count == 1 && cmd->args[0].item_count == 1 &&
        run_single(e, o, cmd->args[0].op, &cmd->items[cmd->args[0].first_item], now, res))
        return NSL_DONE;
    return start_command(e, o, cmd->args, cmd->items, cmd->arg_count, now, res);
}

nsl_engine_status nsl_engine_lock(nsl_engine *e, nsl_owner_id owner, nsl_lock_op op,
                                  const nsl_lock_item *items, size_t item_count,
                                  int64_t timeout_ms, uint64_t now, nsl_lock_result *res)
{
    lk_owner *o = lk_owner_find(e, owner);
    if (!o) {
        memset(res, 0, sizeof *res);
        res->test = -1;
        res->code = NSL_NOTFOUND;
        snprintf(res->message, sizeof res->message, "no owner %u", owner);
        return NSL_DONE;
    }
    if (item_count == 1 && run_single(e, o, op, items, now, res))
        return NSL_DONE;
    nsl_lock_arg arg = {.op = op, .first_item = 0, .item_count = item_count,
                        .timeout_ms = timeout_ms, .has_timeout = timeout_ms >= 0};
    return start_command(e, o, &arg, items, 1, now, res);
}

void nsl_engine_owner_end(nsl_engine *e, nsl_owner_id owner, uint64_t now)
{
    lk_owner *o = lk_owner_find(e, owner);
    if (!o)
        return;
    if (o->waiting) {
        request_free(e, o->waiting);
        e->dirty = true;
    }
    release_everything(e, o);
    if (o->resume_queued) {     /* only possible from a nested call */
        lk_owner **pp = &e->resume_head;
        lk_owner *prev = NULL;
        while (*pp != o) {
            prev = *pp;
            pp = &(*pp)->resume_next;
        }
        *pp = o->resume_next;
        if (e->resume_tail == o)
            e->resume_tail = prev;
    }
    if (e->cursors)
        lk_cursors_skip_owner(e, o);
    HASH_DEL(e->owners, o);
    if (e->last_owner == o)
        e->last_owner = NULL;
    free(o->rest_args);
    free(o->rest_items);
    free(o);
    settle(e, now);
    deliver(e);
}

/* ---- transactions ---------------------------------------------------------------- */

nsl_code nsl_engine_tstart(nsl_engine *e, nsl_owner_id owner)
{
    lk_owner *o = lk_owner_find(e, owner);
    if (!o)
        return NSL_NOTFOUND;
    if (o->tlevel >= 127)
        return NSL_LIMIT;
    o->tlevel++;
    return NSL_OK;
}

static nsl_code transaction_pop(nsl_engine *e, nsl_owner_id owner, unsigned levels,
                                uint64_t now)
{
    lk_owner *o = lk_owner_find(e, owner);
    if (!o)
        return NSL_NOTFOUND;
    if (!o->tlevel)
        return NSL_COMMAND;
    o->tlevel = levels && levels < o->tlevel ? o->tlevel - levels : 0;
    if (!o->tlevel)
        transaction_end(e, o);
    settle(e, now);
    deliver(e);
    return NSL_OK;
}

nsl_code nsl_engine_tcommit(nsl_engine *e, nsl_owner_id owner, uint64_t now)
{
    return transaction_pop(e, owner, 1, now);
}

nsl_code nsl_engine_trollback(nsl_engine *e, nsl_owner_id owner, unsigned levels, uint64_t now)
{
    return transaction_pop(e, owner, levels, now);
}

unsigned nsl_engine_tlevel(const nsl_engine *e, nsl_owner_id owner)
{
    const lk_owner *o = lk_owner_find(e, owner);
    return o ? o->tlevel : 0;
}

/* ---- restart recovery (docs/DESIGN.md) ------------------------------------------------- */

void nsl_engine_hold_grants(nsl_engine *e, bool hold, uint64_t now)
{
    if (e->grants_held == hold)
        return;
    e->grants_held = hold;
    if (hold)
        return;
    e->dirty = true;            /* what queued meanwhile goes now, in arrival order */
    settle(e, now);
    deliver(e);
}

bool nsl_engine_grants_held(const nsl_engine *e)
{
    return e->grants_held;
}

_Static_assert((int)NSL_COUNT_X == (int)T_X && (int)NSL_COUNT_XE == (int)T_XE &&
                   (int)NSL_COUNT_S == (int)T_S && (int)NSL_COUNT_SE == (int)T_SE &&
                   (int)NSL_COUNT_TYPES == (int)T_COUNT,
               "nsl_reclaim counts are indexed by count slot");

/* The owner's escalated lock on n's parent in mode m, which stands for n's
 * E locks of that mode; NULL when there is none. */
static lk_escalated *escalated_parent(const lk_node *n, const lk_owner *o, int m)
{
    if (n->depth == 0)
        return NULL;
    const lk_holder *ph = lk_holder_find(n->parent, o);
    const lk_holder_more *pm = ph ? lk_holder_more_of(ph) : NULL;
    return pm ? pm->esc[m] : NULL;
}

/* Everything that can refuse a reclaim at one of its nodes, before any
 * node is changed. */
static nsl_code reclaim_check(nsl_engine *e, const lk_owner *o, const nsl_reclaim *r,
                              const lk_node *n, nsl_error *err)
{
    int mode = r->count[T_X] | r->count[T_XE] ? MODE_X : MODE_S;
    if (lk_blocked_by_holders(n, o, mode)) {
        const lk_owner *other = lk_conflicting_owner(n, o, mode);
        char name[256];
        nsl_key_format(&r->name.key, name, sizeof name);
        return nsl_error_set(err, NSL_CONFLICT, 0,
                             "%s in database %s: owner %u holds a conflicting lock", name,
                             nsl_registry_database(nsl_resolver_registry(e->resolver), n->db)->name,
                             other ? other->id : 0);
    }
    const lk_holder *h = lk_holder_find(n, o);
    for (int t = 0; h && t < T_COUNT; t++) {
        bool absorbed = (t == T_XE || t == T_SE) && escalated_parent(n, o, t == T_SE);
        if (!absorbed && h->count[t] + r->count[t] > NSL_MAX_LOCK_COUNT)
            return nsl_error_set(err, NSL_LIMIT, 0,
                                 "with what the session holds there the lock count would "
                                 "exceed %d", NSL_MAX_LOCK_COUNT);
    }
    return NSL_OK;
}

/* Re-creates r at node n: E counts an escalated parent stands for join it,
 * the rest go to the owner's entry at n, which may then escalate. */
static void reclaim_apply(nsl_engine *e, lk_owner *o, const nsl_reclaim *r, lk_node *n,
                          uint64_t now)
{
    uint16_t count[T_COUNT], deferred[T_COUNT];
    memcpy(count, r->count, sizeof count);
    memcpy(deferred, r->deferred, sizeof deferred);
    for (int m = 0; m < 2; m++) {
        int slot = type_slot(m, true);
        lk_escalated *esc = count[slot] ? escalated_parent(n, o, m) : NULL;
        if (!esc)
            continue;
        /* As escalation counts a child: the fingerprint once per live count. */
        esc->count += count[slot];
        esc->deferred += deferred[slot];
        uint64_t fp = lk_fingerprint(n->part, n->part_len);
        for (unsigned c = deferred[slot]; c < count[slot]; c++)
            lk_fpset_add(&esc->children, fp);
        count[slot] = deferred[slot] = 0;
    }
    if (!(count[T_X] | count[T_XE] | count[T_S] | count[T_SE]))
        return;
    lk_holder *h = lk_holder_get(e, n, o);
    unsigned old_modes = lk_holder_modes(h), old_ebits = lk_holder_ebits(h);
    if (!old_modes || r->token < h->token) {
        /* A second name landing here keeps the older token, and the
         * earlier of the two times. */
        uint64_t at = old_modes ? lk_holder_since(e, h) : now;
        lk_holder_stamp(e, h, r->token, at < now ? at : now);
        h->namespace_id = (uint16_t)r->namespace_id;
    }
    for (int t = 0; t < T_COUNT; t++) {
        h->count[t] = (uint16_t)(h->count[t] + count[t]);
        if (deferred[t])
            lk_holder_more_get(e, h)->deferred[t] += deferred[t];
    }
    lk_holder_changed(e, h, old_modes, old_ebits);
    for (int m = 0; m < 2 && n->depth > 0; m++) {
        if (!count[type_slot(m, true)])
            continue;
        lk_holder *ph = lk_holder_find(n->parent, o);
        lk_holder_more *pm = ph ? lk_holder_more_of(ph) : NULL;
        if (pm && pm->child_e[m] > e->opt.escalation_threshold)
            lk_escalate_maybe(e, ph, m, true);
    }
}

nsl_code nsl_engine_reclaim(nsl_engine *e, nsl_owner_id owner, const nsl_reclaim *r,
                            uint64_t now, nsl_error *err)
{
    lk_owner *o = lk_owner_find(e, owner);
    if (!o)
        return nsl_error_set(err, NSL_NOTFOUND, 0, "no owner %u", owner);
    if (o->busy || o->waiting)
        return nsl_error_set(err, NSL_COMMAND, 0, "the session has a command waiting");
    bool any = false;
    for (int t = 0; t < T_COUNT; t++) {
        if (r->count[t] > NSL_MAX_LOCK_COUNT)
            return nsl_error_set(err, NSL_LIMIT, 0, "lock count %u exceeds %d",
                                 (unsigned)r->count[t], NSL_MAX_LOCK_COUNT);
        if (r->deferred[t] > r->count[t])
            return nsl_error_set(err, NSL_LIMIT, 0, "%u delocked of %u locks",
                                 (unsigned)r->deferred[t], (unsigned)r->count[t]);
        any |= r->count[t] != 0;
    }
    if (!any)
        return nsl_error_set(err, NSL_COMMAND, 0, "nothing to reclaim: every count is 0");
    if ((r->count[T_XE] | r->count[T_SE]) && r->name.key.nsubs == 0)
        return nsl_error_set(err, NSL_COMMAND, 0, "escalating locks need a subscript");
    /* Above first_token it could be a token of this run, held by someone else. */
    if (r->token == 0 || r->token > e->opt.first_token)
        return nsl_error_set(err, NSL_COMMAND, 0,
                             "token %llu was not handed out before the restart (this run's "
                             "tokens start after %llu)",
                             (unsigned long long)r->token, (unsigned long long)e->opt.first_token);
    nsl_resolution resolution;
    nsl_code rc = nsl_resolve(e->resolver, r->namespace_id, &r->name, &resolution, err);
    if (rc != NSL_OK)
        return rc;

    /* All or nothing: every database is checked before any is changed.
     * The pins keep the nodes while escalation reshapes the tree. */
    lk_node *nodes[NSL_MAX_DATABASES];
    for (uint32_t d = 0; d < resolution.count; d++) {
        nodes[d] = lk_node_get(e, resolution.dbs[d].db, &r->name.key, true);
        nodes[d]->pins++;
    }
    for (uint32_t d = 0; d < resolution.count && rc == NSL_OK; d++)
        rc = reclaim_check(e, o, r, nodes[d], err);
    for (uint32_t d = 0; d < resolution.count && rc == NSL_OK; d++)
        reclaim_apply(e, o, r, nodes[d], now);
    for (uint32_t d = 0; d < resolution.count; d++) {
        nodes[d]->pins--;
        lk_node_prune(e, nodes[d]);
    }
    settle(e, now);             /* escalation frees entries: a full table may have room */
    deliver(e);
    return rc;
}

/* ---- time ---------------------------------------------------------------------- */

void nsl_engine_tick(nsl_engine *e, uint64_t now)
{
    while (e->heap_count && lk_request_due(e->heap[0]) <= now) {
        lk_request *r = e->heap[0];
        if (r->deadline <= now) {
            e->stats.timeouts++;
            lk_request_fail(e, r, NSL_OK, 0, NULL);
            continue;
        }
        r->check_at = now + e->opt.deadlock_check_ms;
        heap_fix(e, r->heap_index);
        lk_deadlock_check(e, r);
    }
    settle(e, now);
    deliver(e);
}

bool nsl_engine_cancel(nsl_engine *e, nsl_owner_id owner, uint64_t now,
                       nsl_lock_result *res)
{
    lk_owner *o = lk_owner_find(e, owner);
    /* a granted request waiting to resume is no longer a wait */
    if (!o || !o->waiting || o->resume_queued)
        return false;
    request_free(e, o->waiting);
    e->dirty = true;     /* those queued behind it may go now */
    command_finish(o);
    result_done(res, 0, 0);
    settle(e, now);
    deliver(e);
    return true;
}

uint64_t nsl_engine_next_deadline(const nsl_engine *e)
{
    return e->heap_count ? lk_request_due(e->heap[0]) : NO_TIME;
}

/* ---- administration ---------------------------------------------------------------- */

size_t nsl_engine_remove(nsl_engine *e, nsl_owner_id owner, int64_t db,
                         const nsl_key *key, uint64_t now)
{
    return nsl_engine_remove_each(e, owner, db, key, now, NULL, NULL);
}

size_t nsl_engine_remove_each(nsl_engine *e, nsl_owner_id owner, int64_t db,
                              const nsl_key *key, uint64_t now, nsl_removed_fn fn, void *ctx)
{
    size_t removed = 0;
    lk_owner *o, *tmp;
    uint8_t buf[NSL_MAX_KEY_BYTES];
    HASH_ITER(hh, e->owners, o, tmp) {
        if (owner && o->id != owner)
            continue;
        lk_holder *next;
        for (lk_holder *h = o->held; h; h = next) {
            next = h->owner_next;
            const lk_node *n = lk_holder_node(h);
            if (db >= 0 && n->db != db)
                continue;
            size_t len = key || fn ? lk_node_key(n, buf, sizeof buf) : 0;
            if (key && (len != key->len || memcmp(buf, key->bytes, len)))
                continue;
            if (fn)
                fn(ctx, o->id, n->db, buf, len);
            holder_zero(e, h);
            removed++;
        }
    }
    settle(e, now);
    deliver(e);
    return removed;
}

void nsl_engine_stats_get(const nsl_engine *e, nsl_engine_stats *out)
{
    *out = e->stats;
    out->entries = e->entries;
    out->max_entries = e->opt.max_entries;
    out->owners = HASH_COUNT(e->owners);
    out->waiters = e->waiters;
    out->last_token = e->last_token;
}

uint64_t nsl_engine_database_entries(const nsl_engine *e, uint32_t database)
{
    return database < e->database_count ? e->database_entries[database] : 0;
}
