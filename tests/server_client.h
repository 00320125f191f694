/* A real `nslock serve` in a temporary directory, and a tiny line client
 * over raw sockets, for the server's integration tests.
 *
 * The server is the NSL_BINARY program, started with a configuration
 * written into the directory; its log goes to server.log there and is
 * printed when something goes wrong. Clients are plain sockets, each one
 * session; tests fork where a separate process matters (peer pid, SIGKILL,
 * another uid). The client library is deliberately not used: these tests
 * pin the wire protocol itself. */
#ifndef NSL_TESTS_SERVER_CLIENT_H
#define NSL_TESTS_SERVER_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* The docs/CONFIG.md example (USERDB/ALPHADB/BETADB, USER/ALPHA/BETA with BETA's
 * map) plus ALPHA2, a second namespace on ALPHADB for the seed's scenario 1
 * (two namespaces sharing one globals database). %s: extra lock_table
 * lines, then an optional server section. */
static const char TS_CONFIG_FORMAT[] =
    "lock_table:\n"
    "  deadlock_check_ms: 200\n"
    "%s"
    "%s"
    "default_namespace: USER\n"
    "local_locks: USERDB\n"
    "databases:\n"
    "  USERDB:  { directory: /data/user }\n"
    "  ALPHADB: { directory: /data/alpha }\n"
    "  BETADB:  { directory: /data/beta }\n"
    "namespaces:\n"
    "  USER:  { globals: USERDB }\n"
    "  ALPHA: { globals: ALPHADB }\n"
    "  ALPHA2: { globals: ALPHADB }\n"
    "  BETA:\n"
    "    globals: BETADB\n"
    "    map:\n"
    "      Config: ALPHADB\n"
    "      MyGlobal(15): ALPHADB\n"
    "      Orders(1):(1000): ALPHADB\n"
    "      Orders(\"A\"):(END): USERDB\n"
    "      Log*: USERDB\n";

typedef struct tsrv {
    char dir[64];
    char sock[100];
    char config[128];
    char log[128];
    char state[128];         /* the server's state directory */
    pid_t pid;
    long nofile;             /* RLIMIT_NOFILE (soft and hard) for the server; 0: inherited */
} tsrv;

static inline long ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void ts_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static inline void ts_print_log(const tsrv *t)
{
    FILE *f = fopen(t->log, "r");
    if (!f)
        return;
    char line[1024];
    fprintf(stderr, "---- %s ----\n", t->log);
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fclose(f);
}

static inline bool ts_can_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Starts the server on t's directory and configuration; does not wait. */
static inline pid_t ts_spawn(const tsrv *t)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        if (t->nofile) {
            struct rlimit rl = {.rlim_cur = (rlim_t)t->nofile, .rlim_max = (rlim_t)t->nofile};
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        /* NSL_TEST_IO_METHOD=io_uring: the suite again on the ring (skipped
         * where the kernel has none); else the server's default, epoll */
        const char *io = getenv("NSL_TEST_IO_METHOD");
        execl(NSL_BINARY, "nslock", "serve", "--config", t->config, "--socket", t->sock,
              "--state-dir", t->state, "--log-level", "debug", "--io-method",
              io && *io ? io : "epoll", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* A line of the server's log holds text. */
static inline bool ts_log_contains(const tsrv *t, const char *text)
{
    FILE *f = fopen(t->log, "r");
    if (!f)
        return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

/* Copies of the servers the running test started, for ts_teardown (a
 * failed test's own variables are gone by then). */
static tsrv ts_running[8];

static inline void ts_track(const tsrv *t, bool on)
{
    tsrv *slot = NULL;
    for (size_t i = 0; i < sizeof ts_running / sizeof ts_running[0]; i++) {
        if (ts_running[i].dir[0] && !strcmp(ts_running[i].dir, t->dir)) {
            slot = &ts_running[i];
            break;
        }
        if (!slot && !ts_running[i].dir[0])
            slot = &ts_running[i];
    }
    assert_non_null(slot);
    if (on)
        *slot = *t;
    else
        memset(slot, 0, sizeof *slot);
}

static inline int ts_teardown(void **state);

/* (Re)starts the server and waits until its socket accepts. */
static inline void ts_launch(tsrv *t)
{
    t->pid = ts_spawn(t);
    ts_track(t, true);
    long deadline = ts_now_ms() + 20000;
    while (!ts_can_connect(t->sock)) {
        int status;
        if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
            const char *io = getenv("NSL_TEST_IO_METHOD");
            if (io && !strcmp(io, "io_uring") && ts_log_contains(t, "cannot use io_uring")) {
                fprintf(stderr, "skipped: io_uring is unavailable here\n");
                t->pid = 0;              /* reaped: the teardown removes what is left */
                ts_teardown(NULL);       /* its log, and every server of this test */
                exit(77);                /* ctest's SKIP_RETURN_CODE */
            }
            ts_print_log(t);
            fail_msg("the server exited before listening (status %d)", status);
        }
        if (ts_now_ms() > deadline) {
            ts_print_log(t);
            fail_msg("the server did not listen within 20 s");
        }
        usleep(5000);
    }
    const char *io = getenv("NSL_TEST_IO_METHOD");
    const char *says = io && !strcmp(io, "io_uring") ? "client sockets: io_uring" :
                       "client sockets: epoll";
    if (!ts_log_contains(t, says)) {
        ts_print_log(t);
        fail_msg("the server's log does not say \"%s\"", says);
    }
}

/* A fresh temporary directory for a server: its socket, configuration and
 * log paths. */
static inline void ts_make_dir(tsrv *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/nslock-test-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->sock, sizeof t->sock, "%s/s.sock", t->dir);
    snprintf(t->config, sizeof t->config, "%s/nslock.yaml", t->dir);
    snprintf(t->log, sizeof t->log, "%s/server.log", t->dir);
    snprintf(t->state, sizeof t->state, "%s/state", t->dir);
}

/* The configuration, with extra lines as in TS_CONFIG_FORMAT (NULL: none). */
static inline void ts_write_config(tsrv *t, const char *lock_table_extra,
                                   const char *server_section)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml, TS_CONFIG_FORMAT, lock_table_extra ? lock_table_extra : "",
             server_section ? server_section : "");
    ts_write_file(t->config, yaml, 0644);
}

