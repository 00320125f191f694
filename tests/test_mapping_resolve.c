/* resolve(namespace, lockname) (docs/LANGUAGE.md): every worked case there,
 * range bounds, precedence, wildcard edges, extended and implied references,
 * and a randomized comparison against a naive "innermost mapping" scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mapping/mapping.h"

#define EXAMPLE NSL_FIXTURES "/../../docs/examples/three-namespaces.yaml"

typedef struct loaded {
    nsl_config *cfg;
    nsl_registry *reg;
    nsl_resolver *res;
} loaded;

static void finish_load(loaded *l, nsl_config_status st, nsl_diags *d)
{
    if (st == NSL_CONFIG_OK)
        l->reg = nsl_registry_build(l->cfg, d);
    if (l->reg)
        l->res = nsl_resolver_new(l->reg, d);
    if (l->res == NULL || nsl_diags_count(d, NSL_DIAG_ERROR) > 0) {
        nsl_diags_print(d, stdout);
        fail_msg("configuration did not load");
    }
    nsl_diags_free(d);
}

static void load_file(loaded *l, const char *path)
{
    nsl_diags d;
    nsl_diags_init(&d);
    memset(l, 0, sizeof *l);
    finish_load(l, nsl_config_load_file(path, &l->cfg, &d), &d);
}

static void load_text(loaded *l, const char *yaml)
{
    nsl_diags d;
    nsl_diags_init(&d);
    memset(l, 0, sizeof *l);
    finish_load(l, nsl_config_load_buffer("test.yaml", yaml, strlen(yaml), &l->cfg, &d), &d);
}

static void unload(loaded *l)
{
    nsl_resolver_free(l->res);
    nsl_registry_free(l->reg);
    nsl_config_free(l->cfg);
}

static void parse(const char *text, nsl_lockname *out)
{
    nsl_error err = {0};
    if (nsl_lockname_parse(text, strlen(text), NULL, out, &err) != NSL_OK)
        fail_msg("cannot parse %s: %s", text, err.message);
}

static uint32_t ns_id(const loaded *l, const char *name)
{
    const nsl_namespace *ns = nsl_registry_find_namespace(l->reg, name);
    if (ns == NULL)
        fail_msg("no namespace %s", name);
    return ns->id;
}

/* ---- table-driven cases ------------------------------------------------------ */

typedef struct expect_db {
    const char *db;
    nsl_rule_kind rule;
    const char *mapping;           /* rule text of the deciding mapping, or NULL */
} expect_db;

typedef struct resolve_case {
    const char *ns;
    const char *name;
    const char *resolved_ns;       /* namespace_id afterwards; NULL: same as ns */
    expect_db dbs[6];              /* in database-id order, ended by db == NULL */
} resolve_case;

static void describe(const loaded *l, const nsl_resolution *res, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < res->count && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s/%s/%s", i ? ", " : "",
                              nsl_registry_database(l->reg, res->dbs[i].db)->name,
                              nsl_rule_kind_name(res->dbs[i].rule),
                              res->dbs[i].mapping ? res->dbs[i].mapping->rule : "-");
}

static void check_case(const loaded *l, const resolve_case *c)
{
    nsl_lockname name;
    nsl_resolution res;
    nsl_error err = {0};
    parse(c->name, &name);
    nsl_code rc = nsl_resolve(l->res, ns_id(l, c->ns), &name, &res, &err);
    if (rc != NSL_OK)
        fail_msg("%s in %s: %s", c->name, c->ns, err.message);
    size_t n = 0;
    while (c->dbs[n].db)
        n++;
    bool same = res.count == n
             && res.namespace_id == ns_id(l, c->resolved_ns ? c->resolved_ns : c->ns);
    for (size_t i = 0; i < n && same; i++) {
        const nsl_resolved_db *got = &res.dbs[i];
        same = strcmp(nsl_registry_database(l->reg, got->db)->name, c->dbs[i].db) == 0
            && got->rule == c->dbs[i].rule
            && (c->dbs[i].mapping ? got->mapping && strcmp(got->mapping->rule, c->dbs[i].mapping) == 0
                                  : got->mapping == NULL);
    }
    if (!same) {
        char text[1024];
        describe(l, &res, text, sizeof text);
        fail_msg("%s in %s resolved to: %s", c->name, c->ns, text);
    }
}

#define MAP       NSL_RULE_MAP
#define SUBTREE   NSL_RULE_SUBTREE
#define GLOBALS   NSL_RULE_GLOBALS
#define NAMESPACE NSL_RULE_NAMESPACE

