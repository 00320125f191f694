/* mapping — lock names: parsing, canonical form, the order-preserving key
 * encoding, the LOCK command language, and resolution of a name in a
 * namespace to the set of databases it lands in (docs/LANGUAGE.md).
 *
 * Key encoding (after GT.M): a key is a byte string whose memcmp order is
 * the collation order of docs/LANGUAGE.md, and in which an ancestor's key is a
 * byte prefix of its descendants' keys. It is the name part followed by one
 * self-delimiting part per subscript:
 *
 *   name part    0x01 name-bytes 0x00   for a local name   (x)
 *                0x02 name-bytes 0x00   for a global name  (^x)
 *   subscript    0x01                                  the empty string
 *                0x02 ~exp ~pairs... 0xFE              a negative number
 *                0x03                                  zero
 *                0x04 exp pairs... 0x00                a positive number
 *                0x05 bytes... 0x00                    a non-empty string
 *
 * Numbers are 0.d1d2d3... x 10^E with d1 != 0 and no trailing zero digit;
 * exp is E+128, each pair byte is 2 + (two decimal digits, 0..99, the last
 * padded with 0). Negative numbers complement exp and the pairs
 * (255-x) so that larger magnitudes sort first. In strings 0x00 is written
 * 0x01 0x01 and 0x01 is written 0x01 0x02. No subscript part starts with
 * 0xFF, so K ‖ 0xFF is an exclusive upper bound of K's whole subtree.
 *
 * Numbers keep 18 significant digits (rounded half away from zero, as
 * GT.M does); magnitudes of 1E47 or more are an error; below 1E-43 they
 * are zero.
 */
#ifndef NSL_MAPPING_H
#define NSL_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "namespaces/namespaces.h"

/* ---- status codes: one table for the whole of nslock ------------------- */

/* Stable codes: the protocol, the client library and the CLI use these
 * names verbatim (`ERR SYNTAX ...`). New codes go at the end: the numeric
 * values of the others do not move. */
#define NSL_CODE_MAP(X)                                                     \
    X(OK,        "success")                                                 \
    X(SYNTAX,    "syntax error")                                            \
    X(NAMESPACE, "unknown namespace or database")                           \
    X(SUBSCRIPT, "reference beyond the limits of a lock name")              \
    X(COMMAND,   "invalid command")                                         \
    X(DEADLOCK,  "deadlock: this request was chosen to fail")               \
    X(PROTECT,   "permission denied")                                       \
    X(LIMIT,     "limit exceeded")                                          \
    X(SHUTDOWN,  "server shutting down")                                    \
    X(NOMEM,     "out of memory")                                           \
    X(NOTFOUND,  "no such owner, session or entry")                         \
    X(IO,        "connection or I/O error")                                 \
    X(PROTOCOL,  "unexpected reply from the server")                        \
    X(LOST,      "the session's locks were lost")                           \
    X(CONFLICT,  "another session holds a conflicting lock")                \
    X(STANDBY,   "this server is a standby; the leader is elsewhere")

typedef enum nsl_code {
#define NSL_CODE_ENUM(name, text) NSL_##name,
    NSL_CODE_MAP(NSL_CODE_ENUM)
#undef NSL_CODE_ENUM
    NSL_CODE_COUNT
} nsl_code;

const char *nsl_code_name(nsl_code code);        /* "SYNTAX" */
const char *nsl_code_text(nsl_code code);        /* "syntax error" */
/* Parses a code name ("SYNTAX"); returns NSL_CODE_COUNT when unknown. */
nsl_code nsl_code_from_name(const char *name, size_t len);

typedef struct nsl_error {
    nsl_code code;
    int column;          /* 1-based column in the text parsed; 0 when none */
    char message[240];
} nsl_error;

