/* REMOVE against a real `nslock serve`: the owner of removed entries is
 * told on its next request (ERR LOST naming the removal), and the log says
 * who removed whose entries, and who was refused. */
#include "server_client.h"

/* The first request after another session's REMOVE is answered LOST and
 * not run; PING is answered as always; after that the session goes on. */
static void owner_is_told_on_next_request(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *admin = cl_open(&t);
    unsigned ida = cl_hello(a, "name=victim");
    unsigned idadmin = cl_hello(admin, "name=operator");
    cl_granted(cl_req(a, "LOCK +^K"));
    cl_granted(cl_req(a, "LOCK +^L"));
    char req[128], want[256];
    snprintf(req, sizeof req, "REMOVE owner=%u name=^K", ida);
    assert_string_equal(cl_req(admin, req), "OK 1");

    assert_string_equal(cl_req(a, "PING"), "OK PONG");
    snprintf(want, sizeof want,
             "ERR LOST removed by session %u (uid %lu, pid %ld, client operator): 1 entry of "
             "this session, e.g. ^K in USERDB; request not run",
             idadmin, (unsigned long)getuid(), (long)getpid());
    assert_string_equal(cl_req(a, "LOCK -^K"), want);
    /* told once; the LOCK that was not run can be sent again */
    assert_string_equal(cl_req(a, "LOCK -^K"), "OK");
    /* what was not removed is still held */
    int n;
    snprintf(req, sizeof req, "SHOW owner=%u", ida);
    char *rows = cl_data(a, req, &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(rows, "\t^L\t"));
    free(rows);
    cl_close(a);
    cl_close(admin);
    ts_finish(&t);
}

/* Two REMOVEs before the owner's next request: one answer counts both;
 * a session that removes its own entries is not told again. */
static void removals_add_up_and_self_is_not_told(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *admin = cl_open(&t);
    unsigned ida = cl_hello(a, NULL);
    unsigned idadmin = cl_hello(admin, NULL);
    /* ^MyGlobal(15) in BETA is two entries: ALPHADB and BETADB */
    assert_string_equal(cl_req(a, "NS BETA"), "OK");
    cl_granted(cl_req(a, "LOCK +^MyGlobal(15)"));
    cl_granted(cl_req(a, "LOCK +^x(1)"));
    cl_granted(cl_req(admin, "LOCK +^mine"));
    char req[128];
    snprintf(req, sizeof req, "REMOVE owner=%u database=ALPHADB", ida);
    assert_string_equal(cl_req(admin, req), "OK 1");
    snprintf(req, sizeof req, "REMOVE owner=%u name=^x(1)", ida);
    assert_string_equal(cl_req(admin, req), "OK 1");
    const char *got = cl_req(a, "LOCK +^y");
    char want[160];
    snprintf(want, sizeof want, "ERR LOST removed by session %u (", idadmin);
    assert_true(!strncmp(got, want, strlen(want)));
    assert_non_null(strstr(got, " and 1 other REMOVE: 2 entries of this session, e.g. "
                                "^MyGlobal(15) in ALPHADB; request not run"));
    cl_granted(cl_req(a, "LOCK +^y"));

    assert_string_equal(cl_req(admin, "REMOVE name=^mine"), "OK 1");
    assert_string_equal(cl_req(admin, "LOCK"), "OK");
    cl_close(a);
    cl_close(admin);
    ts_finish(&t);
}

/* One log line names the remover and the owners it took entries from; a
 * REMOVE refused for want of rights is logged with who tried. */
static void log_names_who_and_whose(void **state)
{
    (void)state;
    tsrv t;
    int port = ts_start_tcp(&t, 0);
    tcl *a = cl_open(&t), *b = cl_open(&t), *admin = cl_open(&t);
    unsigned ida = cl_hello(a, NULL), idb = cl_hello(b, NULL);
    unsigned idadmin = cl_hello(admin, "name=operator");
    cl_granted(cl_req(a, "LOCK +^r(1)"));
    cl_granted(cl_req(a, "LOCK +^r(2)"));
    cl_granted(cl_req(b, "LOCK +^s"));
    assert_string_equal(cl_req(admin, "REMOVE database=USERDB"), "OK 3");
    char want[256];
    snprintf(want, sizeof want,
             "REMOVE by session %u (uid %lu, pid %ld, client operator) [database=USERDB]: "
             "removed 3 entries of session %u (2), session %u (1)",
             idadmin, (unsigned long)getuid(), (long)getpid(), ida, idb);
    assert_true(ts_log_contains(&t, want));

    /* over TCP nobody is an admin */
    assert_true(!strncmp(cl_req(b, "LOCK +^s"), "ERR LOST removed by ", 20));
    cl_granted(cl_req(b, "LOCK +^s"));
    long deadline = ts_now_ms() + 5000;
    int fd;
    while ((fd = cl_connect_tcp(port)) < 0) {
        if (ts_now_ms() > deadline)
            fail_msg("nothing listens on 127.0.0.1:%d", port);
        usleep(5000);
    }
    tcl *remote = cl_from_fd(fd);
    assert_string_equal(cl_req(remote, "AUTH s3cret-token"), "OK");
    unsigned idr = cl_hello(remote, "name=intruder pid=4242");
    char req[64];
    snprintf(req, sizeof req, "REMOVE owner=%u", idb);
    assert_true(!strncmp(cl_req(remote, req), "ERR PROTECT ", 12));
    snprintf(want, sizeof want,
             "REMOVE by session %u (TCP, pid 4242, client intruder) [owner=%u] refused", idr,
             idb);
    assert_true(ts_log_contains(&t, want));
    /* refused: b holds ^s still and is told nothing */
    assert_string_equal(cl_req(b, "LOCK -^s"), "OK");
    cl_close(remote);
    cl_close(a);
    cl_close(b);
    cl_close(admin);
    ts_finish(&t);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(owner_is_told_on_next_request, ts_teardown),
        cmocka_unit_test_teardown(removals_add_up_and_self_is_not_told, ts_teardown),
        cmocka_unit_test_teardown(log_names_who_and_whose, ts_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
