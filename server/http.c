/* server/http.c — server.http: /metrics, the lock-table page and its JSON
 * (docs/OPERATIONS.md), served by libmicrohttpd from the server's loop.
 *
 * libmicrohttpd runs with MHD_USE_EPOLL and no thread of its own: its
 * epoll fd is watched by a uv_poll_t and its timeout by a uv_timer_t, and
 * both call MHD_run, so every request is answered on the loop thread, the
 * one that may read the engine. No answer stalls the lock loop: /metrics
 * and /api/stats are a few kilobytes; /api/locks comes from a SHOW job a
 * chunk per loop turn (show.c), the connection suspended while the job
 * has nothing ready and resumed from its ready callback.
 *
 * A slow or greedy HTTP client costs the lock clients nothing beyond its
 * share of the loop: few connections (HTTP_CONNECTIONS, the rest closed at
 * once), a small memory pool each (a larger header gets 431), and idle
 * ones closed after HTTP_TIMEOUT_S.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "server/server_internal.h"

#define HTTP_CONNECTIONS   64            /* Prometheus and a few browsers */
#define HTTP_MEMORY        (32 * 1024)   /* per connection: headers and buffers */
#define HTTP_TIMEOUT_S     10            /* an idle connection is closed */
#define HTTP_BODY_BLOCK    (64 * 1024)   /* /api/locks is pulled this much at a time */

extern const unsigned char nsl_locks_page[];   /* server/page/locks.html, embedded */
extern const size_t nsl_locks_page_len;

typedef struct http_request http_request;

typedef struct nsl_http {
    nsl_server *srv;
    struct MHD_Daemon *daemon;
    uv_poll_t poll;
    uv_timer_t timer;
    int handles_open;
    bool need_token;                 /* not on the loopback: Bearer token required */
    char where[300];                 /* HOST:PORT, for the log */
    http_request *requests;          /* /api/locks in progress */
} nsl_http;

/* An /api/locks response: its SHOW job and whether the connection waits
 * for the job. */
struct http_request {
    nsl_http *http;
    struct MHD_Connection *conn;
    nsl_show *job;
    bool suspended;
    http_request *prev, *next;
};

/* ---- driving libmicrohttpd from the loop ----------------------------------------------- */

static void on_timer(uv_timer_t *timer);

static void run(nsl_http *http)
{
    MHD_run(http->daemon);
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(http->daemon, &ms) == MHD_YES)
        uv_timer_start(&http->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&http->timer);
}

static void on_timer(uv_timer_t *timer)
{
    run(timer->data);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    (void)status;
    (void)events;
    run(poll->data);
}

/* A resumed connection is served at the next MHD_run: soon, on this loop. */
static void kick(nsl_http *http)
{
    uv_timer_start(&http->timer, on_timer, 0, 0);
}

