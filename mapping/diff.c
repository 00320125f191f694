/* diff.c — which lock names change databases between two configurations.
 *
 * A name's database set depends on the segment holding its key and, when
 * its subtree crosses a segment boundary, on the segments below it. So the
 * comparison walks the boundaries of both maps together: between two
 * consecutive boundaries of either map (a piece), every name whose whole
 * subtree lies inside has the same set on each side — the piece's owner,
 * plus the namespace's globals database when a rule owns it (rule 3). The
 * names whose subtree crosses a boundary are exactly the ancestors of the
 * boundaries' keys; there are few, and each is resolved on both sides.
 */
#include <stdlib.h>
#include <string.h>

#include "mapping/nsmap_internal.h"

typedef struct diff_builder {
    nsl_map_diff *out;
    size_t cap;
    bool nomem;
} diff_builder;

static char *dup_bytes(diff_builder *b, const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) {
        b->nomem = true;
        return NULL;
    }
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static char *dup_str(diff_builder *b, const char *s)
{
    return s ? dup_bytes(b, s, strlen(s)) : NULL;
}

static nsl_map_change *new_change(diff_builder *b, nsl_change_kind kind, const char *ns)
{
    if (b->nomem)
        return NULL;
    if (b->out->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        nsl_map_change *c = realloc(b->out->changes, cap * sizeof *c);
        if (!c) {
            b->nomem = true;
            return NULL;
        }
        b->out->changes = c;
        b->cap = cap;
    }
    nsl_map_change *c = &b->out->changes[b->out->count++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->namespace = dup_str(b, ns);
    return c;
}

/* A database set as text: names in id order, joined by ",". Database names
 * are upper-case, so two sets are equal exactly when the texts are, once
 * sorted; ids differ between configurations, so sort by name. */
typedef struct db_set {
    const char *names[NSL_MAX_DATABASES];
    size_t n;
} db_set;

static void set_add(db_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], name))
            return;
    size_t i = s->n++;
    for (; i > 0 && strcmp(s->names[i - 1], name) > 0; i--)
        s->names[i] = s->names[i - 1];
    s->names[i] = name;
}

static bool set_equal(const db_set *a, const db_set *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->names[i], b->names[i]))
            return false;
    return true;
}

static char *set_text(diff_builder *b, const db_set *s)
{
    size_t len = 0;
    for (size_t i = 0; i < s->n; i++)
        len += strlen(s->names[i]) + 1;
    char *t = malloc(len + 1);
    if (!t) {
        b->nomem = true;
        return NULL;
    }
    t[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            strcat(t, ",");
        strcat(t, s->names[i]);
    }
    return t;
}

static const char *db_name(const nsl_resolver *r, uint32_t id)
{
    return nsl_registry_database(nsl_resolver_registry(r), id)->name;
}

/* The set of every name whose subtree lies inside segment s. */
static void segment_set(const nsl_resolver *r, const nsl_nsmap *map, const nsl_segment *s,
                        db_set *out)
{
    out->n = 0;
    set_add(out, db_name(r, s->db));
    if (s->mapping)
        set_add(out, db_name(r, map->globals));
}

static int bound_cmp(const nsl_nsmap *a, size_t i, const nsl_nsmap *b, size_t j)
{
    const nsl_segment *x = &a->segs[i], *y = &b->segs[j];
    return nsl_key_bytes_cmp(a->arena + x->lo_off, x->lo_len, b->arena + y->lo_off, y->lo_len);
}

/* One side of the walk: a map and the segment the current piece lies in. */
typedef struct side {
    const nsl_resolver *r;
    const nsl_nsmap *map;
    size_t seg;
} side;

static void set_range_bytes(diff_builder *b, nsl_map_change *c, const nsl_nsmap *map,
                            size_t seg, bool hi)
{
    const nsl_segment *s = &map->segs[seg];
    char *bytes = dup_bytes(b, map->arena + s->lo_off, s->lo_len);
    if (hi) {
        free(c->hi);
        c->hi = (uint8_t *)bytes;
        c->hi_len = s->lo_len;
        free(c->to);
        c->to = dup_str(b, map->texts[seg]);
    } else {
        c->lo = (uint8_t *)bytes;
        c->lo_len = s->lo_len;
        c->from = dup_str(b, map->texts[seg]);
    }
}

