/* Keys: comparison, ancestry, validation of stored bytes and canonical text.
 * The byte layout is described at the top of mapping.h. */
#include <string.h>

#include "mapping/key_internal.h"

int nsl_key_bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

int nsl_key_cmp(const nsl_key *a, const nsl_key *b)
{
    return nsl_key_bytes_cmp(a->bytes, a->len, b->bytes, b->len);
}

/* Parts are self-delimiting, so a byte prefix made of whole parts of a valid
 * key is also a part-boundary prefix of any key that starts with it. */
bool nsl_key_is_ancestor(const nsl_key *a, const nsl_key *b)
{
    return a->len < b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

bool nsl_key_overlaps(const nsl_key *a, const nsl_key *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    return memcmp(a->bytes, b->bytes, n) == 0;
}

void nsl_key_truncate(const nsl_key *k, unsigned level, nsl_key *out)
{
    if (level > k->nsubs)
        level = k->nsubs;
    uint16_t len = k->end[level];
    if (out != k) {
        memcpy(out->bytes, k->bytes, len);
        memcpy(out->end, k->end, (level + 1) * sizeof k->end[0]);
        out->global = k->global;
    }
    out->len = len;
    out->nsubs = (uint8_t)level;
}

size_t nsl_key_part_len(const uint8_t *p, const uint8_t *end)
{
    if (p >= end)
        return 0;
    uint8_t stop;
    switch (p[0]) {
    case NSL_SUB_EMPTY:
    case NSL_SUB_ZERO:
        return 1;
    case NSL_SUB_NEG:
        stop = NSL_NEG_END;
        break;
    case NSL_SUB_POS:
    case NSL_SUB_STRING:
        stop = 0x00;
        break;
    default:
        return 0;
    }
    const uint8_t *q = memchr(p + 1, stop, (size_t)(end - p - 1));
    return q ? (size_t)(q - p) + 1 : 0;
}

/* Decodes the escaped bytes of a string part (between 0x05 and 0x00) into
 * out (cap bytes). Returns the decoded length, or (size_t)-1 if an escape
 * is malformed; stops decoding (but keeps counting) beyond cap. */
static size_t string_unescape(const uint8_t *p, size_t n, uint8_t *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == 0x01) {
            if (i + 1 >= n || (p[i + 1] != 0x01 && p[i + 1] != 0x02))
                return (size_t)-1;
            c = (uint8_t)(p[++i] - 1);
        } else if (c == 0x00) {
            return (size_t)-1;
        }
        if (o < cap)
            out[o] = c;
        o++;
    }
    return o;
}

static bool string_part_valid(const uint8_t *part, size_t len)
{
    if (len < 3 || part[len - 1] != 0x00)
        return false;
    uint8_t buf[NSL_NUM_MAX_TEXT];
    size_t n = string_unescape(part + 1, len - 2, buf, sizeof buf);
    if (n == (size_t)-1 || n == 0)
        return false;
    /* A string that reads as a canonical number must have been encoded
     * as that number. */
    nsl_num num;
    return n > sizeof buf || !nsl_num_from_canonical((const char *)buf, n, &num);
}

bool nsl_key_from_bytes(nsl_key *out, const uint8_t *bytes, size_t len)
{
    if (len < 3 || len > NSL_MAX_KEY_BYTES)
        return false;
    if (bytes[0] != NSL_NAME_LOCAL && bytes[0] != NSL_NAME_GLOBAL)
        return false;
    if (!nsl_name_start_char(bytes[1]))
        return false;
    size_t i = 2;
    while (i < len && bytes[i] != 0x00) {
        if (!nsl_name_char(bytes[i]))
            return false;
        i++;
    }
    if (i >= len || i - 1 > NSL_MAX_NAME_CHARS)
        return false;
    i++;
    out->global = bytes[0] == NSL_NAME_GLOBAL;
    out->end[0] = (uint16_t)i;
    unsigned nsubs = 0;
    const uint8_t *end = bytes + len;
    while (i < len) {
        if (nsubs == NSL_MAX_SUBSCRIPTS)
            return false;
        const uint8_t *p = bytes + i;
        size_t n = nsl_key_part_len(p, end);
        if (n == 0)
            return false;
        nsl_num num;
        switch (p[0]) {
        case NSL_SUB_EMPTY:
            break;
        case NSL_SUB_STRING:
            if (!string_part_valid(p, n))
                return false;
            break;
        default:
            if (!nsl_num_decode(p, n, &num))
                return false;
            break;
        }
        i += n;
        out->end[++nsubs] = (uint16_t)i;
    }
    memmove(out->bytes, bytes, len);    /* bytes may be out->bytes itself */
    out->len = (uint16_t)len;
    out->nsubs = (uint8_t)nsubs;
    return true;
}