/* Sets err (if not NULL) and returns code. */
nsl_code nsl_error_set(nsl_error *err, nsl_code code, int column,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- keys --------------------------------------------------------------- */

#define NSL_MAX_SUBSCRIPTS 31
#define NSL_MAX_KEY_BYTES  511
#define NSL_MAX_NAME_CHARS 31
#define NSL_MAX_ENV        255

typedef struct nsl_key {
    uint16_t len;                          /* bytes used */
    uint8_t  nsubs;                        /* number of subscripts */
    uint8_t  global;                       /* 1 for ^name, 0 for a local */
    uint16_t end[NSL_MAX_SUBSCRIPTS + 1];  /* end[0]: end of the name part;
                                              end[i]: end of subscript i */
    uint8_t  bytes[NSL_MAX_KEY_BYTES];
} nsl_key;

/* memcmp order, shorter first on a common prefix: collation order. */
int nsl_key_cmp(const nsl_key *a, const nsl_key *b);
int nsl_key_bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
/* a is a proper ancestor of b (a's key is a part-boundary prefix of b's). */
bool nsl_key_is_ancestor(const nsl_key *a, const nsl_key *b);
/* Equal, or one is an ancestor of the other (docs/LANGUAGE.md). */
bool nsl_key_overlaps(const nsl_key *a, const nsl_key *b);
/* The ancestor with `level` subscripts (level <= k->nsubs). */
void nsl_key_truncate(const nsl_key *k, unsigned level, nsl_key *out);

/* Rebuilds a key from its encoded bytes (as stored by the engine),
 * validating them. Returns false if the bytes are not a valid key. */
bool nsl_key_from_bytes(nsl_key *out, const uint8_t *bytes, size_t len);

/* Canonical text: `^Orders(1,"a""b")`, `x(-.5)`. snprintf-like: returns the
 * length the full text needs; writes at most cap-1 bytes and a NUL. */
size_t nsl_key_format(const nsl_key *k, char *buf, size_t cap);
/* The same from encoded bytes (which must be valid). */
size_t nsl_key_format_bytes(const uint8_t *bytes, size_t len, char *buf, size_t cap);
/* One encoded subscript part as M text (`15`, `"abc"`). */
size_t nsl_subscript_format(const uint8_t *part, size_t len, char *buf, size_t cap);

/* ---- lock names (docs/LANGUAGE.md) ---------------------------------------------- */

typedef enum nsl_ref_kind {
    NSL_REF_PLAIN,        /* ^X(1) or x(1): resolved in the caller's namespace */
    NSL_REF_NAMESPACE,    /* ^["NS"]X(1) or ^|"NS"|X(1) */
    NSL_REF_DIRECTORY,    /* ^["^^/data/alpha"]X(1): an implied namespace */
} nsl_ref_kind;

typedef struct nsl_lockname {
    nsl_key key;
    nsl_ref_kind ref;
    char env[NSL_MAX_ENV + 1];   /* namespace name, or the directory without "^^" */
} nsl_lockname;

/* Parses one lock name starting at text[0]. Stops at the first byte that
 * cannot continue the name and stores how many bytes it used in *consumed
 * (NULL: the whole text must be the name). Errors carry the 1-based column
 * within text: SYNTAX for malformed text, SUBSCRIPT beyond the limits. */
nsl_code nsl_lockname_parse(const char *text, size_t len, size_t *consumed,
                            nsl_lockname *out, nsl_error *err);

/* Canonical text of a whole lock name including its extended reference. */
size_t nsl_lockname_format(const nsl_lockname *n, char *buf, size_t cap);

/* ---- the LOCK command language (docs/LANGUAGE.md) ---------------------------------- */

enum nsl_lock_type {
    NSL_TYPE_SHARED     = 1u << 0,   /* S */
    NSL_TYPE_ESCALATING = 1u << 1,   /* E */
    NSL_TYPE_IMMEDIATE  = 1u << 2,   /* I */
    NSL_TYPE_DEFERRED   = 1u << 3,   /* D */
};

typedef enum nsl_lock_op {
    NSL_OP_SIMPLE,    /* LOCK x      release everything, then lock */
    NSL_OP_ADD,       /* LOCK +x */
    NSL_OP_REMOVE,    /* LOCK -x */
} nsl_lock_op;

#define NSL_WAIT_FOREVER (-1)

typedef struct nsl_lock_item {
    nsl_lockname name;
    uint8_t types;       /* NSL_TYPE_* bits */
    int column;          /* 1-based column of the name in the command */
} nsl_lock_item;

typedef struct nsl_lock_arg {
    nsl_lock_op op;
    size_t first_item;   /* index into nsl_lock_command.items */
    size_t item_count;
    int64_t timeout_ms;  /* NSL_WAIT_FOREVER, 0 for one attempt, else ms */
    bool has_timeout;
    int column;
} nsl_lock_arg;

/* A parsed command. Its arrays are reused by the next parse into the same
 * struct, so a session that parses many commands allocates only while its
 * largest command grows. */
typedef struct nsl_lock_command {
    nsl_lock_arg *args;
    size_t arg_count, arg_capacity;
    nsl_lock_item *items;
    size_t item_count, item_capacity;
} nsl_lock_command;

void nsl_lock_command_init(nsl_lock_command *cmd);
void nsl_lock_command_free(nsl_lock_command *cmd);

/* Parses `LOCK ...` (keyword LOCK or L, any case). Bare `LOCK` parses to zero
 * arguments. Errors: SYNTAX / SUBSCRIPT with the column, COMMAND for type
 * codes that cannot go together (I with D, E on a name without subscripts,
 * an unknown code). */
nsl_code nsl_lock_command_parse(const char *text, size_t len,
                                nsl_lock_command *cmd, nsl_error *err);

/* A timeout as written (`5`, `2.5`, `.01`, `-1`): seconds -> ms per docs/LANGUAGE.md
 * (below 0.01 is one attempt). */
nsl_code nsl_timeout_parse(const char *text, size_t len, int64_t *ms, nsl_error *err);

/* ---- resolution (docs/CONFIG.md) ------------------------------------------------- */

typedef enum nsl_rule_kind {
    NSL_RULE_LOCAL,      /* a local name: the local_locks database (rule 1) */
    NSL_RULE_GLOBALS,    /* the node is outside every mapping: the namespace's globals */
    NSL_RULE_MAP,        /* the node is inside this mapping */
    NSL_RULE_SUBTREE,    /* this mapping holds a node below the name (rule 2) */
    NSL_RULE_NAMESPACE,  /* the global is mapped here at all: the namespace's own database (rule 3) */
    NSL_RULE_IMPLIED,    /* ^["^^dir"]: the database with that directory (rule 4) */
} nsl_rule_kind;

const char *nsl_rule_kind_name(nsl_rule_kind kind);   /* "map", "subtree", ... */

typedef struct nsl_resolved_db {
    uint32_t db;                       /* database id */
    nsl_rule_kind rule;
    const nsl_cfg_mapping *mapping;    /* for MAP and SUBTREE; NULL otherwise */
} nsl_resolved_db;

typedef struct nsl_resolution {
    uint32_t namespace_id;             /* where it was resolved (after ^["NS"]) */
    uint32_t count;
    nsl_resolved_db dbs[NSL_MAX_DATABASES];   /* ordered by database id */
} nsl_resolution;

typedef struct nsl_resolver nsl_resolver;

/* Compiles every namespace's map (parsing its rules, checking ranges,
 * overlaps, shadowed rules) into sorted intervals. Borrows reg. Returns
 * NULL if errors were added to diags. */
nsl_resolver *nsl_resolver_new(const nsl_registry *reg, nsl_diags *diags);
void nsl_resolver_free(nsl_resolver *r);
const nsl_registry *nsl_resolver_registry(const nsl_resolver *r);

/* O(log mappings) for a name whose subtree lies in one mapping. Errors:
 * NAMESPACE for an unknown extended namespace or directory. */
nsl_code nsl_resolve(const nsl_resolver *r, uint32_t namespace_id,
                     const nsl_lockname *name, nsl_resolution *out,
                     nsl_error *err);

/* The effective map of a namespace, like GDE's SHOW -MAP: consecutive
 * ranges of the key space of globals, in order, each to one database. */
typedef struct nsl_map_range {
    char *from;                        /* text of the inclusive lower bound: "^Orders(1)", "^%" (first) */
    char *to;                          /* text of the exclusive upper bound; "..." forms documented in docs/CONFIG.md */
    uint32_t db;
    const nsl_cfg_mapping *mapping;    /* NULL: the namespace's globals */
} nsl_map_range;

size_t nsl_resolver_map_count(const nsl_resolver *r, uint32_t namespace_id);
const nsl_map_range *nsl_resolver_map_range(const nsl_resolver *r,
                                            uint32_t namespace_id, size_t i);

/* ---- map differences (`nslock map --diff`) ------------------------------ */

typedef enum nsl_change_kind {
    NSL_CHANGE_RANGE,      /* every name whose whole subtree lies in [lo, hi) */
    NSL_CHANGE_NODE,       /* one name (lo), whose subtree crosses ranges */
    NSL_CHANGE_LOCALS,     /* local lock names: the local_locks database */
    NSL_CHANGE_NAMESPACE,  /* a namespace only one configuration defines */
} nsl_change_kind;

/* Names whose database set differs between two configurations. A name
 * moves exactly when it is a NODE change, or lies with its whole subtree
 * in a RANGE change: the names whose subtree spans a range boundary are
 * listed as nodes (moved or not, they are never inside a range). */
typedef struct nsl_map_change {
    nsl_change_kind kind;
    char *namespace;                   /* NULL for LOCALS */
    char *from, *to;                   /* RANGE: bounds as `map` shows them; NODE: from */
    uint8_t *lo, *hi;                  /* key bytes; hi NULL: to the end */
    size_t lo_len, hi_len;
    char *old_dbs, *new_dbs;           /* "ALPHADB,BETADB", by name; "" none */
    const nsl_cfg_mapping *old_rule;   /* the deciding rule on each side; */
    const nsl_cfg_mapping *new_rule;   /* NULL: the namespace's globals */
} nsl_map_change;

typedef struct nsl_map_diff {
    nsl_map_change *changes;           /* by namespace, then key order */
    size_t count;
} nsl_map_diff;

/* For one namespace (by name) or, when NULL, every namespace and the local
 * locks. Computed from the compiled maps, segment by segment: the cost is
 * linear in the rules, not in names. Errors: NAMESPACE (in neither), NOMEM. */
nsl_code nsl_map_diff_compute(const nsl_resolver *old, const nsl_resolver *new,
                              const char *namespace, nsl_map_diff *out, nsl_error *err);
void nsl_map_diff_free(nsl_map_diff *d);

#endif
