/* server/session.c — one connection: peer credentials, line framing, the
 * queue of pipelined requests, and batched output.
 *
 * Input is read into one loop-wide buffer. A session that is idle (nothing
 * queued, no LOCK waiting) serves each complete line straight from it;
 * only what cannot be served yet — the requests behind a waiting LOCK and
 * a partial last line — is copied into the session's own buffer. Output is
 * collected per session and sent once per event (uv_try_write, falling back
 * to uv_write for what the socket does not take at once), so a burst of
 * pipelined requests costs one write.
 *
 * Memory per session is bounded: beyond max_pending queued requests the
 * rest are only counted (each answered ERR LIMIT in its turn), and reading
 * pauses while too much input, output or owed answers pile up. Unsent
 * output is bounded for the whole server too (server.output_limit_mb, with
 * show.c's snapshots), and a session that takes none of its output for
 * session_timeout_s is ended.
 */
#define _GNU_SOURCE     /* struct ucred */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "server/server_internal.h"

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        nsl_log(NSL_LOG_ERROR, "out of memory (%zu bytes)", n);
        abort();
    }
    return q;
}

/* ---- output ------------------------------------------------------------------ */

static void mark_dirty(nsl_session *s)
{
    if (s->in_dirty)
        return;
    s->in_dirty = true;
    s->dirty_next = s->srv->dirty_head;
    s->srv->dirty_head = s;
}

static void out_reserve(nsl_session *s, size_t n)
{
    if (s->out_cap - s->out_len >= n)
        return;
    size_t cap = s->out_cap ? s->out_cap : 4096;
    while (cap - s->out_len < n)
        cap *= 2;
    s->out = xrealloc(s->out, cap);
    s->out_cap = cap;
}

void nsl_out_put(nsl_session *s, const char *p, size_t n)
{
    if (s->handle_closing)
        return;
    out_reserve(s, n);
    memcpy(s->out + s->out_len, p, n);
    s->out_len += n;
    s->srv->unsent_bytes += n;
    mark_dirty(s);
}

void nsl_out_str(nsl_session *s, const char *str)
{
    nsl_out_put(s, str, strlen(str));
}

void nsl_out_char(nsl_session *s, char c)
{
    nsl_out_put(s, &c, 1);
}

void nsl_out_u64(nsl_session *s, uint64_t v)
{
    char buf[24];
    char *p = buf + sizeof buf;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    nsl_out_put(s, p, (size_t)(buf + sizeof buf - p));
}

void nsl_out_clean(nsl_session *s, const char *p, size_t n)
{
    if (s->handle_closing)
        return;
    out_reserve(s, n);
    char *o = s->out + s->out_len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        o[i] = c < 0x20 || c == 0x7F ? ' ' : (char)c;
    }
    s->out_len += n;
    s->srv->unsent_bytes += n;
    mark_dirty(s);
}

void nsl_out_err(nsl_session *s, nsl_code code, const char *message)
{
    nsl_out_str(s, "ERR ");
    nsl_out_str(s, nsl_code_name(code));
    nsl_out_char(s, ' ');
    if (!message || !*message)
        message = nsl_code_text(code);
    nsl_out_clean(s, message, strlen(message));
    nsl_out_char(s, '\n');
}

void nsl_out_errf(nsl_session *s, nsl_code code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nsl_out_err(s, code, msg);
}

/* ---- reading: pause and resume ------------------------------------------------- */

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    nsl_session *s = handle->data;
    *buf = uv_buf_init(s->srv->readbuf, sizeof s->srv->readbuf);
}

/* Output collected but not yet taken by the socket. */
static void out_discard(nsl_session *s)
{
    s->srv->unsent_bytes -= s->out_len;
    s->out_len = 0;
}

/* Beyond server.output_limit_mb for the whole server, a session stops at
 * NSL_OUT_FLOOR of unsent output of its own: every session that reads can
 * still go on, none that does not can make the server grow. */
static bool output_full(const nsl_session *s, size_t mark)
{
    size_t unsent = s->out_len + s->inflight;
    return unsent > mark || (unsent > NSL_OUT_FLOOR && nsl_output_over_limit(s->srv));
}

static bool overloaded(const nsl_session *s)
{
    return s->in_len > NSL_IN_HIGH || output_full(s, NSL_OUT_HIGH) ||
           s->q_rejected >= NSL_REJECT_HIGH;
}

/* ---- sessions the loop must look at from time to time -------------------------
 * A session whose reading is paused would not see its client go away: the
 * EOF waits unread behind the data. A TCP session must authenticate within
 * AUTH_DEADLINE_MS, or it holds a session and its buffers for nothing. A
 * TCP session with nothing in progress that has sent nothing for
 * server.session_timeout_s is gone (its client pings when idle), even if
 * no FIN or RST ever came. A timer looks at these sessions twice a second
 * while there are any. */

