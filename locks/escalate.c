/* locks/escalate.c — escalating locks (docs/LANGUAGE.md).
 *
 * When an owner holds more than escalation_threshold E locks of one mode
 * on children of one node, they are replaced by one escalated lock on the
 * parent. Unlike IRIS, the escalated lock remembers which children it
 * stands for, as a multiset of 64-bit fingerprints of their subscripts, so
 * that unlocking a child that was never locked does not count it down.
 *
 * The parent's entry, when escalation creates it, takes the token and time
 * of the oldest child it replaces rather than a token of its own: it is no
 * new grant (no client is ever given its token), and what it carries then
 * follows from the children alone, so a restarted server that is given the
 * children back (nsl_engine_reclaim, in token order) re-creates it as it
 * was, without taking a token, and no token is ever shown that was not
 * handed out.
 */
#include <stdlib.h>
#include <string.h>

#include "locks/engine_internal.h"

uint64_t lk_fingerprint(const uint8_t *part, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ part[i]) * 1099511628211ull;
    /* splitmix64 finaliser: spreads the bits for linear probing */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h < 2 ? h + 2 : h;   /* 0 and 1 mark empty and deleted slots */
}

enum { FP_EMPTY = 0, FP_DELETED = 1 };

/* The home slot: a multiply maps the hash onto any capacity, so the table
 * need not be a power of two and can stay dense. */
static uint32_t fp_home(uint64_t fp, uint32_t capacity)
{
    return (uint32_t)(((fp >> 32) * (uint64_t)capacity) >> 32);
}

static void fpset_resize(lk_fpset *s, uint32_t capacity)
{
    uint64_t *old = s->slots;
    uint32_t old_capacity = s->capacity;
    s->slots = calloc(capacity, sizeof *s->slots);
    if (!s->slots)
        abort();
    s->capacity = capacity;
    s->used = s->live = 0;
    for (uint32_t i = 0; i < old_capacity; i++)
        if (old[i] > FP_DELETED)
            lk_fpset_add(s, old[i]);
    free(old);
}

/* Load stays between 2/3 and 9/10 once the set is past its first slots:
 * 9 to 12 bytes a child (docs/LANGUAGE.md allows 16). */
void lk_fpset_add(lk_fpset *s, uint64_t fp)
{
    if ((uint64_t)(s->used + 1) * 10 > (uint64_t)s->capacity * 9)
        fpset_resize(s, s->live + s->live / 2 + 16);
    uint32_t i = fp_home(fp, s->capacity);
    for (;; i = i + 1 == s->capacity ? 0 : i + 1) {
        if (s->slots[i] <= FP_DELETED) {
            if (s->slots[i] == FP_EMPTY)
                s->used++;
            s->slots[i] = fp;
            s->live++;
            return;
        }
    }
}

bool lk_fpset_remove(lk_fpset *s, uint64_t fp)
{
    if (!s->capacity)
        return false;
    uint32_t i = fp_home(fp, s->capacity);
    for (;; i = i + 1 == s->capacity ? 0 : i + 1) {
        if (s->slots[i] == FP_EMPTY)
            return false;
        if (s->slots[i] == fp) {
            s->slots[i] = FP_DELETED;
            s->live--;
            return true;
        }
    }
}

void lk_fpset_free(lk_fpset *s)
{
    free(s->slots);
    memset(s, 0, sizeof *s);
}

/* A new E lock on a child of an escalated parent only adds to the parent's
 * count. Returns false when the part is not absorbed. */
bool lk_escalated_absorb(nsl_engine *e, const lk_part *p, lk_owner *o)
{
    (void)e;
    if (!p->escalating || p->node->depth == 0)
        return false;
    lk_holder *ph = lk_holder_find(p->node->parent, o);
    lk_holder_more *pm = ph ? lk_holder_more_of(ph) : NULL;
    lk_escalated *esc = pm ? pm->esc[p->mode] : NULL;
    if (!esc)
        return false;
    if (esc->deferred)
        esc->deferred--;        /* locking again takes it out of delock */
    else
        esc->count++;
    lk_fpset_add(&esc->children, lk_fingerprint(p->node->part, p->node->part_len));
    return true;
}

