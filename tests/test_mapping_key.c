/* Keys (mapping.h): canonical text round trip, validation of stored bytes,
 * ancestry and overlap (docs/LANGUAGE.md), truncation, and collation examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mapping/mapping.h"

static nsl_key key_of(const char *text)
{
    nsl_lockname n;
    nsl_error err = {0};
    if (nsl_lockname_parse(text, strlen(text), NULL, &n, &err) != NSL_OK)
        fail_msg("%s: col %d: %s", text, err.column, err.message);
    return n.key;
}

static void test_format_round_trip(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"^a", "^a"},
        {"^Orders(1,\"a\"\"b\")", "^Orders(1,\"a\"\"b\")"},
        {"x(-0.50)", "x(-.5)"},
        {"^a(01,\"01\",\"1\",1E3,\"\",-0)", "^a(1,\"01\",1,1000,\"\",0)"},
        {"^%z(\"-.5\",\".5\",\"0\")", "^%z(-.5,.5,0)"},
        {"^a(1.2e-5,-123456789012345678)", "^a(.000012,-123456789012345678)"},
        {"^a(\"\"\"\",\"a,b\",\"(\",\")\")", "^a(\"\"\"\",\"a,b\",\"(\",\")\")"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nsl_key k = key_of(cases[i][0]);
        char buf[600], buf2[600];
        size_t len = nsl_key_format(&k, buf, sizeof buf);
        assert_string_equal(buf, cases[i][1]);
        assert_int_equal(len, strlen(cases[i][1]));
        /* the same from bytes */
        assert_int_equal(nsl_key_format_bytes(k.bytes, k.len, buf2, sizeof buf2), len);
        assert_string_equal(buf2, buf);
        /* decode(encode(x)) re-parses to the same key */
        nsl_key again = key_of(buf);
        assert_int_equal(again.len, k.len);
        assert_memory_equal(again.bytes, k.bytes, k.len);
        assert_int_equal(again.nsubs, k.nsubs);
        assert_memory_equal(again.end, k.end, (k.nsubs + 1) * sizeof k.end[0]);
    }
}

static void test_subscript_format(void **state)
{
    (void)state;
    nsl_key k = key_of("^a(15,\"x\"\"y\",\"\",-.25)");
    static const char *const want[] = {"15", "\"x\"\"y\"", "\"\"", "-.25"};
    for (unsigned i = 1; i <= k.nsubs; i++) {
        char buf[32];
        size_t n = nsl_subscript_format(k.bytes + k.end[i - 1], k.end[i] - k.end[i - 1],
                                        buf, sizeof buf);
        assert_string_equal(buf, want[i - 1]);
        assert_int_equal(n, strlen(want[i - 1]));
    }
}

static void test_from_bytes_accepts_valid_keys(void **state)
{
    (void)state;
    static const char *const names[] = {
        "^a", "x", "^%", "^Orders(1,\"a\"\"b\",-2.5,0,\"\")", "x(.5,\"015\")",
        "^a(\"\x01\x02\xFF\")",
        ("^a(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,"
         "21,22,23,24,25,26,27,28,29,30,31)"),
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        nsl_key k = key_of(names[i]), out;
        memset(&out, 0xAA, sizeof out);
        assert_true(nsl_key_from_bytes(&out, k.bytes, k.len));
        assert_int_equal(out.len, k.len);
        assert_int_equal(out.nsubs, k.nsubs);
        assert_int_equal(out.global, k.global);
        assert_memory_equal(out.end, k.end, (k.nsubs + 1) * sizeof k.end[0]);
        assert_memory_equal(out.bytes, k.bytes, k.len);
        assert_int_equal(nsl_key_cmp(&out, &k), 0);
    }
    /* NUL and 0x01 inside a string */
    static const char nul[] = "^a(\"\0\")";
    nsl_lockname n;
    assert_int_equal(nsl_lockname_parse(nul, sizeof nul - 1, NULL, &n, NULL), NSL_OK);
    nsl_key out;
    assert_true(nsl_key_from_bytes(&out, n.key.bytes, n.key.len));
}