enum { WATCH_MS = 500, AUTH_DEADLINE_MS = 10000 };

static bool hung_up(nsl_session *s)
{
    uv_os_fd_t fd;
    if (uv_fileno(&s->h.handle, &fd) != 0)
        return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void on_watch_timer(uv_timer_t *t)
{
    nsl_server *srv = t->data;
    bool again = false;
    uint64_t now = uv_now(&srv->loop);
    for (nsl_session *s = srv->sessions, *next; s; s = next) {
        next = s->next;
        if (s->handle_closing)
            continue;
        /* A client that reads none of its answers would hold their memory
         * (and its locks) for ever; an ended session too may still owe some. */
        if (s->writing && s->stalled_since &&
            now - s->stalled_since >= (uint64_t)srv->cfg->session_timeout_s * 1000) {
            nsl_log(NSL_LOG_WARN, "session %u (%s, pid %ld): read none of its %zu bytes of "
                    "answers for %" PRIu64 " ms; ended", s->owner,
                    s->client[0] ? s->client : "-", s->pid, s->out_len + s->inflight,
                    now - s->stalled_since);
            nsl_session_force_close(s);
            continue;
        }
        if (s->writing)
            again = true;
        if (s->ended)
            continue;
        if (s->tcp && s->authenticated) {
            uint64_t silent = now - s->last_input_ms;
            if (!s->waiting && !s->q_count &&
                silent >= (uint64_t)srv->cfg->session_timeout_s * 1000) {
                nsl_log(NSL_LOG_INFO, "session %u (%s): nothing heard for %" PRIu64 " ms over "
                        "TCP; ended", s->owner, s->client[0] ? s->client : "-", silent);
                nsl_session_end(s, false);
                continue;
            }
            again = true;
        }
        if (!s->authenticated && !s->auth_answer_due) {   /* not one whose wrong token waits */
            if (now - s->accepted_ms >= AUTH_DEADLINE_MS) {
                nsl_log(NSL_LOG_INFO, "session %u: no AUTH within %d s; closing", s->owner,
                        AUTH_DEADLINE_MS / 1000);
                nsl_out_err(s, NSL_PROTECT, "authenticate first: AUTH <token>");
                nsl_session_end(s, true);
                continue;
            }
            again = true;
        }
        if (!s->reading) {
            if (hung_up(s)) {
                nsl_log(NSL_LOG_DEBUG, "session %u: the client hung up", s->owner);
                nsl_session_end(s, true);
                continue;
            }
            again = true;
        }
    }
    if (!again)
        uv_timer_stop(t);
    nsl_server_settle(srv);
}

static void watch(nsl_server *srv)
{
    if (!uv_is_active((uv_handle_t *)&srv->watch_timer) && !srv->stopping)
        uv_timer_start(&srv->watch_timer, on_watch_timer, WATCH_MS, WATCH_MS);
}

void nsl_sessions_init_watch_timer(nsl_server *srv)
{
    uv_timer_init(&srv->loop, &srv->watch_timer);
    srv->watch_timer.data = srv;
}

static void read_start(nsl_session *s)
{
    if (s->ring) {
        nsl_ring_read_start(s);
        s->reading = true;
    } else if (uv_read_start(&s->h.stream, alloc_cb, on_read) == 0) {
        s->reading = true;
    }
}

static void read_stop(nsl_session *s)
{
    if (!s->reading)
        return;
    s->reading = false;
    if (s->ring)
        nsl_ring_read_stop(s);
    else
        uv_read_stop(&s->h.stream);
}

static void input(nsl_session *s, const char *data, size_t n);

/* The ring's receive is stopped by a cancel, which takes a turn: what came
 * meanwhile is kept as if still in the socket, and read first on resuming,
 * a buffer at a time while reading stays on. */
static void hold(nsl_session *s, const char *data, size_t n)
{
    if (s->held_cap - s->held_bytes < n) {
        size_t cap = s->held_cap ? s->held_cap : 4096;
        while (cap - s->held_bytes < n)
            cap *= 2;
        s->held = xrealloc(s->held, cap);
        s->held_cap = cap;
    }
    memcpy(s->held + s->held_bytes, data, n);
    s->held_bytes += n;
}

static void update_reading(nsl_session *s);

static void read_held(nsl_session *s)
{
    enum { PIECE = 4096 };
    size_t at = 0;
    while (at < s->held_bytes && s->reading && !s->ended) {
        size_t n = s->held_bytes - at < PIECE ? s->held_bytes - at : PIECE;
        input(s, s->held + at, n);
        at += n;
        update_reading(s);
    }
    s->held_bytes -= at;
    memmove(s->held, s->held + at, s->held_bytes);
    if (!s->held_bytes) {
        free(s->held);
        s->held = NULL;
        s->held_cap = 0;
    }
}

static void update_reading(nsl_session *s)
{
    if (s->ended || s->handle_closing || s->srv->stopping)
        return;
    if (s->reading && overloaded(s)) {
        read_stop(s);
        watch(s->srv);
    } else if (!s->reading && s->in_len <= NSL_IN_HIGH / 2 && !output_full(s, NSL_OUT_HIGH / 4) &&
               s->q_rejected < NSL_REJECT_HIGH / 2) {
        read_start(s);
        if (s->held_bytes)
            read_held(s);
    }
}

/* ---- writing ------------------------------------------------------------------------ */

static void close_handle(nsl_session *s)
{
    if (s->handle_closing)
        return;
    s->handle_closing = true;
    if (s->ring)
        nsl_ring_close(s);           /* closed once the ring is done with it */
    else
        uv_close(&s->h.handle, nsl_session_on_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    close_handle(req->data);
}

/* The output is all sent: close now if that was the plan. uv_shutdown
 * lets TCP deliver the last response before the FIN. */
static void maybe_finish_close(nsl_session *s)
{
    if (!s->close_after_write || s->writing || s->out_len || s->handle_closing)
        return;
    s->close_after_write = false;
    if (s->ring) {                   /* everything sent has completed */
        shutdown(s->fd, SHUT_WR);
        close_handle(s);
        return;
    }
    s->sreq.data = s;
    if (uv_shutdown(&s->sreq, &s->h.stream, on_shutdown) != 0)
        close_handle(s);
}

/* A big response (SHOW of a large table) leaves big buffers behind;
 * an idle session should not keep them. */
static void trim_output(nsl_session *s)
{
    enum { KEEP = 256 * 1024 };
    if (!s->out_len && s->out_cap > KEEP) {
        free(s->out);
        s->out = NULL;
        s->out_cap = 0;
    }
    if (!s->writing && s->wbuf_cap > KEEP) {
        free(s->wbuf);
        s->wbuf = NULL;
        s->wbuf_cap = 0;
    }
}

/* The output in flight has gone (status 0) or cannot go (< 0). */
static void write_done(nsl_session *s, int status)
{
    s->writing = false;
    if (s->handle_closing)
        return;
    s->srv->unsent_bytes -= s->inflight;
    s->inflight = 0;
    s->stalled_since = 0;
    nsl_show_wake(s->srv);
    if (status < 0) {
        nsl_log(NSL_LOG_DEBUG, "session %u: write failed: %s", s->owner,
                s->ring ? strerror(-status) : uv_strerror(status));
        nsl_session_force_close(s);
    } else {
        nsl_session_flush(s);
        trim_output(s);
        nsl_session_make_ready(s);   /* requests held back by the output */
        update_reading(s);
        maybe_finish_close(s);
    }
}

static void on_write(uv_write_t *req, int status)
{
    nsl_session *s = req->data;
    write_done(s, status);
    nsl_server_settle(s->srv);
}

/* A send through the ring completed: result bytes went (a stream socket
 * may take fewer than asked), or -errno. The ring's reap settles. */
void nsl_session_sent(nsl_session *s, int result)
{
    if (result == 0)
        result = -EPIPE;             /* a send of n > 0 bytes that took none */
    if (result > 0 && (size_t)result < s->inflight) {
        s->wbuf_off += (size_t)result;
        s->inflight -= (size_t)result;
        s->srv->unsent_bytes -= (size_t)result;
        s->stalled_since = uv_now(&s->srv->loop);
        nsl_ring_send(s, s->wbuf + s->wbuf_off, s->inflight);
        return;
    }
    write_done(s, result < 0 ? result : 0);
}

/* The output but its first `sent` bytes goes in flight from `wbuf`, which
 * must stay put until the write completes; new answers collect in the
 * other buffer meanwhile. */
static void out_to_wbuf(nsl_session *s, size_t sent)
{
    char *full = s->out;
    size_t full_cap = s->out_cap, rest = s->out_len - sent;
    out_discard(s);
    s->inflight = rest;
    s->srv->unsent_bytes += rest;
    s->out = s->wbuf;
    s->out_cap = s->wbuf_cap;
    s->wbuf = full;
    s->wbuf_cap = full_cap;
    s->wbuf_off = sent;
}

/* Sends the output without waiting: bytes taken, or -errno. A session on
 * the ring sends through it when the turn has many to send (one submit
 * for all of them), else with one send(2), which needs no completion. */
static ssize_t send_now(nsl_session *s)
{
    if (!s->ring) {
        uv_buf_t buf = uv_buf_init(s->out, (unsigned)s->out_len);
        int n = uv_try_write(&s->h.stream, &buf, 1);
        return n == UV_EAGAIN ? 0 : n;
    }
    if (nsl_ring_batching(s->srv))
        return 0;
    ssize_t n = send(s->fd, s->out, s->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n >= 0 ? n : errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
}

void nsl_session_flush(nsl_session *s)
{
    if (s->writing || s->handle_closing || !s->out_len) {
        if (!s->out_len)
            maybe_finish_close(s);
        return;
    }
    if (!nsl_server_cover_tokens(s->srv))
        return;                      /* sent once it may be (ha.c), or never */
    ssize_t n = send_now(s);
    if (n == (ssize_t)s->out_len) {
        out_discard(s);
        nsl_show_wake(s->srv);
        trim_output(s);
        nsl_session_make_ready(s);   /* requests held back by the output */
        update_reading(s);
        maybe_finish_close(s);
        return;
    }
    if (n < 0) {
        nsl_log(NSL_LOG_DEBUG, "session %u: write failed: %s", s->owner,
                s->ring ? strerror((int)-n) : uv_strerror((int)n));
        nsl_session_force_close(s);
        return;
    }
    out_to_wbuf(s, (size_t)n);       /* the rest goes out with uv_write or the ring */
    if (s->ring) {
        nsl_ring_send(s, s->wbuf + s->wbuf_off, s->inflight);
    } else {
        uv_buf_t buf = uv_buf_init(s->wbuf + s->wbuf_off, (unsigned)s->inflight);
        s->wreq.data = s;
        int rc = uv_write(&s->wreq, &s->h.stream, &buf, 1, on_write);
        if (rc != 0) {
            nsl_log(NSL_LOG_DEBUG, "session %u: write failed: %s", s->owner, uv_strerror(rc));
            nsl_session_force_close(s);
            return;
        }
    }
    s->writing = true;
    if (!s->stalled_since)
        s->stalled_since = uv_now(&s->srv->loop);
    watch(s->srv);
    update_reading(s);
}

/* ---- the input buffer and the queue ------------------------------------------------ */

/* Makes room for n more input bytes, moving the live bytes to the front. */
static void in_reserve(nsl_session *s, size_t n)
{
    if (s->in_cap - s->in_len >= n)
        return;
    size_t base = s->partial_off;
    for (size_t i = 0; i < s->q_count; i++) {
        const nsl_item *it = &s->q[s->q_head + i];
        if (it->kind == ITEM_LINE) {
            base = it->off;
            break;
        }
    }
    if (base > 0) {
        memmove(s->in, s->in + base, s->in_len - base);
        s->in_len -= base;
        s->partial_off -= base;
        for (size_t i = 0; i < s->q_count; i++)
            if (s->q[s->q_head + i].kind == ITEM_LINE)
                s->q[s->q_head + i].off -= (uint32_t)base;
    }
    if (s->in_cap - s->in_len >= n)
        return;
    size_t cap = s->in_cap ? s->in_cap : 4096;
    while (cap - s->in_len < n)
        cap *= 2;
    s->in = xrealloc(s->in, cap);
    s->in_cap = cap;
}

static void in_append(nsl_session *s, const char *p, size_t n)
{
    in_reserve(s, n);
    memcpy(s->in + s->in_len, p, n);
    s->in_len += n;
}

static nsl_item *q_push(nsl_session *s)
{
    if (s->q_head + s->q_count == s->q_cap) {
        if (s->q_head) {
            memmove(s->q, s->q + s->q_head, s->q_count * sizeof *s->q);
            s->q_head = 0;
        } else {
            s->q_cap = s->q_cap ? s->q_cap * 2 : 16;
            s->q = xrealloc(s->q, s->q_cap * sizeof *s->q);
        }
    }
    return &s->q[s->q_head + s->q_count++];
}

/* The session serves nothing queued: drop its buffers if they grew big. */
static void in_idle(nsl_session *s)
{
    size_t partial = s->in_len - s->partial_off;
    if (partial)
        memmove(s->in, s->in + s->partial_off, partial);
    s->in_len = partial;
    s->partial_off = 0;
    s->q_head = 0;
    if (!partial && s->in_cap > 2 * NSL_READ_CHUNK) {
        free(s->in);
        s->in = NULL;
        s->in_cap = 0;
    }
    if (s->q_cap > 1024) {
        free(s->q);
        s->q = NULL;
        s->q_cap = 0;
    }
}

/* Output over the mark stops serving, so that one read full of SHOW
 * requests cannot make the output grow without bound; what arrives
 * meanwhile queues (up to max_pending) and is served once it drains. */
static bool output_room(const nsl_session *s)
{
    return !output_full(s, NSL_OUT_HIGH);
}

static bool can_serve_now(const nsl_session *s)
{
    return !s->waiting && !s->show && !s->q_count && !s->ended && !s->srv->stopping &&
           output_room(s);
}

/* One more request answered, its answer at out[from, out_len): the last
 * one is kept, when it is one short line, for a TCP client that resumes
 * without having read it (RESUME, PROTOCOL.md). */
void nsl_session_answered(nsl_session *s, size_t from)
{
    s->answered++;
    if (!s->tcp)
        return;
    size_t n = s->out_len >= from ? s->out_len - from : 0;
    if (n == 0 || n > NSL_RECENT_BYTES || s->out[from + n - 1] != '\n' ||
        memchr(s->out + from, '\n', n - 1)) {
        s->recent_len = s->recent_count = 0;    /* no replay across this one */
        return;
    }
    /* drop the oldest answers until this one fits */
    size_t keep = s->recent_len, start = 0;
    uint8_t count = s->recent_count;
    while (count && (keep + n > NSL_RECENT_BYTES || count >= NSL_RECENT_ANSWERS)) {
        const char *nl = memchr(s->recent + start, '\n', keep);
        size_t line = (size_t)(nl - (s->recent + start)) + 1;
        start += line;
        keep -= line;
        count--;
    }
    memmove(s->recent, s->recent + start, keep);
    memcpy(s->recent + keep, s->out + from, n);
    s->recent_len = (uint16_t)(keep + n);
    s->recent_count = (uint8_t)(count + 1);
}

static void serve_item(nsl_session *s, uint8_t kind, const char *line, size_t len)
{
    size_t from = s->out_len;
    if (kind == ITEM_TOO_LONG) {
        nsl_out_errf(s, NSL_LIMIT, "line too long (over %u bytes)", NSL_LINE_MAX);
        nsl_session_answered(s, from);
        return;
    }
    if (len && line[len - 1] == '\r')
        len--;
    nsl_protocol_handle(s, line, len);
    /* a LOCK that waits and a SHOW are answered later; RESUME set its own counts */
    if (!s->waiting && !s->show && !s->counted)
        nsl_session_answered(s, from);
    s->counted = false;
}

static bool is_cancel(const char *line, size_t len)
{
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\r'))
        len--;
    while (len && *line == ' ') {
        line++;
        len--;
    }
    return len == 6 && strncasecmp(line, "CANCEL", 6) == 0;
}

/* CANCEL acts when it arrives, not in its turn: the LOCK it cancels is the
 * request in front of it. The LOCK is answered now (OK 0); CANCEL itself
 * is answered in order (req_cancel). */
static void cancel_wait(nsl_session *s)
{
    nsl_lock_result r;
    if (s->registering) {
        s->cancel_on_queue = true;   /* the LOCK reaches the engine later */
        return;
    }
    if (nsl_engine_cancel(s->srv->engine, s->owner, nsl_server_now(s->srv), &r)) {
        s->cancels_hit++;
        nsl_protocol_lock_done(s, &r);
    }
}

/* A complete request arrived. `line` points into the read buffer, or at the
 * partial line at the end of s->in when in_partial. */
static void deliver(nsl_session *s, uint8_t kind, const char *line, size_t len, bool in_partial)
{
    if (s->ended)
        return;
    s->received++;
    if (kind == ITEM_LINE && s->waiting && s->authenticated && is_cancel(line, len))
        cancel_wait(s);
    if (can_serve_now(s)) {
        serve_item(s, kind, line, len);
        if (in_partial)
            s->in_len = s->partial_off;
        return;
    }
    /* A session waiting for its registration (a moment, not a lock) keeps
     * everything; reading pauses at NSL_IN_HIGH as always. */
    if (s->q_lines >= s->srv->cfg->max_pending && !s->registering) {
        if (in_partial)
            s->in_len = s->partial_off;
        nsl_item *last = s->q_count ? &s->q[s->q_head + s->q_count - 1] : NULL;
        if (last && last->kind == ITEM_REJECTED)
            last->len++;
        else
            *q_push(s) = (nsl_item){.off = 0, .len = 1, .kind = ITEM_REJECTED};
        s->q_rejected++;
        return;
    }
    uint32_t off = 0;
    if (kind == ITEM_LINE) {
        if (in_partial) {
            off = (uint32_t)s->partial_off;
        } else {
            /* may move the live bytes: offset after; an empty line too
             * needs s->in to point at */
            in_reserve(s, len ? len : 1);
            off = (uint32_t)s->in_len;
            memcpy(s->in + s->in_len, line, len);
            s->in_len += len;
        }
        s->partial_off = s->in_len;
    } else if (in_partial) {
        s->in_len = s->partial_off;
    }
    *q_push(s) = (nsl_item){.off = off, .len = (uint32_t)len, .kind = kind};
    s->q_lines++;
}

static void input(nsl_session *s, const char *data, size_t n)
{
    const char *p = data, *end = data + n;
    while (p < end && !s->ended) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t partial = s->in_len - s->partial_off;
        if (!nl) {
            size_t more = (size_t)(end - p);
            if (s->discarding)
                break;
            if (partial + more > NSL_LINE_MAX) {
                s->discarding = true;
                s->in_len = s->partial_off;
            } else {
                in_append(s, p, more);
            }
            break;
        }
        size_t len = (size_t)(nl - p);
        if (s->discarding) {
            s->discarding = false;
            deliver(s, ITEM_TOO_LONG, NULL, 0, false);
        } else if (partial) {
            if (partial + len > NSL_LINE_MAX) {
                s->in_len = s->partial_off;
                deliver(s, ITEM_TOO_LONG, NULL, 0, false);
            } else {
                in_append(s, p, len);
                deliver(s, ITEM_LINE, s->in + s->partial_off, partial + len, true);
            }
        } else if (len > NSL_LINE_MAX) {
            deliver(s, ITEM_TOO_LONG, NULL, 0, false);
        } else {
            deliver(s, ITEM_LINE, p, len, false);
        }
        p = nl + 1;
    }
}

void nsl_session_drain(nsl_session *s)
{
    while (s->q_count && !s->waiting && !s->show && !s->ended && !s->srv->stopping &&
           output_room(s)) {
        nsl_item it = s->q[s->q_head++];
        s->q_count--;
        if (it.kind == ITEM_REJECTED) {
            for (uint32_t i = 0; i < it.len; i++) {
                size_t from = s->out_len;
                nsl_out_str(s, "ERR LIMIT too many pending requests\n");
                nsl_session_answered(s, from);
            }
            s->q_rejected -= it.len;
            continue;
        }
        s->q_lines--;
        serve_item(s, it.kind, it.kind == ITEM_LINE ? s->in + it.off : NULL, it.len);
    }
    if (!s->q_count)
        in_idle(s);
    update_reading(s);
}

void nsl_session_make_ready(nsl_session *s)
{
    nsl_server *srv = s->srv;
    if (s->in_ready || !s->q_count || s->ended)
        return;
    s->in_ready = true;
    s->ready_next = NULL;
    if (srv->ready_tail)
        srv->ready_tail->ready_next = s;
    else
        srv->ready_head = s;
    srv->ready_tail = s;
}

void nsl_session_refuse_queued(nsl_session *s)
{
    nsl_show_stop(s);
    if (s->registering)
        nsl_recovery_session_end(s);     /* its held LOCK is answered below */
    if (s->waiting) {
        s->waiting = false;
        nsl_out_err(s, NSL_SHUTDOWN, "server stopping");
    }
    while (s->q_count) {
        nsl_item it = s->q[s->q_head++];
        s->q_count--;
        for (uint32_t i = 0; i < (it.kind == ITEM_REJECTED ? it.len : 1); i++)
            nsl_out_err(s, NSL_SHUTDOWN, "server stopping");
    }
    s->q_lines = s->q_rejected = 0;
    in_idle(s);
}

/* ---- reading -------------------------------------------------------------------------- */

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    nsl_session *s = stream->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread != UV_EOF)
            nsl_log(NSL_LOG_DEBUG, "session %u: read failed: %s", s->owner,
                    uv_strerror((int)nread));
        /* After EOF the peer may still read what it is owed (a half close). */
        nsl_session_end(s, nread == UV_EOF);
    } else {
        s->last_input_ms = uv_now(&s->srv->loop);
        input(s, s->srv->readbuf, (size_t)nread);
        update_reading(s);
    }
    nsl_server_settle(s->srv);
}

