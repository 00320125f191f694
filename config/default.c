/* default.c — the embedded configuration used when no file is given
 * (docs/CONFIG.md): one database USER in ./data/user and one namespace USER on it.
 *
 * It exists twice, as a struct built here and as YAML text, so that nslock
 * runs without parsing anything yet `nslock validate` and the docs can show
 * the same configuration; a test keeps the two equivalent. */
#include "config/config.h"
#include "config/config_internal.h"

static const char default_yaml[] =
    "# nslock's embedded default configuration, used when no file is given.\n"
    "lock_table:\n"
    "  max_entries: 1000000\n"
    "  escalation_threshold: 1000\n"
    "  deadlock_check_ms: 1000\n"
    "  max_session_entries: 1000000\n"
    "databases:\n"
    "  USER: { directory: ./data/user }\n"
    "namespaces:\n"
    "  USER: { globals: USER }\n";

nsl_config *nsl_config_default(void)
{
    nsl_config *cfg = nsl_cfg_new("<default>");

    cfg->databases = nsl_cfg_calloc(1, sizeof *cfg->databases);
    cfg->database_count = 1;
    cfg->databases[0] = (nsl_cfg_database){
        .name = nsl_cfg_strdup("USER"),
        .directory = nsl_cfg_strdup("./data/user"),
        .pos = {8, 3},
        .directory_pos = {8, 22},
    };
    cfg->namespaces = nsl_cfg_calloc(1, sizeof *cfg->namespaces);
    cfg->namespace_count = 1;
    cfg->namespaces[0] = (nsl_cfg_namespace){
        .name = nsl_cfg_strdup("USER"),
        .globals = nsl_cfg_strdup("USER"),
        .pos = {10, 3},
        .globals_pos = {10, 20},
    };
    return cfg;
}

const char *nsl_config_default_yaml(void)
{
    return default_yaml;
}
