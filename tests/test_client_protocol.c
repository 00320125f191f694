/* libnslock against a scripted fake server: what each call sends, how each
 * answer is read, errors, argument checks and client-side timeouts. The
 * fake server is a child process on a Unix socket in a temporary directory:
 * it checks every request line against its script and answers from it. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/nslock.h"

/* ---- the fake server ----------------------------------------------------------- */

#define HANG "<hang>"    /* reply: answer nothing, wait for the client to go */
#define CLOSE "<close>"  /* reply prefix: send the rest, then close the connection */

typedef struct step {
    const char *expect;  /* the request line, without its newline */
    const char *reply;   /* sent as is (lines end in \n), or HANG / CLOSE */
} step;

typedef struct fake {
    char dir[64];
    char path[128];
    pid_t pid;
} fake;

static fake srv;

/* Reads one line into buf; false at end of input. */
static int read_request(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r <= 0)
            return 0;
        if (ch == '\n') {
            buf[n] = '\0';
            return 1;
        }
        if (n + 1 < cap)
            buf[n++] = ch;
    }
}

static void write_all(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t w = write(fd, s, len);
        if (w <= 0)
            return;
        s += w;
        len -= (size_t)w;
    }
}

/* The child: serves one connection by the script; exits 0 when every
 * request matched and the client then closed. */
static void serve_script(int listener, const step *steps, size_t n)
{
    int fd = accept(listener, NULL, NULL);
    char line[4096];
    if (fd < 0)
        _exit(10);
    for (size_t i = 0; i < n; i++) {
        if (!read_request(fd, line, sizeof line)) {
            fprintf(stderr, "fake: step %zu: client closed, expected '%s'\n", i, steps[i].expect);
            _exit(11);
        }
        if (strcmp(line, steps[i].expect) != 0) {
            fprintf(stderr, "fake: step %zu: got '%s', expected '%s'\n", i, line, steps[i].expect);
            _exit(12);
        }
        if (strncmp(steps[i].reply, CLOSE, strlen(CLOSE)) == 0) {
            write_all(fd, steps[i].reply + strlen(CLOSE));
            _exit(0);
        }
        if (strcmp(steps[i].reply, HANG) == 0) {
            while (read(fd, line, sizeof line) > 0)
                ;
            _exit(0);
        }
        write_all(fd, steps[i].reply);
    }
    if (read_request(fd, line, sizeof line)) {
        fprintf(stderr, "fake: unexpected request '%s' after the script\n", line);
        _exit(13);
    }
    _exit(0);
}

