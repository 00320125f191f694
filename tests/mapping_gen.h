/* Random namespace maps for the mapping tests: rules nested or disjoint by
 * construction, names that often fall inside them, and the configuration
 * text. The oracle functions decide membership from the rules' meaning
 * (names, subscript values), not from keys. Included by one test file
 * each; everything is static. */
#ifndef NSL_TEST_MAPPING_GEN_H
#define NSL_TEST_MAPPING_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { R_WILD, R_WHOLE, R_SUB, R_RANGE };
#define INF 1e9

typedef struct trule {
    int kind;
    char name[8];
    int np;
    double path[6];       /* R_SUB: the node's subscripts; R_RANGE: the common prefix */
    double a, b;          /* R_RANGE bounds at depth np+1; -INF/INF: BEGIN/END */
    int depth;            /* larger inside: the innermost containing rule has the largest */
    int db;
    char text[160];
} trule;

typedef struct tsub {
    int type;             /* 0 "", 1 number, 2 non-empty string */
    double v;
} tsub;

typedef struct tname {
    char name[8];
    int nsubs;
    tsub subs[5];
    char text[160];
} tname;

typedef struct gen {
    uint64_t rng;
    trule rules[400];
    int nrules;
} gen;

static inline uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline int rnd(gen *g, int n)
{
    return (int)(next_rand(&g->rng) % (uint64_t)n);
}

static const char *const global_names[] = {"A", "AB", "ABC", "B", "%Z", "Q"};
#define NGLOBALS (sizeof global_names / sizeof global_names[0])

static inline void add_rule(gen *g, trule r)
{
    if (g->nrules >= (int)(sizeof g->rules / sizeof g->rules[0]))
        return;
    r.db = rnd(g, 4);
    size_t n = (size_t)snprintf(r.text, sizeof r.text, "%s", r.name);
    if (r.kind == R_WILD) {
        snprintf(r.text + n, sizeof r.text - n, "*");
    } else if (r.kind == R_SUB) {
        for (int i = 0; i < r.np; i++)
            n += (size_t)snprintf(r.text + n, sizeof r.text - n, "%c%g", i ? ',' : '(', r.path[i]);
        snprintf(r.text + n, sizeof r.text - n, ")");
    } else if (r.kind == R_RANGE) {
        char pre[80] = "";
        size_t p = 0;
        for (int i = 0; i < r.np; i++)
            p += (size_t)snprintf(pre + p, sizeof pre - p, "%g,", r.path[i]);
        char a[24], b[24];
        if (r.a <= -INF) snprintf(a, sizeof a, "BEGIN"); else snprintf(a, sizeof a, "%g", r.a);
        if (r.b >= INF) snprintf(b, sizeof b, "END"); else snprintf(b, sizeof b, "%g", r.b);
        snprintf(r.text + n, sizeof r.text - n, "(%s%s):(%s%s)", pre, a, pre, b);
    }
    g->rules[g->nrules++] = r;
}

/* Rules inside the region [lo, hi) of subscript values at depth np+1 under
 * the node path: disjoint pieces, each a range or one node's subtree, and
 * more rules inside each. BEGIN/END only bound top-level ranges. */
static inline void gen_region(gen *g, const char *name, const double *path, int np, double lo, double hi,
                       int depth, bool in_range)
{
    if (depth > 16 || np >= 4)
        return;
    int k = rnd(g, depth == 11 ? 8 : 4);
    double cut[10];
    int nc = 0;
    double from = lo <= -INF ? -2 : lo, to = hi >= INF ? 103 : hi;
    for (int i = 0; i < k && to - from > 1; i++) {
        double c = from + 1 + rnd(g, (int)(to - from) - 1);
        int j = nc;
        bool dup = false;
        for (int q = 0; q < nc; q++)
            dup |= cut[q] == c;
        if (dup)
            continue;
        while (j > 0 && cut[j - 1] > c) {
            cut[j] = cut[j - 1];
            j--;
        }
        cut[j] = c;
        nc++;
    }
    for (int i = 0; i <= nc; i++) {
        double a = i == 0 ? lo : cut[i - 1], b = i == nc ? hi : cut[i];
        int what = rnd(g, 10);
        bool finite = a > -INF && b < INF;
        /* a range equal to the enclosing one would be a duplicate */
        if (what < 4 && (np == 0 || finite) && !(in_range && nc == 0)) {
            trule r = {.kind = R_RANGE, .np = np, .a = a, .b = b, .depth = depth};
            snprintf(r.name, sizeof r.name, "%s", name);
            if (np > 0)
                memcpy(r.path, path, (size_t)np * sizeof *path);
            add_rule(g, r);
            if (rnd(g, 2))
                gen_region(g, name, path, np, a, b, depth + 1, true);
        } else if (what < 7 && a > -INF) {
            trule r = {.kind = R_SUB, .np = np + 1, .depth = depth};
            snprintf(r.name, sizeof r.name, "%s", name);
            if (np > 0)
                memcpy(r.path, path, (size_t)np * sizeof *path);
            r.path[np] = a;
            add_rule(g, r);
            if (rnd(g, 2))
                gen_region(g, name, r.path, np + 1, 0, 100, depth + 1, false);
        }
    }
}

