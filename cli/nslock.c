/* nslock — the command-line entry point: dispatches to one subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand;

static const subcommand subcommands[] = {
    {"validate", nsl_cmd_validate, "check configuration files, compiler-style"},
    {"resolve",  nsl_cmd_resolve,  "show the databases a lock name lands in, and why"},
    {"map",      nsl_cmd_map,      "show a namespace's effective map (name ranges -> database)"},
    {"serve",    nsl_cmd_serve,    "run the lock server in the foreground"},
    {"show",     nsl_cmd_show,     "show the lock table by database"},
    {"shell",    nsl_cmd_shell,    "type LOCK commands interactively"},
    {"lock",     nsl_cmd_lock,     "hold locks while a command runs (like flock(1))"},
    {"remove",   nsl_cmd_remove,   "remove locks (admin)"},
    {"stats",    nsl_cmd_stats,    "show lock table statistics"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: nslock COMMAND [OPTIONS] [ARGS]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\nOptions:\n"
                 "  -h, --help     show this help\n"
                 "  -V, --version  show nslock's version\n"
                 "\nRun 'nslock COMMAND --help' for the options of one command.\n"
                 "Every command finds the server the same way: --socket PATH, else\n"
                 "$NSLOCK_SOCKET, else server.socket of --config FILE, else the default.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return NSL_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return NSL_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("nslock %s\n", NSL_VERSION);
        return NSL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (!strcmp(argv[1], subcommands[i].name))
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "nslock: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return NSL_EXIT_USAGE;
}
