/* The lock rules of docs/LANGUAGE.md, one test per rule, driven deterministically. */
#include "engine_fixture.h"

/* 6.1 Modes: exclusive conflicts with everything, shared with exclusive. */
static void modes(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^x#\"S\""), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^x#\"S\":0"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^x:0"), 0);
    assert_int_equal(fx_run(f, a, "LOCK +^y"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^y#\"S\":0"), 0);
    assert_int_equal(fx_run(f, b, "LOCK +^y:0"), 0);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Shared ^x\n"
                        "USERDB 2 Shared ^x\n"
                        "USERDB 1 Exclusive ^y\n");
    fx_free(f);
}

/* 6.2 Arrays: a node overlaps its ancestors and descendants, not siblings. */
static void arrays(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^a(1)"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^a:0"), 0);
    assert_int_equal(fx_run(f, b, "LOCK +^a(1,2):0"), 0);
    assert_int_equal(fx_run(f, b, "LOCK +^a(1):0"), 0);
    assert_int_equal(fx_run(f, b, "LOCK +^a(2):0"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^a(10):0"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^b:0"), 1);
    /* a shared ancestor does not block shared descendants */
    assert_int_equal(fx_run(f, a, "LOCK +^s#\"S\""), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^s(1,2)#\"S\":0"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^s(1,2):0"), 0);
    fx_free(f);
}

/* 6.3 An owner never conflicts with itself. */
static void same_owner(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^a:0"), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^a(1):0"), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^a(1)#\"S\":0"), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^a:0"), 1);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive/2 ^a\n"
                        "USERDB 1 Exclusive,Shared ^a(1)\n");
    fx_free(f);
}

/* 6.4 Counts per type; removing what is not held does nothing; LIMIT. */
static void counting(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^a"), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^a"), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^a#\"S\""), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^a(1)#\"E\""), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^a(1)"), 1);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive/2,Shared ^a\n"
                        "USERDB 1 Exclusive/1+1e ^a(1)\n");
    assert_int_equal(fx_run(f, a, "LOCK -^a#\"S\""), -1);
    assert_int_equal(fx_run(f, a, "LOCK -^a#\"S\""), -1);   /* not held: nothing */
    assert_int_equal(fx_run(f, a, "LOCK -^a(1)"), -1);
    assert_int_equal(fx_run(f, a, "LOCK -^nothing(5)"), -1);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive/2 ^a\n"
                        "USERDB 1 Exclusive_e ^a(1)\n");
    assert_int_equal(fx_run(f, a, "LOCK -^a,-^a,-^a(1)#\"E\""), -1);
    assert_string_equal(fx_table(f), "");

    for (int i = 0; i < NSL_MAX_LOCK_COUNT; i++)
        assert_int_equal(fx_run(f, a, "LOCK +^c"), 1);
    nsl_code code;
    assert_int_equal(fx_run_code(f, a, "LOCK +^c", &code, NULL), -3);
    assert_int_equal(code, NSL_LIMIT);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive/32766 ^c\n");
    fx_free(f);
}

/* 6.5 Timeouts: one attempt at 0, negative or below 0.01; else a wait that
 * ends with $TEST 0 at the deadline; no timeout waits until granted. */
static void timeouts(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^a"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^a:0"), 0);
    assert_int_equal(fx_run(f, b, "LOCK +^a:-5"), 0);
    assert_int_equal(fx_run(f, b, "LOCK +^a:.009"), 0);
    assert_int_equal(fx_run(f, b, "LOCK +^a:.5"), -2);
    fx_tick(f, 499);
    assert_null(fx_take(f, b));
    fx_tick(f, 1);
    const nsl_lock_result *r = fx_take(f, b);
    assert_non_null(r);
    assert_int_equal(r->code, NSL_OK);
    assert_int_equal(r->test, 0);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive ^a\n");

    assert_int_equal(fx_run(f, b, "LOCK +^a"), -2);     /* forever */
    fx_tick(f, 3600 * 1000);
    assert_null(fx_take(f, b));
    assert_int_equal(fx_run(f, a, "LOCK -^a"), -1);
    r = fx_take(f, b);
    assert_non_null(r);
    assert_int_equal(r->test, 1);
    assert_string_equal(fx_table(f), "USERDB 2 Exclusive ^a\n");
    fx_free(f);
}

/* 6.6 FIFO: a shared holder, an exclusive waiter, and a later shared request
 * on a child waits behind the exclusive one. */
