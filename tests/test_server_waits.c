/* Waiting requests on a real server: an owner that dies (SIGKILL) while
 * holding 10,000 locks and waiting, timeouts, deadlock detection.
 * Latencies are printed, never asserted beyond what cannot flake. */
#include "server_client.h"

static void await_stat(tcl *obs, const char *name, long n)
{
    long deadline = ts_now_ms() + 10000;
    long v;
    while ((v = cl_stat(obs, name)) != n) {
        if (ts_now_ms() > deadline)
            fail_msg("STATS %s stayed %ld, expected %ld", name, v, n);
        usleep(2000);
    }
}

#define HELD 10000

/* The child: take HELD locks (pipelined), then wait for ^w; tell the
 * parent; then sleep until killed. Exit status says what went wrong. */
static void child_holder(const char *sock, int ready_fd)
{
    tcl *c = cl_try_open(sock);
    if (!c || !cl_try_req(c, "HELLO name=doomed", "OK nslock 1 session "))
        _exit(2);
    size_t cap = (size_t)HELD * 24, len = 0;
    char *batch = malloc(cap);
    if (!batch)
        _exit(3);
    for (int i = 1; i <= HELD; i++)
        len += (size_t)snprintf(batch + len, cap - len, "LOCK +^k(%d)\n", i);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(c->fd, batch + off, len - off);
        if (n <= 0)
            _exit(4);
        off += (size_t)n;
    }
    free(batch);
    for (int i = 1; i <= HELD; i++)
        if (cl_line_wait(c, 20000) != 1 || strncmp(c->last, "OK 1 ", 5))
            _exit(5);
    if (write(c->fd, "LOCK +^w\n", 9) != 9 || write(ready_fd, "x", 1) != 1)
        _exit(6);
    for (;;)
        pause();
}

/* A client killed while holding 10,000 locks and waiting for
 * another: its entries and its wait go, and the waiter behind it is granted. */
static void killed_owner_releases_everything(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *c = cl_open(&t), *obs = cl_open(&t);
    cl_granted(cl_req(a, "LOCK +^w"));

    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(ready[0]);
        child_holder(t.sock, ready[1]);
    }
    close(ready[1]);
    char x;
    assert_int_equal(read(ready[0], &x, 1), 1);
    close(ready[0]);
    await_stat(obs, "waiters", 1);              /* the child waits for ^w */
    cl_send(c, "LOCK +^k(5000)\n");            /* c waits behind the child */
    assert_int_equal(cl_line_wait(c, 100), 0);
    await_stat(obs, "waiters", 2);
    assert_int_equal(cl_stat(obs, "entries"), HELD + 1);
    char req[64];
    int n;
    snprintf(req, sizeof req, "SHOW pid=%ld name=^w", (long)child);
    char *rows = cl_data(obs, req, &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(rows, "\tdoomed\tWaitExclusive\t^w\t"));
    free(rows);

    long t0 = ts_now_ms();
    assert_int_equal(kill(child, SIGKILL), 0);
    const char *granted = cl_line(c);
    long t1 = ts_now_ms();
    cl_granted(granted);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    printf("# SIGKILL of a holder of %d locks -> waiter granted in %ld ms\n", HELD, t1 - t0);

    /* a's ^w and c's ^k(5000) are all that is left */
    assert_int_equal(cl_stat(obs, "entries"), 2);
    assert_int_equal(cl_stat(obs, "waiters"), 0);
    assert_int_equal(cl_stat(obs, "sessions"), 3);
    snprintf(req, sizeof req, "SHOW pid=%ld", (long)child);
    free(cl_data(obs, req, &n));
    assert_int_equal(n, 0);
    cl_close(a);
    cl_close(c);
    cl_close(obs);
    ts_finish(&t);
}

/* `:0.5` answers OK 0 after half a second. */
static void timeout_answers_ok_0(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *b = cl_open(&t);
    cl_granted(cl_req(a, "LOCK +^t"));
    assert_string_equal(cl_req(b, "LOCK +^t:0"), "OK 0");
    long t0 = ts_now_ms();
    assert_string_equal(cl_req(b, "LOCK +^t:0.5"), "OK 0");
    long elapsed = ts_now_ms() - t0;
    printf("# LOCK +^t:0.5 answered OK 0 after %ld ms\n", elapsed);
    assert_true(elapsed >= 450);
    assert_int_equal(cl_stat(b, "timeouts"), 1);     /* the queued one; :0 never waited */
    /* the session is usable and the holder unchanged */
    assert_string_equal(cl_req(b, "PING"), "OK PONG");
    assert_string_equal(cl_req(a, "LOCK -^t"), "OK");
    cl_granted(cl_req(b, "LOCK +^t:0.5"));
    cl_close(a);
    cl_close(b);
    ts_finish(&t);
}

/* docs/LANGUAGE.md (deadlock_check_ms: 200): exactly one of two deadlocked
 * clients gets ERR DEADLOCK — the newer request — and keeps what it held;
 * the other proceeds once the victim lets go. */
static void deadlock_fails_exactly_one(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *b = cl_open(&t);
    unsigned ida = cl_hello(a, NULL), idb = cl_hello(b, NULL);
    cl_granted(cl_req(a, "LOCK +^a"));
    cl_granted(cl_req(b, "LOCK +^b"));
    cl_send(a, "LOCK +^b\n");
    assert_int_equal(cl_line_wait(a, 50), 0);
    long t0 = ts_now_ms();
    cl_send(b, "LOCK +^a\n");
    const char *verdict = cl_line(b);
    long t1 = ts_now_ms();
    printf("# deadlock broken after %ld ms: %s\n", t1 - t0, verdict);
    assert_true(!strncmp(verdict, "ERR DEADLOCK ", 13));
    char ids[32];
    snprintf(ids, sizeof ids, "%u", ida);
    assert_non_null(strstr(verdict + 13, ids));     /* the message names the cycle */
    snprintf(ids, sizeof ids, "%u", idb);
    assert_non_null(strstr(verdict + 13, ids));
    /* the other request keeps waiting: no second verdict */
    assert_int_equal(cl_line_wait(a, 600), 0);
    assert_int_equal(cl_stat(b, "deadlocks"), 1);
    /* the victim still holds ^b; when it lets go, a is granted */
    assert_string_equal(cl_req(b, "LOCK -^b"), "OK");
    cl_granted(cl_line(a));
    cl_close(a);
    cl_close(b);
    ts_finish(&t);
}

/* A waiting LOCK holds back the session's later requests, which are then
 * answered in order; a multi-argument command answers once. */
static void waiting_lock_holds_back_the_session(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *b = cl_open(&t);
    cl_granted(cl_req(a, "LOCK +^q"));
    cl_send(b, "LOCK +^r:0,+^q\nPING\nLOCK +^s\nSTATS\n");
    assert_int_equal(cl_line_wait(b, 300), 0);
    assert_string_equal(cl_req(a, "LOCK -^q"), "OK");
    unsigned long long tq = cl_granted(cl_line(b));
    assert_string_equal(cl_line(b), "OK PONG");
    unsigned long long ts = cl_granted(cl_line(b));
    assert_true(ts > tq);
    assert_string_equal(cl_line(b), "DATA 15");
    assert_string_equal(cl_line(b), "entries\t3");
    cl_close(a);
    cl_close(b);
    ts_finish(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ts_test(killed_owner_releases_everything),
        ts_test(timeout_answers_ok_0),
        ts_test(deadlock_fails_exactly_one),
        ts_test(waiting_lock_holds_back_the_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
