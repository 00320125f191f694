/* load.c — YAML text to an nsl_config, with every problem in the diags.
 *
 * Two passes. libyaml's event parser, which is iterative and so cannot be
 * driven into a stack overflow, feeds a small tree of nodes that keeps the
 * position of every key and value. Building the tree rejects aliases (an
 * alias bomb expands exponentially), caps the nesting depth, and flags
 * duplicate keys as each mapping closes. The schema walk then reads the
 * tree into an nsl_config, recording every problem and going on: a
 * configuration with errors is still returned, as complete as it can be,
 * so that later stages can report their own findings too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#include "config/config.h"
#include "config/config_internal.h"

#define MAX_DEPTH       64          /* nesting levels read; the schema needs 5 */
#define MAX_FILE_BYTES  (64u << 20)
#define MAX_NAME_CHARS  63          /* database and namespace names */
#define MAX_DIR_BYTES   255         /* so that ^["^^dir"] can name any database */
#define MAX_SOCKET_BYTES (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define SHOW_CHARS      60          /* of a value quoted in a message */
#define SHOW_BYTES      256

/* ---- the node tree ------------------------------------------------------ */

enum node_kind {
    NODE_SCALAR,
    NODE_MAPPING,
    NODE_SEQUENCE,
    NODE_INVALID,   /* an alias: already reported */
};

typedef struct node {
    struct node *next;    /* next sibling */
    struct node *child;   /* first child; a mapping's are key, value, key, value... */
    struct node *last;
    struct node *all;     /* chains every node of the tree, for freeing */
    size_t count;         /* of children */
    size_t len;           /* of text */
    nsl_pos pos;
    unsigned char kind;
    bool plain;           /* an unquoted scalar: may be a number or null */
    bool ignored;         /* a duplicate or unusable key: its pair is skipped */
    char text[];          /* a scalar's value, NUL-terminated */
} node;

typedef struct loader {
    const char *file;
    const char *text;     /* the input, for positions of reader errors */
    size_t len;
    nsl_diags *diags;
    size_t errors;        /* errors this load added */
    node *all;
    nsl_config *cfg;
    unsigned show_next;
    char show_buf[4][SHOW_BYTES];
} loader;

static void error_at(loader *L, const char *rule, nsl_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void error_at(loader *L, const char *rule, nsl_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nsl_diags_vadd(L->diags, NSL_DIAG_ERROR, rule, L->file, pos, fmt, ap);
    va_end(ap);
    L->errors++;
}

static const nsl_pos no_pos = {0, 0};

static nsl_pos mark_pos(yaml_mark_t m)
{
    return (nsl_pos){(int)m.line + 1, (int)m.column + 1};
}

/* Position of a byte offset, counting characters as libyaml does. */
static nsl_pos offset_pos(const loader *L, size_t offset)
{
    nsl_pos p = {1, 1};
    for (size_t i = 0; i < offset && i < L->len; i++) {
        unsigned char c = (unsigned char)L->text[i];
        if (c == '\n')
            p.line++, p.col = 1;
        else if ((c & 0xc0) != 0x80)
            p.col++;
    }
    return p;
}

/* A value for a message: at most SHOW_CHARS characters, control bytes
 * escaped. Four buffers rotate so one message can show several values. */
static const char *show(loader *L, const char *s, size_t len)
{
    char *buf = L->show_buf[L->show_next++ % 4];
    size_t o = 0, chars = 0, i = 0;
    while (i < len && chars < SHOW_CHARS) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, SHOW_BYTES - o, "\\x%02x", c);
            i++;
        } else {
            size_t n = 1;
            while (n < 4 && i + n < len && ((unsigned char)s[i + n] & 0xc0) == 0x80)
                n++;
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
        }
        chars++;
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static const char *show_node(loader *L, const node *n)
{
    return show(L, n->text, n->len);
}

static node *new_node(loader *L, enum node_kind kind, yaml_mark_t mark,
                      const char *text, size_t len)
{
    node *n = nsl_cfg_malloc(sizeof *n + len + 1);
    *n = (node){.pos = mark_pos(mark), .kind = (unsigned char)kind, .len = len};
    if (text)
        memcpy(n->text, text, len);
    n->text[len] = '\0';
    n->all = L->all;
    L->all = n;
    return n;
}

static void append_child(node *parent, node *child)
{
    if (parent->last)
        parent->last->next = child;
    else
        parent->child = child;
    parent->last = child;
    parent->count++;
}

static void free_nodes(loader *L)
{
    while (L->all) {
        node *n = L->all;
        L->all = n->all;
        free(n);
    }
}

static bool is_null(const node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (n->kind != NODE_SCALAR || !n->plain)
        return false;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (!strcmp(n->text, nulls[i]))
            return true;
    return false;
}

typedef struct ranked_key {
    node *key;
    size_t seq;
} ranked_key;

