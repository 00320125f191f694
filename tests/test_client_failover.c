/* An HA cluster failing over, with real processes (docs/HA.md): one
 * ZooKeeper node from the Debian package (tests/zk_harness.h), two
 * `nslock serve` with an ha section on loopback TCP, and libnslock clients
 * given both addresses.
 *
 *   failover     3 sessions hold 100,000 locks; the leader is SIGKILLed;
 *                the standby takes over, the sessions reclaim everything
 *                with the original tokens, and a rival polling those names
 *                all along is granted none of them. The time from the kill
 *                to the first grant at the new leader is printed.
 *   split brain  the leader is frozen (SIGSTOP) past the ZooKeeper session
 *                timeout; the standby takes over; a session that held a
 *                lock reclaims it there, and one whose LOCK was waiting on
 *                the frozen leader waits there again; a request sent to the frozen
 *                leader is never granted after it resumes, and it rejoins
 *                as a standby.
 *   zookeeper    ZooKeeper frozen past the session timeout, or killed and
 *                started again: the leader steps down and grants nothing;
 *                ZooKeeper back: a leader serves again and the locks are
 *                reclaimed.
 *   `--ensemble` (label long): a three-node ensemble, one node killed: the
 *                leader keeps leading (same epoch) and granting; a second
 *                node killed (no quorum): it steps down.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client/nslock.h"
#include "tests/zk_harness.h"

#define SESSION_TIMEOUT_MS 2000
#define HOLDERS 3
#define LOCKS_PER_HOLDER 33334        /* 100,002 in all */
#define BATCH 200                     /* LOCK arguments per command */

typedef struct tserver {
    pid_t pid;
    int port;
    int index;
    char addr[64];
} tserver;

static char root[256], token_file[300], servers_list[160];
static tzk zk[3];
static int zk_nodes = 1;
static tserver srv[2];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static void server_launch(tserver *s)
{
    char cfg[320], sock[320], state[320], log[320];
    snprintf(cfg, sizeof cfg, "%s/s%d.yaml", root, s->index);
    snprintf(sock, sizeof sock, "%s/s%d.sock", root, s->index);
    snprintf(state, sizeof state, "%s/state%d", root, s->index);
    snprintf(log, sizeof log, "%s/s%d.log", root, s->index);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "lock_table:\n  max_entries: 400000\n  max_session_entries: 200000\n"
            "server:\n  listen: %s\n  token_file: %s\n  recovery_grace_s: 15\n"
            "ha:\n  zookeeper: %s\n  path: /nslock/failover\n  session_timeout_ms: %d\n"
            "databases:\n  USERDB: { directory: /data/user }\n"
            "namespaces:\n  USER: { globals: USERDB }\n",
            s->addr, token_file, zk[0].connect, SESSION_TIMEOUT_MS);
    fclose(f);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(NSL_BINARY, "nslock", "serve", "--config", cfg, "--socket", sock, "--state-dir",
              state, "--log-level", "debug", (char *)NULL);
        perror("exec nslock");
        _exit(127);
    }
}

static void server_kill(tserver *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGCONT);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

/* A handle on one server as it is: leader or standby, no recovery. */
static nslock *open_one(const char *addr, nslock_error *err)
{
    nslock *c;
    nslock_options o = {.client_name = "probe", .keeper = NSLOCK_KEEPER_NONE, .no_recovery = 1};
    nslock_options_more more = {.servers = addr, .token_file = token_file, .standby_ok = 1};
    if (nslock_open_ex(&c, &o, &more, err) < 0)
        return NULL;
    nslock_set_grace(c, 2);
    return c;
}

/* A session on one server alone, never recovered elsewhere. */
static int open_direct(const tserver *s, const char *name, double grace, nslock **c,
                       nslock_error *err)
{
    nslock_options o = {.client_name = name, .keeper = NSLOCK_KEEPER_NONE, .no_recovery = 1};
    nslock_options_more more = {.servers = s->addr, .token_file = token_file};
    int rc = nslock_open_ex(c, &o, &more, err);
    if (rc == 0)
        nslock_set_grace(*c, grace);
    return rc;
}

static bool cluster_of(const tserver *s, nslock_cluster *out)
{
    nslock_error err;
    nslock *c = open_one(s->addr, &err);
    if (!c)
        return false;
    bool ok = nslock_cluster_get(c, out, &err) == 0;
    nslock_close(c);
    return ok;
}

