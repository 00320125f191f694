/* namespaces — the registry of databases and namespaces (docs/CONFIG.md).
 *
 * Built from a loaded configuration. Names are case-insensitive and stored
 * upper-case; databases and namespaces get dense ids (their order in the
 * file) that the rest of nslock uses instead of strings. The registry checks
 * what needs the whole picture: unknown database names, duplicate names or
 * directories, an unknown default namespace or local_locks database, unused
 * databases (warning). Mapping rules are left to mapping/.
 */
#ifndef NSL_NAMESPACES_H
#define NSL_NAMESPACES_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define NSL_MAX_DATABASES 256
#define NSL_MAX_NAMESPACES 4096

typedef struct nsl_database {
    uint32_t id;             /* 0 .. count-1, file order */
    char *name;              /* upper-case */
    char *directory;         /* as configured, trailing '/' removed */
} nsl_database;

typedef struct nsl_namespace {
    uint32_t id;
    char *name;                        /* upper-case */
    uint32_t globals;                  /* database id */
    const nsl_cfg_namespace *cfg;      /* its map rules, with positions */
} nsl_namespace;

typedef struct nsl_registry nsl_registry;

/* Borrows cfg, which must outlive the registry. Returns NULL when errors
 * were added to diags (warnings alone do not fail). */
nsl_registry *nsl_registry_build(const nsl_config *cfg, nsl_diags *diags);
/* For validation: the registry even when errors were found, as long as it
 * is whole enough for the namespace maps to be checked too (every problem
 * of a file is reported in one run). Unknown database references in it
 * stand for database 0. NULL when the configuration has a gap. */
nsl_registry *nsl_registry_build_partial(const nsl_config *cfg, nsl_diags *diags);
void nsl_registry_free(nsl_registry *reg);

const nsl_config *nsl_registry_config(const nsl_registry *reg);

size_t nsl_registry_database_count(const nsl_registry *reg);
const nsl_database *nsl_registry_database(const nsl_registry *reg, uint32_t id);
/* Case-insensitive; NULL when unknown. */
const nsl_database *nsl_registry_find_database(const nsl_registry *reg, const char *name);
/* Exact directory match after removing trailing '/'; NULL when none. */
const nsl_database *nsl_registry_find_directory(const nsl_registry *reg, const char *dir);

size_t nsl_registry_namespace_count(const nsl_registry *reg);
const nsl_namespace *nsl_registry_namespace(const nsl_registry *reg, uint32_t id);
const nsl_namespace *nsl_registry_find_namespace(const nsl_registry *reg, const char *name);

const nsl_namespace *nsl_registry_default_namespace(const nsl_registry *reg);
/* Where lock names without a caret live (docs/CONFIG.md). */
const nsl_database *nsl_registry_local_locks(const nsl_registry *reg);

#endif
