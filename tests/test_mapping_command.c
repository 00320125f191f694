/* The LOCK command language (docs/LANGUAGE.md): every form of its table,
 * type codes, timeouts, errors with their columns, and array reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mapping/mapping.h"

static nsl_lock_command cmd;
static nsl_error err;

static int setup(void **state)
{
    (void)state;
    nsl_lock_command_init(&cmd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nsl_lock_command_free(&cmd);
    return 0;
}

static nsl_code run(const char *text)
{
    memset(&err, 0, sizeof err);
    return nsl_lock_command_parse(text, strlen(text), &cmd, &err);
}

static void parse_ok(const char *text)
{
    if (run(text) != NSL_OK)
        fail_msg("%s: %s at column %d: %s", text, nsl_code_name(err.code), err.column,
                 err.message);
}

static const char *item_text(size_t i)
{
    static char buf[600];
    assert_true(i < cmd.item_count);
    nsl_lockname_format(&cmd.items[i].name, buf, sizeof buf);
    return buf;
}

static void assert_arg(size_t a, nsl_lock_op op, size_t first, size_t count,
                       bool has_timeout, int64_t timeout_ms)
{
    assert_true(a < cmd.arg_count);
    assert_int_equal(cmd.args[a].op, op);
    assert_int_equal(cmd.args[a].first_item, first);
    assert_int_equal(cmd.args[a].item_count, count);
    assert_int_equal(cmd.args[a].has_timeout, has_timeout);
    assert_int_equal(cmd.args[a].timeout_ms, timeout_ms);
}

static void test_bare_lock(void **state)
{
    (void)state;
    static const char *const bare[] = {"LOCK", "lock", "L", "l", "Lock ", "LOCK\n", "L\r\n",
                                       "LOCK  \t"};
    for (size_t i = 0; i < sizeof bare / sizeof bare[0]; i++) {
        parse_ok(bare[i]);
        assert_int_equal(cmd.arg_count, 0);
        assert_int_equal(cmd.item_count, 0);
    }
}

/* The table of docs/LANGUAGE.md, line by line. */
static void test_spec_forms(void **state)
{
    (void)state;
    parse_ok("LOCK ^a(1)");
    assert_int_equal(cmd.arg_count, 1);
    assert_arg(0, NSL_OP_SIMPLE, 0, 1, false, NSL_WAIT_FOREVER);
    assert_string_equal(item_text(0), "^a(1)");
    assert_int_equal(cmd.items[0].types, 0);
    assert_int_equal(cmd.items[0].column, 6);
    assert_int_equal(cmd.args[0].column, 6);

    parse_ok("LOCK (^a(1),^b):5");
    assert_int_equal(cmd.arg_count, 1);
    assert_arg(0, NSL_OP_SIMPLE, 0, 2, true, 5000);
    assert_string_equal(item_text(0), "^a(1)");
    assert_string_equal(item_text(1), "^b");
    assert_int_equal(cmd.items[1].column, 13);

    parse_ok("LOCK +^a(1)");
    assert_arg(0, NSL_OP_ADD, 0, 1, false, NSL_WAIT_FOREVER);
    assert_int_equal(cmd.args[0].column, 6);
    assert_int_equal(cmd.items[0].column, 7);

    parse_ok("LOCK +^a(1)#\"SE\":0");
    assert_arg(0, NSL_OP_ADD, 0, 1, true, 0);
    assert_int_equal(cmd.items[0].types, NSL_TYPE_SHARED | NSL_TYPE_ESCALATING);

    parse_ok("LOCK +(^a(1),^b(2))#\"S\":2.5");
    assert_arg(0, NSL_OP_ADD, 0, 2, true, 2500);
    assert_int_equal(cmd.items[0].types, NSL_TYPE_SHARED);
    assert_int_equal(cmd.items[1].types, NSL_TYPE_SHARED);
    assert_string_equal(item_text(1), "^b(2)");

    parse_ok("LOCK -^a(1)");
    assert_arg(0, NSL_OP_REMOVE, 0, 1, false, NSL_WAIT_FOREVER);
    assert_int_equal(cmd.items[0].types, 0);

    parse_ok("LOCK -^a(1)#\"S\"");
    assert_arg(0, NSL_OP_REMOVE, 0, 1, false, NSL_WAIT_FOREVER);
    assert_int_equal(cmd.items[0].types, NSL_TYPE_SHARED);

    parse_ok("LOCK -^a(1)#\"I\"");
    assert_int_equal(cmd.items[0].types, NSL_TYPE_IMMEDIATE);

    parse_ok("LOCK +^a:1,-^b");
    assert_int_equal(cmd.arg_count, 2);
    assert_int_equal(cmd.item_count, 2);
    assert_arg(0, NSL_OP_ADD, 0, 1, true, 1000);
    assert_arg(1, NSL_OP_REMOVE, 1, 1, false, NSL_WAIT_FOREVER);
    assert_string_equal(item_text(0), "^a");
    assert_string_equal(item_text(1), "^b");
    assert_int_equal(cmd.args[1].column, 12);
    assert_int_equal(cmd.items[1].column, 13);
}

