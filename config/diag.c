/* diag.c — the diagnostics list: every stage of validation appends to it,
 * the CLI sorts it; diag_print.c prints it in each output format. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/config_internal.h"

void nsl_diags_init(nsl_diags *d)
{
    d->items = NULL;
    d->count = 0;
    d->capacity = 0;
}

void nsl_diags_free(nsl_diags *d)
{
    for (size_t i = 0; i < d->count; i++) {
        free(d->items[i].file);
        free(d->items[i].message);
    }
    free(d->items);
    nsl_diags_init(d);
}

/* A message is one line: control characters that came from the file (a
 * double-quoted "\n" in a key, say) are shown escaped. */
static char *sanitize(const char *s)
{
    size_t extra = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            extra += 3;
    char *out = nsl_cfg_malloc(strlen(s) + extra + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            o += sprintf(o, "\\x%02x", *p);
        else
            *o++ = (char)*p;
    }
    *o = '\0';
    return out;
}

/* A list stops growing here, as a compiler stops after so many errors: a
 * generated file with a systematic mistake would otherwise bury the
 * first, useful lines under millions of copies (and take the memory). */
#define MAX_DIAGS 1000

static void append(nsl_diags *d, nsl_diag_level level, const char *rule, const char *file,
                   nsl_pos pos, char *message)
{
    if (d->count == d->capacity) {
        d->capacity = d->capacity ? d->capacity * 2 : 16;
        d->items = nsl_cfg_realloc(d->items, d->capacity * sizeof *d->items);
    }
    nsl_diag *g = &d->items[d->count++];
    g->level = level;
    g->rule = rule ? rule : "other";
    g->file = nsl_cfg_strdup(file ? file : "");
    g->line = pos.line > 0 ? pos.line : 0;
    g->col = g->line && pos.col > 0 ? pos.col : 0;
    g->message = message;
}

void nsl_diags_vadd(nsl_diags *d, nsl_diag_level level, const char *rule,
                    const char *file, nsl_pos pos, const char *fmt, va_list ap)
{
    if (d->count > MAX_DIAGS) {
        if (level == NSL_DIAG_ERROR)   /* the note stands for an error too */
            d->items[MAX_DIAGS].level = level;
        return;
    }
    if (d->count == MAX_DIAGS) {
        append(d, level, "too-many-problems", file, (nsl_pos){0, 0},
               nsl_cfg_strdup("too many problems: the rest are not reported"));
        return;
    }

    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0)
        n = 0;
    char *raw = nsl_cfg_malloc((size_t)n + 1);
    vsnprintf(raw, (size_t)n + 1, fmt, again);
    va_end(again);

    append(d, level, rule, file, pos, sanitize(raw));
    free(raw);
}

void nsl_diags_add(nsl_diags *d, nsl_diag_level level, const char *rule,
                   const char *file, nsl_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nsl_diags_vadd(d, level, rule, file, pos, fmt, ap);
    va_end(ap);
}

size_t nsl_diags_count(const nsl_diags *d, nsl_diag_level level)
{
    size_t n = 0;
    for (size_t i = 0; i < d->count; i++)
        n += d->items[i].level == level;
    return n;
}

typedef struct ranked {
    nsl_diag diag;
    size_t seq;      /* insertion order: makes qsort stable */
} ranked;

static int ranked_cmp(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    int c = strcmp(a->diag.file, b->diag.file);
    if (c)
        return c;
    if (a->diag.line != b->diag.line)
        return a->diag.line < b->diag.line ? -1 : 1;
    if (a->diag.col != b->diag.col)
        return a->diag.col < b->diag.col ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void nsl_diags_sort(nsl_diags *d)
{
    if (d->count < 2)
        return;
    ranked *r = nsl_cfg_malloc(d->count * sizeof *r);
    for (size_t i = 0; i < d->count; i++)
        r[i] = (ranked){d->items[i], i};
    qsort(r, d->count, sizeof *r, ranked_cmp);
    for (size_t i = 0; i < d->count; i++)
        d->items[i] = r[i].diag;
    free(r);
}
