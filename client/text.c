/* libnslock's request text: building request lines and checking what goes
 * into them. The server parses lock names; the library only makes sure that
 * what a caller passes as one name or one word arrives as exactly that. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_internal.h"

/* ---- the request buffer ---------------------------------------------------- */

void nsl_client_req_reset(nslock *c)
{
    c->wlen = 0;
    c->woverflow = false;
}

static bool reserve(nslock *c, size_t more)
{
    if (c->woverflow)
        return false;
    if (c->wlen + more <= c->wcap)
        return true;
    size_t cap = c->wcap;
    while (cap < c->wlen + more)
        cap *= 2;
    char *bigger = realloc(c->wbuf, cap);
    if (bigger == NULL) {
        c->woverflow = true;
        return false;
    }
    c->wbuf = bigger;
    c->wcap = cap;
    return true;
}

void nsl_client_req_add(nslock *c, const char *s, size_t len)
{
    if (!reserve(c, len))
        return;
    memcpy(c->wbuf + c->wlen, s, len);
    c->wlen += len;
}

void nsl_client_req_str(nslock *c, const char *s)
{
    nsl_client_req_add(c, s, strlen(s));
}

void nsl_client_req_fmt(nslock *c, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        c->woverflow = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        nsl_client_req_add(c, small, (size_t)n);
        return;
    }
    if (!reserve(c, (size_t)n + 1))
        return;
    va_start(ap, fmt);
    vsnprintf(c->wbuf + c->wlen, (size_t)n + 1, fmt, ap);
    va_end(ap);
    c->wlen += (size_t)n;
}

int nsl_client_req_end(nslock *c, nslock_error *err)
{
    nsl_client_req_add(c, "\n", 1);
    if (c->woverflow)
        return nsl_client_fail(err, NSLOCK_E_NOMEM, "out of memory building a request");
    return 0;
}

/* ---- scanning lock text ---------------------------------------------------------
 * Lock names hold strings ("a,b" with "" for a quote) and brackets (subscripts
 * in parentheses, extended references in [...]); a ',' ':' or '#' means
 * something only outside both. */

typedef struct scan {
    const char *p;
    int depth;
    bool in_string;
} scan;

/* Advances s->p to the first byte of stops that is outside strings and
 * brackets, or to the end of the text. */
static void scan_to(scan *s, const char *stops)
{
    for (; *s->p; s->p++) {
        char ch = *s->p;
        if (s->in_string) {
            if (ch == '"')
                s->in_string = false;   /* "" reads as close + open */
            continue;
        }
        if (s->depth == 0 && strchr(stops, ch))
            return;
        if (ch == '"')
            s->in_string = true;
        else if (ch == '(' || ch == '[')
            s->depth++;
        else if ((ch == ')' || ch == ']') && s->depth > 0)
            s->depth--;
    }
}

static const char *line_break(const char *text)
{
    return strpbrk(text, "\r\n");
}

int nsl_client_check_name(const char *name, nslock_error *err)
{
    if (name == NULL || *name == '\0')
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "empty lock name");
    if (line_break(name))
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "a line break in lock name '%s'", name);
    if (strchr("+-(@", *name))
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT,
                               "lock name '%s' may not start with '%c'", name, *name);
    scan s = {.p = name};
    scan_to(&s, ",:# \t");
    if (*s.p)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT,
                               "'%c' at column %zu makes '%s' more than one lock name", *s.p,
                               (size_t)(s.p - name) + 1, name);
    if (s.in_string || s.depth != 0)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "unbalanced %s in lock name '%s'",
                               s.in_string ? "quotes" : "brackets", name);
    return 0;
}

int nsl_client_check_word(const char *what, const char *word, nslock_error *err)
{
    if (word == NULL || *word == '\0')
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "empty %s", what);
    for (const unsigned char *p = (const unsigned char *)word; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return nsl_client_fail(err, NSLOCK_E_ARGUMENT,
                                   "%s '%s' may not contain blanks or control characters",
                                   what, word);
    return 0;
}

