/* Tables for the subcommands, on libsmartcols (see table.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libsmartcols/libsmartcols.h>

#include "cli/table.h"

struct nsl_table {
    struct libscols_table *tb;
    bool json, noheadings;
    size_t nsel;
    size_t sel[64];                  /* selected columns, in output order */
};

#define MAX_SELECTED (sizeof ((nsl_table *)0)->sel / sizeof ((nsl_table *)0)->sel[0])

bool nsl_table_option(nsl_table_opts *o, int opt, const char *arg)
{
    switch (opt) {
    case 'J': o->json = true; return true;
    case 'r': o->raw = true; return true;
    case 'n': o->noheadings = true; return true;
    case 'o': o->output = arg; return true;
    case 'u': o->notruncate = true; return true;
    case NSL_TABLE_OPT_OUTPUT_ALL: o->output_all = true; return true;
    default: return false;
    }
}

void nsl_table_usage(FILE *out, const nsl_table_column *cols, size_t ncols)
{
    fprintf(out,
            "  -J, --json             print JSON\n"
            "  -r, --raw              print without aligning columns\n"
            "  -n, --noheadings       do not print the header line\n"
            "  -o, --output COLS      columns to print, comma-separated\n"
            "                         (+COLS: add to the default columns)\n"
            "\nColumns:\n");
    for (size_t i = 0; i < ncols; i++)
        fprintf(out, "  %-10s %s%s\n", cols[i].name, cols[i].help,
                cols[i].flags & NSL_COL_OPTIONAL ? " (not shown by default)" : "");
}

static bool select_default(nsl_table *t, const nsl_table_column *cols, size_t ncols)
{
    for (size_t i = 0; i < ncols; i++) {
        if (cols[i].flags & NSL_COL_OPTIONAL)
            continue;
        if (t->nsel == MAX_SELECTED)
            return false;
        t->sel[t->nsel++] = i;
    }
    return true;
}

/* Parses -o's comma-separated list into t->sel. */
static bool select_columns(nsl_table *t, const char *cmd, const nsl_table_column *cols,
                           size_t ncols, const char *list)
{
    if (*list == '+') {
        select_default(t, cols, ncols);
        list++;
    }
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        size_t i = 0;
        while (i < ncols
               && !(strlen(cols[i].name) == len && strncasecmp(cols[i].name, p, len) == 0))
            i++;
        if (len == 0) {
            fprintf(stderr, "nslock: %s: empty column name in --output\n", cmd);
            return false;
        }
        if (i == ncols) {
            fprintf(stderr, "nslock: %s: unknown column '%.*s' (see '--help' for the list)\n",
                    cmd, (int)len, p);
            return false;
        }
        if (t->nsel == MAX_SELECTED) {
            fprintf(stderr, "nslock: %s: too many columns in --output\n", cmd);
            return false;
        }
        t->sel[t->nsel++] = i;
        p += len;
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                fprintf(stderr, "nslock: %s: empty column name in --output\n", cmd);
                return false;
            }
        }
    }
    if (t->nsel == 0) {
        fprintf(stderr, "nslock: %s: --output names no column\n", cmd);
        return false;
    }
    return true;
}

nsl_table *nsl_table_new(const char *cmd, const char *json_name,
                         const nsl_table_column *cols, size_t ncols,
                         const nsl_table_opts *o)
{
    nsl_table *t = calloc(1, sizeof *t);
    if (t == NULL) {
        fprintf(stderr, "nslock: %s: out of memory\n", cmd);
        return NULL;
    }
    if (o->output_all) {
        for (size_t i = 0; i < ncols && t->nsel < MAX_SELECTED; i++)
            t->sel[t->nsel++] = i;
    } else if (o->output ? !select_columns(t, cmd, cols, ncols, o->output)
                         : !select_default(t, cols, ncols)) {
        free(t);
        return NULL;
    }
    t->json = o->json;
    t->noheadings = o->noheadings;
    t->tb = scols_new_table();
    if (t->tb == NULL)
        goto nomem;
    scols_table_set_name(t->tb, json_name);
    scols_table_enable_json(t->tb, o->json);
    scols_table_enable_raw(t->tb, o->raw);
    scols_table_enable_noheadings(t->tb, o->noheadings);
    for (size_t k = 0; k < t->nsel; k++) {
        const nsl_table_column *c = &cols[t->sel[k]];
        int flags = (c->flags & NSL_COL_RIGHT ? SCOLS_FL_RIGHT : 0)
                  | (c->flags & NSL_COL_WRAP && !o->notruncate ? SCOLS_FL_WRAP : 0)
                  | (c->flags & NSL_COL_TRUNC && !o->notruncate ? SCOLS_FL_TRUNC : 0);
        struct libscols_column *cl = scols_table_new_column(t->tb, c->name, c->whint, flags);
        if (cl == NULL)
            goto nomem;
        if (c->flags & NSL_COL_NUMBER)
            scols_column_set_json_type(cl, SCOLS_JSON_NUMBER);
    }
    return t;
nomem:
    fprintf(stderr, "nslock: %s: out of memory\n", cmd);
    nsl_table_free(t);
    return NULL;
}

bool nsl_table_add_row(nsl_table *t, const char *const *cells)
{
    struct libscols_line *ln = scols_table_new_line(t->tb, NULL);
    if (ln == NULL)
        return false;
    for (size_t k = 0; k < t->nsel; k++) {
        const char *text = cells[t->sel[k]];
        if (scols_line_set_data(ln, k, text ? text : "") != 0)
            return false;
    }
    return true;
}

size_t nsl_table_selected(const nsl_table *t, const size_t **sel)
{
    *sel = t->sel;
    return t->nsel;
}

bool nsl_table_print(nsl_table *t)
{
    /* libsmartcols 2.38 prints nothing at all for a table without lines */
    if (scols_table_get_nlines(t->tb) == 0 && !t->json) {
        if (!t->noheadings) {
            for (size_t k = 0; k < t->nsel; k++) {
                struct libscols_column *cl = scols_table_get_column(t->tb, k);
                fputs(scols_cell_get_data(scols_column_get_header(cl)), stdout);
                putchar(k + 1 < t->nsel ? ' ' : '\n');
            }
        }
        return fflush(stdout) == 0 && !ferror(stdout);
    }
    if (scols_print_table(t->tb) != 0)
        return false;
    return fflush(stdout) == 0 && !ferror(stdout);
}

void nsl_table_free(nsl_table *t)
{
    if (t == NULL)
        return;
    scols_unref_table(t->tb);
    free(t);
}

bool nsl_table_list_columns(const char *cmd, const nsl_table_column *cols, size_t ncols,
                            const nsl_table_opts *o)
{
    static const nsl_table_column list[] = {
        {"NAME", 10, 0, "the column's name, for -o and --sort"},
        {"DESCRIPTION", 0.7, 0, "what it shows"},
    };
    nsl_table_opts lo = {.json = o->json, .raw = o->raw, .noheadings = o->noheadings};
    nsl_table *t = nsl_table_new(cmd, "columns", list, 2, &lo);
    if (t == NULL)
        return false;
    bool ok = true;
    for (size_t i = 0; i < ncols && ok; i++) {
        const char *cells[2] = {cols[i].name, cols[i].help};
        ok = nsl_table_add_row(t, cells);
    }
    ok = ok && nsl_table_print(t);
    nsl_table_free(t);
    return ok;
}