static void start_fake(const step *steps, size_t n)
{
    snprintf(srv.dir, sizeof srv.dir, "/tmp/nslock-fake.XXXXXX");
    assert_non_null(mkdtemp(srv.dir));
    snprintf(srv.path, sizeof srv.path, "%s/s.sock", srv.dir);
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(listener >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, srv.path, strlen(srv.path) + 1);   /* short: /tmp/nslock-fake.XXXXXX/s.sock */
    assert_int_equal(bind(listener, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(listener, 4), 0);
    fflush(NULL);
    srv.pid = fork();
    assert_true(srv.pid >= 0);
    if (srv.pid == 0)
        serve_script(listener, steps, n);
    close(listener);
}

/* Waits for the fake server and asserts it saw exactly its script. */
static void finish_fake(void)
{
    int status;
    assert_int_equal(waitpid(srv.pid, &status, 0), srv.pid);
    unlink(srv.path);
    rmdir(srv.dir);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

#define HELLO {"HELLO name=test", "OK nslock 1 session 7\n"}
#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

static nslock *connect_fake(const step *steps, size_t n)
{
    nslock *c;
    nslock_error err;
    start_fake(steps, n);
    assert_int_equal(nslock_connect(&c, srv.path, "test", &err), 0);
    assert_int_equal(err.code, NSLOCK_E_OK);
    return c;
}

/* ---- connecting ------------------------------------------------------------------- */

static void test_hello_gives_session(void **state)
{
    (void)state;
    static const step script[] = {{"HELLO name=test", "OK nslock 1 session 42 namespace USER\n"}};
    nslock *c = connect_fake(script, NSTEPS(script));
    assert_int_equal(nslock_session_id(c), 42);
    assert_string_equal(nslock_current_namespace(c), "USER");
    nslock_close(c);
    finish_fake();
}

static void test_hello_without_name(void **state)
{
    (void)state;
    static const step script[] = {{"HELLO", "OK nslock 1 session 3\n"}};
    nslock *c;
    nslock_error err;
    start_fake(script, NSTEPS(script));
    assert_int_equal(nslock_connect(&c, srv.path, NULL, &err), 0);
    assert_int_equal(nslock_session_id(c), 3);
    assert_null(nslock_current_namespace(c));
    nslock_close(c);
    finish_fake();
}

static void test_hello_wrong_version(void **state)
{
    (void)state;
    static const step script[] = {{"HELLO name=test", "OK nslock 2 session 1\n"}};
    nslock *c = (nslock *)&srv;   /* must be reset to NULL */
    nslock_error err;
    start_fake(script, NSTEPS(script));
    assert_int_equal(nslock_connect(&c, srv.path, "test", &err), -1);
    assert_null(c);
    assert_int_equal(err.code, NSLOCK_E_PROTOCOL);
    assert_string_equal(err.name, "PROTOCOL");
    assert_non_null(strstr(err.message, "version 2"));
    finish_fake();
}

static void test_hello_not_nslock(void **state)
{
    (void)state;
    static const step script[] = {{"HELLO name=test", "+OK redis\n"}};
    nslock *c;
    nslock_error err;
    start_fake(script, NSTEPS(script));
    assert_int_equal(nslock_connect(&c, srv.path, "test", &err), -1);
    assert_int_equal(err.code, NSLOCK_E_PROTOCOL);
    finish_fake();
}

static void test_connect_errors(void **state)
{
    (void)state;
    nslock *c;
    nslock_error err;
    char longpath[300];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    assert_int_equal(nslock_connect(&c, longpath, "test", &err), -1);
    assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
    assert_non_null(strstr(err.message, "too long"));

    assert_int_equal(nslock_connect(&c, "/nonexistent/nslock.sock", "test", &err), -1);
    assert_int_equal(err.code, NSLOCK_E_IO);
    assert_non_null(strstr(err.message, "/nonexistent/nslock.sock"));

    assert_int_equal(nslock_connect(&c, "/nonexistent/nslock.sock", "two words", &err), -1);
    assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
    assert_non_null(strstr(err.message, "client name"));

    assert_int_equal(nslock_connect_tcp(&c, "localhost", "t0ken", "test", &err), -1);
    assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
    assert_int_equal(nslock_connect_tcp(&c, "127.0.0.1:7420", NULL, "test", &err), -1);
    assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
    assert_non_null(strstr(err.message, "token"));
}

static void test_default_socket(void **state)
{
    (void)state;
    char buf[256], expect[64];
    setenv("NSLOCK_SOCKET", "/run/x/nslock.sock", 1);
    setenv("XDG_RUNTIME_DIR", "/run/user/5", 1);
    assert_int_equal(nslock_default_socket(buf, sizeof buf), 0);
    assert_string_equal(buf, "/run/x/nslock.sock");
    unsetenv("NSLOCK_SOCKET");
    assert_int_equal(nslock_default_socket(buf, sizeof buf), 0);
    assert_string_equal(buf, "/run/user/5/nslock/nslock.sock");
    unsetenv("XDG_RUNTIME_DIR");
    assert_int_equal(nslock_default_socket(buf, sizeof buf), 0);
    snprintf(expect, sizeof expect, "/tmp/nslock-%lu/nslock.sock", (unsigned long)getuid());
    assert_string_equal(buf, expect);
    assert_int_equal(nslock_default_socket(buf, 5), -1);
}

/* A process of another user that listens on the socket (having
 * squatted the path) is refused before a word is exchanged, unless it is
 * the uid we were told. Needs root, to be another user. */
static void test_refuses_a_foreign_server(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("# not root: cannot start a server as another user; the check runs in CI\n");
        return;
    }
    char dir[] = "/tmp/nslock-squat-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    chmod(dir, 0777);
    snprintf(path, sizeof path, "%s/s.sock", dir);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(2);
        int l = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
        if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4) != 0)
            _exit(3);
        if (write(ready[1], "x", 1) != 1)
            _exit(4);
        for (int i = 0; i < 2; i++) {
            int fd = accept(l, NULL, NULL);
            char line[256];
            if (read_request(fd, line, sizeof line))
                write_all(fd, "OK nslock 1 session 1 namespace USER\n");
            close(fd);
        }
        _exit(0);
    }
    char x;
    assert_int_equal(read(ready[0], &x, 1), 1);
    nslock *c;
    nslock_error err;
    assert_int_equal(nslock_connect(&c, path, "victim", &err), -1);
    assert_int_equal(err.code, NSLOCK_E_PROTECT);
    assert_non_null(strstr(err.message, "runs as uid 65534"));
    nslock_options o = {.socket_path = path, .client_name = "told", .server_uid = 65534};
    assert_int_equal(nslock_open(&c, &o, &err), 0);
    nslock_close(c);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    unlink(path);
    rmdir(dir);
}

