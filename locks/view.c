/* locks/view.c — the lock table as rows (docs/PROTOCOL.md): held entries with their
 * IRIS-style ModeCount, and waiting requests with the owners they wait for.
 * A snapshot for operators (it walks the whole table, never on a lock path),
 * or the same rows a piece at a time through a cursor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "locks/engine_internal.h"

void nsl_view_filter_init(nsl_view_filter *f)
{
    memset(f, 0, sizeof *f);
    f->database = -1;
    f->namespace_id = -1;
}

/* "Exclusive", "Exclusive/3", "Exclusive/1+1e", "Shared_e/1001",
 * "Exclusive->Delock", "Exclusive,Shared". */
static void mode_count(const lk_holder *h, char *buf, size_t cap)
{
    static const char *const names[2] = {"Exclusive", "Shared"};
    size_t len = 0;
    buf[0] = '\0';
    const lk_holder_more *hm = lk_holder_more_of(h);
    for (int m = 0; m < 2; m++) {
        const lk_escalated *esc = hm ? hm->esc[m] : NULL;
        unsigned plain = h->count[type_slot(m, false)];
        unsigned escalating = h->count[type_slot(m, true)] + (esc ? esc->count : 0);
        unsigned deferred = (hm ? hm->deferred[type_slot(m, false)] +
                                  hm->deferred[type_slot(m, true)] : 0) +
                            (esc ? esc->deferred : 0);
        if (!plain && !escalating)
            continue;
        if (len && len < cap)
            len += (size_t)snprintf(buf + len, cap - len, ",");
        if (len >= cap)
            break;
        if (plain && escalating)
            len += (size_t)snprintf(buf + len, cap - len, "%s/%u+%ue", names[m], plain, escalating);
        else if (escalating > 1)
            len += (size_t)snprintf(buf + len, cap - len, "%s_e/%u", names[m], escalating);
        else if (escalating)
            len += (size_t)snprintf(buf + len, cap - len, "%s_e", names[m]);
        else if (plain > 1)
            len += (size_t)snprintf(buf + len, cap - len, "%s/%u", names[m], plain);
        else
            len += (size_t)snprintf(buf + len, cap - len, "%s", names[m]);
        if (deferred && len < cap)
            len += (size_t)snprintf(buf + len, cap - len, "->Delock");
    }
}

typedef struct row_list {
    nsl_view_row *rows;
    size_t count, capacity;
} row_list;

static nsl_view_row *row_add(row_list *l, const lk_node *n, const nsl_view_filter *f)
{
    uint8_t key[NSL_MAX_KEY_BYTES];
    size_t klen = lk_node_key(n, key, sizeof key);
    if (klen > sizeof key)
        return NULL;
    char name[2048];
    nsl_key_format_bytes(key, klen, name, sizeof name);
    if (f->name_prefix && strncmp(name, f->name_prefix, strlen(f->name_prefix)) != 0)
        return NULL;
    if (l->count == l->capacity) {
        l->capacity = l->capacity ? l->capacity * 2 : 64;
        nsl_view_row *grown = realloc(l->rows, l->capacity * sizeof *grown);
        if (!grown)
            return NULL;
        l->rows = grown;
    }
    nsl_view_row *row = &l->rows[l->count];
    memset(row, 0, sizeof *row);
    row->name = strdup(name);
    row->key = malloc(klen ? klen : 1);
    if (!row->name || !row->key) {
        free(row->name);
        free(row->key);
        return NULL;
    }
    memcpy(row->key, key, klen);
    row->key_len = (uint16_t)klen;
    row->database = n->db;
    l->count++;
    return row;
}

static int row_cmp(const void *pa, const void *pb)
{
    const nsl_view_row *a = pa, *b = pb;
    if (a->database != b->database)
        return a->database < b->database ? -1 : 1;
    int c = nsl_key_bytes_cmp(a->key, a->key_len, b->key, b->key_len);
    if (c)
        return c;
    if (a->waiting != b->waiting)
        return a->waiting ? 1 : -1;
    if (a->owner != b->owner)
        return a->owner < b->owner ? -1 : 1;
    return 0;
}

