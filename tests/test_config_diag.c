/* The diagnostics list: formatting, counting, stable sorting, the
 * compiler-style and JSON printers (escaping included), the cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

static char *printed(const nsl_diags *d, bool json)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    if (json)
        nsl_diags_print_json(d, f);
    else
        nsl_diags_print(d, f);
    fclose(f);
    return text;
}

static void test_add_and_count(void **state)
{
    (void)state;
    nsl_diags d;
    nsl_diags_init(&d);
    assert_int_equal(d.count, 0);
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "a.yaml", (nsl_pos){3, 7}, "bad %s %d", "value", 42);
    nsl_diags_add(&d, NSL_DIAG_WARNING, "other", "a.yaml", (nsl_pos){1, 1}, "meh");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", NULL, (nsl_pos){0, 0}, "no file");
    assert_int_equal(d.count, 3);
    assert_int_equal(nsl_diags_count(&d, NSL_DIAG_ERROR), 2);
    assert_int_equal(nsl_diags_count(&d, NSL_DIAG_WARNING), 1);
    assert_string_equal(d.items[0].message, "bad value 42");
    assert_string_equal(d.items[0].file, "a.yaml");
    assert_int_equal(d.items[0].line, 3);
    assert_int_equal(d.items[0].col, 7);
    assert_string_equal(d.items[2].file, "");
    nsl_diags_free(&d);
    assert_int_equal(d.count, 0);
    assert_null(d.items);
    nsl_diags_free(&d);   /* twice is harmless */
}

static void test_print_positions(void **state)
{
    (void)state;
    nsl_diags d;
    nsl_diags_init(&d);
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "f.yaml", (nsl_pos){12, 5}, "one");
    nsl_diags_add(&d, NSL_DIAG_WARNING, "other", "f.yaml", (nsl_pos){4, 0}, "two");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "f.yaml", (nsl_pos){0, 9}, "three");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "f.yaml", (nsl_pos){-3, -1}, "four");
    char *text = printed(&d, false);
    assert_string_equal(text,
                        "f.yaml:12:5: error: one\n"
                        "f.yaml:4: warning: two\n"
                        "f.yaml: error: three\n"
                        "f.yaml: error: four\n");
    free(text);
    nsl_diags_free(&d);
}

static void test_sort_is_stable(void **state)
{
    (void)state;
    nsl_diags d;
    nsl_diags_init(&d);
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "b.yaml", (nsl_pos){1, 1}, "b1");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "a.yaml", (nsl_pos){10, 2}, "a10.2");
    nsl_diags_add(&d, NSL_DIAG_WARNING, "other", "a.yaml", (nsl_pos){2, 30}, "a2.30 first");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "a.yaml", (nsl_pos){2, 4}, "a2.4");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "a.yaml", (nsl_pos){2, 30}, "a2.30 second");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "a.yaml", (nsl_pos){0, 0}, "a none");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "a.yaml", (nsl_pos){2, 30}, "a2.30 third");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "a.yaml", (nsl_pos){9, 99}, "a9.99");
    nsl_diags_sort(&d);
    char *text = printed(&d, false);
    assert_string_equal(text,
                        "a.yaml: error: a none\n"
                        "a.yaml:2:4: error: a2.4\n"
                        "a.yaml:2:30: warning: a2.30 first\n"
                        "a.yaml:2:30: error: a2.30 second\n"
                        "a.yaml:2:30: error: a2.30 third\n"
                        "a.yaml:9:99: error: a9.99\n"
                        "a.yaml:10:2: error: a10.2\n"
                        "b.yaml:1:1: error: b1\n");
    free(text);
    nsl_diags_free(&d);

    nsl_diags_sort(&d);   /* empty */
}

static void test_control_characters(void **state)
{
    (void)state;
    nsl_diags d;
    nsl_diags_init(&d);
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "f", (nsl_pos){1, 1}, "key `%s`", "a\nb\tc\x7f");
    assert_string_equal(d.items[0].message, "key `a\\x0ab\\x09c\\x7f`");
    nsl_diags_free(&d);
}

static void test_json(void **state)
{
    (void)state;
    nsl_diags d;
    nsl_diags_init(&d);
    char *text = printed(&d, true);
    assert_string_equal(text, "[]\n");
    free(text);

    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "dir/\"q\"\\.yaml", (nsl_pos){3, 4},
                  "unknown key `x` in \"server\" \\ é");
    nsl_diags_add(&d, NSL_DIAG_WARNING, "other", "bad\xff\xc3(\xe2\x82.yaml", (nsl_pos){7, 0}, "w");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "tab\tname\x01", (nsl_pos){0, 0}, "m");
    text = printed(&d, true);
    assert_string_equal(text,
        "[\n"
        "  {\"file\": \"dir/\\\"q\\\"\\\\.yaml\", \"line\": 3, \"column\": 4, \"severity\": \"error\", "
        "\"rule\": \"other\", \"message\": \"unknown key `x` in \\\"server\\\" \\\\ é\"},\n"
        "  {\"file\": \"bad\\ufffd\\ufffd(\\ufffd\\ufffd.yaml\", \"line\": 7, \"column\": null, "
        "\"severity\": \"warning\", \"rule\": \"other\", \"message\": \"w\"},\n"
        "  {\"file\": \"tab\\tname\\u0001\", \"line\": null, \"column\": null, \"severity\": \"error\", "
        "\"rule\": \"other\", \"message\": \"m\"}\n"
        "]\n");
    free(text);
    nsl_diags_free(&d);

    /* Overlong encodings, surrogates and code points past U+10FFFF are not
     * UTF-8 either. */
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xf0\x9f\x98\x80",
                  (nsl_pos){1, 1}, "m");
    text = printed(&d, true);
    assert_non_null(strstr(text, "\"file\": \"\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|"
                                 "\\ufffd\\ufffd\\ufffd\\ufffd|\xf0\x9f\x98\x80\""));
    free(text);
    nsl_diags_free(&d);
}

