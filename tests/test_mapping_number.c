/* M numbers as subscripts (docs/LANGUAGE.md): canonical form, 18-digit
 * rounding, range limits, canonical-number strings, and their encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mapping/mapping.h"

/* Canonical text of the single subscript of ^a(<literal>). */
static const char *canon_sub(const char *literal)
{
    static char out[600];
    char text[600];
    snprintf(text, sizeof text, "^a(%s)", literal);
    nsl_lockname n;
    nsl_error err = {0};
    nsl_code rc = nsl_lockname_parse(text, strlen(text), NULL, &n, &err);
    if (rc != NSL_OK) {
        snprintf(out, sizeof out, "%s@%d", nsl_code_name(rc), err.column);
        return out;
    }
    assert_int_equal(n.key.nsubs, 1);
    size_t len = nsl_subscript_format(n.key.bytes + n.key.end[0],
                                      n.key.end[1] - n.key.end[0], out, sizeof out);
    assert_true(len < sizeof out);
    return out;
}

/* Encoded bytes of the single subscript of ^a(<literal>). */
static size_t sub_bytes(const char *literal, size_t literal_len, uint8_t *out)
{
    char text[600];
    memcpy(text, "^a(", 3);
    memcpy(text + 3, literal, literal_len);
    text[3 + literal_len] = ')';
    nsl_lockname n;
    nsl_error err = {0};
    nsl_code rc = nsl_lockname_parse(text, literal_len + 4, NULL, &n, &err);
    if (rc != NSL_OK)
        fail_msg("%s: %s", literal, err.message);
    assert_int_equal(n.key.nsubs, 1);
    size_t len = n.key.end[1] - n.key.end[0];
    memcpy(out, n.key.bytes + n.key.end[0], len);
    return len;
}

#define assert_canon(literal, expected) \
    assert_string_equal(canon_sub(literal), expected)

static void test_canonical_forms(void **state)
{
    (void)state;
    assert_canon("01", "1");
    assert_canon("1.50", "1.5");
    assert_canon("-0", "0");
    assert_canon("1E3", "1000");
    assert_canon(".5", ".5");
    assert_canon("-.5", "-.5");
    assert_canon("1e-3", ".001");
    assert_canon("0.5", ".5");
    assert_canon("-0.50", "-.5");
    assert_canon("000", "0");
    assert_canon("0.000", "0");
    assert_canon(".0", "0");
    assert_canon("-0E7", "0");
    assert_canon("1E+2", "100");
    assert_canon("12.5e1", "125");
    assert_canon("1.5E-1", ".15");
    assert_canon("-1E0", "-1");
    assert_canon("100", "100");
    assert_canon("1000000", "1000000");
    assert_canon(".0001", ".0001");
    assert_canon("123.456", "123.456");
    assert_canon("-007.2500", "-7.25");
    assert_canon("12345E-10", ".0000012345");
}

static void test_rounding_to_18_digits(void **state)
{
    (void)state;
    assert_canon("123456789012345678", "123456789012345678");
    assert_canon("1234567890123456784", "1234567890123456780");
    assert_canon("1234567890123456785", "1234567890123456790");
    /* half away from zero, on the magnitude */
    assert_canon("-1234567890123456785", "-1234567890123456790");
    assert_canon("-1234567890123456784", "-1234567890123456780");
    assert_canon("999999999999999999.5", "1000000000000000000");
    assert_canon(".1234567890123456785", ".123456789012345679");
    assert_canon("0.99999999999999999999", "1");
    assert_canon("1.00000000000000000049", "1");
    assert_canon("12345678901234567.85", "12345678901234567.9");
}

