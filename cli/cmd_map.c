/* nslock map: a namespace's effective map, as consecutive ranges of global
 * references and the database each goes to, like GDE's SHOW -MAP; --all for
 * every namespace; local lock names last (GDE's LOCAL LOCKS). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config_open.h"
#include "cli/connect.h"
#include "cli/table.h"

enum { COL_NAMESPACE, COL_FROM, COL_TO, COL_DATABASE, COL_DIRECTORY, COL_RULE, COL_WHERE };

static const nsl_table_column columns[] = {
    [COL_NAMESPACE] = {"NAMESPACE", 0.1, NSL_COL_OPTIONAL, "the namespace (shown with --all)"},
    [COL_FROM]      = {"FROM", 0.2, 0, "first reference of the range (inclusive)"},
    [COL_TO]        = {"TO", 0.2, 0, "end of the range (exclusive)"},
    [COL_DATABASE]  = {"DATABASE", 0.1, 0, "the database of every node in the range"},
    [COL_DIRECTORY] = {"DIRECTORY", 0.2, 0, "that database's directory"},
    [COL_RULE]      = {"RULE", 0.2, 0, "the map rule, or (globals) for the namespace's default"},
    [COL_WHERE]     = {"WHERE", 0.1, NSL_COL_OPTIONAL, "FILE:LINE:COL of the rule"},
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: nslock map [OPTIONS]\n"
            "       nslock map --diff [OPTIONS] OLD.yaml NEW.yaml\n"
            "\n"
            "Show a namespace's effective map: consecutive ranges of global references,\n"
            "in collation order, and the database each range goes to; then where local\n"
            "lock names (no caret) go, the same in every namespace. --diff: what moves\n"
            "between two configurations (see 'nslock map --diff --help').\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE      read the configuration FILE (default: ask the\n"
            "                         running server for the configuration it serves)\n"
            "  -N, --namespace NS     the namespace (default: the default namespace)\n"
            "  -a, --all              every namespace, one after another\n");
    nsl_cli_socket_usage(out);
    fprintf(out, "  -h, --help             show this help\n");
    nsl_table_usage(out, columns, NCOLUMNS);
    fprintf(out,
            "\nBounds: ^G(1) is that node; ^G(1,END) is just after ^G(1) and its whole\n"
            "subtree; ^%% is the first global; after a wildcard P* the bound is the next\n"
            "possible name (^Loh after Log*); ... is the end.\n"
            "\nExit status: 0 success, 2 a bad option, namespace or configuration, or no\n"
            "server to ask (without --config).\n");
}

static bool add_namespace_rows(const nsl_cli_resolver *cr, const nsl_namespace *ns, nsl_table *t)
{
    size_t n = nsl_resolver_map_count(cr->res, ns->id);
    for (size_t i = 0; i < n; i++) {
        const nsl_map_range *r = nsl_resolver_map_range(cr->res, ns->id, i);
        const nsl_database *db = nsl_registry_database(cr->reg, r->db);
        char where[512] = "";
        if (r->mapping)
            snprintf(where, sizeof where, "%s:%d:%d", cr->cfg->file, r->mapping->pos.line,
                     r->mapping->pos.col);
        const char *cells[NCOLUMNS] = {
            [COL_NAMESPACE] = ns->name,
            [COL_FROM] = r->from,
            [COL_TO] = r->to,
            [COL_DATABASE] = db->name,
            [COL_DIRECTORY] = db->directory,
            [COL_RULE] = r->mapping ? r->mapping->rule : "(globals)",
            [COL_WHERE] = where,
        };
        if (!nsl_table_add_row(t, cells))
            return false;
    }
    return true;
}

/* Local names are one space for the whole server (GDE's LOCAL LOCKS). */
static bool add_local_row(const nsl_cli_resolver *cr, const char *ns_name, nsl_table *t)
{
    const nsl_database *db = nsl_registry_local_locks(cr->reg);
    if (!db)
        return true;
    char where[512] = "";
    if (cr->cfg->local_locks)
        snprintf(where, sizeof where, "%s:%d:%d", cr->cfg->file, cr->cfg->local_locks_pos.line,
                 cr->cfg->local_locks_pos.col);
    const char *cells[NCOLUMNS] = {
        [COL_NAMESPACE] = ns_name,
        [COL_FROM] = "(local)",      /* every name without a caret */
        [COL_TO] = "...",
        [COL_DATABASE] = db->name,
        [COL_DIRECTORY] = db->directory,
        [COL_RULE] = cr->cfg->local_locks ? "(local_locks)" : "(local_locks: default)",
        [COL_WHERE] = where,
    };
    return nsl_table_add_row(t, cells);
}

int nsl_cmd_map(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--diff"))
            return nsl_cmd_map_diff(argc, argv);
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"namespace", required_argument, NULL, 'N'},
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        NSL_TABLE_LONGOPTS,
        NSL_CONNECT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *namespace = NULL, *socket_path = NULL;
    bool all = false;
    nsl_table_opts topts = {0};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "c:N:ah" NSL_TABLE_SHORTOPTS, longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'N': namespace = optarg; break;
        case 'a': all = true; break;
        case NSL_OPT_SOCKET: socket_path = optarg; break;
        NSL_CONNECT_CASES("map");
        case 'h': usage(stdout); return NSL_EXIT_OK;
        default:
            if (!nsl_table_option(&topts, opt, optarg))
                return nsl_cli_bad_option("map", opt, "cNo", argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nslock: map: unexpected argument '%s'\nTry 'nslock map --help'.\n",
                argv[optind]);
        return NSL_EXIT_USAGE;
    }
    if (all && namespace) {
        fprintf(stderr, "nslock: map: --all and --namespace exclude each other\n"
                        "Try 'nslock map --help'.\n");
        return NSL_EXIT_USAGE;
    }
    if (all && !topts.output)
        topts.output = "NAMESPACE,FROM,TO,DATABASE,DIRECTORY,RULE";

    nsl_cli_resolver cr;
    if (config ? !nsl_cli_resolver_open(&cr, "map", config)
               : !nsl_cli_resolver_open_server(&cr, "map", socket_path))
        return NSL_EXIT_USAGE;
    int status = NSL_EXIT_USAGE;
    nsl_table *t = NULL;
    const nsl_namespace *ns = all ? NULL : nsl_cli_namespace(&cr, "map", namespace);
    if (!all && ns == NULL)
        goto out;
    t = nsl_table_new("map", "map", columns, NCOLUMNS, &topts);
    if (t == NULL)
        goto out;
    bool ok = true;
    if (all) {
        size_t n = nsl_registry_namespace_count(cr.reg);
        for (uint32_t i = 0; i < n && ok; i++)
            ok = add_namespace_rows(&cr, nsl_registry_namespace(cr.reg, i), t);
        ok = ok && add_local_row(&cr, "(all)", t);
    } else {
        ok = add_namespace_rows(&cr, ns, t) && add_local_row(&cr, ns->name, t);
    }
    if (!ok) {
        fprintf(stderr, "nslock: map: out of memory\n");
        goto out;
    }
    status = NSL_EXIT_OK;
    if (!nsl_table_print(t)) {
        fprintf(stderr, "nslock: map: cannot write the output\n");
        status = NSL_EXIT_USAGE;
    }
out:
    nsl_table_free(t);
    nsl_cli_resolver_close(&cr);
    return status;
}
