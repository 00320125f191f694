/* The server's life: SIGTERM with waiters, fencing tokens across restarts
 * and crashes, a stale socket file, a second server on a live socket, the
 * embedded default configuration, a bad configuration, usage. */
#include "server_client.h"

/* Runs `nslock ARGS...` with stderr into t's log; returns its pid. */
static pid_t spawn_args(const tsrv *t, const char *const *args)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        dup2(fd, 1);
        char *argv[16];
        int n = 0;
        argv[n++] = "nslock";
        for (; args[n - 1] && n < 15; n++)
            argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        setenv("STATE_DIRECTORY", t->state, 1);   /* the default state directory, below it */
        execv(NSL_BINARY, argv);
        _exit(127);
    }
    return pid;
}

/* The exit status of pid, waiting at most 20 s (-1: killed by a signal). */
static int exit_status(pid_t pid)
{
    long deadline = ts_now_ms() + 20000;
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (ts_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("nslock did not exit");
        }
        usleep(5000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Stop accepting, answer waiters SHUTDOWN, remove the socket,
 * exit 0. */
static void sigterm_answers_waiters(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *b = cl_open(&t);
    cl_granted(cl_req(a, "LOCK +^s"));
    cl_send(b, "LOCK +^s\nPING\n");
    long deadline = ts_now_ms() + 5000;
    while (cl_stat(a, "waiters") != 1 && ts_now_ms() < deadline)
        usleep(2000);
    assert_int_equal(kill(t.pid, SIGTERM), 0);
    assert_string_equal(cl_line(b), "ERR SHUTDOWN server stopping");
    assert_string_equal(cl_line(b), "ERR SHUTDOWN server stopping");
    assert_true(cl_closed(b, 5000));
    assert_true(cl_closed(a, 5000));
    assert_int_equal(exit_status(t.pid), 0);
    t.pid = 0;
    struct stat st;
    assert_int_equal(stat(t.sock, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_true(ts_log_contains(&t, "stopping (SIGTERM)"));
    cl_close(a);
    cl_close(b);
    ts_finish(&t);
}

/* Tokens only go up — after a clean restart, and after a crash
 * (SIGKILL leaves a stale socket file, which the next start clears). */
static void tokens_increase_across_restarts(void **state)
{
    (void)state;
    tsrv t;
    /* The SIGKILL below may come before the server has seen the client's
     * close, leaving its session registered: the restart then awaits it,
     * for a grace kept short. */
    ts_start_with(&t, NULL, "server:\n  recovery_grace_s: 1\n");
    tcl *c = cl_open(&t);
    unsigned long long t1 = cl_granted(cl_req(c, "LOCK +^a"));
    unsigned long long t2 = cl_granted(cl_req(c, "LOCK +^b"));
    assert_true(t2 > t1);
    cl_close(c);
    assert_int_equal(ts_stop(&t), 0);

    ts_launch(&t);
    c = cl_open(&t);
    unsigned long long t3 = cl_granted(cl_req(c, "LOCK +^a"));
    assert_true(t3 > t2);
    cl_close(c);

    /* a crash: no chance to write anything on the way out */
    kill(t.pid, SIGKILL);
    waitpid(t.pid, NULL, 0);
    struct stat st;
    assert_int_equal(stat(t.sock, &st), 0);          /* left behind */
    ts_launch(&t);
    c = cl_open(&t);
    unsigned long long t4 = cl_granted(cl_req(c, "LOCK +^a"));
    printf("# tokens: %llu %llu | restart %llu | crash %llu\n", t1, t2, t3, t4);
    assert_true(t4 > t3);
    assert_true(ts_log_contains(&t, "removed the stale socket"));
    char marks[160];
    snprintf(marks, sizeof marks, "%s/tokens", t.state);
    assert_int_equal(stat(marks, &st), 0);
    cl_close(c);
    ts_finish(&t);
}

/* The mark on disk moves ahead while the server runs: after more grants
 * than the first reserved block, a crash still cannot bring back a token. */
static void token_mark_moves_while_serving(void **state)
{
    (void)state;
    enum { GRANTS = 110000 };
    tsrv t;
    /* The crash leaves a holder that never comes back: a short grace. */
    ts_start_with(&t, NULL, "server:\n  recovery_grace_s: 1\n");
    tcl *c = cl_open(&t);
    static char batch[GRANTS * 8];
    for (int i = 0; i < GRANTS; i++)
        memcpy(batch + i * 8, "LOCK ^t\n", 8);          /* simple lock: one new token each */
    cl_sendn(c, batch, sizeof batch);
    unsigned long long last = 0;
    for (int i = 0; i < GRANTS; i++) {
        unsigned long long tok = cl_granted(cl_line(c));
        assert_true(tok > last);
        last = tok;
    }
    assert_true(last > 100000);                          /* beyond the first block */
    kill(t.pid, SIGKILL);
    waitpid(t.pid, NULL, 0);
    cl_close(c);
    ts_launch(&t);
    c = cl_open(&t);
    unsigned long long next = cl_granted(cl_req(c, "LOCK +^a"));
    printf("# %d grants up to token %llu; after a crash: %llu\n", GRANTS, last, next);
    assert_true(next > last);
    /* granted only once the grace ran out for the session that held ^t */
    assert_true(ts_log_contains(&t, "did not come back and lost theirs"));
    cl_close(c);
    ts_finish(&t);
}

/* GRANTS simple locks of ^t, pipelined; every one granted, tokens rising. */
static unsigned long long grant_many(tcl *c, int grants, unsigned long long last)
{
    static char batch[60000 * 8];
    assert_true((size_t)grants * 8 <= sizeof batch);
    for (int i = 0; i < grants; i++)
        memcpy(batch + i * 8, "LOCK ^t\n", 8);
    cl_sendn(c, batch, (size_t)grants * 8);
    for (int i = 0; i < grants; i++) {
        unsigned long long tok = cl_granted(cl_line(c));
        assert_true(tok > last);
        last = tok;
    }
    return last;
}

static bool log_within(const tsrv *t, const char *text, long ms)
{
    long deadline = ts_now_ms() + ms;
    while (!ts_log_contains(t, text)) {
        if (ts_now_ms() > deadline)
            return false;
        usleep(10000);
    }
    return true;
}

/* The mark is moved ahead off the loop. A write that fails there (here the
 * file's temporary name is taken by a directory) is logged, and the
 * server goes on granting; the next raise that succeeds says so. */
static void token_mark_write_failure_is_told(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    char tmp[sizeof t.state + 16];
    snprintf(tmp, sizeof tmp, "%s/tokens.new", t.state);
    assert_int_equal(mkdir(tmp, 0700), 0);
    tcl *c = cl_open(&t);
    unsigned long long last = grant_many(c, 60000, 0);       /* past half the first block */
    assert_true(log_within(&t, "cannot save the fencing-token mark", 10000));
    assert_int_equal(rmdir(tmp), 0);
    last = grant_many(c, 60000, last);                      /* and past the next half */
    assert_true(log_within(&t, "is saved again", 10000));
    /* the session still works, and so does the mark: a crash brings no token back */
    assert_string_equal(cl_req(c, "PING"), "OK PONG");
    kill(t.pid, SIGKILL);
    waitpid(t.pid, NULL, 0);
    cl_close(c);
    ts_launch(&t);
    c = cl_open(&t);
    assert_true(cl_granted(cl_req(c, "LOCK +^a")) > last);
    cl_close(c);
    ts_finish(&t);
}

/* SIGHUP (a reload, a terminal gone) neither kills the server nor goes
 * unsaid. */
static void sighup_is_logged_not_fatal(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *c = cl_open(&t);
    cl_granted(cl_req(c, "LOCK +^kept"));
    kill(t.pid, SIGHUP);
    for (long deadline = ts_now_ms() + 5000; !ts_log_contains(&t, "SIGHUP: ignored");)
        if (ts_now_ms() > deadline)
            fail_msg("no log line for SIGHUP");
    assert_string_equal(cl_req(c, "PING"), "OK PONG");
    tcl *d = cl_open(&t);
    assert_string_equal(cl_req(d, "LOCK +^kept:0"), "OK 0");
    cl_close(d);
    cl_close(c);
    ts_finish(&t);
}

/* The default socket lives in a directory only its user can use,
 * created 0700; one that another user made first (or opened to others) is
 * refused, so nobody can squat the socket. */
static void default_socket_in_a_private_directory(void **state)
{
    (void)state;
    tsrv t;
    ts_make_dir(&t);
    ts_write_config(&t, NULL, NULL);
    char runtime[80], dir[90], sock[104];
    snprintf(runtime, sizeof runtime, "%s/run", t.dir);
    assert_int_equal(mkdir(runtime, 0700), 0);
    snprintf(dir, sizeof dir, "%s/nslock", runtime);
    snprintf(sock, sizeof sock, "%s/nslock.sock", dir);
    setenv("XDG_RUNTIME_DIR", runtime, 1);
    const char *args[] = {"serve", "--config", t.config, NULL};
    t.pid = spawn_args(&t, args);
    ts_track(&t, true);
    for (long deadline = ts_now_ms() + 10000; !ts_can_connect(sock);)
        if (ts_now_ms() > deadline)
            fail_msg("no server on the default socket %s", sock);
    struct stat st;
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(ts_stop(&t), 0);

    chmod(dir, 0777);                                  /* open to others */
    assert_int_equal(exit_status(spawn_args(&t, args)), 1);
    assert_true(ts_log_contains(&t, "is open to other users"));
    chmod(dir, 0700);
    if (geteuid() == 0) {                              /* made by someone else */
        assert_int_equal(chown(dir, 65534, 65534), 0);
        assert_int_equal(exit_status(spawn_args(&t, args)), 1);
        assert_true(ts_log_contains(&t, "is owned by another user"));
    }
    rmdir(dir);
    assert_int_equal(symlink("/tmp", dir), 0);         /* a symlink by its name */
    assert_int_equal(exit_status(spawn_args(&t, args)), 1);
    assert_true(ts_log_contains(&t, "is not a directory"));
    unsetenv("XDG_RUNTIME_DIR");
    ts_remove_dir(&t);
}

/* serve finds its socket as the clients do: $NSLOCK_SOCKET before the
 * configuration's server.socket (docs/PROTOCOL.md). */
static void serve_takes_nslock_socket(void **state)
{
    (void)state;
    tsrv t;
    ts_make_dir(&t);
    char other[128], server[200];
    snprintf(other, sizeof other, "%s/from-config.sock", t.dir);
    snprintf(server, sizeof server, "server:\n  socket: %s\n", other);
    ts_write_config(&t, NULL, server);
    setenv("NSLOCK_SOCKET", t.sock, 1);
    const char *args[] = {"serve", "--config", t.config, NULL};
    t.pid = spawn_args(&t, args);
    ts_track(&t, true);
    unsetenv("NSLOCK_SOCKET");
    for (long deadline = ts_now_ms() + 10000; !ts_can_connect(t.sock);)
        if (ts_now_ms() > deadline)
            fail_msg("the server is not on $NSLOCK_SOCKET");
    struct stat st;
    assert_int_equal(stat(other, &st), -1);
    ts_finish(&t);
}

/* A live server keeps its socket: a second one refuses to start. */
static void second_server_refused(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    const char *args[] = {"serve", "--config", t.config, "--socket", t.sock, NULL};
    pid_t second = spawn_args(&t, args);
    assert_int_equal(exit_status(second), 1);
    assert_true(ts_log_contains(&t, "another nslock server is already listening on"));
    tcl *c = cl_open(&t);
    assert_string_equal(cl_req(c, "PING"), "OK PONG");
    cl_close(c);
    ts_finish(&t);
}

/* No --config: the embedded default, one database USER, namespace USER. */
static void embedded_default_configuration(void **state)
{
    (void)state;
    tsrv t;
    ts_make_dir(&t);
    const char *args[] = {"serve", "--socket", t.sock, "--log-level", "warning", NULL};
    t.pid = spawn_args(&t, args);
    ts_track(&t, true);
    long deadline = ts_now_ms() + 20000;
    while (!ts_can_connect(t.sock) && ts_now_ms() < deadline)
        usleep(5000);
    tcl *c = cl_open(&t);
    cl_granted(cl_req(c, "LOCK +^a(1)"));
    int n;
    char *rows = cl_data(c, "RESOLVE ^a(1)", &n);
    assert_int_equal(n, 1);
    assert_string_equal(rows, "USER\t./data/user\tglobals\t-\n");
    free(rows);
    assert_string_equal(cl_req(c, "NS BETA"), "ERR NAMESPACE unknown namespace 'BETA'");
    cl_close(c);
    ts_finish(&t);
}

/* `nslock serve` on t, as uid (when the test runs as root and uid is not
 * 0: a read-only directory binds root only by its mode bits otherwise). */
static int serve_as(const tsrv *t, uid_t uid)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND, 0666);
        dup2(fd, 2);
        if (uid && geteuid() == 0 && (setgid(uid) != 0 || setuid(uid) != 0))
            _exit(126);
        execl(NSL_BINARY, "nslock", "serve", "--config", t->config, "--socket", t->sock,
              "--state-dir", t->state, (char *)NULL);
        _exit(127);
    }
    return exit_status(pid);
}

static void chown_tree(const char *dir, uid_t uid)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "chown -R %ld:%ld %s", (long)uid, (long)uid, dir);
    assert_int_equal(system(cmd), 0);
}

