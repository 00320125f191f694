/* libnslock's pipelined requests and asynchronous unlock (docs/CLIENT.md
 * "Pipelining and the asynchronous unlock") against a real server: the
 * unlock takes effect without its caller waiting, its failure is told by
 * the next call, pipelined answers come back in order, closing with
 * answers owed ends cleanly, and a restart with an unlock in flight does
 * not bring the unlocked lock back. Other sessions are raw protocol
 * clients, so what they see is the server's table itself. */
#include "client/nslock.h"
#include "server_client.h"

#include <fcntl.h>

static nslock *open_client(const tsrv *t, const char *name)
{
    nslock *c;
    nslock_error err;
    /* no keeper thread: nothing reads or recovers behind the test's back */
    nslock_options o = {.socket_path = t->sock, .client_name = name,
                        .keeper = NSLOCK_KEEPER_NONE};
    if (nslock_open(&c, &o, &err) < 0)
        fail_msg("connect: %s %s", err.name, err.message);
    return c;
}

static void must(int rc, const nslock_error *err, const char *what)
{
    if (rc < 0)
        fail_msg("%s: %s %s", what, err->name, err->message);
}

static void lock_now(nslock *c, const char *name)
{
    nslock_outcome got;
    nslock_error err;
    must(nslock_lock(c, name, NSLOCK_EXCLUSIVE, 0, &got, &err), &err, name);
    assert_int_equal(got.test, 1);
}

static bool mirror_holds(nslock *c, const char *name)
{
    nslock_held *rows;
    size_t n;
    nslock_error err;
    must(nslock_held_list(c, &rows, &n, &err), &err, "held list");
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= strcmp(rows[i].name, name) == 0;
    nslock_free(rows);
    return found;
}

/* How many rows SHOW has for the session and name. */
static int server_rows(const tsrv *t, uint64_t owner, const char *name)
{
    tcl *obs = cl_open(t);
    char req[96];
    snprintf(req, sizeof req, "SHOW owner=%llu name=%s", (unsigned long long)owner, name);
    int n;
    free(cl_data(obs, req, &n));
    cl_close(obs);
    return n;
}

/* The unlock is written and the call returns; another session is then
 * granted the name without the first making any further call. */
static void async_unlock_frees_the_name(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    nslock *c = open_client(&t, "async");
    nslock_error err;
    lock_now(c, "^A(1)");
    must(nslock_unlock_async(c, "^A(1)", NSLOCK_EXCLUSIVE, &err), &err, "unlock async");
    assert_false(mirror_holds(c, "^A(1)"));      /* left the mirror when sent */
    tcl *rival = cl_open(&t);
    cl_granted(cl_req(rival, "LOCK +^A(1):10"));
    /* the flag form, then lock again: the answer owed is read with the lock's */
    assert_string_equal(cl_req(rival, "LOCK -^A(1)"), "OK");
    lock_now(c, "^A(2)");
    must(nslock_unlock_flags(c, "^A(2)", NSLOCK_EXCLUSIVE, NSLOCK_ASYNC, &err), &err, "flags");
    lock_now(c, "^A(1)");
    cl_granted(cl_req(rival, "LOCK +^A(2):10"));
    assert_string_equal(cl_req(rival, "LOCK +^A(1):0"), "OK 0");
    must(nslock_sync(c, &err), &err, "sync");
    must(nslock_sync(c, &err), &err, "sync with nothing owed");
    cl_close(rival);
    nslock_close(c);
    ts_finish(&t);
}

/* NSLOCK_DEFER holds the unlock back until the next request, which
 * carries it in the same write; nslock_flush writes it at once. */
