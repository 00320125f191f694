/* RESUME (docs/DESIGN.md, TCP sessions): a network blip cuts a libnslock client's
 * TCP connection while the server hears nothing of it (a proxy between the
 * two resets the client's side and leaves the server's side open and
 * silent). The library resumes the live session over a new connection and
 * keeps everything: an idle holder, a request waiting for a lock, and a
 * request whose answer was lost with the connection (sent again). */
#include "client/nslock.h"
#include "server_client.h"

#include <netinet/tcp.h>
#include <sys/prctl.h>

/* ---- a proxy that can cut connections -------------------------------------------- */

static volatile sig_atomic_t cut_now, drop_now;
static void on_cut(int sig) { (void)sig; cut_now = 1; }
static void on_drop(int sig) { (void)sig; drop_now = 1; }

enum { MAX_PAIRS = 16 };

/* The child: accepts on `listener`, connects each to the server, relays.
 * SIGUSR2: from now on what the server sends is dropped. SIGUSR1: every
 * client side is reset (RST); the server sides stay open, unread. */
static void proxy_main(int listener, int server_port, int ack)
{
    struct { int client, server; bool cut; } pairs[MAX_PAIRS];
    int n = 0;
    bool drop = false;
    prctl(PR_SET_PDEATHSIG, SIGKILL);       /* never outlive the test */
    signal(SIGUSR1, on_cut);
    signal(SIGUSR2, on_drop);
    for (;;) {
        if (drop_now) {
            drop_now = 0;
            drop = true;
            if (write(ack, "d", 1) != 1)
                _exit(5);
        }
        if (cut_now) {
            cut_now = 0;
            drop = false;
            for (int i = 0; i < n; i++) {
                if (pairs[i].cut)
                    continue;
                struct linger l = {.l_onoff = 1, .l_linger = 0};
                setsockopt(pairs[i].client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
                close(pairs[i].client);
                pairs[i].cut = true;
            }
            if (write(ack, "c", 1) != 1)
                _exit(5);
        }
        struct pollfd p[1 + 2 * MAX_PAIRS];
        int map[1 + 2 * MAX_PAIRS], k = 0;
        p[k] = (struct pollfd){.fd = listener, .events = POLLIN};
        map[k++] = -1;
        for (int i = 0; i < n; i++) {
            if (pairs[i].cut)
                continue;
            p[k] = (struct pollfd){.fd = pairs[i].client, .events = POLLIN};
            map[k++] = 2 * i;
            p[k] = (struct pollfd){.fd = pairs[i].server, .events = POLLIN};
            map[k++] = 2 * i + 1;
        }
        if (poll(p, (nfds_t)k, 20) <= 0)
            continue;
        for (int j = 0; j < k; j++) {
            if (!p[j].revents)
                continue;
            if (map[j] < 0) {
                int c = accept(listener, NULL, NULL);
                int s = cl_connect_tcp(server_port);
                if (c < 0 || s < 0 || n == MAX_PAIRS)
                    _exit(3);
                int one = 1;
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                pairs[n].client = c;
                pairs[n].server = s;
                pairs[n++].cut = false;
                continue;
            }
            int i = map[j] / 2;
            bool from_server = map[j] % 2;
            if (pairs[i].cut)
                continue;
            char buf[65536];
            ssize_t got = read(p[j].fd, buf, sizeof buf);
            if (got <= 0) {
                close(pairs[i].client);
                close(pairs[i].server);
                pairs[i].cut = true;
                continue;
            }
            if (from_server && drop)
                continue;
            int to = from_server ? pairs[i].client : pairs[i].server;
            if (write(to, buf, (size_t)got) != got)
                _exit(4);
        }
    }
}

typedef struct setup {
    tsrv t;
    int server_port, proxy_port;
    pid_t proxy;
    int ack;                 /* the proxy says "d" once dropping, "c" once cut */
    char host_port[32];
} setup;

static pid_t running_proxy;

/* Tells the proxy to drop ('d', SIGUSR2) or cut ('c', SIGUSR1), and waits
 * until it has. */
static void proxy_do(setup *u, char what)
{
    kill(u->proxy, what == 'd' ? SIGUSR2 : SIGUSR1);
    char got;
    assert_int_equal(read(u->ack, &got, 1), 1);
    assert_int_equal(got, what);
}

static void start(setup *u)
{
    u->server_port = ts_start_tcp(&u->t, 30);
    int probe;
    while ((probe = cl_connect_tcp(u->server_port)) < 0)
        usleep(5000);
    close(probe);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(listener, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(listener, 16), 0);
    socklen_t len = sizeof a;
    getsockname(listener, (struct sockaddr *)&a, &len);
    u->proxy_port = ntohs(a.sin_port);
    snprintf(u->host_port, sizeof u->host_port, "127.0.0.1:%d", u->proxy_port);
    int ack[2];
    assert_int_equal(pipe(ack), 0);
    u->proxy = fork();
    assert_true(u->proxy >= 0);
    if (u->proxy == 0) {
        close(ack[0]);
        proxy_main(listener, u->server_port, ack[1]);
    }
    close(ack[1]);
    u->ack = ack[0];
    running_proxy = u->proxy;
    close(listener);
}

static void stop_proxy(void)
{
    if (running_proxy > 0) {
        kill(running_proxy, SIGKILL);
        waitpid(running_proxy, NULL, 0);
    }
    running_proxy = 0;
}

static void finish(setup *u)
{
    stop_proxy();
    close(u->ack);
    ts_finish(&u->t);
}

static int teardown(void **state)
{
    stop_proxy();
    return ts_teardown(state);
}

static nslock *through_proxy(setup *u, const char *name)
{
    nslock *c;
    nslock_error err;
    if (nslock_connect_tcp(&c, u->host_port, "s3cret-token", name, &err) < 0)
        fail_msg("connect: %s %s", err.name, err.message);
    return c;
}

static char *rows_of(setup *u, uint64_t owner)
{
    tcl *obs = cl_open(&u->t);
    char req[48];
    snprintf(req, sizeof req, "SHOW owner=%llu", (unsigned long long)owner);
    char *rows = cl_data(obs, req, NULL);
    cl_close(obs);
    /* SINCE is computed at each SHOW from the wall clock: it may move by a
     * millisecond between two. */
    for (char *line = rows, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        char *since = line;
        for (int field = 0; field < 8 && since; field++)
            since = strchr(since, '\t') ? strchr(since, '\t') + 1 : NULL;
        char *end = since ? strchr(since, '\t') : NULL;
        if (end && end < nl)
            memset(since, '-', (size_t)(end - since));
    }
    return rows;
}

/* ---- the cases --------------------------------------------------------------------- */

/* An idle holder: its keeper notices the reset and resumes; nothing moves. */
static void resume_idle_holder(void **state)
{
    (void)state;
    setup u;
    start(&u);
    nslock *c = through_proxy(&u, "idle");
    nslock_error err;
    nslock_outcome got;
    assert_int_equal(nslock_lock(c, "^a(1)", 0, 0, &got, &err), 0);
    uint64_t id = nslock_session_id(c);
    char *before = rows_of(&u, id);
    proxy_do(&u, 'c');
    for (long deadline = ts_now_ms() + 5000; !ts_log_contains(&u.t, "resumed over a new connection");)
        if (ts_now_ms() > deadline)
            fail_msg("the idle holder did not resume");
    assert_int_equal(nslock_session_id(c), id);
    char *after = rows_of(&u, id);
    assert_string_equal(after, before);
    tcl *rival = cl_open(&u.t);
    assert_string_equal(cl_req(rival, "LOCK +^a(1):0"), "OK 0");
    assert_int_equal(nslock_ping(c, &err), 0);
    assert_int_equal(nslock_is_lost(c), 0);
    cl_close(rival);
    free(before);
    free(after);
    nslock_close(c);
    finish(&u);
}

/* A request waiting for a lock when the connection is cut goes on waiting
 * on the resumed session and is granted there. */
static void resume_waiting_request(void **state)
{
    (void)state;
    setup u;
    start(&u);
    tcl *holder = cl_open(&u.t);
    cl_granted(cl_req(holder, "LOCK +^w"));
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        nslock *c = through_proxy(&u, "waiter");
        nslock_error err;
        nslock_outcome got;
        int rc = nslock_lock(c, "^w", 0, 10, &got, &err);
        _exit(rc == 0 && got.test == 1 ? 0 : 10 + err.code);
    }
    tcl *obs = cl_open(&u.t);
    for (long deadline = ts_now_ms() + 5000; cl_stat(obs, "waiters") < 1;)
        if (ts_now_ms() > deadline)
            fail_msg("the waiter did not queue");
    proxy_do(&u, 'c');
    for (long deadline = ts_now_ms() + 5000; !ts_log_contains(&u.t, "resumed over a new connection");)
        if (ts_now_ms() > deadline)
            fail_msg("the waiter did not resume");
    assert_int_equal(cl_stat(obs, "waiters"), 1);     /* still waiting, once */
    assert_string_equal(cl_req(holder, "LOCK -^w"), "OK");
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    cl_close(obs);
    cl_close(holder);
    finish(&u);
}

