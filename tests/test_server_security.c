/* Security on a real server: the socket's mode, TCP off unless configured
 * and then guarded by the shared token, and REMOVE of another owner's
 * locks refused to a user who is not an admin. */
#include <dirent.h>
#include <grp.h>
#include <pwd.h>

#include "client/nslock.h"
#include "server_client.h"

/* The inodes of the server's sockets that appear in /proc/net/tcp or tcp6:
 * how many. Looking at the process itself, not at a guessed port. */
static int tcp_sockets_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *d = opendir(path);
    assert_non_null(d);
    unsigned long inodes[256];
    int ninodes = 0;
    struct dirent *e;
    while ((e = readdir(d)) && ninodes < 256) {
        char link[400], target[64];
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        unsigned long ino;
        if (sscanf(target, "socket:[%lu]", &ino) == 1)
            inodes[ninodes++] = ino;
    }
    closedir(d);
    int found = 0;
    const char *tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen(tables[k], "r");
        if (!f)
            continue;
        char line[512];
        while (fgets(line, sizeof line, f)) {
            unsigned long ino;
            /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
            if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %lu", &ino) != 1)
                continue;
            for (int i = 0; i < ninodes; i++)
                found += inodes[i] == ino;
        }
        fclose(f);
    }
    return found;
}

static void socket_is_0660_and_tcp_off(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    struct stat st;
    assert_int_equal(stat(t.sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0660);
    /* no listen: in the configuration, so no TCP socket at all */
    assert_int_equal(tcp_sockets_of(t.pid), 0);
    ts_finish(&t);
}

static tcl *tcp_client(int port)
{
    long deadline = ts_now_ms() + 5000;
    int fd;
    while ((fd = cl_connect_tcp(port)) < 0) {
        if (ts_now_ms() > deadline)
            fail_msg("nothing listens on 127.0.0.1:%d", port);
        usleep(5000);
    }
    return cl_from_fd(fd);
}

static void tcp_needs_the_token(void **state)
{
    (void)state;
    tsrv t;
    int port = ts_start_tcp(&t, 0);
    tcl *local = cl_open(&t);
    unsigned idl = cl_hello(local, NULL);
    cl_granted(cl_req(local, "LOCK +^local"));

    tcl *c = tcp_client(port);
    /* the check that found nothing above finds the listener here */
    assert_true(tcp_sockets_of(t.pid) >= 1);
    assert_string_equal(cl_req(c, "AUTH wrong-token"), "ERR PROTECT bad token");
    assert_true(cl_closed(c, 5000));
    cl_close(c);

    c = tcp_client(port);
    assert_true(!strncmp(cl_req(c, "PING"), "ERR PROTECT ", 12));
    assert_true(cl_closed(c, 5000));
    cl_close(c);

    c = tcp_client(port);
    assert_string_equal(cl_req(c, "AUTH s3cret-token"), "OK");
    cl_hello(c, "name=remote pid=4242");
    cl_granted(cl_req(c, "LOCK +^remote"));
    int n;
    char *rows = cl_data(c, "SHOW name=^remote", &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(rows, "\t4242\tremote\tExclusive\t^remote\t"));
    free(rows);
    /* a TCP peer's uid is unknown: never an admin */
    char req[64];
    snprintf(req, sizeof req, "REMOVE owner=%u", idl);
    assert_true(!strncmp(cl_req(c, req), "ERR PROTECT ", 12));
    assert_string_equal(cl_req(c, "REMOVE name=^remote"), "OK 1");
    assert_string_equal(cl_req(c, "QUIT"), "OK bye");
    assert_true(cl_closed(c, 5000));
    cl_close(c);

    /* a peer that never authenticates is told so and closed after the
     * deadline (10 s), instead of holding a session for nothing */
    c = tcp_client(port);
    long t0 = ts_now_ms();
    assert_int_equal(cl_line_wait(c, 15000), 1);
    assert_true(!strncmp(c->last, "ERR PROTECT ", 12));
    assert_true(cl_closed(c, 5000));
    printf("# a silent TCP peer was closed after %ld ms\n", ts_now_ms() - t0);
    assert_true(ts_now_ms() - t0 >= 9000);
    cl_close(c);
    cl_close(local);
    ts_finish(&t);
}

/* In a child that has become `nobody`: the outcome of each request, one
 * letter each into the pipe (Y as expected, N not), then exit. */
static void nobody_child(const char *sock, uid_t uid, gid_t gid, unsigned root_owner,
                         bool admin, int out)
{
    /* drop every group, then the uid, as a login would */
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        _exit(3);
    tcl *c = cl_try_open(sock);
    if (!c)
        _exit(4);
    char result[16] = "";
    char req[64];
    unsigned self = 0;
    bool ok = cl_try_req(c, "HELLO name=nobody", "OK nslock 1 session ") &&
              sscanf(c->last, "OK nslock 1 session %u", &self) == 1;
    strcat(result, ok ? "Y" : "N");
    strcat(result, cl_try_req(c, "LOCK +^mine(1)", "OK 1 ") ? "Y" : "N");
    strcat(result, cl_try_req(c, "LOCK +^mine(2)", "OK 1 ") ? "Y" : "N");
    snprintf(req, sizeof req, "REMOVE owner=%u", root_owner);
    strcat(result, cl_try_req(c, req, admin ? "OK 1" : "ERR PROTECT ") ? "Y" : "N");
    strcat(result, cl_try_req(c, "REMOVE name=^root", admin ? "ERR NOTFOUND" : "ERR PROTECT ")
                       ? "Y" : "N");
    /* its own entries, whichever way it names them */
    strcat(result, cl_try_req(c, "REMOVE name=^mine(1)", "OK 1") ? "Y" : "N");
    snprintf(req, sizeof req, "REMOVE owner=%u", self);
    strcat(result, cl_try_req(c, req, "OK 1") ? "Y" : "N");
    ok = write(out, result, strlen(result)) == (ssize_t)strlen(result);
    _exit(ok ? 0 : 5);
}

static void run_as_nobody(tsrv *t, const struct passwd *pw, bool admin)
{
    tcl *root = cl_open(t);
    unsigned idr = cl_hello(root, "name=root");
    cl_granted(cl_req(root, "LOCK +^root"));
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(fds[0]);
        nobody_child(t->sock, pw->pw_uid, pw->pw_gid, idr, admin, fds[1]);
    }
    close(fds[1]);
    char result[16] = "";
    ssize_t n = read(fds[0], result, sizeof result - 1);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(n > 0);
    assert_string_equal(result, "YYYYYYY");
    /* root's lock is there unless an admin removed it; then root is told first */
    if (admin)
        assert_true(!strncmp(cl_req(root, "STATS"), "ERR LOST removed by session ", 28));
    assert_int_equal(cl_stat(root, "entries"), admin ? 0 : 1);
    cl_close(root);
}

