/* server/server.c — the event loop: listeners, the engine's clock and
 * callbacks, signals and shutdown.
 *
 * Every libuv callback that may touch the engine ends in settle(), which
 * serves the sessions a grant unblocked, moves the fencing-token mark if
 * needed, sends all collected output (one write per session), and re-arms
 * the one timer at the engine's next deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "server/server_internal.h"

#define FORCE_CLOSE_MS 2000      /* at shutdown, for clients that do not read */

void nsl_server_options_init(nsl_server_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->log_level = NSL_LOG_INFO;
}

size_t nsl_server_default_socket(char *buf, size_t cap)
{
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    int n;
    if (runtime && runtime[0] == '/')
        n = snprintf(buf, cap, "%s/nslock/nslock.sock", runtime);
    else
        n = snprintf(buf, cap, "/tmp/nslock-%lu/nslock.sock", (unsigned long)getuid());
    return n < 0 ? 0 : (size_t)n;
}

/* The default socket's directory must be this user's alone: in /tmp anyone
 * could have made it first (or a symlink by its name) to squat the socket.
 * Created 0700 if absent; refused unless a real directory of ours that
 * nobody else can write or enter. */
static bool private_directory(const char *socket_path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", socket_path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return true;
    *slash = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        nsl_log(NSL_LOG_ERROR, "cannot create the socket directory %s: %s", dir, strerror(errno));
        return false;
    }
    struct stat st;
    if (lstat(dir, &st) != 0) {
        nsl_log(NSL_LOG_ERROR, "cannot examine the socket directory %s: %s", dir, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
        nsl_log(NSL_LOG_ERROR, "the socket directory %s is %s; another user may have made it "
                "to take the socket: not using it (remove it, or give --socket)", dir,
                !S_ISDIR(st.st_mode) ? "not a directory" : st.st_uid != geteuid()
                ? "owned by another user" : "open to other users");
        return false;
    }
    return true;
}

uint64_t nsl_server_now(nsl_server *srv)
{
    return uv_now(&srv->loop);
}

/* ---- the engine's callbacks --------------------------------------------------- */

static void on_done(void *ctx, nsl_owner_id owner, const nsl_lock_result *r)
{
    nsl_server *srv = ctx;
    nsl_session *s = nsl_session_by_owner(srv, owner);
    if (!s || s->ended || srv->stopping)
        return;
    nsl_protocol_lock_done(s, r);
}

static void on_notice(void *ctx, nsl_notice kind, const char *text)
{
    nsl_server *srv = ctx;
    switch (kind) {
    case NSL_NOTICE_TABLE_FULL:
        srv->metrics.table_full = true;
        nsl_log(NSL_LOG_WARN, "%s", text);
        break;
    case NSL_NOTICE_TABLE_ROOM:
        srv->metrics.table_full = false;
        nsl_log(NSL_LOG_INFO, "%s", text);
        break;
    case NSL_NOTICE_DEADLOCK:
        nsl_log(NSL_LOG_INFO, "%s", text);
        break;
    case NSL_NOTICE_ESCALATION:
        nsl_log(NSL_LOG_DEBUG, "%s", text);
        break;
    }
}

/* nslock_hold_seconds; times are the loop's milliseconds the engine was given. */
static void on_released(void *ctx, uint32_t database, uint64_t since)
{
    (void)database;
    nsl_server *srv = ctx;
    uint64_t now = nsl_server_now(srv);
    nsl_histogram_observe(&srv->metrics.hold, now > since ? (double)(now - since) / 1000 : 0);
}

/* ---- settling after an event ---------------------------------------------------- */

static void on_timer(uv_timer_t *timer);

static void arm_timer(nsl_server *srv)
{
    if (srv->stopping)
        return;
    uint64_t due = nsl_engine_next_deadline(srv->engine);
    if (due == srv->timer_due)
        return;
    srv->timer_due = due;
    if (due == UINT64_MAX) {
        uv_timer_stop(&srv->timer);
        return;
    }
    uint64_t now = nsl_server_now(srv);
    uv_timer_start(&srv->timer, on_timer, due > now ? due - now : 0, 0);
}