/* The ring's counterpart of on_read. It settles as on_read does: a reap
 * may bring a pipelining client's buffers by the hundred, and its requests
 * are served between them, not queued all at once past max_pending (in
 * such a reap the sends only go into the ring: they leave in the turn's
 * one submit). */
void nsl_session_received(nsl_session *s, const char *data, int n)
{
    if (s->ended)
        return;                      /* bytes that were on their way: unread */
    if (!s->reading && n > 0) {      /* on its way when reading paused */
        hold(s, data, (size_t)n);
        return;
    }
    if (n <= 0) {
        if (n < 0)
            nsl_log(NSL_LOG_DEBUG, "session %u: read failed: %s", s->owner, strerror(-n));
        nsl_session_end(s, n == 0);
        nsl_server_settle(s->srv);
        return;
    }
    s->last_input_ms = uv_now(&s->srv->loop);
    input(s, data, (size_t)n);
    update_reading(s);
    nsl_server_settle(s->srv);
}

/* ---- lifetime ---------------------------------------------------------------------------- */

nsl_session *nsl_session_by_owner(nsl_server *srv, nsl_owner_id owner)
{
    nsl_session *s;
    HASH_FIND(hh, srv->by_owner, &owner, sizeof owner, s);
    return s;
}

static void peer_credentials(nsl_session *s)
{
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (uv_fileno(&s->h.handle, &fd) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        s->have_uid = true;
        s->uid = cred.uid;
        s->gid = cred.gid;
        s->pid = cred.pid;
    } else {
        nsl_log(NSL_LOG_WARN, "cannot read the peer credentials of a connection: %s",
                strerror(errno));
    }
}

