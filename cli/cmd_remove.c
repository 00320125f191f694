/* nslock remove: clear held locks by owner, pid, database or name (admin). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/connect.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: nslock remove [OPTIONS]\n"
            "\n"
            "Remove the held lock table entries that match every criterion given (at\n"
            "least one). Requests waiting behind them are then served. Removing other\n"
            "sessions' locks needs root, the server's user or its admin_group.\n"
            "\n"
            "Options:\n"
            "      --owner ID         entries of session ID\n"
            "      --pid PID          entries of clients with process id PID\n"
            "      --database DB      entries in database DB\n"
            "      --name NAME        entries on lock name NAME (canonical form)\n"
            "  -y, --yes              do not ask for confirmation\n");
    nsl_cli_socket_usage(out);
    fprintf(out,
            "  -h, --help             show this help\n"
            "\nWithout --yes it asks on the terminal, and refuses when not run on one.\n"
            "\nExit status: 0 entries removed, 1 nothing matched, not confirmed or not\n"
            "permitted, 2 a bad option, no confirmation possible, or no connection.\n");
}

static void describe(FILE *out, const nslock_remove_filter *f)
{
    const char *sep = "";
    if (f->owner) {
        fprintf(out, "owner %" PRIu64, f->owner);
        sep = ", ";
    }
    if (f->pid) {
        fprintf(out, "%spid %ld", sep, f->pid);
        sep = ", ";
    }
    if (f->database) {
        fprintf(out, "%sdatabase %s", sep, f->database);
        sep = ", ";
    }
    if (f->name)
        fprintf(out, "%sname %s", sep, f->name);
}

/* Asks on the terminal; true for y or yes. */
static bool confirmed(const nslock_remove_filter *f)
{
    char answer[32];
    fprintf(stderr, "Remove the held locks of ");
    describe(stderr, f);
    fprintf(stderr, "? [y/N] ");
    fflush(stderr);
    if (fgets(answer, sizeof answer, stdin) == NULL)
        return false;
    answer[strcspn(answer, "\r\n")] = '\0';
    return strcasecmp(answer, "y") == 0 || strcasecmp(answer, "yes") == 0;
}

int nsl_cmd_remove(int argc, char **argv)
{
    enum { OPT_OWNER = 0x200, OPT_PID, OPT_DATABASE, OPT_NAME };
    static const struct option longopts[] = {
        {"owner", required_argument, NULL, OPT_OWNER},
        {"pid", required_argument, NULL, OPT_PID},
        {"database", required_argument, NULL, OPT_DATABASE},
        {"name", required_argument, NULL, OPT_NAME},
        {"yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},
        NSL_CONNECT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    nslock_remove_filter filter = {0};
    const char *socket_path = NULL;
    bool yes = false;
    uint64_t id;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "yh", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_OWNER:
            if (!nsl_cli_parse_id("remove", "--owner", optarg, &filter.owner))
                return NSL_EXIT_USAGE;
            break;
        case OPT_PID:
            if (!nsl_cli_parse_id("remove", "--pid", optarg, &id))
                return NSL_EXIT_USAGE;
            filter.pid = (long)id;
            break;
        case OPT_DATABASE: filter.database = optarg; break;
        case OPT_NAME: filter.name = optarg; break;
        case 'y': yes = true; break;
        case NSL_OPT_SOCKET: socket_path = optarg; break;
        case 'h': usage(stdout); return NSL_EXIT_OK;
        default:
            return nsl_cli_bad_option("remove", opt, "", argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nslock: remove: unexpected argument '%s'\nTry 'nslock remove --help'.\n",
                argv[optind]);
        return NSL_EXIT_USAGE;
    }
    if (!filter.owner && !filter.pid && !filter.database && !filter.name) {
        fprintf(stderr, "nslock: remove: say what to remove: --owner, --pid, --database or "
                        "--name\nTry 'nslock remove --help'.\n");
        return NSL_EXIT_USAGE;
    }
    if (!yes) {
        if (!isatty(STDIN_FILENO)) {
            fprintf(stderr, "nslock: remove: refusing to remove locks without confirmation: "
                            "standard input is not a terminal (use --yes)\n");
            return NSL_EXIT_USAGE;
        }
        if (!confirmed(&filter)) {
            fprintf(stderr, "nslock: remove: not confirmed; nothing removed\n");
            return NSL_EXIT_FAIL;
        }
    }

    nslock *c = nsl_cli_connect("remove", socket_path, NSLOCK_KEEPER_NONE);
    if (c == NULL)
        return NSL_EXIT_USAGE;
    nslock_error err;
    uint64_t removed;
    int status = NSL_EXIT_OK;
    if (nslock_remove(c, &filter, &removed, &err) < 0) {
        if (err.code == NSLOCK_E_NOTFOUND) {
            printf("removed 0 entries: nothing matches ");
            describe(stdout, &filter);
            printf("\n");
            status = NSL_EXIT_FAIL;
        } else {
            nsl_cli_report("remove", &err);
            status = nsl_cli_exit_status(&err);
        }
    } else {
        printf("removed %" PRIu64 " %s\n", removed, removed == 1 ? "entry" : "entries");
    }
    nslock_close(c);
    return status;
}
