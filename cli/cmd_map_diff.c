/* nslock map --diff OLD NEW: the lock names whose databases change between
 * two configurations — what a mapping change moves while locks are held or
 * while application servers still run the old map. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config_open.h"
#include "cli/connect.h"
#include "cli/table.h"

enum { COL_NAMESPACE, COL_FROM, COL_TO, COL_OLD, COL_NEW, COL_OLD_RULE, COL_NEW_RULE };

static const nsl_table_column columns[] = {
    [COL_NAMESPACE] = {"NAMESPACE", 0.1, 0, "the namespace, or (local) for local lock names"},
    [COL_FROM]      = {"FROM", 0.15, 0, "first reference of the range (inclusive), or the node"},
    [COL_TO]        = {"TO", 0.15, 0, "end of the range (exclusive); (node): that node alone"},
    [COL_OLD]       = {"OLD", 0.1, 0, "databases under OLD"},
    [COL_NEW]       = {"NEW", 0.1, 0, "databases under NEW"},
    [COL_OLD_RULE]  = {"OLD_RULE", 0.2, NSL_COL_TRUNC, "the rule deciding under OLD, and where"},
    [COL_NEW_RULE]  = {"NEW_RULE", 0.2, NSL_COL_TRUNC, "the rule deciding under NEW, and where"},
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: nslock map --diff [OPTIONS] OLD.yaml NEW.yaml\n"
            "\n"
            "Show the lock names whose databases change from OLD to NEW: for every\n"
            "namespace (or one), the ranges of global references and the single nodes\n"
            "that land in another set of databases, and where local locks go. A range\n"
            "row covers every name whose whole subtree lies in it; a name whose subtree\n"
            "spans several ranges (^Orders over ^Orders(1):(1000)) has its own row.\n"
            "Run it before rolling out a new map: while a moved name is locked, or\n"
            "while some servers still run OLD, two processes can lock it at once.\n"
            "\n"
            "Options:\n"
            "  -N, --namespace NS     only the namespace NS\n"
            "  -h, --help             show this help\n");
    nsl_table_usage(out, columns, NCOLUMNS);
    fprintf(out, "\nExit status: 0 nothing moves, 1 something moves, 2 a bad option or\n"
                 "configuration.\n");
}

static const char *rule_text(const nsl_cli_resolver *cr, const nsl_cfg_mapping *m, char *buf,
                             size_t cap)
{
    if (!m)
        return "(globals)";
    return nsl_cli_mapping_text(cr, m, buf, cap);
}

static const char *dbs_text(const char *dbs)
{
    return dbs && *dbs ? dbs : "(none)";
}

int nsl_cmd_map_diff(int argc, char **argv)
{
    enum { OPT_DIFF = 256 };
    static const struct option longopts[] = {
        {"diff", no_argument, NULL, OPT_DIFF},
        {"namespace", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        NSL_TABLE_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *namespace = NULL;
    nsl_table_opts topts = {0};
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "N:h" NSL_TABLE_SHORTOPTS, longopts, NULL)) != -1) {
        if (opt == OPT_DIFF)
            continue;
        if (opt == 'N') {
            namespace = optarg;
        } else if (opt == 'h') {
            usage(stdout);
            return NSL_EXIT_OK;
        } else if (!nsl_table_option(&topts, opt, optarg)) {
            return nsl_cli_bad_option("map", opt, "No", argv);
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "nslock: map: --diff wants two files, OLD and NEW\n"
                        "Try 'nslock map --diff --help'.\n");
        return NSL_EXIT_USAGE;
    }
    nsl_cli_resolver old, new;
    if (!nsl_cli_resolver_open(&old, "map", argv[optind]))
        return NSL_EXIT_USAGE;
    if (!nsl_cli_resolver_open(&new, "map", argv[optind + 1])) {
        nsl_cli_resolver_close(&old);
        return NSL_EXIT_USAGE;
    }
    int status = NSL_EXIT_USAGE;
    nsl_table *t = NULL;
    nsl_map_diff d = {0};
    nsl_error err = {0};
    if (nsl_map_diff_compute(old.res, new.res, namespace, &d, &err) != NSL_OK) {
        fprintf(stderr, "nslock: map: %s\n", err.message);
        goto out;
    }
    t = nsl_table_new("map", "changes", columns, NCOLUMNS, &topts);
    if (t == NULL)
        goto out;
    status = d.count ? NSL_EXIT_FAIL : NSL_EXIT_OK;
    for (size_t i = 0; i < d.count; i++) {
        const nsl_map_change *c = &d.changes[i];
        char orule[512], nrule[512];
        const char *from = c->from, *to = c->to;
        const char *ort = rule_text(&old, c->old_rule, orule, sizeof orule);
        const char *nrt = rule_text(&new, c->new_rule, nrule, sizeof nrule);
        if (c->kind == NSL_CHANGE_NODE)
            to = "(node)";
        else if (c->kind == NSL_CHANGE_LOCALS)
            from = "(local names)", to = "", ort = nrt = "local_locks";
        else if (c->kind == NSL_CHANGE_NAMESPACE)
            ort = nrt = c->old_dbs[0] ? "(namespace removed)" : "(namespace added)";
        const char *cells[NCOLUMNS] = {
            [COL_NAMESPACE] = c->namespace ? c->namespace : "(local)",
            [COL_FROM] = from,
            [COL_TO] = to,
            [COL_OLD] = dbs_text(c->old_dbs),
            [COL_NEW] = dbs_text(c->new_dbs),
            [COL_OLD_RULE] = ort,
            [COL_NEW_RULE] = nrt,
        };
        if (!nsl_table_add_row(t, cells)) {
            fprintf(stderr, "nslock: map: out of memory\n");
            status = NSL_EXIT_USAGE;
            goto out;
        }
    }
    if (!nsl_table_print(t)) {
        fprintf(stderr, "nslock: map: cannot write the output\n");
        status = NSL_EXIT_USAGE;
    }
out:
    nsl_table_free(t);
    nsl_map_diff_free(&d);
    nsl_cli_resolver_close(&old);
    nsl_cli_resolver_close(&new);
    return status;
}
