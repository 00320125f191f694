/* libnslock's API (nslock.h): each call is one request of docs/PROTOCOL.md
 * and the reading of its answer. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_internal.h"

/* ---- connections ------------------------------------------------------------ */

int nslock_default_socket(char *buf, size_t cap)
{
    const char *env = getenv("NSLOCK_SOCKET");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (env && *env)
        n = snprintf(buf, cap, "%s", env);
    else if (xdg && *xdg)
        n = snprintf(buf, cap, "%s/nslock.sock", xdg);
    else
        n = snprintf(buf, cap, "/tmp/nslock-%lu.sock", (unsigned long)getuid());
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

static int usable(nslock *c, nslock_error *err);

/* Reads an answer's first line; on "OK ..." sets *rest to what follows OK
 * and returns 0. ERR lines become the server's error (connection kept). */
static int expect_ok(nslock *c, double deadline, const char **rest, nslock_error *err)
{
    char *line;
    size_t len;
    if (nsl_client_read_line(c, deadline, &line, &len, err) < 0)
        return -1;
    if (len >= 2 && line[0] == 'O' && line[1] == 'K' && (line[2] == '\0' || line[2] == ' ')) {
        *rest = line[2] ? line + 3 : line + 2;
        return 0;
    }
    if (len >= 4 && memcmp(line, "ERR ", 4) == 0)
        return nsl_client_server_error(err, line + 4);
    if (len > 5 && memcmp(line, "DATA ", 5) == 0)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "%s answered with data where OK was expected; "
                                     "connection closed", c->where);
    return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                 "unexpected answer from %s: '%.60s'; connection closed",
                                 c->where, line);
}

/* Sends the request built in c->wbuf, then expect_ok(). wait: how long the
 * server may keep it waiting (negative: forever). */
static int request(nslock *c, double wait, const char **rest, nslock_error *err)
{
    if (nsl_client_req_end(c, err) < 0)
        return -1;
    double deadline = nsl_client_deadline(c, wait);
    if (nsl_client_send(c, deadline, err) < 0)
        return -1;
    return expect_ok(c, deadline, rest, err);
}

/* HELLO's answer: "nslock VERSION session ID", maybe followed by more
 * "key value" pairs; "namespace NAME" is remembered if a server sends it. */
static int parse_hello(nslock *c, const char *rest, nslock_error *err)
{
    char word[16], key[32], value[64];
    unsigned long version;
    unsigned long long session;
    int used = 0;
    if (sscanf(rest, "%15s %lu session %llu%n", word, &version, &session, &used) != 3
        || strcmp(word, "nslock") != 0)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "%s is not an nslock server (HELLO answered 'OK %.60s')",
                                     c->where, rest);
    if (version != NSLOCK_PROTOCOL_VERSION)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "%s speaks protocol version %lu, this library %d",
                                     c->where, version, NSLOCK_PROTOCOL_VERSION);
    c->session = session;
    const char *p = rest + used;
    int n;
    while (sscanf(p, "%31s %63s%n", key, value, &n) == 2) {
        if (strcmp(key, "namespace") == 0)
            snprintf(c->ns, sizeof c->ns, "%s", value);
        p += n;
    }
    return 0;
}

static int hello(nslock *c, const char *client_name, bool send_pid, nslock_error *err)
{
    const char *rest;
    nsl_client_req_reset(c);
    nsl_client_req_str(c, "HELLO");
    if (client_name) {
        nsl_client_req_str(c, " name=");
        nsl_client_req_str(c, client_name);
    }
    if (send_pid)   /* over a Unix socket the server reads it from the socket */
        nsl_client_req_fmt(c, " pid=%ld", (long)getpid());
    if (request(c, 0, &rest, err) < 0)
        return -1;
    return parse_hello(c, rest, err);
}

static int check_client_name(const char *client_name, nslock_error *err)
{
    return client_name ? nsl_client_check_word("client name", client_name, err) : 0;
}

