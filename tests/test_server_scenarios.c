/* The seed's four namespace scenarios (locking-and-concurrency-control.txt
 * section 6) and the lock table view (docs/PROTOCOL.md), against a real server:
 * who is granted, which entries exist, and that one release removes all
 * of a request's entries together. */
#include "server_client.h"

/* The table as "DB OWNER MODE NAME NAMESPACE BLOCKERS" lines: the fields a
 * scenario decides (pid, client, time and token are checked elsewhere). */
static char *table(tcl *c, const char *request)
{
    int n;
    char *rows = cl_data(c, request, &n);
    char *out = calloc(1, strlen(rows) + 1);
    assert_non_null(out);
    size_t len = 0;
    for (char *l = rows; *l;) {
        char *nl = strchr(l, '\n');
        *nl = '\0';
        char *f[12] = {0};
        assert_int_equal(split_tabs(l, f, 12), 11);
        len += (size_t)sprintf(out + len, "%s %s %s %s %s %s\n", f[0], f[2], f[5], f[6], f[7],
                               f[10]);
        l = nl + 1;
    }
    free(rows);
    return out;
}

static void assert_table(tcl *c, const char *request, const char *expected)
{
    char *got = table(c, request);
    assert_string_equal(got, expected);
    free(got);
}

/* Waits (up to 5 s) until STATS shows n waiting requests. */
static void await_waiters(tcl *obs, long n)
{
    long deadline = ts_now_ms() + 5000;
    while (cl_stat(obs, "waiters") != n) {
        if (ts_now_ms() > deadline)
            fail_msg("never saw %ld waiters", n);
        usleep(2000);
    }
}

typedef struct world {
    tsrv t;
    tcl *a, *b, *c, *obs;
    unsigned ida, idb, idc;
} world;

static void world_start(world *w, const char *ns_a, const char *ns_b, const char *ns_c)
{
    ts_start(&w->t);
    char req[64];
    w->a = cl_open(&w->t);
    w->b = cl_open(&w->t);
    w->c = cl_open(&w->t);
    w->obs = cl_open(&w->t);
    w->ida = cl_hello(w->a, "name=A");
    w->idb = cl_hello(w->b, "name=B");
    w->idc = cl_hello(w->c, "name=C");
    snprintf(req, sizeof req, "NS %s", ns_a);
    assert_string_equal(cl_req(w->a, req), "OK");
    snprintf(req, sizeof req, "NS %s", ns_b);
    assert_string_equal(cl_req(w->b, req), "OK");
    snprintf(req, sizeof req, "NS %s", ns_c);
    assert_string_equal(cl_req(w->c, req), "OK");
}

static void world_finish(world *w)
{
    cl_close(w->a);
    cl_close(w->b);
    cl_close(w->c);
    cl_close(w->obs);
    ts_finish(&w->t);
}

/* 6.1: ALPHA and ALPHA2 share ALPHADB. A's lock blocks B; one entry. */
static void scenario1_same_globals_database(void **state)
{
    (void)state;
    world w;
    world_start(&w, "ALPHA", "ALPHA2", "USER");
    char want[512];
    unsigned long long t1 = cl_granted(cl_req(w.a, "LOCK +^MyGlobal(15)"));
    cl_send(w.b, "LOCK +^MyGlobal(15)\n");
    assert_int_equal(cl_line_wait(w.b, 300), 0);          /* B does not return */
    await_waiters(w.obs, 1);
    snprintf(want, sizeof want,
             "ALPHADB %u Exclusive ^MyGlobal(15) ALPHA -\n"
             "ALPHADB %u WaitExclusive ^MyGlobal(15) ALPHA2 %u\n", w.ida, w.idb, w.ida);
    assert_table(w.obs, "SHOW", want);
    /* USER's globals are elsewhere: no conflict there */
    cl_granted(cl_req(w.c, "LOCK +^MyGlobal(15):0"));
    assert_string_equal(cl_req(w.c, "LOCK -^MyGlobal(15)"), "OK");

    assert_string_equal(cl_req(w.a, "LOCK -^MyGlobal(15)"), "OK");
    unsigned long long t2 = cl_granted(cl_line(w.b));
    assert_true(t2 > t1);
    snprintf(want, sizeof want, "ALPHADB %u Exclusive ^MyGlobal(15) ALPHA2 -\n", w.idb);
    assert_table(w.obs, "SHOW", want);
    world_finish(&w);
}

