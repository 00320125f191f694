/* server/show.c — SHOW a piece at a time.
 *
 * A SHOW of a million entries must not stop the loop for a second, nor
 * hold its whole answer in memory while the client does not read. So a
 * SHOW is a job of its session, run SHOW_CHUNK rows per loop turn from an
 * idle handle, other sessions being served between turns:
 *
 *   collect  an engine cursor copies the rows into a compact snapshot, a
 *            chunk per turn; each chunk is sorted as it comes (a run);
 *   emit     once the count is known, `DATA n` and then the rows, merged
 *            from the runs, a chunk per turn, and only while the
 *            session's unsent output is under its mark.
 *
 * What it shows (docs/PROTOCOL.md): every entry held for the whole SHOW
 * once, entries granted or released while it collects may be missing or
 * present; the count is exact for the rows sent.
 *
 * The memory of answers not yet sent — unsent output and snapshots — is
 * bounded for the whole server by server.output_limit_mb: beyond it a
 * session's output stops growing past NSL_OUT_FLOOR, and a SHOW starts
 * collecting only when no other collects and the others leave room.
 */
#define _GNU_SOURCE     /* qsort_r */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"

enum { SHOW_CHUNK = 4096 };     /* rows per loop turn, collected or sent */

/* One row of the snapshot, followed by its mode, key and blockers. */
typedef struct show_rec {
    uint64_t since, token;
    uint32_t owner;
    uint32_t blocker_count;
    uint16_t database, namespace_id, key_len;
    uint8_t waiting, wait_reason, mode_len;
} show_rec;

struct nsl_show {
    nsl_view_cursor *cursor;      /* NULL: waiting for room, or collected */
    bool started, emitting;
    int64_t pid;                  /* < 0: any */
    nsl_view_filter filter;
    char *prefix;
    char *arena;                  /* the records, 8-byte aligned */
    size_t arena_len, arena_cap;
    size_t *recs;                 /* record offsets, run after run */
    size_t count, recs_cap;
    size_t *run_end;              /* run i is recs[run_end[i-1] .. run_end[i]) */
    size_t run_count, run_cap;
    size_t *run_pos;              /* emit: the next record of each run */
    uint32_t *heap;               /* emit: runs by their next record */
    size_t heap_count;
    size_t sent;
    size_t bytes;                 /* counted in srv->show_bytes */
    int64_t wall_offset_ms;       /* loop time to wall-clock time */
    uint32_t rank[NSL_MAX_DATABASES];   /* databases in name order */
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        nsl_log(NSL_LOG_ERROR, "out of memory (%zu bytes)", n);
        abort();
    }
    return q;
}

static void grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    *p = xrealloc(*p, c * size);
    *cap = c;
}

static size_t limit_bytes(const nsl_server *srv)
{
    return (size_t)srv->cfg->output_limit_mb << 20;
}

bool nsl_output_over_limit(const nsl_server *srv)
{
    return srv->unsent_bytes + srv->show_bytes > limit_bytes(srv);
}

static size_t unsent(const nsl_session *s)
{
    return s->out_len + s->inflight;
}

static void account(nsl_show *job, nsl_server *srv)
{
    size_t now = job->arena_cap + job->recs_cap * sizeof *job->recs +
                 job->run_cap * (sizeof *job->run_end + sizeof *job->run_pos + sizeof *job->heap);
    srv->show_bytes += now - job->bytes;
    job->bytes = now;
}

/* ---- rows --------------------------------------------------------------------- */

static const show_rec *rec_at(const nsl_show *job, size_t i)
{
    return (const show_rec *)(job->arena + job->recs[i]);
}

static const char *rec_mode(const show_rec *r)
{
    return (const char *)(r + 1);
}

static const uint8_t *rec_key(const show_rec *r)
{
    return (const uint8_t *)(r + 1) + r->mode_len;
}

static uint32_t rec_blocker(const show_rec *r, size_t i)
{
    uint32_t b;
    memcpy(&b, rec_key(r) + r->key_len + i * sizeof b, sizeof b);
    return b;
}

/* The order of nsl_engine_view: database name, name collation, held
 * before waiting, owner. */
static int rec_cmp(const nsl_show *job, const show_rec *a, const show_rec *b)
{
    if (a->database != b->database)
        return job->rank[a->database] < job->rank[b->database] ? -1 : 1;
    int c = nsl_key_bytes_cmp(rec_key(a), a->key_len, rec_key(b), b->key_len);
    if (c)
        return c;
    if (a->waiting != b->waiting)
        return a->waiting ? 1 : -1;
    if (a->owner != b->owner)
        return a->owner < b->owner ? -1 : 1;
    return 0;
}