int nslock_connect(nslock **out, const char *socket_path, const char *client_name,
                   nslock_error *err)
{
    char path[4096];
    *out = NULL;
    if (check_client_name(client_name, err) < 0)
        return -1;
    if (socket_path == NULL) {
        if (nslock_default_socket(path, sizeof path) < 0)
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "the default socket path is too long");
        socket_path = path;
    }
    nslock *c = nsl_client_new(err);
    if (c == NULL)
        return -1;
    if (nsl_client_open_unix(c, socket_path, err) < 0 || hello(c, client_name, false, err) < 0) {
        nslock_close(c);
        return -1;
    }
    nsl_client_ok(err);
    *out = c;
    return 0;
}

int nslock_connect_tcp(nslock **out, const char *host_port, const char *token,
                       const char *client_name, nslock_error *err)
{
    *out = NULL;
    if (host_port == NULL)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no host:port");
    if (check_client_name(client_name, err) < 0
        || nsl_client_check_word("token", token, err) < 0)
        return -1;
    nslock *c = nsl_client_new(err);
    if (c == NULL)
        return -1;
    const char *rest;
    if (nsl_client_open_tcp(c, host_port, err) < 0)
        goto fail;
    nsl_client_req_reset(c);
    nsl_client_req_str(c, "AUTH ");
    nsl_client_req_str(c, token);
    if (request(c, 0, &rest, err) < 0 || hello(c, client_name, true, err) < 0)
        goto fail;
    nsl_client_ok(err);
    *out = c;
    return 0;
fail:
    nslock_close(c);
    return -1;
}

void nslock_close(nslock *c)
{
    if (c == NULL)
        return;
    /* closing is QUIT without the round trip (PROTOCOL.md) */
    nsl_client_close_fd(c);
    free(c->rbuf);
    free(c->wbuf);
    free(c);
}

void nslock_set_grace(nslock *c, double seconds)
{
    c->grace = seconds;
}

uint64_t nslock_session_id(const nslock *c)
{
    return c->session;
}

const char *nslock_current_namespace(const nslock *c)
{
    return c->ns[0] ? c->ns : NULL;
}

/* Ready for a new request: the connection is open and no SHOW rows are
 * left unread. */
static int usable(nslock *c, nslock_error *err)
{
    if (c == NULL)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no connection (NULL handle)");
    if (c->fd < 0)
        return nsl_client_fail(err, NSLOCK_E_IO, "the connection to %s is closed", c->where);
    while (c->show_left > 0) {
        char *line;
        size_t len;
        if (nsl_client_read_line(c, nsl_client_deadline(c, 0), &line, &len, err) < 0)
            return -1;
        c->show_left--;
    }
    nsl_client_req_reset(c);
    return 0;
}

/* A request whose answer is a bare OK. */
static int simple(nslock *c, const char *text, nslock_error *err)
{
    const char *rest;
    if (usable(c, err) < 0)
        return -1;
    nsl_client_req_str(c, text);
    if (request(c, 0, &rest, err) < 0)
        return -1;
    nsl_client_ok(err);
    return 0;
}

int nslock_ping(nslock *c, nslock_error *err)
{
    return simple(c, "PING", err);
}

/* ---- locks ------------------------------------------------------------------ */

/* "OK 1 TOKEN" / "OK 0" / "OK" of a LOCK command. */
static int lock_outcome(nslock *c, const char *rest, nslock_outcome *out, nslock_error *err)
{
    nslock_outcome o = {.test = -1, .token = 0};
    if (rest[0] == '1' && rest[1] == ' ' && nsl_client_parse_u64(rest + 2, &o.token))
        o.test = 1;
    else if (rest[0] == '0' && rest[1] == '\0')
        o.test = 0;
    else if (rest[0] != '\0')
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "unexpected answer to LOCK from %s: 'OK %.60s'; "
                                     "connection closed", c->where, rest);
    if (out)
        *out = o;
    nsl_client_ok(err);
    return 0;
}