static void diff_pieces(diff_builder *b, const char *ns, side *o, side *n)
{
    o->seg = n->seg = 0;
    /* Where the current piece starts: a boundary of the old map, the new
     * one, or both (then either serves, they are equal). */
    const nsl_nsmap *lo_map = n->map;
    size_t lo_seg = 0;
    nsl_map_change *last = NULL;   /* the change the previous piece extended */
    for (;;) {
        bool o_end = o->seg + 1 >= o->map->seg_count, n_end = n->seg + 1 >= n->map->seg_count;
        int cmp = o_end && n_end ? 0 : o_end ? 1 : n_end ? -1
                : bound_cmp(o->map, o->seg + 1, n->map, n->seg + 1);
        const nsl_nsmap *hi_map = cmp <= 0 ? o->map : n->map;
        size_t hi_seg = cmp <= 0 ? o->seg + 1 : n->seg + 1;
        bool at_end = o_end && n_end;

        const char *from = lo_map->texts[lo_seg];
        const char *to = at_end ? "..." : hi_map->texts[hi_seg];
        db_set os, nset;
        const nsl_segment *osg = &o->map->segs[o->seg], *nsg = &n->map->segs[n->seg];
        segment_set(o->r, o->map, osg, &os);
        segment_set(n->r, n->map, nsg, &nset);
        /* Equal texts: no key lies between (a rule at ^%, say). */
        bool empty = strcmp(from, to) == 0;
        if (!empty && !set_equal(&os, &nset)) {
            if (last && last->old_rule == osg->mapping && last->new_rule == nsg->mapping) {
                char *ot = set_text(b, &os), *nt = set_text(b, &nset);
                bool same = ot && nt && !strcmp(ot, last->old_dbs) && !strcmp(nt, last->new_dbs);
                free(ot);
                free(nt);
                if (!same)
                    last = NULL;
            } else {
                last = NULL;
            }
            if (!last) {
                last = new_change(b, NSL_CHANGE_RANGE, ns);
                if (!last)
                    return;
                set_range_bytes(b, last, lo_map, lo_seg, false);
                last->old_dbs = set_text(b, &os);
                last->new_dbs = set_text(b, &nset);
                last->old_rule = osg->mapping;
                last->new_rule = nsg->mapping;
            }
            if (at_end) {
                free(last->hi);
                last->hi = NULL;
                last->hi_len = 0;
                free(last->to);
                last->to = dup_str(b, "...");
            } else {
                set_range_bytes(b, last, hi_map, hi_seg, true);
            }
        } else if (!empty) {
            last = NULL;
        }
        if (at_end || b->nomem)
            return;
        if (cmp <= 0)
            o->seg++;
        if (cmp >= 0)
            n->seg++;
        lo_map = hi_map;
        lo_seg = hi_seg;
    }
}

/* ---- nodes whose subtree crosses a boundary ------------------------------ */

typedef struct key_list {
    nsl_key *keys;
    size_t n, cap;
} key_list;

static void add_ancestors(diff_builder *b, key_list *l, const uint8_t *bytes, size_t len)
{
    nsl_key k;
    if (!nsl_key_from_bytes(&k, bytes, len))
        return;   /* the start of the key space or a wildcard's end: no ancestors */
    for (unsigned level = 0; level < k.nsubs; level++) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 64;
            nsl_key *keys = realloc(l->keys, cap * sizeof *keys);
            if (!keys) {
                b->nomem = true;
                return;
            }
            l->keys = keys;
            l->cap = cap;
        }
        nsl_key_truncate(&k, level, &l->keys[l->n++]);
    }
}

static void collect_ancestors(diff_builder *b, key_list *l, const nsl_nsmap *map)
{
    for (size_t i = 0; i < map->seg_count && !b->nomem; i++) {
        const nsl_segment *s = &map->segs[i];
        const uint8_t *bytes = map->arena + s->lo_off;
        if (s->lo_kind == NSL_BOUND_KEY)
            add_ancestors(b, l, bytes, s->lo_len);
        else if (s->lo_kind == NSL_BOUND_SUBTREE_END && s->lo_len > 0)
            add_ancestors(b, l, bytes, s->lo_len - 1u);   /* key ‖ 0xFF */
    }
}

static int key_order(const void *pa, const void *pb)
{
    return nsl_key_cmp(pa, pb);
}

static const nsl_cfg_mapping *deciding_rule(const nsl_resolution *res)
{
    return res->count ? res->dbs[0].mapping : NULL;
}

static void resolution_set(const nsl_resolver *r, const nsl_resolution *res, db_set *out)
{
    out->n = 0;
    for (uint32_t i = 0; i < res->count; i++)
        set_add(out, db_name(r, res->dbs[i].db));
}

static void diff_nodes(diff_builder *b, const char *ns, const side *o, const side *n,
                       uint32_t o_id, uint32_t n_id)
{
    key_list l = {0};
    collect_ancestors(b, &l, o->map);
    collect_ancestors(b, &l, n->map);
    if (l.n)
        qsort(l.keys, l.n, sizeof *l.keys, key_order);
    for (size_t i = 0; i < l.n && !b->nomem; i++) {
        if (i && nsl_key_cmp(&l.keys[i - 1], &l.keys[i]) == 0)
            continue;
        nsl_lockname name = {.key = l.keys[i], .ref = NSL_REF_PLAIN};
        nsl_resolution ores, nres;
        if (nsl_resolve(o->r, o_id, &name, &ores, NULL) != NSL_OK
            || nsl_resolve(n->r, n_id, &name, &nres, NULL) != NSL_OK)
            continue;   /* a plain global always resolves */
        db_set os, nset;
        resolution_set(o->r, &ores, &os);
        resolution_set(n->r, &nres, &nset);
        if (set_equal(&os, &nset))
            continue;
        nsl_map_change *c = new_change(b, NSL_CHANGE_NODE, ns);
        if (!c)
            break;
        char text[1024];
        nsl_key_format(&name.key, text, sizeof text);
        c->from = dup_str(b, text);
        c->lo = (uint8_t *)dup_bytes(b, name.key.bytes, name.key.len);
        c->lo_len = name.key.len;
        c->old_dbs = set_text(b, &os);
        c->new_dbs = set_text(b, &nset);
        c->old_rule = deciding_rule(&ores);
        c->new_rule = deciding_rule(&nres);
    }
    free(l.keys);
}