/* The server that leads (and serves), or -1 after `within` seconds. */
static int wait_leader(double within)
{
    double end = now_s() + within;
    do {
        for (int i = 0; i < 2; i++) {
            nslock_cluster cl;
            if (srv[i].pid > 0 && cluster_of(&srv[i], &cl) && strcmp(cl.role, "leader") == 0)
                return i;
        }
        pause_s(0.05);
    } while (now_s() < end);
    return -1;
}

/* Until s says it has role (and, given, that leader leads). */
static bool wait_role_under(const tserver *s, const char *role, const char *leader, double within)
{
    double end = now_s() + within;
    do {
        nslock_cluster cl;
        if (cluster_of(s, &cl) && strcmp(cl.role, role) == 0
            && (!leader || strcmp(cl.leader, leader) == 0))
            return true;
        pause_s(0.05);
    } while (now_s() < end);
    return false;
}

static bool wait_role(const tserver *s, const char *role, double within)
{
    return wait_role_under(s, role, NULL, within);
}

static nslock *open_cluster(const char *name)
{
    nslock *c;
    nslock_error err;
    nslock_options o = {.client_name = name};
    nslock_options_more more = {.servers = servers_list, .token_file = token_file};
    if (nslock_open_ex(&c, &o, &more, &err) < 0)
        fail_msg("connecting to the cluster %s: %s %s", servers_list, err.name, err.message);
    nslock_set_grace(c, 30);
    return c;
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(root, sizeof root, "%s/nslock-failover.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(root));
    snprintf(token_file, sizeof token_file, "%s/token", root);
    FILE *f = fopen(token_file, "w");
    assert_non_null(f);
    fprintf(f, "failover-test-token\n");
    fclose(f);
    chmod(token_file, 0600);
    if (zk_nodes == 3)
        tzk_start_ensemble(zk);
    else
        tzk_start(&zk[0]);
    for (int i = 0; i < 2; i++) {
        srv[i].index = i;
        srv[i].port = tzk_free_port();
        snprintf(srv[i].addr, sizeof srv[i].addr, "127.0.0.1:%d", srv[i].port);
    }
    snprintf(servers_list, sizeof servers_list, "%s,%s", srv[0].addr, srv[1].addr);
    server_launch(&srv[0]);
    if (wait_leader(30) != 0)
        fail_msg("the first server did not lead; see %s/s0.log", root);
    server_launch(&srv[1]);
    if (!wait_role(&srv[1], "standby", 30))
        fail_msg("the second server did not stand by; see %s/s1.log", root);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++)
        server_kill(&srv[i]);
    bool keep = getenv("NSL_TEST_KEEP") != NULL;
    if (keep)
        printf("kept ZooKeeper's log in %s\n", zk[0].dir);
    if (zk_nodes == 3)
        keep ? (void)(tzk_kill(&zk[0]), tzk_kill(&zk[1]), tzk_kill(&zk[2])) : tzk_finish_ensemble(zk);
    else
        keep ? tzk_kill(&zk[0]) : tzk_finish(&zk[0]);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (getenv("NSL_TEST_KEEP"))      /* the servers' logs, for a failure */
        printf("kept %s\n", root);
    else if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return 0;
}

/* ---- what a session holds, and what the server says it holds ---------------------- */

typedef struct held_token {
    char name[48];
    uint64_t token;
} held_token;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const held_token *)a)->name, ((const held_token *)b)->name);
}

/* The session's locks as libnslock mirrors them, sorted by name. */
static held_token *mirror_of(nslock *c, size_t *n)
{
    nslock_held *rows;
    nslock_error err;
    if (nslock_held_list(c, &rows, n, &err) < 0)
        fail_msg("held list: %s %s", err.name, err.message);
    held_token *t = calloc(*n ? *n : 1, sizeof *t);
    assert_non_null(t);
    for (size_t i = 0; i < *n; i++) {
        snprintf(t[i].name, sizeof t[i].name, "%s", rows[i].name);
        t[i].token = rows[i].token;
    }
    nslock_free(rows);
    qsort(t, *n, sizeof *t, by_name);
    return t;
}

