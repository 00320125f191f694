/* server — `nslock serve`: the lock server (docs/PROTOCOL.md).
 *
 * One libuv loop owns the lock engine. Clients connect over a Unix socket
 * (always) and over TCP when the configuration has server.listen; each
 * connection is one session, which is one engine owner. The server runs in
 * the foreground, logs to stderr and stops on SIGTERM or SIGINT.
 */
#ifndef NSL_SERVER_H
#define NSL_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "locks/locks.h"

typedef enum nsl_log_level {
    NSL_LOG_ERROR,
    NSL_LOG_WARN,
    NSL_LOG_INFO,
    NSL_LOG_DEBUG,
} nsl_log_level;

/* "error", "warn" (or "warning"), "info", "debug", any case. */
bool nsl_log_level_parse(const char *text, nsl_log_level *out);

typedef enum nsl_log_format {
    NSL_LOG_TEXT,                /* a line of words (the default) */
    NSL_LOG_JSON,                /* one JSON object a line: time, level, msg, fields */
} nsl_log_format;

/* "text" or "json", any case. */
bool nsl_log_format_parse(const char *text, nsl_log_format *out);

typedef struct nsl_server_options {
    const char *socket_path;     /* NULL: server.socket, else the default path */
    const char *state_dir;       /* NULL: server.state_dir, else the default (docs/DESIGN.md) */
    nsl_log_level log_level;     /* NSL_LOG_INFO unless told otherwise */
    nsl_log_format log_format;   /* NSL_LOG_TEXT unless told otherwise */
    const char *config_text;     /* the YAML the configuration was loaded from, answered to
                                    CONFIG; NULL: the embedded default's */
    size_t config_len;
    const char *io_method;       /* "epoll", "io_uring", "auto"; NULL: server.io_method */
} nsl_server_options;

void nsl_server_options_init(nsl_server_options *opt);

/* The default socket path, in a directory only its user may use:
 * $XDG_RUNTIME_DIR/nslock/nslock.sock, else /tmp/nslock-<uid>/nslock.sock.
 * snprintf-like: returns the length it needs. */
size_t nsl_server_default_socket(char *buf, size_t cap);

/* Serves until SIGTERM or SIGINT. Borrows resolver (and through it the
 * registry and the configuration). Returns the process exit status: 0 after
 * a clean stop, 1 when the server could not start (the reason is logged). */
int nsl_server_run(const nsl_resolver *resolver, const nsl_server_options *opt);

#endif
