/* Compiling namespace maps: rule diagnostics (exact messages and positions)
 * and the effective map of docs/CONFIG.md's example (nslock map). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mapping/mapping.h"

/* Three databases; namespace N (globals A) with the given map lines. */
static const char *const header =
    "databases:\n"                 /* line 1 */
    "  A: { directory: /a }\n"
    "  B: { directory: /b }\n"
    "  C: { directory: /c }\n"
    "namespaces:\n"                /* line 5 */
    "  M: { globals: C }\n"
    "  N:\n"
    "    globals: A\n"
    "    map:\n";                  /* rules start at line 10, column 7 */

typedef struct loaded {
    nsl_config *cfg;
    nsl_registry *reg;
    nsl_resolver *res;
    char *diags;                   /* every diagnostic, printed and sorted */
} loaded;

static void load(loaded *l, const char *yaml)
{
    nsl_diags d;
    nsl_diags_init(&d);
    memset(l, 0, sizeof *l);
    nsl_config_status st = nsl_config_load_buffer("t.yaml", yaml, strlen(yaml), &l->cfg, &d);
    if (st != NSL_CONFIG_UNREADABLE && l->cfg)
        l->reg = nsl_registry_build(l->cfg, &d);
    if (l->reg)
        l->res = nsl_resolver_new(l->reg, &d);
    nsl_diags_sort(&d);
    size_t size = 0;
    FILE *f = open_memstream(&l->diags, &size);
    assert_non_null(f);
    nsl_diags_print(&d, f);
    fclose(f);
    nsl_diags_free(&d);
}

static void unload(loaded *l)
{
    nsl_resolver_free(l->res);
    nsl_registry_free(l->reg);
    nsl_config_free(l->cfg);
    free(l->diags);
}

/* Loads header + the map lines and returns the diagnostics. */
static void load_map(loaded *l, const char *map_lines)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "%s%s", header, map_lines);
    load(l, yaml);
}

typedef struct diag_case {
    const char *map;        /* map lines, each "      RULE: DB\n" */
    const char *expected;   /* the exact diagnostics */
    bool builds;            /* the resolver is built (warnings only) */
} diag_case;

