/* nslock.h — libnslock, the client library of the nslock lock server.
 *
 * A program connects (one connection is one session, the OWNER of the lock
 * table), takes and releases locks, and reads the lock table. The library
 * speaks the text protocol of docs/PROTOCOL.md and nothing else.
 *
 *     nslock *c; nslock_error err; nslock_outcome got;
 *     if (nslock_connect(&c, NULL, "example", &err) < 0) ... err.name, err.message
 *     nslock_lock(c, "^Orders(15)", NSLOCK_EXCLUSIVE, 5.0, &got, &err);   got.test: $TEST
 *     nslock_unlock(c, "^Orders(15)", NSLOCK_EXCLUSIVE, &err);
 *     nslock_close(c);
 *
 * Conventions:
 * - Every call returns 0 (or the documented count) on success and -1 on
 *   failure, and fills *err (err may be NULL when the caller does not care).
 *   A lock that timed out is not a failure: the call returns 0 and
 *   outcome.test is 0, as $TEST is in M.
 * - After a server error (SYNTAX, DEADLOCK, ...) the connection stays usable
 *   and the session keeps what it holds. After IO, TIMEOUT or PROTOCOL the
 *   library has closed the connection, because the answer stream can no
 *   longer be trusted; the server then ends the session and releases
 *   everything it held. Later calls fail with IO.
 * - Calls block. A call that waits for a lock gives up on the client side
 *   after its timeout plus a grace period (nslock_set_grace); a call that
 *   does not wait gives up after the grace period alone.
 * - A handle may be shared by threads: calls on it are serialised (a call
 *   that waits for a lock holds the handle until it returns). The library's
 *   own keeper thread (see "Restart recovery" below) also takes the handle.
 * - Restart recovery (docs/DESIGN.md): the library mirrors what its session
 *   holds. When the connection is lost (the server restarted, crashed or
 *   stopped) it reconnects with back-off for up to the server's grace
 *   period, reclaims every lock with its original token, and re-sends a
 *   request that was cut off; the program notices nothing. If the locks
 *   cannot be reclaimed, every call fails with LOST until the program calls
 *   nslock_lost_clear(): the library never re-acquires a lost lock.
 */
#ifndef NSLOCK_H
#define NSLOCK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define NSLOCK_API __attribute__((visibility("default")))
#else
#define NSLOCK_API
#endif

#define NSLOCK_PROTOCOL_VERSION 1

/* Error codes: the server's stable codes (PROTOCOL.md) first, then the
 * library's own. X(name, value, description). */
#define NSLOCK_ERROR_MAP(X)                                                   \
    X(OK,          0, "no error")                                             \
    X(SYNTAX,      1, "the request or the lock name is malformed")            \
    X(NAMESPACE,   2, "unknown namespace, extended reference or directory")   \
    X(SUBSCRIPT,   3, "a lock name beyond the limits")                        \
    X(COMMAND,     4, "a well-formed request that is not allowed")            \
    X(DEADLOCK,    5, "the request was chosen to break a deadlock")           \
    X(PROTECT,     6, "not permitted")                                        \
    X(LIMIT,       7, "a limit was exceeded")                                 \
    X(SHUTDOWN,    8, "the server is stopping")                               \
    X(NOTFOUND,    9, "nothing matched")                                      \
    X(LOST,       10, "the session's locks were lost (restart recovery failed)") \
    X(CONFLICT,   11, "another session reclaimed a conflicting lock")        \
    X(STANDBY,    12, "this server is a standby; the leader is elsewhere")   \
    X(UNKNOWN,    99, "an error code this library does not know")            \
    X(IO,        100, "the connection failed or was lost")                    \
    X(TIMEOUT,   101, "no answer within the timeout plus grace period")       \
    X(PROTOCOL,  102, "the server's answer does not follow the protocol")     \
    X(ARGUMENT,  103, "an invalid argument to a library call")                \
    X(NOMEM,     104, "out of memory")                                       \
    X(CANCELLED, 105, "the waiting lock request was cancelled (nslock_cancel)")