static int ranked_key_cmp(const void *pa, const void *pb)
{
    const ranked_key *a = pa, *b = pb;
    if (a->key->len != b->key->len)
        return a->key->len < b->key->len ? -1 : 1;
    int c = memcmp(a->key->text, b->key->text, a->key->len);
    if (c)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* On a mapping's end: flags keys that are not scalars, and duplicates
 * (libyaml does not look for them). The first of equal keys stays. */
static void check_keys(loader *L, node *map)
{
    size_t n = 0;
    ranked_key *keys = nsl_cfg_malloc(map->count / 2 * sizeof *keys);
    for (node *k = map->child; k && k->next; k = k->next->next) {
        if (k->kind == NODE_SCALAR) {
            keys[n] = (ranked_key){k, n};
            n++;
            continue;
        }
        k->ignored = true;
        if (k->kind != NODE_INVALID)
            error_at(L, "yaml-key", k->pos, "a key must be a scalar, not a %s",
                     k->kind == NODE_MAPPING ? "mapping" : "sequence");
    }
    qsort(keys, n, sizeof *keys, ranked_key_cmp);
    for (size_t i = 1, first = 0; i < n; i++) {
        node *a = keys[first].key, *b = keys[i].key;
        if (a->len != b->len || memcmp(a->text, b->text, a->len)) {
            first = i;
            continue;
        }
        b->ignored = true;
        error_at(L, "duplicate-key", b->pos, "duplicate key `%s` (first at %d:%d)",
                 show_node(L, b), a->pos.line, a->pos.col);
    }
    free(keys);
}

/* The byte at a libyaml mark (0-based line and column in characters), or
 * '\0' past the end. */
static char char_at(const loader *L, yaml_mark_t m)
{
    size_t i = 0;
    for (size_t line = 0; line < m.line && i < L->len; i++)
        line += L->text[i] == '\n';
    for (size_t col = 0; col < m.column && i < L->len; col++)
        while (++i < L->len && ((unsigned char)L->text[i] & 0xc0) == 0x80)
            ;
    return i < L->len ? L->text[i] : '\0';
}

static void syntax_error(loader *L, const yaml_parser_t *p)
{
    char c;
    switch (p->error) {
    case YAML_READER_ERROR:
        if (p->problem_value != -1)
            error_at(L, "not-yaml", offset_pos(L, p->problem_offset),
                     "not YAML text: %s (byte 0x%02X)", p->problem,
                     (unsigned)p->problem_value);
        else
            error_at(L, "not-yaml", offset_pos(L, p->problem_offset), "not YAML text: %s",
                     p->problem);
        break;
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
        /* IRIS names such as %SYS are a common way to meet this one. */
        c = char_at(L, p->problem_mark);
        if (c && strchr("%@`", c))
            error_at(L, "yaml-syntax", mark_pos(p->problem_mark),
                     "YAML syntax error: a plain value cannot start with `%c`; quote it%s",
                     c, c == '%' ? ", as in \"%SYS\"" : "");
        else if (p->context)
            error_at(L, "yaml-syntax", mark_pos(p->problem_mark),
                     "YAML syntax error: %s (%s at %zu:%zu)",
                     p->problem, p->context, p->context_mark.line + 1,
                     p->context_mark.column + 1);
        else
            error_at(L, "yaml-syntax", mark_pos(p->problem_mark), "YAML syntax error: %s",
                     p->problem);
        break;
    case YAML_MEMORY_ERROR:
        nsl_cfg_oom();
        break;
    default:
        error_at(L, "yaml-syntax", no_pos, "YAML error: %s", p->problem ? p->problem : "unknown");
        break;
    }
}

static const char *tag_of(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return (const char *)ev->data.scalar.tag;
    case YAML_SEQUENCE_START_EVENT:
        return (const char *)ev->data.sequence_start.tag;
    case YAML_MAPPING_START_EVENT:
        return (const char *)ev->data.mapping_start.tag;
    default:
        return NULL;
    }
}

/* Reads the first document into a tree at *root (NULL for an empty stream).
 * False when the text cannot be read: a YAML syntax error, or nesting
 * deeper than MAX_DEPTH (libyaml's scanner does work proportional to the
 * depth on every token, so a deep file must be refused early, not just
 * left out of the tree). A second document ends the reading too. */
static bool build_tree(loader *L, node **root)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    node *stack[MAX_DEPTH];
    size_t depth = 0;
    bool ok = true;

    *root = NULL;
    if (!yaml_parser_initialize(&parser))
        nsl_cfg_oom();
    yaml_parser_set_input_string(&parser, (const unsigned char *)L->text, L->len);
    for (bool done = false; !done;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(L, &parser);
            ok = false;
            break;
        }
        node *n = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (*root) {
                error_at(L, "yaml-documents", mark_pos(ev.start_mark),
                         "a second YAML document: the configuration must be one document");
                done = true;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth == MAX_DEPTH) {
                error_at(L, "yaml-nesting", mark_pos(ev.start_mark), "nesting deeper than %d levels",
                         MAX_DEPTH);
                ok = false;
                done = true;
                break;
            }
            n = new_node(L, ev.type == YAML_MAPPING_START_EVENT ? NODE_MAPPING
                                                                 : NODE_SEQUENCE,
                         ev.start_mark, NULL, 0);
            break;
        case YAML_SCALAR_EVENT:
            n = new_node(L, NODE_SCALAR, ev.start_mark,
                         (const char *)ev.data.scalar.value, ev.data.scalar.length);
            n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            break;
        case YAML_ALIAS_EVENT:
            error_at(L, "yaml-alias", mark_pos(ev.start_mark), "aliases are not allowed (*%s)",
                     show(L, (const char *)ev.data.alias.anchor,
                          strlen((const char *)ev.data.alias.anchor)));
            n = new_node(L, NODE_INVALID, ev.start_mark, NULL, 0);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (stack[--depth]->kind == NODE_MAPPING)
                check_keys(L, stack[depth]);
            break;
        default:
            break;
        }
        if (n) {
            const char *tag = tag_of(&ev);
            if (tag)
                error_at(L, "yaml-tag", n->pos, "YAML tags are not supported (%s)",
                         show(L, tag, strlen(tag)));
            if (depth > 0)
                append_child(stack[depth - 1], n);
            else
                *root = n;
            if (n->kind == NODE_MAPPING || n->kind == NODE_SEQUENCE)
                stack[depth++] = n;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return ok;
}

