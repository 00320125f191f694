/* libnslock against a real `nslock serve` (NSL_BINARY) on a socket in a
 * temporary directory, configured with the namespaces of docs/CONFIG.md. Where a
 * test needs a second session that waits while the test goes on, that
 * session is a raw socket speaking the protocol by hand. */
#include <ftw.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/nslock.h"

static char dir[64], sock_path[128], log_path[128];
static pid_t server_pid;

static const char config_text[] =
    "lock_table:\n"
    "  deadlock_check_ms: 100\n"
    "server:\n"
    "  socket: %s\n"
    "default_namespace: USER\n"
    "local_locks: USERDB\n"
    "databases:\n"   /* in name order, so "sorted by database" means one thing */
    "  ALPHADB: { directory: /data/alpha }\n"
    "  BETADB:  { directory: /data/beta }\n"
    "  USERDB:  { directory: /data/user }\n"
    "namespaces:\n"
    "  USER:  { globals: USERDB }\n"
    "  ALPHA: { globals: ALPHADB }\n"
    "  BETA:\n"
    "    globals: BETADB\n"
    "    map:\n"
    "      MyGlobal(15): ALPHADB\n";

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void print_log(void)
{
    FILE *f = fopen(log_path, "r");
    char line[512];
    if (f == NULL)
        return;
    fprintf(stderr, "--- server log:\n");
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fclose(f);
}

static int start_server(void **state)
{
    (void)state;
    char config_path[128];
    snprintf(dir, sizeof dir, "/tmp/nslock-client.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(sock_path, sizeof sock_path, "%s/s.sock", dir);
    snprintf(log_path, sizeof log_path, "%s/server.log", dir);
    snprintf(config_path, sizeof config_path, "%s/config.yaml", dir);
    FILE *f = fopen(config_path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, config_text, sock_path);
    fclose(f);
    fflush(NULL);
    server_pid = fork();
    if (server_pid < 0)
        return -1;
    if (server_pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        char state_dir[160];
        snprintf(state_dir, sizeof state_dir, "%s/state", dir);
        execl(NSL_BINARY, NSL_BINARY, "serve", "--config", config_path, "--state-dir", state_dir,
              (char *)NULL);
        _exit(127);
    }
    /* ready when a client gets through (bounded: a broken server fails here) */
    for (int i = 0; i < 500; i++) {
        nslock *c;
        if (nslock_connect(&c, sock_path, "probe", NULL) == 0) {
            nslock_close(c);
            return 0;
        }
        if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
            server_pid = 0;
            break;
        }
        pause_ms(20);
    }
    fprintf(stderr, "the server did not come up on %s\n", sock_path);
    print_log();
    return -1;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    /* the configuration, the log, the socket, the server's state directory */
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static nslock *open_session(const char *name, const char *ns)
{
    nslock *c;
    nslock_error err;
    if (nslock_connect(&c, sock_path, name, &err) < 0) {
        print_log();
        fail_msg("connect: %s %s", err.name, err.message);
    }
    if (ns && nslock_namespace(c, ns, &err) < 0)
        fail_msg("NS %s: %s %s", ns, err.name, err.message);
    return c;
}

/* ---- a raw protocol session ------------------------------------------------------- */

typedef struct raw {
    int fd;
    char buf[4096];
    size_t len;
} raw;

static void raw_send(raw *r, const char *line)
{
    size_t n = strlen(line);
    assert_int_equal(write(r->fd, line, n), (ssize_t)n);
    assert_int_equal(write(r->fd, "\n", 1), 1);
}

/* The next answer line (at most 10 s away). */
static void raw_read(raw *r, char *line, size_t cap)
{
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl) {
            size_t n = (size_t)(nl - r->buf);
            assert_true(n < cap);
            memcpy(line, r->buf, n);
            line[n] = '\0';
            memmove(r->buf, nl + 1, r->len - n - 1);
            r->len -= n + 1;
            return;
        }
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 10000), 1);
        ssize_t got = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        assert_true(got > 0);
        r->len += (size_t)got;
    }
}

