/* client/client_internal.h — what the files of libnslock share: conn.c
 * (sockets, buffered lines, deadlines, errors), text.c (request text) and
 * api.c (the API). Never included outside them. */
#ifndef NSL_CLIENT_INTERNAL_H
#define NSL_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nslock.h"

#define NSL_CLIENT_DEFAULT_GRACE 10.0
#define NSL_CLIENT_MAX_LINE (1u << 20)   /* longest answer line accepted */

struct nslock {
    int fd;                     /* -1 once the connection is closed */
    uint64_t session;
    double grace;               /* seconds; negative: forever */
    char where[160];            /* socket path or host:port, for messages */
    char ns[64];                /* current namespace, "" when not known */
    char *rbuf;                 /* bytes [rpos, rlen) received, not consumed */
    size_t rpos, rlen, rcap;
    char *wbuf;                 /* the request being built */
    size_t wlen, wcap;
    bool woverflow;             /* the request did not fit in memory */
    size_t show_left;           /* SHOW rows not yet read by nslock_show_next */
};

/* ---- errors (conn.c) ---- */

/* Fills *err (err may be NULL) and returns -1. */
int nsl_client_fail(nslock_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same, and closes the connection: the answer stream is out of step. */
int nsl_client_fail_close(nslock *c, nslock_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Fills *err from an "ERR CODE message" line (line points after "ERR "). */
int nsl_client_server_error(nslock_error *err, const char *rest);
void nsl_client_ok(nslock_error *err);

/* ---- connection (conn.c) ---- */

nslock *nsl_client_new(nslock_error *err);
int nsl_client_open_unix(nslock *c, const char *path, nslock_error *err);
int nsl_client_open_tcp(nslock *c, const char *host_port, nslock_error *err);
void nsl_client_close_fd(nslock *c);

/* Monotonic seconds; the deadline `wait` seconds plus the grace period from
 * now, or a negative value (none) when either is negative. */
double nsl_client_now(void);
double nsl_client_deadline(const nslock *c, double wait);

/* Sends the request in c->wbuf. */
int nsl_client_send(nslock *c, double deadline, nslock_error *err);
/* Reads one line; *line stays valid until the next read (it lives in
 * c->rbuf), its '\n' (and a '\r' before it) replaced by '\0'. */
int nsl_client_read_line(nslock *c, double deadline, char **line, size_t *len,
                         nslock_error *err);

/* ---- request text (text.c) ---- */

void nsl_client_req_reset(nslock *c);
void nsl_client_req_add(nslock *c, const char *s, size_t len);
void nsl_client_req_str(nslock *c, const char *s);
void nsl_client_req_fmt(nslock *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends the line; false (with NOMEM) when the request did not fit in memory. */
int nsl_client_req_end(nslock *c, nslock_error *err);

/* Checks that name is one lock name and cannot be read as several LOCK
 * arguments (no top-level ',' ':' '#' or blank, balanced quotes and brackets). */
int nsl_client_check_name(const char *name, nslock_error *err);
/* Checks a word argument of a request (namespace, database, client name). */
int nsl_client_check_word(const char *what, const char *word, nslock_error *err);
/* Checks and appends #"TYPES" (nothing for the default type). */
int nsl_client_req_types(nslock *c, unsigned types, nslock_error *err);
/* Checks and appends :TIMEOUT (nothing for wait forever). */
int nsl_client_req_timeout(nslock *c, double timeout, nslock_error *err);

/* For a LOCK command in text form: checks it starts with LOCK or L and holds
 * no line break, and computes how long the server may make it wait (seconds,
 * negative: forever). */
int nsl_client_command_wait(const char *command, double *wait, nslock_error *err);

/* Unsigned decimal with nothing after it. */
bool nsl_client_parse_u64(const char *s, uint64_t *v);

#endif
