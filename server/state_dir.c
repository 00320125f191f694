/* server/state_dir.c — the durable state of server/state.h in a directory.
 *
 * Small values (epoch, token mark) are whole files replaced by rename; the
 * registry is a log of records appended in batches, one fdatasync a batch
 * (the group commit of docs/DESIGN.md), and rewritten whole when it has grown
 * well past what it holds. A torn last record (a crash mid-append) is
 * ignored: its batch was never acknowledged.
 *
 * Tokens are reserved a block at a time, as sequence caches do: the file
 * holds a mark M, tokens up to M may be handed out, and the mark moves
 * before any token beyond it leaves the server. A restart starts after the
 * stored mark, so a crash loses at most the unused rest of a block.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>
#include <uthash.h>

#include "server/server_internal.h"
#include "server/state.h"

#define TOKEN_BLOCK 100000u
#define REGISTRY_HEADER "nslock-registry 1\n"

void nsl_secret_hash(const uint8_t secret[NSL_SECRET_BYTES], uint8_t out[NSL_SECRET_HASH_BYTES])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, NSL_SECRET_BYTES, secret);
    sha256_digest(&ctx, NSL_SECRET_HASH_BYTES, out);
}

/* ---- where ------------------------------------------------------------------ */

/* One directory name per socket path, injective: [A-Za-z0-9.-] stay, '/'
 * becomes '_', anything else %XX. */
static size_t escape_path(const char *path, char *buf, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        char tmp[4];
        size_t k = 1;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '-')
            tmp[0] = (char)*p;
        else if (*p == '/')
            tmp[0] = p == (const unsigned char *)path ? 0 : '_';
        else
            k = (size_t)snprintf(tmp, sizeof tmp, "%%%02X", *p);
        if (!tmp[0])
            continue;                       /* the leading '/' */
        for (size_t i = 0; i < k; i++, n++)
            if (n + 1 < cap)
                buf[n] = tmp[i];
    }
    if (cap)
        buf[n < cap ? n : cap - 1] = '\0';
    return n;
}

size_t nsl_state_default_dir(const char *socket_path, char *buf, size_t cap)
{
    char base[4096];
    const char *systemd = getenv("STATE_DIRECTORY");
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (systemd && systemd[0] == '/')
        snprintf(base, sizeof base, "%.*s", (int)strcspn(systemd, ":"), systemd);
    else if (geteuid() == 0)
        snprintf(base, sizeof base, "/var/lib/nslock");
    else if (xdg && xdg[0] == '/')
        snprintf(base, sizeof base, "%s/nslock", xdg);
    else
        snprintf(base, sizeof base, "%s/.local/state/nslock", home && *home ? home : ".");
    char name[2048];
    escape_path(socket_path, name, sizeof name);
    int n = snprintf(buf, cap, "%s/%s", base, name);
    return n < 0 ? 0 : (size_t)n;
}

/* ---- small files -------------------------------------------------------------- */

/* Reads a file holding one number. 1 read, 0 absent, -1 damaged (logged). */
static int read_number(nsl_state *st, const char *name, uint64_t *out)
{
    int fd = openat(st->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        nsl_log(NSL_LOG_ERROR, "cannot read %s/%s: %s", st->dir, name, strerror(errno));
        return -1;
    }
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        nsl_log(NSL_LOG_ERROR, "cannot read %s/%s: %s", st->dir, name, strerror(errno));
        return -1;
    }
    buf[n] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (n == 0 || end == buf || *end != '\n' || end[1] || errno || buf[0] == '-') {
        nsl_log(NSL_LOG_ERROR, "%s/%s is damaged (it should hold one number); the server "
                "cannot tell what earlier runs handed out", st->dir, name);
        return -1;
    }
    *out = v;
    return 1;
}

/* Writes a fresh NAME.new, fsyncs it and renames it over NAME, then fsyncs
 * the directory: the file holds either the old or the new content. */
