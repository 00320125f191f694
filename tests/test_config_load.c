/* Loading configurations: values, defaults and positions; every class of
 * problem with its exact message and position; hostile input (binary, deep
 * nesting, huge files, alias bombs) rejected cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

typedef struct loaded {
    nsl_config_status status;
    nsl_config *cfg;
    char *report;       /* every diagnostic, sorted and printed */
} loaded;

static char *report_of(nsl_diags *d)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    nsl_diags_sort(d);
    nsl_diags_print(d, f);
    fclose(f);
    return text;
}

static void load_n(loaded *l, const char *text, size_t len)
{
    nsl_diags d;
    nsl_diags_init(&d);
    l->status = nsl_config_load_buffer("t.yaml", text, len, &l->cfg, &d);
    l->report = report_of(&d);
    nsl_diags_free(&d);
}

static void load(loaded *l, const char *text)
{
    load_n(l, text, strlen(text));
}

static void unload(loaded *l)
{
    nsl_config_free(l->cfg);
    free(l->report);
}

/* Loads text, which must give exactly this status and report. */
static void expect(const char *text, nsl_config_status status, const char *report)
{
    loaded l;
    load(&l, text);
    assert_string_equal(l.report, report);
    assert_int_equal(l.status, status);
    if (status == NSL_CONFIG_UNREADABLE)
        assert_null(l.cfg);
    else
        assert_non_null(l.cfg);
    unload(&l);
}

#define MINIMAL                                   \
    "databases:\n"                                \
    "  USERDB: { directory: /data/user }\n"       \
    "namespaces:\n"                               \
    "  USER: { globals: USERDB }\n"

static const char spec_example[] =
    "lock_table:\n"
    "  max_entries: 5000\n"
    "  escalation_threshold: 200\n"
    "  deadlock_check_ms: 0\n"
    "  max_session_entries: 700\n"
    "server:\n"
    "  socket: /run/nslock/nslock.sock\n"
    "  listen: 127.0.0.1:7420\n"
    "  token_file: /etc/nslock/token\n"
    "  admin_group: nslockadm\n"
    "  max_pending: 64\n"
    "  recovery_grace_s: 0\n"
    "  state_dir: /var/lib/nslock/test\n"
    "  session_timeout_s: 30\n"
    "default_namespace: USER\n"
    "local_locks: USERDB\n"
    "databases:\n"
    "  USERDB:  { directory: /data/user }\n"
    "  ALPHADB: { directory: /data/alpha }\n"
    "  BETADB:  { directory: /data/beta }\n"
    "namespaces:\n"
    "  USER:  { globals: USERDB }\n"
    "  ALPHA: { globals: ALPHADB }\n"
    "  BETA:\n"
    "    globals: BETADB\n"
    "    map:\n"
    "      Config: ALPHADB               # whole global\n"
    "      MyGlobal(15): ALPHADB\n"
    "      Orders(1):(1000): ALPHADB\n"
    "      Orders(\"A\"):(END): USERDB\n"
    "      Log*: USERDB\n";

static void test_spec_example(void **state)
{
    (void)state;
    loaded l;
    load(&l, spec_example);
    assert_string_equal(l.report, "");
    assert_int_equal(l.status, NSL_CONFIG_OK);
    nsl_config *c = l.cfg;
    assert_string_equal(c->file, "t.yaml");
    assert_int_equal(c->max_entries, 5000);
    assert_int_equal(c->escalation_threshold, 200);
    assert_int_equal(c->deadlock_check_ms, 0);
    assert_int_equal(c->max_session_entries, 700);
    assert_string_equal(c->socket, "/run/nslock/nslock.sock");
    assert_string_equal(c->listen, "127.0.0.1:7420");
    assert_int_equal(c->listen_pos.line, 8);
    assert_int_equal(c->listen_pos.col, 11);
    assert_string_equal(c->token_file, "/etc/nslock/token");
    assert_int_equal(c->token_file_pos.line, 9);
    assert_string_equal(c->admin_group, "nslockadm");
    assert_int_equal(c->max_pending, 64);
    assert_string_equal(c->state_dir, "/var/lib/nslock/test");
    assert_int_equal(c->session_timeout_s, 30);
    assert_int_equal(c->recovery_grace_s, 0);
    assert_string_equal(c->default_namespace, "USER");
    assert_int_equal(c->default_namespace_pos.line, 15);
    assert_int_equal(c->default_namespace_pos.col, 20);
    assert_string_equal(c->local_locks, "USERDB");
    assert_int_equal(c->local_locks_pos.line, 16);
    assert_int_equal(c->local_locks_pos.col, 14);

    assert_int_equal(c->database_count, 3);
    assert_string_equal(c->databases[1].name, "ALPHADB");
    assert_string_equal(c->databases[1].directory, "/data/alpha");
    assert_int_equal(c->databases[1].pos.line, 19);
    assert_int_equal(c->databases[1].pos.col, 3);
    assert_int_equal(c->databases[1].directory_pos.line, 19);
    assert_int_equal(c->databases[1].directory_pos.col, 25);

    assert_int_equal(c->namespace_count, 3);
    const nsl_cfg_namespace *beta = &c->namespaces[2];
    assert_string_equal(beta->name, "BETA");
    assert_int_equal(beta->pos.line, 24);
    assert_string_equal(beta->globals, "BETADB");
    assert_int_equal(beta->globals_pos.line, 25);
    assert_int_equal(beta->globals_pos.col, 14);
    assert_int_equal(beta->map_count, 5);
    assert_string_equal(beta->map[0].rule, "Config");
    assert_string_equal(beta->map[2].rule, "Orders(1):(1000)");
    assert_string_equal(beta->map[3].rule, "Orders(\"A\"):(END)");
    assert_string_equal(beta->map[3].database, "USERDB");
    assert_int_equal(beta->map[3].pos.line, 30);
    assert_int_equal(beta->map[3].pos.col, 7);
    assert_int_equal(beta->map[3].database_pos.line, 30);
    assert_int_equal(beta->map[3].database_pos.col, 26);
    assert_string_equal(beta->map[4].rule, "Log*");
    assert_int_equal(c->namespaces[0].map_count, 0);
    unload(&l);
}

