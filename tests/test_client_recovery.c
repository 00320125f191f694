/* Restart recovery (docs/DESIGN.md) end to end: a real server killed with
 * SIGKILL and started again, libnslock clients that hold locks and make no
 * call while it happens, raw protocol clients that compete or misbehave.
 * What a client held is compared, row by row, in SHOW before the crash and
 * after the reclaim. */
#include <sys/resource.h>

#include "client/nslock.h"
#include "server_client.h"

/* ---- helpers ------------------------------------------------------------------ */

static nslock *holder(const tsrv *t, const char *name, int keeper)
{
    nslock *c;
    nslock_error err;
    nslock_options o = {.socket_path = t->sock, .client_name = name, .keeper = keeper};
    if (nslock_open(&c, &o, &err) < 0)
        fail_msg("connect: %s %s", err.name, err.message);
    return c;
}

static void must(int rc, const nslock_error *err, const char *what)
{
    if (rc < 0)
        fail_msg("%s: %s %s", what, err->name, err->message);
}

/* SHOW owner=ID without the SINCE column (the reclaim time, not the grant's). */
static char *owner_rows(const tsrv *t, uint64_t owner, int *count)
{
    tcl *obs = cl_open(t);
    char req[64];
    snprintf(req, sizeof req, "SHOW owner=%llu", (unsigned long long)owner);
    char *rows = cl_data(obs, req, count);
    cl_close(obs);
    char *out = malloc(strlen(rows) + 1), *o = out;
    assert_non_null(out);
    for (char *line = rows; *line;) {
        char *nl = strchr(line, '\n');
        int field = 0;
        for (char *p = line; p < nl; p++) {
            if (*p == '\t')
                field++;
            if (field != 8)
                *o++ = *p;
        }
        *o++ = '\n';
        line = nl + 1;
    }
    *o = '\0';
    free(rows);
    return out;
}

static void crash(tsrv *t)
{
    kill(t->pid, SIGKILL);
    waitpid(t->pid, NULL, 0);
    t->pid = 0;
}

/* Polls STATS until the server says it is done recovering. */
static void await_recovered(const tsrv *t)
{
    long deadline = ts_now_ms() + 30000;
    for (;;) {
        tcl *obs = cl_open(t);
        long recovering = cl_stat(obs, "recovering");
        cl_close(obs);
        if (!recovering)
            return;
        if (ts_now_ms() > deadline)
            fail_msg("the server is still recovering after 30 s");
        usleep(10000);
    }
}

static void lock_range(nslock *c, const char *global, int from, int to, unsigned types)
{
    enum { BATCH = 500 };
    static char text[BATCH][40];
    const char *names[BATCH];
    for (int i = from; i <= to;) {
        size_t n = 0;
        for (; n < BATCH && i <= to; n++, i++) {
            snprintf(text[n], sizeof text[n], "%s(%d)", global, i);
            names[n] = text[n];
        }
        nslock_outcome got;
        nslock_error err;
        must(nslock_lock_names(c, names, n, types, 0, &got, &err), &err, "lock");
        assert_int_equal(got.test, 1);
    }
}

/* ---- the scale points --------------------------------------------------------------- */

/* 255, 256, 257, 65,535 and 65,536 locks (the ECP defect broke at 256), then
 * three clients of 100,000 each: all back with their tokens; a competitor
 * that asks during recovery is granted nothing they held. */
