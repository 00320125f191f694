/* client/mirror.c — what the session holds, as the library knows it from
 * its own requests and the server's answers (docs/DESIGN.md), so that after a
 * server restart it can reclaim exactly that.
 *
 * The mirror keeps one record per (namespace, canonical lock name) with the
 * engine's count slots (exclusive / shared x plain / escalating), the counts
 * in the delock state and the fencing token of the grant that created it,
 * and applies the rules of docs/LANGUAGE.md as the engine does: a simple
 * LOCK releases everything and holds each distinct name once, an unlock
 * inside a transaction delocks a final count, the end of the outermost
 * transaction releases what was delocked. It does not know databases (the
 * server resolves a reclaimed name again) nor escalation: an escalated
 * parent is mirrored as the children it stands for, which the server folds
 * into the parent again as it re-creates them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "client_internal.h"

struct nsl_mirror_entry {
    UT_hash_handle hh;
    uint64_t token;
    uint16_t count[4], deferred[4];
    uint32_t name_at;                   /* offset of the name in key */
    uint32_t keylen;
    char key[];                         /* "NAMESPACE\0canonical name" */
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();       /* as the engine does: a lock manager out of memory cannot keep its word */
    return p;
}

void nsl_mirror_clear(nsl_mirror *m)
{
    nsl_mirror_entry *e, *tmp;
    HASH_ITER(hh, m->map, e, tmp) {
        HASH_DEL(m->map, e);
        free(e);
    }
    m->tlevel = 0;
}

size_t nsl_mirror_count(const nsl_mirror *m)
{
    return HASH_COUNT(m->map);
}

static int slot_of(const nsl_lock_item *it)
{
    bool escalating = (it->types & NSL_TYPE_ESCALATING) && it->name.key.nsubs > 0;
    return (it->types & NSL_TYPE_SHARED ? 2 : 0) + (escalating ? 1 : 0);
}

static bool empty(const nsl_mirror_entry *e)
{
    return !(e->count[0] | e->count[1] | e->count[2] | e->count[3]);
}

/* The record key of an item taken in namespace ns. */
static size_t make_key(const char *ns, const nsl_lock_item *it, char *buf, size_t cap,
                       size_t *name_at)
{
    size_t nslen = strlen(ns);
    if (nslen + 1 >= cap)
        return 0;
    memcpy(buf, ns, nslen + 1);
    size_t n = nsl_lockname_format(&it->name, buf + nslen + 1, cap - nslen - 1);
    if (n >= cap - nslen - 1)
        return 0;
    *name_at = nslen + 1;
    return nslen + 1 + n;
}

#define KEY_CAP 4096

static nsl_mirror_entry *find(nsl_mirror *m, const char *ns, const nsl_lock_item *it, bool create)
{
    char key[KEY_CAP];
    size_t name_at, len = make_key(ns, it, key, sizeof key, &name_at);
    if (!len)
        return NULL;
    nsl_mirror_entry *e;
    HASH_FIND(hh, m->map, key, len, e);
    if (e || !create)
        return e;
    e = xmalloc(sizeof *e + len + 1);
    memset(e, 0, sizeof *e);
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->keylen = (uint32_t)len;
    e->name_at = (uint32_t)name_at;
    HASH_ADD(hh, m->map, key, e->keylen, e);
    return e;
}

static void drop_if_empty(nsl_mirror *m, nsl_mirror_entry *e)
{
    if (empty(e)) {
        HASH_DEL(m->map, e);
        free(e);
    }
}

/* A bare LOCK, and the first half of a simple one. */
void nsl_mirror_release_all(nsl_mirror *m)
{
    if (!m->tlevel) {
        nsl_mirror_clear(m);
        return;
    }
    nsl_mirror_entry *e, *tmp;
    HASH_ITER(hh, m->map, e, tmp)
        memcpy(e->deferred, e->count, sizeof e->deferred);
}

