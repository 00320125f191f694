/* A namespace's map compiled for resolution (private to mapping/).
 *
 * Every mapping rule is an interval [lo, hi) of the key space (see the key
 * encoding in mapping.h). Rules nest or are disjoint, and a key belongs to
 * the innermost rule that contains it, so the whole key space splits into
 * consecutive segments, each owned by one rule (or by the namespace's
 * globals database). A segment is stored by its lower boundary only; segment
 * i covers [lo(i), lo(i+1)), segment 0 starts at the empty string and the
 * last one runs to the end of the key space. Finding the database of a key
 * is one binary search over the boundaries.
 */
#ifndef NSL_NSMAP_INTERNAL_H
#define NSL_NSMAP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mapping/mapping.h"

/* What a boundary's bytes stand for; only the map display needs it. */
typedef enum nsl_bound_kind {
    NSL_BOUND_START,        /* the start of the key space (segment 0) */
    NSL_BOUND_KEY,          /* the key of a node: ^G(1) */
    NSL_BOUND_SUBTREE_END,  /* key ‖ 0xFF: just after a node's whole subtree */
    NSL_BOUND_PREFIX_END,   /* 0x02 prefix 0xFF: just after every name P… */
} nsl_bound_kind;

typedef struct nsl_segment {
    uint32_t lo_off;                   /* lower boundary: bytes in nsl_nsmap.arena */
    uint16_t lo_len;
    uint8_t lo_kind;                   /* nsl_bound_kind */
    uint8_t db;                        /* database id (< NSL_MAX_DATABASES) */
    const nsl_cfg_mapping *mapping;    /* NULL: the namespace's globals */
} nsl_segment;

typedef struct nsl_nsmap {
    uint32_t globals;                  /* the namespace's globals database */
    uint8_t *arena;                    /* boundary bytes */
    nsl_segment *segs;
    size_t seg_count;

    /* For rule 2 when a subtree spans many segments: the databases that own
     * segments (ascending), and for each one the indexes of its segments
     * (ascending) in db_segs[db_first[k] .. db_first[k+1]). */
    uint32_t db_count;
    uint8_t *db_ids;
    uint32_t *db_first;
    uint32_t *db_segs;

    /* The effective map for display (nsl_resolver_map_range). */
    nsl_map_range *ranges;
    size_t range_count;
    char **texts;                      /* owned strings the ranges point to */
    size_t text_count;
} nsl_nsmap;

/* Compiles ns's map rules into *map. Problems go to diags at the rules'
 * positions in file. Returns false if errors were added (the map is then
 * still valid for the rules that compiled, but must not be used to serve). */
bool nsl_nsmap_compile(nsl_nsmap *map, const nsl_registry *reg,
                       const nsl_namespace *ns, const char *file,
                       nsl_diags *diags);
void nsl_nsmap_free(nsl_nsmap *map);

/* A resolver's compiled map of one namespace (resolve.c). */
const nsl_nsmap *nsl_resolver_nsmap(const nsl_resolver *r, uint32_t namespace_id);

/* Both take the first len bytes of key (len <= key->len: a prefix such as
 * the name part is allowed).
 * The segment holding them: the largest i with lo(i) <= key. */
size_t nsl_nsmap_find(const nsl_nsmap *map, const nsl_key *key, size_t len);

/* Compares boundary i with key ‖ 0xFF (the end of key's subtree). */
int nsl_nsmap_cmp_subtree_end(const nsl_nsmap *map, size_t i,
                              const nsl_key *key, size_t len);

#endif