static void fifo(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER"), c = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^a#\"S\""), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^a"), -2);
    assert_int_equal(fx_run(f, c, "LOCK +^a(1)#\"S\""), -2);
    /* not overlapping anything ahead: granted at once */
    nsl_owner_id d = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, d, "LOCK +^b(1)#\"S\""), 1);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Shared ^a\n"
                        "USERDB 2 WaitExclusive ^a\n"
                        "USERDB 3 WaitShared ^a(1)\n"
                        "USERDB 4 Shared ^b(1)\n");
    assert_int_equal(fx_run(f, a, "LOCK -^a#\"S\""), -1);
    assert_non_null(fx_take(f, b));
    assert_null(fx_take(f, c));
    assert_int_equal(fx_run(f, b, "LOCK -^a"), -1);
    const nsl_lock_result *r = fx_take(f, c);
    assert_non_null(r);
    assert_int_equal(r->test, 1);
    fx_free(f);
}

/* Several names are all or nothing, and nothing is held while waiting. */
static void all_or_nothing(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^b"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +(^a,^b):0"), 0);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive ^b\n");
    assert_int_equal(fx_run(f, b, "LOCK +(^a,^b)"), -2);
    assert_string_equal(fx_table(f),
                        "USERDB 2 WaitExclusive ^a\n"
                        "USERDB 1 Exclusive ^b\n"
                        "USERDB 2 WaitExclusive ^b\n");
    assert_int_equal(fx_run(f, a, "LOCK -^b"), -1);
    assert_non_null(fx_take(f, b));
    assert_string_equal(fx_table(f),
                        "USERDB 2 Exclusive ^a\n"
                        "USERDB 2 Exclusive ^b\n");
    fx_free(f);
}

/* Simple LOCK releases everything first; bare LOCK releases everything. */
static void simple_and_bare(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^a,+^b(1),+x"), 1);
    assert_int_equal(fx_run(f, a, "LOCK (^c,^d):5"), 1);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive ^c\n"
                        "USERDB 1 Exclusive ^d\n");
    assert_int_equal(fx_run(f, a, "LOCK"), -1);
    assert_string_equal(fx_table(f), "");
    fx_free(f);
}

/* 6.4: a simple LOCK sets rather than counts: a name it lists twice (in
 * any spelling) is held once, so one unlock removes it; the incremental
 * form counts each. Per database and type: two names landing on one
 * database entry count once there; a shared and an exclusive lock of one
 * name are two. */
static void simple_lock_sets(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "BETA");
    assert_int_equal(fx_run(f, a, "LOCK (^a(1),^a(\"1\"))"), 1);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive ^a(1)\n");
    assert_int_equal(fx_run(f, a, "LOCK -^a(1)"), -1);
    assert_string_equal(fx_table(f), "");
    assert_int_equal(fx_run(f, a, "LOCK (^a,^a)"), 1);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive ^a\n");
    assert_int_equal(fx_run(f, a, "LOCK -^a"), -1);
    assert_string_equal(fx_table(f), "");
    assert_int_equal(fx_run(f, a, "LOCK +(^a,^a)"), 1);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive/2 ^a\n");
    assert_int_equal(fx_run(f, a, "LOCK (^a,^a#\"S\",^a(1)#\"E\",^a(1),^a(1)#\"E\")"), 1);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive,Shared ^a\n"
                        "USERDB 1 Exclusive/1+1e ^a(1)\n");
    /* ^MyGlobal(15) lands in ALPHADB and BETADB; ^["ALPHA"]MyGlobal(15)
     * in ALPHADB only: the ALPHADB entry is reached twice */
    assert_int_equal(
        fx_run(f, b, "LOCK (^MyGlobal(15),^[\"ALPHA\"]MyGlobal(15),^MyGlobal(15))"), 1);
    assert_string_equal(fx_table(f),
                        "ALPHADB 2 Exclusive ^MyGlobal(15)\n"
                        "BETADB 2 Exclusive ^MyGlobal(15)\n"
                        "USERDB 1 Exclusive,Shared ^a\n"
                        "USERDB 1 Exclusive/1+1e ^a(1)\n");
    assert_int_equal(fx_run(f, b, "LOCK -^MyGlobal(15)"), -1);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive,Shared ^a\n"
                        "USERDB 1 Exclusive/1+1e ^a(1)\n");
    /* more names than the small-list path takes */
    assert_int_equal(fx_run(f, a, "LOCK (^b(1),^b(2),^b(3),^b(4),^b(5),^b(6),^b(7),^b(8),^b(9),"
                                  "^b(10),^b(11),^b(12),^b(13),^b(14),^b(15),^b(16),^b(17),"
                                  "^b(3),^b(\"17\"),^b(1),^b(18))"), 1);
    nsl_view v;
    assert_int_equal(nsl_engine_view(f->engine, NULL, &v), NSL_OK);
    assert_int_equal(v.count, 18);
    for (size_t i = 0; i < v.count; i++)
        assert_string_equal(v.rows[i].mode, "Exclusive");
    nsl_view_free(&v);
    fx_free(f);
}

