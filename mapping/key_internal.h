/* Private to mapping/: decimal numbers as M sees them, and the walking of
 * encoded key parts. See the top comment of mapping.h for the byte layout. */
#ifndef NSL_KEY_INTERNAL_H
#define NSL_KEY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mapping/mapping.h"

#define NSL_NUM_DIGITS   18     /* significant digits kept */
#define NSL_NUM_MAX_EXP  47     /* |x| < 1E47, i.e. E <= 47 */
#define NSL_NUM_MIN_EXP  (-42)  /* |x| >= 1E-43, i.e. E >= -42 */
#define NSL_NUM_MAX_TEXT 64     /* longest canonical text: "-." 42 zeros 18 digits */
#define NSL_NUM_MAX_ENC  12     /* type, exp, 9 pairs, terminator */

/* Subscript type bytes, in collation order. */
enum {
    NSL_SUB_EMPTY  = 0x01,
    NSL_SUB_NEG    = 0x02,
    NSL_SUB_ZERO   = 0x03,
    NSL_SUB_POS    = 0x04,
    NSL_SUB_STRING = 0x05,
};
#define NSL_NAME_LOCAL   0x01
#define NSL_NAME_GLOBAL  0x02
#define NSL_NEG_END      0xFE

/* x = (neg ? -1 : 1) * 0.d1d2...dn * 10^exp; ndigits == 0 means zero. */
typedef struct nsl_num {
    bool neg;
    int exp;
    unsigned ndigits;
    uint8_t digits[NSL_NUM_DIGITS];
} nsl_num;

typedef enum nsl_num_status {
    NSL_NUM_OK,
    NSL_NUM_SYNTAX,     /* *bad: offset of the offending byte, *what: message */
    NSL_NUM_OVERFLOW,   /* |x| >= 1E47 */
} nsl_num_status;

/* Parses the number literal at s[0] (docs/LANGUAGE.md `number`), stopping at the
 * first byte that cannot continue it (*used). Rounds to 18 digits, half away
 * from zero; below 1E-43 becomes zero. On NSL_NUM_SYNTAX, *bad is the offset
 * of the offending byte and *what a fixed message. */
nsl_num_status nsl_num_parse(const char *s, size_t len, size_t *used,
                             nsl_num *out, size_t *bad, const char **what);

/* True if s is exactly the canonical text of a number that fits (<= 18
 * significant digits, within range); that number goes to *out. */
bool nsl_num_from_canonical(const char *s, size_t len, nsl_num *out);

/* Canonical M text, at most NSL_NUM_MAX_TEXT bytes, not NUL-terminated. */
size_t nsl_num_format(const nsl_num *n, char *buf);

/* The encoded subscript part, at most NSL_NUM_MAX_ENC bytes. */
size_t nsl_num_encode(const nsl_num *n, uint8_t *out);

/* Decodes one encoded number part (type byte .. terminator), validating it
 * is canonical. False on any malformation. */
bool nsl_num_decode(const uint8_t *part, size_t len, nsl_num *out);

/* Length of the encoded subscript part starting at p (type byte included),
 * or 0 if it runs past end or has an unknown type byte. Does not validate
 * the content. */
size_t nsl_key_part_len(const uint8_t *p, const uint8_t *end);

/* Valid name characters (docs/CONFIG.md): ('%'|letter) {letter|digit|'.'}. */
static inline bool nsl_name_start_char(unsigned char c)
{
    return c == '%' || (unsigned char)((c | 0x20) - 'a') < 26;
}
static inline bool nsl_name_char(unsigned char c)
{
    return (unsigned char)((c | 0x20) - 'a') < 26 || (unsigned char)(c - '0') < 10 || c == '.';
}

#endif