/* Needs root, to become another user. The server's socket is 0660
 * root:root, which `nobody` cannot open; the test gives the socket to
 * nobody's primary group (still 0660 — the server's mode is what is under
 * test, the group is what a deployment would choose) and opens the
 * temporary directory for traversal. */
static void remove_needs_admin(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("# skipped: needs root to switch to the user nobody\n");
        skip();
    }
    struct passwd *pw = getpwnam("nobody");
    if (!pw) {
        printf("# skipped: there is no user nobody\n");
        skip();
    }
    struct passwd nobody = *pw;
    struct group *gr = getgrgid(nobody.pw_gid);
    assert_non_null(gr);
    char group[64];
    snprintf(group, sizeof group, "%s", gr->gr_name);

    tsrv t;
    ts_start(&t);
    assert_int_equal(chmod(t.dir, 0711), 0);
    assert_int_equal(chown(t.sock, (uid_t)-1, nobody.pw_gid), 0);
    run_as_nobody(&t, &nobody, false);
    ts_finish(&t);

    /* the same user, now in server.admin_group: may remove anyone's */
    char server[128];
    snprintf(server, sizeof server, "server:\n  admin_group: %s\n", group);
    ts_start_with(&t, NULL, server);
    assert_int_equal(chmod(t.dir, 0711), 0);
    assert_int_equal(chown(t.sock, (uid_t)-1, nobody.pw_gid), 0);
    run_as_nobody(&t, &nobody, true);
    ts_finish(&t);
}

