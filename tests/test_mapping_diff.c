/* map --diff (nsl_map_diff_compute): exact changes for the typical edits,
 * and a randomized property over generated pairs of maps — a name is
 * reported as moving exactly when resolving it under the two maps gives
 * different sets of databases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mapping/mapping.h"
#include "mapping_gen.h"

typedef struct loaded {
    nsl_config *cfg;
    nsl_registry *reg;
    nsl_resolver *res;
} loaded;

/* false (nothing kept) when the text is not a valid configuration. */
static bool try_load(loaded *l, const char *yaml)
{
    nsl_diags d;
    nsl_diags_init(&d);
    memset(l, 0, sizeof *l);
    if (nsl_config_load_buffer("t.yaml", yaml, strlen(yaml), &l->cfg, &d) == NSL_CONFIG_OK)
        l->reg = nsl_registry_build(l->cfg, &d);
    if (l->reg)
        l->res = nsl_resolver_new(l->reg, &d);
    bool ok = l->res && nsl_diags_count(&d, NSL_DIAG_ERROR) == 0;
    nsl_diags_free(&d);
    if (!ok) {
        nsl_resolver_free(l->res);
        nsl_registry_free(l->reg);
        nsl_config_free(l->cfg);
        memset(l, 0, sizeof *l);
    }
    return ok;
}

static void load(loaded *l, const char *yaml)
{
    if (!try_load(l, yaml))
        fail_msg("configuration did not load:\n%s", yaml);
}

static void unload(loaded *l)
{
    nsl_resolver_free(l->res);
    nsl_registry_free(l->reg);
    nsl_config_free(l->cfg);
}

/* The changes as lines "NS KIND FROM TO OLD -> NEW". */
static char *changes_text(const char *old_yaml, const char *new_yaml, const char *ns)
{
    loaded o, n;
    load(&o, old_yaml);
    load(&n, new_yaml);
    nsl_map_diff d;
    nsl_error err = {0};
    assert_int_equal(nsl_map_diff_compute(o.res, n.res, ns, &d, &err), NSL_OK);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    static const char *const kinds[] = {"range", "node", "locals", "namespace"};
    for (size_t i = 0; i < d.count; i++) {
        const nsl_map_change *c = &d.changes[i];
        fprintf(f, "%s %s %s %s %s -> %s\n", c->namespace ? c->namespace : "-", kinds[c->kind],
                c->from ? c->from : "-", c->to ? c->to : "-", c->old_dbs, c->new_dbs);
    }
    fclose(f);
    nsl_map_diff_free(&d);
    unload(&o);
    unload(&n);
    return text;
}

#define DBS "databases:\n  A: { directory: /a }\n  B: { directory: /b }\n  C: { directory: /c }\n"

static void expect_changes(const char *old_map, const char *new_map, const char *want)
{
    char old_yaml[2048], new_yaml[2048];
    snprintf(old_yaml, sizeof old_yaml, DBS "namespaces:\n  N:\n    globals: A\n    map:\n%s", old_map);
    snprintf(new_yaml, sizeof new_yaml, DBS "namespaces:\n  N:\n    globals: A\n    map:\n%s", new_map);
    char *got = changes_text(old_yaml, new_yaml, NULL);
    assert_string_equal(got, want);
    free(got);
}

static void test_one_range_moves(void **state)
{
    (void)state;
    /* ^Orders itself moves too: its subtree holds the range (rule 2). */
    expect_changes("      Orders(1):(1000): B\n", "      Orders(1):(1000): C\n",
                   "N node ^Orders - A,B -> A,C\n"
                   "N range ^Orders(1) ^Orders(1000) A,B -> A,C\n");
    /* The range grows: only the new part moves, and ^Orders whose subtree
     * it is in loses nothing (it is in A, B either way). */
    expect_changes("      Orders(1):(1000): B\n", "      Orders(1):(2000): B\n",
                   "N range ^Orders(1000) ^Orders(2000) A -> A,B\n");
}