void nsl_session_accept(nsl_server *srv, uv_stream_t *listener, bool tcp)
{
    nsl_session *s = calloc(1, sizeof *s);
    if (!s) {
        nsl_log(NSL_LOG_ERROR, "out of memory accepting a connection");
        return;
    }
    s->srv = srv;
    s->tcp = tcp;
    s->admin = -1;
    int rc = tcp ? uv_tcp_init(&srv->loop, &s->h.tcp) : uv_pipe_init(&srv->loop, &s->h.pipe, 0);
    if (rc == 0) {
        s->h.handle.data = s;
        rc = uv_accept(listener, &s->h.stream);
        if (rc != 0 || !nsl_guard_admit(s)) {
            if (rc != 0)
                nsl_guard_accept_failed(srv, rc);
            s->ended = true;
            close_handle(s);
            return;
        }
    } else {
        nsl_log(NSL_LOG_WARN, "cannot set up a connection: %s", uv_strerror(rc));
        free(s);
        return;
    }
    s->accepted_ms = s->last_input_ms = uv_now(&srv->loop);
    if (tcp) {
        uv_tcp_nodelay(&s->h.tcp, 1);
        uv_tcp_keepalive(&s->h.tcp, 1, 60);   /* notice peers lost to the network */
        watch(srv);                            /* the AUTH deadline, then silence */
    } else {
        peer_credentials(s);
        s->authenticated = true;
    }
    nsl_recovery_new_secret(s);
    s->owner = nsl_engine_owner_new(srv->engine,
                                    nsl_registry_default_namespace(srv->reg)->id);
    HASH_ADD(hh, srv->by_owner, owner, sizeof s->owner, s);
    s->next = srv->sessions;
    if (srv->sessions)
        srv->sessions->prev = s;
    srv->sessions = s;
    srv->session_count++;
    uv_os_fd_t fd;
    if (srv->ring && uv_fileno(&s->h.handle, &fd) == 0)
        nsl_ring_adopt(s, fd);
    read_start(s);
    nsl_log(NSL_LOG_DEBUG, "session %u: connected (%s, pid %ld, uid %ld)", s->owner,
            tcp ? "tcp" : "unix", s->pid, s->have_uid ? (long)s->uid : -1L);
}