static int offset_cmp(const void *pa, const void *pb, void *ctx)
{
    const nsl_show *job = ctx;
    const size_t *a = pa, *b = pb;
    return rec_cmp(job, (const show_rec *)(job->arena + *a), (const show_rec *)(job->arena + *b));
}

static void rec_add(nsl_show *job, const nsl_view_row *row)
{
    size_t mode_len = strnlen(row->mode, sizeof row->mode);
    size_t size = sizeof(show_rec) + mode_len + row->key_len +
                  row->blocker_count * sizeof(uint32_t);
    size = (size + 7) & ~(size_t)7;
    grow((void **)&job->arena, &job->arena_cap, job->arena_len + size, 1);
    grow((void **)&job->recs, &job->recs_cap, job->count + 1, sizeof *job->recs);
    show_rec *r = (show_rec *)(job->arena + job->arena_len);
    *r = (show_rec){
        .since = row->since, .token = row->token, .owner = row->owner,
        .blocker_count = (uint32_t)row->blocker_count, .database = (uint16_t)row->database,
        .namespace_id = (uint16_t)row->namespace_id, .key_len = row->key_len,
        .waiting = row->waiting, .wait_reason = row->wait_reason, .mode_len = (uint8_t)mode_len,
    };
    uint8_t *p = (uint8_t *)(r + 1);
    memcpy(p, row->mode, mode_len);
    memcpy(p + mode_len, row->key, row->key_len);
    for (size_t i = 0; i < row->blocker_count; i++) {
        uint32_t b = row->blockers[i];
        memcpy(p + mode_len + row->key_len + i * sizeof b, &b, sizeof b);
    }
    job->recs[job->count++] = job->arena_len;
    job->arena_len += size;
}

static bool pid_matches(nsl_server *srv, nsl_owner_id owner, int64_t pid)
{
    if (pid < 0)
        return true;
    const nsl_session *o = nsl_session_by_owner(srv, owner);
    return o && o->pid == pid;
}

static void out_field(nsl_session *s, const char *text)
{
    if (!text || !*text)
        nsl_out_char(s, '-');
    else
        nsl_out_clean(s, text, strlen(text));
}

static void out_since(nsl_session *s, uint64_t since, int64_t wall_offset_ms)
{
    int64_t ms = (int64_t)since + wall_offset_ms;
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[40];
    int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(ms % 1000));
    nsl_out_put(s, buf, (size_t)n);
}

static void out_name(nsl_session *s, const uint8_t *key, size_t key_len)
{
    char name[2048], buf[4096];
    nsl_key_format_bytes(key, key_len, name, sizeof name);
    size_t len = strlen(name);
    size_t need = nsl_mtext_escape(name, len, buf, sizeof buf);
    if (need < sizeof buf) {
        nsl_out_put(s, buf, need);
        return;
    }
    char *big = malloc(need + 1);
    if (!big) {
        nsl_out_clean(s, name, len);
        return;
    }
    nsl_mtext_escape(name, len, big, need + 1);
    nsl_out_put(s, big, need);
    free(big);
}

static void out_rec(nsl_session *s, const nsl_show *job, const show_rec *row)
{
    nsl_server *srv = s->srv;
    const nsl_database *db = nsl_registry_database(srv->reg, row->database);
    const nsl_namespace *ns = nsl_registry_namespace(srv->reg, row->namespace_id);
    const nsl_session *owner = nsl_session_by_owner(srv, row->owner);
    out_field(s, db->name);
    nsl_out_char(s, '\t');
    out_field(s, db->directory);
    nsl_out_char(s, '\t');
    nsl_out_u64(s, row->owner);
    nsl_out_char(s, '\t');
    if (owner && owner->pid > 0)
        nsl_out_u64(s, (uint64_t)owner->pid);
    else
        nsl_out_char(s, '-');
    nsl_out_char(s, '\t');
    out_field(s, owner ? owner->client : NULL);
    nsl_out_char(s, '\t');
    if (row->mode_len)
        nsl_out_clean(s, rec_mode(row), row->mode_len);
    else
        nsl_out_char(s, '-');
    nsl_out_char(s, '\t');
    out_name(s, rec_key(row), row->key_len);
    nsl_out_char(s, '\t');
    out_field(s, ns ? ns->name : NULL);
    nsl_out_char(s, '\t');
    out_since(s, row->since, job->wall_offset_ms);
    nsl_out_char(s, '\t');
    if (row->waiting || !row->token)
        nsl_out_char(s, '-');
    else
        nsl_out_u64(s, row->token);
    nsl_out_char(s, '\t');
    if (row->waiting && !row->blocker_count && row->wait_reason == NSL_WAIT_ROOM)
        nsl_out_str(s, "table-full");        /* it waits for room, not for an owner */
    else if (row->waiting && !row->blocker_count && row->wait_reason == NSL_WAIT_RECOVERY)
        nsl_out_str(s, "recovering");        /* it waits for the end of the recovery */
    else if (!row->waiting || !row->blocker_count)
        nsl_out_char(s, '-');
    for (size_t i = 0; row->waiting && i < row->blocker_count; i++) {
        if (i)
            nsl_out_char(s, ',');
        nsl_out_u64(s, rec_blocker(row, i));
    }
    nsl_out_char(s, '\n');
}

