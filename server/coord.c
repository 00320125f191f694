/* coord.c — a server's place in an HA cluster, kept in ZooKeeper (see
 * coord.h for the znodes). The ZooKeeper C client calls back on its own
 * completion thread; those callbacks only fill an `op` (or a session or
 * watch event) and queue it for the loop, which does all the thinking. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zookeeper/zookeeper.h>

#include "server/coord.h"

/* A cluster path, a child name, and the two joined, with room to spare. */
enum { ZPATH_BYTES = 512, CHILD_BYTES = 256, PATH_MAX_BYTES = ZPATH_BYTES + CHILD_BYTES + 2,
       DEFAULT_TOKEN_BLOCK = 100000 };

typedef struct op op;
typedef void (*op_fn)(nsl_coord *c, op *o);

/* One asynchronous request, or one event from ZooKeeper's threads. */
struct op {
    op *next;
    nsl_coord *c;
    op_fn on_done;           /* runs on the loop; NULL for a session event */
    unsigned generation;     /* of the ZooKeeper handle it was sent on */
    int rc;
    int state, type;         /* session and watch events */
    char *text;              /* a created node's path, a watched path */
    char *data;              /* the data read */
    int data_len;
    int64_t czxid, mzxid;
    int32_t version;
    uint64_t base;           /* a token reservation's starting mark */
    char **children;
    int nchildren;
    /* for the caller's continuation */
    void (*done)(void *arg, bool ok);
    void *arg;
    uint32_t id;
    void (*list_fn)(void *arg, uint32_t id, const char *hash);
    struct list_state *list;
};

typedef struct list_state {
    int pending;
    bool ok;
    void (*fn)(void *arg, uint32_t id, const char *hash);
    void (*done)(void *arg, bool ok);
    void *arg;
} list_state;

struct nsl_coord {
    uv_loop_t *loop;
    uv_async_t wake;
    uv_timer_t tick;
    int handles_open;
    pthread_mutex_t mu;
    op *head, *tail;             /* queued by ZooKeeper's threads */

    zhandle_t *zh;
    op *watch_ctx;               /* the watcher's context: this coord, the generation */
    unsigned generation;         /* bumped at every new ZooKeeper session */
    char zookeeper[1024], path[ZPATH_BYTES], advertise[256];
    uint32_t timeout_ms;         /* asked for */
    uint32_t negotiated_ms;      /* what ZooKeeper granted (it may be shorter) */
    uint64_t token_block;
    nsl_coord_events ev;
    void *arg;

    nsl_coord_role role;
    int zk_state;
    char my_node[PATH_MAX_BYTES];   /* our election znode, "" before it exists */
    uint64_t epoch;
    char leader[256];
    bool leader_known;
    uint64_t last_ok_ns;         /* the last answer from ZooKeeper (uv_hrtime) */
    bool heartbeat_out;
    bool restart_due;            /* stepped down on the send path: new session at the tick */
    uint64_t tokens_base, tokens_reserved;
    int32_t tokens_version;
    bool stopping;
};

/* ---- the bridge from ZooKeeper's threads --------------------------------- */

static void enqueue(nsl_coord *c, op *o)
{
    pthread_mutex_lock(&c->mu);
    if (c->tail)
        c->tail->next = o;
    else
        c->head = o;
    c->tail = o;
    pthread_mutex_unlock(&c->mu);
    uv_async_send(&c->wake);
}

static op *new_op(nsl_coord *c, op_fn fn)
{
    op *o = calloc(1, sizeof *o);
    if (!o)
        abort();   /* as the rest of the server does on out-of-memory at this size */
    o->c = c;
    o->on_done = fn;
    o->generation = c->generation;
    return o;
}

static void free_op(op *o)
{
    free(o->text);
    free(o->data);
    for (int i = 0; i < o->nchildren; i++)
        free(o->children[i]);
    free(o->children);
    free(o);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        abort();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh;
    op *o = ctx;   /* a template carrying the coord and the generation */
    nsl_coord *c = o->c;
    op *e = calloc(1, sizeof *e);
    if (!e)
        abort();
    e->c = c;
    e->generation = o->generation;
    e->type = type;
    e->state = state;
    e->text = path ? dup_n(path, strlen(path)) : NULL;
    enqueue(c, e);
}

