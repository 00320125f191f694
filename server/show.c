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
 *            from the runs, a chunk per turn, and only while the sink's
 *            unread bytes are under its mark.
 *
 * The rows are written as TSV fields or as one JSON document (the only
 * JSON serializer of the table: `nslock show -J` and the HTTP server's
 * /api/locks both get it) into a sink: the session's output, or the job's
 * own buffer that nsl_show_read() empties (server_internal.h).
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
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
    nsl_server *srv;
    nsl_show *prev, *next;        /* srv->show_list while producing */
    bool listed;
    nsl_session *session;         /* the sink: this session's output; NULL: pending */
    nsl_view_cursor *cursor;      /* NULL: waiting for room, or collected */
    bool started, emitting, done;
    nsl_show_query q;
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
    char *line;                   /* the row being written */
    size_t line_len, line_cap;
    char *pending;                /* pulled sink: written, not yet read */
    size_t pending_off, pending_len, pending_cap;
    void (*ready)(void *arg);
    void *ready_arg;
    size_t bytes;                 /* counted in srv->show_bytes */
    uint64_t now_ms;              /* loop time the answer is dated (AGE) */
    uint32_t rank[NSL_MAX_DATABASES];   /* databases in name order */
};

static const char *const column_names[NSL_SHOW_NCOLUMNS] = {
    [NSL_SHOW_DATABASE] = "database", [NSL_SHOW_DIRECTORY] = "directory",
    [NSL_SHOW_OWNER] = "owner",       [NSL_SHOW_PID] = "pid",
    [NSL_SHOW_CLIENT] = "client",     [NSL_SHOW_MODE] = "mode",
    [NSL_SHOW_NAME] = "name",         [NSL_SHOW_NAMESPACE] = "namespace",
    [NSL_SHOW_SINCE] = "since",       [NSL_SHOW_AGE] = "age",
    [NSL_SHOW_TOKEN] = "token",       [NSL_SHOW_BLOCKERS] = "blockers",
};

int nsl_show_column_find(const char *name, size_t len)
{
    for (int i = 0; i < NSL_SHOW_NCOLUMNS; i++)
        if (strlen(column_names[i]) == len && !strncasecmp(column_names[i], name, len))
            return i;
    return -1;
}

void nsl_show_query_init(nsl_show_query *q)
{
    memset(q, 0, sizeof *q);
    nsl_view_filter_init(&q->filter);
    q->pid = -1;
    q->sort = -1;
    q->format = NSL_SHOW_TSV;
}

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

/* What the job's sink holds and its reader has not taken. */
static size_t unsent(const nsl_show *job)
{
    if (job->session)
        return job->session->out_len + job->session->inflight;
    return job->pending_len - job->pending_off;
}

static void account(nsl_show *job)
{
    size_t now = job->arena_cap + job->recs_cap * sizeof *job->recs +
                 job->run_cap * (sizeof *job->run_end + sizeof *job->run_pos + sizeof *job->heap) +
                 job->line_cap + job->pending_cap;
    job->srv->show_bytes += now - job->bytes;
    job->bytes = now;
}

/* ---- writing: a line is built in job->line, then goes to the sink ---------- */

static void put(nsl_show *job, const char *p, size_t n)
{
    grow((void **)&job->line, &job->line_cap, job->line_len + n, 1);
    memcpy(job->line + job->line_len, p, n);
    job->line_len += n;
}

static void put_c(nsl_show *job, char c)
{
    put(job, &c, 1);
}

static void put_str(nsl_show *job, const char *str)
{
    put(job, str, strlen(str));
}

static void put_u64(nsl_show *job, uint64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRIu64, v);
    put(job, buf, (size_t)n);
}

/* A TSV field: control bytes become spaces, as nsl_out_clean does. */
static void put_field(nsl_show *job, const char *text, size_t len)
{
    if (!text || !len) {
        put_c(job, '-');
        return;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        put_c(job, c < 0x20 || c == 0x7F ? ' ' : (char)c);
    }
}