static const diag_case diag_cases[] = {
    /* malformed subscripts: the column points into the rule */
    {"      Orders(1:(5)): B\n",
     "t.yaml:10:15: error: malformed mapping `Orders(1:(5))`: expected ')' or ',' after subscript, found ':'\n",
     false},
    {"      Orders(\"a): B\n",
     "t.yaml:10:14: error: malformed mapping `Orders(\"a)`: unterminated string\n", false},
    {"      Orders(1)x: B\n",
     "t.yaml:10:16: error: malformed mapping `Orders(1)x`: expected `:` and a second bound, or the end of the rule\n",
     false},
    {"      Orders(1):5: B\n",
     "t.yaml:10:17: error: malformed mapping `Orders(1):5`: expected `(` after `:`\n", false},
    {"      Orders:(5): B\n",
     "t.yaml:10:13: error: malformed mapping `Orders:(5)`: a range needs subscripts on both sides, as in `G(1):(10)`\n",
     false},
    {"      Log*x: B\n",
     "t.yaml:10:11: error: malformed mapping `Log*x`: `*` must end the rule\n", false},
    {"      Orders(BEGIN): B\n",
     "t.yaml:10:13: error: malformed mapping `Orders(BEGIN)`: (BEGIN) and (END) only bound a range, as in `G(BEGIN):(5)`\n",
     false},
    {"      Orders(1):(END)x: B\n",
     "t.yaml:10:22: error: malformed mapping `Orders(1):(END)x`: unexpected text after the range\n",
     false},
    {"      (1): B\n",
     "t.yaml:10:7: error: malformed mapping `(1)`: missing global name\n", false},
    /* invalid global names */
    {"      1abc: B\n",
     "t.yaml:10:7: error: invalid global name `1abc`: a name starts with a letter or `%`\n", false},
    {"      Ab-c: B\n",
     "t.yaml:10:9: error: invalid global name `Ab-c`: `-` is not allowed in a name (letters, digits and `.`)\n",
     false},
    {"      ^Config: B\n",
     "t.yaml:10:7: error: invalid global name `^Config`: map rules name globals without the `^`\n", false},
    {"      Abcdefghijabcdefghijabcdefghij12: B\n",
     "t.yaml:10:7: error: invalid global name `Abcdefghijabcdefghijabcdefghij12`: longer than 31 characters\n",
     false},
    /* empty and reversed ranges */
    {"      Orders(10):(5): B\n",
     "t.yaml:10:7: error: reversed range `Orders(10):(5)`: ^Orders(10) sorts after ^Orders(5)\n", false},
    {"      Orders(5):(\"5\"): B\n",
     "t.yaml:10:7: error: empty range `Orders(5):(\"5\")`: both bounds are ^Orders(5)\n", false},
    {"      Orders(5,1):(5): B\n",
     "t.yaml:10:7: error: reversed range `Orders(5,1):(5)`: ^Orders(5,1) sorts after ^Orders(5)\n", false},
    {"      Orders(END):(BEGIN): B\n",
     "t.yaml:10:7: error: reversed range `Orders(END):(BEGIN)`: ^Orders(END) sorts after ^Orders(BEGIN)\n",
     false},
    {"      Orders(BEGIN):(\"\"): B\n",
     "t.yaml:10:7: error: empty range `Orders(BEGIN):(\"\")`: both bounds are ^Orders(\"\")\n", false},
    /* partial overlaps: reported at the later rule, naming the earlier */
    {"      Orders(1):(10): B\n"
     "      Orders(5):(20): C\n",
     "t.yaml:11:7: error: mapping `Orders(5):(20)` overlaps `Orders(1):(10)` at 10:7; mappings must be disjoint or nested\n",
     false},
    {"      Orders(5):(20): C\n"
     "      Orders(1):(10): B\n",
     "t.yaml:11:7: error: mapping `Orders(1):(10)` overlaps `Orders(5):(20)` at 10:7; mappings must be disjoint or nested\n",
     false},
    {"      Orders(1,5):(3): B\n"
     "      Orders(1): C\n",
     "t.yaml:11:7: error: mapping `Orders(1)` overlaps `Orders(1,5):(3)` at 10:7; mappings must be disjoint or nested\n",
     false},
    /* duplicates: the same nodes written twice */
    {"      Orders(1): B\n"
     "      Orders(01): C\n",
     "t.yaml:11:7: error: duplicate mapping: `Orders(01)` covers the same nodes as `Orders(1)` at 10:7\n",
     false},
    {"      Orders(BEGIN):(5): B\n"
     "      Orders(\"\"):(5.0): B\n",
     "t.yaml:11:7: error: duplicate mapping: `Orders(\"\"):(5.0)` covers the same nodes as `Orders(BEGIN):(5)` at 10:7\n",
     false},
    /* every problem is reported, not just the first */
    {"      1x: B\n"
     "      Orders(2):(1): B\n"
     "      Orders(1):(10): B\n"
     "      Orders(5):(20): C\n",
     "t.yaml:10:7: error: invalid global name `1x`: a name starts with a letter or `%`\n"
     "t.yaml:11:7: error: reversed range `Orders(2):(1)`: ^Orders(2) sorts after ^Orders(1)\n"
     "t.yaml:13:7: error: mapping `Orders(5):(20)` overlaps `Orders(1):(10)` at 12:7; mappings must be disjoint or nested\n",
     false},
    /* warnings: shadowed and redundant rules; the map still builds */
    {"      Orders(1):(10): B\n"
     "      Orders(1):(5): C\n"
     "      Orders(5):(10): C\n",
     "t.yaml:10:7: warning: mapping `Orders(1):(10)` never applies: more specific mappings cover every node it covers\n",
     true},
    {"      Orders(1):(10): B\n"
     "      Orders(5): B\n"
     "      Config: A\n",
     "t.yaml:11:7: warning: mapping `Orders(5)` is redundant: `Orders(1):(10)` at 10:7 already maps its nodes to B\n"
     "t.yaml:12:7: warning: mapping `Config` is redundant: A is the globals database of namespace N\n",
     true},
    /* not shadowed: ^G itself stays with G, and nested rules with gaps */
    {"      Orders: B\n"
     "      Orders(BEGIN):(END): C\n"
     "      Log*: B\n"
     "      Log: C\n"
     "      Ranges(1):(10): B\n"
     "      Ranges(1):(5): C\n"
     "      Ranges(6):(10): C\n",
     "", true},
};