static void test_more_forms(void **state)
{
    (void)state;
    parse_ok("L +^a(1) :5");                  /* the optional space before ':' */
    assert_arg(0, NSL_OP_ADD, 0, 1, true, 5000);

    parse_ok("lock (^MyVar1, ^MyVar2, ^MyVar3)");   /* as the seed writes it */
    assert_arg(0, NSL_OP_SIMPLE, 0, 3, false, NSL_WAIT_FOREVER);
    assert_string_equal(item_text(2), "^MyVar3");

    parse_ok("LOCK +^a, -^b(\"x\"),x(1)");
    assert_int_equal(cmd.arg_count, 3);
    assert_arg(2, NSL_OP_SIMPLE, 2, 1, false, NSL_WAIT_FOREVER);
    assert_int_equal(cmd.items[2].name.key.global, 0);

    parse_ok("LOCK +^[\"BETA\"]MyGlobal(15)#\"e\":1,-^|\"^^/data/alpha\"|X");
    assert_int_equal(cmd.items[0].name.ref, NSL_REF_NAMESPACE);
    assert_string_equal(cmd.items[0].name.env, "BETA");
    assert_int_equal(cmd.items[0].types, NSL_TYPE_ESCALATING);
    assert_int_equal(cmd.items[1].name.ref, NSL_REF_DIRECTORY);
    assert_string_equal(cmd.items[1].name.env, "/data/alpha");

    /* a string with a comma, a parenthesis and a colon is one subscript */
    parse_ok("LOCK +(^a(\"x,y):z\"),^b)");
    assert_int_equal(cmd.item_count, 2);
    assert_string_equal(item_text(0), "^a(\"x,y):z\")");

    /* several parenthesized arguments, each with its own timeout */
    parse_ok("LOCK +(^a,^b):0,+(^c):.5,(^d)");
    assert_int_equal(cmd.arg_count, 3);
    assert_arg(0, NSL_OP_ADD, 0, 2, true, 0);
    assert_arg(1, NSL_OP_ADD, 2, 1, true, 500);
    assert_arg(2, NSL_OP_SIMPLE, 3, 1, false, NSL_WAIT_FOREVER);
}

static void test_type_codes(void **state)
{
    (void)state;
    static const struct {
        const char *types;
        uint8_t bits;
    } cases[] = {
        {"", 0},
        {"S", NSL_TYPE_SHARED},
        {"s", NSL_TYPE_SHARED},
        {"E", NSL_TYPE_ESCALATING},
        {"es", NSL_TYPE_SHARED | NSL_TYPE_ESCALATING},
        {"SE", NSL_TYPE_SHARED | NSL_TYPE_ESCALATING},
        {"SS", NSL_TYPE_SHARED},
        {"D", NSL_TYPE_DEFERRED},
        {"Ied", NSL_TYPE_ESCALATING | NSL_TYPE_DEFERRED | 0},
        {"SEI", NSL_TYPE_SHARED | NSL_TYPE_ESCALATING | NSL_TYPE_IMMEDIATE},
        {"dse", NSL_TYPE_SHARED | NSL_TYPE_ESCALATING | NSL_TYPE_DEFERRED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "LOCK +^a(1)#\"%s\"", cases[i].types);
        nsl_code rc = run(text);
        if (strchr(cases[i].types, 'I') && strchr(cases[i].types, 'd')) {
            assert_int_equal(rc, NSL_COMMAND);
            continue;
        }
        assert_int_equal(rc, NSL_OK);
        assert_int_equal(cmd.items[0].types, cases[i].bits);
    }
    /* per-name types inside a list, joined with the list's type */
    parse_ok("LOCK +(^a(1)#\"E\",^b(2),^c#\"I\")#\"S\"");
    assert_int_equal(cmd.items[0].types, NSL_TYPE_SHARED | NSL_TYPE_ESCALATING);
    assert_int_equal(cmd.items[1].types, NSL_TYPE_SHARED);
    assert_int_equal(cmd.items[2].types, NSL_TYPE_SHARED | NSL_TYPE_IMMEDIATE);
}