typedef enum nslock_errcode {
#define NSLOCK_ERRCODE_(name, value, text) NSLOCK_E_##name = value,
    NSLOCK_ERROR_MAP(NSLOCK_ERRCODE_)
#undef NSLOCK_ERRCODE_
} nslock_errcode;

typedef struct nslock_error {
    int code;           /* nslock_errcode; NSLOCK_E_OK after a success */
    char name[32];      /* the code's name, "DEADLOCK"; for UNKNOWN the code the server sent */
    char message[480];  /* for people; may change between versions */
} nslock_error;

/* "DEADLOCK" for NSLOCK_E_DEADLOCK; "UNKNOWN" for a value not in the map. */
NSLOCK_API const char *nslock_errname(int code);
/* One line describing the code (not the message of a particular error). */
NSLOCK_API const char *nslock_strerror(int code);

/* ---- connections ------------------------------------------------------------ */

typedef struct nslock nslock;

/* The socket nslock_connect() uses when given no path: $NSLOCK_SOCKET, else
 * $XDG_RUNTIME_DIR/nslock/nslock.sock, else /tmp/nslock-<uid>/nslock.sock (a
 * directory only the server's user can use). Returns 0, or -1 when it does
 * not fit in cap bytes. */
NSLOCK_API int nslock_default_socket(char *buf, size_t cap);

/* Connects to the server's Unix socket (socket_path NULL: the default above)
 * and introduces the client with HELLO; client_name (may be NULL) is shown
 * in the CLIENT column and may not contain spaces or control characters.
 * On failure *out is NULL. */
NSLOCK_API int nslock_connect(nslock **out, const char *socket_path, const char *client_name,
                              nslock_error *err);

/* The same over TCP: host_port is "host:port" or "[v6addr]:port"; token is
 * the server's shared token (read it from the token file; never take it from
 * a command line). */
NSLOCK_API int nslock_connect_tcp(nslock **out, const char *host_port, const char *token,
                                  const char *client_name, nslock_error *err);

/* Everything a connection can be given. Zero fields take the defaults.
 *
 * Where the server is: nslock_options_more.servers, else host_port, else
 * socket_path, else $NSLOCK_SERVERS (TCP), else nslock_default_socket().
 * Over TCP the token is token, else the first line of
 * nslock_options_more.token_file, else of $NSLOCK_TOKEN_FILE (a file
 * anybody may read is refused). */
typedef struct nslock_options {
    const char *socket_path;     /* NULL: nslock_default_socket() */
    const char *host_port;       /* TCP "host:port" instead of the Unix socket */
    const char *token;           /* TCP: the server's shared token */
    const char *client_name;     /* shown in the CLIENT column; no blanks */
    int keeper;                  /* NSLOCK_KEEPER_THREAD or NSLOCK_KEEPER_NONE */
    int no_recovery;             /* nonzero: a lost connection is an IO error, as
                                    before restart recovery existed */
    long server_uid;             /* Unix socket: the server must run as root, as this
                                    process's user, or as this uid (0: the uid in
                                    $NSLOCK_SERVER_UID, if set): nobody else can
                                    squat the socket and hand out fake grants */
} nslock_options;

/* How the connection is watched while the program makes no call:
 * THREAD, a thread of the library's own (as ZooKeeper's C client has);
 * NONE, the program's own event loop watches nslock_fd() for input and
 * calls nslock_process() when it is readable, and at least every second. */
enum { NSLOCK_KEEPER_THREAD = 0, NSLOCK_KEEPER_NONE = 1 };

/* Connects as the options say; nslock_connect() and nslock_connect_tcp()
 * are this with a socket path or host:port and everything else default. */
NSLOCK_API int nslock_open(nslock **out, const nslock_options *options, nslock_error *err);

/* What else a connection may be given (a struct of its own: nslock_options
 * keeps its layout for programs and bindings built against it). */
