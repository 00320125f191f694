/* bench_mapping_resolve — resolve() against a large namespace map (docs/CONFIG.md).
 *
 * One namespace with 10,000 subscript-range mappings Orders(i*100):(i*100+100)
 * over three databases (loaded from generated YAML, as a server would):
 *
 *   compile      config load + registry + resolver for that file
 *   leaf         resolve ^Orders(n), n random in [0, 1,000,000), names parsed
 *                beforehand (a ring of 65,536, reused round-robin)
 *   parse+leaf   the same from text: nsl_lockname_parse + nsl_resolve
 *   ancestor     resolve ^Orders, whose subtree spans every mapping (the
 *                per-database search instead of one binary search)
 *
 * Each figure is the best of 3 runs. Usage: bench_mapping_resolve [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mapping/mapping.h"

#define MAPPINGS 10000
#define RING 65536

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t next_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static char *make_yaml(void)
{
    size_t cap = 200 + (size_t)MAPPINGS * 48, n = 0;
    char *y = malloc(cap);
    if (!y)
        exit(1);
    n += (size_t)snprintf(y + n, cap - n,
                          "databases:\n  D0: { directory: /d0 }\n  D1: { directory: /d1 }\n"
                          "  D2: { directory: /d2 }\n  D3: { directory: /d3 }\n"
                          "namespaces:\n  BIG:\n    globals: D0\n    map:\n");
    for (int i = 0; i < MAPPINGS; i++)
        n += (size_t)snprintf(y + n, cap - n, "      Orders(%d):(%d): D%d\n", i * 100, i * 100 + 100,
                              1 + i % 3);
    return y;
}

typedef struct loaded {
    nsl_config *cfg;
    nsl_registry *reg;
    nsl_resolver *res;
} loaded;

static void load(loaded *l, const char *yaml)
{
    nsl_diags d;
    nsl_diags_init(&d);
    if (nsl_config_load_buffer("bench.yaml", yaml, strlen(yaml), &l->cfg, &d) != NSL_CONFIG_OK
        || !(l->reg = nsl_registry_build(l->cfg, &d)) || !(l->res = nsl_resolver_new(l->reg, &d))) {
        nsl_diags_print(&d, stderr);
        exit(1);
    }
    nsl_diags_free(&d);
}

static void unload(loaded *l)
{
    nsl_resolver_free(l->res);
    nsl_registry_free(l->reg);
    nsl_config_free(l->cfg);
}

static void parse_or_die(const char *text, nsl_lockname *out)
{
    nsl_error err;
    if (nsl_lockname_parse(text, strlen(text), NULL, out, &err) != NSL_OK) {
        fprintf(stderr, "%s: %s\n", text, err.message);
        exit(1);
    }
}

static volatile uint64_t sink;   /* keeps the results alive */

static double best_of_3(double (*run)(void *), void *arg)
{
    double best = 0;
    for (int i = 0; i < 3; i++) {
        double r = run(arg);
        if (r > best)
            best = r;
    }
    return best;
}

typedef struct job {
    const nsl_resolver *res;
    uint32_t ns;
    nsl_lockname *names;      /* RING parsed names */
    char (*texts)[32];        /* RING texts */
    size_t iterations;
} job;

static void resolve_or_die(const job *j, const nsl_lockname *n, nsl_resolution *out)
{
    nsl_error err;
    if (nsl_resolve(j->res, j->ns, n, out, &err) != NSL_OK) {
        fprintf(stderr, "resolve: %s\n", err.message);
        exit(1);
    }
}

static double run_leaf(void *arg)
{
    const job *j = arg;
    nsl_resolution out;
    uint64_t sum = 0;
    double t0 = now_s();
    for (size_t i = 0; i < j->iterations; i++) {
        resolve_or_die(j, &j->names[i & (RING - 1)], &out);
        sum += out.dbs[0].db + out.count;
    }
    double t = now_s() - t0;
    sink += sum;
    return (double)j->iterations / t;
}

static double run_parse_leaf(void *arg)
{
    const job *j = arg;
    nsl_resolution out;
    nsl_lockname name;
    uint64_t sum = 0;
    double t0 = now_s();
    for (size_t i = 0; i < j->iterations; i++) {
        const char *text = j->texts[i & (RING - 1)];
        parse_or_die(text, &name);
        resolve_or_die(j, &name, &out);
        sum += out.dbs[0].db + out.count;
    }
    double t = now_s() - t0;
    sink += sum;
    return (double)j->iterations / t;
}

static double run_ancestor(void *arg)
{
    const job *j = arg;
    nsl_resolution out;
    uint64_t sum = 0;
    double t0 = now_s();
    for (size_t i = 0; i < j->iterations; i++) {
        resolve_or_die(j, &j->names[0], &out);
        sum += out.count;
    }
    double t = now_s() - t0;
    sink += sum;
    return (double)j->iterations / t;
}

static double run_compile(void *arg)
{
    const char *yaml = arg;
    loaded l = {0};
    double t0 = now_s();
    load(&l, yaml);
    double t = now_s() - t0;
    unload(&l);
    return 1.0 / t;   /* compiles per second: best is the fastest */
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    size_t iterations = quick ? 100000 : 1000000;

    char *yaml = make_yaml();
    double compile_s = 1.0 / best_of_3(run_compile, yaml);
    loaded l = {0};
    load(&l, yaml);
    const nsl_namespace *ns = nsl_registry_find_namespace(l.reg, "BIG");

    job j = {.res = l.res, .ns = ns->id, .iterations = iterations};
    j.names = malloc(RING * sizeof *j.names);
    j.texts = malloc(RING * sizeof *j.texts);
    if (!j.names || !j.texts)
        return 1;
    for (size_t i = 0; i < RING; i++) {
        snprintf(j.texts[i], sizeof j.texts[i], "^Orders(%llu)",
                 (unsigned long long)(next_rand() % 1000000));
        parse_or_die(j.texts[i], &j.names[i]);
    }
    /* Sanity: a leaf lands in its range's database plus the namespace's. */
    nsl_resolution out;
    resolve_or_die(&j, &j.names[0], &out);
    if (out.count != 2) {
        fprintf(stderr, "unexpected resolution of %s: %u databases\n", j.texts[0], out.count);
        return 1;
    }

    double leaf = best_of_3(run_leaf, &j);
    double parse_leaf = best_of_3(run_parse_leaf, &j);
    nsl_lockname whole;
    parse_or_die("^Orders", &whole);
    job anc = j;
    anc.names = &whole;
    anc.iterations = iterations / 10;
    double ancestor = best_of_3(run_ancestor, &anc);
    resolve_or_die(&anc, &whole, &out);

    printf("resolve, one namespace with %d range mappings (%zu resolutions per figure)\n",
           MAPPINGS, iterations);
    printf("  compile (load YAML, registry, resolver)    %12.1f ms\n", compile_s * 1e3);
    printf("  leaf ^Orders(n), parsed beforehand         %12.0f resolutions/s\n", leaf);
    printf("  leaf ^Orders(n), parse + resolve           %12.0f names/s\n", parse_leaf);
    printf("  ancestor ^Orders (%zu map ranges, %u dbs)  %10.0f resolutions/s\n",
           nsl_resolver_map_count(l.res, ns->id), out.count, ancestor);
    free(j.names);
    free(j.texts);
    free(yaml);
    unload(&l);
    return 0;
}
