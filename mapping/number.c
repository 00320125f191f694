/* M numbers: literal parsing, canonical text, canonical-string detection and
 * the order-preserving encoding of mapping.h. A number is kept as sign,
 * decimal exponent and up to 18 significant digits, like GT.M's mvals. */
#include <string.h>

#include "mapping/key_internal.h"

static inline bool is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

static void set_zero(nsl_num *out)
{
    out->neg = false;
    out->exp = 0;
    out->ndigits = 0;
}

nsl_num_status nsl_num_parse(const char *s, size_t len, size_t *used,
                             nsl_num *out, size_t *bad, const char **what)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && s[i] == '-') {
        neg = true;
        i++;
    }
    size_t int_start = i;
    while (i < len && is_digit(s[i]))
        i++;
    size_t int_end = i, frac_start = i, frac_end = i;
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || !is_digit(s[i])) {
            *bad = i;
            *what = "expected a digit after '.'";
            return NSL_NUM_SYNTAX;
        }
        frac_start = i;
        while (i < len && is_digit(s[i]))
            i++;
        frac_end = i;
    }
    if (int_end == int_start && frac_end == frac_start) {
        *bad = i;
        *what = neg ? "expected a digit after '-'" : "expected a digit";
        return NSL_NUM_SYNTAX;
    }
    long long e10 = 0;
    if (i < len && (s[i] | 0x20) == 'e') {
        i++;
        bool eneg = false;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i >= len || !is_digit(s[i])) {
            *bad = i;
            *what = "expected a digit in the exponent";
            return NSL_NUM_SYNTAX;
        }
        while (i < len && is_digit(s[i])) {
            if (e10 < 1000000)           /* saturate: far beyond any range */
                e10 = e10 * 10 + (s[i] - '0');
            i++;
        }
        if (eneg)
            e10 = -e10;
    }
    *used = i;

    /* Significant digits of the digit stream int ++ frac; the point sits
     * after the integer digits, so E = nint - leading zeros. */
    unsigned nd = 0;
    int round_digit = 0;
    long long zeros = 0;
    bool seen = false, more = false;
    for (size_t k = int_start; k < frac_end; k++) {
        if (k == int_end)
            k = frac_start;
        if (k >= frac_end)
            break;
        char c = s[k];
        if (!seen) {
            if (c == '0') {
                zeros++;
                continue;
            }
            seen = true;
        }
        if (nd < NSL_NUM_DIGITS) {
            out->digits[nd++] = (uint8_t)(c - '0');
        } else {
            round_digit = c - '0';
            more = true;
            break;
        }
    }
    if (!seen) {
        set_zero(out);
        return NSL_NUM_OK;
    }
    long long exp = (long long)(int_end - int_start) - zeros + e10;
    if (more && round_digit >= 5) {   /* half away from zero: on the magnitude */
        int j = (int)nd - 1;
        while (j >= 0 && out->digits[j] == 9) {
            out->digits[j] = 0;
            j--;
        }
        if (j < 0) {
            out->digits[0] = 1;
            nd = 1;
            exp++;
        } else {
            out->digits[j]++;
            nd = (unsigned)j + 1;
        }
    }
    while (nd > 0 && out->digits[nd - 1] == 0)
        nd--;
    if (exp > NSL_NUM_MAX_EXP) {
        out->neg = neg;               /* callers may clamp by sign */
        out->exp = NSL_NUM_MAX_EXP + 1;
        out->ndigits = 0;
        return NSL_NUM_OVERFLOW;
    }
    if (exp < NSL_NUM_MIN_EXP) {
        set_zero(out);
        return NSL_NUM_OK;
    }
    out->neg = neg;
    out->exp = (int)exp;
    out->ndigits = nd;
    return NSL_NUM_OK;
}

