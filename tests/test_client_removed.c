/* libnslock when an administrator's REMOVE takes some of the session's
 * locks: the next call fails with LOST naming the removal, on_lost fires,
 * and the held list (what a restart would reclaim) keeps exactly what the
 * server still holds. The administrator is a raw protocol session. */
#include "server_client.h"

#include "client/nslock.h"

typedef struct told {
    int calls;
    char message[sizeof ((nslock_error *)0)->message];
} told;

static void on_lost(nslock *c, const nslock_error *why, void *arg)
{
    (void)c;
    told *t = arg;
    t->calls++;
    snprintf(t->message, sizeof t->message, "%s", why->message);
}

static bool holds(nslock *c, const char *ns, const char *name)
{
    nslock_held *rows;
    size_t n;
    nslock_error err;
    assert_int_equal(nslock_held_list(c, &rows, &n, &err), 0);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= !strcmp(rows[i].namespace_name, ns) && !strcmp(rows[i].name, name);
    nslock_free(rows);
    return found;
}

static size_t held_count(nslock *c)
{
    nslock_held *rows;
    size_t n;
    nslock_error err;
    assert_int_equal(nslock_held_list(c, &rows, &n, &err), 0);
    nslock_free(rows);
    return n;
}

static void removed_locks_leave_the_mirror(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    nslock *c;
    nslock_error err;
    nslock_outcome got;
    assert_int_equal(nslock_connect(&c, t.sock, "victim", &err), 0);
    told seen = {0};
    nslock_on_lost(c, on_lost, &seen);
    assert_int_equal(nslock_lock(c, "^K", 0, 0, &got, &err), 0);
    assert_int_equal(got.test, 1);
    assert_int_equal(nslock_lock(c, "^L(1)", 0, 0, &got, &err), 0);
    assert_int_equal(nslock_namespace(c, "BETA", &err), 0);
    assert_int_equal(nslock_lock(c, "^MyGlobal(15)", 0, 0, &got, &err), 0);
    assert_int_equal(held_count(c), 3);

    tcl *admin = cl_open(&t);
    cl_hello(admin, "name=operator");
    char req[96];
    snprintf(req, sizeof req, "REMOVE owner=%llu name=^K",
             (unsigned long long)nslock_session_id(c));
    assert_string_equal(cl_req(admin, req), "OK 1");

    /* the unlock is not run: it fails, saying what happened */
    assert_int_equal(nslock_unlock(c, "^K", 0, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_LOST);
    assert_non_null(strstr(err.message, "removed by session "));
    assert_non_null(strstr(err.message, "1 entry of this session, e.g. ^K in USERDB"));
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.message, err.message);
    /* the removed lock is gone from what the library believes it holds;
     * nothing else is */
    assert_false(holds(c, "USER", "^K"));
    assert_true(holds(c, "USER", "^L(1)"));
    assert_true(holds(c, "BETA", "^MyGlobal(15)"));
    assert_int_equal(held_count(c), 2);
    /* the handle is not in the lost state: the session goes on */
    assert_int_equal(nslock_is_lost(c), 0);
    assert_int_equal(nslock_lost_clear(c), 0);      /* as a shell does after LOST */
    assert_int_equal(held_count(c), 2);
    assert_int_equal(nslock_lock(c, "^M", 0, 0, &got, &err), 0);
    assert_int_equal(got.test, 1);
    assert_int_equal(held_count(c), 3);

    /* every entry of a name spread over two databases */
    snprintf(req, sizeof req, "REMOVE owner=%llu name=^MyGlobal(15)",
             (unsigned long long)nslock_session_id(c));
    assert_string_equal(cl_req(admin, req), "OK 2");
    assert_int_equal(nslock_ping(c, &err), 0);       /* PING is not told */
    assert_int_equal(held_count(c), 3);              /* nor does it learn */
    assert_int_equal(nslock_lock(c, "^N", 0, 0, &got, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_LOST);
    assert_false(holds(c, "BETA", "^MyGlobal(15)"));
    assert_int_equal(held_count(c), 2);
    assert_int_equal(seen.calls, 2);

    /* its own REMOVE: the library learns from the server what went */
    nslock_remove_filter f = {.name = "^L(1)"};
    uint64_t removed = 0;
    assert_int_equal(nslock_remove(c, &f, &removed, &err), 0);
    assert_int_equal(removed, 1);
    assert_false(holds(c, "BETA", "^L(1)"));
    assert_false(holds(c, "USER", "^L(1)"));
    assert_int_equal(held_count(c), 1);               /* ^M */
    assert_int_equal(seen.calls, 2);

    cl_close(admin);
    nslock_close(c);
    ts_finish(&t);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(removed_locks_leave_the_mirror, ts_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