static void test_defaults(void **state)
{
    (void)state;
    loaded l;
    load(&l, "# only what is required\n" MINIMAL);
    assert_string_equal(l.report, "");
    assert_int_equal(l.status, NSL_CONFIG_OK);
    assert_int_equal(l.cfg->max_entries, 1000000);
    assert_int_equal(l.cfg->escalation_threshold, 1000);
    assert_int_equal(l.cfg->deadlock_check_ms, 1000);
    assert_int_equal(l.cfg->max_session_entries, 1000000);
    assert_int_equal(l.cfg->max_pending, 1024);
    assert_int_equal(l.cfg->recovery_grace_s, 10);
    assert_null(l.cfg->socket);
    assert_null(l.cfg->listen);
    assert_null(l.cfg->token_file);
    assert_null(l.cfg->admin_group);
    assert_null(l.cfg->default_namespace);
    assert_null(l.cfg->local_locks);
    unload(&l);

    /* Empty optional sections are allowed; so are quoted keys. */
    load(&l, "lock_table:\nserver: {}\n\"databases\":\n  'USERDB': { \"directory\": /d }\n"
             "namespaces:\n  USER: { globals: USERDB, map: }\n");
    assert_string_equal(l.report, "");
    assert_int_equal(l.status, NSL_CONFIG_OK);
    assert_int_equal(l.cfg->max_entries, 1000000);
    unload(&l);
}

static void test_number_bounds(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        const char *min, *max, *below, *above;
    } cases[] = {
        {"lock_table:\n  max_entries", "1", "100000000", "0", "100000001"},
        {"lock_table:\n  escalation_threshold", "1", "32765", "0", "32766"},
        {"lock_table:\n  deadlock_check_ms", "0", "3600000", "-1", "3600001"},
        {"lock_table:\n  max_session_entries", "1", "100000000", "0", "100000001"},
        {"server:\n  max_pending", "1", "1048576", "0", "1048577"},
        {"server:\n  recovery_grace_s", "0", "3600", "-1", "3601"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *values[] = {cases[i].min, cases[i].max, cases[i].below, cases[i].above};
        for (int j = 0; j < 4; j++) {
            char text[512];
            snprintf(text, sizeof text, MINIMAL "%s: %s\n", cases[i].key, values[j]);
            loaded l;
            load(&l, text);
            if (j < 2) {
                assert_string_equal(l.report, "");
                assert_int_equal(l.status, NSL_CONFIG_OK);
            } else {
                assert_non_null(strstr(l.report, "t.yaml:6:"));
                assert_non_null(strstr(l.report, "; it must be between "));
                assert_int_equal(l.status, NSL_CONFIG_INVALID);
            }
            unload(&l);
        }
    }
}

static void test_numbers_malformed(void **state)
{
    (void)state;
    expect(MINIMAL
           "lock_table:\n"
           "  max_entries: 1e6\n"
           "  escalation_threshold: 99999999999999999999999999\n"
           "  deadlock_check_ms: \"1000\"\n"
           "  max_session_entries: 0x10\n"
           "server:\n"
           "  max_pending: +\n"
           "  recovery_grace_s: -0\n",
           NSL_CONFIG_INVALID,
           "t.yaml:6:16: error: lock_table.max_entries must be a whole number, not `1e6`\n"
           "t.yaml:7:25: error: lock_table.escalation_threshold is 99999999999999999999999999; "
           "it must be between 1 and 32765\n"
           "t.yaml:8:22: error: lock_table.deadlock_check_ms must be a whole number, not a quoted string\n"
           "t.yaml:9:24: error: lock_table.max_session_entries must be a whole number, not `0x10`\n"
           "t.yaml:11:16: error: server.max_pending must be a whole number, not `+`\n");
}

