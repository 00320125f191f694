/* The registry: ids in file order, case-insensitive look-ups, directories,
 * the defaults of default_namespace and local_locks, and every problem it
 * reports (exact messages and positions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "namespaces/namespaces.h"

typedef struct built {
    nsl_config *cfg;
    nsl_registry *reg;
    char *report;     /* the registry's diagnostics (and the loader's), sorted */
} built;

static void build_from(built *b, const char *yaml, nsl_config_status want)
{
    nsl_diags d;
    nsl_diags_init(&d);
    assert_int_equal(nsl_config_load_buffer("t.yaml", yaml, strlen(yaml), &b->cfg, &d), want);
    b->reg = nsl_registry_build(b->cfg, &d);
    nsl_diags_sort(&d);
    size_t size = 0;
    FILE *f = open_memstream(&b->report, &size);
    assert_non_null(f);
    nsl_diags_print(&d, f);
    fclose(f);
    nsl_diags_free(&d);
}

static void unbuild(built *b)
{
    nsl_registry_free(b->reg);
    nsl_config_free(b->cfg);
    free(b->report);
}

/* yaml must load cleanly; the registry must fail with exactly report. */
static void expect_failure(const char *yaml, const char *report)
{
    built b;
    build_from(&b, yaml, NSL_CONFIG_OK);
    assert_string_equal(b.report, report);
    assert_null(b.reg);
    unbuild(&b);
}

static const char spec_example[] =
    "default_namespace: USER\n"
    "local_locks: USERDB\n"
    "databases:\n"
    "  USERDB:  { directory: /data/user }\n"
    "  AlphaDB: { directory: /data/alpha/ }\n"
    "  BETADB:  { directory: /data/beta }\n"
    "namespaces:\n"
    "  User:  { globals: userdb }\n"
    "  ALPHA: { globals: ALPHADB }\n"
    "  beta:\n"
    "    globals: BetaDb\n"
    "    map:\n"
    "      Config: ALPHADB\n"
    "      Log*: USERDB\n";

static void test_spec_example(void **state)
{
    (void)state;
    built b;
    build_from(&b, spec_example, NSL_CONFIG_OK);
    assert_string_equal(b.report, "");
    nsl_registry *reg = b.reg;
    assert_non_null(reg);
    assert_ptr_equal(nsl_registry_config(reg), b.cfg);

    /* Ids in file order, names upper-case, directories without the '/'. */
    assert_int_equal(nsl_registry_database_count(reg), 3);
    static const char *const db_names[] = {"USERDB", "ALPHADB", "BETADB"};
    static const char *const db_dirs[] = {"/data/user", "/data/alpha", "/data/beta"};
    for (uint32_t i = 0; i < 3; i++) {
        const nsl_database *db = nsl_registry_database(reg, i);
        assert_non_null(db);
        assert_int_equal(db->id, i);
        assert_string_equal(db->name, db_names[i]);
        assert_string_equal(db->directory, db_dirs[i]);
    }
    assert_null(nsl_registry_database(reg, 3));

    assert_int_equal(nsl_registry_namespace_count(reg), 3);
    static const char *const ns_names[] = {"USER", "ALPHA", "BETA"};
    static const uint32_t ns_globals[] = {0, 1, 2};
    for (uint32_t i = 0; i < 3; i++) {
        const nsl_namespace *ns = nsl_registry_namespace(reg, i);
        assert_non_null(ns);
        assert_int_equal(ns->id, i);
        assert_string_equal(ns->name, ns_names[i]);
        assert_int_equal(ns->globals, ns_globals[i]);
        assert_ptr_equal(ns->cfg, &b.cfg->namespaces[i]);
    }
    assert_null(nsl_registry_namespace(reg, 3));
    assert_int_equal(nsl_registry_namespace(reg, 2)->cfg->map_count, 2);

    /* Look-ups ignore case; directories ignore trailing '/'. */
    assert_int_equal(nsl_registry_find_database(reg, "alphadb")->id, 1);
    assert_int_equal(nsl_registry_find_database(reg, "AlphaDB")->id, 1);
    assert_int_equal(nsl_registry_find_database(reg, "BETADB")->id, 2);
    assert_null(nsl_registry_find_database(reg, "ALPHA"));
    assert_null(nsl_registry_find_database(reg, ""));
    assert_int_equal(nsl_registry_find_namespace(reg, "beta")->id, 2);
    assert_int_equal(nsl_registry_find_namespace(reg, "uSeR")->id, 0);
    assert_null(nsl_registry_find_namespace(reg, "USERDB"));
    assert_int_equal(nsl_registry_find_directory(reg, "/data/alpha")->id, 1);
    assert_int_equal(nsl_registry_find_directory(reg, "/data/alpha//")->id, 1);
    assert_int_equal(nsl_registry_find_directory(reg, "/data/user/")->id, 0);
    assert_null(nsl_registry_find_directory(reg, "/data/Alpha"));
    assert_null(nsl_registry_find_directory(reg, "/data"));
    assert_null(nsl_registry_find_directory(reg, "/"));

    /* A name longer than any buffer is looked up all the same. */
    char long_name[1000];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_null(nsl_registry_find_database(reg, long_name));
    assert_null(nsl_registry_find_namespace(reg, long_name));
    assert_null(nsl_registry_find_directory(reg, long_name));

    assert_string_equal(nsl_registry_default_namespace(reg)->name, "USER");
    assert_string_equal(nsl_registry_local_locks(reg)->name, "USERDB");
    unbuild(&b);
}

