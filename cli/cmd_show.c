/* nslock show: the live lock table by database (docs/PROTOCOL.md), lslocks-style. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_show.h"
#include "cli/connect.h"
#include "cli/table.h"

enum {
    COL_DATABASE, COL_DIRECTORY, COL_OWNER, COL_PID, COL_CLIENT, COL_MODE, COL_NAME,
    COL_NAMESPACE, COL_SINCE, COL_TOKEN, COL_BLOCKERS, NCOLUMNS
};

static const nsl_table_column columns[NCOLUMNS] = {
    [COL_DATABASE]  = {"DATABASE", 8, 0, "the database the entry belongs to"},
    [COL_DIRECTORY] = {"DIRECTORY", 12, NSL_COL_TRUNC, "that database's directory"},
    [COL_OWNER]     = {"OWNER", 5, NSL_COL_RIGHT | NSL_COL_NUMBER, "the session holding or waiting"},
    [COL_PID]       = {"PID", 5, NSL_COL_RIGHT | NSL_COL_NUMBER, "the client's process id"},
    [COL_CLIENT]    = {"CLIENT", 12, NSL_COL_TRUNC, "the name the client gave"},
    [COL_MODE]      = {"MODE", 9, 0, "Exclusive, Shared/2, Exclusive_e, ...->Delock, Wait..."},
    [COL_NAME]      = {"NAME", 0.3, 0, "the lock name, canonical"},
    [COL_NAMESPACE] = {"NAMESPACE", 9, 0, "the namespace the lock was taken in"},
    [COL_SINCE]     = {"SINCE", 24, 0, "when it was granted or requested (UTC)"},
    [COL_TOKEN]     = {"TOKEN", 5, NSL_COL_RIGHT | NSL_COL_NUMBER, "the grant's fencing token"},
    [COL_BLOCKERS]  = {"BLOCKERS", 8, 0, "the owners a waiting request waits for, or why (table-full, recovering)"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: nslock show [OPTIONS]\n"
            "\n"
            "Show the live lock table: one row per database entry, sorted by database,\n"
            "name in collation order, owner; waiting requests too (mode Wait...).\n"
            "\n"
            "Options:\n"
            "      --database DB      only entries of database DB\n"
            "      --namespace NS     only locks taken in namespace NS\n"
            "      --owner ID         only session ID\n"
            "      --pid PID          only clients with process id PID\n"
            "      --name PREFIX      only names starting with PREFIX\n"
            "      --no-waiters       leave out waiting requests\n");
    nsl_cli_socket_usage(out);
    fprintf(out, "  -h, --help             show this help\n");
    nsl_table_usage(out, columns, NCOLUMNS);
    fprintf(out, "\nExit status: 0 success, 2 a bad option or no connection to the server.\n");
}

bool nsl_cli_print_entries(const char *cmd, const nslock_entry *rows, size_t count,
                           const nsl_table_opts *topts)
{
    nsl_table *t = nsl_table_new(cmd, "locks", columns, NCOLUMNS, topts);
    if (t == NULL)
        return false;
    bool ok = true;
    for (size_t i = 0; i < count && ok; i++) {
        const nslock_entry *e = &rows[i];
        char owner[24], pid[24], token[24];
        snprintf(owner, sizeof owner, "%" PRIu64, e->owner);
        snprintf(pid, sizeof pid, "%ld", e->pid);
        snprintf(token, sizeof token, "%" PRIu64, e->token);
        const char *cells[NCOLUMNS] = {
            [COL_DATABASE] = e->database,
            [COL_DIRECTORY] = e->directory,
            [COL_OWNER] = owner,
            [COL_PID] = e->pid ? pid : "",
            [COL_CLIENT] = e->client,
            [COL_MODE] = e->mode,
            [COL_NAME] = e->name,
            [COL_NAMESPACE] = e->namespace_name,
            [COL_SINCE] = e->since,
            [COL_TOKEN] = e->waiting ? "" : token,
            [COL_BLOCKERS] = e->blockers,
        };
        ok = nsl_table_add_row(t, cells);
    }
    if (!ok)
        fprintf(stderr, "nslock: %s: out of memory\n", cmd);
    else if (!nsl_table_print(t)) {
        fprintf(stderr, "nslock: %s: cannot write the table\n", cmd);
        ok = false;
    }
    nsl_table_free(t);
    return ok;
}

bool nsl_cli_table_accepts(const char *cmd, const nsl_table_opts *topts)
{
    nsl_table *t = nsl_table_new(cmd, "locks", columns, NCOLUMNS, topts);
    nsl_table_free(t);
    return t != NULL;
}

int nsl_cmd_show(int argc, char **argv)
{
    enum { OPT_DATABASE = 0x200, OPT_NAMESPACE, OPT_OWNER, OPT_PID, OPT_NAME, OPT_NO_WAITERS };
    static const struct option longopts[] = {
        {"database", required_argument, NULL, OPT_DATABASE},
        {"namespace", required_argument, NULL, OPT_NAMESPACE},
        {"owner", required_argument, NULL, OPT_OWNER},
        {"pid", required_argument, NULL, OPT_PID},
        {"name", required_argument, NULL, OPT_NAME},
        {"no-waiters", no_argument, NULL, OPT_NO_WAITERS},
        {"help", no_argument, NULL, 'h'},
        NSL_CONNECT_LONGOPTS,
        NSL_TABLE_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    nslock_show_filter filter = {0};
    nsl_table_opts topts = {0};
    const char *socket_path = NULL;
    uint64_t id;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h" NSL_TABLE_SHORTOPTS, longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_DATABASE: filter.database = optarg; break;
        case OPT_NAMESPACE: filter.namespace_name = optarg; break;
        case OPT_OWNER:
            if (!nsl_cli_parse_id("show", "--owner", optarg, &filter.owner))
                return NSL_EXIT_USAGE;
            break;
        case OPT_PID:
            if (!nsl_cli_parse_id("show", "--pid", optarg, &id))
                return NSL_EXIT_USAGE;
            filter.pid = (long)id;
            break;
        case OPT_NAME: filter.name_prefix = optarg; break;
        case OPT_NO_WAITERS: filter.no_waiters = 1; break;
        case NSL_OPT_SOCKET: socket_path = optarg; break;
        case 'h': usage(stdout); return NSL_EXIT_OK;
        case '?':
        case ':':
            return nsl_cli_bad_option("show", opt, "o", argv);
        default:
            nsl_table_option(&topts, opt, optarg);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nslock: show: unexpected argument '%s'\nTry 'nslock show --help'.\n",
                argv[optind]);
        return NSL_EXIT_USAGE;
    }
    /* a bad -o is a usage error found before bothering the server */
    if (!nsl_cli_table_accepts("show", &topts))
        return NSL_EXIT_USAGE;

    nslock *c = nsl_cli_connect("show", socket_path, NSLOCK_KEEPER_NONE);
    if (c == NULL)
        return NSL_EXIT_USAGE;
    nslock_entry *rows;
    size_t count;
    nslock_error err;
    int status;
    if (nslock_show(c, &filter, &rows, &count, &err) < 0) {
        nsl_cli_report("show", &err);
        status = nsl_cli_exit_status(&err);
    } else {
        long long awaited = nslock_recovering(c);
        if (awaited >= 0)
            fprintf(stderr, "nslock: show: the server is recovering after a restart: it waits "
                    "for %lld session%s to reclaim their locks before granting new ones\n",
                    awaited, awaited == 1 ? "" : "s");
        status = nsl_cli_print_entries("show", rows, count, &topts) ? NSL_EXIT_OK : NSL_EXIT_USAGE;
        nslock_free(rows);
    }
    nslock_close(c);
    return status;
}