/* ---- the merge of the runs: a binary heap of runs by their next record ---- */

static bool run_before(const nsl_show *job, uint32_t a, uint32_t b)
{
    int c = rec_cmp(job, rec_at(job, job->run_pos[a]), rec_at(job, job->run_pos[b]));
    return c < 0 || (c == 0 && a < b);
}

static void sift_down(nsl_show *job, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < job->heap_count && run_before(job, job->heap[l], job->heap[m]))
            m = l;
        if (r < job->heap_count && run_before(job, job->heap[r], job->heap[m]))
            m = r;
        if (m == i)
            return;
        uint32_t t = job->heap[i];
        job->heap[i] = job->heap[m];
        job->heap[m] = t;
        i = m;
    }
}

/* The next record in order, or NULL. */
static const show_rec *merge_next(nsl_show *job)
{
    if (!job->heap_count)
        return NULL;
    uint32_t run = job->heap[0];
    const show_rec *r = rec_at(job, job->run_pos[run]++);
    if (job->run_pos[run] == job->run_end[run])
        job->heap[0] = job->heap[--job->heap_count];
    sift_down(job, 0);
    return r;
}

/* ---- the job ---------------------------------------------------------------------- */

static void end_run(nsl_show *job)
{
    size_t begin = job->run_count ? job->run_end[job->run_count - 1] : 0;
    if (begin == job->count)
        return;
    qsort_r(job->recs + begin, job->count - begin, sizeof *job->recs, offset_cmp, job);
    grow((void **)&job->run_end, &job->run_cap, job->run_count + 1, sizeof *job->run_end);
    job->run_end[job->run_count++] = job->count;
}

static void close_cursor(nsl_server *srv, nsl_show *job)
{
    if (!job->cursor)
        return;
    nsl_view_cursor_close(srv->engine, job->cursor);
    job->cursor = NULL;
    srv->show_collecting--;
}

static void start_emitting(nsl_session *s, nsl_show *job)
{
    nsl_server *srv = s->srv;
    close_cursor(srv, job);
    job->emitting = true;
    job->run_pos = xrealloc(NULL, (job->run_count ? job->run_count : 1) * sizeof *job->run_pos);
    job->heap = xrealloc(NULL, (job->run_count ? job->run_count : 1) * sizeof *job->heap);
    for (size_t i = 0; i < job->run_count; i++) {
        job->run_pos[i] = i ? job->run_end[i - 1] : 0;
        job->heap[i] = (uint32_t)i;
    }
    job->heap_count = job->run_count;
    for (size_t i = job->heap_count / 2; i-- > 0;)
        sift_down(job, i);
    account(job, srv);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    job->wall_offset_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 -
                          (int64_t)nsl_server_now(srv);
    nsl_out_str(s, "DATA ");
    nsl_out_u64(s, job->count);
    if (nsl_recovery_active(srv)) {
        nsl_out_str(s, " recovering ");
        nsl_out_u64(s, nsl_recovery_awaited(srv));
    }
    nsl_out_char(s, '\n');
}

static void job_free(nsl_server *srv, nsl_show *job)
{
    close_cursor(srv, job);
    srv->show_bytes -= job->bytes;
    free(job->prefix);
    free(job->arena);
    free(job->recs);
    free(job->run_end);
    free(job->run_pos);
    free(job->heap);
    free(job);
}

void nsl_show_free(nsl_session *s)
{
    if (!s->show)
        return;
    nsl_server *srv = s->srv;
    job_free(srv, s->show);
    s->show = NULL;
    srv->show_jobs--;
    nsl_show_wake(srv);                 /* room for the SHOWs that wait for it */
}

/* The answer is complete: the requests behind it may go. */
static void finish(nsl_session *s)
{
    nsl_show_free(s);
    nsl_session_answered(s, s->out_len);
    nsl_session_make_ready(s);
}