static void reclaims_every_count(void **state)
{
    (void)state;
    static const int counts[] = {255, 256, 257, 65535, 65536};
    tsrv t;
    ts_start_with(&t, "  max_entries: 400000\n", "server:\n  max_pending: 100000\n");
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        nslock *c = holder(&t, "holder", NSLOCK_KEEPER_THREAD);
        lock_range(c, "^n", 1, counts[k], NSLOCK_EXCLUSIVE);
        int before_n, after_n;
        char *before = owner_rows(&t, nslock_session_id(c), &before_n);
        assert_int_equal(before_n, counts[k]);
        uint64_t epoch = nslock_epoch(c);
        crash(&t);
        ts_launch(&t);
        /* nothing the holder held goes to anyone else, during or after */
        tcl *rival = cl_open(&t);
        char req[64];
        snprintf(req, sizeof req, "LOCK +^n(%d):0.2", counts[k]);
        assert_string_equal(cl_req(rival, req), "OK 0");
        await_recovered(&t);
        char *after = owner_rows(&t, nslock_session_id(c), &after_n);
        assert_int_equal(after_n, counts[k]);
        assert_string_equal(after, before);
        assert_true(nslock_epoch(c) > epoch);
        assert_int_equal(nslock_is_lost(c), 0);
        /* and it goes on holding: the rival waits until it lets go */
        nslock_error err;
        cl_send(rival, "LOCK +^n(1)\n");
        assert_int_equal(cl_line_wait(rival, 100), 0);
        must(nslock_unlock_all(c, &err), &err, "unlock all");
        cl_granted(cl_line(rival));
        cl_close(rival);
        free(before);
        free(after);
        nslock_close(c);
        printf("# %d locks reclaimed\n", counts[k]);
    }

    nslock *three[3];
    char *before[3];
    for (int i = 0; i < 3; i++) {
        char global[8];
        snprintf(global, sizeof global, "^m%d", i);
        three[i] = holder(&t, "big", NSLOCK_KEEPER_THREAD);
        lock_range(three[i], global, 1, 100000, i == 1 ? NSLOCK_SHARED : NSLOCK_EXCLUSIVE);
        int n;
        before[i] = owner_rows(&t, nslock_session_id(three[i]), &n);
        assert_int_equal(n, 100000);
    }
    crash(&t);
    ts_launch(&t);
    tcl *rival = cl_open(&t);
    assert_string_equal(cl_req(rival, "LOCK +^m0(77):0.2"), "OK 0");
    assert_string_equal(cl_req(rival, "LOCK +^m2:0.2"), "OK 0");
    unsigned long long fresh = cl_granted(cl_req(rival, "LOCK +^m1(5)#\"S\":5"));  /* shared */
    await_recovered(&t);
    for (int i = 0; i < 3; i++) {
        int n;
        char *after = owner_rows(&t, nslock_session_id(three[i]), &n);
        assert_int_equal(n, 100000);
        assert_string_equal(after, before[i]);
        free(after);
        free(before[i]);
        nslock_close(three[i]);
    }
    /* tokens after the restart are above every earlier one */
    assert_true(fresh > 300000);
    cl_close(rival);
    ts_finish(&t);
}

/* ---- every kind of entry --------------------------------------------------------------- */

static void lock_cmd(nslock *c, const char *text)
{
    nslock_outcome got;
    nslock_error err;
    must(nslock_command(c, text, &got, &err), &err, text);
}

/* Shared and exclusive, counts, a name in two databases, an escalated
 * parent, locals, another namespace, delock state in an open transaction:
 * SHOW is the same after the reclaim, and the transaction goes on. */
static void reclaims_every_kind(void **state)
{
    (void)state;
    tsrv t;
    ts_start_with(&t, "  escalation_threshold: 4\n", NULL);
    nslock *c = holder(&t, "kinds", NSLOCK_KEEPER_THREAD);
    nslock_error err;
    must(nslock_namespace(c, "BETA", &err), &err, "NS");
    lock_cmd(c, "LOCK +^MyGlobal(15)");                       /* ALPHADB and BETADB */
    lock_cmd(c, "LOCK +^s#\"S\"");
    lock_cmd(c, "LOCK +^s#\"S\"");                            /* Shared/2 */
    lock_cmd(c, "LOCK +^x,+^x#\"S\"");                        /* Exclusive,Shared */
    for (int i = 1; i <= 6; i++) {                            /* escalates at the fifth */
        char text[40];
        snprintf(text, sizeof text, "LOCK +^e(%d)#\"E\"", i);
        lock_cmd(c, text);
    }
    lock_cmd(c, "LOCK +loc(1)");
    lock_cmd(c, "LOCK +^[\"USER\"]u(1,\"a b\")");
    must(nslock_namespace(c, "USER", &err), &err, "NS");
    lock_cmd(c, "LOCK +^u2:1");
    int level;
    must(nslock_tstart(c, &level, &err), &err, "TSTART");
    lock_cmd(c, "LOCK -^u2");                                 /* delocked */
    must(nslock_namespace(c, "BETA", &err), &err, "NS");
    lock_cmd(c, "LOCK -^x");                                  /* delocked */
    int n;
    char *before = owner_rows(&t, nslock_session_id(c), &n);
    assert_non_null(strstr(before, "->Delock"));
    assert_non_null(strstr(before, "_e"));

    crash(&t);
    ts_launch(&t);
    await_recovered(&t);
    char *after = owner_rows(&t, nslock_session_id(c), &n);
    assert_string_equal(after, before);
    assert_int_equal(nslock_tlevel(c), 1);
    /* the session is back in BETA, its transaction still open */
    nslock_resolution *rows;
    size_t count;
    must(nslock_resolve(c, "^MyGlobal(15)", &rows, &count, &err), &err, "RESOLVE");
    assert_int_equal(count, 2);
    nslock_free(rows);
    must(nslock_tcommit(c, &level, &err), &err, "TCOMMIT");
    assert_int_equal(level, 0);
    free(after);
    after = owner_rows(&t, nslock_session_id(c), &n);
    assert_null(strstr(after, "->Delock"));
    assert_null(strstr(after, "^u2"));
    free(before);
    free(after);
    nslock_close(c);
    ts_finish(&t);
}

