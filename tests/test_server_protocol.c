/* docs/PROTOCOL.md request by request, on a real server: the answers'
 * exact form, as a client library or a person with socat sees them. */
#include "server_client.h"

/* The transcript at the end of PROTOCOL.md. */
static void transcript(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *s1 = cl_open(&t), *s2 = cl_open(&t);
    unsigned id1 = cl_hello(s1, "name=shell1");
    /* a second HELLO tells the same session, now in namespace BETA */
    assert_string_equal(cl_req(s1, "NS BETA"), "OK");
    char want[64];
    snprintf(want, sizeof want, "OK nslock 1 session %u namespace BETA epoch 1 secret ", id1);
    const char *hello = cl_req(s1, "HELLO");
    assert_true(!strncmp(hello, want, strlen(want)));
    assert_int_equal(strspn(hello + strlen(want), "0123456789abcdef"), 32);
    assert_string_equal(hello + strlen(want) + 32, " grace 10");
    cl_granted(cl_req(s1, "LOCK +^MyGlobal(15)"));
    int n;
    char *rows = cl_data(s1, "RESOLVE ^MyGlobal(15)", &n);
    assert_int_equal(n, 2);
    assert_string_equal(rows, "ALPHADB\t/data/alpha\tmap\tMyGlobal(15)\n"
                              "BETADB\t/data/beta\tnamespace\t-\n");
    free(rows);

    assert_string_equal(cl_req(s2, "NS ALPHA"), "OK");
    assert_string_equal(cl_req(s2, "LOCK +^MyGlobal(15):0.05"), "OK 0");
    cl_granted(cl_req(s2, "LOCK +^MyGlobal(16):2"));
    assert_string_equal(cl_req(s2, "BOGUS"), "ERR COMMAND unknown request 'BOGUS'");
    const char *r = cl_req(s2, "LOCK +^MyGlobal(");
    assert_true(!strncmp(r, "ERR SYNTAX column 17: ", 22));
    /* columns count from the start of the request line */
    r = cl_req(s2, "  lock +^a(1,)");
    assert_true(!strncmp(r, "ERR SYNTAX column 14: ", 22));
    r = cl_req(s2, "RESOLVE   ^a(");
    assert_true(!strncmp(r, "ERR SYNTAX column 14: ", 22));

    /* HELLO over the Unix socket ignores a claimed pid: the kernel's wins */
    char req[64];
    snprintf(req, sizeof req, "SHOW owner=%u", id1);
    rows = cl_data(s2, req, &n);
    char pid[32];
    snprintf(pid, sizeof pid, "\t%ld\tshell1\t", (long)getpid());
    assert_non_null(strstr(rows, pid));
    free(rows);
    cl_hello(s1, "name=renamed pid=1");
    rows = cl_data(s2, req, &n);
    snprintf(pid, sizeof pid, "\t%ld\trenamed\t", (long)getpid());
    assert_non_null(strstr(rows, pid));
    free(rows);
    cl_close(s1);
    cl_close(s2);
    ts_finish(&t);
}

/* OK 1 TOKEN / OK 0 / OK, keywords in any case, L, CRLF, pipelining. */
static void lock_answers(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *b = cl_open(&t);
    unsigned long long t1 = cl_granted(cl_req(a, "LOCK +^x"));
    unsigned long long t2 = cl_granted(cl_req(a, "l +^y#\"S\""));
    assert_true(t2 > t1);
    assert_string_equal(cl_req(a, "Lock -^y#\"s\""), "OK");
    assert_string_equal(cl_req(a, "LOCK -^nothing"), "OK");
    /* several arguments: $TEST of the last one that takes locks */
    assert_string_equal(cl_req(b, "LOCK +^z:0,+^x:0,-^z"), "OK 0");
    unsigned long long t3 = cl_granted(cl_req(b, "LOCK +^x:0,+^z:0"));   /* x fails, z last */
    assert_true(t3 > t2);
    assert_string_equal(cl_req(b, "LOCK"), "OK");
    /* CRLF, pipelined, one answer each in order */
    cl_send(a, "PING\r\nping\r\nSTATS\r\n");
    assert_string_equal(cl_line(a), "OK PONG");
    assert_string_equal(cl_line(a), "OK PONG");
    assert_string_equal(cl_line(a), "DATA 15");
    const char *names[] = {"entries\t1", "max_entries\t1000000", "sessions\t2", "waiters\t0",
                           "grants\t4", "escalations\t0", "deadlocks\t0", "timeouts\t0",
                           "table_full_episodes\t0", "epoch\t1", "recovering\t0",
                           "recovery_awaited\t0", "registry_syncs\t2",
                           "refused_connections\t0", "auth_failures\t0"};
    for (int i = 0; i < 15; i++)
        assert_string_equal(cl_line(a), names[i]);
    /* AUTH over the Unix socket: the kernel already vouched */
    assert_string_equal(cl_req(a, "AUTH whatever"), "OK");
    assert_string_equal(cl_req(a, "QUIT"), "OK bye");
    assert_true(cl_closed(a, 5000));
    /* QUIT released everything */
    cl_granted(cl_req(b, "LOCK +^x:0"));
    cl_close(a);
    cl_close(b);
    ts_finish(&t);
}