typedef struct nslock_options_more {
    const char *servers;         /* TCP, an HA cluster (docs/HA.md): "host:port,host:port"
                                    tried in turn; a standby's answer names the leader,
                                    which is tried next. After a lost connection the
                                    library reclaims at whichever server leads then. */
    const char *token_file;      /* TCP: where the token is, when options.token is NULL */
    int standby_ok;              /* nonzero: stay with the first server that answers, even
                                    a standby (no session there: nslock_is_standby() is 1,
                                    and only PING, STATS and CLUSTER work) */
} nslock_options_more;

/* nslock_open with more; options and more may be NULL. */
NSLOCK_API int nslock_open_ex(nslock **out, const nslock_options *options,
                              const nslock_options_more *more, nslock_error *err);

/* Ends the session (the server releases everything it holds) and frees the
 * handle. c may be NULL. */
NSLOCK_API void nslock_close(nslock *c);

/* How long past a request's own waiting time the library waits for its
 * answer before giving up with TIMEOUT (default 10 s; negative: forever). */
NSLOCK_API void nslock_set_grace(nslock *c, double seconds);

/* The session id (the OWNER column) the server gave in answer to HELLO. */
NSLOCK_API uint64_t nslock_session_id(const nslock *c);

/* The namespace the session works in, as last set with nslock_namespace()
 * (upper-cased, as the server stores it), or NULL while it is the server's
 * default namespace and the server did not say which that is. */
NSLOCK_API const char *nslock_current_namespace(const nslock *c);

/* The address the handle is connected to (the socket path or host:port of
 * the leader it found), copied into buf. Returns 0, or -1 when cap is too
 * small. */
NSLOCK_API int nslock_server_address(nslock *c, char *buf, size_t cap);

/* 1 when the handle is connected to a standby (nslock_options.standby_ok). */
NSLOCK_API int nslock_is_standby(nslock *c);

/* CLUSTER: the server's place in an HA cluster. */
typedef struct nslock_cluster {
    char role[16];               /* "alone" (no HA), "leader", "standby", "electing" */
    uint64_t epoch;              /* the leader's epoch; 0 on a standby */
    char leader[160];            /* host:port of the leader, "" when none is known */
    char zookeeper[32];          /* the ZooKeeper session's state, "-" alone */
} nslock_cluster;
NSLOCK_API int nslock_cluster_get(nslock *c, nslock_cluster *out, nslock_error *err);

/* "OK PONG": one round trip. */
NSLOCK_API int nslock_ping(nslock *c, nslock_error *err);

/* ---- locks ------------------------------------------------------------------ */

/* Lock types (docs/LANGUAGE.md), combined with |. */
enum {
    NSLOCK_EXCLUSIVE  = 0,       /* the default */
    NSLOCK_SHARED     = 1 << 0,  /* "S" */
    NSLOCK_ESCALATING = 1 << 1,  /* "E" */
    NSLOCK_IMMEDIATE  = 1 << 2,  /* "I": unlock at once, even inside a transaction */
    NSLOCK_DEFERRED   = 1 << 3,  /* "D": unlock at transaction end */
};

/* Timeouts are in seconds (fractions allowed). Negative, or above 1e9:
 * wait until granted. 0: one attempt. */
#define NSLOCK_WAIT_FOREVER (-1.0)

typedef struct nslock_outcome {
    int test;          /* $TEST: 1 granted, 0 timed out, -1 the command only released */
    uint64_t token;    /* the fencing token of the grant when test is 1, else 0 */
} nslock_outcome;

/* LOCK +NAME#"TYPES":TIMEOUT — one incremental lock. out may be NULL. */
NSLOCK_API int nslock_lock(nslock *c, const char *name, unsigned types, double timeout,
                           nslock_outcome *out, nslock_error *err);

/* LOCK +(N1,N2,...)#"TYPES":TIMEOUT — all the names or none. */
NSLOCK_API int nslock_lock_names(nslock *c, const char *const *names, size_t count,
                                 unsigned types, double timeout, nslock_outcome *out,
                                 nslock_error *err);

/* LOCK -NAME#"TYPES" — removes one count of that type (never waits; removing
 * what is not held is not an error). */