/* Root (and the server's own uid) are admins: REMOVE by owner, pid, name. */
static void admin_removes_any(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *b = cl_open(&t), *admin = cl_open(&t);
    unsigned ida = cl_hello(a, NULL);
    cl_granted(cl_req(a, "LOCK +^x(1),+^x(2)"));
    cl_granted(cl_req(b, "LOCK +^y"));
    cl_send(b, "LOCK +^x(1)\n");                     /* b waits behind a */
    assert_int_equal(cl_line_wait(b, 100), 0);
    char req[64];
    snprintf(req, sizeof req, "REMOVE owner=%u name=^x(1)", ida);
    assert_string_equal(cl_req(admin, req), "OK 1");
    cl_granted(cl_line(b));                           /* served at once */
    snprintf(req, sizeof req, "REMOVE pid=%ld database=USERDB", (long)getpid());
    assert_string_equal(cl_req(admin, req), "OK 3");  /* a's ^x(2), b's ^y and ^x(1) */
    assert_string_equal(cl_req(admin, "REMOVE database=USERDB"), "ERR NOTFOUND no entry matched");
    assert_int_equal(cl_stat(admin, "entries"), 0);
    cl_close(a);
    cl_close(b);
    cl_close(admin);
    ts_finish(&t);
}

/* A TCP session that goes silent (no FIN, no RST: a dead network) is
 * ended after server.session_timeout_s and its locks released; libnslock's
 * keeper pings an idle TCP handle, so it keeps its session and its lock. */
static void silent_tcp_session_ends(void **state)
{
    (void)state;
    tsrv t;
    int port = ts_start_tcp(&t, 1);
    char host_port[32];

    nslock *lib;
    nslock_error err;
    snprintf(host_port, sizeof host_port, "127.0.0.1:%d", port);
    if (nslock_connect_tcp(&lib, host_port, "s3cret-token", "pinger", &err) < 0)
        fail_msg("connect: %s %s", err.name, err.message);
    nslock_outcome got;
    assert_int_equal(nslock_lock(lib, "^kept", 0, 0, &got, &err), 0);
    assert_int_equal(got.test, 1);

    tcl *c = tcp_client(port);
    assert_string_equal(cl_req(c, "AUTH s3cret-token"), "OK");
    assert_true(strstr(cl_req(c, "HELLO name=mute"), " timeout 1") != NULL);
    cl_granted(cl_req(c, "LOCK +^mute"));
    /* a waiting request is not silence */
    tcl *w = tcp_client(port);
    assert_string_equal(cl_req(w, "AUTH s3cret-token"), "OK");
    cl_send(w, "LOCK +^mute:4\n");
    long start = ts_now_ms();
    assert_true(cl_closed(c, 5000));               /* then says nothing */
    long took = ts_now_ms() - start;
    printf("# a silent TCP session ended after %ld ms\n", took);
    assert_true(took >= 700);
    assert_true(ts_log_contains(&t, "nothing heard for"));
    cl_granted(cl_line(w));                        /* its lock went to the waiter */
    /* meanwhile the idle library handle kept its session (it pinged) */
    tcl *local = cl_open(&t);
    assert_string_equal(cl_req(local, "LOCK +^kept:0"), "OK 0");
    assert_int_equal(nslock_ping(lib, &err), 0);
    cl_close(local);
    cl_close(c);
    cl_close(w);
    nslock_close(lib);
    ts_finish(&t);
}

/* ---- admission: unauthenticated connections, descriptors, wrong tokens ---- */

/* Lines of the server's log that hold text. */
static int log_count(const tsrv *t, const char *text)
{
    FILE *f = fopen(t->log, "r");
    if (!f)
        return 0;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, text) != NULL;
    fclose(f);
    return n;
}

/* A server with TCP on port, the token in dir/token (mode), and extra
 * server keys. */
static void tcp_config(tsrv *t, int port, mode_t token_mode, const char *extra)
{
    char token_path[160], server[600];
    snprintf(token_path, sizeof token_path, "%s/token", t->dir);
    ts_write_file(token_path, "s3cret-token\n", 0600);
    assert_int_equal(chmod(token_path, token_mode), 0);
    snprintf(server, sizeof server, "server:\n  listen: 127.0.0.1:%d\n  token_file: %s\n%s",
             port, token_path, extra ? extra : "");
    ts_write_config(t, NULL, server);
}