static void string_stat_done(int rc, const char *s, const struct Stat *st, const void *data)
{
    op *o = (op *)data;
    o->rc = rc;
    if (rc == ZOK && s)
        o->text = dup_n(s, strlen(s));
    if (rc == ZOK && st)
        o->czxid = st->czxid;
    enqueue(o->c, o);
}

static void stat_done(int rc, const struct Stat *st, const void *data)
{
    op *o = (op *)data;
    o->rc = rc;
    if (rc == ZOK && st)
        o->version = st->version, o->czxid = st->czxid, o->mzxid = st->mzxid;
    enqueue(o->c, o);
}

static void data_done(int rc, const char *v, int len, const struct Stat *st, const void *data)
{
    op *o = (op *)data;
    o->rc = rc;
    if (rc == ZOK) {
        o->data = dup_n(v ? v : "", v && len > 0 ? (size_t)len : 0);
        o->data_len = len > 0 ? len : 0;
        if (st)
            o->version = st->version;
    }
    enqueue(o->c, o);
}

static void children_done(int rc, const struct String_vector *v, const struct Stat *st,
                          const void *data)
{
    (void)st;
    op *o = (op *)data;
    o->rc = rc;
    if (rc == ZOK && v && v->count > 0) {
        o->children = calloc((size_t)v->count, sizeof *o->children);
        if (!o->children)
            abort();
        for (int i = 0; i < v->count; i++)
            o->children[i] = dup_n(v->data[i], strlen(v->data[i]));
        o->nchildren = v->count;
    }
    enqueue(o->c, o);
}

static void void_done(int rc, const void *data)
{
    op *o = (op *)data;
    o->rc = rc;
    enqueue(o->c, o);
}

/* ---- the loop's side --------------------------------------------------------- */

static void join_election(nsl_coord *c);
static void read_election(nsl_coord *c);
static void open_session(nsl_coord *c);

static void on_tick(uv_timer_t *t);
static void list_finish(list_state *l);

static void heard(nsl_coord *c)
{
    c->last_ok_ns = uv_hrtime();
}

static void step_down(nsl_coord *c, const char *why)
{
    if (c->role != NSL_COORD_LEADER)
        return;
    c->role = NSL_COORD_STANDBY;
    c->epoch = 0;
    c->leader_known = false;
    if (c->ev.step_down)
        c->ev.step_down(c->arg, why);
}

/* A fresh session: the old one's election znode goes with it, so this
 * server queues up behind whoever leads by then. */
/* zookeeper_close() waits for the client's threads, and for the server's
 * answer while connected; after a step-down that is a moment in which
 * this server serves nothing anyway. */
static void close_session(nsl_coord *c)
{
    if (c->zh) {
        zookeeper_close(c->zh);   /* pending requests complete with ZCLOSING */
        c->zh = NULL;
    }
    free(c->watch_ctx);           /* no watcher runs after the close */
    c->watch_ctx = NULL;
}

static void restart_session(nsl_coord *c, const char *why)
{
    step_down(c, why);
    close_session(c);
    c->my_node[0] = '\0';
    c->zk_state = 0;
    c->heartbeat_out = false;
    c->restart_due = false;
    open_session(c);
}

static void on_session_event(nsl_coord *c, int state)
{
    c->zk_state = state;
    if (state == ZOO_CONNECTED_STATE) {
        heard(c);
        /* ZooKeeper may have granted a shorter session than asked for: the
         * jeopardy clock must run on what it will expire us by. */
        int granted = c->zh ? zoo_recv_timeout(c->zh) : 0;
        uint32_t ms = granted > 0 && (uint32_t)granted < c->timeout_ms ? (uint32_t)granted
                                                                       : c->timeout_ms;
        if (ms != (c->negotiated_ms ? c->negotiated_ms : c->timeout_ms) || !c->negotiated_ms) {
            c->negotiated_ms = ms;
            /* heartbeats (and the jeopardy check) six times a session */
            uint64_t every = ms / 6 ? ms / 6 : 1;
            uv_timer_start(&c->tick, on_tick, every, every);
        }
        if (!c->my_node[0])
            join_election(c);
    } else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
        restart_session(c, state == ZOO_EXPIRED_SESSION_STATE ? "the ZooKeeper session expired"
                                                              : "ZooKeeper refused the session");
    }
}

