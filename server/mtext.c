/* server/mtext.c — lock names made safe for a tab-separated DATA line.
 *
 * A canonical name keeps the raw bytes of its string subscripts, so a tab
 * or a newline inside one would break the line format. M has a notation
 * for such strings, which users of IRIS and GT.M read at sight:
 * "x"_$C(9)_"y". Bytes that are not UTF-8 are written the same way
 * ($C(255)), so that every answer, and the JSON made of it, is valid UTF-8.
 * Names of printable UTF-8 come out unchanged. */
#include <stdbool.h>
#include <stdio.h>

#include "server/server_internal.h"

size_t nsl_utf8_char_len(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    if (!len)
        return 0;
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
             : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    if (!n || n > len)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    /* no overlong forms, no surrogates, nothing above U+10FFFF */
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) ||
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
        return 0;
    return n;
}

/* A byte written as $C(n): a control byte, or one that starts no UTF-8
 * character. */
static bool is_special(const char *text, size_t len)
{
    unsigned char u = (unsigned char)text[0];
    return u < 0x20 || u == 0x7F || nsl_utf8_char_len(text, len) == 0;
}

/* Where the string literal opened at text[open] ends: the index of its
 * closing quote ("" inside it is an escaped quote), or len. */
static size_t string_end(const char *text, size_t len, size_t open)
{
    size_t i = open + 1;
    while (i < len) {
        if (text[i] == '"') {
            if (i + 1 < len && text[i + 1] == '"') {
                i += 2;
                continue;
            }
            return i;
        }
        i++;
    }
    return len;
}

typedef struct sink {
    char *out;
    size_t cap, n;
} sink;

static void put(sink *k, char c)
{
    if (k->n + 1 < k->cap)
        k->out[k->n] = c;
    k->n++;
}

static void put_str(sink *k, const char *s)
{
    while (*s)
        put(k, *s++);
}

size_t nsl_mtext_escape(const char *name, size_t len, char *out, size_t cap)
{
    sink k = {out, cap, 0};
    size_t i = 0;
    while (i < len) {
        if (name[i] != '"') {
            put(&k, name[i++]);
            continue;
        }
        size_t end = string_end(name, len, i);
        size_t j = i + 1;
        if (j == end) {
            put_str(&k, "\"\"");
        }
        bool first = true;
        while (j < end) {
            if (!first)
                put(&k, '_');
            first = false;
            if (is_special(name + j, end - j)) {
                put_str(&k, "$C(");
                for (bool lead = true; j < end && is_special(name + j, end - j);
                     j++, lead = false) {
                    char num[8];
                    snprintf(num, sizeof num, "%s%u", lead ? "" : ",", (unsigned char)name[j]);
                    put_str(&k, num);
                }
                put(&k, ')');
            } else {
                put(&k, '"');
                while (j < end && !is_special(name + j, end - j))
                    for (size_t c = nsl_utf8_char_len(name + j, end - j); c; c--)
                        put(&k, name[j++]);
                put(&k, '"');
            }
        }
        i = end + 1;
    }
    if (cap)
        out[k.n < cap ? k.n : cap - 1] = '\0';
    return k.n;
}