/* In a transaction the simple form delocks everything, then takes each
 * name out of the delock state once. */
static void simple_lock_sets_in_transaction(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER");
    assert_int_equal(nsl_engine_tstart(f->engine, a), NSL_OK);
    assert_int_equal(fx_run(f, a, "LOCK +^a,+^b"), 1);
    assert_int_equal(fx_run(f, a, "LOCK (^a,^a)"), 1);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive ^a\n"
                        "USERDB 1 Exclusive->Delock ^b\n");
    assert_int_equal(nsl_engine_tcommit(f->engine, a, f->now), NSL_OK);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive ^a\n");
    assert_int_equal(fx_run(f, a, "LOCK -^a"), -1);
    assert_string_equal(fx_table(f), "");
    fx_free(f);
}

/* A name that does not resolve fails its argument before it acts: the
 * simple form releases nothing, a removal of several names removes none. */
static void bad_name_does_nothing(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER");
    nsl_code code;
    assert_int_equal(fx_run(f, a, "LOCK +^a,+^b"), 1);
    assert_int_equal(fx_run_code(f, a, "LOCK ^[\"NOPE\"]x", &code, NULL), -3);
    assert_int_equal(code, NSL_NAMESPACE);
    assert_int_equal(fx_run_code(f, a, "LOCK -(^a,^[\"NOPE\"]x)", &code, NULL), -3);
    assert_int_equal(code, NSL_NAMESPACE);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive ^a\n"
                        "USERDB 1 Exclusive ^b\n");
    /* the arguments before the bad one keep their effect */
    assert_int_equal(fx_run_code(f, a, "LOCK -^a,+^[\"NOPE\"]x", &code, NULL), -3);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive ^b\n");
    fx_free(f);
}

/* Arguments run left to right; a queued one holds back the rest; the
 * answer is the $TEST of the last argument that takes locks. */
static void arguments_in_order(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^a"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^b,+^a:1,-^b"), -2);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive ^a\n"
                        "USERDB 2 WaitExclusive ^a\n"
                        "USERDB 2 Exclusive ^b\n");
    fx_tick(f, 1000);
    const nsl_lock_result *r = fx_take(f, b);
    assert_non_null(r);
    assert_int_equal(r->test, 0);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive ^a\n");
    assert_int_equal(fx_run(f, b, "LOCK +^c:0,-^c"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^c,+^a:0"), 0);
    fx_free(f);
}

/* 6.7 Escalation at threshold + 1 (3 here), counting down to zero, and the
 * fingerprint set: unlocking a never-locked child does not count down. */
static void escalation(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^p(1)#\"E\",+^p(2)#\"E\",+^p(3)#\"E\""), 1);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive_e ^p(1)\n"
                        "USERDB 1 Exclusive_e ^p(2)\n"
                        "USERDB 1 Exclusive_e ^p(3)\n");
    assert_int_equal(fx_run(f, a, "LOCK +^p(4)#\"E\""), 1);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive_e/4 ^p\n");
    assert_int_equal(fx_run(f, b, "LOCK +^p(99):0"), 0);    /* the subtree is locked */
    assert_int_equal(fx_run(f, a, "LOCK +^p(5)#\"E\""), 1);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive_e/5 ^p\n");
    assert_int_equal(fx_run(f, a, "LOCK -^p(77)#\"E\""), -1);     /* never locked */
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive_e/5 ^p\n");
    assert_int_equal(fx_run(f, a, "LOCK -^p(1)#\"E\",-^p(2)#\"E\",-^p(3)#\"E\",-^p(4)#\"E\""), -1);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive_e ^p\n");
    assert_int_equal(fx_run(f, a, "LOCK -^p(4)#\"E\""), -1);      /* already removed */
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive_e ^p\n");
    assert_int_equal(fx_run(f, a, "LOCK -^p(5)#\"E\""), -1);
    assert_string_equal(fx_table(f), "");
    assert_int_equal(fx_run(f, b, "LOCK +^p(99):0"), 1);
    fx_free(f);
}