static void test_timeouts(void **state)
{
    (void)state;
    static const struct {
        const char *t;
        int64_t ms;
    } cases[] = {
        {"0", 0}, {"-1", 0}, {"-0", 0}, {"-.5", 0}, {".005", 0}, {".0099", 0},
        {".01", 10}, {"0.01", 10}, {".0104", 10}, {".0105", 11}, {"2.5", 2500},
        {"5", 5000}, {"1.0005", 1001}, {"1.0004999", 1000}, {"1E3", 1000000},
        {"1e-2", 10}, {"30", 30000}, {"000.25", 250},
        {"1000000000", 1000000000000}, {"1E40", 1000000000000}, {"1E400", 1000000000000},
        {"-1E400", 0}, {"1E-400", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "LOCK +^a:%s", cases[i].t);
        parse_ok(text);
        assert_true(cmd.args[0].has_timeout);
        if (cmd.args[0].timeout_ms != cases[i].ms)
            fail_msg(":%s gave %lld ms, want %lld", cases[i].t,
                     (long long)cmd.args[0].timeout_ms, (long long)cases[i].ms);

        int64_t ms = -7;
        assert_int_equal(nsl_timeout_parse(cases[i].t, strlen(cases[i].t), &ms, &err), NSL_OK);
        assert_int_equal(ms, cases[i].ms);
    }
    int64_t ms;
    assert_int_equal(nsl_timeout_parse("5s", 2, &ms, &err), NSL_SYNTAX);
    assert_int_equal(err.column, 2);
    assert_int_equal(nsl_timeout_parse("", 0, &ms, &err), NSL_SYNTAX);
    assert_int_equal(err.column, 1);
    assert_int_equal(nsl_timeout_parse("x", 1, &ms, NULL), NSL_SYNTAX);
    assert_int_equal(nsl_timeout_parse("1.", 2, &ms, &err), NSL_SYNTAX);
    assert_int_equal(err.column, 3);
}

typedef struct error_case {
    const char *text;
    nsl_code code;
    int column;
    const char *message;   /* a substring */
} error_case;

