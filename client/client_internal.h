/* client/client_internal.h — what the files of libnslock share: conn.c
 * (sockets, buffered lines, deadlines, errors), text.c (request text) and
 * api.c (the API), mirror.c (what the session holds) and recover.c
 * (reconnect, reclaim, the keeper thread). Never included outside them. */
#ifndef NSL_CLIENT_INTERNAL_H
#define NSL_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>
#include <stdatomic.h>

#include "mapping/mapping.h"
#include "nslock.h"

#define NSL_CLIENT_DEFAULT_GRACE 10.0
#define NSL_CLIENT_MAX_LINE (1u << 20)   /* longest answer line accepted */

typedef struct nsl_mirror_entry nsl_mirror_entry;
typedef struct nsl_mirror {
    nsl_mirror_entry *map;      /* uthash by (namespace, canonical name) */
    unsigned tlevel;
} nsl_mirror;

/* A request sent whose answer the caller does not wait for at once: an
 * asynchronous unlock (the library checks its answer) or a pipelined
 * request (the caller collects it with nslock_pipeline_result). */
typedef struct nsl_owed {
    char *text;                 /* the request line with its '\n': sent again after a
                                   reconnect that the server did not receive it on */
    size_t len;
    double wait;                /* how long the server may keep it waiting (negative: forever) */
    bool async_unlock;
    bool answered;              /* pipelined: the result below is its answer's */
    int rc;                     /* 0, or -1 with error */
    nslock_outcome outcome;
    nslock_error error;
    char ns[64];                /* the namespace it was sent in, for the mirror */
} nsl_owed;

/* Answers in flight at most: more waits for the oldest (the server reads
 * server.max_pending requests ahead, and answers left unread fill buffers). */
#define NSL_CLIENT_MAX_OWED NSLOCK_PIPELINE_MAX

struct nslock {
    pthread_mutex_t mu;         /* every call, and the keeper, hold it */
    int fd;                     /* -1 once the connection is closed */
    uint64_t connection;        /* counts connects: a new socket may reuse fd's number */
    uint64_t session;
    double grace;               /* seconds; negative: forever */
    char where[160];            /* socket path or host:port, for messages */
    char ns[64];                /* current namespace, "" when not known */
    char *rbuf;                 /* bytes [rpos, rlen) received, not consumed */
    size_t rpos, rlen, rcap;
    char *wbuf;                 /* the request being built */
    size_t wlen, wcap;
    char *wpend;                /* requests held back (NSLOCK_DEFER, pipelined): they go
                                   out with the next request, or before the next read */
    size_t wpend_len, wpend_cap;
    bool woverflow;             /* the request did not fit in memory */
    size_t show_left;           /* SHOW rows not yet read by nslock_show_next */
    bool show_cut;              /* the connection was lost in the middle of them */
    long long awaited;          /* the last SHOW: sessions a recovering server awaits, or -1 */

    nsl_lock_command cmd;       /* the command being run, parsed */
    nsl_mirror mirror;

