/* resolve(namespace, lockname) -> the databases it lands in (docs/CONFIG.md).
 *
 * Every namespace's map is compiled once (nsmap.c) into sorted segments of
 * the key space. A name's own database is the segment holding its key; the
 * databases below it are those of the segments that start inside its
 * subtree [key, key‖FF). For a leaf, or any name whose subtree lies in one
 * segment, that is one binary search and one comparison; nothing allocates.
 */
#include <stdlib.h>
#include <string.h>

#include "mapping/nsmap_internal.h"

struct nsl_resolver {
    const nsl_registry *reg;
    size_t ns_count;
    nsl_nsmap *maps;                   /* by namespace id */
};

/* Subtrees spanning at most this many segments are scanned directly;
 * beyond it each database's segment list is searched instead. */
#define SCAN_LIMIT 16

const char *nsl_rule_kind_name(nsl_rule_kind kind)
{
    switch (kind) {
    case NSL_RULE_LOCAL:     return "local";
    case NSL_RULE_GLOBALS:   return "globals";
    case NSL_RULE_MAP:       return "map";
    case NSL_RULE_SUBTREE:   return "subtree";
    case NSL_RULE_NAMESPACE: return "namespace";
    case NSL_RULE_IMPLIED:   return "implied";
    }
    return "unknown";
}

nsl_resolver *nsl_resolver_new(const nsl_registry *reg, nsl_diags *diags)
{
    if (reg == NULL)
        return NULL;
    nsl_diags local;
    if (diags == NULL) {
        nsl_diags_init(&local);
        diags = &local;
    }
    const nsl_config *cfg = nsl_registry_config(reg);
    const char *file = cfg && cfg->file ? cfg->file : "";
    size_t n = nsl_registry_namespace_count(reg);
    nsl_resolver *r = calloc(1, sizeof *r);
    if (r)
        r->maps = calloc(n ? n : 1, sizeof *r->maps);
    if (r == NULL || r->maps == NULL) {
        nsl_diags_add(diags, NSL_DIAG_ERROR, "out-of-memory", file, (nsl_pos){0, 0},
                      "out of memory compiling the namespace maps");
        free(r);
        r = NULL;
        goto out;
    }
    r->reg = reg;
    r->ns_count = n;
    bool ok = true;
    for (size_t i = 0; i < n; i++)   /* every namespace, to report every problem */
        ok &= nsl_nsmap_compile(&r->maps[i], reg, nsl_registry_namespace(reg, (uint32_t)i),
                                file, diags);
    if (!ok) {
        nsl_resolver_free(r);
        r = NULL;
    }
out:
    if (diags == &local)
        nsl_diags_free(&local);
    return r;
}

void nsl_resolver_free(nsl_resolver *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->ns_count; i++)
        nsl_nsmap_free(&r->maps[i]);
    free(r->maps);
    free(r);
}

const nsl_registry *nsl_resolver_registry(const nsl_resolver *r)
{
    return r->reg;
}

const nsl_nsmap *nsl_resolver_nsmap(const nsl_resolver *r, uint32_t namespace_id)
{
    return &r->maps[namespace_id];
}

/* Adds db unless present, keeping out->dbs ordered by id. Callers add in
 * order of preference (the node's own, then subtree, then namespace), so the
 * first reason recorded for a database is the one kept. */
static void add_db(nsl_resolution *out, uint32_t db, nsl_rule_kind rule,
                   const nsl_cfg_mapping *mapping)
{
    uint32_t i = out->count;
    for (uint32_t j = 0; j < i; j++)
        if (out->dbs[j].db == db)
            return;
    for (; i > 0 && out->dbs[i - 1].db > db; i--)   /* a few entries at most */
        out->dbs[i] = out->dbs[i - 1];
    out->dbs[i] = (nsl_resolved_db){db, rule, mapping};
    out->count++;
}

static void add_segment(nsl_resolution *out, const nsl_segment *s)
{
    add_db(out, s->db, NSL_RULE_SUBTREE, s->mapping);
}

/* Rule 2 beyond the name's own segment i0: the segments i0+1 .. i1 that
 * start inside its subtree. */