/* ---- reading values ------------------------------------------------------ */

static node *first_key(const node *map)
{
    node *k = map->child;
    while (k && k->ignored)
        k = k->next->next;
    return k;
}

static node *next_key(const node *key)
{
    node *k = key->next->next;
    while (k && k->ignored)
        k = k->next->next;
    return k;
}

static size_t pair_count(const node *map)
{
    size_t n = 0;
    for (node *k = first_key(map); k; k = next_key(k))
        n++;
    return n;
}

static bool key_is(const node *k, const char *name)
{
    return k->len == strlen(name) && !memcmp(k->text, name, k->len);
}

static const char *describe(loader *L, const node *n)
{
    if (n->kind == NODE_MAPPING)
        return "a mapping";
    if (n->kind == NODE_SEQUENCE)
        return "a sequence";
    if (is_null(n))
        return "an empty value";
    const char *text = show_node(L, n);
    char *buf = L->show_buf[L->show_next++ % 4];
    snprintf(buf, SHOW_BYTES, "`%s`", text);
    return buf;
}

/* A mapping, or (if null_ok) nothing at all. Errors for anything else. */
static bool expect_mapping(loader *L, const node *n, const char *what,
                           const char *example, bool null_ok)
{
    if (n->kind == NODE_MAPPING)
        return true;
    if (n->kind == NODE_INVALID || (null_ok && is_null(n)))
        return false;
    error_at(L, "wrong-type", n->pos, "%s must be a mapping%s%s, not %s", what,
             example ? " such as " : "", example ? example : "", describe(L, n));
    return false;
}

static bool expect_scalar(loader *L, const node *n, const char *what,
                          const char *expected)
{
    if (n->kind == NODE_INVALID)
        return false;
    if (n->kind != NODE_SCALAR) {
        error_at(L, "wrong-type", n->pos, "%s must be %s, not %s", what, expected, describe(L, n));
        return false;
    }
    if (is_null(n)) {
        error_at(L, "wrong-type", n->pos, "%s has no value", what);
        return false;
    }
    return true;
}

static bool has_nul(loader *L, const node *n, const char *what)
{
    if (!memchr(n->text, '\0', n->len))
        return false;
    error_at(L, "nul-byte", n->pos, "%s contains a NUL byte", what);
    return true;
}

/* A non-empty string without NUL bytes, copied; NULL after an error. */
static char *read_string(loader *L, const node *n, const char *what)
{
    if (!expect_scalar(L, n, what, "a string") || has_nul(L, n, what))
        return NULL;
    if (n->len == 0) {
        error_at(L, "empty-value", n->pos, "%s is empty", what);
        return NULL;
    }
    return nsl_cfg_strndup(n->text, n->len);
}

static bool read_number(loader *L, const node *n, const char *what,
                        uint32_t min, uint32_t max, uint32_t *out)
{
    if (!expect_scalar(L, n, what, "a whole number"))
        return false;
    if (!n->plain) {
        error_at(L, "not-a-number", n->pos, "%s must be a whole number, not a quoted string", what);
        return false;
    }
    const char *s = n->text, *end = n->text + n->len;
    bool negative = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if (s == end || (size_t)(end - s) != strspn(s, "0123456789")) {
        error_at(L, "not-a-number", n->pos, "%s must be a whole number, not `%s`", what, show_node(L, n));
        return false;
    }
    uint64_t x = 0;
    for (; s < end && x <= UINT32_MAX; s++)
        x = x * 10 + (uint64_t)(*s - '0');
    if ((negative && x != 0) || x < min || x > max) {
        error_at(L, "out-of-range", n->pos, "%s is %s; it must be between %u and %u", what,
                 show_node(L, n), (unsigned)min, (unsigned)max);
        return false;
    }
    *out = (uint32_t)x;
    return true;
}

/* A database or namespace name: a letter, '%' or '_', then letters,
 * digits, '_' or '-'. The key is kept even when invalid, so that what
 * refers to it does not report a second, confusing error. */