static void test_from_bytes_rejects_bad_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *why;
        uint8_t len;
        uint8_t bytes[16];
    } bad[] = {
        {"empty", 0, {0}},
        {"too short", 2, {0x02, 'a'}},
        {"unknown name kind", 3, {0x03, 'a', 0x00}},
        {"empty name", 3, {0x02, 0x00, 0x00}},
        {"name starts with a digit", 3, {0x02, '1', 0x00}},
        {"bad name character", 4, {0x02, 'a', '_', 0x00}},
        {"no name terminator", 3, {0x02, 'a', 'b'}},
        {"unknown subscript type", 4, {0x02, 'a', 0x00, 0x06}},
        {"0xFF subscript", 4, {0x02, 'a', 0x00, 0xFF}},
        {"number without pairs", 5, {0x02, 'a', 0x00, 0x04, 0x81}},
        {"number with no digit", 6, {0x02, 'a', 0x00, 0x04, 0x81, 0x00}},
        {"leading zero digit", 7, {0x02, 'a', 0x00, 0x04, 0x81, 0x03, 0x00}},
        {"trailing zero pair", 8, {0x02, 'a', 0x00, 0x04, 0x81, 0x0C, 0x02, 0x00}},
        {"pair out of range", 7, {0x02, 'a', 0x00, 0x04, 0x81, 0x70, 0x00}},
        {"pair byte 0x01", 7, {0x02, 'a', 0x00, 0x04, 0x81, 0x01, 0x00}},
        {"exponent too large", 7, {0x02, 'a', 0x00, 0x04, 0xB0, 0x0C, 0x00}},
        {"exponent too small", 7, {0x02, 'a', 0x00, 0x04, 0x55, 0x0C, 0x00}},
        {"negative without end", 6, {0x02, 'a', 0x00, 0x02, 0x7E, 0xF3}},
        {"negative, bad pair", 7, {0x02, 'a', 0x00, 0x02, 0x7E, 0x10, 0xFE}},
        {"zero with trailing byte", 5, {0x02, 'a', 0x00, 0x03, 0x0C}},
        {"empty string part", 5, {0x02, 'a', 0x00, 0x05, 0x00}},
        {"unterminated string", 5, {0x02, 'a', 0x00, 0x05, 'x'}},
        {"bad escape", 7, {0x02, 'a', 0x00, 0x05, 0x01, 0x03, 0x00}},
        {"escape at the end", 6, {0x02, 'a', 0x00, 0x05, 0x01, 0x00}},
        {"string that is a number", 6, {0x02, 'a', 0x00, 0x05, '1', 0x00}},
        {"string that is -.5", 8, {0x02, 'a', 0x00, 0x05, '-', '.', '5', 0x00}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nsl_key out;
        if (nsl_key_from_bytes(&out, bad[i].bytes, bad[i].len))
            fail_msg("accepted: %s", bad[i].why);
    }
    /* a valid key with 32 subscripts or more than 511 bytes */
    uint8_t big[600];
    memcpy(big, "\x02" "a", 3);
    for (int i = 0; i < 32; i++)
        big[3 + i] = 0x03;
    nsl_key out;
    assert_true(nsl_key_from_bytes(&out, big, 3 + 31));
    assert_false(nsl_key_from_bytes(&out, big, 3 + 32));
    big[3] = 0x05;
    memset(big + 4, 'x', 506);
    big[510] = 0x00;
    assert_true(nsl_key_from_bytes(&out, big, 511));
    big[510] = 'x';
    big[511] = 0x00;
    assert_false(nsl_key_from_bytes(&out, big, 512));
    /* a 32-character name */
    uint8_t name[40];
    name[0] = 0x02;
    memset(name + 1, 'a', 32);
    name[33] = 0x00;
    assert_false(nsl_key_from_bytes(&out, name, 34));
    name[32] = 0x00;
    assert_true(nsl_key_from_bytes(&out, name, 33));
}

static void test_ancestry_and_overlap(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        bool a_ancestor_of_b, overlap;
    } cases[] = {
        {"^a", "^a(1)", true, true},
        {"^a", "^a(1,2)", true, true},
        {"^a(1)", "^a(1,2)", true, true},
        {"^a(1)", "^a(1)", false, true},
        {"^a(1)", "^a(2)", false, false},
        {"^a(1)", "^a(10)", false, false},
        {"^a(1)", "^a(1.5)", false, false},
        {"^a(\"ab\")", "^a(\"abc\")", false, false},
        {"^a(\"\")", "^a(\"\",1)", true, true},
        {"^a", "^ab(1)", false, false},
        {"^a", "^a.b", false, false},
        {"x", "^x", false, false},
        {"x", "x(1)", true, true},
        {"^a(-1)", "^a(-1,0)", true, true},
        {"^a(-1)", "^a(-10)", false, false},
        {"^a(1,2)", "^a(1)", false, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nsl_key a = key_of(cases[i].a), b = key_of(cases[i].b);
        if (nsl_key_is_ancestor(&a, &b) != cases[i].a_ancestor_of_b)
            fail_msg("is_ancestor(%s, %s)", cases[i].a, cases[i].b);
        if (nsl_key_overlaps(&a, &b) != cases[i].overlap ||
            nsl_key_overlaps(&b, &a) != cases[i].overlap)
            fail_msg("overlaps(%s, %s)", cases[i].a, cases[i].b);
        assert_false(nsl_key_is_ancestor(&a, &a));
    }
}

static void test_truncate(void **state)
{
    (void)state;
    nsl_key k = key_of("^a(1,\"x\",-3)"), out;
    static const char *const levels[] = {"^a", "^a(1)", "^a(1,\"x\")", "^a(1,\"x\",-3)"};
    for (unsigned level = 0; level <= 3; level++) {
        nsl_key_truncate(&k, level, &out);
        nsl_key want = key_of(levels[level]);
        assert_int_equal(out.len, want.len);
        assert_int_equal(out.nsubs, level);
        assert_int_equal(out.global, 1);
        assert_memory_equal(out.bytes, want.bytes, want.len);
        assert_memory_equal(out.end, want.end, (level + 1) * sizeof want.end[0]);
        if (level < 3)
            assert_true(nsl_key_is_ancestor(&out, &k));
    }
    /* in place */
    nsl_key_truncate(&k, 1, &k);
    nsl_key want = key_of("^a(1)");
    assert_int_equal(nsl_key_cmp(&k, &want), 0);
    assert_int_equal(k.nsubs, 1);
}