/* Escalation only when the parent can be granted at once; else the
 * children stay, and the next E lock tries again. */
static void escalation_needs_parent(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, b, "LOCK +^p(9)#\"S\""), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^p(1)#\"E\",+^p(2)#\"E\",+^p(3)#\"E\",+^p(4)#\"E\""), 1);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive_e ^p(1)\n"
                        "USERDB 1 Exclusive_e ^p(2)\n"
                        "USERDB 1 Exclusive_e ^p(3)\n"
                        "USERDB 1 Exclusive_e ^p(4)\n"
                        "USERDB 2 Shared ^p(9)\n");
    assert_int_equal(fx_run(f, b, "LOCK -^p(9)#\"S\""), -1);
    assert_int_equal(fx_run(f, a, "LOCK +^p(5)#\"E\""), 1);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive_e/5 ^p\n");
    /* shared escalation is separate from exclusive */
    assert_int_equal(fx_run(f, a, "LOCK +^q(1)#\"SE\",+^q(2)#\"SE\",+^q(3)#\"SE\",+^q(4)#\"ES\""), 1);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive_e/5 ^p\n"
                        "USERDB 1 Shared_e/4 ^q\n");
    fx_free(f);
}

/* 6.8 Transactions: the final unlock delocks; I releases now; D defers a
 * decrement above 1; bare LOCK delocks all; re-locking leaves delock. */
static void transactions(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(nsl_engine_tstart(f->engine, a), NSL_OK);
    assert_int_equal(fx_run(f, a, "LOCK +^a,+^a"), 1);
    assert_int_equal(fx_run(f, a, "LOCK -^a"), -1);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive ^a\n");
    assert_int_equal(fx_run(f, a, "LOCK -^a"), -1);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive->Delock ^a\n");
    assert_int_equal(fx_run(f, b, "LOCK +^a:0"), 0);

    assert_int_equal(fx_run(f, a, "LOCK +^i"), 1);
    assert_int_equal(fx_run(f, a, "LOCK -^i#\"I\""), -1);
    assert_int_equal(fx_run(f, a, "LOCK +^d,+^d"), 1);
    assert_int_equal(fx_run(f, a, "LOCK -^d#\"D\""), -1);
    assert_string_equal(fx_table(f),
                        "USERDB 1 Exclusive->Delock ^a\n"
                        "USERDB 1 Exclusive/2->Delock ^d\n");

    /* nested: only the outermost end releases */
    assert_int_equal(nsl_engine_tstart(f->engine, a), NSL_OK);
    assert_int_equal(nsl_engine_tcommit(f->engine, a, f->now), NSL_OK);
    assert_int_equal(fx_run(f, b, "LOCK +^a:0"), 0);
    assert_int_equal(nsl_engine_tcommit(f->engine, a, f->now), NSL_OK);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive ^d\n");
    assert_int_equal(fx_run(f, b, "LOCK +^a:0"), 1);
    assert_int_equal(nsl_engine_tcommit(f->engine, a, f->now), NSL_COMMAND);

    /* bare LOCK delocks everything; locking again leaves the delock state */
    assert_int_equal(nsl_engine_tstart(f->engine, a), NSL_OK);
    assert_int_equal(fx_run(f, a, "LOCK +^e"), 1);
    assert_int_equal(fx_run(f, a, "LOCK"), -1);
    assert_string_equal(fx_table(f),
                        "USERDB 2 Exclusive ^a\n"
                        "USERDB 1 Exclusive->Delock ^d\n"
                        "USERDB 1 Exclusive->Delock ^e\n");
    assert_int_equal(fx_run(f, a, "LOCK +^e"), 1);
    assert_string_equal(fx_table(f),
                        "USERDB 2 Exclusive ^a\n"
                        "USERDB 1 Exclusive->Delock ^d\n"
                        "USERDB 1 Exclusive ^e\n");
    /* TROLLBACK 1 of two levels keeps the delocks; the last level frees them */
    assert_int_equal(nsl_engine_tstart(f->engine, a), NSL_OK);
    assert_int_equal(nsl_engine_trollback(f->engine, a, 1, f->now), NSL_OK);
    assert_int_equal(nsl_engine_tlevel(f->engine, a), 1);
    assert_int_equal(nsl_engine_trollback(f->engine, a, 0, f->now), NSL_OK);
    assert_string_equal(fx_table(f),
                        "USERDB 2 Exclusive ^a\n"
                        "USERDB 1 Exclusive ^e\n");
    fx_free(f);
}

