/* libFuzzer target: configuration loading and the registry built from it.
 * Whatever the bytes, no crash, leak or hang; the status agrees with the
 * diagnostics; every position is inside the text; and a registry that
 * builds answers its own look-ups consistently. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "namespaces/namespaces.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_diags(const nsl_diags *d, nsl_config_status status,
                        const nsl_config *cfg, const uint8_t *data, size_t size)
{
    size_t lines = 1;   /* an upper bound: libyaml also breaks lines at CR, NEL, LS, PS */
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 || data[i] == 0xe2;
    for (size_t i = 0; i < d->count; i++) {
        const nsl_diag *g = &d->items[i];
        if (g->line < 0 || (size_t)g->line > lines + 1 || g->col < 0 || !g->message[0])
            abort();
        if (strchr(g->message, '\n'))
            abort();
    }
    size_t errors = nsl_diags_count(d, NSL_DIAG_ERROR);
    if ((status == NSL_CONFIG_OK) != (errors == 0))
        abort();
    if ((status == NSL_CONFIG_UNREADABLE) != (cfg == NULL))
        abort();
}

static void check_registry(const nsl_registry *reg)
{
    size_t ndb = nsl_registry_database_count(reg);
    for (uint32_t i = 0; i < ndb; i++) {
        const nsl_database *db = nsl_registry_database(reg, i);
        if (!db || db->id != i || nsl_registry_find_database(reg, db->name) != db ||
            nsl_registry_find_directory(reg, db->directory) != db)
            abort();
    }
    size_t nns = nsl_registry_namespace_count(reg);
    for (uint32_t i = 0; i < nns; i++) {
        const nsl_namespace *ns = nsl_registry_namespace(reg, i);
        if (!ns || ns->id != i || nsl_registry_find_namespace(reg, ns->name) != ns ||
            ns->globals >= ndb)
            abort();
    }
    if (nsl_registry_default_namespace(reg)->id >= nns ||
        nsl_registry_local_locks(reg)->id >= ndb)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink && !(sink = fopen("/dev/null", "w")))
        abort();

    nsl_diags diags;
    nsl_diags_init(&diags);
    nsl_config *cfg;
    nsl_config_status status = nsl_config_load_buffer("fuzz.yaml", (const char *)data, size,
                                                      &cfg, &diags);
    check_diags(&diags, status, cfg, data, size);
    if (cfg) {
        nsl_registry *reg = nsl_registry_build(cfg, &diags);
        if (reg) {
            check_registry(reg);
            nsl_registry_free(reg);
        }
        nsl_config_free(cfg);
    }
    nsl_diags_sort(&diags);
    nsl_diags_print(&diags, sink);
    nsl_diags_print_json(&diags, sink);
    nsl_diags_free(&diags);
    return 0;
}
