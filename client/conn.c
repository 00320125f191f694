/* libnslock's connection: sockets, buffered answer lines, deadlines, errors.
 *
 * Blocking calls over plain POSIX sockets with poll(), not libuv (which
 * the server uses): every library call is one request and its
 * answer, a LOCK blocks its caller as M's LOCK blocks a process, and an
 * application should not have to run an event loop (or hide a thread
 * around one) nor link libuv to take a lock. The socket is non-blocking and
 * every wait goes through poll() with a deadline, so a stalled server can
 * never hang a call that has a timeout.
 */
#define _GNU_SOURCE     /* struct ucred */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"

/* ---- errors ---------------------------------------------------------------- */

static const struct {
    int code;
    const char *name, *text;
} error_table[] = {
#define NSLOCK_ERRENTRY_(name, value, text) {value, #name, text},
    NSLOCK_ERROR_MAP(NSLOCK_ERRENTRY_)
#undef NSLOCK_ERRENTRY_
};

#define ERROR_TABLE_LEN (sizeof error_table / sizeof error_table[0])

const char *nslock_errname(int code)
{
    for (size_t i = 0; i < ERROR_TABLE_LEN; i++)
        if (error_table[i].code == code)
            return error_table[i].name;
    return "UNKNOWN";
}

const char *nslock_strerror(int code)
{
    for (size_t i = 0; i < ERROR_TABLE_LEN; i++)
        if (error_table[i].code == code)
            return error_table[i].text;
    return "an error code this library does not know";
}

