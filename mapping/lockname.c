/* Lock-name parsing (docs/LANGUAGE.md) straight into the encoded key: one pass, no
 * allocation, no intermediate text. Errors name what was expected and the
 * 1-based column of the offending byte. */
#include <string.h>

#include "mapping/key_internal.h"
#include "mapping/parse_internal.h"

static const char *found(const unsigned char *s, size_t len, size_t i, char buf[16])
{
    return nsl_describe_byte(s, len, i, "end of text", buf);
}

static nsl_code syntax(nsl_error *err, size_t offset, const char *what)
{
    return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(offset), "%s", what);
}

/* Scans the quoted string at s[*i] (which must be '"'), decoding it into
 * out (cap bytes; NULL to discard). On success *i is past the closing quote
 * and *n is the decoded length (which may exceed cap). */
static nsl_code scan_string(const unsigned char *s, size_t len, size_t *i,
                            char *out, size_t cap, size_t *n, nsl_error *err)
{
    size_t q = *i, j = q + 1, o = 0;
    for (;;) {
        const unsigned char *e = j < len ? memchr(s + j, '"', len - j) : NULL;
        if (e == NULL)
            return syntax(err, q, "unterminated string");
        size_t stop = (size_t)(e - s);
        if (out != NULL && o < cap)
            memcpy(out + o, s + j, stop - j < cap - o ? stop - j : cap - o);
        o += stop - j;
        if (stop + 1 < len && s[stop + 1] == '"') {
            if (out != NULL && o < cap)
                out[o] = '"';
            o++;
            j = stop + 2;
            continue;
        }
        *i = stop + 1;
        *n = o;
        return NSL_OK;
    }
}

/* ext := '[' str [',' str] ']' | '|' str [',' str] '|' ; s[*i] is the opener. */
static nsl_code parse_ext(const unsigned char *s, size_t len, size_t *i,
                          nsl_lockname *out, nsl_error *err)
{
    unsigned char close = s[*i] == '[' ? ']' : '|';
    size_t p = *i + 1;
    if (p >= len || s[p] != '"')
        return syntax(err, p, close == ']' ? "expected a namespace in quotes after '^['"
                                           : "expected a namespace in quotes after '^|'");
    size_t str_at = p, n;
    char env[NSL_MAX_ENV + 3];   /* room for "^^" plus the longest directory */
    nsl_code rc = scan_string(s, len, &p, env, sizeof env, &n, err);
    if (rc != NSL_OK)
        return rc;
    bool implied = n >= 2 && env[0] == '^' && env[1] == '^';
    size_t skip = implied ? 2 : 0;
    if (n - skip > NSL_MAX_ENV)
        return syntax(err, str_at, implied ? "directory longer than 255 bytes"
                                           : "namespace name longer than 255 bytes");
    if (n == skip)
        return syntax(err, str_at, implied ? "empty directory in implied namespace"
                                           : "empty namespace name");
    if (memchr(env, '\0', n) != NULL)
        return syntax(err, str_at, "NUL byte in namespace name");
    memcpy(out->env, env + skip, n - skip);
    out->env[n - skip] = '\0';
    out->ref = implied ? NSL_REF_DIRECTORY : NSL_REF_NAMESPACE;

    if (p < len && s[p] == ',') {            /* system name: accepted, ignored */
        p++;
        if (p >= len || s[p] != '"')
            return syntax(err, p, "expected a system name in quotes after ','");
        rc = scan_string(s, len, &p, NULL, 0, &n, err);
        if (rc != NSL_OK)
            return rc;
    }
    if (p >= len || s[p] != close)
        return syntax(err, p, close == ']' ? "expected ']' or ',' after the namespace"
                                           : "expected '|' or ',' after the namespace");
    *i = p + 1;
    return NSL_OK;
}

static nsl_code too_long(nsl_error *err, size_t offset)
{
    return nsl_error_set(err, NSL_SUBSCRIPT, nsl_column_of(offset),
                         "lock name longer than %d bytes encoded", NSL_MAX_KEY_BYTES);
}

/* A string subscript at s[*i] == '"', appended to the key at *pos. A string
 * that reads as a canonical number is that number (docs/LANGUAGE.md), whose encoding
 * may be shorter or longer than the string's, so the length limit is
 * checked on the final form. */
static nsl_code parse_string_sub(const unsigned char *s, size_t len, size_t *i,
                                 nsl_key *k, size_t *pos, nsl_error *err)
{
    size_t q = *i, j = q + 1, at = *pos, o = at + 1;
    bool doubled = false, over = false;
    uint8_t *b = k->bytes;
    for (;; j++) {
        if (j >= len)
            return syntax(err, q, "unterminated string");
        unsigned char c = s[j];
        if (c == '"') {
            if (j + 1 < len && s[j + 1] == '"') {
                doubled = true;
                j++;
            } else {
                break;
            }
        }
        size_t need = c <= 0x01 ? 2 : 1;
        if (over || o + need + 1 > NSL_MAX_KEY_BYTES) {   /* +1: the terminator */
            over = true;
            continue;
        }
        if (c <= 0x01) {
            b[o++] = 0x01;
            b[o++] = (uint8_t)(c + 1);
        } else {
            b[o++] = c;
        }
    }
    size_t content = j - (q + 1);
    *i = j + 1;
    if (content == 0) {
        if (at + 1 > NSL_MAX_KEY_BYTES)
            return too_long(err, q);
        b[at] = NSL_SUB_EMPTY;
        *pos = at + 1;
        return NSL_OK;
    }
    unsigned char c0 = s[q + 1];
    nsl_num num;
    if (!doubled && content <= NSL_NUM_MAX_TEXT &&
        (c0 == '-' || c0 == '.' || (unsigned char)(c0 - '0') < 10) &&
        nsl_num_from_canonical((const char *)s + q + 1, content, &num)) {
        uint8_t enc[NSL_NUM_MAX_ENC];
        size_t n = nsl_num_encode(&num, enc);
        if (at + n > NSL_MAX_KEY_BYTES)
            return too_long(err, q);
        memcpy(b + at, enc, n);
        *pos = at + n;
        return NSL_OK;
    }
    if (over)
        return too_long(err, q);
    b[at] = NSL_SUB_STRING;
    b[o++] = 0x00;
    *pos = o;
    return NSL_OK;
}

