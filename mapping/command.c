/* The LOCK command language (docs/LANGUAGE.md), parsed in one pass into a reusable
 * nsl_lock_command: its arrays only grow, so a session's steady state
 * parses without allocating. */
#include <stdlib.h>
#include <string.h>

#include "mapping/key_internal.h"
#include "mapping/parse_internal.h"

static const char *found(const unsigned char *s, size_t len, size_t i, char buf[16])
{
    return nsl_describe_byte(s, len, i, "end of command", buf);
}

/* Timeouts are capped (about 31.7 years) so that deadlines computed in
 * nanoseconds cannot overflow. */
#define NSL_TIMEOUT_MAX_MS 1000000000000LL

void nsl_lock_command_init(nsl_lock_command *cmd)
{
    memset(cmd, 0, sizeof *cmd);
}

void nsl_lock_command_free(nsl_lock_command *cmd)
{
    free(cmd->args);
    free(cmd->items);
    memset(cmd, 0, sizeof *cmd);
}

/* Seconds -> ms, rounded to nearest; below 0.01 s (or <= 0) is 0: one
 * attempt (docs/LANGUAGE.md). */
static int64_t timeout_ms_of(const nsl_num *n)
{
    if (n->ndigits == 0 || n->neg || n->exp < -1)
        return 0;
    int e = n->exp + 3;                  /* digits before the point, in ms */
    if (e > 12)
        return NSL_TIMEOUT_MAX_MS;
    int64_t ms = 0;
    for (int k = 0; k < e; k++)
        ms = ms * 10 + (k < (int)n->ndigits ? n->digits[k] : 0);
    if (e < (int)n->ndigits && n->digits[e] >= 5)
        ms++;
    return ms < NSL_TIMEOUT_MAX_MS ? ms : NSL_TIMEOUT_MAX_MS;
}

/* The number at s[*i]; *i moves past it. Columns are offsets in s. */
static nsl_code parse_timeout_at(const unsigned char *s, size_t len, size_t *i,
                                 int64_t *ms, nsl_error *err)
{
    nsl_num num;
    size_t used = 0, bad = 0;
    const char *what = NULL;
    switch (nsl_num_parse((const char *)s + *i, len - *i, &used, &num, &bad, &what)) {
    case NSL_NUM_OK:
        *ms = timeout_ms_of(&num);
        break;
    case NSL_NUM_SYNTAX:
        return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(*i + bad),
                             "timeout: %s (seconds, as in :5 or :2.5)", what);
    case NSL_NUM_OVERFLOW:
        *ms = num.neg ? 0 : NSL_TIMEOUT_MAX_MS;
        break;
    }
    *i += used;
    return NSL_OK;
}

nsl_code nsl_timeout_parse(const char *text, size_t len, int64_t *ms, nsl_error *err)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    char d[16];
    nsl_code rc = parse_timeout_at(s, len, &i, ms, err);
    if (rc != NSL_OK)
        return rc;
    if (i < len)
        return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(i),
                             "timeout: unexpected %s after the number of seconds",
                             found(s, len, i, d));
    return NSL_OK;
}

static nsl_code reserve(void **arr, size_t *cap, size_t need, size_t elem, nsl_error *err)
{
    if (need <= *cap)
        return NSL_OK;
    size_t n = *cap ? *cap * 2 : 4;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * elem);
    if (p == NULL)
        return nsl_error_set(err, NSL_NOMEM, 0, "out of memory parsing a LOCK command");
    *arr = p;
    *cap = n;
    return NSL_OK;
}

/* `#"codes"` at s[*i] == '#'. *e_at gets the offset of an E code. */
static nsl_code parse_types(const unsigned char *s, size_t len, size_t *i,
                            uint8_t *types, size_t *e_at, nsl_error *err)
{
    char d[16];
    size_t hash = *i, p = hash + 1;
    if (p >= len || s[p] != '"')
        return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(p),
                             "expected '\"' after '#' (a lock type such as #\"S\"), found %s",
                             found(s, len, p, d));
    size_t quote = p++;
    uint8_t t = 0;
    for (;; p++) {
        if (p >= len)
            return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(quote), "unterminated lock type");
        unsigned char c = s[p];
        if (c == '"')
            break;
        switch (c | 0x20) {
        case 's': t |= NSL_TYPE_SHARED; break;
        case 'e': t |= NSL_TYPE_ESCALATING; *e_at = p; break;
        case 'i': t |= NSL_TYPE_IMMEDIATE; break;
        case 'd': t |= NSL_TYPE_DEFERRED; break;
        default:
            return nsl_error_set(err, NSL_COMMAND, nsl_column_of(p),
                                 "unknown lock type code %s (expected S, E, I or D)",
                                 found(s, len, p, d));
        }
    }
    if ((t & NSL_TYPE_IMMEDIATE) && (t & NSL_TYPE_DEFERRED))
        return nsl_error_set(err, NSL_COMMAND, nsl_column_of(hash),
                             "lock types I and D cannot go together");
    *types = t;
    *i = p + 1;
    return NSL_OK;
}

static nsl_code escalating_needs_subscripts(nsl_error *err, size_t at, const nsl_lockname *n)
{
    char text[64];
    nsl_key_format(&n->key, text, sizeof text);
    return nsl_error_set(err, NSL_COMMAND, nsl_column_of(at),
                         "lock type E needs a subscripted name; %s has no subscripts", text);
}

