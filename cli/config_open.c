/* cli/config_open.c — a configuration loaded all the way to a resolver, for
 * the subcommands that work from a file (resolve, map, serve). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