/* A waiter behind a delocked lock is served when the transaction ends. */
static void transaction_end_serves_waiters(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(nsl_engine_tstart(f->engine, a), NSL_OK);
    assert_int_equal(fx_run(f, a, "LOCK +^a"), 1);
    assert_int_equal(fx_run(f, a, "LOCK -^a"), -1);
    assert_int_equal(fx_run(f, b, "LOCK +^a"), -2);
    assert_null(fx_take(f, b));
    assert_int_equal(nsl_engine_tcommit(f->engine, a, f->now), NSL_OK);
    const nsl_lock_result *r = fx_take(f, b);
    assert_non_null(r);
    assert_int_equal(r->test, 1);
    fx_free(f);
}

/* 6.9 Owner end removes entries and waits, and serves those behind. */
static void owner_end(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "BETA"), b = fx_owner(f, "ALPHA"), c = fx_owner(f, "BETA");
    assert_int_equal(fx_run(f, a, "LOCK +^MyGlobal(15),+^z"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^MyGlobal(15)"), -2);
    assert_int_equal(fx_run(f, c, "LOCK +^q"), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^q"), -2);
    nsl_engine_owner_end(f->engine, a, f->now);
    assert_false(nsl_engine_owner_exists(f->engine, a));
    assert_null(fx_take(f, a));
    assert_non_null(fx_take(f, b));
    assert_string_equal(fx_table(f),
                        "ALPHADB 2 Exclusive ^MyGlobal(15)\n"
                        "BETADB 3 Exclusive ^q\n");
    fx_free(f);
}

/* 6.10 Deadlock: after deadlock_check_ms the newest request in the cycle
 * fails with DEADLOCK naming the cycle; the others go on. */
static void deadlock(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^a"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^b"), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^b"), -2);
    fx_tick(f, 10);
    assert_int_equal(fx_run(f, b, "LOCK +^a"), -2);
    fx_tick(f, 990);             /* a's wait is 1000 ms old: the cycle is found */
    const nsl_lock_result *r = fx_take(f, b);
    assert_non_null(r);
    assert_int_equal(r->code, NSL_DEADLOCK);
    assert_non_null(strstr(r->message, "owner 1"));
    assert_non_null(strstr(r->message, "owner 2"));
    assert_null(fx_take(f, a));
    assert_int_equal(fx_run(f, b, "LOCK -^b"), -1);
    r = fx_take(f, a);
    assert_non_null(r);
    assert_int_equal(r->test, 1);
    nsl_engine_stats st;
    nsl_engine_stats_get(f->engine, &st);
    assert_int_equal(st.deadlocks, 1);
    fx_free(f);
}

/* 6.11 A full table makes requests wait (timeouts still apply); the log
 * line comes once per episode. */
static void table_full(void **state)
{
    (void)state;
    nsl_engine_options opt;
    nsl_engine_options_default(&opt);
    opt.max_entries = 2;
    fixture *f = fx_new_with(&opt);
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^a,+^b"), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^a"), 1);          /* no new entry */
    assert_int_equal(fx_run(f, b, "LOCK +^c:0"), 0);
    assert_int_equal(fx_run(f, b, "LOCK +^c"), -2);
    assert_int_equal(f->notice_count, 1);
    assert_int_equal(f->notice_kinds[0], NSL_NOTICE_TABLE_FULL);
    assert_non_null(strstr(f->notices[0], "LOCK TABLE FULL"));
    /* the view says why it waits: nobody is in its way, the table is full */
    nsl_view_filter vf;
    nsl_view_filter_init(&vf);
    nsl_view view;
    assert_int_equal(nsl_engine_view(f->engine, &vf, &view), NSL_OK);
    int waiting = 0;
    for (size_t i = 0; i < view.count; i++) {
        if (!view.rows[i].waiting)
            continue;
        waiting++;
        assert_int_equal(view.rows[i].blocker_count, 0);
        assert_int_equal(view.rows[i].wait_reason, NSL_WAIT_ROOM);
    }
    assert_int_equal(waiting, 1);
    nsl_view_free(&view);
    assert_int_equal(fx_run(f, a, "LOCK -^b"), -1);
    assert_non_null(fx_take(f, b));
    nsl_engine_stats st;
    nsl_engine_stats_get(f->engine, &st);
    assert_int_equal(st.table_full_episodes, 1);
    assert_int_equal(st.entries, 2);
    fx_free(f);
}