/* Unlocking a child that an escalated parent stands for. */
bool lk_escalated_release(nsl_engine *e, lk_node *parent, const uint8_t *part,
                          size_t len, lk_owner *o, int mode, bool defer_final,
                          bool defer_always)
{
    lk_holder *ph = lk_holder_find(parent, o);
    lk_holder_more *pm = ph ? lk_holder_more_of(ph) : NULL;
    lk_escalated *esc = pm ? pm->esc[mode] : NULL;
    if (!esc || !lk_fpset_remove(&esc->children, lk_fingerprint(part, len)))
        return false;
    if (defer_always || (defer_final && esc->count - esc->deferred == 1)) {
        esc->deferred++;
        return true;
    }
    unsigned old_modes = lk_holder_modes(ph), old_ebits = lk_holder_ebits(ph);
    if (--esc->count == 0) {
        lk_fpset_free(&esc->children);
        free(esc);
        pm->esc[mode] = NULL;
    }
    e->dirty = true;
    lk_holder_changed(e, ph, old_modes, old_ebits);
    return true;
}

/* restoring: a reclaim re-creates an escalation that existed before the
 * restart. Waiters came after it and do not stop it; it is not counted or
 * announced again. */
void lk_escalate_maybe(nsl_engine *e, lk_holder *ph, int mode, bool restoring)
{
    lk_holder_more *pm = lk_holder_more_get(e, ph);
    if (pm->child_e[mode] <= e->opt.escalation_threshold || pm->esc[mode])
        return;
    lk_node *parent = lk_holder_node(ph);
    lk_owner *o = ph->owner;
    /* Only if the parent lock can be granted at once; else the children
     * stay and the next E lock tries again. */
    if (lk_blocked_by_holders(parent, o, mode) ||
        (!restoring && lk_blocked_by_waiters(parent, mode)))
        return;

    int slot = type_slot(mode, true);
    size_t n = 0, cap = pm->child_e[mode];
    lk_holder **children = malloc(cap * sizeof *children);
    if (!children)
        abort();
    for (lk_holder *h = o->held; h && n < cap; h = h->owner_next)
        if (h->count[slot] && lk_holder_node(h)->parent == parent)
            children[n++] = h;
    if (!n) {                /* child_e counts held children: not reached */
        free(children);
        return;
    }

    lk_escalated *esc = calloc(1, sizeof *esc);
    if (!esc)
        abort();
    unsigned parent_modes = lk_holder_modes(ph), parent_ebits = lk_holder_ebits(ph);
    pm->esc[mode] = esc;     /* keeps ph alive while its children go */
    /* The oldest child's stamp (see the top of the file); among children
     * of one grant, the same. */
    const lk_holder *oldest = children[0];
    for (size_t i = 1; i < n; i++)
        if (children[i]->token < oldest->token)
            oldest = children[i];
    if (!parent_modes) {
        ph->token = oldest->token;
        ph->since = oldest->since;     /* an offset from the token's epoch */
        ph->namespace_id = oldest->namespace_id;
    }
    for (size_t i = 0; i < n; i++) {
        lk_holder *h = children[i];
        const lk_node *child = lk_holder_node(h);
        lk_holder_more *hm = lk_holder_more_of(h);
        unsigned deferred = hm ? hm->deferred[slot] : 0;
        uint64_t fp = lk_fingerprint(child->part, child->part_len);
        for (unsigned c = deferred; c < h->count[slot]; c++)
            lk_fpset_add(&esc->children, fp);
        esc->count += h->count[slot];
        esc->deferred += deferred;
        unsigned old_modes = lk_holder_modes(h), old_ebits = lk_holder_ebits(h);
        h->count[slot] = 0;
        if (hm)
            hm->deferred[slot] = 0;
        lk_holder_changed(e, h, old_modes, old_ebits);
    }
    free(children);
    lk_holder_changed(e, ph, parent_modes, parent_ebits);
    e->dirty = true;        /* entries went: a full table may have room */
    if (restoring)
        return;
    e->stats.escalations++;
    lk_notice(e, NSL_NOTICE_ESCALATION, "owner %u: %zu %s escalating locks escalated to their parent",
              o->id, n, mode == MODE_X ? "exclusive" : "shared");
}