/* ---- canonical text ----------------------------------------------------- */

/* snprintf-like appending: counts everything, stores what fits. */
typedef struct text_out {
    char *buf;
    size_t cap, len;
} text_out;

static void put_bytes(text_out *t, const void *s, size_t n)
{
    if (t->len < t->cap) {
        size_t room = t->cap - t->len;
        memcpy(t->buf + t->len, s, n < room ? n : room);
    }
    t->len += n;
}

static void put_char(text_out *t, char c)
{
    if (t->len < t->cap)
        t->buf[t->len] = c;
    t->len++;
}

static size_t text_finish(text_out *t)
{
    if (t->cap > 0)
        t->buf[t->len < t->cap ? t->len : t->cap - 1] = '\0';
    return t->len;
}

static void put_subscript(text_out *t, const uint8_t *part, size_t len)
{
    switch (len ? part[0] : 0) {
    case NSL_SUB_EMPTY:
        put_bytes(t, "\"\"", 2);
        return;
    case NSL_SUB_STRING:
        put_char(t, '"');
        for (size_t i = 1; i + 1 < len; i++) {
            uint8_t c = part[i];
            if (c == 0x01 && i + 2 < len)
                c = (uint8_t)(part[++i] - 1);
            if (c == '"')
                put_char(t, '"');
            put_char(t, (char)c);
        }
        put_char(t, '"');
        return;
    default: {
        nsl_num num;
        char text[NSL_NUM_MAX_TEXT];
        if (nsl_num_decode(part, len, &num))
            put_bytes(t, text, nsl_num_format(&num, text));
        else
            put_char(t, '?');    /* only reachable with invalid bytes */
        return;
    }
    }
}

/* The name and subscripts of valid key bytes; caret: write the ^ of a global. */
static void put_key(text_out *t, const uint8_t *bytes, size_t len, bool caret)
{
    if (len < 2)
        return;
    if (caret && bytes[0] == NSL_NAME_GLOBAL)
        put_char(t, '^');
    const uint8_t *nul = memchr(bytes + 1, 0, len - 1);
    size_t name_end = nul ? (size_t)(nul - bytes) : len;
    put_bytes(t, bytes + 1, name_end - 1);
    size_t i = name_end + 1;
    if (i >= len)
        return;
    put_char(t, '(');
    const uint8_t *end = bytes + len;
    bool first = true;
    while (i < len) {
        size_t n = nsl_key_part_len(bytes + i, end);
        if (n == 0)
            break;
        if (!first)
            put_char(t, ',');
        first = false;
        put_subscript(t, bytes + i, n);
        i += n;
    }
    put_char(t, ')');
}

size_t nsl_key_format_bytes(const uint8_t *bytes, size_t len, char *buf, size_t cap)
{
    text_out t = {buf, cap, 0};
    put_key(&t, bytes, len, true);
    return text_finish(&t);
}

size_t nsl_key_format(const nsl_key *k, char *buf, size_t cap)
{
    return nsl_key_format_bytes(k->bytes, k->len, buf, cap);
}

size_t nsl_subscript_format(const uint8_t *part, size_t len, char *buf, size_t cap)
{
    text_out t = {buf, cap, 0};
    put_subscript(&t, part, len);
    return text_finish(&t);
}

/* Canonical text of a lock name: the key after its extended reference. */
size_t nsl_lockname_format(const nsl_lockname *n, char *buf, size_t cap)
{
    text_out t = {buf, cap, 0};
    bool extended = n->key.global && n->ref != NSL_REF_PLAIN;
    if (extended) {
        put_bytes(&t, "^[\"", 3);
        if (n->ref == NSL_REF_DIRECTORY)
            put_bytes(&t, "^^", 2);
        for (const char *p = n->env; *p; p++) {
            if (*p == '"')
                put_char(&t, '"');
            put_char(&t, *p);
        }
        put_bytes(&t, "\"]", 2);
    }
    put_key(&t, n->key.bytes, n->key.len, !extended);
    return text_finish(&t);
}