static void test_unknown_keys(void **state)
{
    (void)state;
    expect(MINIMAL
           "lock_tables: {}\n"
           "server: { socket: /s, port: 1 }\n"
           "databases2: 1\n",
           NSL_CONFIG_INVALID,
           "t.yaml:5:1: error: unknown top-level key `lock_tables` (expected lock_table, server, "
           "ha, default_namespace, local_locks, databases or namespaces); did you mean `lock_table`?\n"
           "t.yaml:6:23: error: unknown key `port` in server (expected socket, listen, token_file, "
           "admin_group, max_pending, recovery_grace_s, state_dir, session_timeout_s, "
           "output_limit_mb, max_unauthenticated, http or io_method)\n"
           "t.yaml:7:1: error: unknown top-level key `databases2` (expected lock_table, server, "
           "ha, default_namespace, local_locks, databases or namespaces); did you mean `databases`?\n");
    expect("databases:\n  A: { directory: /a, size: 3 }\n"
           "namespaces:\n  N: { globals: A, maps: {}, Map: {} }\n",
           NSL_CONFIG_INVALID,
           "t.yaml:2:23: error: unknown key `size` in database `A` (expected directory)\n"
           "t.yaml:4:20: error: unknown key `maps` in namespace `N` (expected globals or map); did you mean `map`?\n"
           "t.yaml:4:30: error: unknown key `Map` in namespace `N` (expected globals or map); did you mean `map`?\n");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    loaded l;
    load(&l, "databases:\n"
             "  A: { directory: /a }\n"
             "  B: { directory: /b, directory: /c }\n"
             "  A: { directory: /d }\n"
             "namespaces:\n"
             "  N:\n"
             "    globals: A\n"
             "    map: { X: B, Y: A, X: A }\n"
             "    globals: B\n"
             "  N: { globals: B }\n"
             "lock_table: { max_entries: 5, max_entries: 0 }\n"
             "databases: {}\n");
    assert_string_equal(l.report,
           "t.yaml:3:23: error: duplicate key `directory` (first at 3:8)\n"
           "t.yaml:4:3: error: duplicate key `A` (first at 2:3)\n"
           "t.yaml:8:24: error: duplicate key `X` (first at 8:12)\n"
           "t.yaml:9:5: error: duplicate key `globals` (first at 7:5)\n"
           "t.yaml:10:3: error: duplicate key `N` (first at 6:3)\n"
           "t.yaml:11:31: error: duplicate key `max_entries` (first at 11:15)\n"
           "t.yaml:12:1: error: duplicate key `databases` (first at 1:1)\n");
    assert_int_equal(l.status, NSL_CONFIG_INVALID);
    /* The first of equal keys is the one kept. */
    assert_int_equal(l.cfg->database_count, 2);
    assert_string_equal(l.cfg->databases[0].directory, "/a");
    assert_string_equal(l.cfg->databases[1].directory, "/b");
    assert_int_equal(l.cfg->namespace_count, 1);
    assert_string_equal(l.cfg->namespaces[0].globals, "A");
    assert_int_equal(l.cfg->namespaces[0].map_count, 2);
    assert_string_equal(l.cfg->namespaces[0].map[0].database, "B");
    assert_int_equal(l.cfg->max_entries, 5);
    unload(&l);

    /* Many keys, to go through the sort rather than a short scan. */
    char text[8192];
    size_t o = (size_t)snprintf(text, sizeof text, MINIMAL "server:\n");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "  k%d: 1\n", i % 50);
    load(&l, text);
    assert_int_equal(l.status, NSL_CONFIG_INVALID);
    size_t dups = 0, unknown = 0;
    for (const char *p = l.report; (p = strstr(p, "duplicate key")); p++)
        dups++;
    for (const char *p = l.report; (p = strstr(p, "unknown key")); p++)
        unknown++;
    assert_int_equal(dups, 50);
    assert_int_equal(unknown, 50);
    assert_non_null(strstr(l.report, "t.yaml:56:3: error: duplicate key `k0` (first at 6:3)\n"));
    unload(&l);
}