/* ---- namespaces ------------------------------------------------------------ */

/* Ranges then nodes were appended for one namespace from index first:
 * order them by key, a node before the range that starts at it. */
static int change_order(const void *pa, const void *pb)
{
    const nsl_map_change *a = pa, *b = pb;
    int c = nsl_key_bytes_cmp(a->lo, a->lo_len, b->lo, b->lo_len);
    if (c)
        return c;
    return (a->kind == NSL_CHANGE_RANGE) - (b->kind == NSL_CHANGE_RANGE);
}

static void diff_namespace(diff_builder *b, const nsl_resolver *old, const nsl_namespace *ons,
                           const nsl_resolver *new, const nsl_namespace *nns)
{
    const char *name = nns ? nns->name : ons->name;
    if (!ons || !nns) {
        /* Every global name of it moves from nothing or to nothing. */
        nsl_map_change *c = new_change(b, NSL_CHANGE_NAMESPACE, name);
        if (!c)
            return;
        c->from = dup_str(b, "^%");
        c->to = dup_str(b, "...");
        c->old_dbs = dup_str(b, ons ? db_name(old, ons->globals) : "");
        c->new_dbs = dup_str(b, nns ? db_name(new, nns->globals) : "");
        return;
    }
    side o = {old, nsl_resolver_nsmap(old, ons->id), 0};
    side n = {new, nsl_resolver_nsmap(new, nns->id), 0};
    size_t first = b->out->count;
    diff_pieces(b, name, &o, &n);
    diff_nodes(b, name, &o, &n, ons->id, nns->id);
    if (!b->nomem && b->out->count - first > 1)
        qsort(b->out->changes + first, b->out->count - first, sizeof *b->out->changes,
              change_order);
}

static void diff_locals(diff_builder *b, const nsl_resolver *old, const nsl_resolver *new)
{
    const nsl_database *o = nsl_registry_local_locks(nsl_resolver_registry(old));
    const nsl_database *n = nsl_registry_local_locks(nsl_resolver_registry(new));
    const char *on = o ? o->name : "", *nn = n ? n->name : "";
    if (!strcmp(on, nn))
        return;
    nsl_map_change *c = new_change(b, NSL_CHANGE_LOCALS, NULL);
    if (!c)
        return;
    c->old_dbs = dup_str(b, on);
    c->new_dbs = dup_str(b, nn);
}

nsl_code nsl_map_diff_compute(const nsl_resolver *old, const nsl_resolver *new,
                              const char *namespace, nsl_map_diff *out, nsl_error *err)
{
    memset(out, 0, sizeof *out);
    const nsl_registry *oreg = nsl_resolver_registry(old), *nreg = nsl_resolver_registry(new);
    diff_builder b = {.out = out};
    if (namespace) {
        const nsl_namespace *ons = nsl_registry_find_namespace(oreg, namespace);
        const nsl_namespace *nns = nsl_registry_find_namespace(nreg, namespace);
        if (!ons && !nns)
            return nsl_error_set(err, NSL_NAMESPACE, 0,
                                 "namespace \"%s\" is in neither configuration", namespace);
        diff_namespace(&b, old, ons, new, nns);
    } else {
        diff_locals(&b, old, new);
        size_t nn = nsl_registry_namespace_count(nreg), on = nsl_registry_namespace_count(oreg);
        for (uint32_t i = 0; i < nn && !b.nomem; i++) {
            const nsl_namespace *nns = nsl_registry_namespace(nreg, i);
            diff_namespace(&b, old, nsl_registry_find_namespace(oreg, nns->name), new, nns);
        }
        for (uint32_t i = 0; i < on && !b.nomem; i++) {
            const nsl_namespace *ons = nsl_registry_namespace(oreg, i);
            if (!nsl_registry_find_namespace(nreg, ons->name))
                diff_namespace(&b, old, ons, new, NULL);
        }
    }
    if (b.nomem) {
        nsl_map_diff_free(out);
        return nsl_error_set(err, NSL_NOMEM, 0, "out of memory comparing the maps");
    }
    return NSL_OK;
}

void nsl_map_diff_free(nsl_map_diff *d)
{
    for (size_t i = 0; i < d->count; i++) {
        nsl_map_change *c = &d->changes[i];
        free(c->namespace);
        free(c->from);
        free(c->to);
        free(c->lo);
        free(c->hi);
        free(c->old_dbs);
        free(c->new_dbs);
    }
    free(d->changes);
    memset(d, 0, sizeof *d);
}
