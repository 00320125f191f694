/* client/cluster.c — where the server is: a Unix socket, one TCP address,
 * or the servers of an HA cluster (docs/HA.md), and the TCP token.
 *
 * A cluster has one leader; the others answer HELLO with `ERR STANDBY
 * <leader>`. The library tries the addresses it was given in turn and
 * follows such a hint at once, so a client finds the leader in one or two
 * connects wherever it starts. Each attempt is bounded (CONNECT_EACH): a
 * frozen server accepts the TCP connection in its kernel and then never
 * answers, and it must not hold the search for the whole grace period.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"

#define CONNECT_EACH 2.0         /* seconds for one address of several: connect, AUTH, HELLO */
#define MAX_SERVERS 16           /* addresses in a list */

/* ---- the token ------------------------------------------------------------------- */

/* The first line of path, trimmed. Like ssh with a key, a file that
 * anybody may read is refused; a group may share it (a group of clients). */
static int read_token_file(const char *path, char **token, nslock_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "cannot read the token file %s: %s", path,
                               strerror(e));
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 0007)) {
        close(fd);
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT,
                               "the token file %s %s (mode %04o): chmod o-rwx %s", path,
                               S_ISREG(st.st_mode) ? "can be read by anybody"
                                                   : "is not a regular file",
                               (unsigned)(st.st_mode & 07777), path);
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "cannot read the token file %s: %s", path,
                               strerror(e));
    buf[n] = '\0';
    size_t len = strcspn(buf, "\r\n");
    while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    size_t start = strspn(buf, " \t");
    if (start >= len)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "the token file %s holds no token", path);
    *token = strndup(buf + start, len - start);
    if (*token == NULL)
        return nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory");
    return 0;
}

static int set_token(nslock *c, const nslock_options *o, const nslock_options_more *more,
                     nslock_error *err)
{
    if (o->token) {
        if ((c->token = strdup(o->token)) == NULL)
            return nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory");
    } else {
        const char *file = more->token_file;
        if (file == NULL) {
            file = getenv("NSLOCK_TOKEN_FILE");
            if (file && !*file)
                file = NULL;
        }
        if (file == NULL)
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT,
                                   "connecting to %s over TCP needs the server's token: give "
                                   "its file (--token-file, $NSLOCK_TOKEN_FILE)", c->where);
        if (read_token_file(file, &c->token, err) < 0)
            return -1;
    }
    return nsl_client_check_word("token", c->token, err);
}

/* ---- the addresses ----------------------------------------------------------------- */

/* "a:1, b:2" into c->servers; the first one becomes c->where. */
static int set_servers(nslock *c, const char *list, nslock_error *err)
{
    const char *p = list;
    while (*p) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (len == 0)
            break;
        if (c->nservers == MAX_SERVERS)
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "more than %d servers in '%.100s'",
                                   MAX_SERVERS, list);
        if (len >= sizeof c->where)
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "'%.100s...' is too long for a "
                                   "server address (at most %zu bytes)", p, sizeof c->where - 1);
        if (memchr(p, ':', len) == NULL)
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "'%.*s' in the server list is not "
                                   "host:port", (int)len, p);
        if ((c->servers[c->nservers] = strndup(p, len)) == NULL)
            return nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory");
        c->nservers++;
        p += len;
    }
    if (c->nservers == 0)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no server address in '%.100s'", list);
    snprintf(c->where, sizeof c->where, "%s", c->servers[0]);
    return 0;
}

int nsl_client_set_target(nslock *c, const nslock_options *o, const nslock_options_more *more,
                          nslock_error *err)
{
    const char *list = more->servers ? more->servers : o->host_port;
    if (list == NULL && o->socket_path == NULL) {
        const char *env = getenv("NSLOCK_SERVERS");
        if (env && *env)
            list = env;
    }
    if (list == NULL) {
        char path[4096];
        const char *where = o->socket_path;
        if (where == NULL) {
            if (nslock_default_socket(path, sizeof path) < 0)
                return nsl_client_fail(err, NSLOCK_E_ARGUMENT,
                                       "the default socket path is too long");
            where = path;
        }
        if (strlen(where) >= sizeof c->where)
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "'%.100s...' is too long for a "
                                   "server address (at most %zu bytes)", where,
                                   sizeof c->where - 1);
        memcpy(c->where, where, strlen(where) + 1);
        return 0;
    }
    c->tcp = true;
    c->servers = calloc(MAX_SERVERS, sizeof *c->servers);
    if (c->servers == NULL)
        return nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory");
    if (set_servers(c, list, err) < 0)
        return -1;
    return set_token(c, o, more, err);
}

void nsl_client_free_target(nslock *c)
{
    for (size_t i = 0; i < c->nservers; i++)
        free(c->servers[i]);
    free(c->servers);
    c->servers = NULL;
    c->nservers = 0;
    free(c->token);
    c->token = NULL;
}

/* ---- finding the leader ------------------------------------------------------------ */

typedef struct search {
    char tried[2 * MAX_SERVERS][sizeof ((nslock *)0)->where];
    size_t ntried;
    char hint[sizeof ((nslock *)0)->where];
} search;

