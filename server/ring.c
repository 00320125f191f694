/* server/ring.c — the client sockets through io_uring (server.io_method).
 *
 * With a readiness loop every request costs three system calls: the
 * epoll_wait that reports the socket, a read and a write. Here a session's
 * socket has one multishot receive armed in the ring, which fills buffers
 * the server provides (one buffer ring shared by all sessions). The answers
 * of a busy reap are sends in the ring, which go to the kernel in the
 * turn's one io_uring_enter, made by a prepare handle just before libuv
 * polls; otherwise (a reap of one or two completions, a timer, an accept)
 * an answer is one non-blocking send(2), which leaves no completion. The
 * ring's fd is in libuv's epoll set (a uv_poll_t), so the loop still sleeps
 * in one place and timers, signals, ZooKeeper and HTTP are untouched. When
 * completions are already there after the submit, they are reaped at once,
 * without going through epoll_wait.
 *
 * libuv still accepts the connection and owns its handle (peer address,
 * credentials, close); it never reads or writes it. A session's handle is
 * closed only when none of its operations is left in the ring: close_handle
 * cancels them and waits for their last completions.
 *
 * Not available (no liburing at build time, a kernel without multishot
 * receive or buffer rings, io_uring disabled by sysctl or seccomp): the
 * server says so once at start and serves through libuv's streams.
 */
#include "server/server_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef NSL_HAVE_URING
#include <liburing.h>

enum {
    RING_ENTRIES = 4096,
    BUF_COUNT = 1024,                /* a power of two: the buffer ring's size */
    BUF_SIZE = 4096,
    BUF_GROUP = 0,
    ROUNDS = 4,                      /* reaps in one prepare before epoll_wait */
    BATCH_MIN = 3,                   /* completions in a reap worth one submit for the sends */
};
#define BUF_RING_BYTES (BUF_COUNT * sizeof(struct io_uring_buf))

/* user_data: the session's address with the operation in its low bits
 * (a session is aligned to at least 8 bytes). */
enum { OP_RECV = 1, OP_SEND = 2, OP_CANCEL = 3, OP_MASK = 7 };

struct nsl_ring {
    nsl_server *srv;
    struct io_uring ring;
    struct io_uring_buf_ring *bufs;
    char *buf_memory;
    unsigned buf_returned;           /* buffers given back, not yet published */
    uv_poll_t poll;                  /* the ring's fd: completions are waiting */
    uv_prepare_t prepare;            /* the turn's submit */
    uv_idle_t no_wait;               /* this turn's poll must not block */
    size_t sessions;                 /* sessions on the ring: they keep the loop alive */
    bool batching;                   /* this reap's answers go out in the turn's submit */
};

static struct io_uring_sqe *get_sqe(nsl_ring *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe) {                      /* the submission queue is full: hand it over */
        io_uring_submit(&r->ring);
        sqe = io_uring_get_sqe(&r->ring);
    }
    if (!sqe) {
        nsl_log(NSL_LOG_ERROR, "io_uring: no submission entry free");
        abort();
    }
    return sqe;
}

static void arm_recv(nsl_ring *r, nsl_session *s)
{
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUF_GROUP;
    io_uring_sqe_set_data64(sqe, (uintptr_t)s | OP_RECV);
    s->ring_recv = true;
    s->ring_ops++;
}

static void give_back(nsl_ring *r, unsigned bid)
{
    io_uring_buf_ring_add(r->bufs, r->buf_memory + (size_t)bid * BUF_SIZE, BUF_SIZE,
                          (unsigned short)bid, io_uring_buf_ring_mask(BUF_COUNT),
                          (int)r->buf_returned++);
}

static void op_done(nsl_ring *r, nsl_session *s)
{
    s->ring_ops--;
    if (!s->ring_ops && s->handle_closing) {
        r->sessions--;
        if (!r->sessions)
            uv_unref((uv_handle_t *)&r->poll);
        uv_close(&s->h.handle, nsl_session_on_close);
    }
}

static void on_recv(nsl_ring *r, nsl_session *s, const struct io_uring_cqe *cqe)
{
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (cqe->res > 0 && !s->handle_closing)
            nsl_session_received(s, r->buf_memory + (size_t)bid * BUF_SIZE, cqe->res);
        give_back(r, bid);
    }
    if (cqe->flags & IORING_CQE_F_MORE)
        return;
    /* the receive ended: cancelled, out of buffers, or the peer is gone */
    s->ring_recv = false;
    if (!s->handle_closing) {
        if (cqe->res == 0)
            nsl_session_received(s, NULL, 0);
        else if (cqe->res < 0 && cqe->res != -ECANCELED && cqe->res != -ENOBUFS)
            nsl_session_received(s, NULL, cqe->res);
        else if (s->reading && !s->ended)
            arm_recv(r, s);
    }
    op_done(r, s);
}

