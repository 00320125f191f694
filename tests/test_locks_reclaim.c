/* Restart recovery in the engine (docs/DESIGN.md): adopted owner ids, reclaimed
 * entries (counts, delock state, tokens, namespaces, several databases,
 * escalated parents), conflicts between reclaims, and holding grants while
 * the table is rebuilt.
 *
 * The usual check is a history run in one engine ("before the restart"),
 * then the same entries reclaimed into a fresh engine from what the client
 * mirrors (name, namespace, counts, deferred counts, token), and the two
 * tables compared row by row: database, owner, mode, name, namespace, token.
 * Every reclaim is followed by nsl_engine_check.
 */
#include "engine_fixture.h"

#define FIRST 1000            /* the restarted engine's first_token */

static fixture *fx_engine(uint64_t first_token, uint32_t threshold, uint64_t max_entries)
{
    nsl_engine_options opt;
    nsl_engine_options_default(&opt);
    opt.max_entries = max_entries;
    opt.escalation_threshold = threshold;
    opt.deadlock_check_ms = 1000;
    opt.first_token = first_token;
    return fx_new_with(&opt);
}

static uint32_t ns_id(fixture *f, const char *ns)
{
    const nsl_namespace *n = nsl_registry_find_namespace(f->reg, ns);
    assert_non_null(n);
    return n->id;
}

/* Reclaims name (as written in namespace ns) with counts "X,XE,S,SE" and
 * deferred counts in the same form; checks the engine afterwards. */
static nsl_code reclaim(fixture *f, nsl_owner_id o, const char *ns, const char *name,
                        const char *counts, const char *deferred, uint64_t token,
                        nsl_error *err_out)
{
    nsl_reclaim r;
    memset(&r, 0, sizeof r);
    r.namespace_id = ns_id(f, ns);
    nsl_error err;
    if (nsl_lockname_parse(name, strlen(name), NULL, &r.name, &err) != NSL_OK)
        fail_msg("%s: %s", name, err.message);
    unsigned c[4] = {0}, d[4] = {0};
    assert_int_equal(sscanf(counts, "%u,%u,%u,%u", &c[0], &c[1], &c[2], &c[3]), 4);
    if (deferred)
        assert_int_equal(sscanf(deferred, "%u,%u,%u,%u", &d[0], &d[1], &d[2], &d[3]), 4);
    for (int i = 0; i < NSL_COUNT_TYPES; i++) {
        r.count[i] = (uint16_t)c[i];
        r.deferred[i] = (uint16_t)d[i];
    }
    r.token = token;
    memset(&err, 0, sizeof err);
    nsl_code rc = nsl_engine_reclaim(f->engine, o, &r, f->now, &err);
    if (rc != NSL_OK)
        assert_int_equal(err.code, rc);
    if (err_out)
        *err_out = err;
    fx_check(f);
    return rc;
}

static void reclaim_ok(fixture *f, nsl_owner_id o, const char *ns, const char *name,
                       const char *counts, const char *deferred, uint64_t token)
{
    nsl_error err;
    nsl_code rc = reclaim(f, o, ns, name, counts, deferred, token, &err);
    if (rc != NSL_OK)
        fail_msg("reclaim of %s: %s %s", name, nsl_code_name(rc), err.message);
}

/* The rows as "DB OWNER MODE NAME NAMESPACE TOKEN" lines (held rows only). */
static char *rows(fixture *f)
{
    fx_check(f);
    nsl_view_filter flt;
    nsl_view_filter_init(&flt);
    flt.no_waiters = true;
    nsl_view v;
    assert_int_equal(nsl_engine_view(f->engine, &flt, &v), NSL_OK);
    size_t cap = 256 + v.count * 160, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    buf[0] = '\0';
    for (size_t i = 0; i < v.count; i++) {
        const nsl_view_row *r = &v.rows[i];
        len += (size_t)snprintf(buf + len, cap - len, "%s %u %s %s %s %llu\n",
                                nsl_registry_database(f->reg, r->database)->name, r->owner,
                                r->mode, r->name,
                                nsl_registry_namespace(f->reg, r->namespace_id)->name,
                                (unsigned long long)r->token);
        assert_true(len < cap);
    }
    nsl_view_free(&v);
    return buf;
}

static void assert_rows(fixture *f, const char *want)
{
    char *got = rows(f);
    assert_string_equal(got, want);
    free(got);
}

static void assert_same_rows(fixture *a, fixture *b)
{
    char *x = rows(a), *y = rows(b);
    if (strcmp(x, y) != 0)
        fail_msg("before the restart:\n%safter the reclaim:\n%s", x, y);
    free(x);
    free(y);
}

static uint64_t lock_token(fixture *f, nsl_owner_id o, const char *text)
{
    nsl_lock_result r;
    int test = fx_run_code(f, o, text, NULL, &r);
    if (test != 1)
        fail_msg("%s: $TEST %d (%s)", text, test, r.message);
    return r.token;
}

/* ---- owners ------------------------------------------------------------------------ */

