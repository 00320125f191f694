/* Cancelling a waiting LOCK: the CANCEL request on the wire, and
 * nslock_cancel() from another thread while a call blocks on an untimed
 * LOCK. The session keeps what it held and goes on. Also NAMESPACES. */
#include "client/nslock.h"
#include "server_client.h"

#include <pthread.h>

static nslock *open_lib(const tsrv *t, const char *name)
{
    nslock *c;
    nslock_error err;
    if (nslock_connect(&c, t->sock, name, &err) < 0)
        fail_msg("connect: %s %s", err.name, err.message);
    return c;
}

/* Waits until the lock table shows owner waiting on name (at most 10 s). */
static void wait_for_waiter(tcl *observer, unsigned owner, const char *name)
{
    char want[64];
    snprintf(want, sizeof want, "\t%u\t", owner);
    for (int i = 0; i < 1000; i++) {
        char req[128];
        snprintf(req, sizeof req, "SHOW name=%s", name);
        char *rows = cl_data(observer, req, NULL);
        bool found = false;
        for (char *l = rows; *l && !found;) {
            char *nl = strchr(l, '\n');
            *nl = '\0';
            found = strstr(l, want) && strstr(l, "\tWait");
            l = nl + 1;
        }
        free(rows);
        if (found)
            return;
        usleep(10000);
    }
    fail_msg("session %u never waited on %s", owner, name);
}

/* The rows of the table for an owner, "MODE NAME" each, sorted by the server. */
static char *rows_of(tcl *observer, unsigned owner)
{
    char req[64];
    snprintf(req, sizeof req, "SHOW owner=%u", owner);
    char *rows = cl_data(observer, req, NULL);
    static char out[1024];
    out[0] = '\0';
    for (char *l = rows; *l;) {
        char *nl = strchr(l, '\n');
        *nl = '\0';
        char *f[12];
        if (split_tabs(l, f, 12) >= 7) {
            strncat(out, f[5], sizeof out - strlen(out) - 1);
            strncat(out, " ", sizeof out - strlen(out) - 1);
            strncat(out, f[6], sizeof out - strlen(out) - 1);
            strncat(out, ";", sizeof out - strlen(out) - 1);
        }
        l = nl + 1;
    }
    free(rows);
    return out;
}

static void test_cancel_on_the_wire(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *holder = cl_open(&t), *waiter = cl_open(&t);
    cl_hello(holder, NULL);
    unsigned w = cl_hello(waiter, NULL);
    cl_granted(cl_req(holder, "LOCK +^k"));
    /* nothing waits: OK 0 */
    assert_string_equal(cl_req(waiter, "CANCEL"), "OK 0");
    cl_granted(cl_req(waiter, "LOCK +^mine"));
    cl_send(waiter, "LOCK +^k\n");
    wait_for_waiter(holder, w, "^k");
    cl_send(waiter, "cancel\n");
    assert_string_equal(cl_line(waiter), "OK 0");       /* the LOCK, as if timed out */
    assert_string_equal(cl_line(waiter), "OK 1");       /* the CANCEL: it ended a wait */
    assert_string_equal(rows_of(holder, w), "Exclusive ^mine;");
    /* the session goes on; the cancelled request is not granted later */
    assert_string_equal(cl_req(waiter, "PING"), "OK PONG");
    assert_string_equal(cl_req(holder, "LOCK -^k"), "OK");
    assert_int_equal(cl_line_wait(waiter, 200), 0);
    assert_string_equal(rows_of(holder, w), "Exclusive ^mine;");
    assert_string_equal(cl_req(waiter, "CANCEL extra"), "ERR SYNTAX column 8: unexpected 'extra'");
    cl_close(holder);
    cl_close(waiter);
    ts_finish(&t);
}

/* The first LOCK of a session waits for the registry's fsync before it
 * reaches the lock table: a CANCEL right behind it still cancels it. */