/* docs/LANGUAGE.md order, and an ancestor before all its descendants. */
static void test_collation_examples(void **state)
{
    (void)state;
    static const char *const ordered[] = {
        "x", "x(1)", "x(1,\"a\")", "xy",
        "^A", "^a", "^a(\"\")", "^a(\"\",1)", "^a(-5)", "^a(-1.5)", "^a(0)",
        "^a(1)", "^a(1,-1)", "^a(1,2)", "^a(1,\"z\")", "^a(1.5)", "^a(2)",
        "^a(10)", "^a(\" \")", "^a(\"-01\",0)", "^a(\"015\")", "^a(\"A\")",
        "^a(\"a\")", "^a(\"a\x01\")", "^a(\"ab\")", "^a(\"\xFF\")", "^a.b", "^aa", "^b",
    };
    nsl_key prev = key_of(ordered[0]);
    for (size_t i = 1; i < sizeof ordered / sizeof ordered[0]; i++) {
        nsl_key cur = key_of(ordered[i]);
        if (nsl_key_cmp(&prev, &cur) >= 0 || nsl_key_cmp(&cur, &prev) <= 0)
            fail_msg("%s does not sort before %s", ordered[i - 1], ordered[i]);
        prev = cur;
    }
    nsl_key a = key_of("^a(1)"), b = key_of("^a(1)");
    assert_int_equal(nsl_key_cmp(&a, &b), 0);
}

/* K followed by 0xFF bounds K's whole subtree from above. */
static void test_subtree_upper_bound(void **state)
{
    (void)state;
    nsl_key k = key_of("^a(1)");
    uint8_t bound[NSL_MAX_KEY_BYTES + 1];
    memcpy(bound, k.bytes, k.len);
    bound[k.len] = 0xFF;
    static const char *const inside[] = {"^a(1)", "^a(1,\"\")", "^a(1,-1E46)", "^a(1,1E46)",
                                         "^a(1,\"\xFF\xFF\")",
                                         "^a(\"1\",\"x\")" /* "1" is 1 */};
    static const char *const outside[] = {"^a(1.000001)", "^a(2)", "^a(\"1 \")", "^a(\"\")",
                                          "^a(.999)", "^a"};
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) {
        nsl_key d = key_of(inside[i]);
        assert_true(nsl_key_cmp(&k, &d) <= 0);
        assert_true(nsl_key_bytes_cmp(d.bytes, d.len, bound, k.len + 1) < 0);
    }
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        nsl_key d = key_of(outside[i]);
        bool below = nsl_key_cmp(&d, &k) < 0;
        bool above = nsl_key_bytes_cmp(d.bytes, d.len, bound, k.len + 1) > 0;
        if (below == above)
            fail_msg("%s is inside [^a(1), ^a(1)+0xFF)", outside[i]);
    }
}

static void test_codes(void **state)
{
    (void)state;
    assert_string_equal(nsl_code_name(NSL_SYNTAX), "SYNTAX");
    assert_string_equal(nsl_code_text(NSL_SYNTAX), "syntax error");
    assert_string_equal(nsl_code_name(NSL_PROTOCOL), "PROTOCOL");
    for (int c = 0; c < NSL_CODE_COUNT; c++) {
        const char *name = nsl_code_name((nsl_code)c);
        assert_int_equal(nsl_code_from_name(name, strlen(name)), c);
        assert_true(strlen(nsl_code_text((nsl_code)c)) > 0);
    }
    assert_int_equal(nsl_code_from_name("SYNTAXX", 7), NSL_CODE_COUNT);
    assert_int_equal(nsl_code_from_name("SYNTAX", 5), NSL_CODE_COUNT);
    assert_int_equal(nsl_code_from_name("SYNTAX", 6), NSL_SYNTAX);
    assert_string_equal(nsl_code_name(NSL_CODE_COUNT), "UNKNOWN");

    nsl_error err;
    assert_int_equal(nsl_error_set(&err, NSL_LIMIT, 7, "count %d over %s", 32767, "max"),
                     NSL_LIMIT);
    assert_int_equal(err.code, NSL_LIMIT);
    assert_int_equal(err.column, 7);
    assert_string_equal(err.message, "count 32767 over max");
    assert_int_equal(nsl_error_set(NULL, NSL_IO, 0, "x"), NSL_IO);
    char longer[400];
    memset(longer, 'y', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    nsl_error_set(&err, NSL_SYNTAX, 1, "%s", longer);
    assert_int_equal(strlen(err.message), sizeof err.message - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_subscript_format),
        cmocka_unit_test(test_from_bytes_accepts_valid_keys),
        cmocka_unit_test(test_from_bytes_rejects_bad_bytes),
        cmocka_unit_test(test_ancestry_and_overlap),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_collation_examples),
        cmocka_unit_test(test_subtree_upper_bound),
        cmocka_unit_test(test_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