static void test_rule_diagnostics(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof diag_cases / sizeof diag_cases[0]; i++) {
        loaded l;
        load_map(&l, diag_cases[i].map);
        if (strcmp(l.diags, diag_cases[i].expected) != 0)
            print_message("case %zu:\n%s\nexpected:\n%s\ngot:\n%s\n", i, diag_cases[i].map,
                          diag_cases[i].expected, l.diags);
        assert_string_equal(l.diags, diag_cases[i].expected);
        assert_int_equal(l.res != NULL, diag_cases[i].builds);
        unload(&l);
    }
}

/* ---- the effective map ---------------------------------------------------- */

typedef struct range_row {
    const char *from, *to, *db, *rule;   /* rule NULL: the globals */
} range_row;

static bool range_matches(const loaded *l, const nsl_map_range *r, const range_row *row)
{
    return r && strcmp(r->from, row->from) == 0 && strcmp(r->to, row->to) == 0
        && strcmp(nsl_registry_database(l->reg, r->db)->name, row->db) == 0
        && (row->rule ? r->mapping && strcmp(r->mapping->rule, row->rule) == 0
                      : r->mapping == NULL);
}

static void check_map(const loaded *l, const char *ns_name, const range_row *rows, size_t n)
{
    assert_non_null(l->res);
    const nsl_namespace *ns = nsl_registry_find_namespace(l->reg, ns_name);
    assert_non_null(ns);
    size_t count = nsl_resolver_map_count(l->res, ns->id);
    bool same = count == n;
    for (size_t i = 0; i < n && same; i++)
        same = range_matches(l, nsl_resolver_map_range(l->res, ns->id, i), &rows[i]);
    if (!same) {
        print_message("map of %s:\n", ns_name);
        for (size_t i = 0; i < count; i++) {
            const nsl_map_range *r = nsl_resolver_map_range(l->res, ns->id, i);
            print_message("  %-20s %-20s %-8s %s\n", r->from, r->to,
                          nsl_registry_database(l->reg, r->db)->name,
                          r->mapping ? r->mapping->rule : "(globals)");
        }
    }
    assert_true(same);
    assert_null(nsl_resolver_map_range(l->res, ns->id, n));
}

static void test_effective_map_of_spec_example(void **state)
{
    (void)state;
    loaded l;
    load(&l, "databases:\n"
             "  USERDB:  { directory: /data/user }\n"
             "  ALPHADB: { directory: /data/alpha }\n"
             "  BETADB:  { directory: /data/beta }\n"
             "namespaces:\n"
             "  USER:  { globals: USERDB }\n"
             "  ALPHA: { globals: ALPHADB }\n"
             "  BETA:\n"
             "    globals: BETADB\n"
             "    map:\n"
             "      Config: ALPHADB\n"
             "      MyGlobal(15): ALPHADB\n"
             "      Orders(1):(1000): ALPHADB\n"
             "      Orders(\"A\"):(END): USERDB\n"
             "      Log*: USERDB\n");
    assert_string_equal(l.diags, "");
    static const range_row beta[] = {
        {"^%", "^Config", "BETADB", NULL},
        {"^Config", "^Config(END)", "ALPHADB", "Config"},
        {"^Config(END)", "^Log", "BETADB", NULL},
        {"^Log", "^Loh", "USERDB", "Log*"},
        {"^Loh", "^MyGlobal(15)", "BETADB", NULL},
        {"^MyGlobal(15)", "^MyGlobal(15,END)", "ALPHADB", "MyGlobal(15)"},
        {"^MyGlobal(15,END)", "^Orders(1)", "BETADB", NULL},
        {"^Orders(1)", "^Orders(1000)", "ALPHADB", "Orders(1):(1000)"},
        {"^Orders(1000)", "^Orders(\"A\")", "BETADB", NULL},
        {"^Orders(\"A\")", "^Orders(END)", "USERDB", "Orders(\"A\"):(END)"},
        {"^Orders(END)", "...", "BETADB", NULL},
    };
    check_map(&l, "BETA", beta, sizeof beta / sizeof beta[0]);
    static const range_row alpha[] = {{"^%", "...", "ALPHADB", NULL}};
    check_map(&l, "ALPHA", alpha, 1);
    unload(&l);
}