static void dispatch(nsl_ring *r, const struct io_uring_cqe *cqe)
{
    uint64_t data = io_uring_cqe_get_data64(cqe);
    nsl_session *s = (nsl_session *)(uintptr_t)(data & ~(uint64_t)OP_MASK);
    switch (data & OP_MASK) {
    case OP_RECV:
        on_recv(r, s, cqe);
        break;
    case OP_SEND:
        if (!s->handle_closing)
            nsl_session_sent(s, cqe->res);
        op_done(r, s);
        break;
    case OP_CANCEL:
        op_done(r, s);
        break;
    }
}

/* Every completion there is, then what they made ready is served and sent. */
static void reap(nsl_ring *r)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    r->batching = io_uring_cq_ready(&r->ring) >= BATCH_MIN;
    io_uring_for_each_cqe(&r->ring, head, cqe) {
        seen++;
        dispatch(r, cqe);
    }
    io_uring_cq_advance(&r->ring, seen);
    if (r->buf_returned) {
        io_uring_buf_ring_advance(r->bufs, r->buf_returned);
        r->buf_returned = 0;
    }
    nsl_server_settle(r->srv);
    r->batching = false;
}

/* A request or two: their answers cost less as send(2)s than as sends in
 * the ring, whose completions must be reaped; many: one submit for all. */
bool nsl_ring_batching(nsl_server *srv)
{
    return srv->ring->batching;
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    (void)status;
    (void)events;
    reap(poll->data);
}

static void on_no_wait(uv_idle_t *idle)
{
    uv_idle_stop(idle);
}

/* The last thing of a loop turn: one io_uring_enter for all its sends and
 * receives; what completes at once is served now, not after epoll_wait.
 * Serving here comes after the loop's check phase (the registry's group
 * commit runs there, recovery.c): a turn that left a commit to make makes
 * libuv poll without blocking, so that phase comes round at once. */
static void on_prepare(uv_prepare_t *prepare)
{
    nsl_ring *r = prepare->data;
    for (int round = 0;; round++) {
        if (io_uring_sq_ready(&r->ring))
            io_uring_submit(&r->ring);
        if (round == ROUNDS || !io_uring_cq_ready(&r->ring))
            break;
        reap(r);
        if (nsl_recovery_commit_pending(r->srv) && !uv_is_active((uv_handle_t *)&r->no_wait))
            uv_idle_start(&r->no_wait, on_no_wait);
    }
}

/* Whether this kernel runs a multishot receive into a buffer ring: one
 * byte through a socketpair. */
static const char *probe(nsl_ring *r)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return "socketpair failed";
    nsl_session fake = {.fd = sv[0]};
    arm_recv(r, &fake);
    const char *why = NULL;
    struct io_uring_cqe *cqe;
    if (write(sv[1], "x", 1) != 1 || io_uring_submit_and_wait(&r->ring, 1) < 0 ||
        io_uring_peek_cqe(&r->ring, &cqe) != 0)
        why = "no completion for a test receive";
    else if (cqe->res != 1 || !(cqe->flags & IORING_CQE_F_MORE))
        why = cqe->res < 0 ? "multishot receive not supported" : "multishot receive misbehaves";
    if (!why) {
        give_back(r, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        io_uring_buf_ring_advance(r->bufs, r->buf_returned);
        r->buf_returned = 0;
        io_uring_cqe_seen(&r->ring, cqe);
    }
    close(sv[1]);                    /* ends the receive: its last completion */
    while (io_uring_wait_cqe(&r->ring, &cqe) == 0) {
        bool last = !(cqe->flags & IORING_CQE_F_MORE);
        io_uring_cqe_seen(&r->ring, cqe);
        if (last)
            break;
    }
    close(sv[0]);
    return why;
}

static void free_buffers(nsl_ring *r)
{
    io_uring_unregister_buf_ring(&r->ring, BUF_GROUP);
    munmap(r->bufs, BUF_RING_BYTES);
    free(r->buf_memory);
}

static const char *setup(nsl_ring *r)
{
    struct io_uring_params p = {
        .flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        .cq_entries = RING_ENTRIES * 4,
    };
    int rc = io_uring_queue_init_params(RING_ENTRIES, &r->ring, &p);
    if (rc == -EINVAL) {             /* an older kernel: the plain flags */
        p = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE, .cq_entries = RING_ENTRIES * 4};
        rc = io_uring_queue_init_params(RING_ENTRIES, &r->ring, &p);
    }
    if (rc < 0)
        return strerror(-rc);
    if (!(p.features & IORING_FEAT_NODROP)) {
        io_uring_queue_exit(&r->ring);
        return "the kernel may drop completions (no IORING_FEAT_NODROP)";
    }
    r->buf_memory = malloc((size_t)BUF_COUNT * BUF_SIZE);
    if (!r->buf_memory) {
        io_uring_queue_exit(&r->ring);
        return "out of memory";
    }
    /* liburing 2.3 (Debian 12) has no io_uring_setup_buf_ring */
    r->bufs = mmap(NULL, BUF_RING_BYTES, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
                   -1, 0);
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)r->bufs, .ring_entries = BUF_COUNT,
                                   .bgid = BUF_GROUP};
    if (r->bufs == MAP_FAILED || io_uring_register_buf_ring(&r->ring, &reg, 0) < 0) {
        if (r->bufs != MAP_FAILED)
            munmap(r->bufs, BUF_RING_BYTES);
        free(r->buf_memory);
        io_uring_queue_exit(&r->ring);
        return "no provided-buffer rings (kernel 5.19 or later)";
    }
    io_uring_buf_ring_init(r->bufs);
    for (unsigned i = 0; i < BUF_COUNT; i++)
        give_back(r, i);
    io_uring_buf_ring_advance(r->bufs, r->buf_returned);
    r->buf_returned = 0;
    const char *why = probe(r);
    if (why) {
        free_buffers(r);
        io_uring_queue_exit(&r->ring);
    }
    return why;
}