/* 6.2: BETA maps ^Config to ALPHADB. A lock in BETA gets an ALPHADB entry
 * and one in BETA's own database, and conflicts with ALPHA's. */
static void scenario2_mapped_global(void **state)
{
    (void)state;
    world w;
    world_start(&w, "ALPHA", "BETA", "BETA");
    char want[512];
    cl_granted(cl_req(w.a, "LOCK +^Config(1)"));
    snprintf(want, sizeof want, "ALPHADB %u Exclusive ^Config(1) ALPHA -\n", w.ida);
    assert_table(w.obs, "SHOW", want);
    cl_send(w.b, "LOCK +^Config(1)\n");
    assert_int_equal(cl_line_wait(w.b, 300), 0);
    await_waiters(w.obs, 1);
    snprintf(want, sizeof want,
             "ALPHADB %u Exclusive ^Config(1) ALPHA -\n"
             "ALPHADB %u WaitExclusive ^Config(1) BETA %u\n"
             "BETADB %u WaitExclusive ^Config(1) BETA %u\n", w.ida, w.idb, w.ida, w.idb, w.ida);
    assert_table(w.obs, "SHOW", want);
    /* another global in BETA stays in BETADB and is free */
    cl_granted(cl_req(w.c, "LOCK +^Other(1):0"));
    assert_string_equal(cl_req(w.c, "LOCK"), "OK");

    assert_string_equal(cl_req(w.a, "LOCK -^Config(1)"), "OK");
    cl_granted(cl_line(w.b));
    snprintf(want, sizeof want,
             "ALPHADB %u Exclusive ^Config(1) BETA -\n"
             "BETADB %u Exclusive ^Config(1) BETA -\n", w.idb, w.idb);
    assert_table(w.obs, "SHOW", want);
    /* and now ALPHA is the one kept out */
    assert_string_equal(cl_req(w.a, "LOCK +^Config:0"), "OK 0");
    world_finish(&w);
}

/* 6.3: BETA maps ^MyGlobal(15) to ALPHADB: BETA's lock writes two entries,
 * ALPHADB and BETADB, with one token; one release removes both. */
static void scenario3_mapped_subscript(void **state)
{
    (void)state;
    world w;
    world_start(&w, "ALPHA", "BETA", "BETA");
    char want[512];
    /* the seed's order: A in ALPHA first, B in BETA blocks */
    cl_granted(cl_req(w.a, "LOCK +^MyGlobal(15)"));
    cl_send(w.b, "LOCK +^MyGlobal(15)\n");
    assert_int_equal(cl_line_wait(w.b, 300), 0);
    await_waiters(w.obs, 1);
    assert_string_equal(cl_req(w.a, "LOCK -^MyGlobal(15)"), "OK");
    unsigned long long tb = cl_granted(cl_line(w.b));
    snprintf(want, sizeof want,
             "ALPHADB %u Exclusive ^MyGlobal(15) BETA -\n"
             "BETADB %u Exclusive ^MyGlobal(15) BETA -\n", w.idb, w.idb);
    assert_table(w.obs, "SHOW", want);
    /* both entries carry the request's one token */
    int n;
    char show[64];
    snprintf(show, sizeof show, "SHOW owner=%u", w.idb);
    char *rows = cl_data(w.obs, show, &n);
    assert_int_equal(n, 2);
    char tokens[64];
    snprintf(tokens, sizeof tokens, "\t%llu\t-\n", tb);
    char *second = strstr(rows, tokens);
    assert_non_null(second);
    assert_non_null(strstr(second + 1, tokens));
    free(rows);

    /* ALPHA cannot have ^MyGlobal(15), but ^MyGlobal(16) is a sibling */
    assert_string_equal(cl_req(w.a, "LOCK +^MyGlobal(15):0"), "OK 0");
    cl_granted(cl_req(w.a, "LOCK +^MyGlobal(16):0"));
    assert_string_equal(cl_req(w.a, "LOCK -^MyGlobal(16)"), "OK");
    /* in BETA the whole global and a descendant conflict too */
    assert_string_equal(cl_req(w.c, "LOCK +^MyGlobal:0"), "OK 0");
    assert_string_equal(cl_req(w.c, "LOCK +^MyGlobal(15,3):0"), "OK 0");
    cl_granted(cl_req(w.c, "LOCK +^MyGlobal(16):0"));
    assert_string_equal(cl_req(w.c, "LOCK"), "OK");

    /* one release removes both entries; the waiter behind gets in */
    cl_send(w.a, "LOCK +^MyGlobal(15)\n");
    assert_int_equal(cl_line_wait(w.a, 200), 0);
    await_waiters(w.obs, 1);
    assert_string_equal(cl_req(w.b, "LOCK -^MyGlobal(15)"), "OK");
    cl_granted(cl_line(w.a));
    snprintf(want, sizeof want, "ALPHADB %u Exclusive ^MyGlobal(15) ALPHA -\n", w.ida);
    assert_table(w.obs, "SHOW", want);
    assert_int_equal(cl_stat(w.obs, "entries"), 1);
    world_finish(&w);
}

