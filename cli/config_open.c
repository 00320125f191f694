/* cli/config_open.c — a configuration loaded all the way to a resolver, for
 * the subcommands that work from a file (resolve, map, serve). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config_open.h"
#include "cli/connect.h"

static void print_failure(const char *cmd, const char *path, nsl_diags *diags)
{
    nsl_diags_sort(diags);
    nsl_diags_print(diags, stderr);
    if (nsl_diags_count(diags, NSL_DIAG_ERROR) == 0)
        fprintf(stderr, "nslock: %s: cannot load the configuration %s\n", cmd,
                path ? path : "(embedded default)");
}

/* Builds cr from the text (owned by cr from here on) or, text NULL, the
 * embedded default. */
static bool open_text(nsl_cli_resolver *cr, const char *cmd, const char *name, char *text,
                      size_t len, nsl_diags *diags)
{
    cr->text = text;
    cr->text_len = len;
    if (text) {
        if (nsl_config_load_buffer(name, text, len, &cr->cfg, diags) != NSL_CONFIG_OK)
            return false;
    } else {
        cr->cfg = nsl_config_default();
        if (cr->cfg == NULL)
            return false;
    }
    cr->reg = nsl_registry_build(cr->cfg, diags);
    if (cr->reg == NULL)
        return false;
    cr->res = nsl_resolver_new(cr->reg, diags);
    (void)cmd;
    return cr->res != NULL;
}

bool nsl_cli_resolver_open(nsl_cli_resolver *cr, const char *cmd, const char *path)
{
    memset(cr, 0, sizeof *cr);
    nsl_diags diags;
    nsl_diags_init(&diags);
    bool ok = false;
    char *text = NULL;
    size_t len = 0;
    if (path == NULL || (text = nsl_config_read(path, &len, &diags)) != NULL)
        ok = open_text(cr, cmd, path && strcmp(path, "-") ? path : NSL_CONFIG_STDIN, text, len,
                       &diags);
    if (!ok) {
        print_failure(cmd, path, &diags);
        nsl_cli_resolver_close(cr);
    }
    nsl_diags_free(&diags);
    return ok;
}

bool nsl_cli_resolver_open_server(nsl_cli_resolver *cr, const char *cmd,
                                  const char *socket_path)
{
    memset(cr, 0, sizeof *cr);
    nslock *c = nsl_cli_connect_or(cmd, socket_path, NSLOCK_KEEPER_NONE,
                                    "or give --config FILE to read a file instead");
    nslock_config_source *src = NULL;
    nslock_error err;
    if (c == NULL)
        return false;
    int rc = nslock_config_text(c, &src, &err);
    nslock_close(c);
    if (rc < 0) {
        nsl_cli_report(cmd, &err);
        return false;
    }
    nsl_diags diags;
    nsl_diags_init(&diags);
    char *text = malloc(src->len + 1);
    bool ok = false;
    if (text == NULL) {
        fprintf(stderr, "nslock: %s: out of memory\n", cmd);
    } else {
        memcpy(text, src->text, src->len + 1);
        ok = open_text(cr, cmd, src->file, text, src->len, &diags);
        if (!ok) {
            print_failure(cmd, src->file, &diags);
            fprintf(stderr, "nslock: %s: the server's configuration %s does not load here "
                            "(an nslock of another version?); give --config FILE\n",
                    cmd, src->file);
            nsl_cli_resolver_close(cr);
        }
    }
    nsl_diags_free(&diags);
    nslock_free(src);
    return ok;
}

void nsl_cli_resolver_close(nsl_cli_resolver *cr)
{
    nsl_resolver_free(cr->res);
    nsl_registry_free(cr->reg);
    nsl_config_free(cr->cfg);
    free(cr->text);
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
                           const char **socket_path, nsl_table_opts *topts)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"namespace", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        NSL_TABLE_LONGOPTS,
        NSL_CONNECT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "c:N:h" NSL_TABLE_SHORTOPTS, longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': *config = optarg; break;
        case 'N': *namespace = optarg; break;
        case NSL_OPT_SOCKET: *socket_path = optarg; break;
        NSL_CONNECT_CASES(cmd);
        case 'h': usage(stdout); return NSL_EXIT_OK;
        default:
            if (!nsl_table_option(topts, opt, optarg))
                return nsl_cli_bad_option(cmd, opt, "cNo", argv);
        }
    }
    return -1;
}

void nsl_cli_warn_namespace_names(const nsl_cli_resolver *cr, const char *cmd,
                                  char **names, int count)
{
    for (int i = 0; i < count; i++)
        if (nsl_registry_find_namespace(cr->reg, names[i]))
            fprintf(stderr, "nslock: %s: warning: %s is a namespace; did you mean -N %s? "
                            "(-n is --noheadings)\n", cmd, names[i], names[i]);
}