/* ---- the mirror, by random histories ------------------------------------------------ */

/* A random command of docs/LANGUAGE.md for a session that may be in USER or BETA.
 * Names are chosen so that no two (namespace, name) pairs reach one database
 * entry (where a reclaimed entry takes the lower token: docs/DESIGN.md), and
 * escalation stays below its threshold (escalated parents have their own
 * targeted test). */
static void random_command(char *buf, size_t cap, bool beta)
{
    static const char *const user_names[] = {"^a", "^a(1)", "^a(1,2)", "^a(\"1\")", "^a(2)",
                                             "^b(\"x y\")", "loc(1)", "loc", "^n(1.50)"};
    static const char *const beta_names[] = {"^MyGlobal(15)", "^MyGlobal(15,1)", "^Config",
                                             "^Orders(7)", "^[\"USER\"]xu(1)", "^q"};
    static const char *const types[] = {"", "#\"S\"", "#\"E\"", "#\"SE\""};
    static const char *const unlock_types[] = {"", "#\"S\"", "#\"E\"", "#\"I\"",
                                               "#\"D\"", "#\"SI\""};
    const char *const *names = beta ? beta_names : user_names;
    size_t n = beta ? sizeof beta_names / sizeof *beta_names : sizeof user_names / sizeof *user_names;
    const char *a = names[rand() % n], *b = names[rand() % n];
    bool e_ok_a = strchr(a, '(') != NULL, e_ok_b = strchr(b, '(') != NULL;
    const char *ta = types[rand() % (e_ok_a ? 4 : 2)], *tb = types[rand() % (e_ok_b ? 4 : 2)];
    switch (rand() % 10) {
    case 0: case 1: case 2:
        snprintf(buf, cap, "LOCK +%s%s:0", a, ta);
        break;
    case 3:
        snprintf(buf, cap, "LOCK +(%s%s,%s%s):0", a, ta, b, tb);
        break;
    case 4:
        snprintf(buf, cap, "LOCK (%s%s,%s%s):0", a, ta, b, rand() % 2 ? ta : tb);
        break;
    case 5: case 6:
        snprintf(buf, cap, "LOCK -%s%s", a, unlock_types[rand() % (e_ok_a ? 6 : 2) + 0]);
        break;
    case 7:
        snprintf(buf, cap, "LOCK +%s%s:0,-%s", a, ta, b);
        break;
    case 8:
        snprintf(buf, cap, rand() % 4 ? "LOCK -%s" : "LOCK", a);
        break;
    default:
        buf[0] = '\0';                      /* a transaction or namespace step */
    }
}

/* Random histories through libnslock; after each, the server is killed and
 * the library reclaims from its mirror: the session's SHOW rows are the
 * same as before (so the mirror held exactly what the server held), and the
 * mirror has a row for each name the session holds. */