/* rank[id]: the database's position in name order; by_rank the inverse. */
static void database_order(const nsl_engine *e, uint32_t *rank, uint32_t *by_rank)
{
    const nsl_registry *reg = nsl_resolver_registry(e->resolver);
    uint32_t n = e->database_count;
    for (uint32_t i = 0; i < n; i++)
        by_rank[i] = i;
    for (uint32_t i = 1; i < n; i++) {       /* insertion sort: n <= 256 */
        uint32_t id = by_rank[i], j = i;
        const char *name = nsl_registry_database(reg, id)->name;
        while (j > 0 && strcmp(nsl_registry_database(reg, by_rank[j - 1])->name, name) > 0) {
            by_rank[j] = by_rank[j - 1];
            j--;
        }
        by_rank[j] = id;
    }
    for (uint32_t i = 0; i < n; i++)
        rank[by_rank[i]] = i;
}

static bool wanted(const nsl_view_filter *f, uint32_t db, nsl_owner_id owner, uint32_t ns)
{
    return (f->database < 0 || f->database == db) && (!f->owner || f->owner == owner) &&
           (f->namespace_id < 0 || f->namespace_id == ns);
}

/* The waiting rows: one per part of each queued request. */
static void collect_waiting(const nsl_engine *e, const nsl_view_filter *filter, row_list *l)
{
    for (const lk_request *r = filter->no_waiters ? NULL : e->fifo_head; r; r = r->next) {
        for (uint32_t i = 0; i < r->part_count; i++) {
            const lk_part *p = &r->parts[i];
            if (!wanted(filter, p->node->db, r->owner->id, r->namespace_id))
                continue;
            nsl_view_row *row = row_add(l, p->node, filter);
            if (!row)
                continue;
            row->owner = r->owner->id;
            row->namespace_id = r->namespace_id;
            row->waiting = true;
            row->since = r->enqueued;
            snprintf(row->mode, sizeof row->mode, "%s%s",
                     p->mode == MODE_X ? "WaitExclusive" : "WaitShared",
                     p->escalating ? "_e" : "");
            size_t n = lk_request_blockers(e, r, NULL, 0);
            row->blockers = calloc(n ? n : 1, sizeof *row->blockers);
            if (row->blockers)
                row->blocker_count = lk_request_blockers(e, r, row->blockers, n);
            /* nobody in the way: it waits for the recovery, or for room */
            if (!row->blocker_count)
                row->wait_reason = e->grants_held ? NSL_WAIT_RECOVERY
                                 : e->table_full ? NSL_WAIT_ROOM : NSL_WAIT_LOCKS;
        }
    }
}

nsl_code nsl_engine_view(const nsl_engine *e, const nsl_view_filter *filter, nsl_view *out)
{
    nsl_view_filter any;
    if (!filter) {
        nsl_view_filter_init(&any);
        filter = &any;
    }
    row_list l = {0};
    const lk_owner *o, *tmp;
    HASH_ITER(hh, e->owners, o, tmp) {
        for (const lk_holder *h = o->held; h; h = h->owner_next) {
            const lk_node *n = lk_holder_node(h);
            if (!wanted(filter, n->db, o->id, h->namespace_id))
                continue;
            nsl_view_row *row = row_add(&l, n, filter);
            if (!row)
                continue;
            row->owner = o->id;
            row->namespace_id = h->namespace_id;
            row->since = lk_holder_since(e, h);
            row->token = h->token;
            mode_count(h, row->mode, sizeof row->mode);
        }
    }
    collect_waiting(e, filter, &l);
    /* Databases sort by name: rows carry their database's rank while
     * sorted, then get their id back. */
    uint32_t rank[NSL_MAX_DATABASES], by_rank[NSL_MAX_DATABASES];
    database_order(e, rank, by_rank);
    for (size_t i = 0; i < l.count; i++)
        l.rows[i].database = rank[l.rows[i].database];
    if (l.count)
        qsort(l.rows, l.count, sizeof *l.rows, row_cmp);
    for (size_t i = 0; i < l.count; i++)
        l.rows[i].database = by_rank[l.rows[i].database];
    out->rows = l.rows;
    out->count = l.count;
    return NSL_OK;
}

void nsl_view_free(nsl_view *v)
{
    for (size_t i = 0; i < v->count; i++) {
        free(v->rows[i].name);
        free(v->rows[i].key);
        free(v->rows[i].blockers);
    }
    free(v->rows);
    v->rows = NULL;
    v->count = 0;
}