/* 6.4: an extended reference from ALPHA locks in BETA's database; the table
 * shows the global name only; BETA's own processes are blocked by it. */
static void scenario4_extended_reference(void **state)
{
    (void)state;
    world w;
    world_start(&w, "ALPHA", "BETA", "ALPHA");
    char want[512];
    cl_granted(cl_req(w.a, "LOCK +^[\"beta\"]MyGlobal(16)"));
    snprintf(want, sizeof want, "BETADB %u Exclusive ^MyGlobal(16) ALPHA -\n", w.ida);
    assert_table(w.obs, "SHOW", want);
    cl_send(w.b, "LOCK +^MyGlobal(16)\n");
    assert_int_equal(cl_line_wait(w.b, 300), 0);
    await_waiters(w.obs, 1);
    /* the same name in ALPHA's own database is another lock */
    cl_granted(cl_req(w.c, "LOCK +^MyGlobal(16):0"));
    assert_string_equal(cl_req(w.c, "LOCK"), "OK");
    /* the |"NS"| form names the same lock */
    assert_string_equal(cl_req(w.c, "LOCK +^|\"BETA\"|MyGlobal(16):0"), "OK 0");

    assert_string_equal(cl_req(w.a, "LOCK -^[\"BETA\"]MyGlobal(16)"), "OK");
    cl_granted(cl_line(w.b));
    snprintf(want, sizeof want, "BETADB %u Exclusive ^MyGlobal(16) BETA -\n", w.idb);
    assert_table(w.obs, "SHOW", want);
    world_finish(&w);
}