/* ---- answers ------------------------------------------------------------------------------ */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned code,
                              struct MHD_Response *resp, const char *type)
{
    if (!resp)
        return MHD_NO;               /* out of memory: libmicrohttpd closes the connection */
    if (type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result rc = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned code, const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    return answer(conn, code, resp, "text/plain; charset=utf-8");
}

static enum MHD_Result answer_textf(struct MHD_Connection *conn, unsigned code,
                                    const char *fmt, const char *arg)
{
    char buf[512];
    snprintf(buf, sizeof buf, fmt, arg);
    return answer_text(conn, code, buf);
}

/* The text, handed over to libmicrohttpd (which frees it). */
static enum MHD_Result answer_owned(struct MHD_Connection *conn, nsl_text *t, const char *type)
{
    if (t->failed) {
        nsl_text_free(t);
        return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(t->len, t->p,
                                                                MHD_RESPMEM_MUST_FREE);
    if (!resp)
        nsl_text_free(t);
    return answer(conn, MHD_HTTP_OK, resp, type);
}

static const char *peer(struct MHD_Connection *conn, char *buf, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    buf[0] = '\0';
    if (!ci || !ci->client_addr ||
        getnameinfo(ci->client_addr, ci->client_addr->sa_family == AF_INET6
                    ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
                    buf, (socklen_t)cap, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(buf, cap, "unknown");
    return buf;
}

/* `Authorization: Bearer TOKEN` with the TCP token, compared as AUTH
 * compares it: SHA-256 digests, in constant time. */
static bool authorized(nsl_http *http, struct MHD_Connection *conn)
{
    if (!http->need_token)
        return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    const char *token = h + 7;
    uint8_t digest[SHA256_DIGEST_SIZE];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, strlen(token), (const uint8_t *)token);
    sha256_digest(&ctx, sizeof digest, digest);
    return memeql_sec(digest, http->srv->auth_digest, sizeof digest);
}

/* con_cls of a request answered at once: nothing to free at its end */
static char answered;

/* ---- /api/locks ---------------------------------------------------------------------------- */

static ssize_t read_locks(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_request *r = cls;
    ssize_t n = nsl_show_read(r->job, buf, max);
    if (n > 0)
        return n;
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* nothing ready: wait for the job instead of being asked again at once */
    r->suspended = true;
    MHD_suspend_connection(r->conn);
    return 0;
}

static void locks_ready(void *arg)
{
    http_request *r = arg;
    if (!r->suspended)
        return;
    r->suspended = false;
    MHD_resume_connection(r->conn);
    kick(r->http);
}

/* The SHOW filter from ?database=&namespace=&owner=&prefix=; NULL when
 * they are good, else what is wrong (into why). */
static const char *locks_query(nsl_http *http, struct MHD_Connection *conn, nsl_show_query *q,
                               char *why, size_t cap)
{
    const nsl_registry *reg = http->srv->reg;
    nsl_show_query_init(q);
    q->format = NSL_SHOW_JSON;
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "database");
    if (v && *v) {
        const nsl_database *d = nsl_registry_find_database(reg, v);
        if (!d)
            return snprintf(why, cap, "database=: unknown database '%.100s'\n", v), why;
        q->filter.database = d->id;
    }
    v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "namespace");
    if (v && *v) {
        const nsl_namespace *ns = nsl_registry_find_namespace(reg, v);
        if (!ns)
            return snprintf(why, cap, "namespace=: unknown namespace '%.100s'\n", v), why;
        q->filter.namespace_id = ns->id;
    }
    v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "owner");
    if (v && *v) {
        char *end;
        unsigned long long id = strtoull(v, &end, 10);
        if (*end || v[0] == '-' || id == 0 || id > UINT32_MAX)
            return snprintf(why, cap, "owner=: '%.100s' is not a session id\n", v), why;
        q->filter.owner = (nsl_owner_id)id;
    }
    v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "prefix");
    if (v && *v)
        q->filter.name_prefix = v;   /* the job copies it */
    return NULL;
}

static enum MHD_Result serve_locks(nsl_http *http, struct MHD_Connection *conn, void **con_cls)
{
    nsl_show_query q;
    char why[256];
    if (locks_query(http, conn, &q, why, sizeof why))
        return answer_text(conn, MHD_HTTP_BAD_REQUEST, why);
    http_request *r = calloc(1, sizeof *r);
    if (!r || !(r->job = nsl_show_open(http->srv, &q))) {
        free(r);
        return answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    }
    r->http = http;
    r->conn = conn;
    nsl_show_on_ready(r->job, locks_ready, r);
    r->next = http->requests;
    if (r->next)
        r->next->prev = r;
    http->requests = r;
    *con_cls = r;                    /* freed in on_completed */
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_BODY_BLOCK, read_locks, r, NULL);
    return answer(conn, MHD_HTTP_OK, resp, "application/json");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)conn;
    (void)why;
    nsl_http *http = cls;
    http_request *r = *con_cls;
    if (!r || *con_cls == &answered)
        return;
    *con_cls = NULL;
    nsl_show_close(r->job);
    if (r->prev)
        r->prev->next = r->next;
    else
        http->requests = r->next;
    if (r->next)
        r->next->prev = r->prev;
    free(r);
}