static void test_defaults(void **state)
{
    (void)state;
    built b;
    /* No default_namespace: the first; no local_locks: its globals. */
    build_from(&b,
               "databases:\n"
               "  A: { directory: /a }\n"
               "  B: { directory: /b }\n"
               "namespaces:\n"
               "  N: { globals: B }\n"
               "  M: { globals: A }\n",
               NSL_CONFIG_OK);
    assert_string_equal(b.report, "");
    assert_string_equal(nsl_registry_default_namespace(b.reg)->name, "N");
    assert_string_equal(nsl_registry_local_locks(b.reg)->name, "B");
    unbuild(&b);

    /* default_namespace given, local_locks not: its globals database. */
    build_from(&b,
               "default_namespace: m\n"
               "databases:\n"
               "  A: { directory: /a }\n"
               "  B: { directory: /b }\n"
               "namespaces:\n"
               "  N: { globals: B }\n"
               "  M: { globals: A }\n",
               NSL_CONFIG_OK);
    assert_string_equal(b.report, "");
    assert_string_equal(nsl_registry_default_namespace(b.reg)->name, "M");
    assert_string_equal(nsl_registry_local_locks(b.reg)->name, "A");
    unbuild(&b);

    /* A database used only for local locks is used. */
    build_from(&b,
               "local_locks: L\n"
               "databases:\n"
               "  A: { directory: /a }\n"
               "  L: { directory: /l }\n"
               "namespaces:\n"
               "  N: { globals: A }\n",
               NSL_CONFIG_OK);
    assert_string_equal(b.report, "");
    assert_string_equal(nsl_registry_local_locks(b.reg)->name, "L");
    unbuild(&b);
}

static void test_duplicate_names(void **state)
{
    (void)state;
    expect_failure("databases:\n"
                   "  userdb: { directory: /a }\n"
                   "  UserDB: { directory: /b }\n"
                   "namespaces:\n"
                   "  User: { globals: USERDB }\n"
                   "  uSER: { globals: USERDB }\n",
                   "t.yaml:3:3: error: database `UserDB` is already defined as `userdb` at 2:3 "
                   "(names are case-insensitive)\n"
                   "t.yaml:6:3: error: namespace `uSER` is already defined as `User` at 5:3 "
                   "(names are case-insensitive)\n");
}

static void test_duplicate_directories(void **state)
{
    (void)state;
    expect_failure("databases:\n"
                   "  A: { directory: /data/a }\n"
                   "  B: { directory: /data/a/ }\n"
                   "  C: { directory: /data/a// }\n"
                   "  D: { directory: / }\n"
                   "  E: { directory: // }\n"
                   "  F: { directory: data/a }\n"
                   "namespaces:\n"
                   "  N: { globals: A, map: { X: B, Y: C, Z: D, W: E, V: F } }\n",
                   "t.yaml:3:19: error: database `B` has the same directory as database `A` at 2:3 "
                   "(/data/a)\n"
                   "t.yaml:4:19: error: database `C` has the same directory as database `A` at 2:3 "
                   "(/data/a)\n"
                   "t.yaml:6:19: error: database `E` has the same directory as database `D` at 5:3 "
                   "(/)\n");
}