/* TSTART / TCOMMIT / TROLLBACK [1]: levels, and the delock state in SHOW. */
static void transactions(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *b = cl_open(&t);
    assert_string_equal(cl_req(a, "TSTART"), "OK 1");
    assert_string_equal(cl_req(a, "TSTART"), "OK 2");
    cl_granted(cl_req(a, "LOCK +^d"));
    assert_string_equal(cl_req(a, "LOCK -^d"), "OK");
    int n;
    char *rows = cl_data(b, "SHOW name=^d", &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(rows, "\tExclusive->Delock\t^d\t"));
    free(rows);
    assert_string_equal(cl_req(b, "LOCK +^d:0"), "OK 0");
    assert_string_equal(cl_req(a, "TROLLBACK 1"), "OK 1");
    assert_string_equal(cl_req(b, "LOCK +^d:0"), "OK 0");
    cl_send(b, "LOCK +^d\n");
    assert_string_equal(cl_req(a, "TCOMMIT"), "OK 0");     /* the outermost ends: released */
    cl_granted(cl_line(b));
    assert_string_equal(cl_req(a, "TCOMMIT"), "ERR COMMAND TCOMMIT with no transaction open");
    assert_string_equal(cl_req(a, "TSTART"), "OK 1");
    assert_string_equal(cl_req(a, "TSTART"), "OK 2");
    assert_string_equal(cl_req(a, "TROLLBACK"), "OK 0");
    cl_close(a);
    cl_close(b);
    ts_finish(&t);
}

/* Every answer is valid UTF-8 (JSON is made of it): bytes of a name that
 * are no UTF-8 come out M-style, $C(255); a client name's become '?';
 * UTF-8 itself passes unchanged. */
static void answers_are_utf8(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *c = cl_open(&t);
    cl_req(c, "HELLO name=\xff\xfe" "caf\xc3\xa9");
    cl_granted(cl_req(c, "LOCK +^u(\"a\xff\x80" "b\",\"caf\xc3\xa9\",\"\xc3\")"));
    char *rows = cl_data(c, "SHOW name=^u", NULL);
    assert_non_null(strstr(rows, "\t??caf\xc3\xa9\t"));
    assert_non_null(strstr(rows, "\t^u(\"a\"_$C(255,128)_\"b\",\"caf\xc3\xa9\",$C(195))\t"));
    free(rows);
    cl_close(c);
    ts_finish(&t);
}

/* A request that waits for room in a full table says so in BLOCKERS. */
static void waiting_for_room_says_so(void **state)
{
    (void)state;
    tsrv t;
    ts_start_with(&t, "  max_entries: 1\n", NULL);
    tcl *a = cl_open(&t), *b = cl_open(&t), *obs = cl_open(&t);
    cl_granted(cl_req(a, "LOCK +^a"));
    cl_send(b, "LOCK +^b\n");
    assert_int_equal(cl_line_wait(b, 100), 0);
    char *rows = cl_data(obs, "SHOW name=^b", NULL);
    assert_non_null(strstr(rows, "\tWaitExclusive\t^b\t"));
    assert_non_null(strstr(rows, "\ttable-full\n"));
    free(rows);
    assert_string_equal(cl_req(a, "LOCK -^a"), "OK");
    cl_granted(cl_line(b));
    cl_close(a);
    cl_close(b);
    cl_close(obs);
    ts_finish(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ts_test(transcript),
        ts_test(lock_answers),
        ts_test(transactions),
        ts_test(answers_are_utf8),
        ts_test(waiting_for_room_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