static nsl_code parse_number_sub(const unsigned char *s, size_t len, size_t *i,
                                 nsl_key *k, size_t *pos, nsl_error *err)
{
    nsl_num num;
    size_t used = 0, bad = 0;
    const char *what = NULL;
    switch (nsl_num_parse((const char *)s + *i, len - *i, &used, &num, &bad, &what)) {
    case NSL_NUM_OK:
        break;
    case NSL_NUM_SYNTAX:
        return syntax(err, *i + bad, what);
    case NSL_NUM_OVERFLOW:
        return nsl_error_set(err, NSL_SUBSCRIPT, nsl_column_of(*i),
                             "numeric overflow: magnitude of 1E47 or more");
    }
    size_t n;
    if (*pos + NSL_NUM_MAX_ENC <= NSL_MAX_KEY_BYTES) {   /* the common case: room */
        n = nsl_num_encode(&num, k->bytes + *pos);
    } else {
        uint8_t enc[NSL_NUM_MAX_ENC];
        n = nsl_num_encode(&num, enc);
        if (*pos + n > NSL_MAX_KEY_BYTES)
            return too_long(err, *i);
        memcpy(k->bytes + *pos, enc, n);
    }
    *pos += n;
    *i += used;
    return NSL_OK;
}

nsl_code nsl_lockname_parse(const char *text, size_t len, size_t *consumed,
                            nsl_lockname *out, nsl_error *err)
{
    const unsigned char *s = (const unsigned char *)text;
    char d[16];
    size_t i = 0;
    bool global = false;
    out->ref = NSL_REF_PLAIN;
    out->env[0] = '\0';

    if (len > 0 && s[0] == '^') {
        global = true;
        i = 1;
        if (i < len && (s[i] == '[' || s[i] == '|')) {
            nsl_code rc = parse_ext(s, len, &i, out, err);
            if (rc != NSL_OK)
                return rc;
        }
    } else if (len > 0 && (s[0] == '[' || s[0] == '|')) {
        return syntax(err, 0, "extended references are only for globals: ^[\"NS\"]name");
    }

    if (i >= len || !nsl_name_start_char(s[i]))
        return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(i),
                             "expected a %sname (a letter or '%%' first), found %s",
                             global ? "global " : "lock ", found(s, len, i, d));
    /* Copied while scanned: names are short and a library memcpy call
     * costs more than the loop. */
    nsl_key *k = &out->key;
    k->bytes[0] = global ? NSL_NAME_GLOBAL : NSL_NAME_LOCAL;
    size_t start = i;
    k->bytes[1] = s[i++];
    while (i < len && nsl_name_char(s[i])) {
        if (i - start >= NSL_MAX_NAME_CHARS)
            return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(start + NSL_MAX_NAME_CHARS),
                                 "name longer than %d characters", NSL_MAX_NAME_CHARS);
        k->bytes[1 + i - start] = s[i];
        i++;
    }
    size_t name_len = i - start;
    k->bytes[name_len + 1] = 0x00;
    size_t pos = name_len + 2;
    k->end[0] = (uint16_t)pos;
    unsigned nsubs = 0;

    if (i < len && s[i] == '(') {
        i++;
        if (i < len && s[i] == ')')
            return syntax(err, i, "empty subscript list");
        for (;;) {
            if (nsubs == NSL_MAX_SUBSCRIPTS)
                return nsl_error_set(err, NSL_SUBSCRIPT, nsl_column_of(i),
                                     "more than %d subscripts", NSL_MAX_SUBSCRIPTS);
            nsl_code rc;
            unsigned char c = i < len ? s[i] : 0;
            if (i < len && c == '"')
                rc = parse_string_sub(s, len, &i, k, &pos, err);
            else if (i < len && (c == '-' || c == '.' || (unsigned char)(c - '0') < 10))
                rc = parse_number_sub(s, len, &i, k, &pos, err);
            else
                rc = nsl_error_set(err, NSL_SYNTAX, nsl_column_of(i),
                                   "expected a subscript (a number or a string in quotes), "
                                   "found %s", found(s, len, i, d));
            if (rc != NSL_OK)
                return rc;
            k->end[++nsubs] = (uint16_t)pos;
            if (i < len && s[i] == ',') {
                i++;
                continue;
            }
            if (i < len && s[i] == ')') {
                i++;
                break;
            }
            return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(i),
                                 "expected ')' or ',' after subscript, found %s",
                                 found(s, len, i, d));
        }
    }
    k->len = (uint16_t)pos;
    k->nsubs = (uint8_t)nsubs;
    k->global = global;

    if (consumed != NULL)
        *consumed = i;
    else if (i < len)
        return nsl_error_set(err, NSL_SYNTAX, nsl_column_of(i),
                             "unexpected %s after the lock name", found(s, len, i, d));
    return NSL_OK;
}
