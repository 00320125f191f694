/* server — private declarations shared by the server's files:
 * server.c (loop, listeners, signals, shutdown), session.c (connections,
 * framing, the pipelining queue, output), protocol.c (requests and
 * responses), recovery.c (registration and the recovery grace), state_dir.c
 * (durable state, state.h), log.c, mtext.c.
 */
#ifndef NSL_SERVER_INTERNAL_H
#define NSL_SERVER_INTERNAL_H

#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include <uthash.h>
#include <uv.h>

#include "server/server.h"
#include "server/state.h"

#define NSL_LINE_MAX       65536          /* request bytes, newline excluded */
#define NSL_READ_CHUNK     65536          /* one read from a socket */
#define NSL_IN_HIGH        (1u << 20)     /* buffered input that pauses reading */
#define NSL_OUT_HIGH       (1u << 20)     /* unsent output that pauses reading */
#define NSL_OUT_FLOOR      (64u * 1024)   /* ... when over server.output_limit_mb */
#define NSL_REJECT_HIGH    65536          /* ERR LIMIT answers owed that pause reading */
#define NSL_CLIENT_NAME    64
#define NSL_RECENT_BYTES   256            /* answers kept for RESUME ... */
#define NSL_RECENT_ANSWERS 8              /* ... and how many at most */

/* ---- log.c ----------------------------------------------------------------- */

void nsl_log_set_level(nsl_log_level level);
void nsl_log_set_format(nsl_log_format format);
/* One field of an event: text, or a number when text is NULL. In JSON
 * logs they are members of the line's object; text logs show msg only,
 * which says the same in words. */