/* "2026-11-21T14:03:07.512Z" -> ms since the epoch. */
static long long iso_ms(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms;
    char z;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &z) != 8 || z != 'Z' ||
        strlen(text) != 24)
        fail_msg("'%s' is not ISO 8601 UTC with milliseconds", text);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm) * 1000 + ms;
}

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SHOW (docs/PROTOCOL.md): every field of a known state, and the filters. */
static void show_fields(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *obs = cl_open(&t);
    unsigned ida = cl_hello(a, "name=app");
    assert_string_equal(cl_req(a, "NS BETA"), "OK");
    long long before = wall_ms();
    unsigned long long token = cl_granted(cl_req(a, "LOCK +^MyGlobal(15)"));
    long long after = wall_ms();

    /* the waiter is another process, so its PID column is its own */
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(ready[0]);
        /* no cmocka asserts in a child: they would unwind into the parent's runner */
        tcl *b = cl_try_open(t.sock);
        unsigned id = 0;
        bool ok = b && cl_try_req(b, "HELLO name=waiter", "OK nslock 1 session ") &&
                  sscanf(b->last, "OK nslock 1 session %u", &id) == 1 &&
                  cl_try_req(b, "NS ALPHA", "OK") &&
                  write(b->fd, "LOCK +^MyGlobal(15)\n", 20) == 20;
        ok &= write(ready[1], &id, sizeof id) == sizeof id;
        ok &= cl_line_wait(b, 10000) == 1 && !strncmp(b->last, "OK 1 ", 5);
        _exit(ok ? 0 : 1);
    }
    close(ready[1]);
    unsigned idb;
    assert_int_equal(read(ready[0], &idb, sizeof idb), sizeof idb);
    assert_true(idb > 0);
    close(ready[0]);
    long deadline = ts_now_ms() + 5000;
    while (cl_stat(obs, "waiters") != 1 && ts_now_ms() < deadline)
        usleep(2000);

    int n;
    char *rows = cl_data(obs, "SHOW database=ALPHADB", &n);
    assert_int_equal(n, 2);
    char *second = strchr(rows, '\n') + 1;
    second[-1] = '\0';
    char *f[12] = {0};
    char num[32];
    assert_int_equal(split_tabs(rows, f, 12), 11);
    assert_string_equal(f[0], "ALPHADB");
    assert_string_equal(f[1], "/data/alpha");
    snprintf(num, sizeof num, "%u", ida);
    assert_string_equal(f[2], num);
    snprintf(num, sizeof num, "%ld", (long)getpid());
    assert_string_equal(f[3], num);
    assert_string_equal(f[4], "app");
    assert_string_equal(f[5], "Exclusive");
    assert_string_equal(f[6], "^MyGlobal(15)");
    assert_string_equal(f[7], "BETA");
    long long since = iso_ms(f[8]);
    assert_true(since >= before - 1000 && since <= after + 1000);
    snprintf(num, sizeof num, "%llu", token);
    assert_string_equal(f[9], num);
    assert_string_equal(f[10], "-");

    *strchr(second, '\n') = '\0';
    assert_int_equal(split_tabs(second, f, 12), 11);
    assert_string_equal(f[0], "ALPHADB");
    assert_string_equal(f[1], "/data/alpha");
    snprintf(num, sizeof num, "%u", idb);
    assert_string_equal(f[2], num);
    snprintf(num, sizeof num, "%ld", (long)child);
    assert_string_equal(f[3], num);
    assert_string_equal(f[4], "waiter");
    assert_string_equal(f[5], "WaitExclusive");
    assert_string_equal(f[6], "^MyGlobal(15)");
    assert_string_equal(f[7], "ALPHA");
    assert_true(iso_ms(f[8]) >= since);
    assert_string_equal(f[9], "-");
    snprintf(num, sizeof num, "%u", ida);
    assert_string_equal(f[10], num);
    free(rows);

    /* filters */
    char req[64];
    rows = cl_data(obs, "SHOW database=betadb", &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(rows, "BETADB\t/data/beta\t"));
    free(rows);
    snprintf(req, sizeof req, "SHOW pid=%ld", (long)child);
    free(cl_data(obs, req, &n));
    assert_int_equal(n, 1);
    snprintf(req, sizeof req, "SHOW owner=%u", ida);
    free(cl_data(obs, req, &n));
    assert_int_equal(n, 2);
    free(cl_data(obs, "SHOW namespace=ALPHA", &n));
    assert_int_equal(n, 1);
    free(cl_data(obs, "SHOW nowaiters", &n));
    assert_int_equal(n, 2);
    free(cl_data(obs, "SHOW name=^MyG database=ALPHADB nowaiters", &n));
    assert_int_equal(n, 1);
    free(cl_data(obs, "SHOW name=^Other", &n));
    assert_int_equal(n, 0);
    assert_string_equal(cl_req(obs, "SHOW database=NOPE"), "ERR NAMESPACE unknown database 'NOPE'");
    assert_string_equal(cl_req(obs, "SHOW colour=red"), "ERR SYNTAX column 6: unknown filter 'colour'");
    assert_string_equal(cl_req(obs, "SHOW owner=x"), "ERR SYNTAX column 12: owner must be a session id");

    /* release: the child is granted and exits happy */
    assert_string_equal(cl_req(a, "LOCK -^MyGlobal(15)"), "OK");
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* a control byte in a string subscript is shown M-style, never raw */
    cl_granted(cl_req(a, "LOCK +^c(\"x\ty\",\"\x01\")"));
    rows = cl_data(obs, "SHOW name=^c", &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(rows, "\t^c(\"x\"_$C(9)_\"y\",$C(1))\t"));
    free(rows);

    cl_close(a);
    cl_close(obs);
    ts_finish(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ts_test(scenario1_same_globals_database),
        ts_test(scenario2_mapped_global),
        ts_test(scenario3_mapped_subscript),
        ts_test(scenario4_extended_reference),
        ts_test(show_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