bool nsl_num_from_canonical(const char *s, size_t len, nsl_num *out)
{
    if (len == 0 || len > NSL_NUM_MAX_TEXT)
        return false;
    size_t i = 0;
    bool neg = false;
    if (s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i >= len)
        return false;
    if (s[i] == '0') {               /* only "0" itself; not "-0", "01", "0.5" */
        if (neg || len != 1)
            return false;
        set_zero(out);
        return true;
    }
    size_t int_start = i;
    while (i < len && is_digit(s[i]))
        i++;
    size_t nint = i - int_start;
    size_t frac_start = i, frac_end = i;
    if (i < len) {
        if (s[i] != '.')
            return false;
        i++;
        frac_start = i;
        while (i < len && is_digit(s[i]))
            i++;
        frac_end = i;
        if (i != len || frac_end == frac_start || s[frac_end - 1] == '0')
            return false;
    }
    if (nint == 0 && frac_end == frac_start)
        return false;

    /* Leading zeros can only be in the fraction of a number below 1;
     * trailing zeros only in the integer part of one without fraction. */
    long long exp;
    unsigned nd = 0;
    if (nint > 0) {
        exp = (long long)nint;
        size_t last = frac_end > frac_start ? frac_end : int_start + nint;
        if (frac_end == frac_start)
            while (last > int_start && s[last - 1] == '0')
                last--;
        for (size_t k = int_start; k < last; k++) {
            if (k == int_start + nint)
                k = frac_start;
            if (nd == NSL_NUM_DIGITS)
                return false;
            out->digits[nd++] = (uint8_t)(s[k] - '0');
        }
    } else {
        size_t k = frac_start;
        while (s[k] == '0')
            k++;
        exp = -(long long)(k - frac_start);
        for (; k < frac_end; k++) {
            if (nd == NSL_NUM_DIGITS)
                return false;
            out->digits[nd++] = (uint8_t)(s[k] - '0');
        }
    }
    if (exp > NSL_NUM_MAX_EXP || exp < NSL_NUM_MIN_EXP)
        return false;
    out->neg = neg;
    out->exp = (int)exp;
    out->ndigits = nd;
    return true;
}

size_t nsl_num_format(const nsl_num *n, char *buf)
{
    char *p = buf;
    if (n->ndigits == 0) {
        *p = '0';
        return 1;
    }
    if (n->neg)
        *p++ = '-';
    int nd = (int)n->ndigits, e = n->exp;
    if (e <= 0) {
        *p++ = '.';
        for (int k = 0; k < -e; k++)
            *p++ = '0';
        for (int k = 0; k < nd; k++)
            *p++ = (char)('0' + n->digits[k]);
    } else if (e < nd) {
        for (int k = 0; k < e; k++)
            *p++ = (char)('0' + n->digits[k]);
        *p++ = '.';
        for (int k = e; k < nd; k++)
            *p++ = (char)('0' + n->digits[k]);
    } else {
        for (int k = 0; k < nd; k++)
            *p++ = (char)('0' + n->digits[k]);
        for (int k = nd; k < e; k++)
            *p++ = '0';
    }
    return (size_t)(p - buf);
}

size_t nsl_num_encode(const nsl_num *n, uint8_t *out)
{
    if (n->ndigits == 0) {
        out[0] = NSL_SUB_ZERO;
        return 1;
    }
    /* Negatives complement every byte after the type so that larger
     * magnitudes sort first; their terminator sorts after every pair. */
    uint8_t flip = n->neg ? 0xFF : 0x00;
    size_t o = 0;
    out[o++] = n->neg ? NSL_SUB_NEG : NSL_SUB_POS;
    out[o++] = (uint8_t)((n->exp + 128) ^ flip);
    for (unsigned k = 0; k < n->ndigits; k += 2) {
        unsigned v = n->digits[k] * 10u + (k + 1 < n->ndigits ? n->digits[k + 1] : 0u);
        out[o++] = (uint8_t)((2 + v) ^ flip);
    }
    out[o++] = n->neg ? NSL_NEG_END : 0x00;
    return o;
}

bool nsl_num_decode(const uint8_t *part, size_t len, nsl_num *out)
{
    if (len == 0)
        return false;
    if (part[0] == NSL_SUB_ZERO) {
        if (len != 1)
            return false;
        set_zero(out);
        return true;
    }
    uint8_t flip, end;
    if (part[0] == NSL_SUB_POS) {
        flip = 0x00;
        end = 0x00;
    } else if (part[0] == NSL_SUB_NEG) {
        flip = 0xFF;
        end = NSL_NEG_END;
    } else {
        return false;
    }
    size_t npairs = len >= 3 ? len - 3 : 0;
    if (npairs == 0 || npairs > (NSL_NUM_DIGITS + 1) / 2 || part[len - 1] != end)
        return false;
    int exp = (int)(part[1] ^ flip) - 128;
    if (exp > NSL_NUM_MAX_EXP || exp < NSL_NUM_MIN_EXP)
        return false;
    unsigned nd = 0;
    for (size_t k = 0; k < npairs; k++) {
        unsigned b = (unsigned)(part[2 + k] ^ flip);
        if (b < 2 || b > 101)
            return false;
        unsigned v = b - 2;
        out->digits[nd++] = (uint8_t)(v / 10);
        out->digits[nd++] = (uint8_t)(v % 10);
    }
    if (out->digits[nd - 1] == 0)   /* padding of an odd count */
        nd--;
    if (out->digits[0] == 0 || out->digits[nd - 1] == 0)
        return false;
    out->neg = part[0] == NSL_SUB_NEG;
    out->exp = exp;
    out->ndigits = nd;
    return true;
}
