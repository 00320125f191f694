/* suggest.c — "did you mean": the nearest name by edit distance, as
 * compilers offer for a misspelt identifier. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

enum { MAX_WORD = 64 };

static int fold(int c, bool icase)
{
    return icase ? tolower((unsigned char)c) : (unsigned char)c;
}

/* Optimal string alignment distance (Levenshtein plus adjacent
 * transpositions: `diretcory` is one typo, not two). */
static size_t distance(const char *a, size_t n, const char *b, size_t m, bool icase)
{
    size_t rows[3][MAX_WORD + 1];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= m; j++)
        prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cost = fold(a[i - 1], icase) != fold(b[j - 1], icase);
            size_t best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (prev[j - 1] + cost < best)
                best = prev[j - 1] + cost;
            if (i > 1 && j > 1 && fold(a[i - 1], icase) == fold(b[j - 2], icase)
                && fold(a[i - 2], icase) == fold(b[j - 1], icase) && prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

const char *nsl_suggest(const char *word, const char *const *candidates, size_t n,
                        bool icase)
{
    size_t wlen = strlen(word);
    if (wlen == 0 || wlen > MAX_WORD)
        return NULL;
    /* A third of the word may be wrong, at least one edit: `ALPHA_DB` for
     * `ALPHADB`, `diretory` for `directory`, but not `x` for `y`. */
    size_t limit = wlen / 3 ? wlen / 3 : 1;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (size_t i = 0; i < n; i++) {
        size_t clen = strlen(candidates[i]);
        if (clen > MAX_WORD || clen == 0)
            continue;
        size_t d = distance(word, wlen, candidates[i], clen, icase);
        if (d == 0)
            continue;   /* the same name: not a suggestion */
        if (d < best_d && d < clen) {
            best = candidates[i];
            best_d = d;
        }
    }
    return best;
}