static void test_range_limits(void **state)
{
    (void)state;
    /* 1E46 is the largest power of ten that fits */
    assert_canon("1E46", "10000000000000000000000000000000000000000000000");
    assert_string_equal(canon_sub("1E47"), "SUBSCRIPT@4");
    assert_string_equal(canon_sub("-1E47"), "SUBSCRIPT@4");
    assert_string_equal(canon_sub("1E999999999999999999"), "SUBSCRIPT@4");
    /* 47 nines round to 18 digits, i.e. up to 1E47 */
    assert_string_equal(canon_sub("99999999999999999999999999999999999999999999999"), "SUBSCRIPT@4");
    assert_canon("9999999999999999994999999999999999999999999999",
                 "9999999999999999990000000000000000000000000000");
    /* below 1E-43 is zero; 1E-43 itself is kept */
    assert_canon("1E-43", ".0000000000000000000000000000000000000000001");
    assert_canon("1E-44", "0");
    assert_canon("-1E-44", "0");
    assert_canon("9E-44", "0");
    assert_canon("9.99999999999999999999E-44", ".0000000000000000000000000000000000000000001");
    assert_canon("1E-999999999999999", "0");

    nsl_lockname n;
    nsl_error err = {0};
    const char *t = "^a(1,1E50)";
    assert_int_equal(nsl_lockname_parse(t, strlen(t), NULL, &n, &err), NSL_SUBSCRIPT);
    assert_int_equal(err.column, 6);
    assert_non_null(strstr(err.message, "overflow"));
}

static void test_number_syntax_errors(void **state)
{
    (void)state;
    assert_string_equal(canon_sub("1."), "SYNTAX@6");
    assert_string_equal(canon_sub("."), "SYNTAX@5");
    assert_string_equal(canon_sub("-"), "SYNTAX@5");
    assert_string_equal(canon_sub("-x"), "SYNTAX@5");
    assert_string_equal(canon_sub("1E"), "SYNTAX@6");
    assert_string_equal(canon_sub("1E+"), "SYNTAX@7");
    assert_string_equal(canon_sub("+1"), "SYNTAX@4");
    assert_string_equal(canon_sub("1..2"), "SYNTAX@6");
    assert_string_equal(canon_sub("1.2.3"), "SYNTAX@7");
    assert_string_equal(canon_sub("--1"), "SYNTAX@5");
}

/* A string whose text is a canonical number is that number. */
static void test_canonical_number_strings(void **state)
{
    (void)state;
    uint8_t a[64], b[64];
    static const char *const same[][2] = {
        {"\"15\"", "15"}, {"\".5\"", ".5"}, {"\"-.5\"", "-.5"}, {"\"0\"", "0"},
        {"\"-12.75\"", "-12.75"}, {"\"1000\"", "1000"},
        {"\"123456789012345678\"", "123456789012345678"},
        {"\"10000000000000000000000000000000000000000000000\"", "1E46"},
        {"\".0000000000000000000000000000000000000000001\"", "1E-43"},
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        size_t la = sub_bytes(same[i][0], strlen(same[i][0]), a);
        size_t lb = sub_bytes(same[i][1], strlen(same[i][1]), b);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
        assert_true(a[0] >= 0x02 && a[0] <= 0x04);   /* a number part */
    }
    /* Not canonical: they stay strings (0x05 ... 0x00). */
    static const char *const strings[] = {
        "\"015\"", "\"1.50\"", "\"+1\"", "\"1E3\"", "\"-0\"", "\"0.5\"", "\"1.\"",
        "\".\"", "\"-\"", "\"00\"", "\" 1\"", "\"1 \"", "\".50\"", "\"-01\"",
        "\"1234567890123456789\"",       /* 19 digits: not a number that fits */
        "\"100000000000000000000000000000000000000000000000\"",   /* 1E47 */
        "\".00000000000000000000000000000000000000000001\"",     /* 1E-44 */
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        size_t la = sub_bytes(strings[i], strlen(strings[i]), a);
        assert_int_equal(a[0], 0x05);
        assert_int_equal(a[la - 1], 0x00);
        assert_int_equal(la, strlen(strings[i]) - 2 + 2);
        assert_memory_equal(a + 1, strings[i] + 1, la - 2);
        assert_string_equal(canon_sub(strings[i]), strings[i]);
    }
}