static void test_whole_global_moves(void **state)
{
    (void)state;
    expect_changes("      Config: B\n", "      Config: C\n",
                   "N range ^Config ^Config(END) A,B -> A,C\n");
    /* A global leaves the map: back to the globals database alone. */
    expect_changes("      Config: B\n      Log: C\n", "      Log: C\n",
                   "N range ^Config ^Config(END) A,B -> A\n");
}

static void test_reordering_moves_nothing(void **state)
{
    (void)state;
    expect_changes("      Config: B\n      Orders(1):(1000): C\n      MyGlobal(15): B\n",
                   "      MyGlobal(15): B\n      Config: B\n      Orders(1):(1000): C\n", "");
}

static void test_a_subscript_mapping_moves_its_ancestors(void **state)
{
    (void)state;
    /* A new rule for ^MyGlobal(15): the node moves, and so do ^MyGlobal
     * (now A and B: rule 2) and the global is now mapped. */
    expect_changes("      Config: B\n", "      Config: B\n      MyGlobal(15): B\n",
                   "N node ^MyGlobal - A -> A,B\n"
                   "N range ^MyGlobal(15) ^MyGlobal(15,END) A -> A,B\n");
}

static void test_wildcard_captures_a_global(void **state)
{
    (void)state;
    /* Log* starts to capture ^Logs, which had its own rule to C before. */
    expect_changes("      Logs: C\n", "      Log*: B\n",
                   "N range ^Log ^Logs A -> A,B\n"
                   "N range ^Logs ^Logs(END) A,C -> A,B\n"
                   "N range ^Logs(END) ^Loh A -> A,B\n");
}

static void test_locals_and_namespaces(void **state)
{
    (void)state;
    char *got = changes_text(DBS "local_locks: A\nnamespaces:\n  N: { globals: A }\n  OLD: { globals: B }\n",
                             DBS "local_locks: C\nnamespaces:\n  N: { globals: A }\n  NEW: { globals: C }\n",
                             NULL);
    assert_string_equal(got, "- locals - - A -> C\n"
                             "NEW namespace ^% ...  -> C\n"
                             "OLD namespace ^% ... B -> \n");
    free(got);
    /* One namespace asked for: only it. */
    got = changes_text(DBS "namespaces:\n  N: { globals: A }\n", DBS "namespaces:\n  N: { globals: B }\n",
                       "n");
    assert_string_equal(got, "N range ^% ... A -> B\n");
    free(got);
}

/* ---- the property ------------------------------------------------------- */

static void set_of(const nsl_resolver *r, const nsl_resolution *res, char *out, size_t cap)
{
    /* Sorted by name: ids differ between the two configurations. */
    const char *names[NSL_MAX_DATABASES];
    size_t n = 0;
    for (uint32_t i = 0; i < res->count; i++) {
        const char *name = nsl_registry_database(nsl_resolver_registry(r), res->dbs[i].db)->name;
        size_t k = n++;
        for (; k > 0 && strcmp(names[k - 1], name) > 0; k--)
            names[k] = names[k - 1];
        names[k] = name;
    }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strncat(out, names[i], cap - strlen(out) - 2);
        strcat(out, ",");
    }
}

static bool diff_says_moves(const nsl_map_diff *d, const nsl_key *k)
{
    uint8_t end[NSL_MAX_KEY_BYTES + 1];
    memcpy(end, k->bytes, k->len);
    end[k->len] = 0xFF;
    for (size_t i = 0; i < d->count; i++) {
        const nsl_map_change *c = &d->changes[i];
        if (c->kind == NSL_CHANGE_NODE && nsl_key_bytes_cmp(c->lo, c->lo_len, k->bytes, k->len) == 0)
            return true;
        if (c->kind == NSL_CHANGE_RANGE
            && nsl_key_bytes_cmp(c->lo, c->lo_len, k->bytes, k->len) <= 0
            && (c->hi == NULL || nsl_key_bytes_cmp(end, k->len + 1u, c->hi, c->hi_len) <= 0))
            return true;
    }
    return false;
}

