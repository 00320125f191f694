/* The connection side shared by the client subcommands (see connect.h). */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/connect.h"
#include "config/config.h"

static void socket_usage(FILE *out, const char *config_rule)
{
    char path[4096];
    if (nslock_default_socket(path, sizeof path) < 0)
        snprintf(path, sizeof path, "(too long)");
    /* nslock_default_socket() answers $NSLOCK_SOCKET when it is set */
    const char *env = getenv("NSLOCK_SOCKET");
    if (env && *env) {
        unsetenv("NSLOCK_SOCKET");
        if (nslock_default_socket(path, sizeof path) < 0)
            snprintf(path, sizeof path, "(too long)");
        setenv("NSLOCK_SOCKET", env, 1);
    }
    fprintf(out, "      --socket PATH      the server's socket (default: $NSLOCK_SOCKET,\n"
                 "                         else %s%s)\n", config_rule, path);
    fprintf(out, "      --server HOST:PORT a server over TCP instead; repeat it for the\n"
                 "                         servers of an HA cluster (default: $NSLOCK_SERVERS,\n"
                 "                         comma-separated)\n"
                 "      --token-file FILE  the TCP token's file (default: $NSLOCK_TOKEN_FILE)\n");
}

/* --server and --token-file; NSLOCK_SERVERS's form, "a:1,b:2", is what
 * the library takes. */
static char tcp_servers[2048];
static const char *tcp_token_file;

bool nsl_cli_tcp_option(const char *cmd, int opt, const char *arg)
{
    if (opt == NSL_OPT_TOKEN_FILE) {
        tcp_token_file = arg;
        return true;
    }
    size_t used = strlen(tcp_servers);
    if (!*arg || strchr(arg, ',') || strchr(arg, ' ')) {
        fprintf(stderr, "nslock: %s: --server wants one HOST:PORT, not '%s' (repeat the "
                        "option for several servers)\n", cmd, arg);
        return false;
    }
    if (used + strlen(arg) + 2 > sizeof tcp_servers) {
        fprintf(stderr, "nslock: %s: too many --server addresses\n", cmd);
        return false;
    }
    snprintf(tcp_servers + used, sizeof tcp_servers - used, "%s%s", used ? "," : "", arg);
    return true;
}

/* Whether a rule before the Unix socket's chooses TCP. */
static bool tcp_chosen(const char *socket_opt)
{
    const char *env = getenv("NSLOCK_SERVERS");
    return tcp_servers[0] || (!socket_opt && env && *env);
}

void nsl_cli_socket_usage(FILE *out)
{
    socket_usage(out, "");
}

void nsl_cli_socket_config_usage(FILE *out)
{
    socket_usage(out, "server.socket of --config, else\n                         ");
}

bool nsl_cli_discover_socket(const char *cmd, const char *socket_opt, const char *config,
                             char *buf, size_t cap, const char **socket_path)
{
    *socket_path = tcp_chosen(socket_opt) ? NULL : socket_opt;
    const char *env = getenv("NSLOCK_SOCKET");
    if (config == NULL)
        return true;
    /* read even when --socket or $NSLOCK_SOCKET wins: a bad file is named */
    nsl_diags diags;
    nsl_diags_init(&diags);
    nsl_config *cfg = NULL;
    bool ok = nsl_config_load_file(config, &cfg, &diags) != NSL_CONFIG_UNREADABLE;
    if (!ok) {
        nsl_diags_print(&diags, stderr);
        fprintf(stderr, "nslock: %s: cannot read the configuration %s\n", cmd, config);
    } else if (cfg->socket && !socket_opt && !(env && *env) && !tcp_chosen(NULL)) {
        snprintf(buf, cap, "%s", cfg->socket);
        *socket_path = buf;
    }
    nsl_config_free(cfg);
    nsl_diags_free(&diags);
    return ok;
}

/* Why no connection was made, in the words of what can be done about it:
 * a permission problem is not answered with "start the server". */