static void test_missing_keys(void **state)
{
    (void)state;
    expect("", NSL_CONFIG_INVALID,
           "t.yaml: error: missing required key `databases`\n"
           "t.yaml: error: missing required key `namespaces`\n");
    expect("# nothing but a comment\n---\n", NSL_CONFIG_INVALID,
           "t.yaml: error: missing required key `databases`\n"
           "t.yaml: error: missing required key `namespaces`\n");
    expect("lock_table: {}\n", NSL_CONFIG_INVALID,
           "t.yaml:1:1: error: missing required key `databases`\n"
           "t.yaml:1:1: error: missing required key `namespaces`\n");
    expect("databases:\n  A:\n  B: {}\n  C: { directory: /c }\n"
           "namespaces:\n  N:\n  M: { map: { X: C } }\n  O: { globals: C }\n",
           NSL_CONFIG_INVALID,
           "t.yaml:2:3: error: missing required key `directory` in database `A`\n"
           "t.yaml:3:3: error: missing required key `directory` in database `B`\n"
           "t.yaml:6:3: error: missing required key `globals` in namespace `N`\n"
           "t.yaml:7:3: error: missing required key `globals` in namespace `M`\n");
    expect("databases: {}\nnamespaces: {}\n", NSL_CONFIG_INVALID,
           "t.yaml:1:12: error: databases is empty: define at least one database\n"
           "t.yaml:2:13: error: namespaces is empty: define at least one namespace\n");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect("- databases\n- namespaces\n", NSL_CONFIG_INVALID,
           "t.yaml:1:1: error: the configuration must be a mapping such as "
           "{ databases: ..., namespaces: ... }, not a sequence\n");
    expect("just text\n", NSL_CONFIG_INVALID,
           "t.yaml:1:1: error: the configuration must be a mapping such as "
           "{ databases: ..., namespaces: ... }, not `just text`\n");
    expect("databases: [A, B]\nnamespaces: USER\n", NSL_CONFIG_INVALID,
           "t.yaml:1:12: error: databases must be a mapping such as "
           "{ USERDB: { directory: PATH } }, not a sequence\n"
           "t.yaml:2:13: error: namespaces must be a mapping such as "
           "{ USER: { globals: USERDB } }, not `USER`\n");
    expect(MINIMAL
           "server:\n"
           "  socket:\n"
           "  listen: ~\n"
           "  admin_group: [a]\n"
           "local_locks: { a: 1 }\n"
           "default_namespace: ''\n",
           NSL_CONFIG_INVALID,
           "t.yaml:6:10: error: server.socket has no value\n"
           "t.yaml:7:11: error: server.listen has no value\n"
           "t.yaml:8:16: error: server.admin_group must be a string, not a sequence\n"
           "t.yaml:9:14: error: local_locks must be a string, not a mapping\n"
           "t.yaml:10:20: error: default_namespace is empty\n");
    /* Mapping keys must be scalars. */
    expect(MINIMAL "? [a, b]\n: 1\n", NSL_CONFIG_INVALID,
           "t.yaml:5:3: error: a key must be a scalar, not a sequence\n");
}

static void test_map_rules(void **state)
{
    (void)state;
    loaded l;
    load(&l, "databases:\n  A: { directory: /a }\n"
             "namespaces:\n"
             "  N:\n"
             "    globals: A\n"
             "    map:\n"
             "      G1: A\n"
             "      G2:\n"
             "      G3: [A]\n"
             "      \"G4\\0x\": A\n"
             "      G5: \"A\\0\"\n"
             "      'G6(\"a\"):(END)': A\n");
    assert_string_equal(l.report,
           "t.yaml:8:10: error: target of mapping `G2` of namespace `N` has no value\n"
           "t.yaml:9:11: error: target of mapping `G3` of namespace `N` must be a string, "
           "not a sequence\n"
           "t.yaml:10:7: error: mapping `G4\\x00x` of namespace `N` contains a NUL byte\n"
           "t.yaml:11:11: error: target of mapping `G5` of namespace `N` contains a NUL byte\n");
    assert_int_equal(l.status, NSL_CONFIG_INVALID);
    /* Incomplete rules are left out; the others keep their text verbatim. */
    const nsl_cfg_namespace *n = &l.cfg->namespaces[0];
    assert_int_equal(n->map_count, 2);
    assert_string_equal(n->map[0].rule, "G1");
    assert_string_equal(n->map[1].rule, "G6(\"a\"):(END)");
    assert_int_equal(n->map[1].pos.line, 12);
    assert_int_equal(n->map[1].pos.col, 7);
    unload(&l);

    expect("databases:\n  A: { directory: /a }\n"
           "namespaces:\n  N: { globals: A, map: [X, A] }\n",
           NSL_CONFIG_INVALID,
           "t.yaml:4:25: error: map of namespace `N` must be a mapping such as "
           "{ RULE: DATABASE }, not a sequence\n");
}

static void test_names(void **state)
{
    (void)state;
    loaded l;
    load(&l, "databases:\n"
             "  '%SYS': { directory: /sys }\n"
             "  _a-B9: { directory: /a }\n"
             "  b.c: { directory: /b }\n"
             "  -x: { directory: /x }\n"
             "  '': { directory: /e }\n"
             "  ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJK: { directory: /63 }\n"
             "  ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKL: { directory: /64 }\n"
             "  \"a\\0b\": { directory: /n }\n"
             "  é: { directory: /u }\n"
             "namespaces:\n"
             "  'USER 2': { globals: _a-B9 }\n");
    assert_string_equal(l.report,
           "t.yaml:4:3: error: invalid database name `b.c`: use a letter, `%` or `_`, then letters, "
           "digits, `_` or `-`\n"
           "t.yaml:5:3: error: invalid database name `-x`: use a letter, `%` or `_`, then letters, "
           "digits, `_` or `-`\n"
           "t.yaml:6:3: error: empty database name\n"
           "t.yaml:8:3: error: database name `ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGH...` "
           "is longer than 63 characters\n"
           "t.yaml:9:3: error: invalid database name `a\\x00b`: use a letter, `%` or `_`, then letters, "
           "digits, `_` or `-`\n"
           "t.yaml:10:3: error: invalid database name `é`: use a letter, `%` or `_`, then letters, "
           "digits, `_` or `-`\n"
           "t.yaml:12:3: error: invalid namespace name `USER 2`: use a letter, `%` or `_`, then "
           "letters, digits, `_` or `-`\n");
    /* Invalid names are kept, so that references to them are not reported
     * a second time as unknown. */
    assert_int_equal(l.cfg->database_count, 9);
    assert_int_equal(l.cfg->namespace_count, 1);
    unload(&l);
}

