/* registry.c — databases and namespaces by name, id and directory.
 *
 * Built once from a configuration and read-only afterwards. Ids are dense
 * and in file order; three uthash tables find databases by upper-case name
 * and by directory, namespaces by upper-case name.
 *
 * The configuration may be one the loader flagged as invalid (nslock
 * validate builds the registry anyway, to report everything). Parts the
 * loader could not read (a database without a directory, a namespace
 * without globals) were reported there; here they only mean that no
 * registry is returned.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "namespaces/namespaces.h"

static void registry_oom(void)
{
    fputs("nslock: out of memory\n", stderr);
    abort();
}

#define uthash_fatal(msg) registry_oom()
#include <uthash.h>

typedef struct db_entry {
    nsl_database db;
    const nsl_cfg_database *cfg;
    bool used;                     /* by a namespace, a mapping or local_locks */
    UT_hash_handle hh_name;
    UT_hash_handle hh_dir;
} db_entry;

typedef struct ns_entry {
    nsl_namespace ns;
    UT_hash_handle hh;
} ns_entry;

struct nsl_registry {
    const nsl_config *cfg;
    db_entry *dbs;
    size_t db_count;
    ns_entry *nss;
    size_t ns_count;
    db_entry *db_by_name;
    db_entry *db_by_dir;
    ns_entry *ns_by_name;
    uint32_t default_ns;
    uint32_t local_locks;
};

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size);
    if (!p)
        registry_oom();
    return p;
}

