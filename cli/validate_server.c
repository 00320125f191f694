/* validate --against-server NEW: the locks held or awaited on the running
 * server whose names would land in another set of databases under NEW.
 * Those are the names two processes could lock at once during a rollout:
 * one still on the old map, one on the new. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/connect.h"
#include "cli/table.h"
#include "cli/validate_server.h"

enum { COL_OWNER, COL_PID, COL_CLIENT, COL_NAMESPACE, COL_NAME, COL_MODE, COL_NOW, COL_NEW };

static const nsl_table_column columns[] = {
    [COL_OWNER]     = {"OWNER", 5, NSL_COL_RIGHT, "session id"},
    [COL_PID]       = {"PID", 5, NSL_COL_RIGHT, "its process"},
    [COL_CLIENT]    = {"CLIENT", 0.1, 0, "its client name"},
    [COL_NAMESPACE] = {"NAMESPACE", 0.1, 0, "where the lock was taken"},
    [COL_NAME]      = {"NAME", 0.2, 0, "the lock name"},
    [COL_MODE]      = {"MODE", 0.1, 0, "held, or Wait... for a request"},
    [COL_NOW]       = {"NOW", 0.15, 0, "databases it has entries in now"},
    [COL_NEW]       = {"NEW", 0.15, 0, "databases it would land in under the new file"},
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

/* One lock of the table: the rows of one owner, name and namespace (and
 * wait state) are its entries, one per database. */
typedef struct held_lock {
    const nslock_entry *first;
    char now[1024];
} held_lock;

static int entry_order(const void *pa, const void *pb)
{
    const nslock_entry *a = pa, *b = pb;
    if (a->owner != b->owner)
        return a->owner < b->owner ? -1 : 1;
    int c = strcmp(a->namespace_name, b->namespace_name);
    if (!c)
        c = strcmp(a->name, b->name);
    if (!c)
        c = a->waiting - b->waiting;
    if (!c)
        c = strcmp(a->database, b->database);
    return c;
}

static bool same_lock(const nslock_entry *a, const nslock_entry *b)
{
    return a->owner == b->owner && a->waiting == b->waiting
        && !strcmp(a->namespace_name, b->namespace_name) && !strcmp(a->name, b->name);
}

static void append_name(char *set, size_t cap, const char *name)
{
    size_t n = strlen(set);
    snprintf(set + n, cap - n, "%s%s", n ? "," : "", name);
}

/* The databases `name` lands in under NEW, sorted by name like NOW; false
 * (why in buf) when it does not resolve there. */
static bool new_set(const nsl_resolver *res, const char *ns_name, const char *text, char *buf,
                    size_t cap)
{
    const nsl_registry *reg = nsl_resolver_registry(res);
    const nsl_namespace *ns = nsl_registry_find_namespace(reg, ns_name);
    if (!ns) {
        snprintf(buf, cap, "(no namespace %s)", ns_name);
        return false;
    }
    nsl_lockname name;
    nsl_resolution r;
    nsl_error err = {0};
    if (nsl_lockname_parse(text, strlen(text), NULL, &name, &err) != NSL_OK
        || nsl_resolve(res, ns->id, &name, &r, &err) != NSL_OK) {
        snprintf(buf, cap, "(%s)", err.message);
        return false;
    }
    const char *names[NSL_MAX_DATABASES];
    size_t n = 0;
    for (uint32_t i = 0; i < r.count; i++) {
        const char *db = nsl_registry_database(reg, r.dbs[i].db)->name;
        size_t k = n++;
        for (; k > 0 && strcmp(names[k - 1], db) > 0; k--)
            names[k] = names[k - 1];
        names[k] = db;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        append_name(buf, cap, names[i]);
    return true;
}

int nsl_validate_against_server(const char *path, const nsl_resolver *res, const char *socket_path)
{
    nslock *c = nsl_cli_connect("validate", socket_path, NSLOCK_KEEPER_NONE);
    if (!c)
        return NSL_EXIT_USAGE;
    nslock_entry *rows = NULL;
    size_t count = 0;
    nslock_error err;
    if (nslock_show(c, NULL, &rows, &count, &err) != 0) {
        nsl_cli_report("validate", &err);
        nslock_close(c);
        return NSL_EXIT_USAGE;
    }
    if (nslock_recovering(c) > 0)
        fprintf(stderr, "nslock: validate: the server is recovering its table after a restart:"
                        " locks not yet reclaimed are not checked\n");
    qsort(rows, count, sizeof *rows, entry_order);   /* databases sorted within a lock */

    nsl_table_opts topts = {0};
    nsl_table *t = nsl_table_new("validate", "moves", columns, NCOLUMNS, &topts);
    size_t locks = 0, moving = 0;
    int status = t ? NSL_EXIT_OK : NSL_EXIT_USAGE;
    for (size_t i = 0; i < count && t; ) {
        held_lock h = {.first = &rows[i], .now = ""};
        size_t j = i;
        for (; j < count && same_lock(&rows[i], &rows[j]); j++)
            append_name(h.now, sizeof h.now, rows[j].database);
        i = j;
        locks++;
        char next[1024];
        bool resolved = new_set(res, h.first->namespace_name, h.first->name, next, sizeof next);
        if (resolved && !strcmp(next, h.now))
            continue;
        moving++;
        char owner[24], pid[24];
        snprintf(owner, sizeof owner, "%llu", (unsigned long long)h.first->owner);
        snprintf(pid, sizeof pid, "%ld", h.first->pid);
        const char *cells[NCOLUMNS] = {
            [COL_OWNER] = owner, [COL_PID] = h.first->pid ? pid : "",
            [COL_CLIENT] = h.first->client, [COL_NAMESPACE] = h.first->namespace_name,
            [COL_NAME] = h.first->name, [COL_MODE] = h.first->mode,
            [COL_NOW] = h.now, [COL_NEW] = next,
        };
        if (!nsl_table_add_row(t, cells)) {
            fprintf(stderr, "nslock: validate: out of memory\n");
            status = NSL_EXIT_USAGE;
            break;
        }
    }
    if (status == NSL_EXIT_OK) {
        if (moving && !nsl_table_print(t))
            status = NSL_EXIT_USAGE;
        printf("%s: %zu of %zu lock%s on the server would move\n", path, moving, locks,
               locks == 1 ? "" : "s");
        if (moving)
            status = NSL_EXIT_FAIL;
    }
    nsl_table_free(t);
    nslock_free(rows);
    nslock_close(c);
    return status;
}
