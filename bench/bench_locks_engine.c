/* bench_locks_engine — the lock engine alone, one thread (docs/PERFORMANCE.md).
 *
 *   structured   lock+unlock of distinct names, names already parsed
 *   text         the same from command text: parse, resolve, engine
 *   held-1k/1M   lock+unlock while the same owner holds 1,000 / 1,000,000
 *   bulk         acquire 1,000,000 locks one by one, then release them
 *   memory       bytes per held single-database entry, per escalated child
 *
 * Usage: bench_locks_engine [--quick]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "locks/locks.h"

/* Distinct prepared names, reused round-robin: four times the engine's idle
 * ring, so every lock creates its node and every unlock frees one, and few
 * enough (3.4 MB) that the caller's names are in cache, as a freshly parsed
 * name is. */
#define RING 4096

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

typedef struct bench {
    nsl_config *cfg;
    nsl_registry *reg;
    nsl_resolver *resolver;
    nsl_engine *engine;
} bench;

static void bench_open(bench *b, uint64_t max_entries, uint32_t threshold)
{
    nsl_diags d;
    nsl_diags_init(&d);
    b->cfg = nsl_config_default();
    b->reg = nsl_registry_build(b->cfg, &d);
    b->resolver = b->reg ? nsl_resolver_new(b->reg, &d) : NULL;
    if (!b->resolver) {
        nsl_diags_print(&d, stderr);
        exit(1);
    }
    nsl_diags_free(&d);
    nsl_engine_options opt;
    nsl_engine_options_default(&opt);
    opt.max_entries = max_entries;
    opt.escalation_threshold = threshold;
    b->engine = nsl_engine_new(&opt, b->resolver, NULL, NULL);
}

static void bench_close(bench *b)
{
    nsl_engine_free(b->engine);
    nsl_resolver_free(b->resolver);
    nsl_registry_free(b->reg);
    nsl_config_free(b->cfg);
}

static void parse_name(const char *text, nsl_lock_item *item, uint8_t types)
{
    nsl_error err;
    if (nsl_lockname_parse(text, strlen(text), NULL, &item->name, &err) != NSL_OK) {
        fprintf(stderr, "%s: %s\n", text, err.message);
        exit(1);
    }
    item->types = types;
    item->column = 1;
}

static void must(nsl_engine_status st, const nsl_lock_result *r)
{
    if (st != NSL_DONE || r->code != NSL_OK) {
        fprintf(stderr, "unexpected result: %s %s\n", nsl_code_name(r->code), r->message);
        exit(1);
    }
}

/* Lock+unlock pairs per second on prepared names, owner holding `held`
 * other locks (^h(i)) meanwhile. */
static double structured_pairs(bench *b, nsl_lock_item *ring, size_t pairs, size_t held)
{
    nsl_owner_id o = nsl_engine_owner_new(b->engine, 0);
    nsl_lock_result r;
    nsl_lock_item item;
    char text[64];
    for (size_t i = 0; i < held; i++) {
        snprintf(text, sizeof text, "^h(%zu)", i);
        parse_name(text, &item, 0);
        must(nsl_engine_lock(b->engine, o, NSL_OP_ADD, &item, 1, -1, 0, &r), &r);
    }
    double t0 = now_s();
    for (size_t i = 0; i < pairs; i++) {
        nsl_lock_item *it = &ring[i & (RING - 1)];
        nsl_engine_lock(b->engine, o, NSL_OP_ADD, it, 1, -1, 0, &r);
        nsl_engine_lock(b->engine, o, NSL_OP_REMOVE, it, 1, -1, 0, &r);
    }
    double dt = now_s() - t0;
    nsl_engine_owner_end(b->engine, o, 0);
    return (double)pairs / dt;
}

static double text_pairs(bench *b, size_t pairs)
{
    char (*lock_text)[32] = malloc(RING * sizeof *lock_text);
    char (*unlock_text)[32] = malloc(RING * sizeof *unlock_text);
    for (size_t i = 0; i < RING; i++) {
        snprintf(lock_text[i], sizeof lock_text[i], "LOCK +^a(%zu)", i);
        snprintf(unlock_text[i], sizeof unlock_text[i], "LOCK -^a(%zu)", i);
    }
    nsl_owner_id o = nsl_engine_owner_new(b->engine, 0);
    nsl_lock_command cmd;
    nsl_lock_command_init(&cmd);
    nsl_lock_result r;
    nsl_error err;
    double t0 = now_s();
    for (size_t i = 0; i < pairs; i++) {
        const char *l = lock_text[i & (RING - 1)], *u = unlock_text[i & (RING - 1)];
        nsl_lock_command_parse(l, strlen(l), &cmd, &err);
        nsl_engine_execute(b->engine, o, &cmd, 0, &r);
        nsl_lock_command_parse(u, strlen(u), &cmd, &err);
        nsl_engine_execute(b->engine, o, &cmd, 0, &r);
    }
    double dt = now_s() - t0;
    if (r.code != NSL_OK) {
        fprintf(stderr, "text path failed: %s\n", r.message);
        exit(1);
    }
    nsl_engine_owner_end(b->engine, o, 0);
    nsl_lock_command_free(&cmd);
    free(lock_text);
    free(unlock_text);
    return (double)pairs / dt;
}