static inline void ts_start_with(tsrv *t, const char *lock_table_extra, const char *server_section)
{
    ts_make_dir(t);
    ts_write_config(t, lock_table_extra, server_section);
    ts_launch(t);
}

static inline void ts_start(tsrv *t)
{
    ts_start_with(t, NULL, NULL);
}

/* SIGTERM and wait; returns the exit status (-1 when killed by a signal). */
static inline int ts_stop(tsrv *t)
{
    if (t->pid <= 0) {
        ts_track(t, false);
        return 0;
    }
    kill(t->pid, SIGTERM);
    int status;
    assert_int_equal(waitpid(t->pid, &status, 0), t->pid);
    t->pid = 0;
    ts_track(t, false);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code != 0)
        ts_print_log(t);
    return code;
}

static inline int ts_remove_one(const char *path, const struct stat *sb, int flag,
                                struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* The directory and everything in it (socket, state, configuration, log). */
static inline void ts_remove_dir(tsrv *t)
{
    nftw(t->dir, ts_remove_one, 16, FTW_DEPTH | FTW_PHYS);
    if (access(t->dir, F_OK) == 0)
        fprintf(stderr, "could not remove %.*s\n", (int)(sizeof t->dir - 1), t->dir);
}

/* Stops the server (asserting a clean exit) and removes its directory. */
static inline void ts_finish(tsrv *t)
{
    int code = ts_stop(t);
    ts_remove_dir(t);
    assert_int_equal(code, 0);
}


/* ---- the line client ------------------------------------------------------------ */

typedef struct tcl {
    int fd;
    size_t len;
    char buf[1 << 17];
    char last[1 << 16];      /* the last line read */
} tcl;

/* Clients the running test opened, freed by ts_teardown if it fails. */
static tcl *cl_open_clients[64];

static inline tcl *cl_from_fd(int fd)
{
    tcl *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->fd = fd;
    for (size_t i = 0; i < sizeof cl_open_clients / sizeof cl_open_clients[0]; i++) {
        if (!cl_open_clients[i]) {
            cl_open_clients[i] = c;
            break;
        }
    }
    return c;
}

static inline tcl *cl_open(const tsrv *t)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", t->sock);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return cl_from_fd(fd);
}

/* For forked children, which must not use cmocka's asserts: NULL on failure. */
static inline tcl *cl_try_open(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    tcl *c = calloc(1, sizeof *c);
    if (c)
        c->fd = fd;
    return c;
}

/* A loopback TCP port free at the moment of asking. */
static inline int ts_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static inline int cl_connect_tcp(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The shared token of the TCP servers tests start. */
#define TS_TOKEN "s3cret-token"

/* Starts a server that also listens on a free loopback port (its token
 * TS_TOKEN in t's directory; session_timeout_s 0: the default); returns
 * the port once the Unix socket accepts. */
static inline int ts_start_tcp(tsrv *t, unsigned session_timeout_s)
{
    ts_make_dir(t);
    int port = ts_free_port();
    char token_path[160], server[400], timeout[48] = "";
    snprintf(token_path, sizeof token_path, "%s/token", t->dir);
    ts_write_file(token_path, TS_TOKEN "\n", 0600);
    if (session_timeout_s)
        snprintf(timeout, sizeof timeout, "  session_timeout_s: %u\n", session_timeout_s);
    snprintf(server, sizeof server, "server:\n  listen: 127.0.0.1:%d\n  token_file: %s\n%s", port,
             token_path, timeout);
    ts_write_config(t, NULL, server);
    ts_launch(t);
    return port;
}

static inline void cl_close(tcl *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < sizeof cl_open_clients / sizeof cl_open_clients[0]; i++)
        if (cl_open_clients[i] == c)
            cl_open_clients[i] = NULL;
    close(c->fd);
    free(c);
}