static void test_unknown_references(void **state)
{
    (void)state;
    expect_failure("default_namespace: NOPE\n"
                   "local_locks: USER\n"
                   "databases:\n"
                   "  USERDB: { directory: /a }\n"
                   "  ALPHADB: { directory: /b }\n"
                   "namespaces:\n"
                   "  USER:\n"
                   "    globals: USERDB\n"
                   "    map:\n"
                   "      Config: ALPHADB\n"
                   "      Orders(1):(5): ARCHIVE\n"
                   "  ALPHA: { globals: ALPHA }\n",
                   "t.yaml:1:20: error: unknown namespace `NOPE` in default_namespace\n"
                   "t.yaml:2:14: error: unknown database `USER` in local_locks\n"
                   "t.yaml:11:22: error: unknown database `ARCHIVE` in mapping `Orders(1):(5)` of "
                   "namespace `USER`\n"
                   "t.yaml:12:21: error: unknown database `ALPHA` in globals of namespace `ALPHA`\n");
}

static void test_unused_database(void **state)
{
    (void)state;
    built b;
    build_from(&b,
               "databases:\n"
               "  A: { directory: /a }\n"
               "  SPARE: { directory: /s }\n"
               "  M: { directory: /m }\n"
               "namespaces:\n"
               "  N: { globals: A, map: { X: M } }\n",
               NSL_CONFIG_OK);
    assert_string_equal(b.report,
                        "t.yaml:3:3: warning: database `SPARE` is not used by any namespace\n");
    assert_non_null(b.reg);     /* a warning does not fail */
    assert_int_equal(nsl_registry_database_count(b.reg), 3);
    unbuild(&b);
}

/* A configuration with loader errors: the registry reports only its own
 * findings, nothing that echoes the loader's, and builds nothing if a
 * part is missing. */
static void test_after_loader_errors(void **state)
{
    (void)state;
    built b;
    build_from(&b,
               "databases:\n"
               "  A: { directory: /a }\n"
               "  B: /b\n"
               "  C: { directory: /c }\n"
               "namespaces:\n"
               "  N: { globals: A, map: { X: B, Y: Q } }\n"
               "  M: [C]\n",
               NSL_CONFIG_INVALID);
    assert_string_equal(b.report,
                        "t.yaml:3:6: error: database `B` must be a mapping such as "
                        "{ directory: PATH }, not `/b`\n"
                        "t.yaml:6:36: error: unknown database `Q` in mapping `Y` of namespace `N`\n"
                        "t.yaml:7:6: error: namespace `M` must be a mapping such as "
                        "{ globals: DATABASE }, not a sequence\n");
    assert_null(b.reg);
    unbuild(&b);

    /* Loader errors that leave no gap still give a registry. */
    build_from(&b,
               "lock_table: { max_entries: 0, colour: red }\n"
               "databases:\n  A: { directory: /a }\n"
               "namespaces:\n  N: { globals: A }\n",
               NSL_CONFIG_INVALID);
    assert_non_null(b.reg);
    assert_int_equal(nsl_registry_database_count(b.reg), 1);
    unbuild(&b);

    /* No namespaces at all. */
    build_from(&b, "databases:\n  A: { directory: /a }\n", NSL_CONFIG_INVALID);
    assert_string_equal(b.report, "t.yaml:1:1: error: missing required key `namespaces`\n");
    assert_null(b.reg);
    unbuild(&b);
}

/* For validation the registry comes back despite errors, so the maps can
 * be checked too; a configuration with a gap still gives none. */
