/* config — the YAML configuration of docs/CONFIG.md, loaded with libyaml.
 *
 * This module knows YAML and the schema: keys, types, defaults, required
 * keys, duplicate keys, number ranges. It keeps the line and column of every
 * value so that later stages (namespaces/, mapping/) can report their own
 * findings — unknown databases, bad subscript ranges, overlaps — at the
 * right place in the same diagnostics list. It knows nothing of lock names.
 */
#ifndef NSL_CONFIG_H
#define NSL_CONFIG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- diagnostics ------------------------------------------------------ */

typedef enum nsl_diag_level {
    NSL_DIAG_ERROR,
    NSL_DIAG_WARNING,
} nsl_diag_level;

typedef struct nsl_diag {
    nsl_diag_level level;
    const char *rule; /* stable id of the kind of problem ("unknown-key"); static */
    char *file;    /* owned copy */
    int line;      /* 1-based; 0 when the problem has no position */
    int col;       /* 1-based; 0 when unknown */
    char *message; /* owned, no trailing newline */
} nsl_diag;

typedef struct nsl_diags {
    nsl_diag *items;
    size_t count;
    size_t capacity;
} nsl_diags;

/* A source position, for every value a later stage may complain about. */
typedef struct nsl_pos {
    int line;
    int col;
} nsl_pos;

void nsl_diags_init(nsl_diags *d);
void nsl_diags_free(nsl_diags *d);
/* rule: one of the ids nsl_diag_rule_describe() knows (a string literal). */
void nsl_diags_add(nsl_diags *d, nsl_diag_level level, const char *rule,
                   const char *file, nsl_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* The same with a va_list, for modules that wrap it in their own helper. */
void nsl_diags_vadd(nsl_diags *d, nsl_diag_level level, const char *rule,
                    const char *file, nsl_pos pos, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));
size_t nsl_diags_count(const nsl_diags *d, nsl_diag_level level);
/* Sorts by file, line, column (stable), so reports read top to bottom. */
void nsl_diags_sort(nsl_diags *d);
/* "FILE:LINE:COL: error: MESSAGE" one per line (position parts omitted when 0). */
void nsl_diags_print(const nsl_diags *d, FILE *out);
/* The same, each followed by its source line and a caret under the column,
 * as gcc prints them, for the diagnostics of `file` whose text is given. */
void nsl_diags_print_source(const nsl_diags *d, FILE *out, const char *file,
                            const char *text, size_t len);
/* A JSON array of {"file","line","column","severity","rule","message"}. */
void nsl_diags_print_json(const nsl_diags *d, FILE *out);
/* A SARIF 2.1.0 log: one run of tool `nslock` (version given), its rules,
 * one result per diagnostic with its physical location. */
void nsl_diags_print_sarif(const nsl_diags *d, FILE *out, const char *version);
/* GitHub Actions workflow commands: `::error file=F,line=L,col=C::MESSAGE`. */
void nsl_diags_print_github(const nsl_diags *d, FILE *out);
/* A one-line description of a rule id, NULL for an unknown id. */
const char *nsl_diag_rule_describe(const char *rule);

/* "Did you mean": the candidate nearest to word by edit distance (letters
 * compared case-insensitively when icase), or NULL when none is close
 * enough to be a likely typo. */
const char *nsl_suggest(const char *word, const char *const *candidates, size_t n,
                        bool icase);

/* ---- the configuration ------------------------------------------------ */

typedef struct nsl_cfg_database {
    char *name;      /* as written; compared case-insensitively */
    char *directory;
    nsl_pos pos;     /* of the name (the mapping key) */
    nsl_pos directory_pos;
} nsl_cfg_database;

/* One line of a namespace's `map:`. The rule text is kept verbatim; mapping/
 * parses it (`MyGlobal(15)`, `Orders(1):(1000)`, `Log*`). */
typedef struct nsl_cfg_mapping {
    char *rule;      /* the key as written */
    char *database;  /* the target as written */
    nsl_pos pos;     /* of the key */
    nsl_pos database_pos;
} nsl_cfg_mapping;