/* The worked cases of docs/LANGUAGE.md, in their order: acceptance tests. */
static const resolve_case spec_cases[] = {
    {"ALPHA", "^MyGlobal(15)", NULL, {{"ALPHADB", GLOBALS, NULL}}},
    {"BETA", "^MyGlobal(15)", NULL,
     {{"ALPHADB", MAP, "MyGlobal(15)"}, {"BETADB", NAMESPACE, NULL}}},
    {"BETA", "^MyGlobal(15,3)", NULL,
     {{"ALPHADB", MAP, "MyGlobal(15)"}, {"BETADB", NAMESPACE, NULL}}},
    {"BETA", "^MyGlobal(16)", NULL, {{"BETADB", GLOBALS, NULL}}},
    {"BETA", "^MyGlobal", NULL,
     {{"ALPHADB", SUBTREE, "MyGlobal(15)"}, {"BETADB", GLOBALS, NULL}}},
    {"BETA", "^Config(1)", NULL, {{"ALPHADB", MAP, "Config"}, {"BETADB", NAMESPACE, NULL}}},
    {"ALPHA", "^[\"BETA\"]MyGlobal(16)", "BETA", {{"BETADB", GLOBALS, NULL}}},
    {"USER", "^[\"^^/data/alpha\"]X", NULL, {{"ALPHADB", NSL_RULE_IMPLIED, NULL}}},
    {"BETA", "x(1)", NULL, {{"USERDB", NSL_RULE_LOCAL, NULL}}},
};

/* More of the same configuration: range bounds, wildcard, whole globals. */
static const resolve_case example_cases[] = {
    /* Orders(1):(1000): 1 in, 999.5 in, 1000 out; strings after numbers */
    {"BETA", "^Orders(1)", NULL, {{"ALPHADB", MAP, "Orders(1):(1000)"}, {"BETADB", NAMESPACE, NULL}}},
    {"BETA", "^Orders(1,\"x\")", NULL,
     {{"ALPHADB", MAP, "Orders(1):(1000)"}, {"BETADB", NAMESPACE, NULL}}},
    {"BETA", "^Orders(999.5)", NULL,
     {{"ALPHADB", MAP, "Orders(1):(1000)"}, {"BETADB", NAMESPACE, NULL}}},
    {"BETA", "^Orders(1000)", NULL, {{"BETADB", GLOBALS, NULL}}},
    {"BETA", "^Orders(.5)", NULL, {{"BETADB", GLOBALS, NULL}}},
    {"BETA", "^Orders(-5)", NULL, {{"BETADB", GLOBALS, NULL}}},
    {"BETA", "^Orders(\"\")", NULL, {{"BETADB", GLOBALS, NULL}}},
    {"BETA", "^Orders(\"A\")", NULL,
     {{"USERDB", MAP, "Orders(\"A\"):(END)"}, {"BETADB", NAMESPACE, NULL}}},
    {"BETA", "^Orders(\"@\")", NULL, {{"BETADB", GLOBALS, NULL}}},
    {"BETA", "^Orders(\"zzz\",1)", NULL,
     {{"USERDB", MAP, "Orders(\"A\"):(END)"}, {"BETADB", NAMESPACE, NULL}}},
    {"BETA", "^Orders(\"999\")", NULL,   /* "999" is the number 999 */
     {{"ALPHADB", MAP, "Orders(1):(1000)"}, {"BETADB", NAMESPACE, NULL}}},
    /* the whole global: every database of its tree */
    {"BETA", "^Orders", NULL,
     {{"USERDB", SUBTREE, "Orders(\"A\"):(END)"}, {"ALPHADB", SUBTREE, "Orders(1):(1000)"},
      {"BETADB", GLOBALS, NULL}}},
    {"BETA", "^Config", NULL, {{"ALPHADB", MAP, "Config"}, {"BETADB", NAMESPACE, NULL}}},
    /* Log*: ^Log, ^Log(1), ^Logger, not ^Lo nor ^LoG */
    {"BETA", "^Log", NULL, {{"USERDB", MAP, "Log*"}, {"BETADB", NAMESPACE, NULL}}},
    {"BETA", "^Log(1)", NULL, {{"USERDB", MAP, "Log*"}, {"BETADB", NAMESPACE, NULL}}},
    {"BETA", "^Logger", NULL, {{"USERDB", MAP, "Log*"}, {"BETADB", NAMESPACE, NULL}}},
    {"BETA", "^Lo", NULL, {{"BETADB", GLOBALS, NULL}}},
    {"BETA", "^LoG", NULL, {{"BETADB", GLOBALS, NULL}}},
    /* globals never mapped: one entry */
    {"BETA", "^Other(1)", NULL, {{"BETADB", GLOBALS, NULL}}},
    {"USER", "^Orders", NULL, {{"USERDB", GLOBALS, NULL}}},
    /* extended references: case-insensitive, both bracket forms, from anywhere */
    {"USER", "^[\"beta\"]Config(1)", "BETA",
     {{"ALPHADB", MAP, "Config"}, {"BETADB", NAMESPACE, NULL}}},
    {"USER", "^|\"BETA\"|MyGlobal", "BETA",
     {{"ALPHADB", SUBTREE, "MyGlobal(15)"}, {"BETADB", GLOBALS, NULL}}},
    {"BETA", "^[\"ALPHA\",\"SYS\"]Config(1)", "ALPHA", {{"ALPHADB", GLOBALS, NULL}}},
    {"BETA", "^[\"^^/data/beta\"]Config(1)", NULL, {{"BETADB", NSL_RULE_IMPLIED, NULL}}},
    /* local names ignore the namespace */
    {"ALPHA", "x", NULL, {{"USERDB", NSL_RULE_LOCAL, NULL}}},
};