static void test_cancel_of_a_first_lock(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *holder = cl_open(&t), *waiter = cl_open(&t);
    cl_hello(holder, NULL);
    unsigned w = cl_hello(waiter, NULL);
    cl_granted(cl_req(holder, "LOCK +^k"));
    cl_send(waiter, "LOCK +^k\nCANCEL\nPING\n");
    assert_string_equal(cl_line(waiter), "OK 0");
    assert_string_equal(cl_line(waiter), "OK 1");
    assert_string_equal(cl_line(waiter), "OK PONG");
    assert_string_equal(rows_of(holder, w), "");
    cl_close(holder);
    cl_close(waiter);
    ts_finish(&t);
}

typedef struct blocked_call {
    nslock *c;
    const char *command;
    int rc;
    nslock_error err;
    nslock_outcome got;
} blocked_call;

static void *run_blocked(void *arg)
{
    blocked_call *b = arg;
    b->rc = nslock_command(b->c, b->command, &b->got, &b->err);
    return NULL;
}

static void test_cancel_from_another_thread(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *observer = cl_open(&t);
    cl_hello(observer, NULL);
    nslock *holder = open_lib(&t, "holder"), *app = open_lib(&t, "app");
    nslock_error err;
    nslock_outcome got;
    assert_int_equal(nslock_lock(holder, "^k(1)", NSLOCK_EXCLUSIVE, 0, &got, &err), 0);
    assert_int_equal(got.test, 1);
    assert_int_equal(nslock_lock(app, "^mine", NSLOCK_EXCLUSIVE, 0, &got, &err), 0);
    assert_int_equal(got.test, 1);

    /* LOCK +^k(1) untimed blocks until another thread cancels it */
    blocked_call b = {.c = app, .command = "LOCK +^k(1)"};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, run_blocked, &b), 0);
    wait_for_waiter(observer, (unsigned)nslock_session_id(app), "^k");
    assert_int_equal(nslock_cancel(app), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.err.code, NSLOCK_E_CANCELLED);
    assert_string_equal(b.err.name, "CANCELLED");

    /* the session holds what it held, the server and the mirror agree */
    unsigned app_id = (unsigned)nslock_session_id(app);
    assert_string_equal(rows_of(observer, app_id), "Exclusive ^mine;");
    nslock_held *held;
    size_t n;
    assert_int_equal(nslock_held_list(app, &held, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(held[0].name, "^mine");
    nslock_free(held);
    /* the next requests work, and the answer stream is in step */
    assert_int_equal(nslock_ping(app, &err), 0);
    assert_int_equal(nslock_lock(app, "^other", NSLOCK_EXCLUSIVE, 0, &got, &err), 0);
    assert_int_equal(got.test, 1);
    assert_int_equal(nslock_lock(app, "^k(1)", NSLOCK_EXCLUSIVE, 0, &got, &err), 0);
    assert_int_equal(got.test, 0);
    /* a cancel with nothing waiting changes nothing for the next call */
    assert_int_equal(nslock_cancel(app), 0);
    assert_int_equal(nslock_unlock(holder, "^k(1)", NSLOCK_EXCLUSIVE, &err), 0);
    assert_int_equal(nslock_lock(app, "^k(1)", NSLOCK_EXCLUSIVE, NSLOCK_WAIT_FOREVER, &got, &err), 0);
    assert_int_equal(got.test, 1);
    assert_string_equal(rows_of(observer, app_id), "Exclusive ^k(1);Exclusive ^mine;Exclusive ^other;");
    assert_int_equal(nslock_cancel(NULL), -1);
    nslock_close(holder);
    nslock_close(app);
    cl_close(observer);
    ts_finish(&t);
}

static void test_namespaces_list(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    nslock *c = open_lib(&t, "lister");
    nslock_namespace_info *rows;
    size_t n;
    nslock_error err;
    assert_int_equal(nslock_namespaces_list(c, &rows, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_string_equal(rows[0].name, "USER");
    assert_string_equal(rows[0].globals, "USERDB");
    assert_string_equal(rows[3].name, "BETA");
    assert_string_equal(rows[3].globals, "BETADB");
    nslock_free(rows);
    nslock_close(c);
    ts_finish(&t);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cancel_on_the_wire, ts_teardown),
        cmocka_unit_test_teardown(test_cancel_of_a_first_lock, ts_teardown),
        cmocka_unit_test_teardown(test_cancel_from_another_thread, ts_teardown),
        cmocka_unit_test_teardown(test_namespaces_list, ts_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