/* The same from the server's table (SHOW owner=ID), sorted by name. */
static held_token *table_of(nslock *observer, uint64_t owner, size_t *n)
{
    nslock_entry *rows;
    nslock_error err;
    nslock_show_filter f = {.owner = owner, .no_waiters = 1};
    if (nslock_show(observer, &f, &rows, n, &err) < 0)
        fail_msg("show owner=%llu: %s %s", (unsigned long long)owner, err.name, err.message);
    held_token *t = calloc(*n ? *n : 1, sizeof *t);
    assert_non_null(t);
    for (size_t i = 0; i < *n; i++) {
        snprintf(t[i].name, sizeof t[i].name, "%s", rows[i].name);
        t[i].token = rows[i].token;
    }
    nslock_free(rows);
    qsort(t, *n, sizeof *t, by_name);
    return t;
}

static void assert_same_tokens(const held_token *a, size_t na, const held_token *b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a[i].name, b[i].name) != 0 || a[i].token != b[i].token)
            fail_msg("entry %zu: %s token %llu before, %s token %llu after", i, a[i].name,
                     (unsigned long long)a[i].token, b[i].name, (unsigned long long)b[i].token);
    }
}

static atomic_size_t reclaimed_locks;
static atomic_int reclaims;

static void on_reclaimed(nslock *c, size_t locks, uint64_t epoch, void *arg)
{
    (void)c, (void)epoch, (void)arg;
    atomic_fetch_add(&reclaimed_locks, locks);
    atomic_fetch_add(&reclaims, 1);
}

static void take_locks(nslock *c, int holder, int count)
{
    char *cmd = malloc(BATCH * 32 + 16);
    assert_non_null(cmd);
    for (int i = 0; i < count; i += BATCH) {
        size_t len = (size_t)sprintf(cmd, "LOCK ");
        for (int k = i; k < i + BATCH && k < count; k++)
            len += (size_t)sprintf(cmd + len, "%s+^F(%d,%d)", k == i ? "" : ",", holder, k);
        nslock_outcome out;
        nslock_error err;
        if (nslock_command(c, cmd, &out, &err) < 0 || out.test != 1)
            fail_msg("taking ^F(%d,%d...): %d %s %s", holder, i, out.test, err.name, err.message);
    }
    free(cmd);
}

/* ---- failover after SIGKILL ------------------------------------------------------- */