NSLOCK_API int nslock_unlock(nslock *c, const char *name, unsigned types, nslock_error *err);

/* ---- pipelining and the asynchronous unlock (docs/CLIENT.md) ----------------
 * A request can go out without its caller waiting for the answer: the
 * answers come back in order, so lock -> work -> unlock costs one round
 * trip when the unlock is asynchronous (its answer is read with the next
 * lock's), and a batch of pipelined requests costs one.
 *
 * - The answers owed are read, in order, by every later call. An
 *   nslock_lock / nslock_lock_names / nslock_command of incremental locks
 *   goes out ahead of reading them; any other call reads them first.
 * - A failed asynchronous unlock is reported by the next call (of any
 *   kind, nslock_sync included): it returns -1 with the unlock's error,
 *   the message starting "unlock of NAME: ", and has done nothing (a lock
 *   sent ahead and granted is given back with LOCK -).
 * - An unlock leaves the library's mirror when it is sent: a restart
 *   recovery or an HA failover before its answer does not reclaim it.
 *   (Should it fail, the server still holds what the mirror no longer
 *   has: unlock it again.)
 * - A lost connection is recovered as for any call; the requests owed
 *   survive it: over TCP, RESUME gives back the answers the server had
 *   sent and keeps serving what it had; what never reached it (and, after
 *   a server restart, everything owed) is sent again. When the locks are
 *   lost, what was owed is dropped and calls fail with LOST.
 * - A pipelined LOCK that waits holds up the session's later requests on
 *   the server (PROTOCOL.md); its timeout plus the grace period bounds the
 *   wait for its answer, counted from when the library starts reading it.
 *   nslock_cancel acts on a synchronous lock call only.
 * - At most NSLOCK_PIPELINE_MAX answers are owed: one more first reads the
 *   oldest. nslock_close reads what is owed up to a LOCK that may wait,
 *   then ends the session (which releases everything). */

#define NSLOCK_PIPELINE_MAX 256

/* Flags for nslock_unlock_flags. NSLOCK_ASYNC: send the unlock, do not
 * wait for its answer. NSLOCK_DEFER, with it: do not even write it yet; it
 * goes out in one write with the next request (or nslock_flush, nslock_sync,
 * any call that reads): the fastest lock/unlock loop, but until then the
 * server still holds the lock, so only for a loop whose next call comes at
 * once, never before waiting on anything another process may do under
 * that lock. */
enum { NSLOCK_ASYNC = 1 << 0, NSLOCK_DEFER = 1 << 1 };

/* LOCK -NAME#"TYPES", sent without reading its answer: returns once it is
 * written (0), or -1 for an error found before (an invalid name, a failed
 * earlier unlock, the connection). */
NSLOCK_API int nslock_unlock_async(nslock *c, const char *name, unsigned types,
                                   nslock_error *err);
/* nslock_unlock, or with NSLOCK_ASYNC in flags nslock_unlock_async. */
NSLOCK_API int nslock_unlock_flags(nslock *c, const char *name, unsigned types, unsigned flags,
                                   nslock_error *err);
/* Writes the requests held back (NSLOCK_DEFER, pipelined) now. */
NSLOCK_API int nslock_flush(nslock *c, nslock_error *err);
/* Waits for every answer owed: 0, or -1 with a failed asynchronous
 * unlock's error (pipelined results stay for nslock_pipeline_result). */
NSLOCK_API int nslock_sync(nslock *c, nslock_error *err);

/* Pipelined requests: each queues one LOCK request and returns (0) without
 * its answer; nslock_pipeline_result returns the answers one per request,
 * in the order sent. They are held back and written together by the next
 * call that sends or reads (nslock_pipeline_result, nslock_flush, ...). _lock is LOCK +NAME#"TYPES":TIMEOUT, _unlock
 * LOCK -NAME#"TYPES", _command a LOCK command of one argument in the text
 * form of nslock_command ("LOCK +(^a,^b):0", "LOCK" to release all). */
