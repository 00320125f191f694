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
    char *text;          /* the YAML cfg was loaded from; NULL for the embedded default */
    size_t text_len;
} nsl_cli_resolver;

/* Loads path (NULL: the embedded default) and builds its registry and
 * resolver. On any error prints the diagnostics to stderr and returns false
 * (the caller exits with status 2); warnings alone are not printed. */
bool nsl_cli_resolver_open(nsl_cli_resolver *cr, const char *cmd, const char *path);

/* The same with the configuration the running server loaded (CONFIG), so
 * that what is shown is what the server does. socket_path as for
 * nsl_cli_connect(). With no server to ask, says to start one or to give
 * --config, and returns false (exit status 2). */
bool nsl_cli_resolver_open_server(nsl_cli_resolver *cr, const char *cmd,
                                  const char *socket_path);
void nsl_cli_resolver_close(nsl_cli_resolver *cr);

/* The namespace called name (NULL: the default one); prints an error naming
 * it and returns NULL when there is none. */
const nsl_namespace *nsl_cli_namespace(const nsl_cli_resolver *cr, const char *cmd,
                                       const char *name);

/* "RULE (FILE:LINE)" for a mapping, into buf. */
const char *nsl_cli_mapping_text(const nsl_cli_resolver *cr, const nsl_cfg_mapping *m,
                                 char *buf, size_t cap);

/* The options every configuration-reading table subcommand takes:
 * -c/--config FILE, -N/--namespace NS, --socket PATH, -h/--help and the
 * table options of cli/table.h. Returns -1 to go on (operands start at
 * optind, options may follow them), else the exit status: help was printed,
 * or a usage error reported. */
int nsl_cli_config_options(int argc, char **argv, const char *cmd, void (*usage)(FILE *),
                           const char **config, const char **namespace,
                           const char **socket_path, nsl_table_opts *topts);

/* Warns, when -n (--noheadings) was given, about each name that is a
 * namespace of cr's configuration: `-n BETA` meant for -N BETA. */
void nsl_cli_warn_namespace_names(const nsl_cli_resolver *cr, const char *cmd,
                                  char **names, int count);

#endif