static bool was_tried(const search *s, const char *addr)
{
    for (size_t i = 0; i < s->ntried; i++)
        if (strcmp(s->tried[i], addr) == 0)
            return true;
    return false;
}

/* The leader a STANDBY answer named, or NULL when it named none or one
 * already tried. */
static const char *hinted_leader(nslock *c, search *s, const nslock_error *why)
{
    if (why->code != NSLOCK_E_STANDBY || !c->leader_hint[0])
        return NULL;
    snprintf(s->hint, sizeof s->hint, "%s", c->leader_hint);
    return was_tried(s, s->hint) ? NULL : s->hint;
}

/* One address, its connect and its first two requests bounded by
 * CONNECT_EACH (see the top of the file). */
static int hello_bounded(nslock *c, const char *addr, nslock_error *err)
{
    double grace = c->grace;
    /* once the cluster's takeover time is known, a server that answers
     * nothing in half of it is taken for frozen elsewhere too */
    double each = c->takeover > 0 && nsl_client_probe_wait(c) < CONNECT_EACH
                  ? nsl_client_probe_wait(c) : CONNECT_EACH;
    if (grace < 0 || grace > each)
        c->grace = each;
    int rc = nsl_client_hello_at(c, addr, err);
    c->grace = grace;
    return rc;
}

int nsl_client_hello(nslock *c, int avoid_current, nslock_error *err)
{
    if (c->nservers <= 1)
        return nsl_client_hello_at(c, c->where, err);
    /* The list in order from the current address; after a lost connection
     * the current one (the leader that went) is tried last. */
    size_t first = 0;
    for (size_t i = 0; i < c->nservers; i++)
        if (strcmp(c->servers[i], c->where) == 0)
            first = avoid_current ? i + 1 : i;
    search s = {.ntried = 0};
    /* a server that just stopped answering (frozen, its machine gone) is
     * left out, even when a standby still names it, for the takeover time */
    if (c->suspect[0] && nsl_client_now() < c->suspect_until)
        snprintf(s.tried[s.ntried++], sizeof *s.tried, "%s", c->suspect);
    char addr[sizeof c->where];
    nslock_error why = {0}, refused = {0};
    size_t next = 0;
    const char *hint = NULL;
    for (size_t attempt = 0; attempt < sizeof s.tried / sizeof *s.tried; attempt++) {
        if (hint) {
            snprintf(addr, sizeof addr, "%s", hint);
        } else {
            while (next < c->nservers && was_tried(&s, c->servers[(first + next) % c->nservers]))
                next++;
            if (next == c->nservers)
                break;
            snprintf(addr, sizeof addr, "%s", c->servers[(first + next) % c->nservers]);
        }
        if (s.ntried < sizeof s.tried / sizeof *s.tried)
            snprintf(s.tried[s.ntried++], sizeof *s.tried, "%s", addr);
        c->leader_hint[0] = '\0';
        int rc = hello_bounded(c, addr, &why);
        if (rc == 0)
            break;
        if (why.code != NSLOCK_E_IO && why.code != NSLOCK_E_TIMEOUT)
            refused = why;        /* a standby, a wrong token: more telling than "refused" */
        hint = hinted_leader(c, &s, &why);
    }
    if (c->fd >= 0) {
        nsl_client_ok(err);
        return 0;
    }
    nslock_error *last = refused.code ? &refused : &why;
    char names[256] = "";
    for (size_t i = 0, used = 0; i < c->nservers && used < sizeof names; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                 c->servers[i]);
    if (last->code == NSLOCK_E_STANDBY)
        return nsl_client_fail(err, NSLOCK_E_STANDBY, "no leader among %s: %s", names,
                               last->message);
    if (last->code == NSLOCK_E_IO)
        return nsl_client_fail(err, NSLOCK_E_IO, "cannot connect to any of %s (the last: %s)",
                               names, last->message);
    *err = *last;
    return -1;
}

int nsl_client_hello_cluster(nslock *c, nslock_error *err)
{
    double give_up = nsl_client_deadline(c, 0), delay = 0.05;
    for (;;) {
        if (nsl_client_hello(c, 0, err) == 0)
            return 0;
        if (c->nservers <= 1 || (err->code != NSLOCK_E_STANDBY && err->code != NSLOCK_E_IO))
            return -1;
        if (give_up >= 0 && nsl_client_now() + delay > give_up)
            return -1;
        struct timespec ts = {0, (long)(delay * 1e9)};
        nanosleep(&ts, NULL);
        delay = delay * 2 < 0.5 ? delay * 2 : 0.5;
    }
}

/* A dead machine sends no FIN: TCP keep-alive notices it within about the
 * cluster's takeover time, the time a standby needs to follow anyway. */
void nsl_client_watch_leader(nslock *c)
{
    if (!c->tcp || c->takeover <= 0 || c->fd < 0)
        return;
    int one = 1, idle = c->takeover < 1 ? 1 : (int)c->takeover, interval = 1, count = 3;
    setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(c->fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(c->fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    setsockopt(c->fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}