/* BEGIN shows as the first child ^G(""); nested rules split their parent;
 * wildcard ends carry over (Az* ends at ^B), a rule at ^% leaves nothing
 * before it, and zz* runs to the end. */
static void test_effective_map_edges(void **state)
{
    (void)state;
    loaded l;
    load_map(&l, "      'G(BEGIN):(5)': B\n"
                 "      G(2): C\n"
                 "      H(1,\"x\"):(2): B\n"
                 "      '%*': C\n"
                 "      Az*: B\n"
                 "      zz*: C\n");
    assert_string_equal(l.diags, "");
    static const range_row rows[] = {
        {"^%", "^A", "C", "%*"},
        {"^A", "^Az", "A", NULL},
        {"^Az", "^B", "B", "Az*"},
        {"^B", "^G(\"\")", "A", NULL},
        {"^G(\"\")", "^G(2)", "B", "G(BEGIN):(5)"},
        {"^G(2)", "^G(2,END)", "C", "G(2)"},
        {"^G(2,END)", "^G(5)", "B", "G(BEGIN):(5)"},
        {"^G(5)", "^H(1,\"x\")", "A", NULL},
        {"^H(1,\"x\")", "^H(2)", "B", "H(1,\"x\"):(2)"},
        {"^H(2)", "^zz", "A", NULL},
        {"^zz", "...", "C", "zz*"},
    };
    check_map(&l, "N", rows, sizeof rows / sizeof rows[0]);
    unload(&l);
}

/* The embedded default: one namespace, one database, one range. */
static void test_effective_map_of_default(void **state)
{
    (void)state;
    nsl_diags d;
    nsl_diags_init(&d);
    nsl_config *cfg = nsl_config_default();
    assert_non_null(cfg);
    nsl_registry *reg = nsl_registry_build(cfg, &d);
    assert_non_null(reg);
    nsl_resolver *res = nsl_resolver_new(reg, &d);
    assert_non_null(res);
    assert_int_equal(nsl_diags_count(&d, NSL_DIAG_ERROR), 0);
    const nsl_namespace *ns = nsl_registry_default_namespace(reg);
    assert_int_equal(nsl_resolver_map_count(res, ns->id), 1);
    const nsl_map_range *r = nsl_resolver_map_range(res, ns->id, 0);
    assert_string_equal(r->from, "^%");
    assert_string_equal(r->to, "...");
    assert_null(r->mapping);
    assert_int_equal(nsl_resolver_map_count(res, 9999), 0);
    assert_null(nsl_resolver_map_range(res, 9999, 0));
    assert_ptr_equal(nsl_resolver_registry(res), reg);
    nsl_resolver_free(res);
    nsl_registry_free(reg);
    nsl_config_free(cfg);
    nsl_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_diagnostics),
        cmocka_unit_test(test_effective_map_of_spec_example),
        cmocka_unit_test(test_effective_map_edges),
        cmocka_unit_test(test_effective_map_of_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