/* Logged at its first HELLO, where the client says its name (every
 * libnslock client does): a bare connection stays at debug, so a flood of
 * them cannot flood the log. */
void nsl_session_log_start(nsl_session *s)
{
    if (s->start_logged)
        return;
    s->start_logged = true;
    const char *client = s->client[0] ? s->client : "-";
    long uid = s->have_uid && !s->tcp ? (long)s->uid : -1L;
    nsl_log_fields(NSL_LOG_INFO, (nsl_log_field[]){
                       {"event", "session_start", 0}, {"session", NULL, s->owner},
                       {"client", client, 0}, {"transport", s->tcp ? "tcp" : "unix", 0},
                       {"pid", NULL, s->pid}, {"uid", NULL, uid}}, 6,
                   "session %u started (client %s, %s, pid %ld, uid %ld)", s->owner, client,
                   s->tcp ? "tcp" : "unix", s->pid, uid);
}

void nsl_session_end(nsl_session *s, bool graceful)
{
    if (s->ended)
        return;
    nsl_server *srv = s->srv;
    s->ended = true;
    s->waiting = false;
    nsl_show_free(s);
    read_stop(s);
    if (s->owner) {
        nsl_recovery_session_end(s);
        HASH_DEL(srv->by_owner, s);
        /* Everything it holds or waits for goes now; waiters behind
         * it are served (their answers come through the engine's callback). */
        uint64_t released = nsl_engine_owner_entries(srv->engine, s->owner);
        nsl_engine_owner_end(srv->engine, s->owner, nsl_server_now(srv));
        uint64_t lived_ms = nsl_server_now(srv) - s->accepted_ms;
        const char *client = s->client[0] ? s->client : "-";
        /* a bare connection that held nothing stays at debug, as its start */
        nsl_log_fields(s->start_logged || released ? NSL_LOG_INFO : NSL_LOG_DEBUG,
                       (nsl_log_field[]){
                           {"event", "session_end", 0}, {"session", NULL, s->owner},
                           {"client", client, 0}, {"pid", NULL, s->pid},
                           {"uid", NULL, s->have_uid && !s->tcp ? (int64_t)s->uid : -1},
                           {"released", NULL, (int64_t)released},
                           {"duration_ms", NULL, (int64_t)lived_ms}}, 7,
                       "session %u ended (client %s, pid %ld, uid %ld): released %llu "
                       "entr%s after %.1f s", s->owner, client, s->pid,
                       s->have_uid && !s->tcp ? (long)s->uid : -1L, (unsigned long long)released,
                       released == 1 ? "y" : "ies", (double)lived_ms / 1000);
    }
    if (graceful && (s->out_len || s->writing)) {
        s->close_after_write = true;
        nsl_session_flush(s);
    } else if (graceful) {
        s->close_after_write = true;
        maybe_finish_close(s);
    } else {
        close_handle(s);
    }
}