/* A JSON string, or null for none. Whatever the text, the output is valid
 * UTF-8: a byte that starts no UTF-8 character becomes '?' (as in a client
 * name); names reach here already $C()-escaped. */
static void put_json_str(nsl_show *job, const char *text, size_t len)
{
    if (!text) {
        put_str(job, "null");
        return;
    }
    put_c(job, '"');
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        size_t n = nsl_utf8_char_len(text + i, len - i);
        if (c == '"' || c == '\\') {
            put_c(job, '\\');
            put_c(job, (char)c);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put_str(job, esc);
        } else if (!n) {
            put_c(job, '?');
        } else {
            put(job, text + i, n);
            i += n;
            continue;
        }
        i++;
    }
    put_c(job, '"');
}

/* The line is complete: into the sink. */
static void flush_line(nsl_show *job)
{
    if (job->session) {
        nsl_out_put(job->session, job->line, job->line_len);
    } else {
        if (job->pending_off == job->pending_len)
            job->pending_off = job->pending_len = 0;
        grow((void **)&job->pending, &job->pending_cap, job->pending_len + job->line_len, 1);
        memcpy(job->pending + job->pending_len, job->line, job->line_len);
        job->pending_len += job->line_len;
    }
    job->line_len = 0;
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

static const nsl_session *rec_session(const nsl_show *job, const show_rec *r)
{
    return nsl_session_by_owner(job->srv, r->owner);
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

static int cmp_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

/* By the --sort column; 0 leaves the order to rec_cmp. */
static int sort_cmp(const nsl_show *job, const show_rec *a, const show_rec *b)
{
    const nsl_registry *reg = job->srv->reg;
    switch (job->q.sort) {
    case NSL_SHOW_DATABASE:
        return 0;                   /* the table's own first key */
    case NSL_SHOW_DIRECTORY:
        return cmp_text(nsl_registry_database(reg, a->database)->directory,
                        nsl_registry_database(reg, b->database)->directory);
    case NSL_SHOW_OWNER:
        return cmp_u64(a->owner, b->owner);
    case NSL_SHOW_PID: {
        const nsl_session *sa = rec_session(job, a), *sb = rec_session(job, b);
        return cmp_u64(sa && sa->pid > 0 ? (uint64_t)sa->pid : 0,
                       sb && sb->pid > 0 ? (uint64_t)sb->pid : 0);
    }
    case NSL_SHOW_CLIENT: {
        const nsl_session *sa = rec_session(job, a), *sb = rec_session(job, b);
        return cmp_text(sa ? sa->client : NULL, sb ? sb->client : NULL);
    }
    case NSL_SHOW_MODE: {
        int c = memcmp(rec_mode(a), rec_mode(b), a->mode_len < b->mode_len ? a->mode_len : b->mode_len);
        return c ? c : cmp_u64(a->mode_len, b->mode_len);
    }
    case NSL_SHOW_NAME:
        return nsl_key_bytes_cmp(rec_key(a), a->key_len, rec_key(b), b->key_len);
    case NSL_SHOW_NAMESPACE: {
        const nsl_namespace *na = nsl_registry_namespace(reg, a->namespace_id);
        const nsl_namespace *nb = nsl_registry_namespace(reg, b->namespace_id);
        return cmp_text(na ? na->name : NULL, nb ? nb->name : NULL);
    }
    case NSL_SHOW_SINCE:
    case NSL_SHOW_AGE:              /* AGE descending: the oldest first */
        return cmp_u64(a->since, b->since);
    case NSL_SHOW_TOKEN:            /* waiting rows (no token) last */
        return cmp_u64(a->token ? a->token : UINT64_MAX, b->token ? b->token : UINT64_MAX);
    case NSL_SHOW_BLOCKERS:
        for (size_t i = 0; i < a->blocker_count && i < b->blocker_count; i++) {
            int c = cmp_u64(rec_blocker(a, i), rec_blocker(b, i));
            if (c)
                return c;
        }
        return cmp_u64(a->blocker_count, b->blocker_count);
    default:
        return 0;
    }
}

/* The --sort column if any, then the order of nsl_engine_view: database
 * name, name collation, held before waiting, owner. */
static int rec_cmp(const nsl_show *job, const show_rec *a, const show_rec *b)
{
    int c = job->q.sort >= 0 ? sort_cmp(job, a, b) : 0;
    if (c)
        return c;
    if (a->database != b->database)
        return job->rank[a->database] < job->rank[b->database] ? -1 : 1;
    c = nsl_key_bytes_cmp(rec_key(a), a->key_len, rec_key(b), b->key_len);
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

static bool row_matches(const nsl_show *job, const nsl_view_row *row)
{
    if (job->q.waiters_only && !row->waiting)
        return false;
    if (job->q.pid < 0)
        return true;
    const nsl_session *o = nsl_session_by_owner(job->srv, row->owner);
    return o && o->pid == job->q.pid;
}

/* SINCE in wall-clock time. The offset from loop time is measured once per
 * server, so that an entry shows the same SINCE in every answer. */
static int64_t wall_ms(nsl_server *srv, uint64_t since)
{
    if (!srv->show_wall_offset_known) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        srv->show_wall_offset_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 -
                                   (int64_t)nsl_server_now(srv);
        srv->show_wall_offset_known = true;
    }
    return (int64_t)since + srv->show_wall_offset_ms;
}

static size_t format_since(nsl_server *srv, uint64_t since, char *buf, size_t cap)
{
    int64_t ms = wall_ms(srv, since);
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(ms % 1000));
    return (size_t)n;
}

/* The name as the table shows it: canonical, odd bytes written $C(n). */
static void put_name(nsl_show *job, const show_rec *row, bool json)
{
    char name[2048], buf[4096];
    nsl_key_format_bytes(rec_key(row), row->key_len, name, sizeof name);
    size_t len = strlen(name);
    size_t need = nsl_mtext_escape(name, len, buf, sizeof buf);
    char *text = need < sizeof buf ? buf : malloc(need + 1);
    if (text == buf || (text && (nsl_mtext_escape(name, len, text, need + 1), true))) {
        if (json)
            put_json_str(job, text, need);
        else
            put(job, text, need);
    } else if (json) {
        put_json_str(job, "?", 1);      /* out of memory: the row still parses */
    } else {
        put_field(job, name, len);
    }
    if (text != buf)
        free(text);
}

/* Why a waiting row with no owner in its way waits; NULL when none says. */
static const char *wait_reason(const show_rec *row)
{
    if (!row->waiting || row->blocker_count)
        return NULL;
    if (row->wait_reason == NSL_WAIT_ROOM)
        return "table-full";
    if (row->wait_reason == NSL_WAIT_RECOVERY)
        return "recovering";
    return NULL;
}

/* A waiting row's blocking owners, sep between them. */
static void put_blockers(nsl_show *job, const show_rec *row, const char *sep)
{
    for (size_t i = 0; row->waiting && i < row->blocker_count; i++) {
        if (i)
            put_str(job, sep);
        put_u64(job, rec_blocker(row, i));
    }
}

static void put_tsv_rec(nsl_show *job, const show_rec *row)
{
    nsl_server *srv = job->srv;
    const nsl_database *db = nsl_registry_database(srv->reg, row->database);
    const nsl_namespace *ns = nsl_registry_namespace(srv->reg, row->namespace_id);
    const nsl_session *owner = rec_session(job, row);
    char since[40];
    put_field(job, db->name, db->name ? strlen(db->name) : 0);
    put_c(job, '\t');
    put_field(job, db->directory, db->directory ? strlen(db->directory) : 0);
    put_c(job, '\t');
    put_u64(job, row->owner);
    put_c(job, '\t');
    if (owner && owner->pid > 0)
        put_u64(job, (uint64_t)owner->pid);
    else
        put_c(job, '-');
    put_c(job, '\t');
    put_field(job, owner ? owner->client : NULL, owner ? strlen(owner->client) : 0);
    put_c(job, '\t');
    put_field(job, rec_mode(row), row->mode_len);
    put_c(job, '\t');
    put_name(job, row, false);
    put_c(job, '\t');
    put_field(job, ns ? ns->name : NULL, ns && ns->name ? strlen(ns->name) : 0);
    put_c(job, '\t');
    put(job, since, format_since(srv, row->since, since, sizeof since));
    put_c(job, '\t');
    if (row->waiting || !row->token)
        put_c(job, '-');
    else
        put_u64(job, row->token);
    put_c(job, '\t');
    const char *why = wait_reason(row);
    if (why)
        put_str(job, why);
    else if (!row->waiting || !row->blocker_count)
        put_c(job, '-');
    put_blockers(job, row, ",");
    put_c(job, '\n');
}

static void put_json_text(nsl_show *job, const char *text)
{
    put_json_str(job, text && *text ? text : NULL, text ? strlen(text) : 0);
}

static void put_json_value(nsl_show *job, const show_rec *row, int col)
{
    nsl_server *srv = job->srv;
    const nsl_session *owner;
    char since[40];
    switch (col) {
    case NSL_SHOW_DATABASE:
        put_json_text(job, nsl_registry_database(srv->reg, row->database)->name);
        break;
    case NSL_SHOW_DIRECTORY:
        put_json_text(job, nsl_registry_database(srv->reg, row->database)->directory);
        break;
    case NSL_SHOW_OWNER:
        put_u64(job, row->owner);
        break;
    case NSL_SHOW_PID:
        owner = rec_session(job, row);
        if (owner && owner->pid > 0)
            put_u64(job, (uint64_t)owner->pid);
        else
            put_str(job, "null");
        break;
    case NSL_SHOW_CLIENT:
        owner = rec_session(job, row);
        put_json_text(job, owner ? owner->client : NULL);
        break;
    case NSL_SHOW_MODE:
        put_json_str(job, rec_mode(row), row->mode_len);
        break;
    case NSL_SHOW_NAME:
        put_name(job, row, true);
        break;
    case NSL_SHOW_NAMESPACE: {
        const nsl_namespace *ns = nsl_registry_namespace(srv->reg, row->namespace_id);
        put_json_text(job, ns ? ns->name : NULL);
        break;
    }
    case NSL_SHOW_SINCE:
        put_json_str(job, since, format_since(srv, row->since, since, sizeof since));
        break;
    case NSL_SHOW_AGE:
        put_u64(job, job->now_ms > row->since ? (job->now_ms - row->since) / 1000 : 0);
        break;
    case NSL_SHOW_TOKEN:
        if (row->waiting || !row->token)
            put_str(job, "null");
        else
            put_u64(job, row->token);
        break;
    case NSL_SHOW_BLOCKERS: {
        /* owners as numbers; why a waiter waits in a field of its own */
        put_c(job, '[');
        put_blockers(job, row, ", ");
        put_str(job, "], \"waits_for\": ");
        const char *why = wait_reason(row);
        if (!row->waiting)
            put_str(job, "null");
        else
            put_json_text(job, why ? why : "owners");
        break;
    }
    }
}

static void put_json_rec(nsl_show *job, const show_rec *row, bool last)
{
    put_str(job, "      {");
    for (size_t k = 0; k < job->q.ncolumns; k++) {
        int col = job->q.columns[k];
        if (k)
            put_str(job, ", ");
        put_c(job, '"');
        put_str(job, column_names[col]);
        put_str(job, "\": ");
        put_json_value(job, row, col);
    }
    put_str(job, last ? "}\n" : "},\n");
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

static void close_cursor(nsl_show *job)
{
    if (!job->cursor)
        return;
    nsl_view_cursor_close(job->srv->engine, job->cursor);
    job->cursor = NULL;
    job->srv->show_collecting--;
}

/* The JSON document's lines around the rows (docs/PROTOCOL.md). */
enum { JSON_FRAME_LINES = 4 };

static void start_emitting(nsl_show *job)
{
    nsl_server *srv = job->srv;
    close_cursor(job);
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
    job->now_ms = nsl_server_now(srv);
    bool json = job->q.format == NSL_SHOW_JSON;
    if (job->session) {
        put_str(job, "DATA ");
        put_u64(job, job->count + (json ? JSON_FRAME_LINES : 0));
        if (nsl_recovery_active(srv)) {
            put_str(job, " recovering ");
            put_u64(job, nsl_recovery_awaited(srv));
        }
        put_c(job, '\n');
    }
    if (json)
        put_str(job, "{\n   \"locks\": [\n");
    flush_line(job);
    account(job);
}

static void unlist(nsl_show *job)
{
    if (!job->listed)
        return;
    nsl_server *srv = job->srv;
    if (job->prev)
        job->prev->next = job->next;
    else
        srv->show_list = job->next;
    if (job->next)
        job->next->prev = job->prev;
    job->listed = false;
    srv->show_jobs--;
}

/* The snapshot is no longer needed: the answer is written. */
static void free_snapshot(nsl_show *job)
{
    close_cursor(job);
    free(job->arena);
    free(job->recs);
    free(job->run_end);
    free(job->run_pos);
    free(job->heap);
    job->arena = NULL;
    job->recs = job->run_end = job->run_pos = NULL;
    job->heap = NULL;
    job->arena_cap = job->recs_cap = job->run_cap = 0;
}

static void job_free(nsl_show *job)
{
    nsl_server *srv = job->srv;
    unlist(job);
    free_snapshot(job);
    free(job->line);
    free(job->pending);
    job->line_cap = job->pending_cap = 0;
    account(job);
    free(job->prefix);
    free(job);
    nsl_show_wake(srv);                 /* room for the SHOWs that wait for it */
}

void nsl_show_free(nsl_session *s)
{
    if (!s->show)
        return;
    nsl_show *job = s->show;
    s->show = NULL;
    job_free(job);
}

static void notify(nsl_show *job)
{
    if (job->ready)
        job->ready(job->ready_arg);
}

/* The answer is complete: a session's requests behind it may go; a pulled
 * job keeps only the bytes not yet read. */
static void finish(nsl_show *job)
{
    nsl_session *s = job->session;
    if (s) {
        nsl_show_free(s);
        nsl_session_answered(s, s->out_len);
        nsl_session_make_ready(s);
        return;
    }
    job->done = true;
    unlist(job);
    free_snapshot(job);
    account(job);
    nsl_show_wake(job->srv);
    notify(job);
}

/* Collects up to max rows; true when all are in. */
static bool collect(nsl_show *job, size_t max)
{
    nsl_server *srv = job->srv;
    nsl_view_row row;
    size_t n = 0;
    bool more = true;
    while (n < max && (more = nsl_view_cursor_next(srv->engine, job->cursor, &row))) {
        if (!row_matches(job, &row))
            continue;
        rec_add(job, &row);
        n++;
    }
    end_run(job);
    account(job);
    return !more;
}

/* Writes rows until the sink holds mark bytes; true when all are written
 * (the JSON document closed too). */
static bool emit(nsl_show *job, size_t max, size_t mark)
{
    bool json = job->q.format == NSL_SHOW_JSON;
    for (size_t n = 0; n < max && unsent(job) < mark; n++) {
        const show_rec *r = merge_next(job);
        if (!r)
            break;
        job->sent++;
        if (json)
            put_json_rec(job, r, job->sent == job->count);
        else
            put_tsv_rec(job, r);
        flush_line(job);
    }
    if (job->sent < job->count)
        return false;
    if (json) {
        put_str(job, "   ]\n}\n");
        flush_line(job);
    }
    return true;
}

/* One SHOW collects at a time (its snapshot grows whatever its client
 * does), and only while the answers not yet sent leave room, or none is
 * held at all. */
static bool may_start(const nsl_server *srv)
{
    return !srv->show_collecting && (!srv->show_bytes || !nsl_output_over_limit(srv));
}

static bool open_cursor(nsl_show *job)
{
    job->cursor = nsl_view_cursor_open(job->srv->engine, &job->q.filter);
    job->started = true;
    job->srv->show_collecting += job->cursor != NULL;
    return job->cursor != NULL;
}

/* One turn of the job; true if it did something. */
static bool step(nsl_show *job)
{
    nsl_server *srv = job->srv;
    if (!job->started) {
        if (!may_start(srv))
            return false;
        if (!open_cursor(job)) {
            if (job->session)
                nsl_out_err(job->session, NSL_NOMEM, "cannot walk the lock table");
            finish(job);
            return true;
        }
    }
    if (!job->emitting) {
        if (!collect(job, SHOW_CHUNK))
            return true;
        start_emitting(job);
    }
    size_t mark = nsl_output_over_limit(srv) ? NSL_OUT_FLOOR : NSL_OUT_HIGH;
    if (unsent(job) >= mark)
        return false;
    bool done = emit(job, SHOW_CHUNK, mark);
    account(job);
    if (done)
        finish(job);
    else if (!job->session)
        notify(job);
    return true;
}

static void on_show_idle(uv_idle_t *idle)
{
    nsl_server *srv = idle->data;
    bool progress = false;
    /* a job that finishes unlists itself; a SHOW served meanwhile joins at the head */
    for (nsl_show *job = srv->show_list, *next; job; job = next) {
        next = job->next;
        nsl_session *s = job->session;
        if (!s || (!s->ended && !s->handle_closing))
            progress |= step(job);
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

static nsl_show *job_new(nsl_server *srv, const nsl_show_query *q)
{
    nsl_show *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->srv = srv;
    job->q = *q;
    if (!job->q.ncolumns) {
        for (int i = 0; i < NSL_SHOW_NCOLUMNS; i++)
            job->q.columns[i] = (uint8_t)i;
        job->q.ncolumns = NSL_SHOW_NCOLUMNS;
    }
    if (q->filter.name_prefix && !(job->prefix = strdup(q->filter.name_prefix))) {
        free(job);
        return NULL;
    }
    job->q.filter.name_prefix = job->prefix;
    const nsl_registry *reg = srv->reg;
    uint32_t n = (uint32_t)nsl_registry_database_count(reg);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t rank = 0;
        const char *name = nsl_registry_database(reg, i)->name;
        for (uint32_t j = 0; j < n; j++)
            rank += strcmp(nsl_registry_database(reg, j)->name, name) < 0;
        job->rank[i] = rank;
    }
    job->next = srv->show_list;
    if (job->next)
        job->next->prev = job;
    srv->show_list = job;
    job->listed = true;
    srv->show_jobs++;
    if (!srv->show_idle_ready) {
        uv_idle_init(&srv->loop, &srv->show_idle);
        srv->show_idle.data = srv;
        srv->show_idle_ready = true;
    }
    return job;
}

void nsl_show_start(nsl_session *s, const nsl_show_query *q)
{
    nsl_show *job = job_new(s->srv, q);
    if (!job) {
        nsl_out_err(s, NSL_NOMEM, "cannot show the lock table");
        return;
    }
    job->session = s;
    s->show = job;
    /* The first piece now: a small table is answered at once. */
    step(job);
    nsl_show_wake(s->srv);
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
    while (!emit(job, SIZE_MAX, SIZE_MAX))
        ;
    finish(job);
}

/* ---- the pull side ---------------------------------------------------------------- */

nsl_show *nsl_show_open(nsl_server *srv, const nsl_show_query *q)
{
    nsl_show *job = job_new(srv, q);
    if (job) {
        step(job);
        nsl_show_wake(srv);
    }
    return job;
}

ssize_t nsl_show_read(nsl_show *job, char *buf, size_t cap)
{
    size_t avail = job->pending_len - job->pending_off;
    if (!avail) {
        if (job->done)
            return -1;
        nsl_show_wake(job->srv);
        return 0;
    }
    size_t n = avail < cap ? avail : cap;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    memcpy(buf, job->pending + job->pending_off, n);
    job->pending_off += n;
    if (!job->done)
        nsl_show_wake(job->srv);        /* room again below the mark */
    return (ssize_t)n;
}

void nsl_show_on_ready(nsl_show *job, void (*ready)(void *arg), void *arg)
{
    job->ready = ready;
    job->ready_arg = arg;
}

void nsl_show_close(nsl_show *job)
{
    if (job)
        job_free(job);
}