/* An episode that ends by timeout: the next one is logged and counted too. */
static void table_full_episodes_after_timeouts(void **state)
{
    (void)state;
    nsl_engine_options opt;
    nsl_engine_options_default(&opt);
    opt.max_entries = 2;
    fixture *f = fx_new_with(&opt);
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    for (int episode = 1; episode <= 3; episode++) {
        assert_int_equal(fx_run(f, a, "LOCK +(^a,^b)"), 1);
        assert_int_equal(fx_run(f, b, "LOCK +^c:0.05"), -2);    /* waits for room */
        fx_tick(f, 100);
        const nsl_lock_result *r = fx_take(f, b);
        assert_non_null(r);
        assert_int_equal(r->test, 0);                              /* timed out */
        assert_int_equal(fx_run(f, a, "LOCK"), -1);                /* room again */
        nsl_engine_stats st;
        nsl_engine_stats_get(f->engine, &st);
        assert_int_equal(st.table_full_episodes, episode);
        fx_check(f);
    }
    int full = 0, room = 0;
    for (size_t i = 0; i < f->notice_count; i++) {
        full += f->notice_kinds[i] == NSL_NOTICE_TABLE_FULL;
        room += f->notice_kinds[i] == NSL_NOTICE_TABLE_ROOM;
    }
    assert_int_equal(full, 3);
    assert_int_equal(room, 3);
    fx_free(f);
}

/* 6.12 Every grant has a strictly larger token; entries show theirs. */
static void fencing_tokens(void **state)
{
    (void)state;
    nsl_engine_options opt;
    nsl_engine_options_default(&opt);
    opt.first_token = 5000;
    fixture *f = fx_new_with(&opt);
    nsl_owner_id a = fx_owner(f, "USER");
    nsl_lock_result r1, r2, r3;
    assert_int_equal(fx_run_code(f, a, "LOCK +^a", NULL, &r1), 1);
    assert_int_equal(fx_run_code(f, a, "LOCK +^b", NULL, &r2), 1);
    assert_int_equal(fx_run_code(f, a, "LOCK +^a", NULL, &r3), 1);
    assert_int_equal(r1.token, 5001);
    assert_true(r2.token > r1.token && r3.token > r2.token);
    nsl_view v;
    assert_int_equal(nsl_engine_view(f->engine, NULL, &v), NSL_OK);
    assert_int_equal(v.count, 2);
    assert_int_equal(v.rows[0].token, r1.token);
    assert_int_equal(v.rows[1].token, r2.token);
    nsl_view_free(&v);
    fx_free(f);
}

/* Every entry shows the time of its first grant, exactly, however
 * far apart the grants are (the engine keeps them as offsets from epochs
 * 2^32 ms long). */
static void since_is_the_first_grant(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    const uint64_t day = 24ull * 3600 * 1000;
    const uint64_t at[] = {7, 7 + 40 * day, 7 + 100 * day + 3, 7 + 1000 * day + 999};
    const char *names[] = {"^s(1)", "^s(2)", "^s(3)", "^s(4)"};
    for (size_t i = 0; i < 4; i++) {
        f->now = at[i];
        char text[32];
        snprintf(text, sizeof text, "LOCK +%s", names[i]);
        assert_int_equal(fx_run(f, i % 2 ? b : a, text), 1);
        assert_int_equal(fx_run(f, i % 2 ? b : a, "LOCK +^s(1)#\"S\":0"), i % 2 ? 0 : 1);
    }
    nsl_view v;
    assert_int_equal(nsl_engine_view(f->engine, NULL, &v), NSL_OK);
    size_t seen = 0;
    for (size_t r = 0; r < v.count; r++) {
        for (size_t i = 0; i < 4; i++) {
            if (!strcmp(v.rows[r].name, names[i])) {
                assert_int_equal(v.rows[r].since, at[i]);
                seen++;
            }
        }
    }
    assert_int_equal(seen, 4);
    nsl_view_free(&v);
    fx_free(f);
}