/* The fencing-token mark moves ahead on libuv's thread pool: its write,
 * fsync and rename take a millisecond or more, which on the loop would
 * hold up every session. Only that file is touched there. */
static void token_write_run(uv_work_t *w)
{
    nsl_server *srv = w->data;
    srv->token_write_err = nsl_state_write_tokens(&srv->state, srv->token_write_mark,
                                                  srv->token_write_mark);
}

static void token_write_done(uv_work_t *w, int status)
{
    nsl_server *srv = w->data;
    srv->token_writing = false;
    if (status == 0)
        nsl_state_tokens_written(&srv->state, srv->token_write_mark, srv->token_write_err);
}

/* Every send goes through here first: no token leaves the server before
 * the mark on disk covers it. */
bool nsl_server_cover_tokens(nsl_server *srv)
{
    nsl_engine_stats st;
    nsl_engine_stats_get(srv->engine, &st);
    if (srv->coord)
        return nsl_ha_may_send(srv, st.last_token);
    nsl_state_cover_tokens(&srv->state, st.last_token);    /* waits only when uncovered */
    uint64_t due = srv->token_writing ? 0 : nsl_state_tokens_due(&srv->state, st.last_token);
    if (due) {
        srv->token_write_mark = due;
        srv->token_work.data = srv;
        srv->token_writing =
            uv_queue_work(&srv->loop, &srv->token_work, token_write_run, token_write_done) == 0;
    }
    return true;
}

void nsl_server_settle(nsl_server *srv)
{
    if (srv->settling)
        return;
    srv->settling = true;
    /* A failed send ends a session, which may grant another's request:
     * go round until nothing is left to serve or send. */
    while (srv->ready_head || srv->dirty_head) {
        while (srv->ready_head) {
            nsl_session *s = srv->ready_head;
            srv->ready_head = s->ready_next;
            if (!srv->ready_head)
                srv->ready_tail = NULL;
            s->in_ready = false;
            nsl_session_drain(s);
        }
        while (srv->dirty_head) {
            nsl_session *s = srv->dirty_head;
            srv->dirty_head = s->dirty_next;
            s->in_dirty = false;
            nsl_session_flush(s);
        }
    }
    arm_timer(srv);
    srv->settling = false;
}

static void on_timer(uv_timer_t *timer)
{
    nsl_server *srv = timer->data;
    srv->timer_due = UINT64_MAX;
    nsl_engine_tick(srv->engine, nsl_server_now(srv));
    nsl_server_settle(srv);
}

/* ---- listeners ---------------------------------------------------------------------- */

static void on_connection(uv_stream_t *listener, int status)
{
    nsl_server *srv = listener->data;
    if (status < 0) {
        nsl_guard_accept_failed(srv, status);    /* logged once per episode */
        return;
    }
    if (srv->stopping)
        return;
    nsl_session_accept(srv, listener, listener == (uv_stream_t *)&srv->tcp_listener);
    nsl_server_settle(srv);
}

/* A socket file left by a server that is gone is removed; one that a live
 * server answers on is left alone, and we do not start. */
static bool clear_stale_socket(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return true;
        nsl_log(NSL_LOG_ERROR, "cannot use the socket path %s: %s", path, strerror(errno));
        return false;
    }
    if (!S_ISSOCK(st.st_mode)) {
        nsl_log(NSL_LOG_ERROR, "%s exists and is not a socket; not touching it", path);
        return false;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        nsl_log(NSL_LOG_ERROR, "socket: %s", strerror(errno));
        return false;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    int err = errno;
    close(fd);
    if (rc == 0) {
        nsl_log(NSL_LOG_ERROR, "another nslock server is already listening on %s", path);
        return false;
    }
    if (err != ECONNREFUSED && err != ENOENT) {
        nsl_log(NSL_LOG_ERROR, "cannot check the existing socket %s: %s", path, strerror(err));
        return false;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        nsl_log(NSL_LOG_ERROR, "cannot remove the stale socket %s: %s", path, strerror(errno));
        return false;
    }
    nsl_log(NSL_LOG_INFO, "removed the stale socket %s", path);
    return true;
}