/* RESUME: s, a fresh TCP connection, becomes old's session (owner, name,
 * secret, counts, a LOCK waiting in the engine); old's connection, silent
 * or dead, is closed without ending the owner. The caller has checked the
 * secret, that s holds nothing and that old has nothing queued. */
void nsl_session_take_over(nsl_session *s, nsl_session *old)
{
    nsl_server *srv = s->srv;
    HASH_DEL(srv->by_owner, s);
    nsl_engine_owner_end(srv->engine, s->owner, nsl_server_now(srv));
    HASH_DEL(srv->by_owner, old);
    s->owner = old->owner;
    HASH_ADD(hh, srv->by_owner, owner, sizeof s->owner, s);
    memcpy(s->client, old->client, sizeof s->client);
    memcpy(s->secret, old->secret, sizeof s->secret);
    s->pid = old->pid;
    s->removed_entries = old->removed_entries;   /* still to be told */
    s->removals = old->removals;
    memcpy(s->removed_by, old->removed_by, sizeof s->removed_by);
    memcpy(s->removed_example, old->removed_example, sizeof s->removed_example);
    s->registered = old->registered;
    s->waiting = old->waiting;
    s->lock_arrived_ns = old->lock_arrived_ns;
    s->cancel_on_queue = old->cancel_on_queue;
    s->cancels_hit = old->cancels_hit;
    s->received = old->received;
    s->answered = old->answered;
    memcpy(s->recent, old->recent, old->recent_len);
    s->recent_len = old->recent_len;
    s->recent_count = old->recent_count;
    s->counted = true;
    if (old->registering) {        /* its first LOCK is in the next registry batch */
        nsl_recovery_take_over(s, old);
        s->registering = true;
        s->held_line = old->held_line;
        s->held_len = old->held_len;
        old->registering = false;
        old->held_line = NULL;
    }
    old->detached = true;
    old->ended = true;
    old->owner = 0;
    old->registered = false;
    old->waiting = false;
    nsl_show_free(old);
    out_discard(old);
    old->close_after_write = false;
    read_stop(old);
    close_handle(old);
}

void nsl_session_force_close(nsl_session *s)
{
    out_discard(s);
    s->close_after_write = false;
    nsl_session_end(s, false);
    close_handle(s);
}

void nsl_session_on_close(uv_handle_t *handle)
{
    nsl_session *s = handle->data;
    nsl_server *srv = s->srv;
    nsl_guard_closed(s);
    if (s->owner || s->detached) {
        if (s->prev)
            s->prev->next = s->next;
        else
            srv->sessions = s->next;
        if (s->next)
            s->next->prev = s->prev;
        srv->session_count--;
    }
    nsl_show_free(s);
    srv->unsent_bytes -= s->out_len + s->inflight;
    /* settle() empties the ready and dirty lists before any close callback. */
    free(s->in);
    free(s->q);
    free(s->out);
    free(s->wbuf);
    free(s->held);
    free(s);
}