static void test_directory_and_server_checks(void **state)
{
    (void)state;
    char dir[300];
    memset(dir, 'd', sizeof dir);
    dir[0] = '/';
    dir[256] = '\0';
    char text[1024];
    snprintf(text, sizeof text,
             "databases:\n  A: { directory: %s }\n  B: { directory: \"\" }\n"
             "namespaces:\n  N: { globals: A }\n", dir);
    expect(text, NSL_CONFIG_INVALID,
           "t.yaml:2:19: error: directory of database `A` is longer than 255 bytes\n"
           "t.yaml:3:19: error: directory of database `B` is empty\n");
    dir[255] = '\0';
    snprintf(text, sizeof text,
             "databases:\n  A: { directory: %s }\nnamespaces:\n  N: { globals: A }\n", dir);
    expect(text, NSL_CONFIG_OK, "");

    expect(MINIMAL
           "server:\n"
           "  listen: 7420\n"
           "  token_file: /t\n",
           NSL_CONFIG_INVALID,
           "t.yaml:6:11: error: server.listen must be HOST:PORT (such as 127.0.0.1:7420 or "
           "[::1]:7420), not `7420`\n");
    static const char *const bad_listen[] = {
        ":7420", "host:", "::1:7420", "host:74x", "[::1]7420",
    };
    for (size_t i = 0; i < sizeof bad_listen / sizeof bad_listen[0]; i++) {
        snprintf(text, sizeof text, MINIMAL "server: { token_file: /t, listen: '%s' }\n",
                 bad_listen[i]);
        loaded l;
        load(&l, text);
        assert_non_null(strstr(l.report, "server.listen must be HOST:PORT"));
        unload(&l);
    }
    static const char *const good_listen[] = {"127.0.0.1:1", "[::1]:65535", "localhost:7420"};
    for (size_t i = 0; i < sizeof good_listen / sizeof good_listen[0]; i++) {
        snprintf(text, sizeof text, MINIMAL "server: { token_file: /t, listen: '%s' }\n",
                 good_listen[i]);
        expect(text, NSL_CONFIG_OK, "");
    }
    expect(MINIMAL "server: { token_file: /t, listen: 'h:0' }\n", NSL_CONFIG_INVALID,
           "t.yaml:5:35: error: server.listen port 0 is out of range (1 to 65535)\n");
    expect(MINIMAL "server: { listen: 'h:1' }\n", NSL_CONFIG_INVALID,
           "t.yaml:5:19: error: server.listen needs server.token_file: TCP clients must "
           "present a shared token\n");

    /* server.http: HOST:PORT, and off the loopback only with the token */
    static const char *const bad_http[] = {"9740", ":9740", "host:", "[::1]9740", "h:9x"};
    for (size_t i = 0; i < sizeof bad_http / sizeof bad_http[0]; i++) {
        snprintf(text, sizeof text, MINIMAL "server: { http: '%s' }\n", bad_http[i]);
        loaded l;
        load(&l, text);
        assert_int_equal(l.status, NSL_CONFIG_INVALID);
        assert_non_null(strstr(l.report, "server.http must be HOST:PORT"));
        unload(&l);
    }
    expect(MINIMAL "server: { http: '127.0.0.1:70000' }\n", NSL_CONFIG_INVALID,
           "t.yaml:5:17: error: server.http port 70000 is out of range (1 to 65535)\n");
    expect(MINIMAL "server: { http: '0.0.0.0:9740' }\n", NSL_CONFIG_INVALID,
           "t.yaml:5:17: error: server.http `0.0.0.0:9740` is not a loopback address: it needs "
           "server.token_file (requests must carry Authorization: Bearer TOKEN), or use "
           "127.0.0.1:PORT\n");
    static const char *const good_http[] = {"127.0.0.1:9740", "[::1]:1", "localhost:9740"};
    for (size_t i = 0; i < sizeof good_http / sizeof good_http[0]; i++) {
        snprintf(text, sizeof text, MINIMAL "server: { http: '%s' }\n", good_http[i]);
        expect(text, NSL_CONFIG_OK, "");
    }
    expect(MINIMAL "server: { http: '0.0.0.0:9740', token_file: /t }\n", NSL_CONFIG_OK, "");

    memset(dir, 's', sizeof dir);
    dir[0] = '/';
    dir[108] = '\0';
    snprintf(text, sizeof text, MINIMAL "server: { socket: %s }\n", dir);
    expect(text, NSL_CONFIG_INVALID,
           "t.yaml:5:19: error: server.socket is longer than 107 bytes, the limit of a Unix "
           "socket path\n");
    dir[107] = '\0';
    snprintf(text, sizeof text, MINIMAL "server: { socket: %s }\n", dir);
    expect(text, NSL_CONFIG_OK, "");
}