static inline void cl_sendn(tcl *c, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(c->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static inline void cl_send(tcl *c, const char *text)
{
    cl_sendn(c, text, strlen(text));
}

/* Reads one line (without its newline) into c->last. 1: a line; 0: the
 * timeout passed; -1: the server closed the connection. */
static inline int cl_line_wait(tcl *c, int timeout_ms)
{
    long deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            assert_true(n < sizeof c->last);
            memcpy(c->last, c->buf, n);
            c->last[n] = '\0';
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return 1;
        }
        long left = deadline - ts_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r == 0)
            return 0;
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(c->len < sizeof c->buf);
        ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (n <= 0)
            return -1;
        c->len += (size_t)n;
    }
}

/* The next line; fails the test if none comes within 10 s. */
static inline const char *cl_line(tcl *c)
{
    int r = cl_line_wait(c, 10000);
    if (r != 1)
        fail_msg("no response from the server (%s)", r == 0 ? "timeout" : "closed");
    return c->last;
}

/* Sends one request and returns its one-line response. */
static inline const char *cl_req(tcl *c, const char *request)
{
    cl_send(c, request);
    cl_send(c, "\n");
    return cl_line(c);
}

/* For forked children: sends request, true when the response starts with
 * `expect` (the response is in c->last). */
static inline bool cl_try_req(tcl *c, const char *request, const char *expect)
{
    size_t len = strlen(request);
    if (write(c->fd, request, len) != (ssize_t)len || write(c->fd, "\n", 1) != 1)
        return false;
    return cl_line_wait(c, 10000) == 1 && !strncmp(c->last, expect, strlen(expect));
}

/* True when the server closed the connection within timeout_ms (after any
 * lines still buffered). */
static inline bool cl_closed(tcl *c, int timeout_ms)
{
    int r;
    while ((r = cl_line_wait(c, timeout_ms)) == 1)
        ;
    return r == -1;
}

/* A DATA response: its lines, concatenated with '\n' after each. */
static inline char *cl_data(tcl *c, const char *request, int *count)
{
    const char *head = cl_req(c, request);
    if (strncmp(head, "DATA ", 5) != 0)
        fail_msg("'%s' answered '%s', not DATA", request, head);
    int n = atoi(head + 5);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *l = cl_line(c);
        size_t ll = strlen(l);
        while (len + ll + 2 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, l, ll);
        len += ll;
        out[len++] = '\n';
        out[len] = '\0';
    }
    if (count)
        *count = n;
    return out;
}

/* One value of STATS ("entries", "waiters", ...). */
static inline long cl_stat(tcl *c, const char *name)
{
    char *lines = cl_data(c, "STATS", NULL);
    long v = -1;
    size_t nlen = strlen(name);
    for (char *l = lines; *l;) {
        char *nl = strchr(l, '\n');
        if (!strncmp(l, name, nlen) && l[nlen] == '\t')
            v = atol(l + nlen + 1);
        l = nl + 1;
    }
    free(lines);
    if (v < 0)
        fail_msg("STATS has no %s", name);
    return v;
}

/* The session id from HELLO. */
static inline unsigned cl_hello(tcl *c, const char *args)
{
    char req[256];
    snprintf(req, sizeof req, "HELLO%s%s", args ? " " : "", args ? args : "");
    const char *r = cl_req(c, req);
    unsigned id;
    if (sscanf(r, "OK nslock 1 session %u", &id) != 1)
        fail_msg("HELLO answered '%s'", r);
    return id;
}

/* The token of an `OK 1 TOKEN` response; fails on anything else. */
static inline unsigned long long cl_granted(const char *response)
{
    unsigned long long token;
    if (sscanf(response, "OK 1 %llu", &token) != 1)
        fail_msg("expected a grant, got '%s'", response);
    return token;
}

/* Splits a tab-separated line into at most max fields (in place). */
static inline int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

/* cmocka teardown: a test that failed half-way leaves its servers running;
 * show their logs, kill them and remove their directories. */
static inline int ts_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ts_running / sizeof ts_running[0]; i++) {
        tsrv *t = &ts_running[i];
        if (!t->dir[0])
            continue;
        ts_print_log(t);
        if (t->pid > 0) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, NULL, 0);
        }
        ts_remove_dir(t);
        memset(t, 0, sizeof *t);
    }
    for (size_t i = 0; i < sizeof cl_open_clients / sizeof cl_open_clients[0]; i++)
        cl_close(cl_open_clients[i]);
    return 0;
}

#define ts_test(f) cmocka_unit_test_teardown(f, ts_teardown)

#endif
