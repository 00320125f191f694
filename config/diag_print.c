/* diag_print.c — the diagnostics list in each output format: compiler
 * lines (with the source line and a caret, as gcc), JSON, SARIF 2.1.0 for
 * code-scanning tools, and GitHub Actions workflow commands. */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/config_internal.h"

static const char *level_name(nsl_diag_level level)
{
    return level == NSL_DIAG_ERROR ? "error" : "warning";
}

static void print_position(const nsl_diag *g, FILE *out)
{
    fputs(g->file, out);
    if (g->line)
        fprintf(out, ":%d", g->line);
    if (g->col)
        fprintf(out, ":%d", g->col);
    fprintf(out, ": %s: %s\n", level_name(g->level), g->message);
}

void nsl_diags_print(const nsl_diags *d, FILE *out)
{
    for (size_t i = 0; i < d->count; i++)
        print_position(&d->items[i], out);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned min;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, min = 0x80, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, min = 0x800, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, min = 0x10000, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* ---- source lines with a caret ------------------------------------------ */

enum { TAB_STOP = 8, MAX_SHOWN = 400 };

/* Line `line` (1-based) of text: its start and length without the newline;
 * false when the text has fewer lines. */
static bool find_line(const char *text, size_t len, int line, const char **start,
                      size_t *n)
{
    const char *p = text, *end = text + len;
    for (int l = 1; l < line; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return false;
        p = nl + 1;
    }
    if (p > end || (p == end && line > 1 && (len == 0 || end[-1] == '\n')))
        return false;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *start = p;
    *n = (size_t)((nl ? nl : end) - p);
    if (*n && p[*n - 1] == '\r')
        (*n)--;
    return true;
}

/* Prints the line with tabs expanded (so that the caret line lines up
 * whatever the terminal's tab stops) and control bytes and invalid UTF-8
 * as `?`; then the caret under character `col` (columns count characters,
 * as the YAML reader does). Wide characters count one cell: a terminal
 * may show the caret a cell early after them, never on another line. */
static void print_source_line(const char *s, size_t n, int line, int col, FILE *out)
{
    int gutter = fprintf(out, " %5d | ", line) - 2;
    int cell = 0, caret_cell = -1, chars = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n && cell < MAX_SHOWN;) {
        if (++chars == col)
            caret_cell = cell;
        if (u[i] == '\t') {
            do
                fputc(' ', out);
            while (++cell % TAB_STOP);
            i++;
            continue;
        }
        size_t len = utf8_len(u + i, n - i);
        if (len == 0 || u[i] < 0x20 || u[i] == 0x7f) {
            fputc('?', out);
            len = len ? len : 1;
        } else {
            fwrite(u + i, 1, len, out);
        }
        cell++;
        i += len;
    }
    fputc('\n', out);
    if (caret_cell < 0)
        caret_cell = col > chars ? cell + (col - chars - 1) : 0;   /* just past the end */
    if (caret_cell > MAX_SHOWN)
        caret_cell = MAX_SHOWN;
    fprintf(out, "%*s| %*s^\n", gutter, "", caret_cell, "");
}

void nsl_diags_print_source(const nsl_diags *d, FILE *out, const char *file,
                            const char *text, size_t len)
{
    for (size_t i = 0; i < d->count; i++) {
        const nsl_diag *g = &d->items[i];
        print_position(g, out);
        const char *start;
        size_t n;
        if (text && g->line && g->col && !strcmp(g->file, file)
            && find_line(text, len, g->line, &start, &n))
            print_source_line(start, n, g->line, g->col, out);
    }
}

/* ---- JSON ---------------------------------------------------------------- */

/* A JSON string: escapes what JSON requires; bytes that are not UTF-8 (a
 * file name from argv can hold anything) become U+FFFD. */
static void json_string(const char *str, FILE *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    fputc('"', out);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
            i++;
        } else if (c == '\n') {
            fputs("\\n", out), i++;
        } else if (c == '\t') {
            fputs("\\t", out), i++;
        } else if (c == '\r') {
            fputs("\\r", out), i++;
        } else if (c < 0x20) {
            fprintf(out, "\\u%04x", c), i++;
        } else {
            size_t len = utf8_len(s + i, n - i);
            if (len == 0) {
                fputs("\\ufffd", out);
                i++;
            } else {
                fwrite(s + i, 1, len, out);
                i += len;
            }
        }
    }
    fputc('"', out);
}

