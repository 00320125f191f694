/* cli/cmd_stats.h — what the shell reuses from `nslock stats`. */
#ifndef NSL_CLI_CMD_STATS_H
#define NSL_CLI_CMD_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include "client/nslock.h"

/* Prints the counters as "name  value" lines, or as a JSON object. */
void nsl_cli_print_stats(const nslock_stat *items, size_t count, bool json);

#endif