static void test_partial(void **state)
{
    (void)state;
    static const char yaml[] =
        "databases:\n"
        "  A: { directory: /a }\n"
        "namespaces:\n"
        "  N: { globals: NOPE, map: { X: A } }\n";
    nsl_config *cfg;
    nsl_diags d;
    nsl_diags_init(&d);
    assert_int_equal(nsl_config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &d), NSL_CONFIG_OK);
    assert_null(nsl_registry_build(cfg, &d));
    size_t strict_errors = nsl_diags_count(&d, NSL_DIAG_ERROR);
    assert_int_equal(strict_errors, 1);
    nsl_registry *reg = nsl_registry_build_partial(cfg, &d);
    assert_non_null(reg);
    assert_int_equal(nsl_diags_count(&d, NSL_DIAG_ERROR), 2 * strict_errors);
    const nsl_namespace *ns = nsl_registry_find_namespace(reg, "n");
    assert_non_null(ns);
    assert_int_equal(ns->globals, 0);     /* the unknown database stands for 0 */
    nsl_registry_free(reg);
    nsl_config_free(cfg);
    nsl_diags_free(&d);

    static const char gap[] =
        "databases:\n"
        "  A: { directory: /a }\n"
        "namespaces:\n"
        "  N: { map: { X: A } }\n";
    nsl_diags_init(&d);
    nsl_config_load_buffer("t.yaml", gap, strlen(gap), &cfg, &d);
    assert_non_null(cfg);
    assert_null(nsl_registry_build_partial(cfg, &d));
    nsl_config_free(cfg);
    nsl_diags_free(&d);
}

static void test_limits(void **state)
{
    (void)state;
    size_t cap = 64 * 1024, o = 0;
    char *yaml = malloc(cap);
    o += (size_t)snprintf(yaml + o, cap - o, "databases:\n");
    for (int i = 0; i <= NSL_MAX_DATABASES; i++)
        o += (size_t)snprintf(yaml + o, cap - o, "  D%d: { directory: /d%d }\n", i, i);
    o += (size_t)snprintf(yaml + o, cap - o, "namespaces:\n  N: { globals: D0, map: {");
    for (int i = 1; i <= NSL_MAX_DATABASES; i++)
        o += (size_t)snprintf(yaml + o, cap - o, "%sG%d: D%d", i > 1 ? ", " : "", i, i);
    snprintf(yaml + o, cap - o, "} }\n");
    built b;
    build_from(&b, yaml, NSL_CONFIG_OK);
    char line[128];
    snprintf(line, sizeof line, "t.yaml:%d:3: error: too many databases: at most %d\n",
             NSL_MAX_DATABASES + 2, NSL_MAX_DATABASES);
    assert_non_null(strstr(b.report, line));
    assert_null(b.reg);
    unbuild(&b);

    /* Exactly the maximum is fine. */
    o = (size_t)snprintf(yaml, cap, "databases:\n");
    for (int i = 0; i < NSL_MAX_DATABASES; i++)
        o += (size_t)snprintf(yaml + o, cap - o, "  D%d: { directory: /d%d }\n", i, i);
    o += (size_t)snprintf(yaml + o, cap - o, "namespaces:\n  N: { globals: D0, map: {");
    for (int i = 1; i < NSL_MAX_DATABASES; i++)
        o += (size_t)snprintf(yaml + o, cap - o, "%sG%d: D%d", i > 1 ? ", " : "", i, i);
    snprintf(yaml + o, cap - o, "} }\n");
    build_from(&b, yaml, NSL_CONFIG_OK);
    assert_string_equal(b.report, "");
    assert_int_equal(nsl_registry_database_count(b.reg), NSL_MAX_DATABASES);
    assert_int_equal(nsl_registry_find_database(b.reg, "d255")->id, 255);
    unbuild(&b);
    free(yaml);
}

static void test_default_config(void **state)
{
    (void)state;
    nsl_config *cfg = nsl_config_default();
    nsl_diags d;
    nsl_diags_init(&d);
    nsl_registry *reg = nsl_registry_build(cfg, &d);
    assert_non_null(reg);
    assert_int_equal(d.count, 0);
    assert_string_equal(nsl_registry_default_namespace(reg)->name, "USER");
    assert_string_equal(nsl_registry_local_locks(reg)->directory, "./data/user");
    assert_int_equal(nsl_registry_find_directory(reg, "./data/user/")->id, 0);
    nsl_registry_free(reg);
    nsl_config_free(cfg);
    nsl_diags_free(&d);
    nsl_registry_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_duplicate_directories),
        cmocka_unit_test(test_unknown_references),
        cmocka_unit_test(test_unused_database),
        cmocka_unit_test(test_after_loader_errors),
        cmocka_unit_test(test_partial),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_default_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