static bool is_letter(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static void check_name(loader *L, const node *k, const char *kind)
{
    if (k->len == 0) {
        error_at(L, "invalid-name", k->pos, "empty %s name", kind);
        return;
    }
    if (k->len > MAX_NAME_CHARS) {
        error_at(L, "invalid-name", k->pos, "%s name `%s` is longer than %d characters", kind,
                 show_node(L, k), MAX_NAME_CHARS);
        return;
    }
    const char *s = k->text;
    bool ok = is_letter(s[0]) || s[0] == '%' || s[0] == '_';
    for (size_t i = 1; ok && i < k->len; i++)
        ok = is_letter(s[i]) || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-';
    if (!ok)
        error_at(L, "invalid-name", k->pos,
                 "invalid %s name `%s`: use a letter, `%%` or `_`, then letters, "
                 "digits, `_` or `-`", kind, show_node(L, k));
}

/* ---- sections of plain fields ---------------------------------------- */

typedef struct field {
    const char *name;
    bool is_number;
    size_t offset;       /* of the uint32_t or char * in nsl_config */
    uint32_t min, max;
} field;

#define NUMBER(name, lo, hi) {#name, true, offsetof(nsl_config, name), lo, hi}
#define STRING(name) {#name, false, offsetof(nsl_config, name), 0, 0}
#define NUMBER_AS(key, member, lo, hi) {key, true, offsetof(nsl_config, member), lo, hi}
#define STRING_AS(key, member) {key, false, offsetof(nsl_config, member), 0, 0}

static const field lock_table_fields[] = {
    NUMBER(max_entries, 1, 100000000),
    /* The escalated parent's count is threshold + 1 at escalation time and
     * a count above 32,766 fails with LIMIT (docs/LANGUAGE.md), so escalation
     * itself must stay within that. */
    NUMBER(escalation_threshold, 1, 32765),
    NUMBER(deadlock_check_ms, 0, 3600000),
    NUMBER(max_session_entries, 1, 100000000),
};

enum { SERVER_SOCKET, SERVER_LISTEN, SERVER_TOKEN_FILE, SERVER_HTTP = 10, SERVER_IO_METHOD };
static const field server_fields[] = {
    [SERVER_SOCKET] = STRING(socket),
    [SERVER_LISTEN] = STRING(listen),
    [SERVER_TOKEN_FILE] = STRING(token_file),
    STRING(admin_group),
    NUMBER(max_pending, 1, 1048576),
    NUMBER(recovery_grace_s, 0, 3600),
    STRING(state_dir),
    NUMBER(session_timeout_s, 1, 3600),
    NUMBER(output_limit_mb, 1, 65536),
    NUMBER(max_unauthenticated, 1, 65536),
    [SERVER_HTTP] = STRING(http),
    [SERVER_IO_METHOD] = STRING(io_method),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_FIELDS 12
_Static_assert(COUNT(lock_table_fields) <= MAX_FIELDS && COUNT(server_fields) <= MAX_FIELDS,
               "read_fields() lists at most MAX_FIELDS keys");

enum { HA_ZOOKEEPER, HA_PATH, HA_SESSION_TIMEOUT, HA_ADVERTISE };
static const field ha_fields[] = {
    [HA_ZOOKEEPER] = STRING_AS("zookeeper", ha_zookeeper),
    [HA_PATH] = STRING_AS("path", ha_path),
    /* ZooKeeper negotiates it within its own bounds (2 to 20 ticks). */
    [HA_SESSION_TIMEOUT] = NUMBER_AS("session_timeout_ms", ha_session_timeout_ms, 1000, 600000),
    [HA_ADVERTISE] = STRING_AS("advertise", ha_advertise),
};

static const char *const top_keys[] = {
    "lock_table", "server", "ha", "default_namespace", "local_locks", "databases", "namespaces",
};

/* "a, b or c" */
static const char *key_list(char *buf, size_t cap, const char *const *names, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s",
                              i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
    return buf;
}

/* where: "lock_table", "database `X`"; NULL at the top level. */
static void unknown_key(loader *L, const node *k, const char *where,
                        const char *const *names, size_t n)
{
    char expected[256], hint[96] = "";
    key_list(expected, sizeof expected, names, n);
    const char *near = k->kind == NODE_SCALAR ? nsl_suggest(k->text, names, n, false) : NULL;
    if (near)
        snprintf(hint, sizeof hint, "; did you mean `%s`?", near);
    if (where)
        error_at(L, "unknown-key", k->pos, "unknown key `%s` in %s (expected %s)%s",
                 show_node(L, k), where, expected, hint);
    else
        error_at(L, "unknown-key", k->pos, "unknown top-level key `%s` (expected %s)%s",
                 show_node(L, k), expected, hint);
}

/* Reads a section of fields; found[i] is the value node of fields[i]. */
static void read_fields(loader *L, const node *map, const char *section,
                        const field *fields, size_t n, const node **found)
{
    const char *names[MAX_FIELDS];
    for (size_t i = 0; i < n; i++) {
        names[i] = fields[i].name;
        found[i] = NULL;
    }
    if (!expect_mapping(L, map, section, NULL, true))
        return;
    for (node *k = first_key(map); k; k = next_key(k)) {
        size_t i = 0;
        while (i < n && !key_is(k, fields[i].name))
            i++;
        if (i == n) {
            unknown_key(L, k, section, names, n);
            continue;
        }
        char what[128];
        snprintf(what, sizeof what, "%s.%s", section, fields[i].name);
        char *slot = (char *)L->cfg + fields[i].offset;
        if (fields[i].is_number) {
            uint32_t x;
            if (read_number(L, k->next, what, fields[i].min, fields[i].max, &x))
                memcpy(slot, &x, sizeof x);
        } else {
            char *s = read_string(L, k->next, what);
            memcpy(slot, &s, sizeof s);
        }
        found[i] = k->next;
    }
}

/* HOST:PORT (text[0..len)), HOST possibly a bracketed IPv6 address;
 * reports against n as `what`. */
static bool check_host_port(loader *L, const node *n, const char *rule, const char *what,
                            const char *text, size_t len)
{
    const char *colon = NULL;
    for (size_t i = len; i > 0; i--)
        if (text[i - 1] == ':') {
            colon = text + i - 1;
            break;
        }
    size_t host_len = colon ? (size_t)(colon - text) : 0;
    const char *port = colon ? colon + 1 : "";
    size_t port_len = colon ? len - host_len - 1 : 0;
    bool host_ok = len && text[0] == '[' ? host_len > 2 && text[host_len - 1] == ']'
                                         : host_len > 0 && !memchr(text, ':', host_len);
    if (!host_ok || !port_len || strspn(port, "0123456789") < port_len) {
        error_at(L, rule, n->pos, "%s must be HOST:PORT (such as 127.0.0.1:7420 "
                 "or [::1]:7420), not `%s`", what, show(L, text, len));
        return false;
    }
    if (port_len > 5 || atoi(port) < 1 || atoi(port) > 65535) {
        error_at(L, rule, n->pos, "%s port %s is out of range (1 to 65535)", what,
                 show(L, port, port_len));
        return false;
    }
    return true;
}

static void check_listen(loader *L, const node *n)
{
    check_host_port(L, n, "bad-listen", "server.listen", n->text, n->len);
}

/* 127.0.0.0/8, [::1] or localhost: only this machine can connect. */
static bool is_loopback_host(const char *host_port)
{
    return !strncmp(host_port, "127.", 4) || !strncmp(host_port, "[::1]:", 6) ||
           !strncmp(host_port, "localhost:", 10);
}

/* server.http: HOST:PORT; off the loopback its requests need the TCP
 * token, so server.token_file must be there. */
static void check_http(loader *L, const node *n)
{
    nsl_config *cfg = L->cfg;
    cfg->http_pos = n->pos;
    if (!check_host_port(L, n, "bad-http", "server.http", n->text, n->len))
        return;
    if (!is_loopback_host(cfg->http) && !cfg->token_file)
        error_at(L, "http-without-token", n->pos, "server.http `%s` is not a loopback address: "
                 "it needs server.token_file (requests must carry Authorization: Bearer TOKEN), "
                 "or use 127.0.0.1:PORT", show_node(L, n));
}

bool nsl_config_io_method_valid(const char *text)
{
    return !strcmp(text, "auto") || !strcmp(text, "io_uring") || !strcmp(text, "epoll");
}

/* A wildcard address to listen on, which clients cannot be told to use. */
static bool is_wildcard_host(const char *host_port)
{
    return !strncmp(host_port, "0.0.0.0:", 8) || !strncmp(host_port, "[::]:", 5);
}

/* A znode path: absolute, no empty, `.` or `..` component, no trailing
 * slash, nothing ZooKeeper refuses or reserves. */
static void check_znode_path(loader *L, const node *n)
{
    const char *p = n->text, *why = NULL;
    if (p[0] != '/')
        why = "it must start with `/`";
    else if (n->len == 1)
        why = "it must name a znode below the root, such as /nslock/prod";
    else if (p[n->len - 1] == '/')
        why = "it must not end with `/`";
    else if (strstr(p, "//"))
        why = "it has an empty component (`//`)";
    else if (!strncmp(p, "/zookeeper", 10) && (p[10] == '\0' || p[10] == '/'))
        why = "/zookeeper is ZooKeeper's own";
    for (const char *c = p; !why && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            why = "it holds a control character";
    for (const char *c = p; !why && (c = strstr(c, "/.")) != NULL; c++)
        if (c[2] == '\0' || c[2] == '/' || (c[2] == '.' && (c[3] == '\0' || c[3] == '/')))
            why = "a component is `.` or `..`";
    if (why)
        error_at(L, "bad-znode-path", n->pos, "ha.path `%s` is not a znode path: %s",
                 show_node(L, n), why);
}

static void read_ha(loader *L, const node *k)
{
    const node *found[COUNT(ha_fields)];
    nsl_config *cfg = L->cfg;
    cfg->ha_pos = k->pos;
    read_fields(L, k->next, "ha", ha_fields, COUNT(ha_fields), found);
    if (!found[HA_ZOOKEEPER])
        error_at(L, "missing-key", k->pos, "missing required key `zookeeper` in ha "
                 "(the ensemble, such as 10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181)");
    else if (cfg->ha_zookeeper) {
        const node *n = found[HA_ZOOKEEPER];
        if (strchr(cfg->ha_zookeeper, '/'))
            error_at(L, "bad-address", n->pos, "ha.zookeeper `%s`: a chroot is not supported; "
                     "name the cluster's znode in ha.path", show_node(L, n));
        else
            for (const char *s = cfg->ha_zookeeper;;) {
                const char *comma = strchr(s, ',');
                size_t len = comma ? (size_t)(comma - s) : strlen(s);
                if (!check_host_port(L, n, "bad-address", "each server of ha.zookeeper", s, len))
                    break;
                if (!comma)
                    break;
                s = comma + 1;
            }
    }
    if (!found[HA_PATH])
        error_at(L, "missing-key", k->pos, "missing required key `path` in ha "
                 "(the cluster's znode, such as /nslock/prod)");
    else if (cfg->ha_path)
        check_znode_path(L, found[HA_PATH]);
    if (found[HA_ADVERTISE] && cfg->ha_advertise)
        check_host_port(L, found[HA_ADVERTISE], "bad-address", "ha.advertise",
                        cfg->ha_advertise, strlen(cfg->ha_advertise));
    if (!cfg->ha_zookeeper && found[HA_ZOOKEEPER] == NULL)
        cfg->ha_zookeeper = nsl_cfg_strdup("");   /* `ha` was given: keep it on */
}

/* Rules across sections, once the whole file is read. */
static void check_ha(loader *L)
{
    nsl_config *cfg = L->cfg;
    if (!cfg->ha_zookeeper)
        return;
    if (!cfg->listen) {
        error_at(L, "ha-without-listen", cfg->ha_pos, "ha needs server.listen: clients reach "
                 "the leader, whichever server it is, over TCP");
        return;
    }
    if (!cfg->ha_advertise && is_wildcard_host(cfg->listen))
        error_at(L, "ha-without-listen", cfg->ha_pos, "ha needs ha.advertise: server.listen "
                 "`%s` is a wildcard address, which clients cannot be sent to", cfg->listen);
}

static void read_server(loader *L, const node *map)
{
    const node *found[COUNT(server_fields)];
    nsl_config *cfg = L->cfg;
    read_fields(L, map, "server", server_fields, COUNT(server_fields), found);
    if (cfg->socket && strlen(cfg->socket) > MAX_SOCKET_BYTES)
        error_at(L, "path-too-long", found[SERVER_SOCKET]->pos,
                 "server.socket is longer than %zu bytes, the limit of a Unix socket path",
                 (size_t)MAX_SOCKET_BYTES);
    if (cfg->listen) {
        cfg->listen_pos = found[SERVER_LISTEN]->pos;
        check_listen(L, found[SERVER_LISTEN]);
        if (!found[SERVER_TOKEN_FILE])
            error_at(L, "missing-token-file", cfg->listen_pos, "server.listen needs server.token_file: "
                     "TCP clients must present a shared token");
    }
    if (cfg->token_file)
        cfg->token_file_pos = found[SERVER_TOKEN_FILE]->pos;
    if (cfg->http)
        check_http(L, found[SERVER_HTTP]);
    if (cfg->io_method && !nsl_config_io_method_valid(cfg->io_method))
        error_at(L, "bad-io-method", found[SERVER_IO_METHOD]->pos,
                 "server.io_method `%s` is not auto, io_uring or epoll",
                 show_node(L, found[SERVER_IO_METHOD]));
}

/* ---- databases and namespaces ------------------------------------------- */

static void read_database(loader *L, const node *k, nsl_cfg_database *db)
{
    static const char *const keys[] = {"directory"};
    const node *v = k->next;
    char what[SHOW_BYTES + 64];
    bool seen = false;

    check_name(L, k, "database");
    db->name = nsl_cfg_strndup(k->text, k->len);
    db->pos = k->pos;
    snprintf(what, sizeof what, "database `%s`", show_node(L, k));
    if (expect_mapping(L, v, what, "{ directory: PATH }", true)) {
        for (node *vk = first_key(v); vk; vk = next_key(vk)) {
            if (!key_is(vk, "directory")) {
                unknown_key(L, vk, what, keys, COUNT(keys));
                continue;
            }
            char path[sizeof what + 16];
            snprintf(path, sizeof path, "directory of %s", what);
            seen = true;
            db->directory = read_string(L, vk->next, path);
            db->directory_pos = vk->next->pos;
            if (db->directory && strlen(db->directory) > MAX_DIR_BYTES)
                error_at(L, "path-too-long", vk->next->pos, "%s is longer than %d bytes", path, MAX_DIR_BYTES);
        }
    }
    if (!seen && (v->kind == NODE_MAPPING || is_null(v)))
        error_at(L, "missing-key", k->pos, "missing required key `directory` in %s", what);
}

static void read_databases(loader *L, const node *map)
{
    nsl_config *cfg = L->cfg;
    if (!expect_mapping(L, map, "databases", "{ USERDB: { directory: PATH } }", false))
        return;
    cfg->databases = nsl_cfg_calloc(pair_count(map), sizeof *cfg->databases);
    for (node *k = first_key(map); k; k = next_key(k))
        read_database(L, k, &cfg->databases[cfg->database_count++]);
    if (cfg->database_count == 0)
        error_at(L, "empty-section", map->pos, "databases is empty: define at least one database");
}

static void read_map(loader *L, const node *ns_key, const node *map, nsl_cfg_namespace *ns)
{
    char what[SHOW_BYTES + 64];
    snprintf(what, sizeof what, "map of namespace `%s`", show_node(L, ns_key));
    if (!expect_mapping(L, map, what, "{ RULE: DATABASE }", true))
        return;
    ns->map = nsl_cfg_calloc(pair_count(map), sizeof *ns->map);
    for (node *k = first_key(map); k; k = next_key(k)) {
        char rule[2 * SHOW_BYTES + 64], target_of[sizeof rule + 16];
        snprintf(rule, sizeof rule, "mapping `%s` of namespace `%s`", show_node(L, k),
                 show_node(L, ns_key));
        snprintf(target_of, sizeof target_of, "target of %s", rule);
        if (has_nul(L, k, rule))
            continue;
        char *target = read_string(L, k->next, target_of);
        if (!target)
            continue;   /* an incomplete rule is left out: mapping/ needs both */
        nsl_cfg_mapping *m = &ns->map[ns->map_count++];
        m->rule = nsl_cfg_strndup(k->text, k->len);
        m->database = target;
        m->pos = k->pos;
        m->database_pos = k->next->pos;
    }
}

static void read_namespace(loader *L, const node *k, nsl_cfg_namespace *ns)
{
    static const char *const keys[] = {"globals", "map"};
    const node *v = k->next;
    char what[SHOW_BYTES + 64];
    bool seen = false;

    check_name(L, k, "namespace");
    ns->name = nsl_cfg_strndup(k->text, k->len);
    ns->pos = k->pos;
    snprintf(what, sizeof what, "namespace `%s`", show_node(L, k));
    if (expect_mapping(L, v, what, "{ globals: DATABASE }", true)) {
        for (node *vk = first_key(v); vk; vk = next_key(vk)) {
            if (key_is(vk, "globals")) {
                char path[sizeof what + 16];
                snprintf(path, sizeof path, "globals of %s", what);
                seen = true;
                ns->globals = read_string(L, vk->next, path);
                ns->globals_pos = vk->next->pos;
            } else if (key_is(vk, "map")) {
                read_map(L, k, vk->next, ns);
            } else {
                unknown_key(L, vk, what, keys, COUNT(keys));
            }
        }
    }
    if (!seen && (v->kind == NODE_MAPPING || is_null(v)))
        error_at(L, "missing-key", k->pos, "missing required key `globals` in %s", what);
}

static void read_namespaces(loader *L, const node *map)
{
    nsl_config *cfg = L->cfg;
    if (!expect_mapping(L, map, "namespaces", "{ USER: { globals: USERDB } }", false))
        return;
    cfg->namespaces = nsl_cfg_calloc(pair_count(map), sizeof *cfg->namespaces);
    for (node *k = first_key(map); k; k = next_key(k))
        read_namespace(L, k, &cfg->namespaces[cfg->namespace_count++]);
    if (cfg->namespace_count == 0)
        error_at(L, "empty-section", map->pos, "namespaces is empty: define at least one namespace");
}

static void read_config(loader *L, const node *root)
{
    nsl_config *cfg = L->cfg;
    const node *databases = NULL, *namespaces = NULL;
    nsl_pos where = no_pos;

    if (root && !is_null(root)) {
        where = root->pos;
        if (!expect_mapping(L, root, "the configuration",
                            "{ databases: ..., namespaces: ... }", false))
            return;
        for (node *k = first_key(root); k; k = next_key(k)) {
            const node *v = k->next;
            if (key_is(k, "lock_table")) {
                const node *found[COUNT(lock_table_fields)];
                read_fields(L, v, "lock_table", lock_table_fields,
                            COUNT(lock_table_fields), found);
            } else if (key_is(k, "server")) {
                read_server(L, v);
            } else if (key_is(k, "ha")) {
                read_ha(L, k);
            } else if (key_is(k, "default_namespace")) {
                cfg->default_namespace = read_string(L, v, "default_namespace");
                cfg->default_namespace_pos = v->pos;
            } else if (key_is(k, "local_locks")) {
                cfg->local_locks = read_string(L, v, "local_locks");
                cfg->local_locks_pos = v->pos;
            } else if (key_is(k, "databases")) {
                databases = v;
            } else if (key_is(k, "namespaces")) {
                namespaces = v;
            } else {
                unknown_key(L, k, NULL, top_keys, COUNT(top_keys));
            }
        }
    }
    if (databases)
        read_databases(L, databases);
    else
        error_at(L, "missing-key", where, "missing required key `databases`");
    if (namespaces)
        read_namespaces(L, namespaces);
    else
        error_at(L, "missing-key", where, "missing required key `namespaces`");
    check_ha(L);
}

/* ---- entry points -------------------------------------------------------- */

nsl_config *nsl_cfg_new(const char *file)
{
    nsl_config *cfg = nsl_cfg_calloc(1, sizeof *cfg);
    cfg->file = nsl_cfg_strdup(file);
    cfg->max_entries = 1000000;
    cfg->escalation_threshold = 1000;
    cfg->deadlock_check_ms = 1000;
    cfg->max_session_entries = 1000000;
    cfg->max_pending = 1024;
    cfg->recovery_grace_s = 10;
    cfg->session_timeout_s = 10;
    cfg->output_limit_mb = 64;
    cfg->max_unauthenticated = 64;
    cfg->ha_session_timeout_ms = 6000;
    return cfg;
}

static bool has_utf16_bom(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    return len >= 2 && ((s[0] == 0xff && s[1] == 0xfe) || (s[0] == 0xfe && s[1] == 0xff));
}

nsl_config_status nsl_config_load_buffer(const char *name, const char *text,
                                         size_t len, nsl_config **out,
                                         nsl_diags *diags)
{
    if (!name)
        name = "<buffer>";
    if (!text)
        text = "", len = 0;
    loader L = {.file = name, .text = text, .len = len, .diags = diags};
    node *root;

    *out = NULL;
    /* libyaml would say "control characters are not allowed"; a NUL byte
     * outside UTF-16 text says more plainly what the file is. */
    const char *nul = has_utf16_bom(text, len) ? NULL : memchr(text, '\0', len);
    if (nul) {
        error_at(&L, "nul-byte", offset_pos(&L, (size_t)(nul - text)),
                 "not YAML text: a binary file (NUL byte at offset %zu)",
                 (size_t)(nul - text));
        return NSL_CONFIG_UNREADABLE;
    }
    if (!build_tree(&L, &root)) {
        free_nodes(&L);
        return NSL_CONFIG_UNREADABLE;
    }
    L.cfg = nsl_cfg_new(name);
    read_config(&L, root);
    free_nodes(&L);
    *out = L.cfg;
    return L.errors ? NSL_CONFIG_INVALID : NSL_CONFIG_OK;
}

/* The whole file, or NULL with errno set (EFBIG beyond MAX_FILE_BYTES). */
static char *read_file(const char *path, size_t *len)
{
    bool is_stdin = !strcmp(path, "-");
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 64 * 1024, n = 0;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        cap = (size_t)st.st_size + 1;
    if (cap > MAX_FILE_BYTES + 1)
        cap = MAX_FILE_BYTES + 1;
    char *buf = nsl_cfg_malloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap > MAX_FILE_BYTES) {
                free(buf);
                if (!is_stdin)
                    close(fd);
                errno = EFBIG;
                return NULL;
            }
            cap = cap * 2 > MAX_FILE_BYTES + 1 ? MAX_FILE_BYTES + 1 : cap * 2;
            buf = nsl_cfg_realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            free(buf);
            if (!is_stdin)
                close(fd);
            errno = saved;
            return NULL;
        }
        n += (size_t)r;
    }
    if (!is_stdin)
        close(fd);
    *len = n;
    return buf;
}