static void add_subtree(const nsl_nsmap *map, size_t i0, const nsl_key *key,
                        nsl_resolution *out)
{
    size_t lo = i0 + 1, hi = map->seg_count;   /* lo(lo) < k‖FF; find the last such */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (nsl_nsmap_cmp_subtree_end(map, mid, key, key->len) < 0)
            lo = mid;
        else
            hi = mid;
    }
    size_t i1 = lo;
    if (i1 - i0 <= SCAN_LIMIT) {
        for (size_t j = i0 + 1; j <= i1; j++)
            add_segment(out, &map->segs[j]);
        return;
    }
    /* Many segments: per database, the first of its segments after i0. */
    for (uint32_t d = 0; d < map->db_count; d++) {
        const uint32_t *first = map->db_segs + map->db_first[d];
        size_t a = 0, b = map->db_first[d + 1] - map->db_first[d];
        while (a < b) {
            size_t mid = a + (b - a) / 2;
            if (first[mid] <= i0)
                a = mid + 1;
            else
                b = mid;
        }
        if (a < map->db_first[d + 1] - map->db_first[d] && first[a] <= i1)
            add_segment(out, &map->segs[first[a]]);
    }
}

/* Rule 3: does any mapping reach into the global's tree [^G, ^G‖FF)? Only
 * called when the name's own segment i0 belongs to the globals database and
 * its subtree spans no other segment. Neighbouring segments always differ in
 * owner, so the global is unmapped exactly when segment i0 spans its tree. */
static bool global_is_mapped(const nsl_nsmap *map, size_t i0, const nsl_key *key)
{
    size_t glen = key->end[0];   /* 0x02 name 0x00 */
    const nsl_segment *s = &map->segs[i0];
    if (nsl_key_bytes_cmp(map->arena + s->lo_off, s->lo_len, key->bytes, glen) > 0)
        return true;
    return i0 + 1 < map->seg_count
        && nsl_nsmap_cmp_subtree_end(map, i0 + 1, key, glen) < 0;
}

nsl_code nsl_resolve(const nsl_resolver *r, uint32_t namespace_id, const nsl_lockname *name,
                     nsl_resolution *out, nsl_error *err)
{
    if (namespace_id >= r->ns_count)
        return nsl_error_set(err, NSL_NAMESPACE, 0, "no namespace with id %u", namespace_id);
    out->count = 0;
    out->namespace_id = namespace_id;

    if (name->key.global && name->ref == NSL_REF_DIRECTORY) {
        const nsl_database *db = nsl_registry_find_directory(r->reg, name->env);
        if (db == NULL)
            return nsl_error_set(err, NSL_NAMESPACE, 0,
                                 "no database has the directory \"%s\" (in ^[\"^^%s\"])",
                                 name->env, name->env);
        add_db(out, db->id, NSL_RULE_IMPLIED, NULL);
        return NSL_OK;
    }
    if (name->key.global && name->ref == NSL_REF_NAMESPACE) {
        const nsl_namespace *ns = nsl_registry_find_namespace(r->reg, name->env);
        if (ns == NULL)
            return nsl_error_set(err, NSL_NAMESPACE, 0, "unknown namespace \"%s\"", name->env);
        namespace_id = ns->id;
        out->namespace_id = namespace_id;
    }
    if (!name->key.global) {
        const nsl_database *db = nsl_registry_local_locks(r->reg);
        if (db == NULL)
            return nsl_error_set(err, NSL_NAMESPACE, 0, "no database for local lock names");
        add_db(out, db->id, NSL_RULE_LOCAL, NULL);
        return NSL_OK;
    }

    const nsl_nsmap *map = &r->maps[namespace_id];
    const nsl_key *key = &name->key;
    size_t i0 = nsl_nsmap_find(map, key, key->len);
    const nsl_segment *own = &map->segs[i0];
    add_db(out, own->db, own->mapping ? NSL_RULE_MAP : NSL_RULE_GLOBALS, own->mapping);

    bool spans = i0 + 1 < map->seg_count
              && nsl_nsmap_cmp_subtree_end(map, i0 + 1, key, key->len) < 0;
    if (spans)
        add_subtree(map, i0, key, out);

    if (own->mapping || spans || global_is_mapped(map, i0, &name->key))
        add_db(out, map->globals, NSL_RULE_NAMESPACE, NULL);
    return NSL_OK;
}

size_t nsl_resolver_map_count(const nsl_resolver *r, uint32_t namespace_id)
{
    return namespace_id < r->ns_count ? r->maps[namespace_id].range_count : 0;
}

const nsl_map_range *nsl_resolver_map_range(const nsl_resolver *r, uint32_t namespace_id,
                                            size_t i)
{
    if (namespace_id >= r->ns_count || i >= r->maps[namespace_id].range_count)
        return NULL;
    return &r->maps[namespace_id].ranges[i];
}