static bool listen_unix(nsl_server *srv)
{
    uv_pipe_init(&srv->loop, &srv->unix_listener, 0);
    srv->unix_listener.data = srv;
    srv->unix_open = true;
    /* Created 0660 from the start (the umask), then chmod'ed in case the
     * file system ignored it: no moment where others could connect. */
    mode_t old = umask(0117);
    int rc = uv_pipe_bind(&srv->unix_listener, srv->socket_path);
    umask(old);
    if (rc != 0) {
        /* libuv reports a missing directory as EACCES: say which it was */
        char dir[sizeof srv->socket_path];
        snprintf(dir, sizeof dir, "%s", srv->socket_path);
        char *slash = strrchr(dir, '/');
        struct stat st;
        if (slash && slash != dir && (*slash = '\0', stat(dir, &st) != 0) && errno == ENOENT)
            nsl_log(NSL_LOG_ERROR, "cannot bind %s: the directory %s does not exist",
                    srv->socket_path, dir);
        else
            nsl_log(NSL_LOG_ERROR, "cannot bind %s: %s", srv->socket_path, uv_strerror(rc));
        return false;
    }
    srv->socket_bound = true;
    if (chmod(srv->socket_path, 0660) != 0) {
        nsl_log(NSL_LOG_ERROR, "cannot chmod %s: %s", srv->socket_path, strerror(errno));
        return false;
    }
    rc = uv_listen((uv_stream_t *)&srv->unix_listener, SOMAXCONN, on_connection);
    if (rc != 0) {
        nsl_log(NSL_LOG_ERROR, "cannot listen on %s: %s", srv->socket_path, uv_strerror(rc));
        return false;
    }
    nsl_log(NSL_LOG_INFO, "listening on %s", srv->socket_path);
    return true;
}

/* The shared TCP token: the first line of server.token_file, trimmed. Like
 * ssh with a key, a file others may read (or replace) is refused. */
static bool read_auth_token(nsl_server *srv)
{
    const char *path = srv->cfg->token_file;
    if (!path) {
        nsl_log(NSL_LOG_ERROR, "server.listen needs server.token_file");
        return false;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        nsl_log(NSL_LOG_ERROR, "cannot read server.token_file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    const char *wrong = !S_ISREG(st.st_mode) ? "is not a regular file"
                      : st.st_uid != geteuid() && st.st_uid != 0 ? "belongs to another user"
                      : (st.st_mode & 0077) ? "can be read or written by its group or others"
                      : NULL;
    if (wrong) {
        char fix[64] = "chmod 600";
        if (S_ISREG(st.st_mode) && st.st_uid != geteuid() && st.st_uid != 0)
            snprintf(fix, sizeof fix, "chown %lu", (unsigned long)geteuid());
        nsl_log(NSL_LOG_ERROR, "server.token_file %s %s (mode %04o, owner uid %lu); only its "
                "owner, the server's user, may read it: %s %s", path, wrong,
                (unsigned)(st.st_mode & 07777), (unsigned long)st.st_uid, fix, path);
        close(fd);
        return false;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        nsl_log(NSL_LOG_ERROR, "cannot read server.token_file %s: %s", path, strerror(errno));
        return false;
    }
    buf[n] = '\0';
    size_t len = strcspn(buf, "\r\n");
    while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    size_t start = strspn(buf, " \t");
    if (start >= len) {
        nsl_log(NSL_LOG_ERROR, "server.token_file %s holds no token", path);
        return false;
    }
    srv->auth_token_len = len - start;
    srv->auth_token = malloc(srv->auth_token_len + 1);
    if (!srv->auth_token)
        return false;
    memcpy(srv->auth_token, buf + start, srv->auth_token_len);
    srv->auth_token[srv->auth_token_len] = '\0';
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, srv->auth_token_len, (const uint8_t *)srv->auth_token);
    sha256_digest(&ctx, sizeof srv->auth_digest, srv->auth_digest);
    explicit_bzero(buf, sizeof buf);
    return true;
}

static bool listen_tcp(nsl_server *srv)
{
    const char *listen = srv->cfg->listen;
    if (!read_auth_token(srv))
        return false;
    const char *colon = strrchr(listen, ':');
    if (!colon) {
        nsl_log(NSL_LOG_ERROR, "server.listen must be HOST:PORT, not '%s'", listen);
        return false;
    }
    char host[256];
    size_t hlen = (size_t)(colon - listen);
    const char *h = listen;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= sizeof host)
        hlen = sizeof host - 1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(hlen ? host : NULL, colon + 1, &hints, &ai);
    if (gai != 0) {
        nsl_log(NSL_LOG_ERROR, "server.listen %s: %s", listen, gai_strerror(gai));
        return false;
    }
    uv_tcp_init(&srv->loop, &srv->tcp_listener);
    srv->tcp_listener.data = srv;
    srv->tcp_open = true;
    int rc = uv_tcp_bind(&srv->tcp_listener, ai->ai_addr, 0);
    freeaddrinfo(ai);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->tcp_listener, SOMAXCONN, on_connection);
    if (rc != 0) {
        nsl_log(NSL_LOG_ERROR, "cannot listen on %s: %s", listen, uv_strerror(rc));
        return false;
    }
    nsl_log(NSL_LOG_INFO, "listening on tcp %s (token required)", listen);
    return true;
}