    /* restart recovery (recover.c) */
    bool tcp;
    char **servers;             /* TCP: the addresses given (an HA cluster: several) */
    size_t nservers;
    bool standby_ok;            /* a standby's STANDBY leaves the connection open */
    bool standby;               /* connected to a standby: no session */
    char leader_hint[160];      /* the leader the last STANDBY answer named, "" none */
    double takeover;            /* HA: seconds a standby may need to follow the leader */
    char suspect[160];          /* that leader, not tried again until suspect_until */
    double suspect_until;
    long server_uid;            /* Unix: a server uid trusted besides root and ours; -1 none */
    char *token;                /* TCP: for reconnecting */
    char client_name[64];
    char default_ns[64];        /* the namespace a new session starts in */
    uint64_t epoch;             /* 0: the server does not do recovery */
    char secret[33];            /* hex, from HELLO */
    double server_grace;        /* seconds the server waits for reclaims */
    double server_timeout;      /* TCP: seconds of silence that end a session (0: none) */
    bool recovery;              /* recover lost connections (epoch != 0, not opted out) */
    bool ever_held;             /* the server may have registered the session */
    bool lost;                  /* locks lost, not yet acknowledged */
    bool resync_pending;        /* a REMOVE took some: the mirror must ask the server */
    nslock_error lost_why;
    nslock_lost_fn on_lost;
    void *on_lost_arg;
    nslock_reclaimed_fn on_reclaimed;
    void *on_reclaimed_arg;
    int keeper;                 /* NSLOCK_KEEPER_* */
    bool keeper_running, closing;
    pthread_t keeper_thread;
    int wake[2];                /* tells the keeper the descriptor changed */
    double last_io;             /* for keep-alives */
    /* TCP: resuming a live session over a new connection (RESUME) */
    uint64_t answers;           /* answers read on this session's connections */
    uint64_t resume_pending;    /* requests the server had when resumed: not sent again */
    char *replay;               /* answers the server sent again on RESUME, '\n'-ended */
    size_t replay_len, replay_at;   /* bytes of them, and how far they were read */
    /* answers owed: asynchronous unlocks and pipelined requests (pipeline.c) */
    nsl_owed *owed;             /* in the order sent; [0, owed_answered) have their answer */
    size_t owed_count, owed_answered, owed_cap;
    nsl_lock_command owed_cmd;  /* an owed request, parsed again for the mirror */
    bool has_deferred;          /* an asynchronous unlock failed: the next call says so */
    nslock_error deferred;
    /* nslock_cancel: set from any thread or a signal handler, without mu */
    atomic_bool cancel_asked;
    int cancel_fd;              /* eventfd that wakes a waiting LOCK's poll; -1 none */
    bool cancellable;           /* the answer being awaited is a LOCK that may wait */
    bool cancel_sent;           /* CANCEL went out: its answer follows the LOCK's */
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

/* HA: how long a leader may be silent in a call before it is probed, and
 * how long the probe waits (half the takeover time, at least 0.5 s). */
double nsl_client_probe_wait(const nslock *c);
/* HA: c->where answers nothing; the search for a leader skips it for the
 * takeover time. */
void nsl_client_suspect_server(nslock *c);

/* Sends the request in c->wbuf. */
int nsl_client_send(nslock *c, double deadline, nslock_error *err);
/* Reads one line; *line stays valid until the next read (it lives in
 * c->rbuf), its '\n' (and a '\r' before it) replaced by '\0'. While
 * c->cancellable, a cancel asked meanwhile sends CANCEL (once). */
int nsl_client_read_line(nslock *c, double deadline, char **line, size_t *len,
                         nslock_error *err);

/* Holds the request in c->wbuf back, for the next send or read. */
int nsl_client_hold(nslock *c, nslock_error *err);
/* Writes what is held back now. */
int nsl_client_flush(nslock *c, double deadline, nslock_error *err);
/* Sends len bytes of buf (nothing is skipped for a resumed session). */
int nsl_client_send_raw(nslock *c, const char *buf, size_t len, double deadline,
                        nslock_error *err);
/* Forgets the answers a RESUME sent again (a new connection, a new count). */
void nsl_client_replay_clear(nslock *c);

/* ---- answers (api.c) ---- */

/* An "ERR ..." answer (rest after "ERR "): fills err, notes a REMOVE's notice. */
int nsl_client_answer_error(nslock *c, nslock_error *err, const char *rest);
/* The server's error, in the engine's codes, for the mirror. */
nsl_code nsl_client_server_code(const nslock_error *err);
/* Ready for a new request: not lost, connected (recovering first), no SHOW
 * rows left unread, no failed asynchronous unlock unreported; drain: the
 * answers owed are read first (every call but the lock calls, which send
 * theirs ahead of them). */
int nsl_client_usable(nslock *c, bool drain, nslock_error *err);

/* Every call runs with the handle held. A call that may simply be sent
 * again (it reads, or sets what the mirror restores) is retried once the
 * connection is recovered; the lock calls recover per argument themselves.
 * body fills e_. */
#define API_CALL(c, err, body)                                                        \
    do {                                                                              \
        if ((c) == NULL)                                                              \
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no connection (NULL handle)"); \
        nslock_error e_;                                                              \
        nsl_client_ok(&e_);                                                           \
        pthread_mutex_lock(&(c)->mu);                                                 \
        int rc_;                                                                      \
        while ((rc_ = (body)) < 0 && nsl_client_should_recover(c, &e_) &&             \
               nsl_client_recover(c, &e_) == 0)                                       \
            ;                                                                         \
        pthread_mutex_unlock(&(c)->mu);                                               \
        if (err)                                                                      \
            *err = e_;                                                                \
        return rc_;                                                                   \
    } while (0)

/* "OK 1 TOKEN" / "OK 0" / "OK" of a LOCK command (rest after "OK"). */
int nsl_client_lock_outcome(nslock *c, const char *rest, nslock_outcome *out, nslock_error *err);

/* ---- answers owed (pipeline.c) ---- */

/* Sends the LOCK request in c->wbuf (ended), or holds it back for the
 * next write (hold), and owes its answer; for an unlock the mirror
 * releases at once. */
int nsl_owed_send(nslock *c, double wait, bool async_unlock, bool hold, nslock_error *err);
size_t nsl_owed_unanswered(const nslock *c);
/* Reads the answers owed, in order; -1 only when the connection failed
 * (err set); a failed asynchronous unlock is kept for nsl_owed_take_deferred. */
int nsl_owed_drain(nslock *c, nslock_error *err);
/* Reads the oldest answer owed (there must be one). */
int nsl_owed_drain_one(nslock *c, nslock_error *err);
/* The same for the answers already there, without waiting (the keeper). */
int nsl_owed_drain_ready(nslock *c, nslock_error *err);
/* -1 with the failure of an asynchronous unlock not reported yet, else 0. */
int nsl_owed_take_deferred(nslock *c, nslock_error *err);
/* After a reconnect: sends again the owed requests from the covered-th
 * unanswered one on (the server never received those). */
int nsl_owed_resend(nslock *c, size_t covered, nslock_error *err);
/* The session is gone (its locks lost): nothing is owed any more. */
void nsl_owed_clear(nslock *c);

/* ---- the mirror (mirror.c) ---- */

void nsl_mirror_clear(nsl_mirror *m);
size_t nsl_mirror_count(const nsl_mirror *m);
void nsl_mirror_release_all(nsl_mirror *m);
/* The answer to argument a of cmd (NULL: the bare LOCK), in namespace ns. */
void nsl_mirror_apply(nsl_mirror *m, const char *ns, const nsl_lock_command *cmd,
                      const nsl_lock_arg *a, nsl_code code, int test, uint64_t token);
void nsl_mirror_set_tlevel(nsl_mirror *m, unsigned level);
nsl_mirror_entry **nsl_mirror_sorted(const nsl_mirror *m, size_t *count);
/* Appends the entry's RECLAIM line to c's request buffer. */
void nsl_mirror_reclaim_line(const nsl_mirror_entry *e, nslock *c);
int nsl_mirror_list(const nsl_mirror *m, nslock_held **rows, size_t *count);
/* Keeps only the records the session still holds on the server, from the
 * rows of its SHOW owner=SELF nowaiters. Returns how many records went. */
size_t nsl_mirror_retain(nsl_mirror *m, const nslock_entry *rows, size_t count);

/* ---- recovery (recover.c) ---- */

/* The connection is gone: reconnect, reclaim, or declare the locks lost.
 * 0 when the session goes on (its locks reclaimed); -1 with err set (LOST,
 * or IO when recovery is off). */
int nsl_client_recover(nslock *c, nslock_error *err);
/* Whether a failed call should recover: recovery is on and the connection
 * was lost (err is IO, or the server said SHUTDOWN). */
bool nsl_client_should_recover(const nslock *c, const nslock_error *err);
/* Marks the locks lost, fires the callback, fills err. Returns -1. */
int nsl_client_declare_lost(nslock *c, nslock_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int nsl_client_keeper_start(nslock *c, nslock_error *err);
void nsl_client_keeper_stop(nslock *c);
/* After the descriptor changed: the keeper watches the new one. */
void nsl_client_keeper_wake(nslock *c);
/* HELLO (and AUTH first over TCP) on a fresh connection to where. */
int nsl_client_hello_at(nslock *c, const char *where, nslock_error *err);

/* ---- where the server is (cluster.c) ---- */

/* From the options: the Unix socket, or the TCP addresses and the token. */
int nsl_client_set_target(nslock *c, const nslock_options *o, const nslock_options_more *more,
                          nslock_error *err);
void nsl_client_free_target(nslock *c);
/* HELLO at the leader: at c->where, or, given several servers, at the
 * first that leads, following STANDBY hints; avoid_current: c->where lost
 * its connection, try it last. */
int nsl_client_hello(nslock *c, int avoid_current, nslock_error *err);
/* nsl_client_hello for a new handle: during an election (every server a
 * standby, or away) it tries again with back-off for the grace period. */
int nsl_client_hello_cluster(nslock *c, nslock_error *err);
/* After HELLO: TCP keep-alive on the connection to an HA leader. */
void nsl_client_watch_leader(nslock *c);

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
/* Checks name and appends LOCK -NAME#"TYPES". */
int nsl_client_req_unlock(nslock *c, const char *name, unsigned types, nslock_error *err);
/* Checks and appends :TIMEOUT (nothing for wait forever). */
int nsl_client_req_timeout(nslock *c, double timeout, nslock_error *err);

/* For a LOCK command in text form: checks it starts with LOCK or L and holds
 * no line break, and computes how long the server may make it wait (seconds,
 * negative: forever). */
int nsl_client_command_wait(const char *command, double *wait, nslock_error *err);

/* Unsigned decimal with nothing after it. */
bool nsl_client_parse_u64(const char *s, uint64_t *v);

#endif