NSLOCK_API int nslock_pipeline_lock(nslock *c, const char *name, unsigned types, double timeout,
                                    nslock_error *err);
NSLOCK_API int nslock_pipeline_unlock(nslock *c, const char *name, unsigned types,
                                      nslock_error *err);
NSLOCK_API int nslock_pipeline_command(nslock *c, const char *command, nslock_error *err);
/* The answer to the oldest pipelined request not yet collected, waiting
 * for it if need be: as nslock_command would have returned it (0 and *out,
 * which may be NULL; -1 and the server's error). -1 with ARGUMENT when
 * none is owed; -1 with a failed asynchronous unlock's error before it
 * (the result stays: call again). */
NSLOCK_API int nslock_pipeline_result(nslock *c, nslock_outcome *out, nslock_error *err);
/* Pipelined results not yet collected (answered or not). */
NSLOCK_API size_t nslock_pipeline_owed(nslock *c);

/* LOCK — releases everything the session holds (inside a transaction: puts
 * it in the delock state, docs/LANGUAGE.md). */
NSLOCK_API int nslock_unlock_all(nslock *c, nslock_error *err);

/* A LOCK command in the text form of docs/LANGUAGE.md, starting with LOCK or L, e.g.
 * "LOCK +(^a(1),^b)#\"S\":2.5,-^c". The client-side timeout is the sum of the
 * timeouts of its arguments that take locks (forever when one has none). */
NSLOCK_API int nslock_command(nslock *c, const char *command, nslock_outcome *out,
                              nslock_error *err);

/* Cancels the lock request that waits on c now, from any thread or from a
 * signal handler (it only sets a flag and writes to an eventfd). The
 * waiting call sends CANCEL (PROTOCOL.md) and returns -1 with CANCELLED:
 * nothing of the argument that waited was taken, earlier arguments of the
 * command keep their effect, the session keeps everything else, and the
 * next call works as usual. If the lock was granted just before, the call
 * returns the grant. A cancel made while no lock request waits has no
 * effect. Returns 0, or -1 when c is NULL. */
NSLOCK_API int nslock_cancel(nslock *c);

/* NS NAME: later names resolve in that namespace. */
NSLOCK_API int nslock_namespace(nslock *c, const char *name, nslock_error *err);

/* Transactions (docs/LANGUAGE.md). *level (may be NULL) receives the transaction
 * level after the call. trollback: one_level 0 rolls back all levels,
 * nonzero one level (TROLLBACK 1). */
NSLOCK_API int nslock_tstart(nslock *c, int *level, nslock_error *err);
NSLOCK_API int nslock_tcommit(nslock *c, int *level, nslock_error *err);
NSLOCK_API int nslock_trollback(nslock *c, int one_level, int *level, nslock_error *err);

/* ---- reading the table -------------------------------------------------------
 * Array results are one allocation: free them with nslock_free(). Strings
 * are never NULL; a field the server left empty is "". */

NSLOCK_API void nslock_free(void *rows);

typedef struct nslock_resolution {
    const char *database;
    const char *directory;
    const char *rule;      /* local, globals, map, subtree, namespace, implied */
    const char *mapping;   /* the mapping rule that decided, or "" */
} nslock_resolution;

/* RESOLVE NAME in the session's namespace: the databases it lands in. */
NSLOCK_API int nslock_resolve(nslock *c, const char *name, nslock_resolution **rows,
                              size_t *count, nslock_error *err);

/* One row of the lock table (docs/PROTOCOL.md). */
typedef struct nslock_entry {
    const char *database;
    const char *directory;
    uint64_t owner;              /* session id */
    long pid;                    /* 0 when unknown */
    const char *client;
    const char *mode;            /* "Exclusive/2->Delock", "WaitShared", ... */
    const char *name;            /* canonical, without a namespace */
    const char *namespace_name;  /* where the lock was taken */
    const char *since;           /* UTC, ISO 8601 with milliseconds */
    uint64_t token;              /* fencing token; 0 for a waiting row */
    int waiting;                 /* 1 for a waiting request (mode Wait...) */
    const char *blockers;        /* a waiting row's blocking owners, "3,5", or why it
                                    waits with nobody in the way ("table-full",
                                    "recovering"); "" otherwise */
} nslock_entry;

