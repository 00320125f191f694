/* echo_epoll — the smallest epoll server of the line protocol's shape: it
 * answers every request line ('\n') with "OK\n", nothing else. The floor
 * that bench/compare-cpu measures `nslock serve` against: one epoll_wait,
 * one read and one write per loop turn and connection, which is what a
 * readiness-based server cannot go below (docs/PERFORMANCE.md, "Server CPU
 * per request").
 *
 * Usage: echo_epoll SOCKET   (a Unix socket path; runs until SIGTERM/SIGINT)
 */
#define _GNU_SOURCE   /* accept4 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "echo_common.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fputs("usage: echo_epoll SOCKET\n", stderr);
        return 2;
    }
    echo_init_answers();
    int lfd = echo_listen(argv[1], SOCK_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        echo_die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        echo_die("epoll_ctl");
    static char in[65536];
    struct epoll_event events[256];
    while (!echo_stopping) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            echo_die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
                        echo_die("epoll_ctl");
                }
                continue;
            }
            ssize_t got = read(fd, in, sizeof in);
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN)
                    continue;
                close(fd);   /* also leaves the epoll set */
                continue;
            }
            /* every answer of this read in one write (the client never has
             * more in flight than a socket buffer holds) */
            size_t lines = echo_count_lines(in, (size_t)got);
            while (lines > 0) {
                size_t now = lines < ECHO_MAX_ANSWERS ? lines : ECHO_MAX_ANSWERS;
                if (write(fd, echo_answers, now * ECHO_ANSWER_LEN) < 0)
                    break;
                lines -= now;
            }
        }
    }
    unlink(argv[1]);
    return 0;
}