static void test_yaml_features(void **state)
{
    (void)state;
    /* Aliases are refused wherever they are; anchors alone are harmless. */
    expect("databases:\n  A: &d { directory: /a }\n  B: *d\n"
           "namespaces:\n  N: { globals: A, map: { <<: *d, X: A } }\n",
           NSL_CONFIG_INVALID,
           "t.yaml:3:6: error: aliases are not allowed (*d)\n"
           "t.yaml:5:31: error: aliases are not allowed (*d)\n");
    expect("databases:\n  A: &d { directory: /a }\nnamespaces:\n  N: { globals: A }\n",
           NSL_CONFIG_OK, "");
    /* Tags are refused. */
    expect("databases:\n  A: { directory: !!str /a }\nnamespaces: !!map\n  N: { globals: A }\n",
           NSL_CONFIG_INVALID,
           "t.yaml:2:19: error: YAML tags are not supported (tag:yaml.org,2002:str)\n"
           "t.yaml:3:13: error: YAML tags are not supported (tag:yaml.org,2002:map)\n");
    /* One document only. */
    expect(MINIMAL "---\nfoo: [\n", NSL_CONFIG_INVALID,
           "t.yaml:5:1: error: a second YAML document: the configuration must be one document\n");
    /* Control characters from escapes never break the one-line format. */
    expect(MINIMAL "\"a\\nb\": 1\n", NSL_CONFIG_INVALID,
           "t.yaml:5:1: error: unknown top-level key `a\\x0ab` (expected lock_table, server, "
           "ha, default_namespace, local_locks, databases or namespaces)\n");
    /* Long values are cut in messages. */
    char text[512];
    char key[201];
    memset(key, 'k', 200);
    key[200] = '\0';
    snprintf(text, sizeof text, MINIMAL "%s: 1\n", key);
    loaded l;
    load(&l, text);
    assert_non_null(strstr(l.report, "`kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...`"));
    unload(&l);
}

static void test_yaml_syntax_errors(void **state)
{
    (void)state;
    expect("databases:\n  A: { directory: /a\nnamespaces:\n", NSL_CONFIG_UNREADABLE,
           "t.yaml:3:11: error: YAML syntax error: did not find expected ',' or '}' "
           "(while parsing a flow mapping at 2:6)\n");
    expect("databases:\n  A: 1\n B: 2\n", NSL_CONFIG_UNREADABLE,
           "t.yaml:3:2: error: YAML syntax error: did not find expected key "
           "(while parsing a block mapping at 1:1)\n");
    expect("a: 'unterminated\n", NSL_CONFIG_UNREADABLE,
           "t.yaml:2:1: error: YAML syntax error: found unexpected end of stream "
           "(while scanning a quoted scalar at 1:4)\n");
    expect("a: b: c\n", NSL_CONFIG_UNREADABLE,
           "t.yaml:1:5: error: YAML syntax error: mapping values are not allowed in this context\n");
    expect("databases:\n  %SYS: { directory: /s }\n", NSL_CONFIG_UNREADABLE,
           "t.yaml:2:3: error: YAML syntax error: a plain value cannot start with `%`; "
           "quote it, as in \"%SYS\"\n");
    expect("databases:\n  A: { directory: @x }\n", NSL_CONFIG_UNREADABLE,
           "t.yaml:2:19: error: YAML syntax error: a plain value cannot start with `@`; quote it\n");
    /* Problems found before the syntax error are kept. */
    expect("a: *x\nb: [\n", NSL_CONFIG_UNREADABLE,
           "t.yaml:1:4: error: aliases are not allowed (*x)\n"
           "t.yaml:3:1: error: YAML syntax error: did not find expected node content "
           "(while parsing a flow node at 3:1)\n");
}

static void test_not_text(void **state)
{
    (void)state;
    static const char elf[] = "\177ELF\002\001\001\000\000\000";
    loaded l;
    load_n(&l, elf, sizeof elf - 1);
    assert_string_equal(l.report,
           "t.yaml:1:8: error: not YAML text: a binary file (NUL byte at offset 7)\n");
    assert_int_equal(l.status, NSL_CONFIG_UNREADABLE);
    assert_null(l.cfg);
    unload(&l);

    expect("databases:\n  A: \xff\xfe\n", NSL_CONFIG_UNREADABLE,
           "t.yaml:2:6: error: not YAML text: invalid leading UTF-8 octet (byte 0xFF)\n");
    expect("a: \x01\n", NSL_CONFIG_UNREADABLE,
           "t.yaml:1:4: error: not YAML text: control characters are not allowed (byte 0x01)\n");

    /* UTF-16 with a byte order mark is text: its NUL bytes are no sign of
     * a binary file. */
    const char *utf8 = MINIMAL;
    size_t n = strlen(utf8);
    char *utf16 = malloc(2 * n + 2);
    utf16[0] = (char)0xff;
    utf16[1] = (char)0xfe;
    for (size_t i = 0; i < n; i++) {
        utf16[2 + 2 * i] = utf8[i];
        utf16[3 + 2 * i] = '\0';
    }
    load_n(&l, utf16, 2 * n + 2);
    assert_string_equal(l.report, "");
    assert_int_equal(l.status, NSL_CONFIG_OK);
    assert_string_equal(l.cfg->databases[0].directory, "/data/user");
    unload(&l);
    free(utf16);
}