/* The answer to a LOCK is lost with the connection: RESUME sends it again,
 * and the call returns the grant it was given. */
static void resume_replays_a_lost_answer(void **state)
{
    (void)state;
    setup u;
    start(&u);
    fflush(NULL);
    int up[2], down[2];                                /* child -> test, test -> child */
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        nslock *c = through_proxy(&u, "replayed");
        nslock_error err;
        nslock_outcome got;
        char b = 1;
        if (write(up[1], &b, 1) != 1 || read(down[0], &b, 1) != 1)
            _exit(2);
        int rc = nslock_lock(c, "^r", 0, 0, &got, &err);
        char rows[64];
        snprintf(rows, sizeof rows, "%llu %llu", (unsigned long long)nslock_session_id(c),
                 (unsigned long long)got.token);
        if (write(up[1], rows, strlen(rows) + 1) < 0 || read(down[0], &b, 1) != 1)
            _exit(3);                                  /* holds on until the table is read */
        _exit(rc == 0 && got.test == 1 ? 0 : 10 + err.code);
    }
    char b;
    assert_int_equal(read(up[0], &b, 1), 1);          /* connected */
    proxy_do(&u, 'd');                                 /* answers vanish from now on */
    assert_int_equal(write(down[1], &b, 1), 1);       /* go */
    tcl *obs = cl_open(&u.t);
    for (long deadline = ts_now_ms() + 5000; cl_stat(obs, "entries") < 1;)
        if (ts_now_ms() > deadline)
            fail_msg("the LOCK did not reach the server");
    proxy_do(&u, 'c');                                 /* and the connection goes */
    char said[64] = "";
    assert_true(read(up[0], said, sizeof said) > 0);
    assert_true(ts_log_contains(&u.t, "1 answer(s) sent again"));
    unsigned long long id, token;
    assert_int_equal(sscanf(said, "%llu %llu", &id, &token), 2);
    char *rows = cl_data(obs, "SHOW name=^r", NULL);
    char want[64];
    snprintf(want, sizeof want, "\t%llu\t", id);
    assert_non_null(strstr(rows, want));             /* held by the resumed session */
    snprintf(want, sizeof want, "\t%llu\t-\n", token);
    assert_non_null(strstr(rows, want));             /* with the token the call returned */
    assert_non_null(strstr(rows, "\tExclusive\t^r\t"));   /* once: not sent again */
    free(rows);
    assert_int_equal(write(down[1], &b, 1), 1);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    cl_close(obs);
    finish(&u);
}