static void test_spec_worked_cases(void **state)
{
    (void)state;
    loaded l;
    load_file(&l, EXAMPLE);
    for (size_t i = 0; i < sizeof spec_cases / sizeof spec_cases[0]; i++)
        check_case(&l, &spec_cases[i]);
    unload(&l);
}

static void test_example_cases(void **state)
{
    (void)state;
    loaded l;
    load_file(&l, EXAMPLE);
    for (size_t i = 0; i < sizeof example_cases / sizeof example_cases[0]; i++)
        check_case(&l, &example_cases[i]);
    unload(&l);
}

/* "Log(1) beats Log beats Log* beats L*" (docs/CONFIG.md). */
static const char precedence_yaml[] =
    "databases:\n"
    "  D0: { directory: /d0 }\n"
    "  D1: { directory: /d1 }\n"
    "  D2: { directory: /d2 }\n"
    "  D3: { directory: /d3 }\n"
    "  D4: { directory: /d4 }\n"
    "namespaces:\n"
    "  P:\n"
    "    globals: D0\n"
    "    map:\n"
    "      L*: D1\n"
    "      Log*: D2\n"
    "      Log: D3\n"
    "      Log(1): D4\n"
    "      'G(BEGIN):(END)': D1\n"
    "      H(1,5):(3): D2\n"
    "      '%*': D3\n";

static const resolve_case precedence_cases[] = {
    {"P", "^Log(1)", NULL, {{"D0", NAMESPACE, NULL}, {"D4", MAP, "Log(1)"}}},
    {"P", "^Log(1,2)", NULL, {{"D0", NAMESPACE, NULL}, {"D4", MAP, "Log(1)"}}},
    {"P", "^Log(2)", NULL, {{"D0", NAMESPACE, NULL}, {"D3", MAP, "Log"}}},
    {"P", "^Log", NULL, {{"D0", NAMESPACE, NULL}, {"D3", MAP, "Log"}, {"D4", SUBTREE, "Log(1)"}}},
    {"P", "^Logger", NULL, {{"D0", NAMESPACE, NULL}, {"D2", MAP, "Log*"}}},
    {"P", "^Lo", NULL, {{"D0", NAMESPACE, NULL}, {"D1", MAP, "L*"}}},
    {"P", "^L", NULL, {{"D0", NAMESPACE, NULL}, {"D1", MAP, "L*"}}},
    {"P", "^M", NULL, {{"D0", GLOBALS, NULL}}},
    {"P", "^K(1)", NULL, {{"D0", GLOBALS, NULL}}},
    /* (BEGIN):(END): the children, not ^G itself */
    {"P", "^G", NULL, {{"D0", GLOBALS, NULL}, {"D1", SUBTREE, "G(BEGIN):(END)"}}},
    {"P", "^G(\"\")", NULL, {{"D0", NAMESPACE, NULL}, {"D1", MAP, "G(BEGIN):(END)"}}},
    {"P", "^G(-1E20)", NULL, {{"D0", NAMESPACE, NULL}, {"D1", MAP, "G(BEGIN):(END)"}}},
    {"P", "^G(\"zz\")", NULL, {{"D0", NAMESPACE, NULL}, {"D1", MAP, "G(BEGIN):(END)"}}},
    /* a range whose lower bound is deeper: ^H(1) is outside, part of its
     * subtree inside; ^H(2) and its whole subtree inside */
    {"P", "^H(1)", NULL, {{"D0", GLOBALS, NULL}, {"D2", SUBTREE, "H(1,5):(3)"}}},
    {"P", "^H(1,4)", NULL, {{"D0", GLOBALS, NULL}}},
    {"P", "^H(1,5)", NULL, {{"D0", NAMESPACE, NULL}, {"D2", MAP, "H(1,5):(3)"}}},
    {"P", "^H(2,\"x\")", NULL, {{"D0", NAMESPACE, NULL}, {"D2", MAP, "H(1,5):(3)"}}},
    {"P", "^H(3)", NULL, {{"D0", GLOBALS, NULL}}},
    {"P", "^H", NULL, {{"D0", GLOBALS, NULL}, {"D2", SUBTREE, "H(1,5):(3)"}}},
    /* wildcards on % names */
    {"P", "^%", NULL, {{"D0", NAMESPACE, NULL}, {"D3", MAP, "%*"}}},
    {"P", "^%Z9(1)", NULL, {{"D0", NAMESPACE, NULL}, {"D3", MAP, "%*"}}},
    {"P", "^A", NULL, {{"D0", GLOBALS, NULL}}},
};

