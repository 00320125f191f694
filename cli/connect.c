/* The connection side shared by the client subcommands (see connect.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/connect.h"

void nsl_cli_socket_usage(FILE *out)
{
    char path[4096];
    if (nslock_default_socket(path, sizeof path) < 0)
        snprintf(path, sizeof path, "(too long)");
    fprintf(out, "      --socket PATH      the server's socket (default: $NSLOCK_SOCKET,\n"
                 "                         else %s)\n", path);
}

nslock *nsl_cli_connect(const char *cmd, const char *socket_path, int keeper)
{
    char client[64];
    nslock *c;
    nslock_error err;
    snprintf(client, sizeof client, "nslock-%s", cmd);
    nslock_options o = {.socket_path = socket_path, .client_name = client, .keeper = keeper};
    if (nslock_open(&c, &o, &err) == 0)
        return c;
    nsl_cli_report(cmd, &err);
    if (err.code == NSLOCK_E_IO && strstr(err.message, "cannot connect"))
        fprintf(stderr, "nslock: %s: is 'nslock serve' running? (--socket or $NSLOCK_SOCKET "
                        "name another socket)\n", cmd);
    return NULL;
}

void nsl_cli_report(const char *cmd, const nslock_error *err)
{
    fprintf(stderr, "nslock: %s: %s: %s\n", cmd, err->name, err->message);
}

int nsl_cli_exit_status(const nslock_error *err)
{
    switch (err->code) {
    case NSLOCK_E_SYNTAX:
    case NSLOCK_E_NAMESPACE:
    case NSLOCK_E_SUBSCRIPT:
    case NSLOCK_E_COMMAND:
    case NSLOCK_E_ARGUMENT:
    case NSLOCK_E_IO:
    case NSLOCK_E_TIMEOUT:
    case NSLOCK_E_PROTOCOL:
    case NSLOCK_E_SHUTDOWN:
    case NSLOCK_E_NOMEM:
        return NSL_EXIT_USAGE;
    default:
        return NSL_EXIT_FAIL;
    }
}

bool nsl_cli_parse_id(const char *cmd, const char *opt, const char *arg, uint64_t *value)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno != 0 || v == 0 || v > INT64_MAX) {
        fprintf(stderr, "nslock: %s: %s wants a positive whole number, not '%s'\n", cmd, opt, arg);
        return false;
    }
    *value = v;
    return true;
}

int nsl_cli_bad_option(const char *cmd, int opt, const char *with_arg, char **argv)
{
    const char *arg = argv[optind - 1];
    const char *what = "unknown option";
    if (opt == ':')
        what = "missing argument for";
    else if (optopt != 0 && strncmp(arg, "--", 2) == 0 && strchr(arg, '='))
        what = "no argument allowed for";
    else if (optopt >= 256 || (optopt > 0 && strchr(with_arg, optopt)))
        what = "missing argument for";   /* getopt_long names the option in optopt */
    fprintf(stderr, "nslock: %s: %s '%s'\n", cmd, what, arg);
    fprintf(stderr, "Try 'nslock %s --help'.\n", cmd);
    return NSL_EXIT_USAGE;
}
