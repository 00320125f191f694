/* A lock engine on an in-memory configuration, for the locks tests:
 * owners by namespace name, commands as text, the table as text. */
#ifndef NSL_TESTS_ENGINE_FIXTURE_H
#define NSL_TESTS_ENGINE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "locks/locks.h"

/* The docs/CONFIG.md example plus the namespaces of the seed's four scenarios. */
static const char FIXTURE_YAML[] =
    "lock_table:\n"
    "  max_entries: 1000\n"
    "  escalation_threshold: 3\n"
    "  deadlock_check_ms: 1000\n"
    "default_namespace: USER\n"
    "local_locks: USERDB\n"
    "databases:\n"
    "  USERDB:  { directory: /data/user }\n"
    "  ALPHADB: { directory: /data/alpha }\n"
    "  BETADB:  { directory: /data/beta }\n"
    "  GAMMADB: { directory: /data/gamma }\n"
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
    "      Log*: USERDB\n"
    "  BETA2:\n"
    "    globals: BETADB\n"
    "    map:\n"
    "      MyGlobal: ALPHADB\n"
    "  GAMMA1: { globals: GAMMADB }\n"
    "  GAMMA2: { globals: GAMMADB }\n";

typedef struct fx_event {
    nsl_owner_id owner;
    nsl_lock_result result;
} fx_event;

typedef struct fixture {
    nsl_config *cfg;
    nsl_registry *reg;
    nsl_resolver *resolver;
    nsl_engine *engine;
    nsl_lock_command cmd;
    uint64_t now;
    fx_event events[256];
    size_t event_count;
    char notices[16][256];
    size_t notice_count;
    nsl_notice notice_kinds[16];
} fixture;

static inline void fx_done(void *ctx, nsl_owner_id owner, const nsl_lock_result *r)
{
    fixture *f = ctx;
    assert_true(f->event_count < sizeof f->events / sizeof f->events[0]);
    f->events[f->event_count].owner = owner;
    f->events[f->event_count++].result = *r;
}

static inline void fx_notice(void *ctx, nsl_notice kind, const char *text)
{
    fixture *f = ctx;
    if (f->notice_count < 16) {
        f->notice_kinds[f->notice_count] = kind;
        snprintf(f->notices[f->notice_count++], sizeof f->notices[0], "%s", text);
    }
}

static inline fixture *fx_new_with(const nsl_engine_options *opt)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    nsl_diags d;
    nsl_diags_init(&d);
    nsl_config_status st = nsl_config_load_buffer("fixture.yaml", FIXTURE_YAML,
                                                  sizeof FIXTURE_YAML - 1, &f->cfg, &d);
    if (st != NSL_CONFIG_OK)
        nsl_diags_print(&d, stderr);
    assert_int_equal(st, NSL_CONFIG_OK);
    f->reg = nsl_registry_build(f->cfg, &d);
    assert_non_null(f->reg);
    f->resolver = nsl_resolver_new(f->reg, &d);
    if (!f->resolver)
        nsl_diags_print(&d, stderr);
    assert_non_null(f->resolver);
    nsl_diags_free(&d);
    nsl_engine_callbacks cb = {.done = fx_done, .notice = fx_notice};
    f->engine = nsl_engine_new(opt, f->resolver, &cb, f);
    assert_non_null(f->engine);
    nsl_lock_command_init(&f->cmd);
    f->now = 1000000;
    return f;
}

static inline fixture *fx_new(void)
{
    nsl_engine_options opt;
    nsl_engine_options_default(&opt);
    opt.max_entries = 1000;
    opt.escalation_threshold = 3;
    opt.deadlock_check_ms = 1000;
    return fx_new_with(&opt);
}

static inline void fx_free(fixture *f)
{
    nsl_engine_free(f->engine);
    nsl_lock_command_free(&f->cmd);
    nsl_resolver_free(f->resolver);
    nsl_registry_free(f->reg);
    nsl_config_free(f->cfg);
    free(f);
}

static inline nsl_owner_id fx_owner(fixture *f, const char *ns)
{
    const nsl_namespace *n = nsl_registry_find_namespace(f->reg, ns);
    assert_non_null(n);
    return nsl_engine_owner_new(f->engine, n->id);
}

/* Runs a command; returns $TEST when done (-1: only released), -2 when
 * queued, -3 on an error (its code in *code if given). */
static inline int fx_run_code(fixture *f, nsl_owner_id o, const char *text, nsl_code *code,
                       nsl_lock_result *out)
{
    nsl_error err;
    nsl_code pc = nsl_lock_command_parse(text, strlen(text), &f->cmd, &err);
    if (pc != NSL_OK)
        fail_msg("parse of '%s' failed: %s", text, err.message);
    nsl_lock_result r;
    nsl_engine_status st = nsl_engine_execute(f->engine, o, &f->cmd, f->now, &r);
    if (out)
        *out = r;
    if (code)
        *code = r.code;
    if (st == NSL_QUEUED)
        return -2;
    return r.code == NSL_OK ? r.test : -3;
}

static inline int fx_run(fixture *f, nsl_owner_id o, const char *text)
{
    return fx_run_code(f, o, text, NULL, NULL);
}

/* The callback delivered for owner since the last fx_take; NULL if none. */
static inline const nsl_lock_result *fx_take(fixture *f, nsl_owner_id o)
{
    for (size_t i = 0; i < f->event_count; i++) {
        if (f->events[i].owner == o) {
            static nsl_lock_result r;
            r = f->events[i].result;
            memmove(&f->events[i], &f->events[i + 1],
                    (f->event_count - i - 1) * sizeof f->events[0]);
            f->event_count--;
            return &r;
        }
    }
    return NULL;
}

static inline void fx_tick(fixture *f, uint64_t advance_ms)
{
    f->now += advance_ms;
    nsl_engine_tick(f->engine, f->now);
}

/* The engine's derived state recomputed and compared (nsl_engine_check). */
static inline void fx_check(fixture *f)
{
    char why[512];
    if (!nsl_engine_check(f->engine, why, sizeof why))
        fail_msg("engine invariant: %s", why);
}

/* The table as "DB OWNER MODE NAME" lines (waiting rows too), in view order.
 * Checks the engine's invariants first. */
static inline const char *fx_table(fixture *f)
{
    static char buf[16384];
    fx_check(f);
    nsl_view v;
    assert_int_equal(nsl_engine_view(f->engine, NULL, &v), NSL_OK);
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < v.count; i++) {
        const nsl_view_row *r = &v.rows[i];
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s %u %s %s\n",
                                nsl_registry_database(f->reg, r->database)->name,
                                r->owner, r->mode, r->name);
        assert_true(len < sizeof buf);
    }
    nsl_view_free(&v);
    return buf;
}

#endif