static void deferred_unlock_goes_with_the_next_request(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    nslock *c = open_client(&t, "deferred");
    nslock_error err;
    tcl *rival = cl_open(&t);
    lock_now(c, "^D(1)");
    must(nslock_unlock_flags(c, "^D(1)", NSLOCK_EXCLUSIVE, NSLOCK_ASYNC | NSLOCK_DEFER, &err),
         &err, "deferred unlock");
    assert_false(mirror_holds(c, "^D(1)"));
    assert_string_equal(cl_req(rival, "LOCK +^D(1):0"), "OK 0");   /* not written yet */
    lock_now(c, "^D(2)");                                          /* written with this */
    cl_granted(cl_req(rival, "LOCK +^D(1):10"));
    must(nslock_unlock_flags(c, "^D(2)", NSLOCK_EXCLUSIVE, NSLOCK_ASYNC | NSLOCK_DEFER, &err),
         &err, "deferred unlock");
    must(nslock_flush(c, &err), &err, "flush");
    cl_granted(cl_req(rival, "LOCK +^D(2):10"));
    must(nslock_sync(c, &err), &err, "sync");
    assert_int_equal(nslock_unlock_flags(c, "^D(2)", 0, 1u << 7, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
    cl_close(rival);
    nslock_close(c);
    ts_finish(&t);
}

/* An administrator's REMOVE makes the server refuse the session's next
 * request (the async unlock) with LOST: the call after it fails with that
 * error, naming the unlock, and has done nothing; the one after works. */
static void failed_async_unlock_is_told_next(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    nslock *c = open_client(&t, "victim");
    nslock_error err;
    nslock_outcome got;
    uint64_t id = nslock_session_id(c);
    lock_now(c, "^K");
    lock_now(c, "^L(1)");
    lock_now(c, "^L(2)");
    tcl *admin = cl_open(&t);
    cl_hello(admin, "name=operator");
    char req[96];
    snprintf(req, sizeof req, "REMOVE owner=%llu name=^K", (unsigned long long)id);
    assert_string_equal(cl_req(admin, req), "OK 1");

    /* the unlock goes out; its refusal is only read by the lock after it */
    must(nslock_unlock_async(c, "^L(1)", NSLOCK_EXCLUSIVE, &err), &err, "unlock async");
    assert_int_equal(nslock_lock(c, "^M", NSLOCK_EXCLUSIVE, 0, &got, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_LOST);
    assert_non_null(strstr(err.message, "unlock of ^L(1): removed by session "));
    assert_int_equal(server_rows(&t, id, "^M"), 0);      /* the lock was given back */
    assert_false(mirror_holds(c, "^M"));
    assert_int_equal(server_rows(&t, id, "^L(1)"), 1);   /* the refused unlock was not run */
    /* told once: the next calls work */
    lock_now(c, "^M");
    must(nslock_ping(c, &err), &err, "ping");

    /* the same through nslock_sync */
    snprintf(req, sizeof req, "REMOVE owner=%llu name=^M", (unsigned long long)id);
    assert_string_equal(cl_req(admin, req), "OK 1");
    must(nslock_unlock_async(c, "^L(2)", NSLOCK_EXCLUSIVE, &err), &err, "unlock async");
    assert_int_equal(nslock_sync(c, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_LOST);
    assert_non_null(strstr(err.message, "unlock of ^L(2): "));
    must(nslock_sync(c, &err), &err, "sync after the failure was told");
    cl_close(admin);
    nslock_close(c);
    ts_finish(&t);
}

/* Several requests in flight; their answers in the order sent, a server
 * error among them, a synchronous call between them leaving the results
 * for nslock_pipeline_result. */
static void pipelined_answers_in_order(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    nslock *c = open_client(&t, "pipeline");
    tcl *rival = cl_open(&t);
    cl_granted(cl_req(rival, "LOCK +^P(2)"));
    nslock_error err;
    nslock_outcome got;
    must(nslock_pipeline_lock(c, "^P(1)", NSLOCK_EXCLUSIVE, 0, &err), &err, "lock 1");
    must(nslock_pipeline_lock(c, "^P(2)", NSLOCK_EXCLUSIVE, 0, &err), &err, "lock 2");
    must(nslock_pipeline_command(c, "LOCK +^|\"NOSUCH\"|P(3):0", &err), &err, "bad namespace");
    must(nslock_ping(c, &err), &err, "ping in between");
    must(nslock_pipeline_unlock(c, "^P(1)", NSLOCK_EXCLUSIVE, &err), &err, "unlock 1");
    must(nslock_pipeline_command(c, "LOCK +(^P(4),^P(5)):0", &err), &err, "two names");
    assert_int_equal(nslock_pipeline_owed(c), 5);

    must(nslock_pipeline_result(c, &got, &err), &err, "result 1");
    assert_int_equal(got.test, 1);
    assert_true(got.token > 0);
    must(nslock_pipeline_result(c, &got, &err), &err, "result 2");
    assert_int_equal(got.test, 0);                      /* the rival holds it */
    assert_int_equal(nslock_pipeline_result(c, &got, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_NAMESPACE);
    must(nslock_pipeline_result(c, &got, &err), &err, "result 4");
    assert_int_equal(got.test, -1);                     /* only released */
    must(nslock_pipeline_result(c, &got, &err), &err, "result 5");
    assert_int_equal(got.test, 1);
    assert_int_equal(nslock_pipeline_owed(c), 0);
    assert_int_equal(nslock_pipeline_result(c, &got, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_ARGUMENT);

    /* the mirror follows the answers */
    assert_false(mirror_holds(c, "^P(1)"));
    assert_false(mirror_holds(c, "^P(2)"));
    assert_true(mirror_holds(c, "^P(4)"));
    assert_true(mirror_holds(c, "^P(5)"));
    cl_granted(cl_req(rival, "LOCK +^P(1):0"));
    assert_string_equal(cl_req(rival, "LOCK +^P(4):0"), "OK 0");

    /* refused before anything is sent */
    assert_int_equal(nslock_pipeline_command(c, "LOCK +^a,+^b", &err), -1);
    assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
    assert_int_equal(nslock_pipeline_lock(c, "^a,^b", 0, 0, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_ARGUMENT);
    assert_int_equal(nslock_pipeline_owed(c), 0);
    cl_close(rival);
    nslock_close(c);
    ts_finish(&t);
}

/* More answers owed than the library keeps in flight: the oldest are read
 * as new ones go out, and every result still comes, in order. */
static void many_in_flight(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    nslock *c = open_client(&t, "many");
    nslock_error err;
    nslock_outcome got;
    enum { N = NSLOCK_PIPELINE_MAX * 2 + 3 };
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "^N(%d)", i);
        must(nslock_pipeline_lock(c, name, NSLOCK_EXCLUSIVE, 0, &err), &err, name);
        must(nslock_unlock_async(c, name, NSLOCK_EXCLUSIVE, &err), &err, name);
    }
    uint64_t last = 0;
    for (int i = 0; i < N; i++) {
        must(nslock_pipeline_result(c, &got, &err), &err, "result");
        assert_int_equal(got.test, 1);
        assert_true(got.token > last);                  /* in the order sent */
        last = got.token;
    }
    must(nslock_sync(c, &err), &err, "sync");
    assert_int_equal(server_rows(&t, nslock_session_id(c), "^N"), 0);
    nslock_close(c);
    ts_finish(&t);
}

/* Closing with answers owed: unlocks and a granted lock are read, a lock
 * that waits is not waited for; the session ends and releases it all. */
static void close_with_answers_owed(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *rival = cl_open(&t);
    cl_granted(cl_req(rival, "LOCK +^W"));
    nslock *c = open_client(&t, "closing");
    nslock_error err;
    lock_now(c, "^C(1)");
    lock_now(c, "^C(2)");
    must(nslock_unlock_async(c, "^C(1)", NSLOCK_EXCLUSIVE, &err), &err, "unlock async");
    must(nslock_pipeline_lock(c, "^C(3)", NSLOCK_EXCLUSIVE, 0, &err), &err, "lock");
    must(nslock_pipeline_lock(c, "^W", NSLOCK_EXCLUSIVE, NSLOCK_WAIT_FOREVER, &err), &err,
         "waiting lock");
    must(nslock_unlock_async(c, "^C(2)", NSLOCK_EXCLUSIVE, &err), &err, "unlock behind it");
    nslock_close(c);                                    /* returns: does not wait for ^W */
    cl_granted(cl_req(rival, "LOCK +(^C(1),^C(2),^C(3)):10"));
    tcl *obs = cl_open(&t);
    for (long deadline = ts_now_ms() + 10000; cl_stat(obs, "waiters") > 0;)
        if (ts_now_ms() > deadline)
            fail_msg("the closed session's LOCK still waits");
    assert_string_equal(cl_req(rival, "LOCK -^W"), "OK");
    assert_int_equal(cl_stat(obs, "entries"), 3);      /* the rival's three */
    cl_close(obs);
    cl_close(rival);
    ts_finish(&t);
}

/* The server dies with an asynchronous unlock and a pipelined lock unread
 * (it was stopped before it read them); it starts again and the client
 * reclaims: the unlocked lock is not reclaimed, the pipelined lock is sent
 * again and granted, the other locks come back. */
static void restart_with_an_unlock_in_flight(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    nslock *c = open_client(&t, "restarted");
    nslock_error err;
    nslock_outcome got;
    uint64_t id = nslock_session_id(c), epoch = nslock_epoch(c);
    lock_now(c, "^R(1)");
    lock_now(c, "^R(2)");
    kill(t.pid, SIGSTOP);                               /* reads nothing more */
    must(nslock_unlock_async(c, "^R(1)", NSLOCK_EXCLUSIVE, &err), &err, "unlock async");
    must(nslock_pipeline_lock(c, "^R(3)", NSLOCK_EXCLUSIVE, 0, &err), &err, "pipelined lock");
    kill(t.pid, SIGKILL);
    waitpid(t.pid, NULL, 0);
    ts_launch(&t);
    must(nslock_pipeline_result(c, &got, &err), &err, "result after the restart");
    assert_int_equal(got.test, 1);
    must(nslock_sync(c, &err), &err, "sync");
    assert_true(nslock_epoch(c) > epoch);
    assert_int_equal(nslock_session_id(c), id);
    assert_int_equal(nslock_is_lost(c), 0);
    /* RECLAIMed: ^R(2) alone (^R(3) was granted as a new LOCK after) */
    assert_true(ts_log_contains(&t, ": reclaimed 1 entries"));
    assert_int_equal(server_rows(&t, id, "^R(1)"), 0);
    assert_int_equal(server_rows(&t, id, "^R(2)"), 1);
    assert_int_equal(server_rows(&t, id, "^R(3)"), 1);
    assert_false(mirror_holds(c, "^R(1)"));
    assert_true(mirror_holds(c, "^R(3)"));
    tcl *rival = cl_open(&t);
    cl_granted(cl_req(rival, "LOCK +^R(1):10"));
    assert_string_equal(cl_req(rival, "LOCK +^R(2):0"), "OK 0");
    cl_close(rival);
    nslock_close(c);
    ts_finish(&t);
}

/* A TCP blip with answers owed. The library's socket is swapped under it
 * for a dead end, the real connection kept open (silent, as a dead network
 * is): three answers the server sent are never read, one LOCK waits on
 * the server, two more requests go into the dead end. The library resumes
 * the session: the three answers are sent again, the waiting LOCK's answer comes
 * on the new connection, and the two requests the server never had are
 * sent again. */
static void resume_with_answers_owed(void **state)
{
    (void)state;
    tsrv t;
    int port = ts_start_tcp(&t, 30);
    char host_port[32];
    snprintf(host_port, sizeof host_port, "127.0.0.1:%d", port);
    nslock *c;
    nslock_error err;
    nslock_outcome got;
    nslock_options o = {.host_port = host_port, .token = "s3cret-token", .client_name = "blip",
                        .keeper = NSLOCK_KEEPER_NONE};
    for (long deadline = ts_now_ms() + 10000; nslock_open(&c, &o, &err) < 0;)
        if (ts_now_ms() > deadline)
            fail_msg("connect: %s %s", err.name, err.message);
    uint64_t id = nslock_session_id(c);
    tcl *rival = cl_open(&t);
    cl_granted(cl_req(rival, "LOCK +^T(9)"));
    cl_granted(cl_req(rival, "LOCK +^T(5)"));
    lock_now(c, "^T(1)");
    lock_now(c, "^T(2)");
    must(nslock_pipeline_lock(c, "^T(3)", NSLOCK_EXCLUSIVE, 0, &err), &err, "lock 3");
    must(nslock_pipeline_lock(c, "^T(5)", NSLOCK_EXCLUSIVE, 0, &err), &err, "lock 5");
    must(nslock_unlock_async(c, "^T(1)", NSLOCK_EXCLUSIVE, &err), &err, "unlock 1");
    must(nslock_pipeline_lock(c, "^T(9)", NSLOCK_EXCLUSIVE, 30, &err), &err, "lock 9");
    must(nslock_flush(c, &err), &err, "flush");       /* pipelined requests are held back */
    tcl *obs = cl_open(&t);
    for (long deadline = ts_now_ms() + 10000; cl_stat(obs, "waiters") < 1;)
        if (ts_now_ms() > deadline)
            fail_msg("the pipelined LOCK did not queue");

    int fd = nslock_fd(c), keep = dup(fd), hole[2];
    assert_true(keep >= 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, hole), 0);
    assert_int_equal(fcntl(hole[0], F_SETFL, O_NONBLOCK), 0);
    assert_true(dup2(hole[0], fd) == fd);
    close(hole[0]);
    must(nslock_unlock_async(c, "^T(2)", NSLOCK_EXCLUSIVE, &err), &err, "unlock 2 (lost)");
    must(nslock_pipeline_lock(c, "^T(4)", NSLOCK_EXCLUSIVE, 0, &err), &err, "lock 4 (lost)");
    close(hole[1]);                                     /* the library notices now */

    must(nslock_pipeline_result(c, &got, &err), &err, "result 3");
    assert_int_equal(got.test, 1);
    assert_true(ts_log_contains(&t, "3 answer(s) sent again"));
    must(nslock_pipeline_result(c, &got, &err), &err, "result 5");
    assert_int_equal(got.test, 0);                      /* each answer once, in order */
    assert_int_equal(nslock_session_id(c), id);
    assert_string_equal(cl_req(rival, "LOCK -^T(9)"), "OK");
    must(nslock_pipeline_result(c, &got, &err), &err, "result 9");
    assert_int_equal(got.test, 1);
    must(nslock_pipeline_result(c, &got, &err), &err, "result 4");
    assert_int_equal(got.test, 1);
    must(nslock_sync(c, &err), &err, "sync");
    assert_int_equal(nslock_is_lost(c), 0);
    assert_int_equal(server_rows(&t, id, "^T(1)"), 0);
    assert_int_equal(server_rows(&t, id, "^T(2)"), 0);
    assert_int_equal(server_rows(&t, id, "^T(3)"), 1);
    assert_int_equal(server_rows(&t, id, "^T(4)"), 1);
    assert_int_equal(server_rows(&t, id, "^T(9)"), 1);
    close(keep);
    cl_close(obs);
    cl_close(rival);
    nslock_close(c);
    ts_finish(&t);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(async_unlock_frees_the_name, ts_teardown),
        cmocka_unit_test_teardown(deferred_unlock_goes_with_the_next_request, ts_teardown),
        cmocka_unit_test_teardown(failed_async_unlock_is_told_next, ts_teardown),
        cmocka_unit_test_teardown(pipelined_answers_in_order, ts_teardown),
        cmocka_unit_test_teardown(many_in_flight, ts_teardown),
        cmocka_unit_test_teardown(close_with_answers_owed, ts_teardown),
        cmocka_unit_test_teardown(restart_with_an_unlock_in_flight, ts_teardown),
        cmocka_unit_test_teardown(resume_with_answers_owed, ts_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