/* The items of one argument were granted with this token. */
static void grant(nsl_mirror *m, const char *ns, const nsl_lock_command *cmd,
                  const nsl_lock_arg *a, uint64_t token)
{
    for (size_t i = 0; i < a->item_count; i++) {
        const nsl_lock_item *it = &cmd->items[a->first_item + i];
        int slot = slot_of(it);
        if (a->op == NSL_OP_SIMPLE) {
            /* a simple LOCK sets: a name listed twice is held once */
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++) {
                const nsl_lock_item *prev = &cmd->items[a->first_item + j];
                seen = slot_of(prev) == slot && nsl_key_cmp(&prev->name.key, &it->name.key) == 0 &&
                       prev->name.ref == it->name.ref && !strcmp(prev->name.env, it->name.env);
            }
            if (seen)
                continue;
        }
        nsl_mirror_entry *e = find(m, ns, it, true);
        if (!e)
            continue;
        if (empty(e))
            e->token = token;
        if (e->deferred[slot])
            e->deferred[slot]--;            /* locking again leaves the delock state */
        else
            e->count[slot]++;
    }
}

static void unlock_item(nsl_mirror *m, const char *ns, const nsl_lock_item *it)
{
    nsl_mirror_entry *e = find(m, ns, it, false);
    if (!e)
        return;
    int slot = slot_of(it);
    bool in_tx = m->tlevel > 0 && !(it->types & NSL_TYPE_IMMEDIATE);
    bool defer_always = in_tx && (it->types & NSL_TYPE_DEFERRED);
    if (e->count[slot] <= e->deferred[slot])
        return;                              /* not held (or only in delock state) */
    unsigned held = e->count[slot] - e->deferred[slot];
    if (defer_always || (in_tx && held == 1))
        e->deferred[slot]++;
    else
        e->count[slot]--;
    drop_if_empty(m, e);
}

/* The server's answer to one argument of cmd (a NULL: the bare LOCK):
 * code NSL_OK with test 1/0/-1, or the error code. */
void nsl_mirror_apply(nsl_mirror *m, const char *ns, const nsl_lock_command *cmd,
                      const nsl_lock_arg *a, nsl_code code, int test, uint64_t token)
{
    if (a == NULL || a->item_count == 0) {
        if (code == NSL_OK)
            nsl_mirror_release_all(m);
        return;
    }
    if (a->op == NSL_OP_REMOVE) {
        /* all names resolve before any is unlocked: an error changed nothing */
        for (size_t i = 0; code == NSL_OK && i < a->item_count; i++)
            unlock_item(m, ns, &cmd->items[a->first_item + i]);
        return;
    }
    /* A simple LOCK releases once its names resolve, whatever follows:
     * only the errors found before that (syntax, namespace, the session
     * busy) leave the old locks in place. */
    bool released = a->op == NSL_OP_SIMPLE &&
                    (code == NSL_OK || code == NSL_LIMIT || code == NSL_DEADLOCK ||
                     code == NSL_SHUTDOWN || code == NSL_NOMEM);
    if (released)
        nsl_mirror_release_all(m);
    if (code == NSL_OK && test == 1)
        grant(m, ns, cmd, a, token);
}

/* The outermost transaction ended: what was delocked goes. */
void nsl_mirror_set_tlevel(nsl_mirror *m, unsigned level)
{
    unsigned old = m->tlevel;
    m->tlevel = level;
    if (level || !old)
        return;
    nsl_mirror_entry *e, *tmp;
    HASH_ITER(hh, m->map, e, tmp) {
        for (int t = 0; t < 4; t++) {
            e->count[t] = (uint16_t)(e->count[t] - e->deferred[t]);
            e->deferred[t] = 0;
        }
        drop_if_empty(m, e);
    }
}

/* ---- reading it ------------------------------------------------------------------ */

static int by_token(const void *a, const void *b)
{
    const nsl_mirror_entry *x = *(nsl_mirror_entry *const *)a, *y = *(nsl_mirror_entry *const *)b;
    return x->token < y->token ? -1 : x->token > y->token;
}

/* The records, oldest grant first, so that when two names share one entry
 * on the server the entry is re-created with the older token. */
nsl_mirror_entry **nsl_mirror_sorted(const nsl_mirror *m, size_t *count)
{
    size_t n = HASH_COUNT(m->map), k = 0;
    nsl_mirror_entry **v = xmalloc((n ? n : 1) * sizeof *v);
    for (nsl_mirror_entry *e = m->map; e; e = e->hh.next)
        v[k++] = e;
    qsort(v, n, sizeof *v, by_token);
    *count = n;
    return v;
}

