/* echo_common.h — what bench/echo_epoll.c and bench/echo_uring.c share:
 * the listening Unix socket, the stop signal and the answers. Header-only,
 * so that each floor server stays one small program. */
#ifndef NSL_BENCH_ECHO_COMMON_H
#define NSL_BENCH_ECHO_COMMON_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ECHO_ANSWER "OK\n"
#define ECHO_ANSWER_LEN 3
#define ECHO_MAX_ANSWERS 4096

/* ECHO_MAX_ANSWERS answers back to back: every write sends a prefix of it,
 * so no connection needs an output buffer of its own. */
static char echo_answers[ECHO_MAX_ANSWERS * ECHO_ANSWER_LEN];
static volatile sig_atomic_t echo_stopping;

static void echo_die(const char *what)
{
    perror(what);
    exit(1);
}

static void echo_on_signal(int sig)
{
    (void)sig;
    echo_stopping = 1;
}

static void echo_init_answers(void)
{
    for (int i = 0; i < ECHO_MAX_ANSWERS; i++)
        memcpy(echo_answers + i * ECHO_ANSWER_LEN, ECHO_ANSWER, ECHO_ANSWER_LEN);
    struct sigaction sa = {.sa_handler = echo_on_signal};   /* no SA_RESTART: wake the wait */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* 10,000 idle connections need more than the usual soft limit */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int echo_listen(const char *path, int type_flags)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "socket path too long: %s\n", path);
        exit(2);
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | type_flags, 0);
    if (fd < 0)
        echo_die("socket");
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
        fprintf(stderr, "bind/listen %s: ", path);
        echo_die("");
    }
    return fd;
}

static size_t echo_count_lines(const char *p, size_t len)
{
    size_t lines = 0;
    const char *end = p + len;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        lines++;
        p++;
    }
    return lines;
}

#endif