int nsl_client_req_types(nslock *c, unsigned types, nslock_error *err)
{
    if (types & ~(unsigned)(NSLOCK_SHARED | NSLOCK_ESCALATING | NSLOCK_IMMEDIATE | NSLOCK_DEFERRED))
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "unknown lock type bits 0x%x", types);
    if (types == 0)
        return 0;
    char text[8];
    size_t n = 0;
    text[n++] = '#';
    text[n++] = '"';
    if (types & NSLOCK_SHARED)
        text[n++] = 'S';
    if (types & NSLOCK_ESCALATING)
        text[n++] = 'E';
    if (types & NSLOCK_IMMEDIATE)
        text[n++] = 'I';
    if (types & NSLOCK_DEFERRED)
        text[n++] = 'D';
    text[n++] = '"';
    nsl_client_req_add(c, text, n);
    return 0;
}

/* Above this a timeout means "forever": nobody waits 31 years on purpose,
 * and it keeps the number short on the wire. */
#define MAX_TIMEOUT 1e9

int nsl_client_req_timeout(nslock *c, double timeout, nslock_error *err)
{
    if (isnan(timeout))
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "timeout is not a number");
    if (timeout < 0 || timeout > MAX_TIMEOUT)
        return 0;
    /* milliseconds are finer than the server's 10 ms resolution */
    char text[32];
    int n = snprintf(text, sizeof text, ":%.3f", timeout);
    while (text[n - 1] == '0')
        n--;
    if (text[n - 1] == '.')
        n--;
    nsl_client_req_add(c, text, (size_t)n);
    return 0;
}

/* ---- the text form ----------------------------------------------------------- */

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* After the LOCK or L keyword, or NULL when the text does not start with it. */
static const char *after_keyword(const char *p)
{
    p = skip_blanks(p);
    size_t len = strspn(p, "LOCKlock");
    if ((len == 4 && strncasecmp(p, "LOCK", 4) == 0) || (len == 1 && (*p == 'L' || *p == 'l')))
        if (p[len] == '\0' || p[len] == ' ' || p[len] == '\t')
            return p + len;
    return NULL;
}

int nsl_client_command_wait(const char *command, double *wait, nslock_error *err)
{
    if (command == NULL)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "no LOCK command");
    if (line_break(command))
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT, "a line break in LOCK command '%s'",
                               command);
    const char *p = after_keyword(command);
    if (p == NULL)
        return nsl_client_fail(err, NSLOCK_E_ARGUMENT,
                               "'%s' is not a LOCK command (it starts with LOCK or L)", command);
    /* Each argument that takes locks may wait its own timeout, one after the
     * other; one without a timeout may wait forever. Releases never wait. */
    double total = 0;
    p = skip_blanks(p);
    while (*p) {
        bool release = *p == '-';
        scan s = {.p = p};
        scan_to(&s, ":,");
        if (!release) {
            if (*s.p == ':') {
                double t = strtod(s.p + 1, NULL);
                /* the server answers a malformed number with SYNTAX at once */
                if (t > 0 && total >= 0)
                    total += t > MAX_TIMEOUT ? MAX_TIMEOUT : t;
            } else {
                total = -1;
            }
        }
        scan_to(&s, ",");
        p = *s.p ? skip_blanks(s.p + 1) : s.p;
    }
    *wait = total;
    return 0;
}

bool nsl_client_parse_u64(const char *s, uint64_t *v)
{
    if (!isdigit((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *v = n;
    return true;
}

int nsl_client_req_unlock(nslock *c, const char *name, unsigned types, nslock_error *err)
{
    if (nsl_client_check_name(name, err) < 0)
        return -1;
    nsl_client_req_str(c, "LOCK -");
    nsl_client_req_str(c, name);
    return nsl_client_req_types(c, types, err);
}