static void test_connect_uses_env_socket(void **state)
{
    (void)state;
    static const step script[] = {HELLO};
    nslock *c;
    nslock_error err;
    start_fake(script, NSTEPS(script));
    setenv("NSLOCK_SOCKET", srv.path, 1);
    assert_int_equal(nslock_connect(&c, NULL, "test", &err), 0);
    unsetenv("NSLOCK_SOCKET");
    assert_int_equal(nslock_session_id(c), 7);
    nslock_close(c);
    finish_fake();
}

/* ---- locks ------------------------------------------------------------------------ */

static void test_lock_requests(void **state)
{
    (void)state;
    static const step script[] = {
        HELLO,
        {"LOCK +^a(1)#\"SE\":2.5", "OK 1 17\n"},
        {"LOCK +^b:0", "OK 0\n"},
        {"LOCK +^c", "OK 1 18446744073709551615\n"},
        {"LOCK +(^a,^b(\"x,y\"))#\"S\":0.25", "OK 1 19\n"},
        {"LOCK -^a(1)#\"I\"", "OK\n"},
        {"LOCK -^b", "OK\n"},
        {"LOCK", "OK\n"},
        {"LOCK +^d#\"D\":0.001", "OK 1 20\n"},
    };
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_outcome got;
    nslock_error err;
    assert_int_equal(nslock_lock(c, "^a(1)", NSLOCK_SHARED | NSLOCK_ESCALATING, 2.5, &got, &err), 0);
    assert_int_equal(got.test, 1);
    assert_int_equal(got.token, 17);
    assert_int_equal(err.code, NSLOCK_E_OK);
    assert_int_equal(nslock_lock(c, "^b", NSLOCK_EXCLUSIVE, 0, &got, &err), 0);
    assert_int_equal(got.test, 0);
    assert_int_equal(got.token, 0);
    assert_int_equal(nslock_lock(c, "^c", NSLOCK_EXCLUSIVE, NSLOCK_WAIT_FOREVER, &got, &err), 0);
    assert_int_equal(got.test, 1);
    assert_true(got.token == UINT64_MAX);
    const char *names[] = {"^a", "^b(\"x,y\")"};
    assert_int_equal(nslock_lock_names(c, names, 2, NSLOCK_SHARED, 0.25, &got, &err), 0);
    assert_int_equal(got.token, 19);
    assert_int_equal(nslock_unlock(c, "^a(1)", NSLOCK_IMMEDIATE, &err), 0);
    assert_int_equal(nslock_unlock(c, "^b", 0, &err), 0);
    assert_int_equal(nslock_unlock_all(c, &err), 0);
    /* out may be NULL; a timeout is written in milliseconds, zeros dropped */
    assert_int_equal(nslock_lock(c, "^d", NSLOCK_DEFERRED, 0.0012, NULL, &err), 0);
    nslock_close(c);
    finish_fake();
}

static void test_command_text(void **state)
{
    (void)state;
    static const step script[] = {
        HELLO,
        /* a command of several arguments goes one argument a request, so
         * that each answer tells what its argument did (the mirror) */
        {"LOCK +^a(\"x,y:z\"):1", "OK 1 5\n"},
        {"LOCK -^b", "OK\n"},
        {"LOCK", "OK\n"},
        {"lock -^a", "OK\n"},
    };
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_outcome got;
    nslock_error err;
    assert_int_equal(nslock_command(c, "L +^a(\"x,y:z\"):1,-^b", &got, &err), 0);
    assert_int_equal(got.test, 1);
    assert_int_equal(got.token, 5);
    assert_int_equal(nslock_command(c, "LOCK", &got, &err), 0);
    assert_int_equal(got.test, -1);
    assert_int_equal(nslock_command(c, "lock -^a", &got, &err), 0);
    assert_int_equal(got.test, -1);
    nslock_close(c);
    finish_fake();
}