/* ---- routing ------------------------------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    (void)upload_data;
    nsl_http *http = cls;
    if (*con_cls)                    /* a body still arriving for an answered request */
        return (*upload_data_size = 0, MHD_YES);
    *con_cls = &answered;            /* serve_locks puts its request there instead */
    http->srv->metrics.http_requests++;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            strlen("only GET and HEAD\n"), (void *)"only GET and HEAD\n", MHD_RESPMEM_PERSISTENT);
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp, "text/plain; charset=utf-8");
    }
    bool page = strcmp(url, "/") == 0;
    if (!page && strcmp(url, "/metrics") && strcmp(url, "/api/locks") && strcmp(url, "/api/stats"))
        return answer_textf(conn, MHD_HTTP_NOT_FOUND,
                            "no %.200s here (/, /metrics, /api/locks, /api/stats)\n", url);
    /* The page itself holds no data: it is served without the token, which
     * its script sends with each request (docs/OPERATIONS.md). */
    if (!page && !authorized(http, conn)) {
        char who[64];
        http->srv->metrics.http_auth_failures++;
        nsl_log(NSL_LOG_WARN, "http %s: %s refused: no or wrong bearer token", peer(conn, who,
                sizeof who), url);
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            strlen("bearer token required\n"), (void *)"bearer token required\n",
            MHD_RESPMEM_PERSISTENT);
        if (resp)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        return answer(conn, MHD_HTTP_UNAUTHORIZED, resp, "text/plain; charset=utf-8");
    }
    if (page) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            nsl_locks_page_len, (void *)nsl_locks_page, MHD_RESPMEM_PERSISTENT);
        if (resp)
            MHD_add_response_header(resp, "Content-Security-Policy",
                                    "default-src 'none'; script-src 'unsafe-inline'; "
                                    "style-src 'unsafe-inline'; connect-src 'self'; img-src data:");
        return answer(conn, MHD_HTTP_OK, resp, "text/html; charset=utf-8");
    }
    if (strcmp(url, "/api/locks") == 0)
        return serve_locks(http, conn, con_cls);
    nsl_text t = {0};
    if (strcmp(url, "/metrics") == 0) {
        nsl_metrics_text(http->srv, &t);
        return answer_owned(conn, &t, "text/plain; version=0.0.4");
    }
    nsl_stats_json(http->srv, &t);
    return answer_owned(conn, &t, "application/json");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (!nsl_log_enabled(NSL_LOG_DEBUG))
        return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    nsl_log(NSL_LOG_DEBUG, "http: %s", msg);
}

/* ---- starting and stopping ----------------------------------------------------------------- */

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a6) ||
           (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

static void on_handle_closed(uv_handle_t *h)
{
    nsl_http *http = h->data;
    if (--http->handles_open == 0)
        free(http);
}

bool nsl_http_start(nsl_server *srv)
{
    const char *where = srv->cfg->http;
    const char *colon = strrchr(where, ':');
    char host[256];
    size_t hlen = colon ? (size_t)(colon - where) : 0;
    const char *h = where;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (!colon || hlen == 0 || hlen >= sizeof host) {
        nsl_log(NSL_LOG_ERROR, "server.http must be HOST:PORT, not '%s'", where);
        return false;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, colon + 1, &hints, &ai);
    if (gai != 0) {
        nsl_log(NSL_LOG_ERROR, "server.http %s: %s", where, gai_strerror(gai));
        return false;
    }
    nsl_http *http = calloc(1, sizeof *http);
    if (!http) {
        freeaddrinfo(ai);
        nsl_log(NSL_LOG_ERROR, "out of memory");
        return false;
    }
    http->srv = srv;
    http->need_token = !is_loopback(ai->ai_addr);
    snprintf(http->where, sizeof http->where, "%s", where);
    if (http->need_token && !srv->auth_token) {
        nsl_log(NSL_LOG_ERROR, "server.http %s is not a loopback address: it needs "
                "server.token_file (requests must carry Authorization: Bearer TOKEN)", where);
        freeaddrinfo(ai);
        free(http);
        return false;
    }
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    http->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, http,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, http,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!http->daemon) {
        nsl_log(NSL_LOG_ERROR, "cannot serve server.http on %s (is the port in use?)", where);
        free(http);
        return false;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info || uv_poll_init(&srv->loop, &http->poll, info->epoll_fd) != 0) {
        nsl_log(NSL_LOG_ERROR, "server.http %s: cannot watch libmicrohttpd's epoll fd", where);
        MHD_stop_daemon(http->daemon);
        free(http);
        return false;
    }
    uv_timer_init(&srv->loop, &http->timer);
    http->poll.data = http->timer.data = http;
    http->handles_open = 2;
    uv_poll_start(&http->poll, UV_READABLE, on_poll);
    srv->http = http;
    run(http);
    nsl_log(NSL_LOG_INFO, "serving http on %s (/metrics, /, /api/locks, /api/stats%s)", where,
            http->need_token ? "; bearer token required" : "");
    return true;
}

void nsl_http_stop(nsl_server *srv)
{
    nsl_http *http = srv->http;
    if (!http)
        return;
    srv->http = NULL;
    /* libmicrohttpd must not be stopped with connections suspended */
    for (http_request *r = http->requests; r; r = r->next)
        if (r->suspended) {
            r->suspended = false;
            MHD_resume_connection(r->conn);
        }
    uv_poll_stop(&http->poll);       /* before the epoll fd goes with the daemon */
    MHD_stop_daemon(http->daemon);   /* closes the connections: on_completed frees them */
    uv_close((uv_handle_t *)&http->poll, on_handle_closed);
    uv_close((uv_handle_t *)&http->timer, on_handle_closed);
}