/* Acquires n locks one by one then releases them; returns ops/s of each
 * phase and the bytes the table grew by per entry. */
static void bulk(bench *b, size_t n, double *acquire, double *release, double *bytes_per_entry)
{
    nsl_owner_id o = nsl_engine_owner_new(b->engine, 0);
    nsl_lock_item item;
    nsl_lock_result r;
    char text[64];
    /* parsing is not what is measured: keys are built first */
    nsl_key *keys = malloc(n * sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        snprintf(text, sizeof text, "^bulk(%zu)", i);
        parse_name(text, &item, 0);
        keys[i] = item.name.key;
    }
    size_t before = heap_bytes();
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        item.name.key = keys[i];
        nsl_engine_lock(b->engine, o, NSL_OP_ADD, &item, 1, -1, 0, &r);
    }
    double t1 = now_s();
    size_t after = heap_bytes();
    for (size_t i = 0; i < n; i++) {
        item.name.key = keys[i];
        nsl_engine_lock(b->engine, o, NSL_OP_REMOVE, &item, 1, -1, 0, &r);
    }
    double t2 = now_s();
    *acquire = (double)n / (t1 - t0);
    *release = (double)n / (t2 - t1);
    *bytes_per_entry = (double)(after - before) / (double)n;
    nsl_engine_owner_end(b->engine, o, 0);
    free(keys);
}

/* Bytes per child an escalated lock stands for. */
static double escalated_child_bytes(bench *b, size_t n)
{
    nsl_owner_id o = nsl_engine_owner_new(b->engine, 0);
    nsl_lock_item item;
    nsl_lock_result r;
    char text[64];
    nsl_key *keys = malloc(n * sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        snprintf(text, sizeof text, "^esc(%zu)", i);
        parse_name(text, &item, NSL_TYPE_ESCALATING);
        keys[i] = item.name.key;
    }
    size_t before = heap_bytes();
    for (size_t i = 0; i < n; i++) {
        item.name.key = keys[i];
        must(nsl_engine_lock(b->engine, o, NSL_OP_ADD, &item, 1, -1, 0, &r), &r);
    }
    size_t after = heap_bytes();
    nsl_engine_owner_end(b->engine, o, 0);
    free(keys);
    return (double)(after - before) / (double)n;
}

static double best(double a, double b)
{
    return a > b ? a : b;
}

int main(int argc, char **argv)
{
    bool quick = false, profile = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--profile"))
            profile = true;    /* only the structured loop, for perf */
        else {
            fprintf(stderr, "usage: bench_locks_engine [--quick] [--profile]\n");
            return 2;
        }
    }
    size_t pairs = quick ? 200000 : 2000000;
    size_t big = quick ? 100000 : 1000000;
    int rounds = quick ? 2 : 5;   /* best of, interleaved: the box is shared */

    bench b;
    bench_open(&b, 4000000, 1000);
    nsl_lock_item *ring = malloc(RING * sizeof *ring);
    char text[64];
    for (size_t i = 0; i < RING; i++) {
        snprintf(text, sizeof text, "^a(%zu)", i);
        parse_name(text, &ring[i], 0);
    }

    if (profile) {
        printf("%.0f pairs/s\n", structured_pairs(&b, ring, pairs * 5, 0));
        return 0;
    }
    double structured = 0, text_path = 0, held_small = 0, held_big = 0;
    for (int r = 0; r < rounds; r++) {
        structured = best(structured, structured_pairs(&b, ring, pairs, 0));
        text_path = best(text_path, text_pairs(&b, pairs));
        held_small = best(held_small, structured_pairs(&b, ring, pairs, 1000));
        held_big = best(held_big, structured_pairs(&b, ring, pairs, big));
    }
    /* memory is measured on fresh engines, whose pools start empty */
    double acquire, release, entry_bytes;
    bench fresh;
    bench_open(&fresh, 4000000, 1000);
    bulk(&fresh, big, &acquire, &release, &entry_bytes);
    bench_close(&fresh);
    bench_open(&fresh, 4000000, 1000);
    double child_bytes = escalated_child_bytes(&fresh, big);
    bench_close(&fresh);

    printf("engine, one thread (%zu pairs per run, best of %d runs)\n", pairs, rounds);
    printf("  structured lock+unlock, distinct names     %12.0f pairs/s\n", structured);
    printf("  from command text (parse+resolve+engine)   %12.0f pairs/s\n", text_path);
    printf("  while holding 1,000 locks                  %12.0f pairs/s\n", held_small);
    printf("  while holding %9zu locks                %12.0f pairs/s\n", big, held_big);
    printf("  ratio (1,000 held / %zu held), per-op time   %12.2f\n", big, held_small / held_big);
    printf("  acquire %zu locks one by one             %12.0f ops/s\n", big, acquire);
    printf("  then release them                          %12.0f ops/s\n", release);
    printf("  bytes per held single-database entry       %12.1f\n", entry_bytes);
    printf("  bytes per escalated child                  %12.1f\n", child_bytes);
    free(ring);
    bench_close(&b);
    return 0;
}