static void set_error(nslock_error *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return;
    err->code = code;
    snprintf(err->name, sizeof err->name, "%s", nslock_errname(code));
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

int nsl_client_fail(nslock_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

int nsl_client_fail_close(nslock *c, nslock_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(err, code, fmt, ap);
    va_end(ap);
    nsl_client_close_fd(c);
    return -1;
}

void nsl_client_ok(nslock_error *err)
{
    if (err == NULL)
        return;
    err->code = NSLOCK_E_OK;
    memcpy(err->name, "OK", 3);
    err->message[0] = '\0';
}

int nsl_client_server_error(nslock_error *err, const char *rest)
{
    size_t len = strcspn(rest, " ");
    const char *message = rest + len;
    while (*message == ' ')
        message++;
    if (err == NULL)
        return -1;
    err->code = NSLOCK_E_UNKNOWN;
    for (size_t i = 0; i < ERROR_TABLE_LEN; i++)
        /* only the server's codes: a server cannot make us report IO */
        if (error_table[i].code > 0 && error_table[i].code < NSLOCK_E_UNKNOWN
            && strlen(error_table[i].name) == len && !memcmp(error_table[i].name, rest, len))
            err->code = error_table[i].code;
    snprintf(err->name, sizeof err->name, "%.*s", (int)len, rest);
    snprintf(err->message, sizeof err->message, "%s", message);
    return -1;
}

/* ---- time --------------------------------------------------------------------- */

double nsl_client_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double nsl_client_deadline(const nslock *c, double wait)
{
    if (wait < 0 || c->grace < 0)
        return -1;
    return nsl_client_now() + wait + c->grace;
}

/* Waits until fd is ready for events; 0, or -1 with errno ETIMEDOUT. */
static int wait_ready(int fd, short events, double deadline)
{
    for (;;) {
        int ms = -1;
        if (deadline >= 0) {
            double left = deadline - nsl_client_now();
            if (left <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            ms = left * 1000 >= INT_MAX ? INT_MAX : (int)ceil(left * 1000);
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
        /* timeout or signal: the loop re-checks the deadline */
    }
}

/* CANCEL, sent behind the waiting LOCK without touching the request being
 * built (a recovery may send that LOCK again). */
static int send_cancel(nslock *c)
{
    static const char line[] = "CANCEL\n";
    size_t done = 0;
    while (done < sizeof line - 1) {
        ssize_t n = send(c->fd, line + done, sizeof line - 1 - done, MSG_NOSIGNAL);
        if (n > 0)
            done += (size_t)n;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_ready(c->fd, POLLOUT, nsl_client_deadline(c, 0)) < 0)
                return -1;
        } else if (n < 0 && errno != EINTR)
            return -1;
    }
    c->cancel_sent = true;
    return 0;
}

/* Waits for the answer to a LOCK that may wait, watching for a cancel. */
static bool still_answers(nslock *c);

double nsl_client_probe_wait(const nslock *c)
{
    return c->takeover > 1 ? c->takeover / 2 : 0.5;
}

void nsl_client_suspect_server(nslock *c)
{
    snprintf(c->suspect, sizeof c->suspect, "%s", c->where);
    c->suspect_until = nsl_client_now() + c->takeover;
}

/* Waits for the answer, sending CANCEL when asked. On an HA leader the
 * wait goes in slices of half the takeover time: a leader silent that long
 * is asked over a second connection whether it still answers at all (for
 * as long again), and one
 * that does not (frozen, or its machine gone) is left (EHOSTDOWN),
 * so the call can reclaim at its successor before that one's grace runs
 * out, instead of waiting its whole timeout on a server that may never
 * come back. A waiting LOCK is silent legitimately: its server answers the
 * probe. */
static int wait_answer(nslock *c, double deadline)
{
    double slice = c->tcp && c->takeover > 0 ? nsl_client_probe_wait(c) : -1;
    for (;;) {
        if (c->cancellable && atomic_load(&c->cancel_asked) && !c->cancel_sent
            && send_cancel(c) < 0)
            return -1;
        double now = nsl_client_now(), until = deadline;
        if (deadline >= 0 && deadline <= now) {
            errno = ETIMEDOUT;
            return -1;
        }
        bool sliced = slice > 0 && (until < 0 || until > now + slice);
        if (sliced)
            until = now + slice;
        int ms = -1;
        if (until >= 0) {
            double left = until - now;
            ms = left * 1000 >= INT_MAX ? INT_MAX : (int)ceil(left * 1000);
        }
        bool with_cancel = c->cancellable && c->cancel_fd >= 0 && !c->cancel_sent;
        struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
                              {.fd = c->cancel_fd, .events = POLLIN}};
        int n = poll(p, with_cancel ? 2 : 1, ms);
        if (n > 0 && p[0].revents)
            return 0;
        if (n > 0 && with_cancel && p[1].revents) {
            uint64_t count;
            if (read(c->cancel_fd, &count, sizeof count) < 0 && errno != EAGAIN)
                return -1;
        } else if (n < 0 && errno != EINTR) {
            return -1;
        } else if (n == 0 && sliced && !still_answers(c)) {
            errno = EHOSTDOWN;    /* not ETIMEDOUT: the call goes on at the next leader */
            return -1;
        }
    }
}

int nslock_cancel(nslock *c)
{
    if (c == NULL)
        return -1;
    atomic_store(&c->cancel_asked, true);
    if (c->cancel_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(c->cancel_fd, &one, sizeof one);
        (void)n;   /* a full counter still wakes the poll */
    }
    return 0;
}

/* ---- the handle ------------------------------------------------------------ */

nslock *nsl_client_new(nslock_error *err)
{
    nslock *c = calloc(1, sizeof *c);
    if (c == NULL) {
        nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory");
        return NULL;
    }
    c->fd = -1;
    c->wake[0] = c->wake[1] = -1;
    /* without it a cancel still works from a signal handler (poll sees EINTR) */
    c->cancel_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    atomic_init(&c->cancel_asked, false);
    c->awaited = -1;
    c->grace = NSL_CLIENT_DEFAULT_GRACE;
    pthread_mutex_init(&c->mu, NULL);
    nsl_lock_command_init(&c->cmd);
    nsl_lock_command_init(&c->owed_cmd);
    c->rcap = 4096;
    c->rbuf = malloc(c->rcap);
    c->wcap = 256;
    c->wbuf = malloc(c->wcap);
    if (c->rbuf == NULL || c->wbuf == NULL) {
        if (c->cancel_fd >= 0)
            close(c->cancel_fd);
        free(c->rbuf);
        free(c->wbuf);
        free(c);
        nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory");
        return NULL;
    }
    return c;
}

void nsl_client_replay_clear(nslock *c)
{
    free(c->replay);
    c->replay = NULL;
    c->replay_len = c->replay_at = 0;
}

void nsl_client_close_fd(nslock *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->rpos = c->rlen = 0;
    c->wpend_len = 0;          /* still owed (pipeline.c): sent again after a reconnect */
    c->show_left = 0;
}

static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int nsl_client_open_unix(nslock *c, const char *path, nslock_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (path != c->where)
        snprintf(c->where, sizeof c->where, "%s", path);
    if (strlen(path) >= sizeof sa.sun_path)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT,
                               "socket path too long (%zu bytes, at most %zu): %s",
                               strlen(path), sizeof sa.sun_path - 1, path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return nsl_client_fail(err, NSLOCK_E_IO, "socket: %s", strerror(errno));
    /* connect() on a Unix socket sleeps while the server's backlog is full
     * (a stalled server); it honours the send timeout, so bound it by the
     * grace period. */
    if (c->grace >= 0) {
        struct timeval tv = {.tv_sec = (time_t)c->grace,
                             .tv_usec = (suseconds_t)((c->grace - (double)(time_t)c->grace) * 1e6)};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    int rc;
    do
        rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    while (rc < 0 && errno == EINTR);
    if (rc < 0 && (errno == EAGAIN || errno == EINPROGRESS))
        errno = ETIMEDOUT;
    if (rc < 0 || set_nonblocking(fd) < 0) {
        int e = errno;
        close(fd);
        return nsl_client_fail(err, NSLOCK_E_IO, "cannot connect to %s: %s", path, strerror(e));
    }
    /* Only root, this user, or the uid we were told may answer. */
    struct ucred cred;
    socklen_t clen = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
        int e = errno;
        close(fd);
        return nsl_client_fail(err, NSLOCK_E_IO, "cannot tell who serves %s: %s", path, strerror(e));
    }
    if (cred.uid != 0 && cred.uid != getuid() && (long)cred.uid != c->server_uid) {
        close(fd);
        return nsl_client_fail(err, NSLOCK_E_PROTECT,
                               "the process serving %s runs as uid %ld, not as root or this "
                               "user: refusing it (set NSLOCK_SERVER_UID=%ld if that is the "
                               "server's own user)", path, (long)cred.uid, (long)cred.uid);
    }
    c->fd = fd;
    c->connection++;
    c->answers = 0;
    return 0;
}

/* "host:port" or "[addr]:port" into its parts. */
static int split_host_port(const char *hp, char *host, size_t hcap, const char **port)
{
    const char *colon;
    const char *h = hp;
    size_t hlen;
    if (*hp == '[') {
        const char *close = strchr(hp, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = hp + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - hp);
    }
    if (hlen == 0 || hlen >= hcap || colon[1] == '\0')
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = colon + 1;
    return 0;
}

static int connect_one(const struct addrinfo *ai, double deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (set_nonblocking(fd) < 0)
        goto fail;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS && errno != EINTR)
            goto fail;
        if (wait_ready(fd, POLLOUT, deadline) < 0)
            goto fail;
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            goto fail;
        if (soerr != 0) {
            errno = soerr;
            goto fail;
        }
    }
    int one = 1;
    /* one small request per round trip: never wait for Nagle */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