static void drain(uv_async_t *h)
{
    nsl_coord *c = h->data;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        op *o = c->head;
        if (o) {
            c->head = o->next;
            if (!c->head)
                c->tail = NULL;
        }
        pthread_mutex_unlock(&c->mu);
        if (!o)
            return;
        /* Answers from a closed session, or after stop, are stale. */
        bool current = o->generation == c->generation && !c->stopping;
            if (current && o->rc != ZCLOSING) {
            if (o->on_done) {
                if (o->rc == ZOK || o->rc == ZNONODE || o->rc == ZNODEEXISTS || o->rc == ZBADVERSION)
                    heard(c);
                o->on_done(c, o);
            } else if (o->type == ZOO_SESSION_EVENT) {
                on_session_event(c, o->state);
            } else if (o->type == ZOO_CHILD_EVENT || o->type == ZOO_DELETED_EVENT
                       || o->type == ZOO_CREATED_EVENT || o->type == ZOO_CHANGED_EVENT) {
                read_election(c);
            }
        } else if (o->done) {
            o->done(o->arg, false);
        } else if (o->list) {
            o->list->ok = false;
            list_finish(o->list);
        }
        free_op(o);
    }
}

static void path_of(nsl_coord *c, char *buf, const char *child)
{
    snprintf(buf, PATH_MAX_BYTES, "%.511s%s%.255s", c->path, child ? "/" : "", child ? child : "");
}

/* ---- election ------------------------------------------------------------------ */