static void test_server_error_keeps_connection(void **state)
{
    (void)state;
    static const step script[] = {
        HELLO,
        {"LOCK +^a", "ERR DEADLOCK cycle: session 7 -> session 8 -> session 7\n"},
        {"PING", "OK PONG\n"},
        {"NS NOPE", "ERR NAMESPACE unknown namespace 'NOPE'\n"},
        {"PING", "ERR NEWCODE something new\n"},
        {"PING", "OK PONG\n"},
    };
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_error err;
    assert_int_equal(nslock_lock(c, "^a", 0, -1, NULL, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_DEADLOCK);
    assert_string_equal(err.name, "DEADLOCK");
    assert_string_equal(err.message, "cycle: session 7 -> session 8 -> session 7");
    assert_int_equal(nslock_ping(c, &err), 0);
    assert_int_equal(nslock_namespace(c, "NOPE", &err), -1);
    assert_int_equal(err.code, NSLOCK_E_NAMESPACE);
    assert_null(nslock_current_namespace(c));   /* unchanged by a failed NS */
    assert_int_equal(nslock_ping(c, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_UNKNOWN);
    assert_string_equal(err.name, "NEWCODE");
    assert_string_equal(err.message, "something new");
    assert_int_equal(nslock_ping(c, NULL), 0);   /* err may be NULL */
    nslock_close(c);
    finish_fake();
}

static void test_bad_arguments_send_nothing(void **state)
{
    (void)state;
    /* every bad call below fails before sending: the server sees one PING */
    static const step script[] = {HELLO, {"PING", "OK PONG\n"}};
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_error err;
    static const char *bad_names[] = {
        "", "^a\n", "^a,-^b", "^a:5", "^a#\"S\"", "^a ^b", "-^a", "+^a", "(^a,^b)",
        "^a(\"x)", "^a(1", "^a(1))x(",
    };
    for (size_t i = 0; i < NSTEPS(bad_names); i++) {
        err.code = NSLOCK_E_OK;
        assert_int_equal(nslock_lock(c, bad_names[i], 0, 1, NULL, &err), -1);
        assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
        assert_int_equal(nslock_unlock(c, bad_names[i], 0, &err), -1);
        assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
    }
    assert_int_equal(nslock_lock(c, NULL, 0, 1, NULL, &err), -1);
    assert_int_equal(nslock_lock_names(c, NULL, 0, 0, 1, NULL, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
    assert_int_equal(nslock_lock(c, "^a", 1u << 4, 1, NULL, &err), -1);
    assert_non_null(strstr(err.message, "type"));
    assert_int_equal(nslock_lock(c, "^a", 0, NAN, NULL, &err), -1);
    assert_non_null(strstr(err.message, "timeout"));
    assert_int_equal(nslock_command(c, "+^a", NULL, &err), -1);
    assert_non_null(strstr(err.message, "LOCK"));
    assert_int_equal(nslock_command(c, "LOCKS ^a", NULL, &err), -1);
    assert_int_equal(nslock_command(c, "LOCK ^a\nPING", NULL, &err), -1);
    assert_int_equal(nslock_command(c, NULL, NULL, &err), -1);
    assert_int_equal(nslock_namespace(c, "A B", &err), -1);
    assert_int_equal(nslock_namespace(c, "", &err), -1);
    nslock_remove_filter none = {0};
    assert_int_equal(nslock_remove(c, &none, NULL, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
    nslock_show_filter badshow = {.database = "A\tB"};
    nslock_entry *rows;
    size_t count;
    assert_int_equal(nslock_show(c, &badshow, &rows, &count, &err), -1);
    assert_null(rows);
    assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
    assert_int_equal(nslock_ping(c, &err), 0);
    nslock_close(c);
    finish_fake();
}

/* ---- transactions, namespace, remove ------------------------------------------------ */

static void test_transactions_and_admin(void **state)
{
    (void)state;
    static const step script[] = {
        HELLO,
        {"NS beta", "OK\n"},
        {"TSTART", "OK 1\n"},
        {"TSTART", "OK 2\n"},
        {"TROLLBACK 1", "OK 1\n"},
        {"TCOMMIT", "OK 0\n"},
        {"TROLLBACK", "ERR COMMAND no transaction is open\n"},
        {"REMOVE owner=3 pid=99 database=ALPHADB name=^a(\"x y\")", "OK 2\n"},
        {"REMOVE owner=4", "ERR NOTFOUND no entry of owner 4\n"},
    };
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_error err;
    int level = -1;
    assert_int_equal(nslock_namespace(c, "beta", &err), 0);
    assert_string_equal(nslock_current_namespace(c), "BETA");
    assert_int_equal(nslock_tstart(c, &level, &err), 0);
    assert_int_equal(level, 1);
    assert_int_equal(nslock_tstart(c, &level, &err), 0);
    assert_int_equal(level, 2);
    assert_int_equal(nslock_trollback(c, 1, &level, &err), 0);
    assert_int_equal(level, 1);
    assert_int_equal(nslock_tcommit(c, &level, &err), 0);
    assert_int_equal(level, 0);
    assert_int_equal(nslock_trollback(c, 0, &level, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_COMMAND);
    nslock_remove_filter f = {.owner = 3, .pid = 99, .database = "ALPHADB", .name = "^a(\"x y\")"};
    uint64_t removed = 0;
    assert_int_equal(nslock_remove(c, &f, &removed, &err), 0);
    assert_int_equal(removed, 2);
    nslock_remove_filter g = {.owner = 4};
    assert_int_equal(nslock_remove(c, &g, &removed, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_NOTFOUND);
    nslock_close(c);
    finish_fake();
}

/* ---- multi-line answers ----------------------------------------------------------- */

#define ROW1 "ALPHADB\t/data/alpha\t3\t4242\tapp\tExclusive\t^MyGlobal(15)\tBETA\t" \
             "2026-11-21T14:03:07.512Z\t17\t-\n"
#define ROW2 "ALPHADB\t/data/alpha\t5\t-\t-\tWaitShared\t^MyGlobal(15)\tALPHA\t" \
             "2026-11-21T14:03:08.001Z\t-\t3,4\n"

static void test_show_rows(void **state)
{
    (void)state;
    static const step script[] = {
        HELLO,
        {"SHOW database=ALPHADB namespace=BETA owner=3 pid=4242 nowaiters name=^MyGlobal(\"a b\")",
         "DATA 2\n" ROW1 ROW2},
        {"SHOW", "DATA 0\n"},
    };
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_show_filter f = {.database = "ALPHADB", .namespace_name = "BETA", .owner = 3,
                            .pid = 4242, .name_prefix = "^MyGlobal(\"a b\")", .no_waiters = 1};
    nslock_entry *rows;
    size_t count;
    nslock_error err;
    assert_int_equal(nslock_show(c, &f, &rows, &count, &err), 0);
    assert_int_equal(count, 2);
    assert_string_equal(rows[0].database, "ALPHADB");
    assert_string_equal(rows[0].directory, "/data/alpha");
    assert_int_equal(rows[0].owner, 3);
    assert_int_equal(rows[0].pid, 4242);
    assert_string_equal(rows[0].client, "app");
    assert_string_equal(rows[0].mode, "Exclusive");
    assert_string_equal(rows[0].name, "^MyGlobal(15)");
    assert_string_equal(rows[0].namespace_name, "BETA");
    assert_string_equal(rows[0].since, "2026-11-21T14:03:07.512Z");
    assert_int_equal(rows[0].token, 17);
    assert_int_equal(rows[0].waiting, 0);
    assert_string_equal(rows[0].blockers, "");
    assert_int_equal(rows[1].owner, 5);
    assert_int_equal(rows[1].pid, 0);
    assert_string_equal(rows[1].client, "");
    assert_string_equal(rows[1].mode, "WaitShared");
    assert_int_equal(rows[1].waiting, 1);
    assert_int_equal(rows[1].token, 0);
    assert_string_equal(rows[1].blockers, "3,4");
    nslock_free(rows);
    assert_int_equal(nslock_show(c, NULL, &rows, &count, &err), 0);
    assert_int_equal(count, 0);
    nslock_free(rows);
    nslock_close(c);
    finish_fake();
}

static void test_show_iterator(void **state)
{
    (void)state;
    static const step script[] = {
        HELLO,
        {"SHOW", "DATA 2\n" ROW1 ROW2},
        {"SHOW nowaiters", "DATA 2\n" ROW1 ROW1},
        {"PING", "OK PONG\n"},
    };
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_entry row;
    nslock_error err;
    size_t count = 0;
    assert_int_equal(nslock_show_begin(c, NULL, &count, &err), 0);
    assert_int_equal(count, 2);
    assert_int_equal(nslock_show_next(c, &row, &err), 1);
    assert_string_equal(row.name, "^MyGlobal(15)");
    assert_int_equal(row.owner, 3);
    assert_int_equal(nslock_show_next(c, &row, &err), 1);
    assert_int_equal(row.owner, 5);
    assert_string_equal(row.blockers, "3,4");
    assert_int_equal(nslock_show_next(c, &row, &err), 0);
    assert_int_equal(nslock_show_next(c, &row, &err), 0);
    /* a row left unread is skipped by the next request */
    nslock_show_filter f = {.no_waiters = 1};
    assert_int_equal(nslock_show_begin(c, &f, NULL, &err), 0);
    assert_int_equal(nslock_show_next(c, &row, &err), 1);
    assert_int_equal(nslock_ping(c, &err), 0);
    nslock_close(c);
    finish_fake();
}

static void test_resolve_and_stats(void **state)
{
    (void)state;
    static const step script[] = {
        HELLO,
        {"RESOLVE ^MyGlobal(15)",
         "DATA 2\nALPHADB\t/data/alpha\tmap\tMyGlobal(15)\nBETADB\t/data/beta\tnamespace\t-\n"},
        {"STATS", "DATA 4\nentries\t12\nmax_entries\t1000000\nsessions\t3\nnew_counter\t9\n"},
        {"STATS", "DATA 2\nwaiters\t1\ntable_full_episodes\t4\n"},
    };
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_resolution *res;
    nslock_stat *items;
    size_t count;
    nslock_error err;
    assert_int_equal(nslock_resolve(c, "^MyGlobal(15)", &res, &count, &err), 0);
    assert_int_equal(count, 2);
    assert_string_equal(res[0].database, "ALPHADB");
    assert_string_equal(res[0].directory, "/data/alpha");
    assert_string_equal(res[0].rule, "map");
    assert_string_equal(res[0].mapping, "MyGlobal(15)");
    assert_string_equal(res[1].database, "BETADB");
    assert_string_equal(res[1].rule, "namespace");
    assert_string_equal(res[1].mapping, "");
    nslock_free(res);
    assert_int_equal(nslock_stats_list(c, &items, &count, &err), 0);
    assert_int_equal(count, 4);
    assert_string_equal(items[0].key, "entries");
    assert_int_equal(items[0].value, 12);
    assert_string_equal(items[3].key, "new_counter");
    assert_int_equal(items[3].value, 9);
    nslock_free(items);
    nslock_stats st;
    assert_int_equal(nslock_stats_get(c, &st, &err), 0);
    assert_int_equal(st.waiters, 1);
    assert_int_equal(st.table_full_episodes, 4);
    assert_int_equal(st.entries, 0);   /* not reported */
    nslock_close(c);
    finish_fake();
}

/* ---- broken answers ------------------------------------------------------------------ */

static void expect_closed(nslock *c)
{
    nslock_error err;
    assert_int_equal(nslock_ping(c, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_IO);
    assert_non_null(strstr(err.message, "closed"));
}

static void test_garbage_answer_closes(void **state)
{
    (void)state;
    static const step script[] = {HELLO, {"PING", "PONG?\n"}};
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_error err;
    assert_int_equal(nslock_ping(c, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_PROTOCOL);
    expect_closed(c);
    nslock_close(c);
    finish_fake();
}

static void test_bad_lock_answer_closes(void **state)
{
    (void)state;
    static const step script[] = {HELLO, {"LOCK +^a:1", "OK 1 abc\n"}};
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_error err;
    assert_int_equal(nslock_lock(c, "^a", 0, 1, NULL, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_PROTOCOL);
    expect_closed(c);
    nslock_close(c);
    finish_fake();
}

static void test_short_data_closes(void **state)
{
    (void)state;
    static const step script[] = {HELLO, {"SHOW", "DATA 1\nALPHADB\t/data/alpha\t3\n"}};
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_entry *rows;
    size_t count;
    nslock_error err;
    assert_int_equal(nslock_show(c, NULL, &rows, &count, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_PROTOCOL);
    assert_null(rows);
    assert_int_equal(count, 0);
    expect_closed(c);
    nslock_close(c);
    finish_fake();
}

static void test_data_where_ok_expected(void **state)
{
    (void)state;
    static const step script[] = {HELLO, {"TSTART", "DATA 1\nx\n"}};
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_error err;
    assert_int_equal(nslock_tstart(c, NULL, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_PROTOCOL);
    expect_closed(c);
    nslock_close(c);
    finish_fake();
}

static void test_server_closes_mid_answer(void **state)
{
    (void)state;
    static const step script[] = {HELLO, {"STATS", CLOSE "DATA 3\nentries\t1\n"}};
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_stat *items;
    size_t count;
    nslock_error err;
    assert_int_equal(nslock_stats_list(c, &items, &count, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_IO);
    assert_non_null(strstr(err.message, "closed the connection"));
    assert_null(items);
    expect_closed(c);
    nslock_close(c);
    finish_fake();
}

/* ---- client-side timeouts ------------------------------------------------------------ */

static void test_lock_gives_up_after_grace(void **state)
{
    (void)state;
    static const step script[] = {HELLO, {"LOCK +^a:0.05", HANG}};
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_error err;
    nslock_set_grace(c, 0.05);
    assert_int_equal(nslock_lock(c, "^a", 0, 0.05, NULL, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_TIMEOUT);
    assert_string_equal(err.name, "TIMEOUT");
    /* the answer may still come: the stream is out of step, so it is closed */
    expect_closed(c);
    nslock_close(c);
    finish_fake();
}

static void test_command_gives_up_after_its_timeouts(void **state)
{
    (void)state;
    static const step script[] = {HELLO, {"LOCK +^a:0.02", "OK 0\n"}, {"LOCK -^b", "OK\n"},
                                  {"LOCK +(^c,^d):0.03", HANG}};
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_error err;
    nslock_set_grace(c, 0.02);
    assert_int_equal(nslock_command(c, "LOCK +^a:0.02,-^b,+(^c,^d):0.03", NULL, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_TIMEOUT);
    expect_closed(c);
    nslock_close(c);
    finish_fake();
}

static void test_plain_request_gives_up_after_grace(void **state)
{
    (void)state;
    static const step script[] = {HELLO, {"STATS", HANG}};
    nslock *c = connect_fake(script, NSTEPS(script));
    nslock_stat *items;
    size_t count;
    nslock_error err;
    nslock_set_grace(c, 0.02);
    assert_int_equal(nslock_stats_list(c, &items, &count, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_TIMEOUT);
    nslock_close(c);
    finish_fake();
}

static void test_error_names(void **state)
{
    (void)state;
    assert_string_equal(nslock_errname(NSLOCK_E_DEADLOCK), "DEADLOCK");
    assert_string_equal(nslock_errname(NSLOCK_E_OK), "OK");
    assert_string_equal(nslock_errname(NSLOCK_E_NOTFOUND), "NOTFOUND");
    assert_string_equal(nslock_errname(12345), "UNKNOWN");
    assert_true(strlen(nslock_strerror(NSLOCK_E_TIMEOUT)) > 0);
    nslock_close(NULL);
    nslock_error err;
    assert_int_equal(nslock_ping(NULL, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_gives_session),
        cmocka_unit_test(test_hello_without_name),
        cmocka_unit_test(test_hello_wrong_version),
        cmocka_unit_test(test_hello_not_nslock),
        cmocka_unit_test(test_connect_errors),
        cmocka_unit_test(test_default_socket),
        cmocka_unit_test(test_connect_uses_env_socket),
        cmocka_unit_test(test_refuses_a_foreign_server),
        cmocka_unit_test(test_lock_requests),
        cmocka_unit_test(test_command_text),
        cmocka_unit_test(test_server_error_keeps_connection),
        cmocka_unit_test(test_bad_arguments_send_nothing),
        cmocka_unit_test(test_transactions_and_admin),
        cmocka_unit_test(test_show_rows),
        cmocka_unit_test(test_show_iterator),
        cmocka_unit_test(test_resolve_and_stats),
        cmocka_unit_test(test_garbage_answer_closes),
        cmocka_unit_test(test_bad_lock_answer_closes),
        cmocka_unit_test(test_short_data_closes),
        cmocka_unit_test(test_data_where_ok_expected),
        cmocka_unit_test(test_server_closes_mid_answer),
        cmocka_unit_test(test_lock_gives_up_after_grace),
        cmocka_unit_test(test_command_gives_up_after_its_timeouts),
        cmocka_unit_test(test_plain_request_gives_up_after_grace),
        cmocka_unit_test(test_error_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
