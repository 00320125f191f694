/* nslock remove: clear held locks by owner, pid, database, namespace or
 * name (admin). It lists what matches first (SHOW with the same criteria),
 * asks, and then removes only the owners' entries it listed. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/connect.h"
#include "mapping/mapping.h"

#define PROMPT_ROWS 10          /* entries listed in the question; the rest are counted */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: nslock remove [OPTIONS]\n"
            "\n"
            "Remove the held lock table entries that match every criterion given (at\n"
            "least one). It first lists what matches and asks; only the entries listed\n"
            "are removed. Requests waiting behind them are then served, and each owner\n"
            "is told on its next request. Removing other sessions' locks needs root,\n"
            "the server's user or its admin_group; the server logs who removed what.\n"
            "\n"
            "Options:\n"
            "      --owner ID         entries of session ID\n"
            "      --pid PID          entries of clients with process id PID\n"
            "      --database DB      entries in database DB\n"
            "  -N, --namespace NS     entries of locks taken in namespace NS\n"
            "      --name NAME        entries on lock name NAME (as the table shows it)\n"
            "      --dry-run          list what would be removed, remove nothing\n"
            "  -y, --yes              do not ask for confirmation\n");
    nsl_cli_socket_usage(out);
    fprintf(out,
            "  -h, --help             show this help\n"
            "\nWithout --yes (or --dry-run) it asks on the terminal, and refuses when not\n"
            "run on one.\n"
            "\nExit status: 0 entries removed (with --dry-run: some would be), 1 nothing\n"
            "matched, not confirmed or not permitted, 2 a bad option, no confirmation\n"
            "possible, or no connection.\n");
}

typedef struct criteria {
    nslock_remove_filter filter;
    const char *namespace_name;
} criteria;

static void describe(FILE *out, const criteria *c)
{
    const nslock_remove_filter *f = &c->filter;
    const char *sep = "";
    if (f->owner) {
        fprintf(out, "owner %" PRIu64, f->owner);
        sep = ", ";
    }
    if (f->pid) {
        fprintf(out, "%spid %ld", sep, f->pid);
        sep = ", ";
    }
    if (f->database) {
        fprintf(out, "%sdatabase %s", sep, f->database);
        sep = ", ";
    }
    if (c->namespace_name) {
        fprintf(out, "%snamespace %s", sep, c->namespace_name);
        sep = ", ";
    }
    if (f->name)
        fprintf(out, "%sname %s", sep, f->name);
}

static const char *entries_word(size_t n)
{
    return n == 1 ? "entry" : "entries";
}

/* One aligned line per entry: DATABASE NAME NAMESPACE OWNER PID CLIENT MODE. */
static void list_rows(FILE *out, const nslock_entry *rows, size_t n, size_t limit,
                      const char *indent)
{
    int wdb = 8, wname = 4, wns = 9;
    size_t shown = n < limit ? n : limit;
    for (size_t i = 0; i < shown; i++) {
        int l;
        if ((l = (int)strlen(rows[i].database)) > wdb)
            wdb = l;
        if ((l = (int)strlen(rows[i].name)) > wname)
            wname = l;
        if ((l = (int)strlen(rows[i].namespace_name)) > wns)
            wns = l;
    }
    fprintf(out, "%s%-*s %-*s %-*s %5s %7s %-14s %s\n", indent, wdb, "DATABASE", wname, "NAME",
            wns, "NAMESPACE", "OWNER", "PID", "CLIENT", "MODE");
    for (size_t i = 0; i < shown; i++) {
        const nslock_entry *r = &rows[i];
        char pid[24] = "-";
        if (r->pid)
            snprintf(pid, sizeof pid, "%ld", r->pid);
        fprintf(out, "%s%-*s %-*s %-*s %5" PRIu64 " %7s %-14s %s\n", indent, wdb, r->database,
                wname, r->name, wns, r->namespace_name, r->owner, pid,
                r->client[0] ? r->client : "-", r->mode);
    }
    if (n > shown)
        fprintf(out, "%sand %zu more\n", indent, n - shown);
}

