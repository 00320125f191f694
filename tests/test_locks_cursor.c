/* The table view a piece at a time (nsl_view_cursor): the same rows as the
 * snapshot, and a cursor that survives the table changing under it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine_fixture.h"

/* A row as "OWNER MODE NAME" (name formatted from the key). */
static void row_text(const nsl_view_row *r, char *buf, size_t cap)
{
    char name[512];
    nsl_key_format_bytes(r->key, r->key_len, name, sizeof name);
    snprintf(buf, cap, "%u %s %s", r->owner, r->mode, name);
}

static int text_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every row the cursor gives, sorted, joined by newlines. */
static char *cursor_rows(fixture *f, nsl_view_cursor *c, size_t first_max)
{
    char *lines[4096];
    size_t n = 0;
    nsl_view_row r;
    while (n < first_max && nsl_view_cursor_next(f->engine, c, &r)) {
        char buf[600];
        row_text(&r, buf, sizeof buf);
        lines[n++] = strdup(buf);
    }
    qsort(lines, n, sizeof *lines, text_cmp);
    char *out = calloc(1, 65536);
    for (size_t i = 0; i < n; i++) {
        strcat(out, lines[i]);
        strcat(out, "\n");
        free(lines[i]);
    }
    return out;
}

static char *view_rows(fixture *f, const nsl_view_filter *flt)
{
    nsl_view v;
    assert_int_equal(nsl_engine_view(f->engine, flt, &v), NSL_OK);
    char *lines[4096];
    for (size_t i = 0; i < v.count; i++) {
        char buf[600];
        row_text(&v.rows[i], buf, sizeof buf);
        lines[i] = strdup(buf);
    }
    qsort(lines, v.count, sizeof *lines, text_cmp);
    char *out = calloc(1, 65536);
    for (size_t i = 0; i < v.count; i++) {
        strcat(out, lines[i]);
        strcat(out, "\n");
        free(lines[i]);
    }
    nsl_view_free(&v);
    return out;
}

static void same_rows_as_the_snapshot(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER"), c = fx_owner(f, "BETA");
    assert_int_equal(fx_run(f, a, "LOCK +(^x(1),^x(2),^y)"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^z#\"S\",+^z#\"S\""), 1);
    assert_int_equal(fx_run(f, c, "LOCK +^MyGlobal(15)"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^x(1):5"), -2);        /* a waiting row */

    nsl_view_cursor *cur = nsl_view_cursor_open(f->engine, NULL);
    assert_non_null(cur);
    char *got = cursor_rows(f, cur, SIZE_MAX), *want = view_rows(f, NULL);
    assert_string_equal(got, want);
    assert_non_null(strstr(got, "WaitExclusive ^x(1)"));
    free(got);
    free(want);
    nsl_view_cursor_close(f->engine, cur);

    /* the filter applies as in the snapshot, the prefix copied */
    nsl_view_filter flt;
    nsl_view_filter_init(&flt);
    char prefix[8] = "^x";
    flt.name_prefix = prefix;
    flt.no_waiters = true;
    cur = nsl_view_cursor_open(f->engine, &flt);
    prefix[1] = 'q';
    flt.name_prefix = "^x";
    got = cursor_rows(f, cur, SIZE_MAX);
    want = view_rows(f, &flt);
    assert_string_equal(got, want);
    assert_string_equal(got, "1 Exclusive ^x(1)\n1 Exclusive ^x(2)\n");
    free(got);
    free(want);
    nsl_view_cursor_close(f->engine, cur);
    fx_free(f);
}

/* Entries released under the cursor, owners ended under it: it moves on,
 * never returns them, and returns every entry held throughout once. */
static void survives_changes_between_calls(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER"), c = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +(^a(1),^a(2),^a(3),^a(4))"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +(^b(1),^b(2))"), 1);
    assert_int_equal(fx_run(f, c, "LOCK +(^c(1),^c(2))"), 1);

    nsl_view_cursor *cur = nsl_view_cursor_open(f->engine, NULL);
    nsl_view_row r;
    assert_true(nsl_view_cursor_next(f->engine, cur, &r));
    assert_int_equal(r.owner, a);                      /* owners in creation order */
    /* release everything of a's but what was returned, end b, add to c */
    char first[600];
    row_text(&r, first, sizeof first);
    for (int i = 1; i <= 4; i++) {
        char cmd[64], name[16];
        snprintf(name, sizeof name, "^a(%d)", i);
        if (strstr(first, name))
            continue;
        snprintf(cmd, sizeof cmd, "LOCK -%s", name);
        assert_int_equal(fx_run(f, a, cmd), -1);
    }
    nsl_engine_owner_end(f->engine, b, f->now);
    assert_int_equal(fx_run(f, c, "LOCK +^c(3)"), 1);
    fx_check(f);

    char *rest = cursor_rows(f, cur, SIZE_MAX);
    /* c's two entries held throughout come once; ^c(3) may or may not */
    char want[256];
    snprintf(want, sizeof want, "%u Exclusive ^c(1)\n%u Exclusive ^c(2)\n", c, c);
    char want3[256];
    snprintf(want3, sizeof want3, "%u Exclusive ^c(1)\n%u Exclusive ^c(2)\n%u Exclusive ^c(3)\n",
             c, c, c);
    if (strcmp(rest, want) != 0)
        assert_string_equal(rest, want3);
    free(rest);
    assert_false(nsl_view_cursor_next(f->engine, cur, &r));
    nsl_view_cursor_close(f->engine, cur);
    fx_free(f);
}

/* The owner whose entries the cursor is in goes: the walk goes on with the
 * next owner. A cursor left open is closed by nsl_engine_free. */
static void owner_ended_mid_walk(void **state)
{
    (void)state;
    fixture *f = fx_new();
    nsl_owner_id a = fx_owner(f, "USER"), b = fx_owner(f, "USER");
    assert_int_equal(fx_run(f, a, "LOCK +(^a(1),^a(2),^a(3))"), 1);
    assert_int_equal(fx_run(f, b, "LOCK +^b"), 1);
    nsl_view_cursor *cur = nsl_view_cursor_open(f->engine, NULL);
    nsl_view_row r;
    assert_true(nsl_view_cursor_next(f->engine, cur, &r));
    assert_int_equal(r.owner, a);
    nsl_engine_owner_end(f->engine, a, f->now);
    char *rest = cursor_rows(f, cur, SIZE_MAX);
    char want[64];
    snprintf(want, sizeof want, "%u Exclusive ^b\n", b);
    assert_string_equal(rest, want);
    free(rest);

    nsl_view_cursor *left_open = nsl_view_cursor_open(f->engine, NULL);
    assert_non_null(left_open);
    fx_free(f);      /* no leak, no use after free: ASan and valgrind say */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_rows_as_the_snapshot),
        cmocka_unit_test(survives_changes_between_calls),
        cmocka_unit_test(owner_ended_mid_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