char *nsl_config_read(const char *path, size_t *len, nsl_diags *diags)
{
    *len = 0;
    char *text = read_file(path, len);
    if (!text) {
        const char *name = strcmp(path, "-") ? path : NSL_CONFIG_STDIN;
        if (errno == EFBIG)
            nsl_diags_add(diags, NSL_DIAG_ERROR, "unreadable", name, no_pos,
                          "cannot read: larger than %u MiB", MAX_FILE_BYTES >> 20);
        else
            nsl_diags_add(diags, NSL_DIAG_ERROR, "unreadable", name, no_pos, "cannot read: %s",
                          strerror(errno));
    }
    return text;
}

nsl_config_status nsl_config_load_file(const char *path, nsl_config **out,
                                       nsl_diags *diags)
{
    size_t len = 0;
    char *text = nsl_config_read(path, &len, diags);
    *out = NULL;
    if (!text)
        return NSL_CONFIG_UNREADABLE;
    const char *name = strcmp(path, "-") ? path : NSL_CONFIG_STDIN;
    nsl_config_status status = nsl_config_load_buffer(name, text, len, out, diags);
    free(text);
    return status;
}

void nsl_config_free(nsl_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->database_count; i++) {
        free(cfg->databases[i].name);
        free(cfg->databases[i].directory);
    }
    free(cfg->databases);
    for (size_t i = 0; i < cfg->namespace_count; i++) {
        nsl_cfg_namespace *ns = &cfg->namespaces[i];
        for (size_t j = 0; j < ns->map_count; j++) {
            free(ns->map[j].rule);
            free(ns->map[j].database);
        }
        free(ns->map);
        free(ns->name);
        free(ns->globals);
    }
    free(cfg->namespaces);
    free(cfg->file);
    free(cfg->socket);
    free(cfg->listen);
    free(cfg->http);
    free(cfg->io_method);
    free(cfg->token_file);
    free(cfg->admin_group);
    free(cfg->state_dir);
    free(cfg->ha_zookeeper);
    free(cfg->ha_path);
    free(cfg->ha_advertise);
    free(cfg->default_namespace);
    free(cfg->local_locks);
    free(cfg);
}