static inline void gen_rules(gen *g)
{
    g->nrules = 0;
    static const char *const prefixes[] = {"A", "AB", "%"};
    for (size_t i = 0; i < 3; i++) {
        if (rnd(g, 3) == 0) {
            trule r = {.kind = R_WILD, .depth = (int)strlen(prefixes[i])};
            snprintf(r.name, sizeof r.name, "%s", prefixes[i]);
            add_rule(g, r);
        }
    }
    for (size_t i = 0; i < NGLOBALS; i++) {
        if (rnd(g, 3) == 0) {
            trule r = {.kind = R_WHOLE, .depth = 10};
            snprintf(r.name, sizeof r.name, "%s", global_names[i]);
            add_rule(g, r);
        }
        if (rnd(g, 4) != 0)
            gen_region(g, global_names[i], NULL, 0, -INF, INF, 11, false);
    }
}

/* Collation of one subscript against a rule bound value (a number or ±INF). */
static inline int sub_cmp(const tsub *s, double v)
{
    if (v <= -INF)
        return 1;
    if (v >= INF)
        return -1;
    if (s->type == 0)
        return -1;
    if (s->type == 2)
        return 1;
    return s->v < v ? -1 : s->v > v;
}

static inline bool path_is_prefix(const trule *r, int np, const tname *n)
{
    if (n->nsubs < np)
        return false;
    for (int i = 0; i < np; i++)
        if (n->subs[i].type != 1 || n->subs[i].v != r->path[i])
            return false;
    return true;
}

static inline bool rule_contains(const trule *r, const tname *n)
{
    switch (r->kind) {
    case R_WILD:
        return strncmp(n->name, r->name, strlen(r->name)) == 0;
    case R_WHOLE:
        return strcmp(n->name, r->name) == 0;
    case R_SUB:
        return strcmp(n->name, r->name) == 0 && path_is_prefix(r, r->np, n);
    default:
        return strcmp(n->name, r->name) == 0 && n->nsubs > r->np && path_is_prefix(r, r->np, n)
            && sub_cmp(&n->subs[r->np], r->a) >= 0 && sub_cmp(&n->subs[r->np], r->b) < 0;
    }
}

/* The global of n is "mapped at all": some rule names or matches it. */
static inline bool global_mapped(const gen *g, const tname *n)
{
    for (int i = 0; i < g->nrules; i++) {
        const trule *r = &g->rules[i];
        if (r->kind == R_WILD ? strncmp(n->name, r->name, strlen(r->name)) == 0
                              : strcmp(n->name, r->name) == 0)
            return true;
    }
    return false;
}

/* The naive scan: the innermost rule containing n, or -1. */
static inline int innermost(const gen *g, const tname *n)
{
    int best = -1;
    for (int i = 0; i < g->nrules; i++)
        if (rule_contains(&g->rules[i], n) && (best < 0 || g->rules[i].depth > g->rules[best].depth))
            best = i;
    return best;
}

static inline bool is_descendant(const tname *d, const tname *a)
{
    if (strcmp(d->name, a->name) != 0 || d->nsubs <= a->nsubs)
        return false;
    for (int i = 0; i < a->nsubs; i++)
        if (d->subs[i].type != a->subs[i].type || (d->subs[i].type == 1 && d->subs[i].v != a->subs[i].v))
            return false;
    return true;
}

static inline void gen_name(gen *g, tname *n)
{
    /* Often start from a rule's node so that deep regions get visited. */
    memset(n, 0, sizeof *n);
    if (g->nrules > 0 && rnd(g, 3) != 0) {
        const trule *r = &g->rules[rnd(g, g->nrules)];
        snprintf(n->name, sizeof n->name, "%s", r->kind == R_WILD ? global_names[rnd(g, NGLOBALS)] : r->name);
        if (r->kind == R_SUB || r->kind == R_RANGE)
            for (int i = 0; i < r->np; i++)
                n->subs[n->nsubs++] = (tsub){1, r->path[i]};
    } else {
        snprintf(n->name, sizeof n->name, "%s", global_names[rnd(g, NGLOBALS)]);
    }
    int extra = rnd(g, 4);
    for (int i = 0; i < extra && n->nsubs < 5; i++) {
        int t = rnd(g, 12);
        tsub s = t == 0 ? (tsub){0, 0} : t == 1 ? (tsub){2, 0}
               : (tsub){1, (double)(rnd(g, 108) - 4) + (rnd(g, 4) == 0 ? 0.5 : 0)};
        n->subs[n->nsubs++] = s;
    }
    size_t p = (size_t)snprintf(n->text, sizeof n->text, "^%s", n->name);
    for (int i = 0; i < n->nsubs; i++) {
        const tsub *s = &n->subs[i];
        p += (size_t)snprintf(n->text + p, sizeof n->text - p, "%c", i ? ',' : '(');
        if (s->type == 1)
            p += (size_t)snprintf(n->text + p, sizeof n->text - p, "%g", s->v);
        else
            p += (size_t)snprintf(n->text + p, sizeof n->text - p, "%s", s->type ? "\"s\"" : "\"\"");
    }
    if (n->nsubs)
        snprintf(n->text + p, sizeof n->text - p, ")");
}

static inline void config_text(const gen *g, char *yaml, size_t cap)
{
    size_t n = (size_t)snprintf(yaml, cap,
                                "databases:\n  D0: { directory: /d0 }\n  D1: { directory: /d1 }\n"
                                "  D2: { directory: /d2 }\n  D3: { directory: /d3 }\n"
                                "namespaces:\n  P:\n    globals: D0\n    map:%s\n",
                                g->nrules ? "" : " {}");
    for (int i = 0; i < g->nrules; i++)
        n += (size_t)snprintf(yaml + n, cap - n, "      '%s': D%d\n", g->rules[i].text, g->rules[i].db);
}

#endif