static void mirror_survives_random_histories(void **state)
{
    (void)state;
    enum { HISTORIES = 24, STEPS = 40 };
    tsrv t;
    ts_start(&t);
    srand(20261202);
    int rows_total = 0, delocked = 0;
    for (int h = 0; h < HISTORIES; h++) {
        nslock *c = holder(&t, "random", NSLOCK_KEEPER_THREAD);
        nslock_error err;
        bool beta = false;
        for (int step = 0; step < STEPS; step++) {
            char text[160];
            random_command(text, sizeof text, beta);
            if (text[0]) {
                nslock_outcome got;
                if (nslock_command(c, text, &got, &err) < 0 && err.code != NSLOCK_E_LIMIT &&
                    err.code != NSLOCK_E_COMMAND)
                    fail_msg("history %d: %s: %s %s", h, text, err.name, err.message);
                continue;
            }
            int level;
            switch (rand() % 5) {
            case 0: case 1:
                nslock_tstart(c, &level, &err);
                break;
            case 2:
                nslock_tcommit(c, &level, &err);
                break;
            case 3:
                nslock_trollback(c, rand() % 2, &level, &err);
                break;
            default:
                beta = !beta;
                must(nslock_namespace(c, beta ? "BETA" : "USER", &err), &err, "NS");
            }
        }
        int n_before, n_after;
        char *before = owner_rows(&t, nslock_session_id(c), &n_before);
        int tlevel = nslock_tlevel(c);
        rows_total += n_before;
        delocked += strstr(before, "Delock") != NULL;
        crash(&t);
        ts_launch(&t);
        await_recovered(&t);
        char *after = owner_rows(&t, nslock_session_id(c), &n_after);
        if (strcmp(before, after) != 0)
            fail_msg("history %d: before the restart:\n%safter the reclaim:\n%s", h, before, after);
        assert_int_equal(nslock_is_lost(c), 0);
        assert_int_equal(nslock_tlevel(c), tlevel);
        nslock_held *held;
        size_t count;
        must(nslock_held_list(c, &held, &count, &err), &err, "held");
        assert_true((count == 0) == (n_before == 0));
        nslock_free(held);
        free(before);
        free(after);
        nslock_close(c);
    }
    printf("# %d histories, %d rows reclaimed, %d with delocked entries\n", HISTORIES,
           rows_total, delocked);
    assert_true(rows_total > HISTORIES && delocked > 0);
    ts_finish(&t);
}

/* ---- losing ------------------------------------------------------------------------------ */

static int lost_calls;
static void on_lost(nslock *c, const nslock_error *why, void *arg)
{
    (void)c;
    (void)arg;
    assert_int_equal(why->code, NSLOCK_E_LOST);
    lost_calls++;
}

/* A client that is not back within the grace loses its locks to the
 * waiters, and is told: LOST on every call until it acknowledges. */