static void explain_no_connection(const char *cmd, const char *socket_path,
                                  const char *no_server)
{
    char path[4096], dir[4096];
    if (socket_path)
        snprintf(path, sizeof path, "%s", socket_path);
    else if (nslock_default_socket(path, sizeof path) < 0)
        return;
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    struct stat st;
    const char *start = "start 'nslock serve' (or name its socket with --socket or "
                        "$NSLOCK_SOCKET)";
    if (stat(dir, &st) != 0 && errno == ENOENT) {
        fprintf(stderr, "nslock: %s: no server: the socket's directory %s does not exist\n"
                        "nslock: %s: %s%s%s\n", cmd, dir, cmd, start,
                no_server ? ", " : "", no_server ? no_server : "");
    } else if (access(dir, X_OK) != 0 || (lstat(path, &st) == 0 && access(path, W_OK) != 0)) {
        fprintf(stderr, "nslock: %s: permission denied: %s (the server's administrator can "
                        "give access, e.g. through the socket's group)\n", cmd, path);
    } else {
        fprintf(stderr, "nslock: %s: no server answers at %s\n"
                        "nslock: %s: %s%s%s\n", cmd, path, cmd, start,
                no_server ? ", " : "", no_server ? no_server : "");
    }
}

static nslock *connect_as(const char *cmd, const char *socket_path, int keeper,
                          const char *no_server, bool standby_ok)
{
    char client[64];
    nslock *c;
    nslock_error err;
    snprintf(client, sizeof client, "nslock-%s", cmd);
    bool tcp = tcp_chosen(socket_path);
    nslock_options o = {.socket_path = tcp ? NULL : socket_path, .client_name = client,
                        .keeper = keeper};
    nslock_options_more more = {.servers = tcp_servers[0] ? tcp_servers : NULL,
                                .token_file = tcp_token_file, .standby_ok = standby_ok};
    if (nslock_open_ex(&c, &o, &more, &err) == 0)
        return c;
    if (!tcp && err.code == NSLOCK_E_IO && strstr(err.message, "cannot connect"))
        explain_no_connection(cmd, socket_path, no_server);
    else
        nsl_cli_report(cmd, &err);
    return NULL;
}

nslock *nsl_cli_connect_or(const char *cmd, const char *socket_path, int keeper,
                           const char *no_server)
{
    return connect_as(cmd, socket_path, keeper, no_server, false);
}

nslock *nsl_cli_connect_any(const char *cmd, const char *socket_path)
{
    return connect_as(cmd, socket_path, NSLOCK_KEEPER_NONE, NULL, true);
}

nslock *nsl_cli_connect(const char *cmd, const char *socket_path, int keeper)
{
    return nsl_cli_connect_or(cmd, socket_path, keeper, NULL);
}

/* What kind of failure it was, where the message alone does not say. */
static const char *error_kind(int code)
{
    switch (code) {
    case NSLOCK_E_SYNTAX: return "syntax error";
    case NSLOCK_E_DEADLOCK: return "deadlock";
    case NSLOCK_E_PROTECT: return "permission denied";
    case NSLOCK_E_LIMIT: return "limit reached";
    case NSLOCK_E_SHUTDOWN: return "the server is stopping";
    case NSLOCK_E_LOST: return "the locks were lost";
    case NSLOCK_E_CONFLICT: return "conflict";
    case NSLOCK_E_STANDBY: return "the server is a standby";
    case NSLOCK_E_UNKNOWN: return "error";
    default: return NULL;
    }
}

void nsl_cli_report(const char *cmd, const nslock_error *err)
{
    const char *kind = error_kind(err->code);
    const char *message = err->message[0] ? err->message : nslock_strerror(err->code);
    if (kind && strncmp(message, kind, strlen(kind)) != 0)
        fprintf(stderr, "nslock: %s: %s: %s\n", cmd, kind, message);
    else
        fprintf(stderr, "nslock: %s: %s\n", cmd, message);
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