static void owner_adopt_ids(void **state)
{
    (void)state;
    nsl_engine_options opt;
    nsl_engine_options_default(&opt);
    opt.first_owner = 100;
    fixture *f = fx_new_with(&opt);
    uint32_t user = ns_id(f, "USER"), beta = ns_id(f, "BETA");
    assert_int_equal(fx_owner(f, "USER"), 101);
    assert_int_equal(nsl_engine_owner_adopt(f->engine, 0, user), NSL_COMMAND);
    assert_int_equal(nsl_engine_owner_adopt(f->engine, 101, user), NSL_COMMAND);   /* in use */
    assert_int_equal(nsl_engine_owner_adopt(f->engine, UINT32_MAX, user), NSL_COMMAND);
    assert_int_equal(nsl_engine_owner_adopt(f->engine, 7, 9999), NSL_NAMESPACE);
    assert_false(nsl_engine_owner_exists(f->engine, 7));
    assert_int_equal(nsl_engine_owner_adopt(f->engine, 7, beta), NSL_OK);     /* below: fine */
    assert_true(nsl_engine_owner_exists(f->engine, 7));
    assert_int_equal(nsl_engine_owner_namespace(f->engine, 7), beta);
    assert_int_equal(nsl_engine_owner_adopt(f->engine, 7, beta), NSL_COMMAND);
    assert_int_equal(fx_owner(f, "USER"), 102);
    assert_int_equal(nsl_engine_owner_adopt(f->engine, 500, user), NSL_OK);
    assert_int_equal(fx_owner(f, "USER"), 501);                               /* above it */
    /* an adopted owner is an owner like any other */
    assert_int_equal(fx_run(f, 500, "LOCK +^a"), 1);
    assert_int_equal(nsl_engine_owner_entries(f->engine, 500), 1);
    assert_int_equal(fx_run(f, 7, "LOCK +^a:0"), 1);                 /* BETADB */
    assert_int_equal(fx_run(f, 7, "LOCK +^[\"USER\"]a:0"), 0);
    nsl_engine_owner_end(f->engine, 500, f->now);
    assert_int_equal(fx_run(f, 7, "LOCK +^[\"USER\"]a:0"), 1);
    assert_int_equal(nsl_engine_owner_entries(f->engine, 500), 0);
    fx_check(f);
    fx_free(f);
}

/* ---- what is re-created --------------------------------------------------------------- */

/* Exclusive, shared, counts above one of several types, escalating counts
 * on a child, and a local name; each with its token and namespace. SINCE
 * is the time of the reclaim; it is no grant, takes no token. */
static void reclaim_counts_and_types(void **state)
{
    (void)state;
    fixture *a = fx_engine(0, 3, 1000);
    nsl_owner_id o = fx_owner(a, "USER");
    lock_token(a, o, "LOCK +^a");
    lock_token(a, o, "LOCK +^b#\"S\"");
    lock_token(a, o, "LOCK +(^c,^c,^c#\"S\")");
    lock_token(a, o, "LOCK +(^c#\"S\",^c#\"S\")");
    lock_token(a, o, "LOCK +^d(1)");
    lock_token(a, o, "LOCK +(^d(1)#\"E\",^d(1)#\"E\")");
    lock_token(a, o, "LOCK +(x(1)#\"S\",x(1)#\"SE\")");
    nsl_engine_stats st;
    nsl_engine_stats_get(a->engine, &st);

    fixture *b = fx_engine(st.last_token, 3, 1000);
    b->now = 777777;
    assert_int_equal(nsl_engine_owner_adopt(b->engine, o, ns_id(b, "USER")), NSL_OK);
    reclaim_ok(b, o, "USER", "^a", "1,0,0,0", NULL, 1);
    reclaim_ok(b, o, "USER", "^b", "0,0,1,0", NULL, 2);
    reclaim_ok(b, o, "USER", "^c", "2,0,3,0", NULL, 3);
    reclaim_ok(b, o, "USER", "^d(1)", "1,2,0,0", NULL, 5);
    reclaim_ok(b, o, "USER", "x(1)", "0,0,1,1", NULL, 7);
    assert_same_rows(a, b);
    assert_rows(b,
                "USERDB 1 Shared/1+1e x(1) USER 7\n"       /* locals sort first */
                "USERDB 1 Exclusive ^a USER 1\n"
                "USERDB 1 Shared ^b USER 2\n"
                "USERDB 1 Exclusive/2,Shared/3 ^c USER 3\n"
                "USERDB 1 Exclusive/1+2e ^d(1) USER 5\n");
    nsl_view v;
    assert_int_equal(nsl_engine_view(b->engine, NULL, &v), NSL_OK);
    for (size_t i = 0; i < v.count; i++)
        assert_int_equal(v.rows[i].since, 777777);
    nsl_view_free(&v);
    nsl_engine_stats_get(b->engine, &st);
    assert_int_equal(st.entries, 5);
    assert_int_equal(st.grants, 0);
    assert_int_equal(st.last_token, 7);
    assert_int_equal(nsl_engine_owner_entries(b->engine, o), 5);

    /* they behave as the originals: counts go down type by type */
    const char *const steps[] = {"LOCK -^c#\"S\"", "LOCK -^c", "LOCK -^d(1)#\"E\"",
                                 "LOCK -x(1)#\"SE\"", "LOCK -^a"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        assert_int_equal(fx_run(a, o, steps[i]), -1);
        assert_int_equal(fx_run(b, o, steps[i]), -1);
        assert_same_rows(a, b);
    }
    /* the next grant's token is the one the old server would have given */
    assert_int_equal(lock_token(b, o, "LOCK +^n"), lock_token(a, o, "LOCK +^n"));
    fx_free(a);
    fx_free(b);
}

/* A name that lands in two databases gets an entry in each; one unlock
 * removes both. Two names of one session landing on one database entry
 * (here through two namespaces) add up, the entry keeping the older token
 * and its namespace. A local name lands in local_locks whatever the
 * namespace. */