static int name_order(const void *a, const void *b)
{
    /* n_0000000007: the sequence numbers are fixed-width */
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void on_tokens_set(nsl_coord *c, op *o);

static void on_tokens_read(nsl_coord *c, op *o)
{
    if (o->rc != ZOK) {
        restart_session(c, "cannot read the token reservation");
        return;
    }
    uint64_t mark = strtoull(o->data, NULL, 10);
    op *s = new_op(c, on_tokens_set);
    s->base = mark;
    char value[32], p[PATH_MAX_BYTES];
    int n = snprintf(value, sizeof value, "%" PRIu64, mark + c->token_block);
    path_of(c, p, "tokens");
    if (zoo_aset(c->zh, p, value, n, o->version, stat_done, s) != ZOK) {
        free_op(s);
        restart_session(c, "cannot reserve fencing tokens");
    }
}

static void on_tokens_set(nsl_coord *c, op *o)
{
    if (o->rc != ZOK) {
        /* Somebody else moved the reservation: another server believes it
         * leads. Never hand out tokens it might also hand out. */
        restart_session(c, "the token reservation changed under this leader");
        return;
    }
    bool first = c->role != NSL_COORD_LEADER;
    uint64_t base = o->base;
    c->tokens_version = o->version;
    if (first)
        c->tokens_base = base;
    c->tokens_reserved = base + c->token_block;
    if (first) {
        c->role = NSL_COORD_LEADER;
        snprintf(c->leader, sizeof c->leader, "%s", c->advertise);
        c->leader_known = true;
        /* The zxid of this leadership's first reservation: above every
         * earlier leader's, whichever order the election znodes came in. */
        c->epoch = (uint64_t)o->mzxid;
        if (c->ev.leading)
            c->ev.leading(c->arg, c->epoch);
    }
    if (o->done)
        o->done(o->arg, true), o->done = NULL;
}

static void become_leader(nsl_coord *c)
{
    op *o = new_op(c, on_tokens_read);
    char p[PATH_MAX_BYTES];
    path_of(c, p, "tokens");
    if (zoo_aget(c->zh, p, 0, data_done, o) != ZOK) {
        free_op(o);
        restart_session(c, "cannot read the token reservation");
    }
}

static void on_leader_data(nsl_coord *c, op *o)
{
    if (c->role == NSL_COORD_LEADER)
        return;
    if (o->rc != ZOK) {
        read_election(c);   /* it went away meanwhile */
        return;
    }
    snprintf(c->leader, sizeof c->leader, "%.*s", o->data_len, o->data);
    c->leader_known = true;
    c->role = NSL_COORD_STANDBY;
    if (c->ev.standby)
        c->ev.standby(c->arg, c->leader);
}

static void on_election_children(nsl_coord *c, op *o)
{
    if (o->rc != ZOK) {
        restart_session(c, "cannot read the election");
        return;
    }
    const char *mine = strrchr(c->my_node, '/');
    mine = mine ? mine + 1 : c->my_node;
    qsort(o->children, (size_t)o->nchildren, sizeof *o->children, name_order);
    bool present = false;
    for (int i = 0; i < o->nchildren; i++)
        present |= !strcmp(o->children[i], mine);
    if (!present) {
        /* Our znode is gone (the session was lost and renewed): join again. */
        restart_session(c, "this server's election znode is gone");
        return;
    }
    if (!strcmp(o->children[0], mine)) {
        if (c->role != NSL_COORD_LEADER)
            become_leader(c);
        return;
    }
    if (c->role == NSL_COORD_LEADER) {
        /* Someone sorts before us while we lead: that cannot happen with
         * sequence numbers unless our view is stale. Stop, to be safe. */
        restart_session(c, "another server's election znode comes first");
        return;
    }
    op *d = new_op(c, on_leader_data);
    char p[PATH_MAX_BYTES], child[CHILD_BYTES];
    snprintf(child, sizeof child, "election/%.200s", o->children[0]);
    path_of(c, p, child);
    if (zoo_aget(c->zh, p, 0, data_done, d) != ZOK)
        free_op(d);
}

/* Lists the election with a watch: any change reads it again. */
static void read_election(nsl_coord *c)
{
    if (!c->zh || !c->my_node[0])
        return;
    op *o = new_op(c, on_election_children);
    char p[PATH_MAX_BYTES];
    path_of(c, p, "election");
    if (zoo_aget_children2(c->zh, p, 1, children_done, o) != ZOK)
        free_op(o);
}

static void on_election_node(nsl_coord *c, op *o)
{
    if (o->rc != ZOK) {
        restart_session(c, "cannot create this server's election znode");
        return;
    }
    snprintf(c->my_node, sizeof c->my_node, "%s", o->text);
    read_election(c);
}

static void on_created_parent(nsl_coord *c, op *o)
{
    (void)c;
    (void)o;   /* ZOK or ZNODEEXISTS: either way it is there */
}

/* Creates P's ancestors, P, its children, then this server's election
 * znode: ZooKeeper answers one session's requests in order. */
static void join_election(nsl_coord *c)
{
    char p[PATH_MAX_BYTES];
    for (char *slash = strchr(c->path + 1, '/');; slash = strchr(slash + 1, '/')) {
        size_t n = slash ? (size_t)(slash - c->path) : strlen(c->path);
        snprintf(p, sizeof p, "%.*s", (int)n, c->path);
        op *o = new_op(c, on_created_parent);
        if (zoo_acreate2(c->zh, p, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, string_stat_done, o) != ZOK)
            free_op(o);
        if (!slash)
            break;
    }
    static const char *const children[] = {"election", "registry", "tokens"};
    for (size_t i = 0; i < 3; i++) {
        path_of(c, p, children[i]);
        op *o = new_op(c, on_created_parent);
        const char *value = i == 2 ? "0" : "";
        if (zoo_acreate2(c->zh, p, value, (int)strlen(value), &ZOO_OPEN_ACL_UNSAFE, 0,
                         string_stat_done, o) != ZOK)
            free_op(o);
    }
    path_of(c, p, "election/n_");
    op *o = new_op(c, on_election_node);
    if (zoo_acreate2(c->zh, p, c->advertise, (int)strlen(c->advertise), &ZOO_OPEN_ACL_UNSAFE,
                     ZOO_EPHEMERAL | ZOO_SEQUENCE, string_stat_done, o) != ZOK)
        free_op(o);
}

static void open_session(nsl_coord *c)
{
    c->generation++;
    c->watch_ctx = new_op(c, NULL);
    c->zh = zookeeper_init(c->zookeeper, watcher, (int)c->timeout_ms, NULL, c->watch_ctx, 0);
    if (!c->zh) {
        free(c->watch_ctx);
        c->watch_ctx = NULL;
    }
}

/* ---- the clock ------------------------------------------------------------------- */

static void on_heartbeat(nsl_coord *c, op *o)
{
    (void)o;
    c->heartbeat_out = false;
}

static uint64_t jeopardy_ns(const nsl_coord *c)
{
    uint32_t ms = c->negotiated_ms ? c->negotiated_ms : c->timeout_ms;
    return (uint64_t)ms * 2 / 3 * 1000000u;
}

bool nsl_coord_may_grant(nsl_coord *c)
{
    if (c->role != NSL_COORD_LEADER)
        return false;
    if (uv_hrtime() - c->last_ok_ns < jeopardy_ns(c))
        return true;
    step_down(c, "no answer from ZooKeeper for two thirds of the session timeout");
    /* The session must go too, on the next tick (not inside a send): while
     * its election znode stays first this server would lead again under
     * the same znode, and nobody else could. */
    c->restart_due = true;
    uv_timer_start(&c->tick, on_tick, 0, uv_timer_get_repeat(&c->tick));
    return false;
}

static void on_tick(uv_timer_t *t)
{
    nsl_coord *c = t->data;
    if (c->restart_due) {
        c->restart_due = false;
        restart_session(c, "no answer from ZooKeeper for two thirds of the session timeout");
        return;
    }
    if (c->role == NSL_COORD_LEADER && !nsl_coord_may_grant(c)) {
        restart_session(c, "no answer from ZooKeeper for two thirds of the session timeout");
        return;
    }
    if (c->zh && !c->heartbeat_out && c->zk_state == ZOO_CONNECTED_STATE) {
        op *o = new_op(c, on_heartbeat);
        if (zoo_aexists(c->zh, c->path, 0, stat_done, o) == ZOK)
            c->heartbeat_out = true;
        else
            free_op(o);
    }
}

/* ---- the registry ------------------------------------------------------------------ */

static void on_registry_set(nsl_coord *c, op *o)
{
    (void)c;
    if (o->done)
        o->done(o->arg, o->rc == ZOK), o->done = NULL;
}

static void on_registry_create(nsl_coord *c, op *o)
{
    if (o->rc == ZNODEEXISTS) {   /* a session id reused: overwrite */
        op *s = new_op(c, on_registry_set);
        s->done = o->done, s->arg = o->arg;
        o->done = NULL;
        char p[PATH_MAX_BYTES], child[64];
        snprintf(child, sizeof child, "registry/%" PRIu32, o->id);
        path_of(c, p, child);
        if (zoo_aset(c->zh, p, o->data, o->data_len, -1, stat_done, s) != ZOK) {
            s->done(s->arg, false);
            free_op(s);
        }
        return;
    }
    if (o->done)
        o->done(o->arg, o->rc == ZOK), o->done = NULL;
}

void nsl_coord_registry_put(nsl_coord *c, uint32_t id, const char *hash,
                            void (*done)(void *arg, bool ok), void *arg)
{
    op *o = new_op(c, on_registry_create);
    o->done = done, o->arg = arg, o->id = id;
    o->data = dup_n(hash, strlen(hash));
    o->data_len = (int)strlen(hash);
    char p[PATH_MAX_BYTES], child[64];
    snprintf(child, sizeof child, "registry/%" PRIu32, id);
    path_of(c, p, child);
    if (!c->zh || zoo_acreate2(c->zh, p, hash, (int)strlen(hash), &ZOO_OPEN_ACL_UNSAFE, 0,
                               string_stat_done, o) != ZOK) {
        if (done)
            done(arg, false);
        free_op(o);
    }
}

static void on_registry_deleted(nsl_coord *c, op *o)
{
    (void)c;
    if (o->done)   /* ZNONODE: already gone */
        o->done(o->arg, o->rc == ZOK || o->rc == ZNONODE), o->done = NULL;
}

void nsl_coord_registry_del(nsl_coord *c, uint32_t id, void (*done)(void *arg, bool ok),
                            void *arg)
{
    op *o = new_op(c, on_registry_deleted);
    o->done = done, o->arg = arg;
    char p[PATH_MAX_BYTES], child[64];
    snprintf(child, sizeof child, "registry/%" PRIu32, id);
    path_of(c, p, child);
    if (!c->zh || zoo_adelete(c->zh, p, -1, void_done, o) != ZOK) {
        if (done)
            done(arg, false);
        free_op(o);
    }
}

static void list_finish(list_state *l)
{
    if (--l->pending == 0) {
        if (l->done)
            l->done(l->arg, l->ok);
        free(l);
    }
}

static void on_registry_entry(nsl_coord *c, op *o)
{
    (void)c;
    list_state *l = o->list;
    if (o->rc == ZOK)
        l->fn(l->arg, o->id, o->data);
    else if (o->rc != ZNONODE)
        l->ok = false;
    o->list = NULL;
    list_finish(l);
}

static void on_registry_children(nsl_coord *c, op *o)
{
    list_state *l = o->list;
    o->list = NULL;
    if (o->rc != ZOK) {
        l->ok = false;
        list_finish(l);
        return;
    }
    for (int i = 0; i < o->nchildren; i++) {
        char *end;
        unsigned long id = strtoul(o->children[i], &end, 10);
        if (*end || id == 0 || id > UINT32_MAX)
            continue;   /* not ours */
        op *e = new_op(c, on_registry_entry);
        e->id = (uint32_t)id;
        e->list = l;
        char p[PATH_MAX_BYTES], child[64];
        snprintf(child, sizeof child, "registry/%lu", id);
        path_of(c, p, child);
        l->pending++;
        if (zoo_aget(c->zh, p, 0, data_done, e) != ZOK) {
            l->pending--;
            l->ok = false;
            free_op(e);
        }
    }
    list_finish(l);
}

void nsl_coord_registry_list(nsl_coord *c,
                             void (*fn)(void *arg, uint32_t id, const char *hash),
                             void (*done)(void *arg, bool ok), void *arg)
{
    list_state *l = calloc(1, sizeof *l);
    if (!l)
        abort();
    *l = (list_state){.pending = 1, .ok = true, .fn = fn, .done = done, .arg = arg};
    op *o = new_op(c, on_registry_children);
    o->list = l;
    char p[PATH_MAX_BYTES];
    path_of(c, p, "registry");
    if (!c->zh || zoo_aget_children2(c->zh, p, 0, children_done, o) != ZOK) {
        free_op(o);
        l->ok = false;
        list_finish(l);
    }
}

/* ---- tokens ---------------------------------------------------------------------- */

static void on_tokens_reread(nsl_coord *c, op *o)
{
    if (o->rc != ZOK || c->role != NSL_COORD_LEADER) {
        if (o->done)
            o->done(o->arg, false), o->done = NULL;
        return;
    }
    uint64_t mark = strtoull(o->data, NULL, 10);
    if (mark != c->tokens_reserved) {
        if (o->done)
            o->done(o->arg, false), o->done = NULL;
        restart_session(c, "the token reservation changed under this leader");
        return;
    }
    op *s = new_op(c, on_tokens_set);
    s->base = mark;
    s->done = o->done, s->arg = o->arg;
    o->done = NULL;
    char value[32], p[PATH_MAX_BYTES];
    int n = snprintf(value, sizeof value, "%" PRIu64, mark + c->token_block);
    path_of(c, p, "tokens");
    if (zoo_aset(c->zh, p, value, n, o->version, stat_done, s) != ZOK) {
        if (s->done)
            s->done(s->arg, false);
        free_op(s);
    }
}

void nsl_coord_reserve(nsl_coord *c, void (*done)(void *arg, bool ok), void *arg)
{
    op *o = new_op(c, on_tokens_reread);
    o->done = done, o->arg = arg;
    char p[PATH_MAX_BYTES];
    path_of(c, p, "tokens");
    if (c->role != NSL_COORD_LEADER || zoo_aget(c->zh, p, 0, data_done, o) != ZOK) {
        if (done)
            done(arg, false);
        free_op(o);
    }
}

uint64_t nsl_coord_tokens_reserved(const nsl_coord *c)
{
    return c->role == NSL_COORD_LEADER ? c->tokens_reserved : 0;
}

uint64_t nsl_coord_tokens_base(const nsl_coord *c)
{
    return c->tokens_base;
}

/* ---- life ------------------------------------------------------------------------ */

void nsl_coord_resign(nsl_coord *c, const char *why)
{
    restart_session(c, why);
}

nsl_coord_role nsl_coord_role_now(const nsl_coord *c)
{
    return c->role;
}

uint64_t nsl_coord_epoch(const nsl_coord *c)
{
    return c->role == NSL_COORD_LEADER ? c->epoch : 0;
}

const char *nsl_coord_leader(const nsl_coord *c)
{
    return c->leader_known ? c->leader : NULL;
}

const char *nsl_coord_session_state(const nsl_coord *c)
{
    if (c->zk_state == ZOO_CONNECTED_STATE)
        return "connected";
    if (c->zk_state == ZOO_EXPIRED_SESSION_STATE)
        return "expired";
    if (c->zk_state == ZOO_AUTH_FAILED_STATE)
        return "auth-failed";
    return "connecting";
}

int nsl_coord_start(uv_loop_t *loop, const nsl_coord_config *cfg,
                    const nsl_coord_events *events, void *arg, nsl_coord **out,
                    char *why, size_t why_cap)
{
    *out = NULL;
    nsl_coord *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(why, why_cap, "out of memory");
        return -1;
    }
    c->loop = loop;
    if (strlen(cfg->path) >= sizeof c->path || strlen(cfg->zookeeper) >= sizeof c->zookeeper
        || strlen(cfg->advertise) >= sizeof c->advertise) {
        snprintf(why, why_cap, "the ZooKeeper path, ensemble or address is too long");
        free(c);
        return -1;
    }
    snprintf(c->zookeeper, sizeof c->zookeeper, "%s", cfg->zookeeper);
    snprintf(c->path, sizeof c->path, "%s", cfg->path);
    snprintf(c->advertise, sizeof c->advertise, "%s", cfg->advertise);
    c->timeout_ms = cfg->session_timeout_ms;
    c->token_block = cfg->token_block ? cfg->token_block : DEFAULT_TOKEN_BLOCK;
    c->ev = *events;
    c->arg = arg;
    c->role = NSL_COORD_STARTING;
    pthread_mutex_init(&c->mu, NULL);
    /* The client's own log repeats an error every few milliseconds while
     * ZooKeeper is away; the state changes that matter are reported by the
     * events above, once each. */
    zoo_set_debug_level((ZooLogLevel)0);
    uv_async_init(loop, &c->wake, drain);
    c->wake.data = c;
    uv_timer_init(loop, &c->tick);
    c->tick.data = c;
    c->handles_open = 2;
    open_session(c);
    if (!c->zh) {
        snprintf(why, why_cap, "cannot start a ZooKeeper client for %s", c->zookeeper);
        nsl_coord_stop(c);
        return -1;
    }
    uint64_t every = c->timeout_ms / 6 ? c->timeout_ms / 6 : 1;
    uv_timer_start(&c->tick, on_tick, every, every);
    *out = c;
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    nsl_coord *c = h->data;
    if (--c->handles_open > 0)
        return;
    /* Nothing can queue any more: the session is closed. */
    for (op *o = c->head, *next; o; o = next) {
        next = o->next;
        if (o->done)
            o->done(o->arg, false);
        free_op(o);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void nsl_coord_stop(nsl_coord *c)
{
    if (!c)
        return;
    c->stopping = true;
    close_session(c);   /* ephemeral znodes go with the session */
    uv_timer_stop(&c->tick);
    uv_close((uv_handle_t *)&c->wake, on_handle_closed);
    uv_close((uv_handle_t *)&c->tick, on_handle_closed);
}