typedef struct nsl_log_field {
    const char *key;
    const char *text;
    int64_t number;
} nsl_log_field;
void nsl_log_fields(nsl_log_level level, const nsl_log_field *fields, size_t count,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool nsl_log_enabled(nsl_log_level level);
void nsl_log(nsl_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- mtext.c ---------------------------------------------------------------- */

/* A canonical lock name with the bytes below 0x20 and 0x7F inside its
 * strings written M-style: ^a("x"_$C(9)_"y"). snprintf-like. */
size_t nsl_mtext_escape(const char *name, size_t len, char *out, size_t cap);
/* The length of the UTF-8 character at text (1 for ASCII), 0 when the
 * bytes there are not one. */
size_t nsl_utf8_char_len(const char *text, size_t len);

/* ---- metrics.c: figures --------------------------------------------------------- */

/* A Prometheus histogram of seconds: counts[i] holds the observations in
 * (bounds[i-1], bounds[i]], counts[NSL_HISTOGRAM_BUCKETS] those above. */
#define NSL_HISTOGRAM_BUCKETS 15
extern const double nsl_histogram_bounds[NSL_HISTOGRAM_BUCKETS];
typedef struct nsl_histogram {
    uint64_t counts[NSL_HISTOGRAM_BUCKETS + 1];
    uint64_t count;
    double sum;
} nsl_histogram;
void nsl_histogram_observe(nsl_histogram *h, double seconds);

/* What the server counts beyond the engine's counters, for /metrics. */
typedef struct nsl_metrics {
    nsl_histogram wait;              /* LOCK arrival to grant */
    nsl_histogram hold;              /* an entry's grant to its release */
    uint64_t removals, removed_entries, removals_refused;
    uint64_t http_requests, http_auth_failures;
    bool table_full;                 /* between TABLE_FULL and TABLE_ROOM notices */
} nsl_metrics;

/* A growing NUL-terminated text; failed once out of memory. */
typedef struct nsl_text {
    char *p;
    size_t len, cap;
    bool failed;
} nsl_text;
void nsl_text_put(nsl_text *t, const char *p, size_t n);
void nsl_text_printf(nsl_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nsl_text_free(nsl_text *t);

/* ---- sessions ---------------------------------------------------------------- */

typedef struct nsl_server nsl_server;
typedef struct nsl_session nsl_session;
typedef struct nsl_recovery nsl_recovery;

enum { ITEM_LINE, ITEM_TOO_LONG, ITEM_REJECTED };

/* A request waiting its turn: a line at in[off, off+len), a line that was
 * too long, or a run of `len` requests beyond max_pending. */
typedef struct nsl_item {
    uint32_t off, len;
    uint8_t kind;
} nsl_item;

struct nsl_session {
    UT_hash_handle hh;               /* nsl_server.by_owner */
    nsl_server *srv;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } h;
    nsl_session *prev, *next;        /* every session */
    nsl_session *ready_next;         /* has queued requests it may now serve */
    nsl_session *dirty_next;         /* has output to send */
    bool in_ready, in_dirty;

    nsl_owner_id owner;
    bool tcp;
    bool authenticated;              /* TCP: AUTH accepted (Unix: always) */
    bool unauth_counted;             /* counted in the guard's connections awaiting AUTH */
    uint64_t auth_answer_due;        /* a wrong token's answer is delayed until then (guard.c) */
    bool waiting;                    /* a LOCK is queued in the engine */
    bool cancel_on_queue;            /* a CANCEL came while that LOCK was registering */
    uint32_t cancels_hit;            /* CANCELs that ended a wait, not yet answered */
    bool ended;                      /* the owner is gone: serve nothing more */
    bool handle_closing;             /* uv_close was called */
    bool close_after_write;          /* close once the output is sent */
    bool reading;                    /* uv_read_start is in effect */
    bool discarding;                 /* skipping an over-long line to its newline */
    bool have_uid;
    bool start_logged;               /* its start is in the log (nsl_session_log_start) */
    int admin;                       /* -1 unknown, else the cached verdict */
    uid_t uid;
    gid_t gid;
    long pid;                        /* 0: unknown */
    uint64_t accepted_ms;            /* loop time of the accept */
    uint64_t lock_arrived_ns;        /* uv_hrtime() when the LOCK being run began to wait
                                      * (registering, or queued); 0 while none waits */
    uint64_t last_input_ms;          /* loop time of the last bytes read */
    char client[NSL_CLIENT_NAME];

    /* Entries other sessions' REMOVEs took from this one since its last
     * request: its next request is answered ERR LOST saying so (protocol.c). */
    uint64_t removed_entries;
    uint32_t removals;               /* how many REMOVEs took them */
    char removed_by[128];            /* the last remover: "session 3 (uid 0, ...)" */
    char removed_example[192];       /* one of them: "^K(1) in USERDB" */

    /* restart recovery (recovery.c) */
    uint8_t secret[NSL_SECRET_BYTES];
    bool registered;                 /* durable in the registry */
    bool registering;                /* its first LOCK waits for the registry's fsync */
    bool reclaiming;                 /* between RECLAIM SESSION and RECLAIM DONE */
    char *held_line;                 /* that LOCK, run once registered */
    size_t held_len;
    /* resuming over TCP (RESUME): requests received and answered, and the
     * last few answers (recent_count lines, oldest first) while each was
     * one short line: a client with several requests in flight when its
     * connection broke gets again those it did not read */
    uint64_t received, answered;
    char recent[NSL_RECENT_BYTES];
    uint16_t recent_len;
    uint8_t recent_count;
    bool counted;                    /* the request being served counted itself */
    bool detached;                   /* its session moved to another connection */

    /* input: queued lines, then the partial line at [partial_off, in_len) */
    char *in;
    size_t in_len, in_cap, partial_off;
    nsl_item *q;
    size_t q_head, q_count, q_cap;
    size_t q_lines;                  /* LINE and TOO_LONG items queued */
    size_t q_rejected;               /* requests owed ERR LIMIT */

    /* output: `out` collects responses; `wbuf` is the part in flight */
    char *out;
    size_t out_len, out_cap;
    char *wbuf;
    size_t wbuf_cap;
    bool writing;
    size_t inflight;                 /* bytes of wbuf the socket has not taken */
    uint64_t stalled_since;          /* loop time output stopped moving; 0: it moves */
    struct nsl_show *show;           /* a SHOW being answered (show.c) */
    size_t wbuf_off;                 /* bytes of wbuf sent before the write in flight */
    uv_write_t wreq;
    uv_shutdown_t sreq;

    /* io_uring (ring.c): the socket is read and written through the ring */
    bool ring;
    bool ring_recv;                  /* a multishot receive is armed */
    char *held;                      /* bytes received after reading paused: */
    size_t held_bytes, held_cap;     /* ... read first when it resumes */
    uint16_t ring_ops;               /* operations whose last completion is to come */
    int fd;
};

struct nsl_server {
    uv_loop_t loop;
    const nsl_resolver *resolver;
    const nsl_registry *reg;
    const nsl_config *cfg;
    const char *config_text;         /* what cfg was loaded from (CONFIG); NULL: the default */
    size_t config_len;
    nsl_engine *engine;
    nsl_lock_command cmd;            /* reused by every LOCK request */

    uv_pipe_t unix_listener;
    uv_tcp_t tcp_listener;
    bool unix_open, tcp_open;
    uv_signal_t sigterm, sigint, sighup;
    sigset_t startup_mask;           /* the mask before start() held SIGTERM/SIGINT/SIGHUP */
    uv_timer_t timer;
    uint64_t timer_due;              /* UINT64_MAX: not armed */
    /* the fencing-token mark being moved ahead off the loop (server.c) */
    uv_work_t token_work;
    bool token_writing;
    uint64_t token_write_mark;
    int token_write_err;
    uv_timer_t force_timer;
    uv_timer_t watch_timer;          /* paused sessions, TCP sessions before AUTH */
    char socket_path[108];
    bool socket_bound;

    char *auth_token;                /* TCP shared token */
    size_t auth_token_len;
    uint8_t auth_digest[32];         /* its SHA-256, which AUTH compares */
    struct nsl_guard *guard;         /* admission control (guard.c); NULL: admit all */
    uid_t self_uid;

    nsl_session *sessions;
    size_t session_count;
    nsl_session *by_owner;
    nsl_session *ready_head, *ready_tail;
    nsl_session *dirty_head;
    bool settling;

    bool stopping;
    nsl_state state;
    nsl_recovery *recovery;          /* NULL: not recovering */
    size_t registered_count;         /* live sessions durable in the registry */
    nsl_session **registering;       /* waiting for the next registry batch */
    size_t registering_count, registering_cap;
    uv_check_t commit_check;         /* writes that batch once per loop turn */
    struct nsl_reg_batch *reg_batches;  /* batches ZooKeeper has not confirmed yet */
    bool keep_registry;              /* sessions ending now stay registered (step-down) */

    /* high availability (ha.c); coord NULL when serving alone */
    struct nsl_coord *coord;
    bool ha_serving;                 /* leading, with this leadership's table */
    bool ha_reserving;               /* a token reservation is on its way */
    bool ha_tokens_short;            /* answers wait for that reservation */
    uint64_t ha_token_block;         /* tokens reserved at a time (0: the default) */
    char ha_leader[256];             /* the leader's address, "" when not known */
    char ha_advertise[256];          /* this server's */

    /* answers not yet sent, for server.output_limit_mb */
    size_t unsent_bytes;             /* every session's unsent output */
    size_t show_bytes;               /* the snapshots of SHOWs in progress */
    size_t show_jobs;
    size_t show_collecting;          /* of them, walking the table (at most one) */
    uv_idle_t show_idle;             /* runs the SHOWs a piece per loop turn */
    bool show_idle_ready;
    struct nsl_show *show_list;      /* the jobs still producing (show.c) */
    int64_t show_wall_offset_ms;     /* loop time to wall-clock time, measured once */
    bool show_wall_offset_known;
    nsl_metrics metrics;             /* metrics.c */
    struct nsl_http *http;           /* http.c; NULL: server.http off */
    struct nsl_ring *ring;           /* ring.c; NULL: client sockets through libuv */
    char readbuf[NSL_READ_CHUNK];
};

/* metrics.c: STATS (its lines in this order), its JSON document (the one
 * serializer of `STATS json` and /api/stats), /metrics. */
#define NSL_STATS_COUNT 15
typedef struct nsl_stat_item {
    const char *name;
    uint64_t value;
} nsl_stat_item;
size_t nsl_stats_collect(nsl_server *srv, nsl_stat_item items[NSL_STATS_COUNT]);
typedef struct nsl_cluster_info {
    const char *role, *leader, *zookeeper;   /* leader "" when not known */
    uint64_t epoch;
} nsl_cluster_info;
void nsl_cluster_collect(nsl_server *srv, nsl_cluster_info *out);
/* {"stats": {...}, "cluster": {...}} appended to t; returns its lines. */
size_t nsl_stats_json(nsl_server *srv, nsl_text *t);
/* The text exposition format 0.0.4, appended to t. */
void nsl_metrics_text(nsl_server *srv, nsl_text *t);

/* http.c: server.http, libmicrohttpd driven from the loop (its epoll fd
 * in a uv_poll_t, its timeout in a uv_timer_t): /metrics, /, /api/locks,
 * /api/stats. */
bool nsl_http_start(nsl_server *srv);        /* false, logged, when it cannot listen */
void nsl_http_stop(nsl_server *srv);         /* closes every HTTP connection */

/* ring.c: client sockets through io_uring, driven from the loop (the
 * ring's fd in a uv_poll_t, one submit a turn in a uv_prepare_t). */
typedef struct nsl_ring nsl_ring;
/* false only when io_uring is required and unavailable (logged). */
bool nsl_ring_start(nsl_server *srv, bool required);
void nsl_ring_free(nsl_server *srv);         /* after the loop is closed */
void nsl_ring_adopt(nsl_session *s, int fd); /* an accepted socket goes on the ring */
void nsl_ring_read_start(nsl_session *s);
void nsl_ring_read_stop(nsl_session *s);
/* One send of p[0, n), which must stay put until nsl_session_sent. */
void nsl_ring_send(nsl_session *s, const char *p, size_t n);
/* Whether answers should wait for the turn's submit rather than go out now. */
bool nsl_ring_batching(nsl_server *srv);
/* Cancels what s has in the ring; its handle is closed after the last
 * completion (nsl_session_on_close). */
void nsl_ring_close(nsl_session *s);

/* server.c */
/* Replaces the lock engine by an empty one whose tokens start after
 * first_token and owner ids after first_owner. False, logged, on failure. */
bool nsl_server_new_engine(nsl_server *srv, uint64_t first_token, nsl_owner_id first_owner);

/* ha.c: serving as one server of an HA cluster */
bool nsl_ha_start(nsl_server *srv);
void nsl_ha_stop(nsl_server *srv);
/* Whether a request with this keyword may be served now (a standby serves
 * only AUTH, PING, STATS, CLUSTER and QUIT); else answer nsl_ha_refuse(). */
bool nsl_ha_allows(nsl_server *srv, const char *keyword, size_t len);
void nsl_ha_refuse(nsl_session *s);
bool nsl_ha_may_send(nsl_server *srv, uint64_t last_token);
void nsl_ha_register(nsl_server *srv, const nsl_registered *rec,
                     void (*done)(void *arg, bool ok), void *arg);
void nsl_ha_unregister(nsl_server *srv, uint32_t session);
void nsl_ha_forget(nsl_server *srv, uint32_t session, void (*done)(void *arg, bool ok),
                   void *arg);
const char *nsl_ha_role(const nsl_server *srv);          /* alone, leader, standby, electing */
const char *nsl_ha_zookeeper_state(const nsl_server *srv);

/* session.c */
void nsl_session_accept(nsl_server *srv, uv_stream_t *listener, bool tcp);
nsl_session *nsl_session_by_owner(nsl_server *srv, nsl_owner_id owner);
/* Ends the session's owner now; the connection closes once its output is
 * sent (graceful) or at once. */
void nsl_session_end(nsl_session *s, bool graceful);
/* Answers every queued request with `ERR SHUTDOWN` (server stop). */
void nsl_session_refuse_queued(nsl_session *s);
void nsl_session_force_close(nsl_session *s);
void nsl_session_take_over(nsl_session *s, nsl_session *old);
/* One more request of s answered; its answer starts at out offset from. */
void nsl_session_answered(nsl_session *s, size_t from);
void nsl_session_make_ready(nsl_session *s);
/* The session's start, at info, once (at HELLO: with the client's name). */
void nsl_session_log_start(nsl_session *s);
void nsl_sessions_init_watch_timer(nsl_server *srv);
void nsl_session_drain(nsl_session *s);
void nsl_session_flush(nsl_session *s);
/* From the ring: n bytes read (n > 0), the peer's EOF (0) or an error
 * (-errno); a send's completion; the handle closed. */
void nsl_session_received(nsl_session *s, const char *data, int n);
void nsl_session_sent(nsl_session *s, int result);
void nsl_session_on_close(uv_handle_t *handle);

void nsl_out_put(nsl_session *s, const char *p, size_t n);
void nsl_out_str(nsl_session *s, const char *str);
void nsl_out_u64(nsl_session *s, uint64_t v);
void nsl_out_char(nsl_session *s, char c);
/* Text for a field or a message: control bytes become spaces. */
void nsl_out_clean(nsl_session *s, const char *p, size_t n);
void nsl_out_err(nsl_session *s, nsl_code code, const char *message);
void nsl_out_errf(nsl_session *s, nsl_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* show.c: the lock table, a piece per loop turn (docs/PROTOCOL.md, SHOW).
 *
 * A show job collects the rows matching a query into a snapshot, then
 * writes them out in one of two formats into a sink: a session's output
 * (SHOW over a socket: `DATA n` and n lines) or a buffer of its own that a
 * caller pulls from (nsl_show_open/read/close: the body of an HTTP
 * response, for /api/locks). The JSON document is the same in both:
 * `SHOW ... json` answers `DATA n` and the n lines of the document. */
typedef struct nsl_show nsl_show;

typedef enum nsl_show_format {
    NSL_SHOW_TSV,                    /* the tab-separated fields of SHOW */
    NSL_SHOW_JSON,                   /* {"locks": [...]}, one row per line */
} nsl_show_format;

/* The columns, in their default order; sort= and columns= name them. */
typedef enum nsl_show_column {
    NSL_SHOW_DATABASE, NSL_SHOW_DIRECTORY, NSL_SHOW_OWNER, NSL_SHOW_PID, NSL_SHOW_CLIENT,
    NSL_SHOW_MODE, NSL_SHOW_NAME, NSL_SHOW_NAMESPACE, NSL_SHOW_SINCE, NSL_SHOW_AGE,
    NSL_SHOW_TOKEN, NSL_SHOW_BLOCKERS, NSL_SHOW_NCOLUMNS
} nsl_show_column;

/* A column by its name (case-insensitive); -1 if none has it. */
int nsl_show_column_find(const char *name, size_t len);

typedef struct nsl_show_query {
    nsl_view_filter filter;          /* name_prefix is copied by the job */
    int64_t pid;                     /* < 0: any */
    bool waiters_only;
    int sort;                        /* an nsl_show_column; -1: the table's order */
    nsl_show_format format;
    /* JSON: the keys of each row, in this order; ncolumns 0: all */
    uint8_t columns[NSL_SHOW_NCOLUMNS];
    size_t ncolumns;
} nsl_show_query;

void nsl_show_query_init(nsl_show_query *q);

/* Answers SHOW with q: at once for a small table, else a piece per loop
 * turn; the session serves nothing else meanwhile. */
void nsl_show_start(nsl_session *s, const nsl_show_query *q);
/* Output drained or room freed: the SHOWs that wait for it may go on. */
void nsl_show_wake(nsl_server *srv);
void nsl_show_stop(nsl_session *s);
void nsl_show_free(nsl_session *s);
/* Answers not yet sent exceed server.output_limit_mb. */
bool nsl_output_over_limit(const nsl_server *srv);

/* The pull side, for a response body that is not a session's output
 * (libmicrohttpd's MHD_create_response_from_callback can drive it).
 *
 * Every call is made on the loop thread (MHD run from the libuv loop,
 * never from a thread of its own): the job reads the engine and the
 * sessions, which only that thread may touch.
 *
 * open   starts a job for q (format and columns as for SHOW); NULL when out
 *        of memory. The document carries no `DATA n` header.
 * read   copies up to cap bytes of the document into buf and returns how
 *        many (> 0); 0 when none is ready yet: the job goes on in the
 *        server's idle handle, a chunk per loop turn, so call again on a
 *        later turn (or when the ready callback fires); -1 after the last
 *        byte was read.
 * ready  optional: called (on the loop thread, from inside the server's
 *        idle handle) each time bytes have been added or the end reached,
 *        e.g. to MHD_resume_connection a connection suspended on 0.
 * close  at any time, before the end too; frees everything. The job must
 *        not be used afterwards; ready is not called from close.
 *
 * The memory bound is SHOW's: the job produces while fewer than
 * NSL_OUT_HIGH bytes (NSL_OUT_FLOOR while the server is over
 * server.output_limit_mb) wait to be read; those bytes and the snapshot
 * count in output_limit_mb, and a job collects only when no other does. */
nsl_show *nsl_show_open(nsl_server *srv, const nsl_show_query *q);
ssize_t nsl_show_read(nsl_show *job, char *buf, size_t cap);
void nsl_show_on_ready(nsl_show *job, void (*ready)(void *arg), void *arg);
void nsl_show_close(nsl_show *job);

/* guard.c: admission control, wrong-token delays, refusal logging */
bool nsl_guard_start(nsl_server *srv);          /* after the listeners are open */
void nsl_guard_stop(nsl_server *srv);           /* logs the episodes still open */
void nsl_guard_free(nsl_server *srv);
/* After uv_accept: false when the connection must be refused (it was told
 * why and the refusal counted); the caller closes it. */
bool nsl_guard_admit(nsl_session *s);
void nsl_guard_accept_failed(nsl_server *srv, int status);
void nsl_guard_authenticated(nsl_session *s);
void nsl_guard_closed(nsl_session *s);
/* A wrong token: 0 to answer now, else the answer is the guard's, that
 * many ms later, and the session serves nothing meanwhile. */
uint64_t nsl_guard_auth_failed(nsl_session *s);
uint64_t nsl_guard_refused(const nsl_server *srv);
uint64_t nsl_guard_auth_failures(const nsl_server *srv);

/* protocol.c */
void nsl_protocol_handle(nsl_session *s, const char *line, size_t len);
/* The engine's `done` for a queued LOCK of this session. */
void nsl_protocol_lock_done(nsl_session *s, const nsl_lock_result *r);

/* recovery.c */
/* Opens the state directory; a non-empty registry starts recovery. */
bool nsl_recovery_start(nsl_server *srv, const char *state_dir, uint64_t *first_token,
                        nsl_owner_id *max_session);
/* Holds s's first LOCK (line) until the session is durable in the registry. */
void nsl_recovery_register(nsl_session *s, const char *line, size_t len);
/* The session is going away. */
void nsl_recovery_session_end(nsl_session *s);
/* RECLAIM SESSION / RECLAIM ... / RECLAIM DONE (protocol.c parses the words). */
void nsl_recovery_reclaim_session(nsl_session *s, nsl_owner_id id, const uint8_t *secret,
                                  unsigned tlevel);
void nsl_recovery_reclaim_lock(nsl_session *s, const char *text, size_t len, size_t column);
void nsl_recovery_reclaim_done(nsl_session *s);
void nsl_recovery_new_secret(nsl_session *s);
void nsl_recovery_resume(nsl_session *s, nsl_owner_id id, const uint8_t *secret,
                         uint64_t client_answered);
bool nsl_recovery_active(const nsl_server *srv);
/* Registrations wait for the loop's check phase to be written. */
bool nsl_recovery_commit_pending(const nsl_server *srv);
size_t nsl_recovery_awaited(const nsl_server *srv);
void nsl_recovery_free(nsl_server *srv);
/* HA: the registry read at a new leadership (recs malloc'ed, taken over):
 * a non-empty one starts recovery as after a restart. */
void nsl_recovery_init(nsl_server *srv);
void nsl_recovery_begin(nsl_server *srv, nsl_registered *recs, size_t count);
/* A step-down: recovery ends without touching the registry. */
void nsl_recovery_abandon(nsl_server *srv);
/* RESUME moved a registering session to a new connection. */
void nsl_recovery_take_over(nsl_session *s, nsl_session *old);

/* server.c */
uint64_t nsl_server_now(nsl_server *srv);
/* After every event: serve ready sessions, save the token mark, send the
 * output, re-arm the timer. */
void nsl_server_settle(nsl_server *srv);
/* Before sending output: moves the token mark past every token granted;
 * false when nothing may be sent now (see ha.c). */
bool nsl_server_cover_tokens(nsl_server *srv);

/* harness.c: a server inside the calling process (the protocol fuzzer):
 * real sessions over a Unix socket in dir, its state in dir/state; the
 * caller turns the loop. */
typedef struct nsl_harness nsl_harness;
typedef enum nsl_harness_state {
    NSL_HARNESS_GONE,                /* ended (QUIT, a hang-up, an error) */
    NSL_HARNESS_BUSY,                /* a LOCK waits, or requests queue behind one */
    NSL_HARNESS_IDLE,                /* every request it read is answered */
} nsl_harness_state;

/* dir: an existing private directory; left as found by nsl_harness_free. */
nsl_harness *nsl_harness_new(const nsl_resolver *resolver, const char *dir);
/* A new connection and its session (admin or not, for REMOVE); returns the
 * client's non-blocking end, -1 on failure. */
int nsl_harness_connect(nsl_harness *h, bool admin, nsl_owner_id *owner);
/* One turn of the loop without blocking. */
void nsl_harness_turn(nsl_harness *h);
/* Engine time jumps ms ahead: the timeouts and deadlock checks due fire. */
void nsl_harness_pass_time(nsl_harness *h, uint64_t ms);
nsl_harness_state nsl_harness_session(nsl_harness *h, nsl_owner_id owner);
/* Whether every session's output has gone to its socket. */
bool nsl_harness_flushed(const nsl_harness *h);
size_t nsl_harness_session_count(const nsl_harness *h);
const nsl_engine *nsl_harness_engine(const nsl_harness *h);
/* Ends every session and frees everything. */
void nsl_harness_free(nsl_harness *h);

#endif