static void reclaim_several_databases(void **state)
{
    (void)state;
    fixture *a = fx_engine(0, 3, 1000);
    nsl_owner_id o = fx_owner(a, "ALPHA");
    uint64_t t1 = lock_token(a, o, "LOCK +^MyGlobal(15)");             /* ALPHADB */
    assert_int_equal(nsl_engine_owner_set_namespace(a->engine, o, ns_id(a, "BETA")), NSL_OK);
    uint64_t t2 = lock_token(a, o, "LOCK +^MyGlobal(15)#\"S\"");      /* ALPHADB, BETADB */
    uint64_t t3 = lock_token(a, o, "LOCK +(^Config(1),x(2))");
    nsl_engine_stats st;
    nsl_engine_stats_get(a->engine, &st);

    fixture *b = fx_engine(st.last_token, 3, 1000);
    assert_int_equal(nsl_engine_owner_adopt(b->engine, o, ns_id(b, "BETA")), NSL_OK);
    reclaim_ok(b, o, "BETA", "^MyGlobal(15)", "0,0,1,0", NULL, t2);
    reclaim_ok(b, o, "ALPHA", "^MyGlobal(15)", "1,0,0,0", NULL, t1);
    reclaim_ok(b, o, "BETA", "^Config(1)", "1,0,0,0", NULL, t3);
    reclaim_ok(b, o, "BETA", "x(2)", "1,0,0,0", NULL, t3);
    assert_same_rows(a, b);
    assert_rows(b,
                "ALPHADB 1 Exclusive ^Config(1) BETA 3\n"
                "ALPHADB 1 Exclusive,Shared ^MyGlobal(15) ALPHA 1\n"
                "BETADB 1 Exclusive ^Config(1) BETA 3\n"
                "BETADB 1 Shared ^MyGlobal(15) BETA 2\n"
                "USERDB 1 Exclusive x(2) BETA 3\n");
    for (fixture *f = a; f; f = f == a ? b : NULL) {
        assert_int_equal(fx_run(f, o, "LOCK -^MyGlobal(15)#\"S\",-^Config(1)"), -1);
        assert_int_equal(fx_run(f, o, "LOCK -x(2)"), -1);
    }
    assert_same_rows(a, b);
    assert_rows(b, "ALPHADB 1 Exclusive ^MyGlobal(15) ALPHA 1\n");
    fx_free(a);
    fx_free(b);
}

/* Delock state: after the reclaim and TSTART (the transaction level given
 * back), the table shows ->Delock as before, and TCOMMIT releases the
 * deferred counts. */
static void reclaim_delock_state(void **state)
{
    (void)state;
    fixture *a = fx_engine(0, 3, 1000);
    nsl_owner_id o = fx_owner(a, "USER");
    assert_int_equal(nsl_engine_tstart(a->engine, o), NSL_OK);
    assert_int_equal(nsl_engine_tstart(a->engine, o), NSL_OK);
    uint64_t td = lock_token(a, o, "LOCK +(^d,^d)");
    assert_int_equal(fx_run(a, o, "LOCK -^d#\"D\""), -1);
    uint64_t te = lock_token(a, o, "LOCK +^e(1)#\"SE\"");
    assert_int_equal(fx_run(a, o, "LOCK -^e(1)#\"SE\""), -1);
    uint64_t tk = lock_token(a, o, "LOCK +(^k#\"S\",^k#\"S\",^k)");
    assert_int_equal(fx_run(a, o, "LOCK -^k"), -1);
    assert_rows(a,
                "USERDB 1 Exclusive/2->Delock ^d USER 1\n"
                "USERDB 1 Shared_e->Delock ^e(1) USER 2\n"
                "USERDB 1 Exclusive->Delock,Shared/2 ^k USER 3\n");
    nsl_engine_stats st;
    nsl_engine_stats_get(a->engine, &st);

    fixture *b = fx_engine(st.last_token, 3, 1000);
    assert_int_equal(nsl_engine_owner_adopt(b->engine, o, ns_id(b, "USER")), NSL_OK);
    reclaim_ok(b, o, "USER", "^d", "2,0,0,0", "1,0,0,0", td);
    reclaim_ok(b, o, "USER", "^e(1)", "0,0,0,1", "0,0,0,1", te);
    reclaim_ok(b, o, "USER", "^k", "1,0,2,0", "1,0,0,0", tk);
    assert_int_equal(nsl_engine_tstart(b->engine, o), NSL_OK);
    assert_int_equal(nsl_engine_tstart(b->engine, o), NSL_OK);
    assert_same_rows(a, b);
    /* locking again takes it out of the delock state, in both */
    lock_token(a, o, "LOCK +^k");
    lock_token(b, o, "LOCK +^k");
    assert_same_rows(a, b);
    for (fixture *f = a; f; f = f == a ? b : NULL) {
        assert_int_equal(fx_run(f, o, "LOCK -^k"), -1);
        assert_int_equal(nsl_engine_tcommit(f->engine, o, f->now), NSL_OK);
        assert_int_equal(nsl_engine_tcommit(f->engine, o, f->now), NSL_OK);
    }
    assert_same_rows(a, b);
    assert_rows(b,
                "USERDB 1 Exclusive ^d USER 1\n"
                "USERDB 1 Shared/2 ^k USER 3\n");
    fx_free(a);
    fx_free(b);
}

/* Escalation (threshold 3): the children reclaimed in token order become
 * the same escalated parent, with the oldest child's token; later children
 * are absorbed; the fingerprints come back, so unlocking a child never
 * locked does not count down. */