static int lock_request(nslock *c, double wait, nslock_outcome *out, nslock_error *err)
{
    const char *rest;
    if (request(c, wait, &rest, err) < 0)
        return -1;
    return lock_outcome(c, rest, out, err);
}

int nslock_lock(nslock *c, const char *name, unsigned types, double timeout,
                nslock_outcome *out, nslock_error *err)
{
    return nslock_lock_names(c, &name, 1, types, timeout, out, err);
}

int nslock_lock_names(nslock *c, const char *const *names, size_t count, unsigned types,
                      double timeout, nslock_outcome *out, nslock_error *err)
{
    if (usable(c, err) < 0)
        return -1;
    if (count == 0 || names == NULL)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no lock names");
    for (size_t i = 0; i < count; i++)
        if (nsl_client_check_name(names[i], err) < 0)
            return -1;
    nsl_client_req_str(c, count == 1 ? "LOCK +" : "LOCK +(");
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            nsl_client_req_add(c, ",", 1);
        nsl_client_req_str(c, names[i]);
    }
    if (count > 1)
        nsl_client_req_add(c, ")", 1);
    if (nsl_client_req_types(c, types, err) < 0 || nsl_client_req_timeout(c, timeout, err) < 0)
        return -1;
    /* what req_timeout did not write is a wait without end */
    double wait = timeout < 0 || timeout > 1e9 ? -1 : timeout;
    return lock_request(c, wait, out, err);
}

int nslock_unlock(nslock *c, const char *name, unsigned types, nslock_error *err)
{
    if (usable(c, err) < 0 || nsl_client_check_name(name, err) < 0)
        return -1;
    nsl_client_req_str(c, "LOCK -");
    nsl_client_req_str(c, name);
    if (nsl_client_req_types(c, types, err) < 0)
        return -1;
    return lock_request(c, 0, NULL, err);
}

int nslock_unlock_all(nslock *c, nslock_error *err)
{
    if (usable(c, err) < 0)
        return -1;
    nsl_client_req_str(c, "LOCK");
    return lock_request(c, 0, NULL, err);
}

int nslock_command(nslock *c, const char *command, nslock_outcome *out, nslock_error *err)
{
    double wait;
    if (usable(c, err) < 0 || nsl_client_command_wait(command, &wait, err) < 0)
        return -1;
    nsl_client_req_str(c, command);
    return lock_request(c, wait, out, err);
}

int nslock_namespace(nslock *c, const char *name, nslock_error *err)
{
    const char *rest;
    if (usable(c, err) < 0 || nsl_client_check_word("namespace", name, err) < 0)
        return -1;
    nsl_client_req_str(c, "NS ");
    nsl_client_req_str(c, name);
    if (request(c, 0, &rest, err) < 0)
        return -1;
    /* the server stores namespace names upper-case (SPEC 2) */
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof c->ns; i++)
        c->ns[i] = (char)toupper((unsigned char)name[i]);
    c->ns[i] = '\0';
    nsl_client_ok(err);
    return 0;
}

static int transaction(nslock *c, const char *text, int *level, nslock_error *err)
{
    const char *rest;
    uint64_t n;
    if (usable(c, err) < 0)
        return -1;
    nsl_client_req_str(c, text);
    if (request(c, 0, &rest, err) < 0)
        return -1;
    if (!nsl_client_parse_u64(rest, &n) || n > 1000000)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "unexpected answer to %s from %s: 'OK %.60s'; "
                                     "connection closed", text, c->where, rest);
    if (level)
        *level = (int)n;
    nsl_client_ok(err);
    return 0;
}

int nslock_tstart(nslock *c, int *level, nslock_error *err)
{
    return transaction(c, "TSTART", level, err);
}

int nslock_tcommit(nslock *c, int *level, nslock_error *err)
{
    return transaction(c, "TCOMMIT", level, err);
}

int nslock_trollback(nslock *c, int one_level, int *level, nslock_error *err)
{
    return transaction(c, one_level ? "TROLLBACK 1" : "TROLLBACK", level, err);
}

