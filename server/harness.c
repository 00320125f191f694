/* server/harness.c — a lock server inside the calling process, for the
 * protocol fuzzer and its corpus test.
 *
 * Everything a client meets is the real thing: sessions accepted from a
 * Unix socket, their framing and pipelining queue, the requests, the
 * registration in a state directory, the engine. What differs from
 * nsl_server_run: no signals, no TCP, and the caller turns the loop, so it
 * decides when a request is read and may let engine time pass at once.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/server_internal.h"

struct nsl_harness {
    nsl_server *srv;
    uv_pipe_t listener;
    nsl_owner_id accepted;           /* the owner of the session accepted last */
    char dir[sizeof ((nsl_server *)0)->socket_path - 16];
    char state_dir[sizeof ((nsl_server *)0)->socket_path];
};

static void harness_done(void *ctx, nsl_owner_id owner, const nsl_lock_result *r)
{
    nsl_session *s = nsl_session_by_owner(ctx, owner);
    if (s && !s->ended)
        nsl_protocol_lock_done(s, r);
}

static void harness_notice(void *ctx, nsl_notice kind, const char *text)
{
    (void)ctx;
    nsl_log(kind == NSL_NOTICE_TABLE_FULL ? NSL_LOG_WARN : NSL_LOG_INFO, "%s", text);
}

static void harness_connection(uv_stream_t *listener, int status)
{
    nsl_harness *h = listener->data;
    if (status < 0)
        return;
    nsl_session *before = h->srv->sessions;
    nsl_session_accept(h->srv, listener, false);
    if (h->srv->sessions != before)
        h->accepted = h->srv->sessions->owner;
    nsl_server_settle(h->srv);
}

static bool harness_start(nsl_harness *h)
{
    nsl_server *srv = h->srv;
    uint64_t first_token;
    nsl_owner_id max_session;
    if (!nsl_recovery_start(srv, h->state_dir, &first_token, &max_session))
        return false;
    const nsl_config *cfg = srv->cfg;
    nsl_engine_options eo;
    nsl_engine_options_default(&eo);
    eo.max_entries = cfg->max_entries;
    eo.escalation_threshold = cfg->escalation_threshold;
    eo.deadlock_check_ms = cfg->deadlock_check_ms;
    eo.max_owner_entries = cfg->max_session_entries;
    eo.first_token = first_token;
    eo.first_owner = max_session;
    nsl_engine_callbacks cb = {.done = harness_done, .notice = harness_notice};
    srv->engine = nsl_engine_new(&eo, srv->resolver, &cb, srv);
    if (!srv->engine)
        return false;
    if (nsl_recovery_active(srv))
        nsl_engine_hold_grants(srv->engine, true, nsl_server_now(srv));
    uv_timer_init(&srv->loop, &srv->timer);
    srv->timer.data = srv;
    srv->timer_due = UINT64_MAX;
    nsl_sessions_init_watch_timer(srv);

    uv_pipe_init(&srv->loop, &h->listener, 0);
    h->listener.data = h;
    if (uv_pipe_bind(&h->listener, srv->socket_path) != 0)
        return false;
    srv->socket_bound = true;
    return uv_listen((uv_stream_t *)&h->listener, SOMAXCONN, harness_connection) == 0;
}

nsl_harness *nsl_harness_new(const nsl_resolver *resolver, const char *dir)
{
    nsl_harness *h = calloc(1, sizeof *h);
    nsl_server *srv = calloc(1, sizeof *srv);
    if (!h || !srv || strlen(dir) >= sizeof h->dir || uv_loop_init(&srv->loop) != 0) {
        free(h);
        free(srv);
        return NULL;
    }
    h->srv = srv;
    snprintf(h->dir, sizeof h->dir, "%s", dir);
    snprintf(srv->socket_path, sizeof srv->socket_path, "%s/nslock.sock", dir);
    snprintf(h->state_dir, sizeof h->state_dir, "%s/state", dir);
    srv->resolver = resolver;
    srv->reg = nsl_resolver_registry(resolver);
    srv->cfg = nsl_registry_config(srv->reg);
    srv->self_uid = geteuid();
    nsl_lock_command_init(&srv->cmd);
    if (!harness_start(h)) {
        nsl_log(NSL_LOG_ERROR, "harness: cannot start a server in %s", dir);
        nsl_harness_free(h);
        return NULL;
    }
    return h;
}

int nsl_harness_connect(nsl_harness *h, bool admin, nsl_owner_id *owner)
{
    nsl_server *srv = h->srv;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, srv->socket_path, strlen(srv->socket_path) + 1);
    /* a Unix socket connects at once while the backlog has room */
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    h->accepted = 0;
    for (int i = 0; i < 100 && !h->accepted; i++)
        uv_run(&srv->loop, UV_RUN_NOWAIT);
    nsl_session *s = h->accepted ? nsl_session_by_owner(srv, h->accepted) : NULL;
    if (!s) {
        close(fd);
        return -1;
    }
    if (!admin)
        s->admin = 0;        /* the verdict is cached: as a peer of another uid */
    *owner = s->owner;
    return fd;
}

void nsl_harness_turn(nsl_harness *h)
{
    uv_run(&h->srv->loop, UV_RUN_NOWAIT);
}

void nsl_harness_pass_time(nsl_harness *h, uint64_t ms)
{
    nsl_engine_tick(h->srv->engine, nsl_server_now(h->srv) + ms);
    nsl_server_settle(h->srv);
}

nsl_harness_state nsl_harness_session(nsl_harness *h, nsl_owner_id owner)
{
    const nsl_session *s = nsl_session_by_owner(h->srv, owner);
    if (!s || s->ended)
        return NSL_HARNESS_GONE;
    return s->waiting || s->registering || s->q_count ? NSL_HARNESS_BUSY : NSL_HARNESS_IDLE;
}

bool nsl_harness_flushed(const nsl_harness *h)
{
    for (const nsl_session *s = h->srv->sessions; s; s = s->next)
        if (!s->handle_closing && (s->writing || s->out_len))
            return false;
    return true;
}

size_t nsl_harness_session_count(const nsl_harness *h)
{
    return h->srv->session_count;
}

const nsl_engine *nsl_harness_engine(const nsl_harness *h)
{
    return h->srv->engine;
}

static void close_any(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

/* The state directory holds files only (state.h). */
static void remove_state_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    int fd = dirfd(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(fd, e->d_name, 0);
    closedir(d);
    rmdir(path);
}

void nsl_harness_free(nsl_harness *h)
{
    if (!h)
        return;
    nsl_server *srv = h->srv;
    srv->stopping = true;
    for (nsl_session *s = srv->sessions; s; s = s->next)
        nsl_session_end(s, false);
    srv->ready_head = srv->ready_tail = NULL;
    srv->dirty_head = NULL;
    uv_walk(&srv->loop, close_any, NULL);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    uv_loop_close(&srv->loop);
    if (srv->engine)
        nsl_engine_free(srv->engine);
    nsl_lock_command_free(&srv->cmd);
    nsl_recovery_free(srv);
    free(srv->auth_token);
    if (srv->socket_bound)
        unlink(srv->socket_path);
    remove_state_dir(h->state_dir);
    free(srv);
    free(h);
}