/* Filters, waiting rows and their blockers. */
static void view_filters_and_blockers(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "BETA"), b = fx_owner(f, "ALPHA"), c = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +^MyGlobal(15)#\"S\""), 1);
    assert_int_equal(fx_run(f, c, "LOCK +^MyGlobal(15)#\"S\""), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^MyGlobal"), -2);
    nsl_view_filter flt;
    nsl_view_filter_init(&flt);
    flt.database = nsl_registry_find_database(f->reg, "ALPHADB")->id;
    nsl_view v;
    assert_int_equal(nsl_engine_view(f->engine, &flt, &v), NSL_OK);
    assert_int_equal(v.count, 2);
    assert_string_equal(v.rows[0].name, "^MyGlobal");
    assert_true(v.rows[0].waiting);
    assert_string_equal(v.rows[0].mode, "WaitExclusive");
    assert_int_equal(v.rows[0].blocker_count, 1);
    assert_int_equal(v.rows[0].blockers[0], a);
    assert_string_equal(v.rows[1].name, "^MyGlobal(15)");
    assert_int_equal(v.rows[1].owner, a);
    nsl_view_free(&v);

    nsl_view_filter_init(&flt);
    flt.no_waiters = true;
    flt.name_prefix = "^MyGlobal(1";
    assert_int_equal(nsl_engine_view(f->engine, &flt, &v), NSL_OK);
    assert_int_equal(v.count, 3);      /* ALPHADB and BETADB for a, USERDB for c */
    nsl_view_free(&v);

    nsl_view_filter_init(&flt);
    flt.owner = c;
    assert_int_equal(nsl_engine_view(f->engine, &flt, &v), NSL_OK);
    assert_int_equal(v.count, 1);
    assert_string_equal(v.rows[0].mode, "Shared");
    nsl_view_free(&v);
    fx_free(f);
}

/* docs/PROTOCOL.md order: database by name (not by declaration order), then the
 * name in collation order, held rows before waiting ones, then owner. */
static void view_order(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id u = fx_owner(f, "USER"), a = fx_owner(f, "ALPHA"), g = fx_owner(f, "GAMMA1");
    assert_int_equal(fx_run(f, u, "LOCK +^x(\"b\"),+^x(2),+^x(10),+^x(\"\"),+^x"), 1);
    assert_int_equal(fx_run(f, g, "LOCK +^x#\"S\""), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^x(-1.5)"), 1);
    assert_string_equal(fx_table(f),
                        "ALPHADB 2 Exclusive ^x(-1.5)\n"
                        "GAMMADB 3 Shared ^x\n"
                        "USERDB 1 Exclusive ^x\n"
                        "USERDB 1 Exclusive ^x(\"\")\n"
                        "USERDB 1 Exclusive ^x(2)\n"
                        "USERDB 1 Exclusive ^x(10)\n"
                        "USERDB 1 Exclusive ^x(\"b\")\n");
    fx_free(f);
}

/* An operator's removal by name and by owner serves the waiters behind. */
static void admin_remove(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "BETA"), b = fx_owner(f, "BETA");
    assert_int_equal(fx_run(f, a, "LOCK +^MyGlobal(15),+^k"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^k"), -2);
    nsl_error err;
    nsl_lockname name;
    assert_int_equal(nsl_lockname_parse("^k", 2, NULL, &name, &err), NSL_OK);
    assert_int_equal(nsl_engine_remove(f->engine, 0, -1, &name.key, f->now), 1);
    assert_non_null(fx_take(f, b));
    assert_int_equal(nsl_engine_remove(f->engine, a, -1, NULL, f->now), 2);
    assert_string_equal(fx_table(f), "BETADB 2 Exclusive ^k\n");
    fx_free(f);
}

/* Regressions found by the differential test, each as a small case. */

/* Releasing the parts of a failed attempt must not free a node that a
 * later part of the same request still points to (ASan would report). */
static void regression_unpin_order(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, b, "LOCK +^a"), 1);
    assert_int_equal(fx_run(f, a, "LOCK +(^a(1,5),^a(1)):0"), 0);
    assert_int_equal(fx_run(f, a, "LOCK +(^a(1,5),^a(1)):1"), -2);
    fx_tick(f, 1000);
    assert_int_equal(fx_take(f, a)->test, 0);
    assert_string_equal(fx_table(f), "USERDB 2 Exclusive ^a\n");
    fx_free(f);
}

/* Requests whose deadlines fall together time out in arrival order, and
 * so queue again in that order. */
static void regression_equal_deadlines(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id o1 = fx_owner(f, "USER"), o2 = fx_owner(f, "USER");
    nsl_owner_id o3 = fx_owner(f, "USER"), o4 = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, o1, "LOCK +(^a,^b)"), 1);
    assert_int_equal(fx_run(f, o2, "LOCK +^a:1,+^b"), -2);
    assert_int_equal(fx_run(f, o3, "LOCK +^a:1,+^b"), -2);
    assert_int_equal(fx_run(f, o4, "LOCK +^a:1,+^b"), -2);
    fx_tick(f, 1000);
    assert_int_equal(fx_run(f, o1, "LOCK -^b"), -1);
    assert_non_null(fx_take(f, o2));
    assert_int_equal(fx_run(f, o2, "LOCK -^b"), -1);
    assert_non_null(fx_take(f, o3));
    assert_null(fx_take(f, o4));
    fx_free(f);
}

