/* nslock map: a namespace's effective map, as consecutive ranges of global
 * references and the database each goes to, like GDE's SHOW -MAP (SPEC 9). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config_open.h"
#include "cli/table.h"

enum { COL_FROM, COL_TO, COL_DATABASE, COL_DIRECTORY, COL_RULE, COL_WHERE };

static const nsl_table_column columns[] = {
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
            "\n"
            "Show a namespace's effective map: consecutive ranges of global references,\n"
            "in collation order, and the database each range goes to.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE      the configuration (default: the embedded one)\n"
            "  -N, --namespace NS     the namespace (default: the default namespace)\n"
            "  -h, --help             show this help\n");
    nsl_table_usage(out, columns, NCOLUMNS);
    fprintf(out,
            "\nBounds: ^G(1) is that node; ^G(1,END) is just after ^G(1) and its whole\n"
            "subtree; ^%% is the first global; after a wildcard P* the bound is the next\n"
            "possible name (^Loh after Log*); ... is the end.\n"
            "\nExit status: 0 success, 2 a bad option, namespace or configuration.\n");
}

int nsl_cmd_map(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--diff"))
            return nsl_cmd_map_diff(argc, argv);
    const char *config = NULL, *namespace = NULL;
    nsl_table_opts topts = {0};
    int done = nsl_cli_config_options(argc, argv, "map", usage, &config, &namespace, &topts);
    if (done >= 0)
        return done;
    if (optind < argc) {
        fprintf(stderr, "nslock: map: unexpected argument '%s'\nTry 'nslock map --help'.\n",
                argv[optind]);
        return NSL_EXIT_USAGE;
    }

    nsl_cli_resolver cr;
    if (!nsl_cli_resolver_open(&cr, "map", config))
        return NSL_EXIT_USAGE;
    int status = NSL_EXIT_USAGE;
    nsl_table *t = NULL;
    const nsl_namespace *ns = nsl_cli_namespace(&cr, "map", namespace);
    if (ns == NULL)
        goto out;
    t = nsl_table_new("map", "map", columns, NCOLUMNS, &topts);
    if (t == NULL)
        goto out;
    status = NSL_EXIT_OK;
    size_t n = nsl_resolver_map_count(cr.res, ns->id);
    for (size_t i = 0; i < n && status == NSL_EXIT_OK; i++) {
        const nsl_map_range *r = nsl_resolver_map_range(cr.res, ns->id, i);
        const nsl_database *db = nsl_registry_database(cr.reg, r->db);
        char where[512] = "";
        if (r->mapping)
            snprintf(where, sizeof where, "%s:%d:%d", cr.cfg->file, r->mapping->pos.line,
                     r->mapping->pos.col);
        const char *cells[NCOLUMNS] = {
            [COL_FROM] = r->from,
            [COL_TO] = r->to,
            [COL_DATABASE] = db->name,
            [COL_DIRECTORY] = db->directory,
            [COL_RULE] = r->mapping ? r->mapping->rule : "(globals)",
            [COL_WHERE] = where,
        };
        if (!nsl_table_add_row(t, cells)) {
            fprintf(stderr, "nslock: map: out of memory\n");
            status = NSL_EXIT_USAGE;
        }
    }
    if (status == NSL_EXIT_OK && !nsl_table_print(t)) {
        fprintf(stderr, "nslock: map: cannot write the output\n");
        status = NSL_EXIT_USAGE;
    }
out:
    nsl_table_free(t);
    nsl_cli_resolver_close(&cr);
    return status;
}