int nsl_client_open_tcp(nslock *c, const char *host_port, nslock_error *err)
{
    char host[256];
    const char *port;
    if (host_port != c->where)
        snprintf(c->where, sizeof c->where, "%s", host_port);
    if (split_host_port(host_port, host, sizeof host, &port) < 0)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT,
                               "'%s' is not host:port or [address]:port", host_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list;
    int rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0)
        return nsl_client_fail(err, NSLOCK_E_IO, "cannot resolve %s: %s", host_port,
                               gai_strerror(rc));
    double deadline = nsl_client_deadline(c, 0);
    int fd = -1, e = 0;
    for (struct addrinfo *ai = list; ai && fd < 0; ai = ai->ai_next) {
        fd = connect_one(ai, deadline);
        e = errno;
    }
    freeaddrinfo(list);
    if (fd < 0)
        return nsl_client_fail(err, NSLOCK_E_IO, "cannot connect to %s: %s", host_port,
                               strerror(e));
    c->fd = fd;
    c->connection++;
    c->answers = 0;
    return 0;
}

/* Whether the server at c->where still answers anything: a second
 * connection says PING and waits half the takeover time for a line (before AUTH
 * the answer may be a refusal: any line will do). The session's own
 * connection is not touched. When it cannot tell (a name that does not
 * resolve now), it says yes: only silence is evidence. */
static bool still_answers(nslock *c)
{
    char host[256];
    const char *port;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list;
    if (split_host_port(c->where, host, sizeof host, &port) < 0
        || getaddrinfo(host, port, &hints, &list) != 0)
        return true;
    double deadline = nsl_client_now() + nsl_client_probe_wait(c);
    int fd = -1;
    for (struct addrinfo *ai = list; ai && fd < 0; ai = ai->ai_next)
        fd = connect_one(ai, deadline);
    freeaddrinfo(list);
    if (fd < 0)
        return false;
    static const char ping[] = "PING\n";
    char buf[64];
    bool answered = send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof ping - 1)
                    && wait_ready(fd, POLLIN, deadline) == 0 && recv(fd, buf, sizeof buf, 0) > 0;
    close(fd);
    return answered;
}

/* ---- I/O ---------------------------------------------------------------------- */

static int io_failure(nslock *c, nslock_error *err, const char *what, int e)
{
    if (e == ETIMEDOUT)
        return nsl_client_fail_close(c, err, NSLOCK_E_TIMEOUT,
                                     "no answer from %s in time; connection closed", c->where);
    return nsl_client_fail_close(c, err, NSLOCK_E_IO, "%s %s: %s; connection closed", what,
                                 c->where, strerror(e));
}

