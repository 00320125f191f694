/* The HA coordination on a real ZooKeeper: election and the epoch, token
 * reservations that only rise across leaders, the registry a new leader
 * finds, and step-down when ZooKeeper stops answering (SIGSTOP). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "server/coord.h"
#include "zk_harness.h"

typedef struct seen {
    int leading, standby, step_down;
    uint64_t epoch;
    char leader[256];
    char why[256];
} seen;

static void on_leading(void *arg, uint64_t epoch)
{
    seen *s = arg;
    s->leading++;
    s->epoch = epoch;
}

static void on_standby(void *arg, const char *leader)
{
    seen *s = arg;
    s->standby++;
    snprintf(s->leader, sizeof s->leader, "%s", leader ? leader : "");
}

static void on_step_down(void *arg, const char *why)
{
    seen *s = arg;
    s->step_down++;
    snprintf(s->why, sizeof s->why, "%s", why);
}

static const nsl_coord_events events = {on_leading, on_standby, on_step_down};

typedef struct fixture {
    tzk zk;
    uv_loop_t loop;
    char path[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tzk_start(&f->zk);
    uv_loop_init(&f->loop);
    static int n;
    snprintf(f->path, sizeof f->path, "/nslock/test%d", ++n);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    tzk_finish(&f->zk);
    free(f);
    return 0;
}

static nsl_coord *start(fixture *f, const char *advertise, seen *s, uint32_t timeout_ms)
{
    nsl_coord_config cfg = {f->zk.connect, f->path, timeout_ms, advertise, 1000};
    nsl_coord *c;
    char why[256];
    if (nsl_coord_start(&f->loop, &cfg, &events, s, &c, why, sizeof why) != 0)
        fail_msg("nsl_coord_start: %s", why);
    return c;
}

/* Runs the loop until *flag reaches want (or fails after ms). */
static void run_until(fixture *f, const int *flag, int want, int ms, const char *what)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (*flag < want) {
        if (uv_hrtime() > deadline)
            fail_msg("timed out waiting for %s", what);
        uv_run(&f->loop, UV_RUN_NOWAIT);
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void stop(fixture *f, nsl_coord *c)
{
    nsl_coord_stop(c);
    uv_run(&f->loop, UV_RUN_NOWAIT);   /* the close callbacks */
}

static void done_flag(void *arg, bool ok)
{
    int *flag = arg;
    *flag = ok ? 1 : -1;
}

typedef struct registry_seen {
    int n;
    uint32_t id;
    char hash[16];
    int done;
} registry_seen;

static void list_fn(void *arg, uint32_t id, const char *hash)
{
    registry_seen *found = arg;
    found->n++;
    found->id = id;
    snprintf(found->hash, sizeof found->hash, "%s", hash);
}

static void list_done(void *arg, bool ok)
{
    registry_seen *found = arg;
    found->done = ok ? 1 : -1;
}

static void test_alone_it_leads_and_reserves_tokens(void **state)
{
    fixture *f = *state;
    seen s = {0};
    nsl_coord *c = start(f, "127.0.0.1:7001", &s, 2000);
    run_until(f, &s.leading, 1, 40000, "leadership");
    assert_int_equal(nsl_coord_role_now(c), NSL_COORD_LEADER);
    assert_true(s.epoch > 0 && nsl_coord_epoch(c) == s.epoch);
    assert_string_equal(nsl_coord_leader(c), "127.0.0.1:7001");
    assert_string_equal(nsl_coord_session_state(c), "connected");
    assert_true(nsl_coord_may_grant(c));
    uint64_t base = nsl_coord_tokens_base(c), first = nsl_coord_tokens_reserved(c);
    assert_int_equal(first, base + 1000);
    int reserved = 0;
    nsl_coord_reserve(c, done_flag, &reserved);
    run_until(f, &reserved, 1, 5000, "a second reservation");
    assert_int_equal(nsl_coord_tokens_reserved(c), first + 1000);
    stop(f, c);
}

static void test_failover_raises_epoch_and_tokens(void **state)
{
    fixture *f = *state;
    seen a = {0}, b = {0};
    nsl_coord *ca = start(f, "127.0.0.1:7001", &a, 2000);
    run_until(f, &a.leading, 1, 40000, "A leading");
    nsl_coord *cb = start(f, "127.0.0.1:7002", &b, 2000);
    run_until(f, &b.standby, 1, 5000, "B standing by");
    assert_string_equal(b.leader, "127.0.0.1:7001");
    assert_int_equal(nsl_coord_role_now(cb), NSL_COORD_STANDBY);
    assert_false(nsl_coord_may_grant(cb));
    uint64_t a_reserved = nsl_coord_tokens_reserved(ca), a_epoch = a.epoch;

    /* The registry A leaves behind is what B finds. */
    int put1 = 0, put2 = 0;
    nsl_coord_registry_put(ca, 1, "aa11", done_flag, &put1);
    nsl_coord_registry_put(ca, 2, "bb22", done_flag, &put2);
    run_until(f, &put1, 1, 5000, "registry put 1");
    run_until(f, &put2, 1, 5000, "registry put 2");
    nsl_coord_registry_del(ca, 1, NULL, NULL);
    int again = 0;   /* a reused id overwrites */
    nsl_coord_registry_put(ca, 2, "cc33", done_flag, &again);
    run_until(f, &again, 1, 5000, "registry overwrite");

    stop(f, ca);   /* A's session closes: its election znode goes at once */
    run_until(f, &b.leading, 1, 10000, "B leading");
    assert_true(b.epoch > a_epoch);
    assert_true(nsl_coord_tokens_base(cb) >= a_reserved);
    assert_string_equal(nsl_coord_leader(cb), "127.0.0.1:7002");

    registry_seen found = {0};
    nsl_coord_registry_list(cb, list_fn, list_done, &found);
    run_until(f, &found.done, 1, 5000, "the registry list");
    assert_int_equal(found.n, 1);
    assert_int_equal(found.id, 2);
    assert_string_equal(found.hash, "cc33");
    stop(f, cb);
}

static void test_steps_down_when_zookeeper_stops_answering(void **state)
{
    fixture *f = *state;
    seen s = {0};
    nsl_coord *c = start(f, "127.0.0.1:7001", &s, 1500);
    run_until(f, &s.leading, 1, 40000, "leadership");
    tzk_signal(&f->zk, SIGSTOP);
    uint64_t frozen = uv_hrtime();
    run_until(f, &s.step_down, 1, 10000, "the step-down");
    uint64_t took_ms = (uv_hrtime() - frozen) / 1000000u;
    print_message("# stepped down %llu ms after ZooKeeper froze (session timeout 1500 ms): %s\n",
                  (unsigned long long)took_ms, s.why);
    assert_false(nsl_coord_may_grant(c));
    assert_int_not_equal(nsl_coord_role_now(c), NSL_COORD_LEADER);
    tzk_signal(&f->zk, SIGCONT);
    /* Alone again once ZooKeeper answers: it leads in a new, higher epoch. */
    uint64_t old_epoch = s.epoch;
    run_until(f, &s.leading, 2, 20000, "leadership again");
    assert_true(s.epoch > old_epoch);
    assert_true(nsl_coord_may_grant(c));
    stop(f, c);
}

/* ZooKeeper grants at most 20 ticks (5 s here) whatever is asked: the
 * jeopardy clock runs on what it granted (two thirds: 3.3 s), not on the
 * 12 s asked for (it would step down after 8 s). */
static void test_jeopardy_uses_the_granted_timeout(void **state)
{
    fixture *f = *state;
    seen s = {0};
    nsl_coord *c = start(f, "127.0.0.1:7001", &s, 12000);
    run_until(f, &s.leading, 1, 40000, "leadership");
    tzk_signal(&f->zk, SIGSTOP);
    run_until(f, &s.step_down, 1, 6000, "a step-down within the granted 5 s");
    assert_false(nsl_coord_may_grant(c));
    tzk_signal(&f->zk, SIGCONT);
    stop(f, c);
}

/* Three ZooKeeper nodes: losing any one of them (the one the client is
 * connected to, the ensemble's leader) leaves a quorum, and the nslock
 * leader goes on granting throughout; losing two, it steps down. */
static void test_quorum_of_three(void **state)
{
    (void)state;
    tzk zk[3];
    tzk_start_ensemble(zk);
    fixture f = {0};
    uv_loop_init(&f.loop);
    snprintf(f.path, sizeof f.path, "/nslock/quorum");
    memcpy(&f.zk, &zk[0], sizeof zk[0]);   /* the connect string names all three */
    seen s = {0};
    nsl_coord *c = start(&f, "127.0.0.1:7001", &s, 4000);
    run_until(&f, &s.leading, 1, 20000, "leadership");
    for (int i = 0; i < 3; i++) {
        tzk_kill(&zk[i]);
        uint64_t until = uv_hrtime() + 3000000000u;
        int refused = 0;
        while (uv_hrtime() < until) {
            uv_run(&f.loop, UV_RUN_NOWAIT);
            refused += !nsl_coord_may_grant(c);
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (refused || s.step_down)
            fail_msg("with node %d of 3 down the leader stopped granting (%s)", i + 1, s.why);
        tzk_launch(&zk[i]);
        while (!tzk_serving(&zk[i]))
            uv_run(&f.loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(s.leading, 1);
    tzk_kill(&zk[0]);
    tzk_kill(&zk[1]);
    run_until(&f, &s.step_down, 1, 15000, "the step-down without a quorum");
    assert_false(nsl_coord_may_grant(c));
    print_message("# without a quorum: %s\n", s.why);
    tzk_launch(&zk[0]);
    tzk_launch(&zk[1]);
    run_until(&f, &s.leading, 2, 30000, "leadership once the quorum is back");
    stop(&f, c);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    tzk_finish_ensemble(zk);
}

int main(int argc, char **argv)
{
    /* Three ZooKeeper JVMs and their elections take half a minute: that
     * one runs on its own (ctest label `long`, `make test-long`). */
    if (argc > 1 && !strcmp(argv[1], "--quorum")) {
        const struct CMUnitTest quorum[] = {cmocka_unit_test(test_quorum_of_three)};
        return cmocka_run_group_tests(quorum, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alone_it_leads_and_reserves_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failover_raises_epoch_and_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_steps_down_when_zookeeper_stops_answering, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_jeopardy_uses_the_granted_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
