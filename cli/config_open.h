/* cli/config_open.h — a configuration loaded all the way to a resolver, for
 * the subcommands that work from a file (resolve, map, serve). */
#ifndef NSL_CLI_CONFIG_OPEN_H
#define NSL_CLI_CONFIG_OPEN_H

#include <stdbool.h>
#include <stdio.h>

#include "cli/table.h"
#include "mapping/mapping.h"

typedef struct nsl_cli_resolver {
    nsl_config *cfg;
    nsl_registry *reg;
    nsl_resolver *res;
} nsl_cli_resolver;

/* Loads path (NULL: the embedded default) and builds its registry and
 * resolver. On any error prints the diagnostics to stderr and returns false
 * (the caller exits with status 2); warnings alone are not printed. */
bool nsl_cli_resolver_open(nsl_cli_resolver *cr, const char *cmd, const char *path);
void nsl_cli_resolver_close(nsl_cli_resolver *cr);

/* The namespace called name (NULL: the default one); prints an error naming
 * it and returns NULL when there is none. */
const nsl_namespace *nsl_cli_namespace(const nsl_cli_resolver *cr, const char *cmd,
                                       const char *name);

/* "RULE (FILE:LINE)" for a mapping, into buf. */
const char *nsl_cli_mapping_text(const nsl_cli_resolver *cr, const nsl_cfg_mapping *m,
                                 char *buf, size_t cap);

/* The options every file-based table subcommand takes: -c/--config FILE,
 * -N/--namespace NS, -h/--help and the table options of cli/table.h.
 * Returns -1 to go on (operands start at optind), else the exit status:
 * help was printed, or a usage error reported. */
int nsl_cli_config_options(int argc, char **argv, const char *cmd, void (*usage)(FILE *),
                           const char **config, const char **namespace,
                           nsl_table_opts *topts);

#endif