/* ---- multi-line answers ---------------------------------------------------------- */

void nslock_free(void *rows)
{
    free(rows);
}

/* Reads "DATA n" and returns n. */
static int read_data_header(nslock *c, double deadline, size_t *count, nslock_error *err)
{
    char *line;
    size_t len;
    uint64_t n;
    if (nsl_client_read_line(c, deadline, &line, &len, err) < 0)
        return -1;
    if (len > 5 && memcmp(line, "DATA ", 5) == 0 && nsl_client_parse_u64(line + 5, &n)
        && n <= SIZE_MAX / 64) {
        *count = (size_t)n;
        return 0;
    }
    if (len >= 4 && memcmp(line, "ERR ", 4) == 0)
        return nsl_client_server_error(err, line + 4);
    return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                 "unexpected answer from %s: '%.60s' (expected DATA); "
                                 "connection closed", c->where, line);
}

/* Splits a DATA line at its tabs, in place, into at least want fields
 * (more are ignored: a newer server may add columns at the end). "-" is an
 * empty field. */
static int split_fields(nslock *c, char *line, char **fields, size_t want, nslock_error *err)
{
    static char empty[] = "";
    size_t n = 0;
    char *p = line;
    while (n < want) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (tab == NULL)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    if (n < want)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "a line from %s with %zu fields, expected %zu; "
                                     "connection closed", c->where, n, want);
    char *tab = strchr(p, '\t');   /* cut off extra fields */
    if (tab)
        *tab = '\0';
    for (size_t i = 0; i < want; i++)
        if (strcmp(fields[i], "-") == 0)
            fields[i] = empty;
    return 0;
}

typedef int (*fill_row)(void *row, char **fields);

/* The rows of a DATA answer as one block: the array of rows, then their
 * text, so nslock_free() frees both. */
static int read_rows(nslock *c, double deadline, size_t nfields, size_t row_size,
                     fill_row fill, void **out, size_t *count, nslock_error *err)
{
    size_t n;
    *out = NULL;
    *count = 0;
    if (read_data_header(c, deadline, &n, err) < 0)
        return -1;
    /* gather the lines first: the row array's size must be known before the text */
    char *text = NULL;
    size_t tlen = 0, tcap = 0;
    for (size_t i = 0; i < n; i++) {
        char *line;
        size_t len;
        if (nsl_client_read_line(c, nsl_client_deadline(c, 0), &line, &len, err) < 0)
            goto fail;
        if (tlen + len + 1 > tcap) {
            size_t cap = tcap ? tcap : 4096;
            while (cap < tlen + len + 1)
                cap *= 2;
            char *bigger = realloc(text, cap);
            if (bigger == NULL) {
                nsl_client_fail_close(c, err, NSLOCK_E_NOMEM,
                                      "out of memory reading an answer; connection closed");
                goto fail;
            }
            text = bigger;
            tcap = cap;
        }
        memcpy(text + tlen, line, len + 1);
        tlen += len + 1;
    }
    size_t rows_bytes = (n * row_size + 15) & ~(size_t)15;
    char *block = malloc(rows_bytes + tlen + 1);
    if (block == NULL) {
        nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory for %zu rows", n);
        goto fail;
    }
    if (tlen)
        memcpy(block + rows_bytes, text, tlen);
    free(text);
    char *line = block + rows_bytes;
    char *fields[16] = {0};
    for (size_t i = 0; i < n; i++) {
        char *next = line + strlen(line) + 1;
        if (split_fields(c, line, fields, nfields, err) < 0 || fill(block + i * row_size, fields) < 0) {
            if (c->fd >= 0)
                nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                      "a malformed line from %s; connection closed", c->where);
            free(block);
            return -1;
        }
        line = next;
    }
    *out = block;
    *count = n;
    nsl_client_ok(err);
    return 0;
fail:
    free(text);
    return -1;
}

/* ---- resolve ------------------------------------------------------------------ */

