/* locks/deadlock.c — who a waiting request waits for, and deadlock
 * detection over that waits-for graph (docs/LANGUAGE.md).
 *
 * Runs when a wait has lasted deadlock_check_ms (and again every period
 * while it waits), never on the lock/unlock path, so it may walk lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "locks/engine_internal.h"

static size_t add_blocker(nsl_owner_id *out, size_t n, size_t cap, nsl_owner_id id)
{
    for (size_t i = 0; i < n && i < cap; i++)
        if (out[i] == id)
            return n;
    if (n < cap)
        out[n] = id;
    return n + 1;
}

static bool modes_conflict(unsigned held_modes, int mode)
{
    return (held_modes & (1u << MODE_X)) || (mode == MODE_X && (held_modes & (1u << MODE_S)));
}

/* Owners whose holds, or whose earlier waiting requests, keep r waiting.
 * Returns how many there are (may exceed cap; only cap are stored). */
size_t lk_request_blockers(const nsl_engine *e, const lk_request *r,
                           nsl_owner_id *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t i = 0; i < r->part_count; i++) {
        const lk_part *p = &r->parts[i];
        for (const lk_node *a = p->node; a->depth != ROOT_DEPTH; a = a->parent) {
            for (const lk_holder *h = lk_holders_first(a); h; h = lk_holders_next(a, h)) {
                if (h->owner == r->owner)
                    continue;
                if (modes_conflict(lk_holder_modes(h), p->mode))
                    n = add_blocker(out, n, cap, h->owner->id);
                /* holders recorded at p->node itself also stand for what
                 * their owners hold below it */
                const lk_holder_more *hm = lk_holder_more_of(h);
                if (a == p->node && hm &&
                    (hm->below[MODE_X] || (p->mode == MODE_X && hm->below[MODE_S])))
                    n = add_blocker(out, n, cap, h->owner->id);
            }
        }
        /* A name its owner already covers does not queue behind earlier
         * waiters, so they do not block it. */
        bool covered = lk_owner_covers(p->node, r->owner, p->mode);
        for (const lk_request *q = e->fifo_head; q && q != r && !covered; q = q->next) {
            if (q->owner == r->owner)
                continue;
            for (uint32_t j = 0; j < q->part_count; j++) {
                const lk_part *qp = &q->parts[j];
                if (p->mode == MODE_S && qp->mode == MODE_S)
                    continue;
                if (lk_node_covers(qp->node, p->node) || lk_node_covers(p->node, qp->node)) {
                    n = add_blocker(out, n, cap, q->owner->id);
                    break;
                }
            }
        }
    }
    return n;
}

static nsl_owner_id *blockers_of(const nsl_engine *e, const lk_request *r, size_t *count)
{
    size_t cap = 8;
    for (;;) {
        nsl_owner_id *ids = malloc(cap * sizeof *ids);
        if (!ids)
            abort();
        size_t n = lk_request_blockers(e, r, ids, cap);
        if (n <= cap) {
            *count = n;
            return ids;
        }
        free(ids);
        cap = n;
    }
}

typedef struct frame {
    lk_owner *owner;
    nsl_owner_id *blockers;
    size_t count, next;
} frame;

static void describe_cycle(const nsl_engine *e, frame *stack, size_t depth,
                           char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "cycle:");
    for (size_t i = 0; i < depth && len < cap; i++) {
        const lk_request *r = stack[i].owner->waiting;
        uint8_t key[NSL_MAX_KEY_BYTES];
        char name[128] = "?";
        size_t klen = lk_node_key(r->parts[0].node, key, sizeof key);
        if (klen <= sizeof key)
            nsl_key_format_bytes(key, klen, name, sizeof name);
        nsl_owner_id next = i + 1 < depth ? stack[i + 1].owner->id : stack[0].owner->id;
        len += (size_t)snprintf(buf + len, cap - len, "%s owner %u waits for %s held by owner %u",
                                i ? ";" : "", stack[i].owner->id, name, next);
    }
    (void)e;
}

/* Looks for a cycle through r's owner; fails the newest request in it. */
void lk_deadlock_check(nsl_engine *e, lk_request *r)
{
    lk_owner *start = r->owner;
    uint32_t epoch = ++e->mark_epoch;
    size_t cap = 16, depth = 0;
    frame *stack = malloc(cap * sizeof *stack);
    if (!stack)
        abort();
    start->mark = epoch;
    stack[depth].owner = start;
    stack[depth].blockers = blockers_of(e, r, &stack[depth].count);
    stack[depth++].next = 0;

    lk_request *victim = NULL;
    char message[sizeof ((nsl_lock_result *)0)->message];
    while (depth && !victim) {
        frame *f = &stack[depth - 1];
        if (f->next == f->count) {
            free(f->blockers);
            depth--;
            continue;
        }
        nsl_owner_id id = f->blockers[f->next++];
        lk_owner *x = lk_owner_find(e, id);
        if (x == start) {
            victim = start->waiting;
            for (size_t i = 1; i < depth; i++)
                if (stack[i].owner->waiting->seq > victim->seq)
                    victim = stack[i].owner->waiting;
            describe_cycle(e, stack, depth, message, sizeof message);
            break;
        }
        if (!x || !x->waiting || x->mark == epoch)
            continue;
        x->mark = epoch;
        if (depth == cap) {
            cap *= 2;
            frame *grown = realloc(stack, cap * sizeof *stack);
            if (!grown)
                abort();
            stack = grown;
        }
        stack[depth].owner = x;
        stack[depth].blockers = blockers_of(e, x->waiting, &stack[depth].count);
        stack[depth++].next = 0;
    }
    while (depth)
        free(stack[--depth].blockers);
    free(stack);
    if (victim) {
        e->stats.deadlocks++;
        lk_notice(e, NSL_NOTICE_DEADLOCK, "deadlock: owner %u fails; %s", victim->owner->id, message);
        lk_request_fail(e, victim, NSL_DEADLOCK, -1, message);
    }
}