/* A variant of g: a few rules dropped or sent to another database. */
static void mutate(gen *g)
{
    int edits = 1 + rnd(g, 3);
    for (int e = 0; e < edits && g->nrules > 0; e++) {
        int i = rnd(g, g->nrules);
        if (rnd(g, 2)) {
            g->rules[i].db = rnd(g, 4);
        } else {
            g->rules[i] = g->rules[g->nrules - 1];
            g->nrules--;
        }
    }
}

static void test_property_against_resolution(void **state)
{
    (void)state;
    const char *s = getenv("NSL_TEST_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 0) : 20261202u;
    gen *g1 = calloc(1, sizeof *g1), *g2 = calloc(1, sizeof *g2);
    tname *names = calloc(400, sizeof *names);
    char *y1 = malloc(65536), *y2 = malloc(65536);
    assert_true(g1 && g2 && names && y1 && y2);
    g1->rng = seed * 2 + 1;
    long checked = 0, moved = 0;
    int pairs = 0;
    for (int round = 0; pairs < 250 && round < 2000; round++) {
        gen_rules(g1);
        if (rnd(g1, 3) == 0) {          /* unrelated maps */
            g2->rng = next_rand(&g1->rng) | 1;
            gen_rules(g2);
        } else {                        /* a small edit, as deploys are */
            uint64_t rng = g1->rng;
            *g2 = *g1;
            g2->rng = next_rand(&rng) | 1;
            mutate(g2);
        }
        config_text(g1, y1, 65536);
        config_text(g2, y2, 65536);
        char *globals = strstr(y2, "globals: D0");
        if (globals && rnd(g1, 4) == 0)   /* rule 3 then adds another database */
            globals[10] = '1';
        loaded o, n;
        if (!try_load(&o, y1))
            continue;
        if (!try_load(&n, y2)) {
            unload(&o);
            continue;
        }
        pairs++;
        nsl_map_diff d;
        assert_int_equal(nsl_map_diff_compute(o.res, n.res, NULL, &d, NULL), NSL_OK);
        uint32_t ons = nsl_registry_find_namespace(o.reg, "P")->id;
        uint32_t nns = nsl_registry_find_namespace(n.reg, "P")->id;
        for (int i = 0; i < 400; i++)
            gen_name(i % 2 ? g1 : g2, &names[i]);
        for (int i = 0; i < 400; i++, checked++) {
            nsl_lockname ln;
            nsl_error err = {0};
            assert_int_equal(nsl_lockname_parse(names[i].text, strlen(names[i].text), NULL, &ln, &err),
                             NSL_OK);
            nsl_resolution ro, rn;
            assert_int_equal(nsl_resolve(o.res, ons, &ln, &ro, &err), NSL_OK);
            assert_int_equal(nsl_resolve(n.res, nns, &ln, &rn, &err), NSL_OK);
            char so[1024], sn[1024];
            set_of(o.res, &ro, so, sizeof so);
            set_of(n.res, &rn, sn, sizeof sn);
            bool differs = strcmp(so, sn) != 0;
            moved += differs;
            if (differs != diff_says_moves(&d, &ln.key)) {
                print_message("seed %llu (NSL_TEST_SEED), pair %d\nOLD:\n%s\nNEW:\n%s\n",
                              (unsigned long long)seed, pairs, y1, y2);
                fail_msg("%s: %s under the old map, %s under the new; the diff says it %s",
                         names[i].text, so, sn, differs ? "stays" : "moves");
            }
        }
        nsl_map_diff_free(&d);
        unload(&o);
        unload(&n);
    }
    assert_int_equal(pairs, 250);
    assert_true(checked >= 100000);
    assert_true(moved > checked / 50 && moved < checked - checked / 50);   /* both outcomes seen */
    free(y1);
    free(y2);
    free(names);
    free(g1);
    free(g2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_range_moves),
        cmocka_unit_test(test_whole_global_moves),
        cmocka_unit_test(test_reordering_moves_nothing),
        cmocka_unit_test(test_a_subscript_mapping_moves_its_ancestors),
        cmocka_unit_test(test_wildcard_captures_a_global),
        cmocka_unit_test(test_locals_and_namespaces),
        cmocka_unit_test(test_property_against_resolution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
