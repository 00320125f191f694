/* nslock resolve: the databases each lock name lands in, and why (docs/CONFIG.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config_open.h"
#include "cli/connect.h"
#include "cli/table.h"

enum { COL_NAME, COL_NAMESPACE, COL_DATABASE, COL_DIRECTORY, COL_RULE, COL_MAPPING };

static const nsl_table_column columns[] = {
    [COL_NAME]      = {"NAME", 0.2, 0, "the lock name, canonical"},
    [COL_NAMESPACE] = {"NAMESPACE", 0.1, 0, "the namespace it was resolved in"},
    [COL_DATABASE]  = {"DATABASE", 0.1, 0, "a database it lands in"},
    [COL_DIRECTORY] = {"DIRECTORY", 0.2, 0, "that database's directory"},
    [COL_RULE]      = {"RULE", 0.1, 0, "why: local, globals, map, subtree, namespace, implied"},
    [COL_MAPPING]   = {"MAPPING", 0.3, 0, "the map rule that decided, and where it is"},
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: nslock resolve [OPTIONS] NAME...\n"
            "\n"
            "Show the databases each lock name lands in, and the rule that decided each.\n"
            "NAME is a lock name as LOCK takes it: ^Orders(15), ^[\"BETA\"]X(1), x(1).\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE      read the configuration FILE (default: ask the\n"
            "                         running server for the configuration it serves)\n"
            "  -N, --namespace NS     resolve in NS (default: the default namespace)\n");
    nsl_cli_socket_usage(out);
    fprintf(out, "  -h, --help             show this help\n");
    nsl_table_usage(out, columns, NCOLUMNS);
    fprintf(out,
            "\nRules: local (no caret: the local_locks database), globals (outside every\n"
            "mapping), map (inside MAPPING), subtree (MAPPING holds a node below NAME),\n"
            "namespace (the global is mapped in NS: NS's globals database too),\n"
            "implied (^[\"^^DIR\"]: the database with that directory).\n"
            "\nOptions may follow the names.\n"
            "\nExit status: 0 success, 2 a bad name, option or configuration, or no\n"
            "server to ask (without --config).\n");
}

/* Adds the rows of one name; false (message printed) if it does not resolve. */
static bool resolve_one(const nsl_cli_resolver *cr, const nsl_namespace *ns, const char *text,
                        nsl_table *t)
{
    nsl_lockname name;
    nsl_error err = {0};
    nsl_resolution res;
    if (nsl_lockname_parse(text, strlen(text), NULL, &name, &err) != NSL_OK
        || nsl_resolve(cr->res, ns->id, &name, &res, &err) != NSL_OK) {
        if (err.column > 0)
            fprintf(stderr, "nslock: resolve: %s: column %d: %s\n", text, err.column, err.message);
        else
            fprintf(stderr, "nslock: resolve: %s: %s\n", text, err.message);
        return false;
    }

    char small[512], *canon = small;
    size_t need = nsl_lockname_format(&name, small, sizeof small);
    if (need >= sizeof small && (canon = malloc(need + 1)) != NULL)
        nsl_lockname_format(&name, canon, need + 1);
    if (canon == NULL)
        canon = small;   /* out of memory: show it cut rather than fail */

    const nsl_namespace *where = nsl_registry_namespace(cr->reg, res.namespace_id);
    bool ok = true;
    for (uint32_t i = 0; i < res.count && ok; i++) {
        const nsl_database *db = nsl_registry_database(cr->reg, res.dbs[i].db);
        char mapping[1024];
        const char *cells[NCOLUMNS] = {
            [COL_NAME] = canon,
            [COL_NAMESPACE] = where ? where->name : "",
            [COL_DATABASE] = db->name,
            [COL_DIRECTORY] = db->directory,
            [COL_RULE] = nsl_rule_kind_name(res.dbs[i].rule),
            [COL_MAPPING] = nsl_cli_mapping_text(cr, res.dbs[i].mapping, mapping, sizeof mapping),
        };
        ok = nsl_table_add_row(t, cells);
    }
    if (canon != small)
        free(canon);
    if (!ok)
        fprintf(stderr, "nslock: resolve: out of memory\n");
    return ok;
}

int nsl_cmd_resolve(int argc, char **argv)
{
    const char *config = NULL, *namespace = NULL, *socket_path = NULL;
    nsl_table_opts topts = {0};
    int done = nsl_cli_config_options(argc, argv, "resolve", usage, &config, &namespace,
                                      &socket_path, &topts);
    if (done >= 0)
        return done;
    if (optind >= argc) {
        fprintf(stderr, "nslock: resolve: no lock name given\nTry 'nslock resolve --help'.\n");
        return NSL_EXIT_USAGE;
    }

    nsl_cli_resolver cr;
    if (config ? !nsl_cli_resolver_open(&cr, "resolve", config)
               : !nsl_cli_resolver_open_server(&cr, "resolve", socket_path))
        return NSL_EXIT_USAGE;
    if (topts.noheadings)
        nsl_cli_warn_namespace_names(&cr, "resolve", argv + optind, argc - optind);
    int status = NSL_EXIT_USAGE;
    nsl_table *t = NULL;
    const nsl_namespace *ns = nsl_cli_namespace(&cr, "resolve", namespace);
    if (ns == NULL)
        goto out;
    t = nsl_table_new("resolve", "resolution", columns, NCOLUMNS, &topts);
    if (t == NULL)
        goto out;
    status = NSL_EXIT_OK;
    for (int i = optind; i < argc; i++)
        if (!resolve_one(&cr, ns, argv[i], t))
            status = NSL_EXIT_USAGE;
    if (!nsl_table_print(t)) {
        fprintf(stderr, "nslock: resolve: cannot write the output\n");
        status = NSL_EXIT_USAGE;
    }
out:
    nsl_table_free(t);
    nsl_cli_resolver_close(&cr);
    return status;
}