/* Asks on the terminal; true for y or yes. */
static bool confirmed(const criteria *c, const nslock_entry *rows, size_t n)
{
    char answer[32];
    fprintf(stderr, "%zu held %s match ", n, entries_word(n));
    describe(stderr, c);
    fprintf(stderr, ":\n");
    list_rows(stderr, rows, n, PROMPT_ROWS, "  ");
    fprintf(stderr, "Remove %s %zu %s? [y/N] ", n == 1 ? "this" : "these", n, entries_word(n));
    fflush(stderr);
    if (fgets(answer, sizeof answer, stdin) == NULL)
        return false;
    answer[strcspn(answer, "\r\n")] = '\0';
    return strcasecmp(answer, "y") == 0 || strcasecmp(answer, "yes") == 0;
}

/* The held rows that match: SHOW filters a name by prefix, REMOVE by the
 * whole name. */
static size_t keep_matching(nslock_entry *rows, size_t n, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!name || strcmp(rows[i].name, name) == 0)
            rows[k++] = rows[i];
    return k;
}

/* The canonical form of --name, as SHOW prints it; false after saying why. */
static bool canonical_name(const char *text, char *buf, size_t cap)
{
    nsl_lockname name;
    nsl_error err;
    if (nsl_lockname_parse(text, strlen(text), NULL, &name, &err) != NSL_OK) {
        if (err.column > 0)
            fprintf(stderr, "nslock: remove: --name '%s': column %d: %s\n", text,
                    (int)err.column, err.message);
        else
            fprintf(stderr, "nslock: remove: --name '%s': %s\n", text, err.message);
        return false;
    }
    if (name.ref != NSL_REF_PLAIN) {
        fprintf(stderr, "nslock: remove: --name '%s': give the name as the table shows it, "
                        "without a namespace; use --namespace or --database to choose\n", text);
        return false;
    }
    size_t len = nsl_lockname_format(&name, buf, cap);
    return len < cap;
}

/* Removes what was listed: each listed owner's entries matching the
 * criteria (with --namespace, which REMOVE does not know, entry by entry).
 * Entries released meanwhile are simply not found. */
static int remove_listed(nslock *c, const criteria *cr, const nslock_entry *rows, size_t n,
                         uint64_t *total)
{
    *total = 0;
    for (size_t i = 0; i < n; i++) {
        nslock_remove_filter f = cr->filter;
        f.owner = rows[i].owner;
        if (cr->namespace_name) {
            f.database = rows[i].database;
            f.name = rows[i].name;
        } else {
            bool done = false;     /* this owner's entries went with an earlier row */
            for (size_t j = 0; j < i && !done; j++)
                done = rows[j].owner == rows[i].owner;
            if (done)
                continue;
        }
        uint64_t removed = 0;
        nslock_error err;
        if (nslock_remove(c, &f, &removed, &err) < 0) {
            if (err.code == NSLOCK_E_NOTFOUND)
                continue;
            nsl_cli_report("remove", &err);
            return nsl_cli_exit_status(&err);
        }
        *total += removed;
    }
    return NSL_EXIT_OK;
}