/* Waits until STATS' name reaches at least want; returns its value. */
static long stat_reaches(tcl *c, const char *name, long want)
{
    long deadline = ts_now_ms() + 10000, v;
    while ((v = cl_stat(c, name)) < want && ts_now_ms() < deadline)
        usleep(20000);
    return v;
}

/* Only the owner may read the token file: anything else and the server
 * does not start, saying which file and its mode. */
static void token_file_others_can_read_is_refused(void **state)
{
    (void)state;
    tsrv t;
    ts_make_dir(&t);
    tcp_config(&t, ts_free_port(), 0640, NULL);
    t.pid = ts_spawn(&t);
    ts_track(&t, true);
    int status;
    long deadline = ts_now_ms() + 20000;
    pid_t got;
    while ((got = waitpid(t.pid, &status, WNOHANG)) == 0 && ts_now_ms() < deadline)
        usleep(10000);
    if (got != t.pid) {
        ts_print_log(&t);
        fail_msg("the server started with a group-readable token file");
    }
    t.pid = 0;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    assert_true(ts_log_contains(&t, "/token can be read or written by its group or others "
                                    "(mode 0640"));
    assert_true(ts_log_contains(&t, "chmod 600"));
    ts_finish(&t);
}

/* Connections that never authenticate stop at server.max_unauthenticated:
 * beyond it TCP connections are refused with one ERR LIMIT line, logged
 * once for the episode; Unix clients and authenticated TCP sessions go on. */
static void unauthenticated_connections_are_capped(void **state)
{
    (void)state;
    enum { CAP = 4, IDLE = 20 };
    tsrv t;
    ts_make_dir(&t);
    int port = ts_free_port();
    tcp_config(&t, port, 0600, "  max_unauthenticated: 4\n");
    ts_launch(&t);
    tcl *remote = tcp_client(port);
    assert_string_equal(cl_req(remote, "AUTH s3cret-token"), "OK");
    cl_hello(remote, "name=remote");

    int idle[IDLE];
    for (int i = 0; i < IDLE; i++)
        assert_true((idle[i] = cl_connect_tcp(port)) >= 0);
    tcl *local = cl_open(&t);
    cl_hello(local, NULL);
    assert_int_equal(stat_reaches(local, "refused_connections", IDLE - CAP), IDLE - CAP);
    cl_granted(cl_req(local, "LOCK +^local"));
    cl_granted(cl_req(remote, "LOCK +^remote"));
    /* the refused ones were told why, and closed */
    int told = 0;
    for (int i = 0; i < IDLE; i++) {
        tcl *c = cl_from_fd(idle[i]);
        if (cl_line_wait(c, 200) == 1) {
            assert_string_equal(c->last, "ERR LIMIT too many connections waiting to "
                                         "authenticate; try again later");
            assert_true(cl_closed(c, 5000));
            told++;
        }
        c->fd = -1;
        cl_close(c);
    }
    assert_int_equal(told, IDLE - CAP);
    assert_int_equal(log_count(&t, "refusing TCP connections: too many TCP connections "
                                   "waiting to authenticate"), 1);
    /* with the idle ones gone, a newcomer authenticates */
    for (int i = 0; i < IDLE; i++)
        close(idle[i]);
    long deadline = ts_now_ms() + 10000;
    for (;;) {
        tcl *c = tcp_client(port);
        /* refused while the server has not yet seen the others go: no SIGPIPE */
        (void)!send(c->fd, "AUTH s3cret-token\n", 18, MSG_NOSIGNAL);
        bool ok = cl_line_wait(c, 10000) == 1 && !strcmp(c->last, "OK");
        cl_close(c);
        if (ok)
            break;
        assert_true(ts_now_ms() < deadline);
        usleep(20000);
    }
    char summary[64];
    snprintf(summary, sizeof summary, "refused %ld connections in ",
             cl_stat(local, "refused_connections"));
    cl_close(local);
    cl_close(remote);
    assert_int_equal(ts_stop(&t), 0);
    assert_true(ts_log_contains(&t, summary));
    ts_finish(&t);
}

/* Under a low descriptor limit a flood of TCP connections takes only TCP's
 * share: Unix clients still connect. Past every descriptor the limit
 * allows, Unix clients too are told so (not dropped in silence), and the
 * episode is logged once. */
