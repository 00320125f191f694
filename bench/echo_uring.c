/* echo_uring — the smallest io_uring server of the line protocol's shape:
 * it answers every request line ('\n') with "OK\n". The floor bench/
 * compare-cpu measures `nslock serve` against for the io_uring candidates
 * of issue 13: a multishot accept, a multishot receive per connection into
 * provided buffers (one ring of them for all), sends whose completions are
 * skipped, and one io_uring_enter per loop turn that submits every send of
 * the turn and waits for the next completions (docs/PERFORMANCE.md, "Server
 * CPU per request").
 *
 * Usage: echo_uring SOCKET   (a Unix socket path; runs until SIGTERM/SIGINT)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "echo_common.h"

#define RING_ENTRIES 4096
#define BUF_COUNT 4096   /* a power of two: the buffer ring's size */
#define BUF_SIZE 4096
#define BUF_GROUP 0

enum { OP_ACCEPT = 1, OP_RECV = 2 };

static struct io_uring ring;
static struct io_uring_buf_ring *bufs;
static char *buf_memory;

static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {   /* the submission queue is full: hand it to the kernel */
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
        if (!sqe)
            echo_die("io_uring_get_sqe");
    }
    return sqe;
}

static void arm_accept(int lfd)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, (uint64_t)OP_ACCEPT << 32 | (uint32_t)lfd);
}

static void arm_recv(int fd)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUF_GROUP;
    io_uring_sqe_set_data64(sqe, (uint64_t)OP_RECV << 32 | (uint32_t)fd);
}

static void queue_answers(int fd, size_t lines)
{
    while (lines > 0) {
        size_t now = lines < ECHO_MAX_ANSWERS ? lines : ECHO_MAX_ANSWERS;
        struct io_uring_sqe *sqe = get_sqe();
        io_uring_prep_send(sqe, fd, echo_answers, now * ECHO_ANSWER_LEN, 0);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;   /* only a failure completes */
        io_uring_sqe_set_data64(sqe, 0);
        lines -= now;
    }
}

static void setup_ring(void)
{
    struct io_uring_params p = {
        .flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        .cq_entries = RING_ENTRIES * 4,
    };
    int rc = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
    if (rc == -EINVAL) {   /* an older kernel: without the task-run flags */
        p = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE, .cq_entries = RING_ENTRIES * 4};
        rc = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
    }
    if (rc < 0) {
        fprintf(stderr, "echo_uring: io_uring_queue_init: %s\n", strerror(-rc));
        exit(1);
    }
    size_t ring_size = BUF_COUNT * sizeof(struct io_uring_buf);
    bufs = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    buf_memory = malloc((size_t)BUF_COUNT * BUF_SIZE);
    if (bufs == MAP_FAILED || !buf_memory)
        echo_die("buffer ring");
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)bufs, .ring_entries = BUF_COUNT,
                                   .bgid = BUF_GROUP};
    rc = io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc < 0) {
        fprintf(stderr, "echo_uring: io_uring_register_buf_ring: %s\n", strerror(-rc));
        exit(1);
    }
    io_uring_buf_ring_init(bufs);
    int mask = io_uring_buf_ring_mask(BUF_COUNT);
    for (int i = 0; i < BUF_COUNT; i++)
        io_uring_buf_ring_add(bufs, buf_memory + (size_t)i * BUF_SIZE, BUF_SIZE,
                              (unsigned short)i, mask, i);
    io_uring_buf_ring_advance(bufs, BUF_COUNT);
}

static void on_recv(int fd, const struct io_uring_cqe *cqe)
{
    if (cqe->res > 0) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        char *data = buf_memory + (size_t)bid * BUF_SIZE;
        queue_answers(fd, echo_count_lines(data, (size_t)cqe->res));
        io_uring_buf_ring_add(bufs, data, BUF_SIZE, (unsigned short)bid,
                              io_uring_buf_ring_mask(BUF_COUNT), 0);
        io_uring_buf_ring_advance(bufs, 1);
    }
    if (cqe->flags & IORING_CQE_F_MORE)
        return;
    /* the multishot receive ended: out of buffers (re-arm) or the peer left */
    if (cqe->res > 0 || cqe->res == -ENOBUFS)
        arm_recv(fd);
    else
        close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fputs("usage: echo_uring SOCKET\n", stderr);
        return 2;
    }
    echo_init_answers();
    setup_ring();
    int lfd = echo_listen(argv[1], 0);
    arm_accept(lfd);
    while (!echo_stopping) {
        int rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            fprintf(stderr, "echo_uring: io_uring_submit_and_wait: %s\n", strerror(-rc));
            return 1;
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t data = io_uring_cqe_get_data64(cqe);
            int op = (int)(data >> 32), fd = (int)(uint32_t)data;
            if (op == OP_ACCEPT) {
                if (cqe->res >= 0)
                    arm_recv(cqe->res);
                if (!(cqe->flags & IORING_CQE_F_MORE))
                    arm_accept(lfd);
            } else if (op == OP_RECV)
                on_recv(fd, cqe);
            /* a failed send: the peer is gone, its receive will end too */
        }
        io_uring_cq_advance(&ring, seen);
    }
    unlink(argv[1]);
    return 0;
}