static void reclaim_escalated_parent(void **state)
{
    (void)state;
    fixture *a = fx_engine(0, 3, 1000);
    nsl_owner_id o = fx_owner(a, "USER");
    uint64_t t[6];
    for (int i = 1; i <= 5; i++) {
        char text[64];
        snprintf(text, sizeof text, "LOCK +^p(%d)#\"E\"", i);
        t[i] = lock_token(a, o, text);
    }
    lock_token(a, o, "LOCK +^p(2)#\"E\"");                 /* absorbed: count 6 */
    assert_rows(a, "USERDB 1 Exclusive_e/6 ^p USER 1\n");   /* the oldest child's token */
    nsl_engine_stats st;
    nsl_engine_stats_get(a->engine, &st);
    assert_int_equal(st.escalations, 1);

    fixture *b = fx_engine(st.last_token, 3, 1000);
    assert_int_equal(nsl_engine_owner_adopt(b->engine, o, ns_id(b, "USER")), NSL_OK);
    for (int i = 1; i <= 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "^p(%d)", i);
        reclaim_ok(b, o, "USER", name, i == 2 ? "0,2,0,0" : "0,1,0,0", NULL, t[i]);
    }
    assert_same_rows(a, b);
    nsl_engine_stats_get(b->engine, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.escalations, 0);        /* re-created, not a new one */
    assert_int_equal(b->notice_count, 0);

    nsl_owner_id other = fx_owner(b, "USER");
    assert_int_equal(fx_run(b, other, "LOCK +^p(99):0"), 0);   /* the subtree is locked */
    const char *const steps[] = {"LOCK -^p(77)#\"E\"", "LOCK -^p(2)#\"E\"", "LOCK -^p(2)#\"E\"",
                                 "LOCK -^p(2)#\"E\"", "LOCK -^p(1)#\"E\""};
    const char *const after[] = {"Exclusive_e/6", "Exclusive_e/5", "Exclusive_e/4",
                                 "Exclusive_e/4", "Exclusive_e/3"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        assert_int_equal(fx_run(a, o, steps[i]), -1);
        assert_int_equal(fx_run(b, o, steps[i]), -1);
        assert_same_rows(a, b);
        char want[64];
        snprintf(want, sizeof want, "USERDB 1 %s ^p USER 1\n", after[i]);
        assert_rows(b, want);
    }
    fx_free(a);
    fx_free(b);
}

/* In a transaction: a child unlocked there is in the set no more, and a
 * bare LOCK delocks the escalated parent; the mirror says so with deferred
 * counts, and the parent comes back delocked; TCOMMIT releases it. Shared
 * escalation too. */
static void reclaim_escalated_delocked(void **state)
{
    (void)state;
    fixture *a = fx_engine(0, 3, 1000);
    nsl_owner_id o = fx_owner(a, "USER");
    assert_int_equal(nsl_engine_tstart(a->engine, o), NSL_OK);
    uint64_t t[6];
    for (int i = 1; i <= 5; i++) {
        char text[64];
        snprintf(text, sizeof text, "LOCK +(^p(%d)#\"E\",^q(%d)#\"SE\")", i, i);
        t[i] = lock_token(a, o, text);
    }
    /* The parent stands for more than this child: released at once (a
     * client mirror, not knowing of the escalation, would call it
     * delocked; the parent would then show one more delocked count until
     * the transaction ends). */
    assert_int_equal(fx_run(a, o, "LOCK -^p(2)#\"E\""), -1);
    assert_int_equal(fx_run(a, o, "LOCK"), -1);                   /* everything delocked */
    assert_rows(a,
                "USERDB 1 Exclusive_e/4->Delock ^p USER 1\n"
                "USERDB 1 Shared_e/5->Delock ^q USER 1\n");
    nsl_engine_stats st;
    nsl_engine_stats_get(a->engine, &st);

    fixture *b = fx_engine(st.last_token, 3, 1000);
    assert_int_equal(nsl_engine_owner_adopt(b->engine, o, ns_id(b, "USER")), NSL_OK);
    assert_int_equal(nsl_engine_tstart(b->engine, o), NSL_OK);
    for (int i = 1; i <= 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "^q(%d)", i);
        reclaim_ok(b, o, "USER", name, "0,0,0,1", "0,0,0,1", t[i]);
        if (i == 2)
            continue;
        snprintf(name, sizeof name, "^p(%d)", i);
        reclaim_ok(b, o, "USER", name, "0,1,0,0", "0,1,0,0", t[i]);
    }
    assert_same_rows(a, b);
    /* re-locking a child takes one count out of the delock state */
    lock_token(a, o, "LOCK +^p(3)#\"E\"");
    lock_token(b, o, "LOCK +^p(3)#\"E\"");
    assert_same_rows(a, b);
    assert_int_equal(nsl_engine_tcommit(a->engine, o, a->now), NSL_OK);
    assert_int_equal(nsl_engine_tcommit(b->engine, o, b->now), NSL_OK);
    assert_same_rows(a, b);
    assert_rows(b, "USERDB 1 Exclusive_e ^p USER 1\n");
    assert_int_equal(fx_run(b, o, "LOCK -^p(4)#\"E\""), -1);       /* not in the set */
    assert_int_equal(fx_run(b, o, "LOCK -^p(3)#\"E\""), -1);
    assert_rows(b, "");
    fx_free(a);
    fx_free(b);
}

/* Escalation in a reclaim only if the parent lock is free of other
 * owners' holds (as for grants); waiters do not stop it: they came after
 * the escalated lock they would otherwise jump. */
static void reclaim_escalation_needs_parent(void **state)
{
    (void)state;
    fixture *b = fx_engine(FIRST, 3, 1000);
    nsl_owner_id o = fx_owner(b, "USER"), c = fx_owner(b, "USER"), w = fx_owner(b, "USER");
    reclaim_ok(b, c, "USER", "^p(9)", "0,0,1,0", NULL, 10);
    for (int i = 1; i <= 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "^p(%d)", i);
        reclaim_ok(b, o, "USER", name, "0,1,0,0", NULL, (uint64_t)(10 + i));
    }
    assert_rows(b,
                "USERDB 1 Exclusive_e ^p(1) USER 11\n"
                "USERDB 1 Exclusive_e ^p(2) USER 12\n"
                "USERDB 1 Exclusive_e ^p(3) USER 13\n"
                "USERDB 1 Exclusive_e ^p(4) USER 14\n"
                "USERDB 2 Shared ^p(9) USER 10\n");
    assert_int_equal(fx_run(b, c, "LOCK -^p(9)#\"S\""), -1);
    /* a waiter on the subtree, queued while grants are held */
    nsl_engine_hold_grants(b->engine, true, b->now);
    assert_int_equal(fx_run(b, w, "LOCK +^p(7)"), -2);
    reclaim_ok(b, o, "USER", "^p(5)", "0,1,0,0", NULL, 15);
    assert_rows(b, "USERDB 1 Exclusive_e/5 ^p USER 11\n");
    nsl_engine_hold_grants(b->engine, false, b->now);
    assert_null(fx_take(b, w));                       /* behind the escalated lock */
    assert_int_equal(fx_run(b, o, "LOCK -(^p(1),^p(2),^p(3),^p(4),^p(5))#\"E\""), -1);
    const nsl_lock_result *r = fx_take(b, w);
    assert_non_null(r);
    assert_int_equal(r->test, 1);
    assert_true(r->token > FIRST);
    fx_check(b);
    fx_free(b);
}