/* Upper-case (ASCII) copy into buf if it fits, else malloc'ed. */
static char *upper(const char *s, char *buf, size_t cap)
{
    size_t n = strlen(s);
    char *out = n < cap ? buf : xcalloc(n + 1, 1);
    for (size_t i = 0; i <= n; i++)
        out[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') : s[i];
    return out;
}

/* Directory without trailing '/' ("/" stays "/"), the same buffer rules. */
static char *normalize_dir(const char *s, char *buf, size_t cap)
{
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        n--;
    char *out = n < cap ? buf : xcalloc(n + 1, 1);
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

static void release(char *p, const char *buf)
{
    if (p != buf)
        free(p);
}

static db_entry *db_by_name(const nsl_registry *reg, const char *name)
{
    char buf[128];
    char *key = upper(name, buf, sizeof buf);
    db_entry *e = NULL;
    HASH_FIND(hh_name, reg->db_by_name, key, strlen(key), e);
    release(key, buf);
    return e;
}

static ns_entry *ns_by_name(const nsl_registry *reg, const char *name)
{
    char buf[128];
    char *key = upper(name, buf, sizeof buf);
    ns_entry *e = NULL;
    HASH_FIND(hh, reg->ns_by_name, key, strlen(key), e);
    release(key, buf);
    return e;
}

static db_entry *db_by_dir(const nsl_registry *reg, const char *dir)
{
    char buf[256];
    char *key = normalize_dir(dir, buf, sizeof buf);
    db_entry *e = NULL;
    HASH_FIND(hh_dir, reg->db_by_dir, key, strlen(key), e);
    release(key, buf);
    return e;
}

/* ---- building ----------------------------------------------------------- */

typedef struct builder {
    nsl_registry *reg;
    nsl_diags *diags;
    const char *file;
    size_t errors;
    bool incomplete;     /* the loader left a gap; it reported it */
} builder;

static void error_at(builder *b, const char *rule, nsl_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void error_at(builder *b, const char *rule, nsl_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nsl_diags_vadd(b->diags, NSL_DIAG_ERROR, rule, b->file, pos, fmt, ap);
    va_end(ap);
    b->errors++;
}

/* "; did you mean `X`?" for a misspelt database or namespace name, or "".
 * Names compare case-insensitively, so suggestions do too. */
static const char *did_you_mean(char *buf, size_t cap, const char *word, const char **names,
                                size_t n)
{
    const char *near = nsl_suggest(word, names, n, true);
    if (!near)
        return "";
    snprintf(buf, cap, "; did you mean `%.64s`?", near);
    return buf;
}

static const char *database_hint(const builder *b, char *buf, size_t cap, const char *word)
{
    const char *names[NSL_MAX_DATABASES];
    size_t n = 0;
    for (size_t i = 0; i < b->reg->db_count && n < NSL_MAX_DATABASES; i++)
        names[n++] = b->reg->dbs[i].db.name;
    return did_you_mean(buf, cap, word, names, n);
}

static const char *namespace_hint(const builder *b, char *buf, size_t cap, const char *word)
{
    const char *names[NSL_MAX_NAMESPACES];
    size_t n = 0;
    for (size_t i = 0; i < b->reg->ns_count && n < NSL_MAX_NAMESPACES; i++)
        names[n++] = b->reg->nss[i].ns.name;
    return did_you_mean(buf, cap, word, names, n);
}

static void add_databases(builder *b)
{
    nsl_registry *reg = b->reg;
    const nsl_config *cfg = reg->cfg;
    size_t n = cfg->database_count;

    if (n > NSL_MAX_DATABASES) {
        error_at(b, "too-many-databases", cfg->databases[NSL_MAX_DATABASES].pos,
                 "too many databases: at most %d", NSL_MAX_DATABASES);
        n = NSL_MAX_DATABASES;
    }
    reg->dbs = xcalloc(n, sizeof *reg->dbs);
    for (size_t i = 0; i < n; i++) {
        const nsl_cfg_database *d = &cfg->databases[i];
        if (!d->name) {
            b->incomplete = true;
            continue;
        }
        db_entry *same = db_by_name(reg, d->name);
        if (same) {
            error_at(b, "duplicate-database", d->pos, "database `%.64s` is already defined as `%.64s` at %d:%d "
                     "(names are case-insensitive)", d->name, same->cfg->name,
                     same->cfg->pos.line, same->cfg->pos.col);
            continue;
        }
        db_entry *e = &reg->dbs[reg->db_count];
        e->db.id = (uint32_t)reg->db_count++;
        e->cfg = d;
        e->db.name = upper(d->name, NULL, 0);
        HASH_ADD_KEYPTR(hh_name, reg->db_by_name, e->db.name, strlen(e->db.name), e);
        if (!d->directory) {
            b->incomplete = true;
            continue;
        }
        e->db.directory = normalize_dir(d->directory, NULL, 0);
        same = db_by_dir(reg, e->db.directory);
        if (same) {
            error_at(b, "duplicate-directory", d->directory_pos, "database `%.64s` has the same directory as "
                     "database `%.64s` at %d:%d (%.256s)", d->name, same->cfg->name,
                     same->cfg->pos.line, same->cfg->pos.col, e->db.directory);
            continue;
        }
        HASH_ADD_KEYPTR(hh_dir, reg->db_by_dir, e->db.directory, strlen(e->db.directory), e);
    }
}

/* The id of a database named by the configuration, marking it used;
 * reports an unknown one. what: "globals of namespace `X`". */
static bool use_database(builder *b, const char *name, nsl_pos pos,
                         const char *what, uint32_t *id)
{
    db_entry *e = db_by_name(b->reg, name);
    if (!e) {
        char hint[96];
        error_at(b, "unknown-database", pos, "unknown database `%.64s` in %s%s", name, what,
                 database_hint(b, hint, sizeof hint, name));
        return false;
    }
    e->used = true;
    *id = e->db.id;
    return true;
}

static void add_namespaces(builder *b)
{
    nsl_registry *reg = b->reg;
    const nsl_config *cfg = reg->cfg;
    size_t n = cfg->namespace_count;

    if (n > NSL_MAX_NAMESPACES) {
        error_at(b, "too-many-namespaces", cfg->namespaces[NSL_MAX_NAMESPACES].pos,
                 "too many namespaces: at most %d", NSL_MAX_NAMESPACES);
        n = NSL_MAX_NAMESPACES;
    }
    reg->nss = xcalloc(n, sizeof *reg->nss);
    for (size_t i = 0; i < n; i++) {
        const nsl_cfg_namespace *c = &cfg->namespaces[i];
        char what[200];
        uint32_t globals = 0;

        if (!c->name) {
            b->incomplete = true;
            continue;
        }
        /* A duplicate's references are checked all the same: they are
         * mistakes of their own. */
        for (size_t j = 0; j < c->map_count; j++) {
            const nsl_cfg_mapping *m = &c->map[j];
            snprintf(what, sizeof what, "mapping `%.64s` of namespace `%.64s`", m->rule, c->name);
            uint32_t ignored;
            use_database(b, m->database, m->database_pos, what, &ignored);
        }
        if (!c->globals) {
            b->incomplete = true;
        } else {
            snprintf(what, sizeof what, "globals of namespace `%.64s`", c->name);
            use_database(b, c->globals, c->globals_pos, what, &globals);
        }

        ns_entry *same = ns_by_name(reg, c->name);
        if (same) {
            error_at(b, "duplicate-namespace", c->pos, "namespace `%.64s` is already defined as `%.64s` at %d:%d "
                     "(names are case-insensitive)", c->name, same->ns.cfg->name,
                     same->ns.cfg->pos.line, same->ns.cfg->pos.col);
            continue;
        }
        ns_entry *e = &reg->nss[reg->ns_count];
        e->ns.id = (uint32_t)reg->ns_count++;
        e->ns.name = upper(c->name, NULL, 0);
        e->ns.globals = globals;
        e->ns.cfg = c;
        HASH_ADD_KEYPTR(hh, reg->ns_by_name, e->ns.name, strlen(e->ns.name), e);
    }
}

static void resolve_defaults(builder *b)
{
    nsl_registry *reg = b->reg;
    const nsl_config *cfg = reg->cfg;
    bool have_default = false;

    if (cfg->default_namespace) {
        ns_entry *e = ns_by_name(reg, cfg->default_namespace);
        if (e) {
            reg->default_ns = e->ns.id;
            have_default = true;
        } else {
            char hint[96];
            error_at(b, "unknown-namespace", cfg->default_namespace_pos,
                     "unknown namespace `%.64s` in default_namespace%s", cfg->default_namespace,
                     namespace_hint(b, hint, sizeof hint, cfg->default_namespace));
        }
    } else if (reg->ns_count > 0) {
        reg->default_ns = 0;
        have_default = true;
    } else {
        b->incomplete = true;
    }

    if (cfg->local_locks)
        use_database(b, cfg->local_locks, cfg->local_locks_pos, "local_locks", &reg->local_locks);
    else if (have_default)
        reg->local_locks = reg->nss[reg->default_ns].ns.globals;
}

static void warn_unused(builder *b)
{
    for (size_t i = 0; i < b->reg->db_count; i++) {
        const db_entry *e = &b->reg->dbs[i];
        if (!e->used)
            nsl_diags_add(b->diags, NSL_DIAG_WARNING, "unused-database", b->file, e->cfg->pos,
                          "database `%.64s` is not used by any namespace", e->cfg->name);
    }
}

static nsl_registry *build(const nsl_config *cfg, nsl_diags *diags, bool partial)
{
    nsl_registry *reg = xcalloc(1, sizeof *reg);
    builder b = {.reg = reg, .diags = diags, .file = cfg->file};

    reg->cfg = cfg;
    add_databases(&b);
    add_namespaces(&b);
    resolve_defaults(&b);
    /* With a gap in the configuration, "unused" would mostly be an echo
     * of the gap (a namespace whose globals could not be read). */
    if (!b.incomplete)
        warn_unused(&b);
    if (b.incomplete || (b.errors && !partial) || reg->db_count == 0) {
        nsl_registry_free(reg);
        return NULL;
    }
    return reg;
}

nsl_registry *nsl_registry_build(const nsl_config *cfg, nsl_diags *diags)
{
    return build(cfg, diags, false);
}

nsl_registry *nsl_registry_build_partial(const nsl_config *cfg, nsl_diags *diags)
{
    return build(cfg, diags, true);
}

void nsl_registry_free(nsl_registry *reg)
{
    if (!reg)
        return;
    HASH_CLEAR(hh_name, reg->db_by_name);
    HASH_CLEAR(hh_dir, reg->db_by_dir);
    HASH_CLEAR(hh, reg->ns_by_name);
    for (size_t i = 0; i < reg->db_count; i++) {
        free(reg->dbs[i].db.name);
        free(reg->dbs[i].db.directory);
    }
    for (size_t i = 0; i < reg->ns_count; i++)
        free(reg->nss[i].ns.name);
    free(reg->dbs);
    free(reg->nss);
    free(reg);
}

/* ---- look-ups ------------------------------------------------------------- */

const nsl_config *nsl_registry_config(const nsl_registry *reg)
{
    return reg->cfg;
}

size_t nsl_registry_database_count(const nsl_registry *reg)
{
    return reg->db_count;
}

const nsl_database *nsl_registry_database(const nsl_registry *reg, uint32_t id)
{
    return id < reg->db_count ? &reg->dbs[id].db : NULL;
}

const nsl_database *nsl_registry_find_database(const nsl_registry *reg, const char *name)
{
    db_entry *e = db_by_name(reg, name);
    return e ? &e->db : NULL;
}

const nsl_database *nsl_registry_find_directory(const nsl_registry *reg, const char *dir)
{
    db_entry *e = db_by_dir(reg, dir);
    return e ? &e->db : NULL;
}

size_t nsl_registry_namespace_count(const nsl_registry *reg)
{
    return reg->ns_count;
}

const nsl_namespace *nsl_registry_namespace(const nsl_registry *reg, uint32_t id)
{
    return id < reg->ns_count ? &reg->nss[id].ns : NULL;
}

const nsl_namespace *nsl_registry_find_namespace(const nsl_registry *reg, const char *name)
{
    ns_entry *e = ns_by_name(reg, name);
    return e ? &e->ns : NULL;
}

const nsl_namespace *nsl_registry_default_namespace(const nsl_registry *reg)
{
    return &reg->nss[reg->default_ns].ns;
}

const nsl_database *nsl_registry_local_locks(const nsl_registry *reg)
{
    return &reg->dbs[reg->local_locks].db;
}