/* The protocol underneath, several requests in flight: a client that sent
 * three requests and read none of their answers gets all three again on
 * RESUME, oldest first; one that lost more answers than the server keeps
 * is told its session is lost, and the session is ended. */
static unsigned hello_with_secret(tcl *c, char *secret, size_t cap)
{
    const char *r = cl_req(c, "HELLO name=raw");
    unsigned id;
    const char *at = strstr(r, " secret ");
    if (sscanf(r, "OK nslock 1 session %u", &id) != 1 || !at)
        fail_msg("HELLO answered '%s'", r);
    snprintf(secret, cap, "%.32s", at + 8);
    return id;
}

static tcl *raw_session(setup *u, unsigned *id, char *secret, size_t cap)
{
    int fd = cl_connect_tcp(u->server_port);
    assert_true(fd >= 0);
    tcl *c = cl_from_fd(fd);
    assert_string_equal(cl_req(c, "AUTH s3cret-token"), "OK");
    *id = hello_with_secret(c, secret, cap);
    return c;                        /* two answers read: AUTH's and HELLO's */
}

static void wait_rows(setup *u, unsigned id, const char *want, const char *unwanted)
{
    for (long deadline = ts_now_ms() + 5000;;) {
        char *rows = rows_of(u, id);
        bool done = strstr(rows, want) && (!unwanted || !strstr(rows, unwanted));
        free(rows);
        if (done)
            return;
        if (ts_now_ms() > deadline)
            fail_msg("the requests did not reach the server");
        usleep(2000);
    }
}

