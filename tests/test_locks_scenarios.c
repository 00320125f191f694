/* The four namespace scenarios of the seed document ("Locks, Globals, and
 * Namespaces"), table-driven: who is granted, which entries exist, and that
 * one release removes all of a request's entries together. */
#include "engine_fixture.h"

enum { QUEUED = -2 };

typedef struct step {
    int who;               /* index into the scenario's owners */
    const char *command;
    int expect;            /* $TEST, -1 for a release, QUEUED */
    const char *table;     /* the whole table afterwards, or NULL */
} step;

typedef struct scenario {
    const char *title;
    const char *namespaces[3];   /* one owner per namespace */
    step steps[8];
} scenario;

static const scenario scenarios[] = {
    {"1: two namespaces with the same global database",
     {"GAMMA1", "GAMMA2"},
     {{0, "LOCK +^MyGlobal(15)", 1, "GAMMADB 1 Exclusive ^MyGlobal(15)\n"},
      {1, "LOCK +^MyGlobal(15)", QUEUED,
       "GAMMADB 1 Exclusive ^MyGlobal(15)\nGAMMADB 2 WaitExclusive ^MyGlobal(15)\n"},
      {0, "LOCK -^MyGlobal(15)", -1, "GAMMADB 2 Exclusive ^MyGlobal(15)\n"},
      {0}}},
    {"2: a namespace that maps the whole global elsewhere",
     {"ALPHA", "BETA2"},
     {{0, "LOCK +^MyGlobal(15)", 1, "ALPHADB 1 Exclusive ^MyGlobal(15)\n"},
      {1, "LOCK +^MyGlobal(15):0", 0, "ALPHADB 1 Exclusive ^MyGlobal(15)\n"},
      {0, "LOCK -^MyGlobal(15)", -1, ""},
      /* from the non-default namespace: an entry in its own database too */
      {1, "LOCK +^MyGlobal(15)", 1,
       "ALPHADB 2 Exclusive ^MyGlobal(15)\nBETADB 2 Exclusive ^MyGlobal(15)\n"},
      {0, "LOCK +^MyGlobal:0", 0, NULL},
      {1, "LOCK -^MyGlobal(15)", -1, ""},
      {0}}},
    {"3: a namespace that maps one subscript elsewhere",
     {"ALPHA", "BETA"},
     {{0, "LOCK +^MyGlobal(15)", 1, "ALPHADB 1 Exclusive ^MyGlobal(15)\n"},
      {1, "LOCK +^MyGlobal(15)", QUEUED, NULL},
      {0, "LOCK -^MyGlobal(15)", -1,
       "ALPHADB 2 Exclusive ^MyGlobal(15)\nBETADB 2 Exclusive ^MyGlobal(15)\n"},
      /* the parent and a child conflict in ALPHADB, a sibling does not */
      {0, "LOCK +^MyGlobal:0", 0, NULL},
      {0, "LOCK +^MyGlobal(15,3):0", 0, NULL},
      {0, "LOCK +^MyGlobal(16):0", 1, NULL},
      {1, "LOCK -^MyGlobal(15)", -1, "ALPHADB 1 Exclusive ^MyGlobal(16)\n"},
      {0}}},
    {"4: an extended reference",
     {"ALPHA", "BETA"},
     {{0, "LOCK +^[\"beta\"]MyGlobal(16)", 1, "BETADB 1 Exclusive ^MyGlobal(16)\n"},
      {1, "LOCK +^MyGlobal(16):0", 0, NULL},
      {1, "LOCK +^MyGlobal:0", 0, NULL},
      {0, "LOCK +^MyGlobal(16):0", 1,
       "ALPHADB 1 Exclusive ^MyGlobal(16)\nBETADB 1 Exclusive ^MyGlobal(16)\n"},
      {0, "LOCK -^[\"BETA\"]MyGlobal(16)", -1, "ALPHADB 1 Exclusive ^MyGlobal(16)\n"},
      {1, "LOCK +^MyGlobal(16):0", 1, NULL},
      {0}}},
};

static void run_scenario(void **state)
{
    const scenario *s = *state;
    fixture *f = fx_new();
    nsl_owner_id owners[3] = {0};
    for (int i = 0; i < 3 && s->namespaces[i]; i++)
        owners[i] = fx_owner(f, s->namespaces[i]);
    for (const step *st = s->steps; st->command; st++) {
        int got = fx_run(f, owners[st->who], st->command);
        if (got != st->expect)
            fail_msg("scenario %s: '%s' gave %d, expected %d", s->title, st->command,
                     got, st->expect);
        if (st->table && strcmp(fx_table(f), st->table) != 0)
            fail_msg("scenario %s: after '%s' the table is\n%sexpected\n%s", s->title,
                     st->command, fx_table(f), st->table);
    }
    fx_free(f);
}

int main(void)
{
    struct CMUnitTest tests[sizeof scenarios / sizeof scenarios[0]];
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        tests[i] = (struct CMUnitTest)cmocka_unit_test_prestate(run_scenario, (void *)&scenarios[i]);
        tests[i].name = scenarios[i].title;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
