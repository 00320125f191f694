/* Lock-name parsing (docs/LANGUAGE.md): extended and implied references, locals,
 * syntax errors with their exact columns, and the limits of docs/LANGUAGE.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mapping/mapping.h"

static nsl_code parse(const char *text, size_t len, nsl_lockname *n, nsl_error *err)
{
    memset(err, 0, sizeof *err);
    return nsl_lockname_parse(text, len, NULL, n, err);
}

static const char *format(const nsl_lockname *n)
{
    static char buf[2048];
    size_t len = nsl_lockname_format(n, buf, sizeof buf);
    assert_true(len < sizeof buf);
    assert_int_equal(strlen(buf), len);
    return buf;
}

static void assert_same_key(const char *a, const char *b)
{
    nsl_lockname na, nb;
    nsl_error err;
    assert_int_equal(parse(a, strlen(a), &na, &err), NSL_OK);
    assert_int_equal(parse(b, strlen(b), &nb, &err), NSL_OK);
    assert_int_equal(na.key.len, nb.key.len);
    assert_memory_equal(na.key.bytes, nb.key.bytes, na.key.len);
}

static void test_plain_globals_and_locals(void **state)
{
    (void)state;
    nsl_lockname n;
    nsl_error err;
    assert_int_equal(parse("^Orders(15,\"a\")", 15, &n, &err), NSL_OK);
    assert_int_equal(n.ref, NSL_REF_PLAIN);
    assert_int_equal(n.key.global, 1);
    assert_int_equal(n.key.nsubs, 2);
    assert_string_equal(n.env, "");
    assert_string_equal(format(&n), "^Orders(15,\"a\")");

    assert_int_equal(parse("x(1)", 4, &n, &err), NSL_OK);
    assert_int_equal(n.key.global, 0);
    assert_int_equal(n.key.nsubs, 1);
    assert_int_equal(n.key.bytes[0], 0x01);
    assert_string_equal(format(&n), "x(1)");

    static const char *const valid[] = {"%", "^%", "%x", "^%Z.1", "x.y1", "^A1.b2",
                                        "Ab", "^aB(\"\")"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        assert_int_equal(parse(valid[i], strlen(valid[i]), &n, &err), NSL_OK);
        assert_string_equal(format(&n), valid[i]);
    }
    /* names are case-sensitive */
    nsl_lockname m;
    assert_int_equal(parse("^ab", 3, &n, &err), NSL_OK);
    assert_int_equal(parse("^AB", 3, &m, &err), NSL_OK);
    assert_int_not_equal(nsl_key_cmp(&n.key, &m.key), 0);
    /* a local and a global of the same name differ */
    assert_int_equal(parse("ab", 2, &m, &err), NSL_OK);
    assert_int_not_equal(nsl_key_cmp(&n.key, &m.key), 0);
}

static void test_extended_references(void **state)
{
    (void)state;
    nsl_lockname n;
    nsl_error err;
    const char *t = "^[\"BETA\"]MyGlobal(15)";
    assert_int_equal(parse(t, strlen(t), &n, &err), NSL_OK);
    assert_int_equal(n.ref, NSL_REF_NAMESPACE);
    assert_string_equal(n.env, "BETA");
    assert_string_equal(format(&n), t);
    assert_same_key(t, "^MyGlobal(15)");

    t = "^|\"beta\"|X";                       /* the namespace as written */
    assert_int_equal(parse(t, strlen(t), &n, &err), NSL_OK);
    assert_int_equal(n.ref, NSL_REF_NAMESPACE);
    assert_string_equal(n.env, "beta");
    assert_string_equal(format(&n), "^[\"beta\"]X");

    static const char *const with_system[] = {"^[\"NS\",\"SYS\"]X", "^|\"NS\",\"SYS\"|X",
                                              "^[\"NS\",\"\"]X"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(parse(with_system[i], strlen(with_system[i]), &n, &err), NSL_OK);
        assert_int_equal(n.ref, NSL_REF_NAMESPACE);
        assert_string_equal(n.env, "NS");
        assert_string_equal(format(&n), "^[\"NS\"]X");
    }

    t = "^[\"^^/data/alpha\"]X";
    assert_int_equal(parse(t, strlen(t), &n, &err), NSL_OK);
    assert_int_equal(n.ref, NSL_REF_DIRECTORY);
    assert_string_equal(n.env, "/data/alpha");
    assert_string_equal(format(&n), t);
    t = "^|\"^^/data/alpha\",\"S\"|X(1)";
    assert_int_equal(parse(t, strlen(t), &n, &err), NSL_OK);
    assert_int_equal(n.ref, NSL_REF_DIRECTORY);
    assert_string_equal(format(&n), "^[\"^^/data/alpha\"]X(1)");

    t = "^[\"a\"\"b\"]X";                     /* doubled quote in a namespace */
    assert_int_equal(parse(t, strlen(t), &n, &err), NSL_OK);
    assert_string_equal(n.env, "a\"b");
    assert_string_equal(format(&n), t);

    /* the longest namespace name */
    char buf[300];
    memset(buf, 'N', sizeof buf);
    memcpy(buf, "^[\"", 3);
    memcpy(buf + 3 + NSL_MAX_ENV, "\"]X", 3);
    assert_int_equal(parse(buf, 3 + NSL_MAX_ENV + 3, &n, &err), NSL_OK);
    assert_int_equal(strlen(n.env), NSL_MAX_ENV);
}