/* A name given twice needs one entry: counted once against max_entries
 * and max_owner_entries. */
static void regression_duplicate_names(void **state)
{
    (void)state;
    nsl_engine_options opt;
    nsl_engine_options_default(&opt);
    opt.max_entries = 1;
    opt.max_owner_entries = 1;
    fixture *f = fx_new_with(&opt);
    nsl_owner_id a = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +(^g(1),^g(1)):1"), 1);
    assert_string_equal(fx_table(f), "USERDB 1 Exclusive/2 ^g(1)\n");
    fx_free(f);
}

/* Escalation frees entries: a request waiting for room is served. */
static void regression_escalation_serves_waiters(void **state)
{
    (void)state;
    nsl_engine_options opt;
    nsl_engine_options_default(&opt);
    opt.max_entries = 4;
    opt.escalation_threshold = 2;
    fixture *f = fx_new_with(&opt);
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +(^a(1,1),^a(1,2))#\"E\""), 1);
    assert_int_equal(fx_run(f, a, "LOCK +^c"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +(^x,^y)"), -2);
    assert_int_equal(fx_run(f, a, "LOCK +^a(1,3)#\"E\":0"), 1);
    const nsl_lock_result *r = fx_take(f, b);
    assert_non_null(r);
    assert_int_equal(r->test, 1);
    fx_free(f);
}

/* A name the owner covers does not wait behind earlier waiters, so they
 * are not its blockers, and no false deadlock is found. */
static void regression_covered_not_blocked(void **state)
{
    (void)state;
    nsl_engine_options opt;
    nsl_engine_options_default(&opt);
    opt.deadlock_check_ms = 100;
    fixture *f = fx_new_with(&opt);
    nsl_owner_id o1 = fx_owner(f, "USER"), o2 = fx_owner(f, "USER"), o3 = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, o1, "LOCK +^a"), 1);
    assert_int_equal(fx_run(f, o3, "LOCK +^b"), 1);
    assert_int_equal(fx_run(f, o2, "LOCK +^a(1)"), -2);
    assert_int_equal(fx_run(f, o1, "LOCK +(^a(1),^b)"), -2);
    fx_tick(f, 200);
    assert_null(fx_take(f, o1));
    nsl_view_filter flt;
    nsl_view_filter_init(&flt);
    flt.owner = o1;
    flt.name_prefix = "^b";
    nsl_view v;
    assert_int_equal(nsl_engine_view(f->engine, &flt, &v), NSL_OK);
    assert_int_equal(v.count, 1);
    assert_int_equal(v.rows[0].blocker_count, 1);
    assert_int_equal(v.rows[0].blockers[0], o3);
    nsl_view_free(&v);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(modes),
        cmocka_unit_test(arrays),
        cmocka_unit_test(same_owner),
        cmocka_unit_test(counting),
        cmocka_unit_test(timeouts),
        cmocka_unit_test(fifo),
        cmocka_unit_test(all_or_nothing),
        cmocka_unit_test(simple_and_bare),
        cmocka_unit_test(simple_lock_sets),
        cmocka_unit_test(simple_lock_sets_in_transaction),
        cmocka_unit_test(arguments_in_order),
        cmocka_unit_test(bad_name_does_nothing),
        cmocka_unit_test(escalation),
        cmocka_unit_test(escalation_needs_parent),
        cmocka_unit_test(transactions),
        cmocka_unit_test(transaction_end_serves_waiters),
        cmocka_unit_test(owner_end),
        cmocka_unit_test(deadlock),
        cmocka_unit_test(table_full),
        cmocka_unit_test(table_full_episodes_after_timeouts),
        cmocka_unit_test(fencing_tokens),
        cmocka_unit_test(since_is_the_first_grant),
        cmocka_unit_test(view_filters_and_blockers),
        cmocka_unit_test(view_order),
        cmocka_unit_test(admin_remove),
        cmocka_unit_test(regression_unpin_order),
        cmocka_unit_test(regression_equal_deadlines),
        cmocka_unit_test(regression_duplicate_names),
        cmocka_unit_test(regression_escalation_serves_waiters),
        cmocka_unit_test(regression_covered_not_blocked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