static void lost_after_the_grace(void **state)
{
    (void)state;
    tsrv t;
    ts_start_with(&t, NULL, "server:\n  recovery_grace_s: 1\n");
    nslock *c = holder(&t, "sleepy", NSLOCK_KEEPER_NONE);     /* nobody watches it */
    nslock_on_lost(c, on_lost, NULL);
    nslock_error err;
    lost_calls = 0;
    must(nslock_lock(c, "^g", 0, 0, NULL, &err), &err, "lock");
    crash(&t);
    ts_launch(&t);
    tcl *rival = cl_open(&t);
    long start = ts_now_ms();
    cl_granted(cl_req(rival, "LOCK +^g:5"));                   /* at the end of the grace */
    assert_true(ts_now_ms() - start >= 500);
    assert_true(ts_log_contains(&t, "did not come back"));
    assert_int_equal(nslock_ping(c, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_LOST);
    assert_int_equal(lost_calls, 1);
    assert_int_equal(nslock_lock(c, "^h", 0, 0, NULL, &err), -1);
    assert_int_equal(err.code, NSLOCK_E_LOST);
    assert_int_equal(nslock_is_lost(c), 1);
    assert_int_equal(lost_calls, 1);
    /* acknowledged: a new session that holds nothing, and ^g stays the rival's */
    assert_int_equal(nslock_lost_clear(c), 1);
    nslock_outcome got;
    must(nslock_lock(c, "^g", 0, 0, &got, &err), &err, "lock again");
    assert_int_equal(got.test, 0);
    nslock_held *held;
    size_t count;
    must(nslock_held_list(c, &held, &count, &err), &err, "held");
    assert_int_equal(count, 0);
    nslock_free(held);
    cl_close(rival);
    nslock_close(c);
    ts_finish(&t);
}

/* Killed again while recovering: the second start recovers the same. */
static void killed_during_recovery(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    nslock *c = holder(&t, "twice", NSLOCK_KEEPER_THREAD);
    lock_range(c, "^w", 1, 20000, NSLOCK_EXCLUSIVE);
    int n;
    char *before = owner_rows(&t, nslock_session_id(c), &n);
    crash(&t);
    ts_launch(&t);
    usleep(20000);                                            /* somewhere in the reclaim */
    crash(&t);
    ts_launch(&t);
    await_recovered(&t);
    char *after = owner_rows(&t, nslock_session_id(c), &n);
    assert_int_equal(n, 20000);
    assert_string_equal(after, before);
    free(before);
    free(after);
    nslock_close(c);
    ts_finish(&t);
}

/* A deploy: the server is stopped with SIGTERM and started again. It keeps
 * its registry, so an idle holder reclaims as after a crash. */
static void sigterm_restart_keeps_locks(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    nslock *c = holder(&t, "deployed", NSLOCK_KEEPER_THREAD);
    lock_range(c, "^d", 1, 300, NSLOCK_EXCLUSIVE);
    int n;
    char *before = owner_rows(&t, nslock_session_id(c), &n);
    assert_int_equal(ts_stop(&t), 0);
    ts_launch(&t);
    tcl *rival = cl_open(&t);
    assert_string_equal(cl_req(rival, "LOCK +^d(7):0.2"), "OK 0");
    await_recovered(&t);
    char *after = owner_rows(&t, nslock_session_id(c), &n);
    assert_int_equal(n, 300);
    assert_string_equal(after, before);
    assert_int_equal(nslock_is_lost(c), 0);
    cl_close(rival);
    free(before);
    free(after);
    nslock_close(c);
    ts_finish(&t);
}

/* ---- refusals ------------------------------------------------------------------------------ */

/* The secret from HELLO: "... secret HEX ..." */
static void hello_secret(tcl *c, unsigned *session, char secret[33])
{
    const char *r = cl_req(c, "HELLO");
    const char *s = strstr(r, " secret ");
    assert_non_null(s);
    memcpy(secret, s + 8, 32);
    secret[32] = '\0';
    *session = (unsigned)atoi(strstr(r, "session ") + 8);
}

/* A RECLAIM with the wrong secret is refused (PROTECT) and logged; two
 * sessions that claim one exclusive lock: the second gets CONFLICT. */
static void forged_and_conflicting_reclaims(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *b = cl_open(&t);
    unsigned ida, idb;
    char sa[33], sb[33];
    hello_secret(a, &ida, sa);
    hello_secret(b, &idb, sb);
    unsigned long long ta = cl_granted(cl_req(a, "LOCK +^c"));
    unsigned long long tb = cl_granted(cl_req(b, "LOCK +^d"));
    crash(&t);
    cl_close(a);
    cl_close(b);
    ts_launch(&t);

    tcl *forger = cl_open(&t);
    cl_req(forger, "HELLO");
    char req[160];
    snprintf(req, sizeof req, "RECLAIM SESSION %u 0123456789abcdef0123456789abcdef", ida);
    assert_true(!strncmp(cl_req(forger, req), "ERR PROTECT ", 12));
    snprintf(req, sizeof req, "RECLAIM %llu 1,0,0,0 0,0,0,0 USER ^c", ta);
    assert_true(!strncmp(cl_req(forger, req), "ERR COMMAND ", 12));   /* not reclaiming */

    tcl *a2 = cl_open(&t), *b2 = cl_open(&t);
    snprintf(req, sizeof req, "RECLAIM SESSION %u %s", ida, sa);
    snprintf(req + 100, 60, "OK session %u", ida);
    assert_string_equal(cl_req(a2, req), req + 100);
    snprintf(req, sizeof req, "RECLAIM %llu 1,0,0,0 0,0,0,0 USER ^c", ta);
    assert_string_equal(cl_req(a2, req), "OK");
    snprintf(req, sizeof req, "RECLAIM SESSION %u %s", idb, sb);
    cl_req(b2, req);
    snprintf(req, sizeof req, "RECLAIM %llu 1,0,0,0 0,0,0,0 USER ^c", tb);
    assert_true(!strncmp(cl_req(b2, req), "ERR CONFLICT ", 13));
    snprintf(req, sizeof req, "RECLAIM %llu 1,0,0,0 0,0,0,0 USER ^d", tb);
    assert_string_equal(cl_req(b2, req), "OK");
    /* still recovering: a new request waits, and the forger cannot cut it short */
    cl_send(forger, "LOCK +^free:5\n");
    assert_int_equal(cl_line_wait(forger, 100), 0);
    tcl *obs = cl_open(&t);
    char *rows = cl_data(obs, "SHOW name=^free", NULL);
    assert_non_null(strstr(rows, "\tWaitExclusive\t^free\t"));
    assert_non_null(strstr(rows, "\trecovering\n"));    /* why it waits */
    free(rows);
    cl_close(obs);
    assert_string_equal(cl_req(a2, "RECLAIM DONE"), "OK");
    assert_string_equal(cl_req(b2, "RECLAIM DONE"), "OK");
    unsigned long long fresh = cl_granted(cl_line(forger));
    assert_true(fresh > tb);
    assert_true(ts_log_contains(&t, "wrong secret"));
    assert_true(ts_log_contains(&t, "refused"));
    /* after the end nobody reclaims anything */
    snprintf(req, sizeof req, "RECLAIM SESSION %u %s", idb, sb);
    assert_true(!strncmp(cl_req(forger, req), "ERR LOST ", 9));
    cl_close(forger);
    cl_close(a2);
    cl_close(b2);
    ts_finish(&t);
}

/* The registry cannot be written (the file-size limit stands in for a full
 * disk): locks are refused with ERR IO, nothing unregistered is granted,
 * the server stays up, and the registry it leaves is sound. */
static void registry_write_fails(void **state)
{
    (void)state;
    tsrv t;
    ts_make_dir(&t);
    ts_write_config(&t, NULL, NULL);
    t.pid = fork();
    assert_true(t.pid >= 0);
    if (t.pid == 0) {
        int fd = open(t.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        struct rlimit lim = {.rlim_cur = 1024, .rlim_max = 1024};
        setrlimit(RLIMIT_FSIZE, &lim);
        signal(SIGXFSZ, SIG_IGN);                  /* write() fails with EFBIG instead */
        execl(NSL_BINARY, "nslock", "serve", "--config", t.config, "--socket", t.sock,
              "--state-dir", t.state, (char *)NULL);
        _exit(127);
    }
    ts_track(&t, true);
    while (!ts_can_connect(t.sock))
        usleep(5000);
    enum { SESSIONS = 30 };
    tcl *s[SESSIONS];
    int granted = 0, refused = 0;
    for (int i = 0; i < SESSIONS; i++) {
        s[i] = cl_open(&t);
        char req[32];
        snprintf(req, sizeof req, "LOCK +^r(%d)", i);
        const char *r = cl_req(s[i], req);
        if (!strncmp(r, "OK 1 ", 5))
            granted++;
        else if (!strncmp(r, "ERR IO ", 7))
            refused++;
        else
            fail_msg("unexpected answer '%s'", r);
    }
    printf("# %d granted, %d refused\n", granted, refused);
    assert_true(granted > 0 && refused > 0);
    assert_true(ts_log_contains(&t, "cannot write"));
    tcl *obs = cl_open(&t);
    assert_int_equal(cl_stat(obs, "entries"), granted);
    cl_close(obs);
    /* a refused session stays usable */
    assert_string_equal(cl_req(s[SESSIONS - 1], "PING"), "OK PONG");
    crash(&t);
    for (int i = 0; i < SESSIONS; i++)
        cl_close(s[i]);
    ts_write_config(&t, NULL, "server:\n  recovery_grace_s: 1\n");
    ts_launch(&t);                                /* no limit now: the registry reads */
    await_recovered(&t);
    char want[64];
    snprintf(want, sizeof want, "%d of %d sessions", 0, granted);
    assert_true(ts_log_contains(&t, want));
    ts_finish(&t);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(reclaims_every_kind, ts_teardown),
        cmocka_unit_test_teardown(mirror_survives_random_histories, ts_teardown),
        cmocka_unit_test_teardown(lost_after_the_grace, ts_teardown),
        cmocka_unit_test_teardown(forged_and_conflicting_reclaims, ts_teardown),
        cmocka_unit_test_teardown(killed_during_recovery, ts_teardown),
        cmocka_unit_test_teardown(sigterm_restart_keeps_locks, ts_teardown),
        cmocka_unit_test_teardown(registry_write_fails, ts_teardown),
        cmocka_unit_test_teardown(reclaims_every_count, ts_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
