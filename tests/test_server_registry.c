/* The registry under fire (docs/DESIGN.md): the server is killed with SIGKILL at
 * random moments while 50 sessions connect and take their first locks, so
 * some kills land while a batch is being appended and synced. After every
 * restart the registry must read (no "damaged"), and every session that was
 * answered a grant must be in it: its RECLAIM SESSION is accepted. Sessions
 * that were never answered may or may not be there; that is the group
 * commit's promise, nothing more.
 *
 * NSL_REGISTRY_KILLS sets the number of kills (default 40; the acceptance
 * run uses 200). */
#include "server_client.h"

enum { SESSIONS = 50 };

typedef struct probe {
    tcl *c;
    unsigned id;
    char secret[33];
    bool granted;
} probe;

static void hello(probe *p)
{
    const char *r = cl_req(p->c, "HELLO");
    const char *s = strstr(r, " secret ");
    assert_non_null(s);
    memcpy(p->secret, s + 8, 32);
    p->secret[32] = '\0';
    p->id = (unsigned)atoi(strstr(r, "session ") + 8);
}

static void kills_while_registering(void **state)
{
    (void)state;
    const char *env = getenv("NSL_REGISTRY_KILLS");
    int kills = env ? atoi(env) : 40;
    tsrv t;
    /* recovery_grace_s: 1, so that a start with sessions nobody reclaims
     * ends quickly; each round reclaims its granted sessions itself. */
    ts_start_with(&t, NULL, "server:\n  recovery_grace_s: 1\n");
    srand(12345);
    int answered_total = 0;
    static probe p[SESSIONS];
    for (int round = 0; round < kills; round++) {
        for (int i = 0; i < SESSIONS; i++) {
            p[i].c = cl_open(&t);
            hello(&p[i]);
            p[i].granted = false;
        }
        /* every session asks at once; the kill comes at a random moment */
        for (int i = 0; i < SESSIONS; i++) {
            char req[48];
            snprintf(req, sizeof req, "LOCK +^k(%d,%d)\n", round, i);
            cl_send(p[i].c, req);
        }
        usleep((useconds_t)(rand() % 3000));
        kill(t.pid, SIGKILL);
        waitpid(t.pid, NULL, 0);
        t.pid = 0;
        for (int i = 0; i < SESSIONS; i++) {
            int r = cl_line_wait(p[i].c, 0);
            while (r == 0)
                r = cl_line_wait(p[i].c, 50);     /* what was sent before the kill */
            p[i].granted = r == 1 && !strncmp(p[i].c->last, "OK 1 ", 5);
            answered_total += p[i].granted;
            cl_close(p[i].c);
        }
        ts_launch(&t);
        assert_false(ts_log_contains(&t, "damaged"));
        /* Every granted session was durable before its answer left. All
         * come back (registered or not), so recovery ends at once. */
        for (int i = 0; i < SESSIONS; i++) {
            tcl *c = cl_open(&t);
            char req[96], want[40];
            snprintf(req, sizeof req, "RECLAIM SESSION %u %s", p[i].id, p[i].secret);
            snprintf(want, sizeof want, "OK session %u", p[i].id);
            const char *r = cl_req(c, req);
            bool back = strcmp(r, want) == 0;
            if (p[i].granted && !back)
                fail_msg("round %d: session %u was granted a lock but the restarted server "
                         "answers its reclaim '%s'", round, p[i].id, r);
            if (!back && strncmp(r, "ERR LOST ", 9) != 0)
                fail_msg("round %d: session %u: unexpected '%s'", round, p[i].id, r);
            if (back)
                assert_string_equal(cl_req(c, "RECLAIM DONE"), "OK");
            cl_close(c);
        }
    }
    printf("# %d kills, %d sessions answered a grant before one, all registered\n", kills,
           answered_total);
    ts_finish(&t);
}

/* Sessions come and go: the registry log is compacted, not grown forever. */
static void registry_stays_small(void **state)
{
    (void)state;
    enum { ROUNDS = 60, AT_ONCE = 100 };
    tsrv t;
    ts_start(&t);
    tcl *keep = cl_open(&t);
    cl_granted(cl_req(keep, "LOCK +^kept"));
    static tcl *c[AT_ONCE];
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < AT_ONCE; i++) {
            c[i] = cl_open(&t);
            cl_send(c[i], "LOCK +^churn\nLOCK -^churn\n");
        }
        for (int i = 0; i < AT_ONCE; i++) {
            cl_line(c[i]);
            cl_line(c[i]);
            cl_close(c[i]);
        }
    }
    char path[200];
    snprintf(path, sizeof path, "%s/registry", t.state);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    printf("# %d sessions came and went; the registry is %lld bytes\n", ROUNDS * AT_ONCE,
           (long long)st.st_size);
    /* without compaction: two records a session, ~70 bytes each */
    assert_true(st.st_size < 4 * 4096 * 80);
    assert_true(st.st_size < (off_t)ROUNDS * AT_ONCE * 70);
    /* and the one that still holds is in it: a crash keeps its lock (once
     * the server has seen the others go) */
    tcl *obs = cl_open(&t);
    for (long deadline = ts_now_ms() + 10000; cl_stat(obs, "sessions") > 2;)
        if (ts_now_ms() > deadline)
            fail_msg("the closed sessions did not end");
    cl_close(obs);
    kill(t.pid, SIGKILL);
    waitpid(t.pid, NULL, 0);
    ts_launch(&t);
    obs = cl_open(&t);
    assert_int_equal(cl_stat(obs, "recovering"), 1);
    assert_int_equal(cl_stat(obs, "recovery_awaited"), 1);
    cl_close(obs);
    cl_close(keep);
    ts_finish(&t);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(kills_while_registering, ts_teardown),
        cmocka_unit_test_teardown(registry_stays_small, ts_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