static void test_failover_after_sigkill(void **state)
{
    (void)state;
    int lead = wait_leader(10);
    assert_true(lead >= 0);
    nslock_cluster before;
    assert_true(cluster_of(&srv[lead], &before));

    nslock *holder[HOLDERS];
    held_token *mirror[HOLDERS];
    size_t mirror_n[HOLDERS];
    for (int h = 0; h < HOLDERS; h++) {
        holder[h] = open_cluster("holder");
        nslock_on_reclaimed(holder[h], on_reclaimed, NULL);
        take_locks(holder[h], h, LOCKS_PER_HOLDER);
        mirror[h] = mirror_of(holder[h], &mirror_n[h]);
        assert_int_equal(mirror_n[h], LOCKS_PER_HOLDER);
    }
    /* what the leader's table says is what the mirrors say */
    nslock *rival = open_cluster("rival");
    for (int h = 0; h < HOLDERS; h++) {
        size_t n;
        held_token *t = table_of(rival, nslock_session_id(holder[h]), &n);
        assert_same_tokens(mirror[h], mirror_n[h], t, n);
        free(t);
    }

    double killed = now_s();
    server_kill(&srv[lead]);

    /* The rival asks for held names and for a fresh one, without waiting,
     * until the fresh one is granted: the new leader serves. None of the
     * held names may be granted meanwhile, nor after. */
    uint64_t served_token = 0;
    double served = 0;
    unsigned polls = 0, errors = 0;
    for (unsigned k = 0; served == 0 && now_s() < killed + 60; k++) {
        char held[48], fresh[48];
        snprintf(held, sizeof held, "^F(%u,%u)", k % HOLDERS, (k * 7919u) % LOCKS_PER_HOLDER);
        snprintf(fresh, sizeof fresh, "^Fresh(%u)", k);
        nslock_outcome out = {0};
        nslock_error err;
        if (nslock_lock(rival, held, NSLOCK_EXCLUSIVE, 0, &out, &err) == 0) {
            if (out.test == 1)
                fail_msg("the rival was granted %s, held by a holder, %.3f s after the kill",
                         held, now_s() - killed);
        } else {
            errors++;
        }
        if (nslock_lock(rival, fresh, NSLOCK_EXCLUSIVE, 0, &out, &err) == 0 && out.test == 1) {
            served = now_s();
            served_token = out.token;
        }
        polls++;
    }
    if (served == 0)
        fail_msg("no grant within 60 s of killing the leader; see %s/s*.log", root);
    int next = wait_leader(5);
    assert_int_equal(next, 1 - lead);
    nslock_cluster after;
    assert_true(cluster_of(&srv[next], &after));
    assert_true(after.epoch > before.epoch);
    printf("failover: the new leader granted %.2f s after SIGKILL (ZooKeeper session timeout "
           "%.1f s; %u rival polls, %u of them answered with an error)\n", served - killed,
           SESSION_TIMEOUT_MS / 1000.0, polls, errors);

    /* every holder reclaimed its locks, with their tokens, at the new leader */
    double end = now_s() + 30;
    while (atomic_load(&reclaims) < HOLDERS && now_s() < end)
        pause_s(0.05);
    assert_int_equal(atomic_load(&reclaims), HOLDERS);
    assert_int_equal(atomic_load(&reclaimed_locks), (size_t)HOLDERS * LOCKS_PER_HOLDER);
    for (int h = 0; h < HOLDERS; h++) {
        assert_int_equal(nslock_is_lost(holder[h]), 0);
        size_t n;
        held_token *t = table_of(rival, nslock_session_id(holder[h]), &n);
        assert_same_tokens(mirror[h], mirror_n[h], t, n);
        free(t);
        /* and new grants carry tokens above every earlier leader's */
        for (size_t i = 0; i < mirror_n[h]; i++)
            assert_true(served_token > mirror[h][i].token);
    }
    /* still none of the held names for the rival */
    for (unsigned k = 0; k < 300; k++) {
        char held[48];
        snprintf(held, sizeof held, "^F(%u,%u)", k % HOLDERS, (k * 104729u) % LOCKS_PER_HOLDER);
        nslock_outcome out = {0};
        nslock_error err;
        assert_int_equal(nslock_lock(rival, held, NSLOCK_EXCLUSIVE, 0, &out, &err), 0);
        assert_int_equal(out.test, 0);
    }
    for (int h = 0; h < HOLDERS; h++) {
        free(mirror[h]);
        nslock_close(holder[h]);
    }
    nslock_close(rival);
    /* the killed server comes back as a standby */
    server_launch(&srv[lead]);
    assert_true(wait_role(&srv[lead], "standby", 30));
}

/* ---- split brain: the leader frozen past its session ------------------------------- */

typedef struct frozen_call {
    nslock *c;
    int rc;
    nslock_outcome out;
    nslock_error err;
} frozen_call;

static void *call_frozen(void *arg)
{
    frozen_call *fc = arg;
    fc->rc = nslock_lock(fc->c, "^Split", NSLOCK_EXCLUSIVE, 0, &fc->out, &fc->err);
    return NULL;
}

/* A LOCK that waits, on its own thread. */
typedef struct waiting_call {
    nslock *c;
    const char *name;
    int rc;
    nslock_outcome out;
    nslock_error err;
} waiting_call;

static void *call_waiting(void *arg)
{
    waiting_call *wc = arg;
    wc->rc = nslock_lock(wc->c, wc->name, NSLOCK_EXCLUSIVE, 60, &wc->out, &wc->err);
    return NULL;
}

/* Whether the server that observer reaches shows client waiting for name. */
static bool shows_waiting(nslock *observer, const char *name, const char *client)
{
    nslock_entry *rows;
    size_t n;
    nslock_show_filter f = {.name_prefix = name};
    if (nslock_show(observer, &f, &rows, &n, NULL) < 0)
        return false;
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= rows[i].waiting && strcmp(rows[i].client, client) == 0;
    nslock_free(rows);
    return found;
}