int nsl_cmd_remove(int argc, char **argv)
{
    enum { OPT_OWNER = 0x200, OPT_PID, OPT_DATABASE, OPT_NAME, OPT_DRY_RUN };
    static const struct option longopts[] = {
        {"owner", required_argument, NULL, OPT_OWNER},
        {"pid", required_argument, NULL, OPT_PID},
        {"database", required_argument, NULL, OPT_DATABASE},
        {"namespace", required_argument, NULL, 'N'},
        {"name", required_argument, NULL, OPT_NAME},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},
        NSL_CONNECT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    criteria cr = {0};
    nslock_remove_filter *filter = &cr.filter;
    const char *socket_path = NULL, *name_arg = NULL;
    bool yes = false, dry_run = false;
    uint64_t id;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "N:yh", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_OWNER:
            if (!nsl_cli_parse_id("remove", "--owner", optarg, &filter->owner))
                return NSL_EXIT_USAGE;
            break;
        case OPT_PID:
            if (!nsl_cli_parse_id("remove", "--pid", optarg, &id))
                return NSL_EXIT_USAGE;
            filter->pid = (long)id;
            break;
        case OPT_DATABASE: filter->database = optarg; break;
        case 'N': cr.namespace_name = optarg; break;
        case OPT_NAME: name_arg = optarg; break;
        case OPT_DRY_RUN: dry_run = true; break;
        case 'y': yes = true; break;
        case NSL_OPT_SOCKET: socket_path = optarg; break;
        NSL_CONNECT_CASES("remove");
        case 'h': usage(stdout); return NSL_EXIT_OK;
        default:
            return nsl_cli_bad_option("remove", opt, "N", argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nslock: remove: unexpected argument '%s'\nTry 'nslock remove --help'.\n",
                argv[optind]);
        return NSL_EXIT_USAGE;
    }
    if (!filter->owner && !filter->pid && !filter->database && !name_arg && !cr.namespace_name) {
        fprintf(stderr, "nslock: remove: say what to remove: --owner, --pid, --database, "
                        "--namespace or --name\nTry 'nslock remove --help'.\n");
        return NSL_EXIT_USAGE;
    }
    char name[4096];
    if (name_arg) {
        if (!canonical_name(name_arg, name, sizeof name))
            return NSL_EXIT_USAGE;
        filter->name = name;
    }
    if (!yes && !dry_run && !isatty(STDIN_FILENO)) {
        fprintf(stderr, "nslock: remove: refusing to remove locks without confirmation: "
                        "standard input is not a terminal (use --yes, or --dry-run to see "
                        "what would go)\n");
        return NSL_EXIT_USAGE;
    }

    nslock *c = nsl_cli_connect("remove", socket_path, NSLOCK_KEEPER_NONE);
    if (c == NULL)
        return NSL_EXIT_USAGE;
    nslock_show_filter sf = {.database = filter->database, .namespace_name = cr.namespace_name,
                             .owner = filter->owner, .pid = filter->pid,
                             .name_prefix = filter->name, .no_waiters = 1};
    nslock_entry *rows = NULL;
    size_t n = 0;
    nslock_error err;
    int status = NSL_EXIT_OK;
    if (nslock_show(c, &sf, &rows, &n, &err) < 0) {
        nsl_cli_report("remove", &err);
        status = nsl_cli_exit_status(&err);
        goto out;
    }
    n = keep_matching(rows, n, filter->name);
    if (n == 0) {
        printf("%s 0 entries: nothing matches ", dry_run ? "would remove" : "removed");
        describe(stdout, &cr);
        printf("\n");
        status = NSL_EXIT_FAIL;
        goto out;
    }
    if (dry_run) {
        printf("would remove %zu %s:\n", n, entries_word(n));
        list_rows(stdout, rows, n, SIZE_MAX, "  ");
        goto out;
    }
    if (!yes && !confirmed(&cr, rows, n)) {
        fprintf(stderr, "nslock: remove: not confirmed; nothing removed\n");
        status = NSL_EXIT_FAIL;
        goto out;
    }
    uint64_t removed;
    status = remove_listed(c, &cr, rows, n, &removed);
    if (status == NSL_EXIT_OK) {
        printf("removed %" PRIu64 " %s", removed, entries_word(removed));
        if (removed < n)
            printf(" (%zu of those listed were released meanwhile)", n - (size_t)removed);
        printf("\n");
        if (removed == 0)
            status = NSL_EXIT_FAIL;
    }
out:
    nslock_free(rows);
    nslock_close(c);
    return status;
}