static void test_cap(void **state)
{
    (void)state;
    nsl_diags d;
    nsl_diags_init(&d);
    for (int i = 0; i < 1000; i++)
        nsl_diags_add(&d, NSL_DIAG_WARNING, "other", "f", (nsl_pos){i + 1, 1}, "w%d", i);
    assert_int_equal(d.count, 1000);
    nsl_diags_add(&d, NSL_DIAG_WARNING, "other", "f", (nsl_pos){5000, 1}, "dropped");
    assert_int_equal(d.count, 1001);
    assert_string_equal(d.items[1000].message, "too many problems: the rest are not reported");
    assert_int_equal(d.items[1000].line, 0);
    assert_int_equal(nsl_diags_count(&d, NSL_DIAG_ERROR), 0);
    /* A dropped error makes the note an error: the list still has one. */
    nsl_diags_add(&d, NSL_DIAG_ERROR, "other", "f", (nsl_pos){5001, 1}, "dropped error");
    assert_int_equal(d.count, 1001);
    assert_int_equal(nsl_diags_count(&d, NSL_DIAG_ERROR), 1);
    nsl_diags_free(&d);
}

static char *printed_source(const nsl_diags *d, const char *file, const char *text)
{
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    assert_non_null(f);
    nsl_diags_print_source(d, f, file, text, strlen(text));
    fclose(f);
    return out;
}

/* The caret stands under the column's character: tabs expanded on both
 * lines, a multi-byte character one cell, a column past the end just
 * after it, other files' diagnostics and lines beyond the text bare. */
static void test_source_caret(void **state)
{
    (void)state;
    const char *text = "a: 1\n\tb:\tx\n\xc3\xa9\xe2\x82\xacz: 2\r\nlast";
    nsl_diags d;
    nsl_diags_init(&d);
    nsl_diags_add(&d, NSL_DIAG_ERROR, "r", "f", (nsl_pos){2, 4}, "tab");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "r", "f", (nsl_pos){3, 3}, "utf8");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "r", "f", (nsl_pos){4, 9}, "past");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "r", "g", (nsl_pos){1, 1}, "other file");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "r", "f", (nsl_pos){9, 1}, "no such line");
    nsl_diags_add(&d, NSL_DIAG_ERROR, "r", "f", (nsl_pos){0, 0}, "no position");
    char *out = printed_source(&d, "f", text);
    assert_string_equal(out,
        "f:2:4: error: tab\n"
        "     2 |         b:      x\n"
        "       |           ^\n"
        "f:3:3: error: utf8\n"
        "     3 | \xc3\xa9\xe2\x82\xacz: 2\n"
        "       |   ^\n"
        "f:4:9: error: past\n"
        "     4 | last\n"
        "       |         ^\n"
        "g:1:1: error: other file\n"
        "f:9:1: error: no such line\n"
        "f: error: no position\n");
    free(out);
    nsl_diags_free(&d);
}

static void test_suggest(void **state)
{
    (void)state;
    const char *keys[] = {"directory", "globals", "map"};
    assert_string_equal(nsl_suggest("diretory", keys, 3, false), "directory");
    assert_string_equal(nsl_suggest("dierctory", keys, 3, false), "directory");   /* swap */
    assert_string_equal(nsl_suggest("global", keys, 3, false), "globals");
    assert_string_equal(nsl_suggest("Globals", keys, 3, false), "globals");   /* keys are case-sensitive */
    assert_null(nsl_suggest("size", keys, 3, false));
    assert_null(nsl_suggest("x", keys, 3, false));
    assert_null(nsl_suggest("", keys, 3, false));
    const char *dbs[] = {"ALPHADB", "BETADB", "USERDB"};
    assert_string_equal(nsl_suggest("ALPHA_DB", dbs, 3, true), "ALPHADB");
    assert_string_equal(nsl_suggest("betadb2", dbs, 3, true), "BETADB");
    assert_null(nsl_suggest("GAMMADB", dbs, 3, true));
    assert_null(nsl_suggest("ALPHADB", dbs, 3, true));   /* itself is no suggestion */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_count),
        cmocka_unit_test(test_print_positions),
        cmocka_unit_test(test_sort_is_stable),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_source_caret),
        cmocka_unit_test(test_suggest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