static void test_split_brain_after_sigstop(void **state)
{
    (void)state;
    int lead = wait_leader(10);
    assert_true(lead >= 0);
    int other = 1 - lead;
    nslock_cluster before;
    assert_true(cluster_of(&srv[lead], &before));

    /* a session that holds a lock, through the cluster list */
    nslock *holder = open_cluster("holder");
    nslock_outcome got;
    nslock_error err;
    assert_int_equal(nslock_lock(holder, "^Kept", NSLOCK_EXCLUSIVE, 5, &got, &err), 0);
    assert_int_equal(got.test, 1);
    /* a session on the leader alone, which will talk to it while it is frozen */
    nslock *direct;
    assert_int_equal(open_direct(&srv[lead], "direct", 60, &direct, &err), 0);
    /* and a session whose LOCK waits for the holder's, in a call when the
     * leader freezes: it must move to the next leader without waiting for
     * the frozen one to come back */
    nslock *waiter = open_cluster("waiter");
    waiting_call wc = {.c = waiter, .name = "^Kept", .rc = 99};
    pthread_t wt;
    assert_int_equal(pthread_create(&wt, NULL, call_waiting, &wc), 0);
    double until = now_s() + 10;
    while (!shows_waiting(holder, "^Kept", "waiter") && now_s() < until)
        pause_s(0.02);
    assert_true(shows_waiting(holder, "^Kept", "waiter"));

    kill(srv[lead].pid, SIGSTOP);
    frozen_call fc = {.c = direct, .rc = 99};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, call_frozen, &fc), 0);

    /* the standby takes over once ZooKeeper expires the frozen one's session */
    if (!wait_role(&srv[other], "leader", 30))
        fail_msg("the standby did not take over; see %s/s%d.log", root, other);
    nslock_cluster after;
    assert_true(cluster_of(&srv[other], &after));
    assert_true(after.epoch > before.epoch);
    /* the holder's library left the silent leader and reclaimed there */
    nslock *rival = open_cluster("rival");
    double end = now_s() + 30;
    size_t n = 0;
    nslock_entry *rows = NULL;
    while (now_s() < end) {
        nslock_show_filter f = {.name_prefix = "^Kept", .no_waiters = 1};
        assert_int_equal(nslock_show(rival, &f, &rows, &n, &err), 0);
        if (n == 1)
            break;
        nslock_free(rows);
        rows = NULL;
        pause_s(0.05);
    }
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].token, got.token);
    assert_int_equal(rows[0].owner, nslock_session_id(holder));
    nslock_free(rows);
    /* the waiting LOCK left the frozen leader and waits at the new one */
    end = now_s() + 30;
    while (!shows_waiting(rival, "^Kept", "waiter") && now_s() < end)
        pause_s(0.05);
    if (!shows_waiting(rival, "^Kept", "waiter"))
        fail_msg("the waiting LOCK did not move to the new leader; see %s/s*.log", root);
    /* the new leader grants ^Split to someone else */
    nslock_outcome split;
    assert_int_equal(nslock_lock(rival, "^Split", NSLOCK_EXCLUSIVE, 5, &split, &err), 0);
    assert_int_equal(split.test, 1);

    /* resumed, the old leader grants nothing: the request sent while it was
     * frozen gets an error or a closed connection, never OK 1 */
    kill(srv[lead].pid, SIGCONT);
    pthread_join(t, NULL);
    if (fc.rc == 0)
        assert_int_not_equal(fc.out.test, 1);
    else
        printf("split brain: the frozen leader's client got %s: %s\n", fc.err.name,
               fc.err.message);
    nslock_close(direct);
    if (!wait_role_under(&srv[lead], "standby", srv[other].addr, 30))
        fail_msg("the resumed leader did not rejoin as a standby; see %s/s%d.log", root, lead);
    /* and a fresh connection to it is sent to the leader */
    nslock_error e2;
    nslock *again;
    assert_int_equal(open_direct(&srv[lead], "again", 2, &again, &e2), -1);
    assert_int_equal(e2.code, NSLOCK_E_STANDBY);
    if (!strstr(e2.message, srv[other].addr))
        fail_msg("the resumed leader answers '%s', not naming the leader %s", e2.message,
                 srv[other].addr);
    nslock_close(rival);
    /* the holder's session ends: the waiter is granted, at the new leader */
    nslock_close(holder);
    pthread_join(wt, NULL);
    if (wc.rc != 0 || wc.out.test != 1)
        fail_msg("the waiter: rc %d $TEST %d %s %s", wc.rc, wc.out.test, wc.err.name,
                 wc.err.message);
    nslock_close(waiter);
}

/* ---- ZooKeeper silent ------------------------------------------------------------ */

/* ZooKeeper silent (frozen, or killed and started again on its data): the
 * leader steps down and nobody grants; then a leader serves again and the
 * holder has its lock, with its token. */