static void resume_replays_several_answers(void **state)
{
    (void)state;
    setup u;
    start(&u);
    unsigned id;
    char secret[40], req[128];
    tcl *old = raw_session(&u, &id, secret, sizeof secret);
    cl_send(old, "LOCK +^p(1)\nLOCK +^p(2)\nLOCK -^p(1)\n");   /* answers left unread */
    wait_rows(&u, id, "^p(2)", "^p(1)");

    int fd = cl_connect_tcp(u.server_port);
    assert_true(fd >= 0);
    tcl *c = cl_from_fd(fd);
    assert_string_equal(cl_req(c, "AUTH s3cret-token"), "OK");
    snprintf(req, sizeof req, "RESUME %u %s 2", id, secret);
    char want[64];
    snprintf(want, sizeof want, "OK resumed %u replay 3", id);
    assert_string_equal(cl_req(c, req), want);
    unsigned long long t1 = cl_granted(cl_line(c));   /* oldest first */
    unsigned long long t2 = cl_granted(cl_line(c));
    assert_true(t2 > t1);
    assert_string_equal(cl_line(c), "OK");
    assert_true(ts_log_contains(&u.t, "3 answer(s) sent again"));
    assert_true(cl_closed(old, 5000));                /* the old connection is let go */
    assert_string_equal(cl_req(c, "LOCK -^p(2)"), "OK");  /* the session goes on */
    wait_rows(&u, id, "", "^p(2)");
    cl_close(old);

    /* more answers lost than the server keeps */
    unsigned id2;
    tcl *many = raw_session(&u, &id2, secret, sizeof secret);
    for (int i = 0; i < 12; i++) {
        snprintf(req, sizeof req, "LOCK +^q(%d)\n", i);
        cl_send(many, req);
    }
    wait_rows(&u, id2, "^q(11)", NULL);
    fd = cl_connect_tcp(u.server_port);
    assert_true(fd >= 0);
    tcl *late = cl_from_fd(fd);
    assert_string_equal(cl_req(late, "AUTH s3cret-token"), "OK");
    snprintf(req, sizeof req, "RESUME %u %s 2", id2, secret);
    assert_non_null(strstr(cl_req(late, req), "ERR LOST"));
    cl_close(late);
    tcl *obs = cl_open(&u.t);
    char *rows = cl_data(obs, "SHOW name=^q", NULL);
    assert_null(strstr(rows, "^q("));                 /* the session was ended */
    free(rows);
    cl_close(obs);
    cl_close(many);
    cl_close(c);
    finish(&u);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(resume_idle_holder, teardown),
        cmocka_unit_test_teardown(resume_waiting_request, teardown),
        cmocka_unit_test_teardown(resume_replays_a_lost_answer, teardown),
        cmocka_unit_test_teardown(resume_replays_several_answers, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