static void test_empty_and_escaped_strings(void **state)
{
    (void)state;
    uint8_t b[64];
    assert_int_equal(sub_bytes("\"\"", 2, b), 1);
    assert_int_equal(b[0], 0x01);
    assert_canon("\"\"", "\"\"");

    /* doubled quotes */
    size_t n = sub_bytes("\"a\"\"b\"", 6, b);
    static const uint8_t quoted[] = {0x05, 'a', '"', 'b', 0x00};
    assert_int_equal(n, sizeof quoted);
    assert_memory_equal(b, quoted, n);
    assert_canon("\"a\"\"b\"", "\"a\"\"b\"");
    assert_canon("\"\"\"\"", "\"\"\"\"");

    /* 0x00 and 0x01 are escaped so that nothing inside ends the part */
    static const char raw[] = {'"', 0x00, 0x01, 0x02, (char)0xFF, '"'};
    n = sub_bytes(raw, sizeof raw, b);
    static const uint8_t esc[] = {0x05, 0x01, 0x01, 0x01, 0x02, 0x02, 0xFF, 0x00};
    assert_int_equal(n, sizeof esc);
    assert_memory_equal(b, esc, n);
}

static void test_number_encoding_bytes(void **state)
{
    (void)state;
    uint8_t b[64];
    static const struct {
        const char *literal;
        uint8_t len;
        uint8_t bytes[12];
    } cases[] = {
        {"0", 1, {0x03}},
        {"1", 4, {0x04, 0x81, 0x0C, 0x00}},
        {"10", 4, {0x04, 0x82, 0x0C, 0x00}},
        {"12345", 6, {0x04, 0x85, 0x0E, 0x24, 0x34, 0x00}},
        {".5", 4, {0x04, 0x80, 0x34, 0x00}},
        {".001", 4, {0x04, 0x7E, 0x0C, 0x00}},
        {"-1", 4, {0x02, 0x7E, 0xF3, 0xFE}},
        {"-1.5", 4, {0x02, 0x7E, 0xEE, 0xFE}},
        {"-100", 4, {0x02, 0x7C, 0xF3, 0xFE}},
        {"123456789012345678", 12,
         {0x04, 0x92, 0x0E, 0x24, 0x3A, 0x50, 0x5C, 0x0E, 0x24, 0x3A, 0x50, 0x00}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = sub_bytes(cases[i].literal, strlen(cases[i].literal), b);
        assert_int_equal(n, cases[i].len);
        assert_memory_equal(b, cases[i].bytes, n);
    }
}

/* Numbers in increasing order must encode in increasing memcmp order. */
static void test_number_order(void **state)
{
    (void)state;
    static const char *const ordered[] = {
        "\"\"", "-1E46", "-1000", "-999.99", "-100", "-12", "-11.5", "-11", "-2",
        "-1.5", "-1.25", "-1.2", "-1", "-.99", "-.5", "-.0001",
        "-1E-43", "0", "1E-43", ".0001", ".5", ".99", "1", "1.2", "1.25", "1.5",
        "2", "11", "11.5", "12", "100", "999.99", "1000", "1E46",
        "\" \"", "\"-\"", "\"-0\"", "\"0.5\"", "\"015\"", "\"1.50\"", "\"a\"",
    };
    uint8_t prev[64], cur[64];
    size_t prev_len = sub_bytes(ordered[0], strlen(ordered[0]), prev);
    for (size_t i = 1; i < sizeof ordered / sizeof ordered[0]; i++) {
        size_t len = sub_bytes(ordered[i], strlen(ordered[i]), cur);
        if (nsl_key_bytes_cmp(prev, prev_len, cur, len) >= 0)
            fail_msg("%s does not sort before %s", ordered[i - 1], ordered[i]);
        memcpy(prev, cur, len);
        prev_len = len;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_forms),
        cmocka_unit_test(test_rounding_to_18_digits),
        cmocka_unit_test(test_range_limits),
        cmocka_unit_test(test_number_syntax_errors),
        cmocka_unit_test(test_canonical_number_strings),
        cmocka_unit_test(test_empty_and_escaped_strings),
        cmocka_unit_test(test_number_encoding_bytes),
        cmocka_unit_test(test_number_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