static void raw_open(raw *r, const char *name)
{
    char line[256];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    r->len = 0;
    r->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(r->fd >= 0);
    assert_int_equal(connect(r->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    snprintf(line, sizeof line, "HELLO name=%s", name);
    raw_send(r, line);
    raw_read(r, line, sizeof line);
    assert_int_equal(strncmp(line, "OK nslock 1 session ", 20), 0);
}

/* The session id of a raw session, from the table (its only row waiting). */
static uint64_t waiter_owner(nslock *c, const char *name)
{
    for (int i = 0; i < 500; i++) {
        nslock_entry row;
        nslock_show_filter f = {.name_prefix = name};
        nslock_error err;
        assert_int_equal(nslock_show_begin(c, &f, NULL, &err), 0);
        int rc;
        while ((rc = nslock_show_next(c, &row, &err)) == 1)
            if (row.waiting)
                return row.owner;
        assert_int_equal(rc, 0);
        pause_ms(20);
    }
    fail_msg("no waiting request on %s appeared", name);
    return 0;
}

/* ---- the tests -------------------------------------------------------------------- */

static void test_lock_shows_every_column(void **state)
{
    (void)state;
    nslock *a = open_session("alpha-app", "BETA");
    nslock_outcome got;
    nslock_error err;
    assert_int_equal(nslock_lock(a, "^MyGlobal(15)", NSLOCK_EXCLUSIVE, 5, &got, &err), 0);
    assert_int_equal(got.test, 1);
    assert_true(got.token > 0);

    nslock_show_filter f = {.owner = nslock_session_id(a)};
    nslock_entry *rows;
    size_t n;
    assert_int_equal(nslock_show(a, &f, &rows, &n, &err), 0);
    assert_int_equal(n, 2);   /* docs/CONFIG.md: BETA's ^MyGlobal(15) lands in ALPHADB and BETADB */
    static const char *dbs[] = {"ALPHADB", "BETADB"}, *dirs[] = {"/data/alpha", "/data/beta"};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(rows[i].database, dbs[i]);
        assert_string_equal(rows[i].directory, dirs[i]);
        assert_int_equal(rows[i].owner, nslock_session_id(a));
        assert_int_equal(rows[i].pid, getpid());
        assert_string_equal(rows[i].client, "alpha-app");
        assert_string_equal(rows[i].mode, "Exclusive");
        assert_string_equal(rows[i].name, "^MyGlobal(15)");
        assert_string_equal(rows[i].namespace_name, "BETA");
        assert_int_equal(strlen(rows[i].since), 24);   /* 2026-11-21T14:03:07.512Z */
        assert_int_equal(rows[i].since[10], 'T');
        assert_int_equal(rows[i].since[23], 'Z');
        assert_int_equal(rows[i].token, got.token);
        assert_int_equal(rows[i].waiting, 0);
        assert_string_equal(rows[i].blockers, "");
    }
    nslock_free(rows);

    assert_int_equal(nslock_unlock(a, "^MyGlobal(15)", NSLOCK_EXCLUSIVE, &err), 0);
    assert_int_equal(nslock_show(a, &f, &rows, &n, &err), 0);
    assert_int_equal(n, 0);
    nslock_free(rows);
    nslock_close(a);
}

static void test_conflict_across_namespaces(void **state)
{
    (void)state;
    nslock *a = open_session("a", "BETA"), *b = open_session("b", "ALPHA");
    nslock_outcome ga, gb;
    nslock_error err;
    assert_int_equal(nslock_lock(a, "^MyGlobal(15)", 0, 0, &ga, &err), 0);
    assert_int_equal(ga.test, 1);
    /* same database ALPHADB, overlapping names */
    assert_int_equal(nslock_lock(b, "^MyGlobal(15,3)", 0, 0, &gb, &err), 0);
    assert_int_equal(gb.test, 0);
    assert_int_equal(nslock_lock(b, "^MyGlobal", NSLOCK_SHARED, 0.05, &gb, &err), 0);
    assert_int_equal(gb.test, 0);
    assert_int_equal(nslock_lock(b, "^MyGlobal(16)", 0, 0, &gb, &err), 0);
    assert_int_equal(gb.test, 1);
    assert_true(gb.token > ga.token);   /* fencing tokens increase */
    nslock_close(a);
    nslock_close(b);
}

static void test_waiter_row_then_grant(void **state)
{
    (void)state;
    nslock *a = open_session("holder", NULL);
    nslock_outcome got;
    nslock_error err;
    char line[256];
    assert_int_equal(nslock_lock(a, "^w(1)", 0, 0, &got, &err), 0);
    assert_int_equal(got.test, 1);
    raw r;
    raw_open(&r, "waiter");
    raw_send(&r, "LOCK +^w(1):30");
    uint64_t waiter = waiter_owner(a, "^w");

    nslock_show_filter f = {.owner = waiter};
    nslock_entry *rows;
    size_t n;
    char blockers[32];
    snprintf(blockers, sizeof blockers, "%llu", (unsigned long long)nslock_session_id(a));
    assert_int_equal(nslock_show(a, &f, &rows, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].mode, "WaitExclusive");
    assert_string_equal(rows[0].client, "waiter");
    assert_string_equal(rows[0].database, "USERDB");
    assert_int_equal(rows[0].token, 0);
    assert_int_equal(rows[0].waiting, 1);
    assert_string_equal(rows[0].blockers, blockers);
    nslock_free(rows);
    nslock_show_filter held = {.no_waiters = 1, .name_prefix = "^w"};
    assert_int_equal(nslock_show(a, &held, &rows, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].owner, nslock_session_id(a));
    nslock_free(rows);

    assert_int_equal(nslock_unlock(a, "^w(1)", 0, &err), 0);
    raw_read(&r, line, sizeof line);
    unsigned long long token;
    assert_int_equal(sscanf(line, "OK 1 %llu", &token), 1);
    assert_true(token > got.token);
    close(r.fd);
    nslock_close(a);
}

static void test_deadlock_is_reported(void **state)
{
    (void)state;
    nslock *a = open_session("a", NULL);
    nslock_outcome got;
    nslock_error err;
    char line[256];
    raw r;
    raw_open(&r, "b");
    assert_int_equal(nslock_lock(a, "^d(1)", 0, 0, &got, &err), 0);
    raw_send(&r, "LOCK +^d(2)");
    raw_read(&r, line, sizeof line);
    assert_int_equal(strncmp(line, "OK 1 ", 5), 0);
    raw_send(&r, "LOCK +^d(1)");
    waiter_owner(a, "^d(1)");
    /* a now closes the cycle; its request is the newest, so it is refused */
    assert_int_equal(nslock_lock(a, "^d(2)", 0, 20, &got, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_DEADLOCK);
    assert_string_equal(err.name, "DEADLOCK");
    assert_true(strlen(err.message) > 0);
    /* the session goes on, holding what it held */
    assert_int_equal(nslock_ping(a, &err), 0);
    assert_int_equal(nslock_unlock_all(a, &err), 0);
    raw_read(&r, line, sizeof line);
    assert_int_equal(strncmp(line, "OK 1 ", 5), 0);
    close(r.fd);
    nslock_close(a);
}

static void test_transaction_defers_unlock(void **state)
{
    (void)state;
    nslock *a = open_session("tx", NULL);
    nslock_error err;
    nslock_entry *rows;
    size_t n;
    int level = -1;
    nslock_show_filter f = {.name_prefix = "^t"};
    assert_int_equal(nslock_tstart(a, &level, &err), 0);
    assert_int_equal(level, 1);
    assert_int_equal(nslock_lock(a, "^t(1)", 0, 1, NULL, &err), 0);
    assert_int_equal(nslock_unlock(a, "^t(1)", 0, &err), 0);
    assert_int_equal(nslock_show(a, &f, &rows, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].mode, "Exclusive->Delock");
    nslock_free(rows);
    assert_int_equal(nslock_tcommit(a, &level, &err), 0);
    assert_int_equal(level, 0);
    assert_int_equal(nslock_show(a, &f, &rows, &n, &err), 0);
    assert_int_equal(n, 0);
    nslock_free(rows);
    assert_int_equal(nslock_trollback(a, 1, &level, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_COMMAND);
    nslock_close(a);
}

static void test_errors_keep_the_session(void **state)
{
    (void)state;
    nslock *a = open_session("errs", NULL);
    nslock_outcome got;
    nslock_error err;
    assert_int_equal(nslock_lock(a, "^keep", 0, 0, &got, &err), 0);
    assert_int_equal(nslock_command(a, "LOCK +^a(", NULL, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_SYNTAX);
    assert_int_equal(nslock_namespace(a, "NOSUCH", &err), -1);
    assert_int_equal(err.code, NSLOCK_E_NAMESPACE);
    assert_int_equal(nslock_lock(a, "^e", NSLOCK_ESCALATING, 0, NULL, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_COMMAND);
    assert_int_equal(nslock_lock(a, "^e(1)", NSLOCK_IMMEDIATE | NSLOCK_DEFERRED, 0, NULL, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_COMMAND);
    assert_int_equal(nslock_ping(a, &err), 0);
    nslock_show_filter f = {.owner = nslock_session_id(a)};
    nslock_entry *rows;
    size_t n;
    assert_int_equal(nslock_show(a, &f, &rows, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].name, "^keep");
    nslock_free(rows);
    nslock_close(a);
}

static void test_command_text_outcome(void **state)
{
    (void)state;
    nslock *a = open_session("text", NULL);
    nslock_outcome got;
    nslock_error err;
    assert_int_equal(nslock_command(a, "LOCK +^m(1):1,+^m(2)#\"S\":1", &got, &err), 0);
    assert_int_equal(got.test, 1);
    assert_true(got.token > 0);
    assert_int_equal(nslock_command(a, "L -^m(1),-^m(2)#\"S\"", &got, &err), 0);
    assert_int_equal(got.test, -1);
    nslock_close(a);
}

static void test_resolve_rows(void **state)
{
    (void)state;
    nslock *a = open_session("resolver", "BETA");
    nslock_resolution *res;
    size_t n;
    nslock_error err;
    assert_int_equal(nslock_resolve(a, "^MyGlobal(15)", &res, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(res[0].database, "ALPHADB");
    assert_string_equal(res[0].directory, "/data/alpha");
    assert_string_equal(res[0].rule, "map");
    assert_string_equal(res[1].database, "BETADB");
    assert_string_equal(res[1].rule, "namespace");
    nslock_free(res);
    assert_int_equal(nslock_resolve(a, "x(1)", &res, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(res[0].database, "USERDB");
    assert_string_equal(res[0].rule, "local");
    nslock_free(res);
    nslock_close(a);
}

static void test_stats_count_entries(void **state)
{
    (void)state;
    nslock *a = open_session("stats", NULL);
    nslock_stats before, after;
    nslock_error err;
    assert_int_equal(nslock_stats_get(a, &before, &err), 0);
    assert_int_equal(before.entries, 0);
    assert_true(before.sessions >= 1);
    assert_true(before.max_entries > 0);
    const char *names[] = {"s1", "s2", "s3"};
    assert_int_equal(nslock_lock_names(a, names, 3, 0, 0, NULL, &err), 0);
    assert_int_equal(nslock_stats_get(a, &after, &err), 0);
    assert_int_equal(after.entries, 3);
    assert_true(after.grants > before.grants);
    nslock_close(a);
}

static void test_remove_and_close_release(void **state)
{
    (void)state;
    nslock *a = open_session("victim", NULL), *b = open_session("admin", NULL);
    nslock_error err;
    nslock_outcome got;
    assert_int_equal(nslock_lock(a, "^r(1)", 0, 0, NULL, &err), 0);
    assert_int_equal(nslock_lock(a, "^r(2)", 0, 0, NULL, &err), 0);
    nslock_remove_filter f = {.owner = nslock_session_id(a)};
    uint64_t removed = 0;
    assert_int_equal(nslock_remove(b, &f, &removed, &err), 0);
    assert_int_equal(removed, 2);
    assert_int_equal(nslock_remove(b, &f, &removed, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_NOTFOUND);
    assert_int_equal(nslock_lock(b, "^r(1)", 0, 0, &got, &err), 0);
    assert_int_equal(got.test, 1);
    assert_int_equal(nslock_unlock_all(b, &err), 0);
    /* a is told on its next call, which is not run */
    assert_int_equal(nslock_lock(a, "^c", 0, 0, &got, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_LOST);

    /* closing ends the session: what it held is free at once */
    assert_int_equal(nslock_lock(a, "^c", 0, 0, &got, &err), 0);
    assert_int_equal(got.test, 1);
    nslock_close(a);
    assert_int_equal(nslock_lock(b, "^c", 0, 5, &got, &err), 0);
    assert_int_equal(got.test, 1);
    nslock_close(b);
}

/* Last: stops the server under a waiting lock. */
/* Without restart recovery (the library's no_recovery option) a stopping
 * server's SHUTDOWN reaches the caller as it is; with it, the library
 * would wait for the server to come back (test_client_recovery.c). */
static void test_shutdown_answers_waiters(void **state)
{
    (void)state;
    nslock *a;
    nslock_error err;
    nslock_options plain = {.socket_path = sock_path, .client_name = "holder", .no_recovery = 1};
    assert_int_equal(nslock_open(&a, &plain, &err), 0);
    assert_int_equal(nslock_lock(a, "^z", 0, 0, NULL, &err), 0);
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        /* the waiter: its exit status is the library's error code */
        nslock *w;
        plain.client_name = "waiter";
        if (nslock_open(&w, &plain, &err) < 0)
            _exit(200);
        int rc = nslock_lock(w, "^z", 0, NSLOCK_WAIT_FOREVER, NULL, &err);
        _exit(rc == 0 ? 201 : err.code);
    }
    waiter_owner(a, "^z");
    assert_int_equal(kill(server_pid, SIGTERM), 0);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), NSLOCK_E_SHUTDOWN);
    assert_int_equal(waitpid(server_pid, &status, 0), server_pid);
    server_pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* the holder learns it on its next call */
    assert_int_equal(nslock_ping(a, &err), -1);
    nslock_close(a);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_count_entries),   /* first: the table is empty */
        cmocka_unit_test(test_lock_shows_every_column),
        cmocka_unit_test(test_conflict_across_namespaces),
        cmocka_unit_test(test_waiter_row_then_grant),
        cmocka_unit_test(test_deadlock_is_reported),
        cmocka_unit_test(test_transaction_defers_unlock),
        cmocka_unit_test(test_errors_keep_the_session),
        cmocka_unit_test(test_command_text_outcome),
        cmocka_unit_test(test_resolve_rows),
        cmocka_unit_test(test_remove_and_close_release),
        cmocka_unit_test(test_shutdown_answers_waiters),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