typedef struct nsl_cfg_namespace {
    char *name;
    char *globals;   /* database name as written */
    nsl_pos pos;
    nsl_pos globals_pos;
    nsl_cfg_mapping *map;
    size_t map_count;
} nsl_cfg_namespace;

typedef struct nsl_config {
    char *file;                     /* path, or "<default>" for the embedded one */

    uint32_t max_entries;           /* lock_table.max_entries, default 1000000 */
    uint32_t escalation_threshold;  /* default 1000 */
    uint32_t deadlock_check_ms;     /* default 1000; 0 disables */
    uint32_t max_session_entries;   /* lock_table.max_session_entries, default 1000000 */

    char *socket;                   /* server.socket or NULL (default path chosen by server) */
    char *listen;                   /* server.listen or NULL (TCP off) */
    char *token_file;               /* server.token_file or NULL */
    char *admin_group;              /* server.admin_group or NULL */
    uint32_t max_pending;           /* server.max_pending: pipelined requests per session, default 1024 */
    uint32_t recovery_grace_s;      /* server.recovery_grace_s, default 10 */
    char *state_dir;                /* server.state_dir or NULL (default chosen by server) */
    uint32_t session_timeout_s;     /* server.session_timeout_s: silent TCP sessions, default 10 */
    uint32_t output_limit_mb;       /* server.output_limit_mb: unsent answers, all sessions, default 64 */
    uint32_t max_unauthenticated;   /* server.max_unauthenticated: TCP connections before AUTH, default 64 */
    char *http;                     /* server.http: HOST:PORT of /metrics and /, or NULL (off) */
    char *io_method;                /* server.io_method: epoll (NULL), io_uring or auto */
    nsl_pos listen_pos;
    nsl_pos token_file_pos;
    nsl_pos http_pos;

    /* ha: high availability on ZooKeeper; ha_zookeeper NULL when absent. */
    char *ha_zookeeper;             /* ha.zookeeper: "host:port,host:port" */
    char *ha_path;                  /* ha.path: the cluster's znode, "/nslock/prod" */
    uint32_t ha_session_timeout_ms; /* ha.session_timeout_ms, default 6000 */
    char *ha_advertise;             /* ha.advertise, default server.listen */
    nsl_pos ha_pos;                 /* of the `ha` key */

    char *default_namespace;        /* NULL: the first namespace */
    nsl_pos default_namespace_pos;
    char *local_locks;              /* NULL: the default namespace's globals database */
    nsl_pos local_locks_pos;

    nsl_cfg_database *databases;
    size_t database_count;
    nsl_cfg_namespace *namespaces;
    size_t namespace_count;
} nsl_config;

typedef enum nsl_config_status {
    NSL_CONFIG_OK = 0,          /* loaded; warnings may have been added */
    NSL_CONFIG_INVALID = 1,     /* loaded, but errors were added to diags */
    NSL_CONFIG_UNREADABLE = 2,  /* not readable or not YAML; *out is NULL */
} nsl_config_status;

/* Loads and checks the schema. On NSL_CONFIG_OK or NSL_CONFIG_INVALID *out
 * is a configuration (possibly partial) that the caller frees. Every problem
 * goes to diags; none is printed. */
nsl_config_status nsl_config_load_file(const char *path, nsl_config **out,
                                       nsl_diags *diags);
/* Reads a configuration file ("-": standard input) whole; NULL after adding
 * a diagnostic (named NSL_CONFIG_STDIN for "-"). The caller frees the text.
 * nsl_config_load_file takes "-" the same way. */
#define NSL_CONFIG_STDIN "<stdin>"
char *nsl_config_read(const char *path, size_t *len, nsl_diags *diags);
nsl_config_status nsl_config_load_buffer(const char *name, const char *text,
                                         size_t len, nsl_config **out,
                                         nsl_diags *diags);

/* The embedded default: database USER (./data/user), namespace USER. */
nsl_config *nsl_config_default(void);
/* The embedded default as YAML text (what `nslock validate` would accept). */
const char *nsl_config_default_yaml(void);

void nsl_config_free(nsl_config *cfg);

/* server.io_method's values: "auto", "io_uring", "epoll". */
bool nsl_config_io_method_valid(const char *text);

#endif
