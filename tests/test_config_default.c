/* The embedded default: the struct and the YAML text say the same thing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

static void assert_same_string(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_same_pos(nsl_pos a, nsl_pos b)
{
    assert_int_equal(a.line, b.line);
    assert_int_equal(a.col, b.col);
}

static void test_struct_is_spec_default(void **state)
{
    (void)state;
    nsl_config *cfg = nsl_config_default();
    assert_string_equal(cfg->file, "<default>");
    assert_int_equal(cfg->database_count, 1);
    assert_string_equal(cfg->databases[0].name, "USER");
    assert_string_equal(cfg->databases[0].directory, "./data/user");
    assert_int_equal(cfg->namespace_count, 1);
    assert_string_equal(cfg->namespaces[0].name, "USER");
    assert_string_equal(cfg->namespaces[0].globals, "USER");
    assert_int_equal(cfg->namespaces[0].map_count, 0);
    assert_null(cfg->default_namespace);
    assert_null(cfg->local_locks);
    assert_int_equal(cfg->max_entries, 1000000);
    assert_int_equal(cfg->escalation_threshold, 1000);
    assert_int_equal(cfg->deadlock_check_ms, 1000);
    assert_int_equal(cfg->max_session_entries, 1000000);
    assert_int_equal(cfg->max_pending, 1024);
    assert_int_equal(cfg->recovery_grace_s, 10);
    assert_int_equal(cfg->session_timeout_s, 10);
    assert_null(cfg->state_dir);
    nsl_config_free(cfg);
}

/* Every field, positions included, so that a diagnostic about the default
 * points at the right place of the text `nslock` would show. */
static void test_yaml_loads_to_the_struct(void **state)
{
    (void)state;
    const char *yaml = nsl_config_default_yaml();
    nsl_diags d;
    nsl_diags_init(&d);
    nsl_config *loaded;
    assert_int_equal(nsl_config_load_buffer("<default>", yaml, strlen(yaml), &loaded, &d),
                     NSL_CONFIG_OK);
    assert_int_equal(d.count, 0);
    nsl_config *built = nsl_config_default();

    assert_string_equal(loaded->file, built->file);
    assert_int_equal(loaded->max_entries, built->max_entries);
    assert_int_equal(loaded->escalation_threshold, built->escalation_threshold);
    assert_int_equal(loaded->deadlock_check_ms, built->deadlock_check_ms);
    assert_int_equal(loaded->max_session_entries, built->max_session_entries);
    assert_same_string(loaded->socket, built->socket);
    assert_same_string(loaded->listen, built->listen);
    assert_same_string(loaded->token_file, built->token_file);
    assert_same_string(loaded->admin_group, built->admin_group);
    assert_int_equal(loaded->max_pending, built->max_pending);
    assert_int_equal(loaded->recovery_grace_s, built->recovery_grace_s);
    assert_int_equal(loaded->session_timeout_s, built->session_timeout_s);
    assert_same_string(loaded->default_namespace, built->default_namespace);
    assert_same_string(loaded->local_locks, built->local_locks);

    assert_int_equal(loaded->database_count, built->database_count);
    for (size_t i = 0; i < built->database_count; i++) {
        assert_string_equal(loaded->databases[i].name, built->databases[i].name);
        assert_string_equal(loaded->databases[i].directory, built->databases[i].directory);
        assert_same_pos(loaded->databases[i].pos, built->databases[i].pos);
        assert_same_pos(loaded->databases[i].directory_pos, built->databases[i].directory_pos);
    }
    assert_int_equal(loaded->namespace_count, built->namespace_count);
    for (size_t i = 0; i < built->namespace_count; i++) {
        const nsl_cfg_namespace *a = &loaded->namespaces[i], *b = &built->namespaces[i];
        assert_string_equal(a->name, b->name);
        assert_string_equal(a->globals, b->globals);
        assert_same_pos(a->pos, b->pos);
        assert_same_pos(a->globals_pos, b->globals_pos);
        assert_int_equal(a->map_count, b->map_count);
    }
    nsl_config_free(built);
    nsl_config_free(loaded);
    nsl_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_struct_is_spec_default),
        cmocka_unit_test(test_yaml_loads_to_the_struct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