static int fill_resolution(void *row, char **f)
{
    nslock_resolution *r = row;
    r->database = f[0];
    r->directory = f[1];
    r->rule = f[2];
    r->mapping = f[3];
    return 0;
}

int nslock_resolve(nslock *c, const char *name, nslock_resolution **rows, size_t *count,
                   nslock_error *err)
{
    *rows = NULL;
    *count = 0;
    if (usable(c, err) < 0 || nsl_client_check_name(name, err) < 0)
        return -1;
    nsl_client_req_str(c, "RESOLVE ");
    nsl_client_req_str(c, name);
    if (nsl_client_req_end(c, err) < 0)
        return -1;
    double deadline = nsl_client_deadline(c, 0);
    if (nsl_client_send(c, deadline, err) < 0)
        return -1;
    return read_rows(c, deadline, 4, sizeof(nslock_resolution), fill_resolution,
                     (void **)rows, count, err);
}

/* ---- show --------------------------------------------------------------------- */

static int fill_entry(void *row, char **f)
{
    nslock_entry *e = row;
    uint64_t pid = 0;
    e->database = f[0];
    e->directory = f[1];
    if (!nsl_client_parse_u64(f[2], &e->owner))
        return -1;
    if (*f[3] && !nsl_client_parse_u64(f[3], &pid))
        return -1;
    e->pid = (long)pid;
    e->client = f[4];
    e->mode = f[5];
    e->name = f[6];
    e->namespace_name = f[7];
    e->since = f[8];
    e->token = 0;
    if (*f[9] && !nsl_client_parse_u64(f[9], &e->token))
        return -1;
    e->waiting = strncmp(e->mode, "Wait", 4) == 0;
    e->blockers = f[10];
    return 0;
}

static int send_show(nslock *c, const nslock_show_filter *f, double *deadline,
                     nslock_error *err)
{
    if (usable(c, err) < 0)
        return -1;
    nsl_client_req_str(c, "SHOW");
    if (f) {
        if ((f->database && nsl_client_check_word("database", f->database, err) < 0)
            || (f->namespace_name && nsl_client_check_word("namespace", f->namespace_name, err) < 0))
            return -1;
        if (f->name_prefix && strpbrk(f->name_prefix, "\r\n"))
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "a line break in the name prefix");
        if (f->pid < 0)
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "negative pid %ld", f->pid);
        if (f->database)
            nsl_client_req_fmt(c, " database=%s", f->database);
        if (f->namespace_name)
            nsl_client_req_fmt(c, " namespace=%s", f->namespace_name);
        if (f->owner)
            nsl_client_req_fmt(c, " owner=%llu", (unsigned long long)f->owner);
        if (f->pid)
            nsl_client_req_fmt(c, " pid=%ld", f->pid);
        if (f->no_waiters)
            nsl_client_req_str(c, " nowaiters");
        /* last, as a name may hold blanks inside its strings */
        if (f->name_prefix && *f->name_prefix) {
            nsl_client_req_str(c, " name=");
            nsl_client_req_str(c, f->name_prefix);
        }
    }
    if (nsl_client_req_end(c, err) < 0)
        return -1;
    *deadline = nsl_client_deadline(c, 0);
    return nsl_client_send(c, *deadline, err);
}

int nslock_show(nslock *c, const nslock_show_filter *filter, nslock_entry **rows,
                size_t *count, nslock_error *err)
{
    double deadline;
    *rows = NULL;
    *count = 0;
    if (send_show(c, filter, &deadline, err) < 0)
        return -1;
    return read_rows(c, deadline, 11, sizeof(nslock_entry), fill_entry, (void **)rows, count,
                     err);
}

int nslock_show_begin(nslock *c, const nslock_show_filter *filter, size_t *count,
                      nslock_error *err)
{
    double deadline;
    size_t n;
    if (send_show(c, filter, &deadline, err) < 0 || read_data_header(c, deadline, &n, err) < 0)
        return -1;
    c->show_left = n;
    if (count)
        *count = n;
    nsl_client_ok(err);
    return 0;
}

