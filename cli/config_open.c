/* cli/config_open.c — a configuration loaded all the way to a resolver, for
 * the subcommands that work from a file (resolve, map, serve). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config_open.h"

static void print_failure(const char *cmd, const char *path, nsl_diags *diags)
{
    nsl_diags_sort(diags);
    nsl_diags_print(diags, stderr);
    if (nsl_diags_count(diags, NSL_DIAG_ERROR) == 0)
        fprintf(stderr, "nslock: %s: cannot load the configuration %s\n", cmd,
                path ? path : "(embedded default)");
}

bool nsl_cli_resolver_open(nsl_cli_resolver *cr, const char *cmd, const char *path)
{
    memset(cr, 0, sizeof *cr);
    nsl_diags diags;
    nsl_diags_init(&diags);
    bool ok = false;
    if (path) {
        if (nsl_config_load_file(path, &cr->cfg, &diags) != NSL_CONFIG_OK)
            goto out;
    } else {
        cr->cfg = nsl_config_default();
        if (cr->cfg == NULL)
            goto out;
    }
    cr->reg = nsl_registry_build(cr->cfg, &diags);
    if (cr->reg == NULL)
        goto out;
    cr->res = nsl_resolver_new(cr->reg, &diags);
    ok = cr->res != NULL;
out:
    if (!ok) {
        print_failure(cmd, path, &diags);
        nsl_cli_resolver_close(cr);
    }
    nsl_diags_free(&diags);
    return ok;
}

void nsl_cli_resolver_close(nsl_cli_resolver *cr)
{
    nsl_resolver_free(cr->res);
    nsl_registry_free(cr->reg);
    nsl_config_free(cr->cfg);
    memset(cr, 0, sizeof *cr);
}

const nsl_namespace *nsl_cli_namespace(const nsl_cli_resolver *cr, const char *cmd,
                                       const char *name)
{
    const nsl_namespace *ns = name ? nsl_registry_find_namespace(cr->reg, name)
                                   : nsl_registry_default_namespace(cr->reg);
    if (ns == NULL) {
        if (name)
            fprintf(stderr, "nslock: %s: unknown namespace '%s'\n", cmd, name);
        else
            fprintf(stderr, "nslock: %s: the configuration has no namespace\n", cmd);
    }
    return ns;
}

const char *nsl_cli_mapping_text(const nsl_cli_resolver *cr, const nsl_cfg_mapping *m,
                                 char *buf, size_t cap)
{
    if (m == NULL)
        return "";
    snprintf(buf, cap, "%s (%s:%d)", m->rule, cr->cfg->file, m->pos.line);
    return buf;
}

int nsl_cli_config_options(int argc, char **argv, const char *cmd, void (*usage)(FILE *),
                           const char **config, const char **namespace,
                           nsl_table_opts *topts)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"namespace", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        NSL_TABLE_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "c:N:h" NSL_TABLE_SHORTOPTS, longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': *config = optarg; break;
        case 'N': *namespace = optarg; break;
        case 'h': usage(stdout); return NSL_EXIT_OK;
        case '?':
            fprintf(stderr, "nslock: %s: %s '%s'\nTry 'nslock %s --help'.\n", cmd,
                    optopt && strchr("cNo", optopt) ? "missing argument for" : "unknown option",
                    argv[optind - 1], cmd);
            return NSL_EXIT_USAGE;
        default:
            nsl_table_option(topts, opt, optarg);
        }
    }
    return -1;
}
