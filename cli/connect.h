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

/* --socket has no short form (-s is taken by lock and means shared);
 * --server and --token-file reach a server (or an HA cluster) over TCP. */
#define NSL_OPT_SOCKET 0x100
#define NSL_OPT_SERVER 0x101
#define NSL_OPT_TOKEN_FILE 0x102
#define NSL_CONNECT_LONGOPTS                                                  \
    {"socket", required_argument, NULL, NSL_OPT_SOCKET},                      \
    {"server", required_argument, NULL, NSL_OPT_SERVER},                      \
    {"token-file", required_argument, NULL, NSL_OPT_TOKEN_FILE}

/* --server (repeatable) and --token-file, kept for nsl_cli_connect (one
 * subcommand runs per process). False after printing why (exit status 2). */
bool nsl_cli_tcp_option(const char *cmd, int opt, const char *arg);
/* The switch cases of a subcommand's option loop for the two. */
#define NSL_CONNECT_CASES(cmd)                                                \
    case NSL_OPT_SERVER:                                                      \
    case NSL_OPT_TOKEN_FILE:                                                  \
        if (!nsl_cli_tcp_option(cmd, opt, optarg))                            \
            return NSL_EXIT_USAGE;                                            \
        break

/* The --socket, --server and --token-file lines of a subcommand's --help. */
void nsl_cli_socket_usage(FILE *out);
/* The same for a subcommand that also takes --config FILE. */
void nsl_cli_socket_config_usage(FILE *out);

/* How every client finds the server: --server (TCP), else socket_opt
 * (--socket), else $NSLOCK_SERVERS (TCP), else $NSLOCK_SOCKET, else
 * server.socket of the configuration file config (NULL: none given), else
 * the library's default (nslock_default_socket). *socket_path is the Unix
 * socket when one of those rules chose it, else NULL (the library applies
 * the rest); it may point into buf. False after printing why config cannot
 * be read, whichever rule wins (exit status 2). */
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
/* nsl_cli_connect that also stays with a standby of an HA cluster (stats). */
nslock *nsl_cli_connect_any(const char *cmd, const char *socket_path);

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