static bool replace_file(nsl_state *st, const char *name, const char *data, size_t len)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.new", name);
    unlinkat(st->dir_fd, tmp, 0);
    int fd = openat(st->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    bool ok = true;
    for (size_t done = 0; ok && done < len;) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        done += n > 0 ? (size_t)n : 0;
    }
    ok = ok && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ok = ok && renameat(st->dir_fd, tmp, st->dir_fd, name) == 0 && fsync(st->dir_fd) == 0;
    if (!ok) {
        int saved = errno;
        unlinkat(st->dir_fd, tmp, 0);
        errno = saved ? saved : EIO;
    }
    return ok;
}

static bool write_number(nsl_state *st, const char *name, uint64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", v);
    return replace_file(st, name, buf, (size_t)n);
}

/* ---- the registry --------------------------------------------------------------- */

typedef struct live {
    UT_hash_handle hh;
    nsl_registered rec;
} live;

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool parse_record(const char *line, size_t len, char *op, nsl_registered *rec)
{
    char buf[128];
    if (len < 3 || len >= sizeof buf)
        return false;
    memcpy(buf, line, len);
    buf[len] = '\0';
    *op = buf[0];
    if ((*op != '+' && *op != '-') || buf[1] != ' ')
        return false;
    char *end;
    errno = 0;
    unsigned long id = strtoul(buf + 2, &end, 10);
    if (errno || end == buf + 2 || id == 0 || id > UINT32_MAX)
        return false;
    rec->session = (uint32_t)id;
    if (*op == '-')
        return *end == '\0';
    if (*end != ' ' || strlen(end + 1) != 2 * NSL_SECRET_HASH_BYTES)
        return false;
    for (size_t i = 0; i < NSL_SECRET_HASH_BYTES; i++) {
        int hi = hexval(end[1 + 2 * i]), lo = hexval(end[2 + 2 * i]);
        if (hi < 0 || lo < 0)
            return false;
        rec->hash[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static size_t format_record(char *buf, char op, const nsl_registered *rec)
{
    int n = snprintf(buf, 96, "%c %" PRIu32, op, rec->session);
    if (op == '+') {
        buf[n++] = ' ';
        for (size_t i = 0; i < NSL_SECRET_HASH_BYTES; i++)
            n += snprintf(buf + n, 3, "%02x", rec->hash[i]);
    }
    buf[n++] = '\n';
    return (size_t)n;
}

/* Replays the log into the sessions it leaves registered. 1 read, 0 no
 * file, -1 damaged (logged). */
static int read_registry(nsl_state *st, nsl_registered **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    int fd = openat(st->dir_fd, "registry", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        nsl_log(NSL_LOG_ERROR, "cannot read %s/registry: %s", st->dir, strerror(errno));
        return -1;
    }
    struct stat sb;
    char *text = NULL;
    ssize_t got = -1;
    if (fstat(fd, &sb) == 0 && (text = malloc((size_t)sb.st_size + 1)))
        got = read(fd, text, (size_t)sb.st_size);
    close(fd);
    if (got != sb.st_size) {
        nsl_log(NSL_LOG_ERROR, "cannot read %s/registry", st->dir);
        free(text);
        return -1;
    }
    live *set = NULL, *l, *tmp;
    int status = 1;
    size_t hlen = strlen(REGISTRY_HEADER), lineno = 1, n = 0;
    if ((size_t)got < hlen || memcmp(text, REGISTRY_HEADER, hlen) != 0) {
        nsl_log(NSL_LOG_ERROR, "%s/registry is not an nslock registry", st->dir);
        status = -1;
    }
    for (size_t pos = hlen; status > 0 && pos < (size_t)got;) {
        const char *nl = memchr(text + pos, '\n', (size_t)got - pos);
        lineno++;
        if (!nl)
            break;                  /* a torn last record: its batch was never answered */
        char op;
        nsl_registered rec;
        if (!parse_record(text + pos, (size_t)(nl - text) - pos, &op, &rec)) {
            nsl_log(NSL_LOG_ERROR, "%s/registry:%zu: damaged record; the server cannot tell "
                    "which sessions held locks", st->dir, lineno);
            status = -1;
            break;
        }
        HASH_FIND(hh, set, &rec.session, sizeof rec.session, l);
        if (op == '+' && !l) {
            l = malloc(sizeof *l);
            if (!l)
                abort();
            l->rec = rec;
            HASH_ADD(hh, set, rec.session, sizeof l->rec.session, l);
        } else if (op == '+') {
            l->rec = rec;
        } else if (l) {
            HASH_DEL(set, l);
            free(l);
        }
        pos = (size_t)(nl - text) + 1;
    }
    free(text);
    if (status > 0 && HASH_COUNT(set)) {
        *out = malloc(HASH_COUNT(set) * sizeof **out);
        if (!*out)
            abort();
    }
    HASH_ITER(hh, set, l, tmp) {
        if (status > 0)
            (*out)[n++] = l->rec;
        HASH_DEL(set, l);
        free(l);
    }
    *count = n;
    return status;
}

static bool open_registry_log(nsl_state *st)
{
    if (st->registry_fd >= 0)
        close(st->registry_fd);
    st->registry_fd = openat(st->dir_fd, "registry", O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    return st->registry_fd >= 0;
}

bool nsl_state_rewrite_registry(nsl_state *st, const nsl_registered *recs, size_t n)
{
    size_t hlen = strlen(REGISTRY_HEADER);
    char *buf = malloc(hlen + n * 96 + 1);
    if (!buf)
        return false;
    memcpy(buf, REGISTRY_HEADER, hlen);
    size_t len = hlen;
    for (size_t i = 0; i < n; i++)
        len += format_record(buf + len, '+', &recs[i]);
    bool ok = replace_file(st, "registry", buf, len) && open_registry_log(st);
    free(buf);
    if (ok) {
        st->registry_lines = n;
        st->registry_syncs++;
    } else {
        nsl_log(NSL_LOG_ERROR, "cannot rewrite %s/registry: %s", st->dir, strerror(errno));
    }
    return ok;
}

static bool append_records(nsl_state *st, const char *buf, size_t len, bool sync)
{
    off_t before = lseek(st->registry_fd, 0, SEEK_END);
    bool ok = before >= 0;
    for (size_t done = 0; ok && done < len;) {
        ssize_t w = write(st->registry_fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        done += w > 0 ? (size_t)w : 0;
    }
    ok = ok && (!sync || fdatasync(st->registry_fd) == 0);
    if (!ok && before >= 0) {
        int saved = errno;
        /* No half record may stay for the next batch to follow. */
        if (ftruncate(st->registry_fd, before) != 0)
            nsl_log(NSL_LOG_ERROR, "cannot cut a failed batch off %s/registry: %s", st->dir,
                    strerror(errno));
        errno = saved;
    }
    return ok;
}

bool nsl_state_register(nsl_state *st, const nsl_registered *recs, size_t n)
{
    char *buf = malloc(n * 96 + 1);
    if (!buf)
        return false;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += format_record(buf + len, '+', &recs[i]);
    bool ok = append_records(st, buf, len, true);
    free(buf);
    if (ok) {
        st->registry_lines += n;
        st->registry_syncs++;
        if (st->registry_failing)
            nsl_log(NSL_LOG_INFO, "%s/registry is written again", st->dir);
        st->registry_failing = false;
    } else if (!st->registry_failing) {
        st->registry_failing = true;
        nsl_log(NSL_LOG_ERROR, "cannot write %s/registry: %s; locks are refused to sessions "
                "that hold none until it can be written", st->dir, strerror(errno));
    }
    return ok;
}

void nsl_state_unregister(nsl_state *st, uint32_t session)
{
    char buf[96];
    nsl_registered rec = {.session = session};
    if (append_records(st, buf, format_record(buf, '-', &rec), false))
        st->registry_lines++;
}

/* ---- tokens ------------------------------------------------------------------ */

/* The mark moves a block ahead while half a block is still left, written
 * by a worker thread (server.c), so that grants do not wait for the disk;
 * only a disk slower than half a block of grants makes a send wait here. */
uint64_t nsl_state_tokens_due(const nsl_state *st, uint64_t last_token)
{
    return last_token + TOKEN_BLOCK / 2 > st->token_reserved ? last_token + TOKEN_BLOCK : 0;
}

int nsl_state_write_tokens(nsl_state *st, uint64_t need, uint64_t mark)
{
    int err = 0;
    pthread_mutex_lock(&st->token_lock);
    /* never lower: a raise that waited its turn may find a higher mark */
    if (st->token_on_disk < need) {
        if (write_number(st, "tokens", mark))
            st->token_on_disk = mark;
        else
            err = errno ? errno : EIO;
    }
    pthread_mutex_unlock(&st->token_lock);
    return err;
}

void nsl_state_tokens_written(nsl_state *st, uint64_t mark, int err)
{
    /* A worker's result may come after a later write by the loop: judge it
     * by what the file holds now. */
    pthread_mutex_lock(&st->token_lock);
    uint64_t on_disk = st->token_on_disk;
    pthread_mutex_unlock(&st->token_lock);
    if (err && on_disk >= mark)
        err = 0;                     /* a later write covered it */
    /* Keep serving either way; a failing disk is logged, not retried on every grant. */
    uint64_t reserved = err ? mark : on_disk;
    if (reserved > st->token_reserved)
        st->token_reserved = reserved;
    if (err && !st->token_failing) {
        st->token_failing = true;
        nsl_log(NSL_LOG_ERROR, "cannot save the fencing-token mark in %s: %s; after a crash "
                "tokens may repeat", st->dir, strerror(err));
    } else if (!err && st->token_failing && on_disk >= st->token_reserved) {
        st->token_failing = false;
        nsl_log(NSL_LOG_INFO, "the fencing-token mark in %s is saved again", st->dir);
    }
}

void nsl_state_cover_tokens(nsl_state *st, uint64_t last_token)
{
    if (last_token <= st->token_reserved)
        return;
    uint64_t mark = last_token + TOKEN_BLOCK;
    nsl_state_tokens_written(st, mark, nsl_state_write_tokens(st, last_token, mark));
}

/* The mark of an older server, kept beside its socket (<socket>.tokens). */
static int read_legacy_tokens(const char *path, uint64_t *mark)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || sb.st_uid != geteuid() || (sb.st_mode & 022)) {
        /* beside a socket in /tmp anyone may have planted one */
        nsl_log(NSL_LOG_WARN, "ignoring %s: not this user's own file", path);
        fclose(f);
        return 0;
    }
    unsigned long long v;
    int ok = fscanf(f, "%llu", &v) == 1;
    fclose(f);
    if (!ok)
        return -1;
    *mark = v;
    return 1;
}

/* ---- opening ------------------------------------------------------------------ */

/* mkdir -p, each new level 0700. */
static bool make_dirs(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return false;
    bool ok = true;
    for (char *s = p + 1; ok; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        ok = mkdir(p, 0700) == 0 || errno == EEXIST;
        *s = c;
        if (!c)
            break;
    }
    free(p);
    return ok;
}

static bool check_dir(const char *dir, int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        nsl_log(NSL_LOG_ERROR, "cannot examine the state directory %s: %s", dir, strerror(errno));
        return false;
    }
    if (sb.st_uid != geteuid()) {
        nsl_log(NSL_LOG_ERROR, "the state directory %s belongs to uid %ld, not to this server's "
                "uid %ld", dir, (long)sb.st_uid, (long)geteuid());
        return false;
    }
    if (sb.st_mode & 022) {
        nsl_log(NSL_LOG_ERROR, "the state directory %s can be written by others (mode %03o); "
                "make it 0700", dir, (unsigned)(sb.st_mode & 0777));
        return false;
    }
    return true;
}

static bool exists_in(const nsl_state *st, const char *name)
{
    struct stat sb;
    return fstatat(st->dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

bool nsl_state_open(nsl_state *st, const char *dir, const char *legacy_tokens,
                    uint64_t *first_token, nsl_registered **sessions, size_t *count)
{
    memset(st, 0, sizeof *st);
    st->dir_fd = st->lock_fd = st->registry_fd = -1;
    *sessions = NULL;
    *count = 0;
    st->dir = strdup(dir);
    if (!st->dir)
        return false;
    pthread_mutex_init(&st->token_lock, NULL);   /* destroyed by close, as dir is set */
    struct stat sb;
    bool fresh = stat(dir, &sb) != 0 && errno == ENOENT;
    if (fresh && !make_dirs(dir)) {
        nsl_log(NSL_LOG_ERROR, "cannot create the state directory %s: %s", dir, strerror(errno));
        return false;
    }
    st->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->dir_fd < 0) {
        nsl_log(NSL_LOG_ERROR, "cannot open the state directory %s: %s", dir, strerror(errno));
        return false;
    }
    if (!check_dir(dir, st->dir_fd))
        return false;
    st->lock_fd = openat(st->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (st->lock_fd < 0 || flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            nsl_log(NSL_LOG_ERROR, "another nslock server uses the state directory %s", dir);
        else
            nsl_log(NSL_LOG_ERROR, "cannot lock the state directory %s: %s", dir, strerror(errno));
        return false;
    }

    uint64_t epoch = 0, mark = 0;
    int e = read_number(st, "epoch", &epoch);
    if (e < 0)
        return false;
    if (e == 0 && (exists_in(st, "tokens") || exists_in(st, "registry"))) {
        nsl_log(NSL_LOG_ERROR, "the state directory %s has lost its epoch file; restore it "
                "(the server cannot tell its clients it restarted)", dir);
        return false;
    }
    if (epoch == UINT64_MAX || !write_number(st, "epoch", epoch + 1)) {
        nsl_log(NSL_LOG_ERROR, "cannot write %s/epoch: %s", dir, strerror(errno));
        return false;
    }
    st->epoch = epoch + 1;

    int t = read_number(st, "tokens", &mark);
    if (t < 0)
        return false;
    bool legacy = false;
    if (t == 0 && legacy_tokens) {
        int l = read_legacy_tokens(legacy_tokens, &mark);
        if (l < 0) {
            nsl_log(NSL_LOG_ERROR, "the fencing-token mark %s of an earlier server is "
                    "unreadable; restore it or remove it", legacy_tokens);
            return false;
        }
        legacy = l > 0;
    }
    if (mark > UINT64_MAX - 2 * (uint64_t)TOKEN_BLOCK) {
        nsl_log(NSL_LOG_ERROR, "the fencing-token mark in %s is exhausted", dir);
        return false;
    }
    if (!write_number(st, "tokens", mark + TOKEN_BLOCK)) {
        nsl_log(NSL_LOG_ERROR, "cannot write %s/tokens: %s", dir, strerror(errno));
        return false;
    }
    st->token_reserved = st->token_on_disk = mark + TOKEN_BLOCK;
    *first_token = mark;
    if (legacy) {
        nsl_log(NSL_LOG_INFO, "took over the fencing-token mark %" PRIu64 " from %s", mark,
                legacy_tokens);
        unlink(legacy_tokens);
    }

    if (read_registry(st, sessions, count) < 0)
        return false;
    /* Start from a compact file holding exactly what was read. */
    if (!nsl_state_rewrite_registry(st, *sessions, *count)) {
        free(*sessions);
        *sessions = NULL;
        *count = 0;
        return false;
    }
    st->registry_syncs = 0;
    if (e == 0)
        nsl_log(NSL_LOG_INFO, "state directory %s: first start (epoch 1)", dir);
    return true;
}

void nsl_state_close(nsl_state *st)
{
    if (st->registry_fd >= 0)
        close(st->registry_fd);
    if (st->lock_fd >= 0)
        close(st->lock_fd);
    if (st->dir_fd >= 0)
        close(st->dir_fd);
    if (st->dir)                     /* opened: its lock was made */
        pthread_mutex_destroy(&st->token_lock);
    free(st->dir);
    memset(st, 0, sizeof *st);
    st->dir_fd = st->lock_fd = st->registry_fd = -1;
}
