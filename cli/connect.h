/* cli/connect.h — what the subcommands that talk to a server share (show,
 * shell, lock, remove, stats): the --socket option, connecting through
 * libnslock, error messages and the exit status an error maps to. */
#ifndef NSL_CLI_CONNECT_H
#define NSL_CLI_CONNECT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "client/nslock.h"

/* --socket has no short form (-s is taken by lock and means shared). */
#define NSL_OPT_SOCKET 0x100
#define NSL_CONNECT_LONGOPTS {"socket", required_argument, NULL, NSL_OPT_SOCKET}

/* The --socket line of a subcommand's --help. */
void nsl_cli_socket_usage(FILE *out);
/* The same for a subcommand that also takes --config FILE. */
void nsl_cli_socket_config_usage(FILE *out);

/* How every client finds the server: socket_opt (--socket), else
 * $NSLOCK_SOCKET, else server.socket of the configuration file config
 * (NULL: none given), else NULL (the library's default, see
 * nslock_default_socket). The answer may point into buf. False after
 * printing why config cannot be read, whichever rule wins (exit status 2). */
bool nsl_cli_discover_socket(const char *cmd, const char *socket_opt, const char *config,
                             char *buf, size_t cap, const char **socket_path);

/* Connects to socket_path (NULL: $NSLOCK_SOCKET or the default path) as
 * client "nslock-CMD"; on failure prints why to stderr and returns NULL
 * (the caller exits with NSL_EXIT_USAGE). keeper is NSLOCK_KEEPER_THREAD
 * for the commands that hold locks across a server restart (shell, lock),
 * NSLOCK_KEEPER_NONE for one request and its answer. */
nslock *nsl_cli_connect(const char *cmd, const char *socket_path, int keeper);
/* The same; when no server answers, no_server (e.g. "or give --config FILE")
 * is added to the advice to start one. */
nslock *nsl_cli_connect_or(const char *cmd, const char *socket_path, int keeper,
                           const char *no_server);

/* Prints `nslock: CMD: message` to stderr, in words (no wire codes). */
void nsl_cli_report(const char *cmd, const nslock_error *err);

/* The exit status for a failed call: 2 for a usage mistake the server or
 * library rejected (SYNTAX, NAMESPACE, SUBSCRIPT, COMMAND, ARGUMENT) or a
 * connection problem (IO, TIMEOUT, PROTOCOL, SHUTDOWN, NOMEM), 1 for a
 * request the server refused (DEADLOCK, LIMIT, PROTECT, NOTFOUND, ...). */
int nsl_cli_exit_status(const nslock_error *err);

/* Parses a positive decimal id given to option opt (--owner, --pid); prints
 * an error naming the option and returns false when it is not one. */
bool nsl_cli_parse_id(const char *cmd, const char *opt, const char *arg, uint64_t *value);

/* Reports getopt_long's '?' or ':' for cmd, naming the option, and returns
 * NSL_EXIT_USAGE. with_arg lists the short options that take an argument. */
int nsl_cli_bad_option(const char *cmd, int opt, const char *with_arg, char **argv);

#endif