/* 10,000 levels of each kind of nesting: refused at level 65, at once. */
static void test_deep_nesting(void **state)
{
    (void)state;
    enum { DEPTH = 10000 };
    char *text = malloc(8 * DEPTH + 64);
    static const struct {
        const char *open, *close, *report;
    } kinds[] = {
        {"[", "]", "t.yaml:1:65: error: nesting deeper than 64 levels\n"},
        {"{a: ", "}", "t.yaml:1:257: error: nesting deeper than 64 levels\n"},
        {"- ", "", "t.yaml:1:129: error: nesting deeper than 64 levels\n"},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t o = 0;
        for (int i = 0; i < DEPTH; i++)
            o += (size_t)sprintf(text + o, "%s", kinds[k].open);
        o += (size_t)sprintf(text + o, "x");
        for (int i = 0; i < DEPTH; i++)
            o += (size_t)sprintf(text + o, "%s", kinds[k].close);
        text[o++] = '\n';
        text[o] = '\0';
        expect(text, NSL_CONFIG_UNREADABLE, kinds[k].report);
    }
    /* Unclosed: a megabyte of '[' costs no more. */
    size_t big = 1 << 20;
    char *open = malloc(big + 1);
    memset(open, '[', big);
    open[big] = '\0';
    expect(open, NSL_CONFIG_UNREADABLE, "t.yaml:1:65: error: nesting deeper than 64 levels\n");
    free(open);
    /* 64 levels are still read (and then found not to fit the schema). */
    size_t o = (size_t)sprintf(text, MINIMAL "server: ");
    for (int i = 0; i < 63; i++)
        text[o++] = '[';
    for (int i = 0; i < 63; i++)
        text[o++] = ']';
    text[o++] = '\n';
    text[o] = '\0';
    expect(text, NSL_CONFIG_INVALID,
           "t.yaml:5:9: error: server must be a mapping, not a sequence\n");
    free(text);
}

/* Writes text to a temporary file; returns its path (to unlink and free). */
static char *temp_file(const char *text, size_t len)
{
    char *path = strdup("/tmp/nsl-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, text + done, len - done);
        assert_true(w > 0);
        done += (size_t)w;
    }
    close(fd);
    return path;
}

/* A generated 10 MB configuration, 250,000 map rules: it loads, whole. */
static void test_ten_megabytes(void **state)
{
    (void)state;
    size_t cap = 11u << 20, o = 0;
    char *text = malloc(cap);
    o += (size_t)sprintf(text, "databases:\n  A: { directory: /a }\n  B: { directory: /b }\n"
                               "namespaces:\n  N:\n    globals: A\n    map:\n");
    size_t rules = 0;
    while (o < (10u << 20))
        o += (size_t)sprintf(text + o, "      G%07zu(%zu):(%zu): B\n", rules, rules, rules + 1),
            rules++;
    char *path = temp_file(text, o);
    free(text);

    nsl_diags d;
    nsl_diags_init(&d);
    nsl_config *cfg;
    assert_int_equal(nsl_config_load_file(path, &cfg, &d), NSL_CONFIG_OK);
    assert_int_equal(d.count, 0);
    assert_int_equal(cfg->namespaces[0].map_count, rules);
    assert_string_equal(cfg->namespaces[0].map[rules - 1].database, "B");
    assert_int_equal(cfg->namespaces[0].map[rules - 1].pos.line, (int)rules + 7);
    nsl_config_free(cfg);
    nsl_diags_free(&d);
    unlink(path);
    free(path);
}

/* A file of a million mistakes: the report stops at a thousand. */
static void test_error_flood(void **state)
{
    (void)state;
    size_t cap = 8u << 20, o = 0;
    char *text = malloc(cap);
    for (int i = 0; i < 200000; i++)
        o += (size_t)sprintf(text + o, "k%d: 1\n", i);
    nsl_diags d;
    nsl_diags_init(&d);
    nsl_config *cfg;
    assert_int_equal(nsl_config_load_buffer("t.yaml", text, o, &cfg, &d), NSL_CONFIG_INVALID);
    assert_int_equal(d.count, 1001);
    nsl_diags_sort(&d);
    assert_string_equal(d.items[0].message, "too many problems: the rest are not reported");
    assert_int_equal(d.items[0].level, NSL_DIAG_ERROR);
    nsl_config_free(cfg);
    nsl_diags_free(&d);
    free(text);
}