/* Filters of SHOW; zero/NULL fields match everything. */
typedef struct nslock_show_filter {
    const char *database;
    const char *namespace_name;
    uint64_t owner;
    long pid;
    const char *name_prefix;
    int no_waiters;
} nslock_show_filter;

/* What else SHOW may be asked (a struct of its own: nslock_show_filter
 * keeps its layout for programs and bindings built against it). */
typedef struct nslock_show_more {
    int waiters_only;            /* only waiting requests */
    const char *sort;            /* a column (docs/PROTOCOL.md, SHOW sort=); NULL: table order */
    const char *columns;         /* nslock_show_json: the keys of each row, comma-separated
                                    ("name,owner"); NULL: all */
} nslock_show_more;

/* nslock_show with more; more may be NULL. */
NSLOCK_API int nslock_show_ex(nslock *c, const nslock_show_filter *filter,
                              const nslock_show_more *more, nslock_entry **rows, size_t *count,
                              nslock_error *err);

/* The whole (filtered) table at once. filter may be NULL. */
NSLOCK_API int nslock_show(nslock *c, const nslock_show_filter *filter, nslock_entry **rows,
                           size_t *count, nslock_error *err);

/* The same row by row, for tables too large to hold twice: begin sends SHOW
 * and gives the number of rows (count may be NULL); next fills *row and
 * returns 1, or returns 0 after the last row, or -1. A row's strings stay
 * valid until the next call on c. Any other call on c first skips the rows
 * not yet read. */
NSLOCK_API int nslock_show_begin(nslock *c, const nslock_show_filter *filter, size_t *count,
                                 nslock_error *err);
NSLOCK_API int nslock_show_next(nslock *c, nslock_entry *row, nslock_error *err);

/* SHOW ... json: the table as the server's JSON document (docs/PROTOCOL.md),
 * handed to write() a line at a time as it arrives, '\n' included; more
 * may be NULL. When write returns nonzero the rest is read and dropped,
 * and the call fails with NSLOCK_E_IO. */
NSLOCK_API int nslock_show_json(nslock *c, const nslock_show_filter *filter,
                                const nslock_show_more *more,
                                int (*write)(void *arg, const char *text, size_t len), void *arg,
                                nslock_error *err);

typedef struct nslock_stats {
    uint64_t entries, max_entries, sessions, waiters, grants, escalations, deadlocks,
             timeouts, table_full_episodes;
    uint64_t epoch, recovering, recovery_awaited, registry_syncs;
} nslock_stats;

/* STATS into the fields above (a counter the server does not report is 0). */
NSLOCK_API int nslock_stats_get(nslock *c, nslock_stats *stats, nslock_error *err);

/* STATS as the server sent it, every counter in its order. */
typedef struct nslock_stat {
    const char *key;
    uint64_t value;
} nslock_stat;
NSLOCK_API int nslock_stats_list(nslock *c, nslock_stat **items, size_t *count,
                                 nslock_error *err);
/* STATS json: the server's JSON document {"stats": {...}, "cluster": {...}}
 * (docs/PROTOCOL.md), handed to write() a line at a time, '\n' included,
 * as nslock_show_json does. A server older than it answers NSLOCK_E_SYNTAX. */
NSLOCK_API int nslock_stats_json(nslock *c, int (*write)(void *arg, const char *text, size_t len),
                                 void *arg, nslock_error *err);

/* NAMESPACES: the namespaces the server's configuration declares, in its
 * order, each with its globals database. */
typedef struct nslock_namespace_info {
    const char *name;
    const char *globals;
} nslock_namespace_info;
NSLOCK_API int nslock_namespaces_list(nslock *c, nslock_namespace_info **rows, size_t *count,
                                      nslock_error *err);

/* CONFIG: the configuration the server runs, as it loaded it: file is the
 * name it was given ("<default>" for the embedded one), text the YAML
 * (len bytes, NUL-terminated), for nsl_config_load_buffer() or a person.
 * One block: free it with nslock_free(). */