/* A state directory the server cannot trust or write stops the start, with
 * a message naming the file; it is never silently reset (docs/DESIGN.md). */
static void bad_state_directory_stops_the_start(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *c = cl_open(&t);
    cl_granted(cl_req(c, "LOCK +^held"));
    cl_close(c);
    assert_int_equal(ts_stop(&t), 0);
    uid_t uid = geteuid() == 0 ? 65534 : geteuid();
    chmod(t.dir, 0777);                            /* the socket, for that uid */
    chown_tree(t.state, uid);
    char path[200];

    /* read-only */
    chmod(t.state, 0500);
    assert_int_equal(serve_as(&t, uid), 1);
    assert_true(ts_log_contains(&t, "cannot write"));
    chmod(t.state, 0700);

    /* a damaged epoch */
    snprintf(path, sizeof path, "%s/epoch", t.state);
    ts_write_file(path, "seven\n", 0600);
    chown_tree(t.state, uid);
    assert_int_equal(serve_as(&t, uid), 1);
    assert_true(ts_log_contains(&t, "epoch is damaged"));

    /* the epoch gone while the registry is there */
    unlink(path);
    assert_int_equal(serve_as(&t, uid), 1);
    assert_true(ts_log_contains(&t, "has lost its epoch file"));

    /* a damaged registry */
    ts_write_file(path, "3\n", 0600);
    snprintf(path, sizeof path, "%s/registry", t.state);
    ts_write_file(path, "nslock-registry 1\n+ 1 nothex\n", 0600);
    chown_tree(t.state, uid);
    assert_int_equal(serve_as(&t, uid), 1);
    assert_true(ts_log_contains(&t, "registry:2: damaged record"));
    struct stat st;
    assert_int_equal(stat(t.sock, &st), -1);       /* never listened */
    chown_tree(t.dir, geteuid());
    ts_remove_dir(&t);
}