static void test_files(void **state)
{
    (void)state;
    nsl_diags d;
    nsl_config *cfg = (nsl_config *)&cfg;
    char *report;

    nsl_diags_init(&d);
    assert_int_equal(nsl_config_load_file("/nonexistent/nslock.yaml", &cfg, &d),
                     NSL_CONFIG_UNREADABLE);
    assert_null(cfg);
    report = report_of(&d);
    assert_string_equal(report,
                        "/nonexistent/nslock.yaml: error: cannot read: No such file or directory\n");
    free(report);
    nsl_diags_free(&d);

    assert_int_equal(nsl_config_load_file("/tmp", &cfg, &d), NSL_CONFIG_UNREADABLE);
    report = report_of(&d);
    assert_string_equal(report, "/tmp: error: cannot read: Is a directory\n");
    free(report);
    nsl_diags_free(&d);

    /* Beyond 64 MiB the file is not read (a sparse file: nothing written). */
    char *path = temp_file("", 0);
    assert_int_equal(truncate(path, (64 << 20) + 1), 0);
    assert_int_equal(nsl_config_load_file(path, &cfg, &d), NSL_CONFIG_UNREADABLE);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.items[0].message, "cannot read: larger than 64 MiB");
    nsl_diags_free(&d);
    unlink(path);
    free(path);

    path = temp_file(spec_example, strlen(spec_example));
    assert_int_equal(nsl_config_load_file(path, &cfg, &d), NSL_CONFIG_OK);
    assert_string_equal(cfg->file, path);
    assert_int_equal(cfg->namespaces[2].map_count, 5);
    nsl_config_free(cfg);
    nsl_diags_free(&d);
    unlink(path);
    free(path);
}

static void test_null_arguments(void **state)
{
    (void)state;
    nsl_config_free(NULL);
    nsl_diags d;
    nsl_diags_init(&d);
    nsl_config *cfg;
    assert_int_equal(nsl_config_load_buffer(NULL, NULL, 0, &cfg, &d), NSL_CONFIG_INVALID);
    assert_string_equal(cfg->file, "<buffer>");
    assert_int_equal(d.count, 2);
    assert_string_equal(d.items[0].file, "<buffer>");
    nsl_config_free(cfg);
    nsl_diags_free(&d);
}

/* The ha section: every key read, the defaults, and its cross-section
 * rules (the messages themselves are in the validate fixtures). */
static void test_ha_section(void **state)
{
    (void)state;
    loaded l;
    load(&l, "server: { listen: 10.0.0.5:7420, token_file: /t }\n"
             "ha: { zookeeper: \"z1:2181,[fd00::2]:2181\", path: /nslock/prod }\n" MINIMAL);
    assert_int_equal(l.status, NSL_CONFIG_OK);
    assert_string_equal(l.cfg->ha_zookeeper, "z1:2181,[fd00::2]:2181");
    assert_string_equal(l.cfg->ha_path, "/nslock/prod");
    assert_int_equal(l.cfg->ha_session_timeout_ms, 6000);
    assert_null(l.cfg->ha_advertise);
    assert_int_equal(l.cfg->ha_pos.line, 2);
    unload(&l);
    load(&l, "server: { listen: 0.0.0.0:7420, token_file: /t }\n"
             "ha: { zookeeper: z:1, path: /p, session_timeout_ms: 4000, advertise: h:7 }\n" MINIMAL);
    assert_int_equal(l.status, NSL_CONFIG_OK);
    assert_int_equal(l.cfg->ha_session_timeout_ms, 4000);
    assert_string_equal(l.cfg->ha_advertise, "h:7");
    unload(&l);
    load(&l, MINIMAL);
    assert_null(l.cfg->ha_zookeeper);   /* no ha: serve alone */
    unload(&l);
    expect("server: { listen: 0.0.0.0:7420, token_file: /t }\nha: { zookeeper: z:1, path: /p }\n"
           MINIMAL, NSL_CONFIG_INVALID,
           "t.yaml:2:1: error: ha needs ha.advertise: server.listen `0.0.0.0:7420` is a wildcard "
           "address, which clients cannot be sent to\n");
    expect("ha: {}\n" MINIMAL, NSL_CONFIG_INVALID,
           "t.yaml:1:1: error: missing required key `zookeeper` in ha (the ensemble, such as "
           "10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181)\n"
           "t.yaml:1:1: error: missing required key `path` in ha (the cluster's znode, such as "
           "/nslock/prod)\n"
           "t.yaml:1:1: error: ha needs server.listen: clients reach the leader, whichever server "
           "it is, over TCP\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_number_bounds),
        cmocka_unit_test(test_numbers_malformed),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_ha_section),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_missing_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_map_rules),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_directory_and_server_checks),
        cmocka_unit_test(test_yaml_features),
        cmocka_unit_test(test_yaml_syntax_errors),
        cmocka_unit_test(test_not_text),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_ten_megabytes),
        cmocka_unit_test(test_error_flood),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
