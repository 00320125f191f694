/* server/state.h — the server's durable state (docs/DESIGN.md), private to server/.
 *
 * Three things survive a restart: the epoch (raised at every start), the
 * fencing-token mark (tokens up to it may be handed out) and the registry of
 * sessions that hold locks (id and a hash of the secret, so that only the
 * session itself can reclaim). This backend keeps them in one directory:
 *
 *   epoch      one number, rewritten at start          (write, fsync, rename)
 *   tokens     one number, moved a block ahead         (write, fsync, rename)
 *   registry   "+ ID HASH" / "- ID" lines, appended     (fdatasync per batch)
 *   lock       flock'ed while a server runs, so two never share the state
 *
 * so that a crash at any instant leaves either the old or the new state.
 */
#ifndef NSL_SERVER_STATE_H
#define NSL_SERVER_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NSL_SECRET_BYTES 16                /* 128 random bits */
#define NSL_SECRET_HASH_BYTES 32           /* SHA-256 */

typedef struct nsl_registered {
    uint32_t session;
    uint8_t hash[NSL_SECRET_HASH_BYTES];
} nsl_registered;

typedef struct nsl_state {
    char *dir;
    int dir_fd, lock_fd, registry_fd;
    uint64_t epoch;
    uint64_t token_reserved;               /* tokens up to this may be handed out */
    pthread_mutex_t token_lock;            /* one writer of the tokens file at a time */
    uint64_t token_on_disk;                /* the file's mark; under token_lock */
    bool token_failing, registry_failing;  /* the last write failed (logged once) */
    size_t registry_lines;                 /* records in the file, for compaction */
    uint64_t registry_syncs;               /* fsyncs of the registry, for STATS */
} nsl_state;

/* The directory the state lives in when server.state_dir is not given:
 * $STATE_DIRECTORY (systemd), else /var/lib/nslock for root, else
 * $XDG_STATE_HOME/nslock or ~/.local/state/nslock; below it one directory
 * per socket path. snprintf-like. */
size_t nsl_state_default_dir(const char *socket_path, char *buf, size_t cap);

/* Opens (creating on the first start) the state directory, raises the
 * epoch durably, reserves a block of tokens (*first_token: tokens start
 * after it) and reads the registry (*sessions, malloc'ed, *count).
 * legacy_tokens is the <socket>.tokens file of older servers, taken over
 * once. False, logged, when the state cannot be trusted or written: the
 * server must not start then. */
bool nsl_state_open(nsl_state *st, const char *dir, const char *legacy_tokens,
                    uint64_t *first_token, nsl_registered **sessions, size_t *count);
void nsl_state_close(nsl_state *st);

/* Before sending anything that may carry tokens up to last_token: when the
 * mark does not cover them, it is written now (after a write in flight). */
void nsl_state_cover_tokens(nsl_state *st, uint64_t last_token);
/* With half a block or less left: the mark to move ahead to, to be written
 * off the loop so that no grant waits for the disk; 0: not yet. */
uint64_t nsl_state_tokens_due(const nsl_state *st, uint64_t last_token);
/* Makes the file's mark at least `need`, writing `mark` when it is below;
 * from any thread, one write at a time. 0 or an errno. */
int nsl_state_write_tokens(nsl_state *st, uint64_t need, uint64_t mark);
/* On the loop, once a write of `mark` ended with err (0: durable). */
void nsl_state_tokens_written(nsl_state *st, uint64_t mark, int err);

/* Appends the records and makes them durable (one fdatasync for all).
 * False, logged once per episode, when they are not durable. */
bool nsl_state_register(nsl_state *st, const nsl_registered *recs, size_t n);
/* A session left the registry; durable with the next batch (a crash that
 * loses it only makes recovery wait for a session that will not come). */
void nsl_state_unregister(nsl_state *st, uint32_t session);
/* Replaces the registry by exactly these sessions (write, fsync, rename). */
bool nsl_state_rewrite_registry(nsl_state *st, const nsl_registered *recs, size_t n);

/* SHA-256 of a secret, as the registry keeps it. */
void nsl_secret_hash(const uint8_t secret[NSL_SECRET_BYTES],
                     uint8_t out[NSL_SECRET_HASH_BYTES]);

#endif