bool nsl_ring_start(nsl_server *srv, bool required)
{
    nsl_ring *r = calloc(1, sizeof *r);
    const char *why = r ? setup(r) : "out of memory";
    if (why) {
        free(r);
        nsl_log(required ? NSL_LOG_ERROR : NSL_LOG_INFO, "client sockets: %s (io_uring %s: %s)",
                required ? "cannot use io_uring" : "epoll through libuv",
                "unavailable", why);
        return !required;
    }
    r->srv = srv;
    uv_poll_init(&srv->loop, &r->poll, r->ring.ring_fd);
    r->poll.data = r;
    uv_poll_start(&r->poll, UV_READABLE, on_poll);
    uv_unref((uv_handle_t *)&r->poll);    /* only sessions keep the loop going */
    uv_prepare_init(&srv->loop, &r->prepare);
    r->prepare.data = r;
    uv_prepare_start(&r->prepare, on_prepare);
    uv_unref((uv_handle_t *)&r->prepare);
    uv_idle_init(&srv->loop, &r->no_wait);
    uv_unref((uv_handle_t *)&r->no_wait);
    srv->ring = r;
    nsl_log(NSL_LOG_INFO, "client sockets: io_uring (multishot receive, %d provided buffers "
            "of %d bytes, one submit a loop turn)", BUF_COUNT, BUF_SIZE);
    return true;
}

/* After the loop closed every handle, the ring's three among them. */
void nsl_ring_free(nsl_server *srv)
{
    nsl_ring *r = srv->ring;
    if (!r)
        return;
    free_buffers(r);
    io_uring_queue_exit(&r->ring);
    free(r);
    srv->ring = NULL;
}

void nsl_ring_adopt(nsl_session *s, int fd)
{
    nsl_ring *r = s->srv->ring;
    s->fd = fd;
    s->ring = true;
    if (!r->sessions++)
        uv_ref((uv_handle_t *)&r->poll);
}

void nsl_ring_read_start(nsl_session *s)
{
    if (!s->ring_recv)
        arm_recv(s->srv->ring, s);
}

void nsl_ring_read_stop(nsl_session *s)
{
    if (!s->ring_recv)
        return;
    nsl_ring *r = s->srv->ring;
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_cancel64(sqe, (uintptr_t)s | OP_RECV, 0);
    io_uring_sqe_set_data64(sqe, (uintptr_t)s | OP_CANCEL);
    s->ring_ops++;
}

void nsl_ring_send(nsl_session *s, const char *p, size_t n)
{
    nsl_ring *r = s->srv->ring;
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_send(sqe, s->fd, p, n, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uintptr_t)s | OP_SEND);
    s->ring_ops++;
}

void nsl_ring_close(nsl_session *s)
{
    nsl_ring *r = s->srv->ring;
    if (!s->ring_ops) {
        s->ring_ops = 1;             /* op_done closes the handle */
        op_done(r, s);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_cancel_fd(sqe, s->fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, (uintptr_t)s | OP_CANCEL);
    s->ring_ops++;
}

#else /* no liburing at build time */

bool nsl_ring_start(nsl_server *srv, bool required)
{
    (void)srv;
    nsl_log(required ? NSL_LOG_ERROR : NSL_LOG_INFO, "client sockets: %s (built without "
            "liburing)", required ? "cannot use io_uring" : "epoll through libuv");
    return !required;
}
void nsl_ring_free(nsl_server *srv) { (void)srv; }
void nsl_ring_adopt(nsl_session *s, int fd) { (void)s; (void)fd; abort(); }
void nsl_ring_read_start(nsl_session *s) { (void)s; abort(); }
void nsl_ring_read_stop(nsl_session *s) { (void)s; abort(); }
void nsl_ring_send(nsl_session *s, const char *p, size_t n) { (void)s; (void)p; (void)n; abort(); }
bool nsl_ring_batching(nsl_server *srv) { (void)srv; abort(); }
void nsl_ring_close(nsl_session *s) { (void)s; abort(); }

#endif
