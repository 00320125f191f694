/* server/tokens.c — fencing tokens that only go up, across restarts and
 * crashes (SPEC 6.12).
 *
 * Writing the last token after every grant would cost a disk write per
 * lock. Instead the server reserves tokens in blocks, as sequence caches
 * do: the file holds a mark M, tokens up to M may be handed out, and the
 * mark is moved (written, fsync'ed, renamed into place) before any token
 * beyond it leaves the server. A restart starts after the stored mark, so
 * a crash loses at most the unused rest of a block, never reuses a token. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server_internal.h"

#define TOKEN_BLOCK 100000u

static bool read_mark(const char *path, uint64_t *mark)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) {
            *mark = 0;
            return true;
        }
        nsl_log(NSL_LOG_ERROR, "cannot read the fencing-token mark %s: %s", path, strerror(errno));
        return false;
    }
    char buf[64];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    while (*end == '\n' || *end == ' ' || *end == '\r' || *end == '\t')
        end++;
    if (n == 0 || end == buf || *end || errno || buf[0] == '-') {
        nsl_log(NSL_LOG_ERROR,
                "the fencing-token mark %s is damaged (it should hold one number); "
                "restore it, or remove it if reusing old tokens is acceptable", path);
        return false;
    }
    *mark = v;
    return true;
}

/* The rename is durable only once the directory is synced. */
static bool sync_directory(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return false;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return false;
    bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

/* Writes the mark to a temporary file and renames it into place, so the
 * file always holds either the old or the new mark. */
static bool write_mark(const char *path, uint64_t mark)
{
    size_t len = strlen(path) + 5;
    char *tmp = malloc(len);
    if (!tmp)
        return false;
    snprintf(tmp, len, "%s.new", path);
    bool ok = false;
    /* A fresh file, never one someone left there (a symlink in /tmp would
     * otherwise make the server write through it). */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", mark);
        ok = write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        ok = ok && rename(tmp, path) == 0 && sync_directory(path);
        if (!ok) {
            int saved = errno;
            unlink(tmp);
            errno = saved;
        }
    }
    free(tmp);
    return ok;
}

bool nsl_token_store_open(nsl_token_store *ts, const char *socket_path, uint64_t *first_token)
{
    memset(ts, 0, sizeof *ts);
    size_t len = strlen(socket_path) + sizeof ".tokens";
    ts->path = malloc(len);
    if (!ts->path)
        return false;
    snprintf(ts->path, len, "%s.tokens", socket_path);
    uint64_t mark;
    if (!read_mark(ts->path, &mark))
        return false;
    if (mark > UINT64_MAX - 2 * (uint64_t)TOKEN_BLOCK) {
        nsl_log(NSL_LOG_ERROR, "the fencing-token mark in %s is exhausted", ts->path);
        return false;
    }
    if (!write_mark(ts->path, mark + TOKEN_BLOCK)) {
        nsl_log(NSL_LOG_ERROR, "cannot save the fencing-token mark %s: %s", ts->path,
                strerror(errno));
        return false;
    }
    ts->reserved = mark + TOKEN_BLOCK;
    *first_token = mark;
    nsl_log(NSL_LOG_DEBUG, "fencing tokens start after %" PRIu64 " (%s)", mark, ts->path);
    return true;
}

void nsl_token_store_cover(nsl_token_store *ts, uint64_t last_token)
{
    /* Move the mark while half a block is still left, so a burst of
     * grants rarely waits for the disk. */
    if (last_token + TOKEN_BLOCK / 2 <= ts->reserved)
        return;
    uint64_t mark = last_token + TOKEN_BLOCK;
    if (write_mark(ts->path, mark)) {
        if (ts->failing)
            nsl_log(NSL_LOG_INFO, "the fencing-token mark %s is saved again", ts->path);
        ts->failing = false;
    } else if (!ts->failing) {
        ts->failing = true;
        nsl_log(NSL_LOG_ERROR,
                "cannot save the fencing-token mark %s: %s; after a crash tokens may repeat",
                ts->path, strerror(errno));
    }
    /* Keep serving either way; a failing disk is logged, not retried on every grant. */
    ts->reserved = mark;
}

void nsl_token_store_close(nsl_token_store *ts)
{
    free(ts->path);
    ts->path = NULL;
}