int nsl_client_send(nslock *c, double deadline, nslock_error *err)
{
    if (c->resume_pending) {     /* the resumed session has it already */
        c->last_io = nsl_client_now();
        c->resume_pending--;
        return 0;
    }
    if (c->wpend_len == 0)
        return nsl_client_send_raw(c, c->wbuf, c->wlen, deadline, err);
    /* what was held back goes first, in the same write */
    if (nsl_client_hold(c, err) < 0)
        return -1;
    return nsl_client_flush(c, deadline, err);
}

int nsl_client_hold(nslock *c, nslock_error *err)
{
    if (c->wpend_len + c->wlen > c->wpend_cap) {
        size_t cap = c->wpend_cap ? c->wpend_cap : 1024;
        while (cap < c->wpend_len + c->wlen)
            cap *= 2;
        char *bigger = realloc(c->wpend, cap);
        if (bigger == NULL)
            return nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory holding a request");
        c->wpend = bigger;
        c->wpend_cap = cap;
    }
    memcpy(c->wpend + c->wpend_len, c->wbuf, c->wlen);
    c->wpend_len += c->wlen;
    return 0;
}

int nsl_client_flush(nslock *c, double deadline, nslock_error *err)
{
    size_t len = c->wpend_len;
    c->wpend_len = 0;
    return len ? nsl_client_send_raw(c, c->wpend, len, deadline, err) : 0;
}

int nsl_client_send_raw(nslock *c, const char *buf, size_t len, double deadline,
                        nslock_error *err)
{
    size_t done = 0;
    c->last_io = nsl_client_now();
    while (done < len) {
        ssize_t n = send(c->fd, buf + done, len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_ready(c->fd, POLLOUT, deadline) < 0)
                return io_failure(c, err, "writing to", errno);
        } else if (n < 0 && errno != EINTR) {
            return io_failure(c, err, "writing to", errno);
        }
    }
    return 0;
}

int nsl_client_read_line(nslock *c, double deadline, char **line, size_t *len,
                         nslock_error *err)
{
    /* an answer may be awaited only once its request is out */
    if (c->wpend_len && nsl_client_flush(c, deadline, err) < 0)
        return -1;
    if (c->replay_at < c->replay_len) {   /* answers the server sent again on RESUME */
        char *start = c->replay + c->replay_at;
        char *nl = memchr(start, '\n', c->replay_len - c->replay_at);
        size_t n = nl ? (size_t)(nl - start) : c->replay_len - c->replay_at;
        start[n] = '\0';        /* the buffer has a byte after the last line */
        c->replay_at += n + 1;
        *line = start;
        *len = n;
        return 0;
    }
    size_t scanned = c->rpos;
    for (;;) {
        char *nl = memchr(c->rbuf + scanned, '\n', c->rlen - scanned);
        if (nl != NULL) {
            char *start = c->rbuf + c->rpos;
            size_t n = (size_t)(nl - start);
            *nl = '\0';
            if (n > 0 && start[n - 1] == '\r')
                start[--n] = '\0';
            c->rpos = (size_t)(nl + 1 - c->rbuf);
            *line = start;
            *len = n;
            return 0;
        }
        if (c->rlen - c->rpos > NSL_CLIENT_MAX_LINE)
            return nsl_client_fail_close(c, err, NSLOCK_E_PROTOCOL,
                                         "an answer line from %s longer than %u bytes; "
                                         "connection closed", c->where, NSL_CLIENT_MAX_LINE);
        /* make room: drop what was consumed, then grow */
        if (c->rpos > 0) {
            memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
            c->rlen -= c->rpos;
            c->rpos = 0;
        }
        scanned = c->rlen;
        if (c->rlen == c->rcap) {
            char *bigger = realloc(c->rbuf, c->rcap * 2);
            if (bigger == NULL)
                return nsl_client_fail_close(c, err, NSLOCK_E_NOMEM,
                                             "out of memory reading an answer; connection closed");
            c->rbuf = bigger;
            c->rcap *= 2;
        }
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
        } else if (n == 0) {
            return nsl_client_fail_close(c, err, NSLOCK_E_IO,
                                         "%s closed the connection", c->where);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait_answer(c, deadline) < 0) {
                if (errno != EHOSTDOWN)
                    return io_failure(c, err, "reading from", errno);
                nsl_client_suspect_server(c);
                /* IO, not TIMEOUT: the call goes on at the next leader */
                return nsl_client_fail_close(c, err, NSLOCK_E_IO,
                                             "%s stopped answering (nothing on a second "
                                             "connection either for %.1f s); connection closed",
                                             c->where, nsl_client_probe_wait(c));
            }
        } else if (errno != EINTR) {
            return io_failure(c, err, "reading from", errno);
        }
    }
}
