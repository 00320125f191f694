/* server/mtext.c — lock names made safe for a tab-separated DATA line.
 *
 * A canonical name keeps the raw bytes of its string subscripts, so a tab
 * or a newline inside one would break the line format. M has a notation
 * for such strings, which users of IRIS and GT.M read at sight:
 * "x"_$C(9)_"y". Names without control bytes come out unchanged. */
#include <stdbool.h>
#include <stdio.h>

#include "server/server_internal.h"

static bool is_control(char c)
{
    unsigned char u = (unsigned char)c;
    return u < 0x20 || u == 0x7F;
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
            if (is_control(name[j])) {
                put_str(&k, "$C(");
                for (bool lead = true; j < end && is_control(name[j]); j++, lead = false) {
                    char num[8];
                    snprintf(num, sizeof num, "%s%u", lead ? "" : ",", (unsigned char)name[j]);
                    put_str(&k, num);
                }
                put(&k, ')');
            } else {
                put(&k, '"');
                while (j < end && !is_control(name[j]))
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