typedef struct nslock_config_source {
    const char *file;
    const char *text;
    size_t len;
} nslock_config_source;
NSLOCK_API int nslock_config_text(nslock *c, nslock_config_source **out, nslock_error *err);

/* ---- restart recovery ------------------------------------------------------
 * See the conventions at the top and docs/CLIENT.md. Callbacks run on the
 * thread that noticed (the keeper thread, or the thread inside a call) with
 * the handle held: they must not call into c. */

/* The server's epoch from HELLO: it changes when the server restarts
 * (0: the server does not do restart recovery). */
NSLOCK_API uint64_t nslock_epoch(const nslock *c);

/* 1 while the session's locks are lost and not yet acknowledged, else 0. */
NSLOCK_API int nslock_is_lost(nslock *c);
/* Acknowledges a loss: later calls work again, on a session that holds
 * nothing. Returns 1 if there was a loss to acknowledge, else 0 (also
 * after a LOST that named a REMOVE, which leaves the handle usable). */
NSLOCK_API int nslock_lost_clear(nslock *c);

typedef void (*nslock_lost_fn)(nslock *c, const nslock_error *why, void *arg);
/* fn (NULL: none) is called once when the locks are lost, and each time a
 * call learns that another session's REMOVE took some of them (that call
 * fails with LOST "removed by ..."; the handle stays usable and
 * nslock_held_list no longer has what was removed). */
NSLOCK_API void nslock_on_lost(nslock *c, nslock_lost_fn fn, void *arg);

typedef void (*nslock_reclaimed_fn)(nslock *c, size_t locks, uint64_t epoch, void *arg);
/* fn (NULL: none) is called after every successful recovery with the
 * number of locks reclaimed (0 when there was nothing to reclaim). */
NSLOCK_API void nslock_on_reclaimed(nslock *c, nslock_reclaimed_fn fn, void *arg);

/* NSLOCK_KEEPER_NONE: the descriptor to watch for input (it changes after
 * a reconnect: ask again after nslock_process), -1 when closed. */
NSLOCK_API int nslock_fd(nslock *c);
/* Does the keeper's work once: notices a lost connection and recovers
 * (which may block up to the grace period), sends a keep-alive when due.
 * -1 with LOST when the locks were lost. */
NSLOCK_API int nslock_process(nslock *c, nslock_error *err);

/* What the session holds, as the library mirrors it: one row per lock name
 * and the namespace it was taken in (a name the server keeps in several
 * databases is one row). Free with nslock_free(). */
typedef struct nslock_held {
    const char *namespace_name;  /* where it was taken */
    const char *name;            /* canonical */
    unsigned count[4];           /* exclusive, exclusive E, shared, shared E */
    unsigned deferred[4];        /* of those, in the delock state */
    uint64_t token;
} nslock_held;
NSLOCK_API int nslock_held_list(nslock *c, nslock_held **rows, size_t *count,
                                nslock_error *err);
/* What the last nslock_show / nslock_show_begin said of the server: -1 when
 * it was serving normally, else the number of sessions a restarted server
 * still waits for before it grants anything new. */
NSLOCK_API long long nslock_recovering(nslock *c);

/* The transaction level as the library mirrors it. */
NSLOCK_API int nslock_tlevel(nslock *c);

/* ---- administration ------------------------------------------------------- */

/* REMOVE: held entries matching every criterion given (at least one). Other
 * owners' entries need admin rights (PROTECT). NOTFOUND when nothing
 * matched. */
typedef struct nslock_remove_filter {
    uint64_t owner;        /* 0: any */
    long pid;              /* 0: any */
    const char *database;  /* NULL: any */
    const char *name;      /* NULL: any */
} nslock_remove_filter;

NSLOCK_API int nslock_remove(nslock *c, const nslock_remove_filter *filter, uint64_t *removed,
                             nslock_error *err);

#ifdef __cplusplus
}
#endif

#endif