int nslock_show_next(nslock *c, nslock_entry *row, nslock_error *err)
{
    char *line, *fields[11];
    size_t len;
    if (c == NULL || c->fd < 0)
        return usable(c, err);
    if (c->show_left == 0) {
        nsl_client_ok(err);
        return 0;
    }
    if (nsl_client_read_line(c, nsl_client_deadline(c, 0), &line, &len, err) < 0)
        return -1;
    c->show_left--;
    if (split_fields(c, line, fields, 11, err) < 0)
        return -1;
    if (fill_entry(row, fields) < 0)
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "a malformed SHOW line from %s; connection closed",
                                     c->where);
    nsl_client_ok(err);
    return 1;
}

/* ---- stats -------------------------------------------------------------------- */

static int fill_stat(void *row, char **f)
{
    nslock_stat *s = row;
    s->key = f[0];
    return nsl_client_parse_u64(f[1], &s->value) ? 0 : -1;
}

int nslock_stats_list(nslock *c, nslock_stat **items, size_t *count, nslock_error *err)
{
    *items = NULL;
    *count = 0;
    if (usable(c, err) < 0)
        return -1;
    nsl_client_req_str(c, "STATS");
    if (nsl_client_req_end(c, err) < 0)
        return -1;
    double deadline = nsl_client_deadline(c, 0);
    if (nsl_client_send(c, deadline, err) < 0)
        return -1;
    return read_rows(c, deadline, 2, sizeof(nslock_stat), fill_stat, (void **)items, count,
                     err);
}

int nslock_stats_get(nslock *c, nslock_stats *stats, nslock_error *err)
{
    static const struct {
        const char *key;
        size_t offset;
    } known[] = {
#define STAT_FIELD_(f) {#f, offsetof(nslock_stats, f)}
        STAT_FIELD_(entries), STAT_FIELD_(max_entries), STAT_FIELD_(sessions),
        STAT_FIELD_(waiters), STAT_FIELD_(grants), STAT_FIELD_(escalations),
        STAT_FIELD_(deadlocks), STAT_FIELD_(timeouts), STAT_FIELD_(table_full_episodes),
#undef STAT_FIELD_
    };
    nslock_stat *items;
    size_t n;
    memset(stats, 0, sizeof *stats);
    if (nslock_stats_list(c, &items, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (strcmp(items[i].key, known[k].key) == 0)
                memcpy((char *)stats + known[k].offset, &items[i].value, sizeof(uint64_t));
    nslock_free(items);
    return 0;
}

/* ---- remove ------------------------------------------------------------------- */

int nslock_remove(nslock *c, const nslock_remove_filter *f, uint64_t *removed,
                  nslock_error *err)
{
    const char *rest;
    uint64_t n;
    if (usable(c, err) < 0)
        return -1;
    if (f == NULL || (!f->owner && !f->pid && !f->database && !f->name))
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT,
                               "REMOVE needs at least one of owner, pid, database, name");
    if (f->pid < 0)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "negative pid %ld", f->pid);
    if ((f->database && nsl_client_check_word("database", f->database, err) < 0)
        || (f->name && nsl_client_check_name(f->name, err) < 0))
        return -1;
    nsl_client_req_str(c, "REMOVE");
    if (f->owner)
        nsl_client_req_fmt(c, " owner=%llu", (unsigned long long)f->owner);
    if (f->pid)
        nsl_client_req_fmt(c, " pid=%ld", f->pid);
    if (f->database)
        nsl_client_req_fmt(c, " database=%s", f->database);
    if (f->name) {
        nsl_client_req_str(c, " name=");
        nsl_client_req_str(c, f->name);
    }
    if (request(c, 0, &rest, err) < 0)
        return -1;
    if (!nsl_client_parse_u64(rest, &n))
        return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                     "unexpected answer to REMOVE from %s: 'OK %.60s'; "
                                     "connection closed", c->where, rest);
    if (removed)
        *removed = n;
    nsl_client_ok(err);
    return 0;
}