static void test_errors_with_columns(void **state)
{
    (void)state;
    static const error_case cases[] = {
        {"", NSL_SYNTAX, 1, "expected the command LOCK"},
        {"LOCKS ^a", NSL_SYNTAX, 1, "expected the command LOCK"},
        {"LO ^a", NSL_SYNTAX, 1, "expected the command LOCK"},
        {" LOCK", NSL_SYNTAX, 1, "expected the command LOCK"},
        {"L^a", NSL_SYNTAX, 2, "expected a space after LOCK"},
        {"LOCK+^a", NSL_SYNTAX, 5, "expected a space after LOCK"},
        {"LOCK  ^a", NSL_SYNTAX, 6, "expected a lock name"},
        {"LOCK +", NSL_SYNTAX, 7, "expected a lock name"},
        {"LOCK +-^a", NSL_SYNTAX, 7, "expected a lock name"},
        {"LOCK ^a,", NSL_SYNTAX, 9, "expected a lock argument after ','"},
        {"LOCK ,^a", NSL_SYNTAX, 6, "expected a lock name"},
        {"LOCK ^a ^b", NSL_SYNTAX, 8, "expected ':timeout', ','"},
        {"LOCK ^a  :5", NSL_SYNTAX, 8, "expected ':timeout', ','"},
        {"LOCK ^a(1)x", NSL_SYNTAX, 11, "expected ':timeout', ','"},
        {"LOCK ^a(1", NSL_SYNTAX, 10, "expected ')' or ','"},
        {"LOCK +^a(1,\"x)", NSL_SYNTAX, 12, "unterminated string"},
        {"LOCK +^a#S", NSL_SYNTAX, 10, "expected '\"' after '#'"},
        {"LOCK +^a(1)#\"S", NSL_SYNTAX, 13, "unterminated lock type"},
        {"LOCK +^a:", NSL_SYNTAX, 10, "expected a digit"},
        {"LOCK +^a:x", NSL_SYNTAX, 10, "expected a digit"},
        {"LOCK +^a:1.", NSL_SYNTAX, 12, "expected a digit after '.'"},
        {"LOCK +^a:5s", NSL_SYNTAX, 11, "expected ':timeout', ','"},
        {"LOCK (^a", NSL_SYNTAX, 9, "expected ')' or ','"},
        {"LOCK (^a:5)", NSL_SYNTAX, 9, "expected ')' or ','"},
        {"LOCK ()", NSL_SYNTAX, 7, "expected a lock name"},
        {"LOCK (^a,)", NSL_SYNTAX, 10, "expected a lock name"},
        {"LOCK ((^a))", NSL_SYNTAX, 7, "expected a lock name"},
        {"LOCK (^a)#\"S\"#\"E\"", NSL_SYNTAX, 14, "expected ':timeout', ','"},
        {"LOCK ^a:1:2", NSL_SYNTAX, 10, "expected ':timeout', ','"},
        {"LOCK x[\"NS\"]", NSL_SYNTAX, 7, "expected ':timeout', ','"},
        {"LOCK [\"NS\"]x", NSL_SYNTAX, 6, "only for globals"},
        {"LOCK ^a(1)#\"ID\"", NSL_COMMAND, 11, "I and D"},
        {"LOCK +^a(1)#\"sdi\"", NSL_COMMAND, 12, "I and D"},
        {"LOCK +^a#\"E\"", NSL_COMMAND, 11, "E needs a subscripted name; ^a has"},
        {"LOCK +^a#\"SE\"", NSL_COMMAND, 12, "E needs a subscripted name"},
        {"LOCK +^a(1)#\"X\"", NSL_COMMAND, 14, "unknown lock type code 'X'"},
        {"LOCK +^a(1)#\"S,E\"", NSL_COMMAND, 15, "unknown lock type code ','"},
        {"LOCK +^a(1)#\"S\"\"E\"", NSL_SYNTAX, 16, "expected ':timeout', ','"},
        {"LOCK +(^a,^b(1))#\"E\"", NSL_COMMAND, 8, "E needs a subscripted name; ^a"},
        {"LOCK +(^b(1),x)#\"E\"", NSL_COMMAND, 14, "E needs a subscripted name; x has"},
        {"LOCK +(^a(1)#\"I\",^b)#\"D\"", NSL_COMMAND, 8, "I and D"},
        {"LOCK +^a:1,-^b#\"E\"", NSL_COMMAND, 17, "E needs"},
        {"LOCK +^a(1E50)", NSL_SUBSCRIPT, 10, "overflow"},
        {"LOCK +^a,+^b(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,"
         "24,25,26,27,28,29,30,31,32)", NSL_SUBSCRIPT, 98, "31 subscripts"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nsl_code rc = run(cases[i].text);
        if (rc != cases[i].code || err.column != cases[i].column ||
            strstr(err.message, cases[i].message) == NULL)
            fail_msg("%s: got %s col %d \"%s\", want %s col %d \"%s\"", cases[i].text,
                     nsl_code_name(rc), err.column, err.message,
                     nsl_code_name(cases[i].code), cases[i].column, cases[i].message);
        assert_int_equal(err.code, rc);
        /* err may be NULL */
        assert_int_equal(nsl_lock_command_parse(cases[i].text, strlen(cases[i].text), &cmd, NULL),
                         rc);
    }
}

/* The arrays grow once and are reused: no reallocation when they suffice. */
static void test_arrays_are_reused(void **state)
{
    (void)state;
    char text[4096];
    size_t o = (size_t)snprintf(text, sizeof text, "LOCK +(");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "%s^g%d(%d)", i ? "," : "", i, i * 7);
    o += (size_t)snprintf(text + o, sizeof text - o, ")#\"S\":3");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, ",-^h%d", i);
    parse_ok(text);
    assert_int_equal(cmd.arg_count, 41);
    assert_int_equal(cmd.item_count, 140);
    assert_arg(0, NSL_OP_ADD, 0, 100, true, 3000);
    assert_arg(40, NSL_OP_REMOVE, 139, 1, false, NSL_WAIT_FOREVER);
    assert_string_equal(item_text(99), "^g99(693)");
    assert_int_equal(cmd.items[99].types, NSL_TYPE_SHARED);
    assert_true(cmd.item_capacity >= 140 && cmd.arg_capacity >= 41);

    nsl_lock_item *items = cmd.items;
    nsl_lock_arg *args = cmd.args;
    size_t item_cap = cmd.item_capacity, arg_cap = cmd.arg_capacity;
    for (int round = 0; round < 3; round++) {
        parse_ok("LOCK +^a(12345)");
        assert_int_equal(cmd.arg_count, 1);
        assert_int_equal(cmd.item_count, 1);
        assert_string_equal(item_text(0), "^a(12345)");
        parse_ok(text);
        assert_int_equal(cmd.item_count, 140);
    }
    assert_ptr_equal(cmd.items, items);
    assert_ptr_equal(cmd.args, args);
    assert_int_equal(cmd.item_capacity, item_cap);
    assert_int_equal(cmd.arg_capacity, arg_cap);

    /* an error leaves the struct usable */
    assert_int_equal(run("LOCK +^a,+^b(,"), NSL_SYNTAX);
    parse_ok("LOCK -^z");
    assert_int_equal(cmd.arg_count, 1);
    assert_string_equal(item_text(0), "^z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bare_lock),
        cmocka_unit_test(test_spec_forms),
        cmocka_unit_test(test_more_forms),
        cmocka_unit_test(test_type_codes),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_errors_with_columns),
        cmocka_unit_test(test_arrays_are_reused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