/* ---- stopping ------------------------------------------------------------------------- */

static void on_force_timer(uv_timer_t *timer)
{
    nsl_server *srv = timer->data;
    for (nsl_session *s = srv->sessions; s; s = s->next)
        if (!s->handle_closing) {
            nsl_log(NSL_LOG_WARN, "session %u: output not taken; closing", s->owner);
            nsl_session_force_close(s);
        }
    uv_close((uv_handle_t *)timer, NULL);
}

/* Stop accepting, answer every waiting request SHUTDOWN, send
 * what is owed, remove the socket file; the loop ends when the last
 * connection has closed. */
static void server_stop(nsl_server *srv, const char *why)
{
    if (srv->stopping)
        return;
    nsl_log(NSL_LOG_INFO, "stopping (%s)", why);
    srv->stopping = true;
    nsl_http_stop(srv);
    if (srv->unix_open)
        uv_close((uv_handle_t *)&srv->unix_listener, NULL);
    if (srv->tcp_open)
        uv_close((uv_handle_t *)&srv->tcp_listener, NULL);
    srv->unix_open = srv->tcp_open = false;
    if (srv->socket_bound && unlink(srv->socket_path) != 0 && errno != ENOENT)
        nsl_log(NSL_LOG_WARN, "cannot remove %s: %s", srv->socket_path, strerror(errno));
    srv->socket_bound = false;
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uv_close((uv_handle_t *)&srv->sighup, NULL);
    uv_close((uv_handle_t *)&srv->timer, NULL);
    uv_close((uv_handle_t *)&srv->watch_timer, NULL);
    nsl_guard_stop(srv);
    nsl_ha_stop(srv);
    if (uv_is_active((uv_handle_t *)&srv->commit_check))
        uv_check_stop(&srv->commit_check);

    /* Answers first, then ends: ending one owner must not grant another's
     * request on the way out. */
    for (nsl_session *s = srv->sessions; s; s = s->next)
        if (!s->ended)
            nsl_session_refuse_queued(s);
    for (nsl_session *s = srv->sessions; s; s = s->next)
        nsl_session_end(s, true);
    srv->ready_head = srv->ready_tail = NULL;
    nsl_server_settle(srv);

    uv_timer_init(&srv->loop, &srv->force_timer);
    srv->force_timer.data = srv;
    uv_timer_start(&srv->force_timer, on_force_timer, FORCE_CLOSE_MS, 0);
    uv_unref((uv_handle_t *)&srv->force_timer);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    server_stop(sig->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* SIGHUP is a daemon's "reload" (systemctl reload) or a terminal that went
 * away: neither may kill the lock table silently. There is nothing to
 * reload (a new map while locks are held could move names between
 * databases), so it is logged and serving goes on. */
static void on_hangup(uv_signal_t *sig, int signum)
{
    (void)sig;
    (void)signum;
    nsl_log(NSL_LOG_WARN, "SIGHUP: ignored; nslock serve does not reload its configuration "
            "(restart it to change the map: the clients reclaim their locks)");
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* ---- running ---------------------------------------------------------------------------- */

static bool choose_socket(nsl_server *srv, const nsl_server_options *opt)
{
    char def[sizeof srv->socket_path + 64];
    /* Serve finds its socket as every client does */
    const char *env = getenv("NSLOCK_SOCKET");
    const char *path = opt->socket_path ? opt->socket_path
                     : env && *env ? env : srv->cfg->socket;
    if (!path) {
        nsl_server_default_socket(def, sizeof def);
        path = def;
        if (!private_directory(path))
            return false;
    }
    if (strlen(path) >= sizeof srv->socket_path) {
        nsl_log(NSL_LOG_ERROR, "the socket path %s is longer than %zu bytes, the limit of a Unix socket",
                path, sizeof srv->socket_path - 1);
        return false;
    }
    memcpy(srv->socket_path, path, strlen(path) + 1);
    return true;
}

bool nsl_server_new_engine(nsl_server *srv, uint64_t first_token, nsl_owner_id first_owner)
{
    /* harness.c sets up its in-process server as this does: keep them alike */
    const nsl_config *cfg = srv->cfg;
    nsl_engine_options eo;
    nsl_engine_options_default(&eo);
    eo.max_entries = cfg->max_entries;
    eo.escalation_threshold = cfg->escalation_threshold;
    eo.deadlock_check_ms = cfg->deadlock_check_ms;
    eo.max_owner_entries = cfg->max_session_entries;
    eo.first_token = first_token;
    eo.first_owner = first_owner;
    nsl_engine_callbacks cb = {.done = on_done, .notice = on_notice, .released = on_released};
    nsl_engine *e = nsl_engine_new(&eo, srv->resolver, &cb, srv);
    if (!e) {
        nsl_log(NSL_LOG_ERROR, "cannot create the lock engine");
        return false;
    }
    if (srv->engine)
        nsl_engine_free(srv->engine);
    srv->engine = e;
    srv->metrics.table_full = false;
    srv->timer_due = UINT64_MAX;     /* the old engine's deadline is gone with it */
    if (uv_is_active((uv_handle_t *)&srv->timer))
        uv_timer_stop(&srv->timer);
    return true;
}

static bool start(nsl_server *srv, const nsl_server_options *opt)
{
    uint64_t first_token = 0;
    nsl_owner_id max_session = 0;
    char state_dir[4096];
    if (!choose_socket(srv, opt) || !clear_stale_socket(srv->socket_path))
        return false;
    const nsl_config *cfg = srv->cfg;
    if (cfg->ha_zookeeper) {
        /* The registry, the epoch and the tokens live in ZooKeeper: they
         * are read when this server is elected (ha.c). */
        nsl_recovery_init(srv);
    } else {
        if (opt->state_dir || cfg->state_dir)
            snprintf(state_dir, sizeof state_dir, "%s", opt->state_dir ? opt->state_dir : cfg->state_dir);
        else
            nsl_state_default_dir(srv->socket_path, state_dir, sizeof state_dir);
        /* The epoch is raised and the registry read before anyone can connect. */
        if (!nsl_recovery_start(srv, state_dir, &first_token, &max_session))
            return false;
    }

    uv_timer_init(&srv->loop, &srv->timer);
    srv->timer.data = srv;
    if (!nsl_server_new_engine(srv, first_token, max_session))
        return false;
    if (nsl_recovery_active(srv))
        nsl_engine_hold_grants(srv->engine, true, nsl_server_now(srv));

    nsl_sessions_init_watch_timer(srv);

    uv_signal_init(&srv->loop, &srv->sigterm);
    uv_signal_init(&srv->loop, &srv->sigint);
    uv_signal_init(&srv->loop, &srv->sighup);
    srv->sigterm.data = srv->sigint.data = srv->sighup.data = srv;
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    uv_signal_start(&srv->sighup, on_hangup, SIGHUP);
    /* Held since nsl_server_run began: a stop asked for during the start
     * (the state directory, the registry) is served now, not lost. */
    sigprocmask(SIG_SETMASK, &srv->startup_mask, NULL);

    /* before the first connection: every session is on the ring or none.
     * epoll by default: with a CPU of its own the server waits for most
     * requests, and a wake through the ring costs more than a read
     * (docs/PERFORMANCE.md, "Client sockets on io_uring"). */
    const char *io = opt->io_method ? opt->io_method : cfg->io_method ? cfg->io_method : "epoll";
    if (!strcmp(io, "epoll"))
        nsl_log(NSL_LOG_INFO, "client sockets: epoll through libuv (io_method epoll)");
    else if (!nsl_ring_start(srv, !strcmp(io, "io_uring")))
        return false;
    if (!listen_unix(srv))
        return false;
    if (cfg->listen && !listen_tcp(srv))
        return false;
    /* Off the loopback, HTTP requests carry the TCP token too. */
    if (cfg->http && cfg->token_file && !srv->auth_token && !read_auth_token(srv))
        return false;
    if (cfg->http && !nsl_http_start(srv))
        return false;
    if (!nsl_guard_start(srv))
        return false;
    if (cfg->ha_zookeeper && !nsl_ha_start(srv))
        return false;
    size_t dbs = nsl_registry_database_count(srv->reg);
    size_t nss = nsl_registry_namespace_count(srv->reg);
    if (cfg->ha_zookeeper)
        nsl_log(NSL_LOG_INFO, "serving %s: %zu database%s, %zu namespace%s, as a standby until "
                "elected", cfg->file ? cfg->file : "<default>", dbs, dbs == 1 ? "" : "s", nss,
                nss == 1 ? "" : "s");
    else
        nsl_log(NSL_LOG_INFO, "serving %s: %zu database%s, %zu namespace%s, fencing tokens "
                "after %llu", cfg->file ? cfg->file : "<default>", dbs, dbs == 1 ? "" : "s", nss,
                nss == 1 ? "" : "s", (unsigned long long)first_token);
    return true;
}

int nsl_server_run(const nsl_resolver *resolver, const nsl_server_options *opt)
{
    nsl_server_options defaults;
    if (!opt) {
        nsl_server_options_init(&defaults);
        opt = &defaults;
    }
    nsl_log_set_level(opt->log_level);
    nsl_log_set_format(opt->log_format);
    nsl_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        nsl_log(NSL_LOG_ERROR, "out of memory");
        return 1;
    }
    srv->resolver = resolver;
    srv->reg = nsl_resolver_registry(resolver);
    srv->cfg = nsl_registry_config(srv->reg);
    srv->config_text = opt->config_text;
    srv->config_len = opt->config_len;
    srv->self_uid = geteuid();
    srv->state.dir_fd = srv->state.lock_fd = srv->state.registry_fd = -1;
    nsl_lock_command_init(&srv->cmd);
    /* A client that disconnects must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGHUP);
    sigprocmask(SIG_BLOCK, &stops, &srv->startup_mask);
    int rc = uv_loop_init(&srv->loop);
    if (rc != 0) {
        nsl_log(NSL_LOG_ERROR, "cannot start the event loop: %s", uv_strerror(rc));
        free(srv);
        return 1;
    }

    int status = 0;
    if (start(srv, opt)) {
        uv_run(&srv->loop, UV_RUN_DEFAULT);
        nsl_log(NSL_LOG_INFO, "stopped");
    } else {
        status = 1;
        sigprocmask(SIG_SETMASK, &srv->startup_mask, NULL);
        if (srv->socket_bound)
            unlink(srv->socket_path);
        srv->stopping = true;
    }

    nsl_http_stop(srv);                  /* a start that failed after it began */
    uv_walk(&srv->loop, close_any, NULL);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&srv->loop) != 0)
        nsl_log(NSL_LOG_WARN, "the event loop did not close cleanly");
    nsl_ring_free(srv);
    if (srv->engine)
        nsl_engine_free(srv->engine);
    nsl_lock_command_free(&srv->cmd);
    nsl_recovery_free(srv);
    nsl_guard_free(srv);
    free(srv->auth_token);
    free(srv);
    return status;
}