/* Collects up to SHOW_CHUNK rows; true when all are in. */
static bool collect(nsl_session *s, nsl_show *job, size_t max)
{
    nsl_server *srv = s->srv;
    nsl_view_row row;
    size_t n = 0;
    bool more = true;
    while (n < max && (more = nsl_view_cursor_next(srv->engine, job->cursor, &row))) {
        if (!pid_matches(srv, row.owner, job->pid))
            continue;
        rec_add(job, &row);
        n++;
    }
    end_run(job);
    account(job, srv);
    return !more;
}

/* Sends rows until the output reaches mark; true when all are sent. */
static bool emit(nsl_session *s, nsl_show *job, size_t max, size_t mark)
{
    for (size_t n = 0; n < max && unsent(s) < mark; n++) {
        const show_rec *r = merge_next(job);
        if (!r)
            return true;
        out_rec(s, job, r);
        job->sent++;
    }
    return job->sent == job->count;
}

/* One SHOW collects at a time (its snapshot grows whatever its client
 * does), and only while the answers not yet sent leave room, or none is
 * held at all. */
static bool may_start(const nsl_server *srv)
{
    return !srv->show_collecting && (!srv->show_bytes || !nsl_output_over_limit(srv));
}

static bool open_cursor(nsl_session *s, nsl_show *job)
{
    job->cursor = nsl_view_cursor_open(s->srv->engine, &job->filter);
    job->started = true;
    s->srv->show_collecting += job->cursor != NULL;
    return job->cursor != NULL;
}

/* One turn of s's job; true if it did something. */
static bool step(nsl_session *s)
{
    nsl_server *srv = s->srv;
    nsl_show *job = s->show;
    if (!job->started) {
        if (!may_start(srv))
            return false;
        if (!open_cursor(s, job)) {
            nsl_out_err(s, NSL_NOMEM, "cannot walk the lock table");
            finish(s);
            return true;
        }
    }
    if (!job->emitting) {
        if (!collect(s, job, SHOW_CHUNK))
            return true;
        start_emitting(s, job);
    }
    size_t mark = nsl_output_over_limit(srv) ? NSL_OUT_FLOOR : NSL_OUT_HIGH;
    if (unsent(s) >= mark)
        return false;
    if (emit(s, job, SHOW_CHUNK, mark))
        finish(s);
    return true;
}

static void on_show_idle(uv_idle_t *idle)
{
    nsl_server *srv = idle->data;
    bool progress = false;
    for (nsl_session *s = srv->sessions, *next; s && srv->show_jobs; s = next) {
        next = s->next;
        if (s->show && !s->ended && !s->handle_closing)
            progress |= step(s);
    }
    /* Nothing could move: the jobs wait for output to drain (nsl_show_wake). */
    if (!progress)
        uv_idle_stop(idle);
    nsl_server_settle(srv);
}

void nsl_show_wake(nsl_server *srv)
{
    if (srv->show_jobs && !srv->stopping && srv->show_idle_ready)
        uv_idle_start(&srv->show_idle, on_show_idle);
}

void nsl_show_start(nsl_session *s, const nsl_view_filter *filter, int64_t pid)
{
    nsl_server *srv = s->srv;
    nsl_show *job = calloc(1, sizeof *job);
    if (!job) {
        nsl_out_err(s, NSL_NOMEM, "cannot show the lock table");
        return;
    }
    job->filter = *filter;
    job->pid = pid;
    if (filter->name_prefix && !(job->prefix = strdup(filter->name_prefix))) {
        free(job);
        nsl_out_err(s, NSL_NOMEM, "cannot show the lock table");
        return;
    }
    job->filter.name_prefix = job->prefix;
    const nsl_registry *reg = srv->reg;
    uint32_t n = (uint32_t)nsl_registry_database_count(reg);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t rank = 0;
        const char *name = nsl_registry_database(reg, i)->name;
        for (uint32_t j = 0; j < n; j++)
            rank += strcmp(nsl_registry_database(reg, j)->name, name) < 0;
        job->rank[i] = rank;
    }
    s->show = job;
    srv->show_jobs++;
    if (!srv->show_idle_ready) {
        uv_idle_init(&srv->loop, &srv->show_idle);
        srv->show_idle.data = srv;
        srv->show_idle_ready = true;
    }
    /* The first piece now: a small table is answered at once. */
    step(s);
    nsl_show_wake(srv);
}

/* The server stops: a SHOW not yet begun is refused, one being sent is
 * finished (the client is owed its rows). */
void nsl_show_stop(nsl_session *s)
{
    nsl_show *job = s->show;
    if (!job)
        return;
    if (!job->emitting) {
        nsl_show_free(s);
        nsl_out_err(s, NSL_SHUTDOWN, "server stopping");
        nsl_session_answered(s, s->out_len);
        return;
    }
    while (!emit(s, job, SIZE_MAX, SIZE_MAX))
        ;
    finish(s);
}