static void test_precedence(void **state)
{
    (void)state;
    loaded l;
    load_text(&l, precedence_yaml);
    for (size_t i = 0; i < sizeof precedence_cases / sizeof precedence_cases[0]; i++)
        check_case(&l, &precedence_cases[i]);
    unload(&l);
}

/* A subtree spanning many segments takes the per-database search path. */
static void test_subtree_over_many_segments(void **state)
{
    (void)state;
    char yaml[8192];
    size_t n = (size_t)snprintf(yaml, sizeof yaml,
                                "databases:\n  D0: { directory: /d0 }\n  D1: { directory: /d1 }\n"
                                "  D2: { directory: /d2 }\n  D3: { directory: /d3 }\n"
                                "namespaces:\n  P:\n    globals: D0\n    map:\n");
    for (int i = 0; i < 60; i++)   /* G(0):(10) D3, G(10):(20) D2, G(20):(30) D1, G(30):(40) D3 ... */
        n += (size_t)snprintf(yaml + n, sizeof yaml - n, "      G(%d):(%d): D%d\n", i * 10,
                              i * 10 + 10, 3 - i % 3);
    n += (size_t)snprintf(yaml + n, sizeof yaml - n, "      G(1000,1): D1\n");
    loaded l;
    load_text(&l, yaml);
    static const resolve_case cases[] = {
        {"P", "^G", NULL, {{"D0", GLOBALS, NULL}, {"D1", SUBTREE, "G(20):(30)"},
                           {"D2", SUBTREE, "G(10):(20)"}, {"D3", SUBTREE, "G(0):(10)"}}},
        {"P", "^G(15)", NULL, {{"D0", NAMESPACE, NULL}, {"D2", MAP, "G(10):(20)"}}},
        {"P", "^G(600)", NULL, {{"D0", GLOBALS, NULL}}},
        {"P", "^G(1000)", NULL, {{"D0", GLOBALS, NULL}, {"D1", SUBTREE, "G(1000,1)"}}},
        {"P", "^G(-1)", NULL, {{"D0", GLOBALS, NULL}}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&l, &cases[i]);
    unload(&l);
}

static void expect_error(const loaded *l, const char *ns, const char *text, const char *message)
{
    nsl_lockname name;
    nsl_resolution res;
    nsl_error err = {0};
    parse(text, &name);
    assert_int_equal(nsl_resolve(l->res, ns_id(l, ns), &name, &res, &err), NSL_NAMESPACE);
    assert_int_equal(err.code, NSL_NAMESPACE);
    assert_string_equal(err.message, message);
}

static void test_extended_errors(void **state)
{
    (void)state;
    loaded l;
    load_file(&l, EXAMPLE);
    expect_error(&l, "USER", "^[\"GAMMA\"]X(1)", "unknown namespace \"GAMMA\"");
    expect_error(&l, "USER", "^|\"USERS\"|X", "unknown namespace \"USERS\"");
    expect_error(&l, "BETA", "^[\"^^/data/gamma\"]X",
                 "no database has the directory \"/data/gamma\" (in ^[\"^^/data/gamma\"])");
    expect_error(&l, "BETA", "^[\"^^data/alpha\"]X",
                 "no database has the directory \"data/alpha\" (in ^[\"^^data/alpha\"])");
    /* an unknown namespace id is refused, not read out of bounds */
    nsl_lockname name;
    nsl_resolution res;
    nsl_error err = {0};
    parse("^X", &name);
    assert_int_equal(nsl_resolve(l.res, 12345, &name, &res, &err), NSL_NAMESPACE);
    unload(&l);
}

/* ---- randomized: nsl_resolve against a naive scan ------------------------------ */

#include "mapping_gen.h"

static uint64_t test_seed(void)
{
    const char *s = getenv("NSL_TEST_SEED");
    return s && *s ? strtoull(s, NULL, 0) : 20240611u;
}

static void test_randomized_against_naive_scan(void **state)
{
    (void)state;
    uint64_t seed = test_seed();
    gen *g = calloc(1, sizeof *g);
    tname *names = calloc(200, sizeof *names);
    char *yaml = malloc(65536);
    nsl_resolution *res = malloc(sizeof *res);
    assert_true(g && names && yaml && res);
    g->rng = seed * 2 + 1;   /* xorshift needs a non-zero state */
    long cases = 0;
    for (int round = 0; round < 60; round++) {
        gen_rules(g);
        config_text(g, yaml, 65536);
        loaded l;
        load_text(&l, yaml);
        uint32_t ns = ns_id(&l, "P");
        for (int i = 0; i < 200; i++)
            gen_name(g, &names[i]);
        for (int i = 0; i < 200; i++, cases++) {
            const tname *n = &names[i];
            nsl_lockname ln;
            nsl_error err = {0};
            parse(n->text, &ln);
            assert_int_equal(nsl_resolve(l.res, ns, &ln, res, &err), NSL_OK);

            /* (1) the node's own database: the innermost containing rule */
            int want = innermost(g, n);
            int want_db = want < 0 ? 0 : g->rules[want].db;
            const nsl_resolved_db *own = NULL;
            for (uint32_t k = 0; k < res->count; k++)
                if (res->dbs[k].rule == NSL_RULE_MAP || res->dbs[k].rule == NSL_RULE_GLOBALS)
                    own = own ? NULL : &res->dbs[k];
            bool ok = own && (int)own->db == want_db
                   && (want < 0 ? own->rule == NSL_RULE_GLOBALS && !own->mapping
                                : own->rule == NSL_RULE_MAP && own->mapping
                                  && strcmp(own->mapping->rule, g->rules[want].text) == 0);
            /* (2) every database of a node below it is in the set */
            for (int j = 0; j < 200 && ok; j++) {
                if (!is_descendant(&names[j], n))
                    continue;
                int w = innermost(g, &names[j]);
                uint32_t db = w < 0 ? 0 : (uint32_t)g->rules[w].db;
                bool found = false;
                for (uint32_t k = 0; k < res->count; k++)
                    found |= res->dbs[k].db == db;
                ok = found;
            }
            /* (3) the namespace's own database when the global is mapped */
            bool has_ns = false, has_d0 = false;
            for (uint32_t k = 0; k < res->count; k++) {
                has_ns |= res->dbs[k].rule == NSL_RULE_NAMESPACE;
                has_d0 |= res->dbs[k].db == 0;
                ok &= k == 0 || res->dbs[k - 1].db < res->dbs[k].db;   /* ordered, distinct */
            }
            if (global_mapped(g, n))
                ok &= has_d0;
            else
                ok &= !has_ns && res->count >= 1;
            if (!ok) {
                char text[1024];
                describe(&l, res, text, sizeof text);
                print_message("seed %llu (NSL_TEST_SEED), round %d, case %ld\n%s\n", (unsigned long long)seed,
                              round, cases, yaml);
                fail_msg("%s resolved to %s; the innermost rule is %s (D%d)", n->text, text,
                         want < 0 ? "none" : g->rules[want].text, want_db);
            }
        }
        unload(&l);
    }
    assert_true(cases >= 10000);
    free(res);
    free(yaml);
    free(names);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_worked_cases),
        cmocka_unit_test(test_example_cases),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_subtree_over_many_segments),
        cmocka_unit_test(test_extended_errors),
        cmocka_unit_test(test_randomized_against_naive_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