/* A configuration with errors: compiler-style diagnostics, exit 2, no socket. */
static void bad_configuration_exits_2(void **state)
{
    (void)state;
    tsrv t;
    ts_make_dir(&t);
    ts_write_file(t.config,
                  "databases:\n"
                  "  A: { directory: /a }\n"
                  "namespaces:\n"
                  "  N: { globals: NOPE }\n", 0644);
    const char *args[] = {"serve", "--config", t.config, "--socket", t.sock, NULL};
    assert_int_equal(exit_status(spawn_args(&t, args)), 2);
    char where[160];
    snprintf(where, sizeof where, "%s:4:", t.config);
    assert_true(ts_log_contains(&t, where));
    assert_true(ts_log_contains(&t, "error:"));
    struct stat st;
    assert_int_equal(stat(t.sock, &st), -1);

    const char *missing[] = {"serve", "--config", "/nonexistent/nslock.yaml", NULL};
    assert_int_equal(exit_status(spawn_args(&t, missing)), 2);
    const char *help[] = {"serve", "--help", NULL};
    assert_int_equal(exit_status(spawn_args(&t, help)), 0);
    assert_true(ts_log_contains(&t, "Usage: nslock serve"));
    const char *bad_level[] = {"serve", "--log-level", "loud", NULL};
    assert_int_equal(exit_status(spawn_args(&t, bad_level)), 2);
    const char *extra[] = {"serve", "extra", NULL};
    assert_int_equal(exit_status(spawn_args(&t, extra)), 2);
    ts_remove_dir(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ts_test(sigterm_answers_waiters),
        ts_test(tokens_increase_across_restarts),
        ts_test(token_mark_moves_while_serving),
        ts_test(token_mark_write_failure_is_told),
        ts_test(second_server_refused),
        ts_test(embedded_default_configuration),
        ts_test(bad_configuration_exits_2),
        ts_test(bad_state_directory_stops_the_start),
        ts_test(sighup_is_logged_not_fatal),
        ts_test(default_socket_in_a_private_directory),
        ts_test(serve_takes_nslock_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
