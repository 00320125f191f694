/* cli/table.h — the tables of the nslock subcommands, printed with
 * libsmartcols the way util-linux tools (lslocks, lsblk) print theirs:
 * aligned by default, -J/--json, -r/--raw, -n/--noheadings, -o/--output COLS.
 *
 * A subcommand declares its columns once, lets nsl_table_option() take the
 * common flags out of its getopt_long loop, creates the table (which checks
 * -o), adds rows as arrays of cell texts indexed like its columns, prints.
 */
#ifndef NSL_CLI_TABLE_H
#define NSL_CLI_TABLE_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum {
    NSL_COL_RIGHT    = 1 << 0,   /* align to the right (numbers) */
    NSL_COL_WRAP     = 1 << 1,   /* long cells wrap instead of widening the table */
    NSL_COL_OPTIONAL = 1 << 2,   /* printed only when asked for with -o */
    NSL_COL_NUMBER   = 1 << 3,   /* a JSON number (null when empty), as lslocks -J prints PID */
    NSL_COL_TRUNC    = 1 << 4,   /* may be cut short when the terminal is too narrow */
};

typedef struct nsl_table_column {
    const char *name;    /* header and -o name (case-insensitive); JSON key in lower case */
    double whint;        /* width hint: < 1 a fraction of the terminal, else columns */
    int flags;           /* NSL_COL_* */
    const char *help;    /* one line for --help */
} nsl_table_column;

typedef struct nsl_table_opts {
    bool json, raw, noheadings;
    bool notruncate;     /* -u: never cut a cell short */
    bool output_all;     /* --output-all: every column, in declaration order */
    const char *output;  /* -o COLS as given; NULL: the default columns */
} nsl_table_opts;

/* The options a command adds to its getopt_long tables when it offers them
 * (show does): -u/--notruncate and --output-all. */
#define NSL_TABLE_OPT_OUTPUT_ALL 0x180
#define NSL_TABLE_EXTRA_LONGOPTS                              \
    {"notruncate", no_argument, NULL, 'u'},                   \
    {"output-all", no_argument, NULL, NSL_TABLE_OPT_OUTPUT_ALL}

/* For the subcommand's getopt_long tables. */
#define NSL_TABLE_SHORTOPTS "Jrno:"
#define NSL_TABLE_LONGOPTS                              \
    {"json", no_argument, NULL, 'J'},                   \
    {"raw", no_argument, NULL, 'r'},                    \
    {"noheadings", no_argument, NULL, 'n'},             \
    {"output", required_argument, NULL, 'o'}

/* Takes one getopt_long result; true if it was a table flag. */
bool nsl_table_option(nsl_table_opts *o, int opt, const char *arg);

/* The table flags and the list of columns, for --help. */
void nsl_table_usage(FILE *out, const nsl_table_column *cols, size_t ncols);

typedef struct nsl_table nsl_table;

/* cmd names the subcommand in error messages; json_name is the key of the
 * JSON array. Returns NULL after printing `nslock: CMD: ...` to stderr when
 * -o names an unknown column (the caller exits with status 2). -o "+A,B"
 * adds columns to the defaults. */
nsl_table *nsl_table_new(const char *cmd, const char *json_name,
                         const nsl_table_column *cols, size_t ncols,
                         const nsl_table_opts *o);

/* cells[i] is the text of cols[i] (NULL: empty); only the selected columns
 * are used. False when out of memory. */
bool nsl_table_add_row(nsl_table *t, const char *const *cells);

/* The columns the table shows, as indexes into its cols, in output order;
 * returns how many. */
size_t nsl_table_selected(const nsl_table *t, const size_t **sel);

/* Prints to stdout (an empty table still has its header line, unless -n or
 * -J); false on an output error. */
bool nsl_table_print(nsl_table *t);
void nsl_table_free(nsl_table *t);

/* -H/--list-columns: each column's name and description, as a table
 * following o's -J/-r/-n. False on an output error. */
bool nsl_table_list_columns(const char *cmd, const nsl_table_column *cols, size_t ncols,
                            const nsl_table_opts *o);

#endif