static void descriptors_are_kept_for_unix_clients(void **state)
{
    (void)state;
    enum { FLOOD = 100, LOCALS = 60 };
    tsrv t;
    ts_make_dir(&t);
    t.nofile = 64;
    int port = ts_free_port();
    tcp_config(&t, port, 0600, "  max_unauthenticated: 1000\n");
    ts_launch(&t);
    int flood[FLOOD];
    for (int i = 0; i < FLOOD; i++)
        assert_true((flood[i] = cl_connect_tcp(port)) >= 0);
    tcl *local = cl_open(&t);
    cl_hello(local, NULL);
    assert_true(stat_reaches(local, "refused_connections", 1) >= 1);
    cl_granted(cl_req(local, "LOCK +^still"));
    assert_int_equal(log_count(&t, "refusing TCP connections: TCP sessions use their share"), 1);

    /* now the Unix side runs out too: told, not cut off */
    tcl *locals[LOCALS];
    int refused = 0;
    for (int i = 0; i < LOCALS; i++) {
        locals[i] = cl_open(&t);
        /* a refused connection may be closed already: no SIGPIPE, its answer is read */
        (void)!send(locals[i]->fd, "PING\n", 5, MSG_NOSIGNAL);
        assert_int_equal(cl_line_wait(locals[i], 10000), 1);
        if (strcmp(locals[i]->last, "OK PONG") != 0) {
            assert_string_equal(locals[i]->last, "ERR LIMIT the server has no file descriptor "
                                                 "left; try again later");
            refused++;
        }
    }
    assert_true(refused > 0);
    assert_int_equal(log_count(&t, "refusing connections: every file descriptor"), 1);
    for (int i = 0; i < LOCALS; i++)
        cl_close(locals[i]);
    for (int i = 0; i < FLOOD; i++)
        close(flood[i]);
    cl_granted(cl_req(local, "LOCK +^again"));
    cl_close(local);
    assert_int_equal(ts_stop(&t), 0);
    assert_true(ts_log_contains(&t, "connections in "));
    ts_finish(&t);
}

/* Wrong tokens from one address are answered more and more slowly and
 * logged once, with their count; requests behind a wrong token get no
 * answer that would tell more. */
static void wrong_tokens_are_slowed_and_counted(void **state)
{
    (void)state;
    enum { TRIES = 6 };
    tsrv t;
    ts_make_dir(&t);
    int port = ts_free_port();
    tcp_config(&t, port, 0600, NULL);
    ts_launch(&t);
    for (int i = 0; i < TRIES; i++) {
        tcl *c = tcp_client(port);
        cl_send(c, i == TRIES - 1 ? "AUTH s3cret-tokeN\nPING\n" : "AUTH wrong\n");
        assert_string_equal(cl_line(c), "ERR PROTECT bad token");
        assert_true(cl_closed(c, 5000));
        cl_close(c);
    }
    tcl *local = cl_open(&t);
    assert_int_equal(cl_stat(local, "auth_failures"), TRIES);
    cl_close(local);
    tcl *c = tcp_client(port);
    assert_string_equal(cl_req(c, "AUTH s3cret-token"), "OK");
    cl_close(c);
    assert_int_equal(log_count(&t, "wrong AUTH token"), 1);
    assert_int_equal(log_count(&t, "bad token"), 0);
    assert_int_equal(ts_stop(&t), 0);
    assert_true(ts_log_contains(&t, "6 wrong AUTH tokens over TCP from 127.0.0.1 in "));
    /* 0 ms, then 100 ms doubling: the sixth waited 1.6 s */
    assert_true(ts_log_contains(&t, "the slowest answer waited 1600 ms"));
    ts_finish(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ts_test(socket_is_0660_and_tcp_off),
        ts_test(tcp_needs_the_token),
        ts_test(remove_needs_admin),
        ts_test(admin_removes_any),
        ts_test(silent_tcp_session_ends),
        ts_test(token_file_others_can_read_is_refused),
        ts_test(unauthenticated_connections_are_capped),
        ts_test(descriptors_are_kept_for_unix_clients),
        ts_test(wrong_tokens_are_slowed_and_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