/* ---- refusals ------------------------------------------------------------------------------ */

/* Two owners claiming one exclusive lock: the second is refused, nothing
 * of it is created, the first's entry is intact. Overlap by ancestors and
 * descendants counts; shared with shared does not conflict. */
static void reclaim_conflicts(void **state)
{
    (void)state;
    fixture *b = fx_engine(FIRST, 3, 1000);
    nsl_owner_id o1 = fx_owner(b, "USER"), o2 = fx_owner(b, "USER");
    reclaim_ok(b, o1, "USER", "^k", "1,0,0,0", NULL, 5);
    nsl_error err;
    assert_int_equal(reclaim(b, o2, "USER", "^k", "1,0,0,0", NULL, 6, &err), NSL_CONFLICT);
    assert_non_null(strstr(err.message, "owner 1"));
    assert_non_null(strstr(err.message, "USERDB"));
    assert_int_equal(reclaim(b, o2, "USER", "^k(1,2)", "0,0,1,0", NULL, 6, &err), NSL_CONFLICT);
    reclaim_ok(b, o1, "USER", "^s(1)", "0,0,1,0", NULL, 7);
    reclaim_ok(b, o2, "USER", "^s(1)", "0,0,2,0", NULL, 8);
    assert_int_equal(reclaim(b, o2, "USER", "^s", "1,0,0,0", NULL, 9, &err), NSL_CONFLICT);
    assert_non_null(strstr(err.message, "owner 1"));
    reclaim_ok(b, o2, "USER", "^s", "0,0,1,0", NULL, 9);
    assert_rows(b,
                "USERDB 1 Exclusive ^k USER 5\n"
                "USERDB 2 Shared ^s USER 9\n"
                "USERDB 1 Shared ^s(1) USER 7\n"
                "USERDB 2 Shared/2 ^s(1) USER 8\n");
    assert_int_equal(nsl_engine_owner_entries(b->engine, o2), 2);
    fx_free(b);
}

/* All or nothing across databases: ^MyGlobal(15) in BETA needs ALPHADB and
 * BETADB; ALPHADB's is taken, so neither is created. */
static void reclaim_all_or_nothing(void **state)
{
    (void)state;
    fixture *b = fx_engine(FIRST, 3, 1000);
    nsl_owner_id alpha = fx_owner(b, "ALPHA"), beta = fx_owner(b, "BETA");
    reclaim_ok(b, alpha, "ALPHA", "^MyGlobal(15,3)", "1,0,0,0", NULL, 40);
    nsl_error err;
    assert_int_equal(reclaim(b, beta, "BETA", "^MyGlobal(15)", "0,0,1,0", NULL, 41, &err),
                     NSL_CONFLICT);
    assert_non_null(strstr(err.message, "ALPHADB"));
    assert_non_null(strstr(err.message, "owner 1"));
    assert_rows(b, "ALPHADB 1 Exclusive ^MyGlobal(15,3) ALPHA 40\n");
    assert_int_equal(nsl_engine_owner_entries(b->engine, beta), 0);
    /* ^MyGlobal(16) in BETA is BETADB alone: no conflict */
    reclaim_ok(b, beta, "BETA", "^MyGlobal(16)", "1,0,0,0", NULL, 41);
    assert_rows(b,
                "ALPHADB 1 Exclusive ^MyGlobal(15,3) ALPHA 40\n"
                "BETADB 2 Exclusive ^MyGlobal(16) BETA 41\n");
    fx_free(b);
}

static void reclaim_errors(void **state)
{
    (void)state;
    fixture *b = fx_engine(FIRST, 3, 1000);
    nsl_owner_id o = fx_owner(b, "USER"), other = fx_owner(b, "USER");
    nsl_error err;
    assert_int_equal(reclaim(b, 99, "USER", "^a", "1,0,0,0", NULL, 1, NULL), NSL_NOTFOUND);
    assert_int_equal(reclaim(b, o, "USER", "^a", "0,0,0,0", NULL, 1, NULL), NSL_COMMAND);
    assert_int_equal(reclaim(b, o, "USER", "^a", "32767,0,0,0", NULL, 1, NULL), NSL_LIMIT);
    assert_int_equal(reclaim(b, o, "USER", "^a", "1,0,0,0", "2,0,0,0", 1, NULL), NSL_LIMIT);
    assert_int_equal(reclaim(b, o, "USER", "^a", "0,1,0,0", NULL, 1, NULL), NSL_COMMAND);
    assert_int_equal(reclaim(b, o, "USER", "^a", "1,0,0,0", NULL, 0, NULL), NSL_COMMAND);
    assert_int_equal(reclaim(b, o, "USER", "^a", "1,0,0,0", NULL, FIRST + 1, &err), NSL_COMMAND);
    assert_non_null(strstr(err.message, "1001"));
    assert_int_equal(reclaim(b, o, "USER", "^[\"NOPE\"]a", "1,0,0,0", NULL, 1, NULL),
                     NSL_NAMESPACE);
    /* counts add up to the limit, not beyond */
    reclaim_ok(b, o, "USER", "^c", "32766,0,0,0", NULL, 2);
    assert_int_equal(reclaim(b, o, "USER", "^c", "1,0,0,0", NULL, 3, NULL), NSL_LIMIT);
    reclaim_ok(b, o, "USER", "^c", "0,0,32766,0", NULL, 3);
    /* not while a command waits */
    assert_int_equal(fx_run(b, other, "LOCK +^c"), -2);
    assert_int_equal(reclaim(b, other, "USER", "^z", "1,0,0,0", NULL, 4, NULL), NSL_COMMAND);
    assert_rows(b, "USERDB 1 Exclusive/32766,Shared/32766 ^c USER 2\n");
    fx_free(b);
}

