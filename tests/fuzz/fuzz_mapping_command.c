/* libFuzzer target: the LOCK command parser, the lock-name parser and key
 * validation. Whatever the input, no crash; every name that parses must
 * format to text that re-parses to the identical key and reference; errors
 * must point inside the text; bytes that validate as a key must format and
 * re-parse to the same bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_key_or_abort(const nsl_key *a, const nsl_key *b)
{
    if (a->len != b->len || a->nsubs != b->nsubs || a->global != b->global ||
        memcmp(a->bytes, b->bytes, a->len) != 0 ||
        memcmp(a->end, b->end, (a->nsubs + 1u) * sizeof a->end[0]) != 0)
        abort();
}

static void round_trip(const nsl_lockname *n)
{
    static char text[8192];
    size_t len = nsl_lockname_format(n, text, sizeof text);
    if (len >= sizeof text)
        abort();
    nsl_lockname again;
    nsl_error err;
    if (nsl_lockname_parse(text, len, NULL, &again, &err) != NSL_OK)
        abort();
    same_key_or_abort(&n->key, &again.key);
    if (again.ref != n->ref || strcmp(again.env, n->env) != 0)
        abort();
    /* the key bytes are valid as stored bytes, with the same part ends */
    nsl_key stored;
    if (!nsl_key_from_bytes(&stored, n->key.bytes, n->key.len))
        abort();
    same_key_or_abort(&n->key, &stored);
    /* canonical text of the bare key agrees with the name's */
    static char key_text[8192];
    size_t klen = nsl_key_format(&n->key, key_text, sizeof key_text);
    if (nsl_key_format_bytes(n->key.bytes, n->key.len, text, sizeof text) != klen ||
        memcmp(text, key_text, klen) != 0)
        abort();
}

static void check_error(nsl_code rc, const nsl_error *err, size_t size)
{
    if (rc == NSL_OK || rc == NSL_NOMEM)
        return;
    if (rc != NSL_SYNTAX && rc != NSL_SUBSCRIPT && rc != NSL_COMMAND)
        abort();
    if (err->code != rc || err->column < 1 || (size_t)err->column > size + 1 ||
        err->message[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static nsl_lock_command cmd;   /* reused across inputs, as a session does */
    static bool ready;
    if (!ready) {
        nsl_lock_command_init(&cmd);
        ready = true;
    }
    const char *text = (const char *)data;
    nsl_error err;

    nsl_code rc = nsl_lock_command_parse(text, size, &cmd, &err);
    check_error(rc, &err, size);
    if (rc == NSL_OK) {
        size_t items = 0;
        for (size_t a = 0; a < cmd.arg_count; a++) {
            const nsl_lock_arg *arg = &cmd.args[a];
            if (arg->first_item != items || arg->item_count == 0)
                abort();
            if (arg->has_timeout ? arg->timeout_ms < 0 : arg->timeout_ms != NSL_WAIT_FOREVER)
                abort();
            items += arg->item_count;
        }
        if (items != cmd.item_count)
            abort();
        for (size_t i = 0; i < cmd.item_count; i++) {
            const nsl_lock_item *item = &cmd.items[i];
            if ((item->types & NSL_TYPE_IMMEDIATE) && (item->types & NSL_TYPE_DEFERRED))
                abort();
            if ((item->types & NSL_TYPE_ESCALATING) && item->name.key.nsubs == 0)
                abort();
            round_trip(&item->name);
        }
    }

    nsl_lockname name;
    rc = nsl_lockname_parse(text, size, NULL, &name, &err);
    check_error(rc, &err, size);
    if (rc == NSL_OK)
        round_trip(&name);

    size_t used = 0;
    rc = nsl_lockname_parse(text, size, &used, &name, &err);
    check_error(rc, &err, size);
    if (rc == NSL_OK) {
        if (used == 0 || used > size)
            abort();
        round_trip(&name);
    }

    int64_t ms;
    check_error(nsl_timeout_parse(text, size, &ms, &err), &err, size);

    /* the input as stored key bytes */
    nsl_key key;
    if (nsl_key_from_bytes(&key, data, size)) {
        static char ktext[8192];
        size_t klen = nsl_key_format(&key, ktext, sizeof ktext);
        if (klen >= sizeof ktext ||
            nsl_lockname_parse(ktext, klen, NULL, &name, &err) != NSL_OK)
            abort();
        same_key_or_abort(&key, &name.key);
    }
    return 0;
}