static void zookeeper_outage(bool restart, const char *name)
{
    int lead = wait_leader(10);
    assert_true(lead >= 0);
    nslock *holder = open_cluster("holder");
    nslock_outcome got;
    nslock_error err;
    assert_int_equal(nslock_lock(holder, name, NSLOCK_EXCLUSIVE, 5, &got, &err), 0);
    assert_int_equal(got.test, 1);

    if (restart)
        tzk_kill(&zk[0]);
    else
        tzk_signal(&zk[0], SIGSTOP);
    /* two thirds of the session timeout without ZooKeeper: the leader stops */
    bool stepped_down = false;
    double end = now_s() + 10;
    while (!stepped_down && now_s() < end) {
        nslock_cluster cl;
        stepped_down = cluster_of(&srv[lead], &cl) && strcmp(cl.role, "leader") != 0;
        pause_s(0.05);
    }
    /* nobody is granted anything while ZooKeeper is silent */
    nslock *probe;
    if (open_direct(&srv[lead], "probe", 2, &probe, &err) == 0) {
        nslock_outcome out = {0};
        if (nslock_lock(probe, "^Other", NSLOCK_EXCLUSIVE, 0, &out, &err) == 0)
            assert_int_not_equal(out.test, 1);
        nslock_close(probe);
    } else {
        assert_int_equal(err.code, NSLOCK_E_STANDBY);
    }
    if (restart)
        tzk_launch(&zk[0]);
    else
        tzk_signal(&zk[0], SIGCONT);
    assert_true(stepped_down);

    /* ZooKeeper back: a leader serves again, and the holder has its lock */
    nslock *rival = open_cluster("rival");
    end = now_s() + 40;
    size_t n = 0;
    nslock_entry *rows = NULL;
    while (now_s() < end) {
        nslock_show_filter f = {.name_prefix = name, .no_waiters = 1};
        if (nslock_show(rival, &f, &rows, &n, &err) == 0 && n == 1 &&
            strcmp(rows[0].name, name) == 0)
            break;
        if (rows)
            nslock_free(rows);
        rows = NULL;
        n = 0;
        pause_s(0.1);
    }
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].token, got.token);
    nslock_free(rows);
    nslock_outcome out;
    assert_int_equal(nslock_lock(rival, name, NSLOCK_EXCLUSIVE, 0, &out, &err), 0);
    assert_int_equal(out.test, 0);
    nslock_close(rival);
    nslock_close(holder);
}

static void test_zookeeper_frozen(void **state)
{
    (void)state;
    zookeeper_outage(false, "^ZKFrozen");
}

static void test_zookeeper_restarted(void **state)
{
    (void)state;
    zookeeper_outage(true, "^ZKRestarted");
}

/* ---- a three-node ensemble losing nodes ------------------------------------------- */

static void test_ensemble_loses_nodes(void **state)
{
    (void)state;
    int lead = wait_leader(10);
    assert_true(lead >= 0);
    nslock_cluster before, cl;
    assert_true(cluster_of(&srv[lead], &before));
    nslock *c = open_cluster("worker");
    nslock_outcome out;
    nslock_error err;
    /* one node of three gone: still a quorum; the leader goes on as it was */
    tzk_kill(&zk[2]);
    for (int i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof name, "^Q(%d)", i);
        assert_int_equal(nslock_lock(c, name, NSLOCK_EXCLUSIVE, 5, &out, &err), 0);
        assert_int_equal(out.test, 1);
        pause_s(0.1);
    }
    assert_true(cluster_of(&srv[lead], &cl));
    assert_string_equal(cl.role, "leader");
    assert_int_equal(cl.epoch, before.epoch);
    /* two gone: no quorum; the leader steps down */
    tzk_kill(&zk[1]);
    bool stepped_down = false;
    double end = now_s() + 15;
    while (!stepped_down && now_s() < end) {
        stepped_down = cluster_of(&srv[lead], &cl) && strcmp(cl.role, "leader") != 0;
        pause_s(0.05);
    }
    assert_true(stepped_down);
    nslock_close(c);
}

int main(int argc, char **argv)
{
    if (getenv("NSL_TEST_FILTER"))     /* one test, e.g. test_zookeeper_frozen */
        cmocka_set_test_filter(getenv("NSL_TEST_FILTER"));
    if (argc > 1 && strcmp(argv[1], "--ensemble") == 0) {
        zk_nodes = 3;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_ensemble_loses_nodes),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failover_after_sigkill),
        cmocka_unit_test(test_split_brain_after_sigstop),
        cmocka_unit_test(test_zookeeper_frozen),
        cmocka_unit_test(test_zookeeper_restarted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