/* One name with its optional type, at s[*i]. */
static nsl_code parse_item(const unsigned char *s, size_t len, size_t *i,
                           nsl_lock_command *cmd, nsl_error *err)
{
    nsl_code rc = reserve((void **)&cmd->items, &cmd->item_capacity, cmd->item_count + 1,
                          sizeof *cmd->items, err);
    if (rc != NSL_OK)
        return rc;
    nsl_lock_item *item = &cmd->items[cmd->item_count];
    size_t at = *i, used = 0;
    rc = nsl_lockname_parse((const char *)s + at, len - at, &used, &item->name, err);
    if (rc != NSL_OK) {
        if (err != NULL && err->column > 0)
            err->column = nsl_column_of(at + (size_t)err->column - 1);
        return rc;
    }
    item->column = nsl_column_of(at);
    item->types = 0;
    size_t p = at + used;
    if (p < len && s[p] == '#') {
        size_t e_at = 0;
        rc = parse_types(s, len, &p, &item->types, &e_at, err);
        if (rc != NSL_OK)
            return rc;
        if ((item->types & NSL_TYPE_ESCALATING) && item->name.key.nsubs == 0)
            return escalating_needs_subscripts(err, e_at, &item->name);
    }
    cmd->item_count++;
    *i = p;
    return NSL_OK;
}

static size_t skip_spaces(const unsigned char *s, size_t len, size_t i)
{
    while (i < len && s[i] == ' ')
        i++;
    return i;
}

/* arg := ['+'|'-'] (item | '(' item {',' item} ')' [types]) [[' '] ':' timeout] */
static nsl_code parse_arg(const unsigned char *s, size_t len, size_t *i,
                          nsl_lock_command *cmd, nsl_error *err)
{
    char d[16];
    nsl_code rc = reserve((void **)&cmd->args, &cmd->arg_capacity, cmd->arg_count + 1,
                          sizeof *cmd->args, err);
    if (rc != NSL_OK)
        return rc;
    nsl_lock_arg *arg = &cmd->args[cmd->arg_count];
    size_t p = *i;
    arg->column = nsl_column_of(p);
    arg->op = NSL_OP_SIMPLE;
    if (p < len && (s[p] == '+' || s[p] == '-'))
        arg->op = s[p++] == '+' ? NSL_OP_ADD : NSL_OP_REMOVE;
    arg->first_item = cmd->item_count;

    if (p < len && s[p] == '(') {
        p++;
        for (;;) {
            rc = parse_item(s, len, &p, cmd, err);
            if (rc != NSL_OK)
                return rc;
            if (p < len && s[p] == ',') {
                p = skip_spaces(s, len, p + 1);
                continue;
            }
            if (p < len && s[p] == ')') {
                p++;
                break;
            }
            return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(p),
                                 "expected ')' or ',' after lock name in the list, found %s",
                                 found(s, len, p, d));
        }
        if (p < len && s[p] == '#') {          /* a type for the whole list */
            uint8_t types = 0;
            size_t e_at = 0;
            rc = parse_types(s, len, &p, &types, &e_at, err);
            if (rc != NSL_OK)
                return rc;
            for (size_t k = arg->first_item; k < cmd->item_count; k++) {
                nsl_lock_item *item = &cmd->items[k];
                uint8_t t = item->types | types;
                if ((t & NSL_TYPE_IMMEDIATE) && (t & NSL_TYPE_DEFERRED))
                    return nsl_error_set(err, NSL_COMMAND, item->column,
                                         "lock types I and D cannot go together");
                if ((t & NSL_TYPE_ESCALATING) && item->name.key.nsubs == 0)
                    return escalating_needs_subscripts(err, (size_t)item->column - 1,
                                                       &item->name);
                item->types = t;
            }
        }
    } else {
        rc = parse_item(s, len, &p, cmd, err);
        if (rc != NSL_OK)
            return rc;
    }
    arg->item_count = cmd->item_count - arg->first_item;

    arg->timeout_ms = NSL_WAIT_FOREVER;
    arg->has_timeout = false;
    if (p + 1 < len && s[p] == ' ' && s[p + 1] == ':')   /* the optional space */
        p++;
    if (p < len && s[p] == ':') {
        p++;
        rc = parse_timeout_at(s, len, &p, &arg->timeout_ms, err);
        if (rc != NSL_OK)
            return rc;
        arg->has_timeout = true;
    }
    cmd->arg_count++;
    *i = p;
    return NSL_OK;
}

static bool is_trailing_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

nsl_code nsl_lock_command_parse(const char *text, size_t len,
                                nsl_lock_command *cmd, nsl_error *err)
{
    const unsigned char *s = (const unsigned char *)text;
    char d[16];
    cmd->arg_count = 0;
    cmd->item_count = 0;
    while (len > 0 && is_trailing_space(s[len - 1]))
        len--;

    size_t i = 0;
    while (i < len && (unsigned char)((s[i] | 0x20) - 'a') < 26)
        i++;
    bool is_lock = (i == 1 && (s[0] | 0x20) == 'l') ||
                   (i == 4 && (s[0] | 0x20) == 'l' && (s[1] | 0x20) == 'o' &&
                    (s[2] | 0x20) == 'c' && (s[3] | 0x20) == 'k');
    if (!is_lock)
        return nsl_error_set(err, NSL_SYNTAX, 1, "expected the command LOCK (or L)");
    if (i == len)
        return NSL_OK;
    if (s[i] != ' ')
        return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(i),
                             "expected a space after LOCK, found %s", found(s, len, i, d));
    i++;
    if (i == len)
        return NSL_OK;
    for (;;) {
        nsl_code rc = parse_arg(s, len, &i, cmd, err);
        if (rc != NSL_OK)
            return rc;
        if (i == len)
            return NSL_OK;
        if (s[i] != ',')
            return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(i),
                                 "expected ':timeout', ',' or end of command after "
                                 "the lock argument, found %s", found(s, len, i, d));
        i = skip_spaces(s, len, i + 1);
        if (i == len)
            return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(i),
                                 "expected a lock argument after ','");
    }
}