void nsl_diags_print_json(const nsl_diags *d, FILE *out)
{
    if (d->count == 0) {
        fputs("[]\n", out);
        return;
    }
    fputs("[\n", out);
    for (size_t i = 0; i < d->count; i++) {
        const nsl_diag *g = &d->items[i];
        fputs("  {\"file\": ", out);
        json_string(g->file, out);
        if (g->line)
            fprintf(out, ", \"line\": %d", g->line);
        else
            fputs(", \"line\": null", out);
        if (g->col)
            fprintf(out, ", \"column\": %d", g->col);
        else
            fputs(", \"column\": null", out);
        fprintf(out, ", \"severity\": \"%s\", \"rule\": \"%s\", \"message\": ",
                level_name(g->level), g->rule);
        json_string(g->message, out);
        fputs(i + 1 < d->count ? "},\n" : "}\n", out);
    }
    fputs("]\n", out);
}

/* ---- SARIF 2.1.0 ---------------------------------------------------------- */

/* A file name as a relative URI reference: RFC 3986 unreserved bytes and
 * `/` stay, everything else is percent-encoded (`<stdin>` -> %3Cstdin%3E). */
static void uri_string(const char *path, FILE *out)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
            || strchr("-._~/", *p))
            fputc(*p, out);
        else
            fprintf(out, "%%%02X", *p);
    }
    fputc('"', out);
}

/* The distinct rule ids of d in first-seen order; returns their count. */
static size_t distinct_rules(const nsl_diags *d, const char **rules)
{
    size_t n = 0;
    for (size_t i = 0; i < d->count; i++) {
        size_t k = 0;
        while (k < n && strcmp(rules[k], d->items[i].rule))
            k++;
        if (k == n)
            rules[n++] = d->items[i].rule;
    }
    return n;
}

static size_t rule_index(const char **rules, size_t n, const char *rule)
{
    for (size_t k = 0; k < n; k++)
        if (!strcmp(rules[k], rule))
            return k;
    return 0;
}

void nsl_diags_print_sarif(const nsl_diags *d, FILE *out, const char *version)
{
    const char **rules = nsl_cfg_malloc((d->count ? d->count : 1) * sizeof *rules);
    size_t nrules = distinct_rules(d, rules);

    fputs("{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n"
          "  \"version\": \"2.1.0\",\n  \"runs\": [{\n    \"tool\": {\"driver\": {\n"
          "      \"name\": \"nslock\",\n      \"version\": ", out);
    json_string(version, out);
    fputs(",\n      \"rules\": [", out);
    for (size_t k = 0; k < nrules; k++) {
        const char *text = nsl_diag_rule_describe(rules[k]);
        fprintf(out, "%s\n        {\"id\": \"%s\", \"shortDescription\": {\"text\": ",
                k ? "," : "", rules[k]);
        json_string(text ? text : rules[k], out);
        fputs("}}", out);
    }
    fputs(nrules ? "\n      ]\n    }},\n" : "]\n    }},\n", out);
    fputs("    \"results\": [", out);
    for (size_t i = 0; i < d->count; i++) {
        const nsl_diag *g = &d->items[i];
        fprintf(out, "%s\n      {\"ruleId\": \"%s\", \"ruleIndex\": %zu, \"level\": \"%s\",\n"
                     "       \"message\": {\"text\": ",
                i ? "," : "", g->rule, rule_index(rules, nrules, g->rule), level_name(g->level));
        json_string(g->message, out);
        fputs("},\n       \"locations\": [{\"physicalLocation\": {\"artifactLocation\": {\"uri\": ",
              out);
        uri_string(g->file, out);
        fputc('}', out);
        if (g->line) {
            fprintf(out, ", \"region\": {\"startLine\": %d", g->line);
            if (g->col)
                fprintf(out, ", \"startColumn\": %d", g->col);
            fputc('}', out);
        }
        fputs("}}]}", out);
    }
    fputs(d->count ? "\n    ]\n  }]\n}\n" : "]\n  }]\n}\n", out);
    free(rules);
}

/* ---- GitHub Actions ------------------------------------------------------- */

/* Workflow-command escaping: the data part escapes %, CR and LF; property
 * values also `:` and `,`, which would end them. */
static void github_escaped(const char *s, bool property, FILE *out)
{
    for (; *s; s++) {
        switch (*s) {
        case '%':  fputs("%25", out); break;
        case '\r': fputs("%0D", out); break;
        case '\n': fputs("%0A", out); break;
        case ':':  property ? fputs("%3A", out) : fputc(':', out); break;
        case ',':  property ? fputs("%2C", out) : fputc(',', out); break;
        default:   fputc(*s, out);
        }
    }
}

void nsl_diags_print_github(const nsl_diags *d, FILE *out)
{
    for (size_t i = 0; i < d->count; i++) {
        const nsl_diag *g = &d->items[i];
        fprintf(out, "::%s file=", level_name(g->level));
        github_escaped(g->file, true, out);
        if (g->line)
            fprintf(out, ",line=%d", g->line);
        if (g->col)
            fprintf(out, ",col=%d", g->col);
        fputs(",title=nslock ", out);
        github_escaped(g->rule, true, out);
        fputs("::", out);
        github_escaped(g->message, false, out);
        fputc('\n', out);
    }
}