typedef struct syntax_case {
    const char *text;
    nsl_code code;
    int column;
    const char *message;   /* a substring of the message */
} syntax_case;

static void test_errors_with_columns(void **state)
{
    (void)state;
    static const syntax_case cases[] = {
        {"", NSL_SYNTAX, 1, "expected a lock name"},
        {"^", NSL_SYNTAX, 2, "expected a global name"},
        {"^1a", NSL_SYNTAX, 2, "expected a global name"},
        {"1a", NSL_SYNTAX, 1, "expected a lock name"},
        {"^a(", NSL_SYNTAX, 4, "expected a subscript"},
        {"^a()", NSL_SYNTAX, 4, "empty subscript list"},
        {"^a(1,)", NSL_SYNTAX, 6, "expected a subscript"},
        {"^a(1", NSL_SYNTAX, 5, "expected ')' or ',' after subscript"},
        {"^a(1 ,2)", NSL_SYNTAX, 5, "expected ')' or ',' after subscript"},
        {"^a(1, 2)", NSL_SYNTAX, 6, "expected a subscript"},
        {"^a(\"x", NSL_SYNTAX, 4, "unterminated string"},
        {"^a(\"x\"\")", NSL_SYNTAX, 4, "unterminated string"},
        {"^a(1,\"x", NSL_SYNTAX, 6, "unterminated string"},
        {"^a(b)", NSL_SYNTAX, 4, "expected a subscript"},
        {"^a(+1)", NSL_SYNTAX, 4, "expected a subscript"},
        {"^a(1.)", NSL_SYNTAX, 6, "expected a digit after '.'"},
        {"^a(1e)", NSL_SYNTAX, 6, "exponent"},
        {"^a(-)", NSL_SYNTAX, 5, "expected a digit after '-'"},
        {"^a(\"x\"y)", NSL_SYNTAX, 7, "expected ')' or ','"},
        {"^a(1))", NSL_SYNTAX, 6, "unexpected ')'"},
        {"^a b", NSL_SYNTAX, 3, "unexpected ' '"},
        {"^a_b", NSL_SYNTAX, 3, "unexpected '_'"},
        {"^a\x01", NSL_SYNTAX, 3, "0x01"},
        {"x[\"NS\"]", NSL_SYNTAX, 2, "unexpected '['"},
        {"[\"NS\"]x", NSL_SYNTAX, 1, "only for globals"},
        {"|\"NS\"|x", NSL_SYNTAX, 1, "only for globals"},
        {"^[", NSL_SYNTAX, 3, "expected a namespace"},
        {"^[NS]X", NSL_SYNTAX, 3, "expected a namespace"},
        {"^|NS|X", NSL_SYNTAX, 3, "expected a namespace"},
        {"^[\"NS", NSL_SYNTAX, 3, "unterminated string"},
        {"^[\"NS\"X", NSL_SYNTAX, 7, "expected ']' or ','"},
        {"^[\"NS\"|X", NSL_SYNTAX, 7, "expected ']' or ','"},
        {"^|\"NS\"]X", NSL_SYNTAX, 7, "expected '|' or ','"},
        {"^[\"NS\",]X", NSL_SYNTAX, 8, "expected a system name"},
        {"^[\"NS\",\"S\",\"T\"]X", NSL_SYNTAX, 11, "expected ']'"},
        {"^[\"NS\",\"S]X", NSL_SYNTAX, 8, "unterminated string"},
        {"^[\"\"]X", NSL_SYNTAX, 3, "empty namespace name"},
        {"^[\"^^\"]X", NSL_SYNTAX, 3, "empty directory"},
        {"^[\"NS\"]", NSL_SYNTAX, 8, "expected a global name"},
        {"^[\"NS\"](1)", NSL_SYNTAX, 8, "expected a global name"},
        {"^[\"NS\"]^X", NSL_SYNTAX, 8, "expected a global name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nsl_lockname n;
        nsl_error err;
        nsl_code rc = parse(cases[i].text, strlen(cases[i].text), &n, &err);
        if (rc != cases[i].code || err.column != cases[i].column ||
            strstr(err.message, cases[i].message) == NULL)
            fail_msg("%s: got %s col %d \"%s\", want %s col %d \"%s\"", cases[i].text,
                     nsl_code_name(rc), err.column, err.message,
                     nsl_code_name(cases[i].code), cases[i].column, cases[i].message);
        assert_int_equal(err.code, rc);
    }
}

static void test_namespace_errors(void **state)
{
    (void)state;
    nsl_lockname n;
    nsl_error err;
    char buf[300];
    memset(buf, 'N', sizeof buf);
    memcpy(buf, "^[\"", 3);
    memcpy(buf + 3 + NSL_MAX_ENV + 1, "\"]X", 3);
    assert_int_equal(parse(buf, 3 + NSL_MAX_ENV + 1 + 3, &n, &err), NSL_SYNTAX);
    assert_int_equal(err.column, 3);
    assert_non_null(strstr(err.message, "longer than 255"));

    static const char nul[] = "^[\"a\0b\"]X";
    assert_int_equal(parse(nul, sizeof nul - 1, &n, &err), NSL_SYNTAX);
    assert_int_equal(err.column, 3);
    assert_non_null(strstr(err.message, "NUL"));

    /* err may be NULL */
    assert_int_equal(nsl_lockname_parse("^a(", 3, NULL, &n, NULL), NSL_SYNTAX);
}

static void test_name_length(void **state)
{
    (void)state;
    nsl_lockname n;
    nsl_error err;
    char text[64];
    text[0] = '^';
    memset(text + 1, 'a', 32);
    assert_int_equal(parse(text, 1 + 31, &n, &err), NSL_OK);
    assert_int_equal(n.key.end[0], 1 + 31 + 1);
    assert_int_equal(parse(text, 1 + 32, &n, &err), NSL_SYNTAX);
    assert_int_equal(err.column, 33);
    assert_non_null(strstr(err.message, "name longer than 31 characters"));
    /* locals too */
    assert_int_equal(parse(text + 1, 31, &n, &err), NSL_OK);
    assert_int_equal(parse(text + 1, 32, &n, &err), NSL_SYNTAX);
    assert_int_equal(err.column, 32);
}

/* "^a(" then count subscripts "1" separated by commas, then ")". */
static size_t many_subscripts(char *buf, unsigned count)
{
    size_t o = 0;
    memcpy(buf, "^a(", 3);
    o = 3;
    for (unsigned i = 0; i < count; i++) {
        if (i)
            buf[o++] = ',';
        buf[o++] = '1';
    }
    buf[o++] = ')';
    return o;
}

static void test_subscript_count_limit(void **state)
{
    (void)state;
    nsl_lockname n;
    nsl_error err;
    char text[128];
    size_t len = many_subscripts(text, NSL_MAX_SUBSCRIPTS);
    assert_int_equal(parse(text, len, &n, &err), NSL_OK);
    assert_int_equal(n.key.nsubs, 31);
    len = many_subscripts(text, NSL_MAX_SUBSCRIPTS + 1);
    assert_int_equal(parse(text, len, &n, &err), NSL_SUBSCRIPT);
    assert_int_equal(err.column, 4 + 2 * 31);         /* the 32nd subscript */
    assert_non_null(strstr(err.message, "31 subscripts"));
}

/* ^a("<fill x L>"<rest>) */
static nsl_code with_fill(size_t fill, const char *rest, nsl_lockname *n, nsl_error *err)
{
    static char text[1200];
    memcpy(text, "^a(\"", 4);
    memset(text + 4, 'x', fill);
    size_t o = 4 + fill;
    text[o++] = '"';
    size_t rl = strlen(rest);
    memcpy(text + o, rest, rl);
    o += rl;
    text[o++] = ')';
    return parse(text, o, n, err);
}

static void test_encoded_length_limit(void **state)
{
    (void)state;
    nsl_lockname n;
    nsl_error err;
    /* 02 'a' 00 | 05 x... 00 : fill + 5 bytes */
    assert_int_equal(with_fill(506, "", &n, &err), NSL_OK);
    assert_int_equal(n.key.len, 511);
    assert_int_equal(with_fill(507, "", &n, &err), NSL_SUBSCRIPT);
    assert_int_equal(err.column, 4);
    assert_non_null(strstr(err.message, "511 bytes"));
    assert_int_equal(with_fill(900, "", &n, &err), NSL_SUBSCRIPT);

    /* escaped bytes count double: 253 NULs = 506 bytes */
    char text[600];
    memcpy(text, "^a(\"", 4);
    memset(text + 4, 0, 254);
    memcpy(text + 4 + 253, "\")", 2);
    assert_int_equal(parse(text, 4 + 253 + 2, &n, &err), NSL_OK);
    assert_int_equal(n.key.len, 511);
    text[4 + 253] = 0;
    memcpy(text + 4 + 254, "\")", 2);
    assert_int_equal(parse(text, 4 + 254 + 2, &n, &err), NSL_SUBSCRIPT);

    /* a number after a string: 12345 takes 6 bytes */
    assert_int_equal(with_fill(500, ",12345", &n, &err), NSL_OK);
    assert_int_equal(n.key.len, 511);
    assert_int_equal(with_fill(501, ",12345", &n, &err), NSL_SUBSCRIPT);
    assert_int_equal(err.column, 501 + 7);

    /* the limit applies to the final form of a canonical-number string:
     * "1" as a number takes 4 bytes, "a" as a string 3 */
    assert_int_equal(with_fill(503, ",\"a\"", &n, &err), NSL_OK);
    assert_int_equal(with_fill(503, ",\"1\"", &n, &err), NSL_SUBSCRIPT);
    assert_int_equal(with_fill(503, ",1", &n, &err), NSL_SUBSCRIPT);
    /* "1234" as a number takes 5 bytes, "abcd" as a string 6 */
    assert_int_equal(with_fill(501, ",\"1234\"", &n, &err), NSL_OK);
    assert_int_equal(n.key.len, 511);
    assert_int_equal(with_fill(501, ",1234", &n, &err), NSL_OK);
    assert_int_equal(with_fill(501, ",\"abcd\"", &n, &err), NSL_SUBSCRIPT);
    assert_int_equal(with_fill(505, ",\"\"", &n, &err), NSL_OK);   /* "" is 1 byte */
    assert_int_equal(with_fill(506, ",\"\"", &n, &err), NSL_SUBSCRIPT);
}

static void test_consumed_stops_at_the_name(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t consumed;
    } cases[] = {
        {"^a(1)#\"S\"", 5}, {"^a:5", 2}, {"^a,^b", 2}, {"x(1) :5", 4},
        {"^[\"NS\"]X(1)rest", 11}, {"^a", 2}, {"^a(1))", 5}, {"^ab-c", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nsl_lockname n;
        nsl_error err;
        size_t used = 99;
        assert_int_equal(nsl_lockname_parse(cases[i].text, strlen(cases[i].text), &used, &n, &err),
                         NSL_OK);
        assert_int_equal(used, cases[i].consumed);
    }
    /* errors inside the name are still errors */
    nsl_lockname n;
    nsl_error err;
    size_t used;
    assert_int_equal(nsl_lockname_parse("^a(1,", 5, &used, &n, &err), NSL_SYNTAX);
    assert_int_equal(err.column, 6);
}

static void test_format_truncates_like_snprintf(void **state)
{
    (void)state;
    nsl_lockname n;
    nsl_error err;
    assert_int_equal(parse("^[\"NS\"]a(12345)", 15, &n, &err), NSL_OK);
    char buf[8];
    memset(buf, '#', sizeof buf);
    assert_int_equal(nsl_lockname_format(&n, buf, 5), 15);
    assert_string_equal(buf, "^[\"N");
    assert_int_equal(buf[5], '#');
    assert_int_equal(nsl_lockname_format(&n, NULL, 0), 15);
    assert_int_equal(nsl_key_format(&n.key, buf, sizeof buf), 9);
    assert_string_equal(buf, "^a(1234");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_globals_and_locals),
        cmocka_unit_test(test_extended_references),
        cmocka_unit_test(test_errors_with_columns),
        cmocka_unit_test(test_namespace_errors),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_subscript_count_limit),
        cmocka_unit_test(test_encoded_length_limit),
        cmocka_unit_test(test_consumed_stops_at_the_name),
        cmocka_unit_test(test_format_truncates_like_snprintf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
