/* cli/cmd_show.h — what the shell reuses from `nslock show`: printing
 * lock table rows with the show columns. */
#ifndef NSL_CLI_CMD_SHOW_H
#define NSL_CLI_CMD_SHOW_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/table.h"
#include "client/nslock.h"

/* Prints rows as a table (or JSON/raw per topts) to stdout; false after
 * printing an error to stderr. */
bool nsl_cli_print_entries(const char *cmd, const nslock_entry *rows, size_t count,
                           const nsl_table_opts *topts);

/* True when topts (-o in particular) suits the show columns; else prints
 * why and returns false. */
bool nsl_cli_table_accepts(const char *cmd, const nsl_table_opts *topts);

#endif