/* Reclaimed entries existed before the restart: they do not count against
 * max_entries or max_owner_entries, but they are entries, so the table is
 * full for new requests until one goes. */
static void reclaim_beyond_limits(void **state)
{
    (void)state;
    nsl_engine_options opt;
    nsl_engine_options_default(&opt);
    opt.max_entries = 2;
    opt.max_owner_entries = 1;
    opt.first_token = FIRST;
    fixture *b = fx_new_with(&opt);
    nsl_owner_id o = fx_owner(b, "USER"), w = fx_owner(b, "USER");
    reclaim_ok(b, o, "USER", "^a", "1,0,0,0", NULL, 1);
    reclaim_ok(b, o, "USER", "^b", "1,0,0,0", NULL, 2);
    reclaim_ok(b, o, "USER", "^c", "1,0,0,0", NULL, 3);
    nsl_engine_stats st;
    nsl_engine_stats_get(b->engine, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(fx_run(b, w, "LOCK +^d"), -2);      /* LOCK TABLE FULL */
    assert_int_equal(fx_run(b, o, "LOCK -^a,-^b"), -1);
    const nsl_lock_result *r = fx_take(b, w);
    assert_non_null(r);
    assert_int_equal(r->test, 1);
    assert_int_equal(r->token, FIRST + 1);
    fx_check(b);
    fx_free(b);
}

/* ---- holding grants ------------------------------------------------------------------------ */

static void hold_grants_queue(void **state)
{
    (void)state;
    fixture *b = fx_engine(FIRST, 3, 1000);
    nsl_owner_id r = fx_owner(b, "USER"), o1 = fx_owner(b, "USER"), o2 = fx_owner(b, "USER");
    nsl_owner_id o3 = fx_owner(b, "USER"), o4 = fx_owner(b, "USER"), o5 = fx_owner(b, "USER");
    nsl_engine_hold_grants(b->engine, true, b->now);
    assert_true(nsl_engine_grants_held(b->engine));
    reclaim_ok(b, r, "USER", "^r", "1,0,0,0", NULL, 7);
    reclaim_ok(b, r, "USER", "^k", "1,0,0,0", NULL, 8);
    assert_int_equal(fx_run(b, o1, "LOCK +^a"), -2);            /* free, but held back */
    assert_int_equal(fx_run(b, o2, "LOCK +^b:0"), 0);           /* one attempt: $TEST 0 */
    assert_int_equal(fx_run(b, o3, "LOCK +^c:.5"), -2);
    assert_int_equal(fx_run(b, o4, "LOCK +^a"), -2);            /* behind o1 */
    assert_int_equal(fx_run(b, o5, "LOCK +^k"), -2);            /* the reclaimed entry's */
    assert_int_equal(fx_run(b, r, "LOCK +^z"), -2);             /* the reclaimer too */
    fx_check(b);
    fx_tick(b, 500);
    const nsl_lock_result *res = fx_take(b, o3);
    assert_non_null(res);
    assert_int_equal(res->code, NSL_OK);
    assert_int_equal(res->test, 0);
    assert_null(fx_take(b, o1));
    /* releases, transactions and owner ends go on */
    assert_int_equal(nsl_engine_tstart(b->engine, o2), NSL_OK);
    assert_int_equal(nsl_engine_tcommit(b->engine, o2, b->now), NSL_OK);
    nsl_owner_id gone = fx_owner(b, "USER");
    assert_int_equal(fx_run(b, gone, "LOCK +^g"), -2);
    nsl_engine_owner_end(b->engine, gone, b->now);
    assert_null(fx_take(b, gone));
    nsl_owner_id r2 = fx_owner(b, "USER");
    reclaim_ok(b, r2, "USER", "^q", "1,0,0,0", NULL, 9);
    assert_int_equal(fx_run(b, r2, "LOCK -^q"), -1);
    assert_string_equal(fx_table(b),
                        "USERDB 2 WaitExclusive ^a\n"
                        "USERDB 5 WaitExclusive ^a\n"
                        "USERDB 1 Exclusive ^k\n"
                        "USERDB 6 WaitExclusive ^k\n"
                        "USERDB 1 Exclusive ^r\n"
                        "USERDB 1 WaitExclusive ^z\n");
    /* the end of the hold serves the queue in arrival order */
    nsl_engine_hold_grants(b->engine, false, b->now);
    assert_false(nsl_engine_grants_held(b->engine));
    res = fx_take(b, o1);
    assert_non_null(res);
    assert_int_equal(res->test, 1);
    uint64_t t1 = res->token;
    res = fx_take(b, r);
    assert_non_null(res);
    assert_int_equal(res->test, 1);
    assert_true(t1 == FIRST + 1 && res->token == FIRST + 2);
    assert_null(fx_take(b, o4));               /* behind o1's grant */
    assert_null(fx_take(b, o5));               /* behind the reclaimed ^k */
    assert_int_equal(fx_run(b, r, "LOCK -^k"), -1);
    res = fx_take(b, o5);
    assert_non_null(res);
    assert_int_equal(res->test, 1);
    assert_int_equal(fx_run(b, o1, "LOCK -^a"), -1);
    assert_non_null(fx_take(b, o4));
    assert_string_equal(fx_table(b),
                        "USERDB 5 Exclusive ^a\n"
                        "USERDB 6 Exclusive ^k\n"
                        "USERDB 1 Exclusive ^r\n"
                        "USERDB 1 Exclusive ^z\n");
    fx_free(b);
}

/* SINCE of reclaimed entries: the time of the reclaim, also for tokens
 * older than any this engine has stamped, and for an escalated parent (its
 * oldest child's); grants keep their own times, however far apart. One base
 * serves the reclaims: one more than 49 days after the first shows the
 * latest time its offset can say. */
static void reclaim_since(void **state)
{
    (void)state;
    fixture *b = fx_engine(FIRST, 3, 1000);
    const uint64_t day = 24ull * 3600 * 1000;
    nsl_owner_id o = fx_owner(b, "USER"), g = fx_owner(b, "USER");
    b->now = 5000;
    assert_int_equal(fx_run(b, g, "LOCK +^g1"), 1);            /* an epoch from token 1001 */
    b->now = 6000;
    reclaim_ok(b, o, "USER", "^a", "1,0,0,0", NULL, 900);
    b->now = 6005;
    reclaim_ok(b, o, "USER", "^b", "1,0,0,0", NULL, 3);
    for (int i = 1; i <= 4; i++) {
        b->now += 10;
        char name[16];
        snprintf(name, sizeof name, "^p(%d)", i);
        reclaim_ok(b, o, "USER", name, "0,1,0,0", NULL, (uint64_t)(100 - i));
    }
    b->now = 6000 + 60 * day;                                  /* past one epoch's reach */
    assert_int_equal(fx_run(b, g, "LOCK +^g2"), 1);
    b->now += 5;
    reclaim_ok(b, o, "USER", "^c", "1,0,0,0", NULL, 4);
    nsl_view v;
    assert_int_equal(nsl_engine_view(b->engine, NULL, &v), NSL_OK);
    const struct { const char *name; uint64_t token, since; } want[] = {
        {"^a", 900, 6000},
        {"^b", 3, 6005},
        {"^c", 4, 6000 + (uint64_t)UINT32_MAX},
        {"^g1", FIRST + 1, 5000},
        {"^g2", FIRST + 2, 6000 + 60 * day},
        {"^p", 96, 6045},                        /* ^p(4): the oldest token */
    };
    assert_int_equal(v.count, 6);
    for (size_t i = 0; i < v.count; i++) {
        assert_string_equal(v.rows[i].name, want[i].name);
        assert_int_equal(v.rows[i].token, want[i].token);
        assert_int_equal(v.rows[i].since, want[i].since);
    }
    nsl_view_free(&v);
    fx_free(b);
}

/* ---- the property: random histories, reclaimed from the client's mirror ---------- */

/* What the client library mirrors of one name (in one namespace): counts
 * per type, deferred ones, and the token of the grant that created it.
 * One namespace throughout, so a name always lands in the same databases
 * and its entries there move together; no escalation (threshold high), but
 * E counts. */
typedef struct mirror {
    char name[32];
    int count[4], deferred[4];
    uint64_t token;
} mirror;

static const char *const NAMES[] = {"^MyGlobal(15)", "^MyGlobal(16)", "^MyGlobal", "^Config(1)",
                                    "^Orders(5)", "^Orders(\"B\")", "^a", "^a(1)", "^a(1,2)",
                                    "^a(2)", "x", "x(1)", "^Log(3)"};
#define NNAMES (sizeof NAMES / sizeof NAMES[0])

static uint64_t prop_rng;
static unsigned prop_rnd(unsigned n)
{
    uint64_t z = (prop_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (unsigned)((z ^ (z >> 31)) % n);
}

static int slot_of(const char *types)
{
    return (strchr(types, 'S') ? 2 : 0) + (strchr(types, 'E') ? 1 : 0);
}

static const char *random_types(const char *name, bool removing)
{
    static const char *const lock_types[] = {"", "", "#\"S\"", "#\"E\"", "#\"SE\""};
    static const char *const unlock_types[] = {"", "", "#\"S\"", "#\"E\"", "#\"SE\"", "#\"I\"",
                                               "#\"D\"", "#\"SI\"", "#\"ED\""};
    bool subscripted = strchr(name, '(') != NULL;
    for (;;) {
        const char *t = removing ? unlock_types[prop_rnd(9)] : lock_types[prop_rnd(5)];
        if (subscripted || !strchr(t, 'E'))
            return t;
    }
}

static void mirror_grant(mirror *m, int slot, uint64_t token)
{
    bool empty = !(m->count[0] | m->count[1] | m->count[2] | m->count[3]);
    if (m->deferred[slot])
        m->deferred[slot]--;
    else
        m->count[slot]++;
    if (empty)
        m->token = token;
}

static void mirror_release_all(mirror *ms, unsigned tlevel)
{
    for (size_t i = 0; i < NNAMES; i++)
        for (int t = 0; t < 4; t++) {
            if (tlevel)
                ms[i].deferred[t] = ms[i].count[t];
            else
                ms[i].count[t] = ms[i].deferred[t] = 0;
        }
}

static void property_history(uint64_t seed)
{
    prop_rng = seed;
    nsl_engine_options opt;
    nsl_engine_options_default(&opt);
    opt.escalation_threshold = 1000;
    fixture *a = fx_new_with(&opt);
    nsl_owner_id o = fx_owner(a, "BETA");
    mirror ms[NNAMES];
    memset(ms, 0, sizeof ms);
    for (size_t i = 0; i < NNAMES; i++)
        snprintf(ms[i].name, sizeof ms[i].name, "%s", NAMES[i]);
    unsigned tlevel = 0;
    unsigned steps = 10 + prop_rnd(60);
    for (unsigned s = 0; s < steps; s++) {
        unsigned r = prop_rnd(100);
        char text[256];
        if (r < 8) {
            assert_int_equal(nsl_engine_tstart(a->engine, o), NSL_OK);
            tlevel++;
        } else if (r < 14 && tlevel) {
            bool commit = prop_rnd(2), all = prop_rnd(2);
            unsigned end = commit || !all ? tlevel - 1 : 0;
            if (commit)
                assert_int_equal(nsl_engine_tcommit(a->engine, o, a->now), NSL_OK);
            else
                assert_int_equal(nsl_engine_trollback(a->engine, o, all ? 0 : 1, a->now), NSL_OK);
            tlevel = end;
            for (size_t i = 0; !tlevel && i < NNAMES; i++)
                for (int t = 0; t < 4; t++) {
                    ms[i].count[t] -= ms[i].deferred[t];
                    ms[i].deferred[t] = 0;
                }
        } else if (r < 18) {
            assert_int_equal(fx_run(a, o, "LOCK"), -1);
            mirror_release_all(ms, tlevel);
        } else if (r < 60) {                             /* LOCK +(...) */
            unsigned n = 1 + prop_rnd(3), idx[3];
            const char *types[3];
            size_t len = (size_t)snprintf(text, sizeof text, "LOCK +(");
            for (unsigned i = 0; i < n; i++) {
                idx[i] = prop_rnd(NNAMES);
                types[i] = random_types(NAMES[idx[i]], false);
                len += (size_t)snprintf(text + len, sizeof text - len, "%s%s%s", i ? "," : "",
                                        NAMES[idx[i]], types[i]);
            }
            snprintf(text + len, sizeof text - len, ")");
            uint64_t token = lock_token(a, o, text);
            for (unsigned i = 0; i < n; i++)
                mirror_grant(&ms[idx[i]], slot_of(types[i]), token);
        } else if (r < 70) {                             /* LOCK (...): sets */
            unsigned n = 1 + prop_rnd(3), idx[3];
            const char *types[3];
            size_t len = (size_t)snprintf(text, sizeof text, "LOCK (");
            for (unsigned i = 0; i < n; i++) {
                idx[i] = prop_rnd(NNAMES);
                types[i] = random_types(NAMES[idx[i]], false);
                len += (size_t)snprintf(text + len, sizeof text - len, "%s%s%s", i ? "," : "",
                                        NAMES[idx[i]], types[i]);
            }
            snprintf(text + len, sizeof text - len, ")");
            uint64_t token = lock_token(a, o, text);
            mirror_release_all(ms, tlevel);
            for (unsigned i = 0; i < n; i++) {
                bool dup = false;
                for (unsigned j = 0; j < i; j++)
                    dup |= idx[j] == idx[i] && slot_of(types[j]) == slot_of(types[i]);
                if (!dup)
                    mirror_grant(&ms[idx[i]], slot_of(types[i]), token);
            }
        } else {                                         /* LOCK -name */
            unsigned i = prop_rnd(NNAMES);
            const char *types = random_types(NAMES[i], true);
            snprintf(text, sizeof text, "LOCK -%s%s", NAMES[i], types);
            assert_int_equal(fx_run(a, o, text), -1);
            mirror *m = &ms[i];
            int t = slot_of(types);
            int live = m->count[t] - m->deferred[t];
            if (live > 0) {
                if (tlevel && !strchr(types, 'I') && (strchr(types, 'D') || live == 1))
                    m->deferred[t]++;
                else
                    m->count[t]--;
            }
        }
        fx_check(a);
        a->now += 1 + prop_rnd(100);
    }

    nsl_engine_stats st;
    nsl_engine_stats_get(a->engine, &st);
    fixture *b = fx_engine(st.last_token, 1000, 1000);
    b->now = 424242;
    assert_int_equal(nsl_engine_owner_adopt(b->engine, o, ns_id(b, "BETA")), NSL_OK);
    for (unsigned i = 0; i < tlevel; i++)
        assert_int_equal(nsl_engine_tstart(b->engine, o), NSL_OK);
    /* in an order of its own: without escalation any order gives the same */
    for (size_t k = 0; k < NNAMES; k++) {
        const mirror *m = &ms[(k * 7 + seed) % NNAMES];
        if (!(m->count[0] | m->count[1] | m->count[2] | m->count[3]))
            continue;
        char counts[64], deferred[64];
        snprintf(counts, sizeof counts, "%d,%d,%d,%d", m->count[0], m->count[1], m->count[2],
                 m->count[3]);
        snprintf(deferred, sizeof deferred, "%d,%d,%d,%d", m->deferred[0], m->deferred[1],
                 m->deferred[2], m->deferred[3]);
        reclaim_ok(b, o, "BETA", m->name, counts, deferred, m->token);
    }
    assert_same_rows(a, b);
    nsl_view v;
    assert_int_equal(nsl_engine_view(b->engine, NULL, &v), NSL_OK);
    for (size_t i = 0; i < v.count; i++)
        assert_int_equal(v.rows[i].since, 424242);
    nsl_view_free(&v);
    /* and they go on alike: the transaction ends, new grants get the
     * tokens the old server would have given */
    for (fixture *f = a; f; f = f == a ? b : NULL) {
        if (tlevel)
            assert_int_equal(nsl_engine_trollback(f->engine, o, 0, f->now), NSL_OK);
        lock_token(f, o, "LOCK +^new(1)");
        assert_int_equal(fx_run(f, o, "LOCK -^a(1)"), -1);
    }
    assert_same_rows(a, b);
    fx_free(a);
    fx_free(b);
}

static void reclaim_property(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 300; seed++)
        property_history(seed * 1000003u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(owner_adopt_ids),
        cmocka_unit_test(reclaim_counts_and_types),
        cmocka_unit_test(reclaim_several_databases),
        cmocka_unit_test(reclaim_delock_state),
        cmocka_unit_test(reclaim_escalated_parent),
        cmocka_unit_test(reclaim_escalated_delocked),
        cmocka_unit_test(reclaim_escalation_needs_parent),
        cmocka_unit_test(reclaim_conflicts),
        cmocka_unit_test(reclaim_all_or_nothing),
        cmocka_unit_test(reclaim_errors),
        cmocka_unit_test(reclaim_beyond_limits),
        cmocka_unit_test(hold_grants_queue),
        cmocka_unit_test(reclaim_since),
        cmocka_unit_test(reclaim_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