/* "RECLAIM TOKEN X,XE,S,SE DX,DXE,DS,DSE NAMESPACE NAME" */
void nsl_mirror_reclaim_line(const nsl_mirror_entry *e, nslock *c)
{
    nsl_client_req_fmt(c, "RECLAIM %llu %u,%u,%u,%u %u,%u,%u,%u %s ", (unsigned long long)e->token,
                       e->count[0], e->count[1], e->count[2], e->count[3], e->deferred[0],
                       e->deferred[1], e->deferred[2], e->deferred[3], e->key);
    nsl_client_req_add(c, e->key + e->name_at, e->keylen - e->name_at);
    nsl_client_req_add(c, "\n", 1);
}

int nsl_mirror_list(const nsl_mirror *m, nslock_held **rows, size_t *count)
{
    size_t n;
    nsl_mirror_entry **v = nsl_mirror_sorted(m, &n);
    size_t text = 0;
    for (size_t i = 0; i < n; i++)
        text += v[i]->keylen + 1;
    size_t head = (n * sizeof(nslock_held) + 15) & ~(size_t)15;
    char *block = malloc(head + text + 1);
    if (!block) {
        free(v);
        return -1;
    }
    nslock_held *out = (nslock_held *)block;
    char *p = block + head;
    for (size_t i = 0; i < n; i++) {
        const nsl_mirror_entry *e = v[i];
        memcpy(p, e->key, e->keylen + 1);    /* both strings, NUL-separated */
        out[i].namespace_name = p;
        out[i].name = p + e->name_at;
        p += e->keylen + 1;
        for (int t = 0; t < 4; t++) {
            out[i].count[t] = e->count[t];
            out[i].deferred[t] = e->deferred[t];
        }
        out[i].token = e->token;
    }
    free(v);
    *rows = out;
    *count = n;
    return 0;
}

/* ---- after a REMOVE --------------------------------------------------------------- */

typedef struct shown_name {
    UT_hash_handle hh;
    size_t len;
    char key[];                         /* "NAMESPACE\0name", as the records' keys */
} shown_name;

static bool shown(shown_name *set, const char *key, size_t len)
{
    shown_name *s;
    HASH_FIND(hh, set, key, len, s);
    return s != NULL;
}

/* Whether an ancestor of the record's name is shown: an escalated parent
 * stands on the server for the E children the mirror keeps. Ancestors of
 * ^a(1,2) are ^a(1) and ^a: the name cut at a top-level ',' or '('. */
static bool ancestor_shown(shown_name *set, const nsl_mirror_entry *e)
{
    char buf[KEY_CAP];
    bool quoted = false;
    if (e->keylen + 2 > sizeof buf)
        return false;
    for (uint32_t i = e->name_at; i < e->keylen; i++) {
        char ch = e->key[i];
        if (ch == '"')
            quoted = !quoted;
        if (quoted || (ch != ',' && ch != '('))
            continue;
        memcpy(buf, e->key, i);
        size_t len = i;
        if (ch == ',')
            buf[len++] = ')';
        if (shown(set, buf, len))
            return true;
    }
    return false;
}

size_t nsl_mirror_retain(nsl_mirror *m, const nslock_entry *rows, size_t count)
{
    shown_name *set = NULL, *s, *tmp;
    for (size_t i = 0; i < count; i++) {
        size_t nslen = strlen(rows[i].namespace_name), nlen = strlen(rows[i].name);
        size_t len = nslen + 1 + nlen;
        s = xmalloc(sizeof *s + len + 1);
        memcpy(s->key, rows[i].namespace_name, nslen + 1);
        memcpy(s->key + nslen + 1, rows[i].name, nlen + 1);
        s->len = len;
        shown_name *dup;
        HASH_FIND(hh, set, s->key, len, dup);
        if (dup) {
            free(s);
            continue;
        }
        HASH_ADD(hh, set, key, s->len, s);
    }
    size_t dropped = 0;
    nsl_mirror_entry *e, *etmp;
    HASH_ITER(hh, m->map, e, etmp) {
        bool escalating = e->count[1] || e->count[3];
        if (shown(set, e->key, e->keylen) || (escalating && ancestor_shown(set, e)))
            continue;
        HASH_DEL(m->map, e);
        free(e);
        dropped++;
    }
    HASH_ITER(hh, set, s, tmp) {
        HASH_DEL(set, s);
        free(s);
    }
    return dropped;
}