/* ---- cursors ------------------------------------------------------------------ */

struct nsl_view_cursor {
    nsl_view_cursor *prev, *next;        /* the engine's open cursors */
    nsl_view_filter filter;
    char *prefix;
    lk_owner *owner;                     /* whose entries are being walked; NULL: done */
    lk_holder *holder;                   /* the next of them */
    bool held_done;
    row_list waiting;                    /* taken when the held entries are done */
    size_t waiting_next;
    uint8_t key[NSL_MAX_KEY_BYTES];
};

nsl_view_cursor *nsl_view_cursor_open(nsl_engine *e, const nsl_view_filter *filter)
{
    nsl_view_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (filter)
        c->filter = *filter;
    else
        nsl_view_filter_init(&c->filter);
    if (c->filter.name_prefix) {
        c->prefix = strdup(c->filter.name_prefix);
        if (!c->prefix) {
            free(c);
            return NULL;
        }
        c->filter.name_prefix = c->prefix;
    }
    c->owner = e->owners;
    c->holder = c->owner ? c->owner->held : NULL;
    c->next = e->cursors;
    if (e->cursors)
        e->cursors->prev = c;
    e->cursors = c;
    return c;
}

static void owner_advance(nsl_view_cursor *c)
{
    c->owner = c->owner->hh.next;
    c->holder = c->owner ? c->owner->held : NULL;
}

static bool next_held(const nsl_engine *e, nsl_view_cursor *c, nsl_view_row *row)
{
    const nsl_view_filter *f = &c->filter;
    while (c->owner) {
        if (!c->holder) {
            owner_advance(c);
            continue;
        }
        if (f->owner && c->owner->id != f->owner) {
            owner_advance(c);
            continue;
        }
        const lk_holder *h = c->holder;
        c->holder = h->owner_next;
        const lk_node *n = lk_holder_node(h);
        if (!wanted(f, n->db, c->owner->id, h->namespace_id))
            continue;
        size_t klen = lk_node_key(n, c->key, sizeof c->key);
        if (klen > sizeof c->key)
            continue;
        if (f->name_prefix) {
            char name[2048];
            nsl_key_format_bytes(c->key, klen, name, sizeof name);
            if (strncmp(name, f->name_prefix, strlen(f->name_prefix)) != 0)
                continue;
        }
        memset(row, 0, sizeof *row);
        row->database = n->db;
        row->owner = c->owner->id;
        row->namespace_id = h->namespace_id;
        row->key = c->key;
        row->key_len = (uint16_t)klen;
        row->since = lk_holder_since(e, h);
        row->token = h->token;
        mode_count(h, row->mode, sizeof row->mode);
        return true;
    }
    return false;
}

bool nsl_view_cursor_next(nsl_engine *e, nsl_view_cursor *c, nsl_view_row *row)
{
    if (!c->held_done) {
        if (next_held(e, c, row))
            return true;
        c->held_done = true;
        collect_waiting(e, &c->filter, &c->waiting);
    }
    if (c->waiting_next == c->waiting.count)
        return false;
    *row = c->waiting.rows[c->waiting_next++];
    row->name = NULL;
    return true;
}

void nsl_view_cursor_close(nsl_engine *e, nsl_view_cursor *c)
{
    if (!c)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        e->cursors = c->next;
    if (c->next)
        c->next->prev = c->prev;
    nsl_view rest = {.rows = c->waiting.rows, .count = c->waiting.count};
    nsl_view_free(&rest);
    free(c->prefix);
    free(c);
}

void lk_cursors_skip_holder(nsl_engine *e, const lk_holder *h)
{
    for (nsl_view_cursor *c = e->cursors; c; c = c->next)
        if (c->holder == h)
            c->holder = h->owner_next;
}

void lk_cursors_skip_owner(nsl_engine *e, const lk_owner *o)
{
    for (nsl_view_cursor *c = e->cursors; c; c = c->next)
        if (c->owner == o)
            owner_advance(c);
}

void lk_cursors_free(nsl_engine *e)
{
    while (e->cursors)
        nsl_view_cursor_close(e, e->cursors);
}
